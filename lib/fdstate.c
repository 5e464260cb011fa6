/* SPDX-License-Identifier: MIT */
/* The descriptor engine: stream FIFOs, close-cancels, waiting timeouts, close generation. */

/*
 * Map
 *   1. The table: validated growth, the close generation
 *   2. Sides and queues: enqueue, started, finished, drop, expire
 *   3. Close-cancels
 *
 * Written once for every engine (io_uring, the reactor, IOCP). The rules it keeps:
 *   - Streams (docs/contract.md rule 4): each descriptor has a receive side and a send
 *     side (and *     the reactor a poll side). Ops of a side wait in a FIFO; only its head is worked
 *     on (io_uring: the one SQE of that side in the kernel; the reactor: the one op it
 *     tries on readiness), which keeps sends whole, in order and never interleaved, and
 *     makes receives fill in submission order.
 *   - Ops that wait their turn keep their timeout: their deadline sits in one heap
 *     (fdt.waiting) until the engine starts them, and expiry takes them out of line.
 *   - Close cancels (rule 8): the close completes every op still waiting with
 *     CPORT_ECANCELED, takes the descriptor's ops out of the thread pool's queue, and
 *     is held while any op on the descriptor is `busy` (in the kernel, or running on a
 *     pool worker): its completion comes after theirs, and the number is not freed for
 *     reuse while a worker's pread may still use it.
 *   - Lifetimes (docs/contract.md rule 14): a number closed through cport (an op or
 *     cport_sock_close) bumps that number's close generation; an idle entry seen with
 *     an older one forgets what the engine knew of the old descriptor
 *     (poller registration, kind), so a reused number starts clean.
 */

#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- 1. The table -------------------------------------------------------------------- */

/*
 * The close generation of each descriptor number: bumped by every close through cport
 * (an op, cport_sock_close), read by every port at an op's start. Per number, so a
 * close elsewhere costs an idle descriptor here nothing (a process-wide counter would
 * make every idle socket re-register with the poller after any close in the process).
 * Pages of counters are made on first use and kept for the process's life (16 KiB per
 * 4,096 numbers that ever saw a close); numbers past the pages share one counter.
 */
#define GEN_PAGE 4096u
#define GEN_PAGES 1024u
static _Atomic(atomic_uint *) gen_pages[GEN_PAGES];
static atomic_uint gen_far;

static atomic_uint *gen_slot(cport_fd fd, bool make)
{
	uint64_t n = (uint64_t)fd;
	if (n >= (uint64_t)GEN_PAGE * GEN_PAGES)
		return &gen_far;
	_Atomic(atomic_uint *) *pp = &gen_pages[n / GEN_PAGE];
	atomic_uint *page = atomic_load_explicit(pp, memory_order_acquire);
	if (!page && make) {
		atomic_uint *fresh = calloc(GEN_PAGE, sizeof *fresh);
		if (!fresh)
			return &gen_far; /* coarser, still correct */
		if (atomic_compare_exchange_strong_explicit(pp, &page, fresh, memory_order_acq_rel,
							    memory_order_acquire))
			page = fresh;
		else
			free(fresh); /* another thread made it first: `page` holds it */
	}
	return page ? &page[n % GEN_PAGE] : NULL;
}

uint32_t cport__fd_gen(cport_fd fd)
{
	atomic_uint *g = gen_slot(fd, false);
	return g ? atomic_load_explicit(g, memory_order_relaxed) : 0;
}

void cport__fd_gen_bump(cport_fd fd)
{
	atomic_fetch_add_explicit(gen_slot(fd, true), 1, memory_order_relaxed);
}

static bool fd_idle(const struct cport__fd *f)
{
	return !f->q[0].head && !f->q[1].head && !f->q[2].head && f->busy == 0 && !f->closing;
}

#ifndef _WIN32
/* Grow the table to cover `fd`: the only allocation on the submit path, made only for a
 * descriptor that exists (a bogus huge number is EBADF, not a huge table). */
