/* SPDX-License-Identifier: MIT */
/* Regression (found by tests/fuzz): a zero-byte receive on a descriptor being closed is refused with EBADF. */

/*
 * A receive of zero bytes completes at once with 0 and takes nothing (cport.h), so it
 * never reaches the descriptor engine; its submit checked only that the descriptor
 * was open. After a cport_close of the descriptor was accepted, and before it ran (on
 * io_uring a close reaches the kernel at the next wait), such a receive was accepted
 * and completed with 0, where cport.h says every new op on the descriptor is refused
 * with CPORT_EBADF. Held ops (links, barriers) had the full check already; both now
 * share it (cport__fd_usable).
 */

#include "helpers.h"

#include <string.h>

/* Zero-byte read, readv, recv and recvmsg on `fd`: each refused with CPORT_EBADF. */
static void zero_receives_refused(cport *port, cport_fd fd)
{
	char b[1];
	cport_iovec iov = {b, 0};
	cport_msg m;
	memset(&m, 0, sizeof m);
	m.iov = &iov;
	m.iovcnt = 1;
	for (int k = 0; k < 4; k++) {
		cport_op op = {0};
		int r = k == 0   ? cport_read(port, &op, fd, b, 0, -1)
			: k == 1 ? cport_readv(port, &op, fd, &iov, 1, -1)
			: k == 2 ? cport_recv(port, &op, fd, b, 0, 0)
				 : cport_recvmsg(port, &op, fd, &m);
		if (r != CPORT_EBADF)
			fail_msg("zero-byte receive %d after cport_close: %s, not CPORT_EBADF", k,
				 cport_err_name(r));
	}
}

static void after_close(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	cport_op c = {0};
	assert_int_equal(cport_close(port, &c, s[0]), 0);
	zero_receives_refused(port, s[0]); /* closing (or closed) */
	assert_int_equal(t_run(port, &c), 0);
	/* Closed: on Windows the handle value may already name another object (Wine's
	 * own threads and events take freed values at once), which cport cannot tell
	 * from the old socket, as with a reused descriptor number on Unix. */
	if (!t_is_windows())
		zero_receives_refused(port, s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(after_close),
	};
	return T_MAIN("regress-zero-recv-closing", tests);
}
