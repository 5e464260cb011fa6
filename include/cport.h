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
 *      cancel; directories, file systems and file locks (4c); registered buffers and
 *      files (4d)
 *   5. Driving the port: submit, wait
 *   6. Sockets: addresses, socket helpers (not ops), and the socket ops; pool
 *      receives (6b)
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
 *     A shared port (CPORT_OPT_SHARED, section 3b) is IOCP's model instead: every
 *     call is safe from any thread at any time, each completion goes to exactly one
 *     cport_wait, the newest waiter first, under a concurrency limit.
 *     cport_destroy must not run beside any other call on the port (a shared port:
 *     cport_stop it, let its threads return, then destroy).
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
	uint32_t cflags;     /* completion flags: CPORT_MORE (multishot ops), CPORT_BUF
	                        (pool receives, section 6b), CPORT_ZC (cport_send),
	                        else 0 */
	int64_t result;      /* >= 0 success value, < 0 a CPORT_E* code */
	/* private: backend state, do not touch while the op is in flight */
	uint64_t internal[CPORT_OP_INTERNAL_WORDS];
} cport_op;

/* op->flags (read by the submit call; cport_post takes none). Links and barriers:
 * section 4b. */
enum {
	CPORT_OP_LINK = 1u << 0,    /* the next op accepted starts only if this succeeded */
	CPORT_OP_BARRIER = 1u << 1, /* starts after every earlier op, later ops after it */
	CPORT_OP_INLINE = 1u << 2   /* a cheap op may run inside the submit call (below) */
};

/*
 * CPORT_OP_INLINE: the caller allows a cheap op to run inside its submit call, on the
 * calling thread, instead of in the kernel's worker threads or cport's thread pool. For
 * a caller that submits one op and waits for it (a database's VFS, a synchronous
 * wrapper), that saves the two cross-thread wake-ups a worker costs (~20 us against a
 * ~1.5 us system call). The op still completes through the port: the submit returns 0,
 * its completion is already queued, and cport_wait (or cport_wait_op) reaps it exactly
 * once, as any op; only where the work runs moved. What runs inline:
 *   - cport_stat, cport_fstat: the plain call;
 *   - cport_read, cport_readv at an offset (>= 0) on a regular file opened without
 *     O_DIRECT: what the page cache holds, read without blocking (RWF_NOWAIT, Linux);
 *     the rest of the request, if any, goes the normal way, so a read is still short
 *     only at end of file;
 *   - cport_write, cport_writev at an offset on a regular file opened without
 *     CPORT_O_DIRECT and CPORT_O_DSYNC (nor O_SYNC): the plain call, which stops in the
 *     page cache.
 * Any other op, or one of these on another descriptor (a pipe, a socket, a direct or
 * synchronous file, offset -1), ignores the flag and goes the normal way; so does a
 * read whose data is not cached. Never inline: anything that waits for a peer (streams,
 * sockets, opens, which may meet a FIFO), fsync, close, and every other metadata op.
 * This is the caller's chosen exception to "nothing blocks but wait": an inline op does
 * not wait for a disk read or a flush, but it may block briefly: a stat on a path
 * whose directory entries are not cached reads them, a write may wait for page-cache
 * memory, dirty-page throttling or the file's lock, and on a network or FUSE file
 * system a stat or write may wait as long as the server takes. The op's timeout_ns
 * cannot stop an inline call (it has finished when the submit returns). An op that a
 * link or a barrier holds (section 4b) runs inline only when its turn comes, inside the
 * call that lets it go (a cport_wait, a later submit): never ahead of its turn.
 * Backends: io_uring (which would punt a stat or a buffered ext4 write to its io-wq
 * workers), epoll, poll and kqueue (no RWF_NOWAIT off Linux: reads there go the normal
 * way). IOCP runs stat and fstat inline instead of on its pool, and ignores the flag on
 * reads and writes: they reach the kernel in the submit call already, and Windows
 * completes cached ones at once. What cport learns of a descriptor (its type, O_DIRECT,
 * O_DSYNC, whether its file system takes RWF_NOWAIT) it keeps until the descriptor is
 * closed through cport: do not change those flags with fcntl behind its back.
 */

/* op->cflags */
enum {
	/* A multishot op (cport_accept with CPORT_ACCEPT_MULTISHOT, cport_recv_pool with
	 * CPORT_RECV_MULTISHOT) completed once and stays in flight: it will complete
	 * again. Its last completion lacks this flag; only then is the op free for reuse.
	 * (Bit 1 and the upper 16 bits: CPORT_BUF, section 6b; bit 2: CPORT_ZC,
	 * cport_send.) */
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
	X(ESHUTDOWN, 108, "port stopped or endpoint shut down")                \
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
	 * makes networking markedly faster, and enters the ring by a registered index
	 * (5.18; no descriptor lookup per system call); a kernel without them silently
	 * runs without. Using such a port from another thread is undefined (its calls fail
	 * with CPORT_EEXIST from the kernel, and destroy cannot stop the kernel).
	 * cport_post stays safe from any thread. Other backends ignore the flag. */
	CPORT_OPT_SINGLE_THREAD = 1u << 1,
	/* A shared port: many threads submit, wait and cancel on it at once (section
	 * 3b). With `concurrency`. Not with CPORT_OPT_SINGLE_THREAD (CPORT_EINVAL). */
	CPORT_OPT_SHARED = 1u << 2
};

struct cport_sim_profile; /* section 8 */

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
	uint32_t concurrency;   /* CPORT_OPT_SHARED: threads that may run completions at
	                           once; 0 = the number of CPUs; at most 1024 (section 3b).
	                           Must be 0 without the flag. */
	const struct cport_sim_profile *sim; /* backend "sim" only (section 8): its seed,
	                           faults and disk; NULL: seed $CPORT_SIM_SEED (else 1), no
	                           faults, the default disk. Must be NULL on other backends. */
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
 *   CPORT_EINVAL  NULL port, opts->size too small, bad queue_depth, unknown backend
 *                 name, unknown flags, CPORT_OPT_SHARED with CPORT_OPT_SINGLE_THREAD,
 *                 concurrency above 1024 or set without CPORT_OPT_SHARED
 *   CPORT_ENOTSUP CPORT_OPT_SHARED on a backend without the shared mode (kqueue
 *                 for now: section 7)
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

/* The port's clock: cport_now_ns() on every backend but "sim", whose virtual clock
 * (section 8) runs timers, timeout_ns, cport_wait's timeout and CPORT_TIMER_ABS. */
CPORT_API uint64_t cport_clock_ns(const cport *port);

/* ---- 3b. Shared ports ------------------------------------------------------------- */

/*
 * A shared port (cport_create with CPORT_OPT_SHARED) is served by a pool of threads, as
 * an I/O completion port is:
 *   - Every call on it (the submit calls, cport_submit, cport_wait, cport_cancel,
 *     cport_post, cport_route, the bufpool and register calls) is safe from any thread
 *     at any time; calls are serialised by a mutex (the default mode has none).
 *     cport_wait_op answers CPORT_ENOTSUP: a completion goes to whichever thread waits.
 *   - Each completion is returned by exactly one cport_wait. Of the threads asleep in
 *     cport_wait, the one that started waiting last is woken first for the next
 *     completions (LIFO, as IOCP: its cache is warm). A thread that is awake takes what
 *     is there before a sleeping one is woken for it: the thread that waits in the
 *     kernel for the port keeps its share of the batch that woke it, and the rest is
 *     shared out among the sleeping threads the concurrency value lets run, newest
 *     first, each up to its `max`. Submits on a shared port reach the kernel at once
 *     while a thread waits in it, else when the next thread waits (io_uring: one system
 *     call for all of them).
 *   - The concurrency value N (cport_options.concurrency; 0: the number of CPUs) caps
 *     the threads that are "busy": returned from a cport_wait with ops and not yet in
 *     their next cport_wait on the port. While N are busy, a waiting thread is given
 *     nothing (completions stay queued); a busy thread's next cport_wait frees its
 *     place and takes what is queued. Unlike Windows, a busy thread blocked elsewhere
 *     (a read, a lock) still counts, since user space cannot see it; a thread that
 *     stops calling cport_wait keeps its place until it calls it again.
 *   - Multishot ops (CPORT_MORE): a completion with CPORT_MORE is lent to the thread
 *     that got it; the op's next completion is not handed to any thread until that
 *     thread calls cport_wait on the port again (any timeout), so two threads never hold
 *     the same op. A cport_cancel of the op meanwhile is passed on then; a close of its
 *     descriptor (or its timeout) meanwhile ends it with a last completion of its own
 *     (CPORT_ECANCELED, CPORT_ETIMEDOUT), handed out then. A thread that stops calling
 *     cport_wait holds its lent ops' next completions back for good.
 *   - Submits never wait for the concurrency limit or for a waiting thread: a thread
 *     blocked in cport_wait does not hold the port (it waits in the kernel without it).
 *   - Streams keep their rules whatever thread submits: sends on one descriptor go out
 *     whole, in the order the submit calls returned, never interleaved.
 * Backends: epoll, poll, io_uring (both its native and its thread-pool paths) and
 * IOCP; kqueue answers CPORT_ENOTSUP for now (section 7).
 */

/*
 * Stop a shared port: every thread waiting in cport_wait on it returns
 * CPORT_ESHUTDOWN, and from now on every call on the port but cport_destroy does too
 * (submits, waits, cancels, posts, cport_stop again). Ops in flight stay in flight and
 * completions stay queued: once every thread has returned from its calls on the port,
 * cport_destroy stops them with its usual guarantee (nothing touched afterwards; the
 * descriptors of unreaped accepts and opens are closed). Returns 0, or:
 *   CPORT_EINVAL     NULL port, or a port created without CPORT_OPT_SHARED (one thread
 *                    drives it: it stops by not calling cport_wait)
 *   CPORT_ESHUTDOWN  the port was stopped already (nothing changes)
 */
CPORT_API int cport_stop(cport *port);

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
	CPORT_STRUCT_OP = 1,     /* cport_op */
	CPORT_STRUCT_OPTIONS,    /* cport_options */
	CPORT_STRUCT_STATBUF,    /* cport_statbuf */
	CPORT_STRUCT_ADDR,       /* cport_addr */
	CPORT_STRUCT_IOVEC,      /* cport_iovec */
	CPORT_STRUCT_MSG,        /* cport_msg */
	CPORT_STRUCT_DIO_INFO,   /* cport_dio_info */
	CPORT_STRUCT_SIM_PROFILE /* cport_sim_profile (section 8) */
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
 *     CPORT_ESHUTDOWN a shared port that was stopped (cport_stop)
 *   and a rejected call changes nothing.
 *   - only queues the op: the kernel sees it at the next cport_submit or cport_wait
 *     (a shared port: before the submit call returns).
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
 * the chain (as io_uring's links do; a write is never short without an error); a pool
 * receive (section 6b) succeeds when it brings data (result > 0). When a member fails,
 * is cancelled or times out, every later member of its chain completes with
 * CPORT_ECANCELED, never started, right after it and in chain order.
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
 *   - CPORT_OP_LINK on a multishot accept or pool receive is CPORT_EINVAL (it never
 *     completes just once). cport_post takes no flags (CPORT_EINVAL): posts belong to no chain.
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
 * chain), CPORT_EBUSY (the op is in flight), CPORT_ESHUTDOWN (a shared port that was
 * stopped). op->timeout_ns is ignored. On a shared port the post goes straight to the
 * newest waiting thread (section 3b).
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

