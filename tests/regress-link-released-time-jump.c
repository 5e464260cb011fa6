/* SPDX-License-Identifier: MIT */
/*
 * Defect (sim): an op released by its link predecessor's completion started only after
 * the reap returned, and the simulation's reap, seeing nothing in flight, spent the
 * whole wait's timeout in virtual time first: cport_wait_op on the released op answered
 * CPORT_ETIMEDOUT although it completes at once. On every backend: a linked chain of
 * nops completes within a wait, the second op waited for by cport_wait_op and by
 * cport_wait, and the port's clock moves by far less than the timeout.
 */

#include "helpers.h"

static void released_op_completes_within_the_wait(void **state)
{
	(void)state;
	cport *port = t_port();
	for (int round = 0; round < 2; round++) {
		cport_op a = {0}, b = {0};
		a.flags = CPORT_OP_LINK;
		assert_int_equal(cport_nop(port, &a), 0);
		assert_int_equal(cport_nop(port, &b), 0);
		uint64_t t0 = cport_clock_ns(port);
		if (round == 0) {
			assert_int_equal(cport_wait_op(port, &b, 10 * 1000000000LL), 0);
			assert_int_equal(cport_wait_op(port, &a, 10 * 1000000000LL), 0);
		} else {
			assert_int_equal(t_reap(port, 2, NULL, NULL), 2);
		}
		assert_int_equal(a.result, 0);
		assert_int_equal(b.result, 0);
		assert_true(cport_clock_ns(port) - t0 < 5 * 1000000000ull);
	}
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(released_op_completes_within_the_wait),
	};
	return t_main("regress-link-released-time-jump", tests, sizeof tests / sizeof *tests);
}
