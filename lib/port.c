/* SPDX-License-Identifier: MIT */
/* Public entry points: argument checks, op state, backend choice, completion delivery. */

/*
 * Map
 *   1. Backend candidates and cport_create / cport_destroy
 *   2. Op state: the one-thread check, argument checks, op_submit
 *   2b. CPORT_OP_INLINE: cheap ops run in the submit call
 *   3. The submit calls, one per op
 *   4. Posts, cport_submit, cport_wait, cport_wait_op (delivery itself: lib/op.c)
 */

#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifndef _WIN32
#include <signal.h>
#include <unistd.h>
#endif

/* ---- 1. Backends and the port ----------------------------------------------------- */

/* Candidates in order of preference for this OS. */
static const struct cport_backend *const port_candidates[] = {
#ifdef CPORT_HAVE_IO_URING
	&cport__uring_backend,
#endif
#ifdef CPORT_HAVE_IOCP
	&cport__iocp_backend,
#endif
#ifdef CPORT_HAVE_EPOLL
	&cport__epoll_backend,
#endif
#ifdef CPORT_HAVE_KQUEUE
	&cport__kqueue_backend,
#endif
#ifdef CPORT_HAVE_POLL
	&cport__poll_backend,
#endif
	NULL,
};

/* Names of every backend cport knows, built here or not, to tell EINVAL from ENOSYS. */
static const char *const port_known_names[] = {"io_uring", "epoll", "poll", "kqueue", "iocp",
					       "sim"};

void cport_options_init(cport_options *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof *opts);
	opts->size = sizeof *opts;
}

static int port_lookup(const char *name, const struct cport_backend **be)
{
#ifdef CPORT_HAVE_SIM
	/* Never a candidate: a program runs on the simulation only when it asks to. */
	if (strcmp(name, "sim") == 0) {
		*be = &cport__sim_backend;
		return 0;
	}
#endif
	for (size_t i = 0; port_candidates[i]; i++)
		if (strcmp(port_candidates[i]->name, name) == 0) {
			*be = port_candidates[i];
			return 0;
		}
	for (size_t i = 0; i < sizeof port_known_names / sizeof *port_known_names; i++)
		if (strcmp(port_known_names[i], name) == 0)
			return CPORT_ENOSYS;
	return CPORT_EINVAL;
}

static void port_note(cport *port, const char *why)
{
	size_t used = strlen(port->reason);
	snprintf(port->reason + used, sizeof port->reason - used, "%s%s", used ? "; " : "", why);
}

/* Try one backend; on failure record why in port->reason. */
static int port_try(cport *port, const struct cport_backend *be, const cport_options *o)
{
	char why[160] = "";
	port->be = be;
	int r = be->init(port, o, why, sizeof why);
	if (r < 0) {
		if (!why[0])
			cport__why(why, sizeof why, be->name, "setup failed", r);
		port_note(port, why);
		port->be = NULL;
	}
	return r;
}

static int port_choose(cport *port, const cport_options *o)
{
	const char *name = o->backend;
	if (!name || !name[0])
		name = getenv("CPORT_BACKEND");
	if (name && name[0]) {
		const struct cport_backend *be = NULL;
		int r = port_lookup(name, &be);
		if (r < 0) {
			port_note(port, r == CPORT_ENOSYS ? "backend not built into this library"
							  : "unknown backend name");
			return r;
		}
		return port_try(port, be, o);
	}
	int r = CPORT_ENOSYS;
	for (size_t i = 0; port_candidates[i]; i++) {
		r = port_try(port, port_candidates[i], o);
		if (r == 0 || (o->flags & CPORT_OPT_STRICT))
			return r;
	}
	return r;
}

static int port_check_options(const cport_options *o)
{
	if (o->size < offsetof(cport_options, concurrency))
		return CPORT_EINVAL;
	if (o->flags & ~(uint32_t)(CPORT_OPT_STRICT | CPORT_OPT_SINGLE_THREAD | CPORT_OPT_SHARED))
		return CPORT_EINVAL;
	/* A shared port's threads all submit: no single issuer. `concurrency` only comes
	 * with the flag (an older caller's size may end before it: it reads as 0). */
	uint32_t shared = o->flags & CPORT_OPT_SHARED;
	uint32_t conc = o->size >= offsetof(cport_options, concurrency) + sizeof o->concurrency
				? o->concurrency
				: 0;
	if ((shared && (o->flags & CPORT_OPT_SINGLE_THREAD)) || (!shared && conc) || conc > 1024)
		return CPORT_EINVAL;
	if (o->queue_depth > 32768 || o->pool_threads > 1024)
		return CPORT_EINVAL;
	if (o->reason_len && !o->reason)
		return CPORT_EINVAL;
	return 0;
}

/* A write to a pipe whose reader is gone raises SIGPIPE and no call avoids it (sends
 * have MSG_NOSIGNAL, pipes nothing): ignore it unless the program chose otherwise. */
