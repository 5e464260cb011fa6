/* SPDX-License-Identifier: MIT */
/*
 * The simulation backend (cport.h section 8): virtual time, files with durability and
 * crashes, streams, seeded faults, and the same trace for the same seed.
 */

#include "helpers.h"

#include <stdio.h>
#include <string.h>

static void profile_init(cport_sim_profile *p, uint64_t seed)
{
	memset(p, 0, sizeof *p);
	p->size = sizeof *p;
	p->seed = seed;
}

/* A 30 s timer and a 60 s wait timeout: both in virtual time, at once in real time. */
static void virtual_time(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	uint64_t real0 = cport_now_ns(), v0 = cport_clock_ns(port);
	cport_op t = {0};
	assert_int_equal(t_sim_op(port, &t, cport_timer(port, &t, 30 * 1000000000ull, 0)), 0);
	uint64_t v1 = cport_clock_ns(port);
	assert_true(v1 - v0 >= 30 * 1000000000ull && v1 - v0 < 31 * 1000000000ull);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 60 * 1000000000ll), 0); /* nothing: times out */
	assert_true(cport_clock_ns(port) - v1 >= 60 * 1000000000ull);
	/* An op's timeout_ns on a stream read that never gets data. */
	cport_fd sp[2];
	assert_int_equal(cport_sim_socketpair(port, sp), 0);
	char b[8];
	cport_op rd = {0};
	rd.timeout_ns = 5 * 1000000000ull;
	assert_int_equal(t_sim_op(port, &rd, cport_recv(port, &rd, sp[0], b, sizeof b, 0)),
			 CPORT_ETIMEDOUT);
	assert_true(cport_now_ns() - real0 < 5 * 1000000000ull); /* generous: a hang guard */
	cport_op c = {0};
	assert_int_equal(t_sim_op(port, &c, cport_close(port, &c, sp[0])), 0);
	assert_int_equal(t_sim_op(port, &c, cport_close(port, &c, sp[1])), 0);
	cport_destroy(port);
}

static void write_file(cport *port, const char *path, const char *text, bool sync)
{
	cport_op op = {0};
	int64_t fd = t_sim_op(port, &op, cport_open(port, &op, path, CPORT_O_RDWR | CPORT_O_CREAT, 0644));
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(t_sim_op(port, &op, cport_write(port, &op, (cport_fd)fd, text, n, 0)), (int64_t)n);
	if (sync)
		assert_int_equal(t_sim_op(port, &op, cport_fsync(port, &op, (cport_fd)fd, 0)), 0);
	assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, (cport_fd)fd)), 0);
}

/* The file's contents into buf (NUL-terminated), or -1 if it does not exist. */
static int64_t read_file(cport *port, const char *path, char *buf, size_t n)
{
	cport_op op = {0};
	int64_t fd = t_sim_op(port, &op, cport_open(port, &op, path, CPORT_O_RDONLY, 0));
	if (fd < 0)
		return -1;
	int64_t r = t_sim_op(port, &op, cport_read(port, &op, (cport_fd)fd, buf, n - 1, 0));
	assert_true(r >= 0);
	buf[r] = '\0';
	assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, (cport_fd)fd)), 0);
	return r;
}

static void sync_dir(cport *port, const char *dir)
{
	cport_op op = {0};
	int64_t fd = t_sim_op(port, &op, cport_open(port, &op, dir, CPORT_O_RDONLY | CPORT_O_DIRECTORY, 0));
	assert_true(fd >= 0);
	assert_int_equal(t_sim_op(port, &op, cport_fsync(port, &op, (cport_fd)fd, 0)), 0);
	assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, (cport_fd)fd)), 0);
}

