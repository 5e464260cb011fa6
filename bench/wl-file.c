/* SPDX-License-Identifier: MIT */
/* File workloads on cport: random reads at a queue depth, appends + fdatasync, one op at a time. */

#include "bench.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cport.h>

/* Start read number `seq` on ops[slot]. */
static int file_read_one(const struct job *job, cport *port, int fd, cport_op *ops,
			 unsigned slot, uint64_t *rng, struct lat *lat, uint64_t seq)
{
	lat_begin(lat, slot, seq);
	int64_t at = (int64_t)file_offset(rng, job->fsize);
	if (job->fixed) /* every op's buffer lies in registered buffer 0 */
		return cport_read_fixed(port, &ops[slot], fd, ops[slot].user, 4096, at, 0);
	return cport_read(port, &ops[slot], fd, ops[slot].user, 4096, at);
}

/* Keep `qd` random 4 KiB reads in flight until n have completed. */
static int file_read_loop(const struct job *job, cport *port, int fd, cport_op *ops,
			  cport_op **out, struct lat *lat, struct sample *s)
{
	unsigned qd = job->param;
	uint64_t rng = 0x9E3779B97F4A7C15ull, issued = 0, done = 0;
	for (unsigned i = 0; i < qd && issued < job->n; i++, issued++) {
		int r = file_read_one(job, port, fd, ops, i, &rng, lat, issued);
		if (r < 0)
			return bench_fail(s, r, "cport_read");
	}
	while (done < job->n) {
		int k = cport_wait(port, out, qd, -1);
		if (k < 0)
			return bench_fail(s, k, "cport_wait");
		for (int i = 0; i < k; i++, done++) {
			unsigned slot = (unsigned)(out[i] - ops);
			lat_end(lat, slot);
			if (out[i]->result != 4096)
				return bench_fail(s, out[i]->result < 0 ? (int)out[i]->result : -5,
						  "read");
			if (issued == job->n)
				continue;
			int r = file_read_one(job, port, fd, ops, slot, &rng, lat, issued);
			if (r < 0)
				return bench_fail(s, r, "cport_read");
			issued++;
		}
	}
	return 0;
}

/* file-read-4k (oflags 0: from the page cache) and file-read-direct (O_DIRECT: from the
 * disk; the buffers and offsets are 4 KiB-aligned, which O_DIRECT needs). */
static int file_read(const struct job *job, struct sample *s, int oflags)
{
	int fd = open(job->path, O_RDONLY | O_CLOEXEC | oflags);
	if (fd < 0)
		return bench_fail(s, -1, "open the data file");
	cport *port;
	int r = bport_create(job, 0, &port, s);
	if (r < 0) {
		close(fd);
		return r;
	}
	unsigned qd = job->param;
	cport_op *ops = calloc(qd, sizeof *ops);
	cport_op **out = calloc(qd, sizeof *out);
	char *bufs = aligned_alloc(4096, (size_t)qd * 4096);
	for (unsigned i = 0; i < qd; i++)
		ops[i].user = bufs + (size_t)i * 4096;
	/* A read and an fsync before measuring: the thread pool starts on first use, which
	 * is setup (the readiness backends' reads of cached data never reach it, and a
	 * read the cache lacks would start it during the run). */
	cport_iovec reg = {bufs, (size_t)qd * 4096};
	if (job->fixed && (r = cport_register_buffers(port, &reg, 1)) < 0)
		bench_fail(s, r, "cport_register_buffers");
	else if ((r = cport_read(port, &ops[0], fd, bufs, 4096, 0)) < 0)
		bench_fail(s, r, "cport_read");
	else if ((r = bport_reap(port, 1, s)) == 0 && (r = cport_fsync(port, &ops[0], fd, 0)) < 0)
		bench_fail(s, r, "cport_fsync");
	else if (r == 0)
		r = bport_reap(port, 1, s);
	struct lat lat;
	if (lat_init(&lat, qd, job->n, LAT_EVERY) < 0 && r == 0)
		r = bench_fail(s, -12, "calloc");
	struct meter m;
	meter_start(&m);
	if (r == 0)
		r = file_read_loop(job, port, fd, ops, out, &lat, s);
	if (r == 0)
		meter_stop(&m, s, job->n);
	lat_finish(&lat, r == 0 ? s : NULL);
	cport_destroy(port);
	close(fd);
	free(ops);
	free(out);
	free(bufs);
	return r;
}

int wl_file_read(const struct job *job, struct sample *s)
{
	return file_read(job, s, 0);
}

int wl_file_read_direct(const struct job *job, struct sample *s)
{
	return file_read(job, s, O_DIRECT);
}

/* Reap one completion, which must have the result `want`. */
static int reap_one(cport *port, int64_t want, struct sample *s, const char *what)
{
	cport_op *out;
	int k;
	while ((k = cport_wait(port, &out, 1, -1)) == 0)
		;
	if (k < 0)
		return bench_fail(s, k, "cport_wait");
	if (out->result != want)
		return bench_fail(s, out->result < 0 ? (int)out->result : -5, what);
	return 0;
}

/* Wait for `op` itself, as a synchronous caller does (cport_wait_op: an op already
 * complete, as an inline one is, is taken without a system call). */
static int wait_op(cport *port, cport_op *op, int64_t want, struct sample *s, const char *what)
{
	int k = cport_wait_op(port, op, -1);
	if (k < 0)
		return bench_fail(s, k, "cport_wait_op");
	if (op->result != want)
		return bench_fail(s, op->result < 0 ? (int)op->result : -5, what);
	return 0;
}

