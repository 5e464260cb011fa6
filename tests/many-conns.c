/* SPDX-License-Identifier: MIT */
/* 10,000 concurrent loopback connections served by one port on one thread. The server
 * (this process: a multishot accept and an echo per connection, one port, one thread)
 * must hold all of them open at once; the clients run in a child process (with a port
 * of their own), so each process needs only ~10,000 descriptors. */

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <pthread.h>
#include <stdatomic.h>
#else
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

enum { MSG = 32 };

/* Connections of the test: 10,000, except under Windows (see ten_thousand). */
static int CONNS = 10000;

/* ---- the clients (child process) ---- */

struct client {
	cport_fd fd;
	cport_op con, snd, rcv;
	char want[MSG], got[MSG];
	int n;
};

static int client_step(cport *port, cport_op *op, int *echoed)
{
	struct client *c = op->user;
	if (op->result < 0)
		return 10;
	if (op == &c->con) {
		snprintf(c->want, MSG, "client %05d says hello .......", (int)op->result + c->fd);
		if (cport_send(port, &c->snd, c->fd, c->want, MSG, 0) ||
		    cport_recv(port, &c->rcv, c->fd, c->got, MSG, 0))
			return 11;
	} else if (op == &c->rcv) {
		if (op->result == 0)
			return 12; /* EOF before the echo */
		c->n += (int)op->result;
		if (c->n < MSG)
			return cport_recv(port, &c->rcv, c->fd, c->got + c->n, (size_t)(MSG - c->n),
			                  0)
			           ? 13
			           : 0;
		if (memcmp(c->got, c->want, MSG) != 0)
			return 14;
		(*echoed)++;
	}
	return 0;
}

static int clients_main(const cport_addr *la)
{
	cport_options o;
	cport_options_init(&o);
	o.queue_depth = 4096;
	cport *port;
	if (cport_create(&port, &o) < 0)
		return 20;
	struct client *cs = calloc(CONNS, sizeof *cs);
	if (!cs)
		return 21;
	int echoed = 0;
	for (int i = 0; i < CONNS; i++) {
		if (cport_tcp_socket(&cs[i].fd, CPORT_AF_INET) < 0)
			return 22;
		cs[i].con.user = cs[i].snd.user = cs[i].rcv.user = &cs[i];
		if (cport_connect(port, &cs[i].con, cs[i].fd, la) < 0)
			return 23;
		if (i % 128 == 127)
			t_sleep_us(1000); /* pace the SYNs: the listen backlog is finite */
	}
	uint64_t end = t_now_ms() + 40000;
	while (echoed < CONNS && t_now_ms() < end) {
		cport_op *out[256];
		int k = cport_wait(port, out, 256, 100 * 1000000LL);
		for (int i = 0; i < k; i++) {
			int e = client_step(port, out[i], &echoed);
			if (e) {
				fprintf(stderr, "client op failed: %d (%s)\n", e,
				        cport_err_name(out[i]->result));
				return e;
			}
		}
	}
	/* every connection is open here; closing them ends the test */
	int ok = echoed == CONNS;
	for (int i = 0; i < CONNS; i++)
		cport_sock_close(cs[i].fd);
	cport_destroy(port);
	free(cs);
	return ok ? 0 : 30;
}

/* The clients run in a child process on Unix (each process then needs only ~CONNS
 * descriptors), in a thread on Windows (no fork; handles are not limited). */
#ifdef _WIN32
static atomic_int clients_rc = -1;
static pthread_t clients_th;

static void *clients_thread(void *la)
{
	atomic_store(&clients_rc, clients_main(la));
	return NULL;
}

static void clients_start(const cport_addr *la, cport_fd l)
{
	(void)l;
	assert_int_equal(pthread_create(&clients_th, NULL, clients_thread, (void *)la), 0);
}

/* -1 while the clients run, else their exit code. */
static int clients_status(void)
{
	int rc = atomic_load(&clients_rc);
	if (rc >= 0)
		pthread_join(clients_th, NULL);
	return rc;
}

static void clients_stop(void)
{
	/* A thread cannot be killed: the test fails, the process exits with it. */
}
#else
static pid_t clients_pid;

