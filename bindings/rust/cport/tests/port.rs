// SPDX-License-Identifier: MIT
// The safe API on the backend named by $CPORT_BACKEND: every op kind, ownership, errors.

mod common;
use common::*;
use cport::{sock_local, tcp_listen, tcp_socket, Addr, Error, Family, Op, OpKind, Port};
use cport_sys as sys;
use std::time::{Duration, Instant};

#[test]
fn backend_is_the_one_asked_for() {
    let p = port();
    assert!(["io_uring", "epoll", "poll", "kqueue", "iocp"].contains(&p.backend_name()));
    assert_eq!(p.in_flight(), 0);
}

#[test]
fn version_matches_the_crate() {
    assert!(sys::cport_version_compatible(cport::version()));
    assert_eq!(cport::version() >> 16, sys::CPORT_VERSION_MAJOR);
    let v = cport::version();
    let text = format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff);
    assert_eq!(cport::version_string(), text);
}

#[test]
fn nop_hands_back_id_and_user() {
    let mut p = port();
    let id = p.submit(Op::nop().user(42)).unwrap();
    assert_eq!(p.in_flight(), 1);
    let c = wait1(&mut p);
    assert_eq!((c.id(), c.user(), c.kind()), (id, 42, OpKind::Nop));
    assert_eq!(c.result(), Ok(0));
    assert!(!c.more());
    assert_eq!(p.in_flight(), 0);
}

#[test]
fn many_nops_each_once() {
    let mut p = port();
    let n = 1000u64;
    for i in 0..n {
        p.submit(Op::nop().user(i)).unwrap();
    }
    let mut seen = vec![0u32; n as usize];
    let mut got = Vec::new();
    while (got.len() as u64) < n {
        let k = p.wait_into(&mut got, 37, LIMIT).unwrap();
        assert!(k > 0);
    }
    for c in &got {
        seen[c.user() as usize] += 1;
    }
    assert!(seen.iter().all(|&s| s == 1));
    assert!(p.wait(1, Some(Duration::ZERO)).unwrap().is_empty());
}

#[test]
fn timers_relative_and_absolute() {
    let mut p = port();
    let start = Instant::now();
    p.submit(Op::timer(Duration::from_millis(30)).user(1)).unwrap();
    let c = wait1(&mut p);
    assert_eq!((c.user(), c.result()), (1, Ok(0)));
    assert!(start.elapsed() >= Duration::from_millis(30));

    let deadline = cport::now_ns() + 20_000_000;
    p.submit(Op::timer_at(deadline)).unwrap();
    wait1(&mut p).result().unwrap();
    assert!(cport::now_ns() >= deadline);
}

#[test]
fn wait_times_out_empty() {
    let mut p = port();
    assert!(p.wait(4, Some(Duration::from_millis(5))).unwrap().is_empty());
    assert_eq!(p.wait(0, None).unwrap_err(), Error::INVAL);
}

#[test]
fn post_delivers_its_result() {
    let mut p = port();
    p.submit(Op::post(1234).user(1)).unwrap();
    p.submit(Op::post(Error::CANCELED.code as i64).user(2)).unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        p.wait_into(&mut got, 2, LIMIT).unwrap();
    }
    got.sort_by_key(|c| c.user());
    assert_eq!(got[0].result(), Ok(1234));
    assert_eq!(got[1].result(), Err(Error::CANCELED));
    assert_eq!(got[1].kind(), OpKind::Post);
}

#[test]
fn cancel_stops_a_timer_once() {
    let mut p = port();
    let id = p.submit(Op::timer(Duration::from_secs(60))).unwrap();
    p.flush().unwrap();
    p.cancel(id).unwrap();
    let c = wait1(&mut p);
    assert_eq!(c.id(), id);
    assert_eq!(c.result(), Err(Error::CANCELED));
    assert_eq!(p.cancel(id), Err(Error::NOENT));
}

#[test]
fn rejected_op_comes_back_with_its_buffer() {
    let mut p = port();
    let r = p.submit(Op::read(-1, vec![7u8; 10], 0).user(5)).unwrap_err();
    assert_eq!(r.error, Error::BADF);
    assert_eq!(r.op.kind(), OpKind::Read);
    assert_eq!(r.op.into_buf().unwrap(), vec![7u8; 10]);
    assert_eq!(p.in_flight(), 0);
    // A path with a NUL cannot reach C.
    let r = p.submit(Op::open("a\0b", sys::CPORT_O_RDONLY, 0)).unwrap_err();
    assert_eq!(r.error, Error::INVAL);
}

