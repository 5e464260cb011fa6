/* SPDX-License-Identifier: MIT */
/* cport-bench: the speed and allocation goals, named by what they measure, checked on medians. */

/*
 * A goal compares two rows of one case (a speed ratio, or "within N ns/op") or looks at
 * one row across every case (allocations per op). Goals are printed as met, NOT MET or
 * not measured (with why) and written to the JSON file; they never fail the run.
 */

#include "harness.h"

#include <math.h>
#include <string.h>

#include <cport.h> /* CPORT_OP_LINK: file-append-sync's parameter */

enum goal_kind {
	GOAL_SPEED,     /* row at least `target` times as fast as `against` */
	GOAL_WITHIN_NS, /* row at most `target` ns/op slower than `against` */
	GOAL_WITHIN_X,  /* row's ns/op at most `target` times `against`'s */
	GOAL_NO_ALLOCS, /* row makes at most `target` allocations per op, in every case */
};

struct goal_def {
	const char *name; /* what it measures, as printed and written to the JSON file */
	enum goal_kind kind;
	const char *workload; /* NULL: every workload */
	unsigned param;
	const char *row, *against;
	double target;
};

static const struct goal_def goal_defs[] = {
	{"io_uring nop within 30 ns/op of raw liburing (batch 32)", GOAL_WITHIN_NS, "nop", 32,
	 "cport io_uring", "ref liburing", 30},
	{"io_uring registered buffers >= 1.0x plain reads (qd 32)", GOAL_SPEED, "file-read-4k", 32,
	 "cport io_uring+fixed", "cport io_uring", 1.0},
	{"io_uring file reads >= 0.9x raw liburing (qd 32)", GOAL_SPEED, "file-read-4k", 32,
	 "cport io_uring", "ref liburing", 0.9},
	{"thread-pool file reads >= 1.0x libuv (io_uring+pool, qd 32)", GOAL_SPEED, "file-read-4k",
	 32, "cport io_uring+pool", "peer libuv", 1.0},
	{"thread-pool file reads >= 1.0x libuv (epoll, qd 32)", GOAL_SPEED, "file-read-4k", 32,
	 "cport epoll", "peer libuv", 1.0},
	{"epoll ping-pongs >= 0.95x raw epoll", GOAL_SPEED, "ping-pongs", 0, "cport epoll",
	 "ref epoll", 0.95},
	{"epoll ping-pongs >= 1.1x libuv", GOAL_SPEED, "ping-pongs", 0, "cport epoll", "peer libuv",
	 1.1},
	{"epoll tcp-echo >= 0.95x raw epoll (no idle connections)", GOAL_SPEED, "tcp-echo", 0,
	 "cport epoll", "ref epoll", 0.95},
	{"epoll tcp-echo >= 1.1x libuv (no idle connections)", GOAL_SPEED, "tcp-echo", 0,
	 "cport epoll", "peer libuv", 1.1},
	/* Pool receives (issue 13): one multishot cport_recv_pool per end against the raw
	 * loops' plain receive into a buffer of their own. */
	{"io_uring pool receives tcp-echo >= 1.15x raw liburing (64 connections)", GOAL_SPEED,
	 "tcp-echo", 0, "cport io_uring+recvpool", "ref liburing", 1.15},
	{"io_uring pool receives ping-pongs >= 1.0x raw liburing", GOAL_SPEED, "ping-pongs", 0,
	 "cport io_uring+recvpool", "ref liburing", 1.0},
	{"epoll pool receives tcp-echo >= 1.0x raw epoll (64 connections)", GOAL_SPEED,
	 "tcp-echo", 0, "cport epoll+recvpool", "ref epoll", 1.0},
	{"epoll pool receives ping-pongs >= 1.0x raw epoll", GOAL_SPEED, "ping-pongs", 0,
	 "cport epoll+recvpool", "ref epoll", 1.0},
	/* Shared ports (issue 11): two threads on one port against Asio's two threads on one
	 * io_context, and against two sharded ports when a few connections carry most. */
	{"io_uring shared port mt-echo >= 1.0x Asio's 2-thread io_context", GOAL_SPEED,
	 "mt-echo", 0, "cport io_uring shared 2t", "peer asio 2t", 1.0},
	{"epoll shared port mt-echo >= 1.0x Asio's 2-thread io_context", GOAL_SPEED, "mt-echo",
	 0, "cport epoll shared 2t", "peer asio 2t", 1.0},
	{"io_uring shared port mt-uneven >= 1.2x two sharded ports", GOAL_SPEED, "mt-uneven", 0,
	 "cport io_uring shared 2t", "cport io_uring 2 ports", 1.2},
	{"epoll shared port mt-uneven >= 1.2x two sharded ports", GOAL_SPEED, "mt-uneven", 0,
	 "cport epoll shared 2t", "cport epoll 2 ports", 1.2},
	{"io_uring million-timers >= 1.0x libuv", GOAL_SPEED, "million-timers", 0,
	 "cport io_uring", "peer libuv", 1.0},
	{"epoll million-timers >= 1.0x libuv", GOAL_SPEED, "million-timers", 0, "cport epoll",
	 "peer libuv", 1.0},
	{"poll million-timers >= 1.0x libuv", GOAL_SPEED, "million-timers", 0, "cport poll",
	 "peer libuv", 1.0},
	/* Storage engines (issue 14). Linked append: the goal is about io_uring, whose raw
	 * loop links with IOSQE_IO_LINK; the other backends' ratios are in the table. */
	{"io_uring linked append >= 0.95x raw liburing's linked pair", GOAL_SPEED,
	 "file-append-sync", CPORT_OP_LINK, "cport io_uring", "ref liburing", 0.95},
	{"epoll cached reads at depth 1 within 1.5x of pread", GOAL_WITHIN_X, "file-read-4k", 1,
	 "cport epoll", "peer blocking", 1.5},
	{"poll cached reads at depth 1 within 1.5x of pread", GOAL_WITHIN_X, "file-read-4k", 1,
	 "cport poll", "peer blocking", 1.5},
	/* One op at a time against the plain call, with CPORT_OP_INLINE (the caller lets the
	 * cheap op run in its submit call); the flags=0 rows are in the table beside them. */
	{"io_uring inline stat at depth 1 within 1.3x of stat(2)", GOAL_WITHIN_X, "stat",
	 CPORT_OP_INLINE, "cport io_uring", "peer blocking", 1.3},
	{"epoll inline stat at depth 1 within 1.3x of stat(2)", GOAL_WITHIN_X, "stat",
	 CPORT_OP_INLINE, "cport epoll", "peer blocking", 1.3},
	{"io_uring inline fstat at depth 1 within 1.3x of fstat(2)", GOAL_WITHIN_X, "fstat",
	 CPORT_OP_INLINE, "cport io_uring", "peer blocking", 1.3},
	{"epoll inline fstat at depth 1 within 1.3x of fstat(2)", GOAL_WITHIN_X, "fstat",
	 CPORT_OP_INLINE, "cport epoll", "peer blocking", 1.3},
	{"io_uring inline 4 KiB write at depth 1 within 1.3x of pwrite(2)", GOAL_WITHIN_X,
	 "file-write-4k", CPORT_OP_INLINE, "cport io_uring", "peer blocking", 1.3},
	{"epoll inline 4 KiB write at depth 1 within 1.3x of pwrite(2)", GOAL_WITHIN_X,
	 "file-write-4k", CPORT_OP_INLINE, "cport epoll", "peer blocking", 1.3},
	{"io_uring: 0 allocations per op after setup (every workload)", GOAL_NO_ALLOCS, NULL, 0,
	 "cport io_uring", NULL, 0},
	{"epoll: 0 allocations per op after setup (every workload)", GOAL_NO_ALLOCS, NULL, 0,
	 "cport epoll", NULL, 0},
	{"poll: 0 allocations per op after setup (every workload)", GOAL_NO_ALLOCS, NULL, 0,
	 "cport poll", NULL, 0},
};
#define NGOAL_DEFS (sizeof goal_defs / sizeof *goal_defs)

