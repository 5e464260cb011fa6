/* SPDX-License-Identifier: MIT */
/* A write-ahead log with group commit and crash recovery: a model for storage engines. */

/*
 * Map
 *   1. Helpers: stopping on an error, waiting for one op
 *   2. Opening and recovery: scan the log, cut the torn tail, flush what is kept
 *   3. Group commit: records gathered into a group, written at the log's end, then one
 *      fdatasync, ordered by a link chain or by a barrier
 *   4. Acknowledgement, and what a failed write or fdatasync means
 *   5. The appenders (simulated clients) and the main loop
 *   6. Command line
 *
 * The rule everything here serves: a record is acknowledged (its appender is told
 * "committed") only once an fdatasync that covers it has completed with 0, and only
 * after every record before it was acknowledged. The second half matters because
 * recovery keeps the log up to its first invalid record: a record that reached the
 * disk behind a hole is lost at restart all the same.
 *
 *   wal run PATH [--sync=link|barrier] [--appenders=N] [--records=N] [--write-size=N]
 *                [--seed=N]
 *   wal recover PATH
 *   wal check PATH
 *   (every command also takes --backend=NAME; else $CPORT_BACKEND, else the best one)
 *
 * run: recover the log, then append the records of N simulated appenders (default 32)
 * as fast as the disk allows, until --records more were acknowledged (default: never;
 * stop it with a signal). A group is written in writes of --write-size bytes at most
 * (4096..131072, default 32768; a record may straddle two). It prints on stdout, one
 * line each, flushed at once, so that a test harness can follow:
 *   recovered last=L bytes=B cut=C   after recovery: records 1..L kept (B bytes), C cut
 *   ack FIRST LAST                   records FIRST..LAST are durable
 * recover: recovery alone, and its line. check: scan, change nothing, and print
 *   checked last=L bytes=B tail=T wrong=W
 * (T bytes after the last valid record; W valid records whose payload is not the one
 * the appenders write: exit status 1 if W > 0).
 * Exit status: 0 done; 1 bad usage or a check that failed; 2 an I/O error, after which
 * the log is left for the next start's recovery.
 *
 * The record format, the CRC32C and the appenders' payloads are in wal-format.h.
 */

#include <cport.h>

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wal-format.h"

/* Built with -DWAL_EMBED (examples/wal-sim-test.c), this same code runs inside a test
 * harness on the simulation backend: main is wal_main, exiting and the lines on stdout
 * go to the harness's hooks, and the harness may end the "process" after any
 * cport_wait (wal-embed.h says how). Built as it is, none of this exists. */
#ifdef WAL_EMBED
#include "wal-embed.h"
#else
#define wal_err stderr
#define WAL_EXIT(status) exit(status)
#define WAL_WAITED() ((void)0)
#endif

/* ---- 1. Helpers ---------------------------------------------------------------------- */

/* Any error is the end of this program: see section 4 for why, for the log's writes. */
static void die(const char *what, int64_t err)
{
	fprintf(wal_err, "wal: %s: %s\n", what, cport_strerror(err));
#ifdef WAL_EMBED
	wal_embed_io_error(what, err);
#endif
	WAL_EXIT(2);
}

/* For the one-op-at-a-time steps of recovery: `submitted` is what the submit call
 * returned; wait for the op (the only one in flight) and return its result. */
static int64_t finish(cport *port, cport_op *op, int submitted, const char *what)
{
	if (submitted < 0)
		die(what, submitted);
	cport_op *done;
	int n;
	while ((n = cport_wait(port, &done, 1, -1)) == 0)
		;
	WAL_WAITED();
	if (n < 0)
		die("cport_wait", n);
	assert(done == op);
	return op->result;
}

/* ---- 2. Opening and recovery ---------------------------------------------------------- */

/* What a scan found. The log is records 1..last, filling [0, bytes) of the file;
 * size - bytes bytes after them are a torn tail (a crash in the middle of a group). */
