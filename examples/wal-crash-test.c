/* SPDX-License-Identifier: MIT */
/* The WAL example's crash test: damage its log, kill it, check that acknowledged records survive. */

/*
 * Usage: wal-crash-test WAL_EXE [ROUNDS]     ($WAL_CRASH_ROUNDS overrides ROUNDS, 10;
 *                                             $WAL_CRASH_SEED replays a run's seed)
 * The example runs on the backend in $CPORT_BACKEND (inherited). The log lives in the
 * current directory. Three parts:
 *
 * 1. Torn tails (every OS). `wal run --records=200`, then damage the log's end the
 *    ways a crash leaves it: a record cut inside its header or its payload, zeros past
 *    the end (a size that reached the disk before the data), a flipped byte, a stale
 *    valid record that is not the next one. `wal recover` must keep exactly the valid
 *    records and cut the rest, and the next run must append right after them.
 *
 * 2. Kill rounds (Unix). `wal run` appends as fast as it can and gets SIGKILL at a
 *    random moment: counted from its start in one round of four (so that recovery
 *    itself is hit too), from the end of its recovery in the others. Then every record
 *    its stdout acknowledged must be in the log, whole and with its own payload, and
 *    `wal recover` must leave the valid records and nothing after them. ROUNDS times,
 *    alternating link and barrier commits, and groups written whole or in 4 KiB
 *    writes. The log starts over when it passes 8 MiB.
 *
 * 3. A failed write (Unix). With a file size limit (RLIMIT_FSIZE) a write of the log
 *    fails with EFBIG, as on a full disk with ENOSPC. The example must stop with
 *    status 2 and acknowledge nothing of that group (with links its fdatasync never
 *    runs; with a barrier it runs, returns 0 and must be ignored); every record it did
 *    acknowledge must be in the log; recovery then cuts what was written of the
 *    failed group, and appends go on after it.
 *
 * Windows runs part 1 only: parts 2 and 3 use fork, SIGKILL, setrlimit and waitpid,
 * and the suite runs the Windows build under Wine, which has no kill -9 of its own.
 *
 * This program reads the log itself, with the format in wal-format.h, rather than
 * trusting the example's own scan; it also checks that the example's "recovered" line
 * agrees with what it read.
 */

#include "wal-format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _WIN32
#include <process.h>
#else
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

static const char *wal_exe;
static char log_path[64], out_path[64];

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "wal-crash-test: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	rng_state = wal_mix(rng_state);
	return rng_state;
}

/* ---- The log, read whole ------------------------------------------------------------ */

struct logfile {
	unsigned char *data;
	size_t size;
};

static void log_read(struct logfile *f)
{
	*f = (struct logfile){0};
	FILE *fp = fopen(log_path, "rb");
	/* A run killed early (a round from the start, on a busy machine) may not have
	 * created its log yet: that log holds nothing, and nothing may be acknowledged
	 * (the callers check). Found in CI: "cannot open" after a kill 2 ms in. */
	if (!fp && errno == ENOENT)
		return;
	if (!fp)
		fail("cannot open %s: %s", log_path, strerror(errno));
	size_t cap = 0;
	for (;;) {
		if (f->size == cap) {
			cap = cap ? 2 * cap : 1 << 16;
			if (!(f->data = realloc(f->data, cap)))
				fail("out of memory");
		}
		size_t n = fread(f->data + f->size, 1, cap - f->size, fp);
		if (n == 0)
			break;
		f->size += n;
	}
	fclose(fp);
}

static void log_write(const struct logfile *f)
{
	FILE *fp = fopen(log_path, "wb");
	if (!fp || fwrite(f->data, 1, f->size, fp) != f->size || fclose(fp) != 0)
		fail("cannot rewrite %s", log_path);
}

/* What the log holds: records 1..last in [0, bytes), the last of them at last_off. */
struct scan {
	uint64_t last, bytes, size, wrong, last_off;
};

static struct scan log_scan(struct logfile *f)
{
	log_read(f);
	struct scan s = {.size = f->size};
	uint64_t off = 0;
	while (f->size - off >= WAL_HDR) {
		const unsigned char *rec = f->data + off;
		size_t n = wal_rec_size(rec);
		if (n == 0 || f->size - off < n || !wal_rec_valid(rec, s.last + 1))
			break;
		s.wrong += !wal_demo_ok(rec);
		s.last++;
		s.last_off = off;
		off += n;
	}
	s.bytes = off;
	return s;
}

static struct scan scan_only(void)
{
	struct logfile f;
	struct scan s = log_scan(&f);
	free(f.data);
	return s;
}

/* ---- Running the example ------------------------------------------------------------ */

