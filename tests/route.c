/* SPDX-License-Identifier: MIT */
/* cport_route: the answers each backend documents, and what happens to ops of each route while the pool is held up. */

/*
 * The observation: a port with one pool worker, and that worker held by an op that
 * blocks until the test lets it go (an open of a FIFO nobody writes to; on Windows a
 * read of an anonymous pipe, which is synchronous). Then ops of several kinds are
 * submitted: each one cport_route calls POOL must wait for the worker, and every other
 * one must complete while the worker is still held. Where no op of the port goes to
 * the pool (io_uring with every opcode in the kernel), every probe must complete and
 * none may say POOL.
 */

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

static bool is(const char *name)
{
	return strcmp(t_backend(), name) == 0;
}

static bool reactor(void)
{
	return is("epoll") || is("poll") || is("kqueue");
}

static void route_bad_input(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(10);
	assert_int_equal(cport_route(NULL, CPORT_KIND_READ, fd), CPORT_EINVAL);
	assert_int_equal(cport_route(port, 0, fd), CPORT_EINVAL);
	assert_int_equal(cport_route(port, CPORT_KIND_RECVMSG_POOL + 1, fd), CPORT_EINVAL);
	assert_int_equal(cport_route(port, UINT32_MAX, fd), CPORT_EINVAL);
	assert_int_equal(cport_route(port, CPORT_KIND_READ, (cport_fd)-1), CPORT_EBADF);
	assert_int_equal(cport_route(port, CPORT_KIND_FSYNC, (cport_fd)-1), CPORT_EBADF);
	/* Kinds without a descriptor ignore it. */
	assert_true(cport_route(port, CPORT_KIND_NOP, (cport_fd)-1) > 0);
	assert_true(cport_route(port, CPORT_KIND_OPEN, (cport_fd)-1) > 0);
	/* One whose close is in flight, and a closed one. Windows hands a closed handle's
	 * value to the next handle made, by any thread (the pool's workers make events
	 * for their waits): there a closed value may name something else at once. */
	cport_op op = {0};
	assert_int_equal(cport_close(port, &op, fd), 0);
	assert_int_equal(cport_route(port, CPORT_KIND_READ, fd), CPORT_EBADF);
	assert_int_equal(t_run(port, &op), 0);
#ifndef _WIN32
	assert_int_equal(cport_route(port, CPORT_KIND_READ, fd), CPORT_EBADF);
#endif
	cport_destroy(port);
}

/* Every kind on a fitting descriptor answers a route or a documented error. */
static void route_every_kind(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd file = t_file(10), s[2];
	t_tcp_pair(s);
	for (uint32_t k = CPORT_KIND_NOP; k <= CPORT_KIND_RECVMSG_POOL; k++) {
		bool sock = (k >= CPORT_KIND_ACCEPT && k <= CPORT_KIND_SENDFILE) ||
			    k >= CPORT_KIND_RECV_POOL;
		int r = cport_route(port, k, sock ? s[0] : file);
		if (r == CPORT_ENOSYS && is("io_uring"))
			continue; /* a socket op this kernel lacks */
		if (r == CPORT_ENOTSUP && is("sim"))
			continue; /* an op the simulation does not have (cport.h section 8) */
		if (r < CPORT_ROUTE_KERNEL || r > CPORT_ROUTE_NOWAIT_POOL)
			fail_msg("kind %u: %d (%s)", k, r, cport_err_name(r));
	}
	t_close(s[0]);
	t_close(s[1]);
	t_close(file);
	cport_destroy(port);
}