struct scan {
	uint64_t last;  /* the last valid record's sequence number (0: none) */
	uint64_t bytes; /* where the log ends */
	uint64_t size;  /* the file's size */
	uint64_t wrong; /* valid records whose payload is not the appenders' (check only) */
};

#define SCAN_CHUNK (1u << 20) /* the scan reads the log this many bytes at a time */

/* A piece of the file in memory: bytes [at, at + len). */
struct window {
	unsigned char *buf;
	uint64_t at;
	size_t len;
};

/* Bytes [off, off + n) of the file, reading a new window from `off` if they are not in
 * the current one. The caller knows they lie inside the file (n <= WAL_REC_MAX). */
static const unsigned char *window_at(cport *port, cport_fd fd, struct window *w, uint64_t off,
				      size_t n)
{
	if (off >= w->at && off + n <= w->at + w->len)
		return w->buf + (off - w->at);
	cport_op op = {0};
	int64_t got = finish(port, &op, cport_read(port, &op, fd, w->buf, SCAN_CHUNK, (int64_t)off),
			     "read the log");
	if (got < 0)
		die("read the log", got);
	if ((uint64_t)got < n)
		die("read the log: it shrank while being read", CPORT_EIO);
	w->at = off;
	w->len = (size_t)got;
	return w->buf;
}

/* Read the log from the start and stop at the first record that is not valid
 * (wal-format.h says what valid means). `verify`: also compare each payload with the
 * one the appenders wrote. */
static void wal_scan(cport *port, cport_fd fd, bool verify, struct scan *sc)
{
	cport_statbuf st;
	cport_op op = {0};
	int64_t r = finish(port, &op, cport_fstat(port, &op, fd, &st), "fstat");
	if (r < 0)
		die("fstat", r);
	*sc = (struct scan){.size = st.size};
	struct window w = {.buf = malloc(SCAN_CHUNK)};
	if (!w.buf)
		die("malloc", CPORT_ENOMEM);
	uint64_t off = 0;
	while (sc->size - off >= WAL_HDR) {
		size_t n = wal_rec_size(window_at(port, fd, &w, off, WAL_HDR));
		if (n == 0 || sc->size - off < n)
			break; /* a length out of range, or a record cut short by the file's end */
		const unsigned char *rec = window_at(port, fd, &w, off, n);
		if (!wal_rec_valid(rec, sc->last + 1))
			break;
		if (verify && !wal_demo_ok(rec))
			sc->wrong++;
		sc->last++;
		off += n;
	}
	sc->bytes = off;
	free(w.buf);
}

/* After creating the log: flush its directory, which makes the new name durable (a
 * file's own fsync does not cover the entry that names it). */
static void sync_dir_of(cport *port, const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/'), *bslash = strrchr(path, '\\');
	if (bslash && (!slash || bslash > slash))
		slash = bslash;
	size_t n = slash ? (size_t)(slash - path) + (slash == path) : 0;
	if (n >= sizeof dir)
		die("the log's directory name is too long", CPORT_ENAMETOOLONG);
	memcpy(dir, slash ? path : ".", slash ? n : 1);
	dir[slash ? n : 1] = '\0';

	cport_op op = {0};
	int submitted = cport_open(port, &op, dir, CPORT_O_RDONLY | CPORT_O_DIRECTORY, 0);
	int64_t fd = finish(port, &op, submitted, "open the log's directory");
	if (fd < 0)
		die("open the log's directory", fd);
	int64_t r = finish(port, &op, cport_fsync(port, &op, (cport_fd)fd, 0), "fsync the dir");
	/* Windows documents no way to flush a directory: cport says CPORT_ENOTSUP there
	 * (and refused it with CPORT_EACCES before it said so). NTFS journals the new
	 * name itself. Anywhere else a failure is a failure. */
	if (r == CPORT_ENOTSUP || r == CPORT_EACCES)
		fprintf(wal_err, "wal: note: this OS cannot flush a directory (%s)\n",
			cport_strerror(r));
	else if (r < 0)
		die("fsync the log's directory", r);
	finish(port, &op, cport_close(port, &op, (cport_fd)fd), "close the directory");
}

