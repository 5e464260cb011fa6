/* SPDX-License-Identifier: MIT */
/* The limit: raw liburing loops doing each workload's work at the same depth as cport. */

/*
 * Map
 *   1. The ring (the flags a tuned program would use) and reaping helpers
 *   2. nop, million-timers
 *   3. file-read-4k, file-append-sync
 *   4. ping-pongs and tcp-echo (one state machine), tcp-pump
 *
 * The ring is set up with IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN when
 * the kernel has them (6.1), which DESIGN.md section 7 found io_uring networking needs
 * to beat epoll, else COOP_TASKRUN, else nothing. With DEFER_TASKRUN completions are
 * only posted when the ring is entered to wait, so every loop waits through the kernel.
 */

#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <cport.h> /* CPORT_OP_LINK: file-append-sync's parameter is cport's op->flags */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- 1. The ring -------------------------------------------------------------------- */

static int refu_init(struct io_uring *ring, unsigned depth, struct sample *s)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL, 0};
	int r = -EINVAL;
	for (size_t i = 0; i < sizeof tries / sizeof *tries && r == -EINVAL; i++) {
		struct io_uring_params p = {.flags = tries[i]};
		r = io_uring_queue_init_params(depth, ring, &p);
	}
	return r < 0 ? bench_fail(s, r, "io_uring_queue_init") : 0;
}

/* An SQE, submitting the full SQ first if needed. */
static struct io_uring_sqe *refu_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

typedef int (*refu_cqe_fn)(void *ctx, uint64_t ud, int res);

/* Submit, wait for at least `wait` CQEs, hand every CQE there to fn. */
static int refu_reap(struct io_uring *ring, unsigned wait, refu_cqe_fn fn, void *ctx)
{
	int r = wait ? io_uring_submit_and_wait(ring, wait) : io_uring_submit_and_get_events(ring);
	if (r < 0 && r != -EINTR && r != -ETIME)
		return r;
	struct io_uring_cqe *cqes[128];
	unsigned got, total = 0;
	while ((got = io_uring_peek_batch_cqe(ring, cqes, 128)) > 0) {
		for (unsigned i = 0; i < got; i++) {
			r = fn(ctx, cqes[i]->user_data, cqes[i]->res);
			if (r < 0) {
				io_uring_cq_advance(ring, got);
				return r;
			}
		}
		io_uring_cq_advance(ring, got);
		total += got;
	}
	return (int)total;
}

/* ---- 2. nop, million-timers --------------------------------------------------------- */

static int refu_count_ok(void *ctx, uint64_t ud, int res)
{
	(void)ud;
	if (res < 0 && res != -ETIME)
		return res;
	++*(uint64_t *)ctx;
	return 0;
}

int ref_uring_nop(const struct job *job, struct sample *s)
{
	struct io_uring ring;
	int r = refu_init(&ring, 256, s);
	if (r < 0)
		return r;
	unsigned b = job->param;
	uint64_t done = 0, warm = b;
	struct meter m;
	while (done < job->n + warm && r >= 0) {
		if (done == warm)
			meter_start(&m);
		for (unsigned i = 0; i < b; i++)
			io_uring_prep_nop(refu_sqe(&ring));
		uint64_t got = 0;
		while (got < b && r >= 0)
			r = refu_reap(&ring, (unsigned)(b - got), refu_count_ok, &got);
		done += b;
	}
	if (r >= 0)
		meter_stop(&m, s, done - warm);
	io_uring_queue_exit(&ring);
	return r < 0 ? bench_fail(s, r, "nop") : 0;
}

int ref_uring_timers(const struct job *job, struct sample *s)
{
	struct io_uring ring;
	int r = refu_init(&ring, 256, s);
	if (r < 0)
		return r;
	/* The kernel copies a timeout's timespec when it takes the SQE: one per SQ slot. */
	struct __kernel_timespec ts[256];
	unsigned slot = 0;
	uint64_t fired = 0;
	struct meter m;
	meter_start(&m);
	for (uint64_t i = 0; i < job->n && r >= 0; i++) {
		uint64_t ns = timer_ns(i);
		ts[slot] = (struct __kernel_timespec){.tv_sec = (long long)(ns / 1000000000u),
						      .tv_nsec = (long long)(ns % 1000000000u)};
		io_uring_prep_timeout(io_uring_get_sqe(&ring), &ts[slot], 0, 0);
		if (++slot == 256) {
			slot = 0;
			r = refu_reap(&ring, 0, refu_count_ok, &fired);
		}
	}
	while (fired < job->n && r >= 0)
		r = refu_reap(&ring, 1, refu_count_ok, &fired);
	if (r >= 0)
		meter_stop(&m, s, job->n);
	io_uring_queue_exit(&ring);
	return r < 0 ? bench_fail(s, r, "timers") : 0;
}

