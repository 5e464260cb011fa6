/* SPDX-License-Identifier: MIT */
/* The WAL example (wal.c, its own code) on the simulation backend: seeded faults and crashes. */

/*
 * Usage: wal-sim-test [SEEDS] [--first=N] [--restarts] [--trace] [-v]
 *   SEEDS      how many seeds to run, N..N+SEEDS-1 (default 1000, from --first=N, 1)
 *   --restarts one life in four ends without a power cut: the program dies and starts
 *              again on the same machine, with what it wrote still in the page cache
 *              (the suite runs with it; it found two defects of wal.c's recovery,
 *              examples/README.md)
 *   --trace    print the trace of every life of every seed run (for one seed: 1 --first=S)
 *   -v         a line per life, and wal.c's own messages
 * Exit status: 0 every seed passed; 1 a seed failed (its report is on stderr); 77 no
 * simulation backend on this system.
 *
 * How a storage engine tests itself on cport's simulation (cport.h section 8): the
 * program's own code runs in this process (wal.c built with -DWAL_EMBED, see
 * wal-embed.h), its I/O goes to a simulated disk, and the world misbehaves on purpose.
 * For each seed:
 *   - a disk (cport_sim_disk), and 2..6 "lives" of the program on it;
 *   - each life is `wal run /wal.log` with seeded options (link or barrier commits,
 *     1..32 appenders, writes of 4..128 KiB) on a port whose profile has seeded
 *     latencies and faults: failing writes (CPORT_EIO, CPORT_ENOSPC), failing
 *     fdatasyncs (CPORT_EIO, then the bytes are lost at a crash although the next
 *     flush says 0: "fsyncgate"), failing reads, short transfers and EAGAIN retries
 *     (the last two touch streams only: the log has none);
 *   - the life ends by itself (--records=N), or when the WAL stops on an injected I/O
 *     error (its exit status 2), or is killed by the harness after a seeded number of
 *     cport_wait calls, during recovery or while appending (a longjmp out of the
 *     program, then cport_destroy: what was in flight never happens);
 *   - then a power cut: cport_sim_disk_crash, with or without CPORT_SIM_TEAR (the last
 *     write of the file survives in part, whole sectors of its start);
 *   - then `wal check` on a port without faults reads the log as the next start will
 *     find it: every record acknowledged in any earlier life ("ack FIRST LAST") must be
 *     there, valid, with its own payload (wrong=0);
 *   - the next life's recovery must find exactly what check found (the same last
 *     record, the same end, the torn tail cut), and its first acknowledgement must be
 *     the record right after that end: nothing past the recovered tail is counted.
 * On failure: the seed, each life's profile and options and how it ended, and the
 * seed run again with CPORT_SIM_TRACE, whose trace is printed (and compared, by hash,
 * with the first run: the same seed must give the same run).
 */

#include "wal-embed.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define LOG_PATH "/wal.log"

/* ---- 1. The run in progress, and the hooks wal.c calls ----------------------------------- */

static cport_sim_profile run_prof;   /* the profile of the port wal_main creates */
static cport *run_port;              /* that port while it lives */
static jmp_buf run_jmp;
static int run_status;               /* wal_main's exit status */
static uint64_t run_waits, run_kill_at; /* kill after this many cport_waits (0: never) */
static int64_t run_err;              /* the I/O error that stopped it (0: none) */
static const char *run_err_what;
static bool run_trace;               /* keep and print the traces */
static char run_label[64];           /* which run a printed trace is */
static uint64_t run_hash;            /* every port's trace hash, combined */
static bool verbose;
static bool restarts;                /* --restarts: some lives end without a power cut */
static FILE *quiet;                  /* /dev/null, for wal.c's messages */

static struct {
	bool seen;
	uint64_t last, bytes, cut;
} recovered;

static struct {
	bool seen;
	uint64_t last, bytes, tail, wrong;
} checked;

