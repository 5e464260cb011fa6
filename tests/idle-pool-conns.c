/* SPDX-License-Identifier: MIT */
/* 10,000 idle connections, each with a pool receive pending, served by a pool of 64
 * buffers: no idle connection holds a buffer, on every backend. Prints the memory each
 * idle connection costs (resident bytes). */

/*
 * The server (this process, one port, one thread) accepts every connection, then arms a
 * pool receive on each (single-shot on even ones, multishot on odd ones) from a pool of
 * POOL_BUFS buffers, far fewer than the connections. The clients (a child process on
 * Unix, a thread on Windows) then write one message on BURST connections at a time, a
 * few times over: every such message must arrive in a buffer, never CPORT_ENOBUFS,
 * which is only possible if the thousands of idle receives hold none. At the end the
 * clients close every connection and each receive ends with 0 (end of stream).
 */

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <winsock2.h>
#include <windows.h>
#include <psapi.h>
#include <pthread.h>
#include <stdatomic.h>
#else
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

enum { POOL_BUFS = 64, BUF_SIZE = 256, BURST = 48, ROUNDS = 5, MSG_LEN = 16 };

static int CONNS = 10000;

/* Resident memory of this process in bytes, or -1 where it cannot be read. */
static long long rss_bytes(void)
{
#ifdef _WIN32
	PROCESS_MEMORY_COUNTERS pmc;
	if (!K32GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc))
		return -1;
	return (long long)pmc.WorkingSetSize;
#else
	long long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	int n = fscanf(f, "%lld %lld", &pages, &resident);
	fclose(f);
	return n == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
#endif
}

/* ---- The clients: CONNS connections, then messages on command ------------------------- */

#ifdef _WIN32
static atomic_int cl_ready, cl_seq, cl_start, cl_n, cl_rc = -1;
static pthread_t cl_thread;
static cport_addr cl_addr;

static void *clients(void *arg)
{
	(void)arg;
	SOCKET *fds = calloc((size_t)CONNS, sizeof *fds);
	int rc = fds ? 0 : 1;
	for (int i = 0; i < CONNS && rc == 0; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] == INVALID_SOCKET ||
		    connect(fds[i], (struct sockaddr *)cl_addr.storage, (int)cl_addr.len) != 0)
			rc = 2;
	}
	atomic_store(&cl_ready, rc == 0 ? 1 : -1);
	for (int seen = 0; rc == 0;) {
		int seq = atomic_load(&cl_seq);
		if (seq == seen) {
			Sleep(1);
			continue;
		}
		seen = seq;
		int start = atomic_load(&cl_start), n = atomic_load(&cl_n);
		if (n == 0)
			break; /* the end */
		for (int i = start; i < start + n; i++)
			if (send(fds[i], "message from cli", MSG_LEN, 0) != MSG_LEN)
				rc = 3;
	}
	for (int i = 0; fds && i < CONNS; i++)
		if (fds[i] && fds[i] != INVALID_SOCKET)
			closesocket(fds[i]);
	free(fds);
	atomic_store(&cl_rc, rc);
	return NULL;
}

static void clients_start(const cport_addr *la, cport_fd l)
{
	(void)l;
	cl_addr = *la;
	assert_int_equal(pthread_create(&cl_thread, NULL, clients, NULL), 0);
}

/* 1: connected, 0: not yet, -1: failed. */
static int clients_ready(void)
{
	return atomic_load(&cl_ready);
}

static void clients_cmd(int start, int n)
{
	atomic_store(&cl_start, start);
	atomic_store(&cl_n, n);
	atomic_fetch_add(&cl_seq, 1);
}

static int clients_end(void)
{
	clients_cmd(0, 0);
	pthread_join(cl_thread, NULL);
	return atomic_load(&cl_rc);
}
#else
static pid_t cl_pid;
static int cl_cmd = -1, cl_ack = -1;

