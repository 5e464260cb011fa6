/* SPDX-License-Identifier: MIT */
/* cport: Windows-style completion ports (submit an op, reap its completion) on every OS. */
#ifndef CPORT_H
#define CPORT_H

/*
 * Map of this header
 *   1. Export macro, descriptors, the op struct
 *   2. Errors (CPORT_E*), cport_strerror, cport_err_name
 *   3. The port: options, create, destroy, backend queries
 *   4. Submitting ops: nop, timer, post, links and barriers (4b), file I/O, metadata,
 *      cancel
 *   5. Driving the port: submit, wait
 *   6. Sockets: addresses, socket helpers (not ops), and the socket ops
 *   7. Backend notes: what differs per backend (io_uring, the readiness backends,
 *      IOCP), and Windows
 *
 * The overlapped contract (every backend; docs/contract.md says it at length):
 *   - A cport_op belongs to the caller. From a successful submit (return 0) until
 *     cport_wait hands it back, it and the buffers it names must not be moved, freed,
 *     reused or touched.
 *   - A submit returns 0 (accepted: the op is reaped exactly once) or a negative
 *     CPORT_E* (rejected: never reaped, free again at once, nothing changed: an op
 *     refused for its arguments or its state is left as it was, every byte of it; one
 *     the backend refuses, such as a descriptor that is not open, keeps its public
 *     fields, while its private words, which mean nothing outside a submit, are
 *     rewritten).
 *   - op->result >= 0 is the success value, < 0 a CPORT_E* code.
 *   - Threads: one thread at a time drives a port (the submit calls, cport_submit,
 *     cport_wait, cport_cancel). A second thread calling one of them while another
 *     is inside one gets CPORT_EBUSY and changes nothing (the check costs one
 *     uncontended atomic exchange per call). cport_post is safe from any thread.
 *     cport_destroy must not run beside any other call on the port.
 *   - Lifetimes: a descriptor closed through cport (cport_close, cport_sock_close)
 *     and reused by a new one is a new descriptor to every port in the process. A
 *     forked child must not use a port it inherited, except to cport_destroy it:
 *     that releases the child's own copies (mappings, descriptors, memory) and
 *     touches nothing the parent uses (no cancel reaches the parent's ring, no
 *     completion of the parent's is taken, no registration changes); create new
 *     ports in the child. cport_destroy returns in bounded time (see it).
 *   - Time: timeout_ns and timers count on cport_now_ns()'s clock; a deadline too
 *     far away to fit in 64 bits means never (it saturates, never wraps).
 *
 * Ops need no initialisation beyond what a submit call writes, but an op that holds
 * stale bytes which happen to look "in flight" is refused with CPORT_EBUSY, so
 * zero-initialise ops before their first use (as with OVERLAPPED). An op handed back
 * by cport_wait may be submitted again at once.
 */

#include <stddef.h>
#include <stdint.h>
#ifndef _WIN32
#include <errno.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 1. Export macro, descriptors, the op struct ---------------------------------- */

#if defined(_WIN32) && defined(CPORT_BUILDING_DLL)
#define CPORT_API __declspec(dllexport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define CPORT_API __attribute__((visibility("default")))
#else
#define CPORT_API
#endif

/* A descriptor: an int on Unix, a SOCKET or HANDLE on Windows. */
#ifdef _WIN32
typedef uintptr_t cport_fd;
#else
typedef int cport_fd;
#endif

/* Words of backend state in each op. Fixed for the ABI: every backend static-asserts
 * that its private state (an OVERLAPPED plus bookkeeping on Windows) fits. */
#define CPORT_OP_INTERNAL_WORDS 24

/*
 * The caller-owned operation, like an OVERLAPPED. 224 bytes on every 64-bit platform,
 * 8-byte aligned; embed it anywhere (container_of from the op to your own struct is the
 * usual way back to your context, or use `user`).
 */
typedef struct cport_op {
	/* in: set by the caller before a submit */
	void *user;          /* caller context; never read or written by cport */
	uint64_t timeout_ns; /* 0 = none; else completes with CPORT_ETIMEDOUT when this
	                        many nanoseconds pass before it finishes */
	uint32_t flags;      /* CPORT_OP_* below (0: none); unknown bits: CPORT_EINVAL */
	/* out: valid once cport_wait returned the op */
	uint32_t cflags;     /* completion flags: CPORT_MORE (multishot ops), else 0 */
	int64_t result;      /* >= 0 success value, < 0 a CPORT_E* code */
	/* private: backend state, do not touch while the op is in flight */
	uint64_t internal[CPORT_OP_INTERNAL_WORDS];
} cport_op;

/* op->flags (read by the submit call; cport_post takes none). Links and barriers:
 * section 4b. */
enum {
	CPORT_OP_LINK = 1u << 0,    /* the next op accepted starts only if this succeeded */
	CPORT_OP_BARRIER = 1u << 1, /* starts after every earlier op, later ops after it */
	CPORT_OP_INLINE = 1u << 2   /* a cheap op may run inside the submit call */
};

/* op->cflags */
enum {
	/* A multishot op (cport_accept with CPORT_ACCEPT_MULTISHOT) completed once and
	 * stays in flight: it will complete again. Its last completion lacks this flag;
	 * only then is the op free for reuse. */
	CPORT_MORE = 1u << 0
};

/* A buffer for vectored I/O. On Unix it has the layout of struct iovec, so an iovec
 * array can be cast to it. */
typedef struct cport_iovec {
	void *base;
	size_t len;
} cport_iovec;

/* What cport_stat / cport_fstat fill in. The whole struct (256 bytes) is scratch space
 * for the backend while the op is in flight; only these fields are valid after it. */
typedef struct cport_statbuf {
	uint64_t size;     /* bytes */
	uint64_t blocks;   /* 512-byte blocks allocated */
	uint64_t ino;      /* inode or file index */
	uint64_t dev;      /* device (major << 32 | minor on Linux) */
	uint32_t mode;     /* type and permission bits, as st_mode */
	uint32_t nlink;    /* hard links */
	uint32_t uid;
	uint32_t gid;
	int64_t atime_ns;  /* times since the Unix epoch, nanoseconds */
	int64_t mtime_ns;
	int64_t ctime_ns;
	int64_t btime_ns;  /* birth time; 0 where the file system does not record it */
	uint8_t reserved_[256 - 80];
} cport_statbuf;

/* ---- 2. Errors ------------------------------------------------------------------- */

/*
 * Every error is a negative CPORT_E* code. On Unix CPORT_Exxx == -Exxx (errno.h); on
 * Windows the codes have the Linux values and the backend maps Windows and WSA errors
 * onto them. The table below is the one source of names, values and strings.
 * Columns: name, value on Windows (the Linux errno), description.
 */
