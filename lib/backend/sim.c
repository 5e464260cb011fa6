/* SPDX-License-Identifier: MIT */
/*
 * The simulation engine (cport.h section 8): ops are performed against a world in
 * memory (lib/backend/simdisk.c's files, the streams below) at a seeded virtual time.
 *
 * How an op runs. `start` gives it a latency and puts it in the event heap, keyed by
 * (virtual time, start number), so equal times keep their order and every run of a
 * seed is the same. A stream op (read and write at offset -1, recv, send, ...) goes
 * through the descriptor engine first (lib/fdstate.c): only the head of each side is
 * ever in the heap, so the stream rules hold as on every backend. When an event comes
 * the op is performed, with the profile's faults: it completes, or it moved some bytes
 * and goes on later, or (a stream with nothing to read or no room) it waits, parked,
 * until the other end changes the stream. Timers and timeouts are the middle tier's
 * (lib/timer.c, fdstate.c), on the port's virtual clock (port->vclock).
 *
 * reap: run what is due, then let virtual time jump to the next event or deadline;
 * with nothing left to happen, a wait with a timeout spends it at once, and one
 * without a timeout sleeps for real until another thread posts.
 */
#include "simdisk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <unistd.h>
#endif

#ifndef S_IFSOCK
#define S_IFSOCK 0140000 /* mingw has none: cport_statbuf.mode has Linux's values (win.c) */
#endif

/* ---- 1. State ------------------------------------------------------------------------ */

/* What a descriptor is. Every kind from SIM_STREAM on is a socket. */
enum {
	SIM_FILE = 1,
	SIM_DIR,
	SIM_STREAM, /* a connected stream: a socketpair's end, or a connection */
	SIM_SOCK,   /* a TCP socket not connected yet (cport_tcp_socket) */
	SIM_LISTEN, /* a listening socket (cport_tcp_listen, cport_local_listen) */
	SIM_DGRAM   /* a UDP socket (cport_udp_socket) */
};

/* A datagram waiting in its receiver's queue. */
struct sim_dgram {
	struct sim_dgram *next;
	struct cport__addr_ip from;
	uint32_t len;
	uint8_t data[];
};

/* One direction of a stream: bytes written by one end, read by the other. */
struct sim_pipe {
	uint8_t *buf;
	uint32_t cap, head, len;
	bool shut;   /* the writer shut down or closed: end of stream after `len` */
	bool gone;   /* the reader closed: sends are CPORT_EPIPE */
	bool reset;  /* the connection was reset: CPORT_ECONNRESET both ways */
	uint32_t refs;
};

struct sim_desc {
	uint8_t kind;                 /* SIM_* */
	bool rd, wr, append, dsync;
	bool rd_shut;                 /* a stream end shut for receiving: end of stream */
	bool out_shut;                /* SIM_DGRAM: shut for sending */
	bool parked[2];               /* the head of side s tried and waits for the peer */
	uint32_t tid;                 /* the trace's name for it on port `tport` */
	uint64_t tport;               /* the serial of the port that named it last */
	struct sim_desc *peer;        /* a stream's other end, NULL once it closed */
	struct cport_sim_disk *disk;  /* SIM_FILE, SIM_DIR: the disk it was opened on */
	struct simdisk_file *file;    /* SIM_FILE, SIM_DIR */
	char *path;                   /* SIM_DIR: for its flush */
	uint64_t pos;                 /* SIM_FILE: offset -1 reads and writes */
	struct sim_pipe *in, *out;    /* SIM_STREAM */
	/* Sockets with addresses (section 5b). `me`: bound (or given by a connect);
	 * `them`: the peer of a connection or of a connected datagram socket. */
	bool has_me, has_them, reuseport;
	struct cport__addr_ip me, them;
	char *lname;                  /* a local stream's name (cport_local_listen) */
	struct sim_desc **backlog;    /* SIM_LISTEN: connections not accepted yet */
	uint32_t nback, maxback;
	struct sim_dgram *dq, *dq_tail; /* SIM_DGRAM: datagrams to receive, oldest first */
	uint32_t dq_bytes;
};

/* The op's part of opx.be: its place in the event heap. */
struct sim_x {
	uint32_t idx;   /* 1-based heap index; 0: not in the heap */
	uint32_t desc;  /* the trace's id of its descriptor, 0 for none */
	uint64_t due;   /* virtual time it runs at */
	uint64_t seq;   /* its start number: the trace's name, the heap's tie-break */
	/* A sendfile: the file it sends, held from its submit (a close of the file's
	 * descriptor meanwhile changes nothing, as on the OS), and its links on the port's
	 * list of them (destroy lets go of their files). */
	struct simdisk_file *src;
	cport_op *snext, *sprev;
	uint32_t cflags; /* a pool receive's last try: CPORT_BUF and the buffer's id */
};
CPORT__BE_FITS(struct sim_x);

/*
 * The simulated world: the descriptors, and the disk of ports that name none. Shared
 * by every sim port of the process, as the OS's descriptors are by every port: one
 * made on a port may be used on another and outlives the port that made it (destroy
 * closes nothing the caller holds). It ends with the last sim port. One mutex,
 * recursive (a reap starts ops a link released): every engine slot and cport_sim_*
 * call holds it; posts from other threads never touch the world.
 */
static struct sim_world {
	pthread_mutex_t mu;
	struct sim_desc **descs;      /* indexed by the number's slot (SIM_SLOT) */
	uint32_t ndescs;
	int null_fd;                  /* Unix: /dev/null, whose dups are the numbers */
	cport_sim_disk *disk;         /* the default disk */
	uint32_t ports;
	uint64_t serial;              /* ports made so far (trace names of descriptors) */
	struct sim *sleepers;         /* ports asleep for real in their reap (sim_sleep) */
	uint16_t next_port;           /* the next ephemeral port to try */
	uint32_t spread;              /* connections spread over CPORT_SOCK_REUSEPORT */
} sim_w = {.null_fd = -1};
/* sim_w.ports, readable without the mutex: the socket helpers' question (sim_net). */
static atomic_uint sim_live;
static pthread_once_t sim_once = PTHREAD_ONCE_INIT;

/*
 * The OS's part, all of it here. A descriptor's number is a real descriptor of the
 * process that names nothing useful, so it never collides with the program's own and
 * the descriptor engine sees it open (cport__os_fd_valid): on Unix a dup of /dev/null,
 * on Windows a duplicate of one handle to NUL. The world's table is indexed by the
 * number's slot: the number itself on Unix; on Windows the handle value / 4, as
 * handle values are multiples of 4 (fdstate.c) and would leave 3 slots of 4 unused.
 */
#ifdef _WIN32
#define SIM_SLOT_SHIFT 2
static HANDLE sim_null = INVALID_HANDLE_VALUE; /* NUL, open while the world lives */

static int sim_os_null_open(char *why, size_t n)
{
	sim_null = CreateFileW(L"NUL", GENERIC_READ | GENERIC_WRITE,
			       FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0, NULL);
	if (sim_null != INVALID_HANDLE_VALUE)
		return 0;
	cport__why(why, n, "sim", "cannot open NUL", cport__win_error(GetLastError()));
	return CPORT_ENODEV;
}

static void sim_os_null_close(void)
{
	CloseHandle(sim_null);
	sim_null = INVALID_HANDLE_VALUE;
}

/* A new number (not inherited, as O_CLOEXEC), or CPORT_EMFILE. Handle values keep to
 * 32 bits (Windows says so, for 32-bit processes' sake): one past INT_MAX is refused
 * rather than truncated. */
static int sim_os_number_new(void)
{
	HANDLE h;
	if (!DuplicateHandle(GetCurrentProcess(), sim_null, GetCurrentProcess(), &h, 0, FALSE,
			     DUPLICATE_SAME_ACCESS))
		return CPORT_EMFILE;
	if ((uintptr_t)h > INT32_MAX || ((uintptr_t)h & 3)) {
		CloseHandle(h);
		return CPORT_EMFILE;
	}
	return (int)(uintptr_t)h;
}

static void sim_os_number_close(int fd)
{
	CloseHandle((HANDLE)(uintptr_t)fd);
}
#else
#define SIM_SLOT_SHIFT 0

static int sim_os_null_open(char *why, size_t n)
{
	sim_w.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (sim_w.null_fd >= 0)
		return 0;
	cport__why(why, n, "sim", "cannot open /dev/null", -errno);
	return CPORT_ENODEV;
}

static void sim_os_null_close(void)
{
	close(sim_w.null_fd);
	sim_w.null_fd = -1;
}

static int sim_os_number_new(void)
{
	int fd = fcntl(sim_w.null_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return errno == EMFILE ? CPORT_EMFILE : CPORT_ENFILE;
	return fd;
}

static void sim_os_number_close(int fd)
{
	close(fd);
}
#endif

/* A number's slot in sim_w.descs, and back. */
#define SIM_SLOT(fd) ((uint32_t)(fd) >> SIM_SLOT_SHIFT)
#define SIM_NUMBER(slot) ((int)((slot) << SIM_SLOT_SHIFT))

struct sim {
	uint64_t now;                 /* the virtual clock (port->vclock points here) */
	uint64_t rng;
	uint64_t serial;              /* this port's number in the world */
	cport_sim_profile prof;
	cport_sim_disk *disk;         /* the profile's, or the world's */
	uint32_t next_id;             /* trace names given to descriptors */
	cport_op **heap;              /* events: a binary min-heap on (due, seq) */
	uint32_t nheap, heap_cap;
	uint64_t seq;
	uint64_t hash;                /* FNV-1a of every trace record */
	char *text;                   /* CPORT_SIM_TRACE: the trace's lines */
	size_t text_len, text_cap;
	pthread_mutex_t mu;           /* a real sleep, for posts from other threads */
	pthread_cond_t cv;
	bool woken;
	struct sim *sleep_next;       /* on sim_w.sleepers while asleep */
	cport_op *sendfiles;          /* sendfiles in flight, holding their files */
};

#define SIM_START_NS 1000000000u /* virtual time starts at 1 s: deadline 0 is "none" */
#define SIM_WAIT INT64_MIN       /* a stream op must wait for its peer */
#define SIM_AGAIN (INT64_MIN + 1) /* it moved bytes (or met EAGAIN): it goes on later */

static struct sim *sim_of(const cport *port)
{
	return port->impl;
}

static struct sim_x *sx(cport_op *op)
{
	return (struct sim_x *)(void *)cport__x(op)->be.words;
}

static void sim_world_once(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&sim_w.mu, &a);
	pthread_mutexattr_destroy(&a);
}

static void sim_lock(void)
{
	pthread_once(&sim_once, sim_world_once);
	pthread_mutex_lock(&sim_w.mu);
}

static void sim_unlock(void)
{
	pthread_mutex_unlock(&sim_w.mu);
}

