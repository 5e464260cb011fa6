// SPDX-License-Identifier: MIT
// Example: a timer and a file read through one port, both in flight at once, results printed.

//! Usage: example [FILE]. Without FILE it writes a small file in /tmp first and checks
//! what the read brings back. The backend is the default or $CPORT_BACKEND; if no
//! port can be created on it the example says why and exits 77 (skipped).

const std = @import("std");
const cport = @import("cport.zig");
const c = cport.c;

pub fn main() !u8 {
    var gpa = std.heap.GeneralPurposeAllocator(.{}){};
    defer _ = gpa.deinit();
    const alloc = gpa.allocator();

    const args = try std.process.argsAlloc(alloc);
    defer std.process.argsFree(alloc, args);

    const out = std.io.getStdOut().writer();
    const text = "hello from zig, through cport\n";
    var own_path_buf: [64]u8 = undefined;
    const path: [:0]const u8 = if (args.len > 1) args[1] else blk: {
        const p = try std.fmt.bufPrintZ(&own_path_buf, "/tmp/cport-zig-{d}.txt", .{std.os.linux.getpid()});
        try std.fs.cwd().writeFile(p, text);
        break :blk p;
    };
    defer if (args.len <= 1) std.fs.cwd().deleteFile(path) catch {};

    var port = cport.Port.init(.{}) catch |err| {
        try out.print("example: cannot create a port: {s}\n", .{@errorName(err)});
        return 77;
    };
    defer port.deinit();
    try out.print("backend: {s}\n", .{port.backendName()});

    // Open the file through the port too.
    var open_op = cport.zeroOp();
    try port.open(&open_op, path.ptr, c.CPORT_O_RDONLY, 0);
    var one: [1]*cport.Op = undefined;
    _ = try port.wait(&one, -1);
    const fd: cport.Fd = @intCast(try cport.result(&open_op));

    // A 20 ms timer and a read at offset 0, in flight together.
    var timer_op = cport.zeroOp();
    var read_op = cport.zeroOp();
    var buf: [4096]u8 = undefined;
    const start = cport.c.cport_now_ns();
    try port.timer(&timer_op, 20 * std.time.ns_per_ms, 0);
    try port.read(&read_op, fd, &buf, 0);

    var bytes: usize = 0;
    var left: usize = 2;
    var done: [8]*cport.Op = undefined;
    while (left > 0) {
        const got = try port.wait(&done, 10 * std.time.ns_per_s);
        if (got.len == 0) {
            try out.print("example: no completion in 10 s\n", .{});
            return 1;
        }
        for (got) |op| {
            left -= 1;
            if (op == &timer_op) {
                _ = try cport.result(op);
                const ms = @as(f64, @floatFromInt(c.cport_now_ns() - start)) / 1e6;
                try out.print("timer: fired after {d:.1} ms\n", .{ms});
            } else if (op == &read_op) {
                bytes = @intCast(try cport.result(op));
                try out.print("read: {d} bytes: {s}", .{ bytes, buf[0..@min(bytes, 64)] });
                if (bytes > 64 or bytes == 0 or buf[bytes - 1] != '\n') try out.print("\n", .{});
            }
        }
    }

    var close_op = cport.zeroOp();
    try port.close(&close_op, fd);
    _ = try port.wait(&one, -1);
    _ = try cport.result(&close_op);

    if (args.len <= 1 and !std.mem.eql(u8, buf[0..bytes], text)) {
        try out.print("example: the read brought back something else\n", .{});
        return 1;
    }
    return 0;
}
