/* SPDX-License-Identifier: MIT */
/* Medians and spreads of each row, the per-case tables, the summary table and the JSON file. */

#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Okabe-Ito colours, which stay apart for the common kinds of colour blindness; the
 * references in greys. */
const struct row_kind row_kinds[NROW_KINDS] = {
	{"cport io_uring", "io_uring", "cport io_uring", "#0072b2"},
	{"cport io_uring+pool", "io_uring+pool", "cport io_uring, files on its thread pool",
	 "#56b4e9"},
	{"cport io_uring+fixed", "io_uring+fixed", "cport io_uring, reads into registered buffers",
	 "#f0e442"},
	{"cport io_uring+zc", "io_uring+zc", "cport io_uring, zero-copy sends forced",
	 "#2a4d8f"},
	{"cport io_uring+nozc", "io_uring+nozc", "cport io_uring, zero-copy sends forbidden",
	 "#8fb3d9"},
	{"cport io_uring+recvpool", "io_uring+rpool", "cport io_uring, pool receives (multishot)",
	 "#00395e"},
	{"cport epoll", "epoll", "cport epoll", "#009e73"},
	{"cport epoll+recvpool", "epoll+rpool", "cport epoll, pool receives", "#00614a"},
	{"cport poll", "poll", "cport poll", "#cc79a7"},
	{"cport poll+recvpool", "poll+rpool", "cport poll, pool receives", "#8a4a73"},
	{"ref liburing", "raw liburing", "raw liburing loop (limit)", "#505050"},
	{"ref epoll", "raw epoll", "raw epoll loop (limit)", "#a0a0a0"},
	{"peer libuv", "libuv", "libuv (peer)", "#e69f00"},
	{"peer blocking", "blocking", "blocking system calls (peer)", "#d55e00"},
};

const struct row_kind *row_kind_of(const char *row)
{
	for (unsigned i = 0; i < NROW_KINDS; i++)
		if (!strcmp(row_kinds[i].row, row))
			return &row_kinds[i];
	return NULL;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void summarize_row(struct row *r)
{
	double per[MAX_REPEAT], cpu[MAX_REPEAT], p50[MAX_REPEAT], p99[MAX_REPEAT];
	unsigned n = 0;
	struct summary *s = &r->sum;
	*s = (struct summary){.allocs = 0};
	for (unsigned i = 0; i < r->nsamples; i++) {
		const struct sample *x = &r->samples[i];
		if (x->maxrss_kb > s->rss_kb)
			s->rss_kb = x->maxrss_kb;
		if (x->err < 0 || x->ops == 0)
			continue;
		per[n] = x->wall_ns / (double)x->ops;
		cpu[n] = x->cpu_ns / (double)x->ops;
		p50[n] = x->p50_ns;
		p99[n] = x->p99_ns;
		double a = x->allocs < 0 ? -1 : (double)x->allocs / (double)x->ops;
		if (a < 0 || s->allocs < 0)
			s->allocs = -1;
		else if (a > s->allocs)
			s->allocs = a;
		n++;
	}
	if (n == 0)
		return;
	s->med = median(per, n);
	s->min = per[0];
	s->max = per[n - 1];
	s->cpu = median(cpu, n);
	s->ops_s = 1e9 / s->med;
	s->p50 = median(p50, n);
	s->p99 = median(p99, n);
}

bool row_ok(const struct row *r)
{
	return r && !r->absent && !r->failed && r->nsamples > 0;
}

void summarize(struct bcase *c)
{
	const struct row *ref = NULL;
	for (unsigned i = 0; i < c->nrows; i++) {
		summarize_row(&c->rows[i]);
		if (c->rows[i].is_ref && !c->rows[i].failed && c->rows[i].nsamples)
			ref = &c->rows[i];
	}
	for (unsigned i = 0; ref && i < c->nrows; i++)
		if (c->rows[i].sum.med > 0)
			c->rows[i].sum.ratio = ref->sum.med / c->rows[i].sum.med;
}

/* 1234567 -> "1.23M" */
static const char *si(char *buf, size_t n, double v)
{
	if (v >= 1e6)
		snprintf(buf, n, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, n, "%.1fk", v / 1e3);
	else
		snprintf(buf, n, "%.0f", v);
	return buf;
}

static void print_row(FILE *f, const struct row *r)
{
	const struct summary *s = &r->sum;
	char ops[16], al[16] = "n/a", lat[32] = "-", ratio[16] = "-";
	if (s->allocs >= 0)
		snprintf(al, sizeof al, "%.2g", s->allocs);
	if (s->p50 > 0)
		snprintf(lat, sizeof lat, "%.1f / %.1f", s->p50 / 1e3, s->p99 / 1e3);
	if (s->ratio > 0)
		snprintf(ratio, sizeof ratio, "%.2fx", s->ratio);
	fprintf(f, "  %-23s %10.1f [%9.1f - %9.1f] %8s %10.1f %9s %8.1f %14s %7s\n", r->name,
		s->med, s->min, s->max, si(ops, sizeof ops, s->ops_s), s->cpu, al,
		(double)s->rss_kb / 1024, lat, ratio);
}

void print_case(FILE *f, const struct bcase *c, unsigned repeat)
{
	(void)repeat;
	fprintf(f, "  %-23s %10s [%9s - %9s] %8s %10s %9s %8s %14s %7s\n", "row", "ns/op",
		"min", "max", "ops/s", "cpu ns/op", "allocs/op", "RSS MiB", "p50/p99 us",
		"vs ref");
	for (unsigned i = 0; i < c->nrows; i++) {
		const struct row *r = &c->rows[i];
		if (r->absent)
			fprintf(f, "  %-23s absent: %s\n", r->name, r->absent);
		else if (r->failed)
			fprintf(f, "  %-23s FAILED: %s\n", r->name, r->why);
		else
			print_row(f, r);
	}
	for (unsigned i = 0; i < c->nrows; i++)
		if (c->rows[i].is_ref)
			fprintf(f, "  (vs ref = %s ns/op / row ns/op: above 1.00x is faster)\n",
				c->rows[i].name);
}

const struct row *find_row(const struct bcase *cs, unsigned n, const char *workload,
			   unsigned param, const char *row)
{
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(cs[i].workload, workload) || cs[i].param != param)
			continue;
		for (unsigned j = 0; j < cs[i].nrows; j++)
			if (!strcmp(cs[i].rows[j].name, row))
				return &cs[i].rows[j];
	}
	return NULL;
}

