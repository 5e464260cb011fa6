/* SPDX-License-Identifier: MIT */
/* Regression (found by tests/fuzz): a multishot accept whose last completion is unreaped when its listener closes counts as finished for a barrier. */

/*
 * When a listener is closed while its multishot accept has a completion (CPORT_MORE)
 * the caller has not reaped yet, that completion becomes the op's last one. The
 * readiness backends made it so without counting the op as finished for links and
 * barriers, so a barrier accepted after it waited for it forever (the fuzz target saw
 * the barrier, a close, never complete).
 */

#include "helpers.h"

#include <sys/socket.h>
#include <unistd.h>

#define T_MS 1000000LL

/* A connection waits before the multishot accept is submitted: the readiness backends
 * take it inside the submit (CPORT_MORE, on the ready list, unreaped). The listener's
 * close, submitted right after, makes that completion the accept's last one; the
 * barrier after them must start once both finished. */
static void barrier_after_closed_multishot(void **state)
{
	(void)state;
	t_os_only("connect(2)");
	cport *port = t_port();
	cport_addr a, bound;
	cport_fd l, c;
	assert_int_equal(cport_addr_parse(&a, "127.0.0.1:0"), 0);
	assert_int_equal(cport_tcp_listen(&l, &a, 16, 0), 0);
	assert_int_equal(cport_sock_local(l, &bound), 0);
	assert_int_equal(cport_tcp_socket(&c, CPORT_AF_INET), 0);
	assert_int_equal(connect(c, (const struct sockaddr *)bound.storage, bound.len), 0);
	usleep(2000); /* the connection is in the listener's queue */
	cport_op acc = {0}, cl = {0}, bar = {0};
	assert_int_equal(cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	assert_int_equal(cport_close(port, &cl, l), 0);
	bar.flags = CPORT_OP_BARRIER;
	assert_int_equal(cport_nop(port, &bar), 0);
	bool acc_done = false, cl_done = false, bar_done = false;
	while (!bar_done) {
		cport_op *op = t_wait1(port); /* fails the test after 10 s */
		if (op == &acc) {
			if (acc.result >= 0)
				close((int)acc.result);
			acc_done = !(acc.cflags & CPORT_MORE);
		}
		cl_done |= op == &cl;
		if (op == &bar) {
			assert_true(acc_done && cl_done); /* it started after both */
			bar_done = true;
		}
	}
	assert_int_equal(bar.result, 0);
	close(c);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(barrier_after_closed_multishot),
	};
	return T_MAIN("regress-multishot-barrier", tests);
}
