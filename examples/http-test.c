/* SPDX-License-Identifier: MIT */
/* The test of http-server: keep-alive, pipelined, split and refused requests, every byte
 * of every response checked, in each receive mode of the server. */

/*
 * Usage: http-test HTTP_SERVER
 *
 * Starts HTTP_SERVER on 127.0.0.1:0 five times (--recv=buffer; --recv=pool; --recv=pool
 * with a pool of four 16-byte buffers, so every request spans several pool buffers and
 * the pool runs dry often; each receive mode with three threads on a shared port), on
 * the backend $CPORT_BACKEND names, and runs the same
 * conversations against each, all at once: plain POSIX sockets and poll(2), so the
 * client shares no code with what it tests. Each conversation is request bytes sent in
 * chunks (each after a delay, or once enough of the answer arrived) and the exact bytes
 * expected back, then either the server's end of stream or nothing more. Exit 0 when
 * every conversation got exactly its bytes, 77 when the backend cannot start here, 1
 * otherwise. Bounded: 30 s per server at most (a hang), well under a second normally.
 */

#include <cport.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What http-server answers (the test's oracle, written out again on purpose). */
static const char ok[] = "HTTP/1.1 200 OK\r\n"
                         "Server: cport-example\r\n"
                         "Content-Type: text/plain\r\n"
                         "Content-Length: 14\r\n"
                         "\r\n"
                         "Hello, world!\n";
static const char ok_close[] = "HTTP/1.1 200 OK\r\n"
                               "Server: cport-example\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 14\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "Hello, world!\n";
static const char bad[] = "HTTP/1.1 400 Bad Request\r\n"
                          "Content-Length: 0\r\n"
                          "Connection: close\r\n"
                          "\r\n";

enum { CHUNKS_MAX = 4096, CONVS_MAX = 64, DEADLINE_MS = 30000 };
enum { END_OPEN, END_EOF, END_CLOSED }; /* what follows the expected bytes */

struct chunk {
	size_t end;      /* the chunk is out[previous end, end) */
	unsigned delay;  /* ms after the previous chunk went out */
	size_t gate;     /* bytes of the answer that must have arrived first */
};

struct conv {
	char name[48];
	char *out, *want, *got;
	size_t out_len, want_len, got_len;
	struct chunk ch[CHUNKS_MAX];
	int nch;
	bool shut; /* shutdown(SHUT_WR) after the last chunk */
	int end;   /* END_* */
	/* while running */
	int fd, next;
	size_t sent;
	int64_t due; /* ms: when chunk `next` may go */
	bool done;
};

static struct conv convs[CONVS_MAX];
static int nconvs;

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void *grow(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		perror("realloc");
		exit(1);
	}
	return p;
}

/* Append n bytes of s to a buffer that stays a C string. */
static void append(char **buf, size_t *len, const char *s, size_t n)
{
	*buf = grow(*buf, *len + n + 1);
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = 0;
}

static void add(char **buf, size_t *len, const char *s)
{
	append(buf, len, s, strlen(s));
}

/* ---- Building conversations ----------------------------------------------------------- */

static struct conv *conv_new(const char *name, int end)
{
	if (nconvs == CONVS_MAX)
		abort();
	struct conv *c = &convs[nconvs++];
	memset(c, 0, sizeof *c);
	snprintf(c->name, sizeof c->name, "%s", name);
	c->end = end;
	c->fd = -1;
	return c;
}

/* Send s as one chunk, `delay` ms after the previous one, once `gate` bytes arrived. */
static void conv_send(struct conv *c, const char *s, unsigned delay, size_t gate)
{
	if (c->nch == CHUNKS_MAX)
		abort();
	append(&c->out, &c->out_len, s, strlen(s));
	c->ch[c->nch++] = (struct chunk){c->out_len, delay, gate};
}

/* Send s in pieces of `piece` bytes, `delay` ms apart. */
static void conv_send_split(struct conv *c, const char *s, size_t piece, unsigned delay)
{
	char part[64];
	for (size_t i = 0, n = strlen(s); i < n; i += piece) {
		size_t k = n - i < piece ? n - i : piece;
		memcpy(part, s + i, k);
		part[k] = 0;
		conv_send(c, part, delay, 0);
	}
}

