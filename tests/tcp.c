/* SPDX-License-Identifier: MIT */
/* TCP: addresses, connect, send/recv, half-close, EOF, reset, refused, EPIPE, timeouts. */

#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>

static void addr_text(void **state)
{
	(void)state;
	cport_addr a;
	char buf[CPORT_ADDR_STRLEN];
	assert_int_equal(cport_addr_parse(&a, "1.2.3.4:80"), 0);
	assert_int_equal(cport_addr_family(&a), CPORT_AF_INET);
	assert_int_equal(cport_addr_port(&a), 80);
	assert_int_equal(cport_addr_format(&a, buf, sizeof buf), 10);
	assert_string_equal(buf, "1.2.3.4:80");
	assert_int_equal(cport_addr_parse(&a, "[::1]:65535"), 0);
	assert_int_equal(cport_addr_family(&a), CPORT_AF_INET6);
	assert_int_equal(cport_addr_port(&a), 65535);
	assert_true(cport_addr_format(&a, buf, sizeof buf) > 0);
	assert_string_equal(buf, "[::1]:65535");
	assert_int_equal(cport_addr_format(&a, buf, 4), CPORT_ENOSPC);
	/* bad text leaves the address alone */
	cport_addr keep = a;
	const char *bad[] = {"",         "1.2.3.4",     "1.2.3.4:", "1.2.3.4:65536",
	                     "1.2.3:80", "[::1]80",     "::1:80",   "[::1]:x",
	                     "host:80",  "1.2.3.4:80x", "[]:1"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(cport_addr_parse(&a, bad[i]), CPORT_EINVAL);
	assert_memory_equal(&a, &keep, sizeof a);
	assert_int_equal(cport_addr_parse(NULL, "1.2.3.4:1"), CPORT_EINVAL);
	assert_int_equal(cport_addr_family(NULL), CPORT_AF_UNSPEC);
	memset(&a, 0, sizeof a);
	assert_int_equal(cport_addr_port(&a), CPORT_EINVAL);
	assert_int_equal(cport_addr_format(&a, buf, sizeof buf), CPORT_EINVAL);
}

static void bad_args(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	char b[4];
	cport_addr a = {0};
	cport_msg m = {0};
	assert_int_equal(cport_recv(port, &op, 3, b, 4, 1), CPORT_EINVAL);
	assert_int_equal(cport_recv(port, &op, 3, NULL, 4, 0), CPORT_EINVAL);
	assert_int_equal(cport_send(port, &op, -1, b, 4, 0), CPORT_EBADF);
	assert_int_equal(cport_connect(port, &op, 3, &a), CPORT_EINVAL); /* empty address */
	assert_int_equal(cport_connect(port, &op, 3, NULL), CPORT_EINVAL);
	assert_int_equal(cport_accept(port, &op, 3, &a, CPORT_ACCEPT_MULTISHOT), CPORT_EINVAL);
	assert_int_equal(cport_accept(port, &op, 3, NULL, 1u << 7), CPORT_EINVAL);
	assert_int_equal(cport_shutdown(port, &op, 3, 0), CPORT_EINVAL);
	assert_int_equal(cport_shutdown(port, &op, 3, 4), CPORT_EINVAL);
	assert_int_equal(cport_poll(port, &op, 3, 0), CPORT_EINVAL);
	assert_int_equal(cport_recvmsg(port, &op, 3, &m), CPORT_EINVAL); /* no iov */
	assert_int_equal(cport_sendmsg(port, &op, 3, NULL), CPORT_EINVAL);
	assert_int_equal(cport_sendfile(port, &op, 3, 4, -1, 10), CPORT_EINVAL);
	assert_int_equal(cport_sendfile(port, &op, 3, -1, 0, 10), CPORT_EBADF);
	assert_int_equal(cport_tcp_listen(NULL, &a, 0, 0), CPORT_EINVAL);
	cport_fd fd;
	assert_int_equal(cport_tcp_listen(&fd, &a, 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_tcp_socket(&fd, 99), CPORT_EINVAL);
	assert_int_equal(cport_sock_nodelay(-1, 1), CPORT_EBADF);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 0), 0); /* nothing was accepted */
	cport_destroy(port);
}

/* Connect through the port to a listener, accept through the port: both see the
 * other's address. */
static void connect_accept(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr la, peer, cl;
	cport_fd l = t_listen(&la), c, s;
	assert_int_equal(cport_tcp_socket(&c, CPORT_AF_INET), 0);
	cport_op acc = {0}, con = {0};
	assert_int_equal(cport_accept(port, &acc, l, &peer, 0), 0);
	assert_int_equal(cport_connect(port, &con, c, &la), 0);
	assert_int_equal(t_reap(port, 2, NULL, NULL), 2);
	assert_int_equal(con.result, 0);
	assert_true(acc.result >= 0);
	s = (cport_fd)acc.result;
	assert_int_equal(cport_sock_local(c, &cl), 0);
	assert_int_equal(cport_addr_port(&peer), cport_addr_port(&cl));
	assert_int_equal(cport_sock_nodelay(s, 1), 0);
	assert_int_equal(cport_sock_keepalive(s, 1, 30), 0);
	/* the accepted descriptor is close-on-exec */
	assert_true(t_cloexec(s));
	t_close(c), t_close(s), t_close(l);
	cport_destroy(port);
}

