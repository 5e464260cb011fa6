/* SPDX-License-Identifier: MIT */
/* cport_addr: parse, format and inspect socket addresses, the same code on every OS. */

#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#endif

/* Room for "%scope" after an IPv6 address: an interface name or a number. */
#ifdef IF_NAMESIZE
#define ADDR_SCOPE_MAX (IF_NAMESIZE + 2)
#else
#define ADDR_SCOPE_MAX 16
#endif

/* Windows: WinSock must be started before its address functions are used. */
static int addr_os_init(void)
{
#ifdef _WIN32
	return cport__wsa_init();
#else
	return 0;
#endif
}

/* Parse a decimal port after the host part: ":0".."65535", nothing after it. */
static int addr_parse_port(const char *p, uint16_t *port)
{
	if (*p != ':' || !p[1])
		return CPORT_EINVAL;
	unsigned long v = 0;
	for (p++; *p; p++) {
		if (*p < '0' || *p > '9' || v > 65535)
			return CPORT_EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return CPORT_EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* "%scope" of an IPv6 address: an interface name (Unix) or number. */
static int addr_parse_scope(const char *pct, struct sockaddr_in6 *sa)
{
#ifndef _WIN32
	sa->sin6_scope_id = if_nametoindex(pct);
	if (sa->sin6_scope_id != 0)
		return 0;
#endif
	char *e;
	unsigned long v = strtoul(pct, &e, 10);
	if (*e || !*pct || v > UINT32_MAX)
		return -1;
	sa->sin6_scope_id = (uint32_t)v;
	return 0;
}

static int addr_parse6(cport_addr *out, const char *text)
{
	const char *end = strchr(text, ']');
	char host[INET6_ADDRSTRLEN + ADDR_SCOPE_MAX];
	size_t n = end ? (size_t)(end - text - 1) : 0;
	if (!end || n == 0 || n >= sizeof host)
		return CPORT_EINVAL;
	memcpy(host, text + 1, n);
	host[n] = '\0';
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	char *pct = strchr(host, '%');
	if (pct) {
		*pct++ = '\0';
		if (addr_parse_scope(pct, &sa))
			return CPORT_EINVAL;
	}
	uint16_t port;
	if (inet_pton(AF_INET6, host, &sa.sin6_addr) != 1 || addr_parse_port(end + 1, &port))
		return CPORT_EINVAL;
	sa.sin6_port = htons(port);
	memset(out, 0, sizeof *out);
	memcpy(out->storage, &sa, sizeof sa);
	out->len = sizeof sa;
	return 0;
}

int cport_addr_parse(cport_addr *out, const char *text)
{
	if (!out || !text || addr_os_init() < 0)
		return CPORT_EINVAL;
	if (text[0] == '[')
		return addr_parse6(out, text);
	const char *colon = strrchr(text, ':');
	char host[INET_ADDRSTRLEN];
	size_t n = colon ? (size_t)(colon - text) : 0;
	if (!colon || n == 0 || n >= sizeof host)
		return CPORT_EINVAL;
	memcpy(host, text, n);
	host[n] = '\0';
	struct sockaddr_in sa = {.sin_family = AF_INET};
	uint16_t port;
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || addr_parse_port(colon, &port))
		return CPORT_EINVAL;
	sa.sin_port = htons(port);
	memset(out, 0, sizeof *out);
	memcpy(out->storage, &sa, sizeof sa);
	out->len = sizeof sa;
	return 0;
}

/* The sockaddr family in a cport_addr, AF_UNSPEC if it holds none. */
int cport__addr_sa_family(const cport_addr *a)
{
	if (!a || a->len < sizeof(((struct sockaddr *)0)->sa_family) ||
	    a->len > sizeof a->storage)
		return AF_UNSPEC;
	return ((const struct sockaddr *)(const void *)a->storage)->sa_family;
}

int cport_addr_family(const cport_addr *a)
{
	switch (cport__addr_sa_family(a)) {
	case AF_INET: return CPORT_AF_INET;
	case AF_INET6: return CPORT_AF_INET6;
#ifndef _WIN32
	case AF_UNIX: return CPORT_AF_LOCAL;
#endif
	default: return CPORT_AF_UNSPEC;
	}
}

int cport_addr_port(const cport_addr *a)
{
	int fam = cport__addr_sa_family(a);
	if (fam == AF_INET && a->len >= sizeof(struct sockaddr_in))
		return ntohs(((const struct sockaddr_in *)(const void *)a->storage)->sin_port);
	if (fam == AF_INET6 && a->len >= sizeof(struct sockaddr_in6))
		return ntohs(((const struct sockaddr_in6 *)(const void *)a->storage)->sin6_port);
	return CPORT_EINVAL;
}

int cport_addr_format(const cport_addr *a, char *buf, size_t n)
{
	if (!buf || n == 0 || addr_os_init() < 0)
		return CPORT_EINVAL;
	char host[INET6_ADDRSTRLEN];
	int fam = cport__addr_sa_family(a), len;
	const void *sa = a ? (const void *)a->storage : NULL;
	if (fam == AF_INET && a->len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		len = snprintf(buf, n, "%s:%u", host, ntohs(s4->sin_port));
	} else if (fam == AF_INET6 && a->len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		if (s6->sin6_scope_id)
			len = snprintf(buf, n, "[%s%%%lu]:%u", host,
				       (unsigned long)s6->sin6_scope_id, ntohs(s6->sin6_port));
		else
			len = snprintf(buf, n, "[%s]:%u", host, ntohs(s6->sin6_port));
#ifndef _WIN32
	} else if (fam == AF_UNIX) {
		const struct sockaddr_un *su = sa;
		size_t plen = a->len - offsetof(struct sockaddr_un, sun_path);
		len = snprintf(buf, n, "%.*s", (int)strnlen(su->sun_path, plen), su->sun_path);
#endif
	} else { /* on Windows local streams are named pipes: they have no address */
		return CPORT_EINVAL;
	}
	if (len < 0 || (size_t)len >= n) {
		buf[0] = '\0';
		return CPORT_ENOSPC;
	}
	return len;
}

/* ---- The simulation's view of addresses (lib/backend/sim.c) ---------------------- */

int cport__addr_ip_get(const cport_addr *a, struct cport__addr_ip *ip)
{
	int fam = cport__addr_sa_family(a);
	memset(ip, 0, sizeof *ip);
	if (fam == AF_INET && a->len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const void *)a->storage;
		ip->fam = CPORT_AF_INET;
		ip->port = ntohs(s4->sin_port);
		memcpy(ip->ip, &s4->sin_addr, 4);
		return 0;
	}
	if (fam == AF_INET6 && a->len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const void *)a->storage;
		ip->fam = CPORT_AF_INET6;
		ip->port = ntohs(s6->sin6_port);
		memcpy(ip->ip, &s6->sin6_addr, 16);
		return 0;
	}
	return CPORT_EAFNOSUPPORT;
}

