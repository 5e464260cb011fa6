// SPDX-License-Identifier: MIT
// A safe Rust API for cport: the port owns each in-flight op and its buffers until it completes.

//! Windows-style completion ports (submit an op, reap its completion) on io_uring, epoll,
//! poll, kqueue and IOCP, through the C library `cport`.
//!
//! Ownership follows the overlapped contract of `cport.h`: an [`Op`] is a boxed C op
//! together with everything it points at (its `Vec<u8>` buffer, path, address or stat
//! buffer). [`Port::submit`] moves the op into the port, which keeps it while the kernel
//! may use it; [`Port::wait`] hands each finished op back inside a [`Completion`], which
//! returns the buffer. Safe code therefore cannot free or touch a buffer that is still
//! being read or written. Dropping a [`Port`] destroys the C port first (after which
//! nothing touches the ops, as `cport_destroy` promises) and only then frees the ops
//! that were still in flight.
//!
//! ```no_run
//! use cport::{Op, Port};
//! use std::time::Duration;
//!
//! let mut port = Port::new()?;
//! let id = port.submit(Op::timer(Duration::from_millis(10)).user(7))?;
//! let done = port.wait(8, None)?;
//! assert_eq!(done[0].id(), id);
//! assert_eq!(done[0].user(), 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Registered buffers ([`Port::register_buffers`]) and buffer pools ([`Port::add_pool`])
//! are owned by the port the same way: a registered buffer is lent out
//! ([`Port::fixed_buf`]) only while no fixed op uses it, and a pool receive's
//! completion lends its buffer as a [`PoolBuf`], which goes back to the pool when
//! dropped; the port never touches a lent buffer. Misuse the types cannot rule out (a
//! bad flag, an index that is not registered) gets the C library's error code.
//!
//! Map: errors; addresses and socket helpers; direct I/O and routes; buffer pools; ops;
//! completions; the port (with registered buffers and files, and pools).
//!
//! Descriptors ([`Fd`]) are plain numbers, as `RawFd`: the port does not own them.

use cport_sys as sys;
use std::collections::{HashMap, VecDeque};
use std::ffi::{c_char, c_int, CStr, CString};
use std::fmt;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::time::Duration;

pub use sys::cport_fd as Fd;

// ---- Errors ----------------------------------------------------------------------------

/// A cport error: a negative `CPORT_E*` code (on Unix equal to `-errno`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    /// The `CPORT_E*` code, negative.
    pub code: i32,
}

macro_rules! error_consts {
    ($($name:ident = $sys:ident),* $(,)?) => {
        impl Error {
            $(
                #[doc = concat!("`", stringify!($sys), "`")]
                pub const $name: Error = Error { code: sys::$sys };
            )*
            /// Every `CPORT_E*` code of the header, in its order.
            pub const ALL: &'static [Error] = &[$(Error::$name),*];
        }
    };
}

// Every code of the header's CPORT_ERRNO_MAP (bindings/coverage.py checks that none is
// missing; tests check the count against cport-sys's table).
error_consts! {
    PERM = CPORT_EPERM, NOENT = CPORT_ENOENT, INTR = CPORT_EINTR, IO = CPORT_EIO,
    NXIO = CPORT_ENXIO, BADF = CPORT_EBADF, AGAIN = CPORT_EAGAIN, NOMEM = CPORT_ENOMEM,
    ACCES = CPORT_EACCES, FAULT = CPORT_EFAULT, BUSY = CPORT_EBUSY, EXIST = CPORT_EEXIST,
    XDEV = CPORT_EXDEV, NODEV = CPORT_ENODEV, NOTDIR = CPORT_ENOTDIR, ISDIR = CPORT_EISDIR,
    INVAL = CPORT_EINVAL, NFILE = CPORT_ENFILE, MFILE = CPORT_EMFILE, FBIG = CPORT_EFBIG,
    NOSPC = CPORT_ENOSPC, SPIPE = CPORT_ESPIPE, ROFS = CPORT_EROFS, PIPE = CPORT_EPIPE,
    NAMETOOLONG = CPORT_ENAMETOOLONG, NOSYS = CPORT_ENOSYS, NOTEMPTY = CPORT_ENOTEMPTY,
    LOOP = CPORT_ELOOP, OVERFLOW = CPORT_EOVERFLOW, NOTSOCK = CPORT_ENOTSOCK,
    DESTADDRREQ = CPORT_EDESTADDRREQ, MSGSIZE = CPORT_EMSGSIZE,
    PROTONOSUPPORT = CPORT_EPROTONOSUPPORT, NOTSUP = CPORT_ENOTSUP,
    AFNOSUPPORT = CPORT_EAFNOSUPPORT, ADDRINUSE = CPORT_EADDRINUSE,
    ADDRNOTAVAIL = CPORT_EADDRNOTAVAIL, NETDOWN = CPORT_ENETDOWN,
    NETUNREACH = CPORT_ENETUNREACH, CONNABORTED = CPORT_ECONNABORTED,
    CONNRESET = CPORT_ECONNRESET, NOBUFS = CPORT_ENOBUFS, ISCONN = CPORT_EISCONN,
    NOTCONN = CPORT_ENOTCONN, SHUTDOWN = CPORT_ESHUTDOWN, TIMEDOUT = CPORT_ETIMEDOUT, CONNREFUSED = CPORT_ECONNREFUSED,
    HOSTUNREACH = CPORT_EHOSTUNREACH, ALREADY = CPORT_EALREADY,
    INPROGRESS = CPORT_EINPROGRESS, CANCELED = CPORT_ECANCELED,
}

impl Error {
    /// The error of a negative code (any value is kept as it is).
    pub const fn from_code(code: i32) -> Error {
        Error { code }
    }

    /// The code's name without the prefix, e.g. "ECANCELED" ("UNKNOWN" if unknown).
    pub fn name(self) -> &'static str {
        // SAFETY: cport_err_name returns a static NUL-terminated ASCII string.
        unsafe { static_str(sys::cport_err_name(self.code as i64)) }
    }

    /// The code's description, from `cport_strerror`.
    pub fn text(self) -> &'static str {
        // SAFETY: cport_strerror returns a static NUL-terminated ASCII string.
        unsafe { static_str(sys::cport_strerror(self.code as i64)) }
    }
}

/// A static C string from the library as &str (its strings are ASCII).
unsafe fn static_str(p: *const c_char) -> &'static str {
    if p.is_null() {
        return "";
    }
    CStr::from_ptr(p).to_str().unwrap_or("?")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.text(), self.name())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error {{ code: {}, name: {} }}", self.code, self.name())
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        // On Unix the codes are -errno; on Windows they are Linux numbers, which
        // mean nothing to the OS, so only the text travels.
        if cfg!(unix) && e.code < 0 {
            std::io::Error::from_raw_os_error(-e.code)
        } else {
            std::io::Error::new(std::io::ErrorKind::Other, e)
        }
    }
}

/// A cport result.
pub type Result<T> = std::result::Result<T, Error>;

/// 0 or a positive count from a C call, or its error.
fn check(rc: c_int) -> Result<c_int> {
    if rc < 0 {
        Err(Error::from_code(rc))
    } else {
        Ok(rc)
    }
}

/// The version of the linked library, "major.minor.patch".
pub fn version_string() -> &'static str {
    // SAFETY: a static string.
    unsafe { static_str(sys::cport_version_string()) }
}

/// The linked library's version as `(major << 16) | (minor << 8) | patch`.
pub fn version() -> u32 {
    // SAFETY: no arguments, no state.
    unsafe { sys::cport_version() }
}

/// The monotonic clock of absolute timers, in nanoseconds.
pub fn now_ns() -> u64 {
    // SAFETY: no arguments, no state.
    unsafe { sys::cport_now_ns() }
}

// ---- Addresses and socket helpers ------------------------------------------------------

/// The family of an [`Addr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Unspec,
    Inet,
    Inet6,
    /// An AF_UNIX path (a named pipe on Windows).
    Local,
}

impl Family {
    fn raw(self) -> c_int {
        match self {
            Family::Unspec => sys::CPORT_AF_UNSPEC,
            Family::Inet => sys::CPORT_AF_INET,
            Family::Inet6 => sys::CPORT_AF_INET6,
            Family::Local => sys::CPORT_AF_LOCAL,
        }
    }
}

/// A socket address of any family (`cport_addr`).
#[derive(Clone, Copy)]
pub struct Addr {
    raw: sys::cport_addr,
}

impl Addr {
    /// An empty address.
    pub const fn empty() -> Addr {
        Addr { raw: sys::cport_addr::zeroed() }
    }

    /// Parse `"a.b.c.d:port"` or `"[v6]:port"` (numeric only).
    pub fn parse(text: &str) -> Result<Addr> {
        let c = CString::new(text).map_err(|_| Error::INVAL)?;
        let mut a = Addr::empty();
        // SAFETY: both pointers are valid for the call.
        check(unsafe { sys::cport_addr_parse(&mut a.raw, c.as_ptr()) })?;
        Ok(a)
    }

    pub fn family(&self) -> Family {
        // SAFETY: a valid address.
        match unsafe { sys::cport_addr_family(&self.raw) } {
            sys::CPORT_AF_INET => Family::Inet,
            sys::CPORT_AF_INET6 => Family::Inet6,
            sys::CPORT_AF_LOCAL => Family::Local,
            _ => Family::Unspec,
        }
    }

    /// The port of an IP address; None for other families.
    pub fn port(&self) -> Option<u16> {
        // SAFETY: a valid address.
        let p = unsafe { sys::cport_addr_port(&self.raw) };
        u16::try_from(p).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.len == 0
    }

    /// The C struct, to pass to cport-sys.
    pub fn as_raw(&self) -> &sys::cport_addr {
        &self.raw
    }

    pub fn from_raw(raw: sys::cport_addr) -> Addr {
        Addr { raw }
    }

    /// The text form, as cport_addr_format writes it.
    pub fn format(&self) -> Result<String> {
        let mut buf = [0u8; 256];
        // SAFETY: `buf` is writable for its length.
        let n = check(unsafe {
            sys::cport_addr_format(&self.raw, buf.as_mut_ptr().cast(), buf.len())
        })?;
        Ok(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
    }

    fn bytes(&self) -> &[u8] {
        let len = (self.raw.len as usize).min(std::mem::size_of_val(&self.raw.storage));
        // SAFETY: `storage` is plain bytes; len is clamped to its size.
        unsafe { std::slice::from_raw_parts(self.raw.storage.as_ptr().cast::<u8>(), len) }
    }
}

impl PartialEq for Addr {
    fn eq(&self, other: &Addr) -> bool {
        self.bytes() == other.bytes()
    }
}
impl Eq for Addr {}

impl std::str::FromStr for Addr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Addr> {
        Addr::parse(s)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format() {
            Ok(s) => f.write_str(&s),
            Err(_) => f.write_str("<empty>"),
        }
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Addr({self})")
    }
}

