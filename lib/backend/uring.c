/* SPDX-License-Identifier: MIT */
/* The io_uring backend: every op is an SQE; ops the kernel lacks go to the thread pool. */

/*
 * Map
 *   1. State, user_data tags, SQE supply (a full SQ is flushed, an overflowing CQ reaped)
 *   2. Preparing ops (one switch over the op type) and the per-op link timeout
 *   3. Completions: a CQE -> the op's result, short transfers retried, delivery
 *   4. The table slots: init, fini, start, cancel, flush, reap, wake
 *
 * Each op carries opx.pending = the CQEs still expected (1, or 2 with a linked timeout);
 * it finishes when the last one arrives, whatever their order. Short file transfers and
 * the wake eventfd's read are re-queued on `retry` and prepared at the next flush, so
 * CQE handling never needs an SQE (no re-entry when the SQ is full).
 *
 * Kernel needs: Linux 5.19 (IORING_FEAT_NODROP, EXT_ARG, IORING_ASYNC_CANCEL_ANY for
 * destroy). Ops are probed at init; those missing go to the thread pool.
 */

#include "../internal.h"
#include "../unix.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

_Static_assert(sizeof(cport_statbuf) >= sizeof(struct statx), "statx scratch must fit");

/* IORING_OP_FTRUNCATE (Linux 6.9) is newer than Debian 12's liburing 2.3 headers; its
 * number is kernel ABI. */
#ifndef CPORT_IORING_OP_FTRUNCATE
#define CPORT_IORING_OP_FTRUNCATE 55
#endif
#define URING_PROBE_OPS 64

/* ---- 1. State and SQE supply ------------------------------------------------------ */

/* Low bits of user_data: op pointers are 8-byte aligned. */
enum {
	TAG_OP = 0,       /* the op's own CQE */
	TAG_LTIMEOUT = 1, /* the op's linked timeout */
	TAG_IGNORE = 2,   /* cancel requests: their result tells nothing new */
	TAG_WAKE = 3,     /* the wake eventfd's read */
	TAG_MASK = 7
};

struct uring {
	struct io_uring ring;
	struct cport__queue retry; /* ops to prepare again at the next flush */
	uint64_t in_kernel;        /* ops with CQEs still to come (destroy drains them) */
	bool op_ok[URING_PROBE_OPS];
	bool dying;                /* destroy: drop completions, retry nothing */
	bool test_pool;            /* $CPORT_TEST_URING_POOL: file ops to the pool */
	bool wake_armed;           /* the eventfd read is in the kernel or the SQ */
	int efd;
	uint64_t efd_buf;
};

static struct uring *uring_of(cport *port)
{
	return port->impl;
}

static unsigned uring_process(cport *port, cport_op **out, unsigned max);

/* Submit what is in the SQ. A CQ in overflow (-EBUSY) or out of request memory
 * (-EAGAIN) is relieved by reaping into the ready list, then we try again. */
static int uring_submit_all(cport *port)
{
	struct uring *u = uring_of(port);
	while (io_uring_sq_ready(&u->ring) > 0) {
		int r = io_uring_submit(&u->ring);
		if (r >= 0 || r == -EINTR)
			continue;
		if (r != -EBUSY && r != -EAGAIN)
			return r;
		if (uring_process(port, NULL, 0) == 0 && io_uring_cq_ready(&u->ring) == 0) {
			/* Nothing to reap yet: wait for one completion to free room. */
			struct io_uring_cqe *cqe;
			io_uring_wait_cqe(&u->ring, &cqe);
		}
	}
	return 0;
}

/* Make room for n SQEs that must go in one submission (an op and its link timeout). */
static int uring_reserve(cport *port, unsigned n)
{
	struct uring *u = uring_of(port);
	if (io_uring_sq_space_left(&u->ring) >= n)
		return 0;
	return uring_submit_all(port);
}

static struct io_uring_sqe *uring_sqe(cport *port)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&uring_of(port)->ring);
	if (!sqe && uring_submit_all(port) == 0)
		sqe = io_uring_get_sqe(&uring_of(port)->ring);
	return sqe;
}

