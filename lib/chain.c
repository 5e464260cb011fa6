/* SPDX-License-Identifier: MIT */
/* Links and barriers: ops accepted now that start later, on every backend alike. */

/*
 * Map
 *   1. What "succeeded" means for a link
 *   2. Holding an op at submit
 *   3. After a completion: the chain's next op, the barrier's turn
 *   4. Dropping a held op (cancel, timeout, close), starting released ones
 *
 * The rules (cport.h, section 4b): CPORT_OP_LINK lets the next op accepted on the port
 * start only once this one succeeded, and completes it (and the rest of its chain) with
 * CPORT_ECANCELED, never started, if this one did not. CPORT_OP_BARRIER holds an op
 * until every op accepted before it completed, and holds every op accepted after it
 * until it completed itself (io_uring's IOSQE_IO_DRAIN). The engines never see a held
 * op: it reaches be->start only when nothing holds it any more, so one piece of code
 * gives every backend the same meaning.
 *
 * Bookkeeping: a held op is on port->chain.held (opx.wait, oldest first) with the
 * reasons in opx.hold; one held by a link keeps its predecessor in opx.be (free until
 * the engine gets the op). port->chain.unfinished counts the ops accepted and not yet
 * completed, except those held behind a barrier: a barrier may start when it is the
 * only one left. Ops that may start are moved to port->chain.go and started by the
 * public call that was running (cport__chain_run), never from inside an engine's
 * completion handling.
 */

#include "internal.h"

/* ---- 1. Success ------------------------------------------------------------------------ */

/* A link holds when its op succeeded: a result >= 0 and, for a transfer, every byte it
 * asked for (a read that met end of file or a stream read that got less breaks the chain,
 * as io_uring's links do; writes are never short without an error anyway). */
static bool chain_ok(const cport_op *op)
{
	if (op->result < 0)
		return false;
	const struct cport__op *x = (const struct cport__op *)(const void *)op->internal;
	switch ((enum cport__type)x->type) {
	case CPORT__READ:
	case CPORT__WRITE:
	case CPORT__READV:
	case CPORT__WRITEV:
	case CPORT__RECV:
	case CPORT__SEND:
	case CPORT__RECVMSG:
	case CPORT__SENDMSG:
	case CPORT__SENDFILE:
		return (uint64_t)op->result == x->len;
	case CPORT__RECV_POOL: /* asked for nothing in particular: data is success */
	case CPORT__RECVMSG_POOL:
		return op->result > 0;
	default:
		return true;
	}
}

static cport_op **chain_pred(cport_op *op)
{
	return (cport_op **)(void *)&cport__x(op)->be.words[0];
}

/* ---- 2. Holding at submit ----------------------------------------------------------------- */

int cport__chain_check(cport *port, const cport_op *op, uint8_t type, uint32_t aux, cport_fd fd)
{
	/* A multishot op never completes just once: nothing could follow it. */
	if ((op->flags & CPORT_OP_LINK) && type == CPORT__ACCEPT && (aux & CPORT_ACCEPT_MULTISHOT))
		return CPORT_EINVAL;
	if (!port->chain.open && !port->chain.drain && !(op->flags & CPORT_OP_BARRIER))
		return 0; /* it starts now: the engine checks the rest */
	/* An op that may wait is started later, after the engine's checks at submit:
	 * check its descriptor now, so a bad one is refused as anywhere else. */
	return cport__has_fd(type) ? cport__fd_usable(port, fd) : 0;
}

static void chain_hold(cport *port, cport_op *op, uint32_t why)
{
	struct cport__op *x = cport__x(op);
	x->hold |= why;
	cport__list_push(&port->chain.held, op);
	/* timeout_ns counts from the submit, also while it waits (as in a descriptor's
	 * queue): the port's deadline heap watches it. */
	cport__deadline_watch(port, op);
}

/* The op was accepted (its checks passed): hold it, or tell the caller to start it
 * now (returns true). Called only when cport__chain_active said so. */
