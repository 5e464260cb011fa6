/* SPDX-License-Identifier: MIT */
/* Shared ports: many threads on one port, as IOCP serves them (CPORT_OPT_SHARED). */

/*
 * Map
 *   1. State: the mutex, the waiters' LIFO stack, the busy slots
 *   2. Handing completions out: to a thread's array, lending CPORT_MORE ones
 *   3. Entry and exit of every public call; posts; cancels of lent ops; cport_stop
 *   4. cport_wait: leader and followers
 *
 * docs/design.md "Shared ports" gives the design and why. In short: one mutex taken by
 * every call; one thread at a time (the leader) sleeps in the engine's kernel wait
 * without it (the engine's `block` slot); the others sleep on their own condition
 * variable in a LIFO stack, and whoever queues completions moves them straight into
 * the newest sleeper's array: each completion is handed to exactly one thread.
 */

#include "internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#ifdef _WIN32
#include <windows.h> /* GetSystemInfo; pthreads are mingw-w64's winpthreads */
#else
#include <unistd.h>
#endif

/* ---- 1. State ---------------------------------------------------------------------- */

/* CPORT_MORE completions one thread may hold at once on a port: a batch stops before
 * one that would not fit (it stays queued for another thread or the next call). */
#define SHARED_LENT 16
#define SHARED_MAX_CONCURRENCY 1024
/* Ready completions counted when a leader splits a batch (more are split as this many). */
#define SHARED_COUNT_CAP 4096

/* A thread counted busy: it returned from cport_wait with completions and has not
 * called it again. `lent`: the CPORT_MORE ones it holds. */
struct shared_slot {
	pthread_t tid;
	bool used;
	unsigned nlent;
	cport_op *lent[SHARED_LENT];
	int64_t end[SHARED_LENT]; /* SHARED_NO_END, or the op's last result, which came
	                             while lent (a close, a timeout): delivered when the
	                             thread gives the op back */
};
#define SHARED_NO_END INT64_MIN

/* A follower: a thread asleep in cport_wait, on its own stack. Completions handed to
 * it go straight into its array (`n`); `woken` without any: lead, or see the stop.
 * It sleeps on its own mutex and condition variable, not the port's: one handed
 * completions returns without taking the port's mutex again, which the thread that
 * woke it still holds (sleeping on the port's mutex made every hand-over two wake-ups:
 * the signal, then the mutex). `woken` is written with both mutexes held. */
struct shared_waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct shared_waiter *next; /* toward older waiters */
	pthread_t tid;
	cport_op **out;
	unsigned max, n;
	bool woken;
};

struct cport__shared {
	pthread_mutex_t mu;
	struct shared_waiter *top; /* the newest follower */
	bool leader;               /* a thread is in the engine's `block` */
	bool stopped;              /* cport_stop */
	uint64_t leader_until;     /* when the leader's sleep ends (UINT64_MAX: never) */
	uint32_t conc, busy;
	struct shared_slot *slots; /* `conc` of them; `busy` used */
};

static uint32_t shared_cpus(void)
{
#ifdef _WIN32
	SYSTEM_INFO si;
	GetSystemInfo(&si);
	long n = (long)si.dwNumberOfProcessors;
#else
	long n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
	return n < 1 ? 1 : n > SHARED_MAX_CONCURRENCY ? SHARED_MAX_CONCURRENCY : (uint32_t)n;
}

int cport__shared_create(cport *port, uint32_t concurrency)
{
	struct cport__shared *sh = calloc(1, sizeof *sh);
	if (!sh)
		return CPORT_ENOMEM;
	sh->conc = concurrency ? concurrency : shared_cpus();
	sh->slots = calloc(sh->conc, sizeof *sh->slots);
	if (!sh->slots || pthread_mutex_init(&sh->mu, NULL) != 0) {
		free(sh->slots);
		free(sh);
		return CPORT_ENOMEM;
	}
	port->sh = sh;
	return 0;
}

