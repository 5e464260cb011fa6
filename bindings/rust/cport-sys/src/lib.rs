// SPDX-License-Identifier: MIT
// The C ABI of cport (include/cport.h) declared by hand: types, constants and functions.

//! Raw bindings of `include/cport.h`. Every name is the C name; see the header for what
//! each call does, its arguments, results and errors. Nothing here is safe to call
//! without reading the header's overlapped contract: an op and the buffers it names
//! must stay put from a successful submit until `cport_wait` hands the op back. The
//! `cport` crate wraps this in a safe API.
//!
//! Map: descriptors and structs; op flags and option flags; errors; version and ABI;
//! the functions; layout tests.

#![allow(non_camel_case_types)]
#![no_std]

use core::ffi::{c_char, c_int, c_uint, c_void};

// ---- Descriptors and structs ----------------------------------------------------------

/// A descriptor: an int on Unix, a SOCKET or HANDLE on Windows.
#[cfg(unix)]
pub type cport_fd = c_int;
/// A descriptor: an int on Unix, a SOCKET or HANDLE on Windows.
#[cfg(windows)]
pub type cport_fd = usize;

/// The port: opaque, only ever behind a pointer.
#[repr(C)]
pub struct cport {
    _opaque: [u8; 0],
    // Not Send, Sync or Unpin by itself: the safe crate decides.
    _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// Words of backend state in each op (`CPORT_OP_INTERNAL_WORDS`).
pub const CPORT_OP_INTERNAL_WORDS: usize = 24;

/// The caller-owned operation, like an OVERLAPPED. Zero it before its first use.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cport_op {
    /// in: caller context, never read or written by cport
    pub user: *mut c_void,
    /// in: 0 = none, else the op completes with CPORT_ETIMEDOUT after this long
    pub timeout_ns: u64,
    /// in: CPORT_OP_* (0: none)
    pub flags: u32,
    /// out: CPORT_MORE (a multishot op stays in flight), CPORT_BUF (a pool buffer,
    /// its id in the upper 16 bits), CPORT_ZC (a zero-copy send)
    pub cflags: u32,
    /// out: >= 0 success value, < 0 a CPORT_E* code
    pub result: i64,
    /// private: backend state
    pub internal: [u64; CPORT_OP_INTERNAL_WORDS],
}

impl cport_op {
    /// An all-zero op, ready for a first submit.
    pub const fn zeroed() -> Self {
        cport_op {
            user: core::ptr::null_mut(),
            timeout_ns: 0,
            flags: 0,
            cflags: 0,
            result: 0,
            internal: [0; CPORT_OP_INTERNAL_WORDS],
        }
    }
}

/// A buffer for vectored I/O (the layout of struct iovec on Unix).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cport_iovec {
    pub base: *mut c_void,
    pub len: usize,
}

/// What cport_stat / cport_fstat fill in; the whole struct is scratch while in flight.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cport_statbuf {
    pub size: u64,
    pub blocks: u64,
    pub ino: u64,
    pub dev: u64,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime_ns: i64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub btime_ns: i64,
    pub reserved_: [u8; 256 - 80],
}

impl cport_statbuf {
    pub const fn zeroed() -> Self {
        cport_statbuf {
            size: 0,
            blocks: 0,
            ino: 0,
            dev: 0,
            mode: 0,
            nlink: 0,
            uid: 0,
            gid: 0,
            atime_ns: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            btime_ns: 0,
            reserved_: [0; 256 - 80],
        }
    }
}

/// Options for cport_create; fill with cport_options_init first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cport_options {
    pub size: u32,
    pub flags: u32,
    pub backend: *const c_char,
    pub queue_depth: u32,
    pub pool_threads: u32,
    pub reason: *mut c_char,
    pub reason_len: u32,
    pub concurrency: u32,
    /// Backend "sim" only: its profile; NULL for the defaults (and on other backends).
    pub sim: *const cport_sim_profile,
}

/// A socket address of any family (the OS's sockaddr in `storage`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cport_addr {
    pub storage: [u64; 16],
    pub len: u32,
    pub reserved_: u32,
}

impl cport_addr {
    /// An empty address (len 0).
    pub const fn zeroed() -> Self {
        cport_addr { storage: [0; 16], len: 0, reserved_: 0 }
    }
}

/// A message for cport_recvmsg / cport_sendmsg; `internal_` is scratch while in flight.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cport_msg {
    pub addr: *mut cport_addr,
    pub iov: *mut cport_iovec,
    pub iovcnt: u32,
    pub flags: u32,
    pub internal_: [u64; 8],
}

/// What cport_dio_query fills in (64 bytes); set `size` to its size first.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct cport_dio_info {
    pub size: u32,
    pub flags: u32,
    pub mem_align: u32,
    pub offset_align: u32,
    pub read_offset_align: u32,
    pub atomic_write_min: u32,
    pub atomic_write_max: u32,
    pub atomic_write_segments_max: u32,
    pub reserved_: [u64; 4],
}

