/* SPDX-License-Identifier: MIT */
/* Shared ports (CPORT_OPT_SHARED): many threads submit, wait and cancel on one port. */

/*
 * cport.h section 3b. Each test bounds its time (T_BOUND_MS) so a hang fails instead
 * of stalling CI; the bounds are generous for a busy machine (and a TSan build). Worker
 * threads never call cmocka (its failures leave by longjmp): they record what went
 * wrong (t_bad) and the test thread checks after joining them.
 */

#include "helpers.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h> /* Windows: mingw-w64's winpthreads */
#ifndef _WIN32
#include <sys/socket.h>
#include <unistd.h>
#endif

enum { T_BOUND_MS = 60000 };

/* A shared port on the backend under test, or a skip where the backend has none. */
static cport *shared_port(uint32_t concurrency)
{
	cport_options o;
	char reason[256] = "";
	cport_options_init(&o);
	o.flags = CPORT_OPT_STRICT | CPORT_OPT_SHARED;
	o.concurrency = concurrency;
	o.reason = reason;
	o.reason_len = sizeof reason;
	cport *port = NULL;
	int r = cport_create(&port, &o);
	if (r == CPORT_ENOTSUP)
		t_skip("%s has no shared-port mode yet (cport.h section 7)", t_backend());
	if (r < 0)
		t_create_failed(r, reason);
	return port;
}

/* Bad input: every refusal is clear and changes nothing. */
static void test_bad_input(void **state)
{
	(void)state;
	cport_options o;
	cport *port = (cport *)&o; /* must be overwritten with NULL on failure */
	cport_options_init(&o);
	o.flags = CPORT_OPT_SHARED | CPORT_OPT_SINGLE_THREAD;
	assert_int_equal(cport_create(&port, &o), CPORT_EINVAL);
	assert_null(port);
	cport_options_init(&o);
	o.concurrency = 2; /* without the flag */
	assert_int_equal(cport_create(&port, &o), CPORT_EINVAL);
	cport_options_init(&o);
	o.flags = CPORT_OPT_SHARED;
	o.concurrency = 1025;
	assert_int_equal(cport_create(&port, &o), CPORT_EINVAL);
	assert_int_equal(cport_stop(NULL), CPORT_EINVAL);
	cport *plain = t_port();
	assert_int_equal(cport_stop(plain), CPORT_EINVAL); /* only shared ports stop */
	cport_destroy(plain);

	port = shared_port(1024);
	cport_op op;
	memset(&op, 0, sizeof op);
	assert_int_equal(cport_nop(port, &op), 0);
	assert_int_equal(cport_wait_op(port, &op, 0), CPORT_ENOTSUP);
	cport_op *out[2];
	assert_int_equal(cport_wait(port, out, 2, 10000000000LL), 1);
	assert_ptr_equal(out[0], &op);
	assert_int_equal(cport_wait(port, out, 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_stop(port), 0);
	assert_int_equal(cport_stop(port), CPORT_ESHUTDOWN);
	/* Every call after the stop says so and changes nothing. */
	t_dirty_op(&op);
	cport_op before = op;
	assert_int_equal(cport_nop(port, &op), CPORT_ESHUTDOWN);
	assert_int_equal(cport_post(port, &op, 1), CPORT_ESHUTDOWN);
	assert_memory_equal(&op, &before, sizeof op);
	assert_int_equal(cport_cancel(port, &op), CPORT_ESHUTDOWN);
	assert_int_equal(cport_submit(port), CPORT_ESHUTDOWN);
	assert_int_equal(cport_wait(port, out, 2, 0), CPORT_ESHUTDOWN);
	assert_int_equal(cport_wait(port, out, 2, -1), CPORT_ESHUTDOWN);
	assert_string_equal(cport_err_name(CPORT_ESHUTDOWN), "ESHUTDOWN");
	cport_destroy(port);
}

/* What went wrong on a worker thread (the first message is kept). */
static atomic_uint t_bad_count;
static char t_bad_msg[256];
static pthread_mutex_t t_bad_mu = PTHREAD_MUTEX_INITIALIZER;

static void t_bad(const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&t_bad_mu);
	if (atomic_fetch_add(&t_bad_count, 1) == 0) {
		va_start(ap, fmt);
		vsnprintf(t_bad_msg, sizeof t_bad_msg, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&t_bad_mu);
}

static void t_bad_reset(void)
{
	atomic_store(&t_bad_count, 0);
	t_bad_msg[0] = '\0';
}

static void t_bad_check(void)
{
	if (atomic_load(&t_bad_count))
		fail_msg("%u failures on worker threads; first: %s", atomic_load(&t_bad_count),
			 t_bad_msg);
}

/* A connected stream pair: a socketpair (Unix), loopback TCP (Windows). */
static void stream_pair(cport_fd sv[2])
{
#ifdef _WIN32
	t_tcp_pair(sv);
#else
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
#endif
}

static void start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	assert_int_equal(pthread_create(t, NULL, fn, arg), 0);
}