/* ---- 2. Preparing ops ------------------------------------------------------------- */

static int uring_opcode(uint8_t type)
{
	switch ((enum cport__type)type) {
	case CPORT__NOP: return IORING_OP_NOP;
	case CPORT__TIMER: return IORING_OP_TIMEOUT;
	case CPORT__READ: return IORING_OP_READ;
	case CPORT__WRITE: return IORING_OP_WRITE;
	case CPORT__READV: return IORING_OP_READV;
	case CPORT__WRITEV: return IORING_OP_WRITEV;
	case CPORT__FSYNC: return IORING_OP_FSYNC;
	case CPORT__OPEN: return IORING_OP_OPENAT;
	case CPORT__CLOSE: return IORING_OP_CLOSE;
	case CPORT__STAT:
	case CPORT__FSTAT: return IORING_OP_STATX;
	case CPORT__FALLOCATE: return IORING_OP_FALLOCATE;
	case CPORT__FTRUNCATE: return CPORT_IORING_OP_FTRUNCATE;
	case CPORT__RENAME: return IORING_OP_RENAMEAT;
	case CPORT__UNLINK: return IORING_OP_UNLINKAT;
	case CPORT__MKDIR: return IORING_OP_MKDIRAT;
	case CPORT__POST:
	case CPORT__TYPE_MAX: break;
	}
	return -1;
}

static void uring_set_ts(struct cport__op *x, uint64_t ns)
{
	x->be.ts.tv_sec = (int64_t)(ns / 1000000000u);
	x->be.ts.tv_nsec = (int64_t)(ns % 1000000000u);
}

static uint64_t rw_total(struct cport__op *x)
{
	if (x->type == CPORT__READ || x->type == CPORT__WRITE)
		return x->len;
	const cport_iovec *iov = x->buf;
	uint64_t t = 0;
	for (unsigned i = 0; i < x->aux; i++)
		t += iov[i].len;
	return t;
}

/* A read or write from where the op got to: the whole request the first time; after a
 * short transfer, the rest of the current buffer or the remaining iovecs. */
static void uring_prep_rw(struct io_uring_sqe *sqe, struct cport__op *x)
{
	bool rd = x->type == CPORT__READ || x->type == CPORT__READV;
	uint64_t off = x->offset < 0 ? (uint64_t)-1 : (uint64_t)x->offset + x->done;
	if (x->type == CPORT__READ || x->type == CPORT__WRITE) {
		char *p = (char *)x->buf + x->done;
		unsigned n = (unsigned)(x->len - x->done);
		if (rd)
			io_uring_prep_read(sqe, x->fd, p, n, off);
		else
			io_uring_prep_write(sqe, x->fd, p, n, off);
		return;
	}
	const struct iovec *iov = x->buf;
	unsigned i = 0;
	uint64_t skip = x->done;
	while (skip && skip >= iov[i].iov_len)
		skip -= iov[i++].iov_len;
	if (skip) {
		char *p = (char *)iov[i].iov_base + skip;
		unsigned n = (unsigned)(iov[i].iov_len - skip);
		if (rd)
			io_uring_prep_read(sqe, x->fd, p, n, off);
		else
			io_uring_prep_write(sqe, x->fd, p, n, off);
	} else if (rd) {
		io_uring_prep_readv(sqe, x->fd, iov + i, x->aux - i, off);
	} else {
		io_uring_prep_writev(sqe, x->fd, iov + i, x->aux - i, off);
	}
}

static void uring_prep_statx(struct io_uring_sqe *sqe, struct cport__op *x)
{
	unsigned mask = STATX_BASIC_STATS | STATX_BTIME;
	if (x->type == CPORT__STAT)
		io_uring_prep_statx(sqe, AT_FDCWD, x->buf, 0, mask, x->buf2);
	else
		io_uring_prep_statx(sqe, x->fd, "", AT_EMPTY_PATH, mask, x->buf);
}

