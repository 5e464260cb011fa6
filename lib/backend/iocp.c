/* SPDX-License-Identifier: MIT */
/* The IOCP backend: overlapped file, pipe and socket I/O through a completion port. */

/*
 * Map
 *   1. State, the handle table (which handles this port has associated)
 *   2. Reads and writes: overlapped ReadFile/WriteFile, chunk by chunk
 *   3. Timers and timeouts (the shared deadline heap), close
 *   4. Sockets and local streams (named pipes): accept, connect, recv, send...
 *   5. Completion packets
 *   6. The table slots: init, fini, start, cancel, flush, reap, wake
 *
 * A handle opened for overlapped I/O is associated with the port on its first read or
 * write (CreateIoCompletionPort) and stays in the handle table until cport_close. A
 * handle opened for synchronous I/O (a console, an anonymous pipe, a file from fopen)
 * cannot use the port: its reads and writes go to the thread pool, like fsync, open,
 * stat and every other metadata op. Sockets are associated on their first op too
 * (WinSock then tells them from pipes); section 4 says how their ops run.
 *
 * Each read or write in the kernel owns one OVERLAPPED (in its op, be.ov) and one
 * completion packet at a time; opx.pending is 1 while the packet is due. A vectored op
 * or a transfer the kernel cut short is issued again, chunk by chunk, from the packet
 * handler. Every overlapped call posts a packet, even when it completes at once
 * (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is not set): one completion path for all.
 */

#include "../internal.h"

#include <stdlib.h>
#include <string.h>
#include <winternl.h>
#include <ws2tcpip.h>

#ifndef FILE_SYNCHRONOUS_IO_ALERT
#define FILE_SYNCHRONOUS_IO_ALERT 0x00000010
#endif
#ifndef FILE_SYNCHRONOUS_IO_NONALERT
#define FILE_SYNCHRONOUS_IO_NONALERT 0x00000020
#endif

/* Completion keys. */
enum { IOCP_KEY_IO = 1, IOCP_KEY_WAKE = 2 };

/* Packets taken from the port per call. */
#define IOCP_BATCH 64

/* be.words[4]: a timer whose deadline is its timeout_ns, not its own time */
#define IOCP_TIMER_BY_TIMEOUT 1u

/* ---- 1. State and the handle table -------------------------------------------------- */

/* A handle associated with this port. */
struct iocp_handle {
	uintptr_t h;       /* 0: empty slot */
	uint32_t inflight; /* reads and writes in the kernel */
	bool disk;         /* a file: offset -1 uses (and moves) the file pointer */
	bool append;       /* opened for appending only (CPORT_O_APPEND): writes go to
	                      the end, whatever their offset, as with O_APPEND */
	cport_op *closer;  /* a cport_close waiting for `inflight` to drain */
	bool sock;         /* a socket (WinSock calls; sends queued, see section 6) */
	bool dgram;        /* a datagram socket */
	bool reset;        /* a send met the peer's reset: later sends say EPIPE */
	bool lsn;          /* a local listener (named pipe, not associated: its accepts
	                      run on pipe instances, listed in `acc`) */
	uint64_t gen;      /* cport__win_closes() when last known to be this handle */
	cport_op *sending; /* the one send of a socket in the kernel */
	struct iocp_dlist {
		cport_op *head, *tail;
	} sendq,           /* sends waiting for `sending` (linked by next/prev) */
	    acc;           /* a local listener's accepts in the kernel */
};

struct iocp_accept;

struct iocp {
	HANDLE port;
	struct cport__timers timers;
	struct iocp_handle *tab; /* open addressing, linear probing; cap a power of two */
	uint32_t cap, used;
	uint64_t in_kernel;      /* ops with a packet still due (destroy drains them) */
	struct iocp_accept *parked; /* multishot accepts waiting to be re-armed */
	bool dying;              /* destroy: drop completions, issue nothing more */
};

static struct iocp *iocp_of(cport *port)
{
	return port->impl;
}

static uint32_t iocp_slot0(const struct iocp *io, uintptr_t h)
{
	/* Handle values are multiples of 4: drop those bits, then Fibonacci hashing. */
	return (uint32_t)(((uint64_t)(h >> 2) * 0x9e3779b97f4a7c15u) >> 32) & (io->cap - 1);
}

static struct iocp_handle *iocp_find(struct iocp *io, uintptr_t h)
{
	if (!io->cap)
		return NULL;
	for (uint32_t i = iocp_slot0(io, h);; i = (i + 1) & (io->cap - 1)) {
		if (io->tab[i].h == h)
			return &io->tab[i];
		if (io->tab[i].h == 0)
			return NULL;
	}
}

/* Room for one more entry (load factor at most 1/2). */
static int iocp_reserve(struct iocp *io)
{
	if ((io->used + 1) * 2 <= io->cap)
		return 0;
	uint32_t cap = io->cap ? io->cap * 2 : 64;
	struct iocp_handle *old = io->tab, *tab = calloc(cap, sizeof *tab);
	if (!tab)
		return CPORT_ENOMEM;
	uint32_t old_cap = io->cap;
	io->tab = tab;
	io->cap = cap;
	for (uint32_t i = 0; i < old_cap; i++) {
		if (!old[i].h)
			continue;
		uint32_t j = iocp_slot0(io, old[i].h);
		while (tab[j].h)
			j = (j + 1) & (cap - 1);
		tab[j] = old[i];
	}
	free(old);
	return 0;
}

static struct iocp_handle *iocp_insert(struct iocp *io, uintptr_t h)
{
	uint32_t i = iocp_slot0(io, h);
	while (io->tab[i].h)
		i = (i + 1) & (io->cap - 1);
	io->tab[i] = (struct iocp_handle){.h = h};
	io->used++;
	return &io->tab[i];
}

