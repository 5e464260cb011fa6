/* SPDX-License-Identifier: MIT */
/* Regression (defect 12c): ENXIO has a name and a text, and the error table stays sorted with Linux's values. */

/*
 * ENXIO ("no such device or address": on Unix, a non-blocking open of a FIFO for
 * writing with no reader) was missing from CPORT_ERRNO_MAP, so a result of -ENXIO
 * was named "UNKNOWN".
 *
 * Not tested through cport_open: cport_open has no non-blocking flag and never adds
 * O_NONBLOCK (lib/unix.c cport__unix_open_flags), so its open of a FIFO for writing
 * with no reader waits for a reader (tests/pool.c holds a worker that way) instead of
 * failing with ENXIO. The Unix part below makes the ENXIO with a plain open and checks
 * that the library names the code it gives.
 */

#include "helpers.h"

#include <string.h>
#ifndef _WIN32
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

static void enxio_named(void **state)
{
	(void)state;
	assert_string_equal(cport_err_name(CPORT_ENXIO), "ENXIO");
	assert_string_equal(cport_strerror(CPORT_ENXIO), "no such device or address");
	assert_true(CPORT_ENXIO < 0);
#ifdef _WIN32
	assert_int_equal(CPORT_ENXIO, -6); /* Linux's value, as for every code there */
#else
	assert_int_equal(CPORT_ENXIO, -ENXIO);
#endif
}

/* Every row: a name, a text, a negative code that names itself; rows sorted by their
 * Linux value, no value twice; on Linux each code is -(that value). */
static void table_sorted_and_whole(void **state)
{
	(void)state;
	static const struct {
		int code, linux_value;
		const char *name;
	} rows[] = {
#define T_ROW(name, lv, text) {CPORT_##name, lv, #name},
		CPORT_ERRNO_MAP(T_ROW)
#undef T_ROW
	};
	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
		assert_true(rows[i].code < 0);
		assert_string_equal(cport_err_name(rows[i].code), rows[i].name);
		assert_string_not_equal(cport_strerror(rows[i].code), "unknown error");
		if (i > 0 && rows[i].linux_value <= rows[i - 1].linux_value)
			fail_msg("CPORT_ERRNO_MAP: %s (%d) after %s (%d): keep it sorted by value",
				 rows[i].name, rows[i].linux_value, rows[i - 1].name,
				 rows[i - 1].linux_value);
#ifdef __linux__
		assert_int_equal(rows[i].code, -rows[i].linux_value);
#endif
	}
}

#ifndef _WIN32
/* What ENXIO is on Unix: a FIFO opened for writing, non-blocking, with no reader. */
static void fifo_without_reader_is_named(void **state)
{
	(void)state;
	t_os_only("a FIFO");
	char path[300];
	t_path(path, sizeof path, "fifo-no-reader");
	assert_int_equal(mkfifo(path, 0600), 0);
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	int err = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	assert_int_equal(fd, -1);
	assert_int_equal(-err, CPORT_ENXIO);
	assert_string_equal(cport_err_name(-err), "ENXIO");
	assert_int_equal(t_unlink(path), 0);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(enxio_named),
		cmocka_unit_test(table_sorted_and_whole),
#ifndef _WIN32
		cmocka_unit_test(fifo_without_reader_is_named),
#endif
	};
	return T_MAIN("regress-enxio-name", tests);
}