/// A disk of the simulation (backend "sim"): files in memory; opaque.
#[repr(C)]
pub struct cport_sim_disk {
    _opaque: [u8; 0],
    _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
}

/// The simulation's seed, latencies, faults (in millionths) and disk; set `size` to its
/// size and zero the rest first (header section 8).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cport_sim_profile {
    pub size: u32,
    /// CPORT_SIM_TRACE
    pub flags: u32,
    pub seed: u64,
    pub latency_min_ns: u64,
    pub latency_max_ns: u64,
    pub short_ppm: u32,
    pub again_ppm: u32,
    pub eio_read_ppm: u32,
    pub eio_write_ppm: u32,
    pub enospc_ppm: u32,
    pub fsync_ppm: u32,
    pub reset_ppm: u32,
    pub stream_buf: u32,
    pub disk: *mut cport_sim_disk,
}

impl cport_sim_profile {
    /// All zero (the defaults) but `size`.
    pub const fn new() -> Self {
        cport_sim_profile {
            size: core::mem::size_of::<cport_sim_profile>() as u32,
            flags: 0,
            seed: 0,
            latency_min_ns: 0,
            latency_max_ns: 0,
            short_ppm: 0,
            again_ppm: 0,
            eio_read_ppm: 0,
            eio_write_ppm: 0,
            enospc_ppm: 0,
            fsync_ppm: 0,
            reset_ppm: 0,
            stream_buf: 0,
            disk: core::ptr::null_mut(),
        }
    }
}

/// cport_sim_profile.flags: keep the trace's text (its hash is always kept).
pub const CPORT_SIM_TRACE: u32 = 1 << 0;
/// cport_sim_disk_crash's flags: the last write of each file since its last good flush
/// survives in part (whole 512-byte sectors of its start).
pub const CPORT_SIM_TEAR: u32 = 1 << 0;

/// One directory entry as cport_readdir writes it: this 16-byte header, then the name
/// (`namelen` bytes and a NUL) at offset 16, then padding up to `reclen` (a multiple
/// of 8), where the next record starts.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct cport_dirent {
    pub ino: u64,
    pub reclen: u16,
    pub namelen: u16,
    /// CPORT_DT_*
    pub type_: u8,
    pub reserved_: [u8; 3],
}

/// What cport_statfs fills in (64 bytes, same layout everywhere).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct cport_statfsbuf {
    pub bsize: u64,
    pub total: u64,
    pub free: u64,
    pub avail: u64,
    pub files: u64,
    pub ffree: u64,
    pub namemax: u32,
    pub reserved_: [u32; 3],
}

// The header's _Static_asserts (lib/internal.h, lib/dio.c), checked when this compiles.
// cport_dirent and cport_statfsbuf have no CPORT_STRUCT_* value for cport_struct_size,
// so these are their only check; the same layout on every platform.
const _: () = assert!(core::mem::size_of::<cport_dirent>() == 16);
const _: () = assert!(core::mem::size_of::<cport_statfsbuf>() == 64);
const _: () = assert!(core::mem::size_of::<cport_dio_info>() == 64);
const _: () = assert!(core::mem::size_of::<cport_statbuf>() == 256);
const _: () = assert!(core::mem::size_of::<cport_addr>() == 136);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(core::mem::size_of::<cport_op>() == 224);

/// Longest text cport_addr_format writes, with the NUL.
pub const CPORT_ADDR_STRLEN: usize = 64;
/// Largest length of one read or write.
pub const CPORT_MAX_IO: u32 = 0x7fff_f000;

// ---- Flags -----------------------------------------------------------------------------

pub const CPORT_MORE: u32 = 1 << 0;

/// op->flags (section 4b: links and barriers; CPORT_OP_INLINE).
pub const CPORT_OP_LINK: u32 = 1 << 0;
pub const CPORT_OP_BARRIER: u32 = 1 << 1;
pub const CPORT_OP_INLINE: u32 = 1 << 2;

/// op->cflags of a pool receive: it carries buffer `cflags >> CPORT_BUF_SHIFT`.
pub const CPORT_BUF: u32 = 1 << 1;
pub const CPORT_BUF_SHIFT: u32 = 16;
/// op->cflags of a cport_send whose bytes went out zero-copy.
pub const CPORT_ZC: u32 = 1 << 2;

pub const CPORT_OPT_STRICT: u32 = 1 << 0;
pub const CPORT_OPT_SINGLE_THREAD: u32 = 1 << 1;
pub const CPORT_OPT_SHARED: u32 = 1 << 2;

pub const CPORT_TIMER_ABS: u32 = 1 << 0;
pub const CPORT_FSYNC_DATA: u32 = 1 << 0;

