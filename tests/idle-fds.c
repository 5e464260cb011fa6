/* SPDX-License-Identifier: MIT */
/* 10,000 idle descriptors with a read waiting on each do not stop 100 busy pipes from being served. */

/*
 * The idle descriptors are pipes when RLIMIT_NOFILE allows 2 x 10,000 descriptors, else
 * eventfds (one descriptor each, idle until written: machines with a hard limit of 20,000
 * cannot hold 10,000 pipes and the busy ones). The cost per round is printed: it stays
 * flat on epoll and io_uring; poll(2) pays for every idle descriptor on every wait,
 * which is why it is only bounded, generously.
 */

#include "helpers.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

enum { IDLE = 10000, BUSY = 100, ROUNDS = 50 };

static cport_op idle_ops[IDLE], busy_ops[BUSY];
static uint64_t idle_buf[IDLE], busy_buf[BUSY];
static int idle_rd[IDLE], idle_wr[IDLE], busy_fd[BUSY][2];

/* Raise the soft limit to what is needed; returns false if the hard limit is lower. */
static bool fd_limit(rlim_t need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return false;
	if (rl.rlim_cur >= need)
		return true;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		return false;
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/* Open the idle descriptors: pipes if possible, else eventfds. Returns their kind. */
static const char *open_idle(void)
{
	bool pipes = fd_limit(2 * IDLE + 2 * BUSY + 64);
	if (!pipes) {
#ifdef __linux__
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		if (!fd_limit(IDLE + 2 * BUSY + 64))
			t_skip("RLIMIT_NOFILE hard limit %llu is below the %d descriptors needed",
			       (unsigned long long)rl.rlim_max, IDLE + 2 * BUSY + 64);
#else
		t_skip("RLIMIT_NOFILE cannot be raised to %d", 2 * IDLE + 2 * BUSY + 64);
#endif
	}
	for (int i = 0; i < IDLE; i++) {
		int fds[2];
#ifdef __linux__
		if (!pipes) {
			fds[0] = fds[1] = eventfd(0, EFD_CLOEXEC);
			assert_true(fds[0] >= 0);
		} else
#endif
			assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
		idle_rd[i] = fds[0];
		idle_wr[i] = fds[1];
	}
	return pipes ? "pipes" : "eventfds";
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* One round: a read on every busy pipe, one byte written to each, all 100 reaped. */
static void busy_round(cport *port, int round)
{
	for (int i = 0; i < BUSY; i++) {
		busy_buf[i] = 0;
		assert_int_equal(cport_read(port, &busy_ops[i], busy_fd[i][0], &busy_buf[i], 8, -1), 0);
	}
	assert_int_equal(cport_submit(port), 0);
	for (int i = 0; i < BUSY; i++) {
		uint8_t b = (uint8_t)(round + i);
		assert_int_equal(write(busy_fd[i][1], &b, 1), 1);
	}
	int got = 0;
	uint64_t end = t_now_ms() + 10000;
	while (got < BUSY && t_now_ms() < end) {
		cport_op *out[BUSY];
		int k = cport_wait(port, out, BUSY, 100 * 1000000LL);
		assert_true(k >= 0);
		for (int j = 0; j < k; j++) {
			ptrdiff_t i = out[j] - busy_ops;
			assert_true(i >= 0 && i < BUSY); /* never an idle op */
			assert_int_equal(out[j]->result, 1);
			assert_int_equal((uint8_t)busy_buf[i], (uint8_t)(round + i));
		}
		got += k;
	}
	assert_int_equal(got, BUSY);
}

static void idle_do_not_stop_busy(void **state)
{
	(void)state;
	t_os_only("a socket pair");
	const char *kind = open_idle();
	cport *port = t_port();
	for (int i = 0; i < BUSY; i++)
		assert_int_equal(pipe2(busy_fd[i], O_CLOEXEC), 0);
	for (int i = 0; i < IDLE; i++)
		assert_int_equal(cport_read(port, &idle_ops[i], idle_rd[i], &idle_buf[i], 8, -1), 0);
	assert_int_equal(cport_submit(port), 0);

	uint64_t per_round[ROUNDS], t0 = cport_now_ns();
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t a = cport_now_ns();
		busy_round(port, r);
		per_round[r] = cport_now_ns() - a;
	}
	uint64_t total = cport_now_ns() - t0;
	qsort(per_round, ROUNDS, sizeof *per_round, cmp_u64);
	print_message("%s, %d idle %s: 100 busy reads per round, median %.0f us, max %.0f us, "
		      "%d rounds %.1f s\n",
		      cport_backend_name(port), IDLE, kind, (double)per_round[ROUNDS / 2] / 1e3,
		      (double)per_round[ROUNDS - 1] / 1e3, ROUNDS, (double)total / 1e9);
	/* Printed, not asserted: idle descriptors costing nothing is a benchmark claim
	 * (bench/); here each round is bounded only to catch a hang (busy_round). */

	/* The idle ones are still served when they wake. */
	for (int i = 0; i < 10; i++) {
		uint64_t one = 1;
		assert_int_equal(write(idle_wr[i * 997], &one, 8), 8);
	}
	for (int n = 0; n < 10; n++) {
		cport_op *op = t_wait1(port);
		ptrdiff_t i = op - idle_ops;
		assert_true(i >= 0 && i < IDLE && i % 997 == 0);
		assert_int_equal(op->result, 8);
	}
	cport_destroy(port); /* with 9,990 reads still waiting */
	for (int i = 0; i < IDLE; i++) {
		close(idle_rd[i]);
		if (idle_wr[i] != idle_rd[i])
			close(idle_wr[i]);
	}
	for (int i = 0; i < BUSY; i++) {
		close(busy_fd[i][0]);
		close(busy_fd[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(idle_do_not_stop_busy),
	};
	return T_MAIN("idle-fds", tests);
}
