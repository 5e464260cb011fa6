// SPDX-License-Identifier: MIT
// Zig module over cport.h: CPORT_E* codes as an error set, an ABI check and a thin Port wrapper.

//! `c` is the whole C API as @cImport translates it; the rest is a thin layer:
//!   - `Error`: one Zig error per CPORT_E* code (the C name without the prefix),
//!     `fromCode`/`toCode` between them, `check` for a submit call's return value and
//!     `result` for a completed op's.
//!   - `checkAbi`: every public struct as Zig sees it has the size the library was built
//!     with (cport_struct_size), and the library has the header's major version (and,
//!     while it is 0, its minor). Port.init runs it.
//!   - `Port`: create/destroy and the common submit calls, with slices for buffers.
//! Ops are caller-owned as in C: a `*Op` (zero it first, see `zeroOp`) and the buffers
//! it names must stay put from a successful submit until `wait` returns the op.

const std = @import("std");

pub const c = @cImport({
    @cInclude("cport.h");
});

pub const Op = c.cport_op;
pub const Fd = c.cport_fd;
pub const Addr = c.cport_addr;
pub const Statbuf = c.cport_statbuf;
pub const Iovec = c.cport_iovec;
pub const Msg = c.cport_msg;
pub const Dirent = c.cport_dirent;
pub const Statfsbuf = c.cport_statfsbuf;
pub const DioInfo = c.cport_dio_info;
pub const SimProfile = c.cport_sim_profile;
pub const SimDisk = c.cport_sim_disk;

// ---- Errors ------------------------------------------------------------------------

/// Every CPORT_E* code, named as in C without "CPORT_E" (CPORT_ECANCELED is
/// error.CANCELED), and Unknown for a negative value the header does not name.
pub const Error = error{
    PERM,
    NOENT,
    INTR,
    IO,
    NXIO,
    BADF,
    AGAIN,
    NOMEM,
    ACCES,
    FAULT,
    BUSY,
    EXIST,
    XDEV,
    NODEV,
    NOTDIR,
    ISDIR,
    INVAL,
    NFILE,
    MFILE,
    FBIG,
    NOSPC,
    SPIPE,
    ROFS,
    PIPE,
    NAMETOOLONG,
    NOSYS,
    NOTEMPTY,
    LOOP,
    OVERFLOW,
    NOTSOCK,
    DESTADDRREQ,
    MSGSIZE,
    PROTONOSUPPORT,
    NOTSUP,
    AFNOSUPPORT,
    ADDRINUSE,
    ADDRNOTAVAIL,
    NETDOWN,
    NETUNREACH,
    CONNABORTED,
    CONNRESET,
    NOBUFS,
    ISCONN,
    NOTCONN,
    SHUTDOWN,
    TIMEDOUT,
    CONNREFUSED,
    HOSTUNREACH,
    ALREADY,
    INPROGRESS,
    CANCELED,
    Unknown,
};

/// The C constant of each error but Unknown, found by name at compile time: a name
/// missing from cport.h does not compile.
fn codeOf(comptime name: []const u8) c_int {
    return @field(c, "CPORT_E" ++ name);
}

const error_names = blk: {
    const set = @typeInfo(Error).ErrorSet.?;
    var names: [set.len - 1][]const u8 = undefined;
    var n: usize = 0;
    for (set) |e| {
        if (std.mem.eql(u8, e.name, "Unknown")) continue;
        names[n] = e.name;
        n += 1;
    }
    break :blk names;
};

/// The error of a negative CPORT_E* code.
pub fn fromCode(code: i64) Error {
    inline for (error_names) |name| {
        if (code == codeOf(name)) return @field(Error, name);
    }
    return error.Unknown;
}

/// The CPORT_E* code of an error (CPORT_EINVAL stands in for Unknown).
pub fn toCode(err: Error) c_int {
    inline for (error_names) |name| {
        if (err == @field(Error, name)) return codeOf(name);
    }
    return c.CPORT_EINVAL;
}

/// A C call's return value: >= 0 as it is, < 0 as its error.
pub fn check(rc: c_int) Error!u32 {
    if (rc < 0) return fromCode(rc);
    return @intCast(rc);
}

/// A completed op's result: the value (bytes, descriptor, events) or its error.
pub fn result(op: *const Op) Error!u64 {
    if (op.result < 0) return fromCode(op.result);
    return @intCast(op.result);
}

/// cport_strerror's text for an error.
pub fn describe(err: Error) []const u8 {
    return std.mem.span(c.cport_strerror(toCode(err)));
}

/// cport_err_name: the code's name without the prefix ("ECANCELED").
pub fn errName(err: Error) []const u8 {
    return std.mem.span(c.cport_err_name(toCode(err)));
}

// ---- Version and ABI ---------------------------------------------------------------

// The header's promise on 64-bit targets, checked when this module compiles.
comptime {
    if (@sizeOf(usize) == 8) {
        std.debug.assert(@sizeOf(Op) == 224);
        std.debug.assert(@sizeOf(Addr) == 136);
    }
    std.debug.assert(@sizeOf(Statbuf) == 256);
    // The header's _Static_asserts; cport_dirent and cport_statfsbuf have no
    // CPORT_STRUCT_* value, so this is their only check. Same layout everywhere.
    std.debug.assert(@sizeOf(Dirent) == 16);
    std.debug.assert(@sizeOf(Statfsbuf) == 64);
    std.debug.assert(@sizeOf(DioInfo) == 64);
}

pub const AbiError = error{AbiMismatch};

/// The structs as Zig lays them out have the sizes the library was built with, and
/// the library's version fits the header's.
pub fn checkAbi() AbiError!void {
    const pairs = .{
        .{ c.CPORT_STRUCT_OP, @sizeOf(c.cport_op) },
        .{ c.CPORT_STRUCT_OPTIONS, @sizeOf(c.cport_options) },
        .{ c.CPORT_STRUCT_STATBUF, @sizeOf(c.cport_statbuf) },
        .{ c.CPORT_STRUCT_ADDR, @sizeOf(c.cport_addr) },
        .{ c.CPORT_STRUCT_IOVEC, @sizeOf(c.cport_iovec) },
        .{ c.CPORT_STRUCT_MSG, @sizeOf(c.cport_msg) },
        .{ c.CPORT_STRUCT_DIO_INFO, @sizeOf(c.cport_dio_info) },
        .{ c.CPORT_STRUCT_SIM_PROFILE, @sizeOf(c.cport_sim_profile) },
    };
    inline for (pairs) |p| {
        if (c.cport_struct_size(p[0]) != p[1]) return error.AbiMismatch;
    }
    const lib = c.cport_version();
    const major = lib >> 16;
    const minor = (lib >> 8) & 0xff;
    if (major != c.CPORT_VERSION_MAJOR) return error.AbiMismatch;
    if (major == 0 and minor != c.CPORT_VERSION_MINOR) return error.AbiMismatch;
}

