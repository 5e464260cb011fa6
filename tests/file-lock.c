/* SPDX-License-Identifier: MIT */
/* Byte-range locks as ops: conflicts between open files, waits that end in the lock, a cancel, a timeout or a close, and the lock state afterwards. */

/*
 * Each test opens one file several times: each open is an open file of its own, so
 * their locks conflict (Linux: open file description locks; Windows: per handle). The
 * rule checked after every wait that did not end in the lock: the lock state is what the
 * completion said. A third descriptor tries the range at once (CPORT_LOCK_NOWAIT): it
 * gets it exactly when nobody else holds it.
 */

#include "helpers.h"

#include <stdio.h>
#include <string.h>

struct files {
	cport *port;
	char path[300];
	cport_fd fd[3];
};

static void open_files(struct files *f, const char *name)
{
	t_sim_skip("byte-range locks are not simulated");
	f->port = t_port();
	t_path(f->path, sizeof f->path, name);
	for (int i = 0; i < 3; i++) {
		cport_op op = {0};
		uint32_t fl = CPORT_O_RDWR | (i == 0 ? CPORT_O_CREAT : 0);
		assert_int_equal(cport_open(f->port, &op, f->path, fl, 0600), 0);
		int64_t fd = t_run(f->port, &op);
		assert_true(fd >= 0);
		f->fd[i] = (cport_fd)fd;
	}
}

static void close_files(struct files *f)
{
	for (int i = 0; i < 3; i++) {
		if (!f->fd[i])
			continue;
		cport_op op = {0};
		assert_int_equal(cport_close(f->port, &op, f->fd[i]), 0);
		assert_int_equal(t_run(f->port, &op), 0);
	}
	cport_destroy(f->port);
}

static int64_t lock(struct files *f, int i, int64_t off, int64_t len, uint32_t flags)
{
	cport_op op = {0};
	assert_int_equal(cport_lock(f->port, &op, f->fd[i], off, len, flags), 0);
	return t_run(f->port, &op);
}

static int64_t unlock(struct files *f, int i, int64_t off, int64_t len)
{
	cport_op op = {0};
	assert_int_equal(cport_unlock(f->port, &op, f->fd[i], off, len), 0);
	return t_run(f->port, &op);
}

#define EX CPORT_LOCK_EXCLUSIVE
#define SH CPORT_LOCK_SHARED
#define NOW CPORT_LOCK_NOWAIT

/* Does anybody but descriptor `i` hold [off, off + len)? Asked of descriptor `i` with a
 * try that is released again at once when it succeeds. */
static bool taken(struct files *f, int i, int64_t off, int64_t len)
{
	int64_t r = lock(f, i, off, len, EX | NOW);
	if (r == 0) {
		assert_int_equal(unlock(f, i, off, len), 0);
		return false;
	}
	assert_int_equal(r, CPORT_EAGAIN);
	return true;
}

static void conflicts(void **state)
{
	(void)state;
	struct files f;
	open_files(&f, "lk-conflicts");
	assert_int_equal(lock(&f, 0, 0, 100, EX), 0);
	assert_int_equal(lock(&f, 1, 0, 100, EX | NOW), CPORT_EAGAIN);
	assert_int_equal(lock(&f, 1, 50, 10, SH | NOW), CPORT_EAGAIN);
	assert_int_equal(lock(&f, 1, 99, 1, SH | NOW), CPORT_EAGAIN);
	assert_int_equal(lock(&f, 1, 100, 100, EX | NOW), 0); /* no overlap */
	assert_int_equal(unlock(&f, 1, 100, 100), 0);
	assert_int_equal(unlock(&f, 0, 0, 100), 0);
	assert_false(taken(&f, 1, 0, 200));
	/* Shared locks share; an exclusive one waits for both to go. */
	assert_int_equal(lock(&f, 0, 0, 100, SH), 0);
	assert_int_equal(lock(&f, 1, 0, 100, SH | NOW), 0);
	assert_int_equal(lock(&f, 2, 0, 100, EX | NOW), CPORT_EAGAIN);
	assert_int_equal(unlock(&f, 0, 0, 100), 0);
	assert_int_equal(lock(&f, 2, 0, 100, EX | NOW), CPORT_EAGAIN);
	assert_int_equal(unlock(&f, 1, 0, 100), 0);
	assert_false(taken(&f, 2, 0, 100));
	/* len 0: from the offset on, past any end of the file. */
	assert_int_equal(lock(&f, 0, 100, 0, EX), 0);
	assert_int_equal(lock(&f, 1, 1ll << 40, 10, SH | NOW), CPORT_EAGAIN);
	assert_int_equal(lock(&f, 1, 0, 100, EX | NOW), 0);
	assert_int_equal(unlock(&f, 1, 0, 100), 0);
	assert_int_equal(unlock(&f, 0, 100, 0), 0);
	assert_false(taken(&f, 1, 0, 0));
	close_files(&f);
}

