/* SPDX-License-Identifier: MIT */
/* The thread pool: runs blocking ops on worker threads and hands completions back. */

/*
 * Map
 *   1. State: the queue, the workers, what may be abandoned
 *   2. The worker
 *   3. Start, cancel, close-cancels, destroy
 *   4. Lock waits: tries, and pauses in the port's deadline heap
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
 *     memory of the caller's (open, stat, fstat, rename, unlink, mkdir, fsync; openat,
 *     readdir, statfs, link, symlink, readlink, access) run on a private copy: the
 *     worker copies the paths and writes the stat, statfs, readlink text or directory
 *     records into its own buffers, and hands results over only if the op is still its
 *     own. openat and readdir run on the worker's own duplicate of the directory's
 *     descriptor: abandoned, they must not resolve a path in, or read, another
 *     directory that reused the number after the caller closed it (a late readdir
 *     moves the shared position, which cport.h tells the caller). Cancel (or a
 *     timeout) of such a running op completes it at once; the worker is abandoned, a
 *     new one takes its place, and when its call returns it drops the outcome
 *     (closing a descriptor an open made) and exits. Destroy abandons them likewise.
 *   - Interrupt (Windows): the other ops (reads and writes, which fill or read the
 *     caller's buffer in the call itself) cannot be abandoned; on Windows their
 *     blocking call is interrupted (CancelSynchronousIo, through the OS hook); on Unix
 *     they are regular-file transfers, which finish, and are waited for.
 * fallocate, ftruncate and fadvise are never abandoned: run late, on a number that was
 * closed and reused meanwhile, they would change (or advise on) another file; nor is a
 * lock's try, which would take a lock nobody owns (section 4).
 */

#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- 1. State ------------------------------------------------------------------------ */

#define POOL_PATH 4096  /* a path longer than this is copied to the heap */
#define POOL_DATA 16384 /* readdir's records and readlink's text, per op at most */

struct pool_worker {
	struct cport__pool *pool;
	struct pool_worker *next;  /* the pool's list of live workers */
	pthread_t tid;
	cport_op *running;         /* the op it runs (under mu), NULL if idle or abandoned */
	bool abandoned;            /* its op completed without it: drop the outcome, exit */
	struct cport__os_thread os;
	cport_op shadow;           /* the private copy an abandonable op runs on */
	cport_statbuf st;
	cport_statfsbuf sf;
	char path[2][POOL_PATH];
	char *heap_path[2];
	cport_fd dup;              /* openat, readdir: the worker's own directory descriptor */
	bool has_dup;
	union {
		char b[POOL_DATA];
		uint64_t align;    /* cport_dirent records are 8-byte aligned */
	} data;
};

struct cport__pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* work queued, or stop */
	pthread_cond_t idle_cv;    /* a worker finished an op (drain, destroy) */
	struct cport__list queue;
	struct cport__list paused; /* lock ops between tries (port thread only; section 4) */
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
	case CPORT__OPENAT:
	case CPORT__READDIR:
	case CPORT__FADVISE:
	case CPORT__LOCK:
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
	case CPORT__OPENAT:
	case CPORT__READDIR:
	case CPORT__STATFS:
	case CPORT__LINK:
	case CPORT__SYMLINK:
	case CPORT__READLINK:
	case CPORT__ACCESS:
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

/* The copy's descriptor becomes the worker's own duplicate of it. */
static int pool_dup(struct pool_worker *w, struct cport__op *s)
{
	int r = cport__os_fd_dup(s->fd, &w->dup);
	if (r < 0)
		return r;
	w->has_dup = true;
	s->fd = w->dup;
	return 0;
}

/* The copy's output goes to the worker's data buffer, at most its size. */
static void *pool_data(struct pool_worker *w, struct cport__op *s)
{
	if (s->len > sizeof w->data.b)
		s->len = sizeof w->data.b;
	return w->data.b;
}

/* The fields that say what an op does, into a zeroed op. Not the whole op: the port
 * thread may write other fields meanwhile (the cancel flag in xflags, the deadline
 * heap's links), and the caller its `user`; copying those raced (ThreadSanitizer). */
static void pool_copy_op(cport_op *dst, cport_op *src)
{
	const struct cport__op *x = cport__x(src);
	memset(dst, 0, sizeof *dst);
	struct cport__op *s = cport__x(dst);
	s->state = x->state;
	s->type = x->type;
	s->port = x->port;
	s->fd = x->fd;
	s->aux = x->aux;
	s->mode = x->mode;
	s->buf = x->buf;
	s->buf2 = x->buf2;
	s->len = x->len;
	s->offset = x->offset;
	s->done = x->done;
	s->reg = x->reg;
	s->buf_index = x->buf_index;
}

/* Make the worker's private copy of an abandonable op in w->shadow; under mu, so the op
 * is still the caller's to read. Returns 0, or the error the op then completes with. */