/*
 * Flush a file, or a directory, to stable storage: its data, the metadata needed to
 * find it again, and the device's volatile write cache (fsync; fdatasync with
 * CPORT_FSYNC_DATA, which skips metadata such as times that reading does not need).
 * The flush covers the writes that completed before it was submitted; ordering against
 * writes still in flight is the caller's: wait for them first.
 * result: 0, or an error. A flush that did not complete with 0 (write-back failed:
 * CPORT_EIO, CPORT_ENOSPC...; or it was stopped: CPORT_ECANCELED, CPORT_ETIMEDOUT)
 * leaves the data in doubt, and a later flush that returns 0 does not clear the
 * doubt: see "After a failed flush" below.
 * Backends: io_uring IORING_OP_FSYNC; the others on the thread pool. Per OS: see
 * "Durability" below.
 */
CPORT_API int cport_fsync(cport *port, cport_op *op, cport_fd fd, uint32_t flags);

/*
 * Durability, per OS (cport_fsync and cport_fsync_range):
 *   - Linux: fsync(2) / fdatasync(2). They write back the dirty pages and ask the
 *     device to empty its volatile write cache.
 *   - macOS: fsync(2) there leaves the data in the drive's cache, so cport uses
 *     fcntl(F_FULLFSYNC), with or without CPORT_FSYNC_DATA (macOS has no data-only
 *     form of it). A file system that cannot do it (SMB, some FUSE file systems)
 *     refuses with ENOTSUP; only then, and for ENOTTY and EINVAL, cport falls back to
 *     fsync(2), the best that file system offers, which is not durable against a power
 *     cut. A write-back error from F_FULLFSYNC is the op's result: never retried.
 *   - Windows: FlushFileBuffers (data, metadata and the device's cache; also for
 *     CPORT_FSYNC_DATA). It needs a handle open for writing: CPORT_EACCES otherwise.
 *   - Directories: open one with cport_open(..., CPORT_O_DIRECTORY) and cport_fsync it
 *     to make durable the names created, renamed or removed in it (Linux, macOS, BSD;
 *     a new file needs both: a flush of the file and one of its directory). Windows
 *     documents no way to flush a directory (FlushFileBuffers refuses a directory
 *     handle without write access, and cport_open opens directories read-only): there
 *     cport_fsync on a directory completes with CPORT_ENOTSUP.
 *
 * After a failed flush (PostgreSQL's "fsyncgate", 2018). When write-back fails, the
 * kernel may drop the dirty pages or mark them clean, and it reports the error once
 * (Linux: once per open file description, to the first flush that asks). A second
 * flush then finds nothing dirty and returns 0 although the data never reached the
 * disk. So after a cport_fsync or cport_fsync_range that did not complete with 0:
 *   - assume nothing about any byte written to the file since the last flush of it
 *     that completed with 0: it may be on disk, partly, or not at all, and a read may
 *     return the new bytes from memory while the disk holds the old ones;
 *   - do not retry the flush and take its 0 as proof: cport itself never retries one;
 *   - do either: stop using the file and recover from what was durable before (a log
 *     written and flushed earlier, a replica; PostgreSQL now stops with PANIC and
 *     replays its write-ahead log), or write every byte written since the last good
 *     flush again from your own copy, preferably to a new file, and flush that.
 * A flush stopped by cport_cancel or op->timeout_ns (CPORT_ECANCELED, CPORT_ETIMEDOUT)
 * once it had started counts as failed: its system call may still run, and an error
 * it meets then is reported to nobody. Do not put timeouts on flushes unless you
 * handle that as a failure.
 */

/* cport_fsync_range flags: none yet; must be 0. */

/*
 * Write back the data in the byte range [offset, offset + len) of a file and wait for
 * it; len 0 means from offset to the end of the file. Cheaper than cport_fsync for a
 * writer that knows which bytes it wrote, but much weaker: read what it does not do.
 *   Linux: sync_file_range(2) with SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE
 *   | SYNC_FILE_RANGE_WAIT_AFTER: the range's dirty pages are written to the device,
 *   and nothing more. In particular it does NOT
 *     - write any metadata: not the file's size (bytes appended past the old end may
 *       be lost), not the allocation of blocks written for the first time (a hole
 *       filled, an append, a range from cport_fallocate not yet written), so after a
 *       crash such data may be gone or read back as zeros;
 *     - empty the device's volatile write cache: a power cut can lose what it wrote;
 *     - help on file systems that never overwrite in place (btrfs, and other
 *       copy-on-write ones), nor on network file systems.
 *   It is durable only for overwrites of blocks that were already allocated and
 *   flushed, on a device without a volatile cache (or with power-loss protection).
 *   Use cport_fsync with CPORT_FSYNC_DATA when that is not known: it is the call that
 *   makes data durable. Good uses: start write-back early so that the later fsync has
 *   little left to do, or flush in-place overwrites of a preallocated, flushed file on
 *   such a device.
 *   Elsewhere (macOS, BSD, Windows): a full cport_fsync with CPORT_FSYNC_DATA of the
 *   whole file (stronger than asked, never weaker).
 * After a failure: as for cport_fsync ("After a failed flush" above).
 * result: 0. Errors besides the common ones: CPORT_EINVAL (flags not 0, offset < 0,
 * len < 0, offset + len beyond INT64_MAX), CPORT_ESPIPE (Linux: a pipe or socket), and
 * those of cport_fsync.
 * Backends: io_uring IORING_OP_SYNC_FILE_RANGE (probed; the thread pool where the
 * kernel lacks it; a range over 4 GiB - 1 bytes is flushed with IORING_OP_FSYNC's
 * fdatasync of the whole file, as the SQE has 32 bits for the length); the others on
 * the thread pool.
 */
CPORT_API int cport_fsync_range(cport *port, cport_op *op, cport_fd fd, uint32_t flags,
				int64_t offset, int64_t len);

/* cport_open flags (portable; translated to the OS's own) */
enum {
	CPORT_O_RDONLY = 0,
	CPORT_O_WRONLY = 1u << 0,
	CPORT_O_RDWR = 1u << 1,
	CPORT_O_CREAT = 1u << 2,
	CPORT_O_EXCL = 1u << 3,
	CPORT_O_TRUNC = 1u << 4,
	CPORT_O_APPEND = 1u << 5,
	CPORT_O_DIRECT = 1u << 6,    /* bypass the page cache (O_DIRECT; Windows
	                                FILE_FLAG_NO_BUFFERING; macOS F_NOCACHE): buffers,
	                                offsets and lengths must then be aligned as
	                                cport_dio_query says, else CPORT_EINVAL */
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
	CPORT_FALLOC_KEEP_SIZE = 1u << 0,  /* allocate blocks, leave the file size as it is */
	CPORT_FALLOC_PUNCH_HOLE = 1u << 1, /* free the range's blocks: it reads as zeros; the
	                                      size never changes (KEEP_SIZE is implied) */
	CPORT_FALLOC_ZERO_RANGE = 1u << 2  /* the range reads as zeros and is allocated; the
	                                      file grows to its end unless KEEP_SIZE */
};

/*
 * Allocate disk space for [offset, offset + len) (len > 0), or free it
 * (CPORT_FALLOC_PUNCH_HOLE), or zero it (CPORT_FALLOC_ZERO_RANGE; not both). result: 0.
 * Errors besides the common ones: CPORT_EINVAL (PUNCH_HOLE with ZERO_RANGE),
 * CPORT_ENOTSUP (the file system or the OS has no such operation).
 * Backends: Linux: fallocate(2) (io_uring: IORING_OP_FALLOCATE) with
 * FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE.
 * Other Unix systems: posix_fallocate, and CPORT_ENOTSUP for the three flags. Windows:
 * PUNCH_HOLE marks the file sparse (FSCTL_SET_SPARSE) and zeroes the range
 * (FSCTL_SET_ZERO_DATA), which frees its clusters; ZERO_RANGE is FSCTL_SET_ZERO_DATA (on
 * a file already sparse that frees the range too), then grows the file to the range's
 * end unless KEEP_SIZE; where the file system lacks them (FAT, Wine): CPORT_ENOTSUP.
 */
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

/* ---- Direct I/O and routes (plain calls, not ops: they return at once) ------------ */

/*
 * Direct I/O (CPORT_O_DIRECT) moves data between the device and the caller's buffer
 * without the page cache, so the device's rules apply to every read and write:
 *   - the buffer's address is a multiple of mem_align (each iovec's base, too);
 *   - the file offset and the length are multiples of offset_align (each iovec's
 *     length, too; reads: of read_offset_align).
 * A read or write that breaks them completes with CPORT_EINVAL: the kernel's answer,
 * passed through unchanged (Windows: ERROR_INVALID_PARAMETER). cport never copies
 * through an aligned buffer of its own, so a misaligned op is never silently slow.
 * Some file systems accept any alignment (tmpfs, NFS; Wine does not check it): there
 * the op simply works. cport_dio_query tells the rules for an open descriptor;
 * cport_alloc_aligned makes buffers that keep them.
 */

/* cport_dio_info.flags */
enum {
	CPORT_DIO_DIRECT = 1u << 0, /* the descriptor is open for direct I/O now (Linux:
	                               O_DIRECT in F_GETFL; Windows: the handle has
	                               FILE_NO_INTERMEDIATE_BUFFERING; never set on
	                               macOS, which cannot tell) */
	CPORT_DIO_EXACT = 1u << 1   /* the alignments are the OS's own answer for direct
	                               I/O on this file (Linux: statx STATX_DIOALIGN, 6.1;
	                               Windows: FILE_STORAGE_INFO). Without it they are a
	                               safe guess: the device's logical block size (a
	                               block device), else the file system's preferred
	                               I/O size (st_blksize; Windows: the volume's
	                               sector size), which may be more than needed */
};

/*
 * What cport_dio_query fills in: 64 bytes, fixed layout. Set `size` to
 * sizeof(cport_dio_info) before the call; a program built with an older, smaller
 * struct passes its own size and nothing past it is written.
 */
typedef struct cport_dio_info {
	uint32_t size;              /* in: sizeof(cport_dio_info) */
	uint32_t flags;             /* out: CPORT_DIO_* */
	uint32_t mem_align;         /* buffer addresses: multiples of this many bytes.
	                               0 (with offset_align 0): direct I/O does not
	                               apply here (not a regular file or block device, a
	                               directory, or the file system says it cannot) */
	uint32_t offset_align;      /* file offsets and lengths: multiples of this */
	uint32_t read_offset_align; /* the same for reads: smaller where the file system
	                               says so (Linux 6.14, STATX_DIO_READ_ALIGN), else
	                               offset_align */
	uint32_t atomic_write_min;  /* torn-write protection (Linux 6.11,
	                               STATX_WRITE_ATOMIC): the smallest and largest */
	uint32_t atomic_write_max;  /* write the device and file system can make atomic,
	                               in bytes, and how many iovecs such a write may
	                               have; 0 where none is reported (other OSes, older
	                               kernels). They hold for writes issued with
	                               RWF_ATOMIC only, which cport does not issue yet */
	uint32_t atomic_write_segments_max;
	uint64_t reserved_[4];      /* zero; for later fields */
} cport_dio_info;

/*
 * Tell the direct-I/O rules of the open descriptor `fd` (whether or not it was opened
 * with CPORT_O_DIRECT: the alignments are those a direct open of the same file would
 * need). Needs no port; returns at once (a statx or fstat and an fcntl; Windows:
 * two queries of the handle). Returns 0 with `info` filled in, or CPORT_EINVAL (NULL
 * info, info->size below 32), CPORT_EBADF (fd not open), or the OS's error.
 */
