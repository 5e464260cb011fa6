/* SPDX-License-Identifier: MIT */
/* Regression (issue 9 #3): cport_close of a file completes after every read on it, and no read sees another file. */

/*
 * Rule 8: closing a descriptor through cport completes every op in flight on it first,
 * then the close. Where positional reads run on the thread pool (epoll, poll,
 * io_uring-pool), the close ran on another worker while reads were still queued: the
 * close could be reaped before them, and a queued read then ran on a number already
 * closed, which another thread may have reopened for another file meanwhile (the read
 * returned that file's bytes). Every file here holds one byte value throughout, so a
 * read's bytes say which file it read. Reads complete with their bytes or
 * CPORT_ECANCELED.
 */

#include "helpers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

enum { FILE_LEN = 64 * 1024, BLK = 4096, NOTHERS = 6, TARGET_BYTE = 0x5a };

/* Create the file `name` holding FILE_LEN copies of `byte` (through a port of its own). */
static void make_file(char *path, size_t n, const char *name, uint8_t byte)
{
	t_path(path, n, name);
	cport *port = t_port();
	static uint8_t buf[FILE_LEN];
	memset(buf, byte, sizeof buf);
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, path, CPORT_O_RDWR | CPORT_O_CREAT | CPORT_O_TRUNC,
				    0600), 0);
	int64_t fd = t_run(port, &op);
	assert_true(fd >= 0);
	assert_int_equal(cport_write(port, &op, (cport_fd)fd, buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &op), FILE_LEN);
	assert_int_equal(cport_close(port, &op, (cport_fd)fd), 0);
	assert_int_equal(t_run(port, &op), 0);
	cport_destroy(port);
}

static cport_fd open_via_port(cport *port, const char *path)
{
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, path, CPORT_O_RDONLY, 0), 0);
	int64_t fd = t_run(port, &op);
	if (fd < 0)
		fail_msg("cport_open %s: %s", path, cport_err_name(fd));
	return (cport_fd)fd;
}

struct round {
	cport_op rd[64], cl;
	uint8_t buf[64][BLK];
	unsigned nreads;
	unsigned read_ok, read_cancelled;
	/* defects seen, counted so that one run shows both kinds; the first of each */
	unsigned early_close, foreign, bad_result;
	char early_why[128], foreign_why[128], bad_why[128];
};

/* Submit r->nreads reads of `fd` and its close; reap them all. Counts a close reaped
 * before a read, a read holding anything but the target's bytes, and a read result
 * other than its bytes or CPORT_ECANCELED. */
static void reads_then_close(cport *port, cport_fd fd, struct round *r, unsigned round_no)
{
	memset(r->rd, 0, sizeof r->rd);
	memset(&r->cl, 0, sizeof r->cl);
	for (unsigned i = 0; i < r->nreads; i++) {
		memset(r->buf[i], 0, BLK);
		int64_t off = (int64_t)(i * BLK) % FILE_LEN;
		assert_int_equal(cport_read(port, &r->rd[i], fd, r->buf[i], BLK, off), 0);
	}
	/* Let the reads reach the kernel or the pool before the close is queued. */
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_close(port, &r->cl, fd), 0);
	unsigned reaped = 0;
	bool close_seen = false;
	while (reaped < r->nreads + 1) {
		cport_op *out[16];
		int k = cport_wait(port, out, 16, 10ll * 1000000000);
		if (k <= 0)
			fail_msg("round %u: cport_wait returned %d with %u of %u completions", round_no,
				 k, reaped, r->nreads + 1);
		for (int j = 0; j < k; j++, reaped++) {
			if (out[j] == &r->cl) {
				if (reaped != r->nreads && r->early_close++ == 0)
					snprintf(r->early_why, sizeof r->early_why,
						 "round %u: the close was reaped after %u of %u reads",
						 round_no, reaped, r->nreads);
				assert_int_equal(r->cl.result, 0);
				close_seen = true;
				continue;
			}
			unsigned i = (unsigned)(out[j] - r->rd);
			assert_true(i < r->nreads);
			int64_t res = out[j]->result;
			if (res == CPORT_ECANCELED) {
				r->read_cancelled++;
				continue;
			}
			if (res != BLK) {
				if (r->bad_result++ == 0)
					snprintf(r->bad_why, sizeof r->bad_why,
						 "round %u: read %u: result %lld (%s), wanted %d or "
						 "ECANCELED", round_no, i, (long long)res,
						 res < 0 ? cport_err_name(res) : "bytes", BLK);
				continue;
			}
			unsigned b = 0;
			while (b < BLK && r->buf[i][b] == TARGET_BYTE)
				b++;
			if (b < BLK) {
				if (r->foreign++ == 0)
					snprintf(r->foreign_why, sizeof r->foreign_why,
						 "round %u: read %u byte %u is 0x%02x, wanted 0x%02x: "
						 "the read ran on another file", round_no, i, b,
						 r->buf[i][b], TARGET_BYTE);
				continue;
			}
			r->read_ok++;
		}
	}
	assert_true(close_seen);
}

