/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #1, IOCP): a local listener that takes the value of a socket closed with cport_sock_close gets its accepts. */

/*
 * The IOCP port remembers, per handle value, what the handle was (a socket associated
 * with the port, a local listener, ...). After cport_sock_close the value may be
 * reused; the port must look at it again before the next op. It did so for every
 * handle but listeners: a local listener (a named pipe) that took a closed socket's
 * value was still taken for that socket, its accept never completed, and
 * cport_destroy then waited for it forever. Here sockets with ops on the port are
 * closed with cport_sock_close, local listeners are made until some take their
 * values, and on each of those an accept completes and carries bytes; one accept is
 * left in flight on each, and cport_destroy returns.
 */

#include "helpers.h"

#include <stdio.h>
#include <string.h>
#include <windows.h>

enum { PAIRS = 20, LISTENERS = 2 * PAIRS };

static void accept_on(cport *port, cport_fd l, const char *name, cport_op *left)
{
	cport_op acc = {0}, op = {0}, *out[1];
	acc.timeout_ns = 10 * 1000000000ull; /* a hang shows as ETIMEDOUT, not as a hang */
	assert_int_equal(cport_accept(port, &acc, l, NULL, 0), 0);
	assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0);
	cport_fd c;
	assert_int_equal(cport_local_connect(&c, name), 0);
	int64_t s = t_run(port, &acc);
	if (s < 0)
		fail_msg("accept on a listener that reused a socket's value: %s", cport_err_name(s));
	char b = 0;
	assert_int_equal(cport_send(port, &op, c, "x", 1, 0), 0);
	assert_int_equal(t_run(port, &op), 1);
	assert_int_equal(cport_recv(port, &op, (cport_fd)s, &b, 1, 0), 0);
	assert_int_equal(t_run(port, &op), 1);
	assert_int_equal(b, 'x');
	t_close((cport_fd)s);
	t_close(c);
	assert_int_equal(cport_accept(port, left, l, NULL, 0), 0);
}

static void listener_takes_socket_value(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd socks[2 * PAIRS], lsn[LISTENERS];
	for (int i = 0; i < PAIRS; i++) {
		cport_op op = {0};
		char b;
		t_tcp_pair(&socks[2 * i]);
		assert_int_equal(cport_send(port, &op, socks[2 * i], "r", 1, 0), 0);
		assert_int_equal(t_run(port, &op), 1);
		assert_int_equal(cport_recv(port, &op, socks[2 * i + 1], &b, 1, 0), 0);
		assert_int_equal(t_run(port, &op), 1);
	}
	for (int i = 0; i < 2 * PAIRS; i++)
		assert_int_equal(cport_sock_close(socks[i]), 0);
	static cport_op left[LISTENERS];
	int reused = 0;
	for (int i = 0; i < LISTENERS; i++) {
		char name[64];
		snprintf(name, sizeof name, "regress-lsn-%lu-%d", (unsigned long)GetCurrentProcessId(), i);
		assert_int_equal(cport_local_listen(&lsn[i], name, 8), 0);
		bool was = false;
		for (int k = 0; k < 2 * PAIRS; k++)
			was = was || socks[k] == lsn[i];
		if (was) {
			accept_on(port, lsn[i], name, &left[i]);
			reused++;
		}
	}
	print_message("local listeners that took a closed socket's value: %d\n", reused);
	assert_int_equal(cport_submit(port), 0);
	uint64_t t0 = t_now_ms();
	cport_destroy(port); /* stops the accepts left in flight */
	assert_true(t_now_ms() - t0 < 30000); /* a hang guard (Wine, loaded machine) */
	for (int i = 0; i < LISTENERS; i++)
		t_close(lsn[i]);
	if (reused == 0)
		t_skip("no local listener took a closed socket's value");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(listener_takes_socket_value),
	};
	return T_MAIN("regress-iocp-local-listener-reuse", tests);
}
