/* SPDX-License-Identifier: MIT */
/* Reads that wait for readiness rather than try at submit still complete, whenever data comes. */

/*
 * The readiness backends skip the try at submit on a descriptor whose last read found
 * nothing, and epoll keeps descriptors registered between ops. These tests check the
 * results, whatever the backend does underneath: data that is already there when such
 * a read is submitted, data that comes later, a report that finds its read cancelled,
 * and a descriptor number reused after cport_close.
 */

#include "helpers.h"

#include <string.h>

enum { ROUNDS = 200 };

/* Submit a 1-byte recv on `fd` into `buf`. */
static void read1(cport *port, cport_op *op, cport_fd fd, char *buf)
{
	memset(op, 0, sizeof *op);
	assert_int_equal(cport_recv(port, op, fd, buf, 1, 0), 0);
	assert_int_equal(cport_submit(port), 0);
}

/* Nothing completes within `ms` (no op is ready). */
static void quiet(cport *port, unsigned ms)
{
	cport_op *out[4];
	assert_int_equal(cport_wait(port, out, 4, (int64_t)ms * 1000000), 0);
}

/* One byte at a time, the peer's byte written before the read is submitted in some
 * rounds, after it (and after a wait that finds nothing) in others, in no fixed
 * pattern: each read gets its own byte, in order. */
static void test_data_before_and_after(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fds[2];
	t_tcp_pair(fds);
	cport_op op;
	char buf;
	for (int i = 0; i < ROUNDS; i++) {
		char b = (char)i;
		bool before = (i * 7 + i / 3) % 3 == 0;
		if (before)
			assert_int_equal(t_sock_send(fds[0], &b, 1), 1);
		read1(port, &op, fds[1], &buf);
		if (!before) {
			if (i % 5 == 0)
				quiet(port, 1);
			assert_int_equal(t_sock_send(fds[0], &b, 1), 1);
		}
		assert_int_equal(t_run(port, &op), 1);
		assert_int_equal(buf, b);
	}
	t_close(fds[0]);
	read1(port, &op, fds[1], &buf);
	assert_int_equal(t_run(port, &op), 0); /* end of stream */
	t_close(fds[1]);
	cport_destroy(port);
}

/* A read waits, is cancelled; data then comes with no read waiting, then the peer
 * hangs up. Waits meanwhile complete nothing; the next reads get the data, then the
 * end of the stream. */
static void test_report_finds_nothing(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fds[2];
	t_tcp_pair(fds);
	cport_op op;
	char buf[16];
	memset(&op, 0, sizeof op);
	assert_int_equal(cport_recv(port, &op, fds[1], buf, sizeof buf, 0), 0);
	quiet(port, 5);
	assert_int_equal(cport_cancel(port, &op), 0);
	assert_int_equal(t_run(port, &op), CPORT_ECANCELED);
	assert_int_equal(t_sock_send(fds[0], "hello", 5), 5);
	quiet(port, 20);
	quiet(port, 20);
	assert_int_equal(t_sock_shut_wr(fds[0]), 0);
	quiet(port, 20);
	memset(&op, 0, sizeof op);
	assert_int_equal(cport_recv(port, &op, fds[1], buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &op), 5);
	assert_memory_equal(buf, "hello", 5);
	memset(&op, 0, sizeof op);
	assert_int_equal(cport_recv(port, &op, fds[1], buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &op), 0);
	t_close(fds[0]);
	t_close(fds[1]);
	cport_destroy(port);
}

static void count_each(cport_op *op, void *ctx)
{
	(void)op;
	(*(int *)ctx)++;
}

/* A descriptor closed with cport_close while a read waits on it, and its number then
 * reused by a new connection: reads on the new one complete. */
static void test_reuse_after_cport_close(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd a[2], b[2];
	t_tcp_pair(a);
	cport_op rd, cl;
	char buf;
	read1(port, &rd, a[1], &buf);
	quiet(port, 5);
	memset(&cl, 0, sizeof cl);
	cport_fd old = a[1];
	assert_int_equal(cport_close(port, &cl, a[1]), 0);
	int n = 0;
	assert_int_equal(t_reap(port, 2, count_each, &n), 2);
	assert_int_equal(rd.result, CPORT_ECANCELED);
	assert_int_equal(cl.result, 0);
	t_close(a[0]);
	t_tcp_pair(b);
	bool reused = b[0] == old || b[1] == old;
	for (int i = 0; i < 3; i++) {
		char c = (char)('x' + i);
		read1(port, &rd, b[1], &buf);
		if (i == 0)
			quiet(port, 1);
		assert_int_equal(t_sock_send(b[0], &c, 1), 1);
		assert_int_equal(t_run(port, &rd), 1);
		assert_int_equal(buf, c);
	}
	if (!reused)
		print_message("(descriptor %d was not reused; checked the new one anyway)\n", (int)old);
	t_close(b[0]);
	t_close(b[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_before_and_after),
		cmocka_unit_test(test_report_finds_nothing),
		cmocka_unit_test(test_reuse_after_cport_close),
	};
	return T_MAIN("read-wait", tests);
}