static int clients_main(const cport_addr *la, int cmd, int ack)
{
	int *fds = calloc((size_t)CONNS, sizeof *fds);
	if (!fds)
		return 1;
	for (int i = 0; i < CONNS; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    connect(fds[i], (const struct sockaddr *)(const void *)la->storage, la->len) <
		        0)
			return 2;
		if (i % 128 == 127)
			usleep(1000); /* pace the SYNs: the listen backlog is finite */
	}
	if (write(ack, "r", 1) != 1)
		return 3;
	int c[2];
	while (read(cmd, c, sizeof c) == (ssize_t)sizeof c && c[1] > 0)
		for (int i = c[0]; i < c[0] + c[1]; i++)
			if (send(fds[i], "message from cli", MSG_LEN, MSG_NOSIGNAL) != MSG_LEN)
				return 4;
	for (int i = 0; i < CONNS; i++)
		close(fds[i]);
	return 0;
}

static void clients_start(const cport_addr *la, cport_fd l)
{
	int cmd[2], ack[2];
	assert_int_equal(pipe(cmd), 0);
	assert_int_equal(pipe(ack), 0);
	fflush(NULL);
	cl_pid = fork();
	assert_true(cl_pid >= 0);
	if (cl_pid == 0) {
		close(l);
		close(cmd[1]);
		close(ack[0]);
		_exit(clients_main(la, cmd[0], ack[1]));
	}
	close(cmd[0]);
	close(ack[1]);
	cl_cmd = cmd[1];
	cl_ack = ack[0];
}

static int clients_ready(void)
{
	struct pollfd p = {.fd = cl_ack, .events = POLLIN};
	char c;
	if (poll(&p, 1, 0) != 1)
		return 0;
	return read(cl_ack, &c, 1) == 1 && c == 'r' ? 1 : -1;
}

static void clients_cmd(int start, int n)
{
	int c[2] = {start, n};
	assert_int_equal(write(cl_cmd, c, sizeof c), (ssize_t)sizeof c);
}

static int clients_end(void)
{
	int st;
	clients_cmd(0, 0);
	close(cl_cmd);
	close(cl_ack);
	if (waitpid(cl_pid, &st, 0) != cl_pid)
		return 255;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}
#endif

/* ---- The server ----------------------------------------------------------------------- */

struct conn {
	cport_fd fd;
	cport_op rcv;
	int data;   /* messages received */
	bool ended; /* its receive ended with 0 */
};

struct server {
	cport *port;
	cport_op acc;
	struct conn *c;
	int accepted;
	uint16_t group;
	char *mem;
	uint8_t out[POOL_BUFS]; /* buffers with the server */
};

static void arm(struct server *s, int i)
{
	uint32_t fl = i % 2 ? CPORT_RECV_MULTISHOT : 0;
	s->c[i].rcv.user = &s->c[i];
	assert_int_equal(cport_recv_pool(s->port, &s->c[i].rcv, s->c[i].fd, s->group, fl), 0);
}

/* One completion of a connection's receive. Returns 1 for a message, 0 for an end. */
static int on_recv(struct server *s, cport_op *op)
{
	struct conn *c = op->user;
	int i = (int)(c - s->c);
	if (op->result == 0) {
		assert_false(c->ended);
		assert_int_equal(op->cflags, 0);
		c->ended = true;
		return 0;
	}
	assert_int_equal(op->result, MSG_LEN); /* never CPORT_ENOBUFS: idle ones hold none */
	int id = cport_op_buf_id(op);
	assert_true(id >= 0 && id < POOL_BUFS && !s->out[id]);
	assert_memory_equal(s->mem + id * BUF_SIZE, "message from cli", MSG_LEN);
	s->out[id] = 1;
	c->data++;
	assert_int_equal((op->cflags & CPORT_MORE) != 0, i % 2); /* multishot ones go on */
	return 1;
}

static void burst(struct server *s, int start)
{
	clients_cmd(start, BURST);
	int got = 0;
	uint64_t end = t_now_ms() + 30000;
	while (got < BURST && t_now_ms() < end) {
		cport_op *out[64];
		int n = cport_wait(s->port, out, 64, 100 * 1000000LL);
		assert_true(n >= 0);
		for (int k = 0; k < n; k++)
			got += on_recv(s, out[k]);
	}
	assert_int_equal(got, BURST);
	for (int i = start; i < start + BURST; i++)
		assert_int_equal(s->c[i].data, 1);
	/* every buffer back; the single-shot receives again */
	for (int id = 0; id < POOL_BUFS; id++)
		if (s->out[id]) {
			assert_int_equal(cport_bufpool_return(s->port, s->group, (uint16_t)id), 0);
			s->out[id] = 0;
		}
	for (int i = start; i < start + BURST; i++) {
		s->c[i].data = 0;
		if (i % 2 == 0)
			arm(s, i);
	}
}