/* ---- The exactly-once ledger ------------------------------------------------------- */

/*
 * 4 threads share one port. Each owns LEDGER_OPS ops and resubmits one once whichever
 * thread reaped it marks it free; each submission has a sequence number, and every
 * completion, reaped by any thread, counts it in `seen` (must end at exactly 1 each).
 * The mix: nops, posts, short timers, long timers cancelled by their owner, file reads
 * and writes on a temp file, sends and receives on each thread's socketpair, and closes
 * of duplicated descriptors; at the end each thread closes its socketpair through the
 * port, which cancels the receives still waiting.
 */
enum { LEDGER_THREADS = 4, LEDGER_OPS = 64, LEDGER_TOTAL = 100000, LEDGER_IO = 512 };
enum { K_NOP, K_POST, K_TIMER, K_LONG, K_READ, K_WRITE, K_SEND, K_RECV, K_CLOSE, K_KINDS };

struct lrec {
	cport_op op;
	int kind;
	uint32_t seq;
	atomic_int free;
	uint8_t buf[LEDGER_IO];
};

struct lthread {
	int id;
	cport_fd sv[2];
	bool pair_open;
	struct lrec ops[LEDGER_OPS];
};

static cport *lport;
static cport_fd lfile;
#ifdef _WIN32
static char lclose_path[300]; /* K_CLOSE's file (ledger_new_fd) */
#endif
static atomic_uchar *lseen;
static atomic_uint lseq, lcompleted, ldone_threads, lstopped;
/* A close of a duplicated descriptor is in flight: until the port has its completion,
 * the number is "being closed" there, even once the kernel reuses it for a new dup (a
 * submit on it would be CPORT_EBADF, as cport.h says): one at a time. */
static atomic_int lclosing;
static atomic_ullong lsent, lrecvd;
static struct lthread lthreads[LEDGER_THREADS];

static void ledger_reaped(cport_op *op)
{
	struct lrec *r = op->user;
	if (!r) {
		t_bad("an op without its record came back");
		return;
	}
	if (atomic_fetch_add(&lseen[r->seq], 1) != 0)
		t_bad("submission %u (kind %d) reaped twice", r->seq, r->kind);
	int64_t res = op->result;
	bool ok;
	switch (r->kind) {
	case K_POST:
		ok = res == (int64_t)r->seq;
		break;
	case K_LONG:
		ok = res == CPORT_ECANCELED || res == 0;
		break;
	case K_READ:
	case K_WRITE:
		ok = res == LEDGER_IO;
		break;
	case K_SEND:
		/* CPORT_ECANCELED: still waiting (a full socket) when the pair's close came,
		 * which cancels it (loopback TCP under Wine; a socketpair drains faster). */
		ok = res == LEDGER_IO || res == CPORT_ECANCELED;
		break;
	case K_RECV:
		/* 0: end of stream, once the pair's closes began (sv[0] first) */
		ok = (res >= 0 && res <= LEDGER_IO) || res == CPORT_ECANCELED;
		if (res > 0)
			atomic_fetch_add(&lrecvd, (unsigned long long)res);
		break;
	case K_CLOSE:
		if (r->seq < LEDGER_TOTAL)
			atomic_store(&lclosing, 0);
		ok = res == 0;
		break;
	default:
		ok = res == 0;
	}
	if (!ok)
		t_bad("kind %d: result %lld (%s)", r->kind, (long long)res, cport_err_name(res));
	atomic_fetch_add(&lcompleted, 1);
	atomic_store_explicit(&r->free, 1, memory_order_release);
}

/* A new descriptor for K_CLOSE: a dup of the ledger's file (Unix); on Windows a new
 * handle of a small file of its own (a duplicated handle shares its file object, whose
 * completion port is set once). */
static bool ledger_new_fd(cport_fd *fd)
{
#ifdef _WIN32
	*fd = t_open_rdonly(lclose_path); /* fails the test if it cannot */
	return true;
#else
	*fd = dup(lfile);
	return *fd >= 0;
#endif
}