#define CPORT_ERRNO_MAP(X)                                                    \
	X(EPERM, 1, "operation not permitted")                                 \
	X(ENOENT, 2, "no such file, directory or operation")                   \
	X(EINTR, 4, "interrupted system call")                                 \
	X(EIO, 5, "input/output error")                                        \
	X(ENXIO, 6, "no such device or address")                               \
	X(EBADF, 9, "bad file descriptor")                                     \
	X(EAGAIN, 11, "resource temporarily unavailable")                      \
	X(ENOMEM, 12, "out of memory")                                         \
	X(EACCES, 13, "permission denied")                                     \
	X(EFAULT, 14, "bad address")                                           \
	X(EBUSY, 16, "operation already in flight or resource busy")           \
	X(EEXIST, 17, "file exists")                                           \
	X(EXDEV, 18, "cross-device link")                                      \
	X(ENODEV, 19, "operation not supported by device")                     \
	X(ENOTDIR, 20, "not a directory")                                      \
	X(EISDIR, 21, "is a directory")                                        \
	X(EINVAL, 22, "invalid argument")                                      \
	X(ENFILE, 23, "file table overflow")                                   \
	X(EMFILE, 24, "too many open files")                                   \
	X(EFBIG, 27, "file too large")                                         \
	X(ENOSPC, 28, "no space left on device")                               \
	X(ESPIPE, 29, "illegal seek")                                          \
	X(EROFS, 30, "read-only file system")                                  \
	X(EPIPE, 32, "broken pipe")                                            \
	X(ENAMETOOLONG, 36, "name too long")                                   \
	X(ENOSYS, 38, "function not implemented")                              \
	X(ENOTEMPTY, 39, "directory not empty")                                \
	X(ELOOP, 40, "too many symbolic links")                                \
	X(EOVERFLOW, 75, "value too large for defined data type")             \
	X(ENOTSOCK, 88, "socket operation on non-socket")                      \
	X(EDESTADDRREQ, 89, "destination address required")                    \
	X(EMSGSIZE, 90, "message too long")                                    \
	X(EPROTONOSUPPORT, 93, "protocol not supported")                       \
	X(ENOTSUP, 95, "operation not supported")                              \
	X(EAFNOSUPPORT, 97, "address family not supported")                    \
	X(EADDRINUSE, 98, "address already in use")                            \
	X(EADDRNOTAVAIL, 99, "address not available")                          \
	X(ENETDOWN, 100, "network is down")                                    \
	X(ENETUNREACH, 101, "network is unreachable")                          \
	X(ECONNABORTED, 103, "connection aborted")                             \
	X(ECONNRESET, 104, "connection reset by peer")                         \
	X(ENOBUFS, 105, "no buffer space available")                           \
	X(EISCONN, 106, "socket is already connected")                         \
	X(ENOTCONN, 107, "socket is not connected")                            \
	X(ETIMEDOUT, 110, "operation timed out")                               \
	X(ECONNREFUSED, 111, "connection refused")                             \
	X(EHOSTUNREACH, 113, "host is unreachable")                            \
	X(EALREADY, 114, "operation already in progress")                      \
	X(EINPROGRESS, 115, "operation now in progress")                       \
	X(ECANCELED, 125, "operation canceled")

#ifdef _WIN32
#define CPORT__ERRVAL(name, linux_value) (-(linux_value))
#else
#define CPORT__ERRVAL(name, linux_value) (-(name))
#endif

enum cport_errno {
#define CPORT__ERRENUM(name, lv, s) CPORT_##name = CPORT__ERRVAL(name, lv),
	CPORT_ERRNO_MAP(CPORT__ERRENUM)
#undef CPORT__ERRENUM
	CPORT_OK = 0
};

/* A description of any code: CPORT_E* (or 0). Unknown codes give "unknown error".
 * The string is static; never NULL. */
CPORT_API const char *cport_strerror(int64_t code);

/* The name of a code without the prefix ("EINVAL"), "OK" for 0, "UNKNOWN" otherwise. */
CPORT_API const char *cport_err_name(int64_t code);

/* ---- 3. The port ----------------------------------------------------------------- */

typedef struct cport cport;

/* cport_options.flags */
enum {
	/* Fail cport_create instead of falling back when the preferred backend cannot
	 * start (a backend forced by name never falls back, strict or not). */
	CPORT_OPT_STRICT = 1u << 0,
	/* The port is created, driven (submit, wait, cancel) and destroyed by one and
	 * the same thread for its whole life. io_uring then runs with
	 * IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (Linux 6.1), which
	 * makes networking markedly faster; a kernel without them silently runs
	 * without. Using such a port from another thread is undefined (its calls fail
	 * with CPORT_EEXIST from the kernel, and destroy cannot stop the kernel).
	 * cport_post stays safe from any thread. Other backends ignore the flag. */
	CPORT_OPT_SINGLE_THREAD = 1u << 1
};

/*
 * Options for cport_create. Call cport_options_init first: it zeroes the struct and
 * sets `size`, which lets later versions add fields without breaking the ABI.
 */
typedef struct cport_options {
	uint32_t size;          /* sizeof(cport_options), set by cport_options_init */
	uint32_t flags;         /* CPORT_OPT_* */
	const char *backend;    /* NULL: $CPORT_BACKEND, else the best for this OS.
	                           "io_uring", "epoll", "poll", "kqueue" or "iocp". */
	uint32_t queue_depth;   /* submission queue entries; 0 = 256; rounded up to a
	                           power of two; 1..32768 */
	uint32_t pool_threads;  /* thread-pool workers for blocking work; 0 = 4;
	                           at most 1024 */
	char *reason;           /* optional out: why backends were refused (also on
	                           failure of cport_create); NUL-terminated */
	uint32_t reason_len;    /* bytes at `reason` */
	uint32_t reserved_;
} cport_options;

CPORT_API void cport_options_init(cport_options *opts);

/*
 * Create a port. `opts` may be NULL (defaults; $CPORT_BACKEND is honoured).
 * SIGPIPE (Unix): a write to a pipe whose reader is gone raises SIGPIPE, which kills
 * the process by default, and no system call writes to a pipe without raising it. So
 * cport_create sets SIGPIPE to SIG_IGN if it still has its default action; a handler or
 * disposition the program set is left alone. Sends always use MSG_NOSIGNAL. Either way
 * such a write completes with CPORT_EPIPE.
 * Backend choice: opts->backend, else $CPORT_BACKEND, else the candidates of this OS in
 * order (Linux: io_uring, epoll, poll). A backend chosen by name must start or the call
 * fails. Returns 0 and sets *port, or:
 *   CPORT_EINVAL  NULL port, opts->size too small, bad queue_depth, unknown backend name
 *   CPORT_ENOSYS  the named backend is not built into this library
 *   CPORT_ENOMEM  out of memory
 *   any code the backend's setup failed with (CPORT_EPERM when io_uring is forbidden...)
 */