/* Closing another descriptor of the file keeps the lock: it belongs to the open file. */
static void close_other_keeps(void **state)
{
	(void)state;
	struct files f;
	open_files(&f, "lk-keep");
	assert_int_equal(lock(&f, 0, 0, 10, EX), 0);
	cport_op op = {0};
	assert_int_equal(cport_open(f.port, &op, f.path, CPORT_O_RDWR, 0), 0);
	int64_t extra = t_run(f.port, &op);
	assert_true(extra >= 0);
	assert_int_equal(cport_close(f.port, &op, (cport_fd)extra), 0);
	assert_int_equal(t_run(f.port, &op), 0);
	assert_true(taken(&f, 1, 0, 10));
	/* Closing the holder itself releases it. */
	assert_int_equal(cport_close(f.port, &op, f.fd[0]), 0);
	assert_int_equal(t_run(f.port, &op), 0);
	f.fd[0] = 0;
	assert_false(taken(&f, 1, 0, 10));
	close_files(&f);
}

/* A wait ends when the holder lets go: it then holds the range. */
static void wait_granted(void **state)
{
	(void)state;
	struct files f;
	open_files(&f, "lk-granted");
	assert_int_equal(lock(&f, 0, 0, 10, EX), 0);
	cport_op w = {0}, u = {0};
	assert_int_equal(cport_lock(f.port, &w, f.fd[1], 0, 10, EX), 0);
	cport_op *out[2];
	assert_int_equal(cport_wait(f.port, out, 2, 50 * 1000000LL), 0); /* still waiting */
	assert_int_equal(cport_unlock(f.port, &u, f.fd[0], 0, 10), 0);
	unsigned got = 0;
	uint64_t end = t_now_ms() + 30000;
	while (got < 2 && t_now_ms() < end) {
		int n = cport_wait(f.port, out, 2, 100 * 1000000LL);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++)
			assert_int_equal(out[i]->result, 0);
		got += (unsigned)n;
	}
	assert_int_equal(got, 2);
	assert_true(taken(&f, 2, 0, 10));
	assert_int_equal(unlock(&f, 1, 0, 10), 0);
	assert_false(taken(&f, 2, 0, 10));
	close_files(&f);
}

/* A cancelled wait took nothing, then or later. */
static void wait_cancelled(void **state)
{
	(void)state;
	struct files f;
	open_files(&f, "lk-cancel");
	assert_int_equal(lock(&f, 0, 0, 10, EX), 0);
	cport_op w = {0};
	assert_int_equal(cport_lock(f.port, &w, f.fd[1], 0, 10, SH), 0);
	cport_op *out[1];
	assert_int_equal(cport_wait(f.port, out, 1, 30 * 1000000LL), 0);
	assert_int_equal(cport_cancel(f.port, &w), 0);
	assert_int_equal(t_run(f.port, &w), CPORT_ECANCELED);
	assert_int_equal(cport_cancel(f.port, &w), CPORT_ENOENT);
	assert_int_equal(unlock(&f, 0, 0, 10), 0);
	assert_false(taken(&f, 2, 0, 10));
	t_sleep_us(30000); /* a late try would have come by now */
	assert_false(taken(&f, 2, 0, 10));
	assert_int_equal(cport_wait(f.port, out, 1, 0), 0);
	close_files(&f);
}

/* A wait with timeout_ns ends with CPORT_ETIMEDOUT, no sooner, and took nothing. */
static void wait_timeout(void **state)
{
	(void)state;
	struct files f;
	open_files(&f, "lk-timeout");
	assert_int_equal(lock(&f, 0, 0, 10, EX), 0);
	cport_op w = {0};
	w.timeout_ns = 100 * 1000000ull;
	uint64_t t0 = t_now_ms();
	assert_int_equal(cport_lock(f.port, &w, f.fd[1], 0, 10, EX), 0);
	assert_int_equal(t_run(f.port, &w), CPORT_ETIMEDOUT);
	assert_true(t_now_ms() - t0 >= 99);
	assert_int_equal(unlock(&f, 0, 0, 10), 0);
	t_sleep_us(30000);
	assert_false(taken(&f, 2, 0, 10));
	/* A timeout that does not come: the lock is free, the op takes it at once. */
	w.timeout_ns = 30ull * 1000000000;
	assert_int_equal(cport_lock(f.port, &w, f.fd[1], 0, 10, EX), 0);
	assert_int_equal(t_run(f.port, &w), 0);
	assert_true(taken(&f, 2, 0, 10));
	assert_int_equal(unlock(&f, 1, 0, 10), 0);
	close_files(&f);
}