CPORT_API int cport_dio_query(cport_fd fd, cport_dio_info *info);

/*
 * Allocate `size` bytes (> 0) at an address that is a multiple of `align` (a power of
 * two up to 1 GiB; cport_dio_info.mem_align, or 4096, which suits every common
 * device), for direct I/O. Sets *buf and returns 0, or CPORT_EINVAL (NULL buf, size 0,
 * align not a power of two) or CPORT_ENOMEM; *buf is then untouched. The memory is not
 * zeroed. Free it with cport_free_aligned (never with free(): Windows needs its own).
 */
CPORT_API int cport_alloc_aligned(void **buf, size_t size, size_t align);
/* Free a buffer from cport_alloc_aligned; NULL is ignored. */
CPORT_API void cport_free_aligned(void *buf);

/* cport_route `kind`: an op as its submit call makes it. _CUR: at offset -1 (the
 * descriptor's position, or a stream); the others at an offset >= 0. */
enum {
	CPORT_KIND_NOP = 1,
	CPORT_KIND_TIMER,
	CPORT_KIND_READ,         /* cport_read at an offset */
	CPORT_KIND_READ_CUR,     /* cport_read at offset -1 */
	CPORT_KIND_WRITE,
	CPORT_KIND_WRITE_CUR,
	CPORT_KIND_READV,
	CPORT_KIND_READV_CUR,
	CPORT_KIND_WRITEV,
	CPORT_KIND_WRITEV_CUR,
	CPORT_KIND_FSYNC,        /* with or without CPORT_FSYNC_DATA */
	CPORT_KIND_FSYNC_RANGE,
	CPORT_KIND_OPEN,
	CPORT_KIND_CLOSE,
	CPORT_KIND_STAT,
	CPORT_KIND_FSTAT,
	CPORT_KIND_FALLOCATE,
	CPORT_KIND_FTRUNCATE,
	CPORT_KIND_RENAME,
	CPORT_KIND_UNLINK,
	CPORT_KIND_MKDIR,
	CPORT_KIND_ACCEPT,
	CPORT_KIND_CONNECT,
	CPORT_KIND_RECV,
	CPORT_KIND_SEND,
	CPORT_KIND_RECVMSG,
	CPORT_KIND_SENDMSG,
	CPORT_KIND_SHUTDOWN,     /* CPORT_SHUT_WR or CPORT_SHUT_RDWR */
	CPORT_KIND_POLL,
	CPORT_KIND_SENDFILE,     /* `fd` is the socket */
	CPORT_KIND_OPENAT,       /* `fd` is the directory (section 4c) */
	CPORT_KIND_READDIR,
	CPORT_KIND_STATFS,
	CPORT_KIND_FADVISE,
	CPORT_KIND_LINK,
	CPORT_KIND_SYMLINK,
	CPORT_KIND_READLINK,
	CPORT_KIND_ACCESS,
	CPORT_KIND_LOCK,         /* cport_lock; cport_rename2 is CPORT_KIND_RENAME */
	CPORT_KIND_UNLOCK,
	CPORT_KIND_RECV_POOL,    /* cport_recv_pool, one-shot or multishot (section 6b) */
	CPORT_KIND_RECVMSG_POOL
};

/* What cport_route answers: where an op of that kind does its work. */
enum {
	CPORT_ROUTE_KERNEL = 1, /* the kernel's own asynchronous interface: an io_uring SQE
	                           (the kernel may still run it on its own workers, as it
	                           does buffered writes), an IOCP overlapped call */
	CPORT_ROUTE_POOL,       /* a blocking call on the port's thread pool: one
	                           cross-thread hand-off each way */
	CPORT_ROUTE_REACTOR,    /* on the port's own thread, emulated over readiness: a
	                           non-blocking call, and a wait in the poller when the
	                           descriptor has nothing to give (the readiness backends;
	                           a regular file at offset -1 is read or written there
	                           too, and may wait for the disk) */
	CPORT_ROUTE_LOCAL,      /* done by cport on the port thread without the kernel's
	                           queue, a worker or a readiness wait: a nop, a timer (the
	                           port's deadline heap), one quick call (the readiness
	                           backends' close of a stream, IOCP's shutdown) */
	CPORT_ROUTE_NOWAIT_POOL /* first a call on the port thread that never waits for
	                           the device (Linux RWF_NOWAIT): what the page cache holds
	                           moves there at once; only the rest goes to the thread
	                           pool, as POOL. The readiness backends' positional reads
	                           and writes of a cached regular file */
};

/*
 * Which route an op of `kind` (CPORT_KIND_*) on the descriptor `fd` takes on this port
 * now, so that a benchmark or a storage engine knows what it measures: the answer
 * comes from the same decision the submit makes. `fd` is ignored for kinds without a
 * descriptor (nop, timer, open, stat, rename, unlink, mkdir, statfs, link, symlink,
 * readlink, access); for CPORT_KIND_OPENAT, `fd` is the directory or CPORT_AT_CWD
 * (answered as CPORT_KIND_OPEN). The answer holds for an
 * op with a non-zero length and no op->flags; it can change when the descriptor does
 * (readiness backends: a close after stream ops; IOCP: what the handle is).
 * Returns a CPORT_ROUTE_* (> 0), or CPORT_EINVAL (NULL port, unknown kind),
 * CPORT_EBADF (fd negative, not open, or being closed), CPORT_EBUSY (another thread
 * drives the port), or the error the submit itself would give: CPORT_ENOSYS (io_uring:
 * a socket op the kernel lacks), CPORT_ENOTSOCK / CPORT_ENOTCONN (IOCP: a socket op on
 * a handle that cannot take it). Never starts anything, never associates a handle.
 * Per backend (section 7 has the reasons):
 *   io_uring   KERNEL for every op the kernel has (probed at create), POOL for the
 *              file ops it lacks (and for positional I/O, fsyncs and metadata ops under
 *              the test switch CPORT_TEST_URING_POOL=1); timers LOCAL.
 *   epoll/poll/kqueue  REACTOR for reads and writes at offset -1 and socket ops;
 *              NOWAIT_POOL for positional reads and writes of a regular file without
 *              O_DIRECT on Linux (writes: without O_DSYNC, and until the file system
 *              refused an RWF_NOWAIT write on this descriptor, as ext4 and tmpfs do;
 *              reads likewise); POOL for other positional I/O, fsyncs and metadata
 *              ops; close: LOCAL for a
 *              descriptor that had stream ops on this port, else POOL; nop and
 *              timer LOCAL.
 *   iocp       KERNEL for reads, writes and socket ops on overlapped handles and
 *              sockets; POOL for synchronous handles and for fsyncs, close and
 *              metadata ops (section 4c's too, locks included); nop, timer, shutdown
 *              and fadvise LOCAL.
 */
CPORT_API int cport_route(cport *port, uint32_t kind, cport_fd fd);
/* ---- 4c. Directories, file systems and file locks ---------------------------------- */

/*
 * What storage engines build on besides reads and writes: open relative to a directory,
 * list a directory, free space, access-pattern advice, links, renames that do not
 * replace, access checks, and byte-range locks. Each is an op like those above (submit,
 * exactly one completion, cancel, timeout_ns, close cancels). Where each runs: io_uring
 * in the kernel for openat, link, symlink, rename (with its flags) and fadvise where the
 * kernel has the opcode (probed at start), else the thread pool; the readiness backends
 * and IOCP on the thread pool. The thread pool's rules (section 7) apply; these ops are
 * abandoned at a cancel or timeout like open or stat (the worker runs them on private
 * copies of paths, results and the directory's descriptor, so it never writes the
 * caller's buffer after the op completed): openat, readdir, statfs, link, symlink,
 * readlink, access. fadvise, and a lock's try, are not (run late on a number reused by
 * another file they would act on that file); a lock try never waits, see cport_lock.
 *
 * Which calls take a directory descriptor: cport_openat (the directory `path` is
 * relative to) and cport_readdir (the directory listed). Every other path call here, like
 * cport_open, cport_stat, cport_rename and cport_unlink, takes a path relative to the
 * current directory, or an absolute one.
 */

/* For cport_openat's `dir`: the current directory (cport_openat is then cport_open). A
 * value no descriptor has: -100 on Unix, (uintptr_t)-100 on Windows. */
#define CPORT_AT_CWD ((cport_fd)-100)

/*
 * Open `path` relative to the directory `dir` (a descriptor opened with
 * CPORT_O_DIRECTORY, or CPORT_AT_CWD); an absolute `path` ignores `dir`. `flags` and
 * `mode` as cport_open, and so is the result: the new descriptor. `dir` counts as a
 * descriptor this op uses: cport_close(dir) cancels it.
 * Errors besides the common ones: CPORT_EBADF (`dir` negative other than CPORT_AT_CWD,
 * or not open), CPORT_ENOTDIR (`dir` is not a directory), and cport_open's.
 * Backends: io_uring: IORING_OP_OPENAT on `dir`. The pool: openat(2) on a duplicate of
 * `dir` (so a worker abandoned at a cancel never resolves the path in a directory that
 * reused the number; the dup costs a descriptor while the call runs). Windows: `path` is
 * joined to the directory's current path (GetFinalPathNameByHandleW), then opened as
 * cport_open does: a directory renamed while the op waits for a worker is found under
 * its new name; the joined path may be at most MAX_PATH (260) characters long.
 */
CPORT_API int cport_openat(cport *port, cport_op *op, cport_fd dir, const char *path,
			   uint32_t flags, uint32_t mode);

/* cport_dirent.type: the values of Linux's DT_* */
enum {
	CPORT_DT_UNKNOWN = 0, /* the file system did not say: cport_stat the entry */
	CPORT_DT_FIFO = 1,
	CPORT_DT_CHR = 2,
	CPORT_DT_DIR = 4,
	CPORT_DT_BLK = 6,
	CPORT_DT_REG = 8,
	CPORT_DT_LNK = 10, /* a symbolic link (Windows: a symbolic-link reparse point) */
	CPORT_DT_SOCK = 12
};

/*
 * One directory entry as cport_readdir writes it: this 16-byte header, then the name
 * (namelen bytes of UTF-8 and a NUL) at offset 16, then padding up to reclen, a
 * multiple of 8; the next record starts reclen bytes after this one. Walk a buffer of
 * `n` bytes (the op's result) so:
 *     for (size_t at = 0; at < n;) {
 *         const cport_dirent *d = (const cport_dirent *)(buf + at);
 *         const char *name = (const char *)(d + 1);
 *         at += d->reclen;
 *     }
 * The buffer must be 8-byte aligned for the records to be. Same layout everywhere.
 */
typedef struct cport_dirent {
	uint64_t ino;     /* inode number (Windows: the file ID) */
	uint16_t reclen;  /* bytes of this record: 16 + namelen + 1, rounded up to 8 */
	uint16_t namelen; /* bytes of the name, without its NUL */
	uint8_t type;     /* CPORT_DT_* */
	uint8_t reserved_[3];
} cport_dirent;

/* The smallest buffer cport_readdir takes: room for any one record (a name of 255
 * UTF-16 units is at most 765 bytes of UTF-8). */
#define CPORT_READDIR_MIN 1024

/* cport_readdir flags */
enum {
	CPORT_READDIR_REWIND = 1u << 0 /* start again from the first entry */
};

