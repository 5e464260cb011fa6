/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #1): a socket number freed by cport_sock_close and reused is a new socket to the port. */

/*
 * Rule 14: "a descriptor number closed through cport and reused is a new descriptor to
 * every port". epoll kept a closed socket's number registered in its own table, so a
 * recv on the next socket with that number waited for a readiness report that never
 * came (only its timeout ended it), and an accept on a reused listener number likewise.
 * Every op here carries a 5 s timeout: CPORT_ETIMEDOUT instead of data is the defect.
 */

#include "helpers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#define OP_TIMEOUT_NS (5ull * 1000000000u)
/* Windows hands socket values out in no set order: try this many times for a reuse. */
enum { TRIES = 64 };

/* A connection accepted through the port with cport_accept, and its client end. */
struct conn {
	cport_fd srv, cli;
};

/* Connect a client to `la` and accept it with cport_accept on `l` (5 s timeout). */
static struct conn accept_one(cport *port, cport_fd l, const cport_addr *la)
{
	struct conn c;
	cport_op acc = {0};
	acc.timeout_ns = OP_TIMEOUT_NS;
	c.cli = t_connect(la);
	assert_int_equal(cport_accept(port, &acc, l, NULL, 0), 0);
	int64_t r = t_run(port, &acc);
	if (r < 0)
		fail_msg("accept: %s", cport_err_name(r));
	c.srv = (cport_fd)r;
	return c;
}

/* A recv of `want` bytes already sent by the peer: must complete with them. */
static void recv_expect(cport *port, cport_fd fd, const char *want, const char *what)
{
	char buf[64] = {0};
	cport_op op = {0};
	op.timeout_ns = OP_TIMEOUT_NS;
	size_t n = strlen(want);
	assert_int_equal(cport_recv(port, &op, fd, buf, sizeof buf, 0), 0);
	uint64_t t0 = t_now_ms();
	int64_t r = t_run(port, &op);
	if (r != (int64_t)n)
		fail_msg("%s: recv on descriptor %lld got %lld (%s) after %llu ms, wanted %zu "
			 "bytes already sent by the peer",
			 what, (long long)fd, (long long)r, r < 0 ? cport_err_name(r) : "bytes",
			 (unsigned long long)(t_now_ms() - t0), n);
	assert_memory_equal(buf, want, n);
}

/* A connection is received on, closed with cport_sock_close, and a new connection
 * accepted under the same number: a recv with data already waiting completes. */
static void accepted_number_reused(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr la;
	cport_fd l = t_listen(&la);
	struct conn first = accept_one(port, l, &la);
	/* The first connection's recv waits for its data, then gets it: the backend now
	 * knows the number (epoll: it is registered). */
	char buf[16];
	cport_op op = {0};
	op.timeout_ns = OP_TIMEOUT_NS;
	assert_int_equal(cport_recv(port, &op, first.srv, buf, sizeof buf, 0), 0);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0);
	t_write_all(first.cli, "first", 5);
	assert_int_equal(t_run(port, &op), 5);
	assert_memory_equal(buf, "first", 5);
	cport_fd target = first.srv;

	/* The next client connects (and sends) before the number is freed, and the first
	 * client stays open, so that the accepted socket is the one to take the number
	 * (Unix gives out the lowest free number). */
	struct conn extra[TRIES];
	int nextra = 0;
	cport_fd cli = t_connect(&la);
	t_write_all(cli, "second", 6);
	assert_int_equal(cport_sock_close(first.srv), 0);
	struct conn again;
	for (;;) {
		cport_op acc = {0};
		acc.timeout_ns = OP_TIMEOUT_NS;
		assert_int_equal(cport_accept(port, &acc, l, NULL, 0), 0);
		int64_t r = t_run(port, &acc);
		if (r < 0)
			fail_msg("accept after cport_sock_close: %s", cport_err_name(r));
		again.srv = (cport_fd)r;
		again.cli = cli;
		if (again.srv == target)
			break;
		if (nextra == TRIES - 1) {
			for (int i = 0; i < nextra; i++)
				t_close(extra[i].srv), t_close(extra[i].cli);
			t_close(again.srv), t_close(again.cli), t_close(first.cli), t_close(l);
			cport_destroy(port);
			t_skip("no accepted socket reused the closed number in %d tries", TRIES);
		}
		extra[nextra++] = again;
		cli = t_connect(&la);
		t_write_all(cli, "second", 6);
	}
	recv_expect(port, again.srv, "second", "reused accepted number");
	for (int i = 0; i < nextra; i++)
		t_close(extra[i].srv), t_close(extra[i].cli);
	t_close(again.srv), t_close(again.cli), t_close(first.cli), t_close(l);
	cport_destroy(port);
}

