/* SPDX-License-Identifier: MIT */
/* Op mechanics shared by every engine: lists, deadlines, the iovec cursor, completions. */

/*
 * Map
 *   1. The wait-list type (one for every queue of waiting ops)
 *   2. Saturating deadline arithmetic
 *   3. The iovec cursor
 *   4. The completion path: the caller's array (or cport_wait_op's one op), the ready
 *      list, the remote stack
 *
 * Each of these was once written inside every engine, and the copies drifted (two
 * iovec cursors read past their arrays, eight of eleven deadline sites wrapped). They
 * live here once; an engine only calls them.
 */

#include "internal.h"

#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

/* ---- 1. Wait lists ------------------------------------------------------------------ */

void cport__list_push(struct cport__list *l, cport_op *op)
{
	struct cport__link *k = &cport__x(op)->wait;
	k->next = NULL;
	k->prev = l->tail;
	if (l->tail)
		cport__x(l->tail)->wait.next = op;
	else
		l->head = op;
	l->tail = op;
	l->len++;
}

void cport__list_unlink(struct cport__list *l, cport_op *op)
{
	struct cport__link *k = &cport__x(op)->wait;
	assert(l->len > 0);
	assert(k->prev ? cport__x(k->prev)->wait.next == op : l->head == op);
	if (k->prev)
		cport__x(k->prev)->wait.next = k->next;
	else
		l->head = k->next;
	if (k->next)
		cport__x(k->next)->wait.prev = k->prev;
	else
		l->tail = k->prev;
	k->next = k->prev = NULL;
	l->len--;
}

/* ---- 2. Deadlines ------------------------------------------------------------------- */

uint64_t cport__add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t cport__deadline_in(uint64_t ns)
{
	return cport__add_sat(cport_now_ns(), ns);
}

int64_t cport__ns_until(uint64_t deadline, uint64_t now)
{
	if (deadline <= now)
		return 0;
	uint64_t left = deadline - now;
	return left > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)left;
}

int64_t cport__timeout_ms(int64_t ns, int64_t max_ms)
{
	if (ns < 0)
		return -1;
	/* Rounded up (never wake before a deadline), without ns + 999999 overflowing. */
	int64_t ms = ns / 1000000 + (ns % 1000000 != 0);
	return ms > max_ms ? max_ms : ms;
}

/* ---- 3. The iovec cursor ------------------------------------------------------------ */

unsigned cport__iov_at(const cport_iovec *iov, unsigned cnt, uint64_t done, uint64_t *skip)
{
	unsigned i = 0;
	/* Empty elements are stepped over, so a cursor never rests on one: bounded by
	 * cnt whatever `done` says. */
	while (i < cnt && done >= iov[i].len) {
		done -= iov[i].len;
		i++;
	}
	*skip = i < cnt ? done : 0;
	return i;
}

const cport_iovec *cport__op_iov(const struct cport__op *x, unsigned *cnt)
{
	if (x->type == CPORT__RECVMSG || x->type == CPORT__SENDMSG) {
		const cport_msg *m = x->buf;
		*cnt = m->iovcnt;
		return m->iov;
	}
	assert(x->type == CPORT__READV || x->type == CPORT__WRITEV);
	*cnt = x->aux;
	return x->buf;
}

bool cport__is_stream_read(const struct cport__op *x)
{
	switch ((enum cport__type)x->type) {
	case CPORT__READ:
	case CPORT__READV:
		return x->offset < 0;
	case CPORT__RECV:
	case CPORT__RECVMSG:
		return true;
	default:
		return false;
	}
}

bool cport__op_moved(struct cport__op *x, uint64_t n)
{
	x->done += n;
	return n == 0 || cport__is_stream_read(x) || x->done >= x->len;
}

/* ---- 4. Completions ----------------------------------------------------------------- */

void cport__deliver_only(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	assert(x->state == CPORT__INFLIGHT);
	assert(x->port == port);
	assert(x->heap_idx == 0 || (op->cflags & CPORT_MORE));
	(void)x;
	if (op == port->want && !port->got)
		port->got = true; /* cport_wait_op's own op: taken, the rest keep their order */
	else if (port->out_n < port->out_max && port->ready.head == NULL)
		port->out[port->out_n++] = op;
	else
		cport__queue_push(&port->ready, op);
}

void cport__final(cport *port, cport_op *op)
{
	/* Every final completion counts for links and barriers; without either in play
	 * that is one decrement. */
	if ((op->flags & CPORT__OP_CHAIN) || cport__x(op)->hold || port->chain.drain)
		cport__chain_after(port, op);
	else
		port->chain.unfinished--;
}