impl TryFrom<std::net::SocketAddr> for Addr {
    type Error = Error;
    fn try_from(sa: std::net::SocketAddr) -> Result<Addr> {
        Addr::parse(&sa.to_string())
    }
}

impl TryFrom<&Addr> for std::net::SocketAddr {
    type Error = Error;
    fn try_from(a: &Addr) -> Result<std::net::SocketAddr> {
        match a.family() {
            Family::Inet | Family::Inet6 => a.format()?.parse().map_err(|_| Error::INVAL),
            _ => Err(Error::INVAL),
        }
    }
}

/// A listening TCP socket bound to `addr` (port 0: any free port; read it back with
/// [`sock_local`]). `backlog` <= 0: the system's maximum. `flags`: CPORT_SOCK_*.
pub fn tcp_listen(addr: &Addr, backlog: i32, flags: u32) -> Result<Fd> {
    let mut fd: Fd = Default::default();
    // SAFETY: valid pointers for the call.
    check(unsafe { sys::cport_tcp_listen(&mut fd, &addr.raw, backlog, flags) })?;
    Ok(fd)
}

/// A TCP socket of `family` (Inet or Inet6), to connect with [`Op::connect`].
pub fn tcp_socket(family: Family) -> Result<Fd> {
    let mut fd: Fd = Default::default();
    // SAFETY: a valid pointer for the call.
    check(unsafe { sys::cport_tcp_socket(&mut fd, family.raw()) })?;
    Ok(fd)
}

/// A UDP socket bound to `addr`. `flags`: CPORT_SOCK_*.
pub fn udp_socket(addr: &Addr, flags: u32) -> Result<Fd> {
    let mut fd: Fd = Default::default();
    // SAFETY: valid pointers for the call.
    check(unsafe { sys::cport_udp_socket(&mut fd, &addr.raw, flags) })?;
    Ok(fd)
}

/// A local stream server (AF_UNIX path; a named pipe on Windows).
pub fn local_listen(name: &str, backlog: i32) -> Result<Fd> {
    let c = CString::new(name).map_err(|_| Error::INVAL)?;
    let mut fd: Fd = Default::default();
    // SAFETY: valid pointers for the call.
    check(unsafe { sys::cport_local_listen(&mut fd, c.as_ptr(), backlog) })?;
    Ok(fd)
}

/// Connect to the local stream server `name` at once.
pub fn local_connect(name: &str) -> Result<Fd> {
    let c = CString::new(name).map_err(|_| Error::INVAL)?;
    let mut fd: Fd = Default::default();
    // SAFETY: valid pointers for the call.
    check(unsafe { sys::cport_local_connect(&mut fd, c.as_ptr()) })?;
    Ok(fd)
}

/// The local address of a socket (getsockname).
pub fn sock_local(fd: Fd) -> Result<Addr> {
    let mut a = Addr::empty();
    // SAFETY: a valid pointer for the call.
    check(unsafe { sys::cport_sock_local(fd, &mut a.raw) })?;
    Ok(a)
}

/// The peer address of a connected socket (getpeername).
pub fn sock_peer(fd: Fd) -> Result<Addr> {
    let mut a = Addr::empty();
    // SAFETY: a valid pointer for the call.
    check(unsafe { sys::cport_sock_peer(fd, &mut a.raw) })?;
    Ok(a)
}

/// TCP_NODELAY on or off.
pub fn sock_nodelay(fd: Fd, on: bool) -> Result<()> {
    // SAFETY: plain values.
    check(unsafe { sys::cport_sock_nodelay(fd, on as c_int) }).map(drop)
}

/// Close a descriptor at once, without an op. Only when no op is in flight on it
/// (else use [`Op::close`]).
pub fn sock_close(fd: Fd) -> Result<()> {
    // SAFETY: plain values.
    check(unsafe { sys::cport_sock_close(fd) }).map(drop)
}

/// SO_KEEPALIVE on or off; with `on` and `idle_s` > 0 the first probe goes after that
/// many idle seconds.
pub fn sock_keepalive(fd: Fd, on: bool, idle_s: u32) -> Result<()> {
    // SAFETY: plain values.
    check(unsafe { sys::cport_sock_keepalive(fd, on as c_int, idle_s) }).map(drop)
}

// ---- Direct I/O and routes -------------------------------------------------------------

/// The direct-I/O rules of an open descriptor (`cport_dio_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DioInfo {
    /// CPORT_DIO_* (DIRECT: open for direct I/O now; EXACT: the OS's own answer).
    pub flags: u32,
    /// Buffer addresses: multiples of this (0 with `offset_align` 0: no direct I/O here).
    pub mem_align: u32,
    /// File offsets and lengths: multiples of this.
    pub offset_align: u32,
    /// The same for reads.
    pub read_offset_align: u32,
    pub atomic_write_min: u32,
    pub atomic_write_max: u32,
    pub atomic_write_segments_max: u32,
}

impl DioInfo {
    /// The descriptor is open for direct I/O now (CPORT_DIO_DIRECT).
    pub fn direct(&self) -> bool {
        self.flags & sys::CPORT_DIO_DIRECT != 0
    }
}

/// Tell the direct-I/O rules of `fd` (cport_dio_query; a plain call, not an op).
pub fn dio_query(fd: Fd) -> Result<DioInfo> {
    let mut info = sys::cport_dio_info {
        size: std::mem::size_of::<sys::cport_dio_info>() as u32,
        ..Default::default()
    };
    // SAFETY: `info` is valid for the call and its size is set.
    check(unsafe { sys::cport_dio_query(fd, &mut info) })?;
    Ok(DioInfo {
        flags: info.flags,
        mem_align: info.mem_align,
        offset_align: info.offset_align,
        read_offset_align: info.read_offset_align,
        atomic_write_min: info.atomic_write_min,
        atomic_write_max: info.atomic_write_max,
        atomic_write_segments_max: info.atomic_write_segments_max,
    })
}

/// A zeroed buffer at an aligned address, from `cport_alloc_aligned`, for direct I/O
/// ([`Op::read_aligned`], [`Op::write_aligned`]). Freed with `cport_free_aligned`.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    align: usize,
}

// SAFETY: it owns its memory exclusively, like a Vec<u8>.
unsafe impl Send for AlignedBuf {}
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// `len` bytes (> 0) at a multiple of `align` (a power of two; 4096 suits every
    /// common device, else [`DioInfo::mem_align`]). [`Error::INVAL`] for a length of 0
    /// or a bad alignment, [`Error::NOMEM`].
    pub fn new(len: usize, align: usize) -> Result<AlignedBuf> {
        let mut p: *mut std::ffi::c_void = ptr::null_mut();
        // SAFETY: `p` is valid for the call; the library checks len and align.
        check(unsafe { sys::cport_alloc_aligned(&mut p, len, align) })?;
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(Error::NOMEM)?;
        // The library does not zero it; a slice of it must hold initialised bytes.
        // SAFETY: `len` bytes at `ptr` were just allocated.
        unsafe { ptr::write_bytes(ptr.as_ptr(), 0, len) };
        Ok(AlignedBuf { ptr, len, align })
    }

    /// The alignment asked for.
    pub fn align(&self) -> usize {
        self.align
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as deref, borrowed exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated by cport_alloc_aligned, freed once.
        unsafe { sys::cport_free_aligned(self.ptr.as_ptr().cast()) }
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlignedBuf {{ len: {}, align: {} }}", self.len, self.align)
    }
}

/// Where an op of a kind does its work on a port now ([`Port::route`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The kernel's asynchronous interface (an io_uring SQE, an IOCP overlapped call).
    Kernel,
    /// A blocking call on the port's thread pool.
    Pool,
    /// On the port's thread over readiness (epoll, poll, kqueue).
    Reactor,
    /// Done by cport on the port thread (nop, timer, a quick call).
    Local,
    /// A non-waiting try on the port thread (RWF_NOWAIT), the rest on the pool.
    NowaitPool,
}

// ---- Buffer pools (section 6b) ---------------------------------------------------------

/// The memory of one pool, shared by the port, the pool receives in flight and the
/// buffers lent to the caller: freed when the last of them lets go, so a [`PoolBuf`]
/// outliving its pool (removed, or its port dropped) still reads valid memory.
struct PoolShared {
    mem: NonNull<u8>,
    bytes: usize,
    size: u32,
    count: u32,
    group: u16,
    /// Ids of buffers the caller dropped, given back at the port's next call.
    returns: std::sync::Mutex<Vec<u16>>,
}

// SAFETY: the memory is only read through PoolBufs (each a buffer the port does not
// touch) and written by the library through the port; `returns` is locked.
unsafe impl Send for PoolShared {}
unsafe impl Sync for PoolShared {}

impl Drop for PoolShared {
    fn drop(&mut self) {
        // SAFETY: made from a Box<[u8]> of `bytes` bytes in Port::add_pool.
        drop(unsafe {
            Box::from_raw(ptr::slice_from_raw_parts_mut(self.mem.as_ptr(), self.bytes))
        });
    }
}

/// A pool of receive buffers registered with a port ([`Port::add_pool`]): `count`
/// buffers of `size` bytes in memory the pool owns. Pass it to [`Op::recv_pool`]; the
/// completion lends the buffer that got the data as a [`PoolBuf`].
#[derive(Clone)]
pub struct Pool {
    shared: std::sync::Arc<PoolShared>,
}

impl Pool {
    /// The pool's number on its port (the C `group`).
    pub fn group(&self) -> u16 {
        self.shared.group
    }

    /// Bytes per buffer.
    pub fn buf_size(&self) -> u32 {
        self.shared.size
    }

    /// Buffers in the pool.
    pub fn count(&self) -> u32 {
        self.shared.count
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        write!(f, "Pool {{ group: {}, count: {}, size: {} }}", s.group, s.count, s.size)
    }
}

/// A pool buffer a completion lent to the caller, holding the bytes received. It reads
/// as `&[u8]`; dropping it gives the buffer back to its pool (at the port's next call:
/// submit, wait, flush), or [`Port::return_buf`] gives it back at once. Until then the
/// port never touches it.
pub struct PoolBuf {
    pool: std::sync::Arc<PoolShared>,
    id: u16,
    len: usize,
}

