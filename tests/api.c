/* SPDX-License-Identifier: MIT */
/* The port itself: create/destroy, options, backend choice and reasons, error names. */

#include "helpers.h"

#include <stdlib.h>
#include <string.h>

static void create_destroy(void **state)
{
	(void)state;
	cport *port = t_port();
	assert_non_null(port);
	if (strcmp(t_backend(), "default") != 0)
		assert_string_equal(cport_backend_name(port), t_backend());
	assert_non_null(cport_backend_reason(port));
	cport_destroy(port);
	cport_destroy(NULL); /* ignored */
}

static void default_options(void **state)
{
	(void)state;
	cport *port = NULL;
	int r = cport_create(&port, NULL);
	if (r < 0)
		t_create_failed(r, NULL);
	assert_non_null(port);
	cport_destroy(port);
}

static void bad_options(void **state)
{
	(void)state;
	cport *port = (cport *)1;
	cport_options o;
	assert_int_equal(cport_create(NULL, NULL), CPORT_EINVAL);

	cport_options_init(&o);
	o.size = 4; /* older than any version */
	assert_int_equal(cport_create(&port, &o), CPORT_EINVAL);
	assert_null(port);

	cport_options_init(&o);
	o.flags = 0x80000000u;
	assert_int_equal(cport_create(&port, &o), CPORT_EINVAL);

	cport_options_init(&o);
	o.queue_depth = 1u << 20;
	assert_int_equal(cport_create(&port, &o), CPORT_EINVAL);

	cport_options_init(&o);
	o.backend = "no-such-backend";
	assert_int_equal(cport_create(&port, &o), CPORT_EINVAL);
	assert_null(port);
}

static void backend_not_built(void **state)
{
	(void)state;
	cport *port = NULL;
	cport_options o;
	char why[200] = "";
	cport_options_init(&o);
	o.reason = why;
	o.reason_len = sizeof why;
	o.backend = "kqueue"; /* never built on Linux; iocp never on Unix */
#ifdef _WIN32
	o.backend = "io_uring";
#endif
	assert_int_equal(cport_create(&port, &o), CPORT_ENOSYS);
	assert_null(port);
	assert_true(strlen(why) > 0);
}

static void options_backend_wins(void **state)
{
	(void)state;
	cport *port = NULL;
	cport_options o;
	cport_options_init(&o);
	o.backend = t_backend();
	if (strcmp(o.backend, "default") == 0)
		o.backend = NULL;
	char why[256] = "";
	o.reason = why;
	o.reason_len = sizeof why;
	int r = cport_create(&port, &o);
	if (r < 0)
		t_create_failed(r, why);
	if (o.backend)
		assert_string_equal(cport_backend_name(port), o.backend);
	cport_destroy(port);
}

static void error_names(void **state)
{
	(void)state;
	assert_string_equal(cport_err_name(CPORT_EINVAL), "EINVAL");
	assert_string_equal(cport_err_name(CPORT_ECANCELED), "ECANCELED");
	assert_string_equal(cport_err_name(CPORT_ETIMEDOUT), "ETIMEDOUT");
	assert_string_equal(cport_err_name(0), "OK");
	assert_string_equal(cport_err_name(-99999), "UNKNOWN");
	assert_string_equal(cport_strerror(CPORT_ENOENT), "no such file, directory or operation");
	assert_string_equal(cport_strerror(-99999), "unknown error");
	assert_true(CPORT_EINVAL < 0 && CPORT_ECANCELED < 0);
#ifndef _WIN32
	assert_int_equal(CPORT_EINVAL, -EINVAL);
	assert_int_equal(CPORT_ECANCELED, -ECANCELED);
	assert_int_equal(CPORT_ETIMEDOUT, -ETIMEDOUT);
#endif
}

static void clock_moves(void **state)
{
	(void)state;
	uint64_t a = cport_now_ns(), b = cport_now_ns();
	assert_true(a > 0 && b >= a);
}

static void wait_empty_port(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op *out[4];
	uint64_t t0 = cport_clock_ns(port); /* the port's clock: virtual on sim */
	assert_int_equal(cport_wait(port, out, 4, 0), 0);
	assert_int_equal(cport_wait(port, out, 4, 20 * 1000000LL), 0);
	assert_true(cport_clock_ns(port) - t0 >= 19 * 1000000u);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_destroy),  cmocka_unit_test(default_options),
		cmocka_unit_test(bad_options),     cmocka_unit_test(backend_not_built),
		cmocka_unit_test(options_backend_wins), cmocka_unit_test(error_names),
		cmocka_unit_test(clock_moves),     cmocka_unit_test(wait_empty_port),
	};
	return T_MAIN("api", tests);
}
