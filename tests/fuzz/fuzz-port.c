/* SPDX-License-Identifier: MIT */
/* Fuzz target: an input is a sequence of cport calls on one port, checked by a ledger. */

/*
 * Map
 *   1. The world: ops, buffers, descriptors, made anew for each input
 *   2. Reading the input; arguments, valid and invalid
 *   3. Data: the pattern file, the scratch file's model, the streams
 *   4. The ledger: what a submit may answer, what a completion may say
 *   5. Submits, one function per op kind
 *   6. Cancels, waits, posts, closes, destroy, and the drain at the end
 *   7. One input
 *
 * An input is read as a configuration byte (queue depth, pool size, single-thread
 * flag) and then actions: a byte naming the action and the bytes of its arguments (an
 * input that ends early reads zeros, so every byte string is a valid input). Submits
 * name one of 64 ops, a descriptor of a small world (a read-only file whose bytes are
 * known, a scratch file, a pipe, an AF_UNIX and a TCP pair, a listener, a UDP socket,
 * and up to six descriptors that opens, accepts and connects make), and arguments that
 * are valid or deliberately not (NULL pointers, negative and closed descriptors, zero
 * and huge lengths and timeouts, unknown flags, an op already in flight, links and
 * barriers). Every answer is checked against the contract (cport.h; fz_fail names the
 * rule) and any violation aborts, which libFuzzer reports as a crash. At the end every
 * op still in flight is cancelled and reaped with bounded waits, the port destroyed,
 * and the process must hold exactly the descriptors it held before the input.
 *
 * The backend is the one $CPORT_BACKEND names. Time is read from cport_now_ns() only,
 * so a backend with a clock of its own (a simulation) keeps the same checks; what it
 * would need besides is a world made of its own descriptors (world_open).
 */

#include "fuzz.h"

#include "cport.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#ifdef FZ_ASAN
#include <sanitizer/asan_interface.h>
/* After cport_destroy the ops and buffers of every op it stopped are the caller's
 * again: poisoned until the next input, so a late touch by the library is reported. */
#define FZ_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define FZ_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define FZ_POISON(p, n) ((void)(p), (void)(n))
#define FZ_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* ---- 1. The world ------------------------------------------------------------------ */

enum {
	NOPS = 64,        /* ops an input names; ops[NOPS] is the drain's own */
	BUFSZ = 16384,    /* each op's buffer */
	NIOV = 8,         /* iovecs per vectored op */
	PATSZ = 65536,    /* the pattern file: read-only, every byte known */
	SCRSZ = 65536,    /* the scratch file: its first SCRSZ bytes are modelled */
	NREC = 512,       /* sends and receives recorded per stream direction */
	MAXSEQ = 8192,    /* accepted ops per input */
	MAXACT = 2000,    /* actions per input */
	FD_BASE = 200,    /* the fixed descriptors' numbers: the kernel hands out the
	                     lowest free number, so these are never reused by anything */
	WAIT_BUDGET_NS = 8000000,   /* blocking in cport_wait per input, in all */
	INPUT_NS = 300000000,       /* no new action after this long */
	DRAIN_NS = 5000000000LL,    /* every op reaped within this after the cancels */
};

/* The descriptors: fixed ones (made for every input at FD_BASE + index) and dynamic
 * ones (results of opens, accepts, sockets for connects). */
enum {
	SL_PAT, SL_SCR, SL_PIPE_R, SL_PIPE_W, SL_UNIX_A, SL_UNIX_B, SL_TCP_C, SL_TCP_S,
	SL_LISTEN, SL_UDP, NFIXED, NSLOT = NFIXED + 6
};
enum { ST_FREE, ST_OPEN, ST_CLOSING, ST_CLOSED };

struct slot {
	int fd;
	uint8_t st;     /* ST_*: closing from an accepted cport_close to its reap */
	int sdir, rdir; /* the stream directions it sends on and receives from, or -1 */
	uint32_t gen;   /* bumped when a dynamic slot takes a new descriptor */
	uint32_t held_closes; /* closes accepted that a link or barrier may hold: the
	                         descriptor is open until one runs (or all are dropped) */
};

/* Stream directions whose bytes are checked: sender slot, receiver slot. */
enum { NDIR = 5 };
static const int dir_ends[NDIR][2] = {
	{SL_PIPE_W, SL_PIPE_R}, {SL_UNIX_A, SL_UNIX_B}, {SL_UNIX_B, SL_UNIX_A},
	{SL_TCP_C, SL_TCP_S},   {SL_TCP_S, SL_TCP_C},
};

enum { SR_PENDING, SR_OK, SR_FAILED };
struct sendrec {
	uint32_t len;   /* bytes it puts on the stream if it succeeds */
	uint8_t st;     /* SR_* */
	bool pat;       /* a sendfile of the pattern file from `off` (else generated) */
	int64_t off;
};
struct recvrec {
	bool reaped;
	uint32_t n;     /* bytes received */
	uint8_t *copy;  /* kept until the receives before it are reaped */
};
struct dir {
	struct sendrec s[NREC];
	uint32_t ns;
	struct recvrec r[NREC];
	uint32_t nr, rhead;   /* receives recorded; the oldest not yet checked */
	uint32_t k, j, lcg;   /* the checker: byte j of send k; its generator */
	bool lost;            /* stop checking (bytes of unknown origin may come) */
	bool taint;           /* a failed send was skipped: alignment is not proven */
	bool eof_ok;          /* the sender shut down or closed: end of stream may come */
};

enum fk {
	FK_NOP = 1, FK_TIMER, FK_POST, FK_READ, FK_WRITE, FK_READV, FK_WRITEV, FK_FSYNC,
	FK_OPEN, FK_CLOSE, FK_STAT, FK_FSTAT, FK_FALLOC, FK_FTRUNC, FK_RENAME, FK_UNLINK,
	FK_MKDIR, FK_ACCEPT, FK_CONNECT, FK_RECV, FK_SEND, FK_RECVMSG, FK_SENDMSG,
	FK_SHUTDOWN, FK_POLL, FK_SENDFILE, FK_MAX
};
static const char *const fk_name[FK_MAX] = {
	"?", "nop", "timer", "post", "read", "write", "readv", "writev", "fsync", "open",
	"close", "stat", "fstat", "fallocate", "ftruncate", "rename", "unlink", "mkdir",
	"accept", "connect", "recv", "send", "recvmsg", "sendmsg", "shutdown", "poll",
	"sendfile",
};

enum { ROLE_NONE, ROLE_SEND, ROLE_RECV };

/* The ledger's record of one op: what was accepted, and what it may complete with. */
struct rec {
	bool inflight;
	bool multishot;
	bool cancelled;  /* cport_cancel answered 0: CPORT_ECANCELED is allowed */
	bool closed;     /* a close of a descriptor it names was accepted meanwhile */
	bool barrier;
	uint8_t kind;    /* FK_* */
	uint8_t role;    /* ROLE_*: its bytes are part of stream `dir` */
	int slot, slot2; /* descriptor slots it names (slot2: sendfile's file), or -1 */
	uint32_t gen;    /* F.sl[slot].gen at submit */
	uint64_t len;    /* bytes asked for */
	int64_t exact;   /* the only success value it may have, or -1: not known */
	int64_t off;
	uint64_t t_sub, timeout_ns, timer_ns;
	uint32_t aux;    /* timer flags, poll events */
	int64_t post;    /* the value posted */
	uint32_t seq;    /* order of acceptance (from 1) */
	uint32_t pred;   /* the chain predecessor's seq, or 0 */
	int dir;
	uint32_t srec, rrec;
	bool scr_mut;    /* changes the scratch file */
	bool scr_conc;   /* ... while another change was in flight: which came last? */
	bool scr_check;  /* a read of the scratch file while nothing changed it */
	uint32_t scr_epoch;
	void *user;      /* the in fields, which cport never writes */
	uint32_t flags;
};

enum { SEQ_REAPED = 1, SEQ_OK = 2 };

static struct {
	bool ready;
	bool trace;
	const char *backend;
	char tmp[64];
	char pat_path[96];
	char work[80];
	char paths[6][96];
	char longpath[PATH_MAX + 64];
	int fd_base; /* descriptors the process held when the input began */
	cport *port;
	struct slot sl[NSLOT];
	struct rec rec[NOPS + 1];
	struct dir d[NDIR];
	cport_addr listen_addr, dead_addr, udp_addr;
	uint32_t seq;
	uint8_t seq_st[MAXSEQ];
	bool chain_open;   /* the last op accepted carried CPORT_OP_LINK */
	uint32_t last_seq;
	uint32_t posts;    /* posts accepted and not reaped */
	uint64_t t0, wait_left;
	const uint8_t *in;
	size_t len, pos;
	struct {
		uint8_t val[SCRSZ], known[SCRSZ];
		uint64_t size;
		bool size_known;
		uint32_t epoch, busy; /* busy: changes in flight; epoch: bumped by each */
	} scr;
} F;

static cport_op ops[NOPS + 1];
static uint8_t bufs[NOPS + 1][BUFSZ];
static cport_iovec iovs[NOPS + 1][NIOV];
static cport_msg msgs[NOPS + 1];
static cport_addr addrs[NOPS + 1];
static cport_statbuf stats[NOPS + 1];
static cport_iovec iov_many[1025]; /* for an iovcnt over the limit */

static void fz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fz_fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "cport-fuzz (%s): contract violation: ", F.backend);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#define TR(...)                                                                          \
	do {                                                                             \
		if (F.trace)                                                             \
			fprintf(stderr, __VA_ARGS__);                                    \
	} while (0)

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Put `fd` at the fixed number of `slot`. */
static void place(int fd, int slot)
{
	if (fd < 0 || dup3(fd, FD_BASE + slot, O_CLOEXEC) < 0) {
		perror("cport-fuzz: setting up the world");
		abort();
	}
	close(fd);
	F.sl[slot].fd = FD_BASE + slot;
	F.sl[slot].st = ST_OPEN;
}

