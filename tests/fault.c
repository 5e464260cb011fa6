/* SPDX-License-Identifier: MIT */
/* Fault injection through the library's system-call table: the wrappers and their schedule. */

#include "fault.h"
#include "helpers.h"

#ifdef __linux__

#include "internal.h"
#include "unix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

void (*tf_on_sent)(int fd, const void *p, size_t n);

static struct cport__syscalls real;
static bool installed;
static atomic_uint tf_mask, tf_per_mille;
static atomic_uint_fast64_t tf_seed, tf_calls, tf_counts[TF_CLASSES];

static const char *const names[TF_CLASSES] = {"ENOMEM", "EINTR",      "EAGAIN",
					      "short", "ECONNRESET", "EIO"};
static const int errnos[TF_CLASSES] = {ENOMEM, EINTR, EAGAIN, 0, ECONNRESET, EIO};

const char *tf_name(enum tf_class c)
{
	return names[c];
}

int tf_errno(enum tf_class c)
{
	return errnos[c];
}

#define B(c) (1u << (c))
/* What fits each kind of call. */
#define FIT_FILE (B(TF_ENOMEM) | B(TF_EINTR) | B(TF_EAGAIN) | B(TF_SHORT) | B(TF_EIO))
#define FIT_SOCK (B(TF_ENOMEM) | B(TF_EINTR) | B(TF_EAGAIN) | B(TF_SHORT) | B(TF_ECONNRESET))

static uint64_t mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15u;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* The draw for one call: the class to inject (counted), or -1. *h gets the draw's
 * randomness, for the length of a short transfer. */
static int draw(unsigned fits, uint64_t *h)
{
	unsigned m = atomic_load_explicit(&tf_mask, memory_order_relaxed) & fits;
	if (!m)
		return -1;
	uint64_t n = atomic_fetch_add_explicit(&tf_calls, 1, memory_order_relaxed);
	uint64_t r = mix(atomic_load_explicit(&tf_seed, memory_order_relaxed) ^ mix(n));
	if (r % 1000 >= atomic_load_explicit(&tf_per_mille, memory_order_relaxed))
		return -1;
	unsigned k = (unsigned)__builtin_popcount(m), pick = (unsigned)((r >> 20) % k);
	int c = 0;
	for (;; c++)
		if ((m & B(c)) && pick-- == 0)
			break;
	atomic_fetch_add_explicit(&tf_counts[c], 1, memory_order_relaxed);
	*h = r >> 32;
	return c;
}

static unsigned fit_len(unsigned fits, size_t n)
{
	return n >= 2 ? fits : fits & ~B(TF_SHORT);
}

/* A length from 1 to n - 1. */
static size_t cut(size_t n, uint64_t h)
{
	return 1 + (size_t)(h % (n - 1));
}

static ssize_t inject_fail(int c)
{
	errno = errnos[c];
	return -1;
}

