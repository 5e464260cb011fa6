/* SPDX-License-Identifier: MIT */
/* The libuv peer: timers, thread-pool file reads, ping-pongs and echo, as libuv does them. */

/*
 * libuv is an optional dependency (Debian libuv1-dev). Without it these rows are
 * printed as absent. Sockets come from bench/net.c and are adopted with uv_tcp_open;
 * buffers are per connection (the alloc callback hands them out), so libuv itself
 * allocates nothing per message. File reads go through uv_fs_read, i.e. libuv's thread
 * pool (UV_THREADPOOL_SIZE, default 4 threads: the same as cport's pool).
 */

#include "bench.h"

#ifdef BENCH_HAVE_UV

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

const bool have_uv = true;

const char *peer_uv_version(void)
{
	return uv_version_string(); /* the library loaded, which may differ from the headers */
}

static int uv_fail(struct sample *s, int err, const char *what)
{
	return bench_fail(s, err < 0 ? err : -EIO, what); /* libuv codes are -errno too */
}

/* ---- million-timers ---------------------------------------------------------------- */

static uint64_t uvt_fired;

static void uvt_cb(uv_timer_t *t)
{
	(void)t;
	uvt_fired++;
}

int uv_timers(const struct job *job, struct sample *s)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	uv_timer_t *t = calloc(job->n, sizeof *t);
	uvt_fired = 0;
	struct meter m;
	meter_start(&m);
	uv_update_time(&loop);
	for (uint64_t i = 0; i < job->n; i++) {
		uv_timer_init(&loop, &t[i]);
		/* libuv counts in milliseconds: round timer_ns() up. */
		uv_timer_start(&t[i], uvt_cb, (timer_ns(i) + 999999) / 1000000, 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	int r = uvt_fired == job->n ? 0 : -EIO;
	if (r == 0)
		meter_stop(&m, s, job->n);
	for (uint64_t i = 0; i < job->n; i++)
		uv_close((uv_handle_t *)&t[i], NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(t);
	return r < 0 ? uv_fail(s, r, "timers did not all fire") : 0;
}

/* ---- file-read-4k ------------------------------------------------------------------ */

struct uvread {
	uv_loop_t loop;
	const struct job *job;
	uv_file fd;
	struct uvreq *qs; /* one request per read in flight: its index is the slot */
	struct lat lat;
	uint64_t rng, issued, done;
	int err;
};

struct uvreq {
	uv_fs_t req;
	struct uvread *x;
	char *buf;
};

static void uvr_cb(uv_fs_t *req);

static void uvr_issue(struct uvreq *q)
{
	struct uvread *x = q->x;
	uv_buf_t b = uv_buf_init(q->buf, 4096);
	lat_begin(&x->lat, (unsigned)(q - x->qs), x->issued);
	int r = uv_fs_read(&x->loop, &q->req, x->fd, &b, 1,
			   (int64_t)file_offset(&x->rng, x->job->fsize), uvr_cb);
	if (r < 0)
		x->err = r;
	else
		x->issued++;
}

static void uvr_cb(uv_fs_t *req)
{
	struct uvreq *q = (struct uvreq *)req;
	struct uvread *x = q->x;
	lat_end(&x->lat, (unsigned)(q - x->qs));
	if (req->result != 4096 && x->err == 0)
		x->err = req->result < 0 ? (int)req->result : -EIO;
	uv_fs_req_cleanup(req);
	x->done++;
	if (x->issued < x->job->n && x->err == 0)
		uvr_issue(q);
}

int uv_file_read(const struct job *job, struct sample *s)
{
	struct uvread *x = calloc(1, sizeof *x);
	x->job = job;
	x->rng = 0x9E3779B97F4A7C15ull;
	x->fd = open(job->path, O_RDONLY | O_CLOEXEC);
	if (x->fd < 0) {
		free(x);
		return uv_fail(s, -errno, "open the data file");
	}
	uv_loop_init(&x->loop);
	struct uvreq *qs = calloc(job->param, sizeof *qs);
	x->qs = qs;
	int r = lat_init(&x->lat, job->param, job->n, LAT_EVERY);
	char *bufs = aligned_alloc(4096, (size_t)job->param * 4096);
	/* One read before measuring: libuv starts its thread pool on first use. */
	uv_fs_t warm;
	uv_buf_t b = uv_buf_init(bufs, 4096);
	uv_fs_read(&x->loop, &warm, x->fd, &b, 1, 0, uv_fs_req_cleanup);
	uv_run(&x->loop, UV_RUN_DEFAULT);
	struct meter m;
	meter_start(&m);
	for (unsigned i = 0; i < job->param && x->issued < job->n; i++) {
		qs[i] = (struct uvreq){.x = x, .buf = bufs + (size_t)i * 4096};
		uvr_issue(&qs[i]);
	}
	if (r == 0)
		uv_run(&x->loop, UV_RUN_DEFAULT);
	if (r == 0)
		r = x->err ? x->err : x->done == job->n ? 0 : -EIO;
	if (r == 0)
		meter_stop(&m, s, job->n);
	lat_finish(&x->lat, r == 0 ? s : NULL);
	uv_loop_close(&x->loop);
	close(x->fd);
	free(qs);
	free(bufs);
	free(x);
	return r < 0 ? uv_fail(s, r, "uv_fs_read") : 0;
}

/* ---- ping-pongs and tcp-echo ------------------------------------------------------- */

struct uvconn;

struct uvend {
	uv_tcp_t tcp;      /* first: the handle's address is the end's */
	uv_write_t wr;
	struct uvconn *conn;
	bool client, busy, want;
	unsigned got;
	char buf[MSG_SIZE];
};

struct uvconn {
	struct uvend c, s;
	double t0;
	char msg[MSG_SIZE];
	struct uvecho *e;
};

struct uvecho {
	uv_loop_t loop;
	struct uvconn *conns;
	uv_tcp_t *idle;
	uint64_t n, started, done;
	double *lat;
	int err;
};

static char uve_idle_buf[MSG_SIZE];

static void uve_stop(struct uvecho *e, int err)
{
	if (!e->err)
		e->err = err;
	uv_stop(&e->loop);
}

static void uve_write(struct uvend *end);

static void uve_write_cb(uv_write_t *w, int status)
{
	struct uvend *end = (struct uvend *)((char *)w - offsetof(struct uvend, wr));
	end->busy = false;
	if (status < 0)
		uve_stop(end->conn->e, status);
	else if (end->want)
		uve_write(end);
}

static void uve_write(struct uvend *end)
{
	if (end->busy) {
		end->want = true; /* a write request is reused only after its callback */
		return;
	}
	end->want = false;
	end->busy = true;
	uv_buf_t b = uv_buf_init(end->client ? end->conn->msg : end->buf, MSG_SIZE);
	int r = uv_write(&end->wr, (uv_stream_t *)&end->tcp, &b, 1, uve_write_cb);
	if (r < 0)
		uve_stop(end->conn->e, r);
}

static void uve_start_rt(struct uvecho *e, struct uvconn *c)
{
	e->started++;
	c->t0 = now_ns();
	uve_write(&c->c);
}

static void uve_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	(void)hint;
	struct uvend *end = h->data;
	*b = end ? uv_buf_init(end->buf + end->got, MSG_SIZE - end->got)
		 : uv_buf_init(uve_idle_buf, MSG_SIZE);
}

static void uve_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	(void)b;
	struct uvend *end = st->data;
	if (nread == 0)
		return;
	if (!end || nread < 0) {
		uve_stop(end ? end->conn->e : st->loop->data, nread < 0 ? (int)nread : -EIO);
		return;
	}
	if ((end->got += (unsigned)nread) < MSG_SIZE)
		return;
	end->got = 0;
	if (!end->client) {
		uve_write(end);
		return;
	}
	struct uvecho *e = end->conn->e;
	if (e->lat)
		e->lat[e->done] = now_ns() - end->conn->t0;
	if (++e->done == e->n)
		uv_stop(&e->loop);
	else if (e->started < e->n)
		uve_start_rt(e, end->conn);
}

