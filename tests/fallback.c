/* SPDX-License-Identifier: MIT */
/* Run-time fallback: when io_uring cannot start, the port comes up on epoll and says why. */

/*
 * The io_uring setup failure is forced with the test-only hook in lib/backend/uring.c
 * ($CPORT_TEST_URING_SETUP_FAIL=<error name>), as a seccomp profile or
 * kernel.io_uring_disabled would make it fail. This file runs once, not per backend:
 * it clears $CPORT_BACKEND so that nothing is forced by name.
 */

#include "helpers.h"

#include <stdlib.h>
#include <string.h>

/* Skip unless this library has both io_uring and epoll. io_uring may be built but
 * refused by this machine (seccomp, sysctl: EPERM; an old kernel: ENOSYS): the tests
 * still run then, as the fallback is what such a machine needs; only the reason text
 * tells "not built" from "refused". */
static void need_uring_and_epoll(void)
{
	const char *names[] = {"io_uring", "epoll"};
	for (int i = 0; i < 2; i++) {
		cport *port = NULL;
		cport_options o;
		char why[256] = "";
		cport_options_init(&o);
		o.backend = names[i];
		o.reason = why;
		o.reason_len = sizeof why;
		int r = cport_create(&port, &o);
		if (r == CPORT_ENOSYS && strstr(why, "not built"))
			t_skip("%s is not built into this library", names[i]);
		cport_destroy(port);
	}
}

static int setup(void **state)
{
	(void)state;
	unsetenv("CPORT_BACKEND");
	unsetenv("CPORT_TEST_URING_SETUP_FAIL");
	return 0;
}

static void falls_back_to_epoll(void **state)
{
	(void)state;
	need_uring_and_epoll();
	setenv("CPORT_TEST_URING_SETUP_FAIL", "EPERM", 1);
	cport *port = NULL;
	cport_options o;
	char why[256] = "";
	cport_options_init(&o);
	o.reason = why;
	o.reason_len = sizeof why;
	assert_int_equal(cport_create(&port, &o), 0);
	assert_string_equal(cport_backend_name(port), "epoll");
	assert_string_equal(why, "io_uring: setup failed: EPERM");
	assert_string_equal(cport_backend_reason(port), "io_uring: setup failed: EPERM");
	/* And it works. */
	cport_op op = {0};
	assert_int_equal(cport_nop(port, &op), 0);
	assert_int_equal(t_run(port, &op), 0);
	cport_destroy(port);

	/* NULL options take the same path. */
	assert_int_equal(cport_create(&port, NULL), 0);
	assert_string_equal(cport_backend_name(port), "epoll");
	assert_non_null(strstr(cport_backend_reason(port), "EPERM"));
	cport_destroy(port);
}

static void other_errors_fall_back_too(void **state)
{
	(void)state;
	need_uring_and_epoll();
	setenv("CPORT_TEST_URING_SETUP_FAIL", "ENOSYS", 1);
	cport *port = NULL;
	assert_int_equal(cport_create(&port, NULL), 0);
	assert_string_equal(cport_backend_name(port), "epoll");
	assert_string_equal(cport_backend_reason(port), "io_uring: setup failed: ENOSYS");
	cport_destroy(port);
}

static void strict_returns_the_error(void **state)
{
	(void)state;
	need_uring_and_epoll();
	setenv("CPORT_TEST_URING_SETUP_FAIL", "EPERM", 1);
	cport *port = (cport *)1;
	cport_options o;
	char why[256] = "";
	cport_options_init(&o);
	o.flags = CPORT_OPT_STRICT;
	o.reason = why;
	o.reason_len = sizeof why;
	assert_int_equal(cport_create(&port, &o), CPORT_EPERM);
	assert_null(port);
	assert_string_equal(why, "io_uring: setup failed: EPERM");
}

static void forced_by_name_never_switches(void **state)
{
	(void)state;
	need_uring_and_epoll();
	setenv("CPORT_TEST_URING_SETUP_FAIL", "EPERM", 1);
	cport *port = NULL;
	cport_options o;
	cport_options_init(&o);
	o.backend = "io_uring";
	assert_int_equal(cport_create(&port, &o), CPORT_EPERM);
	assert_null(port);
	setenv("CPORT_BACKEND", "io_uring", 1);
	assert_int_equal(cport_create(&port, NULL), CPORT_EPERM);
	assert_null(port);
}

static void no_hook_first_candidate(void **state)
{
	(void)state;
	need_uring_and_epoll();
	cport *port = NULL;
	assert_int_equal(cport_create(&port, NULL), 0);
	/* io_uring may be refused for real here (seccomp, sysctl): then the reason says
	 * why; if it started, there is nothing to explain. */
	bool uring = strcmp(cport_backend_name(port), "io_uring") == 0;
	print_message("default port: %s%s%s\n", cport_backend_name(port),
		      uring ? "" : ", because ", cport_backend_reason(port));
	assert_true(uring == (cport_backend_reason(port)[0] == '\0'));
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(falls_back_to_epoll, setup),
		cmocka_unit_test_setup(other_errors_fall_back_too, setup),
		cmocka_unit_test_setup(strict_returns_the_error, setup),
		cmocka_unit_test_setup(forced_by_name_never_switches, setup),
		cmocka_unit_test_setup(no_hook_first_candidate, setup),
	};
	return T_MAIN("fallback", tests);
}
