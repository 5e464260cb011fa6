/* SPDX-License-Identifier: MIT */
/* Unix system calls shared by the backends: flag translation, stat, blocking ops (durable flushes), sockets, direct-I/O rules. */

#include "internal.h"
#include "unix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/fs.h> /* BLKSSZGET */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#endif

_Static_assert(sizeof(cport_iovec) == sizeof(struct iovec) &&
		       offsetof(cport_iovec, base) == offsetof(struct iovec, iov_base) &&
		       offsetof(cport_iovec, len) == offsetof(struct iovec, iov_len),
	       "cport_iovec must have the layout of struct iovec");

int cport__unix_open_flags(uint32_t f)
{
	int o = O_CLOEXEC;
	if (f & CPORT_O_RDWR)
		o |= O_RDWR;
	else if (f & CPORT_O_WRONLY)
		o |= O_WRONLY;
	else
		o |= O_RDONLY;
	o |= f & CPORT_O_CREAT ? O_CREAT : 0;
	o |= f & CPORT_O_EXCL ? O_EXCL : 0;
	o |= f & CPORT_O_TRUNC ? O_TRUNC : 0;
	o |= f & CPORT_O_APPEND ? O_APPEND : 0;
	o |= f & CPORT_O_DSYNC ? O_DSYNC : 0;
	o |= f & CPORT_O_DIRECTORY ? O_DIRECTORY : 0;
	o |= f & CPORT_O_NOFOLLOW ? O_NOFOLLOW : 0;
#ifdef O_DIRECT
	o |= f & CPORT_O_DIRECT ? O_DIRECT : 0;
#endif
	return o;
}

static int64_t ts_ns(int64_t sec, int64_t nsec)
{
	return sec * 1000000000 + nsec;
}

void cport__unix_fill_stat(cport_statbuf *out, const struct stat *st)
{
	cport_statbuf s = {0};
	s.size = (uint64_t)st->st_size;
	s.blocks = (uint64_t)st->st_blocks;
	s.ino = (uint64_t)st->st_ino;
	s.dev = ((uint64_t)major(st->st_dev) << 32) | minor(st->st_dev);
	s.mode = (uint32_t)st->st_mode;
	s.nlink = (uint32_t)st->st_nlink;
	s.uid = st->st_uid;
	s.gid = st->st_gid;
	s.atime_ns = ts_ns(st->st_atim.tv_sec, st->st_atim.tv_nsec);
	s.mtime_ns = ts_ns(st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	s.ctime_ns = ts_ns(st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
	*out = s;
}

#ifdef STATX_BASIC_STATS
void cport__unix_fill_statx(cport_statbuf *out, const struct statx *stx)
{
	cport_statbuf s = {0};
	s.size = stx->stx_size;
	s.blocks = stx->stx_blocks;
	s.ino = stx->stx_ino;
	s.dev = ((uint64_t)stx->stx_dev_major << 32) | stx->stx_dev_minor;
	s.mode = stx->stx_mode;
	s.nlink = stx->stx_nlink;
	s.uid = stx->stx_uid;
	s.gid = stx->stx_gid;
	s.atime_ns = ts_ns(stx->stx_atime.tv_sec, stx->stx_atime.tv_nsec);
	s.mtime_ns = ts_ns(stx->stx_mtime.tv_sec, stx->stx_mtime.tv_nsec);
	s.ctime_ns = ts_ns(stx->stx_ctime.tv_sec, stx->stx_ctime.tv_nsec);
	if (stx->stx_mask & STATX_BTIME)
		s.btime_ns = ts_ns(stx->stx_btime.tv_sec, stx->stx_btime.tv_nsec);
	*out = s;
}
#endif

/* ---- The system-call table (unix.h) ------------------------------------------------ */

/* The real calls whose declarations do not fit a plain function pointer: glibc's
 * transparent sockaddr unions, a call without a libc wrapper, another error
 * convention, a type only one system has. */
static int sys_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
#ifdef __linux__
	return accept4(fd, sa, len, flags);
#else
	int c = accept(fd, sa, len);
	if (c >= 0 && (flags & SOCK_CLOEXEC))
		fcntl(c, F_SETFD, FD_CLOEXEC);
	return c;
#endif
}

static int sys_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return connect(fd, sa, len);
}

/* posix_fadvise returns its error number: here -1 and errno, as the others. */
static int sys_fadvise(int fd, off_t off, off_t n, int advice)
{
#ifdef POSIX_FADV_NORMAL
	int e = posix_fadvise(fd, off, n, advice);
#else
	(void)fd, (void)off, (void)n, (void)advice;
	int e = ENOSYS;
#endif
	if (e == 0)
		return 0;
	errno = e;
	return -1;
}

#ifdef __linux__
static long sys_getdents64(int fd, void *buf, size_t n)
{
	return syscall(SYS_getdents64, fd, buf, n);
}

static int sys_sync_file_range(int fd, off_t off, off_t n, unsigned flags)
{
	return sync_file_range(fd, off, n, flags);
}

static int sys_renameat2(int fdir, const char *from, int tdir, const char *to, unsigned fl)
{
	return renameat2(fdir, from, tdir, to, fl);
}

static int sys_epoll_ctl(int epfd, int op, int fd, void *ev)
{
	return epoll_ctl(epfd, op, fd, ev);
}

