/* SPDX-License-Identifier: MIT */
/* Windows handles on the IOCP backend: association, synchronous handles, close cancels. */

#include "helpers.h"

#include <string.h>
#include <windows.h>

static cport_fd open_path(cport *port, const char *path, uint32_t flags)
{
	cport_op op = {0};
	assert_int_equal(cport_open(port, &op, path, flags, 0600), 0);
	int64_t r = t_run(port, &op);
	assert_true(r > 0);
	return (cport_fd)r;
}

static void close_fd(cport *port, cport_fd fd)
{
	cport_op op = {0};
	assert_int_equal(cport_close(port, &op, fd), 0);
	assert_int_equal(t_run(port, &op), 0);
}

/* A handle opened without FILE_FLAG_OVERLAPPED cannot use the port: the pool serves
 * it, and a timeout on it is refused rather than abandoning a blocking call. */
static void synchronous_handle(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	t_path(path, sizeof path, "sync");
	HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
			       FILE_ATTRIBUTE_NORMAL, NULL);
	assert_true(h != INVALID_HANDLE_VALUE);
	cport_fd fd = (cport_fd)h;
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, fd, "hello", 5, 10), 0);
	assert_int_equal(t_run(port, &op), 5);
	char buf[32] = {0};
	assert_int_equal(cport_read(port, &op, fd, buf, sizeof buf, 10), 0);
	assert_int_equal(t_run(port, &op), 5);
	assert_memory_equal(buf, "hello", 5);
	/* A timeout on the pool works as on every backend: this read finishes first. */
	op.timeout_ns = 30000000000ull;
	assert_int_equal(cport_read(port, &op, fd, buf, sizeof buf, 10), 0);
	assert_int_equal(t_run(port, &op), 5);
	op.timeout_ns = 0;
	close_fd(port, fd);
	cport_destroy(port);
}

/* An anonymous pipe is synchronous: its reads run on the pool, and a read blocked
 * there stops on cancel and on destroy (CancelSynchronousIo), as a console read must. */
static void anonymous_pipe_on_pool(void **state)
{
	(void)state;
	cport *port = t_port();
	HANDLE r, w;
	assert_true(CreatePipe(&r, &w, NULL, 0));
	char buf[16];
	DWORD n;
	cport_op rd = {0}, *out[1];
	assert_true(WriteFile(w, "abc", 3, &n, NULL));
	assert_int_equal(cport_read(port, &rd, (cport_fd)r, buf, sizeof buf, -1), 0);
	assert_int_equal(t_run(port, &rd), 3);
	/* Blocked: the worker sits in ReadFile; cancel interrupts it. */
	assert_int_equal(cport_read(port, &rd, (cport_fd)r, buf, sizeof buf, -1), 0);
	assert_int_equal(cport_wait(port, out, 1, 200 * 1000000LL), 0);
	assert_int_equal(cport_cancel(port, &rd), 0);
	assert_int_equal(t_run(port, &rd), CPORT_ECANCELED);
	/* Blocked again: destroy interrupts it and returns. */
	assert_int_equal(cport_read(port, &rd, (cport_fd)r, buf, sizeof buf, -1), 0);
	assert_int_equal(cport_wait(port, out, 1, 50 * 1000000LL), 0);
	uint64_t t0 = t_now_ms();
	cport_destroy(port);
	assert_true(t_now_ms() - t0 < 30000); /* a hang guard: the read never ends itself */
	CloseHandle(r);
	CloseHandle(w);
}

/* Close cancels on the pool too: with one worker blocked in a read of an anonymous
 * pipe and an fstat of it queued behind, cport_close completes both with ECANCELED,
 * then closes the handle. */