/* Remove an entry; later entries of its probe run shift back (no tombstones). */
static void iocp_remove(struct iocp *io, struct iocp_handle *e)
{
	uint32_t mask = io->cap - 1, i = (uint32_t)(e - io->tab);
	io->tab[i].h = 0;
	io->used--;
	for (uint32_t j = (i + 1) & mask; io->tab[j].h; j = (j + 1) & mask) {
		uint32_t home = iocp_slot0(io, io->tab[j].h);
		/* Move j back to the hole i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		io->tab[i] = io->tab[j];
		io->tab[j].h = 0;
		i = j;
	}
}

/* Was the handle opened for synchronous I/O? Failure to ask (a console under some
 * Windows versions) counts as synchronous: the pool can do anything. */
static bool iocp_is_sync(HANDLE h)
{
	IO_STATUS_BLOCK iosb;
	ULONG mode = 0;
	NTSTATUS st = NtQueryInformationFile(h, &iosb, &mode, sizeof mode,
					     (FILE_INFORMATION_CLASS)FileModeInformation);
	if (st < 0)
		return true;
	return (mode & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT)) != 0;
}

/* Granted FILE_APPEND_DATA without FILE_WRITE_DATA (cport_open's CPORT_O_APPEND)? */
static bool iocp_is_append_only(HANDLE h)
{
	PUBLIC_OBJECT_BASIC_INFORMATION info;
	if (NtQueryObject(h, ObjectBasicInformation, &info, sizeof info, NULL) < 0)
		return false;
	ACCESS_MASK a = info.GrantedAccess;
	return (a & FILE_APPEND_DATA) && !(a & FILE_WRITE_DATA);
}

/* What kind of handle a new entry is. */
static void iocp_handle_init(struct iocp_handle *e, HANDLE h)
{
	e->gen = cport__win_closes();
	DWORD type = GetFileType(h);
	e->disk = type == FILE_TYPE_DISK;
	e->append = e->disk && iocp_is_append_only(h);
	int so = 0, len = sizeof so;
	/* Sockets and pipes both say FILE_TYPE_PIPE; WinSock tells them apart. */
	if (type == FILE_TYPE_PIPE && cport__wsa_init() == 0 &&
	    getsockopt((SOCKET)h, SOL_SOCKET, SO_TYPE, (char *)&so, &len) == 0) {
		e->sock = true;
		e->dgram = so == SOCK_DGRAM;
	}
}

/*
 * Was the entry's handle closed behind the port's back (cport_sock_close, t_close) and
 * its value reused? After any such close in the process, an idle entry is checked once:
 * a synchronous handle (or none) now has no business in the table (false: the entry is
 * gone), and a handle that can be associated with our port is a new one (an associated
 * handle refuses a second association): the entry starts over.
 */
static bool iocp_handle_recheck(struct iocp *io, struct iocp_handle *e)
{
	uint64_t gen = cport__win_closes();
	if (e->gen == gen)
		return true;
	e->gen = gen;
	if (e->inflight || e->closer || e->lsn || e->sendq.head)
		return true;
	if (iocp_is_sync((HANDLE)e->h)) {
		iocp_remove(io, e);
		return false;
	}
	if (!CreateIoCompletionPort((HANDLE)e->h, io->port, IOCP_KEY_IO, 0))
		return true; /* still the handle we know */
	SetFileCompletionNotificationModes((HANDLE)e->h, FILE_SKIP_SET_EVENT_ON_HANDLE);
	*e = (struct iocp_handle){.h = e->h};
	iocp_handle_init(e, (HANDLE)e->h);
	return true;
}

/*
 * The table entry of a handle, associating it with the port on first use. *e = NULL
 * (and 0) for a synchronous handle, which the thread pool serves. A handle already
 * associated with another completion port cannot be used here: CPORT_EINVAL.
 */
static int iocp_handle_get(struct iocp *io, cport_fd fd, struct iocp_handle **e)
{
	*e = iocp_find(io, fd);
	if (*e && iocp_handle_recheck(io, *e))
		return 0;
	*e = NULL;
	HANDLE h = (HANDLE)fd;
	if (iocp_is_sync(h))
		return 0;
	int r = iocp_reserve(io);
	if (r < 0)
		return r;
	if (!CreateIoCompletionPort(h, io->port, IOCP_KEY_IO, 0))
		return cport__win_error(GetLastError());
	/* The op's OVERLAPPED has no event; nobody waits on the handle itself either. */
	SetFileCompletionNotificationModes(h, FILE_SKIP_SET_EVENT_ON_HANDLE);
	*e = iocp_insert(io, fd);
	iocp_handle_init(*e, h);
	return 0;
}

/* ---- 2. Reads and writes ------------------------------------------------------------ */

/* Section 4: socket ops (reads and writes on a socket are its recvs and sends). */
static int iocp_sock_start(cport *port, cport_op *op);
static bool iocp_sock_stop(cport *port, cport_op *op, cport_op **out, unsigned max,
			   unsigned *n);
static void iocp_sock_close_cancel(cport *port, struct iocp_handle *e);

static bool iocp_is_read(const struct cport__op *x)
{
	return x->type == CPORT__READ || x->type == CPORT__READV;
}

static uint64_t iocp_rw_total(const struct cport__op *x)
{
	if (x->type == CPORT__READ || x->type == CPORT__WRITE)
		return x->len;
	const cport_iovec *iov = x->buf;
	uint64_t t = 0;
	for (unsigned i = 0; i < x->aux; i++)
		t += iov[i].len;
	return t;
}

/* Where the next chunk goes: the rest of the buffer, or of the current iovec. */
static char *iocp_chunk(const struct cport__op *x, DWORD *n)
{
	if (x->type == CPORT__READ || x->type == CPORT__WRITE) {
		*n = (DWORD)(x->len - x->done);
		return (char *)x->buf + x->done;
	}
	const cport_iovec *iov = x->buf;
	uint64_t skip = x->done;
	unsigned i = 0;
	while (i < x->aux && skip >= iov[i].len)
		skip -= iov[i++].len;
	assert(i < x->aux);
	*n = (DWORD)(iov[i].len - skip);
	return (char *)iov[i].base + skip;
}

/* The file offset of the next chunk. Offset -1 on a file means its file pointer, which
 * overlapped I/O does not move by itself (see iocp_rw_moved). */
static int iocp_chunk_offset(const struct cport__op *x, const struct iocp_handle *e,
			     uint64_t *off)
{
	if (e->append && !iocp_is_read(x)) {
		*off = UINT64_MAX; /* Offset and OffsetHigh all ones: the end of the file */
		return 0;
	}
	if (x->offset >= 0) {
		*off = (uint64_t)x->offset + x->done;
		return 0;
	}
	*off = 0;
	if (!e->disk)
		return 0; /* pipes and sockets have no offset */
	LARGE_INTEGER zero = {0}, pos;
	if (!SetFilePointerEx((HANDLE)x->fd, zero, &pos, FILE_CURRENT))
		return cport__win_error(GetLastError());
	*off = (uint64_t)pos.QuadPart;
	return 0;
}

static void iocp_rw_moved(const struct cport__op *x, const struct iocp_handle *e, DWORD n)
{
	if (x->offset < 0 && e->disk && n && !(e->append && !iocp_is_read(x))) {
		LARGE_INTEGER d = {.QuadPart = n};
		SetFilePointerEx((HANDLE)x->fd, d, NULL, FILE_CURRENT);
	}
}

/* The result of a failed read or write: end of file or of a pipe is a short read. */
static int64_t iocp_rw_error(const struct cport__op *x, DWORD err)
{
	if (iocp_is_read(x) && (err == ERROR_HANDLE_EOF || err == ERROR_BROKEN_PIPE))
		return (int64_t)x->done;
	if (err == ERROR_OPERATION_ABORTED && (x->xflags & CPORT__X_TIMEDOUT) &&
	    !(x->xflags & CPORT__X_CANCELLED))
		return CPORT_ETIMEDOUT;
	if (err == ERROR_ACCESS_DENIED)
		return CPORT_EBADF; /* not open for this direction, as read(2)/write(2) say */
	return cport__win_error(err);
}

/* Issue the next chunk. True: a packet is due. False: the op finished at once with
 * *res (the call failed, so no packet will come). */
static bool iocp_rw_issue(cport_op *op, const struct iocp_handle *e, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	DWORD n;
	char *p = iocp_chunk(x, &n);
	uint64_t off;
	int r = iocp_chunk_offset(x, e, &off);
	if (r < 0) {
		*res = r;
		return false;
	}
	memset(&x->be.ov, 0, sizeof x->be.ov);
	x->be.ov.Offset = (DWORD)off;
	x->be.ov.OffsetHigh = (DWORD)(off >> 32);
	HANDLE h = (HANDLE)x->fd;
	BOOL ok = iocp_is_read(x) ? ReadFile(h, p, n, NULL, &x->be.ov)
				  : WriteFile(h, p, n, NULL, &x->be.ov);
	DWORD err = ok ? 0 : GetLastError();
	if (ok || err == ERROR_IO_PENDING) {
		x->pending = 1;
		return true;
	}
	*res = iocp_rw_error(x, err);
	return false;
}

/* A packet for a read or write: count the bytes. True if the op is done (*res set),
 * false if the next chunk is in the kernel. */
static bool iocp_rw_progress(struct iocp *io, cport_op *op, struct iocp_handle *e, DWORD got,
			     DWORD err, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	if (err) {
		*res = iocp_rw_error(x, err);
		return true;
	}
	x->done += got;
	iocp_rw_moved(x, e, got);
	bool stream_read = iocp_is_read(x) && x->offset < 0;
	if (got == 0 || stream_read || x->done >= x->len || io->dying) {
		*res = (int64_t)x->done;
		return true;
	}
	if (x->xflags & CPORT__X_CANCELLED || e->closer) {
		*res = CPORT_ECANCELED;
		return true;
	}
	if (x->xflags & CPORT__X_TIMEDOUT) {
		*res = CPORT_ETIMEDOUT;
		return true;
	}
	return !iocp_rw_issue(op, e, res);
}

static int iocp_rw_start(cport *port, cport_op *op)
{
	struct iocp *io = iocp_of(port);
	struct cport__op *x = cport__x(op);
	struct iocp_handle *e;
	x->len = iocp_rw_total(x);
	int r = iocp_handle_get(io, x->fd, &e);
	if (r < 0)
		return r;
	if (!e)
		return op->timeout_ns ? CPORT_ENOTSUP : cport__pool_start(port, op);
	if (e->closer)
		return CPORT_EBADF; /* a cport_close of this handle is under way */
	if (e->sock)
		return iocp_sock_start(port, op);
	if (x->len == 0) {
		/* Done without the kernel: a zero-byte pipe read would wait for data. */
		cport__complete(port, op, 0);
		return 0;
	}
	if (op->timeout_ns &&
	    (r = cport__timers_add(&io->timers, op, cport_now_ns() + op->timeout_ns)) < 0)
		return r;
	int64_t res;
	if (!iocp_rw_issue(op, e, &res)) {
		cport__timers_remove(&io->timers, op);
		cport__complete(port, op, res);
		return 0;
	}
	e->inflight++;
	io->in_kernel++;
	return 0;
}

/* ---- 3. Timers, timeouts and close ---------------------------------------------------- */

static int iocp_timer_start(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	uint64_t now = cport_now_ns();
	uint64_t at = x->aux & CPORT_TIMER_ABS ? x->len : now + x->len;
	x->be.words[4] = 0;
	if (op->timeout_ns && now + op->timeout_ns < at) {
		at = now + op->timeout_ns;
		x->be.words[4] = IOCP_TIMER_BY_TIMEOUT;
	}
	return cport__timers_add(&iocp_of(port)->timers, op, at);
}

/* Fire what is due: timers complete, reads and writes past their timeout are asked
 * to stop (their packet brings CPORT_ETIMEDOUT). */
static void iocp_expire(cport *port, cport_op **out, unsigned max, unsigned *n)
{
	struct iocp *io = iocp_of(port);
	uint64_t now = cport_now_ns();
	cport_op *op;
	while ((op = cport__timers_pop_expired(&io->timers, now)) != NULL) {
		struct cport__op *x = cport__x(op);
		if (x->type != CPORT__TIMER) {
			x->xflags |= CPORT__X_TIMEDOUT;
			if (!iocp_sock_stop(port, op, out, max, n))
				CancelIoEx((HANDLE)x->fd, &x->be.ov);
			continue;
		}
		op->result = x->be.words[4] == IOCP_TIMER_BY_TIMEOUT ? CPORT_ETIMEDOUT : 0;
		if (*n < max)
			out[(*n)++] = op;
		else
			cport__queue_push(&port->ready, op);
	}
}

/* The handle has no read or write left in the kernel: close it on the pool (or at
 * once while the port is being destroyed). */
static void iocp_close_now(cport *port, struct iocp_handle *e)
{
	struct iocp *io = iocp_of(port);
	cport_op *closer = e->closer;
	iocp_remove(io, e);
	if (!closer)
		return;
	if (io->dying) {
		cport__win_close(cport__x(closer)->fd);
		return;
	}
	int r = cport__pool_start(port, closer);
	if (r < 0)
		cport__complete(port, closer, r);
}

/* Close cancels: reads and writes on the handle stop first (CancelIoEx), and the
 * handle is closed once their packets are in. */
static int iocp_close_start(cport *port, cport_op *op)
{
	struct iocp *io = iocp_of(port);
	struct cport__op *x = cport__x(op);
	if (op->timeout_ns)
		return CPORT_ENOTSUP;
	struct iocp_handle *e = iocp_find(io, x->fd);
	if (e && e->closer)
		return CPORT_EBADF; /* closed twice */
	/* What the pool does on the handle (fsync, fstat, reads of a synchronous
	 * handle...) is stopped first; its running ops are waited for at close time. */
	cport__pool_cancel_fd(port, x->fd);
	if (e)
		iocp_sock_close_cancel(port, e);
	if (!e || e->inflight == 0) {
		if (e)
			iocp_remove(io, e);
		return cport__pool_start(port, op);
	}
	e->closer = op;
	CancelIoEx((HANDLE)x->fd, NULL);
	return 0;
}

/* ---- 4. Sockets and local streams ------------------------------------------------------ */

/*
 * Socket ops keep three words of be (after the OVERLAPPED): the handle their I/O runs
 * on (the socket, or the pipe instance of a local accept), a malloc'ed context (accept
 * buffers, WSABUF arrays, the AFD poll block), and where the op is.
 *
 * Stream rules: recvs go to the kernel at once (WinSock fills overlapped receives in
 * the order they were issued); sends (send, write, sendmsg, sendfile, and a shutdown
 * that stops sending) wait in the socket's send queue and go one at a time, so their
 * bytes never interleave and a send the kernel cut short is finished before the next.
 */
#define IOCP_W_IOH 4
#define IOCP_W_CTX 5
#define IOCP_W_WHERE 6
enum { IOCP_AT_NONE = 0, IOCP_AT_KERNEL, IOCP_AT_QUEUED, IOCP_AT_PARKED };

/* Largest chunk per WinSock call (WSABUF lengths are ULONG; TransmitFile takes less
 * than 2^31 - 1). */
#define IOCP_SOCK_CHUNK (1u << 30)

/* AFD's poll request: how WSAPoll itself waits, here as one overlapped call. */
#define IOCP_AFD_POLL 0x00012024
enum {
	AFD_RECEIVE = 0x1,
	AFD_RECEIVE_EXPEDITED = 0x2,
	AFD_SEND = 0x4,
	AFD_DISCONNECT = 0x8,
	AFD_ABORT = 0x10,
	AFD_LOCAL_CLOSE = 0x20,
	AFD_ACCEPT = 0x80,
	AFD_CONNECT_FAIL = 0x100
};
struct iocp_afd_poll {
	LARGE_INTEGER timeout;
	ULONG count, exclusive;
	HANDLE h;
	ULONG events;
	NTSTATUS status;
};

/* An accept's context: the socket AcceptEx fills and room for both addresses. */
struct iocp_accept {
	SOCKET s;
	HANDLE inst;              /* a local accept: the pipe instance */
	cport_op *op;
	struct iocp_accept *next; /* io->parked */
	char addrs[2 * (sizeof(SOCKADDR_STORAGE) + 16)];
};

static HANDLE iocp_ioh(const struct cport__op *x)
{
	return (HANDLE)(uintptr_t)x->be.words[IOCP_W_IOH];
}

static void *iocp_ctx(const struct cport__op *x)
{
	return (void *)(uintptr_t)x->be.words[IOCP_W_CTX];
}

static void iocp_dl_push(struct iocp_dlist *l, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	x->next = NULL;
	x->prev = l->tail;
	if (l->tail)
		cport__x(l->tail)->next = op;
	else
		l->head = op;
	l->tail = op;
}

static void iocp_dl_unlink(struct iocp_dlist *l, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->prev)
		cport__x(x->prev)->next = x->next;
	else
		l->head = x->next;
	if (x->next)
		cport__x(x->next)->prev = x->prev;
	else
		l->tail = x->prev;
	x->next = x->prev = NULL;
}