/* Destroy: no thread is in a call on the port any more (cport.h). */
void cport__shared_free(cport *port)
{
	struct cport__shared *sh = port->sh;
	if (!sh)
		return;
	assert(!sh->top && !sh->leader);
	pthread_mutex_destroy(&sh->mu);
	free(sh->slots);
	free(sh);
	port->sh = NULL;
}

static struct shared_slot *shared_slot_of(struct cport__shared *sh, pthread_t tid)
{
	for (uint32_t i = 0; i < sh->conc; i++)
		if (sh->slots[i].used && pthread_equal(sh->slots[i].tid, tid))
			return &sh->slots[i];
	return NULL;
}

static struct shared_slot *shared_slot_free(struct cport__shared *sh)
{
	for (uint32_t i = 0; i < sh->conc; i++)
		if (!sh->slots[i].used)
			return &sh->slots[i];
	return NULL;
}

/* Wake the leader from its kernel wait, once per sleep (the `notified` handshake). */
static void shared_wake_leader(cport *port)
{
	if (port->sh->leader && atomic_load(&port->sleeping) &&
	    !atomic_exchange(&port->notified, true))
		port->be->wake(port);
}

/* Wake follower `w`, already off the stack, its `n` set. The caller holds the port's
 * mutex; `w` is not touched after its own mutex is released (its thread may return). */
