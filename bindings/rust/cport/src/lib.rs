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
//! Map: errors; addresses and socket helpers; ops; completions; the port.
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
        }
    };
}

error_consts! {
    PERM = CPORT_EPERM, NOENT = CPORT_ENOENT, INTR = CPORT_EINTR, IO = CPORT_EIO,
    BADF = CPORT_EBADF, AGAIN = CPORT_EAGAIN, NOMEM = CPORT_ENOMEM, ACCES = CPORT_EACCES,
    BUSY = CPORT_EBUSY, EXIST = CPORT_EEXIST, NOTDIR = CPORT_ENOTDIR, ISDIR = CPORT_EISDIR,
    INVAL = CPORT_EINVAL, MFILE = CPORT_EMFILE, NOSPC = CPORT_ENOSPC, PIPE = CPORT_EPIPE,
    NAMETOOLONG = CPORT_ENAMETOOLONG, NOSYS = CPORT_ENOSYS, NOTSOCK = CPORT_ENOTSOCK,
    NOTSUP = CPORT_ENOTSUP, ADDRINUSE = CPORT_EADDRINUSE, CONNRESET = CPORT_ECONNRESET,
    NOTCONN = CPORT_ENOTCONN, TIMEDOUT = CPORT_ETIMEDOUT, CONNREFUSED = CPORT_ECONNREFUSED,
    CANCELED = CPORT_ECANCELED, SHUTDOWN = CPORT_ESHUTDOWN,
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

    /// Parse "a.b.c.d:port" or "[v6]:port" (numeric only).
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

// ---- Ops -------------------------------------------------------------------------------

/// What an op does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Nop,
    Timer,
    Post,
    Read,
    Write,
    Fsync,
    Open,
    Close,
    Stat,
    Unlink,
    Mkdir,
    Rename,
    Ftruncate,
    Accept,
    Connect,
    Recv,
    Send,
    Shutdown,
    Poll,
}

/// What an op needs, owned: kept alive (and unmoved, inside the op's box) until it
/// completes.
enum Req {
    Nop,
    Timer { ns: u64, flags: u32 },
    Post { result: i64 },
    Read { fd: Fd, buf: Vec<u8>, offset: i64 },
    Write { fd: Fd, buf: Vec<u8>, offset: i64 },
    Fsync { fd: Fd, flags: u32 },
    Open { path: Option<CString>, flags: u32, mode: u32 },
    Close { fd: Fd },
    Stat { path: Option<Option<CString>>, fd: Fd, st: sys::cport_statbuf },
    Unlink { path: Option<CString>, flags: u32 },
    Mkdir { path: Option<CString>, mode: u32 },
    Rename { from: Option<CString>, to: Option<CString> },
    Ftruncate { fd: Fd, len: i64 },
    Accept { fd: Fd, peer: sys::cport_addr, flags: u32 },
    Connect { fd: Fd, addr: sys::cport_addr },
    Recv { fd: Fd, buf: Vec<u8> },
    Send { fd: Fd, buf: Vec<u8> },
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
            Req::Fsync { .. } => OpKind::Fsync,
            Req::Open { .. } => OpKind::Open,
            Req::Close { .. } => OpKind::Close,
            Req::Stat { .. } => OpKind::Stat,
            Req::Unlink { .. } => OpKind::Unlink,
            Req::Mkdir { .. } => OpKind::Mkdir,
            Req::Rename { .. } => OpKind::Rename,
            Req::Ftruncate { .. } => OpKind::Ftruncate,
            Req::Accept { .. } => OpKind::Accept,
            Req::Connect { .. } => OpKind::Connect,
            Req::Recv { .. } => OpKind::Recv,
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
        Op::new(Req::Read { fd, buf: buf.into(), offset })
    }

    /// Write all of `buf` at `offset` (-1: current position / stream).
    pub fn write(fd: Fd, buf: impl Into<Vec<u8>>, offset: i64) -> Op {
        Op::new(Req::Write { fd, buf: buf.into(), offset })
    }

    /// fsync, or fdatasync with `data_only`.
    pub fn fsync(fd: Fd, data_only: bool) -> Op {
        let flags = if data_only { sys::CPORT_FSYNC_DATA } else { 0 };
        Op::new(Req::Fsync { fd, flags })
    }

    /// Open `path` with CPORT_O_* `flags` (and `mode` bits when creating). result: the
    /// new descriptor ([`Completion::fd`]).
    pub fn open(path: impl AsRef<Path>, flags: u32, mode: u32) -> Op {
        Op::new(Req::Open { path: c_path(path.as_ref()), flags, mode })
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
        Op::new(Req::Rename { from: c_path(from.as_ref()), to: c_path(to.as_ref()) })
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

    /// Send all of `buf` (in submission order with the other sends on `fd`).
    pub fn send(fd: Fd, buf: impl Into<Vec<u8>>) -> Op {
        Op::new(Req::Send { fd, buf: buf.into() })
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

    pub fn kind(&self) -> OpKind {
        self.slot.kind
    }

    /// The buffer of a read, write, recv or send.
    pub fn into_buf(self) -> Option<Vec<u8>> {
        take_buf(self.slot.req)
    }
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Op").field("kind", &self.slot.kind).field("user", &self.slot.user).finish()
    }
}