static int sys_epoll_wait(int epfd, void *evs, int max, int timeout_ms)
{
	return epoll_wait(epfd, evs, max, timeout_ms);
}
#endif

#ifdef STATX_BASIC_STATS
static int sys_statx(int dir, const char *path, int flags, unsigned mask, void *stx)
{
	return statx(dir, path, flags, mask, stx);
}
#endif

struct cport__syscalls cport__sys = {
	.read = read,
	.write = write,
	.readv = readv,
	.writev = writev,
	.preadv = preadv,
	.pwritev = pwritev,
#ifdef RWF_NOWAIT
	.preadv2 = preadv2,
	.pwritev2 = pwritev2,
#endif
	.recv = recv,
	.send = send,
	.recvmsg = recvmsg,
	.sendmsg = sendmsg,
#ifdef __linux__
	.sendfile = sendfile,
#endif
	.accept4 = sys_accept4,
	.connect = sys_connect,
	.getsockopt = getsockopt,
	.shutdown = shutdown,
	.poll = poll,
	.open = open,
	.openat = openat,
	.close = close,
	.fcntl = fcntl,
	.fsync = fsync,
#ifndef __APPLE__
	.fdatasync = fdatasync,
#endif
	.lseek = lseek,
	.fadvise = sys_fadvise,
	.ftruncate = ftruncate,
	.stat = stat,
	.fstat = fstat,
	.statvfs = statvfs,
	.rename = rename,
	.unlink = unlink,
	.rmdir = rmdir,
	.mkdir = mkdir,
	.linkat = linkat,
	.symlink = symlink,
	.readlink = readlink,
	.access = access,
#ifdef STATX_BASIC_STATS
	.statx = sys_statx,
#endif
#ifdef __linux__
	.sync_file_range = sys_sync_file_range,
	.fallocate = fallocate,
	.getdents64 = sys_getdents64,
	.renameat2 = sys_renameat2,
	.epoll_ctl = sys_epoll_ctl,
	.epoll_wait = sys_epoll_wait,
#endif
};

struct cport__syscalls *cport__test_syscalls(void)
{
	return &cport__sys;
}

/* ---- Reads and writes: one call from the op's progress, blocking or not ---------- */

/* One read or write of what is left of the op (from opx.done): the rest of its buffer,
 * or of its iovecs (a partly done element first, alone). `flags`: preadv2/pwritev2's
 * RWF_* (0: the plain call, which is all the OS may have). Bytes moved, or -errno. */
static int64_t rw_once(struct cport__op *x, int flags)
{
	bool rd = x->type == CPORT__READ || x->type == CPORT__READV;
	struct iovec one;
	const struct iovec *iov = &one;
	int cnt = 1;
	if (x->type == CPORT__READ || x->type == CPORT__WRITE) {
		one.iov_base = x->buf ? (char *)x->buf + x->done : NULL; /* no NULL + 0 */
		one.iov_len = (size_t)(x->len - x->done);
	} else {
		const struct iovec *all = x->buf;
		uint64_t skip;
		unsigned i = cport__iov_at(x->buf, x->aux, x->done, &skip);
		if (i == x->aux)
			i = 0; /* every element empty: the request as it is (0 bytes) */
		one.iov_base = skip ? (char *)all[i].iov_base + skip : all[i].iov_base; /* NULL + 0 */
		one.iov_len = (size_t)(all[i].iov_len - skip);
		if (!skip) {
			iov = all + i;
			cnt = (int)(x->aux - i);
		}
	}
	off_t off = x->offset < 0 ? -1 : (off_t)(x->offset + (int64_t)x->done);
	ssize_t n;
#ifdef RWF_NOWAIT
	if (flags) {
		n = rd ? cport__sys.preadv2(x->fd, iov, cnt, off, flags) : cport__sys.pwritev2(x->fd, iov, cnt, off, flags);
		return n < 0 ? -errno : n;
	}
#endif
	assert(flags == 0);
	if (off < 0)
		n = rd ? cport__sys.readv(x->fd, iov, cnt) : cport__sys.writev(x->fd, iov, cnt);
	else
		n = rd ? cport__sys.preadv(x->fd, iov, cnt, off) : cport__sys.pwritev(x->fd, iov, cnt, off);
	return n < 0 ? -errno : n;
}

/* Until `fd` is readable (rd) or writable, or something else happened to it (an
 * error, a hang-up, a signal): the caller tries again and hears about it. */
static void blocking_ready(int fd, bool rd)
{
	struct pollfd p = {.fd = fd, .events = rd ? POLLIN : POLLOUT};
	(void)cport__sys.poll(&p, 1, -1);
}

/* Read/write with the contract's rules: positional reads short only at EOF, stream
 * reads return what came, writes all or error. Goes on from opx.done (a try without
 * blocking may have moved the first bytes). */
static int64_t blocking_rw(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	for (;;) {
		int64_t n = rw_once(x, 0);
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN || n == -EWOULDBLOCK) {
			/* A descriptor left non-blocking (a pipe opened O_NONBLOCK, a file
			 * system that answers EAGAIN for a moment): wait as the blocking
			 * call would have, then go on. Never the op's result. */
			blocking_ready(x->fd, x->type == CPORT__READ || x->type == CPORT__READV);
			continue;
		}
		if (n < 0)
			return n;
		if (cport__op_moved(x, (uint64_t)n))
			return (int64_t)x->done;
	}
}

