/* SPDX-License-Identifier: MIT */
/* Regression (found by tests/fuzz): cport_destroy closes the connection of a multishot accept's unreaped CPORT_MORE completion. */

/*
 * io_uring: a multishot accept's completion (CPORT_MORE, a new connection) waited on the
 * ready list when the port was destroyed; destroy cancelled the accept, and its final
 * CQE overwrote op->result, so the descriptor destroy then meant to close was lost, and
 * leaked. The count of this process's open descriptors must not grow.
 */

#include "helpers.h"

#include <unistd.h>


/* The accept, a connect to it and a nop reach the kernel together; one completion is
 * reaped (mostly not the accept's); then destroy. */
static void more_unreaped_at_destroy(void **state)
{
	(void)state;
	t_os_only("a wait that finds the kernel's completions without waiting");
	for (int round = 0; round < 10; round++) {
		int before = t_count_fds();
		cport *port = t_port();
		cport_addr a, bound;
		cport_fd l, c;
		assert_int_equal(cport_addr_parse(&a, "127.0.0.1:0"), 0);
		assert_int_equal(cport_tcp_listen(&l, &a, 16, 0), 0);
		assert_int_equal(cport_sock_local(l, &bound), 0);
		assert_int_equal(cport_tcp_socket(&c, CPORT_AF_INET), 0);
		cport_op acc = {0}, con = {0}, nop = {0};
		assert_int_equal(cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
		assert_int_equal(cport_connect(port, &con, c, &bound), 0);
		assert_int_equal(cport_nop(port, &nop), 0);
		cport_op *out[1];
		assert_int_equal(cport_wait(port, out, 1, 0), 1);
		if (out[0] == &acc) /* taken: the connection is ours (the case is not met) */
			close((int)acc.result);
		usleep(1000 * (unsigned)(round % 3));
		cport_destroy(port);
		close(l);
		close(c);
		int after = t_count_fds();
		if (after > before)
			fail_msg("round %d: %d descriptor(s) leaked by cport_destroy", round,
				 after - before);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(more_unreaped_at_destroy),
	};
	return T_MAIN("regress-destroy-multishot-unreaped", tests);
}