/* Closing a TCP socket with a zero linger sends a reset and leaves no TIME_WAIT
 * behind: thousands of inputs a second would use up the ephemeral ports. */
/* A blocking connect a signal interrupted goes on in the background: wait for its end
 * and take its outcome (0, or -1 with errno set). */
static int connect_finish(int c)
{
	struct pollfd pf = {.fd = c, .events = POLLOUT};
	while (poll(&pf, 1, -1) < 0)
		if (errno != EINTR)
			return -1;
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -1;
	errno = err;
	return err ? -1 : 0;
}

static void no_linger(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

static void world_sockets(void)
{
	int p[2], s[2];
	if (pipe2(p, O_CLOEXEC) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) < 0) {
		perror("cport-fuzz: the world's pipe and AF_UNIX pair");
		abort();
	}
	place(p[0], SL_PIPE_R);
	place(p[1], SL_PIPE_W);
	place(s[0], SL_UNIX_A);
	place(s[1], SL_UNIX_B);
	cport_addr a;
	cport_fd l, c, u;
	if (cport_addr_parse(&a, "127.0.0.1:0") < 0 || cport_tcp_listen(&l, &a, 64, 0) < 0 ||
	    cport_sock_local(l, &F.listen_addr) < 0 || cport_tcp_socket(&c, CPORT_AF_INET) < 0) {
		fprintf(stderr, "cport-fuzz: the world's TCP listener or socket\n");
		abort();
	}
	no_linger(c);
	/* Thousands of connections a second on loopback: a moment without a free port
	 * (EADDRNOTAVAIL) passes; retry before giving up. */
	int r = -1;
	for (int tries = 0; r < 0 && tries < 1000; tries++)
		if ((r = connect(c, (const struct sockaddr *)F.listen_addr.storage,
				 F.listen_addr.len)) < 0 && errno == EINTR)
			r = connect_finish(c); /* libFuzzer's timer signal */
		else if (r < 0 && errno != EADDRNOTAVAIL && errno != EAGAIN)
			break;
		else if (r < 0)
			usleep(1000);
	if (r < 0) {
		perror("cport-fuzz: connecting the world's TCP pair");
		abort();
	}
	int sv;
	while ((sv = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0 && errno == EINTR)
		;
	no_linger(sv);
	place(l, SL_LISTEN);
	place(c, SL_TCP_C);
	place(sv, SL_TCP_S);
	if (cport_udp_socket(&u, &a, 0) < 0 || cport_sock_local(u, &F.udp_addr) < 0)
		abort();
	place(u, SL_UDP);
	if (cport_addr_parse(&F.dead_addr, "127.0.0.1:1") < 0)
		abort();
}

static void world_reset(void)
{
	FZ_UNPOISON(ops, sizeof ops);
	FZ_UNPOISON(bufs, sizeof bufs);
	FZ_UNPOISON(iovs, sizeof iovs);
	FZ_UNPOISON(msgs, sizeof msgs);
	FZ_UNPOISON(addrs, sizeof addrs);
	FZ_UNPOISON(stats, sizeof stats);
	memset(ops, 0, sizeof ops);
	memset(F.rec, 0, sizeof F.rec);
	memset(F.d, 0, sizeof F.d);
	memset(&F.scr, 0, sizeof F.scr);
	memset(F.seq_st, 0, sizeof F.seq_st);
	F.scr.size_known = true;
	F.seq = F.last_seq = F.posts = 0;
	F.chain_open = false;
	for (int i = 0; i < NSLOT; i++)
		F.sl[i] = (struct slot){.fd = -1, .st = ST_FREE, .sdir = -1, .rdir = -1};
	for (int d = 0; d < NDIR; d++) {
		F.sl[dir_ends[d][0]].sdir = d;
		F.sl[dir_ends[d][1]].rdir = d;
	}
}

/* F.port on $CPORT_BACKEND (strict: never a fallback), with the options `cfg` chooses:
 * queue depth, pool size, single-thread mode. 0 or the error, its reason in `why`. */
static int port_open(uint8_t cfg, char *why, size_t n)
{
	static const uint32_t depths[8] = {0, 1, 2, 4, 8, 64, 0, 0};
	static const uint32_t pools[4] = {0, 1, 2, 4};
	cport_options o;
	cport_options_init(&o);
	o.flags = CPORT_OPT_STRICT | (cfg & 0x20 ? CPORT_OPT_SINGLE_THREAD : 0);
	o.queue_depth = depths[cfg & 7];
	o.pool_threads = pools[(cfg >> 3) & 3];
	o.reason = why;
	o.reason_len = (uint32_t)n;
	TR("== input on %s, depth %u, pool %u%s\n", F.backend, o.queue_depth, o.pool_threads,
	   cfg & 0x20 ? ", single thread" : "");
	return cport_create(&F.port, &o);
}

/* A new port and world for one input; `cfg` chooses the port's options. */
static void world_open(uint8_t cfg)
{
	world_reset();
	/* Counted per input: libFuzzer itself may open descriptors between inputs (its
	 * symbolizer's pipes). */
	F.fd_base = count_fds();
	char why[256] = "";
	int r = port_open(cfg, why, sizeof why);
	if (r < 0)
		fz_fail("cport_create (options 0x%02x): %s (%s)", cfg, cport_err_name(r), why);
	place(open(F.pat_path, O_RDONLY | O_CLOEXEC), SL_PAT);
	place(open(F.tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600), SL_SCR);
	world_sockets();
}

/* ---- 2. The input and the arguments ----------------------------------------------- */

static uint8_t rd8(void)
{
	return F.pos < F.len ? F.in[F.pos++] : 0;
}

static uint16_t rd16(void)
{
	uint16_t v = rd8();
	return (uint16_t)(v | rd8() << 8);
}

static uint32_t rd32(void)
{
	uint32_t v = rd16();
	return v | (uint32_t)rd16() << 16;
}

static uint64_t rd64(void)
{
	uint64_t v = rd32();
	return v | (uint64_t)rd32() << 32;
}

/* What a submit must answer, by the worst argument chosen. */
enum expect {
	X_ACCEPT, /* valid: accepted (or refused only for want of memory or descriptors) */
	X_ANY,    /* a descriptor whose number may have been reused: either way */
	X_EBADF,  /* a descriptor that is not open or being closed: CPORT_EBADF */
	X_BADARG, /* an invalid argument: CPORT_EINVAL (or EBADF), the op left untouched */
};

/* One submit call being built. */
struct sub {
	int i;
	cport_op *op;    /* ops[i] */
	cport_op *opa;   /* the op passed: op, or NULL */
	cport *port;     /* the port passed: F.port, or NULL */
	bool busy;       /* the op is in flight: CPORT_EBUSY */
	bool neg_fd;     /* a negative descriptor: refused before the op is touched */
	uint8_t x;       /* enum expect */
	int fd;          /* the descriptor it names (for the trace) */
	struct rec r;    /* its record, if accepted */
	cport_op before; /* its bytes before the call */
};

static void want(struct sub *s, uint8_t x)
{
	if (x > s->x)
		s->x = x;
}

/* Timeouts: mostly none; a few short enough to fire within an input; some so long
 * that they must never fire (a deadline that does not fit in 64 bits means never). */
static const uint64_t fz_timeouts[16] = {
	0, 0, 0, 0, 0, 0, 0, 0, 1, 20000, 200000, 1000000, 3000000,
	3600000000000ull, (uint64_t)INT64_MAX + 1, UINT64_MAX,
};

/* Start a submit of `kind`: which op, its in fields, and the rare invalid variants. */
static void sub_begin(struct sub *s, uint8_t kind)
{
	memset(s, 0, sizeof *s);
	s->i = rd8() % NOPS;
	s->op = s->opa = &ops[s->i];
	s->port = F.port;
	s->busy = F.rec[s->i].inflight;
	s->r.kind = kind;
	s->r.slot = s->r.slot2 = s->r.dir = -1;
	s->r.exact = -1;
	uint8_t f = rd8(), g = rd8();
	if (!s->busy) { /* an op in flight is the library's: not a field is written */
		s->op->user = (void *)(uintptr_t)(0xC0DE0000u | (unsigned)s->i << 8 | f);
		s->op->timeout_ns = fz_timeouts[(f >> 3) & 15];
		s->op->flags = (f & 1 ? CPORT_OP_LINK : 0) |
			       ((f & 6) == 6 ? CPORT_OP_BARRIER : 0);
		if (g == 3 || g == 4) {
			s->op->flags |= g == 3 ? 1u << 12 : 1u << 31;
			want(s, X_BADARG);
		}
	}
	if (g == 1) {
		s->port = NULL;
		want(s, X_BADARG);
	} else if (g == 2) {
		s->opa = NULL;
		want(s, X_BADARG);
	}
}

/* Another slot holds the same number and a close of it has not completed: the port
 * may still take the number for the old descriptor (CPORT_EBADF, being closed) until
 * that close is reaped, though the kernel already gave it to this one. */
static bool number_in_doubt(int slot)
{
	for (int i = 0; i < NSLOT; i++)
		if (i != slot && F.sl[i].fd == F.sl[slot].fd &&
		    (F.sl[i].st == ST_CLOSING || F.sl[i].held_closes))
			return true;
	return false;
}

/* A descriptor: a slot's, or one that is not open. `primary`: the descriptor the op
 * acts on (sendfile's file is checked only when the op runs). */
static cport_fd pick_fd(struct sub *s, uint8_t b, int *slot, bool primary)
{
	static const int bad[4] = {-1, INT_MIN, INT_MAX, 150};
	unsigned n = b % (NSLOT + 4);
	*slot = -1;
	s->fd = primary ? -1 : s->fd;
	if (n >= NSLOT) {
		int fd = bad[n - NSLOT];
		s->neg_fd |= fd < 0;
		want(s, fd < 0 || primary ? X_EBADF : X_ANY);
		s->fd = primary ? fd : s->fd;
		return fd;
	}
	struct slot *sl = &F.sl[n];
	if (sl->st == ST_FREE) {
		s->neg_fd = true;
		want(s, X_EBADF);
		return -1;
	}
	*slot = (int)n;
	s->fd = primary ? sl->fd : s->fd;
	if (sl->st != ST_OPEN)
		want(s, n < NFIXED && primary ? X_EBADF : X_ANY);
	else if (sl->held_closes || number_in_doubt((int)n))
		want(s, X_ANY);
	return sl->fd;
}

static size_t pick_len(struct sub *s, uint8_t b, size_t cap)
{
	switch (b & 7) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return cap < 100 ? cap : 100;
	case 3:
		return cap < 4096 ? cap : 4096;
	case 4:
		return cap;
	case 5:
		want(s, X_BADARG);
		return (size_t)CPORT_MAX_IO + 1 + (b >> 3);
	default:
		return cap ? rd16() % (cap + 1) : 0;
	}
}