/// An op ready for its first submit.
pub fn zeroOp() Op {
    return std.mem.zeroes(Op);
}

/// The library's version as text ("0.2.0").
pub fn versionString() []const u8 {
    return std.mem.span(c.cport_version_string());
}

/// The monotonic clock of absolute timers, in nanoseconds.
pub fn nowNs() u64 {
    return c.cport_now_ns();
}

// ---- The simulation (backend "sim", cport.h section 8; plain calls, not ops) --------

/// A profile with every field at its default (zero) but `size`: set the fields wanted,
/// then pass it as Options.sim with .backend = "sim".
pub fn simProfile() SimProfile {
    var p = std.mem.zeroes(SimProfile);
    p.size = @sizeOf(SimProfile);
    return p;
}

/// A new, empty disk of files in memory (cport_sim_disk_create).
pub fn simDiskCreate() Error!*SimDisk {
    var d: ?*SimDisk = null;
    _ = try check(c.cport_sim_disk_create(&d));
    return d.?;
}

/// Free a disk; error.BUSY (and nothing freed) while a port uses it.
pub fn simDiskDestroy(disk: *SimDisk) Error!void {
    _ = try check(c.cport_sim_disk_destroy(disk));
}

/// A power cut: drops what no flush made durable (flags: c.CPORT_SIM_TEAR tears the last
/// write of each file). Returns the number of files whose contents changed.
pub fn simDiskCrash(disk: *SimDisk, seed: u64, flags: u32) Error!u32 {
    return check(c.cport_sim_disk_crash(disk, seed, flags));
}

// ---- Direct I/O (plain calls, not ops) ----------------------------------------------

/// The direct-I/O rules of the open descriptor `fd` (cport_dio_query).
pub fn dioQuery(fd: Fd) Error!DioInfo {
    var info = std.mem.zeroes(DioInfo);
    info.size = @sizeOf(DioInfo);
    _ = try check(c.cport_dio_query(fd, &info));
    return info;
}

/// `size` bytes (not zeroed) at a multiple of `alignment` (a power of two), for direct
/// I/O; free with freeAligned.
pub fn allocAligned(size: usize, alignment: usize) Error![]u8 {
    var p: ?*anyopaque = null;
    _ = try check(c.cport_alloc_aligned(&p, size, alignment));
    const bytes: [*]u8 = @ptrCast(p.?);
    return bytes[0..size];
}

pub fn freeAligned(buf: []u8) void {
    c.cport_free_aligned(buf.ptr);
}

// ---- Directory entries --------------------------------------------------------------

/// One entry of a readdir buffer: its inode, CPORT_DT_* type and name.
pub const Entry = struct {
    ino: u64,
    kind: u8,
    name: []const u8,
};

/// Walks the `n` bytes of cport_dirent records a readdir completed with (op.result).
pub const DirentIterator = struct {
    buf: []align(8) const u8,
    at: usize = 0,

    pub fn next(self: *DirentIterator) ?Entry {
        if (self.at + @sizeOf(Dirent) > self.buf.len) return null;
        const d: *const Dirent = @ptrCast(@alignCast(self.buf[self.at..].ptr));
        const name_at = self.at + @sizeOf(Dirent);
        // Never from cport; stops a walk of a damaged buffer before it reads past it.
        if (d.reclen < @sizeOf(Dirent) + @as(usize, d.namelen) + 1) return null;
        if (self.at + d.reclen > self.buf.len) return null;
        self.at += d.reclen;
        return .{ .ino = d.ino, .kind = d.type, .name = self.buf[name_at .. name_at + d.namelen] };
    }
};

/// The entries in the first `n` bytes of `buf` after a readdir completed with n.
pub fn dirents(buf: []align(8) const u8, n: u64) DirentIterator {
    return .{ .buf = buf[0..@min(buf.len, n)] };
}

// ---- Addresses and socket helpers (plain calls, not ops) -----------------------------

/// Parse "a.b.c.d:port" or "[v6]:port" (numeric only).
pub fn addrParse(text: [*:0]const u8) Error!Addr {
    var a = std.mem.zeroes(Addr);
    _ = try check(c.cport_addr_parse(&a, text));
    return a;
}

/// The text form of `addr` in `buf`; the part of `buf` written.
pub fn addrFormat(addr: *const Addr, buf: []u8) Error![]u8 {
    const n = try check(c.cport_addr_format(addr, buf.ptr, buf.len));
    return buf[0..n];
}

/// CPORT_AF_* of an address.
pub fn addrFamily(addr: *const Addr) c_int {
    return c.cport_addr_family(addr);
}

/// The port number of an IP address.
pub fn addrPort(addr: *const Addr) Error!u16 {
    return @intCast(try check(c.cport_addr_port(addr)));
}

pub fn sockLocal(fd: Fd) Error!Addr {
    var a = std.mem.zeroes(Addr);
    _ = try check(c.cport_sock_local(fd, &a));
    return a;
}

pub fn sockPeer(fd: Fd) Error!Addr {
    var a = std.mem.zeroes(Addr);
    _ = try check(c.cport_sock_peer(fd, &a));
    return a;
}

/// A listening TCP socket bound to `addr` (c.CPORT_SOCK_* flags).
pub fn tcpListen(addr: *const Addr, backlog: c_int, flags: u32) Error!Fd {
    var fd: Fd = undefined;
    _ = try check(c.cport_tcp_listen(&fd, addr, backlog, flags));
    return fd;
}

/// A TCP socket of c.CPORT_AF_INET or c.CPORT_AF_INET6, for Port.connect.
pub fn tcpSocket(family: c_int) Error!Fd {
    var fd: Fd = undefined;
    _ = try check(c.cport_tcp_socket(&fd, family));
    return fd;
}

pub fn udpSocket(addr: *const Addr, flags: u32) Error!Fd {
    var fd: Fd = undefined;
    _ = try check(c.cport_udp_socket(&fd, addr, flags));
    return fd;
}

pub fn localListen(name: [*:0]const u8, backlog: c_int) Error!Fd {
    var fd: Fd = undefined;
    _ = try check(c.cport_local_listen(&fd, name, backlog));
    return fd;
}

pub fn localConnect(name: [*:0]const u8) Error!Fd {
    var fd: Fd = undefined;
    _ = try check(c.cport_local_connect(&fd, name));
    return fd;
}

pub fn sockNodelay(fd: Fd, on: bool) Error!void {
    _ = try check(c.cport_sock_nodelay(fd, @intFromBool(on)));
}

pub fn sockKeepalive(fd: Fd, on: bool, idle_s: u32) Error!void {
    _ = try check(c.cport_sock_keepalive(fd, @intFromBool(on), idle_s));
}

/// Close a descriptor at once, without an op (only when no op is in flight on it).
pub fn sockClose(fd: Fd) Error!void {
    _ = try check(c.cport_sock_close(fd));
}