static size_t iov_len(const struct iovec *iov, int cnt)
{
	size_t n = 0;
	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

enum { IOV_CAP = 64 };

/* The first `want` bytes of `iov` (at most IOV_CAP elements) in `out`; their count. */
static int iov_cut(const struct iovec *iov, int cnt, struct iovec *out, size_t want)
{
	int k = 0;
	for (int i = 0; i < cnt && k < IOV_CAP && want > 0; i++) {
		out[k] = iov[i];
		if (out[k].iov_len > want)
			out[k].iov_len = want;
		want -= out[k++].iov_len;
	}
	return k;
}

static void sent(int fd, const struct iovec *iov, int cnt, ssize_t n)
{
	for (int i = 0; i < cnt && n > 0; i++) {
		size_t k = iov[i].iov_len < (size_t)n ? iov[i].iov_len : (size_t)n;
		if (k)
			tf_on_sent(fd, iov[i].iov_base, k);
		n -= (ssize_t)k;
	}
}

static ssize_t w_read(int fd, void *buf, size_t n)
{
	uint64_t h;
	int c = draw(fit_len(FIT_FILE, n), &h);
	if (c == TF_SHORT)
		return real.read(fd, buf, cut(n, h));
	return c >= 0 ? inject_fail(c) : real.read(fd, buf, n);
}

static ssize_t w_write(int fd, const void *buf, size_t n)
{
	uint64_t h;
	int c = draw(fit_len(FIT_FILE, n), &h);
	if (c >= 0 && c != TF_SHORT)
		return inject_fail(c);
	ssize_t r = real.write(fd, buf, c == TF_SHORT ? cut(n, h) : n);
	if (r > 0 && tf_on_sent)
		tf_on_sent(fd, buf, (size_t)r);
	return r;
}

/* readv, writev and their positional forms: `kind` 0 readv, 1 writev, 2 preadv, 3
 * pwritev, 4 preadv2, 5 pwritev2. */
static ssize_t vec(int kind, int fd, const struct iovec *iov, int cnt, off_t off, int fl)
{
	uint64_t h;
	size_t n = iov_len(iov, cnt);
	int c = draw(fit_len(FIT_FILE, n), &h);
	if (c >= 0 && c != TF_SHORT)
		return inject_fail(c);
	struct iovec part[IOV_CAP];
	if (c == TF_SHORT) {
		cnt = iov_cut(iov, cnt, part, cut(n, h));
		iov = part;
	}
	ssize_t r;
	switch (kind) {
	case 0: r = real.readv(fd, iov, cnt); break;
	case 1: r = real.writev(fd, iov, cnt); break;
	case 2: r = real.preadv(fd, iov, cnt, off); break;
	case 3: r = real.pwritev(fd, iov, cnt, off); break;
	case 4: r = real.preadv2(fd, iov, cnt, off, fl); break;
	default: r = real.pwritev2(fd, iov, cnt, off, fl); break;
	}
	if (r > 0 && (kind == 1) && tf_on_sent)
		sent(fd, iov, cnt, r);
	return r;
}

static ssize_t w_readv(int fd, const struct iovec *iov, int cnt)
{
	return vec(0, fd, iov, cnt, 0, 0);
}

static ssize_t w_writev(int fd, const struct iovec *iov, int cnt)
{
	return vec(1, fd, iov, cnt, 0, 0);
}

static ssize_t w_preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return vec(2, fd, iov, cnt, off, 0);
}

static ssize_t w_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return vec(3, fd, iov, cnt, off, 0);
}

static ssize_t w_preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int fl)
{
	return vec(4, fd, iov, cnt, off, fl);
}

static ssize_t w_pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int fl)
{
	return vec(5, fd, iov, cnt, off, fl);
}

static ssize_t w_recv(int fd, void *buf, size_t n, int flags)
{
	uint64_t h;
	int c = draw(fit_len(FIT_SOCK, n), &h);
	if (c == TF_SHORT)
		return real.recv(fd, buf, cut(n, h), flags);
	return c >= 0 ? inject_fail(c) : real.recv(fd, buf, n, flags);
}

static ssize_t w_send(int fd, const void *buf, size_t n, int flags)
{
	uint64_t h;
	int c = draw(fit_len(FIT_SOCK, n), &h);
	if (c >= 0 && c != TF_SHORT)
		return inject_fail(c);
	ssize_t r = real.send(fd, buf, c == TF_SHORT ? cut(n, h) : n, flags);
	if (r > 0 && tf_on_sent)
		tf_on_sent(fd, buf, (size_t)r);
	return r;
}

/* A short message call: the same msghdr over fewer bytes (stream sockets only: a
 * datagram cut short would be another datagram). */
static ssize_t msg(bool out, int fd, struct msghdr *mh, int flags)
{
	uint64_t h;
	size_t n = iov_len(mh->msg_iov, (int)mh->msg_iovlen);
	int c = draw(fit_len(FIT_SOCK, n), &h);
	if (c >= 0 && c != TF_SHORT)
		return inject_fail(c);
	struct msghdr m = *mh;
	struct iovec part[IOV_CAP];
	if (c == TF_SHORT) {
		m.msg_iovlen = (size_t)iov_cut(mh->msg_iov, (int)mh->msg_iovlen, part, cut(n, h));
		m.msg_iov = part;
	}
	ssize_t r = out ? real.sendmsg(fd, &m, flags) : real.recvmsg(fd, &m, flags);
	if (!out) {
		mh->msg_namelen = m.msg_namelen;
		mh->msg_controllen = m.msg_controllen;
		mh->msg_flags = m.msg_flags;
	} else if (r > 0 && tf_on_sent) {
		sent(fd, m.msg_iov, (int)m.msg_iovlen, r);
	}
	return r;
}

static ssize_t w_recvmsg(int fd, struct msghdr *mh, int flags)
{
	return msg(false, fd, mh, flags);
}

static ssize_t w_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	return msg(true, fd, (struct msghdr *)mh, flags);
}

static int w_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	uint64_t h;
	int c = draw(B(TF_ENOMEM) | B(TF_EINTR) | B(TF_EAGAIN), &h);
	return c >= 0 ? (int)inject_fail(c) : real.accept4(fd, sa, len, flags);
}

