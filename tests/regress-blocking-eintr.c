/* SPDX-License-Identifier: MIT */
/* A blocking call on the pool interrupted by a signal (EINTR) is tried again, never the op's result. */

/*
 * Broke: the thread pool's fsync and close completed with CPORT_EINTR when the call
 * was interrupted (cport__blocking_run retried only reads and writes). EINTR is
 * injected into half the calls through the system-call table (tests/fault.h); every
 * fsync, fdatasync and close must still complete with 0. A close's EINTR is its
 * success: Linux has closed the descriptor already.
 */

#include "fault.h"
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

#ifdef __linux__

static cport *port;

static int teardown(void **state)
{
	(void)state;
	tf_end(&port);
	return 0;
}

static void syncs_and_closes(void **state)
{
	(void)state;
	if (strcmp(t_backend(), "io_uring") == 0 && !t_uring_pool())
		t_skip("io_uring makes fsync and close in the kernel (io_uring-pool runs this)");
	tf_install();
	port = t_port();
	tf_set(1u << TF_EINTR, 500, 42);
	for (int i = 0; i < 40; i++) {
		cport_fd fd = t_file(4096);
		cport_op op = {0};
		assert_int_equal(cport_fsync(port, &op, fd, i % 2 ? CPORT_FSYNC_DATA : 0), 0);
		assert_int_equal(t_run(port, &op), 0);
		memset(&op, 0, sizeof op);
		assert_int_equal(cport_close(port, &op, fd), 0);
		assert_int_equal(t_run(port, &op), 0);
		assert_false(t_fd_valid(fd));
	}
	assert_true(tf_count(TF_EINTR) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(syncs_and_closes, teardown),
	};
	return T_MAIN("regress-blocking-eintr", tests);
}

#else

int main(void)
{
	return tf_not_here("regress-blocking-eintr");
}

#endif
