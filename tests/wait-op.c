/* SPDX-License-Identifier: MIT */
/* cport_wait_op: wait for one op; every other completion stays queued, in order. */

#include "helpers.h"

#include <string.h>

/* Reap what is queued now (without blocking) into out[]; returns how many. */
static int drain(cport *port, cport_op **out, unsigned max)
{
	return cport_wait(port, out, max, 0);
}

/* Posts from one thread are delivered in order: the one waited for is taken from the
 * middle, the others come out of the next cport_wait in their order. */
static void others_stay_in_order(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op p[5];
	memset(p, 0, sizeof p);
	for (int i = 0; i < 5; i++)
		assert_int_equal(cport_post(port, &p[i], 100 + i), 0);
	assert_int_equal(cport_wait_op(port, &p[2], 10 * 1000000000LL), 0);
	assert_int_equal(p[2].result, 102);
	/* Reaped: free again (a second wait for it is ENOENT) and it may be reused. */
	assert_int_equal(cport_wait_op(port, &p[2], 0), CPORT_ENOENT);
	/* p[4] waits on the ready list now: taken from its tail, the rest keep order. */
	assert_int_equal(cport_wait_op(port, &p[4], 0), 0);
	assert_int_equal(p[4].result, 104);
	cport_op *out[8];
	assert_int_equal(drain(port, out, 8), 3);
	assert_ptr_equal(out[0], &p[0]);
	assert_ptr_equal(out[1], &p[1]);
	assert_ptr_equal(out[2], &p[3]);
	assert_int_equal(drain(port, out, 8), 0);
	cport_destroy(port);
}

/* Real ops beside the awaited one: nops and a file write complete while a timer is
 * waited for; they are all there afterwards, once each. */
static void ops_in_flight(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(0);
	cport_op n1 = {0}, n2 = {0}, w = {0}, t = {0};
	static char buf[4096];
	memset(buf, 0x42, sizeof buf);
	assert_int_equal(cport_nop(port, &n1), 0);
	assert_int_equal(cport_write(port, &w, fd, buf, sizeof buf, 0), 0);
	assert_int_equal(cport_nop(port, &n2), 0);
	assert_int_equal(cport_timer(port, &t, 30 * 1000000ull, 0), 0);
	assert_int_equal(cport_wait_op(port, &t, 10 * 1000000000LL), 0);
	assert_int_equal(t.result, 0);
	/* The others: each exactly once (the write from the pool may still be on its way). */
	bool seen[3] = {false, false, false};
	cport_op *want[3] = {&n1, &n2, &w};
	unsigned got = 0;
	uint64_t end = t_now_ms() + 30000;
	while (got < 3 && t_now_ms() < end) {
		cport_op *out[4];
		int n = cport_wait(port, out, 4, 100 * 1000000LL);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			unsigned k = 0;
			while (k < 3 && out[i] != want[k])
				k++;
			assert_true(k < 3 && !seen[k]);
			seen[k] = true;
			got++;
		}
	}
	assert_int_equal(got, 3);
	assert_int_equal(w.result, 4096);
	assert_int_equal(n1.result, 0);
	assert_int_equal(drain(port, (cport_op *[1]){NULL}, 1), 0);
	t_close(fd);
	cport_destroy(port);
}

/* The awaited op completed before the call (on the ready list): returned at once. Also
 * a synchronous read, the way a VFS uses it. */
static void completed_before(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(10000);
	static uint8_t buf[4096];
	cport_op r = {0}, n = {0};
	assert_int_equal(cport_read(port, &r, fd, buf, sizeof buf, 5000), 0);
	assert_int_equal(cport_wait_op(port, &r, 10 * 1000000000LL), 0);
	assert_int_equal(r.result, 4096);
	for (size_t i = 0; i < sizeof buf; i++)
		assert_int_equal(buf[i], t_pattern(5000 + i));
	assert_int_equal(cport_nop(port, &n), 0);
	t_sleep_us(20000);
	assert_int_equal(cport_wait_op(port, &n, 10 * 1000000000LL), 0);
	assert_int_equal(cport_wait_op(port, &n, 10 * 1000000000LL), CPORT_ENOENT);
	t_close(fd);
	cport_destroy(port);
}

static void timeouts(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op t = {0}, n = {0};
	assert_int_equal(cport_timer(port, &t, 60 * 1000000000ull, 0), 0);
	assert_int_equal(cport_nop(port, &n), 0);
	uint64_t t0 = cport_clock_ns(port); /* the port's clock: virtual on sim */
	assert_int_equal(cport_wait_op(port, &t, 30 * 1000000LL), CPORT_ETIMEDOUT);
	assert_true(cport_clock_ns(port) - t0 >= 29 * 1000000u);
	assert_int_equal(cport_wait_op(port, &t, 0), CPORT_ETIMEDOUT);
	/* Still in flight: it can be cancelled and waited for. The nop stayed queued. */
	assert_int_equal(cport_cancel(port, &t), 0);
	assert_int_equal(cport_wait_op(port, &t, 10 * 1000000000LL), 0);
	assert_int_equal(t.result, CPORT_ECANCELED);
	assert_ptr_equal(t_wait1(port), &n);
	/* The op's own timeout is its result, not the wait's. */
	cport_op late = {0};
	late.timeout_ns = 10 * 1000000ull;
	assert_int_equal(cport_timer(port, &late, 60 * 1000000000ull, 0), 0);
	assert_int_equal(cport_wait_op(port, &late, 10 * 1000000000LL), 0);
	assert_int_equal(late.result, CPORT_ETIMEDOUT);
	cport_destroy(port);
}