/* What survives a crash: flushed bytes in files whose names were flushed. */
static void crash_keeps_durable(void **state)
{
	(void)state;
	cport_sim_disk *disk;
	assert_int_equal(cport_sim_disk_create(&disk), 0);
	cport_sim_profile p;
	profile_init(&p, 7);
	p.disk = disk;
	cport *port = t_sim_port(&p);
	cport_op op = {0};
	assert_int_equal(t_sim_op(port, &op, cport_mkdir(port, &op, "/db", 0755)), 0);
	sync_dir(port, "/");
	write_file(port, "/db/synced", "kept", true);
	write_file(port, "/db/unsynced", "lost", false);
	sync_dir(port, "/db");
	write_file(port, "/db/unnamed", "name lost", true); /* its directory not flushed */
	write_file(port, "/db/synced", "KEPT more", false);     /* over the durable bytes */
	char buf[64];
	assert_int_equal(read_file(port, "/db/synced", buf, sizeof buf), 9);
	assert_string_equal(buf, "KEPT more");
	assert_int_equal(cport_sim_disk_crash(disk, 1, 0), CPORT_EBUSY); /* a port uses it */
	cport_destroy(port);
	assert_true(cport_sim_disk_crash(disk, 1, 0) > 0);
	port = t_sim_port(&p);
	assert_int_equal(read_file(port, "/db/synced", buf, sizeof buf), 4);
	assert_string_equal(buf, "kept");
	assert_int_equal(read_file(port, "/db/unsynced", buf, sizeof buf), 0); /* name, no bytes */
	assert_int_equal(read_file(port, "/db/unnamed", buf, sizeof buf), -1);
	cport_destroy(port);
	assert_int_equal(cport_sim_disk_destroy(disk), 0);
}