static struct sim_desc *sim_desc(cport_fd fd)
{
	/* A negative int is a huge value here: past the table, as any number not ours. */
	uintptr_t v = (uintptr_t)fd;
	if ((v & ((1u << SIM_SLOT_SHIFT) - 1)) || v >> SIM_SLOT_SHIFT >= sim_w.ndescs)
		return NULL;
	return sim_w.descs[v >> SIM_SLOT_SHIFT];
}

/* The descriptor's name in this port's trace: numbered in the order the port first
 * meets it, so the trace never holds the process's descriptor numbers. */
static uint32_t sim_tid(struct sim *s, struct sim_desc *d)
{
	if (!d)
		return 0;
	if (d->tport != s->serial) {
		d->tport = s->serial;
		d->tid = ++s->next_id;
	}
	return d->tid;
}

/* ---- 2. Seeded randomness and the trace ------------------------------------------------ */

static uint64_t sim_rand(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static bool sim_fault(struct sim *s, uint32_t ppm)
{
	return ppm && sim_rand(s) % 1000000u < ppm;
}

/* At least 1, at most n (n > 0). */
static uint64_t sim_some(struct sim *s, uint64_t n)
{
	return 1 + sim_rand(s) % n;
}

static void sim_hash(struct sim *s, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		s->hash ^= (v >> (8 * i)) & 0xffu;
		s->hash *= 0x100000001b3u;
	}
}

static const char *const sim_names[CPORT__TYPE_MAX] = {
	[CPORT__NOP] = "nop", [CPORT__TIMER] = "timer", [CPORT__POST] = "post",
	[CPORT__READ] = "read", [CPORT__WRITE] = "write", [CPORT__READV] = "readv",
	[CPORT__WRITEV] = "writev", [CPORT__FSYNC] = "fsync", [CPORT__OPEN] = "open",
	[CPORT__CLOSE] = "close", [CPORT__STAT] = "stat", [CPORT__FSTAT] = "fstat",
	[CPORT__FALLOCATE] = "fallocate", [CPORT__FTRUNCATE] = "ftruncate",
	[CPORT__RENAME] = "rename", [CPORT__UNLINK] = "unlink", [CPORT__MKDIR] = "mkdir",
	[CPORT__RECV] = "recv", [CPORT__SEND] = "send", [CPORT__RECVMSG] = "recvmsg",
	[CPORT__SENDMSG] = "sendmsg", [CPORT__SHUTDOWN] = "shutdown", [CPORT__ACCESS] = "access",
	[CPORT__POLL] = "poll", [CPORT__SENDFILE] = "sendfile", [CPORT__OPENAT] = "openat",
	[CPORT__STATFS] = "statfs", [CPORT__FADVISE] = "fadvise", [CPORT__ACCEPT] = "accept",
	[CPORT__CONNECT] = "connect", [CPORT__RECV_POOL] = "recv_pool",
	[CPORT__RECVMSG_POOL] = "recvmsg_pool",
};

/* One record: what happened to op number `seq` (0: not an op) at the virtual now. */
static void sim_trace(struct sim *s, uint64_t seq, const char *what, uint32_t desc, int64_t v)
{
	sim_hash(s, s->now);
	sim_hash(s, seq);
	for (const char *c = what; *c; c++)
		sim_hash(s, (uint8_t)*c);
	sim_hash(s, desc);
	sim_hash(s, (uint64_t)v);
	if (!(s->prof.flags & CPORT_SIM_TRACE))
		return;
	char line[160];
	int n = snprintf(line, sizeof line, "%llu.%09llu #%llu %s d%u %lld\n",
			 (unsigned long long)(s->now / 1000000000u),
			 (unsigned long long)(s->now % 1000000000u), (unsigned long long)seq, what,
			 desc, (long long)v);
	if (n <= 0 || (size_t)n >= sizeof line)
		return;
	if (s->text_len + (size_t)n + 1 > s->text_cap) {
		size_t cap = s->text_cap ? s->text_cap * 2 : 4096;
		while (cap < s->text_len + (size_t)n + 1)
			cap *= 2;
		char *t = realloc(s->text, cap);
		if (!t)
			return; /* the hash still has it */
		s->text = t;
		s->text_cap = cap;
	}
	memcpy(s->text + s->text_len, line, (size_t)n + 1);
	s->text_len += (size_t)n;
}

/* Ops whose result is a new descriptor (cport__close_result closes it if unreaped). */
static bool sim_makes_fd(const struct cport__op *x)
{
	return x->type == CPORT__OPEN || x->type == CPORT__OPENAT || x->type == CPORT__ACCEPT;
}

static void sim_trace_op(struct sim *s, cport_op *op, const char *what, int64_t v)
{
	struct cport__op *x = cport__x(op);
	if ((what[0] == 'd' || what[0] == 'm') && v >= 0 && sim_makes_fd(x) && sim_desc((cport_fd)v))
		v = sim_tid(s, sim_desc((cport_fd)v)); /* a new descriptor: by name, not number */
	const char *name = x->type < CPORT__TYPE_MAX && sim_names[x->type] ? sim_names[x->type] : "op";
	char buf[48];
	snprintf(buf, sizeof buf, "%s %s", name, what);
	sim_trace(s, sx(op)->seq, buf, sx(op)->desc, v);
}

/* ---- 3. The event heap ------------------------------------------------------------------ */

static bool sim_before(cport_op *a, cport_op *b)
{
	struct sim_x *x = sx(a), *y = sx(b);
	return x->due < y->due || (x->due == y->due && x->seq < y->seq);
}

static void sim_heap_set(struct sim *s, uint32_t i, cport_op *op)
{
	s->heap[i] = op;
	sx(op)->idx = i + 1;
}