/// The id of the pool buffer a completed pool receive carries (c.CPORT_BUF in
/// op.cflags), or null if it carries none.
pub fn opBufId(op: *const Op) ?u16 {
    const id = c.cport_op_buf_id(op);
    if (id < 0) return null;
    return @intCast(id);
}

// ---- The port ----------------------------------------------------------------------

pub const Options = struct {
    /// "io_uring", "epoll", "poll", "kqueue", "iocp", "sim"; null: $CPORT_BACKEND or the
    /// best ("sim" is never chosen unless named).
    backend: ?[*:0]const u8 = null,
    /// Fail instead of falling back when the preferred backend cannot start.
    strict: bool = false,
    queue_depth: u32 = 0,
    pool_threads: u32 = 0,
    /// CPORT_OPT_SHARED: any thread may submit and wait; `concurrency` threads at most
    /// run completions at once (0: the number of CPUs). See cport.h section 3b.
    shared: bool = false,
    concurrency: u32 = 0,
    /// Backend "sim" only: its seed, latencies, faults and disk (see simProfile);
    /// null: the defaults. Read by init only.
    sim: ?*const SimProfile = null,
};

/// A completion port. Submit and wait from one thread at a time (see cport.h).
pub const Port = struct {
    raw: *c.cport,

    pub fn init(options: Options) (Error || AbiError)!Port {
        try checkAbi();
        var o: c.cport_options = undefined;
        c.cport_options_init(&o);
        o.backend = options.backend;
        o.flags = (if (options.strict) @as(u32, c.CPORT_OPT_STRICT) else 0) |
            (if (options.shared) @as(u32, c.CPORT_OPT_SHARED) else 0);
        o.concurrency = options.concurrency;
        o.queue_depth = options.queue_depth;
        o.pool_threads = options.pool_threads;
        o.sim = options.sim;
        var raw: ?*c.cport = null;
        _ = try check(c.cport_create(&raw, &o));
        return .{ .raw = raw.? };
    }

    /// A shared port: every thread waiting in it, and every later call, returns
    /// error.SHUTDOWN; then deinit (cport_stop).
    pub fn stop(self: Port) Error!void {
        _ = try check(c.cport_stop(self.raw));
    }

    /// Stops every op in flight; none is touched once this returns.
    pub fn deinit(self: *Port) void {
        c.cport_destroy(self.raw);
        self.* = undefined;
    }

    pub fn backendName(self: Port) []const u8 {
        return std.mem.span(c.cport_backend_name(self.raw));
    }

    /// Why preferred backends were refused before this one started ("" if none).
    pub fn backendReason(self: Port) []const u8 {
        return std.mem.span(c.cport_backend_reason(self.raw));
    }

    /// The port's clock: nowNs() on every backend but "sim", whose virtual clock runs
    /// this port's timers and timeouts (cport_clock_ns).
    pub fn clockNs(self: Port) u64 {
        return c.cport_clock_ns(self.raw);
    }

    /// A connected stream pair on a "sim" port; close both ends with close().
    pub fn simSocketpair(self: Port) Error![2]Fd {
        var fds: [2]Fd = undefined;
        _ = try check(c.cport_sim_socketpair(self.raw, &fds));
        return fds;
    }

    /// The hash of every event so far on a "sim" port (0 on other backends).
    pub fn simTraceHash(self: Port) u64 {
        return c.cport_sim_trace_hash(self.raw);
    }

    /// The trace's text (kept with c.CPORT_SIM_TRACE) copied into `buf` and NUL-ended,
    /// cut to fit; returns the text's full length (which may exceed buf.len - 1).
    pub fn simTrace(self: Port, buf: []u8) Error!usize {
        const n = c.cport_sim_trace(self.raw, buf.ptr, buf.len);
        if (n < 0) return fromCode(n);
        return @intCast(n);
    }

    pub fn nop(self: Port, op: *Op) Error!void {
        _ = try check(c.cport_nop(self.raw, op));
    }

    /// Completes with 0 after `ns` nanoseconds (or at `ns` with c.CPORT_TIMER_ABS).
    pub fn timer(self: Port, op: *Op, ns: u64, flags: u32) Error!void {
        _ = try check(c.cport_timer(self.raw, op, ns, flags));
    }

    /// Safe from any thread.
    pub fn post(self: Port, op: *Op, value: i64) Error!void {
        _ = try check(c.cport_post(self.raw, op, value));
    }

    /// Read into `buf` at `offset` (-1: position / stream). result: bytes read.
    pub fn read(self: Port, op: *Op, fd: Fd, buf: []u8, offset: i64) Error!void {
        _ = try check(c.cport_read(self.raw, op, fd, buf.ptr, buf.len, offset));
    }

    /// Write all of `buf` at `offset` (-1: position / stream). result: buf.len.
    pub fn write(self: Port, op: *Op, fd: Fd, buf: []const u8, offset: i64) Error!void {
        _ = try check(c.cport_write(self.raw, op, fd, buf.ptr, buf.len, offset));
    }

    /// Vectored read/write over `iov` (1..1024 buffers, kept valid until completion).
    pub fn readv(self: Port, op: *Op, fd: Fd, iov: []const Iovec, offset: i64) Error!void {
        _ = try check(c.cport_readv(self.raw, op, fd, iov.ptr, @intCast(iov.len), offset));
    }

    pub fn writev(self: Port, op: *Op, fd: Fd, iov: []const Iovec, offset: i64) Error!void {
        _ = try check(c.cport_writev(self.raw, op, fd, iov.ptr, @intCast(iov.len), offset));
    }

    /// fsync, or fdatasync with c.CPORT_FSYNC_DATA in `flags`.
    pub fn fsync(self: Port, op: *Op, fd: Fd, flags: u32) Error!void {
        _ = try check(c.cport_fsync(self.raw, op, fd, flags));
    }

    /// Write back [offset, offset + len) (len 0: to the end); `flags` must be 0. Much
    /// weaker than fsync: read cport.h.
    pub fn fsyncRange(self: Port, op: *Op, fd: Fd, flags: u32, offset: i64, len: i64) Error!void {
        _ = try check(c.cport_fsync_range(self.raw, op, fd, flags, offset, len));
    }

    /// Open `path` (c.CPORT_O_* flags). result: the descriptor.
    pub fn open(self: Port, op: *Op, path: [*:0]const u8, flags: u32, mode: u32) Error!void {
        _ = try check(c.cport_open(self.raw, op, path, flags, mode));
    }

    pub fn close(self: Port, op: *Op, fd: Fd) Error!void {
        _ = try check(c.cport_close(self.raw, op, fd));
    }

    pub fn stat(self: Port, op: *Op, path: [*:0]const u8, st: *Statbuf) Error!void {
        _ = try check(c.cport_stat(self.raw, op, path, st));
    }

    pub fn fstat(self: Port, op: *Op, fd: Fd, st: *Statbuf) Error!void {
        _ = try check(c.cport_fstat(self.raw, op, fd, st));
    }

    pub fn fallocate(self: Port, op: *Op, fd: Fd, flags: u32, offset: i64, len: i64) Error!void {
        _ = try check(c.cport_fallocate(self.raw, op, fd, flags, offset, len));
    }

    pub fn ftruncate(self: Port, op: *Op, fd: Fd, len: i64) Error!void {
        _ = try check(c.cport_ftruncate(self.raw, op, fd, len));
    }

    pub fn rename(self: Port, op: *Op, from: [*:0]const u8, to: [*:0]const u8) Error!void {
        _ = try check(c.cport_rename(self.raw, op, from, to));
    }

    pub fn unlink(self: Port, op: *Op, path: [*:0]const u8, flags: u32) Error!void {
        _ = try check(c.cport_unlink(self.raw, op, path, flags));
    }

    pub fn mkdir(self: Port, op: *Op, path: [*:0]const u8, mode: u32) Error!void {
        _ = try check(c.cport_mkdir(self.raw, op, path, mode));
    }

    /// Which way an op of `kind` (c.CPORT_KIND_*) on `fd` goes now: c.CPORT_ROUTE_*.
    pub fn route(self: Port, kind: u32, fd: Fd) Error!u32 {
        return check(c.cport_route(self.raw, kind, fd));
    }

    // Section 4c: directories, file systems and file locks.

    /// Open `path` relative to the directory `dir` (or c.CPORT_AT_CWD).
    pub fn openat(self: Port, op: *Op, dir: Fd, path: [*:0]const u8, flags: u32, mode: u32) Error!void {
        _ = try check(c.cport_openat(self.raw, op, dir, path, flags, mode));
    }

    /// Read entries of `dir` into `buf` (>= c.CPORT_READDIR_MIN bytes); walk them with
    /// `dirents(buf, result)`.
    pub fn readdir(self: Port, op: *Op, dir: Fd, buf: []align(8) u8, flags: u32) Error!void {
        _ = try check(c.cport_readdir(self.raw, op, dir, buf.ptr, buf.len, flags));
    }

    pub fn statfs(self: Port, op: *Op, path: [*:0]const u8, st: *Statfsbuf) Error!void {
        _ = try check(c.cport_statfs(self.raw, op, path, st));
    }

    /// c.CPORT_FADV_* advice for [offset, offset + len) (len 0: to the end).
    pub fn fadvise(self: Port, op: *Op, fd: Fd, offset: i64, len: i64, advice: u32) Error!void {
        _ = try check(c.cport_fadvise(self.raw, op, fd, offset, len, advice));
    }

    pub fn link(self: Port, op: *Op, from: [*:0]const u8, to: [*:0]const u8) Error!void {
        _ = try check(c.cport_link(self.raw, op, from, to));
    }

    pub fn symlink(self: Port, op: *Op, target: [*:0]const u8, path: [*:0]const u8, flags: u32) Error!void {
        _ = try check(c.cport_symlink(self.raw, op, target, path, flags));
    }

    /// The link's text and a NUL into `buf`; result: its length.
    pub fn readlink(self: Port, op: *Op, path: [*:0]const u8, buf: []u8) Error!void {
        _ = try check(c.cport_readlink(self.raw, op, path, buf.ptr, buf.len));
    }

    /// rename with c.CPORT_RENAME_NOREPLACE or c.CPORT_RENAME_EXCHANGE.
    pub fn rename2(self: Port, op: *Op, from: [*:0]const u8, to: [*:0]const u8, flags: u32) Error!void {
        _ = try check(c.cport_rename2(self.raw, op, from, to, flags));
    }

    /// c.CPORT_F_OK, or c.CPORT_R_OK | c.CPORT_W_OK | c.CPORT_X_OK.
    pub fn access(self: Port, op: *Op, path: [*:0]const u8, mode: u32) Error!void {
        _ = try check(c.cport_access(self.raw, op, path, mode));
    }

    /// c.CPORT_LOCK_SHARED or _EXCLUSIVE, with _NOWAIT to fail at once (error.AGAIN).
    pub fn lock(self: Port, op: *Op, fd: Fd, offset: i64, len: i64, flags: u32) Error!void {
        _ = try check(c.cport_lock(self.raw, op, fd, offset, len, flags));
    }

    pub fn unlock(self: Port, op: *Op, fd: Fd, offset: i64, len: i64) Error!void {
        _ = try check(c.cport_unlock(self.raw, op, fd, offset, len));
    }

    // Section 4d: registered buffers and files. The memory stays the caller's and
    // must outlive the registration.

    pub fn registerBuffers(self: Port, iov: []const Iovec) Error!void {
        _ = try check(c.cport_register_buffers(self.raw, iov.ptr, @intCast(iov.len)));
    }

    pub fn unregisterBuffers(self: Port) Error!void {
        _ = try check(c.cport_unregister_buffers(self.raw));
    }

    /// read at `offset` into `buf`, which lies inside registered buffer `index`.
    pub fn readFixed(self: Port, op: *Op, fd: Fd, buf: []u8, offset: i64, index: u32) Error!void {
        _ = try check(c.cport_read_fixed(self.raw, op, fd, buf.ptr, buf.len, offset, index));
    }

    pub fn writeFixed(self: Port, op: *Op, fd: Fd, buf: []const u8, offset: i64, index: u32) Error!void {
        _ = try check(c.cport_write_fixed(self.raw, op, fd, buf.ptr, buf.len, offset, index));
    }

    pub fn registerFiles(self: Port, fds: []const Fd) Error!void {
        _ = try check(c.cport_register_files(self.raw, fds.ptr, @intCast(fds.len)));
    }

    pub fn unregisterFiles(self: Port) Error!void {
        _ = try check(c.cport_unregister_files(self.raw));
    }

    pub fn recv(self: Port, op: *Op, fd: Fd, buf: []u8) Error!void {
        _ = try check(c.cport_recv(self.raw, op, fd, buf.ptr, buf.len, 0));
    }

    pub fn send(self: Port, op: *Op, fd: Fd, buf: []const u8) Error!void {
        return self.sendFlags(op, fd, buf, 0);
    }

    /// send with c.CPORT_SEND_ZC or c.CPORT_SEND_NOZC; c.CPORT_ZC in op.cflags after a
    /// zero-copy one.
    pub fn sendFlags(self: Port, op: *Op, fd: Fd, buf: []const u8, flags: u32) Error!void {
        _ = try check(c.cport_send(self.raw, op, fd, buf.ptr, buf.len, flags));
    }

    /// Accept on a listening socket (c.CPORT_ACCEPT_MULTISHOT: `peer` must be null).
    pub fn accept(self: Port, op: *Op, fd: Fd, peer: ?*Addr, flags: u32) Error!void {
        _ = try check(c.cport_accept(self.raw, op, fd, peer, flags));
    }

    pub fn connect(self: Port, op: *Op, fd: Fd, addr: *const Addr) Error!void {
        _ = try check(c.cport_connect(self.raw, op, fd, addr));
    }

    pub fn recvmsg(self: Port, op: *Op, fd: Fd, msg: *Msg) Error!void {
        _ = try check(c.cport_recvmsg(self.raw, op, fd, msg));
    }

    pub fn sendmsg(self: Port, op: *Op, fd: Fd, msg: *Msg) Error!void {
        _ = try check(c.cport_sendmsg(self.raw, op, fd, msg));
    }

    pub fn shutdown(self: Port, op: *Op, fd: Fd, how: u32) Error!void {
        _ = try check(c.cport_shutdown(self.raw, op, fd, how));
    }

    pub fn poll(self: Port, op: *Op, fd: Fd, events: u32) Error!void {
        _ = try check(c.cport_poll(self.raw, op, fd, events));
    }

    pub fn sendfile(self: Port, op: *Op, sock: Fd, file: Fd, offset: i64, len: usize) Error!void {
        _ = try check(c.cport_sendfile(self.raw, op, sock, file, offset, len));
    }

    // Section 6b: buffer pools and pool receives. The pool's memory stays the
    // caller's until bufpoolRemove or deinit.

    /// Add a pool of mem.len / size buffers of `size` bytes; returns its group.
    pub fn bufpoolAdd(self: Port, mem: []u8, size: u32) Error!u16 {
        var group: u16 = undefined;
        const count: u32 = @intCast(mem.len / @max(size, 1));
        _ = try check(c.cport_bufpool_add(self.raw, mem.ptr, count, size, &group));
        return group;
    }

    pub fn bufpoolRemove(self: Port, group: u16) Error!void {
        _ = try check(c.cport_bufpool_remove(self.raw, group));
    }

    /// Give a buffer a completion lent (opBufId) back to its pool.
    pub fn bufpoolReturn(self: Port, group: u16, id: u16) Error!void {
        _ = try check(c.cport_bufpool_return(self.raw, group, id));
    }

    /// Receive into a buffer of pool `group` (c.CPORT_RECV_MULTISHOT: keep receiving).
    pub fn recvPool(self: Port, op: *Op, fd: Fd, group: u16, flags: u32) Error!void {
        _ = try check(c.cport_recv_pool(self.raw, op, fd, group, flags));
    }

    /// One datagram into a pool buffer, its sender in msg.addr (msg.iov null).
    pub fn recvmsgPool(self: Port, op: *Op, fd: Fd, group: u16, msg: *Msg) Error!void {
        _ = try check(c.cport_recvmsg_pool(self.raw, op, fd, group, msg));
    }

    /// Ask an op in flight to stop; it still completes once (error.CANCELED if stopped).
    pub fn cancel(self: Port, op: *Op) Error!void {
        _ = try check(c.cport_cancel(self.raw, op));
    }

    /// Hand the queued ops to the kernel without waiting.
    pub fn submit(self: Port) Error!void {
        _ = try check(c.cport_submit(self.raw));
    }

    /// Submit, then reap up to out.len completed ops, waiting up to `timeout_ns`
    /// (< 0: forever, 0: not at all). Returns the part of `out` filled.
    pub fn wait(self: Port, out: []*Op, timeout_ns: i64) Error![]*Op {
        const max: c_uint = @intCast(@min(out.len, std.math.maxInt(c_uint)));
        const n = try check(c.cport_wait(self.raw, @ptrCast(out.ptr), max, timeout_ns));
        return out[0..n];
    }

    /// Wait for `op` alone (cport_wait_op); other completions stay queued for wait.
    /// error.TIMEDOUT: not completed within `timeout_ns` (still in flight).
    pub fn waitOp(self: Port, op: *Op, timeout_ns: i64) Error!void {
        _ = try check(c.cport_wait_op(self.raw, op, timeout_ns));
    }
};