/*
 * Read entries of the directory `dir` (opened with cport_open/cport_openat and
 * CPORT_O_DIRECTORY) into `buf` (`len` >= CPORT_READDIR_MIN bytes, 8-byte aligned) as
 * cport_dirent records. Reading goes on from the directory descriptor's position, which
 * each readdir moves past the entries it returned (as getdents64); CPORT_READDIR_REWIND
 * starts from the first entry. Entries come in the file system's order, "." and ".."
 * among them where the file system lists them (not at a Windows drive's root). An entry
 * created or removed while a directory is read may or may not be seen.
 * result: bytes of records written (whole records only; a call may write fewer than
 * would fit), 0 at the end of the directory. After a readdir completed with
 * CPORT_ECANCELED or CPORT_ETIMEDOUT the position is unknown (a worker it left behind
 * may still move it): start again with CPORT_READDIR_REWIND.
 * Errors besides the common ones: CPORT_EINVAL (NULL buf, buf not 8-byte aligned,
 * len < CPORT_READDIR_MIN, unknown flags), CPORT_ENOTDIR (`dir` is no directory), CPORT_ENOTSUP (not Linux or
 * Windows).
 * Backends: the thread pool everywhere (io_uring has no such opcode): Linux
 * getdents64(2) (lseek to 0 first for REWIND) on a duplicate of `dir`, which shares its
 * position; Windows GetFileInformationByHandleEx(FileIdBothDirectoryInfo, or
 * FileIdBothDirectoryRestartInfo for REWIND). A worker fills its own buffer of at most
 * 16 KiB and copies the records to `buf` when the op completes.
 */
CPORT_API int cport_readdir(cport *port, cport_op *op, cport_fd dir, void *buf, size_t len,
			    uint32_t flags);

/* What cport_statfs fills in: 64 bytes, same layout everywhere. */
typedef struct cport_statfsbuf {
	uint64_t bsize;   /* the allocation unit, bytes (f_frsize; Windows: the cluster) */
	uint64_t total;   /* bytes in the file system */
	uint64_t free;    /* bytes free */
	uint64_t avail;   /* bytes free for this caller (less what is reserved for root;
	                     Windows: less what the user's quota forbids) */
	uint64_t files;   /* inodes in all; 0 where the file system does not count them */
	uint64_t ffree;   /* inodes free; 0 likewise */
	uint32_t namemax; /* the longest file name, bytes (Windows: UTF-16 units) */
	uint32_t reserved_[3];
} cport_statfsbuf;

/*
 * Fill `st` for the file system holding `path` (a file or directory; `path` and `st`
 * must stay valid until completion). result: 0.
 * Errors besides the common ones: CPORT_EINVAL (NULL path or st), and the path errors
 * (CPORT_ENOENT, CPORT_EACCES, CPORT_ENOTDIR, ...).
 * Backends: the thread pool: statvfs(3) on Unix; on Windows the volume's
 * FileFsFullSizeInformation (the numbers GetDiskFreeSpaceExW reports) and its longest
 * name (GetVolumeInformationByHandleW); files and ffree are 0 there.
 */
CPORT_API int cport_statfs(cport *port, cport_op *op, const char *path, cport_statfsbuf *st);

/* cport_fadvise advice: the values of Linux's POSIX_FADV_* */
enum {
	CPORT_FADV_NORMAL = 0,
	CPORT_FADV_RANDOM = 1,     /* no readahead */
	CPORT_FADV_SEQUENTIAL = 2, /* more readahead */
	CPORT_FADV_WILLNEED = 3,   /* start reading the range into the page cache */
	CPORT_FADV_DONTNEED = 4,   /* drop the range's clean cached pages */
	CPORT_FADV_NOREUSE = 5     /* the range is read once */
};

/*
 * Advise the kernel how [offset, offset + len) of `fd` will be read (len 0: to the end
 * of the file); the data never changes. result: 0.
 * Errors besides the common ones: CPORT_EINVAL (unknown advice, offset or len < 0),
 * CPORT_ESPIPE (a pipe).
 * Backends: Linux posix_fadvise(2) (io_uring: IORING_OP_FADVISE where the kernel has it
 * and len fits 32 bits; else the thread pool). Windows has no such call: after the
 * handle is checked, the op completes with 0 at once, advice unheeded; so do Unix
 * systems without posix_fadvise (macOS), on the thread pool.
 */
CPORT_API int cport_fadvise(cport *port, cport_op *op, cport_fd fd, int64_t offset,
			    int64_t len, uint32_t advice);

/*
 * Make `to` a new hard link to the file `from` (a symbolic link `from` is linked itself,
 * not followed). result: 0. Errors: CPORT_EEXIST (`to` exists), CPORT_EXDEV (another
 * file system), CPORT_EPERM (`from` is a directory), the path errors.
 * Backends: io_uring IORING_OP_LINKAT; the pool linkat(2); Windows CreateHardLinkW.
 */
CPORT_API int cport_link(cport *port, cport_op *op, const char *from, const char *to);

/* cport_symlink flags */
enum {
	CPORT_SYMLINK_DIR = 1u << 0 /* Windows: the target is a directory (a directory link);
	                               ignored elsewhere */
};

/*
 * Make `path` a symbolic link whose text is `target` (a relative target is resolved from
 * the link's directory when the link is followed; `target` need not exist). result: 0.
 * Errors: CPORT_EEXIST, CPORT_EINVAL (unknown flags), CPORT_EPERM (Windows: neither the
 * privilege to create symbolic links nor developer mode), CPORT_ENOTSUP (the OS or file
 * system has none), the path errors.
 * Backends: io_uring IORING_OP_SYMLINKAT; the pool symlink(2); Windows
 * CreateSymbolicLinkW (unprivileged where developer mode allows it), checked afterwards:
 * Wine 8 answers success and makes nothing, which is CPORT_ENOTSUP here.
 */
CPORT_API int cport_symlink(cport *port, cport_op *op, const char *target, const char *path,
			    uint32_t flags);

/*
 * Read the text of the symbolic link `path` into `buf`, with a NUL after it. result: its
 * length in bytes, the NUL not counted. Nothing is written to `buf` unless the op
 * succeeds. Errors besides the common ones: CPORT_EINVAL (NULL path or buf, len 0; or
 * `path` is no symbolic link), CPORT_ENOBUFS (the text and its NUL do not fit `len`, or
 * are longer than 16 KiB: 4096 bytes always fit on Linux), the path errors.
 * Backends: the thread pool (readlink(2); Windows: FSCTL_GET_REPARSE_POINT, the print
 * name of a symbolic link or junction in UTF-8).
 */
CPORT_API int cport_readlink(cport *port, cport_op *op, const char *path, char *buf,
			     size_t len);

/* cport_rename2 flags */
enum {
	CPORT_RENAME_NOREPLACE = 1u << 0, /* fail with CPORT_EEXIST if `to` exists */
	CPORT_RENAME_EXCHANGE = 1u << 1   /* swap `from` and `to` atomically (both exist) */
};

/*
 * cport_rename with `flags` (0: cport_rename itself; at most one flag). Both take
 * effect atomically: no moment sees `to` missing or (NOREPLACE) replaced. result: 0.
 * Errors besides cport_rename's: CPORT_EEXIST (NOREPLACE, `to` exists), CPORT_ENOENT
 * (EXCHANGE, `to` missing), CPORT_EINVAL (both flags, unknown flags; Linux: a file
 * system that does not support the flag), CPORT_ENOTSUP (an OS without the flag).
 * Backends: Linux renameat2(2) (io_uring: IORING_OP_RENAMEAT with the flags). Windows:
 * NOREPLACE is MoveFileExW without MOVEFILE_REPLACE_EXISTING; EXCHANGE is
 * CPORT_ENOTSUP. Other Unix systems: CPORT_ENOTSUP for either flag.
 */
CPORT_API int cport_rename2(cport *port, cport_op *op, const char *from, const char *to,
			    uint32_t flags);

/* cport_access mode: CPORT_F_OK, or any of the others (the values of F_OK, R_OK, ...) */
enum {
	CPORT_F_OK = 0, /* the file exists */
	CPORT_X_OK = 1,
	CPORT_W_OK = 2,
	CPORT_R_OK = 4
};

/*
 * Check that the caller may access `path` as `mode` says (with the real user and group
 * IDs, as access(2)). result: 0 if it may. Errors: CPORT_EACCES (it may not),
 * CPORT_EROFS (writing, on a read-only file system), CPORT_EINVAL (unknown bits), the
 * path errors (CPORT_ENOENT: it does not exist).
 * Backends: the thread pool: access(2); Windows: the file's attributes
 * (GetFileAttributesW): CPORT_W_OK fails on a read-only file (not on a directory, where
 * Windows ignores that attribute), CPORT_R_OK and CPORT_X_OK succeed for any file that
 * exists (Windows has no execute bit, and its access lists are not checked).
 */
CPORT_API int cport_access(cport *port, cport_op *op, const char *path, uint32_t mode);

/* cport_lock flags: exactly one of SHARED and EXCLUSIVE, and NOWAIT to try once */
enum {
	CPORT_LOCK_SHARED = 1u << 0,    /* a read lock: other shared locks may overlap it */
	CPORT_LOCK_EXCLUSIVE = 1u << 1, /* a write lock: no other lock may overlap it */
	CPORT_LOCK_NOWAIT = 1u << 2     /* fail at once with CPORT_EAGAIN instead of waiting */
};

/*
 * Lock the byte range [offset, offset + len) of the file `fd` (len 0: from offset to the
 * end of the file and beyond, however it grows), shared or exclusive, for the open file
 * (the descriptor and its duplicates: the lock is not the process's). result: 0 once the
 * lock is held. With CPORT_LOCK_NOWAIT, a range another open file holds in a
 * conflicting way completes at once with CPORT_EAGAIN; without it the op waits until
 * the range is free, or until it is cancelled or times out.
 *
 * The lock state is what the completion says: 0 means held; any error, CPORT_ECANCELED
 * and CPORT_ETIMEDOUT included, means this op took nothing, now or later. How: a lock
 * never waits inside a system call. Each try is non-blocking (F_OFD_SETLK; Windows
 * LockFileEx with LOCKFILE_FAIL_IMMEDIATELY), run by the thread pool; a try that finds
 * the range taken puts the op in the port's deadline heap until its next try, after
 * 100 us, doubling up to 10 ms between tries. A cancel or timeout between tries ends the
 * op at once; during a try (a few microseconds on a local file system) it waits for the
 * try, and a try that got the lock completes the op with 0. Why not a blocking wait
 * (F_OFD_SETLKW) on a worker: stopping it would need a signal handler of the library's
 * own to interrupt the worker, and a worker left blocked could get the lock later with
 * nobody to own or release it. The price: waiting locks are served by polling, so one
 * may lose the range to a waiter blocked in the kernel (F_OFD_SETLKW in another program)
 * or to a luckier try, and it takes up to 10 ms to notice the range came free; no two
 * cport waiters can deadlock in the kernel, but two that wait on each other's ranges
 * wait forever (use timeout_ns). Locks are released by cport_unlock, or by the close of
 * the last descriptor of the open file; cport_close(fd) cancels a lock op waiting on it.
 * cport_destroy drops a lock op in flight like any other, but a try running at that
 * moment may still take the lock, its completion dropped: close the descriptor (or
 * unlock the range) after a destroy where that matters.
 *
 * Errors besides the common ones: CPORT_EINVAL (offset or len < 0, offset + len past
 * INT64_MAX, not exactly one of SHARED and EXCLUSIVE, unknown flags), CPORT_EAGAIN
 * (NOWAIT, and the range is taken), CPORT_EBADF (a shared lock on a descriptor not open
 * for reading or an exclusive one not open for writing; Linux), CPORT_ENOMEM (the
 * system's lock table is full: ENOLCK).
 * Portability: on Windows locks are mandatory (a read or write of a range another handle
 * holds fails) and must be released with exactly the range they were taken with; a
 * shared lock cannot become exclusive in place (unlock it first). On Linux locks are
 * advisory, a range locked again by the same open file changes mode in place, and an
 * unlock may cover several locks or part of one. Write code that keeps to what both
 * allow: unlock exactly what you locked, never lock a range you hold.
 * Backends: the thread pool everywhere (io_uring has no lock opcode; Wine does not
 * implement LockFileEx waiting on an overlapped handle, so IOCP takes the same road,
 * which also keeps one mechanism for every backend). Linux: open file
 * description locks (F_OFD_SETLK, Linux 3.15): closing another descriptor of the file
 * does not drop them. Other Unix systems: classic POSIX locks (F_SETLK), which belong to
 * the process: two descriptors of one process never conflict, and closing any
 * descriptor of the file drops all of the process's locks on it.
 */
