/* SPDX-License-Identifier: MIT */
/* cport_poll on a pipe: readiness as an op for any pollable descriptor, not only sockets. */

#include "helpers.h"

/* A poll on a pipe: readiness works for any pollable descriptor. */
static void on_pipe(void **state)
{
	(void)state;
	t_sim_skip("cport_poll is not simulated");
	if (t_is_windows()) {
		/* AFD polls sockets only; a pipe has no readiness to wait for on Windows. */
		t_skip("poll on a pipe: Windows has readiness for sockets only (cport_poll "
		       "answers CPORT_ENOTSOCK there)");
		return;
	}
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	cport_op in = {0};
	assert_int_equal(cport_poll(port, &in, p[0], CPORT_POLL_IN), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(t_write(p[1], "z", 1), 1);
	assert_int_equal(t_run(port, &in), CPORT_POLL_IN);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(on_pipe),
	};
	return T_MAIN("poll-pipe", tests);
}