static int ledger_submit(struct lthread *t, struct lrec *r, int kind)
{
	cport_op *op = &r->op;
	int64_t off = (int64_t)(r->seq % 128) * LEDGER_IO;
	op->user = r;
	op->flags = 0;
	op->timeout_ns = 0;
	switch (kind) {
	case K_NOP:
		return cport_nop(lport, op);
	case K_POST:
		return cport_post(lport, op, r->seq);
	case K_TIMER:
		return cport_timer(lport, op, (r->seq % 200) * 1000u, 0);
	case K_LONG:
		return cport_timer(lport, op, 30000000000ull, 0);
	case K_READ:
		return cport_read(lport, op, lfile, r->buf, LEDGER_IO, off);
	case K_WRITE:
		memset(r->buf, (int)(r->seq & 0xff), LEDGER_IO);
		return cport_write(lport, op, lfile, r->buf, LEDGER_IO, off);
	case K_SEND: {
		memset(r->buf, 'a' + t->id, LEDGER_IO);
		int e = cport_send(lport, op, t->sv[0], r->buf, LEDGER_IO, 0);
		if (e == 0)
			atomic_fetch_add(&lsent, LEDGER_IO);
		return e;
	}
	case K_RECV:
		return cport_recv(lport, op, t->sv[1], r->buf, LEDGER_IO, 0);
	default: {
		cport_fd d;
		if (!ledger_new_fd(&d))
			return CPORT_EMFILE;
		int e = cport_close(lport, op, d);
		if (e < 0)
			t_close(d);
		return e;
	}
	}
}

static void ledger_cancel(struct lrec **long_timer);

/* Submit on one free op of this thread; false if none is free or the quota is used. */
static bool ledger_one(struct lthread *t, unsigned *turn, struct lrec **long_timer)
{
	for (int i = 0; i < LEDGER_OPS; i++) {
		struct lrec *r = &t->ops[(*turn + (unsigned)i) % LEDGER_OPS];
		if (!atomic_load_explicit(&r->free, memory_order_acquire))
			continue;
		uint32_t seq = atomic_fetch_add(&lseq, 1);
		if (seq >= LEDGER_TOTAL) {
			atomic_fetch_sub(&lseq, 1);
			return false;
		}
		int kind = (int)(seq % K_KINDS);
		if (kind == K_CLOSE && atomic_exchange(&lclosing, 1))
			kind = K_NOP; /* a close is in flight */
		atomic_store(&r->free, 0);
		r->seq = seq;
		r->kind = kind;
		int e = ledger_submit(t, r, kind);
		if (e < 0) {
			t_bad("submit of kind %d: %s", kind, cport_err_name(e));
			atomic_store(&r->free, 1);
			atomic_fetch_add(&lseen[seq], 1);
			atomic_fetch_add(&lcompleted, 1); /* counted, so the test ends */
			return false;
		}
		if (kind == K_LONG) {
			ledger_cancel(long_timer); /* the one before, if still there */
			*long_timer = r;
		}
		(*turn)++;
		return true;
	}
	return false;
}

/* The owner of a record may cancel it: only the owner submits it again. */
static void ledger_cancel(struct lrec **long_timer)
{
	struct lrec *r = *long_timer;
	if (!r)
		return;
	*long_timer = NULL;
	int e = cport_cancel(lport, &r->op);
	if (e < 0 && e != CPORT_ENOENT)
		t_bad("cancel: %s", cport_err_name(e));
}

static void ledger_reap(int64_t timeout_ns)
{
	cport_op *out[16];
	int n = cport_wait(lport, out, 16, timeout_ns);
	if (n < 0)
		t_bad("cport_wait: %s", cport_err_name(n));
	for (int i = 0; i < n; i++)
		ledger_reaped(out[i]);
}

/* The socketpair's last act: closes through the port (they cancel waiting receives). */
static void ledger_close_pair(struct lthread *t)
{
	static struct lrec closes[LEDGER_THREADS][2];
	for (int s = 0; s < 2; s++) {
		struct lrec *r = &closes[t->id][s];
		memset(&r->op, 0, sizeof r->op);
		r->kind = K_CLOSE;
		r->seq = LEDGER_TOTAL + (uint32_t)(t->id * 2 + s);
		r->op.user = r;
		int e = cport_close(lport, &r->op, t->sv[s]);
		if (e < 0)
			t_bad("close of the socketpair: %s", cport_err_name(e));
	}
}

static void *ledger_thread(void *arg)
{
	struct lthread *t = arg;
	unsigned turn = 0;
	struct lrec *long_timer = NULL;
	uint64_t end = t_now_ms() + T_BOUND_MS;
	bool submitting = true;
	while (t_now_ms() < end) {
		for (int i = 0; submitting && i < 8; i++)
			if (!ledger_one(t, &turn, &long_timer) && atomic_load(&lseq) >= LEDGER_TOTAL) {
				submitting = false;
				atomic_fetch_add(&lstopped, 1);
			}
		/* Once nobody submits (no dup can take the pair's numbers meanwhile). */
		if (!submitting && long_timer == NULL && t->pair_open &&
		    atomic_load(&lstopped) == LEDGER_THREADS) {
			ledger_close_pair(t);
			t->pair_open = false;
			atomic_fetch_add(&ldone_threads, 1);
		}
		ledger_cancel(&long_timer);
		ledger_reap(submitting ? 0 : 10000000);
		if (atomic_load(&ldone_threads) == LEDGER_THREADS &&
		    atomic_load(&lcompleted) == LEDGER_TOTAL + 2 * LEDGER_THREADS)
			break;
	}
	return NULL;
}

