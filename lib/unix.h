/* SPDX-License-Identifier: MIT */
/* Unix helpers shared by the Unix backends (lib/unix.c). */
#ifndef CPORT_UNIX_H
#define CPORT_UNIX_H

#include <sys/stat.h>
#include <sys/sysmacros.h>

int cport__unix_open_flags(uint32_t cport_flags);
void cport__unix_fill_stat(cport_statbuf *out, const struct stat *st);
#ifdef STATX_BASIC_STATS
void cport__unix_fill_statx(cport_statbuf *out, const struct statx *stx);
#endif

#endif /* CPORT_UNIX_H */
