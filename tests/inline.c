/* SPDX-License-Identifier: MIT */
/* CPORT_OP_INLINE: cheap ops run in the submit call and still complete once through the port. */

/*
 * How a test tells that an op ran inside its submit call: between the submit and the
 * wait it changes the file behind the op's back (a plain write); an op that ran inline
 * saw the file as it was before. Where the flag allows an op but the backend or the
 * file system cannot run it inline (IOCP reads and writes; reads on a file system
 * without RWF_NOWAIT), only the results are checked, and the file is left alone.
 */

#include "helpers.h"

#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#endif

static bool on_iocp(cport *port)
{
	return strcmp(cport_backend_name(port), "iocp") == 0;
}

/* Would a read of this (cached) file's first byte run without blocking? Linux, on a
 * file system that takes RWF_NOWAIT (ext4, XFS, btrfs; not tmpfs). */
static bool nowait_reads(cport_fd fd)
{
#if defined(__linux__) && defined(RWF_NOWAIT)
	char b[1];
	struct iovec v = {b, 1};
	return preadv2(fd, &v, 1, 0, RWF_NOWAIT) == 1;
#else
	(void)fd;
	return false;
#endif
}

/* Exactly once: nothing more comes out of the port. */
static void nothing_left(cport *port)
{
	cport_op *out[4];
	assert_int_equal(cport_wait(port, out, 4, 0), 0);
}

/* A file at a known path holding `len` bytes of t_pattern, opened through the port. */
static cport_fd named_file(cport *port, char *path, size_t n, const char *name, size_t len)
{
	t_path(path, n, name);
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, path, CPORT_O_RDWR | CPORT_O_CREAT, 0600), 0);
	int64_t fd = t_run(port, &op);
	assert_true(fd >= 0);
	uint8_t buf[1000];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = t_pattern(i);
	for (size_t off = 0; off < len; off += sizeof buf) {
		size_t k = len - off < sizeof buf ? len - off : sizeof buf;
		assert_int_equal(t_pwrite((cport_fd)fd, buf, k, (int64_t)off), (int64_t)k);
	}
	return (cport_fd)fd;
}

static void stat_inline(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	cport_fd fd = named_file(port, path, sizeof path, "stat", 1000);
	cport_statbuf in, out;
	memset(&in, 0xa5, sizeof in);
	cport_op op = {0};
	op.flags = CPORT_OP_INLINE;
	op.timeout_ns = 1; /* an inline op is done before any deadline */
	assert_int_equal(cport_stat(port, &op, path, &in), 0);
	/* Grow the file before the wait: the stat ran in the submit, it saw 1000 bytes. */
	assert_int_equal(t_pwrite(fd, "x", 1, 4999), 1);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(op.flags, CPORT_OP_INLINE); /* an in field: left as it was */
	nothing_left(port);
	assert_int_equal(in.size, 1000);
	/* The same fields as the normal route gives. */
	cport_op nop = {0};
	assert_int_equal(cport_stat(port, &nop, path, &out), 0);
	assert_int_equal(t_run(port, &nop), 0);
	assert_int_equal(out.size, 5000);
	assert_int_equal(in.ino, out.ino);
	assert_int_equal(in.dev, out.dev);
	assert_int_equal(in.mode, out.mode);
	assert_int_equal(in.nlink, out.nlink);
	assert_int_equal(in.uid, out.uid);
#ifndef _WIN32 /* Wine gives a file on a Linux file system its change time as birth time */
	assert_int_equal(in.btime_ns, out.btime_ns);
#endif
	/* A missing path: the error completes through the port too, once. */
	char missing[300];
	t_path(missing, sizeof missing, "no-such-file");
	assert_int_equal(cport_stat(port, &op, missing, &in), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	nothing_left(port);
	t_close(fd);
	cport_destroy(port);
}

static void fstat_inline(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(12345);
	cport_statbuf in, out;
	cport_op op = {0}, nop = {0};
	op.flags = CPORT_OP_INLINE;
	assert_int_equal(cport_fstat(port, &op, fd, &in), 0);
	assert_int_equal(t_pwrite(fd, "x", 1, 19999), 1);
	assert_int_equal(t_run(port, &op), 0);
	nothing_left(port);
	assert_int_equal(in.size, 12345);
	assert_true((in.mode & 0170000) == 0100000); /* S_ISREG */
	assert_int_equal(cport_fstat(port, &nop, fd, &out), 0);
	assert_int_equal(t_run(port, &nop), 0);
	assert_int_equal(out.size, 20000);
	assert_int_equal(in.ino, out.ino);
#ifndef _WIN32 /* see stat_inline */
	assert_int_equal(in.btime_ns, out.btime_ns);
#endif
	t_close(fd);
	cport_destroy(port);
}

static void check_pattern(const uint8_t *buf, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != t_pattern(off + i))
			fail_msg("byte %zu (file offset %llu) is %u, wanted %u", i,
				 (unsigned long long)(off + i), buf[i], t_pattern(off + i));
}

