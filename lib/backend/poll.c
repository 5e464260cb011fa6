/* SPDX-License-Identifier: MIT */
/* The poll(2) poller under the reactor adapter (any POSIX system). */

/*
 * The pollfd array holds only armed descriptors, the wake descriptor always in slot 0.
 * A reported descriptor is swapped out of the array (one-shot, as on kqueue; epoll's
 * interest is sticky instead), and a map from descriptor to slot makes arm and disarm
 * O(1). Each wait still costs O(armed descriptors) in the kernel and here: that is
 * poll(2), and why epoll or kqueue are preferred where they exist. Both arrays grow
 * by doubling. The wake is an eventfd on Linux and a non-blocking self-pipe elsewhere.
 * A shared port's poller (lib/shared.c) is armed by any thread under the port's mutex
 * while its leader polls without it: the arrays then change under the poller's own
 * mutex, the leader polls a copy of the pollfd array, and an arm while it polls wakes
 * it to poll again with the change (docs/design.md "Shared ports").
 */

#include "../internal.h"
#include "../unix.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

struct poll_poller {
	struct pollfd *fds; /* fds[0]: the wake descriptor; then the armed ones */
	uint32_t n, cap;
	uint32_t *slot;     /* slot[fd]: index in fds + 1, or 0 when not armed */
	uint32_t nslot;
	int wake_rd, wake_wr;
	bool shared;           /* a shared port's: the fields above change under `mu` */
	bool polling;          /* shared: the leader polls `copy` now */
	pthread_mutex_t mu;
	struct pollfd *copy;   /* shared: what the leader polls */
	uint32_t copy_cap;
};

static int poll_wake_open(struct poll_poller *p)
{
#ifdef __linux__
	p->wake_rd = p->wake_wr = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return p->wake_rd < 0 ? -errno : 0;
#else
	int fds[2];
	if (pipe(fds) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
	}
	p->wake_rd = fds[0];
	p->wake_wr = fds[1];
	return 0;
#endif
}

static void poll_fini_wake(struct poll_poller *p)
{
	if (p->wake_wr != p->wake_rd)
		close(p->wake_wr);
	close(p->wake_rd);
}

static void poll_fini(void *pp)
{
	struct poll_poller *p = pp;
	poll_fini_wake(p);
	if (p->shared)
		pthread_mutex_destroy(&p->mu);
	free(p->copy);
	free(p->fds);
	free(p->slot);
	free(p);
}

static int poll_init(void **pp, bool shared, char *why, size_t n)
{
	struct poll_poller *p = calloc(1, sizeof *p);
	if (!p)
		return CPORT_ENOMEM;
	p->cap = 64;
	p->fds = malloc(p->cap * sizeof *p->fds);
	int err = p->fds ? poll_wake_open(p) : CPORT_ENOMEM;
	if (err == 0 && shared && pthread_mutex_init(&p->mu, NULL) != 0) {
		poll_fini_wake(p);
		err = CPORT_ENOMEM;
	}
	p->shared = shared;
	if (err < 0) {
		cport__why(why, n, "poll", "wake setup failed", err);
		free(p->fds);
		free(p);
		return err;
	}
	p->fds[0] = (struct pollfd){.fd = p->wake_rd, .events = POLLIN};
	p->n = 1;
	*pp = p;
	return 0;
}

static int poll_grow(struct poll_poller *p, int fd)
{
	if ((uint32_t)fd >= p->nslot) {
		uint64_t m = p->nslot ? p->nslot : 64;
		while (m <= (uint64_t)fd)
			m *= 2;
		uint32_t *slot = realloc(p->slot, (size_t)m * sizeof *slot);
		if (!slot)
			return CPORT_ENOMEM;
		memset(slot + p->nslot, 0, (size_t)(m - p->nslot) * sizeof *slot);
		p->slot = slot;
		p->nslot = (uint32_t)m;
	}
	if (p->n == p->cap) {
		struct pollfd *fds = realloc(p->fds, (size_t)p->cap * 2 * sizeof *fds);
		if (!fds)
			return CPORT_ENOMEM;
		p->fds = fds;
		p->cap *= 2;
	}
	return 0;
}

static void poll_wake(void *pp);

static int poll_arm_fd(struct poll_poller *p, int fd, unsigned events)
{
	int err = poll_grow(p, fd);
	if (err < 0)
		return err;
	if (p->slot[fd] == 0) {
		p->fds[p->n] = (struct pollfd){.fd = fd};
		p->slot[fd] = ++p->n;
	}
	struct pollfd *pfd = &p->fds[p->slot[fd] - 1];
	pfd->events = (short)((events & CPORT__EV_IN ? POLLIN : 0) |
			      (events & CPORT__EV_OUT ? POLLOUT : 0));
	return 0;
}