CPORT_API int cport_lock(cport *port, cport_op *op, cport_fd fd, int64_t offset, int64_t len,
			 uint32_t flags);

/*
 * Release the lock on [offset, offset + len) of `fd` (len 0: to the end and beyond) that
 * cport_lock took. result: 0. Unlocking a range nothing holds: 0 on Linux; on Windows a
 * range not locked exactly so by this handle is CPORT_ENOENT. Errors besides the common
 * ones: CPORT_EINVAL (offset or len < 0, offset + len past INT64_MAX).
 * Backends: the thread pool (F_OFD_SETLK with F_UNLCK; Windows UnlockFileEx).
 */
CPORT_API int cport_unlock(cport *port, cport_op *op, cport_fd fd, int64_t offset,
			   int64_t len);

/*
 * Ask the in-flight op `target` to stop. Returns 0 if the request was made, or
 *   CPORT_ENOENT  target is not in flight on this port (never submitted, already
 *                 reaped, or submitted to another port)
 *   CPORT_EINVAL  NULL port or target
 *   CPORT_EBUSY   another thread is driving the port at this moment
 *   CPORT_ESHUTDOWN a shared port that was stopped (cport_stop)
 * The target still completes exactly once: CPORT_ECANCELED if it was stopped, else its
 * normal result (it may have finished already). No op of its own is needed; cancelling
 * twice is harmless.
 */
CPORT_API int cport_cancel(cport *port, cport_op *target);

/* ---- 4d. Registered buffers and files ------------------------------------------- */

/*
 * Buffers and descriptors a program uses over and over can be registered with a port
 * once, so that each op on them costs less: io_uring pins registered buffers once
 * instead of at every op (IORING_OP_READ_FIXED / WRITE_FIXED), and keeps registered
 * descriptors in its fixed-file table, so an op needs no descriptor lookup
 * (IOSQE_FIXED_FILE). Every other backend takes the same calls with the same checks
 * and answers and runs the ops as plain ones: one program runs everywhere.
 *
 * Rules (every backend):
 *   - A port has one set of buffers and one set of descriptors at a time.
 *     Registering again replaces the set (the old one is dropped first).
 *   - An op uses a registration from its accepted submit until cport_wait hands it
 *     back: cport_read_fixed and cport_write_fixed use the buffers, every op on a
 *     registered descriptor (a close of it too) uses the descriptors. Unregistering,
 *     or registering a new set, while an op uses that kind returns CPORT_EBUSY and
 *     changes nothing; once those ops are reaped it works.
 *   - A registration that fails changes nothing: the earlier set stays registered
 *     (in the rare case where the kernel refuses the new set and then the old one
 *     too, none is left, and cport_read_fixed says CPORT_EINVAL).
 *   - cport_destroy drops the registrations with the port; no unregister is needed.
 *     A forked child's cport_destroy leaves the parent's alone (contract, top).
 *   - Registering allocates (a copy of the array); the ops then allocate nothing.
 */

/* Limits (io_uring's own, kept on every backend): buffers per port, bytes per
 * buffer, descriptors per port. */
#define CPORT_MAX_REG_BUFFERS 16384u
#define CPORT_MAX_REG_BUFFER_LEN 0x40000000u /* 1 GiB */
#define CPORT_MAX_REG_FILES 1048576u

/*
 * Register `n` buffers with the port (1..CPORT_MAX_REG_BUFFERS): buffer i is the
 * iov[i].len bytes at iov[i].base (not NULL, 1..CPORT_MAX_REG_BUFFER_LEN bytes). The
 * array is copied; the memory must stay allocated while it is registered. Buffers
 * may overlap. Returns 0, or
 *   CPORT_EINVAL  NULL port or iov, n 0 or above the limit, a NULL base, a length of
 *                 0 or above CPORT_MAX_REG_BUFFER_LEN
 *   CPORT_EBUSY   a fixed read or write is in flight (see the rules above), or
 *                 another thread is driving the port
 *   CPORT_ENOMEM  out of memory; io_uring: pinning the pages would go over
 *                 RLIMIT_MEMLOCK (a process without CAP_IPC_LOCK: raise the limit or
 *                 register less)
 *   CPORT_EFAULT, CPORT_ENOTSUP  io_uring: memory the kernel cannot pin (a mapping
 *                 of a file on some kernels, ...)
 * Backends: io_uring registers them with the kernel; the others only remember them.
 */
CPORT_API int cport_register_buffers(cport *port, const cport_iovec *iov, unsigned n);

/* Unregister the port's buffers. Returns 0, or CPORT_ENOENT (none are registered),
 * CPORT_EBUSY (a fixed read or write is in flight, or another thread is driving the
 * port), CPORT_EINVAL (NULL port). */
CPORT_API int cport_unregister_buffers(cport *port);

/*
 * cport_read / cport_write on memory inside registered buffer `index`: every rule,
 * result and error of theirs holds, and [buf, buf + len) must lie inside that buffer
 * (buf may be anywhere in it, len anything up to its end). Errors besides theirs:
 *   CPORT_EINVAL  `index` is not a registered buffer (none registered, or `index` is
 *                 at or above their count), or the range is not inside buffer
 *                 `index` (a NULL buf included); the op is left untouched
 * Backends: io_uring issues IORING_OP_READ_FIXED / IORING_OP_WRITE_FIXED (on a
 * stream too); ops it sends to the thread pool, and every other backend, do a plain
 * read or write of `buf`.
 */
CPORT_API int cport_read_fixed(cport *port, cport_op *op, cport_fd fd, void *buf, size_t len,
			       int64_t offset, unsigned index);
CPORT_API int cport_write_fixed(cport *port, cport_op *op, cport_fd fd, const void *buf,
				size_t len, int64_t offset, unsigned index);

/*
 * Register `n` descriptors with the port (1..CPORT_MAX_REG_FILES): files, sockets,
 * pipes. Ops need no change: the port finds an op's descriptor in the set itself.
 * Each must be open, not being closed on this port, and named once. Returns 0, or
 *   CPORT_EINVAL  NULL port or fds, n 0 or above the limit, a descriptor named twice
 *   CPORT_EBADF   a descriptor that is negative, not open, or being closed here
 *   CPORT_EBUSY   an op on a registered descriptor is in flight (see the rules
 *                 above), or another thread is driving the port
 *   CPORT_ENOMEM  out of memory
 *   CPORT_EMFILE  io_uring: n is above RLIMIT_NOFILE (cport leaves the limit alone)
 * Closing: io_uring's table holds its own reference to each file, so close a
 * registered descriptor with cport_close on this port: its slot is emptied before
 * the close completes, so the file is closed by then (a peer sees end of stream), and
 * a descriptor that reuses the number later is a new one, not registered. Closed
 * through cport another way (cport_sock_close, cport_close on another port), the
 * slot is emptied at the next op on that number through this port, or by
 * cport_unregister_files or cport_destroy; until then the file stays open. Closed
 * behind cport's back (close(2), dup2 over it), a registered descriptor stays open in
 * io_uring's table and ops on its number still reach the old file until
 * cport_unregister_files: don't.
 * Backends: io_uring registers them with the kernel and issues every op on them with
 * IOSQE_FIXED_FILE, except cport_fstat, cport_close and cport_sendfile (the kernel
 * takes plain descriptors there) and ops on the thread pool; the others only
 * remember them.
 */
CPORT_API int cport_register_files(cport *port, const cport_fd *fds, unsigned n);

/* Unregister the port's descriptors (they stay open). Returns 0, or CPORT_ENOENT
 * (none are registered), CPORT_EBUSY (an op on one is in flight, or another thread is
 * driving the port), CPORT_EINVAL (NULL port). */
CPORT_API int cport_unregister_files(cport *port);

/* ---- 5. Driving the port -------------------------------------------------------- */

/* Hand every queued op to the kernel without waiting. Returns 0 or a CPORT_E* code
 * (CPORT_EINVAL while a chain is open: section 4b; CPORT_ESHUTDOWN: a shared port
 * that was stopped). */
CPORT_API int cport_submit(cport *port);

/*
 * Submit what is queued, then reap up to `max` completed ops into `out` (max >= 1).
 * Blocks until at least one op completed or `timeout_ns` passed:
 *   timeout_ns < 0: wait forever; 0: do not block; > 0: at most that long.
 * Returns the number of ops written to `out` (0 on timeout), or CPORT_EINVAL for bad
 * arguments (max 0 or above INT32_MAX) or while a chain is open (section 4b), or
 * CPORT_EBUSY when another thread is driving the port. Each returned op is no longer in flight: its result and cflags are set and
 * it may be reused at once. Completions beyond `max` stay queued for the next call.
 * A shared port (section 3b): any number of threads wait at once, each completion goes
 * to one of them (the newest waiter first) within the concurrency limit; a stopped
 * port returns CPORT_ESHUTDOWN (cport_stop); other errors as above but CPORT_EBUSY.
 */
CPORT_API int cport_wait(cport *port, cport_op **out, unsigned max, int64_t timeout_ns);

/*
 * Wait for one given op, as GetOverlappedResult does: submit what is queued, then block
 * until `op` completed or `timeout_ns` passed (< 0: forever; 0: do not block). Every
 * other completion that arrives meanwhile stays queued, in order, for a later
 * cport_wait, so a synchronous wrapper can share a port with an event loop (no port of
 * its own per thread). Returns 0 when the op completed: it is reaped (its result and
 * cflags are set and it may be reused at once), exactly as if cport_wait had returned
 * it. A multishot op returns at its next completion: with CPORT_MORE in op->cflags it
 * stays in flight (wait for it again); the last one lacks the flag. Errors (the op is
 * left as it was, still in flight where it was):
 *   CPORT_EINVAL     NULL port or op, or a chain is open (section 4b)
 *   CPORT_ENOENT     op is not in flight on this port (never submitted, already
 *                    reaped, or submitted to another port)
 *   CPORT_ETIMEDOUT  timeout_ns passed (0: it had not completed yet); the op is still
 *                    in flight. (The op's own timeout shows as op->result ==
 *                    CPORT_ETIMEDOUT with a return of 0.)
 *   CPORT_EBUSY      another thread is driving the port at this moment
 *   CPORT_ENOTSUP    a shared port (section 3b)
 *   other codes      as cport_wait (the kernel's wait failed)
 * Cost: one pass over the completions already queued when it is called; none after.
 */
