/* SPDX-License-Identifier: MIT */
/* Timers: relative and absolute, in the past, order of expiry, cancel (rule 7). */

#include "helpers.h"

static void relative(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	uint64_t t0 = cport_clock_ns(port); /* the port's clock: virtual on sim */
	assert_int_equal(cport_timer(port, &op, 30 * 1000000u, 0), 0);
	assert_int_equal(t_run(port, &op), 0);
	uint64_t took = cport_clock_ns(port) - t0;
	assert_true(took >= 30 * 1000000u);
	assert_true(took < 5000 * 1000000ull);
	cport_destroy(port);
}

static void absolute(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	uint64_t when = cport_clock_ns(port) + 40 * 1000000u;
	assert_int_equal(cport_timer(port, &op, when, CPORT_TIMER_ABS), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_true(cport_clock_ns(port) >= when);
	cport_destroy(port);
}

static void past_and_zero(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op a = {0}, b = {0};
	assert_int_equal(cport_timer(port, &a, 0, 0), 0);
	assert_int_equal(cport_timer(port, &b, 1, CPORT_TIMER_ABS), 0); /* long past */
	cport_op *out[2];
	assert_int_equal(t_reap(port, 2, NULL, NULL), 2);
	(void)out;
	cport_destroy(port);
}

static int order_idx;
static cport_op order_ops[5];

static void check_order(cport_op *op, void *ctx)
{
	(void)ctx;
	assert_int_equal(op->result, 0);
	assert_ptr_equal(op, &order_ops[order_idx]);
	order_idx++;
}

/* Timers submitted in scrambled order fire in deadline order (50 ms apart). */
static void fire_in_order(void **state)
{
	(void)state;
	cport *port = t_port();
	static const int perm[5] = {3, 0, 4, 1, 2};
	order_idx = 0;
	for (int i = 0; i < 5; i++) {
		int k = perm[i];
		assert_int_equal(cport_timer(port, &order_ops[k], (uint64_t)(k + 1) * 50000000u, 0), 0);
	}
	assert_int_equal(t_reap(port, 5, check_order, NULL), 5);
	cport_destroy(port);
}

static void cancel_timer(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	assert_int_equal(cport_timer(port, &op, 60ull * 1000000000u, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	uint64_t t0 = t_now_ms();
	assert_int_equal(cport_cancel(port, &op), 0);
	assert_int_equal(t_run(port, &op), CPORT_ECANCELED);
	assert_true(t_now_ms() - t0 < 30000); /* a hang guard: not the 60 s timer */
	cport_destroy(port);
}

static void bad_flags(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	assert_int_equal(cport_timer(port, &op, 1, 0x10), CPORT_EINVAL);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 0), 0);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(relative),      cmocka_unit_test(absolute),
		cmocka_unit_test(past_and_zero), cmocka_unit_test(fire_in_order),
		cmocka_unit_test(cancel_timer),  cmocka_unit_test(bad_flags),
	};
	return T_MAIN("timer", tests);
}