static void test_exactly_once(void **state)
{
	(void)state;
	t_bad_reset();
	lport = shared_port(0);
	lfile = t_file(128 * LEDGER_IO);
#ifdef _WIN32
	t_path(lclose_path, sizeof lclose_path, "shared-close");
	FILE *f = fopen(lclose_path, "wb");
	assert_non_null(f);
	fclose(f);
#endif
	lseen = calloc(LEDGER_TOTAL + 2 * LEDGER_THREADS, sizeof *lseen);
	assert_non_null(lseen);
	atomic_store(&lseq, 0);
	atomic_store(&lcompleted, 0);
	atomic_store(&ldone_threads, 0);
	atomic_store(&lstopped, 0);
	atomic_store(&lclosing, 0);
	atomic_store(&lsent, 0);
	atomic_store(&lrecvd, 0);
	pthread_t th[LEDGER_THREADS];
	uint64_t t0 = t_now_ms();
	for (int i = 0; i < LEDGER_THREADS; i++) {
		struct lthread *t = &lthreads[i];
		memset(t, 0, sizeof *t);
		t->id = i;
		stream_pair(t->sv);
		t->pair_open = true;
		for (int j = 0; j < LEDGER_OPS; j++)
			atomic_store(&t->ops[j].free, 1);
	}
	for (int i = 0; i < LEDGER_THREADS; i++)
		start(&th[i], ledger_thread, &lthreads[i]);
	for (int i = 0; i < LEDGER_THREADS; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "# %s: %d ops on %d threads in %llu ms\n", t_backend(), LEDGER_TOTAL,
		LEDGER_THREADS, (unsigned long long)(t_now_ms() - t0));
	t_bad_check();
	assert_int_equal(atomic_load(&lcompleted), LEDGER_TOTAL + 2 * LEDGER_THREADS);
	for (uint32_t s = 0; s < LEDGER_TOTAL + 2 * LEDGER_THREADS; s++)
		if (atomic_load(&lseen[s]) != 1)
			fail_msg("submission %u reaped %u times", s, atomic_load(&lseen[s]));
	assert_true(atomic_load(&lrecvd) <= atomic_load(&lsent));
	free(lseen);
	t_close(lfile);
	cport_destroy(lport);
}

/* ---- LIFO wake order --------------------------------------------------------------- */

struct lifo_waiter {
	cport *port;
	cport_op *got;
	int n;
};

static void *lifo_wait(void *arg)
{
	struct lifo_waiter *w = arg;
	w->n = cport_wait(w->port, &w->got, 1, (int64_t)T_BOUND_MS * 1000000);
	return NULL;
}

/* Three threads start waiting 200 ms apart; posts one at a time go to the newest
 * waiter still waiting: the third, then the second, then the first (which sleeps in
 * the kernel as the leader, woken last). */
static void test_lifo(void **state)
{
	(void)state;
	cport *port = shared_port(8);
	struct lifo_waiter w[3];
	pthread_t th[3];
	cport_op posts[3];
	memset(posts, 0, sizeof posts);
	for (int i = 0; i < 3; i++) {
		w[i] = (struct lifo_waiter){.port = port};
		start(&th[i], lifo_wait, &w[i]);
		t_sleep_us(200000);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cport_post(port, &posts[i], i), 0);
		pthread_join(th[2 - i], NULL);
		assert_int_equal(w[2 - i].n, 1);
		assert_ptr_equal(w[2 - i].got, &posts[i]);
		assert_int_equal(w[2 - i].got->result, i);
	}
	cport_destroy(port);
}

/* ---- The concurrency limit --------------------------------------------------------- */

enum { CONC_THREADS = 3, CONC_POSTS = 300 };
static atomic_int conc_running, conc_max;
static atomic_uint conc_reaped;

static void *conc_thread(void *arg)
{
	cport *port = arg;
	uint64_t end = t_now_ms() + T_BOUND_MS;
	while (atomic_load(&conc_reaped) < CONC_POSTS && t_now_ms() < end) {
		cport_op *op;
		int n = cport_wait(port, &op, 1, 20000000);
		if (n < 0) {
			t_bad("cport_wait: %s", cport_err_name(n));
			break;
		}
		if (n == 0)
			continue;
		int now = atomic_fetch_add(&conc_running, 1) + 1;
		int m = atomic_load(&conc_max);
		while (now > m && !atomic_compare_exchange_weak(&conc_max, &m, now))
			;
		t_sleep_us(200); /* run the completion a while */
		atomic_fetch_sub(&conc_running, 1);
		atomic_fetch_add(&conc_reaped, 1);
	}
	return NULL;
}

/* Concurrency 1, three threads: never two between a cport_wait that returned ops and
 * their next cport_wait. */
