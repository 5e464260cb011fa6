/* SPDX-License-Identifier: MIT */
/* Example: a minimal HTTP/1.1 server with keep-alive that answers every request with a
 * fixed response (for load tools such as wrk), receiving into a pool of buffers. */

/*
 * Usage: http-server [--backend=NAME] [--recv=pool|buffer] [--pool=COUNTxSIZE]
 *                    [--threads=N] [ADDR]
 *   ADDR       where to listen (default 127.0.0.1:8080; port 0: any). The first line
 *              printed is "listening on http://ADDR/", the second names the backend and
 *              the receive mode.
 *   --backend  the cport backend (default: $CPORT_BACKEND, else the best one)
 *   --recv     pool (default): one multishot cport_recv_pool per connection, buffers
 *              from a pool shared by every connection, so an idle connection holds
 *              none; buffer: a cport_recv into the connection's own 8 KiB buffer
 *   --pool     the pool's buffers (default 1024x4096)
 *   --threads  N threads serve one shared port (CPORT_OPT_SHARED, concurrency N), as
 *              a Windows server runs a pool of threads on one completion port; each
 *              completion goes to whichever thread waits. Default 1: one thread on a
 *              CPORT_OPT_SINGLE_THREAD port.
 *
 * A request ends at its blank line ("\r\n\r\n"); bodies are not supported (a request
 * with Content-Length or Transfer-Encoding gets 400 and the connection closes).
 * Pipelined requests are answered in order, up to PIPELINE_MAX per send. "Connection:
 * close" and the client's end of stream are honoured once every earlier request is
 * answered. One port; with --threads above 1, the completions of one connection may come
 * to different threads at once (its receive on one, its send on another), so a
 * connection's state is changed only under its own mutex.
 *
 * Map: 1. parsing  2. sending  3. receiving (pool or buffer)  4. accept, main
 */

#include <cport.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY "Hello, world!\n"
#define HEAD "HTTP/1.1 200 OK\r\n"          \
	     "Server: cport-example\r\n"    \
	     "Content-Type: text/plain\r\n" \
	     "Content-Length: 14\r\n"
static const char response[] = HEAD "\r\n" BODY;
/* The answer to a request with "Connection: close": the client learns that this is the
 * last one (wrk, for one, would send the next request on the connection otherwise). */
static const char response_close[] = HEAD "Connection: close\r\n\r\n" BODY;
static const char bad_request[] = "HTTP/1.1 400 Bad Request\r\n"
                                  "Content-Length: 0\r\n"
                                  "Connection: close\r\n"
                                  "\r\n";
#define RESPONSE_LEN (sizeof response - 1)

enum {
	IN_MAX = 8192,     /* the longest request head taken */
	PIPELINE_MAX = 64, /* responses in one send */
	/* Requests owed an answer past which a connection stops receiving until its
	 * sends caught up (a client that pipelines without reading). */
	OWED_MAX = 16 * PIPELINE_MAX
};

/* The response is fixed, so a connection only counts the answers it owes and sends
 * them from read-only blocks shared by every connection's sends at once: PIPELINE_MAX
 * copies of it; and PIPELINE_MAX - 1 copies followed by response_close, whose tail
 * ends the answers to a client that asked to close. */
static char responses[PIPELINE_MAX * RESPONSE_LEN];
static char responses_close[(PIPELINE_MAX - 1) * RESPONSE_LEN + sizeof response_close - 1];

/* What the server runs with (set once in main). */
static struct {
	bool pool;      /* --recv=pool */
	uint16_t group; /* the pool's number */
	uint32_t count, size;
	char *mem;      /* the pool's block: buffer id at mem + id * size */
	unsigned threads; /* --threads */
} cfg = {true, 0, 1024, 4096, NULL, 1};

enum { BUSY_RCV = 1, BUSY_SND = 2, BUSY_CLS = 4 }; /* conn.busy: ops in flight */
/* conn.stop: what ends the connection once the owed answers went out */
enum { GO = 0, STOP_ASKED, STOP_EOF, STOP_BAD };