// ---- Tests (zig test cport.zig; $CPORT_BACKEND picks the backend) ------------------

test "structs have the library's sizes" {
    try checkAbi();
    try std.testing.expectEqual(c.cport_struct_size(c.CPORT_STRUCT_OP), @sizeOf(Op));
    try std.testing.expectEqual(@as(usize, 0), c.cport_struct_size(0));
}

test "version" {
    try std.testing.expectEqual(@as(u32, c.CPORT_VERSION_HEX), c.cport_version());
    const text = std.mem.span(c.cport_version_string());
    var buf: [32]u8 = undefined;
    const want = try std.fmt.bufPrint(&buf, "{d}.{d}.{d}", .{
        c.CPORT_VERSION_MAJOR, c.CPORT_VERSION_MINOR, c.CPORT_VERSION_PATCH,
    });
    try std.testing.expectEqualStrings(want, text);
}

test "every error maps to its code and back, with the library's name" {
    inline for (error_names) |name| {
        const code = codeOf(name);
        try std.testing.expect(code < 0);
        try std.testing.expectEqual(@field(Error, name), fromCode(code));
        try std.testing.expectEqual(code, toCode(@field(Error, name)));
        try std.testing.expectEqualStrings("E" ++ name, std.mem.span(c.cport_err_name(code)));
    }
    try std.testing.expectEqual(@as(Error, error.Unknown), fromCode(-100000));
    try std.testing.expectEqualStrings("operation canceled", describe(error.CANCELED));
    try std.testing.expectError(error.INVAL, check(c.CPORT_EINVAL));
    try std.testing.expectEqual(@as(u32, 3), try check(3));
}

