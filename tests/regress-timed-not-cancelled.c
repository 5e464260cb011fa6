/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #15): an op with a timeout that nobody cancelled never completes with CPORT_ECANCELED. */

/*
 * Rule 7: an op whose timeout fires completes with CPORT_ETIMEDOUT; one that finishes in
 * time completes with its result. io_uring implements timeouts with a linked timeout,
 * and the kernel reports the op it stopped as -ECANCELED: under load some timed writes
 * reached the caller as CPORT_ECANCELED though nobody cancelled anything. Here many
 * timed file writes run at a fixed depth, some with a timeout that will not fire (10 s)
 * and some with ones that often do (1 us to 10 ms; on O_DSYNC writes, often while the
 * write runs), and no op is ever cancelled: each completion must be the byte count or
 * CPORT_ETIMEDOUT.
 */

#include "helpers.h"

#include <stdio.h>
#include <string.h>

enum { TOTAL = 100000, DEPTH = 256, SPAN = 8 << 20, RUN_MS = 5000 };

struct counts {
	unsigned written, timed_out, cancelled, other;
	int64_t other_result;
};

static void tally(struct counts *c, const cport_op *op, size_t blk)
{
	if (op->result == (int64_t)blk)
		c->written++;
	else if (op->result == CPORT_ETIMEDOUT)
		c->timed_out++;
	else if (op->result == CPORT_ECANCELED)
		c->cancelled++;
	else
		c->other++, c->other_result = op->result;
}

/* Writes of `blk` bytes, `depth` in flight, on `fd`, the i-th with timeout tmo[i % ntmo],
 * until TOTAL or RUN_MS; never cancelled. Returns what they completed with. */
static struct counts run_writes(cport *port, cport_fd fd, size_t blk, const uint64_t *tmo,
				unsigned ntmo, unsigned depth, const char *what)
{
	static cport_op ops[DEPTH];
	static uint8_t buf[256 << 10];
	assert_true(blk <= sizeof buf);
	memset(ops, 0, sizeof ops);
	memset(buf, 0x3c, sizeof buf);
	struct counts c = {0};
	unsigned submitted = 0, done = 0, free_top = 0;
	cport_op *free_ops[DEPTH];
	assert_true(depth <= DEPTH);
	for (unsigned i = 0; i < depth; i++)
		free_ops[free_top++] = &ops[i];
	uint64_t end = t_now_ms() + RUN_MS; /* a bound for a slow machine, not a goal */
	for (;;) {
		while (submitted < TOTAL && t_now_ms() < end && free_top > 0) {
			cport_op *op = free_ops[--free_top];
			memset(op, 0, sizeof *op);
			op->timeout_ns = tmo[submitted % ntmo];
			int64_t off = (int64_t)((submitted * (uint64_t)blk) % SPAN);
			int r = cport_write(port, op, fd, buf, blk, off);
			if (r == CPORT_ENOTSUP && submitted == 0) {
				c.other = UINT32_MAX; /* refused: the caller skips */
				return c;
			}
			assert_int_equal(r, 0);
			submitted++;
		}
		if (done == submitted)
			break;
		cport_op *out[DEPTH];
		int n = cport_wait(port, out, DEPTH, 10ll * 1000000000);
		if (n <= 0)
			fail_msg("%s: no completion in 10 s with %u writes in flight", what,
				 submitted - done);
		for (int i = 0; i < n; i++) {
			tally(&c, out[i], blk);
			free_ops[free_top++] = out[i];
		}
		done += (unsigned)n;
	}
	printf("regress-timed-not-cancelled (%s): %s: %u timed writes: %u written, %u timed "
	       "out, %u ECANCELED, %u other\n", t_backend(), what, done, c.written, c.timed_out,
	       c.cancelled, c.other);
	fflush(stdout);
	return c;
}

static void verdict(const struct counts *c, const char *what)
{
	if (c->cancelled)
		fail_msg("%s: %u timed writes that nobody cancelled completed with ECANCELED",
			 what, c->cancelled);
	if (c->other)
		fail_msg("%s: %u timed writes completed with %lld (%s)", what, c->other,
			 (long long)c->other_result, cport_err_name(c->other_result));
	assert_true(c->written > 0);
}

/* Small page-cache writes: 10 s timeouts that never fire, and 1 us ones that often do. */
static void small_writes(void **state)
{
	(void)state;
	cport *port = t_port_depth(64);
	cport_fd fd = t_file(SPAN);
	const uint64_t tmo[] = {10ull * 1000000000, 1000};
	struct counts c = run_writes(port, fd, 512, tmo, 2, 64, "512-byte writes");
	t_close(fd);
	cport_destroy(port);
	if (c.other == UINT32_MAX)
		t_skip("timeout_ns on file writes is refused here (ENOTSUP: thread pool)");
	verdict(&c, "512-byte writes");
}

/* Slow writes (64 KiB, O_DSYNC: each waits for the disk, so the kernel runs them in its
 * workers) with timeouts from 1 us to 10 ms: many fire while the write is running. */
static void dsync_writes(void **state)
{
	(void)state;
	cport *port = t_port_depth(64);
	char path[300];
	t_path(path, sizeof path, "dsync");
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, path,
				    CPORT_O_RDWR | CPORT_O_CREAT | CPORT_O_DSYNC, 0600), 0);
	int64_t fd = t_run(port, &op);
	assert_true(fd >= 0);
	const uint64_t tmo[] = {1000, 10000, 100000, 1000000, 10000000, 10ull * 1000000000};
	struct counts c = run_writes(port, (cport_fd)fd, 64 << 10, tmo, 6, 64,
				     "64 KiB O_DSYNC writes");
	assert_int_equal(cport_close(port, &op, (cport_fd)fd), 0);
	assert_int_equal(t_run(port, &op), 0);
	cport_destroy(port);
	if (c.other == UINT32_MAX)
		t_skip("timeout_ns on file writes is refused here (ENOTSUP: thread pool)");
	verdict(&c, "64 KiB O_DSYNC writes");
}

/* A small queue (8 entries) with 256 timed writes in flight: the submission queue fills
 * and completions overflow their ring, and the library must still pair each write with
 * its timeout. */
static void small_queue(void **state)
{
	(void)state;
	cport *port = t_port_depth(8);
	cport_fd fd = t_file(SPAN);
	const uint64_t tmo[] = {10ull * 1000000000, 1000, 50000, 2000000};
	struct counts c = run_writes(port, fd, 4096, tmo, 4, 256, "4 KiB writes, queue of 8");
	t_close(fd);
	cport_destroy(port);
	if (c.other == UINT32_MAX)
		t_skip("timeout_ns on file writes is refused here (ENOTSUP: thread pool)");
	verdict(&c, "4 KiB writes, queue of 8");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_writes),
		cmocka_unit_test(dsync_writes),
		cmocka_unit_test(small_queue),
	};
	return T_MAIN("regress-timed-not-cancelled", tests);
}
