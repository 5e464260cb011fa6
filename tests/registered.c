/* SPDX-License-Identifier: MIT */
/* Registered buffers and files (cport.h section 4d): the same bytes as plain ops, the checks, CPORT_EBUSY while in use, closes, destroy and fork. */

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif
#ifdef __linux__
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#endif

enum { WAIT_NS = 10 }; /* seconds a read waiting for end of stream may take */

/* Register `n` buffers; a machine where the kernel may not pin even these few pages
 * (RLIMIT_MEMLOCK) cannot run the test. */
static void reg_bufs(cport *port, const cport_iovec *iov, unsigned n)
{
	int r = cport_register_buffers(port, iov, n);
	if (r == CPORT_ENOMEM)
		t_skip("cport_register_buffers: CPORT_ENOMEM (RLIMIT_MEMLOCK too low here)");
	assert_int_equal(r, 0);
}

/* A read through the port (offset -1) that must see end of stream within WAIT_NS:
 * what a descriptor whose other end was really closed gives. */
static void expect_eof(cport *port, cport_fd fd)
{
	char c;
	cport_op op = {0};
	op.timeout_ns = (uint64_t)WAIT_NS * 1000000000u;
	assert_int_equal(cport_read(port, &op, fd, &c, 1, -1), 0);
	int64_t r = t_run(port, &op);
	if (r != 0)
		fail_msg("wanted end of stream, got %lld (%s)", (long long)r, cport_err_name(r));
}

/* ---- Fixed reads and writes ---- */

/* Fixed reads give what plain reads give, at every place in both buffers, short at
 * end of file and empty at a buffer's end; fixed writes write what they are given. */
