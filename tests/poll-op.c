/* SPDX-License-Identifier: MIT */
/* Readiness as an op: cport_poll completes with the ready events. */

#include "helpers.h"


static void readable_writable(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	cport_op in = {0}, out = {0};
	/* a fresh socket can be written at once */
	assert_int_equal(cport_poll(port, &out, p[0], CPORT_POLL_OUT), 0);
	assert_int_equal(t_run(port, &out), CPORT_POLL_OUT);
	/* readable only once the peer sent something */
	assert_int_equal(cport_poll(port, &in, p[0], CPORT_POLL_IN), 0);
	cport_op *got[1];
	assert_int_equal(cport_wait(port, got, 1, 20 * 1000000LL), 0);
	t_write_all(p[1], "x", 1);
	assert_int_equal(t_run(port, &in), CPORT_POLL_IN);
	/* the peer hangs up: HUP/RDHUP show without being asked for IN */
	char c;
	t_read_all(p[0], &c, 1);
	t_close(p[1]);
	assert_int_equal(cport_poll(port, &in, p[0], CPORT_POLL_RDHUP), 0);
	int64_t r = t_run(port, &in);
	assert_true(r > 0 && (r & CPORT_POLL_RDHUP));
	t_close(p[0]);
	cport_destroy(port);
}

static void timeout_and_cancel(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	cport_op in = {0};
	in.timeout_ns = 20 * 1000000ull;
	assert_int_equal(cport_poll(port, &in, p[0], CPORT_POLL_IN), 0);
	assert_int_equal(t_run(port, &in), CPORT_ETIMEDOUT);
	in.timeout_ns = 0;
	assert_int_equal(cport_poll(port, &in, p[0], CPORT_POLL_IN), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_cancel(port, &in), 0);
	assert_int_equal(t_run(port, &in), CPORT_ECANCELED);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(readable_writable),
	    cmocka_unit_test(timeout_and_cancel),
	};
	return T_MAIN("poll-op", tests);
}
