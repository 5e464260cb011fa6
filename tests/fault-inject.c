/* SPDX-License-Identifier: MIT */
/* Faults injected into the system calls under the real backends: the contract holds. */

/*
 * Each case injects one class of fault (tests/fault.h: ENOMEM, EINTR, EAGAIN, short
 * transfers, ECONNRESET, EIO) into a quarter of the calls it fits, through the
 * library's system-call table, while ops run on one of three paths:
 *   files:   positional reads and writes (plain and vectored) and fsyncs of a file,
 *            each op slot owning one block (the port thread's RWF_NOWAIT tries, then
 *            the thread pool);
 *   streams: sends (send, write, sendmsg) and receives (recv, read, recvmsg) on a
 *            connected AF_UNIX stream, up to 8 and 4 in flight (the reactor's tries);
 *   pool:    open, write, fsync, read, close of a file per slot (the pool only).
 * A ledger per op checks: each accepted op completes exactly once; EINTR, EAGAIN and
 * short transfers never show (every op succeeds, files whole, streams all or
 * nothing); ENOMEM, EIO and ECONNRESET show only as the result of an op they hit,
 * and nothing else is lost; every byte read or received is the byte written or sent:
 * files against a model of each block, streams against a mirror of what the real
 * send calls moved, split by op (each op's bytes in one piece, in submission order, all
 * of a successful send's, a prefix of a failed one's).
 * io_uring makes these calls in the kernel: its file and pool cases run on the
 * io_uring-pool variant; stream cases run on the readiness backends only.
 */

#include "fault.h"
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __linux__

#include <sys/socket.h>
#include <unistd.h>

enum { BLK = 4096, FSLOTS = 16, FROUNDS = 12 };

/* How many calls in 1,000 that a fault fits get one (fault-soak.c sets its own). */
static unsigned fault_per_mille = 250;

static uint64_t rng = 0x2545f4914f6cdd1du;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Is the backend one whose calls go through the table? Skips the case if not. */
static bool table_backend(bool streams)
{
	bool uring = strcmp(t_backend(), "io_uring") == 0;
	if (uring && !t_uring_pool()) {
		t_skip("io_uring makes its I/O calls in the kernel (the io_uring-pool variant "
		       "runs the file and pool cases)");
		return false;
	}
	if (uring && streams) {
		t_skip("io_uring's socket ops are the kernel's, even on io_uring-pool");
		return false;
	}
	return true;
}

static cport *live_port; /* the case's port, for the teardown after a failure */

/* The port for a case: the wrappers in place, then the port, then the faults. */
static cport *fault_port(unsigned mask, uint64_t seed)
{
	tf_install();
	live_port = t_port_pool(256, 4);
	tf_set(mask, fault_per_mille, seed);
	return live_port;
}

static void fault_end(cport *port)
{
	tf_set(0, 0, 0);
	t_no_completion(port);
	cport_destroy(port);
	live_port = NULL;
	tf_uninstall();
}

/* After each case, passed or not: no port, no faults, the real calls back. */
static int teardown(void **state)
{
	(void)state;
	tf_end(&live_port);
	tf_on_sent = NULL;
	return 0;
}

/* The classes of `mask` that show as an op's result: the others never do. */
static unsigned surfaces(unsigned mask)
{
	return mask & ((1u << TF_ENOMEM) | (1u << TF_EIO) | (1u << TF_ECONNRESET));
}

static void check_result(unsigned mask, int64_t res, int64_t want, const char *what)
{
	if (res == want)
		return;
	for (int c = 0; c < TF_CLASSES; c++)
		if ((surfaces(mask) & (1u << c)) && res == -tf_errno((enum tf_class)c))
			return;
	fail_msg("%s under faults 0x%x: result %lld, want %lld", what, mask, (long long)res,
		 (long long)want);
}

/* ---- Files ---------------------------------------------------------------------- */

enum fstep { F_WRITE, F_READ, F_FSYNC };

struct fslot {
	cport_op op;
	enum fstep step;
	unsigned round;
	bool in_flight, known;
	uint8_t seed;
	cport_iovec iov[3];
	uint8_t buf[BLK];
};

static struct fslot fs[FSLOTS];

static void fill(uint8_t *b, size_t n, uint8_t seed, uint64_t salt)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 31u + (i ^ salt) * 7u + (i >> 8));
}

