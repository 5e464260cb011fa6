/* SPDX-License-Identifier: MIT */
/* cport-bench: the SVG chart: speed against each workload's reference, min-max whiskers, legend. */

/*
 * Map
 *   1. Scale: a log axis from 0.05x to 10x, bars growing from 1.0x (the reference)
 *   2. Header: title, the run's metadata, how to read the chart, the legend
 *   3. Axes and grid, drawn under the bars
 *   4. One group per case: a bar per row, its min-max whisker and its figures
 *
 * A bar is the median ratio (reference median ns/op / row median ns/op), so right of
 * the 1.0x line is faster than the reference and left is slower; a log axis keeps 0.5x
 * as far from 1.0x as 2x is, and fits 0.05x (a pool round trip against a page-cache
 * read) beside 7x. The whisker spans the ratios of the row's fastest and slowest runs
 * against the reference's median. Values off the axis are clipped, with an arrow head,
 * and the figures to the right are always exact.
 */

#include "harness.h"

#include <math.h>
#include <string.h>

/* ---- 1. Scale --------------------------------------------------------------------- */

#define W 960
#define PLOT_X0 170.0 /* left edge of the axis; row names to its left */
#define PLOT_W 520.0
#define TEXT_X 700.0  /* the figures, right of the axis */
#define ROW_H 16.0
#define CASE_TITLE_H 20.0
#define CASE_GAP 8.0
#define HEADER_H 172.0
#define FOOTER_H 44.0
#define BAND "#f1f4f7" /* every other case's background */
#define AXIS_LO 0.05
#define AXIS_HI 10.0

static const double ticks[] = {0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};
#define NTICKS (sizeof ticks / sizeof *ticks)

/* Clamped to the axis; *clipped says on which side (-1 left, 1 right) if it was. */
static double xpos(double ratio, int *clipped)
{
	int c = ratio < AXIS_LO ? -1 : ratio > AXIS_HI ? 1 : 0;
	if (clipped)
		*clipped = c;
	double v = c < 0 ? AXIS_LO : c > 0 ? AXIS_HI : ratio;
	return PLOT_X0 + PLOT_W * log(v / AXIS_LO) / log(AXIS_HI / AXIS_LO);
}

/* Text content with XML's special characters escaped. */
static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static void text(FILE *f, double x, double y, const char *attrs, const char *s)
{
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\"%s%s>", x, y, attrs[0] ? " " : "", attrs);
	esc(f, s);
	fputs("</text>\n", f);
}

static double case_height(const struct bcase *c)
{
	return CASE_TITLE_H + c->nrows * ROW_H + CASE_GAP;
}

/* ---- 2. Header -------------------------------------------------------------------- */

static void header(FILE *f, const struct meta *m)
{
	char line[600], date[40] = "date unknown";
	struct tm tm;
	if (m->start && gmtime_r(&m->start, &tm))
		strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
	text(f, 10, 22, "font-size=\"15\" font-weight=\"bold\"",
	     "cport-bench: each row's speed relative to its workload's reference");
	snprintf(line, sizeof line,
		 "%s, commit %.12s%s, cport %s, %s build (%s); %s %s %s, %s, %ld CPUs", date,
		 m->git_commit, m->git_dirty > 0 ? "+changes" : "",
		 m->cport_version ? m->cport_version : "?", m->buildtype ? m->buildtype : "?",
		 m->compiler ? m->compiler : "?",
		 m->have_uts ? m->uts.sysname : "", m->have_uts ? m->uts.release : "",
		 m->have_uts ? m->uts.machine : "", m->cpu_model[0] ? m->cpu_model : "CPU unknown",
		 m->cpus_online);
	text(f, 10, 40, "fill=\"#444\"", line);
	snprintf(line, sizeof line, "liburing %s, libuv %s; %s run, %u run%s per row",
		 m->liburing_version ? m->liburing_version : "unknown",
		 m->libuv_version ? m->libuv_version : "not built in",
		 m->quick ? "--quick" : "full", m->repeat, m->repeat == 1 ? "" : "s");
	text(f, 10, 55, "fill=\"#444\"", line);
	text(f, 10, 72, "",
	     "Bar: median ratio = reference's median ns/op / row's median ns/op (log scale; right "
	     "of 1.0x is faster). Whisker: the row's fastest to slowest run.");
}