static bool iocp_is_send(const struct cport__op *x)
{
	switch ((enum cport__type)x->type) {
	case CPORT__SEND:
	case CPORT__WRITE:
	case CPORT__WRITEV:
	case CPORT__SENDMSG:
	case CPORT__SENDFILE:
	case CPORT__SHUTDOWN:
		return true;
	default:
		return false;
	}
}

/* The buffers of an op: one buffer, or an iovec array (readv/writev, a message). */
static const cport_iovec *iocp_sock_iov(const struct cport__op *x, unsigned *cnt)
{
	if (x->type == CPORT__READV || x->type == CPORT__WRITEV) {
		*cnt = x->aux;
		return x->buf;
	}
	const cport_msg *m = x->buf;
	*cnt = m->iovcnt;
	return m->iov;
}

static bool iocp_has_iov(const struct cport__op *x)
{
	return x->type == CPORT__READV || x->type == CPORT__WRITEV ||
	       x->type == CPORT__RECVMSG || x->type == CPORT__SENDMSG;
}

static uint64_t iocp_sock_total(const struct cport__op *x)
{
	if (!iocp_has_iov(x))
		return x->len;
	unsigned cnt;
	const cport_iovec *iov = iocp_sock_iov(x, &cnt);
	uint64_t t = 0;
	for (unsigned i = 0; i < cnt; i++)
		t += iov[i].len;
	return t;
}

