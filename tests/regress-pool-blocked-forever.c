/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #6): an open that blocks forever (a FIFO with no writer) can be cancelled, and destroy returns. */

/*
 * Rule 14: "destroy returns in bounded time even when a pool op is stuck in a call that
 * may never return", and rule 6: a cancel stops an op. Opening a FIFO for reading blocks
 * until a writer comes; with none, a pool worker sat in open(2) for ever: cport_cancel
 * left the op in flight and cport_destroy waited for the worker without end. Plain
 * io_uring runs the open in the kernel's io-wq, where it is cancellable too: every
 * backend is held to the same rule. A hang is caught by a bounded wait (then the FIFO is
 * opened for writing to free the worker, so the test can say what happened) or, for
 * destroy, by a watchdog thread.
 */

#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void make_fifo(char *path, size_t n, const char *name)
{
	t_path(path, n, name);
	assert_int_equal(mkfifo(path, 0600), 0);
}

/* Open the FIFO's writing end without blocking: frees a reader blocked in open(2).
 * Returns the descriptor, or -1 if nobody was reading (ENXIO). */
static int fifo_writer(const char *path)
{
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		assert_int_equal(errno, ENXIO);
	return fd;
}

/*
 * A writer comes after the op was ended. If the worker was left in open(2) rather than
 * interrupted, that open now succeeds: the descriptor it made must be closed by the
 * library (the FIFO then has no reader: a write fails with EPIPE), and nothing more is
 * reported on `port` (NULL: the port was destroyed).
 */
static void after_writer(cport *port, const char *path, const char *what)
{
	int w = fifo_writer(path);
	if (w < 0)
		return; /* no reader left: the open was interrupted */
	t_sleep_us(200000);
	if (port) {
		cport_op *out[1];
		int n = cport_wait(port, out, 1, 0);
		if (n != 0)
			fail_msg("%s FIFO open: a completion after it was reaped (%lld)", what,
				 (long long)out[0]->result);
	}
	ssize_t k = write(w, "x", 1);
	int e = errno;
	close(w);
	if (k == 1)
		fail_msg("%s FIFO open: the descriptor its worker opened later is still open "
			 "(a write to the FIFO found a reader)", what);
	assert_int_equal(e, EPIPE);
}

/* The open is blocked: it did not complete in 100 ms. Where the backend's open of a
 * FIFO with no writer does not block at all (io_uring's openat first tries the open
 * with O_NONBLOCK, which succeeds on a FIFO at once), there is nothing to test: skip. */
static void still_blocked(cport *port)
{
	cport_op *out[1];
	int n = cport_wait(port, out, 1, 100 * 1000000LL);
	if (n == 0)
		return;
	int64_t r = out[0]->result;
	if (r >= 0) {
		close((int)r);
		while (cport_wait(port, out, 1, 100 * 1000000LL) > 0)
			if (out[0]->result >= 0)
				close((int)out[0]->result);
		cport_destroy(port);
		t_skip("an open of a FIFO with no writer does not block on this backend (it "
		       "returned descriptor %lld at once): nothing to cancel", (long long)r);
	}
	fail_msg("the FIFO open completed with %lld (%s) with no writer", (long long)r,
		 cport_err_name(r));
}

/* cport_cancel completes the blocked open with CPORT_ECANCELED; the pool (one worker)
 * then still runs file ops. */