CPORT_API int cport_wait_op(cport *port, cport_op *op, int64_t timeout_ns);

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
 * While a sim port exists in the process, the helpers make the simulation's sockets
 * and act on its descriptors instead (section 8, "Sockets with addresses").
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
 * submission order; a datagram socket: one datagram). `flags`: 0, or one of the
 * CPORT_SEND_* below. result: len. CPORT_EPIPE / CPORT_ECONNRESET when the peer is
 * gone. CPORT_EINVAL: unknown flags, or CPORT_SEND_ZC with CPORT_SEND_NOZC.
 * Zero-copy (io_uring, section 7 "Zero-copy sends"): a send of at least
 * CPORT_SEND_ZC_THRESHOLD bytes to a peer on another host, or any send with
 * CPORT_SEND_ZC, lets the kernel send from `buf` itself instead of copying it; its
 * completion then has CPORT_ZC in op->cflags. Either way there is one completion, and
 * the buffer is free after it (a zero-copy one comes once the kernel let go of the
 * pages: on TCP when the peer acknowledged the bytes). A zero-copy send stopped midway
 * (cancel, timeout, close, destroy) resets the connection.
 * Backends: epoll, poll, kqueue and IOCP send plainly (the flags are accepted and
 * checked; CPORT_ZC is never set).
 */
CPORT_API int cport_send(cport *port, cport_op *op, cport_fd fd, const void *buf, size_t len,
			 uint32_t flags);

/* cport_send `flags` (at most one of them) */
enum {
	CPORT_SEND_ZC = 1u << 0,  /* zero-copy whatever the length, where the kernel and
	                             the socket can (else a plain send, as without it) */
	CPORT_SEND_NOZC = 1u << 1 /* never zero-copy: always copy `buf` into the kernel */
};

/* op->cflags of a cport_send's completion: its bytes went out zero-copy (io_uring
 * IORING_OP_SEND_ZC). Never set on other ops, nor on other backends. */
enum { CPORT_ZC = 1u << 2 };

/*
 * A cport_send of at least this many bytes to a peer on another host (and without
 * CPORT_SEND_NOZC) is zero-copy where the kernel can. Measured with cport-bench's
 * large-send workload (docs/design.md, "Zero-copy sends", has the figures): on one
 * loopback TCP connection of the 2-vCPU test VM zero-copy never won, from 4 KiB (1.4x
 * a plain send's time) to 1 MiB (4x): the kernel copies the pages for a receiver on the
 * same host anyway, so only zero-copy's costs remain (page pinning, a second CQE, a
 * completion that waits for the peer's acknowledgement). So sends to a peer on this
 * host stay plain unless forced. The crossover for a peer behind a network device
 * cannot be measured on that machine; 256 KiB is a conservative choice: there a send
 * costs tens of microseconds, against the few microseconds of fixed cost measured
 * (2.4 us at 4 KiB). Force or forbid per send where you know your network better.
 */
#define CPORT_SEND_ZC_THRESHOLD 262144u

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
 * Keep `file` open until the op completes, as a buffer: the readiness backends read
 * it by its number whenever the socket has room, so a number closed and reused
 * meanwhile would be read instead (io_uring and sim hold the file from the submit).
 */
CPORT_API int cport_sendfile(cport *port, cport_op *op, cport_fd sock, cport_fd file,
			     int64_t offset, size_t len);

/*
 * 6b. Pool receives: the buffer is chosen when data is there
 *
 * A receive that names no buffer. The caller registers pools of receive buffers with
 * the port; a pool receive takes a buffer from its pool only once data has arrived,
 * and its completion says which buffer holds the data. An idle connection with a pool
 * receive pending holds no buffer (on every backend), so 50,000 idle connections cost
 * no 50,000 buffers: the pool needs as many buffers as data waits to be handled at once.
 *
 * Pools:
 *   - A port has at most CPORT_MAX_BUFPOOLS pools at a time, each made of `count`
 *     buffers (1..CPORT_MAX_BUFPOOL_COUNT) of `size` bytes (1..CPORT_MAX_IO) carved from
 *     one block of the caller's memory: buffer `id` (0..count-1) is the `size` bytes at
 *     (char *)mem + id * size. Pools are independent: several sizes at once (small
 *     buffers for many slow connections, large ones for bulk streams), any mix of
 *     connections on any pool.
 *   - The memory stays the caller's: the port neither allocates nor frees it, and it
 *     must stay valid until cport_bufpool_remove or cport_destroy returns.
 *   - Ownership of each buffer: it is the port's (free, or being filled by a receive)
 *     or the caller's. A completion whose op->cflags has CPORT_BUF hands buffer
 *     cport_op_buf_id(op) of the op's pool to the caller, holding op->result bytes; the
 *     caller reads them, then gives the buffer back with cport_bufpool_return. Until
 *     then the port never touches it. A completion without CPORT_BUF carries no buffer
 *     (an error, end of stream, an empty datagram).
 *
 * Pool receives follow the stream rules (section 6) like cport_recv: on a stream, each
 * completion has at least one byte (0: end of stream), and the data of successive
 * completions is the stream in order, exactly once. A pool receive takes its turn on
 * the descriptor's receive side among cport_recv, cport_recvmsg and cport_read at
 * offset -1: receives submitted before it fill first, receives submitted after it wait
 * until it completed (a multishot one: until its last completion).
 *
 * The pool runs dry when every buffer is the caller's: a pool receive that finds the
 * descriptor readable (data, end of stream or an error waiting) and no free buffer
 * completes with CPORT_ENOBUFS and takes nothing from the descriptor. Return buffers,
 * then receive again. (Some backends report a waiting error or reset rather than
 * CPORT_ENOBUFS; section 7.)
 */

/* Limits: pools per port, buffers per pool. */
#define CPORT_MAX_BUFPOOLS 16u
#define CPORT_MAX_BUFPOOL_COUNT 32768u

/* op->cflags of a pool receive's completion: CPORT_BUF says it carries a buffer, whose
 * id is in the upper 16 bits (cflags >> CPORT_BUF_SHIFT; or call cport_op_buf_id). */
enum {
	CPORT_BUF = 1u << 1,
	CPORT_BUF_SHIFT = 16
};

/* cport_recv_pool flags */
enum {
	/* One submit, one completion per arrival of data, each with CPORT_MORE (and
	 * CPORT_BUF), until the op ends; see cport_recv_pool. */
	CPORT_RECV_MULTISHOT = 1u << 0
};

/*
 * Add a pool of `count` buffers of `size` bytes at `mem` (see "Pools" above) and set
 * *group to its number (0..CPORT_MAX_BUFPOOLS-1, the lowest free one). Buffers need no
 * alignment. Returns 0, or
 *   CPORT_EINVAL  NULL port, mem or group; count 0 or above CPORT_MAX_BUFPOOL_COUNT;
 *                 size 0 or above CPORT_MAX_IO; a block that wraps the address space
 *   CPORT_ENOSPC  the port has CPORT_MAX_BUFPOOLS pools already
 *   CPORT_ENOMEM  out of memory (the port keeps 3 bytes per buffer, io_uring 16 more
 *                 in its buffer ring)
 *   CPORT_EBUSY   another thread is driving the port at this moment
 * and nothing changed; io_uring may also return the kernel's refusal of the buffer
 * ring. Call it on the thread that drives the port, like a submit call.
 * Backends: io_uring registers a provided-buffer ring (IORING_REGISTER_PBUF_RING) with
 * every buffer in it; the others keep a free list.
 */
CPORT_API int cport_bufpool_add(cport *port, void *mem, uint32_t count, uint32_t size,
				uint16_t *group);

/*
 * Remove pool `group`. Its memory is the caller's again when this returns (the kernel
 * no longer touches it); buffers the caller still held are simply forgotten (returning
 * one later is CPORT_EINVAL), and the number may be given to a later pool. Returns 0,
 * or CPORT_EINVAL (NULL port, no such pool), CPORT_EBUSY (a pool receive naming it is
 * in flight, i.e. accepted and not reaped for the last time, or another thread is
 * driving the port). cport_destroy removes every pool; no call is needed before it.
 */
CPORT_API int cport_bufpool_remove(cport *port, uint16_t group);

/*
 * Give buffer `id` of pool `group` back to the port: a completion handed it to the
 * caller (CPORT_BUF), who is done with its bytes. Call it on the thread that drives the
 * port, like a submit call (a buffer may go back while pool receives are in flight: it
 * serves them at once). Returns 0, or
 *   CPORT_EINVAL  NULL port, no such pool, id out of range, or a buffer that is not the
 *                 caller's (never handed over, or returned already): nothing changes
 *   CPORT_EBUSY   another thread is driving the port at this moment
 */
CPORT_API int cport_bufpool_return(cport *port, uint16_t group, uint16_t id);

/* The id of the pool buffer a completion carries (CPORT_BUF in op->cflags), or
 * CPORT_ENOENT if it carries none, CPORT_EINVAL for NULL. Reads op->cflags only. */
CPORT_API int cport_op_buf_id(const cport_op *op);

/*
 * Receive into a buffer of pool `group`, chosen when data is there: on a stream, at
 * least one byte (0 at end of stream); on a datagram socket, one datagram (cut to the
 * pool's buffer size; the sender is not reported: see cport_recvmsg_pool). `fd` must
 * be a socket (a pipe or other stream: CPORT_ENOTSOCK; section 7 says when).
 * result: bytes received; with result > 0, op->cflags has CPORT_BUF and the buffer id
 * (see above). Errors besides those of cport_recv: CPORT_EINVAL (no pool `group`,
 * unknown flags, CPORT_OP_LINK with CPORT_RECV_MULTISHOT), and in op->result
 * CPORT_ENOBUFS (the pool ran dry: see above).
 *
 * With CPORT_RECV_MULTISHOT the op keeps receiving: each arrival of data completes it
 * once more with CPORT_MORE (and a buffer), in stream order, and it stays in flight.
 * Its last completion lacks CPORT_MORE; the op then is free again. It ends at
 *   - end of stream (result 0) or an empty datagram (result 0);
 *   - an error (result < 0), CPORT_ENOBUFS among them: receive again after returning
 *     buffers, nothing was lost;
 *   - cport_cancel (CPORT_ECANCELED), cport_close on the descriptor (CPORT_ECANCELED),
 *     its timeout_ns, which bounds the whole op from its submit (CPORT_ETIMEDOUT);
 * or, when it was stopped while a completion with CPORT_MORE was still the caller's to
 * reap, that completion loses CPORT_MORE and is the last one (it keeps its buffer). A
 * last completion may also carry data (result > 0, CPORT_BUF, no CPORT_MORE) when the
 * kernel stops a multishot receive of its own accord (io_uring, e.g. at an
 * overflowing completion queue): receive again to go on. While a multishot receive is
 * in flight it holds the descriptor's receive side: later receives wait until it ends.
 * Reap each completion before the next can arrive (as for a multishot accept).
 */
CPORT_API int cport_recv_pool(cport *port, cport_op *op, cport_fd fd, uint16_t group,
			      uint32_t flags);

/*
 * One datagram (or stream bytes) into a buffer of pool `group`, with its sender: as
 * cport_recv_pool without flags, and as cport_recvmsg for `msg`, whose addr (out, the
 * sender; NULL: not wanted) and flags (out: CPORT_MSG_TRUNC when the datagram was
 * longer than the pool's buffers) are used; msg->iov must be NULL and msg->iovcnt 0
 * (the pool gives the buffer). `msg` must stay valid until completion (its internal_
 * is scratch space). result: bytes received, with CPORT_BUF as above. Errors: as
 * cport_recv_pool, and CPORT_EINVAL for a NULL msg or one with iovecs.
 */
