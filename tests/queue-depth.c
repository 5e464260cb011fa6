/* SPDX-License-Identifier: MIT */
/* Nothing is lost (rule 12): a tiny submission queue, and a completion queue overflow. */

#include "helpers.h"

#include <stdlib.h>
#include <string.h>

enum { N = 10000 };

static cport_op ops[N];
static uint8_t seen[N];

static void count(cport_op *op, void *ctx)
{
	(void)ctx;
	ptrdiff_t i = op - ops;
	assert_true(i >= 0 && i < N);
	if (seen[i]++)
		fail_msg("op %td completed twice", i);
}

/* Depth 4 carries 10,000 ops of mixed kinds submitted without a wait in between. */
static void depth4_carries_10000(void **state)
{
	(void)state;
	cport *port = t_port_depth(4);
	cport_fd fd = t_file(1 << 16);
	static char bufs[N][64];
	memset(seen, 0, sizeof seen);
	for (int i = 0; i < N; i++) {
		int r;
		memset(&ops[i], 0, sizeof ops[i]);
		if (i % 3 == 0)
			r = cport_nop(port, &ops[i]);
		else if (i % 3 == 1)
			r = cport_timer(port, &ops[i], (uint64_t)(i % 7) * 100000, 0);
		else
			r = cport_read(port, &ops[i], fd, bufs[i], 64, (i * 64) % (1 << 16));
		assert_int_equal(r, 0);
	}
	assert_int_equal(t_reap(port, N, count, NULL), N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(seen[i], 1);
		assert_int_equal(ops[i].result, i % 3 == 2 ? 64 : 0);
	}
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 0), 0);
	t_close(fd);
	cport_destroy(port);
}

/* 10,000 completions land while nobody reaps: far more than the completion queue holds. */
static void completion_overflow(void **state)
{
	(void)state;
	cport *port = t_port_depth(4);
	memset(seen, 0, sizeof seen);
	for (int i = 0; i < N; i++) {
		memset(&ops[i], 0, sizeof ops[i]);
		assert_int_equal(cport_nop(port, &ops[i]), 0);
	}
	assert_int_equal(cport_submit(port), 0);
	t_sleep_us(20 * 1000);
	assert_int_equal(t_reap(port, N, count, NULL), N);
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	cport_destroy(port);
}

/* Ops with timeouts need two queue entries each; depth 1 is raised to fit them. */
static void depth1_with_timeouts(void **state)
{
	(void)state;
	cport *port = t_port_depth(1);
	memset(seen, 0, sizeof seen);
	for (int i = 0; i < 1000; i++) {
		memset(&ops[i], 0, sizeof ops[i]);
		ops[i].timeout_ns = i % 2 ? 1000 : 10ull * 1000000000u;
		assert_int_equal(cport_timer(port, &ops[i], i % 2 ? 10ull * 1000000000u : 1000, 0), 0);
	}
	assert_int_equal(t_reap(port, 1000, count, NULL), 1000);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(ops[i].result, i % 2 ? CPORT_ETIMEDOUT : 0);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(depth4_carries_10000),
		cmocka_unit_test(completion_overflow),
		cmocka_unit_test(depth1_with_timeouts),
	};
	return T_MAIN("queue-depth", tests);
}
