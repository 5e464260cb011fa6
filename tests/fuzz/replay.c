/* SPDX-License-Identifier: MIT */
/* Replays fuzz inputs (files, or every file of directories) through the fuzz target. */

/*
 * The ordinary suite's way to run the fuzz target: built with any compiler, no
 * libFuzzer needed. tests/fuzz/meson.build runs it once per backend on the committed
 * seed corpus and on every input kept in tests/fuzz/regressions/. An input that breaks
 * the contract aborts (the test fails, with the violation printed); exit 77 when the
 * backend cannot start on this machine.
 */

#include "fuzz.h"

#include "cport.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static unsigned replayed;

static void replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	printf("replay %s (%zu bytes)\n", path, n);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, n);
	replayed++;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of `dir`, in name order (a run is the same each time). */
static void replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		perror(dir);
		exit(1);
	}
	char *names[4096];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < sizeof names / sizeof *names)
		if (e->d_name[0] != '.' && strncmp(e->d_name, "README", 6) != 0)
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			replay_file(path);
		free(names[i]);
	}
}

int main(int argc, char **argv)
{
	int r = fz_setup();
	if (r != 0) /* skipped where the machine refuses the backend, else a failure */
		return r == CPORT_EPERM || r == CPORT_EACCES || r == CPORT_ENOSYS ? 77 : 1;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			replay_dir(argv[i]);
		else
			replay_file(argv[i]);
	}
	printf("%u inputs replayed without a contract violation\n", replayed);
	return 0;
}
