/* SPDX-License-Identifier: MIT */
/* Regression (found by tests/fuzz): a close completes after every op accepted before it on its descriptor, also ops a barrier and a link let go together with it. */

/*
 * A barrier that also carries CPORT_OP_LINK holds the ops behind it; its link successor
 * (a read of a file) waits for it twice, the close of that file behind them once. When
 * the barrier completed, the close was let go first and the read after it (the link's
 * release comes after the barrier's): the close ran, and the read, accepted before the
 * close, started after it and completed with CPORT_EBADF after the close's completion.
 * cport_close must first complete every op in flight on the descriptor (the read:
 * CPORT_ECANCELED, never started), then itself.
 */

#include "helpers.h"

#define T_MS 1000000ull

static void read_released_with_close(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(64);
	char buf[64];
	cport_op b = {0}, r = {0}, c = {0};
	b.flags = CPORT_OP_LINK | CPORT_OP_BARRIER;
	assert_int_equal(cport_timer(port, &b, 20 * T_MS, 0), 0);
	assert_int_equal(cport_read(port, &r, fd, buf, sizeof buf, 0), 0);
	assert_int_equal(cport_close(port, &c, fd), 0);
	cport_op *order[3];
	for (int i = 0; i < 3; i++)
		order[i] = t_wait1(port);
	assert_ptr_equal(order[0], &b);
	assert_int_equal(b.result, 0);
	assert_ptr_equal(order[1], &r);
	if (r.result != 64 && r.result != CPORT_ECANCELED)
		fail_msg("the read completed with %lld (%s)", (long long)r.result,
			 cport_err_name(r.result));
	assert_ptr_equal(order[2], &c);
	assert_int_equal(c.result, 0);
	t_assert_closed(fd);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(read_released_with_close),
	};
	return T_MAIN("regress-close-after-released", tests);
}
