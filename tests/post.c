/* SPDX-License-Identifier: MIT */
/* Posts: results delivered as given, from 4 threads at once, waking a blocked waiter. */

#include "helpers.h"

#include <pthread.h>
#include <stdlib.h>

static void one(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	assert_int_equal(cport_post(port, &op, 12345), 0);
	assert_int_equal(cport_post(port, &op, 1), CPORT_EBUSY); /* in flight */
	assert_int_equal(t_run(port, &op), 12345);
	assert_int_equal(cport_post(port, &op, CPORT_EIO), 0); /* reusable, any result */
	assert_int_equal(t_run(port, &op), CPORT_EIO);
	assert_int_equal(cport_post(NULL, &op, 0), CPORT_EINVAL);
	assert_int_equal(cport_post(port, NULL, 0), CPORT_EINVAL);
	cport_destroy(port);
}

enum { THREADS = 4, PER_THREAD = 20000 };

struct poster {
	cport *port;
	int id;
	cport_op ops[PER_THREAD];
};

static void *post_all(void *arg)
{
	struct poster *p = arg;
	for (int i = 0; i < PER_THREAD; i++)
		if (cport_post(p->port, &p->ops[i], (int64_t)p->id * PER_THREAD + i) != 0)
			abort(); /* cmocka asserts belong to the test's own thread */
	return NULL;
}

/* 4 threads post while the port thread reaps: every post arrives once, and the posts of
 * one thread arrive in the order that thread made them. */
static void four_threads(void **state)
{
	(void)state;
	cport *port = t_port();
	static struct poster posters[THREADS];
	pthread_t th[THREADS];
	for (int t = 0; t < THREADS; t++) {
		posters[t].port = port;
		posters[t].id = t;
		assert_int_equal(pthread_create(&th[t], NULL, post_all, &posters[t]), 0);
	}
	int64_t next[THREADS] = {0};
	unsigned got = 0;
	uint64_t end = t_now_ms() + 30000;
	while (got < THREADS * PER_THREAD && t_now_ms() < end) {
		cport_op *out[64];
		int k = cport_wait(port, out, 64, 1000000000LL);
		assert_true(k >= 0);
		for (int i = 0; i < k; i++) {
			int64_t r = out[i]->result;
			int t = (int)(r / PER_THREAD);
			assert_true(t >= 0 && t < THREADS);
			assert_ptr_equal(out[i], &posters[t].ops[r % PER_THREAD]);
			assert_int_equal(r % PER_THREAD, next[t]); /* per-thread order */
			next[t]++;
		}
		got += (unsigned)k;
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	assert_int_equal(got, THREADS * PER_THREAD);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 0), 0);
	cport_destroy(port);
}

struct late {
	cport *port;
	cport_op op;
};

static void *post_late(void *arg)
{
	struct late *l = arg;
	t_sleep_us(50 * 1000);
	cport_post(l->port, &l->op, 7);
	return NULL;
}

/* A waiter blocked forever is woken by a post from another thread. */
static void wakes_waiter(void **state)
{
	(void)state;
	for (int round = 0; round < 20; round++) {
		struct late l = {.port = t_port()};
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, post_late, &l), 0);
		cport_op *out = NULL;
		assert_int_equal(cport_wait(l.port, &out, 1, -1), 1);
		assert_ptr_equal(out, &l.op);
		assert_int_equal(out->result, 7);
		pthread_join(th, NULL);
		cport_destroy(l.port);
	}
}

/* Posts mixed with kernel completions: both arrive. */
static void mixed_with_nops(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op nops[50] = {{0}}, posts[50] = {{0}};
	for (int i = 0; i < 50; i++) {
		assert_int_equal(cport_nop(port, &nops[i]), 0);
		assert_int_equal(cport_post(port, &posts[i], 1000 + i), 0);
	}
	int seen_nop = 0, seen_post = 0;
	cport_op *out[16];
	while (seen_nop + seen_post < 100) {
		int k = cport_wait(port, out, 16, 5000000000LL);
		assert_true(k > 0);
		for (int i = 0; i < k; i++) {
			if (out[i] >= nops && out[i] < nops + 50) {
				assert_int_equal(out[i]->result, 0);
				seen_nop++;
			} else {
				assert_int_equal(out[i]->result, 1000 + (out[i] - posts));
				seen_post++;
			}
		}
	}
	assert_int_equal(seen_nop, 50);
	assert_int_equal(seen_post, 50);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one),
		cmocka_unit_test(four_threads),
		cmocka_unit_test(wakes_waiter),
		cmocka_unit_test(mixed_with_nops),
	};
	return T_MAIN("post", tests);
}