static uint64_t acked;      /* records 1..acked were acknowledged (any life so far) */
static uint64_t next_ack;   /* the first record the next "ack" line must name (0: none) */
static char failure[512];   /* the first thing that went wrong in this seed */

/* The report of the seed's lives, printed if it fails. */
static char story[16384];
static size_t story_len;

static void tell(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (story_len < sizeof story) {
		int n = vsnprintf(story + story_len, sizeof story - story_len, fmt, ap);
		if (n > 0)
			story_len += (size_t)n;
		if (story_len > sizeof story)
			story_len = sizeof story;
	}
	va_end(ap);
}

static void fail_seed(const char *fmt, ...)
{
	if (failure[0])
		return; /* the first one is the one to explain */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(failure, sizeof failure, fmt, ap);
	va_end(ap);
}

/* What the program allocated and has not freed: given back when it dies. */
static void *allocs[64];
static unsigned nallocs;

void *wal_embed_malloc(size_t n)
{
	if (nallocs == sizeof allocs / sizeof *allocs)
		return NULL; /* wal.c holds two at most */
	void *p = malloc(n);
	if (p)
		allocs[nallocs++] = p;
	return p;
}

void *wal_embed_calloc(size_t n, size_t size)
{
	void *p = wal_embed_malloc(n && size ? n * size : 1);
	if (p && n && size)
		memset(p, 0, n * size);
	return p;
}

void wal_embed_free(void *p)
{
	for (unsigned i = 0; p && i < nallocs; i++)
		if (allocs[i] == p) {
			allocs[i] = allocs[--nallocs];
			break;
		}
	free(p);
}

const cport_sim_profile *wal_embed_profile(void)
{
	return &run_prof;
}

void wal_embed_started(cport *port)
{
	run_port = port;
}

/* The port goes: keep its trace hash, and its text when tracing. */
static void port_gone(cport *port)
{
	uint64_t h = cport_sim_trace_hash(port);
	run_hash = (run_hash ^ h) * 0x100000001b3u;
	if (!run_trace)
		return;
	int64_t n = cport_sim_trace(port, NULL, 0);
	char *text = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (text) {
		cport_sim_trace(port, text, (size_t)n + 1);
		fprintf(stderr, "---- trace of %s (hash %016" PRIx64 ") ----\n%s---- end of trace ----\n",
			run_label, h, text);
		free(text);
	}
}

void wal_embed_stopping(cport *port)
{
	port_gone(port);
	run_port = NULL; /* wal_main destroys it now */
}

void wal_embed_recovered(uint64_t last, uint64_t bytes, uint64_t cut)
{
	recovered.seen = true;
	recovered.last = last;
	recovered.bytes = bytes;
	recovered.cut = cut;
	next_ack = last + 1;
}

void wal_embed_acked(uint64_t first, uint64_t last)
{
	if (next_ack == 0 || first != next_ack || last < first)
		fail_seed("\"ack %" PRIu64 " %" PRIu64 "\" but the next record to acknowledge "
			  "was %" PRIu64, first, last, next_ack);
	next_ack = last + 1;
	if (last > acked)
		acked = last;
}

void wal_embed_checked(uint64_t last, uint64_t bytes, uint64_t tail, uint64_t wrong)
{
	checked.seen = true;
	checked.last = last;
	checked.bytes = bytes;
	checked.tail = tail;
	checked.wrong = wrong;
}

void wal_embed_io_error(const char *what, int64_t err)
{
	run_err = err;
	run_err_what = what;
}

void wal_embed_exit(int status)
{
	run_status = status;
	longjmp(run_jmp, 1);
}

void wal_embed_waited(void)
{
	if (++run_waits >= run_kill_at && run_kill_at)
		longjmp(run_jmp, 2); /* kill -9 */
}

FILE *wal_embed_err(void)
{
	return verbose ? stderr : quiet;
}

/* ---- 2. One run of the program ------------------------------------------------------------ */