/* Open the log (creating it, and flushing its directory then, if `writable`). */
static cport_fd wal_open(cport *port, const char *path, bool writable)
{
	cport_op op = {0};
	uint32_t mode = writable ? CPORT_O_RDWR : CPORT_O_RDONLY;
	int64_t fd = CPORT_EEXIST;
	if (writable)
		fd = finish(port, &op,
			    cport_open(port, &op, path, mode | CPORT_O_CREAT | CPORT_O_EXCL, 0644),
			    "create the log");
	if (fd == CPORT_EEXIST)
		fd = finish(port, &op, cport_open(port, &op, path, mode, 0), "open the log");
	if (fd < 0)
		die("open the log", fd);
	/* Also when the log existed: the run that created it may have died before its
	 * directory's flush, and the name is not durable until one completes (found by
	 * wal-sim-test --restarts, seed 80: records acknowledged by a later run were lost
	 * with the name at a power cut). */
	if (writable)
		sync_dir_of(port, path);
	return (cport_fd)fd;
}

/*
 * Recovery: find the valid records, cut what follows them, and flush the file, so
 * that what the log builds on is on the disk. Why each step:
 *   - cut (cport_ftruncate): bytes after the last valid record are a group that was
 *     being written when the previous run stopped. None of it was acknowledged. Left
 *     in place, new records would be written over it and, after another crash, a
 *     valid old record beyond a new torn one could come back to life (the seq check
 *     stops the scan there too, but only the cut makes "the log is its valid prefix"
 *     true on disk).
 *   - write again, then flush (a full fsync, as the size may have changed): the valid
 *     records found may have been written by a run that died before its fdatasync,
 *     or whose fdatasync failed. They are in the page cache, not necessarily on the
 *     disk, and after a failed flush the kernel may have marked them clean
 *     (fsyncgate: cport.h, "After a failed flush"), so a flush alone would return 0
 *     without writing them and the records acknowledged after them would sit behind
 *     a hole after a power cut (found by wal-sim-test --restarts, seed 13). Writing
 *     the kept bytes again from what was just read makes them dirty, so the flush
 *     really writes them. It costs one pass over the log per start; a real engine
 *     would rewrite only what follows its last checkpoint.
 */
static void wal_rewrite(cport *port, cport_fd fd, uint64_t bytes)
{
	enum { CHUNK = 65536 };
	unsigned char *buf = malloc(CHUNK);
	if (!buf)
		die("rewrite the kept records", CPORT_ENOMEM);
	cport_op op = {0};
	for (uint64_t off = 0; off < bytes; off += CHUNK) {
		size_t n = bytes - off < CHUNK ? (size_t)(bytes - off) : CHUNK;
		int64_t r = finish(port, &op, cport_read(port, &op, fd, buf, n, (int64_t)off),
				   "read the kept records");
		if (r != (int64_t)n)
			die("read the kept records", r < 0 ? r : CPORT_EIO);
		r = finish(port, &op, cport_write(port, &op, fd, buf, n, (int64_t)off),
			   "rewrite the kept records");
		if (r != (int64_t)n)
			die("rewrite the kept records", r < 0 ? r : CPORT_EIO);
	}
	free(buf);
}

static void wal_recover(cport *port, cport_fd fd, struct scan *sc)
{
	cport_op op = {0};
	wal_scan(port, fd, false, sc);
	int64_t r;
	if (sc->bytes < sc->size &&
	    (r = finish(port, &op, cport_ftruncate(port, &op, fd, (int64_t)sc->bytes),
			"cut the torn tail")) < 0)
		die("cut the torn tail", r);
	wal_rewrite(port, fd, sc->bytes);
	if ((r = finish(port, &op, cport_fsync(port, &op, fd, 0), "fsync the log")) < 0)
		die("fsync the log after recovery", r);
#ifdef WAL_EMBED
	wal_embed_recovered(sc->last, sc->bytes, sc->size - sc->bytes);
#else
	printf("recovered last=%" PRIu64 " bytes=%" PRIu64 " cut=%" PRIu64 "\n", sc->last,
	       sc->bytes, sc->size - sc->bytes);
	fflush(stdout);
#endif
}

