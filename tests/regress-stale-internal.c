/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #9): stale bytes in an op's private words, or left by its last use, never change what a read does. */

/*
 * The contract needs nothing of an op before a submit but its in/out fields: the submit
 * call writes what the backend needs. Backends reused private words with different
 * meanings per engine and read some they had not written, so stale bits (from garbage,
 * or from the op's previous life as a recv or a poll) turned a file read into something
 * else. Only the in-flight marker may be trusted to be clear: the low 32 bits of
 * internal word 0 (cport.h: stale bytes that look "in flight" give CPORT_EBUSY), so that
 * word is 0 and every other private word is all ones here.
 */

#include "helpers.h"

#include <stdio.h>
#include <string.h>

enum { LEN = 4096 };

/* An op whose every private word but the first holds ~0, out fields garbage too. */
static void stale_op(cport_op *op)
{
	memset(op, 0xff, sizeof *op);
	op->user = NULL;
	op->timeout_ns = 0;
	op->flags = 0;
	op->internal[0] = 0;
}

/* `buf` holds the file's bytes from `off` (t_pattern); names the first wrong one. */
static void check_pattern(const uint8_t *buf, size_t n, uint64_t off, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != t_pattern(off + i))
			fail_msg("%s: byte %zu is 0x%02x, wanted 0x%02x", what, i, buf[i],
				 t_pattern(off + i));
}

static int64_t run(cport *port, cport_op *op, const char *what)
{
	cport_op *out[1];
	int n = cport_wait(port, out, 1, 10ll * 1000000000);
	if (n != 1)
		fail_msg("%s: no completion in 10 s", what);
	assert_ptr_equal(out[0], op);
	return op->result;
}

/* Read, readv and write on a fresh op full of stale bits. */
static void garbage_internal(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(2 * LEN);
	static uint8_t buf[LEN];
	cport_op op;

	stale_op(&op);
	memset(buf, 0xaa, sizeof buf);
	assert_int_equal(cport_read(port, &op, fd, buf, LEN, 0), 0);
	int64_t r = run(port, &op, "read on a stale op");
	if (r != LEN)
		fail_msg("read on a stale op: %lld (%s), wanted %d", (long long)r,
			 r < 0 ? cport_err_name(r) : "bytes", LEN);
	check_pattern(buf, LEN, 0, "read on a stale op");
	assert_int_equal(op.cflags, 0);

	stale_op(&op);
	memset(buf, 0xaa, sizeof buf);
	cport_iovec iov[2] = {{buf, 100}, {buf + 100, LEN - 100}};
	assert_int_equal(cport_readv(port, &op, fd, iov, 2, LEN), 0);
	r = run(port, &op, "readv on a stale op");
	if (r != LEN)
		fail_msg("readv on a stale op: %lld (%s), wanted %d", (long long)r,
			 r < 0 ? cport_err_name(r) : "bytes", LEN);
	check_pattern(buf, LEN, LEN, "readv on a stale op");

	/* A write of the pattern's first block over the second block. */
	stale_op(&op);
	for (unsigned i = 0; i < LEN; i++)
		buf[i] = t_pattern(i);
	assert_int_equal(cport_write(port, &op, fd, buf, LEN, LEN), 0);
	r = run(port, &op, "write on a stale op");
	if (r != LEN)
		fail_msg("write on a stale op: %lld (%s), wanted %d", (long long)r,
			 r < 0 ? cport_err_name(r) : "bytes", LEN);
	memset(buf, 0, sizeof buf);
	assert_int_equal(t_pread(fd, buf, LEN, LEN), LEN);
	check_pattern(buf, LEN, 0, "file after a write on a stale op");
	assert_int_equal(t_fsize(fd), 2 * LEN);
	t_close(fd);
	cport_destroy(port);
}

/* The op's previous life on a socket, then a file read with the same op. */
enum prior { RECV_CANCELLED, RECV_TIMED_OUT, RECV_DONE, POLL_CANCELLED, SEND_DONE, NPRIOR };
static const char *const prior_name[NPRIOR] = {
	"recv cancelled while it waited", "recv timed out", "recv with data",
	"poll cancelled while it waited", "send"};

static void prior_life(cport *port, cport_op *op, enum prior p, cport_fd s[2])
{
	static char b[16];
	memset(op, 0, sizeof *op);
	int64_t want = 0;
	switch (p) {
	case RECV_TIMED_OUT:
		op->timeout_ns = 20 * 1000000ull;
		/* fall through */
	case RECV_CANCELLED:
		assert_int_equal(cport_recv(port, op, s[0], b, sizeof b, 0), 0);
		want = p == RECV_TIMED_OUT ? CPORT_ETIMEDOUT : CPORT_ECANCELED;
		break;
	case POLL_CANCELLED:
		assert_int_equal(cport_poll(port, op, s[0], CPORT_POLL_IN), 0);
		want = CPORT_ECANCELED;
		break;
	case RECV_DONE:
		t_write_all(s[1], "abc", 3);
		assert_int_equal(cport_recv(port, op, s[0], b, sizeof b, 0), 0);
		want = 3;
		break;
	case SEND_DONE:
		assert_int_equal(cport_send(port, op, s[0], "xyz", 3, 0), 0);
		want = 3;
		break;
	default:
		fail();
	}
	if (want == CPORT_ECANCELED) {
		cport_op *out[1];
		assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0); /* it waits */
		assert_int_equal(cport_cancel(port, op), 0);
	}
	int64_t r = run(port, op, prior_name[p]);
	if (r != want)
		fail_msg("%s: %lld (%s), wanted %lld", prior_name[p], (long long)r,
			 cport_err_name(r), (long long)want);
	if (p == SEND_DONE) {
		char got[3];
		t_read_all(s[1], got, 3);
	}
}

static void reused_after_socket_ops(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(LEN);
	cport_fd s[2];
	t_tcp_pair(s);
	static uint8_t buf[LEN];
	cport_op op;
	char what[96];
	for (int p = 0; p < NPRIOR; p++) {
		prior_life(port, &op, (enum prior)p, s);
		/* Reused as is: only the in fields are set again. */
		op.timeout_ns = 0;
		memset(buf, 0xaa, sizeof buf);
		snprintf(what, sizeof what, "file read after a %s", prior_name[p]);
		assert_int_equal(cport_read(port, &op, fd, buf, LEN, 0), 0);
		int64_t r = run(port, &op, what);
		if (r != LEN)
			fail_msg("%s: %lld (%s), wanted %d", what, (long long)r,
				 r < 0 ? cport_err_name(r) : "bytes", LEN);
		check_pattern(buf, LEN, 0, what);
		assert_int_equal(op.cflags, 0);
	}
	/* And the socket still works with that op: a recv gets the peer's bytes. */
	char b[8] = {0};
	t_write_all(s[1], "end", 3);
	assert_int_equal(cport_recv(port, &op, s[0], b, sizeof b, 0), 0);
	assert_int_equal(run(port, &op, "recv after the file reads"), 3);
	assert_memory_equal(b, "end", 3);
	t_close(s[0]);
	t_close(s[1]);
	t_close(fd);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(garbage_internal),
		cmocka_unit_test(reused_after_socket_ops),
	};
	return T_MAIN("regress-stale-internal", tests);
}
