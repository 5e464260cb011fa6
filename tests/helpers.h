/* SPDX-License-Identifier: MIT */
/* Test helpers (t_ prefix): ports on the backend under test, waits, temp files, skips. */
#ifndef CPORT_TEST_HELPERS_H
#define CPORT_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cport.h"

/* The backend under test: $CPORT_BACKEND, set by tests/meson.build per registration. */
const char *t_backend(void);
/* The io_uring-pool variant: io_uring with CPORT_TEST_URING_POOL=1, which sends every op
 * the thread pool can do there. */
bool t_uring_pool(void);

/* A port on the backend under test (strict: a test never runs on a fallback). When the
 * backend cannot start on this machine (t_refused_here), the test is skipped. */
cport *t_port(void);
cport *t_port_depth(uint32_t queue_depth);
/* The same with `pool_threads` thread-pool workers (0: the default). */
cport *t_port_pool(uint32_t queue_depth, uint32_t pool_threads);

/* Is `err`, from cport_create on a backend forced by name, a refusal from outside the
 * project: CPORT_EPERM (a seccomp profile such as Docker's default, or
 * kernel.io_uring_disabled), CPORT_EACCES (the sysctl's group rule) or CPORT_ENOSYS
 * (a kernel without the feature, or a seccomp profile answering ENOSYS)? */
bool t_refused_here(int err);
/* After cport_create failed with `err` (`why`: the reason it wrote, or NULL): skip the
 * current test when t_refused_here(err), else fail it. Never returns. */
void t_create_failed(int err, const char *why);

/* Wait for exactly one completion (fails the test after 10 s) and return it. */
cport_op *t_wait1(cport *port);
/* Wait for `op` itself and return its result; other completions fail the test. */
int64_t t_run(cport *port, cport_op *op);
/* An op full of recognisable bytes and not in flight, to check that a refused submit
 * leaves every byte of it as it was; and that no completion is waiting on `port` (a
 * refused op must never complete). */
void t_dirty_op(cport_op *op);
void t_no_completion(cport *port);
/* Reap until `n` completions arrived or 30 s passed; returns how many arrived. */
unsigned t_reap(cport *port, unsigned n, void (*each)(cport_op *op, void *ctx), void *ctx);

/* A fresh temporary directory for this test process, and a path in it. */
const char *t_dir(void);
void t_path(char *buf, size_t n, const char *name);
/* A temporary file holding `len` bytes of a known pattern (t_pattern); returns its
 * descriptor (on Windows a HANDLE opened for overlapped I/O, as cport_open makes). */
cport_fd t_file(size_t len);
uint8_t t_pattern(uint64_t offset);
/* Fail the test unless `buf` holds the pattern of bytes [off, off + len). */
void t_check_pattern(const uint8_t *buf, size_t len, uint64_t off);

/* Blocking positional I/O and close outside cport, on any descriptor t_file or
 * cport_open returned (on Windows also one associated with a port: no packet is
 * posted for these). Return bytes moved, or -1. On Windows, a handle closed with
 * t_close while its port lives on leaves the port believing a later handle with the
 * same value is associated (see cport.h): use cport_close there, or a new port. */
int64_t t_pread(cport_fd fd, void *buf, size_t n, int64_t offset);
int64_t t_pwrite(cport_fd fd, const void *buf, size_t n, int64_t offset);
void t_close(cport_fd fd);

/* The portable rest of what the tests need from the OS. On Windows a "pipe" is a named
 * pipe pair opened for overlapped I/O (anonymous pipes cannot use a completion port). */
int t_pipe(cport_fd p[2]);                              /* 0, or -1 */
int64_t t_write(cport_fd fd, const void *buf, size_t n); /* stream write; bytes or -1 */
int64_t t_read(cport_fd fd, void *buf, size_t n);        /* stream read; 0 at end */
int64_t t_seek(cport_fd fd, int64_t off, int whence);    /* SEEK_SET/SEEK_CUR; position */
int64_t t_fsize(cport_fd fd);                            /* file size, or -1 */
int64_t t_falloc_bytes(cport_fd fd);                     /* bytes allocated, or -1 */
int t_fd_valid(cport_fd fd);                             /* the descriptor is open */
int t_count_fds(void); /* open descriptors (handles on Windows); skips if unlistable */
int t_exists(const char *path);
int t_unlink(const char *path);                         /* 0, or -1 */
int t_cloexec(cport_fd fd); /* not inherited by child processes (close-on-exec) */
cport_fd t_open_rdonly(const char *path);                /* opened as cport_open does */
void t_sleep_us(unsigned us);                            /* at least `us` microseconds */