/* Closing the waiting descriptor cancels the wait; the close completes after it. */
static void close_cancels_wait(void **state)
{
	(void)state;
	struct files f;
	open_files(&f, "lk-close");
	assert_int_equal(lock(&f, 0, 0, 10, EX), 0);
	cport_op w = {0}, c = {0};
	assert_int_equal(cport_lock(f.port, &w, f.fd[1], 0, 10, EX), 0);
	cport_op *out[2];
	assert_int_equal(cport_wait(f.port, out, 2, 30 * 1000000LL), 0);
	assert_int_equal(cport_close(f.port, &c, f.fd[1]), 0);
	f.fd[1] = 0;
	assert_int_equal(t_reap(f.port, 2, NULL, NULL), 2);
	assert_int_equal(w.result, CPORT_ECANCELED);
	assert_int_equal(c.result, 0);
	assert_int_equal(unlock(&f, 0, 0, 10), 0);
	assert_false(taken(&f, 2, 0, 10));
	close_files(&f);
}

/*
 * Cancels and timeouts racing a release: in every round the holder lets go after a
 * varying delay while the waiter is cancelled or times out about then, so the end comes
 * while it is paused, while a try runs on a worker, or after the try that took it. Then
 * the waiter holds the range exactly when its completion said 0.
 */
static void race_rounds(void **state)
{
	(void)state;
	struct files f;
	open_files(&f, "lk-race");
	unsigned held = 0, stopped = 0;
	for (unsigned round = 0; round < 60; round++) {
		assert_int_equal(lock(&f, 0, 0, 10, EX), 0);
		cport_op w = {0}, u = {0};
		bool by_timeout = round % 2;
		if (by_timeout)
			w.timeout_ns = (uint64_t)(round % 7) * 1000000u + 200000u;
		assert_int_equal(cport_lock(f.port, &w, f.fd[1], 0, 10, EX), 0);
		assert_int_equal(cport_submit(f.port), 0);
		t_sleep_us((round * 337) % 4000);
		assert_int_equal(cport_unlock(f.port, &u, f.fd[0], 0, 10), 0);
		if (!by_timeout) {
			t_sleep_us((round * 131) % 300);
			assert_int_equal(cport_cancel(f.port, &w), 0); /* in flight until reaped */
		}
		assert_int_equal(t_reap(f.port, 2, NULL, NULL), 2);
		assert_int_equal(u.result, 0);
		if (w.result == 0) {
			held++;
			assert_true(taken(&f, 2, 0, 10));
			assert_int_equal(unlock(&f, 1, 0, 10), 0);
		} else {
			stopped++;
			assert_int_equal(w.result, by_timeout ? CPORT_ETIMEDOUT : CPORT_ECANCELED);
		}
		assert_false(taken(&f, 2, 0, 10));
	}
	print_message("race rounds: %u ended in the lock, %u stopped\n", held, stopped);
	close_files(&f);
}

/* Destroy with a lock waiting returns at once and delivers nothing. */
static void destroy_waiting(void **state)
{
	(void)state;
	struct files f;
	open_files(&f, "lk-destroy");
	cport *other = t_port();
	assert_int_equal(lock(&f, 0, 0, 10, EX), 0);
	cport_op w = {0};
	assert_int_equal(cport_lock(other, &w, f.fd[1], 0, 10, EX), 0);
	cport_op *out[1];
	assert_int_equal(cport_wait(other, out, 1, 30 * 1000000LL), 0);
	uint64_t t0 = t_now_ms();
	cport_destroy(other);
	assert_true(t_now_ms() - t0 < 30000);
	assert_int_equal(unlock(&f, 0, 0, 10), 0);
	t_sleep_us(30000);
	assert_false(taken(&f, 2, 0, 10));
	close_files(&f);
}

/* A lock heads a chain (lock, then write under it): the write runs only once the lock is
 * held, and a try that failed cancels it unstarted. */
