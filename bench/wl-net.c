/* SPDX-License-Identifier: MIT */
/* TCP workloads on cport: ping-pongs, tcp-echo (with idle connections), tcp-pump. */

/*
 * One thread drives both ends of every connection through one port, as libuv's
 * ping-pongs does: the client writes 64 bytes, the server reads them and writes them
 * back, the client reads the reply; that is one round trip. Sockets are made with plain
 * POSIX calls and moved with cport_read / cport_write at offset -1 (stream I/O). The
 * "+recvpool" rows receive instead with one multishot cport_recv_pool per end from a
 * buffer pool of the port (idle connections too), copy the bytes out and return the
 * buffer at once, as a server that parses requests in place would.
 */

#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include <cport.h>

struct econn {
	cport_op cw, cr, sw, sr;
	int c, s;
	unsigned cgot, sgot;     /* bytes of the current message read so far */
	bool cw_busy, sw_busy;   /* a write is in flight... */
	bool cw_want, sw_want;   /* ...and the next one waits for it */
	bool cr_armed, sr_armed; /* +recvpool: the end's multishot receive is in flight */
	double t0;
	char cbuf[MSG_SIZE], sbuf[MSG_SIZE], msg[MSG_SIZE];
};

struct echo {
	cport *port;
	struct econn *conns;
	uint64_t n, started, done;
	double *lat;
	struct sample *s;
	bool pool;               /* +recvpool rows */
	uint16_t group;
	char *poolmem;
};

#define ECHO_POOL_BUF 1024u

static int echo_write(struct echo *e, struct econn *c, bool client)
{
	cport_op *op = client ? &c->cw : &c->sw;
	bool *busy = client ? &c->cw_busy : &c->sw_busy;
	bool *want = client ? &c->cw_want : &c->sw_want;
	if (*busy) {
		*want = true; /* the previous write is not reaped yet: send after it */
		return 0;
	}
	*want = false;
	*busy = true;
	int r = cport_write(e->port, op, client ? c->c : c->s, client ? c->msg : c->sbuf,
			    MSG_SIZE, -1);
	return r < 0 ? bench_fail(e->s, r, "cport_write") : 0;
}

static int echo_read(struct echo *e, struct econn *c, bool client)
{
	if (e->pool) {
		bool *armed = client ? &c->cr_armed : &c->sr_armed;
		if (*armed)
			return 0; /* its multishot receive goes on */
		*armed = true;
		int r = cport_recv_pool(e->port, client ? &c->cr : &c->sr, client ? c->c : c->s,
					e->group, CPORT_RECV_MULTISHOT);
		return r < 0 ? bench_fail(e->s, r, "cport_recv_pool") : 0;
	}
	unsigned got = client ? c->cgot : c->sgot;
	char *buf = client ? c->cbuf : c->sbuf;
	int r = cport_read(e->port, client ? &c->cr : &c->sr, client ? c->c : c->s, buf + got,
			   MSG_SIZE - got, -1);
	return r < 0 ? bench_fail(e->s, r, "cport_read") : 0;
}

static int echo_start_rt(struct echo *e, struct econn *c)
{
	e->started++;
	c->t0 = now_ns();
	return echo_write(e, c, true);
}

/* +recvpool: a pool receive completed: copy its bytes after those of the message got so
 * far and give the buffer back. 1 if there was nothing (a dry pool: receive again). */
static int echo_pool_take(struct echo *e, struct econn *c, cport_op *op, bool client)
{
	if (!(op->cflags & CPORT_MORE))
		*(client ? &c->cr_armed : &c->sr_armed) = false;
	if (op->result == CPORT_ENOBUFS)
		return 1;
	int id = cport_op_buf_id(op);
	if (op->result <= 0)
		return 0; /* an error or end of stream: echo_on_read fails the run */
	if (id < 0)
		return bench_fail(e->s, id, "data without a buffer");
	unsigned got = client ? c->cgot : c->sgot;
	if ((uint64_t)op->result > MSG_SIZE - got)
		return bench_fail(e->s, -5, "more bytes than one message");
	memcpy((client ? c->cbuf : c->sbuf) + got, e->poolmem + (size_t)id * ECHO_POOL_BUF,
	       (size_t)op->result);
	int r = cport_bufpool_return(e->port, e->group, (uint16_t)id);
	return r < 0 ? bench_fail(e->s, r, "cport_bufpool_return") : 0;
}

