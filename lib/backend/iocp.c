/* SPDX-License-Identifier: MIT */
/* The IOCP backend: overlapped reads and writes through a completion port, the rest pooled. */

/*
 * Map
 *   1. State, the handle table (which handles this port has associated)
 *   2. Reads and writes: overlapped ReadFile/WriteFile, chunk by chunk
 *   3. Timers and timeouts (the shared deadline heap), close
 *   4. Completion packets
 *   5. The table slots: init, fini, start, cancel, flush, reap, wake
 *
 * A handle opened for overlapped I/O is associated with the port on its first read or
 * write (CreateIoCompletionPort) and stays in the handle table until cport_close. A
 * handle opened for synchronous I/O (a console, an anonymous pipe, a file from fopen)
 * cannot use the port: its reads and writes go to the thread pool, like fsync, open,
 * stat and every other metadata op.
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
};

struct iocp {
	HANDLE port;
	struct cport__timers timers;
	struct iocp_handle *tab; /* open addressing, linear probing; cap a power of two */
	uint32_t cap, used;
	uint64_t in_kernel;      /* ops with a packet still due (destroy drains them) */
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

/*
 * The table entry of a handle, associating it with the port on first use. *e = NULL
 * (and 0) for a synchronous handle, which the thread pool serves. A handle already
 * associated with another completion port cannot be used here: CPORT_EINVAL.
 */
static int iocp_handle_get(struct iocp *io, cport_fd fd, struct iocp_handle **e)
{
	*e = iocp_find(io, fd);
	if (*e)
		return 0;
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
	(*e)->disk = GetFileType(h) == FILE_TYPE_DISK;
	(*e)->append = (*e)->disk && iocp_is_append_only(h);
	return 0;
}

/* ---- 2. Reads and writes ------------------------------------------------------------ */

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
		CloseHandle((HANDLE)cport__x(closer)->fd);
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
	if (!e || e->inflight == 0) {
		if (e)
			iocp_remove(io, e);
		return cport__pool_start(port, op);
	}
	e->closer = op;
	CancelIoEx((HANDLE)x->fd, NULL);
	return 0;
}

/* ---- 4. Completion packets ------------------------------------------------------------ */

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

/* ---- 5. The table slots ---------------------------------------------------------------- */

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
		return CPORT_ENOSYS; /* socket ops: not on IOCP yet */
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
	for (uint32_t i = 0; i < io->cap; i++)
		if (io->tab[i].h && io->tab[i].inflight)
			CancelIoEx((HANDLE)io->tab[i].h, NULL);
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