static int uve_adopt(struct uvecho *e, uv_tcp_t *tcp, int fd, void *data)
{
	uv_tcp_init(&e->loop, tcp);
	tcp->data = data;
	int r = uv_tcp_open(tcp, fd);
	return r < 0 ? r : uv_read_start((uv_stream_t *)tcp, uve_alloc, uve_read_cb);
}

static int uve_setup(struct uvecho *e, const struct net_set *ns)
{
	int r = 0;
	for (unsigned i = 0; i < ns->busy && r == 0; i++) {
		struct uvconn *c = &e->conns[i];
		c->e = e;
		c->c = (struct uvend){.conn = c, .client = true};
		c->s = (struct uvend){.conn = c};
		memset(c->msg, 'a' + (int)(i % 26), MSG_SIZE);
		r = uve_adopt(e, &c->c.tcp, ns->cfd[i], &c->c);
		if (r == 0)
			r = uve_adopt(e, &c->s.tcp, ns->sfd[i], &c->s);
	}
	for (unsigned i = 0; i < ns->idle && r == 0; i++)
		r = uve_adopt(e, &e->idle[i], ns->sfd[ns->busy + i], NULL);
	return r;
}

/* Close every handle that was set up (its loop pointer is set), then let them go. */
static void uve_close_all(struct uvecho *e, unsigned nconns, unsigned idle)
{
	for (unsigned i = 0; i < nconns; i++) {
		if (e->conns[i].c.tcp.loop)
			uv_close((uv_handle_t *)&e->conns[i].c.tcp, NULL);
		if (e->conns[i].s.tcp.loop)
			uv_close((uv_handle_t *)&e->conns[i].s.tcp, NULL);
	}
	for (unsigned i = 0; i < idle; i++)
		if (e->idle[i].loop)
			uv_close((uv_handle_t *)&e->idle[i], NULL);
	uv_run(&e->loop, UV_RUN_DEFAULT);
}