/* Every kind of row that appears in the run, and the whisker. */
static void legend(FILE *f, const struct bcase *cs, unsigned n, unsigned repeat)
{
	double x = 10, y = 86;
	unsigned shown = 0;
	for (unsigned k = 0; k < NROW_KINDS; k++) {
		bool used = false;
		for (unsigned i = 0; i < n && !used; i++)
			for (unsigned j = 0; j < cs[i].nrows && !used; j++)
				used = !strcmp(cs[i].rows[j].name, row_kinds[k].row);
		if (!used)
			continue;
		double ix = x + (shown % 4) * 235.0, iy = y + (shown / 4) * 16.0;
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"%s\"/>\n",
			ix, iy, row_kinds[k].colour);
		text(f, ix + 19, iy + 9, "", row_kinds[k].legend);
		shown++;
	}
	double wy = y + ((shown + 3) / 4) * 16.0 + 5;
	fprintf(f, "<path d=\"M10 %.1fh24M10 %.1fv8M34 %.1fv8\" stroke=\"#222\" "
		   "stroke-width=\"1.3\"/>\n", wy, wy - 4, wy - 4);
	char line[120];
	snprintf(line, sizeof line,
		 "min-max over the %u run%s of a row, against the reference's median", repeat,
		 repeat == 1 ? "" : "s");
	text(f, 40, wy + 4, "", line);
}

/* ---- 3. Axes and grid ------------------------------------------------------------- */

static void tick_label(char *buf, size_t n, double t)
{
	snprintf(buf, n, t < 1 ? "%.2gx" : "%.0fx", t);
}

static void axis_labels(FILE *f, double y)
{
	char lab[16];
	for (unsigned i = 0; i < NTICKS; i++) {
		tick_label(lab, sizeof lab, ticks[i]);
		text(f, xpos(ticks[i], NULL), y, "text-anchor=\"middle\" fill=\"#333\"", lab);
	}
}

static void axes(FILE *f, double top, double bottom)
{
	double one = xpos(1, NULL);
	text(f, one - 8, top - 22, "text-anchor=\"end\" font-weight=\"bold\"",
	     "\xe2\x86\x90 slower than the reference");
	text(f, one + 8, top - 22, "font-weight=\"bold\"", "faster \xe2\x86\x92");
	axis_labels(f, top - 6);
	text(f, TEXT_X + 40, top - 6, "text-anchor=\"end\" fill=\"#333\"", "ratio");
	text(f, TEXT_X + 130, top - 6, "text-anchor=\"end\" fill=\"#333\"", "median");
	text(f, TEXT_X + 138, top - 6, "fill=\"#333\"", "[fastest-slowest]");
	axis_labels(f, bottom + 14);
	text(f, PLOT_X0 + PLOT_W / 2, bottom + 30, "text-anchor=\"middle\" fill=\"#333\"",
	     "speed relative to the workload's reference (reference ns/op / row ns/op), log scale");
	for (unsigned i = 0; i < NTICKS; i++) {
		double x = xpos(ticks[i], NULL);
		bool is_one = ticks[i] == 1;
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"%s/>\n",
			x, top, x, bottom, is_one ? "#333" : "#ddd",
			is_one ? " stroke-width=\"1.2\"" : "");
	}
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
		   "stroke=\"#999\"/>\n", PLOT_X0, top, PLOT_W, bottom - top);
}

/* ---- 4. Cases and rows ------------------------------------------------------------ */

/* An arrow head at the axis' edge for a bar that runs off it. */
static void clip_mark(FILE *f, int side, double y)
{
	double x = side < 0 ? PLOT_X0 : PLOT_X0 + PLOT_W;
	fprintf(f, "<path d=\"M%.1f %.1fl%d -5v10z\" fill=\"#222\"/>\n", x, y, side < 0 ? 7 : -7);
}

static void whisker(FILE *f, const struct row *r, double yc)
{
	const struct summary *s = &r->sum;
	double lo = s->ratio * s->med / s->max, hi = s->ratio * s->med / s->min;
	double x0 = xpos(lo, NULL), x1 = xpos(hi, NULL);
	fprintf(f, "<path d=\"M%.1f %.1fH%.1fM%.1f %.1fv8M%.1f %.1fv8\" stroke=\"#222\" "
		   "stroke-width=\"1.3\"/>\n", x0, yc, x1, x0, yc - 4, x1, yc - 4);
}