static int64_t sys(int r)
{
	return r < 0 ? -errno : r;
}

/* stat and fstat. Linux: statx, as io_uring does, so the birth time is the same
 * whichever way the op ran (a kernel or filter without statx: stat). */
static int64_t blocking_stat(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	cport_statbuf *out = x->type == CPORT__STAT ? x->buf2 : x->buf;
#ifdef STATX_BASIC_STATS
	struct statx stx;
	unsigned mask = STATX_BASIC_STATS | STATX_BTIME;
	int r = x->type == CPORT__STAT ? cport__sys.statx(AT_FDCWD, x->buf, 0, mask, &stx)
				       : cport__sys.statx(x->fd, "", AT_EMPTY_PATH, mask, &stx);
	if (r == 0) {
		cport__unix_fill_statx(out, &stx);
		return 0;
	}
	if (errno != ENOSYS)
		return -errno;
#endif
	struct stat st;
	if ((x->type == CPORT__STAT ? cport__sys.stat(x->buf, &st) : cport__sys.fstat(x->fd, &st)) < 0)
		return -errno;
	cport__unix_fill_stat(out, &st);
	return 0;
}

static int64_t blocking_fallocate(struct cport__op *x)
{
#ifdef __linux__
	return sys(cport__sys.fallocate(x->fd, cport__unix_falloc_mode(x->aux), x->offset, (off_t)x->len));
#else
	if (x->aux) /* KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE: Linux only here */
		return CPORT_ENOTSUP;
	int r = posix_fallocate(x->fd, x->offset, (off_t)x->len);
	return -r;
#endif
}

#ifdef __APPLE__
/* macOS: fsync(2) leaves the data in the drive's cache; F_FULLFSYNC empties it. A file
 * system that cannot (SMB, some FUSE ones) says ENOTSUP (or ENOTTY, EINVAL): fsync(2)
 * is then the best it has. Any other error is a failed write-back and is returned as
 * it is: a retry through fsync(2) could return 0 for pages already dropped
 * (cport.h, "After a failed flush"). */
static int64_t unix_full_fsync(int fd)
{
	if (fcntl(fd, F_FULLFSYNC) == 0)
		return 0;
	int e = errno;
	if (e != ENOTSUP && e != EOPNOTSUPP && e != ENOTTY && e != EINVAL)
		return -e;
	return sys(fsync(fd));
}
#endif

/* cport_fsync and cport_fsync_range (cport.h, "Durability"). */
static int64_t blocking_fsync(const struct cport__op *x)
{
	bool data = (x->aux & CPORT_FSYNC_DATA) != 0;
	if (x->aux & CPORT__FSYNC_RANGE) {
#ifdef SYNC_FILE_RANGE_WRITE
		return sys(cport__sys.sync_file_range(x->fd, (off_t)x->offset, (off_t)x->len,
					   SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
						   SYNC_FILE_RANGE_WAIT_AFTER));
#else
		data = true; /* no range flush here: the whole file's data */
#endif
	}
#ifdef __APPLE__
	(void)data; /* F_FULLFSYNC has no data-only form */
	return unix_full_fsync(x->fd);
#else
	return sys(data ? cport__sys.fdatasync(x->fd) : cport__sys.fsync(x->fd));
#endif
}

static int64_t blocking_open(const struct cport__op *x)
{
	int fd = cport__sys.open(x->buf, cport__unix_open_flags(x->aux), (mode_t)x->mode);
	if (fd < 0)
		return -errno;
#ifdef __APPLE__
	/* macOS has no O_DIRECT; F_NOCACHE keeps the file's data out of the cache. */
	if ((x->aux & CPORT_O_DIRECT) && fcntl(fd, F_NOCACHE, 1) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
#endif
	return fd;
}

/* ---- Directories, file systems and file locks (cport.h section 4c) ---------------- */

#ifdef __linux__
#ifndef RENAME_NOREPLACE /* glibc before 2.28; the kernel's values */
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#endif

int cport__unix_falloc_mode(uint32_t f)
{
	/* The kernel takes a punched hole only with KEEP_SIZE (the size never changes). */
	if (f & CPORT_FALLOC_PUNCH_HOLE)
		return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	int mode = f & CPORT_FALLOC_KEEP_SIZE ? FALLOC_FL_KEEP_SIZE : 0;
	return f & CPORT_FALLOC_ZERO_RANGE ? mode | FALLOC_FL_ZERO_RANGE : mode;
}

unsigned cport__unix_rename_flags(uint32_t f)
{
	return (f & CPORT_RENAME_NOREPLACE ? RENAME_NOREPLACE : 0) |
	       (f & CPORT_RENAME_EXCHANGE ? RENAME_EXCHANGE : 0);
}
#endif

static int64_t blocking_rename(struct cport__op *x)
{
	if (!x->aux)
		return sys(cport__sys.rename(x->buf, x->buf2));
#ifdef __linux__
	return sys(cport__sys.renameat2(AT_FDCWD, x->buf, AT_FDCWD, x->buf2, cport__unix_rename_flags(x->aux)));
#else
	return CPORT_ENOTSUP; /* macOS has renamex_np, the BSDs nothing: not here yet */
#endif
}

#ifdef __linux__
/* getdents64's record; glibc declares none before 2.30. */
struct unix_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};
#endif

