/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #5): the largest timeouts and timers mean "far away", never "now". */

/*
 * Deadline arithmetic (now + timeout_ns, and conversions to timespec or milliseconds)
 * overflowed at several sites: a timeout of UINT64_MAX, INT64_MAX or UINT64_MAX - 1
 * nanoseconds (584 or 292 years) wrapped into the past and fired at once. Time must
 * saturate. An op with such a timeout, and a timer that far away, must still be in
 * flight after 200 ms; cancelled, it completes with CPORT_ECANCELED. cport_wait with a
 * timeout of INT64_MAX returns a ready completion at once, and waits for one to come.
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

static const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 1, (uint64_t)INT64_MAX,
				(uint64_t)INT64_MAX + 1};
#define NHUGE (sizeof huge / sizeof huge[0])

/* What went wrong, gathered so that one run reports every value that misbehaves. */
static char faults[2048];
static unsigned nfaults;

static void fault(const char *what, uint64_t v, int64_t r, const char *how)
{
	size_t used = strlen(faults);
	snprintf(faults + used, sizeof faults - used, "\n  %s %llu: %s %lld (%s)", what,
		 (unsigned long long)v, how, (long long)r, cport_err_name(r));
	nfaults++;
}

static void check_faults(void)
{
	unsigned n = nfaults;
	nfaults = 0;
	if (n) {
		fprintf(stderr, "%u faults:%s\n", n, faults);
		faults[0] = 0;
		fail_msg("%u huge values misbehaved (listed above)", n);
	}
}

/* `op` must not complete in 200 ms (polled in four waits); then it is cancelled and
 * must complete with CPORT_ECANCELED. */
static void stays_then_cancels(cport *port, cport_op *op, const char *what, uint64_t v)
{
	cport_op *out[1];
	for (int i = 0; i < 4; i++) {
		int n = cport_wait(port, out, 1, 50 * 1000000LL);
		if (n != 0) {
			assert_ptr_equal(out[0], op);
			fault(what, v, op->result, "completed within 200 ms with");
			return;
		}
	}
	assert_int_equal(cport_cancel(port, op), 0);
	int64_t r = t_run(port, op);
	if (r != CPORT_ECANCELED)
		fault(what, v, r, "cancelled, completed with");
}

/* A read on an idle pipe with a huge timeout_ns. */
static void read_with_huge_timeout(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	char buf[8];
	for (unsigned i = 0; i < NHUGE; i++) {
		cport_op op = {0};
		op.timeout_ns = huge[i];
		assert_int_equal(cport_read(port, &op, p[0], buf, sizeof buf, -1), 0);
		stays_then_cancels(port, &op, "pipe read with timeout_ns", huge[i]);
	}
	check_faults();
	/* With the timeout still huge, data completes the read normally. */
	cport_op op = {0};
	op.timeout_ns = UINT64_MAX;
	assert_int_equal(cport_read(port, &op, p[0], buf, sizeof buf, -1), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(t_write(p[1], "late", 4), 4);
	assert_int_equal(t_run(port, &op), 4);
	assert_memory_equal(buf, "late", 4);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

/* Relative timers of huge lengths, and an absolute timer at the end of time. */
static void huge_timers(void **state)
{
	(void)state;
	cport *port = t_port();
	for (unsigned i = 0; i < NHUGE; i++) {
		cport_op op = {0};
		assert_int_equal(cport_timer(port, &op, huge[i], 0), 0);
		stays_then_cancels(port, &op, "relative timer", huge[i]);
	}
	for (unsigned i = 0; i < NHUGE; i++) {
		cport_op op = {0};
		assert_int_equal(cport_timer(port, &op, huge[i], CPORT_TIMER_ABS), 0);
		stays_then_cancels(port, &op, "absolute timer", huge[i]);
	}
	check_faults();
	cport_destroy(port);
}

/* A huge timer with a huge timeout: neither fires. A short timer with a huge timeout:
 * the timer fires (0), not the timeout. */
static void timer_with_huge_timeout(void **state)
{
	(void)state;
	cport *port = t_port();
	for (unsigned i = 0; i < NHUGE; i++) {
		cport_op op = {0};
		op.timeout_ns = huge[i];
		assert_int_equal(cport_timer(port, &op, huge[i], 0), 0);
		stays_then_cancels(port, &op, "huge timer with timeout_ns", huge[i]);
		memset(&op, 0, sizeof op);
		op.timeout_ns = huge[i];
		assert_int_equal(cport_timer(port, &op, 20 * 1000000u, 0), 0);
		int64_t r = t_run(port, &op);
		if (r != 0)
			fault("20 ms timer with timeout_ns", huge[i], r, "completed with");
	}
	check_faults();
	cport_destroy(port);
}

/* ---- cport_wait(INT64_MAX), bounded by a watchdog ---- */

static atomic_int wd_armed;
static const char *wd_what;

static void *wd_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++) { /* 10 s */
		if (!atomic_load(&wd_armed))
			return NULL;
		t_sleep_us(10000);
	}
	fprintf(stderr, "FAIL (%s): %s did not return within 10 s\n", t_backend(), wd_what);
	fflush(stderr);
	_exit(1);
}

static int wait_watched(cport *port, cport_op **out, unsigned n, int64_t timeout,
			const char *what)
{
	pthread_t th;
	wd_what = what;
	atomic_store(&wd_armed, 1);
	assert_int_equal(pthread_create(&th, NULL, wd_main, NULL), 0);
	int k = cport_wait(port, out, n, timeout);
	atomic_store(&wd_armed, 0);
	pthread_join(th, NULL);
	return k;
}

static void wait_int64_max(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op nop = {0}, tm = {0};
	cport_op *out[4];
	/* A nop queued: returned at once. */
	assert_int_equal(cport_nop(port, &nop), 0);
	int k = wait_watched(port, out, 4, INT64_MAX, "cport_wait(INT64_MAX) with a nop queued");
	assert_int_equal(k, 1);
	assert_ptr_equal(out[0], &nop);
	assert_int_equal(nop.result, 0);
	/* A nop already completed and waiting in the port: returned at once too. */
	assert_int_equal(cport_nop(port, &nop), 0);
	assert_int_equal(cport_submit(port), 0);
	k = wait_watched(port, out, 4, INT64_MAX, "cport_wait(INT64_MAX) with a nop submitted");
	assert_int_equal(k, 1);
	assert_ptr_equal(out[0], &nop);
	/* Nothing ready yet: it waits for the 50 ms timer, and does not return 0 early. */
	assert_int_equal(cport_timer(port, &tm, 50 * 1000000u, 0), 0);
	k = wait_watched(port, out, 4, INT64_MAX, "cport_wait(INT64_MAX) for a 50 ms timer");
	if (k != 1)
		fail_msg("cport_wait(INT64_MAX) for a 50 ms timer returned %d (%s)", k,
			 k < 0 ? cport_err_name(k) : "completions");
	assert_ptr_equal(out[0], &tm);
	assert_int_equal(tm.result, 0);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(read_with_huge_timeout),
		cmocka_unit_test(huge_timers),
		cmocka_unit_test(timer_with_huge_timeout),
		cmocka_unit_test(wait_int64_max),
	};
	return T_MAIN("regress-timeout-max", tests);
}