impl PoolBuf {
    /// The buffer's id in its pool.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The pool's number.
    pub fn group(&self) -> u16 {
        self.pool.group
    }
}

impl std::ops::Deref for PoolBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let start = self.id as usize * self.pool.size as usize;
        // SAFETY: buffer `id` lies inside the pool's memory (id < count, len <= size),
        // and it is the caller's: the library does not write it until it is returned.
        unsafe { std::slice::from_raw_parts(self.pool.mem.as_ptr().add(start), self.len) }
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        let mut q = self.pool.returns.lock().unwrap_or_else(|e| e.into_inner());
        q.push(self.id);
    }
}

impl fmt::Debug for PoolBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoolBuf {{ group: {}, id: {}, len: {} }}", self.pool.group, self.id, self.len)
    }
}

// ---- Ops -------------------------------------------------------------------------------

/// What an op does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Nop,
    Timer,
    Post,
    Read,
    Write,
    /// cport_read_fixed: a read into a registered buffer.
    ReadFixed,
    /// cport_write_fixed: a write from a registered buffer.
    WriteFixed,
    Fsync,
    FsyncRange,
    Open,
    /// cport_openat: an open relative to a directory descriptor.
    OpenAt,
    Close,
    Stat,
    Statfs,
    Unlink,
    Mkdir,
    /// cport_rename, or cport_rename2 with flags.
    Rename,
    Link,
    Symlink,
    Readlink,
    Access,
    Readdir,
    Fadvise,
    Lock,
    Unlock,
    Ftruncate,
    Accept,
    Connect,
    Recv,
    /// cport_recv_pool, one-shot or multishot: the data comes in a [`PoolBuf`].
    RecvPool,
    /// cport_recvmsg_pool: one datagram into a [`PoolBuf`], with its sender.
    RecvmsgPool,
    Send,
    Shutdown,
    Poll,
}

/// The buffer of a read or write: a Vec, or aligned memory for direct I/O.
enum Buf {
    Vec(Vec<u8>),
    Aligned(AlignedBuf),
}

impl Buf {
    fn as_mut_ptr(&mut self) -> *mut u8 {
        match self {
            Buf::Vec(v) => v.as_mut_ptr(),
            Buf::Aligned(a) => a.as_mut_ptr(),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Buf::Vec(v) => v,
            Buf::Aligned(a) => a,
        }
    }
}

/// What an op needs, owned: kept alive (and unmoved, inside the op's box) until it
/// completes.
enum Req {
    Nop,
    Timer { ns: u64, flags: u32 },
    Post { result: i64 },
    Read { fd: Fd, buf: Buf, offset: i64 },
    Write { fd: Fd, buf: Buf, offset: i64 },
    // `at`..`at + len` of registered buffer `index`, at file offset `offset`.
    Fixed { write: bool, fd: Fd, index: u32, at: usize, len: usize, offset: i64 },
    Fsync { fd: Fd, flags: u32 },
    FsyncRange { fd: Fd, flags: u32, offset: i64, len: i64 },
    Open { dir: Option<Fd>, path: Option<CString>, flags: u32, mode: u32 },
    Close { fd: Fd },
    Stat { path: Option<Option<CString>>, fd: Fd, st: sys::cport_statbuf },
    Statfs { path: Option<CString>, st: sys::cport_statfsbuf },
    Unlink { path: Option<CString>, flags: u32 },
    Mkdir { path: Option<CString>, mode: u32 },
    Rename { from: Option<CString>, to: Option<CString>, flags: u32 },
    Link { from: Option<CString>, to: Option<CString> },
    Symlink { target: Option<CString>, path: Option<CString>, flags: u32 },
    Readlink { path: Option<CString>, buf: Vec<u8> },
    Access { path: Option<CString>, mode: u32 },
    // `buf` as u64 words: cport_readdir wants an 8-byte aligned buffer.
    Readdir { dir: Fd, buf: Vec<u64>, len: usize, flags: u32 },
    Fadvise { fd: Fd, offset: i64, len: i64, advice: u32 },
    Lock { fd: Fd, offset: i64, len: i64, flags: u32 },
    Unlock { fd: Fd, offset: i64, len: i64 },
    Ftruncate { fd: Fd, len: i64 },
    Accept { fd: Fd, peer: sys::cport_addr, flags: u32 },
    Connect { fd: Fd, addr: sys::cport_addr },
    Recv { fd: Fd, buf: Vec<u8> },
    RecvPool { fd: Fd, pool: Pool, flags: u32 },
    // `msg.addr` points at `from`, set when the op starts (the slot does not move).
    RecvmsgPool { fd: Fd, pool: Pool, msg: sys::cport_msg, from: sys::cport_addr },
    Send { fd: Fd, buf: Vec<u8>, flags: u32 },
    Shutdown { fd: Fd, how: u32 },
    Poll { fd: Fd, events: u32 },
}

impl Req {
    fn kind(&self) -> OpKind {
        match self {
            Req::Nop => OpKind::Nop,
            Req::Timer { .. } => OpKind::Timer,
            Req::Post { .. } => OpKind::Post,
            Req::Read { .. } => OpKind::Read,
            Req::Write { .. } => OpKind::Write,
            Req::Fixed { write: false, .. } => OpKind::ReadFixed,
            Req::Fixed { write: true, .. } => OpKind::WriteFixed,
            Req::Fsync { .. } => OpKind::Fsync,
            Req::FsyncRange { .. } => OpKind::FsyncRange,
            Req::Open { dir: None, .. } => OpKind::Open,
            Req::Open { dir: Some(_), .. } => OpKind::OpenAt,
            Req::Close { .. } => OpKind::Close,
            Req::Stat { .. } => OpKind::Stat,
            Req::Statfs { .. } => OpKind::Statfs,
            Req::Unlink { .. } => OpKind::Unlink,
            Req::Mkdir { .. } => OpKind::Mkdir,
            Req::Rename { .. } => OpKind::Rename,
            Req::Link { .. } => OpKind::Link,
            Req::Symlink { .. } => OpKind::Symlink,
            Req::Readlink { .. } => OpKind::Readlink,
            Req::Access { .. } => OpKind::Access,
            Req::Readdir { .. } => OpKind::Readdir,
            Req::Fadvise { .. } => OpKind::Fadvise,
            Req::Lock { .. } => OpKind::Lock,
            Req::Unlock { .. } => OpKind::Unlock,
            Req::Ftruncate { .. } => OpKind::Ftruncate,
            Req::Accept { .. } => OpKind::Accept,
            Req::Connect { .. } => OpKind::Connect,
            Req::Recv { .. } => OpKind::Recv,
            Req::RecvPool { .. } => OpKind::RecvPool,
            Req::RecvmsgPool { .. } => OpKind::RecvmsgPool,
            Req::Send { .. } => OpKind::Send,
            Req::Shutdown { .. } => OpKind::Shutdown,
            Req::Poll { .. } => OpKind::Poll,
        }
    }
}

/// The heap block of one op: the C op (whose `user` points back here) and its request.
struct Slot {
    raw: sys::cport_op,
    kind: OpKind,
    user: u64,
    id: u64,
    req: Req,
}

/// An operation not yet submitted (or handed back): the C op and everything it uses.
pub struct Op {
    slot: Box<Slot>,
}

// SAFETY: an Op owns all it points to; its raw pointers are null or point into itself.
unsafe impl Send for Op {}

/// A path as the C string cport takes (UTF-8 on Windows); None if it cannot be one.
fn c_path(path: &Path) -> Option<CString> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        CString::new(path.as_os_str().as_bytes()).ok()
    }
    #[cfg(not(unix))]
    {
        CString::new(path.to_str()?).ok()
    }
}

impl Op {
    fn new(req: Req) -> Op {
        let kind = req.kind();
        Op { slot: Box::new(Slot { raw: sys::cport_op::zeroed(), kind, user: 0, id: 0, req }) }
    }

    /// A no-op. result: 0.
    pub fn nop() -> Op {
        Op::new(Req::Nop)
    }

    /// A timer that completes with 0 after `after`.
    pub fn timer(after: Duration) -> Op {
        Op::new(Req::Timer { ns: duration_ns(after), flags: 0 })
    }

    /// A timer that completes with 0 when [`now_ns`] reaches `deadline_ns`.
    pub fn timer_at(deadline_ns: u64) -> Op {
        Op::new(Req::Timer { ns: deadline_ns, flags: sys::CPORT_TIMER_ABS })
    }

    /// A completion posted to the port with `result` (like PostQueuedCompletionStatus).
    pub fn post(result: i64) -> Op {
        Op::new(Req::Post { result })
    }

    /// Read up to `buf.len()` bytes at `offset` (-1: current position / stream). The
    /// completion's buffer is cut to the bytes read.
    pub fn read(fd: Fd, buf: impl Into<Vec<u8>>, offset: i64) -> Op {
        Op::new(Req::Read { fd, buf: Buf::Vec(buf.into()), offset })
    }

    /// Write all of `buf` at `offset` (-1: current position / stream).
    pub fn write(fd: Fd, buf: impl Into<Vec<u8>>, offset: i64) -> Op {
        Op::new(Req::Write { fd, buf: Buf::Vec(buf.into()), offset })
    }

    /// [`Op::read`] into aligned memory, for a descriptor opened with CPORT_O_DIRECT
    /// (offset and length must keep [`dio_query`]'s rules: else [`Error::INVAL`] from
    /// the kernel). [`Completion::buf`] is the part read; [`Completion::into_aligned`]
    /// gives the whole buffer back.
    pub fn read_aligned(fd: Fd, buf: AlignedBuf, offset: i64) -> Op {
        Op::new(Req::Read { fd, buf: Buf::Aligned(buf), offset })
    }

    /// [`Op::write`] from aligned memory (see [`Op::read_aligned`]).
    pub fn write_aligned(fd: Fd, buf: AlignedBuf, offset: i64) -> Op {
        Op::new(Req::Write { fd, buf: Buf::Aligned(buf), offset })
    }

    /// Read `len` bytes at file `offset` (-1: position / stream) into registered buffer
    /// `index` ([`Port::register_buffers`]) from byte `at` of it (cport_read_fixed).
    /// The bytes are read with [`Port::fixed_buf`] once the op completed. An index
    /// that is not registered, or a range outside the buffer: [`Error::INVAL`].
    pub fn read_fixed(fd: Fd, index: u32, at: usize, len: usize, offset: i64) -> Op {
        Op::new(Req::Fixed { write: false, fd, index, at, len, offset })
    }

