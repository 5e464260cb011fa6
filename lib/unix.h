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
#ifdef __linux__
/* cport_fallocate's CPORT_FALLOC_* as fallocate(2)'s mode, cport_rename2's flags as
 * renameat2(2)'s: the thread pool and io_uring alike. */
int cport__unix_falloc_mode(uint32_t cport_flags);
unsigned cport__unix_rename_flags(uint32_t cport_flags);
#endif

#endif /* CPORT_UNIX_H */
