/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #11): a NULL buffer with length 0 is allowed and completes with 0, without undefined behaviour. */

/*
 * cport.h refuses a NULL buffer only with a non-zero length, and documents "len == 0
 * completes with 0". The backends then did arithmetic on the NULL pointer (NULL + 0 is
 * undefined in C) or passed it to memcpy, which UndefinedBehaviorSanitizer reports; the
 * sanitizer build of this test is the one that catches that. Every call here has buf
 * NULL and len 0, on a file (offset 0, and past its end), a pipe (offset -1) and a TCP
 * connection; each completes with 0, and the bytes around it are untouched.
 */

#include "helpers.h"

#include <string.h>

static int64_t run(cport *port, cport_op *op, const char *what)
{
	cport_op *out[1];
	int n = cport_wait(port, out, 1, 10ll * 1000000000);
	if (n != 1) {
		cport_cancel(port, op);
		fail_msg("%s with NULL, 0: no completion in 10 s", what);
	}
	assert_ptr_equal(out[0], op);
	if (op->result != 0)
		fail_msg("%s with NULL, 0: result %lld (%s), wanted 0", what, (long long)op->result,
			 cport_err_name(op->result));
	return op->result;
}

static void file_null_zero(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(100);
	cport_op op = {0};
	const int64_t offs[] = {0, 50, 100, 4096};
	for (unsigned i = 0; i < sizeof offs / sizeof offs[0]; i++) {
		assert_int_equal(cport_read(port, &op, fd, NULL, 0, offs[i]), 0);
		run(port, &op, "file read");
		assert_int_equal(cport_write(port, &op, fd, NULL, 0, offs[i]), 0);
		run(port, &op, "file write");
	}
	assert_int_equal(t_fsize(fd), 100);
	uint8_t b[100];
	assert_int_equal(t_pread(fd, b, 100, 0), 100);
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(b[i], t_pattern(i));
	t_close(fd);
	cport_destroy(port);
}

static void pipe_null_zero(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	cport_op op = {0};
	assert_int_equal(cport_read(port, &op, p[0], NULL, 0, -1), 0);
	run(port, &op, "pipe read (idle)");
	assert_int_equal(cport_write(port, &op, p[1], NULL, 0, -1), 0);
	run(port, &op, "pipe write");
	assert_int_equal(t_write(p[1], "ab", 2), 2);
	assert_int_equal(cport_read(port, &op, p[0], NULL, 0, -1), 0);
	run(port, &op, "pipe read (bytes waiting)");
	char b[4] = {0};
	assert_int_equal(cport_read(port, &op, p[0], b, sizeof b, -1), 0);
	assert_int_equal(t_run(port, &op), 2);
	assert_memory_equal(b, "ab", 2);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

static void socket_null_zero(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	cport_op op = {0};
	assert_int_equal(cport_send(port, &op, s[0], NULL, 0, 0), 0);
	run(port, &op, "send");
	assert_int_equal(cport_write(port, &op, s[0], NULL, 0, -1), 0);
	run(port, &op, "socket write");
	assert_int_equal(cport_read(port, &op, s[0], NULL, 0, -1), 0);
	run(port, &op, "socket read (idle)");
	/* Nothing went out: the peer's first bytes are the next send's. */
	assert_int_equal(cport_send(port, &op, s[0], "hi", 2, 0), 0);
	assert_int_equal(t_run(port, &op), 2);
	char b[2];
	t_read_all(s[1], b, 2);
	assert_memory_equal(b, "hi", 2);
	/* Bytes waiting: a NULL, 0 recv takes none of them. */
	t_write_all(s[1], "yo", 2);
	t_sleep_us(20000);
	assert_int_equal(cport_recv(port, &op, s[0], NULL, 0, 0), 0);
	run(port, &op, "recv (bytes waiting)");
	char r[4] = {0};
	assert_int_equal(cport_recv(port, &op, s[0], r, sizeof r, 0), 0);
	assert_int_equal(t_run(port, &op), 2);
	assert_memory_equal(r, "yo", 2);
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

/*
 * cport_recv(NULL, 0) on an idle TCP socket. cport.h: a receive of zero bytes completes
 * at once with 0, although Linux's own TCP recv of 0 bytes waits for data.
 */
static void idle_socket_recv(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	cport_op op = {0};
	assert_int_equal(cport_recv(port, &op, s[0], NULL, 0, 0), 0);
	cport_op *out[1];
	int k = cport_wait(port, out, 1, 10ll * 1000000000);
	if (k == 0) {
		assert_int_equal(cport_cancel(port, &op), 0);
		int64_t r = t_run(port, &op);
		t_close(s[0]);
		t_close(s[1]);
		cport_destroy(port);
		fail_msg("recv(NULL, 0) on an idle socket: no completion in 10 s (waits for "
			 "data; cancelled: %s)", cport_err_name(r));
	}
	assert_int_equal(k, 1);
	assert_int_equal(op.result, 0);
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(file_null_zero),
		cmocka_unit_test(pipe_null_zero),
		cmocka_unit_test(socket_null_zero),
		cmocka_unit_test(idle_socket_recv),
	};
	return T_MAIN("regress-null-zero-buf", tests);
}