    /// Write `len` bytes from byte `at` of registered buffer `index` at file `offset`
    /// (cport_write_fixed; see [`Op::read_fixed`]).
    pub fn write_fixed(fd: Fd, index: u32, at: usize, len: usize, offset: i64) -> Op {
        Op::new(Req::Fixed { write: true, fd, index, at, len, offset })
    }

    /// fsync, or fdatasync with `data_only`.
    pub fn fsync(fd: Fd, data_only: bool) -> Op {
        let flags = if data_only { sys::CPORT_FSYNC_DATA } else { 0 };
        Op::new(Req::Fsync { fd, flags })
    }

    /// cport_fsync with raw CPORT_FSYNC_* `flags` (unknown bits: [`Error::INVAL`]).
    pub fn fsync_flags(fd: Fd, flags: u32) -> Op {
        Op::new(Req::Fsync { fd, flags })
    }

    /// Write back [offset, offset + len) of a file (len 0: to the end) and wait for it
    /// (cport_fsync_range; far weaker than [`Op::fsync`]: read cport.h). `flags` must
    /// be 0.
    pub fn fsync_range(fd: Fd, offset: i64, len: i64, flags: u32) -> Op {
        Op::new(Req::FsyncRange { fd, flags, offset, len })
    }

    /// Open `path` with CPORT_O_* `flags` (and `mode` bits when creating). result: the
    /// new descriptor ([`Completion::fd`]).
    pub fn open(path: impl AsRef<Path>, flags: u32, mode: u32) -> Op {
        Op::new(Req::Open { dir: None, path: c_path(path.as_ref()), flags, mode })
    }

    /// Open `path` relative to the directory `dir` (opened with CPORT_O_DIRECTORY, or
    /// `sys::CPORT_AT_CWD`), as [`Op::open`] (cport_openat).
    pub fn openat(dir: Fd, path: impl AsRef<Path>, flags: u32, mode: u32) -> Op {
        Op::new(Req::Open { dir: Some(dir), path: c_path(path.as_ref()), flags, mode })
    }

    /// Close `fd`; ops in flight on it complete first with [`Error::CANCELED`].
    pub fn close(fd: Fd) -> Op {
        Op::new(Req::Close { fd })
    }

    /// Stat `path` (following symbolic links); see [`Completion::stat`].
    pub fn stat(path: impl AsRef<Path>) -> Op {
        let path = Some(c_path(path.as_ref()));
        Op::new(Req::Stat { path, fd: Default::default(), st: sys::cport_statbuf::zeroed() })
    }

    /// Stat an open descriptor; see [`Completion::stat`].
    pub fn fstat(fd: Fd) -> Op {
        Op::new(Req::Stat { path: None, fd, st: sys::cport_statbuf::zeroed() })
    }

    /// The file system holding `path`; see [`Completion::statfs`].
    pub fn statfs(path: impl AsRef<Path>) -> Op {
        Op::new(Req::Statfs { path: c_path(path.as_ref()), st: Default::default() })
    }

    /// Remove a file (or with `dir`, an empty directory).
    pub fn unlink(path: impl AsRef<Path>, dir: bool) -> Op {
        let flags = if dir { sys::CPORT_UNLINK_DIR } else { 0 };
        Op::new(Req::Unlink { path: c_path(path.as_ref()), flags })
    }

    /// Create a directory with permission bits `mode`.
    pub fn mkdir(path: impl AsRef<Path>, mode: u32) -> Op {
        Op::new(Req::Mkdir { path: c_path(path.as_ref()), mode })
    }

    /// Rename `from` to `to`, replacing `to`.
    pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> Op {
        Op::rename2(from, to, 0)
    }

    /// Rename with CPORT_RENAME_* `flags` (NOREPLACE: [`Error::EXIST`] if `to` exists;
    /// EXCHANGE: swap both). 0 is [`Op::rename`] (cport_rename2).
    pub fn rename2(from: impl AsRef<Path>, to: impl AsRef<Path>, flags: u32) -> Op {
        let (from, to) = (c_path(from.as_ref()), c_path(to.as_ref()));
        Op::new(Req::Rename { from, to, flags })
    }

    /// Make `to` a new hard link to `from`.
    pub fn link(from: impl AsRef<Path>, to: impl AsRef<Path>) -> Op {
        Op::new(Req::Link { from: c_path(from.as_ref()), to: c_path(to.as_ref()) })
    }

    /// Make `path` a symbolic link with the text `target` (`flags`: CPORT_SYMLINK_DIR
    /// or 0).
    pub fn symlink(target: impl AsRef<Path>, path: impl AsRef<Path>, flags: u32) -> Op {
        let (target, path) = (c_path(target.as_ref()), c_path(path.as_ref()));
        Op::new(Req::Symlink { target, path, flags })
    }

    /// Read the text of the symbolic link `path` into a buffer of `len` bytes (its NUL
    /// included: [`Error::NOBUFS`] if it does not fit); see [`Completion::link_text`].
    pub fn readlink(path: impl AsRef<Path>, len: usize) -> Op {
        Op::new(Req::Readlink { path: c_path(path.as_ref()), buf: vec![0u8; len] })
    }

    /// Check that the caller may access `path` as CPORT_F_OK or CPORT_R_OK | W_OK | X_OK
    /// say. result: 0, or [`Error::ACCES`], [`Error::NOENT`], ...
    pub fn access(path: impl AsRef<Path>, mode: u32) -> Op {
        Op::new(Req::Access { path: c_path(path.as_ref()), mode })
    }

    /// Read entries of the directory `dir` into a buffer of `len` bytes (at least
    /// `sys::CPORT_READDIR_MIN`; rounded up to 8), from its position (CPORT_READDIR_REWIND
    /// in `flags`: from the first entry). See [`Completion::dirents`]; 0 bytes at the end.
    pub fn readdir(dir: Fd, len: usize, flags: u32) -> Op {
        let words = len / 8 + usize::from(len % 8 != 0);
        Op::new(Req::Readdir { dir, buf: vec![0u64; words], len: words * 8, flags })
    }

    /// Advise the kernel how [offset, offset + len) of `fd` will be read (CPORT_FADV_*).
    pub fn fadvise(fd: Fd, offset: i64, len: i64, advice: u32) -> Op {
        Op::new(Req::Fadvise { fd, offset, len, advice })
    }

    /// Lock [offset, offset + len) of `fd` (len 0: to the end and beyond) for the open
    /// file: CPORT_LOCK_SHARED or CPORT_LOCK_EXCLUSIVE, with CPORT_LOCK_NOWAIT to fail at
    /// once with [`Error::AGAIN`]. result: 0 once held; any error means nothing was taken.
    pub fn lock(fd: Fd, offset: i64, len: i64, flags: u32) -> Op {
        Op::new(Req::Lock { fd, offset, len, flags })
    }

    /// Release the lock on exactly the range [`Op::lock`] took.
    pub fn unlock(fd: Fd, offset: i64, len: i64) -> Op {
        Op::new(Req::Unlock { fd, offset, len })
    }

    /// Set a file's size.
    pub fn ftruncate(fd: Fd, len: i64) -> Op {
        Op::new(Req::Ftruncate { fd, len })
    }

    /// Accept a connection on a listening socket. result: the new descriptor; the
    /// peer's address in [`Completion::peer`].
    pub fn accept(fd: Fd) -> Op {
        Op::new(Req::Accept { fd, peer: sys::cport_addr::zeroed(), flags: 0 })
    }

    /// One submit, one completion per connection (each with [`Completion::more`])
    /// until cancelled or an error; the op comes back with the last one.
    pub fn accept_multishot(fd: Fd) -> Op {
        let flags = sys::CPORT_ACCEPT_MULTISHOT;
        Op::new(Req::Accept { fd, peer: sys::cport_addr::zeroed(), flags })
    }

    /// Connect the socket `fd` to `addr`.
    pub fn connect(fd: Fd, addr: &Addr) -> Op {
        Op::new(Req::Connect { fd, addr: addr.raw })
    }

    /// Receive up to `buf.len()` bytes (at least one, or 0 at end of stream). The
    /// completion's buffer is cut to the bytes received.
    pub fn recv(fd: Fd, buf: impl Into<Vec<u8>>) -> Op {
        Op::new(Req::Recv { fd, buf: buf.into() })
    }

    /// Receive into a buffer of `pool`, chosen once data is there (cport_recv_pool).
    /// The completion lends it: [`Completion::take_pool_buf`] (or [`Completion::buf`]).
    /// A dry pool completes with [`Error::NOBUFS`].
    pub fn recv_pool(fd: Fd, pool: &Pool) -> Op {
        Op::new(Req::RecvPool { fd, pool: pool.clone(), flags: 0 })
    }

    /// [`Op::recv_pool`] with CPORT_RECV_MULTISHOT: one completion per arrival of data,
    /// each with [`Completion::more`], until end of stream, an error ([`Error::NOBUFS`]
    /// among them) or a cancel; the op comes back with the last one.
    pub fn recv_pool_multishot(fd: Fd, pool: &Pool) -> Op {
        Op::new(Req::RecvPool { fd, pool: pool.clone(), flags: sys::CPORT_RECV_MULTISHOT })
    }

    /// One datagram into a buffer of `pool`, with its sender in [`Completion::peer`]
    /// and [`Completion::truncated`] when it was cut (cport_recvmsg_pool).
    pub fn recvmsg_pool(fd: Fd, pool: &Pool) -> Op {
        let msg = sys::cport_msg {
            addr: ptr::null_mut(),
            iov: ptr::null_mut(),
            iovcnt: 0,
            flags: 0,
            internal_: [0; 8],
        };
        let from = sys::cport_addr::zeroed();
        Op::new(Req::RecvmsgPool { fd, pool: pool.clone(), msg, from })
    }

    /// Send all of `buf` (in submission order with the other sends on `fd`).
    pub fn send(fd: Fd, buf: impl Into<Vec<u8>>) -> Op {
        Op::send_flags(fd, buf, 0)
    }

    /// [`Op::send`] with CPORT_SEND_ZC (zero-copy where the kernel can) or
    /// CPORT_SEND_NOZC (never); see [`Completion::zero_copy`]. Both: [`Error::INVAL`].
    pub fn send_flags(fd: Fd, buf: impl Into<Vec<u8>>, flags: u32) -> Op {
        Op::new(Req::Send { fd, buf: buf.into(), flags })
    }