void cport__addr_ip_set(cport_addr *a, const struct cport__addr_ip *ip)
{
	memset(a, 0, sizeof *a);
	if (ip->fam == CPORT_AF_INET) {
		struct sockaddr_in s4;
		memset(&s4, 0, sizeof s4);
		s4.sin_family = AF_INET;
		s4.sin_port = htons(ip->port);
		memcpy(&s4.sin_addr, ip->ip, 4);
		memcpy(a->storage, &s4, sizeof s4);
		a->len = sizeof s4;
	} else if (ip->fam == CPORT_AF_INET6) {
		struct sockaddr_in6 s6;
		memset(&s6, 0, sizeof s6);
		s6.sin6_family = AF_INET6;
		s6.sin6_port = htons(ip->port);
		memcpy(&s6.sin6_addr, ip->ip, 16);
		memcpy(a->storage, &s6, sizeof s6);
		a->len = sizeof s6;
	}
}

void cport__addr_local_set(cport_addr *a, const char *name)
{
	memset(a, 0, sizeof *a);
#ifndef _WIN32
	struct sockaddr_un su;
	memset(&su, 0, sizeof su);
	su.sun_family = AF_UNIX;
	size_t n = strlen(name) < sizeof su.sun_path - 1 ? strlen(name) : sizeof su.sun_path - 1;
	memcpy(su.sun_path, name, n);
	memcpy(a->storage, &su, sizeof su);
	a->len = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
#else
	(void)name; /* a named pipe has no address */
#endif
}
