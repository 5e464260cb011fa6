/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #7): ops on a huge descriptor number that is not open fail with EBADF and allocate nothing large. */

/*
 * The io_uring and reactor backends keep a table indexed by descriptor that grows to
 * the largest descriptor used. A recv or read on descriptor 16,000,000 (never open)
 * grew it to 16 million entries, hundreds of MiB, before the kernel said EBADF. Such an
 * op must be refused with CPORT_EBADF at submit or complete with CPORT_EBADF, and the
 * process's resident memory (Linux: /proc/self/statm) must grow by less than 64 MiB.
 * Numbers near INT_MAX must not overflow the table's size arithmetic either.
 */

#include "helpers.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#endif

/* Resident bytes of this process, or 0 where that is not known here. */
static uint64_t rss_bytes(void)
{
#ifdef __linux__
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0, res = 0;
	if (!f)
		return 0;
	int n = fscanf(f, "%llu %llu", &size, &res);
	fclose(f);
	return n == 2 ? res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
#else
	return 0;
#endif
}

enum kind { RECV, READ, SEND, WRITE, POLL, NKINDS };
static const char *const kind_name[NKINDS] = {"recv", "read at -1", "send", "write at -1",
					      "poll"};

static int submit(cport *port, cport_op *op, enum kind k, cport_fd fd, char *buf, size_t n)
{
	switch (k) {
	case RECV:
		return cport_recv(port, op, fd, buf, n, 0);
	case READ:
		return cport_read(port, op, fd, buf, n, -1);
	case SEND:
		return cport_send(port, op, fd, buf, n, 0);
	case WRITE:
		return cport_write(port, op, fd, buf, n, -1);
	default:
		return cport_poll(port, op, fd, CPORT_POLL_IN);
	}
}

/* Submit op `k` on `fd`: EBADF now, or accepted and completing with EBADF. */
static void expect_ebadf(cport *port, enum kind k, cport_fd fd)
{
	char buf[16] = "0123456789abcde";
	cport_op op = {0};
	int r = submit(port, &op, k, fd, buf, sizeof buf);
	if (r == CPORT_EBADF)
		return;
	if (r != 0)
		fail_msg("%s on descriptor %llu: submit returned %d (%s), wanted 0 or EBADF",
			 kind_name[k], (unsigned long long)fd, r, cport_err_name(r));
	cport_op *out[1];
	int n = cport_wait(port, out, 1, 10ll * 1000000000);
	if (n != 1)
		fail_msg("%s on descriptor %llu: no completion in 10 s", kind_name[k],
			 (unsigned long long)fd);
	assert_ptr_equal(out[0], &op);
	if (op.result != CPORT_EBADF)
		fail_msg("%s on descriptor %llu: completed with %lld (%s), wanted EBADF",
			 kind_name[k], (unsigned long long)fd, (long long)op.result,
			 cport_err_name(op.result));
}

static void warm_up(cport *port, cport_fd s[2], char c)
{
	cport_op op = {0};
	char b[1];
	assert_int_equal(cport_send(port, &op, s[0], &c, 1, 0), 0);
	assert_int_equal(t_run(port, &op), 1);
	assert_int_equal(cport_recv(port, &op, s[1], b, 1, 0), 0);
	assert_int_equal(t_run(port, &op), 1);
	assert_int_equal(b[0], c);
}

static void skip_if_open(const cport_fd *fds, size_t n)
{
#ifndef _WIN32
	for (size_t i = 0; i < n; i++)
		if (fcntl(fds[i], F_GETFD) != -1)
			t_skip("descriptor %d is open in this process", fds[i]);
#else
	(void)fds, (void)n;
#endif
}

/* Descriptors 16,000,000 and 16,000,001: EBADF, and resident memory grows < 64 MiB. */
static void sixteen_million(void **state)
{
	(void)state;
	const cport_fd fds[] = {(cport_fd)16000000, (cport_fd)16000001};
	skip_if_open(fds, 2);
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	warm_up(port, s, 'x'); /* the port has done each kind of op on a real socket */
	uint64_t before = rss_bytes();
	for (size_t i = 0; i < 2; i++)
		for (int k = 0; k < NKINDS; k++)
			expect_ebadf(port, (enum kind)k, fds[i]);
	uint64_t after = rss_bytes();
	warm_up(port, s, 'y'); /* the port still works */
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
	if (before == 0 || after == 0) {
		printf("regress-fd-huge (%s): resident memory not known here; EBADF checked\n",
		       t_backend());
		return;
	}
	uint64_t grew = after > before ? after - before : 0;
	printf("regress-fd-huge (%s): resident %llu KiB before, %llu KiB after\n", t_backend(),
	       (unsigned long long)(before >> 10), (unsigned long long)(after >> 10));
	if (grew >= 64ull << 20)
		fail_msg("resident memory grew by %llu MiB for ops on unopened descriptors",
			 (unsigned long long)(grew >> 20));
}

/* Numbers up to INT_MAX: EBADF, no overflow in the table's size arithmetic. */
static void up_to_int_max(void **state)
{
	(void)state;
	const cport_fd fds[] = {(cport_fd)(INT_MAX / 2), (cport_fd)(INT_MAX / 2 + 1),
				(cport_fd)(INT_MAX - 1), (cport_fd)INT_MAX};
	const size_t nfds = sizeof fds / sizeof fds[0];
	skip_if_open(fds, nfds);
	cport *port = t_port();
	cport_fd s[2];
	t_tcp_pair(s);
	warm_up(port, s, 'x');
	for (size_t i = 0; i < nfds; i++)
		for (int k = 0; k < NKINDS; k++)
			expect_ebadf(port, (enum kind)k, fds[i]);
	warm_up(port, s, 'y');
	t_close(s[0]);
	t_close(s[1]);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sixteen_million),
		cmocka_unit_test(up_to_int_max),
	};
	return T_MAIN("regress-fd-huge", tests);
}
