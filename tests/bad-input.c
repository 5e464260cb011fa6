/* SPDX-License-Identifier: MIT */
/* Bad input (docs/contract.md, bad arguments): a clear error code, and nothing changes. */

#include "helpers.h"

#include <string.h>

/* After a rejected submit, the op is untouched and free: it can be used at once, and no
 * completion for it ever arrives. */
static void assert_nothing_queued(cport *port)
{
	cport_op *out[4];
	assert_int_equal(cport_wait(port, out, 4, 10 * 1000000LL), 0);
}

static void null_args(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	char buf[4];
	cport_statbuf st;
	cport_iovec iov = {buf, 4};
	assert_int_equal(cport_nop(NULL, &op), CPORT_EINVAL);
	assert_int_equal(cport_nop(port, NULL), CPORT_EINVAL);
	assert_int_equal(cport_timer(port, NULL, 1, 0), CPORT_EINVAL);
	assert_int_equal(cport_read(port, &op, 0, NULL, 4, 0), CPORT_EINVAL);
	assert_int_equal(cport_write(port, &op, 1, NULL, 4, 0), CPORT_EINVAL);
	assert_int_equal(cport_readv(port, &op, 0, NULL, 1, 0), CPORT_EINVAL);
	assert_int_equal(cport_writev(port, &op, 1, &iov, 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_open(port, &op, NULL, 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_stat(port, &op, NULL, &st), CPORT_EINVAL);
	assert_int_equal(cport_stat(port, &op, "/", NULL), CPORT_EINVAL);
	assert_int_equal(cport_fstat(port, &op, 0, NULL), CPORT_EINVAL);
	assert_int_equal(cport_rename(port, &op, "a", NULL), CPORT_EINVAL);
	assert_int_equal(cport_rename(port, &op, NULL, "b"), CPORT_EINVAL);
	assert_int_equal(cport_unlink(port, &op, NULL, 0), CPORT_EINVAL);
	assert_int_equal(cport_mkdir(port, &op, NULL, 0700), CPORT_EINVAL);
	assert_int_equal(cport_wait(NULL, NULL, 1, 0), CPORT_EINVAL);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, NULL, 1, 0), CPORT_EINVAL);
	assert_int_equal(cport_wait(port, out, 0, 0), CPORT_EINVAL);
	assert_nothing_queued(port);
	cport_destroy(port);
}

static void bad_descriptors(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	char buf[4];
	cport_statbuf st;
	cport_iovec iov = {buf, 4};
	assert_int_equal(cport_read(port, &op, -1, buf, 4, 0), CPORT_EBADF);
	assert_int_equal(cport_write(port, &op, -5, buf, 4, 0), CPORT_EBADF);
	assert_int_equal(cport_readv(port, &op, -1, &iov, 1, 0), CPORT_EBADF);
	assert_int_equal(cport_fsync(port, &op, -1, 0), CPORT_EBADF);
	assert_int_equal(cport_close(port, &op, -1), CPORT_EBADF);
	assert_int_equal(cport_fstat(port, &op, -1, &st), CPORT_EBADF);
	assert_int_equal(cport_ftruncate(port, &op, -1, 0), CPORT_EBADF);
	assert_int_equal(cport_fallocate(port, &op, -1, 0, 0, 1), CPORT_EBADF);
	assert_nothing_queued(port);
	cport_destroy(port);
}