/* Record that the current test cannot run here (printed with the reason) and skip it;
 * the program then exits 77 (skipped) unless a test failed. */
#define t_skip(...)                                                                      \
	do {                                                                             \
		t_note_skip(__VA_ARGS__);                                                \
		skip();                                                                  \
	} while (0)
void t_note_skip(const char *fmt, ...);
/* The ports t_port* made are remembered until the test destroys them, so that a test
 * that skips after making one (t_skip, t_os_only, t_sim_skip leave it by longjmp) does
 * not leak it: a skip destroys them. The tests' cport_destroy goes through here. */
void t_destroy(cport *port);
#ifndef T_HELPERS_IMPL
#define cport_destroy(port) t_destroy(port)
#endif
/* On the simulation (CPORT_BACKEND=sim), which knows only the descriptors its ports
 * made: skip the test, saying it needs `what` of the OS. Elsewhere nothing. */
void t_os_only(const char *what);
/* Is the test running on the simulation (CPORT_BACKEND=sim)? */
bool t_sim(void);
/* On the simulation: skip the test, saying why (an op or a property it does not
 * simulate, cport.h section 8). Elsewhere nothing. */
void t_sim_skip(const char *why);
/* For the simulation's own tests (sim, sim-net): a new sim port with `prof` (NULL: the
 * defaults), or a skip where the simulation is not built; and one op run to its end,
 * `submitted` being its submit's return (0), waited for without a time limit, as
 * virtual time may run for minutes at once. */
cport *t_sim_port(cport_sim_profile *prof);
int64_t t_sim_op(cport *port, cport_op *op, int submitted);

/* Run a cmocka group and turn the result into the exit code Meson reads. */
int t_main(const char *name, const struct CMUnitTest *tests, size_t n);
#define T_MAIN(name, tests) t_main(name, tests, sizeof(tests) / sizeof((tests)[0]))

uint64_t t_now_ms(void);

/* ---- Sockets ---- */

/* A listening TCP socket on 127.0.0.1, port 0; *bound gets its address. */
cport_fd t_listen(cport_addr *bound);
/* A TCP socket connected to `a` with a plain blocking connect. */
cport_fd t_connect(const cport_addr *a);
/* A connected loopback TCP pair made with plain blocking calls: fds[0] the client,
 * fds[1] the server side. */
void t_tcp_pair(cport_fd fds[2]);
/* Raise RLIMIT_NOFILE to at least `want`; false if the system does not allow it. */
int t_raise_nofile(unsigned long want); /* always true on Windows */
/* How many connections test `name`, which holds `want` open at once, makes here: all
 * of them, but 1,000 on Windows (said on stderr: Wine slows down faster than the
 * sockets it holds grow). Raises RLIMIT_NOFILE for them (+200), or skips the test. */
int t_many_conns(const char *name, int want);
/* A UDP socket bound to 127.0.0.1, port 0; *bound gets its address. */
cport_fd t_udp_any(cport_addr *bound);
/* Plain blocking calls for the far end of a test: write / read exactly `len` bytes. */
void t_write_all(cport_fd fd, const void *buf, size_t len);
void t_read_all(cport_fd fd, void *buf, size_t len);
/* One blocking send / recv on a socket: bytes, 0 at end of stream (recv), or -1. */
int64_t t_sock_send(cport_fd fd, const void *buf, size_t len);
int64_t t_sock_recv(cport_fd fd, void *buf, size_t len);
/* Socket options and calls the tests need: 0 or -1. */
int t_sock_sndbuf(cport_fd fd, int bytes);
int t_sock_linger0(cport_fd fd); /* SO_LINGER 0: the close resets the connection */
int t_sock_shut_wr(cport_fd fd);
bool t_is_windows(void);
bool t_is_wine(void); /* Windows code running under Wine (it says so in ntdll) */
/* A descriptor the test closed through cport is no descriptor any more (Unix). A Windows
 * handle value may name another object at once (Wine's threads and events take freed
 * values): not checked there. */
void t_assert_closed(cport_fd fd);

#endif
