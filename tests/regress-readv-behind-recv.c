/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #14): a readv/writev queued behind a waiting recv/send on a blocking socket never blocks the port thread. */

/*
 * Rule 11: nothing blocks but wait. The readiness backends make a stream non-blocking
 * (O_NONBLOCK) when an op that needs it arrives on a descriptor with no op waiting;
 * cport_recv and cport_send need no such flag (MSG_DONTWAIT), so a readv or writev
 * submitted while a recv or send already waited found the socket still blocking and ran
 * a blocking readv/writev on the port thread: cport_wait(timeout 0) never returned. The
 * sockets here come from plain blocking calls (t_tcp_pair), as the header allows. The
 * hang shows once the queued op is tried with nothing to move (no data, no room). A
 * watchdog thread (10 s, see wd_main) and alarm() (30 s) turn a hang into a failure.
 */

#include "helpers.h"

#ifndef _WIN32
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * The watchdog: if the watched call has not returned in 10 s, it records that and
 * unblocks the port thread through the peer (sends the bytes a blocked readv waits
 * for, or drains what a blocked writev waits to write), so the test fails with a
 * message and the next test runs. If even that does not free it in 5 s, it exits.
 */
static atomic_int wd_armed, wd_fired;
static const char *wd_what;
static void (*wd_unblock)(int fd);
static int wd_fd;

static void *wd_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++) {
		if (!atomic_load(&wd_armed))
			return NULL;
		t_sleep_us(10000);
	}
	atomic_store(&wd_fired, 1);
	fprintf(stderr, "watchdog (%s): %s has not returned in 10 s; unblocking it\n",
		t_backend(), wd_what);
	if (wd_unblock)
		wd_unblock(wd_fd);
	for (int i = 0; i < 500; i++) {
		if (!atomic_load(&wd_armed))
			return NULL;
		t_sleep_us(10000);
	}
	fprintf(stderr, "FAIL (%s): %s is still blocked\n", t_backend(), wd_what);
	fflush(stderr);
	_exit(1);
}

/* cport_wait under the watchdog: it must return, and by itself. */
static int wait_watched(cport *port, cport_op **out, unsigned max, int64_t timeout,
			const char *what)
{
	pthread_t th;
	wd_what = what;
	atomic_store(&wd_fired, 0);
	atomic_store(&wd_armed, 1);
	assert_int_equal(pthread_create(&th, NULL, wd_main, NULL), 0);
	alarm(30);
	int n = cport_wait(port, out, max, timeout);
	alarm(0);
	atomic_store(&wd_armed, 0);
	pthread_join(th, NULL);
	if (atomic_load(&wd_fired))
		fail_msg("%s blocked the port thread (in a blocking system call) until the "
			 "watchdog moved data after 10 s", what);
	return n;
}

/* Unblockers: bytes for a blocked readv; a drain (5 s) for a blocked writev. */
static void send_bytes(int fd)
{
	ssize_t k = send(fd, "CCCC", 4, MSG_NOSIGNAL);
	(void)k;
}

static void drain_peer(int fd)
{
	static char sink[65536];
	uint64_t end = t_now_ms() + 5000;
	while (atomic_load(&wd_armed) && t_now_ms() < end)
		if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
			t_sleep_us(1000);
}

static void blocking_pair(cport_fd s[2])
{
	t_tcp_pair(s);
	int fl = fcntl(s[0], F_GETFL);
	assert_true(fl >= 0);
	assert_int_equal(fl & O_NONBLOCK, 0); /* the precondition of the defect */
}

/* The next completion must be `want` (5 s bound, watched). */
static void expect_next(cport *port, cport_op *want, const char *what)
{
	cport_op *out[1];
	int n = wait_watched(port, out, 1, 5ll * 1000000000, what);
	if (n != 1)
		fail_msg("%s: no completion in 5 s", what);
	if (out[0] != want)
		fail_msg("%s: another op completed first (result %lld)", what,
			 (long long)out[0]->result);
}

/* A recv waits; a readv is queued behind it. The peer sends only the recv's bytes: the
 * readv is then tried with nothing to read, and must wait, not block. */