/*
 * cport_readdir: getdents64 into a buffer of our own, then each entry as a cport_dirent.
 * A getdents64 record (19 bytes, the name, its NUL, padded to 8) is never shorter than
 * ours (16 bytes, the name, its NUL, padded to 8), so asking for at most `len` bytes
 * means every entry the kernel hands over fits the caller's `len`: none is lost.
 */
static int64_t blocking_readdir(struct cport__op *x)
{
#ifdef __linux__
	union {
		char b[8192]; /* more than any record (NAME_MAX 255) */
		uint64_t align;
	} raw;
	size_t want = x->len < sizeof raw.b ? (size_t)x->len : sizeof raw.b;
	if ((x->aux & CPORT_READDIR_REWIND) && cport__sys.lseek(x->fd, 0, SEEK_SET) < 0)
		return -errno;
	long n = cport__sys.getdents64(x->fd, raw.b, want);
	if (n < 0)
		return -errno;
	size_t out = 0;
	for (long at = 0; at < n;) {
		const struct unix_dirent64 *d = (const void *)(raw.b + at);
		size_t nl = strlen(d->d_name);
		char *rec = (char *)x->buf + out;
		memcpy(rec + sizeof(cport_dirent), d->d_name, nl);
		out += cport__dirent_seal(rec, d->d_ino, d->d_type, nl);
		at += d->d_reclen;
	}
	assert(out <= x->len);
	return (int64_t)out;
#else
	(void)x;
	return CPORT_ENOTSUP; /* getdents differs per BSD, and macOS hides its own */
#endif
}

static int64_t blocking_statfs(struct cport__op *x)
{
	struct statvfs v;
	if (cport__sys.statvfs(x->buf, &v) < 0)
		return -errno;
	/* f_blocks and friends count f_frsize units; f_bsize is an I/O size hint. */
	uint64_t unit = v.f_frsize ? v.f_frsize : v.f_bsize;
	cport_statfsbuf s = {0};
	s.bsize = unit;
	s.total = (uint64_t)v.f_blocks * unit;
	s.free = (uint64_t)v.f_bfree * unit;
	s.avail = (uint64_t)v.f_bavail * unit;
	s.files = (uint64_t)v.f_files;
	s.ffree = (uint64_t)v.f_ffree;
	s.namemax = (uint32_t)v.f_namemax;
	memcpy(x->buf2, &s, sizeof s);
	return 0;
}

static int64_t blocking_fadvise(struct cport__op *x)
{
#ifdef POSIX_FADV_NORMAL
	static const int advice[] = {POSIX_FADV_NORMAL,   POSIX_FADV_RANDOM,
				     POSIX_FADV_SEQUENTIAL, POSIX_FADV_WILLNEED,
				     POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE};
	assert(x->aux < sizeof advice / sizeof *advice);
	return sys(cport__sys.fadvise(x->fd, x->offset, (off_t)x->len, advice[x->aux]));
#else
	/* No such call (macOS): the advice is dropped; the descriptor is still checked. */
	return cport__sys.fcntl(x->fd, F_GETFD) < 0 ? -errno : 0;
#endif
}

static int64_t blocking_readlink(struct cport__op *x)
{
	ssize_t n = cport__sys.readlink(x->buf, x->buf2, (size_t)x->len);
	if (n < 0)
		return -errno;
	if ((uint64_t)n >= x->len)
		return CPORT_ENOBUFS; /* no room for the NUL: the text may have been cut */
	((char *)x->buf2)[n] = '\0';
	return n;
}

static int64_t blocking_access(struct cport__op *x)
{
	int mode = (x->aux & CPORT_R_OK ? R_OK : 0) | (x->aux & CPORT_W_OK ? W_OK : 0) |
		   (x->aux & CPORT_X_OK ? X_OK : 0);
	return sys(cport__sys.access(x->buf, mode ? mode : F_OK));
}

/* One try of a lock (never a wait: lib/threadpool.c makes waiting locks out of tries).
 * Linux: open file description locks, owned by the open file, not the process; other
 * systems: classic POSIX locks (the caveats are in cport.h). */
static int64_t blocking_lock(struct cport__op *x)
{
	struct flock fl;
	memset(&fl, 0, sizeof fl);
	fl.l_type = x->aux & CPORT__LOCK_UNLOCK ? F_UNLCK
		  : x->aux & CPORT_LOCK_SHARED  ? F_RDLCK
						: F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)x->offset;
	fl.l_len = (off_t)x->len;
#ifdef F_OFD_SETLK
	int r = cport__sys.fcntl(x->fd, F_OFD_SETLK, &fl);
#else
	int r = cport__sys.fcntl(x->fd, F_SETLK, &fl);
#endif
	if (r == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return CPORT_EAGAIN; /* held by another: POSIX allows either code */
	return errno == ENOLCK ? CPORT_ENOMEM : -errno;
}

struct msghdr *cport__unix_msg_recv(cport_msg *m, struct iovec *iov, size_t iovcnt)
{
	struct msghdr *mh = (struct msghdr *)(void *)m->internal_;
	memset(mh, 0, sizeof *mh);
	if (m->addr) {
		mh->msg_name = m->addr->storage;
		mh->msg_namelen = sizeof m->addr->storage;
	}
	mh->msg_iov = iov;
	mh->msg_iovlen = iovcnt;
	return mh;
}

