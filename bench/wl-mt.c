/* SPDX-License-Identifier: MIT */
/* Servers on several threads: mt-echo and mt-uneven (issue 11's shared port). */

/*
 * A client thread (the run's main thread, a raw epoll loop) keeps requests of 64 bytes
 * in flight on 64 loopback connections and counts the answers; the server under test
 * answers each request with its bytes, after `work` per request. One op = one request
 * answered. Server rows:
 *   cport B 1 thread     one port, one thread;
 *   cport B shared 2t    one port created with CPORT_OPT_SHARED, two threads in
 *                        cport_wait on it, each continuing whichever connection it got;
 *   cport B 2 ports      two listeners with SO_REUSEPORT (the kernel spreads the
 *                        connections), a port and a thread for each: sharding;
 *   peer asio 2t         Asio, two threads running one io_context (bench/peer-asio.cc).
 * Every cport server keeps one op in flight per connection: a receive into its buffer,
 * then a send of what came, then the next receive.
 * mt-echo: every connection one request at a time, no work (the echo of tcp-echo).
 * mt-uneven: a hot spot. MT_HOT connections keep MT_HOT_DEPTH requests in flight; the
 * other 60 are quiet: one request at a time, and once answered it waits until the
 * client has had MT_QUIET_EVERY more answers from anyone. So the 4 carry about 15/16
 * of the traffic. Each request costs the server MT_WORK rounds of mt_work. Two sharded
 * ports get every hot connection on one of them (mt_load); a shared port does not care
 * where they are. Why quiet and on one port: in a closed loop a sharded thread only
 * idles when its own connections give it nothing to do. With the quiet connections
 * busy (one request always in flight, as until 2026-12-03) the second port was never
 * idle, and two ports beat one thread even with all hot connections on the first.
 * The client runs on the same two vCPUs as the servers: the rows compare servers under
 * the same client, not the machine's limit.
 */

#include "bench.h"
#include "mt.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cport.h>

#define MT_WORK 2000 /* mt_work rounds per request in mt-uneven */
#define MT_QUIET_EVERY 16 /* mt-uneven: a quiet connection's request per this many answers */
#define MT_SHARDS 2

/* ---- 1. Connections --------------------------------------------------------------- */

struct mt_set {
	int lfd[MT_SHARDS];
	unsigned nl;
	int cfd[MT_CONNS];
	int sfd[MT_CONNS];       /* server ends */
	uint8_t shard[MT_CONNS]; /* the listener that accepted each */
	uint8_t cshard[MT_CONNS]; /* the listener that accepted client end i */
};

static int mt_listen(struct mt_set *m, unsigned shards, struct sockaddr_in *a)
{
	int one = 1;
	for (unsigned i = 0; i < shards; i++) {
		/* Non-blocking: mt_open takes what each holds without knowing how many. */
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		m->lfd[m->nl++] = fd;
		if (shards > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)a, sizeof *a) < 0 || listen(fd, 1024) < 0)
			return -errno;
		socklen_t len = sizeof *a;
		if (i == 0 && getsockname(fd, (struct sockaddr *)a, &len) < 0)
			return -errno;
	}
	return 0;
}

static int mt_port_of(int fd, bool peer)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int r = peer ? getpeername(fd, (struct sockaddr *)&a, &len)
		     : getsockname(fd, (struct sockaddr *)&a, &len);
	return r < 0 ? -errno : ntohs(a.sin_port);
}

/* Which listener took each client end: the server end whose peer is its address. */
static int mt_match(struct mt_set *m)
{
	int sport[MT_CONNS];
	for (unsigned s = 0; s < MT_CONNS; s++)
		if ((sport[s] = mt_port_of(m->sfd[s], true)) < 0)
			return sport[s];
	for (unsigned i = 0; i < MT_CONNS; i++) {
		int port = mt_port_of(m->cfd[i], false);
		if (port < 0)
			return port;
		unsigned s = 0;
		while (s < MT_CONNS && sport[s] != port)
			s++;
		if (s == MT_CONNS)
			return -ENOENT;
		m->cshard[i] = m->shard[s];
	}
	return 0;
}

