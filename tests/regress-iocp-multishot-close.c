/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #12b): a listener's close completes after every completion of its multishot accept. */

/*
 * On IOCP a multishot accept that delivered a connection (CPORT_MORE) waits, parked,
 * until the caller has taken that completion, then accepts again. Closing the listener
 * used to complete the close at once while the accept still had a completion to come:
 * either a connection whose AcceptEx packet was already queued, or the final
 * completion that ends the op. The close must come after the accept's last completion
 * (the one without CPORT_MORE), in both cases:
 *   A. the accept is back in the kernel and a second connection completed it before
 *      the close was submitted;
 *   B. a CPORT_MORE completion is still unreaped (on the ready list) at the close.
 */

#include "helpers.h"

#include <string.h>

/* Reap until the close's completion; every completion before it is the accept's, and
 * the last of those lacks CPORT_MORE. Returns how many accept completions came. */
static int until_close(cport *port, cport_op *acc, cport_op *close)
{
	int accepts = 0, more = 1;
	for (int rounds = 0; rounds < 100; rounds++) {
		cport_op *out[8];
		int n = cport_wait(port, out, 8, 10 * 1000000000LL);
		assert_true(n > 0);
		for (int i = 0; i < n; i++) {
			if (out[i] == close) {
				assert_int_equal(close->result, 0);
				if (more)
					fail_msg("the close completed before the accept's last completion");
				return accepts;
			}
			assert_ptr_equal(out[i], acc);
			accepts++;
			more = (out[i]->cflags & CPORT_MORE) != 0;
			if (out[i]->result >= 0)
				t_close((cport_fd)out[i]->result);
		}
	}
	fail_msg("no completion for the close");
	return -1;
}

/* A: the next accept is in the kernel and a connection completed it before the close. */
static void queued_connection(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr la;
	cport_fd l = t_listen(&la);
	cport_op acc = {0}, cl = {0}, *out[1];
	assert_int_equal(cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0);
	cport_fd c1 = t_connect(&la);
	assert_ptr_equal(t_wait1(port), &acc);
	assert_true(acc.result >= 0);
	assert_true(acc.cflags & CPORT_MORE);
	t_close((cport_fd)acc.result);
	/* This wait lets the accept go on (the completion above was taken). */
	assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0);
	cport_fd c2 = t_connect(&la);
	t_sleep_us(100 * 1000); /* its accept completes in the kernel meanwhile */
	assert_int_equal(cport_close(port, &cl, l), 0);
	assert_true(until_close(port, &acc, &cl) >= 1);
	t_close(c1);
	t_close(c2);
	cport_destroy(port);
}

/* B: a CPORT_MORE completion still waits to be reaped when the close comes: it becomes
 * the accept's last completion (its connection is not lost), then the close completes. */
static void unreaped_completion(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr la;
	cport_fd l = t_listen(&la);
	cport_op acc = {0}, cl = {0}, nop = {0}, *out[1];
	assert_int_equal(cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0);
	cport_fd c = t_connect(&la);
	t_sleep_us(100 * 1000);
	/* The nop is first in line: the accept's completion stays on the ready list. */
	assert_int_equal(cport_nop(port, &nop), 0);
	assert_int_equal(cport_wait(port, out, 1, 1000 * 1000000LL), 1);
	assert_ptr_equal(out[0], &nop);
	assert_int_equal(cport_close(port, &cl, l), 0);
	assert_int_equal(until_close(port, &acc, &cl), 1);
	t_close(c);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(queued_connection),
		cmocka_unit_test(unreaped_completion),
	};
	return T_MAIN("regress-iocp-multishot-close", tests);
}