pub const CPORT_O_RDONLY: u32 = 0;
pub const CPORT_O_WRONLY: u32 = 1 << 0;
pub const CPORT_O_RDWR: u32 = 1 << 1;
pub const CPORT_O_CREAT: u32 = 1 << 2;
pub const CPORT_O_EXCL: u32 = 1 << 3;
pub const CPORT_O_TRUNC: u32 = 1 << 4;
pub const CPORT_O_APPEND: u32 = 1 << 5;
pub const CPORT_O_DIRECT: u32 = 1 << 6;
pub const CPORT_O_DSYNC: u32 = 1 << 7;
pub const CPORT_O_DIRECTORY: u32 = 1 << 8;
pub const CPORT_O_NOFOLLOW: u32 = 1 << 9;

pub const CPORT_FALLOC_KEEP_SIZE: u32 = 1 << 0;
pub const CPORT_FALLOC_PUNCH_HOLE: u32 = 1 << 1;
pub const CPORT_FALLOC_ZERO_RANGE: u32 = 1 << 2;
pub const CPORT_UNLINK_DIR: u32 = 1 << 0;

pub const CPORT_AF_UNSPEC: c_int = 0;
pub const CPORT_AF_INET: c_int = 1;
pub const CPORT_AF_INET6: c_int = 2;
pub const CPORT_AF_LOCAL: c_int = 3;

pub const CPORT_SOCK_REUSEPORT: u32 = 1 << 0;
pub const CPORT_SOCK_V6ONLY: u32 = 1 << 1;

pub const CPORT_ACCEPT_MULTISHOT: u32 = 1 << 0;
pub const CPORT_MSG_TRUNC: u32 = 1 << 0;

pub const CPORT_SHUT_RD: u32 = 1;
pub const CPORT_SHUT_WR: u32 = 2;
pub const CPORT_SHUT_RDWR: u32 = 3;

pub const CPORT_POLL_IN: u32 = 0x001;
pub const CPORT_POLL_PRI: u32 = 0x002;
pub const CPORT_POLL_OUT: u32 = 0x004;
pub const CPORT_POLL_ERR: u32 = 0x008;
pub const CPORT_POLL_HUP: u32 = 0x010;
pub const CPORT_POLL_RDHUP: u32 = 0x2000;

// Section 4c: directories, file systems and file locks.

/// cport_openat's `dir` for the current directory (a value no descriptor has).
#[cfg(unix)]
pub const CPORT_AT_CWD: cport_fd = -100;
/// cport_openat's `dir` for the current directory ((uintptr_t)-100 on Windows).
#[cfg(windows)]
pub const CPORT_AT_CWD: cport_fd = (-100isize) as usize;

/// cport_dirent.type_: Linux's DT_* values.
pub const CPORT_DT_UNKNOWN: u8 = 0;
pub const CPORT_DT_FIFO: u8 = 1;
pub const CPORT_DT_CHR: u8 = 2;
pub const CPORT_DT_DIR: u8 = 4;
pub const CPORT_DT_BLK: u8 = 6;
pub const CPORT_DT_REG: u8 = 8;
pub const CPORT_DT_LNK: u8 = 10;
pub const CPORT_DT_SOCK: u8 = 12;

/// The smallest buffer cport_readdir takes.
pub const CPORT_READDIR_MIN: usize = 1024;
pub const CPORT_READDIR_REWIND: u32 = 1 << 0;

pub const CPORT_FADV_NORMAL: u32 = 0;
pub const CPORT_FADV_RANDOM: u32 = 1;
pub const CPORT_FADV_SEQUENTIAL: u32 = 2;
pub const CPORT_FADV_WILLNEED: u32 = 3;
pub const CPORT_FADV_DONTNEED: u32 = 4;
pub const CPORT_FADV_NOREUSE: u32 = 5;

pub const CPORT_SYMLINK_DIR: u32 = 1 << 0;

pub const CPORT_RENAME_NOREPLACE: u32 = 1 << 0;
pub const CPORT_RENAME_EXCHANGE: u32 = 1 << 1;

pub const CPORT_F_OK: u32 = 0;
pub const CPORT_X_OK: u32 = 1;
pub const CPORT_W_OK: u32 = 2;
pub const CPORT_R_OK: u32 = 4;

pub const CPORT_LOCK_SHARED: u32 = 1 << 0;
pub const CPORT_LOCK_EXCLUSIVE: u32 = 1 << 1;
pub const CPORT_LOCK_NOWAIT: u32 = 1 << 2;

// Section 4d: registered buffers and files (io_uring's limits, kept on every backend).
pub const CPORT_MAX_REG_BUFFERS: u32 = 16384;
pub const CPORT_MAX_REG_BUFFER_LEN: u32 = 0x4000_0000;
pub const CPORT_MAX_REG_FILES: u32 = 1_048_576;

// Zero-copy sends (cport_send flags, at most one).
pub const CPORT_SEND_ZC: u32 = 1 << 0;
pub const CPORT_SEND_NOZC: u32 = 1 << 1;
/// A send at least this long to a peer on another host is zero-copy where it can be.
pub const CPORT_SEND_ZC_THRESHOLD: u32 = 262_144;