/* send / recv both ways, then half-close: the shut side reads on, the peer reads EOF. */
static void echo_and_half_close(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	cport_op snd = {0}, rcv = {0};
	char buf[64];
	assert_int_equal(cport_send(port, &snd, p[0], "hello", 5, 0), 0);
	assert_int_equal(t_run(port, &snd), 5);
	assert_int_equal(cport_recv(port, &rcv, p[1], buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &rcv), 5);
	assert_memory_equal(buf, "hello", 5);
	/* client stops sending: the server reads 0 (end of stream) ... */
	assert_int_equal(cport_shutdown(port, &snd, p[0], CPORT_SHUT_WR), 0);
	assert_int_equal(t_run(port, &snd), 0);
	assert_int_equal(cport_recv(port, &rcv, p[1], buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &rcv), 0);
	assert_int_equal(cport_recv(port, &rcv, p[1], buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &rcv), 0); /* and again: EOF sticks */
	/* ... and can still answer, which the client reads */
	assert_int_equal(cport_send(port, &snd, p[1], "bye", 3, 0), 0);
	assert_int_equal(t_run(port, &snd), 3);
	assert_int_equal(cport_recv(port, &rcv, p[0], buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &rcv), 3);
	assert_memory_equal(buf, "bye", 3);
	/* sending after our own shutdown: EPIPE, and the process lives */
	assert_int_equal(cport_send(port, &snd, p[0], "x", 1, 0), 0);
	assert_int_equal(t_run(port, &snd), CPORT_EPIPE);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

/* The peer closes with SO_LINGER 0: a recv in flight sees CPORT_ECONNRESET. */
static void peer_reset(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	cport_op rcv = {0};
	char buf[16];
	assert_int_equal(cport_recv(port, &rcv, p[0], buf, sizeof buf, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(t_sock_linger0(p[1]), 0);
	t_close(p[1]);
	assert_int_equal(t_run(port, &rcv), CPORT_ECONNRESET);
	t_close(p[0]);
	cport_destroy(port);
}

/* Sending to a peer that closed: after at most one CPORT_ECONNRESET, CPORT_EPIPE;
 * never a SIGPIPE that kills the test. */
static void send_to_closed_peer(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	t_close(p[1]);
	static char chunk[65536];
	cport_op snd = {0};
	int64_t r = 0;
	int resets = 0;
	for (int i = 0; i < 1000 && r != CPORT_EPIPE; i++) {
		assert_int_equal(cport_send(port, &snd, p[0], chunk, sizeof chunk, 0), 0);
		r = t_run(port, &snd);
		assert_true(r == (int64_t)sizeof chunk || r == CPORT_EPIPE ||
		            r == CPORT_ECONNRESET);
		resets += r == CPORT_ECONNRESET;
	}
	assert_int_equal(r, CPORT_EPIPE);
	assert_true(resets <= 1);
	/* cport_write (not a send) on the socket: EPIPE too */
	assert_int_equal(cport_write(port, &snd, p[0], chunk, 10, -1), 0);
	assert_int_equal(t_run(port, &snd), CPORT_EPIPE);
	t_close(p[0]);
	cport_destroy(port);
}

static void refused(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr a;
	cport_fd l = t_listen(&a), c;
	t_close(l); /* nobody listens on that port now */
	assert_int_equal(cport_tcp_socket(&c, CPORT_AF_INET), 0);
	cport_op con = {0};
	assert_int_equal(cport_connect(port, &con, c, &a), 0);
	assert_int_equal(t_run(port, &con), CPORT_ECONNREFUSED);
	t_close(c);
	cport_destroy(port);
}

/* timeout_ns on a recv that gets nothing: CPORT_ETIMEDOUT, in time; the socket works on. */
static void recv_timeout(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	cport_op rcv = {0};
	char buf[8];
	rcv.timeout_ns = 50 * 1000000ull;
	uint64_t t0 = cport_clock_ns(port) / 1000000u; /* the port's clock: virtual on sim */
	assert_int_equal(cport_recv(port, &rcv, p[0], buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &rcv), CPORT_ETIMEDOUT);
	uint64_t took = cport_clock_ns(port) / 1000000u - t0;
	assert_true(took >= 40 && took < 5000);
	rcv.timeout_ns = 0;
	t_write_all(p[1], "ok", 2);
	assert_int_equal(cport_recv(port, &rcv, p[0], buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &rcv), 2);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

/* A recv with a timeout waiting its turn behind a recv without one still times out;
 * the one ahead of it gets the next bytes. */
static void queued_recv_timeout(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	cport_op r1 = {0}, r2 = {0}, r3 = {0};
	char b1[8], b2[8], b3[8];
	r2.timeout_ns = 30 * 1000000ull;
	r3.timeout_ns = 60000 * 1000000ull;
	assert_int_equal(cport_recv(port, &r1, p[0], b1, sizeof b1, 0), 0);
	assert_int_equal(cport_recv(port, &r2, p[0], b2, sizeof b2, 0), 0);
	assert_int_equal(cport_recv(port, &r3, p[0], b3, sizeof b3, 0), 0);
	uint64_t t0 = t_now_ms();
	assert_ptr_equal(t_wait1(port), &r2);
	assert_int_equal(r2.result, CPORT_ETIMEDOUT);
	assert_true(t_now_ms() - t0 < 30000); /* r2's 30 ms, not r3's 60 s */
	t_write_all(p[1], "one", 3);
	assert_ptr_equal(t_wait1(port), &r1);
	assert_int_equal(r1.result, 3);
	t_write_all(p[1], "two", 3);
	assert_ptr_equal(t_wait1(port), &r3); /* r3 moved up, its timeout still running */
	assert_int_equal(r3.result, 3);
	assert_memory_equal(b3, "two", 3);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

/* Cancel a pending recv, and a recv waiting behind it: both CPORT_ECANCELED. */
static void recv_cancel(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	cport_op r1 = {0}, r2 = {0};
	char b1[8], b2[8];
	assert_int_equal(cport_recv(port, &r1, p[0], b1, sizeof b1, 0), 0);
	assert_int_equal(cport_recv(port, &r2, p[0], b2, sizeof b2, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_cancel(port, &r2), 0);
	assert_ptr_equal(t_wait1(port), &r2);
	assert_int_equal(r2.result, CPORT_ECANCELED);
	assert_int_equal(cport_cancel(port, &r1), 0);
	assert_ptr_equal(t_wait1(port), &r1);
	assert_int_equal(r1.result, CPORT_ECANCELED);
	assert_int_equal(cport_cancel(port, &r1), CPORT_ENOENT);
	/* the stream is still usable: a new recv gets the next bytes */
	t_write_all(p[1], "abc", 3);
	assert_int_equal(cport_recv(port, &r1, p[0], b1, sizeof b1, 0), 0);
	assert_int_equal(t_run(port, &r1), 3);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

/* connect with a timeout to an address that never answers (a blackhole) would need the
 * network; instead: connect over IPv6 loopback where the host has it. */
static void ipv6_loopback(void **state)
{
	(void)state;
	cport_addr a;
	cport_fd l, c;
	assert_int_equal(cport_addr_parse(&a, "[::1]:0"), 0);
	int r = cport_tcp_listen(&l, &a, 0, CPORT_SOCK_V6ONLY);
	if (r == CPORT_EAFNOSUPPORT || r == CPORT_EADDRNOTAVAIL)
		t_skip("no IPv6 loopback here: %s", cport_err_name(r));
	assert_int_equal(r, 0);
	cport *port = t_port();
	assert_int_equal(cport_sock_local(l, &a), 0);
	assert_int_equal(cport_tcp_socket(&c, CPORT_AF_INET6), 0);
	cport_op acc = {0}, con = {0};
	cport_addr peer;
	assert_int_equal(cport_accept(port, &acc, l, &peer, 0), 0);
	assert_int_equal(cport_connect(port, &con, c, &a), 0);
	assert_int_equal(t_reap(port, 2, NULL, NULL), 2);
	assert_int_equal(con.result, 0);
	assert_true(acc.result >= 0);
	assert_int_equal(cport_addr_family(&peer), CPORT_AF_INET6);
	char text[CPORT_ADDR_STRLEN];
	assert_true(cport_addr_format(&peer, text, sizeof text) > 0);
	assert_memory_equal(text, "[::1]:", 6);
	t_close((cport_fd)acc.result), t_close(c), t_close(l);
	cport_destroy(port);
}

static void *post_later(void *arg)
{
	t_sleep_us(20000);
	static cport_op posted;
	cport_post(arg, &posted, 42);
	return NULL;
}

/* A port blocked in cport_wait on sockets is woken by a post from another thread (also
 * in the io_uring-single variant, where the ring belongs to this thread). */
static void post_wakes_socket_wait(void **state)
{
	(void)state;
	t_sim_skip("a post from another thread after a real delay races virtual time");
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	cport_op rcv = {0};
	char buf[4];
	assert_int_equal(cport_recv(port, &rcv, p[0], buf, sizeof buf, 0), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, post_later, port), 0);
	cport_op *op = t_wait1(port);
	assert_int_equal(op->result, 42);
	pthread_join(th, NULL);
	assert_int_equal(cport_cancel(port, &rcv), 0);
	assert_int_equal(t_run(port, &rcv), CPORT_ECANCELED);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(addr_text),
	    cmocka_unit_test(bad_args),
	    cmocka_unit_test(connect_accept),
	    cmocka_unit_test(echo_and_half_close),
	    cmocka_unit_test(peer_reset),
	    cmocka_unit_test(send_to_closed_peer),
	    cmocka_unit_test(refused),
	    cmocka_unit_test(recv_timeout),
	    cmocka_unit_test(queued_recv_timeout),
	    cmocka_unit_test(recv_cancel),
	    cmocka_unit_test(ipv6_loopback),
	    cmocka_unit_test(post_wakes_socket_wait),
	};
	return T_MAIN("tcp", tests);
}