/* The next stretch of a stream op: the rest of its buffer, or of the current iovec. */
static WSABUF iocp_sock_chunk(const struct cport__op *x)
{
	WSABUF b;
	uint64_t left;
	if (!iocp_has_iov(x)) {
		b.buf = (char *)x->buf + x->done;
		left = x->len - x->done;
	} else {
		unsigned cnt, i = 0;
		const cport_iovec *iov = iocp_sock_iov(x, &cnt);
		uint64_t skip = x->done;
		while (i < cnt && skip >= iov[i].len)
			skip -= iov[i++].len;
		assert(i < cnt);
		b.buf = (char *)iov[i].base + skip;
		left = iov[i].len - skip;
	}
	b.len = left > IOCP_SOCK_CHUNK ? IOCP_SOCK_CHUNK : (ULONG)left;
	return b;
}

/* Every buffer of a message as a WSABUF array (one datagram, one call). */
static WSABUF *iocp_wsabufs(const struct cport__op *x, DWORD *cnt)
{
	unsigned n;
	const cport_iovec *iov = iocp_sock_iov(x, &n);
	WSABUF *w = malloc(n * sizeof *w);
	if (!w)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		w[i].buf = iov[i].base;
		w[i].len = iov[i].len > IOCP_SOCK_CHUNK ? IOCP_SOCK_CHUNK : (ULONG)iov[i].len;
	}
	*cnt = n;
	return w;
}

/* The result of an op the kernel stopped: a cancel, a close or its timeout. */
static int64_t iocp_sock_stopped(const struct cport__op *x)
{
	if ((x->xflags & CPORT__X_TIMEDOUT) && !(x->xflags & CPORT__X_CANCELLED))
		return CPORT_ETIMEDOUT;
	return CPORT_ECANCELED;
}

static int64_t iocp_sock_error(const struct cport__op *x, DWORD err)
{
	if (err == WSA_OPERATION_ABORTED || err == ERROR_OPERATION_ABORTED)
		return iocp_sock_stopped(x);
	if (err == WSAESHUTDOWN && iocp_is_send(x))
		return CPORT_EPIPE;
	return cport__win_error(err);
}

/* Hand a finished socket op over: into out[] while there is room, else the ready list.
 * While the port is being destroyed, only its context is freed. */
static void iocp_sock_done(cport *port, cport_op *op, int64_t res, cport_op **out,
			   unsigned max, unsigned *n)
{
	struct iocp *io = iocp_of(port);
	struct cport__op *x = cport__x(op);
	cport__timers_remove(&io->timers, op);
	struct iocp_accept *a = x->type == CPORT__ACCEPT ? iocp_ctx(x) : NULL;
	if (a && a->s != INVALID_SOCKET)
		closesocket(a->s);
	if (a && a->inst) {
		/* An instance that never became a result: forget it, then close it. */
		struct iocp_handle *ie = iocp_find(io, (cport_fd)a->inst);
		if (ie && !io->dying)
			iocp_remove(io, ie);
		CloseHandle(a->inst);
	}
	free(iocp_ctx(x));
	x->be.words[IOCP_W_CTX] = 0;
	x->be.words[IOCP_W_WHERE] = IOCP_AT_NONE;
	if (io->dying)
		return;
	op->result = res;
	op->cflags = 0;
	if (out && *n < max)
		out[(*n)++] = op;
	else
		cport__queue_push(&port->ready, op);
}

/* An op went to the kernel: count it on its handle (close and destroy wait for it). */
static void iocp_sock_in_kernel(struct iocp *io, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct iocp_handle *e = iocp_find(io, x->fd);
	assert(e);
	e->inflight++;
	io->in_kernel++;
	x->be.words[IOCP_W_WHERE] = IOCP_AT_KERNEL;
	if (e->lsn)
		iocp_dl_push(&e->acc, op);
}

/* True when the call left a completion packet due (success included: completion
 * packets are not skipped on success, see the top of this file). */
static bool iocp_wsa_pending(int rc)
{
	return rc == 0 || WSAGetLastError() == WSA_IO_PENDING;
}

/* Larger than any UDP datagram of the socket's family? Checked before the call:
 * Wine fails such a send at once and still posts a packet for it. */
static bool iocp_dgram_too_big(SOCKET s, uint64_t len)
{
	SOCKADDR_STORAGE me;
	int n = sizeof me;
	if (getsockname(s, (struct sockaddr *)&me, &n) != 0)
		return false;
	return len > (me.ss_family == AF_INET6 ? 65527u : 65507u);
}

/* Issue (the next chunk of) a send. True: a packet is due; false: done with *res. */
static bool iocp_send_issue(cport_op *op, const struct iocp_handle *e, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	SOCKET s = (SOCKET)x->fd;
	OVERLAPPED *ov = &x->be.ov;
	memset(ov, 0, sizeof *ov);
	int rc;
	if (x->type == CPORT__SHUTDOWN) {
		int how = x->aux == CPORT_SHUT_RD ? SD_RECEIVE
			: x->aux == CPORT_SHUT_WR ? SD_SEND : SD_BOTH;
		*res = shutdown(s, how) ? iocp_sock_error(x, (DWORD)WSAGetLastError()) : 0;
		return false;
	}
	uint64_t left = x->len - x->done;
	if (e->dgram && left > 65507 && iocp_dgram_too_big(s, left)) {
		*res = CPORT_EMSGSIZE;
		return false;
	}
	if (left == 0 && !e->dgram) {
		*res = (int64_t)x->done;
		return false;
	}
	if (x->type == CPORT__SENDFILE) {
		x->mode = left > IOCP_SOCK_CHUNK ? IOCP_SOCK_CHUNK : (uint32_t)left;
		uint64_t off = (uint64_t)x->offset + x->done;
		ov->Offset = (DWORD)off;
		ov->OffsetHigh = (DWORD)(off >> 32);
		HANDLE f = (HANDLE)(uintptr_t)x->buf2;
		rc = TransmitFile(s, f, x->mode, 0, ov, NULL, 0) ? 0 : SOCKET_ERROR;
	} else if (x->type == CPORT__SENDMSG && e->dgram) {
		DWORD cnt;
		WSABUF *w = iocp_wsabufs(x, &cnt); /* once: a datagram goes in one call */
		if (!w) {
			*res = CPORT_ENOMEM;
			return false;
		}
		x->be.words[IOCP_W_CTX] = (uintptr_t)w;
		const cport_msg *m = x->buf;
		const struct sockaddr *to = m->addr ? (const void *)m->addr->storage : NULL;
		rc = WSASendTo(s, w, cnt, NULL, 0, to, to ? (int)m->addr->len : 0, ov, NULL);
	} else {
		WSABUF b = iocp_sock_chunk(x);
		x->mode = b.len;
		rc = WSASend(s, &b, 1, NULL, 0, ov, NULL);
	}
	if (iocp_wsa_pending(rc))
		return true;
	*res = iocp_sock_error(x, (DWORD)WSAGetLastError());
	return false;
}

/* A recvmsg on a datagram socket: the WSABUF array and what WSARecvFrom writes back. */
struct iocp_recvfrom {
	INT fromlen;
	DWORD flags;
	WSABUF w[];
};

static bool iocp_recv_issue(cport_op *op, const struct iocp_handle *e, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	SOCKET s = (SOCKET)x->fd;
	OVERLAPPED *ov = &x->be.ov;
	memset(ov, 0, sizeof *ov);
	int rc;
	if (x->type == CPORT__RECVMSG && e->dgram) {
		const cport_msg *m = x->buf;
		struct iocp_recvfrom *rf = malloc(sizeof *rf + m->iovcnt * sizeof(WSABUF));
		DWORD cnt;
		WSABUF *w = iocp_wsabufs(x, &cnt);
		if (!rf || !w) {
			free(rf);
			free(w);
			*res = CPORT_ENOMEM;
			return false;
		}
		memcpy(rf->w, w, cnt * sizeof *w);
		free(w);
		x->be.words[IOCP_W_CTX] = (uintptr_t)rf;
		rf->fromlen = sizeof m->addr->storage;
		rf->flags = 0;
		struct sockaddr *from = m->addr ? (void *)m->addr->storage : NULL;
		rc = WSARecvFrom(s, rf->w, cnt, NULL, &rf->flags, from, from ? &rf->fromlen : NULL,
				 ov, NULL);
	} else {
		WSABUF b = iocp_sock_chunk(x);
		if (b.len == 0 && !e->dgram) {
			*res = 0;
			return false;
		}
		DWORD flags = 0;
		rc = WSARecv(s, &b, 1, NULL, &flags, ov, NULL);
	}
	if (iocp_wsa_pending(rc))
		return true;
	DWORD err = (DWORD)WSAGetLastError();
	*res = err == WSAEDISCON ? 0 : iocp_sock_error(x, err);
	return false;
}

