/* SPDX-License-Identifier: MIT */
/* Short transfers are retried inside (rules 4 and 5): a positional read on io_uring. */

/*
 * A regular file on a local disk rarely gives io_uring a short read, so these tests use
 * a pipe, which io_uring reads and writes as a stream even at an offset: each kernel
 * transfer is short, and the op must still complete with every byte, in order. Other
 * backends hand positional I/O to pread/pwrite, which refuse pipes (ESPIPE): there the
 * path does not exist and the test is skipped.
 */

#include "helpers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static cport_fd pipefd[2];
enum { TOTAL = 1 << 20 };

static void *trickle_writer(void *arg)
{
	(void)arg;
	uint8_t chunk[1000];
	for (int sent = 0; sent < 100 * 1000; sent += 1000) {
		for (int i = 0; i < 1000; i++)
			chunk[i] = t_pattern((uint64_t)(sent + i));
		if (t_write(pipefd[1], chunk, 1000) != 1000)
			abort();
		t_sleep_us(200);
	}
	return NULL;
}

static void *slow_reader(void *arg)
{
	uint8_t *dst = arg;
	size_t got = 0;
	while (got < TOTAL) {
		int64_t n = t_read(pipefd[0], dst + got, 4096);
		if (n <= 0)
			abort();
		got += (size_t)n;
	}
	return NULL;
}

static cport *port_or_skip(void)
{
	cport *port = t_port();
	const char *be = cport_backend_name(port);
	/* IOCP, like io_uring, ignores the offset of a pipe's overlapped I/O. */
	bool stream_at_offset = strcmp(be, "io_uring") == 0 || strcmp(be, "iocp") == 0;
	if (!stream_at_offset || t_uring_pool()) {
		cport_destroy(port);
		t_skip("only io_uring and IOCP transfer pipes at an offset; pread refuses them");
	}
	return port;
}

static void read_retried_until_full(void **state)
{
	(void)state;
	cport *port = port_or_skip();
	assert_int_equal(t_pipe(pipefd), 0);
	static uint8_t buf[100 * 1000];
	cport_op op = {0};
	assert_int_equal(cport_read(port, &op, pipefd[0], buf, sizeof buf, 0), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, trickle_writer, NULL), 0);
	assert_int_equal(t_run(port, &op), sizeof buf);
	pthread_join(th, NULL);
	for (size_t i = 0; i < sizeof buf; i++)
		assert_int_equal(buf[i], t_pattern(i));
	t_close(pipefd[0]);
	t_close(pipefd[1]);
	cport_destroy(port);
}

static void readv_retried_until_full(void **state)
{
	(void)state;
	cport *port = port_or_skip();
	assert_int_equal(t_pipe(pipefd), 0);
	static uint8_t a[333], b[50000], c[49667];
	cport_iovec iov[3] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
	cport_op op = {0};
	assert_int_equal(cport_readv(port, &op, pipefd[0], iov, 3, 0), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, trickle_writer, NULL), 0);
	assert_int_equal(t_run(port, &op), 100000);
	pthread_join(th, NULL);
	for (size_t i = 0; i < sizeof a; i++)
		assert_int_equal(a[i], t_pattern(i));
	for (size_t i = 0; i < sizeof b; i++)
		assert_int_equal(b[i], t_pattern(sizeof a + i));
	for (size_t i = 0; i < sizeof c; i++)
		assert_int_equal(c[i], t_pattern(sizeof a + sizeof b + i));
	t_close(pipefd[0]);
	t_close(pipefd[1]);
	cport_destroy(port);
}

/* 1 MiB into a 64 KiB pipe drained slowly: never short, all bytes in order. */
static void write_never_short(void **state)
{
	(void)state;
	cport *port = port_or_skip();
	assert_int_equal(t_pipe(pipefd), 0);
	uint8_t *src = malloc(TOTAL), *dst = malloc(TOTAL);
	for (size_t i = 0; i < TOTAL; i++)
		src[i] = t_pattern(i);
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, pipefd[1], src, TOTAL, 0), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, slow_reader, dst), 0);
	assert_int_equal(t_run(port, &op), TOTAL);
	pthread_join(th, NULL);
	assert_memory_equal(src, dst, TOTAL);
	free(src);
	free(dst);
	t_close(pipefd[0]);
	t_close(pipefd[1]);
	cport_destroy(port);
}

/* Writer side closes after part of the data: the read ends short, at end of stream. */
static void read_short_only_at_eof(void **state)
{
	(void)state;
	cport *port = port_or_skip();
	assert_int_equal(t_pipe(pipefd), 0);
	char buf[100];
	cport_op op = {0};
	assert_int_equal(cport_read(port, &op, pipefd[0], buf, sizeof buf, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(t_write(pipefd[1], "0123456789", 10), 10);
	t_sleep_us(20 * 1000);
	assert_int_equal(t_write(pipefd[1], "abcdef", 6), 6);
	t_close(pipefd[1]);
	assert_int_equal(t_run(port, &op), 16);
	assert_memory_equal(buf, "0123456789abcdef", 16);
	t_close(pipefd[0]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(read_retried_until_full),
		cmocka_unit_test(readv_retried_until_full),
		cmocka_unit_test(write_never_short),
		cmocka_unit_test(read_short_only_at_eof),
	};
	return T_MAIN("short-transfer", tests);
}
