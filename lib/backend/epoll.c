/* SPDX-License-Identifier: MIT */
/* The epoll poller under the reactor adapter (Linux). */

/*
 * Level-triggered and sticky (struct cport__poller in internal.h): a descriptor is added
 * once, when an op first waits on it, and stays registered for what its ops wait for.
 * A descriptor that goes busy, idle and busy again on the same side (a read per
 * message) then costs no epoll_ctl at all; the interest changes (EPOLL_CTL_MOD) only
 * when a report finds nothing waiting for it (the reactor drops that side, or removes
 * the descriptor with EPOLL_CTL_DEL) or an op waits for a side not armed yet.
 * Level rather than edge triggering: no edge has to be remembered while no op waits,
 * and readiness is re-reported for as long as it holds, so the reactor may wait for a
 * report instead of trying an op it expects to find not ready (a wrong guess costs one
 * epoll_wait, never a hang).
 * The price: a registration is not re-checked before each wait, so a descriptor closed
 * behind cport's back (not with cport_close, which removes it) and its number reused
 * is not seen as a new file (documented in cport.h, as for IOCP's handles).
 * The wake is an eventfd, level-triggered, drained on report.
 */

#include "../internal.h"
#include "../unix.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EPOLL_MAX_EVENTS 256
#define EPOLL_WAKE_TAG UINT64_MAX /* data.u64 of the wake eventfd; descriptors are >= 0 */

struct epoll_poller {
	int epfd;
	int efd;
	struct epoll_event evs[EPOLL_MAX_EVENTS];
};

static int epoll_init(void **pp, bool shared, char *why, size_t n)
{
	(void)shared; /* epoll_wait runs beside other threads' epoll_ctl as it is */
	struct epoll_poller *p = calloc(1, sizeof *p);
	if (!p)
		return CPORT_ENOMEM;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->efd = p->epfd < 0 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EPOLL_WAKE_TAG};
	if (p->epfd < 0 || p->efd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->efd, &ev) < 0) {
		int err = -errno;
		cport__why(why, n, "epoll", p->epfd < 0 ? "epoll_create1 failed" : "wake setup failed",
			   err);
		if (p->efd >= 0)
			close(p->efd);
		if (p->epfd >= 0)
			close(p->epfd);
		free(p);
		return err;
	}
	*pp = p;
	return 0;
}

static void epoll_fini(void *pp)
{
	struct epoll_poller *p = pp;
	close(p->efd);
	close(p->epfd);
	free(p);
}

static int epoll_arm(void *pp, int fd, unsigned events, bool added)
{
	struct epoll_poller *p = pp;
	struct epoll_event ev = {.events = 0, .data.u64 = (uint64_t)fd};
	ev.events |= events & CPORT__EV_IN ? EPOLLIN : 0u;
	ev.events |= events & CPORT__EV_OUT ? EPOLLOUT : 0u;
	int r = cport__sys.epoll_ctl(p->epfd, added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
	if (r < 0 && errno == (added ? ENOENT : EEXIST))
		r = cport__sys.epoll_ctl(p->epfd, added ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
	return r < 0 ? -errno : 0;
}

static void epoll_disarm(void *pp, int fd)
{
	struct epoll_poller *p = pp;
	/* ENOENT or EBADF: already gone, which is what we want. */
	(void)cport__sys.epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static int epoll_timeout_ms(int64_t ns)
{
	return (int)cport__timeout_ms(ns, INT_MAX);
}

static int epoll_wait_events(void *pp, struct cport__pevent *out, unsigned max,
			     int64_t timeout_ns)
{
	struct epoll_poller *p = pp;
	int cap = max < EPOLL_MAX_EVENTS ? (int)max : EPOLL_MAX_EVENTS;
	int n = cport__sys.epoll_wait(p->epfd, p->evs, cap, epoll_timeout_ms(timeout_ns));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	int k = 0;
	for (int i = 0; i < n; i++) {
		struct epoll_event *e = &p->evs[i];
		if (e->data.u64 == EPOLL_WAKE_TAG) {
			uint64_t v;
			ssize_t r = read(p->efd, &v, sizeof v);
			(void)r; /* EAGAIN: another reader drained it; nothing else can fail */
			continue;
		}
		unsigned ev = 0;
		ev |= e->events & EPOLLIN ? CPORT__EV_IN : 0u;
		ev |= e->events & EPOLLOUT ? CPORT__EV_OUT : 0u;
		ev |= e->events & (EPOLLERR | EPOLLHUP) ? CPORT__EV_ERR : 0u;
		out[k++] = (struct cport__pevent){.fd = (int)e->data.u64, .events = ev};
	}
	return k;
}

static void epoll_wake(void *pp)
{
	struct epoll_poller *p = pp;
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: a wake is pending anyway. */
	ssize_t r = write(p->efd, &one, sizeof one);
	(void)r;
}

const struct cport__poller cport__epoll_poller = {
	.name = "epoll",
	.sticky = true,
	.init = epoll_init,
	.fini = epoll_fini,
	.arm = epoll_arm,
	.disarm = epoll_disarm,
	.wait = epoll_wait_events,
	.wake = epoll_wake,
};
