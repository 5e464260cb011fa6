/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #4): vectored ops whose every iovec is empty complete with 0, reading and writing nothing. */

/*
 * readv/writev/recvmsg/sendmsg with iovcnt >= 1 but every length 0 moved the iovec
 * cursor past the end of the array looking for a non-empty buffer (a read out of
 * bounds: AddressSanitizer reports it; the arrays here are heap blocks of exactly their
 * size so it does), or waited for readiness that a zero-length transfer does not need.
 * The documented result of a zero-length read or write is 0, on files (offset 0) and on
 * streams (offset -1). Nothing may be read or written: later ops see the bytes intact.
 */

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char spare[8];

/* An array of `n` empty iovecs, allocated to its exact size; some have a NULL base. */
static cport_iovec *empty_iov(unsigned n)
{
	cport_iovec *iov = malloc(n * sizeof *iov);
	assert_non_null(iov);
	for (unsigned i = 0; i < n; i++) {
		iov[i].base = i % 3 == 1 ? NULL : &spare[i % sizeof spare];
		iov[i].len = 0;
	}
	return iov;
}

/* Reap `op`, failing with `what` if it does not complete within 10 s. */
static int64_t run(cport *port, cport_op *op, const char *what, unsigned n)
{
	cport_op *out[1];
	int k = cport_wait(port, out, 1, 10ll * 1000000000);
	if (k != 1)
		fail_msg("%s with %u empty iovecs: no completion in 10 s (wait returned %d)", what,
			 n, k);
	assert_ptr_equal(out[0], op);
	if (op->result != 0)
		fail_msg("%s with %u empty iovecs: result %lld (%s), wanted 0", what, n,
			 (long long)op->result, cport_err_name(op->result));
	return op->result;
}

static const unsigned counts[] = {1, 3, 64, 1024};
#define NCOUNTS (sizeof counts / sizeof counts[0])

/* A file at offset 0 (and at its end): 0, and the file keeps its size and bytes. */
static void file_readv_writev(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(4096);
	for (unsigned c = 0; c < NCOUNTS; c++) {
		cport_iovec *iov = empty_iov(counts[c]);
		cport_op op = {0};
		assert_int_equal(cport_writev(port, &op, fd, iov, counts[c], 0), 0);
		run(port, &op, "file writev at 0", counts[c]);
		assert_int_equal(cport_readv(port, &op, fd, iov, counts[c], 0), 0);
		run(port, &op, "file readv at 0", counts[c]);
		assert_int_equal(cport_writev(port, &op, fd, iov, counts[c], 4096), 0);
		run(port, &op, "file writev at its end", counts[c]);
		assert_int_equal(cport_readv(port, &op, fd, iov, counts[c], 4096), 0);
		run(port, &op, "file readv at its end", counts[c]);
		free(iov);
	}
	assert_int_equal(t_fsize(fd), 4096);
	static uint8_t buf[4096];
	assert_int_equal(t_pread(fd, buf, sizeof buf, 0), 4096);
	for (unsigned i = 0; i < sizeof buf; i++)
		assert_int_equal(buf[i], t_pattern(i));
	t_close(fd);
	cport_destroy(port);
}

/* A pipe at offset -1, with nothing to read: 0 at once, nothing consumed or written. */
static void pipe_readv_writev(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	for (unsigned c = 0; c < NCOUNTS; c++) {
		cport_iovec *iov = empty_iov(counts[c]);
		cport_op op = {0};
		assert_int_equal(cport_readv(port, &op, p[0], iov, counts[c], -1), 0);
		run(port, &op, "pipe readv (idle pipe)", counts[c]);
		assert_int_equal(cport_writev(port, &op, p[1], iov, counts[c], -1), 0);
		run(port, &op, "pipe writev", counts[c]);
		free(iov);
	}
	/* The pipe holds nothing from the empty writes: the first byte read is ours. */
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, p[1], "ok", 2, -1), 0);
	assert_int_equal(t_run(port, &op), 2);
	/* With bytes waiting, an empty readv still reads none of them. */
	cport_iovec *iov = empty_iov(3);
	assert_int_equal(cport_readv(port, &op, p[0], iov, 3, -1), 0);
	run(port, &op, "pipe readv (bytes waiting)", 3);
	free(iov);
	char b[8] = {0};
	assert_int_equal(cport_read(port, &op, p[0], b, sizeof b, -1), 0);
	assert_int_equal(t_run(port, &op), 2);
	assert_memory_equal(b, "ok", 2);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

