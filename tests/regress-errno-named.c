/* SPDX-License-Identifier: MIT */
/* Regression (found by tests/fuzz): errors the ops meet on Linux are CPORT_E* codes with names. */

/*
 * Every result < 0 is a CPORT_E* code (cport.h section 2), and cport_err_name names
 * each. Two that the kernel gives to plain misuse were missing from the table:
 * fallocate on a socket (ENODEV) and a send without an address on a datagram socket
 * that is not connected (EDESTADDRREQ); their results were numbers no name or
 * CPORT_E* constant covered.
 */

#include "helpers.h"

#include <string.h>

static void named(const char *what, int64_t r, int64_t want)
{
	if (r != want || strcmp(cport_err_name(r), "UNKNOWN") == 0)
		fail_msg("%s: %lld (%s), wanted %lld (%s)", what, (long long)r, cport_err_name(r),
			 (long long)want, cport_err_name(want));
}

static void fallocate_on_socket(void **state)
{
	(void)state;
#ifdef _WIN32
	t_skip("ENODEV is what Linux says for fallocate on a socket");
#endif
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	cport_op op = {0};
	assert_int_equal(cport_fallocate(port, &op, s[0], 0, 0, 4096), 0);
	named("fallocate on a socket", t_run(port, &op), CPORT_ENODEV);
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

static void send_without_address(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr a;
	cport_fd u;
	assert_int_equal(cport_addr_parse(&a, "127.0.0.1:0"), 0);
	assert_int_equal(cport_udp_socket(&u, &a, 0), 0);
	cport_op op = {0};
	assert_int_equal(cport_send(port, &op, u, "x", 1, 0), 0);
	int64_t r = t_run(port, &op);
#ifdef _WIN32
	/* Windows picks its own code (WSAENOTCONN; Wine: WSAEINVAL): any named one. */
	if (r < 0)
		named("send on an unconnected UDP socket", r, r);
	else
		fail_msg("send on an unconnected UDP socket: %lld", (long long)r);
#else
	named("send on an unconnected UDP socket", r, CPORT_EDESTADDRREQ);
#endif
	t_close(u);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fallocate_on_socket),
		cmocka_unit_test(send_without_address),
	};
	return T_MAIN("regress-errno-named", tests);
}
