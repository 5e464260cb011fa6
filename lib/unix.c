/* SPDX-License-Identifier: MIT */
/* Unix system calls shared by the backends: flag translation, stat, blocking ops, sockets. */

#include "internal.h"
#include "unix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
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
	char *p = x->buf ? (char *)x->buf + x->done : NULL; /* no NULL + 0 */
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
		if (cport__op_moved(x, (uint64_t)n))
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
	if ((uint64_t)n == x->len || n == 0 || (rd && x->offset < 0))
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

static int sock_name(cport_fd fd, cport_addr *a, bool peer)
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

int cport_sock_local(cport_fd fd, cport_addr *a)
{
	return sock_name(fd, a, false);
}

int cport_sock_peer(cport_fd fd, cport_addr *a)
{
	return sock_name(fd, a, true);
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

int cport_tcp_listen(cport_fd *out, const cport_addr *a, int backlog, uint32_t flags)
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

int cport_tcp_socket(cport_fd *out, int family)
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

int cport_udp_socket(cport_fd *out, const cport_addr *a, uint32_t flags)
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

int cport_local_listen(cport_fd *out, const char *name, int backlog)
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

int cport_local_connect(cport_fd *out, const char *name)
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

int cport_sock_nodelay(cport_fd fd, int on)
{
	return sock_setopt(fd, IPPROTO_TCP, TCP_NODELAY, !!on);
}

int cport_sock_keepalive(cport_fd fd, int on, uint32_t idle_s)
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

int cport_sock_close(cport_fd fd)
{
	if (fd < 0)
		return CPORT_EBADF;
	/* Every port must see that the number may be reused (fdstate.c). */
	cport__fd_gen_bump(fd);
	/* Linux frees the descriptor even when close fails: never retry on EINTR. */
	return close(fd) < 0 && errno != EINTR ? (int)neg_errno() : 0;
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

bool cport__os_fd_valid(cport_fd fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}