fn take_buf(req: Req) -> Option<Vec<u8>> {
    match req {
        Req::Read { buf, .. } | Req::Write { buf, .. } => Some(buf),
        Req::Recv { buf, .. } | Req::Send { buf, .. } => Some(buf),
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

    /// The buffer of a read, recv (cut to the bytes received), write or send.
    pub fn buf(&self) -> Option<&[u8]> {
        match &self.slot.as_ref()?.req {
            Req::Read { buf, .. } | Req::Write { buf, .. } => Some(buf),
            Req::Recv { buf, .. } | Req::Send { buf, .. } => Some(buf),
            _ => None,
        }
    }

    /// Take the buffer back (see [`Completion::buf`]) to reuse it.
    pub fn into_buf(self) -> Option<Vec<u8>> {
        take_buf(self.slot?.req)
    }

    /// The peer of an accepted connection (None for other ops, errors, multishot).
    pub fn peer(&self) -> Option<Addr> {
        match &self.slot.as_ref()?.req {
            Req::Accept { peer, .. } if self.result >= 0 && peer.len > 0 => {
                Some(Addr::from_raw(*peer))
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
    /// Force a backend: "io_uring", "epoll", "poll", "kqueue" or "iocp". Default:
    /// $CPORT_BACKEND, else the best for this OS.
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

    /// "io_uring", "epoll", "poll", "kqueue" or "iocp".
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
            Req::Read { fd, buf, offset } => {
                sys::cport_read(port, op, *fd, buf.as_mut_ptr().cast(), buf.len(), *offset)
            }
            Req::Write { fd, buf, offset } => {
                sys::cport_write(port, op, *fd, buf.as_ptr().cast(), buf.len(), *offset)
            }
            Req::Fsync { fd, flags } => sys::cport_fsync(port, op, *fd, *flags),
            Req::Open { path: Some(path), flags, mode } => {
                sys::cport_open(port, op, path.as_ptr(), *flags, *mode)
            }
            Req::Close { fd } => sys::cport_close(port, op, *fd),
            Req::Stat { path: Some(Some(path)), st, .. } => {
                sys::cport_stat(port, op, path.as_ptr(), st)
            }
            Req::Stat { path: None, fd, st } => sys::cport_fstat(port, op, *fd, st),
            Req::Unlink { path: Some(path), flags } => {
                sys::cport_unlink(port, op, path.as_ptr(), *flags)
            }
            Req::Mkdir { path: Some(path), mode } => {
                sys::cport_mkdir(port, op, path.as_ptr(), *mode)
            }
            Req::Rename { from: Some(from), to: Some(to) } => {
                sys::cport_rename(port, op, from.as_ptr(), to.as_ptr())
            }
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
            Req::Send { fd, buf } => {
                sys::cport_send(port, op, *fd, buf.as_ptr().cast(), buf.len(), 0)
            }
            Req::Shutdown { fd, how } => sys::cport_shutdown(port, op, *fd, *how),
            Req::Poll { fd, events } => sys::cport_poll(port, op, *fd, *events),
            // A path that cannot be a C string (an interior NUL, or not UTF-8 on
            // Windows).
            Req::Open { path: None, .. }
            | Req::Stat { path: Some(None), .. }
            | Req::Unlink { path: None, .. }
            | Req::Mkdir { path: None, .. }
            | Req::Rename { .. } => sys::CPORT_EINVAL,
        }
    }

    /// Hand every queued op to the kernel without waiting (cport_submit).
    pub fn flush(&mut self) -> Result<()> {
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
        let mut c = Completion { id: OpId(id), kind, user, result, cflags, slot: None };
        if cflags & sys::CPORT_MORE != 0 {
            debug_assert!(self.inflight.contains_key(&id));
            return c;
        }
        let known = self.inflight.remove(&id);
        assert_eq!(known, Some(p), "cport returned an op that is not in flight");
        let mut slot = Box::from_raw(p);
        if let (Req::Read { buf, .. } | Req::Recv { buf, .. }, Ok(n)) =
            (&mut slot.req, usize::try_from(result))
        {
            buf.truncate(n);
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
