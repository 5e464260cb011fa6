/* SPDX-License-Identifier: MIT */
/*
 * The socket helpers of cport.h section 6, in front of the OS's (unix.c, win.c): while
 * a sim port exists they make the simulation's sockets instead, and the helpers that
 * take a descriptor act on the simulation's own descriptors wherever they are called
 * (cport.h section 8, "Sockets with addresses").
 */
#include "internal.h"

#ifdef CPORT_HAVE_SIM
#define SIM_NET(call)                   \
	do {                            \
		if (cport__sim_net())   \
			return (call);  \
	} while (0)
#define SIM_FD(fd, call)                \
	do {                            \
		if (cport__sim_fd(fd))  \
			return (call);  \
	} while (0)
#else
#define SIM_NET(call) ((void)0)
#define SIM_FD(fd, call) ((void)0)
#endif

int cport_tcp_listen(cport_fd *fd, const cport_addr *addr, int backlog, uint32_t flags)
{
	SIM_NET(cport__sim_tcp_listen(fd, addr, backlog, flags));
	return cport__os_tcp_listen(fd, addr, backlog, flags);
}

int cport_tcp_socket(cport_fd *fd, int family)
{
	SIM_NET(cport__sim_tcp_socket(fd, family));
	return cport__os_tcp_socket(fd, family);
}

int cport_udp_socket(cport_fd *fd, const cport_addr *addr, uint32_t flags)
{
	SIM_NET(cport__sim_udp_socket(fd, addr, flags));
	return cport__os_udp_socket(fd, addr, flags);
}

int cport_local_listen(cport_fd *fd, const char *name, int backlog)
{
	SIM_NET(cport__sim_local_listen(fd, name, backlog));
	return cport__os_local_listen(fd, name, backlog);
}

int cport_local_connect(cport_fd *fd, const char *name)
{
	SIM_NET(cport__sim_local_connect(fd, name));
	return cport__os_local_connect(fd, name);
}

int cport_sock_local(cport_fd fd, cport_addr *addr)
{
	SIM_FD(fd, cport__sim_sock_name(fd, addr, false));
	return cport__os_sock_name(fd, addr, false);
}

int cport_sock_peer(cport_fd fd, cport_addr *addr)
{
	SIM_FD(fd, cport__sim_sock_name(fd, addr, true));
	return cport__os_sock_name(fd, addr, true);
}

int cport_sock_nodelay(cport_fd fd, int on)
{
	SIM_FD(fd, cport__sim_sock_opt(fd)); /* the simulation has no Nagle delay */
	return cport__os_sock_nodelay(fd, on);
}

int cport_sock_keepalive(cport_fd fd, int on, uint32_t idle_s)
{
	SIM_FD(fd, cport__sim_sock_opt(fd)); /* nor idle connections to probe */
	return cport__os_sock_keepalive(fd, on, idle_s);
}

int cport_sock_close(cport_fd fd)
{
	SIM_FD(fd, cport__sim_sock_close(fd));
	return cport__os_sock_close(fd);
}
