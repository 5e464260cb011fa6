/* SPDX-License-Identifier: MIT */
/* Windows calls shared by the IOCP backend: error mapping, paths, stat, and blocking ops. */

/*
 * Map
 *   1. Windows and WSA errors -> CPORT_E*
 *   2. UTF-8 paths -> UTF-16, open flags -> CreateFileW arguments
 *   3. Stat: BY_HANDLE_FILE_INFORMATION and friends -> cport_statbuf
 *   4. cport__blocking_run: the thread pool's worker body (the twin of lib/unix.c's),
 *      and cport__os_try: CPORT_OP_INLINE's stat and fstat
 *   4b. Direct I/O rules: sector sizes and FILE_FLAG_NO_BUFFERING (cport_dio_query)
 *   4c. Directories, file systems and file locks (cport.h section 4c)
 *   5. Sockets: WinSock start, addresses, socket helpers (twins of lib/unix.c's)
 *   6. Local streams as named pipes, and closing any descriptor
 *
 * Paths are UTF-8 in the API and UTF-16 for the wide (W) calls, so names outside the
 * ANSI code page work. Descriptors are HANDLEs carried in cport_fd.
 */

#include "internal.h"

#include <mstcpip.h>
#include <mswsock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <winioctl.h>
#include <winternl.h>
#include <ws2tcpip.h>

/* ---- 1. Errors ---------------------------------------------------------------------- */

struct win_err {
	DWORD win;
	int code;
};

/* Win32 and WinSock codes; everything not listed is CPORT_EIO. */
static const struct win_err win_errs[] = {
	{ERROR_FILE_NOT_FOUND, CPORT_ENOENT},
	{ERROR_PATH_NOT_FOUND, CPORT_ENOENT},
	{ERROR_INVALID_DRIVE, CPORT_ENOENT},
	{ERROR_INVALID_NAME, CPORT_ENOENT},
	{ERROR_BAD_PATHNAME, CPORT_ENOENT},
	{ERROR_NOT_FOUND, CPORT_ENOENT},
	{ERROR_MOD_NOT_FOUND, CPORT_ENOENT},
	{ERROR_ACCESS_DENIED, CPORT_EACCES},
	{ERROR_PRIVILEGE_NOT_HELD, CPORT_EPERM},
	{ERROR_SHARING_VIOLATION, CPORT_EBUSY},
	{ERROR_LOCK_VIOLATION, CPORT_EBUSY},
	{ERROR_BUSY, CPORT_EBUSY},
	{ERROR_PIPE_BUSY, CPORT_EBUSY},
	{ERROR_INVALID_HANDLE, CPORT_EBADF},
	{ERROR_NOT_ENOUGH_MEMORY, CPORT_ENOMEM},
	{ERROR_OUTOFMEMORY, CPORT_ENOMEM},
	{ERROR_NOT_ENOUGH_QUOTA, CPORT_ENOMEM},
	{ERROR_NOACCESS, CPORT_EFAULT},
	{ERROR_FILE_EXISTS, CPORT_EEXIST},
	{ERROR_ALREADY_EXISTS, CPORT_EEXIST},
	{ERROR_NOT_SAME_DEVICE, CPORT_EXDEV},
	{ERROR_DIRECTORY, CPORT_ENOTDIR},
	{ERROR_DIR_NOT_EMPTY, CPORT_ENOTEMPTY},
	{ERROR_INVALID_PARAMETER, CPORT_EINVAL},
	{ERROR_INVALID_FUNCTION, CPORT_EINVAL},
	{ERROR_NEGATIVE_SEEK, CPORT_EINVAL},
	{ERROR_INVALID_FLAGS, CPORT_EINVAL},
	{ERROR_TOO_MANY_OPEN_FILES, CPORT_EMFILE},
	{ERROR_FILE_TOO_LARGE, CPORT_EFBIG},
	{ERROR_DISK_FULL, CPORT_ENOSPC},
	{ERROR_HANDLE_DISK_FULL, CPORT_ENOSPC},
	{ERROR_SEEK_ON_DEVICE, CPORT_ESPIPE},
	{ERROR_WRITE_PROTECT, CPORT_EROFS},
	{ERROR_BROKEN_PIPE, CPORT_EPIPE},
	{ERROR_NO_DATA, CPORT_EPIPE},
	{ERROR_PIPE_NOT_CONNECTED, CPORT_EPIPE},
	{ERROR_FILENAME_EXCED_RANGE, CPORT_ENAMETOOLONG},
	{ERROR_BUFFER_OVERFLOW, CPORT_ENAMETOOLONG},
	{ERROR_CALL_NOT_IMPLEMENTED, CPORT_ENOSYS},
	{ERROR_NOT_SUPPORTED, CPORT_ENOTSUP},
	{ERROR_CANT_RESOLVE_FILENAME, CPORT_ELOOP},
	{ERROR_ARITHMETIC_OVERFLOW, CPORT_EOVERFLOW},
	{ERROR_OPERATION_ABORTED, CPORT_ECANCELED},
	{ERROR_CANCELLED, CPORT_ECANCELED},
	{ERROR_TIMEOUT, CPORT_ETIMEDOUT},
	{ERROR_SEM_TIMEOUT, CPORT_ETIMEDOUT},
	{WAIT_TIMEOUT, CPORT_ETIMEDOUT},
	{ERROR_NETNAME_DELETED, CPORT_ECONNRESET},
	{ERROR_CONNECTION_REFUSED, CPORT_ECONNREFUSED},
	{ERROR_CONNECTION_ABORTED, CPORT_ECONNABORTED},
	{ERROR_PORT_UNREACHABLE, CPORT_ECONNREFUSED},
	{ERROR_HOST_UNREACHABLE, CPORT_EHOSTUNREACH},
	{ERROR_NETWORK_UNREACHABLE, CPORT_ENETUNREACH},
	{ERROR_NOT_CONNECTED, CPORT_ENOTCONN},
	{WSAEINTR, CPORT_EINTR},
	{WSAEBADF, CPORT_EBADF},
	{WSAEACCES, CPORT_EACCES},
	{WSAEFAULT, CPORT_EFAULT},
	{WSAEINVAL, CPORT_EINVAL},
	{WSAEMFILE, CPORT_EMFILE},
	{WSAEWOULDBLOCK, CPORT_EAGAIN},
	{WSAEINPROGRESS, CPORT_EINPROGRESS},
	{WSAEALREADY, CPORT_EALREADY},
	{WSAENOTSOCK, CPORT_ENOTSOCK},
	{WSAEDESTADDRREQ, CPORT_EDESTADDRREQ},
	{WSAEMSGSIZE, CPORT_EMSGSIZE},
	{WSAEPROTONOSUPPORT, CPORT_EPROTONOSUPPORT},
	{WSAEOPNOTSUPP, CPORT_ENOTSUP},
	{WSAEAFNOSUPPORT, CPORT_EAFNOSUPPORT},
	{WSAEADDRINUSE, CPORT_EADDRINUSE},
	{WSAEADDRNOTAVAIL, CPORT_EADDRNOTAVAIL},
	{WSAENETDOWN, CPORT_ENETDOWN},
	{WSAENETUNREACH, CPORT_ENETUNREACH},
	{WSAECONNABORTED, CPORT_ECONNABORTED},
	{WSAECONNRESET, CPORT_ECONNRESET},
	{WSAENOBUFS, CPORT_ENOBUFS},
	{WSAEISCONN, CPORT_EISCONN},
	{WSAENOTCONN, CPORT_ENOTCONN},
	{WSAESHUTDOWN, CPORT_EPIPE},
	{WSAETIMEDOUT, CPORT_ETIMEDOUT},
	{WSAECONNREFUSED, CPORT_ECONNREFUSED},
	{WSAEHOSTUNREACH, CPORT_EHOSTUNREACH},
	{WSAENAMETOOLONG, CPORT_ENAMETOOLONG},
	{WSAEDISCON, CPORT_EPIPE},
	{WSAENETRESET, CPORT_ECONNRESET},
	{WSAEHOSTDOWN, CPORT_EHOSTUNREACH},
	{WSAEPROTOTYPE, CPORT_EINVAL},
	{WSAENOPROTOOPT, CPORT_EINVAL},
	{WSAESOCKTNOSUPPORT, CPORT_ENOTSUP},
	{WSAEPFNOSUPPORT, CPORT_EAFNOSUPPORT},
	{WSAEDESTADDRREQ, CPORT_EINVAL},
	{WSANOTINITIALISED, CPORT_EINVAL},
	{ERROR_GRACEFUL_DISCONNECT, CPORT_EPIPE},
	{ERROR_REQUEST_ABORTED, CPORT_ECANCELED},
	{ERROR_INVALID_NETNAME, CPORT_EADDRNOTAVAIL},
	{ERROR_ADDRESS_ALREADY_ASSOCIATED, CPORT_EADDRINUSE},
	{WSA_OPERATION_ABORTED, CPORT_ECANCELED},
};