/* The answers the header gives for this backend (cport_route's comment). */
static void route_documented(void **state)
{
	(void)state;
	t_sim_skip("the routes documented are the OS backends' own");
	cport *port = t_port();
	cport_fd file = t_file(10), p[2], s[2];
	assert_int_equal(t_pipe(p), 0);
	t_tcp_pair(s);
	int kern = CPORT_ROUTE_KERNEL, pool = CPORT_ROUTE_POOL, local = CPORT_ROUTE_LOCAL;
	int file_io = is("io_uring") && !t_uring_pool() ? kern : is("iocp") ? kern : pool;
#ifdef __linux__
	if (reactor())
		file_io = CPORT_ROUTE_NOWAIT_POOL; /* a fresh regular file, no O_DIRECT */
#endif
	int meta = is("io_uring") && !t_uring_pool() ? kern : pool;
	int stream = reactor() ? CPORT_ROUTE_REACTOR : kern;
	assert_int_equal(cport_route(port, CPORT_KIND_TIMER, 0), local);
	assert_int_equal(cport_route(port, CPORT_KIND_NOP, 0), is("io_uring") ? kern : local);
	assert_int_equal(cport_route(port, CPORT_KIND_READ, file), file_io);
	assert_int_equal(cport_route(port, CPORT_KIND_WRITEV, file), file_io);
	assert_int_equal(cport_route(port, CPORT_KIND_FSYNC, file), meta);
	assert_int_equal(cport_route(port, CPORT_KIND_FSYNC_RANGE, file), meta);
	assert_int_equal(cport_route(port, CPORT_KIND_FSTAT, file), meta);
	assert_int_equal(cport_route(port, CPORT_KIND_OPEN, 0), meta);
	assert_int_equal(cport_route(port, CPORT_KIND_READ_CUR, p[0]), stream);
	assert_int_equal(cport_route(port, CPORT_KIND_WRITE_CUR, p[1]), stream);
	assert_int_equal(cport_route(port, CPORT_KIND_RECV, s[0]), stream);
	assert_int_equal(cport_route(port, CPORT_KIND_SEND, s[0]), stream);
	if (is("iocp")) {
		assert_int_equal(cport_route(port, CPORT_KIND_POLL, file), CPORT_ENOTSOCK);
		assert_int_equal(cport_route(port, CPORT_KIND_SHUTDOWN, s[0]), local);
	}
	/* A close: the readiness backends close a descriptor that had stream ops at once,
	 * any other on the pool; io_uring in the kernel (even under the test switch). */
	int close_file = is("io_uring") ? kern : pool;
	assert_int_equal(cport_route(port, CPORT_KIND_CLOSE, file), close_file);
	static char byte = 'x';
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, p[1], &byte, 1, -1), 0);
	assert_int_equal(t_run(port, &op), 1);
	assert_int_equal(cport_route(port, CPORT_KIND_CLOSE, p[1]), reactor() ? local : close_file);
	t_close(s[0]);
	t_close(s[1]);
	t_close(p[0]);
	t_close(p[1]);
	t_close(file);
	cport_destroy(port);
}

/* ---- What happens: probes while the one pool worker is held ---------------------------- */

struct blocker {
	cport_op op;
	bool on_pool;
#ifdef _WIN32
	HANDLE rd, wr;
	char byte;
#else
	char path[300];
#endif
};

/* Hold the port's only pool worker, if an op of this port can: *b->on_pool says. */
static void hold_pool(cport *port, struct blocker *b)
{
	memset(&b->op, 0, sizeof b->op);
#ifdef _WIN32
	if (t_sim()) { /* no pool there, nor handles of the OS: it must say so */
		b->on_pool = cport_route(port, CPORT_KIND_OPEN, CPORT_AT_CWD) == CPORT_ROUTE_POOL;
		assert_false(b->on_pool);
		return;
	}
	assert_true(CreatePipe(&b->rd, &b->wr, NULL, 0));
	b->on_pool = cport_route(port, CPORT_KIND_READ_CUR, (cport_fd)b->rd) == CPORT_ROUTE_POOL;
	assert_true(b->on_pool); /* the header says so for synchronous handles */
	assert_int_equal(cport_read(port, &b->op, (cport_fd)b->rd, &b->byte, 1, -1), 0);
#else
	b->on_pool = cport_route(port, CPORT_KIND_OPEN, -1) == CPORT_ROUTE_POOL;
	if (!b->on_pool)
		return;
	t_path(b->path, sizeof b->path, "fifo");
	assert_int_equal(mkfifo(b->path, 0600), 0);
	assert_int_equal(cport_open(port, &b->op, b->path, CPORT_O_RDONLY, 0), 0);
#endif
	assert_int_equal(cport_submit(port), 0);
}

