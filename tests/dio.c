/* SPDX-License-Identifier: MIT */
/* Direct I/O: cport_dio_query's rules, aligned buffers, and misaligned direct I/O answered with CPORT_EINVAL. */

/*
 * The misaligned cases run on a file on the real disk (tmpfs takes O_DIRECT without
 * any alignment, or refuses it): /var/tmp, or $CPORT_TEST_DIO_DIR; on Windows the
 * test directory. Each case is first asked of the OS itself with a plain call on the
 * same descriptor, and cport must give the same answer: CPORT_EINVAL where the kernel
 * refuses (ext4, XFS: every case), the same byte count where the file system accepts
 * any alignment (Wine does not check FILE_FLAG_NO_BUFFERING's rules). Never a success
 * where the kernel said no: that would be a bounce buffer.
 */

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#endif

static bool pow2(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static void check_sane(const cport_dio_info *d)
{
	if (d->mem_align == 0 || d->offset_align == 0) {
		assert_int_equal(d->mem_align, 0);
		assert_int_equal(d->offset_align, 0);
		assert_int_equal(d->read_offset_align, 0);
	} else {
		assert_true(pow2(d->mem_align));
		assert_true(pow2(d->offset_align));
		assert_true(pow2(d->read_offset_align));
		assert_true(d->read_offset_align <= d->offset_align);
	}
	assert_true(d->atomic_write_min <= d->atomic_write_max);
	for (size_t i = 0; i < sizeof d->reserved_ / sizeof d->reserved_[0]; i++)
		assert_int_equal(d->reserved_[i], 0);
}

static void query_bad_input(void **state)
{
	(void)state;
	cport_dio_info d;
	memset(&d, 0, sizeof d);
	assert_int_equal(cport_dio_query((cport_fd)-1, NULL), CPORT_EINVAL);
	cport_fd fd = t_file(10);
	assert_int_equal(cport_dio_query(fd, &d), CPORT_EINVAL); /* size 0 */
	d.size = 31;
	assert_int_equal(cport_dio_query(fd, &d), CPORT_EINVAL);
	assert_int_equal(d.size, 31); /* untouched */
	d.size = sizeof d;
	assert_int_equal(cport_dio_query((cport_fd)-1, &d), CPORT_EBADF);
	t_close(fd);
#ifndef _WIN32 /* Windows may hand the value to another handle at once */
	assert_int_equal(cport_dio_query(fd, &d), CPORT_EBADF); /* closed */
#endif
}

/* A caller built with the first, 32-byte version of the struct gets 32 bytes. */
static void query_older_size(void **state)
{
	(void)state;
	unsigned char mem[sizeof(cport_dio_info) + 16];
	memset(mem, 0xa5, sizeof mem);
	cport_dio_info *d = (cport_dio_info *)(void *)mem;
	d->size = 32;
	cport_fd fd = t_file(4096);
	assert_int_equal(cport_dio_query(fd, d), 0);
	assert_int_equal(d->size, 32);
	for (size_t i = 32; i < sizeof mem; i++)
		assert_int_equal(mem[i], 0xa5);
	t_close(fd);
}

/* A regular file opened without direct I/O: the rules a direct open would need. */
static void query_file_pipe_dir(void **state)
{
	(void)state;
	cport_dio_info d = {.size = sizeof d};
	cport_fd fd = t_file(4096);
	assert_int_equal(cport_dio_query(fd, &d), 0);
	assert_int_equal(d.size, sizeof d);
	check_sane(&d);
	assert_false(d.flags & CPORT_DIO_DIRECT);
	t_close(fd);

	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	memset(&d, 0xff, sizeof d);
	d.size = sizeof d;
	assert_int_equal(cport_dio_query(p[0], &d), 0);
	assert_int_equal(d.mem_align, 0); /* no direct I/O on a pipe */
	check_sane(&d);
	t_close(p[0]);
	t_close(p[1]);

	cport *port = t_port();
	char dir[300];
	t_path(dir, sizeof dir, "");
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, dir, CPORT_O_DIRECTORY, 0), 0);
	int64_t dfd = t_run(port, &op);
	assert_true(dfd >= 0);
	assert_int_equal(cport_dio_query((cport_fd)dfd, &d), 0);
	assert_int_equal(d.mem_align, 0); /* nor on a directory */
	check_sane(&d);
	assert_int_equal(cport_close(port, &op, (cport_fd)dfd), 0);
	assert_int_equal(t_run(port, &op), 0);
	cport_destroy(port);
}

static void aligned_buffers(void **state)
{
	(void)state;
	for (size_t align = 1; align <= ((size_t)1 << 21); align <<= 1) {
		void *p = NULL;
		assert_int_equal(cport_alloc_aligned(&p, 3 * align + 1, align), 0);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % align, 0);
		memset(p, 0x5a, 3 * align + 1); /* all of it is ours */
		cport_free_aligned(p);
	}
	void *keep = &keep, *p = keep;
	assert_int_equal(cport_alloc_aligned(NULL, 10, 16), CPORT_EINVAL);
	assert_int_equal(cport_alloc_aligned(&p, 0, 16), CPORT_EINVAL);
	assert_int_equal(cport_alloc_aligned(&p, 10, 0), CPORT_EINVAL);
	assert_int_equal(cport_alloc_aligned(&p, 10, 24), CPORT_EINVAL);
	assert_int_equal(cport_alloc_aligned(&p, 10, (size_t)1 << 31), CPORT_EINVAL);
	assert_ptr_equal(p, keep); /* untouched on failure */
	cport_free_aligned(NULL);
}

/* ---- Misaligned direct I/O ------------------------------------------------------------ */

static char dio_dir[300];