/* ---- 3. Files ---------------------------------------------------------------------- */

struct refu_read {
	struct io_uring *ring;
	const struct job *job;
	int fd;
	char *bufs; /* one 4 KiB buffer per op in flight: its index is the op's slot */
	struct lat lat;
	uint64_t rng, issued, done;
};

static void refu_read_one(struct refu_read *x, char *buf)
{
	struct io_uring_sqe *sqe = refu_sqe(x->ring);
	lat_begin(&x->lat, (unsigned)((buf - x->bufs) / 4096), x->issued);
	io_uring_prep_read(sqe, x->fd, buf, 4096, file_offset(&x->rng, x->job->fsize));
	io_uring_sqe_set_data(sqe, buf);
	x->issued++;
}

static int refu_read_done(void *ctx, uint64_t ud, int res)
{
	struct refu_read *x = ctx;
	char *buf = (char *)(uintptr_t)ud;
	lat_end(&x->lat, (unsigned)((buf - x->bufs) / 4096));
	if (res != 4096)
		return res < 0 ? res : -EIO;
	x->done++;
	if (x->issued < x->job->n)
		refu_read_one(x, buf);
	return 0;
}

/* oflags: 0 (file-read-4k, the page cache) or O_DIRECT (file-read-direct, the disk). */
static int refu_file_read(const struct job *job, struct sample *s, int oflags)
{
	struct io_uring ring;
	struct refu_read x = {.ring = &ring, .job = job, .rng = 0x9E3779B97F4A7C15ull};
	x.fd = open(job->path, O_RDONLY | O_CLOEXEC | oflags);
	if (x.fd < 0)
		return bench_fail(s, -errno, "open the data file");
	int r = refu_init(&ring, 256, s);
	if (r < 0) {
		close(x.fd);
		return r;
	}
	x.bufs = aligned_alloc(4096, (size_t)job->param * 4096);
	if (lat_init(&x.lat, job->param, job->n, LAT_EVERY) < 0)
		r = -ENOMEM;
	struct meter m;
	meter_start(&m);
	for (unsigned i = 0; r == 0 && i < job->param && x.issued < job->n; i++)
		refu_read_one(&x, x.bufs + (size_t)i * 4096);
	while (x.done < job->n && r >= 0)
		r = refu_reap(&ring, 1, refu_read_done, &x);
	if (r >= 0)
		meter_stop(&m, s, job->n);
	lat_finish(&x.lat, r >= 0 ? s : NULL);
	io_uring_queue_exit(&ring);
	close(x.fd);
	free(x.bufs);
	return r < 0 ? bench_fail(s, r, "read") : 0;
}

int ref_uring_file_read(const struct job *job, struct sample *s)
{
	return refu_file_read(job, s, 0);
}

int ref_uring_file_read_direct(const struct job *job, struct sample *s)
{
	return refu_file_read(job, s, O_DIRECT);
}

static int refu_append_done(void *ctx, uint64_t ud, int res)
{
	if (res < 0 || (ud == 1 && res != 4096))
		return res < 0 ? res : -EIO;
	++*(uint64_t *)ctx;
	return 0;
}

/* job->param is cport's write flags. CPORT_OP_LINK: the write and its fdatasync go in
 * one submission, linked with IOSQE_IO_LINK, and one wait reaps both (the limit of this
 * loop). 0: write, wait for it, then fdatasync and wait, as cport's unlinked row. */
