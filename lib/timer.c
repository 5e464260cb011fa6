/* SPDX-License-Identifier: MIT */
/* A deadline heap of ops: timers and per-op timeouts for backends whose kernel keeps none. */

/*
 * An intrusive pairing heap ordered by opx.deadline: each op carries its own links
 * (hchild: first child; hnext: next sibling; hprev: previous sibling, or the parent for
 * a first child), so adding a timer never allocates, whether there are ten or ten
 * million. Add and meld are O(1); pop and remove are O(log n) amortized, with the
 * two-pass pairing done in loops (no recursion, so no stack depth to bound). opx.heap_idx
 * is 1 while an op is in a heap. Ties keep no order: ops due at the same nanosecond fire
 * in any order.
 */

#include "internal.h"

static struct cport__op *N(cport_op *op)
{
	return cport__x(op);
}

/* Two roots become one: the later deadline becomes the first child of the earlier. */
static cport_op *heap_meld(cport_op *a, cport_op *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (N(b)->deadline < N(a)->deadline) {
		cport_op *t = a;
		a = b;
		b = t;
	}
	N(b)->hnext = N(a)->hchild;
	if (N(a)->hchild)
		N(N(a)->hchild)->hprev = b;
	N(b)->hprev = a;
	N(a)->hchild = b;
	return a;
}

/* Detach a node from its siblings and parent (its own subtree stays with it). */
static void heap_cut(cport_op *op)
{
	cport_op *prev = N(op)->hprev, *next = N(op)->hnext;
	if (prev) {
		if (N(prev)->hchild == op)
			N(prev)->hchild = next;
		else
			N(prev)->hnext = next;
	}
	if (next)
		N(next)->hprev = prev;
	N(op)->hprev = N(op)->hnext = NULL;
}

/* Merge a list of sibling subtrees into one: meld pairs left to right, then fold the
 * results right to left (the two passes that give the amortized O(log n)). */
static cport_op *heap_merge_pairs(cport_op *first)
{
	cport_op *pairs = NULL; /* melded pairs, newest first, linked through hnext */
	while (first) {
		cport_op *a = first, *b = N(a)->hnext;
		first = b ? N(b)->hnext : NULL;
		N(a)->hprev = N(a)->hnext = NULL;
		if (b)
			N(b)->hprev = N(b)->hnext = NULL;
		cport_op *m = heap_meld(a, b);
		N(m)->hnext = pairs;
		pairs = m;
	}
	cport_op *root = NULL;
	while (pairs) {
		cport_op *next = N(pairs)->hnext;
		N(pairs)->hnext = NULL;
		root = heap_meld(root, pairs);
		pairs = next;
	}
	return root;
}

/* Add op to fire at deadline_ns. Never fails (the int is for the callers' symmetry
 * with other start paths). */
int cport__timers_add(struct cport__timers *t, cport_op *op, uint64_t deadline_ns)
{
	assert(N(op)->heap_idx == 0);
	N(op)->deadline = deadline_ns;
	N(op)->hchild = N(op)->hnext = N(op)->hprev = NULL;
	N(op)->heap_idx = 1;
	t->root = heap_meld(t->root, op);
	t->len++;
	return 0;
}

/* Take op out of the heap; a no-op if it is not in it. */
void cport__timers_remove(struct cport__timers *t, cport_op *op)
{
	if (N(op)->heap_idx == 0)
		return;
	assert(t->len > 0);
	cport_op *kids = N(op)->hchild;
	N(op)->hchild = NULL;
	if (op == t->root) {
		t->root = heap_merge_pairs(kids);
	} else {
		heap_cut(op);
		t->root = heap_meld(t->root, heap_merge_pairs(kids));
	}
	N(op)->heap_idx = 0;
	t->len--;
}

/* The earliest op whose deadline is <= now, taken out of the heap; NULL if none. */
cport_op *cport__timers_pop_expired(struct cport__timers *t, uint64_t now_ns)
{
	cport_op *op = t->root;
	if (!op || N(op)->deadline > now_ns)
		return NULL;
	cport__timers_remove(t, op);
	return op;
}

