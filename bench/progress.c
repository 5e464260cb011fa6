/* SPDX-License-Identifier: MIT */
/* cport-bench: progress on stderr: one line per run, or one line rewritten in place on a TTY. */

/*
 * A full run is silent on stdout for a minute at a time (a case's table is printed when
 * its last run ends), so every run announces itself on stderr before it starts: the
 * case, the row, run i of n and the seconds since the start. When stderr is a terminal
 * the line is rewritten in place (and erased before anything else is printed);
 * otherwise each announcement is a plain line, which is what a CI log or `2>file` wants.
 */

#include "harness.h"

#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static struct {
	double t0;         /* now_ns() at progress_start */
	bool tty;          /* stderr is a terminal: one line, rewritten */
	bool shown;        /* a rewritten line is on screen */
	unsigned started;  /* runs started so far */
	unsigned planned;  /* runs planned (failed rows stop early, so started may end below) */
} prog;

void progress_start(void)
{
	prog.t0 = now_ns();
	prog.tty = isatty(STDERR_FILENO);
}

void progress_plan(unsigned runs)
{
	prog.planned = runs;
	prog.started = 0;
}

double progress_elapsed_s(void)
{
	return (now_ns() - prog.t0) / 1e9;
}

/* A line wider than the terminal would wrap, and "\r" only returns to its last part. */
static size_t tty_width(void)
{
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col - 1u;
	return 79;
}

static void emit(const char *text)
{
	char line[320];
	snprintf(line, sizeof line, "[%6.1f s] %s", progress_elapsed_s(), text);
	if (!prog.tty) {
		fprintf(stderr, "%s\n", line);
		return;
	}
	size_t w = tty_width();
	if (strlen(line) > w)
		line[w] = '\0';
	fprintf(stderr, "\r\033[K%s", line);
	prog.shown = true;
}

void progress_note(const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	emit(text);
}

void progress_run(const struct bcase *c, unsigned ci, unsigned nc, const struct row *r,
		  unsigned rep, unsigned repeat)
{
	char text[256];
	prog.started++;
	snprintf(text, sizeof text, "%s: %s run %u/%u (case %u/%u, %u/%u runs)", c->title, r->name,
		 rep + 1, repeat, ci + 1, nc, prog.started, prog.planned);
	emit(text);
}

/* Before other output: it would be printed over the end of a rewritten line. */
void progress_clear(void)
{
	if (prog.shown) {
		fputs("\r\033[K", stderr);
		prog.shown = false;
	}
}

void progress_end(void)
{
	progress_clear();
	progress_note("done: %u runs", prog.started);
	if (prog.tty)
		fputc('\n', stderr);
	prog.shown = false;
}