/* 64 connections to `shards` listeners; the server ends are accepted non-blocking. */
static int mt_open(struct mt_set *m, unsigned shards)
{
	memset(m, 0, sizeof *m);
	for (unsigned i = 0; i < MT_CONNS; i++)
		m->cfd[i] = m->sfd[i] = -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int r = mt_listen(m, shards, &a);
	for (unsigned i = 0; r == 0 && i < MT_CONNS; i++) {
		m->cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (m->cfd[i] < 0 || (connect(m->cfd[i], (struct sockaddr *)&a, sizeof a) < 0 &&
				      errno != EINPROGRESS))
			r = -errno;
	}
	/* Every handshake completes in the kernel: take what each listener holds. */
	unsigned got = 0;
	for (int spin = 0; r == 0 && got < MT_CONNS && spin < 100000; spin++) {
		for (unsigned l = 0; l < m->nl && got < MT_CONNS; l++) {
			int s = accept4(m->lfd[l], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (s < 0 && errno != EAGAIN)
				r = -errno;
			if (s < 0)
				continue;
			m->shard[got] = (uint8_t)l;
			m->sfd[got++] = s;
		}
	}
	if (r == 0 && got < MT_CONNS)
		r = -ETIMEDOUT;
	return r == 0 ? mt_match(m) : r;
}

static void mt_close(struct mt_set *m)
{
	for (unsigned i = 0; i < MT_CONNS; i++) {
		if (m->cfd[i] >= 0)
			close(m->cfd[i]);
		if (m->sfd[i] >= 0)
			close(m->sfd[i]);
	}
	for (unsigned l = 0; l < m->nl; l++)
		close(m->lfd[l]);
}

/* ---- 2. The client ---------------------------------------------------------------- */

struct mt_client {
	int ep;
	unsigned depth[MT_CONNS]; /* requests kept in flight on each connection */
	unsigned got[MT_CONNS];   /* bytes of an answer not yet whole */
	unsigned owe[MT_CONNS];   /* requests to send when the socket takes them */
	uint64_t sent, done, n;
	/* mt-uneven: a quiet connection (depth 1) answered waits in this FIFO, and one is
	 * let go per MT_QUIET_EVERY answers of any connection. */
	bool paced;
	unsigned quiet[MT_CONNS];
	unsigned qhead, qlen, tick;
};

static char mt_req[MT_MSG * MT_HOT_DEPTH];

/* Send the requests owed on connection i (up to n in all); what the socket refuses
 * waits for the next pass. */
static int mt_client_send(struct mt_client *c, const struct mt_set *m, unsigned i)
{
	while (c->owe[i] > 0) {
		size_t want = (size_t)c->owe[i] * MT_MSG;
		ssize_t w = send(m->cfd[i], mt_req, want, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (w % MT_MSG != 0) /* 64-byte requests on an empty-ish socket: never split */
			return -EIO;
		c->owe[i] -= (unsigned)(w / MT_MSG);
	}
	return 0;
}

static int mt_client_read(struct mt_client *c, const struct mt_set *m, unsigned i)
{
	static char buf[MT_BUF];
	ssize_t r = recv(m->cfd[i], buf, sizeof buf, MSG_DONTWAIT);
	if (r == 0)
		return -ECONNRESET;
	if (r < 0)
		return errno == EAGAIN ? 0 : -errno;
	c->got[i] += (unsigned)r;
	unsigned whole = c->got[i] / MT_MSG;
	c->got[i] %= MT_MSG;
	c->done += whole;
	if (c->paced && c->depth[i] == 1 && whole) {
		c->quiet[(c->qhead + c->qlen++) % MT_CONNS] = i; /* one in flight: whole is 1 */
	} else {
		for (unsigned k = 0; k < whole && c->sent < c->n; k++, c->sent++)
			c->owe[i]++;
	}
	int e = mt_client_send(c, m, i);
	c->tick += whole;
	while (e == 0 && c->paced && c->tick >= MT_QUIET_EVERY && c->qlen) {
		c->tick -= MT_QUIET_EVERY;
		unsigned q = c->quiet[c->qhead];
		c->qhead = (c->qhead + 1) % MT_CONNS;
		c->qlen--;
		if (c->sent < c->n) {
			c->sent++;
			c->owe[q]++;
			e = mt_client_send(c, m, q);
		}
	}
	if (c->qlen == 0 && c->tick > MT_QUIET_EVERY)
		c->tick = MT_QUIET_EVERY; /* no burst of them later */
	return e;
}

/* Keep the depths in flight until n answers came. */
static int mt_client_run(struct mt_client *c, const struct mt_set *m)
{
	struct epoll_event ev[MT_CONNS];
	int r = 0;
	for (unsigned i = 0; i < MT_CONNS && r == 0; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
		if (epoll_ctl(c->ep, EPOLL_CTL_ADD, m->cfd[i], &e) < 0)
			return -errno;
		for (unsigned k = 0; k < c->depth[i] && c->sent < c->n; k++, c->sent++)
			c->owe[i]++;
		r = mt_client_send(c, m, i);
	}
	while (r == 0 && c->done < c->n) {
		int k = epoll_wait(c->ep, ev, MT_CONNS, 10000);
		if (k < 0 && errno != EINTR)
			return -errno;
		if (k == 0)
			return -ETIMEDOUT; /* a server stopped answering */
		for (int j = 0; j < k && r == 0; j++)
			r = mt_client_read(c, m, ev[j].data.u32);
		for (unsigned i = 0; i < MT_CONNS && r == 0; i++)
			if (c->owe[i])
				r = mt_client_send(c, m, i);
	}
	return r;
}

/* ---- 3. The cport servers --------------------------------------------------------- */

struct mt_conn {
	cport_op op;
	int fd;
	bool sending;
	unsigned carry;
	uint64_t sink;
	char buf[MT_BUF];
};

struct mt_server {
	cport *port;
	struct mt_conn *conns[MT_CONNS];
	unsigned nconns;
	unsigned work;
	pthread_t th;
	cport_op wake;
	atomic_int err;
};

static atomic_bool mt_stopping;

static int mt_conn_next(cport *port, struct mt_conn *c, unsigned work)
{
	cport_op *op = &c->op;
	if (c->sending) {
		c->sending = false;
		if (op->result < 0)
			return (int)op->result;
		return cport_recv(port, op, c->fd, c->buf, sizeof c->buf, 0);
	}
	if (op->result <= 0)
		return op->result < 0 ? (int)op->result : CPORT_ECONNRESET;
	unsigned whole = (c->carry + (unsigned)op->result) / MT_MSG;
	c->carry = (c->carry + (unsigned)op->result) % MT_MSG;
	for (unsigned i = 0; i < whole; i++)
		c->sink = mt_work(work, c->sink);
	c->sending = true;
	return cport_send(port, op, c->fd, c->buf, (size_t)op->result, 0);
}

/* One server thread: continue whichever connection completed, until stopped. */
static void *mt_serve(void *arg)
{
	struct mt_server *sv = arg;
	cport_op *out[MT_CONNS];
	for (;;) {
		int k = cport_wait(sv->port, out, MT_CONNS, -1);
		if (k < 0) {
			if (k != CPORT_ESHUTDOWN && !atomic_load(&mt_stopping))
				atomic_store(&sv->err, k);
			return NULL;
		}
		for (int i = 0; i < k; i++) {
			if (out[i] == &sv->wake)
				return NULL;
			struct mt_conn *c = out[i]->user;
			int r = mt_conn_next(sv->port, c, sv->work);
			if (r < 0 && !atomic_load(&mt_stopping))
				atomic_store(&sv->err, r);
		}
	}
}

static int mt_port(const struct job *job, bool shared, cport **port)
{
	cport_options o;
	cport_options_init(&o);
	o.backend = job->backend;
	o.flags = CPORT_OPT_STRICT | (shared ? CPORT_OPT_SHARED : 0);
	o.concurrency = shared ? job->threads : 0;
	return cport_create(port, &o);
}

/* ---- 4. Runs ---------------------------------------------------------------------- */

struct mt_run {
	struct mt_set m;
	struct mt_client c;
	struct mt_conn *conns;
	struct mt_server sv[MT_SHARDS];
	unsigned nsv, nth;   /* ports, threads in all */
	pthread_t th[MT_SHARDS * 2];
	void *asio;
};

/* The load: mt-echo one request per connection; mt-uneven MT_HOT_DEPTH on MT_HOT of
 * them, the rest paced. Which ones matters only to sharded servers, and there they are
 * all on the first listener: the hot spot, which SO_REUSEPORT's hash makes of four
 * connections one time in eight (and a load that shifts after connections are placed,
 * more often). With 3-1 each port has a hot connection and neither idles. Left to the
 * hash, the row would measure a different split from run to run. */
static void mt_load(struct mt_client *c, const struct mt_set *m, bool uneven, uint64_t n)
{
	unsigned hot = 0;
	for (unsigned i = 0; i < MT_CONNS; i++) {
		bool take = uneven && hot < MT_HOT && m->cshard[i] == 0;
		hot += take;
		c->depth[i] = take ? MT_HOT_DEPTH : 1;
	}
	/* The first listener got fewer than MT_HOT connections: the rest from the other. */
	for (unsigned i = 0; uneven && hot < MT_HOT && i < MT_CONNS; i++)
		if (c->depth[i] == 1) {
			c->depth[i] = MT_HOT_DEPTH;
			hot++;
		}
	c->paced = uneven;
	c->n = n;
}

/* The connections' first receives, on the server (port) each belongs to. */
static int mt_arm(struct mt_run *t, unsigned work)
{
	for (unsigned i = 0; i < MT_CONNS; i++) {
		struct mt_server *sv = &t->sv[t->nsv > 1 ? t->m.shard[i] : 0];
		struct mt_conn *c = &t->conns[i];
		c->fd = t->m.sfd[i];
		c->op.user = c;
		sv->conns[sv->nconns++] = c;
		sv->work = work;
		int r = cport_recv(sv->port, &c->op, c->fd, c->buf, sizeof c->buf, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

static int mt_start(struct mt_run *t, const struct job *job, unsigned work)
{
	bool shared = job->mt == MT_SHARED;
	t->nsv = job->mt == MT_SHARDED ? MT_SHARDS : 1;
	for (unsigned i = 0; i < t->nsv; i++) {
		int r = mt_port(job, shared, &t->sv[i].port);
		if (r < 0)
			return r;
	}
	int r = mt_arm(t, work);
	unsigned per = shared ? job->threads : 1;
	for (unsigned i = 0; r == 0 && i < t->nsv; i++)
		for (unsigned k = 0; r == 0 && k < per; k++, t->nth++)
			if (pthread_create(&t->th[t->nth], NULL, mt_serve, &t->sv[i]) != 0)
				r = -EAGAIN;
	return r;
}

/* Stop the server threads (a shared port: cport_stop; else a post each), join them,
 * destroy the ports: the ops still in flight end there. */
static int mt_stop(struct mt_run *t)
{
	atomic_store(&mt_stopping, true);
	for (unsigned i = 0; i < t->nsv; i++) {
		if (!t->sv[i].port)
			continue;
		if (cport_stop(t->sv[i].port) == CPORT_EINVAL) /* not shared */
			cport_post(t->sv[i].port, &t->sv[i].wake, 0);
	}
	for (unsigned i = 0; i < t->nth; i++)
		pthread_join(t->th[i], NULL);
	int err = 0;
	for (unsigned i = 0; i < t->nsv; i++) {
		if (t->sv[i].port)
			cport_destroy(t->sv[i].port);
		if (atomic_load(&t->sv[i].err) < 0)
			err = atomic_load(&t->sv[i].err);
	}
	if (t->asio)
		mt_asio_stop(t->asio);
	return err;
}

static int mt_measure(struct mt_run *t, struct sample *s)
{
	t->c.ep = epoll_create1(EPOLL_CLOEXEC);
	if (t->c.ep < 0)
		return -errno;
	struct meter mm;
	meter_start(&mm);
	int r = mt_client_run(&t->c, &t->m);
	if (r == 0)
		meter_stop(&mm, s, t->c.done);
	close(t->c.ep);
	return r;
}

/* One run: connections, the server (cport or, with `asio`, the Asio peer), the client
 * until job->n answers, then everything stopped and closed. */
static int mt_run(const struct job *job, struct sample *s, bool uneven, bool asio)
{
	struct mt_run *t = calloc(1, sizeof *t);
	if (!t)
		return bench_fail(s, -ENOMEM, "calloc");
	atomic_store(&mt_stopping, false);
	unsigned work = uneven ? MT_WORK : 0;
	int r = mt_open(&t->m, job->mt == MT_SHARDED ? MT_SHARDS : 1);
	t->conns = calloc(MT_CONNS, sizeof *t->conns);
	if (r == 0 && !t->conns)
		r = -ENOMEM;
	if (r == 0 && asio) {
		t->asio = mt_asio_start(t->m.sfd, MT_CONNS, job->threads, work);
		r = t->asio ? 0 : -EIO;
	} else if (r == 0) {
		r = mt_start(t, job, work);
	}
	mt_load(&t->c, &t->m, uneven, job->n);
	if (r == 0)
		r = mt_measure(t, s);
	int e = mt_stop(t);
	mt_close(&t->m);
	free(t->conns);
	free(t);
	if (r == 0 && e < 0)
		r = e;
	return r < 0 ? bench_fail(s, r, asio ? "asio server" : "mt server") : 0;
}

int wl_mt_echo(const struct job *job, struct sample *s)
{
	return mt_run(job, s, false, false);
}

int wl_mt_uneven(const struct job *job, struct sample *s)
{
	return mt_run(job, s, true, false);
}

#ifdef BENCH_HAVE_ASIO
int asio_mt_echo(const struct job *job, struct sample *s)
{
	return mt_run(job, s, false, true);
}

int asio_mt_uneven(const struct job *job, struct sample *s)
{
	return mt_run(job, s, true, true);
}
#endif
