/* SPDX-License-Identifier: MIT */
/* Exactly one completion per accepted op (rule 2) under random cancellation (rule 6). */

/*
 * 100,000+ ops mixing file reads and writes, timers, nops, posts (from the port thread
 * and from a second thread), pipe reads with timeouts, and cancels of random ops in
 * flight. A ledger per op slot records what was submitted; every completion is checked
 * against it: the slot must be in flight, the result must be one the op may have, and
 * when everything is drained no slot may still be in flight and no completion may
 * arrive. The seed is printed; CPORT_TEST_SEED reruns one.
 */

#include "helpers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SLOTS = 512, TOTAL = 100000, BLK = 512 };

enum kind { K_NOP, K_TIMER, K_READ, K_WRITE, K_POST, K_PIPE, K_KINDS };

struct slot {
	cport_op op;
	enum kind kind;
	bool in_flight;
	bool cancelled;
	uint32_t gen;
	int64_t off;
	uint8_t buf[BLK];
};

static struct slot slots[SLOTS];
static uint64_t rng;
static unsigned counts[K_KINDS], cancels, cancelled_done, timed_out;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct world {
	cport *port;
	int file;
	int pipe_r, pipe_w;
};

static void submit_slot(struct world *w, struct slot *s, unsigned idx)
{
	s->kind = (enum kind)(next_rand() % K_KINDS);
	s->cancelled = false;
	s->gen++;
	memset(&s->op, 0, sizeof s->op);
	s->op.user = s;
	int r = 0;
	switch (s->kind) {
	case K_NOP:
		r = cport_nop(w->port, &s->op);
		break;
	case K_TIMER:
		if (next_rand() % 4 == 0)
			s->op.timeout_ns = next_rand() % 2000000;
		r = cport_timer(w->port, &s->op, next_rand() % 3000000, 0);
		break;
	case K_READ:
		s->off = (int64_t)(next_rand() % 256) * BLK;
		r = cport_read(w->port, &s->op, w->file, s->buf, BLK, s->off);
		break;
	case K_WRITE:
		/* Each slot writes its own block with its own pattern, so reads of other
		 * blocks stay checkable: block idx holds bytes (idx & 0xff). */
		memset(s->buf, (int)(idx & 0xff), BLK);
		r = cport_write(w->port, &s->op, w->file, s->buf, BLK, (int64_t)(256 + idx) * BLK);
		break;
	case K_POST:
		r = cport_post(w->port, &s->op, (int64_t)idx * 1000 + (s->gen % 1000));
		break;
	case K_PIPE:
		/* Nothing is ever written to this pipe: it ends by timeout or cancel. */
		s->op.timeout_ns = 1000000 + next_rand() % 3000000;
		r = cport_read(w->port, &s->op, w->pipe_r, s->buf, BLK, -1);
		break;
	case K_KINDS:
		break;
	}
	assert_int_equal(r, 0);
	s->in_flight = true;
	counts[s->kind]++;
}

static void check_result(struct slot *s, unsigned idx)
{
	int64_t r = s->op.result;
	if (r == CPORT_ECANCELED) {
		assert_true(s->cancelled);
		cancelled_done++;
		return;
	}
	switch (s->kind) {
	case K_NOP:
		assert_int_equal(r, 0);
		break;
	case K_TIMER:
		if (r == CPORT_ETIMEDOUT) {
			assert_true(s->op.timeout_ns != 0);
			timed_out++;
		} else {
			assert_int_equal(r, 0);
		}
		break;
	case K_READ:
		assert_int_equal(r, BLK);
		for (int i = 0; i < BLK; i++)
			assert_int_equal(s->buf[i], t_pattern((uint64_t)s->off + (uint64_t)i));
		break;
	case K_WRITE:
		assert_int_equal(r, BLK);
		break;
	case K_POST:
		assert_int_equal(r, (int64_t)idx * 1000 + (s->gen % 1000));
		break;
	case K_PIPE:
		assert_int_equal(r, CPORT_ETIMEDOUT);
		timed_out++;
		break;
	case K_KINDS:
		break;
	}
}