/* ---- 3. Group commit ----------------------------------------------------------------- */

/*
 * Appenders add records to the group being filled. When no group is being committed,
 * the filling one is committed: its bytes are written at the log's end, then one
 * fdatasync makes all of them durable, and every record in it is acknowledged at once.
 * Records that arrive meanwhile fill the other group, which goes next: the busier the
 * log, the bigger the groups, and one fdatasync is shared by all their appenders.
 *
 * Two group buffers, because a buffer must not be touched while a write of it is in
 * flight (the overlapped contract): appends go to one while the other is written.
 * One group at a time keeps acknowledgements in order for free; a faster log writes
 * group k+1 while group k's fdatasync runs, and then must hold k+1's acknowledgement
 * until k's (see the top of the file).
 */
#define GROUP_MAX (128u * 1024)  /* bytes of records in a group, at most */
#define WRITE_MIN 4096u           /* the smallest --write-size */
#define GROUP_WRITES (GROUP_MAX / WRITE_MIN)

enum sync_mode { SYNC_LINK, SYNC_BARRIER };

struct group {
	unsigned char buf[GROUP_MAX];
	size_t len;
	uint64_t first, last; /* its records' sequence numbers */
};

struct wal {
	cport *port;
	cport_fd fd;
	enum sync_mode mode;
	uint64_t end;      /* the log's end: where the next group is written */
	uint64_t next_seq; /* the sequence number the next record gets */
	uint64_t acked;    /* records 1..acked are durable and acknowledged */
	size_t write_max;  /* a group is written in writes of at most this many bytes */
	struct group *filling, *flying; /* flying: being committed (NULL: none) */
	cport_op writes[GROUP_WRITES], sync;
	unsigned nwrites;  /* writes of the flying group */
	unsigned pending;  /* its ops not reaped yet */
	int64_t error;     /* the first failure among them (0: none) */
	const char *failed;
	struct group groups[2];
};

/* Add a record to the filling group. Returns its sequence number, or 0 when the
 * group is full (the appender tries again after the next commit). */
static uint64_t wal_append(struct wal *w, const void *payload, uint32_t len)
{
	struct group *g = w->filling;
	assert(len >= 1 && len <= WAL_PAYLOAD_MAX);
	if (g->len + WAL_HDR + len > GROUP_MAX)
		return 0;
	if (g->len == 0)
		g->first = w->next_seq;
	g->len += wal_rec_encode(g->buf + g->len, w->next_seq, payload, len);
	g->last = w->next_seq;
	return w->next_seq++;
}

static size_t write_len(const struct wal *w, unsigned i)
{
	size_t left = w->flying->len - (size_t)i * w->write_max;
	return left < w->write_max ? left : w->write_max;
}

/*
 * Commit the filling group: its writes, then the fdatasync, all submitted at once (no
 * wait between them); the completions arrive in wal_complete. Two ways to make the
 * fdatasync wait for the writes, both on every backend:
 *
 * SYNC_LINK: every write carries CPORT_OP_LINK, so the ops form one chain: each write
 * starts once the one before it wrote all its bytes, and the fdatasync once the last
 * write did. If a write fails, the rest of the chain, fdatasync included, completes
 * with CPORT_ECANCELED without running: no flush is spent on a group that cannot
 * commit. The chain orders only its own ops, so other work on the same port (client
 * sockets, reads of data files, timers) goes on beside it: use links on a port shared
 * with anything else. Its cost: the writes run one after another, and cport starts
 * each link when its predecessor is reaped (one more trip into the kernel per link;
 * cport.h section 4b). Linking only the last write to the fdatasync would be wrong
 * when a group has several writes: the others could still be running when the flush
 * starts, and it would not cover them.
 *
 * SYNC_BARRIER: the writes go unlinked, all in flight at once, and the fdatasync
 * carries CPORT_OP_BARRIER: it starts once every op submitted before it on the port
 * has completed, and ops submitted after it wait for it (io_uring's IOSQE_IO_DRAIN).
 * Right when the port carries only this log's work and a group has many writes that
 * may run in parallel. Wrong on a port where other ops wait for outside events: a
 * barrier also waits for a receive on an idle socket, possibly for ever. The flush
 * runs even if a write failed, so every write's result must be checked (wal_complete
 * does, in both modes).
 */