/* A failed flush marks the bytes clean: the next flush says 0, the crash loses them. */
static void failed_flush_loses(void **state)
{
	(void)state;
	cport_sim_disk *disk;
	assert_int_equal(cport_sim_disk_create(&disk), 0);
	cport_sim_profile p;
	profile_init(&p, 3);
	p.disk = disk;
	cport *port = t_sim_port(&p);
	cport_op op = {0};
	int64_t fd = t_sim_op(port, &op, cport_open(port, &op, "f", CPORT_O_RDWR | CPORT_O_CREAT, 0644));
	assert_true(fd >= 0);
	sync_dir(port, "");
	assert_int_equal(t_sim_op(port, &op, cport_write(port, &op, (cport_fd)fd, "abcd", 4, 0)), 4);
	cport_destroy(port); /* the flush fails in the next port: every flush does */
	p.fsync_ppm = 1000000;
	port = t_sim_port(&p);
	fd = t_sim_op(port, &op, cport_open(port, &op, "f", CPORT_O_RDWR, 0));
	assert_int_equal(t_sim_op(port, &op, cport_write(port, &op, (cport_fd)fd, "wxyz", 4, 0)), 4);
	assert_int_equal(t_sim_op(port, &op, cport_fsync(port, &op, (cport_fd)fd, 0)), CPORT_EIO);
	cport_destroy(port);
	p.fsync_ppm = 0;
	port = t_sim_port(&p);
	fd = t_sim_op(port, &op, cport_open(port, &op, "f", CPORT_O_RDWR, 0));
	char buf[8] = {0};
	assert_int_equal(t_sim_op(port, &op, cport_read(port, &op, (cport_fd)fd, buf, 4, 0)), 4);
	assert_memory_equal(buf, "wxyz", 4); /* reads still see them */
	assert_int_equal(t_sim_op(port, &op, cport_fsync(port, &op, (cport_fd)fd, 0)), 0);
	cport_destroy(port);
	cport_sim_disk_crash(disk, 1, 0);
	port = t_sim_port(&p);
	/* The good flush made the size durable, but the bytes were lost with the failed
	 * one: what the disk holds there was never written (zeros here). */
	assert_int_equal(read_file(port, "f", buf, sizeof buf), 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	cport_destroy(port);
	assert_int_equal(cport_sim_disk_destroy(disk), 0);
}

/* One run of a small program: a stream carrying 64 KiB in pieces both ways, files
 * written and flushed, timers; its trace hash. */
static uint64_t program(uint64_t seed, bool faults, char *text, size_t n)
{
	cport_sim_profile p;
	profile_init(&p, seed);
	p.flags = text ? CPORT_SIM_TRACE : 0;
	p.stream_buf = 4096;
	if (faults) {
		p.short_ppm = 300000;
		p.again_ppm = 200000;
	}
	cport *port = t_sim_port(&p);
	cport_fd sp[2];
	assert_int_equal(cport_sim_socketpair(port, sp), 0);
	enum { LEN = 65536, CHUNK = 5000 };
	static uint8_t src[LEN], dst[LEN];
	for (size_t i = 0; i < LEN; i++)
		src[i] = (uint8_t)(i * 7 + i / 251);
	memset(dst, 0, sizeof dst);
	static cport_op sends[LEN / CHUNK + 1];
	size_t nsend = 0;
	for (size_t off = 0; off < LEN; off += CHUNK, nsend++) {
		size_t len = LEN - off < CHUNK ? LEN - off : CHUNK;
		assert_int_equal(cport_send(port, &sends[nsend], sp[0], src + off, len, 0), 0);
	}
	cport_op rd = {0}, tm = {0};
	assert_int_equal(cport_timer(port, &tm, 1000000, 0), 0);
	size_t got = 0, done = 0;
	assert_int_equal(cport_recv(port, &rd, sp[1], dst, LEN, 0), 0);
	while (done < nsend + 2) {
		cport_op *out[8];
		int k = cport_wait(port, out, 8, -1);
		assert_true(k > 0);
		for (int i = 0; i < k; i++, done++) {
			assert_true(out[i]->result >= 0);
			if (out[i] != &rd)
				continue;
			assert_true(out[i]->result > 0);
			got += (size_t)out[i]->result;
			if (got < LEN) {
				done--; /* the receive goes on */
				assert_int_equal(cport_recv(port, &rd, sp[1], dst + got, LEN - got, 0), 0);
			}
		}
	}
	assert_int_equal(got, LEN);
	assert_memory_equal(src, dst, LEN); /* in order, never interleaved */
	write_file(port, "a", "alpha", true);
	cport_op c = {0};
	assert_int_equal(t_sim_op(port, &c, cport_close(port, &c, sp[0])), 0);
	assert_int_equal(t_sim_op(port, &c, cport_close(port, &c, sp[1])), 0);
	uint64_t h = cport_sim_trace_hash(port);
	if (text)
		cport_sim_trace(port, text, n);
	cport_destroy(port);
	return h;
}

/* The same seed gives the same trace; another seed (with faults) another one. */
static void same_seed_same_trace(void **state)
{
	(void)state;
	static char t1[1 << 20], t2[1 << 20];
	uint64_t a = program(42, true, t1, sizeof t1), b = program(42, true, t2, sizeof t2);
	if (a != b || strcmp(t1, t2) != 0) {
		fprintf(stderr, "seed 42 gave two traces:\n%s\n----\n%s\n", t1, t2);
		fail();
	}
	assert_true(strlen(t1) > 100);
	assert_true(program(43, true, NULL, 0) != a);
	assert_true(program(42, false, NULL, 0) != a);
}

/* A close completes the stream's waiting ops with CPORT_ECANCELED; the peer sees the
 * end of the stream, and its sends CPORT_EPIPE. */
static void stream_close(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	cport_fd sp[2];
	assert_int_equal(cport_sim_socketpair(port, sp), 0);
	char b[4];
	cport_op rd = {0}, cl = {0}, op = {0};
	assert_int_equal(cport_recv(port, &rd, sp[0], b, sizeof b, 0), 0);
	assert_int_equal(cport_close(port, &cl, sp[0]), 0);
	cport_op *out[2];
	assert_int_equal(cport_wait(port, out, 2, -1), 2);
	assert_ptr_equal(out[0], &rd);
	assert_int_equal(rd.result, CPORT_ECANCELED);
	assert_ptr_equal(out[1], &cl);
	assert_int_equal(t_sim_op(port, &op, cport_recv(port, &op, sp[1], b, sizeof b, 0)), 0);
	assert_int_equal(t_sim_op(port, &op, cport_send(port, &op, sp[1], "x", 1, 0)), CPORT_EPIPE);
	assert_int_equal(cport_recv(port, &op, sp[0], b, 1, 0), CPORT_EBADF);
	assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, sp[1])), 0);
	cport_destroy(port);
}

