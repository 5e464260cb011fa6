/* SPDX-License-Identifier: MIT */
/* Example: drive an echo server with N connections at once and check every byte. */

/*
 * Usage: echo-client ADDR [CONNS] [BYTES]
 *   CONNS  connections at once (default 64)
 *   BYTES  bytes each connection sends and expects back (default 1 MiB)
 * Exits 0 when every byte came back in order; prints the throughput.
 *
 * Each connection keeps one send and one recv in flight: it sends its bytes in chunks
 * (the stream rules keep them in order) while it reads the echo back.
 */

#include <cport.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CHUNK = 16384 };

struct conn {
	cport_op con, snd, rcv;
	cport_fd fd;
	uint64_t sent, got;
	char out[CHUNK], in[CHUNK];
};

static uint64_t bytes_each;
static int failed;

/* The byte at offset `off` of connection `id`'s stream. */
static char pattern(int id, uint64_t off)
{
	return (char)((off * 7 + (uint64_t)id * 13 + (off >> 12)) & 0xff);
}

static void send_next(cport *port, struct conn *c, int id)
{
	uint64_t n = bytes_each - c->sent < CHUNK ? bytes_each - c->sent : CHUNK;
	for (uint64_t i = 0; i < n; i++)
		c->out[i] = pattern(id, c->sent + i);
	if (cport_send(port, &c->snd, c->fd, c->out, (size_t)n, 0) < 0)
		failed = 1;
	c->sent += n;
}

static void recv_next(cport *port, struct conn *c)
{
	if (cport_recv(port, &c->rcv, c->fd, c->in, CHUNK, 0) < 0)
		failed = 1;
}

/* One completion; returns 1 when this connection has all its bytes back. */
static int on_op(cport *port, struct conn *conns, cport_op *op)
{
	struct conn *c = op->user;
	int id = (int)(c - conns);
	if (op->result < 0) {
		fprintf(stderr, "connection %d: %s\n", id, cport_strerror(op->result));
		failed = 1;
		return 0;
	}
	if (op == &c->con) {
		cport_sock_nodelay(c->fd, 1);
		send_next(port, c, id);
		recv_next(port, c);
	} else if (op == &c->snd) {
		if (c->sent < bytes_each)
			send_next(port, c, id);
	} else {
		if (op->result == 0) {
			fprintf(stderr, "connection %d: early end of stream\n", id);
			failed = 1;
			return 0;
		}
		for (int64_t i = 0; i < op->result; i++)
			if (c->in[i] != pattern(id, c->got + (uint64_t)i)) {
				fprintf(stderr, "connection %d: wrong byte at %llu\n", id,
				        (unsigned long long)(c->got + (uint64_t)i));
				failed = 1;
				return 0;
			}
		c->got += (uint64_t)op->result;
		if (c->got == bytes_each)
			return 1;
		recv_next(port, c);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: echo-client ADDR [CONNS] [BYTES]\n");
		return 2;
	}
	cport_addr addr;
	int nconns = argc > 2 ? atoi(argv[2]) : 64;
	bytes_each = argc > 3 ? strtoull(argv[3], NULL, 10) : 1u << 20;
	if (cport_addr_parse(&addr, argv[1]) < 0 || nconns <= 0 || bytes_each == 0) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	cport_options o;
	cport_options_init(&o);
	o.flags = CPORT_OPT_SINGLE_THREAD;
	o.queue_depth = 1024;
	cport *port;
	int r = cport_create(&port, &o);
	struct conn *conns = calloc((size_t)nconns, sizeof *conns);
	if (r < 0 || !conns) {
		fprintf(stderr, "setup: %s\n", cport_strerror(r));
		return 1;
	}
	uint64_t t0 = cport_now_ns();
	for (int i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		c->con.user = c->snd.user = c->rcv.user = c;
		if ((r = cport_tcp_socket(&c->fd, cport_addr_family(&addr))) < 0 ||
		    (r = cport_connect(port, &c->con, c->fd, &addr)) < 0) {
			fprintf(stderr, "connection %d: %s\n", i, cport_strerror(r));
			return 1;
		}
	}
	int done = 0;
	while (done < nconns && !failed) {
		cport_op *out[64];
		int n = cport_wait(port, out, 64, 10 * 1000000000LL);
		if (n == 0) {
			fprintf(stderr, "no progress for 10 s\n");
			return 1;
		}
		for (int i = 0; i < n; i++)
			done += on_op(port, conns, out[i]);
	}
	double secs = (double)(cport_now_ns() - t0) / 1e9;
	cport_destroy(port);
	for (int i = 0; i < nconns; i++)
		cport_sock_close(conns[i].fd);
	free(conns);
	if (failed)
		return 1;
	printf("%d connections x %llu bytes echoed and checked in %.3f s (%.1f MB/s each way)\n",
	       nconns, (unsigned long long)bytes_each, secs,
	       (double)nconns * (double)bytes_each / secs / 1e6);
	return 0;
}