static int64_t pick_off(struct sub *s, uint8_t b)
{
	switch (b & 15) {
	case 0:
	case 1:
	case 2:
		return -1;
	case 3:
		return 0;
	case 4:
		return 4096;
	case 5:
		return PATSZ - 100;
	case 6:
		return PATSZ;
	case 7:
		return PATSZ + 4096;
	case 8:
		return (int64_t)1 << 40;
	case 9:
		want(s, X_BADARG);
		return -2;
	case 10:
		want(s, X_BADARG);
		return INT64_MIN;
	case 11:
		return INT64_MAX - 10;
	default:
		return rd16();
	}
}

/* `total` bytes of op i's buffer as `cnt` consecutive slices (some empty), so the
 * bytes a vectored op moves are its buffer's first `total`. */
static void slice_iov(int i, size_t total, unsigned cnt, uint8_t shape)
{
	size_t rem = total;
	for (unsigned k = 0; k < cnt; k++) {
		size_t n = k + 1 == cnt ? rem : ((shape >> k) & 1) ? 0 : rem / (cnt - k);
		iovs[i][k].base = bufs[i] + (total - rem);
		iovs[i][k].len = n;
		rem -= n;
	}
}

/* An iovec array for op s->i; its count and total. Not written while the op is in
 * flight (its iovecs may be in use). */
static cport_iovec *pick_iov(struct sub *s, unsigned *cnt, size_t *total)
{
	uint8_t b = rd8(), shape = rd8();
	size_t len = pick_len(s, rd8(), BUFSZ);
	*cnt = 1 + (b & 7);
	*total = len;
	switch (b >> 3) {
	case 1:
		want(s, X_BADARG);
		return NULL;
	case 2:
		want(s, X_BADARG);
		*cnt = 0;
		return iovs[s->i];
	case 3:
		want(s, X_BADARG);
		*cnt = 1025;
		return iov_many;
	default:
		break;
	}
	if (s->busy) { /* its iovecs are in use, whatever they hold: may be invalid too */
		want(s, X_BADARG);
		return iovs[s->i];
	}
	if (len > BUFSZ) { /* a huge total: one element over the limit */
		iovs[s->i][0].base = bufs[s->i];
		iovs[s->i][0].len = len;
		*cnt = 1;
		return iovs[s->i];
	}
	slice_iov(s->i, len, *cnt, shape);
	if (b >> 3 == 4 && len) { /* an element with no memory but a length */
		iovs[s->i][0].base = NULL;
		if (!iovs[s->i][0].len)
			iovs[s->i][0].len = 1;
		want(s, X_BADARG);
	}
	return iovs[s->i];
}

static const char *pick_path(struct sub *s, uint8_t b)
{
	switch (b & 7) {
	case 6:
		return b & 8 ? "" : F.longpath;
	case 7:
		want(s, X_BADARG);
		return NULL;
	default:
		return F.paths[b & 7];
	}
}

/* ---- 3. Data ------------------------------------------------------------------------ */

static uint32_t seed_of(uint32_t a, uint32_t b)
{
	uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u;
	h ^= h >> 15;
	h *= 0x2C1B3C6Du;
	h ^= h >> 12;
	return h | 1;
}

static uint8_t lcg_next(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return (uint8_t)(*s >> 23);
}

/* The pattern file's byte at `off` (not periodic within the file). */
static uint8_t pat_byte(uint64_t off)
{
	return (uint8_t)(off * 131u + (off >> 8) * 7u + 0x5Au);
}

static void fill_gen(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = lcg_next(&seed);
}

/* -- streams: each direction's sends in submission order; received bytes, in the
 * order of the receives, must be those sends' bytes, whole for a send that succeeded
 * and any prefix of one that failed (a cancelled or timed-out send may have moved part
 * of its bytes). Bytes that could be a failed send's tail are never called corrupt:
 * after skipping one, checking waits for a whole successful send to match again. */

static void dir_enter(struct dir *d, uint32_t k)
{
	d->k = k;
	d->j = 0;
	d->lcg = seed_of((uint32_t)(d - F.d) + 1, k);
}

static void dirs_reset(void)
{
	for (int d = 0; d < NDIR; d++)
		dir_enter(&F.d[d], 0);
}

/* The next byte of send k at byte j, and the generator state after it. */
static uint8_t dir_expect(const struct dir *d, uint32_t *lcg)
{
	const struct sendrec *s = &d->s[d->k];
	if (s->pat)
		return pat_byte((uint64_t)s->off + d->j);
	*lcg = d->lcg;
	return lcg_next(lcg);
}

static void dir_byte(struct dir *d, uint8_t b, uint64_t at)
{
	for (;;) {
		if (d->k >= d->ns) {
			if (d->taint) {
				d->lost = true;
				return;
			}
			fz_fail("stream %ld: byte %llu received was never sent", (long)(d - F.d),
				(unsigned long long)at);
		}
		struct sendrec *s = &d->s[d->k];
		if (d->j == s->len) {
			if (s->st == SR_OK && s->len >= 8)
				d->taint = false; /* a whole send matched: aligned again */
			dir_enter(d, d->k + 1);
			continue;
		}
		uint32_t lcg = 0;
		if (b == dir_expect(d, &lcg)) {
			d->lcg = lcg;
			d->j++;
			return;
		}
		if (s->st == SR_FAILED) { /* it stopped part way: the next send follows */
			d->taint = true;
			dir_enter(d, d->k + 1);
			continue;
		}
		if (s->st == SR_PENDING || d->taint) {
			d->lost = true; /* it may still fail having moved part of its bytes */
			return;
		}
		fz_fail("stream %ld: byte %u of send %u (%u bytes, succeeded) arrived as 0x%02x",
			(long)(d - F.d), d->j, d->k, s->len, b);
	}
}

static void dir_feed(struct dir *d, const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n && !d->lost; i++)
		dir_byte(d, p[i], i);
}

/* Receives are checked in submission order: a later one reaped first waits. */
static void dir_pump(struct dir *d)
{
	while (d->rhead < d->nr && d->r[d->rhead].reaped) {
		struct recvrec *q = &d->r[d->rhead++];
		if (q->copy)
			dir_feed(d, q->copy, q->n);
		free(q->copy);
		q->copy = NULL;
	}
}

static void dir_recv_done(const struct rec *r, const uint8_t *buf, int64_t v)
{
	struct dir *d = &F.d[r->dir];
	struct recvrec *q = &d->r[r->rrec];
	TR("    stream %d: receive %u (head %u) of %lld bytes; checked to send %u byte %u\n",
	   r->dir, r->rrec, d->rhead, (long long)v, d->k, d->j);
	q->reaped = true;
	q->n = v > 0 ? (uint32_t)v : 0;
	if (v == 0 && r->len > 0 && !d->eof_ok && !d->lost)
		fz_fail("stream %d: a %s got end of stream, but its sender is open", r->dir,
			fk_name[r->kind]);
	if (r->rrec == d->rhead) {
		dir_feed(d, buf, q->n);
		d->rhead++;
		dir_pump(d);
	} else if (q->n) {
		q->copy = malloc(q->n);
		if (!q->copy)
			abort();
		memcpy(q->copy, buf, q->n);
	}
}

/* Before a send on slot `slot` (not in flight): make it a recorded send of direction
 * d, its buffer filled with that send's bytes. */
static void send_prep(struct sub *s, int slot, size_t len, bool fill)
{
	int dn = slot >= 0 && F.sl[slot].st == ST_OPEN ? F.sl[slot].sdir : -1;
	if (dn < 0 || s->busy)
		return;
	struct dir *d = &F.d[dn];
	if (d->lost || d->ns == NREC || len > BUFSZ) {
		d->lost = d->lost || d->ns == NREC;
		return;
	}
	s->r.role = ROLE_SEND;
	s->r.dir = dn;
	TR("    stream %d: send %u of %zu bytes\n", dn, d->ns, len);
	if (fill)
		fill_gen(bufs[s->i], len, seed_of((uint32_t)dn + 1, d->ns));
}

static void recv_prep(struct sub *s, int slot)
{
	int dn = slot >= 0 && F.sl[slot].st == ST_OPEN ? F.sl[slot].rdir : -1;
	if (dn < 0 || s->busy)
		return;
	if (F.d[dn].nr == NREC) {
		F.d[dn].lost = true;
		return;
	}
	s->r.role = ROLE_RECV;
	s->r.dir = dn;
}

/* -- the pattern file: a read at an offset returns exactly what is there. */
static void pat_check(const struct rec *r, const uint8_t *buf, int64_t v)
{
	for (int64_t i = 0; i < v; i++)
		if (buf[i] != pat_byte((uint64_t)r->off + (uint64_t)i))
			fz_fail("%s of the pattern file at %lld: byte %lld is 0x%02x, not 0x%02x",
				fk_name[r->kind], (long long)r->off, (long long)i, buf[i],
				pat_byte((uint64_t)r->off + (uint64_t)i));
}

/* -- the scratch file: a model of its size and first SCRSZ bytes, each known or not.
 * Reads are checked only when no change to the file was in flight or reaped during
 * the read; a change that fails or lands at an unknown position forgets what it may
 * have touched. Invariant: bytes at and beyond the size, where known, are zero. */
