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

// ---- Errors ------------------------------------------------------------------------

/// Every CPORT_E* code, named as in C without "CPORT_E" (CPORT_ECANCELED is
/// error.CANCELED), and Unknown for a negative value the header does not name.
pub const Error = error{
    PERM,
    NOENT,
    INTR,
    IO,
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

// ---- Version and ABI ---------------------------------------------------------------

// The header's promise on 64-bit targets, checked when this module compiles.
comptime {
    if (@sizeOf(usize) == 8) {
        std.debug.assert(@sizeOf(Op) == 224);
        std.debug.assert(@sizeOf(Addr) == 136);
    }
    std.debug.assert(@sizeOf(Statbuf) == 256);
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

// ---- The port ----------------------------------------------------------------------

pub const Options = struct {
    /// "io_uring", "epoll", "poll", "kqueue", "iocp"; null: $CPORT_BACKEND or the best.
    backend: ?[*:0]const u8 = null,
    /// Fail instead of falling back when the preferred backend cannot start.
    strict: bool = false,
    queue_depth: u32 = 0,
    pool_threads: u32 = 0,
};

/// A completion port. Submit and wait from one thread at a time (see cport.h).
pub const Port = struct {
    raw: *c.cport,

    pub fn init(options: Options) (Error || AbiError)!Port {
        try checkAbi();
        var o: c.cport_options = undefined;
        c.cport_options_init(&o);
        o.backend = options.backend;
        o.flags = if (options.strict) c.CPORT_OPT_STRICT else 0;
        o.queue_depth = options.queue_depth;
        o.pool_threads = options.pool_threads;
        var raw: ?*c.cport = null;
        _ = try check(c.cport_create(&raw, &o));
        return .{ .raw = raw.? };
    }

    /// Stops every op in flight; none is touched once this returns.
    pub fn deinit(self: *Port) void {
        c.cport_destroy(self.raw);
        self.* = undefined;
    }

    pub fn backendName(self: Port) []const u8 {
        return std.mem.span(c.cport_backend_name(self.raw));
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

    pub fn fsync(self: Port, op: *Op, fd: Fd, flags: u32) Error!void {
        _ = try check(c.cport_fsync(self.raw, op, fd, flags));
    }

    /// Open `path` (c.CPORT_O_* flags). result: the descriptor.
    pub fn open(self: Port, op: *Op, path: [*:0]const u8, flags: u32, mode: u32) Error!void {
        _ = try check(c.cport_open(self.raw, op, path, flags, mode));
    }

    pub fn close(self: Port, op: *Op, fd: Fd) Error!void {
        _ = try check(c.cport_close(self.raw, op, fd));
    }

    pub fn recv(self: Port, op: *Op, fd: Fd, buf: []u8) Error!void {
        _ = try check(c.cport_recv(self.raw, op, fd, buf.ptr, buf.len, 0));
    }

    pub fn send(self: Port, op: *Op, fd: Fd, buf: []const u8) Error!void {
        _ = try check(c.cport_send(self.raw, op, fd, buf.ptr, buf.len, 0));
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
