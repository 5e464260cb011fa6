/* SPDX-License-Identifier: MIT */
/* Regression (defect 13e): socket helpers given a NULL out or address return CPORT_EINVAL before making a socket. */

/*
 * cport_tcp_listen(NULL, ...) made a listening socket, then wrote its descriptor
 * through the NULL pointer: a crash, and a socket bound to the address that nobody
 * could close. Every helper of cport.h section 6 that takes a pointer is checked here:
 * CPORT_EINVAL, *fd untouched, and nothing left behind (the address is still free; on
 * Unix, no descriptor was taken; no socket file was made for a local listener).
 */

#include "helpers.h"

#include <stdio.h>
#include <string.h>
#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#endif

/* Marks an out argument a failed call must leave alone. */
#define T_UNTOUCHED ((cport_fd)4242)

/* The lowest free descriptor number (Unix), to see that none was taken; -1 on Windows. */
static int lowest_free_fd(void)
{
#ifdef _WIN32
	return -1;
#else
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	return fd;
#endif
}

/* A loopback address with a port that was free a moment ago. */
static void free_addr(cport_addr *a)
{
	cport_fd l = t_listen(a);
	assert_int_equal(cport_sock_close(l), 0);
}

static void tcp_listen_null_out(void **state)
{
	(void)state;
	cport_addr a;
	free_addr(&a);
	int before = lowest_free_fd();
	assert_int_equal(cport_tcp_listen(NULL, &a, 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_tcp_listen(NULL, &a, 16, CPORT_SOCK_REUSEPORT), CPORT_EINVAL);
	assert_int_equal(lowest_free_fd(), before);
	/* No listener was left on the address: it can be taken again. */
	cport_fd fd = T_UNTOUCHED;
	assert_int_equal(cport_tcp_listen(&fd, &a, 0, 0), 0);
	assert_true(fd != T_UNTOUCHED);
	assert_int_equal(cport_sock_close(fd), 0);
}

static void tcp_listen_null_addr(void **state)
{
	(void)state;
	int before = lowest_free_fd();
	cport_fd fd = T_UNTOUCHED;
	assert_int_equal(cport_tcp_listen(&fd, NULL, 0, 0), CPORT_EINVAL);
	assert_int_equal(cport_tcp_listen(NULL, NULL, 0, 0), CPORT_EINVAL);
	assert_true(fd == T_UNTOUCHED);
	assert_int_equal(lowest_free_fd(), before);
}

static void udp_and_tcp_socket_null(void **state)
{
	(void)state;
	cport_addr a;
	assert_int_equal(cport_addr_parse(&a, "127.0.0.1:0"), 0);
	int before = lowest_free_fd();
	cport_fd fd = T_UNTOUCHED;
	assert_int_equal(cport_udp_socket(NULL, &a, 0), CPORT_EINVAL);
	assert_int_equal(cport_udp_socket(&fd, NULL, 0), CPORT_EINVAL);
	assert_int_equal(cport_tcp_socket(NULL, CPORT_AF_INET), CPORT_EINVAL);
	assert_int_equal(cport_tcp_socket(NULL, CPORT_AF_INET6), CPORT_EINVAL);
	assert_true(fd == T_UNTOUCHED);
	assert_int_equal(lowest_free_fd(), before);
}

static void local_null(void **state)
{
	(void)state;
	char name[300];
#ifdef _WIN32
	snprintf(name, sizeof name, "cport-regress-null-%lu", (unsigned long)t_now_ms());
#else
	t_path(name, sizeof name, "sock");
#endif
	int before = lowest_free_fd();
	cport_fd fd = T_UNTOUCHED;
	assert_int_equal(cport_local_listen(NULL, name, 0), CPORT_EINVAL);
	assert_int_equal(cport_local_listen(&fd, NULL, 0), CPORT_EINVAL);
	assert_int_equal(cport_local_connect(NULL, name), CPORT_EINVAL);
	assert_int_equal(cport_local_connect(&fd, NULL), CPORT_EINVAL);
	assert_true(fd == T_UNTOUCHED);
	assert_int_equal(lowest_free_fd(), before);
#ifndef _WIN32
	assert_false(t_exists(name)); /* no socket file was bound */
#endif
	/* And the name is still free for a real listener. */
	assert_int_equal(cport_local_listen(&fd, name, 0), 0);
	assert_int_equal(cport_sock_close(fd), 0);
#ifndef _WIN32
	if (!t_sim()) /* the simulation's local names are not files */
		assert_int_equal(t_unlink(name), 0);
#endif
}

static void sock_names_null(void **state)
{
	(void)state;
	cport_fd p[2];
	t_tcp_pair(p);
	assert_int_equal(cport_sock_local(p[0], NULL), CPORT_EINVAL);
	assert_int_equal(cport_sock_peer(p[0], NULL), CPORT_EINVAL);
	t_close(p[0]);
	t_close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tcp_listen_null_out),
		cmocka_unit_test(tcp_listen_null_addr),
		cmocka_unit_test(udp_and_tcp_socket_null),
		cmocka_unit_test(local_null),
		cmocka_unit_test(sock_names_null),
	};
	return T_MAIN("regress-tcp-listen-null", tests);
}
