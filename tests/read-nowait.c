/* SPDX-License-Identifier: MIT */
/* Positional file I/O from the page cache at once (epoll, poll: RWF_NOWAIT), the rest on the pool. */

/*
 * The readiness backends try a positional read or write on the port thread first and
 * send only what the page cache cannot give at once to the pool. Whatever way each part
 * took, the results must be those of the contract: the right bytes, a read short only
 * at end of file, 0 at and past it, writes whole. So every backend runs these tests;
 * on epoll and poll (Linux, a file system with RWF_NOWAIT) one of them also checks that
 * a cached read did run at once.
 */

#include "helpers.h"

#include <string.h>
#ifndef _WIN32
#include <fcntl.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>
#endif

#define SIZE (256 * 1024 + 1000) /* not a multiple of the page size */

/* Where a file's pages can be dropped from the page cache (not Windows, not macOS). */
#if !defined(_WIN32) && defined(POSIX_FADV_DONTNEED)
#define T_EVICT 1
#endif

static void check_pattern(const uint8_t *buf, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != t_pattern(off + i))
			fail_msg("byte %zu (file offset %llu) is %u, wanted %u", i,
				 (unsigned long long)(off + i), buf[i], t_pattern(off + i));
}

#ifdef T_EVICT
/* Drop the file's pages from the page cache (a clean file: written back first). */
static void evict(cport_fd fd)
{
	assert_int_equal(fsync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
}
#endif

static int64_t read_at(cport *port, cport_fd fd, void *buf, size_t len, int64_t off)
{
	cport_op op = {0};
	assert_int_equal(cport_read(port, &op, fd, buf, len, off), 0);
	return t_run(port, &op);
}

/* Reads of every kind on the file as it is now (cached or not): whole ranges, one that
 * ends at end of file (short), at and past the end (0), vectored across the end. */
static void read_all_kinds(cport *port, cport_fd fd)
{
	static uint8_t buf[SIZE + 8192];
	memset(buf, 0, sizeof buf);
	assert_int_equal(read_at(port, fd, buf, 4096, 8192), 4096);
	check_pattern(buf, 4096, 8192);
	assert_int_equal(read_at(port, fd, buf, 100000, 1234), 100000);
	check_pattern(buf, 100000, 1234);
	assert_int_equal(read_at(port, fd, buf, 65536, SIZE - 3000), 3000);
	check_pattern(buf, 3000, SIZE - 3000);
	assert_int_equal(read_at(port, fd, buf, sizeof buf, 0), SIZE);
	check_pattern(buf, SIZE, 0);
	assert_int_equal(read_at(port, fd, buf, 4096, SIZE), 0);
	assert_int_equal(read_at(port, fd, buf, 4096, (int64_t)SIZE + 100000), 0);
	static uint8_t a[5000], b[7], c[70000];
	cport_iovec iov[4] = {{a, sizeof a}, {NULL, 0}, {b, sizeof b}, {c, sizeof c}};
	cport_op op = {0};
	int64_t off = SIZE - 40000;
	assert_int_equal(cport_readv(port, &op, fd, iov, 4, off), 0);
	assert_int_equal(t_run(port, &op), 40000);
	check_pattern(a, sizeof a, (uint64_t)off);
	check_pattern(b, sizeof b, (uint64_t)off + 5000);
	check_pattern(c, 40000 - 5007, (uint64_t)off + 5007);
}

static void cached(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(SIZE);
	read_all_kinds(port, fd);
	t_close(fd);
	cport_destroy(port);
}

static void writes(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(10000);
	static uint8_t buf[20000], back[20000];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, fd, buf, 4096, 100), 0);
	assert_int_equal(t_run(port, &op), 4096);
	/* Past the end: the file grows; vectored from the middle of a buffer. */
	cport_iovec iov[2] = {{buf, 3}, {buf + 3, sizeof buf - 3}};
	assert_int_equal(cport_writev(port, &op, fd, iov, 2, 30000), 0);
	assert_int_equal(t_run(port, &op), (int64_t)sizeof buf);
	assert_int_equal(t_fsize(fd), 50000);
	assert_int_equal(t_pread(fd, back, 4096, 100), 4096);
	assert_memory_equal(back, buf, 4096);
	assert_int_equal(t_pread(fd, back, sizeof back, 30000), (int64_t)sizeof back);
	assert_memory_equal(back, buf, sizeof buf);
	/* A hole reads as zeros. */
	assert_int_equal(read_at(port, fd, back, 100, 20000), 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(back[i], 0);
	t_close(fd);
	cport_destroy(port);
}