int cport__win_error(DWORD err)
{
	for (size_t i = 0; i < sizeof win_errs / sizeof *win_errs; i++)
		if (win_errs[i].win == err)
			return win_errs[i].code;
	return CPORT_EIO;
}

static int64_t win_last(void)
{
	return cport__win_error(GetLastError());
}

/* ---- 2. Paths and open flags -------------------------------------------------------- */

/* A malloc'ed UTF-16 copy of a UTF-8 path, or NULL with *err set. */
static wchar_t *win_wpath(const char *path, int64_t *err)
{
	int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
	if (n <= 0) {
		*err = CPORT_EINVAL;
		return NULL;
	}
	wchar_t *w = malloc((size_t)n * sizeof *w);
	if (!w) {
		*err = CPORT_ENOMEM;
		return NULL;
	}
	MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, -1, w, n);
	return w;
}

static DWORD win_access(uint32_t f)
{
	DWORD a = f & CPORT_O_RDWR ? GENERIC_READ | GENERIC_WRITE
	        : f & CPORT_O_WRONLY ? GENERIC_WRITE : GENERIC_READ;
	if ((f & CPORT_O_APPEND) && (a & GENERIC_WRITE)) {
		/* Append-only data access: every write goes to the end, whatever its offset,
		 * which is O_APPEND's meaning. */
		a &= ~(DWORD)GENERIC_WRITE;
		a |= FILE_GENERIC_WRITE & ~(DWORD)FILE_WRITE_DATA;
	}
	return a;
}

static DWORD win_disposition(uint32_t f)
{
	if (f & CPORT_O_CREAT) {
		if (f & CPORT_O_EXCL)
			return CREATE_NEW;
		return f & CPORT_O_TRUNC ? CREATE_ALWAYS : OPEN_ALWAYS;
	}
	return f & CPORT_O_TRUNC ? TRUNCATE_EXISTING : OPEN_EXISTING;
}

static DWORD win_open_flags(uint32_t f, uint32_t mode)
{
	/* Every file is opened for overlapped I/O so that reads and writes go through the
	 * completion port; BACKUP_SEMANTICS lets directories open, as on Unix. */
	DWORD fl = FILE_FLAG_OVERLAPPED | FILE_FLAG_BACKUP_SEMANTICS;
	fl |= f & CPORT_O_DIRECT ? FILE_FLAG_NO_BUFFERING : 0;
	fl |= f & CPORT_O_DSYNC ? FILE_FLAG_WRITE_THROUGH : 0;
	fl |= f & CPORT_O_NOFOLLOW ? FILE_FLAG_OPEN_REPARSE_POINT : 0;
	if ((f & CPORT_O_CREAT) && !(mode & 0200))
		fl |= FILE_ATTRIBUTE_READONLY;
	else
		fl |= FILE_ATTRIBUTE_NORMAL;
	return fl;
}

/* Unix refuses a directory opened for writing and a file opened with O_DIRECTORY. */
static int64_t win_open_check(HANDLE h, uint32_t f, DWORD access)
{
	if (!(f & CPORT_O_DIRECTORY) && !(access & (GENERIC_WRITE | FILE_APPEND_DATA)))
		return 0;
	BY_HANDLE_FILE_INFORMATION bi;
	if (!GetFileInformationByHandle(h, &bi))
		return win_last();
	bool dir = bi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY;
	if ((f & CPORT_O_DIRECTORY) && !dir)
		return CPORT_ENOTDIR;
	if (dir && (access & (GENERIC_WRITE | FILE_APPEND_DATA)))
		return CPORT_EISDIR;
	return 0;
}

#define WIN_SHARE_ALL (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)

/* O_TRUNC with O_APPEND: truncating needs write access, which an append-only handle
 * lacks, so a first handle creates or truncates the file and the second appends. */
static int64_t win_open_truncate_first(const wchar_t *w, uint32_t f, uint32_t mode)
{
	HANDLE t = CreateFileW(w, GENERIC_WRITE, WIN_SHARE_ALL, NULL, win_disposition(f),
			       win_open_flags(f, mode), NULL);
	if (t == INVALID_HANDLE_VALUE)
		return win_last();
	CloseHandle(t);
	return 0;
}

/* Open the UTF-16 path `w` as cport_open does with flags `f`. */
static int64_t win_open_w(const wchar_t *w, uint32_t f, uint32_t mode)
{
	int64_t err = 0;
	DWORD access = win_access(f), disp = win_disposition(f);
	bool two_step = (f & CPORT_O_APPEND) && (f & CPORT_O_TRUNC) && (access & FILE_APPEND_DATA);
	if (two_step) {
		err = win_open_truncate_first(w, f, mode);
		disp = OPEN_EXISTING;
	}
	HANDLE h = INVALID_HANDLE_VALUE;
	if (err == 0) {
		h = CreateFileW(w, access, WIN_SHARE_ALL, NULL, disp, win_open_flags(f, mode), NULL);
		if (h == INVALID_HANDLE_VALUE)
			err = win_last();
	}
	if (err < 0)
		return err;
	if ((err = win_open_check(h, f, access)) < 0) {
		CloseHandle(h);
		return err;
	}
	return (int64_t)(uintptr_t)h;
}

static int64_t win_open(struct cport__op *x)
{
	int64_t err = 0;
	wchar_t *w = win_wpath(x->buf, &err);
	if (!w)
		return err;
	err = win_open_w(w, x->aux, x->mode);
	free(w);
	return err;
}

/* ---- 3. Stat ------------------------------------------------------------------------ */

/* FILETIME ticks (100 ns since 1601) at the Unix epoch. */
#define WIN_EPOCH_TICKS 116444736000000000LL

static int64_t win_ticks_ns(int64_t ticks)
{
	return ticks ? (ticks - WIN_EPOCH_TICKS) * 100 : 0;
}

static uint32_t win_mode(DWORD attrs)
{
	uint32_t perm = attrs & FILE_ATTRIBUTE_READONLY ? 0444 : 0644;
	if (attrs & FILE_ATTRIBUTE_DIRECTORY)
		return 0040000 | perm | 0111;
	if (attrs & FILE_ATTRIBUTE_REPARSE_POINT)
		return 0120000 | perm;
	return 0100000 | perm;
}