static void scr_forget(uint64_t from, uint64_t to)
{
	for (uint64_t o = from; o < to && o < SCRSZ; o++)
		F.scr.known[o] = 0;
}

static void scr_wrote(const struct rec *r, const uint8_t *buf, int64_t v)
{
	if (r->off < 0 || v < 0) {
		scr_forget(r->off < 0 ? 0 : (uint64_t)r->off,
			   r->off < 0 ? SCRSZ : (uint64_t)r->off + r->len);
		F.scr.size_known = false;
		return;
	}
	for (uint64_t i = 0; i < r->len && (uint64_t)r->off + i < SCRSZ; i++) {
		F.scr.val[r->off + (int64_t)i] = buf[i];
		F.scr.known[r->off + (int64_t)i] = 1;
	}
	if (F.scr.size_known && r->len && (uint64_t)r->off + r->len > F.scr.size)
		F.scr.size = (uint64_t)r->off + r->len; /* (writing nothing extends nothing) */
}

static void scr_sized(const struct rec *r, int64_t v)
{
	if (v < 0) {
		scr_forget(0, SCRSZ);
		F.scr.size_known = false;
	} else if (r->kind == FK_FTRUNC) {
		for (uint64_t o = r->len; o < SCRSZ; o++) {
			F.scr.val[o] = 0;
			F.scr.known[o] = 1;
		}
		F.scr.size = r->len;
		F.scr.size_known = true;
	} else if (!(r->aux & CPORT_FALLOC_KEEP_SIZE) && F.scr.size_known &&
		   (uint64_t)r->off + r->len > F.scr.size) {
		F.scr.size = (uint64_t)r->off + r->len; /* fallocate: zeros, as modelled */
	}
}

static void scr_read_check(const struct rec *r, const uint8_t *buf, int64_t v)
{
	if (!r->scr_check || r->scr_epoch != F.scr.epoch || v < 0)
		return;
	uint64_t off = (uint64_t)r->off;
	if (F.scr.size_known) {
		uint64_t want = off >= F.scr.size ? 0 : F.scr.size - off;
		if (want > r->len)
			want = r->len;
		if ((uint64_t)v != want)
			fz_fail("%s of the scratch file (size %llu) at %llu for %llu: %lld bytes, "
				"not %llu", fk_name[r->kind], (unsigned long long)F.scr.size,
				(unsigned long long)off, (unsigned long long)r->len, (long long)v,
				(unsigned long long)want);
	}
	for (uint64_t i = 0; i < (uint64_t)v && off + i < SCRSZ; i++)
		if (F.scr.known[off + i] && buf[i] != F.scr.val[off + i])
			fz_fail("%s of the scratch file at %llu: byte %llu is 0x%02x, not 0x%02x",
				fk_name[r->kind], (unsigned long long)off, (unsigned long long)i,
				buf[i], F.scr.val[off + i]);
}

/* ---- 4. The ledger ------------------------------------------------------------------ */

static bool is_code(int64_t v)
{
	return strcmp(cport_err_name(v), "UNKNOWN") != 0;
}

static bool pub_same(const cport_op *a, const cport_op *b)
{
	return a->user == b->user && a->timeout_ns == b->timeout_ns && a->flags == b->flags &&
	       a->cflags == b->cflags && a->result == b->result;
}

/* May the op just accepted (seq) be held by a link or a barrier? */
static bool may_be_held(const struct rec *r)
{
	if (r->pred || r->barrier)
		return true;
	for (int j = 0; j <= NOPS; j++)
		if (F.rec[j].inflight && F.rec[j].barrier && F.rec[j].seq < r->seq)
			return true;
	return false;
}

/* The record of an accepted op: chain, barrier and data bookkeeping. */
static void sub_accept(struct sub *s)
{
	struct rec *r = &F.rec[s->i];
	*r = s->r;
	r->inflight = true;
	r->user = s->op->user;
	r->timeout_ns = s->op->timeout_ns;
	r->flags = s->op->flags;
	r->barrier = s->op->flags & CPORT_OP_BARRIER;
	r->seq = ++F.seq;
	if (r->slot >= 0) {
		r->gen = F.sl[r->slot].gen;
		r->closed = F.sl[r->slot].held_closes > 0; /* when one runs, it cancels this */
	}
	if (r->kind == FK_POST) {
		F.posts++; /* posts belong to no chain and count for no barrier */
	} else {
		r->pred = F.chain_open ? F.last_seq : 0;
		F.chain_open = s->op->flags & CPORT_OP_LINK;
		F.last_seq = r->seq;
	}
	if (r->role != ROLE_NONE && may_be_held(r)) {
		/* A link or barrier may hold it while later ops on the stream start: their
		 * bytes then come first (cport.h does not order held ops on a stream). */
		F.d[r->dir].lost = true;
	}
	if (r->role == ROLE_SEND) {
		struct dir *d = &F.d[r->dir];
		r->srec = d->ns;
		d->s[d->ns++] = (struct sendrec){
			.len = (uint32_t)(r->kind == FK_SENDFILE ? (uint64_t)r->exact : r->len),
			.st = SR_PENDING, .pat = r->kind == FK_SENDFILE, .off = r->off};
	} else if (r->role == ROLE_RECV) {
		struct dir *d = &F.d[r->dir];
		r->rrec = d->nr;
		d->r[d->nr++] = (struct recvrec){0};
	}
	if (r->scr_mut) {
		/* Changes in flight together may reach the file in any order: none of them
		 * can be modelled (its reap forgets the whole file instead). */
		for (int j = 0; F.scr.busy && j <= NOPS; j++)
			if (F.rec[j].inflight && F.rec[j].scr_mut)
				F.rec[j].scr_conc = r->scr_conc = true;
		F.scr.busy++;
		F.scr.epoch++;
	}
	if (r->scr_check) {
		r->scr_check = F.scr.busy == 0;
		r->scr_epoch = F.scr.epoch;
	}
}

/* A submit call answered `rc`: check it against what the arguments called for. */
static void sub_end(struct sub *s, int rc)
{
	TR("  %s op %d fd %d slot %d flags 0x%x tmo %llu (x%u%s) -> %s\n", fk_name[s->r.kind],
	   s->i, s->fd, s->r.slot, s->op->flags, (unsigned long long)s->op->timeout_ns, s->x,
	   s->busy ? ", busy" : "", cport_err_name(rc));
	if (rc == 0) {
		if (s->x >= X_EBADF || s->busy)
			fz_fail("%s on op %d was accepted, but had to be refused (%s)",
				fk_name[s->r.kind], s->i, s->busy ? "op in flight" : "arguments");
		sub_accept(s);
		return;
	}
	if (!is_code(rc))
		fz_fail("%s: refused with %d, not a CPORT_E* code", fk_name[s->r.kind], rc);
	if (!s->port || !s->opa || s->x == X_BADARG) {
		if (rc != CPORT_EINVAL && rc != CPORT_EBADF && !(s->busy && rc == CPORT_EBUSY))
			fz_fail("%s with invalid arguments: %s, not CPORT_EINVAL", fk_name[s->r.kind],
				cport_err_name(rc));
		if (!s->busy && memcmp(&s->before, s->op, sizeof *s->op) != 0)
			fz_fail("%s refused (%s) for its arguments, but the op changed",
				fk_name[s->r.kind], cport_err_name(rc));
	} else if (s->busy) {
		if (rc != CPORT_EBUSY && !(s->x == X_EBADF && rc == CPORT_EBADF))
			fz_fail("%s on op %d in flight: %s, not CPORT_EBUSY", fk_name[s->r.kind], s->i,
				cport_err_name(rc));
	} else if (s->x == X_EBADF) {
		if (rc != CPORT_EBADF)
			fz_fail("%s on a descriptor that is not open: %s, not CPORT_EBADF",
				fk_name[s->r.kind], cport_err_name(rc));
		if (s->neg_fd ? memcmp(&s->before, s->op, sizeof *s->op) != 0
			      : !pub_same(&s->before, s->op))
			fz_fail("%s refused (EBADF), but the op changed", fk_name[s->r.kind]);
	} else {
		if (s->x == X_ACCEPT && rc != CPORT_ENOMEM && rc != CPORT_EMFILE && rc != CPORT_ENFILE)
			fz_fail("%s with valid arguments on op %d refused: %s", fk_name[s->r.kind],
				s->i, cport_err_name(rc));
		if (!pub_same(&s->before, s->op))
			fz_fail("%s refused (%s), but its public fields changed", fk_name[s->r.kind],
				cport_err_name(rc));
	}
	if (s->busy && (s->op->user != F.rec[s->i].user || s->op->flags != F.rec[s->i].flags ||
			s->op->timeout_ns != F.rec[s->i].timeout_ns))
		fz_fail("%s refused on an op in flight, but its in fields changed", fk_name[s->r.kind]);
}

/* Snapshot the op and note the time, just before the call. */
static void sub_go(struct sub *s)
{
	memcpy(&s->before, s->op, sizeof s->before);
	s->r.t_sub = cport_now_ns();
}

/* Did the chain predecessor of `r` end without succeeding? */
static bool pred_failed(const struct rec *r)
{
	uint8_t ps = r->pred ? F.seq_st[r->pred] : 0;
	return (ps & SEQ_REAPED) && !(ps & SEQ_OK);
}

/* What "succeeded" means for a link (cport.h 4b): every byte asked for. */
static bool rec_ok(const struct rec *r, int64_t v)
{
	switch (r->kind) {
	case FK_READ:
	case FK_WRITE:
	case FK_READV:
	case FK_WRITEV:
	case FK_RECV:
	case FK_SEND:
	case FK_RECVMSG:
	case FK_SENDMSG:
	case FK_SENDFILE:
		return v >= 0 && (uint64_t)v == r->len;
	default:
		return v >= 0;
	}
}

