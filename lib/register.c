/* SPDX-License-Identifier: MIT */
/* Registered buffers and files: limits, range checks, the slot map and the ops using them. */

/*
 * Map
 *   1. The registration, and replacing what the engine registered
 *   2. Buffers: cport_register_buffers, cport_unregister_buffers, the range check
 *   3. Files: cport_register_files, cport_unregister_files, closes
 *   4. Ops: marking, holding and releasing a registration
 *
 * The rules of include/cport.h section 4d are kept here, once. An engine either
 * registers with its kernel (struct cport_backend's reg_* slots: io_uring) or has no
 * such slots: a registration is then this bookkeeping alone, and the ops take the
 * plain path, with the same checks and the same answers.
 *
 * An op that uses a registered buffer or descriptor counts from its accepted submit
 * until cport_wait hands it back (the contract's "in flight"), and an unregister or
 * re-register meanwhile is CPORT_EBUSY. By the time an op is reaped its last CQE has
 * come, so no request holds the kernel's table when it is dropped (io_uring's
 * unregister waits for such requests, which could be a socket's receive that never
 * ends).
 *
 * A registered descriptor is found through its entry in the descriptor table
 * (struct cport__fd.reg_slot), so an op on it needs no search. The kernel's slot holds
 * its own reference to the open file: a close through this port empties the slot
 * (cport__fd_close_end calls cport__reg_fd_gone) before the close's completion is
 * delivered, or the file would stay open behind the caller's back. A close through
 * cport elsewhere (another port, cport_sock_close) moves the number's close
 * generation: the next op on that number through this port sees it and empties the
 * slot instead of reaching the old file.
 */

#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* A slot whose descriptor was closed. */
#define REG_EMPTY ((cport_fd)-1)

struct cport__reg {
	cport_iovec *bufs;   /* copies of the registered buffers */
	cport_fd *fds;       /* slot -> its descriptor, REG_EMPTY once closed */
	uint32_t *gens;      /* slot -> the descriptor's close generation when registered */
	uint32_t nbufs, nfiles;
	uint64_t buf_users;  /* ops in a registered buffer, accepted and not reaped */
	uint64_t file_users; /* ops on a registered descriptor, the same */
};

/* ---- 1. The registration ----------------------------------------------------------- */

static int reg_get(cport *port, struct cport__reg **g)
{
	if (!port->reg && !(port->reg = calloc(1, sizeof *port->reg)))
		return CPORT_ENOMEM;
	*g = port->reg;
	return 0;
}

/* May the registration of one kind change now? CPORT_ENOENT for an unregister (n 0)
 * of nothing, CPORT_EBUSY while an op uses the present set. */
static int reg_may_change(cport *port, bool files, unsigned n, struct cport__reg **gp)
{
	struct cport__reg *g = port->reg;
	if (n == 0 && (!g || (files ? g->nfiles : g->nbufs) == 0))
		return CPORT_ENOENT;
	int r = reg_get(port, gp);
	if (r < 0)
		return r;
	return (files ? (*gp)->file_users : (*gp)->buf_users) > 0 ? CPORT_EBUSY : 0;
}

/* Ask the engine to register `n` things of one kind (n 0: drop them). */
static int reg_engine_set(cport *port, bool files, const void *set, unsigned n)
{
	return files ? port->be->reg_files(port, set, n) : port->be->reg_buffers(port, set, n);
}

static void reg_files_forget(cport *port, struct cport__reg *g);

/* Forget the registration of one kind; the engine has none of it (any more). */
static void reg_forget(cport *port, struct cport__reg *g, bool files)
{
	if (files) {
		reg_files_forget(port, g);
	} else {
		free(g->bufs);
		g->bufs = NULL;
		g->nbufs = 0;
	}
}

/*
 * Replace what the engine registered of one kind with `set` (n 0: nothing). The
 * kernel keeps one table of each kind, so the old one goes first; if the kernel then
 * refuses the new one (CPORT_ENOMEM when pinning the buffers is over RLIMIT_MEMLOCK,
 * ...), the old one is registered again and the call changed nothing. Should even
 * that fail, nothing of that kind is left registered (said in cport.h).
 */
static int reg_engine_swap(cport *port, struct cport__reg *g, bool files, const void *set,
			   unsigned n)
{
	const void *old = files ? (const void *)g->fds : (const void *)g->bufs;
	unsigned old_n = files ? g->nfiles : g->nbufs;
	if (!(files ? port->be->reg_files != NULL : port->be->reg_buffers != NULL))
		return 0; /* bookkeeping only: the plain path */
	int r = old_n ? reg_engine_set(port, files, NULL, 0) : 0;
	if (r < 0 || n == 0)
		return r;
	r = reg_engine_set(port, files, set, n);
	if (r < 0 && old_n && reg_engine_set(port, files, old, old_n) < 0)
		reg_forget(port, g, files);
	return r;
}