static void test_concurrency_limit(void **state)
{
	(void)state;
	t_bad_reset();
	atomic_store(&conc_running, 0);
	atomic_store(&conc_max, 0);
	atomic_store(&conc_reaped, 0);
	cport *port = shared_port(1);
	static cport_op posts[CONC_POSTS];
	memset(posts, 0, sizeof posts);
	pthread_t th[CONC_THREADS];
	for (int i = 0; i < CONC_THREADS; i++)
		start(&th[i], conc_thread, port);
	for (int i = 0; i < CONC_POSTS; i++) {
		assert_int_equal(cport_post(port, &posts[i], i), 0);
		if (i % 8 == 0)
			t_sleep_us(100);
	}
	for (int i = 0; i < CONC_THREADS; i++)
		pthread_join(th[i], NULL);
	t_bad_check();
	assert_int_equal(atomic_load(&conc_reaped), CONC_POSTS);
	assert_int_equal(atomic_load(&conc_max), 1);
	cport_destroy(port);
}

/* ---- Followers timing out while completions are handed to them -------------------- */

/*
 * A follower sleeps on its own condition variable and returns what it was handed
 * without the port's mutex; one that times out takes the mutex to leave the stack, and
 * may find it was handed completions in between. Four threads wait with timeouts of 1
 * to 64 us while the test thread posts TO_POSTS ops in bursts: each post is reaped
 * exactly once, and every thread ends (no lost wake-up, no waiter left on the stack).
 */
enum { TO_THREADS = 4, TO_POSTS = 50000 };
static atomic_uchar *to_seen;
static atomic_uint to_reaped;

static void *to_thread(void *arg)
{
	cport *port = arg;
	uint64_t end = t_now_ms() + T_BOUND_MS;
	unsigned turn = 0;
	while (atomic_load(&to_reaped) < TO_POSTS && t_now_ms() < end) {
		cport_op *out[4];
		int64_t timeout = (int64_t)(1000u << (turn++ % 7)); /* 1 to 64 us */
		int n = cport_wait(port, out, 1 + turn % 4, timeout);
		if (n < 0) {
			t_bad("cport_wait: %s", cport_err_name(n));
			break;
		}
		for (int i = 0; i < n; i++) {
			if (out[i]->result < 0 || out[i]->result >= TO_POSTS ||
			    atomic_fetch_add(&to_seen[out[i]->result], 1) != 0)
				t_bad("post %lld reaped twice or unknown", (long long)out[i]->result);
			atomic_fetch_add(&to_reaped, 1);
		}
	}
	return NULL;
}

static void test_follower_timeouts(void **state)
{
	(void)state;
	t_bad_reset();
	atomic_store(&to_reaped, 0);
	cport *port = shared_port(TO_THREADS); /* first: it may skip, by longjmp */
	to_seen = calloc(TO_POSTS, 1);
	cport_op *posts = calloc(TO_POSTS, sizeof *posts);
	assert_non_null(to_seen);
	assert_non_null(posts);
	pthread_t th[TO_THREADS];
	for (int i = 0; i < TO_THREADS; i++)
		start(&th[i], to_thread, port);
	for (int i = 0; i < TO_POSTS; i++) {
		assert_int_equal(cport_post(port, &posts[i], i), 0);
		if (i % 64 == 63)
			t_sleep_us(20 * (unsigned)(i / 64 % 5)); /* bursts, and pauses past timeouts */
	}
	for (int i = 0; i < TO_THREADS; i++)
		pthread_join(th[i], NULL);
	t_bad_check();
	assert_int_equal(atomic_load(&to_reaped), TO_POSTS);
	for (int i = 0; i < TO_POSTS; i++)
		assert_int_equal(atomic_load(&to_seen[i]), 1);
	cport_destroy(port);
	free(posts);
	free(to_seen);
}

/* ---- The submitting thread asleep, or busy ----------------------------------------- */

/*
 * On io_uring an op's completion work runs in the thread that submitted it, at its next
 * entry into the kernel (cport.h section 7, shared ports): a sleeping thread is woken
 * for it, a running one runs it at its next system call or scheduler tick, and the
 * kernel runs that of a thread that has ended. Thread L waits first and leads (asleep
 * in the kernel); thread S then submits a receive and waits too (asleep as a
 * follower), or computes without a system call, or ends. The test thread writes the
 * peer end: the receive must complete, whoever reaps it.
 */
enum sub_mode { SUB_ASLEEP, SUB_BUSY, SUB_GONE };

struct sub_ctx {
	cport *port;
	cport_fd fd;
	cport_op recv, release;
	char buf[8];
	enum sub_mode mode;
	atomic_int reaped;  /* the receive's completion, counted by whoever reaps it */
	atomic_int spun;    /* S was still computing when the receive was reaped */
	atomic_int s_done;  /* S stopped computing */
};

