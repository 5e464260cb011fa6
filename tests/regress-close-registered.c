/* SPDX-License-Identifier: MIT */
/* Regression: cport_close of a registered descriptor closes the file itself, not only the number. */

/*
 * io_uring's fixed-file table (cport_register_files) holds its own reference to each
 * registered file, as a dup would. A close through cport that closed the descriptor
 * but left its slot filled would leave the file open in the kernel: the reader of a
 * pipe whose registered write end was closed would never see end of stream, and a
 * writer would keep writing into a pipe whose registered read end was closed. Both
 * are checked here on every backend; a read that waits for end of stream is bounded
 * (10 s), so the defect shows as a timeout, not a hang.
 */

#include "helpers.h"

#include <string.h>

/* The registered write end written through the port, then closed through it: the
 * reader gets the bytes, then end of stream. */
static void writer_closed(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	assert_int_equal(cport_register_files(port, &p[1], 1), 0);
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, p[1], "data", 4, -1), 0);
	assert_int_equal(t_run(port, &op), 4);
	assert_int_equal(cport_close(port, &op, p[1]), 0);
	assert_int_equal(t_run(port, &op), 0);
	char buf[8] = {0};
	size_t got = 0;
	for (;;) {
		op.timeout_ns = 10ull * 1000000000u;
		assert_int_equal(cport_read(port, &op, p[0], buf + got, sizeof buf - 1 - got, -1),
				 0);
		int64_t r = t_run(port, &op);
		if (r == 0)
			break; /* end of stream: the write end is gone */
		if (r < 0)
			fail_msg("read after the close: %s (the file stayed open?)", cport_err_name(r));
		got += (size_t)r;
		assert_true(got <= 4);
	}
	assert_string_equal(buf, "data");
	t_close(p[0]);
	cport_destroy(port);
}

/* The registered read end closed through the port while a read waits on it: the read
 * is cancelled, and a write to the pipe then fails (nobody can read it). */
static void reader_closed(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	assert_int_equal(cport_register_files(port, &p[0], 1), 0);
	char c;
	cport_op rd = {0}, cl = {0};
	assert_int_equal(cport_read(port, &rd, p[0], &c, 1, -1), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_close(port, &cl, p[0]), 0);
	assert_true(t_wait1(port) == &rd);
	assert_int_equal(rd.result, CPORT_ECANCELED);
	assert_true(t_wait1(port) == &cl);
	assert_int_equal(cl.result, 0);
	/* cport_create ignores SIGPIPE, so this is an error, not a signal. */
	assert_true(t_write(p[1], "x", 1) < 0);
	t_close(p[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writer_closed),
		cmocka_unit_test(reader_closed),
	};
	return T_MAIN("regress-close-registered", tests);
}
