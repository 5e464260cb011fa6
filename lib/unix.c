/* SPDX-License-Identifier: MIT */
/* Unix system calls shared by the backends: flag translation, stat, and blocking ops. */

#include "internal.h"
#include "unix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

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

/* One read or write at the op's current progress; -errno on failure. */
static int64_t blocking_rw_once(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	char *p = (char *)x->buf + x->done;
	size_t left = (size_t)(x->len - x->done);
	ssize_t n;
	bool rd = x->type == CPORT__READ;
	if (x->offset < 0)
		n = rd ? read(x->fd, p, left) : write(x->fd, p, left);
	else
		n = rd ? pread(x->fd, p, left, (off_t)(x->offset + (int64_t)x->done))
		       : pwrite(x->fd, p, left, (off_t)(x->offset + (int64_t)x->done));
	return n < 0 ? -errno : n;
}

/* Read/write with the contract's rules: positional reads short only at EOF, stream
 * reads return what came, writes all or error. */
static int64_t blocking_rw(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	for (;;) {
		int64_t n = blocking_rw_once(op);
		if (n == -EINTR)
			continue;
		if (n < 0)
			return n;
		x->done += (uint64_t)n;
		bool stream_read = x->type == CPORT__READ && x->offset < 0;
		if (n == 0 || stream_read || x->done == x->len)
			return (int64_t)x->done;
	}
}

/* Vectored I/O: one call for the whole array, then element by element if short. */
static int64_t blocking_rwv(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	const struct iovec *iov = x->buf;
	bool rd = x->type == CPORT__READV;
	ssize_t n;
	do {
		if (x->offset < 0)
			n = rd ? readv(x->fd, iov, (int)x->aux) : writev(x->fd, iov, (int)x->aux);
		else
			n = rd ? preadv(x->fd, iov, (int)x->aux, x->offset)
			       : pwritev(x->fd, iov, (int)x->aux, x->offset);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	uint64_t want = 0;
	for (unsigned i = 0; i < x->aux; i++)
		want += iov[i].iov_len;
	if ((uint64_t)n == want || n == 0 || (rd && x->offset < 0))
		return n;
	/* Short: finish element by element from where the kernel stopped. */
	uint64_t total = (uint64_t)n, skip = (uint64_t)n;
	for (unsigned i = 0; i < x->aux; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		cport_op tmp = {0};
		struct cport__op *t = cport__x(&tmp);
		t->type = rd ? CPORT__READ : CPORT__WRITE;
		t->fd = x->fd;
		t->buf = (char *)iov[i].iov_base + skip;
		t->len = iov[i].iov_len - skip;
		t->offset = x->offset < 0 ? -1 : x->offset + (int64_t)total;
		skip = 0;
		int64_t r = blocking_rw(&tmp);
		if (r < 0)
			return r;
		total += (uint64_t)r;
		if ((uint64_t)r < t->len)
			break; /* end of file */
	}
	return (int64_t)total;
}

static int64_t sys(int r)
{
	return r < 0 ? -errno : r;
}

static int64_t blocking_stat(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct stat st;
	cport_statbuf *out = x->type == CPORT__STAT ? x->buf2 : x->buf;
	int r = x->type == CPORT__STAT ? stat(x->buf, &st) : fstat(x->fd, &st);
	if (r < 0)
		return -errno;
	cport__unix_fill_stat(out, &st);
	return 0;
}

static int64_t blocking_fallocate(struct cport__op *x)
{
#ifdef __linux__
	int mode = x->aux & CPORT_FALLOC_KEEP_SIZE ? FALLOC_FL_KEEP_SIZE : 0;
	return sys(fallocate(x->fd, mode, x->offset, (off_t)x->len));
#else
	if (x->aux & CPORT_FALLOC_KEEP_SIZE)
		return CPORT_ENOTSUP;
	int r = posix_fallocate(x->fd, x->offset, (off_t)x->len);
	return -r;
#endif
}

/* Run an op as a blocking system call; the thread pool's worker body. */
int64_t cport__blocking_run(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	switch ((enum cport__type)x->type) {
	case CPORT__NOP:
		return 0;
	case CPORT__READ:
	case CPORT__WRITE:
		return blocking_rw(op);
	case CPORT__READV:
	case CPORT__WRITEV:
		return blocking_rwv(op);
	case CPORT__FSYNC:
		return sys(x->aux & CPORT_FSYNC_DATA ? fdatasync(x->fd) : fsync(x->fd));
	case CPORT__OPEN:
		return sys(open(x->buf, cport__unix_open_flags(x->aux), (mode_t)x->mode));
	case CPORT__CLOSE:
		return sys(close(x->fd));
	case CPORT__STAT:
	case CPORT__FSTAT:
		return blocking_stat(op);
	case CPORT__FALLOCATE:
		return blocking_fallocate(x);
	case CPORT__FTRUNCATE:
		return sys(ftruncate(x->fd, (off_t)x->len));
	case CPORT__RENAME:
		return sys(rename(x->buf, x->buf2));
	case CPORT__UNLINK:
		return sys(x->aux & CPORT_UNLINK_DIR ? rmdir(x->buf) : unlink(x->buf));
	case CPORT__MKDIR:
		return sys(mkdir(x->buf, (mode_t)x->mode));
	case CPORT__TIMER:
	case CPORT__POST:
	case CPORT__TYPE_MAX:
		break;
	}
	assert(!"op type has no blocking form");
	return CPORT_ENOSYS;
}
