/* SPDX-License-Identifier: MIT */
/* The thread pool: runs blocking ops on worker threads and hands completions back. */

/*
 * Map
 *   1. State: the queue, the workers, what may be abandoned
 *   2. The worker
 *   3. Start, cancel, close-cancels, destroy
 *
 * One pool per port, started on first use, so a port that never blocks has no threads.
 * Queued ops wait on a wait list (opx.wait) so that a cancel can take one out of the
 * middle; opx.pending is 1 while an op is queued, 0 once a worker took it. Completions
 * go back through cport__complete_remote, which wakes the port thread only for the
 * first completion since it last looked: one wakeup for a batch, not one per op.
 *
 * Calls that may never return (an open of a FIFO with no writer, a stat on a dead
 * network mount) must not hold cancel or destroy hostage. The pool's answer:
 *   - Abandon (every OS): the ops whose call, once the worker holds it, touches no
 *     memory of the caller's (open, stat, fstat, rename, unlink, mkdir, fsync) run on
 *     a private copy: the worker copies the paths and writes the stat into its own
 *     buffers, and hands results over only if the op is still its own. Cancel (or a
 *     timeout) of such a running op completes it at once; the worker is abandoned, a
 *     new one takes its place, and when its call returns it drops the outcome
 *     (closing a descriptor an open made) and exits. Destroy abandons them likewise.
 *   - Interrupt (Windows): the other ops (reads and writes, which fill or read the
 *     caller's buffer in the call itself) cannot be abandoned; on Windows their
 *     blocking call is interrupted (CancelSynchronousIo, through the OS hook); on Unix
 *     they are regular-file transfers, which finish, and are waited for.
 * fallocate and ftruncate are never abandoned: run late, on a number that was closed
 * and reused meanwhile, they would change another file.
 */

#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- 1. State ------------------------------------------------------------------------ */

#define POOL_PATH 4096 /* a path longer than this is copied to the heap */

struct pool_worker {
	struct cport__pool *pool;
	struct pool_worker *next;  /* the pool's list of live workers */
	pthread_t tid;
	cport_op *running;         /* the op it runs (under mu), NULL if idle or abandoned */
	bool abandoned;            /* its op completed without it: drop the outcome, exit */
	struct cport__os_thread os;
	cport_op shadow;           /* the private copy an abandonable op runs on */
	cport_statbuf st;
	char path[2][POOL_PATH];
	char *heap_path[2];
};

struct cport__pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* work queued, or stop */
	pthread_cond_t idle_cv;    /* a worker finished an op (drain, destroy) */
	struct cport__list queue;
	struct pool_worker *workers;
	unsigned nthreads;         /* workers wanted */
	unsigned live;             /* workers not abandoned */
	unsigned all;              /* every worker thread still alive */
	unsigned refs;             /* the port's reference + one per abandoned worker */
	bool stop;
};

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

/* Ops whose call touches no caller memory once it runs on the worker's copy. */
static bool pool_abandonable(const struct cport__op *x)
{
	switch ((enum cport__type)x->type) {
	case CPORT__OPEN:
	case CPORT__STAT:
	case CPORT__FSTAT:
	case CPORT__RENAME:
	case CPORT__UNLINK:
	case CPORT__MKDIR:
	case CPORT__FSYNC:
		return true;
	default:
		return false;
	}
}

static void pool_unlink(struct cport__pool *p, cport_op *op)
{
	cport__list_unlink(&p->queue, op);
	cport__x(op)->pending = 0;
}

/* ---- 2. The worker ---------------------------------------------------------------------- */

/* A path into the worker's own buffer (or the heap when it is long). */
static char *pool_copy_path(struct pool_worker *w, int i, const char *path)
{
	size_t n = strlen(path) + 1;
	if (n <= sizeof w->path[i])
		return memcpy(w->path[i], path, n);
	w->heap_path[i] = malloc(n);
	return w->heap_path[i] ? memcpy(w->heap_path[i], path, n) : NULL;
}

/* Make the worker's private copy of an abandonable op; under mu, so the op is still
 * the caller's to read. Returns the op to run (the copy), or NULL: out of memory. */
static cport_op *pool_prepare(struct pool_worker *w, cport_op *op)
{
	struct cport__op *x = cport__x(op), *s = cport__x(&w->shadow);
	w->shadow = *op;
	switch ((enum cport__type)x->type) {
	case CPORT__STAT:
		s->buf2 = &w->st;
		s->buf = pool_copy_path(w, 0, x->buf);
		return s->buf ? &w->shadow : NULL;
	case CPORT__OPEN:
	case CPORT__UNLINK:
	case CPORT__MKDIR:
		s->buf = pool_copy_path(w, 0, x->buf);
		return s->buf ? &w->shadow : NULL;
	case CPORT__RENAME:
		s->buf = pool_copy_path(w, 0, x->buf);
		s->buf2 = pool_copy_path(w, 1, x->buf2);
		return s->buf && s->buf2 ? &w->shadow : NULL;
	case CPORT__FSTAT:
		s->buf = &w->st;
		return &w->shadow;
	default:
		return &w->shadow;
	}
}

