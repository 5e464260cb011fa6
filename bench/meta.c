/* SPDX-License-Identifier: MIT */
/* cport-bench: what ran where and how: date, commit, versions, kernel, CPU and options. */

/*
 * Versions come from where they are known: cport's and liburing's from the build (Meson
 * passes them as -D defines; liburing.h's IO_URING_VERSION_* macros win when the header
 * has them, 2.4 and later), the commit (HEAD's hash, and whether tracked files had
 * changes) from git at build time (bench-vcs.h, made by vcs_tag), libuv's from the
 * library loaded (uv_version_string), the kernel's from uname(2), the CPU's from
 * /proc/cpuinfo. Whatever cannot be found is written as null, never guessed.
 */

#include "harness.h"

#include "bench-vcs.h"

#include <liburing.h>
#include <string.h>
#include <unistd.h>

#ifndef BENCH_CPORT_VERSION
#define BENCH_CPORT_VERSION "unknown"
#endif
#ifndef BENCH_LIBURING_VERSION
#define BENCH_LIBURING_VERSION "unknown"
#endif
#ifndef BENCH_COMPILER
#define BENCH_COMPILER "unknown"
#endif
#ifndef BENCH_BUILDTYPE
#define BENCH_BUILDTYPE "unknown"
#endif

static const char *known(const char *s)
{
	return s && s[0] && strcmp(s, "unknown") ? s : NULL;
}

static void liburing_version(struct meta *m)
{
#if defined(IO_URING_VERSION_MAJOR) && defined(IO_URING_VERSION_MINOR)
	static char v[24];
	snprintf(v, sizeof v, "%d.%d", IO_URING_VERSION_MAJOR, IO_URING_VERSION_MINOR);
	m->liburing_version = v;
	m->liburing_from = "liburing.h";
#else
	m->liburing_version = known(BENCH_LIBURING_VERSION);
	m->liburing_from = m->liburing_version ? "pkg-config" : NULL;
#endif
}

/* "<hash>" or "<hash>-dirty" from bench-vcs.h, or "unknown". */
static void git_commit(struct meta *m)
{
	static char hash[80];
	snprintf(hash, sizeof hash, "%s", BENCH_GIT_DESCRIBE);
	size_t n = strlen(hash), d = strlen("-dirty");
	m->git_dirty = -1;
	if (strcmp(hash, "unknown") && hash[0]) {
		m->git_dirty = n > d && !strcmp(hash + n - d, "-dirty");
		if (m->git_dirty)
			hash[n - d] = '\0';
	}
	m->git_commit = hash[0] ? hash : "unknown";
}

