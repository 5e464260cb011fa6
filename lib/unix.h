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

/* A receive's msghdr, in the cport_msg's scratch space (internal_): the sender into
 * msg->addr (when it is not NULL), the bytes into `iov`. */
struct msghdr;
struct iovec;
struct msghdr *cport__unix_msg_recv(cport_msg *m, struct iovec *iov, size_t iovcnt);
/* After that receive: the sender's length, and CPORT_MSG_TRUNC in msg->flags. */
void cport__unix_msg_received(cport_msg *m);

#endif /* CPORT_UNIX_H */