/* Refusals: descriptors it did not make, ops it does not simulate, bad profiles. */
static void refusals(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	char b[4];
	cport_op op = {0};
	assert_int_equal(cport_read(port, &op, p[0], b, sizeof b, -1), CPORT_EBADF);
	assert_int_equal(cport_poll(port, &op, p[0], 1), CPORT_EBADF);
	cport_fd sp[2];
	assert_int_equal(cport_sim_socketpair(port, sp), 0);
	char link[16];
	assert_int_equal(cport_readlink(port, &op, "l", link, sizeof link), CPORT_ENOTSUP);
	assert_int_equal(t_sim_op(port, &op, cport_accept(port, &op, sp[0], NULL, 0)), CPORT_EINVAL);
	assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, sp[0])), 0);
	assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, sp[1])), 0);
	t_close(p[0]);
	t_close(p[1]);
	cport_destroy(port);
	cport_sim_profile bad;
	profile_init(&bad, 1);
	bad.short_ppm = 1000001;
	cport_options o;
	cport_options_init(&o);
	o.backend = "sim";
	o.sim = &bad;
	cport *q = NULL;
	assert_int_equal(cport_create(&q, &o), CPORT_EINVAL);
	o.backend = t_is_windows() ? "iocp" : "poll"; /* one built here */
	profile_init(&bad, 1);
	assert_int_equal(cport_create(&q, &o), CPORT_EINVAL); /* a profile on another backend */
	assert_null(q);
}

/* Faults on files: EIO and ENOSPC on writes change nothing. */
static void write_faults(void **state)
{
	(void)state;
	cport_sim_profile p;
	profile_init(&p, 11);
	p.eio_write_ppm = 300000;
	p.enospc_ppm = 300000;
	cport *port = t_sim_port(&p);
	cport_op op = {0};
	int64_t fd = t_sim_op(port, &op, cport_open(port, &op, "w", CPORT_O_RDWR | CPORT_O_CREAT, 0644));
	int ok = 0, eio = 0, enospc = 0;
	for (int i = 0; i < 200; i++) {
		char c = (char)('a' + i % 26);
		int64_t r = t_sim_op(port, &op, cport_write(port, &op, (cport_fd)fd, &c, 1, i));
		if (r == 1) {
			ok++;
			char back = 0;
			assert_int_equal(t_sim_op(port, &op, cport_read(port, &op, (cport_fd)fd, &back, 1, i)), 1);
			assert_int_equal(back, c);
		} else {
			assert_true(r == CPORT_EIO || r == CPORT_ENOSPC);
			eio += r == CPORT_EIO;
			enospc += r == CPORT_ENOSPC;
			cport_statbuf st;
			assert_int_equal(t_sim_op(port, &op, cport_fstat(port, &op, (cport_fd)fd, &st)), 0);
			assert_true(st.size <= (uint64_t)i); /* nothing written at i */
		}
	}
	assert_true(ok > 50 && eio > 20 && enospc > 10);
	cport_destroy(port);
}


/* Rules 2, 4, 6, 8 on the simulation with faults: many ops of every kind it has,
 * cancels and closes among them; each accepted op completes exactly once, sends arrive
 * whole and in order. */
