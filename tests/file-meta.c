/* SPDX-License-Identifier: MIT */
/* Metadata ops: open, close, fsync, stat, fallocate, ftruncate, rename, unlink, mkdir. */

#include "helpers.h"

#include <string.h>
#include <sys/stat.h>
#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#endif

static int64_t do_open(cport *port, const char *path, uint32_t flags, uint32_t mode)
{
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, path, flags, mode), 0);
	return t_run(port, &op);
}

static void open_write_sync_close(void **state)
{
	(void)state;
	t_os_only("stat(2) of a file");
	cport *port = t_port();
	char path[300];
	t_path(path, sizeof path, "a");
	int64_t fd = do_open(port, path, CPORT_O_RDWR | CPORT_O_CREAT | CPORT_O_EXCL, 0640);
	assert_true(fd >= 0);
#ifndef _WIN32
	assert_true(fcntl((cport_fd)fd, F_GETFD) & FD_CLOEXEC);
#endif
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, (cport_fd)fd, "data", 4, 0), 0);
	assert_int_equal(t_run(port, &op), 4);
	assert_int_equal(cport_fsync(port, &op, (cport_fd)fd, 0), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_fsync(port, &op, (cport_fd)fd, CPORT_FSYNC_DATA), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_close(port, &op, (cport_fd)fd), 0);
	assert_int_equal(t_run(port, &op), 0);
	t_assert_closed((cport_fd)fd); /* really closed */
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 4);
#ifndef _WIN32
	assert_int_equal(st.st_mode & 0137, 0); /* no bits beyond 0640 */
#endif
	/* O_EXCL on an existing file, O_DIRECTORY on a file, a missing file. */
	assert_int_equal(do_open(port, path, CPORT_O_WRONLY | CPORT_O_CREAT | CPORT_O_EXCL, 0600),
			 CPORT_EEXIST);
	assert_int_equal(do_open(port, path, CPORT_O_DIRECTORY, 0), CPORT_ENOTDIR);
	t_path(path, sizeof path, "missing");
	assert_int_equal(do_open(port, path, CPORT_O_RDONLY, 0), CPORT_ENOENT);
	cport_destroy(port);
}

static void open_trunc_append(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	t_path(path, sizeof path, "b");
	int64_t fd = do_open(port, path, CPORT_O_WRONLY | CPORT_O_CREAT | CPORT_O_APPEND, 0600);
	assert_true(fd >= 0);
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, (cport_fd)fd, "12", 2, -1), 0);
	assert_int_equal(t_run(port, &op), 2);
	assert_int_equal(cport_write(port, &op, (cport_fd)fd, "34", 2, -1), 0);
	assert_int_equal(t_run(port, &op), 2);
	t_close((cport_fd)fd);
	fd = do_open(port, path, CPORT_O_RDWR | CPORT_O_TRUNC, 0);
	assert_true(fd >= 0);
	assert_int_equal(t_fsize((cport_fd)fd), 0);
	t_close((cport_fd)fd);
	cport_destroy(port);
}

static void stat_and_fstat(void **state)
{
	(void)state;
	t_os_only("fstat(2) of a file");
	cport *port = t_port();
	cport_fd fd = t_file(12345);
	cport_statbuf sb;
	memset(&sb, 0xa5, sizeof sb);
	cport_op op = {0};
	assert_int_equal(cport_fstat(port, &op, fd, &sb), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(sb.size, 12345);
	assert_true((sb.mode & 0170000) == 0100000); /* S_ISREG */
	assert_int_equal(sb.nlink, 1);
#ifdef _WIN32
	assert_true(sb.mtime_ns > 0 && sb.btime_ns > 0);
#else
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(sb.ino, (uint64_t)st.st_ino);
	assert_int_equal(sb.uid, st.st_uid);
	assert_int_equal(sb.mtime_ns, (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
#endif
	char path[300];
	t_path(path, sizeof path, "");
	cport_statbuf db;
	assert_int_equal(cport_stat(port, &op, path, &db), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_true((db.mode & 0170000) == 0040000); /* S_ISDIR */
	t_path(path, sizeof path, "nope");
	assert_int_equal(cport_stat(port, &op, path, &db), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	t_close(fd);
	cport_destroy(port);
}

/* Growing allocation and truncation; CPORT_FALLOC_KEEP_SIZE has its own file
 * (fallocate-keep-size.c) because Wine lacks it. */
static void allocate_and_truncate(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(100);
	cport_op op = {0};
	assert_int_equal(cport_fallocate(port, &op, fd, 0, 0, 1 << 20), 0);
	int64_t r = t_run(port, &op);
	if (r == CPORT_ENOTSUP)
		t_skip("this file system does not support fallocate");
	assert_int_equal(r, 0);
	assert_int_equal(t_fsize(fd), 1 << 20);
	assert_int_equal(cport_ftruncate(port, &op, fd, 777), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(t_fsize(fd), 777);
	assert_int_equal(cport_ftruncate(port, &op, fd, 0), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(t_fsize(fd), 0);
	t_close(fd);
	cport_destroy(port);
}

static void rename_unlink_mkdir(void **state)
{
	(void)state;
	cport *port = t_port();
	char a[300], b[300], d[300], f[300];
	t_path(a, sizeof a, "ren-a");
	t_path(b, sizeof b, "ren-b");
	t_path(d, sizeof d, "dir");
	t_path(f, sizeof f, "dir/f");
	cport_op op = {0};
	int64_t fd = do_open(port, a, CPORT_O_WRONLY | CPORT_O_CREAT, 0600);
	assert_true(fd >= 0);
	t_close((cport_fd)fd);
	assert_int_equal(cport_rename(port, &op, a, b), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_false(t_exists(a));
	assert_true(t_exists(b));
	assert_int_equal(cport_rename(port, &op, a, b), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	assert_int_equal(cport_mkdir(port, &op, d, 0755), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_mkdir(port, &op, d, 0755), 0);
	assert_int_equal(t_run(port, &op), CPORT_EEXIST);
	assert_int_equal(cport_rename(port, &op, b, f), 0);
	assert_int_equal(t_run(port, &op), 0);
	/* A non-empty directory cannot be removed; then empty it and remove it. */
	assert_int_equal(cport_unlink(port, &op, d, CPORT_UNLINK_DIR), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOTEMPTY);
	assert_int_equal(cport_unlink(port, &op, f, 0), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_unlink(port, &op, f, 0), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	assert_int_equal(cport_unlink(port, &op, d, CPORT_UNLINK_DIR), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_false(t_exists(d));
	cport_destroy(port);
}

static void close_bad_fd(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	/* Refused at submit where the port can tell, else completed with the error. */
	int r = cport_close(port, &op, 987654);
	assert_int_equal(r == 0 ? t_run(port, &op) : r, CPORT_EBADF);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_write_sync_close), cmocka_unit_test(open_trunc_append),
		cmocka_unit_test(stat_and_fstat),        cmocka_unit_test(allocate_and_truncate),
		cmocka_unit_test(rename_unlink_mkdir),   cmocka_unit_test(close_bad_fd),
	};
	return T_MAIN("file-meta", tests);
}
