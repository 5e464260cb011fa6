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
 *   6b. The second vocabulary: the calls added since (directories, locks, registered
 *       buffers and files, pool receives, CPORT_OP_INLINE, cport_wait_op, zero-copy)
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
 * The backend is the one $CPORT_BACKEND names. Timeouts and timers are checked on the
 * port's clock (fz_clock: cport_clock_ns on the simulation, whose time is virtual;
 * cport_now_ns elsewhere); the guards against hangs use cport_now_ns. On the
 * simulation (backend "sim", cport.h section 8) the world is made of its own
 * descriptors (world_sim): the pattern and scratch files on its disk, written and
 * opened with the port's calls, its stream pairs for the pipe and the AF_UNIX pair, and
 * its sockets with addresses: the listener, the TCP pair (connected and accepted with
 * the port's ops) and the UDP socket. The ledger then also takes
 * the refusals it answers at submit (sim_refusal) and its paths are relative names on
 * its disk. Its descriptors are closed by cport_close or cport_destroy only.
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

/* Second vocabulary (section 5b): descriptors outside the slots, at FD_BASE + NSLOT +
 * index: three open files of one lock file (two read-write, one read-only: each its
 * own open file description, so their locks can conflict) and the work directory. */
enum { NLOCKFD = 3, FDX_WORK = NLOCKFD, NFDX };
/* Lock cells: the byte ranges the lock ops use cut the file at these offsets. */
enum { NCELL = 6 };
enum { LK_NONE, LK_SHARED, LK_EXCL, LK_UNKNOWN };
/* Pools: at most NPOOL at once, so their groups are 0..NPOOL-1 (the lowest free). */
enum { NPOOL = 4, NPOOLBUF = 8, POOLMAX = NPOOLBUF * 4096 };
enum { RB_NONE, RB_EACH, RB_ALL, RB_UNKNOWN }; /* registered buffers: none, bufs[0..n-1]
						  each, one spanning every bufs[], unknown */

struct slot {
	int fd;
	uint8_t st;     /* ST_*: closing from an accepted cport_close to its reap */
	int sdir, rdir; /* the stream directions it sends on and receives from, or -1 */
	uint32_t gen;   /* bumped when a dynamic slot takes a new descriptor */
	bool sock;      /* a dynamic slot holds a socket (an accept's, a new TCP socket) */
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
	FK_SHUTDOWN, FK_POLL, FK_SENDFILE,
	/* the calls of the second vocabulary (section 5b) */
	FK_OPENAT, FK_READDIR, FK_STATFS, FK_FADVISE, FK_LINK, FK_SYMLINK, FK_READLINK,
	FK_RENAME2, FK_ACCESS, FK_LOCK, FK_UNLOCK, FK_RECV_POOL, FK_RECVMSG_POOL, FK_MAX
};
static const char *const fk_name[FK_MAX] = {
	"?", "nop", "timer", "post", "read", "write", "readv", "writev", "fsync", "open",
	"close", "stat", "fstat", "fallocate", "ftruncate", "rename", "unlink", "mkdir",
	"accept", "connect", "recv", "send", "recvmsg", "sendmsg", "shutdown", "poll",
	"sendfile", "openat", "readdir", "statfs", "fadvise", "link", "symlink", "readlink",
	"rename2", "access", "lock", "unlock", "recv_pool", "recvmsg_pool",
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
	/* second vocabulary (section 5b) */
	bool fixed;      /* a cport_read_fixed / cport_write_fixed: uses the buffers */
	bool regf;       /* its descriptor was registered at submit: uses the files */
	bool regf_maybe; /* ... or may have been (a number in doubt) */
	bool by_wait_op; /* being reaped by cport_wait_op: reap order proves nothing */
	int8_t lk;       /* the lock descriptor (0..NLOCKFD-1) a lock op names, or -1 */
	uint8_t cells;   /* the lock cells its range covers */
	bool lk_conc;    /* another lock op on those cells of that descriptor overlapped */
	int8_t pool;     /* the pool a pool receive names, or -1 */
	bool pool_shared;/* another receive used its pool meanwhile */
	int16_t pool_handed; /* buffers its completions handed over */
	int16_t pool_held; /* buffers the caller held at its submit */
};

/* SEQ_MUST_FAIL: a successor cport_wait_op reaped first was cancelled by the chain.
 * SEQ_WAIT_OP: reaped by cport_wait_op, maybe ahead of completions queued before it. */
enum { SEQ_REAPED = 1, SEQ_OK = 2, SEQ_MUST_FAIL = 4, SEQ_WAIT_OP = 8 };

static struct {
	bool ready;
	bool trace;
	bool sim;          /* the port is the simulation's: its world is its own (world_sim) */
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
	bool v2;           /* the input reads the second vocabulary (section 5b) */
	int fdx[NFDX];
	char lock_path[96];
	uint8_t lk_state[NLOCKFD][NCELL];
	uint8_t lk_pending[NLOCKFD][NCELL];
	uint8_t rb;        /* RB_*: the registered buffers */
	uint32_t rb_n;
	bool rf;           /* files are registered (the set may have lost members) */
	bool rf_unsure;    /* ... or may be: a call's outcome was not certain */
	uint32_t rf_gen[NSLOT + 1]; /* slot -> its gen + 1 while it is registered, else 0 */
	struct pool {
		bool live;
		uint32_t count, size;
		uint8_t owned[NPOOLBUF]; /* the caller's: handed over, not yet returned */
		uint32_t hash[NPOOLBUF]; /* of its bytes when handed over */
		uint32_t n_owned;
	} pool[NPOOL];
	struct {
		uint8_t val[SCRSZ], known[SCRSZ];
		uint64_t size;
		bool size_known;
		uint32_t epoch, busy; /* busy: changes in flight; epoch: bumped by each */
	} scr;
} F;

static cport_op ops[NOPS + 1];
static _Alignas(64) uint8_t bufs[NOPS + 1][BUFSZ];
static cport_iovec iovs[NOPS + 1][NIOV];
static cport_msg msgs[NOPS + 1];
static cport_addr addrs[NOPS + 1];
static cport_statbuf stats[NOPS + 1];
static cport_iovec iov_many[1025]; /* for an iovcnt over the limit */
static cport_statfsbuf statfss[NOPS + 1];
static uint8_t poolmem[NPOOL][POOLMAX];

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

/* The port's clock, for the checks of timeouts and timers: virtual on the simulation
 * (cport_clock_ns), cport_now_ns() elsewhere. Guards against hangs read cport_now_ns(). */
static uint64_t fz_clock(void)
{
	return F.sim && F.port ? cport_clock_ns(F.port) : cport_now_ns();
}

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
	FZ_UNPOISON(statfss, sizeof statfss);
	FZ_UNPOISON(poolmem, sizeof poolmem);
	memset(ops, 0, sizeof ops);
	memset(F.lk_state, LK_NONE, sizeof F.lk_state);
	memset(F.lk_pending, 0, sizeof F.lk_pending);
	memset(F.rf_gen, 0, sizeof F.rf_gen);
	memset(F.pool, 0, sizeof F.pool);
	F.rb = RB_NONE;
	F.rb_n = 0;
	F.rf = F.rf_unsure = false;
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

/* The second vocabulary's descriptors: the lock file's three open files and the work
 * directory, at fixed numbers past the slots'. */
static void world_extra(void)
{
	static const int modes[NFDX] = {O_RDWR, O_RDWR, O_RDONLY, O_RDONLY | O_DIRECTORY};
	for (int k = 0; k < NFDX; k++) {
		int fd = open(k == FDX_WORK ? F.work : F.lock_path, modes[k] | O_CLOEXEC);
		if (fd < 0 || dup3(fd, FD_BASE + NSLOT + k, O_CLOEXEC) < 0) {
			perror("cport-fuzz: the lock file or the work directory");
			abort();
		}
		close(fd);
		F.fdx[k] = FD_BASE + NSLOT + k;
	}
}

/* -- The simulation's world (backend "sim"): it knows only the descriptors it made, so
 * the files are made on its disk with the port's own calls and the streams are its
 * pairs. The pattern file is written whole and opened again read-only; the scratch
 * file is empty, as the real world's O_TMPFILE is. The pipe and the TCP pair are sim
 * pairs too (the pipe's reverse direction is not checked, as nothing is recorded on
 * it); the listener and the UDP socket stay absent (ST_FREE: CPORT_EBADF, as for a
 * free dynamic slot). These descriptors are the port's: closed by cport_close or
 * cport_destroy, never by the target. */

static uint8_t pat_byte(uint64_t off);

/* One set-up call on op ops[NOPS], reaped at once; its result. */
static int64_t sim_setup_op(int rc, const char *what)
{
	cport_op *out[1];
	if (rc != 0)
		fz_fail("sim world: %s refused: %s", what, cport_err_name(rc));
	int n = cport_wait(F.port, out, 1, -1);
	if (n != 1 || out[0] != &ops[NOPS])
		fz_fail("sim world: waiting for %s: %d", what, n);
	int64_t v = ops[NOPS].result;
	memset(&ops[NOPS], 0, sizeof ops[NOPS]);
	return v;
}

static int sim_setup_open(const char *path, uint32_t flags)
{
	int64_t fd = sim_setup_op(cport_open(F.port, &ops[NOPS], path, flags, 0644), "open");
	if (fd < 0)
		fz_fail("sim world: open %s: %s", path, cport_err_name(fd));
	return (int)fd;
}

static void sim_place(int fd, int slot)
{
	F.sl[slot].fd = fd;
	F.sl[slot].st = ST_OPEN;
}

static void world_sim(void)
{
	static uint8_t pat[PATSZ];
	if (!pat[0])
		for (uint64_t i = 0; i < PATSZ; i++)
			pat[i] = pat_byte(i);
	memset(&ops[NOPS], 0, sizeof ops[NOPS]);
	int fd = sim_setup_open("pattern", CPORT_O_RDWR | CPORT_O_CREAT | CPORT_O_TRUNC);
	int64_t v = sim_setup_op(cport_write(F.port, &ops[NOPS], fd, pat, PATSZ, 0), "write");
	if (v != PATSZ)
		fz_fail("sim world: writing the pattern file: %lld", (long long)v);
	if ((v = sim_setup_op(cport_close(F.port, &ops[NOPS], fd), "close")) != 0)
		fz_fail("sim world: closing the pattern file: %s", cport_err_name(v));
	sim_place(sim_setup_open("pattern", CPORT_O_RDONLY), SL_PAT);
	sim_place(sim_setup_open("scratch", CPORT_O_RDWR | CPORT_O_CREAT | CPORT_O_TRUNC),
		  SL_SCR);
	static const int pairs[2][2] = {{SL_PIPE_W, SL_PIPE_R}, {SL_UNIX_A, SL_UNIX_B}};
	for (int k = 0; k < 2; k++) {
		cport_fd p[2];
		int rc = cport_sim_socketpair(F.port, p);
		if (rc != 0)
			fz_fail("sim world: cport_sim_socketpair: %s", cport_err_name(rc));
		sim_place(p[0], pairs[k][0]);
		sim_place(p[1], pairs[k][1]);
	}
	/* The TCP pair, the listener and the UDP socket: the simulation's, made by the
	 * socket helpers while its port exists, connected with its ops. */
	cport_addr a;
	cport_fd l, c, u;
	if (cport_addr_parse(&a, "127.0.0.1:0") < 0 || cport_tcp_listen(&l, &a, 64, 0) < 0 ||
	    cport_sock_local(l, &F.listen_addr) < 0 || cport_tcp_socket(&c, CPORT_AF_INET) < 0 ||
	    cport_udp_socket(&u, &a, 0) < 0 || cport_sock_local(u, &F.udp_addr) < 0)
		fz_fail("sim world: the socket helpers");
	if ((v = sim_setup_op(cport_connect(F.port, &ops[NOPS], c, &F.listen_addr), "connect")))
		fz_fail("sim world: connect: %s", cport_err_name(v));
	int64_t sv = sim_setup_op(cport_accept(F.port, &ops[NOPS], l, NULL, 0), "accept");
	if (sv < 0)
		fz_fail("sim world: accept: %s", cport_err_name(sv));
	sim_place(l, SL_LISTEN);
	sim_place(c, SL_TCP_C);
	sim_place((int)sv, SL_TCP_S);
	sim_place(u, SL_UDP);
}

/* On the simulation, is `slot` a socket (else a file or none)? */
static bool sim_sock_slot(int slot)
{
	return slot >= NFIXED ? F.sl[slot].sock : slot >= SL_PIPE_R && slot <= SL_UDP;
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
	if (F.sim) {
		world_sim();
	} else {
		place(open(F.pat_path, O_RDONLY | O_CLOEXEC), SL_PAT);
		place(open(F.tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600), SL_SCR);
		world_sockets();
	}
	/* (On the simulation, the second vocabulary's descriptors are of the real world:
	 * every op naming them is one it refuses, CPORT_ENOTSUP, or CPORT_EBADF.) */
	F.v2 = (cfg & 0xC0) == 0x80;
	if (F.v2)
		world_extra();
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
	bool msg_addr;   /* a sendmsg with an address */
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
	s->r.lk = s->r.pool = -1;
	s->r.exact = -1;
	uint8_t f = rd8(), g = rd8();
	if (!s->busy) { /* an op in flight is the library's: not a field is written */
		s->op->user = (void *)(uintptr_t)(0xC0DE0000u | (unsigned)s->i << 8 | f);
		s->op->timeout_ns = fz_timeouts[(f >> 3) & 15];
		s->op->flags = (f & 1 ? CPORT_OP_LINK : 0) |
			       ((f & 6) == 6 ? CPORT_OP_BARRIER : 0) |
			       (F.v2 && (f & 0x80) ? CPORT_OP_INLINE : 0);
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

/* Simulation: an open in flight may take the number of a descriptor being closed. */
static bool sim_open_inflight(void)
{
	for (int j = 0; j <= NOPS; j++)
		if (F.rec[j].inflight && F.rec[j].kind == FK_OPEN)
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
	/* On the simulation every slot's number is the world's, not FD_BASE's: once a
	 * close of it was accepted, the close may run at once and a new socket (the
	 * socket helpers make them outside any op) or an open take the number, and an op
	 * naming the old slot would reach the new descriptor (a close did, an input
	 * found). So a slot being closed is named no more there (as a free one). */
	if (sl->st == ST_FREE || (F.sim && (sl->st != ST_OPEN || sl->held_closes))) {
		s->neg_fd = true;
		want(s, X_EBADF);
		return -1;
	}
	*slot = (int)n;
	s->fd = primary ? sl->fd : s->fd;
	if (sl->st != ST_OPEN)
		want(s, n < NFIXED && primary && !(F.sim && sim_open_inflight()) ? X_EBADF : X_ANY);
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

/* A receive's completion: its bytes, in its place in the stream's order. A multishot
 * receive has one place and several completions (`final`: its last): their bytes are
 * fed as they come while it is the oldest receive not checked, else kept. */
static void dir_recv_done(const struct rec *r, const uint8_t *buf, int64_t v, bool final)
{
	struct dir *d = &F.d[r->dir];
	struct recvrec *q = &d->r[r->rrec];
	uint32_t n = v > 0 ? (uint32_t)v : 0;
	TR("    stream %d: receive %u (head %u) of %lld bytes; checked to send %u byte %u\n",
	   r->dir, r->rrec, d->rhead, (long long)v, d->k, d->j);
	if (v == 0 && r->len > 0 && !d->eof_ok && !d->lost)
		fz_fail("stream %d: a %s got end of stream, but its sender is open", r->dir,
			fk_name[r->kind]);
	if (r->rrec == d->rhead) {
		if (q->copy)
			dir_feed(d, q->copy, q->n);
		free(q->copy);
		q->copy = NULL;
		q->n = 0;
		dir_feed(d, buf, n);
	} else if (n) {
		uint8_t *c = realloc(q->copy, (size_t)q->n + n);
		if (!c)
			abort();
		memcpy(c + q->n, buf, n);
		q->copy = c;
		q->n += n;
	}
	if (!final)
		return;
	q->reaped = true;
	if (r->rrec == d->rhead) {
		d->rhead++;
		dir_pump(d);
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

static void sub_accept2(struct rec *r);

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
	if (F.v2)
		sub_accept2(r);
}

static bool is_pool_kind(uint8_t kind);

/* The simulation's refusals at submit (cport.h section 8): ops it does not have
 * (CPORT_ENOTSUP, whatever the descriptor), and what its check of the descriptor says
 * at once where other backends complete with it: a socket op on a file
 * (CPORT_ENOTSOCK), an offset on a socket (CPORT_ESPIPE). Descriptors of the real
 * world are CPORT_EBADF to it; those are always picked as X_ANY or X_EBADF here. */
static bool sim_refusal(const struct sub *s, int rc)
{
	uint8_t k = s->r.kind;
	int slot = s->r.slot;
	switch (rc) {
	case CPORT_ENOTSUP:
		return k == FK_READDIR || k == FK_LINK ||
		       k == FK_SYMLINK || k == FK_READLINK || k == FK_LOCK || k == FK_UNLOCK;
	case CPORT_EBADF: /* openat's directory or sendfile's file is the OS's, which the
			     simulation lacks */
		return k == FK_OPENAT || k == FK_SENDFILE;
	case CPORT_ENOTSOCK:
		return (k == FK_RECV || k == FK_SEND || k == FK_RECVMSG || k == FK_SENDMSG ||
			k == FK_SHUTDOWN || k == FK_SENDFILE || k == FK_ACCEPT ||
			k == FK_CONNECT || is_pool_kind(k)) &&
		       slot >= 0 && !sim_sock_slot(slot);
	case CPORT_EINVAL: /* sendfile's source is a stream pair, not a file */
		return k == FK_SENDFILE;
	case CPORT_ESPIPE:
		return (k == FK_READ || k == FK_WRITE || k == FK_READV || k == FK_WRITEV) &&
		       s->r.off >= 0 && slot >= 0 && sim_sock_slot(slot);
	default:
		return false;
	}
}

/* A submit call answered `rc`: check it against what the arguments called for. */
static void sub_end(struct sub *s, int rc)
{
	TR("  %s%s op %d fd %d slot %d flags 0x%x tmo %llu (x%u%s) -> %s\n", fk_name[s->r.kind],
	   s->r.fixed ? "_fixed" : "", s->i, s->fd, s->r.slot, s->op->flags,
	   (unsigned long long)s->op->timeout_ns, s->x,
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
	if (F.sim && s->port && s->opa && s->x != X_BADARG && !s->busy && sim_refusal(s, rc)) {
		if (!pub_same(&s->before, s->op))
			fz_fail("%s refused (%s), but its public fields changed", fk_name[s->r.kind],
				cport_err_name(rc));
		return;
	}
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
	s->r.t_sub = fz_clock();
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
	case FK_RECV_POOL:
	case FK_RECVMSG_POOL:
		return v > 0;
	default:
		return v >= 0;
	}
}

static void check_error2(const struct rec *r, int64_t v);

static void check_error(const struct rec *r, int64_t v, uint64_t now)
{
	const char *k = fk_name[r->kind];
	check_error2(r, v);
	if (!is_code(v))
		fz_fail("%s completed with %lld, not a CPORT_E* code", k, (long long)v);
	if (v == CPORT_ECANCELED && !r->cancelled && !r->closed && !pred_failed(r)) {
		/* Reaped by cport_wait_op ahead of its predecessor: that one must fail. */
		if (!r->by_wait_op || !r->pred || (F.seq_st[r->pred] & SEQ_REAPED))
			fz_fail("%s completed CPORT_ECANCELED, but nothing cancelled it", k);
		F.seq_st[r->pred] |= SEQ_MUST_FAIL;
	}
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

static void check_value2(const struct rec *r, int64_t v);

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
		/* On sim a sendfile held by a link takes its file when it starts, and an input
		 * may close that number and open another file on it meanwhile (cport.h asks
		 * the caller to keep a sendfile's file open): there only the bound holds. */
		if ((uint64_t)v > r->len ||
		    (r->exact >= 0 && v != r->exact && !(F.sim && r->kind == FK_SENDFILE)))
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
	case FK_OPENAT:
		check_fd_result(r, v);
		break;
	case FK_READDIR:
	case FK_READLINK:
	case FK_STATFS:
	case FK_RECV_POOL:
	case FK_RECVMSG_POOL:
		check_value2(r, v);
		break;
	default:
		if (v != 0)
			fz_fail("%s completed with %lld, not 0", k, (long long)v);
	}
}

/* A held member's own timeout may have ended it before its predecessor failed, its
 * completion queued ahead of the predecessor's: seen after it only when cport_wait_op
 * took the predecessor out of the queue's order. */
static bool failed_pred_allows(const struct rec *r, int64_t v)
{
	return v == CPORT_ECANCELED ||
	       (v == CPORT_ETIMEDOUT && r->timeout_ns && (F.seq_st[r->pred] & SEQ_WAIT_OP));
}

/* Links, barriers and closes keep an order (cport.h 4b; cport_close). */
static void check_order(const struct rec *r, int64_t v, bool more)
{
	const char *k = fk_name[r->kind];
	bool early = v == CPORT_ECANCELED || v == CPORT_ETIMEDOUT;
	if (r->by_wait_op) {
		/* cport_wait_op took it out of the queue's order: only a failed
		 * predecessor reaped before it says anything. */
		if (pred_failed(r) && !failed_pred_allows(r, v))
			fz_fail("chain member %s ran (%lld) after its predecessor failed", k,
				(long long)v);
		return;
	}
	if (r->pred && !(F.seq_st[r->pred] & SEQ_REAPED)) {
		/* It ended before its predecessor: it must never have started. */
		if (more || !((v == CPORT_ECANCELED && (r->cancelled || r->closed)) ||
			      (v == CPORT_ETIMEDOUT && r->timeout_ns)))
			fz_fail("chain member %s completed (%s) before its predecessor", k,
				cport_err_name(v));
	} else if (pred_failed(r) && !failed_pred_allows(r, v)) {
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
static void adopt_fd(int fd, bool sock)
{
	if (!F.sim)
		no_linger(fd);
	for (int i = NFIXED; i < NSLOT; i++)
		if (F.sl[i].st == ST_FREE) {
			F.sl[i].fd = fd;
			F.sl[i].st = ST_OPEN;
			F.sl[i].gen++;
			F.sl[i].sock = sock;
			return;
		}
	if (F.sim)
		return; /* the port's: its destroy closes it (cport_sock_close must not) */
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
	if (v != CPORT_ECANCELED) {
		F.rf_gen[r->slot] = 0; /* its registered slot was emptied (cport.h 4d) */
		slot_closed(r->slot);
	}
	else if (held)
		sl->held_closes--;
}

static const uint8_t *apply2(struct rec *r, int64_t v, uint32_t cf);

/* What a completion changes in the world and the models. */
static void apply(struct rec *r, int i, int64_t v, uint32_t cf)
{
	const uint8_t *buf = bufs[i];
	if (F.v2)
		buf = apply2(r, v, cf); /* a pool receive's bytes are in its pool */
	if (!buf)
		buf = bufs[i];
	if (r->role == ROLE_RECV)
		dir_recv_done(r, buf, v, !(cf & CPORT_MORE));
	else if (r->role == ROLE_SEND)
		F.d[r->dir].s[r->srec].st = rec_ok(r, v) ? SR_OK : SR_FAILED;
	if (r->slot == SL_PAT && r->off >= 0 && v > 0 && r->exact >= 0 &&
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
	if ((r->kind == FK_OPEN || r->kind == FK_ACCEPT || r->kind == FK_OPENAT) && v >= 0)
		adopt_fd((int)v, r->kind == FK_ACCEPT);
	if (r->kind == FK_CLOSE && r->slot >= 0)
		close_done(r, v);
	if (r->kind == FK_POST)
		F.posts--;
}

static uint32_t cflags_allowed(const struct rec *r);

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
	if (op->cflags & ~(CPORT_MORE | cflags_allowed(r)))
		fz_fail("op %d (%s): cflags 0x%x it cannot have", i, fk_name[r->kind], op->cflags);
	if (more && (!r->multishot || op->result < 0))
		fz_fail("%s op %d completed with CPORT_MORE (result %lld)", fk_name[r->kind], i,
			(long long)op->result);
	int64_t v = op->result;
	TR("  reap op %d %s seq %u -> %lld%s (cflags 0x%x)\n", i, fk_name[r->kind], r->seq,
	   (long long)v, more ? " MORE" : "", op->cflags);
	uint64_t now = fz_clock();
	if (r->kind == FK_POST) {
		if (v != r->post || op->cflags)
			fz_fail("post of %lld completed with %lld", (long long)r->post, (long long)v);
	} else if (v < 0) {
		check_error(r, v, now);
	} else {
		check_value(r, v, now);
	}
	check_order(r, v, more);
	apply(r, i, v, op->cflags);
	if (!more) {
		if ((F.seq_st[r->seq] & SEQ_MUST_FAIL) && rec_ok(r, v))
			fz_fail("%s (seq %u) succeeded, but its successor was cancelled for its "
				"failure", fk_name[r->kind], r->seq);
		r->inflight = false;
		F.seq_st[r->seq] = SEQ_REAPED | (rec_ok(r, v) ? SEQ_OK : 0) |
				   (r->by_wait_op ? SEQ_WAIT_OP : 0);
	}
	r->by_wait_op = false;
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
		ns = (b & 7) >= 5 ? ns : (b & 7) == 0 ? 0 : fz_clock() + ns;
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
		else if (slot >= 0 && F.sl[slot].st != ST_OPEN)
			; /* being closed: on the simulation the number may be another's */
		else if (slot == SL_PAT && off >= 0 && len <= BUFSZ)
			s->r.exact = off >= PATSZ ? 0 : (int64_t)(len < (size_t)(PATSZ - off) ? len : (size_t)(PATSZ - off));
		else if (slot == SL_SCR && off >= 0)
			s->r.scr_check = true;
		return;
	}
	if (off == -1)
		send_prep(s, slot, len, true);
	if (slot == SL_SCR && F.sl[slot].st == ST_OPEN) {
		s->r.scr_mut = true;
		if (len <= BUFSZ)
			fill_gen(bufs[s->i], len, seed_of(0x5C, F.seq + 1));
	}
}

static unsigned fixed_index(struct sub *s, const void *buf, size_t len, uint8_t ib);

/* fixed: cport_read_fixed / cport_write_fixed (kind FK_READ / FK_WRITE), whose models
 * are the plain calls' (section 5b). */
static void do_rw(uint8_t kind, bool fixed)
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
	unsigned index = fixed ? fixed_index(&s, buf, len, rd8()) : 0;
	s.r.slot = slot;
	s.r.off = off;
	s.r.len = len;
	s.r.fixed = fixed;
	if (s.x < X_BADARG)
		rw_data(&s, slot, off, len);
	sub_go(&s);
	int rc;
	switch (kind) {
	case FK_READ:
		rc = fixed ? cport_read_fixed(s.port, s.opa, fd, buf, len, off, index)
			   : cport_read(s.port, s.opa, fd, buf, len, off);
		break;
	case FK_WRITE:
		rc = fixed ? cport_write_fixed(s.port, s.opa, fd, buf, len, off, index)
			   : cport_write(s.port, s.opa, fd, buf, len, off);
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

static void inline_check(const struct sub *s);

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
	s->r.scr_mut = s->r.slot == SL_SCR && F.sl[SL_SCR].st == ST_OPEN && s->x < X_BADARG &&
		       !s->busy;
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
	if (rc == 0 && kind == FK_FSTAT)
		inline_check(&s);
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
	if (rc == 0 && kind == FK_STAT)
		inline_check(&s);
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
			adopt_fd(fd, true);
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

static uint32_t send_flags(struct sub *s, uint8_t kind, uint8_t lb);

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
	if (F.v2 && !fl) /* zero-copy: a send's flags, a receive's none */
		fl = send_flags(&s, kind, lb);
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
			s.msg_addr = true;
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
	if (F.sl[slot].st != ST_OPEN || F.sim) /* the simulation's: cport_close only */
		return;
	for (int j = 0; j <= NOPS; j++)
		if (F.rec[j].inflight && (F.rec[j].slot == slot || F.rec[j].slot2 == slot))
			return;
	int rc = cport_sock_close(F.sl[slot].fd);
	if (rc != 0)
		fz_fail("cport_sock_close of an open descriptor: %s", cport_err_name(rc));
	F.rf_gen[slot] = 0; /* the next op on the number empties its registered slot */
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
	FZ_POISON(statfss, sizeof statfss);
	FZ_POISON(poolmem, sizeof poolmem);
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
		s.r.lk = s.r.pool = -1;
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
		/* (the simulation's descriptors were closed by cport_destroy) */
		if (!F.sim && (F.sl[i].st == ST_OPEN || F.sl[i].st == ST_CLOSING))
			close(F.sl[i].fd);
		F.sl[i].st = ST_FREE;
	}
	for (int k = 0; F.v2 && k < NFDX; k++)
		close(F.fdx[k]);
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

/* ---- 6b. The second vocabulary ------------------------------------------------------ */

/*
 * The calls cport gained after the first vocabulary was fixed: the directory, file
 * system and lock ops of cport.h 4c, registered buffers and files (4d), pool receives
 * (6b), CPORT_OP_INLINE, cport_wait_op, and the zero-copy send flags. An input whose
 * configuration byte has bits 7..6 = 10 reads them: its action byte is read modulo 64,
 * and 32 and up are these (act2); CPORT_OP_INLINE is bit 7 of an op's flags byte, the
 * send flags bits 5..3 of a send's or receive's length byte. Every other input reads
 * the first vocabulary exactly as before, so the inputs kept earlier replay unchanged.
 *
 * Paths stay inside the work directory: the path calls take F.paths (absolute, in it),
 * cport_openat takes the same names relative to a directory of the work tree, and a
 * symbolic link's text is one of those names, relative and without "..", so no link
 * leads out of the tree. The names any directory of the tree can hold are therefore
 * ".", "..", "a", "b", "c", "d" and "e": a readdir must list no other.
 */

static bool backend_is(const char *name)
{
	return strcmp(cport_backend_name(F.port), name) == 0;
}

static bool is_pool_kind(uint8_t kind)
{
	return kind == FK_RECV_POOL || kind == FK_RECVMSG_POOL;
}

/* -- CPORT_OP_INLINE: a stat or fstat allowed to run inline has completed when its
 * submit returns ("its completion is already queued"), unless a link or a barrier
 * holds it; cport_wait_op must then reap it without waiting. */
static void inline_check(const struct sub *s)
{
	struct rec *r = &F.rec[s->i];
	if (!(r->flags & CPORT_OP_INLINE) || may_be_held(r) || F.chain_open ||
	    !(backend_is("io_uring") || backend_is("epoll") || backend_is("poll")))
		return;
	int rc = cport_wait_op(F.port, s->op, 0);
	TR("  wait_op (inline %s) op %d -> %s\n", fk_name[r->kind], s->i, cport_err_name(rc));
	if (rc != 0)
		fz_fail("%s with CPORT_OP_INLINE had not completed when its submit returned "
			"(cport_wait_op: %s)", fk_name[r->kind], cport_err_name(rc));
	r->by_wait_op = true;
	reap_one(s->op);
}

/* -- Zero-copy flags of cport_send (bits 5..3 of the length byte; a receive takes
 * none), and the completion flags each op may carry. */
static uint32_t send_flags(struct sub *s, uint8_t kind, uint8_t lb)
{
	static const uint32_t zc[8] = {0, CPORT_SEND_ZC, CPORT_SEND_NOZC,
				       CPORT_SEND_ZC | CPORT_SEND_NOZC, 0, 0, 0, 0};
	uint32_t fl = zc[(lb >> 3) & 7];
	if (fl && (kind == FK_RECV || fl == (CPORT_SEND_ZC | CPORT_SEND_NOZC)))
		want(s, X_BADARG);
	s->r.aux = fl;
	return fl;
}

static uint32_t cflags_allowed(const struct rec *r)
{
	if (is_pool_kind(r->kind))
		return CPORT_BUF | 0xFFFFu << CPORT_BUF_SHIFT;
	/* CPORT_ZC: io_uring, asked for (the world's peers are on this host), on TCP. */
	if (r->kind == FK_SEND && (r->aux & CPORT_SEND_ZC) && F.port && backend_is("io_uring") &&
	    r->slot != SL_PIPE_W && r->slot != SL_UNIX_A && r->slot != SL_UNIX_B)
		return CPORT_ZC;
	return 0;
}

/* -- Directories and paths (4c) */

static const char *const rel_names[6] = {"a", "b", "d", "d/e", "nodir/x", "c"};
static const char *const link_texts[6] = {"a", "b", "d", "d/e", "e", "c"};

/* A directory for cport_openat and cport_readdir: the work directory, a slot's
 * descriptor (a directory an open made, or anything else), or CPORT_AT_CWD (*rel
 * false: a relative path must not go with it, the current directory is outside the
 * fuzzer's tree). */
static cport_fd pick_dir(struct sub *s, uint8_t b, int *slot, bool *rel)
{
	*slot = -1;
	*rel = true;
	switch (b & 7) {
	case 0:
	case 1:
	case 2:
		return s->fd = F.fdx[FDX_WORK];
	case 3:
		*rel = false;
		return s->fd = CPORT_AT_CWD;
	default:
		return pick_fd(s, b >> 3, slot, true);
	}
}

/* cport_open's flags and mode, valid or not, from `b` and the input. */
static uint32_t open_flags(struct sub *s, uint8_t b, uint32_t *mode)
{
	uint32_t fl = rd16() & ((b & 0xC0) == 0x80 ? 0x7FF : 0x3FF);
	*mode = (b & 0xC0) == 0x40 ? 010000 : 0644;
	if ((fl & 0x400) || *mode > 07777 || ((fl & CPORT_O_WRONLY) && (fl & CPORT_O_RDWR)))
		want(s, X_BADARG);
	return fl;
}

static void do_openat(void)
{
	struct sub s;
	sub_begin(&s, FK_OPENAT);
	int slot;
	bool rel;
	uint8_t db = rd8(), b = rd8();
	cport_fd dir = pick_dir(&s, db, &slot, &rel);
	const char *p = pick_path(&s, b);
	if (rel && (b & 7) < 6 && (b & 8))
		p = rel_names[b & 7];
	uint32_t mode, fl = open_flags(&s, b, &mode);
	s.r.slot = slot;
	sub_go(&s);
	sub_end(&s, cport_openat(s.port, s.opa, dir, p, fl, mode));
}

static void do_readdir(void)
{
	static const size_t lens[4] = {CPORT_READDIR_MIN - 1, CPORT_READDIR_MIN, 4096, BUFSZ};
	struct sub s;
	sub_begin(&s, FK_READDIR);
	int slot;
	bool rel;
	uint8_t db = rd8(), b = rd8();
	cport_fd dir = pick_dir(&s, db, &slot, &rel);
	if (!rel) { /* CPORT_AT_CWD is no descriptor to list */
		s.neg_fd = true;
		want(&s, X_EBADF);
	}
	size_t len = lens[b & 3];
	uint8_t *buf = bufs[s.i];
	uint32_t fl = b & 4 ? CPORT_READDIR_REWIND : 0;
	if (len < CPORT_READDIR_MIN)
		want(&s, X_BADARG);
	if ((b & 0x18) == 0x08) {
		buf = NULL;
		want(&s, X_BADARG);
	} else if ((b & 0x18) == 0x10) {
		buf += 4, len -= len == BUFSZ ? 8 : 0; /* not 8-byte aligned */
		want(&s, X_BADARG);
	}
	if ((b & 0x60) == 0x60) {
		fl |= 1u << 5;
		want(&s, X_BADARG);
	}
	s.r.slot = slot;
	s.r.len = len;
	if (!s.busy && s.x < X_BADARG)
		memset(bufs[s.i], 0xEE, len);
	sub_go(&s);
	sub_end(&s, cport_readdir(s.port, s.opa, dir, buf, len, fl));
}

/* statfs, link, symlink, readlink, rename2, access: paths of the work tree. */
static void do_path2(uint8_t kind)
{
	static const size_t rl_lens[8] = {0, 1, 2, 4096, BUFSZ, 100, 3, 4};
	struct sub s;
	sub_begin(&s, kind);
	uint8_t b = rd8(), c = rd8();
	const char *p = pick_path(&s, b), *p2 = NULL;
	uint32_t fl = 0;
	size_t len = 0;
	void *buf = bufs[s.i];
	switch (kind) {
	case FK_STATFS:
		if ((c & 7) == 7) {
			buf = NULL;
			want(&s, X_BADARG);
		}
		break;
	case FK_LINK:
	case FK_RENAME2:
		p2 = pick_path(&s, c);
		fl = kind == FK_LINK ? 0 : (c >> 3) & 7;
		if (fl == 3 || fl == 4) { /* both flags; a bit no flag uses */
			fl = fl == 4 ? 1u << 5 : CPORT_RENAME_NOREPLACE | CPORT_RENAME_EXCHANGE;
			want(&s, X_BADARG);
		} else {
			fl -= fl >= 5 ? 5 : 0; /* 0, NOREPLACE or EXCHANGE */
		}
		break;
	case FK_SYMLINK:
		p2 = (c & 7) == 7 ? NULL : (c & 7) == 6 ? "" : link_texts[c & 7];
		fl = (c >> 3) & 3;
		if (!p2 || fl == 2) {
			fl = fl == 2 ? 1u << 4 : fl;
			want(&s, X_BADARG);
		}
		fl &= 1 | 1u << 4;
		break;
	case FK_READLINK:
		len = rl_lens[c & 7];
		if (!len || (c & 0x18) == 0x18) {
			buf = (c & 0x18) == 0x18 ? NULL : buf;
			want(&s, X_BADARG);
		}
		s.r.len = len;
		if (!s.busy && s.x < X_BADARG)
			memset(bufs[s.i], 0xEE, len);
		break;
	default: /* access */
		fl = c & 7;
		if (c & 8) {
			fl |= 1u << 4;
			want(&s, X_BADARG);
		}
		break;
	}
	sub_go(&s);
	int rc;
	switch (kind) {
	case FK_STATFS:
		rc = cport_statfs(s.port, s.opa, p, buf ? &statfss[s.i] : NULL);
		break;
	case FK_LINK:
		rc = cport_link(s.port, s.opa, p, p2);
		break;
	case FK_RENAME2:
		s.r.aux = fl; /* (read again by sim_refusal) */
		rc = cport_rename2(s.port, s.opa, p, p2, fl);
		break;
	case FK_SYMLINK: /* the link at p, its text p2 */
		rc = cport_symlink(s.port, s.opa, p2, p, fl);
		break;
	case FK_READLINK:
		rc = cport_readlink(s.port, s.opa, p, buf, len);
		break;
	default:
		rc = cport_access(s.port, s.opa, p, fl);
		break;
	}
	sub_end(&s, rc);
}

static void do_fadvise(void)
{
	static const int64_t offs[4] = {0, 4096, (int64_t)1 << 40, -1};
	static const int64_t lens[4] = {0, 100, PATSZ, -1};
	struct sub s;
	sub_begin(&s, FK_FADVISE);
	int slot;
	cport_fd fd = pick_fd(&s, rd8(), &slot, true);
	uint8_t b = rd8();
	int64_t off = offs[b & 3], len = lens[(b >> 2) & 3];
	uint32_t adv = (b >> 4) & 7;
	if (off < 0 || len < 0 || adv > CPORT_FADV_NOREUSE)
		want(&s, X_BADARG);
	s.r.slot = slot;
	sub_go(&s);
	sub_end(&s, cport_fadvise(s.port, s.opa, fd, off, len, adv));
}

static bool dirent_name_ok(const char *n)
{
	static const char *const names[7] = {".", "..", "a", "b", "c", "d", "e"};
	for (int k = 0; k < 7; k++)
		if (strcmp(n, names[k]) == 0)
			return true;
	return false;
}

/* A readdir's records: whole, each laid out as cport.h says, of names and types the
 * work tree can hold (files, directories, symbolic links). */
static void readdir_check(const struct rec *r, const uint8_t *buf, int64_t v)
{
	if ((uint64_t)v > r->len)
		fz_fail("readdir into %llu bytes completed with %lld", (unsigned long long)r->len,
			(long long)v);
	for (int64_t at = 0; at < v;) {
		cport_dirent d;
		if (v - at < (int64_t)sizeof d)
			fz_fail("readdir: a record cut at byte %lld of %lld", (long long)at,
				(long long)v);
		memcpy(&d, buf + at, sizeof d);
		const char *name = (const char *)buf + at + sizeof d;
		size_t rl = (sizeof d + d.namelen + 1 + 7) & ~(size_t)7;
		if (d.reclen != rl || d.reclen > v - at || d.namelen == 0 || name[d.namelen] ||
		    strlen(name) != d.namelen)
			fz_fail("readdir: a record at byte %lld (reclen %u, namelen %u) is malformed",
				(long long)at, d.reclen, d.namelen);
		if (!dirent_name_ok(name))
			fz_fail("readdir listed \"%s\", which the work tree cannot hold", name);
		if (d.type != CPORT_DT_UNKNOWN && d.type != CPORT_DT_DIR && d.type != CPORT_DT_REG &&
		    d.type != CPORT_DT_LNK)
			fz_fail("readdir: \"%s\" has type %u", name, d.type);
		at += d.reclen;
	}
}

static void readlink_check(const struct rec *r, const char *buf, int64_t v)
{
	if ((uint64_t)v >= r->len || buf[v] || strlen(buf) != (size_t)v)
		fz_fail("readlink into %llu bytes: %lld, text not NUL-terminated there",
			(unsigned long long)r->len, (long long)v);
	for (int k = 0; k < 6; k++)
		if (strcmp(buf, link_texts[k]) == 0)
			return;
	fz_fail("readlink gave \"%s\", which no symlink of ours holds", buf);
}

static void statfs_check(const cport_statfsbuf *st)
{
	if (!st->bsize || st->free > st->total || st->avail > st->total ||
	    st->ffree > st->files || !st->namemax)
		fz_fail("statfs: bsize %llu, total %llu, free %llu, avail %llu, files %llu, "
			"ffree %llu, namemax %u", (unsigned long long)st->bsize,
			(unsigned long long)st->total, (unsigned long long)st->free,
			(unsigned long long)st->avail, (unsigned long long)st->files,
			(unsigned long long)st->ffree, st->namemax);
}

static void check_value2(const struct rec *r, int64_t v)
{
	int i = (int)(r - F.rec);
	switch (r->kind) {
	case FK_READDIR:
		readdir_check(r, bufs[i], v);
		break;
	case FK_READLINK:
		readlink_check(r, (const char *)bufs[i], v);
		break;
	case FK_STATFS:
		if (v != 0)
			fz_fail("statfs completed with %lld", (long long)v);
		statfs_check(&statfss[i]);
		break;
	default: /* pool receives: checked when the buffer is handed over */
		if ((uint64_t)v > r->len)
			fz_fail("%s of a pool of %llu-byte buffers gave %lld bytes",
				fk_name[r->kind], (unsigned long long)r->len, (long long)v);
		break;
	}
}

/* -- Locks (4c): three open files of one lock file; a model of what each holds, cell
 * by cell (LK_*), known only while no lock op on that cell of that file is in flight.
 * A lock granted while another open file is known to hold a conflicting one, and a
 * CPORT_EAGAIN while every other open file is known to hold nothing in the way, break
 * the locks' exclusivity. */

static const int64_t lk_cut[NCELL + 1] = {0, 50, 100, 150, 1000, 1100, INT64_MAX};
static const int64_t lk_offs[8] = {0, 50, 1000, 0, 100, 150, -1, INT64_MAX - 5};
static const int64_t lk_lens[8] = {100, 100, 100, 0, 0, 850, 10, 100};

static uint8_t lk_cells(int64_t off, int64_t len)
{
	uint8_t m = 0;
	int64_t end = len == 0 ? INT64_MAX : off + len;
	for (int c = 0; c < NCELL; c++)
		if (lk_cut[c] < end && off < lk_cut[c + 1])
			m |= (uint8_t)(1u << c);
	return m;
}

static void do_lock(uint8_t kind)
{
	struct sub s;
	sub_begin(&s, kind);
	uint8_t fb = rd8(), b = rd8();
	int slot = -1;
	cport_fd fd;
	if ((fb & 7) == 5) {
		fd = pick_fd(&s, fb >> 3, &slot, true);
	} else {
		s.r.lk = (fb & 7) == 4 ? 2 : fb & 1;
		fd = s.fd = F.fdx[s.r.lk];
	}
	int64_t off = lk_offs[b & 7], len = lk_lens[b & 7];
	if (off < 0 || len > INT64_MAX - off)
		want(&s, X_BADARG);
	uint32_t fl = 0;
	if (kind == FK_LOCK) {
		fl = (b >> 3) & 3; /* SHARED, EXCLUSIVE, neither or both */
		if (fl == 0 || fl == 3)
			want(&s, X_BADARG);
		fl |= b & 0x20 ? CPORT_LOCK_NOWAIT : 0;
		if ((b & 0xC0) == 0xC0) {
			fl |= 1u << 6;
			want(&s, X_BADARG);
		}
	}
	s.r.slot = slot;
	s.r.aux = fl;
	s.r.off = off;
	s.r.len = (uint64_t)len;
	s.r.cells = s.x < X_BADARG && s.r.lk >= 0 ? lk_cells(off, len) : 0;
	sub_go(&s);
	sub_end(&s, kind == FK_LOCK ? cport_lock(s.port, s.opa, fd, off, len, fl)
				    : cport_unlock(s.port, s.opa, fd, off, len));
}

/* A lock op on r->lk's cells was accepted: ops on the same cells of the same open
 * file in flight together may reach the kernel in any order. */
static void lock_accepted(struct rec *r)
{
	for (int c = 0; c < NCELL; c++)
		if ((r->cells >> c & 1) && F.lk_pending[r->lk][c]++)
			r->lk_conc = true;
	for (int j = 0; r->lk_conc && j <= NOPS; j++) {
		struct rec *q = &F.rec[j];
		if (q != r && q->inflight && q->lk == r->lk && (q->cells & r->cells))
			q->lk_conc = true;
	}
}

/* A lock of `mode` through r->lk completed: granted (got) or CPORT_EAGAIN. */
static void lock_check(const struct rec *r, uint8_t mode, bool got)
{
	bool unknown = false, taken = false;
	int who = -1;
	for (int y = 0; y < NLOCKFD; y++)
		for (int c = 0; y != r->lk && c < NCELL; c++) {
			uint8_t st = F.lk_state[y][c];
			if (!(r->cells >> c & 1))
				continue;
			if (F.lk_pending[y][c] || st == LK_UNKNOWN)
				unknown = true;
			else if (st == LK_EXCL || (st == LK_SHARED && mode == LK_EXCL))
				taken = true, who = y;
		}
	if (got && taken)
		fz_fail("a %s lock (cells 0x%x) was granted to open file %d while open file %d "
			"holds a conflicting one", mode == LK_EXCL ? "exclusive" : "shared",
			r->cells, r->lk, who);
	if (!got && !taken && !unknown)
		fz_fail("a %s lock try (cells 0x%x) of open file %d: CPORT_EAGAIN, but no other "
			"open file holds the range", mode == LK_EXCL ? "exclusive" : "shared",
			r->cells, r->lk);
}

static void lock_done(const struct rec *r, int64_t v)
{
	uint8_t mode = r->aux & CPORT_LOCK_EXCLUSIVE ? LK_EXCL : LK_SHARED, to = 0xFF;
	for (int c = 0; c < NCELL; c++)
		if (r->cells >> c & 1)
			F.lk_pending[r->lk][c]--;
	if (r->kind == FK_LOCK && v == 0 && r->lk == 2 && mode == LK_EXCL)
		fz_fail("an exclusive lock was granted through a read-only descriptor");
	if (r->lk_conc) {
		to = LK_UNKNOWN;
	} else if (r->kind == FK_UNLOCK) {
		to = v == 0 ? LK_NONE : LK_UNKNOWN;
	} else if (v == 0 || v == CPORT_EAGAIN) {
		lock_check(r, mode, v == 0);
		to = v == 0 ? mode : to;
	}
	for (int c = 0; to != 0xFF && c < NCELL; c++)
		if (r->cells >> c & 1)
			F.lk_state[r->lk][c] = to;
}

/* -- Registered buffers and files (4d) */

static void reg_busy(bool fixed, bool *must, bool *may)
{
	*must = *may = false;
	for (int j = 0; j <= NOPS; j++) {
		const struct rec *q = &F.rec[j];
		if (!q->inflight)
			continue;
		*must |= fixed ? q->fixed : q->regf;
		*may |= fixed ? q->fixed : q->regf || q->regf_maybe;
	}
}

/* The index a fixed op names (its own buffer's, or any), and what that calls for. */
static unsigned fixed_index(struct sub *s, const void *buf, size_t len, uint8_t ib)
{
	unsigned idx = ib & 0x80 ? ib & 0x7Fu : F.rb == RB_ALL ? 0 : (unsigned)s->i;
	if (!buf || F.rb == RB_NONE) {
		want(s, X_BADARG);
		return idx;
	}
	if (F.rb == RB_UNKNOWN) {
		want(s, X_ANY);
		return idx;
	}
	const uint8_t *b = buf, *base = NULL;
	size_t size = F.rb == RB_ALL ? sizeof bufs : BUFSZ;
	if (F.rb == RB_ALL ? idx == 0 : idx < F.rb_n)
		base = bufs[idx];
	if (!base || b < base || len > size || (size_t)(b - base) > size - len)
		want(s, X_BADARG);
	else if (len == 0 && b == base + size) /* the empty range at its very end */
		want(s, X_ANY);
	return idx;
}

static void do_reg_bufs(void)
{
	static cport_iovec riov[NOPS + 1];
	uint8_t b = rd8(), nb = rd8();
	unsigned n = 1 + nb % (NOPS + 1);
	const cport_iovec *iov = riov;
	uint8_t shape = RB_EACH;
	bool bad = true;
	for (unsigned k = 0; k < n; k++)
		riov[k] = (cport_iovec){bufs[k], BUFSZ};
	switch (b & 7) {
	case 3:
		shape = RB_ALL;
		n = 1;
		riov[0] = (cport_iovec){bufs, sizeof bufs};
		bad = false;
		break;
	case 4:
		iov = NULL;
		break;
	case 5:
		n = 0;
		break;
	case 6:
		riov[n - 1].base = NULL;
		break;
	case 7:
		riov[n - 1].len = nb & 1 ? 0 : (size_t)CPORT_MAX_REG_BUFFER_LEN + 1;
		break;
	default:
		bad = false;
	}
	bool must, may;
	reg_busy(true, &must, &may);
	int rc = cport_register_buffers(b == 0xFF ? NULL : F.port, iov, n);
	TR("  register_buffers %u (shape %u%s) -> %s\n", n, shape, bad ? ", invalid" : "",
	   cport_err_name(rc));
	if (bad || b == 0xFF) {
		if (rc != CPORT_EINVAL && !(must && rc == CPORT_EBUSY))
			fz_fail("cport_register_buffers with invalid arguments: %s",
				cport_err_name(rc));
		return;
	}
	if (rc == 0 && must)
		fz_fail("cport_register_buffers while a fixed op is in flight: accepted");
	if (rc == 0) {
		F.rb = shape;
		F.rb_n = n;
	} else if (rc == CPORT_ENOMEM || rc == CPORT_EFAULT || rc == CPORT_ENOTSUP) {
		F.rb = RB_UNKNOWN; /* the rare case where the old set is gone too */
	} else if (rc != CPORT_EBUSY || !must) {
		fz_fail("cport_register_buffers: %s", cport_err_name(rc));
	}
}

/* An unregister of either kind: CPORT_ENOENT with nothing registered, CPORT_EBUSY
 * while an op uses the set, else 0. */
static void do_unreg(bool fixed)
{
	bool must, may;
	reg_busy(fixed, &must, &may);
	bool some = fixed ? F.rb != RB_NONE : F.rf;
	bool unsure = fixed ? F.rb == RB_UNKNOWN : F.rf_unsure;
	int rc = fixed ? cport_unregister_buffers(F.port) : cport_unregister_files(F.port);
	int want_rc = !some ? CPORT_ENOENT : must ? CPORT_EBUSY : 0;
	TR("  unregister_%s -> %s\n", fixed ? "buffers" : "files", cport_err_name(rc));
	if (rc != want_rc && !(unsure && (rc == 0 || rc == CPORT_ENOENT || rc == CPORT_EBUSY)) &&
	    !(may && rc == CPORT_EBUSY && want_rc == 0))
		fz_fail("cport_unregister_%s: %s, not %s", fixed ? "buffers" : "files",
			cport_err_name(rc), cport_err_name(want_rc));
	if (rc != 0 && rc != CPORT_ENOENT)
		return;
	if (fixed) {
		F.rb = RB_NONE;
	} else {
		F.rf = F.rf_unsure = false;
		memset(F.rf_gen, 0, sizeof F.rf_gen);
	}
}

/* What registering slot k's descriptor calls for (pick_fd's rules). */
static uint8_t reg_slot_expect(int k)
{
	const struct slot *sl = &F.sl[k];
	if (sl->st != ST_OPEN)
		return k < NFIXED && !(F.sim && sim_open_inflight()) ? X_EBADF : X_ANY;
	return sl->held_closes || number_in_doubt(k) ? X_ANY : X_ACCEPT;
}

static void do_reg_files(void)
{
	static cport_fd fds[NSLOT + 1];
	int members[NSLOT];
	uint16_t mask = rd16();
	uint8_t b = rd8(), x = X_ACCEPT;
	unsigned n = 0, nm;
	for (int k = 0; k < NSLOT; k++) {
		/* (on the simulation, a closed fixed slot's number may be another's now:
		 * named no more, as in pick_fd) */
		if (!(mask >> k & 1) || F.sl[k].st == ST_FREE ||
		    (F.sim && (F.sl[k].st != ST_OPEN || F.sl[k].held_closes)))
			continue;
		uint8_t e = reg_slot_expect(k);
		x = e > x ? e : x;
		members[n] = k;
		fds[n++] = F.sl[k].fd;
	}
	nm = n;
	bool einval = n == 0;
	switch (b & 7) {
	case 4: /* a descriptor named twice */
		einval |= n > 0;
		fds[n] = fds[0];
		n += n > 0;
		break;
	case 5:
		fds[n++] = -1;
		x = X_EBADF;
		break;
	case 6:
	case 7:
		einval = true;
		break;
	}
	bool must, may;
	reg_busy(false, &must, &may);
	int rc = cport_register_files(F.port, (b & 7) == 6 ? NULL : fds, (b & 7) == 7 ? 0 : n);
	TR("  register_files %u (mask 0x%x, x%u%s) -> %s\n", n, mask, x, einval ? ", invalid" : "",
	   cport_err_name(rc));
	if (einval || x == X_EBADF) {
		if (rc != CPORT_EINVAL && rc != CPORT_EBADF && !(must && rc == CPORT_EBUSY))
			fz_fail("cport_register_files with invalid arguments: %s", cport_err_name(rc));
		return;
	} else if (rc == 0 && must && !F.rf_unsure) {
		fz_fail("cport_register_files while an op on a registered descriptor is in flight: "
			"accepted");
	} else if (rc != 0) {
		if (x == X_ACCEPT && rc != CPORT_ENOMEM && !(rc == CPORT_EBUSY && (may || F.rf_unsure)))
			fz_fail("cport_register_files of open descriptors: %s", cport_err_name(rc));
		return;
	}
	F.rf = true;
	F.rf_unsure = x != X_ACCEPT;
	memset(F.rf_gen, 0, sizeof F.rf_gen);
	for (unsigned k = 0; k < nm; k++)
		F.rf_gen[members[k]] = F.sl[members[k]].gen + 1;
}

/* -- Pool receives (6b): pools of up to NPOOLBUF buffers, each in memory of its own;
 * which buffers are the caller's, and a hash of the bytes each was handed over with
 * (the port must not touch a buffer of the caller's). */

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t k = 0; k < n; k++)
		h = (h ^ p[k]) * 16777619u;
	return h;
}

static bool pool_in_use(int g)
{
	for (int j = 0; j <= NOPS; j++)
		if (F.rec[j].inflight && F.rec[j].pool == g)
			return true;
	return false;
}

static void do_pool_add(void)
{
	static const uint32_t sizes[4] = {1, 16, 100, 4096};
	uint8_t b = rd8();
	int g = -1;
	for (int k = NPOOL - 1; k >= 0; k--)
		g = F.pool[k].live ? g : k;
	uint32_t count = 1u << (b & 3), size = sizes[(b >> 2) & 3];
	void *mem = poolmem[g >= 0 ? g : 0];
	uint16_t group = 0xBEEF, *gp = &group;
	bool bad = true;
	switch ((b >> 4) & 7) {
	case 1:
		mem = NULL;
		break;
	case 2:
		count = 0;
		break;
	case 3:
		count = CPORT_MAX_BUFPOOL_COUNT + 1;
		break;
	case 4:
		size = 0;
		break;
	case 5:
		size = CPORT_MAX_IO + 1;
		break;
	case 6:
		gp = NULL;
		break;
	default:
		bad = false;
	}
	if (!bad && g < 0)
		return; /* NPOOL pools: no memory for another */
	int rc = cport_bufpool_add(F.port, mem, count, size, gp);
	TR("  bufpool_add %u x %u%s -> %s, group %u\n", count, size, bad ? " (invalid)" : "",
	   cport_err_name(rc), group);
	if (bad) {
		if (rc != CPORT_EINVAL || group != 0xBEEF)
			fz_fail("cport_bufpool_add with invalid arguments: %s (group %u)",
				cport_err_name(rc), group);
		return;
	}
	if (rc == CPORT_ENOMEM)
		return;
	if (rc != 0 || group != g)
		fz_fail("cport_bufpool_add: %s, group %u (the lowest free is %d)",
			cport_err_name(rc), group, g);
	F.pool[g] = (struct pool){.live = true, .count = count, .size = size};
}

static void do_pool_remove(void)
{
	uint8_t b = rd8() % (NPOOL + 2);
	uint16_t g = b < NPOOL ? b : b == NPOOL ? 15 : 0xFFFF;
	int want_rc = g >= NPOOL || !F.pool[g].live ? CPORT_EINVAL
		      : pool_in_use(g)		   ? CPORT_EBUSY
						   : 0;
	int rc = cport_bufpool_remove(F.port, g);
	TR("  bufpool_remove %u -> %s\n", g, cport_err_name(rc));
	if (rc != want_rc)
		fz_fail("cport_bufpool_remove of pool %u: %s, not %s", g, cport_err_name(rc),
			cport_err_name(want_rc));
	if (rc == 0)
		memset(&F.pool[g], 0, sizeof F.pool[g]); /* its buffers are forgotten */
}

/* Give a buffer back: mostly one the caller holds, else any id (twice, never handed
 * over, out of range, of a pool that is gone). */
static void do_pool_return(void)
{
	uint8_t b = rd8(), c = rd8();
	int g = b & (NPOOL - 1);
	struct pool *p = &F.pool[g];
	uint16_t group = (b & 0x30) == 0x30 ? 15 : (uint16_t)g, id = c;
	if (!(b & 0x80) && p->n_owned) {
		for (unsigned k = 0, left = c % p->n_owned; k < NPOOLBUF; k++)
			if (p->owned[k] && left-- == 0) {
				id = (uint16_t)k;
				break;
			}
	}
	bool ok = group < NPOOL && p->live && id < p->count && p->owned[id];
	int rc = cport_bufpool_return(b == 0x7F ? NULL : F.port, group, id);
	TR("  bufpool_return %u/%u -> %s\n", group, id, cport_err_name(rc));
	if (rc != (ok && b != 0x7F ? 0 : CPORT_EINVAL))
		fz_fail("cport_bufpool_return of buffer %u of pool %u (%s): %s", id, group,
			ok ? "the caller's" : "not the caller's", cport_err_name(rc));
	if (rc != 0)
		return;
	if (hash_bytes(poolmem[g] + (size_t)id * p->size, p->size) != p->hash[id])
		fz_fail("buffer %u of pool %u changed while it was the caller's", id, g);
	p->owned[id] = 0;
	p->n_owned--;
}

/* cport_recv_pool (one-shot or multishot) and cport_recvmsg_pool. */
static void do_recv_pool(uint8_t kind)
{
	struct sub s;
	sub_begin(&s, kind);
	int slot;
	cport_fd fd = pick_fd(&s, rd8(), &slot, true);
	uint8_t b = rd8();
	uint16_t g = b & 3;
	if (b & 4) { /* the (b & 3)-th live pool, if any */
		g = 15;
		for (int k = 0, left = b & 3; k < NPOOL * 2 && g == 15; k++)
			if (F.pool[k % NPOOL].live && left-- == 0)
				g = (uint16_t)(k % NPOOL);
	}
	if (g >= NPOOL || !F.pool[g].live)
		want(&s, X_BADARG);
	uint32_t fl = 0, sel = (b >> 3) & 3;
	cport_msg *m = &msgs[s.i];
	if (kind == FK_RECV_POOL) {
		fl = sel == 3 ? 1u << 4 : sel ? CPORT_RECV_MULTISHOT : 0;
		/* (in flight, its flags are the op's own: EINVAL or EBUSY, either) */
		if (sel == 3 || (fl && (s.op->flags & CPORT_OP_LINK)))
			want(&s, X_BADARG);
	} else if (s.busy) {
		want(&s, X_BADARG); /* its message is in use, whatever it holds */
	} else {
		memset(m, 0, sizeof *m);
		m->addr = sel == 0 ? &addrs[s.i] : NULL;
		if (sel == 3) {
			m->iov = iovs[s.i];
			m->iovcnt = 1;
		}
		m = sel == 2 ? NULL : m;
		if (sel >= 2)
			want(&s, X_BADARG);
	}
	s.r.slot = slot;
	s.r.multishot = fl == CPORT_RECV_MULTISHOT;
	if (s.x < X_BADARG) {
		s.r.pool = (int8_t)g;
		s.r.len = F.pool[g].size;
		if (!s.busy)
			recv_prep(&s, slot);
	}
	sub_go(&s);
	sub_end(&s, kind == FK_RECV_POOL ? cport_recv_pool(s.port, s.opa, fd, g, fl)
					 : cport_recvmsg_pool(s.port, s.opa, fd, g, m));
}

/* A pool receive's completion: the buffer it hands over (NULL: none). */
static const uint8_t *pool_done(const struct rec *r, int64_t v, uint32_t cf)
{
	struct pool *p = &F.pool[r->pool];
	const cport_op *op = &ops[r - F.rec];
	if (!(cf & CPORT_BUF)) {
		if (v > 0)
			fz_fail("%s of %lld bytes without CPORT_BUF", fk_name[r->kind], (long long)v);
		if (cport_op_buf_id(op) != CPORT_ENOENT)
			fz_fail("cport_op_buf_id of a completion without a buffer: %d",
				cport_op_buf_id(op));
		return NULL;
	}
	uint32_t id = cf >> CPORT_BUF_SHIFT;
	if (v <= 0 || id >= p->count || (int)id != cport_op_buf_id(op) || (uint64_t)v > p->size)
		fz_fail("%s: %lld bytes in buffer %u (cport_op_buf_id %d) of a pool of %u x %u",
			fk_name[r->kind], (long long)v, id, cport_op_buf_id(op), p->count, p->size);
	if (p->owned[id])
		fz_fail("%s handed over buffer %u of pool %d, which the caller holds",
			fk_name[r->kind], id, r->pool);
	const uint8_t *buf = poolmem[r->pool] + (size_t)id * p->size;
	p->owned[id] = 1;
	p->hash[id] = hash_bytes(buf, p->size);
	p->n_owned++;
	F.rec[r - F.rec].pool_handed++;
	return buf;
}

/* -- cport_wait_op: reaps one given op (any place in the queue), or says why not. */
static void do_wait_op(void)
{
	static const int64_t tmos[4] = {0, 0, 50000, 1000000};
	uint8_t b = rd8(), t = rd8();
	if (b >= 0xFE) {
		int rc = b == 0xFE ? cport_wait_op(NULL, &ops[0], 0) : cport_wait_op(F.port, NULL, 0);
		if (rc != CPORT_EINVAL)
			fz_fail("cport_wait_op with a NULL argument: %s", cport_err_name(rc));
		return;
	}
	int i = b % (NOPS + 1);
	int64_t tmo = tmos[t & 3];
	if ((uint64_t)tmo > F.wait_left)
		tmo = (int64_t)F.wait_left;
	F.wait_left -= (uint64_t)tmo;
	struct rec *r = &F.rec[i];
	int rc = cport_wait_op(F.port, &ops[i], tmo);
	TR("  wait_op op %d (%s%s), %lld ns -> %s\n", i, fk_name[r->kind],
	   r->inflight ? " in flight" : "", (long long)tmo, cport_err_name(rc));
	/* An open chain and an op not in flight: cport.h does not say which comes first. */
	int want_rc = F.chain_open ? CPORT_EINVAL : !r->inflight ? CPORT_ENOENT : 0;
	if (rc != want_rc && !(want_rc == 0 && rc == CPORT_ETIMEDOUT) &&
	    !(F.chain_open && !r->inflight && rc == CPORT_ENOENT))
		fz_fail("cport_wait_op of op %d (%s%s): %s, not %s", i, fk_name[r->kind],
			r->inflight ? ", in flight" : "", cport_err_name(rc), cport_err_name(want_rc));
	if (rc != 0)
		return;
	r->by_wait_op = true;
	reap_one(&ops[i]);
}

/* -- The ledger's hooks for the second vocabulary */

static void sub_accept2(struct rec *r)
{
	if (r->slot >= 0) {
		/* (On the simulation a closing slot's number may be a new socket's already:
		 * whether the op uses the registration is then unknown.) */
		bool doubt = F.sim && F.sl[r->slot].st != ST_OPEN && sim_open_inflight();
		r->regf = !doubt && F.rf_gen[r->slot] == F.sl[r->slot].gen + 1;
		r->regf_maybe = doubt || F.rf_unsure || (r->slot2 >= 0 && F.rf_gen[r->slot2]);
		for (int k = 0; k < NSLOT; k++) /* the number of a registered slot */
			r->regf_maybe |= k != r->slot && F.rf_gen[k] &&
					 F.sl[k].fd == F.sl[r->slot].fd;
	}
	if (r->lk >= 0)
		lock_accepted(r);
	if (r->pool >= 0) {
		const struct pool *p = &F.pool[r->pool];
		r->pool_held = (int16_t)p->n_owned;
		for (int j = 0; j <= NOPS; j++) /* a shared pool: another may take the last */
			if (F.rec[j].inflight && &F.rec[j] != r && F.rec[j].pool == r->pool)
				F.rec[j].pool_shared = r->pool_shared = true;
	}
}

static void check_error2(const struct rec *r, int64_t v)
{
	if (r->kind == FK_READLINK) { /* nothing written unless it succeeds */
		const uint8_t *b = bufs[r - F.rec];
		for (uint64_t k = 0; k < r->len && k < BUFSZ; k++)
			if (b[k] != 0xEE)
				fz_fail("readlink failed (%s) but wrote its buffer", cport_err_name(v));
	}
	/* CPORT_ENOBUFS: when the port found no buffer, each was the caller's or in a
	 * completion of this op still queued (io_uring fills buffers while an earlier
	 * completion waits to be reaped); at any moment that is at most the buffers the
	 * caller held at the submit plus all this op handed over. (A pool shared with
	 * another receive is not judged.) */
	if (is_pool_kind(r->kind) && v == CPORT_ENOBUFS && !r->pool_shared &&
	    r->pool_held + r->pool_handed < (int)F.pool[r->pool].count)
		fz_fail("%s: CPORT_ENOBUFS, but its pool never ran dry (at most %d of %u "
			"buffers taken)", fk_name[r->kind], r->pool_held + r->pool_handed,
			F.pool[r->pool].count);
	if (r->kind == FK_LOCK && v == CPORT_EAGAIN && !(r->aux & CPORT_LOCK_NOWAIT))
		fz_fail("a waiting lock completed with CPORT_EAGAIN");
}

static const uint8_t *apply2(struct rec *r, int64_t v, uint32_t cf)
{
	if (r->lk >= 0)
		lock_done(r, v);
	return r->pool >= 0 ? pool_done(r, v, cf) : NULL;
}

static void act2(uint8_t a)
{
	static const uint8_t kinds[32] = {
		FK_OPENAT, FK_READDIR, FK_STATFS, FK_FADVISE, FK_LINK, FK_SYMLINK, FK_READLINK,
		FK_RENAME2, FK_ACCESS, FK_LOCK, FK_LOCK, FK_UNLOCK, FK_READ, FK_WRITE, 0, 0,
		0, 0, 0, 0, 0, 0, FK_RECV_POOL, FK_RECV_POOL, FK_RECVMSG_POOL, 0, 0,
		FK_OPENAT, FK_READDIR, FK_SEND, FK_RECV, 0};
	switch (a) {
	case 0:
	case 27:
		do_openat();
		break;
	case 1:
	case 28:
		do_readdir();
		break;
	case 3:
		do_fadvise();
		break;
	case 9:
	case 10:
	case 11:
		do_lock(kinds[a]);
		break;
	case 12:
	case 13:
		do_rw(kinds[a], true);
		break;
	case 14:
		do_reg_bufs();
		break;
	case 15:
	case 17:
		do_unreg(a == 15);
		break;
	case 16:
		do_reg_files();
		break;
	case 18:
	case 31:
		do_pool_add();
		break;
	case 19:
		do_pool_remove();
		break;
	case 20:
	case 21:
		do_pool_return();
		break;
	case 22:
	case 23:
	case 24:
		do_recv_pool(kinds[a]);
		break;
	case 25:
	case 26:
		do_wait_op();
		break;
	case 29:
	case 30:
		do_sr(kinds[a]);
		break;
	default: /* statfs, link, symlink, readlink, rename2, access */
		do_path2(kinds[a]);
		break;
	}
}

/* ---- 7. One input ------------------------------------------------------------------- */

static void fz_cleanup(void)
{
	work_clean();
	rmdir(F.work);
	unlink(F.pat_path);
	unlink(F.lock_path);
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
	snprintf(F.lock_path, sizeof F.lock_path, "%s/lock", F.tmp);
	int lfd = open(F.lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lfd < 0 || close(lfd) < 0)
		abort();
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
	F.sim = strcmp(cport_backend_name(F.port), "sim") == 0;
	if (F.sim) {
		/* Its disk is its own: the same names, relative (at its root), so that the
		 * path ops meet files; "pattern" and "scratch" are not among them. The
		 * listener's and UDP socket's addresses are set by each world (world_sim). */
		for (int i = 0; i < 6; i++)
			snprintf(F.paths[i], sizeof F.paths[i], "%s", names[i]);
		if (cport_addr_parse(&F.dead_addr, "127.0.0.1:1") < 0)
			abort();
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
		do_rw(k, false);
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

/* One action; false once the input ended the port (destroy). The first vocabulary's
 * action byte is read modulo 32, the second's modulo 64 (32 and up: act2). */
static bool act(void)
{
	static const uint8_t kinds[32] = {
		FK_NOP, FK_TIMER, FK_READ, FK_WRITE, FK_READV, FK_WRITEV, FK_FSYNC, FK_OPEN,
		FK_CLOSE, FK_STAT, FK_FSTAT, FK_FALLOC, FK_FTRUNC, FK_RENAME, FK_UNLINK, FK_MKDIR,
		FK_ACCEPT, FK_CONNECT, FK_RECV, FK_SEND, FK_RECVMSG, FK_SENDMSG, FK_SHUTDOWN,
		FK_POLL, FK_SENDFILE};
	uint8_t a = rd8() % (F.v2 ? 64 : 32);
	if (a >= 32) {
		act2(a - 32);
		return true;
	}
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