static void file_submit(cport *port, cport_fd fd, unsigned i)
{
	struct fslot *s = &fs[i];
	memset(&s->op, 0, sizeof s->op);
	s->op.user = s;
	int64_t off = (int64_t)i * BLK;
	bool vec = (s->round + i) % 2 == 1;
	int r;
	s->iov[0] = (cport_iovec){s->buf, 1000};
	s->iov[1] = (cport_iovec){s->buf + 1000, 96};
	s->iov[2] = (cport_iovec){s->buf + 1096, BLK - 1096};
	if (s->step == F_WRITE) {
		s->seed = (uint8_t)rnd();
		fill(s->buf, BLK, s->seed, i);
		r = vec ? cport_writev(port, &s->op, fd, s->iov, 3, off)
			: cport_write(port, &s->op, fd, s->buf, BLK, off);
	} else if (s->step == F_READ) {
		memset(s->buf, 0xee, BLK);
		r = vec ? cport_readv(port, &s->op, fd, s->iov, 3, off)
			: cport_read(port, &s->op, fd, s->buf, BLK, off);
	} else {
		r = cport_fsync(port, &s->op, fd, s->round % 2 ? CPORT_FSYNC_DATA : 0);
	}
	assert_int_equal(r, 0);
	s->in_flight = true;
}

/* One completion of a file op: check it, and move its slot on. */
static bool file_done(unsigned c, struct fslot *s, unsigned i)
{
	assert_true(s->in_flight); /* exactly once */
	s->in_flight = false;
	int64_t res = s->op.result;
	if (s->step == F_WRITE) {
		check_result(c, res, BLK, "file write");
		s->known = res == BLK; /* a failed write may have left any prefix */
		s->step = F_READ;
	} else if (s->step == F_READ) {
		check_result(c, res, BLK, "file read");
		if (res == BLK && s->known) {
			uint8_t want[BLK];
			fill(want, BLK, s->seed, i);
			assert_memory_equal(s->buf, want, BLK);
		}
		s->step = s->round % 3 == 2 ? F_FSYNC : F_WRITE;
		s->round += s->step == F_WRITE;
	} else {
		check_result(c, res, 0, "fsync");
		s->step = F_WRITE;
		s->round++;
	}
	return s->round < FROUNDS;
}

static void run_files(unsigned c, uint64_t seed)
{
	cport_fd fd = t_file((size_t)FSLOTS * BLK);
	cport *port = fault_port(c, seed);
	memset(fs, 0, sizeof fs);
	for (unsigned i = 0; i < FSLOTS; i++)
		file_submit(port, fd, i);
	unsigned live = FSLOTS;
	uint64_t t0 = t_now_ms();
	while (live) {
		cport_op *out[32];
		int n = cport_wait(port, out, 32, 1000000000);
		assert_true(n >= 0);
		for (int k = 0; k < n; k++) {
			struct fslot *s = out[k]->user;
			unsigned i = (unsigned)(s - fs);
			if (file_done(c, s, i))
				file_submit(port, fd, i);
			else
				live--;
		}
		assert_true(t_now_ms() - t0 < 60000);
	}
	fault_end(port);
	t_close(fd);
}

/* ---- Streams -------------------------------------------------------------------- */

enum { SENDS = 160, SSLOTS = 8, RSLOTS = 4, SMAX = 8192, LOGMAX = 1 << 17 };

struct sslot {
	cport_op op;
	cport_msg msg;
	cport_iovec iov[2];
	unsigned seq; /* the send's number, in submission order */
	bool in_flight;
	uint8_t buf[SMAX];
};

struct rslot {
	cport_op op;
	cport_msg msg;
	cport_iovec iov;
	unsigned seq;
	bool in_flight;
	uint8_t buf[SMAX];
};

struct piece {
	unsigned seq;   /* the send it came from */
	uint32_t off;   /* where in that send's bytes */
	uint32_t n;
};

static struct {
	int fd;
	struct sslot s[SSLOTS];
	struct rslot r[RSLOTS];
	uint32_t len[SENDS];
	int64_t res[SENDS];
	uint8_t *mirror, *got;
	size_t nmirror, ngot;
	struct piece log[LOGMAX];
	size_t nlog;
} st;

