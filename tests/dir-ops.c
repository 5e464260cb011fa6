/* SPDX-License-Identifier: MIT */
/* Directory ops: cport_openat relative to a directory descriptor, cport_readdir's records. */

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t run_open(cport *port, const char *path, uint32_t flags)
{
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, path, flags, 0600), 0);
	return t_run(port, &op);
}

/* A fresh directory in the test's temporary directory, and a descriptor of it. */
static cport_fd make_dir(cport *port, const char *name, char *path, size_t n)
{
	cport_op op = {0};
	t_path(path, n, name);
	assert_int_equal(cport_mkdir(port, &op, path, 0755), 0);
	assert_int_equal(t_run(port, &op), 0);
	int64_t d = run_open(port, path, CPORT_O_RDONLY | CPORT_O_DIRECTORY);
	assert_true(d >= 0);
	return (cport_fd)d;
}

static void close_fd(cport *port, cport_fd fd)
{
	cport_op op = {0};
	assert_int_equal(cport_close(port, &op, fd), 0);
	assert_int_equal(t_run(port, &op), 0);
}

static void openat_relative(void **state)
{
	(void)state;
	cport *port = t_port();
	char dir[300], file[400];
	cport_fd d = make_dir(port, "oa", dir, sizeof dir);
	cport_op op = {0};
	assert_int_equal(cport_openat(port, &op, d, "f", CPORT_O_RDWR | CPORT_O_CREAT, 0600), 0);
	int64_t f = t_run(port, &op);
	assert_true(f >= 0);
	assert_int_equal(cport_write(port, &op, (cport_fd)f, "abc", 3, 0), 0);
	assert_int_equal(t_run(port, &op), 3);
	close_fd(port, (cport_fd)f);
	snprintf(file, sizeof file, "%s/f", dir);
	assert_true(t_exists(file)); /* made in the directory, not the current one */
	assert_false(t_exists("f"));
	/* A relative path with a subdirectory and "..", and an absolute path (dir ignored). */
	assert_int_equal(cport_mkdir(port, &op, (snprintf(file, sizeof file, "%s/sub", dir), file),
				     0755),
			 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_openat(port, &op, d, "sub/../f", CPORT_O_RDONLY, 0), 0);
	f = t_run(port, &op);
	assert_true(f >= 0);
	char buf[8] = {0};
	assert_int_equal(t_pread((cport_fd)f, buf, sizeof buf, 0), 3);
	assert_memory_equal(buf, "abc", 3);
	close_fd(port, (cport_fd)f);
	snprintf(file, sizeof file, "%s/f", dir);
	char other_path[300];
	cport_fd other = make_dir(port, "oa-other", other_path, sizeof other_path);
	assert_int_equal(cport_openat(port, &op, other, file, CPORT_O_RDONLY, 0), 0);
	f = t_run(port, &op);
	assert_true(f >= 0);
	close_fd(port, (cport_fd)f);
	/* Missing, exclusive create of an existing file, O_DIRECTORY on a file. */
	assert_int_equal(cport_openat(port, &op, d, "nope", CPORT_O_RDONLY, 0), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	assert_int_equal(cport_openat(port, &op, d, "f", CPORT_O_RDWR | CPORT_O_CREAT | CPORT_O_EXCL,
				      0600),
			 0);
	assert_int_equal(t_run(port, &op), CPORT_EEXIST);
	assert_int_equal(cport_openat(port, &op, d, "f", CPORT_O_DIRECTORY, 0), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOTDIR);
	close_fd(port, other);
	close_fd(port, d);
	cport_destroy(port);
}

/* CPORT_AT_CWD is the current directory: cport_openat is cport_open then. */
static void openat_cwd(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	t_path(path, sizeof path, "cwd-abs");
	cport_op op = {0};
	assert_int_equal(cport_openat(port, &op, CPORT_AT_CWD, path, CPORT_O_WRONLY | CPORT_O_CREAT,
				      0600),
			 0);
	int64_t f = t_run(port, &op);
	assert_true(f >= 0);
	close_fd(port, (cport_fd)f);
	assert_true(t_exists(path));
	/* A relative name resolves in the current directory: a missing one is ENOENT. */
	assert_int_equal(cport_openat(port, &op, CPORT_AT_CWD, "cport-no-such-file-here",
				      CPORT_O_RDONLY, 0),
			 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	cport_destroy(port);
}

/* openat of a relative path on a descriptor that is a file, not a directory. */
static void openat_not_dir(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd file = t_file(10);
	cport_op op = {0};
	int r = cport_openat(port, &op, file, "x", CPORT_O_RDONLY, 0);
	assert_int_equal(r, 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOTDIR);
	t_close(file);
	cport_destroy(port);
}

/* Bad input: refused at submit, the op left as it was, no completion. */
static void openat_bad_input(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd file = t_file(10);
	cport_op op;
	t_dirty_op(&op);
	cport_op copy = op;
	assert_int_equal(cport_openat(port, &op, file, NULL, 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_openat(port, &op, file, "x", 1u << 20, 0), CPORT_EINVAL);
	assert_int_equal(cport_openat(port, &op, file, "x", CPORT_O_WRONLY | CPORT_O_RDWR, 0),
			 CPORT_EINVAL);
	assert_int_equal(cport_openat(port, &op, file, "x", CPORT_O_CREAT, 010000), CPORT_EINVAL);
	assert_int_equal(cport_openat(port, &op, (cport_fd)-1, "x", 0, 0), CPORT_EBADF);
	assert_int_equal(cport_openat(NULL, &op, file, "x", 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_openat(port, NULL, file, "x", 0, 0), CPORT_EINVAL);
	assert_memory_equal(&op, &copy, sizeof op);
	t_no_completion(port);
	t_close(file);
	cport_destroy(port);
}

/* Every entry of a directory, read in small buffers until the end, then again after a
 * rewind: each name once, the right types, well-formed records. */
struct seen {
	unsigned files, dirs, dots, other;
	unsigned char hit[64];
};

static const char *long_name(void)
{
	static char n[201];
	memset(n, 'L', 200);
	n[200] = '\0';
	return n;
}

static void check_records(const uint64_t *buf, int64_t n, struct seen *s)
{
	const char *b = (const char *)buf;
	assert_true(n > 0 && n % 8 == 0);
	for (int64_t at = 0; at < n;) {
		const cport_dirent *d = (const cport_dirent *)(const void *)(b + at);
		const char *name = (const char *)(d + 1);
		assert_true(d->reclen % 8 == 0);
		assert_true(d->reclen >= sizeof *d + d->namelen + 1);
		assert_true(at + d->reclen <= n);
		assert_int_equal(strlen(name), d->namelen);
		assert_true(d->ino != 0 || t_is_windows());
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			s->dots++;
		} else if (strcmp(name, "subdir") == 0) {
			assert_true(d->type == CPORT_DT_DIR || d->type == CPORT_DT_UNKNOWN);
			s->dirs++;
		} else if (strcmp(name, long_name()) == 0) {
			assert_true(d->type == CPORT_DT_REG || d->type == CPORT_DT_UNKNOWN);
			s->other++;
		} else {
			unsigned i;
			assert_int_equal(sscanf(name, "file-%u", &i), 1);
			assert_true(i < 64);
			assert_int_equal(s->hit[i], 0); /* each name once */
			s->hit[i] = 1;
			assert_true(d->type == CPORT_DT_REG || d->type == CPORT_DT_UNKNOWN);
			s->files++;
		}
		at += d->reclen;
	}
}

static void read_all(cport *port, cport_fd d, uint32_t first_flags, struct seen *s)
{
	uint64_t buf[CPORT_READDIR_MIN / 8];
	cport_op op = {0};
	uint32_t flags = first_flags;
	for (int calls = 0;; calls++) {
		assert_true(calls < 1000);
		assert_int_equal(cport_readdir(port, &op, d, buf, sizeof buf, flags), 0);
		int64_t n = t_run(port, &op);
		assert_true(n >= 0);
		if (n == 0)
			break;
		check_records(buf, n, s);
		flags = 0;
	}
}

static void readdir_lists_all(void **state)
{
	(void)state;
	t_sim_skip("cport_readdir is not simulated");
	cport *port = t_port();
	char dir[300], p[600];
	cport_fd d = make_dir(port, "rd", dir, sizeof dir);
	cport_op op = {0};
	for (unsigned i = 0; i < 64; i++) {
		assert_int_equal(cport_openat(port, &op, d, (snprintf(p, sizeof p, "file-%u", i), p),
					      CPORT_O_WRONLY | CPORT_O_CREAT, 0600),
				 0);
		int64_t f = t_run(port, &op);
		assert_true(f >= 0);
		close_fd(port, (cport_fd)f);
	}
	assert_int_equal(cport_openat(port, &op, d, long_name(), CPORT_O_WRONLY | CPORT_O_CREAT,
				      0600),
			 0);
	int64_t f = t_run(port, &op);
	assert_true(f >= 0);
	close_fd(port, (cport_fd)f);
	snprintf(p, sizeof p, "%s/subdir", dir);
	assert_int_equal(cport_mkdir(port, &op, p, 0755), 0);
	assert_int_equal(t_run(port, &op), 0);

	struct seen s;
	memset(&s, 0, sizeof s);
	read_all(port, d, 0, &s);
	assert_int_equal(s.files, 64);
	assert_int_equal(s.dirs, 1);
	assert_int_equal(s.other, 1);
	assert_int_equal(s.dots, 2);
	/* At the end it stays at the end; a rewind lists everything again. */
	uint64_t buf[2048 / 8];
	assert_int_equal(cport_readdir(port, &op, d, buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &op), 0);
	memset(&s, 0, sizeof s);
	read_all(port, d, CPORT_READDIR_REWIND, &s);
	assert_int_equal(s.files + s.dirs + s.other + s.dots, 68);
	close_fd(port, d);
	cport_destroy(port);
}

/* An empty directory: "." and ".." at most, then 0. A file: CPORT_ENOTDIR. */
static void readdir_empty_and_file(void **state)
{
	(void)state;
	t_sim_skip("cport_readdir is not simulated");
	cport *port = t_port();
	char dir[300];
	cport_fd d = make_dir(port, "rd-empty", dir, sizeof dir);
	struct seen s;
	memset(&s, 0, sizeof s);
	read_all(port, d, 0, &s);
	assert_int_equal(s.files + s.dirs + s.other, 0);
	assert_true(s.dots <= 2);
	close_fd(port, d);
	cport_fd file = t_file(10);
	uint64_t buf[CPORT_READDIR_MIN / 8];
	cport_op op = {0};
	assert_int_equal(cport_readdir(port, &op, file, buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOTDIR);
	t_close(file);
	cport_destroy(port);
}

static void readdir_bad_input(void **state)
{
	(void)state;
	t_sim_skip("cport_readdir is not simulated");
	cport *port = t_port();
	char dir[300];
	cport_fd d = make_dir(port, "rd-bad", dir, sizeof dir);
	uint64_t buf[CPORT_READDIR_MIN / 8 + 1];
	cport_op op;
	t_dirty_op(&op);
	cport_op copy = op;
	assert_int_equal(cport_readdir(port, &op, d, NULL, CPORT_READDIR_MIN, 0), CPORT_EINVAL);
	assert_int_equal(cport_readdir(port, &op, d, buf, CPORT_READDIR_MIN - 1, 0), CPORT_EINVAL);
	assert_int_equal(cport_readdir(port, &op, d, (char *)buf + 4, CPORT_READDIR_MIN, 0),
			 CPORT_EINVAL); /* not 8-byte aligned */
	assert_int_equal(cport_readdir(port, &op, d, buf, CPORT_READDIR_MIN, 0x10), CPORT_EINVAL);
	assert_int_equal(cport_readdir(port, &op, (cport_fd)-1, buf, CPORT_READDIR_MIN, 0),
			 CPORT_EBADF);
	assert_memory_equal(&op, &copy, sizeof op);
	t_no_completion(port);
	close_fd(port, d);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(openat_relative),      cmocka_unit_test(openat_cwd),
		cmocka_unit_test(openat_not_dir),       cmocka_unit_test(openat_bad_input),
		cmocka_unit_test(readdir_lists_all),    cmocka_unit_test(readdir_empty_and_file),
		cmocka_unit_test(readdir_bad_input),
	};
	return T_MAIN("dir-ops", tests);
}