/* tcp-echo with idle connections against without: the cost of idle descriptors. */
void print_idle_growth(FILE *f, const struct bcase *cs, unsigned n)
{
	const struct bcase *busy = NULL, *idle = NULL;
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(cs[i].workload, "tcp-echo"))
			*(cs[i].param ? &idle : &busy) = &cs[i];
	if (!busy || !idle)
		return;
	fprintf(f, "\nIdle connections: tcp-echo with %u idle / with none (1.00 = no growth; CPU\n"
		   "time per op is the steadier figure on a shared machine)\n", idle->param);
	fprintf(f, "  %-23s %28s %28s\n", "row", "wall ns/op", "CPU ns/op");
	for (unsigned j = 0; j < idle->nrows && j < busy->nrows; j++) {
		const struct row *a = &idle->rows[j], *b = &busy->rows[j];
		if (row_ok(a) && row_ok(b))
			fprintf(f, "  %-23s %8.0f / %8.0f = %5.2f %8.0f / %8.0f = %5.2f\n", a->name,
				a->sum.med, b->sum.med, a->sum.med / b->sum.med, a->sum.cpu,
				b->sum.cpu, a->sum.cpu / b->sum.cpu);
	}
}

/* mt-echo and mt-uneven: per backend, the three servers' ns/op and what the shared port
 * gains on one thread, on sharding, and against Asio's two threads. */
void print_mt(FILE *f, const struct bcase *cs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const struct bcase *c = &cs[i];
		if (strncmp(c->workload, "mt-", 3) != 0)
			continue;
		const struct row *asio = NULL;
		for (unsigned j = 0; j < c->nrows; j++)
			if (!strcmp(c->rows[j].name, "peer asio 2t") && row_ok(&c->rows[j]))
				asio = &c->rows[j];
		fprintf(f, "\n%s: wall ns/op of each server; speed of the shared port against the others\n",
			c->title);
		fprintf(f, "  %-9s %10s %10s %10s %12s %12s %12s\n", "backend", "1 thread",
			"shared 2t", "2 ports", "vs 1 thread", "vs 2 ports", "vs asio 2t");
		for (unsigned j = 0; j + 2 < c->nrows; j += 3) {
			const struct row *one = &c->rows[j], *sh = &c->rows[j + 1], *sd = &c->rows[j + 2];
			if (one->job.mt != MT_ONE || !row_ok(one) || !row_ok(sh) || !row_ok(sd))
				continue;
			fprintf(f, "  %-9s %10.0f %10.0f %10.0f %11.2fx %11.2fx", one->job.backend,
				one->sum.med, sh->sum.med, sd->sum.med, one->sum.med / sh->sum.med,
				sd->sum.med / sh->sum.med);
			if (asio)
				fprintf(f, " %11.2fx\n", asio->sum.med / sh->sum.med);
			else
				fprintf(f, " %12s\n", "-");
		}
	}
}

/* ---- Summary: one line per case, one column per kind of row --------------------- */

