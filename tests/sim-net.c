/* SPDX-License-Identifier: MIT */
/*
 * The simulation's network (cport.h section 8, "Sockets with addresses"): listeners,
 * connects and accepts with loopback addresses, backlogs, datagrams, and the socket
 * helpers on its descriptors.
 */

#include "helpers.h"

#include <stdio.h>
#include <string.h>

static cport_addr addr(const char *text)
{
	cport_addr a;
	assert_int_equal(cport_addr_parse(&a, text), 0);
	return a;
}

/* The same address: family, IP and port. */
static void same_addr(const cport_addr *a, const cport_addr *b)
{
	char x[CPORT_ADDR_STRLEN], y[CPORT_ADDR_STRLEN];
	assert_true(cport_addr_format(a, x, sizeof x) > 0);
	assert_true(cport_addr_format(b, y, sizeof y) > 0);
	assert_string_equal(x, y);
}

static void close_all(cport *port, const cport_fd *fds, int n)
{
	for (int i = 0; i < n; i++) {
		cport_op op = {0};
		assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, fds[i])), 0);
	}
}

/* A connect finds the listener by address; both ends know both addresses. */
static void connect_accept(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	cport_addr any = addr("0.0.0.0:0"), bound, peer, me, them;
	cport_fd l, c;
	assert_int_equal(cport_tcp_listen(&l, &any, 8, 0), 0);
	assert_int_equal(cport_sock_local(l, &bound), 0);
	int lport = cport_addr_port(&bound);
	assert_true(lport >= 32768 && lport <= 60999); /* an ephemeral port */
	assert_int_equal(cport_sock_peer(l, &peer), CPORT_ENOTCONN);
	/* A wildcard listener takes its port at any address of its family. */
	char text[CPORT_ADDR_STRLEN];
	snprintf(text, sizeof text, "127.0.0.9:%d", lport);
	cport_addr to = addr(text);
	assert_int_equal(cport_tcp_socket(&c, CPORT_AF_INET), 0);
	cport_op con = {0}, acc = {0}, op = {0};
	assert_int_equal(t_sim_op(port, &con, cport_connect(port, &con, c, &to)), 0);
	int64_t s = t_sim_op(port, &acc, cport_accept(port, &acc, l, &peer, 0));
	assert_true(s >= 0);
	assert_int_equal(cport_sock_local(c, &me), 0);
	assert_int_equal(cport_sock_peer(c, &them), 0);
	same_addr(&them, &to); /* the client's peer: where it went */
	same_addr(&peer, &me); /* the accept's peer: the client */
	assert_int_equal(cport_sock_local((cport_fd)s, &them), 0);
	same_addr(&them, &to);
	/* Bytes both ways, then end of stream. */
	char b[16];
	assert_int_equal(t_sim_op(port, &op, cport_send(port, &op, c, "ping", 4, 0)), 4);
	assert_int_equal(t_sim_op(port, &op, cport_recv(port, &op, (cport_fd)s, b, sizeof b, 0)), 4);
	assert_memory_equal(b, "ping", 4);
	assert_int_equal(t_sim_op(port, &op, cport_shutdown(port, &op, (cport_fd)s, CPORT_SHUT_WR)), 0);
	assert_int_equal(t_sim_op(port, &op, cport_recv(port, &op, c, b, sizeof b, 0)), 0);
	/* The socket helpers take the simulation's descriptors. */
	assert_int_equal(cport_sock_nodelay(c, 1), 0);
	assert_int_equal(cport_sock_keepalive(c, 1, 30), 0);
	assert_int_equal(t_sim_op(port, &op, cport_connect(port, &op, c, &to)), CPORT_EISCONN);
	cport_iovec iv = {b, 1};
	cport_msg m = {&to, &iv, 1, 0, {0}};
	assert_int_equal(t_sim_op(port, &op, cport_sendmsg(port, &op, c, &m)), CPORT_EISCONN);
	cport_fd fds[] = {c, (cport_fd)s, l};
	close_all(port, fds, 3);
	cport_destroy(port);
}