/* ConnectEx needs a bound socket: bind to the wildcard address first if it is not. */
static bool iocp_connect_issue(cport_op *op, const struct iocp_handle *e, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	SOCKET s = (SOCKET)x->fd;
	const cport_addr *a = x->buf;
	const struct sockaddr *sa = (const void *)a->storage;
	memset(&x->be.ov, 0, sizeof x->be.ov);
	if (e->dgram) { /* a datagram "connect" only sets the peer: at once */
		*res = connect(s, sa, (int)a->len) ? iocp_sock_error(x, (DWORD)WSAGetLastError()) : 0;
		return false;
	}
	LPFN_CONNECTEX cx = cport__win_connectex();
	if (!cx) {
		*res = CPORT_ENOTSUP;
		return false;
	}
	SOCKADDR_STORAGE me;
	int len = sizeof me;
	if (getsockname(s, (struct sockaddr *)&me, &len) != 0) {
		memset(&me, 0, sizeof me);
		me.ss_family = sa->sa_family;
		len = sa->sa_family == AF_INET6 ? (int)sizeof(struct sockaddr_in6)
						: (int)sizeof(struct sockaddr_in);
		/* Under Wine the bind is Linux's, which picks a port before it knows the
		 * peer and so refuses ports of connections in TIME_WAIT; SO_REUSEADDR lets
		 * it take them (the connection's 4-tuple still differs). Windows itself
		 * never hands out a port in use for port 0, with or without it. */
		BOOL on = TRUE;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, (const char *)&on, sizeof on);
		if (bind(s, (struct sockaddr *)&me, len) != 0) {
			*res = iocp_sock_error(x, (DWORD)WSAGetLastError());
			return false;
		}
	}
	if (iocp_wsa_pending(cx(s, sa, (int)a->len, NULL, 0, NULL, &x->be.ov) ? 0 : SOCKET_ERROR))
		return true;
	*res = iocp_sock_error(x, (DWORD)WSAGetLastError());
	return false;
}

static ULONG iocp_afd_events(uint32_t ev)
{
	ULONG a = AFD_ABORT | AFD_CONNECT_FAIL | AFD_LOCAL_CLOSE;
	if (ev & CPORT_POLL_IN)
		a |= AFD_RECEIVE | AFD_ACCEPT | AFD_DISCONNECT;
	if (ev & CPORT_POLL_PRI)
		a |= AFD_RECEIVE_EXPEDITED;
	if (ev & CPORT_POLL_OUT)
		a |= AFD_SEND;
	if (ev & CPORT_POLL_RDHUP)
		a |= AFD_DISCONNECT;
	return a;
}

static int64_t iocp_poll_events(ULONG a, uint32_t asked)
{
	uint32_t r = 0;
	if (a & (AFD_RECEIVE | AFD_ACCEPT))
		r |= CPORT_POLL_IN;
	if (a & AFD_RECEIVE_EXPEDITED)
		r |= CPORT_POLL_PRI;
	if (a & AFD_SEND)
		r |= CPORT_POLL_OUT;
	if (a & AFD_DISCONNECT)
		r |= CPORT_POLL_IN | CPORT_POLL_RDHUP; /* end of stream reads as readable */
	if (a & AFD_ABORT)
		r |= CPORT_POLL_ERR | CPORT_POLL_HUP;
	if (a & AFD_CONNECT_FAIL)
		r |= CPORT_POLL_ERR;
	return r & (asked | CPORT_POLL_ERR | CPORT_POLL_HUP);
}

/*
 * Poll: one IOCTL_AFD_POLL on the socket, the request WSAPoll is made of, issued
 * overlapped so that it completes through the port like any op and CancelIoEx stops
 * it (WSAPoll on the pool could not be interrupted, nor honour timeout_ns).
 */
static bool iocp_poll_issue(cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct iocp_afd_poll *p = iocp_ctx(x) ? iocp_ctx(x) : malloc(sizeof *p);
	if (!p) {
		*res = CPORT_ENOMEM;
		return false;
	}
	x->be.words[IOCP_W_CTX] = (uintptr_t)p;
	*p = (struct iocp_afd_poll){.count = 1, .h = (HANDLE)x->fd, .events = iocp_afd_events(x->aux)};
	p->timeout.QuadPart = INT64_MAX;
	memset(&x->be.ov, 0, sizeof x->be.ov);
	NTSTATUS st = NtDeviceIoControlFile((HANDLE)x->fd, NULL, NULL, &x->be.ov,
					    (PIO_STATUS_BLOCK)(void *)&x->be.ov, IOCP_AFD_POLL, p,
					    sizeof *p, p, sizeof *p);
	if (st >= 0)
		return true; /* STATUS_PENDING or done: either way a packet comes */
	*res = cport__win_error(RtlNtStatusToDosError(st));
	return false;
}

/* AcceptEx into a new socket of the listener's family, or, on a local listener,
 * ConnectNamedPipe on its waiting instance (associated with the port here). */
static bool iocp_accept_issue(struct iocp *io, cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct iocp_accept *a = iocp_ctx(x) ? iocp_ctx(x) : calloc(1, sizeof *a);
	if (!a) {
		*res = CPORT_ENOMEM;
		return false;
	}
	x->be.words[IOCP_W_CTX] = (uintptr_t)a;
	a->op = op;
	a->s = INVALID_SOCKET;
	a->inst = NULL;
	memset(&x->be.ov, 0, sizeof x->be.ov);
	struct iocp_handle *e = iocp_find(io, x->fd), *ie;
	if (e->lsn) {
		int r = cport__win_local_take(x->fd, &a->inst);
		if (r == 0 && (r = iocp_handle_get(io, (cport_fd)a->inst, &ie)) == 0 && !ie)
			r = CPORT_EINVAL;
		if (r != 0) {
			*res = r;
			return false;
		}
		x->be.words[IOCP_W_IOH] = (uintptr_t)a->inst;
		if (ConnectNamedPipe(a->inst, &x->be.ov) || GetLastError() == ERROR_IO_PENDING)
			return true;
		DWORD err = GetLastError();
		if (err != ERROR_PIPE_CONNECTED && err != ERROR_NO_DATA) {
			*res = cport__win_error(err);
			return false;
		}
		/* A client came before the accept: no packet; done at once. */
		*res = (int64_t)(uintptr_t)a->inst;
		a->inst = NULL;
		return false;
	}
	SOCKADDR_STORAGE me;
	int len = sizeof me, r;
	if (getsockname((SOCKET)x->fd, (struct sockaddr *)&me, &len) != 0) {
		*res = iocp_sock_error(x, (DWORD)WSAGetLastError());
		return false;
	}
	if ((r = cport__win_socket(&a->s, me.ss_family, SOCK_STREAM, IPPROTO_TCP)) < 0) {
		*res = r;
		return false;
	}
	DWORD alen = sizeof(SOCKADDR_STORAGE) + 16;
	if (AcceptEx((SOCKET)x->fd, a->s, a->addrs, 0, alen, alen, NULL, &x->be.ov) ||
	    WSAGetLastError() == WSA_IO_PENDING)
		return true;
	*res = iocp_sock_error(x, (DWORD)WSAGetLastError());
	return false;
}

