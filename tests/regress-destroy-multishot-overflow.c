/* SPDX-License-Identifier: MIT */
/* Regression (found by tests/fuzz): cport_destroy closes the connection a multishot accept's final CQE carries while its CPORT_MORE completion waits unreaped. */

/*
 * io_uring ends a multishot accept whose completion queue overflowed with a CQE that
 * carries one more connection and no IORING_CQE_F_MORE. When that CQE came during
 * cport_destroy while the op's previous completion (CPORT_MORE) still waited on the
 * ready list, destroy kept the older result for itself to close (as it must) and
 * dropped the new CQE's descriptor without closing it: one descriptor leaked. A port
 * of depth 1 (a completion queue of a few entries) and several connections arriving
 * unreaped bring it about; the count of this process's descriptors must not grow. The
 * other backends run the same steps.
 */

#include "helpers.h"

#include <sys/socket.h>
#include <unistd.h>

enum { CLIENTS = 8 };


static void overflow_then_destroy(void **state)
{
	(void)state;
	t_os_only("connect(2)");
	for (int round = 0; round < 5; round++) {
		int before = t_count_fds();
		cport *port = t_port_depth(1);
		cport_addr a, bound;
		cport_fd l, c[CLIENTS];
		assert_int_equal(cport_addr_parse(&a, "127.0.0.1:0"), 0);
		assert_int_equal(cport_tcp_listen(&l, &a, 64, 0), 0);
		assert_int_equal(cport_sock_local(l, &bound), 0);
		cport_op nop = {0}, acc = {0};
		assert_int_equal(cport_nop(port, &nop), 0);
		assert_int_equal(cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
		assert_int_equal(cport_submit(port), 0);
		for (int i = 0; i < CLIENTS; i++) {
			assert_int_equal(cport_tcp_socket(&c[i], CPORT_AF_INET), 0);
			assert_int_equal(connect(c[i], (const struct sockaddr *)bound.storage,
						 bound.len),
					 0);
		}
		t_sleep_us(20000); /* the kernel accepts them, nobody reaps */
		cport_op *out[1];
		assert_int_equal(cport_wait(port, out, 1, 0), 1);
		if (out[0] == &acc) /* taken: that connection is ours */
			close((int)acc.result);
		cport_destroy(port);
		close(l);
		for (int i = 0; i < CLIENTS; i++)
			close(c[i]);
		int after = t_count_fds();
		if (after > before)
			fail_msg("round %d: %d descriptor(s) leaked by cport_destroy", round,
				 after - before);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(overflow_then_destroy),
	};
	return T_MAIN("regress-destroy-multishot-overflow", tests);
}
