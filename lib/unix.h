/* SPDX-License-Identifier: MIT */
/* Unix helpers shared by the Unix backends (lib/unix.c). */
#ifndef CPORT_UNIX_H
#define CPORT_UNIX_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>

int cport__unix_open_flags(uint32_t cport_flags);
void cport__unix_fill_stat(cport_statbuf *out, const struct stat *st);
#ifdef STATX_BASIC_STATS
void cport__unix_fill_statx(cport_statbuf *out, const struct statx *stx);
#endif
#ifdef __linux__
/* cport_fallocate's CPORT_FALLOC_* as fallocate(2)'s mode, cport_rename2's flags as
 * renameat2(2)'s: the thread pool and io_uring alike. */
int cport__unix_falloc_mode(uint32_t cport_flags);
unsigned cport__unix_rename_flags(uint32_t cport_flags);
#endif

/* close(2) for an op or cport_sock_close: 0 or -errno; EINTR is 0 (the descriptor is
 * closed whatever close answers on Linux). */
int64_t cport__unix_close(int fd);

/* A receive's msghdr, in the cport_msg's scratch space (internal_): the sender into
 * msg->addr (when it is not NULL), the bytes into `iov`. */
struct msghdr;
struct iovec;
struct msghdr *cport__unix_msg_recv(cport_msg *m, struct iovec *iov, size_t iovcnt);
/* After that receive: the sender's length, and CPORT_MSG_TRUNC in msg->flags. */
void cport__unix_msg_received(cport_msg *m);

/*
 * ---- The system-call table ----------------------------------------------------------
 *
 * Every system call an op makes on the Unix paths (lib/unix.c's blocking calls, which
 * the thread pool runs, and its tries on the port thread; the reactor's tries and
 * closes; the pollers' arm and wait) goes through this one table, as SQLite's
 * os_unix.c does with its aSyscall[]. Each entry is the real call by default (or a
 * wrapper of one line where the real one has no fixed signature). A test overrides
 * entries through cport__test_syscalls() to inject faults (tests/fault-inject.c,
 * docs/testing.md); nothing else writes it. Overrides are made while no port runs:
 * the pool's workers read the table without a lock.
 * Left out, because no op makes them: the pollers' wake (an eventfd or pipe), socket
 * creation and the synchronous helpers of cport.h section 6 (cport_tcp_listen ...),
 * cport_dio_query's probes, and io_uring, whose calls are made by the kernel.
 */
struct cport__syscalls {
	/* Bytes: the reactor's stream tries, the pool's and the port thread's file I/O. */
	ssize_t (*read)(int fd, void *buf, size_t n);
	ssize_t (*write)(int fd, const void *buf, size_t n);
	ssize_t (*readv)(int fd, const struct iovec *iov, int cnt);
	ssize_t (*writev)(int fd, const struct iovec *iov, int cnt);
	ssize_t (*preadv)(int fd, const struct iovec *iov, int cnt, off_t off);
	ssize_t (*pwritev)(int fd, const struct iovec *iov, int cnt, off_t off);
	ssize_t (*preadv2)(int fd, const struct iovec *iov, int cnt, off_t off, int flags);
	ssize_t (*pwritev2)(int fd, const struct iovec *iov, int cnt, off_t off, int flags);
	ssize_t (*recv)(int fd, void *buf, size_t n, int flags);
	ssize_t (*send)(int fd, const void *buf, size_t n, int flags);
	ssize_t (*recvmsg)(int fd, struct msghdr *mh, int flags);
	ssize_t (*sendmsg)(int fd, const struct msghdr *mh, int flags);
	ssize_t (*sendfile)(int out, int in, off_t *off, size_t n);
	/* Sockets: connections and their state. */
	int (*accept4)(int fd, struct sockaddr *sa, socklen_t *len, int flags);
	int (*connect)(int fd, const struct sockaddr *sa, socklen_t len);
	int (*getsockopt)(int fd, int level, int name, void *val, socklen_t *len);
	int (*shutdown)(int fd, int how);
	int (*poll)(struct pollfd *fds, nfds_t n, int timeout_ms);
	/* Descriptors and files. */
	int (*open)(const char *path, int flags, ...);
	int (*openat)(int dir, const char *path, int flags, ...);
	int (*close)(int fd);
	int (*fcntl)(int fd, int cmd, ...);
	int (*fsync)(int fd);
	int (*fdatasync)(int fd);
	int (*sync_file_range)(int fd, off_t off, off_t n, unsigned flags);
	int (*fallocate)(int fd, int mode, off_t off, off_t n);
	int (*ftruncate)(int fd, off_t n);
	off_t (*lseek)(int fd, off_t off, int whence);
	long (*getdents64)(int fd, void *buf, size_t n);
	int (*fadvise)(int fd, off_t off, off_t n, int advice);
	/* Paths and metadata. */
	int (*stat)(const char *path, struct stat *st);
	int (*fstat)(int fd, struct stat *st);
	int (*statx)(int dir, const char *path, int flags, unsigned mask, void *stx);
	int (*statvfs)(const char *path, struct statvfs *v);
	int (*rename)(const char *from, const char *to);
	int (*renameat2)(int fdir, const char *from, int tdir, const char *to, unsigned flags);
	int (*unlink)(const char *path);
	int (*rmdir)(const char *path);
	int (*mkdir)(const char *path, mode_t mode);
	int (*linkat)(int fdir, const char *from, int tdir, const char *to, int flags);
	int (*symlink)(const char *target, const char *path);
	ssize_t (*readlink)(const char *path, char *buf, size_t n);
	int (*access)(const char *path, int mode);
	/* The pollers (lib/backend/epoll.c; poll.c uses .poll above). */
	int (*epoll_ctl)(int epfd, int op, int fd, void *ev);
	int (*epoll_wait)(int epfd, void *evs, int max, int timeout_ms);
};

/* The table every call above goes through. */
extern struct cport__syscalls cport__sys;

#endif /* CPORT_UNIX_H */