// Section 6b: pool receives.
pub const CPORT_MAX_BUFPOOLS: u32 = 16;
pub const CPORT_MAX_BUFPOOL_COUNT: u32 = 32768;
pub const CPORT_RECV_MULTISHOT: u32 = 1 << 0;

pub const CPORT_DIO_DIRECT: u32 = 1 << 0;
pub const CPORT_DIO_EXACT: u32 = 1 << 1;

/// cport_route kinds (`_CUR`: at offset -1).
pub const CPORT_KIND_NOP: u32 = 1;
pub const CPORT_KIND_TIMER: u32 = 2;
pub const CPORT_KIND_READ: u32 = 3;
pub const CPORT_KIND_READ_CUR: u32 = 4;
pub const CPORT_KIND_WRITE: u32 = 5;
pub const CPORT_KIND_WRITE_CUR: u32 = 6;
pub const CPORT_KIND_READV: u32 = 7;
pub const CPORT_KIND_READV_CUR: u32 = 8;
pub const CPORT_KIND_WRITEV: u32 = 9;
pub const CPORT_KIND_WRITEV_CUR: u32 = 10;
pub const CPORT_KIND_FSYNC: u32 = 11;
pub const CPORT_KIND_FSYNC_RANGE: u32 = 12;
pub const CPORT_KIND_OPEN: u32 = 13;
pub const CPORT_KIND_CLOSE: u32 = 14;
pub const CPORT_KIND_STAT: u32 = 15;
pub const CPORT_KIND_FSTAT: u32 = 16;
pub const CPORT_KIND_FALLOCATE: u32 = 17;
pub const CPORT_KIND_FTRUNCATE: u32 = 18;
pub const CPORT_KIND_RENAME: u32 = 19;
pub const CPORT_KIND_UNLINK: u32 = 20;
pub const CPORT_KIND_MKDIR: u32 = 21;
pub const CPORT_KIND_ACCEPT: u32 = 22;
pub const CPORT_KIND_CONNECT: u32 = 23;
pub const CPORT_KIND_RECV: u32 = 24;
pub const CPORT_KIND_SEND: u32 = 25;
pub const CPORT_KIND_RECVMSG: u32 = 26;
pub const CPORT_KIND_SENDMSG: u32 = 27;
pub const CPORT_KIND_SHUTDOWN: u32 = 28;
pub const CPORT_KIND_POLL: u32 = 29;
pub const CPORT_KIND_SENDFILE: u32 = 30;
pub const CPORT_KIND_OPENAT: u32 = 31;
pub const CPORT_KIND_READDIR: u32 = 32;
pub const CPORT_KIND_STATFS: u32 = 33;
pub const CPORT_KIND_FADVISE: u32 = 34;
pub const CPORT_KIND_LINK: u32 = 35;
pub const CPORT_KIND_SYMLINK: u32 = 36;
pub const CPORT_KIND_READLINK: u32 = 37;
pub const CPORT_KIND_ACCESS: u32 = 38;
pub const CPORT_KIND_LOCK: u32 = 39;
pub const CPORT_KIND_UNLOCK: u32 = 40;
pub const CPORT_KIND_RECV_POOL: u32 = 41;
pub const CPORT_KIND_RECVMSG_POOL: u32 = 42;

/// What cport_route answers.
pub const CPORT_ROUTE_KERNEL: c_int = 1;
pub const CPORT_ROUTE_POOL: c_int = 2;
pub const CPORT_ROUTE_REACTOR: c_int = 3;
pub const CPORT_ROUTE_LOCAL: c_int = 4;
pub const CPORT_ROUTE_NOWAIT_POOL: c_int = 5;

// ---- Errors ----------------------------------------------------------------------------

// The header's CPORT_ERRNO_MAP: on Unix CPORT_Exxx == -Exxx of the OS's errno.h, on
// Windows the Linux value. Columns: name, Linux (and Windows), macOS/iOS, FreeBSD and
// DragonFly. Other systems' errno numbers differ (and Linux on MIPS, SPARC, Alpha and
// PA-RISC): add a column before building there.
#[cfg(not(any(
    windows,
    all(
        any(target_os = "linux", target_os = "android"),
        not(any(
            target_arch = "mips",
            target_arch = "mips64",
            target_arch = "sparc",
            target_arch = "sparc64"
        ))
    ),
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "dragonfly"
)))]
compile_error!("cport-sys: no errno table for this target; add one to src/lib.rs");

macro_rules! cport_errors {
    ($($name:ident $linux:literal $apple:literal $freebsd:literal;)*) => {
        $(
            #[cfg(any(windows, target_os = "linux", target_os = "android"))]
            pub const $name: c_int = -$linux;
            #[cfg(any(target_os = "macos", target_os = "ios"))]
            pub const $name: c_int = -$apple;
            #[cfg(any(target_os = "freebsd", target_os = "dragonfly"))]
            pub const $name: c_int = -$freebsd;
        )*
        /// Every CPORT_E* code with its name without the prefix, as cport_err_name
        /// gives it.
        pub const CPORT_ERRORS: &[(&str, c_int)] = &[$((stringify!($name), $name)),*];
    };
}

