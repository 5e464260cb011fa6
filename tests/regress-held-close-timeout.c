/* SPDX-License-Identifier: MIT */
/* Regression (found by tests/fuzz): a close ignores its timeout_ns, also while a link holds it. */

/*
 * cport.h says a close's timeout_ns is ignored: a close always closes. A close held
 * by a link (CPORT_OP_LINK on the op before it) kept the deadline of its timeout_ns,
 * and the deadline heap completed it with CPORT_ETIMEDOUT while it waited: it never
 * ran, and the descriptor stayed open though the caller had no reason to think so.
 * The fuzz target saw it as a descriptor leaked after an input.
 */

#include "helpers.h"

#define T_MS 1000000ull

/* A close linked behind a 100 ms timer, with a 1 ms timeout: it runs after the
 * timer and closes the file. */
static void held_close(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(16);
	cport_op t = {0}, c = {0};
	t.flags = CPORT_OP_LINK;
	c.timeout_ns = 1 * T_MS;
	assert_int_equal(cport_timer(port, &t, 100 * T_MS, 0), 0);
	assert_int_equal(cport_close(port, &c, fd), 0);
	cport_op *first = t_wait1(port), *second = t_wait1(port);
	assert_ptr_equal(first, &t);
	assert_ptr_equal(second, &c);
	assert_int_equal(t.result, 0);
	assert_int_equal(c.result, 0);
	t_assert_closed(fd);
	cport_destroy(port);
}

/* Not held, and a timeout of 1 ns: the close still completes with its own result. */
static void timed_close(void **state)
{
	(void)state;
	cport *port = t_port();
	for (int i = 0; i < 20; i++) {
		cport_fd fd = t_file(16);
		cport_op c = {0};
		c.timeout_ns = 1;
		assert_int_equal(cport_close(port, &c, fd), 0);
		assert_int_equal(t_run(port, &c), 0);
		t_assert_closed(fd);
	}
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(held_close),
		cmocka_unit_test(timed_close),
	};
	return T_MAIN("regress-held-close-timeout", tests);
}
