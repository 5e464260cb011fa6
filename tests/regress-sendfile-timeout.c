/* SPDX-License-Identifier: MIT */
/* Regression (found by tests/fuzz): a sendfile that waits for room in its socket stops at its timeout_ns, and at a cancel with CPORT_ECANCELED. */

/*
 * io_uring runs a sendfile as splices through a pipe; the splice into the socket waits
 * in the kernel's worker (io-wq) while the socket is full. Its linked timeout did not
 * stop that splice (Linux 6.18: neither CQE came), so a sendfile to a peer that reads
 * nothing never completed, timeout_ns or not; and a cancelled splice could complete
 * with -ERESTARTSYS (-512), a kernel-internal code. The port now watches a sendfile's
 * deadline itself and cancels it, and the kernel's restart codes read as CPORT_EINTR.
 */

#include "helpers.h"

#define T_MS 1000000ull
enum { FILE_LEN = 8 << 20 }; /* more than any socket buffer takes */

static void times_out(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	cport_fd f = t_file(FILE_LEN);
	cport_op op = {0};
	op.timeout_ns = 50 * T_MS;
	uint64_t t0 = cport_clock_ns(port); /* the port's clock: virtual on sim */
	assert_int_equal(cport_sendfile(port, &op, s[0], f, 0, FILE_LEN), 0);
	int64_t r = t_run(port, &op);
	if (r != CPORT_ETIMEDOUT)
		fail_msg("sendfile to a peer that reads nothing: %lld (%s), not CPORT_ETIMEDOUT",
			 (long long)r, cport_err_name(r));
	assert_true(cport_clock_ns(port) - t0 >= 50 * T_MS);
	t_close(f);
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

static void cancelled(void **state)
{
	(void)state;
	/* Under Wine 8 a CancelIoEx of a TransmitFile made within a few ms of it is lost
	 * now and then (1 run in 3 here: no packet ever comes, so the op never completes),
	 * though a cancel at 50 ms (times_out) always works. Not seen with cport's own
	 * logic, which checks for a cancel between chunks; unverified on Windows itself. */
	if (t_is_wine() && !t_sim()) /* the simulation has no TransmitFile */
		t_skip("Wine can lose a cancel of a TransmitFile just started");
	cport *port = t_port();
	cport_fd f = t_file(FILE_LEN);
	for (int i = 0; i < 20; i++) {
		cport_fd s[2];
		t_tcp_pair(s);
		cport_op op = {0};
		cport_op *out[1];
		assert_int_equal(cport_sendfile(port, &op, s[0], f, 0, FILE_LEN), 0);
		assert_int_equal(cport_wait(port, out, 1, (int64_t)(i % 4) * (int64_t)T_MS), 0);
		assert_int_equal(cport_cancel(port, &op), 0);
		int64_t r = t_run(port, &op);
		if (r != CPORT_ECANCELED)
			fail_msg("cancelled sendfile %d: %lld (%s)", i, (long long)r, cport_err_name(r));
		t_close(s[0]);
		t_close(s[1]);
	}
	t_close(f);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(times_out),
		cmocka_unit_test(cancelled),
	};
	return T_MAIN("regress-sendfile-timeout", tests);
}
