/* SPDX-License-Identifier: MIT */
/* Regression: a receive waiting for readiness was starved while sends kept completing. */

/*
 * The readiness backends complete a send inside its submit when the socket takes the
 * bytes, and a reap that finds completions ready may return them without asking the
 * poller. Up to 16 reaps in a row did so: a program whose sends kept completing that
 * way (a one-connection pump) left a receive whose data had arrived unreported for 16
 * waits, so 16 chunks piled up in the socket, TCP hit zero windows, and the pump ran at
 * 0.3x the raw epoll loop. Here a receive waits, its data arrives, and a send on
 * another connection is submitted before every wait (one completion per wait): the
 * receive must come back within a few waits on every backend. The bound is a count of
 * waits, not a time: 8 leaves room for a backend that needs a round trip or two.
 */

#include "helpers.h"

#include <string.h>

#define WAITS_MAX 8

static void starved_reader(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd a[2], b[2];
	t_tcp_pair(a);
	t_tcp_pair(b);
	char in[64], msg[64], sent[64];
	memset(msg, 'r', sizeof msg);
	memset(sent, 's', sizeof sent);
	cport_op rd = {0}, snd = {0};
	assert_int_equal(cport_recv(port, &rd, a[1], in, sizeof in, 0), 0);
	/* Let the receive find nothing and wait for a report (where it tries first). */
	assert_int_equal(cport_wait(port, (cport_op *[1]){NULL}, 1, 0), 0);
	t_write_all(a[0], msg, sizeof msg);
	int waits = 0;
	bool got = false, sending = false;
	while (!got && waits < 64) {
		if (!sending)
			assert_int_equal(cport_send(port, &snd, b[0], sent, sizeof sent, 0), 0);
		sending = true;
		cport_op *out[1];
		int k = cport_wait(port, out, 1, 10 * 1000000000LL);
		assert_int_equal(k, 1);
		waits++;
		if (out[0] == &rd) {
			assert_int_equal(rd.result, (int64_t)sizeof in);
			assert_memory_equal(in, msg, sizeof in);
			got = true;
		} else {
			assert_ptr_equal(out[0], &snd);
			assert_int_equal(snd.result, (int64_t)sizeof sent);
			sending = false;
		}
	}
	assert_true(got);
	if (waits > WAITS_MAX)
		fail_msg("%s: the receive came back after %d waits (at most %d)", t_backend(),
			 waits, WAITS_MAX);
	if (sending)
		assert_int_equal(t_run(port, &snd), (int64_t)sizeof sent);
	cport_destroy(port);
	for (int i = 0; i < 2; i++) {
		t_close(a[i]);
		t_close(b[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(starved_reader),
	};
	return T_MAIN("regress-reader-starved", tests);
}
