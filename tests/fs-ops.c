/* SPDX-License-Identifier: MIT */
/* File-system ops: statfs, fadvise, link, rename2's flags, access; bad input refused. */

#include "helpers.h"

#include <stdio.h>
#include <string.h>
#ifndef _WIN32
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#endif

static int64_t run_open(cport *port, const char *path, uint32_t flags)
{
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, path, flags, 0600), 0);
	return t_run(port, &op);
}

/* A file at `name` in the test directory holding `text`. */
static void make_file(cport *port, char *path, size_t n, const char *name, const char *text)
{
	t_path(path, n, name);
	int64_t fd = run_open(port, path, CPORT_O_WRONLY | CPORT_O_CREAT | CPORT_O_TRUNC);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(t_pwrite((cport_fd)fd, text, len, 0), (int64_t)len);
	t_close((cport_fd)fd);
}

/* The first bytes of the file at `path`, NUL-terminated. */
static void file_text(cport *port, const char *path, char *buf, size_t n)
{
	int64_t fd = run_open(port, path, CPORT_O_RDONLY);
	assert_true(fd >= 0);
	int64_t got = t_pread((cport_fd)fd, buf, n - 1, 0);
	assert_true(got >= 0);
	buf[got] = '\0';
	t_close((cport_fd)fd);
}

