/* SPDX-License-Identifier: MIT */
/* The IOCP backend: overlapped file, pipe and socket I/O through a completion port. */

/*
 * Map
 *   1. State: the op's overlay, accept slots, what kind a handle is
 *   2. Reads and writes on files and pipes: ReadFile/WriteFile, chunk by chunk
 *   3. Sockets: send, recv, connect, poll, accept (and local accepts on named pipes)
 *   3b. Pool receives: a zero-byte receive, then a pool buffer
 *   4. One op's life: issue, outcome, finish, the handle's next op; multishot accepts
 *   5. Stopping ops: timeouts (the port's deadline heap, lib/timer.c), cancel, close
 *   6. Completion packets
 *   7. The table slots: init, fini, start, cancel, flush, reap, wake
 *
 * The descriptor engine (lib/fdstate.c) keeps the contract's per-handle rules: sends
 * (send, write, sendmsg, sendfile, connect, a shutdown that stops sending) wait in the
 * handle's send FIFO and go to the kernel one at a time, so their bytes never interleave
 * and a send the kernel cut short is finished before the next; a close cancels what
 * waits, asks the kernel to stop what it has (CancelIoEx), and completes after every op
 * on the handle; the close generation says when a value may be a new handle. Receives
 * go to the kernel at once (WinSock fills overlapped receives in the order they were
 * issued) and sit on the receive list only so that close and destroy find them, except
 * behind a pool receive (section 3b), which holds the receive side: receives submitted
 * after it wait in the list until it completed. IOCP keeps in each entry (eng.w) what
 * kind of handle it is.
 *
 * A handle opened for overlapped I/O is associated with the port on its first read or
 * write (CreateIoCompletionPort) for its whole life. A handle opened for synchronous
 * I/O (a console, an anonymous pipe, a file from fopen) cannot use the port: its reads
 * and writes go to the thread pool, like fsync, open, stat and every other metadata op.
 *
 * Each op in the kernel owns one OVERLAPPED (in its overlay, struct iocp_x) and one
 * completion packet at a time; opx.pending is 1 while the packet is due. A vectored op
 * or a transfer the kernel cut short is issued again, chunk by chunk, from the packet
 * handler. Every overlapped call posts a packet, even when it completes at once
 * (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is not set): one completion path for all.
 * Nothing is allocated per op: accepts take a slot from the port's slabs (which grow
 * only when more accepts are in flight at once than ever before), a datagram's WSABUF
 * array is built in the port's scratch (WinSock captures it during the call), and
 * everything else lives in the op.
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

/* ---- 1. State ------------------------------------------------------------------------- */

enum { IOCP_KEY_IO = 1, IOCP_KEY_WAKE = 2 }; /* completion keys */
#define IOCP_BATCH 64                        /* packets taken from the port per call */
#define IOCP_MAX_IOV 1024                    /* iovecs of one op at most (port.c) */
/* Largest chunk per WinSock call (WSABUF lengths are ULONG; TransmitFile takes less
 * than 2^31 - 1). */
#define IOCP_SOCK_CHUNK (1u << 30)

/* What a handle is (cport__fd_iocp.kind). */
enum {
	IOCP_K_NONE,  /* not looked at yet */
	IOCP_K_SYNC,  /* opened for synchronous I/O: the pool serves it */
	IOCP_K_FILE,  /* associated, not a socket: a file, a pipe, a device */
	IOCP_K_SOCK,  /* an associated socket */
	IOCP_K_LSN,   /* a local listener (never associated: its accepts run on pipe
	                 instances) */
};

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

/* AcceptEx's room for an address: 16 bytes more than the largest one. */
#define IOCP_ADDR_LEN (sizeof(SOCKADDR_STORAGE) + 16)

/* What an AcceptEx needs until its packet: the socket it fills, room for both
 * addresses. Slots live in slabs that never move and are reused. */
struct iocp_slot {
	SOCKET s;
	struct iocp_slot *next_free;
	char addrs[2 * IOCP_ADDR_LEN];
};
#define IOCP_SLAB 16
struct iocp_slab {
	struct iocp_slab *next;
	struct iocp_slot slot[IOCP_SLAB];
};

/* The engine's overlay of opx.be: the OVERLAPPED first (a packet's OVERLAPPED pointer
 * leads back to the op), then what each kind of op keeps until its packet. */
struct iocp_x {
	union {
		struct {
			OVERLAPPED ov;
			union {
				struct {
					uint32_t chunk; /* sends: bytes asked of the call */
					INT fromlen;    /* WSARecvFrom: the sender's length */
					DWORD flags;    /* WSARecvFrom: its flags */
					uint32_t cflags; /* pool receives: CPORT_BUF of
					                    the result, until delivered */
				} io;
				struct {
					HANDLE inst;            /* local: the pipe instance */
					struct iocp_slot *slot; /* socket: AcceptEx's socket */
					cport_op *parked_next;  /* multishot: iocp.parked */
				} acc;
			};
		};
		struct {
			/* poll: NtDeviceIoControlFile's status block, where the
			 * OVERLAPPED's Internal is, and AFD's request and answer */
			IO_STATUS_BLOCK iosb;
			struct iocp_afd_poll afd;
		} poll;
	};
};
CPORT__BE_FITS(struct iocp_x);

struct iocp {
	HANDLE port;
	uint64_t in_kernel;          /* packets still due (destroy drains them) */
	cport_op *parked;            /* multishot accepts waiting to be issued again */
	struct iocp_slab *slabs;
	struct iocp_slot *free_slots;
	bool dying;                  /* destroy: deliver nothing, issue nothing more */
	WSABUF wsabuf[IOCP_MAX_IOV]; /* a datagram's buffers, for the call only */
};

static struct iocp *iocp_of(cport *port)
{
	return port->impl;
}

static struct iocp_x *iox(cport_op *op)
{
	return (struct iocp_x *)(void *)&cport__x(op)->be;
}

static cport_op *iocp_op_of(OVERLAPPED *ov)
{
	/* The OVERLAPPED opens opx.be inside cport_op.internal: walk back to the op. */
	char *x = (char *)ov - offsetof(struct cport__op, be);
	return (cport_op *)(void *)(x - offsetof(cport_op, internal));
}

/* The handle state of an op already accepted (its entry exists). */
static struct cport__fd_iocp *iocp_w(cport *port, cport_fd fd)
{
	struct cport__fd *f = cport__fd_find(port, fd);
	assert(f);
	return &f->eng.w;
}

