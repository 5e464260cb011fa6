/* SPDX-License-Identifier: MIT */
/* Regression (defect 15): a backend the machine refuses (seccomp, sysctl) skips its tests; other failures still fail. */

/*
 * In a container whose seccomp profile denies io_uring_setup (Docker's default), the
 * io_uring variants used to fail at cport_create. Now the helpers skip (exit 77) with
 * the reason when cport_create on the forced backend fails with CPORT_EPERM,
 * CPORT_EACCES or CPORT_ENOSYS, and fail on anything else.
 *
 * The refusal is made with lib/backend/uring.c's test hook
 * ($CPORT_TEST_URING_SETUP_FAIL), in a child: this program run again in "child" mode
 * ($T_REGRESS_CHILD), a cmocka group of one test that makes a port with t_port. The
 * hook is set either before the child starts (t_main's check skips the whole file) or
 * inside its test (t_port skips that test). Linux only, as io_uring is; the rule
 * itself (which errors are refusals) is checked on every platform. .ci/seccomp.sh
 * checks the same with a real seccomp filter over the whole suite.
 */

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/wait.h>
#include <unistd.h>
#endif

static void refusals_are_named(void **state)
{
	(void)state;
	assert_true(t_refused_here(CPORT_EPERM));
	assert_true(t_refused_here(CPORT_EACCES));
	assert_true(t_refused_here(CPORT_ENOSYS));
	assert_false(t_refused_here(0));
	assert_false(t_refused_here(CPORT_EINVAL));
	assert_false(t_refused_here(CPORT_ENOMEM));
	assert_false(t_refused_here(CPORT_EMFILE));
	assert_false(t_refused_here(CPORT_EBUSY));
}

#ifdef __linux__
/* Child mode: one test that makes a port on the forced backend. */
static void child_makes_port(void **state)
{
	(void)state;
	const char *in_test = getenv("T_REGRESS_FAIL_IN_TEST");
	if (in_test && in_test[0])
		setenv("CPORT_TEST_URING_SETUP_FAIL", in_test, 1);
	cport_destroy(t_port());
}

static int child_main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(child_makes_port)};
	return T_MAIN("regress-uring-refused-skips-child", tests);
}

/* Run this program in child mode on io_uring with the hook's error `err`, set before
 * it starts (in_test 0) or inside its test (1). Returns its exit status; its stderr
 * goes to `out` (size n). */
static int run_child(const char *err, int in_test, char *out, size_t n)
{
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		setenv("T_REGRESS_CHILD", "1", 1);
		setenv("CPORT_BACKEND", "io_uring", 1);
		unsetenv("CPORT_TEST_URING_SETUP_FAIL");
		unsetenv("T_REGRESS_FAIL_IN_TEST");
		setenv(in_test ? "T_REGRESS_FAIL_IN_TEST" : "CPORT_TEST_URING_SETUP_FAIL", err, 1);
		execl("/proc/self/exe", "regress-uring-refused-skips", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	for (ssize_t k; got + 1 < n && (k = read(pfd[0], out + got, n - 1 - got)) > 0;)
		got += (size_t)k;
	out[got] = '\0';
	char sink[256];
	while (read(pfd[0], sink, sizeof sink) > 0)
		;
	close(pfd[0]);
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Skip unless io_uring is built here and this machine lets it start (else the hook
 * cannot be told apart from the machine's own refusal). */
static void need_working_uring(void)
{
	cport *port = NULL;
	cport_options o;
	char why[256] = "";
	cport_options_init(&o);
	o.backend = "io_uring";
	o.reason = why;
	o.reason_len = sizeof why;
	int r = cport_create(&port, &o);
	if (r < 0)
		t_skip("io_uring cannot be used to check this: %s (%s)", cport_err_name(r), why);
	cport_destroy(port);
}

static void refused_skips(void **state)
{
	(void)state;
	need_working_uring();
	static const char *const errs[] = {"EPERM", "EACCES", "ENOSYS"};
	char out[8192];
	for (int in_test = 0; in_test < 2; in_test++)
		for (size_t i = 0; i < sizeof errs / sizeof *errs; i++) {
			int st = run_child(errs[i], in_test, out, sizeof out);
			if (st != 77 || !strstr(out, "SKIP") || !strstr(out, errs[i]))
				fail_msg("hook %s (%s): exit %d, wanted 77 and the reason:\n%s",
					 errs[i], in_test ? "in the test" : "at start", st, out);
			/* The reason names the backend and what failed, as cport_create
			 * wrote it. */
			assert_non_null(strstr(out, "io_uring: setup failed"));
		}
}

static void other_errors_fail(void **state)
{
	(void)state;
	need_working_uring();
	static const char *const errs[] = {"EINVAL", "ENOMEM", "EMFILE"};
	char out[8192];
	for (int in_test = 0; in_test < 2; in_test++)
		for (size_t i = 0; i < sizeof errs / sizeof *errs; i++) {
			int st = run_child(errs[i], in_test, out, sizeof out);
			if (st != 1)
				fail_msg("hook %s (%s): exit %d, wanted 1 (failed):\n%s", errs[i],
					 in_test ? "in the test" : "at start", st, out);
		}
}
#endif

int main(void)
{
#ifdef __linux__
	const char *child = getenv("T_REGRESS_CHILD");
	if (child && child[0] == '1')
		return child_main();
#endif
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refusals_are_named),
#ifdef __linux__
		cmocka_unit_test(refused_skips),
		cmocka_unit_test(other_errors_fail),
#endif
	};
	return T_MAIN("regress-uring-refused-skips", tests);
}