static void port_ignore_sigpipe(void)
{
#ifndef _WIN32
	struct sigaction old;
	if (sigaction(SIGPIPE, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
	    old.sa_handler == SIG_DFL) {
		struct sigaction ign;
		memset(&ign, 0, sizeof ign);
		ign.sa_handler = SIG_IGN;
		sigemptyset(&ign.sa_mask);
		sigaction(SIGPIPE, &ign, NULL);
	}
#endif
}

static long port_pid(void)
{
#ifdef _WIN32
	return (long)GetCurrentProcessId();
#else
	return (long)getpid();
#endif
}

int cport_create(cport **portp, const cport_options *opts)
{
	cport_options o;
	cport_options_init(&o);
	if (!portp)
		return CPORT_EINVAL;
	*portp = NULL;
	if (opts) {
		int r = port_check_options(opts);
		if (r < 0)
			return r;
		memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
	}
	cport *port = calloc(1, sizeof *port);
	if (!port)
		return CPORT_ENOMEM;
	port_ignore_sigpipe();
	port->pid = port_pid();
	port->pool_threads = o.pool_threads ? o.pool_threads : 4;
	int r = port_choose(port, &o);
	if (o.reason && o.reason_len)
		snprintf(o.reason, o.reason_len, "%s", port->reason);
	if (r == 0 && (o.flags & CPORT_OPT_SHARED)) {
		r = port->be->block ? cport__shared_create(port, o.concurrency) : CPORT_ENOTSUP;
		atomic_store(&port->busy, 1); /* port_enter: always the shared path */
		if (r < 0)
			port->be->fini(port);
	}
	if (r == 0 && o.sim && strcmp(port->be->name, "sim") != 0) {
		port->be->fini(port); /* a profile for a backend that cannot use it */
		cport__shared_free(port);
		r = CPORT_EINVAL;
	}
	if (r < 0) {
		free(port);
		return r;
	}
	*portp = port;
	return 0;
}

/*
 * In a forked child (the port was created by another process), the engine releases
 * only what is the child's own (its copies of descriptors, its mappings) and touches
 * nothing the parent still uses: no cancel reaches the parent's ring, no completion is
 * taken from it, no poller registration is changed, no pool thread (there are none in
 * the child) is joined.
 */
void cport_destroy(cport *port)
{
	if (!port)
		return;
	port->forked = port->pid != port_pid();
	/* The pool first: its workers post to the port and wake it through the backend. */
	cport__pool_destroy(port);
	port->be->fini(port);
	if (!port->forked)
		cport__drop_unreaped(port);
	cport__fd_fini(port);
	cport__timers_free(&port->deadlines);
	cport__reg_free(port);
	cport__bufpools_free(port);
	cport__shared_free(port);
	free(port);
}

const char *cport_backend_name(const cport *port)
{
	return port ? port->be->name : "";
}

uint64_t cport_clock_ns(const cport *port)
{
	return port ? cport__now(port) : cport_now_ns();
}

const char *cport_backend_reason(const cport *port)
{
	return port ? port->reason : "";
}

#ifdef _WIN32
uint64_t cport_now_ns(void)
{
	/* QueryPerformanceCounter is monotonic; its frequency is fixed at boot and is
	 * read from shared memory, so asking each time costs nothing. */
	LARGE_INTEGER c, f;
	QueryPerformanceFrequency(&f);
	QueryPerformanceCounter(&c);
	uint64_t t = (uint64_t)c.QuadPart, hz = (uint64_t)f.QuadPart;
	return t / hz * 1000000000u + t % hz * 1000000000u / hz;
}
#else
uint64_t cport_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

/* ---- 2. Op state ------------------------------------------------------------------ */

/* One thread at a time drives a port (docs/contract.md rule 10). A second one arriving while the
 * first is inside submit, wait or cancel is told so (CPORT_EBUSY) instead of corrupting
 * the port: one uncontended atomic exchange per call. A shared port (lib/shared.c)
 * takes its mutex instead: its `busy` stays 1 for its whole life, so the exchange sends
 * it down the path a busy port takes, and the default mode's entry is as it was (only
 * port_leave has one predictable branch more). */
static int port_enter(cport *port)
{
	if (atomic_exchange_explicit(&port->busy, 1, memory_order_acquire) == 0)
		return 0;
	return port->sh ? cport__shared_enter(port) : CPORT_EBUSY;
}

static void port_leave(cport *port)
{
	if (port->sh)
		cport__shared_leave(port);
	else
		atomic_store_explicit(&port->busy, 0, memory_order_release);
}

/* The same check for the calls that live elsewhere (lib/register.c). */
int cport__port_enter(cport *port)
{
	return port_enter(port);
}

void cport__port_leave(cport *port)
{
	port_leave(port);
}

/* The arguments of a submit, checked; op_submit writes them into the op. */
struct op_args {
	cport_fd fd;
	uint32_t aux, mode;
	void *buf, *buf2;
	uint64_t len;
	int64_t offset;
	uint32_t buf_index; /* a fixed read or write: its registered buffer + 1; 0: none */
};

/* The op->flags bits a submit accepts, one line per flag as each lands (cport.h). */
#define OP_FLAGS_OK                                                                      \
	(0u                                                                              \
	 | CPORT_OP_LINK                                                                 \
	 | CPORT_OP_BARRIER                                                              \
	 | CPORT_OP_INLINE                                                               \
	)

/* Can `op` be submitted at all? Reads the op, writes nothing. */
static int op_check(const cport *port, cport_op *op)
{
	if (!port || !op)
		return CPORT_EINVAL;
	if (cport__x(op)->state == CPORT__INFLIGHT)
		return CPORT_EBUSY;
	if (op->flags & ~(uint32_t)OP_FLAGS_OK)
		return CPORT_EINVAL;
	return 0;
}

/* Write every private field of an accepted op: nothing stale survives from an earlier
 * use or from the caller's memory. */
static void op_init(cport *port, cport_op *op, enum cport__type type, const struct op_args *a)
{
	struct cport__op *x = cport__x(op);
	/* Field by field: a struct or memset zeroing compiles to `rep stos`, whose start-up
	 * cost showed as 8 ns per submit. */
	x->state = CPORT__IDLE;
	x->type = (uint8_t)type;
	x->xflags = 0;
	x->pending = 0;
	x->port = port;
	x->next = NULL;
	x->wait.next = x->wait.prev = NULL;
	x->fd = a->fd;
	x->aux = a->aux;
	x->mode = a->mode;
	x->buf = a->buf;
	x->buf2 = a->buf2;
	x->len = a->len;
	x->offset = a->offset;
	x->done = 0;
	/* A close ignores its timeout_ns (cport.h): no deadline at all, so no path can
	 * time it out (defect: a close held by a link timed out, and closed nothing). */
	x->deadline = op->timeout_ns && type != CPORT__CLOSE
			      ? cport__add_sat(cport__now(port), op->timeout_ns)
			      : 0;
	x->heap_idx = 0;
	x->hold = 0;
	x->reg = a->buf_index ? CPORT__REG_BUF : 0;
	x->buf_index = a->buf_index ? (uint16_t)(a->buf_index - 1) : 0;
	x->hchild = x->hnext = x->hprev = NULL;
	for (size_t i = 0; i < sizeof x->be.words / sizeof x->be.words[0]; i++)
		x->be.words[i] = 0;
	op->cflags = 0;
	op->result = 0;
}

/* A receive of zero bytes has nothing to wait for (a stream's low-water mark would make
 * the kernel wait for data it then does not take): it completes at once with 0 on
 * every backend, and takes nothing from the descriptor. */
static bool op_zero_receive(cport *port, cport_op *op)
{
	(void)port;
	const struct cport__op *x = cport__x(op);
	return x->len == 0 && x->type >= CPORT__READ && cport__is_stream_read(x);
}

static int op_zero_done(cport *port, cport_op *op)
{
	/* Refused as any op on the descriptor would be (defect: one on a descriptor being
	 * closed was accepted, after the close). */
	int r = cport__fd_usable(port, cport__x(op)->fd);
	if (r < 0)
		return r;
	cport__complete(port, op, 0);
	return 0;
}

/* ---- 2b. CPORT_OP_INLINE ------------------------------------------------------------ */

/* The ops CPORT_OP_INLINE may run in the submit call (cport.h says when they do). */
bool cport__inline_kind(const struct cport__op *x)
{
	switch ((enum cport__type)x->type) {
	case CPORT__STAT:
	case CPORT__FSTAT:
		return true;
	case CPORT__READ:
	case CPORT__READV:
	case CPORT__WRITE:
	case CPORT__WRITEV:
		return x->offset >= 0;
	default:
		return false;
	}
}

/* The caller allowed a cheap op to run here: 1 if it completed (its completion is
 * queued), 0 to start it on the backend (from opx.done), or an error refusing it (its
 * descriptor is not open, or is being closed: the same answer the backend would give). */
static int op_inline(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd *f = NULL;
	if (!cport__inline_kind(x))
		return 0;
	if (cport__has_fd(x->type)) {
		int r = cport__fd_get(port, x->fd, &f);
		if (r < 0)
			return r;
	}
	return cport__os_try(port, op, f, true) ? 1 : 0;
}

/* Check, fill in and hand an op to the backend; it is in flight once this returns 0.
 * An op refused by the checks here is left exactly as it was. One the backend refuses
 * (a descriptor that is not open, out of memory) gets its public fields back and holds
 * no in-flight mark; its private words are rewritten (saving all 192 bytes for that
 * rare case cost 15 ns on every submit). An op with CPORT_OP_INLINE may run here. Once
 * bytes moved (an inline or cached try of a transfer did part of it), the op is
 * accepted: a backend's refusal of the rest is the op's result, not the submit's. */
static int op_start(cport *port, cport_op *op)
{
	if (op_zero_receive(port, op))
		return op_zero_done(port, op);
	if ((op->flags & CPORT_OP_INLINE) && !port->be->no_os) {
		int r = op_inline(port, op);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	int r = port->be->start(port, op);
	if (r < 0 && cport__x(op)->done > 0) {
		cport__complete(port, op, r);
		return 0;
	}
	return r;
}

/* Ops a completion let go (links, barriers) start before the public call returns. */
static void port_run_released(cport *port)
{
	if (port->chain.go.head)
		cport__chain_run(port, op_start);
}

void cport__run_released(cport *port)
{
	port_run_released(port);
}

/* The submit of an op with a link or barrier flag, or while a chain is open or a
 * barrier pending (chain.c): it may be held instead of started. A refusal by the engine
 * puts the chain's state back as it was: an op that starts at once was counted, may
 * have become the pending barrier, and moved the open chain on (it had no predecessor
 * in flight, else it would be held). */
static int op_submit_chained(cport *port, cport_op *op)
{
	struct cport__chain *c = &port->chain;
	cport_op *tail = c->tail;
	bool open = c->open, failed = c->tail_failed;
	if (!cport__chain_submit(port, op))
		return 0; /* held, or completed at once (its chain broke before it came) */
	int r = op_start(port, op);
	if (r < 0) {
		c->unfinished--;
		if (c->drain == op)
			c->drain = NULL;
		c->tail = tail;
		c->open = open;
		c->tail_failed = failed;
	}
	return r;
}

static int op_submit(cport *port, cport_op *op, enum cport__type type, const struct op_args *a)
{
	int r = op_check(port, op);
	if (r < 0)
		return r;
	int e = port_enter(port);
	if (e < 0)
		return e;
	/* Checked inside: a registration changes only under port_enter too. */
	if (a->buf_index && (r = cport__reg_check_buf(port, a->buf, a->len, a->buf_index - 1)) < 0)
		goto out;
	if (cport__chain_active(&port->chain, op) &&
	    (r = cport__chain_check(port, op, (uint8_t)type, a->aux, a->fd)) < 0)
		goto out;
	if (cport__is_pool_recv((uint8_t)type) && !cport__bufpool_get(port, a->mode)) {
		r = CPORT_EINVAL; /* no such pool (looked up on the port thread) */
		goto out;
	}
	uint32_t cflags = op->cflags;
	int64_t result = op->result;
	op_init(port, op, type, a);
	if (port->reg)
		cport__reg_mark(port, op);
	cport__x(op)->state = CPORT__INFLIGHT;
	if (cport__chain_active(&port->chain, op)) {
		r = op_submit_chained(port, op);
	} else {
		port->chain.unfinished++; /* counted for a later barrier */
		r = op_start(port, op);
		if (r < 0)
			port->chain.unfinished--;
	}
	if (r < 0) {
		cport__x(op)->state = CPORT__IDLE;
		op->cflags = cflags;
		op->result = result;
	} else {
		port->inflight++;
		if (cport__x(op)->reg)
			cport__reg_hold(port, cport__x(op));
		if (cport__is_pool_recv((uint8_t)type))
			cport__bufpool_op_accepted(port, a->mode); /* until reaped: no removal */
	}
	port_run_released(port);
out:
	port_leave(port);
	return r;
}

int cport__check_fd(cport_fd fd)
{
#ifdef _WIN32
	/* "Negative" values are INVALID_HANDLE_VALUE, INVALID_SOCKET and the pseudo-handles
	 * (current process, thread, token), never a file, pipe or socket. */
	return (intptr_t)fd < 0 || fd == 0 ? CPORT_EBADF : 0;
#else
	return fd < 0 ? CPORT_EBADF : 0;
#endif
}

static int check_io(cport_fd fd, const void *buf, size_t len, int64_t offset)
{
	if ((!buf && len) || len > CPORT_MAX_IO || offset < -1)
		return CPORT_EINVAL;
	return cport__check_fd(fd);
}

/* The buffers of a vectored op or a message: 1..1024 of them, CPORT_MAX_IO in all.
 * Their total goes to *total (the op keeps it: no engine adds them up again). */
static int check_iov_bufs(const cport_iovec *iov, unsigned n, uint64_t *total)
{
	if (!iov || n == 0 || n > 1024)
		return CPORT_EINVAL;
	uint64_t t = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!iov[i].base && iov[i].len)
			return CPORT_EINVAL;
		if (iov[i].len > CPORT_MAX_IO)
			return CPORT_EINVAL;
		t += iov[i].len;
		if (t > CPORT_MAX_IO)
			return CPORT_EINVAL;
	}
	*total = t;
	return 0;
}

