/* SPDX-License-Identifier: MIT */
/* The kqueue poller under the reactor adapter (BSD, macOS); UNTESTED: no such machine here. */

/*
 * Built only where <sys/event.h> exists (meson.build). Nothing in CI runs it: keep it
 * small and obvious. Each side is its own filter with EV_ONESHOT, so a report removes
 * that filter only; the reactor re-arms what still waits and ignores spurious reports.
 * The wake is a non-blocking self-pipe (EVFILT_USER is not on every BSD).
 */

#include "../internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/event.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#define KQ_MAX_EVENTS 256

struct kq_poller {
	int kq;
	int wake[2];
	struct kevent evs[KQ_MAX_EVENTS];
};

static int kq_init(void **pp, bool shared, char *why, size_t n)
{
	/* A shared port's leader would call kevent() unlocked while others change the
	 * list: the kernel allows it, but it is not tested here yet (cport.h section 7). */
	if (shared) {
		snprintf(why, n, "kqueue: no shared-port mode yet");
		return CPORT_ENOTSUP;
	}
	struct kq_poller *p = calloc(1, sizeof *p);
	if (!p)
		return CPORT_ENOMEM;
	p->wake[0] = p->wake[1] = -1;
	p->kq = kqueue();
	int err = 0;
	if (p->kq < 0 || pipe(p->wake) < 0) {
		err = -errno;
	} else {
		fcntl(p->kq, F_SETFD, FD_CLOEXEC);
		for (int i = 0; i < 2; i++) {
			fcntl(p->wake[i], F_SETFD, FD_CLOEXEC);
			fcntl(p->wake[i], F_SETFL, fcntl(p->wake[i], F_GETFL) | O_NONBLOCK);
		}
		struct kevent ch;
		EV_SET(&ch, p->wake[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		if (kevent(p->kq, &ch, 1, NULL, 0, NULL) < 0)
			err = -errno;
	}
	if (err < 0) {
		cport__why(why, n, "kqueue", "setup failed", err);
		for (int i = 0; i < 2; i++)
			if (p->wake[i] >= 0)
				close(p->wake[i]);
		if (p->kq >= 0)
			close(p->kq);
		free(p);
		return err;
	}
	*pp = p;
	return 0;
}

static void kq_fini(void *pp)
{
	struct kq_poller *p = pp;
	close(p->wake[0]);
	close(p->wake[1]);
	close(p->kq);
	free(p);
}

static int kq_arm(void *pp, int fd, unsigned events, bool added)
{
	struct kq_poller *p = pp;
	struct kevent ch[2];
	int n = 0;
	(void)added;
	if (events & CPORT__EV_IN)
		EV_SET(&ch[n++], fd, EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	if (events & CPORT__EV_OUT)
		EV_SET(&ch[n++], fd, EVFILT_WRITE, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	return kevent(p->kq, ch, n, NULL, 0, NULL) < 0 ? -errno : 0;
}

static void kq_disarm(void *pp, int fd)
{
	struct kq_poller *p = pp;
	/* One call per filter: a filter that is not there (ENOENT) is fine. */
	static const short filters[2] = {EVFILT_READ, EVFILT_WRITE};
	for (int i = 0; i < 2; i++) {
		struct kevent ch;
		EV_SET(&ch, fd, filters[i], EV_DELETE, 0, 0, NULL);
		(void)kevent(p->kq, &ch, 1, NULL, 0, NULL);
	}
}

static int kq_wait(void *pp, struct cport__pevent *out, unsigned max, int64_t timeout_ns)
{
	struct kq_poller *p = pp;
	struct timespec ts, *tsp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000);
		ts.tv_nsec = (long)(timeout_ns % 1000000000);
		tsp = &ts;
	}
	int cap = max < KQ_MAX_EVENTS ? (int)max : KQ_MAX_EVENTS;
	int n = kevent(p->kq, NULL, 0, p->evs, cap, tsp);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	int k = 0;
	for (int i = 0; i < n; i++) {
		struct kevent *e = &p->evs[i];
		if ((int)e->ident == p->wake[0]) {
			char drain[64];
			while (read(p->wake[0], drain, sizeof drain) > 0)
				;
			continue;
		}
		unsigned ev = e->filter == EVFILT_READ ? CPORT__EV_IN : CPORT__EV_OUT;
		if (e->flags & EV_ERROR)
			ev |= CPORT__EV_ERR;
		out[k++] = (struct cport__pevent){.fd = (int)e->ident, .events = ev};
	}
	return k;
}

static void kq_wake(void *pp)
{
	struct kq_poller *p = pp;
	ssize_t r = write(p->wake[1], "", 1); /* a full pipe: a wake is pending anyway */
	(void)r;
}

const struct cport__poller cport__kqueue_poller = {
	.name = "kqueue",
	.init = kq_init,
	.fini = kq_fini,
	.arm = kq_arm,
	.disarm = kq_disarm,
	.wait = kq_wait,
	.wake = kq_wake,
};