/* A read completed on one end: the message is whole, or read the rest. */
static int echo_on_read(struct echo *e, struct econn *c, cport_op *op)
{
	bool client = op == &c->cr;
	if (e->pool) {
		int r = echo_pool_take(e, c, op, client);
		if (r != 0)
			return r < 0 ? r : echo_read(e, c, client);
	}
	if (op->result <= 0)
		return bench_fail(e->s, op->result ? (int)op->result : -104, "read");
	unsigned *got = client ? &c->cgot : &c->sgot;
	*got += (unsigned)op->result;
	if (*got < MSG_SIZE)
		return echo_read(e, c, client);
	*got = 0;
	if (!client) {
		int r = echo_write(e, c, false);
		return r < 0 ? r : echo_read(e, c, false);
	}
	if (e->lat)
		e->lat[e->done] = now_ns() - c->t0;
	e->done++;
	if (e->started >= e->n)
		return 0;
	int r = echo_start_rt(e, c);
	return r < 0 ? r : echo_read(e, c, true);
}

static int echo_on_op(struct echo *e, cport_op *op)
{
	struct econn *c = op->user;
	if (!c)
		return bench_fail(e->s, op->result < 0 ? (int)op->result : -5,
				  "an idle connection completed");
	if (op == &c->cr || op == &c->sr)
		return echo_on_read(e, c, op);
	bool client = op == &c->cw;
	if (op->result != MSG_SIZE)
		return bench_fail(e->s, op->result < 0 ? (int)op->result : -5, "write");
	*(client ? &c->cw_busy : &c->sw_busy) = false;
	if (*(client ? &c->cw_want : &c->sw_want))
		return echo_write(e, c, client);
	return 0;
}

/* Setup: a read waits on both ends of every busy connection. */
static int echo_prime(struct echo *e, unsigned nconns)
{
	for (unsigned i = 0; i < nconns; i++) {
		int r;
		if ((r = echo_read(e, &e->conns[i], false)) < 0 ||
		    (r = echo_read(e, &e->conns[i], true)) < 0)
			return r;
	}
	int r = cport_submit(e->port);
	return r < 0 ? bench_fail(e->s, r, "cport_submit") : 0;
}

