/* SPDX-License-Identifier: MIT */
/* Example: a TCP echo server on one port and one thread (multishot accept, recv, send). */

/*
 * Usage: echo-server [ADDR] [MAX_CONNS]
 *   ADDR       where to listen, "127.0.0.1:7000" or "[::1]:7000" (port 0: any; the
 *              address is printed as "listening on ADDR")
 *   MAX_CONNS  exit after this many connections were served and closed (0: never)
 *
 * Every connection owns one buffer and two ops; it loops recv -> send the same bytes ->
 * recv, and closes (cport_close) at end of stream or on an error.
 */

#include <cport.h>

#include <stdio.h>
#include <stdlib.h>

struct conn {
	cport_op rcv, snd, cls; /* op.user points back to the conn */
	cport_fd fd;
	char buf[16384];
};

static int served, max_conns;

static void conn_close(cport *port, struct conn *c)
{
	if (cport_close(port, &c->cls, c->fd) < 0)
		free(c);
}

static void conn_recv(cport *port, struct conn *c)
{
	if (cport_recv(port, &c->rcv, c->fd, c->buf, sizeof c->buf, 0) < 0)
		conn_close(port, c);
}

static void on_accept(cport *port, cport_op *acc)
{
	if (acc->result < 0) {
		fprintf(stderr, "accept: %s\n", cport_strerror(acc->result));
		return;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		cport_sock_close((cport_fd)acc->result);
		return;
	}
	c->fd = (cport_fd)acc->result;
	c->rcv.user = c->snd.user = c->cls.user = c;
	cport_sock_nodelay(c->fd, 1);
	conn_recv(port, c);
}

static void on_op(cport *port, cport_op *op)
{
	struct conn *c = op->user;
	if (op == &c->rcv) {
		if (op->result <= 0) /* 0: end of stream */
			conn_close(port, c);
		else if (cport_send(port, &c->snd, c->fd, c->buf, (size_t)op->result, 0) < 0)
			conn_close(port, c);
	} else if (op == &c->snd) {
		if (op->result < 0)
			conn_close(port, c);
		else
			conn_recv(port, c);
	} else { /* the close completed: the connection is gone */
		free(c);
		served++;
	}
}

int main(int argc, char **argv)
{
	cport_addr addr;
	cport_fd l;
	const char *text = argc > 1 ? argv[1] : "127.0.0.1:7000";
	max_conns = argc > 2 ? atoi(argv[2]) : 0;
	int r = cport_addr_parse(&addr, text);
	if (r == 0)
		r = cport_tcp_listen(&l, &addr, 0, 0);
	if (r < 0) {
		fprintf(stderr, "listen on %s: %s\n", text, cport_strerror(r));
		return 1;
	}
	char shown[CPORT_ADDR_STRLEN];
	cport_sock_local(l, &addr);
	cport_addr_format(&addr, shown, sizeof shown);
	printf("listening on %s\n", shown);
	fflush(stdout);

	/* One thread drives the port for its whole life: let io_uring use its fastest
	 * mode (SINGLE_ISSUER | DEFER_TASKRUN). */
	cport_options o;
	cport_options_init(&o);
	o.flags = CPORT_OPT_SINGLE_THREAD;
	o.queue_depth = 1024;
	cport *port;
	if ((r = cport_create(&port, &o)) < 0) {
		fprintf(stderr, "cport_create: %s\n", cport_strerror(r));
		return 1;
	}
	cport_op acc = {0};
	if ((r = cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT)) < 0) {
		fprintf(stderr, "accept: %s\n", cport_strerror(r));
		return 1;
	}
	while (max_conns == 0 || served < max_conns) {
		cport_op *out[64];
		int n = cport_wait(port, out, 64, -1);
		for (int i = 0; i < n; i++) {
			if (out[i] == &acc)
				on_accept(port, &acc);
			else
				on_op(port, out[i]);
		}
	}
	cport_destroy(port);
	cport_sock_close(l);
	return 0;
}