static int64_t win_fill_stat(HANDLE h, cport_statbuf *out)
{
	cport_statbuf s = {0};
	DWORD type = GetFileType(h);
	if (type == FILE_TYPE_UNKNOWN && GetLastError() != NO_ERROR)
		return win_last();
	if (type == FILE_TYPE_PIPE || type == FILE_TYPE_CHAR) {
		s.mode = (type == FILE_TYPE_PIPE ? 0010000 : 0020000) | 0666;
		s.nlink = 1;
		*out = s;
		return 0;
	}
	BY_HANDLE_FILE_INFORMATION bi;
	FILE_BASIC_INFO ba;
	FILE_STANDARD_INFO si;
	if (!GetFileInformationByHandle(h, &bi) ||
	    !GetFileInformationByHandleEx(h, FileBasicInfo, &ba, sizeof ba) ||
	    !GetFileInformationByHandleEx(h, FileStandardInfo, &si, sizeof si))
		return win_last();
	s.size = (uint64_t)si.EndOfFile.QuadPart;
	s.blocks = ((uint64_t)si.AllocationSize.QuadPart + 511) / 512;
	s.ino = (uint64_t)bi.nFileIndexHigh << 32 | bi.nFileIndexLow;
	s.dev = bi.dwVolumeSerialNumber;
	s.mode = win_mode(bi.dwFileAttributes);
	s.nlink = bi.nNumberOfLinks;
	s.atime_ns = win_ticks_ns(ba.LastAccessTime.QuadPart);
	s.mtime_ns = win_ticks_ns(ba.LastWriteTime.QuadPart);
	s.ctime_ns = win_ticks_ns(ba.ChangeTime.QuadPart);
	s.btime_ns = win_ticks_ns(ba.CreationTime.QuadPart);
	*out = s;
	return 0;
}

/* A handle to look at the file or directory at the UTF-8 `path` (its attributes, its
 * volume, its reparse data with FILE_FLAG_OPEN_REPARSE_POINT in `flags`): 0 and *h, or
 * an error. */
static int64_t win_path_handle(const char *path, DWORD flags, HANDLE *h)
{
	int64_t r = 0;
	wchar_t *w = win_wpath(path, &r);
	if (!w)
		return r;
	*h = CreateFileW(w, FILE_READ_ATTRIBUTES, WIN_SHARE_ALL, NULL, OPEN_EXISTING,
			 FILE_FLAG_BACKUP_SEMANTICS | flags, NULL);
	if (*h == INVALID_HANDLE_VALUE)
		r = win_last();
	free(w);
	return r;
}

static int64_t win_stat_path(const char *path, cport_statbuf *out)
{
	HANDLE h;
	int64_t r = win_path_handle(path, 0, &h);
	if (r < 0)
		return r;
	r = win_fill_stat(h, out);
	CloseHandle(h);
	return r;
}

/* ---- 4. Blocking ops ------------------------------------------------------------------ */

/* One ReadFile/WriteFile on a synchronous handle (the pool only sees those: handles
 * opened for overlapped I/O go through the port). Returns bytes or a CPORT_E* code;
 * end of file and a closed pipe's far end read as 0 bytes. */
static int64_t win_rw_once(HANDLE h, bool rd, void *p, uint64_t n, int64_t off)
{
	DWORD got = 0, want = n > 0x7ffff000u ? 0x7ffff000u : (DWORD)n;
	OVERLAPPED ov = {0};
	ov.Offset = (DWORD)(uint64_t)off;
	ov.OffsetHigh = (DWORD)((uint64_t)off >> 32);
	OVERLAPPED *pov = off < 0 ? NULL : &ov;
	BOOL ok = rd ? ReadFile(h, p, want, &got, pov) : WriteFile(h, p, want, &got, pov);
	if (ok)
		return got;
	DWORD e = GetLastError();
	if (rd && (e == ERROR_HANDLE_EOF || e == ERROR_BROKEN_PIPE))
		return 0;
	if (e == ERROR_ACCESS_DENIED)
		return CPORT_EBADF; /* not open for this direction, as read(2)/write(2) say */
	return cport__win_error(e);
}

/* The contract's rules: positional reads short only at end of file, stream reads
 * return what came, writes all or an error. `done` counts bytes moved so far. */
static int64_t win_rw(HANDLE h, bool rd, char *p, uint64_t len, int64_t off, uint64_t *done)
{
	for (;;) {
		int64_t o = off < 0 ? -1 : off + (int64_t)*done;
		int64_t n = win_rw_once(h, rd, p + *done, len - *done, o);
		if (n < 0)
			return n;
		*done += (uint64_t)n;
		if (n == 0 || (rd && off < 0) || *done == len)
			return (int64_t)*done;
	}
}

/* Vectored I/O on a synchronous handle: element by element. */
static int64_t win_rwv(struct cport__op *x)
{
	const cport_iovec *iov = x->buf;
	bool rd = x->type == CPORT__READV;
	uint64_t total = 0;
	for (unsigned i = 0; i < x->aux; i++) {
		uint64_t done = 0;
		int64_t off = x->offset < 0 ? -1 : x->offset + (int64_t)total;
		int64_t r = win_rw((HANDLE)x->fd, rd, iov[i].base, iov[i].len, off, &done);
		if (r < 0)
			return total && rd ? (int64_t)total : r;
		total += done;
		if (done < iov[i].len || (rd && x->offset < 0 && done > 0))
			break; /* end of file, or a stream read that got something */
	}
	return (int64_t)total;
}

static int64_t win_ok(BOOL ok)
{
	return ok ? 0 : win_last();
}

static int64_t win_set_size(HANDLE h, FILE_INFO_BY_HANDLE_CLASS cls, int64_t size)
{
	if (cls == FileEndOfFileInfo) {
		FILE_END_OF_FILE_INFO e = {.EndOfFile.QuadPart = size};
		return win_ok(SetFileInformationByHandle(h, cls, &e, sizeof e));
	}
	FILE_ALLOCATION_INFO a = {.AllocationSize.QuadPart = size};
	if (SetFileInformationByHandle(h, cls, &a, sizeof a))
		return 0;
	if (GetLastError() != ERROR_CALL_NOT_IMPLEMENTED)
		return win_last();
	/* Wine 8's kernelbase lacks this class; its ntdll may still have it. */
	IO_STATUS_BLOCK iosb;
	NTSTATUS st = NtSetInformationFile(h, &iosb, &a, sizeof a,
					   (FILE_INFORMATION_CLASS)FileAllocationInformation);
	if (st == (NTSTATUS)0xC0000002L || st == (NTSTATUS)0xC0000003L)
		return CPORT_ENOTSUP; /* STATUS_NOT_IMPLEMENTED, STATUS_INVALID_INFO_CLASS */
	return st >= 0 ? 0 : cport__win_error(RtlNtStatusToDosError(st));
}

/* fallocate: grow the file (or only its allocation, KEEP_SIZE); never shrink it. */
static int64_t win_fallocate(struct cport__op *x)
{
	HANDLE h = (HANDLE)x->fd;
	FILE_STANDARD_INFO si;
	if (!GetFileInformationByHandleEx(h, FileStandardInfo, &si, sizeof si))
		return win_last();
	int64_t end = x->offset + (int64_t)x->len;
	if (!(x->aux & CPORT_FALLOC_KEEP_SIZE))
		return end > si.EndOfFile.QuadPart ? win_set_size(h, FileEndOfFileInfo, end) : 0;
	return end > si.AllocationSize.QuadPart ? win_set_size(h, FileAllocationInfo, end) : 0;
}

static int64_t win_symlink(const wchar_t *target, const wchar_t *link, uint32_t flags);
static int64_t win_access_path(const wchar_t *w, uint32_t mode);

/* The call of a path op on its UTF-16 path(s). */
static int64_t win_path_call(struct cport__op *x, const wchar_t *a, const wchar_t *b)
{
	switch ((enum cport__type)x->type) {
	case CPORT__RENAME:
		if (x->aux & CPORT_RENAME_EXCHANGE)
			return CPORT_ENOTSUP; /* Windows cannot swap two names atomically */
		/* Without REPLACE_EXISTING an existing `b` fails: CPORT_RENAME_NOREPLACE. */
		return win_ok(MoveFileExW(a, b, x->aux & CPORT_RENAME_NOREPLACE
							 ? 0
							 : MOVEFILE_REPLACE_EXISTING));
	case CPORT__UNLINK:
		return win_ok(x->aux & CPORT_UNLINK_DIR ? RemoveDirectoryW(a) : DeleteFileW(a));
	case CPORT__MKDIR:
		return win_ok(CreateDirectoryW(a, NULL));
	case CPORT__LINK:
		return win_ok(CreateHardLinkW(b, a, NULL));
	case CPORT__SYMLINK:
		return win_symlink(a, b, x->aux);
	case CPORT__ACCESS:
		return win_access_path(a, x->aux);
	default:
		assert(!"not a path op");
		return CPORT_EINVAL;
	}
}

