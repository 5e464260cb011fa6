/* SPDX-License-Identifier: MIT */
/* Zero-copy sends (cport_send with CPORT_SEND_ZC / CPORT_SEND_NOZC): stream rules, stops, flags. */

/*
 * On io_uring a large or forced send is IORING_OP_SEND_ZC, whose pages the kernel holds
 * until its notification; every other backend sends plainly. Either way the contract is
 * the same: one completion, the buffer free after it, bytes in submission order and
 * never interleaved, cancel / timeout / close / destroy stop it. CPORT_ZC in op->cflags
 * says which path a send took; it is checked against the kernel's own answer (a probe
 * made here with the raw system calls), never assumed.
 */

#include "helpers.h"

#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

enum { BIG = 1 << 20, STUCK = 16 << 20 };

/* Does the running kernel have IORING_OP_SEND_ZC? 1 yes, 0 no, -1 cannot tell (no
 * io_uring here at all). */
static int kernel_send_zc(void)
{
#ifdef __linux__
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	int fd = (int)syscall(__NR_io_uring_setup, 2, &p);
	if (fd < 0)
		return -1;
	size_t n = 256;
	struct io_uring_probe *pr = calloc(1, sizeof *pr + n * sizeof pr->ops[0]);
	assert_non_null(pr);
	int r = (int)syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, pr, (unsigned)n);
	int has = r == 0 && pr->last_op >= IORING_OP_SEND_ZC &&
		  (pr->ops[IORING_OP_SEND_ZC].flags & IO_URING_OP_SUPPORTED);
	free(pr);
	close(fd);
	return has;
#else
	return 0;
#endif
}

/* Would a forced zero-copy send on a TCP socket of this port take the zero-copy path? */
static bool zc_expected(cport *port)
{
	return strcmp(cport_backend_name(port), "io_uring") == 0 && kernel_send_zc() == 1;
}

/* A buffer of `len` bytes whose content tells item from item and offset from offset. */
static char *patterned(unsigned item, size_t len)
{
	char *b = malloc(len ? len : 1);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (char)(item * 37u + i * 7u + (i >> 9));
	return b;
}

/* Every send, write and zero-copy mode on one stream: the receiver (the same port)
 * gets the bytes exactly, in submission order. */