static void clients_start(const cport_addr *la, cport_fd l)
{
	fflush(NULL);
	clients_pid = fork();
	assert_true(clients_pid >= 0);
	if (clients_pid == 0) {
		close(l);
		_exit(clients_main(la));
	}
}

static int clients_status(void)
{
	int st;
	if (waitpid(clients_pid, &st, WNOHANG) == 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static void clients_stop(void)
{
	int st;
	kill(clients_pid, SIGKILL);
	waitpid(clients_pid, &st, 0);
}
#endif

/* ---- the server (this process, one port, one thread) ---- */

struct server_conn {
	cport_fd fd;
	cport_op rcv, snd;
	char buf[MSG];
};

struct server {
	cport *port;
	cport_op acc;
	struct server_conn *conns;
	int accepted, open, peak, closed, err;
};

static void server_accepted(struct server *s)
{
	if (s->acc.result < 0) {
		s->err = (int)s->acc.result;
		return;
	}
	assert_true(s->accepted < CONNS);
	struct server_conn *c = &s->conns[s->accepted++];
	c->fd = (cport_fd)s->acc.result;
	c->rcv.user = c->snd.user = c;
	if (++s->open > s->peak)
		s->peak = s->open;
	assert_int_equal(cport_recv(s->port, &c->rcv, c->fd, c->buf, MSG, 0), 0);
}

static void server_step(struct server *s, cport_op *op)
{
	if (op == &s->acc) {
		server_accepted(s);
		return;
	}
	struct server_conn *c = op->user;
	if (op->result < 0) {
		s->err = (int)op->result;
	} else if (op == &c->rcv && op->result == 0) {
		t_close(c->fd); /* the client is done */
		s->open--;
		s->closed++;
	} else if (op == &c->rcv) {
		assert_int_equal(cport_send(s->port, &c->snd, c->fd, c->buf, (size_t)op->result, 0),
		                 0);
	} else {
		assert_int_equal(cport_recv(s->port, &c->rcv, c->fd, c->buf, MSG, 0), 0);
	}
}

static void ten_thousand(void **state)
{
	(void)state;
	CONNS = t_many_conns("many-conns", CONNS);
	cport_addr la;
	cport_fd l;
	assert_int_equal(cport_addr_parse(&la, "127.0.0.1:0"), 0);
	assert_int_equal(cport_tcp_listen(&l, &la, 4096, 0), 0);
	assert_int_equal(cport_sock_local(l, &la), 0);
	clients_start(&la, l);
	struct server s = {.port = t_port_depth(4096)};
	s.conns = calloc(CONNS, sizeof *s.conns);
	assert_non_null(s.conns);
	assert_int_equal(cport_accept(s.port, &s.acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	uint64_t t0 = t_now_ms(), end = t0 + 50000;
	int status = -1;
	while ((s.closed < CONNS || status < 0) && !s.err && t_now_ms() < end) {
		cport_op *out[256];
		int k = cport_wait(s.port, out, 256, 50 * 1000000LL);
		assert_true(k >= 0);
		for (int i = 0; i < k; i++)
			server_step(&s, out[i]);
		if (status < 0)
			status = clients_status();
		if (status > 0)
			break; /* the clients failed: stop waiting */
	}
	fprintf(stderr, "many-conns: %d accepted, peak %d open at once, %d closed, %llu ms\n",
	        s.accepted, s.peak, s.closed, (unsigned long long)(t_now_ms() - t0));
	if (status < 0) {
		clients_stop();
		fail_msg("the clients did not finish in time");
	}
	assert_int_equal(status, 0);
	assert_int_equal(s.err, 0);
	assert_int_equal(s.accepted, CONNS);
	assert_int_equal(s.peak, CONNS); /* all open at once */
	assert_int_equal(s.closed, CONNS);
	cport_op cl = {0};
	assert_int_equal(cport_close(s.port, &cl, l), 0);
	int closes = 0;
	while (closes < 2) { /* the multishot accept's end, then the close */
		cport_op *op = t_wait1(s.port);
		assert_true(op == &s.acc || op == &cl);
		closes++;
	}
	assert_int_equal(s.acc.result, CPORT_ECANCELED);
	cport_destroy(s.port);
	free(s.conns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ten_thousand),
	};
	return T_MAIN("many-conns", tests);
}