static struct iocp_slot *iocp_slot_get(struct iocp *io)
{
	if (!io->free_slots) {
		struct iocp_slab *b = malloc(sizeof *b);
		if (!b)
			return NULL;
		b->next = io->slabs;
		io->slabs = b;
		for (int i = 0; i < IOCP_SLAB; i++) {
			b->slot[i].next_free = io->free_slots;
			io->free_slots = &b->slot[i];
		}
	}
	struct iocp_slot *s = io->free_slots;
	io->free_slots = s->next_free;
	s->s = INVALID_SOCKET;
	return s;
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

/* What an associated handle is. Sockets and pipes both say FILE_TYPE_PIPE: WinSock
 * tells them apart. */
static void iocp_kind_init(struct cport__fd_iocp *w, HANDLE h)
{
	DWORD type = GetFileType(h);
	int so = 0, len = sizeof so;
	*w = (struct cport__fd_iocp){.kind = IOCP_K_FILE};
	w->disk = type == FILE_TYPE_DISK;
	w->append = w->disk && iocp_is_append_only(h);
	if (type == FILE_TYPE_PIPE && cport__wsa_init() == 0 &&
	    getsockopt((SOCKET)h, SOL_SOCKET, SO_TYPE, (char *)&so, &len) == 0) {
		w->kind = IOCP_K_SOCK;
		w->dgram = so == SOCK_DGRAM;
	}
}

/*
 * The kind of a handle, learnt at its first op, and again when a close anywhere in the
 * process may have freed its value (`recheck`, set by iocp_fd_stale): a local listener,
 * a synchronous handle, or one associated with the port now. An associated handle
 * refuses a second association: on a recheck that says it is still the one we know
 * (whatever it learnt, such as a peer's reset, stays); on a first look, that it
 * belongs to another port (CPORT_EINVAL).
 */
static int iocp_classify(cport *port, struct cport__fd_iocp *w, cport_fd fd)
{
	HANDLE h = (HANDLE)fd;
	bool known = w->recheck && (w->kind == IOCP_K_FILE || w->kind == IOCP_K_SOCK);
	w->recheck = false;
	if (cport__win_local_is(fd)) {
		*w = (struct cport__fd_iocp){.kind = IOCP_K_LSN};
		return 0;
	}
	if (iocp_is_sync(h)) {
		*w = (struct cport__fd_iocp){.kind = IOCP_K_SYNC};
		return 0;
	}
	if (!CreateIoCompletionPort(h, iocp_of(port)->port, IOCP_KEY_IO, 0)) {
		if (known)
			return 0;
		*w = (struct cport__fd_iocp){0};
		return cport__win_error(GetLastError());
	}
	/* The op's OVERLAPPED has no event; nobody waits on the handle itself either. */
	SetFileCompletionNotificationModes(h, FILE_SKIP_SET_EVENT_ON_HANDLE);
	iocp_kind_init(w, h);
	return 0;
}

/* The descriptor engine's entry of an op's handle, its kind known. */
static int iocp_fd_get(cport *port, cport_fd fd, struct cport__fd **f)
{
	int r = cport__fd_get(port, fd, f);
	if (r < 0)
		return r;
	struct cport__fd_iocp *w = &(*f)->eng.w;
	return w->kind == IOCP_K_NONE || w->recheck ? iocp_classify(port, w, fd) : 0;
}

/* The descriptor engine's fd_stale slot: look at the handle again before its next op. */
static void iocp_fd_stale(cport *port, struct cport__fd *f)
{
	(void)port;
	f->eng.w.recheck = f->eng.w.kind != IOCP_K_NONE;
}

/* ---- 2. Reads and writes on files and pipes ------------------------------------------ */

static bool iocp_is_read(const struct cport__op *x)
{
	return x->type == CPORT__READ || x->type == CPORT__READV;
}

static bool iocp_has_iov(const struct cport__op *x)
{
	return x->type == CPORT__READV || x->type == CPORT__WRITEV ||
	       x->type == CPORT__RECVMSG || x->type == CPORT__SENDMSG;
}

/* The next stretch of a transfer, at most `max` bytes: the rest of its buffer, or of
 * its current iovec; none (NULL, 0) once nothing is left, every iovec empty included. */
static char *iocp_chunk(const struct cport__op *x, uint64_t max, DWORD *n)
{
	uint64_t left = 0;
	char *p = NULL;
	if (!iocp_has_iov(x)) {
		left = x->len - x->done;
		p = x->buf ? (char *)x->buf + x->done : NULL; /* no arithmetic on NULL */
	} else {
		unsigned cnt, i;
		uint64_t skip;
		const cport_iovec *iov = cport__op_iov(x, &cnt);
		if ((i = cport__iov_at(iov, cnt, x->done, &skip)) < cnt) {
			left = iov[i].len - skip;
			p = (char *)iov[i].base + skip;
		}
	}
	*n = (DWORD)(left < max ? left : max);
	return p;
}

/* The file offset of the next chunk. Offset -1 on a file means its file pointer, which
 * overlapped I/O does not move by itself (see iocp_rw_moved). */
static int iocp_chunk_offset(const struct cport__op *x, const struct cport__fd_iocp *w,
			     uint64_t *off)
{
	if (w->append && !iocp_is_read(x)) {
		*off = UINT64_MAX; /* Offset and OffsetHigh all ones: the end of the file */
		return 0;
	}
	if (x->offset >= 0) {
		*off = (uint64_t)x->offset + x->done;
		return 0;
	}
	*off = 0;
	if (!w->disk)
		return 0; /* pipes have no offset */
	LARGE_INTEGER zero = {0}, pos;
	if (!SetFilePointerEx((HANDLE)x->fd, zero, &pos, FILE_CURRENT))
		return cport__win_error(GetLastError());
	*off = (uint64_t)pos.QuadPart;
	return 0;
}

static void iocp_rw_moved(const struct cport__op *x, const struct cport__fd_iocp *w, DWORD n)
{
	if (x->offset < 0 && w->disk && n && !(w->append && !iocp_is_read(x))) {
		LARGE_INTEGER d = {.QuadPart = n};
		SetFilePointerEx((HANDLE)x->fd, d, NULL, FILE_CURRENT);
	}
}

/* The result of an op the kernel stopped: a cancel, a close, or its timeout. */
static int64_t iocp_stopped(const struct cport__op *x)
{
	if ((x->xflags & CPORT__X_TIMEDOUT) && !(x->xflags & CPORT__X_CANCELLED))
		return CPORT_ETIMEDOUT;
	return CPORT_ECANCELED;
}

/* Why an op between two calls must not go on (its result), or 0. */
static int64_t iocp_stop_reason(cport *port, const struct cport__op *x)
{
	if (x->xflags & (CPORT__X_CANCELLED | CPORT__X_TIMEDOUT) || iocp_of(port)->dying)
		return iocp_stopped(x);
	struct cport__fd *f = cport__fd_find(port, x->fd);
	return f && f->closing ? CPORT_ECANCELED : 0;
}

/* The result of a failed read or write: end of file or of a pipe is a short read. */
static int64_t iocp_rw_error(const struct cport__op *x, DWORD err)
{
	if (iocp_is_read(x) && (err == ERROR_HANDLE_EOF || err == ERROR_BROKEN_PIPE))
		return (int64_t)x->done;
	if (err == ERROR_OPERATION_ABORTED)
		return iocp_stopped(x);
	if (err == ERROR_ACCESS_DENIED)
		return CPORT_EBADF; /* not open for this direction, as read(2)/write(2) say */
	return cport__win_error(err);
}

/* Issue the next chunk. True: a packet is due; false: done at once with *res. */
static bool iocp_rw_issue(cport_op *op, const struct cport__fd_iocp *w, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	OVERLAPPED *ov = &iox(op)->ov;
	DWORD n;
	char *p = iocp_chunk(x, UINT32_MAX, &n);
	uint64_t off;
	int r = iocp_chunk_offset(x, w, &off);
	if (r < 0) {
		*res = r;
		return false;
	}
	memset(ov, 0, sizeof *ov);
	ov->Offset = (DWORD)off;
	ov->OffsetHigh = (DWORD)(off >> 32);
	HANDLE h = (HANDLE)x->fd;
	BOOL ok = iocp_is_read(x) ? ReadFile(h, p, n, NULL, ov) : WriteFile(h, p, n, NULL, ov);
	DWORD err = ok ? 0 : GetLastError();
	if (ok || err == ERROR_IO_PENDING)
		return true;
	*res = iocp_rw_error(x, err);
	return false;
}

/* A read or write's packet: true with *res when the op is done, false to go on. */
static bool iocp_rw_outcome(cport *port, cport_op *op, DWORD got, DWORD err, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	if (err) {
		*res = iocp_rw_error(x, err);
		return true;
	}
	bool finished = cport__op_moved(x, got);
	iocp_rw_moved(x, iocp_w(port, x->fd), got);
	*res = (int64_t)x->done;
	if (finished)
		return true;
	int64_t stop = iocp_stop_reason(port, x);
	if (stop)
		*res = stop;
	return stop != 0;
}

/* ---- 3. Sockets ------------------------------------------------------------------------ */

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

static int64_t iocp_sock_error(const struct cport__op *x, DWORD err)
{
	if (err == WSA_OPERATION_ABORTED || err == ERROR_OPERATION_ABORTED)
		return iocp_stopped(x);
	if (err == WSAESHUTDOWN && iocp_is_send(x))
		return CPORT_EPIPE;
	return cport__win_error(err);
}

static int64_t iocp_wsa_error(const struct cport__op *x)
{
	return iocp_sock_error(x, (DWORD)WSAGetLastError());
}

/* True when the call left a completion packet due (success included: packets are
 * not skipped on success, see the top of this file). */
static bool iocp_wsa_pending(int rc)
{
	return rc == 0 || WSAGetLastError() == WSA_IO_PENDING;
}

/* The same for a receive on a datagram socket: one that found a datagram too large for
 * its buffers at once fails with WSAEMSGSIZE and still posts its packet (a truncation
 * is a warning to the kernel, not an error: the bytes moved). */
static bool iocp_wsa_recv_pending(int rc, const struct cport__fd_iocp *w)
{
	return iocp_wsa_pending(rc) || (w->dgram && WSAGetLastError() == WSAEMSGSIZE);
}

/* Every buffer of a datagram op as WSABUFs in the port's scratch array: one datagram,
 * one call. WinSock captures the array during the call ("the WSABUF array is
 * transient"; Wine copies it into its request), so one array serves every call. */
static DWORD iocp_wsabufs(struct iocp *io, const struct cport__op *x)
{
	unsigned n;
	const cport_iovec *iov = cport__op_iov(x, &n);
	assert(n <= IOCP_MAX_IOV);
	for (unsigned i = 0; i < n; i++) {
		io->wsabuf[i].buf = iov[i].base;
		io->wsabuf[i].len = iov[i].len > IOCP_SOCK_CHUNK ? IOCP_SOCK_CHUNK : (ULONG)iov[i].len;
	}
	return n;
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

/* Windows fails every send after the peer's reset with a reset; Unix says so once, then
 * EPIPE, which is the contract's portable answer. */
static int64_t iocp_send_reset(struct cport__fd_iocp *w, int64_t res)
{
	if (res != CPORT_ECONNRESET && res != CPORT_ECONNABORTED)
		return res;
	if (w->reset)
		return CPORT_EPIPE;
	w->reset = true;
	return res;
}

/* A send (or what waits its turn among sends) at the head of its socket's FIFO:
 * issue its next chunk. True: a packet is due; false: done at once with *res. */
static bool iocp_send_issue(cport *port, cport_op *op, struct cport__fd_iocp *w,
			    int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct iocp_x *k = iox(op);
	SOCKET s = (SOCKET)x->fd;
	memset(&k->ov, 0, sizeof k->ov);
	int rc;
	if (x->type == CPORT__SHUTDOWN) {
		int how = x->aux == CPORT_SHUT_RD ? SD_RECEIVE
			: x->aux == CPORT_SHUT_WR ? SD_SEND : SD_BOTH;
		*res = shutdown(s, how) ? iocp_send_reset(w, iocp_wsa_error(x)) : 0;
		return false;
	}
	uint64_t left = x->len - x->done;
	if (w->dgram && left > 65507 && iocp_dgram_too_big(s, left)) {
		*res = CPORT_EMSGSIZE;
		return false;
	}
	if (left == 0 && !w->dgram) {
		*res = (int64_t)x->done;
		return false;
	}
	if (x->type == CPORT__SENDFILE) {
		k->io.chunk = left > IOCP_SOCK_CHUNK ? IOCP_SOCK_CHUNK : (uint32_t)left;
		uint64_t off = (uint64_t)x->offset + x->done;
		k->ov.Offset = (DWORD)off;
		k->ov.OffsetHigh = (DWORD)(off >> 32);
		HANDLE f = (HANDLE)(uintptr_t)x->buf2;
		rc = TransmitFile(s, f, k->io.chunk, 0, &k->ov, NULL, 0) ? 0 : SOCKET_ERROR;
	} else if (w->dgram && iocp_has_iov(x)) {
		const cport_msg *m = x->type == CPORT__SENDMSG ? x->buf : NULL;
		const struct sockaddr *to = m && m->addr ? (const void *)m->addr->storage : NULL;
		DWORD cnt = iocp_wsabufs(iocp_of(port), x);
		rc = WSASendTo(s, iocp_of(port)->wsabuf, cnt, NULL, 0, to,
			       to ? (int)m->addr->len : 0, &k->ov, NULL);
	} else {
		WSABUF b;
		b.buf = iocp_chunk(x, IOCP_SOCK_CHUNK, &b.len);
		k->io.chunk = b.len;
		rc = WSASend(s, &b, 1, NULL, 0, &k->ov, NULL);
	}
	if (iocp_wsa_pending(rc))
		return true;
	*res = iocp_send_reset(w, iocp_wsa_error(x));
	return false;
}

static bool iocp_recv_issue(cport *port, cport_op *op, const struct cport__fd_iocp *w,
			    int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct iocp_x *k = iox(op);
	SOCKET s = (SOCKET)x->fd;
	memset(&k->ov, 0, sizeof k->ov);
	k->io.flags = 0;
	int rc;
	if (w->dgram && iocp_has_iov(x)) {
		/* WSARecvFrom writes the sender's length and the flags at completion:
		 * both live in the op. */
		cport_msg *m = x->type == CPORT__RECVMSG ? x->buf : NULL;
		struct sockaddr *from = NULL;
		if (m && m->addr) {
			from = (void *)m->addr->storage;
			k->io.fromlen = sizeof m->addr->storage;
		}
		DWORD cnt = iocp_wsabufs(iocp_of(port), x);
		rc = WSARecvFrom(s, iocp_of(port)->wsabuf, cnt, NULL, &k->io.flags, from,
				 from ? &k->io.fromlen : NULL, &k->ov, NULL);
	} else {
		WSABUF b;
		b.buf = iocp_chunk(x, IOCP_SOCK_CHUNK, &b.len);
		if (b.len == 0 && !w->dgram) {
			*res = 0;
			return false;
		}
		rc = WSARecv(s, &b, 1, NULL, &k->io.flags, &k->ov, NULL);
	}
	if (iocp_wsa_recv_pending(rc, w))
		return true;
	*res = WSAGetLastError() == WSAEDISCON ? 0 : iocp_wsa_error(x);
	return false;
}

/* ConnectEx needs a bound socket: bind to the wildcard address first if it is not. */
static bool iocp_connect_issue(cport_op *op, const struct cport__fd_iocp *w, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	SOCKET s = (SOCKET)x->fd;
	const cport_addr *a = x->buf;
	const struct sockaddr *sa = (const void *)a->storage;
	memset(&iox(op)->ov, 0, sizeof iox(op)->ov);
	if (w->dgram) { /* a datagram "connect" only sets the peer: at once */
		*res = connect(s, sa, (int)a->len) ? iocp_wsa_error(x) : 0;
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
			*res = iocp_wsa_error(x);
			return false;
		}
	}
	if (iocp_wsa_pending(cx(s, sa, (int)a->len, NULL, 0, NULL, &iox(op)->ov) ? 0 : SOCKET_ERROR))
		return true;
	*res = iocp_wsa_error(x);
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
 * it. Its status block sits where the OVERLAPPED's Internal does, so the packet and
 * the cancel find it the same way; AFD's answer is written into the op.
 */
static bool iocp_poll_issue(cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct iocp_x *k = iox(op);
	memset(&k->poll, 0, sizeof k->poll);
	struct iocp_afd_poll *p = &k->poll.afd;
	p->timeout.QuadPart = INT64_MAX;
	p->count = 1;
	p->h = (HANDLE)x->fd;
	p->events = iocp_afd_events(x->aux);
	NTSTATUS st = NtDeviceIoControlFile((HANDLE)x->fd, NULL, NULL, &k->ov, &k->poll.iosb,
					    IOCP_AFD_POLL, p, sizeof *p, p, sizeof *p);
	if (st >= 0)
		return true; /* STATUS_PENDING or done: either way a packet comes */
	*res = cport__win_error(RtlNtStatusToDosError(st));
	return false;
}

/* A local listener's accept: ConnectNamedPipe on its waiting instance (a new one takes
 * its place), associated with the port here; the instance becomes the new descriptor. */
static bool iocp_local_accept_issue(cport *port, cport_op *op, int64_t *res)
{
	struct iocp_x *k = iox(op);
	struct cport__fd *f;
	HANDLE inst;
	int r = cport__win_local_take(cport__x(op)->fd, &inst);
	if (r == 0) {
		k->acc.inst = inst;
		r = iocp_fd_get(port, (cport_fd)inst, &f);
		if (r == 0 && f->eng.w.kind != IOCP_K_FILE)
			r = CPORT_EINVAL;
	}
	if (r != 0) {
		*res = r > 0 ? CPORT_EBADF : r; /* 1: no listener of that value any more */
		return false;
	}
	if (ConnectNamedPipe(inst, &k->ov) || GetLastError() == ERROR_IO_PENDING)
		return true;
	DWORD err = GetLastError();
	if (err != ERROR_PIPE_CONNECTED && err != ERROR_NO_DATA) {
		*res = cport__win_error(err);
		return false;
	}
	*res = (int64_t)(uintptr_t)inst; /* a client came before the accept: no packet */
	k->acc.inst = NULL;
	return false;
}

/* AcceptEx into a new socket of the listener's family. */
static bool iocp_accept_issue(cport *port, cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct iocp_x *k = iox(op);
	memset(k, 0, sizeof *k);
	if (iocp_w(port, x->fd)->kind == IOCP_K_LSN)
		return iocp_local_accept_issue(port, op, res);
	SOCKADDR_STORAGE me;
	int len = sizeof me, r;
	if (getsockname((SOCKET)x->fd, (struct sockaddr *)&me, &len) != 0) {
		*res = iocp_wsa_error(x);
		return false;
	}
	struct iocp_slot *s = k->acc.slot = iocp_slot_get(iocp_of(port));
	if (!s) {
		*res = CPORT_ENOMEM;
		return false;
	}
	if ((r = cport__win_socket(&s->s, me.ss_family, SOCK_STREAM, IPPROTO_TCP)) < 0) {
		*res = r;
		return false;
	}
	if (AcceptEx((SOCKET)x->fd, s->s, s->addrs, 0, IOCP_ADDR_LEN, IOCP_ADDR_LEN, NULL,
		     &k->ov) || WSAGetLastError() == WSA_IO_PENDING)
		return true;
	*res = iocp_wsa_error(x);
	return false;
}

/* A finished accept's new descriptor, set up for use; the peer's address if asked. */
static int64_t iocp_accept_result(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct iocp_x *k = iox(op);
	cport_addr *peer = x->buf;
	if (peer)
		memset(peer, 0, sizeof *peer);
	if (k->acc.inst) {
		int64_t r = (int64_t)(uintptr_t)k->acc.inst;
		k->acc.inst = NULL;
		return r;
	}
	struct iocp_slot *s = k->acc.slot;
	assert(s && s->s != INVALID_SOCKET);
	SOCKET l = (SOCKET)x->fd;
	setsockopt(s->s, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&l, sizeof l);
	if (peer) {
		struct sockaddr *loc, *rem;
		int llen, rlen;
		GetAcceptExSockaddrs(s->addrs, 0, IOCP_ADDR_LEN, IOCP_ADDR_LEN, &loc, &llen, &rem,
				     &rlen);
		if (rlen > 0 && (size_t)rlen <= sizeof peer->storage) {
			memcpy(peer->storage, rem, (size_t)rlen);
			peer->len = (uint32_t)rlen;
		}
	}
	int64_t r = (int64_t)s->s;
	s->s = INVALID_SOCKET;
	return r;
}

/* An accept ended: its slot goes back, and a socket or pipe instance that did not
 * become its result is closed (the instance's entry forgotten). */
static void iocp_accept_release(cport *port, cport_op *op)
{
	struct iocp *io = iocp_of(port);
	struct iocp_x *k = iox(op);
	struct iocp_slot *s = k->acc.slot;
	if (s) {
		if (s->s != INVALID_SOCKET)
			closesocket(s->s);
		s->next_free = io->free_slots;
		io->free_slots = s;
	}
	if (k->acc.inst) {
		CloseHandle(k->acc.inst);
		cport__fd_close_end(port, (cport_fd)k->acc.inst);
	}
	k->acc.slot = NULL;
	k->acc.inst = NULL;
}

/* A send's packet: true with *res when it is done, false to send the next chunk. */
static bool iocp_send_outcome(cport *port, cport_op *op, DWORD got, DWORD err, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd_iocp *w = iocp_w(port, x->fd);
	if (err) {
		*res = iocp_send_reset(w, iocp_sock_error(x, err));
		return true;
	}
	x->done += got;
	*res = (int64_t)x->done;
	bool eof = x->type == CPORT__SENDFILE && got < iox(op)->io.chunk;
	if (w->dgram || eof || x->done >= x->len)
		return true;
	int64_t stop = iocp_stop_reason(port, x);
	if (stop)
		*res = stop;
	return stop != 0;
}

static int64_t iocp_recv_result(cport_op *op, const struct cport__fd_iocp *w, DWORD got,
				DWORD err)
{
	struct cport__op *x = cport__x(op);
	bool trunc = err == WSAEMSGSIZE && w->dgram;
	if (err && !trunc)
		return err == WSAEDISCON ? 0 : iocp_sock_error(x, err);
	if (x->type == CPORT__RECVMSG || x->type == CPORT__RECVMSG_POOL) {
		cport_msg *m = x->buf;
		if (m->addr && !w->dgram) {
			memset(m->addr, 0, sizeof *m->addr); /* a stream's peer is fixed */
		} else if (m->addr) {
			/* WSARecvFrom wrote the sender's sockaddr into addr->storage. */
			uint32_t len = (uint32_t)iox(op)->io.fromlen;
			m->addr->len = len <= sizeof m->addr->storage ? len : 0;
		}
		m->flags = trunc ? CPORT_MSG_TRUNC : 0;
	}
	return got;
}

/* ---- 3b. Pool receives ---------------------------------------------------------------- */

/*
 * A pool receive holds no buffer while it waits: a zero-byte WSARecv completes when data
 * (or the end of the stream, or an error) is there and takes nothing. Its packet then
 * takes a buffer from the pool (none free: CPORT_ENOBUFS) and receives into it at once,
 * without waiting: a plain non-blocking recv, so the buffer is settled (lent to the
 * caller, or free again) before the next packet is looked at, and a burst of readable
 * sockets larger than the pool does not run it dry (an overlapped receive would hold
 * each buffer until its own packet came). The socket is made non-blocking for that
 * (FIONBIO, once; overlapped calls are not affected). On a datagram socket the
 * zero-byte receive peeks (MSG_PEEK): a plain one would take the datagram and drop its
 * bytes (WSAEMSGSIZE then says one is there). A multishot receive parks between
 * completions like a multishot accept. On the receive side it holds its turn
 * (iocp_recv_next): receives issued before it are ahead of its zero-byte receive in
 * WinSock's queue, and receives submitted after it wait in the list until it completed,
 * so the stream order holds.
 */

/* What iocp_pool_now returns when the data went before it came (again: wait). */
#define IOCP_POOL_AGAIN INT64_MIN

static struct cport__bufpool *iocp_pool(cport *port, const struct cport__op *x)
{
	struct cport__bufpool *bp = cport__bufpool_get(port, x->mode);
	assert(bp && !bp->kernel);
	return bp;
}

/* The zero-byte receive: a packet when there is something to receive. */
static bool iocp_pool_issue(cport_op *op, const struct cport__fd_iocp *w, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct iocp_x *k = iox(op);
	WSABUF b = {0, NULL};
	memset(&k->ov, 0, sizeof k->ov);
	k->io.flags = w->dgram ? MSG_PEEK : 0;
	int rc = WSARecv((SOCKET)x->fd, &b, 1, NULL, &k->io.flags, &k->ov, NULL);
	if (iocp_wsa_recv_pending(rc, w)) /* (a peek of a datagram: WSAEMSGSIZE) */
		return true;
	*res = WSAGetLastError() == WSAEDISCON ? 0 : iocp_wsa_error(x);
	return false;
}

/* The receive into a pool buffer, now, without waiting. A datagram too large for the
 * buffer arrives cut (WSAEMSGSIZE). */
static int iocp_pool_recv(cport_op *op, struct cport__fd_iocp *w, char *p, uint32_t len,
			  bool *trunc)
{
	struct cport__op *x = cport__x(op);
	SOCKET s = (SOCKET)x->fd;
	cport_msg *m = x->type == CPORT__RECVMSG_POOL ? x->buf : NULL;
	if (!w->nbio) {
		u_long on = 1;
		if (ioctlsocket(s, FIONBIO, &on) != 0)
			return SOCKET_ERROR;
		w->nbio = true;
	}
	int n;
	if (m && m->addr && w->dgram) {
		int fromlen = sizeof m->addr->storage;
		n = recvfrom(s, p, (int)len, 0, (struct sockaddr *)(void *)m->addr->storage, &fromlen);
		m->addr->len = n >= 0 || WSAGetLastError() == WSAEMSGSIZE ? (uint32_t)fromlen : 0;
	} else {
		n = recv(s, p, (int)len, 0);
	}
	*trunc = n < 0 && w->dgram && WSAGetLastError() == WSAEMSGSIZE;
	return *trunc ? (int)len : n;
}

/* Data is there: lend a buffer, receive into it, settle it. The op's result (with
 * *cflags when the buffer went to the caller), or IOCP_POOL_AGAIN. */
static int64_t iocp_pool_now(cport *port, cport_op *op, uint32_t *cflags)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd_iocp *w = iocp_w(port, x->fd);
	struct cport__bufpool *bp = iocp_pool(port, x);
	int id = cport__bufpool_take(bp);
	if (id < 0)
		return id; /* CPORT_ENOBUFS: the pool is dry */
	bool trunc = false;
	int n = iocp_pool_recv(op, w, bp->mem + (size_t)id * bp->size, bp->size, &trunc);
	int err = n < 0 ? WSAGetLastError() : 0;
	if (n <= 0) {
		cport__bufpool_untake(port, bp, (uint32_t)id);
		if (err == WSAEWOULDBLOCK)
			return IOCP_POOL_AGAIN; /* gone before we came (or a spurious wake) */
		if (n < 0)
			return err == WSAEDISCON ? 0 : iocp_sock_error(x, (DWORD)err);
	} else {
		*cflags = cport__bufpool_lend(bp, (uint32_t)id);
	}
	if (x->type == CPORT__RECVMSG_POOL) {
		cport_msg *m = x->buf;
		if (m->addr && !w->dgram)
			memset(m->addr, 0, sizeof *m->addr); /* a stream's peer is fixed */
		m->flags = trunc ? CPORT_MSG_TRUNC : 0;
	}
	return n;
}

/* The zero-byte receive's packet: the receive's result (its buffer's CPORT_BUF bits kept
 * in io.cflags for iocp_pool_done), or false to wait again. */
static bool iocp_pool_outcome(cport *port, cport_op *op, DWORD err, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	const struct cport__fd_iocp *w = iocp_w(port, x->fd);
	if (err && !(err == WSAEMSGSIZE && w->dgram)) { /* (a peeked datagram is there) */
		*res = err == WSAEDISCON ? 0 : iocp_sock_error(x, err);
		return true;
	}
	if ((*res = iocp_stop_reason(port, x)) != 0)
		return true;
	*res = iocp_pool_now(port, op, &iox(op)->io.cflags);
	return *res != IOCP_POOL_AGAIN;
}

/* ---- 4. One op's life ------------------------------------------------------------------ */

/* The handle a call of the op runs on: the socket or file, or a local accept's pipe
 * instance. */
static HANDLE iocp_ioh(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->type == CPORT__ACCEPT && iox(op)->acc.inst)
		return iox(op)->acc.inst;
	return (HANDLE)x->fd;
}