/* A call on one or two UTF-8 paths. */
static int64_t win_path_op(struct cport__op *x)
{
	int64_t r = 0;
	bool two = x->type == CPORT__RENAME || x->type == CPORT__LINK || x->type == CPORT__SYMLINK;
	wchar_t *a = win_wpath(x->buf, &r), *b = NULL;
	if (!a)
		return r;
	if (two && !(b = win_wpath(x->buf2, &r))) {
		free(a);
		return r;
	}
	r = win_path_call(x, a, b);
	free(a);
	free(b);
	return r;
}

static bool win_is_dir(HANDLE h)
{
	FILE_BASIC_INFO b;
	return GetFileInformationByHandleEx(h, FileBasicInfo, &b, sizeof b) &&
	       (b.FileAttributes & FILE_ATTRIBUTE_DIRECTORY);
}

/* cport_fsync and cport_fsync_range (cport.h, "Durability"): FlushFileBuffers writes
 * data and metadata and flushes the device's cache; there is no range form. It needs
 * write access, which a directory opened by cport_open lacks, and Microsoft documents
 * no flush of a directory's entries: that is CPORT_ENOTSUP, not a misleading EACCES. */
static int64_t win_fsync(HANDLE h)
{
	if (FlushFileBuffers(h))
		return 0;
	DWORD e = GetLastError();
	if ((e == ERROR_ACCESS_DENIED || e == ERROR_INVALID_FUNCTION ||
	     e == ERROR_INVALID_PARAMETER) && win_is_dir(h))
		return CPORT_ENOTSUP;
	return cport__win_error(e);
}

/* ---- 4c. Directories, file systems and file locks -------------------------------- */

/* Absolute ("\x", "/x", "\\server\share") or on a drive ("C:"): no directory applies. */
static bool win_path_absolute(const wchar_t *p)
{
	return p[0] == L'\\' || p[0] == L'/' || (p[0] && p[1] == L':');
}

/*
 * The directory `dir`'s current path joined with `rel`, malloc'ed, or NULL with *err.
 * GetFinalPathNameByHandleW answers "\\?\C:\dir" or "\\?\UNC\server\share\dir"; the
 * prefix goes (a "\\?\" path is taken literally: '/' and ".." in `rel` would not be
 * parsed), which limits the result to MAX_PATH as cport.h says.
 */
static wchar_t *win_join_dir(HANDLE dir, const wchar_t *rel, int64_t *err)
{
	const DWORD how = FILE_NAME_NORMALIZED | VOLUME_NAME_DOS;
	DWORD n = GetFinalPathNameByHandleW(dir, NULL, 0, how); /* with the NUL */
	size_t rl = wcslen(rel);
	wchar_t *out = n ? malloc((n + 1 + rl + 1) * sizeof *out) : NULL;
	DWORD got = out ? GetFinalPathNameByHandleW(dir, out, n, how) : 0;
	if (got == 0 || got >= n || !win_is_dir(dir)) {
		*err = !n || (out && got == 0) ? win_last() : !out ? CPORT_ENOMEM : CPORT_ENOTDIR;
		free(out);
		return NULL;
	}
	size_t len = got;
	if (wcsncmp(out, L"\\\\?\\UNC\\", 8) == 0) { /* \\?\UNC\s\x -> \\s\x */
		memmove(out + 1, out + 7, (len - 7 + 1) * sizeof *out);
		out[0] = L'\\';
		len -= 6;
	} else if (wcsncmp(out, L"\\\\?\\", 4) == 0) { /* \\?\C:\x -> C:\x */
		memmove(out, out + 4, (len - 4 + 1) * sizeof *out);
		len -= 4;
	}
	if (len && out[len - 1] != L'\\')
		out[len++] = L'\\';
	memcpy(out + len, rel, (rl + 1) * sizeof *out);
	return out;
}

static int64_t win_openat(struct cport__op *x)
{
	int64_t err = 0;
	wchar_t *rel = win_wpath(x->buf, &err), *full = NULL;
	if (!rel)
		return err;
	if (!win_path_absolute(rel) && !(full = win_join_dir((HANDLE)x->fd, rel, &err))) {
		free(rel);
		return err;
	}
	err = win_open_w(full ? full : rel, x->aux, x->mode);
	free(rel);
	free(full);
	return err;
}

static uint8_t win_dirent_type(const FILE_ID_BOTH_DIR_INFO *e)
{
	/* For a reparse point, EaSize holds its tag. */
	if ((e->FileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) && e->EaSize == IO_REPARSE_TAG_SYMLINK)
		return CPORT_DT_LNK;
	return e->FileAttributes & FILE_ATTRIBUTE_DIRECTORY ? CPORT_DT_DIR : CPORT_DT_REG;
}

/*
 * cport_readdir: FILE_ID_BOTH_DIR_INFO records into a buffer of our own, each then as a
 * cport_dirent. Ours is not always the shorter one: for a name of n UTF-16 units ours
 * takes at most 16 + 3n + 1 bytes (UTF-8), padded to 8, theirs 104 + 2n. The ratio grows
 * with n and peaks at n = 255 with 784 against 614 bytes, under 4/3; so asking Windows
 * for 3/4 of `len` means every entry it hands over fits `len`: none is lost.
 */
static int64_t win_readdir(struct cport__op *x)
{
	union {
		char b[8192];
		LONGLONG align;
	} raw;
	HANDLE h = (HANDLE)x->fd;
	size_t want = (size_t)x->len / 4 * 3;
	if (want > sizeof raw.b)
		want = sizeof raw.b;
	FILE_INFO_BY_HANDLE_CLASS cls = x->aux & CPORT_READDIR_REWIND
						? FileIdBothDirectoryRestartInfo
						: FileIdBothDirectoryInfo;
	if (!GetFileInformationByHandleEx(h, cls, raw.b, (DWORD)want)) {
		DWORD e = GetLastError();
		if (e == ERROR_NO_MORE_FILES)
			return 0;
		return win_is_dir(h) ? cport__win_error(e) : CPORT_ENOTDIR;
	}
	size_t out = 0;
	for (size_t at = 0;;) {
		const FILE_ID_BOTH_DIR_INFO *e = (const void *)(raw.b + at);
		char *rec = (char *)x->buf + out;
		int units = (int)(e->FileNameLength / sizeof(WCHAR));
		int n = WideCharToMultiByte(CP_UTF8, 0, e->FileName, units, NULL, 0, NULL, NULL);
		assert(n > 0 && out + CPORT__DIRENT_LEN(n) <= x->len); /* the arithmetic above */
		WideCharToMultiByte(CP_UTF8, 0, e->FileName, units, rec + sizeof(cport_dirent), n,
				    NULL, NULL);
		out += cport__dirent_seal(rec, (uint64_t)e->FileId.QuadPart, win_dirent_type(e),
					  (size_t)n);
		if (e->NextEntryOffset == 0)
			break;
		at += e->NextEntryOffset;
	}
	return (int64_t)out;
}

/* statfs: the volume's sizes (what GetDiskFreeSpaceExW reports, and the cluster size) and
 * its longest name, through a handle on `path` (a file or a directory). */