static void sim_heap_up(struct sim *s, uint32_t i)
{
	cport_op *op = s->heap[i];
	while (i > 0 && sim_before(op, s->heap[(i - 1) / 2])) {
		sim_heap_set(s, i, s->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	sim_heap_set(s, i, op);
}

static void sim_heap_down(struct sim *s, uint32_t i)
{
	cport_op *op = s->heap[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && sim_before(s->heap[c + 1], s->heap[c]))
			c++;
		if (!sim_before(s->heap[c], op))
			break;
		sim_heap_set(s, i, s->heap[c]);
		i = c;
	}
	sim_heap_set(s, i, op);
}

static void sim_unschedule(struct sim *s, cport_op *op)
{
	uint32_t i = sx(op)->idx;
	if (i == 0)
		return;
	sx(op)->idx = 0;
	cport_op *last = s->heap[--s->nheap];
	if (i - 1 == s->nheap)
		return;
	sim_heap_set(s, i - 1, last);
	sim_heap_up(s, i - 1);
	sim_heap_down(s, sx(last)->idx - 1);
}

/* Run `op` after a seeded latency. */
static int sim_schedule(struct sim *s, cport_op *op)
{
	assert(sx(op)->idx == 0);
	if (cport__grow(&s->heap, &s->heap_cap, sizeof *s->heap, (uint64_t)s->nheap + 1, 64) < 0)
		return CPORT_ENOMEM;
	uint64_t lo = s->prof.latency_min_ns, hi = s->prof.latency_max_ns;
	sx(op)->due = s->now + lo + (hi > lo ? sim_rand(s) % (hi - lo + 1) : 0);
	sim_heap_set(s, s->nheap++, op);
	sim_heap_up(s, s->nheap - 1);
	return 0;
}

/* A sendfile holds its file until it ends (sim_dropped) or the port goes (sim_fini). */
static void sim_sendfile_hold(struct sim *s, cport_op *op)
{
	struct sim_x *v = sx(op);
	v->src = sim_desc((cport_fd)(uintptr_t)cport__x(op)->buf2)->file; /* sim_check */
	simdisk_ref(v->src);
	v->snext = s->sendfiles;
	if (s->sendfiles)
		sx(s->sendfiles)->sprev = op;
	s->sendfiles = op;
}

static void sim_sendfile_release(struct sim *s, cport_op *op)
{
	struct sim_x *v = sx(op);
	if (!v->src)
		return;
	simdisk_unref(v->src);
	v->src = NULL;
	if (v->sprev)
		sx(v->sprev)->snext = v->snext;
	else
		s->sendfiles = v->snext;
	if (v->snext)
		sx(v->snext)->sprev = v->sprev;
}

/* ---- 4. Descriptors ------------------------------------------------------------------- */

/* A new descriptor: a real number of the process (sim_os_number_new), so it never
 * collides with the program's own, and the descriptor engine sees it open. */
static void sim_desc_release(struct sim_desc *d);

static int sim_desc_install(struct sim_desc *d)
{
	int fd = sim_os_number_new();
	if (fd < 0)
		return fd;
	if (cport__grow(&sim_w.descs, &sim_w.ndescs, sizeof *sim_w.descs,
			(uint64_t)SIM_SLOT(fd) + 1, 64) < 0) {
		sim_os_number_close(fd);
		return CPORT_ENOMEM;
	}
	/* A number closed behind the world's back (close(2), which cport.h forbids, or an
	 * unreaped result destroy closed) and given out again: its old descriptor goes. */
	if (sim_w.descs[SIM_SLOT(fd)])
		sim_desc_release(sim_w.descs[SIM_SLOT(fd)]);
	sim_w.descs[SIM_SLOT(fd)] = d;
	return fd;
}

/* A new descriptor of `kind`, with its number. */
static int sim_desc_new(uint8_t kind, struct sim_desc **out)
{
	struct sim_desc *d = calloc(1, sizeof *d);
	if (!d)
		return CPORT_ENOMEM;
	d->kind = kind;
	int fd = sim_desc_install(d);
	if (fd < 0)
		free(d);
	else
		*out = d;
	return fd;
}

static void sim_pipe_unref(struct sim_pipe *p)
{
	if (p && --p->refs == 0) {
		free(p->buf);
		free(p);
	}
}

/* A stream changed: ports asleep for real may have ops on it that can go on now.
 * Only a program with ports on several threads has any (one thread never sleeps in one
 * port while it drives another). */
static void sim_wake_sleepers(void)
{
	for (struct sim *t = sim_w.sleepers; t; t = t->sleep_next) {
		pthread_mutex_lock(&t->mu);
		t->woken = true;
		pthread_cond_signal(&t->cv);
		pthread_mutex_unlock(&t->mu);
	}
}

/* A stream end closes: end of stream for the peer, CPORT_EPIPE for its sends. */
static void sim_stream_close(struct sim_desc *d)
{
	d->out->shut = true;
	d->in->gone = true;
	struct sim_desc *peer = d->peer;
	if (peer) {
		peer->peer = NULL;
		peer->parked[0] = peer->parked[1] = false;
	}
	sim_wake_sleepers();
	sim_pipe_unref(d->in);
	sim_pipe_unref(d->out);
}

/* Forget descriptor `fd`; `keep_number`: the caller still owns the number (an open's
 * result nobody reaped: destroy's cport__drop_unreaped closes it). */
static void sim_net_free(struct sim_desc *d);

/* Forget `d`, which has no number (any more). */
static void sim_desc_release(struct sim_desc *d)
{
	if (d->kind == SIM_STREAM)
		sim_stream_close(d);
	sim_net_free(d);
	if (d->file)
		simdisk_unref(d->file);
	free(d->path);
	free(d);
}

static void sim_desc_free(int fd, bool keep_number)
{
	struct sim_desc *d = sim_w.descs[SIM_SLOT(fd)];
	sim_w.descs[SIM_SLOT(fd)] = NULL;
	sim_desc_release(d);
	if (!keep_number)
		sim_os_number_close(fd);
}

static struct sim_pipe *sim_pipe_new(uint32_t cap)
{
	struct sim_pipe *p = calloc(1, sizeof *p);
	if (p && !(p->buf = malloc(cap))) {
		free(p);
		return NULL;
	}
	if (p) {
		p->cap = cap;
		p->refs = 2;
	}
	return p;
}

int cport_sim_socketpair(cport *port, cport_fd fds[2])
{
	if (!port || !fds || port->be != &cport__sim_backend)
		return CPORT_EINVAL;
	int e = cport__port_enter(port);
	if (e < 0)
		return e;
	sim_lock();
	struct sim *s = sim_of(port);
	uint32_t cap = s->prof.stream_buf ? s->prof.stream_buf : 65536;
	struct sim_pipe *ab = sim_pipe_new(cap), *ba = sim_pipe_new(cap);
	struct sim_desc *a = NULL, *b = NULL;
	int fa = ab && ba ? sim_desc_new(SIM_STREAM, &a) : CPORT_ENOMEM;
	int fb = fa >= 0 ? sim_desc_new(SIM_STREAM, &b) : fa;
	if (fb < 0) {
		if (fa >= 0) {
			free(a);
			sim_w.descs[SIM_SLOT(fa)] = NULL;
			sim_os_number_close(fa);
		}
		free(ab ? ab->buf : NULL), free(ab), free(ba ? ba->buf : NULL), free(ba);
		sim_unlock();
		cport__port_leave(port);
		return fb;
	}
	a->rd = a->wr = b->rd = b->wr = true;
	a->peer = b;
	b->peer = a;
	a->in = b->out = ba;
	a->out = b->in = ab;
	sim_trace(s, 0, "socketpair", sim_tid(s, a), sim_tid(s, b));
	fds[0] = fa;
	fds[1] = fb;
	sim_unlock();
	cport__port_leave(port);
	return 0;
}

/* ---- 5. Streams -------------------------------------------------------------------------- */

/* The buffers of a byte op: its iovecs, or its one buffer as one. */
static const cport_iovec *sim_iov(struct cport__op *x, cport_iovec *one, unsigned *cnt)
{
	switch ((enum cport__type)x->type) {
	case CPORT__READV:
	case CPORT__WRITEV:
	case CPORT__RECVMSG:
	case CPORT__SENDMSG:
		return cport__op_iov(x, cnt);
	default:
		one->base = x->buf;
		one->len = (size_t)x->len;
		*cnt = 1;
		return one;
	}
}

/* Copy up to `n` bytes between the op's buffers (from byte x->done on) and the pipe. */
static uint64_t sim_pipe_move(struct sim_pipe *p, struct cport__op *x, uint64_t n, bool in)
{
	cport_iovec one;
	unsigned cnt;
	const cport_iovec *iov = sim_iov(x, &one, &cnt);
	uint64_t moved = 0, skip;
	unsigned i = cport__iov_at(iov, cnt, x->done, &skip);
	for (; i < cnt && moved < n; i++, skip = 0) {
		uint8_t *b = (uint8_t *)iov[i].base + skip;
		uint64_t want = iov[i].len - skip < n - moved ? iov[i].len - skip : n - moved;
		for (uint64_t k = 0; k < want; k++) {
			if (in) {
				b[k] = p->buf[p->head];
				p->head = (p->head + 1) % p->cap;
			} else {
				p->buf[(p->head + p->len) % p->cap] = b[k];
			}
			p->len += in ? (uint32_t)-1 : 1u;
		}
		moved += want;
	}
	x->done += moved;
	return moved;
}

/* The other end changed the stream: its parked heads may go on. */
static void sim_unpark(struct sim *s, struct sim_desc *d)
{
	(void)s;
	if (d->peer)
		d->peer->parked[0] = d->peer->parked[1] = false;
	sim_wake_sleepers();
}

static int64_t sim_stream_reset(struct sim *s, struct sim_desc *d)
{
	d->in->reset = d->out->reset = true;
	sim_unpark(s, d);
	return CPORT_ECONNRESET;
}

/* A pool receive found data (or a datagram): a buffer of its pool, only now (NULL: the
 * pool is dry). sim_pool_keep then lends it to the completion if bytes came. */
static uint8_t *sim_pool_take(struct cport__op *x, uint32_t *size, int *id)
{
	struct cport__bufpool *bp = cport__bufpool_get(x->port, x->mode);
	if ((*id = cport__bufpool_take(bp)) < 0)
		return NULL;
	*size = bp->size;
	return (uint8_t *)bp->mem + (size_t)*id * bp->size;
}

static void sim_pool_keep(struct cport__op *x, int id, uint64_t n)
{
	struct cport__bufpool *bp = cport__bufpool_get(x->port, x->mode);
	if (n == 0) /* an empty datagram: no buffer */
		cport__bufpool_untake(x->port, bp, (uint32_t)id);
	else
		((struct sim_x *)(void *)x->be.words)->cflags =
			cport__bufpool_lend(bp, (uint32_t)id);
}

static int64_t sim_pool_stream(struct sim *s, struct sim_desc *d, struct cport__op *x)
{
	struct sim_pipe *p = d->in;
	uint32_t size;
	int id;
	uint8_t *dst = sim_pool_take(x, &size, &id);
	if (!dst)
		return CPORT_ENOBUFS;
	uint64_t n = p->len < size ? p->len : size;
	if (n > 1 && sim_fault(s, s->prof.short_ppm))
		n = sim_some(s, n - 1);
	sim_pool_keep(x, id, n);
	for (uint64_t k = 0; k < n; k++) {
		dst[k] = p->buf[p->head];
		p->head = (p->head + 1) % p->cap;
	}
	p->len -= (uint32_t)n;
	sim_unpark(s, d); /* room for the writer */
	if (x->type == CPORT__RECVMSG_POOL) {
		cport_msg *m = x->buf;
		if (m->addr)
			memset(m->addr, 0, sizeof *m->addr);
		m->flags = 0;
	}
	return (int64_t)n;
}

/* A pool receive that would find something (data, the end, a reset) with its pool dry:
 * CPORT_ENOBUFS, as on every backend. */
static bool sim_pool_dry(const struct cport__op *x)
{
	return cport__is_pool_recv(x->type) && cport__bufpool_get(x->port, x->mode)->nfree == 0;
}

static int64_t sim_stream_recv(struct sim *s, struct sim_desc *d, struct cport__op *x)
{
	struct sim_pipe *p = d->in;
	if ((p->len || p->shut || p->reset || d->rd_shut) && sim_pool_dry(x))
		return CPORT_ENOBUFS;
	if (p->reset)
		return CPORT_ECONNRESET;
	if (p->len == 0 || d->rd_shut)
		return p->shut || d->rd_shut ? 0 : SIM_WAIT;
	if (sim_fault(s, s->prof.reset_ppm))
		return sim_stream_reset(s, d);
	if (cport__is_pool_recv(x->type))
		return sim_pool_stream(s, d, x);
	uint64_t n = p->len < x->len ? p->len : x->len;
	if (n > 1 && sim_fault(s, s->prof.short_ppm))
		n = sim_some(s, n - 1);
	sim_pipe_move(p, x, n, true);
	sim_unpark(s, d); /* room for the writer */
	if (x->type == CPORT__RECVMSG) {
		cport_msg *m = x->buf;
		if (m->addr)
			memset(m->addr, 0, sizeof *m->addr); /* a stream: no sender address */
		m->flags = 0;
	}
	return (int64_t)n;
}

/* cport_sendfile's bytes: from its file at offset + done, up to what fits. The
 * file's end ends it (a shorter result), as it does on the OS. */
static int64_t sim_sendfile(struct sim *s, struct sim_desc *d, struct cport__op *x)
{
	struct sim_pipe *p = d->out;
	const struct simdisk_file *src = ((struct sim_x *)(void *)x->be.words)->src;
	uint64_t at = (uint64_t)x->offset + x->done, size = src->size;
	uint64_t left = x->len - x->done;
	if (at >= size || left == 0)
		return (int64_t)x->done;
	if (left > size - at)
		left = size - at;
	uint64_t room = p->cap - p->len, n = left < room ? left : room;
	if (n == 0)
		return SIM_WAIT;
	if (n > 1 && sim_fault(s, s->prof.short_ppm))
		n = sim_some(s, n - 1);
	for (uint64_t k = 0; k < n; k++)
		p->buf[(p->head + p->len++) % p->cap] = src->data[at + k];
	x->done += n;
	sim_unpark(s, d);
	return SIM_AGAIN; /* the next try finds the end, or moves more */
}

/* A send moves what fits; it is whole to the caller (the stream rules). */
static int64_t sim_stream_send(struct sim *s, struct sim_desc *d, struct cport__op *x)
{
	struct sim_pipe *p = d->out;
	if (x->type == CPORT__SENDMSG && ((const cport_msg *)x->buf)->addr)
		return CPORT_EISCONN; /* a connection's peer is its only destination */
	if (p->reset)
		return CPORT_ECONNRESET;
	if (p->shut || p->gone)
		return CPORT_EPIPE;
	if (sim_fault(s, s->prof.reset_ppm))
		return sim_stream_reset(s, d);
	if (x->type == CPORT__SENDFILE)
		return sim_sendfile(s, d, x);
	uint64_t room = p->cap - p->len, left = x->len - x->done;
	if (left > 0 && room == 0)
		return SIM_WAIT;
	uint64_t n = left < room ? left : room;
	if (n > 1 && sim_fault(s, s->prof.short_ppm))
		n = sim_some(s, n - 1);
	sim_pipe_move(p, x, n, false);
	sim_unpark(s, d);
	return x->done == x->len ? (int64_t)x->len : SIM_AGAIN;
}

/* cport_poll's answer now: the events of `want` that hold, and ERR and HUP. A file is
 * always ready (as poll(2) says of regular files). */
static int64_t sim_poll_events(const struct sim_desc *d, uint32_t want)
{
	uint32_t ev;
	if (d->kind == SIM_LISTEN) {
		ev = d->nback ? CPORT_POLL_IN : 0;
	} else if (d->kind == SIM_DGRAM) {
		ev = (d->dq || d->rd_shut ? CPORT_POLL_IN : 0) | CPORT_POLL_OUT;
	} else if (d->kind == SIM_SOCK) {
		ev = CPORT_POLL_OUT | CPORT_POLL_HUP; /* as Linux says of one never connected */
	} else if (d->kind != SIM_STREAM) {
		ev = CPORT_POLL_IN | CPORT_POLL_OUT;
	} else {
		const struct sim_pipe *in = d->in, *out = d->out;
		ev = 0;
		if (in->len > 0 || in->shut || d->rd_shut)
			ev |= CPORT_POLL_IN;
		if (in->shut)
			ev |= CPORT_POLL_RDHUP;
		if (out->len < out->cap || out->gone || out->shut)
			ev |= CPORT_POLL_OUT;
		if (in->shut && (out->gone || out->shut))
			ev |= CPORT_POLL_HUP;
		if (in->reset)
			ev |= CPORT_POLL_IN | CPORT_POLL_OUT | CPORT_POLL_ERR | CPORT_POLL_HUP;
	}
	return ev & (want | CPORT_POLL_ERR | CPORT_POLL_HUP);
}

static int64_t sim_stream_op(struct sim *s, struct sim_desc *d, struct cport__op *x)
{
	if (sim_fault(s, s->prof.again_ppm))
		return SIM_AGAIN; /* EAGAIN or EINTR: absorbed, tried again later */
	switch ((enum cport__type)x->type) {
	case CPORT__SHUTDOWN: /* write side, after every send before it */
		if (d->out->reset)
			return CPORT_ECONNRESET;
		d->out->shut = true;
		d->rd_shut = d->rd_shut || x->aux == CPORT_SHUT_RDWR;
		sim_unpark(s, d);
		return 0;
	case CPORT__READ:
	case CPORT__READV:
	case CPORT__RECV:
	case CPORT__RECVMSG:
	case CPORT__RECV_POOL:
	case CPORT__RECVMSG_POOL:
		return sim_stream_recv(s, d, x);
	default:
		return sim_stream_send(s, d, x);
	}
}

/* ---- 5b. The network: addresses, listeners, connections, datagrams ---------------------- */

/*
 * Sockets with addresses, as on loopback: every address is this host's. A listener or
 * datagram socket bound to a wildcard address (0.0.0.0, ::) takes what is sent to its
 * port at any address of its family; a connection to a port nobody listens on is
 * refused at once. Connections are made by the connect: the listener's backlog holds
 * them until accepted (a connect waits while it is full), and its close resets those it
 * holds. Datagrams are delivered whole or not at all: one to an address nobody is bound
 * to, or to a receiver whose queue is full, is lost, as UDP loses it.
 */

static bool sim_is_sock(const struct sim_desc *d)
{
	return d->kind >= SIM_STREAM;
}

static bool sim_ip_any(const struct cport__addr_ip *a)
{
	static const uint8_t zero[16];
	return memcmp(a->ip, zero, a->fam == CPORT_AF_INET ? 4 : 16) == 0;
}

static void sim_ip_loopback(struct cport__addr_ip *a)
{
	memset(a->ip, 0, sizeof a->ip);
	if (a->fam == CPORT_AF_INET) {
		a->ip[0] = 127;
		a->ip[3] = 1;
	} else {
		a->ip[15] = 1;
	}
}

/* Is `to` an address the socket bound to `b` takes? */
static bool sim_ip_takes(const struct cport__addr_ip *b, const struct cport__addr_ip *to)
{
	return b->fam == to->fam && b->port == to->port &&
	       (sim_ip_any(b) || memcmp(b->ip, to->ip, sizeof b->ip) == 0);
}

/* The descriptors of `kind` bound where `to` lands. */
static int sim_bound_at(uint8_t kind, const struct cport__addr_ip *to, bool *reuse)
{
	int n = 0;
	*reuse = true;
	for (uint32_t fd = 0; fd < sim_w.ndescs; fd++) {
		struct sim_desc *d = sim_w.descs[fd];
		if (d && d->kind == kind && d->has_me && sim_ip_takes(&d->me, to)) {
			n++;
			*reuse = *reuse && d->reuseport;
		}
	}
	return n;
}

/* The `i`-th of them. */
static int sim_bound_nth(uint8_t kind, const struct cport__addr_ip *to, int i)
{
	for (uint32_t fd = 0; fd < sim_w.ndescs; fd++) {
		struct sim_desc *d = sim_w.descs[fd];
		if (d && d->kind == kind && d->has_me && sim_ip_takes(&d->me, to) && i-- == 0)
			return SIM_NUMBER(fd);
	}
	return -1;
}

/* Where a connection or datagram to `to` goes: -1 if nobody is bound there. Several
 * listeners of CPORT_SOCK_REUSEPORT take turns. */
static int sim_bound(uint8_t kind, const struct cport__addr_ip *to)
{
	bool reuse;
	int n = sim_bound_at(kind, to, &reuse);
	return n == 0 ? -1 : sim_bound_nth(kind, to, (int)(sim_w.spread++ % (uint32_t)n));
}

/* Is the port of `a` taken for a socket of `kind`? Both wildcard and specific
 * addresses clash, as without SO_REUSEADDR's exception for TIME_WAIT. */
static bool sim_port_taken(uint8_t kind, const struct cport__addr_ip *a, bool reuse)
{
	for (uint32_t fd = 0; fd < sim_w.ndescs; fd++) {
		struct sim_desc *d = sim_w.descs[fd];
		if (!d || !d->has_me || d->me.fam != a->fam || d->me.port != a->port)
			continue;
		if (kind == SIM_STREAM ? d->kind == SIM_DGRAM : d->kind != SIM_DGRAM)
			continue; /* TCP and UDP ports are apart */
		if (a->port && kind == SIM_STREAM && d->kind != SIM_LISTEN)
			continue; /* SO_REUSEADDR: connections on the port do not keep it */
		bool overlap = sim_ip_any(a) || sim_ip_any(&d->me) ||
			       memcmp(a->ip, d->me.ip, sizeof a->ip) == 0;
		if (overlap && !(reuse && d->reuseport && d->kind == SIM_LISTEN))
			return true;
	}
	return false;
}

/* Bind `d` to `a` (port 0: the next free ephemeral port, 32768..60999 as on Linux). */
static int sim_bind(struct sim_desc *d, const struct cport__addr_ip *a, bool reuse)
{
	uint8_t kind = d->kind == SIM_DGRAM ? SIM_DGRAM : SIM_STREAM;
	struct cport__addr_ip b = *a;
	if (b.port == 0) {
		int tries = 60999 - 32768 + 1;
		do {
			if (sim_w.next_port < 32768 || sim_w.next_port > 60999)
				sim_w.next_port = 32768;
			b.port = sim_w.next_port++;
		} while (sim_port_taken(kind, &b, false) && --tries > 0);
		if (tries == 0)
			return CPORT_EADDRNOTAVAIL;
	} else if (sim_port_taken(kind, &b, reuse)) {
		return CPORT_EADDRINUSE;
	}
	d->me = b;
	d->has_me = true;
	d->reuseport = reuse;
	return 0;
}

/* A stream's two ends: `a` (turned into SIM_STREAM) and a new one, which gets its
 * number when it is accepted (until then no call can name it). */
static struct sim_desc *sim_connection(uint32_t cap, struct sim_desc *a)
{
	struct sim_pipe *ab = sim_pipe_new(cap), *ba = sim_pipe_new(cap);
	struct sim_desc *b = ab && ba ? calloc(1, sizeof *b) : NULL;
	if (!b) {
		free(ab ? ab->buf : NULL), free(ab), free(ba ? ba->buf : NULL), free(ba);
		return NULL;
	}
	b->kind = a->kind = SIM_STREAM;
	a->rd = a->wr = b->rd = b->wr = true;
	a->in = b->out = ba;
	a->out = b->in = ab;
	a->peer = b;
	b->peer = a;
	return b;
}

/* A connection for listener `l` from `c` to `to` (NULL: a local stream): its server
 * end waits in the backlog. */
static int sim_enqueue_conn(struct sim_desc *l, struct sim_desc *c,
			    const struct cport__addr_ip *to, uint32_t cap)
{
	if (l->nback == l->maxback)
		return CPORT_EAGAIN; /* a connect waits, a local connect says so */
	if (!l->backlog && !(l->backlog = malloc(l->maxback * sizeof *l->backlog)))
		return CPORT_ENOMEM;
	char *name = l->lname ? strdup(l->lname) : NULL;
	struct sim_desc *srv = !l->lname || name ? sim_connection(cap, c) : NULL;
	if (!srv) {
		free(name);
		return CPORT_ENOMEM;
	}
	srv->lname = name;
	if (to) {
		srv->me = *to;
		srv->has_me = true;
		if (sim_ip_any(&srv->me))
			sim_ip_loopback(&srv->me); /* 0.0.0.0 reaches this host, as on Linux */
	}
	srv->them = c->me;
	srv->has_them = c->has_me;
	c->them = srv->me;
	c->has_them = srv->has_me;
	l->backlog[l->nback++] = srv;
	l->parked[CPORT__SIDE_RECV] = false; /* an accept may go on */
	sim_wake_sleepers();
	return 0;
}

/* A connect waiting for room in a backlog tries again (an accept made room, or the
 * listener went and the connect is refused). */
static void sim_unpark_connects(void)
{
	for (uint32_t fd = 0; fd < sim_w.ndescs; fd++)
		if (sim_w.descs[fd] && sim_w.descs[fd]->kind == SIM_SOCK)
			sim_w.descs[fd]->parked[CPORT__SIDE_SEND] = false;
	sim_wake_sleepers();
}

static int64_t sim_connect(struct sim *s, struct sim_desc *d, struct cport__op *x)
{
	struct cport__addr_ip to;
	if (cport__addr_ip_get(x->buf, &to) < 0 || to.fam != d->me.fam)
		return CPORT_EAFNOSUPPORT;
	if (to.port == 0)
		return CPORT_ECONNREFUSED;
	if (d->kind == SIM_DGRAM) { /* a default peer, nothing sent */
		d->them = to;
		d->has_them = true;
		if (sim_ip_any(&d->them))
			sim_ip_loopback(&d->them);
		return 0;
	}
	if (d->kind != SIM_SOCK)
		return d->kind == SIM_STREAM ? CPORT_EISCONN : CPORT_EINVAL;
	int lfd = sim_bound(SIM_LISTEN, &to);
	if (lfd < 0)
		return CPORT_ECONNREFUSED;
	if (sim_desc(lfd)->nback == sim_desc(lfd)->maxback)
		return SIM_WAIT;
	if (!d->has_me) {
		struct cport__addr_ip me = to;
		me.port = 0;
		if (sim_ip_any(&me))
			sim_ip_loopback(&me);
		int r = sim_bind(d, &me, false);
		if (r < 0)
			return r;
	}
	uint32_t cap = s->prof.stream_buf ? s->prof.stream_buf : 65536;
	int r = sim_enqueue_conn(sim_desc(lfd), d, &to, cap);
	return r < 0 ? r : 0;
}

/* Take the oldest connection of listener `l`: its descriptor. */
static int64_t sim_accept(struct sim_desc *l, struct cport__op *x)
{
	if (l->nback == 0)
		return SIM_WAIT;
	struct sim_desc *c = l->backlog[0];
	int fd = sim_desc_install(c);
	if (fd < 0)
		return fd; /* CPORT_EMFILE, ...: the connection stays for a later accept */
	memmove(l->backlog, l->backlog + 1, --l->nback * sizeof *l->backlog);
	if (x->buf) {
		cport_addr *peer = x->buf;
		memset(peer, 0, sizeof *peer);
		if (c->has_them)
			cport__addr_ip_set(peer, &c->them); /* a local stream's peer is unnamed */
	}
	sim_unpark_connects();
	return fd;
}

/* The bytes the op's buffers hold. */
static uint64_t sim_op_room(struct cport__op *x)
{
	cport_iovec one;
	unsigned cnt;
	const cport_iovec *iov = sim_iov(x, &one, &cnt);
	uint64_t n = 0;
	for (unsigned i = 0; i < cnt; i++)
		n += iov[i].len;
	return n;
}

static int64_t sim_dgram_send(struct sim *s, struct sim_desc *d, struct cport__op *x)
{
	struct cport__addr_ip to = d->them;
	const cport_msg *m = x->type == CPORT__SENDMSG ? x->buf : NULL;
	if (m && m->addr) {
		if (cport__addr_ip_get(m->addr, &to) < 0 || to.fam != d->me.fam)
			return CPORT_EAFNOSUPPORT;
	} else if (!d->has_them) {
		return CPORT_EDESTADDRREQ;
	}
	if (d->out_shut)
		return CPORT_EPIPE;
	uint64_t n = sim_op_room(x);
	if (n > (d->me.fam == CPORT_AF_INET ? 65507u : 65527u))
		return CPORT_EMSGSIZE;
	int rfd = sim_bound(SIM_DGRAM, &to);
	struct sim_desc *r = rfd >= 0 ? sim_desc(rfd) : NULL;
	struct cport__addr_ip from = d->me;
	if (sim_ip_any(&from))
		sim_ip_loopback(&from);
	uint32_t cap = 4 * (s->prof.stream_buf ? s->prof.stream_buf : 65536);
	if (!r || (r->has_them && !sim_ip_takes(&r->them, &from)) || r->dq_bytes + n > cap)
		return (int64_t)n; /* lost on the way, as UDP may */
	struct sim_dgram *g = malloc(sizeof *g + n);
	if (!g)
		return CPORT_ENOBUFS;
	g->next = NULL;
	g->from = from;
	g->len = (uint32_t)n;
	uint64_t at = 0;
	cport_iovec one;
	unsigned cnt;
	const cport_iovec *iov = sim_iov(x, &one, &cnt);
	for (unsigned i = 0; i < cnt; i++) {
		if (iov[i].len)
			memcpy(g->data + at, iov[i].base, iov[i].len);
		at += iov[i].len;
	}
	if (r->dq_tail)
		r->dq_tail->next = g;
	else
		r->dq = g;
	r->dq_tail = g;
	r->dq_bytes += g->len;
	r->parked[CPORT__SIDE_RECV] = false;
	sim_wake_sleepers();
	return (int64_t)n;
}

static int64_t sim_dgram_recv(struct sim_desc *d, struct cport__op *x)
{
	if (d->rd_shut)
		return 0;
	bool pool = cport__is_pool_recv(x->type);
	uint64_t room = pool ? 1 : sim_op_room(x);
	struct sim_dgram *g = d->dq;
	if (room == 0 || !g)
		return room == 0 ? 0 : SIM_WAIT; /* zero bytes take nothing */
	uint32_t size;
	int id;
	uint8_t *dst = pool ? sim_pool_take(x, &size, &id) : NULL;
	if (pool && !dst)
		return CPORT_ENOBUFS;
	room = pool ? size : room;
	uint64_t n = g->len < room ? g->len : room;
	if (pool && n)
		memcpy(dst, g->data, n);
	if (pool)
		sim_pool_keep(x, id, n);
	cport_iovec one;
	unsigned cnt;
	const cport_iovec *iov = pool ? NULL : sim_iov(x, &one, &cnt);
	uint64_t at = 0;
	for (unsigned i = 0; iov && i < cnt && at < n; i++) {
		uint64_t k = iov[i].len < n - at ? iov[i].len : n - at;
		if (k)
			memcpy(iov[i].base, g->data + at, k);
		at += k;
	}
	if (x->type == CPORT__RECVMSG || x->type == CPORT__RECVMSG_POOL) {
		cport_msg *m = x->buf;
		if (m->addr)
			cport__addr_ip_set(m->addr, &g->from);
		m->flags = g->len > n ? CPORT_MSG_TRUNC : 0;
	}
	d->dq = g->next;
	if (!d->dq)
		d->dq_tail = NULL;
	d->dq_bytes -= g->len;
	free(g);
	return (int64_t)n;
}

static bool sim_is_recv(const struct cport__op *x)
{
	return x->type == CPORT__READ || x->type == CPORT__READV || x->type == CPORT__RECV ||
	       x->type == CPORT__RECVMSG || cport__is_pool_recv(x->type);
}

/* An op on a socket that is not a connected stream, or an accept or connect. */
static int64_t sim_net_op(struct sim *s, struct sim_desc *d, struct cport__op *x)
{
	if (sim_fault(s, s->prof.again_ppm))
		return SIM_AGAIN; /* EAGAIN or EINTR: absorbed, tried again later */
	if (x->type == CPORT__ACCEPT)
		return d->kind == SIM_LISTEN ? sim_accept(d, x)
		       : d->kind == SIM_DGRAM ? CPORT_ENOTSUP : CPORT_EINVAL;
	if (x->type == CPORT__CONNECT)
		return sim_connect(s, d, x);
	if (d->kind != SIM_DGRAM || (x->type == CPORT__SHUTDOWN && !d->has_them))
		return CPORT_ENOTCONN;
	if (x->type == CPORT__SHUTDOWN) {
		d->out_shut = true;
		d->rd_shut = d->rd_shut || x->aux == CPORT_SHUT_RDWR;
		return 0;
	}
	if (x->type == CPORT__SENDFILE)
		return CPORT_EINVAL;
	return sim_is_recv(x) ? sim_dgram_recv(d, x) : sim_dgram_send(s, d, x);
}

/* A listener's connections not accepted are reset; a datagram queue is dropped. */
static void sim_net_free(struct sim_desc *d)
{
	if (d->kind == SIM_LISTEN) {
		for (uint32_t i = 0; i < d->nback; i++) {
			d->backlog[i]->in->reset = d->backlog[i]->out->reset = true;
			sim_desc_release(d->backlog[i]);
		}
		d->nback = 0;
		sim_unpark_connects();
	}
	while (d->dq) {
		struct sim_dgram *g = d->dq;
		d->dq = g->next;
		free(g);
	}
	free(d->backlog);
	free(d->lname);
}

/* ---- 5c. The socket helpers on the simulation (cport.h section 6) ----------------------- */

bool cport__sim_net(void)
{
	return atomic_load_explicit(&sim_live, memory_order_relaxed) > 0;
}

bool cport__sim_fd(cport_fd fd)
{
	if (!cport__sim_net())
		return false;
	sim_lock();
	bool mine = sim_desc(fd) != NULL;
	sim_unlock();
	return mine;
}

/* A new socket of `kind`, bound to `a` (NULL: not bound), listening with `backlog`. */
static int sim_sock_new(cport_fd *out, uint8_t kind, const struct cport__addr_ip *a,
			bool reuse, int backlog)
{
	sim_lock();
	struct sim_desc *d;
	int fd = sim_w.ports ? sim_desc_new(kind, &d) : CPORT_EBADF;
	int r = fd < 0 ? fd : 0;
	if (r == 0 && a)
		r = sim_bind(d, a, reuse);
	if (r < 0 && fd >= 0)
		sim_desc_free(fd, false);
	if (r == 0) {
		d->maxback = backlog > 0 && backlog < 4096 ? (uint32_t)backlog : 4096;
		*out = fd;
	}
	sim_unlock();
	return r;
}

static int sim_sock_addr(const cport_addr *a, uint32_t flags, struct cport__addr_ip *ip)
{
	if (!a || (flags & ~(uint32_t)(CPORT_SOCK_REUSEPORT | CPORT_SOCK_V6ONLY)))
		return CPORT_EINVAL;
	return cport__addr_ip_get(a, ip) < 0 ? CPORT_EINVAL : 0;
}

int cport__sim_tcp_listen(cport_fd *out, const cport_addr *a, int backlog, uint32_t flags)
{
	struct cport__addr_ip ip;
	int r = out ? sim_sock_addr(a, flags, &ip) : CPORT_EINVAL;
	return r < 0 ? r : sim_sock_new(out, SIM_LISTEN, &ip, flags & CPORT_SOCK_REUSEPORT,
					backlog);
}

int cport__sim_tcp_socket(cport_fd *out, int family)
{
	if (!out || (family != CPORT_AF_INET && family != CPORT_AF_INET6))
		return CPORT_EINVAL;
	cport_fd fd;
	int r = sim_sock_new(&fd, SIM_SOCK, NULL, false, 0);
	if (r == 0) {
		sim_lock();
		sim_desc(fd)->me.fam = family; /* not bound: the connect picks a port */
		sim_unlock();
		*out = fd;
	}
	return r;
}

int cport__sim_udp_socket(cport_fd *out, const cport_addr *a, uint32_t flags)
{
	struct cport__addr_ip ip;
	int r = out ? sim_sock_addr(a, flags, &ip) : CPORT_EINVAL;
	return r < 0 ? r : sim_sock_new(out, SIM_DGRAM, &ip, false, 0);
}

static struct sim_desc *sim_local_find(const char *name)
{
	for (uint32_t fd = 0; fd < sim_w.ndescs; fd++) {
		struct sim_desc *d = sim_w.descs[fd];
		if (d && d->kind == SIM_LISTEN && d->lname && strcmp(d->lname, name) == 0)
			return d;
	}
	return NULL;
}

static int sim_local_name(const char *name)
{
	if (!name || !name[0])
		return CPORT_EINVAL;
	return strlen(name) > 107 ? CPORT_ENAMETOOLONG : 0;
}

int cport__sim_local_listen(cport_fd *out, const char *name, int backlog)
{
	int r = out ? sim_local_name(name) : CPORT_EINVAL;
	if (r < 0)
		return r;
	sim_lock();
	char *copy = strdup(name);
	cport_fd fd;
	r = !copy ? CPORT_ENOMEM : sim_local_find(name) ? CPORT_EADDRINUSE : 0;
	if (r == 0)
		r = sim_sock_new(&fd, SIM_LISTEN, NULL, false, backlog);
	if (r == 0) {
		sim_desc(fd)->lname = copy;
		*out = fd;
	} else {
		free(copy);
	}
	sim_unlock();
	return r;
}

int cport__sim_local_connect(cport_fd *out, const char *name)
{
	int r = out ? sim_local_name(name) : CPORT_EINVAL;
	if (r < 0)
		return r;
	sim_lock();
	struct sim_desc *l = sim_local_find(name), *c;
	cport_fd fd = -1;
	r = !l ? CPORT_ENOENT : l->nback == l->maxback ? CPORT_EAGAIN : 0;
	if (r == 0)
		r = sim_sock_new(&fd, SIM_SOCK, NULL, false, 0);
	if (r == 0) {
		c = sim_desc(fd);
		c->me.fam = CPORT_AF_UNSPEC;
		r = sim_enqueue_conn(l, c, NULL, 65536);
		if (r < 0)
			sim_desc_free((int)fd, false);
	}
	if (r == 0)
		*out = fd;
	sim_unlock();
	return r;
}

int cport__sim_sock_name(cport_fd fd, cport_addr *a, bool peer)
{
	if (!a)
		return CPORT_EINVAL;
	sim_lock();
	struct sim_desc *d = sim_desc(fd);
	int r = !d ? CPORT_EBADF : !sim_is_sock(d) ? CPORT_ENOTSOCK : 0;
	if (r == 0 && peer && !d->has_them && !(d->kind == SIM_STREAM && d->peer))
		r = CPORT_ENOTCONN;
	if (r == 0) {
		memset(a, 0, sizeof *a);
		if (peer ? d->has_them : d->has_me)
			cport__addr_ip_set(a, peer ? &d->them : &d->me);
		else if (!peer && d->lname)
			cport__addr_local_set(a, d->lname);
	}
	sim_unlock();
	return r;
}

int cport__sim_sock_opt(cport_fd fd)
{
	sim_lock();
	struct sim_desc *d = sim_desc(fd);
	int r = !d ? CPORT_EBADF : !sim_is_sock(d) ? CPORT_ENOTSOCK : 0;
	sim_unlock();
	return r;
}

int cport__sim_sock_close(cport_fd fd)
{
	sim_lock();
	int r = sim_desc(fd) ? 0 : CPORT_EBADF;
	if (r == 0) {
		cport__fd_gen_bump(fd); /* every port sees the number as new */
		sim_desc_free((int)fd, false);
	}
	sim_unlock();
	return r;
}

/* ---- 6. Files ----------------------------------------------------------------------------- */

static bool sim_is_read(const struct cport__op *x)
{
	return x->type == CPORT__READ || x->type == CPORT__READV;
}

/* A read or write of a file: at x->offset, or (-1) at the descriptor's position. */
static int64_t sim_file_io(struct sim *s, struct sim_desc *d, struct cport__op *x)
{
	bool rd = sim_is_read(x);
	if (d->kind == SIM_DIR)
		return CPORT_EISDIR;
	if (rd ? !d->rd : !d->wr)
		return CPORT_EBADF;
	struct simdisk_file *f = d->file;
	uint64_t off = x->offset >= 0 ? (uint64_t)x->offset : d->pos;
	if (!rd && d->append)
		off = f->size; /* O_APPEND: every write goes to the end, as on Linux */
	if (sim_fault(s, rd ? s->prof.eio_read_ppm : s->prof.eio_write_ppm))
		return CPORT_EIO;
	if (!rd && sim_fault(s, s->prof.enospc_ppm))
		return CPORT_ENOSPC;
	cport_iovec one;
	unsigned cnt;
	const cport_iovec *iov = sim_iov(x, &one, &cnt);
	int64_t r = rd ? simdisk_read(f, iov, cnt, off)
		       : simdisk_write(f, iov, cnt, off, (int64_t)s->now);
	if (r >= 0 && x->offset < 0)
		d->pos = off + (uint64_t)r;
	if (r > 0 && !rd && d->dsync)
		simdisk_flush(f, true); /* O_DSYNC: durable when it completes */
	return r;
}

static void sim_fill_stat(struct sim *s, cport_statbuf *st, const struct sim_desc *d,
			  const struct simdisk_file *f)
{
	memset(st, 0, sizeof *st);
	if (d && sim_is_sock(d)) {
		st->mode = S_IFSOCK | 0600;
		st->nlink = 1;
		return;
	}
	st->size = f->size;
	st->blocks = (f->size + 511) / 512;
	st->ino = f->ino;
	st->dev = 0x5349u; /* "SI" */
	st->mode = f->dir ? S_IFDIR | 0755 : S_IFREG | 0644;
	st->nlink = simdisk_nlink(s->disk, f);
	st->mtime_ns = st->ctime_ns = st->atime_ns = f->mtime_ns;
}

static int64_t sim_fsync(struct sim *s, struct sim_desc *d, const struct cport__op *x)
{
	bool fail = sim_fault(s, s->prof.fsync_ppm);
	if (sim_is_sock(d)) /* as Linux: fsync EINVAL, sync_file_range ESPIPE */
		return x->aux & CPORT__FSYNC_RANGE ? CPORT_ESPIPE : CPORT_EINVAL;
	if (d->kind == SIM_DIR)
		return fail ? CPORT_EIO : simdisk_flush_dir(s->disk, d->path);
	simdisk_flush(d->file, !fail);
	return fail ? CPORT_EIO : 0;
}

static int64_t sim_openat(struct sim *s, struct sim_desc *d, struct cport__op *x);

/* An op on a descriptor that is not a stream's byte op. */
static int64_t sim_fd_op(struct sim *s, struct sim_desc *d, struct cport__op *x)
{
	bool file = d->kind == SIM_FILE;
	switch ((enum cport__type)x->type) {
	case CPORT__FSYNC:
		return sim_fsync(s, d, x);
	case CPORT__FSTAT:
		sim_fill_stat(s, x->buf, d, d->file);
		return 0;
	case CPORT__FALLOCATE:
		if (!file || !d->wr)
			return file ? CPORT_EBADF : CPORT_ENODEV;
		return simdisk_fallocate(d->file, x->aux, (uint64_t)x->offset, x->len);
	case CPORT__FTRUNCATE:
		if (!file || !d->wr)
			return CPORT_EINVAL;
		return simdisk_truncate(d->file, x->len);
	case CPORT__FADVISE: /* no page cache to advise */
		return sim_is_sock(d) ? CPORT_ESPIPE : 0;
	case CPORT__OPENAT:
		return sim_openat(s, d, x);
	default:
		return sim_file_io(s, d, x);
	}
}

static int64_t sim_open(struct sim *s, const char *path, uint32_t flags)
{
	struct simdisk_file *f = simdisk_lookup(s->disk, path);
	bool wr = (flags & (CPORT_O_WRONLY | CPORT_O_RDWR)) != 0;
	if (f && (flags & CPORT_O_CREAT) && (flags & CPORT_O_EXCL))
		return CPORT_EEXIST;
	if (!f) {
		if (!(flags & CPORT_O_CREAT) || !simdisk_parent_ok(s->disk, path))
			return CPORT_ENOENT;
		if (flags & CPORT_O_DIRECTORY)
			return CPORT_EINVAL;
		int r = simdisk_create(s->disk, path, false, &f);
		if (r < 0)
			return r;
	}
	if ((flags & CPORT_O_DIRECTORY) && !f->dir)
		return CPORT_ENOTDIR;
	if (f->dir && wr)
		return CPORT_EISDIR;
	char *dpath = f->dir ? strdup(path) : NULL;
	if (f->dir && !dpath)
		return CPORT_ENOMEM;
	struct sim_desc *d;
	int fd = sim_desc_new(f->dir ? SIM_DIR : SIM_FILE, &d);
	if (fd < 0) {
		free(dpath);
		return fd;
	}
	if (!f->dir && wr && (flags & CPORT_O_TRUNC))
		(void)simdisk_truncate(f, 0); /* to zero: cannot fail */
	simdisk_ref(f);
	d->disk = s->disk;
	d->file = f;
	d->path = dpath;
	d->rd = !(flags & CPORT_O_WRONLY);
	d->wr = wr;
	d->append = (flags & CPORT_O_APPEND) != 0;
	d->dsync = (flags & CPORT_O_DSYNC) != 0;
	return fd;
}

/* cport_openat: `path` relative to directory `d` (NULL: the root, for CPORT_AT_CWD). */
static int64_t sim_openat(struct sim *s, struct sim_desc *d, struct cport__op *x)
{
	char rel[4096], full[8192];
	int r = simdisk_norm(x->buf, rel, sizeof rel);
	if (r < 0)
		return r;
	if (d && d->kind != SIM_DIR)
		return CPORT_ENOTDIR;
	if (d && ((const char *)x->buf)[0] != '/' && d->path[0]) /* absolute: dir ignored */
		snprintf(full, sizeof full, "%s/%s", d->path, rel);
	else
		snprintf(full, sizeof full, "%s", rel);
	return sim_open(s, full, x->aux);
}

static int64_t sim_mkdir(struct sim *s, const char *path)
{
	if (simdisk_lookup(s->disk, path))
		return CPORT_EEXIST;
	if (!simdisk_parent_ok(s->disk, path))
		return CPORT_ENOENT;
	struct simdisk_file *f;
	return simdisk_create(s->disk, path, true, &f);
}

/* Ops on paths (and nop). */
static int64_t sim_path_op(struct sim *s, struct cport__op *x)
{
	char a[4096], b[4096];
	if (x->type == CPORT__NOP)
		return 0;
	int r = simdisk_norm(x->buf, a, sizeof a);
	if (r == 0 && x->type == CPORT__RENAME)
		r = simdisk_norm(x->buf2, b, sizeof b);
	if (r < 0)
		return r;
	struct simdisk_file *f;
	switch ((enum cport__type)x->type) {
	case CPORT__OPEN:
		return sim_open(s, a, x->aux);
	case CPORT__STAT:
		if (!(f = simdisk_lookup(s->disk, a)))
			return CPORT_ENOENT;
		sim_fill_stat(s, x->buf2, NULL, f);
		return 0;
	case CPORT__ACCESS: /* files are 0644 and directories 0755, the caller the owner */
		if (!(f = simdisk_lookup(s->disk, a)))
			return CPORT_ENOENT;
		return (x->aux & CPORT_X_OK) && !f->dir ? CPORT_EACCES : 0;
	case CPORT__STATFS:
		if (!simdisk_lookup(s->disk, a))
			return CPORT_ENOENT;
		*(cport_statfsbuf *)x->buf2 = (cport_statfsbuf){
			.bsize = 4096, .total = SIMDISK_MAX_SIZE, .free = SIMDISK_MAX_SIZE,
			.avail = SIMDISK_MAX_SIZE, .namemax = 255};
		return 0;
	case CPORT__OPENAT: /* CPORT_AT_CWD */
		return sim_openat(s, NULL, x);
	case CPORT__RENAME:
		return simdisk_rename2(s->disk, a, b, x->aux);
	case CPORT__UNLINK:
		return simdisk_unlink(s->disk, a, (x->aux & CPORT_UNLINK_DIR) != 0);
	case CPORT__MKDIR:
		return sim_mkdir(s, a);
	default:
		assert(!"not a path op");
		return CPORT_ENOTSUP;
	}
}

/* Does the op act on a descriptor (not an openat relative to the working directory)? */
static bool sim_on_fd(const struct cport__op *x)
{
	return cport__has_fd(x->type) && !(x->type == CPORT__OPENAT && x->fd == CPORT_AT_CWD);
}

/* ---- 7. Running events ---------------------------------------------------------------------- */

/* A stream side's head (or a file's offset -1 op) ran: done, later, or parked. */
static void sim_run_queued(cport *port, cport_op *op, struct sim_desc *d)
{
	struct sim *s = sim_of(port);
	struct cport__op *x = cport__x(op);
	int64_t r;
	if (x->type == CPORT__POLL) {
		r = sim_poll_events(d, x->aux);
		if (r == 0)
			return; /* not ready any more: sim_kick looks again */
	} else if (x->type == CPORT__ACCEPT || x->type == CPORT__CONNECT || d->kind > SIM_STREAM) {
		sx(op)->cflags = 0;
		r = sim_net_op(s, d, x);
	} else {
		sx(op)->cflags = 0;
		r = d->kind == SIM_STREAM ? sim_stream_op(s, d, x) : sim_file_io(s, d, x);
	}
	if (r == SIM_WAIT) {
		d->parked[cport__op_side(x, true)] = true;
		sim_trace_op(s, op, "waits", (int64_t)x->done);
		return;
	}
	if (r == SIM_AGAIN) {
		sim_trace_op(s, op, "again", (int64_t)x->done);
		sim_schedule(s, op);
		return;
	}
	if (cport__multishot_more(x, r)) {
		/* One more connection or message: the op stays at the head, and sim_kick
		 * tries it again once the caller has taken this completion. */
		sim_trace_op(s, op, "more", r);
		x->xflags |= CPORT__X_UNREAPED;
		op->cflags = CPORT_MORE | sx(op)->cflags;
		cport__complete(port, op, r);
		return;
	}
	sim_trace_op(s, op, "done", r);
	cport__fd_end(port, op, r, sx(op)->cflags); /* its successor: sim_kick starts it */
}

/* An op that is not queued on a descriptor finished with `r`. */
static void sim_finish(cport *port, cport_op *op, int64_t r)
{
	struct sim *s = sim_of(port);
	struct cport__op *x = cport__x(op);
	sim_trace_op(s, op, "done", r);
	cport__deadline_unwatch(port, op);
	cport__complete(port, op, r);
	if (sim_on_fd(x))
		cport__fd_finished(port, op); /* a close held for it may run now */
}

static void sim_run(cport *port, cport_op *op)
{
	struct sim *s = sim_of(port);
	struct cport__op *x = cport__x(op);
	struct sim_desc *d = sim_on_fd(x) ? sim_desc(x->fd) : NULL;
	if (sim_on_fd(x) && !d) {
		/* A close waits for its ops; only a crash of the disk took it meanwhile. */
		if (cport__op_side(x, true) != CPORT__SIDE_NONE)
			cport__fd_end(port, op, CPORT_EBADF, 0);
		else
			sim_finish(port, op, CPORT_EBADF);
		return;
	}
	if (cport__op_side(x, true) != CPORT__SIDE_NONE) {
		sim_run_queued(port, op, d);
		return;
	}
	sim_finish(port, op, d ? sim_fd_op(s, d, x) : sim_path_op(s, x));
}

/* Start the heads that may go on: new heads, and those whose stream changed. */
static void sim_kick(cport *port)
{
	struct sim *s = sim_of(port);
	(void)s;
	for (uint32_t i = 0; i < sim_w.ndescs; i++) {
		struct sim_desc *d = sim_w.descs[i];
		struct cport__fd *f = d ? cport__fd_find(port, (cport_fd)SIM_NUMBER(i)) : NULL;
		for (int side = 0; f && side < 2; side++) {
			cport_op *head = f->q[side].head;
			if (head && !sx(head)->idx && !d->parked[side] &&
			    !(cport__x(head)->xflags & CPORT__X_UNREAPED))
				sim_schedule(s, head);
		}
		/* Polls wait for different things, each on its own, in no order. */
		for (cport_op *op = f ? f->q[CPORT__SIDE_POLL].head : NULL; op;
		     op = cport__list_next(op))
			if (!sx(op)->idx && sim_poll_events(d, cport__x(op)->aux))
				sim_schedule(s, op);
	}
}

/* Run every event due by now. */
static void sim_run_due(cport *port)
{
	struct sim *s = sim_of(port);
	while (s->nheap && sx(s->heap[0])->due <= s->now) {
		cport_op *op = s->heap[0];
		sim_unschedule(s, op);
		sim_run(port, op);
	}
}

/* The virtual time of the next event or deadline; UINT64_MAX if there is none. */
static uint64_t sim_next(cport *port)
{
	struct sim *s = sim_of(port);
	uint64_t next = s->nheap ? sx(s->heap[0])->due : UINT64_MAX;
	int64_t t = cport__deadlines_sleep_ns(port, -1);
	if (t >= 0 && s->now + (uint64_t)t < next)
		next = s->now + (uint64_t)t;
	return next;
}

/* Nothing can happen in virtual time: sleep for real until another thread posts. */
static void sim_sleep(cport *port)
{
	struct sim *s = sim_of(port);
	if (cport__sleep_begin(port)) {
		s->sleep_next = sim_w.sleepers;
		sim_w.sleepers = s;
		sim_unlock(); /* the world is free for other threads' ports meanwhile */
		pthread_mutex_lock(&s->mu);
		while (!s->woken)
			pthread_cond_wait(&s->cv, &s->mu);
		s->woken = false;
		pthread_mutex_unlock(&s->mu);
		sim_lock();
		struct sim **pp = &sim_w.sleepers;
		while (*pp != s)
			pp = &(*pp)->sleep_next;
		*pp = s->sleep_next;
		cport__sleep_end(port);
	}
	atomic_store(&port->notified, false);
}

/* ---- 8. The table slots ---------------------------------------------------------------------- */

static int sim_profile(struct sim *s, const cport_options *o)
{
	const cport_sim_profile *p = o->sim;
	cport_sim_profile *q = &s->prof;
	if (p) {
		if (p->size < offsetof(cport_sim_profile, disk) + sizeof p->disk)
			return CPORT_EINVAL;
		memcpy(q, p, sizeof *q);
	}
	q->size = sizeof *q;
	if (q->flags & ~(uint32_t)CPORT_SIM_TRACE)
		return CPORT_EINVAL;
	uint32_t ppm[] = {q->short_ppm, q->again_ppm, q->eio_read_ppm, q->eio_write_ppm,
			  q->enospc_ppm, q->fsync_ppm, q->reset_ppm};
	for (size_t i = 0; i < sizeof ppm / sizeof *ppm; i++)
		if (ppm[i] > 1000000u)
			return CPORT_EINVAL;
	if (q->again_ppm == 1000000u)
		return CPORT_EINVAL; /* every try would be retried: nothing would finish */
	if (!q->latency_min_ns && !q->latency_max_ns) {
		q->latency_min_ns = 1000;
		q->latency_max_ns = 100000;
	}
	if (q->latency_min_ns > q->latency_max_ns || q->latency_max_ns > 3600000000000u)
		return CPORT_EINVAL;
	if (q->stream_buf > (64u << 20))
		return CPORT_EINVAL;
	if (!q->seed) {
		const char *env = getenv("CPORT_SIM_SEED");
		q->seed = env && env[0] ? strtoull(env, NULL, 0) : 1;
	}
	return 0;
}

/* The first port makes the world, the last one ends it (its descriptors close). */
static int sim_world_join(char *why, size_t n)
{
	if (sim_w.ports == 0) {
		int r = sim_os_null_open(why, n);
		if (r < 0)
			return r;
		r = cport_sim_disk_create(&sim_w.disk);
		if (r < 0) {
			sim_os_null_close();
			return r;
		}
	}
	sim_w.ports++;
	atomic_store(&sim_live, sim_w.ports);
	return 0;
}

static void sim_world_leave(void)
{
	atomic_store(&sim_live, sim_w.ports - 1);
	if (--sim_w.ports > 0)
		return;
	for (uint32_t i = 0; i < sim_w.ndescs; i++)
		if (sim_w.descs[i])
			sim_desc_free(SIM_NUMBER(i), false);
	free(sim_w.descs);
	sim_w.descs = NULL;
	sim_w.ndescs = 0;
	sim_os_null_close();
	cport_sim_disk_destroy(sim_w.disk);
	sim_w.disk = NULL;
}

static int sim_init(cport *port, const cport_options *o, char *why, size_t n)
{
	struct sim *s = calloc(1, sizeof *s);
	if (!s)
		return CPORT_ENOMEM;
	int r = sim_profile(s, o);
	sim_lock();
	if (r == 0)
		r = sim_world_join(why, n);
	if (r < 0) {
		sim_unlock();
		free(s);
		return r;
	}
	s->disk = s->prof.disk ? s->prof.disk : sim_w.disk;
	s->disk->users++;
	s->serial = ++sim_w.serial;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->now = SIM_START_NS;
	s->rng = s->prof.seed;
	s->hash = 0xcbf29ce484222325u;
	sim_trace(s, 0, "seed", 0, (int64_t)s->prof.seed);
	port->impl = s;
	port->vclock = &s->now;
	sim_unlock();
	return 0;
}

/* What was in flight never happens (as when a process dies): its ops are forgotten.
 * The descriptors are the world's and stay, but for the numbers of opens nobody
 * reaped, which destroy closes (cport__drop_unreaped) after this. */
static void sim_fini(cport *port)
{
	struct sim *s = sim_of(port);
	sim_lock();
	for (cport_op *op = port->ready.head; op; op = cport__x(op)->next) {
		struct cport__op *x = cport__x(op);
		if (sim_makes_fd(x) && op->result >= 0 && sim_desc((cport_fd)op->result))
			sim_desc_free((int)op->result, true);
	}
	while (s->sendfiles)
		sim_sendfile_release(s, s->sendfiles);
	s->disk->users--;
	sim_world_leave();
	sim_unlock();
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->heap);
	free(s->text);
	free(s);
	port->impl = NULL;
	port->vclock = NULL;
}