struct conn {
	cport_op rcv, snd, cls; /* op.user points back to the conn */
	cport_fd fd;
	uint8_t busy;       /* BUSY_* */
	uint8_t stop;       /* GO, or what to do once every owed answer went out */
	bool closing;       /* cport_close submitted (or the fallback below) */
	bool by_hand;       /* cport_close was refused: cport_sock_close once idle */
	bool rcv_stopping;  /* the multishot receive was asked to stop (cport_cancel) */
	bool bad_sent;      /* the 400 went out */
	uint32_t owed;      /* requests parsed and not answered yet */
	uint32_t sending;   /* answers in the send in flight */
	size_t have;        /* bytes of an unfinished request in `in` */
	/* --recv=buffer: the receive buffer (IN_MAX, always there); --recv=pool: only the
	 * start of a request split across pool buffers, allocated while there is one. */
	char *in;
	/* --threads above 1: held while a completion of this connection is handled. A
	 * thread frees the connection only when nothing of it is in flight, so no other
	 * thread can be waiting for the mutex then. */
	pthread_mutex_t mu;
};

static void conn_recv(cport *port, struct conn *c);

/* ---- 1. Parsing -------------------------------------------------------------------- */

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

/* One whole request head [req, end) ("\r\n\r\n" at end): owe it an answer, or stop. */
static void conn_request(struct conn *c, const char *req, const char *end)
{
	if (has_header(req, end, "Content-Length", NULL) ||
	    has_header(req, end, "Transfer-Encoding", NULL)) {
		c->stop = STOP_BAD;
		return;
	}
	c->owed++;
	if (has_header(req, end, "Connection", "close"))
		c->stop = STOP_ASKED;
}

/* Take every whole request in [p, p + n) until the connection stops; returns the bytes
 * used (the rest is the start of an unfinished request, or ignored after a stop). */
static size_t conn_parse(struct conn *c, const char *p, size_t n)
{
	const char *start = p, *end;
	while (c->stop == GO && (end = memmem(p, n, "\r\n\r\n", 4)) != NULL) {
		conn_request(c, p, end);
		n -= (size_t)(end + 4 - p);
		p = end + 4;
	}
	return (size_t)(p - start);
}

/* A pool buffer's bytes [p, p + n), next in the stream. First the request carried over
 * from earlier buffers, whose end may lie in this one (even its "\r\n\r\n" may be cut);
 * then whole requests straight from the buffer; what is left starts the carry. Nothing
 * points into the buffer afterwards: the caller gives it back at once. Returns 0, or
 * -1 when a request head is longer than IN_MAX (close without an answer). */
static int conn_feed(struct conn *c, const char *p, size_t n)
{
	if (c->have > 0) {
		size_t old = c->have, take = n < IN_MAX - old ? n : IN_MAX - old;
		memcpy(c->in + old, p, take);
		c->have += take;
		size_t from = old > 3 ? old - 3 : 0; /* the end may straddle the two */
		const char *end = memmem(c->in + from, c->have - from, "\r\n\r\n", 4);
		if (!end)
			return c->have == IN_MAX ? -1 : 0; /* all of p taken while it fits */
		conn_request(c, c->in, end);
		size_t used = (size_t)(end + 4 - c->in) - old;
		c->have = 0;
		p += used;
		n -= used;
	}
	size_t used = conn_parse(c, p, n);
	if (c->stop != GO || used == n) {
		free(c->in); /* no carry needed: nothing unfinished, or nothing more taken */
		c->in = NULL;
		return 0;
	}
	if (n - used >= IN_MAX)
		return -1;
	if (!c->in && !(c->in = malloc(IN_MAX)))
		return -1;
	memcpy(c->in, p + used, n - used);
	c->have = n - used;
	return 0;
}

/* ---- 2. Sending, closing ------------------------------------------------------------ */

/* The end of handling a connection: free it if it is closing and nothing of it is in
 * flight, else let it go. The caller holds its mutex (--threads above 1), which this
 * releases; decided under it, as another thread may take the mutex the moment it is
 * released and free the connection. */