/* Fill the op's SQE. */
static void uring_prep(struct io_uring_sqe *sqe, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	switch ((enum cport__type)x->type) {
	case CPORT__NOP:
		io_uring_prep_nop(sqe);
		break;
	case CPORT__TIMER:
		uring_set_ts(x, x->len);
		io_uring_prep_timeout(sqe, (struct __kernel_timespec *)&x->be.ts, 0,
				      x->aux & CPORT_TIMER_ABS ? IORING_TIMEOUT_ABS : 0);
		break;
	case CPORT__READ:
	case CPORT__WRITE:
	case CPORT__READV:
	case CPORT__WRITEV:
		uring_prep_rw(sqe, x);
		break;
	case CPORT__FSYNC:
		io_uring_prep_fsync(sqe, x->fd, x->aux & CPORT_FSYNC_DATA ? IORING_FSYNC_DATASYNC : 0);
		break;
	case CPORT__OPEN:
		io_uring_prep_openat(sqe, AT_FDCWD, x->buf, cport__unix_open_flags(x->aux), x->mode);
		break;
	case CPORT__CLOSE:
		io_uring_prep_close(sqe, x->fd);
		break;
	case CPORT__STAT:
	case CPORT__FSTAT:
		uring_prep_statx(sqe, x);
		break;
	case CPORT__FALLOCATE:
		io_uring_prep_fallocate(sqe, x->fd,
					x->aux & CPORT_FALLOC_KEEP_SIZE ? FALLOC_FL_KEEP_SIZE : 0,
					(uint64_t)x->offset, x->len);
		break;
	case CPORT__FTRUNCATE:
		io_uring_prep_rw(CPORT_IORING_OP_FTRUNCATE, sqe, x->fd, NULL, 0, x->len);
		break;
	case CPORT__RENAME:
		io_uring_prep_renameat(sqe, AT_FDCWD, x->buf, AT_FDCWD, x->buf2, 0);
		break;
	case CPORT__UNLINK:
		io_uring_prep_unlinkat(sqe, AT_FDCWD, x->buf,
				       x->aux & CPORT_UNLINK_DIR ? AT_REMOVEDIR : 0);
		break;
	case CPORT__MKDIR:
		io_uring_prep_mkdirat(sqe, AT_FDCWD, x->buf, x->mode);
		break;
	case CPORT__POST:
	case CPORT__TYPE_MAX:
		assert(!"not an io_uring op");
		break;
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | TAG_OP);
}

/* Time left before the op's deadline; 0 if none, 1 ns if passed. */
static uint64_t uring_time_left(cport_op *op)
{
	uint64_t deadline = cport__x(op)->deadline;
	if (!deadline)
		return 0;
	uint64_t now = cport_now_ns();
	return deadline > now ? deadline - now : 1;
}

/* Queue the op's SQE, and a linked timeout after it when the op has a deadline. */
static int uring_queue(cport *port, cport_op *op)
{
	struct uring *u = uring_of(port);
	struct cport__op *x = cport__x(op);
	uint64_t left = uring_time_left(op);
	int r = uring_reserve(port, left ? 2 : 1);
	if (r < 0)
		return r;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	uring_prep(sqe, op);
	x->pending = 1;
	if (left) {
		/* The timespec lives in the op: the kernel copies it when it reads the SQE.
		 * A timer keeps its own in be.ts, so its link timeout uses words[2..3]. */
		struct __kernel_timespec *ts = (void *)&x->be.words[2];
		ts->tv_sec = (int64_t)(left / 1000000000u);
		ts->tv_nsec = (int64_t)(left % 1000000000u);
		sqe->flags |= IOSQE_IO_LINK;
		sqe = io_uring_get_sqe(&u->ring);
		io_uring_prep_link_timeout(sqe, ts, 0);
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | TAG_LTIMEOUT);
		x->pending = 2;
	}
	u->in_kernel++;
	return 0;
}

/* The wake eventfd's 8-byte read; re-armed after each wake. */
static int uring_arm_wake(cport *port)
{
	struct uring *u = uring_of(port);
	struct io_uring_sqe *sqe = uring_sqe(port);
	if (!sqe)
		return CPORT_EBUSY;
	io_uring_prep_read(sqe, u->efd, &u->efd_buf, sizeof u->efd_buf, 0);
	io_uring_sqe_set_data64(sqe, TAG_WAKE);
	u->wake_armed = true;
	return 0;
}