/* `oks` answers, then `last` (NULL: none). */
static void conv_expect(struct conv *c, int oks, const char *last)
{
	for (int i = 0; i < oks; i++)
		add(&c->want, &c->want_len, ok);
	if (last)
		add(&c->want, &c->want_len, last);
}

/* A request with varied method line and headers (so lengths differ). */
static const char *request(int i, const char *extra)
{
	static char buf[256];
	snprintf(buf, sizeof buf, "GET /%.*s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s\r\n",
		 i % 23, "abcdefghijklmnopqrstuvwxyz", i % 3 ? "User-Agent: http-test\r\n" : "",
		 extra);
	return buf;
}

static void build_convs(void)
{
	struct conv *c = conv_new("keep-alive, one at a time", END_OPEN);
	for (int i = 0; i < 3; i++)
		conv_send(c, request(i, ""), 0, (size_t)i * (sizeof ok - 1));
	conv_expect(c, 3, NULL);

	/* More than the server's OWED_MAX in one go: it pauses and resumes receiving. */
	c = conv_new("2000 pipelined, then Connection: close", END_EOF);
	char *all = NULL;
	size_t len = 0;
	for (int i = 0; i < 2000; i++)
		add(&all, &len, request(i, ""));
	add(&all, &len, request(1, "Connection: close\r\n"));
	conv_send(c, all, 0, 0);
	free(all);
	conv_expect(c, 2000, ok_close);

	c = conv_new("split requests", END_EOF);
	conv_send_split(c, request(5, ""), 1, 2); /* byte by byte */
	const char *head = "GET /cut HTTP/1.1\r\nHost: x\r\n";
	const char *cuts[][2] = {{"\r", "\n"}, {"\r\n", "\r\n"}, {"\r\n\r", "\n"}, {"", "\r\n"}};
	for (int i = 0; i < 4; i++) {
		char first[128];
		snprintf(first, sizeof first, "%s%s", head, cuts[i][0]);
		conv_send(c, first, 5, 0);
		conv_send(c, cuts[i][1], 10, 0);
	}
	char burst[4096] = "";
	for (int i = 0; i < 20; i++)
		strcat(burst, request(i, ""));
	conv_send_split(c, burst, 7, 1);
	c->shut = true;
	conv_expect(c, 1 + 4 + 20, NULL);

	c = conv_new("half-close after 5", END_EOF);
	for (int i = 0; i < 5; i++)
		conv_send(c, request(i, ""), 0, 0);
	c->shut = true;
	conv_expect(c, 5, NULL);

	/* The server closes with bytes of ours unread (a reset may follow its answer). */
	c = conv_new("a body is refused", END_EOF);
	char *b = NULL;
	len = 0;
	add(&b, &len, request(0, ""));
	add(&b, &len, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
	add(&b, &len, request(2, ""));
	conv_send(c, b, 0, 0);
	conv_expect(c, 1, bad);

	c = conv_new("connection: Close mid-pipeline", END_EOF);
	len = 0;
	add(&b, &len, request(0, ""));
	add(&b, &len, request(1, "connection: Close\r\n"));
	add(&b, &len, request(2, ""));
	conv_send(c, b, 0, 0);
	free(b);
	conv_expect(c, 1, ok_close);

	c = conv_new("a head too large", END_CLOSED);
	conv_send(c, "GET / HTTP/1.1\r\nX-Long: ", 0, 0);
	char *big = grow(NULL, 9001);
	memset(big, 'a', 9000);
	big[9000] = 0;
	conv_send(c, big, 0, 0);
	free(big);

	/* Many at once: a dry 4-buffer pool, each request cut at a different place. */
	for (int k = 0; k < 40; k++) {
		char name[48];
		snprintf(name, sizeof name, "concurrent %d", k);
		c = conv_new(name, END_EOF);
		char *reqs = NULL;
		size_t n = 0;
		for (int i = 0; i < 10; i++)
			add(&reqs, &n, request(i + k, ""));
		add(&reqs, &n, request(k, "Connection: close\r\n"));
		size_t cut = (size_t)(k * 37) % (n - 1) + 1;
		char save = reqs[cut];
		reqs[cut] = 0;
		conv_send(c, reqs, 0, 0);
		reqs[cut] = save;
		conv_send(c, reqs + cut, 3, 0);
		free(reqs);
		conv_expect(c, 10, ok_close);
	}
}

/* ---- Running them ----------------------------------------------------------------------- */

static int fail(struct conv *c, const char *what)
{
	fprintf(stderr, "FAIL %s: %s (sent %zu of %zu, got %zu of %zu bytes)\n", c->name, what,
		c->sent, c->out_len, c->got_len, c->want_len);
	return -1;
}

static int conv_connect(struct conv *c, const struct sockaddr_in *sa)
{
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) < 0 ||
	    fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0)
		return fail(c, strerror(errno));
	c->sent = c->got_len = 0;
	c->next = 0;
	c->done = false;
	c->due = now_ms() + c->ch[0].delay;
	c->got = grow(c->got, c->want_len + 1);
	return 0;
}