/* The call ran on the copy and the op is still ours: hand its outputs over. */
static void pool_hand_over(struct pool_worker *w, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->type == CPORT__STAT)
		memcpy(x->buf2, &w->st, sizeof w->st);
	else if (x->type == CPORT__FSTAT)
		memcpy(x->buf, &w->st, sizeof w->st);
}

/* Run one op; mu is held on entry and on return. */
static void pool_run(struct pool_worker *w, cport_op *op)
{
	struct cport__pool *p = w->pool;
	bool copy = pool_abandonable(cport__x(op));
	cport_op *run = copy ? pool_prepare(w, op) : op;
	w->running = op;
	w->abandoned = false;
	pthread_mutex_unlock(&p->mu);
	int64_t res = run ? cport__blocking_run(run) : CPORT_ENOMEM;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < 2; i++) {
		free(w->heap_path[i]);
		w->heap_path[i] = NULL;
	}
	if (w->abandoned) {
		/* Nobody waits for this outcome: a descriptor an open made is closed. */
		w->shadow.result = res;
		if (run)
			cport__close_result(&w->shadow);
		return;
	}
	w->running = NULL;
	if (copy && res >= 0)
		pool_hand_over(w, op);
	op->result = res;
	pthread_cond_broadcast(&p->idle_cv);
	/* Outside the lock: the port may reap and reuse the op from here on. */
	pthread_mutex_unlock(&p->mu);
	cport__complete_remote(cport__x(op)->port, op);
	pthread_mutex_lock(&p->mu);
}

