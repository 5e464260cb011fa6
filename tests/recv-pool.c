/* SPDX-License-Identifier: MIT */
/* Pool receives: stream order and exactly once (single and multishot), dry pools, cancel,
 * close, ordering beside plain receives, datagrams, timeouts, bad input, remove, destroy. */

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- A pool and the test's ledger of the buffers the port handed over ---------------- */

struct pool {
	cport *port;
	uint16_t group;
	uint32_t count, size;
	char *mem;
	uint8_t *mine; /* 1: handed to the test by a completion, not returned yet */
	uint32_t held;
};

static void pool_make(struct pool *p, cport *port, uint32_t count, uint32_t size)
{
	memset(p, 0, sizeof *p);
	p->port = port;
	p->count = count;
	p->size = size;
	p->mem = malloc((size_t)count * size);
	p->mine = calloc(count, 1);
	assert_non_null(p->mem);
	assert_non_null(p->mine);
	assert_int_equal(cport_bufpool_add(port, p->mem, count, size, &p->group), 0);
}

static void pool_free(struct pool *p)
{
	free(p->mem);
	free(p->mine);
}

/* The buffer a completion carries, checked against the ledger (never handed over twice,
 * never more bytes than a buffer holds); NULL when it carries none, which is exactly
 * when its result is not > 0. */
static const char *pool_got(struct pool *p, const cport_op *op)
{
	int id = cport_op_buf_id(op);
	if (op->result <= 0) {
		assert_int_equal(id, CPORT_ENOENT);
		assert_int_equal(op->cflags & CPORT_BUF, 0);
		return NULL;
	}
	assert_true(op->cflags & CPORT_BUF);
	assert_true(id >= 0 && (uint32_t)id < p->count);
	assert_int_equal((uint32_t)id, op->cflags >> CPORT_BUF_SHIFT);
	assert_false(p->mine[id]);
	assert_true(op->result <= (int64_t)p->size);
	p->mine[id] = 1;
	p->held++;
	return p->mem + (size_t)id * p->size;
}

static void pool_give(struct pool *p, int id)
{
	assert_true(id >= 0 && (uint32_t)id < p->count && p->mine[id]);
	assert_int_equal(cport_bufpool_return(p->port, p->group, (uint16_t)id), 0);
	/* the ledger's other half: the port no longer counts it as the caller's */
	assert_int_equal(cport_bufpool_return(p->port, p->group, (uint16_t)id), CPORT_EINVAL);
	p->mine[id] = 0;
	p->held--;
}

static void pool_give_all(struct pool *p)
{
	for (uint32_t i = 0; i < p->count; i++)
		if (p->mine[i])
			pool_give(p, (int)i);
}

/* Wait for `op` itself (30 s at most). */
static cport_op *wait_op(cport *port, cport_op *op)
{
	cport_op *got = NULL;
	int n = cport_wait(port, &got, 1, 30 * 1000000000LL);
	assert_int_equal(n, 1);
	assert_ptr_equal(got, op);
	return got;
}

/* Nothing completes within `ms`. */
static void assert_quiet(cport *port, unsigned ms)
{
	cport_op *got = NULL;
	assert_int_equal(cport_wait(port, &got, 1, (int64_t)ms * 1000000), 0);
}

/*
 * Every buffer of the pool is the port's (none leaked, none lent twice): with
 * count * size + 1 bytes waiting on a fresh connection, a multishot receive hands over
 * every buffer before the pool runs dry. Then all go back.
 */
static void pool_whole(struct pool *p)
{
	cport_fd q[2];
	t_tcp_pair(q);
	size_t n = (size_t)p->count * p->size + 1;
	char *data = malloc(n);
	assert_non_null(data);
	memset(data, 'w', n);
	t_write_all(q[0], data, n);
	t_sleep_us(20000); /* on its way through loopback */
	cport_op op = {0};
	int64_t last = 0;
	for (bool armed = false; last != CPORT_ENOBUFS;) {
		if (!armed)
			assert_int_equal(
			    cport_recv_pool(p->port, &op, q[1], p->group, CPORT_RECV_MULTISHOT), 0);
		wait_op(p->port, &op);
		const char *b = pool_got(p, &op);
		if (b)
			assert_memory_equal(b, data, (size_t)op.result);
		armed = (op.cflags & CPORT_MORE) != 0;
		last = op.result;
		if (!armed)
			assert_true(last > 0 || last == CPORT_ENOBUFS);
	}
	assert_int_equal(p->held, p->count);
	pool_give_all(p);
	free(data);
	t_close(q[0]), t_close(q[1]);
}

/* A port, a pool on it, and a connected pair whose s[1] receives. */
struct env {
	cport *port;
	struct pool pool;
	cport_fd s[2];
};

static struct env *env_open(uint32_t count, uint32_t size)
{
	struct env *e = calloc(1, sizeof *e);
	assert_non_null(e);
	e->port = t_port();
	pool_make(&e->pool, e->port, count, size);
	t_tcp_pair(e->s);
	return e;
}

static void env_close(struct env *e)
{
	t_close(e->s[0]), t_close(e->s[1]);
	cport_destroy(e->port);
	pool_free(&e->pool);
	free(e);
}

/* ---- The pump: many messages through one connection, checked byte by byte ------------ */

enum { PUMP_MSGS = 1500, PUMP_RCV = 3 };

struct pump {
	struct pool pool;
	cport_fd p[2];
	uint8_t *data;
	uint64_t total, got;
	cport_op snd[PUMP_MSGS], shut;
	unsigned sends; /* completed */
	cport_op rcv[PUMP_RCV];
	unsigned next;        /* single-shot: the receive due to complete next */
	unsigned eofs;        /* receives that saw the end of stream */
	unsigned finals, dry; /* multishot: last completions, of them CPORT_ENOBUFS */
	bool multishot, hold;
};

static size_t pump_len(unsigned i)
{
	return (size_t)(i * 37u % 300u) + 1;
}