static bool conv_may_send(const struct conv *c, int64_t now)
{
	return c->next < c->nch && now >= c->due && c->got_len >= c->ch[c->next].gate;
}

/* Send what the chunks allow now. */
static int conv_write(struct conv *c)
{
	while (conv_may_send(c, now_ms())) {
		size_t end = c->ch[c->next].end;
		ssize_t n = send(c->fd, c->out + c->sent, end - c->sent, 0);
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0) {
			/* The server may close while we still send (a refused request): what
			 * it answered before decides. */
			if (c->end != END_OPEN && (errno == EPIPE || errno == ECONNRESET)) {
				c->next = c->nch;
				return 0;
			}
			return fail(c, strerror(errno));
		}
		c->sent += (size_t)n;
		if (c->sent < end)
			return 0;
		if (++c->next < c->nch)
			c->due = now_ms() + c->ch[c->next].delay;
		else if (c->shut)
			shutdown(c->fd, SHUT_WR);
	}
	return 0;
}

/* Take what arrived; every byte must be the next expected one. */
static int conv_read(struct conv *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->got + c->got_len, c->want_len + 1 - c->got_len, 0);
		if (n < 0 && errno == EAGAIN)
			break;
		/* A close with our bytes unread is a reset: an end of stream here. */
		bool reset = n < 0 && errno == ECONNRESET && c->end != END_OPEN;
		if (n < 0 && !reset)
			return fail(c, strerror(errno));
		if (n <= 0) { /* the server's end of stream */
			if (c->end == END_OPEN || c->got_len < c->want_len)
				return fail(c, "end of stream before the whole answer");
			c->done = true;
			return 0;
		}
		size_t at = c->got_len;
		c->got_len += (size_t)n;
		if (c->got_len > c->want_len)
			return fail(c, "more bytes than expected");
		if (memcmp(c->got + at, c->want + at, (size_t)n) != 0)
			return fail(c, "a byte differs from the expected answer");
	}
	if (c->end == END_OPEN && c->got_len == c->want_len)
		c->done = true;
	return 0;
}

static int run_all(const struct sockaddr_in *sa)
{
	struct pollfd p[CONVS_MAX];
	for (int i = 0; i < nconvs; i++)
		if (conv_connect(&convs[i], sa) < 0)
			return -1;
	int64_t deadline = now_ms() + DEADLINE_MS;
	for (;;) {
		int64_t now = now_ms(), wake = deadline;
		int left = 0;
		for (int i = 0; i < nconvs; i++) {
			struct conv *c = &convs[i];
			p[i] = (struct pollfd){c->done ? -1 : c->fd, POLLIN, 0};
			if (c->done)
				continue;
			left++;
			if (conv_may_send(c, now))
				p[i].events |= POLLOUT;
			else if (c->next < c->nch && c->due > now && c->due < wake)
				wake = c->due;
		}
		if (left == 0)
			return 0;
		if (now >= deadline) {
			for (int i = 0; i < nconvs; i++)
				if (!convs[i].done)
					fail(&convs[i], "no answer in time");
			return -1;
		}
		if (poll(p, (nfds_t)nconvs, (int)(wake - now)) < 0 && errno != EINTR)
			return -1;
		for (int i = 0; i < nconvs; i++) {
			struct conv *c = &convs[i];
			if (c->done)
				continue;
			if (conv_write(c) < 0 || (p[i].revents && conv_read(c) < 0))
				return -1;
		}
	}
}