/* ---- 3. Completions --------------------------------------------------------------- */

/* A read/write CQE: count the bytes; true if the op is done, false if it went back on
 * the retry list for the rest. */
static bool uring_rw_progress(struct uring *u, cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	if (*res < 0)
		return true;
	x->done += (uint64_t)*res;
	bool stream_read = (x->type == CPORT__READ || x->type == CPORT__READV) && x->offset < 0;
	if (*res == 0 || stream_read || x->done >= x->len || u->dying) {
		*res = (int64_t)x->done;
		return true;
	}
	if (x->xflags & CPORT__X_CANCELLED) {
		*res = CPORT_ECANCELED;
		return true;
	}
	cport__queue_push(&u->retry, op);
	return false;
}

/* The op's last CQE arrived: turn the kernel's answer into the op's result. Returns
 * false if the op is not finished (a short transfer goes on). */
static bool uring_finish(struct uring *u, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	int64_t res = op->result;
	if (res == -ECANCELED && (x->xflags & CPORT__X_TIMEDOUT) &&
	    !(x->xflags & CPORT__X_CANCELLED))
		res = CPORT_ETIMEDOUT;
	switch ((enum cport__type)x->type) {
	case CPORT__TIMER:
		if (res == -ETIME)
			res = 0;
		break;
	case CPORT__READ:
	case CPORT__WRITE:
	case CPORT__READV:
	case CPORT__WRITEV:
		if (!uring_rw_progress(u, op, &res))
			return false;
		break;
	case CPORT__STAT:
	case CPORT__FSTAT:
		if (res == 0) {
			cport_statbuf *st = x->type == CPORT__STAT ? x->buf2 : x->buf;
			struct statx stx;
			memcpy(&stx, st, sizeof stx);
			cport__unix_fill_statx(st, &stx);
		}
		break;
	default:
		break;
	}
	op->result = res;
	return true;
}

/* One CQE. Delivers a finished op to out[*n] if there is room, else the ready list. */
static void uring_cqe(cport *port, uint64_t ud, int32_t res, cport_op **out, unsigned max,
		      unsigned *n)
{
	struct uring *u = uring_of(port);
	unsigned tag = (unsigned)(ud & TAG_MASK);
	cport_op *op = (cport_op *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);
	if (tag == TAG_IGNORE)
		return;
	if (tag == TAG_WAKE) {
		u->wake_armed = false;
		atomic_store(&port->notified, false);
		return;
	}
	struct cport__op *x = cport__x(op);
	if (tag == TAG_LTIMEOUT) {
		if (res == -ETIME)
			x->xflags |= CPORT__X_TIMEDOUT;
	} else {
		op->result = res;
	}
	if (--x->pending > 0)
		return;
	u->in_kernel--;
	if (!uring_finish(u, op) || u->dying)
		return;
	if (*n < max)
		out[(*n)++] = op;
	else
		cport__queue_push(&port->ready, op);
}

/* Reap the CQEs in the ring now (one ring's worth at most: a bounded loop). */
static unsigned uring_process(cport *port, cport_op **out, unsigned max)
{
	struct uring *u = uring_of(port);
	struct io_uring_cqe *cqes[64];
	unsigned n = 0, budget = *u->ring.cq.kring_entries;
	while (budget > 0) {
		unsigned got = io_uring_peek_batch_cqe(&u->ring, cqes, 64);
		if (got == 0)
			break;
		for (unsigned i = 0; i < got; i++) {
			uint64_t ud = cqes[i]->user_data;
			int32_t res = cqes[i]->res;
			io_uring_cq_advance(&u->ring, 1);
			uring_cqe(port, ud, res, out, max, &n);
		}
		budget = got < budget ? budget - got : 0;
	}
	return n;
}

/* ---- 4. The table slots ----------------------------------------------------------- */