/* ns/op in at most 4 digits: 82.3, 1278, 13.0k, 230k, 1.23M */
const char *fmt_ns(char *buf, size_t n, double v)
{
	if (v < 100)
		snprintf(buf, n, "%.1f", v);
	else if (v < 1e4)
		snprintf(buf, n, "%.0f", v);
	else if (v < 1e5)
		snprintf(buf, n, "%.1fk", v / 1e3);
	else if (v < 1e6)
		snprintf(buf, n, "%.0fk", v / 1e3);
	else
		snprintf(buf, n, "%.2fM", v / 1e6);
	return buf;
}

/* A ratio in 2-3 significant digits: 0.006, 0.51, 5.23, 12.4 */
const char *fmt_ratio(char *buf, size_t n, double v)
{
	snprintf(buf, n, v < 0.1 ? "%.3f" : v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f", v);
	return buf;
}

/* The cell of a row kind in a case: its ratio to the reference, or why there is none. */
static const char *summary_cell(char *buf, size_t n, const struct bcase *c,
				const struct row_kind *k)
{
	const struct row *r = NULL;
	for (unsigned i = 0; i < c->nrows && !r; i++)
		if (!strcmp(c->rows[i].name, k->row))
			r = &c->rows[i];
	if (!r)
		return "-";
	if (r->absent)
		return "absent";
	if (r->failed)
		return "FAILED";
	if (r->is_ref)
		return "ref";
	if (r->sum.ratio <= 0)
		return "no ref";
	return fmt_ratio(buf, n, r->sum.ratio);
}

static void summary_reference(char *buf, size_t n, const struct bcase *c)
{
	snprintf(buf, n, "none");
	for (unsigned i = 0; i < c->nrows; i++) {
		const struct row *r = &c->rows[i];
		if (!r->is_ref)
			continue;
		const struct row_kind *k = row_kind_of(r->name);
		const char *name = k && strncmp(r->name, "cport", 5) ? k->label : r->name;
		char ns[16];
		if (row_ok(r) || r->sum.med > 0)
			snprintf(buf, n, "%s, %s ns/op", name, fmt_ns(ns, sizeof ns, r->sum.med));
		else
			snprintf(buf, n, "%s (%s)", name, r->absent ? "absent" : "FAILED");
	}
}

/* Rows = cases, columns = every kind of row, whatever ran: a --quick run and a full run
 * print the same shape. */
void print_summary(FILE *f, const struct bcase *cs, unsigned n, unsigned repeat, bool quick)
{
	fprintf(f, "\nSummary: speed relative to each workload's reference, medians of %u run%s\n",
		repeat, repeat == 1 ? "" : "s");
	fprintf(f, "(reference ns/op / row ns/op: 1.00 = as fast, 2.00 = twice as fast, 0.50 = "
		   "half)\n");
	if (quick)
		fprintf(f, "(--quick: small counts; the same rows and columns as a full run)\n");
	int w[NROW_KINDS], tw = 20; /* the workload column fits the longest title */
	for (unsigned i = 0; i < n; i++)
		if ((int)strlen(cs[i].title) > tw)
			tw = (int)strlen(cs[i].title);
	fprintf(f, "%-*s", tw, "workload");
	for (unsigned k = 0; k < NROW_KINDS; k++) {
		w[k] = (int)strlen(row_kinds[k].label);
		w[k] = w[k] < 6 ? 6 : w[k];
		fprintf(f, "  %*s", w[k], row_kinds[k].label);
	}
	fprintf(f, "  reference\n");
	for (unsigned i = 0; i < n; i++) {
		char cell[16], ref[64];
		fprintf(f, "%-*s", tw, cs[i].title);
		for (unsigned k = 0; k < NROW_KINDS; k++)
			fprintf(f, "  %*s", w[k],
				summary_cell(cell, sizeof cell, &cs[i], &row_kinds[k]));
		summary_reference(ref, sizeof ref, &cs[i]);
		fprintf(f, "  %s\n", ref);
	}
	fputs("ref: the reference itself; -: no such row in this workload, or not selected;\n"
	      "absent: not built or not available here; FAILED: a run failed (see its table)\n",
	      f);
}

/* ---- JSON ------------------------------------------------------------------------- */

void json_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	fputc('"', f);
}

void json_num(FILE *f, double v, int decimals, bool known)
{
	if (known && isfinite(v))
		fprintf(f, "%.*f", decimals, v);
	else
		fputs("null", f);
}