static int64_t win_statfs(struct cport__op *x)
{
	HANDLE h;
	int64_t r = win_path_handle(x->buf, 0, &h);
	if (r < 0)
		return r;
	FILE_FS_FULL_SIZE_INFORMATION fs;
	IO_STATUS_BLOCK iosb;
	NTSTATUS st = NtQueryVolumeInformationFile(h, &iosb, &fs, sizeof fs,
						   FileFsFullSizeInformation);
	DWORD namemax = 0;
	if (st >= 0 && !GetVolumeInformationByHandleW(h, NULL, 0, NULL, &namemax, NULL, NULL, 0))
		namemax = 0; /* unknown */
	CloseHandle(h);
	if (st < 0)
		return cport__win_error(RtlNtStatusToDosError(st));
	uint64_t unit = (uint64_t)fs.SectorsPerAllocationUnit * fs.BytesPerSector;
	cport_statfsbuf s = {0};
	s.bsize = unit;
	s.total = (uint64_t)fs.TotalAllocationUnits.QuadPart * unit;
	s.free = (uint64_t)fs.ActualAvailableAllocationUnits.QuadPart * unit;
	s.avail = (uint64_t)fs.CallerAvailableAllocationUnits.QuadPart * unit;
	s.namemax = namemax;
	memcpy(x->buf2, &s, sizeof s);
	return 0;
}

/* The head of REPARSE_DATA_BUFFER for symbolic links and junctions (ntifs.h, whose
 * mingw copy clashes with winternl.h). A symbolic link has a ULONG of flags before its
 * names, a junction none. */
struct win_reparse {
	ULONG tag;
	USHORT data_len, reserved;
	USHORT sub_off, sub_len, print_off, print_len;
};

static int64_t win_readlink(struct cport__op *x)
{
	HANDLE h;
	int64_t r = win_path_handle(x->buf, FILE_FLAG_OPEN_REPARSE_POINT, &h);
	if (r < 0)
		return r;
	union {
		char b[16 * 1024]; /* MAXIMUM_REPARSE_DATA_BUFFER_SIZE */
		ULONG align;
	} rb;
	DWORD got = 0;
	BOOL ok = DeviceIoControl(h, FSCTL_GET_REPARSE_POINT, NULL, 0, rb.b, sizeof rb.b, &got,
				  NULL);
	DWORD e = ok ? 0 : GetLastError();
	CloseHandle(h);
	if (e)
		return e == ERROR_NOT_A_REPARSE_POINT ? CPORT_EINVAL : cport__win_error(e);
	const struct win_reparse *p = (const void *)rb.b;
	size_t names = sizeof *p + (p->tag == IO_REPARSE_TAG_SYMLINK ? sizeof(ULONG) : 0);
	if (p->tag != IO_REPARSE_TAG_SYMLINK && p->tag != IO_REPARSE_TAG_MOUNT_POINT)
		return CPORT_EINVAL; /* some other reparse point: no link */
	USHORT off = p->print_len ? p->print_off : p->sub_off;
	USHORT len = p->print_len ? p->print_len : p->sub_len;
	if (names + off + len > got)
		return CPORT_EIO;
	const WCHAR *name = (const WCHAR *)(const void *)(rb.b + names + off);
	int units = len / (int)sizeof(WCHAR);
	int n = WideCharToMultiByte(CP_UTF8, 0, name, units, NULL, 0, NULL, NULL);
	if (n < 0 || (uint64_t)n >= x->len)
		return CPORT_ENOBUFS;
	WideCharToMultiByte(CP_UTF8, 0, name, units, x->buf2, n, NULL, NULL);
	((char *)x->buf2)[n] = '\0';
	return n;
}

static int64_t win_symlink(const wchar_t *target, const wchar_t *link, uint32_t flags)
{
	DWORD fl = flags & CPORT_SYMLINK_DIR ? SYMBOLIC_LINK_FLAG_DIRECTORY : 0;
	BOOLEAN ok = CreateSymbolicLinkW(link, target, fl | SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE);
	if (!ok && GetLastError() == ERROR_INVALID_PARAMETER)
		ok = CreateSymbolicLinkW(link, target, fl); /* before Windows 10 1703 */
	if (!ok)
		return win_last();
	/* Wine 8's CreateSymbolicLinkW is a stub that answers TRUE and makes nothing. */
	DWORD a = GetFileAttributesW(link);
	return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_REPARSE_POINT) ? 0 : CPORT_ENOTSUP;
}

static int64_t win_access_path(const wchar_t *w, uint32_t mode)
{
	DWORD a = GetFileAttributesW(w);
	if (a == INVALID_FILE_ATTRIBUTES)
		return win_last();
	/* A directory's read-only attribute means nothing to Windows itself. */
	if ((mode & CPORT_W_OK) && (a & FILE_ATTRIBUTE_READONLY) && !(a & FILE_ATTRIBUTE_DIRECTORY))
		return CPORT_EACCES;
	return 0;
}

/*
 * A call that takes an OVERLAPPED, on a handle that may be opened for overlapped I/O and
 * associated with a port: it gets an event of its own, tagged with the low bit so that
 * no completion packet is queued to the port (Windows' documented convention), and we
 * wait for it here when the call pends. win_ov_end returns the call's Win32 error (0).
 */
static bool win_ov_begin(OVERLAPPED *ov, int64_t offset)
{
	memset(ov, 0, sizeof *ov);
	ov->Offset = (DWORD)(uint64_t)offset;
	ov->OffsetHigh = (DWORD)((uint64_t)offset >> 32);
	HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	ov->hEvent = ev ? (HANDLE)((uintptr_t)ev | 1) : NULL;
	return ev != NULL;
}

static DWORD win_ov_end(HANDLE h, OVERLAPPED *ov, BOOL ok)
{
	HANDLE ev = (HANDLE)((uintptr_t)ov->hEvent & ~(uintptr_t)1);
	DWORD e = ok ? 0 : GetLastError(), got;
	if (e == ERROR_IO_PENDING) {
		WaitForSingleObject(ev, INFINITE);
		e = GetOverlappedResult(h, ov, &got, FALSE) ? 0 : GetLastError();
	}
	CloseHandle(ev);
	return e;
}

static DWORD win_ioctl(HANDLE h, DWORD code, void *in, DWORD in_len)
{
	OVERLAPPED ov;
	DWORD got = 0;
	if (!win_ov_begin(&ov, 0))
		return GetLastError();
	return win_ov_end(h, &ov, DeviceIoControl(h, code, in, in_len, NULL, 0, &got, &ov));
}

/* fallocate's PUNCH_HOLE and ZERO_RANGE (see cport_fallocate in cport.h). */
static int64_t win_zero_range(struct cport__op *x)
{
	HANDLE h = (HANDLE)x->fd;
	int64_t end = x->offset + (int64_t)x->len;
	DWORD e = x->aux & CPORT_FALLOC_PUNCH_HOLE ? win_ioctl(h, FSCTL_SET_SPARSE, NULL, 0) : 0;
	if (e == 0) {
		FILE_ZERO_DATA_INFORMATION z;
		z.FileOffset.QuadPart = x->offset;
		z.BeyondFinalZero.QuadPart = end;
		e = win_ioctl(h, FSCTL_SET_ZERO_DATA, &z, sizeof z);
	}
	if (e == ERROR_INVALID_FUNCTION || e == ERROR_NOT_SUPPORTED)
		return CPORT_ENOTSUP; /* no sparse files here (FAT), or no such request (Wine) */
	if (e)
		return cport__win_error(e);
	if (x->aux & (CPORT_FALLOC_PUNCH_HOLE | CPORT_FALLOC_KEEP_SIZE))
		return 0;
	FILE_STANDARD_INFO si;
	if (!GetFileInformationByHandleEx(h, FileStandardInfo, &si, sizeof si))
		return win_last();
	return end > si.EndOfFile.QuadPart ? win_set_size(h, FileEndOfFileInfo, end) : 0;
}

/* One try of a lock: never a wait (lib/threadpool.c makes waiting locks out of tries).
 * len 0 reaches as far as a lock can: to INT64_MAX, where Windows' ranges end. */
