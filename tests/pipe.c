/* SPDX-License-Identifier: MIT */
/* Pipes and terminals with stream semantics (cport_read / cport_write, offset -1): order, all-or-
 * error writes, EOF, EPIPE without a fatal SIGPIPE, cancel, close. */

#include "helpers.h"

#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#endif

static void make_pipe(cport_fd p[2])
{
	/* close-on-exec on Unix; on Windows a named pipe pair opened for overlapped I/O */
	assert_int_equal(t_pipe(p), 0);
}

/* 16 writes of 256 KiB in flight on one pipe (4x its buffer each), and 16 reads in
 * flight on the other end: writes complete whole and in order, reads fill in order. */
static void ordered_both_ends(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	make_pipe(p);
	enum { N = 16, LEN = 256 << 10, TOTAL = N * LEN, RLEN = 100000 };
	uint8_t *src = malloc(TOTAL), *dst = malloc(TOTAL);
	assert_non_null(src);
	assert_non_null(dst);
	for (uint64_t i = 0; i < TOTAL; i++)
		src[i] = t_pattern(i);
	static cport_op w[N], r[N];
	static uint8_t rbuf[N][RLEN];
	for (int i = 0; i < N; i++)
		assert_int_equal(cport_write(port, &w[i], p[1], src + (size_t)i * LEN, LEN, -1), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(cport_read(port, &r[i], p[0], rbuf[i], RLEN, -1), 0);
	uint64_t got = 0;
	int wnext = 0, rnext = 0, reading = N; /* reads in flight */
	uint64_t end = t_now_ms() + 20000;
	while ((got < TOTAL || wnext < N) && t_now_ms() < end) {
		cport_op *out[2 * N];
		int k = cport_wait(port, out, 2 * N, 100 * 1000000LL);
		for (int i = 0; i < k; i++) {
			cport_op *op = out[i];
			if (op >= w && op < w + N) {
				assert_int_equal(op - w, wnext++);
				assert_int_equal(op->result, LEN);
				continue;
			}
			int idx = (int)(op - r);
			assert_int_equal(idx, rnext % N);
			rnext++;
			reading--;
			assert_true(op->result >= 1 && op->result <= RLEN);
			memcpy(dst + got, rbuf[idx], (size_t)op->result);
			got += (uint64_t)op->result;
			if (got < TOTAL) {
				assert_int_equal(cport_read(port, op, p[0], rbuf[idx], RLEN, -1),
				                 0);
				reading++;
			}
		}
	}
	assert_int_equal(wnext, N);
	assert_int_equal(got, TOTAL);
	assert_memory_equal(dst, src, TOTAL);
	/* the reads still in flight see end of stream, in order, once the writer is
	 * closed (the close's own completion may come before or among them) */
	cport_op cl = {0};
	assert_int_equal(cport_close(port, &cl, p[1]), 0);
	int close_seen = 0;
	while (reading > 0 || !close_seen) {
		cport_op *op = t_wait1(port);
		if (op == &cl) {
			assert_int_equal(cl.result, 0);
			close_seen = 1;
			continue;
		}
		assert_int_equal(op - r, rnext % N);
		rnext++;
		assert_int_equal(op->result, 0);
		reading--;
	}
	t_close(p[0]);
	free(src);
	free(dst);
	cport_destroy(port);
}

static void eof_and_epipe(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	make_pipe(p);
	cport_op op = {0};
	char buf[8];
	t_close(p[1]);
	assert_int_equal(cport_read(port, &op, p[0], buf, sizeof buf, -1), 0);
	assert_int_equal(t_run(port, &op), 0);
	t_close(p[0]);
	/* the reader is gone: the write fails with EPIPE, and SIGPIPE does not kill us */
	make_pipe(p);
	t_close(p[0]);
	assert_int_equal(cport_write(port, &op, p[1], "x", 1, -1), 0);
	assert_int_equal(t_run(port, &op), CPORT_EPIPE);
	cport_iovec iov[2] = {{"a", 1}, {"b", 1}};
	assert_int_equal(cport_writev(port, &op, p[1], iov, 2, -1), 0);
	assert_int_equal(t_run(port, &op), CPORT_EPIPE);
	t_close(p[1]);
	cport_destroy(port);
}

/* A write blocked on a full pipe, and one queued behind it: cancel the second (never
 * started), then close the pipe: the first completes CPORT_ECANCELED before the close. */
static void cancel_and_close(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	make_pipe(p);
	enum { LEN = 1 << 20 };
	char *big = calloc(1, LEN);
	cport_op w1 = {0}, w2 = {0}, cl = {0}, rd = {0};
	assert_int_equal(cport_write(port, &w1, p[1], big, LEN, -1), 0);
	assert_int_equal(cport_write(port, &w2, p[1], big, LEN, -1), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_cancel(port, &w2), 0);
	assert_int_equal(t_run(port, &w2), CPORT_ECANCELED);
	assert_int_equal(cport_close(port, &cl, p[1]), 0);
	assert_ptr_equal(t_wait1(port), &w1);
	assert_int_equal(w1.result, CPORT_ECANCELED);
	assert_ptr_equal(t_wait1(port), &cl);
	assert_int_equal(cl.result, 0);
	/* a read with a timeout on an empty pipe whose writer lives */
	cport_fd q[2];
	make_pipe(q);
	rd.timeout_ns = 20 * 1000000ull;
	assert_int_equal(cport_read(port, &rd, q[0], big, 16, -1), 0);
	assert_int_equal(t_run(port, &rd), CPORT_ETIMEDOUT);
	t_close(p[0]), t_close(q[0]), t_close(q[1]);
	free(big);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ordered_both_ends),
	    cmocka_unit_test(eof_and_epipe),
	    cmocka_unit_test(cancel_and_close),
	};
	return T_MAIN("pipe", tests);
}
