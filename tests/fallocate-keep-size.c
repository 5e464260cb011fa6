/* SPDX-License-Identifier: MIT */
/* cport_fallocate with CPORT_FALLOC_KEEP_SIZE: blocks reserved, file size unchanged. */

#include "helpers.h"

static void keep_size(void **state)
{
	(void)state;
	t_sim_skip("the simulation does not count allocated blocks");
	cport *port = t_port();
	cport_fd fd = t_file(4096);
	cport_op op = {0};
	assert_int_equal(cport_fallocate(port, &op, fd, CPORT_FALLOC_KEEP_SIZE, 0, 2 << 20), 0);
	int64_t r = t_run(port, &op);
	if (r == CPORT_ENOTSUP) {
		t_close(fd);
		cport_destroy(port);
		/* Wine 8.0: neither FileAllocationInformation nor NtSetInformationFile. */
		t_skip("fallocate with CPORT_FALLOC_KEEP_SIZE is not supported on this system");
	}
	assert_int_equal(r, 0);
	assert_int_equal(t_fsize(fd), 4096); /* size kept */
	assert_true(t_falloc_bytes(fd) >= 2 << 20);
	/* The reserved range reads as the old bytes then nothing: EOF is still 4096. */
	char buf[8192];
	assert_int_equal(cport_read(port, &op, fd, buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &op), 4096);
	t_close(fd);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keep_size),
	};
	return T_MAIN("fallocate-keep-size", tests);
}