static int uve_run(const struct job *job, struct sample *s, unsigned nconns, unsigned idle)
{
	struct net_set ns;
	int r = net_set_open(&ns, nconns, idle, true);
	if (r < 0)
		return uv_fail(s, r, "connect");
	struct uvecho *e = calloc(1, sizeof *e);
	e->n = job->n;
	uv_loop_init(&e->loop);
	e->loop.data = e;
	e->conns = calloc(nconns, sizeof *e->conns);
	e->idle = calloc(idle ? idle : 1, sizeof *e->idle);
	e->lat = calloc(job->n, sizeof *e->lat);
	r = uve_setup(e, &ns);
	struct meter m;
	meter_start(&m);
	for (unsigned i = 0; i < nconns && r == 0 && e->started < e->n; i++)
		uve_start_rt(e, &e->conns[i]);
	if (r == 0)
		uv_run(&e->loop, UV_RUN_DEFAULT);
	if (r == 0 && (r = e->err) == 0 && e->done == e->n) {
		meter_stop(&m, s, e->done);
		latency_percentiles(e->lat, e->done, s);
	} else if (r == 0) {
		r = -EIO;
	}
	net_set_release(&ns);
	uve_close_all(e, nconns, idle);
	uv_loop_close(&e->loop);
	free(e->conns);
	free(e->idle);
	free(e->lat);
	free(e);
	return r < 0 ? uv_fail(s, r, "echo") : 0;
}

int uv_ping_pongs(const struct job *job, struct sample *s)
{
	return uve_run(job, s, 1, 0);
}

int uv_tcp_echo(const struct job *job, struct sample *s)
{
	return uve_run(job, s, ECHO_CONNS, job->param);
}

#else /* !BENCH_HAVE_UV */

const bool have_uv = false;

const char *peer_uv_version(void)
{
	return NULL;
}

int uv_timers(const struct job *job, struct sample *s)
{
	(void)job;
	return bench_fail(s, -38, "built without libuv");
}

int uv_file_read(const struct job *job, struct sample *s)
{
	return uv_timers(job, s);
}

int uv_ping_pongs(const struct job *job, struct sample *s)
{
	return uv_timers(job, s);
}

int uv_tcp_echo(const struct job *job, struct sample *s)
{
	return uv_timers(job, s);
}

#endif