CPORT_API int cport_create(cport **port, const cport_options *opts);

/*
 * Destroy a port. Ops still in flight are stopped and their completions are dropped
 * (never delivered); when this returns, neither cport nor the kernel touches any op or
 * buffer again. Descriptors that completed ops produced but nobody reaped (an accept's
 * connection, an open's file) are closed; descriptors the caller holds stay open.
 * Thread-pool ops: see "Thread pool" in section 7 (bounded time). In a forked child:
 * see the contract at the top. NULL is ignored.
 */
CPORT_API void cport_destroy(cport *port);

/* The backend the port runs on: "io_uring", "epoll", "poll", "kqueue" or "iocp". */
CPORT_API const char *cport_backend_name(const cport *port);

/* Why preferred backends were refused before this one started, e.g.
 * "io_uring: setup failed: EPERM"; "" if the first candidate started. Never NULL. */
CPORT_API const char *cport_backend_reason(const cport *port);

/* Monotonic clock in nanoseconds: the clock of absolute timers. */
CPORT_API uint64_t cport_now_ns(void);

/*
 * Version and ABI
 *
 * The macros give the version of this header; cport_version() and
 * cport_version_string() give the version of the library actually linked or loaded,
 * so a program (or an FFI binding) can check that both agree. While the major version
 * is 0, a minor version change may change the ABI. cport_struct_size() gives the size
 * of each public struct as the library was built, so a binding that declares the
 * structs itself can check its layout against the library.
 */
#define CPORT_VERSION_MAJOR 0
#define CPORT_VERSION_MINOR 2
#define CPORT_VERSION_PATCH 0
#define CPORT_VERSION_HEX                                                             \
	((CPORT_VERSION_MAJOR << 16) | (CPORT_VERSION_MINOR << 8) | CPORT_VERSION_PATCH)

/* The library's version as CPORT_VERSION_HEX was when it was built:
 * (major << 16) | (minor << 8) | patch. No arguments; never fails. */
CPORT_API uint32_t cport_version(void);

/* The library's version as text, "major.minor.patch" (e.g. "0.2.0"). The string is
 * static; never NULL. */
CPORT_API const char *cport_version_string(void);

/* cport_struct_size `which` */
enum {
	CPORT_STRUCT_OP = 1,  /* cport_op */
	CPORT_STRUCT_OPTIONS, /* cport_options */
	CPORT_STRUCT_STATBUF, /* cport_statbuf */
	CPORT_STRUCT_ADDR,    /* cport_addr */
	CPORT_STRUCT_IOVEC,   /* cport_iovec */
	CPORT_STRUCT_MSG      /* cport_msg */
};

/* sizeof the public struct named by `which` (CPORT_STRUCT_*) in the library as built,
 * in bytes; 0 for a value this library does not know. Never fails otherwise. */
CPORT_API size_t cport_struct_size(uint32_t which);

/* ---- 4. Submitting ops ------------------------------------------------------------ */

/*
 * Every submit call below:
 *   - returns 0 when the op was accepted (it will be reaped exactly once), or
 *     CPORT_EINVAL  NULL port or op, NULL buffer with a non-zero length, length over
 *                   CPORT_MAX_IO, negative offset other than -1 where allowed,
 *                   unknown flags, an op->flags bit that is not a CPORT_OP_* flag,
 *                   CPORT_OP_LINK on a multishot op (section 4b)
 *     CPORT_EBADF   a descriptor that is negative (Unix), not open (io_uring and the
 *                   readiness backends check at submit), or being closed
 *     CPORT_EBUSY   the op is already in flight (submitted and not yet reaped), or
 *                   another thread is driving the port at this moment
 *     CPORT_ENOTSUP op->timeout_ns on an op that IOCP runs on its thread pool
 *                   (IOCP only; see the Windows notes in section 7)
 *   and a rejected call changes nothing.
 *   - only queues the op: the kernel sees it at the next cport_submit or cport_wait.
 *   - honours op->timeout_ns: the op completes with CPORT_ETIMEDOUT if it is still in
 *     flight that long after it was handed to the kernel.
 * A cancelled op completes with CPORT_ECANCELED (see cport_cancel).
 * Ops the backend can only do blocking run on a per-port thread pool (see "Thread
 * pool" in section 7 for how cancel, timeouts and destroy treat them).
 * Memory: no backend allocates per op (a pool worker copies a path longer than 4096
 * bytes to the heap; IOCP keeps AcceptEx buffers in per-port slabs of 16 that grow
 * when more accepts are in flight at once than ever before on the port). A table of
 * per-descriptor state grows (by doubling) to the largest open descriptor used.
 * Timers and timeouts live in an intrusive heap inside the ops themselves.
 */

/*
 * 4b. Links and barriers (op->flags; the same meaning on every backend)
 *
 * CPORT_OP_LINK: the next op accepted on the port after this one (its successor) starts
 * only once this one has completed and succeeded. Ops linked one after another form a
 * chain, which ends with the first op accepted without the flag. "Succeeded" means a
 * result >= 0 and, for cport_read, cport_write, cport_readv, cport_writev, cport_recv,
 * cport_send, cport_recvmsg, cport_sendmsg and cport_sendfile, every byte asked for: a
 * read that reaches end of file, or a stream read that gets less than it asked, breaks
 * the chain (as io_uring's links do; a write is never short without an error). When a
 * member fails, is cancelled or times out, every later member of its chain completes
 * with CPORT_ECANCELED, never started, right after it and in chain order.
 *   - Every member is accepted (its submit returns 0) and reaped exactly once like any
 *     op. A member waiting for its turn is "held": no engine or kernel has seen it.
 *   - cport_cancel on a held member completes it, and the rest of its chain, with
 *     CPORT_ECANCELED at once; the members before it go on.
 *   - op->timeout_ns counts from the submit, also while held (CPORT_ETIMEDOUT, which
 *     breaks the chain). A relative timer's own time counts from when it starts.
 *   - cport_close on a descriptor first completes the held members that name it with
 *     CPORT_ECANCELED (and the rest of their chains).
 *   - A chain must be complete before the port is driven: while the last op accepted
 *     carries CPORT_OP_LINK, cport_submit and cport_wait return CPORT_EINVAL and do
 *     nothing. Submit the chain's last op, then call again. (A member may complete
 *     before its successor is submitted, e.g. a zero-byte read: its outcome is kept
 *     for the successor.)
 *   - An op that will be held checks its descriptor at submit (CPORT_EBADF: not open,
 *     or being closed); what only the backend can check is checked when it starts, and
 *     a refusal then is its completion (e.g. CPORT_EBADF for a descriptor closed
 *     behind cport's back meanwhile).
 *   - CPORT_OP_LINK on a multishot accept is CPORT_EINVAL (it never completes just
 *     once). cport_post takes no flags (CPORT_EINVAL): posts belong to no chain.
 *   - Every backend runs links in cport itself (section 7): a successor starts when the
 *     call that reaped its predecessor returns, and reaches the kernel at the next
 *     cport_submit or cport_wait, so each link costs one more round trip to the kernel
 *     than io_uring's own links would; in exchange the rules above hold everywhere.
 *
 * CPORT_OP_BARRIER: the op starts only once every op accepted before it on the port
 * has completed, and every op accepted after it starts only once it has completed
 * (io_uring's IOSQE_IO_DRAIN). For group commit: a group of writes, then an fdatasync
 * with the flag. Ops held behind a barrier follow the rules of held chain members
 * (cancel, timeout_ns, close); a barrier cancelled or timed out while it waits lets the
 * ops behind it go. A barrier may also carry CPORT_OP_LINK. Posts do not count. A
 * barrier waits for every earlier op, including a receive on an idle socket or a
 * multishot accept: keep barriers on a port whose other ops finish by themselves (file
 * work), or order particular ops with links instead.
 */

