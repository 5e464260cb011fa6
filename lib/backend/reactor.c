/* SPDX-License-Identifier: MIT */
/* The reactor adapter: completion-port semantics emulated on a readiness poller. */

/*
 * Map
 *   1. State (the per-descriptor queues live in lib/fdstate.c)
 *   2. Try once: each descriptor op kind's non-blocking attempt
 *   3. Descriptor ops: submit, run on readiness, arm, fail, close
 *   4. The table slots, and one backend table per poller (epoll, kqueue, poll)
 * Timers and timeouts are the port's deadline heap (lib/timer.c).
 *
 * How each op runs:
 *   - nop completes at once; a timer waits in the deadline heap;
 *   - a read or write with offset -1 is a "descriptor op" on a stream (pipe, TTY,
 *     socket): it is tried at once without blocking; on EAGAIN it waits in its
 *     descriptor's read-side or write-side FIFO, the poller is armed, and readiness
 *     runs the queue from its head until an op gets EAGAIN again. Only the head of a
 *     queue is ever tried, which is what keeps writes whole, in order and never
 *     interleaved, and makes several reads fill in submission order (docs/contract.md rule 4);
 *   - everything else (positional file I/O, fsync, open, stat, the directory ops, a
 *     lock's tries, ...) runs on the thread pool, because it can only be done blocking
 *     (lib/threadpool.c makes a waiting lock out of tries); so does cport_close, except
 *     on a descriptor that had descriptor ops, which is closed at once (section 3).
 *     Positional file I/O first moves what the page cache holds on the port thread
 *     without blocking (cport__os_try: RWF_NOWAIT); only the rest goes to the pool.
 * Socket ops are descriptor ops too: recv, recvmsg and accept wait on the read side;
 * send, sendmsg, sendfile, connect and a shutdown that stops sending on the write side
 * (so a shutdown follows the sends before it); cport_poll ops wait in a third queue
 * where each is tried on every report, in no order. A multishot accept stays at the
 * head of its queue and completes with CPORT_MORE once per connection; while such a
 * completion is with the caller (CPORT__X_UNREAPED) it is not tried again.
 * Pool receives (cport_recv_pool) are read-side ops too: a try takes a pool buffer only
 * then, receives into it, and gives it back at once if nothing came (libuv's
 * alloc-on-ready), so a receive waiting for data holds no buffer; a multishot one stays
 * at the head like a multishot accept.
 *
 * Pollers are one-shot or sticky (struct cport__poller in internal.h). One-shot (poll,
 * kqueue): a reported descriptor is armed again only while an op still waits on it, so
 * idle descriptors cost nothing. Sticky (epoll): interest stays armed after a report and
 * is only trimmed when a report finds nothing waiting for it, so a descriptor read
 * message by message costs no re-arm call.
 * A read that found nothing (EAGAIN) marks its descriptor's read side "wait first": the
 * next reads there are not tried at submit (that try would most likely find nothing
 * again: a request/response peer has not answered yet) but wait for a report. If the
 * very next poller wait reports the side anyway, the data was there already, and reads
 * are tried at submit again until the next EAGAIN. Every poller is level-triggered, so
 * a wrong guess costs one poller wait, never a lost wake-up.
 * Memory: the descriptor table (fdstate.c) grows by doubling up to the largest open
 * descriptor used; the deadline heaps live in the ops; nothing is allocated per op.
 */

#include "../internal.h"
#include "../unix.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sendfile.h>
#endif

#define REACTOR_EVENTS 256 /* readiness events taken per poller wait */
#define REACTOR_HELD 64    /* multishot ops retried at the next reap without a report */
#define REACTOR_SKIPS 1    /* reaps in a row that may skip the poller (ready work) */

/* ---- 1. State ---------------------------------------------------------------------- */

/* What a descriptor is, for cport_read / cport_write: a socket takes recv/send with
 * MSG_DONTWAIT, which need no O_NONBLOCK (so no fcntl, ever); anything else is read
 * and written non-blocking (reactor_nonblock). Learnt from the first recv (ENOTSOCK);
 * a stale guess after a close behind cport's back only costs that ENOTSOCK again, or
 * an fcntl, never a blocking call. */
enum { REACTOR_KIND_UNKNOWN, REACTOR_KIND_SOCK, REACTOR_KIND_OTHER };

/* The descriptor queues and close-cancels live in the descriptor engine (fdstate.c,
 * port->fdt); the reactor keeps its readiness state in each entry's eng.r. */
struct reactor {
	const struct cport__poller *poller;
	void *p;                 /* the poller's state */
	int held[REACTOR_HELD];  /* descriptors whose multishot op just completed */
	unsigned nheld;
	unsigned skips;          /* reaps since the poller was last asked */
	uint32_t waits;          /* poller waits so far (wraps; see rd_skipped) */
	struct cport__pevent ev[REACTOR_EVENTS];
};

static struct reactor *reactor_of(cport *port)
{
	return port->impl;
}

/* The descriptor state of an op already accepted (its entry exists). */
static struct cport__fd *reactor_fd(cport *port, int fd)
{
	struct cport__fd *f = cport__fd_find(port, fd);
	assert(f);
	return f;
}