/* A finished accept's new descriptor, set up for use; the peer address if asked. */
static int64_t iocp_accept_result(struct cport__op *x, struct iocp_accept *a)
{
	cport_addr *peer = x->buf;
	if (peer)
		memset(peer, 0, sizeof *peer);
	if (a->inst) {
		int64_t r = (int64_t)(uintptr_t)a->inst;
		a->inst = NULL;
		return r;
	}
	SOCKET l = (SOCKET)x->fd;
	setsockopt(a->s, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&l, sizeof l);
	if (peer) {
		struct sockaddr *loc, *rem;
		int llen, rlen;
		DWORD alen = sizeof(SOCKADDR_STORAGE) + 16;
		GetAcceptExSockaddrs(a->addrs, 0, alen, alen, &loc, &llen, &rem, &rlen);
		if (rlen > 0 && (size_t)rlen <= sizeof peer->storage) {
			memcpy(peer->storage, rem, (size_t)rlen);
			peer->len = (uint32_t)rlen;
		}
	}
	int64_t r = (int64_t)a->s;
	a->s = INVALID_SOCKET;
	return r;
}

/* A multishot accept delivered a connection (CPORT_MORE): it waits, parked, until the
 * caller reaped that completion, then iocp_rearm issues the next accept. */
static void iocp_park(cport *port, cport_op *op, int64_t res, cport_op **out, unsigned max,
		      unsigned *n)
{
	struct iocp *io = iocp_of(port);
	struct cport__op *x = cport__x(op);
	struct iocp_accept *a = iocp_ctx(x);
	x->be.words[IOCP_W_WHERE] = IOCP_AT_PARKED;
	a->next = io->parked;
	io->parked = a;
	op->result = res;
	op->cflags = CPORT_MORE;
	x->xflags |= CPORT__X_UNREAPED;
	if (out && *n < max)
		out[(*n)++] = op;
	else
		cport__queue_push(&port->ready, op);
}

static void iocp_unpark(struct iocp *io, struct iocp_accept *a)
{
	for (struct iocp_accept **pp = &io->parked; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			return;
		}
	assert(!"parked accept not found");
}

/* Start the op `op` just issued, or finish it. */
static void iocp_sock_issued(cport *port, cport_op *op, bool due, int64_t res, cport_op **out,
			     unsigned max, unsigned *n)
{
	if (due)
		iocp_sock_in_kernel(iocp_of(port), op);
	else
		iocp_sock_done(port, op, res, out, max, n);
}

/* Issue the next accept of every parked multishot op whose last completion was
 * reaped; a parked op that was cancelled, timed out or lost its listener ends. */
static void iocp_rearm(cport *port, cport_op **out, unsigned max, unsigned *n)
{
	struct iocp *io = iocp_of(port);
	struct iocp_accept **pp = &io->parked;
	while (*pp) {
		struct iocp_accept *a = *pp;
		cport_op *op = a->op;
		struct cport__op *x = cport__x(op);
		if (x->xflags & CPORT__X_UNREAPED) {
			pp = &a->next;
			continue;
		}
		*pp = a->next;
		struct iocp_handle *e = iocp_find(io, x->fd);
		int64_t res = iocp_sock_stopped(x);
		bool due = false;
		if (!(x->xflags & (CPORT__X_CANCELLED | CPORT__X_TIMEDOUT)) && e && !e->closer)
			due = iocp_accept_issue(io, op, &res);
		iocp_sock_issued(port, op, due, res, out, max, n);
	}
}

/* Windows fails every send after the peer's reset with a reset; Unix says so once, then
 * EPIPE, which is the contract's portable answer. */
static int64_t iocp_send_reset(struct iocp_handle *e, int64_t res)
{
	if (res != CPORT_ECONNRESET && res != CPORT_ECONNABORTED)
		return res;
	if (e->reset)
		return CPORT_EPIPE;
	e->reset = true;
	return res;
}

/* Start the sends waiting on a socket, one at a time. */
static void iocp_send_pump(cport *port, cport_fd fd, cport_op **out, unsigned max, unsigned *n)
{
	struct iocp *io = iocp_of(port);
	for (;;) {
		struct iocp_handle *e = iocp_find(io, fd);
		if (io->dying || !e || e->sending || !e->sendq.head)
			return;
		cport_op *op = e->sendq.head;
		iocp_dl_unlink(&e->sendq, op);
		int64_t res;
		if (iocp_send_issue(op, e, &res)) {
			e->sending = op;
			iocp_sock_in_kernel(io, op);
			return;
		}
		iocp_sock_done(port, op, iocp_send_reset(e, res), out, max, n);
	}
}

/* What a packet says: bytes, and the error (0 if none) in WinSock or Win32 terms. The
 * call ran on iocp_ioh: the socket, or a local accept's pipe instance. */
static DWORD iocp_sock_outcome(struct cport__op *x, bool sock, DWORD *got, DWORD *flags)
{
	*got = 0;
	*flags = 0;
	if (x->type == CPORT__POLL) {
		NTSTATUS st = (NTSTATUS)x->be.ov.Internal;
		return st >= 0 ? 0 : RtlNtStatusToDosError(st);
	}
	if (sock)
		return WSAGetOverlappedResult((SOCKET)iocp_ioh(x), &x->be.ov, got, FALSE, flags)
			       ? 0 : (DWORD)WSAGetLastError();
	return GetOverlappedResult(iocp_ioh(x), &x->be.ov, got, FALSE) ? 0 : GetLastError();
}

/* A packet for a send: true with *res when the op is done, else its next chunk went. */
static bool iocp_send_packet(struct iocp *io, cport_op *op, struct iocp_handle *e, DWORD got,
			     DWORD err, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	if (err) {
		*res = iocp_send_reset(e, iocp_sock_error(x, err));
		return true;
	}
	x->done += got;
	bool eof = x->type == CPORT__SENDFILE && got < x->mode;
	if (e->dgram || eof || x->done >= x->len || io->dying) {
		*res = (int64_t)x->done;
		return true;
	}
	if (x->xflags & (CPORT__X_CANCELLED | CPORT__X_TIMEDOUT) || e->closer) {
		*res = iocp_sock_stopped(x);
		return true;
	}
	if (!iocp_send_issue(op, e, res))
		return true;
	iocp_sock_in_kernel(io, op);
	return false;
}

static int64_t iocp_recv_result(struct cport__op *x, const struct iocp_handle *e, DWORD got,
				DWORD err)
{
	bool trunc = err == WSAEMSGSIZE && e->dgram;
	if (err && !trunc)
		return err == WSAEDISCON ? 0 : iocp_sock_error(x, err);
	if (x->type == CPORT__RECVMSG) {
		cport_msg *m = x->buf;
		struct iocp_recvfrom *rf = iocp_ctx(x);
		if (m->addr) {
			/* WSARecvFrom wrote the sender's sockaddr into addr->storage. */
			uint32_t len = rf ? (uint32_t)rf->fromlen : 0;
			if (!rf)
				memset(m->addr, 0, sizeof *m->addr);
			m->addr->len = len <= sizeof m->addr->storage ? len : 0;
		}
		m->flags = trunc ? CPORT_MSG_TRUNC : 0;
	}
	return got;
}