static void shared_waiter_wake(struct shared_waiter *w)
{
	pthread_mutex_lock(&w->mu);
	w->woken = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* ---- 2. Handing completions out ---------------------------------------------------- */

/* Up to `max` ready completions into `out`, for thread `tid`, if fewer than `conc`
 * threads are busy: it takes a slot (busy) and holds the CPORT_MORE ones. */
static unsigned shared_take(cport *port, pthread_t tid, cport_op **out, unsigned max)
{
	struct cport__shared *sh = port->sh;
	if (!port->ready.head || sh->busy >= sh->conc || sh->stopped)
		return 0;
	struct shared_slot *s = shared_slot_free(sh);
	assert(s); /* busy < conc */
	unsigned n = 0;
	while (n < max && port->ready.head) {
		cport_op *op = port->ready.head;
		bool more = (op->cflags & CPORT_MORE) != 0;
		if (more && s->nlent == SHARED_LENT)
			break;
		cport__queue_pop(&port->ready);
		out[n++] = op;
		cport__bufpool_handed(port, op);
		if (more) {
			s->end[s->nlent] = SHARED_NO_END;
			s->lent[s->nlent++] = op; /* keeps CPORT__X_UNREAPED until given back */
		} else
			cport__op_reaped(port, op);
	}
	if (n) {
		s->used = true;
		s->tid = tid;
		sh->busy++;
	}
	return n;
}

/* Ready completions to the followers, newest first, while threads may run them: up
 * to `share` each (and their own `max`). */
static void shared_hand(cport *port, unsigned share)
{
	struct cport__shared *sh = port->sh;
	cport__drain_remote(port);
	while (port->ready.head && sh->top && sh->busy < sh->conc) {
		struct shared_waiter *w = sh->top;
		sh->top = w->next;
		w->n = shared_take(port, w->tid, w->out, w->max < share ? w->max : share);
		shared_waiter_wake(w);
	}
}

/* The same, and with no follower left for them, the leader is woken to take them. */
static void shared_kick(cport *port)
{
	struct cport__shared *sh = port->sh;
	shared_hand(port, UINT_MAX);
	if (port->ready.head && sh->busy < sh->conc)
		shared_wake_leader(port);
}

/* Thread `tid` is back in cport_wait: it is not busy any more, and the CPORT_MORE
 * completions it held may be followed by the next (the leader runs what engines held
 * back; a cancel asked meanwhile reaches the engine now). */
static void shared_give_back(cport *port, pthread_t tid)
{
	struct cport__shared *sh = port->sh;
	struct shared_slot *s = shared_slot_of(sh, tid);
	if (!s)
		return;
	for (unsigned i = 0; i < s->nlent; i++) {
		cport_op *op = s->lent[i];
		struct cport__op *x = cport__x(op);
		/* Ended since (a close while lent) and maybe submitted again: not ours. */
		if (x->state != CPORT__INFLIGHT || x->port != port ||
		    !(x->xflags & CPORT__X_UNREAPED))
			continue;
		x->xflags &= (uint8_t)~CPORT__X_UNREAPED;
		if (s->end[i] != SHARED_NO_END) {
			op->cflags = 0; /* its last completion, after the one lent */
			cport__complete(port, op, s->end[i]);
			continue;
		}
		if (x->xflags & CPORT__X_CANCEL_LATER) {
			x->xflags &= (uint8_t)~CPORT__X_CANCEL_LATER;
			port->be->cancel(port, op);
		}
	}
	if (s->nlent)
		shared_wake_leader(port);
	s->nlent = 0;
	s->used = false;
	sh->busy--;
}

/* ---- 3. Entry and exit of the public calls ----------------------------------------- */

int cport__shared_enter(cport *port)
{
	struct cport__shared *sh = port->sh;
	pthread_mutex_lock(&sh->mu);
	if (sh->stopped) {
		pthread_mutex_unlock(&sh->mu);
		return CPORT_ESHUTDOWN;
	}
	return 0;
}

/* A deadline the call added (a timer, a timeout) before the leader's wake-up. */
static bool shared_deadline_sooner(cport *port)
{
	struct cport__shared *sh = port->sh;
	if (!sh->leader || sh->leader_until == 0)
		return false;
	int64_t t = cport__deadlines_sleep_ns(port, -1);
	return t >= 0 && cport__add_sat(cport_now_ns(), (uint64_t)t) < sh->leader_until;
}

void cport__shared_leave(cport *port)
{
	/* While a leader sleeps in the kernel, the call's work reaches the kernel now: the
	 * leader waits without submitting. With no leader, the next one submits it in its
	 * round, with everything else the busy threads submitted meanwhile (one system call
	 * for all of them on io_uring, not one per call); no follower can be handed
	 * completions meanwhile (a leader leaves while one could: shared_lead). A flush
	 * error leaves the SQEs queued for the leader's next round. */
	if (port->sh->leader)
		(void)port->be->flush(port);
	shared_kick(port);
	if (shared_deadline_sooner(port)) {
		port->sh->leader_until = 0; /* one wake for it */
		shared_wake_leader(port);
	}
	pthread_mutex_unlock(&port->sh->mu);
}

int cport__shared_post(cport *port, cport_op *op)
{
	cport__deliver(port, op);
	shared_kick(port);
	pthread_mutex_unlock(&port->sh->mu);
	return 0;
}

/* Where `op` is lent: its slot's end entry, or NULL. */
static int64_t *shared_lent_end(cport *port, cport_op *op)
{
	struct cport__shared *sh = port->sh;
	if (!(cport__x(op)->xflags & CPORT__X_UNREAPED))
		return NULL;
	for (uint32_t i = 0; i < sh->conc; i++)
		for (unsigned j = 0; sh->slots[i].used && j < sh->slots[i].nlent; j++)
			if (sh->slots[i].lent[j] == op)
				return &sh->slots[i].end[j];
	return NULL;
}

bool cport__shared_lent(cport *port, cport_op *op)
{
	return shared_lent_end(port, op) != NULL;
}

bool cport__shared_end_later(cport *port, cport_op *op, int64_t result)
{
	int64_t *end = shared_lent_end(port, op);
	if (!end)
		return false;
	*end = result;
	return true;
}

static void shared_pass_lead(struct cport__shared *sh);

int cport_stop(cport *port)
{
	if (!port || !port->sh)
		return CPORT_EINVAL;
	int r = cport__shared_enter(port);
	if (r < 0)
		return r;
	struct cport__shared *sh = port->sh;
	sh->stopped = true;
	while (sh->top)
		shared_pass_lead(sh); /* each returns CPORT_ESHUTDOWN, seeing the stop */
	shared_wake_leader(port);
	pthread_mutex_unlock(&sh->mu);
	return 0;
}

/* ---- 4. cport_wait: leader and followers ------------------------------------------- */

int64_t cport__shared_sleep_ns(cport *port, int64_t timeout_ns)
{
	struct cport__shared *sh = port->sh;
	if (sh->stopped || (port->ready.head && sh->busy < sh->conc)) {
		sh->leader_until = 0;
		return 0;
	}
	int64_t t = cport__deadlines_sleep_ns(port, timeout_ns);
	sh->leader_until = t < 0 ? UINT64_MAX : cport__add_sat(cport_now_ns(), (uint64_t)t);
	return t;
}

void cport__shared_unlock(cport *port)
{
	pthread_mutex_unlock(&port->sh->mu);
}

void cport__shared_relock(cport *port)
{
	pthread_mutex_lock(&port->sh->mu);
}

/* What a wait is for, and until when. */
struct shared_wait {
	pthread_t self;
	cport_op **out;
	unsigned max;
	int64_t timeout_ns;
	uint64_t deadline; /* timeout_ns > 0: when it ends */
	bool unlocked;     /* returns handed completions without the port's mutex */
};

/* Time left (< 0 forever, 0 none). */
static int64_t shared_left(const struct shared_wait *w)
{
	if (w->timeout_ns <= 0)
		return w->timeout_ns;
	return cport__ns_until(w->deadline, cport_now_ns());
}

/* A leader that leaves hands leading to the newest follower (woken with nothing). */
static void shared_pass_lead(struct cport__shared *sh)
{
	struct shared_waiter *w = sh->top;
	if (!w)
		return;
	sh->top = w->next;
	w->n = 0;
	shared_waiter_wake(w);
}

/* How many of the ready completions each thread that may run them now gets: the
 * leader and the followers, as many as the concurrency limit lets run. */
static unsigned shared_share(cport *port)
{
	struct cport__shared *sh = port->sh;
	unsigned k = 0, takers = 1;
	for (cport_op *op = port->ready.head; op && k < SHARED_COUNT_CAP; op = cport__x(op)->next)
		k++;
	for (struct shared_waiter *w = sh->top; w && sh->busy + takers < sh->conc; w = w->next)
		takers++;
	return (k + takers - 1) / takers;
}

/* Lead one round: the engine sleeps in the kernel (without the mutex) and delivers
 * what came. The leader is awake already: it keeps its share and runs it at once (a
 * hand-over to a sleeping follower first would cost a wake-up on every batch's path);
 * the rest goes to the followers, newest first, a share each. While followers may
 * still take completions, the newest of the rest leads next. */
static int shared_lead(cport *port, struct shared_wait *w)
{
	struct cport__shared *sh = port->sh;
	sh->leader = true;
	int r = port->be->block(port, shared_left(w));
	sh->leader = false;
	sh->leader_until = 0;
	cport__run_released(port);
	cport__drain_remote(port);
	unsigned share = r < 0 ? 0 : shared_share(port);
	int n = r < 0 ? r : (int)shared_take(port, w->self, w->out, w->max < share ? w->max : share);
	shared_hand(port, share ? share : UINT_MAX);
	if ((n > 0 && sh->busy < sh->conc) || n < 0 || shared_left(w) == 0 || sh->stopped)
		shared_pass_lead(sh);
	return n;
}

/* A follower's condition variable, timed on cport_now_ns's clock (CLOCK_MONOTONIC). */
static void shared_cv_init(pthread_cond_t *cv)
{
#ifdef _WIN32
	pthread_cond_init(cv, NULL); /* timed relative to now: shared_cv_wait */
#else
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
#endif
}

/* Wait on `cv` until signalled or cport_now_ns() reaches `deadline` (ETIMEDOUT). On
 * Windows cport_now_ns is QueryPerformanceCounter, which winpthreads' absolute waits
 * do not use: the time left is given instead. */
static int shared_cv_wait(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline)
{
#ifdef _WIN32
	uint64_t now = cport_now_ns();
	if (now >= deadline)
		return ETIMEDOUT;
	uint64_t left = deadline - now;
	struct timespec ts = {.tv_sec = (time_t)(left / 1000000000u),
			      .tv_nsec = (long)(left % 1000000000u)};
	return pthread_cond_timedwait_relative_np(cv, mu, &ts);
#else
	struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
			      .tv_nsec = (long)(deadline % 1000000000u)};
	return pthread_cond_timedwait(cv, mu, &ts);
#endif
}