static void fixed_same_bytes(void **state)
{
	(void)state;
	cport *port = t_port();
	enum { FLEN = 300000, BIG = 1 << 17, SMALL = 4096 };
	cport_fd fd = t_file(FLEN);
	uint8_t *big = malloc(BIG), *plain = malloc(BIG);
	static uint8_t small[SMALL];
	assert_non_null(big);
	assert_non_null(plain);
	cport_iovec iov[2] = {{small, SMALL}, {big, BIG}};
	reg_bufs(port, iov, 2);
	static const struct {
		unsigned idx;
		size_t at, len;
		int64_t off;
	} cases[] = {
		{0, 0, SMALL, 0},          {0, 100, SMALL - 100, 12345}, {1, 0, BIG, 0},
		{1, 7, 5000, 3 * 4096 + 1}, {1, 0, BIG, FLEN - 1000},     {1, BIG, 0, 0},
		{0, SMALL - 1, 1, 77},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint8_t *dst = (cases[i].idx ? big : small) + cases[i].at;
		memset(cases[i].idx ? big : small, 0xee, cases[i].idx ? BIG : SMALL);
		memset(plain, 0xee, BIG);
		cport_op op = {0};
		assert_int_equal(cport_read_fixed(port, &op, fd, dst, cases[i].len, cases[i].off,
						  cases[i].idx),
				 0);
		int64_t got = t_run(port, &op);
		assert_int_equal(cport_read(port, &op, fd, plain, cases[i].len, cases[i].off), 0);
		assert_int_equal(t_run(port, &op), got);
		int64_t want = (int64_t)cases[i].len;
		if (cases[i].off + want > FLEN)
			want = FLEN - cases[i].off;
		assert_int_equal(got, want);
		assert_memory_equal(dst, plain, (size_t)got);
		t_check_pattern(dst, (size_t)got, (uint64_t)cases[i].off);
	}
	/* Writes from inside each buffer, one extending the file. */
	for (size_t i = 0; i < BIG; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	memset(small, 0x42, SMALL);
	cport_op op = {0};
	assert_int_equal(cport_write_fixed(port, &op, fd, big + 10, 70000, 50000, 1), 0);
	assert_int_equal(t_run(port, &op), 70000);
	assert_int_equal(cport_write_fixed(port, &op, fd, small, SMALL, FLEN, 0), 0);
	assert_int_equal(t_run(port, &op), SMALL);
	assert_int_equal(t_pread(fd, plain, 70000, 50000), 70000);
	assert_memory_equal(plain, big + 10, 70000);
	assert_int_equal(t_pread(fd, plain, SMALL, FLEN), SMALL);
	assert_memory_equal(plain, small, SMALL);
	assert_int_equal(t_fsize(fd), FLEN + SMALL);
	assert_int_equal(cport_unregister_buffers(port), 0);
	free(big);
	free(plain);
	t_close(fd);
	cport_destroy(port);
}

/* Fixed reads and writes on a stream (offset -1): the stream rules hold. */
static void fixed_on_pipe(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	static uint8_t buf[8192];
	cport_iovec iov = {buf, sizeof buf};
	reg_bufs(port, &iov, 1);
	/* The read waits in the kernel (or for readiness) until the write comes. */
	cport_op rd = {0}, wr = {0};
	assert_int_equal(cport_read_fixed(port, &rd, p[0], buf, 4096, -1, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	for (int i = 0; i < 3000; i++)
		buf[4096 + i] = t_pattern((uint64_t)i);
	assert_int_equal(cport_write_fixed(port, &wr, p[1], buf + 4096, 3000, -1, 0), 0);
	uint64_t got = 0;
	for (int n = 0; n < 2;) {
		cport_op *op = t_wait1(port);
		n++;
		if (op == &wr) {
			assert_int_equal(wr.result, 3000);
			continue;
		}
		assert_true(rd.result >= 1);
		t_check_pattern(buf + got, (size_t)rd.result, got);
		got += (uint64_t)rd.result;
		if (got < 3000) { /* a stream read may get a part: read on from there */
			assert_int_equal(cport_read_fixed(port, &rd, p[0], buf + got, 3000 - got, -1,
							  0),
					 0);
			n--;
		}
	}
	assert_int_equal(got, 3000);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

/* ---- Checks: a bad call gets CPORT_EINVAL (or its code) and changes nothing ---- */

static void fill(cport_op *op)
{
	memset(op, 0x5a, sizeof *op);
	op->flags = 0;
	op->timeout_ns = 0;
	op->internal[0] = 0; /* not in flight */
}

/* `got` is `want` and the op is byte for byte as fill left it. */
static void rejected(const cport_op *op, int got, int want, const char *what)
{
	cport_op ref;
	fill(&ref);
	if (got != want)
		fail_msg("%s: %s, wanted %s", what, cport_err_name(got), cport_err_name(want));
	if (memcmp(op, &ref, sizeof ref) != 0)
		fail_msg("%s: the rejected op was changed", what);
}

static void fixed_bad_index_and_range(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(8192);
	static uint8_t reg[4096], other[64];
	cport_op op;
	fill(&op);
	/* Nothing registered yet. */
	rejected(&op, cport_read_fixed(port, &op, fd, reg, 10, 0, 0), CPORT_EINVAL, "none");
	rejected(&op, cport_write_fixed(port, &op, fd, reg, 10, 0, 0), CPORT_EINVAL, "none w");
	cport_iovec iov = {reg, sizeof reg};
	reg_bufs(port, &iov, 1);
	static const struct {
		const char *what;
		ptrdiff_t at;
		size_t len;
		unsigned idx;
	} bad[] = {
		{"index 1", 0, 10, 1},
		{"index at the limit", 0, 10, CPORT_MAX_REG_BUFFERS},
		{"index UINT_MAX", 0, 10, ~0u},
		{"one byte before", -1, 10, 0},
		{"one byte past the end", 4000, 97, 0},
		{"starts at the end", 4096, 1, 0},
		{"far past", 1 << 20, 1, 0},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		/* The address is only compared, never used: uintptr_t arithmetic. */
		void *p = (void *)((uintptr_t)reg + (uintptr_t)bad[i].at);
		rejected(&op, cport_read_fixed(port, &op, fd, p, bad[i].len, 0, bad[i].idx),
			 CPORT_EINVAL, bad[i].what);
		rejected(&op, cport_write_fixed(port, &op, fd, p, bad[i].len, 0, bad[i].idx),
			 CPORT_EINVAL, bad[i].what);
	}
	rejected(&op, cport_read_fixed(port, &op, fd, other, 10, 0, 0), CPORT_EINVAL, "other");
	rejected(&op, cport_read_fixed(port, &op, fd, NULL, 0, 0, 0), CPORT_EINVAL, "NULL, 0");
	rejected(&op, cport_read_fixed(port, &op, fd, reg, 10, -2, 0), CPORT_EINVAL, "offset");
	rejected(&op, cport_read_fixed(NULL, &op, fd, reg, 10, 0, 0), CPORT_EINVAL, "NULL port");
	rejected(&op, cport_read_fixed(port, &op, (cport_fd)-1, reg, 10, 0, 0), CPORT_EBADF,
		 "bad fd");
	/* The edges themselves are inside: the whole buffer, and 0 bytes at its end. */
	cport_op ok = {0};
	assert_int_equal(cport_read_fixed(port, &ok, fd, reg + 4096, 0, 0, 0), 0);
	assert_int_equal(t_run(port, &ok), 0);
	assert_int_equal(cport_read_fixed(port, &ok, fd, reg, 4096, 4096, 0), 0);
	assert_int_equal(t_run(port, &ok), 4096);
	t_check_pattern(reg, 4096, 4096);
	/* An op in flight is CPORT_EBUSY, also for a fixed submit. */
	cport_op flight = {0};
	assert_int_equal(cport_read(port, &flight, fd, other, 10, 0), 0);
	assert_int_equal(cport_read_fixed(port, &flight, fd, reg, 10, 0, 0), CPORT_EBUSY);
	assert_int_equal(t_run(port, &flight), 10);
	t_close(fd);
	cport_destroy(port);
}

static void register_bad_input(void **state)
{
	(void)state;
	cport *port = t_port();
	static uint8_t a[4096], b[100];
	cport_iovec good[2] = {{a, sizeof a}, {b, sizeof b}};
	assert_int_equal(cport_unregister_buffers(port), CPORT_ENOENT);
	assert_int_equal(cport_unregister_files(port), CPORT_ENOENT);
	assert_int_equal(cport_unregister_buffers(NULL), CPORT_EINVAL);
	assert_int_equal(cport_unregister_files(NULL), CPORT_EINVAL);
	reg_bufs(port, good, 2);
	/* Each bad call leaves the registration as it was. */
	cport_iovec nullbase[1] = {{NULL, 10}}, empty[1] = {{a, 0}};
	cport_iovec huge[1] = {{a, (size_t)CPORT_MAX_REG_BUFFER_LEN + 1}};
	cport_iovec wrap[1] = {{(void *)(UINTPTR_MAX - 10), 100}};
	assert_int_equal(cport_register_buffers(NULL, good, 2), CPORT_EINVAL);
	assert_int_equal(cport_register_buffers(port, NULL, 2), CPORT_EINVAL);
	assert_int_equal(cport_register_buffers(port, good, 0), CPORT_EINVAL);
	/* The count is checked before the array is read. */
	assert_int_equal(cport_register_buffers(port, good, CPORT_MAX_REG_BUFFERS + 1),
			 CPORT_EINVAL);
	assert_int_equal(cport_register_buffers(port, nullbase, 1), CPORT_EINVAL);
	assert_int_equal(cport_register_buffers(port, empty, 1), CPORT_EINVAL);
	assert_int_equal(cport_register_buffers(port, huge, 1), CPORT_EINVAL);
	assert_int_equal(cport_register_buffers(port, wrap, 1), CPORT_EINVAL);
	cport_fd fd = t_file(8192);
	cport_op op = {0};
	assert_int_equal(cport_read_fixed(port, &op, fd, b, 100, 0, 1), 0);
	assert_int_equal(t_run(port, &op), 100);
	t_check_pattern(b, 100, 0);
	/* Descriptors. */
	cport_fd two[2] = {fd, fd}, neg[1] = {(cport_fd)-1}, gone[1] = {(cport_fd)987654};
	assert_int_equal(cport_register_files(NULL, &fd, 1), CPORT_EINVAL);
	assert_int_equal(cport_register_files(port, NULL, 1), CPORT_EINVAL);
	assert_int_equal(cport_register_files(port, &fd, 0), CPORT_EINVAL);
	assert_int_equal(cport_register_files(port, &fd, CPORT_MAX_REG_FILES + 1), CPORT_EINVAL);
	assert_int_equal(cport_register_files(port, two, 2), CPORT_EINVAL);
	assert_int_equal(cport_register_files(port, neg, 1), CPORT_EBADF);
	assert_int_equal(cport_register_files(port, gone, 1), CPORT_EBADF);
	assert_int_equal(cport_unregister_files(port), CPORT_ENOENT);
	assert_int_equal(cport_register_files(port, &fd, 1), 0);
	assert_int_equal(cport_register_files(port, two, 2), CPORT_EINVAL);
	assert_int_equal(cport_unregister_files(port), 0);
	assert_int_equal(cport_unregister_files(port), CPORT_ENOENT);
	assert_int_equal(cport_unregister_buffers(port), 0);
	assert_int_equal(cport_unregister_buffers(port), CPORT_ENOENT);
	t_close(fd);
	cport_destroy(port);
}

/* ---- Unregister and re-register while ops use them ---- */

static void unregister_busy_buffers(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	static uint8_t buf[256], other[64];
	cport_iovec iov = {buf, sizeof buf}, iov2 = {other, sizeof other};
	reg_bufs(port, &iov, 1);
	/* A fixed read in flight: it waits for data on the pipe. */
	cport_op rd = {0}, wr = {0};
	assert_int_equal(cport_read_fixed(port, &rd, p[0], buf, 128, -1, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_unregister_buffers(port), CPORT_EBUSY);
	assert_int_equal(cport_register_buffers(port, &iov2, 1), CPORT_EBUSY);
	/* Nothing changed: buffer 0 is still `buf`, and a second fixed op is accepted. */
	assert_int_equal(cport_write_fixed(port, &wr, p[1], other, 5, -1, 0), CPORT_EINVAL);
	memcpy(buf + 128, "hello", 5);
	assert_int_equal(cport_write_fixed(port, &wr, p[1], buf + 128, 5, -1, 0), 0);
	cport_op *a = t_wait1(port);
	assert_int_equal(cport_unregister_buffers(port), CPORT_EBUSY); /* one still unreaped */
	cport_op *b = t_wait1(port);
	assert_true((a == &rd && b == &wr) || (a == &wr && b == &rd));
	assert_int_equal(wr.result, 5);
	assert_int_equal(rd.result, 5);
	assert_memory_equal(buf, "hello", 5);
	/* Both reaped: re-registering works, then unregistering. */
	assert_int_equal(cport_register_buffers(port, &iov2, 1), 0);
	assert_int_equal(cport_read_fixed(port, &rd, p[0], buf, 10, -1, 0), CPORT_EINVAL);
	assert_int_equal(cport_unregister_buffers(port), 0);
	assert_int_equal(cport_unregister_buffers(port), CPORT_ENOENT);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

static void unregister_busy_files(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	assert_int_equal(cport_register_files(port, &p[0], 1), 0);
	char c = 0;
	cport_op rd = {0};
	assert_int_equal(cport_read(port, &rd, p[0], &c, 1, -1), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_unregister_files(port), CPORT_EBUSY);
	assert_int_equal(cport_register_files(port, &p[1], 1), CPORT_EBUSY);
	assert_int_equal(t_write(p[1], "z", 1), 1);
	assert_int_equal(t_run(port, &rd), 1);
	assert_int_equal(c, 'z');
	/* Re-register: the other end only, then none. */
	assert_int_equal(cport_register_files(port, &p[1], 1), 0);
	cport_op wr = {0};
	assert_int_equal(cport_write(port, &wr, p[1], "y", 1, -1), 0);
	assert_int_equal(t_run(port, &wr), 1);
	assert_int_equal(t_read(p[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	assert_int_equal(cport_unregister_files(port), 0);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

/* A port with a pipe's read end and a file of `flen` bytes registered, and `buf`
 * (4 KiB) registered as buffer 0. */
struct both {
	cport *port;
	cport_fd p[2], fd;
};

static void both_registered(struct both *b, size_t flen, uint8_t *buf)
{
	b->port = t_port();
	assert_int_equal(t_pipe(b->p), 0);
	b->fd = t_file(flen);
	cport_fd fds[2] = {b->p[0], b->fd};
	assert_int_equal(cport_register_files(b->port, fds, 2), 0);
	cport_iovec iov = {buf, 4096};
	reg_bufs(b->port, &iov, 1);
}

/* A chain on registered buffers and descriptors (section 4b): a fixed read from a
 * pipe, linked to a fixed write of what it read to a registered file. The held write
 * uses the registrations too: unregistering is CPORT_EBUSY until both are reaped. */
static void fixed_in_a_chain(void **state)
{
	(void)state;
	static uint8_t buf[4096];
	struct both b;
	both_registered(&b, 0, buf);
	cport *port = b.port;
	cport_fd *p = b.p, fd = b.fd;
	cport_op rd = {0}, wr = {0};
	rd.flags = CPORT_OP_LINK;
	assert_int_equal(cport_read_fixed(port, &rd, p[0], buf, 100, -1, 0), 0);
	assert_int_equal(cport_write_fixed(port, &wr, fd, buf, 100, 8, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_unregister_buffers(port), CPORT_EBUSY);
	assert_int_equal(cport_unregister_files(port), CPORT_EBUSY);
	uint8_t src[100];
	for (int i = 0; i < 100; i++)
		src[i] = t_pattern((uint64_t)i);
	assert_int_equal(t_write(p[1], src, 100), 100); /* one atomic pipe write */
	assert_true(t_wait1(port) == &rd);
	assert_int_equal(rd.result, 100);
	assert_int_equal(cport_unregister_buffers(port), CPORT_EBUSY); /* the write goes on */
	assert_true(t_wait1(port) == &wr);
	assert_int_equal(wr.result, 100);
	uint8_t back[100];
	assert_int_equal(t_pread(fd, back, 100, 8), 100);
	assert_memory_equal(back, src, 100);
	assert_int_equal(cport_unregister_buffers(port), 0);
	assert_int_equal(cport_unregister_files(port), 0);
	t_close(p[0]);
	t_close(p[1]);
	t_close(fd);
	cport_destroy(port);
}

/* ---- Registered descriptors ---- */

/* Reads, writes, fsync, fstat and fixed reads on registered files; a registered file
 * closed through the port; the number reused afterwards is a new descriptor. */
static void registered_files_io(void **state)
{
	(void)state;
	t_os_only("a file opened with fopen");
	cport *port = t_port();
	cport_fd fd = t_file(100000), w = t_file(0);
	cport_fd fds[2] = {fd, w};
	assert_int_equal(cport_register_files(port, fds, 2), 0);
	static uint8_t buf[8192];
	cport_iovec iov = {buf, sizeof buf};
	reg_bufs(port, &iov, 1);
	cport_op op = {0};
	assert_int_equal(cport_read(port, &op, fd, buf, 4096, 5000), 0);
	assert_int_equal(t_run(port, &op), 4096);
	t_check_pattern(buf, 4096, 5000);
	assert_int_equal(cport_read_fixed(port, &op, fd, buf + 100, 8000, 99000, 0), 0);
	assert_int_equal(t_run(port, &op), 1000);
	t_check_pattern(buf + 100, 1000, 99000);
	cport_iovec v[2] = {{buf, 10}, {buf + 10, 20}};
	assert_int_equal(cport_readv(port, &op, fd, v, 2, 7), 0);
	assert_int_equal(t_run(port, &op), 30);
	t_check_pattern(buf, 30, 7);
	assert_int_equal(cport_write(port, &op, w, "abc", 3, 10), 0);
	assert_int_equal(t_run(port, &op), 3);
	memcpy(buf, "defg", 4);
	assert_int_equal(cport_write_fixed(port, &op, w, buf, 4, 13, 0), 0);
	assert_int_equal(t_run(port, &op), 4);
	assert_int_equal(cport_fsync(port, &op, w, CPORT_FSYNC_DATA), 0);
	assert_int_equal(t_run(port, &op), 0);
	cport_statbuf st;
	assert_int_equal(cport_fstat(port, &op, fd, &st), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(st.size, 100000);
	char back[8] = {0};
	assert_int_equal(t_pread(w, back, 7, 10), 7);
	assert_string_equal(back, "abcdefg");
	/* Close the registered `w` through the port, then open a new file: on Unix it
	 * takes the lowest free number, w's. Ops on it reach the new file. */
	assert_int_equal(cport_close(port, &op, w), 0);
	assert_int_equal(t_run(port, &op), 0);
	char path[300];
	t_path(path, sizeof path, "new");
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite("new file", 1, 8, f), 8);
	fclose(f);
	cport_fd nw = t_open_rdonly(path);
	if (!t_is_windows())
		assert_true(nw == w);
	memset(back, 0, sizeof back);
	assert_int_equal(cport_read(port, &op, nw, back, 3, 4), 0);
	assert_int_equal(t_run(port, &op), 3);
	assert_string_equal(back, "fil");
	/* fd's slot still works; then the set goes (its closed slot with it). */
	assert_int_equal(cport_read(port, &op, fd, buf, 10, 0), 0);
	assert_int_equal(t_run(port, &op), 10);
	t_check_pattern(buf, 10, 0);
	assert_int_equal(cport_unregister_files(port), 0);
	assert_int_equal(cport_close(port, &op, nw), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_close(port, &op, fd), 0);
	assert_int_equal(t_run(port, &op), 0);
	cport_destroy(port);
}

/* A registered directory takes cport_openat (io_uring's openat refuses a fixed
 * descriptor: the plain one goes to the kernel), and a registered file cport_fadvise. */
static void registered_directory(void **state)
{
	(void)state;
	t_os_only("a file opened with fopen");
	cport *port = t_port();
	cport_fd file = t_file(4096);
	char path[300];
	t_path(path, sizeof path, "in-dir");
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite("inside", 1, 6, f), 6);
	fclose(f);
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, t_dir(), CPORT_O_RDONLY | CPORT_O_DIRECTORY, 0), 0);
	int64_t r = t_run(port, &op);
	assert_true(r >= 0);
	cport_fd dir = (cport_fd)r, fds[2] = {dir, file};
	assert_int_equal(cport_register_files(port, fds, 2), 0);
	assert_int_equal(cport_openat(port, &op, dir, "in-dir", CPORT_O_RDONLY, 0), 0);
	r = t_run(port, &op);
	assert_true(r >= 0);
	cport_fd in = (cport_fd)r;
	char back[8] = {0};
	assert_int_equal(t_pread(in, back, 6, 0), 6);
	assert_string_equal(back, "inside");
	assert_int_equal(cport_fadvise(port, &op, file, 0, 4096, CPORT_FADV_WILLNEED), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_unregister_files(port), 0);
	cport_fd all[3] = {in, dir, file};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cport_close(port, &op, all[i]), 0);
		assert_int_equal(t_run(port, &op), 0);
	}
	cport_destroy(port);
}

/* A registered socket: sends, receives (plain and fixed), a receive cancelled by the
 * close, and the peer sees the connection end at the close. */
static void registered_socket(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	assert_int_equal(cport_register_files(port, &s[0], 1), 0);
	static uint8_t buf[4096];
	cport_iovec iov = {buf, sizeof buf};
	reg_bufs(port, &iov, 1);
	cport_op op = {0};
	assert_int_equal(cport_send(port, &op, s[0], "ping", 4, 0), 0);
	assert_int_equal(t_run(port, &op), 4);
	char got[8] = {0};
	t_read_all(s[1], got, 4);
	assert_string_equal(got, "ping");
	t_write_all(s[1], "pong", 4);
	size_t have = 0;
	while (have < 4) {
		assert_int_equal(cport_recv(port, &op, s[0], got + have, 4 - have, 0), 0);
		int64_t r = t_run(port, &op);
		assert_true(r >= 1);
		have += (size_t)r;
	}
	assert_memory_equal(got, "pong", 4);
	memcpy(buf, "fixed!", 6);
	assert_int_equal(cport_write_fixed(port, &op, s[0], buf, 6, -1, 0), 0);
	assert_int_equal(t_run(port, &op), 6);
	t_read_all(s[1], got, 6);
	assert_memory_equal(got, "fixed!", 6);
	t_write_all(s[1], "back", 4);
	have = 0;
	while (have < 4) {
		assert_int_equal(cport_read_fixed(port, &op, s[0], buf + 100 + have, 4 - have, -1, 0),
				 0);
		int64_t r = t_run(port, &op);
		assert_true(r >= 1);
		have += (size_t)r;
	}
	assert_memory_equal(buf + 100, "back", 4);
	/* A receive in flight, then the close: the receive is cancelled, the close
	 * completes after it, and the peer reads end of stream. */
	cport_op rv = {0}, cl = {0};
	assert_int_equal(cport_recv(port, &rv, s[0], got, 1, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_close(port, &cl, s[0]), 0);
	assert_true(t_wait1(port) == &rv);
	assert_int_equal(rv.result, CPORT_ECANCELED);
	assert_true(t_wait1(port) == &cl);
	assert_int_equal(cl.result, 0);
	expect_eof(port, s[1]);
	t_close(s[1]);
	cport_destroy(port);
}

/* A registered socket closed through cport elsewhere (cport_sock_close, not this
 * port): this port's registration is stale. An op on a new descriptor with that
 * number reaches the new descriptor, and the old connection really ends. */
static void registered_closed_elsewhere(void **state)
{
	(void)state;
	t_os_only("a descriptor closed behind the port");
	cport *port = t_port();
	cport_fd a[2], b[2];
	t_tcp_pair(a);
	t_tcp_pair(b);
	assert_int_equal(cport_register_files(port, &a[0], 1), 0);
	cport_fd old = a[0], nb = b[0];
	assert_int_equal(cport_sock_close(a[0]), 0);
#ifndef _WIN32
	/* A dup takes the lowest free number: fill the ones below a[0]'s first. */
	int below[64], n = 0;
	while ((nb = fcntl(b[0], F_DUPFD_CLOEXEC, 0)) != old && n < 64) {
		assert_true(nb >= 0 && nb < old);
		below[n++] = nb;
	}
	assert_int_equal(nb, old);
	while (n > 0)
		close(below[--n]);
#endif
	cport_op op = {0};
	assert_int_equal(cport_send(port, &op, nb, "x", 1, 0), 0);
	assert_int_equal(t_run(port, &op), 1);
	/* Bounded: sent through the stale slot, the byte would reach a[1] instead. */
	char c = 0;
	op.timeout_ns = (uint64_t)WAIT_NS * 1000000000u;
	assert_int_equal(cport_recv(port, &op, b[1], &c, 1, 0), 0);
	assert_int_equal(t_run(port, &op), 1);
	assert_int_equal(c, 'x');
	op.timeout_ns = 0;
	if (nb != old) /* the number was not reused: the slot goes with the set */
		assert_int_equal(cport_unregister_files(port), 0);
	expect_eof(port, a[1]);
	if (nb != b[0])
		t_close(nb);
	t_close(a[1]);
	t_close(b[0]);
	t_close(b[1]);
	cport_destroy(port);
}

/* ---- Destroy and fork ---- */

/* Destroy with both kinds registered and ops using them in flight: the caller's
 * descriptors stay open and work. */
static void destroy_with_registrations(void **state)
{
	(void)state;
	static uint8_t buf[4096];
	struct both b;
	both_registered(&b, 4096, buf);
	cport *port = b.port;
	cport_fd *p = b.p, fd = b.fd;
	cport_op rd = {0}, fr = {0};
	assert_int_equal(cport_read_fixed(port, &rd, p[0], buf, 100, -1, 0), 0);
	assert_int_equal(cport_read(port, &fr, fd, buf + 200, 100, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	cport_destroy(port);
	assert_true(t_fd_valid(p[0]));
	assert_true(t_fd_valid(fd));
	assert_int_equal(t_write(p[1], "q", 1), 1);
	char c = 0;
	assert_int_equal(t_read(p[0], &c, 1), 1);
	assert_int_equal(c, 'q');
	t_close(p[0]);
	t_close(p[1]);
	t_close(fd);
}

#ifndef _WIN32
/* Run `fn` in a forked child; its exit status (-1: stuck for 10 s, killed). */
static int in_child(int (*fn)(void *), void *arg)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	int status = 0;
	for (uint64_t end = t_now_ms() + 10000;; t_sleep_us(5000)) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (t_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
	}
}

static int child_destroy(void *port)
{
	cport_destroy(port);
	return 0;
}

/* A forked child's destroy leaves the parent's registrations in place. */
static void fork_child_destroy(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(8192);
	assert_int_equal(cport_register_files(port, &fd, 1), 0);
	static uint8_t buf[4096];
	cport_iovec iov = {buf, sizeof buf};
	reg_bufs(port, &iov, 1);
	assert_int_equal(in_child(child_destroy, port), 0);
	cport_op op = {0};
	assert_int_equal(cport_read_fixed(port, &op, fd, buf, 4096, 4096, 0), 0);
	assert_int_equal(t_run(port, &op), 4096);
	t_check_pattern(buf, 4096, 4096);
	assert_int_equal(cport_unregister_files(port), 0);
	assert_int_equal(cport_unregister_buffers(port), 0);
	t_close(fd);
	cport_destroy(port);
}
#endif

#ifdef __linux__
/* In a child without CAP_IPC_LOCK and with 64 KiB of RLIMIT_MEMLOCK: io_uring refuses
 * to pin 1 MiB (CPORT_ENOMEM) and keeps the small set registered before; with
 * RLIMIT_NOFILE below the count, it refuses the descriptors (CPORT_EMFILE) and the
 * limit stays as set. The other backends pin nothing: both succeed. Exit codes say
 * which step failed. */
static int child_limits(void *arg)
{
	(void)arg;
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		return 10;
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	struct rlimit lim = {64 << 10, 64 << 10};
	if (syscall(SYS_capset, &h, d) != 0 || setrlimit(RLIMIT_MEMLOCK, &lim) != 0)
		return 11;
	cport *port = NULL;
	if (cport_create(&port, NULL) != 0)
		return 12;
	bool uring = strcmp(cport_backend_name(port), "io_uring") == 0;
	static uint8_t small[4096] __attribute__((aligned(4096)));
	uint8_t *big = malloc(1 << 20);
	cport_iovec s = {small, sizeof small}, b = {big, 1 << 20};
	if (cport_register_buffers(port, &s, 1) != 0)
		return 13;
	int r = cport_register_buffers(port, &b, 1);
	if (r != (uring ? CPORT_ENOMEM : 0))
		return 14;
	cport_fd fd = t_file(8192);
	cport_op op = {0};
	if (uring && (cport_read_fixed(port, &op, fd, small, 100, 0, 0) != 0 ||
		      t_run(port, &op) != 100 || small[99] != t_pattern(99)))
		return 15; /* the small set is still registered */
	cport_fd three[3] = {fd, t_file(0), t_file(0)};
	struct rlimit nofile = {2, 2};
	if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
		return 16;
	if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) {
		/* valgrind keeps descriptors of its own and refuses the limit (it runs the
		 * readiness backends only, which register no descriptor with a kernel). */
		cport_destroy(port);
		free(big);
		return uring ? 19 : 0;
	}
	r = cport_register_files(port, three, 3);
	if (r != (uring ? CPORT_EMFILE : 0))
		return 17;
	if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur != 2)
		return 18;
	cport_destroy(port);
	free(big);
	return 0;
}

static void kernel_limits(void **state)
{
	(void)state;
	t_os_only("descriptors");
	cport_destroy(t_port()); /* skips where the backend cannot start */
	int r = in_child(child_limits, NULL);
	if (r == 11)
		t_skip("cannot drop CAP_IPC_LOCK or set RLIMIT_MEMLOCK here");
	if (r == 19)
		fail_msg("RLIMIT_NOFILE could not be lowered to 2 in the child");
	if (r != 0)
		fail_msg("the child failed at step %d (see child_limits)", r);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixed_same_bytes),
		cmocka_unit_test(fixed_on_pipe),
		cmocka_unit_test(fixed_bad_index_and_range),
		cmocka_unit_test(register_bad_input),
		cmocka_unit_test(unregister_busy_buffers),
		cmocka_unit_test(unregister_busy_files),
		cmocka_unit_test(fixed_in_a_chain),
		cmocka_unit_test(registered_files_io),
		cmocka_unit_test(registered_socket),
		cmocka_unit_test(registered_directory),
		cmocka_unit_test(registered_closed_elsewhere),
		cmocka_unit_test(destroy_with_registrations),
#ifndef _WIN32
		cmocka_unit_test(fork_child_destroy),
#endif
#ifdef __linux__
		cmocka_unit_test(kernel_limits),
#endif
	};
	return T_MAIN("registered", tests);
}
