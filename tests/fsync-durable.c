/* SPDX-License-Identifier: MIT */
/* Durable flushes: fsync and fdatasync, a directory's flush, cport_fsync_range, errors passed through. */

/*
 * What a test can see of durability without pulling the power: every flush form
 * completes with 0 on a file of every backend (io_uring natively: IORING_OP_FSYNC and
 * IORING_OP_SYNC_FILE_RANGE, the pool elsewhere and under io_uring-pool), a directory
 * flushes where the OS can and answers CPORT_ENOTSUP where it cannot (Windows), the
 * errors the OS gives come back unchanged (never retried into a 0), and bad arguments
 * are refused without touching the op.
 */

#include "helpers.h"

#include <stdio.h>
#include <string.h>

static int64_t run_fsync(cport *port, cport_fd fd, uint32_t flags)
{
	cport_op op = {0};
	assert_int_equal(cport_fsync(port, &op, fd, flags), 0);
	return t_run(port, &op);
}

static int64_t run_range(cport *port, cport_fd fd, int64_t offset, int64_t len)
{
	cport_op op = {0};
	assert_int_equal(cport_fsync_range(port, &op, fd, 0, offset, len), 0);
	return t_run(port, &op);
}

static int64_t run_open(cport *port, const char *path, uint32_t flags)
{
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, path, flags, 0600), 0);
	return t_run(port, &op);
}

static void run_close(cport *port, cport_fd fd)
{
	cport_op op = {0};
	assert_int_equal(cport_close(port, &op, fd), 0);
	assert_int_equal(t_run(port, &op), 0);
}

/* Every flush form after writes: 0, and the bytes are still there. */
static void flush_forms_on_a_file(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(0);
	static char buf[3 * 4096];
	memset(buf, 'd', sizeof buf);
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, fd, buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &op), (int64_t)sizeof buf);
	assert_int_equal(run_fsync(port, fd, 0), 0);
	assert_int_equal(run_fsync(port, fd, CPORT_FSYNC_DATA), 0);
	assert_int_equal(cport_write(port, &op, fd, buf, 4096, 4096), 0);
	assert_int_equal(t_run(port, &op), 4096);
	assert_int_equal(run_range(port, fd, 4096, 4096), 0);
	assert_int_equal(run_range(port, fd, 0, 0), 0); /* 0: to the end of the file */
	assert_int_equal(run_range(port, fd, 1, 10), 0); /* any range: no alignment */
	/* Longer than the 32 bits of io_uring's SQE: fdatasync of the whole file there. */
	assert_int_equal(run_range(port, fd, 0, (int64_t)1 << 33), 0);
	assert_int_equal(run_range(port, fd, INT64_MAX - 1, 1), 0); /* past the end */
	char back[sizeof buf];
	assert_int_equal(t_pread(fd, back, sizeof back, 0), (int64_t)sizeof back);
	assert_memory_equal(back, buf, sizeof buf);
	t_close(fd);
	cport_destroy(port);
}

/* A new name is durable once its file and its directory are flushed: the directory is
 * opened with CPORT_O_DIRECTORY and flushed like a file. Windows documents no flush of
 * a directory: CPORT_ENOTSUP there, for both forms. */
static void flush_a_directory(void **state)
{
	(void)state;
	cport *port = t_port();
	char dir[300], file[320];
	t_path(dir, sizeof dir, "d");
	cport_op op = {0};
	assert_int_equal(cport_mkdir(port, &op, dir, 0700), 0);
	assert_int_equal(t_run(port, &op), 0);
	snprintf(file, sizeof file, "%s/new", dir);
	int64_t f = run_open(port, file, CPORT_O_RDWR | CPORT_O_CREAT | CPORT_O_EXCL);
	assert_true(f >= 0);
	assert_int_equal(cport_write(port, &op, (cport_fd)f, "rec", 3, 0), 0);
	assert_int_equal(t_run(port, &op), 3);
	assert_int_equal(run_fsync(port, (cport_fd)f, CPORT_FSYNC_DATA), 0);
	int64_t d = run_open(port, dir, CPORT_O_RDONLY | CPORT_O_DIRECTORY);
	assert_true(d >= 0);
	int64_t want = t_is_windows() && !t_sim() ? CPORT_ENOTSUP : 0;
	assert_int_equal(run_fsync(port, (cport_fd)d, 0), want);
	assert_int_equal(run_fsync(port, (cport_fd)d, CPORT_FSYNC_DATA), want);
	run_close(port, (cport_fd)d);
	run_close(port, (cport_fd)f);
	cport_destroy(port);
}