test "nop, post and a cancelled timer" {
    var port = try Port.init(.{});
    defer port.deinit();
    var a = zeroOp();
    var b = zeroOp();
    var t = zeroOp();
    try port.nop(&a);
    try port.post(&b, c.CPORT_ETIMEDOUT);
    try port.timer(&t, 60 * std.time.ns_per_s, 0);
    try port.submit();
    try port.cancel(&t);
    try std.testing.expectError(error.BUSY, port.nop(&a)); // still in flight

    var out: [4]*Op = undefined;
    var seen: usize = 0;
    while (seen < 3) {
        const done = try port.wait(&out, 10 * std.time.ns_per_s);
        try std.testing.expect(done.len > 0);
        for (done) |op| {
            if (op == &a) try std.testing.expectEqual(@as(u64, 0), try result(op));
            if (op == &b) try std.testing.expectError(error.TIMEDOUT, result(op));
            if (op == &t) try std.testing.expectError(error.CANCELED, result(op));
        }
        seen += done.len;
    }
    try std.testing.expectError(error.NOENT, port.cancel(&t));
    try std.testing.expectEqual(@as(usize, 0), (try port.wait(&out, 0)).len);
}

test "sim: virtual time, a stream pair, the trace and a crash" {
    if (@import("builtin").os.tag == .windows) return error.SkipZigTest;
    const disk = try simDiskCreate();
    var prof = simProfile();
    prof.seed = 7;
    prof.flags = c.CPORT_SIM_TRACE;
    prof.disk = disk;
    var port = try Port.init(.{ .backend = "sim", .sim = &prof });
    try testing.expectEqualStrings("sim", port.backendName());
    try testing.expectError(error.BUSY, simDiskDestroy(disk));

    // A timer of 30 s: the virtual clock jumps to it.
    const t0 = port.clockNs();
    var t = zeroOp();
    try port.timer(&t, 30 * std.time.ns_per_s, 0);
    var out: [2]*Op = undefined;
    try testing.expectEqual(@as(usize, 1), (try port.wait(&out, -1)).len);
    try testing.expect(port.clockNs() - t0 >= 30 * std.time.ns_per_s);

    // Bytes sent on one end arrive at the other.
    const fds = try port.simSocketpair();
    var s = zeroOp();
    var r = zeroOp();
    var got: [5]u8 = undefined;
    try port.send(&s, fds[0], "hello");
    try port.recv(&r, fds[1], &got);
    var seen: usize = 0;
    while (seen < 2) seen += (try port.wait(&out, -1)).len;
    try testing.expectEqual(@as(u64, 5), try result(&s));
    try testing.expectEqual(@as(u64, 5), try result(&r));
    try testing.expectEqualStrings("hello", &got);
    for (fds) |fd| {
        var cl = zeroOp();
        try port.close(&cl, fd);
        _ = try port.wait(&out, -1);
        _ = try result(&cl);
    }

    // A file created and never flushed is gone after a crash.
    var o = zeroOp();
    try port.open(&o, "f", c.CPORT_O_CREAT | c.CPORT_O_WRONLY, 0o644);
    _ = try port.wait(&out, -1);
    const fd: Fd = @intCast(try result(&o));
    var cl = zeroOp();
    try port.close(&cl, fd);
    _ = try port.wait(&out, -1);

    try testing.expect(port.simTraceHash() != 0);
    var text: [64]u8 = undefined;
    const len = try port.simTrace(&text);
    try testing.expect(len > text.len);
    try testing.expectEqual(@as(u8, 0), text[text.len - 1]);
    port.deinit();

    _ = try simDiskCrash(disk, 1, 0);
    var again = try Port.init(.{ .backend = "sim", .sim = &prof });
    try again.open(&o, "f", c.CPORT_O_RDONLY, 0);
    _ = try again.wait(&out, -1);
    try testing.expectError(error.NOENT, result(&o));
    again.deinit();
    try simDiskDestroy(disk);
}

