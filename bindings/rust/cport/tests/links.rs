// SPDX-License-Identifier: MIT
// Section 4b through the safe API: links, barriers, CPORT_OP_INLINE, and cport_wait_op.

mod common;
use common::*;
use cport::{Error, Op, OpKind};
use std::time::Duration;

#[test]
fn a_chain_runs_in_order() {
    let mut p = port();
    let dir = temp_dir("chain");
    let fd = create(&mut p, &dir.join("f"));
    let data = pattern(1, 10_000);
    let w = p.submit(Op::write(fd, data.clone(), 0).linked()).unwrap();
    let s = p.submit(Op::fsync(fd, true).linked()).unwrap();
    let r = p.submit(Op::read(fd, vec![0u8; 10_000], 0)).unwrap();
    let got = wait_n(&mut p, 3);
    let ids: Vec<_> = got.iter().map(|c| c.id()).collect();
    assert_eq!(ids, [w, s, r], "a chain completes in order");
    assert_eq!(got[0].result(), Ok(10_000));
    assert_eq!(got[1].result(), Ok(0));
    assert_eq!(got[2].buf().unwrap(), &data[..]);
    close_all(&mut p, &[fd]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_short_read_breaks_the_chain() {
    let mut p = port();
    let dir = temp_dir("chain-break");
    let fd = create(&mut p, &dir.join("f"));
    p.complete(Op::write(fd, vec![1u8; 100], 0)).unwrap().result().unwrap();
    // 200 bytes asked, 100 there: the read succeeds short, which fails the link.
    let r = p.submit(Op::read(fd, vec![0u8; 200], 0).linked()).unwrap();
    let w = p.submit(Op::write(fd, vec![2u8; 10], 0).linked()).unwrap();
    let n = p.submit(Op::nop()).unwrap();
    let got = wait_n(&mut p, 3);
    assert_eq!(got[0].id(), r);
    assert_eq!(got[0].result(), Ok(100));
    assert_eq!((got[1].id(), got[1].result()), (w, Err(Error::CANCELED)));
    assert_eq!((got[2].id(), got[2].result()), (n, Err(Error::CANCELED)));
    // The cancelled write never ran.
    let c = p.complete(Op::read(fd, vec![0u8; 100], 0)).unwrap();
    assert!(c.buf().unwrap().iter().all(|&b| b == 1));
    close_all(&mut p, &[fd]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_open_chain_blocks_wait_and_flush() {
    let mut p = port();
    let a = p.submit(Op::nop().linked()).unwrap();
    assert_eq!(p.wait(1, Some(Duration::ZERO)).unwrap_err(), Error::INVAL);
    assert_eq!(p.flush(), Err(Error::INVAL));
    assert_eq!(p.wait_op(a, Some(Duration::ZERO)).unwrap_err(), Error::INVAL);
    let b = p.submit(Op::nop()).unwrap(); // closes the chain
    let got = wait_n(&mut p, 2);
    assert_eq!((got[0].id(), got[1].id()), (a, b));
    assert!(got.iter().all(|c| c.result() == Ok(0)));
}

#[test]
fn misuse_of_flags_is_refused() {
    let mut p = port();
    let lfd = cport::tcp_listen(&"127.0.0.1:0".parse().unwrap(), 4, 0).unwrap();
    // A multishot op never completes once: it cannot be linked.
    let r = p.submit(Op::accept_multishot(lfd).linked()).unwrap_err();
    assert_eq!(r.error, Error::INVAL);
    assert_eq!(r.op.kind(), OpKind::Accept);
    // Bits that are no CPORT_OP_* flag.
    let r = p.submit(Op::nop().op_flags(1 << 20)).unwrap_err();
    assert_eq!(r.error, Error::INVAL);
    // A post belongs to no chain.
    assert_eq!(p.submit(Op::post(1).linked()).unwrap_err().error, Error::INVAL);
    assert_eq!(p.in_flight(), 0);
    close_all(&mut p, &[lfd]);
}

#[test]
fn a_barrier_waits_for_earlier_ops() {
    let mut p = port();
    let t = p.submit(Op::timer(Duration::from_millis(50)).user(1)).unwrap();
    let b = p.submit(Op::nop().barrier().user(2)).unwrap();
    let n = p.submit(Op::nop().user(3)).unwrap();
    let got = wait_n(&mut p, 3);
    let ids: Vec<_> = got.iter().map(|c| c.id()).collect();
    assert_eq!(ids, [t, b, n], "barrier after the timer, the nop after the barrier");
    assert!(got.iter().all(|c| c.result() == Ok(0)));
}

#[test]
fn inline_ops_complete_through_the_port() {
    let mut p = port();
    let dir = temp_dir("inline");
    let path = dir.join("f");
    let fd = create(&mut p, &path);
    let data = pattern(2, 4096);
    let w = p.submit(Op::write(fd, data.clone(), 0).inline()).unwrap();
    assert_eq!(p.wait_op(w, LIMIT).unwrap().result(), Ok(4096));
    let s = p.submit(Op::stat(&path).inline()).unwrap();
    let c = p.wait_op(s, LIMIT).unwrap();
    assert_eq!(c.stat().unwrap().size, 4096);
    let r = p.submit(Op::read(fd, vec![0u8; 4096], 0).inline()).unwrap();
    assert_eq!(p.wait_op(r, LIMIT).unwrap().buf().unwrap(), &data[..]);
    assert!(p.wait(1, Some(Duration::ZERO)).unwrap().is_empty(), "each reaped once");
    close_all(&mut p, &[fd]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wait_op_leaves_other_completions_queued() {
    let mut p = port();
    let a = p.submit(Op::nop().user(1)).unwrap();
    let t = p.submit(Op::timer(Duration::from_millis(10)).user(2)).unwrap();
    let b = p.submit(Op::nop().user(3)).unwrap();
    let c = p.wait_op(t, LIMIT).unwrap();
    assert_eq!((c.id(), c.user(), c.result()), (t, 2, Ok(0)));
    let rest = wait_n(&mut p, 2);
    assert_eq!((rest[0].id(), rest[1].id()), (a, b), "in their order");
    assert_eq!(p.wait_op(t, Some(Duration::ZERO)).unwrap_err(), Error::NOENT, "reaped");
}

#[test]
fn wait_op_times_out_and_the_op_stays_in_flight() {
    let mut p = port();
    let t = p.submit(Op::timer(Duration::from_secs(60))).unwrap();
    assert_eq!(p.wait_op(t, Some(Duration::from_millis(5))).unwrap_err(), Error::TIMEDOUT);
    assert_eq!(p.wait_op(t, Some(Duration::ZERO)).unwrap_err(), Error::TIMEDOUT);
    assert_eq!(p.in_flight(), 1);
    p.cancel(t).unwrap();
    assert_eq!(p.wait_op(t, LIMIT).unwrap().result(), Err(Error::CANCELED));
    assert_eq!(p.in_flight(), 0);
}

#[test]
fn wait_op_takes_a_completion_complete_kept() {
    let mut p = port();
    let a = p.submit(Op::nop().user(1)).unwrap();
    p.complete(Op::timer(Duration::from_millis(5))).unwrap(); // keeps `a` aside
    assert_eq!(p.wait_op(a, Some(Duration::ZERO)).unwrap().user(), 1);
}
