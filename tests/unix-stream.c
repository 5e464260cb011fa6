/* SPDX-License-Identifier: MIT */
/* Local streams (AF_UNIX on Unix): listen, connect, accept, echo, EOF, errors. */

#include "helpers.h"

#include <string.h>

static void echo_and_eof(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	t_path(path, sizeof path, "sock");
	cport_fd l, c;
	assert_int_equal(cport_local_listen(&l, path, 0), 0);
	cport_op acc = {0}, op = {0};
	cport_addr peer;
	assert_int_equal(cport_accept(port, &acc, l, &peer, 0), 0);
	assert_int_equal(cport_submit(port), 0);
	assert_int_equal(cport_local_connect(&c, path), 0);
	int64_t s = t_run(port, &acc);
	assert_true(s >= 0);
	assert_int_equal(peer.len, 0); /* unnamed client */
	char buf[32];
	assert_int_equal(cport_send(port, &op, c, "over the wire", 13, 0), 0);
	assert_int_equal(t_run(port, &op), 13);
	assert_int_equal(cport_recv(port, &op, (cport_fd)s, buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &op), 13);
	assert_memory_equal(buf, "over the wire", 13);
	/* and back, with read/write (stream semantics, offset -1) */
	assert_int_equal(cport_write(port, &op, (cport_fd)s, "back", 4, -1), 0);
	assert_int_equal(t_run(port, &op), 4);
	assert_int_equal(cport_read(port, &op, c, buf, sizeof buf, -1), 0);
	assert_int_equal(t_run(port, &op), 4);
	assert_memory_equal(buf, "back", 4);
	/* the client closes: end of stream */
	assert_int_equal(cport_close(port, &op, c), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(cport_recv(port, &op, (cport_fd)s, buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &op), 0);
	t_close((cport_fd)s), t_close(l);
	/* A named pipe leaves no file behind, nor does the simulation's local name. */
	if (!t_is_windows() && !t_sim()) {
		assert_int_equal(cport_unlink(port, &op, path, 0), 0);
		assert_int_equal(t_run(port, &op), 0);
	}
	cport_destroy(port);
}

static void errors(void **state)
{
	(void)state;
	char path[300], longp[400]; /* too long for a path (Unix) and a pipe name (Windows) */
	cport_fd fd;
	t_path(path, sizeof path, "nobody");
	assert_int_equal(cport_local_connect(&fd, path), CPORT_ENOENT);
	memset(longp, 'x', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	assert_int_equal(cport_local_listen(&fd, longp, 0), CPORT_ENAMETOOLONG);
	assert_int_equal(cport_local_listen(&fd, "", 0), CPORT_EINVAL);
	assert_int_equal(cport_local_listen(NULL, path, 0), CPORT_EINVAL);
	/* a name in use */
	cport_fd l;
	t_path(path, sizeof path, "taken");
	assert_int_equal(cport_local_listen(&l, path, 0), 0);
	assert_int_equal(cport_local_listen(&fd, path, 0), CPORT_EADDRINUSE);
	t_close(l);
	if (t_is_windows() || t_sim())
		return; /* no file behind a named pipe or a simulated name: no "nobody
			   listening" case */
	/* nobody listening on an existing socket file */
	assert_int_equal(cport_local_connect(&fd, path), CPORT_ECONNREFUSED);
	assert_int_equal(t_unlink(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(echo_and_eof),
	    cmocka_unit_test(errors),
	};
	return T_MAIN("unix-stream", tests);
}
