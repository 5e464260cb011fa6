/* SPDX-License-Identifier: MIT */
/* Regression (found by tests/fuzz): a submit on a number that is not open says EBADF, also below the table's size. */

/*
 * io_uring and the readiness backends keep a table indexed by descriptor, which grows
 * by doubling to cover the largest descriptor used. The table grew only after checking
 * that the descriptor asked for was open, but the other numbers it then covered were
 * taken as open: an op on one of them that was never open (or that cport_sock_close
 * closed in the meantime) was accepted and failed only when it ran, while cport.h says
 * such a submit is refused with CPORT_EBADF and changes nothing. The fuzz target found
 * it with descriptor 150 after the world's descriptors at 200 and up grew the table.
 */

#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

enum { HIGH = 300, UNSEEN = 299 };

/* A pipe's read end moved to `num`, its write end in *w. */
static void pipe_at(int num, cport_fd *w)
{
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	assert_int_equal(dup2(p[0], num), num);
	close(p[0]);
	*w = p[1];
}

/* Every kind of op on `fd` is refused with CPORT_EBADF, and the op is left as it was. */
static void expect_refused(cport *port, cport_fd fd)
{
	char buf[8];
	cport_statbuf st;
	for (int k = 0; k < 5; k++) {
		cport_op op;
		memset(&op, 0x5A, sizeof op);
		memset(op.internal, 0, sizeof op.internal);
		op.flags = 0;
		cport_op before = op;
		int r = k == 0   ? cport_read(port, &op, fd, buf, sizeof buf, -1)
			: k == 1 ? cport_read(port, &op, fd, buf, sizeof buf, 0)
			: k == 2 ? cport_poll(port, &op, fd, CPORT_POLL_IN)
			: k == 3 ? cport_fsync(port, &op, fd, 0)
				 : cport_fstat(port, &op, fd, &st);
		if (r != CPORT_EBADF)
			fail_msg("op kind %d on descriptor %d (not open): %s, not CPORT_EBADF", k,
				 (int)fd, cport_err_name(r));
		assert_memory_equal(&op, &before, offsetof(cport_op, internal));
	}
}

/* A number below the table's size that was never open. */
static void never_open(void **state)
{
	(void)state;
	t_os_only("a pipe at a chosen number");
	if (fcntl(UNSEEN, F_GETFD) != -1 || fcntl(HIGH, F_GETFD) != -1)
		t_skip("descriptor %d or %d is open in this process", UNSEEN, HIGH);
	cport *port = t_port();
	cport_fd w;
	pipe_at(HIGH, &w);
	cport_op op = {0};
	assert_int_equal(cport_poll(port, &op, HIGH, CPORT_POLL_IN), 0); /* the table grows */
	assert_int_equal(t_write(w, "x", 1), 1);
	assert_int_equal(t_run(port, &op), CPORT_POLL_IN);
	expect_refused(port, UNSEEN);
	close(HIGH);
	t_close(w);
	cport_destroy(port);
}

/* A number the port used, closed with cport_sock_close (no op in flight) and not
 * reused since. */
static void closed_elsewhere(void **state)
{
	(void)state;
	t_os_only("a descriptor closed behind the port");
	if (fcntl(HIGH, F_GETFD) != -1)
		t_skip("descriptor %d is open in this process", HIGH);
	cport *port = t_port();
	cport_fd w;
	pipe_at(HIGH, &w);
	cport_op op = {0};
	char c;
	assert_int_equal(t_write(w, "y", 1), 1);
	assert_int_equal(cport_read(port, &op, HIGH, &c, 1, -1), 0);
	assert_int_equal(t_run(port, &op), 1);
	assert_int_equal(cport_sock_close(HIGH), 0);
	expect_refused(port, HIGH);
	t_close(w);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(never_open),
		cmocka_unit_test(closed_elsewhere),
	};
	return T_MAIN("regress-ebadf-unseen-fd", tests);
}
