/* SPDX-License-Identifier: MIT */
/* The limit for readiness backends: raw epoll loops, non-blocking sockets, try first. */

/*
 * The loops a tuned epoll program runs: descriptors registered once, level-triggered
 * EPOLLIN; a 64-byte write is tried at once (it fits the socket buffer) instead of
 * waiting for EPOLLOUT; a readable socket is read until the message is whole or EAGAIN.
 */

#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

enum { RE_CLIENT = 0, RE_SERVER = 1, RE_IDLE = 2, RE_MASK = 3 };

struct reconn {
	int c, s;
	unsigned cgot, sgot;
	double t0;
	char cbuf[MSG_SIZE], sbuf[MSG_SIZE], msg[MSG_SIZE];
};

struct reecho {
	int ep;
	struct reconn *conns;
	uint64_t n, started, done;
	double *lat;
};

static int re_add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int re_send(int fd, const char *buf)
{
	ssize_t w = write(fd, buf, MSG_SIZE);
	return w == MSG_SIZE ? 0 : w < 0 ? -errno : -EIO;
}

static int re_start_rt(struct reecho *e, struct reconn *c)
{
	e->started++;
	c->t0 = now_ns();
	return re_send(c->c, c->msg);
}

/* A readable end: read what is there; a whole message is echoed or completes a round trip. */
static int re_readable(struct reecho *e, struct reconn *c, bool client)
{
	unsigned *got = client ? &c->cgot : &c->sgot;
	char *buf = client ? c->cbuf : c->sbuf;
	ssize_t r = read(client ? c->c : c->s, buf + *got, MSG_SIZE - *got);
	if (r < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (r == 0)
		return -ECONNRESET;
	if ((*got += (unsigned)r) < MSG_SIZE)
		return 0;
	*got = 0;
	if (!client)
		return re_send(c->s, c->sbuf);
	if (e->lat)
		e->lat[e->done] = now_ns() - c->t0;
	e->done++;
	return e->started < e->n ? re_start_rt(e, c) : 0;
}

static int re_echo_loop(struct reecho *e, unsigned nconns)
{
	int r = 0;
	for (unsigned i = 0; i < nconns && r == 0 && e->started < e->n; i++)
		r = re_start_rt(e, &e->conns[i]);
	struct epoll_event evs[128];
	while (e->done < e->n && r == 0) {
		int k = epoll_wait(e->ep, evs, 128, -1);
		if (k < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < k && r == 0; i++) {
			unsigned role = (unsigned)(evs[i].data.u64 & RE_MASK);
			struct reconn *c = (void *)(uintptr_t)(evs[i].data.u64 & ~(uint64_t)RE_MASK);
			r = role == RE_IDLE ? -EIO : re_readable(e, c, role == RE_CLIENT);
		}
	}
	return r;
}

static int re_register(struct reecho *e, const struct net_set *ns)
{
	int r = 0;
	for (unsigned i = 0; i < ns->busy && r == 0; i++) {
		struct reconn *c = &e->conns[i];
		c->c = ns->cfd[i];
		c->s = ns->sfd[i];
		memset(c->msg, 'a' + (int)(i % 26), MSG_SIZE);
		r = re_add(e->ep, c->c, EPOLLIN, (uint64_t)(uintptr_t)c | RE_CLIENT);
		if (r == 0)
			r = re_add(e->ep, c->s, EPOLLIN, (uint64_t)(uintptr_t)c | RE_SERVER);
	}
	for (unsigned i = 0; i < ns->idle && r == 0; i++)
		r = re_add(e->ep, ns->sfd[ns->busy + i], EPOLLIN, RE_IDLE);
	return r;
}

static int re_echo(const struct job *job, struct sample *s, unsigned nconns, unsigned idle)
{
	struct net_set ns;
	int r = net_set_open(&ns, nconns, idle, true);
	if (r < 0)
		return bench_fail(s, r, "connect");
	struct reecho e = {.n = job->n, .ep = epoll_create1(EPOLL_CLOEXEC)};
	e.conns = calloc(nconns, sizeof *e.conns);
	e.lat = calloc(job->n, sizeof *e.lat);
	r = e.ep < 0 ? -errno : re_register(&e, &ns);
	struct meter m;
	meter_start(&m);
	if (r == 0 && (r = re_echo_loop(&e, nconns)) == 0) {
		meter_stop(&m, s, e.done);
		latency_percentiles(e.lat, e.done, s);
	}
	if (e.ep >= 0)
		close(e.ep);
	net_set_close(&ns);
	free(e.conns);
	free(e.lat);
	return r < 0 ? bench_fail(s, r, "echo") : 0;
}

int ref_epoll_ping_pongs(const struct job *job, struct sample *s)
{
	return re_echo(job, s, 1, 0);
}

int ref_epoll_tcp_echo(const struct job *job, struct sample *s)
{
	return re_echo(job, s, ECHO_CONNS, job->param);
}

/* ---- tcp-pump ---------------------------------------------------------------------- */

struct repump {
	int cfd, sfd;
	char *wbuf, *rbuf;
	uint64_t total, sent, got; /* bytes */
	uint32_t chunk;
};

/* Write the rest of the current chunk (64 KiB; large-send: its size), stopping at its end or at EAGAIN: one
 * chunk in flight, as the cport rows have one write op in flight. */
static int repump_write(struct repump *p)
{
	while (p->sent < p->total) {
		size_t off = (size_t)(p->sent % p->chunk);
		ssize_t w = write(p->cfd, p->wbuf + off, p->chunk - off);
		if (w < 0)
			return errno == EAGAIN ? 0 : -errno;
		p->sent += (uint64_t)w;
		if (p->sent % p->chunk == 0)
			return 0;
	}
	return 0;
}

/* One read of up to a chunk per readiness report (level-triggered), as one read op. */
static int repump_read(struct repump *p)
{
	ssize_t r = read(p->sfd, p->rbuf, p->chunk);
	if (r < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (r == 0)
		return -ECONNRESET;
	p->got += (uint64_t)r;
	return 0;
}

/* Each turn: move the writer on by up to one chunk, then wait; the reader reads when
 * told. The writer's EPOLLOUT is edge-triggered, so it only wakes us after EAGAIN. */
static int repump_loop(struct repump *p, int ep)
{
	int r = 0;
	struct epoll_event evs[4];
	while (p->got < p->total && r == 0) {
		if ((r = repump_write(p)) < 0)
			break;
		int k = epoll_wait(ep, evs, 4, -1);
		if (k < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < k && r == 0; i++)
			if (evs[i].data.u32 == 2)
				r = repump_read(p);
	}
	return r;
}

static int repump_run(const struct job *job, struct sample *s, uint32_t chunk)
{
	struct net_set ns;
	int r = net_set_open(&ns, 1, 0, true);
	if (r < 0)
		return bench_fail(s, r, "connect");
	struct repump p = {.cfd = ns.cfd[0], .sfd = ns.sfd[0], .total = job->n * chunk,
			   .chunk = chunk};
	p.wbuf = calloc(1, chunk);
	p.rbuf = malloc(chunk);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	r = ep < 0 ? -errno : re_add(ep, p.cfd, EPOLLOUT | EPOLLET, 1);
	if (r == 0)
		r = re_add(ep, p.sfd, EPOLLIN, 2);
	struct meter m;
	meter_start(&m);
	if (r == 0 && (r = repump_loop(&p, ep)) == 0)
		meter_stop(&m, s, job->n);
	if (ep >= 0)
		close(ep);
	net_set_close(&ns);
	free(p.wbuf);
	free(p.rbuf);
	return r < 0 ? bench_fail(s, r, "pump") : 0;
}

int ref_epoll_tcp_pump(const struct job *job, struct sample *s)
{
	return repump_run(job, s, PUMP_CHUNK);
}

int ref_epoll_large_send(const struct job *job, struct sample *s)
{
	if (job->param == 0 || job->param > LARGE_SEND_MAX)
		return bench_fail(s, -EINVAL, "large-send size");
	return repump_run(job, s, job->param);
}