test "a shared port: a thread's post reaped by another, then stop" {
    var port = try Port.init(.{ .shared = true, .concurrency = 2 });
    defer port.deinit();
    var a = zeroOp();
    const poster = try std.Thread.spawn(.{}, struct {
        fn run(p: Port, op: *Op) void {
            p.post(op, 7) catch unreachable;
        }
    }.run, .{ port, &a });
    var out: [1]*Op = undefined;
    const done = try port.wait(&out, 10 * std.time.ns_per_s);
    poster.join();
    try std.testing.expectEqual(@as(usize, 1), done.len);
    try std.testing.expectEqual(@as(u64, 7), try result(done[0]));
    try port.stop();
    try std.testing.expectError(error.SHUTDOWN, port.wait(&out, 0));
    try std.testing.expectError(error.SHUTDOWN, port.nop(&a));
    var plain = try Port.init(.{});
    defer plain.deinit();
    try std.testing.expectError(error.INVAL, plain.stop());
}

test "a refused submit is an error and leaves the op free" {
    var port = try Port.init(.{});
    defer port.deinit();
    var op = zeroOp();
    var buf: [8]u8 = undefined;
    const bad_fd: Fd = if (@typeInfo(Fd) == .Int and @typeInfo(Fd).Int.signedness == .signed) -1 else 0;
    try std.testing.expectError(error.BADF, port.read(&op, bad_fd, &buf, 0));
    try port.nop(&op);
    var out: [1]*Op = undefined;
    const done = try port.wait(&out, 10 * std.time.ns_per_s);
    try std.testing.expectEqual(@as(usize, 1), done.len);
}

test "unknown backend name" {
    try std.testing.expectError(error.INVAL, Port.init(.{ .backend = "no-such-backend" }));
}

// ---- Tests of the newer groups: links, durability, section 4c, 4d, 6b, zero-copy -----

const testing = std.testing;
const limit_ns: i64 = 30 * std.time.ns_per_s; // catches a hang, measures nothing

/// Wait for `op` (submitted already) and give its result.
fn runOp(port: Port, op: *Op) Error!u64 {
    try port.waitOp(op, limit_ns);
    return result(op);
}

/// A fresh directory /tmp/cport-zig-PID-NAME, its path in `buf`.
fn tmpDir(buf: []u8, name: []const u8) ![:0]u8 {
    const p = try std.fmt.bufPrintZ(buf, "/tmp/cport-zig-{d}-{s}", .{ std.os.linux.getpid(), name });
    std.fs.deleteTreeAbsolute(p) catch {};
    try std.fs.makeDirAbsolute(p);
    return p;
}

fn openPath(port: Port, path: [*:0]const u8, flags: u32) !Fd {
    var op = zeroOp();
    try port.open(&op, path, flags, 0o644);
    return @intCast(try runOp(port, &op));
}

fn closeFd(port: Port, fd: Fd) !void {
    var op = zeroOp();
    try port.close(&op, fd);
    _ = try runOp(port, &op);
}

/// Reap `ops.len` completions with cport_wait and check they came in that order.
fn expectOrder(port: Port, ops: []const *Op) !void {
    var out: [8]*Op = undefined;
    var seen: usize = 0;
    while (seen < ops.len) {
        const got = try port.wait(out[0 .. ops.len - seen], limit_ns);
        try testing.expect(got.len > 0);
        for (got) |op| {
            try testing.expectEqual(ops[seen], op);
            seen += 1;
        }
    }
}

const Pair = struct { l: Fd, s: Fd, c: Fd };

/// A connected TCP pair on 127.0.0.1 made through the port.
fn tcpPair(port: Port) !Pair {
    const any = try addrParse("127.0.0.1:0");
    const l = try tcpListen(&any, 16, 0);
    const bound = try sockLocal(l);
    const cfd = try tcpSocket(c.CPORT_AF_INET);
    var a = zeroOp();
    var k = zeroOp();
    try port.accept(&a, l, null, 0);
    try port.connect(&k, cfd, &bound);
    _ = try runOp(port, &k);
    return .{ .l = l, .s = @intCast(try runOp(port, &a)), .c = cfd };
}

fn closePair(port: Port, p: Pair) !void {
    try closeFd(port, p.s);
    try closeFd(port, p.c);
    try closeFd(port, p.l);
}

