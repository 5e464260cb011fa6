/* SPDX-License-Identifier: MIT */
/* The thread pool: its size comes from the options; queued ops stop on cancel, timeout and close. */

/*
 * A worker is held busy, deterministically, by opening a FIFO for reading: open(2)
 * blocks until someone opens the other end, which the test does when it is ready. Ops
 * queued behind it are then known not to have started. These tests need file ops to run
 * on the pool: the readiness backends and io_uring-pool; plain io_uring runs them in the
 * kernel, so they are skipped there.
 */

#include "helpers.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A port on the backend under test with `threads` pool workers; skips plain io_uring. */
static cport *pool_port(unsigned threads)
{
	cport *port = t_port_pool(0, threads);
	if (strcmp(cport_backend_name(port), "io_uring") == 0 && !t_uring_pool()) {
		cport_destroy(port);
		t_skip("io_uring runs file ops in the kernel, not on the thread pool");
	}
	return port;
}

/* Occupy one worker: a FIFO open that blocks until fifo_release. */
static void fifo_hold(cport *port, cport_op *op, char *path, size_t n, const char *name)
{
	t_path(path, n, name);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(cport_open(port, op, path, CPORT_O_RDONLY, 0), 0);
	assert_int_equal(cport_submit(port), 0);
}

/* Let the held worker go (its open then succeeds); returns our end, to be closed. */
static int fifo_release(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Wait for the open of a released FIFO and close what it opened. */
static void fifo_reap(cport *port, cport_op *hold, int wr)
{
	int64_t fd = t_run(port, hold);
	assert_true(fd >= 0);
	close((int)fd);
	close(wr);
}

static void size_from_options(void **state)
{
	(void)state;
	cport *port = pool_port(2);
	char p1[300], p2[300];
	cport_op h1 = {0}, h2 = {0}, st = {0};
	cport_statbuf sb;
	fifo_hold(port, &h1, p1, sizeof p1, "fifo-size-1");
	fifo_hold(port, &h2, p2, sizeof p2, "fifo-size-2");
	int fd = t_file(100);
	assert_int_equal(cport_fstat(port, &st, fd, &sb), 0);
	/* Both workers are held: the fstat waits. */
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 100 * 1000000LL), 0);
	int w1 = fifo_release(p1);
	/* One worker free: the open and then the fstat complete, in some order. */
	cport_op *got[2] = {t_wait1(port), t_wait1(port)};
	assert_true((got[0] == &h1 && got[1] == &st) || (got[0] == &st && got[1] == &h1));
	assert_int_equal(st.result, 0);
	assert_int_equal(sb.size, 100);
	assert_true(h1.result >= 0);
	close((int)h1.result);
	close(w1);
	fifo_reap(port, &h2, fifo_release(p2));
	close(fd);
	cport_destroy(port);
}

static void queued_cancel_and_timeout(void **state)
{
	(void)state;
	cport *port = pool_port(1);
	char path[300];
	cport_op hold = {0}, a = {0}, b = {0}, c = {0};
	cport_statbuf sa, sb, sc;
	fifo_hold(port, &hold, path, sizeof path, "fifo-cancel");
	int fd = t_file(4096);
	/* fstat: always a pool op there (a cached read completes at once: the page
	 * cache's fast path). */
	assert_int_equal(cport_fstat(port, &a, fd, &sa), 0);
	b.timeout_ns = 50 * 1000000ull;
	int rb = cport_fstat(port, &b, fd, &sb);
	bool timeouts = rb == 0;
	if (!timeouts)
		assert_int_equal(rb, CPORT_ENOTSUP); /* io_uring refuses them on pool ops */
	assert_int_equal(cport_fstat(port, &c, fd, &sc), 0);
	/* a is queued behind the held worker: cancel stops it at once. */
	assert_int_equal(cport_cancel(port, &a), 0);
	assert_int_equal(t_run(port, &a), CPORT_ECANCELED);
	if (timeouts) /* b times out while still queued */
		assert_int_equal(t_run(port, &b), CPORT_ETIMEDOUT);
	int wr = fifo_release(path);
	cport_op *got[2] = {t_wait1(port), t_wait1(port)};
	assert_ptr_equal(got[0], &hold); /* one worker: queue order */
	assert_ptr_equal(got[1], &c);
	assert_int_equal(c.result, 0);
	assert_int_equal(sc.size, 4096);
	assert_true(hold.result >= 0);
	close((int)hold.result);
	close(wr);
	close(fd);
	cport_destroy(port);
	if (!timeouts)
		t_skip("io_uring refuses timeout_ns on thread-pool ops (ENOTSUP)");
}

/* Close cancels (rule 8) ops on the descriptor still queued on the pool. */
static void close_cancels_queued(void **state)
{
	(void)state;
	cport *port = pool_port(1);
	char path[300];
	cport_op hold = {0}, a = {0}, b = {0}, cl = {0};
	cport_statbuf sa;
	fifo_hold(port, &hold, path, sizeof path, "fifo-close");
	int fd = t_file(4096);
	assert_int_equal(cport_fstat(port, &a, fd, &sa), 0); /* a pool op (see above) */
	assert_int_equal(cport_fsync(port, &b, fd, 0), 0);
	assert_int_equal(cport_close(port, &cl, fd), 0);
	cport_op *out[1];
	int n = cport_wait(port, out, 1, 10 * 1000000000LL); /* a hang bound, as t_wait1 */
	assert_int_equal(n, 1);
	cport_op *second = t_wait1(port);
	assert_true((out[0] == &a && second == &b) || (out[0] == &b && second == &a));
	assert_int_equal(a.result, CPORT_ECANCELED);
	assert_int_equal(b.result, CPORT_ECANCELED);
	/* The close comes after them: at once where the kernel closes (io_uring), or
	 * behind the held worker where the pool closes files (readiness backends). */
	int wr = fifo_release(path);
	cport_op *got[2] = {t_wait1(port), t_wait1(port)};
	assert_true((got[0] == &hold && got[1] == &cl) || (got[0] == &cl && got[1] == &hold));
	assert_int_equal(cl.result, 0);
	close((int)hold.result);
	close(wr);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(size_from_options),
		cmocka_unit_test(queued_cancel_and_timeout),
		cmocka_unit_test(close_cancels_queued),
	};
	return T_MAIN("pool", tests);
}