static int64_t win_lock(struct cport__op *x)
{
	HANDLE h = (HANDLE)x->fd;
	uint64_t n = x->len ? x->len : (uint64_t)INT64_MAX - (uint64_t)x->offset + 1;
	DWORD lo = (DWORD)n, hi = (DWORD)(n >> 32);
	DWORD how = LOCKFILE_FAIL_IMMEDIATELY |
		    (x->aux & CPORT_LOCK_EXCLUSIVE ? LOCKFILE_EXCLUSIVE_LOCK : 0);
	OVERLAPPED ov;
	if (!win_ov_begin(&ov, x->offset))
		return win_last();
	BOOL ok = x->aux & CPORT__LOCK_UNLOCK ? UnlockFileEx(h, 0, lo, hi, &ov)
					       : LockFileEx(h, how, 0, lo, hi, &ov);
	DWORD e = win_ov_end(h, &ov, ok);
	if (e == ERROR_LOCK_VIOLATION)
		return CPORT_EAGAIN; /* held by another handle */
	if (e == ERROR_NOT_LOCKED)
		return CPORT_ENOENT; /* no lock of this handle has exactly this range */
	return e ? cport__win_error(e) : 0;
}

/* Run an op as a blocking call; the thread pool's worker body. */
int64_t cport__blocking_run(cport_op *op)
{
	struct cport__op *x = cport__x(op);
	HANDLE h = (HANDLE)x->fd;
	switch ((enum cport__type)x->type) {
	case CPORT__NOP:
		return 0;
	case CPORT__READ:
	case CPORT__WRITE:
		x->done = 0;
		return win_rw(h, x->type == CPORT__READ, x->buf, x->len, x->offset, &x->done);
	case CPORT__READV:
	case CPORT__WRITEV:
		return win_rwv(x);
	case CPORT__FSYNC:
		return win_fsync(h);
	case CPORT__OPEN:
		return win_open(x);
	case CPORT__CLOSE:
		return cport__win_close(x->fd);
	case CPORT__STAT:
		return win_stat_path(x->buf, x->buf2);
	case CPORT__FSTAT:
		return win_fill_stat(h, x->buf);
	case CPORT__FALLOCATE:
		if (x->aux & (CPORT_FALLOC_PUNCH_HOLE | CPORT_FALLOC_ZERO_RANGE))
			return win_zero_range(x);
		return win_fallocate(x);
	case CPORT__FTRUNCATE:
		return win_set_size(h, FileEndOfFileInfo, (int64_t)x->len);
	case CPORT__RENAME:
	case CPORT__UNLINK:
	case CPORT__MKDIR:
	case CPORT__LINK:
	case CPORT__SYMLINK:
	case CPORT__ACCESS:
		return win_path_op(x);
	case CPORT__OPENAT:
		return win_openat(x);
	case CPORT__READDIR:
		return win_readdir(x);
	case CPORT__STATFS:
		return win_statfs(x);
	case CPORT__READLINK:
		return win_readlink(x);
	case CPORT__LOCK:
		return win_lock(x);
	case CPORT__FADVISE:
		return 0; /* no such call (IOCP completes it without the pool) */
	case CPORT__ACCEPT:
	case CPORT__CONNECT:
	case CPORT__RECV:
	case CPORT__SEND:
	case CPORT__RECVMSG:
	case CPORT__SENDMSG:
	case CPORT__SHUTDOWN:
	case CPORT__POLL:
	case CPORT__SENDFILE:
	case CPORT__RECV_POOL:
	case CPORT__RECVMSG_POOL:
		return CPORT_ENOSYS; /* socket ops never run on the pool (lib/unix.c says why) */
	case CPORT__TIMER:
	case CPORT__POST:
	case CPORT__TYPE_MAX:
		break;
	}
	assert(!"op type has no blocking form");
	return CPORT_ENOSYS;
}

/* ---- 4b. Direct I/O rules (cport_dio_query's OS part) -------------------------------- */

/*
 * FILE_FLAG_NO_BUFFERING's rules (Microsoft, "File Buffering"): offsets and lengths in
 * multiples of the volume's logical sector size; buffer addresses aligned to the
 * physical sector size (and never less than the device's own alignment). Windows 8
 * reports them in FILE_STORAGE_INFO; where that is missing (Wine 8: not implemented),
 * the volume's sector size (FileFsSizeInformation) serves for both.
 */
static int win_dio_sectors(HANDLE h, cport_dio_info *d)
{
	FILE_STORAGE_INFO si;
	if (GetFileInformationByHandleEx(h, FileStorageInfo, &si, sizeof si) &&
	    si.LogicalBytesPerSector > 0) {
		uint32_t mem = si.PhysicalBytesPerSectorForPerformance;
		FILE_ALIGNMENT_INFO ai;
		if (GetFileInformationByHandleEx(h, FileAlignmentInfo, &ai, sizeof ai) &&
		    ai.AlignmentRequirement + 1 > mem)
			mem = ai.AlignmentRequirement + 1; /* a mask: FILE_WORD_ALIGNMENT is 1 */
		d->flags |= CPORT_DIO_EXACT;
		d->offset_align = d->read_offset_align = si.LogicalBytesPerSector;
		d->mem_align = mem > si.LogicalBytesPerSector ? mem : si.LogicalBytesPerSector;
		return 0;
	}
	FILE_FS_SIZE_INFORMATION fs;
	IO_STATUS_BLOCK iosb;
	NTSTATUS st = NtQueryVolumeInformationFile(h, &iosb, &fs, sizeof fs, FileFsSizeInformation);
	if (st < 0)
		return cport__win_error(RtlNtStatusToDosError(st));
	d->mem_align = d->offset_align = d->read_offset_align = fs.BytesPerSector;
	return 0;
}

int cport__os_dio_query(cport_fd fd, cport_dio_info *d)
{
	HANDLE h = (HANDLE)fd;
	IO_STATUS_BLOCK iosb;
	ULONG mode = 0;
	if (NtQueryInformationFile(h, &iosb, &mode, sizeof mode,
				   (FILE_INFORMATION_CLASS)FileModeInformation) >= 0 &&
	    (mode & FILE_NO_INTERMEDIATE_BUFFERING))
		d->flags |= CPORT_DIO_DIRECT;
	DWORD type = GetFileType(h);
	if (type == FILE_TYPE_UNKNOWN && GetLastError() != NO_ERROR)
		return (int)win_last();
	if (type != FILE_TYPE_DISK || win_is_dir(h))
		return 0; /* pipes, sockets, consoles, directories: no direct I/O */
	return win_dio_sectors(h, d);
}

/* CPORT_OP_INLINE on Windows: stat and fstat run here instead of on the pool. Reads
 * and writes reach the kernel in the submit call already (Windows completes cached ones
 * at once), and there is no read that is sure not to wait for the disk: they go the
 * normal way. */
bool cport__os_try(cport *port, cport_op *op, struct cport__fd *f, bool inline_ok)
{
	struct cport__op *x = cport__x(op);
	(void)f;
	if (!inline_ok || (x->type != CPORT__STAT && x->type != CPORT__FSTAT))
		return false;
	cport__complete(port, op, cport__blocking_run(op));
	return true;
}

/* ---- 5. Sockets: WinSock start, addresses, and the helpers of cport.h section 6 ---- */

_Static_assert(sizeof(((cport_addr *)0)->storage) >= sizeof(SOCKADDR_STORAGE),
	       "cport_addr must hold any sockaddr");
_Static_assert(sizeof(cport_addr) == 136, "cport_addr ABI size");

static INIT_ONCE win_wsa_once = INIT_ONCE_STATIC_INIT;
static int win_wsa_err;
static LPFN_CONNECTEX win_connectex;