static int fd_grow(struct cport__fdtab *t, cport_fd fd)
{
	if (!cport__os_fd_valid(fd))
		return CPORT_EBADF;
	uint64_t n = t->n ? t->n : 64;
	while (n <= (uint64_t)fd)
		n *= 2;
	if (n > UINT32_MAX)
		return CPORT_EBADF;
	struct cport__fd *fds = realloc(t->fds, (size_t)n * sizeof *fds);
	if (!fds)
		return CPORT_ENOMEM;
	memset(fds + t->n, 0, (size_t)(n - t->n) * sizeof *fds);
	/* The new entries are numbers this port never saw open: each is checked at its
	 * first op, as a closed one is (defect: an op on a number below the table's size
	 * that was never open was accepted, and failed only later). */
	for (uint64_t i = t->n; i < n; i++)
		fds[i].closed = true;
	t->fds = fds;
	t->n = (uint32_t)n;
	return 0;
}

struct cport__fd *cport__fd_find(cport *port, cport_fd fd)
{
	struct cport__fdtab *t = &port->fdt;
	return (uint64_t)fd < t->n ? &t->fds[fd] : NULL;
}

/* The entry of `fd`, made if it has none (the table grows only for an open one). */
static int fd_entry(struct cport__fdtab *t, cport_fd fd, struct cport__fd **f)
{
	if ((uint64_t)fd >= t->n) {
		int r = fd_grow(t, fd);
		if (r < 0)
			return r;
	}
	*f = &t->fds[fd];
	return 0;
}
#else
/* Windows: handle values are multiples of 4 spread over a wide range, so the table is
 * open addressing keyed by the value: linear probing, at most half full. */
static uint32_t fd_home(const struct cport__fdtab *t, cport_fd h)
{
	return (uint32_t)(((uint64_t)(h >> 2) * 0x9e3779b97f4a7c15u) >> 32) & (t->n - 1);
}

static struct cport__fd *fd_slot(struct cport__fdtab *t, cport_fd h)
{
	uint32_t i = fd_home(t, h);
	while (t->fds[i].h && t->fds[i].h != h)
		i = (i + 1) & (t->n - 1);
	return &t->fds[i];
}

struct cport__fd *cport__fd_find(cport *port, cport_fd fd)
{
	struct cport__fdtab *t = &port->fdt;
	if (t->n == 0)
		return NULL;
	struct cport__fd *f = fd_slot(t, fd);
	return f->h ? f : NULL;
}

/* Room for one more entry. Rebuilt larger, it leaves out the entries of handles closed
 * through this port that nobody used since: there is nothing to remember of them. */
static int fd_grow(struct cport__fdtab *t)
{
	if ((t->used + 1) * 2 <= t->n)
		return 0;
	uint32_t live = 0;
	for (uint32_t i = 0; i < t->n; i++)
		live += t->fds[i].h && !t->fds[i].closed;
	uint32_t n = 64;
	while ((live + 1) * 4 > n)
		n *= 2;
	struct cport__fd *old = t->fds, *fds = calloc(n, sizeof *fds);
	if (!fds)
		return CPORT_ENOMEM;
	uint32_t old_n = t->n;
	t->fds = fds;
	t->n = n;
	t->used = live;
	for (uint32_t i = 0; i < old_n; i++)
		if (old[i].h && !old[i].closed)
			*fd_slot(t, old[i].h) = old[i];
	free(old);
	return 0;
}

static int fd_entry(struct cport__fdtab *t, cport_fd fd, struct cport__fd **f)
{
	if (t->n && (*f = fd_slot(t, fd))->h)
		return 0;
	if (!cport__os_fd_valid(fd))
		return CPORT_EBADF;
	int r = fd_grow(t);
	if (r < 0)
		return r;
	*f = fd_slot(t, fd);
	(*f)->h = fd;
	(*f)->gen = cport__fd_gen(fd);
	t->used++;
	return 0;
}
#endif

int cport__fd_get(cport *port, cport_fd fd, struct cport__fd **out)
{
	struct cport__fd *f;
	int r = fd_entry(&port->fdt, fd, &f);
	if (r < 0)
		return r;
	if (f->closing)
		return CPORT_EBADF;
	uint32_t gen = cport__fd_gen(fd);
	if (f->gen != gen && fd_idle(f)) {
		/* A close since we last looked may have freed this number: what the
		 * engine knew of the descriptor may be stale (defect: a reused socket was
		 * never armed because its entry still said "armed"). */
		if (port->be->fd_stale)
			port->be->fd_stale(port, f);
		else
			memset(&f->eng, 0, sizeof f->eng);
		f->file = 0;
		f->gen = gen;
		f->closed = true; /* and the number may be free now: is it open? */
	}
	if (f->closed) {
		/* Closed here: only valid again once the number is reused. */
		if (!cport__os_fd_valid(fd))
			return CPORT_EBADF;
		f->closed = false;
	}
	*out = f;
	return 0;
}