/* ---- 3. The submit calls ---------------------------------------------------------- */

int cport_nop(cport *port, cport_op *op)
{
	struct op_args a = {0};
	return op_submit(port, op, CPORT__NOP, &a);
}

int cport_timer(cport *port, cport_op *op, uint64_t ns, uint32_t flags)
{
	if (flags & ~(uint32_t)CPORT_TIMER_ABS)
		return CPORT_EINVAL;
	struct op_args a = {.len = ns, .aux = flags};
	return op_submit(port, op, CPORT__TIMER, &a);
}

static int op_rw(cport *port, cport_op *op, enum cport__type type, cport_fd fd, void *buf,
		 size_t len, int64_t offset)
{
	int r = check_io(fd, buf, len, offset);
	if (r < 0)
		return r;
	struct op_args a = {.fd = fd, .buf = buf, .len = len, .offset = offset};
	return op_submit(port, op, type, &a);
}

int cport_read(cport *port, cport_op *op, cport_fd fd, void *buf, size_t len, int64_t offset)
{
	return op_rw(port, op, CPORT__READ, fd, buf, len, offset);
}

int cport_write(cport *port, cport_op *op, cport_fd fd, const void *buf, size_t len,
		int64_t offset)
{
	return op_rw(port, op, CPORT__WRITE, fd, (void *)buf, len, offset);
}