/* The multishot accept, until every client connected. */
static void accept_all(struct server *s, cport_fd l)
{
	assert_int_equal(cport_accept(s->port, &s->acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	uint64_t end = t_now_ms() + 60000;
	while (s->accepted < CONNS && t_now_ms() < end) {
		cport_op *out[256];
		int n = cport_wait(s->port, out, 256, 50 * 1000000LL);
		assert_true(n >= 0);
		for (int k = 0; k < n; k++) {
			assert_ptr_equal(out[k], &s->acc);
			assert_true(s->acc.result >= 0);
			s->c[s->accepted++].fd = (cport_fd)s->acc.result;
		}
	}
	assert_int_equal(s->accepted, CONNS);
}

/* The clients went: every receive ends once, with 0. */
static void end_all(struct server *s)
{
	int ends = 0;
	uint64_t end = t_now_ms() + 60000;
	while (ends < CONNS && t_now_ms() < end) {
		cport_op *out[256];
		int n = cport_wait(s->port, out, 256, 100 * 1000000LL);
		assert_true(n >= 0);
		for (int k = 0; k < n; k++)
			assert_int_equal(on_recv(s, out[k]), 0), ends++;
	}
	assert_int_equal(ends, CONNS);
	for (int i = 0; i < CONNS; i++)
		t_close(s->c[i].fd);
}

static void ten_thousand_idle(void **state)
{
	(void)state;
	/* (The clients' ends are in another process: each holds CONNS descriptors.) */
	CONNS = t_many_conns("idle-pool-conns", CONNS);
	cport_addr la;
	cport_fd l = t_listen(&la);
	clients_start(&la, l);
	struct server s = {.port = t_port_depth(4096)};
	s.c = calloc((size_t)CONNS, sizeof *s.c);
	s.mem = malloc((size_t)POOL_BUFS * BUF_SIZE);
	assert_non_null(s.c);
	assert_non_null(s.mem);
	assert_int_equal(cport_bufpool_add(s.port, s.mem, POOL_BUFS, BUF_SIZE, &s.group), 0);
	accept_all(&s, l);
	while (clients_ready() == 0)
		t_sleep_us(1000);
	/* The caller's own memory (the ops) resident first: what grows while the receives
	 * are armed is cport's state alone. */
	for (int i = 0; i < CONNS; i++)
		memset(&s.c[i].rcv, 0, sizeof s.c[i].rcv);
	long long before = rss_bytes();
	for (int i = 0; i < CONNS; i++)
		arm(&s, i);
	assert_int_equal(cport_submit(s.port), 0);
	long long after = rss_bytes();
	if (before > 0 && after > 0)
		fprintf(stderr,
		        "idle-pool-conns (%s): %d idle connections with a pool receive "
		        "pending: cport's state %lld bytes resident each, beside the caller's op "
		        "(%u bytes) and no buffer\n",
		        t_backend(), CONNS, (after - before) / CONNS, (unsigned)sizeof(cport_op));
	/* idle: nothing completes */
	cport_op *none;
	assert_int_equal(cport_wait(s.port, &none, 1, 200 * 1000000LL), 0);
	for (int r = 0; r < ROUNDS; r++)
		burst(&s, (r * (CONNS / ROUNDS)) % (CONNS - BURST));
	assert_int_equal(cport_wait(s.port, &none, 1, 100 * 1000000LL), 0);
	/* the clients go: every receive ends with the end of its stream */
	assert_int_equal(clients_end(), 0);
	end_all(&s);
	cport_op cl = {0};
	assert_int_equal(cport_close(s.port, &cl, l), 0);
	for (int k = 0; k < 2; k++) { /* the multishot accept's end, and the close */
		cport_op *op = t_wait1(s.port);
		assert_true(op == &s.acc || op == &cl);
	}
	cport_destroy(s.port);
	free(s.c);
	free(s.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ten_thousand_idle),
	};
	return T_MAIN("idle-pool-conns", tests);
}
