/* SPDX-License-Identifier: MIT */
/* cport_fallocate's CPORT_FALLOC_PUNCH_HOLE and CPORT_FALLOC_ZERO_RANGE: ranges that read as zeros. */

/*
 * A file of its own because Wine implements neither (FSCTL_SET_ZERO_DATA), and a file
 * system may lack them: the test then skips with the reason.
 */

#include "helpers.h"

#include <string.h>

static void skip_unsupported(cport *port, cport_fd fd, int64_t r, const char *what)
{
	if (r != CPORT_ENOTSUP)
		return;
	t_close(fd);
	cport_destroy(port);
	t_skip("fallocate with %s is not supported on this system or file system", what);
}

/* Bytes [from, to) of `fd` are zeros when `zero`, else the pattern t_file wrote. */
static void check_range(cport_fd fd, int64_t from, int64_t to, int zero)
{
	uint8_t b[4096];
	for (int64_t at = from; at < to;) {
		size_t n = to - at < (int64_t)sizeof b ? (size_t)(to - at) : sizeof b;
		assert_int_equal(t_pread(fd, b, n, at), (int64_t)n);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(b[i], zero ? 0 : t_pattern((uint64_t)at + i));
		at += (int64_t)n;
	}
}

static void punch_hole(void **state)
{
	(void)state;
	t_sim_skip("the simulation does not count allocated blocks");
	cport *port = t_port();
	const int64_t size = 1 << 20, off = 65536, len = 262144;
	cport_fd fd = t_file((size_t)size);
	cport_op op = {0};
	assert_int_equal(cport_fsync(port, &op, fd, 0), 0); /* blocks really allocated */
	assert_int_equal(t_run(port, &op), 0);
	int64_t before = t_falloc_bytes(fd);
	assert_int_equal(cport_fallocate(port, &op, fd, CPORT_FALLOC_PUNCH_HOLE, off, len), 0);
	int64_t r = t_run(port, &op);
	skip_unsupported(port, fd, r, "CPORT_FALLOC_PUNCH_HOLE");
	assert_int_equal(r, 0);
	assert_int_equal(t_fsize(fd), size); /* the size never changes */
	check_range(fd, 0, off, 0);
	check_range(fd, off, off + len, 1);
	check_range(fd, off + len, size, 0);
	/* The blocks are gone (whole 4 KiB blocks at least: the range is aligned). */
	int64_t after = t_falloc_bytes(fd);
	assert_true(after <= before - len);
	/* Past the end: nothing to free, the size still stays. */
	assert_int_equal(cport_fallocate(port, &op, fd, CPORT_FALLOC_PUNCH_HOLE, size, 4096), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(t_fsize(fd), size);
	t_close(fd);
	cport_destroy(port);
}

static void zero_range(void **state)
{
	(void)state;
	t_sim_skip("the simulation does not count allocated blocks");
	cport *port = t_port();
	const int64_t size = 65536;
	cport_fd fd = t_file((size_t)size);
	cport_op op = {0};
	assert_int_equal(cport_fallocate(port, &op, fd, CPORT_FALLOC_ZERO_RANGE, 4096, 4096), 0);
	int64_t r = t_run(port, &op);
	skip_unsupported(port, fd, r, "CPORT_FALLOC_ZERO_RANGE");
	assert_int_equal(r, 0);
	assert_int_equal(t_fsize(fd), size);
	check_range(fd, 0, 4096, 0);
	check_range(fd, 4096, 8192, 1);
	check_range(fd, 8192, size, 0);
	/* Across the end: the file grows to the range's end, zeros all along... */
	assert_int_equal(cport_fallocate(port, &op, fd, CPORT_FALLOC_ZERO_RANGE, size - 4096, 65536),
			 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(t_fsize(fd), 2 * size - 4096);
	check_range(fd, 8192, size - 4096, 0);
	check_range(fd, size - 4096, 2 * size - 4096, 1);
	/* ...unless KEEP_SIZE. */
	assert_int_equal(cport_fallocate(port, &op, fd,
					 CPORT_FALLOC_ZERO_RANGE | CPORT_FALLOC_KEEP_SIZE, 1 << 20,
					 1 << 16),
			 0);
	r = t_run(port, &op);
	skip_unsupported(port, fd, r, "CPORT_FALLOC_ZERO_RANGE | CPORT_FALLOC_KEEP_SIZE");
	assert_int_equal(r, 0);
	assert_int_equal(t_fsize(fd), 2 * size - 4096);
	t_close(fd);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(punch_hole),
		cmocka_unit_test(zero_range),
	};
	return T_MAIN("fallocate-punch", tests);
}