static int pool_prepare(struct pool_worker *w, cport_op *op)
{
	struct cport__op *x = cport__x(op), *s = cport__x(&w->shadow);
	pool_copy_op(&w->shadow, op);
	switch ((enum cport__type)x->type) {
	case CPORT__STAT:
	case CPORT__STATFS:
		s->buf2 = x->type == CPORT__STAT ? (void *)&w->st : (void *)&w->sf;
		s->buf = pool_copy_path(w, 0, x->buf);
		return s->buf ? 0 : CPORT_ENOMEM;
	case CPORT__OPEN:
	case CPORT__UNLINK:
	case CPORT__MKDIR:
	case CPORT__ACCESS:
		s->buf = pool_copy_path(w, 0, x->buf);
		return s->buf ? 0 : CPORT_ENOMEM;
	case CPORT__RENAME:
	case CPORT__LINK:
	case CPORT__SYMLINK:
		s->buf = pool_copy_path(w, 0, x->buf);
		s->buf2 = pool_copy_path(w, 1, x->buf2);
		return s->buf && s->buf2 ? 0 : CPORT_ENOMEM;
	case CPORT__FSTAT:
		s->buf = &w->st;
		return 0;
	case CPORT__OPENAT:
		s->buf = pool_copy_path(w, 0, x->buf);
		return s->buf ? pool_dup(w, s) : CPORT_ENOMEM;
	case CPORT__READDIR:
		s->buf = pool_data(w, s);
		return pool_dup(w, s);
	case CPORT__READLINK:
		s->buf2 = pool_data(w, s);
		s->buf = pool_copy_path(w, 0, x->buf);
		return s->buf ? 0 : CPORT_ENOMEM;
	default:
		return 0;
	}
}

/* The call ran on the copy and the op is still ours: hand its outputs over (`res` >= 0
 * is its result). */
static void pool_hand_over(struct pool_worker *w, cport_op *op, int64_t res)
{
	struct cport__op *x = cport__x(op);
	switch ((enum cport__type)x->type) {
	case CPORT__STAT:
		memcpy(x->buf2, &w->st, sizeof w->st);
		break;
	case CPORT__FSTAT:
		memcpy(x->buf, &w->st, sizeof w->st);
		break;
	case CPORT__STATFS:
		memcpy(x->buf2, &w->sf, sizeof w->sf);
		break;
	case CPORT__READDIR:
		memcpy(x->buf, w->data.b, (size_t)res);
		break;
	case CPORT__READLINK:
		memcpy(x->buf2, w->data.b, (size_t)res + 1); /* and its NUL */
		break;
	default:
		break;
	}
}

/* After the call: the worker's copies of paths and descriptors go. */
static void pool_release_copies(struct pool_worker *w)
{
	for (int i = 0; i < 2; i++) {
		free(w->heap_path[i]);
		w->heap_path[i] = NULL;
	}
	if (w->has_dup)
		cport__os_fd_close(w->dup);
	w->has_dup = false;
}

