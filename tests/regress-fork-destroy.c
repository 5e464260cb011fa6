/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #2): a forked child's cport_destroy of an inherited port leaves the parent's ops alone. */

/*
 * Rule 14: "a forked child never disturbs the parent's ports". io_uring shares its rings
 * with a child (the mappings are MAP_SHARED and the ring descriptor is inherited), so a
 * child that destroyed its copy of the port cancelled the parent's ops in the kernel and
 * reaped their completions itself: the parent never saw them, or saw them cancelled.
 * Here the parent has an op in flight when it forks; the child destroys the port and
 * exits; the parent then lets the op finish and must reap it exactly once, with its
 * real result.
 */

#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Fork a child that destroys `port` and exits 0. Waits for it (10 s at most: a child
 * stuck in cport_destroy is killed). Returns its wait status, or -1 if it was stuck. */
static int child_destroys(cport *port)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		cport_destroy(port);
		_exit(0);
	}
	int status = 0;
	uint64_t end = t_now_ms() + 10000;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return status;
		assert_true(w == 0 || (w < 0 && errno == EINTR));
		if (t_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		t_sleep_us(10000);
	}
}

/* How the child ended, for a failure message: "" if it exited 0. */
static const char *child_fault(int status)
{
	static char why[64];
	if (status == -1)
		return "the child's cport_destroy did not return in 10 s";
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return "";
	if (WIFSIGNALED(status))
		snprintf(why, sizeof why, "the child died of signal %d", WTERMSIG(status));
	else
		snprintf(why, sizeof why, "the child exited %d", WEXITSTATUS(status));
	return why;
}

/* `op` is reaped exactly once: the next completion is it, none follows in 200 ms. */
static int64_t reap_once(cport *port, cport_op *op, const char *what)
{
	cport_op *out[4];
	int n = cport_wait(port, out, 4, 10ll * 1000000000);
	if (n != 1 || out[0] != op)
		fail_msg("%s: the parent reaped %d completions (wanted its op once)", what, n);
	int64_t r = op->result;
	n = cport_wait(port, out, 4, 200 * 1000000LL);
	if (n != 0)
		fail_msg("%s: %d more completions after the op (result %lld)", what, n,
			 (long long)out[0]->result);
	return r;
}

/* A recv waiting on a socketpair when the parent forks. */
static void recv_survives_child_destroy(void **state)
{
	(void)state;
	t_os_only("a socket pair");
	cport *port = t_port();
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	char buf[16] = {0};
	cport_op op = {0};
	assert_int_equal(cport_recv(port, &op, sp[0], buf, sizeof buf, 0), 0);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 50 * 1000000LL), 0); /* it waits */
	int status = child_destroys(port);
	assert_int_equal(t_write(sp[1], "data", 4), 4);
	int64_t r = reap_once(port, &op, "recv");
	if (r != 4)
		fail_msg("recv: result %lld (%s), wanted 4 bytes (%s)", (long long)r,
			 r < 0 ? cport_err_name(r) : "bytes", child_fault(status));
	assert_memory_equal(buf, "data", 4);
	if (child_fault(status)[0])
		fail_msg("%s", child_fault(status));
	close(sp[0]), close(sp[1]);
	cport_destroy(port);
}

/* A read waiting on a pipe, and a timer, when the parent forks. */
static void pipe_read_and_timer_survive_child_destroy(void **state)
{
	(void)state;
	t_os_only("a pipe");
	cport *port = t_port();
	int p[2];
	assert_int_equal(pipe(p), 0);
	char buf[16] = {0};
	cport_op rd = {0}, tm = {0};
	assert_int_equal(cport_read(port, &rd, p[0], buf, sizeof buf, -1), 0);
	assert_int_equal(cport_timer(port, &tm, 300 * 1000000ull, 0), 0);
	cport_op *out[2];
	assert_int_equal(cport_wait(port, out, 2, 50 * 1000000LL), 0);
	int status = child_destroys(port);
	/* The timer fires on its own; the read gets its data after the timer. */
	int64_t r = reap_once(port, &tm, "timer");
	if (r != 0)
		fail_msg("timer: result %lld (%s), wanted 0 (%s)", (long long)r, cport_err_name(r),
			 child_fault(status));
	assert_int_equal(write(p[1], "pipe", 4), 4);
	r = reap_once(port, &rd, "pipe read");
	if (r != 4)
		fail_msg("pipe read: result %lld (%s), wanted 4 bytes (%s)", (long long)r,
			 r < 0 ? cport_err_name(r) : "bytes", child_fault(status));
	assert_memory_equal(buf, "pipe", 4);
	if (child_fault(status)[0])
		fail_msg("%s", child_fault(status));
	close(p[0]), close(p[1]);
	cport_destroy(port);
}

/* A file read on the port before the fork (the pool has started where files go to
 * it), then a recv in flight: the child's destroy must still leave the parent alone. */
static void after_pool_use(void **state)
{
	(void)state;
	t_os_only("a socket pair");
	cport *port = t_port();
	cport_fd fd = t_file(4096);
	static char fbuf[4096];
	cport_op op = {0};
	assert_int_equal(cport_read(port, &op, fd, fbuf, sizeof fbuf, 0), 0);
	assert_int_equal(t_run(port, &op), 4096);
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	char buf[16] = {0};
	assert_int_equal(cport_recv(port, &op, sp[0], buf, sizeof buf, 0), 0);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 50 * 1000000LL), 0);
	int status = child_destroys(port);
	assert_int_equal(t_write(sp[1], "more", 4), 4);
	int64_t r = reap_once(port, &op, "recv after pool use");
	if (r != 4)
		fail_msg("recv after pool use: result %lld (%s), wanted 4 bytes (%s)",
			 (long long)r, r < 0 ? cport_err_name(r) : "bytes", child_fault(status));
	assert_memory_equal(buf, "more", 4);
	/* the port still does file I/O */
	assert_int_equal(cport_read(port, &op, fd, fbuf, sizeof fbuf, 0), 0);
	assert_int_equal(t_run(port, &op), 4096);
	assert_int_equal((uint8_t)fbuf[4095], t_pattern(4095));
	if (child_fault(status)[0])
		fail_msg("%s", child_fault(status));
	close(sp[0]), close(sp[1]), close(fd);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(recv_survives_child_destroy),
		cmocka_unit_test(pipe_read_and_timer_survive_child_destroy),
		cmocka_unit_test(after_pool_use),
	};
	return T_MAIN("regress-fork-destroy", tests);
}