/* Three columns right of the axis: ratio, median ns/op, [fastest-slowest run]. */
static void figures(FILE *f, const struct row *r, double y)
{
	const struct summary *s = &r->sum;
	char buf[64], a[16], b[16];
	const char *bold = r->is_ref ? " font-weight=\"bold\"" : "";
	snprintf(buf, sizeof buf, "%sx", fmt_ratio(a, sizeof a, s->ratio));
	fprintf(f, "<g%s>\n", bold);
	text(f, TEXT_X + 40, y, "text-anchor=\"end\"", buf);
	snprintf(buf, sizeof buf, "%s ns/op", fmt_ns(a, sizeof a, s->med));
	text(f, TEXT_X + 130, y, "text-anchor=\"end\"", buf);
	snprintf(buf, sizeof buf, "[%s-%s]", fmt_ns(a, sizeof a, s->min),
		 fmt_ns(b, sizeof b, s->max));
	text(f, TEXT_X + 138, y, "", buf);
	fputs("</g>\n", f);
}

static void row(FILE *f, const struct row *r, double y)
{
	text(f, PLOT_X0 - 8, y + 12, "text-anchor=\"end\"", r->name);
	char line[200];
	if (r->absent || r->failed || r->sum.ratio <= 0) {
		snprintf(line, sizeof line, "%s%s",
			 r->absent ? "absent: " : r->failed ? "FAILED: " : "",
			 r->absent   ? r->absent
			 : r->failed ? r->why
				     : "no reference to compare with");
		text(f, PLOT_X0 + 6, y + 12,
		     r->failed ? "fill=\"#c00\"" : "fill=\"#888\" font-style=\"italic\"", line);
		return;
	}
	const struct row_kind *k = row_kind_of(r->name);
	const char *colour = k ? k->colour : "#777";
	int clipped;
	double one = xpos(1, NULL), x = xpos(r->sum.ratio, &clipped), yc = y + ROW_H / 2;
	if (fabs(x - one) < 2) /* the reference itself, or as fast: a visible mark */
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"4\" height=\"10\" fill=\"%s\"/>\n",
			one - 2, yc - 5, colour);
	else
		fprintf(f,
			"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"10\" fill=\"%s\"/>\n",
			x < one ? x : one, yc - 5, fabs(x - one), colour);
	if (clipped)
		clip_mark(f, clipped, yc);
	whisker(f, r, yc);
	figures(f, r, y + 12);
}

/* The case's title on a strip of its band, so the grid does not run through the text. */
static void case_group(FILE *f, const struct bcase *c, double y, const char *band)
{
	const char *ref = "none";
	for (unsigned i = 0; i < c->nrows; i++)
		if (c->rows[i].is_ref)
			ref = row_kind_of(c->rows[i].name) ? row_kind_of(c->rows[i].name)->legend
							   : c->rows[i].name;
	fprintf(f, "<rect x=\"0\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"/>\n", y + 2,
		W, CASE_TITLE_H - 3, band);
	fprintf(f, "<text x=\"10\" y=\"%.1f\"><tspan font-weight=\"bold\">", y + 14);
	esc(f, c->title);
	fputs("</tspan><tspan dx=\"10\" fill=\"#555\">one op = ", f);
	esc(f, c->op);
	fputs("; reference: ", f);
	esc(f, ref);
	fputs("</tspan></text>\n", f);
	for (unsigned i = 0; i < c->nrows; i++)
		row(f, &c->rows[i], y + CASE_TITLE_H + i * ROW_H);
}

int write_svg(const char *path, const struct meta *m, const struct bcase *cs, unsigned n)
{
	double plot_h = 0;
	for (unsigned i = 0; i < n; i++)
		plot_h += case_height(&cs[i]);
	double height = HEADER_H + plot_h + FOOTER_H;
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return -1;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
		   "viewBox=\"0 0 %d %.0f\" font-family=\"DejaVu Sans, Verdana, sans-serif\" "
		   "font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		   W, height, W, height);
	header(f, m);
	legend(f, cs, n, m->repeat);
	double y = HEADER_H;
	for (unsigned i = 0; i < n; y += case_height(&cs[i]), i++)
		if (i % 2)
			fprintf(f,
				"<rect x=\"0\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" "
				"fill=\"%s\"/>\n",
				y, W, case_height(&cs[i]), BAND);
	axes(f, HEADER_H, HEADER_H + plot_h);
	y = HEADER_H;
	for (unsigned i = 0; i < n; y += case_height(&cs[i]), i++)
		case_group(f, &cs[i], y, i % 2 ? BAND : "white");
	fprintf(f, "</svg>\n");
	return fclose(f) == 0 ? 0 : -1;
}