/* The call that starts an op in the kernel or takes it on. True: a packet is due.
 * False: done at once with *res, and no packet comes. */
static bool iocp_call(cport *port, cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd_iocp *w = iocp_w(port, x->fd);
	if (w->kind == IOCP_K_FILE)
		return iocp_rw_issue(op, w, res);
	switch ((enum cport__type)x->type) {
	case CPORT__ACCEPT:
		return iocp_accept_issue(port, op, res);
	case CPORT__CONNECT:
		return iocp_connect_issue(op, w, res);
	case CPORT__POLL:
		return iocp_poll_issue(op, res);
	case CPORT__RECV_POOL:
	case CPORT__RECVMSG_POOL:
		return iocp_pool_issue(op, w, res);
	default:
		if (iocp_is_send(x))
			return iocp_send_issue(port, op, w, res);
		return iocp_recv_issue(port, op, w, res);
	}
}

/* What a packet says (bytes, and the error in WinSock or Win32 terms, 0 if none),
 * turned into the op's result. True with *res when the op is done; false when it goes
 * on: the next chunk of a transfer, or a poll that saw nothing it asked for. */
static bool iocp_outcome(cport *port, cport_op *op, int64_t *res)
{
	struct cport__op *x = cport__x(op);
	struct iocp_x *k = iox(op);
	const struct cport__fd_iocp *w = iocp_w(port, x->fd);
	DWORD got = 0, flags = 0, err;
	if (x->type == CPORT__POLL) {
		NTSTATUS st = k->poll.iosb.Status;
		err = st >= 0 ? 0 : RtlNtStatusToDosError(st);
	} else if (w->kind == IOCP_K_SOCK) {
		SOCKET s = (SOCKET)x->fd;
		err = WSAGetOverlappedResult(s, &k->ov, &got, FALSE, &flags) ? 0
									     : (DWORD)WSAGetLastError();
	} else {
		err = GetOverlappedResult(iocp_ioh(op), &k->ov, &got, FALSE) ? 0 : GetLastError();
	}
	switch ((enum cport__type)x->type) {
	case CPORT__ACCEPT:
		if (err == ERROR_PIPE_CONNECTED || err == ERROR_NO_DATA)
			err = 0;
		*res = err ? iocp_sock_error(x, err) : iocp_accept_result(op);
		return true;
	case CPORT__CONNECT:
		if (!err)
			setsockopt((SOCKET)x->fd, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0);
		*res = err ? iocp_sock_error(x, err) : 0;
		return true;
	case CPORT__POLL:
		*res = err ? iocp_sock_error(x, err)
			   : k->poll.afd.count ? iocp_poll_events(k->poll.afd.events, x->aux) : 0;
		if (*res == 0) /* nothing it asked for came: again, unless it must stop */
			*res = iocp_stop_reason(port, x);
		return *res != 0;
	case CPORT__RECV_POOL:
	case CPORT__RECVMSG_POOL:
		return iocp_pool_outcome(port, op, err, res);
	default:
		break;
	}
	if (w->kind == IOCP_K_FILE)
		return iocp_rw_outcome(port, op, got, err, res);
	if (iocp_is_send(x))
		return iocp_send_outcome(port, op, got, err, res);
	*res = iocp_recv_result(op, w, got, err);
	return true;
}

