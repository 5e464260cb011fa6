/* SPDX-License-Identifier: MIT */
/* wal.c built with -DWAL_EMBED: the hooks through which a test harness runs it in-process. */
#ifndef WAL_EMBED_H
#define WAL_EMBED_H

/*
 * wal-sim-test.c runs the example's own code, unchanged in what it does, many times in
 * one process on the simulation backend (cport.h section 8). A run of "the program" is
 * a call of wal_main(argc, argv), with the arguments of the command line. What would
 * leave the process goes to the harness instead, which defines these functions:
 *
 *   wal_embed_profile   the cport_sim_profile for the port wal_main creates
 *   wal_embed_started   the port, once created (the harness destroys it when the
 *                       "process" dies: what was in flight never happens)
 *   wal_embed_recovered the line "recovered last=L bytes=B cut=C"
 *   wal_embed_acked     the line "ack FIRST LAST" (records FIRST..LAST are durable)
 *   wal_embed_checked   the line "checked last=L bytes=B tail=T wrong=W"
 *   wal_embed_io_error  the error that is about to stop the program (status 2), and
 *                       what failed
 *   wal_embed_stopping  the port, just before a run that ends normally destroys it
 *   wal_embed_exit      exit(status): must not return (the harness longjmps back)
 *   wal_embed_waited    called after every cport_wait that returned: the harness may
 *                       end the process there (longjmp), as a kill -9 would
 *   wal_embed_err       where wal.c's messages go instead of stderr
 *
 * Memory: a process that dies gives its memory back. wal.c's malloc, calloc and free
 * go through the harness, which frees what a dead run still held.
 */
#include <cport.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

const cport_sim_profile *wal_embed_profile(void);
void wal_embed_started(cport *port);
void wal_embed_recovered(uint64_t last, uint64_t bytes, uint64_t cut);
void wal_embed_acked(uint64_t first, uint64_t last);
void wal_embed_checked(uint64_t last, uint64_t bytes, uint64_t tail, uint64_t wrong);
void wal_embed_io_error(const char *what, int64_t err);
void wal_embed_stopping(cport *port);
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noreturn))
#endif
void wal_embed_exit(int status);
void wal_embed_waited(void);
FILE *wal_embed_err(void);
void *wal_embed_malloc(size_t n);
void *wal_embed_calloc(size_t n, size_t size);
void wal_embed_free(void *p);
int wal_main(int argc, char **argv);

#ifdef WAL_EMBED /* inside wal.c */
#define main wal_main
#define wal_err wal_embed_err()
#define WAL_EXIT(status) wal_embed_exit(status)
#define WAL_WAITED() wal_embed_waited()
#define malloc(n) wal_embed_malloc(n)
#define calloc(n, size) wal_embed_calloc(n, size)
#define free(p) wal_embed_free(p)
#endif

#endif /* WAL_EMBED_H */