/* Sleep as a follower until handed completions, told to lead, stopped, or timed out.
 * Returns the count handed (0: go round again, or the time is up). Handed them while
 * asleep, it returns without the port's mutex (w->unlocked); else with it held. */
static unsigned shared_follow(cport *port, struct shared_wait *w)
{
	struct cport__shared *sh = port->sh;
	struct shared_waiter me = {.tid = w->self, .out = w->out, .max = w->max};
	pthread_mutex_init(&me.mu, NULL);
	shared_cv_init(&me.cv);
	me.next = sh->top;
	sh->top = &me;
	pthread_mutex_unlock(&sh->mu);
	pthread_mutex_lock(&me.mu);
	int err = 0;
	while (!me.woken && err == 0) {
		if (w->timeout_ns < 0)
			pthread_cond_wait(&me.cv, &me.mu);
		else
			err = shared_cv_wait(&me.cv, &me.mu, w->deadline);
	}
	bool woken = me.woken;
	pthread_mutex_unlock(&me.mu);
	w->unlocked = woken && me.n != 0;
	if (!w->unlocked)
		pthread_mutex_lock(&sh->mu);
	if (!woken && !me.woken) { /* timed out: still on the stack */
		struct shared_waiter **p = &sh->top;
		while (*p != &me)
			p = &(*p)->next;
		*p = me.next;
	}
	/* Woken: its waker let go of `me` with me.mu; timed out: it holds sh->mu now, and
	 * wakers hold it throughout. */
	pthread_cond_destroy(&me.cv);
	pthread_mutex_destroy(&me.mu);
	return me.n;
}

