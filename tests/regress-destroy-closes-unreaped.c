/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #12): cport_destroy closes the descriptors that finished but unreaped accepts and opens produced. */

/*
 * Rule 14: destroy "closes the descriptors that completed ops produced but nobody
 * reaped". An accept or an open that finished in the kernel or on the pool holds a new
 * descriptor in its completion; a port destroyed before that completion was reaped
 * dropped the completion and leaked the descriptor (nobody else knows its number). The
 * count of this process's open descriptors (/proc/self/fd) is taken before the port is
 * created; after the ops finished unreaped and the port was destroyed, it must not have
 * grown.
 */

#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


static void expect_no_growth(int before, const char *what)
{
	int after = t_count_fds();
	printf("regress-destroy-closes-unreaped (%s): %s: %d descriptors before, %d after\n",
	       t_backend(), what, before, after);
	fflush(stdout);
	if (after > before)
		fail_msg("%s: %d descriptors leaked by cport_destroy", what, after - before);
}

/* Accepts of connections already waiting, and an open of a real file: all finish, none
 * is reaped, the port is destroyed. */
static void accepts_and_open(void **state)
{
	(void)state;
	enum { NACC = 3 };
	cport_addr la;
	cport_fd l = t_listen(&la), cli[NACC];
	for (int i = 0; i < NACC; i++)
		cli[i] = t_connect(&la);
	t_os_only("open(2)"); /* the file the port's open meets */
	char path[300];
	t_path(path, sizeof path, "plain");
	int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(f >= 0);
	assert_int_equal(write(f, "0123456789", 10), 10);
	close(f);
	int before = t_count_fds();

	cport *port = t_port();
	static cport_op acc[NACC], op_open;
	memset(acc, 0, sizeof acc);
	memset(&op_open, 0, sizeof op_open);
	for (int i = 0; i < NACC; i++)
		assert_int_equal(cport_accept(port, &acc[i], l, NULL, 0), 0);
	assert_int_equal(cport_open(port, &op_open, path, CPORT_O_RDONLY, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	/* Let the kernel and the pool finish them; nothing is reaped. */
	t_sleep_us(300000);
	assert_int_equal(cport_submit(port), 0);
	t_sleep_us(200000);
	cport_destroy(port);
	expect_no_growth(before, "3 accepts and an open, unreaped");
	for (int i = 0; i < NACC; i++)
		t_close(cli[i]);
	t_close(l);
}

/* The same with a multishot accept that took several connections. */
static void multishot_accept(void **state)
{
	(void)state;
	enum { NCONN = 4 };
	cport_addr la;
	cport_fd l = t_listen(&la), cli[NCONN];
	for (int i = 0; i < NCONN; i++)
		cli[i] = t_connect(&la);
	int before = t_count_fds();
	cport *port = t_port();
	static cport_op acc;
	memset(&acc, 0, sizeof acc);
	assert_int_equal(cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	assert_int_equal(cport_submit(port), 0);
	t_sleep_us(300000);
	assert_int_equal(cport_submit(port), 0);
	t_sleep_us(200000);
	cport_destroy(port);
	expect_no_growth(before, "a multishot accept of 4 connections, unreaped");
	for (int i = 0; i < NCONN; i++)
		t_close(cli[i]);
	t_close(l);
}

/* Control: the same ops reaped and closed by the caller leave the count as it was (so
 * the count itself is sound on this backend). */
static void reaped_control(void **state)
{
	(void)state;
	cport_addr la;
	cport_fd l = t_listen(&la);
	cport_fd c = t_connect(&la);
	int before = t_count_fds();
	cport *port = t_port();
	cport_op acc = {0};
	assert_int_equal(cport_accept(port, &acc, l, NULL, 0), 0);
	int64_t fd = t_run(port, &acc);
	assert_true(fd >= 0);
	t_close((cport_fd)fd);
	cport_destroy(port);
	expect_no_growth(before, "control: accept reaped and closed");
	t_close(c);
	t_close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reaped_control),
		cmocka_unit_test(accepts_and_open),
		cmocka_unit_test(multishot_accept),
	};
	return T_MAIN("regress-destroy-closes-unreaped", tests);
}