static void read_inline(void **state)
{
	(void)state;
	cport *port = t_port();
	size_t size = 3 * 4096 + 100;
	cport_fd fd = t_file(size);
	bool inl = !on_iocp(port) && nowait_reads(fd);
	static uint8_t buf[8192], junk[8192];
	memset(junk, 0xee, sizeof junk);
	cport_op op = {0};
	op.flags = CPORT_OP_INLINE;
	assert_int_equal(cport_read(port, &op, fd, buf, 8192, 4096), 0);
	if (inl) /* overwrite before the wait: an inline read has the old bytes already */
		assert_int_equal(t_pwrite(fd, junk, 8192, 4096), 8192);
	assert_int_equal(t_run(port, &op), 8192);
	check_pattern(buf, 8192, 4096);
	nothing_left(port);
	if (inl) /* put the pattern back for the reads below */
		assert_int_equal(t_pwrite(fd, buf, 8192, 4096), 8192);
	/* Short only at end of file; 0 at and past it. */
	memset(buf, 0, sizeof buf);
	assert_int_equal(cport_read(port, &op, fd, buf, 8192, 3 * 4096), 0);
	assert_int_equal(t_run(port, &op), 100);
	check_pattern(buf, 100, 3 * 4096);
	assert_int_equal(cport_read(port, &op, fd, buf, 8192, (int64_t)size), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_read(port, &op, fd, buf, 8192, 1 << 20), 0);
	assert_int_equal(t_run(port, &op), 0);
	/* Vectored, with an empty element, across the end of file. */
	static uint8_t a[1000], b[5000];
	cport_iovec iov[3] = {{a, sizeof a}, {NULL, 0}, {b, sizeof b}};
	assert_int_equal(cport_readv(port, &op, fd, iov, 3, 8000), 0);
	assert_int_equal(t_run(port, &op), (int64_t)(size - 8000));
	check_pattern(a, sizeof a, 8000);
	check_pattern(b, size - 9000, 9000);
	nothing_left(port);
	t_close(fd);
	cport_destroy(port);
}

static void write_inline(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(8192);
	bool inl = !on_iocp(port); /* a regular file without O_DIRECT or O_DSYNC */
	static uint8_t buf[4096], back[4096];
	memset(buf, 0x5c, sizeof buf);
	cport_op op = {0};
	op.flags = CPORT_OP_INLINE;
	assert_int_equal(cport_write(port, &op, fd, buf, sizeof buf, 100), 0);
	if (inl) { /* written in the submit: a plain read sees it before the wait */
		assert_int_equal(t_pread(fd, back, sizeof back, 100), 4096);
		assert_memory_equal(back, buf, sizeof buf);
	}
	assert_int_equal(t_run(port, &op), 4096);
	nothing_left(port);
	assert_int_equal(t_pread(fd, back, sizeof back, 100), 4096);
	assert_memory_equal(back, buf, sizeof buf);
	/* Vectored, past the end: the file grows. */
	static uint8_t c[3000];
	memset(c, 0x3a, sizeof c);
	cport_iovec iov[2] = {{buf, 1000}, {c, sizeof c}};
	assert_int_equal(cport_writev(port, &op, fd, iov, 2, 10000), 0);
	if (inl)
		assert_int_equal(t_fsize(fd), 14000);
	assert_int_equal(t_run(port, &op), 4000);
	assert_int_equal(t_fsize(fd), 14000);
	assert_int_equal(t_pread(fd, back, 3000, 11000), 3000);
	assert_memory_equal(back, c, sizeof c);
	t_close(fd);
	cport_destroy(port);
}

/* A stream never runs inline: a read waits for data as without the flag. */
static void stream_goes_normal_way(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	char buf[16];
	cport_op op = {0};
	op.flags = CPORT_OP_INLINE;
	assert_int_equal(cport_read(port, &op, p[0], buf, sizeof buf, -1), 0);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0);
	assert_int_equal(t_write(p[1], "hello", 5), 5);
	assert_int_equal(t_run(port, &op), 5);
	assert_memory_equal(buf, "hello", 5);
	nothing_left(port);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

/* Refused as before the flag existed, and the op is left as it was. */
static void bad_input(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(100);
	cport_op op, copy;
	char buf[16];
	memset(&op, 0, sizeof op);
	op.flags = CPORT_OP_INLINE | (1u << 31); /* unknown bit */
	memcpy(&copy, &op, sizeof op);
	assert_int_equal(cport_read(port, &op, fd, buf, sizeof buf, 0), CPORT_EINVAL);
	assert_memory_equal(&op, &copy, sizeof op);
	op.flags = CPORT_OP_INLINE;
	memcpy(&copy, &op, sizeof op);
	assert_int_equal(cport_post(port, &op, 7), CPORT_EINVAL); /* a post takes no flags */
	assert_int_equal(cport_read(port, &op, fd, NULL, 16, 0), CPORT_EINVAL);
	assert_int_equal(cport_fstat(port, &op, fd, NULL), CPORT_EINVAL);
	assert_int_equal(cport_read(port, &op, fd, buf, sizeof buf, -2), CPORT_EINVAL);
	assert_memory_equal(&op, &copy, sizeof op);
#ifndef _WIN32
	int dead = dup(fd);
	close(dead);
	cport_statbuf sb;
	assert_int_equal(cport_fstat(port, &op, dead, &sb), CPORT_EBADF);
	assert_int_equal(cport_write(port, &op, dead, buf, sizeof buf, 0), CPORT_EBADF);
#endif
	/* Other ops ignore the flag (a timer); in flight already: EBUSY. */
	cport_op t = {0};
	t.flags = CPORT_OP_INLINE;
	assert_int_equal(cport_timer(port, &t, 10 * 1000000000ull, 0), 0);
	assert_int_equal(cport_read(port, &t, fd, buf, sizeof buf, 0), CPORT_EBUSY);
	assert_int_equal(cport_cancel(port, &t), 0);
	assert_int_equal(t_run(port, &t), CPORT_ECANCELED);
	nothing_left(port);
	t_close(fd);
	cport_destroy(port);
}