/* A crash of `disk` (cport_sim_disk_crash): the descriptors open on it are gone. */
void cport__sim_disk_closing(cport_sim_disk *disk)
{
	sim_lock();
	for (uint32_t i = 0; i < sim_w.ndescs; i++)
		if (sim_w.descs[i] && sim_w.descs[i]->disk == disk)
			sim_desc_free(SIM_NUMBER(i), false);
	sim_unlock();
}

/* Which ops the simulation has, and on what (cport.h section 8). */
static int sim_check(struct sim *s, const struct cport__op *x, struct sim_desc **out)
{
	switch ((enum cport__type)x->type) {
	case CPORT__NOP:
	case CPORT__TIMER:
	case CPORT__OPEN:
	case CPORT__STAT:
	case CPORT__UNLINK:
	case CPORT__MKDIR:
	case CPORT__ACCESS:
	case CPORT__STATFS:
		return 0;
	case CPORT__OPENAT:
		if (x->fd == CPORT_AT_CWD)
			return 0;
		break;
	case CPORT__RENAME:
		return 0;
	case CPORT__READ:
	case CPORT__WRITE:
	case CPORT__READV:
	case CPORT__WRITEV:
	case CPORT__FSYNC:
	case CPORT__CLOSE:
	case CPORT__FSTAT:
	case CPORT__FALLOCATE:
	case CPORT__FTRUNCATE:
	case CPORT__FADVISE:
	case CPORT__POLL:
	case CPORT__SENDFILE:
	case CPORT__RECV:
	case CPORT__SEND:
	case CPORT__RECVMSG:
	case CPORT__SENDMSG:
	case CPORT__SHUTDOWN:
	case CPORT__ACCEPT:
	case CPORT__CONNECT:
	case CPORT__RECV_POOL:
	case CPORT__RECVMSG_POOL:
		break;
	default:
		return CPORT_ENOTSUP;
	}
	(void)s;
	struct sim_desc *d = sim_desc(x->fd);
	if (!d)
		return CPORT_EBADF; /* not a descriptor of the simulated world */
	bool sock = (x->type >= CPORT__RECV && x->type <= CPORT__SHUTDOWN) ||
		    x->type == CPORT__SENDFILE || x->type == CPORT__ACCEPT ||
		    x->type == CPORT__CONNECT || cport__is_pool_recv(x->type);
	if (sock && !sim_is_sock(d))
		return CPORT_ENOTSOCK;
	if (x->type == CPORT__SENDFILE) {
		struct sim_desc *src = sim_desc((cport_fd)(uintptr_t)x->buf2);
		if (!src)
			return CPORT_EBADF;
		if (src->kind != SIM_FILE || !src->rd)
			return src->kind == SIM_FILE ? CPORT_EBADF : CPORT_EINVAL;
	}
	if (sim_is_sock(d) && x->offset >= 0 && x->type <= CPORT__WRITEV)
		return CPORT_ESPIPE;
	*out = d;
	return 0;
}