/* Print what the rounds saw and fail on any defect. */
static void round_verdict(const char *test, struct round *r, unsigned rounds)
{
	printf("%s (%s): %u rounds, %u reads with data, %u cancelled; defects: %u closes "
	       "reaped early, %u reads of another file, %u bad results\n", test, t_backend(),
	       rounds, r->read_ok, r->read_cancelled, r->early_close, r->foreign, r->bad_result);
	if (r->early_close)
		printf("  first early close: %s\n", r->early_why);
	if (r->foreign)
		printf("  first read of another file: %s\n", r->foreign_why);
	if (r->bad_result)
		printf("  first bad result: %s\n", r->bad_why);
	fflush(stdout);
	assert_int_equal(r->early_close, 0);
	assert_int_equal(r->foreign, 0);
	assert_int_equal(r->bad_result, 0);
}

/* Many reads then a close: the close's completion comes after all of theirs. */
static void close_after_reads(void **state)
{
	(void)state;
	char path[300];
	make_file(path, sizeof path, "target", TARGET_BYTE);
	cport *port = t_port();
	static struct round r;
	memset(&r, 0, sizeof r);
	for (unsigned round_no = 0; round_no < 20; round_no++) {
		r.nreads = 64;
		reads_then_close(port, open_via_port(port, path), &r, round_no);
	}
	cport_destroy(port);
	round_verdict("close_after_reads", &r, 20);
}

/* ---- a second thread that opens and closes other files, with plain calls ---- */

struct churn {
	char paths[NOTHERS][300];
	atomic_int stop;
	atomic_uint opens, wrong;
	char why[160];
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	for (unsigned i = 0; !atomic_load(&c->stop); i++) {
		unsigned k = i % NOTHERS;
		uint8_t b = 0;
		int64_t got;
#ifdef _WIN32
		HANDLE h = CreateFileA(c->paths[k], GENERIC_READ,
				       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
				       OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
		if (h == INVALID_HANDLE_VALUE)
			continue;
		got = t_pread((cport_fd)h, &b, 1, 0);
		CloseHandle(h);
#else
		int fd = open(c->paths[k], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		got = pread(fd, &b, 1, 0);
		if (close(fd) < 0 && got == 1)
			got = -2; /* someone else closed our descriptor */
#endif
		atomic_fetch_add(&c->opens, 1);
		/* The port must never close or read this thread's files either. */
		if (got != 1 || b != (uint8_t)(k + 1)) {
			if (atomic_fetch_add(&c->wrong, 1) == 0)
				snprintf(c->why, sizeof c->why, "other file %u: got %lld, byte 0x%02x",
					 k, (long long)got, b);
		}
	}
	return NULL;
}

/* ~2000 rounds of reads + close while another thread reuses descriptor numbers. */
static void no_read_of_another_file(void **state)
{
	(void)state;
	char path[300];
	make_file(path, sizeof path, "target", TARGET_BYTE);
	static struct churn c;
	memset(&c, 0, sizeof c);
	for (unsigned k = 0; k < NOTHERS; k++) {
		char name[32];
		snprintf(name, sizeof name, "other-%u", k);
		make_file(c.paths[k], sizeof c.paths[k], name, (uint8_t)(k + 1));
	}
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, churn_main, &c), 0);
	cport *port = t_port();
	static struct round r;
	memset(&r, 0, sizeof r);
	unsigned rounds = 0;
	uint64_t end = t_now_ms() + 60000; /* a bound for a slow machine, not a goal */
	for (; rounds < 2000 && t_now_ms() < end; rounds++) {
		r.nreads = 8 + rounds % 24;
		reads_then_close(port, open_via_port(port, path), &r, rounds);
	}
	atomic_store(&c.stop, 1);
	pthread_join(th, NULL);
	cport_destroy(port);
	printf("no_read_of_another_file (%s): %u opens by the other thread, %u disturbed%s%s\n",
	       t_backend(), atomic_load(&c.opens), atomic_load(&c.wrong),
	       atomic_load(&c.wrong) ? "; first: " : "", c.why);
	round_verdict("no_read_of_another_file", &r, rounds);
	assert_int_equal(atomic_load(&c.wrong), 0);
	assert_true(rounds >= 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(close_after_reads),
		cmocka_unit_test(no_read_of_another_file),
	};
	return T_MAIN("regress-close-waits-pool", tests);
}