/* One packet of a socket op (or of an accept on a local listener). */
static void iocp_sock_packet(cport *port, cport_op *op, cport_op **out, unsigned max,
			     unsigned *n)
{
	struct iocp *io = iocp_of(port);
	struct cport__op *x = cport__x(op);
	struct iocp_handle *e = iocp_find(io, x->fd);
	assert(e && e->inflight > 0);
	e->inflight--;
	io->in_kernel--;
	x->be.words[IOCP_W_WHERE] = IOCP_AT_NONE;
	if (e->lsn)
		iocp_dl_unlink(&e->acc, op);
	DWORD got, flags, err = iocp_sock_outcome(x, e->sock, &got, &flags);
	cport_fd fd = x->fd;
	bool sent = false, more = false;
	int64_t res;
	if (io->dying) {
		/* Destroy: drop it; an accepted socket or pipe instance is closed. */
		if (e->sending == op)
			e->sending = NULL;
		bool last = e->closer && e->inflight == 0;
		iocp_sock_done(port, op, CPORT_ECANCELED, NULL, 0, NULL);
		if (last)
			iocp_close_now(port, iocp_find(io, fd));
		return;
	}
	if (iocp_is_send(x)) {
		if (!iocp_send_packet(io, op, e, got, err, &res))
			return; /* the next chunk is in the kernel */
		e->sending = NULL;
		sent = true;
	} else if (x->type == CPORT__ACCEPT) {
		if (err == ERROR_PIPE_CONNECTED || err == ERROR_NO_DATA)
			err = 0;
		res = err ? iocp_sock_error(x, err) : iocp_accept_result(x, iocp_ctx(x));
		more = !err && (x->aux & CPORT_ACCEPT_MULTISHOT) && !io->dying;
	} else if (x->type == CPORT__CONNECT) {
		if (!err)
			setsockopt((SOCKET)x->fd, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0);
		res = err ? iocp_sock_error(x, err) : 0;
	} else if (x->type == CPORT__POLL) {
		struct iocp_afd_poll *p = iocp_ctx(x);
		res = err ? iocp_sock_error(x, err)
			  : p->count ? iocp_poll_events(p->events, x->aux) : 0;
		if (res == 0 && !io->dying && !(x->xflags & (CPORT__X_CANCELLED | CPORT__X_TIMEDOUT))) {
			bool due = iocp_poll_issue(op, &res); /* nothing asked for came: again */
			iocp_sock_issued(port, op, due, res, out, max, n);
			return;
		}
	} else {
		res = iocp_recv_result(x, e, got, err);
	}
	bool closing = e->closer && e->inflight == 0;
	if (more)
		iocp_park(port, op, res, out, max, n);
	else
		iocp_sock_done(port, op, res, out, max, n);
	if (closing)
		iocp_close_now(port, iocp_find(io, fd));
	else if (sent)
		iocp_send_pump(port, fd, out, max, n);
}

/* Finish at once the ops of a socket that never reached the kernel, or wait parked:
 * queued sends and multishot accepts (close cancels, rule 8). */
static void iocp_sock_close_cancel(cport *port, struct iocp_handle *e)
{
	struct iocp *io = iocp_of(port);
	cport_op *op;
	while ((op = e->sendq.head) != NULL) {
		iocp_dl_unlink(&e->sendq, op);
		iocp_sock_done(port, op, CPORT_ECANCELED, NULL, 0, NULL);
	}
	for (cport_op *a = e->acc.head; a; a = cport__x(a)->next)
		CancelIoEx(iocp_ioh(cport__x(a)), &cport__x(a)->be.ov);
	for (struct iocp_accept *a = io->parked; a; a = a->next) {
		struct cport__op *x = cport__x(a->op);
		if (x->fd == e->h)
			x->xflags |= CPORT__X_CANCELLED; /* iocp_rearm ends it */
	}
}

/* Cancel or time out a socket op wherever it is. True if it was one. */
static bool iocp_sock_stop(cport *port, cport_op *op, cport_op **out, unsigned max,
			   unsigned *n)
{
	struct iocp *io = iocp_of(port);
	struct cport__op *x = cport__x(op);
	switch (x->be.words[IOCP_W_WHERE]) {
	case IOCP_AT_KERNEL:
		CancelIoEx(iocp_ioh(x), &x->be.ov);
		return true;
	case IOCP_AT_QUEUED:
		iocp_dl_unlink(&iocp_find(io, x->fd)->sendq, op);
		iocp_sock_done(port, op, iocp_sock_stopped(x), out, max, n);
		return true;
	case IOCP_AT_PARKED:
		if (!(x->xflags & CPORT__X_UNREAPED)) {
			iocp_unpark(io, iocp_ctx(x));
			iocp_sock_done(port, op, iocp_sock_stopped(x), out, max, n);
		}
		return true; /* else iocp_rearm ends it once reaped */
	default:
		return false;
	}
}

/* Socket ops on a handle that is no socket: a pipe (a local stream) reads and writes;
 * the rest cannot apply. */
static int iocp_sock_on_pipe(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	switch ((enum cport__type)x->type) {
	case CPORT__RECV:
		x->type = CPORT__READ;
		break;
	case CPORT__SEND:
		x->type = CPORT__WRITE;
		break;
	case CPORT__RECVMSG:
	case CPORT__SENDMSG: {
		cport_msg *m = x->buf;
		if (x->type == CPORT__SENDMSG && m->addr)
			return CPORT_EISCONN;
		if (m->addr)
			memset(m->addr, 0, sizeof *m->addr);
		m->flags = 0;
		x->type = x->type == CPORT__RECVMSG ? CPORT__READV : CPORT__WRITEV;
		x->aux = m->iovcnt;
		x->buf = m->iov;
		break;
	}
	default:
		return CPORT_ENOTSOCK;
	}
	x->offset = -1;
	return iocp_rw_start(port, op);
}

/* A local listener gets a table entry of its own (not associated: its accepts run on
 * pipe instances) so that close and destroy find its accepts. */
static int iocp_lsn_entry(struct iocp *io, cport_fd fd, struct iocp_handle **e)
{
	*e = iocp_find(io, fd);
	if (*e || !cport__win_local_is(fd))
		return 0;
	int r = iocp_reserve(io);
	if (r < 0)
		return r;
	*e = iocp_insert(io, fd);
	(*e)->lsn = true;
	(*e)->gen = cport__win_closes();
	return 0;
}

static int iocp_sock_start(cport *port, cport_op *op)
{
	struct iocp *io = iocp_of(port);
	struct cport__op *x = cport__x(op);
	struct iocp_handle *e = NULL;
	int r = x->type == CPORT__ACCEPT ? iocp_lsn_entry(io, x->fd, &e) : 0;
	if (r == 0 && !e)
		r = iocp_handle_get(io, x->fd, &e);
	if (r < 0)
		return r;
	if (e && e->closer)
		return CPORT_EBADF; /* a cport_close of this descriptor is under way */
	if (!e || (!e->sock && !e->lsn))
		return iocp_sock_on_pipe(port, op); /* synchronous handles go to the pool */
	if (e->lsn && x->type != CPORT__ACCEPT)
		return CPORT_ENOTCONN; /* a local listener only accepts */
	if (x->type == CPORT__SENDFILE && x->len == 0) {
		cport__complete(port, op, 0);
		return 0;
	}
	x->be.words[IOCP_W_IOH] = x->fd;
	x->be.words[IOCP_W_CTX] = 0;
	x->done = 0;
	if (iocp_is_send(x) && !(x->type == CPORT__SHUTDOWN && x->aux == CPORT_SHUT_RD)) {
		x->len = iocp_sock_total(x);
		if (op->timeout_ns &&
		    (r = cport__timers_add(&io->timers, op, cport_now_ns() + op->timeout_ns)) < 0)
			return r;
		x->be.words[IOCP_W_WHERE] = IOCP_AT_QUEUED;
		iocp_dl_push(&e->sendq, op);
		iocp_send_pump(port, x->fd, NULL, 0, NULL);
		return 0;
	}
	int64_t res = 0;
	bool due;
	switch ((enum cport__type)x->type) {
	case CPORT__ACCEPT:
		due = iocp_accept_issue(io, op, &res);
		break;
	case CPORT__CONNECT:
		due = iocp_connect_issue(op, e, &res);
		break;
	case CPORT__POLL:
		due = iocp_poll_issue(op, &res);
		break;
	case CPORT__SHUTDOWN:
		due = iocp_send_issue(op, e, &res);
		break;
	default:
		due = iocp_recv_issue(op, e, &res);
		break;
	}
	if (due && op->timeout_ns &&
	    (r = cport__timers_add(&io->timers, op, cport_now_ns() + op->timeout_ns)) < 0) {
		/* Out of memory for the timer: stop the call; its packet ends the op. */
		CancelIoEx(iocp_ioh(x), &x->be.ov);
	}
	iocp_sock_issued(port, op, due, res, NULL, 0, NULL);
	return 0;
}

/* ---- 5. Completion packets ------------------------------------------------------------ */

static cport_op *iocp_op_of(OVERLAPPED *ov)
{
	/* The OVERLAPPED is be.ov inside cport_op.internal: walk back to the op. */
	char *x = (char *)ov - offsetof(struct cport__op, be);
	return (cport_op *)(void *)(x - offsetof(cport_op, internal));
}