void cport__unix_msg_received(cport_msg *m)
{
	const struct msghdr *mh = (const struct msghdr *)(const void *)m->internal_;
	if (m->addr)
		m->addr->len = mh->msg_namelen;
	m->flags = mh->msg_flags & MSG_TRUNC ? CPORT_MSG_TRUNC : 0;
}

int64_t cport__unix_close(int fd)
{
	/* Linux frees the descriptor even when close fails: never retry on EINTR, which
	 * leaves it closed (a retry could close a descriptor another thread just got). */
	return cport__sys.close(fd) < 0 && errno != EINTR ? -errno : 0;
}

/* One try of an op as a blocking system call (see cport__blocking_run). */
static int64_t blocking_once(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	switch ((enum cport__type)x->type) {
	case CPORT__NOP:
		return 0;
	case CPORT__READ:
	case CPORT__WRITE:
	case CPORT__READV:
	case CPORT__WRITEV:
		return blocking_rw(op);
	case CPORT__FSYNC:
		return blocking_fsync(x);
	case CPORT__OPEN:
		return blocking_open(x);
	case CPORT__CLOSE:
		return cport__unix_close(x->fd);
	case CPORT__STAT:
	case CPORT__FSTAT:
		return blocking_stat(op);
	case CPORT__FALLOCATE:
		return blocking_fallocate(x);
	case CPORT__FTRUNCATE:
		return sys(cport__sys.ftruncate(x->fd, (off_t)x->len));
	case CPORT__RENAME:
		return blocking_rename(x);
	case CPORT__UNLINK:
		return sys(x->aux & CPORT_UNLINK_DIR ? cport__sys.rmdir(x->buf) : cport__sys.unlink(x->buf));
	case CPORT__MKDIR:
		return sys(cport__sys.mkdir(x->buf, (mode_t)x->mode));
	case CPORT__OPENAT:
		return sys(cport__sys.openat(x->fd, x->buf, cport__unix_open_flags(x->aux), (mode_t)x->mode));
	case CPORT__READDIR:
		return blocking_readdir(x);
	case CPORT__STATFS:
		return blocking_statfs(x);
	case CPORT__FADVISE:
		return blocking_fadvise(x);
	case CPORT__LINK:
		return sys(cport__sys.linkat(AT_FDCWD, x->buf, AT_FDCWD, x->buf2, 0));
	case CPORT__SYMLINK:
		return sys(cport__sys.symlink(x->buf, x->buf2));
	case CPORT__READLINK:
		return blocking_readlink(x);
	case CPORT__ACCESS:
		return blocking_access(x);
	case CPORT__LOCK:
		return blocking_lock(x);
	case CPORT__ACCEPT:
	case CPORT__CONNECT:
	case CPORT__RECV:
	case CPORT__SEND:
	case CPORT__RECVMSG:
	case CPORT__SENDMSG:
	case CPORT__SHUTDOWN:
	case CPORT__POLL:
	case CPORT__SENDFILE:
	case CPORT__RECV_POOL:
	case CPORT__RECVMSG_POOL:
		/* Socket ops wait on a peer: a pool worker would be held for as long as
		 * the peer likes. Backends run them themselves. */
		return CPORT_ENOSYS;
	case CPORT__TIMER:
	case CPORT__POST:
	case CPORT__TYPE_MAX:
		break;
	}
	assert(!"op type has no blocking form");
	return CPORT_ENOSYS;
}

/* Run an op as a blocking system call; the thread pool's worker body. A signal may
 * interrupt any of these calls (a handler of the program's own, without SA_RESTART):
 * the op is then tried again, never completed with CPORT_EINTR (the contract's rule
 * 12; an interrupted call did nothing: an fsync flushed nothing for sure, an open
 * made no file). Nothing on Unix interrupts a worker to cancel it (threadpool.c), so
 * the loop never outlives a cancel. */
int64_t cport__blocking_run(cport_op *op)
{
	for (;;) {
		int64_t res = blocking_once(op);
		if (res != -EINTR)
			return res;
	}
}

/* ---- On the port thread: cached file I/O without blocking, CPORT_OP_INLINE -------- */

/* struct cport__fd.file: what the port thread learnt of a descriptor (one fcntl and one
 * statx the first time, kept until the number may be new; see cport.h on fcntl). */
enum {
	FILE_KNOWN = 1u << 0,     /* looked at: the bits below hold */
	FILE_CACHED = 1u << 1,    /* a regular file without O_DIRECT: I/O goes through the
	                             page cache (a direct read with RWF_NOWAIT still waits
	                             for the device) */
	FILE_WBUF = 1u << 2,      /* ... and without O_DSYNC / O_SYNC: a write stops there */
	FILE_NO_RNOWAIT = 1u << 3, /* its file system refused an RWF_NOWAIT read */
	FILE_NO_WNOWAIT = 1u << 4, /* ... an RWF_NOWAIT write (ext4, tmpfs: EOPNOTSUPP) */
};

/* Is `fd` a regular file? Asked of the kernel's cached attributes (a network file
 * system's server is not asked: this runs on the port thread). */
static bool file_is_regular(int fd)
{
#if defined(STATX_TYPE) && defined(AT_STATX_DONT_SYNC)
	struct statx stx;
	if (cport__sys.statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE, &stx) == 0)
		return (stx.stx_mask & STATX_TYPE) && S_ISREG(stx.stx_mode);
	if (errno != ENOSYS)
		return false;