/* A path for a new file on the real disk. */
static void dio_path(char *buf, size_t n)
{
#ifdef _WIN32
	snprintf(dio_dir, sizeof dio_dir, "%s", t_dir());
	t_path(buf, n, "direct");
#else
	const char *d = getenv("CPORT_TEST_DIO_DIR");
	snprintf(dio_dir, sizeof dio_dir, "%s", d && d[0] ? d : "/var/tmp");
	snprintf(buf, n, "%s/cport-dio-%ld", dio_dir, (long)getpid());
#endif
}

/* The OS's own answer to the same transfer on the same descriptor: bytes, or the
 * error (Windows: any refusal stands for ERROR_INVALID_PARAMETER, CPORT_EINVAL). */
static int64_t os_answer(cport_fd fd, bool wr, void *buf, size_t len, int64_t off)
{
#ifdef _WIN32
	int64_t n = wr ? t_pwrite(fd, buf, len, off) : t_pread(fd, buf, len, off);
	return n < 0 ? CPORT_EINVAL : n;
#else
	ssize_t n = wr ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);
	return n < 0 ? -errno : n;
#endif
}

static int64_t cport_answer(cport *port, cport_fd fd, bool wr, void *buf, size_t len,
			    int64_t off)
{
	cport_op op = {0};
	int r = wr ? cport_write(port, &op, fd, buf, len, off) : cport_read(port, &op, fd, buf, len, off);
	assert_int_equal(r, 0);
	return t_run(port, &op);
}

/* Open a new file on the real disk for direct I/O, or skip saying why not. */
static cport_fd dio_open(cport *port, cport_dio_info *d)
{
	char path[400];
	dio_path(path, sizeof path);
	cport_op op = {0};
	uint32_t fl = CPORT_O_RDWR | CPORT_O_CREAT | CPORT_O_EXCL | CPORT_O_DIRECT;
	assert_int_equal(cport_open(port, &op, path, fl, 0600), 0);
	int64_t r = t_run(port, &op);
	if (r == CPORT_EINVAL)
		t_skip("the file system of %s refuses direct I/O at open (EINVAL)", dio_dir);
	if (r < 0)
		fail_msg("open %s: %s", path, cport_strerror(r));
#ifndef _WIN32
	unlink(path); /* gone with its last descriptor, whatever happens below */
#endif
	cport_fd fd = (cport_fd)r;
	assert_int_equal(cport_dio_query(fd, d), 0);
	check_sane(d);
#ifndef __APPLE__
	assert_true(d->flags & CPORT_DIO_DIRECT);
#endif
	if (d->mem_align == 0)
		t_skip("the file system of %s reports no direct I/O for its files", dio_dir);
	return fd;
}

struct dio_case {
	const char *what;
	size_t buf_skew; /* bytes past an aligned address */
	int64_t off;
	size_t len;
};

static void misaligned_direct_io(void **state)
{
	(void)state;
	t_os_only("a file");
	cport *port = t_port();
	cport_dio_info d = {.size = sizeof d};
	cport_fd fd = dio_open(port, &d);
	size_t blk = d.mem_align > d.offset_align ? d.mem_align : d.offset_align;
	uint8_t *buf = NULL, *back = NULL;
	assert_int_equal(cport_alloc_aligned((void **)&buf, 3 * blk, d.mem_align), 0);
	assert_int_equal(cport_alloc_aligned((void **)&back, 3 * blk, d.mem_align), 0);
	for (size_t i = 0; i < 3 * blk; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	/* Aligned: works, and reads back. */
	assert_int_equal(cport_answer(port, fd, true, buf, 2 * blk, 0), (int64_t)(2 * blk));
	assert_int_equal(cport_answer(port, fd, false, back, 2 * blk, 0), (int64_t)(2 * blk));
	assert_memory_equal(back, buf, 2 * blk);

	const struct dio_case cases[] = {
		{"buffer address", d.mem_align / 2, 0, blk},
		{"file offset", 0, (int64_t)(d.offset_align / 2), blk},
		{"length", 0, 0, blk + d.offset_align / 2},
	};
	unsigned refused = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct dio_case *c = &cases[i];
		if (c->buf_skew == 0 && c->off == 0 && c->len == blk)
			continue; /* an alignment of 1 cannot be broken */
		for (int wr = 1; wr >= 0; wr--) {
			uint8_t *p = (wr ? buf : back) + c->buf_skew;
			int64_t want = os_answer(fd, wr, p, c->len, c->off);
			int64_t got = cport_answer(port, fd, wr, p, c->len, c->off);
			if (want < 0 && want != CPORT_EINVAL)
				fail_msg("%s %s: the OS itself says %s", wr ? "write" : "read",
					 c->what, cport_err_name(want));
			if (got != want)
				fail_msg("misaligned %s, %s: cport says %lld (%s), the OS %lld",
					 c->what, wr ? "write" : "read", (long long)got,
					 cport_err_name(got), (long long)want);
			refused += want == CPORT_EINVAL;
		}
	}
	if (refused == 0)
		print_message("note: the file system of %s accepts misaligned direct I/O; "
			      "cport passed its answers through unchanged\n", dio_dir);
	cport_free_aligned(buf);
	cport_free_aligned(back);
	cport_op op = {0};
	assert_int_equal(cport_close(port, &op, fd), 0);
	assert_int_equal(t_run(port, &op), 0);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(query_bad_input),
		cmocka_unit_test(query_older_size),
		cmocka_unit_test(query_file_pipe_dir),
		cmocka_unit_test(aligned_buffers),
		cmocka_unit_test(misaligned_direct_io),
	};
	return T_MAIN("dio", tests);
}