bool cport__chain_submit(cport *port, cport_op *op)
{
	struct cport__chain *c = &port->chain;
	uint32_t why = 0;
	if (c->drain) {
		why |= CPORT__HOLD_DRAIN; /* behind a barrier: not counted until released */
	} else {
		c->unfinished++;
		if (op->flags & CPORT_OP_BARRIER) {
			c->drain = op;
			if (c->unfinished > 1)
				why |= CPORT__HOLD_BARRIER;
		}
	}
	if (c->open) {
		if (c->tail) {
			*chain_pred(op) = c->tail;
			why |= CPORT__HOLD_LINK;
		} else if (c->tail_failed) {
			why |= CPORT__HOLD_BROKEN;
		}
	}
	bool link = op->flags & CPORT_OP_LINK;
	c->open = link;
	c->tail = link ? op : NULL;
	c->tail_failed = false;
	if (why & CPORT__HOLD_BROKEN) {
		/* Its predecessor failed before it came: it completes unstarted. Counted
		 * like a started op, so the completion below counts it down. */
		cport__x(op)->hold = why & CPORT__HOLD_DRAIN;
		cport__complete(port, op, CPORT_ECANCELED);
		return false;
	}
	if (why == 0)
		return true;
	chain_hold(port, op, why);
	return false;
}

/* ---- 3. After a completion ---------------------------------------------------------------- */

/* Let a held op go once no reason holds it: to the start queue. */
static void chain_release(cport *port, cport_op *op, uint32_t why)
{
	struct cport__op *x = cport__x(op);
	x->hold &= ~why;
	if (x->hold)
		return;
	cport__list_unlink(&port->chain.held, op);
	if (x->heap_idx)
		cport__deadline_unwatch(port, op);
	*chain_pred(op) = NULL;
	cport__queue_push(&port->chain.go, op);
}

/* The held op that waits for `op` to succeed, if any. Chains in flight at once are few,
 * and the held list is short unless a barrier holds many: a walk is enough. */
static cport_op *chain_successor(cport *port, cport_op *op)
{
	for (cport_op *h = port->chain.held.head; h; h = cport__list_next(h))
		if ((cport__x(h)->hold & CPORT__HOLD_LINK) && *chain_pred(h) == op)
			return h;
	return NULL;
}

/* The barrier completed: the ops held behind it go, up to and including the next
 * barrier, which becomes the one every later op waits for. */
static void chain_drain_done(cport *port)
{
	struct cport__chain *c = &port->chain;
	c->drain = NULL;
	cport_op *op = c->held.head, *next;
	for (; op && !c->drain; op = next) {
		next = cport__list_next(op);
		struct cport__op *x = cport__x(op);
		if (!(x->hold & CPORT__HOLD_DRAIN))
			continue;
		c->unfinished++;
		if (op->flags & CPORT_OP_BARRIER) {
			c->drain = op;
			x->hold |= CPORT__HOLD_BARRIER;
		}
		chain_release(port, op, CPORT__HOLD_DRAIN);
	}
}

/* The barrier's turn: it was the only op left before it. */
static void chain_barrier_check(cport *port)
{
	struct cport__chain *c = &port->chain;
	if (c->drain && (cport__x(c->drain)->hold & CPORT__HOLD_BARRIER) && c->unfinished == 1)
		chain_release(port, c->drain, CPORT__HOLD_BARRIER);
}

/* One op's completion: its count, the open chain's tail, its successor. Returns the
 * successor that must now complete unstarted (the link broke), else NULL. */
static cport_op *chain_after_one(cport *port, cport_op *op)
{
	struct cport__chain *c = &port->chain;
	struct cport__op *x = cport__x(op);
	if (!(x->hold & CPORT__HOLD_DRAIN)) {
		assert(c->unfinished > 0);
		c->unfinished--;
	}
	x->hold = 0;
	if (op == c->drain)
		chain_drain_done(port);
	if (!(op->flags & CPORT_OP_LINK))
		return NULL;
	bool ok = chain_ok(op);
	if (op == c->tail) {
		c->tail = NULL;
		c->tail_failed = !ok;
		return NULL;
	}
	cport_op *next = chain_successor(port, op);
	if (next && ok) {
		chain_release(port, next, CPORT__HOLD_LINK);
		return NULL;
	}
	return next;
}