static void pool_free(struct cport__pool *p)
{
	pthread_cond_destroy(&p->cv);
	pthread_cond_destroy(&p->idle_cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static void pool_list_remove(struct cport__pool *p, struct pool_worker *w)
{
	for (struct pool_worker **pp = &p->workers; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			return;
		}
}

/* A worker leaves; under mu, which it releases. An abandoned one is detached: it
 * leaves the list and frees itself, and the last reference frees the pool. Any other
 * stays listed for cport__pool_destroy to join and free. */
static void pool_worker_exit(struct pool_worker *w)
{
	struct cport__pool *p = w->pool;
	bool gone = w->abandoned, last = false;
	p->all--;
	if (gone) {
		pool_list_remove(p, w);
		last = --p->refs == 0;
	}
	pthread_cond_broadcast(&p->idle_cv);
	pthread_mutex_unlock(&p->mu);
	cport__os_thread_release(&w->os);
	if (gone)
		free(w);
	if (last)
		pool_free(p);
}

static void *pool_worker_main(void *arg)
{
	struct pool_worker *w = arg;
	struct cport__pool *p = w->pool;
	pthread_mutex_lock(&p->mu);
	cport__os_thread_self(&w->os);
	while (!w->abandoned) {
		while (!p->stop && !p->queue.head)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		cport_op *op = p->queue.head;
		pool_unlink(p, op);
		pool_run(w, op);
	}
	pool_worker_exit(w);
	return NULL;
}

/* Start one more worker; under mu. */
static int pool_spawn(struct cport__pool *p)
{
	struct pool_worker *w = calloc(1, sizeof *w);
	if (!w)
		return CPORT_ENOMEM;
	w->pool = p;
	if (pthread_create(&w->tid, NULL, pool_worker_main, w) != 0) {
		free(w);
		return CPORT_EAGAIN;
	}
	w->next = p->workers;
	p->workers = w;
	p->live++;
	p->all++;
	return 0;
}

static int pool_create(cport *port)
{
	struct cport__pool *p = calloc(1, sizeof *p);
	if (!p)
		return CPORT_ENOMEM;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_cond_init(&p->idle_cv, NULL);
	p->nthreads = port->pool_threads;
	p->refs = 1;
	pthread_mutex_lock(&p->mu);
	while (p->live < p->nthreads && pool_spawn(p) == 0)
		;
	unsigned live = p->live;
	pthread_mutex_unlock(&p->mu);
	if (live == 0) {
		pool_free(p);
		return CPORT_EAGAIN;
	}
	port->pool = p;
	return 0;
}

/* ---- 3. Start, cancel, close-cancels, destroy ------------------------------------------ */

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
	/* Its timeout_ns runs on the port's deadline heap (port thread, before a worker
	 * can finish it): every backend's pool ops the same way. A close has none. */
	if (x->type != CPORT__CLOSE)
		cport__deadline_watch(port, op);
	pthread_mutex_lock(&p->mu);
	cport__list_push(&p->queue, op);
	x->pending = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

static struct pool_worker *pool_runner(struct cport__pool *p, cport_op *op)
{
	for (struct pool_worker *w = p->workers; w; w = w->next)
		if (w->running == op)
			return w;
	return NULL;
}

/* Let the worker running `op` go: the op is no longer its own. Under mu. A new worker
 * takes its place, up to four times the pool's size in threads stuck so. */
static void pool_abandon(struct cport__pool *p, struct pool_worker *w)
{
	w->abandoned = true;
	w->running = NULL;
	p->live--;
	p->refs++;
	pthread_detach(w->tid);
	if (!p->stop && p->all < 4 * p->nthreads)
		pool_spawn(p);
	pthread_cond_broadcast(&p->idle_cv);
}

/* The port thread completes an op the pool gave up: as if it came back from a worker. */
static void pool_complete_here(cport *port, cport_op *op, int64_t result)
{
	cport__pool_op_back(port, op);
	cport__complete(port, op, result);
	if (cport__x(op)->xflags & CPORT__X_FDBUSY)
		cport__fd_finished(port, op);
}

/* Stop an op (cancel, or its timeout with CPORT__X_TIMEDOUT): one no worker took yet,
 * or one a worker runs that may be abandoned, completes now with CPORT_ECANCELED or
 * CPORT_ETIMEDOUT. Otherwise false: it finishes with its own result (its blocking call
 * is interrupted where the OS can: then it completes with CPORT_ECANCELED). */
bool cport__pool_cancel(cport *port, cport_op *op)
{
	struct cport__pool *p = port->pool;
	struct cport__op *x = cport__x(op);
	bool now = false;
	pthread_mutex_lock(&p->mu);
	if (x->pending) {
		pool_unlink(p, op);
		now = true;
	} else {
		struct pool_worker *w = pool_runner(p, op);
		if (w && pool_abandonable(x)) {
			pool_abandon(p, w);
			now = true;
		} else if (w && (x->xflags & CPORT__X_CANCELLED)) {
			cport__os_thread_interrupt(&w->os);
		}
	}
	pthread_mutex_unlock(&p->mu);
	if (now)
		pool_complete_here(port, op,
				   x->xflags & CPORT__X_CANCELLED ? CPORT_ECANCELED : CPORT_ETIMEDOUT);
	return now;
}

/* Close cancels: take every queued op on `fd` out of the queue onto `out`, oldest
 * first, for the caller to complete. Ops a worker already runs are waited for by the
 * descriptor engine (their `busy` count); their blocking calls are interrupted where
 * the OS can. Port thread. */
void cport__pool_take_fd(cport *port, cport_fd fd, struct cport__queue *out)
{
	struct cport__pool *p = port->pool;
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	for (cport_op *op = p->queue.head, *next; op; op = next) {
		next = cport__list_next(op);
		if (pool_uses_fd(cport__x(op), fd)) {
			pool_unlink(p, op);
			cport__queue_push(out, op);
		}
	}
	for (struct pool_worker *w = p->workers; w; w = w->next)
		if (w->running && pool_uses_fd(cport__x(w->running), fd))
			cport__os_thread_interrupt(&w->os);
	pthread_mutex_unlock(&p->mu);
}

/* Is any worker that was not abandoned running an op? Under mu. */
static bool pool_busy(struct cport__pool *p)
{
	for (struct pool_worker *w = p->workers; w; w = w->next)
		if (w->running)
			return true;
	return false;
}

/* Destroy: drop queued ops (no completions), abandon the running ops that may be
 * abandoned, interrupt the others and wait for them, then join the workers. Returns in
 * bounded time unless a read or write of the caller's buffer never returns (Unix has
 * no way to interrupt it without a signal; such a call on a regular file finishes). */
void cport__pool_destroy(cport *port)
{
	struct cport__pool *p = port->pool;
	if (!p)
		return;
	port->pool = NULL;
	if (port->forked) {
		/* A forked child has none of the parent's threads, and the mutex may be
		 * held by one of them: the memory is all that is ours. */
		for (struct pool_worker *w = p->workers, *next; w; w = next) {
			next = w->next;
			free(w);
		}
		free(p);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	while (p->queue.head)
		pool_unlink(p, p->queue.head);
	pthread_cond_broadcast(&p->cv);
	for (struct pool_worker *w = p->workers, *next; w; w = next) {
		next = w->next;
		if (w->running && pool_abandonable(cport__x(w->running)))
			pool_abandon(p, w);
	}
	while (pool_busy(p)) {
		for (struct pool_worker *w = p->workers; w; w = w->next)
			if (w->running)
				cport__os_thread_interrupt(&w->os);
		/* A worker may not be inside its call yet when asked: ask again soon. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->idle_cv, &p->mu, &ts);
	}
	/* Every worker left is idle and sees `stop`: join them (abandoned ones are
	 * detached and free themselves). */
	for (;;) {
		struct pool_worker *w = p->workers;
		while (w && w->abandoned)
			w = w->next;
		if (!w)
			break;
		pool_list_remove(p, w);
		p->live--;
		pthread_mutex_unlock(&p->mu);
		pthread_join(w->tid, NULL);
		free(w);
		pthread_mutex_lock(&p->mu);
	}
	bool last = --p->refs == 0;
	pthread_mutex_unlock(&p->mu);
	if (last)
		pool_free(p);
}