static void pump_start(struct pump *u, cport *port, uint32_t count, uint32_t size)
{
	pool_make(&u->pool, port, count, size);
	t_tcp_pair(u->p);
	for (unsigned i = 0; i < PUMP_MSGS; i++)
		u->total += pump_len(i);
	u->data = malloc(u->total);
	assert_non_null(u->data);
	for (uint64_t k = 0; k < u->total; k++)
		u->data[k] = t_pattern(k);
	uint64_t off = 0;
	for (unsigned i = 0; i < PUMP_MSGS; i++) {
		assert_int_equal(
		    cport_send(port, &u->snd[i], u->p[0], u->data + off, pump_len(i), 0), 0);
		off += pump_len(i);
	}
	/* after the sends: the receiver then reads the end of the stream */
	assert_int_equal(cport_shutdown(port, &u->shut, u->p[0], CPORT_SHUT_WR), 0);
}

static void pump_arm(struct pump *u, unsigned i)
{
	uint32_t fl = u->multishot ? CPORT_RECV_MULTISHOT : 0;
	assert_int_equal(cport_recv_pool(u->pool.port, &u->rcv[i], u->p[1], u->pool.group, fl), 0);
}

/* A receive's completion: its bytes are the stream's next ones, exactly once. */
static void pump_data(struct pump *u, cport_op *op)
{
	const char *b = pool_got(&u->pool, op);
	if (b) {
		assert_true(u->got + (uint64_t)op->result <= u->total);
		assert_memory_equal(b, u->data + u->got, (size_t)op->result);
		u->got += (uint64_t)op->result;
		if (!u->hold)
			pool_give(&u->pool, cport_op_buf_id(op));
	}
}

static void pump_single(struct pump *u, cport_op *op)
{
	unsigned i = (unsigned)(op - u->rcv);
	assert_int_equal(i, u->next); /* receives complete in submission order */
	u->next = (u->next + 1) % PUMP_RCV;
	assert_int_equal(op->cflags & CPORT_MORE, 0);
	assert_true(op->result >= 0); /* never dry: each holds one buffer at most */
	pump_data(u, op);
	if (op->result == 0)
		u->eofs++;
	else
		pump_arm(u, i);
}

static void pump_multi(struct pump *u, cport_op *op)
{
	pump_data(u, op);
	if (op->cflags & CPORT_MORE)
		return;
	u->finals++;
	if (op->result == 0) {
		u->eofs++;
		return;
	}
	if (op->result == CPORT_ENOBUFS) {
		/* Kept buffers: every one is the caller's. Returned at once, the kernel can
		 * still fill all of them before the caller reaps the first (a fast sender). */
		if (u->hold)
			assert_int_equal(u->pool.held, u->pool.count);
		u->dry++;
		pool_give_all(&u->pool);
	} else {
		assert_true(op->result > 0); /* stopped by the kernel: go on */
	}
	pump_arm(u, 0);
}

static void pump_step(struct pump *u, cport_op *op)
{
	if (op == &u->shut) {
		assert_int_equal(op->result, 0);
	} else if (op >= u->snd && op < u->snd + PUMP_MSGS) {
		assert_int_equal(op->result, (int64_t)pump_len((unsigned)(op - u->snd)));
		u->sends++;
	} else if (u->multishot) {
		pump_multi(u, op);
	} else {
		pump_single(u, op);
	}
}

static void pump_run(struct pump *u)
{
	unsigned rcvs = u->multishot ? 1 : PUMP_RCV;
	for (unsigned i = 0; i < rcvs; i++)
		pump_arm(u, i);
	uint64_t end = t_now_ms() + 60000;
	while ((u->eofs < rcvs || u->sends < PUMP_MSGS) && t_now_ms() < end) {
		cport_op *out[64];
		int n = cport_wait(u->pool.port, out, 64, 100 * 1000000LL);
		assert_true(n >= 0);
		for (int k = 0; k < n; k++)
			pump_step(u, out[k]);
	}
	assert_int_equal(u->sends, PUMP_MSGS);
	assert_int_equal(u->eofs, rcvs);
	assert_int_equal(u->got, u->total); /* every byte, once, in order */
	pool_give_all(&u->pool);
	pool_whole(&u->pool);
}

static void pump_end(struct pump *u)
{
	t_close(u->p[0]), t_close(u->p[1]);
	cport_destroy(u->pool.port);
	pool_free(&u->pool);
	free(u->data);
	free(u);
}

/* Three single-shot pool receives in flight at a time, re-armed as they complete, under
 * 1,500 sends of 1..300 bytes: stream order and exactly once, buffers 100 bytes. */
static void single_pump(void **state)
{
	(void)state;
	struct pump *u = calloc(1, sizeof *u);
	assert_non_null(u);
	pump_start(u, t_port(), 8, 100);
	pump_run(u);
	pump_end(u);
}

/* One multishot pool receive for the whole stream, each buffer returned at once; re-armed
 * if the kernel still ran the pool dry (io_uring fills buffers ahead of the caller). */
static void multishot_pump(void **state)
{
	(void)state;
	struct pump *u = calloc(1, sizeof *u);
	assert_non_null(u);
	u->multishot = true;
	pump_start(u, t_port(), 8, 100);
	pump_run(u);
	pump_end(u);
}

/* The same, keeping every buffer until the pool runs dry (CPORT_ENOBUFS, the last
 * completion), then returning them all and receiving again: nothing is lost or
 * repeated across the re-arms. */
static void multishot_dry_rearm(void **state)
{
	(void)state;
	struct pump *u = calloc(1, sizeof *u);
	assert_non_null(u);
	u->multishot = true;
	u->hold = true;
	pump_start(u, t_port(), 4, 64);
	pump_run(u);
	assert_true(u->dry > 0);
	pump_end(u);
}

/* ---- Dry pools, end of stream, resets ---------------------------------------------------- */

/* Two buffers of 16 bytes, 48 bytes waiting: two receives take the buffers, the third
 * finds the pool dry (CPORT_ENOBUFS, no buffer, nothing taken from the stream), and the
 * data comes once a buffer is back. The same with a multishot receive. */