/* The heap holds at most the ops in flight: room for one more means no later
 * schedule can fail. */
static int sim_reserve(struct sim *s, uint64_t inflight)
{
	return cport__grow(&s->heap, &s->heap_cap, sizeof *s->heap, inflight + 2, 64);
}

static void sim_close_run(cport *port, cport_op *op)
{
	struct sim *s = sim_of(port);
	int fd = cport__x(op)->fd;
	sim_trace_op(s, op, "done", 0);
	sim_desc_free(fd, false);
	cport__fd_close_end(port, fd);
	cport__complete(port, op, 0);
}

static int sim_start_locked(cport *port, cport_op *op)
{
	struct sim *s = sim_of(port);
	struct cport__op *x = cport__x(op);
	struct sim_desc *d = NULL;
	struct cport__fd *f = NULL;
	int err = sim_check(s, x, &d);
	if (err == 0 && d)
		err = cport__fd_get(port, x->fd, &f);
	if (err == 0)
		err = sim_reserve(s, port->inflight);
	if (err < 0)
		return err;
	*sx(op) = (struct sim_x){0, sim_tid(s, d), 0, ++s->seq, NULL, NULL, NULL, 0};
	if (x->type == CPORT__SENDFILE)
		sim_sendfile_hold(s, op);
	sim_trace_op(s, op, "start", (int64_t)x->len);
	enum cport__side side = cport__op_side(x, true);
	if (x->type == CPORT__TIMER)
		return cport__timer_start(port, op);
	if (x->type == CPORT__CLOSE) {
		if (cport__fd_close_begin(port, f, op))
			sim_close_run(port, op);
		return 0;
	}
	if (x->type == CPORT__SHUTDOWN && x->aux == CPORT_SHUT_RD) {
		d->rd_shut = true;
		sim_finish(port, op, 0);
		return 0;
	}
	if (side == CPORT__SIDE_POLL) {
		cport__fd_enqueue(port, f, side, op);
		if (sim_poll_events(d, x->aux))
			sim_schedule(s, op);
		return 0;
	}
	if (side != CPORT__SIDE_NONE) {
		if (cport__fd_enqueue(port, f, side, op)) {
			d->parked[side] = false;
			sim_schedule(s, op);
		}
		return 0;
	}
	if ((op->flags & CPORT_OP_INLINE) && cport__inline_kind(x)) {
		/* CPORT_OP_INLINE: cheap ops run in the submit call, as on the OS. */
		int64_t r = d ? sim_fd_op(s, d, x) : sim_path_op(s, x);
		sim_trace_op(s, op, "done", r);
		cport__complete(port, op, r);
		return 0;
	}
	if (f)
		cport__fd_started(port, f, op); /* a close waits for it */
	cport__deadline_watch(port, op);
	sim_schedule(s, op);
	return 0;
}