enum ending { ENDED, STOPPED, KILLED };
static const char *const ending_names[] = {"ended", "stopped", "killed"};

/* Run `wal ARGS...` in this process with profile run_prof; kill it after `kill_at`
 * cport_waits (0: never). How it ended; run_status, run_err, recovered and checked
 * say the rest. */
static enum ending run_wal(uint64_t kill_at, const char *const *args)
{
	static char *argv[16];
	static int argc;
	argc = 0;
	argv[argc++] = "wal";
	while (*args && argc < 15)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	run_port = NULL;
	run_waits = 0;
	run_kill_at = kill_at;
	run_status = 0;
	run_err = 0;
	run_err_what = "";
	memset(&recovered, 0, sizeof recovered);
	memset(&checked, 0, sizeof checked);
	next_ack = 0;
	volatile enum ending how = ENDED;
	switch (setjmp(run_jmp)) {
	case 0:
		run_status = wal_main(argc, argv);
		break;
	case 1:
		how = STOPPED;
		break;
	default:
		how = KILLED;
		break;
	}
	if (run_port) { /* the process died: its port goes with it, ops in flight never happen */
		port_gone(run_port);
		cport_destroy(run_port);
		run_port = NULL;
	}
	while (nallocs)
		wal_embed_free(allocs[0]);
	return how;
}

/* ---- 3. A seed ----------------------------------------------------------------------------- */

struct totals {
	uint64_t seeds, lives, ended, stopped, killed, killed_recovering;
	uint64_t write_eio, write_enospc, fsync_eio, read_eio, other_err;
	uint64_t crashes, torn, changed, restarts, cut, acked, verified;
};

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ x >> 30) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ x >> 27) * 0x94D049BB133111EBull;
	return x ^ x >> 31;
}

static uint64_t rng;

static uint64_t pick(uint64_t n) /* 0..n-1 */
{
	rng = mix(rng);
	return rng % n;
}

/* A fault probability for this life, in millionths: none, or up to `max`. */
static uint32_t ppm(uint32_t max)
{
	return pick(3) == 0 ? 0 : (uint32_t)pick(max + 1);
}

static void count_error(struct totals *t, const char *what, int64_t err)
{
	bool flush = strstr(what, "fsync") || strstr(what, "fdatasync");
	if (flush && err == CPORT_EIO)
		t->fsync_eio++;
	else if (!strcmp(what, "write") && err == CPORT_EIO)
		t->write_eio++;
	else if (!strcmp(what, "write") && err == CPORT_ENOSPC)
		t->write_enospc++;
	else if (strstr(what, "read") && err == CPORT_EIO)
		t->read_eio++;
	else
		t->other_err++;
}

/* The checker's port: no faults, so that what it reads is what the disk holds. */
static void observer_profile(uint64_t seed, unsigned life, cport_sim_disk *disk)
{
	memset(&run_prof, 0, sizeof run_prof);
	run_prof.size = sizeof run_prof;
	run_prof.seed = mix(seed ^ 0xC4EC4 ^ life) | 1;
	run_prof.flags = run_trace ? CPORT_SIM_TRACE : 0;
	run_prof.disk = disk;
}

