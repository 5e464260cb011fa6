/* SPDX-License-Identifier: MIT */
/* cport-bench: the types shared by the harness, the workloads, the references and peers. */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The parameters of one run of one row: what to do and how much of it. */
struct job {
	const char *backend; /* cport rows: the backend name */
	bool pool;           /* cport rows: send file ops to the thread pool */
	bool fixed;          /* cport rows: reads into registered buffers (cport_read_fixed) */
	bool recvpool;       /* cport rows: receives from a buffer pool (cport_recv_pool,
	                        multishot) instead of cport_read into a buffer of its own */
	uint32_t send_flags; /* large-send's cport rows: cport_send's flags (CPORT_SEND_ZC,
	                        CPORT_SEND_NOZC or 0: zero-copy from the threshold up) */
	unsigned mt;         /* mt-echo, mt-uneven: the server's kind (MT_ONE...) */
	unsigned threads;    /* ...and its threads in all */
	unsigned param;      /* batch size, queue depth, idle connections, or op->flags */
	uint64_t n;          /* operations to measure */
	const char *dir;     /* where file-append-sync and file-write-4k put their files */
	const char *path;    /* the data file: read (file-read-4k, file-read-direct), stat */
	uint64_t fsize;      /* its size in bytes */
};

/* What one run measured. Filled by the run function between meter_start/meter_stop;
 * the harness adds the peak RSS. err < 0 (a CPORT_E* / -errno code) marks a failed run
 * and `msg` says what failed. */
struct sample {
	double wall_ns;
	double cpu_ns;     /* user + system CPU of every thread in the process */
	uint64_t ops;
	int64_t allocs;    /* malloc/calloc/realloc/memalign calls; -1: not counted */
	double p50_ns;     /* per-op latency percentiles, 0 when not measured */
	double p99_ns;
	int64_t maxrss_kb; /* peak resident set of the process that ran it */
	int err;
	char msg[120];
};

/* A run function: set up, meter_start, do job->n operations, meter_stop, tear down.
 * Returns 0, or a negative code with s->msg set (bench_fail). */
typedef int (*run_fn)(const struct job *job, struct sample *s);

/* alloc.c: allocation counting by interposing malloc (off under sanitizers) */
void alloc_count_enable(bool on);
int64_t alloc_count(void); /* -1 when the hook is not built in */

/* util.c: the measured phase, errors, random numbers, percentiles */
struct meter {
	double t0, cpu0;
	int64_t a0;
};
double now_ns(void);
double cpu_ns(void);
void meter_start(struct meter *m);
void meter_stop(struct meter *m, struct sample *s, uint64_t ops);
int bench_fail(struct sample *s, int err, const char *what);
uint64_t rng_next(uint64_t *state);
int cmp_double(const void *a, const void *b);
void latency_percentiles(double *lat, uint64_t n, struct sample *s);

/* util.c: sampled per-op latency for loops with many ops in flight. Every `every`-th
 * op started is timed from its submit to its completion (two clock reads per timed op),
 * so the timing costs a few ns per op overall. `slot` names the op in flight (its index
 * in the loop's array). */
struct lat {
	double *t0; /* per slot: start time of a timed op, 0 if the op there is not timed */
	double *v;  /* latencies measured */
	uint64_t n, cap;
	unsigned every;
};
#define LAT_EVERY 16 /* file-read-4k times one read in 16 */
int lat_init(struct lat *l, unsigned slots, uint64_t ops, unsigned every);
void lat_finish(struct lat *l, struct sample *s); /* percentiles into s, then free */

static inline void lat_begin(struct lat *l, unsigned slot, uint64_t seq)
{
	l->t0[slot] = seq % l->every == 0 ? now_ns() : 0;
}

static inline void lat_end(struct lat *l, unsigned slot)
{
	if (l->t0[slot] > 0 && l->n < l->cap)
		l->v[l->n++] = now_ns() - l->t0[slot];
}

/* net.c: loopback TCP connections made with plain POSIX calls */
int net_listen(int *lfd);
int net_pair(int lfd, int *cfd, int *sfd, bool nonblock);
int net_raise_nofile(unsigned want);
void net_close_abort(int fd);
/* Connections [0, busy) carry the workload, [busy, busy + idle) stay idle. */
struct net_set {
	int lfd;
	int *cfd, *sfd; /* client and server ends */
	unsigned busy, idle, opened;
};
int net_set_open(struct net_set *ns, unsigned busy, unsigned idle, bool nonblock);
void net_set_close(struct net_set *ns);
void net_set_release(struct net_set *ns);

/* Workloads on cport (one implementation for every backend). bport_create makes the
 * job's port (strict: never another backend) with `depth` SQ entries (0: default). */
struct cport;
int bport_create(const struct job *job, unsigned depth, struct cport **port, struct sample *s);
int bport_reap(struct cport *port, unsigned want, struct sample *s);