/* ---- 2. Buffers ---------------------------------------------------------------------- */

/* 1..CPORT_MAX_REG_BUFFERS buffers, each non-NULL, 1..CPORT_MAX_REG_BUFFER_LEN bytes, not
 * wrapping around the address space (io_uring's own rules, kept on every backend). */
static int reg_check_bufs(const cport_iovec *iov, unsigned n)
{
	if (!iov || n == 0 || n > CPORT_MAX_REG_BUFFERS)
		return CPORT_EINVAL;
	for (unsigned i = 0; i < n; i++) {
		uintptr_t base = (uintptr_t)iov[i].base;
		if (!base || iov[i].len == 0 || iov[i].len > CPORT_MAX_REG_BUFFER_LEN ||
		    iov[i].len > UINTPTR_MAX - base)
			return CPORT_EINVAL;
	}
	return 0;
}

/* Register `iov` (n 0: unregister), unless an op in flight uses the present ones. */
static int reg_set_bufs(cport *port, const cport_iovec *iov, unsigned n)
{
	struct cport__reg *g;
	int r = reg_may_change(port, false, n, &g);
	if (r < 0)
		return r;
	cport_iovec *copy = NULL;
	if (n > 0) {
		if (!(copy = malloc((size_t)n * sizeof *copy)))
			return CPORT_ENOMEM;
		memcpy(copy, iov, (size_t)n * sizeof *copy);
	}
	r = reg_engine_swap(port, g, false, copy, n);
	if (r < 0) {
		free(copy);
		return r;
	}
	free(g->bufs);
	g->bufs = copy;
	g->nbufs = n;
	return 0;
}

int cport__reg_check_buf(cport *port, const void *buf, uint64_t len, uint32_t index)
{
	const struct cport__reg *g = port->reg;
	if (!g || index >= g->nbufs)
		return CPORT_EINVAL;
	uintptr_t b = (uintptr_t)buf, base = (uintptr_t)g->bufs[index].base;
	uint64_t size = g->bufs[index].len;
	/* Inside [base, base + size], the end included; no sum that could wrap. */
	if (b < base || b - base > size || len > size - (b - base))
		return CPORT_EINVAL;
	return 0;
}

/* ---- 3. Files -------------------------------------------------------------------------- */

static int reg_fd_cmp(const void *a, const void *b)
{
	cport_fd x = *(const cport_fd *)a, y = *(const cport_fd *)b;
	return (x > y) - (x < y);
}

/* Does `fds` name a descriptor twice? (One slot per descriptor: the engine maps a
 * descriptor to its slot, which must then be one.) */
static int reg_check_unique(const cport_fd *fds, unsigned n)
{
	cport_fd *sorted = malloc((size_t)n * sizeof *sorted);
	if (!sorted)
		return CPORT_ENOMEM;
	memcpy(sorted, fds, (size_t)n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, reg_fd_cmp);
	int r = 0;
	for (unsigned i = 1; i < n && r == 0; i++)
		if (sorted[i] == sorted[i - 1])
			r = CPORT_EINVAL;
	free(sorted);
	return r;
}

/* 1..CPORT_MAX_REG_FILES descriptors, each open (and not being closed on this port),
 * none twice. Each gets an entry in the descriptor table (that is all that changes). */
static int reg_check_files(cport *port, const cport_fd *fds, unsigned n)
{
	if (!fds || n == 0 || n > CPORT_MAX_REG_FILES)
		return CPORT_EINVAL;
	for (unsigned i = 0; i < n; i++) {
		struct cport__fd *f;
		int r = cport__check_fd(fds[i]);
		if (r < 0 || (r = cport__fd_get(port, fds[i], &f)) < 0)
			return r;
	}
	return reg_check_unique(fds, n);
}

/* The descriptors of every slot forget their slot; the slots go. */
static void reg_files_forget(cport *port, struct cport__reg *g)
{
	for (uint32_t i = 0; i < g->nfiles; i++) {
		struct cport__fd *f;
		if (g->fds[i] != REG_EMPTY && (f = cport__fd_find(port, g->fds[i])) != NULL &&
		    f->reg_slot == i + 1)
			f->reg_slot = 0;
	}
	free(g->fds);
	free(g->gens);
	g->fds = NULL;
	g->gens = NULL;
	g->nfiles = 0;
}