static void exactly_once(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		cport_sim_profile p;
		profile_init(&p, seed);
		p.short_ppm = 200000;
		p.again_ppm = 100000;
		p.eio_write_ppm = 20000;
		p.stream_buf = 512;
		cport *port = t_sim_port(&p);
		enum { N = 400 };
		static cport_op ops[N];
		static int seen[N];
		static char bufs[N][64];
		memset(seen, 0, sizeof seen);
		memset(ops, 0, sizeof ops);
		cport_fd sp[2];
		assert_int_equal(cport_sim_socketpair(port, sp), 0);
		cport_op fop = {0};
		int64_t fd = t_sim_op(port, &fop, cport_open(port, &fop, "x", CPORT_O_RDWR | CPORT_O_CREAT, 0644));
		assert_true(fd >= 0);
		int accepted[N] = {0};
		for (int i = 0; i < N; i++) {
			int r;
			switch (i % 6) {
			case 0: r = cport_send(port, &ops[i], sp[0], bufs[i], sizeof bufs[i], 0); break;
			case 1: r = cport_recv(port, &ops[i], sp[1], bufs[i], sizeof bufs[i], 0); break;
			case 2: r = cport_write(port, &ops[i], (cport_fd)fd, bufs[i], 64, i * 64); break;
			case 3: r = cport_read(port, &ops[i], (cport_fd)fd, bufs[i], 64, i * 64); break;
			case 4: r = cport_timer(port, &ops[i], (uint64_t)i * 1000, 0); break;
			default: r = cport_nop(port, &ops[i]); break;
			}
			assert_int_equal(r, 0);
			accepted[i] = 1;
			if (i % 7 == 3)
				(void)cport_cancel(port, &ops[(i * 13) % (i + 1)]);
		}
		cport_op c1 = {0}, c2 = {0};
		assert_int_equal(cport_close(port, &c1, sp[0]), 0); /* cancels what waits */
		assert_int_equal(cport_close(port, &c2, sp[1]), 0);
		int left = N + 2;
		while (left > 0) {
			cport_op *out[16];
			int k = cport_wait(port, out, 16, 1000000000);
			assert_true(k > 0);
			for (int j = 0; j < k; j++, left--) {
				if (out[j] == &c1 || out[j] == &c2) {
					assert_int_equal(out[j]->result, 0);
					continue;
				}
				ptrdiff_t idx = out[j] - ops;
				assert_true(idx >= 0 && idx < N && accepted[idx]);
				assert_int_equal(++seen[idx], 1);
				int64_t r = out[j]->result;
				assert_true(r >= 0 || r == CPORT_ECANCELED || r == CPORT_EIO ||
					    r == CPORT_EPIPE);
				if (idx % 6 == 0 && r >= 0)
					assert_int_equal(r, 64); /* a send is whole */
			}
		}
		cport_op *out[1];
		assert_int_equal(cport_wait(port, out, 1, 0), 0); /* nothing more */
		assert_int_equal(t_sim_op(port, &fop, cport_close(port, &fop, (cport_fd)fd)), 0);
		cport_destroy(port);
	}
}

/* Rule 13: a link on the simulation: a failed op cancels the rest of its chain. */
static void links(void **state)
{
	(void)state;
	cport *port = t_sim_port(NULL);
	cport_op a = {0}, b = {0}, c = {0};
	a.flags = CPORT_OP_LINK;
	b.flags = CPORT_OP_LINK;
	assert_int_equal(cport_open(port, &a, "missing", CPORT_O_RDONLY, 0), 0);
	assert_int_equal(cport_nop(port, &b), 0);
	assert_int_equal(cport_nop(port, &c), 0);
	cport_op *out[3];
	int got = 0;
	while (got < 3) {
		int k = cport_wait(port, out + got, 3 - (unsigned)got, -1);
		assert_true(k > 0);
		got += k;
	}
	assert_int_equal(a.result, CPORT_ENOENT);
	assert_int_equal(b.result, CPORT_ECANCELED);
	assert_int_equal(c.result, CPORT_ECANCELED);
	cport_destroy(port);
}

/* Rule 9: destroy with ops in flight: nothing is delivered, nothing touched after; an
 * open's descriptor nobody reaped is closed; no descriptor is left open. */