static void readv_behind_recv(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd s[2];
	blocking_pair(s);
	wd_unblock = send_bytes;
	wd_fd = s[1];
	char rb[4] = {0}, vb[4] = {0};
	cport_iovec iov[2] = {{vb, 2}, {vb + 2, 2}};
	cport_op recv_op = {0}, readv_op = {0};
	cport_op *out[2];
	assert_int_equal(cport_recv(port, &recv_op, s[0], rb, sizeof rb, 0), 0);
	assert_int_equal(wait_watched(port, out, 2, 0, "cport_wait(0) with a recv waiting"), 0);
	assert_int_equal(cport_readv(port, &readv_op, s[0], iov, 2, -1), 0);
	assert_int_equal(wait_watched(port, out, 2, 0, "cport_wait(0) with a readv behind a recv"),
			 0);
	t_write_all(s[1], "AAAA", 4);
	expect_next(port, &recv_op, "cport_wait for the recv (the readv is tried next)");
	assert_int_equal(recv_op.result, 4);
	assert_memory_equal(rb, "AAAA", 4);
	int n = wait_watched(port, out, 2, 0, "cport_wait(0) with the readv waiting for data");
	assert_int_equal(n, 0);
	t_write_all(s[1], "BBBB", 4);
	expect_next(port, &readv_op, "cport_wait for the readv");
	assert_int_equal(readv_op.result, 4);
	assert_memory_equal(vb, "BBBB", 4);
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

/* A send waits on a full socket; a large writev is queued behind it. This thread is
 * also the peer: it drains a chunk at a time between cport_wait(0) calls, so when the
 * send finishes the writev is tried with no reader, and must wait, not block. */
static void writev_behind_send(void **state)
{
	(void)state;
	enum { BIG = 4 << 20, BIG2 = 4 << 20, CHUNK = 65536 };
	cport *port = t_port();
	cport_fd s[2];
	blocking_pair(s);
	wd_unblock = drain_peer;
	wd_fd = s[1];
	assert_int_equal(t_sock_sndbuf(s[0], 16384), 0);
	uint8_t *all = malloc(BIG + BIG2), *in = malloc(CHUNK);
	assert_non_null(all);
	assert_non_null(in);
	for (size_t i = 0; i < BIG + BIG2; i++)
		all[i] = t_pattern(i);
	cport_iovec iov[2] = {{all + BIG, 1}, {all + BIG + 1, BIG2 - 1}};
	cport_op send_op = {0}, writev_op = {0};
	cport_op *out[2];
	assert_int_equal(cport_send(port, &send_op, s[0], all, BIG, 0), 0);
	assert_int_equal(wait_watched(port, out, 2, 0, "cport_wait(0) with a send waiting"), 0);
	assert_int_equal(cport_writev(port, &writev_op, s[0], iov, 2, -1), 0);
	assert_int_equal(wait_watched(port, out, 2, 0, "cport_wait(0) with a writev behind a send"),
			 0);
	size_t got = 0;
	int done = 0;
	uint64_t end = t_now_ms() + 30000;
	while (done < 2 && t_now_ms() < end) {
		ssize_t k = recv(s[1], in, CHUNK, MSG_DONTWAIT);
		if (k > 0) {
			if (memcmp(in, all + got, (size_t)k) != 0)
				fail_msg("the peer's bytes differ within [%zu, %zu)", got,
					 got + (size_t)k);
			got += (size_t)k;
		}
		int n = wait_watched(port, out, 2, done ? 10 * 1000000LL : 0,
				     "cport_wait(0) while the peer drains a send and a writev");
		for (int i = 0; i < n; i++, done++)
			if (out[i] != (done == 0 ? &send_op : &writev_op))
				fail_msg("the writev completed before the send");
		if (n == 0 && k <= 0)
			t_sleep_us(1000);
	}
	assert_int_equal(done, 2);
	assert_int_equal(send_op.result, BIG);
	assert_int_equal(writev_op.result, BIG2);
	while (got < (size_t)BIG + BIG2) {
		ssize_t k = recv(s[1], in, CHUNK, 0);
		assert_true(k > 0);
		assert_memory_equal(in, all + got, (size_t)k);
		got += (size_t)k;
	}
	free(all);
	free(in);
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(readv_behind_recv),
		cmocka_unit_test(writev_behind_send),
	};
	return T_MAIN("regress-readv-behind-recv", tests);
}
#else
static void unix_only(void **state)
{
	(void)state;
	t_skip("blocking-mode (O_NONBLOCK) handling of the readiness backends: Unix only");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unix_only),
	};
	return T_MAIN("regress-readv-behind-recv", tests);
}
#endif