static void wal_commit(struct wal *w)
{
	struct group *g = w->filling;
	assert(!w->flying && g->len > 0);
	w->flying = g;
	w->filling = g == &w->groups[0] ? &w->groups[1] : &w->groups[0];
	w->filling->len = 0;
	w->nwrites = (unsigned)((g->len + w->write_max - 1) / w->write_max);
	for (unsigned i = 0; i < w->nwrites; i++) {
		cport_op *op = &w->writes[i];
		size_t at = (size_t)i * w->write_max;
		op->flags = w->mode == SYNC_LINK ? CPORT_OP_LINK : 0;
		int r = cport_write(w->port, op, w->fd, g->buf + at, write_len(w, i),
				    (int64_t)(w->end + at));
		if (r < 0)
			die("cport_write", r);
	}
	w->sync.flags = w->mode == SYNC_BARRIER ? CPORT_OP_BARRIER : 0;
	int r = cport_fsync(w->port, &w->sync, w->fd, CPORT_FSYNC_DATA);
	if (r < 0)
		die("cport_fsync", r);
	w->pending = w->nwrites + 1;
	w->error = 0;
}

/* ---- 4. Acknowledgement and failure ------------------------------------------------------ */

/*
 * A group that did not commit: a write that failed (CPORT_ENOSPC, CPORT_EIO) or did
 * not run, or an fdatasync that did not complete with 0. Its records are never
 * acknowledged, and since later records would follow a hole, nothing after them can
 * be either: the log stops.
 *
 * Why not retry the fdatasync (PostgreSQL's "fsyncgate", 2018; cport.h, "After a
 * failed flush")? When write-back fails, the kernel may drop the dirty pages or mark
 * them clean and report the error once. A second fdatasync then finds nothing to do
 * and returns 0, although the bytes never reached the disk: taking that 0 as success
 * would acknowledge lost records. What the disk holds is unknown until recovery reads
 * it back, so: stop here, and let the next start's recovery keep what is really there
 * (its scan reads the records back and checks them) and cut the rest. A database
 * would also stop accepting writes, or fail over to a replica.
 */
static void group_failed(const struct wal *w)
{
	fprintf(wal_err,
		"wal: %s failed: %s; records %" PRIu64 "-%" PRIu64
		" are not acknowledged and the log stops here (restart to recover it)\n",
		w->failed, cport_strerror(w->error), w->flying->first, w->flying->last);
#ifdef WAL_EMBED
	wal_embed_io_error(w->failed, w->error);
#endif
	WAL_EXIT(2);
}

/* The group is durable: acknowledge its records, in order, and move the log's end. */
static void acknowledge(struct wal *w)
{
	struct group *g = w->flying;
	assert(g->first == w->acked + 1);
	w->end += g->len;
	w->acked = g->last;
	w->flying = NULL;
#ifdef WAL_EMBED
	wal_embed_acked(g->first, g->last);
#else
	printf("ack %" PRIu64 " %" PRIu64 "\n", g->first, g->last);
	fflush(stdout);
#endif
}