static enum cport__side reactor_side(const struct cport__op *x)
{
	return cport__op_side(x, true);
}

/* The engine's overlay of an op's scratch words: what a pool receive's try lent. */
struct reactor_x {
	uint32_t cflags; /* CPORT_BUF and the buffer id when the last try brought data */
};
CPORT__BE_FITS(struct reactor_x);

static struct reactor_x *rx(cport_op *op)
{
	return (struct reactor_x *)(void *)&cport__x(op)->be;
}

/* A multishot op completes once more and stays at the head of its queue. */
static void reactor_more(cport *port, cport_op *op, int64_t result)
{
	struct reactor *r = reactor_of(port);
	struct cport__op *x = cport__x(op);
	x->xflags |= CPORT__X_UNREAPED;
	op->cflags = CPORT_MORE | rx(op)->cflags;
	cport__complete(port, op, result);
	/* A receive that did not fill its pool buffer has most likely emptied the socket
	 * (libuv stops reading on a short read too): the next try would find nothing (an
	 * EAGAIN per message cost ~3 us a round trip). The side stays armed while the op
	 * heads it, and the pollers are level-triggered, so bytes left are reported. */
	if (x->type == CPORT__RECV_POOL && result < cport__bufpool_get(port, x->mode)->size)
		return;
	/* Try it again at the next reap, once the caller has taken this completion, rather
	 * than wait for a report: one accept per wait would otherwise cost one poller
	 * call each. If the list is full, the report does it. */
	for (unsigned i = 0; i < r->nheld; i++)
		if (r->held[i] == x->fd)
			return;
	if (r->nheld < REACTOR_HELD)
		r->held[r->nheld++] = x->fd;
}

/* ---- 2. Try once ------------------------------------------------------------------- */

/* What a try returns when the op must wait for readiness (no CPORT_E* is this low). */
#define REACTOR_WAIT INT64_MIN

static int64_t reactor_errno(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK ? REACTOR_WAIT : -errno;
}

/* recvmsg into `iov`: the msghdr lives in the cport_msg's scratch space. */
static ssize_t reactor_recvmsg_iov(int fd, cport_msg *m, struct iovec *iov, size_t iovcnt)
{
	ssize_t n = cport__sys.recvmsg(fd, cport__unix_msg_recv(m, iov, iovcnt), MSG_DONTWAIT);
	if (n >= 0)
		cport__unix_msg_received(m);
	return n;
}

static ssize_t reactor_recvmsg(struct cport__op *x)
{
	cport_msg *m = x->buf;
	return reactor_recvmsg_iov(x->fd, m, (struct iovec *)(void *)m->iov, m->iovcnt);
}

/*
 * Pipes, TTYs, listening and connecting sockets need O_NONBLOCK for the try. It is
 * checked (one fcntl) whenever such a descriptor gets an op while none waits on it, so
 * one closed and reused behind cport's back is never tried blocking, and it is left
 * set afterwards, as libuv does.
 */