static void sub_reap(struct sub_ctx *c, int64_t bound_ns)
{
	cport_op *out[2];
	int n = cport_wait(c->port, out, 2, bound_ns);
	if (n < 0)
		t_bad("cport_wait: %s", cport_err_name(n));
	for (int i = 0; i < n; i++)
		if (out[i] == &c->recv) {
			atomic_store(&c->spun, c->mode == SUB_BUSY && !atomic_load(&c->s_done));
			atomic_fetch_add(&c->reaped, 1);
		}
}

static void *sub_leader(void *arg)
{
	struct sub_ctx *c = arg;
	uint64_t end = t_now_ms() + T_BOUND_MS;
	while (atomic_load(&c->reaped) == 0 && t_now_ms() < end)
		sub_reap(c, 100000000);
	return NULL;
}

static void *sub_submitter(void *arg)
{
	struct sub_ctx *c = arg;
	int r = cport_recv(c->port, &c->recv, c->fd, c->buf, sizeof c->buf, 0);
	if (r < 0) {
		t_bad("cport_recv: %s", cport_err_name(r));
		return NULL;
	}
	uint64_t end = t_now_ms() + T_BOUND_MS;
	if (c->mode == SUB_GONE)
		return NULL;
	if (c->mode == SUB_BUSY) {
		/* No system call until the receive is reaped (or the hang bound): t_now_ms
		 * reads the clock through the vDSO, checked once per million rounds. */
		volatile uint64_t x = 1;
		for (unsigned i = 1; atomic_load(&c->reaped) == 0; i++) {
			x = x * 6364136223846793005ull + 1;
			if (i % 1000000 == 0 && t_now_ms() >= end)
				break;
		}
		atomic_store(&c->s_done, 1);
		return NULL;
	}
	while (atomic_load(&c->reaped) == 0 && t_now_ms() < end)
		sub_reap(c, 100000000);
	return NULL;
}

static bool sub_nohz_full(void)
{
#ifdef __linux__
	char line[64] = "";
	FILE *f = fopen("/sys/devices/system/cpu/nohz_full", "r");
	if (!f)
		return false;
	bool some = fgets(line, sizeof line, f) && line[0] != '\n' && line[0] != '\0' &&
		    strncmp(line, "(null)", 6) != 0;
	fclose(f);
	return some;
#else
	return false;
#endif
}

static void submitter_case(enum sub_mode mode)
{
	t_bad_reset();
	if (mode == SUB_BUSY && sub_nohz_full())
		t_skip("CPUs with nohz_full run no tick: a thread computing without a system "
		       "call holds its io_uring completion work back (cport.h section 7)");
	static struct sub_ctx c;
	memset(&c, 0, sizeof c);
	c.port = shared_port(2);
	c.mode = mode;
	cport_fd sv[2];
	stream_pair(sv);
	c.fd = sv[0];
	pthread_t l, sub;
	start(&l, sub_leader, &c);
	t_sleep_us(200000); /* L asleep in the kernel, leading (a generous guess) */
	start(&sub, sub_submitter, &c);
	if (mode == SUB_GONE)
		pthread_join(sub, NULL);
	t_sleep_us(200000); /* S's receive submitted, S asleep or computing */
	t_write_all(sv[1], "12345678", 8);
	if (mode != SUB_GONE)
		pthread_join(sub, NULL);
	pthread_join(l, NULL);
	t_bad_check();
	assert_int_equal(atomic_load(&c.reaped), 1);
	if (mode == SUB_GONE && strcmp(cport_backend_name(c.port), "io_uring") == 0) {
		/* The kernel ties the op to the thread that handed it over (cport.h
		 * section 7, io_uring): that thread's end ends it. */
		assert_int_equal(c.recv.result, CPORT_ECANCELED);
	} else {
		assert_int_equal(c.recv.result, 8);
		assert_memory_equal(c.buf, "12345678", 8);
	}
	if (mode == SUB_BUSY) /* reaped by L while S still computed: its tick ran the work */
		assert_int_equal(atomic_load(&c.spun), 1);
	t_close(sv[1]);
	assert_int_equal(cport_close(c.port, &c.release, sv[0]), 0);
	t_run(c.port, &c.release);
	cport_destroy(c.port);
}

static void test_submitter_asleep(void **state)
{
	(void)state;
	submitter_case(SUB_ASLEEP);
}

static void test_submitter_busy(void **state)
{
	(void)state;
	submitter_case(SUB_BUSY);
}

static void test_submitter_gone(void **state)
{
	(void)state;
	submitter_case(SUB_GONE);
}

/* ---- Stop while threads wait ------------------------------------------------------- */

struct stop_waiter {
	cport *port;
	int r;
};

static void *stop_wait(void *arg)
{
	struct stop_waiter *w = arg;
	cport_op *op;
	w->r = cport_wait(w->port, &op, 1, (int64_t)T_BOUND_MS * 1000000);
	return NULL;
}

/* Three threads wait; ops stay in flight (a timer, a receive, a pool op's file read);
 * cport_stop makes every waiter return CPORT_ESHUTDOWN; destroy then stops the ops. */
