/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #8): two threads driving one port at once are detected (EBUSY), and no op is lost or doubled. */

/*
 * Rule 10: by default submit and wait on a port are called by one thread at a time, and
 * a second thread calling at the same time "is detected (CPORT_EBUSY), never silently
 * corrupting". Nothing detected it: two threads calling cport_nop, cport_wait and
 * cport_submit on one port corrupted its queues. Here two threads do that in a tight
 * loop for about a second; at least one call must say CPORT_EBUSY, and every op a submit
 * accepted (returned 0) must be reaped exactly once, by either thread or by the final
 * drain from one thread.
 */

#include "helpers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

enum { THREADS = 2, SLOTS = 256, RUN_MS = 1000, MAX_ITERS = 5000000 };

struct slot {
	cport_op op;
	atomic_int inflight;    /* set by the owner before its submit, cleared by the reaper */
	atomic_uint accepted;   /* submits that returned 0 */
	atomic_uint completed;  /* times it came out of cport_wait */
};

static struct slot slots[THREADS][SLOTS];
static cport *port;
static atomic_uint ebusy, strays, doubles, other_errors;
static atomic_int go;

/* Account for one op handed back by cport_wait. */
static void reaped(cport_op *op)
{
	struct slot *s = (struct slot *)(void *)op;
	uintptr_t lo = (uintptr_t)&slots[0][0], hi = lo + sizeof slots;
	if ((uintptr_t)s < lo || (uintptr_t)s >= hi || ((uintptr_t)s - lo) % sizeof *s) {
		atomic_fetch_add(&strays, 1); /* not one of ours: memory was corrupted */
		return;
	}
	atomic_fetch_add(&s->completed, 1);
	if (op->result != 0)
		atomic_fetch_add(&other_errors, 1);
	if (!atomic_exchange(&s->inflight, 0))
		atomic_fetch_add(&doubles, 1); /* reaped while not in flight */
}

static void note(int r)
{
	if (r == CPORT_EBUSY)
		atomic_fetch_add(&ebusy, 1);
	else if (r < 0)
		atomic_fetch_add(&other_errors, 1);
}

static void *driver(void *arg)
{
	struct slot *mine = arg;
	unsigned next = 0;
	while (!atomic_load(&go))
		;
	uint64_t end = t_now_ms() + RUN_MS;
	for (unsigned i = 0; i < MAX_ITERS && t_now_ms() < end; i++) {
		struct slot *s = &mine[next++ % SLOTS];
		if (!atomic_load(&s->inflight)) {
			atomic_store(&s->inflight, 1);
			int r = cport_nop(port, &s->op);
			if (r == 0)
				atomic_fetch_add(&s->accepted, 1);
			else
				atomic_store(&s->inflight, 0), note(r);
		}
		cport_op *out[8];
		int k = cport_wait(port, out, 8, 0);
		if (k < 0)
			note(k);
		for (int j = 0; j < k; j++)
			reaped(out[j]);
		note(cport_submit(port));
	}
	return NULL;
}

static void two_threads_one_port(void **state)
{
	(void)state;
	memset(slots, 0, sizeof slots);
	port = t_port();
	pthread_t th[THREADS];
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, driver, slots[t]), 0);
	atomic_store(&go, 1);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	/* Drain from this thread alone until every accepted op came back (10 s bound). */
	unsigned accepted = 0, completed = 0;
	uint64_t end = t_now_ms() + 10000;
	for (;;) {
		accepted = completed = 0;
		for (int t = 0; t < THREADS; t++)
			for (int i = 0; i < SLOTS; i++) {
				accepted += atomic_load(&slots[t][i].accepted);
				completed += atomic_load(&slots[t][i].completed);
			}
		if (completed >= accepted || t_now_ms() > end)
			break;
		cport_op *out[64];
		int k = cport_wait(port, out, 64, 100 * 1000000LL);
		for (int j = 0; j < k; j++)
			reaped(out[j]);
	}
	cport_op *out[64];
	int extra = cport_wait(port, out, 64, 50 * 1000000LL);
	for (int j = 0; j < extra; j++)
		reaped(out[j]);
	unsigned lost = 0, twice = 0;
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < SLOTS; i++) {
			unsigned a = atomic_load(&slots[t][i].accepted);
			unsigned c = atomic_load(&slots[t][i].completed);
			lost += a > c ? a - c : 0;
			twice += c > a ? c - a : 0;
		}
	printf("regress-two-threads (%s): %u accepted, %u completions; EBUSY %u times; "
	       "%u lost, %u extra, %u reaped while not in flight, %u stray pointers, "
	       "%u other errors\n", t_backend(), accepted, completed, atomic_load(&ebusy), lost,
	       twice, atomic_load(&doubles), atomic_load(&strays), atomic_load(&other_errors));
	fflush(stdout);
	assert_int_equal(lost, 0);
	assert_int_equal(twice, 0);
	assert_int_equal(atomic_load(&doubles), 0);
	assert_int_equal(atomic_load(&strays), 0);
	assert_int_equal(atomic_load(&other_errors), 0);
	if (atomic_load(&ebusy) == 0)
		fail_msg("two threads drove one port at once for %d ms and no call said EBUSY",
			 RUN_MS);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(two_threads_one_port),
	};
	return T_MAIN("regress-two-threads", tests);
}