/* A second thread posts its own ops while the port thread works. */
enum { REMOTE = 4096 };
static struct remote {
	cport *port;
	cport_op ops[REMOTE];
	uint8_t seen[REMOTE];
	unsigned reaped;
} rm;

static void remote_reaped(cport_op *op)
{
	ptrdiff_t i = op - rm.ops;
	assert_true(i >= 0 && i < REMOTE);
	assert_int_equal(op->result, i);
	if (rm.seen[i]++)
		fail_msg("remote post %td completed twice", i);
	rm.reaped++;
}

static void reap_some(struct world *w, unsigned *done, int64_t timeout_ns)
{
	cport_op *out[64];
	int k = cport_wait(w->port, out, 64, timeout_ns);
	assert_true(k >= 0);
	for (int i = 0; i < k; i++) {
		struct slot *s = out[i]->user;
		if (s == NULL) { /* the other thread's post */
			remote_reaped(out[i]);
			continue;
		}
		unsigned idx = (unsigned)(s - slots);
		assert_true(idx < SLOTS);
		assert_ptr_equal(out[i], &s->op);
		if (!s->in_flight)
			fail_msg("slot %u (kind %d) completed twice", idx, s->kind);
		check_result(s, idx);
		s->in_flight = false;
		(*done)++;
	}
}

static void cancel_some(struct world *w)
{
	for (int n = 0; n < 8; n++) {
		struct slot *s = &slots[next_rand() % SLOTS];
		if (!s->in_flight)
			continue;
		int r = cport_cancel(w->port, &s->op);
		assert_int_equal(r, 0);
		s->cancelled = true;
		cancels++;
	}
}

static void *remote_poster(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < REMOTE; i++) {
		rm.ops[i].user = NULL;
		if (cport_post(rm.port, &rm.ops[i], i) != 0)
			abort();
		if (i % 64 == 0)
			t_sleep_us(100);
	}
	return NULL;
}

static void random_mix(void **state)
{
	(void)state;
	const char *seed = getenv("CPORT_TEST_SEED");
	rng = seed ? strtoull(seed, NULL, 0) : (cport_now_ns() | 1);
	printf("exactly-once: seed %llu\n", (unsigned long long)rng);
	struct world w = {.port = t_port(), .file = t_file(256 * BLK)};
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	w.pipe_r = p[0];
	w.pipe_w = p[1];
	rm.port = w.port;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, remote_poster, &rm), 0);

	unsigned submitted = 0, done = 0;
	while (submitted < TOTAL) {
		for (unsigned i = 0; i < SLOTS && submitted < TOTAL; i++)
			if (!slots[i].in_flight && next_rand() % 2) {
				submit_slot(&w, &slots[i], i);
				submitted++;
			}
		cancel_some(&w);
		reap_some(&w, &done, 1000000000LL);
	}
	uint64_t end = t_now_ms() + 30000;
	while (done < submitted && t_now_ms() < end)
		reap_some(&w, &done, 100000000LL);
	pthread_join(th, NULL);
	while (rm.reaped < REMOTE && t_now_ms() < end)
		reap_some(&w, &done, 100000000LL);
	/* Nothing more may arrive. */
	cport_op *out[1];
	assert_int_equal(cport_wait(w.port, out, 1, 50000000LL), 0);
	assert_int_equal(done, submitted);
	assert_int_equal(rm.reaped, REMOTE);
	for (unsigned i = 0; i < SLOTS; i++)
		assert_false(slots[i].in_flight);
	printf("exactly-once: %u ops (nop %u, timer %u, read %u, write %u, post %u, pipe %u), "
	       "%u cancels, %u ECANCELED, %u ETIMEDOUT, %u remote posts\n",
	       submitted, counts[K_NOP], counts[K_TIMER], counts[K_READ], counts[K_WRITE],
	       counts[K_POST], counts[K_PIPE], cancels, cancelled_done, timed_out,
	       rm.reaped);
	assert_true(cancelled_done > 0);
	t_close(p[0]);
	t_close(p[1]);
	t_close(w.file);
	cport_destroy(w.port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_mix),
	};
	return T_MAIN("exactly-once", tests);
}