/* Run one op; mu is held on entry and on return. */
static void pool_run(struct pool_worker *w, cport_op *op)
{
	struct cport__pool *p = w->pool;
	bool copy = pool_abandonable(cport__x(op));
	int err = copy ? pool_prepare(w, op) : 0;
	cport_op *run = copy ? &w->shadow : op;
	w->running = op;
	w->abandoned = false;
	pthread_mutex_unlock(&p->mu);
	int64_t res = err < 0 ? err : cport__blocking_run(run);
	pthread_mutex_lock(&p->mu);
	pool_release_copies(w);
	if (w->abandoned) {
		/* Nobody waits for this outcome: a descriptor an open made is closed. */
		w->shadow.result = res;
		if (err == 0)
			cport__close_result(&w->shadow);
		return;
	}
	w->running = NULL;
	if (copy && res >= 0)
		pool_hand_over(w, op, res);
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

static void pool_queue(struct cport__pool *p, cport_op *op)
{
	pthread_mutex_lock(&p->mu);
	cport__list_push(&p->queue, op);
	cport__x(op)->pending = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Queue an op for a worker. It completes through the port's remote stack. */
int cport__pool_start(cport *port, cport_op *op)
{
	if (!port->pool) {
		int r = pool_create(port);
		if (r < 0)
			return r;
	}
	struct cport__op *x = cport__x(op);
	x->xflags |= CPORT__X_POOL;
	/* Its timeout_ns runs on the port's deadline heap (port thread, before a worker
	 * can finish it): every backend's pool ops the same way. A close has none. */
	if (x->type != CPORT__CLOSE)
		cport__deadline_watch(port, op);
	pool_queue(port->pool, op);
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

static bool pool_paused_fire(cport *port, cport_op *op);
#define POOL_PAUSED 2 /* opx.pending of a lock op between tries (section 4) */

/* Stop an op (cancel, or its timeout with CPORT__X_TIMEDOUT): one no worker took yet,
 * or one a worker runs that may be abandoned, completes now with CPORT_ECANCELED or
 * CPORT_ETIMEDOUT. Otherwise false: it finishes with its own result (its blocking call
 * is interrupted where the OS can: then it completes with CPORT_ECANCELED). A lock op
 * paused between tries (section 4) ends now, or its pause ended and it tries again. */
bool cport__pool_cancel(cport *port, cport_op *op)
{
	struct cport__pool *p = port->pool;
	struct cport__op *x = cport__x(op);
	bool now = false;
	pthread_mutex_lock(&p->mu);
	if (x->pending == POOL_PAUSED) {
		pthread_mutex_unlock(&p->mu); /* no worker has it: the port thread's alone */
		return pool_paused_fire(port, op);
	}
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
	/* Locks between tries too (the caller's cport__pool_op_back takes them out of the
	 * deadline heap). */
	for (cport_op *op = p->paused.head, *next; op; op = next) {
		next = cport__list_next(op);
		if (cport__x(op)->fd == fd) {
			cport__list_unlink(&p->paused, op);
			cport__x(op)->pending = 0;
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

/* ---- 4. Lock waits -------------------------------------------------------------------- */

/*
 * A lock that may wait (cport_lock without CPORT_LOCK_NOWAIT) is a series of tries, each
 * one non-blocking call (F_OFD_SETLK, LockFileEx with LOCKFILE_FAIL_IMMEDIATELY) on a
 * worker, so a worker is never held by a lock and never left blocked in one: a worker
 * blocked in F_OFD_SETLKW could not be stopped without a signal handler of ours, and one
 * abandoned there could take the lock later, owned by nobody. A try that finds the range
 * taken comes back to the port thread (cport__pool_again), which parks the op on
 * `paused` and in the port's deadline heap until its next try: 100 us after the first,
 * doubling up to 10 ms (opx.mode holds the pause in us). The heap's key is the next try,
 * or the op's own deadline when that comes first; opx.done keeps that deadline while the
 * key stands in opx.deadline, and opx.pending is POOL_PAUSED.
 *   - The key comes: cport__deadlines_fire calls cport__pool_cancel (a pool op) with
 *     CPORT__X_TIMEDOUT set; pool_paused_fire times the op out if its deadline passed,
 *     else queues its next try.
 *   - A cancel while paused ends it at once (CPORT_ECANCELED); during a try it waits for
 *     the try: taken, the op completes with 0; not, with CPORT_ECANCELED (or
 *     CPORT_ETIMEDOUT for a timeout). So the lock is held exactly when the completion
 *     says 0.
 *   - cport_close of its descriptor takes a paused op like a queued one
 *     (cport__pool_take_fd); a try that comes back while the close waits ends it.
 *   - cport_destroy forgets paused ops with the heap: no completion, nothing held.
 */
#define POOL_PAUSE_FIRST_US 100u
#define POOL_PAUSE_MAX_US 10000u

static bool pool_lock_waits(const struct cport__op *x)
{
	return x->type == CPORT__LOCK && !(x->aux & (CPORT_LOCK_NOWAIT | CPORT__LOCK_UNLOCK));
}

bool cport__pool_again(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (!pool_lock_waits(x) || op->result != CPORT_EAGAIN)
		return false;
	struct cport__fd *f = cport__fd_find(port, x->fd);
	assert(f); /* the op is busy on it */
	if ((x->xflags & CPORT__X_CANCELLED) || f->closing) {
		op->result = CPORT_ECANCELED;
		return false;
	}
	if (x->xflags & CPORT__X_TIMEDOUT) {
		op->result = CPORT_ETIMEDOUT;
		return false;
	}
	x->mode = x->mode ? 2 * x->mode : POOL_PAUSE_FIRST_US;
	if (x->mode > POOL_PAUSE_MAX_US)
		x->mode = POOL_PAUSE_MAX_US;
	uint64_t next = cport__deadline_in((uint64_t)x->mode * 1000u);
	x->done = x->deadline;
	x->pending = POOL_PAUSED;
	cport__list_push(&port->pool->paused, op);
	cport__timers_add(&port->deadlines, op, x->deadline && x->deadline < next ? x->deadline
										   : next);
	return true;
}

/* A paused lock op's key came (CPORT__X_TIMEDOUT set), or it is cancelled
 * (CPORT__X_CANCELLED): it ends now (true), or goes back to the queue for its next try. */
static bool pool_paused_fire(cport *port, cport_op *op)
{
	struct cport__pool *p = port->pool;
	struct cport__op *x = cport__x(op);
	cport__list_unlink(&p->paused, op);
	x->pending = 0;
	cport__timers_remove(&port->deadlines, op); /* a cancel finds it still there */
	x->deadline = x->done;
	int64_t stop = 0;
	if (x->xflags & CPORT__X_CANCELLED)
		stop = CPORT_ECANCELED;
	else if (x->deadline && cport_now_ns() >= x->deadline)
		stop = CPORT_ETIMEDOUT;
	if (stop) {
		pool_complete_here(port, op, stop);
		return true;
	}
	/* The key was the next try's time, not the op's deadline. */
	x->xflags &= (uint8_t)~CPORT__X_TIMEDOUT;
	int r = cport__pool_start(port, op); /* watches the deadline again */
	assert(r == 0); /* the pool exists: nothing can fail */
	(void)r;
	return false;
}