/* ---- The server -------------------------------------------------------------------------- */

/* Start the server; its first line gives the port, its second the backend and mode. */
static pid_t server_start(char **argv, struct sockaddr_in *sa, char *line2, size_t n)
{
	int out[2];
	if (pipe(out) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL); /* as a server is started normally */
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	FILE *f = fdopen(out[0], "r");
	char line[256];
	unsigned port = 0;
	if (!f || !fgets(line, sizeof line, f) ||
	    sscanf(line, "listening on http://127.0.0.1:%u/", &port) != 1 ||
	    !fgets(line2, (int)n, f))
		port = 0;
	if (f)
		fclose(f);
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return port ? pid : -pid;
}

/* Can this backend start here at all? (io_uring may be forbidden: skip, not fail.) */
static bool backend_starts(void)
{
	cport *port;
	if (cport_create(&port, NULL) < 0)
		return false;
	cport_destroy(port);
	return true;
}

/* One run of the server with `recv` and an optional further option `pool` (--pool=...,
 * --threads=...). */
static int run_mode(const char *server, const char *recv, const char *pool)
{
	char *argv[] = {(char *)server, (char *)recv, (char *)pool, "127.0.0.1:0", NULL};
	if (!pool) {
		argv[2] = argv[3];
		argv[3] = NULL;
	}
	struct sockaddr_in sa;
	char line2[128] = "";
	pid_t pid = server_start(argv, &sa, line2, sizeof line2);
	if (pid <= 0) {
		fprintf(stderr, "%s %s: the server did not start\n", server, recv);
		if (pid < 0)
			waitpid(-pid, NULL, 0);
		return -1;
	}
	const char *want = getenv("CPORT_BACKEND");
	int r = 0;
	if (want && strncmp(line2 + 8, want, strlen(want)) != 0) {
		fprintf(stderr, "the server runs on another backend: %s", line2);
		r = -1;
	}
	int64_t t = now_ms();
	if (r == 0)
		r = run_all(&sa);
	int status;
	if (waitpid(pid, &status, WNOHANG) != 0) {
		fprintf(stderr, "the server died (status %d)\n", status);
		r = -1;
	} else {
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
	}
	for (int i = 0; i < nconvs; i++)
		if (convs[i].fd >= 0)
			close(convs[i].fd);
	line2[strcspn(line2, "\n")] = 0;
	printf("%s%s%s: %d conversations %s in %lld ms\n", line2, pool ? ", " : "",
	       pool ? pool : "", nconvs, r == 0 ? "passed" : "FAILED", (long long)(now_ms() - t));
	return r;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: http-test HTTP_SERVER\n");
		return 2;
	}
	if (!backend_starts()) {
		printf("SKIP: backend %s cannot start here\n", getenv("CPORT_BACKEND"));
		return 77;
	}
	signal(SIGPIPE, SIG_IGN); /* a send to a closed connection: EPIPE (no MSG_NOSIGNAL
	                           * on every Unix) */
	build_convs();
	int r = run_mode(argv[1], "--recv=buffer", NULL);
	r |= run_mode(argv[1], "--recv=pool", NULL);
	r |= run_mode(argv[1], "--recv=pool", "--pool=4x16");
	/* Three threads on one shared port: a connection's completions on any of them. */
	r |= run_mode(argv[1], "--recv=pool", "--threads=3");
	r |= run_mode(argv[1], "--recv=buffer", "--threads=3");
	return r ? 1 : 0;
}