static void why_missing(char *buf, size_t n, const char *name, const struct row *r)
{
	if (!r)
		snprintf(buf, n, "%s not run (workload or backend not selected)", name);
	else if (r->absent)
		snprintf(buf, n, "%s absent: %s", name, r->absent);
	else
		snprintf(buf, n, "%s failed: %s", name, r->why);
}

/* GOAL_SPEED, GOAL_WITHIN_NS and GOAL_WITHIN_X: two rows of one case. */
static void goal_cmp(const struct bcase *cs, unsigned ncs, const struct goal_def *d,
		     struct goal *g)
{
	const struct row *a = find_row(cs, ncs, d->workload, d->param, d->row);
	const struct row *b = find_row(cs, ncs, d->workload, d->param, d->against);
	if (!row_ok(a) || !row_ok(b)) {
		g->status = "not measured";
		why_missing(g->detail, sizeof g->detail, row_ok(a) ? d->against : d->row,
			    row_ok(a) ? b : a);
		return;
	}
	double speed = b->sum.med / a->sum.med, diff = a->sum.med - b->sum.med;
	double cpu_speed = b->sum.cpu / a->sum.cpu, cpu_diff = a->sum.cpu - b->sum.cpu;
	g->measured = true;
	g->value = d->kind == GOAL_SPEED ? speed : d->kind == GOAL_WITHIN_X ? 1 / speed : diff;
	g->cpu_value = d->kind == GOAL_SPEED	  ? cpu_speed
		       : d->kind == GOAL_WITHIN_X ? 1 / cpu_speed
						  : cpu_diff;
	bool met = d->kind == GOAL_SPEED ? speed >= d->target : g->value <= d->target;
	g->status = met ? "met" : "NOT MET";
	if (d->kind == GOAL_WITHIN_X)
		snprintf(g->detail, sizeof g->detail,
			 "%.2fx the time (%.1f vs %.1f ns/op, %+.1f ns/op; CPU time: %.2fx)",
			 1 / speed, a->sum.med, b->sum.med, diff, 1 / cpu_speed);
	else if (d->kind == GOAL_SPEED)
		snprintf(g->detail, sizeof g->detail,
			 "%.2fx (%.1f vs %.1f ns/op, %+.1f ns/op; CPU time: %.2fx, %+.1f ns/op)",
			 speed, a->sum.med, b->sum.med, diff, cpu_speed, cpu_diff);
	else
		snprintf(g->detail, sizeof g->detail,
			 "%+.1f ns/op (%.1f vs %.1f ns/op, %.2fx; CPU time: %+.1f ns/op, %.2fx)",
			 diff, a->sum.med, b->sum.med, speed, cpu_diff, cpu_speed);
}

