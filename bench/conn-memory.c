/* SPDX-License-Identifier: MIT */
/* cport-conn-memory: resident memory per idle connection with a receive pending, with
 * caller buffers and with a pool receive, on each Linux backend. */

/*
 * For each backend and each way of receiving, a fresh process holds N loopback TCP
 * connections (their other ends in a child process of its own) and measures its
 * resident set (/proc/self/statm):
 *   1. after accepting them (plain accept4: cport is not involved yet);
 *   2. after allocating the program's own state per connection and writing it once
 *      (a cport_op; with caller buffers also the buffer, as a server that used it has
 *      written it), and the pool's block for the pool receive;
 *   3. after one receive per connection is pending (cport_recv into the buffer, or
 *      cport_recv_pool).
 * "cport" is (3 - 2) / N: the library's own state per idle connection (its descriptor
 * table, with the slack of its doubling, and whatever the engine keeps in user space);
 * "program" is the caller's memory per connection; the kernel's socket and poller or
 * ring state is kernel memory, not in the resident set.
 *
 * libuv (when built with it) is measured the same way, as the peer to beat: the
 * program's memory is a uv_tcp_t per connection (libuv's handle is the caller's, as a
 * cport_op is), then uv_tcp_open and uv_read_start on each (libuv allocates a read
 * buffer only when data is there, so an idle connection holds none) and one turn of
 * the loop; its "library" column is what that added. The goal printed at the end: the
 * total per connection (program + library) of cport's pool receive below libuv's, on
 * each backend.
 *
 *   cport-conn-memory [--conns N] [--buf BYTES] [--pool BUFFERS]
 */

#include "cport.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef BENCH_HAVE_UV
#include <uv.h>
#endif

struct conf {
	int conns;
	size_t buf;    /* bytes per receive */
	uint32_t pool; /* buffers in the pool */
};

struct row {
	long long program, cport; /* bytes per connection; -1: failed */
};

static long long rss(void)
{
	long long pages, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	int n = fscanf(f, "%lld %lld", &pages, &resident);
	fclose(f);
	return n == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

static int raise_nofile(rlim_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur >= want)
		return 0;
	if (rl.rlim_max < want)
		return -1;
	rl.rlim_cur = want;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

/* The far ends: connect them all, then hold them until the pipe closes. */
static int clients(const cport_addr *a, int n, int hold)
{
	int *fds = calloc((size_t)n, sizeof *fds);
	if (!fds)
		return 1;
	for (int i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    connect(fds[i], (const struct sockaddr *)(const void *)a->storage, a->len) < 0)
			return 2;
		if (i % 128 == 127)
			usleep(1000); /* the listen backlog is finite */
	}
	char c;
	while (read(hold, &c, 1) > 0)
		;
	return 0;
}

struct conn {
	cport_op op;
	int fd;
};

/* The connections: their far ends in a child (`pid`, held until *hold is closed),
 * their near ends accepted into fds[]. 0, or the exit code of the failure. */
static int accept_all(const struct conf *cf, int *fds, int *hold_w, pid_t *pid)
{
	cport_addr a;
	cport_fd l;
	int hold[2];
	if (cport_addr_parse(&a, "127.0.0.1:0") < 0 || cport_tcp_listen(&l, &a, 4096, 0) < 0 ||
	    cport_sock_local(l, &a) < 0 || pipe(hold) < 0)
		return 10;
	*pid = fork();
	if (*pid == 0) {
		close(hold[1]);
		close(l);
		_exit(clients(&a, cf->conns, hold[0]));
	}
	close(hold[0]);
	*hold_w = hold[1];
	for (int i = 0; i < cf->conns; i++)
		if ((fds[i] = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
			return 12;
	close(l);
	return 0;
}

/* The end of a measurement: send the row, let the far ends go. */
static int finish(const struct row *row, int out, int hold_w, pid_t pid)
{
	if (write(out, row, sizeof *row) != (ssize_t)sizeof *row)
		return 19;
	close(hold_w);
	int st;
	waitpid(pid, &st, 0);
	return 0;
}

/* One measurement, in this (forked) process; writes the row to `out`. */
static int measure(const struct conf *cf, const char *backend, bool pool, int out)
{
	struct conn *c = calloc((size_t)cf->conns, sizeof *c);
	int *fds = calloc((size_t)cf->conns, sizeof *fds);
	char *bufs = NULL;
	int hold_w, r;
	pid_t pid;
	if (!c || !fds)
		return 11;
	if ((r = accept_all(cf, fds, &hold_w, &pid)) != 0)
		return r;
	for (int i = 0; i < cf->conns; i++)
		c[i].fd = fds[i];
	/* The program's own memory, written once: ops, and buffers or the pool's block. */
	cport_options o;
	cport_options_init(&o);
	o.backend = backend;
	o.flags = CPORT_OPT_STRICT;
	cport *port;
	if (cport_create(&port, &o) < 0)
		return 13;
	size_t each = pool ? 0 : cf->buf;
	size_t block = pool ? (size_t)cf->pool * cf->buf : (size_t)cf->conns * cf->buf;
	bufs = malloc(block);
	if (!bufs)
		return 14;
	memset(bufs, 1, block);
	for (int i = 0; i < cf->conns; i++)
		memset(&c[i].op, 0, sizeof c[i].op);
	uint16_t g = 0;
	if (pool && cport_bufpool_add(port, bufs, cf->pool, (uint32_t)cf->buf, &g) < 0)
		return 15;
	long long r2 = rss();
	for (int i = 0; i < cf->conns; i++) {
		r = pool ? cport_recv_pool(port, &c[i].op, c[i].fd, g, 0)
			 : cport_recv(port, &c[i].op, c[i].fd, bufs + (size_t)i * each, each, 0);
		if (r < 0)
			return 16;
	}
	if (cport_submit(port) < 0)
		return 17;
	cport_op *none;
	if (cport_wait(port, &none, 1, 100 * 1000000LL) != 0)
		return 18; /* idle: nothing completes */
	long long r3 = rss();
	struct row row = {
	    .program = (long long)(sizeof(struct conn) + each + (pool ? block / cf->conns : 0)),
	    .cport = (r3 - r2) / cf->conns,
	};
	cport_destroy(port);
	return finish(&row, out, hold_w, pid);
}

#ifdef BENCH_HAVE_UV
static void uv_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
	static char chunk[65536]; /* never reached while the connections stay idle */
	(void)h, (void)want;
	*buf = uv_buf_init(chunk, sizeof chunk);
}

static void uv_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)s, (void)n, (void)buf;
}

