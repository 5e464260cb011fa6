/* SPDX-License-Identifier: MIT */
/* Test helpers shared by every test file. */

#define T_HELPERS_IMPL /* the real cport_destroy here */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <winsock2.h>
#include <windows.h>
#else
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

static int t_skipped;
static char t_tmpdir[256];

const char *t_backend(void)
{
	const char *b = getenv("CPORT_BACKEND");
	return b && b[0] ? b : "default";
}

/* The simulation (CPORT_BACKEND=sim, cport.h section 8) knows only the descriptors its
 * port made: a test that needs one of the OS's (a pipe, a socket, a file in a temporary
 * directory) is skipped there, with the reason. */
void t_os_only(const char *what)
{
	if (strcmp(t_backend(), "sim") == 0) {
		t_note_skip("needs %s of the OS; the simulation knows only its own", what);
		skip();
	}
}

bool t_sim(void)
{
	return strcmp(t_backend(), "sim") == 0;
}

cport *t_sim_port(cport_sim_profile *prof)
{
	cport_options o;
	cport_options_init(&o);
	o.backend = "sim";
	o.sim = prof;
	cport *port = NULL;
	int r = cport_create(&port, &o);
	if (r == CPORT_ENOSYS)
		t_skip("the simulation is not built on this system");
	assert_int_equal(r, 0);
	assert_string_equal(cport_backend_name(port), "sim");
	return port;
}

int64_t t_sim_op(cport *port, cport_op *op, int submitted)
{
	assert_int_equal(submitted, 0);
	cport_op *got = NULL;
	assert_int_equal(cport_wait(port, &got, 1, -1), 1);
	assert_ptr_equal(got, op);
	return op->result;
}

/* On the simulation: skip the test, saying why (an op it does not simulate). */
void t_sim_skip(const char *why)
{
	if (t_sim()) {
		t_note_skip("%s", why);
		skip();
	}
}

bool t_uring_pool(void)
{
	const char *v = getenv("CPORT_TEST_URING_POOL");
	return strcmp(t_backend(), "io_uring") == 0 && v && v[0] == '1';
}

cport *t_port_depth(uint32_t depth)
{
	return t_port_pool(depth, 0);
}

/* The ports t_port_pool made that the test has not destroyed yet (t_destroy). */
static cport *t_ports[64];
static unsigned t_nports;

static void t_remember(cport *port)
{
	if (t_nports < sizeof t_ports / sizeof *t_ports)
		t_ports[t_nports++] = port;
}

void t_destroy(cport *port)
{
	for (unsigned i = 0; i < t_nports; i++)
		if (t_ports[i] == port) {
			t_ports[i] = t_ports[--t_nports];
			break;
		}
	cport_destroy(port);
}

/* A test is skipped: the ports it made and left go with it. */
static void t_forget_ports(void)
{
	while (t_nports > 0)
		cport_destroy(t_ports[--t_nports]);
}

cport *t_port_pool(uint32_t depth, uint32_t pool_threads)
{
	cport_options o;
	char reason[256] = "";
	cport_options_init(&o);
	o.flags = CPORT_OPT_STRICT;
	o.pool_threads = pool_threads;
	/* The io_uring-single variant: the whole test runs on one thread. */
	const char *st = getenv("CPORT_TEST_SINGLE_THREAD");
	if (st && st[0] == '1')
		o.flags |= CPORT_OPT_SINGLE_THREAD;
	o.queue_depth = depth;
	o.reason = reason;
	o.reason_len = sizeof reason;
	cport *port = NULL;
	int r = cport_create(&port, &o);
	if (r < 0)
		t_create_failed(r, reason);
	t_remember(port);
	return port;
}

bool t_refused_here(int err)
{
	return err == CPORT_EPERM || err == CPORT_EACCES || err == CPORT_ENOSYS;
}

