/* SPDX-License-Identifier: MIT */
/*
 * Defect (sim, found by the fuzz target): a write of zero bytes past the end of a file
 * extended the file to its offset, and one to an empty file did arithmetic on a NULL
 * buffer (UBSan). A zero-byte write changes nothing, as pwrite(2) does: on every
 * backend, result 0 and the size unchanged, at the end, past it, and vectored.
 */

#include "helpers.h"

#include <stdio.h>
#include <string.h>

static int64_t run(cport *port, cport_op *op, int submitted)
{
	assert_int_equal(submitted, 0);
	return t_run(port, op);
}

static void zero_writes_change_nothing(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	if (strcmp(cport_backend_name(port), "sim") == 0)
		snprintf(path, sizeof path, "zero-write"); /* on the simulation's disk */
	else
		t_path(path, sizeof path, "zero-write");
	cport_op op = {0};
	int64_t fd = run(port, &op, cport_open(port, &op, path, CPORT_O_RDWR | CPORT_O_CREAT, 0644));
	assert_true(fd >= 0);
	cport_iovec none[2] = {{NULL, 0}, {NULL, 0}};
	assert_int_equal(run(port, &op, cport_write(port, &op, (cport_fd)fd, "", 0, 0)), 0);
	assert_int_equal(run(port, &op, cport_write(port, &op, (cport_fd)fd, "", 0, 771)), 0);
	assert_int_equal(run(port, &op, cport_writev(port, &op, (cport_fd)fd, none, 2, 4096)), 0);
	cport_statbuf st;
	assert_int_equal(run(port, &op, cport_fstat(port, &op, (cport_fd)fd, &st)), 0);
	assert_int_equal(st.size, 0);
	char b[16];
	assert_int_equal(run(port, &op, cport_read(port, &op, (cport_fd)fd, b, sizeof b, 0)), 0);
	assert_int_equal(run(port, &op, cport_close(port, &op, (cport_fd)fd)), 0);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(zero_writes_change_nothing),
	};
	return t_main("regress-zero-write-no-extend", tests, sizeof tests / sizeof *tests);
}