#ifdef _WIN32
static int wal_wait(char **argv)
{
	fflush(stdout);
	intptr_t r = _spawnv(_P_WAIT, wal_exe, (const char *const *)argv);
	if (r < 0)
		fail("cannot start %s", wal_exe);
	return (int)r;
}
#else
/* Start the example with `argv`, its stdout going to out_path; with files limited to
 * `fsize` bytes if not 0 (a write beyond fails with EFBIG: SIGXFSZ is ignored). */
static pid_t wal_start_limited(char **argv, uint64_t fsize)
{
	fflush(stdout);
	/* Emptied here, not only in the child: wait_recovered must never read the last
	 * run's "recovered" line before the child got to truncate the file (it then killed
	 * a run that had not created the log yet). */
	int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		fail("cannot empty %s", out_path);
	close(out);
	pid_t pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		struct rlimit rl = {.rlim_cur = fsize, .rlim_max = fsize};
		if (fsize && (signal(SIGXFSZ, SIG_IGN) == SIG_ERR || setrlimit(RLIMIT_FSIZE, &rl)))
			_exit(125);
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execv(wal_exe, argv);
		_exit(127);
	}
	return pid;
}

static pid_t wal_start(char **argv)
{
	return wal_start_limited(argv, 0);
}

/* Its exit status, or 128 + the signal that ended it. */
static int wal_status(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		fail("waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int wal_wait(char **argv)
{
	return wal_status(wal_start(argv));
}
#endif

/* `wal CMD LOG [extra]`, to the end; fails the test unless it exits with 0. */
static void wal_must(const char *cmd, const char *extra, const char *extra2)
{
	char *argv[] = {(char *)wal_exe, (char *)cmd, log_path, (char *)extra, (char *)extra2,
			NULL};
	int st = wal_wait(argv);
	if (st != 0)
		fail("wal %s %s %s exited with %d", cmd, extra ? extra : "", extra2 ? extra2 : "",
		     st);
}

/* ---- 1. Torn tails --------------------------------------------------------------------- */

enum damage { CUT_HEADER, CUT_PAYLOAD, ZEROS, FLIP, STALE, NDAMAGE };
static const char *const damage_name[] = {
	"a record cut in its header", "a record cut in its payload", "zeros past the end",
	"a flipped payload byte", "a stale valid record after the end"};

/* Damage the log's last record (or what follows it); returns the last record that
 * recovery must keep. */
static uint64_t damage_log(enum damage d)
{
	struct logfile f;
	struct scan s = log_scan(&f);
	unsigned char *last = f.data + s.last_off;
	size_t rec = wal_rec_size(last), payload = rec - WAL_HDR;
	uint64_t keep = s.last - 1;
	switch (d) {
	case CUT_HEADER: f.size = s.last_off + 1 + rng_next() % (WAL_HDR - 1); break;
	case CUT_PAYLOAD: f.size = s.last_off + WAL_HDR + rng_next() % payload; break;
	case FLIP: last[WAL_HDR + rng_next() % payload] ^= 0x20; break;
	case ZEROS:
	case STALE:
		if (!(f.data = realloc(f.data, f.size + 4096)))
			fail("out of memory");
		if (d == ZEROS)
			memset(f.data + f.size, 0, 4096);
		else
			memcpy(f.data + f.size, f.data, wal_rec_size(f.data)); /* record 1 again */
		f.size += d == ZEROS ? 4096 : wal_rec_size(f.data);
		keep = s.last;
		break;
	default: fail("bad damage %d", (int)d);
	}
	log_write(&f);
	free(f.data);
	return keep;
}

static void torn_tails(void)
{
	remove(log_path);
	uint64_t last = 0;
	for (int d = 0; d < NDAMAGE; d++) {
		const char *mode = d % 2 ? "--sync=barrier" : "--sync=link";
		wal_must("run", "--records=200", mode);
		struct scan s = scan_only();
		if (s.last != last + 200 || s.bytes != s.size || s.wrong)
			fail("after run %s --records=200 on %" PRIu64 " records: last=%" PRIu64
			     " bytes=%" PRIu64 " size=%" PRIu64 " wrong=%" PRIu64,
			     mode, last, s.last, s.bytes, s.size, s.wrong);
		uint64_t keep = damage_log((enum damage)d);
		wal_must("recover", NULL, NULL);
		s = scan_only();
		if (s.last != keep || s.bytes != s.size || s.wrong)
			fail("recovery from %s: last=%" PRIu64 " (want %" PRIu64 ") bytes=%" PRIu64
			     " size=%" PRIu64 " wrong=%" PRIu64,
			     damage_name[d], s.last, keep, s.bytes, s.size, s.wrong);
		printf("torn tail: %s: recovered %" PRIu64 " records, nothing after them\n",
		       damage_name[d], keep);
		last = keep;
	}
	/* After the last recovery, appends go on right after the kept records. */
	wal_must("run", "--records=200", NULL);
	struct scan s = scan_only();
	if (s.last != last + 200 || s.bytes != s.size || s.wrong)
		fail("appending after recovery: last=%" PRIu64 " (want %" PRIu64 ")", s.last,
		     last + 200);
	remove(log_path);
}

/* ---- 2. Kill rounds -------------------------------------------------------------------- */

#ifndef _WIN32
#define LOG_RESTART_BYTES (8u << 20)

/* What the killed run printed: the records it acknowledged must follow the `last`
 * records the log held when it started, without gaps. */
struct acks {
	bool recovered;  /* it finished recovery and said so */
	uint64_t acked;  /* the last record acknowledged (last if none) */
	uint64_t groups; /* "ack" lines */
};

static struct acks read_acks(uint64_t last, unsigned round)
{
	struct acks a = {.acked = last};
	FILE *fp = fopen(out_path, "r");
	if (!fp)
		fail("round %u: no output file", round);
	char line[256];
	uint64_t x, y, z;
	while (fgets(line, sizeof line, fp)) {
		if (!strchr(line, '\n'))
			break; /* a line cut by the kill: never acknowledged */
		if (sscanf(line, "recovered last=%" SCNu64 " bytes=%" SCNu64 " cut=%" SCNu64, &x,
			   &y, &z) == 3 && !a.recovered && a.groups == 0) {
			if (x != last)
				fail("round %u: wal recovered %" PRIu64 " records, the log had "
				     "%" PRIu64, round, x, last);
			a.recovered = true;
		} else if (sscanf(line, "ack %" SCNu64 " %" SCNu64, &x, &y) == 2 && a.recovered) {
			if (x != a.acked + 1 || y < x)
				fail("round %u: acknowledged %" PRIu64 "-%" PRIu64
				     " after %" PRIu64, round, x, y, a.acked);
			a.acked = y;
			a.groups++;
		} else {
			fail("round %u: unexpected output: %s", round, line);
		}
	}
	fclose(fp);
	return a;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Wait until the run started as `pid` says it recovered the log. */
static void wait_recovered(pid_t pid, unsigned round)
{
	char line[256] = "";
	for (unsigned waited = 0; strncmp(line, "recovered ", 10) != 0; waited++) {
		if (waited == 60000)
			fail("round %u: no recovery in 60 s", round);
		if (waitpid(pid, NULL, WNOHANG) == pid)
			fail("round %u: wal run ended by itself during recovery", round);
		sleep_ms(1);
		FILE *fp = fopen(out_path, "r");
		if (fp && !fgets(line, sizeof line, fp))
			line[0] = '\0';
		if (fp)
			fclose(fp);
	}
}

static void kill_rounds(unsigned rounds)
{
	remove(log_path);
	uint64_t last = 0, total = 0, cut = 0;
	unsigned during_recovery = 0;
	for (unsigned r = 1; r <= rounds; r++) {
		/* Link and barrier commits in turn; groups in writes of 32 KiB (mostly one
		 * write), or of 4 KiB (several, records straddling them: torn records). */
		const char *mode = r % 2 ? "--sync=link" : "--sync=barrier";
		const char *wsize = r / 2 % 2 ? "--write-size=4096" : "--write-size=32768";
		char seed[40];
		snprintf(seed, sizeof seed, "--seed=%" PRIu64, rng_next() | 1);
		char *argv[] = {(char *)wal_exe, "run", log_path, (char *)mode, (char *)wsize,
				seed, NULL};
		bool from_start = r % 4 == 3;
		unsigned ms = (unsigned)(rng_next() % (from_start ? 300 : 200));
		pid_t pid = wal_start(argv);
		if (!from_start)
			wait_recovered(pid, r);
		sleep_ms(ms);
		kill(pid, SIGKILL);
		int st = wal_status(pid);
		if (st != 128 + SIGKILL)
			fail("round %u: wal run ended by itself (status %d) before the kill", r,
			     st);

		/* Every acknowledged record is in the log, whole, with its own payload. */
		struct acks a = read_acks(last, r);
		struct scan s = scan_only();
		if (s.wrong)
			fail("round %u: %" PRIu64 " valid records hold the wrong payload", r,
			     s.wrong);
		if (s.last < a.acked)
			fail("round %u: record %" PRIu64 " was acknowledged but the log ends "
			     "at %" PRIu64, r, a.acked, s.last);
		/* Recovery keeps every valid record and nothing after them. */
		wal_must("recover", NULL, NULL);
		struct acks ra = read_acks(s.last, r);
		struct scan after = scan_only();
		if (!ra.recovered || after.last != s.last || after.bytes != after.size)
			fail("round %u: after recovery last=%" PRIu64 " (want %" PRIu64
			     "), bytes=%" PRIu64 ", size=%" PRIu64,
			     r, after.last, s.last, after.bytes, after.size);
		printf("round %u (%s, %s): killed %u ms after its %s%s; %" PRIu64
		       " records acknowledged in %" PRIu64 " groups, %" PRIu64
		       " in the log, %" PRIu64 " bytes of torn tail cut\n",
		       r, mode + 7, wsize + 13, ms, from_start ? "start" : "recovery",
		       a.recovered ? "" : " (during recovery)", a.acked - last, a.groups, s.last,
		       s.size - s.bytes);
		total += a.acked - last;
		cut += s.size - s.bytes;
		during_recovery += !a.recovered;
		last = after.last;
		if (after.size > LOG_RESTART_BYTES) {
			remove(log_path);
			last = 0;
		}
	}
	printf("%u kill rounds passed: %" PRIu64 " records acknowledged, all found; %u kills "
	       "during recovery; %" PRIu64 " bytes of torn tails cut\n",
	       rounds, total, during_recovery, cut);
	remove(log_path);
	remove(out_path);
}

/* ---- 3. A failed write ----------------------------------------------------------------- */

static void failed_write(void)
{
	static const char *const modes[] = {"--sync=link", "--sync=barrier"};
	for (int i = 0; i < 2; i++) {
		remove(log_path);
		uint64_t limit = 65536 + rng_next() % 65536;
		char *argv[] = {(char *)wal_exe, "run", log_path, (char *)modes[i],
				"--write-size=4096", NULL};
		int st = wal_status(wal_start_limited(argv, limit));
		if (st != 2)
			fail("a failed write (%s, files limited to %" PRIu64 " bytes): exit status "
			     "%d, not 2", modes[i], limit, st);
		struct acks a = read_acks(0, 0);
		struct scan s = scan_only();
		if (s.last < a.acked || s.size > limit || s.wrong)
			fail("a failed write (%s): acknowledged %" PRIu64 ", the log holds %" PRIu64
			     " records in %" PRIu64 " bytes (limit %" PRIu64 ")",
			     modes[i], a.acked, s.last, s.size, limit);
		wal_must("recover", NULL, NULL);
		wal_must("run", "--records=50", modes[i]);
		struct scan after = scan_only();
		if (after.last != s.last + 50 || after.bytes != after.size)
			fail("appending after a failed write (%s): last=%" PRIu64 " (want %" PRIu64
			     ")", modes[i], after.last, s.last + 50);
		printf("failed write (%s): stopped with status 2 after acknowledging %" PRIu64
		       " records; %" PRIu64 " in the log, %" PRIu64 " bytes of the failed group "
		       "cut\n",
		       modes[i] + 7, a.acked, s.last, s.size - s.bytes);
	}
	remove(log_path);
	remove(out_path);
}
#endif

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: wal-crash-test WAL_EXE [ROUNDS]\n");
		return 2;
	}
	wal_exe = argv[1];
	const char *env = getenv("WAL_CRASH_ROUNDS");
	unsigned rounds = (unsigned)strtoul(env ? env : argc > 2 ? argv[2] : "10", NULL, 10);
	env = getenv("WAL_CRASH_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0)
			    : (uint64_t)time(NULL) * 1000003u + (uint64_t)clock();
	rng_state = seed;
	const char *backend = getenv("CPORT_BACKEND");
	backend = backend ? backend : "default";
	unsigned tag = (unsigned)(seed % 100000); /* two runs side by side do not collide */
	snprintf(log_path, sizeof log_path, "wal-crash-%s-%u.log", backend, tag);
	snprintf(out_path, sizeof out_path, "wal-crash-%s-%u.out", backend, tag);
	printf("wal-crash-test: backend %s, seed %" PRIu64 " (WAL_CRASH_SEED replays it), log %s\n",
	       backend, seed, log_path);
	unsigned char check[] = "123456789";
	if (wal_crc32c(0, check, 9) != 0xE3069283u)
		fail("CRC32C of \"123456789\" is %08x, not e3069283", wal_crc32c(0, check, 9));

	torn_tails();
#ifdef _WIN32
	printf("kill rounds and the failed write skipped on Windows: they need fork, SIGKILL, "
	       "setrlimit and waitpid (recovery from torn tails was checked above)\n");
	(void)rounds;
#else
	kill_rounds(rounds);
	failed_write();
#endif
	return 0;
}