/* Largest length of one read or write; larger requests get CPORT_EINVAL. */
#define CPORT_MAX_IO 0x7ffff000u

/* A no-op. result: 0. */
CPORT_API int cport_nop(cport *port, cport_op *op);

/* cport_timer flags */
enum {
	CPORT_TIMER_ABS = 1u << 0 /* `ns` is a deadline on cport_now_ns()'s clock */
};

/*
 * A timer: completes with result 0 when `ns` nanoseconds have passed (relative), or
 * when cport_now_ns() reaches `ns` (CPORT_TIMER_ABS). A deadline in the past fires at
 * once. Cancelled: CPORT_ECANCELED.
 */
CPORT_API int cport_timer(cport *port, cport_op *op, uint64_t ns, uint32_t flags);

/*
 * Post a completion: `op` completes with op->result == `result`, like
 * PostQueuedCompletionStatus. Safe from any thread at any time while the port exists;
 * wakes a thread blocked in cport_wait. Posts from one thread are reaped in the order
 * they were posted. Errors: CPORT_EINVAL (NULL, op->flags != 0: a post belongs to no
 * chain), CPORT_EBUSY (the op is in flight). op->timeout_ns is ignored.
 */
CPORT_API int cport_post(cport *port, cport_op *op, int64_t result);

/*
 * Read up to `len` bytes at `offset` into `buf`.
 *   offset >= 0: positional (files). A result shorter than `len` means end of file:
 *                short transfers from the kernel are retried inside.
 *   offset == -1: the descriptor's current position or a stream (pipe, TTY, socket):
 *                the result is >= 1 byte, or 0 at end of stream. Several reads in
 *                flight on one descriptor complete in submission order and fill in
 *                that order (with cport_recv / cport_recvmsg on the same descriptor).
 * result: bytes read. A read of zero bytes at offset -1 (len 0) completes at once with
 * 0 and takes nothing from the descriptor; at an offset it is a 0-byte pread.
 * Backends: epoll, poll, kqueue may make a stream descriptor non-blocking (section 7).
 */
CPORT_API int cport_read(cport *port, cport_op *op, cport_fd fd, void *buf, size_t len,
			 int64_t offset);

/*
 * Write `len` bytes at `offset` (or -1: current position / stream). Never short: the
 * op completes when every byte was written, with result == len, or with an error (bytes
 * written before the error are not reported). With offset -1, writes in flight on one
 * descriptor are done one after the other in submission order and never interleave
 * (with cport_send / cport_sendmsg / cport_sendfile on the same descriptor). A write to
 * a pipe or socket whose reader is gone completes with CPORT_EPIPE; see
 * cport_create about SIGPIPE.
 * Backends: epoll, poll, kqueue may make a stream descriptor non-blocking (section 7).
 */
CPORT_API int cport_write(cport *port, cport_op *op, cport_fd fd, const void *buf, size_t len,
			  int64_t offset);

/* Vectored read/write: as cport_read/cport_write over `iovcnt` buffers (1..1024, total
 * at most CPORT_MAX_IO; empty ones are allowed, all of them empty moves 0 bytes). The
 * iovec array must stay valid until completion. */
CPORT_API int cport_readv(cport *port, cport_op *op, cport_fd fd, const cport_iovec *iov,
			  unsigned iovcnt, int64_t offset);
CPORT_API int cport_writev(cport *port, cport_op *op, cport_fd fd, const cport_iovec *iov,
			   unsigned iovcnt, int64_t offset);

/* cport_fsync flags */
enum {
	CPORT_FSYNC_DATA = 1u << 0 /* fdatasync: data and the metadata needed to read it */
};

/* Flush a file to stable storage (fsync, or fdatasync with CPORT_FSYNC_DATA).
 * Ordering against writes still in flight is the caller's: wait for them first.
 * result: 0. */
CPORT_API int cport_fsync(cport *port, cport_op *op, cport_fd fd, uint32_t flags);

/* cport_open flags (portable; translated to the OS's own) */
enum {
	CPORT_O_RDONLY = 0,
	CPORT_O_WRONLY = 1u << 0,
	CPORT_O_RDWR = 1u << 1,
	CPORT_O_CREAT = 1u << 2,
	CPORT_O_EXCL = 1u << 3,
	CPORT_O_TRUNC = 1u << 4,
	CPORT_O_APPEND = 1u << 5,
	CPORT_O_DIRECT = 1u << 6,    /* bypass the page cache (O_DIRECT); buffers, offsets
	                                and lengths must then be aligned to the device */
	CPORT_O_DSYNC = 1u << 7,     /* every write is durable as with fdatasync */
	CPORT_O_DIRECTORY = 1u << 8, /* fail unless the path is a directory */
	CPORT_O_NOFOLLOW = 1u << 9
};

/*
 * Open (and maybe create, with `mode` bits) the file at `path`, relative to the
 * current directory. The path must stay valid until completion. The descriptor is
 * close-on-exec (not inherited, on Windows). result: the new descriptor (an int >= 0 on
 * Unix, a HANDLE opened for overlapped I/O on Windows).
 */
CPORT_API int cport_open(cport *port, cport_op *op, const char *path, uint32_t flags,
			 uint32_t mode);