static void on_sent(int fd, const void *p, size_t n)
{
	if (fd != st.fd)
		return;
	const uint8_t *b = p;
	for (unsigned i = 0; i < SSLOTS; i++) {
		struct sslot *s = &st.s[i];
		if (b >= s->buf && b < s->buf + SMAX) {
			assert_true(s->in_flight && b + n <= s->buf + st.len[s->seq]);
			assert_true(st.nlog < LOGMAX);
			st.log[st.nlog++] = (struct piece){s->seq, (uint32_t)(b - s->buf), (uint32_t)n};
			memcpy(st.mirror + st.nmirror, p, n);
			st.nmirror += n;
			return;
		}
	}
	fail_msg("bytes sent from outside every send buffer");
}

static void send_submit(cport *port, struct sslot *s, unsigned seq)
{
	memset(&s->op, 0, sizeof s->op);
	s->op.user = s;
	s->seq = seq;
	uint32_t len = 1 + (uint32_t)(rnd() % SMAX);
	st.len[seq] = len;
	for (uint32_t i = 0; i < len; i++)
		s->buf[i] = (uint8_t)(seq * 131u + i * 17u + (i >> 9));
	s->in_flight = true;
	int r;
	if (seq % 3 == 0) {
		r = cport_send(port, &s->op, st.fd, s->buf, len, 0);
	} else if (seq % 3 == 1) {
		r = cport_write(port, &s->op, st.fd, s->buf, len, -1);
	} else {
		uint32_t k = len / 2;
		s->iov[0] = (cport_iovec){s->buf, k};
		s->iov[1] = (cport_iovec){s->buf + k, len - k};
		memset(&s->msg, 0, sizeof s->msg);
		s->msg.iov = s->iov;
		s->msg.iovcnt = 2;
		r = cport_sendmsg(port, &s->op, st.fd, &s->msg);
	}
	assert_int_equal(r, 0);
}

static void recv_submit(cport *port, cport_fd fd, struct rslot *r, unsigned seq)
{
	memset(&r->op, 0, sizeof r->op);
	r->op.user = r;
	r->seq = seq;
	r->in_flight = true;
	size_t want = 1 + (size_t)(rnd() % SMAX);
	int e;
	if (seq % 3 == 0) {
		e = cport_recv(port, &r->op, fd, r->buf, want, 0);
	} else if (seq % 3 == 1) {
		e = cport_read(port, &r->op, fd, r->buf, want, -1);
	} else {
		r->iov = (cport_iovec){r->buf, want};
		memset(&r->msg, 0, sizeof r->msg);
		r->msg.iov = &r->iov;
		r->msg.iovcnt = 1;
		e = cport_recvmsg(port, &r->op, fd, &r->msg);
	}
	assert_int_equal(e, 0);
}

/* The log of real sends, split by op: each op's bytes in one piece, in order. */
static void check_log(unsigned c)
{
	unsigned cur = 0;
	uint64_t moved = 0;
	for (size_t k = 0; k <= st.nlog; k++) {
		unsigned seq = k < st.nlog ? st.log[k].seq : SENDS;
		assert_true(seq >= cur);
		for (; cur < seq; cur++, moved = 0) {
			/* Send `cur` is over: all its bytes if it succeeded, else a prefix. */
			if (st.res[cur] >= 0)
				assert_true(moved == st.len[cur] && st.res[cur] == st.len[cur]);
			else
				assert_true(surfaces(c) && moved < st.len[cur]);
		}
		if (k == st.nlog)
			break;
		assert_int_equal(st.log[k].off, moved);
		moved += st.log[k].n;
	}
}