void t_create_failed(int err, const char *why)
{
	if (t_refused_here(err))
		t_skip("the backend cannot start here: %s (%s)", cport_err_name(err),
		       why && why[0] ? why : "no reason given");
	fail_msg("cport_create on %s: %s (%s)", t_backend(), cport_err_name(err),
		 why && why[0] ? why : "no reason given");
	abort(); /* not reached: skip() and fail_msg() leave the test by longjmp */
}

cport *t_port(void)
{
	return t_port_depth(0);
}

cport_op *t_wait1(cport *port)
{
	cport_op *op = NULL;
	int n = cport_wait(port, &op, 1, 10 * 1000000000LL);
	if (n != 1)
		fail_msg("cport_wait returned %d (%s), wanted 1", n, cport_err_name(n));
	return op;
}

int64_t t_run(cport *port, cport_op *op)
{
	cport_op *got = t_wait1(port);
	assert_ptr_equal(got, op);
	return got->result;
}

void t_dirty_op(cport_op *op)
{
	memset(op, 0x5a, sizeof *op);
	op->internal[0] = 0; /* the in-flight marker clear */
	op->flags = 0;
}

void t_no_completion(cport *port)
{
	cport_op *got[1];
	assert_int_equal(cport_wait(port, got, 1, 0), 0);
}

unsigned t_reap(cport *port, unsigned n, void (*each)(cport_op *, void *), void *ctx)
{
	cport_op *ops[64];
	unsigned got = 0;
	uint64_t end = t_now_ms() + 30000;
	while (got < n && t_now_ms() < end) {
		unsigned want = n - got < 64 ? n - got : 64;
		int k = cport_wait(port, ops, want, 100 * 1000000LL);
		assert_true(k >= 0);
		for (int i = 0; i < k; i++)
			if (each)
				each(ops[i], ctx);
		got += (unsigned)k;
	}
	return got;
}

/*
 * The simulation (CPORT_BACKEND=sim): the helpers below make and use descriptors of
 * the simulated world through a sim port of their own (t_simh), one call at a time
 * (cport_wait_op leaves the test's completions alone), so that a test written for the
 * OS runs unchanged on it as long as it makes its descriptors through the helpers and
 * drives them from one thread. The port is made before the test runs, so the test's
 * own counts of open descriptors do not see it. A helper call that cannot finish (a
 * read of a stream nobody writes) gives up after a minute of virtual time, at once.
 */
static cport *t_simh;

static bool t_is_sim(void)
{
	return t_sim();
}

static void t_sim_start(void)
{
	cport_options o;
	cport_options_init(&o);
	o.backend = "sim";
	int r = cport_create(&t_simh, &o);
	if (r < 0)
		t_simh = NULL; /* no simulation here: t_main's own port says why */
}

/*
 * Run one op on the helpers' port: its result, or -1 if it could not finish. A test's
 * far end may run on a thread of its own, its data coming from the test's port in real
 * time: so the wait goes in steps of a millisecond of virtual time (which lets the
 * helpers' own ops run) with a real pause between them, up to 10 s in all. One thread
 * at a time drives the helpers' port (t_simh_mu).
 */
static pthread_mutex_t t_simh_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t t_sim_wait(cport_op *op)
{
	for (int i = 0; i < 10000; i++) {
		int r = cport_wait_op(t_simh, op, 1000000);
		if (r == 0)
			return op->result;
		if (r != CPORT_ETIMEDOUT)
			fail_msg("cport_wait_op on the simulation: %s", cport_err_name(r));
		if (i >= 100)
			t_sleep_us(1000);
	}
	(void)cport_cancel(t_simh, op);
	(void)cport_wait_op(t_simh, op, -1);
	return -1;
}

static int64_t t_sim_run(cport_op *op, int submitted)
{
	int64_t r = submitted < 0 ? submitted : t_sim_wait(op);
	pthread_mutex_unlock(&t_simh_mu);
	return r;
}

