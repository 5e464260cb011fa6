/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #10, #11b): a rejected submit returns its error and leaves every byte of the op as it was. */

/*
 * cport.h: "a rejected call changes nothing". Submit calls prepared the op (type, port,
 * result, cflags, private words) before checking their arguments, so a rejected call
 * still wrote into the op; and cport_post accepted an op whose flags were not 0. Here
 * each bad call is made on an op holding recognisable bytes (result 1234, cflags 7, a
 * pattern in the private words with word 0, the in-flight marker, clear); the call must
 * return the documented error and the whole struct must compare equal afterwards. No
 * completion may ever come for a rejected op. Every case is tried; the failures are
 * listed together.
 */

#include "helpers.h"

#include <stdio.h>
#include <string.h>

enum { CASES = 48 };

struct ctx {
	cport *port;
	cport_fd file;
	char buf[16];
	cport_iovec iov[2];
	cport_iovec nullbase[1];
	cport_statbuf st;
	cport_msg msg;
	cport_addr addr;
};

static void fill(cport_op *op, uint32_t flags)
{
	memset(op, 0, sizeof *op);
	op->user = (void *)(uintptr_t)0x5151;
	op->timeout_ns = 0;
	op->flags = flags;
	op->cflags = 7;
	op->result = 1234;
	for (unsigned i = 1; i < CPORT_OP_INTERNAL_WORDS; i++)
		op->internal[i] = 0xa5a5a5a500000000ull | i;
	op->internal[0] = 0;
}

/* Case `i`: make a bad call on `op`; *name and *want describe it. Returns the call's
 * code, or 1 when there is no case `i`. */