static void iocp_pending(struct iocp *io, cport_op *op)
{
	assert(cport__x(op)->pending == 0);
	cport__x(op)->pending = 1;
	io->in_kernel++;
}

static cport_op *iocp_recv_next(cport *port, cport_fd fd);

/*
 * The op is done with `res` (and `cflags`: a pool buffer's): its deadline stops, it is
 * delivered (while the port is destroyed: dropped, and a descriptor it made is closed),
 * and it stops counting as busy on its handle. Returns the next op of the handle to
 * start: of the send FIFO if this one headed it, of the receive side if this one held
 * it (a pool receive). A parked multishot op whose last completion the caller has not
 * taken yet ends with that completion instead: it becomes the final one (CPORT_MORE
 * cleared), so the connection or buffer it carries is not lost.
 */
static cport_op *iocp_finish(cport *port, cport_op *op, int64_t res, uint32_t cflags)
{
	struct iocp *io = iocp_of(port);
	struct cport__op *x = cport__x(op);
	assert(x->pending == 0);
	cport__deadline_unwatch(port, op);
	if (!(x->xflags & CPORT__X_UNREAPED)) {
		op->cflags = cflags;
		op->result = res;
		if (io->dying)
			cport__close_result(op);
		else
			cport__deliver(port, op);
	} else {
		assert(cflags == 0);
		op->cflags &= ~(uint32_t)CPORT_MORE;
	}
	if (!(x->xflags & CPORT__X_FDBUSY))
		return NULL;
	/* After delivery: a close this releases completes after the op. */
	cport_op *next = cport__fd_finished(port, op);
	if (cport__is_pool_recv(x->type))
		return iocp_recv_next(port, x->fd);
	return next && !(cport__x(next)->xflags & CPORT__X_FDBUSY) ? next : NULL;
}

