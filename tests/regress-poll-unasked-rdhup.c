/* SPDX-License-Identifier: MIT */
/* Regression (found by tests/fuzz): cport_poll reports only the events asked for, and ERR and HUP. */

/*
 * io_uring's poll reports EPOLLRDHUP whenever the peer shut down its sending side,
 * whether the poll asked for it or not, and cport passed it on: a poll for
 * CPORT_POLL_IN on a socket whose peer had shut down completed with
 * CPORT_POLL_IN | CPORT_POLL_RDHUP, where cport.h allows only ERR and HUP unasked.
 */

#include "helpers.h"

static void peer_shut_down(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	cport_op sh = {0}, p = {0};
	assert_int_equal(cport_shutdown(port, &sh, s[1], CPORT_SHUT_WR), 0);
	assert_int_equal(t_run(port, &sh), 0);
	assert_int_equal(cport_poll(port, &p, s[0], CPORT_POLL_IN | CPORT_POLL_OUT), 0);
	int64_t ev = t_run(port, &p);
	if (ev <= 0 || (ev & ~(int64_t)(CPORT_POLL_IN | CPORT_POLL_OUT | CPORT_POLL_ERR |
					CPORT_POLL_HUP)))
		fail_msg("poll for IN|OUT completed with 0x%llx", (unsigned long long)ev);
	assert_true(ev & CPORT_POLL_IN);
	/* Asked for, it is reported. */
	assert_int_equal(cport_poll(port, &p, s[0], CPORT_POLL_IN | CPORT_POLL_RDHUP), 0);
	ev = t_run(port, &p);
	assert_true(ev > 0 && (ev & CPORT_POLL_RDHUP));
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(peer_shut_down),
	};
	return T_MAIN("regress-poll-unasked-rdhup", tests);
}
