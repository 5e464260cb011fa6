/* SPDX-License-Identifier: MIT */
/* The measured phase (wall, CPU, allocations), errors, random numbers and the data file. */

#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <cport.h>

double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* CPU time of the whole process: every thread, the thread pool's and io_uring's
 * io-wq workers (threads of this process) included. */
double cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3;
}

void meter_start(struct meter *m)
{
	m->a0 = alloc_count();
	m->cpu0 = cpu_ns();
	alloc_count_enable(true);
	m->t0 = now_ns();
}

void meter_stop(struct meter *m, struct sample *s, uint64_t ops)
{
	double t1 = now_ns();
	alloc_count_enable(false);
	s->wall_ns = t1 - m->t0;
	s->cpu_ns = cpu_ns() - m->cpu0;
	s->ops = ops;
	int64_t a = alloc_count();
	s->allocs = a < 0 ? -1 : a - m->a0;
}

int bench_fail(struct sample *s, int err, const char *what)
{
	if (err >= 0)
		err = -EIO;
	s->err = err;
	snprintf(s->msg, sizeof s->msg, "%s: %s", what, cport_strerror(err));
	return err;
}

/* xorshift64*: cheap, and the same sequence for every row. */
uint64_t rng_next(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

uint64_t file_offset(uint64_t *rng, uint64_t size)
{
	return (rng_next(rng) % (size / 4096)) * 4096;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Sorts `lat` in place. */
void latency_percentiles(double *lat, uint64_t n, struct sample *s)
{
	if (n == 0)
		return;
	qsort(lat, n, sizeof *lat, cmp_double);
	s->p50_ns = lat[n / 2];
	s->p99_ns = lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
}

/* Write `size` bytes of a pattern, then read them back so they sit in the page cache. */
int file_make(const char *dir, const char *stem, uint64_t size, char *path, size_t n)
{
	snprintf(path, n, "%s/cport-bench-%s.%d", dir, stem, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	static char buf[1 << 16];
	int r = 0;
	for (uint64_t off = 0; off < size && r == 0; off += sizeof buf) {
		memset(buf, (int)(off >> 16), sizeof buf);
		if (pwrite(fd, buf, sizeof buf, (off_t)off) != (ssize_t)sizeof buf)
			r = -errno;
	}
	for (uint64_t off = 0; off < size && r == 0; off += sizeof buf)
		if (pread(fd, buf, sizeof buf, (off_t)off) != (ssize_t)sizeof buf)
			r = -EIO;
	close(fd);
	if (r < 0)
		unlink(path);
	return r;
}

int depth1_open(const struct job *job, enum depth1_kind kind, int *fd, char *path, size_t n)
{
	*fd = -1;
	path[0] = '\0';
	if (kind == D1_FSTAT && (*fd = open(job->path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (kind != D1_WRITE)
		return 0;
	int r = file_make(job->dir, "write", WRITE_FILE_BYTES, path, n);
	if (r == 0 && (*fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		r = -errno;
	return r;
}

void depth1_close(int fd, const char *path)
{
	if (fd >= 0)
		close(fd);
	if (path[0])
		unlink(path);
}

bool file_direct_ok(const char *path, char *why, size_t n)
{
	struct statfs sf;
	if (statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC) {
		snprintf(why, n, "the data file is on tmpfs (see --dir): memory, not a disk");
		return false;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		fdatasync(fd);
		close(fd);
	}
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, n, "O_DIRECT refused here: open: %s", strerror(errno));
		return false;
	}
	void *buf = aligned_alloc(4096, 4096);
	ssize_t got = buf ? pread(fd, buf, 4096, 0) : -1;
	int err = errno;
	free(buf);
	close(fd);
	if (got != 4096)
		snprintf(why, n, "O_DIRECT refused here: a 4 KiB read: %s",
			 got < 0 ? strerror(err) : "short");
	return got == 4096;
}

int lat_init(struct lat *l, unsigned slots, uint64_t ops, unsigned every)
{
	l->every = every ? every : 1;
	l->cap = ops / l->every + slots + 1;
	l->n = 0;
	l->t0 = calloc(slots, sizeof *l->t0);
	l->v = calloc(l->cap, sizeof *l->v);
	return l->t0 && l->v ? 0 : -ENOMEM;
}

void lat_finish(struct lat *l, struct sample *s)
{
	if (s)
		latency_percentiles(l->v, l->n, s);
	free(l->t0);
	free(l->v);
	l->t0 = l->v = NULL;
}
