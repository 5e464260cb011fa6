/* SPDX-License-Identifier: MIT */
/* Unit test of the deadline heap (lib/timer.c): random use against a reference, and a million timers. */

#include "helpers.h"
#include "internal.h"

#include <stdlib.h>

/* A small deterministic generator: the same sequence on every run and platform. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* The reference: the earliest deadline <= now among ops in the set, or NULL. */
static cport_op *ref_earliest(cport_op *ops, const bool *in, int n, uint64_t now)
{
	cport_op *best = NULL;
	for (int i = 0; i < n; i++)
		if (in[i] && cport__x(&ops[i])->deadline <= now &&
		    (!best || cport__x(&ops[i])->deadline < cport__x(best)->deadline))
			best = &ops[i];
	return best;
}

static void random_against_reference(void **state)
{
	(void)state;
	enum { N = 300, STEPS = 200000 };
	static cport_op ops[N];
	bool in[N] = {false};
	int count = 0;
	struct cport__timers t = {0};
	for (int step = 0; step < STEPS; step++) {
		int i = (int)(rng() % N);
		uint64_t now = rng() % 1000;
		switch (rng() % 3) {
		case 0: /* add (or remove if present) */
			if (!in[i]) {
				assert_int_equal(cport__timers_add(&t, &ops[i], rng() % 1000), 0);
				in[i] = true;
				count++;
			} else {
				cport__timers_remove(&t, &ops[i]);
				in[i] = false;
				count--;
			}
			break;
		case 1: /* remove, present or not */
			cport__timers_remove(&t, &ops[i]);
			count -= in[i];
			in[i] = false;
			break;
		default: { /* pop: the deadline must be the earliest due one (ties: any) */
			cport_op *want = ref_earliest(ops, in, N, now);
			cport_op *got = cport__timers_pop_expired(&t, now);
			assert_true((want == NULL) == (got == NULL));
			if (got) {
				assert_int_equal(cport__x(got)->deadline, cport__x(want)->deadline);
				assert_int_equal(cport__x(got)->heap_idx, 0);
				in[got - ops] = false;
				count--;
			}
		}
		}
		assert_int_equal(t.len, (uint32_t)count);
		cport_op *first = ref_earliest(ops, in, N, UINT64_MAX);
		int64_t next = cport__timers_next_ns(&t, now);
		if (!first)
			assert_int_equal(next, -1);
		else if (cport__x(first)->deadline <= now)
			assert_int_equal(next, 0);
		else
			assert_int_equal(next, (int64_t)(cport__x(first)->deadline - now));
	}
	cport__timers_free(&t);
}

static void million_timers(void **state)
{
	(void)state;
	enum { N = 1000000 };
	cport_op *ops = calloc(N, sizeof *ops);
	assert_non_null(ops);
	struct cport__timers t = {0};
	uint64_t t0 = cport_now_ns();
	for (int i = 0; i < N; i++)
		assert_int_equal(cport__timers_add(&t, &ops[i], rng() % 1000000000u), 0);
	uint64_t t1 = cport_now_ns();
	uint64_t last = 0;
	for (int i = 0; i < N; i++) {
		cport_op *op = cport__timers_pop_expired(&t, UINT64_MAX);
		assert_non_null(op);
		assert_true(cport__x(op)->deadline >= last);
		last = cport__x(op)->deadline;
	}
	uint64_t t2 = cport_now_ns();
	assert_null(cport__timers_pop_expired(&t, UINT64_MAX));
	/* Printed, never asserted: a test checks behaviour, not speed (bench/ has the
	 * million-timers benchmark). A hang is caught by Meson's timeout for this test. */
	print_message("1M timers: add %.1f ms, pop in order %.1f ms\n", (double)(t1 - t0) / 1e6,
		      (double)(t2 - t1) / 1e6);
	cport__timers_free(&t);
	free(ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_against_reference),
		cmocka_unit_test(million_timers),
	};
	return T_MAIN("timer-heap", tests);
}
