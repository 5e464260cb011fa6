/* SPDX-License-Identifier: MIT */
/* Destroy with ops in flight (rule 9): no completion, and nothing touched afterwards. */

#include "helpers.h"

#include <stdlib.h>
#include <string.h>

enum { N = 1000, BUF = 4096 };

struct arena {
	cport_op ops[N];
	uint8_t bufs[N][BUF];
};

/* Fill a port with N ops of every kind that can be in flight: long timers, pipe reads
 * that never get data, file reads and writes, nops, posts, ops with timeouts. */
static void fill(cport *port, struct arena *a, int fd, int pipe_r)
{
	for (int i = 0; i < N; i++) {
		cport_op *op = &a->ops[i];
		int r;
		switch (i % 6) {
		case 0:
			r = cport_timer(port, op, 60ull * 1000000000u, 0);
			break;
		case 1:
			r = cport_read(port, op, pipe_r, a->bufs[i], BUF, -1);
			break;
		case 2:
			r = cport_read(port, op, fd, a->bufs[i], BUF, (int64_t)(i % 64) * BUF);
			break;
		case 3:
			memset(a->bufs[i], 0x5a, BUF);
			r = cport_write(port, op, fd, a->bufs[i], BUF, (int64_t)(64 + i) * BUF);
			break;
		case 4:
			r = cport_post(port, op, i);
			break;
		default:
			op->timeout_ns = 30ull * 1000000000u;
			r = cport_read(port, op, pipe_r, a->bufs[i], BUF, -1);
			break;
		}
		assert_int_equal(r, 0);
	}
}

static void destroy_in_flight(void **state)
{
	(void)state;
	for (int round = 0; round < 4; round++) {
		struct arena *a = calloc(1, sizeof *a);
		cport *port = t_port();
		cport_fd fd = t_file(64 * BUF);
		cport_fd p[2];
		assert_int_equal(t_pipe(p), 0);
		fill(port, a, fd, p[0]);
		/* Half the rounds let the kernel see the ops and reap a few first. */
		if (round % 2) {
			cport_op *out[16];
			assert_true(cport_wait(port, out, 16, 10 * 1000000LL) >= 0);
		}
		uint64_t t0 = t_now_ms();
		cport_destroy(port);
		assert_true(t_now_ms() - t0 < 30000); /* a hang guard: not the 60 s timers */
		/* After destroy nothing writes to ops or buffers: poison, wait, compare. */
		memset(a, 0xee, sizeof *a);
		t_sleep_us(50 * 1000);
		assert_int_equal(t_write(p[1], "late data", 9), 9);
		t_sleep_us(50 * 1000);
		for (size_t i = 0; i < sizeof *a; i++)
			if (((uint8_t *)a)[i] != 0xee)
				fail_msg("byte %zu of the ops/buffers changed after destroy", i);
		free(a); /* ASan: a late write would now be a use-after-free */
		t_close(p[0]);
		t_close(p[1]);
		t_close(fd);
	}
}

/* Completed but never reaped: dropped, without leaks (ASan checks). */
static void destroy_with_unreaped(void **state)
{
	(void)state;
	cport *port = t_port();
	static cport_op ops[100];
	for (int i = 0; i < 100; i++)
		assert_int_equal(cport_nop(port, &ops[i]), 0);
	assert_int_equal(cport_submit(port), 0);
	cport_destroy(port);
}

/* Destroy straight after create, and right after a wake-up was armed. */
static void destroy_idle(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_destroy(port);
	port = t_port();
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 1000000), 0);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(destroy_in_flight),
		cmocka_unit_test(destroy_with_unreaped),
		cmocka_unit_test(destroy_idle),
	};
	return T_MAIN("destroy", tests);
}