/* A completion of the flying group's ops. */
static void wal_complete(struct wal *w, cport_op *op)
{
	assert(w->flying && w->pending > 0);
	if (w->error == 0) {
		if (op == &w->sync && op->result != 0) {
			w->error = op->result;
			w->failed = "fdatasync";
		} else if (op != &w->sync &&
			   op->result != (int64_t)write_len(w, (unsigned)(op - w->writes))) {
			/* A write is never short without an error (cport.h): short is a bug. */
			w->error = op->result < 0 ? op->result : CPORT_EIO;
			w->failed = "write";
		}
	}
	if (--w->pending > 0)
		return;
	if (w->error != 0)
		group_failed(w);
	acknowledge(w);
}

/* ---- 5. Appenders and the main loop ------------------------------------------------------- */

/*
 * The appenders stand for a database's clients: each commits a transaction of one to
 * three records and waits until its last record is acknowledged before the next one.
 * They get a turn each time the loop comes round; an idle one starts a transaction at
 * half of its turns (it "thinks" between transactions), so groups vary in size.
 */
struct appender {
	uint64_t waits_for; /* the sequence number it waits to see acknowledged; 0: idle */
};

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13; /* xorshift64 */
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Append the record that the appenders write for the next sequence number. */
static uint64_t append_demo_record(struct wal *w)
{
	unsigned char payload[WAL_PAYLOAD_MAX];
	uint32_t len = wal_demo_len(w->next_seq);
	wal_demo_fill(w->next_seq, payload, len);
	return wal_append(w, payload, len);
}

/* Every appender's turn; records after `stop_after` are not started. */
static void appenders_turn(struct wal *w, struct appender *a, unsigned n, uint64_t *rng,
			   uint64_t stop_after)
{
	for (unsigned i = 0; i < n; i++) {
		if (a[i].waits_for != 0 && a[i].waits_for <= w->acked)
			a[i].waits_for = 0; /* its transaction committed */
		if (a[i].waits_for != 0 || rng_next(rng) % 2 == 0)
			continue;
		unsigned records = 1 + (unsigned)(rng_next(rng) % 3);
		for (unsigned k = 0; k < records && w->next_seq <= stop_after; k++) {
			uint64_t seq = append_demo_record(w);
			if (seq == 0)
				break; /* the group is full: the rest goes in a later one */
			a[i].waits_for = seq;
		}
	}
}

/* Append until `records` more were acknowledged (0: for ever). */
static void wal_run(struct wal *w, unsigned nappenders, uint64_t records, uint64_t seed)
{
	struct appender *a = calloc(nappenders, sizeof *a);
	if (!a)
		die("calloc", CPORT_ENOMEM);
	uint64_t rng = seed ? seed : 0x2545F4914F6CDD1Dull;
	uint64_t stop_after = records ? w->acked + records : UINT64_MAX;
	while (w->acked < stop_after) {
		appenders_turn(w, a, nappenders, &rng, stop_after);
		if (!w->flying && w->filling->len > 0)
			wal_commit(w);
		if (!w->flying)
			continue; /* nothing to wait for: every idle appender is thinking */
		cport_op *done[GROUP_WRITES + 1];
		int n = cport_wait(w->port, done, GROUP_WRITES + 1, -1);
		if (n < 0)
			die("cport_wait", n);
		WAL_WAITED();
		for (int i = 0; i < n; i++)
			wal_complete(w, done[i]);
	}
	free(a);
}

/* ---- 6. Command line ---------------------------------------------------------------------- */

struct args {
	const char *cmd, *path, *backend;
	enum sync_mode mode;
	unsigned appenders;
	uint64_t records, seed, write_size;
};

static int usage(void)
{
	fprintf(wal_err,
		"usage: wal run PATH [--sync=link|barrier] [--appenders=N] [--records=N]\n"
		"               [--write-size=N] [--seed=N]\n"
		"       wal recover PATH\n"
		"       wal check PATH\n"
		"       (each also takes --backend=io_uring|epoll|poll|kqueue|iocp)\n");
	return 1;
}