/* Submit `call` on the helpers' port and run it, holding the port meanwhile. */
#define T_SIM(op, call) (pthread_mutex_lock(&t_simh_mu), t_sim_run(op, call))

static int t_sim_pair(cport_fd fds[2])
{
	pthread_mutex_lock(&t_simh_mu);
	int r = cport_sim_socketpair(t_simh, fds);
	pthread_mutex_unlock(&t_simh_mu);
	return r;
}

static const char *t_sim_dir(void)
{
	cport_op op = {0};
	int64_t r = T_SIM(&op, cport_mkdir(t_simh, &op, "/cport-test", 0700));
	if (r < 0 && r != CPORT_EEXIST)
		fail_msg("mkdir on the simulation: %s", cport_err_name(r));
	return "/cport-test";
}

static int64_t t_sim_io(cport_fd fd, void *buf, size_t n, int64_t off, bool wr)
{
	cport_op op = {0};
	int sub = wr ? cport_write(t_simh, &op, fd, buf, n, off) : cport_read(t_simh, &op, fd, buf, n, off);
	int64_t r = T_SIM(&op, sub);
	return r < 0 ? -1 : r;
}

static int64_t t_sim_stat(cport_fd fd, cport_statbuf *st)
{
	cport_op op = {0};
	return T_SIM(&op, cport_fstat(t_simh, &op, fd, st));
}

static cport_fd t_sim_open(const char *path, uint32_t flags)
{
	cport_op op = {0};
	int64_t fd = T_SIM(&op, cport_open(t_simh, &op, path, flags, 0600));
	if (fd < 0)
		fail_msg("open %s on the simulation: %s", path, cport_err_name(fd));
	return (cport_fd)fd;
}

static int64_t t_sim_path(const char *path, bool unlink)
{
	cport_op op = {0};
	cport_statbuf st;
	return T_SIM(&op, unlink ? cport_unlink(t_simh, &op, path, 0)
				     : cport_stat(t_simh, &op, path, &st));
}

#ifdef _WIN32
/* Remove a directory tree (the test's temporary directory). */
static void rm_tree(const char *dir)
{
	char pat[MAX_PATH + 8], path[MAX_PATH + 8];
	WIN32_FIND_DATAA fd;
	snprintf(pat, sizeof pat, "%s\\*", dir);
	HANDLE f = FindFirstFileA(pat, &fd);
	if (f != INVALID_HANDLE_VALUE) {
		do {
			if (!strcmp(fd.cFileName, ".") || !strcmp(fd.cFileName, ".."))
				continue;
			snprintf(path, sizeof path, "%s\\%s", dir, fd.cFileName);
			if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
				rm_tree(path);
			} else {
				SetFileAttributesA(path, FILE_ATTRIBUTE_NORMAL);
				DeleteFileA(path);
			}
		} while (FindNextFileA(f, &fd));
		FindClose(f);
	}
	RemoveDirectoryA(dir);
}

static void t_cleanup(void)
{
	if (t_tmpdir[0])
		rm_tree(t_tmpdir);
}

const char *t_dir(void)
{
	if (t_is_sim())
		return t_sim_dir();
	t_os_only("a directory");
	if (!t_tmpdir[0]) {
		char base[MAX_PATH];
		DWORD n = GetTempPathA(sizeof base, base);
		if (n == 0 || n >= sizeof base)
			fail_msg("GetTempPathA failed");
		for (unsigned i = 0;; i++) {
			snprintf(t_tmpdir, sizeof t_tmpdir, "%scport-test-%lu-%u", base,
				 (unsigned long)GetCurrentProcessId(), i);
			if (CreateDirectoryA(t_tmpdir, NULL))
				break;
			if (GetLastError() != ERROR_ALREADY_EXISTS || i > 1000)
				fail_msg("CreateDirectoryA %s: %lu", t_tmpdir,
					 (unsigned long)GetLastError());
		}
		atexit(t_cleanup);
	}
	return t_tmpdir;
}