#ifdef T_EVICT
static void evicted(void **state)
{
	(void)state;
	t_os_only("a page cache to evict from");
	cport *port = t_port();
	cport_fd fd = t_file(SIZE);
	evict(fd);
	read_all_kinds(port, fd);
	t_close(fd);
	cport_destroy(port);
}

/* Part cached, part not: the cached head moves at once, the rest on the pool; the
 * result is whole (a short result here would be a read short before end of file). */
static void partly_cached(void **state)
{
	(void)state;
	t_os_only("a page cache to evict from");
	cport *port = t_port();
	cport_fd fd = t_file(SIZE);
	evict(fd);
	static uint8_t buf[SIZE];
	for (int round = 0; round < 2; round++) {
		int64_t head = round == 0 ? 0 : 128 * 1024;
		assert_int_equal(t_pread(fd, buf, 4096, head), 4096); /* cache one page */
		memset(buf, 0, sizeof buf);
		assert_int_equal(read_at(port, fd, buf, SIZE, head), SIZE - head);
		check_pattern(buf, (size_t)(SIZE - head), (uint64_t)head);
		evict(fd);
	}
	t_close(fd);
	cport_destroy(port);
}

#endif

#ifndef _WIN32
/* epoll, poll (Linux): a cached read ran in the submit call, without the pool: the
 * bytes are in the buffer before the wait (overwritten behind its back, the file then
 * holds other bytes than those read). */
static void ran_at_once(void **state)
{
	(void)state;
	cport *port = t_port();
	const char *be = cport_backend_name(port);
	cport_fd fd = t_file(SIZE);
	bool fast = false;
#if defined(__linux__) && defined(RWF_NOWAIT)
	char one[1];
	struct iovec v = {one, 1};
	fast = preadv2(fd, &v, 1, 0, RWF_NOWAIT) == 1;
#endif
	bool readiness = strcmp(be, "epoll") == 0 || strcmp(be, "poll") == 0;
	if (readiness && !fast) {
		t_close(fd);
		cport_destroy(port);
		t_skip("%s: no RWF_NOWAIT for reads here (Linux only; not on tmpfs)", be);
	}
	static uint8_t buf[8192], junk[8192];
	memset(junk, 0xdd, sizeof junk);
	cport_op op = {0};
	assert_int_equal(cport_read(port, &op, fd, buf, sizeof buf, 4096), 0);
	if (readiness) /* elsewhere (io_uring: its own first try at submit) only the bytes */
		assert_int_equal(t_pwrite(fd, junk, sizeof junk, 4096), (int64_t)sizeof junk);
	assert_int_equal(t_run(port, &op), 8192);
	check_pattern(buf, sizeof buf, 4096);
	t_close(fd);
	cport_destroy(port);
}

/* Descriptors the fast path leaves to the pool give the same answers: a pipe (a
 * positional read there is ESPIPE on the readiness backends; io_uring reads a stream
 * at its position), an O_DIRECT file (its read would wait for the device even with
 * RWF_NOWAIT), an O_DSYNC file's writes. */
static void other_descriptors(void **state)
{
	(void)state;
	t_os_only("a pipe and a socket");
	cport *port = t_port();
	if (strcmp(cport_backend_name(port), "io_uring") != 0) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		char c[16];
		assert_int_equal(read_at(port, p[0], c, sizeof c, 0), CPORT_ESPIPE);
		close(p[0]);
		close(p[1]);
	}
	char path[300];
	t_path(path, sizeof path, "direct");
	cport_fd fd = t_file(SIZE);
	int dsync = open(path, O_RDWR | O_CREAT | O_DSYNC | O_CLOEXEC, 0600);
	assert_true(dsync >= 0);
	static uint8_t buf[8192];
	assert_int_equal(t_pread(fd, buf, sizeof buf, 0), 8192);
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, dsync, buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &op), 8192);
	close(dsync);
#ifdef O_DIRECT
	int direct = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (direct >= 0) {
		void *al = NULL;
		assert_int_equal(posix_memalign(&al, 4096, 8192), 0);
		memset(al, 0, 8192);
		assert_int_equal(read_at(port, direct, al, 8192, 0), 8192);
		check_pattern(al, 8192, 0);
		free(al);
		close(direct);
	} /* else: the file system has no O_DIRECT (tmpfs): nothing to check */
#endif
	t_close(fd);
	cport_destroy(port);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cached),
		cmocka_unit_test(writes),
#ifdef T_EVICT
		cmocka_unit_test(evicted),
		cmocka_unit_test(partly_cached),
#endif
#ifndef _WIN32
		cmocka_unit_test(ran_at_once),
		cmocka_unit_test(other_descriptors),
#endif
	};
	return T_MAIN("read-nowait", tests);
}