static int run_seed(uint64_t seed, struct totals *t)
{
	cport_sim_disk *disk;
	if (cport_sim_disk_create(&disk) < 0) {
		fprintf(stderr, "wal-sim-test: no memory for a disk\n");
		exit(1);
	}
	rng = mix(seed);
	acked = 0;
	failure[0] = '\0';
	story_len = 0;
	run_hash = 0xcbf29ce484222325u;
	/* What the log holds as the next start will find it (from the last check). */
	uint64_t have_last = 0, have_bytes = 0, have_tail = 0;
	unsigned lives = 2 + (unsigned)pick(5);
	unsigned level = (unsigned)pick(4); /* faults: none, light, medium, heavy */
	static const uint32_t level_max[] = {0, 500, 5000, 30000};
	tell("seed %" PRIu64 ": %u lives, fault level %u\n", seed, lives, level);
	for (unsigned life = 0; life < lives && !failure[0]; life++) {
		/* The profile of this life. */
		memset(&run_prof, 0, sizeof run_prof);
		run_prof.size = sizeof run_prof;
		run_prof.flags = run_trace ? CPORT_SIM_TRACE : 0;
		run_prof.seed = mix(seed * 64 + life) | 1;
		run_prof.latency_min_ns = 1000 * (1 + pick(50));
		run_prof.latency_max_ns = run_prof.latency_min_ns + 1000 * pick(5000);
		uint32_t m = level_max[level];
		run_prof.eio_write_ppm = ppm(m);
		run_prof.enospc_ppm = ppm(m);
		run_prof.fsync_ppm = ppm(m * 2);
		run_prof.eio_read_ppm = ppm(m);
		run_prof.short_ppm = ppm(m ? 200000 : 0);
		run_prof.again_ppm = ppm(m ? 200000 : 0);
		run_prof.disk = disk;

		/* Its command line and its end. */
		char seedarg[40], apparg[32], wsarg[32], recarg[40];
		snprintf(seedarg, sizeof seedarg, "--seed=%" PRIu64, mix(run_prof.seed) | 1);
		snprintf(apparg, sizeof apparg, "--appenders=%u", 1 + (unsigned)pick(32));
		static const unsigned sizes[] = {4096, 8192, 32768, 131072};
		snprintf(wsarg, sizeof wsarg, "--write-size=%u", sizes[pick(4)]);
		const char *sync = pick(2) ? "--sync=link" : "--sync=barrier";
		uint64_t kill_at = 0, records = 0;
		switch (pick(6)) {
		case 0:
			records = 1 + pick(1500); /* it ends by itself */
			break;
		case 1:
			kill_at = 1 + pick(8); /* during recovery, most often */
			break;
		default:
			kill_at = 1 + pick(200);
			break;
		}
		snprintf(recarg, sizeof recarg, "--records=%" PRIu64, records);
		const char *args[] = {"run", LOG_PATH, "--backend=sim", sync, apparg, wsarg,
				      seedarg, records ? recarg : NULL, NULL};
		tell("  life %u: wal run %s %s %s %s %s; kill after %" PRIu64
		     " waits; profile seed=%" PRIu64 " latency=%" PRIu64 "..%" PRIu64
		     " ns eio_write=%u enospc=%u fsync=%u eio_read=%u short=%u again=%u ppm\n",
		     life, sync, apparg, wsarg, seedarg, records ? recarg : "",
		     kill_at, run_prof.seed, run_prof.latency_min_ns, run_prof.latency_max_ns,
		     run_prof.eio_write_ppm, run_prof.enospc_ppm, run_prof.fsync_ppm,
		     run_prof.eio_read_ppm, run_prof.short_ppm, run_prof.again_ppm);

		uint64_t acked_before = acked;
		snprintf(run_label, sizeof run_label, "seed %" PRIu64 " life %u: wal run", seed, life);
		enum ending how = run_wal(kill_at, args);
		t->lives++;
		if (how == KILLED) {
			t->killed++;
			t->killed_recovering += !recovered.seen;
		} else if (how == STOPPED) {
			t->stopped++;
			count_error(t, run_err_what, run_err);
		} else {
			t->ended++;
		}
		tell("    %s (status %d%s%s%s) after %" PRIu64 " waits; recovered %s last=%" PRIu64
		     " bytes=%" PRIu64 " cut=%" PRIu64 "; acknowledged up to %" PRIu64 " (%" PRIu64
		     " new)\n",
		     ending_names[how], how == KILLED ? 137 : run_status, run_err ? ": " : "",
		     run_err ? run_err_what : "", run_err ? " failed" : "", run_waits,
		     recovered.seen ? "yes" : "no", recovered.last, recovered.bytes, recovered.cut,
		     acked, acked - acked_before);
		if (run_err)
			tell("    error: %s\n", cport_strerror(run_err));
		if (how == ENDED && run_status != 0)
			fail_seed("life %u: wal run ended with status %d", life, run_status);
		if (how == STOPPED && run_status != 2)
			fail_seed("life %u: wal run stopped with status %d", life, run_status);
		if (how == ENDED && acked - acked_before < records)
			fail_seed("life %u: ended with %" PRIu64 " records acknowledged, not %" PRIu64,
				  life, acked - acked_before, records);
		/* Recovery found what the check after the last crash found, and cut the rest. */
		if (recovered.seen && (recovered.last != have_last || recovered.bytes != have_bytes ||
				       recovered.cut != have_tail))
			fail_seed("life %u: recovered last=%" PRIu64 " bytes=%" PRIu64 " cut=%" PRIu64
				  " but the log held last=%" PRIu64 " bytes=%" PRIu64 " tail=%" PRIu64,
				  life, recovered.last, recovered.bytes, recovered.cut, have_last,
				  have_bytes, have_tail);
		t->cut += recovered.seen && recovered.cut > 0;

		/* The power cut; or, with --restarts, now and then the process alone died and
		 * the machine goes on (what was written stays, durable or not). */
		if (restarts && pick(4) == 0) {
			tell("    no power cut: the program restarts on the same machine\n");
			t->restarts++;
		} else {
			uint32_t flags = pick(2) ? CPORT_SIM_TEAR : 0;
			int changed = cport_sim_disk_crash(disk, mix(run_prof.seed + 1), flags);
			tell("    crash%s: %d file(s) changed\n", flags ? " (torn)" : "", changed);
			if (changed < 0) {
				fail_seed("cport_sim_disk_crash: %s", cport_strerror(changed));
				break;
			}
			t->crashes++;
			t->torn += flags != 0;
			t->changed += changed > 0;
		}

		/* What the next start will find. */
		observer_profile(seed, life, disk);
		snprintf(run_label, sizeof run_label, "seed %" PRIu64 " life %u: wal check", seed, life);
		const char *check_args[] = {"check", LOG_PATH, "--backend=sim", NULL};
		how = run_wal(0, check_args);
		if (how != ENDED) {
			/* Only a log that was never made durable may be missing. */
			if (run_err == CPORT_ENOENT && acked == 0) {
				have_last = have_bytes = have_tail = 0;
				tell("    check: no log (its name was never made durable)\n");
				continue;
			}
			fail_seed("life %u: wal check stopped: %s: %s", life, run_err_what,
				  cport_strerror(run_err));
			break;
		}
		tell("    check: last=%" PRIu64 " bytes=%" PRIu64 " tail=%" PRIu64 " wrong=%" PRIu64
		     "\n", checked.last, checked.bytes, checked.tail, checked.wrong);
		if (!checked.seen || checked.wrong != 0 || run_status != 0)
			fail_seed("life %u: wal check found %" PRIu64 " record(s) with a wrong payload",
				  life, checked.wrong);
		if (checked.last < acked)
			fail_seed("life %u: records up to %" PRIu64 " were acknowledged, but after the "
				  "crash the log ends at record %" PRIu64, life, acked, checked.last);
		have_last = checked.last;
		have_bytes = checked.bytes;
		have_tail = checked.tail;
		t->verified += acked;
	}
	t->acked += acked;
	t->seeds++;
	if (cport_sim_disk_destroy(disk) < 0)
		fail_seed("cport_sim_disk_destroy: a port still uses the disk");
	return failure[0] ? -1 : 0;
}