int ref_uring_file_append(const struct job *job, struct sample *s)
{
	char path[512];
	snprintf(path, sizeof path, "%s/cport-bench-wal.%d", job->dir, (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return bench_fail(s, -errno, "create the log file");
	struct io_uring ring;
	int r = refu_init(&ring, 8, s);
	bool ring_ok = r == 0;
	static char buf[4096];
	memset(buf, 'w', sizeof buf);
	struct meter m;
	meter_start(&m);
	bool linked = job->param & CPORT_OP_LINK;
	for (uint64_t i = 0; i < job->n && r >= 0; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		io_uring_prep_write(sqe, fd, buf, sizeof buf, i * 4096);
		io_uring_sqe_set_data64(sqe, 1);
		uint64_t got = 0;
		if (linked)
			sqe->flags |= IOSQE_IO_LINK;
		else
			while (got < 1 && r >= 0)
				r = refu_reap(&ring, 1, refu_append_done, &got);
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data64(sqe, 2);
		while (got < 2 && r >= 0)
			r = refu_reap(&ring, (unsigned)(2 - got), refu_append_done, &got);
	}
	if (r >= 0)
		meter_stop(&m, s, job->n);
	if (ring_ok)
		io_uring_queue_exit(&ring);
	close(fd);
	unlink(path);
	return r < 0 ? bench_fail(s, r, "append") : 0;
}

/* ---- 4. Sockets -------------------------------------------------------------------- */

/* user_data: the connection's address with the role in the low bits. */
enum { RU_CW = 0, RU_CR = 1, RU_SW = 2, RU_SR = 3, RU_IDLE = 4, RU_MASK = 7 };

struct ruconn {
	int c, s;
	unsigned cgot, sgot;
	double t0;
	char cbuf[MSG_SIZE], sbuf[MSG_SIZE], msg[MSG_SIZE];
};

struct ruecho {
	struct io_uring ring;
	struct ruconn *conns;
	uint64_t n, started, done;
	double *lat;
};

static void ru_io(struct ruecho *e, struct ruconn *c, unsigned role)
{
	struct io_uring_sqe *sqe = refu_sqe(&e->ring);
	switch (role) {
	case RU_CW: io_uring_prep_write(sqe, c->c, c->msg, MSG_SIZE, (uint64_t)-1); break;
	case RU_SW: io_uring_prep_write(sqe, c->s, c->sbuf, MSG_SIZE, (uint64_t)-1); break;
	case RU_CR:
		io_uring_prep_read(sqe, c->c, c->cbuf + c->cgot, MSG_SIZE - c->cgot, (uint64_t)-1);
		break;
	default:
		io_uring_prep_read(sqe, c->s, c->sbuf + c->sgot, MSG_SIZE - c->sgot, (uint64_t)-1);
		break;
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | role);
}

static void ru_start_rt(struct ruecho *e, struct ruconn *c)
{
	e->started++;
	c->t0 = now_ns();
	ru_io(e, c, RU_CW);
}

static int ru_on_cqe(void *ctx, uint64_t ud, int res)
{
	struct ruecho *e = ctx;
	unsigned role = (unsigned)(ud & RU_MASK);
	struct ruconn *c = (struct ruconn *)(uintptr_t)(ud & ~(uint64_t)RU_MASK);
	if (role == RU_IDLE)
		return res < 0 ? res : -EIO;
	if (role == RU_CW || role == RU_SW)
		return res == MSG_SIZE ? 0 : res < 0 ? res : -EIO;
	if (res <= 0)
		return res < 0 ? res : -ECONNRESET;
	unsigned *got = role == RU_CR ? &c->cgot : &c->sgot;
	*got += (unsigned)res;
	if (*got < MSG_SIZE) {
		ru_io(e, c, role);
		return 0;
	}
	*got = 0;
	if (role == RU_SR) {
		ru_io(e, c, RU_SW);
		ru_io(e, c, RU_SR);
		return 0;
	}
	if (e->lat)
		e->lat[e->done] = now_ns() - c->t0;
	e->done++;
	if (e->started < e->n) {
		ru_start_rt(e, c);
		ru_io(e, c, RU_CR);
	}
	return 0;
}

/* Setup: reads wait on every idle server end and both ends of every busy one. */
static void ru_echo_prime(struct ruecho *e, const struct net_set *ns, char *ibufs)
{
	for (unsigned i = 0; i < ns->idle; i++) {
		struct io_uring_sqe *sqe = refu_sqe(&e->ring);
		io_uring_prep_read(sqe, ns->sfd[ns->busy + i], ibufs + i * MSG_SIZE, MSG_SIZE,
				   (uint64_t)-1);
		io_uring_sqe_set_data64(sqe, RU_IDLE);
	}
	for (unsigned i = 0; i < ns->busy; i++) {
		ru_io(e, &e->conns[i], RU_SR);
		ru_io(e, &e->conns[i], RU_CR);
	}
	io_uring_submit(&e->ring);
}

static int ru_echo_loop(struct ruecho *e, const struct net_set *ns)
{
	for (unsigned i = 0; i < ns->busy && e->started < e->n; i++)
		ru_start_rt(e, &e->conns[i]);
	int r = 0;
	while (e->done < e->n && r >= 0)
		r = refu_reap(&e->ring, 1, ru_on_cqe, e);
	return r;
}

static int ru_echo(const struct job *job, struct sample *s, unsigned nconns, unsigned idle)
{
	struct net_set ns;
	int r = net_set_open(&ns, nconns, idle, true);
	if (r < 0)
		return bench_fail(s, r, "connect");
	struct ruecho e = {.n = job->n};
	if ((r = refu_init(&e.ring, 256, s)) < 0) {
		net_set_close(&ns);
		return r;
	}
	e.conns = calloc(nconns, sizeof *e.conns);
	e.lat = calloc(job->n, sizeof *e.lat);
	char *ibufs = calloc(idle ? idle : 1, MSG_SIZE);
	for (unsigned i = 0; i < nconns; i++) {
		e.conns[i].c = ns.cfd[i];
		e.conns[i].s = ns.sfd[i];
		memset(e.conns[i].msg, 'a' + (int)(i % 26), MSG_SIZE);
	}
	ru_echo_prime(&e, &ns, ibufs);
	struct meter m;
	meter_start(&m);
	r = ru_echo_loop(&e, &ns);
	if (r >= 0) {
		meter_stop(&m, s, e.done);
		latency_percentiles(e.lat, e.done, s);
	}
	io_uring_queue_exit(&e.ring);
	net_set_close(&ns);
	free(e.conns);
	free(e.lat);
	free(ibufs);
	return r < 0 ? bench_fail(s, r, "echo") : 0;
}

int ref_uring_ping_pongs(const struct job *job, struct sample *s)
{
	return ru_echo(job, s, 1, 0);
}

int ref_uring_tcp_echo(const struct job *job, struct sample *s)
{
	return ru_echo(job, s, ECHO_CONNS, job->param);
}

struct rupump {
	struct io_uring ring;
	int cfd, sfd;
	char *wbuf, *rbuf;
	uint64_t n, sent, wdone, got; /* chunks started, bytes of this chunk written, bytes read */
	uint32_t chunk;
};

static void rupump_write(struct rupump *p)
{
	struct io_uring_sqe *sqe = refu_sqe(&p->ring);
	io_uring_prep_write(sqe, p->cfd, p->wbuf + p->wdone, (unsigned)(p->chunk - p->wdone),
			    (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, 1);
}

static void rupump_read(struct rupump *p)
{
	struct io_uring_sqe *sqe = refu_sqe(&p->ring);
	io_uring_prep_read(sqe, p->sfd, p->rbuf, p->chunk, (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, 2);
}

static int rupump_cqe(void *ctx, uint64_t ud, int res)
{
	struct rupump *p = ctx;
	if (res <= 0)
		return res < 0 ? res : -ECONNRESET;
	if (ud == 2) {
		p->got += (uint64_t)res;
		if (p->got < p->n * p->chunk)
			rupump_read(p);
		return 0;
	}
	p->wdone += (uint64_t)res; /* a stream write may be short: send the rest */
	if (p->wdone == p->chunk) {
		p->wdone = 0;
		if (++p->sent == p->n)
			return 0;
	}
	rupump_write(p);
	return 0;
}

/* tcp-pump (64 KiB chunks) and large-send (job->param bytes): the same loop. */
static int rupump_run(const struct job *job, struct sample *s, uint32_t chunk)
{
	struct net_set ns;
	int r = net_set_open(&ns, 1, 0, true);
	if (r < 0)
		return bench_fail(s, r, "connect");
	struct rupump p = {.cfd = ns.cfd[0], .sfd = ns.sfd[0], .n = job->n, .chunk = chunk};
	if ((r = refu_init(&p.ring, 8, s)) < 0) {
		net_set_close(&ns);
		return r;
	}
	p.wbuf = calloc(1, chunk);
	p.rbuf = malloc(chunk);
	struct meter m;
	meter_start(&m);
	rupump_write(&p);
	rupump_read(&p);
	while (p.got < p.n * chunk && r >= 0)
		r = refu_reap(&p.ring, 1, rupump_cqe, &p);
	if (r >= 0)
		meter_stop(&m, s, job->n);
	io_uring_queue_exit(&p.ring);
	net_set_close(&ns);
	free(p.wbuf);
	free(p.rbuf);
	return r < 0 ? bench_fail(s, r, "pump") : 0;
}

int ref_uring_tcp_pump(const struct job *job, struct sample *s)
{
	return rupump_run(job, s, PUMP_CHUNK);
}

int ref_uring_large_send(const struct job *job, struct sample *s)
{
	if (job->param == 0 || job->param > LARGE_SEND_MAX)
		return bench_fail(s, -EINVAL, "large-send size");
	return rupump_run(job, s, job->param);
}

/* Can this process set up a ring at all (seccomp and sysctls forbid it in places)? */
bool ref_uring_available(char *why, size_t n)
{
	struct io_uring ring;
	int r = io_uring_queue_init(2, &ring, 0);
	if (r < 0) {
		snprintf(why, n, "io_uring unavailable here: io_uring_setup: %s", strerror(-r));
		return false;
	}
	io_uring_queue_exit(&ring);
	return true;
}