static void destroy_in_flight(void **state)
{
	(void)state;
	/* Wine 8 cannot count a process's handles (GetProcessHandleCount fails or says 0):
	 * the rest of the test runs there all the same. */
	bool count = !t_is_wine();
	int before = count ? t_count_fds() : 0;
	cport *port = t_sim_port(NULL);
	cport_fd sp[2];
	assert_int_equal(cport_sim_socketpair(port, sp), 0);
	static cport_op ops[4];
	char b[8];
	assert_int_equal(cport_recv(port, &ops[0], sp[0], b, sizeof b, 0), 0);
	assert_int_equal(cport_open(port, &ops[1], "new", CPORT_O_RDWR | CPORT_O_CREAT, 0644), 0);
	assert_int_equal(cport_timer(port, &ops[2], 1000000000, 0), 0);
	assert_int_equal(cport_nop(port, &ops[3]), 0);
	cport_op *out[1];
	assert_int_equal(cport_wait(port, out, 1, 0), 0); /* nothing due at once */
	assert_int_equal(cport_wait(port, out, 1, 200000), 1); /* the open or the nop */
	if (out[0] == &ops[1]) { /* the caller's now: closed through the port */
		assert_true(ops[1].result >= 0);
		cport_op c = {0};
		assert_int_equal(t_sim_op(port, &c, cport_close(port, &c, (cport_fd)ops[1].result)), 0);
	}
	cport_destroy(port);
	if (count)
		assert_int_equal(t_count_fds(), before);
}

/* A sendfile holds its file from the submit: the file's descriptor closed and its
 * number reused by another file while the sendfile waits for room changes nothing
 * (found by the fuzz target: tests/fuzz/regressions/sim-sendfile-source-closed). */
static void sendfile_holds_its_file(void **state)
{
	(void)state;
	cport_sim_profile p;
	profile_init(&p, 5);
	p.stream_buf = 64;
	cport *port = t_sim_port(&p);
	cport_fd sp[2];
	assert_int_equal(cport_sim_socketpair(port, sp), 0);
	write_file(port, "src", "0123456789abcdefghij", false);
	write_file(port, "other", "ZZZZZZZZZZZZZZZZZZZZ", false);
	cport_op op = {0}, fill = {0}, sf = {0};
	int64_t fd = t_sim_op(port, &op, cport_open(port, &op, "src", CPORT_O_RDONLY, 0));
	static char big[64];
	memset(big, 'x', sizeof big);
	assert_int_equal(cport_send(port, &fill, sp[0], big, sizeof big, 0), 0); /* fills it */
	assert_int_equal(cport_sendfile(port, &sf, sp[0], (cport_fd)fd, 0, 20), 0);
	assert_ptr_equal(t_wait1(port), &fill);
	assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, (cport_fd)fd)), 0);
	int64_t fd2 = t_sim_op(port, &op, cport_open(port, &op, "other", CPORT_O_RDONLY, 0));
	assert_int_equal(fd2, fd); /* the lowest number: the same */
	char got[84];
	size_t n = 0;
	while (n < sizeof got) {
		int64_t r = t_sim_op(port, &op, cport_recv(port, &op, sp[1], got + n, sizeof got - n, 0));
		assert_true(r > 0);
		n += (size_t)r;
	}
	assert_ptr_equal(t_wait1(port), &sf);
	assert_int_equal(sf.result, 20);
	assert_memory_equal(got + 64, "0123456789abcdefghij", 20);
	assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, (cport_fd)fd2)), 0);
	assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, sp[0])), 0);
	assert_int_equal(t_sim_op(port, &op, cport_close(port, &op, sp[1])), 0);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(virtual_time),
		cmocka_unit_test(crash_keeps_durable),
		cmocka_unit_test(failed_flush_loses),
		cmocka_unit_test(same_seed_same_trace),
		cmocka_unit_test(stream_close),
		cmocka_unit_test(refusals),
		cmocka_unit_test(write_faults),
		cmocka_unit_test(exactly_once),
		cmocka_unit_test(links),
		cmocka_unit_test(destroy_in_flight),
		cmocka_unit_test(sendfile_holds_its_file),
	};
	return t_main("sim", tests, sizeof tests / sizeof *tests);
}
