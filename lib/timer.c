/* SPDX-License-Identifier: MIT */
/* A deadline heap of ops: timers and per-op timeouts for backends whose kernel keeps none. */

/*
 * A 4-ary min-heap on an array of op pointers, ordered by opx.deadline. Each op records
 * its slot (opx.heap_idx = index + 1) so that a cancelled or completed op leaves the
 * heap in O(log n) without a search. Four children per node halve the depth of a binary
 * heap and keep siblings on one cache line, which is what a million timers need. Ties
 * keep no order: ops due at the same nanosecond fire in any order.
 */

#include "internal.h"

#include <stdlib.h>

#define HEAP_ARITY 4

static uint64_t deadline_at(const struct cport__timers *t, uint32_t i)
{
	return cport__x(t->heap[i])->deadline;
}

static void heap_set(struct cport__timers *t, uint32_t i, cport_op *op)
{
	t->heap[i] = op;
	cport__x(op)->heap_idx = i + 1;
}

static void heap_up(struct cport__timers *t, uint32_t i)
{
	cport_op *op = t->heap[i];
	uint64_t d = cport__x(op)->deadline;
	while (i > 0) {
		uint32_t parent = (i - 1) / HEAP_ARITY;
		if (deadline_at(t, parent) <= d)
			break;
		heap_set(t, i, t->heap[parent]);
		i = parent;
	}
	heap_set(t, i, op);
}

static void heap_down(struct cport__timers *t, uint32_t i)
{
	cport_op *op = t->heap[i];
	uint64_t d = cport__x(op)->deadline;
	for (;;) {
		uint32_t first = i * HEAP_ARITY + 1, best = i;
		uint64_t best_d = d;
		for (uint32_t c = first; c < first + HEAP_ARITY && c < t->len; c++)
			if (deadline_at(t, c) < best_d) {
				best = c;
				best_d = deadline_at(t, c);
			}
		if (best == i)
			break;
		heap_set(t, i, t->heap[best]);
		i = best;
	}
	heap_set(t, i, op);
}

/* Add op to fire at deadline_ns. CPORT_ENOMEM only when the array must grow and
 * cannot; the op is then not in the heap. */
int cport__timers_add(struct cport__timers *t, cport_op *op, uint64_t deadline_ns)
{
	assert(cport__x(op)->heap_idx == 0);
	if (t->len == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 64;
		cport_op **heap = realloc(t->heap, (size_t)cap * sizeof *heap);
		if (!heap)
			return CPORT_ENOMEM;
		t->heap = heap;
		t->cap = cap;
	}
	cport__x(op)->deadline = deadline_ns;
	t->heap[t->len] = op;
	heap_up(t, t->len++);
	return 0;
}

/* Take op out of the heap; a no-op if it is not in it. */
void cport__timers_remove(struct cport__timers *t, cport_op *op)
{
	uint32_t idx = cport__x(op)->heap_idx;
	if (idx == 0)
		return;
	uint32_t i = idx - 1;
	assert(i < t->len && t->heap[i] == op);
	cport__x(op)->heap_idx = 0;
	cport_op *last = t->heap[--t->len];
	if (i == t->len)
		return;
	heap_set(t, i, last);
	if (i > 0 && deadline_at(t, (i - 1) / HEAP_ARITY) > cport__x(last)->deadline)
		heap_up(t, i);
	else
		heap_down(t, i);
}

/* The earliest op whose deadline is <= now, taken out of the heap; NULL if none. */
cport_op *cport__timers_pop_expired(struct cport__timers *t, uint64_t now_ns)
{
	if (t->len == 0 || deadline_at(t, 0) > now_ns)
		return NULL;
	cport_op *op = t->heap[0];
	cport__timers_remove(t, op);
	return op;
}

/* Nanoseconds until the earliest deadline (0 if already due), or -1 if empty. */
int64_t cport__timers_next_ns(const struct cport__timers *t, uint64_t now_ns)
{
	if (t->len == 0)
		return -1;
	uint64_t d = deadline_at(t, 0);
	return d > now_ns ? (int64_t)(d - now_ns) : 0;
}

void cport__timers_free(struct cport__timers *t)
{
	free(t->heap);
	t->heap = NULL;
	t->len = t->cap = 0;
}
