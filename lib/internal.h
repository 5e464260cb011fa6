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
	CPORT__TYPE_MAX
};

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
};

/*
 * The private view of cport_op.internal. Common fields first; `be` is the backend's
 * own scratch space (io_uring: a timespec; IOCP: the OVERLAPPED).
 */
struct cport__op {
	uint32_t state;       /* CPORT__INFLIGHT from accepted submit to reap */
	uint8_t type;         /* enum cport__type */
	uint8_t xflags;       /* CPORT__X_* */
	uint16_t pending;     /* backend: completions still expected from the kernel */
	struct cport *port;   /* the port it was submitted to */
	cport_op *next;       /* ready list, remote stack, pool queue, retry list */
	cport_op *prev;       /* pool queue (cancel unlinks from the middle) */
	cport_fd fd;          /* the descriptor; the socket of a sendfile */
	uint32_t aux;         /* open/unlink/fsync/fallocate/timer/accept/recv/send flags,
	                         iovcnt, shutdown how, poll events */
	uint32_t mode;        /* open/mkdir mode; backend scratch for socket ops */
	void *buf;            /* buffer, iovec array, path, statbuf (fstat), cport_addr
	                         (accept peer, connect address), cport_msg */
	void *buf2;           /* second path (rename), statbuf (stat), sendfile's file
	                         descriptor (cast through uintptr_t) */
	uint64_t len;         /* bytes, timer ns, fallocate/ftruncate/sendfile length */
	int64_t offset;       /* file offset, or -1; sendfile: the file offset */
	uint64_t done;        /* bytes moved so far (short-transfer retry) */
	uint64_t deadline;    /* timer heap (lib/timer.c): when it fires, cport_now_ns() */
	uint32_t heap_idx;    /* timer heap: non-zero while the op is in a heap */
	uint32_t spare_;
	cport_op *hchild;     /* timer heap links (an intrusive pairing heap) */
	cport_op *hnext;
	cport_op *hprev;
	union {
		uint64_t words[7];
		struct {
			int64_t tv_sec, tv_nsec;
		} ts;
#ifdef _WIN32
		/* IOCP: the kernel's view of the op; a completion's OVERLAPPED pointer
		 * leads back to the op by address arithmetic (lib/backend/iocp.c). */
		OVERLAPPED ov;
#endif
	} be;
};

#ifdef _WIN32
_Static_assert(sizeof(OVERLAPPED) <= sizeof(((struct cport__op *)0)->be.words),
	       "the OVERLAPPED must fit the op's backend area");
#endif

_Static_assert(sizeof(struct cport__op) <= sizeof(((cport_op *)0)->internal),
	       "cport__op must fit cport_op.internal");
_Static_assert(sizeof(cport_op) == 224, "cport_op ABI size");
_Static_assert(sizeof(cport_statbuf) == 256, "cport_statbuf ABI size");

static inline struct cport__op *cport__x(cport_op *op)
{
	return (struct cport__op *)(void *)op->internal;
}

/* Ops that act on a descriptor (opx.fd is meaningful). */
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
	case CPORT__TYPE_MAX:
		return false;
	default:
		return true;
	}
}

/* A FIFO of ops linked through opx.next; used by one thread. */
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

/*
 * The backend interface: one table per backend, chosen at cport_create and never
 * switched on a live port. Every slot is called on the port's submitting thread except
 * `wake`, which any thread may call.
 */
struct cport_backend {
	const char *name;
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
	 * completed or was posted. Completed ops go to out[0..max) (the return value
	 * counts them); once `max` is reached, further completions may stay in the
	 * kernel or go to port->ready. Return the count, or an error. */
	int (*reap)(struct cport *port, cport_op **out, unsigned max, int64_t timeout_ns);
	/* Wake a thread blocked in reap; any thread, async-signal-unsafe is fine. */
	void (*wake)(struct cport *port);
	/* Optional (NULL: nothing to do): an op that another thread completed (the pool)
	 * reached the port thread and is about to go on the ready list (not posts). */
	void (*remote_done)(struct cport *port, cport_op *op);
};

struct cport__pool;

struct cport {
	const struct cport_backend *be;
	void *impl;                 /* the backend's state */
	struct cport__queue ready;  /* completed ops waiting to be reaped */
	uint64_t inflight;          /* accepted and not yet reaped (port thread only) */
	_Atomic(cport_op *) remote; /* LIFO of ops completed by other threads */
	atomic_bool sleeping;       /* the port thread is (about to be) blocked in reap */
	atomic_bool notified;       /* a wake is on its way; cleared by the backend */
	struct cport__pool *pool;   /* created on first use */
	uint32_t pool_threads;
	char reason[256];           /* why preferred backends were refused */
};

/* port.c: completion paths */
void cport__complete(struct cport *port, cport_op *op, int64_t result); /* port thread */
void cport__complete_remote(struct cport *port, cport_op *op);          /* any thread */
bool cport__remote_pending(struct cport *port);
bool cport__sleep_begin(struct cport *port); /* false: don't sleep, work is waiting */
void cport__sleep_end(struct cport *port);
void cport__drain_remote(struct cport *port);

/* threadpool.c: blocking work for ops a backend cannot do without blocking */
int cport__pool_start(struct cport *port, cport_op *op);
bool cport__pool_cancel(struct cport *port, cport_op *op);
void cport__pool_destroy(struct cport *port);
int64_t cport__blocking_run(cport_op *op);
void cport__pool_cancel_fd(struct cport *port, cport_fd fd); /* close cancels */
void cport__pool_take_fd(struct cport *port, cport_fd fd, struct cport__queue *out);

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
uint64_t cport__win_closes(void); /* closes so far (a handle value may be reused) */
#endif

/* addr.c: the sockaddr family a cport_addr holds (AF_UNSPEC if none) */
int cport__addr_sa_family(const cport_addr *a);

/* error.c */
void cport__why(char *why, size_t n, const char *backend, const char *what, int err);

/*
 * A readiness poller under the reactor adapter (lib/backend/reactor.c): epoll, poll or
 * kqueue. Interest is one-shot (`sticky` false: poll, kqueue): a descriptor reported by
 * `wait` is disarmed and must be armed again to be reported again, so a descriptor with
 * no op waiting on it costs nothing. Or it is sticky (`sticky` true: epoll): level-
 * triggered and kept after a report, so a descriptor that keeps an op waiting costs no
 * call to re-arm it, and the reactor disarms (or arms for less) a descriptor reported
 * with nothing waiting for it. Every slot except `wake` runs on the port thread.
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
	/* Create the poller in *p. Return 0, or an error and write why to `why`. */
	int (*init)(void **p, char *why, size_t n);
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
extern const struct cport__poller cport__epoll_poller;
extern const struct cport__poller cport__poll_poller;
extern const struct cport__poller cport__kqueue_poller;

#endif /* CPORT_INTERNAL_H */