static void bad_lengths_and_offsets(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	char buf[4];
	cport_fd fd = t_file(16);
	assert_int_equal(cport_read(port, &op, fd, buf, (size_t)CPORT_MAX_IO + 1, 0), CPORT_EINVAL);
	assert_int_equal(cport_write(port, &op, fd, buf, SIZE_MAX, 0), CPORT_EINVAL);
	assert_int_equal(cport_read(port, &op, fd, buf, 4, -2), CPORT_EINVAL);
	assert_int_equal(cport_write(port, &op, fd, buf, 4, INT64_MIN), CPORT_EINVAL);
	cport_iovec big[2] = {{buf, CPORT_MAX_IO}, {buf, 1}};
	assert_int_equal(cport_readv(port, &op, fd, big, 2, 0), CPORT_EINVAL);
	cport_iovec nullbase = {NULL, 4};
	assert_int_equal(cport_writev(port, &op, fd, &nullbase, 1, 0), CPORT_EINVAL);
	static cport_iovec many[1025];
	for (int i = 0; i < 1025; i++)
		many[i] = (cport_iovec){buf, 1};
	assert_int_equal(cport_readv(port, &op, fd, many, 1025, 0), CPORT_EINVAL);
	assert_int_equal(cport_fallocate(port, &op, fd, 0, 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_fallocate(port, &op, fd, 0, -1, 10), CPORT_EINVAL);
	assert_int_equal(cport_fallocate(port, &op, fd, 0, INT64_MAX, 10), CPORT_EINVAL);
	assert_int_equal(cport_ftruncate(port, &op, fd, -1), CPORT_EINVAL);
	assert_nothing_queued(port);
	t_close(fd);
	cport_destroy(port);
}

static void bad_flags(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	assert_int_equal(cport_fsync(port, &op, 0, 0x100), CPORT_EINVAL);
	assert_int_equal(cport_open(port, &op, "x", 1u << 20, 0), CPORT_EINVAL);
	assert_int_equal(cport_open(port, &op, "x", CPORT_O_WRONLY | CPORT_O_RDWR, 0), CPORT_EINVAL);
	assert_int_equal(cport_open(port, &op, "x", CPORT_O_CREAT, 010000), CPORT_EINVAL);
	assert_int_equal(cport_unlink(port, &op, "x", 0x8), CPORT_EINVAL);
	assert_int_equal(cport_mkdir(port, &op, "x", 0170000), CPORT_EINVAL);
	assert_int_equal(cport_fallocate(port, &op, 0, 0x40, 0, 1), CPORT_EINVAL);
	op.flags = 1u << 31; /* no CPORT_OP_* flag */
	assert_int_equal(cport_nop(port, &op), CPORT_EINVAL);
	op.flags = CPORT_OP_LINK; /* a post is outside every chain */
	assert_int_equal(cport_post(port, &op, 0), CPORT_EINVAL);
	op.flags = 0;
	assert_nothing_queued(port);
	cport_destroy(port);
}

/* An op in flight cannot be submitted again, through any call, and the first
 * submission is unharmed. */
static void submitted_twice(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	char buf[8], other[8];
	cport_op op = {0};
	op.user = buf;
	assert_int_equal(cport_read(port, &op, p[0], buf, sizeof buf, -1), 0);
	cport_op before;
	memcpy(&before, &op, sizeof op);
	assert_int_equal(cport_read(port, &op, p[0], other, sizeof other, -1), CPORT_EBUSY);
	assert_int_equal(cport_nop(port, &op), CPORT_EBUSY);
	assert_int_equal(cport_timer(port, &op, 1, 0), CPORT_EBUSY);
	assert_int_equal(cport_post(port, &op, 1), CPORT_EBUSY);
	assert_int_equal(cport_close(port, &op, p[1]), CPORT_EBUSY);
	assert_memory_equal(&before, &op, sizeof op); /* nothing changed */
	assert_int_equal(t_write(p[1], "xyz", 3), 3);
	assert_int_equal(t_run(port, &op), 3);
	assert_ptr_equal(op.user, buf);
	assert_memory_equal(buf, "xyz", 3);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

/* An op that looks in flight on another port is also refused. */
static void in_flight_elsewhere(void **state)
{
	(void)state;
	cport *a = t_port(), *b = t_port();
	cport_op op = {0};
	assert_int_equal(cport_timer(a, &op, 1000000000ull, 0), 0);
	assert_int_equal(cport_nop(b, &op), CPORT_EBUSY);
	assert_int_equal(cport_cancel(a, &op), 0);
	assert_int_equal(t_run(a, &op), CPORT_ECANCELED);
	assert_int_equal(cport_nop(b, &op), 0);
	assert_int_equal(t_run(b, &op), 0);
	cport_destroy(a);
	cport_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(null_args),       cmocka_unit_test(bad_descriptors),
		cmocka_unit_test(bad_lengths_and_offsets), cmocka_unit_test(bad_flags),
		cmocka_unit_test(submitted_twice), cmocka_unit_test(in_flight_elsewhere),
	};
	return T_MAIN("bad-input", tests);
}
