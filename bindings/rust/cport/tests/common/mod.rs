// SPDX-License-Identifier: MIT
// Helpers of the integration tests: a port on $CPORT_BACKEND, waits, temp dirs, TCP pairs.

#![allow(dead_code)] // each test file uses its own part

use cport::{sock_local, tcp_listen, tcp_socket, Completion, Family, Fd, Op, Port};
use std::path::PathBuf;
use std::time::Duration;

/// Generous bound on any single wait: catches a hang, measures nothing.
pub const LIMIT: Option<Duration> = Some(Duration::from_secs(30));

/// A port on $CPORT_BACKEND (or the default), which must be the one asked for.
pub fn port() -> Port {
    let p = Port::new().unwrap_or_else(|e| panic!("{e}"));
    if let Ok(want) = std::env::var("CPORT_BACKEND") {
        if !want.is_empty() {
            assert_eq!(p.backend_name(), want);
        }
    }
    p
}

/// Wait for exactly one completion.
pub fn wait1(p: &mut Port) -> Completion {
    let mut got = p.wait(1, LIMIT).unwrap();
    assert_eq!(got.len(), 1, "no completion within {LIMIT:?}");
    got.pop().unwrap()
}

/// Wait until `n` completions came; returned in arrival order.
pub fn wait_n(p: &mut Port, n: usize) -> Vec<Completion> {
    let mut got = Vec::new();
    while got.len() < n {
        let want = n - got.len();
        let k = p.wait_into(&mut got, want, LIMIT).unwrap();
        assert!(k > 0, "{} of {n} completions within {LIMIT:?}", got.len());
    }
    got
}

/// A fresh directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cport-rs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Say why a test (or part of one) does not run here; the test then returns.
pub fn skip(why: &str) {
    eprintln!("skipped: {why}");
}

/// A connected TCP pair on 127.0.0.1 made through the port: (listener, server, client).
pub fn tcp_pair(p: &mut Port) -> (Fd, Fd, Fd) {
    let lfd = tcp_listen(&"127.0.0.1:0".parse().unwrap(), 16, 0).unwrap();
    let bound = sock_local(lfd).unwrap();
    let cfd = tcp_socket(Family::Inet).unwrap();
    let acc = p.submit(Op::accept(lfd)).unwrap();
    let con = p.submit(Op::connect(cfd, &bound)).unwrap();
    let mut server = None;
    for c in wait_n(p, 2) {
        if c.id() == acc {
            assert_eq!(c.peer().unwrap(), sock_local(cfd).unwrap());
            server = Some(c.fd().unwrap());
        } else {
            assert_eq!(c.id(), con);
            c.result().unwrap();
        }
    }
    (lfd, server.unwrap(), cfd)
}

pub fn close_all(p: &mut Port, fds: &[Fd]) {
    for &fd in fds {
        p.complete(Op::close(fd)).unwrap().result().unwrap();
    }
}

/// Open (creating, truncating) a file for reading and writing through the port.
pub fn create(p: &mut Port, path: &std::path::Path) -> Fd {
    use cport_sys as sys;
    let flags = sys::CPORT_O_RDWR | sys::CPORT_O_CREAT | sys::CPORT_O_TRUNC;
    p.complete(Op::open(path, flags, 0o644)).unwrap().fd().unwrap()
}

/// Bytes 0..n of a pattern that differs with `seed`.
pub fn pattern(seed: u32, n: usize) -> Vec<u8> {
    (0..n as u32).map(|i| (i.wrapping_mul(31).wrapping_add(seed * 7) % 251) as u8).collect()
}