/* The number after "--name=" in `arg`, if arg starts so; *ok = false if it is bad. */
static bool opt_num(const char *arg, const char *name, uint64_t *v, bool *ok)
{
	size_t n = strlen(name);
	if (strncmp(arg, name, n) != 0 || arg[n] != '=')
		return false;
	char *end;
	*v = strtoull(arg + n + 1, &end, 10);
	*ok &= arg[n + 1] != '\0' && *end == '\0';
	return true;
}

static bool parse_args(int argc, char **argv, struct args *a)
{
	*a = (struct args){.mode = SYNC_LINK, .appenders = 32, .write_size = 32768};
	if (argc < 3)
		return false;
	a->cmd = argv[1];
	a->path = argv[2];
	bool ok = !strcmp(a->cmd, "run") || !strcmp(a->cmd, "recover") || !strcmp(a->cmd, "check");
	uint64_t v;
	for (int i = 3; i < argc && ok; i++) {
		const char *s = argv[i];
		if (!strncmp(s, "--backend=", 10))
			a->backend = s + 10;
		else if (!strcmp(s, "--sync=link"))
			a->mode = SYNC_LINK;
		else if (!strcmp(s, "--sync=barrier"))
			a->mode = SYNC_BARRIER;
		else if (opt_num(s, "--appenders", &v, &ok)) {
			a->appenders = (unsigned)v;
			ok &= v >= 1 && v <= 100000;
		}
		else if (opt_num(s, "--records", &v, &ok))
			a->records = v;
		else if (opt_num(s, "--write-size", &a->write_size, &ok))
			ok &= a->write_size >= WRITE_MIN && a->write_size <= GROUP_MAX;
		else if (!opt_num(s, "--seed", &a->seed, &ok))
			ok = false;
	}
	return ok;
}

int main(int argc, char **argv)
{
	struct args a;
	if (!parse_args(argc, argv, &a))
		return usage();
	cport_options o;
	cport_options_init(&o);
	o.backend = a.backend;                /* NULL: $CPORT_BACKEND, else the best */
	o.flags = CPORT_OPT_SINGLE_THREAD;    /* one thread drives the port */
#ifdef WAL_EMBED
	o.sim = wal_embed_profile();          /* the simulated world of this run */
#endif
	static struct wal w;
	memset(&w, 0, sizeof w); /* a fresh start each time main runs (embedded: again) */
	int r = cport_create(&w.port, &o);
	if (r < 0)
		die("cport_create", r);
#ifdef WAL_EMBED
	wal_embed_started(w.port);
#endif
	fprintf(wal_err, "wal: %s on %s\n", a.cmd, cport_backend_name(w.port));

	struct scan sc;
	bool check = !strcmp(a.cmd, "check");
	w.fd = wal_open(w.port, a.path, !check);
	int status = 0;
	if (check) {
		wal_scan(w.port, w.fd, true, &sc);
#ifdef WAL_EMBED
		wal_embed_checked(sc.last, sc.bytes, sc.size - sc.bytes, sc.wrong);
#else
		printf("checked last=%" PRIu64 " bytes=%" PRIu64 " tail=%" PRIu64
		       " wrong=%" PRIu64 "\n",
		       sc.last, sc.bytes, sc.size - sc.bytes, sc.wrong);
#endif
		status = sc.wrong ? 1 : 0;
	} else {
		wal_recover(w.port, w.fd, &sc);
	}
	if (!strcmp(a.cmd, "run")) {
		w.mode = a.mode;
		w.write_max = (size_t)a.write_size;
		w.end = sc.bytes;
		w.next_seq = sc.last + 1;
		w.acked = sc.last;
		w.filling = &w.groups[0];
		wal_run(&w, a.appenders, a.records, a.seed);
	}
	cport_op op = {0};
	finish(w.port, &op, cport_close(w.port, &op, w.fd), "close the log");
#ifdef WAL_EMBED
	wal_embed_stopping(w.port);
#endif
	cport_destroy(w.port);
	return status;
}
