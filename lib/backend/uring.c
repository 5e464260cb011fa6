/* SPDX-License-Identifier: MIT */
/* The io_uring backend: every op is an SQE; ops the kernel lacks go to the thread pool. */

/*
 * Map
 *   1. State, user_data tags, SQE supply (a full SQ is flushed, an overflowing CQ reaped)
 *   1b. Per-descriptor state: the stream rules and close-cancels
 *   2. Preparing ops (one switch over the op type) and the per-op link timeout
 *   3. Completions: a CQE -> the op's result, short transfers retried, delivery
 *   4. The table slots: init, fini, start, cancel, flush, reap, wake
 *   5. Registered buffers and files: the kernel's side of lib/register.c
 *   6. Pool receives: provided-buffer rings, multishot receives
 *   7. Zero-copy sends: SEND_ZC and its notification, one completion
 *
 * Each op carries opx.pending = the CQEs still expected (1, or 2 with a linked timeout,
 * and one more once a zero-copy send's result announced its notification); it
 * finishes when the last one arrives, whatever their order. Short file transfers and
 * the wake eventfd's read are re-queued on `retry` and prepared at the next flush, so
 * CQE handling never needs an SQE (no re-entry when the SQ is full).
 *
 * Kernel needs: Linux 5.19 (IORING_FEAT_NODROP, EXT_ARG, IORING_ASYNC_CANCEL_ANY for
 * destroy). Ops are probed at init; file ops missing go to the thread pool, socket ops
 * missing fail with CPORT_ENOSYS (a pool worker would wait on the peer).
 *
 * Streams (docs/contract.md rule 4). Each descriptor has two sides, send and
 * receive; on each side at most ONE op is in the kernel at a time, the others wait in
 * a FIFO behind it and start when it finished. Why not several in flight, or linked
 * SQEs: two sends armed on one socket both wait for room; when room comes, whichever
 * the kernel runs first may go out partly, then the other: bytes interleave. Links
 * only order SQEs of one submission, and a short send breaks the chain. One at a time
 * costs a round trip through user space per op, which only shows with many small
 * sends queued on one socket; a send carries MSG_WAITALL so the kernel itself finishes
 * a large send (no round trip per short transfer), and a short transfer left over is
 * re-queued at the head, so nothing can overtake it. Measured on the 2-vCPU VM: 64 x
 * 1 MiB queued at once on one loopback socket move in ~20 ms (~3 GB/s); 10,000 sends of
 * 64 bytes queued on one socket cost ~2 us each, one round trip apiece.
 *
 * Close cancels (rule 8): cport_close marks the descriptor closing, completes the ops
 * still waiting in its FIFOs with CPORT_ECANCELED, asks the kernel to cancel every op
 * on the descriptor (IORING_ASYNC_CANCEL_FD | ALL), and holds the close back until the
 * descriptor's count of ops in the kernel is 0: its completion comes after theirs.
 */

#include "../internal.h"
#include "../unix.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(cport_statbuf) >= sizeof(struct statx), "statx scratch must fit");
_Static_assert(sizeof(socklen_t) == sizeof(((cport_addr *)0)->len),
	       "accept writes the peer's length straight into cport_addr.len");

/* IORING_OP_FTRUNCATE (Linux 6.9) is newer than Debian 12's liburing 2.3 headers; its
 * number is kernel ABI. */
#ifndef CPORT_IORING_OP_FTRUNCATE
#define CPORT_IORING_OP_FTRUNCATE 55
#endif
#define URING_PROBE_OPS 64
/* liburing 2.3 (Debian 12, the wrap) has SEND_ZC; an older one builds without it. */
#ifdef IORING_CQE_F_NOTIF
#define URING_HAVE_SEND_ZC 1
#endif

/* ---- 1. State and SQE supply ------------------------------------------------------ */

/* Low bits of user_data: op pointers are 8-byte aligned. */
enum {
	TAG_OP = 0,       /* the op's own CQE */
	TAG_LTIMEOUT = 1, /* the op's linked timeout */
	TAG_IGNORE = 2,   /* cancel requests: their result tells nothing new */
	TAG_WAKE = 3,     /* the wake eventfd's read */
	TAG_CLOSING = 4,  /* a close's cancel of its descriptor's ops (the descriptor in the
	                     upper bits): then zero-copy sends let go (section 7) */
	TAG_MASK = 7
};

struct uring {
	struct io_uring ring;
	bool taskrun_flag;         /* the kernel flags deferred task work in sq.kflags */
	bool defer;                /* IORING_SETUP_DEFER_TASKRUN: events only when asked */
	struct cport__queue retry; /* ops to prepare again at the next flush */
	uint64_t in_kernel;        /* ops with CQEs still to come (destroy drains them) */
	bool op_ok[URING_PROBE_OPS];
	bool dying;                /* destroy: drop completions, retry nothing */
	bool test_pool;            /* $CPORT_TEST_URING_POOL: file ops to the pool */
	bool test_nowait;          /* $CPORT_TEST_URING_NOWAIT: streams meet -EAGAIN */
	bool fixed_rw;             /* READ_FIXED and WRITE_FIXED are there (probed) */
	bool wake_armed;           /* the eventfd read is in the kernel or the SQ */
	bool recv_multi;           /* the kernel has multishot receives (Linux 6.0) */
	bool send_zc;              /* the kernel has IORING_OP_SEND_ZC (Linux 6.0) */
	/* Multishot pool receives run one shot at a time (kernel without them): issued
	 * again once reaped. Linked through uring_x.resume_next, not opx.next: each sits
	 * on the ready list at the same time (defect: sharing the link spliced the ready
	 * list onto this one and a close ran twice; found by http-test under load). */
	cport_op *resume_head, *resume_tail;
	int efd;
	uint64_t efd_buf;
	struct uring_held *held;   /* CQEs held back for their op (uring_cqe_blocked) */
	unsigned nheld, held_cap;  /* ... oldest first; room for a CQ ring's worth */
};

/* A CQE copied out of the ring while its op may not complete yet, so that the CQEs
 * behind it (other ops') go on: cport_wait_op waits for one op and leaves the others'
 * completions queued, a multishot one among them. */
