/* SPDX-License-Identifier: MIT */
/* UDP: sendmsg/recvmsg with addresses, truncation, connected send/recv, EMSGSIZE. */

#include "helpers.h"

#include <stdlib.h>
#include <string.h>

static void with_addresses(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr aa, ab, from;
	cport_fd a = t_udp_any(&aa), b = t_udp_any(&ab);
	char in[64] = "", out1[] = "hello ", out2[] = "world";
	cport_iovec siov[2] = {{out1, 6}, {out2, 5}}, riov[1] = {{in, sizeof in}};
	cport_msg sm = {.addr = &ab, .iov = siov, .iovcnt = 2};
	cport_msg rm = {.addr = &from, .iov = riov, .iovcnt = 1};
	cport_op s = {0}, r = {0};
	assert_int_equal(cport_recvmsg(port, &r, b, &rm), 0);
	assert_int_equal(cport_sendmsg(port, &s, a, &sm), 0);
	assert_int_equal(t_reap(port, 2, NULL, NULL), 2);
	assert_int_equal(s.result, 11);
	assert_int_equal(r.result, 11);
	assert_memory_equal(in, "hello world", 11);
	assert_int_equal(rm.flags, 0);
	/* the sender's address, as bound */
	assert_int_equal(from.len, aa.len);
	assert_int_equal(cport_addr_port(&from), cport_addr_port(&aa));
	/* a datagram larger than the buffers is cut and says so */
	riov[0].len = 4;
	assert_int_equal(cport_recvmsg(port, &r, b, &rm), 0);
	assert_int_equal(cport_sendmsg(port, &s, a, &sm), 0);
	assert_int_equal(t_reap(port, 2, NULL, NULL), 2);
	assert_int_equal(r.result, 4);
	assert_int_equal(rm.flags, CPORT_MSG_TRUNC);
	/* a receive without a sender address */
	rm.addr = NULL;
	riov[0].len = sizeof in;
	assert_int_equal(cport_recvmsg(port, &r, b, &rm), 0);
	assert_int_equal(cport_sendmsg(port, &s, a, &sm), 0);
	assert_int_equal(t_reap(port, 2, NULL, NULL), 2);
	assert_int_equal(r.result, 11);
	t_close(a), t_close(b);
	cport_destroy(port);
}

/* connect a UDP socket, then plain send/recv; datagram boundaries are kept. */
static void connected(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr aa, ab;
	cport_fd a = t_udp_any(&aa), b = t_udp_any(&ab);
	cport_op op = {0}, r[3] = {{0}};
	assert_int_equal(cport_connect(port, &op, a, &ab), 0);
	assert_int_equal(t_run(port, &op), 0);
	char bufs[3][16];
	for (int i = 0; i < 3; i++)
		assert_int_equal(cport_recv(port, &r[i], b, bufs[i], sizeof bufs[i], 0), 0);
	const char *msgs[3] = {"one", "three", "fifteen"};
	cport_op s[3] = {{0}};
	for (int i = 0; i < 3; i++)
		assert_int_equal(cport_send(port, &s[i], a, msgs[i], strlen(msgs[i]), 0), 0);
	assert_int_equal(t_reap(port, 6, NULL, NULL), 6);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(s[i].result, (int64_t)strlen(msgs[i]));
		assert_int_equal(r[i].result, (int64_t)strlen(msgs[i]));
		assert_memory_equal(bufs[i], msgs[i], strlen(msgs[i]));
	}
	t_close(a), t_close(b);
	cport_destroy(port);
}

static void too_big(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr aa, ab;
	cport_fd a = t_udp_any(&aa), b = t_udp_any(&ab);
	enum { BIG = 70000 };
	char *buf = calloc(1, BIG);
	cport_iovec iov = {buf, BIG};
	cport_msg m = {.addr = &ab, .iov = &iov, .iovcnt = 1};
	cport_op s = {0};
	assert_int_equal(cport_sendmsg(port, &s, a, &m), 0);
	assert_int_equal(t_run(port, &s), CPORT_EMSGSIZE);
	free(buf);
	t_close(a), t_close(b);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(with_addresses),
	    cmocka_unit_test(connected),
	    cmocka_unit_test(too_big),
	};
	return T_MAIN("udp", tests);
}