/* Overlapped I/O waited for on an event whose low bit is set: Windows then posts no
 * completion packet, even when the handle is associated with a port. */
static int64_t t_rw(cport_fd fd, void *buf, size_t n, int64_t off, int wr)
{
	OVERLAPPED ov = {0};
	DWORD got = 0;
	HANDLE ev = CreateEventA(NULL, TRUE, FALSE, NULL);
	assert_non_null(ev);
	ov.Offset = (DWORD)(uint64_t)off;
	ov.OffsetHigh = (DWORD)((uint64_t)off >> 32);
	ov.hEvent = (HANDLE)((uintptr_t)ev | 1);
	BOOL ok = wr ? WriteFile((HANDLE)fd, buf, (DWORD)n, NULL, &ov)
		     : ReadFile((HANDLE)fd, buf, (DWORD)n, NULL, &ov);
	if (!ok && GetLastError() == ERROR_IO_PENDING)
		ok = TRUE;
	if (ok)
		ok = GetOverlappedResult((HANDLE)fd, &ov, &got, TRUE);
	if (!ok && (GetLastError() == ERROR_HANDLE_EOF || GetLastError() == ERROR_BROKEN_PIPE))
		ok = TRUE, got = 0;
	CloseHandle(ev);
	return ok ? (int64_t)got : -1;
}

int64_t t_pread(cport_fd fd, void *buf, size_t n, int64_t off)
{
	if (t_is_sim())
		return t_sim_io(fd, buf, n, off, false);
	return t_rw(fd, buf, n, off, 0);
}

int64_t t_pwrite(cport_fd fd, const void *buf, size_t n, int64_t off)
{
	if (t_is_sim())
		return t_sim_io(fd, (void *)(uintptr_t)buf, n, off, true);
	return t_rw(fd, (void *)buf, n, off, 1);
}

void t_close(cport_fd fd)
{
	if (t_is_sim()) {
		cport_op op = {0};
		(void)T_SIM(&op, cport_close(t_simh, &op, fd));
		return;
	}
	cport_sock_close(fd); /* any handle: sockets need closesocket */
}

int t_pipe(cport_fd p[2])
{
	if (t_is_sim())
		return t_sim_pair(p) == 0 ? 0 : -1;
	t_os_only("a pipe");
	static volatile LONG seq;
	char name[128];
	snprintf(name, sizeof name, "\\\\.\\pipe\\cport-test-%lu-%ld",
		 (unsigned long)GetCurrentProcessId(), (long)InterlockedIncrement(&seq));
	HANDLE r = CreateNamedPipeA(name, PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED |
					  FILE_FLAG_FIRST_PIPE_INSTANCE,
				    PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, 65536, 65536,
				    0, NULL);
	if (r == INVALID_HANDLE_VALUE)
		return -1;
	/* Opening the client end connects the one instance: no ConnectNamedPipe. */
	HANDLE w = CreateFileA(name, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED,
			       NULL);
	if (w == INVALID_HANDLE_VALUE) {
		CloseHandle(r);
		return -1;
	}
	p[0] = (cport_fd)r;
	p[1] = (cport_fd)w;
	return 0;
}

int64_t t_write(cport_fd fd, const void *buf, size_t n)
{
	if (t_is_sim())
		return t_sim_io(fd, (void *)(uintptr_t)buf, n, -1, true);
	return t_rw(fd, (void *)buf, n, 0, 1);
}

int64_t t_read(cport_fd fd, void *buf, size_t n)
{
	if (t_is_sim())
		return t_sim_io(fd, buf, n, -1, false);
	return t_rw(fd, buf, n, 0, 0);
}

int64_t t_seek(cport_fd fd, int64_t off, int whence)
{
	t_os_only("SetFilePointerEx");
	LARGE_INTEGER d = {.QuadPart = off}, pos;
	DWORD how = whence == SEEK_CUR ? FILE_CURRENT : whence == SEEK_END ? FILE_END : FILE_BEGIN;
	return SetFilePointerEx((HANDLE)fd, d, &pos, how) ? pos.QuadPart : -1;
}