int cport__fd_usable(cport *port, cport_fd fd)
{
	struct cport__fd *f = cport__fd_find(port, fd);
	return !cport__os_fd_valid(fd) || (f && f->closing) ? CPORT_EBADF : 0;
}

void cport__fd_fini(cport *port)
{
	free(port->fdt.fds);
	memset(&port->fdt, 0, offsetof(struct cport__fdtab, waiting));
	cport__timers_free(&port->fdt.waiting);
}

/* ---- 2. Sides and queues --------------------------------------------------------------- */

enum cport__side cport__op_side(const struct cport__op *x, bool poll_side)
{
	switch ((enum cport__type)x->type) {
	case CPORT__READ:
	case CPORT__READV:
		return x->offset < 0 ? CPORT__SIDE_RECV : CPORT__SIDE_NONE;
	case CPORT__WRITE:
	case CPORT__WRITEV:
		return x->offset < 0 ? CPORT__SIDE_SEND : CPORT__SIDE_NONE;
	case CPORT__RECV:
	case CPORT__RECVMSG:
	case CPORT__ACCEPT:
	case CPORT__RECV_POOL:
	case CPORT__RECVMSG_POOL:
		return CPORT__SIDE_RECV;
	case CPORT__SEND:
	case CPORT__SENDMSG:
	case CPORT__SENDFILE:
	case CPORT__CONNECT:
		return CPORT__SIDE_SEND;
	case CPORT__SHUTDOWN: /* after the sends before it; stopping receives needs no turn */
		return x->aux == CPORT_SHUT_RD ? CPORT__SIDE_NONE : CPORT__SIDE_SEND;
	case CPORT__POLL:
		return poll_side ? CPORT__SIDE_POLL : CPORT__SIDE_NONE;
	default:
		return CPORT__SIDE_NONE;
	}
}

bool cport__fd_enqueue(cport *port, struct cport__fd *f, enum cport__side s, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	assert(s >= 0 && s < CPORT__SIDES);
	cport__list_push(&f->q[s], op);
	if (x->deadline)
		cport__timers_add(&port->fdt.waiting, op, x->deadline);
	return f->q[s].head == op;
}

void cport__fd_started(cport *port, struct cport__fd *f, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	cport__timers_remove(&port->fdt.waiting, op);
	if (!(x->xflags & CPORT__X_FDBUSY)) {
		x->xflags |= CPORT__X_FDBUSY;
		f->busy++;
	}
}

/* Every other op on the descriptor finished: a held close may run. */
static void fd_release_close(cport *port, struct cport__fd *f)
{
	if (!f->close || f->busy > 0 || f->q[0].head || f->q[1].head || f->q[2].head)
		return;
	cport_op *close = f->close;
	f->close = NULL;
	port->be->fd_close(port, close);
}

/* Take a queued op out of its side; the new head if it was the head. */
static cport_op *fd_unqueue(cport *port, struct cport__fd *f, cport_op *op)
{
	enum cport__side s = cport__op_side(cport__x(op), true);
	struct cport__list *q = &f->q[s];
	bool head = q->head == op;
	cport__list_unlink(q, op);
	cport__timers_remove(&port->fdt.waiting, op);
	return head ? q->head : NULL;
}

static bool fd_queued(struct cport__fd *f, cport_op *op)
{
	enum cport__side s = cport__op_side(cport__x(op), true);
	if (s == CPORT__SIDE_NONE)
		return false;
	struct cport__link *k = &cport__x(op)->wait;
	return k->prev || f->q[s].head == op;
}

bool cport__fd_waiting(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	if (!cport__has_fd(x->type) || (x->xflags & CPORT__X_FDBUSY))
		return false;
	struct cport__fd *f = cport__fd_find(port, x->fd);
	return f && fd_queued(f, op);
}