cport_errors! {
    CPORT_EPERM 1 1 1;
    CPORT_ENOENT 2 2 2;
    CPORT_EINTR 4 4 4;
    CPORT_EIO 5 5 5;
    CPORT_ENXIO 6 6 6;
    CPORT_EBADF 9 9 9;
    CPORT_EAGAIN 11 35 35;
    CPORT_ENOMEM 12 12 12;
    CPORT_EACCES 13 13 13;
    CPORT_EFAULT 14 14 14;
    CPORT_EBUSY 16 16 16;
    CPORT_EEXIST 17 17 17;
    CPORT_EXDEV 18 18 18;
    CPORT_ENODEV 19 19 19;
    CPORT_ENOTDIR 20 20 20;
    CPORT_EISDIR 21 21 21;
    CPORT_EINVAL 22 22 22;
    CPORT_ENFILE 23 23 23;
    CPORT_EMFILE 24 24 24;
    CPORT_EFBIG 27 27 27;
    CPORT_ENOSPC 28 28 28;
    CPORT_ESPIPE 29 29 29;
    CPORT_EROFS 30 30 30;
    CPORT_EPIPE 32 32 32;
    CPORT_ENAMETOOLONG 36 63 63;
    CPORT_ENOSYS 38 78 78;
    CPORT_ENOTEMPTY 39 66 66;
    CPORT_ELOOP 40 62 62;
    CPORT_EOVERFLOW 75 84 84;
    CPORT_ENOTSOCK 88 38 38;
    CPORT_EDESTADDRREQ 89 39 39;
    CPORT_EMSGSIZE 90 40 40;
    CPORT_EPROTONOSUPPORT 93 43 43;
    CPORT_ENOTSUP 95 45 45;
    CPORT_EAFNOSUPPORT 97 47 47;
    CPORT_EADDRINUSE 98 48 48;
    CPORT_EADDRNOTAVAIL 99 49 49;
    CPORT_ENETDOWN 100 50 50;
    CPORT_ENETUNREACH 101 51 51;
    CPORT_ECONNABORTED 103 53 53;
    CPORT_ECONNRESET 104 54 54;
    CPORT_ENOBUFS 105 55 55;
    CPORT_EISCONN 106 56 56;
    CPORT_ENOTCONN 107 57 57;
    CPORT_ESHUTDOWN 108 58 58;
    CPORT_ETIMEDOUT 110 60 60;
    CPORT_ECONNREFUSED 111 61 61;
    CPORT_EHOSTUNREACH 113 65 65;
    CPORT_EALREADY 114 37 37;
    CPORT_EINPROGRESS 115 36 36;
    CPORT_ECANCELED 125 89 85;
}

pub const CPORT_OK: c_int = 0;

// ---- Version and ABI -------------------------------------------------------------------

/// The major version of the C API these declarations describe.
pub const CPORT_VERSION_MAJOR: u32 = 0;
/// The minor version of the C API these declarations describe (while the major is 0,
/// a new minor may change the ABI).
pub const CPORT_VERSION_MINOR: u32 = 2;
pub const CPORT_VERSION_PATCH: u32 = 0;
pub const CPORT_VERSION_HEX: u32 =
    (CPORT_VERSION_MAJOR << 16) | (CPORT_VERSION_MINOR << 8) | CPORT_VERSION_PATCH;

pub const CPORT_STRUCT_OP: u32 = 1;
pub const CPORT_STRUCT_OPTIONS: u32 = 2;
pub const CPORT_STRUCT_STATBUF: u32 = 3;
pub const CPORT_STRUCT_ADDR: u32 = 4;
pub const CPORT_STRUCT_IOVEC: u32 = 5;
pub const CPORT_STRUCT_MSG: u32 = 6;
pub const CPORT_STRUCT_DIO_INFO: u32 = 7;
pub const CPORT_STRUCT_SIM_PROFILE: u32 = 8;

/// Whether a library version (from `cport_version()`) can be used with these
/// declarations: the same major, and while the major is 0 also the same minor.
pub const fn cport_version_compatible(lib: u32) -> bool {
    let major = lib >> 16;
    let minor = (lib >> 8) & 0xff;
    major == CPORT_VERSION_MAJOR && (major != 0 || minor == CPORT_VERSION_MINOR)
}

// ---- Functions -------------------------------------------------------------------------