static void check_error(const struct rec *r, int64_t v, uint64_t now)
{
	const char *k = fk_name[r->kind];
	if (!is_code(v))
		fz_fail("%s completed with %lld, not a CPORT_E* code", k, (long long)v);
	if (v == CPORT_ECANCELED && !r->cancelled && !r->closed && !pred_failed(r))
		fz_fail("%s completed CPORT_ECANCELED, but nothing cancelled it", k);
	if (v == CPORT_ETIMEDOUT && r->kind != FK_CONNECT) {
		if (!r->timeout_ns)
			fz_fail("%s completed CPORT_ETIMEDOUT without a timeout", k);
		if (now - r->t_sub < r->timeout_ns)
			fz_fail("%s timed out after %llu ns of a %llu ns timeout", k,
				(unsigned long long)(now - r->t_sub),
				(unsigned long long)r->timeout_ns);
	}
}

static void check_fd_result(const struct rec *r, int64_t v)
{
	int fl = v > INT_MAX ? -1 : fcntl((int)v, F_GETFD);
	if (fl < 0 || !(fl & FD_CLOEXEC))
		fz_fail("%s gave descriptor %lld, which is %s", fk_name[r->kind], (long long)v,
			fl < 0 ? "not open" : "not close-on-exec");
}

/* What a success value may be, by kind. */
static void check_value(const struct rec *r, int64_t v, uint64_t now)
{
	const char *k = fk_name[r->kind];
	switch (r->kind) {
	case FK_TIMER:
		if (v != 0)
			fz_fail("timer completed with %lld", (long long)v);
		if (r->aux & CPORT_TIMER_ABS ? now < r->timer_ns : now - r->t_sub < r->timer_ns)
			fz_fail("timer of %llu ns%s fired early", (unsigned long long)r->timer_ns,
				r->aux & CPORT_TIMER_ABS ? " (absolute)" : "");
		break;
	case FK_READ:
	case FK_READV:
	case FK_RECV:
	case FK_RECVMSG:
	case FK_SENDFILE:
		if ((uint64_t)v > r->len || (r->exact >= 0 && v != r->exact))
			fz_fail("%s of %llu bytes (exactly %lld expected) completed with %lld", k,
				(unsigned long long)r->len, (long long)r->exact, (long long)v);
		break;
	case FK_WRITE:
	case FK_WRITEV:
	case FK_SEND:
	case FK_SENDMSG:
		if ((uint64_t)v != r->len)
			fz_fail("%s of %llu bytes completed with %lld: short without an error", k,
				(unsigned long long)r->len, (long long)v);
		break;
	case FK_OPEN:
	case FK_ACCEPT:
		check_fd_result(r, v);
		break;
	case FK_POLL: /* io_uring: RDHUP alone, asked or not (cport.h, section 7) */
		if (v == 0 || ((uint64_t)v & ~(uint64_t)(r->aux | CPORT_POLL_ERR | CPORT_POLL_HUP) &&
			       !(v == CPORT_POLL_RDHUP && strcmp(F.backend, "io_uring") == 0)))
			fz_fail("poll for 0x%x completed with 0x%llx", r->aux, (unsigned long long)v);
		break;
	default:
		if (v != 0)
			fz_fail("%s completed with %lld, not 0", k, (long long)v);
	}
}

/* Links, barriers and closes keep an order (cport.h 4b; cport_close). */
static void check_order(const struct rec *r, int64_t v, bool more)
{
	const char *k = fk_name[r->kind];
	bool early = v == CPORT_ECANCELED || v == CPORT_ETIMEDOUT;
	if (r->pred && !(F.seq_st[r->pred] & SEQ_REAPED)) {
		/* It ended before its predecessor: it must never have started. */
		if (more || !((v == CPORT_ECANCELED && (r->cancelled || r->closed)) ||
			      (v == CPORT_ETIMEDOUT && r->timeout_ns)))
			fz_fail("chain member %s completed (%s) before its predecessor", k,
				cport_err_name(v));
	} else if (pred_failed(r) && v != CPORT_ECANCELED) {
		fz_fail("chain member %s ran (%lld) after its predecessor failed", k, (long long)v);
	}
	if (r->kind == FK_POST)
		return;
	for (int j = 0; j <= NOPS; j++) {
		const struct rec *q = &F.rec[j];
		if (!q->inflight || q == r || q->kind == FK_POST)
			continue;
		if (q->barrier && q->seq < r->seq && !early)
			fz_fail("%s (seq %u) completed with %lld before the barrier %s (seq %u) "
				"accepted before it", k, r->seq, (long long)v, fk_name[q->kind], q->seq);
		if (r->barrier && !more && !early && q->seq < r->seq)
			fz_fail("barrier %s (seq %u) completed before %s (seq %u) accepted before it",
				k, r->seq, fk_name[q->kind], q->seq);
		if (r->kind == FK_CLOSE && v != CPORT_ECANCELED && q->slot == r->slot &&
		    q->gen == r->gen && q->seq < r->seq)
			fz_fail("close of slot %d completed before %s (seq %u) on it", r->slot,
				fk_name[q->kind], q->seq);
	}
}

/* A descriptor a completion gave us: the next free dynamic slot, else closed. */
static void adopt_fd(int fd)
{
	no_linger(fd);
	for (int i = NFIXED; i < NSLOT; i++)
		if (F.sl[i].st == ST_FREE) {
			F.sl[i].fd = fd;
			F.sl[i].st = ST_OPEN;
			F.sl[i].gen++;
			return;
		}
	if (cport_sock_close(fd) < 0)
		fz_fail("cport_sock_close of a descriptor an op gave");
}

static void slot_closed(int slot)
{
	struct slot *sl = &F.sl[slot];
	sl->st = slot < NFIXED ? ST_CLOSED : ST_FREE;
	sl->held_closes = 0;
	if (slot >= NFIXED)
		sl->fd = -1;
}

/* A close completed. CPORT_ECANCELED: it was held and dropped unstarted (its chain
 * broke, or another close of the descriptor ran first): it closed nothing. Any other
 * result: the descriptor is gone. */
static void close_done(const struct rec *r, int64_t v)
{
	struct slot *sl = &F.sl[r->slot];
	if (r->gen != sl->gen || sl->st == ST_FREE)
		return;
	bool held = sl->st == ST_OPEN && sl->held_closes;
	if (v != CPORT_ECANCELED)
		slot_closed(r->slot);
	else if (held)
		sl->held_closes--;
}

/* What a completion changes in the world and the models. */
static void apply(const struct rec *r, int i, int64_t v)
{
	const uint8_t *buf = bufs[i];
	if (r->role == ROLE_RECV)
		dir_recv_done(r, buf, v);
	else if (r->role == ROLE_SEND)
		F.d[r->dir].s[r->srec].st = rec_ok(r, v) ? SR_OK : SR_FAILED;
	if (r->slot == SL_PAT && r->off >= 0 && v > 0 &&
	    (r->kind == FK_READ || r->kind == FK_READV))
		pat_check(r, buf, v);
	if (r->slot == SL_SCR && (r->kind == FK_READ || r->kind == FK_READV))
		scr_read_check(r, buf, v);
	if (r->scr_mut) {
		F.scr.busy--;
		F.scr.epoch++;
		if (r->scr_conc)
			scr_sized(r, -1); /* forget it all */
		else if (r->kind == FK_WRITE || r->kind == FK_WRITEV)
			scr_wrote(r, buf, v);
		else
			scr_sized(r, v);
	}
	if ((r->kind == FK_OPEN || r->kind == FK_ACCEPT) && v >= 0)
		adopt_fd((int)v);
	if (r->kind == FK_CLOSE && r->slot >= 0)
		close_done(r, v);
	if (r->kind == FK_POST)
		F.posts--;
}

/* One completion handed back by cport_wait. */
static void reap_one(cport_op *op)
{
	uintptr_t p = (uintptr_t)op, lo = (uintptr_t)ops;
	if (p < lo || p > (uintptr_t)&ops[NOPS] || (p - lo) % sizeof *op)
		fz_fail("cport_wait handed back %p, which is not an op of ours", (void *)op);
	int i = (int)((p - lo) / sizeof *op);
	struct rec *r = &F.rec[i];
	if (!r->inflight)
		fz_fail("op %d (%s, seq %u) completed, but it is not in flight (reaped twice?)", i,
			fk_name[r->kind], r->seq);
	if (op->user != r->user || op->timeout_ns != r->timeout_ns || op->flags != r->flags)
		fz_fail("op %d (%s): cport wrote its in fields", i, fk_name[r->kind]);
	bool more = op->cflags & CPORT_MORE;
	if (op->cflags & ~(uint32_t)CPORT_MORE)
		fz_fail("op %d: unknown cflags 0x%x", i, op->cflags);
	if (more && (!r->multishot || op->result < 0))
		fz_fail("%s op %d completed with CPORT_MORE (result %lld)", fk_name[r->kind], i,
			(long long)op->result);
	int64_t v = op->result;
	TR("  reap op %d %s seq %u -> %lld%s\n", i, fk_name[r->kind], r->seq, (long long)v,
	   more ? " MORE" : "");
	uint64_t now = cport_now_ns();
	if (r->kind == FK_POST) {
		if (v != r->post || op->cflags)
			fz_fail("post of %lld completed with %lld", (long long)r->post, (long long)v);
	} else if (v < 0) {
		check_error(r, v, now);
	} else {
		check_value(r, v, now);
	}
	check_order(r, v, more);
	apply(r, i, v);
	if (!more) {
		r->inflight = false;
		F.seq_st[r->seq] = SEQ_REAPED | (rec_ok(r, v) ? SEQ_OK : 0);
	}
}

/* ---- 5. Submits ----------------------------------------------------------------------- */

static void do_nop(void)
{
	struct sub s;
	sub_begin(&s, FK_NOP);
	sub_go(&s);
	sub_end(&s, cport_nop(s.port, s.opa));
}