    /// Shut down a direction of a stream socket (CPORT_SHUT_*).
    pub fn shutdown(fd: Fd, how: u32) -> Op {
        Op::new(Req::Shutdown { fd, how })
    }

    /// Complete once `fd` is ready for any of `events` (CPORT_POLL_*).
    pub fn poll(fd: Fd, events: u32) -> Op {
        Op::new(Req::Poll { fd, events })
    }

    /// Set the caller's token, handed back by [`Completion::user`].
    pub fn user(mut self, user: u64) -> Op {
        self.slot.user = user;
        self
    }

    /// Complete with [`Error::TIMEDOUT`] if not finished `after` the submit (zero: no
    /// timeout).
    pub fn timeout(mut self, after: Duration) -> Op {
        self.slot.raw.timeout_ns = duration_ns(after);
        self
    }

    /// CPORT_OP_LINK: the next op submitted starts only if this one succeeds (all its
    /// bytes, for transfers); else it, and the rest of the chain, complete with
    /// [`Error::CANCELED`]. While the last op submitted carries the flag the chain is
    /// open: [`Port::wait`] and [`Port::flush`] then fail with [`Error::INVAL`].
    pub fn linked(mut self) -> Op {
        self.slot.raw.flags |= sys::CPORT_OP_LINK;
        self
    }

    /// CPORT_OP_BARRIER: starts after every op submitted before it has completed, and
    /// every later op after it.
    pub fn barrier(mut self) -> Op {
        self.slot.raw.flags |= sys::CPORT_OP_BARRIER;
        self
    }

    /// CPORT_OP_INLINE: a cheap op (stat, a cached read, a buffered write) may run
    /// inside the submit call; it still completes through the port.
    pub fn inline(mut self) -> Op {
        self.slot.raw.flags |= sys::CPORT_OP_INLINE;
        self
    }

    /// Set op->flags to raw CPORT_OP_* bits (unknown bits: [`Error::INVAL`] at submit).
    pub fn op_flags(mut self, flags: u32) -> Op {
        self.slot.raw.flags = flags;
        self
    }

    pub fn kind(&self) -> OpKind {
        self.slot.kind
    }

    /// The buffer of a read, write, recv or send (not an aligned one).
    pub fn into_buf(self) -> Option<Vec<u8>> {
        take_buf(self.slot.req)
    }

    /// The aligned buffer of [`Op::read_aligned`] / [`Op::write_aligned`].
    pub fn into_aligned(self) -> Option<AlignedBuf> {
        take_aligned(self.slot.req)
    }
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Op").field("kind", &self.slot.kind).field("user", &self.slot.user).finish()
    }
}

fn take_buf(req: Req) -> Option<Vec<u8>> {
    match req {
        Req::Read { buf: Buf::Vec(buf), .. } | Req::Write { buf: Buf::Vec(buf), .. } => Some(buf),
        Req::Recv { buf, .. } | Req::Send { buf, .. } => Some(buf),
        _ => None,
    }
}

fn take_aligned(req: Req) -> Option<AlignedBuf> {
    match req {
        Req::Read { buf: Buf::Aligned(a), .. } | Req::Write { buf: Buf::Aligned(a), .. } => Some(a),
        _ => None,
    }
}

/// Nanoseconds of a duration, saturating at u64::MAX.
fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A submission the port refused: the error, and the op back, unchanged.
pub struct Rejected {
    pub error: Error,
    pub op: Op,
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rejected {{ error: {:?}, op: {:?} }}", self.error, self.op)
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} refused: {}", self.op.kind(), self.error)
    }
}

impl std::error::Error for Rejected {}

impl From<Rejected> for Error {
    fn from(r: Rejected) -> Error {
        r.error
    }
}

/// A [`Port::register_buffers`] the library refused: its error, and the buffers back.
#[derive(Debug)]
pub struct BuffersRefused {
    pub error: Error,
    pub bufs: Vec<Vec<u8>>,
}

impl From<BuffersRefused> for Error {
    fn from(r: BuffersRefused) -> Error {
        r.error
    }
}

/// Identifies a submitted op until its (last) completion; never reused by a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpId(u64);

// ---- Completions -----------------------------------------------------------------------

/// What cport_stat / cport_fstat found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
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
}

impl Stat {
    fn from_raw(s: &sys::cport_statbuf) -> Stat {
        Stat {
            size: s.size,
            blocks: s.blocks,
            ino: s.ino,
            dev: s.dev,
            mode: s.mode,
            nlink: s.nlink,
            uid: s.uid,
            gid: s.gid,
            atime_ns: s.atime_ns,
            mtime_ns: s.mtime_ns,
            ctime_ns: s.ctime_ns,
            btime_ns: s.btime_ns,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }

    pub fn is_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }
}

/// What cport_statfs found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Statfs {
    /// The allocation unit, bytes.
    pub bsize: u64,
    /// Bytes in the file system.
    pub total: u64,
    /// Bytes free.
    pub free: u64,
    /// Bytes free for this caller.
    pub avail: u64,
    /// Inodes in all (0 where not counted).
    pub files: u64,
    /// Inodes free (0 where not counted).
    pub ffree: u64,
    /// The longest file name.
    pub namemax: u32,
}

/// One entry of a [`Op::readdir`] completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dirent<'a> {
    /// The inode number (Windows: the file ID).
    pub ino: u64,
    /// CPORT_DT_* (`sys::CPORT_DT_UNKNOWN`: stat the entry).
    pub kind: u8,
    /// The name's bytes (UTF-8 on Windows), without its NUL.
    pub name: &'a [u8],
}

/// The entries of a [`Op::readdir`] completion, in the file system's order.
#[derive(Clone, Debug)]
pub struct Dirents<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Dirents<'a> {
    type Item = Dirent<'a>;

    fn next(&mut self) -> Option<Dirent<'a>> {
        const HEAD: usize = std::mem::size_of::<sys::cport_dirent>();
        let rest = self.buf.get(self.at..)?;
        if rest.len() < HEAD {
            return None;
        }
        // SAFETY: HEAD bytes are there; the header is plain integers (any bits valid).
        let d = unsafe { ptr::read_unaligned(rest.as_ptr().cast::<sys::cport_dirent>()) };
        let (reclen, namelen) = (d.reclen as usize, d.namelen as usize);
        let name = rest.get(HEAD..HEAD + namelen)?;
        if reclen < HEAD + namelen + 1 || reclen > rest.len() {
            return None; // never from cport; stops a walk of a damaged buffer
        }
        self.at += reclen;
        Some(Dirent { ino: d.ino, kind: d.type_, name })
    }
}

/// A finished op (or one completion of a multishot op), with ownership of the op's
/// buffers handed back.
pub struct Completion {
    id: OpId,
    kind: OpKind,
    user: u64,
    result: i64,
    cflags: u32,
    /// The op itself; None while a multishot op stays in flight.
    slot: Option<Box<Slot>>,
    /// The pool buffer a pool receive's completion lends (CPORT_BUF).
    pool_buf: Option<PoolBuf>,
}

// SAFETY: as for Op: the slot is owned and no longer known to the port.
unsafe impl Send for Completion {}

impl Completion {
    pub fn id(&self) -> OpId {
        self.id
    }

    pub fn kind(&self) -> OpKind {
        self.kind
    }

    /// The token set with [`Op::user`].
    pub fn user(&self) -> u64 {
        self.user
    }

    /// `op->result`: >= 0 the value, < 0 a CPORT_E* code.
    pub fn raw_result(&self) -> i64 {
        self.result
    }

    /// The success value (bytes moved, ready events, ...) or the error.
    pub fn result(&self) -> Result<u64> {
        if self.result < 0 {
            Err(Error::from_code(i32::try_from(self.result).unwrap_or(i32::MIN)))
        } else {
            Ok(self.result as u64)
        }
    }

    /// The new descriptor of an open or accept.
    pub fn fd(&self) -> Result<Fd> {
        let v = self.result()?;
        Fd::try_from(v).map_err(|_| Error::INVAL)
    }

    /// A multishot op completed and stays in flight (CPORT_MORE).
    pub fn more(&self) -> bool {
        self.cflags & sys::CPORT_MORE != 0
    }

    /// A send went out zero-copy (CPORT_ZC; io_uring only).
    pub fn zero_copy(&self) -> bool {
        self.cflags & sys::CPORT_ZC != 0
    }

    /// `op->cflags` as cport set it (CPORT_MORE, CPORT_BUF and its id, CPORT_ZC).
    pub fn cflags(&self) -> u32 {
        self.cflags
    }

    /// The bytes of a read or recv (cut to the bytes received), of a pool receive (its
    /// pool buffer, while the completion holds it), or of a write or send.
    pub fn buf(&self) -> Option<&[u8]> {
        if let Some(b) = &self.pool_buf {
            return Some(b);
        }
        let got = usize::try_from(self.result).unwrap_or(0);
        match &self.slot.as_ref()?.req {
            Req::Read { buf, .. } => Some(&buf.as_slice()[..got.min(buf.as_slice().len())]),
            Req::Write { buf, .. } => Some(buf.as_slice()),
            Req::Recv { buf, .. } | Req::Send { buf, .. } => Some(buf),
            _ => None,
        }
    }

    /// Take the buffer back (see [`Completion::buf`]) to reuse it.
    pub fn into_buf(self) -> Option<Vec<u8>> {
        take_buf(self.slot?.req)
    }

    /// Take the aligned buffer of a direct read or write back (all of it).
    pub fn into_aligned(self) -> Option<AlignedBuf> {
        take_aligned(self.slot?.req)
    }

    /// Take the pool buffer a pool receive's completion lends (None: it carries none:
    /// an error, end of stream, or taken already). Dropping it gives it back.
    pub fn take_pool_buf(&mut self) -> Option<PoolBuf> {
        self.pool_buf.take()
    }

    /// What a successful statfs found.
    pub fn statfs(&self) -> Option<Statfs> {
        match &self.slot.as_ref()?.req {
            Req::Statfs { st, .. } if self.result >= 0 => Some(Statfs {
                bsize: st.bsize,
                total: st.total,
                free: st.free,
                avail: st.avail,
                files: st.files,
                ffree: st.ffree,
                namemax: st.namemax,
            }),
            _ => None,
        }
    }