/* Refused, in use, wrong family, and the same over IPv6. */
static void errors(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	cport_addr a = addr("127.0.0.1:0"), bound, a6 = addr("[::1]:0"), b6;
	cport_fd l, l2, c, c6, l6;
	assert_int_equal(cport_tcp_listen(&l, &a, 0, 0), 0);
	assert_int_equal(cport_sock_local(l, &bound), 0);
	assert_int_equal(cport_tcp_listen(&l2, &bound, 0, 0), CPORT_EADDRINUSE);
	cport_addr wild = addr("0.0.0.0:0");
	char text[CPORT_ADDR_STRLEN];
	snprintf(text, sizeof text, "0.0.0.0:%d", cport_addr_port(&bound));
	wild = addr(text);
	assert_int_equal(cport_tcp_listen(&l2, &wild, 0, 0), CPORT_EADDRINUSE);
	assert_int_equal(cport_tcp_listen(NULL, &a, 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_tcp_listen(&l2, &a, 0, 0x80), CPORT_EINVAL);
	cport_op op = {0};
	assert_int_equal(cport_tcp_socket(&c, CPORT_AF_INET), 0);
	cport_addr dead = addr("127.0.0.1:1");
	assert_int_equal(t_sim_op(port, &op, cport_connect(port, &op, c, &dead)), CPORT_ECONNREFUSED);
	assert_int_equal(t_sim_op(port, &op, cport_connect(port, &op, c, &a6)), CPORT_EAFNOSUPPORT);
	char b[4];
	assert_int_equal(t_sim_op(port, &op, cport_recv(port, &op, c, b, 4, 0)), CPORT_ENOTCONN);
	assert_int_equal(t_sim_op(port, &op, cport_send(port, &op, c, b, 4, 0)), CPORT_ENOTCONN);
	assert_int_equal(t_sim_op(port, &op, cport_accept(port, &op, c, NULL, 0)), CPORT_EINVAL);
	assert_int_equal(t_sim_op(port, &op, cport_recv(port, &op, l, b, 4, 0)), CPORT_ENOTCONN);
	/* IPv6 */
	assert_int_equal(cport_tcp_listen(&l6, &a6, 0, CPORT_SOCK_V6ONLY), 0);
	assert_int_equal(cport_sock_local(l6, &b6), 0);
	assert_int_equal(cport_addr_family(&b6), CPORT_AF_INET6);
	assert_int_equal(cport_tcp_socket(&c6, CPORT_AF_INET6), 0);
	assert_int_equal(t_sim_op(port, &op, cport_connect(port, &op, c6, &b6)), 0);
	int64_t s6 = t_sim_op(port, &op, cport_accept(port, &op, l6, NULL, 0));
	assert_true(s6 >= 0);
	/* A file is not a socket. */
	int64_t f = t_sim_op(port, &op, cport_open(port, &op, "f", CPORT_O_RDWR | CPORT_O_CREAT, 0644));
	assert_true(f >= 0);
	assert_int_equal(cport_accept(port, &op, (cport_fd)f, NULL, 0), CPORT_ENOTSOCK);
	assert_int_equal(cport_sock_local((cport_fd)f, &bound), CPORT_ENOTSOCK);
	assert_int_equal(cport_sock_nodelay((cport_fd)f, 1), CPORT_ENOTSOCK);
	cport_fd fds[] = {l, c, l6, c6, (cport_fd)s6, (cport_fd)f};
	close_all(port, fds, 6);
	cport_destroy(port);
}

/* A full backlog holds a connect back until an accept makes room; a connect's timeout
 * bounds that wait; the listener's close resets what it held and refuses who waits. */
static void backlog(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	cport_addr a = addr("127.0.0.1:0"), bound;
	cport_fd l, c[4];
	assert_int_equal(cport_tcp_listen(&l, &a, 2, 0), 0);
	assert_int_equal(cport_sock_local(l, &bound), 0);
	cport_op con[4], op = {0};
	memset(con, 0, sizeof con);
	for (int i = 0; i < 4; i++)
		assert_int_equal(cport_tcp_socket(&c[i], CPORT_AF_INET), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(t_sim_op(port, &con[i], cport_connect(port, &con[i], c[i], &bound)), 0);
	/* Full: the third waits, and its timeout ends it. */
	con[2].timeout_ns = 2000000000ull;
	uint64_t t0 = cport_clock_ns(port);
	assert_int_equal(t_sim_op(port, &con[2], cport_connect(port, &con[2], c[2], &bound)),
			 CPORT_ETIMEDOUT);
	assert_true(cport_clock_ns(port) - t0 >= 2000000000ull);
	/* The fourth waits until an accept takes one. */
	assert_int_equal(cport_connect(port, &con[3], c[3], &bound), 0);
	cport_op *out[2];
	assert_int_equal(cport_wait(port, out, 2, 1000000000), 0);
	int64_t s = t_sim_op(port, &op, cport_accept(port, &op, l, NULL, 0));
	assert_true(s >= 0);
	assert_int_equal(t_sim_op(port, &con[3], 0), 0);
	/* The close of the listener resets the two it still holds. */
	assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, l)), 0);
	char b[4];
	assert_int_equal(t_sim_op(port, &op, cport_recv(port, &op, c[1], b, 4, 0)), CPORT_ECONNRESET);
	assert_int_equal(t_sim_op(port, &op, cport_recv(port, &op, c[3], b, 4, 0)), CPORT_ECONNRESET);
	/* The accepted one lives on. */
	assert_int_equal(t_sim_op(port, &op, cport_send(port, &op, c[0], "ok", 2, 0)), 2);
	assert_int_equal(t_sim_op(port, &op, cport_recv(port, &op, (cport_fd)s, b, 4, 0)), 2);
	cport_fd fds[] = {c[0], c[1], c[2], c[3], (cport_fd)s};
	close_all(port, fds, 5);
	cport_destroy(port);
}