static int w_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int r = real.connect(fd, sa, len);
	uint64_t h;
	/* Only where the kernel would leave the connect going on in the background. */
	if (r < 0 && errno == EINPROGRESS && draw(B(TF_EINTR), &h) == TF_EINTR)
		errno = EINTR;
	return r;
}

static int w_sync(int (*call)(int), int fd)
{
	uint64_t h;
	int c = draw(B(TF_EINTR) | B(TF_EIO), &h);
	return c >= 0 ? (int)inject_fail(c) : call(fd);
}

static int w_fsync(int fd)
{
	return w_sync(real.fsync, fd);
}

static int w_fdatasync(int fd)
{
	return w_sync(real.fdatasync, fd);
}

/* The library always passes open's mode. */
static int w_open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = (mode_t)va_arg(ap, int);
	va_end(ap);
	uint64_t h;
	int c = draw(B(TF_ENOMEM) | B(TF_EINTR), &h);
	return c >= 0 ? (int)inject_fail(c) : real.open(path, flags, mode);
}

static int w_openat(int dir, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = (mode_t)va_arg(ap, int);
	va_end(ap);
	uint64_t h;
	int c = draw(B(TF_ENOMEM) | B(TF_EINTR), &h);
	return c >= 0 ? (int)inject_fail(c) : real.openat(dir, path, flags, mode);
}

static int w_close(int fd)
{
	int r = real.close(fd);
	uint64_t h;
	int c = r == 0 ? draw(B(TF_EINTR) | B(TF_EIO), &h) : -1;
	return c >= 0 ? (int)inject_fail(c) : r;
}

static int w_epoll_ctl(int epfd, int op, int fd, void *ev)
{
	uint64_t h;
	int c = op != 2 /* EPOLL_CTL_DEL */ ? draw(B(TF_ENOMEM), &h) : -1;
	return c >= 0 ? (int)inject_fail(c) : real.epoll_ctl(epfd, op, fd, ev);
}

static int w_epoll_wait(int epfd, void *evs, int max, int ms)
{
	uint64_t h;
	int c = draw(B(TF_EINTR), &h);
	return c >= 0 ? (int)inject_fail(c) : real.epoll_wait(epfd, evs, max, ms);
}

static int w_poll(struct pollfd *fds, nfds_t n, int ms)
{
	uint64_t h;
	int c = draw(B(TF_EINTR), &h);
	return c >= 0 ? (int)inject_fail(c) : real.poll(fds, n, ms);
}

void tf_install(void)
{
	struct cport__syscalls *t = cport__test_syscalls();
	if (installed)
		return;
	real = *t;
	installed = true;
	t->read = w_read;
	t->write = w_write;
	t->readv = w_readv;
	t->writev = w_writev;
	t->preadv = w_preadv;
	t->pwritev = w_pwritev;
	if (real.preadv2) {
		t->preadv2 = w_preadv2;
		t->pwritev2 = w_pwritev2;
	}
	t->recv = w_recv;
	t->send = w_send;
	t->recvmsg = w_recvmsg;
	t->sendmsg = w_sendmsg;
	t->accept4 = w_accept4;
	t->connect = w_connect;
	t->fsync = w_fsync;
	t->fdatasync = w_fdatasync;
	t->open = w_open;
	t->openat = w_openat;
	t->close = w_close;
	t->epoll_ctl = w_epoll_ctl;
	t->epoll_wait = w_epoll_wait;
	t->poll = w_poll;
}

void tf_uninstall(void)
{
	if (!installed)
		return;
	tf_set(0, 0, 0);
	*cport__test_syscalls() = real;
	installed = false;
}

void tf_end(cport **port)
{
	tf_set(0, 0, 0);
	if (*port)
		cport_destroy(*port);
	*port = NULL;
	tf_uninstall();
}

void tf_set(unsigned mask, unsigned per_mille, uint64_t seed)
{
	atomic_store(&tf_seed, seed);
	atomic_store(&tf_per_mille, per_mille);
	atomic_store(&tf_mask, mask);
}

uint64_t tf_count(enum tf_class c)
{
	return atomic_load(&tf_counts[c]);
}

void tf_reset(void)
{
	for (int c = 0; c < TF_CLASSES; c++)
		atomic_store(&tf_counts[c], 0);
}

#endif /* __linux__ */

static void not_here(void **state)
{
	(void)state;
	t_skip("fault injection uses the Unix system-call table, run on Linux only "
	       "(Windows' calls are lib/win.c's own)");
}

int tf_not_here(const char *name)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(not_here)};
	return t_main(name, tests, 1);
}