extern "C" {
    // Errors
    pub fn cport_strerror(code: i64) -> *const c_char;
    pub fn cport_err_name(code: i64) -> *const c_char;

    // The port
    pub fn cport_options_init(opts: *mut cport_options);
    pub fn cport_create(port: *mut *mut cport, opts: *const cport_options) -> c_int;
    pub fn cport_destroy(port: *mut cport);
    pub fn cport_backend_name(port: *const cport) -> *const c_char;
    pub fn cport_backend_reason(port: *const cport) -> *const c_char;
    pub fn cport_now_ns() -> u64;
    pub fn cport_clock_ns(port: *const cport) -> u64;
    pub fn cport_stop(port: *mut cport) -> c_int;

    // Version and ABI
    pub fn cport_version() -> u32;
    pub fn cport_version_string() -> *const c_char;
    pub fn cport_struct_size(which: u32) -> usize;

    // Submitting ops
    pub fn cport_nop(port: *mut cport, op: *mut cport_op) -> c_int;
    pub fn cport_timer(port: *mut cport, op: *mut cport_op, ns: u64, flags: u32) -> c_int;
    pub fn cport_post(port: *mut cport, op: *mut cport_op, result: i64) -> c_int;
    pub fn cport_read(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        buf: *mut c_void,
        len: usize,
        offset: i64,
    ) -> c_int;
    pub fn cport_write(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        buf: *const c_void,
        len: usize,
        offset: i64,
    ) -> c_int;
    pub fn cport_readv(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        iov: *const cport_iovec,
        iovcnt: c_uint,
        offset: i64,
    ) -> c_int;
    pub fn cport_writev(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        iov: *const cport_iovec,
        iovcnt: c_uint,
        offset: i64,
    ) -> c_int;
    pub fn cport_fsync(port: *mut cport, op: *mut cport_op, fd: cport_fd, flags: u32) -> c_int;
    pub fn cport_fsync_range(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        flags: u32,
        offset: i64,
        len: i64,
    ) -> c_int;
    pub fn cport_open(
        port: *mut cport,
        op: *mut cport_op,
        path: *const c_char,
        flags: u32,
        mode: u32,
    ) -> c_int;
    pub fn cport_close(port: *mut cport, op: *mut cport_op, fd: cport_fd) -> c_int;
    pub fn cport_stat(
        port: *mut cport,
        op: *mut cport_op,
        path: *const c_char,
        st: *mut cport_statbuf,
    ) -> c_int;
    pub fn cport_fstat(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        st: *mut cport_statbuf,
    ) -> c_int;
    pub fn cport_fallocate(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        flags: u32,
        offset: i64,
        len: i64,
    ) -> c_int;
    pub fn cport_ftruncate(port: *mut cport, op: *mut cport_op, fd: cport_fd, len: i64) -> c_int;
    pub fn cport_rename(
        port: *mut cport,
        op: *mut cport_op,
        from: *const c_char,
        to: *const c_char,
    ) -> c_int;
    pub fn cport_unlink(
        port: *mut cport,
        op: *mut cport_op,
        path: *const c_char,
        flags: u32,
    ) -> c_int;
    pub fn cport_mkdir(
        port: *mut cport,
        op: *mut cport_op,
        path: *const c_char,
        mode: u32,
    ) -> c_int;
    pub fn cport_dio_query(fd: cport_fd, info: *mut cport_dio_info) -> c_int;
    pub fn cport_alloc_aligned(buf: *mut *mut c_void, size: usize, align: usize) -> c_int;
    pub fn cport_free_aligned(buf: *mut c_void);
    pub fn cport_route(port: *mut cport, kind: u32, fd: cport_fd) -> c_int;

    // 4c. Directories, file systems and file locks
    pub fn cport_openat(
        port: *mut cport,
        op: *mut cport_op,
        dir: cport_fd,
        path: *const c_char,
        flags: u32,
        mode: u32,
    ) -> c_int;
    pub fn cport_readdir(
        port: *mut cport,
        op: *mut cport_op,
        dir: cport_fd,
        buf: *mut c_void,
        len: usize,
        flags: u32,
    ) -> c_int;
    pub fn cport_statfs(
        port: *mut cport,
        op: *mut cport_op,
        path: *const c_char,
        st: *mut cport_statfsbuf,
    ) -> c_int;
    pub fn cport_fadvise(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        offset: i64,
        len: i64,
        advice: u32,
    ) -> c_int;
    pub fn cport_link(
        port: *mut cport,
        op: *mut cport_op,
        from: *const c_char,
        to: *const c_char,
    ) -> c_int;
    pub fn cport_symlink(
        port: *mut cport,
        op: *mut cport_op,
        target: *const c_char,
        path: *const c_char,
        flags: u32,
    ) -> c_int;
    pub fn cport_readlink(
        port: *mut cport,
        op: *mut cport_op,
        path: *const c_char,
        buf: *mut c_char,
        len: usize,
    ) -> c_int;
    pub fn cport_rename2(
        port: *mut cport,
        op: *mut cport_op,
        from: *const c_char,
        to: *const c_char,
        flags: u32,
    ) -> c_int;
    pub fn cport_access(
        port: *mut cport,
        op: *mut cport_op,
        path: *const c_char,
        mode: u32,
    ) -> c_int;
    pub fn cport_lock(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        offset: i64,
        len: i64,
        flags: u32,
    ) -> c_int;
    pub fn cport_unlock(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        offset: i64,
        len: i64,
    ) -> c_int;

    pub fn cport_cancel(port: *mut cport, target: *mut cport_op) -> c_int;

    // 4d. Registered buffers and files
    pub fn cport_register_buffers(port: *mut cport, iov: *const cport_iovec, n: c_uint) -> c_int;
    pub fn cport_unregister_buffers(port: *mut cport) -> c_int;
    pub fn cport_read_fixed(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        buf: *mut c_void,
        len: usize,
        offset: i64,
        index: c_uint,
    ) -> c_int;
    pub fn cport_write_fixed(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        buf: *const c_void,
        len: usize,
        offset: i64,
        index: c_uint,
    ) -> c_int;
    pub fn cport_register_files(port: *mut cport, fds: *const cport_fd, n: c_uint) -> c_int;
    pub fn cport_unregister_files(port: *mut cport) -> c_int;

    // Driving the port
    pub fn cport_submit(port: *mut cport) -> c_int;
    pub fn cport_wait(
        port: *mut cport,
        out: *mut *mut cport_op,
        max: c_uint,
        timeout_ns: i64,
    ) -> c_int;
    pub fn cport_wait_op(port: *mut cport, op: *mut cport_op, timeout_ns: i64) -> c_int;

    // Addresses and socket helpers (plain calls, not ops)
    pub fn cport_addr_parse(addr: *mut cport_addr, text: *const c_char) -> c_int;
    pub fn cport_addr_format(addr: *const cport_addr, buf: *mut c_char, n: usize) -> c_int;
    pub fn cport_addr_family(addr: *const cport_addr) -> c_int;
    pub fn cport_addr_port(addr: *const cport_addr) -> c_int;
    pub fn cport_sock_local(fd: cport_fd, addr: *mut cport_addr) -> c_int;
    pub fn cport_sock_peer(fd: cport_fd, addr: *mut cport_addr) -> c_int;
    pub fn cport_tcp_listen(
        fd: *mut cport_fd,
        addr: *const cport_addr,
        backlog: c_int,
        flags: u32,
    ) -> c_int;
    pub fn cport_tcp_socket(fd: *mut cport_fd, family: c_int) -> c_int;
    pub fn cport_udp_socket(fd: *mut cport_fd, addr: *const cport_addr, flags: u32) -> c_int;
    pub fn cport_local_listen(fd: *mut cport_fd, name: *const c_char, backlog: c_int) -> c_int;
    pub fn cport_local_connect(fd: *mut cport_fd, name: *const c_char) -> c_int;
    pub fn cport_sock_nodelay(fd: cport_fd, on: c_int) -> c_int;
    pub fn cport_sock_keepalive(fd: cport_fd, on: c_int, idle_s: u32) -> c_int;
    pub fn cport_sock_close(fd: cport_fd) -> c_int;

    // Socket ops
    pub fn cport_accept(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        peer: *mut cport_addr,
        flags: u32,
    ) -> c_int;
    pub fn cport_connect(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        addr: *const cport_addr,
    ) -> c_int;
    pub fn cport_recv(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        buf: *mut c_void,
        len: usize,
        flags: u32,
    ) -> c_int;
    pub fn cport_send(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        buf: *const c_void,
        len: usize,
        flags: u32,
    ) -> c_int;
    pub fn cport_recvmsg(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        msg: *mut cport_msg,
    ) -> c_int;
    pub fn cport_sendmsg(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        msg: *mut cport_msg,
    ) -> c_int;
    pub fn cport_shutdown(port: *mut cport, op: *mut cport_op, fd: cport_fd, how: u32) -> c_int;
    pub fn cport_poll(port: *mut cport, op: *mut cport_op, fd: cport_fd, events: u32) -> c_int;
    pub fn cport_sendfile(
        port: *mut cport,
        op: *mut cport_op,
        sock: cport_fd,
        file: cport_fd,
        offset: i64,
        len: usize,
    ) -> c_int;

    // 6b. Pool receives
    pub fn cport_bufpool_add(
        port: *mut cport,
        mem: *mut c_void,
        count: u32,
        size: u32,
        group: *mut u16,
    ) -> c_int;
    pub fn cport_bufpool_remove(port: *mut cport, group: u16) -> c_int;
    pub fn cport_bufpool_return(port: *mut cport, group: u16, id: u16) -> c_int;
    pub fn cport_op_buf_id(op: *const cport_op) -> c_int;
    pub fn cport_recv_pool(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        group: u16,
        flags: u32,
    ) -> c_int;
    pub fn cport_recvmsg_pool(
        port: *mut cport,
        op: *mut cport_op,
        fd: cport_fd,
        group: u16,
        msg: *mut cport_msg,
    ) -> c_int;

    // Simulation (backend "sim")
    pub fn cport_sim_disk_create(disk: *mut *mut cport_sim_disk) -> c_int;
    pub fn cport_sim_disk_destroy(disk: *mut cport_sim_disk) -> c_int;
    pub fn cport_sim_disk_crash(disk: *mut cport_sim_disk, seed: u64, flags: u32) -> c_int;
    pub fn cport_sim_socketpair(port: *mut cport, fds: *mut cport_fd) -> c_int;
    pub fn cport_sim_trace_hash(port: *const cport) -> u64;
    pub fn cport_sim_trace(port: *const cport, buf: *mut c_char, n: usize) -> i64;
}

