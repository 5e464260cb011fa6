/* SPDX-License-Identifier: MIT */
/* Per-op timeout_ns (rule 7): fires on ops that wait, stays silent on ops that finish. */

#include "helpers.h"

#include <string.h>

static void read_times_out(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	char buf[16];
	cport_op op = {0};
	op.timeout_ns = 50 * 1000000u;
	uint64_t t0 = cport_clock_ns(port) / 1000000u; /* the port's clock: virtual on sim */
	assert_int_equal(cport_read(port, &op, p[0], buf, sizeof buf, -1), 0);
	assert_int_equal(t_run(port, &op), CPORT_ETIMEDOUT);
	uint64_t took = cport_clock_ns(port) / 1000000u - t0;
	assert_true(took >= 45 && took < 5000);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

static void read_beats_timeout(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	char buf[16];
	cport_op op = {0};
	op.timeout_ns = 5000 * 1000000ull;
	assert_int_equal(cport_read(port, &op, p[0], buf, sizeof buf, -1), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(t_write(p[1], "hello", 5), 5);
	assert_int_equal(t_run(port, &op), 5);
	assert_memory_equal(buf, "hello", 5);
	/* The cancelled timeout must not linger: the port stays quiet. */
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 20 * 1000000LL), 0);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

static void timer_cut_short(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	op.timeout_ns = 30 * 1000000u;
	assert_int_equal(cport_timer(port, &op, 30ull * 1000000000u, 0), 0);
	assert_int_equal(t_run(port, &op), CPORT_ETIMEDOUT);
	cport_destroy(port);
}

static void timer_within_timeout(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	op.timeout_ns = 5000 * 1000000ull;
	assert_int_equal(cport_timer(port, &op, 10 * 1000000u, 0), 0);
	assert_int_equal(t_run(port, &op), 0);
	cport_destroy(port);
}

static void nop_with_timeout(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_op op = {0};
	op.timeout_ns = 1000000000u;
	assert_int_equal(cport_nop(port, &op), 0);
	assert_int_equal(t_run(port, &op), 0);
	cport_destroy(port);
}

static void file_read_with_timeout(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd fd = t_file(8192);
	char buf[8192];
	cport_op op = {0};
	op.timeout_ns = 5000 * 1000000ull;
	int r = cport_read(port, &op, fd, buf, sizeof buf, 0);
	if (r == CPORT_ENOTSUP) {
		t_close(fd);
		cport_destroy(port);
		t_skip("timeout_ns on an op that runs on the thread pool is refused (ENOTSUP)");
	}
	assert_int_equal(r, 0);
	assert_int_equal(t_run(port, &op), 8192);
	for (int i = 0; i < 8192; i++)
		assert_int_equal((uint8_t)buf[i], t_pattern((uint64_t)i));
	t_close(fd);
	cport_destroy(port);
}

/* A cancel before the deadline wins: ECANCELED, not ETIMEDOUT. */
static void cancel_before_timeout(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	char buf[4];
	cport_op op = {0};
	op.timeout_ns = 10ull * 1000000000u;
	assert_int_equal(cport_read(port, &op, p[0], buf, sizeof buf, -1), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_cancel(port, &op), 0);
	assert_int_equal(t_run(port, &op), CPORT_ECANCELED);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
}

/* Many ops with timeouts, half of which fire. */
static void many_mixed(void **state)
{
	(void)state;
	cport *port = t_port();
	enum { N = 200 };
	static cport_op ops[N];
	memset(ops, 0, sizeof ops);
	for (int i = 0; i < N; i++) {
		ops[i].timeout_ns = (i % 2) ? 20 * 1000000u : 20ull * 1000000000u;
		assert_int_equal(cport_timer(port, &ops[i], (i % 2) ? 20ull * 1000000000u : 1000000u, 0), 0);
	}
	int timedout = 0, fired = 0;
	cport_op *out[32];
	while (timedout + fired < N) {
		int k = cport_wait(port, out, 32, 10ll * 1000000000);
		assert_true(k > 0);
		for (int i = 0; i < k; i++) {
			int idx = (int)(out[i] - ops);
			if (idx % 2) {
				assert_int_equal(out[i]->result, CPORT_ETIMEDOUT);
				timedout++;
			} else {
				assert_int_equal(out[i]->result, 0);
				fired++;
			}
		}
	}
	assert_int_equal(timedout, N / 2);
	assert_int_equal(fired, N / 2);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(read_times_out),    cmocka_unit_test(read_beats_timeout),
		cmocka_unit_test(timer_cut_short),   cmocka_unit_test(timer_within_timeout),
		cmocka_unit_test(nop_with_timeout),  cmocka_unit_test(cancel_before_timeout),
		cmocka_unit_test(many_mixed),        cmocka_unit_test(file_read_with_timeout),
	};
	return T_MAIN("timeout", tests);
}