static int poll_arm(void *pp, int fd, unsigned events, bool added)
{
	struct poll_poller *p = pp;
	(void)added;
	if (!p->shared)
		return poll_arm_fd(p, fd, events);
	pthread_mutex_lock(&p->mu);
	int err = poll_arm_fd(p, fd, events);
	if (err == 0 && p->polling)
		poll_wake(p); /* the leader's copy lacks it: poll again */
	pthread_mutex_unlock(&p->mu);
	return err;
}

/* Take slot i (> 0) out of the array: the last one moves into it. */
static void poll_remove(struct poll_poller *p, uint32_t i)
{
	assert(i > 0 && i < p->n);
	p->slot[p->fds[i].fd] = 0;
	if (i != --p->n) {
		p->fds[i] = p->fds[p->n];
		p->slot[p->fds[i].fd] = i + 1;
	}
}

static void poll_disarm(void *pp, int fd)
{
	struct poll_poller *p = pp;
	if (p->shared)
		pthread_mutex_lock(&p->mu);
	if ((uint32_t)fd < p->nslot && p->slot[fd])
		poll_remove(p, p->slot[fd] - 1);
	if (p->shared)
		pthread_mutex_unlock(&p->mu);
}

/* What poll(2) reported in `set` (the array itself, or a shared port's copy of it):
 * drain the wake, report each descriptor still armed and take it out (one-shot). */
static unsigned poll_collect(struct poll_poller *p, const struct pollfd *set, uint32_t n,
			     struct cport__pevent *out, unsigned max)
{
	if (set[0].revents) {
		uint64_t drain[8];
		while (read(p->wake_rd, drain, sizeof drain) > 0 && p->wake_rd != p->wake_wr)
			;
	}
	/* Backwards, so that a removal only moves an already visited slot. Those left
	 * over when `out` is full stay armed and are reported by the next wait. A copy's
	 * descriptor disarmed while the leader polled is not armed any more: dropped. */
	unsigned k = 0;
	for (uint32_t i = n - 1; i > 0 && k < max; i--) {
		short re = set[i].revents;
		int fd = set[i].fd;
		if (!re || (uint32_t)fd >= p->nslot || !p->slot[fd])
			continue;
		unsigned ev = 0;
		ev |= re & POLLIN ? CPORT__EV_IN : 0u;
		ev |= re & POLLOUT ? CPORT__EV_OUT : 0u;
		ev |= re & (POLLERR | POLLHUP | POLLNVAL) ? CPORT__EV_ERR : 0u;
		out[k++] = (struct cport__pevent){.fd = fd, .events = ev};
		poll_remove(p, p->slot[fd] - 1);
	}
	return k;
}

/* A shared port's leader: poll a copy taken under the mutex, without it. */
static int poll_wait_copy(struct poll_poller *p, struct cport__pevent *out, unsigned max,
			  int ms)
{
	pthread_mutex_lock(&p->mu);
	uint32_t n = p->n;
	if (n > p->copy_cap) {
		struct pollfd *c = realloc(p->copy, (size_t)p->cap * sizeof *c);
		if (!c) {
			pthread_mutex_unlock(&p->mu);
			return CPORT_ENOMEM;
		}
		p->copy = c;
		p->copy_cap = p->cap;
	}
	memcpy(p->copy, p->fds, (size_t)n * sizeof *p->copy);
	p->polling = true;
	pthread_mutex_unlock(&p->mu);
	int r = cport__sys.poll(p->copy, n, ms);
	int err = r < 0 ? errno : 0;
	pthread_mutex_lock(&p->mu);
	p->polling = false;
	unsigned k = r > 0 ? poll_collect(p, p->copy, n, out, max) : 0;
	pthread_mutex_unlock(&p->mu);
	if (r < 0)
		return err == EINTR ? 0 : -err;
	return (int)k;
}

static int poll_wait_events(void *pp, struct cport__pevent *out, unsigned max,
			    int64_t timeout_ns)
{
	struct poll_poller *p = pp;
	int ms = (int)cport__timeout_ms(timeout_ns, INT_MAX);
	if (p->shared)
		return poll_wait_copy(p, out, max, ms);
	int r = cport__sys.poll(p->fds, p->n, ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return (int)poll_collect(p, p->fds, p->n, out, max);
}

static void poll_wake(void *pp)
{
	struct poll_poller *p = pp;
	uint64_t one = 1;
	/* eventfd: 8 bytes; pipe: any byte. A full pipe or saturated counter means a wake
	 * is pending anyway. */
	ssize_t r = write(p->wake_wr, &one, p->wake_wr == p->wake_rd ? sizeof one : 1);
	(void)r;
}

const struct cport__poller cport__poll_poller = {
	.name = "poll",
	.init = poll_init,
	.fini = poll_fini,
	.arm = poll_arm,
	.disarm = poll_disarm,
	.wait = poll_wait_events,
	.wake = poll_wake,
};