bool cport__ready_take(cport *port, cport_op *op)
{
	struct cport__queue *q = &port->ready;
	cport_op *prev = NULL;
	for (cport_op *it = q->head; it; prev = it, it = cport__x(it)->next) {
		if (it != op)
			continue;
		if (prev)
			cport__x(prev)->next = cport__x(op)->next;
		else
			q->head = cport__x(op)->next;
		if (q->tail == op)
			q->tail = prev;
		cport__x(op)->next = NULL;
		return true;
	}
	return false;
}

void cport__deliver(cport *port, cport_op *op)
{
	cport__deliver_only(port, op);
	if ((op->cflags & CPORT_MORE) || cport__x(op)->type == CPORT__POST)
		return;
	cport__final(port, op);
}

void cport__complete(cport *port, cport_op *op, int64_t result)
{
	op->result = result;
	cport__deliver(port, op);
}

/* Complete an op from any thread: push it on the remote stack (op->result is set),
 * and wake the port thread if it sleeps and nobody woke it yet. */
void cport__complete_remote(cport *port, cport_op *op)
{
	cport_op *head = atomic_load_explicit(&port->remote, memory_order_relaxed);
	do
		cport__x(op)->next = head;
	while (!atomic_compare_exchange_weak_explicit(&port->remote, &head, op,
						      memory_order_seq_cst, memory_order_relaxed));
	/* seq_cst pairs with cport__sleep_begin: either we see `sleeping`, or the
	 * sleeper sees our push and does not sleep. */
	if (atomic_load(&port->sleeping) && !atomic_exchange(&port->notified, true))
		port->be->wake(port);
}

bool cport__remote_pending(cport *port)
{
	return atomic_load_explicit(&port->remote, memory_order_acquire) != NULL;
}

bool cport__sleep_begin(cport *port)
{
	atomic_store(&port->sleeping, true);
	if (atomic_load(&port->remote) != NULL) {
		atomic_store(&port->sleeping, false);
		return false;
	}
	return true;
}

void cport__sleep_end(cport *port)
{
	atomic_store_explicit(&port->sleeping, false, memory_order_relaxed);
}

/* Take the remote stack, oldest first. */
static cport_op *remote_take(cport *port)
{
	cport_op *op = atomic_exchange_explicit(&port->remote, NULL, memory_order_acquire);
	cport_op *rev = NULL;
	while (op) {
		cport_op *next = cport__x(op)->next;
		cport__x(op)->next = rev;
		rev = op;
		op = next;
	}
	return rev;
}

/* Move remote completions to the caller's array or the ready list, oldest first. */
void cport__drain_remote(cport *port)
{
	if (!cport__remote_pending(port))
		return;
	for (cport_op *op = remote_take(port), *next; op; op = next) {
		next = cport__x(op)->next;
		struct cport__op *x = cport__x(op);
		if (x->type != CPORT__POST) {
			cport__pool_op_back(port, op);
			if (cport__pool_again(port, op))
				continue; /* a lock's next try, later */
		}
		cport__deliver(port, op);
		/* After delivery: a close this releases completes after the op. */
		if (x->xflags & CPORT__X_FDBUSY)
			cport__fd_finished(port, op);
	}
}

void cport__pool_op_back(cport *port, cport_op *op)
{
	cport__deadline_unwatch(port, op);
	if (port->be->remote_done)
		port->be->remote_done(port, op);
}

void cport__close_result(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	bool made = x->type == CPORT__ACCEPT || x->type == CPORT__OPEN || x->type == CPORT__OPENAT;
	if (!made || op->result < 0)
		return;
#ifdef _WIN32
	cport__win_close((cport_fd)op->result);
#else
	close((int)op->result);
#endif
}

void cport__drop_unreaped(cport *port)
{
	cport_op *op;
	while ((op = cport__queue_pop(&port->ready)) != NULL)
		cport__close_result(op);
	for (op = remote_take(port); op; op = cport__x(op)->next)
		cport__close_result(op);
}

int cport__grow(void *arr, uint32_t *cap, size_t size, uint64_t need, uint32_t first)
{
	if (need <= *cap)
		return 0;
	uint64_t n = *cap ? *cap : first;
	while (n < need)
		n *= 2;
	if (n > UINT32_MAX || n > SIZE_MAX / size)
		return CPORT_ENOMEM;
	void *old, *p;
	memcpy(&old, arr, sizeof old); /* any object pointer type, without aliasing it */
	if (!(p = realloc(old, (size_t)n * size)))
		return CPORT_ENOMEM;
	memset((char *)p + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
	memcpy(arr, &p, sizeof p);
	*cap = (uint32_t)n;
	return 0;
}