static void dry_pool(void **state)
{
	(void)state;
	struct env *e = env_open(2, 16);
	cport *port = e->port;
	struct pool *p = &e->pool;
	cport_fd *s = e->s;
	char data[96];
	for (int i = 0; i < 96; i++)
		data[i] = (char)('A' + i / 16);
	t_write_all(s[0], data, 48);
	t_sleep_us(20000);
	cport_op r = {0};
	int ids[2];
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cport_recv_pool(port, &r, s[1], p->group, 0), 0);
		wait_op(port, &r);
		assert_int_equal(r.result, 16);
		assert_memory_equal(pool_got(p, &r), data + 16 * i, 16);
		ids[i] = cport_op_buf_id(&r);
	}
	for (int i = 0; i < 2; i++) { /* dry, and stays dry */
		assert_int_equal(cport_recv_pool(port, &r, s[1], p->group, 0), 0);
		wait_op(port, &r);
		assert_int_equal(r.result, CPORT_ENOBUFS);
		assert_null(pool_got(p, &r));
	}
	pool_give(p, ids[0]);
	assert_int_equal(cport_recv_pool(port, &r, s[1], p->group, 0), 0);
	wait_op(port, &r);
	assert_int_equal(r.result, 16);
	assert_memory_equal(pool_got(p, &r), data + 32, 16);
	pool_give_all(p);

	/* multishot: D and E with CPORT_MORE, then dry (last); F after a re-arm */
	t_write_all(s[0], data + 48, 48);
	t_sleep_us(20000);
	assert_int_equal(cport_recv_pool(port, &r, s[1], p->group, CPORT_RECV_MULTISHOT), 0);
	for (int i = 3; i < 5; i++) {
		wait_op(port, &r);
		assert_int_equal(r.result, 16);
		assert_true(r.cflags & CPORT_MORE);
		assert_memory_equal(pool_got(p, &r), data + 16 * i, 16);
	}
	wait_op(port, &r);
	assert_int_equal(r.result, CPORT_ENOBUFS);
	assert_int_equal(r.cflags, 0);
	pool_give_all(p);
	assert_int_equal(cport_recv_pool(port, &r, s[1], p->group, CPORT_RECV_MULTISHOT), 0);
	wait_op(port, &r);
	assert_int_equal(r.result, 16);
	assert_true(r.cflags & CPORT_MORE);
	assert_memory_equal(pool_got(p, &r), data + 80, 16);
	assert_quiet(port, 100); /* nothing more to receive: it waits, holding no buffer */
	assert_int_equal(cport_cancel(port, &r), 0);
	wait_op(port, &r);
	assert_int_equal(r.result, CPORT_ECANCELED);
	assert_int_equal(r.cflags, 0);
	pool_give_all(p);
	pool_whole(p);
	env_close(e);
}

/* End of stream: 0 without a buffer (a multishot receive's last completion); with the
 * pool dry, CPORT_ENOBUFS first. A reset: CPORT_ECONNRESET. */