/* A read or write in a registered buffer: the plain op, plus the index op_submit checks
 * against the registration (every engine; io_uring also uses it). */
static int op_rw_fixed(cport *port, cport_op *op, enum cport__type type, cport_fd fd,
		       void *buf, size_t len, int64_t offset, unsigned index)
{
	int r = check_io(fd, buf, len, offset);
	if (r < 0)
		return r;
	if (index >= CPORT_MAX_REG_BUFFERS)
		return CPORT_EINVAL;
	struct op_args a = {
		.fd = fd, .buf = buf, .len = len, .offset = offset, .buf_index = index + 1};
	return op_submit(port, op, type, &a);
}

int cport_read_fixed(cport *port, cport_op *op, cport_fd fd, void *buf, size_t len,
		     int64_t offset, unsigned index)
{
	return op_rw_fixed(port, op, CPORT__READ, fd, buf, len, offset, index);
}

int cport_write_fixed(cport *port, cport_op *op, cport_fd fd, const void *buf, size_t len,
		      int64_t offset, unsigned index)
{
	return op_rw_fixed(port, op, CPORT__WRITE, fd, (void *)buf, len, offset, index);
}

static int op_rwv(cport *port, cport_op *op, enum cport__type type, cport_fd fd,
		  const cport_iovec *iov, unsigned n, int64_t offset)
{
	struct op_args a = {.fd = fd, .buf = (void *)iov, .aux = n, .offset = offset};
	int r = offset < -1 ? CPORT_EINVAL : check_iov_bufs(iov, n, &a.len);
	if (r < 0 || (r = cport__check_fd(fd)) < 0)
		return r;
	return op_submit(port, op, type, &a);
}

int cport_readv(cport *port, cport_op *op, cport_fd fd, const cport_iovec *iov, unsigned n,
		int64_t offset)
{
	return op_rwv(port, op, CPORT__READV, fd, iov, n, offset);
}

int cport_writev(cport *port, cport_op *op, cport_fd fd, const cport_iovec *iov, unsigned n,
		 int64_t offset)
{
	return op_rwv(port, op, CPORT__WRITEV, fd, iov, n, offset);
}

/* An op on a descriptor: one pointer, flags, an offset and a length (fsync,
 * fallocate, the socket ops, ...). */
static int op_fd_args(cport *port, cport_op *op, enum cport__type type, cport_fd fd, void *buf,
		      uint32_t flags, int64_t offset, uint64_t len)
{
	int r = cport__check_fd(fd);
	if (r < 0)
		return r;
	struct op_args a = {.fd = fd, .buf = buf, .aux = flags, .offset = offset, .len = len};
	return op_submit(port, op, type, &a);
}

static int op_fd(cport *port, cport_op *op, enum cport__type type, cport_fd fd, uint32_t flags,
		 int64_t offset, uint64_t len)
{
	return op_fd_args(port, op, type, fd, NULL, flags, offset, len);
}

int cport_fsync(cport *port, cport_op *op, cport_fd fd, uint32_t flags)
{
	if (flags & ~(uint32_t)CPORT_FSYNC_DATA)
		return CPORT_EINVAL;
	return op_fd(port, op, CPORT__FSYNC, fd, flags, 0, 0);
}

/* A data flush of a range: a CPORT__FSYNC whose aux says "range" (the engines and the
 * pool treat it as the fsync it is; the blocking call and io_uring's SQE differ). */
int cport_fsync_range(cport *port, cport_op *op, cport_fd fd, uint32_t flags, int64_t offset,
		      int64_t len)
{
	if (flags || offset < 0 || len < 0 || len > INT64_MAX - offset)
		return CPORT_EINVAL;
	return op_fd(port, op, CPORT__FSYNC, fd, CPORT__FSYNC_RANGE, offset, (uint64_t)len);
}

int cport_close(cport *port, cport_op *op, cport_fd fd)
{
	return op_fd(port, op, CPORT__CLOSE, fd, 0, 0, 0);
}

int cport_fallocate(cport *port, cport_op *op, cport_fd fd, uint32_t flags, int64_t offset,
		    int64_t len)
{
	uint32_t known = CPORT_FALLOC_KEEP_SIZE | CPORT_FALLOC_PUNCH_HOLE | CPORT_FALLOC_ZERO_RANGE;
	if ((flags & ~known) || offset < 0 || len <= 0 || len > INT64_MAX - offset ||
	    ((flags & CPORT_FALLOC_PUNCH_HOLE) && (flags & CPORT_FALLOC_ZERO_RANGE)))
		return CPORT_EINVAL;
	return op_fd(port, op, CPORT__FALLOCATE, fd, flags, offset, (uint64_t)len);
}

int cport_ftruncate(cport *port, cport_op *op, cport_fd fd, int64_t len)
{
	if (len < 0)
		return CPORT_EINVAL;
	return op_fd(port, op, CPORT__FTRUNCATE, fd, 0, 0, (uint64_t)len);
}

int cport_fstat(cport *port, cport_op *op, cport_fd fd, cport_statbuf *st)
{
	if (!st)
		return CPORT_EINVAL;
	return op_fd_args(port, op, CPORT__FSTAT, fd, st, 0, 0, 0);
}

/* An op on one or two paths. */
static int op_path(cport *port, cport_op *op, enum cport__type type, const char *path,
		   void *buf2, uint32_t flags, uint32_t mode)
{
	if (!path || (type == CPORT__RENAME && !buf2) || (type == CPORT__STAT && !buf2))
		return CPORT_EINVAL;
	struct op_args a = {.buf = (void *)path, .buf2 = buf2, .aux = flags, .mode = mode};
	return op_submit(port, op, type, &a);
}

#define CPORT__O_ALL ((1u << 10) - 1)