/* Stop an op that runs on no descriptor queue (its event not come yet). */
static void sim_stop(cport *port, cport_op *op, int64_t r)
{
	sim_unschedule(sim_of(port), op);
	sim_finish(port, op, r);
}

static void sim_cancel_locked(cport *port, cport_op *op)
{
	if (cport__x(op)->type == CPORT__TIMER)
		cport__timer_cancel(port, op);
	else if (cport__fd_waiting(port, op))
		cport__fd_drop(port, op, CPORT_ECANCELED); /* sim_dropped unschedules it */
	else if (sx(op)->idx)
		sim_stop(port, op, CPORT_ECANCELED);
	/* else it completed and waits to be reaped */
}

static void sim_expired(cport *port, cport_op *op)
{
	if (sx(op)->idx)
		sim_stop(port, op, CPORT_ETIMEDOUT);
}

/* The descriptor engine dropped a queued op (cancel, close, timeout) or ended it. */
static void sim_dropped(cport *port, cport_op *op)
{
	sim_unschedule(sim_of(port), op);
	if (cport__x(op)->type == CPORT__SENDFILE)
		sim_sendfile_release(sim_of(port), op);
}

static int sim_flush(cport *port)
{
	(void)port; /* ops are in the event heap from their submit */
	return 0;
}