/* A TCP connection: readv/writev at offset -1 with empty iovecs, nothing waiting. */
static void socket_readv_writev(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	for (unsigned c = 0; c < NCOUNTS; c++) {
		cport_iovec *iov = empty_iov(counts[c]);
		cport_op op = {0};
		assert_int_equal(cport_readv(port, &op, s[0], iov, counts[c], -1), 0);
		run(port, &op, "socket readv (idle)", counts[c]);
		assert_int_equal(cport_writev(port, &op, s[0], iov, counts[c], -1), 0);
		run(port, &op, "socket writev", counts[c]);
		free(iov);
	}
	/* Nothing went out: the peer's first bytes are the ones sent now. */
	cport_op op = {0};
	assert_int_equal(cport_send(port, &op, s[0], "hi", 2, 0), 0);
	assert_int_equal(t_run(port, &op), 2);
	char b[2];
	t_read_all(s[1], b, 2);
	assert_memory_equal(b, "hi", 2);
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

static void msg_init(cport_msg *m, cport_iovec *iov, unsigned n)
{
	memset(m, 0, sizeof *m);
	m->iov = iov;
	m->iovcnt = n;
}

/* sendmsg with empty iovecs sends nothing; recvmsg with bytes waiting takes none. */
static void socket_msg(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	cport_op op = {0};
	cport_msg m;
	for (unsigned c = 0; c < NCOUNTS; c++) {
		cport_iovec *iov = empty_iov(counts[c]);
		msg_init(&m, iov, counts[c]);
		assert_int_equal(cport_sendmsg(port, &op, s[0], &m), 0);
		run(port, &op, "sendmsg", counts[c]);
		free(iov);
	}
	assert_int_equal(cport_send(port, &op, s[0], "hi", 2, 0), 0);
	assert_int_equal(t_run(port, &op), 2);
	char b[2];
	t_read_all(s[1], b, 2);
	assert_memory_equal(b, "hi", 2);
	/* Bytes waiting: empty recvmsgs leave them for the next recv. */
	t_write_all(s[1], "yo", 2);
	t_sleep_us(20000);
	for (unsigned c = 0; c < NCOUNTS; c++) {
		cport_iovec *iov = empty_iov(counts[c]);
		msg_init(&m, iov, counts[c]);
		assert_int_equal(cport_recvmsg(port, &op, s[0], &m), 0);
		run(port, &op, "recvmsg (bytes waiting)", counts[c]);
		free(iov);
	}
	char r[4] = {0};
	assert_int_equal(cport_recv(port, &op, s[0], r, sizeof r, 0), 0);
	assert_int_equal(t_run(port, &op), 2);
	assert_memory_equal(r, "yo", 2);
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

/*
 * recvmsg with empty iovecs on an idle TCP socket. cport.h: a receive of zero bytes
 * completes at once with 0, although Linux's own TCP recvmsg of 0 bytes waits for data
 * (its low-water mark is at least 1 byte).
 */
static void idle_socket_recvmsg(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	cport_iovec *iov = empty_iov(3);
	cport_msg m;
	msg_init(&m, iov, 3);
	cport_op op = {0};
	assert_int_equal(cport_recvmsg(port, &op, s[0], &m), 0);
	cport_op *out[1];
	int k = cport_wait(port, out, 1, 10ll * 1000000000);
	if (k == 0) {
		/* Leave nothing in flight: cancel and reap it before failing. */
		assert_int_equal(cport_cancel(port, &op), 0);
		int64_t r = t_run(port, &op);
		free(iov);
		t_close(s[0]);
		t_close(s[1]);
		cport_destroy(port);
		fail_msg("recvmsg with 3 empty iovecs on an idle socket: no completion in 10 s "
			 "(waits for data; cancelled: %s)", cport_err_name(r));
	}
	assert_int_equal(k, 1);
	assert_int_equal(op.result, 0);
	free(iov);
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(file_readv_writev),
		cmocka_unit_test(pipe_readv_writev),
		cmocka_unit_test(socket_readv_writev),
		cmocka_unit_test(socket_msg),
		cmocka_unit_test(idle_socket_recvmsg),
	};
	return T_MAIN("regress-iov-all-empty", tests);
}