static void bad_input(void **state)
{
	(void)state;
	cport *port = t_port(), *other = t_port();
	cport_op op = {0}, copy;
	assert_int_equal(cport_wait_op(NULL, &op, 0), CPORT_EINVAL);
	assert_int_equal(cport_wait_op(port, NULL, 0), CPORT_EINVAL);
	memcpy(&copy, &op, sizeof op);
	assert_int_equal(cport_wait_op(port, &op, 0), CPORT_ENOENT); /* never submitted */
	assert_memory_equal(&op, &copy, sizeof op);
	/* In flight on another port: not this port's to wait for; left alone there. */
	assert_int_equal(cport_timer(other, &op, 1000000ull, 0), 0);
	assert_int_equal(cport_wait_op(port, &op, 0), CPORT_ENOENT);
	assert_int_equal(cport_wait_op(port, &op, 20 * 1000000LL), CPORT_ENOENT);
	assert_int_equal(t_run(other, &op), 0);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 0), 0);
	/* An open chain (the last op submitted is linked): the port is not driven. */
	cport_op l = {0}, n = {0};
	l.flags = CPORT_OP_LINK;
	assert_int_equal(cport_nop(port, &l), 0);
	assert_int_equal(cport_wait_op(port, &l, 0), CPORT_EINVAL);
	assert_int_equal(cport_nop(port, &n), 0); /* ends the chain */
	assert_int_equal(cport_wait_op(port, &n, 10 * 1000000000LL), 0);
	assert_int_equal(cport_wait_op(port, &l, 10 * 1000000000LL), 0);
	cport_destroy(other);
	cport_destroy(port);
}

/* A multishot accept: each wait returns one completion (CPORT_MORE: still in flight);
 * while one of them waits unreaped, other ops' completions still come (io_uring holds
 * the accept's next CQE back instead of stopping at it). */
static void multishot(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr a;
	cport_fd lsn = t_listen(&a);
	cport_op acc = {0}, n = {0};
	assert_int_equal(cport_accept(port, &acc, lsn, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	cport_fd c1 = t_connect(&a);
	assert_int_equal(cport_wait_op(port, &acc, 10 * 1000000000LL), 0);
	assert_true(acc.result >= 0);
	assert_true(acc.cflags & CPORT_MORE);
	assert_int_equal(cport_sock_close((cport_fd)acc.result), 0);
	/* Its next completion waits, unreaped, while a nop is waited for. */
	cport_fd c2 = t_connect(&a);
	cport_op t = {0};
	assert_int_equal(cport_timer(port, &t, 30 * 1000000ull, 0), 0);
	assert_int_equal(cport_wait_op(port, &t, 10 * 1000000000LL), 0);
	cport_fd c3 = t_connect(&a);
	t_sleep_us(20000);
	assert_int_equal(cport_nop(port, &n), 0);
	assert_int_equal(cport_wait_op(port, &n, 10 * 1000000000LL), 0);
	/* The accepts, in order, through cport_wait_op and cport_wait. */
	assert_int_equal(cport_wait_op(port, &acc, 10 * 1000000000LL), 0);
	assert_true(acc.result >= 0 && (acc.cflags & CPORT_MORE));
	assert_int_equal(cport_sock_close((cport_fd)acc.result), 0);
	cport_op *got = t_wait1(port);
	assert_ptr_equal(got, &acc);
	assert_true(acc.result >= 0 && (acc.cflags & CPORT_MORE));
	assert_int_equal(cport_sock_close((cport_fd)acc.result), 0);
	/* The last completion (cancelled) lacks CPORT_MORE and frees the op. */
	assert_int_equal(cport_cancel(port, &acc), 0);
	assert_int_equal(cport_wait_op(port, &acc, 10 * 1000000000LL), 0);
	assert_false(acc.cflags & CPORT_MORE);
	assert_int_equal(acc.result, CPORT_ECANCELED);
	assert_int_equal(cport_wait_op(port, &acc, 0), CPORT_ENOENT);
	t_close(c1);
	t_close(c2);
	t_close(c3);
	cport_op cl = {0};
	assert_int_equal(cport_close(port, &cl, lsn), 0);
	assert_int_equal(cport_wait_op(port, &cl, 10 * 1000000000LL), 0);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(others_stay_in_order),
		cmocka_unit_test(ops_in_flight),
		cmocka_unit_test(completed_before),
		cmocka_unit_test(timeouts),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(multishot),
	};
	return T_MAIN("wait-op", tests);
}