static void end_and_reset(void **state)
{
	(void)state;
	cport *port = t_port();
	struct pool p;
	pool_make(&p, port, 1, 16);
	cport_fd s[2];
	t_tcp_pair(s);
	cport_op r = {0};
	assert_int_equal(cport_recv_pool(port, &r, s[1], p.group, CPORT_RECV_MULTISHOT), 0);
	t_write_all(s[0], "xy", 2);
	wait_op(port, &r);
	assert_int_equal(r.result, 2);
	assert_true(r.cflags & CPORT_MORE);
	assert_memory_equal(pool_got(&p, &r), "xy", 2);
	int held = cport_op_buf_id(&r);
	assert_int_equal(t_sock_shut_wr(s[0]), 0);
	wait_op(port, &r); /* the end of the stream, with the pool dry */
	assert_int_equal(r.result, CPORT_ENOBUFS);
	assert_int_equal(r.cflags, 0);
	pool_give(&p, held);
	for (int i = 0; i < 2; i++) { /* the end, and again: it sticks */
		assert_int_equal(
		    cport_recv_pool(port, &r, s[1], p.group, i ? 0 : CPORT_RECV_MULTISHOT), 0);
		wait_op(port, &r);
		assert_int_equal(r.result, 0);
		assert_int_equal(r.cflags, 0);
		assert_null(pool_got(&p, &r));
	}
	t_close(s[0]), t_close(s[1]);
	if (t_sim()) { /* no SO_LINGER reset there: the end of the test (its pool freed) */
		cport_destroy(port);
		pool_free(&p);
		t_sim_skip("a reset by SO_LINGER is the OS's");
	}

	t_tcp_pair(s);
	assert_int_equal(cport_recv_pool(port, &r, s[0], p.group, CPORT_RECV_MULTISHOT), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(t_sock_linger0(s[1]), 0);
	t_close(s[1]);
	wait_op(port, &r);
	assert_int_equal(r.result, CPORT_ECONNRESET);
	assert_int_equal(r.cflags, 0);
	t_close(s[0]);
	pool_whole(&p);
	cport_destroy(port);
	pool_free(&p);
}

/* ---- Cancel and close in the middle of a multishot receive -------------------------------- */

/* What went into a stream and what came out, to compare: every byte once, in order. */
struct stream_log {
	char sent[4096], got[4096];
	size_t ns, ng;
};

static void log_got(struct pool *p, struct stream_log *l, cport_op *r)
{
	const char *b = pool_got(p, r);
	if (!b)
		return;
	assert_true(l->ng + (size_t)r->result <= sizeof l->got);
	memcpy(l->got + l->ng, b, (size_t)r->result);
	l->ng += (size_t)r->result;
	pool_give(p, cport_op_buf_id(r));
}

static void log_send(struct stream_log *l, cport_fd tx, const char *m, size_t n)
{
	assert_true(l->ns + n <= sizeof l->sent);
	memcpy(l->sent + l->ns, m, n);
	l->ns += n;
	t_write_all(tx, m, n);
}

/* Send `n` messages one at a time, each received by the multishot receive `r` before
 * the next goes (with whatever came before it and was left in the stream). */
static void multi_some(struct pool *p, struct stream_log *l, cport_op *r, cport_fd tx, int n)
{
	for (int i = 0; i < n; i++) {
		char m[8];
		snprintf(m, sizeof m, "m%05d", (int)(l->ns % 100000));
		log_send(l, tx, m, 6);
		while (l->ng < l->ns) {
			wait_op(p->port, r);
			assert_true(r->cflags & CPORT_MORE);
			assert_true(r->result > 0);
			log_got(p, l, r);
		}
	}
}

/* Drain a stopped multishot receive: completions with CPORT_MORE (data that was on its
 * way), then its last one, whose result is returned; every buffer goes back. `also`:
 * another op that may complete meanwhile (noted in *also_seen). */
static int64_t multi_drain(struct pool *p, struct stream_log *l, cport_op *r, cport_op *also,
                           int *also_seen)
{
	for (;;) {
		cport_op *got = t_wait1(p->port);
		if (got == also) {
			assert_true(also_seen && !*also_seen);
			*also_seen = 1;
			continue;
		}
		assert_ptr_equal(got, r);
		log_got(p, l, r);
		if (!(r->cflags & CPORT_MORE))
			return r->result;
	}
}

static void cancel_multishot(void **state)
{
	(void)state;
	struct env *e = env_open(4, 64);
	cport *port = e->port;
	struct pool *p = &e->pool;
	cport_fd *s = e->s;
	struct stream_log *l = calloc(1, sizeof *l);
	assert_non_null(l);
	cport_op r = {0};
	/* idle */
	assert_int_equal(cport_recv_pool(port, &r, s[1], p->group, CPORT_RECV_MULTISHOT), 0);
	multi_some(p, l, &r, s[0], 5);
	assert_int_equal(cport_cancel(port, &r), 0);
	assert_int_equal(multi_drain(p, l, &r, NULL, NULL), CPORT_ECANCELED);
	assert_int_equal(cport_cancel(port, &r), CPORT_ENOENT);
	/* with data arriving as it is cancelled: each byte arrives once, before or after */
	for (int round = 0; round < 20; round++) {
		assert_int_equal(cport_recv_pool(port, &r, s[1], p->group, CPORT_RECV_MULTISHOT),
		                 0);
		multi_some(p, l, &r, s[0], 2);
		log_send(l, s[0], "z", 1);
		assert_int_equal(cport_cancel(port, &r), 0);
		int64_t last = multi_drain(p, l, &r, NULL, NULL);
		assert_true(last == CPORT_ECANCELED || last > 0);
	}
	/* what the cancels left in the stream is still there, after the rest */
	assert_int_equal(t_sock_shut_wr(s[0]), 0);
	cport_op rr = {0};
	for (;;) {
		assert_int_equal(
		    cport_recv(port, &rr, s[1], l->got + l->ng, sizeof l->got - l->ng, 0), 0);
		int64_t n = t_run(port, &rr);
		assert_true(n >= 0);
		if (n == 0)
			break;
		l->ng += (size_t)n;
	}
	assert_int_equal(l->ng, l->ns);
	assert_memory_equal(l->got, l->sent, l->ns);
	assert_int_equal(p->held, 0);
	pool_whole(p);
	env_close(e);
	free(l);
}

/* cport_close in the middle of a multishot receive: its last completion (without
 * CPORT_MORE) comes before the close's; no buffer is lost. */
static void close_multishot(void **state)
{
	(void)state;
	cport *port = t_port();
	struct pool p;
	pool_make(&p, port, 4, 64);
	for (int round = 0; round < 2; round++) {
		struct stream_log l = {{0}, {0}, 0, 0};
		cport_fd s[2];
		t_tcp_pair(s);
		cport_op r = {0}, c = {0};
		assert_int_equal(cport_recv_pool(port, &r, s[1], p.group, CPORT_RECV_MULTISHOT), 0);
		multi_some(&p, &l, &r, s[0], 3);
		if (round == 1) {
			t_write_all(s[0], "late", 4); /* on its way as the close comes */
			t_sleep_us(20000);
		}
		assert_int_equal(cport_close(port, &c, s[1]), 0);
		int closed = 0;
		int64_t last = multi_drain(&p, &l, &r, &c, &closed);
		assert_false(closed); /* the receive ends first */
		assert_true(last == CPORT_ECANCELED || last > 0);
		assert_int_equal(t_run(port, &c), 0);
		t_close(s[0]);
	}
	assert_int_equal(p.held, 0);
	pool_whole(&p);
	cport_destroy(port);
	pool_free(&p);
}

/* ---- Order beside plain receives ------------------------------------------------------ */

/* A plain receive, a pool receive and a plain receive in flight on one stream fill in
 * submission order; a multishot pool receive holds the receive side until it ends. */
static void order_with_plain_receives(void **state)
{
	(void)state;
	struct env *e = env_open(4, 64);
	cport *port = e->port;
	struct pool *p = &e->pool;
	cport_fd *s = e->s;
	cport_op r1 = {0}, pr = {0}, r3 = {0};
	char b1[4], b3[64];
	assert_int_equal(cport_recv(port, &r1, s[1], b1, 4, 0), 0);
	assert_int_equal(cport_recv_pool(port, &pr, s[1], p->group, 0), 0);
	assert_int_equal(cport_recv(port, &r3, s[1], b3, sizeof b3, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	t_write_all(s[0], "aaaabbbbcccc", 12);
	wait_op(port, &r1);
	assert_int_equal(r1.result, 4);
	assert_memory_equal(b1, "aaaa", 4);
	wait_op(port, &pr);
	assert_int_equal(pr.result, 8);
	assert_memory_equal(pool_got(p, &pr), "bbbbcccc", 8);
	pool_give(p, cport_op_buf_id(&pr));
	assert_quiet(port, 50);
	t_write_all(s[0], "dddd", 4);
	wait_op(port, &r3);
	assert_int_equal(r3.result, 4);
	assert_memory_equal(b3, "dddd", 4);

	/* a multishot receive, and a plain one behind it that waits for its end */
	assert_int_equal(cport_recv_pool(port, &pr, s[1], p->group, CPORT_RECV_MULTISHOT), 0);
	assert_int_equal(cport_recv(port, &r3, s[1], b3, sizeof b3, 0), 0);
	const char *msgs[] = {"eeee", "ffff"};
	for (int i = 0; i < 2; i++) {
		t_write_all(s[0], msgs[i], 4);
		wait_op(port, &pr);
		assert_true(pr.cflags & CPORT_MORE);
		assert_int_equal(pr.result, 4);
		assert_memory_equal(pool_got(p, &pr), msgs[i], 4);
		pool_give(p, cport_op_buf_id(&pr));
	}
	assert_int_equal(cport_cancel(port, &pr), 0);
	wait_op(port, &pr);
	assert_int_equal(pr.result, CPORT_ECANCELED);
	assert_quiet(port, 50); /* r3 runs now, and waits for data */
	t_write_all(s[0], "gggg", 4);
	wait_op(port, &r3);
	assert_int_equal(r3.result, 4);
	assert_memory_equal(b3, "gggg", 4);
	env_close(e);
}

/* ---- Datagrams ------------------------------------------------------------------------- */

/* A datagram sent through a port of its own (its completion then never mixes with the
 * receiver's). */
static void udp_send(cport *port, cport_fd from, cport_addr *to, const char *m, size_t n)
{
	cport_iovec iov = {(void *)m, n};
	cport_msg sm = {.addr = to, .iov = &iov, .iovcnt = 1};
	cport_op s = {0};
	assert_int_equal(cport_sendmsg(port, &s, from, &sm), 0);
	assert_int_equal(t_run(port, &s), (int64_t)n);
}

/* A pair of UDP sockets: b receives through `port`, a sends through `tx` (a port of its
 * own, so its completions never mix with the receiver's). */
struct udp_env {
	cport *port, *tx;
	struct pool p;
	cport_addr aa, ab;
	cport_fd a, b;
};

static struct udp_env *udp_open(void)
{
	struct udp_env *u = calloc(1, sizeof *u);
	assert_non_null(u);
	u->port = t_port();
	u->tx = t_port();
	pool_make(&u->p, u->port, 4, 32);
	u->a = t_udp_any(&u->aa);
	u->b = t_udp_any(&u->ab);
	return u;
}

static void udp_close(struct udp_env *u)
{
	assert_int_equal(u->p.held, 0);
	t_close(u->a), t_close(u->b);
	cport_destroy(u->tx);
	cport_destroy(u->port);
	pool_free(&u->p);
	free(u);
}

/* cport_recvmsg_pool says who sent the datagram and cuts what does not fit
 * (CPORT_MSG_TRUNC), whether the datagram waited or came later; an empty datagram is 0
 * without a buffer. */
static void datagrams_with_sender(void **state)
{
	(void)state;
	struct udp_env *u = udp_open();
	struct pool *p = &u->p;
	cport_addr from;
	cport_msg m = {.addr = &from};
	cport_op r = {0};
	assert_int_equal(cport_recvmsg_pool(u->port, &r, u->b, p->group, &m), 0);
	assert_int_equal(cport_submit(u->port), 0);
	udp_send(u->tx, u->a, &u->ab, "hello", 5);
	wait_op(u->port, &r);
	assert_int_equal(r.result, 5);
	assert_memory_equal(pool_got(p, &r), "hello", 5);
	assert_int_equal(m.flags, 0);
	assert_int_equal(cport_addr_port(&from), cport_addr_port(&u->aa));
	pool_give_all(p);
	char big[40];
	memset(big, 'B', sizeof big);
	for (int waited = 0; waited < 2; waited++) {
		/* (IOCP, a datagram waiting: the call fails at once with WSAEMSGSIZE and
		 * still posts its packet) */
		if (waited) {
			udp_send(u->tx, u->a, &u->ab, big, sizeof big);
			t_sleep_us(20000);
		}
		assert_int_equal(cport_recvmsg_pool(u->port, &r, u->b, p->group, &m), 0);
		if (!waited)
			udp_send(u->tx, u->a, &u->ab, big, sizeof big);
		wait_op(u->port, &r);
		assert_int_equal(r.result, 32);
		assert_memory_equal(pool_got(p, &r), big, 32);
		assert_int_equal(m.flags, CPORT_MSG_TRUNC);
		pool_give_all(p);
	}
	/* the same waiting datagram for a plain cport_recvmsg */
	char small[8];
	cport_iovec siov = {small, sizeof small};
	cport_msg pm = {.addr = &from, .iov = &siov, .iovcnt = 1};
	udp_send(u->tx, u->a, &u->ab, big, sizeof big);
	t_sleep_us(20000);
	assert_int_equal(cport_recvmsg(u->port, &r, u->b, &pm), 0);
	wait_op(u->port, &r);
	assert_int_equal(r.result, 8);
	assert_int_equal(pm.flags, CPORT_MSG_TRUNC);
	/* an empty datagram */
	assert_int_equal(cport_recvmsg_pool(u->port, &r, u->b, p->group, &m), 0);
	udp_send(u->tx, u->a, &u->ab, "", 0);
	wait_op(u->port, &r);
	assert_int_equal(r.result, 0);
	assert_null(pool_got(p, &r));
	udp_close(u);
}

/* cport_recv_pool on a datagram socket: one datagram per completion, single-shot and
 * multishot. */
static void datagrams_plain(void **state)
{
	(void)state;
	struct udp_env *u = udp_open();
	struct pool *p = &u->p;
	cport_op r2[2] = {{0}}, r = {0};
	for (int i = 0; i < 2; i++)
		assert_int_equal(cport_recv_pool(u->port, &r2[i], u->b, p->group, 0), 0);
	udp_send(u->tx, u->a, &u->ab, "one", 3);
	udp_send(u->tx, u->a, &u->ab, "three", 5);
	wait_op(u->port, &r2[0]);
	wait_op(u->port, &r2[1]);
	assert_int_equal(r2[0].result, 3);
	assert_memory_equal(pool_got(p, &r2[0]), "one", 3);
	assert_int_equal(r2[1].result, 5);
	assert_memory_equal(pool_got(p, &r2[1]), "three", 5);
	pool_give_all(p);
	const char *dg[] = {"d1", "dd2", "ddd3"};
	assert_int_equal(cport_recv_pool(u->port, &r, u->b, p->group, CPORT_RECV_MULTISHOT), 0);
	for (int i = 0; i < 3; i++)
		udp_send(u->tx, u->a, &u->ab, dg[i], strlen(dg[i]));
	for (int i = 0; i < 3; i++) {
		wait_op(u->port, &r);
		assert_true(r.cflags & CPORT_MORE);
		assert_int_equal(r.result, (int64_t)strlen(dg[i]));
		assert_memory_equal(pool_got(p, &r), dg[i], strlen(dg[i]));
		pool_give(p, cport_op_buf_id(&r));
	}
	assert_int_equal(cport_cancel(u->port, &r), 0);
	wait_op(u->port, &r);
	assert_int_equal(r.result, CPORT_ECANCELED);
	udp_close(u);
}

/* ---- Timeouts ------------------------------------------------------------------------- */

/* timeout_ns on a single-shot pool receive, and on a multishot one, which it bounds as
 * a whole: CPORT_ETIMEDOUT (or, stopped while a completion was the caller's, that
 * completion without CPORT_MORE). The stream goes on after. */
static void timeouts(void **state)
{
	(void)state;
	struct env *e = env_open(4, 64);
	cport *port = e->port;
	struct pool *p = &e->pool;
	cport_fd *s = e->s;
	cport_op r = {0};
	r.timeout_ns = 50 * 1000000ull;
	assert_int_equal(cport_recv_pool(port, &r, s[1], p->group, 0), 0);
	wait_op(port, &r);
	assert_int_equal(r.result, CPORT_ETIMEDOUT);
	assert_int_equal(r.cflags, 0);
	r.timeout_ns = 400 * 1000000ull;
	uint64_t t0 = cport_clock_ns(port) / 1000000; /* virtual on the simulation */
	struct stream_log l = {{0}, {0}, 0, 0};
	assert_int_equal(cport_recv_pool(port, &r, s[1], p->group, CPORT_RECV_MULTISHOT), 0);
	multi_some(p, &l, &r, s[0], 2);
	int64_t last = multi_drain(p, &l, &r, NULL, NULL);
	assert_int_equal(last, CPORT_ETIMEDOUT);
	assert_true(cport_clock_ns(port) / 1000000 - t0 >= 390);
	r.timeout_ns = 0;
	t_write_all(s[0], "after", 5);
	assert_int_equal(cport_recv_pool(port, &r, s[1], p->group, 0), 0);
	wait_op(port, &r);
	assert_int_equal(r.result, 5);
	assert_memory_equal(pool_got(p, &r), "after", 5);
	pool_give_all(p);
	env_close(e);
}

/* io_uring on a kernel without multishot receives (before Linux 6.0) runs them one
 * receive at a time ($CPORT_TEST_URING_NO_RECV_MULTI takes that path here); the same
 * pumps must hold. Elsewhere the variable means nothing and the pumps run again. */
static void multishot_one_at_a_time(void **state)
{
#ifndef _WIN32
	setenv("CPORT_TEST_URING_NO_RECV_MULTI", "1", 1);
#endif
	multishot_pump(state);
	multishot_dry_rearm(state);
	cancel_multishot(state);
	close_multishot(state);
	timeouts(state);
#ifndef _WIN32
	unsetenv("CPORT_TEST_URING_NO_RECV_MULTI");
#endif
}

/* ---- Links, and what is not a socket ------------------------------------------------- */

/* A single-shot pool receive may lead a chain: data lets the next op start, the end of
 * the stream breaks the chain. A pool receive on a pipe: CPORT_ENOTSOCK (IOCP at submit,
 * elsewhere as its result; io_uring's once data is there). */
static void links_and_pipes(void **state)
{
	(void)state;
	struct env *e = env_open(2, 32);
	cport_op r = {0}, n = {0};
	r.flags = CPORT_OP_LINK;
	assert_int_equal(cport_recv_pool(e->port, &r, e->s[1], e->pool.group, 0), 0);
	assert_int_equal(cport_nop(e->port, &n), 0);
	t_write_all(e->s[0], "go", 2);
	assert_int_equal(t_reap(e->port, 2, NULL, NULL), 2);
	assert_int_equal(r.result, 2);
	assert_int_equal(n.result, 0);
	assert_memory_equal(pool_got(&e->pool, &r), "go", 2);
	pool_give(&e->pool, cport_op_buf_id(&r));
	assert_int_equal(cport_recv_pool(e->port, &r, e->s[1], e->pool.group, 0), 0);
	assert_int_equal(cport_nop(e->port, &n), 0);
	assert_int_equal(t_sock_shut_wr(e->s[0]), 0);
	assert_int_equal(t_reap(e->port, 2, NULL, NULL), 2);
	assert_int_equal(r.result, 0);
	assert_null(pool_got(&e->pool, &r));
	assert_int_equal(n.result, CPORT_ECANCELED);
	r.flags = 0;
	if (t_sim()) { /* its "pipes" are stream pairs, which take pool receives */
		env_close(e);
		return;
	}
	cport_fd pp[2];
	assert_int_equal(t_pipe(pp), 0);
	int sub = cport_recv_pool(e->port, &r, pp[0], e->pool.group, 0);
	if (sub == 0) { /* io_uring says so once there is data */
		assert_int_equal(t_write(pp[1], "p", 1), 1);
		sub = (int)t_run(e->port, &r);
	}
	assert_int_equal(sub, CPORT_ENOTSOCK);
	assert_int_equal(e->pool.held, 0);
	t_close(pp[0]), t_close(pp[1]);
	env_close(e);
}

/* ---- Bad input, remove ----------------------------------------------------------------- */

/* Each call is refused and leaves the op exactly as it was. */
static void refused_untouched(int r, int want, const cport_op *op, const cport_op *before)
{
	assert_int_equal(r, want);
	assert_memory_equal(op, before, sizeof *op);
}

/* cport_bufpool_add's arguments, and pool calls with no pool. */
static void bad_add(void **state)
{
	(void)state;
	cport *port = t_port();
	char mem[256];
	uint16_t g = 99;
	cport_op op, before;
	memset(&op, 0xa5, sizeof op);
	before = op;
	cport_fd s[2];
	t_tcp_pair(s);
	refused_untouched(cport_recv_pool(port, &op, s[1], 0, 0), CPORT_EINVAL, &op, &before);
	cport_msg m = {0};
	refused_untouched(cport_recvmsg_pool(port, &op, s[1], 0, &m), CPORT_EINVAL, &op, &before);
	assert_int_equal(cport_bufpool_return(port, 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_bufpool_remove(port, 0), CPORT_EINVAL);
	assert_int_equal(cport_bufpool_add(NULL, mem, 4, 64, &g), CPORT_EINVAL);
	assert_int_equal(cport_bufpool_add(port, NULL, 4, 64, &g), CPORT_EINVAL);
	assert_int_equal(cport_bufpool_add(port, mem, 0, 64, &g), CPORT_EINVAL);
	assert_int_equal(cport_bufpool_add(port, mem, CPORT_MAX_BUFPOOL_COUNT + 1, 1, &g),
	                 CPORT_EINVAL);
	assert_int_equal(cport_bufpool_add(port, mem, 4, 0, &g), CPORT_EINVAL);
	assert_int_equal(cport_bufpool_add(port, mem, 1, CPORT_MAX_IO + 1, &g), CPORT_EINVAL);
	assert_int_equal(cport_bufpool_add(port, mem, 4, 64, NULL), CPORT_EINVAL);
	assert_int_equal(cport_bufpool_add(port, (void *)(uintptr_t)(UINTPTR_MAX - 100), 4, 64, &g),
	                 CPORT_EINVAL); /* wraps */
	assert_int_equal(g, 99);
	assert_int_equal(cport_bufpool_add(port, mem, 4, 64, &g), 0);
	assert_int_equal(g, 0);
	t_close(s[0]), t_close(s[1]);
	cport_destroy(port);
}

/* The submit calls' arguments: each refused, the op left exactly as it was. */
static void bad_submits(void **state)
{
	(void)state;
	struct env *e = env_open(4, 64);
	cport *port = e->port;
	cport_fd *s = e->s;
	uint16_t g = e->pool.group;
	cport_op op, before;
	memset(&op, 0xa5, sizeof op);
	before = op;
	refused_untouched(cport_recv_pool(NULL, &op, s[1], g, 0), CPORT_EINVAL, &op, &before);
	assert_int_equal(cport_recv_pool(port, NULL, s[1], g, 0), CPORT_EINVAL);
	refused_untouched(cport_recv_pool(port, &op, s[1], 1, 0), CPORT_EINVAL, &op, &before);
	refused_untouched(cport_recv_pool(port, &op, s[1], CPORT_MAX_BUFPOOLS, 0), CPORT_EINVAL,
	                  &op, &before);
	refused_untouched(cport_recv_pool(port, &op, s[1], g, 1u << 5), CPORT_EINVAL, &op, &before);
	refused_untouched(cport_recv_pool(port, &op, (cport_fd)-1, g, 0), CPORT_EBADF, &op,
	                  &before);
	op.flags = CPORT_OP_LINK; /* a multishot op cannot be linked */
	before = op;
	refused_untouched(cport_recv_pool(port, &op, s[1], g, CPORT_RECV_MULTISHOT), CPORT_EINVAL,
	                  &op, &before);
	op.flags = 1u << 20; /* not a CPORT_OP_* flag */
	before = op;
	refused_untouched(cport_recv_pool(port, &op, s[1], g, 0), CPORT_EINVAL, &op, &before);
	memset(&op, 0xa5, sizeof op);
	op.flags = 0;
	before = op;
	refused_untouched(cport_recvmsg_pool(port, &op, s[1], g, NULL), CPORT_EINVAL, &op, &before);
	char b[4];
	cport_iovec iov = {b, 4};
	cport_msg m = {.iov = &iov, .iovcnt = 1};
	refused_untouched(cport_recvmsg_pool(port, &op, s[1], g, &m), CPORT_EINVAL, &op, &before);
	m.iov = NULL;
	refused_untouched(cport_recvmsg_pool(port, &op, s[1], g, &m), CPORT_EINVAL, &op, &before);
	env_close(e);
}

/* In flight: CPORT_EBUSY, and the pool cannot be removed; cport_bufpool_return takes
 * only buffers the caller holds, once; cport_op_buf_id. */
static void bad_in_use(void **state)
{
	(void)state;
	struct env *e = env_open(4, 64);
	cport *port = e->port;
	uint16_t g = e->pool.group;
	cport_op r = {0};
	assert_int_equal(cport_recv_pool(port, &r, e->s[1], g, CPORT_RECV_MULTISHOT), 0);
	cport_op r_before = r;
	assert_int_equal(cport_recv_pool(port, &r, e->s[1], g, 0), CPORT_EBUSY);
	assert_memory_equal(&r, &r_before, sizeof r);
	assert_int_equal(cport_bufpool_remove(port, g), CPORT_EBUSY);
	assert_int_equal(cport_bufpool_return(NULL, g, 0), CPORT_EINVAL);
	assert_int_equal(cport_bufpool_return(port, g, 0), CPORT_EINVAL); /* never handed over */
	assert_int_equal(cport_bufpool_return(port, g, 4), CPORT_EINVAL); /* out of range */
	assert_int_equal(cport_bufpool_return(port, 7, 0), CPORT_EINVAL); /* no such pool */
	t_write_all(e->s[0], "q", 1);
	wait_op(port, &r);
	int id = cport_op_buf_id(&r);
	assert_true(id >= 0 && id < 4);
	assert_int_equal(e->pool.mem[id * 64], 'q');
	assert_int_equal(cport_bufpool_return(port, g, (uint16_t)id), 0);
	assert_int_equal(cport_bufpool_return(port, g, (uint16_t)id), CPORT_EINVAL); /* twice */
	assert_int_equal(cport_cancel(port, &r), 0);
	wait_op(port, &r);
	assert_int_equal(r.result, CPORT_ECANCELED);
	assert_int_equal(cport_bufpool_remove(port, g), 0);
	assert_int_equal(cport_bufpool_remove(port, g), CPORT_EINVAL);
	assert_int_equal(cport_op_buf_id(NULL), CPORT_EINVAL);
	r.cflags = CPORT_MORE;
	assert_int_equal(cport_op_buf_id(&r), CPORT_ENOENT);
	r.cflags = CPORT_BUF | 7u << CPORT_BUF_SHIFT;
	assert_int_equal(cport_op_buf_id(&r), 7);
	env_close(e);
}

/* Pool numbers: the lowest free one; at most CPORT_MAX_BUFPOOLS; a removed pool's
 * buffers the caller held are forgotten; pools of different sizes serve at once. */
static void pools_add_remove(void **state)
{
	(void)state;
	cport *port = t_port();
	static char mem[CPORT_MAX_BUFPOOLS][4 * 32];
	uint16_t g[CPORT_MAX_BUFPOOLS], extra;
	for (uint32_t i = 0; i < CPORT_MAX_BUFPOOLS; i++) {
		assert_int_equal(cport_bufpool_add(port, mem[i], 4, 8 + i, &g[i]), 0);
		assert_int_equal(g[i], i);
	}
	assert_int_equal(cport_bufpool_add(port, mem[0], 4, 8, &extra), CPORT_ENOSPC);
	cport_fd s[2];
	t_tcp_pair(s);
	/* a buffer of pool 3 (11-byte buffers) held, then the pool removed */
	cport_op r = {0};
	t_write_all(s[0], "0123456789abcdef", 16);
	assert_int_equal(cport_recv_pool(port, &r, s[1], g[3], 0), 0);
	wait_op(port, &r);
	assert_int_equal(r.result, 11);
	int id = cport_op_buf_id(&r);
	assert_memory_equal(mem[3] + id * 11, "0123456789a", 11);
	assert_int_equal(cport_bufpool_remove(port, g[3]), 0);
	assert_int_equal(cport_bufpool_return(port, g[3], (uint16_t)id), CPORT_EINVAL);
	/* the number is free again, for a pool of another size */
	assert_int_equal(cport_bufpool_add(port, mem[3], 2, 64, &extra), 0);
	assert_int_equal(extra, 3);
	assert_int_equal(cport_recv_pool(port, &r, s[1], extra, 0), 0);
	wait_op(port, &r);
	assert_int_equal(r.result, 5);
	id = cport_op_buf_id(&r);
	assert_true(id >= 0 && id < 2);
	assert_memory_equal(mem[3] + id * 64, "bcdef", 5);
	assert_int_equal(cport_bufpool_return(port, extra, (uint16_t)id), 0);
	for (uint32_t i = 0; i < CPORT_MAX_BUFPOOLS; i++)
		assert_int_equal(cport_bufpool_remove(port, (uint16_t)i), 0);
	t_close(s[0]), t_close(s[1]);
	cport_destroy(port);
}

/* ---- Destroy ---------------------------------------------------------------------------- */

/* Destroy with a multishot receive in flight, buffers with the caller and data on its
 * way: nothing is delivered, and nothing writes into the pool's memory afterwards. */
static void destroy_in_flight(void **state)
{
	(void)state;
	for (int round = 0; round < 2; round++) {
		cport *port = t_port();
		struct pool p;
		pool_make(&p, port, 4, 64);
		cport_fd s[2];
		t_tcp_pair(s);
		cport_op r = {0}, r2 = {0};
		assert_int_equal(cport_recv_pool(port, &r, s[1], p.group, CPORT_RECV_MULTISHOT), 0);
		t_write_all(s[0], "abc", 3);
		wait_op(port, &r);
		assert_non_null(pool_got(&p, &r)); /* held: not returned */
		if (round == 1) {
			cport_fd q[2];
			t_tcp_pair(q); /* a single-shot one on another connection too */
			assert_int_equal(cport_recv_pool(port, &r2, q[1], p.group, 0), 0);
			assert_int_equal(cport_submit(port), 0);
			t_close(q[0]);
			t_write_all(s[0], "def", 3); /* on its way as the port goes */
			cport_destroy(port);
			t_close(q[1]);
		} else {
			cport_destroy(port);
		}
		memset(p.mem, 0x5a, (size_t)p.count * p.size);
		t_write_all(s[0], "ghi", 3);
		t_sleep_us(50000);
		for (size_t i = 0; i < (size_t)p.count * p.size; i++)
			assert_int_equal((unsigned char)p.mem[i], 0x5a);
		t_close(s[0]), t_close(s[1]);
		pool_free(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bad_add),
	    cmocka_unit_test(bad_submits),
	    cmocka_unit_test(bad_in_use),
	    cmocka_unit_test(pools_add_remove),
	    cmocka_unit_test(single_pump),
	    cmocka_unit_test(multishot_pump),
	    cmocka_unit_test(multishot_dry_rearm),
	    cmocka_unit_test(multishot_one_at_a_time),
	    cmocka_unit_test(dry_pool),
	    cmocka_unit_test(end_and_reset),
	    cmocka_unit_test(cancel_multishot),
	    cmocka_unit_test(close_multishot),
	    cmocka_unit_test(order_with_plain_receives),
	    cmocka_unit_test(datagrams_with_sender),
	    cmocka_unit_test(datagrams_plain),
	    cmocka_unit_test(timeouts),
	    cmocka_unit_test(links_and_pipes),
	    cmocka_unit_test(destroy_in_flight),
	};
	return T_MAIN("recv-pool", tests);
}