/* The OS's answer comes back as it is. Windows: FlushFileBuffers needs write access
 * (cport.h), Unix flushes through a read-only descriptor too. Unix: a pipe cannot be
 * flushed (fdatasync EINVAL; Linux's sync_file_range ESPIPE). */
static void errors_pass_through(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	t_path(path, sizeof path, "ro");
	int64_t w = run_open(port, path, CPORT_O_WRONLY | CPORT_O_CREAT);
	assert_true(w >= 0);
	run_close(port, (cport_fd)w);
	int64_t r = run_open(port, path, CPORT_O_RDONLY);
	assert_true(r >= 0);
	bool iocp = t_is_windows() && !t_sim(); /* the simulation flushes through any */
	assert_int_equal(run_fsync(port, (cport_fd)r, 0), iocp ? CPORT_EACCES : 0);
	run_close(port, (cport_fd)r);
#ifndef _WIN32
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	assert_int_equal(run_fsync(port, p[1], CPORT_FSYNC_DATA), CPORT_EINVAL);
	int64_t range = run_range(port, p[1], 0, 10);
#ifdef __linux__
	assert_int_equal(range, CPORT_ESPIPE);
#else
	assert_int_equal(range, CPORT_EINVAL);
#endif
	t_close(p[0]);
	t_close(p[1]);
#endif
	cport_destroy(port);
}

/* Bad arguments: CPORT_EINVAL / CPORT_EBADF / CPORT_EBUSY, and the op is untouched. */
static void range_bad_input(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(100);
	cport_op op, before;
	memset(&op, 0, sizeof op);
	op.user = &op;
	op.result = 42;
	before = op;
	assert_int_equal(cport_fsync_range(port, &op, fd, 1, 0, 10), CPORT_EINVAL);
	assert_int_equal(cport_fsync_range(port, &op, fd, 0x80000000u, 0, 10), CPORT_EINVAL);
	assert_int_equal(cport_fsync_range(port, &op, fd, 0, -1, 10), CPORT_EINVAL);
	assert_int_equal(cport_fsync_range(port, &op, fd, 0, 0, -1), CPORT_EINVAL);
	assert_int_equal(cport_fsync_range(port, &op, fd, 0, INT64_MAX, 1), CPORT_EINVAL);
	assert_int_equal(cport_fsync_range(port, &op, fd, 0, 1, INT64_MAX), CPORT_EINVAL);
	assert_int_equal(cport_fsync_range(NULL, &op, fd, 0, 0, 10), CPORT_EINVAL);
	assert_int_equal(cport_fsync_range(port, NULL, fd, 0, 0, 10), CPORT_EINVAL);
	assert_int_equal(cport_fsync_range(port, &op, (cport_fd)-1, 0, 0, 10), CPORT_EBADF);
	op.flags = 1u << 30; /* no such op flag */
	assert_int_equal(cport_fsync_range(port, &op, fd, 0, 0, 10), CPORT_EINVAL);
	op.flags = 0;
	assert_memory_equal(&op, &before, sizeof op);
	/* In flight: a second submit is refused and the first completes once. */
	assert_int_equal(cport_fsync_range(port, &op, fd, 0, 0, 10), 0);
	assert_int_equal(cport_fsync_range(port, &op, fd, 0, 0, 10), CPORT_EBUSY);
	assert_int_equal(t_run(port, &op), 0);
	t_close(fd);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flush_forms_on_a_file),
		cmocka_unit_test(flush_a_directory),
		cmocka_unit_test(errors_pass_through),
		cmocka_unit_test(range_bad_input),
	};
	return T_MAIN("fsync-durable", tests);
}
