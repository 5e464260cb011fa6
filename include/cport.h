/* SPDX-License-Identifier: MIT */
/* cport: Windows-style completion ports (submit an op, reap its completion) on every OS. */
#ifndef CPORT_H
#define CPORT_H

/*
 * Map of this header
 *   1. Export macro, descriptors, the op struct
 *   2. Errors (CPORT_E*), cport_strerror, cport_err_name
 *   3. The port: options, create, destroy, backend queries
 *   4. Submitting ops: nop, timer, post, file I/O, metadata, cancel
 *   5. Driving the port: submit, wait
 *
 * The overlapped contract (every backend, see DESIGN.md section 1):
 *   - A cport_op belongs to the caller. From a successful submit (return 0) until
 *     cport_wait hands it back, it and the buffers it names must not be moved, freed,
 *     reused or touched.
 *   - A submit returns 0 (accepted: the op is reaped exactly once) or a negative
 *     CPORT_E* (rejected: never reaped, free again at once, nothing changed).
 *   - op->result >= 0 is the success value, < 0 a CPORT_E* code.
 *   - Submit and wait on one port are called by one thread at a time; cport_post is
 *     safe from any thread.
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
 */

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
	uint32_t flags;      /* reserved for CPORT_OP_* flags; must be 0 for now */
	/* out: valid once cport_wait returned the op */
	uint32_t cflags;     /* completion flags; 0 for every op implemented today */
	int64_t result;      /* >= 0 success value, < 0 a CPORT_E* code */
	/* private: backend state, do not touch while the op is in flight */
	uint64_t internal[CPORT_OP_INTERNAL_WORDS];
} cport_op;

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
	X(EBADF, 9, "bad file descriptor")                                     \
	X(EAGAIN, 11, "resource temporarily unavailable")                      \
	X(ENOMEM, 12, "out of memory")                                         \
	X(EACCES, 13, "permission denied")                                     \
	X(EFAULT, 14, "bad address")                                           \
	X(EBUSY, 16, "operation already in flight or resource busy")           \
	X(EEXIST, 17, "file exists")                                           \
	X(EXDEV, 18, "cross-device link")                                      \
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
	CPORT_OPT_STRICT = 1u << 0
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
	uint32_t pool_threads;  /* thread-pool workers for blocking work; 0 = 4 */
	char *reason;           /* optional out: why backends were refused (also on
	                           failure of cport_create); NUL-terminated */
	uint32_t reason_len;    /* bytes at `reason` */
	uint32_t reserved_;
} cport_options;

CPORT_API void cport_options_init(cport_options *opts);

/*
 * Create a port. `opts` may be NULL (defaults; $CPORT_BACKEND is honoured).
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
 * buffer again. Ops on the thread pool that already started a blocking system call are
 * waited for. Descriptors opened through the port stay open. NULL is ignored.
 */
CPORT_API void cport_destroy(cport *port);

/* The backend the port runs on: "io_uring", "epoll", "poll", "kqueue" or "iocp". */
CPORT_API const char *cport_backend_name(const cport *port);

/* Why preferred backends were refused before this one started, e.g.
 * "io_uring: setup failed: EPERM"; "" if the first candidate started. Never NULL. */
CPORT_API const char *cport_backend_reason(const cport *port);

/* Monotonic clock in nanoseconds: the clock of absolute timers. */
CPORT_API uint64_t cport_now_ns(void);

/* ---- 4. Submitting ops ------------------------------------------------------------ */

/*
 * Every submit call below:
 *   - returns 0 when the op was accepted (it will be reaped exactly once), or
 *     CPORT_EINVAL  NULL port or op, NULL buffer with a non-zero length, length over
 *                   CPORT_MAX_IO, negative offset other than -1 where allowed,
 *                   unknown flags, op->flags != 0
 *     CPORT_EBADF   a descriptor that is negative (Unix) or invalid
 *     CPORT_EBUSY   the op is already in flight (submitted and not yet reaped)
 *     CPORT_ENOTSUP op->timeout_ns on an op this backend runs on its thread pool
 *   and a rejected call changes nothing.
 *   - only queues the op: the kernel sees it at the next cport_submit or cport_wait.
 *   - honours op->timeout_ns: the op completes with CPORT_ETIMEDOUT if it is still in
 *     flight that long after it was handed to the kernel.
 * A cancelled op completes with CPORT_ECANCELED (see cport_cancel).
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
 * they were posted. Errors: CPORT_EINVAL, CPORT_EBUSY. op->timeout_ns is ignored.
 */
CPORT_API int cport_post(cport *port, cport_op *op, int64_t result);

/*
 * Read up to `len` bytes at `offset` into `buf`.
 *   offset >= 0: positional (files). A result shorter than `len` means end of file:
 *                short transfers from the kernel are retried inside.
 *   offset == -1: the descriptor's current position or a stream (pipe, TTY): the
 *                result is >= 1 byte, or 0 at end of stream.
 * result: bytes read. len == 0 completes with 0.
 */
CPORT_API int cport_read(cport *port, cport_op *op, cport_fd fd, void *buf, size_t len,
			 int64_t offset);

/*
 * Write `len` bytes at `offset` (or -1: current position / stream). Never short: the
 * op completes when every byte was written, with result == len, or with an error (bytes
 * written before the error are not reported).
 */
CPORT_API int cport_write(cport *port, cport_op *op, cport_fd fd, const void *buf, size_t len,
			  int64_t offset);

/* Vectored read/write: as cport_read/cport_write over `iovcnt` buffers (1..1024, total
 * at most CPORT_MAX_IO). The iovec array must stay valid until completion. */
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
 * Close a descriptor. Ops still in flight on it are asked to stop first (those that
 * stop complete with CPORT_ECANCELED). result: 0; the descriptor is gone even if the
 * result is an error (as close(2) on Linux).
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
 * The target still completes exactly once: CPORT_ECANCELED if it was stopped, else its
 * normal result (it may have finished already). No op of its own is needed; cancelling
 * twice is harmless.
 */
CPORT_API int cport_cancel(cport *port, cport_op *target);

/* ---- 5. Driving the port -------------------------------------------------------- */

/* Hand every queued op to the kernel without waiting. Returns 0 or a CPORT_E* code. */
CPORT_API int cport_submit(cport *port);

/*
 * Submit what is queued, then reap up to `max` completed ops into `out` (max >= 1).
 * Blocks until at least one op completed or `timeout_ns` passed:
 *   timeout_ns < 0: wait forever; 0: do not block; > 0: at most that long.
 * Returns the number of ops written to `out` (0 on timeout), or CPORT_EINVAL for bad
 * arguments. Each returned op is no longer in flight: its result and cflags are set and
 * it may be reused at once. Completions beyond `max` stay queued for the next call.
 */
CPORT_API int cport_wait(cport *port, cport_op **out, unsigned max, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* CPORT_H */