static void iocp_park(struct iocp *io, cport_op *op)
{
	assert(cport__x(op)->xflags & CPORT__X_FDBUSY);
	iox(op)->acc.parked_next = io->parked;
	io->parked = op;
}

static void iocp_unpark(struct iocp *io, cport_op *op)
{
	for (cport_op **pp = &io->parked; *pp; pp = &iox(*pp)->acc.parked_next)
		if (*pp == op) {
			*pp = iox(op)->acc.parked_next;
			return;
		}
	assert(!"parked accept not found");
}

static bool iocp_is_parked(const struct cport__op *x)
{
	return (x->type == CPORT__ACCEPT || cport__is_pool_recv(x->type)) && x->pending == 0 &&
	       (x->xflags & CPORT__X_FDBUSY);
}

/* An accept is done with `res`. A multishot one that got a connection completes with
 * CPORT_MORE and parks until the caller took that completion (iocp_rearm then issues
 * the next accept); it stays busy on its listener, so a close waits for its end. */
static cport_op *iocp_accept_done(cport *port, cport_op *op, int64_t res)
{
	struct cport__op *x = cport__x(op);
	iocp_accept_release(port, op);
	if (res < 0 || !(x->aux & CPORT_ACCEPT_MULTISHOT) || iocp_stop_reason(port, x))
		return iocp_finish(port, op, res, 0);
	x->xflags |= CPORT__X_UNREAPED;
	op->cflags = CPORT_MORE;
	op->result = res;
	cport__deliver(port, op);
	iocp_park(iocp_of(port), op);
	return NULL;
}