CPORT_API int cport_recvmsg_pool(cport *port, cport_op *op, cport_fd fd, uint16_t group,
				 cport_msg *msg);

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
 * io_uring ties an op to the thread that handed its SQE to the kernel: the thread whose
 * cport_submit or cport_wait flushed it (a shared port: the submitting thread itself
 * while another waits in the kernel, else the next thread to wait). Two consequences:
 *   - If that thread ends while the op still waits (a receive or an accept waiting for
 *     a peer, a poll), the kernel ends the op: it completes CPORT_ECANCELED (with a
 *     timeout_ns, possibly CPORT_ETIMEDOUT). A port's ops should not outlive the
 *     threads that drive it. IOCP (Windows Vista on) and the readiness backends have
 *     no such tie. Tested: shared-port's "submitter gone" case.
 *   - The kernel's completion work for the op (the retry of a receive when data came)
 *     runs in that thread, when it next enters the kernel (COOP_TASKRUN): at once if it
 *     sleeps (in cport_wait or anywhere else interruptible), else at its next system
 *     call or scheduler tick. A shared port's thread that computes without a system
 *     call therefore holds back its ops' completions by up to a tick (4 ms at 250 Hz;
 *     on a CPU with nohz_full, until its next system call). The alternative, an
 *     interrupt of that thread per completion, made a shared port's mt-echo 1.6x slower
 *     (bench/README).
 *
 * Registered buffers and files (section 4d): io_uring registers them with the kernel
 * (IORING_REGISTER_BUFFERS, IORING_REGISTER_FILES; cport calls io_uring_register(2)
 * itself and never raises RLIMIT_NOFILE). Fixed reads and writes are READ_FIXED /
 * WRITE_FIXED; ops on a registered descriptor use its fixed-file slot, except fstat,
 * close and sendfile; ops on the thread pool are plain. Pinned pages count against
 * RLIMIT_MEMLOCK for a process without CAP_IPC_LOCK. The readiness backends and IOCP
 * keep the registrations as bookkeeping and run the plain ops (Windows' registered
 * I/O, RIO, is for sockets only and is not used).
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
 *
 * Cached file I/O (epoll, poll; Linux): a read or write at an offset (>= 0) on a
 * regular file opened without O_DIRECT is first tried on the port thread with
 * preadv2 / pwritev2 and RWF_NOWAIT, which never waits for the disk: bytes the page
 * cache holds move at once (a 4 KiB cached read then costs about a pread instead of
 * two cross-thread wake-ups through the pool), and only the rest of the request, if
 * any, goes to the thread pool (a read stays short only at end of file). No flag is
 * needed, and nothing blocks: RWF_NOWAIT answers EAGAIN instead of waiting (a read of
 * uncached data may start the kernel's readahead on the way, as io_uring's own first
 * try does). Writes take the fast path only where the file system honours RWF_NOWAIT
 * for buffered writes (XFS and btrfs since Linux 6.0 / 6.1; ext4 and tmpfs refuse it,
 * measured on 6.18) and not on O_DSYNC / O_SYNC files; reads not on tmpfs (which
 * refuses RWF_NOWAIT altogether). What a file system
 * refuses is learnt per descriptor at its first try (one wasted call), a kernel
 * without preadv2 once per process; either way such ops go to the pool as before.
 * The descriptor's type and flags are learnt at its first positional op (see
 * CPORT_OP_INLINE for the rule about fcntl). cport_stat, cport_fstat and writes to
 * ext4 run on the port thread only with CPORT_OP_INLINE.
 */

/*
 * Thread pool (every backend). The readiness backends run every op that can only be
 * done blocking (positional file I/O, fsync, open, close, stat, ...) on it; io_uring
 * only the ops its kernel lacks; IOCP the metadata ops and I/O on synchronous handles.
 *   - A queued op stops at once on cport_cancel or its timeout (CPORT_ECANCELED,
 *     CPORT_ETIMEDOUT).
 *   - A running open, stat, fstat, rename, unlink, mkdir or fsync (and openat,
 *     readdir, statfs, link, symlink, readlink, access: section 4c) stops at once too:
 *     the worker runs it on private copies of its paths and results, so the call
 *     touches none of the caller's memory; the worker is then abandoned (a new one
 *     takes its place, up to four times the pool size in stuck threads), and when
 *     its call returns, the outcome is dropped (a descriptor an open made is closed).
 *     This is what stops an open of a FIFO that nobody will ever open for writing.
 *     A flush stopped so counts as failed ("After a failed flush", section 4).
 *   - A waiting cport_lock is not a running call but tries between pauses: it stops
 *     at once between tries, and after the try in progress (section 4c).
 *   - A running read or write fills or reads the caller's buffer inside the call,
 *     and a late ftruncate, fallocate or fadvise could act on another file that
 *     reused the number: they finish with their own result, however late. On Windows their
 *     blocking call is interrupted (CancelSynchronousIo): a console read waiting for
 *     input stops with CPORT_ECANCELED. On Unix they are regular-file transfers.
 *   - cport_destroy drops queued ops, abandons the abandonable running ones and waits
 *     for the others (interrupting them on Windows): it returns in bounded time unless
 *     a read or write of a regular file never returns.
 *   - cport_close on a descriptor waits for the pool's running ops on it, so the
 *     number is not freed (and reused) while a worker's call may still use it.
 */

/*
 * Shared ports (CPORT_OPT_SHARED, section 3b), per backend:
 *   - io_uring: one ring, set up as a default port's (COOP_TASKRUN, not SINGLE_ISSUER
 *     or DEFER_TASKRUN); which thread runs an op's completion work, and when, is in
 *     the io_uring note above. A call's SQEs reach the kernel before it returns while
 *     another thread sleeps in io_uring_enter (which it does without the port's lock
 *     while others submit), else in the next waiting thread's round.
 *   - epoll: one thread at a time sleeps in epoll_wait without the lock; the others
 *     submit (epoll_ctl) meanwhile.
 *   - poll: the sleeping thread polls a copy of the descriptor set; a submit that
 *     changes the set wakes it to poll again with the change (one eventfd write).
 *   - IOCP: one thread at a time sleeps in GetQueuedCompletionStatusEx without the
 *     lock, the others in cport (LIFO, the concurrency limit), as on the other
 *     backends: the port's state in user space (descriptor table, ready list,
 *     deadlines, links) sits behind that lock anyway, so several threads inside GQCSEx
 *     would only queue on it; the limit is counted by cport, not by the kernel's
 *     port (created with concurrency 1), so a thread blocked elsewhere still counts.
 *   - kqueue: cport_create answers CPORT_ENOTSUP for now.
 *   - The thread pool hands its completions to whichever thread waits.
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
 *     pipe, a file opened without FILE_FLAG_OVERLAPPED) run on the thread pool (their
 *     timeout_ns as on every pool: section 7, "Thread pool"). cport_cancel and
 *     cport_destroy interrupt such a call even once it blocks
 *     (CancelSynchronousIo): a console read waiting for input stops with
 *     CPORT_ECANCELED.
 *   - Section 4c's ops run on the thread pool, except cport_fadvise, which completes
 *     at once with 0 (Windows has no such advice). Under Wine 8 (where the suite runs)
 *     there are no symbolic links and no FSCTL_SET_ZERO_DATA: cport_symlink,
 *     PUNCH_HOLE and ZERO_RANGE answer CPORT_ENOTSUP.
 *   - Offset -1 on a file reads or writes at its file pointer and moves it; on a pipe
 *     the offset is ignored. Ops on one handle that use the file pointer must not be
 *     in flight at the same time.
 *   - A file opened with CPORT_O_APPEND gets append-only access: every write lands at
 *     the end, whatever its offset (as pwrite on an O_APPEND descriptor on Linux).
 *   - Flushes (cport_fsync, cport_fsync_range: the whole file) are FlushFileBuffers on
 *     the thread pool: the handle needs write access (else CPORT_EACCES), and a
 *     directory cannot be flushed (CPORT_ENOTSUP). CPORT_O_DIRECT's alignment
 *     (cport_dio_query) is enforced by Windows; Wine does not check it.
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

/*
 * Zero-copy sends (cport_send, section 6), per backend:
 *   - io_uring: IORING_OP_SEND_ZC (Linux 6.0, probed at cport_create; without it every
 *     send is plain). Used for a send with CPORT_SEND_ZC, and for one of at least
 *     CPORT_SEND_ZC_THRESHOLD bytes without flags whose peer is on another host (a
 *     loopback address or the socket's own address counts as this host; cport asks
 *     getsockname / getpeername once per descriptor). The kernel answers with the
 *     send's result and, once the network stack let go of the pages, a notification;
 *     cport completes the op once, after both. A socket that refuses zero-copy (a local
 *     stream: only TCP and UDP take it) gets the bytes sent plainly, as does every later
 *     send on that descriptor. timeout_ns bounds the send until its last byte is queued
 *     in the socket; after that the completion waits for the notification (for the
 *     peer's acknowledgement on TCP). A send stopped while the socket still holds some of
 *     its bytes (cport_cancel, timeout_ns, cport_close, cport_destroy; and cport_close or
 *     cport_destroy while it waits for its notification) resets the connection (the
 *     socket drops what it queued, the peer sees a reset), because the kernel would
 *     otherwise hold the caller's pages, and the completion, until a peer that stopped
 *     reading read again; the op completes CPORT_ECANCELED (CPORT_ETIMEDOUT).
 *   - epoll, poll, kqueue, iocp: a plain send; CPORT_SEND_ZC and CPORT_SEND_NOZC are
 *     accepted (a portable program passes them everywhere) and CPORT_ZC is never set.
 */

/*
 * Pool receives (section 6b), per backend:
 *   - io_uring: each pool is a provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux
 *     5.19; its buffer group is the pool's number), 16 bytes per buffer rounded up to a
 *     page, in memory cport maps. A pool receive is IORING_OP_RECV (RECVMSG) with
 *     IOSQE_BUFFER_SELECT and IORING_RECVSEND_POLL_FIRST: the kernel waits for data,
 *     then picks a buffer (the one returned longest ago first). Multishot receives are
 *     IORING_RECV_MULTISHOT (Linux 6.0, probed at cport_create); on an older kernel
 *     cport issues one receive at a time, again each time the caller has reaped a
 *     completion with CPORT_MORE, with the same results (on a shared port each such
 *     receive ends the op, data and all: receive again). While a completion with
 *     CPORT_MORE waits to be reaped, the kernel goes on filling free buffers with what
 *     arrives (those completions wait in its queue), so data may be taken from the
 *     socket before the caller asks for it; the pool bounds how much. A multishot
 *     receive may end by itself with data (a full completion queue): receive again.
 *     Incremental buffer consumption (IOU_PBUF_RING_INC) is not used.
 *   - epoll, poll, kqueue: a pool receive is tried like cport_recv (MSG_DONTWAIT); each
 *     try takes a buffer, receives into it and gives it back at once if nothing came
 *     (libuv's allocation on readiness). With the pool dry it asks poll(2) whether the
 *     socket is readable: CPORT_ENOBUFS if so, else it waits.
 *   - iocp: a zero-byte WSARecv (on a datagram socket with MSG_PEEK, which leaves the
 *     datagram queued) waits for data without a buffer; its completion takes a buffer
 *     and receives into it at once with a non-blocking recv (the socket is made
 *     non-blocking with FIONBIO the first time: overlapped calls do not care, a
 *     blocking recv or send of your own on it would). A reset or error waiting on the
 *     socket is reported as itself even when the pool is dry. A pool receive on a
 *     handle that is not a socket (a named pipe) is refused at submit with
 *     CPORT_ENOTSOCK; the readiness backends complete it with that at once, io_uring
 *     once data is there (the kernel waits for data before it looks at the file).
 *   - Every backend: a pool receive holds the descriptor's receive side (section 6b);
 *     no buffer is held while it waits for data, so only the pool's block grows with
 *     the buffers, not with the connections. Per idle connection cport keeps its
 *     descriptor table entry (docs/design.md, "Memory per connection", has figures).
 */