static void do_timer(void)
{
	static const uint64_t ns_table[8] = {0, 1000, 100000, 1000000, 3000000,
					     3600000000000ull, UINT64_MAX, 0};
	struct sub s;
	sub_begin(&s, FK_TIMER);
	uint8_t b = rd8();
	uint64_t ns = (b & 7) == 7 ? rd32() : ns_table[b & 7];
	uint32_t flags = 0;
	if (b & 8) {
		flags = CPORT_TIMER_ABS; /* a deadline: soon, past, or never */
		ns = (b & 7) >= 5 ? ns : (b & 7) == 0 ? 0 : cport_now_ns() + ns;
	}
	if ((b & 0x30) == 0x30) {
		flags |= 4;
		want(&s, X_BADARG);
	}
	s.r.timer_ns = ns;
	s.r.aux = flags;
	sub_go(&s);
	sub_end(&s, cport_timer(s.port, s.opa, ns, flags));
}

static bool is_read(uint8_t kind)
{
	return kind == FK_READ || kind == FK_READV;
}

/* read, write, readv, writev: the data each may be checked against. */
static void rw_data(struct sub *s, int slot, int64_t off, size_t len)
{
	if (s->busy)
		return;
	if (off >= 0 && slot >= 0) {
		/* An offset on a pipe or socket: io_uring ignores it (as IOCP does) and moves
		 * stream bytes, the readiness backends refuse it (ESPIPE). */
		int dn = is_read(s->r.kind) ? F.sl[slot].rdir : F.sl[slot].sdir;
		if (dn >= 0)
			F.d[dn].lost = true;
	}
	if (is_read(s->r.kind)) {
		memset(bufs[s->i], 0xEE, len <= BUFSZ ? len : 0);
		if (off == -1)
			recv_prep(s, slot);
		else if (slot == SL_PAT && off >= 0 && len <= BUFSZ)
			s->r.exact = off >= PATSZ ? 0 : (int64_t)(len < (size_t)(PATSZ - off) ? len : (size_t)(PATSZ - off));
		else if (slot == SL_SCR && off >= 0)
			s->r.scr_check = true;
		return;
	}
	if (off == -1)
		send_prep(s, slot, len, true);
	if (slot == SL_SCR) {
		s->r.scr_mut = true;
		if (len <= BUFSZ)
			fill_gen(bufs[s->i], len, seed_of(0x5C, F.seq + 1));
	}
}

static void do_rw(uint8_t kind)
{
	struct sub s;
	sub_begin(&s, kind);
	int slot;
	cport_fd fd = pick_fd(&s, rd8(), &slot, true);
	int64_t off = pick_off(&s, rd8());
	bool vec = kind == FK_READV || kind == FK_WRITEV;
	unsigned cnt = 0;
	size_t len;
	cport_iovec *iov = NULL;
	void *buf = bufs[s.i];
	if (vec) {
		iov = pick_iov(&s, &cnt, &len);
	} else {
		uint8_t lb = rd8();
		len = pick_len(&s, lb, BUFSZ);
		if ((lb & 0xC0) == 0xC0) {
			buf = NULL;
			if (len)
				want(&s, X_BADARG);
		}
	}
	s.r.slot = slot;
	s.r.off = off;
	s.r.len = len;
	if (s.x < X_BADARG)
		rw_data(&s, slot, off, len);
	sub_go(&s);
	int rc;
	switch (kind) {
	case FK_READ:
		rc = cport_read(s.port, s.opa, fd, buf, len, off);
		break;
	case FK_WRITE:
		rc = cport_write(s.port, s.opa, fd, buf, len, off);
		break;
	case FK_READV:
		rc = cport_readv(s.port, s.opa, fd, iov, cnt, off);
		break;
	default:
		rc = cport_writev(s.port, s.opa, fd, iov, cnt, off);
		break;
	}
	sub_end(&s, rc);
}

/* A close was accepted: the slot is closing (once it runs, if a link or barrier holds
 * it), ops on it may be cancelled, its streams end. */
static void close_accepted(const struct rec *c, int slot)
{
	struct slot *sl = &F.sl[slot];
	if (may_be_held(c))
		sl->held_closes++;
	else
		sl->st = ST_CLOSING;
	for (int j = 0; j <= NOPS; j++) {
		struct rec *q = &F.rec[j];
		if (q->inflight && ((q->slot == slot && q->gen == sl->gen) || q->slot2 == slot))
			q->closed = true;
	}
	if (sl->sdir >= 0)
		F.d[sl->sdir].eof_ok = true;
	if (sl->rdir >= 0)
		F.d[sl->rdir].lost = true; /* what was on its way is dropped */
}

static void fdop_accepted(const struct sub *s, int slot, uint32_t fl)
{
	if (slot < 0)
		return;
	if (s->r.kind == FK_CLOSE) {
		close_accepted(&F.rec[s->i], slot);
	} else if (s->r.kind == FK_SHUTDOWN) {
		if ((fl & CPORT_SHUT_WR) && F.sl[slot].sdir >= 0)
			F.d[F.sl[slot].sdir].eof_ok = true;
		if ((fl & CPORT_SHUT_RD) && F.sl[slot].rdir >= 0) {
			F.d[F.sl[slot].rdir].eof_ok = true;
			F.d[F.sl[slot].rdir].lost = true;
		}
	}
}

/* fallocate's and ftruncate's offset, length and flags (returned). */
static uint32_t sized_args(struct sub *s, uint8_t b, int64_t *off, int64_t *len)
{
	static const int64_t lens[8] = {1, 100, 4096, SCRSZ, SCRSZ + 5000, 1 << 20, 0, -1};
	bool falloc = s->r.kind == FK_FALLOC;
	uint8_t ob = rd8();
	*off = falloc ? pick_off(s, ob) : 0;
	*len = (b & 7) == 6 ? (int64_t)rd16() : lens[b & 7];
	uint32_t fl = (b >> 3) & 1 ? CPORT_FALLOC_KEEP_SIZE : 0;
	if (falloc ? (*off < 0 || *len <= 0 || *len > INT64_MAX - *off) : *len < 0)
		want(s, X_BADARG);
	if (falloc && (b & 0x30) == 0x30) {
		fl |= 1u << 7; /* no CPORT_FALLOC_* bit */
		want(s, X_BADARG);
	}
	s->r.off = *off;
	s->r.len = (uint64_t)*len;
	s->r.aux = fl;
	s->r.scr_mut = s->r.slot == SL_SCR && s->x < X_BADARG && !s->busy;
	return fl;
}

/* fsync, close, fstat, fallocate, ftruncate, shutdown, poll: a descriptor and flags. */
static void do_fdop(uint8_t kind)
{
	struct sub s;
	sub_begin(&s, kind);
	int slot;
	cport_fd fd = pick_fd(&s, rd8(), &slot, true);
	uint8_t b = rd8();
	s.r.slot = slot;
	int64_t off = 0, len = 0;
	uint32_t fl = 0;
	cport_statbuf *st = (b & 0xF0) == 0xF0 ? NULL : &stats[s.i];
	if (kind == FK_FALLOC || kind == FK_FTRUNC) {
		fl = sized_args(&s, b, &off, &len);
	} else if (kind == FK_FSYNC) {
		fl = b & 3;
		if (fl & 2)
			want(&s, X_BADARG);
	} else if (kind == FK_SHUTDOWN) {
		fl = b % 5;
		if (fl == 0 || fl == 4)
			want(&s, X_BADARG);
	} else if (kind == FK_POLL) {
		fl = rd16() & (CPORT_POLL_IN | CPORT_POLL_PRI | CPORT_POLL_OUT | CPORT_POLL_ERR |
			       CPORT_POLL_HUP | CPORT_POLL_RDHUP | 0x100);
		if (fl == 0 || (fl & 0x100))
			want(&s, X_BADARG);
		s.r.aux = fl;
	} else if (kind == FK_FSTAT && !st) {
		want(&s, X_BADARG);
	}
	sub_go(&s);
	int rc;
	switch (kind) {
	case FK_FSYNC:
		rc = cport_fsync(s.port, s.opa, fd, fl);
		break;
	case FK_CLOSE:
		rc = cport_close(s.port, s.opa, fd);
		break;
	case FK_FSTAT:
		rc = cport_fstat(s.port, s.opa, fd, st);
		break;
	case FK_FALLOC:
		rc = cport_fallocate(s.port, s.opa, fd, fl, off, len);
		break;
	case FK_FTRUNC:
		rc = cport_ftruncate(s.port, s.opa, fd, len);
		break;
	case FK_SHUTDOWN:
		rc = cport_shutdown(s.port, s.opa, fd, fl);
		break;
	default:
		rc = cport_poll(s.port, s.opa, fd, fl);
		break;
	}
	sub_end(&s, rc);
	if (rc == 0)
		fdop_accepted(&s, slot, fl);
}

/* open, stat, rename, unlink, mkdir: paths in the work directory, or bad ones. */
static void do_path(uint8_t kind)
{
	struct sub s;
	sub_begin(&s, kind);
	uint8_t b = rd8();
	const char *p = pick_path(&s, b), *p2 = kind == FK_RENAME ? pick_path(&s, b >> 3) : NULL;
	uint32_t fl = rd16(), mode = 0600;
	cport_statbuf *st = (b & 0xC0) == 0xC0 ? NULL : &stats[s.i];
	if (kind == FK_OPEN) {
		fl &= (b & 0xC0) == 0x80 ? 0x7FF : 0x3FF;
		mode = (b & 0xC0) == 0x40 ? 010000 : 0644;
		if ((fl & 0x400) || mode > 07777 || ((fl & CPORT_O_WRONLY) && (fl & CPORT_O_RDWR)))
			want(&s, X_BADARG);
	} else if (kind == FK_UNLINK) {
		fl &= 3;
		if (fl & 2)
			want(&s, X_BADARG);
	} else if (kind == FK_MKDIR) {
		mode = (b & 0xC0) == 0x40 ? 020000 : 0755;
		if (mode > 07777)
			want(&s, X_BADARG);
	} else if (kind == FK_STAT && !st) {
		want(&s, X_BADARG);
	}
	sub_go(&s);
	int rc;
	switch (kind) {
	case FK_OPEN:
		rc = cport_open(s.port, s.opa, p, fl, mode);
		break;
	case FK_STAT:
		rc = cport_stat(s.port, s.opa, p, st);
		break;
	case FK_RENAME:
		rc = cport_rename(s.port, s.opa, p, p2);
		break;
	case FK_UNLINK:
		rc = cport_unlink(s.port, s.opa, p, fl);
		break;
	default:
		rc = cport_mkdir(s.port, s.opa, p, mode);
		break;
	}
	sub_end(&s, rc);
}