/* A pool receive is done with `res`. A multishot one that brought data completes with
 * CPORT_MORE and parks until the caller took that, as a multishot accept does. */
static cport_op *iocp_pool_done(cport *port, cport_op *op, int64_t res)
{
	struct cport__op *x = cport__x(op);
	uint32_t cf = iox(op)->io.cflags;
	iox(op)->io.cflags = 0;
	if (res <= 0 || !(x->aux & CPORT_RECV_MULTISHOT) || iocp_stop_reason(port, x))
		return iocp_finish(port, op, res, cf);
	x->xflags |= CPORT__X_UNREAPED;
	op->cflags = CPORT_MORE | cf;
	op->result = res;
	cport__deliver(port, op);
	iocp_park(iocp_of(port), op);
	return NULL;
}

static cport_op *iocp_done(cport *port, cport_op *op, int64_t res)
{
	if (cport__x(op)->type == CPORT__ACCEPT)
		return iocp_accept_done(port, op, res);
	if (cport__is_pool_recv(cport__x(op)->type))
		return iocp_pool_done(port, op, res);
	return iocp_finish(port, op, res, 0);
}

/* Start an op on its handle: it counts as busy there (a close waits for it), its
 * deadline runs, then its call. Returns the next op to start if it finished at once. */
static cport_op *iocp_issue(cport *port, cport_op *op)
{
	struct iocp *io = iocp_of(port);
	struct cport__op *x = cport__x(op);
	assert(x->pending == 0 && !(x->xflags & CPORT__X_FDBUSY));
	cport__fd_started(port, cport__fd_find(port, x->fd), op);
	cport__deadline_watch(port, op);
	int64_t res = 0;
	if (!iocp_call(port, op, &res))
		return iocp_done(port, op, res);
	iocp_pending(io, op);
	return NULL;
}

/*
 * The receive side's turn (see section 3b): the first receive waiting in the list, if
 * no pool receive the kernel has (or that is parked) is ahead of it. Receives wait only
 * behind such a pool receive; once it completed, they go in order: the plain ones one
 * after the other, up to and including the next pool receive.
 */
static cport_op *iocp_recv_next(cport *port, cport_fd fd)
{
	struct cport__fd *f = cport__fd_find(port, fd);
	if (!f || f->closing)
		return NULL;
	for (cport_op *op = f->q[CPORT__SIDE_RECV].head; op; op = cport__list_next(op)) {
		struct cport__op *x = cport__x(op);
		if (!(x->xflags & CPORT__X_FDBUSY))
			return op;
		if (cport__is_pool_recv(x->type))
			return NULL; /* it holds the side */
	}
	return NULL;
}

/* Start `op`, then each op its finishing lets go (the next sends of a socket, the
 * receives behind a pool receive), until one waits in the kernel: bounded by the ops
 * queued on the handle. */
static void iocp_run(cport *port, cport_op *op)
{
	while (op && !iocp_of(port)->dying) {
		struct cport__op *x = cport__x(op);
		cport_fd fd = x->fd;
		bool recv = cport__op_side(x, false) == CPORT__SIDE_RECV;
		cport_op *next = iocp_issue(port, op);
		op = next || !recv ? next : iocp_recv_next(port, fd);
	}
}