/* A multishot accept completes once per connection, with CPORT_MORE, until cancelled. */
static void multishot_accept(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	cport_addr a = addr("127.0.0.1:0"), bound;
	cport_fd l, c[3];
	assert_int_equal(cport_tcp_listen(&l, &a, 0, 0), 0);
	assert_int_equal(cport_sock_local(l, &bound), 0);
	cport_op acc = {0}, con[3];
	memset(con, 0, sizeof con);
	assert_int_equal(cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cport_tcp_socket(&c[i], CPORT_AF_INET), 0);
		assert_int_equal(cport_connect(port, &con[i], c[i], &bound), 0);
	}
	cport_fd got[3];
	int ngot = 0, nconn = 0;
	while (ngot < 3 || nconn < 3) {
		cport_op *out[4];
		int k = cport_wait(port, out, 4, -1);
		assert_true(k > 0);
		for (int i = 0; i < k; i++) {
			if (out[i] == &acc) {
				assert_true(acc.result >= 0);
				assert_true(acc.cflags & CPORT_MORE);
				got[ngot++] = (cport_fd)acc.result;
			} else {
				assert_int_equal(out[i]->result, 0);
				nconn++;
			}
		}
	}
	assert_int_equal(cport_cancel(port, &acc), 0);
	assert_int_equal(t_sim_op(port, &acc, 0), CPORT_ECANCELED);
	assert_false(acc.cflags & CPORT_MORE);
	cport_fd fds[] = {got[0], got[1], got[2], c[0], c[1], c[2], l};
	close_all(port, fds, 7);
	cport_destroy(port);
}

/* Datagrams: to an address, with the sender's address; cut to the buffer; a connected
 * socket's default peer; lost when nobody is bound. */