/* The first "model name" of /proc/cpuinfo, and how many "processor" entries it lists. */
static void cpu_info(struct meta *m)
{
	m->cpu_model[0] = '\0';
	m->cpu_count = -1;
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[512];
	long n = 0;
	while (fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		if (!strncmp(line, "processor", 9)) {
			n++;
		} else if (!strncmp(line, "model name", 10) && !m->cpu_model[0]) {
			char *v = colon + 1 + strspn(colon + 1, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(m->cpu_model, sizeof m->cpu_model, "%s", v);
		}
	}
	fclose(f);
	m->cpu_count = n > 0 ? n : -1;
}

void meta_collect(struct meta *m)
{
	m->start = time(NULL);
	git_commit(m);
	m->cport_version = known(BENCH_CPORT_VERSION);
	m->compiler = known(BENCH_COMPILER);
	m->buildtype = known(BENCH_BUILDTYPE);
	liburing_version(m);
	m->libuv_version = peer_uv_version();
	m->have_uts = uname(&m->uts) == 0;
	cpu_info(m);
	m->cpus_online = sysconf(_SC_NPROCESSORS_ONLN);
	m->alloc_counting = alloc_count() >= 0;
}

void meta_finish(struct meta *m, double duration_s)
{
	m->end = time(NULL);
	m->duration_s = duration_s;
}

/* ISO 8601, UTC, to the second: "2026-11-25T03:30:12Z". */
static const char *iso_utc(char *buf, size_t n, time_t t)
{
	struct tm tm;
	if (t == 0 || !gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
	return buf;
}

static const char *or_unknown(const char *s)
{
	return s ? s : "unknown";
}

void meta_print(FILE *f, const struct meta *m)
{
	char date[32];
	fprintf(f, "Run: %s, cport %s (commit %s%s), %s build, %s\n",
		or_unknown(iso_utc(date, sizeof date, m->start)), or_unknown(m->cport_version),
		m->git_commit, m->git_dirty > 0 ? " with local changes" : "",
		or_unknown(m->buildtype), or_unknown(m->compiler));
	fprintf(f, "Machine: %s %s %s, %s, %ld CPUs (%ld online)\n",
		m->have_uts ? m->uts.sysname : "unknown", m->have_uts ? m->uts.release : "",
		m->have_uts ? m->uts.machine : "", m->cpu_model[0] ? m->cpu_model : "CPU unknown",
		m->cpu_count, m->cpus_online);
	fprintf(f, "Libraries: liburing %s, libuv %s\n", or_unknown(m->liburing_version),
		m->libuv_version ? m->libuv_version : "not built in");
}

/* "params": {"nop": {"batch": [1, 32, 128]}, ...}: the parameters each workload ran at. */
static void json_params(FILE *f, const struct bcase *cs, unsigned n)
{
	fprintf(f, "{");
	bool first = true;
	for (unsigned i = 0; i < n; i++) {
		if (!cs[i].pname || (i > 0 && !strcmp(cs[i].workload, cs[i - 1].workload)))
			continue;
		fprintf(f, "%s", first ? "" : ", ");
		first = false;
		json_str(f, cs[i].workload);
		fprintf(f, ": {");
		json_str(f, cs[i].pname);
		fprintf(f, ": [");
		for (unsigned j = i; j < n && !strcmp(cs[j].workload, cs[i].workload); j++)
			fprintf(f, "%s%u", j > i ? ", " : "", cs[j].param);
		fprintf(f, "]}");
	}
	fprintf(f, "}");
}

static void json_options(FILE *f, const struct meta *m, const struct bcase *cs, unsigned n)
{
	fprintf(f, "{\"mode\": \"%s\", \"runs_per_row\": %u, \"backend\": ",
		m->quick ? "quick" : "full", m->repeat);
	json_str(f, m->backend);
	fprintf(f, ", \"workload_filter\": ");
	json_str(f, m->workloads);
	fprintf(f, ", \"only\": ");
	json_str(f, m->only);
	fprintf(f, ",\n      \"workloads\": [");
	for (unsigned i = 0, k = 0; i < n; i++)
		if (i == 0 || strcmp(cs[i].workload, cs[i - 1].workload)) {
			fprintf(f, "%s", k++ ? ", " : "");
			json_str(f, cs[i].workload);
		}
	fprintf(f, "],\n      \"params\": ");
	json_params(f, cs, n);
	fprintf(f, ",\n      \"ops_per_run\": {");
	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, cs[i].title);
		fprintf(f, ": %llu", (unsigned long long)cs[i].n);
	}
	fprintf(f, "},\n      \"dir\": ");
	json_str(f, m->dir);
	fprintf(f, ", \"data_file_bytes\": %llu, \"timeout_s\": %u, \"allocation_counting\": %s}",
		(unsigned long long)m->data_file_bytes, m->timeout_s,
		m->alloc_counting ? "true" : "false");
}

void meta_json(FILE *f, const struct meta *m, const struct bcase *cs, unsigned n)
{
	char date[32];
	fprintf(f, "{\"tool\": \"cport-bench\", \"date\": ");
	json_str(f, iso_utc(date, sizeof date, m->start));
	fprintf(f, ", \"finished\": ");
	json_str(f, iso_utc(date, sizeof date, m->end));
	fprintf(f, ", \"duration_s\": ");
	json_num(f, m->duration_s, 1, m->end != 0);
	fprintf(f, ",\n    \"git_commit\": ");
	json_str(f, m->git_commit);
	fprintf(f, ", \"git_dirty\": %s, \"cport_version\": ",
		m->git_dirty < 0 ? "null" : m->git_dirty ? "true" : "false");
	json_str(f, m->cport_version);
	fprintf(f, ",\n    \"build\": {\"type\": ");
	json_str(f, m->buildtype);
	fprintf(f, ", \"compiler\": ");
	json_str(f, m->compiler);
	fprintf(f, "},\n    \"kernel\": {\"sysname\": ");
	json_str(f, m->have_uts ? m->uts.sysname : NULL);
	fprintf(f, ", \"release\": ");
	json_str(f, m->have_uts ? m->uts.release : NULL);
	fprintf(f, ", \"version\": ");
	json_str(f, m->have_uts ? m->uts.version : NULL);
	fprintf(f, ", \"machine\": ");
	json_str(f, m->have_uts ? m->uts.machine : NULL);
	fprintf(f, "},\n    \"cpu\": {\"model\": ");
	json_str(f, m->cpu_model[0] ? m->cpu_model : NULL);
	fprintf(f, ", \"count\": ");
	json_num(f, (double)m->cpu_count, 0, m->cpu_count > 0);
	fprintf(f, ", \"online\": ");
	json_num(f, (double)m->cpus_online, 0, m->cpus_online > 0);
	fprintf(f, "},\n    \"liburing_version\": ");
	json_str(f, m->liburing_version);
	fprintf(f, ", \"liburing_version_from\": ");
	json_str(f, m->liburing_from);
	fprintf(f, ", \"libuv_version\": ");
	json_str(f, m->libuv_version);
	fprintf(f, ",\n    \"options\": ");
	json_options(f, m, cs, n);
	fprintf(f, "}");
}
