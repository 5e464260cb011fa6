/* SPDX-License-Identifier: MIT */
/* Accept: one connection with its peer address, multishot (CPORT_MORE), cancel. */

#include "helpers.h"


static cport_fd connect_to(const cport_addr *a)
{
	return t_connect(a);
}

static void one_with_peer(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr la, peer, cl;
	cport_fd l = t_listen(&la);
	cport_fd c = connect_to(&la);
	cport_op acc = {0};
	assert_int_equal(cport_accept(port, &acc, l, &peer, 0), 0);
	int64_t fd = t_run(port, &acc);
	assert_true(fd >= 0);
	assert_int_equal(acc.cflags, 0);
	assert_int_equal(cport_sock_local(c, &cl), 0);
	assert_int_equal(cport_addr_port(&peer), cport_addr_port(&cl));
	/* the new descriptor is connected to the client */
	t_write_all(c, "ping", 4);
	char b[4];
	t_read_all((cport_fd)fd, b, 4);
	assert_memory_equal(b, "ping", 4);
	t_close((cport_fd)fd), t_close(c), t_close(l);
	cport_destroy(port);
}

/* One multishot accept: N connections, N completions with CPORT_MORE, then cancel: a
 * last completion without it. The op is reaped N + 1 times and is free afterwards. */
static void multishot(void **state)
{
	(void)state;
	enum { N = 20 };
	cport *port = t_port();
	cport_addr la;
	cport_fd l = t_listen(&la), cs[N];
	cport_op acc = {0};
	assert_int_equal(cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	assert_int_equal(cport_submit(port), 0);
	for (int i = 0; i < N; i++)
		cs[i] = connect_to(&la);
	int got = 0;
	uint64_t end = t_now_ms() + 10000;
	while (got < N && t_now_ms() < end) {
		cport_op *out[4];
		int k = cport_wait(port, out, 4, 100 * 1000000LL);
		assert_true(k >= 0 && k <= 1); /* one op: at most one completion per wait */
		if (k == 0)
			continue;
		assert_ptr_equal(out[0], &acc);
		assert_true(acc.result >= 0);
		assert_int_equal(acc.cflags, CPORT_MORE);
		t_close((cport_fd)acc.result);
		got++;
		/* still in flight: cannot be submitted again */
		assert_int_equal(cport_nop(port, &acc), CPORT_EBUSY);
	}
	assert_int_equal(got, N);
	assert_int_equal(cport_cancel(port, &acc), 0);
	assert_ptr_equal(t_wait1(port), &acc);
	assert_int_equal(acc.result, CPORT_ECANCELED);
	assert_int_equal(acc.cflags, 0);
	assert_int_equal(cport_cancel(port, &acc), CPORT_ENOENT);
	assert_int_equal(cport_nop(port, &acc), 0); /* free again */
	assert_int_equal(t_run(port, &acc), 0);
	for (int i = 0; i < N; i++)
		t_close(cs[i]);
	t_close(l);
	cport_destroy(port);
}

/* Connections that arrive in a burst before the caller reaps: none is lost even though
 * the op holds one result at a time. */
static void multishot_burst(void **state)
{
	(void)state;
	enum { N = 50 };
	cport *port = t_port();
	cport_addr la;
	cport_fd l = t_listen(&la), cs[N];
	cport_op acc = {0};
	assert_int_equal(cport_accept(port, &acc, l, NULL, CPORT_ACCEPT_MULTISHOT), 0);
	assert_int_equal(cport_submit(port), 0);
	for (int i = 0; i < N; i++)
		cs[i] = connect_to(&la);
	t_sleep_us(20000); /* let the kernel queue every completion */
	int got = 0;
	uint64_t end = t_now_ms() + 10000;
	while (got < N && t_now_ms() < end) {
		cport_op *out[8];
		int k = cport_wait(port, out, 8, 100 * 1000000LL);
		for (int i = 0; i < k; i++) {
			assert_true(out[i]->result >= 0);
			assert_int_equal(out[i]->cflags, CPORT_MORE);
			t_close((cport_fd)out[i]->result);
			got++;
		}
	}
	assert_int_equal(got, N);
	/* closing the listener ends the multishot op too (with CPORT_ECANCELED) */
	cport_op cl = {0};
	assert_int_equal(cport_close(port, &cl, l), 0);
	assert_ptr_equal(t_wait1(port), &acc);
	assert_int_equal(acc.result, CPORT_ECANCELED);
	assert_int_equal(acc.cflags, 0);
	assert_ptr_equal(t_wait1(port), &cl);
	assert_int_equal(cl.result, 0);
	for (int i = 0; i < N; i++)
		t_close(cs[i]);
	cport_destroy(port);
}

static void cancel_pending(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr la, peer;
	cport_fd l = t_listen(&la);
	cport_op acc = {0};
	assert_int_equal(cport_accept(port, &acc, l, &peer, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_cancel(port, &acc), 0);
	assert_int_equal(t_run(port, &acc), CPORT_ECANCELED);
	/* the listener still works */
	cport_fd c = connect_to(&la);
	assert_int_equal(cport_accept(port, &acc, l, NULL, 0), 0);
	int64_t fd = t_run(port, &acc);
	assert_true(fd >= 0);
	t_close((cport_fd)fd), t_close(c), t_close(l);
	cport_destroy(port);
}

/* An accept with a timeout and nobody connecting: CPORT_ETIMEDOUT. */
static void timeout(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_addr la;
	cport_fd l = t_listen(&la);
	cport_op acc = {0};
	acc.timeout_ns = 20 * 1000000ull;
	assert_int_equal(cport_accept(port, &acc, l, NULL, 0), 0);
	assert_int_equal(t_run(port, &acc), CPORT_ETIMEDOUT);
	t_close(l);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(one_with_peer),   cmocka_unit_test(multishot),
	    cmocka_unit_test(multishot_burst), cmocka_unit_test(cancel_pending),
	    cmocka_unit_test(timeout),
	};
	return T_MAIN("accept", tests);
}
