/* SPDX-License-Identifier: MIT */
/* Example: a minimal HTTP/1.1 server with keep-alive that answers every request with a
 * fixed response (for load tools such as wrk). */

/*
 * Usage: http-server [ADDR]     (default 127.0.0.1:8080)
 *
 * A request ends at its blank line ("\r\n\r\n"); bodies are not supported (a request
 * with Content-Length or Transfer-Encoding gets 400 and the connection closes). Pipelined
 * requests are answered in one send. "Connection: close" is honoured. One port, one
 * thread, CPORT_OPT_SINGLE_THREAD.
 */

#include <cport.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY "Hello, world!\n"
static const char response[] = "HTTP/1.1 200 OK\r\n"
                               "Server: cport-example\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 14\r\n"
                               "\r\n" BODY;
static const char bad_request[] = "HTTP/1.1 400 Bad Request\r\n"
                                  "Content-Length: 0\r\n"
                                  "Connection: close\r\n"
                                  "\r\n";
enum { IN_MAX = 8192, PIPELINE_MAX = 64 };

struct conn {
	cport_op rcv, snd, cls;
	cport_fd fd;
	size_t have; /* bytes of an unfinished request in `in` */
	int closing; /* close once the send went out */
	char in[IN_MAX];
	char out[PIPELINE_MAX * sizeof response];
};

static void conn_close(cport *port, struct conn *c)
{
	if (cport_close(port, &c->cls, c->fd) < 0)
		free(c);
}

static void conn_recv(cport *port, struct conn *c)
{
	if (cport_recv(port, &c->rcv, c->fd, c->in + c->have, IN_MAX - c->have, 0) < 0)
		conn_close(port, c);
}

/* Does the header block [h, end) contain this header (case-insensitive name)? */
static int has_header(const char *h, const char *end, const char *name, const char *value)
{
	size_t n = strlen(name);
	for (const char *p = h; p && p + n < end; p = memchr(p, '\n', (size_t)(end - p))) {
		if (*p == '\n')
			p++;
		if ((size_t)(end - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			if (!value)
				return 1;
			const char *v = p + n + 1;
			while (v < end && *v == ' ')
				v++;
			if ((size_t)(end - v) >= strlen(value) &&
			    strncasecmp(v, value, strlen(value)) == 0)
				return 1;
		}
	}
	return 0;
}

/* Answer every complete request in the buffer with one send; keep the rest. */
static void conn_answer(cport *port, struct conn *c)
{
	size_t used = 0, out = 0;
	char *end;
	while (out + sizeof response <= sizeof c->out &&
	       (end = memmem(c->in + used, c->have - used, "\r\n\r\n", 4)) != NULL) {
		const char *req = c->in + used;
		if (has_header(req, end, "Content-Length", NULL) ||
		    has_header(req, end, "Transfer-Encoding", NULL)) {
			memcpy(c->out + out, bad_request, sizeof bad_request - 1);
			out += sizeof bad_request - 1;
			c->closing = 1;
			break;
		}
		if (has_header(req, end, "Connection", "close"))
			c->closing = 1;
		memcpy(c->out + out, response, sizeof response - 1);
		out += sizeof response - 1;
		used = (size_t)(end + 4 - c->in);
		if (c->closing)
			break;
	}
	memmove(c->in, c->in + used, c->have - used);
	c->have -= used;
	if (out == 0) { /* no complete request yet */
		if (c->have == IN_MAX)
			conn_close(port, c); /* headers too large */
		else
			conn_recv(port, c);
		return;
	}
	if (cport_send(port, &c->snd, c->fd, c->out, out, 0) < 0)
		conn_close(port, c);
}

static void on_op(cport *port, cport_op *op)
{
	struct conn *c = op->user;
	if (op == &c->rcv) {
		if (op->result <= 0) {
			conn_close(port, c);
			return;
		}
		c->have += (size_t)op->result;
		conn_answer(port, c);
	} else if (op == &c->snd) {
		if (op->result < 0 || c->closing)
			conn_close(port, c);
		else if (memmem(c->in, c->have, "\r\n\r\n", 4))
			conn_answer(port, c); /* more pipelined requests already here */
		else
			conn_recv(port, c);
	} else {
		free(c);
	}
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

int main(int argc, char **argv)
{
	const char *text = argc > 1 ? argv[1] : "127.0.0.1:8080";
	cport_addr addr;
	cport_fd l;
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
	printf("listening on http://%s/\n", shown);
	fflush(stdout);
	cport_options o;
	cport_options_init(&o);
	o.flags = CPORT_OPT_SINGLE_THREAD;
	o.queue_depth = 1024;
	cport *port;
	cport_op acc = {0};
	if ((r = cport_create(&port, &o)) < 0 ||
	    (r = cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT)) < 0) {
		fprintf(stderr, "setup: %s\n", cport_strerror(r));
		return 1;
	}
	for (;;) {
		cport_op *out[64];
		int n = cport_wait(port, out, 64, -1);
		for (int i = 0; i < n; i++) {
			if (out[i] == &acc)
				on_accept(port, &acc);
			else
				on_op(port, out[i]);
		}
	}
}
