/* SPDX-License-Identifier: MIT */
/* Links and barriers (rule 13; cport.h section 4b): the same meaning on every backend. */

#include "helpers.h"

#include <stdlib.h>
#include <string.h>

#define T_MS (1000000LL)

/* Reap `n` completions; record the order in `order` (may be NULL); each op once. */
static void reap_order(cport *port, cport_op **order, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		cport_op *op = t_wait1(port);
		for (unsigned j = 0; order && j < i; j++)
			assert_ptr_not_equal(order[j], op);
		if (order)
			order[i] = op;
	}
	cport_op *extra;
	assert_int_equal(cport_wait(port, &extra, 1, 20 * T_MS), 0);
}

/* write -> fdatasync: the sync starts after the write succeeded; both complete, in order. */
static void write_then_sync(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(0);
	char buf[4096];
	memset(buf, 'w', sizeof buf);
	cport_op w = {0}, s = {0};
	w.flags = CPORT_OP_LINK;
	assert_int_equal(cport_write(port, &w, fd, buf, sizeof buf, 0), 0);
	assert_int_equal(cport_fsync(port, &s, fd, CPORT_FSYNC_DATA), 0);
	cport_op *order[2];
	reap_order(port, order, 2);
	assert_ptr_equal(order[0], &w);
	assert_ptr_equal(order[1], &s);
	assert_int_equal(w.result, (int64_t)sizeof buf);
	assert_int_equal(s.result, 0);
	char back[4096];
	assert_int_equal(t_pread(fd, back, sizeof back, 0), (int64_t)sizeof back);
	assert_memory_equal(back, buf, sizeof buf);
	/* The flags are the caller's: the ops may be reused with or without them. */
	assert_int_equal(w.flags, CPORT_OP_LINK);
	t_close(fd);
	cport_destroy(port);
}

/* A read that meets end of file is short: the chain breaks, the rest never starts (the
 * file is left as it was) and completes with CPORT_ECANCELED. */
static void short_read_breaks_chain(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(100);
	char buf[200], data[64];
	memset(data, 'x', sizeof data);
	cport_op r = {0}, w = {0}, s = {0};
	r.flags = CPORT_OP_LINK;
	w.flags = CPORT_OP_LINK;
	assert_int_equal(cport_read(port, &r, fd, buf, sizeof buf, 0), 0);
	assert_int_equal(cport_write(port, &w, fd, data, sizeof data, 0), 0);
	assert_int_equal(cport_fsync(port, &s, fd, 0), 0);
	cport_op *order[3];
	reap_order(port, order, 3);
	assert_ptr_equal(order[0], &r);
	assert_int_equal(r.result, 100);
	assert_int_equal(w.result, CPORT_ECANCELED);
	assert_int_equal(s.result, CPORT_ECANCELED);
	char back[1];
	assert_int_equal(t_pread(fd, back, 1, 0), 1);
	assert_int_equal((uint8_t)back[0], t_pattern(0)); /* the write never ran */
	t_close(fd);
	cport_destroy(port);
}

/* An op that fails (its timeout) breaks the chain as well. */
static void failure_breaks_chain(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op t = {0}, n1 = {0}, n2 = {0}, after = {0};
	t.flags = CPORT_OP_LINK;
	t.timeout_ns = 10 * T_MS; /* before its 30 s: CPORT_ETIMEDOUT */
	n1.flags = CPORT_OP_LINK;
	assert_int_equal(cport_timer(port, &t, 30000 * T_MS, 0), 0);
	assert_int_equal(cport_nop(port, &n1), 0);
	assert_int_equal(cport_nop(port, &n2), 0);
	assert_int_equal(cport_nop(port, &after), 0); /* a new chain of its own */
	cport_op *order[4];
	reap_order(port, order, 4);
	assert_int_equal(t.result, CPORT_ETIMEDOUT);
	assert_int_equal(n1.result, CPORT_ECANCELED);
	assert_int_equal(n2.result, CPORT_ECANCELED);
	assert_int_equal(after.result, 0);
	cport_destroy(port);
}

