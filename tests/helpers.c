/* SPDX-License-Identifier: MIT */
/* Test helpers shared by every test file. */

#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int t_skipped;
static char t_tmpdir[256];

const char *t_backend(void)
{
	const char *b = getenv("CPORT_BACKEND");
	return b && b[0] ? b : "default";
}

cport *t_port_depth(uint32_t depth)
{
	cport_options o;
	char reason[256] = "";
	cport_options_init(&o);
	o.flags = CPORT_OPT_STRICT;
	o.queue_depth = depth;
	o.reason = reason;
	o.reason_len = sizeof reason;
	cport *port = NULL;
	int r = cport_create(&port, &o);
	if (r < 0)
		fail_msg("cport_create on %s: %s (%s)", t_backend(), cport_err_name(r), reason);
	return port;
}

cport *t_port(void)
{
	return t_port_depth(0);
}

cport_op *t_wait1(cport *port)
{
	cport_op *op = NULL;
	int n = cport_wait(port, &op, 1, 10 * 1000000000LL);
	if (n != 1)
		fail_msg("cport_wait returned %d (%s), wanted 1", n, cport_err_name(n));
	return op;
}

int64_t t_run(cport *port, cport_op *op)
{
	cport_op *got = t_wait1(port);
	assert_ptr_equal(got, op);
	return got->result;
}

unsigned t_reap(cport *port, unsigned n, void (*each)(cport_op *, void *), void *ctx)
{
	cport_op *ops[64];
	unsigned got = 0;
	uint64_t end = t_now_ms() + 30000;
	while (got < n && t_now_ms() < end) {
		unsigned want = n - got < 64 ? n - got : 64;
		int k = cport_wait(port, ops, want, 100 * 1000000LL);
		assert_true(k >= 0);
		for (int i = 0; i < k; i++)
			if (each)
				each(ops[i], ctx);
		got += (unsigned)k;
	}
	return got;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void t_cleanup(void)
{
	if (t_tmpdir[0])
		nftw(t_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *t_dir(void)
{
	if (!t_tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(t_tmpdir, sizeof t_tmpdir, "%s/cport-test-XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(t_tmpdir))
			fail_msg("mkdtemp: %s", strerror(errno));
		atexit(t_cleanup);
	}
	return t_tmpdir;
}

void t_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", t_dir(), name);
}

uint8_t t_pattern(uint64_t off)
{
	return (uint8_t)(off * 131 + (off >> 9) * 7 + 1);
}

int t_file(size_t len)
{
	char path[300];
	static unsigned seq;
	snprintf(path, sizeof path, "%s/file-%u", t_dir(), seq++);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	uint8_t buf[4096];
	for (size_t off = 0; off < len;) {
		size_t n = len - off < sizeof buf ? len - off : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = t_pattern(off + i);
		assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
		off += n;
	}
	return fd;
}

void t_note_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "SKIP (%s): ", t_backend());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	t_skipped++;
}

uint64_t t_now_ms(void)
{
	return cport_now_ns() / 1000000u;
}

int t_main(const char *name, const struct CMUnitTest *tests, size_t n)
{
	char group[128];
	snprintf(group, sizeof group, "%s/%s", name, t_backend());
	int failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	if (failed)
		return 1;
	/* A test that could not run is a skip for the whole file, never a pass. */
	return t_skipped ? 77 : 0;
}