/* cport_open's and cport_openat's flags and mode. */
static bool check_open(uint32_t flags, uint32_t mode)
{
	return !(flags & ~CPORT__O_ALL) && !(flags & CPORT_O_WRONLY && flags & CPORT_O_RDWR) &&
	       mode <= 07777;
}

int cport_open(cport *port, cport_op *op, const char *path, uint32_t flags, uint32_t mode)
{
	if (!check_open(flags, mode))
		return CPORT_EINVAL;
	return op_path(port, op, CPORT__OPEN, path, NULL, flags, mode);
}

int cport_stat(cport *port, cport_op *op, const char *path, cport_statbuf *st)
{
	return op_path(port, op, CPORT__STAT, path, st, 0, 0);
}

int cport_rename(cport *port, cport_op *op, const char *from, const char *to)
{
	return op_path(port, op, CPORT__RENAME, from, (void *)to, 0, 0);
}

int cport_unlink(cport *port, cport_op *op, const char *path, uint32_t flags)
{
	if (flags & ~(uint32_t)CPORT_UNLINK_DIR)
		return CPORT_EINVAL;
	return op_path(port, op, CPORT__UNLINK, path, NULL, flags, 0);
}

int cport_mkdir(cport *port, cport_op *op, const char *path, uint32_t mode)
{
	if (mode > 07777)
		return CPORT_EINVAL;
	return op_path(port, op, CPORT__MKDIR, path, NULL, 0, mode);
}

/* ---- 3c. Directories, file systems and file locks ------------------------------------ */

int cport_openat(cport *port, cport_op *op, cport_fd dir, const char *path, uint32_t flags,
		 uint32_t mode)
{
	if (dir == CPORT_AT_CWD)
		return cport_open(port, op, path, flags, mode);
	if (!path || !check_open(flags, mode))
		return CPORT_EINVAL;
	int r = cport__check_fd(dir);
	if (r < 0)
		return r;
	struct op_args a = {.fd = dir, .buf = (void *)path, .aux = flags, .mode = mode};
	return op_submit(port, op, CPORT__OPENAT, &a);
}

int cport_readdir(cport *port, cport_op *op, cport_fd dir, void *buf, size_t len,
		  uint32_t flags)
{
	/* Records hold 64-bit fields: an unaligned buffer would make them unreadable. */
	if (!buf || ((uintptr_t)buf & 7) || len < CPORT_READDIR_MIN || len > CPORT_MAX_IO ||
	    (flags & ~(uint32_t)CPORT_READDIR_REWIND))
		return CPORT_EINVAL;
	return op_fd_args(port, op, CPORT__READDIR, dir, buf, flags, 0, len);
}

int cport_statfs(cport *port, cport_op *op, const char *path, cport_statfsbuf *st)
{
	if (!st)
		return CPORT_EINVAL;
	return op_path(port, op, CPORT__STATFS, path, st, 0, 0);
}

int cport_fadvise(cport *port, cport_op *op, cport_fd fd, int64_t offset, int64_t len,
		  uint32_t advice)
{
	if (advice > CPORT_FADV_NOREUSE || offset < 0 || len < 0)
		return CPORT_EINVAL;
	return op_fd(port, op, CPORT__FADVISE, fd, advice, offset, (uint64_t)len);
}

int cport_link(cport *port, cport_op *op, const char *from, const char *to)
{
	if (!to)
		return CPORT_EINVAL;
	return op_path(port, op, CPORT__LINK, from, (void *)to, 0, 0);
}

int cport_symlink(cport *port, cport_op *op, const char *target, const char *path,
		  uint32_t flags)
{
	if (!path || (flags & ~(uint32_t)CPORT_SYMLINK_DIR))
		return CPORT_EINVAL;
	return op_path(port, op, CPORT__SYMLINK, target, (void *)path, flags, 0);
}

int cport_readlink(cport *port, cport_op *op, const char *path, char *buf, size_t len)
{
	if (!path || !buf || len == 0 || len > CPORT_MAX_IO)
		return CPORT_EINVAL;
	struct op_args a = {.buf = (void *)path, .buf2 = buf, .len = len};
	return op_submit(port, op, CPORT__READLINK, &a);
}

int cport_rename2(cport *port, cport_op *op, const char *from, const char *to, uint32_t flags)
{
	uint32_t both = CPORT_RENAME_NOREPLACE | CPORT_RENAME_EXCHANGE;
	if ((flags & ~both) || flags == both)
		return CPORT_EINVAL;
	return op_path(port, op, CPORT__RENAME, from, (void *)to, flags, 0);
}

int cport_access(cport *port, cport_op *op, const char *path, uint32_t mode)
{
	if (mode & ~(uint32_t)(CPORT_R_OK | CPORT_W_OK | CPORT_X_OK))
		return CPORT_EINVAL;
	return op_path(port, op, CPORT__ACCESS, path, NULL, mode, 0);
}

/* A lock's range: len 0 reaches past any end, else offset + len fits in an int64_t. */
static bool check_lock_range(int64_t offset, int64_t len)
{
	return offset >= 0 && len >= 0 && len <= INT64_MAX - offset;
}

int cport_lock(cport *port, cport_op *op, cport_fd fd, int64_t offset, int64_t len,
	       uint32_t flags)
{
	uint32_t mode = flags & (CPORT_LOCK_SHARED | CPORT_LOCK_EXCLUSIVE);
	if (!check_lock_range(offset, len) || (flags & ~(uint32_t)(mode | CPORT_LOCK_NOWAIT)) ||
	    (mode != CPORT_LOCK_SHARED && mode != CPORT_LOCK_EXCLUSIVE))
		return CPORT_EINVAL;
	return op_fd(port, op, CPORT__LOCK, fd, flags, offset, (uint64_t)len);
}

int cport_unlock(cport *port, cport_op *op, cport_fd fd, int64_t offset, int64_t len)
{
	if (!check_lock_range(offset, len))
		return CPORT_EINVAL;
	return op_fd(port, op, CPORT__LOCK, fd, CPORT__LOCK_UNLOCK, offset, (uint64_t)len);
}

/* A socket op: descriptor, one pointer, a length and flags; streams have no offset. */
static int op_sock(cport *port, cport_op *op, enum cport__type type, cport_fd fd, void *buf,
		   uint64_t len, uint32_t aux)
{
	return op_fd_args(port, op, type, fd, buf, aux, -1, len);
}
/* ---- 3b. Socket ops ----------------------------------------------------------- */