/* Issue the next accept of each parked multishot op whose last completion was reaped. */
static void iocp_rearm(cport *port)
{
	struct iocp *io = iocp_of(port);
	cport_op **pp = &io->parked;
	while (*pp) {
		cport_op *op = *pp;
		if (cport__x(op)->xflags & CPORT__X_UNREAPED) {
			pp = &iox(op)->acc.parked_next;
			continue;
		}
		*pp = iox(op)->acc.parked_next;
		int64_t res = iocp_stop_reason(port, cport__x(op));
		if (res == 0 && iocp_call(port, op, &res))
			iocp_pending(io, op);
		else /* parks again at the head if it got one; else its side goes on */
			iocp_run(port, iocp_done(port, op, res));
	}
}

/* Stop an op (a cancel, or its timeout: CPORT__X_TIMEDOUT) wherever it is: in the
 * kernel, ask it (the packet brings the result); waiting in its handle's send FIFO, or
 * parked, it ends now. Anything else already completed. */
static void iocp_stop(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->pending) {
		/* ERROR_NOT_FOUND: the packet is on its way; the op keeps its result. */
		CancelIoEx(iocp_ioh(op), &iox(op)->ov);
	} else if (iocp_is_parked(x)) {
		iocp_unpark(iocp_of(port), op);
		iocp_run(port, iocp_finish(port, op, iocp_stopped(x), 0));
	} else if (cport__fd_waiting(port, op)) {
		iocp_run(port, cport__fd_drop(port, op, iocp_stopped(x)));
	}
}

/* ---- 5. Timeouts, cancel, close ---------------------------------------------------- */

/* Ask the kernel to stop every op it has on the handle (a local listener's accepts run
 * on their pipe instances); parked multishot accepts end now. Close and destroy. */
static void iocp_stop_fd(cport *port, struct cport__fd *f)
{
	CancelIoEx((HANDLE)f->h, NULL);
	for (cport_op *op = f->q[CPORT__SIDE_RECV].head, *next; op; op = next) {
		struct cport__op *x = cport__x(op);
		next = cport__list_next(op);
		if (x->pending && x->type == CPORT__ACCEPT && iox(op)->acc.inst) {
			CancelIoEx(iox(op)->acc.inst, &iox(op)->ov);
		} else if (iocp_is_parked(x)) {
			iocp_unpark(iocp_of(port), op);
			iocp_finish(port, op, CPORT_ECANCELED, 0); /* (closing: nothing goes next) */
		}
	}
}

/* The descriptor engine's fd_close slot: nothing else is busy on the handle, the close
 * may run. On the pool (closing a file may flush it), or here when the pool cannot
 * start; while the port is destroyed, here and now, without a completion. */
static void iocp_close_run(cport *port, cport_op *close)
{
	cport_fd fd = cport__x(close)->fd;
	if (iocp_of(port)->dying) {
		cport__win_close(fd);
		return;
	}
	if (cport__pool_start(port, close) == 0)
		return; /* iocp_remote_done ends it */
	int64_t res = cport__win_close(fd);
	cport__fd_close_end(port, fd);
	cport__complete(port, close, res);
}

/* Close cancels (DESIGN.md 1.8): the descriptor engine completes what waits (and what
 * waits on the pool) with CPORT_ECANCELED and holds the close while anything is busy on
 * the handle; the kernel is asked to stop what it has. */
static int iocp_close_start(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd *f;
	int r = cport__fd_get(port, x->fd, &f);
	if (r < 0)
		return r;
	if (cport__fd_close_begin(port, f, op))
		iocp_close_run(port, op);
	else if (f->close == op)
		iocp_stop_fd(port, f);
	return 0;
}

/* ---- 6. Completion packets ------------------------------------------------------------- */

static void iocp_packet(cport *port, const OVERLAPPED_ENTRY *pe)
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
	io->in_kernel--;
	int64_t res = 0;
	if (!iocp_outcome(port, op, &res) && iocp_call(port, op, &res)) {
		iocp_pending(io, op); /* the next chunk is in the kernel */
		return;
	}
	iocp_run(port, iocp_done(port, op, res));
}

/* Take up to IOCP_BATCH packets, waiting up to `ms`. */
/* Take up to IOCP_BATCH packets, waiting up to `ms`; `unlocked`: a shared port's
 * leader, which waits without the port's mutex (lib/shared.c). */
static int iocp_dequeue(cport *port, DWORD ms, bool unlocked)
{
	OVERLAPPED_ENTRY ents[IOCP_BATCH];
	ULONG got = 0;
	if (unlocked)
		cport__shared_unlock(port);
	BOOL ok = GetQueuedCompletionStatusEx(iocp_of(port)->port, ents, IOCP_BATCH, &got, ms,
					      FALSE);
	DWORD err = ok ? 0 : GetLastError();
	if (unlocked)
		cport__shared_relock(port);
	if (!ok)
		return err == WAIT_TIMEOUT ? 0 : cport__win_error(err);
	for (ULONG i = 0; i < got; i++)
		iocp_packet(port, &ents[i]);
	return 0;
}

/* Milliseconds to block: the caller's timeout, cut to the next deadline, rounded up so
 * it is due when we wake. */
static DWORD iocp_wait_ms(cport *port, int64_t timeout_ns)
{
	timeout_ns = cport__deadlines_sleep_ns(port, timeout_ns);
	int64_t ms = cport__timeout_ms(timeout_ns, INFINITE - 1);
	return ms < 0 ? INFINITE : (DWORD)ms;
}

/* ---- 7. The table slots ---------------------------------------------------------------- */

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

/* Socket ops on a handle that is no socket: on a pipe (a local stream) recv and send
 * are its reads and writes; a local listener only accepts; the rest cannot apply. */
