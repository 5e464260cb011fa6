/* SPDX-License-Identifier: MIT */
/* The thread pool: runs blocking ops on worker threads and hands completions back. */

/*
 * One pool per port, started on first use, so a port that never blocks has no threads.
 * Queued ops wait on a doubly linked FIFO (opx.next/prev) so that a cancel can take one
 * out of the middle. opx.pending is 1 while an op is queued, 0 once a worker took it.
 * Completions go back through cport__complete_remote, which wakes the port thread only
 * for the first completion since it last looked: one wakeup for a batch, not one per op.
 */

#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

#ifdef _WIN32
/* A worker's thread (for CancelSynchronousIo) and the op it runs; under the pool's mu. */
struct pool_win {
	HANDLE thread;
	cport_op *running;
};
#endif

struct cport__pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	cport_op *head, *tail;
	bool stop;
#ifdef _WIN32
	struct pool_win *win; /* one per worker, in the order they started */
	unsigned started;
#endif
	unsigned nthreads;
	pthread_t threads[];
};

static void pool_unlink(struct cport__pool *p, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->prev)
		cport__x(x->prev)->next = x->next;
	else
		p->head = x->next;
	if (x->next)
		cport__x(x->next)->prev = x->prev;
	else
		p->tail = x->prev;
	x->next = x->prev = NULL;
	x->pending = 0;
}

/* Does this op use opx.fd (and so belong to a descriptor that cport_close closes)? */
static bool pool_uses_fd(const struct cport__op *x, cport_fd fd)
{
	switch ((enum cport__type)x->type) {
	case CPORT__READ:
	case CPORT__WRITE:
	case CPORT__READV:
	case CPORT__WRITEV:
	case CPORT__FSYNC:
	case CPORT__FSTAT:
	case CPORT__FALLOCATE:
	case CPORT__FTRUNCATE:
		return x->fd == fd;
	default:
		return false;
	}
}

#ifdef _WIN32
/*
 * Windows: a blocking call on a synchronous handle (a console read above all) stops
 * when CancelSynchronousIo names the thread that makes it, so cancel and destroy need
 * not wait for input that may never come. The call then fails with
 * ERROR_OPERATION_ABORTED: the op completes with CPORT_ECANCELED.
 */
static struct pool_win *pool_win_self(struct cport__pool *p)
{
	struct pool_win *me = &p->win[p->started++];
	me->thread = OpenThread(THREAD_TERMINATE | SYNCHRONIZE, FALSE, GetCurrentThreadId());
	return me;
}

/* Interrupt the workers running `op`, or (op NULL) every op on `fd`, or (fd 0 too)
 * every op; under mu. Returns how many workers were running one. A worker not yet
 * inside its call is not stopped: callers that must stop it ask again. */
static unsigned pool_win_interrupt_any(struct cport__pool *p, cport_op *op, cport_fd fd)
{
	unsigned n = 0;
	for (unsigned i = 0; i < p->started; i++) {
		cport_op *r = p->win[i].running;
		if (!r || (op && r != op) || (!op && fd && !pool_uses_fd(cport__x(r), fd)))
			continue;
		n++;
		if (p->win[i].thread)
			CancelSynchronousIo(p->win[i].thread);
	}
	return n;
}

static unsigned pool_win_interrupt(struct cport__pool *p, cport_op *op)
{
	return pool_win_interrupt_any(p, op, 0);
}

/* A close is about to run: stop the other workers' ops on its handle and wait until
 * they are out, so the handle is not closed under a call still using it; under mu. */
static void pool_win_drain_fd(struct cport__pool *p, cport_fd fd)
{
	while (pool_win_interrupt_any(p, NULL, fd) > 0) {
		pthread_mutex_unlock(&p->mu);
		Sleep(1);
		pthread_mutex_lock(&p->mu);
	}
}
#endif