/* Let the held worker go: its op completes. */
static void release_pool(struct blocker *b)
{
#ifdef _WIN32
	DWORD n = 0;
	assert_true(WriteFile(b->wr, "!", 1, &n, NULL) && n == 1);
#else
	/* A writer frees the reader's open; the writer stays open until the check. */
	int w = open(b->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(w >= 0);
	close(w);
#endif
}

static void blocker_done(struct blocker *b)
{
#ifdef _WIN32
	assert_int_equal(b->op.result, 1);
	CloseHandle(b->rd);
	CloseHandle(b->wr);
#else
	assert_true(b->op.result >= 0);
	t_close((cport_fd)b->op.result);
#endif
}

enum { PROBES = 6 };

struct probe {
	cport_op op;
	const char *name;
	int route;
	bool done;
};

static void submit_probes(cport *port, struct probe *pr, cport_fd file, cport_fd rd,
			  cport_statbuf *st, char *buf)
{
	static const char *const names[PROBES] = {"read", "fstat", "fsync", "read_cur", "nop",
						  "timer"};
	static const uint32_t kinds[PROBES] = {CPORT_KIND_READ, CPORT_KIND_FSTAT,
					       CPORT_KIND_FSYNC, CPORT_KIND_READ_CUR,
					       CPORT_KIND_NOP, CPORT_KIND_TIMER};
	for (int i = 0; i < PROBES; i++) {
		memset(&pr[i], 0, sizeof pr[i]);
		pr[i].name = names[i];
		pr[i].route = cport_route(port, kinds[i], i == 3 ? rd : file);
		assert_true(pr[i].route >= CPORT_ROUTE_KERNEL && pr[i].route <= CPORT_ROUTE_NOWAIT_POOL);
		pr[i].op.user = &pr[i];
	}
	assert_int_equal(cport_read(port, &pr[0].op, file, buf, 8, 0), 0);
	assert_int_equal(cport_fstat(port, &pr[1].op, file, st), 0);
	assert_int_equal(cport_fsync(port, &pr[2].op, file, 0), 0);
	assert_int_equal(cport_read(port, &pr[3].op, rd, buf + 8, 1, -1), 0);
	assert_int_equal(cport_nop(port, &pr[4].op), 0);
	assert_int_equal(cport_timer(port, &pr[5].op, 1000000, 0), 0);
}

/* Reap until every probe that is not on the pool completed (30 s at most); a probe
 * on the pool completing meanwhile is a wrong answer. Then 100 ms more: still none.
 * A NOWAIT_POOL probe may do either (the page cache decides). */
static void reap_non_pool(cport *port, struct probe *pr, struct blocker *b)
{
	uint64_t end = t_now_ms() + 30000, quiet = 0;
	for (;;) {
		unsigned left = 0;
		for (int i = 0; i < PROBES; i++)
			left += !pr[i].done && pr[i].route != CPORT_ROUTE_POOL &&
				pr[i].route != CPORT_ROUTE_NOWAIT_POOL;
		if (left == 0 && quiet == 0)
			quiet = t_now_ms() + 100;
		uint64_t now = t_now_ms();
		if ((quiet && now >= quiet) || now >= end)
			break;
		cport_op *out[8];
		int n = cport_wait(port, out, 8, 10 * 1000000LL);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			if (out[i] == &b->op)
				fail_msg("the op holding the pool worker completed early: %lld",
					 (long long)out[i]->result);
			struct probe *p = out[i]->user;
			if (p->route == CPORT_ROUTE_POOL)
				fail_msg("%s: cport_route says POOL, yet it completed while the "
					 "only pool worker was held", p->name);
			p->done = true;
		}
	}
	for (int i = 0; i < PROBES; i++)
		if (!pr[i].done && pr[i].route != CPORT_ROUTE_POOL &&
		    pr[i].route != CPORT_ROUTE_NOWAIT_POOL)
			fail_msg("%s: cport_route says %d (not POOL), yet it waited for the held "
				 "pool worker", pr[i].name, pr[i].route);
}

static void route_matches_what_happens(void **state)
{
	(void)state;
	cport *port = t_port_pool(0, 1);
	cport_fd file = t_file(4096), p[2];
	assert_int_equal(t_pipe(p), 0);
	assert_int_equal(t_write(p[1], "y", 1), 1); /* a stream read has its byte */
	struct blocker b;
	hold_pool(port, &b);
	struct probe pr[PROBES];
	cport_statbuf st;
	char buf[16];
	submit_probes(port, pr, file, p[0], &st, buf);
	if (!b.on_pool) {
		/* Nothing of this port goes to the pool: nothing may say so, all complete. */
		for (int i = 0; i < PROBES; i++)
			assert_int_not_equal(pr[i].route, CPORT_ROUTE_POOL);
		assert_int_equal(t_reap(port, PROBES, NULL, NULL), PROBES);
		goto out;
	}
	reap_non_pool(port, pr, &b);
	unsigned pooled = 0;
	for (int i = 0; i < PROBES; i++)
		pooled += pr[i].route == CPORT_ROUTE_POOL;
	release_pool(&b);
	assert_int_equal(t_reap(port, pooled + 1, NULL, NULL), pooled + 1);
	blocker_done(&b);
out:
	for (int i = 0; i < PROBES; i++)
		assert_true(pr[i].op.result >= 0);
	assert_int_equal(pr[0].op.result, 8);
	assert_int_equal(pr[3].op.result, 1);
	t_close(p[0]);
	t_close(p[1]);
	t_close(file);
	cport_destroy(port);
}

#if defined(_WIN32)
#include <tlhelp32.h>

/* Threads of this process: the test's thread and the thread pools' workers. */
static unsigned user_threads(void)
{
	HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
	assert_true(snap != INVALID_HANDLE_VALUE);
	THREADENTRY32 te;
	te.dwSize = sizeof te;
	unsigned n = 0;
	DWORD me = GetCurrentProcessId();
	for (BOOL ok = Thread32First(snap, &te); ok; ok = Thread32Next(snap, &te))
		n += te.th32OwnerProcessID == me;
	CloseHandle(snap);
	return n;
}
#define T_COUNT_THREADS 1
#elif defined(__linux__)
#include <dirent.h>