int cport_accept(cport *port, cport_op *op, cport_fd fd, cport_addr *peer, uint32_t flags)
{
	if ((flags & ~(uint32_t)CPORT_ACCEPT_MULTISHOT) ||
	    (peer && (flags & CPORT_ACCEPT_MULTISHOT)))
		return CPORT_EINVAL;
	return op_sock(port, op, CPORT__ACCEPT, fd, peer, 0, flags);
}

int cport_connect(cport *port, cport_op *op, cport_fd fd, const cport_addr *addr)
{
	if (!addr || addr->len == 0 || addr->len > sizeof addr->storage)
		return CPORT_EINVAL;
	return op_sock(port, op, CPORT__CONNECT, fd, (void *)addr, 0, 0);
}

int cport_recv(cport *port, cport_op *op, cport_fd fd, void *buf, size_t len, uint32_t flags)
{
	if (flags || (!buf && len) || len > CPORT_MAX_IO)
		return CPORT_EINVAL;
	return op_sock(port, op, CPORT__RECV, fd, buf, len, 0);
}

int cport_send(cport *port, cport_op *op, cport_fd fd, const void *buf, size_t len,
	       uint32_t flags)
{
	uint32_t zc = CPORT_SEND_ZC | CPORT_SEND_NOZC;
	if ((flags & ~zc) || (flags & zc) == zc || (!buf && len) || len > CPORT_MAX_IO)
		return CPORT_EINVAL;
	return op_sock(port, op, CPORT__SEND, fd, (void *)buf, len, flags);
}

static int check_msg(const cport_msg *msg, bool out, uint64_t *total)
{
	if (!msg || (out && msg->flags))
		return CPORT_EINVAL;
	if (out && msg->addr && (msg->addr->len == 0 || msg->addr->len > sizeof msg->addr->storage))
		return CPORT_EINVAL;
	/* the descriptor: op_sock checks it */
	return check_iov_bufs(msg->iov, msg->iovcnt, total);
}

int cport_recvmsg(cport *port, cport_op *op, cport_fd fd, cport_msg *msg)
{
	uint64_t total = 0;
	int r = check_msg(msg, false, &total);
	return r < 0 ? r : op_sock(port, op, CPORT__RECVMSG, fd, msg, total, 0);
}

int cport_sendmsg(cport *port, cport_op *op, cport_fd fd, cport_msg *msg)
{
	uint64_t total = 0;
	int r = check_msg(msg, true, &total);
	return r < 0 ? r : op_sock(port, op, CPORT__SENDMSG, fd, msg, total, 0);
}

int cport_shutdown(cport *port, cport_op *op, cport_fd fd, uint32_t how)
{
	if (how < CPORT_SHUT_RD || how > CPORT_SHUT_RDWR)
		return CPORT_EINVAL;
	return op_sock(port, op, CPORT__SHUTDOWN, fd, NULL, 0, how);
}

#define CPORT__POLL_ALL                                                                  \
	(CPORT_POLL_IN | CPORT_POLL_PRI | CPORT_POLL_OUT | CPORT_POLL_ERR | CPORT_POLL_HUP | \
	 CPORT_POLL_RDHUP)

int cport_poll(cport *port, cport_op *op, cport_fd fd, uint32_t events)
{
	if (events == 0 || (events & ~(uint32_t)CPORT__POLL_ALL))
		return CPORT_EINVAL;
	return op_sock(port, op, CPORT__POLL, fd, NULL, 0, events);
}

int cport_sendfile(cport *port, cport_op *op, cport_fd sock, cport_fd file, int64_t offset,
		   size_t len)
{
	if (offset < 0 || len > CPORT_MAX_IO || (uint64_t)offset > (uint64_t)INT64_MAX - len)
		return CPORT_EINVAL;
	int r = cport__check_fd(file);
	if (r < 0 || (r = cport__check_fd(sock)) < 0)
		return r;
	struct op_args a = {
		.fd = sock, .buf2 = (void *)(uintptr_t)file, .len = len, .offset = offset};
	return op_submit(port, op, CPORT__SENDFILE, &a);
}

/* ---- 3c. Routes --------------------------------------------------------------------- */

/* What each CPORT_KIND_* submits: the op type and the arguments its route depends on. */
struct route_kind {
	uint8_t type;
	bool cur;     /* offset -1 */
	uint32_t aux;
};

static const struct route_kind route_kinds[] = {
	[CPORT_KIND_NOP] = {CPORT__NOP, false, 0},
	[CPORT_KIND_TIMER] = {CPORT__TIMER, false, 0},
	[CPORT_KIND_READ] = {CPORT__READ, false, 0},
	[CPORT_KIND_READ_CUR] = {CPORT__READ, true, 0},
	[CPORT_KIND_WRITE] = {CPORT__WRITE, false, 0},
	[CPORT_KIND_WRITE_CUR] = {CPORT__WRITE, true, 0},
	[CPORT_KIND_READV] = {CPORT__READV, false, 0},
	[CPORT_KIND_READV_CUR] = {CPORT__READV, true, 0},
	[CPORT_KIND_WRITEV] = {CPORT__WRITEV, false, 0},
	[CPORT_KIND_WRITEV_CUR] = {CPORT__WRITEV, true, 0},
	[CPORT_KIND_FSYNC] = {CPORT__FSYNC, false, 0},
	[CPORT_KIND_FSYNC_RANGE] = {CPORT__FSYNC, false, CPORT__FSYNC_RANGE},
	[CPORT_KIND_OPEN] = {CPORT__OPEN, false, 0},
	[CPORT_KIND_CLOSE] = {CPORT__CLOSE, false, 0},
	[CPORT_KIND_STAT] = {CPORT__STAT, false, 0},
	[CPORT_KIND_FSTAT] = {CPORT__FSTAT, false, 0},
	[CPORT_KIND_FALLOCATE] = {CPORT__FALLOCATE, false, 0},
	[CPORT_KIND_FTRUNCATE] = {CPORT__FTRUNCATE, false, 0},
	[CPORT_KIND_RENAME] = {CPORT__RENAME, false, 0},
	[CPORT_KIND_UNLINK] = {CPORT__UNLINK, false, 0},
	[CPORT_KIND_MKDIR] = {CPORT__MKDIR, false, 0},
	[CPORT_KIND_ACCEPT] = {CPORT__ACCEPT, true, 0},
	[CPORT_KIND_CONNECT] = {CPORT__CONNECT, true, 0},
	[CPORT_KIND_RECV] = {CPORT__RECV, true, 0},
	[CPORT_KIND_SEND] = {CPORT__SEND, true, 0},
	[CPORT_KIND_RECVMSG] = {CPORT__RECVMSG, true, 0},
	[CPORT_KIND_SENDMSG] = {CPORT__SENDMSG, true, 0},
	[CPORT_KIND_SHUTDOWN] = {CPORT__SHUTDOWN, true, CPORT_SHUT_WR},
	[CPORT_KIND_POLL] = {CPORT__POLL, true, CPORT_POLL_IN},
	[CPORT_KIND_SENDFILE] = {CPORT__SENDFILE, false, 0},
	[CPORT_KIND_OPENAT] = {CPORT__OPENAT, false, 0},
	[CPORT_KIND_READDIR] = {CPORT__READDIR, false, 0},
	[CPORT_KIND_STATFS] = {CPORT__STATFS, false, 0},
	[CPORT_KIND_FADVISE] = {CPORT__FADVISE, false, 0},
	[CPORT_KIND_LINK] = {CPORT__LINK, false, 0},
	[CPORT_KIND_SYMLINK] = {CPORT__SYMLINK, false, 0},
	[CPORT_KIND_READLINK] = {CPORT__READLINK, false, 0},
	[CPORT_KIND_ACCESS] = {CPORT__ACCESS, false, 0},
	[CPORT_KIND_LOCK] = {CPORT__LOCK, false, CPORT_LOCK_EXCLUSIVE},
	[CPORT_KIND_UNLOCK] = {CPORT__LOCK, false, CPORT__LOCK_UNLOCK},
	[CPORT_KIND_RECV_POOL] = {CPORT__RECV_POOL, true, 0},
	[CPORT_KIND_RECVMSG_POOL] = {CPORT__RECVMSG_POOL, true, 0},
};