// ---- Layout tests ----------------------------------------------------------------------

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use core::ffi::CStr;
    use core::mem::{align_of, size_of};

    /// Every struct declared here has the size the library was built with.
    #[test]
    fn struct_sizes_match_the_library() {
        let pairs = [
            ("cport_op", CPORT_STRUCT_OP, size_of::<cport_op>()),
            ("cport_options", CPORT_STRUCT_OPTIONS, size_of::<cport_options>()),
            ("cport_statbuf", CPORT_STRUCT_STATBUF, size_of::<cport_statbuf>()),
            ("cport_addr", CPORT_STRUCT_ADDR, size_of::<cport_addr>()),
            ("cport_iovec", CPORT_STRUCT_IOVEC, size_of::<cport_iovec>()),
            ("cport_msg", CPORT_STRUCT_MSG, size_of::<cport_msg>()),
            ("cport_dio_info", CPORT_STRUCT_DIO_INFO, size_of::<cport_dio_info>()),
            ("cport_sim_profile", CPORT_STRUCT_SIM_PROFILE, size_of::<cport_sim_profile>()),
        ];
        for (name, which, rust) in pairs {
            let c = unsafe { cport_struct_size(which) };
            assert_eq!(rust, c, "{name}: Rust says {rust} bytes, the library {c}");
        }
        assert_eq!(unsafe { cport_struct_size(0) }, 0);
        assert_eq!(unsafe { cport_struct_size(CPORT_STRUCT_SIM_PROFILE + 1) }, 0);
    }

    /// The sizes and alignments the header promises on 64-bit platforms.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn struct_sizes_match_the_header() {
        assert_eq!(size_of::<cport_op>(), 224);
        assert_eq!(size_of::<cport_dio_info>(), 64);
        assert_eq!(align_of::<cport_op>(), 8);
        assert_eq!(size_of::<cport_statbuf>(), 256);
        assert_eq!(size_of::<cport_addr>(), 136);
        assert_eq!(align_of::<cport_addr>(), 8);
        assert_eq!(size_of::<cport_iovec>(), 16);
        assert_eq!(size_of::<cport_dirent>(), 16);
        assert_eq!(size_of::<cport_statfsbuf>(), 64);
        assert_eq!(size_of::<cport_options>(), 48);
        assert_eq!(size_of::<cport_sim_profile>(), 72);
    }

    #[test]
    fn version_matches() {
        let v = unsafe { cport_version() };
        assert_eq!(v >> 16, CPORT_VERSION_MAJOR, "library major version");
        assert!(cport_version_compatible(v), "library {v:#x}, crate {CPORT_VERSION_HEX:#x}");
        let s = unsafe { CStr::from_ptr(cport_version_string()) }.to_str().unwrap();
        let expect = std::format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff);
        assert_eq!(s, expect);
    }

    /// Each constant has the value the library gives that name (catches a wrong column).
    #[test]
    fn error_values_match_the_library() {
        for &(name, code) in CPORT_ERRORS {
            let lib = unsafe { CStr::from_ptr(cport_err_name(code as i64)) }.to_str().unwrap();
            assert_eq!(std::format!("CPORT_{lib}"), name, "code {code}");
        }
        assert_eq!(CPORT_ERRORS.len(), 51); // the header's CPORT_ERRNO_MAP
        let ok = unsafe { CStr::from_ptr(cport_err_name(0)) };
        assert_eq!(ok.to_str().unwrap(), "OK");
    }

    #[test]
    fn create_and_destroy() {
        let mut port: *mut cport = core::ptr::null_mut();
        let rc = unsafe { cport_create(&mut port, core::ptr::null()) };
        assert_eq!(rc, 0, "cport_create");
        let mut op = cport_op::zeroed();
        assert_eq!(unsafe { cport_nop(port, &mut op) }, 0);
        let mut out = [core::ptr::null_mut::<cport_op>(); 1];
        let n = unsafe { cport_wait(port, out.as_mut_ptr(), 1, 5_000_000_000) };
        assert_eq!(n, 1);
        assert_eq!(out[0], &mut op as *mut cport_op);
        assert_eq!(op.result, 0);
        unsafe { cport_destroy(port) };
    }
}