/* One append: the write and its fdatasync. job->param is the write's op->flags: 0, the
 * caller waits for the write before it submits the fdatasync (two waits); CPORT_OP_LINK,
 * both are submitted at once and reaped by one loop of waits (cport starts the
 * fdatasync when the write succeeded). */
static int append_one(cport *port, cport_op *w, cport_op *f, int fd, const char *buf, int64_t at,
		      uint32_t flags, struct sample *s)
{
	w->flags = flags;
	int r = cport_write(port, w, fd, buf, 4096, at);
	if (r < 0)
		return bench_fail(s, r, "cport_write");
	if (!(flags & CPORT_OP_LINK) && (r = reap_one(port, 4096, s, "append")) < 0)
		return r;
	if ((r = cport_fsync(port, f, fd, CPORT_FSYNC_DATA)) < 0)
		return bench_fail(s, r, "cport_fsync");
	if (!(flags & CPORT_OP_LINK))
		return reap_one(port, 0, s, "fdatasync");
	cport_op *out[2];
	for (int got = 0, k; got < 2; got += k) {
		if ((k = cport_wait(port, out, 2, -1)) < 0)
			return bench_fail(s, k, "cport_wait");
		for (int i = 0; i < k; i++)
			if (out[i]->result != (out[i] == w ? 4096 : 0))
				return bench_fail(s, out[i]->result < 0 ? (int)out[i]->result : -5,
						  out[i] == w ? "append" : "fdatasync");
	}
	return 0;
}

/* A write-ahead log: append 4 KiB at the end, fdatasync; n times. */
int wl_file_append(const struct job *job, struct sample *s)
{
	char path[512];
	snprintf(path, sizeof path, "%s/cport-bench-wal.%d", job->dir, (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return bench_fail(s, -1, "create the log file");
	cport *port = NULL;
	int r = bport_create(job, 0, &port, s);
	static char buf[4096];
	memset(buf, 'w', sizeof buf);
	cport_op w = {0}, f = {0};
	/* Setup: one fdatasync first, so a thread pool (readiness backends) is running. */
	if (r == 0 && (r = cport_fsync(port, &f, fd, CPORT_FSYNC_DATA)) == 0)
		r = reap_one(port, 0, s, "fdatasync");
	struct meter m;
	meter_start(&m);
	for (uint64_t i = 0; r == 0 && i < job->n; i++)
		r = append_one(port, &w, &f, fd, buf, (int64_t)(i * 4096), job->param, s);
	if (r == 0)
		meter_stop(&m, s, job->n);
	else if (s->err == 0)
		bench_fail(s, r, "submit");
	cport_destroy(port);
	close(fd);
	unlink(path);
	return r;
}

/* ---- One op at a time: stat, fstat, a buffered write ------------------------------------ */

/*
 * What a synchronous caller (a database's VFS) pays per op: submit one, wait for it
 * (cport_wait_op), the next. job->param is op->flags: 0 or CPORT_OP_INLINE.
 * stat: the data file by path; fstat: its descriptor; file-write-4k: 4 KiB at a random
 * 4 KiB-aligned offset of an 8 MiB file written at setup (so every write overwrites
 * page-cached blocks: no allocation, no disk wait).
 */
static int depth1_submit(cport *port, cport_op *op, enum depth1_kind kind, const struct job *job,
			 int fd, cport_statbuf *st, const char *buf, uint64_t *rng)
{
	switch (kind) {
	case D1_STAT: return cport_stat(port, op, job->path, st);
	case D1_FSTAT: return cport_fstat(port, op, fd, st);
	default:
		return cport_write(port, op, fd, buf, 4096,
				   (int64_t)file_offset(rng, WRITE_FILE_BYTES));
	}
}

static int depth1(const struct job *job, struct sample *s, enum depth1_kind kind)
{
	char path[512];
	int fd;
	int r = depth1_open(job, kind, &fd, path, sizeof path);
	if (r < 0) {
		depth1_close(fd, path);
		return bench_fail(s, r, "open or make the file");
	}
	cport *port = NULL;
	r = bport_create(job, 0, &port, s);
	static char buf[4096] __attribute__((aligned(4096)));
	cport_statbuf st;
	cport_op op = {0};
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	int64_t want = kind == D1_WRITE ? 4096 : 0;
	/* Setup: one op first, so a thread pool is running where the op needs one. */
	if (r == 0 && (r = depth1_submit(port, &op, kind, job, fd, &st, buf, &rng)) == 0)
		r = wait_op(port, &op, want, s, "warm-up");
	struct meter m;
	meter_start(&m);
	for (uint64_t i = 0; r == 0 && i < job->n; i++) {
		op.flags = job->param;
		if ((r = depth1_submit(port, &op, kind, job, fd, &st, buf, &rng)) < 0)
			bench_fail(s, r, "submit");
		else
			r = wait_op(port, &op, want, s, "op");
	}
	if (r == 0)
		meter_stop(&m, s, job->n);
	cport_destroy(port);
	depth1_close(fd, path);
	return r;
}

int wl_stat(const struct job *job, struct sample *s)
{
	return depth1(job, s, D1_STAT);
}

int wl_fstat(const struct job *job, struct sample *s)
{
	return depth1(job, s, D1_FSTAT);
}

int wl_file_write(const struct job *job, struct sample *s)
{
	return depth1(job, s, D1_WRITE);
}