static void *pool_worker(void *arg)
{
	struct cport__pool *p = arg;
	pthread_mutex_lock(&p->mu);
#ifdef _WIN32
	struct pool_win *me = pool_win_self(p);
#endif
	for (;;) {
		while (!p->stop && !p->head)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		cport_op *op = p->head;
		pool_unlink(p, op);
#ifdef _WIN32
		me->running = op;
		if (cport__x(op)->type == CPORT__CLOSE)
			pool_win_drain_fd(p, cport__x(op)->fd);
#endif
		pthread_mutex_unlock(&p->mu);
		op->result = cport__blocking_run(op);
#ifdef _WIN32
		pthread_mutex_lock(&p->mu);
		me->running = NULL; /* before the op can be reaped and reused */
		pthread_mutex_unlock(&p->mu);
#endif
		cport__complete_remote(cport__x(op)->port, op);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int pool_create(cport *port)
{
	unsigned n = port->pool_threads;
	struct cport__pool *p = calloc(1, sizeof *p + n * sizeof(pthread_t));
	if (!p)
		return CPORT_ENOMEM;
#ifdef _WIN32
	if (!(p->win = calloc(n, sizeof *p->win))) {
		free(p);
		return CPORT_ENOMEM;
	}
#endif
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (; p->nthreads < n; p->nthreads++)
		if (pthread_create(&p->threads[p->nthreads], NULL, pool_worker, p) != 0)
			break;
	if (p->nthreads == 0) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
#ifdef _WIN32
		free(p->win);
#endif
		free(p);
		return CPORT_EAGAIN;
	}
	port->pool = p;
	return 0;
}

/* Queue an op for a worker. It completes through the port's remote stack. */
int cport__pool_start(cport *port, cport_op *op)
{
	if (!port->pool) {
		int r = pool_create(port);
		if (r < 0)
			return r;
	}
	struct cport__pool *p = port->pool;
	struct cport__op *x = cport__x(op);
	x->xflags |= CPORT__X_POOL;
	pthread_mutex_lock(&p->mu);
	x->next = NULL;
	x->prev = p->tail;
	x->pending = 1;
	if (p->tail)
		cport__x(p->tail)->next = op;
	else
		p->head = op;
	p->tail = op;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* Cancel an op that no worker has taken yet: it completes now with CPORT_ECANCELED
 * (or CPORT_ETIMEDOUT when its timeout fired). False if a worker already runs it (on
 * Windows its blocking call is then interrupted, and it completes with ECANCELED). */
bool cport__pool_cancel(cport *port, cport_op *op)
{
	struct cport__pool *p = port->pool;
	struct cport__op *x = cport__x(op);
	bool queued;
	pthread_mutex_lock(&p->mu);
	queued = x->pending != 0;
	if (queued)
		pool_unlink(p, op);
#ifdef _WIN32
	else
		pool_win_interrupt(p, op);
#endif
	pthread_mutex_unlock(&p->mu);
	if (queued)
		cport__complete(port, op,
				x->xflags & CPORT__X_CANCELLED ? CPORT_ECANCELED : CPORT_ETIMEDOUT);
	return queued;
}

/* Close cancels, first half: take every queued op on `fd` out of the queue onto `out`,
 * oldest first, for the caller to complete (the reactor also takes them out of its
 * deadline heap). Ops a worker already runs finish with their own result (on Windows
 * their blocking call is interrupted, and a close waits for them: pool_win_drain_fd).
 * Port thread. */
void cport__pool_take_fd(cport *port, cport_fd fd, struct cport__queue *out)
{
	struct cport__pool *p = port->pool;
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	for (cport_op *op = p->head, *next; op; op = next) {
		next = cport__x(op)->next;
		if (pool_uses_fd(cport__x(op), fd)) {
			pool_unlink(p, op);
			cport__queue_push(out, op);
		}
	}
#ifdef _WIN32
	pool_win_interrupt_any(p, NULL, fd);
#endif
	pthread_mutex_unlock(&p->mu);
}

/* Close cancels: complete every queued op on `fd` with CPORT_ECANCELED, oldest first
 * (see cport__pool_take_fd). Port thread. */
void cport__pool_cancel_fd(cport *port, cport_fd fd)
{
	struct cport__queue gone = {NULL, NULL};
	cport_op *op;
	cport__pool_take_fd(port, fd, &gone);
	while ((op = cport__queue_pop(&gone)) != NULL) {
		cport__x(op)->xflags |= CPORT__X_CANCELLED;
		cport__complete(port, op, CPORT_ECANCELED);
	}
}

/* Drop queued ops (no completions) and wait for the running ones to finish (on
 * Windows, interrupt their blocking calls first). */
void cport__pool_destroy(cport *port)
{
	struct cport__pool *p = port->pool;
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	while (p->head)
		pool_unlink(p, p->head);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
#ifdef _WIN32
	/* Interrupt blocking calls until no worker runs an op (one may not have been
	 * inside its call yet when asked). */
	for (;;) {
		pthread_mutex_lock(&p->mu);
		unsigned busy = pool_win_interrupt(p, NULL);
		pthread_mutex_unlock(&p->mu);
		if (!busy)
			break;
		Sleep(1);
	}
#endif
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
#ifdef _WIN32
	for (unsigned i = 0; i < p->started; i++)
		if (p->win[i].thread)
			CloseHandle(p->win[i].thread);
	free(p->win);
#endif
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
	port->pool = NULL;
}