static int bad_call(int i, struct ctx *c, cport_op *op, const char **name, int *want)
{
	cport *p = c->port;
	cport_fd f = c->file, bad = (cport_fd)-1;
	*want = CPORT_EINVAL;
#define CASE(n, w, call)                                                                    \
	case n:                                                                             \
		*name = #call;                                                              \
		*want = (w);                                                                \
		return (call)
	switch (i) {
		CASE(0, CPORT_EINVAL, cport_read(p, op, f, NULL, 10, 0));
		CASE(1, CPORT_EINVAL, cport_read(p, op, f, c->buf, 10, -5));
		CASE(2, CPORT_EBADF, cport_read(p, op, bad, c->buf, 10, 0));
		CASE(3, CPORT_EINVAL, cport_read(p, op, f, c->buf, (size_t)CPORT_MAX_IO + 1, 0));
		CASE(4, CPORT_EINVAL, cport_write(p, op, f, NULL, 10, 0));
		CASE(5, CPORT_EINVAL, cport_write(p, op, f, c->buf, 10, -5));
		CASE(6, CPORT_EBADF, cport_write(p, op, bad, c->buf, 10, -1));
		CASE(7, CPORT_EINVAL, cport_readv(p, op, f, c->iov, 0, 0));
		CASE(8, CPORT_EINVAL, cport_readv(p, op, f, c->iov, 1025, 0));
		CASE(9, CPORT_EINVAL, cport_readv(p, op, f, NULL, 1, 0));
		CASE(10, CPORT_EINVAL, cport_writev(p, op, f, c->nullbase, 1, 0));
		CASE(11, CPORT_EINVAL, cport_writev(p, op, f, c->iov, 2, -2));
		CASE(12, CPORT_EBADF, cport_readv(p, op, bad, c->iov, 2, 0));
		CASE(13, CPORT_EINVAL, cport_fsync(p, op, f, 0x80));
		CASE(14, CPORT_EBADF, cport_fsync(p, op, bad, 0));
		CASE(15, CPORT_EINVAL, cport_open(p, op, NULL, CPORT_O_RDONLY, 0));
		CASE(16, CPORT_EINVAL, cport_open(p, op, "x", 1u << 20, 0));
		CASE(17, CPORT_EBADF, cport_close(p, op, bad));
		CASE(18, CPORT_EINVAL, cport_stat(p, op, "x", NULL));
		CASE(19, CPORT_EINVAL, cport_stat(p, op, NULL, &c->st));
		CASE(20, CPORT_EBADF, cport_fstat(p, op, bad, &c->st));
		CASE(21, CPORT_EINVAL, cport_fallocate(p, op, f, 0x80, 0, 10));
		CASE(22, CPORT_EINVAL, cport_fallocate(p, op, f, 0, 0, 0));
		CASE(23, CPORT_EINVAL, cport_fallocate(p, op, f, 0, -1, 10));
		CASE(24, CPORT_EINVAL, cport_ftruncate(p, op, f, -1));
		CASE(25, CPORT_EINVAL, cport_rename(p, op, NULL, "y"));
		CASE(26, CPORT_EINVAL, cport_unlink(p, op, "x", 0x80));
		CASE(27, CPORT_EINVAL, cport_mkdir(p, op, NULL, 0700));
		CASE(28, CPORT_EINVAL, cport_timer(p, op, 1000, 0x80));
		CASE(29, CPORT_EINVAL, cport_recv(p, op, f, c->buf, 10, 1));
		CASE(30, CPORT_EINVAL, cport_recv(p, op, f, NULL, 10, 0));
		CASE(31, CPORT_EBADF, cport_recv(p, op, bad, c->buf, 10, 0));
		CASE(32, CPORT_EINVAL, cport_send(p, op, f, NULL, 10, 0));
		CASE(33, CPORT_EINVAL, cport_send(p, op, f, c->buf, 10, 1u << 7));
		CASE(34, CPORT_EINVAL, cport_recvmsg(p, op, f, NULL));
		CASE(35, CPORT_EINVAL, cport_sendmsg(p, op, f, &c->msg)); /* msg.flags != 0 */
		CASE(36, CPORT_EINVAL, cport_accept(p, op, f, NULL, 0x80));
		CASE(37, CPORT_EINVAL, cport_accept(p, op, f, &c->addr, CPORT_ACCEPT_MULTISHOT));
		CASE(38, CPORT_EINVAL, cport_connect(p, op, f, NULL));
		CASE(39, CPORT_EINVAL, cport_shutdown(p, op, f, 7));
		CASE(40, CPORT_EINVAL, cport_poll(p, op, f, 0));
		CASE(41, CPORT_EINVAL, cport_sendfile(p, op, f, f, -1, 10));
		CASE(42, CPORT_ENOENT, cport_cancel(p, op)); /* not in flight */
		CASE(43, CPORT_EINVAL, cport_nop(NULL, op));
		CASE(44, CPORT_EINVAL, cport_read(NULL, op, f, c->buf, 10, 0));
	default:
		return 1;
	}
#undef CASE
}

/* Cases whose op carries an op->flags bit no call knows (every call must refuse those;
 * cport_post refuses every flag, CPORT_OP_LINK too). */
static int flagged_call(int i, struct ctx *c, cport_op *op, const char **name)
{
	switch (i) {
	case 0:
		*name = "cport_post(unknown flag)";
		return cport_post(c->port, op, 5);
	case 1:
		*name = "cport_nop(unknown flag)";
		return cport_nop(c->port, op);
	case 2:
		*name = "cport_timer(unknown flag)";
		return cport_timer(c->port, op, 1000, 0);
	case 3:
		*name = "cport_read(unknown flag)";
		return cport_read(c->port, op, c->file, c->buf, 10, 0);
	default:
		return 1;
	}
}

static char faults[4096];
static unsigned nfaults;

static void fault(const char *fmt, const char *name, int r, int want)
{
	size_t used = strlen(faults);
	if (used + 200 > sizeof faults)
		return;
	used += (size_t)snprintf(faults + used, sizeof faults - used, "\n  %s: ", name);
	snprintf(faults + used, sizeof faults - used, fmt, cport_err_name(r), cport_err_name(want));
	nfaults++;
}