/* Nanoseconds until the earliest deadline (0 if already due), or -1 if empty. */
int64_t cport__timers_next_ns(const struct cport__timers *t, uint64_t now_ns)
{
	if (!t->root)
		return -1;
	return cport__ns_until(N(t->root)->deadline, now_ns);
}

/* Forget every op in the heap (the port is going away; the ops are the caller's). */
void cport__timers_free(struct cport__timers *t)
{
	t->root = NULL;
	t->len = 0;
}

/* ---- The port's deadlines ----------------------------------------------------------------
 *
 * One heap per port (port->deadlines) holds every timer and every deadline an engine
 * watches itself (ops on the thread pool; IOCP's ops in the kernel); ops waiting their
 * turn on a descriptor have theirs in fdt.waiting (fdstate.c). Written once here: a timer
 * racing its own timeout_ns, expiry, cancel, and how long a wait may sleep.
 */

int cport__timer_start(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	uint64_t due = x->aux & CPORT_TIMER_ABS ? x->len : cport__add_sat(cport__now(port), x->len);
	if (x->deadline && x->deadline < due) {
		due = x->deadline; /* its timeout_ns comes first: CPORT_ETIMEDOUT then */
		x->xflags |= CPORT__X_TIMEOUT_FIRST;
	}
	return cport__timers_add(&port->deadlines, op, due);
}

void cport__deadline_watch(cport *port, cport_op *op)
{
	uint64_t d = cport__x(op)->deadline;
	if (d && d != UINT64_MAX)
		cport__timers_add(&port->deadlines, op, d);
}

void cport__deadline_unwatch(cport *port, cport_op *op)
{
	cport__timers_remove(&port->deadlines, op);
}

bool cport__timer_cancel(cport *port, cport_op *op)
{
	if (cport__x(op)->heap_idx == 0)
		return false; /* it fired and waits to be reaped */
	cport__timers_remove(&port->deadlines, op);
	cport__complete(port, op, CPORT_ECANCELED);
	return true;
}

/* No deadline waits in either heap: the common case of a port without timeouts, which
 * then reads no clock (two clock reads per wait were ~4 % of an epoll round trip). */
static bool deadlines_none(const cport *port)
{
	return port->deadlines.root == NULL && port->fdt.waiting.root == NULL;
}

void cport__deadlines_fire(cport *port)
{
	if (deadlines_none(port))
		return;
	uint64_t now = cport__now(port);
	cport__fd_expire(port, now);
	cport_op *op;
	while ((op = cport__timers_pop_expired(&port->deadlines, now)) != NULL) {
		struct cport__op *x = cport__x(op);
		if (x->hold) { /* a link or barrier held it: it never started */
			x->xflags |= CPORT__X_TIMEDOUT;
			cport__chain_drop(port, op, CPORT_ETIMEDOUT);
			continue;
		}
		if (x->type == CPORT__TIMER) {
			bool late = x->xflags & CPORT__X_TIMEOUT_FIRST;
			cport__complete(port, op, late ? CPORT_ETIMEDOUT : 0);
			continue;
		}
		x->xflags |= CPORT__X_TIMEDOUT;
		if (x->xflags & CPORT__X_POOL)
			cport__pool_cancel(port, op); /* ETIMEDOUT unless it must run to the end */
		else
			port->be->expired(port, op);
	}
}

int64_t cport__deadlines_sleep_ns(cport *port, int64_t timeout_ns)
{
	if (deadlines_none(port))
		return timeout_ns;
	uint64_t now = cport__now(port);
	int64_t next[2] = {cport__timers_next_ns(&port->deadlines, now),
			   cport__timers_next_ns(&port->fdt.waiting, now)};
	for (int i = 0; i < 2; i++)
		if (next[i] >= 0 && (timeout_ns < 0 || next[i] < timeout_ns))
			timeout_ns = next[i];
	return timeout_ns;
}