int wl_nop(const struct job *, struct sample *);
int wl_post(const struct job *, struct sample *);
int wl_post_remote(const struct job *, struct sample *);
int wl_timers(const struct job *, struct sample *);
uint64_t timer_ns(uint64_t i); /* million-timers: when timer i fires after its start */
int wl_file_read(const struct job *, struct sample *);
int wl_file_read_direct(const struct job *, struct sample *);
int wl_file_append(const struct job *, struct sample *);
int wl_stat(const struct job *, struct sample *);
int wl_fstat(const struct job *, struct sample *);
int wl_file_write(const struct job *, struct sample *);
int wl_ping_pongs(const struct job *, struct sample *);
int wl_tcp_echo(const struct job *, struct sample *);
int wl_tcp_pump(const struct job *, struct sample *);
int wl_large_send(const struct job *, struct sample *);
/* wl-mt.c: servers on several threads (mt-echo, mt-uneven); job->mt is one of: */
enum { MT_ONE = 1, MT_SHARED, MT_SHARDED };
int wl_mt_echo(const struct job *, struct sample *);
int wl_mt_uneven(const struct job *, struct sample *);
/* ...and the Asio peer's rows (bench/peer-asio.cc), when built with Asio */
int asio_mt_echo(const struct job *, struct sample *);
int asio_mt_uneven(const struct job *, struct sample *);
#ifdef BENCH_HAVE_ASIO
#define ASIO_ROW(fn) fn
#else
#define ASIO_ROW(fn) NULL
#endif

/* ref-uring.c: raw liburing loops, the limit */
int ref_uring_nop(const struct job *, struct sample *);
int ref_uring_timers(const struct job *, struct sample *);
int ref_uring_file_read(const struct job *, struct sample *);
int ref_uring_file_read_direct(const struct job *, struct sample *);
int ref_uring_file_append(const struct job *, struct sample *);
int ref_uring_ping_pongs(const struct job *, struct sample *);
int ref_uring_tcp_echo(const struct job *, struct sample *);
int ref_uring_tcp_pump(const struct job *, struct sample *);
int ref_uring_large_send(const struct job *, struct sample *);
bool ref_uring_available(char *why, size_t n);

/* ref-epoll.c: raw epoll loops, the limit for readiness backends */
int ref_epoll_ping_pongs(const struct job *, struct sample *);
int ref_epoll_tcp_echo(const struct job *, struct sample *);
int ref_epoll_tcp_pump(const struct job *, struct sample *);
int ref_epoll_large_send(const struct job *, struct sample *);

/* peer-sys.c: plain blocking system calls */
int sys_file_read(const struct job *, struct sample *);
int sys_file_append(const struct job *, struct sample *);
int sys_stat(const struct job *, struct sample *);
int sys_fstat(const struct job *, struct sample *);
int sys_file_write(const struct job *, struct sample *);
int sys_ping_pongs(const struct job *, struct sample *);
int sys_tcp_pump(const struct job *, struct sample *);

/* peer-uv.c: libuv, when built with it */
extern const bool have_uv;
const char *peer_uv_version(void); /* uv_version_string(); NULL when built without libuv */
int uv_timers(const struct job *, struct sample *);
int uv_file_read(const struct job *, struct sample *);
int uv_ping_pongs(const struct job *, struct sample *);
int uv_tcp_echo(const struct job *, struct sample *);

/* util.c: a file of `size` bytes named DIR/cport-bench-STEM.PID, written and read back
 * so that it is in the page cache: the data file ("read") of the file workloads, the
 * file that file-write-4k overwrites ("write"). */
int file_make(const char *dir, const char *stem, uint64_t size, char *path, size_t n);
#define WRITE_FILE_BYTES (8u << 20)
/* The one-op-at-a-time workloads (wl-file.c on cport, peer-sys.c as plain calls) and
 * their descriptor: none for stat (-1), the data file for fstat, a new file of
 * WRITE_FILE_BYTES for file-write-4k, whose path depth1_close unlinks. */
enum depth1_kind { D1_STAT, D1_FSTAT, D1_WRITE };
int depth1_open(const struct job *job, enum depth1_kind kind, int *fd, char *path, size_t n);
void depth1_close(int fd, const char *path);
/* Can the data file be read with O_DIRECT, from a disk? false with the reason (a file
 * system that refuses O_DIRECT, or tmpfs, which is memory). Flushes the file first, so
 * that direct reads do not pay for its write-back. */
bool file_direct_ok(const char *path, char *why, size_t n);
/* A random 4 KiB-aligned offset in a file of `size` bytes. */
uint64_t file_offset(uint64_t *rng, uint64_t size);

/* The message sizes of the network workloads. */
#define MSG_SIZE 64
#define PUMP_CHUNK (64u * 1024)
/* large-send: the bytes of one send (its parameter), at most this many */
#define LARGE_SEND_MAX (1u << 20)
#define ECHO_CONNS 64

#endif /* BENCH_H */