/* Unhook a held op that ends without starting, and queue its completion. */
static void chain_unhold(cport *port, cport_op *op, int64_t result)
{
	struct cport__op *x = cport__x(op);
	cport__list_unlink(&port->chain.held, op);
	if (x->heap_idx)
		cport__deadline_unwatch(port, op);
	*chain_pred(op) = NULL;
	op->result = result;
	cport__deliver_only(port, op);
}

void cport__chain_after(cport *port, cport_op *op)
{
	/* A broken link ends the rest of its chain: a loop, not recursion, however long
	 * the chain. */
	while ((op = chain_after_one(port, op)) != NULL) {
		cport__x(op)->xflags |= CPORT__X_CANCELLED;
		chain_unhold(port, op, CPORT_ECANCELED);
	}
	chain_barrier_check(port);
}

/* ---- 4. Dropping held ops, starting released ones ----------------------------------------- */

void cport__chain_drop(cport *port, cport_op *op, int64_t result)
{
	assert(cport__x(op)->hold);
	chain_unhold(port, op, result);
	cport__chain_after(port, op);
}

static bool chain_names(const cport_op *op, cport_fd fd)
{
	const struct cport__op *x = (const struct cport__op *)(const void *)op->internal;
	return cport__has_fd(x->type) && x->fd == fd;
}

/* Drop one held op that names `fd`; false if there is none. */
static bool chain_drop_held_fd(cport *port, cport_fd fd)
{
	for (cport_op *op = port->chain.held.head; op; op = cport__list_next(op))
		if (chain_names(op, fd)) {
			cport__x(op)->xflags |= CPORT__X_CANCELLED;
			cport__chain_drop(port, op, CPORT_ECANCELED);
			return true;
		}
	return false;
}

/* Ops let go but not started yet (on chain.go) that name `fd` never start either: a
 * close may be released before an op accepted ahead of it (a barrier lets both go, a
 * link lets the op go after). Defect: such an op started after the close and completed
 * after it. Returns whether any was dropped. */
static bool chain_drop_go_fd(cport *port, cport_fd fd)
{
	struct cport__queue all = port->chain.go, keep = {NULL, NULL};
	port->chain.go.head = port->chain.go.tail = NULL;
	bool dropped = false;
	cport_op *op;
	while ((op = cport__queue_pop(&all)) != NULL) {
		if (!chain_names(op, fd)) {
			cport__queue_push(&keep, op);
			continue;
		}
		cport__x(op)->xflags |= CPORT__X_CANCELLED;
		cport__complete(port, op, CPORT_ECANCELED); /* may let more go: onto chain.go */
		dropped = true;
	}
	/* What stays starts first, then what the drops let go meanwhile. */
	if (keep.head) {
		cport__x(keep.tail)->next = port->chain.go.head;
		if (!port->chain.go.tail)
			port->chain.go.tail = keep.tail;
		port->chain.go.head = keep.head;
	}
	return dropped;
}

void cport__chain_fd_closing(cport *port, cport_fd fd)
{
	/* A drop may end more held ops (the rest of a chain) or let ops go (a barrier): walk
	 * again until nothing waiting names the descriptor. */
	while (chain_drop_held_fd(port, fd) || chain_drop_go_fd(port, fd))
		;
}

void cport__chain_run(cport *port, int (*start)(cport *port, cport_op *op))
{
	cport_op *op;
	while ((op = cport__queue_pop(&port->chain.go)) != NULL) {
		/* A start the engine refuses (the descriptor was closed meanwhile...) is
		 * this op's completion: it was accepted long ago. */
		int r = start(port, op);
		if (r < 0)
			cport__complete(port, op, r);
	}
}