/* A chain whose members all succeed runs them one after the other, in order. */
static void long_chain_in_order(void **state)
{
	(void)state;
	cport *port = t_port();
	enum { N = 200 };
	static cport_op ops[N];
	memset(ops, 0, sizeof ops);
	for (int i = 0; i < N; i++) {
		ops[i].flags = i < N - 1 ? CPORT_OP_LINK : 0;
		if (i % 2)
			assert_int_equal(cport_nop(port, &ops[i]), 0);
		else
			assert_int_equal(cport_timer(port, &ops[i], 100000, 0), 0);
	}
	static cport_op *order[N];
	reap_order(port, order, N);
	for (int i = 0; i < N; i++) {
		assert_ptr_equal(order[i], &ops[i]);
		assert_int_equal(ops[i].result, 0);
	}
	cport_destroy(port);
}

/* A long chain broken at its head ends at once, however long (no recursion). */
static void long_chain_broken(void **state)
{
	(void)state;
	cport *port = t_port();
	enum { N = 20000 };
	cport_op *ops = calloc(N, sizeof *ops);
	assert_non_null(ops);
	for (int i = 0; i < N; i++) {
		ops[i].flags = i < N - 1 ? CPORT_OP_LINK : 0;
		if (i == 0)
			assert_int_equal(cport_timer(port, &ops[i], 30000 * T_MS, 0), 0);
		else
			assert_int_equal(cport_nop(port, &ops[i]), 0);
	}
	assert_int_equal(cport_cancel(port, &ops[0]), 0);
	unsigned got = 0;
	cport_op *out[256];
	while (got < N) {
		int k = cport_wait(port, out, 256, 10000 * T_MS);
		assert_true(k > 0);
		for (int i = 0; i < k; i++) {
			assert_int_equal(out[i]->result, CPORT_ECANCELED);
			assert_ptr_equal(out[i], &ops[got + (unsigned)i]); /* in chain order */
		}
		got += (unsigned)k;
	}
	free(ops);
	cport_destroy(port);
}

/* Cancel of a member that waits: it and the rest of its chain complete with
 * CPORT_ECANCELED, once; the op before it goes on. */
static void cancel_held_member(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op a = {0}, b = {0}, c = {0};
	a.flags = CPORT_OP_LINK;
	b.flags = CPORT_OP_LINK;
	assert_int_equal(cport_timer(port, &a, 50 * T_MS, 0), 0);
	assert_int_equal(cport_nop(port, &b), 0);
	assert_int_equal(cport_nop(port, &c), 0);
	assert_int_equal(cport_cancel(port, &b), 0);
	assert_int_equal(cport_cancel(port, &b), 0); /* twice: harmless */
	cport_op *order[3];
	reap_order(port, order, 3);
	assert_ptr_equal(order[0], &b);
	assert_ptr_equal(order[1], &c);
	assert_ptr_equal(order[2], &a);
	assert_int_equal(b.result, CPORT_ECANCELED);
	assert_int_equal(c.result, CPORT_ECANCELED);
	assert_int_equal(a.result, 0);
	assert_int_equal(cport_cancel(port, &c), CPORT_ENOENT);
	cport_destroy(port);
}

/* A held member's timeout counts from its submit, also while it waits. */
static void held_member_times_out(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op a = {0}, b = {0};
	a.flags = CPORT_OP_LINK;
	b.timeout_ns = 10 * T_MS;
	assert_int_equal(cport_timer(port, &a, 30000 * T_MS, 0), 0);
	assert_int_equal(cport_nop(port, &b), 0);
	assert_ptr_equal(t_wait1(port), &b);
	assert_int_equal(b.result, CPORT_ETIMEDOUT);
	assert_int_equal(cport_cancel(port, &a), 0);
	assert_int_equal(t_run(port, &a), CPORT_ECANCELED);
	cport_destroy(port);
}

