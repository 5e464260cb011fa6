/* SPDX-License-Identifier: MIT */
/* cport-bench: calibrate, run every workload on every backend, reference and peer, report. */

/*
 * Map
 *   1. Command line
 *   2. Backends present in this library, found by trying each one
 *   3. Calibration: a system call, a cross-thread wakeup
 *   4. The workloads and the rows of each
 *   5. Running: each run in its own child process, rows alternating run by run
 *   6. Reports: idle growth, goals (goals.c), summary, JSON (report.c), chart (svg.c)
 *
 * Each run forks: its peak RSS is its own, a crash or a hang (the alarm) fails one
 * row instead of the whole run, and one row's leftovers (threads, rings, sockets)
 * never weigh on the next.
 */

#include "harness.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cport.h>

/* ---- 1. Command line -------------------------------------------------------------- */

struct cli {
	const char *backend;  /* "all" or one name */
	const char *workload; /* NULL: all; else a comma-separated list of names */
	bool quick;
	unsigned repeat;
	const char *json, *svg;
	const char *dir;      /* file workloads */
	const char *only;     /* run only rows whose name contains this (profiling) */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cport-bench [--backend=all|io_uring|epoll|poll] [--workload=NAME[,NAME]]\n"
		"                   [--quick] [--repeat N] [--json FILE] [--svg FILE] [--dir DIR]\n"
		"                   [--only SUBSTR]\n"
		"workloads: nop post post-remote million-timers file-read-4k file-read-direct\n"
		"           file-append-sync stat fstat file-write-4k ping-pongs tcp-echo\n"
		"           tcp-pump large-send mt-echo mt-uneven\n"
		"--quick: small counts, for CI: fails only if a workload did not run.\n"
		"--dir: where the file workloads put their files (default: . ; file-append-sync\n"
		"       and file-read-direct need a real disk there: tmpfs makes fdatasync free\n"
		"       and has no disk to read from).\n"
		"--only SUBSTR: run only the rows whose name contains SUBSTR (for perf/strace).\n");
}