static void lock_links_write(void **state)
{
	(void)state;
	struct files f;
	open_files(&f, "lk-link");
	assert_int_equal(lock(&f, 0, 0, 10, EX), 0);
	cport_op l = {0}, w = {0};
	l.flags = CPORT_OP_LINK;
	assert_int_equal(cport_lock(f.port, &l, f.fd[1], 0, 10, EX | NOW), 0);
	assert_int_equal(cport_write(f.port, &w, f.fd[1], "no", 2, 0), 0);
	assert_int_equal(t_reap(f.port, 2, NULL, NULL), 2);
	assert_int_equal(l.result, CPORT_EAGAIN);
	assert_int_equal(w.result, CPORT_ECANCELED);
	assert_int_equal(t_fsize(f.fd[1]), 0); /* the write never started */
	/* Waiting, then the holder lets go: the write follows the lock. */
	l.flags = CPORT_OP_LINK;
	assert_int_equal(cport_lock(f.port, &l, f.fd[1], 0, 10, EX), 0);
	assert_int_equal(cport_write(f.port, &w, f.fd[1], "ok", 2, 0), 0);
	cport_op *out[2];
	assert_int_equal(cport_wait(f.port, out, 2, 30 * 1000000LL), 0);
	assert_int_equal(unlock(&f, 0, 0, 10), 0);
	assert_int_equal(t_reap(f.port, 2, NULL, NULL), 2);
	assert_int_equal(l.result, 0);
	assert_int_equal(w.result, 2);
	assert_true(taken(&f, 2, 0, 10));
	assert_int_equal(unlock(&f, 1, 0, 10), 0);
	close_files(&f);
}

static void bad_input(void **state)
{
	(void)state;
	struct files f;
	open_files(&f, "lk-bad");
	cport *p = f.port;
	cport_fd fd = f.fd[0];
	cport_op op;
	t_dirty_op(&op);
	cport_op copy = op;
	assert_int_equal(cport_lock(p, &op, fd, -1, 10, EX), CPORT_EINVAL);
	assert_int_equal(cport_lock(p, &op, fd, 0, -1, EX), CPORT_EINVAL);
	assert_int_equal(cport_lock(p, &op, fd, INT64_MAX - 5, 10, EX), CPORT_EINVAL);
	assert_int_equal(cport_lock(p, &op, fd, 0, 10, 0), CPORT_EINVAL);
	assert_int_equal(cport_lock(p, &op, fd, 0, 10, NOW), CPORT_EINVAL);
	assert_int_equal(cport_lock(p, &op, fd, 0, 10, EX | SH), CPORT_EINVAL);
	assert_int_equal(cport_lock(p, &op, fd, 0, 10, EX | 0x100), CPORT_EINVAL);
	assert_int_equal(cport_lock(p, &op, (cport_fd)-1, 0, 10, EX), CPORT_EBADF);
	assert_int_equal(cport_lock(NULL, &op, fd, 0, 10, EX), CPORT_EINVAL);
	assert_int_equal(cport_lock(p, NULL, fd, 0, 10, EX), CPORT_EINVAL);
	assert_int_equal(cport_unlock(p, &op, fd, -1, 10), CPORT_EINVAL);
	assert_int_equal(cport_unlock(p, &op, fd, 10, INT64_MAX), CPORT_EINVAL);
	assert_int_equal(cport_unlock(p, &op, (cport_fd)-1, 0, 10), CPORT_EBADF);
	assert_memory_equal(&op, &copy, sizeof op);
	/* The largest range there is: fine. */
	assert_int_equal(lock(&f, 0, INT64_MAX - 5, 5, EX | NOW), 0);
	assert_int_equal(unlock(&f, 0, INT64_MAX - 5, 5), 0);
	/* In flight: CPORT_EBUSY, and the op goes on. */
	cport_op w = {0};
	assert_int_equal(lock(&f, 0, 0, 10, EX), 0);
	assert_int_equal(cport_lock(p, &w, f.fd[1], 0, 10, EX), 0);
	assert_int_equal(cport_lock(p, &w, f.fd[1], 0, 10, EX), CPORT_EBUSY);
	assert_int_equal(cport_unlock(p, &w, f.fd[1], 0, 10), CPORT_EBUSY);
	assert_int_equal(cport_cancel(p, &w), 0);
	assert_int_equal(t_run(p, &w), CPORT_ECANCELED);
	assert_int_equal(unlock(&f, 0, 0, 10), 0);
	t_no_completion(p);
	close_files(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conflicts),          cmocka_unit_test(close_other_keeps),
		cmocka_unit_test(wait_granted),       cmocka_unit_test(wait_cancelled),
		cmocka_unit_test(wait_timeout),       cmocka_unit_test(close_cancels_wait),
		cmocka_unit_test(race_rounds),        cmocka_unit_test(destroy_waiting),
		cmocka_unit_test(lock_links_write),   cmocka_unit_test(bad_input),
	};
	return T_MAIN("file-lock", tests);
}