static void close_cancels_pool_ops(void **state)
{
	(void)state;
	cport_options o;
	cport_options_init(&o);
	o.backend = "iocp";
	o.pool_threads = 1;
	cport *port = NULL;
	assert_int_equal(cport_create(&port, &o), 0);
	HANDLE r, w;
	assert_true(CreatePipe(&r, &w, NULL, 0));
	char buf[16];
	cport_statbuf st;
	cport_op rd = {0}, fs = {0}, cl = {0}, *out[4];
	assert_int_equal(cport_read(port, &rd, (cport_fd)r, buf, sizeof buf, -1), 0);
	assert_int_equal(cport_wait(port, out, 1, 200 * 1000000LL), 0); /* blocked */
	assert_int_equal(cport_fstat(port, &fs, (cport_fd)r, &st), 0);  /* queued */
	assert_int_equal(cport_close(port, &cl, (cport_fd)r), 0);
	int64_t want[3] = {CPORT_ECANCELED, CPORT_ECANCELED, 0};
	cport_op *ops[3] = {&rd, &fs, &cl};
	int seen[3] = {0};
	for (unsigned got = 0; got < 3;) {
		int k = cport_wait(port, out, 4, 5 * 1000000000LL);
		assert_true(k > 0);
		for (int i = 0; i < k; i++)
			for (int j = 0; j < 3; j++)
				if (out[i] == ops[j]) {
					assert_int_equal(out[i]->result, want[j]);
					seen[j]++;
				}
		got += (unsigned)k;
	}
	assert_int_equal(seen[0] + seen[1] + seen[2], 3);
	assert_int_equal(seen[2], 1);
	/* Really closed: the write end sees no reader. */
	DWORD n;
	assert_false(WriteFile(w, "x", 1, &n, NULL));
	CloseHandle(w);
	cport_destroy(port);
}

/* Closing a pipe with a read in flight: the read completes with ECANCELED first, then
 * the close with 0. */
static void close_cancels(void **state)
{
	(void)state;
	cport *port = t_port();
	cport_fd p[2];
	assert_int_equal(t_pipe(p), 0);
	char buf[8];
	cport_op rd = {0}, cl = {0};
	assert_int_equal(cport_read(port, &rd, p[0], buf, sizeof buf, -1), 0);
	cport_op *out[2];
	assert_int_equal(cport_wait(port, out, 2, 20 * 1000000LL), 0); /* really pending */
	assert_int_equal(cport_close(port, &cl, p[0]), 0);
	assert_ptr_equal(t_wait1(port), &rd);
	assert_int_equal(rd.result, CPORT_ECANCELED);
	assert_int_equal(t_run(port, &cl), 0);
	/* Really closed: the other end sees it. (Not t_fd_valid: the pool started by
	 * this close opens thread handles, which may take the value at once.) */
	assert_int_equal(t_write(p[1], "x", 1), -1);
	t_close(p[1]);
	cport_destroy(port);
}