static void statfs_numbers(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_statfsbuf st;
	memset(&st, 0xa5, sizeof st);
	cport_op op = {0};
	assert_int_equal(cport_statfs(port, &op, t_dir(), &st), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_true(st.bsize > 0 && st.bsize % 512 == 0);
	assert_true(st.total > 0 && st.total % st.bsize == 0);
	assert_true(st.free <= st.total);
	assert_true(st.avail <= st.total);
	assert_true(st.namemax >= 255);
	assert_int_equal(st.reserved_[0] | st.reserved_[1] | st.reserved_[2], 0);
#ifndef _WIN32
	if (t_sim()) { /* its numbers are its own: no file system of the OS to compare */
		cport_destroy(port);
		return;
	}
	struct statvfs v;
	assert_int_equal(statvfs(t_dir(), &v), 0);
	assert_int_equal(st.bsize, (uint64_t)v.f_frsize);
	assert_int_equal(st.total, (uint64_t)v.f_blocks * v.f_frsize);
	assert_int_equal(st.files, (uint64_t)v.f_files);
#endif
	/* A file works too (its file system's numbers); a missing path does not. */
	char path[300];
	make_file(port, path, sizeof path, "statfs-file", "x");
	cport_statfsbuf sf;
	assert_int_equal(cport_statfs(port, &op, path, &sf), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(sf.total, st.total);
	t_path(path, sizeof path, "statfs-missing/x");
	memset(&sf, 0x33, sizeof sf);
	assert_int_equal(cport_statfs(port, &op, path, &sf), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	cport_destroy(port);
}

static void fadvise_each(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(1 << 16);
	cport_op op = {0};
	for (uint32_t adv = CPORT_FADV_NORMAL; adv <= CPORT_FADV_NOREUSE; adv++) {
		assert_int_equal(cport_fadvise(port, &op, fd, 0, 0, adv), 0);
		assert_int_equal(t_run(port, &op), 0);
		assert_int_equal(cport_fadvise(port, &op, fd, 4096, 8192, adv), 0);
		assert_int_equal(t_run(port, &op), 0);
	}
	/* A length past 32 bits (io_uring's opcode cannot take it: the pool does). */
	assert_int_equal(cport_fadvise(port, &op, fd, 0, 1ll << 40, CPORT_FADV_DONTNEED), 0);
	assert_int_equal(t_run(port, &op), 0);
	/* The data is untouched. */
	uint8_t b[16];
	assert_int_equal(t_pread(fd, b, sizeof b, 1000), (int64_t)sizeof b);
	for (unsigned i = 0; i < sizeof b; i++)
		assert_int_equal(b[i], t_pattern(1000 + i));
	/* A pipe: Linux says ESPIPE; Windows drops the advice (cport.h). */
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	assert_int_equal(cport_fadvise(port, &op, p[0], 0, 0, CPORT_FADV_WILLNEED), 0);
	assert_int_equal(t_run(port, &op), t_is_windows() && !t_sim() ? 0 : CPORT_ESPIPE);
	t_close(p[0]);
	t_close(p[1]);
	t_close(fd);
	cport_destroy(port);
}

static void link_hard(void **state)
{
	(void)state;
	t_sim_skip("hard links are not simulated");
	cport *port = t_port();
	char a[300], b[300], got[16];
	make_file(port, a, sizeof a, "link-a", "one");
	t_path(b, sizeof b, "link-b");
	cport_op op = {0};
	assert_int_equal(cport_link(port, &op, a, b), 0);
	assert_int_equal(t_run(port, &op), 0);
	file_text(port, b, got, sizeof got);
	assert_string_equal(got, "one");
	cport_statbuf st;
	assert_int_equal(cport_stat(port, &op, b, &st), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(st.nlink, 2);
	/* One file: a write through one name shows through the other. */
	int64_t fd = run_open(port, a, CPORT_O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(t_pwrite((cport_fd)fd, "two", 3, 0), 3);
	t_close((cport_fd)fd);
	file_text(port, b, got, sizeof got);
	assert_string_equal(got, "two");
	assert_int_equal(cport_link(port, &op, a, b), 0);
	assert_int_equal(t_run(port, &op), CPORT_EEXIST);
	t_path(a, sizeof a, "link-missing");
	t_path(b, sizeof b, "link-c");
	assert_int_equal(cport_link(port, &op, a, b), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	assert_false(t_exists(b));
	cport_destroy(port);
}

static void rename_noreplace(void **state)
{
	(void)state;
	cport *port = t_port();
	char a[300], b[300], c[300], got[16];
	make_file(port, a, sizeof a, "nr-a", "aaa");
	make_file(port, b, sizeof b, "nr-b", "bbb");
	cport_op op = {0};
	assert_int_equal(cport_rename2(port, &op, a, b, CPORT_RENAME_NOREPLACE), 0);
	assert_int_equal(t_run(port, &op), CPORT_EEXIST);
	file_text(port, a, got, sizeof got);
	assert_string_equal(got, "aaa");
	file_text(port, b, got, sizeof got);
	assert_string_equal(got, "bbb");
	t_path(c, sizeof c, "nr-c");
	assert_int_equal(cport_rename2(port, &op, a, c, CPORT_RENAME_NOREPLACE), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_false(t_exists(a));
	file_text(port, c, got, sizeof got);
	assert_string_equal(got, "aaa");
	/* Flags 0 is cport_rename: it replaces. */
	assert_int_equal(cport_rename2(port, &op, c, b, 0), 0);
	assert_int_equal(t_run(port, &op), 0);
	file_text(port, b, got, sizeof got);
	assert_string_equal(got, "aaa");
	cport_destroy(port);
}

static void rename_exchange(void **state)
{
	(void)state;
	cport *port = t_port();
	char a[300], b[300], got[16];
	make_file(port, a, sizeof a, "ex-a", "aaa");
	make_file(port, b, sizeof b, "ex-b", "bbb");
	cport_op op = {0};
	assert_int_equal(cport_rename2(port, &op, a, b, CPORT_RENAME_EXCHANGE), 0);
	int64_t r = t_run(port, &op);
	if (t_is_windows() && !t_sim()) {
		assert_int_equal(r, CPORT_ENOTSUP); /* documented: Windows has no exchange */
		cport_destroy(port);
		return;
	}
	assert_int_equal(r, 0);
	file_text(port, a, got, sizeof got);
	assert_string_equal(got, "bbb");
	file_text(port, b, got, sizeof got);
	assert_string_equal(got, "aaa");
	/* Both must exist. */
	char c[300];
	t_path(c, sizeof c, "ex-missing");
	assert_int_equal(cport_rename2(port, &op, a, c, CPORT_RENAME_EXCHANGE), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	assert_true(t_exists(a));
	cport_destroy(port);
}

static void access_modes(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	make_file(port, path, sizeof path, "acc", "x");
	cport_op op = {0};
	assert_int_equal(cport_access(port, &op, path, CPORT_F_OK), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_access(port, &op, path, CPORT_R_OK | CPORT_W_OK), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_access(port, &op, t_dir(), CPORT_R_OK | CPORT_W_OK | CPORT_X_OK), 0);
	assert_int_equal(t_run(port, &op), 0);
#ifndef _WIN32
	/* No execute bit at all: refused even to root. */
	assert_int_equal(cport_access(port, &op, path, CPORT_X_OK), 0);
	assert_int_equal(t_run(port, &op), CPORT_EACCES);
	if (t_sim()) { /* no chmod on the simulation */
		cport_destroy(port);
		return;
	}
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(cport_access(port, &op, path, CPORT_W_OK), 0);
	/* Root may write anything (access(2) says so). */
	assert_int_equal(t_run(port, &op), getuid() == 0 ? 0 : CPORT_EACCES);
#else
	/* No execute bit on Windows: any file that exists passes (cport.h). The
	 * simulation's files are 0644 there too, and it has no read-only files. */
	assert_int_equal(cport_access(port, &op, path, CPORT_X_OK), 0);
	assert_int_equal(t_run(port, &op), t_sim() ? CPORT_EACCES : 0);
	if (t_sim()) {
		cport_destroy(port);
		return;
	}
	/* Made read-only by cport_open without the owner's write bit. */
	char ro[300];
	t_path(ro, sizeof ro, "acc-ro");
	cport_op o2 = {0};
	assert_int_equal(cport_open(port, &o2, ro, CPORT_O_WRONLY | CPORT_O_CREAT, 0400), 0);
	int64_t fd = t_run(port, &o2);
	assert_true(fd >= 0);
	t_close((cport_fd)fd);
	assert_int_equal(cport_access(port, &op, ro, CPORT_W_OK), 0);
	assert_int_equal(t_run(port, &op), CPORT_EACCES);
	assert_int_equal(cport_access(port, &op, ro, CPORT_R_OK), 0);
	assert_int_equal(t_run(port, &op), 0);
#endif
	t_path(path, sizeof path, "acc-missing");
	assert_int_equal(cport_access(port, &op, path, CPORT_F_OK), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	cport_destroy(port);
}

/* Every refused call returns its code and leaves every byte of the op as it was. */
static void bad_input(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(10);
	cport_statfsbuf sf;
	char buf[64];
	cport_op op, copy;
	t_dirty_op(&op);
	copy = op;
	assert_int_equal(cport_statfs(port, &op, NULL, &sf), CPORT_EINVAL);
	assert_int_equal(cport_statfs(port, &op, "x", NULL), CPORT_EINVAL);
	assert_int_equal(cport_fadvise(port, &op, fd, 0, 0, CPORT_FADV_NOREUSE + 1), CPORT_EINVAL);
	assert_int_equal(cport_fadvise(port, &op, fd, -1, 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_fadvise(port, &op, fd, 0, -1, 0), CPORT_EINVAL);
	assert_int_equal(cport_fadvise(port, &op, (cport_fd)-1, 0, 0, 0), CPORT_EBADF);
	assert_int_equal(cport_link(port, &op, NULL, "b"), CPORT_EINVAL);
	assert_int_equal(cport_link(port, &op, "a", NULL), CPORT_EINVAL);
	assert_int_equal(cport_symlink(port, &op, NULL, "b", 0), CPORT_EINVAL);
	assert_int_equal(cport_symlink(port, &op, "a", NULL, 0), CPORT_EINVAL);
	assert_int_equal(cport_symlink(port, &op, "a", "b", 0x10), CPORT_EINVAL);
	assert_int_equal(cport_readlink(port, &op, NULL, buf, sizeof buf), CPORT_EINVAL);
	assert_int_equal(cport_readlink(port, &op, "a", NULL, sizeof buf), CPORT_EINVAL);
	assert_int_equal(cport_readlink(port, &op, "a", buf, 0), CPORT_EINVAL);
	assert_int_equal(cport_rename2(port, &op, "a", "b",
				       CPORT_RENAME_NOREPLACE | CPORT_RENAME_EXCHANGE),
			 CPORT_EINVAL);
	assert_int_equal(cport_rename2(port, &op, "a", "b", 0x4), CPORT_EINVAL);
	assert_int_equal(cport_rename2(port, &op, NULL, "b", 0), CPORT_EINVAL);
	assert_int_equal(cport_rename2(port, &op, "a", NULL, 0), CPORT_EINVAL);
	assert_int_equal(cport_access(port, &op, NULL, 0), CPORT_EINVAL);
	assert_int_equal(cport_access(port, &op, "a", 8), CPORT_EINVAL);
	assert_int_equal(cport_fallocate(port, &op, fd,
					 CPORT_FALLOC_PUNCH_HOLE | CPORT_FALLOC_ZERO_RANGE, 0, 10),
			 CPORT_EINVAL);
	assert_int_equal(cport_fallocate(port, &op, fd, 1u << 3, 0, 10), CPORT_EINVAL);
	assert_memory_equal(&op, &copy, sizeof op);
	/* In flight: CPORT_EBUSY, the op keeps its submit. */
	cport_op busy = {0};
	assert_int_equal(cport_fadvise(port, &busy, fd, 0, 0, 0), 0);
	assert_int_equal(cport_statfs(port, &busy, t_dir(), &sf), CPORT_EBUSY);
	assert_int_equal(t_run(port, &busy), 0);
	t_no_completion(port);
	t_close(fd);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(statfs_numbers),   cmocka_unit_test(fadvise_each),
		cmocka_unit_test(link_hard),        cmocka_unit_test(rename_noreplace),
		cmocka_unit_test(rename_exchange),  cmocka_unit_test(access_modes),
		cmocka_unit_test(bad_input),
	};
	return T_MAIN("fs-ops", tests);
}