static void json_run(FILE *f, const struct sample *x)
{
	bool ok = x->err == 0 && x->ops > 0;
	fprintf(f, "{\"wall_ns\": ");
	json_num(f, x->wall_ns, 0, ok);
	fprintf(f, ", \"cpu_ns\": ");
	json_num(f, x->cpu_ns, 0, ok);
	fprintf(f, ", \"ops\": ");
	json_num(f, (double)x->ops, 0, ok);
	fprintf(f, ", \"allocs\": ");
	json_num(f, (double)x->allocs, 0, ok && x->allocs >= 0);
	fprintf(f, ", \"p50_ns\": ");
	json_num(f, x->p50_ns, 1, ok && x->p50_ns > 0);
	fprintf(f, ", \"p99_ns\": ");
	json_num(f, x->p99_ns, 1, ok && x->p99_ns > 0);
	fprintf(f, ", \"peak_rss_kib\": ");
	json_num(f, (double)x->maxrss_kb, 0, x->maxrss_kb > 0);
	fprintf(f, ", \"err\": %d, \"error\": ", x->err);
	json_str(f, x->err < 0 ? x->msg : NULL);
	fprintf(f, "}");
}

/* Every figure of a row; one not measured (absent row, latency not timed, allocations not
 * counted, no reference) is null. */
static void json_row(FILE *f, const struct row *r)
{
	const struct summary *s = &r->sum;
	bool ran = s->med > 0;
	fprintf(f, "        {\"row\": ");
	json_str(f, r->name);
	fprintf(f, ", \"reference\": %s, \"status\": ", r->is_ref ? "true" : "false");
	json_str(f, r->absent ? "absent" : r->failed ? "failed" : "ok");
	fprintf(f, ", \"why\": ");
	json_str(f, r->absent ? r->absent : r->failed ? r->why : NULL);
	fprintf(f, ",\n         \"ns_per_op\": {\"median\": ");
	json_num(f, s->med, 3, ran);
	fprintf(f, ", \"min\": ");
	json_num(f, s->min, 3, ran);
	fprintf(f, ", \"max\": ");
	json_num(f, s->max, 3, ran);
	fprintf(f, "}, \"ops_per_s\": ");
	json_num(f, s->ops_s, 1, ran);
	fprintf(f, ", \"cpu_ns_per_op\": ");
	json_num(f, s->cpu, 3, ran);
	fprintf(f, ", \"allocs_per_op\": ");
	json_num(f, s->allocs, 6, ran && s->allocs >= 0);
	fprintf(f, ",\n         \"peak_rss_kib\": ");
	json_num(f, (double)s->rss_kb, 0, s->rss_kb > 0);
	fprintf(f, ", \"p50_ns\": ");
	json_num(f, s->p50, 1, ran && s->p50 > 0);
	fprintf(f, ", \"p99_ns\": ");
	json_num(f, s->p99, 1, ran && s->p99 > 0);
	fprintf(f, ", \"ratio_to_reference\": ");
	json_num(f, s->ratio, 4, s->ratio > 0);
	fprintf(f, ",\n         \"runs\": [");
	for (unsigned i = 0; i < r->nsamples; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_run(f, &r->samples[i]);
	}
	fprintf(f, "]}");
}

static const char *reference_name(const struct bcase *c)
{
	for (unsigned i = 0; i < c->nrows; i++)
		if (c->rows[i].is_ref)
			return c->rows[i].name;
	return NULL;
}

static void json_case(FILE *f, const struct bcase *c)
{
	fprintf(f, "    {\"workload\": ");
	json_str(f, c->workload);
	fprintf(f, ", \"title\": ");
	json_str(f, c->title);
	fprintf(f, ", \"param_name\": ");
	json_str(f, c->pname);
	fprintf(f, ", \"param\": ");
	json_num(f, c->param, 0, c->pname != NULL);
	fprintf(f, ", \"ops_per_run\": %llu,\n      \"op\": ", (unsigned long long)c->n);
	json_str(f, c->op);
	fprintf(f, ", \"reference\": ");
	json_str(f, reference_name(c));
	fprintf(f, ",\n      \"rows\": [\n");
	for (unsigned j = 0; j < c->nrows; j++) {
		json_row(f, &c->rows[j]);
		fprintf(f, "%s\n", j + 1 < c->nrows ? "," : "");
	}
	fprintf(f, "      ]}");
}

/* The JSON file: schema_version, meta, calibration, cases (rows, runs), goals. */
int write_json(const char *path, const struct meta *m, const struct bcase *cs, unsigned n,
	       const char *calib_json, const struct goal *goals, unsigned ngoals)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return -1;
	}
	fprintf(f, "{\n  \"schema_version\": 2,\n  \"meta\": ");
	meta_json(f, m, cs, n);
	fprintf(f, ",\n  \"calibration\": %s,\n  \"cases\": [", calib_json);
	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "%s\n", i ? "," : "");
		json_case(f, &cs[i]);
	}
	fprintf(f, "\n  ],\n  \"goals\": ");
	goals_json(f, goals, ngoals);
	fprintf(f, "\n}\n");
	return fclose(f) == 0 ? 0 : -1;
}
