/* SPDX-License-Identifier: MIT */
/* Regression: a pool buffer could be given back while its completion still waited to be reaped. */

/*
 * cport_bufpool_return gives back a buffer the caller holds: one a completion it reaped
 * handed over. The readiness backends marked the buffer the caller's when the receive
 * found data, so while that completion still waited on the port's ready list (a wait
 * with room for one completion, two ready) the buffer could be returned, lent again to
 * another receive, and then read by the caller as the first completion's data (found by
 * the fuzz target; io_uring refused it). Here a pool of one buffer serves a receive
 * whose completion comes second in a wait for one: before it is reaped, returning the
 * buffer must be CPORT_EINVAL; after, 0.
 */

#include "helpers.h"

#include <string.h>

static void return_before_reap(void **state)
{
	(void)state;
	cport *port = t_port();
	static char mem[256];
	uint16_t g;
	assert_int_equal(cport_bufpool_add(port, mem, 1, sizeof mem, &g), 0);
	cport_fd a[2], b[2];
	t_tcp_pair(a);
	t_tcp_pair(b);
	char in[16];
	cport_op rb = {0}, ra = {0}, *out[1];
	assert_int_equal(cport_recv(port, &rb, b[1], in, sizeof in, 0), 0);
	assert_int_equal(cport_recv_pool(port, &ra, a[1], g, 0), 0);
	/* Both receives find data in the same round of the backend: b first. */
	t_write_all(b[0], "b", 1);
	t_write_all(a[0], "pool", 4);
	t_sleep_us(20000);
	bool got_a = false, got_b = false;
	for (int round = 0; round < 1000 && !got_a; round++) {
		assert_int_equal(cport_bufpool_return(port, g, 0), CPORT_EINVAL);
		int k = cport_wait(port, out, 1, 10 * 1000000LL);
		assert_true(k >= 0);
		if (k == 0)
			continue;
		if (out[0] == &rb) {
			assert_int_equal(rb.result, 1);
			got_b = true;
			continue;
		}
		assert_ptr_equal(out[0], &ra);
		assert_int_equal(ra.result, 4);
		assert_int_equal(cport_op_buf_id(&ra), 0);
		assert_memory_equal(mem, "pool", 4);
		got_a = true;
	}
	assert_true(got_a);
	assert_int_equal(cport_bufpool_return(port, g, 0), 0);
	assert_int_equal(cport_bufpool_return(port, g, 0), CPORT_EINVAL);
	if (!got_b)
		assert_ptr_equal(t_wait1(port), &rb);
	cport_destroy(port);
	for (int i = 0; i < 2; i++) {
		t_close(a[i]);
		t_close(b[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(return_before_reap),
	};
	return T_MAIN("regress-pool-return-before-reap", tests);
}