int cport_route(cport *port, uint32_t kind, cport_fd fd)
{
	if (!port || kind >= sizeof route_kinds / sizeof *route_kinds || !route_kinds[kind].type)
		return CPORT_EINVAL;
	if (kind == CPORT_KIND_OPENAT && fd == CPORT_AT_CWD)
		kind = CPORT_KIND_OPEN; /* what cport_openat submits then */
	const struct route_kind *k = &route_kinds[kind];
	/* The prototype op the engine decides on: what a submit of that kind would hold. */
	struct cport__op x = {.type = k->type, .port = port, .aux = k->aux, .len = 1};
	x.offset = k->cur ? -1 : 0;
	if (cport__has_fd(x.type)) {
		int r = cport__check_fd(fd);
		if (r < 0 || !cport__os_fd_valid(fd))
			return CPORT_EBADF;
		x.fd = fd;
	}
	if (!port->be->route)
		return CPORT_ENOSYS;
	int e = port_enter(port);
	if (e < 0)
		return e;
	/* The descriptor as a submit finds it: not open, or being closed, is CPORT_EBADF. */
	struct cport__fd *f = NULL;
	int r = cport__has_fd(x.type) ? cport__fd_get(port, fd, &f) : 0;
	if (r == 0)
		r = port->be->route(port, &x, f);
	port_leave(port);
	return r;
}

/* ---- 3d. Pool receives (the pools themselves: lib/bufpool.c) ----------------------- */

int cport_bufpool_add(cport *port, void *mem, uint32_t count, uint32_t size, uint16_t *group)
{
	if (!port)
		return CPORT_EINVAL;
	int e = port_enter(port);
	if (e < 0)
		return e;
	int r = cport__bufpool_add(port, mem, count, size, group);
	port_leave(port);
	return r;
}

int cport_bufpool_remove(cport *port, uint16_t group)
{
	if (!port)
		return CPORT_EINVAL;
	int e = port_enter(port);
	if (e < 0)
		return e;
	int r = cport__bufpool_remove(port, group);
	port_leave(port);
	return r;
}

int cport_bufpool_return(cport *port, uint16_t group, uint16_t id)
{
	if (!port)
		return CPORT_EINVAL;
	int e = port_enter(port);
	if (e < 0)
		return e;
	int r = cport__bufpool_return(port, group, id);
	port_leave(port);
	return r;
}

int cport_op_buf_id(const cport_op *op)
{
	if (!op)
		return CPORT_EINVAL;
	if (!(op->cflags & CPORT_BUF))
		return CPORT_ENOENT;
	return (int)(op->cflags >> CPORT_BUF_SHIFT);
}

/* The pool is checked by op_submit, on the port thread (a pool may come and go). */
int cport_recv_pool(cport *port, cport_op *op, cport_fd fd, uint16_t group, uint32_t flags)
{
	if (!op || (flags & ~(uint32_t)CPORT_RECV_MULTISHOT))
		return CPORT_EINVAL;
	/* A multishot op never completes just once: nothing could follow it. */
	if ((flags & CPORT_RECV_MULTISHOT) && (op->flags & CPORT_OP_LINK))
		return CPORT_EINVAL;
	int r = cport__check_fd(fd);
	if (r < 0)
		return r;
	struct op_args a = {.fd = fd, .aux = flags, .mode = group, .offset = -1};
	return op_submit(port, op, CPORT__RECV_POOL, &a);
}

int cport_recvmsg_pool(cport *port, cport_op *op, cport_fd fd, uint16_t group, cport_msg *msg)
{
	if (!msg || msg->iov || msg->iovcnt)
		return CPORT_EINVAL; /* the pool gives the buffer */
	int r = cport__check_fd(fd);
	if (r < 0)
		return r;
	struct op_args a = {.fd = fd, .buf = msg, .mode = group, .offset = -1};
	return op_submit(port, op, CPORT__RECVMSG_POOL, &a);
}

/* Is there a cancel to pass on (0), nothing to do (1), or an error? Reads the op. */
static int cancel_check(cport *port, cport_op *target)
{
	struct cport__op *x = cport__x(target);
	if (x->state != CPORT__INFLIGHT || x->port != port)
		return CPORT_ENOENT;
	/* A post cannot be stopped, a completed op waits to be reaped, a second cancel
	 * has nothing more to ask, and a close always closes (a descriptor left open by
	 * a "cancelled" close would be worse than a late one): all still count as a
	 * request made, and the op completes with its own result. */
	if (x->type == CPORT__POST || x->type == CPORT__CLOSE || x->xflags & CPORT__X_CANCELLED)
		return 1;
	return 0;
}

/* The cancel itself, inside the port; a shared port's op lent to a thread (its
 * CPORT_MORE completion) hears of it when that thread waits again (lib/shared.c). */
static void cancel_run(cport *port, cport_op *target)
{
	struct cport__op *x = cport__x(target);
	x->xflags |= CPORT__X_CANCELLED;
	if (port->sh && cport__shared_lent(port, target))
		x->xflags |= CPORT__X_CANCEL_LATER;
	else if (x->hold)
		cport__chain_drop(port, target, CPORT_ECANCELED); /* held: never started */
	else
		port->be->cancel(port, target);
	port_run_released(port);
}