/* A held op runs inline only when its turn comes: a read linked behind a write reads
 * what the write wrote; a stat behind a failed link never runs. */
static void waits_its_turn(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(8192);
	static uint8_t data[4096], back[4096];
	memset(data, 0x6b, sizeof data);
	cport_op w = {0}, r = {0}, bad = {0}, st = {0};
	w.flags = CPORT_OP_LINK;
	r.flags = CPORT_OP_INLINE;
	assert_int_equal(cport_write(port, &w, fd, data, sizeof data, 0), 0);
	assert_int_equal(cport_read(port, &r, fd, back, sizeof back, 0), 0);
	assert_int_equal(cport_wait_op(port, &w, 10 * 1000000000LL), 0);
	assert_int_equal(w.result, 4096);
	assert_int_equal(cport_wait_op(port, &r, 10 * 1000000000LL), 0);
	assert_int_equal(r.result, 4096);
	assert_memory_equal(back, data, sizeof data);
	/* A read past the end of file is short: the link breaks, the stat never runs. */
	char path[300];
	t_path(path, sizeof path, "never-made");
	cport_statbuf sb;
	bad.flags = CPORT_OP_LINK;
	st.flags = CPORT_OP_INLINE;
	assert_int_equal(cport_read(port, &bad, fd, back, sizeof back, 8000), 0);
	assert_int_equal(cport_stat(port, &st, path, &sb), 0);
	assert_int_equal(cport_wait_op(port, &st, 10 * 1000000000LL), 0);
	assert_int_equal(st.result, CPORT_ECANCELED);
	assert_int_equal(t_run(port, &bad), 192);
	nothing_left(port);
	t_close(fd);
	cport_destroy(port);
}

#ifndef _WIN32
/* Ops that may block never run inline: an open (of a FIFO nobody writes to), a write to
 * an O_DSYNC file, an fsync. With one pool worker held by the open, the backends that
 * run file ops on the pool show it: nothing completes until the FIFO is released. */
static void blocking_goes_normal_way(void **state)
{
	(void)state;
	t_os_only("a FIFO");
	cport *port = t_port_pool(0, 1);
	const char *be = cport_backend_name(port);
	bool pool = strcmp(be, "io_uring") != 0 || t_uring_pool();
	char fifo[300], path[300];
	t_path(fifo, sizeof fifo, "fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	cport_op open_op = {0}, w = {0}, fs = {0};
	open_op.flags = w.flags = fs.flags = CPORT_OP_INLINE;
	/* If the open ran inline, this would never return (the test's timeout says so). */
	assert_int_equal(cport_open(port, &open_op, fifo, CPORT_O_RDONLY, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	t_path(path, sizeof path, "dsync");
	int fd = open(path, O_RDWR | O_CREAT | O_DSYNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	static char buf[4096];
	memset(buf, 0x77, sizeof buf);
	assert_int_equal(cport_write(port, &w, fd, buf, sizeof buf, 0), 0);
	assert_int_equal(cport_fsync(port, &fs, fd, 0), 0);
	cport_op *out[4];
	if (pool) /* all three wait for the one worker */
		assert_int_equal(cport_wait(port, out, 4, 50 * 1000000LL), 0);
	int wr = open(fifo, O_WRONLY | O_CLOEXEC);
	assert_true(wr >= 0);
	unsigned got = 0;
	uint64_t end = t_now_ms() + 30000;
	while (got < 3 && t_now_ms() < end) {
		int n = cport_wait(port, out, 4, 100 * 1000000LL);
		assert_true(n >= 0);
		got += (unsigned)n;
	}
	assert_int_equal(got, 3);
	assert_true(open_op.result >= 0);
	assert_int_equal(w.result, 4096);
	assert_int_equal(fs.result, 0);
	nothing_left(port);
	close((int)open_op.result);
	close(wr);
	close(fd);
	cport_destroy(port);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stat_inline),
		cmocka_unit_test(fstat_inline),
		cmocka_unit_test(read_inline),
		cmocka_unit_test(write_inline),
		cmocka_unit_test(stream_goes_normal_way),
		cmocka_unit_test(bad_input),
		cmocka_unit_test(waits_its_turn),
#ifndef _WIN32
		cmocka_unit_test(blocking_goes_normal_way),
#endif
	};
	return T_MAIN("inline", tests);
}
