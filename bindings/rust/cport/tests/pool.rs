// SPDX-License-Identifier: MIT
// Section 6b through the safe API: buffer pools, one-shot and multishot pool receives,
// lent buffers given back on drop or explicitly, CPORT_ENOBUFS; and zero-copy sends.

mod common;
use common::*;
use cport::{udp_socket, Error, Op, OpKind};
use cport_sys as sys;

#[test]
fn one_shot_pool_receives() {
    let mut p = port();
    let pool = p.add_pool(4, 256).unwrap();
    assert_eq!((pool.count(), pool.buf_size()), (4, 256));
    let (lfd, sfd, cfd) = tcp_pair(&mut p);
    let mut got = Vec::new();
    for i in 0..3u32 {
        let r = p.submit(Op::recv_pool(sfd, &pool)).unwrap();
        let msg = pattern(i, 100);
        p.submit(Op::send(cfd, msg.clone())).unwrap();
        let mut c = p.wait_op(r, LIMIT).unwrap();
        assert_eq!(c.kind(), OpKind::RecvPool);
        assert!(!c.more());
        assert_ne!(c.cflags() & sys::CPORT_BUF, 0);
        let n = c.result().unwrap() as usize;
        assert!(n > 0 && msg.starts_with(c.buf().unwrap()));
        let b = c.take_pool_buf().unwrap();
        assert!(c.take_pool_buf().is_none());
        assert_eq!((b.len(), b.group()), (n, pool.group()));
        assert!(b.id() < 4);
        got.push(b); // held: the port does not touch these
                     // Drain what the send left behind in one more plain receive, if anything.
        if n < 100 {
            let c = p.complete(Op::recv(sfd, vec![0u8; 100 - n])).unwrap();
            assert_eq!(c.result(), Ok((100 - n) as u64));
        }
        wait_n(&mut p, 1); // the send
    }
    let mut ids: Vec<u16> = got.iter().map(|b| b.id()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three different buffers lent");
    let b = got.pop().unwrap();
    p.return_buf(b).unwrap(); // at once
    drop(got); // at the next call
    close_all(&mut p, &[sfd, cfd, lfd]);
}

#[test]
fn multishot_until_the_pool_runs_dry() {
    let mut p = port();
    let pool = p.add_pool(2, 64).unwrap();
    let (lfd, sfd, cfd) = tcp_pair(&mut p);
    let m = p.submit(Op::recv_pool_multishot(sfd, &pool)).unwrap();
    let data = pattern(7, 2 * 64 + 10);
    p.complete(Op::send(cfd, data.clone())).unwrap().result().unwrap();
    let mut held = Vec::new();
    let mut stream = Vec::new();
    let last = loop {
        let mut c = p.wait_op(m, LIMIT).unwrap();
        if let Some(b) = c.take_pool_buf() {
            stream.extend_from_slice(&b);
            held.push(b); // keep every buffer: the pool runs dry
        }
        if !c.more() {
            break c;
        }
    };
    assert_eq!(last.result(), Err(Error::NOBUFS), "dry: nothing taken from the socket");
    assert_eq!(held.len(), 2);
    assert!(data.starts_with(&stream) && stream.len() < data.len());
    assert_eq!(p.in_flight(), 0);

    // Dropped buffers go back at the next call: the rest of the stream arrives.
    drop(held);
    while stream.len() < data.len() {
        let mut c = p.complete(Op::recv_pool(sfd, &pool)).unwrap();
        let b = c.take_pool_buf().unwrap();
        stream.extend_from_slice(&b);
    }
    assert_eq!(stream, data);

    // A multishot receive ends at end of stream.
    let m = p.submit(Op::recv_pool_multishot(sfd, &pool)).unwrap();
    p.complete(Op::shutdown(cfd, sys::CPORT_SHUT_WR)).unwrap().result().unwrap();
    let c = p.wait_op(m, LIMIT).unwrap();
    assert_eq!((c.result(), c.more()), (Ok(0), false));
    assert!(c.buf().is_none());
    close_all(&mut p, &[sfd, cfd, lfd]);
}

#[test]
fn pools_misuse_and_removal() {
    let mut p = port();
    assert_eq!(p.add_pool(0, 64).unwrap_err(), Error::INVAL);
    assert_eq!(p.add_pool(4, 0).unwrap_err(), Error::INVAL);
    assert_eq!(p.add_pool(sys::CPORT_MAX_BUFPOOL_COUNT + 1, 64).unwrap_err(), Error::INVAL);
    let mut pools = Vec::new();
    for _ in 0..sys::CPORT_MAX_BUFPOOLS {
        pools.push(p.add_pool(1, 16).unwrap());
    }
    assert_eq!(p.add_pool(1, 16).unwrap_err(), Error::NOSPC);
    for pool in pools.drain(..) {
        p.remove_pool(&pool).unwrap();
        assert_eq!(p.remove_pool(&pool).unwrap_err(), Error::INVAL, "removed already");
    }

    let pool = p.add_pool(2, 32).unwrap();
    let (lfd, sfd, cfd) = tcp_pair(&mut p);
    let r = p.submit(Op::recv_pool(sfd, &pool)).unwrap();
    p.flush().unwrap();
    assert_eq!(p.remove_pool(&pool).unwrap_err(), Error::BUSY, "a receive names it");
    // A one-shot pool receive may be linked; the nop waits for it, then both are
    // cancelled (the nop as the rest of a broken chain).
    let l = p.submit(Op::recv_pool(sfd, &pool).linked()).unwrap();
    let n = p.submit(Op::nop()).unwrap();
    p.cancel(r).unwrap();
    p.cancel(l).unwrap();
    let got = wait_n(&mut p, 3);
    for id in [r, l, n] {
        assert_eq!(got.iter().find(|c| c.id() == id).unwrap().result(), Err(Error::CANCELED));
    }
    assert_eq!(
        p.submit(Op::recv_pool_multishot(sfd, &pool).linked()).unwrap_err().error,
        Error::INVAL,
        "a multishot receive cannot be linked"
    );

    // A lent buffer outlives its pool's removal and its port.
    p.complete(Op::send(cfd, b"kept".to_vec())).unwrap().result().unwrap();
    let mut c = p.complete(Op::recv_pool(sfd, &pool)).unwrap();
    let kept = c.take_pool_buf().unwrap();
    p.remove_pool(&pool).unwrap();
    let r = p.submit(Op::recv_pool(sfd, &pool)).unwrap_err();
    assert_eq!(r.error, Error::INVAL, "no such pool any more");
    close_all(&mut p, &[sfd, cfd, lfd]);
    drop(p);
    assert_eq!(&kept[..], b"kept");
    drop(kept);
}

#[test]
fn pool_receive_on_a_pipe_is_not_a_socket() {
    let mut p = port();
    let pool = p.add_pool(2, 32).unwrap();
    let mut fds = [0; 2];
    // SAFETY: a plain pipe(2) into a local array.
    assert_eq!(unsafe { pipe(fds.as_mut_ptr()) }, 0);
    p.complete(Op::write(fds[1], b"x".to_vec(), -1)).unwrap().result().unwrap();
    match p.submit(Op::recv_pool(fds[0], &pool)) {
        Err(r) => assert_eq!(r.error, Error::NOTSOCK),
        Ok(id) => assert_eq!(p.wait_op(id, LIMIT).unwrap().result(), Err(Error::NOTSOCK)),
    }
    close_all(&mut p, &fds);
}

extern "C" {
    fn pipe(fds: *mut std::ffi::c_int) -> std::ffi::c_int;
}

#[test]
fn recvmsg_pool_reports_the_sender() {
    let mut p = port();
    let pool = p.add_pool(2, 8).unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let (a, b) = (udp_socket(&any, 0).unwrap(), udp_socket(&any, 0).unwrap());
    let (a_addr, b_addr) = (cport::sock_local(a).unwrap(), cport::sock_local(b).unwrap());
    p.complete(Op::connect(a, &b_addr)).unwrap().result().unwrap();
    let r = p.submit(Op::recvmsg_pool(b, &pool)).unwrap();
    p.complete(Op::send(a, b"a datagram".to_vec())).unwrap().result().unwrap();
    let mut c = p.wait_op(r, LIMIT).unwrap();
    assert_eq!(c.kind(), OpKind::RecvmsgPool);
    assert_eq!(c.result(), Ok(8), "cut to the pool's buffer");
    assert!(c.truncated());
    assert_eq!(c.peer().unwrap(), a_addr);
    assert_eq!(&c.take_pool_buf().unwrap()[..], b"a datagr");
    close_all(&mut p, &[a, b]);
}

#[test]
fn zero_copy_send_flags() {
    let mut p = port();
    let (lfd, sfd, cfd) = tcp_pair(&mut p);
    let data = pattern(8, 64 * 1024);
    for flags in [sys::CPORT_SEND_ZC, sys::CPORT_SEND_NOZC, 0] {
        let s = p.submit(Op::send_flags(cfd, data.clone(), flags)).unwrap();
        let mut got = Vec::new();
        while got.len() < data.len() {
            let c = p.complete(Op::recv(sfd, vec![0u8; 65536])).unwrap();
            got.extend_from_slice(c.buf().unwrap());
        }
        assert_eq!(got, data);
        let c = p.wait_op(s, LIMIT).unwrap();
        assert_eq!(c.result(), Ok(data.len() as u64));
        assert_eq!(c.into_buf().unwrap(), data, "the buffer comes back after the send");
        if flags != sys::CPORT_SEND_ZC || p.backend_name() != "io_uring" {
            // NOZC, a loopback send without flags, and other backends: never zero-copy.
            // (Forced on io_uring it is where the kernel has SEND_ZC, Linux 6.0.)
            let zc = p.complete(Op::send_flags(cfd, vec![1], flags)).unwrap();
            assert!(!zc.zero_copy());
            p.complete(Op::recv(sfd, vec![0u8; 1])).unwrap().result().unwrap();
        }
    }
    let both = sys::CPORT_SEND_ZC | sys::CPORT_SEND_NOZC;
    assert_eq!(p.submit(Op::send_flags(cfd, vec![1], both)).unwrap_err().error, Error::INVAL);
    assert_eq!(p.submit(Op::send_flags(cfd, vec![1], 1 << 4)).unwrap_err().error, Error::INVAL);
    close_all(&mut p, &[sfd, cfd, lfd]);
}
