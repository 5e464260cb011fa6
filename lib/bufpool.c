/* SPDX-License-Identifier: MIT */
/* Pools of receive buffers: which buffer is whose, written once for every engine. */

/*
 * Map
 *   1. The port's pools: add, remove, look up, free
 *   2. Ownership: take, untake, lend (the engines), return (the caller)
 *   3. Pool receives in flight (a pool in use cannot be removed)
 *
 * A pool is the caller's block of `count` buffers; each buffer is the port's or the
 * caller's (CPORT__BUF_*). The port's buffers are lent by one of two means:
 *   - the reactor and IOCP take one from the free stack here when a receive finds data
 *     (cport__bufpool_take), and give it back if the receive brought nothing for the
 *     caller (cport__bufpool_untake);
 *   - io_uring's kernel holds the port's buffers in a provided-buffer ring and picks
 *     one itself; a completion says which (the engine's bufpool_* slots keep the ring:
 *     a buffer that is the port's again goes back into it).
 * Either way a completion with data lends its buffer to that completion
 * (cport__bufpool_lend: CPORT_BUF in op->cflags), which hands it to the caller when it
 * is reaped (cport__bufpool_handed), and cport_bufpool_return is the one way back,
 * checked here: a buffer the caller does not hold (never handed over, still on a
 * completion not reaped, returned already) is CPORT_EINVAL, so a double return can
 * never put one buffer in two places.
 */

#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct cport__bufpools {
	struct cport__bufpool *g[CPORT_MAX_BUFPOOLS];
};

/* ---- 1. The port's pools -------------------------------------------------------------- */

struct cport__bufpool *cport__bufpool_get(cport *port, uint32_t group)
{
	if (!port->bufpools || group >= CPORT_MAX_BUFPOOLS)
		return NULL;
	return port->bufpools->g[group];
}

static void bufpool_free(struct cport__bufpool *bp)
{
	free(bp->free);
	free(bp->state);
	free(bp);
}

static struct cport__bufpool *bufpool_new(char *mem, uint32_t count, uint32_t size)
{
	struct cport__bufpool *bp = calloc(1, sizeof *bp);
	if (!bp)
		return NULL;
	bp->mem = mem;
	bp->count = count;
	bp->size = size;
	bp->state = calloc(count, sizeof *bp->state); /* CPORT__BUF_PORT: all free */
	bp->free = malloc(count * sizeof *bp->free);
	if (!bp->state || !bp->free) {
		bufpool_free(bp);
		return NULL;
	}
	/* Highest id at the bottom: lent in id order at first (easier to read in a
	 * debugger; any order is correct). */
	for (uint32_t i = 0; i < count; i++)
		bp->free[i] = (uint16_t)(count - 1 - i);
	bp->nfree = count;
	return bp;
}

static int bufpool_check(void *mem, uint32_t count, uint32_t size, const uint16_t *group)
{
	if (!mem || !group || count == 0 || count > CPORT_MAX_BUFPOOL_COUNT || size == 0 ||
	    size > CPORT_MAX_IO)
		return CPORT_EINVAL;
	/* The block must not wrap: every buffer's address is mem + id * size. */
	if ((uint64_t)count * size > UINTPTR_MAX - (uintptr_t)mem)
		return CPORT_EINVAL;
	return 0;
}

int cport__bufpool_add(cport *port, void *mem, uint32_t count, uint32_t size, uint16_t *group)
{
	int r = bufpool_check(mem, count, size, group);
	if (r < 0)
		return r;
	if (!port->bufpools && !(port->bufpools = calloc(1, sizeof *port->bufpools)))
		return CPORT_ENOMEM;
	uint32_t g = 0;
	while (g < CPORT_MAX_BUFPOOLS && port->bufpools->g[g])
		g++;
	if (g == CPORT_MAX_BUFPOOLS)
		return CPORT_ENOSPC;
	struct cport__bufpool *bp = bufpool_new(mem, count, size);
	if (!bp)
		return CPORT_ENOMEM;
	if (port->be->bufpool_add) {
		bp->kernel = true;
		if ((r = port->be->bufpool_add(port, bp, (uint16_t)g)) < 0) {
			bufpool_free(bp);
			return r;
		}
	}
	port->bufpools->g[g] = bp;
	*group = (uint16_t)g;
	return 0;
}