#[test]
fn file_write_fsync_read_stat_close() {
    let mut p = port();
    let dir = temp_dir("file");
    let path = dir.join("data");
    let flags = sys::CPORT_O_RDWR | sys::CPORT_O_CREAT | sys::CPORT_O_TRUNC;
    let fd = p.complete(Op::open(&path, flags, 0o644)).unwrap().fd().unwrap();

    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let c = p.complete(Op::write(fd, data.clone(), 0)).unwrap();
    assert_eq!(c.result(), Ok(data.len() as u64));
    assert_eq!(c.into_buf().unwrap(), data); // the write's buffer comes back
    p.complete(Op::fsync(fd, false)).unwrap().result().unwrap();
    p.complete(Op::fsync(fd, true)).unwrap().result().unwrap();

    // A read larger than the file is short only at end of file; the buffer is cut.
    let c = p.complete(Op::read(fd, vec![0u8; 150_000], 0)).unwrap();
    assert_eq!(c.result(), Ok(data.len() as u64));
    assert_eq!(c.buf().unwrap(), &data[..]);
    let c = p.complete(Op::read(fd, vec![0u8; 10], 99_995)).unwrap();
    assert_eq!(c.into_buf().unwrap(), &data[99_995..]);

    let st = p.complete(Op::fstat(fd)).unwrap().stat().unwrap();
    assert_eq!(st.size, data.len() as u64);
    assert!(st.is_file());
    let st = p.complete(Op::stat(&path)).unwrap().stat().unwrap();
    assert_eq!(st.size, data.len() as u64);

    p.complete(Op::ftruncate(fd, 10)).unwrap().result().unwrap();
    close_all(&mut p, &[fd]);
    assert_eq!(std::fs::read(&path).unwrap(), &data[..10]);

    let moved = dir.join("moved");
    p.complete(Op::rename(&path, &moved)).unwrap().result().unwrap();
    p.complete(Op::unlink(&moved, false)).unwrap().result().unwrap();
    let c = p.complete(Op::stat(&moved)).unwrap();
    assert_eq!(c.result(), Err(Error::NOENT));
    assert!(c.stat().is_none());

    let sub = dir.join("sub");
    p.complete(Op::mkdir(&sub, 0o755)).unwrap().result().unwrap();
    assert!(p.complete(Op::stat(&sub)).unwrap().stat().unwrap().is_dir());
    p.complete(Op::unlink(&sub, true)).unwrap().result().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn complete_keeps_other_completions_for_wait() {
    let mut p = port();
    let a = p.submit(Op::nop().user(1)).unwrap();
    let b = p.complete(Op::nop().user(2)).unwrap();
    assert_eq!(b.user(), 2);
    let c = wait1(&mut p);
    assert_eq!((c.id(), c.user()), (a, 1));
}

#[test]
fn tcp_accept_connect_send_recv_shutdown() {
    let mut p = port();
    let (lfd, sfd, cfd) = tcp_pair(&mut p);
    assert_eq!(cport::sock_peer(cfd).unwrap(), sock_local(lfd).unwrap());

    let msg = b"hello through the port".to_vec();
    let s = p.submit(Op::send(cfd, msg.clone())).unwrap();
    let r = p.submit(Op::recv(sfd, vec![0u8; 4096])).unwrap();
    let mut received = Vec::new();
    for _ in 0..2 {
        let c = wait1(&mut p);
        if c.id() == s {
            assert_eq!(c.result(), Ok(msg.len() as u64));
        } else {
            assert_eq!(c.id(), r);
            received = c.into_buf().unwrap();
        }
    }
    assert!(!received.is_empty() && msg.starts_with(&received));

    // Poll: a connected socket is writable.
    let ev = p.complete(Op::poll(sfd, sys::CPORT_POLL_OUT)).unwrap().result().unwrap();
    assert_ne!(ev as u32 & sys::CPORT_POLL_OUT, 0);

    // End of stream after the peer's shutdown (after any bytes still to read).
    p.complete(Op::shutdown(cfd, sys::CPORT_SHUT_WR)).unwrap().result().unwrap();
    loop {
        let c =
            p.complete(Op::recv(sfd, vec![0u8; 4096]).timeout(Duration::from_secs(10))).unwrap();
        if c.result().unwrap() == 0 {
            assert!(c.buf().unwrap().is_empty());
            break;
        }
    }
    close_all(&mut p, &[sfd, cfd, lfd]);
}

#[test]
fn recv_timeout_and_close_cancels() {
    let mut p = port();
    let (lfd, sfd, cfd) = tcp_pair(&mut p);
    let c = p.complete(Op::recv(sfd, vec![0u8; 64]).timeout(Duration::from_millis(30))).unwrap();
    assert_eq!(c.result(), Err(Error::TIMEDOUT));

    // Close completes a recv in flight on the descriptor with ECANCELED, then itself.
    let r = p.submit(Op::recv(sfd, vec![0u8; 64])).unwrap();
    p.flush().unwrap();
    let cl = p.submit(Op::close(sfd)).unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        p.wait_into(&mut got, 2, LIMIT).unwrap();
    }
    let recv = got.iter().find(|c| c.id() == r).unwrap();
    assert_eq!(recv.result(), Err(Error::CANCELED));
    let close = got.iter().find(|c| c.id() == cl).unwrap();
    assert_eq!(close.result(), Ok(0));
    close_all(&mut p, &[cfd, lfd]);
}