static void conn_release(struct conn *c)
{
	if (!c->closing || c->busy) {
		if (cfg.threads > 1)
			pthread_mutex_unlock(&c->mu);
		return;
	}
	if (c->by_hand)
		cport_sock_close(c->fd);
	free(c->in);
	if (cfg.threads > 1) {
		pthread_mutex_unlock(&c->mu);
		pthread_mutex_destroy(&c->mu);
	}
	free(c);
}

/* Close once: cport_close completes every op still in flight first. If the port
 * refuses it, stop those ops and close by hand when the last one completed. The conn
 * is freed by conn_release, which on_op and on_accept call last. */
static void conn_close(cport *port, struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (cport_close(port, &c->cls, c->fd) == 0) {
		c->busy |= BUSY_CLS;
		return;
	}
	c->by_hand = true;
	if (c->busy & BUSY_RCV)
		cport_cancel(port, &c->rcv);
	if (c->busy & BUSY_SND)
		cport_cancel(port, &c->snd);
}

/* Send what is owed (one send in flight at a time), then act on a stop. */
static void conn_send(cport *port, struct conn *c)
{
	if (c->closing || (c->busy & BUSY_SND))
		return;
	const char *buf = responses;
	size_t len;
	if (c->owed > 0) {
		c->sending = c->owed < PIPELINE_MAX ? c->owed : PIPELINE_MAX;
		len = c->sending * RESPONSE_LEN;
		if (c->stop == STOP_ASKED && c->sending == c->owed) { /* the last answers */
			len += sizeof response_close - sizeof response;
			buf = responses_close + sizeof responses_close - len;
		}
	} else if (c->stop == STOP_BAD && !c->bad_sent) {
		c->bad_sent = true;
		buf = bad_request;
		len = sizeof bad_request - 1;
	} else {
		if (c->stop != GO)
			conn_close(port, c);
		return;
	}
	if (cport_send(port, &c->snd, c->fd, buf, len, 0) < 0) {
		conn_close(port, c);
		return;
	}
	c->busy |= BUSY_SND;
}

static void on_send(cport *port, struct conn *c)
{
	c->busy &= (uint8_t)~BUSY_SND;
	if (c->snd.result < 0)
		conn_close(port, c);
	c->owed -= c->sending;
	c->sending = 0;
	conn_send(port, c);
	conn_recv(port, c); /* if it had stopped to let the sends catch up */
}

/* ---- 3. Receiving -------------------------------------------------------------------- */

/* Receive unless a receive is in flight, the connection stopped taking requests, or
 * it owes too many answers already. */
static void conn_recv(cport *port, struct conn *c)
{
	if (c->closing || c->stop != GO || (c->busy & BUSY_RCV) || c->owed > OWED_MAX)
		return;
	int r;
	if (cfg.pool)
		r = cport_recv_pool(port, &c->rcv, c->fd, cfg.group, CPORT_RECV_MULTISHOT);
	else
		r = cport_recv(port, &c->rcv, c->fd, c->in + c->have, IN_MAX - c->have, 0);
	if (r < 0) {
		conn_close(port, c);
		return;
	}
	c->busy |= BUSY_RCV;
	c->rcv_stopping = false;
}

/* The stream ended or failed: answer what is owed, then close (an error: at once). */
static void conn_recv_end(cport *port, struct conn *c, int64_t result)
{
	if (result == CPORT_ECANCELED && !c->closing) /* we stopped it: see conn_recv */
		return;
	if (result < 0) {
		conn_close(port, c);
		return;
	}
	if (c->stop == GO)
		c->stop = STOP_EOF;
}

static void on_recv_buffer(cport *port, struct conn *c)
{
	c->busy &= (uint8_t)~BUSY_RCV;
	if (c->rcv.result <= 0 || c->closing) {
		conn_recv_end(port, c, c->rcv.result);
	} else {
		c->have += (size_t)c->rcv.result;
		size_t used = conn_parse(c, c->in, c->have);
		memmove(c->in, c->in + used, c->have - used);
		c->have -= used;
		if (c->stop == GO && c->have == IN_MAX) { /* a request head too large */
			conn_close(port, c);
			return;
		}
	}
	conn_send(port, c);
	conn_recv(port, c);
}

