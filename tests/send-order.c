/* SPDX-License-Identifier: MIT */
/* Stream order: many sends in flight on one socket arrive whole and in order; many recvs
 * in flight fill in submission order. */

#include "helpers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

enum { NSEND = 64, SEND_LEN = 1 << 20 };

struct reader {
	cport_fd fd;
	uint64_t want;
	uint64_t got;
	uint64_t bad; /* first wrong offset + 1, 0 if none */
};

/* The far end: read everything, check the pattern byte by byte. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;
	static uint8_t buf[1 << 16];
	while (r->got < r->want) {
		int64_t n = t_sock_recv(r->fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n && !r->bad; i++)
			if (buf[i] != t_pattern(r->got + (uint64_t)i))
				r->bad = r->got + (uint64_t)i + 1;
		r->got += (uint64_t)n;
	}
	return NULL;
}

/* 64 sends of 1 MiB, all in flight at once on one socket, with a small send buffer so
 * the kernel takes each in many pieces: every byte arrives, in submission order. */
static void many_big_sends(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	/* Not smaller: below loopback's 64 KiB segment size TCP crawls on timers. */
	int small = 65536;
	assert_int_equal(t_sock_sndbuf(p[0], small), 0);
	uint8_t *data = malloc((size_t)NSEND * SEND_LEN);
	assert_non_null(data);
	for (uint64_t i = 0; i < (uint64_t)NSEND * SEND_LEN; i++)
		data[i] = t_pattern(i);
	static cport_op ops[NSEND];
	uint64_t t0 = cport_now_ns();
	for (int i = 0; i < NSEND; i++)
		assert_int_equal(
		    cport_send(port, &ops[i], p[0], data + (size_t)i * SEND_LEN, SEND_LEN, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	struct reader r = {.fd = p[1], .want = (uint64_t)NSEND * SEND_LEN};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	int next = 0;
	uint64_t end = t_now_ms() + 30000;
	while (next < NSEND && t_now_ms() < end) {
		cport_op *out[NSEND];
		int k = cport_wait(port, out, NSEND, 100 * 1000000LL);
		for (int i = 0; i < k; i++) {
			/* sends complete in submission order, each whole */
			assert_ptr_equal(out[i], &ops[next]);
			assert_int_equal(out[i]->result, SEND_LEN);
			next++;
		}
	}
	assert_int_equal(next, NSEND);
	pthread_join(th, NULL);
	double secs = (double)(cport_now_ns() - t0) / 1e9;
	assert_int_equal(r.bad, 0);
	assert_int_equal(r.got, (uint64_t)NSEND * SEND_LEN);
	fprintf(stderr, "64 x 1 MiB in flight on one socket: %.0f MB/s\n",
	        (double)r.got / secs / 1e6);
	free(data);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

/* Sends and writes mixed on one socket keep their order too, and a shutdown queued
 * behind them sends the end of stream only after their bytes. */
static void mixed_then_shutdown(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	enum { N = 32, LEN = 100000 };
	uint8_t *data = malloc((size_t)N * LEN);
	assert_non_null(data);
	for (uint64_t i = 0; i < (uint64_t)N * LEN; i++)
		data[i] = t_pattern(i);
	static cport_op ops[N + 1];
	for (int i = 0; i < N; i++) {
		uint8_t *b = data + (size_t)i * LEN;
		int r = i % 2 ? cport_write(port, &ops[i], p[0], b, LEN, -1)
		              : cport_send(port, &ops[i], p[0], b, LEN, 0);
		assert_int_equal(r, 0);
	}
	assert_int_equal(cport_shutdown(port, &ops[N], p[0], CPORT_SHUT_WR), 0);
	assert_int_equal(cport_submit(port), 0);
	struct reader r = {.fd = p[1], .want = (uint64_t)N * LEN + 1};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	assert_int_equal(t_reap(port, N + 1, NULL, NULL), N + 1);
	pthread_join(th, NULL); /* ends at EOF */
	assert_int_equal(r.bad, 0);
	assert_int_equal(r.got, (uint64_t)N * LEN);
	for (int i = 0; i < N; i++)
		assert_int_equal(ops[i].result, LEN);
	assert_int_equal(ops[N].result, 0);
	free(data);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

/* 16 recvs in flight on one socket: they complete in submission order, and their
 * buffers, concatenated, are the stream. */
static void recv_order(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	enum { N = 16, LEN = 1000, TOTAL = 40000 };
	static cport_op ops[N];
	static uint8_t bufs[N][LEN];
	uint8_t src[TOTAL];
	for (int i = 0; i < TOTAL; i++)
		src[i] = t_pattern((uint64_t)i);
	uint64_t seen = 0;
	int next = 0;
	for (int i = 0; i < N; i++)
		assert_int_equal(cport_recv(port, &ops[i], p[0], bufs[i], LEN, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	t_write_all(p[1], src, TOTAL);
	uint64_t end = t_now_ms() + 10000;
	while (seen < TOTAL && t_now_ms() < end) {
		cport_op *out[N];
		int k = cport_wait(port, out, N, 100 * 1000000LL);
		for (int i = 0; i < k; i++) {
			int idx = (int)(out[i] - ops);
			assert_int_equal(idx, next % N);
			assert_true(out[i]->result >= 1 && out[i]->result <= LEN);
			assert_memory_equal(bufs[idx], src + seen, (size_t)out[i]->result);
			seen += (uint64_t)out[i]->result;
			next++;
			/* re-arm at once: N recvs stay in flight */
			assert_int_equal(cport_recv(port, out[i], p[0], bufs[idx], LEN, 0), 0);
		}
	}
	assert_int_equal(seen, TOTAL);
	/* the rest still in flight: end the stream, they all see 0 in order */
	t_sock_shut_wr(p[1]);
	int left = N; /* every slot was re-armed after each completion */
	while (left > 0) {
		cport_op *op = t_wait1(port);
		assert_int_equal(op - ops, next % N);
		assert_int_equal(op->result, 0);
		next++;
		left--;
	}
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(many_big_sends),
	    cmocka_unit_test(mixed_then_shutdown),
	    cmocka_unit_test(recv_order),
	};
	return T_MAIN("send-order", tests);
}