static void mixed_sends_in_order(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	enum { N = 7 };
	static const size_t len[N] = {100, BIG, 1000, BIG, BIG, 300000, 5000};
	/* 0 flags, ZC, a write, NOZC, default, ZC, a small ZC */
	static const int kind[N] = {0, 1, -1, 2, 0, 1, 1};
	static cport_op ops[N], rop;
	char *bufs[N];
	size_t total = 0;
	for (unsigned i = 0; i < N; i++) {
		bufs[i] = patterned(i, len[i]);
		total += len[i];
		uint32_t fl = kind[i] == 1 ? CPORT_SEND_ZC : kind[i] == 2 ? CPORT_SEND_NOZC : 0;
		int r = kind[i] < 0 ? cport_write(port, &ops[i], p[0], bufs[i], len[i], -1)
				    : cport_send(port, &ops[i], p[0], bufs[i], len[i], fl);
		assert_int_equal(r, 0);
	}
	char *got = malloc(total);
	assert_non_null(got);
	size_t have = 0;
	unsigned sent = 0;
	assert_int_equal(cport_recv(port, &rop, p[1], got, 256 * 1024, 0), 0);
	uint64_t end = t_now_ms() + 30000;
	while ((sent < N || have < total) && t_now_ms() < end) {
		cport_op *out[8];
		int k = cport_wait(port, out, 8, 100 * 1000000LL);
		assert_true(k >= 0);
		for (int i = 0; i < k; i++) {
			if (out[i] != &rop) {
				assert_int_equal(out[i] - ops, sent); /* in submission order */
				assert_int_equal(out[i]->result, (int64_t)len[sent]);
				sent++;
				continue;
			}
			assert_true(rop.result > 0);
			have += (size_t)rop.result;
			size_t want = total - have < 256 * 1024 ? total - have : 256 * 1024;
			if (want)
				assert_int_equal(cport_recv(port, &rop, p[1], got + have, want, 0), 0);
		}
	}
	assert_int_equal(sent, N);
	assert_int_equal(have, total);
	size_t off = 0;
	for (unsigned i = 0; i < N; i++) {
		assert_memory_equal(got + off, bufs[i], len[i]);
		off += len[i];
	}
	/* Forced: zero-copy exactly where the kernel has it. Forbidden, writes and small
	 * or default sends to a peer on this host (section 7): never. */
	bool zc = zc_expected(port);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal((ops[i].cflags & CPORT_ZC) != 0, kind[i] == 1 && zc);
	for (unsigned i = 0; i < N; i++)
		free(bufs[i]);
	free(got);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

/* io_uring: a forced send really is SEND_ZC where the kernel has it; skipped where it
 * does not. Elsewhere: the flag is accepted and the send is plain. */
static void zc_path_taken(void **state)
{
	(void)state;
	cport *port = t_port();
	bool uring = strcmp(cport_backend_name(port), "io_uring") == 0;
	if (uring && kernel_send_zc() != 1) {
		cport_destroy(port);
		t_skip("the kernel lacks IORING_OP_SEND_ZC (Linux 6.0)");
		return;
	}
	cport_fd p[2];
	t_tcp_pair(p);
	enum { LEN = 64 * 1024 };
	char *buf = patterned(9, LEN), *in = malloc(LEN);
	assert_non_null(in);
	cport_op op = {0};
	assert_int_equal(cport_send(port, &op, p[0], buf, LEN, CPORT_SEND_ZC), 0);
	assert_int_equal(t_run(port, &op), LEN);
	assert_int_equal((op.cflags & CPORT_ZC) != 0, uring);
	t_read_all(p[1], in, LEN);
	assert_memory_equal(in, buf, LEN);
	free(buf);
	free(in);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

/* A local stream cannot send zero-copy (io_uring: -EOPNOTSUPP): a forced send goes
 * plain, byte-exact, and so do the sends after it. */
static void local_stream_falls_back(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	t_path(path, sizeof path, "zc-sock");
	cport_fd l, c;
	assert_int_equal(cport_local_listen(&l, path, 0), 0);
	cport_op acc = {0}, op[2] = {{0}}, rd = {0};
	assert_int_equal(cport_accept(port, &acc, l, NULL, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_local_connect(&c, path), 0);
	int64_t s = t_run(port, &acc);
	assert_true(s >= 0);
	enum { LEN = 200 * 1000 };
	char *buf = patterned(3, LEN), *in = malloc(2 * LEN);
	assert_non_null(in);
	assert_int_equal(cport_send(port, &op[0], c, buf, LEN, CPORT_SEND_ZC), 0);
	assert_int_equal(cport_send(port, &op[1], c, buf, LEN, CPORT_SEND_ZC), 0);
	size_t have = 0;
	unsigned done = 0;
	assert_int_equal(cport_recv(port, &rd, (cport_fd)s, in, 2 * LEN, 0), 0);
	uint64_t end = t_now_ms() + 30000;
	while ((done < 2 || have < 2 * LEN) && t_now_ms() < end) {
		cport_op *out = t_wait1(port);
		if (out != &rd) {
			assert_ptr_equal(out, &op[done]);
			assert_int_equal(out->result, LEN);
			assert_int_equal(out->cflags & CPORT_ZC, 0);
			done++;
			continue;
		}
		assert_true(rd.result > 0);
		have += (size_t)rd.result;
		if (have < 2 * LEN)
			assert_int_equal(cport_recv(port, &rd, (cport_fd)s, in + have, 2 * LEN - have, 0),
					 0);
	}
	assert_int_equal(have, 2 * LEN);
	assert_memory_equal(in, buf, LEN);
	assert_memory_equal(in + LEN, buf, LEN);
	free(buf);
	free(in);
	t_close(c), t_close((cport_fd)s), t_close(l);
	cport_destroy(port);
}

/* A forced zero-copy send that cannot finish (nobody reads the peer) and waits in the
 * kernel; the caller's buffer is `*buf`. */
static void stuck_send(cport *port, cport_fd p[2], cport_op *op, char **buf, uint64_t timeout_ns)
{
	t_tcp_pair(p);
	*buf = calloc(1, STUCK);
	assert_non_null(*buf);
	op->timeout_ns = timeout_ns;
	assert_int_equal(cport_send(port, op, p[0], *buf, STUCK, CPORT_SEND_ZC), 0);
	assert_int_equal(cport_submit(port), 0);
	if (!timeout_ns) {
		cport_op *out[2];
		assert_int_equal(cport_wait(port, out, 2, 50 * 1000000LL), 0); /* stuck */
	}
}

static void cancel_in_flight(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	cport_op op = {0};
	char *buf;
	stuck_send(port, p, &op, &buf, 0);
	assert_int_equal(cport_cancel(port, &op), 0);
	assert_int_equal(t_run(port, &op), CPORT_ECANCELED);
	assert_int_equal(cport_cancel(port, &op), CPORT_ENOENT);
	free(buf); /* the completion came: the buffer is the caller's */
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

static void timeout_in_flight(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	cport_op op = {0};
	char *buf;
	stuck_send(port, p, &op, &buf, 100 * 1000000ull);
	assert_int_equal(t_run(port, &op), CPORT_ETIMEDOUT);
	free(buf);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

/* Close cancels: the send completes CPORT_ECANCELED, then the close. */
static void close_in_flight(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	cport_op op = {0}, cl = {0};
	char *buf;
	stuck_send(port, p, &op, &buf, 0);
	assert_int_equal(cport_close(port, &cl, p[0]), 0);
	assert_ptr_equal(t_wait1(port), &op);
	assert_int_equal(op.result, CPORT_ECANCELED);
	assert_ptr_equal(t_wait1(port), &cl);
	assert_int_equal(cl.result, 0);
	free(buf);
	t_close(p[1]);
	cport_destroy(port);
}

/* Destroy with the send in flight returns, and then nothing touches the buffer. */
static void destroy_in_flight(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	cport_op op = {0};
	char *buf;
	stuck_send(port, p, &op, &buf, 0);
	uint64_t t0 = t_now_ms();
	cport_destroy(port);
	assert_true(t_now_ms() - t0 < 30000);
	memset(buf, 0x77, STUCK); /* ours again (ASan would see a use after free below) */
	free(buf);
	t_close(p[0]), t_close(p[1]);
}

/* Unknown flag bits, or both modes at once: CPORT_EINVAL, and the op is untouched. */
static void bad_flags(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	t_tcp_pair(p);
	static const uint32_t bad[] = {1u << 2, 1u << 31, CPORT_SEND_ZC | CPORT_SEND_NOZC,
				       CPORT_SEND_ZC | (1u << 5)};
	char buf[16] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cport_op op, before;
		t_dirty_op(&op);
		before = op;
		assert_int_equal(cport_send(port, &op, p[0], buf, sizeof buf, bad[i]), CPORT_EINVAL);
		assert_memory_equal(&op, &before, sizeof op);
	}
	t_no_completion(port);
	/* each valid flag, with an empty send too */
	cport_op op = {0};
	assert_int_equal(cport_send(port, &op, p[0], NULL, 0, CPORT_SEND_ZC), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_send(port, &op, p[0], buf, sizeof buf, CPORT_SEND_NOZC), 0);
	assert_int_equal(t_run(port, &op), sizeof buf);
	char in[16];
	t_read_all(p[1], in, sizeof in);
	assert_memory_equal(in, buf, sizeof in);
	t_close(p[0]), t_close(p[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bad_flags),
	    cmocka_unit_test(cancel_in_flight),
	    cmocka_unit_test(close_in_flight),
	    cmocka_unit_test(destroy_in_flight),
	    cmocka_unit_test(local_stream_falls_back),
	    cmocka_unit_test(mixed_sends_in_order),
	    cmocka_unit_test(timeout_in_flight),
	    cmocka_unit_test(zc_path_taken),
	};
	return T_MAIN("send-zc", tests);
}