static void do_accept(void)
{
	struct sub s;
	sub_begin(&s, FK_ACCEPT);
	int slot;
	cport_fd fd = pick_fd(&s, rd8(), &slot, true);
	uint8_t b = rd8();
	cport_addr *peer = b & 1 ? &addrs[s.i] : NULL;
	uint32_t fl = (b >> 1) & 3;
	fl = fl == 3 ? 4 : fl == 1 ? CPORT_ACCEPT_MULTISHOT : 0;
	if (fl == 4 || (peer && fl) || (fl && (s.op->flags & CPORT_OP_LINK) && !s.busy))
		want(&s, X_BADARG);
	s.r.slot = slot;
	s.r.multishot = fl == CPORT_ACCEPT_MULTISHOT;
	sub_go(&s);
	sub_end(&s, cport_accept(s.port, s.opa, fd, peer, fl));
}

/* A new TCP socket in a free dynamic slot, for a connect. */
static int new_tcp_slot(void)
{
	for (int i = NFIXED; i < NSLOT; i++)
		if (F.sl[i].st == ST_FREE) {
			cport_fd fd;
			if (cport_tcp_socket(&fd, CPORT_AF_INET) < 0)
				abort();
			adopt_fd(fd);
			return i;
		}
	return -1;
}

static void do_connect(void)
{
	struct sub s;
	sub_begin(&s, FK_CONNECT);
	uint8_t b = rd8(), fb = rd8();
	int slot = (b & 1) && !s.busy && s.x < X_BADARG ? new_tcp_slot() : -1;
	if (slot >= 0 && number_in_doubt(slot))
		want(&s, X_ANY);
	cport_fd fd = slot >= 0 ? F.sl[slot].fd : pick_fd(&s, fb, &slot, true);
	const cport_addr *a = &addrs[s.i];
	switch ((b >> 1) & 3) {
	case 2:
		want(&s, X_BADARG);
		if (!s.busy)
			memset(&addrs[s.i], 0, sizeof addrs[s.i]);
		break;
	case 3:
		want(&s, X_BADARG);
		a = NULL;
		break;
	default:
		if (!s.busy)
			addrs[s.i] = (b >> 1) & 1 ? F.dead_addr : F.listen_addr;
		else /* in use by the op in flight, whatever it holds: may be invalid */
			want(&s, X_BADARG);
	}
	s.r.slot = slot;
	sub_go(&s);
	sub_end(&s, cport_connect(s.port, s.opa, fd, a));
}

/* recv and send: a buffer and flags (0 here; an unknown bit must be refused). */
static void do_sr(uint8_t kind)
{
	struct sub s;
	sub_begin(&s, kind);
	int slot;
	cport_fd fd = pick_fd(&s, rd8(), &slot, true);
	uint8_t lb = rd8();
	size_t len = pick_len(&s, lb, BUFSZ);
	void *buf = (lb & 0xC0) == 0xC0 ? NULL : bufs[s.i];
	uint32_t fl = (lb & 0xC0) == 0x80 ? 1u << 7 : 0; /* no flag of either call */
	if ((!buf && len) || fl)
		want(&s, X_BADARG);
	s.r.slot = slot;
	s.r.len = len;
	if (s.x < X_BADARG && !s.busy) {
		if (kind == FK_RECV) {
			memset(bufs[s.i], 0xEE, len);
			recv_prep(&s, slot);
		} else {
			send_prep(&s, slot, len, true);
		}
	}
	sub_go(&s);
	sub_end(&s, kind == FK_RECV ? cport_recv(s.port, s.opa, fd, buf, len, fl)
				    : cport_send(s.port, s.opa, fd, buf, len, fl));
}

/* recvmsg and sendmsg: a message of the op's own (iovecs, an address). */
static void do_msg(uint8_t kind)
{
	struct sub s;
	sub_begin(&s, kind);
	int slot;
	cport_fd fd = pick_fd(&s, rd8(), &slot, true);
	uint8_t b = rd8();
	unsigned cnt;
	size_t len;
	cport_iovec *iov = pick_iov(&s, &cnt, &len);
	cport_msg *m = (b & 7) == 7 ? NULL : &msgs[s.i];
	if (!m)
		want(&s, X_BADARG);
	if (m && !s.busy) {
		memset(m, 0, sizeof *m);
		m->iov = iov;
		m->iovcnt = cnt;
		if (kind == FK_RECVMSG) {
			m->addr = b & 8 ? &addrs[s.i] : NULL;
		} else if (b & 8) {
			addrs[s.i] = (b & 16) ? F.udp_addr : (cport_addr){.len = 0};
			m->addr = &addrs[s.i];
			if (!(b & 16))
				want(&s, X_BADARG);
		}
		if (kind == FK_SENDMSG && (b & 7) == 6) {
			m->flags = 1;
			want(&s, X_BADARG);
		}
	}
	s.r.slot = slot;
	s.r.len = len;
	if (s.x < X_BADARG && !s.busy) {
		if (kind == FK_RECVMSG) {
			memset(bufs[s.i], 0xEE, len);
			recv_prep(&s, slot);
		} else { /* with an address too: Linux ignores it on a connected stream */
			send_prep(&s, slot, len, true);
		}
	}
	sub_go(&s);
	sub_end(&s, kind == FK_RECVMSG ? cport_recvmsg(s.port, s.opa, fd, m)
				       : cport_sendmsg(s.port, s.opa, fd, m));
}

static void do_sendfile(void)
{
	struct sub s;
	sub_begin(&s, FK_SENDFILE);
	int slot, fslot;
	cport_fd sock = pick_fd(&s, rd8(), &slot, true);
	cport_fd file = pick_fd(&s, rd8(), &fslot, false);
	int64_t off = pick_off(&s, rd8());
	if (off < 0)
		want(&s, X_BADARG);
	size_t len = pick_len(&s, rd8(), PATSZ + 1000);
	if (off >= 0 && (uint64_t)off > (uint64_t)INT64_MAX - len)
		want(&s, X_BADARG); /* its end does not fit in an offset */
	s.r.slot = slot;
	s.r.slot2 = fslot;
	s.r.off = off;
	s.r.len = len;
	if (fslot == SL_PAT && F.sl[SL_PAT].st == ST_OPEN && off >= 0 && len <= PATSZ + 1000) {
		uint64_t left = (uint64_t)off >= PATSZ ? 0 : PATSZ - (uint64_t)off;
		s.r.exact = (int64_t)(len < left ? len : left);
	}
	if (s.x < X_BADARG && !s.busy && slot >= 0 && F.sl[slot].sdir >= 0) {
		if (s.r.exact >= 0)
			send_prep(&s, slot, 0, false);
		else if (F.sl[slot].st == ST_OPEN)
			F.d[F.sl[slot].sdir].lost = true; /* bytes of a file not modelled */
	}
	sub_go(&s);
	sub_end(&s, cport_sendfile(s.port, s.opa, sock, file, off, len));
}

/* ---- 6. Cancels, waits, posts, closes, destroy ------------------------------------------ */

static void do_cancel(void)
{
	uint8_t b = rd8();
	if (b >= 0xFE) {
		int rc = b == 0xFE ? cport_cancel(F.port, NULL) : cport_cancel(NULL, &ops[0]);
		if (rc != CPORT_EINVAL)
			fz_fail("cport_cancel with a NULL argument: %s", cport_err_name(rc));
		return;
	}
	int i = b % (NOPS + 1);
	struct rec *r = &F.rec[i];
	int rc = cport_cancel(F.port, &ops[i]);
	TR("  cancel op %d (%s%s) -> %s\n", i, fk_name[r->kind], r->inflight ? " in flight" : "",
	   cport_err_name(rc));
	if (r->inflight) {
		if (rc != 0)
			fz_fail("cport_cancel of op %d (%s) in flight: %s", i, fk_name[r->kind],
				cport_err_name(rc));
		r->cancelled = true;
	} else if (rc != CPORT_ENOENT) {
		fz_fail("cport_cancel of op %d, not in flight: %s, not CPORT_ENOENT", i,
			cport_err_name(rc));
	}
}

/* A wait whose timeout is spent from the input's budget (so no input blocks long);
 * "forever" only while a post is waiting to be reaped. */
static int fz_wait(unsigned max, int64_t tmo)
{
	static cport_op *out[NOPS + 1];
	if (tmo > 0) {
		if ((uint64_t)tmo > F.wait_left)
			tmo = (int64_t)F.wait_left;
		F.wait_left -= (uint64_t)tmo;
	}
	int rc = cport_wait(F.port, out, max, tmo);
	TR("  wait max %u, %lld ns -> %d\n", max, (long long)tmo, rc);
	if (F.chain_open) {
		if (rc != CPORT_EINVAL)
			fz_fail("cport_wait while a chain is open: %d, not CPORT_EINVAL", rc);
		return 0;
	}
	if (rc < 0 || (unsigned)rc > max)
		fz_fail("cport_wait (max %u, %lld ns): %d", max, (long long)tmo, rc);
	for (int k = 0; k < rc; k++)
		reap_one(out[k]);
	return rc;
}

static void do_wait(void)
{
	static const int64_t tmos[8] = {0, 0, 0, 50000, 200000, 1000000, -1, 500000};
	static cport_op *out1[1];
	uint8_t b = rd8(), t = rd8();
	if (b >= 0xFD) {
		int rc = b == 0xFD ? cport_wait(F.port, out1, 0, 0)
			 : b == 0xFE ? cport_wait(F.port, NULL, 1, 0)
				     : cport_wait(F.port, out1, (unsigned)INT32_MAX + 1u, 0);
		if (rc != CPORT_EINVAL)
			fz_fail("cport_wait with bad arguments: %d, not CPORT_EINVAL", rc);
		return;
	}
	int64_t tmo = tmos[t & 7];
	if (tmo < 0 && !F.posts && !F.chain_open)
		tmo = 0;
	fz_wait(1 + b % NOPS, tmo);
}