static void datagrams(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	cport_addr a = addr("127.0.0.1:0"), ua, ub, from;
	cport_fd u, v;
	assert_int_equal(cport_udp_socket(&u, &a, 0), 0);
	assert_int_equal(cport_udp_socket(&v, &a, 0), 0);
	assert_int_equal(cport_sock_local(u, &ua), 0);
	assert_int_equal(cport_sock_local(v, &ub), 0);
	assert_true(cport_addr_port(&ua) != cport_addr_port(&ub));
	cport_op op = {0};
	char big[100], small[8];
	memset(big, 'd', sizeof big);
	cport_iovec iv = {big, sizeof big};
	cport_msg m = {&ub, &iv, 1, 0, {0}};
	assert_int_equal(t_sim_op(port, &op, cport_sendmsg(port, &op, u, &m)), 100);
	assert_int_equal(t_sim_op(port, &op, cport_send(port, &op, u, "x", 1, 0)), CPORT_EDESTADDRREQ);
	cport_iovec is = {small, sizeof small};
	cport_msg r = {&from, &is, 1, 0, {0}};
	assert_int_equal(t_sim_op(port, &op, cport_recvmsg(port, &op, v, &r)), 8);
	assert_true(r.flags & CPORT_MSG_TRUNC);
	same_addr(&from, &ua);
	/* Connected: send and recv with the default peer. */
	assert_int_equal(t_sim_op(port, &op, cport_connect(port, &op, u, &ub)), 0);
	assert_int_equal(t_sim_op(port, &op, cport_send(port, &op, u, "hello", 5, 0)), 5);
	assert_int_equal(t_sim_op(port, &op, cport_recv(port, &op, v, small, sizeof small, 0)), 5);
	assert_memory_equal(small, "hello", 5);
	/* Too large; to nobody (lost, as UDP loses it: nothing arrives). */
	static char huge[70000];
	assert_int_equal(t_sim_op(port, &op, cport_send(port, &op, u, huge, sizeof huge, 0)),
			 CPORT_EMSGSIZE);
	cport_addr nobody = addr("127.0.0.1:9");
	m.addr = &nobody;
	iv.len = 3;
	assert_int_equal(t_sim_op(port, &op, cport_sendmsg(port, &op, u, &m)), 3);
	op.timeout_ns = 1000000000ull;
	assert_int_equal(t_sim_op(port, &op, cport_recv(port, &op, v, small, sizeof small, 0)),
			 CPORT_ETIMEDOUT);
	op.timeout_ns = 0;
	/* Poll says a datagram waits. */
	assert_int_equal(t_sim_op(port, &op, cport_send(port, &op, u, "p", 1, 0)), 1);
	assert_int_equal(t_sim_op(port, &op, cport_poll(port, &op, v, CPORT_POLL_IN)), CPORT_POLL_IN);
	assert_int_equal(t_sim_op(port, &op, cport_accept(port, &op, v, NULL, 0)), CPORT_ENOTSUP);
	cport_fd fds[] = {u, v};
	close_all(port, fds, 2);
	cport_destroy(port);
}

/* Local streams by name: connected at once, refused names, a name in use. */
static void local_streams(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	cport_fd l, c, x;
	assert_int_equal(cport_local_listen(&l, "/run/app.sock", 1), 0);
	assert_int_equal(cport_local_listen(&x, "/run/app.sock", 1), CPORT_EADDRINUSE);
	assert_int_equal(cport_local_connect(&x, "/run/nobody"), CPORT_ENOENT);
	assert_int_equal(cport_local_connect(&c, "/run/app.sock"), 0);
	assert_int_equal(cport_local_connect(&x, "/run/app.sock"), CPORT_EAGAIN); /* backlog 1 */
	cport_op op = {0};
	cport_addr peer, name;
	int64_t s = t_sim_op(port, &op, cport_accept(port, &op, l, &peer, 0));
	assert_true(s >= 0);
	assert_int_equal(peer.len, 0); /* an unnamed client */
	assert_int_equal(cport_sock_local(l, &name), 0);
	/* Windows: a local stream is a named pipe, which has no address (lib/addr.c). */
	int want = t_is_windows() ? CPORT_AF_UNSPEC : CPORT_AF_LOCAL;
	assert_int_equal(cport_addr_family(&name), want);
	char b[8];
	assert_int_equal(t_sim_op(port, &op, cport_write(port, &op, c, "abc", 3, -1)), 3);
	assert_int_equal(t_sim_op(port, &op, cport_read(port, &op, (cport_fd)s, b, 8, -1)), 3);
	cport_fd fds[] = {c, (cport_fd)s, l};
	close_all(port, fds, 3);
	cport_destroy(port);
}