static int iocp_not_sock(struct cport__op *x, uint8_t kind)
{
	if (kind == IOCP_K_LSN)
		return x->type == CPORT__ACCEPT ? 0 : CPORT_ENOTCONN;
	switch ((enum cport__type)x->type) {
	case CPORT__READ:
	case CPORT__WRITE:
	case CPORT__READV:
	case CPORT__WRITEV:
		return 0;
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
	return 0;
}

/* Is a pool receive on the handle's receive side (in the kernel, parked or waiting)?
 * Then a new receive waits for its turn (section 3b). */
static bool iocp_recv_held(const struct cport__fd *f)
{
	for (cport_op *op = f->q[CPORT__SIDE_RECV].head; op; op = cport__list_next(op))
		if (cport__is_pool_recv(cport__x(op)->type))
			return true;
	return false;
}

/* An op on a handle: sends wait their turn in its FIFO, receives go at once (listed for
 * close and destroy) unless a pool receive holds the side, the rest go at once;
 * synchronous handles go to the pool. */
static int iocp_fd_start(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd *f;
	int r = iocp_fd_get(port, x->fd, &f);
	if (r < 0)
		return r;
	uint8_t kind = f->eng.w.kind;
	if (kind != IOCP_K_SOCK && (r = iocp_not_sock(x, kind)) < 0)
		return r;
	if (kind == IOCP_K_SYNC) {
		cport__fd_started(port, f, op);
		if ((r = cport__pool_start(port, op)) < 0)
			cport__fd_finished(port, op);
		return r;
	}
	if ((kind == IOCP_K_FILE || x->type == CPORT__SENDFILE) && x->len == 0) {
		/* Done without the kernel: a zero-byte pipe read would wait for data. */
		cport__complete(port, op, 0);
		return 0;
	}
	enum cport__side side = cport__op_side(x, false);
	if (side == CPORT__SIDE_SEND) {
		if (cport__fd_enqueue(port, f, side, op))
			iocp_run(port, op);
		return 0;
	}
	if (side == CPORT__SIDE_RECV) {
		if (iocp_recv_held(f)) {
			cport__fd_enqueue(port, f, side, op); /* behind a pool receive */
			return 0;
		}
		cport__list_push(&f->q[side], op);
	}
	iocp_run(port, op);
	return 0;
}

/* Ops with no overlapped form: flushes and metadata ops always run on the pool. */
static bool iocp_pool_type(uint8_t type)
{
	switch ((enum cport__type)type) {
	case CPORT__FSYNC:
	case CPORT__FSTAT:
	case CPORT__FALLOCATE:
	case CPORT__FTRUNCATE:
	case CPORT__OPEN:
	case CPORT__STAT:
	case CPORT__RENAME:
	case CPORT__UNLINK:
	case CPORT__MKDIR:
	case CPORT__OPENAT:
	case CPORT__READDIR:
	case CPORT__STATFS:
	case CPORT__LINK:
	case CPORT__SYMLINK:
	case CPORT__READLINK:
	case CPORT__ACCESS:
	case CPORT__LOCK:
		return true;
	default:
		return false;
	}
}

/* An op on a handle counts as busy there, so its close waits for it. Its timeout: as
 * on every backend's pool (cport.h, section 7). */
static int iocp_pool_op(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd *f;
	int r;
	if (!cport__has_fd(x->type))
		return cport__pool_start(port, op);
	if ((r = cport__fd_get(port, x->fd, &f)) < 0)
		return r;
	cport__fd_started(port, f, op);
	if ((r = cport__pool_start(port, op)) < 0)
		cport__fd_finished(port, op);
	return r;
}

static int iocp_start(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (iocp_pool_type(x->type))
		return iocp_pool_op(port, op);
	switch ((enum cport__type)x->type) {
	case CPORT__NOP:
		cport__complete(port, op, 0);
		return 0;
	case CPORT__TIMER:
		return cport__timer_start(port, op);
	case CPORT__CLOSE:
		return iocp_close_start(port, op);
	case CPORT__FADVISE: {
		/* Windows has no such call: the handle is checked, the advice dropped. */
		struct cport__fd *f;
		int r = cport__fd_get(port, x->fd, &f);
		if (r < 0)
			return r;
		cport__complete(port, op, 0);
		return 0;
	}
	case CPORT__POST:
	case CPORT__TYPE_MAX:
		assert(!"not an IOCP op");
		return CPORT_EINVAL;
	default:
		return iocp_fd_start(port, op);
	}
}

/* cport_route, for an op on a handle: what the handle is decides (iocp_fd_start), as
 * known, or as iocp_classify would find it, without associating it with the port. */
static int iocp_route_fd(const struct cport__fd *f, const struct cport__op *x)
{
	int r;
	uint8_t kind = f->eng.w.kind;
	if (kind == IOCP_K_NONE || f->eng.w.recheck) {
		struct cport__fd_iocp w;
		iocp_kind_init(&w, (HANDLE)x->fd); /* asks, associates nothing */
		kind = cport__win_local_is(x->fd)     ? IOCP_K_LSN
		       : iocp_is_sync((HANDLE)x->fd) ? IOCP_K_SYNC
						      : w.kind;
	}
	if (kind == IOCP_K_SOCK || (kind == IOCP_K_LSN && x->type == CPORT__ACCEPT))
		return x->type == CPORT__SHUTDOWN ? CPORT_ROUTE_LOCAL : CPORT_ROUTE_KERNEL;
	struct cport__op y = *x; /* iocp_not_sock turns pipe recvs into reads */
	if ((r = iocp_not_sock(&y, kind)) < 0)
		return r;
	return kind == IOCP_K_SYNC ? CPORT_ROUTE_POOL : CPORT_ROUTE_KERNEL;
}

/* cport_route: the decision iocp_start makes (a close runs on the pool too). */
static int iocp_route(cport *port, const struct cport__op *x, struct cport__fd *f)
{
	(void)port;
	if (iocp_pool_type(x->type) || x->type == CPORT__CLOSE)
		return CPORT_ROUTE_POOL;
	if (x->type == CPORT__NOP || x->type == CPORT__TIMER || x->type == CPORT__FADVISE)
		return CPORT_ROUTE_LOCAL; /* fadvise: checked and dropped (section 4c) */
	return iocp_route_fd(f, x);
}

static void iocp_cancel(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->xflags & CPORT__X_POOL) {
		cport__pool_cancel(port, op);
	} else if (x->type == CPORT__TIMER) {
		cport__timer_cancel(port, op);
	} else if (cport__has_fd(x->type)) {
		iocp_stop(port, op);
	}
}

static int iocp_flush(cport *port)
{
	/* Every op went to the kernel when it was started: nothing is queued here. */
	(void)port;
	return 0;
}

static int iocp_reap(cport *port, int64_t timeout_ns)
{
	if (iocp_of(port)->parked)
		iocp_rearm(port);
	cport__deadlines_fire(port);
	DWORD ms = 0;
	bool block = timeout_ns != 0 && !cport__wait_done(port);
	if (block) {
		ms = iocp_wait_ms(port, timeout_ns);
		block = cport__sleep_begin(port);
		if (!block)
			ms = 0;
	}
	int r = iocp_dequeue(port, ms, false);
	if (block)
		cport__sleep_end(port);
	cport__deadlines_fire(port);
	return r;
}

/* A shared port's leader (cport_backend.block, lib/shared.c): iocp_reap's steps, with
 * GetQueuedCompletionStatusEx called without the port's mutex while other threads
 * submit. One thread at a time waits in it (the leader); the others wait in cport
 * (LIFO, the concurrency limit), because the port's own state in user space (the
 * descriptor table, the ready list, deadlines) is behind that mutex anyway. */
static int iocp_block(cport *port, int64_t timeout_ns)
{
	if (iocp_of(port)->parked)
		iocp_rearm(port);
	cport__deadlines_fire(port);
	int64_t t = cport__shared_sleep_ns(port, timeout_ns);
	int64_t ms = t == 0 ? 0 : cport__timeout_ms(t, INFINITE - 1);
	bool slept = ms != 0 && cport__sleep_begin(port);
	int r = iocp_dequeue(port, !slept ? 0 : ms < 0 ? INFINITE : (DWORD)ms, true);
	if (slept)
		cport__sleep_end(port);
	cport__deadlines_fire(port);
	return r;
}

static void iocp_wake(cport *port)
{
	PostQueuedCompletionStatus(iocp_of(port)->port, 0, IOCP_KEY_WAKE, NULL);
}

/* A pool op reached the port thread: a close that ran there makes its value new. */
static void iocp_remote_done(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (x->type == CPORT__CLOSE)
		cport__fd_close_end(port, x->fd);
}

/* Destroy (the pool is stopped already): parked accepts end, everything in the kernel
 * is cancelled and its packets drained, so no OVERLAPPED or buffer is touched after
 * this returns. Completions are dropped; descriptors that accepts made are closed here,
 * those of completions already on the ready list by cport_destroy. A close still held
 * (for an op the pool dropped) closes its handle all the same. */
static void iocp_fini(cport *port)
{
	struct iocp *io = iocp_of(port);
	struct cport__fdtab *t = &port->fdt;
	io->dying = true;
	for (uint32_t i = 0; i < t->n; i++)
		if (t->fds[i].h && t->fds[i].busy)
			iocp_stop_fd(port, &t->fds[i]);
	while (io->in_kernel > 0)
		iocp_dequeue(port, 100, false);
	for (uint32_t i = 0; i < t->n; i++)
		if (t->fds[i].h && t->fds[i].close)
			cport__win_close(t->fds[i].h);
	while (io->slabs) {
		struct iocp_slab *b = io->slabs;
		io->slabs = b->next;
		free(b);
	}
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
	.block = iocp_block,
	.wake = iocp_wake,
	.remote_done = iocp_remote_done,
	.expired = iocp_stop,
	.fd_close = iocp_close_run,
	.fd_stale = iocp_fd_stale,
	.route = iocp_route,
};