static void iocp_packet(cport *port, const OVERLAPPED_ENTRY *pe, cport_op **out, unsigned max,
			unsigned *n)
{
	struct iocp *io = iocp_of(port);
	if (pe->lpCompletionKey == IOCP_KEY_WAKE) {
		atomic_store(&port->notified, false);
		return;
	}
	cport_op *op = iocp_op_of(pe->lpOverlapped);
	struct cport__op *x = cport__x(op);
	if (x->be.words[IOCP_W_WHERE] == IOCP_AT_KERNEL) {
		iocp_sock_packet(port, op, out, max, n);
		return;
	}
	assert(x->state == CPORT__INFLIGHT && x->pending == 1);
	x->pending = 0;
	DWORD got = 0;
	BOOL ok = GetOverlappedResult((HANDLE)x->fd, &x->be.ov, &got, FALSE);
	DWORD err = ok ? 0 : GetLastError();
	struct iocp_handle *e = iocp_find(io, x->fd);
	assert(e && e->inflight > 0);
	int64_t res;
	if (!iocp_rw_progress(io, op, e, got, err, &res))
		return; /* the next chunk is in the kernel */
	io->in_kernel--;
	cport__timers_remove(&io->timers, op);
	if (--e->inflight == 0 && e->closer)
		iocp_close_now(port, e);
	if (io->dying)
		return;
	op->result = res;
	if (*n < max)
		out[(*n)++] = op;
	else
		cport__queue_push(&port->ready, op);
}

/* Milliseconds to block: the caller's timeout, cut by the next timer, rounded up so a
 * timer is due when we wake. */
static DWORD iocp_wait_ms(struct iocp *io, int64_t timeout_ns)
{
	int64_t t = cport__timers_next_ns(&io->timers, cport_now_ns());
	if (timeout_ns >= 0 && (t < 0 || timeout_ns < t))
		t = timeout_ns;
	if (t < 0)
		return INFINITE;
	int64_t ms = (t + 999999) / 1000000;
	return ms >= (int64_t)INFINITE ? INFINITE - 1 : (DWORD)ms;
}

/* Take up to IOCP_BATCH packets, waiting up to `ms`. */
static int iocp_dequeue(cport *port, DWORD ms, cport_op **out, unsigned max, unsigned *n)
{
	OVERLAPPED_ENTRY ents[IOCP_BATCH];
	ULONG got = 0;
	if (!GetQueuedCompletionStatusEx(iocp_of(port)->port, ents, IOCP_BATCH, &got, ms, FALSE)) {
		DWORD err = GetLastError();
		return err == WAIT_TIMEOUT ? 0 : cport__win_error(err);
	}
	for (ULONG i = 0; i < got; i++)
		iocp_packet(port, &ents[i], out, max, n);
	return 0;
}

/* ---- 6. The table slots ---------------------------------------------------------------- */

static int iocp_init(cport *port, const cport_options *o, char *why, size_t n)
{
	(void)o;
	struct iocp *io = calloc(1, sizeof *io);
	if (!io)
		return CPORT_ENOMEM;
	/* One thread reaps a port (the contract's rule 10): concurrency 1. */
	io->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	if (!io->port) {
		int r = cport__win_error(GetLastError());
		cport__why(why, n, "iocp", "CreateIoCompletionPort failed", r);
		free(io);
		return r;
	}
	port->impl = io;
	return 0;
}

static int iocp_start(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	x->be.words[IOCP_W_WHERE] = IOCP_AT_NONE;
	switch ((enum cport__type)x->type) {
	case CPORT__NOP:
		cport__complete(port, op, 0);
		return 0;
	case CPORT__TIMER:
		return iocp_timer_start(port, op);
	case CPORT__READ:
	case CPORT__WRITE:
	case CPORT__READV:
	case CPORT__WRITEV:
		return iocp_rw_start(port, op);
	case CPORT__CLOSE:
		return iocp_close_start(port, op);
	case CPORT__FSYNC:
	case CPORT__OPEN:
	case CPORT__STAT:
	case CPORT__FSTAT:
	case CPORT__FALLOCATE:
	case CPORT__FTRUNCATE:
	case CPORT__RENAME:
	case CPORT__UNLINK:
	case CPORT__MKDIR:
		/* Timeouts on pool ops would mean abandoning a running call that still
		 * writes the caller's memory: refuse them, as the io_uring backend does. */
		return op->timeout_ns ? CPORT_ENOTSUP : cport__pool_start(port, op);
	case CPORT__ACCEPT:
	case CPORT__CONNECT:
	case CPORT__RECV:
	case CPORT__SEND:
	case CPORT__RECVMSG:
	case CPORT__SENDMSG:
	case CPORT__SHUTDOWN:
	case CPORT__POLL:
	case CPORT__SENDFILE:
		return iocp_sock_start(port, op);
	case CPORT__POST:
	case CPORT__TYPE_MAX:
		break;
	}
	assert(!"not an IOCP op");
	return CPORT_EINVAL;
}

static void iocp_cancel(cport *port, cport_op *op)
{
	struct iocp *io = iocp_of(port);
	struct cport__op *x = cport__x(op);
	if (x->xflags & CPORT__X_POOL) {
		cport__pool_cancel(port, op);
	} else if (x->type == CPORT__TIMER) {
		if (x->heap_idx) {
			cport__timers_remove(&io->timers, op);
			cport__complete(port, op, CPORT_ECANCELED);
		}
	} else if (iocp_sock_stop(port, op, NULL, 0, NULL)) {
		/* a socket op: stopped where it was */
	} else if (x->pending) {
		/* ERROR_NOT_FOUND: the packet is already queued; the op keeps its result. */
		CancelIoEx((HANDLE)x->fd, &x->be.ov);
	}
	/* Anything else already completed, or is a close waiting for its handle. */
}

static int iocp_flush(cport *port)
{
	/* Every op went to the kernel when it was started: nothing is queued here. */
	(void)port;
	return 0;
}

static int iocp_reap(cport *port, cport_op **out, unsigned max, int64_t timeout_ns)
{
	struct iocp *io = iocp_of(port);
	unsigned n = 0;
	if (io->parked)
		iocp_rearm(port, out, max, &n);
	iocp_expire(port, out, max, &n);
	DWORD ms = 0;
	bool block = timeout_ns != 0 && max > 0 && n == 0 && !port->ready.head;
	if (block) {
		ms = iocp_wait_ms(io, timeout_ns);
		block = cport__sleep_begin(port);
		if (!block)
			ms = 0;
	}
	int r = iocp_dequeue(port, ms, out, max, &n);
	if (block)
		cport__sleep_end(port);
	if (r < 0 && n == 0)
		return r;
	iocp_expire(port, out, max, &n);
	return (int)n;
}

static void iocp_wake(cport *port)
{
	PostQueuedCompletionStatus(iocp_of(port)->port, 0, IOCP_KEY_WAKE, NULL);
}

/* Destroy: cancel every read and write in the kernel and wait for all their packets,
 * so no OVERLAPPED or buffer is touched after this returns. */
static void iocp_fini(cport *port)
{
	struct iocp *io = iocp_of(port);
	io->dying = true;
	for (uint32_t i = 0; i < io->cap; i++) {
		if (!io->tab[i].h)
			continue;
		iocp_sock_close_cancel(port, &io->tab[i]); /* frees what waits in queues */
		if (io->tab[i].inflight)
			CancelIoEx((HANDLE)io->tab[i].h, NULL);
	}
	while (io->parked) {
		struct iocp_accept *a = io->parked;
		io->parked = a->next;
		iocp_sock_done(port, a->op, CPORT_ECANCELED, NULL, 0, NULL);
	}
	while (io->in_kernel > 0) {
		unsigned n = 0;
		iocp_dequeue(port, 100, NULL, 0, &n);
	}
	cport__timers_free(&io->timers);
	free(io->tab);
	CloseHandle(io->port);
	free(io);
	port->impl = NULL;
}

const struct cport_backend cport__iocp_backend = {
	.name = "iocp",
	.init = iocp_init,
	.fini = iocp_fini,
	.start = iocp_start,
	.cancel = iocp_cancel,
	.flush = iocp_flush,
	.reap = iocp_reap,
	.wake = iocp_wake,
};