#[test]
fn connect_refused() {
    let mut p = port();
    // A port nobody listens on: bind one, read its number, close it.
    let lfd = tcp_listen(&"127.0.0.1:0".parse().unwrap(), 1, 0).unwrap();
    let addr = sock_local(lfd).unwrap();
    cport::sock_close(lfd).unwrap();
    let cfd = tcp_socket(Family::Inet).unwrap();
    let c = p.complete(Op::connect(cfd, &addr)).unwrap();
    assert_eq!(c.result(), Err(Error::CONNREFUSED));
    cport::sock_close(cfd).unwrap();
}

#[test]
fn multishot_accept_until_cancelled() {
    let mut p = port();
    let lfd = tcp_listen(&"127.0.0.1:0".parse().unwrap(), 16, 0).unwrap();
    let addr = sock_local(lfd).unwrap();
    let acc = p.submit(Op::accept_multishot(lfd)).unwrap();
    let mut clients = Vec::new();
    for i in 0..3 {
        let cfd = tcp_socket(Family::Inet).unwrap();
        p.submit(Op::connect(cfd, &addr).user(100 + i)).unwrap();
        clients.push(cfd);
    }
    let mut accepted = Vec::new();
    let mut connected = 0;
    while accepted.len() < 3 || connected < 3 {
        let c = wait1(&mut p);
        if c.id() == acc {
            assert!(c.more(), "multishot accept ended early: {:?}", c.result());
            assert!(c.peer().is_none());
            accepted.push(c.fd().unwrap());
        } else {
            c.result().unwrap();
            connected += 1;
        }
    }
    assert_eq!(p.in_flight(), 1);
    p.cancel(acc).unwrap();
    let last = wait1(&mut p);
    assert_eq!(last.id(), acc);
    assert!(!last.more());
    assert_eq!(last.result(), Err(Error::CANCELED));
    assert_eq!(p.in_flight(), 0);
    accepted.extend(clients);
    accepted.push(lfd);
    close_all(&mut p, &accepted);
}

/// Drop with ops in flight: the port is destroyed before their buffers are freed, and
/// a peer writing afterwards touches nothing.
#[test]
fn drop_with_ops_in_flight() {
    let mut p = port();
    let (lfd, sfd, cfd) = tcp_pair(&mut p);
    p.submit(Op::recv(sfd, vec![0u8; 1 << 16])).unwrap();
    p.submit(Op::timer(Duration::from_secs(60))).unwrap();
    p.submit(Op::nop()).unwrap(); // queued, never reaped
    p.flush().unwrap();
    assert_eq!(p.in_flight(), 3);
    let start = Instant::now();
    drop(p);
    assert!(start.elapsed() < Duration::from_secs(10));

    let mut q = port();
    q.complete(Op::send(cfd, vec![1u8; 1 << 16])).unwrap().result().unwrap();
    close_all(&mut q, &[sfd, cfd, lfd]);
}

#[test]
fn errors_have_names_and_text() {
    let e = Error::CANCELED;
    assert_eq!(e.name(), "ECANCELED");
    assert_eq!(e.to_string(), "operation canceled (ECANCELED)");
    assert_eq!(Error::from_code(sys::CPORT_EINVAL), Error::INVAL);
    assert_eq!(Error::from_code(-100000).name(), "UNKNOWN");
    let boxed: Box<dyn std::error::Error> = Box::new(Error::NOENT);
    assert!(boxed.to_string().contains("no such file"));
    #[cfg(unix)]
    assert_eq!(std::io::Error::from(Error::NOENT).kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn create_errors_say_why() {
    let e = Port::with_backend("no-such-backend").unwrap_err();
    assert_eq!(e.error, Error::INVAL);
    assert!(e.to_string().starts_with("cport_create"));
}

#[test]
fn addresses_parse_and_format() {
    let a: Addr = "127.0.0.1:8080".parse().unwrap();
    assert_eq!((a.family(), a.port()), (Family::Inet, Some(8080)));
    assert_eq!(a.to_string(), "127.0.0.1:8080");
    let b = Addr::parse("[::1]:9").unwrap();
    assert_eq!((b.family(), b.port()), (Family::Inet6, Some(9)));
    assert_eq!(b.to_string(), "[::1]:9");
    assert_eq!(Addr::parse("1.2.3:4"), Err(Error::INVAL));
    assert_eq!(Addr::parse("nonsense"), Err(Error::INVAL));
    assert!(Addr::empty().is_empty());
    assert_eq!(Addr::empty().family(), Family::Unspec);

    let sa: std::net::SocketAddr = "[fe80::1]:443".parse().unwrap();
    let c = Addr::try_from(sa).unwrap();
    assert_eq!(std::net::SocketAddr::try_from(&c).unwrap(), sa);
}

#[test]
fn every_error_code_has_a_constant() {
    // cport-sys's table is the header's CPORT_ERRNO_MAP (its own test counts it).
    assert_eq!(Error::ALL.len(), sys::CPORT_ERRORS.len());
    for (e, &(name, code)) in Error::ALL.iter().zip(sys::CPORT_ERRORS) {
        assert_eq!(e.code, code);
        assert_eq!(format!("CPORT_{}", e.name()), name);
    }
    assert_eq!(Error::NXIO.name(), "ENXIO");
}