static int reactor_nonblock(int fd)
{
	int fl = cport__sys.fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && cport__sys.fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* A socket (kind SOCK or not yet known) or not: see REACTOR_KIND_*. Returns true
 * if `n` is the answer of the socket call, false to do the plain call instead. */
static bool reactor_as_socket(struct cport__fd_reactor *f, int fd, ssize_t n)
{
	if (n >= 0 || errno != ENOTSOCK) {
		if (n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK)
			f->kind = REACTOR_KIND_SOCK;
		return true;
	}
	f->kind = REACTOR_KIND_OTHER;
	int err = reactor_nonblock(fd);
	if (err < 0) {
		errno = -err;
		return true; /* n is -1: fail with the fcntl's error */
	}
	return false;
}

/* cport_read at offset -1: recv on a socket, else read. */
static ssize_t reactor_read_plain(struct cport__fd_reactor *f, struct cport__op *x)
{
	if (f->kind != REACTOR_KIND_OTHER) {
		ssize_t n = cport__sys.recv(x->fd, x->buf, (size_t)x->len, MSG_DONTWAIT);
		if (reactor_as_socket(f, x->fd, n))
			return n;
	}
	return cport__sys.read(x->fd, x->buf, (size_t)x->len);
}

/* A stream read: whatever is there (>= 1 byte), 0 at end of stream; a datagram. */
static int64_t reactor_try_read(struct cport__fd_reactor *f, struct cport__op *x)
{
	ssize_t n;
	do {
		if (x->type == CPORT__READ)
			n = reactor_read_plain(f, x);
		else if (x->type == CPORT__READV)
			n = cport__sys.readv(x->fd, x->buf, (int)x->aux);
		else if (x->type == CPORT__RECV)
			n = cport__sys.recv(x->fd, x->buf, (size_t)x->len, MSG_DONTWAIT);
		else
			n = reactor_recvmsg(x);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? reactor_errno() : n;
}

#define REACTOR_SEND_FLAGS (MSG_NOSIGNAL | MSG_DONTWAIT) /* EPIPE, never SIGPIPE */

/* sendmsg from where the op got to: the whole message (with its address) the first
 * time; after a short stream send, the rest, as plain stream bytes. */
static ssize_t reactor_sendmsg(struct cport__op *x)
{
	cport_msg *m = x->buf;
	const struct iovec *iov = (const struct iovec *)(const void *)m->iov;
	struct msghdr *mh = (struct msghdr *)(void *)m->internal_;
	uint64_t skip;
	unsigned i = cport__iov_at(m->iov, m->iovcnt, x->done, &skip);
	if (i == m->iovcnt)
		i = 0; /* nothing to send (all empty): the message as it is, once */
	if (skip)
		return cport__sys.send(x->fd, (const char *)iov[i].iov_base + skip,
			    (size_t)(iov[i].iov_len - skip), REACTOR_SEND_FLAGS);
	memset(mh, 0, sizeof *mh);
	if (m->addr && x->done == 0) {
		mh->msg_name = m->addr->storage;
		mh->msg_namelen = m->addr->len;
	}
	mh->msg_iov = (struct iovec *)iov + i;
	mh->msg_iovlen = m->iovcnt - i;
	return cport__sys.sendmsg(x->fd, mh, REACTOR_SEND_FLAGS);
}

/* One write from where the op got to: the rest of the buffer, or of the iovecs. */
static ssize_t reactor_write_some(struct cport__fd_reactor *f, struct cport__op *x)
{
	/* No arithmetic on a NULL buffer (length 0 allows one). */
	const char *p = x->buf ? (const char *)x->buf + x->done : NULL;
	size_t left = (size_t)(x->len - x->done);
	if (x->type == CPORT__WRITE && f->kind != REACTOR_KIND_OTHER) {
		ssize_t n = cport__sys.send(x->fd, p, left, REACTOR_SEND_FLAGS);
		if (reactor_as_socket(f, x->fd, n))
			return n;
	}
	if (x->type == CPORT__WRITE)
		return cport__sys.write(x->fd, p, left);
	if (x->type == CPORT__SEND)
		return cport__sys.send(x->fd, p, left, REACTOR_SEND_FLAGS);
	if (x->type == CPORT__SENDMSG)
		return reactor_sendmsg(x);
	const struct iovec *iov = x->buf;
	uint64_t skip;
	unsigned i = cport__iov_at(x->buf, x->aux, x->done, &skip);
	if (i == x->aux)
		return 0; /* every element empty: nothing to write */
	if (skip)
		return cport__sys.write(x->fd, (const char *)iov[i].iov_base + skip,
			     (size_t)(iov[i].iov_len - skip));
	return cport__sys.writev(x->fd, iov + i, (int)(x->aux - i));
}

/* A stream write or send: all bytes or an error, progress kept in opx.done across
 * tries. Called at least once, so an empty datagram is sent. */
static int64_t reactor_try_write(struct cport__fd_reactor *f, struct cport__op *x)
{
	for (;;) {
		ssize_t n = x->done < x->len || x->len == 0 ? reactor_write_some(f, x) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return reactor_errno();
		x->done += (uint64_t)n;
		if (x->done >= x->len)
			return (int64_t)x->len;
		if (n == 0)
			return REACTOR_WAIT; /* nothing taken: wait until writable */
	}
}

static int64_t reactor_try_accept(struct cport__op *x)
{
	cport_addr *peer = x->buf;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fd;
	do {
		fd = cport__sys.accept4(x->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return reactor_errno();
	if (peer) {
		memset(peer, 0, sizeof *peer);
		/* A local stream's peer is unnamed: report it empty. */
		if (len > sizeof(sa_family_t) && len <= sizeof peer->storage) {
			memcpy(peer->storage, &ss, len);
			peer->len = len;
		}
	}
	return fd;
}

/* A non-blocking connect: started on the first try (opx.done = 1 from then on), found
 * finished when the socket turns writable. */
static int64_t reactor_try_connect(struct cport__op *x)
{
	if (x->done == 0) {
		const cport_addr *a = x->buf;
		x->done = 1;
		if (cport__sys.connect(x->fd, (const struct sockaddr *)(const void *)a->storage, a->len) == 0)
			return 0;
		/* EINTR: the connect goes on in the background, as with EINPROGRESS. EAGAIN
		 * (a local server's full backlog) is the op's result, not a wait. */
		return errno == EINPROGRESS || errno == EINTR ? REACTOR_WAIT : -errno;
	}
	int err = 0;
	socklen_t l = sizeof err;
	if (cport__sys.getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		return -errno;
	if (err)
		return -err;
	struct pollfd p = {.fd = x->fd, .events = POLLOUT};
	return cport__sys.poll(&p, 1, 0) == 1 ? 0 : REACTOR_WAIT;
}

/* sendfile: until `len` bytes went or end of file (a shorter result). */
static int64_t reactor_try_sendfile(struct cport__op *x)
{
	int file = (int)(uintptr_t)x->buf2;
	while (x->done < x->len) {
		off_t off = (off_t)(x->offset + (int64_t)x->done);
		size_t want = (size_t)(x->len - x->done);
#ifdef __linux__
		ssize_t n = cport__sys.sendfile(x->fd, file, &off, want);
#else
		/* No portable sendfile: through a stack buffer. A short send re-reads the
		 * rest from the file next time. */
		char chunk[16384];
		ssize_t n = pread(file, chunk, want < sizeof chunk ? want : sizeof chunk, off);
		if (n > 0)
			n = cport__sys.send(x->fd, chunk, (size_t)n, REACTOR_SEND_FLAGS);
#endif
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return reactor_errno();
		if (n == 0)
			break; /* end of file */
		x->done += (uint64_t)n;
	}
	return (int64_t)x->done;
}

/* cport_poll events <-> poll(2) events (equal on Linux, not everywhere). */
static short reactor_poll_events(uint32_t ev)
{
	short e = 0;
	e |= ev & CPORT_POLL_IN ? POLLIN : 0;
	e |= ev & CPORT_POLL_PRI ? POLLPRI : 0;
	e |= ev & CPORT_POLL_OUT ? POLLOUT : 0;
#ifdef POLLRDHUP
	e |= ev & CPORT_POLL_RDHUP ? POLLRDHUP : 0;
#endif
	return e;
}

static int64_t reactor_try_poll(struct cport__op *x)
{
	struct pollfd p = {.fd = x->fd, .events = reactor_poll_events(x->aux)};
	int n;
	do
		n = cport__sys.poll(&p, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : REACTOR_WAIT;
	if (p.revents & POLLNVAL)
		return CPORT_EBADF;
	int64_t r = 0;
	r |= p.revents & POLLIN ? CPORT_POLL_IN : 0;
	r |= p.revents & POLLPRI ? CPORT_POLL_PRI : 0;
	r |= p.revents & POLLOUT ? CPORT_POLL_OUT : 0;
	r |= p.revents & POLLERR ? CPORT_POLL_ERR : 0;
	r |= p.revents & POLLHUP ? CPORT_POLL_HUP : 0;
#ifdef POLLRDHUP
	r |= p.revents & POLLRDHUP ? CPORT_POLL_RDHUP : 0;
#endif
	return r;
}

/* shutdown(2)'s `how` is CPORT_SHUT_* - 1 (SHUT_RD 0, SHUT_WR 1, SHUT_RDWR 2). */
static int64_t reactor_try_shutdown(struct cport__op *x)
{
	return cport__sys.shutdown(x->fd, (int)x->aux - 1) < 0 ? -errno : 0;
}

/* A pool receive with no free buffer: CPORT_ENOBUFS if there is something to take
 * (data, end of stream, an error: a receive would not wait), else wait. Nothing is
 * taken from the descriptor. */
static int64_t reactor_pool_dry(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n;
	do
		n = cport__sys.poll(&p, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? REACTOR_WAIT : CPORT_ENOBUFS;
}

/* A pool receive: a buffer only now, when the descriptor was reported readable (or at
 * the try at submit); data lends it to the caller (rx(op)->cflags), anything else gives
 * it back at once. */
static int64_t reactor_try_pool(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__bufpool *bp = cport__bufpool_get(port, x->mode);
	assert(bp && !bp->kernel);
	rx(op)->cflags = 0;
	int id = cport__bufpool_take(bp);
	if (id < 0)
		return reactor_pool_dry(x->fd);
	char *p = bp->mem + (size_t)id * bp->size;
	ssize_t n;
	do {
		struct iovec iov = {.iov_base = p, .iov_len = bp->size};
		if (x->type == CPORT__RECV_POOL)
			n = cport__sys.recv(x->fd, p, bp->size, MSG_DONTWAIT);
		else
			n = reactor_recvmsg_iov(x->fd, x->buf, &iov, 1);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		int64_t res = n < 0 ? reactor_errno() : 0;
		cport__bufpool_untake(port, bp, (uint32_t)id);
		return res;
	}
	rx(op)->cflags = cport__bufpool_lend(bp, (uint32_t)id);
	return n;
}

/* Try a descriptor op without blocking: REACTOR_WAIT to wait for readiness and be
 * tried again, else its final result. */
static int64_t reactor_try(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd_reactor *f = &reactor_fd(port, x->fd)->eng.r;
	switch ((enum cport__type)x->type) {
	case CPORT__READ:
	case CPORT__READV:
	case CPORT__RECV:
	case CPORT__RECVMSG:
		return reactor_try_read(f, x);
	case CPORT__WRITE:
	case CPORT__WRITEV:
	case CPORT__SEND:
	case CPORT__SENDMSG:
		return reactor_try_write(f, x);
	case CPORT__ACCEPT:
		return reactor_try_accept(x);
	case CPORT__CONNECT:
		return reactor_try_connect(x);
	case CPORT__SENDFILE:
		return reactor_try_sendfile(x);
	case CPORT__POLL:
		return reactor_try_poll(x);
	case CPORT__SHUTDOWN:
		return reactor_try_shutdown(x);
	case CPORT__RECV_POOL:
	case CPORT__RECVMSG_POOL:
		return reactor_try_pool(port, op);
	default:
		assert(!"not a descriptor op");
		return CPORT_ENOSYS;
	}
}

/* ---- 3. Descriptor ops ------------------------------------------------------------- */

/* What the cport_poll ops waiting on a descriptor need to hear about. Errors and
 * hang-ups are reported whatever is armed (CPORT__EV_ERR alone arms just those). */
static unsigned reactor_poll_want(const struct cport__list *po)
{
	unsigned want = 0;
	for (cport_op *op = po->head; op; op = cport__list_next(op)) {
		uint32_t ev = cport__x(op)->aux;
		want |= ev & (CPORT_POLL_IN | CPORT_POLL_PRI | CPORT_POLL_RDHUP) ? CPORT__EV_IN : 0u;
		want |= ev & CPORT_POLL_OUT ? CPORT__EV_OUT : 0u;
	}
	return want ? want : po->head ? CPORT__EV_ERR : 0u;
}

/* What the ops waiting on a descriptor need to hear about (CPORT__EV_*). */
static unsigned reactor_want(const struct cport__fd *f)
{
	unsigned want = (f->q[CPORT__SIDE_RECV].head ? CPORT__EV_IN : 0u) |
			(f->q[CPORT__SIDE_SEND].head ? CPORT__EV_OUT : 0u);
	want |= reactor_poll_want(&f->q[CPORT__SIDE_POLL]);
	if (want & (CPORT__EV_IN | CPORT__EV_OUT))
		want &= ~(unsigned)CPORT__EV_ERR;
	return want;
}

/* Tell the poller to report `want` for `fd`, or forget it when `want` is 0. */
static int reactor_set(cport *port, int fd, unsigned want)
{
	struct reactor *r = reactor_of(port);
	struct cport__fd_reactor *k = &reactor_fd(port, fd)->eng.r;
	if (want == 0) {
		r->poller->disarm(r->p, fd);
		k->added = false;
		k->armed = 0;
		return 0;
	}
	int err = r->poller->arm(r->p, fd, want, k->added);
	if (err < 0)
		return err;
	k->armed = (uint8_t)want;
	k->added = true;
	return 0;
}

/* Arm the poller for what the ops waiting on `fd` need, if not armed already. */
static int reactor_arm(cport *port, int fd)
{
	struct cport__fd *f = reactor_fd(port, fd);
	unsigned want = reactor_want(f);
	if (want == 0 || (want & ~(unsigned)f->eng.r.armed) == 0)
		return 0;
	return reactor_set(port, fd, want);
}

/* Complete every op waiting on `fd` with `result` (the poller refused it). */
static void reactor_fail_fd(cport *port, int fd, int64_t result)
{
	struct cport__fd *f = reactor_fd(port, fd);
	for (int s = 0; s < CPORT__SIDES; s++)
		while (f->q[s].head)
			cport__fd_drop(port, f->q[s].head, result);
}

/* Run a side from its head until an op must wait. A multishot op completes and stays
 * at the head; it is not tried while that completion is still with the caller. */
static void reactor_run(cport *port, struct cport__list *q)
{
	cport_op *op;
	while ((op = q->head) != NULL) {
		struct cport__op *x = cport__x(op);
		if (x->xflags & CPORT__X_UNREAPED)
			return;
		int64_t res = reactor_try(port, op);
		if (res == REACTOR_WAIT)
			return;
		if (cport__multishot_more(x, res)) {
			reactor_more(port, op, res);
			return;
		}
		cport__fd_end(port, op, res, rx(op)->cflags);
	}
}

/* cport_poll ops wait for different things: each is tried, in no order. */
static void reactor_run_poll(cport *port, struct cport__list *po)
{
	for (cport_op *op = po->head, *next; op; op = next) {
		next = cport__list_next(op);
		int64_t res = reactor_try(port, op);
		if (res != REACTOR_WAIT)
			cport__fd_drop(port, op, res);
	}
}

/* After a report, on a sticky poller: a side reported while nothing waited on it (a
 * cancelled op, writes done, a hang-up) would be reported at every wait from now on,
 * so arm for just what waits now, or forget the descriptor if nothing does. A side
 * whose op just completed stays armed: its next op usually follows at once. */
static int reactor_trim(cport *port, int fd, unsigned events, unsigned had)
{
	if (had != 0 && (events & ~had & (CPORT__EV_IN | CPORT__EV_OUT)) == 0)
		return reactor_arm(port, fd);
	return reactor_set(port, fd, reactor_want(reactor_fd(port, fd)));
}

/* The poller reported `fd`: run its queues, then arm again for what still waits. */
static void reactor_ready(cport *port, int fd, unsigned events)
{
	struct reactor *r = reactor_of(port);
	struct cport__fd *f = cport__fd_find(port, fd);
	if (fd < 0 || !f)
		return;
	unsigned had = reactor_want(f);
	if (!r->poller->sticky)
		f->eng.r.armed = 0; /* one-shot: the whole registration fired */
	if (events & (CPORT__EV_IN | CPORT__EV_ERR)) {
		/* Reported in the first wait after a read skipped its try: that try would
		 * have found data, so reads are tried at submit again. */
		if (f->eng.r.rd_skipped == r->waits)
			f->eng.r.rd_wait = false;
		f->eng.r.rd_skipped = 0;
		reactor_run(port, &f->q[CPORT__SIDE_RECV]);
	}
	if (events & (CPORT__EV_OUT | CPORT__EV_ERR))
		reactor_run(port, &f->q[CPORT__SIDE_SEND]);
	reactor_run_poll(port, &f->q[CPORT__SIDE_POLL]);
	int err = r->poller->sticky ? reactor_trim(port, fd, events, had) : reactor_arm(port, fd);
	if (err < 0)
		reactor_fail_fd(port, fd, err);
}

/* Does this op need the descriptor non-blocking (see REACTOR_KIND_*)? Socket ops that
 * take MSG_DONTWAIT, and cport_read / cport_write on what may be a socket, do not. */
static bool reactor_wants_nonblock(const struct cport__fd_reactor *f, const struct cport__op *x)
{
	switch ((enum cport__type)x->type) {
	case CPORT__READ:
	case CPORT__WRITE:
		return f->kind == REACTOR_KIND_OTHER;
	case CPORT__READV:
	case CPORT__WRITEV:
	case CPORT__ACCEPT:
	case CPORT__CONNECT:
	case CPORT__SENDFILE:
		return true;
	default:
		return false;
	}
}

/* A read of bytes or a datagram (not an accept): what "wait first" applies to. */
static bool reactor_is_read(const struct cport__op *x)
{
	return reactor_side(x) == CPORT__SIDE_RECV && x->type != CPORT__ACCEPT;
}

/* The first try, at submit, when nothing waits ahead of the op (poll ops: always) and
 * the read side is not marked "wait first" (see the top of this file). Returns true if
 * the op completed (and is not to be queued). */
static bool reactor_try_first(cport *port, cport_op *op, struct cport__fd *f)
{
	struct reactor *r = reactor_of(port);
	struct cport__op *x = cport__x(op);
	enum cport__side s = reactor_side(x);
	if (f->q[s].head && s != CPORT__SIDE_POLL)
		return false;
	bool read = reactor_is_read(x);
	if (read && f->eng.r.rd_wait) {
		f->eng.r.rd_skipped = r->waits + 1;
		return false;
	}
	int64_t res = reactor_try(port, op);
	if (res == REACTOR_WAIT) {
		f->eng.r.rd_wait = f->eng.r.rd_wait || read;
		return false;
	}
	if (cport__multishot_more(x, res)) {
		/* Stays at the head of its side, armed for the next connection or data. */
		cport__fd_enqueue(port, f, s, op);
		reactor_more(port, op, res);
		int err = reactor_arm(port, x->fd);
		if (err < 0)
			cport__fd_drop(port, op, err);
		return true;
	}
	op->cflags = rx(op)->cflags; /* a pool buffer with data, or 0 */
	cport__complete(port, op, res);
	return true;
}

/*
 * Pipes, TTYs, listening and connecting sockets need O_NONBLOCK for the try. It is
 * checked (one fcntl) the first time such an op meets the descriptor, and whenever it
 * meets it idle (so one closed and reused behind cport's back is never tried
 * blocking), and left set afterwards, as libuv does. An op queued behind others is
 * checked too: a readv behind a waiting recv must not block the port thread.
 */
static int reactor_prepare(struct cport__fd *f, const struct cport__op *x)
{
	bool idle = !f->q[0].head && !f->q[1].head && !f->q[2].head;
	if (!reactor_wants_nonblock(&f->eng.r, x) || (f->eng.r.nonblock && !idle))
		return 0;
	int err = reactor_nonblock(x->fd);
	if (err == 0)
		f->eng.r.nonblock = true;
	return err;
}

static int reactor_fd_start(cport *port, cport_op *op, struct cport__fd *f)
{
	struct cport__op *x = cport__x(op);
	int err = reactor_prepare(f, x);
	if (err < 0)
		return err;
	f->stream = true;
	if (reactor_try_first(port, op, f))
		return 0;
	/* Accepted from here on: bytes may already have moved, so a failure to wait is
	 * the op's result, not a rejection. */
	cport__fd_enqueue(port, f, reactor_side(x), op);
	err = reactor_arm(port, x->fd);
	if (err < 0)
		cport__fd_drop(port, op, err);
	return 0;
}

/* Pool ops (their timeouts: see cport.h's thread-pool notes). */
static int reactor_pool_start(cport *port, cport_op *op)
{
	return cport__pool_start(port, op);
}

/* Close cancels (docs/contract.md rule 8), the reactor's part: the descriptor engine has
 * cancelled what waited and waited for what ran; now forget the descriptor in the
 * poller and close it. A stream's close runs here at once (it does not block, and its
 * completion then comes before what the close causes, such as end of stream at the
 * other end of a pipe); any other descriptor's on the pool (closing a file can flush
 * it). Until the close completes, new ops on the descriptor are refused. */
static void reactor_close_run(cport *port, cport_op *op)
{
	struct reactor *r = reactor_of(port);
	int fd = cport__x(op)->fd;
	struct cport__fd *f = reactor_fd(port, fd);
	if (f->eng.r.added)
		r->poller->disarm(r->p, fd);
	f->eng.r.added = false;
	f->eng.r.armed = 0;
	if (!f->stream && reactor_pool_start(port, op) == 0)
		return; /* the pool completes it: reactor_remote_done */
	int64_t res = cport__unix_close(fd);
	cport__fd_close_end(port, fd);
	cport__complete(port, op, res);
}

static int reactor_close_start(cport *port, cport_op *op, struct cport__fd *f)
{
	if (cport__fd_close_begin(port, f, op))
		reactor_close_run(port, op);
	return 0;
}

/* ---- 4. The table slots ------------------------------------------------------------ */

static int reactor_init(cport *port, const struct cport__poller *poller, bool shared,
			char *why, size_t n)
{
	struct reactor *r = calloc(1, sizeof *r);
	if (!r)
		return CPORT_ENOMEM;
	r->poller = poller;
	int err = poller->init(&r->p, shared, why, n);
	if (err < 0) {
		free(r);
		return err;
	}
	port->impl = r;
	return 0;
}

/* The pool is already stopped (cport_destroy stops it first); ops waiting here are
 * simply forgotten: nothing touches them or their buffers again. In a forked child the
 * poller's descriptor is the child's copy: closing it leaves the parent's registrations
 * alone (no disarm is made). */
static void reactor_fini(cport *port)
{
	struct reactor *r = reactor_of(port);
	r->poller->fini(r->p);
	free(r);
	port->impl = NULL;
}

static int reactor_start(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd *f = NULL;
	if (cport__has_fd(x->type)) {
		int err = cport__fd_get(port, x->fd, &f);
		if (err < 0)
			return err;
	}
	switch ((enum cport__type)x->type) {
	case CPORT__NOP:
		cport__complete(port, op, 0);
		return 0;
	case CPORT__TIMER:
		return cport__timer_start(port, op);
	case CPORT__CLOSE:
		return reactor_close_start(port, op, f);
	case CPORT__SHUTDOWN:
		if (x->aux == CPORT_SHUT_RD) {
			cport__complete(port, op, reactor_try_shutdown(x));
			return 0;
		}
		break;
	default:
		break;
	}
	if (reactor_side(x) != CPORT__SIDE_NONE)
		return reactor_fd_start(port, op, f);
	/* Positional file I/O: what the page cache holds moves here at once, without
	 * blocking (RWF_NOWAIT), the rest on the pool. An op with CPORT_OP_INLINE had
	 * this try (and more) in op_submit already. */
	if (!(op->flags & CPORT_OP_INLINE) && cport__os_try(port, op, f, false))
		return 0;
	if (f)
		cport__fd_started(port, f, op); /* the close waits for it (busy) */
	int err = reactor_pool_start(port, op);
	if (err < 0 && f)
		cport__fd_finished(port, op);
	return err;
}

/* cport_route: the decision reactor_start makes (and reactor_close_run, for a close). */
static int reactor_route(cport *port, const struct cport__op *x, struct cport__fd *f)
{
	(void)port;
	switch ((enum cport__type)x->type) {
	case CPORT__NOP:
	case CPORT__TIMER:
		return CPORT_ROUTE_LOCAL;
	case CPORT__CLOSE:
		assert(f); /* port.c looked the descriptor up */
		return f->stream ? CPORT_ROUTE_LOCAL : CPORT_ROUTE_POOL;
	case CPORT__SHUTDOWN:
		if (x->aux == CPORT_SHUT_RD)
			return CPORT_ROUTE_LOCAL;
		break;
	default:
		break;
	}
	if (reactor_side(x) != CPORT__SIDE_NONE)
		return CPORT_ROUTE_REACTOR;
	return cport__os_try_route(f, x) ? CPORT_ROUTE_NOWAIT_POOL : CPORT_ROUTE_POOL;
}

static void reactor_cancel(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->xflags & CPORT__X_POOL) {
		cport__pool_cancel(port, op);
	} else if (x->type == CPORT__TIMER) {
		cport__timer_cancel(port, op);
	} else if (cport__fd_waiting(port, op)) {
		/* Still waiting in its queue (a multishot accept too, even while a completion
		 * is with the caller). The descriptor is left armed: a spurious report finds
		 * nothing to run. */
		cport__fd_drop(port, op, CPORT_ECANCELED);
	}
	/* Anything else already completed and waits to be reaped. */
}

static int reactor_flush(cport *port)
{
	(void)port; /* ops were tried when submitted: nothing is held back */
	return 0;
}

/* How long the poller may sleep: the caller's timeout, cut to the next deadline. */
static int64_t reactor_sleep_ns(cport *port, int64_t timeout_ns)
{
	if (cport__wait_done(port))
		return 0;
	return cport__deadlines_sleep_ns(port, timeout_ns);
}

/* Retry the multishot ops whose last completion the caller has taken since. */
static inline void reactor_resume(cport *port)
{
	struct reactor *r = reactor_of(port);
	int fds[REACTOR_HELD];
	unsigned n = r->nheld;
	if (n == 0)
		return;
	memcpy(fds, r->held, n * sizeof *fds);
	r->nheld = 0;
	for (unsigned i = 0; i < n; i++) {
		struct cport__fd *f = cport__fd_find(port, fds[i]);
		cport_op *head = f ? f->q[CPORT__SIDE_RECV].head : NULL;
		if (!head)
			continue; /* closed or cancelled since */
		if (cport__x(head)->xflags & CPORT__X_UNREAPED) {
			r->held[r->nheld++] = fds[i]; /* not taken yet: later */
			continue;
		}
		reactor_run(port, &f->q[CPORT__SIDE_RECV]);
		int err = reactor_arm(port, fds[i]);
		if (err < 0)
			reactor_fail_fd(port, fds[i], err);
	}
}

/* Ask the poller, sleeping up to `t` (< 0 forever; `unlock`: a shared port's leader,
 * without the port's mutex), then run what it reported. */
static int reactor_poll(cport *port, int64_t t, bool unlock)
{
	struct reactor *r = reactor_of(port);
	bool slept = t != 0 && cport__sleep_begin(port);
	r->waits++;
	if (unlock)
		cport__shared_unlock(port);
	int n = r->poller->wait(r->p, r->ev, REACTOR_EVENTS, slept ? t : 0);
	if (unlock)
		cport__shared_relock(port);
	if (slept)
		cport__sleep_end(port);
	/* Any wake sent while we slept has been consumed by the poller. */
	atomic_store(&port->notified, false);
	if (n < 0)
		return n;
	/* Pool completions that woke us go first: they may be what made a descriptor
	 * ready (a closed pipe end). */
	cport__drain_remote(port);
	for (int i = 0; i < n; i++)
		reactor_ready(port, r->ev[i].fd, r->ev[i].events);
	cport__deadlines_fire(port);
	return 0;
}

/* While completions wait on the ready list, a reap may return them without asking the
 * poller, but only REACTOR_SKIPS in a row: the next one asks it. More skips starved the
 * readers: a writer whose sends complete inside the submit kept every reap busy while
 * the reads waiting for a report waited up to 16 reaps, so a one-connection pump kept
 * 16 chunks in the socket, hit zero windows, and ran at 0.3x the raw loop. */
static int reactor_reap(cport *port, int64_t timeout_ns)
{
	struct reactor *r = reactor_of(port);
	cport__deadlines_fire(port);
	reactor_resume(port);
	if (cport__wait_done(port) && r->skips < REACTOR_SKIPS) {
		r->skips++;
		return 0;
	}
	r->skips = 0;
	return reactor_poll(port, reactor_sleep_ns(port, port->out_n ? 0 : timeout_ns), false);
}

/* A shared port's leader (cport_backend.block, lib/shared.c): the same without the
 * skips (its ready list may hold completions no thread may take now), the poller's
 * wait made without the port's mutex. */
static int reactor_block(cport *port, int64_t timeout_ns)
{
	cport__deadlines_fire(port);
	reactor_resume(port);
	return reactor_poll(port, cport__shared_sleep_ns(port, timeout_ns), true);
}

static void reactor_wake(cport *port)
{
	struct reactor *r = reactor_of(port);
	r->poller->wake(r->p);
}

/* A pool op finished: a close that ran on the pool makes its number new. */
static void reactor_remote_done(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->type == CPORT__CLOSE)
		cport__fd_close_end(port, x->fd);
}

/* One backend table per poller: the adapter is the same, only the poller differs.
 * Each expands to reactor_init_<name> and cport__<name>_backend. */
#define REACTOR_BACKEND(NAME, POLLER)                                                    \
	static int reactor_init_##NAME(cport *port, const cport_options *o, char *why,    \
				       size_t n)                                           \
	{                                                                                  \
		bool shared = (o->flags & CPORT_OPT_SHARED) != 0;                          \
		return reactor_init(port, &POLLER, shared, why, n);                        \
	}                                                                                  \
	const struct cport_backend cport__##NAME##_backend = {                             \
		.name = #NAME,                                                             \
		.init = reactor_init_##NAME,                                               \
		.fini = reactor_fini,                                                      \
		.start = reactor_start,                                                    \
		.cancel = reactor_cancel,                                                  \
		.flush = reactor_flush,                                                    \
		.reap = reactor_reap,                                                      \
		.wake = reactor_wake,                                                      \
		.block = reactor_block,                                                    \
		.remote_done = reactor_remote_done,                                        \
		.fd_close = reactor_close_run,                                             \
		.route = reactor_route,                                                    \
	};

#ifdef CPORT_HAVE_EPOLL
REACTOR_BACKEND(epoll, cport__epoll_poller)
#endif
#ifdef CPORT_HAVE_KQUEUE
REACTOR_BACKEND(kqueue, cport__kqueue_poller)
#endif
#ifdef CPORT_HAVE_POLL
REACTOR_BACKEND(poll, cport__poll_poller)
#endif