/* A handle belongs to the first port that did I/O on it. */
static void one_port_per_handle(void **state)
{
	(void)state;
	cport *a = t_port(), *b = t_port();
	cport_fd fd = t_file(100);
	char buf[10];
	cport_op op = {0};
	assert_int_equal(cport_read(a, &op, fd, buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(a, &op), 10);
	assert_int_equal(cport_read(b, &op, fd, buf, sizeof buf, 0), CPORT_EINVAL);
	assert_int_equal(cport_read(a, &op, fd, buf, sizeof buf, 90), 0);
	assert_int_equal(t_run(a, &op), 10);
	t_close(fd);
	cport_destroy(a);
	cport_destroy(b);
}

/* After cport_close, a new handle with the same value is associated afresh. */
static void handle_value_reused(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	t_path(path, sizeof path, "reuse");
	for (int i = 0; i < 20; i++) {
		cport_fd fd = open_path(port, path, CPORT_O_RDWR | CPORT_O_CREAT);
		cport_op op = {0};
		char c = (char)('a' + i), got = 0;
		assert_int_equal(cport_write(port, &op, fd, &c, 1, i), 0);
		assert_int_equal(t_run(port, &op), 1);
		assert_int_equal(cport_read(port, &op, fd, &got, 1, i), 0);
		assert_int_equal(t_run(port, &op), 1);
		assert_int_equal(got, c);
		close_fd(port, fd);
	}
	cport_destroy(port);
}

/* CPORT_O_APPEND: every write lands at the end, whatever its offset (as pwrite on an
 * O_APPEND descriptor does on Linux). */
/* A socket closed outside the port (cport_sock_close) while the port lives: the next
 * socket, which Windows may give the same value, still completes through the port. */
static void socket_value_reused(void **state)
{
	(void)state;
	cport *port = t_port();
	int reused = 0;
	for (int i = 0; i < 20; i++) {
		cport_fd p[2];
		t_tcp_pair(p);
		cport_op op = {0};
		char c = 0;
		assert_int_equal(cport_send(port, &op, p[0], "r", 1, 0), 0);
		assert_int_equal(t_run(port, &op), 1);
		t_read_all(p[1], &c, 1);
		assert_int_equal(c, 'r');
		cport_fd old = p[0];
		assert_int_equal(cport_sock_close(p[0]), 0);
		assert_int_equal(cport_sock_close(p[1]), 0);
		t_tcp_pair(p);
		reused += p[0] == old || p[1] == old;
		/* whichever end took the old value, ops on both ends complete */
		for (int k = 0; k < 2; k++) {
			assert_int_equal(cport_send(port, &op, p[k], "s", 1, 0), 0);
			assert_int_equal(t_run(port, &op), 1);
			assert_int_equal(cport_recv(port, &op, p[1 - k], &c, 1, 0), 0);
			assert_int_equal(t_run(port, &op), 1);
			assert_int_equal(c, 's');
		}
		cport_sock_close(p[0]);
		cport_sock_close(p[1]);
	}
	print_message("socket values reused: %d of 20\n", reused);
	cport_destroy(port);
}

static void append_ignores_offset(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	t_path(path, sizeof path, "append");
	cport_fd fd = open_path(port, path, CPORT_O_RDWR | CPORT_O_CREAT | CPORT_O_APPEND);
	cport_op op = {0};
	assert_int_equal(cport_write(port, &op, fd, "ab", 2, 0), 0);
	assert_int_equal(t_run(port, &op), 2);
	assert_int_equal(cport_write(port, &op, fd, "cd", 2, 0), 0);
	assert_int_equal(t_run(port, &op), 2);
	assert_int_equal(cport_write(port, &op, fd, "ef", 2, -1), 0);
	assert_int_equal(t_run(port, &op), 2);
	char buf[16] = {0};
	assert_int_equal(cport_read(port, &op, fd, buf, sizeof buf, 0), 0);
	assert_int_equal(t_run(port, &op), 6);
	assert_string_equal(buf, "abcdef");
	close_fd(port, fd);
	/* With CPORT_O_TRUNC too: emptied first, then appended to. */
	fd = open_path(port, path, CPORT_O_WRONLY | CPORT_O_TRUNC | CPORT_O_APPEND);
	assert_int_equal(t_fsize(fd), 0);
	assert_int_equal(cport_write(port, &op, fd, "gh", 2, 100), 0);
	assert_int_equal(t_run(port, &op), 2);
	assert_int_equal(t_fsize(fd), 2);
	close_fd(port, fd);
	cport_destroy(port);
}

/* Paths are UTF-8. */
static void utf8_paths(void **state)
{
	(void)state;
	cport *port = t_port();
	char path[300];
	t_path(path, sizeof path, "gr\xc3\xbc\xc3\x9f-\xe2\x82\xac");
	cport_fd fd = open_path(port, path, CPORT_O_WRONLY | CPORT_O_CREAT | CPORT_O_EXCL);
	close_fd(port, fd);
	cport_statbuf st;
	cport_op op = {0};
	assert_int_equal(cport_stat(port, &op, path, &st), 0);
	assert_int_equal(t_run(port, &op), 0);
	assert_int_equal(st.size, 0);
	wchar_t w[300];
	assert_true(MultiByteToWideChar(CP_UTF8, 0, path, -1, w, 300) > 0);
	assert_true(GetFileAttributesW(w) != INVALID_FILE_ATTRIBUTES);
	cport_destroy(port);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(synchronous_handle),  cmocka_unit_test(anonymous_pipe_on_pool),
		cmocka_unit_test(close_cancels),       cmocka_unit_test(close_cancels_pool_ops),
		cmocka_unit_test(one_port_per_handle), cmocka_unit_test(handle_value_reused),
		cmocka_unit_test(append_ignores_offset), cmocka_unit_test(utf8_paths),
		cmocka_unit_test(socket_value_reused),
	};
	return T_MAIN("iocp-handles", tests);
}
