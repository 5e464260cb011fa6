/* SPDX-License-Identifier: MIT */
/* Regression: io_uring completed a multishot pool receive on a regular file with EBADFD. */

/*
 * A pool receive needs a socket (or, on a pipe, what the backend can take it from). On
 * a regular file the readiness backends complete it with CPORT_ENOTSOCK; io_uring
 * passed the kernel's -EBADFD (a multishot receive on what cannot be polled), a value
 * that is no CPORT_E* code (found by the fuzz target). Every backend must answer with
 * CPORT_ENOTSOCK, at submit or as the op's one completion, one-shot or multishot.
 */

#include "helpers.h"

static void pool_recv_on_file(void **state)
{
	(void)state;
	cport *port = t_port();
	static char mem[4 * 64];
	uint16_t g;
	assert_int_equal(cport_bufpool_add(port, mem, 4, 64, &g), 0);
	cport_fd fd = t_file(4096);
	const uint32_t flags[] = {CPORT_RECV_MULTISHOT, 0};
	for (unsigned i = 0; i < 2; i++) {
		cport_op op = {0};
		int r = cport_recv_pool(port, &op, fd, g, flags[i]);
		if (r == 0) {
			assert_ptr_equal(t_wait1(port), &op);
			r = (int)op.result;
			assert_false(op.cflags & CPORT_MORE);
		}
		if (r != CPORT_ENOTSOCK)
			fail_msg("%s: a pool receive (flags %u) on a regular file: %s (%d), not "
				 "CPORT_ENOTSOCK", t_backend(), flags[i], cport_err_name(r), r);
	}
	cport_destroy(port);
	t_close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pool_recv_on_file),
	};
	return T_MAIN("regress-recv-pool-multishot-file-ebadfd", tests);
}