static int sim_reap_locked(cport *port, int64_t timeout_ns)
{
	struct sim *s = sim_of(port);
	uint64_t limit = timeout_ns < 0 ? UINT64_MAX : cport__add_sat(s->now, (uint64_t)timeout_ns);
	for (;;) {
		cport__drain_remote(port);
		sim_run_due(port);
		cport__deadlines_fire(port);
		/* Ops a completion released (links, barriers) start now: time must not
		 * jump past them as if nothing were in flight. */
		if (port->chain.go.head)
			cport__run_released(port);
		sim_kick(port);
		if (cport__wait_done(port))
			return 0;
		uint64_t next = sim_next(port);
		if (next != UINT64_MAX && next <= limit) {
			if (next > s->now)
				s->now = next;
			continue;
		}
		if (limit != UINT64_MAX) {
			s->now = limit; /* nothing comes before it: the wait's time passes */
			return 0;
		}
		sim_sleep(port);
	}
}

/* The slots the public calls enter by hold the world's mutex. */
static int sim_start(cport *port, cport_op *op)
{
	sim_lock();
	int r = sim_start_locked(port, op);
	sim_unlock();
	return r;
}

static void sim_cancel(cport *port, cport_op *op)
{
	sim_lock();
	sim_cancel_locked(port, op);
	sim_unlock();
}