static int uring_check_kernel(struct uring *u, char *why, size_t n)
{
	unsigned need = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG | IORING_FEAT_SUBMIT_STABLE;
	if ((u->ring.features & need) != need) {
		snprintf(why, n, "io_uring: kernel lacks NODROP/EXT_ARG/SUBMIT_STABLE (5.11)");
		return CPORT_ENOSYS;
	}
	/* Destroy relies on IORING_ASYNC_CANCEL_ANY (5.19): ask for it on an empty ring.
	 * A kernel that knows the flag answers with the number cancelled (0), or
	 * -ENOENT; an older one with -EINVAL. */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	struct io_uring_cqe *cqe;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	int r = io_uring_submit_and_wait(&u->ring, 1);
	if (r >= 0 && (r = io_uring_peek_cqe(&u->ring, &cqe)) == 0) {
		r = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
	}
	if (r < 0 && r != -ENOENT) {
		snprintf(why, n, "io_uring: kernel lacks IORING_ASYNC_CANCEL_ANY (5.19): %s",
			 cport_err_name(r));
		return r < 0 ? r : CPORT_ENOSYS;
	}
	return 0;
}

static void uring_probe(struct uring *u)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(&u->ring);
	for (int op = 0; p && op < URING_PROBE_OPS; op++)
		u->op_ok[op] = io_uring_opcode_supported(p, op);
	io_uring_free_probe(p);
}

static int uring_setup(struct uring *u, unsigned depth)
{
	/* Newest flags first; older kernels reject unknown flags with -EINVAL. */
	static const unsigned tries[] = {IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN, 0};
	int r = -EINVAL;
	for (size_t i = 0; i < sizeof tries / sizeof *tries && r == -EINVAL; i++) {
		struct io_uring_params p = {.flags = tries[i]};
		r = io_uring_queue_init_params(depth, &u->ring, &p);
	}
	return r;
}

static int uring_init(cport *port, const cport_options *o, char *why, size_t n)
{
	struct uring *u = calloc(1, sizeof *u);
	if (!u)
		return CPORT_ENOMEM;
	/* An op with a timeout takes two SQEs in one submission: never fewer than 2. */
	unsigned depth = o->queue_depth ? o->queue_depth : 256;
	int r = uring_setup(u, depth < 2 ? 2 : depth);
	if (r < 0) {
		cport__why(why, n, "io_uring", "setup failed", r);
		free(u);
		return r;
	}
	u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->efd < 0)
		r = -errno;
	else
		r = uring_check_kernel(u, why, n);
	if (r < 0) {
		if (u->efd >= 0)
			close(u->efd);
		io_uring_queue_exit(&u->ring);
		free(u);
		return r;
	}
	uring_probe(u);
	/* Test hook: run the file and metadata ops on the thread pool, so the suite
	 * covers the path that ops missing from older kernels take. */
	const char *tp = getenv("CPORT_TEST_URING_POOL");
	u->test_pool = tp && tp[0] == '1';
	port->impl = u;
	return 0;
}

/* Does the test hook send this op to the pool? Not nops or timers (nothing blocks),
 * not stream reads and writes (offset -1: a pipe would hold a worker forever). */
static bool uring_test_pool(struct uring *u, struct cport__op *x)
{
	if (!u->test_pool || x->type == CPORT__NOP || x->type == CPORT__TIMER)
		return false;
	bool rw = x->type == CPORT__READ || x->type == CPORT__WRITE ||
		  x->type == CPORT__READV || x->type == CPORT__WRITEV;
	return !rw || x->offset >= 0;
}

static int uring_start(cport *port, cport_op *op)
{
	struct uring *u = uring_of(port);
	struct cport__op *x = cport__x(op);
	int code = uring_opcode(x->type);
	if (code < 0 || code >= URING_PROBE_OPS || !u->op_ok[code] || uring_test_pool(u, x)) {
		/* Timeouts on pool ops would mean abandoning a running system call that
		 * still writes the caller's buffer: refuse them instead. */
		if (op->timeout_ns)
			return CPORT_ENOTSUP;
		return cport__pool_start(port, op);
	}
	x->deadline = op->timeout_ns ? cport_now_ns() + op->timeout_ns : 0;
	if (x->type == CPORT__READV || x->type == CPORT__WRITEV)
		x->len = rw_total(x);
	return uring_queue(port, op);
}