/* cport_sock_close on a simulated descriptor closes it at once: the peer reads the end
 * of the stream, a listener's port is free again, and ops on it are CPORT_EBADF. */
static void sock_close(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	cport_addr a = addr("127.0.0.1:0"), bound;
	cport_fd l, c, l2;
	assert_int_equal(cport_tcp_listen(&l, &a, 0, 0), 0);
	assert_int_equal(cport_sock_local(l, &bound), 0);
	assert_int_equal(cport_tcp_socket(&c, CPORT_AF_INET), 0);
	cport_op op = {0};
	assert_int_equal(t_sim_op(port, &op, cport_connect(port, &op, c, &bound)), 0);
	int64_t s = t_sim_op(port, &op, cport_accept(port, &op, l, NULL, 0));
	assert_true(s >= 0);
	assert_int_equal(cport_sock_close(c), 0);
	char b[4];
	assert_int_equal(t_sim_op(port, &op, cport_recv(port, &op, (cport_fd)s, b, 4, 0)), 0);
	assert_int_equal(cport_sock_close(l), 0);
	assert_int_equal(cport_tcp_listen(&l2, &bound, 0, 0), 0); /* the port is free */
	assert_int_equal(cport_sock_close(l2), 0);
	assert_int_equal(cport_sock_close((cport_fd)s), 0);
	cport_destroy(port);
}

/* Several listeners of CPORT_SOCK_REUSEPORT on one port take turns. */
static void reuseport(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	cport_addr a = addr("127.0.0.1:0"), bound;
	cport_fd l1, l2, c[4];
	assert_int_equal(cport_tcp_listen(&l1, &a, 0, CPORT_SOCK_REUSEPORT), 0);
	assert_int_equal(cport_sock_local(l1, &bound), 0);
	assert_int_equal(cport_tcp_listen(&l2, &bound, 0, CPORT_SOCK_REUSEPORT), 0);
	cport_op op = {0};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cport_tcp_socket(&c[i], CPORT_AF_INET), 0);
		assert_int_equal(t_sim_op(port, &op, cport_connect(port, &op, c[i], &bound)), 0);
	}
	int64_t got[4];
	for (int i = 0; i < 2; i++) {
		got[2 * i] = t_sim_op(port, &op, cport_accept(port, &op, l1, NULL, 0));
		got[2 * i + 1] = t_sim_op(port, &op, cport_accept(port, &op, l2, NULL, 0));
	}
	cport_fd fds[] = {(cport_fd)got[0], (cport_fd)got[1], (cport_fd)got[2],
			  (cport_fd)got[3], c[0], c[1], c[2], c[3], l1, l2};
	for (int i = 0; i < 4; i++)
		assert_true(got[i] >= 0);
	close_all(port, fds, 10);
	cport_destroy(port);
}