struct uring_held {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

static struct uring *uring_of(cport *port)
{
	return port->impl;
}

static unsigned uring_process(cport *port);

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
		if (uring_process(port) == 0 && io_uring_cq_ready(&u->ring) == 0) {
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

/* ---- 1b. Per-descriptor state ---------------------------------------------------- */

/* The engine's overlay of an op's scratch words. */
struct uring_x {
	struct __kernel_timespec ts; /* the linked timeout's (the kernel copies it at submit) */
	union {
		struct {
			int pipe_rd, pipe_wr;  /* a sendfile's pipe (0: none), created at submit */
			uint64_t in_pipe, cap; /* sendfile: bytes in the pipe, its capacity */
		};
		struct {
			struct iovec pool_iov; /* recvmsg_pool: how much the kernel may fill */
			cport_op *resume_next; /* pool receives: on uring.resume_head's list */
		};
	};
	uint32_t flags;              /* URING_POLLWAIT, URING_NOHOOK, URING_LINKED, _WATCHED */
	uint32_t cqe_flags;          /* pool receives: the flags of the op's last CQE */
	uint32_t ccflags;            /* pool receives: op->cflags of the completion */
	uint8_t sf_phase;            /* sendfile: SF_FILL, SF_DRAIN, SF_WAIT */
};
CPORT__BE_FITS(struct uring_x);

static struct uring_x *ux(cport_op *op)
{
	return (struct uring_x *)(void *)&cport__x(op)->be;
}

/* uring_x.flags of a stream op: its next SQE waits for readiness (uring_eagain); the
 * test hook's RWF_NOWAIT is not for this descriptor (a terminal refuses it). */
#define URING_POLLWAIT 0x1u
#define URING_NOHOOK 0x2u
#define URING_LINKED 0x4u /* its SQE in the kernel has a linked timeout */
#define URING_WATCHED 0x8u /* a sendfile whose deadline the port watches (uring_queue) */
#define URING_ZC 0x10u     /* its SQE in the kernel is a SEND_ZC (section 7) */
#define URING_ZC_RES 0x20u   /* ... whose result CQE came */
#define URING_ZC_NOTIF 0x40u /* ... whose notification CQE came */
#define URING_ZC_CUT 0x80u   /* a zero-copy send stopped midway: its socket was reset */
#define URING_ZC_WATCHED 0x100u /* ... waits for its notification, its deadline watched */

/* Socket ops: never sent to the thread pool (a worker would wait on the peer). */
static bool uring_is_net(uint8_t type)
{
	return (type >= CPORT__ACCEPT && type <= CPORT__SENDFILE) || cport__is_pool_recv(type);
}

/* Which side of its descriptor an op is ordered on (the stream rules). cport_poll,
 * accept and connect run at once: several accepts may wait in the kernel together, and
 * neither moves stream bytes. */
static enum cport__side uring_side(const struct cport__op *x)
{
	if (x->type == CPORT__ACCEPT || x->type == CPORT__CONNECT)
		return CPORT__SIDE_NONE;
	return cport__op_side(x, false);
}

/* A sendfile's pipe, created at submit. */
static void uring_sendfile_close(cport_op *op)
{
	struct uring_x *u = ux(op);
	if (cport__x(op)->type != CPORT__SENDFILE || u->pipe_rd == 0)
		return;
	close(u->pipe_rd);
	close(u->pipe_wr);
	u->pipe_rd = u->pipe_wr = 0;
}

/* The descriptor engine dropped an op that waited its turn: free its pipe. */
static void uring_fd_dropped(cport *port, cport_op *op)
{
	(void)port;
	uring_sendfile_close(op);
}

/* An op on a descriptor finished and was delivered: the next op of its side (if any)
 * is started at the next flush, and counts as started from now (a close waits for it,
 * and the retry list checks its cancel, close and deadline). */
static void uring_fd_finished(cport *port, cport_op *op)
{
	cport_op *next = cport__fd_finished(port, op);
	if (next) {
		struct cport__fd *f = cport__fd_find(port, cport__x(next)->fd);
		cport__fd_started(port, f, next);
		cport__queue_push(&uring_of(port)->retry, next);
	}
}

/* The op is done with `res`: deliver it, then let its descriptor go on. */
static void uring_done(cport *port, cport_op *op, int64_t res)
{
	struct cport__op *x = cport__x(op);
	if (ux(op)->flags & URING_WATCHED)
		cport__deadline_unwatch(port, op); /* a sendfile's deadline (uring_queue) */
	uring_sendfile_close(op);
	/* A pool receive's buffer, if it brought data (uring_pool_finish). */
	op->cflags = ux(op)->ccflags;
	ux(op)->ccflags = 0;
	cport__complete(port, op, res);
	if (x->xflags & CPORT__X_FDBUSY)
		uring_fd_finished(port, op);
	if (x->type == CPORT__CLOSE)
		cport__fd_close_end(port, x->fd);
}

/* A close held by the descriptor engine may run now: at the next flush. */
static void uring_close_go(cport *port, cport_op *close)
{
	cport__queue_push(&uring_of(port)->retry, close);
}

/* ---- 2. Preparing ops ------------------------------------------------------------- */

/* A cport_fsync_range: its SQE has 32 bits for the length; a longer range is flushed
 * with fdatasync of the whole file (stronger, never weaker; see cport.h). */
static bool uring_range_sync(const struct cport__op *x)
{
	return (x->aux & CPORT__FSYNC_RANGE) && x->len <= UINT32_MAX;
}

static int uring_opcode(const struct cport__op *x)
{
	if (x->type == CPORT__FSYNC && uring_range_sync(x))
		return IORING_OP_SYNC_FILE_RANGE;
	switch ((enum cport__type)x->type) {
	case CPORT__NOP: return IORING_OP_NOP;
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
	case CPORT__ACCEPT: return IORING_OP_ACCEPT;
	case CPORT__CONNECT: return IORING_OP_CONNECT;
	case CPORT__RECV: return IORING_OP_RECV;
	case CPORT__SEND: return IORING_OP_SEND;
	case CPORT__RECVMSG: return IORING_OP_RECVMSG;
	case CPORT__SENDMSG: return IORING_OP_SENDMSG;
	case CPORT__SHUTDOWN: return IORING_OP_SHUTDOWN;
	case CPORT__POLL: return IORING_OP_POLL_ADD;
	case CPORT__SENDFILE: return IORING_OP_SPLICE;
	case CPORT__OPENAT: return IORING_OP_OPENAT;
	case CPORT__FADVISE: return IORING_OP_FADVISE;
	case CPORT__LINK: return IORING_OP_LINKAT;
	case CPORT__SYMLINK: return IORING_OP_SYMLINKAT;
	case CPORT__RECV_POOL: return IORING_OP_RECV;
	case CPORT__RECVMSG_POOL: return IORING_OP_RECVMSG;
	case CPORT__READDIR:  /* no such opcodes: the thread pool */
	case CPORT__STATFS:
	case CPORT__READLINK:
	case CPORT__ACCESS:
	case CPORT__LOCK:     /* a waiting lock is tries on the pool (lib/threadpool.c) */
	case CPORT__TIMER: /* on the port's deadline heap (timer.c) */
	case CPORT__POST:
	case CPORT__TYPE_MAX: break;
	}
	return -1;
}

/* One buffer of a read or write; in a registered buffer (fixed), the opcode that uses
 * the kernel's pinned pages instead of pinning them for this op. */
static void uring_prep_buf(struct io_uring_sqe *sqe, const struct cport__op *x, bool rd,
			   char *p, unsigned n, uint64_t off, bool fixed)
{
	int code = rd ? (fixed ? IORING_OP_READ_FIXED : IORING_OP_READ)
		      : (fixed ? IORING_OP_WRITE_FIXED : IORING_OP_WRITE);
	io_uring_prep_rw(code, sqe, x->fd, p, n, off);
	if (fixed)
		sqe->buf_index = x->buf_index;
}

/* A read or write from where the op got to: the whole request the first time; after a
 * short transfer, the rest of the current buffer (still inside a registered one) or
 * the remaining iovecs. */
static void uring_prep_rw(struct uring *u, struct io_uring_sqe *sqe, struct cport__op *x)
{
	bool rd = x->type == CPORT__READ || x->type == CPORT__READV;
	uint64_t off = x->offset < 0 ? (uint64_t)-1 : (uint64_t)x->offset + x->done;
	if (x->type == CPORT__READ || x->type == CPORT__WRITE) {
		/* No arithmetic on a NULL buffer (length 0 allows one). */
		char *p = x->buf ? (char *)x->buf + x->done : NULL;
		bool fixed = (x->reg & CPORT__REG_BUF) && u->fixed_rw;
		uring_prep_buf(sqe, x, rd, p, (unsigned)(x->len - x->done), off, fixed);
		return;
	}
	const struct iovec *iov = x->buf;
	uint64_t skip;
	unsigned i = cport__iov_at(x->buf, x->aux, x->done, &skip);
	if (i == x->aux)
		i = 0; /* every element empty: the request as it is (0 bytes) */
	if (skip) {
		char *p = (char *)iov[i].iov_base + skip;
		uring_prep_buf(sqe, x, rd, p, (unsigned)(iov[i].iov_len - skip), off, false);
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

/* cport_fsync (fsync or fdatasync) and cport_fsync_range (cport.h, "Durability"). */
static void uring_prep_fsync(struct io_uring_sqe *sqe, const struct cport__op *x)
{
	if (uring_range_sync(x)) {
		io_uring_prep_sync_file_range(sqe, x->fd, (unsigned)x->len, (uint64_t)x->offset,
					      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
						      SYNC_FILE_RANGE_WAIT_AFTER);
		return;
	}
	bool data = (x->aux & (CPORT_FSYNC_DATA | CPORT__FSYNC_RANGE)) != 0;
	io_uring_prep_fsync(sqe, x->fd, data ? IORING_FSYNC_DATASYNC : 0);
}

/* Sends never raise SIGPIPE; MSG_WAITALL lets the kernel finish a stream send itself
 * (Linux 6.0; earlier kernels return short and we re-queue the rest). */
#define URING_SEND_FLAGS (MSG_NOSIGNAL | MSG_WAITALL)

static void uring_prep_msg(struct io_uring_sqe *sqe, struct cport__op *x)
{
	cport_msg *m = x->buf;
	struct msghdr *mh = (struct msghdr *)(void *)m->internal_;
	if (x->type == CPORT__SENDMSG && x->done > 0) {
		/* The rest of a short stream sendmsg: as a plain send of the current
		 * element (the destination of a connected stream is already fixed). */
		uint64_t skip;
		unsigned i = cport__iov_at(m->iov, m->iovcnt, x->done, &skip);
		assert(i < m->iovcnt); /* done < len: some byte is left */
		io_uring_prep_send(sqe, x->fd, (char *)m->iov[i].base + skip,
				   m->iov[i].len - skip, URING_SEND_FLAGS);
		return;
	}
	memset(mh, 0, sizeof *mh);
	if (m->addr) {
		mh->msg_name = m->addr->storage;
		mh->msg_namelen = x->type == CPORT__RECVMSG ? sizeof m->addr->storage : m->addr->len;
	}
	mh->msg_iov = (struct iovec *)(void *)m->iov;
	mh->msg_iovlen = m->iovcnt;
	if (x->type == CPORT__RECVMSG)
		io_uring_prep_recvmsg(sqe, x->fd, mh, 0);
	else
		io_uring_prep_sendmsg(sqe, x->fd, mh, URING_SEND_FLAGS);
}

/* sendfile phases (opx.mode): file -> pipe, pipe -> socket, wait for room. */
enum { SF_FILL, SF_DRAIN, SF_WAIT };

static void uring_prep_sendfile(struct io_uring_sqe *sqe, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct uring_x *u = ux(op);
	int rd = u->pipe_rd, wr = u->pipe_wr;
	int file = (int)(uintptr_t)x->buf2;
	uint64_t in_pipe = u->in_pipe, cap = u->cap;
	if (u->sf_phase == SF_FILL) {
		uint64_t n = x->len - x->done < cap ? x->len - x->done : cap;
		io_uring_prep_splice(sqe, file, x->offset + (int64_t)x->done, wr, -1, (unsigned)n, 0);
	} else if (u->sf_phase == SF_DRAIN) {
		io_uring_prep_splice(sqe, rd, -1, x->fd, -1, (unsigned)in_pipe, 0);
	} else {
		io_uring_prep_poll_add(sqe, x->fd, POLLOUT);
	}
}

/* Socket ops other than sendfile and the msg pair. */
static void uring_prep_sock(struct io_uring_sqe *sqe, struct cport__op *x)
{
	cport_addr *a = x->buf;
	switch ((enum cport__type)x->type) {
	case CPORT__ACCEPT:
		if (a)
			a->len = sizeof a->storage;
		io_uring_prep_accept(sqe, x->fd, a ? (struct sockaddr *)(void *)a->storage : NULL,
				     a ? (socklen_t *)&a->len : NULL, SOCK_CLOEXEC);
		if (x->aux & CPORT_ACCEPT_MULTISHOT)
			sqe->ioprio |= IORING_ACCEPT_MULTISHOT;
		break;
	case CPORT__CONNECT:
		io_uring_prep_connect(sqe, x->fd, (struct sockaddr *)(void *)a->storage, a->len);
		break;
	case CPORT__RECV:
		io_uring_prep_recv(sqe, x->fd, x->buf, (size_t)x->len, 0);
		break;
	case CPORT__SHUTDOWN:
		io_uring_prep_shutdown(sqe, x->fd, (int)x->aux - 1); /* SHUT_RD is 0 */
		break;
	case CPORT__POLL:
		io_uring_prep_poll_add(sqe, x->fd, x->aux);
		break;
	default:
		assert(!"not a socket op");
	}
}

/* Section 5: pool receives. */
static void uring_prep_pool(struct uring *u, struct io_uring_sqe *sqe, cport_op *op);
static uint32_t uring_pool_buf(cport *port, cport_op *op, int64_t res, uint32_t cqe_flags);
static bool uring_pool_finish(struct uring *u, cport_op *op, int64_t *res);
static void uring_pool_resume(struct uring *u);
static void uring_pool_rings_free(cport *port);
static void uring_probe_recv_multi(struct uring *u);
static void uring_prep_send(struct io_uring_sqe *sqe, cport_op *op);
static bool uring_zc_cqe(struct uring *u, cport_op *op, int32_t res, uint32_t cqe_flags);
static bool uring_zc_end(struct uring *u, cport_op *op, int64_t *res);
static void uring_zc_stop(cport_op *op, bool all);
static void uring_zc_closing(cport *port, cport_fd fd);

/* The op's own SQE. */
static void uring_prep_op(struct uring *u, struct io_uring_sqe *sqe, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	switch ((enum cport__type)x->type) {
	case CPORT__NOP:
		io_uring_prep_nop(sqe);
		break;
	case CPORT__READ:
	case CPORT__WRITE:
	case CPORT__READV:
	case CPORT__WRITEV:
		uring_prep_rw(u, sqe, x);
		break;
	case CPORT__FSYNC:
		uring_prep_fsync(sqe, x);
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
		io_uring_prep_fallocate(sqe, x->fd, cport__unix_falloc_mode(x->aux),
					(uint64_t)x->offset, x->len);
		break;
	case CPORT__FTRUNCATE:
		io_uring_prep_rw(CPORT_IORING_OP_FTRUNCATE, sqe, x->fd, NULL, 0, x->len);
		break;
	case CPORT__RENAME:
		io_uring_prep_renameat(sqe, AT_FDCWD, x->buf, AT_FDCWD, x->buf2,
				       cport__unix_rename_flags(x->aux));
		break;
	case CPORT__UNLINK:
		io_uring_prep_unlinkat(sqe, AT_FDCWD, x->buf,
				       x->aux & CPORT_UNLINK_DIR ? AT_REMOVEDIR : 0);
		break;
	case CPORT__MKDIR:
		io_uring_prep_mkdirat(sqe, AT_FDCWD, x->buf, x->mode);
		break;
	case CPORT__ACCEPT:
	case CPORT__CONNECT:
	case CPORT__RECV:
	case CPORT__SHUTDOWN:
	case CPORT__POLL:
		uring_prep_sock(sqe, x);
		break;
	case CPORT__SEND:
		uring_prep_send(sqe, op);
		break;
	case CPORT__RECVMSG:
	case CPORT__SENDMSG:
		uring_prep_msg(sqe, x);
		break;
	case CPORT__SENDFILE:
		uring_prep_sendfile(sqe, op);
		break;
	case CPORT__OPENAT:
		io_uring_prep_openat(sqe, x->fd, x->buf, cport__unix_open_flags(x->aux), x->mode);
		break;
	case CPORT__FADVISE: /* uring_not_native: the length fits sqe->len */
		io_uring_prep_fadvise(sqe, x->fd, (uint64_t)x->offset, (off_t)x->len, (int)x->aux);
		break;
	case CPORT__LINK:
		io_uring_prep_linkat(sqe, AT_FDCWD, x->buf, AT_FDCWD, x->buf2, 0);
		break;
	case CPORT__SYMLINK:
		io_uring_prep_symlinkat(sqe, x->buf, AT_FDCWD, x->buf2);
		break;
	case CPORT__RECV_POOL:
	case CPORT__RECVMSG_POOL:
		uring_prep_pool(u, sqe, op);
		break;
	case CPORT__READDIR:
	case CPORT__STATFS:
	case CPORT__READLINK:
	case CPORT__ACCESS:
	case CPORT__LOCK:
	case CPORT__TIMER:
	case CPORT__POST:
	case CPORT__TYPE_MAX:
		assert(!"not an io_uring op");
		break;
	}
}

/* An op on a registered descriptor names its slot in the kernel's fixed-file table
 * instead: no descriptor lookup and reference per op. Not where the kernel takes only
 * a plain descriptor: statx (fstat), close and openat's directory refuse a fixed one
 * (-EBADF), and a sendfile's splices name two descriptors and a pipe of its own. */
static void uring_fixed_file(struct io_uring_sqe *sqe, const struct cport__op *x)
{
	if (!(x->reg & CPORT__REG_FILE) || x->type == CPORT__FSTAT || x->type == CPORT__CLOSE ||
	    x->type == CPORT__SENDFILE || x->type == CPORT__OPENAT)
		return;
	int slot = cport__reg_file_slot(x->port, x->fd);
	if (slot >= 0) {
		sqe->fd = slot;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
}

/* Fill the op's SQE: the op itself, or the readiness wait of a stream op that met
 * -EAGAIN (see uring_eagain). */
static void uring_prep(struct uring *u, struct io_uring_sqe *sqe, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (ux(op)->flags & URING_POLLWAIT) {
		io_uring_prep_poll_add(sqe, x->fd,
				       uring_side(x) == CPORT__SIDE_SEND ? POLLOUT : POLLIN);
	} else {
		uring_prep_op(u, sqe, op);
		/* (Pool receives wait for data before they take a buffer: the hook's
		 * -EAGAIN would only make them poll twice.) */
		if (u->test_nowait && uring_side(x) != CPORT__SIDE_NONE &&
		    x->type != CPORT__SENDFILE && x->type != CPORT__SHUTDOWN &&
		    !cport__is_pool_recv(x->type) && !(ux(op)->flags & URING_NOHOOK)) {
			/* Test hook: ask for -EAGAIN instead of a wait, as kernels do for
			 * O_NONBLOCK descriptors, to run the readiness path. */
			if (x->type == CPORT__READ || x->type == CPORT__WRITE ||
			    x->type == CPORT__READV || x->type == CPORT__WRITEV)
				sqe->rw_flags |= RWF_NOWAIT;
			else
				sqe->msg_flags |= MSG_DONTWAIT;
		}
	}
	uring_fixed_file(sqe, x);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | TAG_OP);
}

/* Time left before the op's deadline; 0 if none (or so far away it is never), 1 ns if
 * passed. */
static uint64_t uring_time_left(cport_op *op)
{
	uint64_t deadline = cport__x(op)->deadline;
	if (!deadline || deadline == UINT64_MAX)
		return 0;
	uint64_t now = cport_now_ns();
	return deadline > now ? deadline - now : 1;
}

/* Queue the op's SQE, and a linked timeout after it when the op has a deadline. A
 * sendfile's deadline is watched by the port instead (uring_expired cancels it): a
 * linked timeout did not stop a splice waiting in io-wq for room in the socket (Linux
 * 6.18: neither CQE came; found by the fuzz target), while a cancel does. */
static int uring_queue(cport *port, cport_op *op)
{
	struct uring *u = uring_of(port);
	struct cport__op *x = cport__x(op);
	uint64_t left = x->type == CPORT__SENDFILE ? 0 : uring_time_left(op);
	int r = uring_reserve(port, left ? 2 : 1);
	if (r < 0)
		return r;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	uring_prep(u, sqe, op);
	x->pending = 1;
	ux(op)->flags &= ~URING_LINKED;
	if (left) {
		/* The timespec lives in the op: the kernel copies it when it reads the SQE. */
		struct __kernel_timespec *ts = &ux(op)->ts;
		ts->tv_sec = (int64_t)(left / 1000000000u);
		ts->tv_nsec = (int64_t)(left % 1000000000u);
		sqe->flags |= IOSQE_IO_LINK;
		ux(op)->flags |= URING_LINKED;
		sqe = io_uring_get_sqe(&u->ring);
		io_uring_prep_link_timeout(sqe, ts, 0);
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | TAG_LTIMEOUT);
		x->pending = 2;
	}
	u->in_kernel++;
	if (ux(op)->flags & URING_WATCHED)
		return 0; /* a sendfile's next step: started, its deadline watched */
	if (cport__has_fd(x->type) && x->type != CPORT__CLOSE)
		cport__fd_started(port, cport__fd_find(port, x->fd), op); /* a close waits */
	if (x->type == CPORT__SENDFILE) {
		ux(op)->flags |= URING_WATCHED; /* after fd_started took it off fdt.waiting */
		cport__deadline_watch(port, op);
	}
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

/* A read/write/send/recv CQE: count the bytes; true if the op is done, false if it
 * went back on the retry list for the rest. */
static bool uring_rw_progress(struct uring *u, cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	if (*res < 0)
		return true;
	if (cport__op_moved(x, (uint64_t)*res) || u->dying) {
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

/* A sendfile step finished: move to the next phase, or finish. */
static bool uring_sendfile_progress(struct uring *u, cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct uring_x *k = ux(op);
	if (*res == -EAGAIN && k->sf_phase == SF_DRAIN) {
		k->sf_phase = SF_WAIT; /* a non-blocking socket is full: wait for room */
	} else if (*res < 0) {
		return true;
	} else if (k->sf_phase == SF_FILL) {
		if (*res == 0) { /* end of file */
			*res = (int64_t)x->done;
			return true;
		}
		k->in_pipe = (uint64_t)*res;
		k->sf_phase = SF_DRAIN;
	} else if (k->sf_phase == SF_DRAIN) {
		if (*res == 0) {
			*res = CPORT_EIO; /* cannot happen: a pipe with bytes in it */
			return true;
		}
		x->done += (uint64_t)*res;
		k->in_pipe -= (uint64_t)*res;
		if (k->in_pipe == 0 && x->done >= x->len) {
			*res = (int64_t)x->done;
			return true;
		}
		if (k->in_pipe == 0)
			k->sf_phase = SF_FILL;
	} else {
		k->sf_phase = SF_DRAIN;
	}
	if (x->xflags & CPORT__X_CANCELLED || u->dying) {
		*res = CPORT_ECANCELED;
		return true;
	}
	cport__queue_push(&u->retry, op);
	return false;
}

/* recvmsg: the sender's address length and the truncation flag, from the msghdr. */
static void uring_recvmsg_done(struct cport__op *x)
{
	cport__unix_msg_received(x->buf);
}

/* accept: a local stream's peer is unnamed: report it empty. */
static void uring_accept_done(struct cport__op *x)
{
	cport_addr *a = x->buf;
	if (a && a->len <= sizeof(sa_family_t))
		a->len = 0;
}

/*
 * A stream op on a descriptor that someone made non-blocking: io_uring answers -EAGAIN
 * there instead of waiting (read/write ops on kernels before 6.x honour O_NONBLOCK).
 * Wait for readiness with a poll, then try again; true if the op went on that way.
 * The op stays at the head of its stream, so the order holds.
 */
static bool uring_eagain(struct uring *u, cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct uring_x *k = ux(op);
	if (uring_side(x) == CPORT__SIDE_NONE || x->type == CPORT__SENDFILE)
		return false;
	if (k->flags & URING_POLLWAIT) {
		k->flags &= ~URING_POLLWAIT;
		if (*res < 0)
			return false; /* the poll failed: that is the op's error */
	} else if (*res == -EOPNOTSUPP && u->test_nowait && !(k->flags & URING_NOHOOK)) {
		k->flags |= URING_NOHOOK; /* again, without the test hook's flag */
	} else if (*res == -EAGAIN) {
		k->flags |= URING_POLLWAIT;
	} else {
		return false;
	}
	if (u->dying || (x->xflags & CPORT__X_CANCELLED)) {
		*res = CPORT_ECANCELED;
		k->flags &= ~URING_POLLWAIT;
		return false;
	}
	cport__queue_push(&u->retry, op);
	return true;
}

/*
 * Did the op's linked timeout end it? The kernel's cancel shows as -ECANCELED (or -EINTR
 * when it interrupted a request io-wq was running), and the timeout's own CQE does not
 * always say -ETIME: when the two race, it may say -EALREADY or -ENOENT (seen about once
 * in 100,000 timed writes). So: a linked op that ended -ECANCELED without the caller's
 * cancel, a close of its descriptor or the port's destroy (the only other cancellers)
 * timed out.
 */
static bool uring_timed_out(struct uring *u, cport_op *op, int64_t res)
{
	struct cport__op *x = cport__x(op);
	if (res != -ECANCELED && res != -EINTR)
		return false;
	if (x->xflags & CPORT__X_CANCELLED || u->dying ||
	    !(ux(op)->flags & URING_LINKED || x->xflags & CPORT__X_TIMEDOUT))
		return false;
	if (res == -EINTR && !(x->xflags & CPORT__X_TIMEDOUT))
		return false;
	if (cport__has_fd(x->type)) {
		struct cport__fd *f = cport__fd_find(x->port, x->fd);
		if (f && f->closing)
			return false;
	}
	return true;
}

/* A poll's events as the contract reports them: what was asked, and ERR and HUP. The
 * kernel adds EPOLLRDHUP to every poll (io_uring's IO_POLL_UNMASK), asked or not
 * (found by the fuzz target); only when it is all that happened is it left in, so the
 * completion never says "nothing". */
static int64_t uring_poll_events(const struct cport__op *x, int64_t res)
{
	if (res <= 0)
		return res;
	int64_t asked = res & (int64_t)(x->aux | CPORT_POLL_ERR | CPORT_POLL_HUP);
	return asked ? asked : res;
}

/* The op's last CQE arrived: turn the kernel's answer into the op's result. Returns
 * false if the op is not finished (a short transfer goes on). */
static bool uring_finish(struct uring *u, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	int64_t res = op->result;
	/* The kernel's restart codes (ERESTARTSYS 512 to ERESTART_RESTARTBLOCK 516) are not
	 * meant for user space, but a cancelled splice in io-wq returned -ERESTARTSYS
	 * (found by the fuzz target): they mean the call was interrupted. */
	if (res <= -512 && res >= -516)
		res = -EINTR;
	if (uring_timed_out(u, op, res))
		res = CPORT_ETIMEDOUT;
	if (uring_zc_end(u, op, &res) || uring_eagain(u, op, &res))
		return false;
	switch ((enum cport__type)x->type) {
	case CPORT__READ:
	case CPORT__WRITE:
	case CPORT__READV:
	case CPORT__WRITEV:
	case CPORT__RECV:
	case CPORT__SEND:
	case CPORT__SENDMSG:
		if (!uring_rw_progress(u, op, &res))
			return false;
		break;
	case CPORT__RECVMSG:
		if (res >= 0)
			uring_recvmsg_done(x);
		break;
	case CPORT__SENDFILE:
		if (!uring_sendfile_progress(u, op, &res))
			return false;
		break;
	case CPORT__ACCEPT:
		if (res >= 0)
			uring_accept_done(x);
		break;
	case CPORT__RECV_POOL:
	case CPORT__RECVMSG_POOL:
		if (!uring_pool_finish(u, op, &res))
			return false;
		break;
	case CPORT__POLL:
		res = uring_poll_events(x, res);
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
	op->cflags = 0;
	return true;
}

/* A multishot CQE that keeps the op in flight (CPORT_MORE): an accept's connection, or
 * a pool receive's data in a buffer. */
static void uring_more(cport *port, cport_op *op, int32_t res, uint32_t cqe_flags)
{
	struct cport__op *x = cport__x(op);
	bool pool = cport__is_pool_recv(x->type);
	uint32_t cf = pool ? uring_pool_buf(port, op, res, cqe_flags) : 0;
	if (uring_of(port)->dying) {
		if (!pool && res >= 0)
			close(res); /* an accepted connection nobody will reap */
		return;
	}
	op->result = res;
	op->cflags = CPORT_MORE | cf;
	if (!pool && res >= 0)
		uring_accept_done(x);
	x->xflags |= CPORT__X_UNREAPED;
	cport__deliver(port, op);
}

/* One CQE: an op's own, its linked timeout's, the wake's, or an ignored one. */
static void uring_cqe(cport *port, const struct io_uring_cqe *cqe)
{
	struct uring *u = uring_of(port);
	uint64_t ud = cqe->user_data;
	int32_t res = cqe->res;
	unsigned tag = (unsigned)(ud & TAG_MASK);
	cport_op *op = (cport_op *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK);
	if (tag == TAG_IGNORE)
		return;
	if (tag == TAG_CLOSING) {
		uring_zc_closing(port, (cport_fd)(ud >> 3));
		return;
	}
	if (tag == TAG_WAKE) {
		u->wake_armed = false;
		atomic_store(&port->notified, false);
		return;
	}
	struct cport__op *x = cport__x(op);
	bool notif = false; /* a zero-copy send's notification: it carries no result */
	if (tag == TAG_OP && (ux(op)->flags & URING_ZC)) {
		notif = uring_zc_cqe(u, op, res, cqe->flags);
	} else if (tag == TAG_OP && (cqe->flags & IORING_CQE_F_MORE)) {
		uring_more(port, op, res, cqe->flags);
		return;
	}
	/* Destroy, and the op's last completion (CPORT_MORE, a multishot accept's
	 * descriptor) still waits on the ready list: its result is what destroy closes
	 * there, so this CQE must not overwrite it (defect: the descriptor leaked; found by
	 * the fuzz target). A connection this CQE carries itself (the kernel ends a
	 * multishot accept with one when its completion queue overflows) is closed here
	 * (defect: it leaked; found by the fuzz target on a port of depth 1). */
	bool keep = u->dying && (x->xflags & CPORT__X_UNREAPED);
	if (tag == TAG_LTIMEOUT) {
		/* -EALREADY: it fired while the request ran in io-wq and asked it to stop. */
		if (res == -ETIME || res == -EALREADY) {
			x->xflags |= CPORT__X_TIMEDOUT;
			uring_zc_stop(op, false);
		}
	} else if (keep) {
		if (res >= 0 && x->type == CPORT__ACCEPT)
			close(res);
	} else if (!notif) {
		op->result = res;
		ux(op)->cqe_flags = cqe->flags; /* a pool receive's buffer, if any */
	}
	assert(x->pending > 0);
	if (--x->pending > 0)
		return;
	u->in_kernel--;
	if (!uring_finish(u, op))
		return;
	if (u->dying) {
		uring_sendfile_close(op);
		if (!keep)
			cport__close_result(op); /* an accept's or open's descriptor nobody reaps */
		return;
	}
	uring_done(port, op, op->result);
}

/* A multishot op's next CQE must wait while its previous completion is still with the
 * caller (op->result holds it): it is held (uring_held) until cport_wait hands that
 * completion over; reaping stops there only when the held list is full. */
static bool uring_cqe_blocked(struct uring *u, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	if (u->dying || (ud & TAG_MASK) != TAG_OP)
		return false;
	cport_op *op = (cport_op *)(uintptr_t)ud;
	return (cport__x(op)->xflags & CPORT__X_UNREAPED) != 0;
}

/* Run the held CQEs whose op may complete again, oldest first; the rest stay, in order
 * (once one CQE of an op stays, so do the later ones: its op is still unreaped). */
static void uring_held_run(cport *port)
{
	struct uring *u = uring_of(port);
	unsigned keep = 0, n = u->nheld;
	for (unsigned i = 0; i < n; i++) {
		struct uring_held h = u->held[i];
		struct io_uring_cqe cqe = {.user_data = h.user_data, .res = h.res, .flags = h.flags};
		if (uring_cqe_blocked(u, &cqe))
			u->held[keep++] = h;
		else
			uring_cqe(port, &cqe);
	}
	assert(u->nheld == n); /* only uring_process adds to the list */
	u->nheld = keep;
}

/* Hold a blocked CQE back: false if the list is full (reaping then stops there). */
static bool uring_hold(struct uring *u, const struct io_uring_cqe *cqe)
{
	if (u->nheld == u->held_cap)
		return false;
	u->held[u->nheld++] = (struct uring_held){cqe->user_data, cqe->res, cqe->flags};
	io_uring_cq_advance(&u->ring, 1);
	return true;
}

/* Reap the CQEs in the ring now (one ring's worth at most: a bounded loop). */
static unsigned uring_process(cport *port)
{
	struct uring *u = uring_of(port);
	struct io_uring_cqe *cqes[64];
	unsigned n = 0, budget = *u->ring.cq.kring_entries;
	if (u->nheld)
		uring_held_run(port);
	while (budget > 0) {
		unsigned got = io_uring_peek_batch_cqe(&u->ring, cqes, 64);
		if (got == 0)
			break;
		for (unsigned i = 0; i < got; i++) {
			if (uring_cqe_blocked(u, cqes[i])) {
				if (!uring_hold(u, cqes[i]))
					return n;
				n++;
				continue;
			}
			struct io_uring_cqe cqe = *cqes[i];
			io_uring_cq_advance(&u->ring, 1);
			uring_cqe(port, &cqe);
			n++;
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

/* Setup flags the liburing headers may predate (kernel ABI numbers). */
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

/*
 * Newest flags first; older kernels reject unknown flags with -EINVAL.
 * COOP_TASKRUN (5.19) spares an interrupt per completion; TASKRUN_FLAG makes the
 * kernel say in sq.kflags when deferred work waits, so a poll (timeout 0) knows to
 * enter the kernel. SINGLE_ISSUER | DEFER_TASKRUN (6.1) run completion work only
 * when we ask for events, in batches: the fastest mode for networking (measured on a
 * 2-vCPU VM, raw echo over 64 connections: ~118 K round trips/s with them, 55-91 K
 * and unstable without; epoll ~107 K), but it binds the ring to the creating thread, hence opt-in
 * (CPORT_OPT_SINGLE_THREAD). A shared port (CPORT_OPT_SHARED) starts at URING_SHARED,
 * COOP_TASKRUN too: an op's completion work then waits for the thread that submitted
 * it to enter the kernel rather than interrupting it. A thread asleep (a follower on
 * its condition variable, a leader in io_uring_enter) is woken to run it, as any
 * interruptible sleep is (__set_notify_signal); one running user code runs it at its
 * next system call or scheduler tick. Without it, every completion interrupted the
 * busy thread that had submitted the op (an IPI) and ran the receive there; with it,
 * mt-echo's shared port went from 14,513 to 8,862 ns/op (1.16x Asio).
 */
enum { URING_SINGLE = 0, URING_DEFAULT = 1, URING_SHARED = 1 };
static int uring_setup(struct uring *u, unsigned depth, size_t first)
{
	static const unsigned tries[] = {
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int r = -EINVAL;
	for (size_t i = first; i < sizeof tries / sizeof *tries && r == -EINVAL; i++) {
		struct io_uring_params p = {.flags = tries[i]};
		r = io_uring_queue_init_params(depth, &u->ring, &p);
		if (r == 0) {
			u->taskrun_flag = (tries[i] & IORING_SETUP_TASKRUN_FLAG) != 0;
			u->defer = (tries[i] & IORING_SETUP_DEFER_TASKRUN) != 0;
		}
	}
	/* A ring used by one thread only can be entered by a registered index instead of
	 * its descriptor (5.18), which spares the kernel a descriptor lookup (fget/fput)
	 * per io_uring_enter. The index belongs to the registering thread, so a port that
	 * any thread may drive keeps the plain descriptor. A kernel without it: plain. */
	if (r == 0 && first == URING_SINGLE)
		(void)io_uring_register_ring_fd(&u->ring);
	return r;
}

/* TEST-ONLY hook: $CPORT_TEST_URING_SETUP_FAIL=<error name> (e.g. EPERM) makes ring
 * setup fail with that error, as a seccomp profile or kernel.io_uring_disabled would,
 * so tests/fallback.c can check the fall back to epoll without root. Returns 0 when
 * unset or not an error name. */
static int uring_test_setup_fail(void)
{
	const char *name = getenv("CPORT_TEST_URING_SETUP_FAIL");
	for (int code = -1; name && name[0] && code > -4096; code--)
		if (strcmp(cport_err_name(code), name) == 0)
			return code;
	return 0;
}

static int uring_init(cport *port, const cport_options *o, char *why, size_t n)
{
	struct uring *u = calloc(1, sizeof *u);
	if (!u)
		return CPORT_ENOMEM;
	/* An op with a timeout takes two SQEs in one submission: never fewer than 2. */
	unsigned depth = o->queue_depth ? o->queue_depth : 256;
	int r = uring_test_setup_fail();
	if (r == 0)
		r = uring_setup(u, depth < 2 ? 2 : depth,
				(o->flags & CPORT_OPT_SHARED)          ? URING_SHARED
				: (o->flags & CPORT_OPT_SINGLE_THREAD) ? URING_SINGLE
								       : URING_DEFAULT);
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
	u->held_cap = *u->ring.cq.kring_entries;
	u->held = calloc(u->held_cap, sizeof *u->held);
	if (!u->held)
		u->held_cap = 0; /* reaping stops at a held-back CQE, as it may when full */
	uring_probe(u);
	u->fixed_rw = u->op_ok[IORING_OP_READ_FIXED] && u->op_ok[IORING_OP_WRITE_FIXED];
	uring_probe_recv_multi(u);
#ifdef URING_HAVE_SEND_ZC
	u->send_zc = u->op_ok[IORING_OP_SEND_ZC];
#endif
	/* Test hook: run the file and metadata ops on the thread pool, so the suite
	 * covers the path that ops missing from older kernels take. */
	const char *tp = getenv("CPORT_TEST_URING_POOL");
	u->test_pool = tp && tp[0] == '1';
	const char *tn = getenv("CPORT_TEST_URING_NOWAIT");
	u->test_nowait = tn && tn[0] == '1';
	port->impl = u;
	return 0;
}

/* Does the test hook send this op to the pool? Not nops or timers (nothing blocks),
 * not stream reads and writes (offset -1: a pipe would hold a worker forever). */
static bool uring_test_pool(const struct uring *u, const struct cport__op *x)
{
	if (!u->test_pool || x->type == CPORT__NOP || x->type == CPORT__TIMER ||
	    uring_is_net(x->type))
		return false;
	if (x->type == CPORT__CLOSE)
		return false; /* close must cancel the port's ops on the descriptor first */
	bool rw = x->type == CPORT__READ || x->type == CPORT__WRITE ||
		  x->type == CPORT__READV || x->type == CPORT__WRITEV;
	return !rw || x->offset >= 0;
}

/* A sendfile's pipe, made as large as the system lets us (fewer round trips). */
static int uring_sendfile_pipe(cport_op *op)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	int cap = fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	if (cap < 0)
		cap = fcntl(p[1], F_GETPIPE_SZ);
	struct uring_x *k = ux(op);
	k->pipe_rd = p[0];
	k->pipe_wr = p[1];
	k->in_pipe = 0;
	k->cap = cap > 0 ? (uint64_t)cap : 65536;
	k->sf_phase = SF_FILL;
	return 0;
}

/* cport_close: the descriptor engine cancels what waits and holds the close while the
 * kernel (or the pool) has ops on the descriptor; ask the kernel to cancel those. */
static int uring_close_start(cport *port, cport_op *op, struct cport__fd *f)
{
	if (f->busy > 0) {
		struct io_uring_sqe *sqe = uring_sqe(port);
		if (!sqe)
			return CPORT_EBUSY; /* cannot happen: uring_sqe flushes until there is room */
		io_uring_prep_cancel_fd(sqe, cport__x(op)->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, (uint64_t)(uint32_t)cport__x(op)->fd << 3 | TAG_CLOSING);
	}
	if (!cport__fd_close_begin(port, f, op))
		return 0; /* held: uring_close_go queues it once the rest finished */
	int r = uring_queue(port, op);
	if (r < 0)
		f->closing = false; /* rejected: the descriptor stays as it was */
	return r;
}

/* An op on a descriptor. Stream ops wait their turn on their side (the descriptor
 * engine keeps the FIFO and their timeouts); the head and every other op go now. */
static int uring_start_fd(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd *f;
	int r = cport__fd_get(port, x->fd, &f);
	if (r < 0)
		return r;
	if (x->type == CPORT__CLOSE)
		return uring_close_start(port, op, f);
	if (x->type == CPORT__SENDFILE && (r = uring_sendfile_pipe(op)) < 0)
		return r;
	enum cport__side side = uring_side(x);
	if (side != CPORT__SIDE_NONE) {
		f->stream = true;
		if (!cport__fd_enqueue(port, f, side, op))
			return 0; /* behind the head: started when its turn comes */
	}
	r = uring_queue(port, op);
	if (r < 0) {
		if (side != CPORT__SIDE_NONE)
			cport__list_unlink(&f->q[side], op);
		cport__timers_remove(&port->fdt.waiting, op);
		uring_sendfile_close(op);
	}
	return r;
}

/* An op for the thread pool. Its timeout_ns waits on the timer heap: when it fires
 * while the op is still queued, the op completes with CPORT_ETIMEDOUT; once a worker
 * runs it, it finishes with its own result (abandoning a running system call that
 * still writes the caller's buffer would break rule 1). Ops on a descriptor count as
 * busy on it, so its close waits for them. */
static int uring_pool_start(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd *f = NULL;
	int r = 0;
	if (cport__has_fd(x->type) && (r = cport__fd_get(port, x->fd, &f)) < 0)
		return r;
	if (f)
		cport__fd_started(port, f, op);
	r = cport__pool_start(port, op);
	if (r < 0 && f)
		cport__fd_finished(port, op);
	return r;
}

/* Does the op leave the ring: an opcode the kernel lacks, or the test hook? (Timers
 * never come here.) uring_start and uring_route decide with this one function.
 * IORING_OP_FADVISE reads its length from the 32-bit sqe->len (older kernels only
 * there): a longer one goes to the pool. */
static bool uring_not_native(struct uring *u, const struct cport__op *x)
{
	int code = uring_opcode(x);
	if (code < 0 || code >= URING_PROBE_OPS || !u->op_ok[code] || uring_test_pool(u, x))
		return true;
	return x->type == CPORT__FADVISE && x->len > UINT32_MAX;
}

static int uring_start(cport *port, cport_op *op)
{
	struct uring *u = uring_of(port);
	struct cport__op *x = cport__x(op);
	/* Timers live on the port's deadline heap, not in the kernel: one heap and the
	 * wait's own timeout cost far less than an IORING_OP_TIMEOUT per timer. */
	if (x->type == CPORT__TIMER)
		return cport__timer_start(port, op);
	if (uring_not_native(u, x)) {
		if (uring_is_net(x->type))
			return CPORT_ENOSYS;
		return uring_pool_start(port, op);
	}
	if (cport__has_fd(x->type))
		return uring_start_fd(port, op);
	return uring_queue(port, op);
}

/* cport_route: the decision uring_start makes. */
static int uring_route(cport *port, const struct cport__op *x, struct cport__fd *f)
{
	(void)f; /* every descriptor takes the same route here */
	if (x->type == CPORT__TIMER)
		return CPORT_ROUTE_LOCAL;
	if (!uring_not_native(uring_of(port), x))
		return CPORT_ROUTE_KERNEL;
	return uring_is_net(x->type) ? CPORT_ENOSYS : CPORT_ROUTE_POOL;
}

static void uring_cancel(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->xflags & CPORT__X_POOL) {
		cport__pool_cancel(port, op);
		return;
	}
	if (x->type == CPORT__TIMER) {
		cport__timer_cancel(port, op);
		return;
	}
	uring_zc_stop(op, false);
	if (x->pending == 0) {
		/* Waiting for its turn on a stream: it never started, it stops now. Else it
		 * finished, or waits on the retry list, which checks the cancel flag. */
		if (cport__fd_waiting(port, op))
			cport__fd_drop(port, op, CPORT_ECANCELED);
		return;
	}
	struct io_uring_sqe *sqe = uring_sqe(port);
	if (!sqe)
		return; /* cannot happen: uring_sqe flushes until there is room */
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op | TAG_OP, 0);
	io_uring_sqe_set_data64(sqe, TAG_IGNORE);
}

/* A sendfile's deadline passed (uring_queue): stop it as a cancel would; it completes
 * CPORT_ETIMEDOUT (uring_timed_out), or at its next step (uring_retry_stop). */
static void uring_expired(cport *port, cport_op *op)
{
	if (ux(op)->flags & URING_ZC_WATCHED) {
		ux(op)->flags &= ~URING_ZC_WATCHED; /* out of the heap already */
		uring_zc_stop(op, false);
		return;
	}
	if (cport__x(op)->pending == 0)
		return;
	struct io_uring_sqe *sqe = uring_sqe(port);
	if (!sqe)
		return; /* cannot happen: uring_sqe flushes until there is room */
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op | TAG_OP, 0);
	io_uring_sqe_set_data64(sqe, TAG_IGNORE);
}

/* Why an op taken off the retry list must stop instead of going on; 0 if it goes on.
 * A close always goes on (it is the one op that may not be cancelled). */
static int64_t uring_retry_stop(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->type == CPORT__CLOSE)
		return 0;
	if (x->xflags & CPORT__X_CANCELLED)
		return CPORT_ECANCELED;
	if (cport__has_fd(x->type) && cport__fd_find(port, x->fd)->closing)
		return CPORT_ECANCELED;
	if (x->deadline && cport_now_ns() >= x->deadline)
		return CPORT_ETIMEDOUT;
	return 0;
}

/* Queue SQEs for the ops on the retry list: short transfers going on, the next op of a
 * stream, sendfile steps, a close whose descriptor's ops all completed. */
static void uring_requeue(cport *port)
{
	struct uring *u = uring_of(port);
	cport_op *op;
	uring_pool_resume(u);
	/* Bounded: each op on the list is taken once; an op finished here may put the
	 * next one of its stream on the list, at most once per op in flight. */
	while ((op = cport__queue_pop(&u->retry)) != NULL) {
		int64_t stop = uring_retry_stop(port, op);
		if (stop == 0)
			stop = uring_queue(port, op);
		if (stop < 0)
			uring_done(port, op, stop);
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

/* With COOP/DEFER_TASKRUN, completions may wait as task work until we enter the
 * kernel: a poll that does not sleep asks for them when the kernel says some wait. */
static void uring_get_events(struct uring *u)
{
	if (io_uring_cq_ready(&u->ring) > 0)
		return;
	if (u->defer || (u->taskrun_flag && (IO_URING_READ_ONCE(*u->ring.sq.kflags) &
					      IORING_SQ_TASKRUN)))
		io_uring_get_events(&u->ring);
}

static int uring_reap(cport *port, int64_t timeout_ns)
{
	struct uring *u = uring_of(port);
	int r;
	bool want = !cport__wait_done(port);
	if (timeout_ns != 0 && want && !u->wake_armed && (r = uring_arm_wake(port)) < 0)
		return r;
	uring_requeue(port);
	if (u->nheld)
		uring_held_run(port); /* before sleeping: cport_wait may have freed some */
	cport__deadlines_fire(port);
	bool block = timeout_ns != 0 && want && io_uring_cq_ready(&u->ring) == 0 &&
		     !cport__wait_done(port);
	if (block && cport__sleep_begin(port)) {
		/* A deadline due now still sleeps 1 ns: 0 would mean forever here. */
		int64_t t = cport__deadlines_sleep_ns(port, timeout_ns);
		r = uring_sleep(port, t == 0 ? 1 : t);
		cport__sleep_end(port);
		cport__deadlines_fire(port);
	} else {
		r = uring_submit_all(port);
		if (r == 0)
			uring_get_events(u);
	}
	if (r < 0)
		return r;
	uring_process(port);
	return 0;
}

/* A shared port's leader sleeps for one CQE, submitting nothing (the other threads
 * submit under the port's mutex meanwhile): io_uring_enter itself, as liburing's wait
 * calls may flush the SQ ring, which is not the leader's to touch without the mutex. */
static int uring_enter_wait(struct uring *u, int64_t timeout_ns)
{
	struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
				       .tv_nsec = timeout_ns % 1000000000};
	struct io_uring_getevents_arg arg = {.sigmask_sz = _NSIG / 8};
	if (timeout_ns > 0)
		arg.ts = (uint64_t)(uintptr_t)&ts;
	long r = syscall(__NR_io_uring_enter, u->ring.ring_fd, 0, 1,
			 IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
	return r < 0 && errno != ETIME && errno != EINTR ? -errno : 0;
}

/* A shared port's leader (cport_backend.block, lib/shared.c): uring_reap's steps, with
 * the kernel wait made without the port's mutex. */
static int uring_block(cport *port, int64_t timeout_ns)
{
	struct uring *u = uring_of(port);
	int r;
	if (!u->wake_armed && (r = uring_arm_wake(port)) < 0)
		return r;
	uring_requeue(port);
	if (u->nheld)
		uring_held_run(port);
	cport__deadlines_fire(port);
	int64_t t = cport__shared_sleep_ns(port, timeout_ns);
	if ((r = uring_submit_all(port)) < 0)
		return r;
	if (t != 0 && io_uring_cq_ready(&u->ring) == 0 && cport__sleep_begin(port)) {
		cport__shared_unlock(port);
		/* A deadline due now still sleeps 1 ns: 0 would mean forever here. */
		r = uring_enter_wait(u, t == 0 ? 1 : t);
		cport__shared_relock(port);
		cport__sleep_end(port);
		cport__deadlines_fire(port);
		if (r < 0)
			return r;
	} else {
		uring_get_events(u); /* a poll runs this thread's waiting completion work */
	}
	uring_process(port);
	return 0;
}

static void uring_wake(cport *port)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: a wake is pending anyway. */
	ssize_t r = write(uring_of(port)->efd, &one, sizeof one);
	(void)r;
}

/* Free the sendfile pipes of ops that never reach the kernel again. */
static void uring_fini_pipes(cport *port)
{
	struct uring *u = uring_of(port);
	cport_op *op;
	while ((op = cport__queue_pop(&u->retry)) != NULL)
		uring_sendfile_close(op);
	for (uint32_t fd = 0; fd < port->fdt.n; fd++) {
		if ((op = port->fdt.fds[fd].q[CPORT__SIDE_SEND].head) != NULL)
			uring_zc_stop(op, true);
		for (op = port->fdt.fds[fd].q[CPORT__SIDE_SEND].head; op; op = cport__list_next(op))
			if (!(cport__x(op)->xflags & CPORT__X_FDBUSY))
				uring_sendfile_close(op);
	}
}

/* Destroy: cancel everything in the kernel and reap until nothing is left. In a forked
 * child, the ring's memory and its ops are the parent's too: unmap and close our copies
 * only (no cancel, no reap: those would act on the parent's ring). */
static void uring_fini(cport *port)
{
	struct uring *u = uring_of(port);
	u->dying = true;
	if (!port->forked) {
		uring_fini_pipes(port);
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
			uring_process(port);
			/* Completions are dropped; retries are not queued while dying. */
		}
	}
	io_uring_queue_exit(&u->ring);
	uring_pool_rings_free(port); /* the kernel let go of them with the ring */
	close(u->efd);
	free(u->held);
	free(u);
	port->impl = NULL;
}

/* ---- 5. Registered buffers and files (lib/register.c keeps the rules) -------------- */

_Static_assert(sizeof(cport_iovec) == sizeof(struct iovec) &&
		       offsetof(cport_iovec, len) == offsetof(struct iovec, iov_len),
	       "registered buffers go to the kernel as they are");
_Static_assert(sizeof(cport_fd) == sizeof(int), "registered descriptors too");

/* io_uring_register(2) itself. liburing's io_uring_register_files (2.3 and later)
 * raises the process's soft RLIMIT_NOFILE when the kernel says EMFILE: a library must
 * not change that behind its caller, so the kernel's answer is returned instead. */
static int uring_register(cport *port, unsigned opcode, const void *arg, unsigned n)
{
	long r = syscall(__NR_io_uring_register, uring_of(port)->ring.ring_fd, opcode, arg, n);
	return r < 0 ? -errno : 0;
}

static int uring_reg_buffers(cport *port, const cport_iovec *iov, unsigned n)
{
	return n ? uring_register(port, IORING_REGISTER_BUFFERS, iov, n)
		 : uring_register(port, IORING_UNREGISTER_BUFFERS, NULL, 0);
}

static int uring_reg_files(cport *port, const cport_fd *fds, unsigned n)
{
	return n ? uring_register(port, IORING_REGISTER_FILES, fds, n)
		 : uring_register(port, IORING_UNREGISTER_FILES, NULL, 0);
}

/* A registered descriptor was closed through cport: the slot's reference to the file
 * goes (-1 empties a slot), so the file really closes. Requests still using the slot
 * keep their own reference until they end. Should the kernel refuse (out of memory),
 * the file stays open until the set is unregistered or the port destroyed. */
static void uring_reg_file_clear(cport *port, unsigned slot)
{
	int none = -1;
	struct io_uring_files_update up = {.offset = slot, .fds = (uint64_t)(uintptr_t)&none};
	uring_register(port, IORING_REGISTER_FILES_UPDATE, &up, 1);
}

/* ---- 6. Pool receives ------------------------------------------------------------ */

/*
 * Each pool is a provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19) whose
 * buffer group is the pool's number: the ring holds the port's free buffers, the kernel
 * picks one when a pool receive has data and says which in the CQE
 * (IORING_CQE_F_BUFFER), and a buffer the port gets back goes in at the tail. A pool
 * receive is IORING_OP_RECV (RECVMSG) with IOSQE_BUFFER_SELECT and
 * IORING_RECVSEND_POLL_FIRST: the kernel waits for data before it looks for a buffer,
 * so an idle receive holds none and a dry pool is -ENOBUFS only once data is there (as
 * on the other backends). Multishot: IORING_RECV_MULTISHOT (Linux 6.0, probed at init);
 * without it, one receive at a time, issued again each time the caller has reaped a
 * completion with CPORT_MORE (u->resume), so the contract is the same.
 * Incremental buffer consumption (IOU_PBUF_RING_INC, Linux 6.12) is not used: a
 * completion always owns a whole buffer, which is what the caller returns.
 */

/* The engine's part of a pool: its ring. */
struct uring_bufring {
	struct io_uring_buf_ring *br;
	size_t bytes; /* mapped */
	int mask;     /* ring entries - 1 */
};

/* IORING_RECV_MULTISHOT (Linux 6.0): a kernel that knows the flag looks for the
 * descriptor and fails a receive on -1 with -EBADF; an older one rejects the flag at
 * prep with -EINVAL. On the empty ring at init. $CPORT_TEST_URING_NO_RECV_MULTI=1
 * (test-only) takes the path of kernels without it. */
static void uring_probe_recv_multi(struct uring *u)
{
	const char *no = getenv("CPORT_TEST_URING_NO_RECV_MULTI");
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	struct io_uring_cqe *cqe;
	io_uring_prep_recv_multishot(sqe, -1, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, TAG_IGNORE);
	int r = io_uring_submit_and_wait(&u->ring, 1);
	if (r >= 0 && (r = io_uring_peek_cqe(&u->ring, &cqe)) == 0) {
		r = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
	}
	u->recv_multi = r == -EBADF && !(no && no[0] == '1');
}

static void uring_prep_pool(struct uring *u, struct io_uring_sqe *sqe, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__bufpool *bp = cport__bufpool_get(x->port, x->mode);
	assert(bp && bp->kernel);
	if (x->type == CPORT__RECVMSG_POOL) {
		/* One iovec, its base left to the kernel; the kernel copies it at submit
		 * and writes the sender's length into the msghdr at completion. */
		ux(op)->pool_iov.iov_base = NULL;
		ux(op)->pool_iov.iov_len = bp->size;
		io_uring_prep_recvmsg(sqe, x->fd, cport__unix_msg_recv(x->buf, &ux(op)->pool_iov, 1), 0);
	} else if ((x->aux & CPORT_RECV_MULTISHOT) && u->recv_multi) {
		io_uring_prep_recv_multishot(sqe, x->fd, NULL, 0, 0); /* length: the buffer's */
		/* Wait for data before the first try. Only here: the kernel checks before
		 * anything else that a multishot receive's descriptor can be polled (a regular
		 * file: -EBADFD, see uring_pool_finish), while a one-shot one on a regular
		 * file would answer every try -EAGAIN after its "poll" found it ready, and the
		 * op would go round for ever (found with the fuzz target's input); without
		 * the flag that try says -ENOTSOCK. */
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	} else {
		io_uring_prep_recv(sqe, x->fd, NULL, bp->size, 0);
	}
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = (uint16_t)x->mode;
}

/* The buffer a CQE carries: the caller's if it holds data (returns the op's CPORT_BUF
 * bits), else the pool's again (0). */
static uint32_t uring_pool_buf(cport *port, cport_op *op, int64_t res, uint32_t cqe_flags)
{
	if (!(cqe_flags & IORING_CQE_F_BUFFER))
		return 0;
	struct cport__bufpool *bp = cport__bufpool_get(port, cport__x(op)->mode);
	uint32_t id = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
	assert(bp && id < bp->count);
	if (res > 0)
		return cport__bufpool_lend(bp, id);
	cport__bufpool_untake(port, bp, id);
	return 0;
}

/* Does a one-shot receive standing in for a multishot one go on after this result? */
static bool uring_pool_again(struct uring *u, cport_op *op, int64_t res)
{
	struct cport__op *x = cport__x(op);
	if (!(x->aux & CPORT_RECV_MULTISHOT) || u->recv_multi || res <= 0 || u->dying)
		return false;
	/* A shared port lends each CPORT_MORE completion to one thread (lib/shared.c); the
	 * one-shot-at-a-time stand-in is not made to go with that: each shot is the op's
	 * last completion there, as a multishot receive the kernel stopped by itself is
	 * (cport.h allows it: receive again). Found with http-test on 3 threads. */
	if (x->port->sh)
		return false;
	if (x->xflags & (CPORT__X_CANCELLED | CPORT__X_TIMEDOUT))
		return false;
	return !cport__fd_find(x->port, x->fd)->closing;
}

static void uring_resume_push(struct uring *u, cport_op *op)
{
	ux(op)->resume_next = NULL;
	if (u->resume_tail)
		ux(u->resume_tail)->resume_next = op;
	else
		u->resume_head = op;
	u->resume_tail = op;
}

/* A pool receive's last CQE: its buffer goes to the caller or back to the pool, and a
 * multishot receive run one shot at a time completes with CPORT_MORE and is issued
 * again once the caller reaped that (false: not finished). */
static bool uring_pool_finish(struct uring *u, cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	/* A multishot receive on what cannot be polled (a regular file): the kernel says
	 * EBADFD, which is no CPORT_E* code. The op needs a socket, so CPORT_ENOTSOCK, as
	 * the other backends say (found by the fuzz target). */
	if (*res == -EBADFD)
		*res = CPORT_ENOTSOCK;
	uint32_t cf = uring_pool_buf(x->port, op, *res, ux(op)->cqe_flags);
	ux(op)->cqe_flags = 0;
	if (*res > 0 && x->type == CPORT__RECVMSG_POOL)
		uring_recvmsg_done(x);
	if (uring_pool_again(u, op, *res)) {
		op->result = *res;
		op->cflags = CPORT_MORE | cf;
		x->xflags |= CPORT__X_UNREAPED;
		cport__deliver(x->port, op);
		uring_resume_push(u, op); /* still busy on its descriptor */
		return false;
	}
	ux(op)->ccflags = cf;
	return true;
}

/* Multishot receives run one shot at a time whose completion the caller has taken:
 * to the retry list, which issues them again (or ends them: cancel, close, timeout). */
static void uring_pool_resume(struct uring *u)
{
	cport_op *op = u->resume_head, *next;
	u->resume_head = u->resume_tail = NULL;
	for (; op; op = next) {
		next = ux(op)->resume_next;
		if (cport__x(op)->xflags & CPORT__X_UNREAPED)
			uring_resume_push(u, op);
		else
			cport__queue_push(&u->retry, op);
	}
}

static int uring_bufpool_add(cport *port, struct cport__bufpool *bp, uint16_t group)
{
	struct uring *u = uring_of(port);
	uint32_t entries = 1;
	while (entries < bp->count)
		entries <<= 1; /* a power of two, at most CPORT_MAX_BUFPOOL_COUNT (32768) */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t bytes = (entries * sizeof(struct io_uring_buf) + page - 1) / page * page;
	struct uring_bufring *r = malloc(sizeof *r);
	if (!r)
		return CPORT_ENOMEM;
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		free(r);
		return CPORT_ENOMEM;
	}
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof reg);
	reg.ring_addr = (uint64_t)(uintptr_t)m;
	reg.ring_entries = entries;
	reg.bgid = group;
	int err = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (err < 0) {
		munmap(m, bytes);
		free(r);
		return err;
	}
	r->br = m;
	r->bytes = bytes;
	r->mask = io_uring_buf_ring_mask(entries);
	io_uring_buf_ring_init(r->br);
	for (uint32_t i = 0; i < bp->count; i++)
		io_uring_buf_ring_add(r->br, bp->mem + (size_t)i * bp->size, bp->size,
				      (unsigned short)i, r->mask, (int)i);
	io_uring_buf_ring_advance(r->br, (int)bp->count);
	bp->eng = r;
	return 0;
}

static void uring_bufring_free(struct cport__bufpool *bp)
{
	struct uring_bufring *r = bp->eng;
	munmap(r->br, r->bytes);
	free(r);
	bp->eng = NULL;
}

static void uring_bufpool_remove(cport *port, struct cport__bufpool *bp, uint16_t group)
{
	if (!port->forked)
		io_uring_unregister_buf_ring(&uring_of(port)->ring, group);
	uring_bufring_free(bp);
}

static void uring_bufpool_give(cport *port, struct cport__bufpool *bp, uint32_t id)
{
	(void)port;
	struct uring_bufring *r = bp->eng;
	io_uring_buf_ring_add(r->br, bp->mem + (size_t)id * bp->size, bp->size,
			      (unsigned short)id, r->mask, 0);
	io_uring_buf_ring_advance(r->br, 1);
}

static void uring_pool_rings_free(cport *port)
{
	for (uint32_t g = 0; g < CPORT_MAX_BUFPOOLS; g++) {
		struct cport__bufpool *bp = cport__bufpool_get(port, g);
		if (bp && bp->eng)
			uring_bufring_free(bp);
	}
}

/* ---- 7. Zero-copy sends ------------------------------------------------------------- */

/*
 * A cport_send of CPORT_SEND_ZC_THRESHOLD bytes or more to a peer on another host (or
 * any send with CPORT_SEND_ZC; none with CPORT_SEND_NOZC) is an IORING_OP_SEND_ZC
 * (Linux 6.0, probed at init): the kernel sends from the caller's pages instead of
 * copying them. To a peer on this host the kernel copies the pages on delivery anyway,
 * so zero-copy only adds its costs there (measured: docs/design.md): such sends stay
 * plain unless forced. The kernel answers a SEND_ZC with two CQEs: the result
 * (IORING_CQE_F_MORE: a notification follows), and, once the network stack let go of
 * the pages (TCP: when the peer acknowledged the bytes), the notification
 * (IORING_CQE_F_NOTIF). The op's one completion waits for both, in either
 * order (uring_zc_cqe adds the one still expected to opx.pending), so "the buffer is
 * free after the completion" holds. A short send's rest, the next send of the stream, a
 * close held for it and destroy all wait for the notification the same way, since each
 * waits for the op to finish or for in_kernel to reach 0.
 *
 * A stopped send (cancel, timeout, close, destroy) may leave bytes queued in the
 * socket that the peer never takes (it stopped reading: that is why the send had not
 * finished): their pages would stay pinned, and the notification never come. So a
 * zero-copy send that stops midway resets the connection (connect to AF_UNSPEC, which
 * drops what the socket still queues) and completes CPORT_ECANCELED or
 * CPORT_ETIMEDOUT; a plain send would have left a stream cut mid-send as well. A close
 * (and destroy) does the same to a send that is waiting only for its notification.
 * A socket that cannot send zero-copy (-EOPNOTSUPP: not TCP or UDP) gets the same bytes
 * sent plainly, and so do its later sends (struct cport__fd_uring, URING_PEER_*).
 */

/* struct cport__fd_uring.zc_peer: what a socket's peer is to zero-copy sends. */
enum {
	URING_PEER_REMOTE = 1, /* another host: sends from the threshold up go zero-copy */
	URING_PEER_LOCAL,      /* this host (loopback, or our own address): plain unless
	                          forced, since the kernel copies the pages to a local
	                          receiver anyway (measured: docs/design.md) */
	URING_PEER_REFUSED     /* the socket refused a zero-copy send: always plain */
};

#ifdef URING_HAVE_SEND_ZC
/* Is the peer of `fd` on this host: a loopback address, or the socket's own address
 * (a connection to one of our addresses goes through the loopback device)? Anything
 * that is not an IPv4 or IPv6 peer counts as local. */
static bool uring_peer_local(int fd)
{
	struct sockaddr_storage me, peer;
	socklen_t ml = sizeof me, pl = sizeof peer;
	if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 || me.ss_family != peer.ss_family)
		return true;
	if (peer.ss_family == AF_INET) {
		const struct sockaddr_in *p = (const void *)&peer, *m = (const void *)&me;
		return (ntohl(p->sin_addr.s_addr) >> 24) == 127 ||
		       p->sin_addr.s_addr == m->sin_addr.s_addr;
	}
	if (peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *p = (const void *)&peer, *m = (const void *)&me;
		const struct in6_addr *a = &p->sin6_addr;
		bool v4lo = IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
		return IN6_IS_ADDR_LOOPBACK(a) || v4lo ||
		       memcmp(a, &m->sin6_addr, sizeof *a) == 0;
	}
	return true;
}

/* Does this SQE of a send go zero-copy? Asked at each SQE, so a send that waited its
 * turn knows what an earlier send taught the port about its socket. The peer is
 * looked at once per descriptor (two system calls), at its first large send. */
static bool uring_send_zc(const struct cport__op *x)
{
	if (!uring_of(x->port)->send_zc || x->len == x->done || (x->aux & CPORT_SEND_NOZC))
		return false;
	bool forced = (x->aux & CPORT_SEND_ZC) != 0;
	if (!forced && x->len < CPORT_SEND_ZC_THRESHOLD)
		return false;
	struct cport__fd *f = cport__fd_find(x->port, x->fd);
	if (!f)
		return forced;
	uint8_t *peer = &f->eng.u.zc_peer;
	if (*peer == 0 && !forced)
		*peer = uring_peer_local(x->fd) ? URING_PEER_LOCAL : URING_PEER_REMOTE;
	return *peer == URING_PEER_REMOTE || (forced && *peer != URING_PEER_REFUSED);
}
#endif

/* A send from where it got to: plain, or zero-copy. */
static void uring_prep_send(struct io_uring_sqe *sqe, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	char *p = x->buf ? (char *)x->buf + x->done : NULL; /* len 0 allows NULL */
	size_t n = (size_t)(x->len - x->done);
	ux(op)->flags &= ~(URING_ZC | URING_ZC_RES | URING_ZC_NOTIF);
#ifdef URING_HAVE_SEND_ZC
	if (uring_send_zc(x)) {
		io_uring_prep_send_zc(sqe, x->fd, p, n, URING_SEND_FLAGS, 0);
		ux(op)->flags |= URING_ZC;
		return;
	}
#endif
	io_uring_prep_send(sqe, x->fd, p, n, URING_SEND_FLAGS);
}

/* Drop what the socket still queues (and reset the peer): the kernel lets go of the
 * pages of a stopped zero-copy send. */
static void uring_zc_cut(cport_op *op)
{
	struct sockaddr sa = {.sa_family = AF_UNSPEC};
	if (ux(op)->flags & URING_ZC_CUT)
		return;
	ux(op)->flags |= URING_ZC_CUT;
	(void)connect(cport__x(op)->fd, &sa, sizeof sa);
}

/* Is the kernel holding a zero-copy send's pages after its SQE ended (the result
 * came, the notification not yet)? */
static bool uring_zc_held(cport_op *op)
{
	uint32_t want = URING_ZC | URING_ZC_RES;
	return (ux(op)->flags & (want | URING_ZC_NOTIF)) == want;
}

/* A stop (cancel, timeout, close, destroy) reached a send: if it is a zero-copy one
 * whose pages the kernel holds with bytes queued that do not finish it (`all`: any
 * bytes; a close or destroy stops a finished one too), drop them. */
static void uring_zc_stop(cport_op *op, bool all)
{
	struct cport__op *x = cport__x(op);
	if (x->type != CPORT__SEND || !uring_zc_held(op) || op->result <= 0)
		return;
	if (all || x->done + (uint64_t)op->result < x->len)
		uring_zc_cut(op);
}

/* A close's cancel of the ops on `fd` ended: the ops it stopped have let go of the
 * socket, so a reset now reaches none of them (a poll would see it as an error); a
 * zero-copy send whose pages the kernel holds is cut. */
static void uring_zc_closing(cport *port, cport_fd fd)
{
	struct cport__fd *f = cport__fd_find(port, fd);
	if (!uring_of(port)->dying && f && f->closing && f->q[CPORT__SIDE_SEND].head)
		uring_zc_stop(f->q[CPORT__SIDE_SEND].head, true);
}

/* A CQE of a zero-copy send's SQE: true if it is the notification (it carries no
 * result). Whichever of the two comes first makes the op wait for the other; bytes
 * moved mark the completion CPORT_ZC. While the pages are held, the op's deadline is
 * watched (its linked timeout ended with the SQE), and a stop that came before the
 * result acts now. */
static bool uring_zc_cqe(struct uring *u, cport_op *op, int32_t res, uint32_t cqe_flags)
{
	struct cport__op *x = cport__x(op);
	struct uring_x *k = ux(op);
#ifdef IORING_CQE_F_NOTIF
	if (cqe_flags & IORING_CQE_F_NOTIF) {
		if (!(k->flags & URING_ZC_RES))
			x->pending++; /* the result is still to come */
		k->flags |= URING_ZC_NOTIF;
		if (k->flags & URING_ZC_WATCHED)
			cport__deadline_unwatch(x->port, op);
		k->flags &= ~URING_ZC_WATCHED;
		return true;
	}
#endif
	k->flags |= URING_ZC_RES;
	if (res > 0)
		k->ccflags |= CPORT_ZC;
	if (!(cqe_flags & IORING_CQE_F_MORE) || (k->flags & URING_ZC_NOTIF))
		return false;
	x->pending++;
	op->result = res;
	struct cport__fd *f = cport__fd_find(x->port, x->fd);
	bool all = u->dying || (f && f->closing);
	if (all || (x->xflags & (CPORT__X_CANCELLED | CPORT__X_TIMEDOUT))) {
		uring_zc_stop(op, all);
	} else if (x->deadline && x->deadline != UINT64_MAX) {
		k->flags |= URING_ZC_WATCHED;
		cport__deadline_watch(x->port, op);
	}
	return false;
}

/* The zero-copy side of a send's end (both CQEs in): true if it goes on. A send that
 * was cut completes stopped; one the socket refused (-EOPNOTSUPP: only TCP and UDP
 * sockets send zero-copy) is sent again plainly, and so is every later send on the
 * descriptor. */
static bool uring_zc_end(struct uring *u, cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct uring_x *k = ux(op);
	if (k->flags & URING_ZC_CUT) {
		k->flags &= ~URING_ZC_CUT;
		struct cport__fd *f = cport__fd_find(x->port, x->fd);
		bool late = (x->xflags & CPORT__X_TIMEDOUT) ||
			    (x->deadline && cport_now_ns() >= x->deadline);
		bool stopped = (x->xflags & CPORT__X_CANCELLED) || u->dying || (f && f->closing);
		*res = late && !stopped ? CPORT_ETIMEDOUT : CPORT_ECANCELED;
		return false;
	}
	if (!(k->flags & URING_ZC) || *res != -EOPNOTSUPP)
		return false;
	struct cport__fd *f = cport__fd_find(x->port, x->fd);
	if (f)
		f->eng.u.zc_peer = URING_PEER_REFUSED;
	k->flags &= ~URING_ZC;
	if (u->dying || (x->xflags & CPORT__X_CANCELLED)) {
		*res = CPORT_ECANCELED;
		return false;
	}
	cport__queue_push(&u->retry, op);
	return true;
}

const struct cport_backend cport__uring_backend = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.start = uring_start,
	.cancel = uring_cancel,
	.expired = uring_expired,
	.flush = uring_flush,
	.reap = uring_reap,
	.block = uring_block,
	.wake = uring_wake,
	.fd_close = uring_close_go,
	.fd_dropped = uring_fd_dropped,
	.route = uring_route,
	.reg_buffers = uring_reg_buffers,
	.reg_files = uring_reg_files,
	.reg_file_clear = uring_reg_file_clear,
	.bufpool_add = uring_bufpool_add,
	.bufpool_remove = uring_bufpool_remove,
	.bufpool_give = uring_bufpool_give,
};