static void run_streams(unsigned c, uint64_t seed)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(&st, 0, sizeof st);
	st.fd = sv[0];
	st.mirror = malloc((size_t)SENDS * SMAX);
	st.got = malloc((size_t)SENDS * SMAX + SMAX);
	assert_non_null(st.mirror);
	assert_non_null(st.got);
	tf_on_sent = on_sent;
	cport *port = fault_port(c, seed);
	unsigned next_send = 0, sends_done = 0, next_recv = 0, rdone = 0;
	for (unsigned i = 0; i < SSLOTS; i++)
		send_submit(port, &st.s[i], next_send++);
	for (unsigned i = 0; i < RSLOTS; i++)
		recv_submit(port, sv[1], &st.r[i], next_recv++);
	/* Receives complete in submission order (rule 4); their bytes, appended. */
	bool eof = false, shut = false;
	unsigned rlive = RSLOTS;
	uint64_t t0 = t_now_ms();
	while (sends_done < SENDS || rlive > 0) {
		cport_op *out[16];
		int n = cport_wait(port, out, 16, 1000000000);
		assert_true(n >= 0);
		for (int k = 0; k < n; k++) {
			void *u = out[k]->user;
			if (u >= (void *)st.s && u < (void *)(st.s + SSLOTS)) {
				struct sslot *s = u;
				assert_true(s->in_flight);
				s->in_flight = false;
				st.res[s->seq] = s->op.result;
				check_result(c, s->op.result, st.len[s->seq], "stream send");
				sends_done++;
				if (next_send < SENDS)
					send_submit(port, s, next_send++);
				continue;
			}
			struct rslot *r = u;
			assert_true(r->in_flight);
			r->in_flight = false;
			assert_int_equal(r->seq, rdone++); /* in submission order */
			int64_t res = r->op.result;
			if (res > 0) {
				assert_false(eof);
				memcpy(st.got + st.ngot, r->buf, (size_t)res);
				st.ngot += (size_t)res;
			} else if (res == 0) {
				assert_true(shut); /* end of stream only after the shutdown */
				eof = true;
			} else {
				check_result(c, res, 1, "stream receive");
			}
			if (!eof)
				recv_submit(port, sv[1], r, next_recv++);
			else
				rlive--;
		}
		if (sends_done == SENDS && !shut) {
			assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
			shut = true;
		}
		assert_true(t_now_ms() - t0 < 60000);
	}
	fault_end(port);
	tf_on_sent = NULL;
	assert_int_equal(st.ngot, st.nmirror);
	assert_memory_equal(st.got, st.mirror, st.ngot);
	check_log(c);
	free(st.mirror);
	free(st.got);
	close(sv[0]);
	close(sv[1]);
}

/* ---- The pool ------------------------------------------------------------------- */

enum pstep { P_OPEN, P_WRITE, P_FSYNC, P_READ, P_CLOSE };

struct pslot {
	cport_op op;
	enum pstep step;
	unsigned round;
	cport_fd fd;
	bool in_flight, known;
	uint8_t seed;
	char path[256];
	uint8_t buf[BLK];
};

static struct pslot ps[FSLOTS];

/* False if the op was refused with CPORT_EBADF because its descriptor's number is
 * still being closed to the port: another slot's close of the same number, which the
 * kernel reused at once, is not reaped yet (docs/testing.md, "Noticed and left"). */
static bool pool_submit(cport *port, struct pslot *s, unsigned i)
{
	memset(&s->op, 0, sizeof s->op);
	s->op.user = s;
	int r = 0;
	switch (s->step) {
	case P_OPEN:
		r = cport_open(port, &s->op, s->path, CPORT_O_RDWR | CPORT_O_CREAT, 0600);
		break;
	case P_WRITE:
		s->seed = (uint8_t)rnd();
		fill(s->buf, BLK, s->seed, i);
		r = cport_write(port, &s->op, s->fd, s->buf, BLK, 0);
		break;
	case P_FSYNC:
		r = cport_fsync(port, &s->op, s->fd, 0);
		break;
	case P_READ:
		memset(s->buf, 0xee, BLK);
		r = cport_read(port, &s->op, s->fd, s->buf, BLK, 0);
		break;
	case P_CLOSE:
		r = cport_close(port, &s->op, s->fd);
		break;
	}
	if (r == CPORT_EBADF && s->step != P_OPEN)
		return false;
	assert_int_equal(r, 0);
	s->in_flight = true;
	return true;
}

