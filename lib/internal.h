/* SPDX-License-Identifier: MIT */
/* Internal structs shared by the port core, the thread pool and the backends. */
#ifndef CPORT_INTERNAL_H
#define CPORT_INTERNAL_H

#include "cport.h"

#ifdef _WIN32
#include <winsock2.h>
#include <windows.h>
#include <mswsock.h>
#endif

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every op type; the backends switch on it. */
enum cport__type {
	CPORT__NOP = 1,
	CPORT__TIMER,
	CPORT__POST,
	CPORT__READ,
	CPORT__WRITE,
	CPORT__READV,
	CPORT__WRITEV,
	CPORT__FSYNC,
	CPORT__OPEN,
	CPORT__CLOSE,
	CPORT__STAT,
	CPORT__FSTAT,
	CPORT__FALLOCATE,
	CPORT__FTRUNCATE,
	CPORT__RENAME,
	CPORT__UNLINK,
	CPORT__MKDIR,
	CPORT__ACCEPT,
	CPORT__CONNECT,
	CPORT__RECV,
	CPORT__SEND,
	CPORT__RECVMSG,
	CPORT__SENDMSG,
	CPORT__SHUTDOWN,
	CPORT__POLL,
	CPORT__SENDFILE,
	/* Directories, file systems and file locks (cport.h section 4c). OPENAT: opx.fd
	 * the directory; READDIR: buf, len the caller's; STATFS: buf the path, buf2 the
	 * struct; FADVISE: aux the advice; LINK, SYMLINK: buf, buf2 the two paths (aux:
	 * SYMLINK's flags); READLINK: buf the path, buf2 and len the caller's buffer;
	 * ACCESS: aux the mode; LOCK: aux CPORT_LOCK_* (| CPORT__LOCK_UNLOCK), mode and
	 * done the thread pool's (its wait between tries, lib/threadpool.c). */
	CPORT__OPENAT,
	CPORT__READDIR,
	CPORT__STATFS,
	CPORT__FADVISE,
	CPORT__LINK,
	CPORT__SYMLINK,
	CPORT__READLINK,
	CPORT__ACCESS,
	CPORT__LOCK,
	CPORT__RECV_POOL,    /* cport_recv_pool: opx.mode the pool, opx.aux its flags */
	CPORT__RECVMSG_POOL, /* cport_recvmsg_pool: opx.buf the cport_msg, opx.mode the pool */
	CPORT__TYPE_MAX
};

/* opx.aux of a CPORT__FSYNC made by cport_fsync_range: flush [offset, offset + len) of
 * the data only (len 0: to the end of the file). Above every public CPORT_FSYNC_* bit. */
#define CPORT__FSYNC_RANGE (1u << 31)
/* opx.aux of a CPORT__LOCK made by cport_unlock (never a caller's bit). */
#define CPORT__LOCK_UNLOCK (1u << 31)

/* opx.state: a value unlikely in stale memory marks "in flight" (see cport.h). */
#define CPORT__INFLIGHT 0x43504f52u /* "CPOR" */
#define CPORT__IDLE 0u

/* opx.xflags: bookkeeping bits */
enum {
	CPORT__X_CANCELLED = 1u << 0, /* the caller asked to cancel */
	CPORT__X_TIMEDOUT = 1u << 1,  /* the op's timeout fired */
	CPORT__X_POOL = 1u << 2,      /* the op runs on the thread pool */
	CPORT__X_UNREAPED = 1u << 3,  /* a multishot op was handed to cport_wait with
	                                 CPORT_MORE and not reaped yet: hold its next
	                                 completion back (cleared by cport_wait) */
	CPORT__X_FDBUSY = 1u << 4,    /* counted in its descriptor's `busy` (fdstate.c) */
	CPORT__X_ABANDONED = 1u << 5, /* pool: completed while a worker still runs its
	                                 call; the worker drops the call's outcome */
	CPORT__X_TIMEOUT_FIRST = 1u << 6, /* a timer whose timeout_ns comes before its
	                                     time: it fires with CPORT_ETIMEDOUT */
	CPORT__X_CANCEL_LATER = 1u << 7, /* shared port: cancelled while a CPORT_MORE
	                                    completion was lent to a thread; the engine
	                                    hears of it when that thread waits again */
};

/* opx.reg: what registered with the port (lib/register.c) an op uses; each counts it
 * from its accepted submit until it is reaped, and an unregister meanwhile is
 * CPORT_EBUSY. */
enum {
	CPORT__REG_BUF = 1u << 0,  /* cport_read_fixed / cport_write_fixed: opx.buf_index */
	CPORT__REG_FILE = 1u << 1, /* its descriptor is registered (struct cport__fd.reg_slot) */
};

/* Links of an op in one doubly linked list (struct cport__list). */
struct cport__link {
	cport_op *next, *prev;
};

/*
 * The private view of cport_op.internal. Every field is written by the submit call
 * that accepts the op (the area is zeroed first, after the argument checks passed), so
 * nothing stale from an earlier use or from the caller's memory survives. `be` is the
 * engine's own scratch space: each engine overlays it with a struct of its own and
 * static-asserts that it fits (CPORT__BE_FITS).
 */
struct cport__op {
	uint32_t state;       /* CPORT__INFLIGHT from accepted submit to reap */
	uint8_t type;         /* enum cport__type */
	uint8_t xflags;       /* CPORT__X_* */
	uint16_t pending;     /* engine: completions still expected from the kernel */
	struct cport *port;   /* the port it was submitted to */
	cport_op *next;       /* completion lists: ready list, remote stack, retry list */
	struct cport__link wait; /* one wait list: a descriptor FIFO, the pool queue */
	cport_fd fd;          /* the descriptor; the socket of a sendfile */
	uint32_t aux;         /* open/unlink/fsync/fallocate/timer/accept/recv/send flags,
	                         iovcnt, shutdown how, poll events */
	uint32_t mode;        /* open/mkdir mode */
	void *buf;            /* buffer, iovec array, path, statbuf (fstat), cport_addr
	                         (accept peer, connect address), cport_msg */
	void *buf2;           /* second path (rename), statbuf (stat), sendfile's file
	                         descriptor (cast through uintptr_t) */
	uint64_t len;         /* bytes (vectored ops and messages: the iovecs' total, from
	                         the submit check), timer ns, fallocate/ftruncate/sendfile */
	int64_t offset;       /* file offset, or -1; sendfile: the file offset */
	uint64_t done;        /* bytes moved so far (short-transfer retry) */
	uint64_t deadline;    /* when timeout_ns ends (cport_now_ns, saturating), 0: none;
	                         while in a deadline heap (lib/timer.c): its key */
	uint32_t heap_idx;    /* timer heap: non-zero while the op is in a heap */
	uint8_t hold;         /* CPORT__HOLD_*: why a link or barrier holds it (chain.c) */
	uint8_t reg;          /* CPORT__REG_*: registrations the op counts against until
	                         reaped (lib/register.c) */
	uint16_t buf_index;   /* with CPORT__REG_BUF: the registered buffer it lies in */
	cport_op *hchild;     /* timer heap links (an intrusive pairing heap) */
	cport_op *hnext;
	cport_op *hprev;
	union {
		uint64_t words[7];
	} be;
};

