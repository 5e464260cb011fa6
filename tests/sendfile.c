/* SPDX-License-Identifier: MIT */
/* sendfile: a file to a socket, whole, from an offset, short at end of file, ordered
 * with the other sends on the socket. */

#include "helpers.h"

#include <pthread.h>
#include <stdlib.h>

struct sink {
	cport_fd fd;
	size_t want;
	uint8_t *buf;
	size_t got;
};

static void *sink_main(void *arg)
{
	struct sink *s = arg;
	while (s->got < s->want) {
		int64_t n = t_sock_recv(s->fd, s->buf + s->got, s->want - s->got);
		if (n <= 0)
			break;
		s->got += (size_t)n;
	}
	return NULL;
}

/* 3 MiB + a bit from offset 1000, between two plain sends: everything arrives in
 * submission order (the header, the file's bytes, the trailer). */
static void whole_and_ordered(void **state)
{
	(void)state;
	cport *port = t_port();
	enum { FLEN = (3 << 20) + 12345, OFF = 1000, LEN = FLEN - OFF };
	int file = t_file(FLEN);
	cport_fd p[2];
	t_tcp_pair(p);
	struct sink s = {.fd = p[1], .want = 5 + LEN + 5};
	s.buf = malloc(s.want);
	assert_non_null(s.buf);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, sink_main, &s), 0);
	cport_op h = {0}, sf = {0}, t = {0};
	assert_int_equal(cport_send(port, &h, p[0], "HEAD:", 5, 0), 0);
	assert_int_equal(cport_sendfile(port, &sf, p[0], file, OFF, LEN), 0);
	assert_int_equal(cport_send(port, &t, p[0], ":TAIL", 5, 0), 0);
	assert_int_equal(t_reap(port, 3, NULL, NULL), 3);
	assert_int_equal(h.result, 5);
	assert_int_equal(sf.result, LEN);
	assert_int_equal(t.result, 5);
	pthread_join(th, NULL);
	assert_int_equal(s.got, s.want);
	assert_memory_equal(s.buf, "HEAD:", 5);
	for (size_t i = 0; i < LEN; i++)
		if (s.buf[5 + i] != t_pattern(OFF + i))
			fail_msg("byte %zu of the file differs", i);
	assert_memory_equal(s.buf + 5 + LEN, ":TAIL", 5);
	free(s.buf);
	t_close(file), t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

/* Asking for more than the file holds: the result is what was there. */
static void short_at_eof(void **state)
{
	(void)state;
	cport *port = t_port();
	int file = t_file(5000);
	cport_fd p[2];
	t_tcp_pair(p);
	cport_op sf = {0};
	assert_int_equal(cport_sendfile(port, &sf, p[0], file, 4000, 100000), 0);
	assert_int_equal(t_run(port, &sf), 1000);
	uint8_t buf[1000];
	t_read_all(p[1], buf, sizeof buf);
	for (size_t i = 0; i < sizeof buf; i++)
		assert_int_equal(buf[i], t_pattern(4000 + i));
	/* past the end: 0 */
	assert_int_equal(cport_sendfile(port, &sf, p[0], file, 9000, 10), 0);
	assert_int_equal(t_run(port, &sf), 0);
	t_close(file), t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

/* A sendfile stuck on a peer that does not read is cancelled by a close. */
static void cancelled_by_close(void **state)
{
	(void)state;
	cport *port = t_port();
	int file = t_file(16 << 20);
	cport_fd p[2];
	t_tcp_pair(p);
	cport_op sf = {0}, cl = {0};
	assert_int_equal(cport_sendfile(port, &sf, p[0], file, 0, 16 << 20), 0);
	cport_op *out[2];
	assert_int_equal(cport_wait(port, out, 2, 50 * 1000000LL), 0);
	assert_int_equal(cport_close(port, &cl, p[0]), 0);
	assert_ptr_equal(t_wait1(port), &sf);
	assert_int_equal(sf.result, CPORT_ECANCELED);
	assert_ptr_equal(t_wait1(port), &cl);
	assert_int_equal(cl.result, 0);
	t_close(file), t_close(p[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(whole_and_ordered),
	    cmocka_unit_test(short_at_eof),
	    cmocka_unit_test(cancelled_by_close),
	};
	return T_MAIN("sendfile", tests);
}