static bool pool_done(unsigned c, struct pslot *s, unsigned i)
{
	assert_true(s->in_flight);
	s->in_flight = false;
	int64_t res = s->op.result;
	switch (s->step) {
	case P_OPEN:
		if (res < 0) {
			check_result(c, res, 0, "open");
			return true; /* open again */
		}
		s->fd = (cport_fd)res;
		s->step = P_WRITE;
		break;
	case P_WRITE:
		check_result(c, res, BLK, "pool write");
		s->known = res == BLK;
		s->step = P_FSYNC;
		break;
	case P_FSYNC:
		check_result(c, res, 0, "pool fsync");
		s->step = P_READ;
		break;
	case P_READ:
		/* After a failed write the file may be shorter: any count up to BLK. */
		if (s->known || res < 0)
			check_result(c, res, BLK, "pool read");
		else
			assert_true(res <= BLK);
		if (res == BLK && s->known) {
			uint8_t want[BLK];
			fill(want, BLK, s->seed, i);
			assert_memory_equal(s->buf, want, BLK);
		}
		s->step = P_CLOSE;
		break;
	case P_CLOSE:
		/* The descriptor is gone whatever close answers (Linux). */
		check_result(c, res, 0, "close");
		s->step = P_OPEN;
		s->round++;
		break;
	}
	return s->round < FROUNDS;
}

static void run_pool(unsigned c, uint64_t seed)
{
	memset(ps, 0, sizeof ps);
	for (unsigned i = 0; i < FSLOTS; i++) {
		char name[32];
		snprintf(name, sizeof name, "pool-%u", i);
		t_path(ps[i].path, sizeof ps[i].path, name);
	}
	cport *port = fault_port(c, seed);
	bool later[FSLOTS] = {0};
	for (unsigned i = 0; i < FSLOTS; i++)
		later[i] = !pool_submit(port, &ps[i], i);
	unsigned live = FSLOTS;
	uint64_t t0 = t_now_ms();
	while (live) {
		cport_op *out[32];
		int n = cport_wait(port, out, 32, 1000000);
		assert_true(n >= 0);
		for (int k = 0; k < n; k++) {
			struct pslot *s = out[k]->user;
			unsigned i = (unsigned)(s - ps);
			if (pool_done(c, s, i))
				later[i] = !pool_submit(port, s, i);
			else
				live--;
		}
		for (unsigned i = 0; i < FSLOTS; i++)
			if (later[i])
				later[i] = !pool_submit(port, &ps[i], i);
		assert_true(t_now_ms() - t0 < 60000);
	}
	fault_end(port);
}

#ifndef FAULT_SOAK
/* One case: one class on one path, and it must have been injected. */
static void one_class(void **state, void (*run)(unsigned, uint64_t), bool streams_path)
{
	enum tf_class c = (enum tf_class)(uintptr_t)*state;
	if (!table_backend(streams_path))
		return;
	tf_reset();
	run(1u << c, 0x5eed0000u + (uint64_t)c);
	assert_true(tf_count(c) > 0);
}

static void files(void **state)
{
	one_class(state, run_files, false);
}

static void pool(void **state)
{
	one_class(state, run_pool, false);
}

static void streams(void **state)
{
	one_class(state, run_streams, true);
}

#define CASE(fn, cls) {#fn "/" #cls, fn, NULL, teardown, (void *)(uintptr_t)(cls)}

int main(void)
{
	const struct CMUnitTest all[] = {
		CASE(files, TF_ENOMEM),  CASE(files, TF_EINTR),   CASE(files, TF_EAGAIN),
		CASE(files, TF_SHORT),   CASE(files, TF_EIO),     CASE(pool, TF_ENOMEM),
		CASE(pool, TF_EINTR),    CASE(pool, TF_EAGAIN),   CASE(pool, TF_SHORT),
		CASE(pool, TF_EIO),      CASE(streams, TF_ENOMEM), CASE(streams, TF_EINTR),
		CASE(streams, TF_EAGAIN), CASE(streams, TF_SHORT), CASE(streams, TF_ECONNRESET),
	};
	/* io_uring-pool: the stream cases are left out, not skipped, so that the file's
	 * result is the other cases' (its sockets are the kernel's: no call to inject
	 * into). Plain io_uring skips every case (table_backend). */
	size_t n = sizeof all / sizeof *all;
	if (t_uring_pool()) {
		printf("fault-inject: stream cases left out: io_uring's socket ops are the "
		       "kernel's, even on io_uring-pool\n");
		n -= 5;
	}
	return t_main("fault-inject", all, n);
}
#endif /* !FAULT_SOAK */

#elif !defined(FAULT_SOAK) /* !__linux__ */

int main(void)
{
	return tf_not_here("fault-inject");
}

#endif