static void test_stop_while_waiting(void **state)
{
	(void)state;
	cport *port = shared_port(0);
	cport_fd sv[2];
	stream_pair(sv);
	cport_op timer, recv;
	memset(&timer, 0, sizeof timer);
	memset(&recv, 0, sizeof recv);
	char buf[16];
	assert_int_equal(cport_timer(port, &timer, 60000000000ull, 0), 0);
	assert_int_equal(cport_recv(port, &recv, sv[1], buf, sizeof buf, 0), 0);
	struct stop_waiter w[3];
	pthread_t th[3];
	for (int i = 0; i < 3; i++) {
		w[i] = (struct stop_waiter){.port = port, .r = 1};
		start(&th[i], stop_wait, &w[i]);
	}
	t_sleep_us(200000); /* all three asleep in cport_wait (a generous guess) */
	uint64_t t0 = t_now_ms();
	assert_int_equal(cport_stop(port), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].r, CPORT_ESHUTDOWN);
	}
	assert_true(t_now_ms() - t0 < T_BOUND_MS);
	cport_destroy(port);
	t_close(sv[0]);
	t_close(sv[1]);
}

/* ---- Sends from two threads on one stream ------------------------------------------- */

enum { SEND_THREADS = 2, SENDS_EACH = 8, SEND_LEN = 256 * 1024 };

struct send_ctx {
	cport *port;
	int fd;
	int id;
	atomic_uint *done;
	uint8_t *bufs; /* SENDS_EACH x SEND_LEN */
	cport_op ops[SENDS_EACH];
};

static void *send_thread(void *arg)
{
	struct send_ctx *c = arg;
	for (int i = 0; i < SENDS_EACH; i++) {
		uint8_t *b = c->bufs + (size_t)i * SEND_LEN;
		memset(b, 1 + c->id * SENDS_EACH + i, SEND_LEN); /* its tag */
		int e = cport_send(c->port, &c->ops[i], c->fd, b, SEND_LEN, 0);
		if (e < 0)
			t_bad("send: %s", cport_err_name(e));
	}
	uint64_t end = t_now_ms() + T_BOUND_MS;
	while (atomic_load(c->done) < SEND_THREADS * SENDS_EACH && t_now_ms() < end) {
		cport_op *out[4];
		int n = cport_wait(c->port, out, 4, 10000000);
		for (int i = 0; i < n; i++) {
			if (out[i]->result != SEND_LEN)
				t_bad("send result %lld", (long long)out[i]->result);
			atomic_fetch_add(c->done, 1);
		}
		if (n < 0)
			t_bad("cport_wait: %s", cport_err_name(n));
	}
	return NULL;
}

struct reader {
	cport_fd fd;
	size_t got;
	int runs;
	bool bad;
	bool seen[1 + SEND_THREADS * SENDS_EACH];
};

