/* SPDX-License-Identifier: MIT */
/* Fault injection through the library's system-call table (lib/unix.h), for tests. */
#ifndef CPORT_TEST_FAULT_H
#define CPORT_TEST_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * tf_install() puts a wrapper in front of each data and descriptor call of the table;
 * each wrapper, on each call, draws from a seeded schedule whether to inject a fault
 * of one of the enabled classes that fits the call (docs/testing.md, "Fault
 * injection"), and counts what it injected:
 *   TF_ENOMEM     -1/ENOMEM, nothing done (every wrapped call but close and the waits);
 *   TF_EINTR      -1/EINTR, nothing done; a connect starts first (EINTR on a
 *                 non-blocking connect leaves it going on), a close closes first (Linux
 *                 frees the descriptor whatever close returns);
 *   TF_EAGAIN     -1/EAGAIN, nothing done (the byte calls and accept4);
 *   TF_SHORT      the real call asked for fewer bytes, at least one (the byte calls,
 *                 when asked for two or more);
 *   TF_ECONNRESET -1/ECONNRESET, nothing done (recv, send, recvmsg, sendmsg);
 *   TF_EIO        -1/EIO (file reads and writes, fsync and fdatasync, nothing done;
 *                 close, after closing).
 * Only Linux runs it (the table exists on every Unix, the tests' world is Linux's).
 */
enum tf_class { TF_ENOMEM, TF_EINTR, TF_EAGAIN, TF_SHORT, TF_ECONNRESET, TF_EIO, TF_CLASSES };

#define TF_ALL ((1u << TF_CLASSES) - 1)

const char *tf_name(enum tf_class c);
/* The errno a class injects (0 for TF_SHORT). */
int tf_errno(enum tf_class c);

/* Replace the table's entries by the wrappers (no fault enabled yet) / restore them.
 * Only while no port exists: the pool's workers read the table without a lock. */
void tf_install(void);
void tf_uninstall(void);
/* Inject the classes in `mask` into about `per_mille` of the calls that one of them
 * fits, drawn from `seed`. A mask of 0 stops injecting. Safe while ports run. */
void tf_set(unsigned mask, unsigned per_mille, uint64_t seed);
/* Faults injected per class since tf_install (or tf_reset). */
uint64_t tf_count(enum tf_class c);
void tf_reset(void);

/* Called after each real send, sendmsg, write or writev on a socket or pipe moved
 * bytes, once per contiguous piece it moved: the test's mirror of what really went
 * out. NULL: nobody listens. Set while no port runs. */
extern void (*tf_on_sent)(int fd, const void *p, size_t n);

/* A test's end: injection off, *port destroyed (if any) and set to NULL, the table
 * restored. For a cmocka teardown, which also runs after a failed test. */
struct cport;
void tf_end(struct cport **port);

/* Elsewhere than Linux: run file `name` as one test that skips, with the reason. */
int tf_not_here(const char *name);

#endif
