/* SPDX-License-Identifier: MIT */
/* cport-bench: rows, cases and their summaries, shared by main.c and report.c. */
#ifndef HARNESS_H
#define HARNESS_H

#include "bench.h"

#include <stdio.h>
#include <sys/utsname.h>
#include <time.h>

#define MAX_REPEAT 50
#define MAX_ROWS 12

/* The figures of a row over its runs; ns/op figures are wall time per op. */
struct summary {
	double med, min, max; /* ns per op */
	double cpu;           /* CPU ns per op, median */
	double ops_s;         /* ops per second at the median */
	double allocs;        /* allocations per op, worst run; < 0: not counted */
	double p50, p99;      /* latency ns, median over runs; 0: not measured */
	int64_t rss_kb;       /* peak RSS, worst run */
	double ratio;         /* reference ns/op / this row's ns/op; 0: no reference */
};

/* One line of a table: a cport backend, a reference loop or a peer. */
struct row {
	char name[40];       /* "cport io_uring", "ref liburing", "peer libuv", ... */
	run_fn fn;
	struct job job;
	const char *absent;  /* not run, and why (a backend not built, no libuv, ...) */
	bool is_ref;         /* the row the others are compared to */
	unsigned nsamples;
	struct sample samples[MAX_REPEAT];
	bool failed;         /* a run failed: `why` says how */
	char why[160];
	struct summary sum;
};

/* One table: a workload at one parameter (batch, queue depth, idle connections). */
struct bcase {
	const char *workload;
	const char *pname;   /* the parameter's name ("batch", "qd", "idle"); NULL: none */
	char title[64];      /* "nop batch=32" */
	const char *op;      /* what one op is */
	unsigned param;
	uint64_t n;
	unsigned nrows;
	struct row rows[MAX_ROWS];
};

/* What ran where and how (meta.c): the "meta" object of the JSON file. Strings are NULL
 * and counts negative where unknown, and the JSON says null there. */
struct meta {
	time_t start, end;
	double duration_s;
	const char *git_commit;       /* HEAD's hash at build time, or "unknown" */
	int git_dirty;                /* 1: tracked files had changes, 0: none, -1: unknown */
	const char *cport_version, *compiler, *buildtype;
	const char *liburing_version; /* from liburing.h's macros or Meson's pkg-config */
	const char *liburing_from;    /* "liburing.h" or "pkg-config" */
	const char *libuv_version;    /* uv_version_string(); NULL: built without libuv */
	bool have_uts;
	struct utsname uts;
	char cpu_model[160];          /* "": no "model name" in /proc/cpuinfo */
	long cpu_count;               /* processors listed in /proc/cpuinfo */
	long cpus_online;
	/* the options of the run, filled in by main */
	bool quick;
	unsigned repeat, timeout_s;
	const char *backend, *workloads, *only, *dir; /* workloads, only: NULL when not given */
	uint64_t data_file_bytes;
	bool alloc_counting;
};

/* A goal's verdict (goals.c). */
struct goal {
	const char *name;     /* what it measures: "epoll ping-pongs >= 0.95x raw epoll" */
	const char *status;   /* "met", "NOT MET" or "not measured" */
	const char *workload; /* NULL: every workload */
	unsigned param;
	const char *row;      /* the row judged */
	const char *against;  /* the row it is compared with; NULL: none */
	const char *measure;  /* what value is: "speed ratio", "time ratio", "ns/op slower", ... */
	const char *cmp;      /* ">=" or "<=": how value must compare with target */
	double target;
	bool measured;        /* value holds a figure (else the detail says why not) */
	double value;         /* on wall-clock medians */
	double cpu_value;     /* the same on CPU time; NAN where it does not apply */
	char detail[240];
};

/* Every kind of row, in table order: the summary's columns, the chart's legend (report.c). */
struct row_kind {
	const char *row;    /* the row's name: "cport epoll", "ref liburing", ... */
	const char *label;  /* short, a column heading: "epoll", "raw liburing" */
	const char *legend; /* long, for the chart: "cport epoll", "raw liburing loop" */
	const char *colour; /* its colour in the chart */
};
#define NROW_KINDS 14
extern const struct row_kind row_kinds[NROW_KINDS];
const struct row_kind *row_kind_of(const char *row); /* NULL: not a known kind */

/* report.c */
void summarize(struct bcase *c);
bool row_ok(const struct row *r); /* ran, and every run succeeded */
void print_case(FILE *f, const struct bcase *c, unsigned repeat);
void print_idle_growth(FILE *f, const struct bcase *cs, unsigned n);
void print_mt(FILE *f, const struct bcase *cs, unsigned n);
void print_summary(FILE *f, const struct bcase *cs, unsigned n, unsigned repeat, bool quick);
int write_json(const char *path, const struct meta *m, const struct bcase *cs, unsigned n,
	       const char *calib_json, const struct goal *goals, unsigned ngoals);
const struct row *find_row(const struct bcase *cs, unsigned n, const char *workload,
			   unsigned param, const char *row);
const char *fmt_ns(char *buf, size_t n, double ns);       /* 82.3, 1278, 13.0k, 1.23M */
const char *fmt_ratio(char *buf, size_t n, double ratio); /* 0.006, 0.51, 5.23, 12.4 */
void json_str(FILE *f, const char *s);                  /* NULL: null */
void json_num(FILE *f, double v, int decimals, bool known); /* not known or not finite: null */

/* meta.c */
void meta_collect(struct meta *m); /* all but the options; the run starts now */
void meta_finish(struct meta *m, double duration_s);
void meta_print(FILE *f, const struct meta *m);
void meta_json(FILE *f, const struct meta *m, const struct bcase *cs, unsigned n);

/* svg.c */
int write_svg(const char *path, const struct meta *m, const struct bcase *cs, unsigned n);

/* goals.c */
#define MAX_GOALS 32
unsigned goals_check(const struct bcase *cs, unsigned n, struct goal *out, unsigned max);
void goals_print(FILE *f, const struct goal *g, unsigned n, bool quick);
void goals_json(FILE *f, const struct goal *g, unsigned n);

/* progress.c: what is running, on stderr (plain lines, or one updating line on a TTY) */
void progress_start(void);              /* the clock of "elapsed" starts here */
void progress_plan(unsigned runs);      /* runs to come, for "run k of N in all" */
double progress_elapsed_s(void);
void progress_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void progress_run(const struct bcase *c, unsigned ci, unsigned nc, const struct row *r,
		  unsigned rep, unsigned repeat);
void progress_clear(void);              /* call before printing on stdout */
void progress_end(void);

#endif /* HARNESS_H */
