/* SPDX-License-Identifier: MIT */
/* Positional file I/O (rule 5): read, write, readv, writev; short only at end of file. */

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_sizes(void **state)
{
	(void)state;
	cport *port = t_port();
	size_t flen = 3 * 1024 * 1024 + 123;
	cport_fd fd = t_file(flen);
	uint8_t *buf = malloc(flen);
	static const size_t sizes[] = {1, 511, 4096, 65536, 1 << 20, 3 * 1024 * 1024 + 123};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		cport_op op = {0};
		assert_int_equal(cport_read(port, &op, fd, buf, sizes[i], 0), 0);
		assert_int_equal(t_run(port, &op), (int64_t)sizes[i]);
		t_check_pattern(buf, sizes[i], 0);
	}
	free(buf);
	t_close(fd);
	cport_destroy(port);
}

static void read_at_and_past_eof(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(10000);
	uint8_t buf[8192];
	cport_op op = {0};
	assert_int_equal(cport_read(port, &op, fd, buf, sizeof buf, 5000), 0);
	assert_int_equal(t_run(port, &op), 5000); /* short only because of EOF */
	t_check_pattern(buf, 5000, 5000);
	assert_int_equal(cport_read(port, &op, fd, buf, sizeof buf, 10000), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_read(port, &op, fd, buf, sizeof buf, 1 << 30), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_read(port, &op, fd, buf, 0, 0), 0);
	assert_int_equal(t_run(port, &op), 0);
	t_close(fd);
	cport_destroy(port);
}

static void write_then_read(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(0);
	enum { LEN = 1 << 20 };
	uint8_t *w = malloc(LEN), *r = malloc(LEN);
	for (size_t i = 0; i < LEN; i++)
		w[i] = t_pattern(i + 4096);
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, fd, w, LEN, 4096), 0);
	assert_int_equal(t_run(port, &op), LEN);
	assert_int_equal(t_pread(fd, r, LEN, 4096), LEN);
	assert_memory_equal(w, r, LEN);
	memset(r, 0, LEN);
	assert_int_equal(cport_read(port, &op, fd, r, LEN, 4096), 0);
	assert_int_equal(t_run(port, &op), LEN);
	t_check_pattern(r, LEN, 4096);
	/* The hole before offset 4096 reads as zeros. */
	assert_int_equal(cport_read(port, &op, fd, r, 4096, 0), 0);
	assert_int_equal(t_run(port, &op), 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(r[i], 0);
	free(w);
	free(r);
	t_close(fd);
	cport_destroy(port);
}

/* Many writes and reads in flight at once on one file, at distinct offsets. */
static void many_in_flight(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(0);
	enum { N = 128, SZ = 4096 };
	static uint8_t bufs[N][SZ];
	static cport_op ops[N];
	for (int i = 0; i < N; i++) {
		for (int j = 0; j < SZ; j++)
			bufs[i][j] = t_pattern((uint64_t)i * SZ + (uint64_t)j);
		assert_int_equal(cport_write(port, &ops[i], fd, bufs[i], SZ, (int64_t)i * SZ), 0);
	}
	assert_int_equal(t_reap(port, N, NULL, NULL), N);
	for (int i = 0; i < N; i++)
		assert_int_equal(ops[i].result, SZ);
	memset(bufs, 0, sizeof bufs);
	for (int i = N - 1; i >= 0; i--)
		assert_int_equal(cport_read(port, &ops[i], fd, bufs[i], SZ, (int64_t)i * SZ), 0);
	assert_int_equal(t_reap(port, N, NULL, NULL), N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(ops[i].result, SZ);
		t_check_pattern(bufs[i], SZ, (uint64_t)i * SZ);
	}
	t_close(fd);
	cport_destroy(port);
}

static void vectored(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(0);
	uint8_t a[100], b[4000], c[1];
	for (int i = 0; i < 100; i++)
		a[i] = t_pattern((uint64_t)i);
	for (int i = 0; i < 4000; i++)
		b[i] = t_pattern(100 + (uint64_t)i);
	c[0] = t_pattern(4100);
	cport_iovec wv[3] = {{a, 100}, {b, 4000}, {c, 1}};
	cport_op op = {0};
	assert_int_equal(cport_writev(port, &op, fd, wv, 3, 0), 0);
	assert_int_equal(t_run(port, &op), 4101);
	uint8_t r1[50], r2[5000];
	cport_iovec rv[2] = {{r1, 50}, {r2, 5000}};
	assert_int_equal(cport_readv(port, &op, fd, rv, 2, 0), 0);
	assert_int_equal(t_run(port, &op), 4101); /* short: EOF inside the second buffer */
	t_check_pattern(r1, 50, 0);
	t_check_pattern(r2, 4051, 50);
	t_close(fd);
	cport_destroy(port);
}

/* offset -1: the file position, advanced by each read and write. */
static void current_position(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(0);
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, fd, "abc", 3, -1), 0);
	assert_int_equal(t_run(port, &op), 3);
	assert_int_equal(cport_write(port, &op, fd, "defg", 4, -1), 0);
	assert_int_equal(t_run(port, &op), 4);
	assert_int_equal(t_seek(fd, 0, SEEK_CUR), 7);
	char buf[8] = {0};
	assert_int_equal(t_pread(fd, buf, 8, 0), 7);
	assert_string_equal(buf, "abcdefg");
	assert_int_equal(t_seek(fd, 2, SEEK_SET), 2);
	memset(buf, 0, sizeof buf);
	assert_int_equal(cport_read(port, &op, fd, buf, 3, -1), 0);
	assert_int_equal(t_run(port, &op), 3);
	assert_string_equal(buf, "cde");
	t_close(fd);
	cport_destroy(port);
}

static void errors_complete(void **state)
{
	(void)state;
	t_os_only("a file opened with fopen");
	cport *port = t_port();
	cport_fd fd = t_file(100);
	char buf[10];
	cport_op op = {0};
	/* A read-only descriptor refuses writes at completion time. */
	char path[300];
	t_path(path, sizeof path, "ro");
	FILE *f = fopen(path, "w");
	fclose(f);
	cport_fd ro = t_open_rdonly(path);
	assert_int_equal(cport_write(port, &op, ro, "x", 1, 0), 0);
	assert_int_equal(t_run(port, &op), CPORT_EBADF);
	/* A descriptor that is not open: refused at submit where the port can tell,
	 * else completed with the error. */
	int r = cport_read(port, &op, 987654, buf, sizeof buf, 0);
	assert_int_equal(r == 0 ? t_run(port, &op) : r, CPORT_EBADF);
	t_close(ro);
	t_close(fd);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(read_sizes),     cmocka_unit_test(read_at_and_past_eof),
		cmocka_unit_test(write_then_read), cmocka_unit_test(many_in_flight),
		cmocka_unit_test(vectored),       cmocka_unit_test(current_position),
		cmocka_unit_test(errors_complete),
	};
	return T_MAIN("file-io", tests);
}