/*
 * Close a descriptor. Every op still in flight on it through this port completes
 * first, with CPORT_ECANCELED unless it had already finished; the close completes
 * after all of them, including ops a thread-pool worker is running on it (their
 * calls finish first), so the number is not reused while any of them may still use
 * it. result: 0; the descriptor is gone even if the result is an error (as close(2)
 * on Linux). A close cannot be stopped: cport_cancel on it returns 0 and it completes
 * with its own result, and its timeout_ns is ignored. New ops on the descriptor after
 * the close was submitted are refused with CPORT_EBADF, and so is a descriptor that
 * is not open at all (where the port can tell at submit: io_uring and the readiness
 * backends; IOCP completes such an op with CPORT_EBADF).
 * Backends: the readiness backends close a stream at once on the port thread, any
 * other descriptor on the thread pool (section 7).
 */
CPORT_API int cport_close(cport *port, cport_op *op, cport_fd fd);

/* Fill `st` for the file at `path` (following symbolic links) or for `fd`. `path` and
 * `st` must stay valid until completion. result: 0. */
CPORT_API int cport_stat(cport *port, cport_op *op, const char *path, cport_statbuf *st);
CPORT_API int cport_fstat(cport *port, cport_op *op, cport_fd fd, cport_statbuf *st);

/* cport_fallocate flags */
enum {
	CPORT_FALLOC_KEEP_SIZE = 1u << 0 /* allocate blocks, leave the file size as it is */
};

/* Allocate disk space for [offset, offset + len) (len > 0). result: 0. */
CPORT_API int cport_fallocate(cport *port, cport_op *op, cport_fd fd, uint32_t flags,
			      int64_t offset, int64_t len);

/* Set a file's size to `len` (>= 0). result: 0. */
CPORT_API int cport_ftruncate(cport *port, cport_op *op, cport_fd fd, int64_t len);

/* Rename `from` to `to`, replacing `to` if it exists. result: 0. */
CPORT_API int cport_rename(cport *port, cport_op *op, const char *from, const char *to);

/* cport_unlink flags */
enum {
	CPORT_UNLINK_DIR = 1u << 0 /* remove an empty directory (rmdir) */
};

/* Remove a file (or, with CPORT_UNLINK_DIR, an empty directory). result: 0. */
CPORT_API int cport_unlink(cport *port, cport_op *op, const char *path, uint32_t flags);

/* Create a directory with permission bits `mode`. result: 0. */
CPORT_API int cport_mkdir(cport *port, cport_op *op, const char *path, uint32_t mode);

/*
 * Ask the in-flight op `target` to stop. Returns 0 if the request was made, or
 *   CPORT_ENOENT  target is not in flight on this port (never submitted, already
 *                 reaped, or submitted to another port)
 *   CPORT_EINVAL  NULL port or target
 *   CPORT_EBUSY   another thread is driving the port at this moment
 * The target still completes exactly once: CPORT_ECANCELED if it was stopped, else its
 * normal result (it may have finished already). No op of its own is needed; cancelling
 * twice is harmless.
 */
CPORT_API int cport_cancel(cport *port, cport_op *target);

/* ---- 5. Driving the port -------------------------------------------------------- */

/* Hand every queued op to the kernel without waiting. Returns 0 or a CPORT_E* code
 * (CPORT_EINVAL while a chain is open: section 4b). */
CPORT_API int cport_submit(cport *port);

/*
 * Submit what is queued, then reap up to `max` completed ops into `out` (max >= 1).
 * Blocks until at least one op completed or `timeout_ns` passed:
 *   timeout_ns < 0: wait forever; 0: do not block; > 0: at most that long.
 * Returns the number of ops written to `out` (0 on timeout), or CPORT_EINVAL for bad
 * arguments (max 0 or above INT32_MAX) or while a chain is open (section 4b), or
 * CPORT_EBUSY when another thread is driving the port. Each returned op is no longer in flight: its result and cflags are set and
 * it may be reused at once. Completions beyond `max` stay queued for the next call.
 */
CPORT_API int cport_wait(cport *port, cport_op **out, unsigned max, int64_t timeout_ns);

/* ---- 6. Sockets ------------------------------------------------------------------ */

/*
 * Sockets and other streams. Three parts: a portable address type, helpers that create
 * and configure sockets (plain calls, not ops: they return at once), and the socket
 * ops, which obey the overlapped contract like every op above.
 *
 * Stream rules (every backend; docs/contract.md):
 *   - A send (cport_send, cport_sendmsg, cport_sendfile, cport_write with offset -1)
 *     completes only when every byte went out, or with an error.
 *   - Sends in flight on one descriptor are performed in submission order, one after
 *     the other: their bytes never interleave, however many are in flight.
 *   - A receive (cport_recv, cport_recvmsg, cport_read with offset -1) completes with
 *     at least one byte, or 0 at end of stream (the peer shut down its sending side).
 *     Several receives in flight on one descriptor fill in submission order.
 *   - An op's timeout_ns counts from its submit, also while it waits for its turn behind
 *     other ops on the same stream (it then completes CPORT_ETIMEDOUT having moved
 *     nothing).
 *   - cport_close on a descriptor completes every op in flight on it with
 *     CPORT_ECANCELED, then completes the close.
 * Portable errors: a connection reset by the peer gives CPORT_ECONNRESET, a refused
 * connect CPORT_ECONNREFUSED, a send after the peer closed CPORT_EPIPE (never a fatal
 * SIGPIPE, see cport_create). Other codes are passed through as CPORT_E*.
 *
 * Descriptors made by the helpers and by cport_accept are close-on-exec. Their
 * blocking mode belongs to the backend (a backend may make a descriptor non-blocking
 * when it first sees it): do not rely on it, and do not mix your own blocking calls
 * with ops in flight. Ops work on blocking and non-blocking descriptors alike.
 * Backends keep some state per descriptor (io_uring and the readiness backends: a
 * table indexed by the descriptor; it grows, allocating, when a larger open
 * descriptor than ever before is used).
 */

/* Address families of cport_addr */
enum {
	CPORT_AF_UNSPEC = 0,
	CPORT_AF_INET = 1,  /* IPv4 */
	CPORT_AF_INET6 = 2, /* IPv6 */
	CPORT_AF_LOCAL = 3  /* AF_UNIX path (a named pipe on Windows) */
};

/*
 * A socket address of any family: `storage` holds the OS's own sockaddr (struct
 * sockaddr_in, sockaddr_in6, sockaddr_un; SOCKADDR_STORAGE-compatible on Windows),
 * `len` the bytes of it in use. 136 bytes, 8-byte aligned, on every platform. Fill it
 * with cport_addr_parse, or copy a sockaddr in and set `len`.
 */