int64_t t_fsize(cport_fd fd)
{
	if (t_is_sim()) {
		cport_statbuf st;
		return t_sim_stat(fd, &st) == 0 ? (int64_t)st.size : -1;
	}
	LARGE_INTEGER sz;
	return GetFileSizeEx((HANDLE)fd, &sz) ? sz.QuadPart : -1;
}

int64_t t_falloc_bytes(cport_fd fd)
{
	if (t_is_sim()) {
		cport_statbuf st;
		return t_sim_stat(fd, &st) == 0 ? (int64_t)st.blocks * 512 : -1;
	}
	FILE_STANDARD_INFO si;
	if (!GetFileInformationByHandleEx((HANDLE)fd, FileStandardInfo, &si, sizeof si))
		return -1;
	return si.AllocationSize.QuadPart;
}

int t_fd_valid(cport_fd fd)
{
	DWORD flags;
	return GetHandleInformation((HANDLE)fd, &flags) != 0;
}

int t_exists(const char *path)
{
	if (t_is_sim())
		return t_sim_path(path, false) == 0;
	return GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES;
}

int t_unlink(const char *path)
{
	if (t_is_sim())
		return t_sim_path(path, true) == 0 ? 0 : -1;
	return DeleteFileA(path) ? 0 : -1;
}

/* Open handles of the process (the Unix version counts descriptors). */
int t_count_fds(void)
{
	DWORD n = 0;
	if (!GetProcessHandleCount(GetCurrentProcess(), &n) || n == 0)
		t_skip("GetProcessHandleCount cannot count open handles here");
	return (int)n;
}

int t_cloexec(cport_fd fd)
{
	DWORD f = 0;
	return GetHandleInformation((HANDLE)fd, &f) && !(f & HANDLE_FLAG_INHERIT);
}