/* An echo of many connections with faults, twice with one seed: the same trace. */
static uint64_t echo_program(uint64_t seed)
{
	cport_sim_profile p;
	memset(&p, 0, sizeof p);
	p.size = sizeof p;
	p.seed = seed;
	p.stream_buf = 1024;
	p.short_ppm = 200000;
	p.again_ppm = 100000;
	cport *port = t_sim_port(&p);
	enum { N = 8, LEN = 3000 };
	cport_addr a = addr("127.0.0.1:0"), bound;
	cport_fd l, c[N], s[N];
	assert_int_equal(cport_tcp_listen(&l, &a, N, 0), 0);
	assert_int_equal(cport_sock_local(l, &bound), 0);
	static cport_op con[N], acc[N], snd[N], rcv[N];
	static char out[N][LEN], in[N][LEN];
	memset(con, 0, sizeof con), memset(acc, 0, sizeof acc);
	for (int i = 0; i < N; i++) {
		assert_int_equal(cport_tcp_socket(&c[i], CPORT_AF_INET), 0);
		assert_int_equal(cport_connect(port, &con[i], c[i], &bound), 0);
		assert_int_equal(cport_accept(port, &acc[i], l, NULL, 0), 0);
	}
	for (int n = 0; n < 2 * N; n++) {
		cport_op *o[1];
		assert_int_equal(cport_wait(port, o, 1, -1), 1);
		assert_true(o[0]->result >= 0);
		for (int i = 0; i < N; i++)
			if (o[0] == &acc[i])
				s[i] = (cport_fd)o[0]->result;
	}
	/* Connections are accepted in the order they were made, which latency chose:
	 * pair each client with its server end by address. */
	cport_fd by[N];
	for (int i = 0; i < N; i++) {
		cport_addr me, peer;
		assert_int_equal(cport_sock_local(c[i], &me), 0);
		bool found = false; /* (a cport_fd is unsigned on Windows: no -1 for "none") */
		for (int j = 0; j < N; j++)
			if (cport_sock_peer(s[j], &peer) == 0 &&
			    cport_addr_port(&peer) == cport_addr_port(&me))
				by[i] = s[j], found = true;
		assert_true(found);
	}
	memcpy(s, by, sizeof s);
	size_t got[N] = {0};
	for (int i = 0; i < N; i++) {
		memset(out[i], 'a' + i, LEN);
		memset(&snd[i], 0, sizeof snd[i]);
		memset(&rcv[i], 0, sizeof rcv[i]);
		assert_int_equal(cport_send(port, &snd[i], c[i], out[i], LEN, 0), 0);
		assert_int_equal(cport_recv(port, &rcv[i], s[i], in[i], LEN, 0), 0);
	}
	int left = 2 * N;
	while (left > 0) {
		cport_op *o[8];
		int k = cport_wait(port, o, 8, -1);
		assert_true(k > 0);
		for (int j = 0; j < k; j++) {
			assert_true(o[j]->result > 0);
			int i = 0;
			while (i < N && o[j] != &rcv[i])
				i++;
			if (i == N) {
				left--;
				continue;
			}
			got[i] += (size_t)o[j]->result;
			if (got[i] < LEN)
				assert_int_equal(cport_recv(port, &rcv[i], s[i], in[i] + got[i],
							    LEN - got[i], 0), 0);
			else
				left--;
		}
	}
	for (int i = 0; i < N; i++)
		assert_memory_equal(in[i], out[i], LEN);
	uint64_t h = cport_sim_trace_hash(port);
	close_all(port, c, N);
	close_all(port, s, N);
	close_all(port, &l, 1);
	cport_destroy(port);
	return h;
}

static void same_trace(void **state)
{
	(void)state;
	uint64_t a = echo_program(7), b = echo_program(7);
	assert_true(a == b);
	assert_true(echo_program(8) != a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(connect_accept), cmocka_unit_test(errors),
		cmocka_unit_test(backlog),        cmocka_unit_test(multishot_accept),
		cmocka_unit_test(datagrams),      cmocka_unit_test(local_streams),
		cmocka_unit_test(sock_close),     cmocka_unit_test(reuseport),
		cmocka_unit_test(same_trace),
	};
	return t_main("sim-net", tests, sizeof tests / sizeof *tests);
}