static int sim_reap(cport *port, int64_t timeout_ns)
{
	sim_lock();
	int r = sim_reap_locked(port, timeout_ns);
	sim_unlock();
	return r;
}

static void sim_wake(cport *port)
{
	struct sim *s = sim_of(port);
	pthread_mutex_lock(&s->mu);
	s->woken = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* cport_route: every op the simulation has is done by the port itself. */
static int sim_route(cport *port, const struct cport__op *x, struct cport__fd *f)
{
	(void)f;
	struct sim_desc *d;
	struct cport__op y = *x;
	if (y.type == CPORT__SENDFILE)
		y.type = CPORT__SEND; /* the prototype names no file: route by the socket */
	sim_lock();
	int r = sim_check(sim_of(port), &y, &d);
	sim_unlock();
	return r < 0 ? r : CPORT_ROUTE_LOCAL;
}

const struct cport_backend cport__sim_backend = {
	.route = sim_route,
	.name = "sim",
	.no_os = true,
	.init = sim_init,
	.fini = sim_fini,
	.start = sim_start,
	.cancel = sim_cancel,
	.flush = sim_flush,
	.reap = sim_reap,
	.wake = sim_wake,
	.expired = sim_expired,
	.fd_close = sim_close_run,
	.fd_dropped = sim_dropped,
};

/* ---- 9. The trace's public calls ---------------------------------------------------------- */

uint64_t cport_sim_trace_hash(const cport *port)
{
	if (!port || port->be != &cport__sim_backend)
		return 0;
	sim_lock();
	uint64_t h = sim_of(port)->hash;
	sim_unlock();
	return h;
}

int64_t cport_sim_trace(const cport *port, char *buf, size_t n)
{
	if (!port || (!buf && n > 0))
		return CPORT_EINVAL;
	const struct sim *s = port->be == &cport__sim_backend ? sim_of(port) : NULL;
	if (s)
		sim_lock();
	size_t len = s ? s->text_len : 0;
	if (n > 0) {
		size_t k = len < n - 1 ? len : n - 1;
		if (k)
			memcpy(buf, s->text, k);
		buf[k] = '\0';
	}
	if (s)
		sim_unlock();
	return (int64_t)len;
}