cport_fd t_open_rdonly(const char *path)
{
	if (t_is_sim())
		return t_sim_open(path, CPORT_O_RDONLY);
	HANDLE h = CreateFileA(path, GENERIC_READ,
			       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
			       OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
	assert_true(h != INVALID_HANDLE_VALUE);
	return (cport_fd)h;
}

void t_sleep_us(unsigned us)
{
	Sleep((us + 999) / 1000);
}

static cport_fd t_create(const char *path)
{
	if (t_is_sim())
		return t_sim_open(path, CPORT_O_RDWR | CPORT_O_CREAT | CPORT_O_TRUNC);
	HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE,
			       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
			       CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED, NULL);
	assert_true(h != INVALID_HANDLE_VALUE);
	return (cport_fd)h;
}
#else
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void t_cleanup(void)
{
	if (t_tmpdir[0])
		nftw(t_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *t_dir(void)
{
	if (t_is_sim())
		return t_sim_dir();
	t_os_only("a directory");
	if (!t_tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(t_tmpdir, sizeof t_tmpdir, "%s/cport-test-XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(t_tmpdir))
			fail_msg("mkdtemp: %s", strerror(errno));
		atexit(t_cleanup);
	}
	return t_tmpdir;
}

int64_t t_pread(cport_fd fd, void *buf, size_t n, int64_t off)
{
	if (t_is_sim())
		return t_sim_io(fd, buf, n, off, false);
	return pread(fd, buf, n, (off_t)off);
}

int64_t t_pwrite(cport_fd fd, const void *buf, size_t n, int64_t off)
{
	if (t_is_sim())
		return t_sim_io(fd, (void *)(uintptr_t)buf, n, off, true);
	return pwrite(fd, buf, n, (off_t)off);
}

void t_close(cport_fd fd)
{
	if (t_is_sim()) {
		cport_op op = {0};
		(void)T_SIM(&op, cport_close(t_simh, &op, fd));
		return;
	}
	close(fd);
}

/* On the simulation: a stream pair (both ends can read and write, which a test of a
 * pipe does not mind). */
int t_pipe(cport_fd p[2])
{
	if (t_is_sim())
		return t_sim_pair(p) == 0 ? 0 : -1;
	return pipe(p);
}

int64_t t_write(cport_fd fd, const void *buf, size_t n)
{
	if (t_is_sim())
		return t_sim_io(fd, (void *)(uintptr_t)buf, n, -1, true);
	return write(fd, buf, n);
}

int64_t t_read(cport_fd fd, void *buf, size_t n)
{
	if (t_is_sim())
		return t_sim_io(fd, buf, n, -1, false);
	return read(fd, buf, n);
}

int64_t t_seek(cport_fd fd, int64_t off, int whence)
{
	t_os_only("lseek");
	return lseek(fd, (off_t)off, whence);
}

int64_t t_fsize(cport_fd fd)
{
	if (t_is_sim()) {
		cport_statbuf st;
		return t_sim_stat(fd, &st) == 0 ? (int64_t)st.size : -1;
	}
	struct stat st;
	return fstat(fd, &st) == 0 ? (int64_t)st.st_size : -1;
}

int64_t t_falloc_bytes(cport_fd fd)
{
	if (t_is_sim()) {
		cport_statbuf st;
		return t_sim_stat(fd, &st) == 0 ? (int64_t)st.blocks * 512 : -1;
	}
	struct stat st;
	return fstat(fd, &st) == 0 ? (int64_t)st.st_blocks * 512 : -1;
}

int t_fd_valid(cport_fd fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

int t_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		d = opendir("/dev/fd");
	if (!d)
		t_skip("no /proc/self/fd or /dev/fd to count open descriptors");
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int t_exists(const char *path)
{
	if (t_is_sim())
		return t_sim_path(path, false) == 0;
	return access(path, F_OK) == 0;
}

int t_unlink(const char *path)
{
	if (t_is_sim())
		return t_sim_path(path, true) == 0 ? 0 : -1;
	return unlink(path);
}

int t_cloexec(cport_fd fd)
{
	int f = fcntl(fd, F_GETFD);
	return f >= 0 && (f & FD_CLOEXEC);
}

cport_fd t_open_rdonly(const char *path)
{
	if (t_is_sim())
		return t_sim_open(path, CPORT_O_RDONLY);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

void t_sleep_us(unsigned us)
{
	usleep(us);
}

static cport_fd t_create(const char *path)
{
	if (t_is_sim())
		return t_sim_open(path, CPORT_O_RDWR | CPORT_O_CREAT | CPORT_O_TRUNC);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	return fd;
}
#endif

void t_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", t_dir(), name);
}

uint8_t t_pattern(uint64_t off)
{
	return (uint8_t)(off * 131 + (off >> 9) * 7 + 1);
}

void t_check_pattern(const uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != t_pattern(off + i))
			fail_msg("byte %zu of read at %llu: %u != %u", i, (unsigned long long)off,
				 buf[i], t_pattern(off + i));
}

cport_fd t_file(size_t len)
{
	char path[300];
	static unsigned seq;
	snprintf(path, sizeof path, "%s/file-%u", t_dir(), seq++);
	cport_fd fd = t_create(path);
	uint8_t buf[4096];
	for (size_t off = 0; off < len;) {
		size_t n = len - off < sizeof buf ? len - off : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = t_pattern(off + i);
		assert_int_equal(t_pwrite(fd, buf, n, (int64_t)off), (int64_t)n);
		off += n;
	}
	return fd;
}

void t_note_skip(const char *fmt, ...)
{
	t_forget_ports();
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "SKIP (%s): ", t_backend());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	t_skipped++;
}

uint64_t t_now_ms(void)
{
	return cport_now_ns() / 1000000u;
}

/*
 * Before any test of a file runs on a backend forced by $CPORT_BACKEND: can a port be
 * made there at all? If the machine refuses it (t_refused_here: seccomp, sysctl, an
 * old kernel), the whole file is skipped with the reason, instead of failing in every
 * test or, worse, in a forked child. The port is made as t_port makes it.
 */
static bool t_backend_refused(void)
{
	const char *forced = getenv("CPORT_BACKEND");
	if (!forced || !forced[0])
		return false;
	cport_options o;
	char reason[256] = "";
	cport_options_init(&o);
	o.flags = CPORT_OPT_STRICT;
	const char *st = getenv("CPORT_TEST_SINGLE_THREAD");
	if (st && st[0] == '1')
		o.flags |= CPORT_OPT_SINGLE_THREAD;
	o.reason = reason;
	o.reason_len = sizeof reason;
	cport *port = NULL;
	int r = cport_create(&port, &o);
	if (r == 0) {
		cport_destroy(port);
		return false;
	}
	if (!t_refused_here(r))
		return false; /* the tests fail on it, each with its message */
	fprintf(stderr, "SKIP (%s): the backend cannot start here: %s (%s)\n", t_backend(),
		cport_err_name(r), reason[0] ? reason : "no reason given");
	return true;
}

int t_main(const char *name, const struct CMUnitTest *tests, size_t n)
{
	char group[128];
	if (t_backend_refused())
		return 77;
	snprintf(group, sizeof group, "%s/%s", name, t_backend());
	if (t_is_sim())
		t_sim_start();
	int failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
	if (t_simh)
		cport_destroy(t_simh);
	t_simh = NULL;
	if (failed)
		return 1;
	/* A test that could not run is a skip for the whole file, never a pass. */
	return t_skipped ? 77 : 0;
}

/* Sockets: plain blocking calls (the far end of a test), portable. */

/* On the simulation these are its sockets: the socket helpers make them while a sim
 * port (t_simh) exists, and the connect is an op on t_simh. */
cport_fd t_listen(cport_addr *bound)
{
	cport_addr a;
	cport_fd fd;
	assert_int_equal(cport_addr_parse(&a, "127.0.0.1:0"), 0);
	assert_int_equal(cport_tcp_listen(&fd, &a, 0, 0), 0);
	assert_int_equal(cport_sock_local(fd, bound), 0);
	assert_true(cport_addr_port(bound) > 0);
	return fd;
}

cport_fd t_connect(const cport_addr *a)
{
	cport_fd c;
	assert_int_equal(cport_tcp_socket(&c, cport_addr_family(a)), 0);
	if (t_is_sim()) {
		cport_op op = {0};
		assert_int_equal(T_SIM(&op, cport_connect(t_simh, &op, c, a)), 0);
		return c;
	}
#ifdef _WIN32
	assert_int_equal(connect((SOCKET)c, (const struct sockaddr *)(const void *)a->storage,
				 (int)a->len), 0);
#else
	assert_int_equal(connect(c, (const struct sockaddr *)(const void *)a->storage, a->len), 0);
#endif
	return c;
}

/* On the simulation: a stream pair, which keeps the stream rules as a TCP connection
 * does (a test of TCP's own behaviour asks for a listener or an address instead). */
void t_tcp_pair(cport_fd fds[2])
{
	if (t_is_sim()) {
		assert_int_equal(t_sim_pair(fds), 0);
		return;
	}
	cport_addr a;
	cport_fd l = t_listen(&a);
	fds[0] = t_connect(&a);
#ifdef _WIN32
	SOCKET s = accept((SOCKET)l, NULL, NULL);
	assert_true(s != INVALID_SOCKET);
	fds[1] = (cport_fd)s;
#else
	fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fds[1] >= 0);
#endif
	t_close(l);
}

int t_raise_nofile(unsigned long want)
{
#ifdef _WIN32
	(void)want;
	return 1; /* no such limit: handles are limited by memory */
#else
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur >= want)
		return 1;
	if (rl.rlim_max < want) {
		rl.rlim_max = want;
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return 0;
		return 1;
	}
	rl.rlim_cur = want;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
#endif
}