typedef struct cport_addr {
	uint64_t storage[16]; /* struct sockaddr_storage (128 bytes) */
	uint32_t len;         /* bytes of `storage` in use; 0 = empty */
	uint32_t reserved_;
} cport_addr;

/* Longest text cport_addr_format writes, with the NUL: "[v6%scope]:port". */
#define CPORT_ADDR_STRLEN 64

/*
 * Parse "a.b.c.d:port" (IPv4) or "[v6]:port" (IPv6, an optional "%scope" inside the
 * brackets) into `addr`. Numeric only: no name lookup. Port 0..65535 (0 = any, for
 * binding). Returns 0 or CPORT_EINVAL (NULL arguments, bad text; `addr` untouched).
 */
CPORT_API int cport_addr_parse(cport_addr *addr, const char *text);

/*
 * Write `addr` as text to `buf` (size `n`): "a.b.c.d:port", "[v6]:port", or the path
 * of a local address. Returns the length written (without the NUL), or CPORT_EINVAL
 * (NULL, unknown family) or CPORT_ENOSPC (does not fit; CPORT_ADDR_STRLEN always fits
 * an IP address).
 */
CPORT_API int cport_addr_format(const cport_addr *addr, char *buf, size_t n);

/* The family of `addr`: CPORT_AF_*; CPORT_AF_UNSPEC if empty, NULL or unknown. */
CPORT_API int cport_addr_family(const cport_addr *addr);

/* The port number of an IP address (0..65535), or CPORT_EINVAL for other families. */
CPORT_API int cport_addr_port(const cport_addr *addr);

/* The local (getsockname) or peer (getpeername) address of a socket. Returns 0 or a
 * CPORT_E* code (CPORT_ENOTCONN: no peer). */
CPORT_API int cport_sock_local(cport_fd fd, cport_addr *addr);
CPORT_API int cport_sock_peer(cport_fd fd, cport_addr *addr);

/* cport_tcp_listen / cport_udp_socket flags */
enum {
	CPORT_SOCK_REUSEPORT = 1u << 0, /* SO_REUSEPORT: several sockets share the port,
	                                   the kernel spreads connections (Linux, BSD);
	                                   CPORT_ENOTSUP where the OS lacks it */
	CPORT_SOCK_V6ONLY = 1u << 1     /* an IPv6 socket does not also take IPv4 */
};

/*
 * A listening TCP socket bound to `addr` (IPv4 or IPv6; port 0 picks a free port, read
 * it back with cport_sock_local), with SO_REUSEADDR, and the CPORT_SOCK_* `flags`.
 * `backlog` <= 0 means the system's maximum. Sets *fd and returns 0, or a CPORT_E*
 * code (CPORT_EINVAL for a NULL `fd` or `addr`, a non-IP address or unknown flags,
 * checked before any socket is made; CPORT_EADDRINUSE, ...). On failure *fd is left
 * untouched and no socket stays open.
 */
CPORT_API int cport_tcp_listen(cport_fd *fd, const cport_addr *addr, int backlog,
			       uint32_t flags);

/* A TCP socket of `family` (CPORT_AF_INET or CPORT_AF_INET6) to pass to cport_connect.
 * Sets *fd and returns 0, or a CPORT_E* code. */
CPORT_API int cport_tcp_socket(cport_fd *fd, int family);

/* A UDP socket bound to `addr` (port 0: any free port), with the CPORT_SOCK_* `flags`.
 * Sets *fd and returns 0, or a CPORT_E* code. */
CPORT_API int cport_udp_socket(cport_fd *fd, const cport_addr *addr, uint32_t flags);

/*
 * A local stream server named `name`: on Unix an AF_UNIX socket bound to the path
 * `name` (at most 107 bytes; the file must not exist: CPORT_EADDRINUSE), listening with
 * `backlog` (<= 0: the maximum); on Windows a named pipe. Take connections with
 * cport_accept (the peer address is then empty). Sets *fd and returns 0 or a CPORT_E*
 * code. Removing the path afterwards is the caller's job (cport_unlink).
 */
CPORT_API int cport_local_listen(cport_fd *fd, const char *name, int backlog);

/*
 * Connect to the local stream server `name` at once (a local connect does not wait on
 * a network). Sets *fd to a connected stream and returns 0, or CPORT_ENOENT (no such
 * server), CPORT_ECONNREFUSED (nobody listens), CPORT_EAGAIN (its backlog is full: try
 * again later), CPORT_ENAMETOOLONG, ...
 */
CPORT_API int cport_local_connect(cport_fd *fd, const char *name);

/* TCP_NODELAY on (on != 0) or off: send small segments at once (no Nagle delay).
 * Returns 0 or a CPORT_E* code. */
CPORT_API int cport_sock_nodelay(cport_fd fd, int on);

/* SO_KEEPALIVE on or off; with on and `idle_s` > 0, the first probe goes after that
 * many idle seconds (TCP_KEEPIDLE, where the OS has it). Returns 0 or a CPORT_E* code. */
CPORT_API int cport_sock_keepalive(cport_fd fd, int on, uint32_t idle_s);

/* Close a descriptor at once, without an op (closesocket on Windows). Use it only when
 * no op is in flight on it (else cport_close). Every port in the process then treats
 * a later descriptor with the same number as new. Returns 0 or a CPORT_E* code. */
CPORT_API int cport_sock_close(cport_fd fd);

/* cport_accept flags */
enum {
	/* One submit, one completion per connection, each with CPORT_MORE in op->cflags,
	 * until cancelled (cport_cancel, cport_close on the listener) or an error: the
	 * last completion lacks CPORT_MORE. `peer` must then be NULL (use
	 * cport_sock_peer). Reap every completion before the op counts as free. */
	CPORT_ACCEPT_MULTISHOT = 1u << 0
};

/*
 * Accept a connection on the listening socket `fd`. If `peer` is not NULL it receives
 * the peer's address (empty for a local stream); it must stay valid until completion.
 * result: the new connected descriptor (close-on-exec).
 * Errors besides the common ones: CPORT_EINVAL (unknown flags, peer with MULTISHOT).
 */
CPORT_API int cport_accept(cport *port, cport_op *op, cport_fd fd, cport_addr *peer,
			   uint32_t flags);

/*
 * Connect the socket `fd` (from cport_tcp_socket, or a UDP socket) to `addr`, which must
 * stay valid until completion. op->timeout_ns bounds the handshake. result: 0.
 * Errors: CPORT_ECONNREFUSED, CPORT_ETIMEDOUT, CPORT_ENETUNREACH, ...
 */
