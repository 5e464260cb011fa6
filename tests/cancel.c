/* SPDX-License-Identifier: MIT */
/* Cancellation is a request (rule 6): the op still completes exactly once. */

#include "helpers.h"


static void pending_read(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	char buf[8];
	cport_op op = {0};
	assert_int_equal(cport_read(port, &op, p[0], buf, sizeof buf, -1), 0);
	assert_int_equal(cport_submit(port), 0);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 10 * 1000000LL), 0); /* really pending */
	assert_int_equal(cport_cancel(port, &op), 0);
	assert_int_equal(t_run(port, &op), CPORT_ECANCELED);
	assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0); /* only once */
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

static void before_flush(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	char buf[8];
	cport_op op = {0};
	assert_int_equal(cport_read(port, &op, p[0], buf, sizeof buf, -1), 0);
	assert_int_equal(cport_cancel(port, &op), 0); /* not yet seen by the kernel */
	assert_int_equal(t_run(port, &op), CPORT_ECANCELED);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

static void not_in_flight(void **state)
{
	(void)state;
	cport *port = t_port(), *other = t_port();
	cport_op op = {0};
	assert_int_equal(cport_cancel(port, &op), CPORT_ENOENT); /* never submitted */
	assert_int_equal(cport_nop(port, &op), 0);
	assert_int_equal(cport_cancel(other, &op), CPORT_ENOENT); /* another port's */
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_cancel(port, &op), CPORT_ENOENT); /* already reaped */
	assert_int_equal(cport_cancel(NULL, &op), CPORT_EINVAL);
	assert_int_equal(cport_cancel(port, NULL), CPORT_EINVAL);
	cport_destroy(other);
	cport_destroy(port);
}

/* An op that already finished but was not reaped: the request is made, and the op
 * completes once with its normal result. */
static void finished_not_reaped(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	assert_int_equal(cport_timer(port, &op, 1000000, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	t_sleep_us(50 * 1000);
	assert_int_equal(cport_cancel(port, &op), 0);
	int64_t r = t_run(port, &op);
	assert_true(r == 0 || r == CPORT_ECANCELED);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0);
	cport_destroy(port);
}

static void twice(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	assert_int_equal(cport_timer(port, &op, 30ull * 1000000000u, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_cancel(port, &op), 0);
	assert_int_equal(cport_cancel(port, &op), 0);
	assert_int_equal(t_run(port, &op), CPORT_ECANCELED);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0);
	cport_destroy(port);
}

/* A post cannot be stopped: the request is accepted, the posted result arrives. */
static void post_not_stopped(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	assert_int_equal(cport_post(port, &op, 99), 0);
	assert_int_equal(cport_cancel(port, &op), 0);
	assert_int_equal(t_run(port, &op), 99);
	cport_destroy(port);
}

/* Racing cancels against fast file reads: every op completes once, with either its
 * full result or ECANCELED. */
static void race_file_reads(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(1 << 16);
	enum { N = 256 };
	static cport_op ops[N];
	static char bufs[N][256];
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < N; i++)
			assert_int_equal(cport_read(port, &ops[i], fd, bufs[i], 256, i * 256), 0);
		if (round % 2)
			assert_int_equal(cport_submit(port), 0);
		for (int i = 0; i < N; i += 2)
			assert_int_equal(cport_cancel(port, &ops[i]), 0);
		assert_int_equal(t_reap(port, N, NULL, NULL), N);
		for (int i = 0; i < N; i++)
			assert_true(ops[i].result == 256 || (i % 2 == 0 && ops[i].result == CPORT_ECANCELED));
		cport_op *out[1];
		assert_int_equal(cport_wait(port, out, 1, 0), 0);
	}
	t_close(fd);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pending_read),        cmocka_unit_test(before_flush),
		cmocka_unit_test(not_in_flight),       cmocka_unit_test(finished_not_reaped),
		cmocka_unit_test(twice),               cmocka_unit_test(post_not_stopped),
		cmocka_unit_test(race_file_reads),
	};
	return T_MAIN("cancel", tests);
}