/* ---- a watchdog for calls that must return ---- */

static atomic_int wd_armed;
static const char *wd_what;

static void *wd_main(void *arg)
{
	unsigned secs = (unsigned)(uintptr_t)arg;
	for (unsigned i = 0; i < secs * 100; i++) {
		if (!atomic_load(&wd_armed))
			return NULL;
		t_sleep_us(10000);
	}
	fprintf(stderr, "FAIL (%s): %s did not return within %u s\n", t_backend(), wd_what, secs);
	fflush(stderr);
	_exit(1);
}

static pthread_t wd_start(const char *what, unsigned secs)
{
	pthread_t th;
	wd_what = what;
	atomic_store(&wd_armed, 1);
	assert_int_equal(pthread_create(&th, NULL, wd_main, (void *)(uintptr_t)secs), 0);
	return th;
}

static void wd_stop(pthread_t th)
{
	atomic_store(&wd_armed, 0);
	pthread_join(th, NULL);
}

/* A listener with an accept that waited, closed with cport_sock_close; a new listener
 * under the same number: its accepts complete, and cport_destroy returns. */
static void listener_number_reused(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr la1, la2;
	cport_fd l1 = t_listen(&la1);
	/* An accept that waits for its connection (epoll registers the listener). */
	cport_op acc = {0};
	acc.timeout_ns = OP_TIMEOUT_NS;
	assert_int_equal(cport_accept(port, &acc, l1, NULL, 0), 0);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0);
	cport_fd c1 = t_connect(&la1);
	int64_t r = t_run(port, &acc);
	assert_true(r >= 0);
	t_close((cport_fd)r), t_close(c1);
	cport_fd target = l1;
	assert_int_equal(cport_sock_close(l1), 0);

	cport_fd spare[TRIES];
	int nspare = 0;
	cport_fd l2 = t_listen(&la2);
	while (l2 != target) {
		spare[nspare++] = l2;
		if (nspare == TRIES) {
			for (int i = 0; i < nspare; i++)
				t_close(spare[i]);
			cport_destroy(port);
			t_skip("no new listener reused the closed number in %d tries", TRIES);
		}
		l2 = t_listen(&la2);
	}
	/* The first accept on the new listener waits for its connection, the second
	 * finds one already queued. */
	cport_fd cs[2] = {0, 0}; /* both set in the loop below */
	for (int i = 0; i < 2; i++) {
		memset(&acc, 0, sizeof acc);
		acc.timeout_ns = OP_TIMEOUT_NS;
		if (i == 1)
			cs[i] = t_connect(&la2);
		assert_int_equal(cport_accept(port, &acc, l2, NULL, 0), 0);
		if (i == 0) {
			assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0);
			cs[i] = t_connect(&la2);
		}
		uint64_t t0 = t_now_ms();
		r = t_run(port, &acc);
		if (r < 0)
			fail_msg("accept %d on the reused listener number: %s after %llu ms", i,
				 cport_err_name(r), (unsigned long long)(t_now_ms() - t0));
		t_close((cport_fd)r);
	}
	/* An accept left in flight on the new listener: destroy stops it and returns. */
	memset(&acc, 0, sizeof acc);
	assert_int_equal(cport_accept(port, &acc, l2, NULL, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	pthread_t wd = wd_start("cport_destroy after a listener number was reused", 10);
	cport_destroy(port);
	wd_stop(wd);
	for (int i = 0; i < nspare; i++)
		t_close(spare[i]);
	t_close(cs[0]), t_close(cs[1]), t_close(l2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepted_number_reused),
		cmocka_unit_test(listener_number_reused),
	};
	return T_MAIN("regress-sock-close-reuse", tests);
}