/* Make the call on a filled op; check its code and that the op did not change. */
static void check(const char *name, int r, int want, const cport_op *before, const cport_op *op)
{
	if (r == 0) {
		fault("accepted (%s), wanted %s: the test reaps it", name, r, want);
		return;
	}
	if (r != want)
		fault("returned %s, wanted %s", name, r, want);
	if (memcmp(before, op, sizeof *op) != 0)
		fault("rejected (%s; wanted %s) but changed the op", name, r, want);
}

static void ctx_init(struct ctx *c)
{
	memset(c, 0, sizeof *c);
	c->port = t_port();
	c->file = t_file(64);
	c->iov[0].base = c->buf, c->iov[0].len = 4;
	c->iov[1].base = c->buf + 4, c->iov[1].len = 4;
	c->nullbase[0].base = NULL, c->nullbase[0].len = 4;
	c->msg.iov = c->iov;
	c->msg.iovcnt = 1;
	c->msg.flags = 1;
	assert_int_equal(cport_addr_parse(&c->addr, "127.0.0.1:1"), 0);
}

/* Anything accepted by mistake is reaped here; then nothing else may come. */
static void drain(cport *port)
{
	cport_op *out[8];
	int n;
	while ((n = cport_wait(port, out, 8, 50 * 1000000LL)) > 0)
		for (int i = 0; i < n; i++) {
			size_t used = strlen(faults);
			snprintf(faults + used, sizeof faults - used,
				 "\n  an op that should have been rejected was reaped (result %lld)",
				 (long long)out[i]->result);
			nfaults++;
		}
}

static void bad_arguments(void **state)
{
	(void)state;
	static struct ctx c;
	ctx_init(&c);
	nfaults = 0;
	faults[0] = 0;
	/* One op per case: an op accepted by mistake is never reused while in flight. */
	static cport_op ops[2][CASES];
	cport_op before;
	for (int i = 0; i < CASES; i++) {
		const char *name = NULL;
		int want = 0;
		fill(&ops[0][i], 0);
		before = ops[0][i];
		int r = bad_call(i, &c, &ops[0][i], &name, &want);
		if (r == 1)
			break;
		check(name, r, want, &before, &ops[0][i]);
	}
	for (int i = 0; i < CASES; i++) {
		const char *name = NULL;
		fill(&ops[1][i], i == 0 ? CPORT_OP_LINK : 1u << 31);
		before = ops[1][i];
		int r = flagged_call(i, &c, &ops[1][i], &name);
		if (r == 1)
			break;
		check(name, r, CPORT_EINVAL, &before, &ops[1][i]);
	}
	drain(c.port);
	t_close(c.file);
	cport_destroy(c.port);
	if (nfaults) {
		fprintf(stderr, "%u faults:%s\n", nfaults, faults);
		fail_msg("%u rejected submits misbehaved (listed above)", nfaults);
	}
}

/* An op in flight submitted again: CPORT_EBUSY, and the call did not touch it. */
static void busy_op_unchanged(void **state)
{
	(void)state;
	static struct ctx c;
	ctx_init(&c);
	nfaults = 0;
	faults[0] = 0;
	cport_op op = {0}, before;
	assert_int_equal(cport_timer(c.port, &op, 10ull * 1000000000, 0), 0);
	assert_int_equal(cport_submit(c.port), 0);
	before = op;
	check("cport_nop on a timer in flight", cport_nop(c.port, &op), CPORT_EBUSY, &before, &op);
	before = op;
	check("cport_read on a timer in flight",
	      cport_read(c.port, &op, c.file, c.buf, 10, 0), CPORT_EBUSY, &before, &op);
	before = op;
	check("cport_post on a timer in flight", cport_post(c.port, &op, 9), CPORT_EBUSY, &before,
	      &op);
	assert_int_equal(cport_cancel(c.port, &op), 0);
	assert_int_equal(t_run(c.port, &op), CPORT_ECANCELED);
	drain(c.port);
	t_close(c.file);
	cport_destroy(c.port);
	if (nfaults) {
		fprintf(stderr, "%u faults:%s\n", nfaults, faults);
		fail_msg("%u rejected submits misbehaved (listed above)", nfaults);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(busy_op_unchanged),
	};
	return T_MAIN("regress-rejected-submit-unchanged", tests);
}
