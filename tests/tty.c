/* SPDX-License-Identifier: MIT */
/* Terminals: reads and writes with offset -1 on a pseudo-terminal are streams too. */

#include "helpers.h"

#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>
#endif

/* A terminal (a pseudo-terminal pair in raw mode): reads and writes with offset -1 have
 * the same stream semantics as on a pipe. */
static void tty(void **state)
{
	(void)state;
	t_os_only("a terminal");
#ifdef _WIN32
	t_skip("no pseudo-terminals on Windows (a console has no overlapped I/O: its reads "
	       "run on the thread pool, see tests/iocp-handles.c)");
#else
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		t_skip("no pseudo-terminals here");
	int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(s >= 0);
	struct termios tio;
	assert_int_equal(tcgetattr(s, &tio), 0);
	cfmakeraw(&tio);
	assert_int_equal(tcsetattr(s, TCSANOW, &tio), 0);
	cport *port = t_port();
	cport_op w = {0}, r = {0};
	char buf[32];
	assert_int_equal(cport_read(port, &r, s, buf, sizeof buf, -1), 0);
	assert_int_equal(cport_write(port, &w, m, "typed", 5, -1), 0);
	assert_int_equal(t_reap(port, 2, NULL, NULL), 2);
	assert_int_equal(w.result, 5);
	assert_true(r.result >= 1 && r.result <= 5);
	assert_memory_equal(buf, "typed", (size_t)r.result);
	assert_int_equal(cport_write(port, &w, s, "shown", 5, -1), 0);
	assert_int_equal(t_run(port, &w), 5);
	assert_int_equal(cport_read(port, &r, m, buf, sizeof buf, -1), 0);
	int64_t n = t_run(port, &r);
	assert_true(n >= 1 && n <= 5);
	assert_memory_equal(buf, "shown", (size_t)n);
	t_close(s), t_close(m);
	cport_destroy(port);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tty),
	};
	return T_MAIN("tty", tests);
}