/* The same measurement with libuv: a uv_tcp_t per connection, a read started on each. */
static int measure_uv(const struct conf *cf, int out)
{
	uv_tcp_t *h = calloc((size_t)cf->conns, sizeof *h);
	int *fds = calloc((size_t)cf->conns, sizeof *fds);
	int hold_w, r;
	pid_t pid;
	uv_loop_t loop;
	if (!h || !fds || uv_loop_init(&loop) < 0)
		return 11;
	if ((r = accept_all(cf, fds, &hold_w, &pid)) != 0)
		return r;
	memset(h, 0, (size_t)cf->conns * sizeof *h); /* the program's memory, written once */
	long long r2 = rss();
	for (int i = 0; i < cf->conns; i++)
		if (uv_tcp_init(&loop, &h[i]) < 0 || uv_tcp_open(&h[i], fds[i]) < 0 ||
		    uv_read_start((uv_stream_t *)&h[i], uv_alloc, uv_on_read) < 0)
			return 16;
	uv_run(&loop, UV_RUN_NOWAIT); /* the descriptors go into its epoll set */
	long long r3 = rss();
	struct row row = {.program = (long long)(sizeof *h + sizeof *fds),
			  .cport = (r3 - r2) / cf->conns};
	return finish(&row, out, hold_w, pid);
}
#endif

static void print_row(const char *backend, const char *how, struct row r)
{
	if (r.cport < 0)
		printf("%-9s %-15s %12s\n", backend, how, "(failed)");
	else
		printf("%-9s %-15s %12lld %12lld %12lld\n", backend, how, r.program, r.cport,
		       r.program + r.cport);
}

/* backend NULL: libuv. */
static struct row run(const struct conf *cf, const char *backend, bool pool)
{
	struct row row = {-1, -1};
	int p[2];
	if (pipe(p) < 0)
		return row;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
#ifdef BENCH_HAVE_UV
		if (!backend)
			_exit(measure_uv(cf, p[1]));
#endif
		_exit(measure(cf, backend, pool, p[1]));
	}
	close(p[1]);
	if (read(p[0], &row, sizeof row) != (ssize_t)sizeof row)
		row.program = row.cport = -1;
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fprintf(stderr, "conn-memory: %s, %s: failed (%d)\n", backend ? backend : "libuv",
		        pool ? "pool" : "caller buffers", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return row;
}

int main(int argc, char **argv)
{
	struct conf cf = {.conns = 10000, .buf = 16384, .pool = 64};
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--conns"))
			cf.conns = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--buf"))
			cf.buf = (size_t)atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--pool"))
			cf.pool = (uint32_t)atol(argv[i + 1]);
	}
	if (cf.conns < 1 || cf.buf < 1 || cf.pool < 1) {
		fprintf(stderr, "usage: cport-conn-memory [--conns N] [--buf BYTES] [--pool N]\n");
		return 2;
	}
	if (raise_nofile((rlim_t)cf.conns + 100) < 0) {
		fprintf(stderr, "conn-memory: cannot raise RLIMIT_NOFILE to %d\n", cf.conns + 100);
		return 77;
	}
	printf("%d idle TCP connections, one receive pending on each; %zu-byte buffers; "
	       "pool of %u\n",
	       cf.conns, cf.buf, cf.pool);
	printf("%-9s %-15s %12s %12s %12s   (bytes per connection)\n", "backend", "receive",
	       "program", "library", "total");
	const char *backends[] = {"io_uring", "epoll", "poll"};
	long long pool_total[3];
	for (size_t b = 0; b < 3; b++)
		for (int pool = 0; pool < 2; pool++) {
			struct row r = run(&cf, backends[b], pool);
			if (pool)
				pool_total[b] = r.cport < 0 ? -1 : r.program + r.cport;
			print_row(backends[b], pool ? "pool" : "caller buffer", r);
		}
	long long uv_total = -1;
#ifdef BENCH_HAVE_UV
	struct row u = run(&cf, NULL, false);
	uv_total = u.cport < 0 ? -1 : u.program + u.cport;
	print_row("libuv", "read on ready", u);
#else
	printf("%-9s %-15s %12s\n", "libuv", "read on ready", "(built without libuv)");
#endif
	printf("\nGoal: memory per idle connection below libuv's (program + library)\n");
	for (size_t b = 0; b < 3; b++) {
		if (pool_total[b] < 0 || uv_total < 0) {
			printf("  [not measured] %s pool receive below libuv: %s\n", backends[b],
			       uv_total < 0 ? "no libuv figure" : "the run failed");
			continue;
		}
		printf("  [%-12s] %s pool receive below libuv: %lld vs %lld bytes (%.2fx)\n",
		       pool_total[b] < uv_total ? "met" : "NOT MET", backends[b], pool_total[b],
		       uv_total, (double)pool_total[b] / (double)uv_total);
	}
	return 0;
}
