/* SPDX-License-Identifier: MIT */
/* File workloads on cport: random 4 KiB reads at a queue depth, appends with fdatasync. */

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
	return cport_read(port, &ops[slot], fd, ops[slot].user, 4096,
			  (int64_t)file_offset(rng, job->fsize));
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

int wl_file_read(const struct job *job, struct sample *s)
{
	int fd = open(job->path, O_RDONLY | O_CLOEXEC);
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
	/* One read before measuring: the thread pool starts on first use, which is setup. */
	if ((r = cport_read(port, &ops[0], fd, bufs, 4096, 0)) < 0)
		bench_fail(s, r, "cport_read");
	else
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

/* Submit one op (already prepared by the caller's submit call) and reap it. */
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

/* A write-ahead log: append 4 KiB, wait, fdatasync, wait; n times. */
int wl_file_append(const struct job *job, struct sample *s)
{
	char path[512];
	snprintf(path, sizeof path, "%s/cport-bench-wal.%d", job->dir, (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return bench_fail(s, -1, "create the log file");
	cport *port;
	int r = bport_create(job, 0, &port, s);
	static char buf[4096];
	memset(buf, 'w', sizeof buf);
	cport_op op = {0};
	/* Setup: one fdatasync first, so a thread pool (readiness backends) is running. */
	if (r == 0 && (r = cport_fsync(port, &op, fd, CPORT_FSYNC_DATA)) == 0)
		r = reap_one(port, 0, s, "fdatasync");
	struct meter m;
	meter_start(&m);
	for (uint64_t i = 0; r == 0 && i < job->n; i++) {
		if ((r = cport_write(port, &op, fd, buf, sizeof buf, (int64_t)(i * 4096))) < 0 ||
		    (r = reap_one(port, 4096, s, "append")) < 0)
			break;
		if ((r = cport_fsync(port, &op, fd, CPORT_FSYNC_DATA)) < 0 ||
		    (r = reap_one(port, 0, s, "fdatasync")) < 0)
			break;
	}
	if (r == 0)
		meter_stop(&m, s, job->n);
	else if (s->err == 0)
		bench_fail(s, r, "submit");
	cport_destroy(port);
	close(fd);
	unlink(path);
	return r;
}
