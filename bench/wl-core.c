/* SPDX-License-Identifier: MIT */
/* Workloads on cport without descriptors: nop and post round trips, cross-thread posts, timers. */

#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <cport.h>

int bport_create(const struct job *job, unsigned depth, cport **port, struct sample *s)
{
	cport_options o;
	cport_options_init(&o);
	o.backend = job->backend;
	o.flags = CPORT_OPT_STRICT;
	o.queue_depth = depth;
	/* The io_uring backend's hook that sends file ops to the thread pool: the
	 * "io_uring+pool" row measures the pool itself. Each run is its own process. */
	if (job->pool)
		setenv("CPORT_TEST_URING_POOL", "1", 1);
	int r = cport_create(port, &o);
	return r < 0 ? bench_fail(s, r, "cport_create") : 0;
}

/* Reap `want` completions that must all succeed (result >= 0). */
int bport_reap(cport *port, unsigned want, struct sample *s)
{
	cport_op *out[128];
	while (want > 0) {
		int k = cport_wait(port, out, want < 128 ? want : 128, -1);
		if (k < 0)
			return bench_fail(s, k, "cport_wait");
		for (int i = 0; i < k; i++)
			if (out[i]->result < 0)
				return bench_fail(s, (int)out[i]->result, "completion");
		want -= (unsigned)k;
	}
	return 0;
}

/* Batches of `param` nops or posts, each batch reaped before the next. */
static int core_batches(const struct job *job, struct sample *s, bool post)
{
	cport *port;
	int r = bport_create(job, 0, &port, s);
	if (r < 0)
		return r;
	unsigned b = job->param;
	cport_op *ops = calloc(b, sizeof *ops);
	uint64_t done = 0, warm = b;
	struct meter m;
	for (uint64_t round = 0; r == 0 && done < job->n + warm; round++) {
		if (done == warm)
			meter_start(&m);
		for (unsigned i = 0; i < b && r == 0; i++)
			r = post ? cport_post(port, &ops[i], (int64_t)i) : cport_nop(port, &ops[i]);
		if (r < 0)
			bench_fail(s, r, post ? "cport_post" : "cport_nop");
		else
			r = bport_reap(port, b, s);
		done += b;
	}
	if (r == 0)
		meter_stop(&m, s, done - warm);
	cport_destroy(port);
	free(ops);
	return r;
}

int wl_nop(const struct job *job, struct sample *s)
{
	return core_batches(job, s, false);
}

int wl_post(const struct job *job, struct sample *s)
{
	return core_batches(job, s, true);
}

/* ---- posts from another thread ---------------------------------------------------- */

#define REMOTE_OPS 64

struct remote {
	cport *port;
	cport_op ops[REMOTE_OPS];
	atomic_bool free_[REMOTE_OPS]; /* the port thread reaped it: the poster may reuse it */
	uint64_t n;
	atomic_int err;
	atomic_bool stop; /* the port thread failed: stop posting */
};

static void *remote_poster(void *arg)
{
	struct remote *rm = arg;
	for (uint64_t i = 0; i < rm->n; i++) {
		unsigned k = (unsigned)(i % REMOTE_OPS);
		while (!atomic_load_explicit(&rm->free_[k], memory_order_acquire))
			if (atomic_load(&rm->stop))
				return NULL;
			else
				sched_yield();
		atomic_store_explicit(&rm->free_[k], false, memory_order_relaxed);
		int r = cport_post(rm->port, &rm->ops[k], (int64_t)k);
		if (r < 0) {
			atomic_store(&rm->err, r);
			return NULL;
		}
	}
	return NULL;
}

/* Another thread posts n completions as fast as ops come back; this thread reaps. */
int wl_post_remote(const struct job *job, struct sample *s)
{
	struct remote *rm = calloc(1, sizeof *rm);
	int r = bport_create(job, 0, &rm->port, s);
	if (r < 0) {
		free(rm);
		return r;
	}
	rm->n = job->n;
	for (unsigned k = 0; k < REMOTE_OPS; k++)
		atomic_init(&rm->free_[k], true);
	pthread_t t;
	struct meter m;
	meter_start(&m);
	pthread_create(&t, NULL, remote_poster, rm);
	uint64_t got = 0;
	cport_op *out[REMOTE_OPS];
	while (got < rm->n && r == 0 && atomic_load(&rm->err) == 0) {
		int k = cport_wait(rm->port, out, REMOTE_OPS, 100 * 1000 * 1000);
		if (k < 0)
			r = bench_fail(s, k, "cport_wait");
		for (int i = 0; i < k; i++)
			atomic_store_explicit(&rm->free_[out[i]->result], true, memory_order_release);
		got += k > 0 ? (uint64_t)k : 0;
	}
	if (r == 0 && atomic_load(&rm->err) < 0)
		r = bench_fail(s, atomic_load(&rm->err), "cport_post");
	if (r == 0)
		meter_stop(&m, s, got);
	else
		atomic_store(&rm->stop, true);
	pthread_join(t, NULL);
	cport_destroy(rm->port);
	free(rm);
	return r;
}

/* ---- million-timers --------------------------------------------------------------- */

/* Timer i fires 1 ms + (i mod 1000) us after it was started: the same for every row. */
uint64_t timer_ns(uint64_t i)
{
	return 1000000u + (i % 1000u) * 1000u;
}

int wl_timers(const struct job *job, struct sample *s)
{
	cport *port;
	int r = bport_create(job, 0, &port, s);
	if (r < 0)
		return r;
	cport_op *ops = calloc(job->n, sizeof *ops);
	cport_op *out[256];
	uint64_t fired = 0;
	struct meter m;
	meter_start(&m);
	for (uint64_t i = 0; i < job->n && r == 0; i++) {
		if ((r = cport_timer(port, &ops[i], timer_ns(i), 0)) < 0)
			bench_fail(s, r, "cport_timer");
		/* Reap what fired as we go, as a program would: every 256 starts. */
		int k = (i & 255) == 255 ? cport_wait(port, out, 256, 0) : 0;
		for (int j = 0; j < k && r == 0; j++)
			if (out[j]->result != 0)
				r = bench_fail(s, (int)out[j]->result, "timer completion");
		fired += k > 0 ? (uint64_t)k : 0;
	}
	if (r == 0)
		r = bport_reap(port, (unsigned)(job->n - fired), s);
	if (r == 0)
		meter_stop(&m, s, job->n);
	cport_destroy(port);
	free(ops);
	return r;
}