/* WSAStartup once per process, and ConnectEx, which only WSAIoctl hands out. */
static BOOL CALLBACK win_wsa_start(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
	(void)once, (void)param, (void)ctx;
	WSADATA d;
	int r = WSAStartup(MAKEWORD(2, 2), &d);
	if (r != 0) {
		win_wsa_err = cport__win_error((DWORD)r);
		return TRUE;
	}
	SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
	if (s == INVALID_SOCKET) {
		win_wsa_err = cport__win_error((DWORD)WSAGetLastError());
		return TRUE;
	}
	GUID g = WSAID_CONNECTEX;
	DWORD n = 0;
	if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &g, sizeof g, &win_connectex,
		     sizeof win_connectex, &n, NULL, NULL) != 0)
		win_connectex = NULL; /* cport_connect then answers CPORT_ENOTSUP */
	closesocket(s);
	return TRUE;
}

int cport__wsa_init(void)
{
	InitOnceExecuteOnce(&win_wsa_once, win_wsa_start, NULL, NULL);
	return win_wsa_err;
}

LPFN_CONNECTEX cport__win_connectex(void)
{
	return cport__wsa_init() < 0 ? NULL : win_connectex;
}

static int win_wsa_last(void)
{
	return cport__win_error((DWORD)WSAGetLastError());
}

int cport__os_sock_name(cport_fd fd, cport_addr *a, bool peer)
{
	if (!a)
		return CPORT_EINVAL;
	if ((intptr_t)fd <= 0)
		return CPORT_EBADF;
	int r = cport__wsa_init();
	if (r < 0)
		return r;
	SOCKADDR_STORAGE ss;
	int len = sizeof ss;
	r = peer ? getpeername((SOCKET)fd, (struct sockaddr *)&ss, &len)
		 : getsockname((SOCKET)fd, (struct sockaddr *)&ss, &len);
	if (r != 0)
		return win_wsa_last();
	memset(a, 0, sizeof *a);
	memcpy(a->storage, &ss, (size_t)len);
	a->len = (uint32_t)len;
	return 0;
}

static int win_setopt(cport_fd fd, int level, int name, int v)
{
	if ((intptr_t)fd <= 0)
		return CPORT_EBADF;
	int r = cport__wsa_init();
	if (r < 0)
		return r;
	return setsockopt((SOCKET)fd, level, name, (const char *)&v, sizeof v) ? win_wsa_last() : 0;
}

/* An overlapped, non-inheritable socket (the completion port needs the first, the
 * close-on-exec promise of cport.h the second). */
int cport__win_socket(SOCKET *out, int af, int type, int proto)
{
	int r = cport__wsa_init();
	if (r < 0)
		return r;
	SOCKET s = WSASocketW(af, type, proto, NULL, 0,
			      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
	if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL) {
		/* Before Windows 7 SP1 the flag is unknown: clear inheritance by hand. */
		s = WSASocketW(af, type, proto, NULL, 0, WSA_FLAG_OVERLAPPED);
		if (s != INVALID_SOCKET)
			SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
	}
	if (s == INVALID_SOCKET)
		return win_wsa_last();
	*out = s;
	return 0;
}

/*
 * A socket of the family of `a` (IP only), bound to it. Windows' SO_REUSEADDR would let
 * another socket steal the port, and Windows already allows what Unix needs it for
 * (binding over connections in TIME_WAIT): it is not set.
 */
static int win_sock_bound(cport_fd *out, const cport_addr *a, int type, uint32_t flags)
{
	int fam = cport__addr_sa_family(a);
	if (!out || (fam != AF_INET && fam != AF_INET6) ||
	    (flags & ~(uint32_t)(CPORT_SOCK_REUSEPORT | CPORT_SOCK_V6ONLY)))
		return CPORT_EINVAL;
	if (flags & CPORT_SOCK_REUSEPORT)
		return CPORT_ENOTSUP;
	SOCKET s;
	int r = cport__win_socket(&s, fam, type, type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP);
	if (r < 0)
		return r;
	if (fam == AF_INET6)
		r = win_setopt(s, IPPROTO_IPV6, IPV6_V6ONLY, !!(flags & CPORT_SOCK_V6ONLY));
	if (r == 0 && bind(s, (const struct sockaddr *)(const void *)a->storage, (int)a->len))
		r = win_wsa_last();
	if (r < 0) {
		closesocket(s);
		return r;
	}
	*out = s;
	return 0;
}

int cport__os_tcp_listen(cport_fd *out, const cport_addr *a, int backlog, uint32_t flags)
{
	if (!out)
		return CPORT_EINVAL; /* checked before the socket exists, or it would leak */
	cport_fd fd;
	int r = win_sock_bound(&fd, a, SOCK_STREAM, flags);
	if (r < 0)
		return r;
	if (listen((SOCKET)fd, backlog > 0 ? backlog : SOMAXCONN)) {
		r = win_wsa_last();
		closesocket((SOCKET)fd);
		return r;
	}
	*out = fd;
	return 0;
}

int cport__os_tcp_socket(cport_fd *out, int family)
{
	if (!out || (family != CPORT_AF_INET && family != CPORT_AF_INET6))
		return CPORT_EINVAL;
	SOCKET s;
	int r = cport__win_socket(&s, family == CPORT_AF_INET ? AF_INET : AF_INET6, SOCK_STREAM,
			   IPPROTO_TCP);
	if (r == 0)
		*out = s;
	return r;
}

int cport__os_udp_socket(cport_fd *out, const cport_addr *a, uint32_t flags)
{
	return win_sock_bound(out, a, SOCK_DGRAM, flags);
}

int cport__os_sock_nodelay(cport_fd fd, int on)
{
	return win_setopt(fd, IPPROTO_TCP, TCP_NODELAY, !!on);
}

int cport__os_sock_keepalive(cport_fd fd, int on, uint32_t idle_s)
{
	int r = win_setopt(fd, SOL_SOCKET, SO_KEEPALIVE, !!on);
	if (r == 0 && on && idle_s > 0) {
		/* SIO_KEEPALIVE_VALS: the one way to set the idle time before Windows 10. */
		struct tcp_keepalive k = {.onoff = 1,
					  .keepalivetime = idle_s > 4000000 ? 4000000000u
									    : idle_s * 1000u,
					  .keepaliveinterval = 1000};
		DWORD n = 0;
		if (WSAIoctl((SOCKET)fd, SIO_KEEPALIVE_VALS, &k, sizeof k, NULL, 0, &n, NULL, NULL))
			r = win_wsa_last();
	}
	return r;
}

/* A blocking call on a synchronous handle (a console read above all) stops when
 * CancelSynchronousIo names the thread that makes it, with ERROR_OPERATION_ABORTED: the
 * op then completes with CPORT_ECANCELED. */
void cport__os_thread_self(struct cport__os_thread *t)
{
	t->handle = OpenThread(THREAD_TERMINATE | SYNCHRONIZE, FALSE, GetCurrentThreadId());
}

void cport__os_thread_interrupt(struct cport__os_thread *t)
{
	if (t->handle)
		CancelSynchronousIo((HANDLE)t->handle);
}

void cport__os_thread_release(struct cport__os_thread *t)
{
	if (t->handle)
		CloseHandle((HANDLE)t->handle);
	t->handle = NULL;
}

int cport__os_fd_dup(cport_fd fd, cport_fd *out)
{
	HANDLE self = GetCurrentProcess(), d;
	if (!DuplicateHandle(self, (HANDLE)fd, self, &d, 0, FALSE, DUPLICATE_SAME_ACCESS))
		return win_last();
	*out = (cport_fd)d;
	return 0;
}

void cport__os_fd_close(cport_fd fd)
{
	CloseHandle((HANDLE)fd);
}

/* Windows hands out handle values that are multiples of 4 (console handles too, since
 * Windows 8); any other value is no handle of ours, whatever GetHandleInformation says
 * (Wine 8 accepts 0x7fffffff). */
bool cport__os_fd_valid(cport_fd fd)
{
	DWORD flags;
	return (intptr_t)fd > 0 && (fd & 3) == 0 && GetHandleInformation((HANDLE)fd, &flags);
}