    /// The entries a successful readdir returned (none at the end of the directory).
    pub fn dirents(&self) -> Option<Dirents<'_>> {
        match &self.slot.as_ref()?.req {
            Req::Readdir { buf, len, .. } if self.result >= 0 => {
                // SAFETY: the u64 words are plain bytes; `len` is their size in bytes.
                let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), *len) };
                let n = (self.result as usize).min(*len);
                Some(Dirents { buf: &bytes[..n], at: 0 })
            }
            _ => None,
        }
    }

    /// The text of a symbolic link a successful readlink read (without its NUL).
    pub fn link_text(&self) -> Option<&[u8]> {
        match &self.slot.as_ref()?.req {
            Req::Readlink { buf, .. } if self.result >= 0 => buf.get(..self.result as usize),
            _ => None,
        }
    }

    /// A recvmsg_pool's datagram was longer than the pool's buffers (CPORT_MSG_TRUNC).
    pub fn truncated(&self) -> bool {
        match self.slot.as_ref().map(|s| &s.req) {
            Some(Req::RecvmsgPool { msg, .. }) => msg.flags & sys::CPORT_MSG_TRUNC != 0,
            _ => false,
        }
    }

    /// The peer of an accepted connection, or the sender of a recvmsg_pool's datagram
    /// (None for other ops, errors, multishot).
    pub fn peer(&self) -> Option<Addr> {
        match &self.slot.as_ref()?.req {
            Req::Accept { peer, .. } if self.result >= 0 && peer.len > 0 => {
                Some(Addr::from_raw(*peer))
            }
            Req::RecvmsgPool { from, .. } if self.result >= 0 && from.len > 0 => {
                Some(Addr::from_raw(*from))
            }
            _ => None,
        }
    }

    /// What a successful stat or fstat found.
    pub fn stat(&self) -> Option<Stat> {
        match &self.slot.as_ref()?.req {
            Req::Stat { st, .. } if self.result >= 0 => Some(Stat::from_raw(st)),
            _ => None,
        }
    }
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("user", &self.user)
            .field("result", &self.result)
            .field("more", &self.more())
            .finish()
    }
}

// ---- The port --------------------------------------------------------------------------

/// A port that could not be created: the error, and why the backends were refused.
#[derive(Debug, Clone)]
pub struct CreateError {
    pub error: Error,
    /// e.g. "io_uring: setup failed: EPERM"; may be empty.
    pub reason: String,
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "cport_create: {}", self.error)
        } else {
            write!(f, "cport_create: {} ({})", self.error, self.reason)
        }
    }
}

impl std::error::Error for CreateError {}

impl From<CreateError> for Error {
    fn from(e: CreateError) -> Error {
        e.error
    }
}

/// Options for a port (cport_options).
#[derive(Debug, Clone, Default)]
pub struct Builder {
    backend: Option<String>,
    strict: bool,
    queue_depth: u32,
    pool_threads: u32,
}

impl Builder {
    /// Force a backend: "io_uring", "epoll", "poll", "kqueue", "iocp" or "sim" (the
    /// simulation, with its default profile). Default: $CPORT_BACKEND, else the best
    /// for this OS.
    pub fn backend(mut self, name: &str) -> Builder {
        self.backend = Some(name.to_string());
        self
    }

    /// Fail instead of falling back when the preferred backend cannot start.
    pub fn strict(mut self, on: bool) -> Builder {
        self.strict = on;
        self
    }

    /// Submission queue entries (0: 256).
    pub fn queue_depth(mut self, n: u32) -> Builder {
        self.queue_depth = n;
        self
    }

    /// Thread-pool workers for blocking work (0: 4).
    pub fn pool_threads(mut self, n: u32) -> Builder {
        self.pool_threads = n;
        self
    }

    pub fn build(self) -> std::result::Result<Port, CreateError> {
        let backend = match self.backend.map(CString::new).transpose() {
            Ok(b) => b,
            Err(_) => return Err(CreateError { error: Error::INVAL, reason: String::new() }),
        };
        let mut reason = [0u8; 512];
        // SAFETY: cport_options_init writes the whole struct.
        let mut opts = unsafe {
            let mut o = std::mem::MaybeUninit::<sys::cport_options>::uninit();
            sys::cport_options_init(o.as_mut_ptr());
            o.assume_init()
        };
        opts.backend = backend.as_ref().map_or(ptr::null(), |b| b.as_ptr());
        opts.flags = if self.strict { sys::CPORT_OPT_STRICT } else { 0 };
        opts.queue_depth = self.queue_depth;
        opts.pool_threads = self.pool_threads;
        opts.reason = reason.as_mut_ptr().cast();
        opts.reason_len = reason.len() as u32;
        let mut raw: *mut sys::cport = ptr::null_mut();
        // SAFETY: opts and the strings it points to outlive the call.
        let rc = unsafe { sys::cport_create(&mut raw, &opts) };
        if rc < 0 {
            let end = reason.iter().position(|&b| b == 0).unwrap_or(0);
            let reason = String::from_utf8_lossy(&reason[..end]).into_owned();
            return Err(CreateError { error: Error::from_code(rc), reason });
        }
        let raw = NonNull::new(raw).expect("cport_create returned 0 and no port");
        Ok(Port {
            raw,
            inflight: HashMap::new(),
            next_id: 1,
            ready: VecDeque::new(),
            scratch: Vec::new(),
            reg_bufs: Vec::new(),
            reg_busy: Vec::new(),
            pools: HashMap::new(),
        })
    }
}

/// A completion port. It owns every op submitted to it until the op's (last)
/// completion is returned by [`Port::wait`]. Submit and wait take `&mut self`: one
/// thread drives a port at a time, as the C API requires.
pub struct Port {
    raw: NonNull<sys::cport>,
    /// The ops in flight, by id: leaked boxes, reclaimed at completion or drop.
    inflight: HashMap<u64, *mut Slot>,
    next_id: u64,
    /// Completions reaped by [`Port::complete`] for other ops, returned by wait first.
    ready: VecDeque<Completion>,
    scratch: Vec<*mut sys::cport_op>,
    /// The registered buffers (cport_register_buffers), owned while registered, and
    /// how many fixed ops in flight use each: the caller may touch buffer i only while
    /// none does.
    reg_bufs: Vec<Vec<u8>>,
    reg_busy: Vec<u32>,
    /// The buffer pools, by group; freed after cport_destroy (or when removed and no
    /// lent buffer still reads them).
    pools: HashMap<u16, Pool>,
}

// SAFETY: the port may be driven from any one thread at a time (not created with
// CPORT_OPT_SINGLE_THREAD, which this API does not offer); the in-flight boxes move
// with it.
unsafe impl Send for Port {}

impl Port {
    /// A port with the default options ($CPORT_BACKEND is honoured).
    pub fn new() -> std::result::Result<Port, CreateError> {
        Builder::default().build()
    }