int t_many_conns(const char *name, int want)
{
	t_os_only("sockets");
	if (t_is_windows()) {
		/* Wine (wineserver serves every socket call) slows down faster than the
		 * connections grow: 1,000 take ~1 s, 3,000 ~20 s, and 10,000 do not finish
		 * in 40 s. Measured on Wine 8.0; real Windows has no such limit. */
		fprintf(stderr, "%s: 1000 connections on Windows, not %d: Wine slows down more "
			"than linearly with the sockets open\n", name, want);
		want = 1000;
	}
	if (!t_raise_nofile((unsigned long)want + 200))
		t_skip("cannot raise RLIMIT_NOFILE to %d for %d connections", want + 200, want);
	return want;
}

cport_fd t_udp_any(cport_addr *bound)
{
	cport_addr a;
	cport_fd fd;
	assert_int_equal(cport_addr_parse(&a, "127.0.0.1:0"), 0);
	assert_int_equal(cport_udp_socket(&fd, &a, 0), 0);
	assert_int_equal(cport_sock_local(fd, bound), 0);
	return fd;
}

int64_t t_sock_send(cport_fd fd, const void *buf, size_t len)
{
	if (t_is_sim())
		return t_sim_io(fd, (void *)(uintptr_t)buf, len, -1, true);
#ifdef _WIN32
	int n = send((SOCKET)fd, buf, len > INT32_MAX ? INT32_MAX : (int)len, 0);
	return n < 0 ? -1 : n;
#else
	ssize_t n;
	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
#endif
}