int cport__os_sock_close(cport_fd fd)
{
	if ((intptr_t)fd <= 0)
		return CPORT_EBADF;
	return (int)cport__win_close(fd);
}

/* ---- 6. Local streams: named pipes ------------------------------------------------- */

/*
 * cport_local_listen(name) makes the pipe \\.\pipe\cport-<name> ('\' becomes '/'). The
 * listener's cport_fd is the pipe's first instance, kept busy by a client end of our
 * own (the plug) so that no real client lands on it; a spare instance waits for the
 * next client, and each accept takes the spare (ConnectNamedPipe on it) and leaves a
 * new one. The listeners live in a process-wide list that cport__win_close consults.
 */
struct win_lsn {
	HANDLE l, plug, spare;
	wchar_t *name;
	struct win_lsn *next;
};

static SRWLOCK win_lsn_lock = SRWLOCK_INIT;
static struct win_lsn *win_lsns;

#define WIN_PIPE_PREFIX L"\\\\.\\pipe\\cport-"

static wchar_t *win_pipe_name(const char *name, int *err)
{
	if (!name || !name[0]) {
		*err = CPORT_EINVAL;
		return NULL;
	}
	int64_t e = 0;
	wchar_t *w = win_wpath(name, &e);
	if (!w) {
		*err = (int)e;
		return NULL;
	}
	size_t n = wcslen(w), pre = wcslen(WIN_PIPE_PREFIX);
	if (pre + n > 256) { /* the longest pipe name Windows takes */
		free(w);
		*err = CPORT_ENAMETOOLONG;
		return NULL;
	}
	wchar_t *full = malloc((pre + n + 1) * sizeof *full);
	if (!full) {
		free(w);
		*err = CPORT_ENOMEM;
		return NULL;
	}
	memcpy(full, WIN_PIPE_PREFIX, pre * sizeof *full);
	for (size_t i = 0; i <= n; i++)
		full[pre + i] = w[i] == L'\\' ? L'/' : w[i];
	free(w);
	return full;
}

static HANDLE win_pipe_instance(const wchar_t *name, bool first)
{
	DWORD open = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
		     (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
	return CreateNamedPipeW(name, open, PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT,
				PIPE_UNLIMITED_INSTANCES, 65536, 65536, 0, NULL);
}

/* Does a pipe of that name exist? FILE_FLAG_FIRST_PIPE_INSTANCE says so on Windows,
 * not on Wine 8: ask our listeners, then the system (without connecting to it). */
static bool win_pipe_taken(const wchar_t *name)
{
	bool taken = false;
	AcquireSRWLockShared(&win_lsn_lock);
	for (struct win_lsn *ls = win_lsns; ls && !taken; ls = ls->next)
		taken = wcscmp(ls->name, name) == 0;
	ReleaseSRWLockShared(&win_lsn_lock);
	return taken || WaitNamedPipeW(name, 1) || GetLastError() != ERROR_FILE_NOT_FOUND;
}

int cport__os_local_listen(cport_fd *out, const char *name, int backlog)
{
	(void)backlog; /* each accept in flight, plus one spare, is the backlog */
	int r = CPORT_EINVAL;
	wchar_t *w = out ? win_pipe_name(name, &r) : NULL;
	if (!w)
		return r;
	struct win_lsn *ls = calloc(1, sizeof *ls);
	if (!ls) {
		free(w);
		return CPORT_ENOMEM;
	}
	ls->name = w;
	if (win_pipe_taken(w)) {
		free(w);
		free(ls);
		return CPORT_EADDRINUSE;
	}
	ls->l = win_pipe_instance(w, true);
	if (ls->l == INVALID_HANDLE_VALUE) {
		DWORD e = GetLastError();
		r = e == ERROR_ACCESS_DENIED || e == ERROR_PIPE_BUSY ? CPORT_EADDRINUSE
								      : cport__win_error(e);
		free(w);
		free(ls);
		return r;
	}
	ls->plug = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
	ls->spare = ls->plug == INVALID_HANDLE_VALUE ? INVALID_HANDLE_VALUE
						     : win_pipe_instance(w, false);
	if (ls->spare == INVALID_HANDLE_VALUE) {
		r = (int)win_last();
		if (ls->plug != INVALID_HANDLE_VALUE)
			CloseHandle(ls->plug);
		CloseHandle(ls->l);
		free(w);
		free(ls);
		return r;
	}
	AcquireSRWLockExclusive(&win_lsn_lock);
	ls->next = win_lsns;
	win_lsns = ls;
	ReleaseSRWLockExclusive(&win_lsn_lock);
	*out = (cport_fd)ls->l;
	return 0;
}

/* Take the waiting instance of the local listener `fd` for an accept (a new spare takes
 * its place). Returns 0, 1 if `fd` is not a local listener, or a CPORT_E* code. */
int cport__win_local_take(cport_fd fd, HANDLE *inst)
{
	int r = 1;
	AcquireSRWLockExclusive(&win_lsn_lock);
	for (struct win_lsn *ls = win_lsns; ls; ls = ls->next) {
		if (ls->l != (HANDLE)fd)
			continue;
		r = 0;
		if (ls->spare == INVALID_HANDLE_VALUE)
			ls->spare = win_pipe_instance(ls->name, false);
		if (ls->spare == INVALID_HANDLE_VALUE) {
			r = (int)win_last();
			break;
		}
		*inst = ls->spare;
		ls->spare = win_pipe_instance(ls->name, false);
		break;
	}
	ReleaseSRWLockExclusive(&win_lsn_lock);
	return r;
}

bool cport__win_local_is(cport_fd fd)
{
	bool found = false;
	AcquireSRWLockShared(&win_lsn_lock);
	for (struct win_lsn *ls = win_lsns; ls && !found; ls = ls->next)
		found = ls->l == (HANDLE)fd;
	ReleaseSRWLockShared(&win_lsn_lock);
	return found;
}

int cport__os_local_connect(cport_fd *out, const char *name)
{
	int r = CPORT_EINVAL;
	wchar_t *w = out ? win_pipe_name(name, &r) : NULL;
	if (!w)
		return r;
	HANDLE h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
			       FILE_FLAG_OVERLAPPED, NULL);
	DWORD e = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
	free(w);
	if (e == ERROR_PIPE_BUSY)
		return CPORT_EAGAIN; /* every instance is taken: the backlog is full */
	if (e)
		return cport__win_error(e);
	*out = (cport_fd)h;
	return 0;
}

/* Close any descriptor cport made: a local listener (its instances too), a socket
 * (closesocket), or another handle. Every port then knows the value may be reused
 * (the close generation, lib/fdstate.c). */
int64_t cport__win_close(cport_fd fd)
{
	cport__fd_gen_bump(fd);
	struct win_lsn *ls, **pp;
	AcquireSRWLockExclusive(&win_lsn_lock);
	for (pp = &win_lsns; (ls = *pp) != NULL; pp = &ls->next)
		if (ls->l == (HANDLE)fd) {
			*pp = ls->next;
			break;
		}
	ReleaseSRWLockExclusive(&win_lsn_lock);
	if (ls) {
		if (ls->spare != INVALID_HANDLE_VALUE)
			CloseHandle(ls->spare);
		CloseHandle(ls->plug);
		BOOL ok = CloseHandle(ls->l);
		free(ls->name);
		free(ls);
		return win_ok(ok);
	}
	HANDLE h = (HANDLE)fd;
	if (GetFileType(h) == FILE_TYPE_PIPE && cport__wsa_init() == 0) {
		/* Sockets and pipes both say FILE_TYPE_PIPE: ask WinSock first. */
		if (closesocket((SOCKET)fd) == 0)
			return 0;
		if (WSAGetLastError() != WSAENOTSOCK)
			return win_wsa_last();
	}
	return win_ok(CloseHandle(h));
}