int cport_cancel(cport *port, cport_op *target)
{
	if (!port || !target)
		return CPORT_EINVAL;
	/* A shared port's ops change under its mutex: they are read inside it. */
	int r = port->sh ? port_enter(port) : 0;
	if (r < 0)
		return r;
	r = cancel_check(port, target);
	if (r == 0 && !port->sh)
		r = port_enter(port);
	if (r == 0)
		cancel_run(port, target);
	if (port->sh || r == 0)
		port_leave(port);
	return r < 0 ? r : 0;
}

/* ---- 4. Posts, submit, wait, wait for one op (delivery itself: lib/op.c) ----------- */

int cport_post(cport *port, cport_op *op, int64_t result)
{
	int r = op_check(port, op);
	if (r < 0)
		return r;
	if (op->flags)
		return CPORT_EINVAL; /* a post is outside every chain */
	/* Any thread may post: the op is not counted in port->inflight (owned by the port
	 * thread), and cport_wait does not count posts down either. The post belongs to
	 * the port from the store of `state` on. */
	if (port->sh && (r = cport__shared_enter(port)) < 0)
		return r;
	struct cport__op *x = cport__x(op);
	memset(op->internal, 0, sizeof op->internal);
	x->type = CPORT__POST;
	x->port = port;
	op->cflags = 0;
	op->result = result;
	x->state = CPORT__INFLIGHT;
	if (port->sh)
		return cport__shared_post(port, op); /* and leaves the port */
	cport__complete_remote(port, op);
	return 0;
}

int cport_submit(cport *port)
{
	if (!port)
		return CPORT_EINVAL;
	int e = port_enter(port);
	if (e < 0)
		return e;
	int r = port->chain.open ? CPORT_EINVAL : port->be->flush(port);
	port_leave(port);
	return r;
}

/* Ready completions into the caller's array, remote ones first moved there (for
 * cport_wait_op, only the remote ones: its op is taken as it is delivered). */
static void take_ready(cport *port)
{
	cport__drain_remote(port);
	while (port->out_n < port->out_max && port->ready.head)
		port->out[port->out_n++] = cport__queue_pop(&port->ready);
}

/* The ops in out[0..n) are reaped: free for reuse, except multishot ops that will
 * complete again (CPORT_MORE): they stay in flight, ready for their next completion. */
void cport__op_reaped(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	assert(x->state == CPORT__INFLIGHT);
	if (x->type != CPORT__POST) {
		assert(port->inflight > 0);
		port->inflight--;
	}
	if (x->reg)
		cport__reg_release(port, x);
	if (cport__is_pool_recv(x->type))
		cport__bufpool_op_reaped(port, x->mode);
	x->state = CPORT__IDLE;
}

static void mark_reaped(cport *port, cport_op **out, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		cport__bufpool_handed(port, out[i]);
		if (out[i]->cflags & CPORT_MORE)
			cport__x(out[i])->xflags &= (uint8_t)~CPORT__X_UNREAPED;
		else
			cport__op_reaped(port, out[i]);
	}
}

/* What a wait is for: up to `max` completions into `out` (cport_wait), or the one op
 * `op` (cport_wait_op; out NULL, max 0: every other completion stays queued). */
struct wait_for {
	cport_op **out;
	unsigned max;
	cport_op *op;
};

/* One round: ready completions, then the backend's reap. The count reaped, or an
 * error when nothing was. */
static int wait_round(cport *port, struct wait_for *w, int64_t timeout_ns)
{
	port->out = w->out;
	port->out_max = w->max;
	port->out_n = 0;
	port->want = w->op;
	port->got = false;
	take_ready(port);
	int r = port->be->reap(port, cport__wait_done(port) ? 0 : timeout_ns);
	take_ready(port);
	port_run_released(port);
	unsigned n = w->op ? port->got : port->out_n;
	port->out = NULL;
	port->out_max = port->out_n = 0;
	port->want = NULL;
	port->got = false;
	if (r < 0 && n == 0)
		return r;
	mark_reaped(port, w->op ? &w->op : w->out, n);
	return (int)n;
}

/* The one-thread check of a wait; and a chain must end before the port is driven (the
 * last op submitted had CPORT_OP_LINK: its successor is not known yet). */
static int wait_enter(cport *port)
{
	int e = port_enter(port);
	if (e < 0)
		return e;
	if (port->chain.open) {
		port_leave(port);
		return CPORT_EINVAL;
	}
	return 0;
}

/* Rounds until something was reaped, an error, or the timeout passed (0 on timeout). */
static int wait_loop(cport *port, struct wait_for *w, int64_t timeout_ns)
{
	/* now + INT64_MAX fits in 64 bits: the monotonic clock starts near boot. */
	uint64_t deadline = timeout_ns > 0 ? cport__add_sat(cport__now(port), (uint64_t)timeout_ns) : 0;
	int64_t left = timeout_ns;
	int r;
	for (;;) {
		r = wait_round(port, w, left);
		if (r != 0 || timeout_ns == 0)
			break;
		if (timeout_ns > 0) {
			left = cport__ns_until(deadline, cport__now(port));
			if (left == 0)
				break;
		}
	}
	return r;
}

int cport_wait(cport *port, cport_op **out, unsigned max, int64_t timeout_ns)
{
	if (!port || !out || max == 0 || max > INT32_MAX)
		return CPORT_EINVAL;
	if (port->sh)
		return cport__shared_wait(port, out, max, timeout_ns);
	int r = wait_enter(port);
	if (r < 0)
		return r;
	struct wait_for w = {.out = out, .max = max};
	r = wait_loop(port, &w, timeout_ns);
	port_leave(port);
	return r;
}

/* The op may have completed before: it is then on the ready list (or on the remote
 * stack, which the first round drains into the op's delivery). */
int cport_wait_op(cport *port, cport_op *op, int64_t timeout_ns)
{
	if (!port || !op)
		return CPORT_EINVAL;
	if (port->sh)
		return CPORT_ENOTSUP; /* completions go to whichever thread waits */
	struct cport__op *x = cport__x(op);
	if (x->state != CPORT__INFLIGHT || x->port != port)
		return CPORT_ENOENT;
	int r = wait_enter(port);
	if (r < 0)
		return r;
	if (cport__ready_take(port, op)) {
		mark_reaped(port, &op, 1);
		r = 1;
	} else {
		struct wait_for w = {.op = op};
		r = wait_loop(port, &w, timeout_ns);
	}
	port_leave(port);
	return r > 0 ? 0 : r == 0 ? CPORT_ETIMEDOUT : r;
}