#endif
	struct stat st;
	return cport__sys.fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static uint8_t file_class(struct cport__fd *f, int fd)
{
	if (f->file & FILE_KNOWN)
		return f->file;
	int fl = cport__sys.fcntl(fd, F_GETFL);
	uint8_t c = FILE_KNOWN;
#ifdef O_DIRECT
	bool direct = fl >= 0 && (fl & O_DIRECT);
#else
	bool direct = false; /* macOS: F_NOCACHE, which fcntl does not report; reads
	                        are not tried there anyway (no RWF_NOWAIT) */
#endif
	if (fl >= 0 && !direct && file_is_regular(fd)) {
		c |= FILE_CACHED;
		if (!(fl & (O_DSYNC | O_SYNC)))
			c |= FILE_WBUF;
	}
	f->file = c;
	return c;
}

/* What a try without blocking answers when the rest must go the blocking way. */
#define NOWAIT_LATER INT64_MIN

#ifdef RWF_NOWAIT
/* A kernel without preadv2 (before Linux 4.6): never tried again in this process. */
static atomic_bool nowait_missing;

/* Move the op's bytes with RWF_NOWAIT while the page cache has them: a few calls at
 * most (one, unless the cache holds only part of the range). The op's result when it is
 * finished (every byte, end of file, an error), else NOWAIT_LATER: the rest, from
 * opx.done, goes the blocking way (nothing cached, or a file system that refuses the
 * flag, which is then remembered for the descriptor). */
static int64_t rw_nowait(struct cport__fd *f, struct cport__op *x)
{
	bool rd = x->type == CPORT__READ || x->type == CPORT__READV;
	for (int tries = 0; tries < 4; tries++) {
		int64_t n = rw_once(x, RWF_NOWAIT);
		if (n == -EINTR)
			continue;
		if (n == -EOPNOTSUPP || n == -EINVAL) {
			/* EINVAL: a kernel without RWF_NOWAIT (before 4.14), or a real
			 * error, which the blocking call then reports. */
			f->file |= rd ? FILE_NO_RNOWAIT : FILE_NO_WNOWAIT;
			return NOWAIT_LATER;
		}
		if (n == -ENOSYS) {
			atomic_store_explicit(&nowait_missing, true, memory_order_relaxed);
			return NOWAIT_LATER;
		}
		if (n == -EAGAIN)
			return NOWAIT_LATER;
		if (n < 0)
			return n;
		/* A short read may be the cache's end, not the file's: the next try says
		 * (0 at end of file, EAGAIN if not cached). */
		if (cport__op_moved(x, (uint64_t)n))
			return (int64_t)x->done;
	}
	return NOWAIT_LATER;
}
#endif

/* Would a read (rd) or write of this descriptor be tried with RWF_NOWAIT? */
static bool nowait_ok(const struct cport__fd *f, bool rd)
{
#ifdef RWF_NOWAIT
	uint8_t no = rd ? FILE_NO_RNOWAIT : FILE_NO_WNOWAIT;
	return !(f->file & no) && !atomic_load_explicit(&nowait_missing, memory_order_relaxed);
#else
	(void)f, (void)rd;
	return false;
#endif
}

/* A positional read or write without blocking: its result, or NOWAIT_LATER. */
static int64_t file_try(struct cport__fd *f, struct cport__op *x, bool rd)
{
#ifdef RWF_NOWAIT
	if (nowait_ok(f, rd))
		return rw_nowait(f, x);
#else
	(void)x;
#endif
	return NOWAIT_LATER;
}

/* Positional file I/O the port thread can take at all: a read of a cached regular
 * file, a write that stops in the page cache. */
static bool file_rw_here(struct cport__fd *f, const struct cport__op *x, bool rd)
{
	return x->offset >= 0 && (file_class(f, x->fd) & (rd ? FILE_CACHED : FILE_WBUF));
}

bool cport__os_try_route(struct cport__fd *f, const struct cport__op *x)
{
	bool rd = x->type == CPORT__READ || x->type == CPORT__READV;
	if (!rd && x->type != CPORT__WRITE && x->type != CPORT__WRITEV)
		return false;
	return f && file_rw_here(f, x, rd) && nowait_ok(f, rd);
}

bool cport__os_try(cport *port, cport_op *op, struct cport__fd *f, bool inline_ok)
{
	struct cport__op *x = cport__x(op);
	bool rd = x->type == CPORT__READ || x->type == CPORT__READV;
	int64_t res;
	switch ((enum cport__type)x->type) {
	case CPORT__STAT:
	case CPORT__FSTAT:
		if (!inline_ok)
			return false;
		res = blocking_stat(op);
		break;
	case CPORT__READ:
	case CPORT__READV:
	case CPORT__WRITE:
	case CPORT__WRITEV:
		if (!file_rw_here(f, x, rd))
			return false;
		/* Inline, a write to the page cache is one plain call, which may block
		 * briefly (the caller's choice); a read never waits for the disk. */
		res = inline_ok && !rd ? blocking_rw(op) : file_try(f, x, rd);
		if (res == NOWAIT_LATER)
			return false;
		break;
	default:
		return false;
	}
	cport__complete(port, op, res);
	return true;
}

