/* SPDX-License-Identifier: MIT */
/* The thread pool's abandon rule for the directory ops: a stuck openat stops at once, its directory can be closed at once, a readdir behind it never writes its buffer. */

/*
 * Unix only: it needs a FIFO, whose open for reading blocks until a writer comes (the
 * stuck call of regress-pool-blocked-forever). One pool worker, so the readdir waits
 * behind the openat.
 */

#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh directory, and a descriptor of it (plain calls: this is not under test). */
static cport_fd make_dir(const char *name, char *path, size_t n)
{
	t_path(path, n, name);
	assert_int_equal(mkdir(path, 0755), 0);
	int d = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(d >= 0);
	return d;
}

/* A FIFO's writing end, opened without blocking: frees a reader blocked in open(2).
 * -1 if nobody reads it. */
static int fifo_writer(const char *path)
{
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		assert_int_equal(errno, ENXIO);
	return fd;
}

/*
 * The thread pool's rules for the directory ops: an openat stuck in the call (a FIFO
 * with no writer, relative to a directory descriptor) stops at once on cancel, and the
 * directory can then be closed at once (the worker holds a duplicate of it, not the
 * caller's number); a readdir waiting behind it stops at once and never writes its
 * buffer. When a writer comes, the abandoned worker's late open is closed.
 */
static void pool_cancel_abandon(void **state)
{
	(void)state;
	cport *port = t_port_pool(0, 1);
	char dir[300], fifo[400];
	cport_fd d = make_dir("rd-fifo", dir, sizeof dir);
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	cport_op open_op = {0}, rd = {0};
	assert_int_equal(cport_openat(port, &open_op, d, "fifo", CPORT_O_RDONLY, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	cport_op *out[1];
	int n = cport_wait(port, out, 1, 100 * 1000000LL);
	if (n == 1) {
		int64_t r = out[0]->result;
		assert_true(r >= 0); /* io_uring's openat tries O_NONBLOCK first: no wait */
		close((int)r);
		cport_destroy(port);
		close(d);
		t_skip("an openat of a FIFO with no writer does not block on this backend "
		       "(io_uring in the kernel): nothing to abandon");
	}
	uint64_t buf[CPORT_READDIR_MIN / 8];
	memset(buf, 0xee, sizeof buf);
	assert_int_equal(cport_readdir(port, &rd, d, buf, sizeof buf, 0), 0);
	assert_int_equal(cport_cancel(port, &rd), 0);
	assert_int_equal(t_run(port, &rd), CPORT_ECANCELED);
	/* A close of another directory takes its queued readdir at once (the close
	 * itself may need a worker: it completes once the stuck one is abandoned). */
	char dir2[300];
	cport_fd d2 = make_dir("rd-other", dir2, sizeof dir2);
	cport_op c = {0};
	assert_int_equal(cport_readdir(port, &rd, d2, buf, sizeof buf, 0), 0);
	assert_int_equal(cport_close(port, &c, d2), 0);
	assert_int_equal(t_run(port, &rd), CPORT_ECANCELED);
	assert_int_equal(cport_cancel(port, &open_op), 0);
	if (t_reap(port, 2, NULL, NULL) != 2) {
		int w = fifo_writer(fifo);
		if (w >= 0)
			close(w);
		fail_msg("a cancelled openat of a FIFO (and a close behind it) did not "
			 "complete in 30 s");
	}
	assert_int_equal(open_op.result, CPORT_ECANCELED);
	assert_int_equal(c.result, 0);
	assert_int_equal(cport_close(port, &c, d), 0); /* at once: nothing uses it now */
	assert_int_equal(t_run(port, &c), 0);
	for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++)
		assert_true(buf[i] == 0xeeeeeeeeeeeeeeeeull);
	/* The abandoned worker's open returns now; the library closes what it made, so the
	 * FIFO is left with no reader: a write meets EPIPE. */
	int w = fifo_writer(fifo);
	if (w >= 0) {
		t_sleep_us(200000);
		assert_int_equal(cport_wait(port, out, 1, 0), 0);
		assert_int_equal(write(w, "x", 1), -1);
		assert_int_equal(errno, EPIPE);
		close(w);
	}
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pool_cancel_abandon),
	};
	return T_MAIN("fs-abandon", tests);
}