/* cport_close cancels the chain members that wait on its descriptor. */
static void close_cancels_held(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(64);
	char buf[16];
	cport_op a = {0}, r = {0}, cl = {0};
	a.flags = CPORT_OP_LINK;
	assert_int_equal(cport_timer(port, &a, 30000 * T_MS, 0), 0);
	assert_int_equal(cport_read(port, &r, fd, buf, sizeof buf, 0), 0);
	assert_int_equal(cport_close(port, &cl, fd), 0);
	cport_op *order[2];
	reap_order(port, order, 2);
	assert_ptr_equal(order[0], &r);
	assert_ptr_equal(order[1], &cl);
	assert_int_equal(r.result, CPORT_ECANCELED);
	assert_int_equal(cl.result, 0);
	assert_int_equal(cport_cancel(port, &a), 0);
	assert_int_equal(t_run(port, &a), CPORT_ECANCELED);
	cport_destroy(port);
}

/* A chain must end before the port is driven; the op that ends it may come later. */
static void open_chain_refuses_wait(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op a = {0}, b = {0};
	a.flags = CPORT_OP_LINK;
	assert_int_equal(cport_nop(port, &a), 0);
	cport_op *out[2];
	assert_int_equal(cport_wait(port, out, 2, 0), CPORT_EINVAL);
	assert_int_equal(cport_submit(port), CPORT_EINVAL);
	assert_int_equal(cport_nop(port, &b), 0);
	reap_order(port, out, 2);
	assert_ptr_equal(out[0], &a);
	assert_ptr_equal(out[1], &b);
	cport_destroy(port);
}

/* The predecessor may complete before its successor is submitted: a zero-byte read
 * completes inside its submit. Success lets the next op run, failure cancels it. */
