/* SPDX-License-Identifier: MIT */
/* A blocking read or write on the pool that meets EAGAIN waits and goes on, never completes with it. */

/*
 * Broke: a positional read or write the thread pool ran completed with CPORT_EAGAIN
 * when the call answered EAGAIN (a descriptor left non-blocking, a file system that
 * says so for a moment), though the caller asked for a blocking transfer. EAGAIN is
 * injected into half the calls through the system-call table (tests/fault.h); every
 * write and read must move all its bytes, and the bytes read must be those written.
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

static void reads_and_writes(void **state)
{
	(void)state;
	if (strcmp(t_backend(), "io_uring") == 0 && !t_uring_pool())
		t_skip("io_uring reads and writes files in the kernel (io_uring-pool runs this)");
	enum { BLK = 8192 };
	cport_fd fd = t_file(64 * BLK);
	tf_install();
	port = t_port();
	tf_set(1u << TF_EAGAIN, 500, 7);
	static uint8_t out[BLK], in[BLK];
	for (int i = 0; i < 64; i++) {
		for (int k = 0; k < BLK; k++)
			out[k] = (uint8_t)(i * 13 + k * 3);
		cport_op op = {0};
		assert_int_equal(cport_write(port, &op, fd, out, BLK, (int64_t)i * BLK), 0);
		assert_int_equal(t_run(port, &op), BLK);
		memset(&op, 0, sizeof op);
		memset(in, 0, sizeof in);
		assert_int_equal(cport_read(port, &op, fd, in, BLK, (int64_t)i * BLK), 0);
		assert_int_equal(t_run(port, &op), BLK);
		assert_memory_equal(in, out, BLK);
	}
	assert_true(tf_count(TF_EAGAIN) > 0);
	tf_set(0, 0, 0);
	cport_destroy(port);
	port = NULL;
	t_close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(reads_and_writes, teardown),
	};
	return T_MAIN("regress-blocking-eagain", tests);
}

#else

int main(void)
{
	return tf_not_here("regress-blocking-eagain");
}

#endif