int64_t t_sock_recv(cport_fd fd, void *buf, size_t len)
{
	if (t_is_sim())
		return t_sim_io(fd, buf, len, -1, false);
#ifdef _WIN32
	int n = recv((SOCKET)fd, buf, len > INT32_MAX ? INT32_MAX : (int)len, 0);
	return n < 0 ? -1 : n;
#else
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
#endif
}

void t_write_all(cport_fd fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		int64_t n = t_sock_send(fd, p, len);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

void t_read_all(cport_fd fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		int64_t n = t_sock_recv(fd, p, len);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static int t_setopt(cport_fd fd, int level, int name, const void *v, int len)
{
#ifdef _WIN32
	return setsockopt((SOCKET)fd, level, name, v, len) ? -1 : 0;
#else
	return setsockopt(fd, level, name, v, (socklen_t)len);
#endif
}

int t_sock_sndbuf(cport_fd fd, int bytes)
{
	t_os_only("a socket buffer size");
	return t_setopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

int t_sock_linger0(cport_fd fd)
{
	t_os_only("a reset by SO_LINGER");
	struct linger lg = {1, 0};
	return t_setopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

int t_sock_shut_wr(cport_fd fd)
{
	if (t_is_sim()) {
		cport_op op = {0};
		return T_SIM(&op, cport_shutdown(t_simh, &op, fd, CPORT_SHUT_WR)) == 0 ? 0 : -1;
	}
#ifdef _WIN32
	return shutdown((SOCKET)fd, SD_SEND) ? -1 : 0;
#else
	return shutdown(fd, SHUT_WR);
#endif
}

bool t_is_windows(void)
{
#ifdef _WIN32
	return true;
#else
	return false;
#endif
}

void t_assert_closed(cport_fd fd)
{
	if (!t_is_windows())
		assert_false(t_fd_valid(fd));
}

bool t_is_wine(void)
{
#ifdef _WIN32
	HMODULE nt = GetModuleHandleA("ntdll.dll");
	return nt && GetProcAddress(nt, "wine_get_version") != NULL;
#else
	return false;
#endif
}