CPORT_API int cport_connect(cport *port, cport_op *op, cport_fd fd, const cport_addr *addr);

/*
 * Receive up to `len` bytes into `buf` (stream rules above: >= 1 byte, 0 at end of
 * stream; a datagram socket: one datagram, truncated to `len`). `flags` must be 0.
 * result: bytes received. CPORT_ECONNRESET after a reset. A receive of zero bytes
 * (len 0 here, only empty buffers in cport_readv / cport_recvmsg) completes at once
 * with 0 and takes nothing from the descriptor (a waiting datagram stays queued).
 */
CPORT_API int cport_recv(cport *port, cport_op *op, cport_fd fd, void *buf, size_t len,
			 uint32_t flags);

/*
 * Send `len` bytes from `buf` (stream rules above: all of them or an error, in
 * submission order; a datagram socket: one datagram). `flags` must be 0.
 * result: len. CPORT_EPIPE / CPORT_ECONNRESET when the peer is gone.
 */
CPORT_API int cport_send(cport *port, cport_op *op, cport_fd fd, const void *buf, size_t len,
			 uint32_t flags);

/* cport_msg.flags, out from cport_recvmsg */
enum {
	CPORT_MSG_TRUNC = 1u << 0 /* the datagram was longer than the buffers: cut */
};

/*
 * A message for cport_recvmsg / cport_sendmsg (datagrams with addresses). The caller
 * fills addr, iov and iovcnt; the whole struct (and the iovec array, the buffers and
 * the address) must stay valid until completion: the backend uses `internal_` as
 * scratch space (the OS's msghdr).
 */
typedef struct cport_msg {
	cport_addr *addr;    /* recvmsg: out, the sender (NULL: not wanted);
	                        sendmsg: in, the destination (NULL: the connected peer) */
	cport_iovec *iov;    /* the buffers */
	uint32_t iovcnt;     /* 1..1024 */
	uint32_t flags;      /* recvmsg: out, CPORT_MSG_*; sendmsg: must be 0 */
	uint64_t internal_[8];
} cport_msg;

/* Receive one datagram (or stream bytes) into msg->iov, and its sender into
 * msg->addr. result: bytes received (at most the buffers' size; see CPORT_MSG_TRUNC). */
CPORT_API int cport_recvmsg(cport *port, cport_op *op, cport_fd fd, cport_msg *msg);

/* Send msg->iov as one datagram to msg->addr (or as stream bytes, all or an error).
 * result: bytes sent. Errors: CPORT_EMSGSIZE (too large a datagram), ... */
CPORT_API int cport_sendmsg(cport *port, cport_op *op, cport_fd fd, cport_msg *msg);

/* cport_shutdown `how` */
enum {
	CPORT_SHUT_RD = 1,  /* no more receiving */
	CPORT_SHUT_WR = 2,  /* no more sending: the peer reads end of stream */
	CPORT_SHUT_RDWR = 3
};

/*
 * Shut down one or both directions of a connected stream socket. A shutdown that stops
 * sending (CPORT_SHUT_WR, CPORT_SHUT_RDWR) waits for the sends submitted before it on
 * this descriptor, so their bytes go out before the end of stream. result: 0.
 * Errors: CPORT_EINVAL (bad how), CPORT_ENOTCONN.
 */
CPORT_API int cport_shutdown(cport *port, cport_op *op, cport_fd fd, uint32_t how);

/* cport_poll events (the values of poll(2) on Linux) */
enum {
	CPORT_POLL_IN = 0x001,   /* readable, or a connection to accept */
	CPORT_POLL_PRI = 0x002,  /* urgent data */
	CPORT_POLL_OUT = 0x004,  /* writable */
	CPORT_POLL_ERR = 0x008,  /* error pending (always reported) */
	CPORT_POLL_HUP = 0x010,  /* hung up (always reported) */
	CPORT_POLL_RDHUP = 0x2000 /* the peer shut down its sending side */
};

/*
 * Readiness as an op: completes once (one-shot) when `fd` is ready for any of `events`
 * (CPORT_POLL_*, not 0). result: the ready events (CPORT_POLL_ERR and CPORT_POLL_HUP
 * may be set without being asked for). Combine with op->timeout_ns for a bounded wait.
 */
CPORT_API int cport_poll(cport *port, cport_op *op, cport_fd fd, uint32_t events);

/*
 * Send `len` bytes of the regular file `file` from `offset` (>= 0) on the stream socket
 * `sock` (io_uring: splice through a pipe; no copy to user space). A send in the sense
 * of the stream rules (ordered with the other sends on `sock`). Completes when every
 * byte was sent, or at end of file (result is then shorter), or with an error.
 * result: bytes sent. Needs one pipe per op in flight on io_uring (CPORT_EMFILE).
 */
CPORT_API int cport_sendfile(cport *port, cport_op *op, cport_fd sock, cport_fd file,
			     int64_t offset, size_t len);

/* ---- 7. Backend notes ------------------------------------------------------------ */

/*
 * io_uring (Linux 5.19+): every op is an SQE; ops the running kernel lacks (probed at
 * start) go to the thread pool. Stream ops keep one SQE per side of a descriptor in
 * the kernel, the rest wait their turn in cport (the stream rules); accept, connect
 * and poll run at once. Per-op timeouts are linked timeouts. CPORT_OPT_SINGLE_THREAD
 * turns on SINGLE_ISSUER | DEFER_TASKRUN. CPORT_OP_LINK and CPORT_OP_BARRIER are run
 * by cport, as on every backend (section 4b), not with IOSQE_IO_LINK / IOSQE_IO_DRAIN.
 * A cport_poll on a socket whose peer shut down its sending side while nothing asked
 * for happened completes with CPORT_POLL_RDHUP, asked for or not (the kernel wakes
 * every poll for it); beside an asked-for event it is left out, as elsewhere.
 *
 * The readiness backends (epoll, poll, kqueue) run reads and writes with offset -1,
 * and the socket ops, on the port thread without blocking (waiting for readiness
 * when the descriptor has nothing to give), nops and timers on the port thread, and
 * every other op on the thread pool. epoll keeps a descriptor that had stream or
 * socket ops registered between ops; cport_close (and cport_sock_close, and any close
 * through cport) makes a later descriptor with the same number start clean. A
 * descriptor closed behind cport's back (close(2), dup2 over it) must not be used on
 * a port again under the same number until a close of that number through cport
 * happened: ops on the new file could wait for a registration that is gone.
 *
 * Non-blocking mode (epoll, poll, kqueue): on a socket, reads and writes at offset -1
 * (and cport_recv / cport_send / cport_recvmsg / cport_sendmsg) use MSG_DONTWAIT and
 * leave the socket's flags alone. Any other stream (pipe, TTY), and a socket given to
 * cport_readv / cport_writev, cport_accept, cport_connect or cport_sendfile, must be
 * non-blocking: the first time such an op meets the descriptor, and whenever one
 * meets it with no op waiting on it, the backend checks O_NONBLOCK (one fcntl), sets
 * it if clear and leaves it set, as libuv does. The flag belongs to the open file description, so other holders of it (a
 * terminal shared with a parent shell, a dup, a pipe end inherited by a child) see it
 * too: give cport a descriptor of its own (dup it, or open it yourself) if that
 * matters. The check at each idle-to-busy change means a descriptor closed and reused
 * behind cport's back is never read blocking. offset -1 on a regular file also runs
 * on the port thread (in order, it may wait for the disk). io_uring needs none of
 * this.
 */