static void do_submit(void)
{
	int rc = rd8() == 0xFF ? CPORT_EINVAL - 1000 : cport_submit(F.port);
	if (rc == CPORT_EINVAL - 1000) {
		if (cport_submit(NULL) != CPORT_EINVAL)
			fz_fail("cport_submit(NULL) did not say CPORT_EINVAL");
		return;
	}
	if (rc != (F.chain_open ? CPORT_EINVAL : 0))
		fz_fail("cport_submit%s: %s", F.chain_open ? " while a chain is open" : "",
			cport_err_name(rc));
}

static void do_post(void)
{
	struct sub s;
	sub_begin(&s, FK_POST);
	int64_t v = (int64_t)rd64();
	if (!s.busy && s.op->flags)
		want(&s, X_BADARG);
	s.r.post = v;
	sub_go(&s);
	sub_end(&s, cport_post(s.port, s.opa, v));
}

/* cport_sock_close of a dynamic descriptor no op uses (the call's rule). */
static void do_sock_close(void)
{
	uint8_t b = rd8();
	if (b == 0xFF) {
		if (cport_sock_close(-1) != CPORT_EBADF)
			fz_fail("cport_sock_close(-1) did not say CPORT_EBADF");
		return;
	}
	int slot = NFIXED + b % (NSLOT - NFIXED);
	if (F.sl[slot].st != ST_OPEN)
		return;
	for (int j = 0; j <= NOPS; j++)
		if (F.rec[j].inflight && (F.rec[j].slot == slot || F.rec[j].slot2 == slot))
			return;
	int rc = cport_sock_close(F.sl[slot].fd);
	if (rc != 0)
		fz_fail("cport_sock_close of an open descriptor: %s", cport_err_name(rc));
	slot_closed(slot);
}

/* Destroy with whatever is in flight: nothing is reaped after, nothing touched. */
static void do_destroy(void)
{
	TR("  destroy\n");
	cport_destroy(F.port);
	F.port = NULL;
	for (int j = 0; j <= NOPS; j++)
		F.rec[j].inflight = false;
	FZ_POISON(ops, sizeof ops);
	FZ_POISON(bufs, sizeof bufs);
	FZ_POISON(iovs, sizeof iovs);
	FZ_POISON(msgs, sizeof msgs);
	FZ_POISON(addrs, sizeof addrs);
	FZ_POISON(stats, sizeof stats);
}

static unsigned inflight_count(void)
{
	unsigned n = 0;
	for (int j = 0; j <= NOPS; j++)
		n += F.rec[j].inflight;
	return n;
}

/* The end of an input: every op in flight is cancelled and must be reaped within
 * DRAIN_NS; then nothing more may come, and the port is destroyed. */
static void drain(void)
{
	if (F.chain_open) { /* end the chain with an op of the drain's own */
		struct sub s;
		memset(&s, 0, sizeof s);
		s.i = NOPS;
		s.op = s.opa = &ops[NOPS];
		s.port = F.port;
		s.r.kind = FK_NOP;
		s.r.slot = s.r.slot2 = s.r.dir = -1;
		s.r.exact = -1;
		ops[NOPS].flags = 0;
		ops[NOPS].timeout_ns = 0;
		sub_go(&s);
		sub_end(&s, cport_nop(F.port, &ops[NOPS]));
	}
	uint64_t until = cport_now_ns() + DRAIN_NS;
	F.wait_left = UINT64_MAX;
	while (inflight_count()) {
		for (int j = 0; j <= NOPS; j++) {
			if (!F.rec[j].inflight)
				continue;
			int rc = cport_cancel(F.port, &ops[j]);
			if (rc != 0)
				fz_fail("drain: cport_cancel of op %d (%s) in flight: %s", j,
					fk_name[F.rec[j].kind], cport_err_name(rc));
			F.rec[j].cancelled = true;
		}
		if (cport_now_ns() > until)
			for (int j = 0; j <= NOPS; j++)
				if (F.rec[j].inflight)
					fz_fail("op %d (%s, seq %u) cancelled, never completed", j,
						fk_name[F.rec[j].kind], F.rec[j].seq);
		fz_wait(NOPS + 1, 10000000);
	}
	if (fz_wait(NOPS + 1, 0) != 0)
		fz_fail("a completion came after every op was reaped");
	cport_destroy(F.port);
	F.port = NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

/* Empty the work directory, so each input starts from the same files. */
static void work_clean(void)
{
	nftw(F.work, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Close what the world still holds; then the process must hold what it held before. */
static void teardown(void)
{
	for (int i = 0; i < NSLOT; i++) {
		if (F.sl[i].st == ST_OPEN || F.sl[i].st == ST_CLOSING)
			close(F.sl[i].fd);
		F.sl[i].st = ST_FREE;
	}
	for (int d = 0; d < NDIR; d++)
		for (uint32_t k = 0; k < F.d[d].nr; k++) {
			free(F.d[d].r[k].copy);
			F.d[d].r[k].copy = NULL;
		}
	work_clean();
	int n = count_fds();
	/* A pool worker abandoned by destroy closes what its call made when it returns. */
	for (int tries = 0; n != F.fd_base && tries < 100; tries++) {
		usleep(1000);
		n = count_fds();
	}
	if (n != F.fd_base)
		fz_fail("the process holds %d descriptors after the input, %d before", n, F.fd_base);
}

/* ---- 7. One input ------------------------------------------------------------------- */

static void fz_cleanup(void)
{
	work_clean();
	rmdir(F.work);
	unlink(F.pat_path);
	rmdir(F.tmp);
}

static void make_pattern_file(void)
{
	static uint8_t p[PATSZ];
	for (uint64_t i = 0; i < PATSZ; i++)
		p[i] = pat_byte(i);
	int fd = open(F.pat_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, p, sizeof p) != (ssize_t)sizeof p || close(fd) < 0) {
		perror("cport-fuzz: the pattern file");
		abort();
	}
}

int fz_setup(void)
{
	if (F.ready)
		return 0;
	F.backend = getenv("CPORT_BACKEND");
	if (!F.backend || !F.backend[0])
		F.backend = "default";
	F.trace = getenv("CPORT_FUZZ_TRACE") != NULL;
	snprintf(F.tmp, sizeof F.tmp, "/tmp/cport-fuzz-XXXXXX");
	if (!mkdtemp(F.tmp))
		abort();
	snprintf(F.pat_path, sizeof F.pat_path, "%s/pattern", F.tmp);
	make_pattern_file();
	static const char *const names[6] = {"a", "b", "d", "d/e", "nodir/x", "c"};
	snprintf(F.work, sizeof F.work, "%s/w", F.tmp);
	if (mkdir(F.work, 0755) < 0)
		abort();
	for (int i = 0; i < 6; i++)
		snprintf(F.paths[i], sizeof F.paths[i], "%s/%s", F.work, names[i]);
	memset(F.longpath, 'x', sizeof F.longpath - 1);
	F.longpath[0] = '/';
	atexit(fz_cleanup);
	char why[256] = "";
	int r = port_open(0, why, sizeof why);
	if (r < 0) {
		fprintf(stderr, "cport-fuzz: the %s backend cannot start here: %s (%s)\n", F.backend,
			cport_err_name(r), why);
		return r;
	}
	cport_destroy(F.port);
	F.port = NULL;
	F.ready = true;
	return 0;
}

/* A submit of op kind `k` (FK_*). */
static void do_kind(uint8_t k)
{
	switch (k) {
	case FK_NOP:
		do_nop();
		break;
	case FK_TIMER:
		do_timer();
		break;
	case FK_READ:
	case FK_WRITE:
	case FK_READV:
	case FK_WRITEV:
		do_rw(k);
		break;
	case FK_OPEN:
	case FK_STAT:
	case FK_RENAME:
	case FK_UNLINK:
	case FK_MKDIR:
		do_path(k);
		break;
	case FK_ACCEPT:
		do_accept();
		break;
	case FK_CONNECT:
		do_connect();
		break;
	case FK_RECV:
	case FK_SEND:
		do_sr(k);
		break;
	case FK_RECVMSG:
	case FK_SENDMSG:
		do_msg(k);
		break;
	case FK_SENDFILE:
		do_sendfile();
		break;
	default:
		do_fdop(k);
		break;
	}
}

/* One action; false once the input ended the port (destroy). */
static bool act(void)
{
	static const uint8_t kinds[32] = {
		FK_NOP, FK_TIMER, FK_READ, FK_WRITE, FK_READV, FK_WRITEV, FK_FSYNC, FK_OPEN,
		FK_CLOSE, FK_STAT, FK_FSTAT, FK_FALLOC, FK_FTRUNC, FK_RENAME, FK_UNLINK, FK_MKDIR,
		FK_ACCEPT, FK_CONNECT, FK_RECV, FK_SEND, FK_RECVMSG, FK_SENDMSG, FK_SHUTDOWN,
		FK_POLL, FK_SENDFILE};
	uint8_t a = rd8() % 32;
	switch (a) {
	case 25:
		do_cancel();
		return true;
	case 26:
	case 27:
		do_wait();
		return true;
	case 28:
		do_submit();
		return true;
	case 29:
		do_post();
		return true;
	case 30:
		do_sock_close();
		return true;
	case 31:
		if (rd8() >= 8)
			return true;
		do_destroy();
		return false;
	default:
		break;
	}
	do_kind(kinds[a]);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!F.ready && fz_setup() != 0)
		exit(77);
	F.in = data;
	F.len = size;
	F.pos = 0;
	world_open(rd8());
	dirs_reset();
	F.t0 = cport_now_ns();
	F.wait_left = WAIT_BUDGET_NS;
	bool live = true;
	for (unsigned n = 0; live && F.pos < F.len && n < MAXACT && F.seq < MAXSEQ - 64 &&
			     cport_now_ns() - F.t0 < INPUT_NS;
	     n++)
		live = act();
	if (live)
		drain();
	teardown();
	return 0;
}