static int shared_loop(cport *port, struct shared_wait *w)
{
	struct cport__shared *sh = port->sh;
	for (;;) {
		if (sh->stopped)
			return CPORT_ESHUTDOWN;
		cport__drain_remote(port);
		int n = (int)shared_take(port, w->self, w->out, w->max);
		if (n)
			return n;
		if (!sh->leader) {
			n = shared_lead(port, w);
			if (n != 0)
				return sh->stopped && n < 0 ? CPORT_ESHUTDOWN : n;
		} else if (shared_left(w) != 0) {
			n = (int)shared_follow(port, w);
			if (n)
				return n;
		}
		if (shared_left(w) == 0)
			return sh->stopped ? CPORT_ESHUTDOWN : 0;
	}
}

int cport__shared_wait(cport *port, cport_op **out, unsigned max, int64_t timeout_ns)
{
	struct cport__shared *sh = port->sh;
	struct shared_wait w = {.self = pthread_self(), .out = out, .max = max,
				.timeout_ns = timeout_ns};
	if (timeout_ns > 0)
		w.deadline = cport__deadline_in((uint64_t)timeout_ns);
	int r = cport__shared_enter(port);
	if (r < 0)
		return r;
	shared_give_back(port, w.self);
	/* A chain must end before the port is driven (as cport_wait_enter). */
	r = port->chain.open ? CPORT_EINVAL : shared_loop(port, &w);
	if (w.unlocked) /* a follower handed completions: its waker handed the rest too */
		return r;
	shared_kick(port);
	pthread_mutex_unlock(&sh->mu);
	return r;
}
