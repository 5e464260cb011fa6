/* SPDX-License-Identifier: MIT */
/* Nops: one, a batch, reuse of a reaped op, and reaping in pieces smaller than a batch. */

#include "helpers.h"

static void one(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	op.user = &op;
	assert_int_equal(cport_nop(port, &op), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_ptr_equal(op.user, &op); /* never touched */
	cport_destroy(port);
}

static void batch_in_pieces(void **state)
{
	(void)state;
	cport *port = t_port();
	enum { N = 300 };
	static cport_op ops[N];
	static int seen[N];
	for (int i = 0; i < N; i++)
		assert_int_equal(cport_nop(port, &ops[i]), 0);
	unsigned got = 0;
	while (got < N) {
		cport_op *out[7];
		int k = cport_wait(port, out, 7, 5 * 1000000000LL);
		assert_true(k > 0 && k <= 7);
		for (int i = 0; i < k; i++) {
			ptrdiff_t idx = out[i] - ops;
			assert_true(idx >= 0 && idx < N);
			assert_int_equal(out[i]->result, 0);
			seen[idx]++;
		}
		got += (unsigned)k;
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 0), 0);
	cport_destroy(port);
}

static void reuse(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(cport_nop(port, &op), 0);
		assert_int_equal(t_run(port, &op), 0);
	}
	cport_destroy(port);
}

static void submit_then_wait(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	assert_int_equal(cport_nop(port, &op), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_submit(NULL), CPORT_EINVAL);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one),
		cmocka_unit_test(batch_in_pieces),
		cmocka_unit_test(reuse),
		cmocka_unit_test(submit_then_wait),
	};
	return T_MAIN("nop", tests);
}