static int parse_cli(int argc, char **argv, struct cli *c)
{
	static const struct option longs[] = {
		{"backend", required_argument, 0, 'b'}, {"workload", required_argument, 0, 'w'},
		{"quick", no_argument, 0, 'q'},          {"repeat", required_argument, 0, 'r'},
		{"json", required_argument, 0, 'j'},     {"svg", required_argument, 0, 's'},
		{"dir", required_argument, 0, 'd'},      {"only", required_argument, 0, 'o'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	*c = (struct cli){.backend = "all", .repeat = 5, .dir = "."};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (ch) {
		case 'b': c->backend = optarg; break;
		case 'w': c->workload = optarg; break;
		case 'q': c->quick = true; break;
		case 'r': c->repeat = (unsigned)atoi(optarg); break;
		case 'j': c->json = optarg; break;
		case 's': c->svg = optarg; break;
		case 'd': c->dir = optarg; break;
		case 'o': c->only = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (c->repeat < 1 || c->repeat > MAX_REPEAT || optind != argc) {
		fprintf(stderr, "cport-bench: --repeat must be 1..%d, no other arguments\n",
			MAX_REPEAT);
		return -1;
	}
	return 0;
}

static bool wants_workload(const struct cli *c, const char *name)
{
	if (!c->workload)
		return true;
	size_t len = strlen(name);
	for (const char *p = c->workload; *p;) {
		size_t n = strcspn(p, ",");
		if (n == len && strncmp(p, name, n) == 0)
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

/* ---- 2. Backends ------------------------------------------------------------------ */

static const char *const backend_names[] = {"io_uring", "epoll", "poll"};
#define NBACKENDS 3

struct backend_state {
	bool wanted;
	bool present;
	char why[160]; /* absent: why */
};

static struct backend_state backends[NBACKENDS];

static void discover_backends(const struct cli *c)
{
	printf("Backends\n");
	for (unsigned i = 0; i < NBACKENDS; i++) {
		struct backend_state *b = &backends[i];
		b->wanted = !strcmp(c->backend, "all") || !strcmp(c->backend, backend_names[i]);
		cport_options o;
		cport_options_init(&o);
		char reason[120] = "";
		o.backend = backend_names[i];
		o.flags = CPORT_OPT_STRICT;
		o.reason = reason;
		o.reason_len = sizeof reason;
		cport *port;
		int r = cport_create(&port, &o);
		if (r == 0) {
			b->present = true;
			cport_destroy(port);
		} else if (r == CPORT_ENOSYS) {
			snprintf(b->why, sizeof b->why, "not built into this library");
		} else {
			snprintf(b->why, sizeof b->why, "cannot start: %s (%s)", cport_err_name(r),
				 reason);
		}
		printf("  %-9s %s%s\n", backend_names[i],
		       b->present ? "present" : "absent: ", b->present ? "" : b->why);
		if (b->present && !b->wanted)
			printf("            (not selected by --backend=%s)\n", c->backend);
	}
}

/* ---- 3. Calibration --------------------------------------------------------------- */

struct calib {
	double syscall_ns; /* getppid(2) through syscall() */
	double wake_ns;    /* one cross-thread wakeup: half an eventfd round trip */
};

static int calib_efd[2];
static unsigned calib_rounds;

static void *calib_echo(void *arg)
{
	(void)arg;
	uint64_t v;
	for (unsigned i = 0; i < calib_rounds; i++)
		if (read(calib_efd[0], &v, sizeof v) != sizeof v ||
		    write(calib_efd[1], &v, sizeof v) != sizeof v)
			break;
	return NULL;
}

static void calibrate(bool quick, struct calib *cal)
{
	unsigned n = quick ? 200000 : 2000000;
	double t0 = now_ns();
	for (unsigned i = 0; i < n; i++)
		syscall(SYS_getppid);
	cal->syscall_ns = (now_ns() - t0) / n;

	calib_rounds = quick ? 2000 : 20000;
	calib_efd[0] = eventfd(0, EFD_CLOEXEC);
	calib_efd[1] = eventfd(0, EFD_CLOEXEC);
	pthread_t t;
	pthread_create(&t, NULL, calib_echo, NULL);
	uint64_t one = 1, v;
	t0 = now_ns();
	for (unsigned i = 0; i < calib_rounds; i++)
		if (write(calib_efd[0], &one, sizeof one) != sizeof one ||
		    read(calib_efd[1], &v, sizeof v) != sizeof v)
			break;
	cal->wake_ns = (now_ns() - t0) / calib_rounds / 2;
	pthread_join(t, NULL);
	close(calib_efd[0]);
	close(calib_efd[1]);
	progress_clear();
	printf("Calibration\n  system call (getppid)    %8.0f ns\n"
	       "  cross-thread wakeup      %8.0f ns  (eventfd ping-pong between two threads, / 2)\n"
	       "  CPUs online              %8ld\n",
	       cal->syscall_ns, cal->wake_ns, sysconf(_SC_NPROCESSORS_ONLN));
}

/* ---- 4. Workloads and their rows -------------------------------------------------- */

/* A workload: up to three parameters, ops per run for each (full and --quick), and the
 * functions of each kind of row (NULL: that row does not fit this workload). */
struct wdef {
	const char *name;
	const char *pname;  /* "batch", "qd", "idle", "flags" (the cport op's op->flags), or NULL */
	unsigned params[3];
	uint64_t n_full[3], n_quick[3];
	const char *op;     /* what one op is */
	run_fn cport, ref_uring, ref_epoll, uv, sys;
	bool pool_row;      /* add the io_uring backend with file ops on the thread pool */
	const char *reference;
	bool fixed_row;     /* add the io_uring backend reading into registered buffers */
	bool zc_rows;       /* add io_uring with zero-copy sends forced and forbidden */
	bool recvpool_rows; /* add each backend receiving from a buffer pool */
	bool mt_rows;       /* servers on threads: each backend on one thread, two threads
	                       on a shared port, two sharded ports (bench/wl-mt.c) */
	run_fn asio;        /* ...and Asio's two threads on one io_context */
};

#define IDLE_FULL 9000
#define IDLE_QUICK 1000

static bool uring_ok;        /* the raw liburing rows can run here */
static char uring_why[120];
static bool direct_ok;       /* O_DIRECT reads of the data file, from a disk, work here */
static char direct_why[160];
static unsigned idle_max;     /* idle connections the descriptor limit allows */

static const struct wdef wdefs[] = {
	{"nop", "batch", {1, 32, 128}, {200000, 2000000, 2000000}, {10000, 100000, 100000},
	 "one nop submitted and reaped", wl_nop, ref_uring_nop, NULL, NULL, NULL, false,
	 "ref liburing"},
	{"post", "batch", {1, 32, 128}, {200000, 2000000, 2000000}, {10000, 100000, 100000},
	 "one completion posted and reaped", wl_post, NULL, NULL, NULL, NULL, false,
	 "cport io_uring"},
	{"post-remote", NULL, {0}, {200000}, {10000},
	 "one completion posted by another thread and reaped", wl_post_remote, NULL, NULL, NULL,
	 NULL, false, "cport io_uring"},
	{"million-timers", NULL, {0}, {1000000}, {50000}, "one timer started and fired",
	 wl_timers, ref_uring_timers, NULL, uv_timers, NULL, false, "ref liburing"},
	{"file-read-4k", "qd", {1, 32, 128}, {100000, 400000, 400000}, {5000, 20000, 20000},
	 "one random 4 KiB read from the page cache", wl_file_read, ref_uring_file_read, NULL,
	 uv_file_read, sys_file_read, true, "ref liburing", true},
	{"file-read-direct", "qd", {1, 32}, {10000, 40000}, {500, 2000},
	 "one random 4 KiB O_DIRECT read from the disk", wl_file_read_direct,
	 ref_uring_file_read_direct, NULL, NULL, NULL, false, "ref liburing"},
	{"file-append-sync", "flags", {0, CPORT_OP_LINK}, {1000, 1000}, {50, 50},
	 "one 4 KiB append + fdatasync", wl_file_append, ref_uring_file_append, NULL, NULL,
	 sys_file_append, false, "ref liburing"},
	{"stat", "flags", {0, CPORT_OP_INLINE}, {50000, 50000}, {2500, 2500},
	 "one stat of the data file, one op at a time",
	 wl_stat, NULL, NULL, NULL, sys_stat, false, "peer blocking"},
	{"fstat", "flags", {0, CPORT_OP_INLINE}, {100000, 100000}, {5000, 5000},
	 "one fstat of the data file, one op at a time",
	 wl_fstat, NULL, NULL, NULL, sys_fstat, false, "peer blocking"},
	{"file-write-4k", "flags", {0, CPORT_OP_INLINE}, {50000, 50000}, {2500, 2500},
	 "one 4 KiB write over page-cached blocks, one op at a time", wl_file_write, NULL, NULL,
	 NULL, sys_file_write, false, "peer blocking"},
	{"ping-pongs", NULL, {0}, {20000}, {1000}, "one 64-byte round trip on one connection",
	 wl_ping_pongs, ref_uring_ping_pongs, ref_epoll_ping_pongs, uv_ping_pongs,
	 sys_ping_pongs, false, "ref epoll", false, false, true},
	{"tcp-echo", "idle", {0, IDLE_FULL}, {100000, 100000}, {5000, 5000},
	 "one 64-byte round trip, 64 busy connections", wl_tcp_echo, ref_uring_tcp_echo,
	 ref_epoll_tcp_echo, uv_tcp_echo, NULL, false, "ref epoll", false, false, true},
	{"tcp-pump", NULL, {0}, {16384}, {1024}, "one 64 KiB chunk sent and received",
	 wl_tcp_pump, ref_uring_tcp_pump, ref_epoll_tcp_pump, NULL, sys_tcp_pump, false,
	 "ref epoll"},
	{"large-send", "size", {16384, 65536, LARGE_SEND_MAX}, {100000, 40000, 4000},
	 {5000, 2000, 200}, "one send of `size` bytes on one connection, read and discarded",
	 wl_large_send, ref_uring_large_send, ref_epoll_large_send, NULL, NULL, false,
	 "ref liburing", false, true, false},
	{.name = "mt-echo", .n_full = {200000}, .n_quick = {5000}, .cport = wl_mt_echo,
	 .op = "one 64-byte request answered, 64 connections, servers on threads",
	 .reference = "peer asio 2t", .mt_rows = true, .asio = ASIO_ROW(asio_mt_echo)},
	{.name = "mt-uneven", .n_full = {100000}, .n_quick = {2000}, .cport = wl_mt_uneven,
	 .op = "one request answered after ~2 us of work; 4 of 64 connections carry 15/16 (sharded: all on one port)",
	 .reference = "cport io_uring 2 ports", .mt_rows = true,
	 .asio = ASIO_ROW(asio_mt_uneven)},
};
#define NWDEFS (sizeof wdefs / sizeof *wdefs)

static struct row *add_row(struct bcase *c, const char *name, run_fn fn, const char *absent)
{
	struct row *r = &c->rows[c->nrows++];
	snprintf(r->name, sizeof r->name, "%s", name);
	r->fn = fn;
	r->absent = absent;
	r->job.param = c->param;
	r->job.n = c->n;
	return r;
}

/* mt-echo, mt-uneven: each backend's servers on threads, then Asio's. */
static void add_mt_rows(struct bcase *c, const struct wdef *w)
{
	static const struct {
		const char *suffix;
		unsigned mt, threads;
	} kinds[] = {{"1 thread", MT_ONE, 1}, {"shared 2t", MT_SHARED, 2},
		     {"2 ports", MT_SHARDED, 2}};
	char name[40];
	for (unsigned i = 0; i < NBACKENDS; i++) {
		if (!backends[i].wanted)
			continue;
		const char *absent = backends[i].present ? NULL : backends[i].why;
		for (unsigned k = 0; k < sizeof kinds / sizeof *kinds; k++) {
			snprintf(name, sizeof name, "cport %s %s", backend_names[i], kinds[k].suffix);
			struct row *r = add_row(c, name, w->cport, absent);
			r->job.backend = backend_names[i];
			r->job.mt = kinds[k].mt;
			r->job.threads = kinds[k].threads;
		}
	}
	struct row *r = add_row(c, "peer asio 2t", w->asio,
				w->asio ? NULL : "built without Asio (Debian: libasio-dev)");
	r->job.mt = MT_SHARED;
	r->job.threads = 2;
}

static void add_cport_rows(struct bcase *c, const struct wdef *w)
{
	char name[40];
	for (unsigned i = 0; i < NBACKENDS; i++) {
		if (!backends[i].wanted)
			continue;
		snprintf(name, sizeof name, "cport %s", backend_names[i]);
		const char *absent = backends[i].present ? NULL : backends[i].why;
		add_row(c, name, w->cport, absent)->job.backend = backend_names[i];
		if (i == 0 && w->pool_row) {
			struct row *r = add_row(c, "cport io_uring+pool", w->cport, absent);
			r->job.backend = backend_names[i];
			r->job.pool = true;
		}
		if (i == 0 && w->fixed_row) {
			struct row *r = add_row(c, "cport io_uring+fixed", w->cport, absent);
			r->job.backend = backend_names[i];
			r->job.fixed = true;
		}
		if (i == 0 && w->zc_rows) {
			struct row *r = add_row(c, "cport io_uring+zc", w->cport, absent);
			r->job.backend = backend_names[i];
			r->job.send_flags = CPORT_SEND_ZC;
			r = add_row(c, "cport io_uring+nozc", w->cport, absent);
			r->job.backend = backend_names[i];
			r->job.send_flags = CPORT_SEND_NOZC;
		}
		if (w->recvpool_rows) {
			snprintf(name, sizeof name, "cport %s+recvpool", backend_names[i]);
			struct row *r = add_row(c, name, w->cport, absent);
			r->job.backend = backend_names[i];
			r->job.recvpool = true;
		}
	}
}

/* op->flags as a case title shows them: "0", "link", "inline", "link|inline". */
static const char *flags_name(unsigned flags)
{
	static char buf[32];
	snprintf(buf, sizeof buf, "%s%s%s%s", flags ? "" : "0",
		 flags & CPORT_OP_LINK ? "link" : "",
		 (flags & CPORT_OP_LINK) && (flags & CPORT_OP_INLINE) ? "|" : "",
		 flags & CPORT_OP_INLINE ? "inline" : "");
	return buf;
}

static unsigned build_case(struct bcase *c, const struct wdef *w, unsigned pi, bool quick)
{
	*c = (struct bcase){.workload = w->name, .pname = w->pname, .op = w->op,
			    .param = w->params[pi]};
	c->n = quick ? w->n_quick[pi] : w->n_full[pi];
	if (w->pname && !strcmp(w->pname, "idle") && c->param) {
		c->param = quick ? IDLE_QUICK : IDLE_FULL;
		if (c->param > idle_max) {
			printf("note: %s idle connections reduced from %u to %u: RLIMIT_NOFILE\n",
			       w->name, c->param, idle_max);
			c->param = idle_max;
		}
	}
	if (w->pname && !strcmp(w->pname, "flags"))
		snprintf(c->title, sizeof c->title, "%s flags=%s", w->name, flags_name(c->param));
	else if (w->pname)
		snprintf(c->title, sizeof c->title, "%s %s=%u", w->name, w->pname, c->param);
	else
		snprintf(c->title, sizeof c->title, "%s", w->name);
	if (w->mt_rows)
		add_mt_rows(c, w);
	else
		add_cport_rows(c, w);
	if (w->ref_uring)
		add_row(c, "ref liburing", w->ref_uring, uring_ok ? NULL : uring_why);
	if (w->ref_epoll)
		add_row(c, "ref epoll", w->ref_epoll, NULL);
	if (w->uv)
		add_row(c, "peer libuv", w->uv, have_uv ? NULL : "built without libuv");
	if (w->sys)
		add_row(c, "peer blocking", w->sys, NULL);
	for (unsigned i = 0; i < c->nrows; i++)
		c->rows[i].is_ref = !strcmp(c->rows[i].name, w->reference);
	return 1;
}

/* Every case the command line asks for. */
static unsigned build_cases(const struct cli *cli, struct bcase *cs, unsigned max)
{
	unsigned n = 0;
	for (unsigned w = 0; w < NWDEFS; w++) {
		if (!wants_workload(cli, wdefs[w].name))
			continue;
		for (unsigned p = 0; p < 3 && n < max; p++) {
			if (p > 0 && wdefs[w].params[p] == 0)
				break;
			n += build_case(&cs[n], &wdefs[w], p, cli->quick);
		}
	}
	return n;
}

/* file-read-direct's rows are absent, with the reason, where O_DIRECT cannot read the data
 * file from a disk. */
static void mark_direct(struct bcase *cs, unsigned n, const char *path)
{
	direct_ok = file_direct_ok(path, direct_why, sizeof direct_why);
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; !direct_ok && j < cs[i].nrows; j++)
			if (!strcmp(cs[i].workload, "file-read-direct") && !cs[i].rows[j].absent)
				cs[i].rows[j].absent = direct_why;
	if (!direct_ok)
		printf("note: file-read-direct skipped: %s\n", direct_why);
}

/* ---- 5. Running ------------------------------------------------------------------- */

static void run_child(const struct row *row, int wfd, unsigned timeout_s)
{
	alarm(timeout_s);
	struct sample s = {.allocs = -1};
	int r = row->fn(&row->job, &s);
	if (r < 0 && s.err == 0)
		bench_fail(&s, r, "run");
	if (r == 0 && s.ops == 0)
		bench_fail(&s, -EIO, "no operations measured");
	ssize_t w = write(wfd, &s, sizeof s);
	_exit(w == (ssize_t)sizeof s ? 0 : 1);
}

/* One run of one row, in a child process. */
static void run_once(struct row *row, unsigned timeout_s)
{
	struct sample s = {0};
	int p[2];
	if (pipe(p) < 0) {
		row->failed = true;
		snprintf(row->why, sizeof row->why, "pipe: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		run_child(row, p[1], timeout_s);
	}
	close(p[1]);
	ssize_t got = pid < 0 ? -1 : read(p[0], &s, sizeof s);
	close(p[0]);
	int status = 0;
	struct rusage ru = {0};
	if (pid > 0)
		wait4(pid, &status, 0, &ru);
	if (got != (ssize_t)sizeof s) {
		s.err = -EIO;
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
			snprintf(s.msg, sizeof s.msg, "timed out after %u s", timeout_s);
		else if (WIFSIGNALED(status))
			snprintf(s.msg, sizeof s.msg, "killed by %s", strsignal(WTERMSIG(status)));
		else
			snprintf(s.msg, sizeof s.msg, "run ended without a result (status %d)",
				 status);
	}
	s.maxrss_kb = ru.ru_maxrss;
	if (s.err < 0 && !row->failed) {
		row->failed = true;
		snprintf(row->why, sizeof row->why, "%s", s.msg);
	}
	row->samples[row->nsamples++] = s;
}

/* Rows left out by --only, and the runs that remain to do (for the progress line). */
static unsigned select_rows(struct bcase *cs, unsigned n, unsigned repeat, const char *only)
{
	unsigned runs = 0;
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < cs[i].nrows; j++) {
			struct row *r = &cs[i].rows[j];
			if (only && !strstr(r->name, only) && !r->absent)
				r->absent = "not selected by --only";
			runs += r->absent ? 0 : repeat;
		}
	return runs;
}

/* Every row of case ci of nc, `repeat` times, alternating: run 1 of each row, then run 2... */
static void run_case(struct bcase *c, unsigned ci, unsigned nc, unsigned repeat,
		     unsigned timeout_s)
{
	progress_clear();
	printf("\n== %s: %llu ops per run, %u runs per row; op = %s\n", c->title,
	       (unsigned long long)c->n, repeat, c->op);
	for (unsigned rep = 0; rep < repeat; rep++)
		for (unsigned i = 0; i < c->nrows; i++)
			if (!c->rows[i].absent && !c->rows[i].failed) {
				progress_run(c, ci, nc, &c->rows[i], rep, repeat);
				run_once(&c->rows[i], timeout_s);
			}
	summarize(c);
	progress_clear();
	print_case(stdout, c, repeat);
}

/* ---- Reports --------------------------------------------------------------------- */

static void meta_options(struct meta *m, const struct cli *c, unsigned timeout_s,
			 uint64_t data_file_bytes)
{
	m->quick = c->quick;
	m->repeat = c->repeat;
	m->timeout_s = timeout_s;
	m->backend = c->backend;
	m->workloads = c->workload;
	m->only = c->only;
	m->dir = c->dir;
	m->data_file_bytes = data_file_bytes;
}

/* After the runs: idle growth, goals and summary on stdout, then the files asked for.
 * Returns how many files could not be written. */
static unsigned report(const struct cli *cli, const struct meta *meta, const struct calib *cal,
		       const struct bcase *cases, unsigned ncases)
{
	unsigned failed = 0;
	print_idle_growth(stdout, cases, ncases);
	print_mt(stdout, cases, ncases);
	static struct goal goals[MAX_GOALS];
	unsigned ngoals = goals_check(cases, ncases, goals, MAX_GOALS);
	goals_print(stdout, goals, ngoals, cli->quick);
	print_summary(stdout, cases, ncases, cli->repeat, cli->quick);

	char calib[200];
	snprintf(calib, sizeof calib, "{\"syscall_ns\": %.1f, \"wakeup_ns\": %.1f, \"cpus\": %ld}",
		 cal->syscall_ns, cal->wake_ns, sysconf(_SC_NPROCESSORS_ONLN));
	if (cli->json && write_json(cli->json, meta, cases, ncases, calib, goals, ngoals) < 0)
		failed++;
	else if (cli->json)
		printf("\nJSON (every figure of every run, the run's metadata, the goals): %s\n",
		       cli->json);
	if (cli->svg && write_svg(cli->svg, meta, cases, ncases) < 0)
		failed++;
	else if (cli->svg)
		printf("%sChart (speed against each reference, min-max whiskers): %s\n",
		       cli->json ? "" : "\n", cli->svg);
	return failed;
}

/* ---- main ------------------------------------------------------------------------- */

#define MAX_CASES 32

int main(int argc, char **argv)
{
	struct cli cli;
	if (parse_cli(argc, argv, &cli) < 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	progress_start();
	static struct meta meta;
	meta_collect(&meta);
	printf("cport-bench%s: %u runs per row, rows alternate run by run\n",
	       cli.quick ? " --quick" : "", cli.repeat);
	meta_print(stdout, &meta);
	discover_backends(&cli);
	struct calib cal;
	progress_note("calibrating: a system call, a cross-thread wakeup");
	calibrate(cli.quick, &cal);
	/* Two descriptors per connection, and room for the busy ones, rings, pipes. */
	int nofile = net_raise_nofile(2 * IDLE_FULL + 1024);
	idle_max = nofile > 1024 ? (unsigned)(nofile - 1024) / 2 : 0;
	uring_ok = ref_uring_available(uring_why, sizeof uring_why);

	static struct bcase cases[MAX_CASES];
	unsigned ncases = build_cases(&cli, cases, MAX_CASES);
	if (ncases == 0) {
		fprintf(stderr, "cport-bench: no workload named %s\n", cli.workload);
		return 2;
	}
	char path[512] = "";
	uint64_t fsize = cli.quick ? 8u << 20 : 64u << 20;
	progress_note("writing the %llu MiB data file of file-read-4k in %s",
		      (unsigned long long)(fsize >> 20), cli.dir);
	int r = file_make(cli.dir, "read", fsize, path, sizeof path);
	progress_clear();
	if (r < 0)
		fprintf(stderr, "cport-bench: cannot make the data file in %s: %s\n", cli.dir,
			strerror(-r));
	else if (wants_workload(&cli, "file-read-direct"))
		mark_direct(cases, ncases, path);
	for (unsigned i = 0; i < ncases; i++)
		for (unsigned j = 0; j < cases[i].nrows; j++) {
			cases[i].rows[j].job.dir = cli.dir;
			cases[i].rows[j].job.path = path;
			cases[i].rows[j].job.fsize = fsize;
		}
	unsigned timeout_s = cli.quick ? 30 : 120, failed = 0;
	meta_options(&meta, &cli, timeout_s, fsize);
	progress_plan(select_rows(cases, ncases, cli.repeat, cli.only));
	for (unsigned i = 0; i < ncases; i++) {
		run_case(&cases[i], i, ncases, cli.repeat, timeout_s);
		for (unsigned j = 0; j < cases[i].nrows; j++)
			failed += cases[i].rows[j].failed;
	}
	progress_end();
	meta_finish(&meta, progress_elapsed_s());
	if (path[0])
		unlink(path);
	failed += report(&cli, &meta, &cal, cases, ncases);
	printf("\n%u row(s) failed to run\n", failed);
	return failed ? 1 : 0;
}