/*
 * Thread pool (every backend). The readiness backends run every op that can only be
 * done blocking (positional file I/O, fsync, open, close, stat, ...) on it; io_uring
 * only the ops its kernel lacks; IOCP the metadata ops and I/O on synchronous handles.
 *   - A queued op stops at once on cport_cancel or its timeout (CPORT_ECANCELED,
 *     CPORT_ETIMEDOUT).
 *   - A running open, stat, fstat, rename, unlink, mkdir or fsync stops at once too:
 *     the worker runs it on private copies of its paths and results, so the call
 *     touches none of the caller's memory; the worker is then abandoned (a new one
 *     takes its place, up to four times the pool size in stuck threads), and when
 *     its call returns, the outcome is dropped (a descriptor an open made is closed).
 *     This is what stops an open of a FIFO that nobody will ever open for writing.
 *   - A running read or write fills or reads the caller's buffer inside the call,
 *     and a late ftruncate or fallocate could change another file that reused the
 *     number: they finish with their own result, however late. On Windows their
 *     blocking call is interrupted (CancelSynchronousIo): a console read waiting for
 *     input stops with CPORT_ECANCELED. On Unix they are regular-file transfers.
 *   - cport_destroy drops queued ops, abandons the abandonable running ones and waits
 *     for the others (interrupting them on Windows): it returns in bounded time unless
 *     a read or write of a regular file never returns.
 *   - cport_close on a descriptor waits for the pool's running ops on it, so the
 *     number is not freed (and reused) while a worker's call may still use it.
 */

/*
 * Windows (the "iocp" backend):
 *   - cport_open returns a HANDLE (as cport_fd) opened for overlapped I/O
 *     (FILE_FLAG_OVERLAPPED; CPORT_O_DIRECT adds FILE_FLAG_NO_BUFFERING, CPORT_O_DSYNC
 *     FILE_FLAG_WRITE_THROUGH), shared for read, write and delete as on Unix.
 *   - A handle opened for overlapped I/O is associated with a port by its first read or
 *     write, and for its whole life (Windows cannot undo that): it then works only on
 *     that port (elsewhere: CPORT_EINVAL). Close it with cport_close on that port, which
 *     also tells the port that a later handle with the same value is a new one. After a
 *     CloseHandle behind the port's back, a new handle that reuses the value must not be
 *     used on that port (the port would take it for the old one).
 *   - Reads and writes on a handle opened for synchronous I/O (a console, an anonymous
 *     pipe, a file opened without FILE_FLAG_OVERLAPPED) run on the thread pool, so
 *     op->timeout_ns on them is refused with CPORT_ENOTSUP, as for metadata ops.
 *     cport_cancel and cport_destroy interrupt such a call even once it blocks
 *     (CancelSynchronousIo): a console read waiting for input stops with
 *     CPORT_ECANCELED.
 *   - Offset -1 on a file reads or writes at its file pointer and moves it; on a pipe
 *     the offset is ignored. Ops on one handle that use the file pointer must not be
 *     in flight at the same time.
 *   - A file opened with CPORT_O_APPEND gets append-only access: every write lands at
 *     the end, whatever its offset (as pwrite on an O_APPEND descriptor on Linux).
 *   - Negative values (INVALID_HANDLE_VALUE, pseudo-handles) and 0 are CPORT_EBADF.
 *   - Paths are UTF-8 (the wide, UTF-16 calls are used). cport_statbuf: ino is the file
 *     index, dev the volume serial number, mode is made from the file attributes
 *     (0444 or 0644, plus 0111 for directories), uid and gid are 0, btime is set.
 *   - cport_close first stops the reads and writes in flight on the handle
 *     (CancelIoEx; they complete with CPORT_ECANCELED), then closes it.
 *   - Reads and writes reach the kernel in the submit call itself (cport_submit has
 *     nothing left to do). Windows runs some of them synchronously even then: cached
 *     reads, and writes that extend a file (extend it first with cport_ftruncate or
 *     cport_fallocate where that matters).
 *   - Sockets (section 6): the helpers create overlapped, non-inheritable sockets
 *     (WSAStartup runs once, on first use). Ops: AcceptEx, ConnectEx (an unbound
 *     socket is bound to the wildcard address first), WSARecv, WSASend (one send in
 *     the kernel per socket, the others queued behind it), WSARecvFrom/WSASendTo,
 *     TransmitFile (sendfile), shutdown (at once, or after the queued sends), poll
 *     (AFD's poll request, the one WSAPoll is made of, issued overlapped: sockets
 *     only, CPORT_ENOTSOCK elsewhere). cport_read/cport_write on a socket are its
 *     recv/send. After a peer's reset the first send says CPORT_ECONNRESET and later
 *     ones CPORT_EPIPE, as on Linux. SO_REUSEADDR is not set by cport_tcp_listen (on
 *     Windows it lets another socket take the port); CPORT_SOCK_REUSEPORT is
 *     CPORT_ENOTSUP. Close sockets with cport_close, or with cport_sock_close when no
 *     op is in flight on them: ports then check, once, whether a later socket with
 *     the same value is a new one. A bare closesocket/CloseHandle is not seen (see
 *     the handle notes above).
 *   - Local streams are named pipes: cport_local_listen(name) creates
 *     \\.\pipe\cport-<name> (with '\' in `name` turned into '/'; at most 241
 *     characters), so no file appears at `name` and nothing needs unlinking; a name
 *     in use is CPORT_EADDRINUSE. cport_accept gives a connected pipe instance (no peer
 *     address); cport_local_connect opens the pipe (CPORT_ENOENT: no server,
 *     CPORT_EAGAIN: every instance busy). recv/send/recvmsg/sendmsg on a pipe are its
 *     reads and writes; the other socket ops answer CPORT_ENOTSOCK.
 */


#ifdef __cplusplus
}
#endif

#endif /* CPORT_H */
