/* SPDX-License-Identifier: MIT */
/* Close cancels (rule 8): ops in flight on a descriptor complete with CPORT_ECANCELED
 * before the close's own completion. */

#include "helpers.h"

#include <stdlib.h>

/* recvs (one in the kernel, the rest waiting their turn), a blocked send with more
 * queued behind it, a poll and an accept-free socket: close completes them all first. */
static void close_with_ops_in_flight(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	enum { NR = 4, NS = 4, BIG = 8 << 20 };
	static cport_op rcv[NR], snd[NS], pl, cl;
	static char rbuf[NR][16];
	char *big = calloc(1, BIG);
	assert_non_null(big);
	for (int i = 0; i < NR; i++)
		assert_int_equal(cport_recv(port, &rcv[i], p[0], rbuf[i], sizeof rbuf[i], 0), 0);
	/* nobody reads p[1]: the first 8 MiB send blocks, the rest wait behind it */
	for (int i = 0; i < NS; i++)
		assert_int_equal(cport_send(port, &snd[i], p[0], big, BIG, 0), 0);
	assert_int_equal(cport_poll(port, &pl, p[0], CPORT_POLL_PRI), 0);
	assert_int_equal(cport_submit(port), 0);
	cport_op *out[16];
	assert_int_equal(cport_wait(port, out, 16, 20 * 1000000LL), 0); /* all stuck */
	assert_int_equal(cport_close(port, &cl, p[0]), 0);
	/* no new op on a descriptor being closed */
	cport_op late = {0};
	assert_int_equal(cport_recv(port, &late, p[0], rbuf[0], 1, 0), CPORT_EBADF);
	int seen = 0, close_seen = 0;
	uint64_t end = t_now_ms() + 5000;
	while (!close_seen && t_now_ms() < end) {
		int k = cport_wait(port, out, 16, 100 * 1000000LL);
		for (int i = 0; i < k; i++) {
			if (out[i] == &cl) {
				close_seen = 1;
				assert_int_equal(cl.result, 0);
				assert_int_equal(i, k - 1); /* the last of its batch */
				continue;
			}
			assert_int_equal(out[i]->result, CPORT_ECANCELED);
			seen++;
		}
	}
	assert_true(close_seen);
	assert_int_equal(seen, NR + NS + 1); /* every op completed before the close */
	assert_int_equal(cport_wait(port, out, 16, 0), 0);
	/* the descriptor is closed: after what the cancelled send got out, the peer sees
	 * end of stream (or a reset) */
	ssize_t n;
	size_t drained = 0;
	while ((n = t_sock_recv(p[1], big, BIG)) > 0 && drained < (size_t)NS * BIG)
		drained += (size_t)n;
	assert_true(n <= 0 && drained < (size_t)BIG);
	t_close(p[1]);
	free(big);
	cport_destroy(port);
}

/* Closing an idle descriptor: just the close. Closing a bad one: CPORT_EBADF result. */
static void close_idle(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	cport_op cl = {0};
	assert_int_equal(cport_close(port, &cl, p[0]), 0);
	assert_int_equal(t_run(port, &cl), 0);
	if (!t_is_windows()) {
		/* Windows hands a closed handle's value out again at once (Wine even to
		 * its own objects): closing it twice is not an error to detect there. */
		/* Refused at submit (the port knows it closed it) or completed so. */
		int r = cport_close(port, &cl, p[0]);
		assert_int_equal(r == 0 ? t_run(port, &cl) : r, CPORT_EBADF);
	}
	t_close(p[1]);
	cport_destroy(port);
}

/* A listener with a pending accept, then reuse of the same descriptor number. */
static void close_listener(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr la;
	cport_fd l = t_listen(&la);
	cport_op acc = {0}, cl = {0};
	assert_int_equal(cport_accept(port, &acc, l, NULL, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_close(port, &cl, l), 0);
	assert_ptr_equal(t_wait1(port), &acc);
	assert_int_equal(acc.result, CPORT_ECANCELED);
	assert_ptr_equal(t_wait1(port), &cl);
	assert_int_equal(cl.result, 0);
	/* the number is free again and the new descriptor works with the port */
	cport_fd l2 = t_listen(&la);
	cport_fd c;
	assert_int_equal(cport_tcp_socket(&c, CPORT_AF_INET), 0);
	assert_int_equal(cport_accept(port, &acc, l2, NULL, 0), 0);
	assert_int_equal(cport_connect(port, &cl, c, &la), 0);
	assert_int_equal(t_reap(port, 2, NULL, NULL), 2);
	assert_true(acc.result >= 0);
	assert_int_equal(cl.result, 0);
	t_close((cport_fd)acc.result), t_close(c), t_close(l2);
	cport_destroy(port);
}

/* Destroy with socket ops in flight and waiting: no completion, nothing touched after. */
static void destroy_with_ops(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	static cport_op rcv[3], acc;
	static char b[3][8];
	cport_addr la;
	cport_fd l = t_listen(&la);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cport_recv(port, &rcv[i], p[0], b[i], 8, 0), 0);
	assert_int_equal(cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	assert_int_equal(cport_submit(port), 0);
	cport_destroy(port);
	t_write_all(p[1], "late", 4); /* lands in the socket, not in b[] */
	for (int i = 0; i < 3; i++)
		assert_memory_equal(b[i], "\0\0\0\0", 4);
	t_close(p[0]), t_close(p[1]), t_close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(close_with_ops_in_flight),
	    cmocka_unit_test(close_idle),
	    cmocka_unit_test(close_listener),
	    cmocka_unit_test(destroy_with_ops),
	};
	return T_MAIN("close-cancel", tests);
}