/* ---- Sockets: addresses and the synchronous helpers of cport.h section 6 ---------- */

_Static_assert(sizeof(((cport_addr *)0)->storage) >= sizeof(struct sockaddr_storage),
	       "cport_addr must hold any sockaddr");
_Static_assert(sizeof(cport_addr) == 136, "cport_addr ABI size");
_Static_assert(sizeof(((cport_msg *)0)->internal_) >= sizeof(struct msghdr),
	       "cport_msg must hold a msghdr");

static int64_t neg_errno(void)
{
	return -errno;
}

int cport__os_sock_name(cport_fd fd, cport_addr *a, bool peer)
{
	if (!a)
		return CPORT_EINVAL;
	if (fd < 0)
		return CPORT_EBADF;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
		     : getsockname(fd, (struct sockaddr *)&ss, &len);
	if (r < 0)
		return (int)neg_errno();
	memset(a, 0, sizeof *a);
	memcpy(a->storage, &ss, len);
	a->len = len;
	return 0;
}

static int sock_setopt(int fd, int level, int name, int v)
{
	if (fd < 0)
		return CPORT_EBADF;
	return setsockopt(fd, level, name, &v, sizeof v) < 0 ? (int)neg_errno() : 0;
}

/* A socket of the family of `a` (IP only), bound to it with the CPORT_SOCK_* flags. */
static int sock_bound(cport_fd *out, const cport_addr *a, int type, uint32_t flags)
{
	int fam = cport__addr_sa_family(a);
	if (!out || (fam != AF_INET && fam != AF_INET6) ||
	    (flags & ~(uint32_t)(CPORT_SOCK_REUSEPORT | CPORT_SOCK_V6ONLY)))
		return CPORT_EINVAL;
	int fd = socket(fam, type | SOCK_CLOEXEC, 0), r = 0;
	if (fd < 0)
		return (int)neg_errno();
	if (type == SOCK_STREAM)
		r = sock_setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (r == 0 && (flags & CPORT_SOCK_REUSEPORT)) {
#ifdef SO_REUSEPORT
		r = sock_setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
#else
		r = CPORT_ENOTSUP;
#endif
	}
	if (r == 0 && fam == AF_INET6)
		r = sock_setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, !!(flags & CPORT_SOCK_V6ONLY));
	if (r == 0 && bind(fd, (const struct sockaddr *)(const void *)a->storage, a->len) < 0)
		r = (int)neg_errno();
	if (r < 0) {
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

int cport__os_tcp_listen(cport_fd *out, const cport_addr *a, int backlog, uint32_t flags)
{
	if (!out)
		return CPORT_EINVAL; /* checked before the socket exists, or it would leak */
	cport_fd fd = -1;
	int r = sock_bound(&fd, a, SOCK_STREAM, flags);
	if (r < 0)
		return r;
	if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
		r = (int)neg_errno();
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

int cport__os_tcp_socket(cport_fd *out, int family)
{
	if (!out || (family != CPORT_AF_INET && family != CPORT_AF_INET6))
		return CPORT_EINVAL;
	int fd = socket(family == CPORT_AF_INET ? AF_INET : AF_INET6,
			SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return (int)neg_errno();
	*out = fd;
	return 0;
}

int cport__os_udp_socket(cport_fd *out, const cport_addr *a, uint32_t flags)
{
	return sock_bound(out, a, SOCK_DGRAM, flags);
}

static int local_addr(struct sockaddr_un *su, const char *name)
{
	if (!name || !name[0])
		return CPORT_EINVAL;
	memset(su, 0, sizeof *su);
	su->sun_family = AF_UNIX;
	if (strlen(name) >= sizeof su->sun_path)
		return CPORT_ENAMETOOLONG;
	memcpy(su->sun_path, name, strlen(name));
	return 0;
}

int cport__os_local_listen(cport_fd *out, const char *name, int backlog)
{
	struct sockaddr_un su;
	int r = out ? local_addr(&su, name) : CPORT_EINVAL;
	if (r < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return (int)neg_errno();
	if (bind(fd, (struct sockaddr *)&su, sizeof su) < 0 ||
	    listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
		r = (int)neg_errno();
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

int cport__os_local_connect(cport_fd *out, const char *name)
{
	struct sockaddr_un su;
	int r = out ? local_addr(&su, name) : CPORT_EINVAL;
	if (r < 0)
		return r;
	/* Non-blocking for the connect only: a full backlog is CPORT_EAGAIN, never a
	 * wait; a local connect otherwise completes at once. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return (int)neg_errno();
	if (connect(fd, (struct sockaddr *)&su, sizeof su) < 0) {
		r = (int)neg_errno();
		close(fd);
		return r;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		r = (int)neg_errno();
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

int cport__os_sock_nodelay(cport_fd fd, int on)
{
	return sock_setopt(fd, IPPROTO_TCP, TCP_NODELAY, !!on);
}

int cport__os_sock_keepalive(cport_fd fd, int on, uint32_t idle_s)
{
	int r = sock_setopt(fd, SOL_SOCKET, SO_KEEPALIVE, !!on);
#ifdef TCP_KEEPIDLE
	if (r == 0 && on && idle_s > 0)
		r = sock_setopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s > INT32_MAX ? INT32_MAX
									: (int)idle_s);
#else
	(void)idle_s;
#endif
	return r;
}

int cport__os_sock_close(cport_fd fd)
{
	if (fd < 0)
		return CPORT_EBADF;
	/* Every port must see that the number may be reused (fdstate.c). */
	cport__fd_gen_bump(fd);
	return (int)cport__unix_close(fd);
}

/* The pool abandons what it cannot stop (threadpool.c): no interrupt on Unix, where it
 * would take a signal handler of the library's own in the program. */
void cport__os_thread_self(struct cport__os_thread *t)
{
	t->handle = NULL;
}

void cport__os_thread_interrupt(struct cport__os_thread *t)
{
	(void)t;
}

void cport__os_thread_release(struct cport__os_thread *t)
{
	(void)t;
}

int cport__os_fd_dup(cport_fd fd, cport_fd *out)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (d < 0)
		return -errno;
	*out = d;
	return 0;
}

void cport__os_fd_close(cport_fd fd)
{
	close(fd);
}

bool cport__os_fd_valid(cport_fd fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

/* ---- Direct I/O rules (cport_dio_query's OS part) ------------------------------------ */

#if defined(__linux__) && defined(SYS_statx)
/* struct statx as the kernel lays it out (UAPI, fixed): the fields past 0x98 are newer
 * than the headers of the distributions cport builds on (Debian 12: 6.1), so they are
 * read at their offsets from a buffer of the struct's full size. */
enum {
	STX_MASK = 0x00,
	STX_DIO_MEM_ALIGN = 0x98,         /* STATX_DIOALIGN, Linux 6.1 */
	STX_DIO_OFFSET_ALIGN = 0x9c,
	STX_ATOMIC_MIN = 0xa8,            /* STATX_WRITE_ATOMIC, Linux 6.11 */
	STX_ATOMIC_MAX = 0xac,
	STX_ATOMIC_SEGMENTS_MAX = 0xb0,
	STX_DIO_READ_OFFSET_ALIGN = 0xb4, /* STATX_DIO_READ_ALIGN, Linux 6.14 */
	STX_SIZE = 0x100
};
#define UNIX_STATX_DIOALIGN 0x00002000u
#define UNIX_STATX_WRITE_ATOMIC 0x00010000u
#define UNIX_STATX_DIO_READ_ALIGN 0x00020000u

static uint32_t stx_u32(const uint64_t *stx, size_t off)
{
	uint32_t v;
	memcpy(&v, (const char *)stx + off, sizeof v);
	return v;
}

/* The kernel's own answer (statx); false if it gave none (older kernel, a file system
 * that does not report it, a seccomp filter), so the caller falls back. */
static bool unix_dio_statx(int fd, cport_dio_info *d)
{
	uint64_t stx[STX_SIZE / 8] = {0};
	unsigned want = UNIX_STATX_DIOALIGN | UNIX_STATX_WRITE_ATOMIC | UNIX_STATX_DIO_READ_ALIGN;
	if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, want, stx) < 0)
		return false;
	uint32_t mask = stx_u32(stx, STX_MASK);
	if (mask & UNIX_STATX_WRITE_ATOMIC) {
		d->atomic_write_min = stx_u32(stx, STX_ATOMIC_MIN);
		d->atomic_write_max = stx_u32(stx, STX_ATOMIC_MAX);
		d->atomic_write_segments_max = stx_u32(stx, STX_ATOMIC_SEGMENTS_MAX);
	}
	if (!(mask & UNIX_STATX_DIOALIGN))
		return false;
	d->flags |= CPORT_DIO_EXACT;
	d->mem_align = stx_u32(stx, STX_DIO_MEM_ALIGN);
	d->offset_align = stx_u32(stx, STX_DIO_OFFSET_ALIGN);
	d->read_offset_align = d->offset_align;
	uint32_t rd = stx_u32(stx, STX_DIO_READ_OFFSET_ALIGN);
	if ((mask & UNIX_STATX_DIO_READ_ALIGN) && rd != 0 && d->offset_align != 0)
		d->read_offset_align = rd;
	return true;
}
#endif

/* Without the kernel's answer: a block device's logical block size, else the file
 * system's preferred I/O size, a multiple of the device's logical block size on the
 * common file systems (ext4, XFS, btrfs), so never too small there. */
static void unix_dio_guess(int fd, const struct stat *st, cport_dio_info *d)
{
	uint32_t a = st->st_blksize > 0 ? (uint32_t)st->st_blksize : 4096;
#if defined(__linux__) && defined(BLKSSZGET)
	int lbs = 0;
	if (S_ISBLK(st->st_mode) && ioctl(fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
		a = (uint32_t)lbs;
#else
	(void)fd;
#endif
	d->mem_align = d->offset_align = d->read_offset_align = a;
}

int cport__os_dio_query(cport_fd fd, cport_dio_info *d)
{
	int fl = fcntl(fd, F_GETFL);
	struct stat st;
	if (fl < 0 || fstat(fd, &st) < 0)
		return (int)neg_errno();
#ifdef O_DIRECT
	if (fl & O_DIRECT)
		d->flags |= CPORT_DIO_DIRECT;
#endif
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return 0; /* no direct I/O on pipes, sockets, terminals, directories */
#if defined(__linux__) && defined(SYS_statx)
	if (unix_dio_statx(fd, d))
		return 0;
#endif
	unix_dio_guess(fd, &st, d);
	return 0;
}