test "links, barriers, inline and waitOp" {
    var port = try Port.init(.{});
    defer port.deinit();
    var dbuf: [96]u8 = undefined;
    const dir = try tmpDir(&dbuf, "links");
    defer std.fs.deleteTreeAbsolute(dir) catch {};
    var pbuf: [128]u8 = undefined;
    const path = try std.fmt.bufPrintZ(&pbuf, "{s}/f", .{dir});
    const fd = try openPath(port, path, c.CPORT_O_RDWR | c.CPORT_O_CREAT);

    // write -> fsync -> read, in order; the chain is open until the read is submitted.
    var w = zeroOp();
    var s = zeroOp();
    var r = zeroOp();
    w.flags = c.CPORT_OP_LINK;
    s.flags = c.CPORT_OP_LINK;
    var back: [16]u8 = undefined;
    try port.write(&w, fd, "linked", 0);
    try port.fsync(&s, fd, c.CPORT_FSYNC_DATA);
    try testing.expectError(error.INVAL, port.submit());
    try port.read(&r, fd, &back, 0);
    try expectOrder(port, &.{ &w, &s, &r });
    try testing.expectEqualStrings("linked", back[0..try result(&r)]);

    // A linked multishot op is refused.
    var m = zeroOp();
    m.flags = c.CPORT_OP_LINK;
    try testing.expectError(error.INVAL, port.accept(&m, fd, null, c.CPORT_ACCEPT_MULTISHOT));

    // A barrier waits for the timer before it; the nop after waits for the barrier.
    var t = zeroOp();
    var b = zeroOp();
    var n = zeroOp();
    b.flags = c.CPORT_OP_BARRIER;
    try port.timer(&t, 20 * std.time.ns_per_ms, 0);
    try port.nop(&b);
    try port.nop(&n);
    try expectOrder(port, &.{ &t, &b, &n });

    // An inline stat still completes through the port.
    var st = zeroOp();
    st.flags = c.CPORT_OP_INLINE;
    var sb = std.mem.zeroes(Statbuf);
    try port.stat(&st, path, &sb);
    _ = try runOp(port, &st);
    try testing.expectEqual(@as(u64, 6), sb.size);

    // waitOp: a timeout leaves the op in flight; a cancel ends it.
    var long = zeroOp();
    try port.timer(&long, 60 * std.time.ns_per_s, 0);
    try testing.expectError(error.TIMEDOUT, port.waitOp(&long, std.time.ns_per_ms));
    try port.cancel(&long);
    try testing.expectError(error.CANCELED, runOp(port, &long));
    try testing.expectError(error.NOENT, port.waitOp(&long, 0));
    try closeFd(port, fd);
}

test "durability: fsyncRange, dioQuery, allocAligned, route" {
    var port = try Port.init(.{});
    defer port.deinit();
    var dbuf: [96]u8 = undefined;
    const dir = try tmpDir(&dbuf, "dur");
    defer std.fs.deleteTreeAbsolute(dir) catch {};
    var pbuf: [128]u8 = undefined;
    const path = try std.fmt.bufPrintZ(&pbuf, "{s}/f", .{dir});
    const fd = try openPath(port, path, c.CPORT_O_RDWR | c.CPORT_O_CREAT);

    const buf = try allocAligned(8192, 4096);
    defer freeAligned(buf);
    try testing.expectEqual(@as(usize, 0), @intFromPtr(buf.ptr) % 4096);
    try testing.expectError(error.INVAL, allocAligned(0, 4096));
    try testing.expectError(error.INVAL, allocAligned(4096, 3000));
    @memset(buf, 'd');
    var w = zeroOp();
    try port.write(&w, fd, buf, 0);
    try testing.expectEqual(@as(u64, 8192), try runOp(port, &w));

    var op = zeroOp();
    try port.fsyncRange(&op, fd, 0, 0, 4096);
    _ = try runOp(port, &op);
    try testing.expectError(error.INVAL, port.fsyncRange(&op, fd, 1, 0, 0));
    try testing.expectError(error.INVAL, port.fsyncRange(&op, fd, 0, -1, 0));

    const info = try dioQuery(fd);
    try testing.expectEqual(@as(u32, 0), info.flags & c.CPORT_DIO_DIRECT);
    try testing.expectError(error.BADF, dioQuery(-1));

    try testing.expectEqual(@as(u32, c.CPORT_ROUTE_LOCAL), try port.route(c.CPORT_KIND_TIMER, -1));
    const fsync_route = try port.route(c.CPORT_KIND_FSYNC, fd);
    try testing.expect(fsync_route == c.CPORT_ROUTE_KERNEL or fsync_route == c.CPORT_ROUTE_POOL);
    try testing.expectError(error.INVAL, port.route(0, fd));
    try closeFd(port, fd);
}

test "directories, file systems and locks (section 4c)" {
    var port = try Port.init(.{});
    defer port.deinit();
    var dbuf: [96]u8 = undefined;
    const dir = try tmpDir(&dbuf, "fs");
    defer std.fs.deleteTreeAbsolute(dir) catch {};
    const dfd = try openPath(port, dir, c.CPORT_O_RDONLY | c.CPORT_O_DIRECTORY);

    var op = zeroOp();
    try port.openat(&op, dfd, "a", c.CPORT_O_RDWR | c.CPORT_O_CREAT, 0o600);
    const fd1: Fd = @intCast(try runOp(port, &op));
    try testing.expectError(error.BADF, port.openat(&op, -5, "a", 0, 0));

    var ents: [4096]u8 align(8) = undefined;
    try port.readdir(&op, dfd, &ents, c.CPORT_READDIR_REWIND);
    var it = dirents(&ents, try runOp(port, &op));
    var found = false;
    while (it.next()) |e| {
        if (std.mem.eql(u8, e.name, "a")) found = true;
    }
    try testing.expect(found);
    try testing.expectError(error.INVAL, port.readdir(&op, dfd, ents[0..512], 0));

    var sfs = std.mem.zeroes(Statfsbuf);
    try port.statfs(&op, dir, &sfs);
    _ = try runOp(port, &op);
    try testing.expect(sfs.bsize > 0 and sfs.total >= sfs.free);

    try port.fadvise(&op, fd1, 0, 0, c.CPORT_FADV_SEQUENTIAL);
    _ = try runOp(port, &op);
    try testing.expectError(error.INVAL, port.fadvise(&op, fd1, 0, 0, 99));

    var pa: [128]u8 = undefined;
    var pb: [128]u8 = undefined;
    var ps: [128]u8 = undefined;
    const a = try std.fmt.bufPrintZ(&pa, "{s}/a", .{dir});
    const b = try std.fmt.bufPrintZ(&pb, "{s}/b", .{dir});
    const s = try std.fmt.bufPrintZ(&ps, "{s}/s", .{dir});
    try port.link(&op, a, b);
    _ = try runOp(port, &op);
    try port.rename2(&op, a, b, c.CPORT_RENAME_NOREPLACE);
    try testing.expectError(error.EXIST, runOp(port, &op));
    try port.access(&op, b, c.CPORT_F_OK);
    _ = try runOp(port, &op);
    try testing.expectError(error.INVAL, port.access(&op, b, 64));
    try port.symlink(&op, "a", s, 0);
    _ = try runOp(port, &op);
    var text: [64]u8 = undefined;
    try port.readlink(&op, s, &text);
    try testing.expectEqualStrings("a", text[0..try runOp(port, &op)]);

    // Locks: another open file of "a" cannot take an overlapping range at once.
    const fd2 = try openPath(port, a, c.CPORT_O_RDWR);
    try port.lock(&op, fd1, 0, 100, c.CPORT_LOCK_EXCLUSIVE);
    _ = try runOp(port, &op);
    try port.lock(&op, fd2, 10, 10, c.CPORT_LOCK_SHARED | c.CPORT_LOCK_NOWAIT);
    try testing.expectError(error.AGAIN, runOp(port, &op));
    try testing.expectError(error.INVAL, port.lock(&op, fd2, 0, 1, c.CPORT_LOCK_SHARED | c.CPORT_LOCK_EXCLUSIVE));
    try port.unlock(&op, fd1, 0, 100);
    _ = try runOp(port, &op);
    try port.lock(&op, fd2, 10, 10, c.CPORT_LOCK_SHARED | c.CPORT_LOCK_NOWAIT);
    _ = try runOp(port, &op);
    try closeFd(port, fd2);
    try closeFd(port, fd1);
    try closeFd(port, dfd);
}