/* Reads the stream plainly: it must be runs of SEND_LEN bytes of one tag each. */
static void *read_thread(void *arg)
{
	struct reader *r = arg;
	static uint8_t buf[65536];
	size_t total = (size_t)SEND_THREADS * SENDS_EACH * SEND_LEN, in_run = 0;
	int tag = -1;
	while (r->got < total) {
		int64_t n = t_sock_recv(r->fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (int64_t i = 0; i < n; i++) {
			if (in_run == 0) {
				tag = buf[i];
				if (tag < 1 || tag > SEND_THREADS * SENDS_EACH || r->seen[tag])
					r->bad = true;
				else
					r->seen[tag] = true;
				r->runs++;
			} else if (buf[i] != tag) {
				r->bad = true; /* another send's bytes inside this one */
			}
			in_run = (in_run + 1) % SEND_LEN;
		}
		r->got += (size_t)n;
	}
	return NULL;
}

static void test_sends_never_interleave(void **state)
{
	(void)state;
	t_bad_reset();
	cport *port = shared_port(0);
	cport_fd sv[2];
	stream_pair(sv);
	atomic_uint done = 0;
	struct send_ctx c[SEND_THREADS];
	struct reader rd = {.fd = sv[1]};
	pthread_t th[SEND_THREADS], reader;
	start(&reader, read_thread, &rd);
	for (int i = 0; i < SEND_THREADS; i++) {
		c[i] = (struct send_ctx){.port = port, .fd = sv[0], .id = i, .done = &done};
		c[i].bufs = malloc((size_t)SENDS_EACH * SEND_LEN);
		assert_non_null(c[i].bufs);
		memset(c[i].ops, 0, sizeof c[i].ops);
		start(&th[i], send_thread, &c[i]);
	}
	for (int i = 0; i < SEND_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_join(reader, NULL);
	t_bad_check();
	assert_int_equal(atomic_load(&done), SEND_THREADS * SENDS_EACH);
	assert_false(rd.bad);
	assert_int_equal(rd.runs, SEND_THREADS * SENDS_EACH);
	assert_int_equal(rd.got, (size_t)SEND_THREADS * SENDS_EACH * SEND_LEN);
	for (int i = 0; i < SEND_THREADS; i++)
		free(c[i].bufs);
	cport_destroy(port);
	t_close(sv[0]);
	t_close(sv[1]);
}

/* ---- A multishot op's completions are lent ---------------------------------------- */

enum { MS_CLIENTS = 40 };
static cport_op ms_acc, ms_close;
static atomic_int ms_held, ms_final, ms_closed, ms_by_close;
static atomic_uint ms_accepted;
static atomic_llong ms_last;

static void *ms_thread(void *arg)
{
	cport *port = arg;
	uint64_t end = t_now_ms() + T_BOUND_MS;
	while (!(atomic_load(&ms_final) && (!atomic_load(&ms_by_close) || atomic_load(&ms_closed))) &&
	       t_now_ms() < end) {
		cport_op *op;
		int n = cport_wait(port, &op, 1, 20000000);
		if (n < 0) {
			t_bad("cport_wait: %s", cport_err_name(n));
			break;
		}
		if (n == 0)
			continue;
		if (op == &ms_close) {
			if (op->result != 0)
				t_bad("close: %s", cport_err_name(op->result));
			atomic_store(&ms_closed, 1);
			continue;
		}
		if (op != &ms_acc) {
			t_bad("a stranger came back");
			continue;
		}
		if (atomic_exchange(&ms_held, 1))
			t_bad("two threads hold the accept's completions at once");
		int64_t res = op->result;
		uint32_t more = op->cflags & CPORT_MORE;
		t_sleep_us(2000); /* hold it a while: its next connection must wait */
		if (op->result != res)
			t_bad("the completion changed while its thread held it");
		atomic_store(&ms_held, 0);
		if (res >= 0) {
			t_close((cport_fd)res);
			atomic_fetch_add(&ms_accepted, 1);
		}
		if (!more) {
			atomic_store(&ms_last, res);
			atomic_store(&ms_final, 1);
		}
	}
	return NULL;
}

/* Two threads reap a multishot accept's completions: never both at once, each intact
 * while its thread holds it; a cancel (or a close of the listener) while one is held
 * ends the op with CPORT_ECANCELED once that thread waits again. */
static void multishot_lent(bool by_close)
{
	t_bad_reset();
	atomic_store(&ms_by_close, by_close);
	atomic_store(&ms_closed, 0);
	atomic_store(&ms_held, 0);
	atomic_store(&ms_final, 0);
	atomic_store(&ms_accepted, 0);
	cport *port = shared_port(4);
	cport_addr a;
	cport_fd l = t_listen(&a);
	memset(&ms_acc, 0, sizeof ms_acc);
	assert_int_equal(cport_accept(port, &ms_acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		start(&th[i], ms_thread, port);
	cport_fd c[MS_CLIENTS];
	for (int i = 0; i < MS_CLIENTS; i++)
		c[i] = t_connect(&a);
	uint64_t end = t_now_ms() + T_BOUND_MS;
	while (atomic_load(&ms_accepted) < MS_CLIENTS && t_now_ms() < end)
		t_sleep_us(1000);
	if (by_close) {
		memset(&ms_close, 0, sizeof ms_close);
		assert_int_equal(cport_close(port, &ms_close, l), 0);
		while (!atomic_load(&ms_closed) && t_now_ms() < end)
			t_sleep_us(1000);
		assert_int_equal(atomic_load(&ms_closed), 1);
	} else {
		assert_int_equal(cport_cancel(port, &ms_acc), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	t_bad_check();
	assert_int_equal(atomic_load(&ms_accepted), MS_CLIENTS);
	assert_int_equal(atomic_load(&ms_final), 1);
	assert_int_equal(atomic_load(&ms_last), CPORT_ECANCELED);
	for (int i = 0; i < MS_CLIENTS; i++)
		t_close(c[i]);
	cport_destroy(port);
	if (!by_close)
		t_close(l);
}

static void test_multishot_lent(void **state)
{
	(void)state;
	multishot_lent(false);
}

static void test_multishot_lent_close(void **state)
{
	(void)state;
	multishot_lent(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_lifo),
		cmocka_unit_test(test_concurrency_limit),
		cmocka_unit_test(test_follower_timeouts),
		cmocka_unit_test(test_submitter_asleep),
		cmocka_unit_test(test_submitter_busy),
		cmocka_unit_test(test_submitter_gone),
		cmocka_unit_test(test_stop_while_waiting),
		cmocka_unit_test(test_sends_never_interleave),
		cmocka_unit_test(test_multishot_lent),
		cmocka_unit_test(test_multishot_lent_close),
		cmocka_unit_test(test_exactly_once),
	};
	return T_MAIN("shared-port", tests);
}