/* Threads of this process that are not io_uring's own kernel workers (iou-wrk-*,
 * iou-sqp-*): the test's thread and the thread pools' workers. */
static unsigned user_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	assert_non_null(d);
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], comm[64] = "";
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* gone meanwhile */
		if (!fgets(comm, sizeof comm, f))
			comm[0] = 0;
		fclose(f);
		n += strncmp(comm, "iou-", 4) != 0;
	}
	closedir(d);
	return n;
}
#define T_COUNT_THREADS 1
#endif

#ifdef T_COUNT_THREADS

/* Submit one op of `kind` on a fresh port and reap it: did the port's thread pool
 * (made on first use) come to life for it? */
static bool made_a_pool_thread(uint32_t kind, int *route)
{
	unsigned before = user_threads();
	cport *port = t_port_pool(0, 1);
	assert_int_equal(user_threads(), before); /* no pool yet */
	cport_fd file = t_file(64), p[2];
	assert_int_equal(t_pipe(p), 0);
	assert_int_equal(t_write(p[1], "z", 1), 1);
	char path[300], buf[64] = {0};
	t_path(path, sizeof path, "route-open");
	cport_statbuf st;
	cport_op op = {0};
	*route = cport_route(port, kind, kind == CPORT_KIND_READ_CUR ? p[0] : file);
	int r = CPORT_EINVAL;
	switch (kind) {
	case CPORT_KIND_NOP: r = cport_nop(port, &op); break;
	case CPORT_KIND_TIMER: r = cport_timer(port, &op, 1000, 0); break;
	case CPORT_KIND_READ: r = cport_read(port, &op, file, buf, 64, 0); break;
	case CPORT_KIND_READ_CUR: r = cport_read(port, &op, p[0], buf, 1, -1); break;
	case CPORT_KIND_WRITE: r = cport_write(port, &op, file, buf, 8, 0); break;
	case CPORT_KIND_FSYNC: r = cport_fsync(port, &op, file, 0); break;
	case CPORT_KIND_FSYNC_RANGE: r = cport_fsync_range(port, &op, file, 0, 0, 64); break;
	case CPORT_KIND_FSTAT: r = cport_fstat(port, &op, file, &st); break;
	case CPORT_KIND_OPEN: r = cport_open(port, &op, path, CPORT_O_CREAT, 0600); break;
	case CPORT_KIND_STAT: r = cport_stat(port, &op, path, &st); break;
	case CPORT_KIND_CLOSE: r = cport_close(port, &op, file); break;
	default: fail_msg("no probe for kind %u", kind);
	}
	assert_int_equal(r, 0);
	int64_t res = t_run(port, &op);
	if (kind == CPORT_KIND_OPEN && res >= 0)
		t_close((cport_fd)res);
	bool pooled = user_threads() > before;
	if (kind != CPORT_KIND_CLOSE)
		t_close(file);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
	/* Destroy joined them; a joined thread may still be listed for a moment. */
	uint64_t end = t_now_ms() + 10000;
	while (user_threads() > before && t_now_ms() < end)
		t_sleep_us(1000);
	assert_int_equal(user_threads(), before);
	return pooled;
}

/* The route of each kind against the one thing a test can see of it: a pool worker
 * thread appears for an op on the pool, and for no other. */
static void route_pool_threads(void **state)
{
	(void)state;
	static const uint32_t kinds[] = {
		CPORT_KIND_NOP,   CPORT_KIND_TIMER,       CPORT_KIND_READ,  CPORT_KIND_READ_CUR,
		CPORT_KIND_WRITE, CPORT_KIND_FSYNC,       CPORT_KIND_FSTAT, CPORT_KIND_FSYNC_RANGE,
		CPORT_KIND_OPEN,  CPORT_KIND_STAT,        CPORT_KIND_CLOSE};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		int route = 0;
		bool pooled = made_a_pool_thread(kinds[i], &route);
		/* NOWAIT_POOL: the pool only for what the page cache lacks. */
		if (route == CPORT_ROUTE_NOWAIT_POOL)
			continue;
		if (pooled != (route == CPORT_ROUTE_POOL))
			fail_msg("kind %u: cport_route says %d, yet the op %s the thread pool",
				 kinds[i], route, pooled ? "ran on" : "did not use");
	}
}
#else
static void route_pool_threads(void **state)
{
	(void)state;
	t_skip("no way to count this process's threads here");
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: no thread of an earlier test's port may still be on its way out. */
		cmocka_unit_test(route_pool_threads),
		cmocka_unit_test(route_bad_input),
		cmocka_unit_test(route_every_kind),
		cmocka_unit_test(route_documented),
		cmocka_unit_test(route_matches_what_happens),
	};
	return T_MAIN("route", tests);
}
