/* SPDX-License-Identifier: MIT */
/* Loopback TCP connections made with plain POSIX calls, shared by every network row. */

#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* A listening socket on 127.0.0.1, port chosen by the kernel. */
int net_listen(int *lfd)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*lfd = fd;
	return 0;
}

static void net_tune(int fd, bool nonblock)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* One connection: the client end and the accepted server end, TCP_NODELAY, and
 * O_NONBLOCK when `nonblock` (every event-loop row; the blocking peers say false). */
int net_pair(int lfd, int *cfd, int *sfd, bool nonblock)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	if (getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
		return -errno;
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -errno;
	if (connect(c, (struct sockaddr *)&a, len) < 0) {
		int e = -errno;
		close(c);
		return e;
	}
	int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0) {
		int e = -errno;
		close(c);
		return e;
	}
	net_tune(c, nonblock);
	net_tune(s, nonblock);
	*cfd = c;
	*sfd = s;
	return 0;
}

/* Close with a reset: thousands of connections per run must not pile up in TIME_WAIT. */
void net_close_abort(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	close(fd);
}

/* Raise the soft descriptor limit to `want` (or the hard limit). Returns the limit. */
int net_raise_nofile(unsigned want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 1u << 30 ? 1 << 30 : (int)rl.rlim_cur;
}

/* `busy` connections for the workload and `idle` ones that only sit there. */
int net_set_open(struct net_set *ns, unsigned busy, unsigned idle, bool nonblock)
{
	*ns = (struct net_set){.lfd = -1, .busy = busy, .idle = idle};
	unsigned total = busy + idle;
	ns->cfd = malloc(total * sizeof *ns->cfd);
	ns->sfd = malloc(total * sizeof *ns->sfd);
	int r = ns->cfd && ns->sfd ? net_listen(&ns->lfd) : -ENOMEM;
	for (unsigned i = 0; r == 0 && i < total; i++) {
		r = net_pair(ns->lfd, &ns->cfd[i], &ns->sfd[i], nonblock);
		ns->opened = r == 0 ? i + 1 : i;
	}
	if (r < 0)
		net_set_close(ns);
	return r;
}

void net_set_close(struct net_set *ns)
{
	for (unsigned i = 0; i < ns->opened; i++) {
		net_close_abort(ns->cfd[i]);
		net_close_abort(ns->sfd[i]);
	}
	if (ns->lfd >= 0)
		close(ns->lfd);
	free(ns->cfd);
	free(ns->sfd);
	*ns = (struct net_set){.lfd = -1};
}

/* Hand the connections to an owner that closes them (libuv): reset on close, keep the
 * descriptors open, free the rest. */
void net_set_release(struct net_set *ns)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	for (unsigned i = 0; i < ns->opened; i++) {
		setsockopt(ns->cfd[i], SOL_SOCKET, SO_LINGER, &l, sizeof l);
		setsockopt(ns->sfd[i], SOL_SOCKET, SO_LINGER, &l, sizeof l);
	}
	ns->opened = 0;
	net_set_close(ns);
}