static int echo_loop(struct echo *e, unsigned nconns)
{
	for (unsigned i = 0; i < nconns && e->started < e->n; i++) {
		int r = echo_start_rt(e, &e->conns[i]);
		if (r < 0)
			return r;
	}
	cport_op *out[128];
	while (e->done < e->n) {
		int k = cport_wait(e->port, out, 128, -1);
		if (k < 0)
			return bench_fail(e->s, k, "cport_wait");
		for (int i = 0; i < k; i++) {
			int r = echo_on_op(e, out[i]);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Park a read on the server end of every idle connection, as a server would (a pool
 * receive in the +recvpool rows: no buffer held while idle). */
static int echo_idle(struct echo *e, const struct net_set *ns, cport_op *ops, char *bufs,
		     struct sample *s)
{
	cport *port = e->port;
	for (unsigned i = 0; i < ns->idle; i++) {
		int fd = ns->sfd[ns->busy + i];
		int r = e->pool ? cport_recv_pool(port, &ops[i], fd, e->group, CPORT_RECV_MULTISHOT)
				: cport_read(port, &ops[i], fd, bufs + i * MSG_SIZE, MSG_SIZE, -1);
		if (r < 0)
			return bench_fail(s, r, "cport_read (idle)");
	}
	int r = cport_submit(port);
	return r < 0 ? bench_fail(s, r, "cport_submit") : 0;
}

/* +recvpool: a pool of two buffers per end of each busy connection, and some spare
 * (io_uring's multishot receives may fill more than one before they are reaped). */
static int echo_pool_add(struct echo *e, unsigned nconns, struct sample *s)
{
	uint32_t count = 4 * nconns + 64;
	e->poolmem = malloc((size_t)count * ECHO_POOL_BUF);
	if (!e->poolmem)
		return bench_fail(s, -12, "pool memory");
	e->pool = true;
	int r = cport_bufpool_add(e->port, e->poolmem, count, ECHO_POOL_BUF, &e->group);
	return r < 0 ? bench_fail(s, r, "cport_bufpool_add") : 0;
}

static int echo_run(const struct job *job, struct sample *s, unsigned nconns, unsigned idle)
{
	struct net_set ns;
	int r = net_set_open(&ns, nconns, idle, true);
	if (r < 0)
		return bench_fail(s, r, "connect");
	struct echo e = {.n = job->n, .s = s};
	if ((r = bport_create(job, 0, &e.port, s)) < 0) {
		net_set_close(&ns);
		return r;
	}
	e.conns = calloc(nconns, sizeof *e.conns);
	e.lat = calloc(job->n, sizeof *e.lat);
	for (unsigned i = 0; i < nconns; i++) {
		struct econn *c = &e.conns[i];
		c->c = ns.cfd[i];
		c->s = ns.sfd[i];
		c->cw.user = c->cr.user = c->sw.user = c->sr.user = c;
		memset(c->msg, 'a' + (int)(i % 26), MSG_SIZE);
	}
	cport_op *iops = calloc(idle ? idle : 1, sizeof *iops);
	char *ibufs = job->recvpool ? NULL : calloc(idle ? idle : 1, MSG_SIZE);
	r = job->recvpool ? echo_pool_add(&e, nconns, s) : 0;
	if (r == 0)
		r = echo_idle(&e, &ns, iops, ibufs, s);
	if (r == 0)
		r = echo_prime(&e, nconns);
	struct meter m;
	meter_start(&m);
	if (r == 0 && (r = echo_loop(&e, nconns)) == 0) {
		meter_stop(&m, s, e.done);
		latency_percentiles(e.lat, e.done, s);
	}
	cport_destroy(e.port);
	net_set_close(&ns);
	free(e.conns);
	free(e.lat);
	free(iops);
	free(ibufs);
	free(e.poolmem);
	return r;
}

int wl_ping_pongs(const struct job *job, struct sample *s)
{
	return echo_run(job, s, 1, 0);
}

int wl_tcp_echo(const struct job *job, struct sample *s)
{
	return echo_run(job, s, ECHO_CONNS, job->param);
}

/* ---- tcp-pump, large-send ------------------------------------------------------- */

/* One connection: chunks of `chunk` bytes written (tcp-pump: cport_write) or sent
 * (large-send: cport_send with the row's flags) on one end, read on the other. */
struct pump {
	cport *port;
	int cfd, sfd;
	char *wbuf, *rbuf;
	uint32_t chunk;
	bool send;
	uint32_t flags;
};

static int pump_write(struct pump *p, cport_op *w)
{
	if (p->send)
		return cport_send(p->port, w, p->cfd, p->wbuf, p->chunk, p->flags);
	return cport_write(p->port, w, p->cfd, p->wbuf, p->chunk, -1);
}

/* One write and one read (`rd`, already waiting) in flight on one connection until n
 * chunks went through. */
static int pump_loop(const struct job *job, struct pump *p, struct sample *s, cport_op *rd)
{
	cport_op w = {0}, *out[4];
	uint64_t total = job->n * p->chunk, sent = 1, got = 0;
	int r = pump_write(p, &w);
	if (r < 0)
		return bench_fail(s, r, "cport_write");
	while (got < total) {
		int k = cport_wait(p->port, out, 4, -1);
		if (k < 0)
			return bench_fail(s, k, "cport_wait");
		for (int i = 0; i < k; i++) {
			cport_op *op = out[i];
			if (op->result <= 0 || (op == &w && op->result != p->chunk))
				return bench_fail(s, op->result < 0 ? (int)op->result : -5,
						  op == &w ? "write" : "read");
			if (op == &w && sent < job->n) {
				r = pump_write(p, &w);
				sent++;
			} else if (op == rd && (got += (uint64_t)op->result) < total) {
				r = cport_read(p->port, rd, p->sfd, p->rbuf, p->chunk, -1);
			}
			if (r < 0)
				return bench_fail(s, r, "submit");
		}
	}
	return 0;
}

static int pump_run(const struct job *job, struct sample *s, uint32_t chunk, bool send)
{
	struct net_set ns;
	int r = net_set_open(&ns, 1, 0, true);
	if (r < 0)
		return bench_fail(s, r, "connect");
	struct pump p = {.cfd = ns.cfd[0], .sfd = ns.sfd[0], .chunk = chunk, .send = send,
			 .flags = job->send_flags};
	if ((r = bport_create(job, 0, &p.port, s)) < 0) {
		net_set_close(&ns);
		return r;
	}
	p.wbuf = calloc(1, chunk);
	p.rbuf = malloc(chunk);
	cport_op rd = {0};
	if ((r = cport_read(p.port, &rd, ns.sfd[0], p.rbuf, chunk, -1)) == 0)
		r = cport_submit(p.port);
	if (r < 0)
		bench_fail(s, r, "cport_read");
	struct meter m;
	meter_start(&m);
	if (r == 0)
		r = pump_loop(job, &p, s, &rd);
	if (r == 0)
		meter_stop(&m, s, job->n);
	cport_destroy(p.port);
	net_set_close(&ns);
	free(p.wbuf);
	free(p.rbuf);
	return r;
}

int wl_tcp_pump(const struct job *job, struct sample *s)
{
	return pump_run(job, s, PUMP_CHUNK, false);
}

/* large-send: one send of job->param bytes (at most LARGE_SEND_MAX) at a time, read
 * and discarded by the other end. */
int wl_large_send(const struct job *job, struct sample *s)
{
	if (job->param == 0 || job->param > LARGE_SEND_MAX)
		return bench_fail(s, -22, "large-send size");
	return pump_run(job, s, job->param, true);
}