/* Register `fds` (n 0: unregister), unless an op in flight uses the present ones. */
static int reg_set_files(cport *port, const cport_fd *fds, unsigned n)
{
	struct cport__reg *g;
	int r = reg_may_change(port, true, n, &g);
	if (r < 0)
		return r;
	cport_fd *slots = NULL;
	uint32_t *gens = NULL;
	if (n > 0 && (!(slots = malloc((size_t)n * sizeof *slots)) ||
		      !(gens = malloc((size_t)n * sizeof *gens)))) {
		free(slots);
		return CPORT_ENOMEM;
	}
	if (n > 0)
		memcpy(slots, fds, (size_t)n * sizeof *slots);
	if ((r = reg_engine_swap(port, g, true, slots, n)) < 0) {
		free(slots);
		free(gens);
		return r;
	}
	reg_files_forget(port, g);
	for (uint32_t i = 0; i < n; i++) {
		/* Every descriptor has its entry (reg_check_files made it). */
		cport__fd_find(port, slots[i])->reg_slot = i + 1;
		gens[i] = cport__fd_gen(slots[i]);
	}
	g->fds = slots;
	g->gens = gens;
	g->nfiles = n;
	return 0;
}

/* The public calls: a change of one kind (n 0: unregister) inside the one-thread
 * check. Descriptors are checked inside it too: checking one may grow the table. */
static int reg_call(cport *port, bool files, const void *set, unsigned n)
{
	if (!port)
		return CPORT_EINVAL;
	int e = cport__port_enter(port);
	if (e < 0)
		return e;
	int r = files && n > 0 ? reg_check_files(port, set, n) : 0;
	if (r == 0)
		r = files ? reg_set_files(port, set, n) : reg_set_bufs(port, set, n);
	cport__port_leave(port);
	return r;
}

int cport_register_buffers(cport *port, const cport_iovec *iov, unsigned n)
{
	int r = reg_check_bufs(iov, n);
	return r < 0 ? r : reg_call(port, false, iov, n);
}

int cport_unregister_buffers(cport *port)
{
	return reg_call(port, false, NULL, 0);
}

int cport_register_files(cport *port, const cport_fd *fds, unsigned n)
{
	return fds && n > 0 ? reg_call(port, true, fds, n) : CPORT_EINVAL;
}

int cport_unregister_files(cport *port)
{
	return reg_call(port, true, NULL, 0);
}

void cport__reg_fd_gone(cport *port, struct cport__fd *f)
{
	struct cport__reg *g = port->reg;
	uint32_t slot = f->reg_slot - 1;
	assert(g && f->reg_slot > 0 && slot < g->nfiles);
	f->reg_slot = 0;
	g->fds[slot] = REG_EMPTY;
	if (port->be->reg_file_clear && !port->forked)
		port->be->reg_file_clear(port, slot);
}

int cport__reg_file_slot(cport *port, cport_fd fd)
{
	const struct cport__fd *f = cport__fd_find(port, fd);
	return f && f->reg_slot ? (int)(f->reg_slot - 1) : -1;
}

/* ---- 4. Ops ------------------------------------------------------------------------------ */

void cport__reg_mark(cport *port, cport_op *op)
{
	struct cport__op *x = cport__x(op);
	struct cport__reg *g = port->reg;
	if (g->nfiles == 0 || !cport__has_fd(x->type))
		return;
	struct cport__fd *f = cport__fd_find(port, x->fd);
	if (!f || !f->reg_slot)
		return;
	if (g->gens[f->reg_slot - 1] != cport__fd_gen(x->fd)) {
		/* Closed through cport elsewhere since it was registered: the number may
		 * be another file now, and the kernel's slot still holds the old one. */
		cport__reg_fd_gone(port, f);
		return;
	}
	x->reg |= CPORT__REG_FILE;
}

void cport__reg_hold(cport *port, const struct cport__op *x)
{
	struct cport__reg *g = port->reg;
	assert(g);
	if (x->reg & CPORT__REG_BUF)
		g->buf_users++;
	if (x->reg & CPORT__REG_FILE)
		g->file_users++;
}

void cport__reg_release(cport *port, const struct cport__op *x)
{
	struct cport__reg *g = port->reg;
	assert(g);
	if (x->reg & CPORT__REG_BUF) {
		assert(g->buf_users > 0);
		g->buf_users--;
	}
	if (x->reg & CPORT__REG_FILE) {
		assert(g->file_users > 0);
		g->file_users--;
	}
}

void cport__reg_free(cport *port)
{
	struct cport__reg *g = port->reg;
	if (!g)
		return;
	free(g->bufs);
	free(g->fds);
	free(g->gens);
	free(g);
	port->reg = NULL;
}