/* ---- 8. Simulation (backend "sim") ---------------------------------------------- */

/*
 * The backend "sim" runs a program's I/O against a deterministic world in memory, so
 * that the program, unchanged, can be tested against faults and crashes the happy path
 * never shows (as TigerBeetle's and FoundationDB's simulators do, behind cport's own
 * API). Chosen only by name (cport_options.backend or CPORT_BACKEND=sim), never by
 * fallback. For a given seed, profile and sequence of calls from one thread, every
 * result, every completion order and every virtual time is the same on every run and
 * every machine (cport_sim_trace_hash checks it).
 *
 * What it simulates:
 *   - Virtual time. The port has a clock of its own (cport_clock_ns), starting at 1 s.
 *     Timers, timeout_ns, CPORT_TIMER_ABS and cport_wait's timeout run on it. When
 *     nothing can happen before the next event, the clock jumps to it: a wait of 30 s
 *     for a timer returns at once in real time. A cport_wait with a timeout and nothing
 *     to wait for moves the clock by that timeout. A cport_wait without a timeout and
 *     nothing in flight blocks for real until a cport_post from another thread (the
 *     only thing that could still come).
 *   - Latency and order: each op takes a seeded latency in [latency_min_ns,
 *     latency_max_ns] of virtual time and is performed when it ends, so independent
 *     ops complete in a seeded order; the stream rules (section 1) are kept, as on every
 *     backend (the same descriptor engine orders them).
 *   - Files in memory, on a disk (cport_sim_disk): cport_open, openat, close, read,
 *     write, readv, writev, read_fixed, write_fixed, fsync, fsync_range, ftruncate,
 *     fallocate (blocks are not counted: stat's `blocks` follows the size), stat, fstat,
 *     statfs (fixed numbers), fadvise (nothing to advise), rename, rename2 (NOREPLACE;
 *     EXCHANGE of two files), unlink, mkdir, access (files 0644, directories 0755, the
 *     caller their owner), poll (a file is always ready). CPORT_OP_INLINE runs stat,
 *     fstat and positional reads and writes in the submit call. A byte written is
 *     in memory (reads see it) and becomes durable when a flush of its file completes
 *     with 0 (any cport_fsync or cport_fsync_range of it: the sim flushes the whole
 *     file). A name created, renamed or removed becomes durable when a cport_fsync of
 *     its directory (opened with CPORT_O_DIRECTORY) completes; "" and "/" are the root,
 *     which always exists; a path names its parent as text ("a/b" lives in "a").
 *     A failed flush (a fault) behaves as Linux does after fsyncgate (section 4, "After
 *     a failed flush"): the bytes it should have made durable are marked clean and lost
 *     at a crash, though reads still return them, and the next flush returns 0.
 *   - Streams in memory: cport_sim_socketpair makes a connected pair; recv, send, read
 *     and write at offset -1, readv, writev, recvmsg and sendmsg (no address, no
 *     ancillary data), sendfile from a sim file, poll (IN, OUT, RDHUP, HUP, ERR),
 *     shutdown and close on it, with `stream_buf` bytes in flight each
 *     way (a send waits for room; a close of one end is end of stream at the other and
 *     CPORT_EPIPE for its sends).
 *   - Sockets with addresses, as on loopback. While a sim port exists in the process,
 *     the socket helpers of section 6 make the simulation's sockets, not the OS's:
 *     cport_tcp_listen, cport_tcp_socket, cport_udp_socket, cport_local_listen and
 *     cport_local_connect; and cport_sock_local, cport_sock_peer, cport_sock_nodelay,
 *     cport_sock_keepalive (both accepted, nothing to tune) and cport_sock_close act
 *     on its descriptors wherever they are called. So a program's own socket code runs
 *     unchanged on it. Every address is this host's: a socket bound to a wildcard
 *     address (0.0.0.0, ::) takes its port at every address of its family; port 0
 *     binds the next free port of 32768..60999; a port is in use while a listener (or,
 *     for UDP, a socket) holds it, except among listeners that all asked for
 *     CPORT_SOCK_REUSEPORT, which then take connections in turn. cport_connect to a
 *     port nobody listens on completes CPORT_ECONNREFUSED; else the connection is made
 *     at once and waits in the listener's backlog (`backlog`, at most 4096) until a
 *     cport_accept (multishot too) takes it; while the backlog is full the connect
 *     waits (its timeout_ns bounds that). A listener's close resets the connections it
 *     still holds (CPORT_ECONNRESET at the client). Connections keep the stream rules
 *     and faults above. Datagrams (UDP) are whole: a send to an address (cport_sendmsg
 *     with msg->addr, or the default peer a cport_connect gave) lands in the queue of
 *     the socket bound there, at most 4 * `stream_buf` bytes; one to an address nobody
 *     is bound to, to a full queue, or from a sender a connected receiver does not
 *     take, is lost and the send still succeeds, as UDP's. A receive takes one
 *     datagram, cut to its buffers (CPORT_MSG_TRUNC), with its sender in msg->addr.
 *     Larger than 65,507 bytes (IPv4) or 65,527 (IPv6): CPORT_EMSGSIZE; no default
 *     peer: CPORT_EDESTADDRREQ. Local stream names are the simulation's own, not files
 *     on its disk: a connect to a name nobody listens on is CPORT_ENOENT, a full
 *     backlog CPORT_EAGAIN (on Windows, as for a named pipe, cport_sock_local of a
 *     local listener gives an empty address). Errors on a socket in the wrong state
 *     complete the op, as on the OS: CPORT_ENOTCONN (a receive or send on a socket
 *     never connected, or a listener), CPORT_EISCONN (a connect, or a sendmsg with an
 *     address, on a connection), CPORT_EINVAL (an accept on anything but a listener),
 *     CPORT_EAFNOSUPPORT (a connect to another family).
 *   - Pool receives (section 6b) on streams and datagram sockets, one-shot and
 *     multishot: a buffer is taken from the pool only when data (or a datagram) is
 *     there, as on every backend; with the pool dry, a receive that would find
 *     something completes CPORT_ENOBUFS.
 *   - Seeded faults, each with a probability in millionths: `short_ppm` (a stream
 *     receive gets fewer bytes than are there; a send moves in pieces, still whole to
 *     the caller), `again_ppm` (a try finds nothing to do and is retried later:
 *     EAGAIN and EINTR absorbed, as every backend does), `eio_read_ppm`, `eio_write_ppm`
 *     and `enospc_ppm` (a file read or write fails; nothing is written), `fsync_ppm` (a
 *     flush fails with CPORT_EIO, as above), `reset_ppm` (a stream op meets a reset:
 *     CPORT_ECONNRESET, and the connection is reset both ways).
 *   - Crashes: destroy the ports using a disk (what was in flight never happens, as
 *     when a process dies), then cport_sim_disk_crash drops every byte and name that was
 *     not durable (optionally tearing the last write of each file at a 512-byte sector
 *     boundary) and closes the descriptors open on the disk, and a new port on the same
 *     disk is the program after its restart.
 *   - A trace: one line per event (virtual time, op number, what, result), kept in
 *     memory, for a test to print with the seed when it fails.
 * Descriptors: the simulated world's descriptors (made by cport_open and
 * cport_sim_socketpair on any sim port of the process) are shared by every sim port, as
 * the OS's are: one made on a port may be used on another, and cport_destroy closes
 * none the caller holds. The world, with its descriptors and the default disk (that of
 * ports whose profile names none), ends when the last sim port is destroyed. Any other
 * descriptor is CPORT_EBADF. Their numbers are real descriptors of the process
 * (placeholders on /dev/null, or NUL on Windows), so they never collide with the
 * program's own; close them with cport_close or cport_sock_close, never close(2). Ops
 * not listed above (readdir, link, symlink, readlink, locks) are refused with
 * CPORT_ENOTSUP, as is CPORT_OPT_SHARED; there are no
 * sockets of the OS (while a sim port exists, the socket helpers make only the
 * simulation's) and no thread pool. cport_route answers CPORT_ROUTE_LOCAL for
 * every op it has. Built on every OS, Windows too (its tests run there under Wine).
 * Threads: one thread drives a sim port (cport_post from others is safe, but a program
 * that posts from threads is not deterministic). Ports on several threads may share
 * the world (a mutex serialises them), at the price of determinism. Several ports may
 * use one disk; a crash waits until none does.
 */

/* cport_sim_profile.flags */
enum {
	CPORT_SIM_TRACE = 1u << 0 /* keep the trace's text (its hash is always kept) */
};

/* cport_sim_disk_crash's flags */
enum {
	CPORT_SIM_TEAR = 1u << 0 /* the last write of each file since its last good flush
	                            survives in part: whole 512-byte sectors of its start */
};

typedef struct cport_sim_disk cport_sim_disk;

typedef struct cport_sim_profile {
	uint32_t size;            /* sizeof(cport_sim_profile) */
	uint32_t flags;           /* CPORT_SIM_* */
	uint64_t seed;            /* 0: $CPORT_SIM_SEED, else 1 */
	uint64_t latency_min_ns;  /* every op's virtual latency, uniform in [min, max]; */
	uint64_t latency_max_ns;  /* both 0: 1 us .. 100 us */
	uint32_t short_ppm;       /* faults, in millionths (see above) */
	uint32_t again_ppm;
	uint32_t eio_read_ppm;
	uint32_t eio_write_ppm;
	uint32_t enospc_ppm;
	uint32_t fsync_ppm;
	uint32_t reset_ppm;
	uint32_t stream_buf;      /* bytes in flight each way of a stream; 0: 65536 */
	cport_sim_disk *disk;     /* the files; NULL: the world's default disk */
} cport_sim_profile;

/* A disk of files in memory, empty. 0, CPORT_EINVAL (NULL), CPORT_ENOMEM. */
CPORT_API int cport_sim_disk_create(cport_sim_disk **disk);
/* Free it; CPORT_EBUSY (and nothing freed) while a port uses it. NULL: 0. */
CPORT_API int cport_sim_disk_destroy(cport_sim_disk *disk);
/* A power cut: every byte and name that is not durable is lost, and with
 * CPORT_SIM_TEAR the last write of each file since its last good flush leaves a seeded
 * number of its whole sectors. Returns the number of files whose contents changed,
 * CPORT_EBUSY while a port uses the disk, CPORT_EINVAL for NULL or unknown flags. */
CPORT_API int cport_sim_disk_crash(cport_sim_disk *disk, uint64_t seed, uint32_t flags);

/* A connected stream pair on a sim port, like socketpair(2): no addresses
 * (cport_sock_local gives an empty one). 0, CPORT_EINVAL (NULL, or not a sim port),
 * CPORT_EMFILE, CPORT_ENOMEM. Close them with cport_close. */
CPORT_API int cport_sim_socketpair(cport *port, cport_fd fds[2]);

/* The trace so far: a 64-bit hash of every event, kept on every sim port (0 on other
 * backends), and its text (with CPORT_SIM_TRACE; else "") written into buf up to n - 1
 * bytes and NUL; returns the text's full length, as snprintf does (0 on other
 * backends; CPORT_EINVAL for NULL port, or NULL buf with n > 0). */
CPORT_API uint64_t cport_sim_trace_hash(const cport *port);
CPORT_API int64_t cport_sim_trace(const cport *port, char *buf, size_t n);


#ifdef __cplusplus
}
#endif

#endif /* CPORT_H */