cport_op *cport__fd_finished(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd *f = cport__fd_find(port, x->fd);
	assert(f);
	cport_op *next = NULL;
	if (x->xflags & CPORT__X_FDBUSY) {
		assert(f->busy > 0);
		f->busy--;
		x->xflags &= (uint8_t)~CPORT__X_FDBUSY;
	}
	if (fd_queued(f, op))
		next = fd_unqueue(port, f, op);
	if (f->closing)
		fd_release_close(port, f);
	return next;
}

cport_op *cport__fd_end(cport *port, cport_op *op, int64_t result, uint32_t cflags)
{
	struct cport__op *x = cport__x(op);
	struct cport__fd *f = cport__fd_find(port, x->fd);
	assert(f && !(x->xflags & CPORT__X_FDBUSY));
	cport_op *next = fd_unqueue(port, f, op);
	if (port->be->fd_dropped)
		port->be->fd_dropped(port, op);
	/* A multishot op whose last completion (CPORT_MORE) the caller has not taken
	 * yet: that completion becomes its last one and keeps what it carries (a
	 * descriptor, a pool buffer), and counts as one for links and barriers (defect: it
	 * did not, and a barrier accepted after it never started; found by the fuzz
	 * target). */
	if (!(x->xflags & CPORT__X_UNREAPED)) {
		op->cflags = cflags;
		cport__complete(port, op, result);
	} else if (port->sh && cport__shared_end_later(port, op, result)) {
		assert(cflags == 0); /* delivered by lib/shared.c when it is given back */
	} else {
		assert(cflags == 0);
		op->cflags &= ~(uint32_t)CPORT_MORE;
		cport__final(port, op);
	}
	if (f->closing)
		fd_release_close(port, f);
	return next;
}

cport_op *cport__fd_drop(cport *port, cport_op *op, int64_t result)
{
	return cport__fd_end(port, op, result, 0);
}

void cport__fd_expire(cport *port, uint64_t now)
{
	cport_op *op;
	while ((op = cport__timers_pop_expired(&port->fdt.waiting, now)) != NULL)
		cport__fd_drop(port, op, CPORT_ETIMEDOUT);
}

/* ---- 3. Close-cancels --------------------------------------------------------------- */

bool cport__fd_close_begin(cport *port, struct cport__fd *f, cport_op *close)
{
	assert(!f->closing && !f->close);
	f->closing = true;
	f->close = close;
	/* Ops a link or barrier holds on it never started: they end first. (No entry is
	 * looked up or added meanwhile, so `f` stays valid on Windows too.) */
	cport__chain_fd_closing(port, cport__x(close)->fd);
	for (int s = 0; s < CPORT__SIDES; s++) {
		cport_op *op = f->q[s].head, *next;
		for (; op; op = next) {
			next = cport__list_next(op);
			if (!(cport__x(op)->xflags & CPORT__X_FDBUSY)) {
				cport__x(op)->xflags |= CPORT__X_CANCELLED;
				cport__fd_drop(port, op, CPORT_ECANCELED);
			}
		}
	}
	/* Ops queued on the pool stop too; one a worker runs is waited for (busy). */
	struct cport__queue gone = {NULL, NULL};
	cport_op *op;
	cport__pool_take_fd(port, cport__x(close)->fd, &gone);
	while ((op = cport__queue_pop(&gone)) != NULL) {
		struct cport__op *x = cport__x(op);
		x->xflags |= CPORT__X_CANCELLED;
		cport__pool_op_back(port, op);
		cport__complete(port, op, CPORT_ECANCELED);
		cport__fd_finished(port, op);
	}
	if (f->close != close)
		return false; /* released already (by the last finished op): it ran */
	if (f->busy > 0 || f->q[0].head || f->q[1].head || f->q[2].head)
		return false;
	f->close = NULL;
	return true;
}

void cport__fd_close_end(cport *port, cport_fd fd)
{
	struct cport__fd *f = cport__fd_find(port, fd);
	cport__fd_gen_bump(fd);
	if (!f)
		return;
	assert(!f->q[0].head && !f->q[1].head && !f->q[2].head && f->busy == 0);
	if (f->reg_slot)
		cport__reg_fd_gone(port, f); /* the kernel's registered copy goes too */
#ifdef _WIN32
	cport_fd h = f->h; /* the entry keeps its key */
	memset(f, 0, sizeof *f);
	f->h = h;
#else
	memset(f, 0, sizeof *f);
#endif
	f->closed = true;
	f->gen = cport__fd_gen(fd);
}