/*
 * A multishot pool receive completes once per arrival of data, with CPORT_MORE while
 * it goes on. Its buffer goes back to the pool as soon as conn_feed parsed it (only
 * an unfinished request is copied out), so no buffer stays with a connection between
 * completions. The op ends (no CPORT_MORE) at end of stream, an error, CPORT_ENOBUFS
 * (the pool was dry: every buffer was lent to completions not reaped yet; ours went
 * back meanwhile, so receive again), our cport_cancel, or when the kernel stopped it
 * by itself: conn_recv arms it again where the connection goes on.
 */
static void on_recv_pool(cport *port, struct conn *c)
{
	cport_op *op = &c->rcv;
	if (!(op->cflags & CPORT_MORE))
		c->busy &= (uint8_t)~BUSY_RCV;
	int id = cport_op_buf_id(op);
	if (id >= 0) {
		const char *b = cfg.mem + (size_t)id * cfg.size;
		int bad = c->closing || c->stop != GO ? 0 : conn_feed(c, b, (size_t)op->result);
		cport_bufpool_return(port, cfg.group, (uint16_t)id);
		if (bad < 0) {
			conn_close(port, c);
			return;
		}
	} else if (op->result != CPORT_ENOBUFS) {
		conn_recv_end(port, c, op->result);
	}
	conn_send(port, c);
	/* Too much owed, or no more requests taken: stop the multishot receive. */
	if ((c->busy & BUSY_RCV) && !c->rcv_stopping && !c->closing &&
	    (c->owed > OWED_MAX || c->stop != GO)) {
		c->rcv_stopping = true;
		cport_cancel(port, op);
	}
	conn_recv(port, c);
}

static void on_op(cport *port, cport_op *op)
{
	struct conn *c = op->user;
	if (cfg.threads > 1)
		pthread_mutex_lock(&c->mu);
	if (op == &c->rcv)
		(cfg.pool ? on_recv_pool : on_recv_buffer)(port, c);
	else if (op == &c->snd)
		on_send(port, c);
	else
		c->busy &= (uint8_t)~BUSY_CLS;
	conn_release(c);
}

/* ---- 4. Accept, main ----------------------------------------------------------------- */

static void on_accept(cport *port, cport_op *acc)
{
	if (acc->result < 0) {
		fprintf(stderr, "accept: %s\n", cport_strerror(acc->result));
		return;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (c && !cfg.pool && !(c->in = malloc(IN_MAX))) {
		free(c);
		c = NULL;
	}
	if (!c) {
		cport_sock_close((cport_fd)acc->result);
		return;
	}
	c->fd = (cport_fd)acc->result;
	c->rcv.user = c->snd.user = c->cls.user = c;
	if (cfg.threads > 1) {
		pthread_mutex_init(&c->mu, NULL);
		pthread_mutex_lock(&c->mu); /* its receive may complete on another thread */
	}
	cport_sock_nodelay(c->fd, 1);
	conn_recv(port, c);
	conn_release(c); /* frees it if the receive and the close were refused */
}

static int usage(void)
{
	fprintf(stderr, "usage: http-server [--backend=NAME] [--recv=pool|buffer] "
	                "[--pool=COUNTxSIZE] [--threads=N] [ADDR]\n");
	return 2;
}

/* Options into cfg and o; the address into *text. 0, or usage's code. */
static int parse_args(int argc, char **argv, cport_options *o, const char **text)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--backend=", 10) == 0)
			o->backend = a + 10;
		else if (strcmp(a, "--recv=pool") == 0 || strcmp(a, "--recv=buffer") == 0)
			cfg.pool = a[7] == 'p';
		else if (strncmp(a, "--pool=", 7) == 0) {
			if (sscanf(a + 7, "%ux%u", &cfg.count, &cfg.size) != 2)
				return usage();
		} else if (strncmp(a, "--threads=", 10) == 0) {
			if (sscanf(a + 10, "%u", &cfg.threads) != 1 || cfg.threads < 1 ||
			    cfg.threads > 1024)
				return usage();
		} else if (a[0] == '-' || *text)
			return usage();
		else
			*text = a;
	}
	if (!*text)
		*text = "127.0.0.1:8080";
	for (size_t i = 0; i < PIPELINE_MAX; i++) {
		memcpy(responses + i * RESPONSE_LEN, response, RESPONSE_LEN);
		if (i + 1 < PIPELINE_MAX)
			memcpy(responses_close + i * RESPONSE_LEN, response, RESPONSE_LEN);
	}
	memcpy(responses_close + (PIPELINE_MAX - 1) * RESPONSE_LEN, response_close,
	       sizeof response_close - 1);
	return 0;
}