static void uring_cancel(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->xflags & CPORT__X_POOL) {
		cport__pool_cancel(port, op);
		return;
	}
	if (x->pending == 0)
		return; /* finished, or on the retry list, which checks the cancel flag */
	struct io_uring_sqe *sqe = uring_sqe(port);
	if (!sqe)
		return; /* cannot happen: uring_sqe flushes until there is room */
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op | TAG_OP, 0);
	io_uring_sqe_set_data64(sqe, TAG_IGNORE);
}

/* Queue SQEs for the ops on the retry list (short transfers going on). */
static void uring_requeue(cport *port)
{
	struct uring *u = uring_of(port);
	cport_op *op;
	while ((op = cport__queue_pop(&u->retry)) != NULL) {
		uint64_t deadline = cport__x(op)->deadline;
		if (cport__x(op)->xflags & CPORT__X_CANCELLED) {
			cport__complete(port, op, CPORT_ECANCELED);
		} else if (deadline && cport_now_ns() >= deadline) {
			cport__complete(port, op, CPORT_ETIMEDOUT);
		} else {
			int r = uring_queue(port, op);
			if (r < 0)
				cport__complete(port, op, r);
		}
	}
}

static int uring_flush(cport *port)
{
	uring_requeue(port);
	return uring_submit_all(port);
}

/* Submit and sleep in one system call until a CQE arrives or the timeout passes. */
static int uring_sleep(cport *port, int64_t timeout_ns)
{
	struct uring *u = uring_of(port);
	struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
				       .tv_nsec = timeout_ns % 1000000000};
	struct io_uring_cqe *cqe;
	int r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, timeout_ns > 0 ? &ts : NULL,
						 NULL);
	if (r == -EBUSY || r == -EAGAIN)
		return uring_submit_all(port); /* CQ overflow: reap first, sleep next round */
	if (r < 0 && r != -ETIME && r != -EINTR)
		return r;
	return 0;
}

static int uring_reap(cport *port, cport_op **out, unsigned max, int64_t timeout_ns)
{
	struct uring *u = uring_of(port);
	int r;
	if (timeout_ns != 0 && max > 0 && !u->wake_armed && (r = uring_arm_wake(port)) < 0)
		return r;
	uring_requeue(port);
	bool block = timeout_ns != 0 && max > 0 && io_uring_cq_ready(&u->ring) == 0 &&
		     port->ready.head == NULL;
	if (block && cport__sleep_begin(port)) {
		r = uring_sleep(port, timeout_ns);
		cport__sleep_end(port);
	} else {
		r = uring_submit_all(port);
	}
	if (r < 0)
		return r;
	return (int)uring_process(port, out, max);
}

static void uring_wake(cport *port)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: a wake is pending anyway. */
	ssize_t r = write(uring_of(port)->efd, &one, sizeof one);
	(void)r;
}

/* Destroy: cancel everything in the kernel and reap until nothing is left. */
static void uring_fini(cport *port)
{
	struct uring *u = uring_of(port);
	u->dying = true;
	while (cport__queue_pop(&u->retry))
		;
	while (u->in_kernel > 0 || u->wake_armed) {
		struct io_uring_sqe *sqe = uring_sqe(port);
		if (sqe) {
			io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
			io_uring_sqe_set_data64(sqe, TAG_IGNORE);
		}
		uring_submit_all(port);
		/* Ops already running in io-wq cannot be stopped; give them time. */
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
		struct io_uring_cqe *cqe;
		io_uring_wait_cqes(&u->ring, &cqe, 1, &ts, NULL);
		uring_process(port, NULL, 0);
		/* Completions are dropped; retries are not queued while dying. */
	}
	io_uring_queue_exit(&u->ring);
	close(u->efd);
	free(u);
	port->impl = NULL;
}

const struct cport_backend cport__uring_backend = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.start = uring_start,
	.cancel = uring_cancel,
	.flush = uring_flush,
	.reap = uring_reap,
	.wake = uring_wake,
};