/* ---- 4. Main ------------------------------------------------------------------------------- */

static bool sim_exists(void)
{
	cport_options o;
	cport_options_init(&o);
	o.backend = "sim";
	cport *port;
	int r = cport_create(&port, &o);
	if (r == 0)
		cport_destroy(port);
	return r != CPORT_ENOSYS;
}

int main(int argc, char **argv)
{
	uint64_t count = 1000, first = 1;
	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "-v"))
			verbose = true;
		else if (!strcmp(argv[i], "--restarts"))
			restarts = true;
		else if (!strcmp(argv[i], "--trace"))
			run_trace = true;
		else if (!strncmp(argv[i], "--first=", 8))
			first = strtoull(argv[i] + 8, &end, 10);
		else if ((count = strtoull(argv[i], &end, 10)) == 0 || *end) {
			fprintf(stderr, "usage: wal-sim-test [SEEDS] [--first=N] [--restarts] [--trace] "
				"[-v]\n");
			return 1;
		}
	}
	if (!sim_exists()) {
		fprintf(stderr, "wal-sim-test: no simulation backend here: skipped\n");
		return 77;
	}
	quiet = fopen("/dev/null", "w");
	if (!quiet)
		quiet = stderr;

	struct totals t = {0};
	uint64_t t0 = cport_now_ns();
	for (uint64_t seed = first; seed < first + count; seed++) {
		int r = run_seed(seed, &t);
		uint64_t hash = run_hash;
		if (verbose || run_trace)
			fprintf(stderr, "%.*s", (int)story_len, story);
		if (r == 0 && seed % 50 == 0) {
			/* Now and then: the same seed again must be the same run. */
			struct totals again = {0};
			r = run_seed(seed, &again);
			if (r == 0 && run_hash != hash) {
				fail_seed("seed %" PRIu64 " ran twice gave two traces (hashes %016" PRIx64
					  " and %016" PRIx64 ")", seed, hash, run_hash);
				r = -1;
			}
		}
		if (r == 0)
			continue;
		char why[sizeof failure];
		memcpy(why, failure, sizeof why);
		fprintf(stderr, "wal-sim-test: FAIL: seed %" PRIu64 ": %s\n%.*s", seed, why,
			(int)story_len, story);
		fprintf(stderr, "wal-sim-test: the seed again, with its traces:\n");
		run_trace = true;
		struct totals again = {0};
		run_seed(seed, &again);
		fprintf(stderr, "wal-sim-test: FAIL: seed %" PRIu64 ": %s (rerun: %s; trace hashes "
			"%016" PRIx64 " then %016" PRIx64 "%s)\n", seed, why,
			failure[0] ? failure : "passed", hash, run_hash,
			hash == run_hash ? ", the same" : ", NOT the same: not deterministic");
		fprintf(stderr, "replay: wal-sim-test 1 --first=%" PRIu64 " --trace\n", seed);
		return 1;
	}
	double secs = (double)(cport_now_ns() - t0) / 1e9;
	printf("wal-sim-test: %" PRIu64 " seeds (%" PRIu64 "..%" PRIu64 ") passed in %.1f s\n"
	       "  %" PRIu64 " lives: %" PRIu64 " ended by themselves, %" PRIu64
	       " stopped on an injected I/O error, %" PRIu64 " killed (%" PRIu64
	       " during recovery)\n"
	       "  errors that stopped the WAL: write EIO %" PRIu64 ", write ENOSPC %" PRIu64
	       ", fsync EIO %" PRIu64 ", read EIO %" PRIu64 ", other %" PRIu64 "\n"
	       "  %" PRIu64 " crashes (%" PRIu64 " torn, %" PRIu64 " lost something), %" PRIu64
	       " restarts without one, %" PRIu64 " recoveries cut a tail\n"
	       "  %" PRIu64 " records acknowledged; after the crashes, %" PRIu64
	       " acknowledged records found again (each check counts all acknowledged so far)\n",
	       t.seeds, first, first + count - 1, secs, t.lives, t.ended, t.stopped, t.killed,
	       t.killed_recovering, t.write_eio, t.write_enospc, t.fsync_eio, t.read_eio,
	       t.other_err, t.crashes, t.torn, t.changed, t.restarts, t.cut, t.acked, t.verified);
	if (quiet != stderr)
		fclose(quiet);
	return 0;
}