/* The port and, with --recv=pool, its pool (cport_bufpool_add checks the sizes). */
static int setup(cport **port, cport_options *o)
{
	int r = cport_create(port, o);
	if (r < 0 || !cfg.pool)
		return r;
	cfg.mem = malloc((size_t)cfg.count * cfg.size + 1);
	if (!cfg.mem)
		return CPORT_ENOMEM;
	return cport_bufpool_add(*port, cfg.mem, cfg.count, cfg.size, &cfg.group);
}

/* What every serving thread runs: the listener and its multishot accept are shared. */
static struct {
	cport *port;
	cport_fd l;
	cport_op acc;
} srv;

static void *serve(void *arg)
{
	(void)arg;
	cport *port = srv.port;
	for (;;) {
		cport_op *out[64];
		int n = cport_wait(port, out, 64, -1);
		if (n < 0) {
			fprintf(stderr, "wait: %s\n", cport_strerror(n));
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			if (out[i] != &srv.acc) {
				on_op(port, out[i]);
				continue;
			}
			/* One thread at a time here: the port lends a CPORT_MORE completion to
			 * the thread that got it until that thread waits again. */
			on_accept(port, &srv.acc);
			/* A multishot accept ends on an error (EMFILE...): accept again. */
			int r = 0;
			if (!(srv.acc.cflags & CPORT_MORE) &&
			    (r = cport_accept(port, &srv.acc, srv.l, NULL,
					      CPORT_ACCEPT_MULTISHOT)) < 0) {
				fprintf(stderr, "accept: %s\n", cport_strerror(r));
				exit(1);
			}
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *text = NULL;
	cport_options o;
	cport_options_init(&o);
	o.queue_depth = 1024;
	if (parse_args(argc, argv, &o, &text))
		return 2;
	o.flags = cfg.threads > 1 ? CPORT_OPT_SHARED : CPORT_OPT_SINGLE_THREAD;
	o.concurrency = cfg.threads > 1 ? cfg.threads : 0;
	cport_addr addr;
	int r = cport_addr_parse(&addr, text);
	if (r == 0)
		r = cport_tcp_listen(&srv.l, &addr, 0, 0);
	if (r < 0) {
		fprintf(stderr, "listen on %s: %s\n", text, cport_strerror(r));
		return 1;
	}
	if ((r = setup(&srv.port, &o)) < 0 ||
	    (r = cport_accept(srv.port, &srv.acc, srv.l, NULL, CPORT_ACCEPT_MULTISHOT)) < 0) {
		fprintf(stderr, "setup: %s\n", cport_strerror(r));
		return 1;
	}
	char shown[CPORT_ADDR_STRLEN];
	cport_sock_local(srv.l, &addr);
	cport_addr_format(&addr, shown, sizeof shown);
	printf("listening on http://%s/\n", shown);
	printf("backend %s, recv %s, %u thread%s\n", cport_backend_name(srv.port),
	       cfg.pool ? "pool" : "buffer", cfg.threads, cfg.threads > 1 ? "s" : "");
	fflush(stdout);
	for (unsigned t = 1; t < cfg.threads; t++) {
		pthread_t th;
		if (pthread_create(&th, NULL, serve, NULL) != 0) {
			fprintf(stderr, "thread %u: cannot start\n", t);
			return 1;
		}
	}
	serve(NULL);
}