test "registered buffers and files (section 4d)" {
    var port = try Port.init(.{});
    defer port.deinit();
    var dbuf: [96]u8 = undefined;
    const dir = try tmpDir(&dbuf, "reg");
    defer std.fs.deleteTreeAbsolute(dir) catch {};
    var pbuf: [128]u8 = undefined;
    const path = try std.fmt.bufPrintZ(&pbuf, "{s}/f", .{dir});
    const fd = try openPath(port, path, c.CPORT_O_RDWR | c.CPORT_O_CREAT);

    var one: [256]u8 = undefined;
    var two: [256]u8 = undefined;
    const iov = [_]Iovec{ .{ .base = &one, .len = one.len }, .{ .base = &two, .len = two.len } };
    port.registerBuffers(&iov) catch |err| {
        if (err == error.NOMEM) return error.SkipZigTest; // RLIMIT_MEMLOCK too low
        return err;
    };
    @memcpy(one[10..20], "registered");
    var op = zeroOp();
    try port.writeFixed(&op, fd, one[10..20], 0, 0);
    try testing.expectEqual(@as(u64, 10), try runOp(port, &op));
    try port.readFixed(&op, fd, two[0..64], 0, 1);
    try testing.expectEqual(@as(u64, 10), try runOp(port, &op));
    try testing.expectEqualStrings("registered", two[0..10]);
    try testing.expectError(error.INVAL, port.readFixed(&op, fd, two[0..8], 0, 2));
    try testing.expectError(error.INVAL, port.readFixed(&op, fd, one[0..8], 0, 1)); // not in 1
    try port.unregisterBuffers();
    try testing.expectError(error.NOENT, port.unregisterBuffers());

    try port.registerFiles(&.{fd});
    try testing.expectError(error.INVAL, port.registerFiles(&.{ fd, fd }));
    try port.fsync(&op, fd, 0);
    _ = try runOp(port, &op);
    try port.unregisterFiles();
    try testing.expectError(error.NOENT, port.unregisterFiles());
    try closeFd(port, fd);
}

test "pool receives (section 6b)" {
    var port = try Port.init(.{});
    defer port.deinit();
    var mem: [2 * 64]u8 = undefined;
    const group = try port.bufpoolAdd(&mem, 64);
    try testing.expectError(error.INVAL, port.bufpoolAdd(mem[0..0], 64));
    const p = try tcpPair(port);

    var r = zeroOp();
    var s = zeroOp();
    try port.recvPool(&r, p.s, group, 0);
    try port.send(&s, p.c, "pool");
    _ = try runOp(port, &s);
    try testing.expectEqual(@as(u64, 4), try runOp(port, &r));
    try testing.expect(r.cflags & c.CPORT_BUF != 0);
    const id = opBufId(&r).?;
    try testing.expectEqualStrings("pool", mem[@as(usize, id) * 64 ..][0..4]);
    // Held: the second buffer takes the next data; then the pool is dry.
    try port.recvPool(&r, p.s, group, 0);
    try port.send(&s, p.c, "more");
    _ = try runOp(port, &s);
    _ = try runOp(port, &r);
    const id2 = opBufId(&r).?;
    try testing.expect(id2 != id);
    try port.recvPool(&r, p.s, group, c.CPORT_RECV_MULTISHOT);
    try port.send(&s, p.c, "dry!");
    _ = try runOp(port, &s);
    try testing.expectError(error.NOBUFS, runOp(port, &r));
    try testing.expectEqual(@as(?u16, null), opBufId(&r));
    // Give both back; the data waiting is received.
    try port.bufpoolReturn(group, id);
    try port.bufpoolReturn(group, id2);
    try testing.expectError(error.INVAL, port.bufpoolReturn(group, id2));
    try port.recvPool(&r, p.s, group, 0);
    try testing.expectEqual(@as(u64, 4), try runOp(port, &r));
    try testing.expectEqualStrings("dry!", mem[@as(usize, opBufId(&r).?) * 64 ..][0..4]);
    try port.bufpoolReturn(group, opBufId(&r).?);
    try port.bufpoolRemove(group);
    try testing.expectError(error.INVAL, port.recvPool(&r, p.s, group, 0));
    try closePair(port, p);
}

test "zero-copy send flags" {
    var port = try Port.init(.{});
    defer port.deinit();
    const p = try tcpPair(port);
    var s = zeroOp();
    var r = zeroOp();
    var got: [8]u8 = undefined;
    try testing.expectError(error.INVAL, port.sendFlags(&s, p.c, "x", c.CPORT_SEND_ZC | c.CPORT_SEND_NOZC));
    try port.sendFlags(&s, p.c, "zero", c.CPORT_SEND_ZC);
    try testing.expectEqual(@as(u64, 4), try runOp(port, &s));
    if (!std.mem.eql(u8, port.backendName(), "io_uring"))
        try testing.expectEqual(@as(u32, 0), s.cflags & c.CPORT_ZC);
    try port.recv(&r, p.s, &got);
    try testing.expectEqualStrings("zero", got[0..try runOp(port, &r)]);
    try port.sendFlags(&s, p.c, "copy", c.CPORT_SEND_NOZC);
    _ = try runOp(port, &s);
    try testing.expectEqual(@as(u32, 0), s.cflags & c.CPORT_ZC);
    try closePair(port, p);
}