static void predecessor_done_first(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	char buf[1];
	cport_op z = {0}, n = {0}, t = {0}, m = {0};
	z.flags = CPORT_OP_LINK;
	assert_int_equal(cport_read(port, &z, p[0], buf, 0, -1), 0);
	assert_int_equal(cport_nop(port, &n), 0);
	reap_order(port, NULL, 2);
	assert_int_equal(z.result, 0);
	assert_int_equal(n.result, 0);
	/* A timer cancelled before its successor came. */
	t.flags = CPORT_OP_LINK;
	assert_int_equal(cport_timer(port, &t, 30000 * T_MS, 0), 0);
	assert_int_equal(cport_cancel(port, &t), 0);
	assert_int_equal(cport_nop(port, &m), 0);
	cport_op *order[2];
	reap_order(port, order, 2);
	assert_int_equal(t.result, CPORT_ECANCELED);
	assert_int_equal(m.result, CPORT_ECANCELED);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

/* Bad input: unknown flags, a post with flags, a multishot link, a bad descriptor for
 * an op that would wait. Each is refused and leaves the op as it was. */
static void bad_input(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op, copy;
	memset(&op, 0x5a, sizeof op);
	memset(op.internal, 0, sizeof op.internal);
	op.flags = 1u << 30;
	memcpy(&copy, &op, sizeof op);
	assert_int_equal(cport_nop(port, &op), CPORT_EINVAL);
	assert_memory_equal(&op, &copy, sizeof op);
	op.flags = CPORT_OP_LINK;
	memcpy(&copy, &op, sizeof op);
	assert_int_equal(cport_post(port, &op, 1), CPORT_EINVAL);
	assert_memory_equal(&op, &copy, sizeof op);
	cport_fd lfd;
	cport_addr any;
	assert_int_equal(cport_addr_parse(&any, "127.0.0.1:0"), 0);
	assert_int_equal(cport_tcp_listen(&lfd, &any, 8, 0), 0);
	assert_int_equal(cport_accept(port, &op, lfd, NULL, CPORT_ACCEPT_MULTISHOT),
			 CPORT_EINVAL);
	assert_memory_equal(&op, &copy, sizeof op);
	/* An op that would be held behind a link checks its descriptor at submit. */
	cport_op a = {0}, r = {0}, n = {0};
	a.flags = CPORT_OP_LINK;
	assert_int_equal(cport_timer(port, &a, 1 * T_MS, 0), 0);
	char buf[4];
	assert_int_equal(cport_sock_close(lfd), 0);
	assert_int_equal(cport_read(port, &r, lfd, buf, sizeof buf, 0), CPORT_EBADF);
	assert_int_equal(cport_nop(port, &n), 0); /* the chain is still open: this ends it */
	reap_order(port, NULL, 2);
	assert_int_equal(a.result, 0);
	assert_int_equal(n.result, 0);
	cport_destroy(port);
}

/* A barrier starts after every earlier op completed, and later ops start after it. */
static void barrier_orders(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op t1 = {0}, t2 = {0}, b = {0}, n = {0};
	b.flags = CPORT_OP_BARRIER;
	assert_int_equal(cport_timer(port, &t1, 60 * T_MS, 0), 0);
	assert_int_equal(cport_timer(port, &t2, 20 * T_MS, 0), 0);
	assert_int_equal(cport_nop(port, &b), 0);
	assert_int_equal(cport_nop(port, &n), 0);
	cport_op *order[4];
	reap_order(port, order, 4);
	assert_ptr_equal(order[0], &t2);
	assert_ptr_equal(order[1], &t1);
	assert_ptr_equal(order[2], &b);
	assert_ptr_equal(order[3], &n);
	cport_destroy(port);
}

/* Group commit: writes, a barrier fdatasync, then the next group's writes. */
static void barrier_group_commit(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(0);
	enum { W = 8 };
	static char data[2][W][512];
	cport_op w[2][W], s[2];
	memset(w, 0, sizeof w);
	memset(s, 0, sizeof s);
	for (int g = 0; g < 2; g++) {
		for (int i = 0; i < W; i++) {
			memset(data[g][i], 'a' + g * W + i, 512);
			assert_int_equal(cport_write(port, &w[g][i], fd, data[g][i], 512,
						     (int64_t)(g * W + i) * 512), 0);
		}
		s[g].flags = CPORT_OP_BARRIER;
		assert_int_equal(cport_fsync(port, &s[g], fd, CPORT_FSYNC_DATA), 0);
	}
	cport_op *order[2 * W + 2];
	reap_order(port, order, 2 * W + 2);
	/* Each sync comes after its group's writes, and the second group after it. */
	int pos_s0 = -1, pos_s1 = -1;
	for (int i = 0; i < 2 * W + 2; i++) {
		if (order[i] == &s[0])
			pos_s0 = i;
		if (order[i] == &s[1])
			pos_s1 = i;
		assert_true(order[i]->result >= 0);
	}
	assert_int_equal(pos_s0, W);
	assert_int_equal(pos_s1, 2 * W + 1);
	char back[512];
	assert_int_equal(t_pread(fd, back, 512, 15 * 512), 512);
	assert_memory_equal(back, data[1][7], 512);
	t_close(fd);
	cport_destroy(port);
}

/* A barrier cancelled while it waits lets the ops behind it go. */
static void barrier_cancelled(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op t = {0}, b = {0}, n = {0};
	b.flags = CPORT_OP_BARRIER;
	assert_int_equal(cport_timer(port, &t, 30000 * T_MS, 0), 0);
	assert_int_equal(cport_nop(port, &b), 0);
	assert_int_equal(cport_nop(port, &n), 0);
	assert_int_equal(cport_wait(port, (cport_op *[1]){NULL}, 1, 20 * T_MS), 0);
	assert_int_equal(cport_cancel(port, &b), 0);
	cport_op *order[2];
	reap_order(port, order, 2);
	assert_ptr_equal(order[0], &b);
	assert_ptr_equal(order[1], &n);
	assert_int_equal(b.result, CPORT_ECANCELED);
	assert_int_equal(n.result, 0);
	assert_int_equal(cport_cancel(port, &t), 0);
	assert_int_equal(t_run(port, &t), CPORT_ECANCELED);
	cport_destroy(port);
}

/* Barriers in a row, and a barrier that is also a link. */
static void barriers_and_links(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op t = {0}, b1 = {0}, m = {0}, b2 = {0}, l = {0}, f = {0};
	b1.flags = CPORT_OP_BARRIER;
	b2.flags = CPORT_OP_BARRIER | CPORT_OP_LINK;
	assert_int_equal(cport_timer(port, &t, 20 * T_MS, 0), 0);
	assert_int_equal(cport_nop(port, &b1), 0);
	assert_int_equal(cport_timer(port, &m, 10 * T_MS, 0), 0);
	assert_int_equal(cport_nop(port, &b2), 0);
	assert_int_equal(cport_nop(port, &l), 0); /* linked to b2 */
	f.timeout_ns = 5 * T_MS;                  /* held behind b2: times out waiting */
	assert_int_equal(cport_timer(port, &f, 1, 0), 0);
	cport_op *order[6];
	reap_order(port, order, 6);
	assert_ptr_equal(order[0], &f);
	assert_int_equal(f.result, CPORT_ETIMEDOUT);
	assert_ptr_equal(order[1], &t);
	assert_ptr_equal(order[2], &b1);
	assert_ptr_equal(order[3], &m);
	assert_ptr_equal(order[4], &b2);
	assert_ptr_equal(order[5], &l);
	for (int i = 1; i < 6; i++)
		assert_int_equal(order[i]->result, 0);
	cport_destroy(port);
}

/* Destroy with held ops: nothing is delivered, nothing touched afterwards. */
static void destroy_with_held(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op *ops = calloc(6, sizeof *ops);
	assert_non_null(ops);
	ops[0].flags = CPORT_OP_LINK;
	assert_int_equal(cport_timer(port, &ops[0], 30000 * T_MS, 0), 0);
	assert_int_equal(cport_nop(port, &ops[1]), 0);
	ops[2].flags = CPORT_OP_BARRIER;
	ops[2].timeout_ns = 30000 * T_MS;
	assert_int_equal(cport_nop(port, &ops[2]), 0);
	assert_int_equal(cport_nop(port, &ops[3]), 0);
	assert_int_equal(cport_submit(port), 0);
	cport_destroy(port);
	free(ops); /* ASan: nothing may touch them after destroy */
}

/* ---- A random mix, checked by a ledger -------------------------------------------------- */

enum { R_OPS = 20000, R_DEPTH = 200 };

struct rop {
	cport_op op;
	int pred;         /* chain predecessor's index, or -1 */
	int last_barrier; /* the latest barrier accepted before it, or -1 */
	int done_at;      /* completion order, -1 while in flight */
	bool barrier, cancelled, timed, short_read;
};

static struct rop rops[R_OPS];
static int r_done;

static uint64_t r_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Did the op succeed in the links' sense? */
static bool r_ok(const struct rop *r)
{
	return r->op.result >= 0 && !r->short_read;
}

/* It ran (was not ended unstarted by us, its timeout or its chain). */
static bool r_ran(const struct rop *r)
{
	return r->op.result != CPORT_ECANCELED && r->op.result != CPORT_ETIMEDOUT;
}

static void r_check(int i)
{
	struct rop *r = &rops[i];
	assert_int_equal(r->done_at, -1); /* exactly once */
	r->done_at = r_done++;
	if (r->pred >= 0 && !r->cancelled && !r->timed) {
		struct rop *p = &rops[r->pred];
		assert_true(p->done_at >= 0); /* after its predecessor */
		if (!r_ok(p))
			assert_int_equal(r->op.result, CPORT_ECANCELED);
		else
			assert_true(r->op.result != CPORT_ECANCELED);
	}
	if (!r_ran(r))
		return;
	/* Ran: every barrier before it completed first ... */
	for (int b = r->last_barrier; b >= 0; b = rops[b].last_barrier)
		assert_true(rops[b].done_at >= 0 && rops[b].done_at < r->done_at);
	/* ... and a barrier that ran came after every op before it. */
	if (r->barrier)
		for (int j = 0; j < i; j++)
			assert_true(rops[j].done_at >= 0 && rops[j].done_at < r->done_at);
}

static void random_mix(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(4096);
	static char wbuf[512], rbuf[512];
	memset(wbuf, 'r', sizeof wbuf);
	uint64_t seed = 0x9e3779b97f4a7c15u;
	int next = 0, last_barrier = -1, inflight = 0;
	bool link_open = false;
	r_done = 0;
	memset(rops, 0, sizeof rops);
	while (r_done < R_OPS) {
		int batch = 1 + (int)(r_rand(&seed) % 16);
		for (int k = 0; k < batch && next < R_OPS && inflight < R_DEPTH; k++) {
			struct rop *r = &rops[next];
			uint64_t x = r_rand(&seed);
			r->pred = link_open ? next - 1 : -1;
			r->last_barrier = last_barrier;
			r->done_at = -1;
			bool last = k == batch - 1 || next == R_OPS - 1 || inflight + 1 == R_DEPTH;
			r->op.flags = (!last && x % 10 < 3) ? CPORT_OP_LINK : 0;
			r->barrier = (x >> 8) % 40 == 0;
			if (r->barrier)
				r->op.flags |= CPORT_OP_BARRIER;
			if (!r->barrier && (x >> 16) % 10 == 0) {
				r->op.timeout_ns = 500000 + (x >> 24) % 2000000;
				r->timed = true;
			}
			int kind = r->barrier ? (int)((x >> 32) % 2) : (int)((x >> 32) % 10);
			int rc;
			if (kind == 0)
				rc = cport_nop(port, &r->op);
			else if (kind == 1)
				rc = cport_fsync(port, &r->op, fd, CPORT_FSYNC_DATA);
			else if (kind < 5)
				rc = cport_timer(port, &r->op, (x >> 40) % 1500000, 0);
			else if (kind < 8)
				rc = cport_write(port, &r->op, fd, wbuf, sizeof wbuf,
						 (int64_t)((x >> 40) % 8) * 512);
			else if (kind == 8) {
				r->short_read = true; /* past end of file: 0 bytes, a broken link */
				rc = cport_read(port, &r->op, fd, rbuf, sizeof rbuf, 1 << 20);
			} else {
				rc = cport_read(port, &r->op, fd, rbuf, sizeof rbuf, 0);
			}
			assert_int_equal(rc, 0);
			link_open = r->op.flags & CPORT_OP_LINK;
			if (r->barrier)
				last_barrier = next;
			next++;
			inflight++;
		}
		assert_false(link_open);
		/* Cancel a few ops in flight, held or running. */
		for (int c = 0; c < 2 && next > 0; c++) {
			int i = next - 1 - (int)(r_rand(&seed) % (uint64_t)(next < 64 ? next : 64));
			if (rops[i].done_at < 0 && r_rand(&seed) % 4 == 0 &&
			    cport_cancel(port, &rops[i].op) == 0)
				rops[i].cancelled = true;
		}
		cport_op *out[64];
		int n = cport_wait(port, out, 64, inflight >= R_DEPTH || next == R_OPS ? 10000 * T_MS : 0);
		assert_true(n >= 0);
		for (int j = 0; j < n; j++) {
			r_check((int)((struct rop *)(void *)out[j] - rops));
			inflight--;
		}
	}
	assert_int_equal(next, R_OPS);
	cport_op *extra;
	assert_int_equal(cport_wait(port, &extra, 1, 20 * T_MS), 0);
	t_close(fd);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(write_then_sync),
		cmocka_unit_test(short_read_breaks_chain),
		cmocka_unit_test(failure_breaks_chain),
		cmocka_unit_test(long_chain_in_order),
		cmocka_unit_test(long_chain_broken),
		cmocka_unit_test(cancel_held_member),
		cmocka_unit_test(held_member_times_out),
		cmocka_unit_test(close_cancels_held),
		cmocka_unit_test(open_chain_refuses_wait),
		cmocka_unit_test(predecessor_done_first),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(barrier_orders),
		cmocka_unit_test(barrier_group_commit),
		cmocka_unit_test(barrier_cancelled),
		cmocka_unit_test(barriers_and_links),
		cmocka_unit_test(destroy_with_held),
		cmocka_unit_test(random_mix),
	};
	return T_MAIN("link", tests);
}