/* An engine's typed overlay of opx.be fits it (one assert per engine). */
#define CPORT__BE_FITS(T)                                                                  \
	_Static_assert(sizeof(T) <= sizeof(((struct cport__op *)0)->be), #T " fits opx.be")

_Static_assert(sizeof(struct cport__op) <= sizeof(((cport_op *)0)->internal),
	       "cport__op must fit cport_op.internal");
_Static_assert(sizeof(cport_op) == 224, "cport_op ABI size");
_Static_assert(sizeof(cport_statbuf) == 256, "cport_statbuf ABI size");
_Static_assert(sizeof(cport_dirent) == 16, "cport_dirent ABI size");
_Static_assert(sizeof(cport_statfsbuf) == 64, "cport_statfsbuf ABI size");

static inline struct cport__op *cport__x(cport_op *op)
{
	return (struct cport__op *)(void *)op->internal;
}

/* A receive into a pool buffer (lib/bufpool.c). */
static inline bool cport__is_pool_recv(uint8_t type)
{
	return type == CPORT__RECV_POOL || type == CPORT__RECVMSG_POOL;
}

/* Does a multishot op go on after this result (a connection, data: a CPORT_MORE
 * completion), or is it its last? Every engine that runs multishot ops asks this. */
static inline bool cport__multishot_more(const struct cport__op *x, int64_t res)
{
	if (x->type == CPORT__ACCEPT)
		return (x->aux & CPORT_ACCEPT_MULTISHOT) && res >= 0;
	return x->type == CPORT__RECV_POOL && (x->aux & CPORT_RECV_MULTISHOT) && res > 0;
}

/* Ops that act on a descriptor (opx.fd is meaningful: for OPENAT and READDIR a
 * directory's, which a close of it cancels like any other). */
static inline bool cport__has_fd(uint8_t type)
{
	switch ((enum cport__type)type) {
	case CPORT__NOP:
	case CPORT__TIMER:
	case CPORT__POST:
	case CPORT__OPEN:
	case CPORT__STAT:
	case CPORT__RENAME:
	case CPORT__UNLINK:
	case CPORT__MKDIR:
	case CPORT__STATFS:
	case CPORT__LINK:
	case CPORT__SYMLINK:
	case CPORT__READLINK:
	case CPORT__ACCESS:
	case CPORT__TYPE_MAX:
		return false;
	default:
		return true;
	}
}

/* cport_readdir's records (unix.c, win.c): the length of one with a name of `n` bytes,
 * and its header, NUL and zero padding written around the name already at rec + 16.
 * `rec` is 8-byte aligned (cport_readdir checks the caller's buffer). */
#define CPORT__DIRENT_LEN(n) ((sizeof(cport_dirent) + (size_t)(n) + 1 + 7) & ~(size_t)7)
static inline size_t cport__dirent_seal(char *rec, uint64_t ino, uint8_t type, size_t n)
{
	size_t reclen = CPORT__DIRENT_LEN(n);
	cport_dirent d = {ino, (uint16_t)reclen, (uint16_t)n, type, {0, 0, 0}};
	*(cport_dirent *)(void *)rec = d;
	for (size_t i = sizeof d + n; i < reclen; i++)
		rec[i] = '\0';
	return reclen;
}

/* ---- op.c: the op mechanics every engine shares ------------------------------------ */

/* A FIFO of ops linked through opx.next (completion lists); one thread at a time. */
struct cport__queue {
	cport_op *head, *tail;
};

static inline void cport__queue_push(struct cport__queue *q, cport_op *op)
{
	cport__x(op)->next = NULL;
	if (q->tail)
		cport__x(q->tail)->next = op;
	else
		q->head = op;
	q->tail = op;
}

static inline cport_op *cport__queue_pop(struct cport__queue *q)
{
	cport_op *op = q->head;
	if (op) {
		q->head = cport__x(op)->next;
		if (!q->head)
			q->tail = NULL;
	}
	return op;
}

/* The one wait-list type: doubly linked through opx.wait, so an op leaves from the
 * middle in O(1) (cancel, timeout). An op is on at most one wait list at a time, and
 * may be on a completion list (opx.next) at the same time (a multishot op). */
struct cport__list {
	cport_op *head, *tail;
	uint32_t len;
};
void cport__list_push(struct cport__list *l, cport_op *op);
void cport__list_unlink(struct cport__list *l, cport_op *op);
static inline cport_op *cport__list_next(cport_op *op)
{
	return cport__x(op)->wait.next;
}

/* Saturating deadline arithmetic: a time so far away it does not fit is "never"
 * (UINT64_MAX), never a wrap to the past. */
uint64_t cport__add_sat(uint64_t a, uint64_t b);
uint64_t cport__deadline_in(uint64_t ns); /* now + ns, saturating */
int64_t cport__ns_until(uint64_t deadline, uint64_t now); /* 0 if passed; <= INT64_MAX */
/* A poller's timeout: nanoseconds (< 0 forever) to milliseconds rounded up, at most
 * max_ms; -1 for forever. */
int64_t cport__timeout_ms(int64_t ns, int64_t max_ms);

/* The iovec cursor: which element holds byte `done` of the array and how far into it.
 * Returns `cnt` (and *skip 0) when `done` reaches past the last non-empty byte. */
unsigned cport__iov_at(const cport_iovec *iov, unsigned cnt, uint64_t done, uint64_t *skip);

/* The iovecs of a vectored op or a message (READV/WRITEV: opx.buf; RECVMSG/SENDMSG:
 * the cport_msg's), and their count. */
const cport_iovec *cport__op_iov(const struct cport__op *x, unsigned *cnt);

/* Stream reads complete with what is there; every other transfer is all or error. */
bool cport__is_stream_read(const struct cport__op *x);
/* A read or write moved `n` more bytes (opx.done): is it finished by the contract's
 * rules (end of file or of stream, a stream read that got something, every byte)? A
 * transfer that is not goes on from opx.done. */
bool cport__op_moved(struct cport__op *x, uint64_t n);

/* timer.c: a deadline heap of ops (timers and per-op timeouts where the kernel keeps
 * none). Intrusive (links live in the op): add O(1), remove and pop O(log n) amortized,
 * and no allocation at all, however many timers. */
struct cport__timers {
	cport_op *root;
	uint32_t len;
};
int cport__timers_add(struct cport__timers *t, cport_op *op, uint64_t deadline_ns);
void cport__timers_remove(struct cport__timers *t, cport_op *op);
cport_op *cport__timers_pop_expired(struct cport__timers *t, uint64_t now_ns);
int64_t cport__timers_next_ns(const struct cport__timers *t, uint64_t now_ns); /* -1: none */
void cport__timers_free(struct cport__timers *t);

struct cport;

/* ---- bufpool.c: pools of receive buffers (cport_bufpool_add, cport_recv_pool) ------ */

/*
 * One pool: `count` buffers of `size` bytes in the caller's block, buffer `id` at
 * mem + id * size. Each buffer is the port's (free, or being filled by a receive), or
 * lent to a completion not handed to the caller yet (queued), or the caller's (a
 * completion it reaped handed it over with CPORT_BUF; cport_bufpool_return gives it
 * back). Engines without a kernel that picks buffers (the reactor, IOCP) take one
 * from the free stack when a receive finds data; io_uring's kernel holds the free ones
 * in a buffer ring (`kernel`), and the port only learns which one it filled.
 */
enum { CPORT__BUF_PORT = 0, CPORT__BUF_QUEUED = 1, CPORT__BUF_CALLER = 2 };
struct cport__bufpool {
	char *mem;
	uint32_t count, size;
	uint32_t ops;   /* pool receives naming it, accepted and not yet reaped */
	uint32_t nfree; /* ids on `free` */
	uint16_t *free; /* ids the port may lend, a stack (unused when `kernel`) */
	uint8_t *state; /* CPORT__BUF_* of each id */
	bool kernel;    /* the engine's kernel picks the buffers (io_uring) */
	void *eng;      /* the engine's state of the pool (io_uring: its buffer ring) */
};
/* The pool `group` of the port, or NULL if there is none. */
struct cport__bufpool *cport__bufpool_get(struct cport *port, uint32_t group);
/* The public calls' work, on the port thread (port.c checks the thread). */
int cport__bufpool_add(struct cport *port, void *mem, uint32_t count, uint32_t size,
		       uint16_t *group);
int cport__bufpool_remove(struct cport *port, uint32_t group);
int cport__bufpool_return(struct cport *port, uint32_t group, uint32_t id);
/* A pool receive was accepted / reaped for the last time (port.c). */
void cport__bufpool_op_accepted(struct cport *port, uint32_t group);
void cport__bufpool_op_reaped(struct cport *port, uint32_t group);
/* Engines that lend buffers themselves: a free buffer's id for a receive that found
 * data, or CPORT_ENOBUFS. Until lent or untaken it belongs to that receive. */
int cport__bufpool_take(struct cport__bufpool *bp);
/* A buffer taken (or, io_uring, filled by the kernel) that holds no data for the
 * caller (nothing came, end of stream, an error): the port's to lend again. */
void cport__bufpool_untake(struct cport *port, struct cport__bufpool *bp, uint32_t id);
/* The receive completes with data in buffer `id`: lent to that completion, the
 * caller's once the completion is handed over (cport__bufpool_handed). Returns the
 * op->cflags bits that say so (CPORT_BUF and the id). */
uint32_t cport__bufpool_lend(struct cport__bufpool *bp, uint32_t id);
/* A completion goes to the caller (reaped, or a CPORT_MORE one taken): the buffer it
 * carries, if any, is the caller's from now on; before, returning it is CPORT_EINVAL
 * (the caller cannot hold what it has not reaped). */
void cport__bufpool_hand(struct cport *port, cport_op *op);
/* Called for every op reaped: only a completion carrying a buffer leaves the hot path
 * (CPORT_BUF is set by pool receives alone). */
static inline void cport__bufpool_handed(struct cport *port, cport_op *op)
{
	if (op->cflags & CPORT_BUF)
		cport__bufpool_hand(port, op);
}
/* Destroy: the pools' bookkeeping (after the engine let go of them). */
void cport__bufpools_free(struct cport *port);

/* ---- fdstate.c: the descriptor engine ------------------------------------------------ */

/*
 * Per descriptor: the stream rules (a FIFO per side; only the head of a side is ever
 * worked on, so sends never interleave and receives fill in order), close-cancels (a
 * close completes every op waiting on the descriptor with CPORT_ECANCELED and is held
 * until the ops the kernel or a pool worker still has finished), timeouts of ops
 * waiting their turn, and the close generation. The engines only say how an op
 * starts and when it finished (struct cport_backend's fd_* slots).
 */
enum cport__side {
	CPORT__SIDE_NONE = -1,
	CPORT__SIDE_RECV = 0, /* reads, recv, recvmsg, accept */
	CPORT__SIDE_SEND = 1, /* writes, send, sendmsg, sendfile, connect, shutdown(WR) */
	CPORT__SIDE_POLL = 2, /* cport_poll (reactor): every op tried, in no order */
	CPORT__SIDES = 3
};

/* The reactor's readiness state of a descriptor (lib/backend/reactor.c). */
struct cport__fd_reactor {
	uint8_t armed;       /* CPORT__EV_* armed in the poller right now */
	uint8_t kind;        /* what the descriptor is (REACTOR_KIND_*) */
	bool added;          /* the poller knows this descriptor */
	bool nonblock;       /* O_NONBLOCK was checked and set */
	bool rd_wait;        /* reads wait for a report before their first try */
	uint32_t rd_skipped; /* see reactor.c */
};

#ifdef _WIN32
/* IOCP's knowledge of a handle (lib/backend/iocp.c). */
struct cport__fd_iocp {
	uint8_t kind;  /* what the handle is (IOCP_K_*); 0 until its first op */
	bool disk;     /* a file: offset -1 uses (and moves) the file pointer */
	bool append;   /* opened append-only: writes go to the end */
	bool dgram;    /* a datagram socket */
	bool reset;    /* a send met the peer's reset: later sends say EPIPE */
	bool recheck;  /* a close in the process may have freed the value: look again */
	bool nbio;     /* made non-blocking (FIONBIO) for a pool receive's recv */
};
#endif

/* io_uring's knowledge of a descriptor (lib/backend/uring.c). */
struct cport__fd_uring {
	uint8_t zc_peer; /* for zero-copy sends (uring.c, URING_PEER_*): 0 until learnt */
};

struct cport__fd {
#ifdef _WIN32
	cport_fd h;       /* the handle this entry is for (0: a free slot) */
#endif
	struct cport__list q[CPORT__SIDES]; /* ops of each side, oldest first */
	cport_op *close;  /* a cport_close held until nothing else is left */
	uint32_t busy;    /* ops on it the kernel or the pool has (not waiting in q) */
	uint32_t gen;     /* cport__fd_gen(fd) when this state was last known current */
	bool closing;     /* a cport_close was accepted: new ops get CPORT_EBADF */
	bool closed;      /* closed through this port, or not known to be open (a new
	                     entry, a close elsewhere since): checked at its next op */
	bool stream;      /* had stream ops (reactor: its close runs inline) */
	uint8_t file;     /* what the calls made on the port thread learnt of it (inline
	                     ops, the reactor's cached reads): FILE_* in unix.c;
	                     0 until then, and again once the number may be new */
	uint32_t reg_slot; /* registered with the port: its slot + 1 (register.c); 0: not */
	union {
		struct cport__fd_reactor r;
		struct cport__fd_uring u;
#ifdef _WIN32
		struct cport__fd_iocp w;
#endif
	} eng;
};

/* Unix: indexed by descriptor, grows by doubling. Windows: handle values are sparse, so
 * open addressing keyed by the value (an entry moves when the table grows: hold no
 * entry pointer across cport__fd_get). */
struct cport__fdtab {
	struct cport__fd *fds;
	uint32_t n;
#ifdef _WIN32
	uint32_t used; /* slots in use */
#endif
	struct cport__timers waiting; /* ops with a deadline waiting in a q */
};

/* Which side an op is ordered on; CPORT__SIDE_NONE for ops outside the stream rules
 * (positional file I/O, fsync, close, ...). `poll_side`: the reactor keeps cport_poll
 * ops in a queue of their own; io_uring runs them at once. */
enum cport__side cport__op_side(const struct cport__op *x, bool poll_side);
/* The state of `fd` for a new op: the table grows only for a descriptor that exists
 * (CPORT_EBADF otherwise), a closing one is CPORT_EBADF, and one whose number may have
 * been closed and reused since (the close generation moved) starts clean. */
int cport__fd_get(struct cport *port, cport_fd fd, struct cport__fd **f);
/* The state of `fd` if the table has it (no checks), else NULL. */
struct cport__fd *cport__fd_find(struct cport *port, cport_fd fd);
/* May a new op name `fd` (open, and no cport_close of it accepted)? 0 or CPORT_EBADF;
 * makes no entry. For ops that do not reach cport__fd_get at submit (held ones, zero-
 * byte receives). */
int cport__fd_usable(struct cport *port, cport_fd fd);
/* Queue `op` on its side; true if it is the head (the engine starts it now). An op
 * with a deadline waits in the deadline heap until cport__fd_started. */
bool cport__fd_enqueue(struct cport *port, struct cport__fd *f, enum cport__side s, cport_op *op);
/* The engine handed `op` to the kernel or the pool: it counts in `busy` until
 * cport__fd_finished, and its deadline is the kernel's (or the engine's) now. */
void cport__fd_started(struct cport *port, struct cport__fd *f, cport_op *op);
/* An op on the descriptor finished and was delivered: it stops counting as busy, it
 * leaves its queue if it heads one (the next head, if any, is returned for the engine
 * to start), and a held close is released when it was the last. */
cport_op *cport__fd_finished(struct cport *port, cport_op *op);
/* Is `op` waiting its turn in its descriptor's queue (queued, not started)? */
bool cport__fd_waiting(struct cport *port, cport_op *op);
/* Take a waiting op (not busy) out of its queue and complete it with `result`;
 * returns the new head of its side if it was the head. */
cport_op *cport__fd_drop(struct cport *port, cport_op *op, int64_t result);
/* The same with completion flags (a pool receive's buffer: CPORT_BUF and its id). */
cport_op *cport__fd_end(struct cport *port, cport_op *op, int64_t result, uint32_t cflags);
/* Ops whose deadline passed while they waited their turn: CPORT_ETIMEDOUT. */
void cport__fd_expire(struct cport *port, uint64_t now);
/* cport_close accepted on `f`: waiting ops complete with CPORT_ECANCELED, queued pool
 * ops too; returns true if the close may run now, false if it is held (the engine's
 * fd_close slot runs it later). */
bool cport__fd_close_begin(struct cport *port, struct cport__fd *f, cport_op *close);
/* The close of `fd` completed: its state is forgotten; the number is new from now. */
void cport__fd_close_end(struct cport *port, cport_fd fd);
/* A descriptor number's close generation: bumped by every close of it through cport
 * (ops and cport_sock_close), so every port knows the number may be new. */
uint32_t cport__fd_gen(cport_fd fd);
bool cport__os_fd_valid(cport_fd fd); /* unix.c, win.c: is the descriptor open now? */
void cport__fd_gen_bump(cport_fd fd);
void cport__fd_fini(struct cport *port);

/*
 * The backend interface: one table per backend, chosen at cport_create and never
 * switched on a live port. Every slot is called on the port's submitting thread except
 * `wake`, which any thread may call.
 */
struct cport_backend {
	const char *name;
	/* Its descriptors are not the OS's (sim): the calls cport makes on descriptors
	 * itself (CPORT_OP_INLINE's tries) are not made; the op goes to `start`. */
	bool no_os;
	/* Set up port->impl. Return 0, or an error and write why to `why` (its size `n`). */
	int (*init)(struct cport *port, const cport_options *opts, char *why, size_t n);
	/* Stop every op in flight, drop their completions, wait until nothing touches any
	 * op or buffer, then free port->impl. */
	void (*fini)(struct cport *port);
	/* Start an op whose common fields are filled in (switch on opx.type). Return 0,
	 * or an error and leave nothing behind. */
	int (*start)(struct cport *port, cport_op *op);
	/* Ask an in-flight op to stop. The op then completes exactly once. */
	void (*cancel)(struct cport *port, cport_op *op);
	/* Hand queued work to the kernel. */
	int (*flush)(struct cport *port);
	/* Flush, then wait up to timeout_ns (< 0 forever, 0 not at all) until something
	 * completed or was posted. Finished ops go to cport__deliver (or cport__complete),
	 * which fills the caller's array while cport_wait runs and the ready list after
	 * that (or hands cport_wait_op its op); never sleep once cport__wait_done. Return
	 * 0, or an error. */
	int (*reap)(struct cport *port, int64_t timeout_ns);
	/* Wake a thread blocked in reap; any thread, async-signal-unsafe is fine. */
	void (*wake)(struct cport *port);
	/* Optional: the descriptor engine made `op` the head of its side (the one before
	 * it finished or left): start it. NULL: heads are run by the engine itself. */
	void (*fd_head)(struct cport *port, cport_op *op);
	/* Optional: an op the engine put in the port's deadline heap itself (not a timer,
	 * not a pool op) passed its deadline; CPORT__X_TIMEDOUT is set: stop it. */
	void (*expired)(struct cport *port, cport_op *op);
	/* Optional: a close held by the descriptor engine may run now. */
	void (*fd_close)(struct cport *port, cport_op *close);
	/* Optional: an op the descriptor engine drops (cancel, close, timeout while
	 * waiting) held engine resources: free them. */
	void (*fd_dropped)(struct cport *port, cport_op *op);
	/* Optional: the close generation moved since this idle entry was last current
	 * (its number may now be another descriptor): mark what the engine knows of it
	 * as doubtful. NULL: f->eng is zeroed. */
	void (*fd_stale)(struct cport *port, struct cport__fd *f);
	/* Optional (NULL: nothing to do): an op that another thread completed (the pool)
	 * reached the port thread and is about to go on the ready list (not posts). */
	void (*remote_done)(struct cport *port, cport_op *op);
	/* Optional (NULL: cport_route answers CPORT_ENOSYS): the CPORT_ROUTE_* an op like
	 * `x` would take if submitted now, or the error its submit would return. `x` is a
	 * prototype (type, fd, offset, aux, len filled in; never submitted), `f` its
	 * descriptor's entry from cport__fd_get (NULL for ops without one): read them,
	 * start nothing, change no state a later submit would see differently. */
	int (*route)(struct cport *port, const struct cport__op *x, struct cport__fd *f);
	/* Optional, all three (NULL: registrations are bookkeeping in register.c only and
	 * ops take the plain path). Register `n` buffers with the kernel, or (n 0) drop
	 * those registered; the same for descriptors, in slots 0..n-1; empty one slot
	 * whose descriptor was closed. register.c calls them only with nothing registered
	 * (n > 0) or something registered (n 0), and never in a forked child. */
	int (*reg_buffers)(struct cport *port, const cport_iovec *iov, unsigned n);
	int (*reg_files)(struct cport *port, const cport_fd *fds, unsigned n);
	void (*reg_file_clear)(struct cport *port, unsigned slot);
	/* Optional, all three or none (none: cport lends pool buffers itself, from
	 * bufpool.c's free stack, when a receive finds data). The kernel picks the
	 * buffers of pool receives: a pool was added (give it every buffer; 0 or an error,
	 * and nothing left behind); removed (no pool receive names it: take them back);
	 * one buffer is the port's again (returned by the caller, or a completion carried
	 * no data in it): give it back to the kernel. */
	int (*bufpool_add)(struct cport *port, struct cport__bufpool *bp, uint16_t group);
	void (*bufpool_remove)(struct cport *port, struct cport__bufpool *bp, uint16_t group);
	void (*bufpool_give)(struct cport *port, struct cport__bufpool *bp, uint32_t id);
	/* Optional (NULL: no shared mode; CPORT_OPT_SHARED is CPORT_ENOTSUP). A shared
	 * port's leader waits here (lib/shared.c), the port's mutex held on entry and on
	 * return: prepare what the kernel wait needs, sleep in the kernel up to the time
	 * cport__shared_sleep_ns gives (< 0 forever, 0 not at all) with the mutex released
	 * around that call alone (cport__shared_unlock / cport__shared_relock; the
	 * `sleeping` handshake as in reap), then deliver what came, as reap does. Only the
	 * leader is ever here and reap is never called on a shared port; every other slot
	 * may run (under the mutex) while the leader sleeps. Return 0 or an error. */
	int (*block)(struct cport *port, int64_t timeout_ns);
};

struct cport__pool;
struct cport__reg;
struct cport__bufpools;

/* chain.c: links and barriers. Ops accepted but held until their turn never reach the
 * engine; they wait on `held` (opx.wait) and are started from `go` by the public call. */
enum {
	CPORT__HOLD_LINK = 1u << 0,    /* waits for its predecessor (opx.be.words[0]) */
	CPORT__HOLD_DRAIN = 1u << 1,   /* accepted after a barrier that has not completed */
	CPORT__HOLD_BARRIER = 1u << 2, /* a barrier waiting for every op before it */
	CPORT__HOLD_BROKEN = 1u << 3,  /* its predecessor failed before it came */
};
struct cport__chain {
	struct cport__list held;  /* held ops, oldest first */
	struct cport__queue go;   /* released, to start before the public call returns */
	cport_op *tail;           /* the open chain's last op, while it is in flight */
	cport_op *drain;          /* the oldest barrier that has not completed */
	uint64_t unfinished;      /* accepted, not completed, not held behind a barrier */
	bool open;                /* the last op accepted had CPORT_OP_LINK */
	bool tail_failed;         /* ... and it completed without succeeding */
};
/* May this op start (0), or is it refused (CPORT_EINVAL: a multishot link; CPORT_EBADF:
 * a descriptor that is not open, for an op that will be held)? Writes nothing. */
int cport__chain_check(struct cport *port, const cport_op *op, uint8_t type, uint32_t aux,
		       cport_fd fd);
/* Does the submit of `op` need chain.c (a flag, an open chain, a barrier pending)? */
/* The op->flags that make an op part of a chain (CPORT_OP_INLINE does not). */
#define CPORT__OP_CHAIN (CPORT_OP_LINK | CPORT_OP_BARRIER)
static inline bool cport__chain_active(const struct cport__chain *c, const cport_op *op)
{
	return (op->flags & CPORT__OP_CHAIN) || c->open || c->drain;
}
bool cport__chain_submit(struct cport *port, cport_op *op); /* true: start it now */
void cport__chain_after(struct cport *port, cport_op *op);   /* a final completion */
void cport__chain_drop(struct cport *port, cport_op *op, int64_t result); /* held op */
void cport__chain_fd_closing(struct cport *port, cport_fd fd);
void cport__chain_run(struct cport *port, int (*start)(struct cport *port, cport_op *op));

struct cport {
	const struct cport_backend *be;
	void *impl;                 /* the backend's state */
	struct cport__queue ready;  /* completed ops waiting to be reaped */
	cport_op **out;             /* cport_wait's array while it runs (else unused) */
	unsigned out_max, out_n;    /* its size (0 outside cport_wait) and ops in it */
	cport_op *want;             /* the op cport_wait_op waits for while it runs */
	bool got;                   /* ... and it was delivered (not queued: taken) */
	uint64_t inflight;          /* accepted and not yet reaped (port thread only) */
	atomic_uint busy;           /* a thread is inside a call that drives the port */
	_Atomic(cport_op *) remote; /* LIFO of ops completed by other threads */
	atomic_bool sleeping;       /* the port thread is (about to be) blocked in reap */
	atomic_bool notified;       /* a wake is on its way; cleared by the backend */
	bool forked;                /* destroy runs in a forked child: touch no kernel state
	                               shared with the parent */
	long pid;                   /* the process that created the port */
	struct cport__pool *pool;   /* created on first use */
	uint32_t pool_threads;
	struct cport__fdtab fdt;    /* the descriptor engine (fdstate.c) */
	struct cport__timers deadlines; /* timers and watched deadlines (timer.c) */
	struct cport__chain chain;  /* links and barriers (chain.c) */
	struct cport__reg *reg;     /* registered buffers and files (register.c); NULL
	                               until the first registration */
	struct cport__bufpools *bufpools; /* receive buffer pools (bufpool.c); NULL until
	                                     the first cport_bufpool_add */
	char reason[256];           /* why preferred backends were refused */
	struct cport__shared *sh;   /* CPORT_OPT_SHARED: the mutex and the waiters
	                               (lib/shared.c); NULL in the default mode */
	const uint64_t *vclock;     /* the sim backend's virtual clock; NULL: the real one */
};

/* The port's clock (cport_clock_ns): deadlines, timers and cport_wait's timeout. */
static inline uint64_t cport__now(const struct cport *port)
{
	return port->vclock ? *port->vclock : cport_now_ns();
}

/* ---- shared.c: shared ports (CPORT_OPT_SHARED; docs/design.md "Shared ports") ------ */
struct cport__shared;
int cport__shared_create(struct cport *port, uint32_t concurrency);
void cport__shared_free(struct cport *port);
/* Every public call's entry and exit on a shared port (port.c's port_enter/leave):
 * the mutex, CPORT_ESHUTDOWN once stopped; on the way out the engine's flush, the
 * completions the call queued handed to waiting threads, the leader woken if a new
 * deadline comes before its wake-up. */
#if defined(__GNUC__)
#define CPORT__COLD __attribute__((cold)) /* off the default mode's hot paths */
#else
#define CPORT__COLD
#endif
CPORT__COLD int cport__shared_enter(struct cport *port);
CPORT__COLD void cport__shared_leave(struct cport *port);
int cport__shared_wait(struct cport *port, cport_op **out, unsigned max, int64_t timeout_ns);
/* cport_post on a shared port: `op` is filled in; deliver it to a waiting thread. */
int cport__shared_post(struct cport *port, cport_op *op);
/* A cport_cancel of `op` on a shared port: true if its CPORT_MORE completion is lent
 * to a thread (the engine's cancel waits until that thread waits again). */
bool cport__shared_lent(struct cport *port, cport_op *op);
/* fdstate.c: a multishot op ends (a close, a timeout) while its CPORT_MORE completion
 * is lent: true if so, and `result` is its last completion, delivered once the thread
 * waits again (the lent one is not turned into the last, as it is while queued). */
bool cport__shared_end_later(struct cport *port, cport_op *op, int64_t result);
/* For the engines' `block`: how long the leader may sleep (0: completions wait to be
 * handed out, or the port stopped), and the mutex around the kernel wait. */
int64_t cport__shared_sleep_ns(struct cport *port, int64_t timeout_ns);
void cport__shared_unlock(struct cport *port);
void cport__shared_relock(struct cport *port);
/* port.c: an op handed to a thread is reaped (not a CPORT_MORE one: shared.c lends
 * those), and ops a completion let go start before the call returns. */
void cport__op_reaped(struct cport *port, cport_op *op);
void cport__run_released(struct cport *port);

/* op.c: the one completion path. An engine hands every finished op here, on the port
 * thread: into cport_wait's array while it runs and has room and nothing older waits,
 * else onto the ready list, so completions keep their order. */
void cport__deliver(struct cport *port, cport_op *op);                  /* result set */
void cport__deliver_only(struct cport *port, cport_op *op); /* chain.c: no chain step */
/* The op's last completion, already delivered (with CPORT_MORE, now cleared), counts
 * for links and barriers (the chain step cport__deliver makes for a final one). */
void cport__final(struct cport *port, cport_op *op);
void cport__complete(struct cport *port, cport_op *op, int64_t result); /* sets it */
void cport__complete_remote(struct cport *port, cport_op *op);          /* any thread */
/* Has the wait in progress what it waits for (cport_wait: a completion in its array or
 * on the ready list; cport_wait_op: its op)? An engine's reap never sleeps once it has. */
static inline bool cport__wait_done(const struct cport *port)
{
	return port->want ? port->got : port->out_n > 0 || port->ready.head != NULL;
}
/* cport_wait_op: take `op` off the ready list if it waits there; false if not. */
bool cport__ready_take(struct cport *port, cport_op *op);
bool cport__remote_pending(struct cport *port);
bool cport__sleep_begin(struct cport *port); /* false: don't sleep, work is waiting */
void cport__sleep_end(struct cport *port);
void cport__drain_remote(struct cport *port);
/* Destroy: close the descriptors that ops completed with but nobody reaped (accept,
 * open), on the ready list and the remote stack; forget those ops. */
void cport__drop_unreaped(struct cport *port);
/* An op's result produced a descriptor the caller never saw: close it. */
void cport__close_result(cport_op *op);

/* timer.c: the port's deadlines (port->deadlines). A timer op starts there; an op the
 * engine watches itself (pool ops, IOCP's ops in the kernel) is watched there; firing
 * completes timers, times out pool ops, and hands other ops to the engine's `expired`;
 * ops waiting their turn on a descriptor expire too (fdstate.c). */
int cport__timer_start(struct cport *port, cport_op *op);
void cport__deadline_watch(struct cport *port, cport_op *op);
void cport__deadline_unwatch(struct cport *port, cport_op *op);
bool cport__timer_cancel(struct cport *port, cport_op *op); /* false: already fired */
void cport__deadlines_fire(struct cport *port);
/* The caller's timeout (< 0 forever) cut to the next deadline (0: one is due). */
int64_t cport__deadlines_sleep_ns(struct cport *port, int64_t timeout_ns);
/* An op the pool had is back on the port thread (done, cancelled, taken by a close):
 * out of the deadline heap, then the engine's remote_done. */
void cport__pool_op_back(struct cport *port, cport_op *op);

/* register.c: registered buffers and files, the part every engine shares (limits,
 * range checks, the descriptor -> slot map, counts of the ops using them). */
/* A fixed read or write: [buf, buf + len) lies inside registered buffer `index`. */
int cport__reg_check_buf(struct cport *port, const void *buf, uint64_t len, uint32_t index);
/* At submit (port->reg set): CPORT__REG_FILE on an op whose descriptor is registered;
 * a registration whose number was closed through cport elsewhere is dropped here. */
void cport__reg_mark(struct cport *port, cport_op *op);
void cport__reg_hold(struct cport *port, const struct cport__op *x);    /* accepted */
void cport__reg_release(struct cport *port, const struct cport__op *x); /* reaped */
/* The registered slot of `fd`, or -1 (the engine uses it for the op's descriptor). */
int cport__reg_file_slot(struct cport *port, cport_fd fd);
/* `f`'s descriptor was closed through cport: empty its slot (fdstate.c). */
void cport__reg_fd_gone(struct cport *port, struct cport__fd *f);
void cport__reg_free(struct cport *port); /* destroy: memory only, no engine call */
/* port.c: the one-thread check of every call that drives the port; a descriptor's
 * value checked as every submit checks it (negative on Unix: CPORT_EBADF). */
int cport__port_enter(struct cport *port); /* 0 or CPORT_EBUSY / CPORT_ESHUTDOWN */
void cport__port_leave(struct cport *port);
int cport__check_fd(cport_fd fd);

/* unix.c / win.c: what the thread pool needs of the OS. A worker records itself, and a
 * blocking call it makes can be interrupted where the OS has a way (Windows:
 * CancelSynchronousIo; elsewhere nothing, and the pool abandons instead). */
struct cport__os_thread {
	void *handle;
};
void cport__os_thread_self(struct cport__os_thread *t);
void cport__os_thread_interrupt(struct cport__os_thread *t);
void cport__os_thread_release(struct cport__os_thread *t);
/* A worker's own duplicate of a descriptor (close-on-exec, not inherited), so that a call
 * it may be abandoned in never uses a number the caller closed and reused meanwhile. */
int cport__os_fd_dup(cport_fd fd, cport_fd *out);
void cport__os_fd_close(cport_fd fd);

/* threadpool.c: blocking work for ops a backend cannot do without blocking */
int cport__pool_start(struct cport *port, cport_op *op);
bool cport__pool_cancel(struct cport *port, cport_op *op);
void cport__pool_destroy(struct cport *port);
int64_t cport__blocking_run(cport_op *op);
#ifndef _WIN32
/* TEST-ONLY: the Unix system-call table (lib/unix.h), for tests that inject faults
 * (tests/fault-inject.c). Hidden like every cport__ name: never exported from the
 * shared library; tests reach it through the static one. */
struct cport__syscalls *cport__test_syscalls(void);
#endif
void cport__pool_take_fd(struct cport *port, cport_fd fd, struct cport__queue *out);
/* A pool op came back to the port thread (op.c): true if it is not finished but waits
 * in the port's deadline heap for another turn (a lock whose try found the range
 * taken), false if it is to be delivered now (op->result may have changed). */
bool cport__pool_again(struct cport *port, cport_op *op);

/* unix.c / win.c: run `op` on the calling thread if it cannot block there: a positional
 * read or write of cached file data (RWF_NOWAIT); with `inline_ok` (CPORT_OP_INLINE)
 * also stat, fstat and a write to the page cache. True if the op completed (it was
 * handed to cport__complete); false to start it the normal way, from opx.done (a read
 * may have moved part of its bytes). `f`: its descriptor's state (NULL: a path op). */
bool cport__os_try(struct cport *port, cport_op *op, struct cport__fd *f, bool inline_ok);
/* op.c: grow the array at *(T **)arr, of *cap elements of `size` bytes, to at least
 * `need` elements, doubling from `first`; new elements are zeroed. 0, or CPORT_ENOMEM
 * with the array as it was. */
int cport__grow(void *arr, uint32_t *cap, size_t size, uint64_t need, uint32_t first);

/* port.c: the ops CPORT_OP_INLINE may run in the submit call (every engine asks it). */
bool cport__inline_kind(const struct cport__op *x);
/* cport_route's part of it (Unix): would cport__os_try(.., false) try this op, which
 * the readiness backends call before sending positional file I/O to the pool? */
bool cport__os_try_route(struct cport__fd *f, const struct cport__op *x);


/* unix.c / win.c: cport_dio_query's OS part, for a descriptor known to be open; `d`
 * comes zeroed. Returns 0 or a CPORT_E* code. */
int cport__os_dio_query(cport_fd fd, cport_dio_info *d);

#ifdef _WIN32
/* win.c: Windows and WSA errors -> CPORT_E* */
int cport__win_error(DWORD err);
/* win.c: WinSock started once (0 or a CPORT_E* code), ConnectEx (NULL: none), closing
 * any descriptor, and the instances of local listeners (named pipes). */
int cport__wsa_init(void);
int64_t cport__win_close(cport_fd fd);
int cport__win_local_take(cport_fd fd, HANDLE *inst);
bool cport__win_local_is(cport_fd fd);
int cport__win_socket(SOCKET *out, int af, int type, int proto);
LPFN_CONNECTEX cport__win_connectex(void);
#endif

/* addr.c: the sockaddr family a cport_addr holds (AF_UNSPEC if none) */
int cport__addr_sa_family(const cport_addr *a);

/* addr.c: an IP socket address taken apart, for the simulation's network. */
struct cport__addr_ip {
	int fam;        /* CPORT_AF_INET or CPORT_AF_INET6 */
	uint16_t port;
	uint8_t ip[16]; /* IPv4: the first 4 bytes */
};
/* Take `a` apart: 0, or CPORT_EAFNOSUPPORT (not IPv4 or IPv6, or too short). */
int cport__addr_ip_get(const cport_addr *a, struct cport__addr_ip *ip);
void cport__addr_ip_set(cport_addr *a, const struct cport__addr_ip *ip);
/* A local stream's address: the path `name` (Unix); an empty address on Windows. */
void cport__addr_local_set(cport_addr *a, const char *name);

/* unix.c, win.c: the OS's socket helpers, behind lib/sock.c's public ones. */
int cport__os_tcp_listen(cport_fd *fd, const cport_addr *a, int backlog, uint32_t flags);
int cport__os_tcp_socket(cport_fd *fd, int family);
int cport__os_udp_socket(cport_fd *fd, const cport_addr *a, uint32_t flags);
int cport__os_local_listen(cport_fd *fd, const char *name, int backlog);
int cport__os_local_connect(cport_fd *fd, const char *name);
int cport__os_sock_name(cport_fd fd, cport_addr *a, bool peer); /* getpeername if peer */
int cport__os_sock_nodelay(cport_fd fd, int on);
int cport__os_sock_keepalive(cport_fd fd, int on, uint32_t idle_s);
int cport__os_sock_close(cport_fd fd);

#ifdef CPORT_HAVE_SIM
/*
 * sim.c: the socket helpers of cport.h section 6 make the simulation's sockets while a
 * sim port exists in the process (cport__sim_net), and the helpers that take a
 * descriptor act on the simulation's own ones (cport__sim_fd) wherever they are called.
 */
bool cport__sim_net(void);
bool cport__sim_fd(cport_fd fd);
int cport__sim_tcp_listen(cport_fd *out, const cport_addr *a, int backlog, uint32_t flags);
int cport__sim_tcp_socket(cport_fd *out, int family);
int cport__sim_udp_socket(cport_fd *out, const cport_addr *a, uint32_t flags);
int cport__sim_local_listen(cport_fd *out, const char *name, int backlog);
int cport__sim_local_connect(cport_fd *out, const char *name);
int cport__sim_sock_name(cport_fd fd, cport_addr *a, bool peer);
int cport__sim_sock_opt(cport_fd fd);
int cport__sim_sock_close(cport_fd fd);
#endif

/* error.c */
void cport__why(char *why, size_t n, const char *backend, const char *what, int err);

/*
 * A readiness poller under the reactor adapter (lib/backend/reactor.c): epoll, poll or
 * kqueue. Interest is one-shot (`sticky` false: poll, kqueue): a descriptor reported by
 * `wait` is disarmed and must be armed again to be reported again, so a descriptor with
 * no op waiting on it costs nothing. Or it is sticky (`sticky` true: epoll): level-
 * triggered and kept after a report, so a descriptor that keeps an op waiting costs no
 * call to re-arm it, and the reactor disarms (or arms for less) a descriptor reported
 * with nothing waiting for it. Every slot except `wake` runs on the port thread
 * (a shared port: under its mutex, but `wait`, which only its leader calls, without).
 */
enum {
	CPORT__EV_IN = 1u << 0,  /* readable (or at end of stream) */
	CPORT__EV_OUT = 1u << 1, /* writable */
	CPORT__EV_ERR = 1u << 2, /* error or hang-up: both sides should try again */
};

struct cport__pevent {
	int fd;
	unsigned events; /* CPORT__EV_* */
};

struct cport__poller {
	const char *name;
	bool sticky; /* interest survives a report (see above) */
	/* Create the poller in *p. Return 0, or an error and write why to `why`.
	 * `shared`: a shared port's (lib/shared.c): `wait` runs without the port's mutex
	 * while other threads arm and disarm under it (CPORT_ENOTSUP if it cannot). */
	int (*init)(void **p, bool shared, char *why, size_t n);
	void (*fini)(void *p);
	/* Report `fd` when one of `events` (CPORT__EV_IN/OUT) holds (once, or at every
	 * wait while it holds if sticky), replacing what was armed before. `added`: the fd
	 * was armed before and not disarmed since. */
	int (*arm)(void *p, int fd, unsigned events, bool added);
	/* Forget `fd` (cport_close calls this before closing it). */
	void (*disarm)(void *p, int fd);
	/* Wait up to timeout_ns (< 0 forever, 0 not at all) for armed descriptors or a
	 * wake; write at most `max` events. Returns the count (0 on timeout or wake) or
	 * an error. A wake is consumed here and not reported. */
	int (*wait)(void *p, struct cport__pevent *ev, unsigned max, int64_t timeout_ns);
	/* Make a `wait` in progress, or the next one, return; any thread. */
	void (*wake)(void *p);
};

/* backends and pollers */
extern const struct cport_backend cport__uring_backend;
extern const struct cport_backend cport__iocp_backend;
extern const struct cport_backend cport__epoll_backend;
extern const struct cport_backend cport__poll_backend;
extern const struct cport_backend cport__kqueue_backend;
extern const struct cport_backend cport__sim_backend;
extern const struct cport__poller cport__epoll_poller;
extern const struct cport__poller cport__poll_poller;
extern const struct cport__poller cport__kqueue_poller;

#endif /* CPORT_INTERNAL_H */
