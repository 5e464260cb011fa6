/* SPDX-License-Identifier: MIT */
/* cport_symlink and cport_readlink: a link's text, whole or refused, and readdir's DT_LNK. */

/*
 * A file of its own because Windows may refuse symbolic links (no privilege, no developer
 * mode) and Wine 8 makes none (its CreateSymbolicLinkW is a stub): the test then skips
 * with the reason.
 */

#include "helpers.h"

#include <stdio.h>
#include <string.h>

static int64_t make_link(cport *port, const char *target, const char *path, uint32_t flags)
{
	cport_op op = {0};
	assert_int_equal(cport_symlink(port, &op, target, path, flags), 0);
	return t_run(port, &op);
}

static void symlink_readlink(void **state)
{
	(void)state;
	t_sim_skip("symbolic links are not simulated");
	cport *port = t_port();
	char target[300], link[300], buf[64];
	t_path(target, sizeof target, "sl-target");
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, target, CPORT_O_WRONLY | CPORT_O_CREAT, 0600), 0);
	int64_t fd = t_run(port, &op);
	assert_true(fd >= 0);
	assert_int_equal(t_pwrite((cport_fd)fd, "hello", 5, 0), 5);
	t_close((cport_fd)fd);
	t_path(link, sizeof link, "sl-link");
	int64_t r = make_link(port, "sl-target", link, 0);
	if (r == CPORT_ENOTSUP || (t_is_windows() && r == CPORT_EPERM)) {
		cport_destroy(port);
		t_skip("no symbolic links here: %s", cport_err_name(r));
	}
	assert_int_equal(r, 0);
	memset(buf, 0xcc, sizeof buf);
	assert_int_equal(cport_readlink(port, &op, link, buf, sizeof buf), 0);
	assert_int_equal(t_run(port, &op), 9);
	assert_string_equal(buf, "sl-target");
	/* Opening the link follows it. */
	assert_int_equal(cport_open(port, &op, link, CPORT_O_RDONLY, 0), 0);
	fd = t_run(port, &op);
	assert_true(fd >= 0);
	char got[8] = {0};
	assert_int_equal(t_pread((cport_fd)fd, got, 5, 0), 5);
	assert_string_equal(got, "hello");
	t_close((cport_fd)fd);
	/* Exactly the text's length is no room for its NUL: refused, nothing written. */
	memset(buf, 0xcc, sizeof buf);
	assert_int_equal(cport_readlink(port, &op, link, buf, 9), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOBUFS);
	for (unsigned i = 0; i < sizeof buf; i++)
		assert_int_equal((uint8_t)buf[i], 0xcc);
	assert_int_equal(cport_readlink(port, &op, link, buf, 10), 0);
	assert_int_equal(t_run(port, &op), 9);
	assert_string_equal(buf, "sl-target");
	/* Not a link; missing; a link that exists already. */
	assert_int_equal(cport_readlink(port, &op, target, buf, sizeof buf), 0);
	assert_int_equal(t_run(port, &op), CPORT_EINVAL);
	t_path(target, sizeof target, "sl-missing");
	assert_int_equal(cport_readlink(port, &op, target, buf, sizeof buf), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	assert_int_equal(make_link(port, "other", link, 0), CPORT_EEXIST);
	cport_destroy(port);
}

/* A link to nothing is made all the same; following it finds nothing. */
static void dangling(void **state)
{
	(void)state;
	t_sim_skip("symbolic links are not simulated");
	cport *port = t_port();
	char link[300], buf[64];
	t_path(link, sizeof link, "sl-dangling");
	int64_t r = make_link(port, "nowhere", link, 0);
	if (r == CPORT_ENOTSUP || (t_is_windows() && r == CPORT_EPERM)) {
		cport_destroy(port);
		t_skip("no symbolic links here: %s", cport_err_name(r));
	}
	assert_int_equal(r, 0);
	cport_op op = {0};
	assert_int_equal(cport_readlink(port, &op, link, buf, sizeof buf), 0);
	assert_int_equal(t_run(port, &op), 7);
	assert_string_equal(buf, "nowhere");
	cport_statbuf st;
	assert_int_equal(cport_stat(port, &op, link, &st), 0);
	assert_int_equal(t_run(port, &op), CPORT_ENOENT);
	cport_destroy(port);
}

/* readdir names a symbolic link's type (a directory link with CPORT_SYMLINK_DIR). */
static void readdir_type(void **state)
{
	(void)state;
	t_sim_skip("symbolic links are not simulated");
	cport *port = t_port();
	char dir[300], link[400];
	t_path(dir, sizeof dir, "sl-dir");
	cport_op op = {0};
	assert_int_equal(cport_mkdir(port, &op, dir, 0755), 0);
	assert_int_equal(t_run(port, &op), 0);
	snprintf(link, sizeof link, "%s/to-parent", dir);
	int64_t r = make_link(port, "..", link, CPORT_SYMLINK_DIR);
	if (r == CPORT_ENOTSUP || (t_is_windows() && r == CPORT_EPERM)) {
		cport_destroy(port);
		t_skip("no symbolic links here: %s", cport_err_name(r));
	}
	assert_int_equal(r, 0);
	assert_int_equal(cport_open(port, &op, dir, CPORT_O_RDONLY | CPORT_O_DIRECTORY, 0), 0);
	int64_t d = t_run(port, &op);
	assert_true(d >= 0);
	uint64_t buf[CPORT_READDIR_MIN / 8];
	unsigned links = 0;
	for (;;) {
		assert_int_equal(cport_readdir(port, &op, (cport_fd)d, buf, sizeof buf, 0), 0);
		int64_t n = t_run(port, &op);
		assert_true(n >= 0);
		if (n == 0)
			break;
		for (int64_t at = 0; at < n;) {
			const cport_dirent *e = (const cport_dirent *)(const void *)((char *)buf + at);
			if (strcmp((const char *)(e + 1), "to-parent") == 0) {
				assert_true(e->type == CPORT_DT_LNK || e->type == CPORT_DT_UNKNOWN);
				links++;
			}
			at += e->reclen;
		}
	}
	assert_int_equal(links, 1);
	assert_int_equal(cport_close(port, &op, (cport_fd)d), 0);
	assert_int_equal(t_run(port, &op), 0);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(symlink_readlink),
		cmocka_unit_test(dangling),
		cmocka_unit_test(readdir_type),
	};
	return T_MAIN("symlink", tests);
}