    /// A port on the named backend (it must start; no fallback).
    pub fn with_backend(name: &str) -> std::result::Result<Port, CreateError> {
        Builder::default().backend(name).build()
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    /// "io_uring", "epoll", "poll", "kqueue", "iocp" or "sim".
    pub fn backend_name(&self) -> &str {
        // SAFETY: a static string, for a live port.
        unsafe { static_str(sys::cport_backend_name(self.raw.as_ptr())) }
    }

    /// Why preferred backends were refused before this one started ("" if none was).
    pub fn backend_reason(&self) -> &str {
        // SAFETY: a string owned by the port, which outlives the borrow.
        unsafe {
            let p = sys::cport_backend_reason(self.raw.as_ptr());
            if p.is_null() {
                ""
            } else {
                CStr::from_ptr(p).to_str().unwrap_or("?")
            }
        }
    }

    /// The port's clock in nanoseconds: [`now_ns`] on every backend but "sim", whose
    /// virtual clock runs this port's timers and timeouts.
    pub fn clock_ns(&self) -> u64 {
        // SAFETY: a live port; the call only reads its clock.
        unsafe { sys::cport_clock_ns(self.raw.as_ptr()) }
    }

    /// The C port, for calls through cport-sys. Do not destroy it.
    pub fn as_raw(&self) -> *mut sys::cport {
        self.raw.as_ptr()
    }

    /// Ops submitted and not yet handed back.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Queue `op` (the kernel sees it at the next [`Port::flush`] or [`Port::wait`]).
    /// The port keeps the op and its buffers until its completion. A refused op comes
    /// back unchanged in [`Rejected`].
    pub fn submit(&mut self, op: Op) -> std::result::Result<OpId, Rejected> {
        self.give_back_dropped();
        let id = self.next_id;
        let p = Box::into_raw(op.slot);
        // SAFETY: `p` is a live, exclusively owned box; its address stays fixed until
        // Box::from_raw below or in wait/drop.
        let rc = unsafe {
            (*p).id = id;
            (*p).raw.user = p.cast();
            self.start(p)
        };
        if rc < 0 {
            // SAFETY: a refused op was never taken by the library.
            let slot = unsafe { Box::from_raw(p) };
            return Err(Rejected { error: Error::from_code(rc), op: Op { slot } });
        }
        self.next_id += 1;
        self.inflight.insert(id, p);
        // SAFETY: `p` is live (in flight, owned by the port).
        if let Req::Fixed { index, .. } = unsafe { &(*p).req } {
            // Accepted, so `index` is a registered buffer.
            self.reg_busy[*index as usize] += 1;
        }
        Ok(OpId(id))
    }

    /// Call the C submit function of the op's request.
    ///
    /// # Safety
    /// `p` is a live slot that stays at its address while the op is in flight.
    unsafe fn start(&mut self, p: *mut Slot) -> c_int {
        let port = self.raw.as_ptr();
        let op = ptr::addr_of_mut!((*p).raw);
        match &mut (*p).req {
            Req::Nop => sys::cport_nop(port, op),
            Req::Timer { ns, flags } => sys::cport_timer(port, op, *ns, *flags),
            Req::Post { result } => sys::cport_post(port, op, *result),
            Req::Read { fd, buf: b, offset } => {
                let len = b.as_slice().len();
                sys::cport_read(port, op, *fd, b.as_mut_ptr().cast(), len, *offset)
            }
            Req::Write { fd, buf: b, offset } => {
                let (ptr, len) = (b.as_slice().as_ptr(), b.as_slice().len());
                sys::cport_write(port, op, *fd, ptr.cast(), len, *offset)
            }
            Req::Fixed { write, fd, index, at, len, offset } => {
                // The library checks that [buf, buf + len) lies in buffer `index`; a
                // buffer that is not registered gets a null pointer, which it refuses
                // as well (wrapping_add: an address past the end is only compared).
                let buf = match self.reg_bufs.get_mut(*index as usize) {
                    Some(b) => b.as_mut_ptr().wrapping_add(*at),
                    None => ptr::null_mut(),
                };
                if *write {
                    sys::cport_write_fixed(port, op, *fd, buf.cast(), *len, *offset, *index)
                } else {
                    sys::cport_read_fixed(port, op, *fd, buf.cast(), *len, *offset, *index)
                }
            }
            Req::Fsync { fd, flags } => sys::cport_fsync(port, op, *fd, *flags),
            Req::FsyncRange { fd, flags, offset, len } => {
                sys::cport_fsync_range(port, op, *fd, *flags, *offset, *len)
            }
            Req::Open { dir: None, path: Some(path), flags, mode } => {
                sys::cport_open(port, op, path.as_ptr(), *flags, *mode)
            }
            Req::Open { dir: Some(dir), path: Some(path), flags, mode } => {
                sys::cport_openat(port, op, *dir, path.as_ptr(), *flags, *mode)
            }
            Req::Close { fd } => sys::cport_close(port, op, *fd),
            Req::Stat { path: Some(Some(path)), st, .. } => {
                sys::cport_stat(port, op, path.as_ptr(), st)
            }
            Req::Stat { path: None, fd, st } => sys::cport_fstat(port, op, *fd, st),
            Req::Statfs { path: Some(path), st } => sys::cport_statfs(port, op, path.as_ptr(), st),
            Req::Unlink { path: Some(path), flags } => {
                sys::cport_unlink(port, op, path.as_ptr(), *flags)
            }
            Req::Mkdir { path: Some(path), mode } => {
                sys::cport_mkdir(port, op, path.as_ptr(), *mode)
            }
            Req::Rename { from: Some(from), to: Some(to), flags: 0 } => {
                sys::cport_rename(port, op, from.as_ptr(), to.as_ptr())
            }
            Req::Rename { from: Some(from), to: Some(to), flags } => {
                sys::cport_rename2(port, op, from.as_ptr(), to.as_ptr(), *flags)
            }
            Req::Link { from: Some(from), to: Some(to) } => {
                sys::cport_link(port, op, from.as_ptr(), to.as_ptr())
            }
            Req::Symlink { target: Some(target), path: Some(path), flags } => {
                sys::cport_symlink(port, op, target.as_ptr(), path.as_ptr(), *flags)
            }
            Req::Readlink { path: Some(path), buf } => {
                sys::cport_readlink(port, op, path.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
            }
            Req::Access { path: Some(path), mode } => {
                sys::cport_access(port, op, path.as_ptr(), *mode)
            }
            Req::Readdir { dir, buf, len, flags } => {
                sys::cport_readdir(port, op, *dir, buf.as_mut_ptr().cast(), *len, *flags)
            }
            Req::Fadvise { fd, offset, len, advice } => {
                sys::cport_fadvise(port, op, *fd, *offset, *len, *advice)
            }
            Req::Lock { fd, offset, len, flags } => {
                sys::cport_lock(port, op, *fd, *offset, *len, *flags)
            }
            Req::Unlock { fd, offset, len } => sys::cport_unlock(port, op, *fd, *offset, *len),
            Req::Ftruncate { fd, len } => sys::cport_ftruncate(port, op, *fd, *len),
            Req::Accept { fd, peer, flags } => {
                // A multishot accept takes no peer address (cport.h).
                let peer_ptr = if *flags & sys::CPORT_ACCEPT_MULTISHOT != 0 {
                    ptr::null_mut()
                } else {
                    peer as *mut sys::cport_addr
                };
                sys::cport_accept(port, op, *fd, peer_ptr, *flags)
            }
            Req::Connect { fd, addr } => sys::cport_connect(port, op, *fd, addr),
            Req::Recv { fd, buf } => {
                sys::cport_recv(port, op, *fd, buf.as_mut_ptr().cast(), buf.len(), 0)
            }
            Req::RecvPool { fd, pool, flags } => {
                sys::cport_recv_pool(port, op, *fd, pool.group(), *flags)
            }
            Req::RecvmsgPool { fd, pool, msg, from } => {
                msg.addr = from as *mut sys::cport_addr;
                sys::cport_recvmsg_pool(port, op, *fd, pool.group(), msg)
            }
            Req::Send { fd, buf, flags } => {
                sys::cport_send(port, op, *fd, buf.as_ptr().cast(), buf.len(), *flags)
            }
            Req::Shutdown { fd, how } => sys::cport_shutdown(port, op, *fd, *how),
            Req::Poll { fd, events } => sys::cport_poll(port, op, *fd, *events),
            // A path that cannot be a C string (an interior NUL, or not UTF-8 on
            // Windows).
            Req::Open { path: None, .. }
            | Req::Stat { path: Some(None), .. }
            | Req::Statfs { path: None, .. }
            | Req::Unlink { path: None, .. }
            | Req::Mkdir { path: None, .. }
            | Req::Rename { .. }
            | Req::Link { .. }
            | Req::Symlink { .. }
            | Req::Readlink { path: None, .. }
            | Req::Access { path: None, .. } => sys::CPORT_EINVAL,
        }
    }

    /// Hand every queued op to the kernel without waiting (cport_submit).
    pub fn flush(&mut self) -> Result<()> {
        self.give_back_dropped();
        // SAFETY: a live port.
        check(unsafe { sys::cport_submit(self.raw.as_ptr()) }).map(drop)
    }

    /// Ask the in-flight op `id` to stop. It still completes exactly once:
    /// [`Error::CANCELED`] if it was stopped, else its normal result.
    /// [`Error::NOENT`]: not in flight.
    pub fn cancel(&mut self, id: OpId) -> Result<()> {
        let p = *self.inflight.get(&id.0).ok_or(Error::NOENT)?;
        // SAFETY: `p` is in flight on this port, so its op is live.
        check(unsafe { sys::cport_cancel(self.raw.as_ptr(), ptr::addr_of_mut!((*p).raw)) })
            .map(drop)
    }

    /// Submit what is queued, then return up to `max` completions, waiting at most
    /// `timeout` for the first (None: forever; zero: do not block). An empty vector
    /// means the time ran out.
    pub fn wait(&mut self, max: usize, timeout: Option<Duration>) -> Result<Vec<Completion>> {
        let mut out = Vec::new();
        self.wait_into(&mut out, max, timeout)?;
        Ok(out)
    }

    /// As [`Port::wait`], appending to `out`; returns how many were appended.
    pub fn wait_into(
        &mut self,
        out: &mut Vec<Completion>,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<usize> {
        if max == 0 {
            return Err(Error::INVAL);
        }
        self.give_back_dropped();
        if !self.ready.is_empty() {
            let n = max.min(self.ready.len());
            out.extend(self.ready.drain(..n));
            return Ok(n);
        }
        let max = max.min(u32::MAX as usize);
        let timeout_ns = match timeout {
            None => -1,
            Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        };
        self.scratch.clear();
        self.scratch.resize(max, ptr::null_mut());
        // SAFETY: `scratch` has room for `max` pointers.
        let n = check(unsafe {
            sys::cport_wait(self.raw.as_ptr(), self.scratch.as_mut_ptr(), max as u32, timeout_ns)
        })? as usize;
        for i in 0..n {
            let op = self.scratch[i];
            // SAFETY: the library returns only ops submitted to this port; each one's
            // `user` is its slot.
            out.push(unsafe { self.reap(op) });
        }
        Ok(n)
    }

    /// Turn a returned op into a Completion; reclaim its box unless it stays in flight.
    ///
    /// # Safety
    /// `op` was returned by cport_wait on this port.
    unsafe fn reap(&mut self, op: *mut sys::cport_op) -> Completion {
        let p: *mut Slot = (*op).user.cast();
        let id = (*p).id;
        let (result, cflags) = ((*op).result, (*op).cflags);
        let (kind, user) = ((*p).kind, (*p).user);
        let mut c =
            Completion { id: OpId(id), kind, user, result, cflags, slot: None, pool_buf: None };
        if cflags & sys::CPORT_BUF != 0 {
            // The completion lends buffer `cflags >> CPORT_BUF_SHIFT` of the op's pool,
            // holding `result` bytes (a pool receive's op stays put while in flight).
            if let Req::RecvPool { pool, .. } | Req::RecvmsgPool { pool, .. } = &(*p).req {
                let id = sys::cport_op_buf_id(op);
                debug_assert_eq!(id as u32, cflags >> sys::CPORT_BUF_SHIFT);
                let id = id as u16;
                let len = usize::try_from(result).unwrap_or(0).min(pool.buf_size() as usize);
                debug_assert!(u32::from(id) < pool.count());
                c.pool_buf = Some(PoolBuf { pool: pool.shared.clone(), id, len });
            }
        }
        if cflags & sys::CPORT_MORE != 0 {
            debug_assert!(self.inflight.contains_key(&id));
            return c;
        }
        let known = self.inflight.remove(&id);
        assert_eq!(known, Some(p), "cport returned an op that is not in flight");
        let mut slot = Box::from_raw(p);
        if let (Req::Read { buf: Buf::Vec(buf), .. } | Req::Recv { buf, .. }, Ok(n)) =
            (&mut slot.req, usize::try_from(result))
        {
            buf.truncate(n);
        }
        if let Req::Fixed { index, .. } = slot.req {
            self.reg_busy[index as usize] -= 1;
        }
        c.slot = Some(slot);
        c
    }

    /// Submit `op` and wait for it. Other ops that complete meanwhile are kept for the
    /// next [`Port::wait`]. Blocks until `op` completes (give it a timeout if needed).
    pub fn complete(&mut self, op: Op) -> Result<Completion> {
        let id = self.submit(op)?;
        let mut got = Vec::new();
        loop {
            got.clear();
            self.wait_from_kernel(&mut got)?;
            let mut mine = None;
            for c in got.drain(..) {
                if c.id == id && !c.more() {
                    mine = Some(c);
                } else {
                    self.ready.push_back(c);
                }
            }
            if let Some(c) = mine {
                return Ok(c);
            }
        }
    }

    /// One blocking cport_wait that bypasses the `ready` queue.
    fn wait_from_kernel(&mut self, out: &mut Vec<Completion>) -> Result<usize> {
        let saved = std::mem::take(&mut self.ready);
        let r = self.wait_into(out, 64, None);
        self.ready = saved;
        r
    }

    /// Wait for the one op `id` (cport_wait_op, like GetOverlappedResult): other
    /// completions stay queued, in order, for a later [`Port::wait`]. `timeout`: None
    /// waits forever, zero does not block. [`Error::TIMEDOUT`]: it has not completed
    /// (still in flight); [`Error::NOENT`]: not in flight on this port. A multishot op
    /// returns at its next completion (with [`Completion::more`] it stays in flight).
    pub fn wait_op(&mut self, id: OpId, timeout: Option<Duration>) -> Result<Completion> {
        self.give_back_dropped();
        if let Some(i) = self.ready.iter().position(|c| c.id == id) {
            return Ok(self.ready.remove(i).expect("index from position"));
        }
        let p = *self.inflight.get(&id.0).ok_or(Error::NOENT)?;
        let timeout_ns = match timeout {
            None => -1,
            Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        };
        // SAFETY: `p` is in flight on this port, so its op is live.
        let op = unsafe { ptr::addr_of_mut!((*p).raw) };
        check(unsafe { sys::cport_wait_op(self.raw.as_ptr(), op, timeout_ns) })?;
        // SAFETY: cport_wait_op returned 0: the op is reaped exactly as cport_wait
        // would have returned it.
        Ok(unsafe { self.reap(op) })
    }

    /// Which way an op of `kind` (`sys::CPORT_KIND_*`) on `fd` goes on this port now
    /// (cport_route). `fd` is ignored for kinds without a descriptor.
    pub fn route(&mut self, kind: u32, fd: Fd) -> Result<Route> {
        // SAFETY: a live port; plain values.
        match check(unsafe { sys::cport_route(self.raw.as_ptr(), kind, fd) })? {
            sys::CPORT_ROUTE_KERNEL => Ok(Route::Kernel),
            sys::CPORT_ROUTE_POOL => Ok(Route::Pool),
            sys::CPORT_ROUTE_REACTOR => Ok(Route::Reactor),
            sys::CPORT_ROUTE_LOCAL => Ok(Route::Local),
            sys::CPORT_ROUTE_NOWAIT_POOL => Ok(Route::NowaitPool),
            _ => Err(Error::INVAL),
        }
    }

    // ---- Registered buffers and files (section 4d) ----

    /// Register `bufs` (1..CPORT_MAX_REG_BUFFERS, each 1..CPORT_MAX_REG_BUFFER_LEN bytes)
    /// with the port, which owns them while they are registered; [`Op::read_fixed`] and
    /// [`Op::write_fixed`] name them by index, [`Port::fixed_buf`] reads them. Replaces
    /// the set registered before, which comes back. Refused (the C error: an empty
    /// buffer is [`Error::INVAL`], a fixed op in flight [`Error::BUSY`]): the error,
    /// and `bufs` back, in [`BuffersRefused`]; the earlier set stays registered.
    pub fn register_buffers(
        &mut self,
        mut bufs: Vec<Vec<u8>>,
    ) -> std::result::Result<Vec<Vec<u8>>, BuffersRefused> {
        let iov: Vec<sys::cport_iovec> = bufs
            .iter_mut()
            .map(|b| sys::cport_iovec { base: b.as_mut_ptr().cast(), len: b.len() })
            .collect();
        let n = u32::try_from(iov.len()).unwrap_or(u32::MAX);
        // SAFETY: the array is valid for the call (the library copies it); the memory
        // it names is owned by the port from here until it is unregistered or the
        // port is destroyed (Drop destroys the port before freeing it).
        let rc = unsafe { sys::cport_register_buffers(self.raw.as_ptr(), iov.as_ptr(), n) };
        if rc < 0 {
            return Err(BuffersRefused { error: Error::from_code(rc), bufs });
        }
        self.reg_busy = vec![0; bufs.len()];
        Ok(std::mem::replace(&mut self.reg_bufs, bufs))
    }

    /// Unregister the buffers and hand them back. [`Error::NOENT`]: none registered;
    /// [`Error::BUSY`]: a fixed op is in flight.
    pub fn unregister_buffers(&mut self) -> Result<Vec<Vec<u8>>> {
        // SAFETY: a live port.
        check(unsafe { sys::cport_unregister_buffers(self.raw.as_ptr()) })?;
        self.reg_busy.clear();
        Ok(std::mem::take(&mut self.reg_bufs))
    }

    /// Registered buffer `index`, to read what a fixed read brought. [`Error::BUSY`]
    /// while a fixed op on it is in flight (the kernel may be using it),
    /// [`Error::INVAL`] if it is not registered.
    pub fn fixed_buf(&self, index: u32) -> Result<&[u8]> {
        match (self.reg_bufs.get(index as usize), self.reg_busy.get(index as usize)) {
            (Some(b), Some(0)) => Ok(b),
            (Some(_), Some(_)) => Err(Error::BUSY),
            _ => Err(Error::INVAL),
        }
    }

    /// Registered buffer `index`, to fill before a fixed write (see [`Port::fixed_buf`]).
    pub fn fixed_buf_mut(&mut self, index: u32) -> Result<&mut [u8]> {
        match (self.reg_bufs.get_mut(index as usize), self.reg_busy.get(index as usize)) {
            (Some(b), Some(0)) => Ok(b),
            (Some(_), Some(_)) => Err(Error::BUSY),
            _ => Err(Error::INVAL),
        }
    }

    /// Register descriptors with the port (cport_register_files); ops on them need no
    /// change. Replaces the earlier set. Errors as the C call: [`Error::BADF`] (one not
    /// open), [`Error::INVAL`] (none, or one named twice), [`Error::BUSY`].
    pub fn register_files(&mut self, fds: &[Fd]) -> Result<()> {
        let n = u32::try_from(fds.len()).unwrap_or(u32::MAX);
        // SAFETY: the array is valid for the call; the library copies it.
        check(unsafe { sys::cport_register_files(self.raw.as_ptr(), fds.as_ptr(), n) }).map(drop)
    }

    /// Unregister the descriptors (they stay open). [`Error::NOENT`]: none registered.
    pub fn unregister_files(&mut self) -> Result<()> {
        // SAFETY: a live port.
        check(unsafe { sys::cport_unregister_files(self.raw.as_ptr()) }).map(drop)
    }

    // ---- Buffer pools (section 6b) ----

    /// Add a pool of `count` buffers of `size` bytes, in zeroed memory it owns (the
    /// memory lives as long as the port, or the pool's last lent buffer). Errors as
    /// cport_bufpool_add: [`Error::INVAL`] (count or size 0 or too large),
    /// [`Error::NOSPC`] (CPORT_MAX_BUFPOOLS already), [`Error::NOMEM`].
    pub fn add_pool(&mut self, count: u32, size: u32) -> Result<Pool> {
        self.give_back_dropped();
        // Memory only for a shape the library takes: it refuses the others itself,
        // before it looks at the memory, so a bad count never allocates.
        let ok = (1..=sys::CPORT_MAX_BUFPOOL_COUNT).contains(&count)
            && (1..=sys::CPORT_MAX_IO).contains(&size);
        let bytes = if ok { count as usize * size as usize } else { 1 };
        let mem = Box::into_raw(vec![0u8; bytes].into_boxed_slice()).cast::<u8>();
        let mem = NonNull::new(mem).expect("a Box is never null");
        let mut group = 0u16;
        let mut shared = PoolShared {
            mem,
            bytes,
            size,
            count,
            group: 0,
            returns: std::sync::Mutex::new(Vec::new()),
        };
        // SAFETY: `bytes` bytes at `mem` stay allocated while the port may use them:
        // the port keeps the pool (and so the memory) until remove_pool or its drop,
        // which destroys the C port first.
        let rc = unsafe {
            sys::cport_bufpool_add(self.raw.as_ptr(), mem.as_ptr().cast(), count, size, &mut group)
        };
        if rc < 0 {
            drop(shared); // frees the memory
            return Err(Error::from_code(rc));
        }
        shared.group = group;
        let pool = Pool { shared: std::sync::Arc::new(shared) };
        self.pools.insert(group, pool.clone());
        Ok(pool)
    }

    /// Remove `pool` from the port (cport_bufpool_remove). [`Error::BUSY`] while a pool
    /// receive naming it is in flight; [`Error::INVAL`] if it is not on this port. Its
    /// lent buffers stay readable until dropped.
    pub fn remove_pool(&mut self, pool: &Pool) -> Result<()> {
        self.give_back_dropped();
        match self.pools.get(&pool.group()) {
            Some(p) if std::sync::Arc::ptr_eq(&p.shared, &pool.shared) => {}
            _ => return Err(Error::INVAL),
        }
        // SAFETY: a live port.
        check(unsafe { sys::cport_bufpool_remove(self.raw.as_ptr(), pool.group()) })?;
        self.pools.remove(&pool.group());
        Ok(())
    }

    /// Give a lent pool buffer back now (dropping it gives it back at the next call).
    /// [`Error::INVAL`]: its pool is no longer on this port.
    pub fn return_buf(&mut self, buf: PoolBuf) -> Result<()> {
        let buf = std::mem::ManuallyDrop::new(buf);
        // SAFETY: the Arc is moved out of a value that is never dropped or used again.
        let shared = unsafe { ptr::read(&buf.pool) };
        match self.pools.get(&shared.group) {
            Some(p) if std::sync::Arc::ptr_eq(&p.shared, &shared) => {}
            _ => return Err(Error::INVAL),
        }
        // SAFETY: a live port; the buffer was lent by a completion and not returned.
        check(unsafe { sys::cport_bufpool_return(self.raw.as_ptr(), shared.group, buf.id) })
            .map(drop)
    }

    /// Give the pool buffers dropped since the last call back to their pools, on the
    /// thread that drives the port (as cport_bufpool_return requires).
    fn give_back_dropped(&mut self) {
        for pool in self.pools.values() {
            let ids =
                std::mem::take(&mut *pool.shared.returns.lock().unwrap_or_else(|e| e.into_inner()));
            for id in ids {
                // SAFETY: a live port; each id was lent once and dropped once.
                let rc =
                    unsafe { sys::cport_bufpool_return(self.raw.as_ptr(), pool.shared.group, id) };
                debug_assert_eq!(rc, 0, "returning buffer {id} of pool {}", pool.shared.group);
            }
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // cport_destroy promises that nothing touches an op or buffer once it
        // returns; only then are the ops still in flight freed.
        // SAFETY: a live port, destroyed once.
        unsafe { sys::cport_destroy(self.raw.as_ptr()) };
        for (_, p) in self.inflight.drain() {
            // SAFETY: each was leaked by submit and is no longer used by anyone.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

impl fmt::Debug for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Port")
            .field("backend", &self.backend_name())
            .field("in_flight", &self.inflight.len())
            .finish()
    }
}
