/* SPDX-License-Identifier: MIT */
/* Regression: a multishot pool receive run one shot at a time spliced the ready list onto its engine's list. */

/*
 * On io_uring without multishot receives (Linux < 6.0, or
 * $CPORT_TEST_URING_NO_RECV_MULTI=1), a multishot pool receive runs one shot at a
 * time: each shot completes with CPORT_MORE and the op waits on an engine list until
 * the caller has reaped that completion, then the next shot goes to the kernel. That
 * list was linked through the same field as the port's ready list, and the op sits on
 * both at once when the caller's array is full. Every completion queued behind it was
 * then on the engine's list too, and was issued a second time: a close completed
 * twice (EBADF the second time), after the caller had freed its op (found by
 * http-test under load, ASan: use after free in cport_wait).
 *
 * Here a wait for one completion at a time reaps a nop, the receive's first shot and a
 * second nop, all completed in one round of the backend; every op must complete
 * exactly once. On io_uring the case runs with and without the one-shot stand-in.
 */

#include "helpers.h"

#include <stdlib.h>
#include <string.h>

#define ROUNDS 20

struct ledger {
	cport_op *ops[3];
	int count[3];
	int more;
};

static void note(struct ledger *l, cport_op *op)
{
	for (int i = 0; i < 3; i++) {
		if (l->ops[i] != op)
			continue;
		if (op->cflags & CPORT_MORE)
			l->more++;
		else
			l->count[i]++;
		return;
	}
	fail_msg("a completion of an op never submitted here");
}

static void one_round(cport *port, uint16_t g, char *mem, size_t size)
{
	cport_fd s[2];
	t_tcp_pair(s);
	t_write_all(s[0], "shot", 4);
	t_sleep_us(10000); /* the data is there before the receive is submitted */
	cport_op x = {0}, r = {0}, y = {0}, *out[1];
	struct ledger l = {{&x, &r, &y}, {0, 0, 0}, 0};
	assert_int_equal(cport_nop(port, &x), 0);
	assert_int_equal(cport_recv_pool(port, &r, s[1], g, CPORT_RECV_MULTISHOT), 0);
	assert_int_equal(cport_nop(port, &y), 0);
	/* Until the shot and both nops came, one completion per wait. */
	for (int k = 0; k < 1000 && (l.count[0] + l.count[2] < 2 || l.more == 0); k++) {
		int n = cport_wait(port, out, 1, 5 * 1000000000LL);
		assert_true(n >= 0);
		if (n == 0)
			continue;
		note(&l, out[0]);
		if (out[0] == &r) {
			assert_true(r.cflags & CPORT_MORE); /* the socket stays open: it goes on */
			assert_int_equal(r.result, 4);
			int id = cport_op_buf_id(&r);
			assert_true(id >= 0);
			assert_memory_equal(mem + (size_t)id * size, "shot", 4);
			assert_int_equal(cport_bufpool_return(port, g, (uint16_t)id), 0);
		}
	}
	assert_int_equal(l.count[0], 1);
	assert_int_equal(l.count[2], 1);
	assert_int_equal(l.more, 1);
	/* Nothing more is owed but the receive's end: stop it; a nop issued again would
	 * complete meanwhile (its second completion is what the defect made). */
	for (int k = 0; k < 3; k++) {
		int n = cport_wait(port, out, 1, 20 * 1000000LL);
		assert_true(n >= 0);
		if (n > 0)
			note(&l, out[0]);
	}
	assert_int_equal(cport_cancel(port, &r), 0);
	while (l.count[1] == 0) {
		int n = cport_wait(port, out, 1, 5 * 1000000000LL);
		assert_int_equal(n, 1);
		note(&l, out[0]);
	}
	assert_int_equal(r.result, CPORT_ECANCELED);
	t_no_completion(port);
	assert_int_equal(l.count[0], 1);
	assert_int_equal(l.count[1], 1);
	assert_int_equal(l.count[2], 1);
	t_close(s[0]);
	t_close(s[1]);
}

static void rounds_on_one_port(void)
{
	cport *port = t_port();
	enum { COUNT = 4, SIZE = 256 };
	char *mem = malloc(COUNT * SIZE);
	assert_non_null(mem);
	uint16_t g;
	assert_int_equal(cport_bufpool_add(port, mem, COUNT, SIZE, &g), 0);
	for (int i = 0; i < ROUNDS; i++)
		one_round(port, g, mem, SIZE);
	cport_destroy(port);
	free(mem);
}

/* On io_uring also with the one-shot stand-in for multishot receives (chosen when a
 * port is created). */
static void each_completion_once(void **state)
{
	(void)state;
	rounds_on_one_port();
#ifndef _WIN32
	if (strcmp(t_backend(), "io_uring") == 0) {
		setenv("CPORT_TEST_URING_NO_RECV_MULTI", "1", 1);
		rounds_on_one_port();
		unsetenv("CPORT_TEST_URING_NO_RECV_MULTI");
	}
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_completion_once),
	};
	return T_MAIN("regress-resume-splices-ready", tests);
}