int cport__bufpool_remove(cport *port, uint32_t group)
{
	struct cport__bufpool *bp = cport__bufpool_get(port, group);
	if (!bp)
		return CPORT_EINVAL;
	if (bp->ops > 0)
		return CPORT_EBUSY;
	if (bp->kernel)
		port->be->bufpool_remove(port, bp, (uint16_t)group);
	port->bufpools->g[group] = NULL;
	bufpool_free(bp);
	return 0;
}

/* The engine let go of every pool already (its fini ran): memory only. */
void cport__bufpools_free(cport *port)
{
	if (!port->bufpools)
		return;
	for (uint32_t g = 0; g < CPORT_MAX_BUFPOOLS; g++)
		if (port->bufpools->g[g])
			bufpool_free(port->bufpools->g[g]);
	free(port->bufpools);
	port->bufpools = NULL;
}

/* ---- 2. Ownership ------------------------------------------------------------------------ */

int cport__bufpool_take(struct cport__bufpool *bp)
{
	assert(!bp->kernel);
	if (bp->nfree == 0)
		return CPORT_ENOBUFS;
	uint16_t id = bp->free[--bp->nfree];
	assert(bp->state[id] == CPORT__BUF_PORT);
	return id;
}

/* A buffer that is the port's again: on the free stack, or back in the kernel's ring. */
static void bufpool_give(cport *port, struct cport__bufpool *bp, uint32_t id)
{
	if (bp->kernel) {
		port->be->bufpool_give(port, bp, id);
		return;
	}
	assert(bp->nfree < bp->count);
	bp->free[bp->nfree++] = (uint16_t)id;
}

void cport__bufpool_untake(cport *port, struct cport__bufpool *bp, uint32_t id)
{
	assert(id < bp->count && bp->state[id] == CPORT__BUF_PORT);
	bufpool_give(port, bp, id);
}

uint32_t cport__bufpool_lend(struct cport__bufpool *bp, uint32_t id)
{
	/* A buffer the caller holds is in no free list and no ring: nobody lends it twice. */
	assert(id < bp->count && bp->state[id] == CPORT__BUF_PORT);
	bp->state[id] = CPORT__BUF_QUEUED;
	return CPORT_BUF | id << CPORT_BUF_SHIFT;
}

void cport__bufpool_hand(cport *port, cport_op *op)
{
	const struct cport__op *x = cport__x(op);
	assert(cport__is_pool_recv(x->type));
	struct cport__bufpool *bp = cport__bufpool_get(port, x->mode);
	uint32_t id = op->cflags >> CPORT_BUF_SHIFT;
	assert(bp && id < bp->count && bp->state[id] == CPORT__BUF_QUEUED);
	bp->state[id] = CPORT__BUF_CALLER;
}

int cport__bufpool_return(cport *port, uint32_t group, uint32_t id)
{
	struct cport__bufpool *bp = cport__bufpool_get(port, group);
	if (!bp || id >= bp->count || bp->state[id] != CPORT__BUF_CALLER)
		return CPORT_EINVAL;
	bp->state[id] = CPORT__BUF_PORT;
	bufpool_give(port, bp, id);
	return 0;
}

/* ---- 3. Pool receives in flight ---------------------------------------------------------- */

void cport__bufpool_op_accepted(cport *port, uint32_t group)
{
	struct cport__bufpool *bp = cport__bufpool_get(port, group);
	assert(bp);
	bp->ops++;
}

void cport__bufpool_op_reaped(cport *port, uint32_t group)
{
	struct cport__bufpool *bp = cport__bufpool_get(port, group);
	assert(bp && bp->ops > 0);
	bp->ops--;
}