static void cancel_blocked_open(void **state)
{
	(void)state;
	cport *port = t_port_pool(0, 1);
	char path[300];
	make_fifo(path, sizeof path, "fifo-cancel");
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, path, CPORT_O_RDONLY, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	still_blocked(port);
	assert_int_equal(cport_cancel(port, &op), 0);
	cport_op *out[1];
	int n = cport_wait(port, out, 1, 5ll * 1000000000);
	if (n != 1) {
		/* Free the worker so that the op completes and the test can report it. */
		int w = fifo_writer(path);
		int64_t r = t_run(port, &op);
		if (r >= 0)
			close((int)r);
		if (w >= 0)
			close(w);
		cport_destroy(port);
		fail_msg("cancelled FIFO open: no completion in 5 s (after a writer came: %lld "
			 "%s)", (long long)r, cport_err_name(r));
	}
	assert_ptr_equal(out[0], &op);
	if (op.result != CPORT_ECANCELED) {
		if (op.result >= 0)
			close((int)op.result);
		fail_msg("cancelled FIFO open: %lld (%s), wanted ECANCELED", (long long)op.result,
			 cport_err_name(op.result));
	}
	/* Nothing holds the pool's one worker now: a file op runs. */
	cport_fd fd = t_file(4096);
	cport_statbuf sb;
	assert_int_equal(cport_fstat(port, &op, fd, &sb), 0);
	n = cport_wait(port, out, 1, 5ll * 1000000000);
	if (n != 1) {
		int w = fifo_writer(path);
		t_sleep_us(100000);
		if (w >= 0)
			close(w);
		fail_msg("after the cancel, an fstat on the pool did not complete in 5 s: the "
			 "worker is still in the FIFO open%s", w >= 0 ? " (a reader was there)" : "");
	}
	assert_ptr_equal(out[0], &op);
	assert_int_equal(op.result, 0);
	assert_int_equal(sb.size, 4096);
	after_writer(port, path, "cancelled");
	close(fd);
	cport_destroy(port);
}

/* ---- destroy, under a watchdog ---- */

static atomic_int wd_armed;

static void *wd_main(void *arg)
{
	const char *what = arg;
	for (int i = 0; i < 1000; i++) { /* 10 s */
		if (!atomic_load(&wd_armed))
			return NULL;
		t_sleep_us(10000);
	}
	fprintf(stderr, "FAIL (%s): %s did not return within 10 s\n", t_backend(), what);
	fflush(stderr);
	_exit(1);
}

static void destroy_watched(cport *port, const char *what)
{
	pthread_t th;
	atomic_store(&wd_armed, 1);
	assert_int_equal(pthread_create(&th, NULL, wd_main, (void *)what), 0);
	cport_destroy(port);
	atomic_store(&wd_armed, 0);
	pthread_join(th, NULL);
}

/* cport_destroy with the blocked open in flight (and another op queued behind it on the
 * one worker) returns; a writer arriving afterwards disturbs nothing. */
static void destroy_with_blocked_open(void **state)
{
	(void)state;
	cport *port = t_port_pool(0, 1);
	char path[300];
	make_fifo(path, sizeof path, "fifo-destroy");
	static cport_op op, queued;
	static cport_statbuf sb;
	memset(&op, 0, sizeof op);
	memset(&queued, 0, sizeof queued);
	assert_int_equal(cport_open(port, &op, path, CPORT_O_RDONLY, 0), 0);
	cport_fd fd = t_file(100);
	assert_int_equal(cport_fstat(port, &queued, fd, &sb), 0);
	assert_int_equal(cport_submit(port), 0);
	still_blocked(port);
	destroy_watched(port, "cport_destroy with a FIFO open blocked on the pool");
	/* If a worker still sits in the open, it may return now: it must not touch the
	 * destroyed port (AddressSanitizer would see it) or the ops. */
	cport_op before[2] = {op, queued};
	after_writer(NULL, path, "destroyed");
	assert_memory_equal(&before[0], &op, sizeof op);
	assert_memory_equal(&before[1], &queued, sizeof queued);
	close(fd);
}

/* Two blocked opens on two workers, destroyed together. */
static void destroy_with_two_blocked_opens(void **state)
{
	(void)state;
	cport *port = t_port_pool(0, 2);
	char p1[300], p2[300];
	make_fifo(p1, sizeof p1, "fifo-destroy-1");
	make_fifo(p2, sizeof p2, "fifo-destroy-2");
	static cport_op a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	assert_int_equal(cport_open(port, &a, p1, CPORT_O_RDONLY, 0), 0);
	assert_int_equal(cport_open(port, &b, p2, CPORT_O_RDONLY, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	still_blocked(port);
	destroy_watched(port, "cport_destroy with two FIFO opens blocked");
	cport_op before[2] = {a, b};
	after_writer(NULL, p1, "destroyed");
	after_writer(NULL, p2, "destroyed");
	assert_memory_equal(&before[0], &a, sizeof a);
	assert_memory_equal(&before[1], &b, sizeof b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cancel_blocked_open),
		cmocka_unit_test(destroy_with_blocked_open),
		cmocka_unit_test(destroy_with_two_blocked_opens),
	};
	return T_MAIN("regress-pool-blocked-forever", tests);
}
