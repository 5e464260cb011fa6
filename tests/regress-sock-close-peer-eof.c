/* SPDX-License-Identifier: MIT */
/*
 * Defect (sim): cport_sock_close on one of the simulation's descriptors closed only its
 * number and left the simulated socket behind, so the peer never read the end of the
 * stream and the next descriptor made on that number replaced it unclosed. Every
 * backend: after cport_sock_close of one end of a connection, the other end reads the
 * end of the stream, and a listener closed that way frees its port.
 */

#include "helpers.h"

static void peer_reads_end_of_stream(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fds[2];
	t_tcp_pair(fds);
	assert_int_equal(cport_sock_close(fds[0]), 0);
	char b[8];
	cport_op op = {0};
	op.timeout_ns = 10000000000ull; /* a hang guard: the end comes at once */
	assert_int_equal(cport_recv(port, &op, fds[1], b, sizeof b, 0), 0);
	assert_int_equal(t_run(port, &op), 0);
	t_close(fds[1]);
	cport_destroy(port);
}

static void listener_port_freed(void **state)
{
	(void)state;
	cport *port = t_port(); /* on the simulation, the listeners are its own */
	cport_addr bound;
	cport_fd l = t_listen(&bound), l2;
	assert_int_equal(cport_sock_close(l), 0);
	assert_int_equal(cport_tcp_listen(&l2, &bound, 0, 0), 0);
	assert_int_equal(cport_sock_close(l2), 0);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(peer_reads_end_of_stream),
		cmocka_unit_test(listener_port_freed),
	};
	return t_main("regress-sock-close-peer-eof", tests, sizeof tests / sizeof *tests);
}
