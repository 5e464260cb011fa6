/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #13): a cancelled cport_close still closes the descriptor, whatever its result. */

/*
 * cport.h: a close's "descriptor is gone even if the result is an error". Where a file's
 * close runs on the thread pool (epoll, poll, io_uring-pool), a close still queued
 * behind a busy worker could be cancelled like any queued op: it completed with
 * CPORT_ECANCELED and the descriptor stayed open (a leak the caller cannot fix without
 * racing a reuse of the number). Here the pool's one worker is held by an open of a FIFO
 * with no writer, a file's close is queued behind it and cancelled; when the close
 * completes (any result) the descriptor must be closed. Plain io_uring closes in the
 * kernel at once: the same check holds there.
 */

#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Wait up to `ms` for `op`; returns 1 if it came, 0 if not. A completion of `hold`
 * sets *hold_done; any other completion fails the test. */
static int wait_for(cport *port, cport_op *op, cport_op *hold, bool *hold_done, unsigned ms)
{
	uint64_t end = t_now_ms() + ms;
	while (t_now_ms() < end) {
		cport_op *out[2];
		int n = cport_wait(port, out, 2, 50 * 1000000LL);
		int found = 0;
		for (int i = 0; i < n; i++) {
			if (out[i] == op)
				found = 1;
			else if (out[i] == hold)
				*hold_done = true;
			else
				fail_msg("an unexpected op completed");
		}
		if (found)
			return 1;
	}
	return 0;
}

static void cancelled_close_closes(void **state)
{
	(void)state;
	cport *port = t_port_pool(0, 1);
	char path[300];
	t_path(path, sizeof path, "fifo-hold");
	assert_int_equal(mkfifo(path, 0600), 0);
	int fd = t_file(4096);
	static cport_op hold, cl;
	memset(&hold, 0, sizeof hold);
	memset(&cl, 0, sizeof cl);
	bool hold_done = false;
	/* The pool's one worker blocks in the FIFO open (where the backend runs it there). */
	assert_int_equal(cport_open(port, &hold, path, CPORT_O_RDONLY, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	t_sleep_us(50000);
	assert_int_equal(cport_close(port, &cl, fd), 0);
	assert_int_equal(cport_submit(port), 0);
	int rc = cport_cancel(port, &cl);
	if (rc != 0 && rc != CPORT_ENOENT)
		fail_msg("cport_cancel on the close: %s", cport_err_name(rc));
	int writer = -1;
	int done = wait_for(port, &cl, &hold, &hold_done, 2000);
	if (!done) {
		/* Not cancelled while queued: let the worker go, the close then runs. */
		writer = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		done = wait_for(port, &cl, &hold, &hold_done, 10000);
	}
	assert_true(done);
	int valid = fcntl(fd, F_GETFD) != -1;
	int err = errno;
	printf("regress-close-cancel-pool (%s): cancel returned %s; close completed with %lld "
	       "(%s) %s the worker was freed; descriptor %d %s\n", t_backend(),
	       cport_err_name(rc), (long long)cl.result, cport_err_name(cl.result),
	       writer < 0 ? "before" : "after", fd, valid ? "STILL OPEN" : "closed");
	fflush(stdout);
	/* Free the worker (if not yet) and reap the FIFO open. */
	if (writer < 0)
		writer = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (!hold_done)
		assert_true(wait_for(port, &hold, &hold, &hold_done, 10000));
	if (hold.result >= 0)
		close((int)hold.result);
	if (writer >= 0)
		close(writer);
	if (valid) {
		close(fd);
		cport_destroy(port);
		fail_msg("the close completed with %s but descriptor %d is still open",
			 cport_err_name(cl.result), fd);
	}
	assert_int_equal(err, EBADF);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cancelled_close_closes),
	};
	return T_MAIN("regress-close-cancel-pool", tests);
}
