/* SPDX-License-Identifier: MIT */
/* Plain blocking system calls where they fit: pread, pwrite, fdatasync, stat, fstat, sockets. */

/*
 * A blocking program has one operation in flight per thread, so the queue depth of
 * file-read-4k does not apply: it reads one block at a time. The socket workloads use
 * a second thread for the server end (blocking sockets, one thread each side).
 */

#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sys_file_read(const struct job *job, struct sample *s)
{
	int fd = open(job->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bench_fail(s, -errno, "open the data file");
	static char buf[4096] __attribute__((aligned(4096)));
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	struct lat lat;
	int r = lat_init(&lat, 1, job->n, LAT_EVERY);
	struct meter m;
	meter_start(&m);
	for (uint64_t i = 0; i < job->n && r == 0; i++) {
		lat_begin(&lat, 0, i);
		if (pread(fd, buf, sizeof buf, (off_t)file_offset(&rng, job->fsize)) != sizeof buf)
			r = -EIO;
		lat_end(&lat, 0);
	}
	if (r == 0)
		meter_stop(&m, s, job->n);
	lat_finish(&lat, r == 0 ? s : NULL);
	close(fd);
	return r < 0 ? bench_fail(s, r, "pread") : 0;
}

int sys_file_append(const struct job *job, struct sample *s)
{
	char path[512];
	snprintf(path, sizeof path, "%s/cport-bench-wal.%d", job->dir, (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return bench_fail(s, -errno, "create the log file");
	static char buf[4096];
	memset(buf, 'w', sizeof buf);
	int r = 0;
	struct meter m;
	meter_start(&m);
	for (uint64_t i = 0; i < job->n && r == 0; i++)
		if (pwrite(fd, buf, sizeof buf, (off_t)(i * 4096)) != sizeof buf || fdatasync(fd) < 0)
			r = -errno;
	if (r == 0)
		meter_stop(&m, s, job->n);
	close(fd);
	unlink(path);
	return r < 0 ? bench_fail(s, r, "pwrite/fdatasync") : 0;
}

/* stat, fstat, a 4 KiB pwrite: the plain calls beside cport's depth-1 rows (wl-file.c). */
static int sys_depth1(const struct job *job, struct sample *s, enum depth1_kind kind)
{
	char path[512];
	int fd;
	int r = depth1_open(job, kind, &fd, path, sizeof path);
	if (r < 0) {
		depth1_close(fd, path);
		return bench_fail(s, r, "open or make the file");
	}
	static char buf[4096] __attribute__((aligned(4096)));
	struct stat st;
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	struct meter m;
	meter_start(&m);
	for (uint64_t i = 0; i < job->n && r == 0; i++) {
		switch (kind) {
		case D1_STAT: r = stat(job->path, &st) < 0 ? -errno : 0; break;
		case D1_FSTAT: r = fstat(fd, &st) < 0 ? -errno : 0; break;
		default: {
			off_t at = (off_t)file_offset(&rng, WRITE_FILE_BYTES);
			if (pwrite(fd, buf, sizeof buf, at) != sizeof buf)
				r = -EIO;
		}
		}
	}
	if (r == 0)
		meter_stop(&m, s, job->n);
	depth1_close(fd, path);
	return r < 0 ? bench_fail(s, r, "the plain call") : 0;
}

int sys_stat(const struct job *job, struct sample *s)
{
	return sys_depth1(job, s, D1_STAT);
}

int sys_fstat(const struct job *job, struct sample *s)
{
	return sys_depth1(job, s, D1_FSTAT);
}

int sys_file_write(const struct job *job, struct sample *s)
{
	return sys_depth1(job, s, D1_WRITE);
}

/* ---- sockets: a server thread ----------------------------------------------------- */

static int full_io(int fd, char *buf, size_t len, bool rd)
{
	for (size_t done = 0; done < len;) {
		ssize_t k = rd ? read(fd, buf + done, len - done) : write(fd, buf + done, len - done);
		if (k <= 0)
			return k < 0 ? -errno : -ECONNRESET;
		done += (size_t)k;
	}
	return 0;
}

struct sys_peer {
	int fd;
	uint64_t n; /* messages (ping-pongs) or chunks (pump) */
	int err;
};

/* The server end of ping-pongs: read 64 bytes, write them back, n times. */
static void *sys_echo_server(void *arg)
{
	struct sys_peer *p = arg;
	char buf[MSG_SIZE];
	for (uint64_t i = 0; i < p->n && p->err == 0; i++)
		if ((p->err = full_io(p->fd, buf, MSG_SIZE, true)) == 0)
			p->err = full_io(p->fd, buf, MSG_SIZE, false);
	return NULL;
}

int sys_ping_pongs(const struct job *job, struct sample *s)
{
	struct net_set ns;
	int r = net_set_open(&ns, 1, 0, false);
	if (r < 0)
		return bench_fail(s, r, "connect");
	struct sys_peer srv = {.fd = ns.sfd[0], .n = job->n};
	double *lat = calloc(job->n, sizeof *lat);
	char msg[MSG_SIZE], buf[MSG_SIZE];
	memset(msg, 'a', sizeof msg);
	pthread_t t;
	pthread_create(&t, NULL, sys_echo_server, &srv); /* it blocks until the first ping */
	struct meter m;
	meter_start(&m);
	for (uint64_t i = 0; i < job->n && r == 0; i++) {
		double t0 = now_ns();
		if ((r = full_io(ns.cfd[0], msg, MSG_SIZE, false)) == 0 &&
		    (r = full_io(ns.cfd[0], buf, MSG_SIZE, true)) == 0)
			lat[i] = now_ns() - t0;
	}
	if (r == 0) {
		meter_stop(&m, s, job->n);
		latency_percentiles(lat, job->n, s);
	}
	shutdown(ns.cfd[0], SHUT_RDWR); /* unblocks the server if we stopped early */
	pthread_join(t, NULL);
	net_set_close(&ns);
	free(lat);
	return r < 0 ? bench_fail(s, r, "ping-pong") : 0;
}

static void *sys_pump_writer(void *arg)
{
	struct sys_peer *p = arg;
	char *buf = calloc(1, PUMP_CHUNK);
	for (uint64_t i = 0; i < p->n && p->err == 0; i++)
		p->err = full_io(p->fd, buf, PUMP_CHUNK, false);
	free(buf);
	return NULL;
}

int sys_tcp_pump(const struct job *job, struct sample *s)
{
	struct net_set ns;
	int r = net_set_open(&ns, 1, 0, false);
	if (r < 0)
		return bench_fail(s, r, "connect");
	struct sys_peer w = {.fd = ns.cfd[0], .n = job->n};
	char *buf = malloc(PUMP_CHUNK);
	uint64_t total = job->n * PUMP_CHUNK, got = 0;
	pthread_t t;
	struct meter m;
	meter_start(&m);
	pthread_create(&t, NULL, sys_pump_writer, &w);
	while (got < total && r == 0) {
		ssize_t k = read(ns.sfd[0], buf, PUMP_CHUNK);
		if (k <= 0)
			r = k < 0 ? -errno : -ECONNRESET;
		else
			got += (uint64_t)k;
	}
	if (r == 0)
		meter_stop(&m, s, job->n);
	shutdown(ns.sfd[0], SHUT_RDWR);
	pthread_join(t, NULL);
	net_set_close(&ns);
	free(buf);
	return r < 0 ? bench_fail(s, r, "pump") : 0;
}