/* GOAL_NO_ALLOCS: the worst allocations per op of one row over every case it ran in. */
static void goal_allocs(const struct bcase *cs, unsigned ncs, const struct goal_def *d,
			struct goal *g)
{
	double worst = -1;
	const char *where = "";
	uint64_t where_n = 0;
	bool counted = true;
	for (unsigned i = 0; i < ncs; i++)
		for (unsigned j = 0; j < cs[i].nrows; j++) {
			const struct row *r = &cs[i].rows[j];
			if (strcmp(r->name, d->row) || !row_ok(r))
				continue;
			counted &= r->sum.allocs >= 0;
			if (r->sum.allocs > worst) {
				worst = r->sum.allocs;
				where = cs[i].title;
				where_n = cs[i].n;
			}
		}
	if (worst < 0 || !counted) {
		g->status = "not measured";
		snprintf(g->detail, sizeof g->detail,
			 worst < 0 && counted ? "no run of %s"
					      : "allocation counting not built (sanitizer build)",
			 d->row);
		return;
	}
	g->measured = true;
	g->value = worst;
	g->status = worst <= d->target ? "met" : "NOT MET";
	snprintf(g->detail, sizeof g->detail,
		 "worst %.2g allocs/op: %.0f in a run of %llu ops (%s)", worst,
		 worst * (double)where_n, (unsigned long long)where_n, where);
}

unsigned goals_check(const struct bcase *cs, unsigned n, struct goal *out, unsigned max)
{
	unsigned k = 0;
	for (unsigned i = 0; i < NGOAL_DEFS && k < max; i++, k++) {
		const struct goal_def *d = &goal_defs[i];
		struct goal *g = &out[k];
		*g = (struct goal){.name = d->name, .workload = d->workload, .param = d->param,
				   .row = d->row, .against = d->against, .target = d->target,
				   .value = NAN, .cpu_value = NAN};
		g->measure = d->kind == GOAL_SPEED	   ? "speed ratio"
			     : d->kind == GOAL_WITHIN_NS ? "ns/op slower"
			     : d->kind == GOAL_WITHIN_X	 ? "time ratio"
							 : "allocations per op, worst workload";
		g->cmp = d->kind == GOAL_SPEED ? ">=" : "<=";
		if (d->kind == GOAL_NO_ALLOCS)
			goal_allocs(cs, n, d, g);
		else
			goal_cmp(cs, n, d, g);
	}
	return k;
}

void goals_print(FILE *f, const struct goal *g, unsigned n, bool quick)
{
	fprintf(f, "\nGoals (judged on wall-clock medians; a speed ratio is the other row's ns/op\n"
		   "divided by this row's; the CPU-time ratio beside it is steadier when the\n"
		   "machine is shared)\n");
	if (quick)
		fprintf(f, "  (--quick: small counts, e.g. 50,000 timers instead of 1,000,000; "
			   "these verdicts\n"
			   "   are indicative only, the goals are judged on a full run)\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "  [%-12s] %-60s %s\n", g[i].status, g[i].name, g[i].detail);
}

void goals_json(FILE *f, const struct goal *g, unsigned n)
{
	fprintf(f, "[");
	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "%s\n    {\"goal\": ", i ? "," : "");
		json_str(f, g[i].name);
		fprintf(f, ", \"status\": ");
		json_str(f, g[i].status);
		fprintf(f, ",\n     \"workload\": ");
		json_str(f, g[i].workload);
		fprintf(f, ", \"param\": ");
		json_num(f, g[i].param, 0, g[i].workload != NULL);
		fprintf(f, ", \"row\": ");
		json_str(f, g[i].row);
		fprintf(f, ", \"against\": ");
		json_str(f, g[i].against);
		fprintf(f, ",\n     \"measure\": ");
		json_str(f, g[i].measure);
		fprintf(f, ", \"cmp\": ");
		json_str(f, g[i].cmp);
		fprintf(f, ", \"target\": ");
		json_num(f, g[i].target, 3, true);
		fprintf(f, ", \"value\": ");
		json_num(f, g[i].value, 4, g[i].measured);
		fprintf(f, ", \"cpu_value\": ");
		json_num(f, g[i].cpu_value, 4, g[i].measured);
		fprintf(f, ",\n     \"detail\": ");
		json_str(f, g[i].detail);
		fprintf(f, "}");
	}
	fprintf(f, "\n  ]");
}
