// SPDX-License-Identifier: MIT
// Section 4d through the safe API: registered buffers (owned by the port, readable only
// while no fixed op uses them) and registered descriptors.

mod common;
use common::*;
use cport::{Error, Op, OpKind, Port};
use std::time::Duration;

/// Register `bufs`, or None (and a note) where RLIMIT_MEMLOCK is too low to pin them.
fn register(p: &mut Port, bufs: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    match p.register_buffers(bufs) {
        Ok(old) => Some(old),
        Err(r) if r.error == Error::NOMEM => {
            skip("cport_register_buffers: ENOMEM (RLIMIT_MEMLOCK too low here)");
            None
        }
        Err(r) => panic!("register_buffers: {}", r.error),
    }
}

#[test]
fn fixed_write_then_fixed_read() {
    let mut p = port();
    let Some(old) = register(&mut p, vec![vec![0u8; 8192], vec![0u8; 4096]]) else { return };
    assert!(old.is_empty());
    let dir = temp_dir("fixed");
    let fd = create(&mut p, &dir.join("f"));
    let data = pattern(6, 3000);
    p.fixed_buf_mut(0).unwrap()[100..3100].copy_from_slice(&data);
    let c = p.complete(Op::write_fixed(fd, 0, 100, 3000, 0)).unwrap();
    assert_eq!((c.kind(), c.result()), (OpKind::WriteFixed, Ok(3000)));
    let c = p.complete(Op::read_fixed(fd, 1, 96, 4000, 0)).unwrap();
    assert_eq!((c.kind(), c.result()), (OpKind::ReadFixed, Ok(3000)), "short at end of file");
    assert_eq!(&p.fixed_buf(1).unwrap()[96..3096], &data[..]);
    assert_eq!(std::fs::read(dir.join("f")).unwrap(), data);

    // Misuse: an index not registered, a range past the buffer's end, a buffer the
    // port does not have. The op is refused and comes back.
    for op in [
        Op::read_fixed(fd, 2, 0, 10, 0),
        Op::read_fixed(fd, 1, 4000, 200, 0),
        Op::write_fixed(fd, 0, 8192, 1, 0),
        Op::write_fixed(fd, u32::MAX, 0, 1, 0),
    ] {
        let r = p.submit(op).unwrap_err();
        assert_eq!(r.error, Error::INVAL);
    }
    assert_eq!(p.fixed_buf(2).unwrap_err(), Error::INVAL);

    // Registering again replaces the set and hands the old one back.
    let old = register(&mut p, vec![vec![9u8; 512]]).unwrap();
    assert_eq!(old.len(), 2);
    assert_eq!(&old[1][96..3096], &data[..]);
    let bufs = p.unregister_buffers().unwrap();
    assert_eq!(bufs, vec![vec![9u8; 512]]);
    assert_eq!(p.unregister_buffers().unwrap_err(), Error::NOENT);
    let r = p.submit(Op::read_fixed(fd, 0, 0, 10, 0)).unwrap_err();
    assert_eq!(r.error, Error::INVAL, "none registered");
    close_all(&mut p, &[fd]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_buffer_in_use_cannot_be_touched_or_unregistered() {
    let mut p = port();
    if register(&mut p, vec![vec![0u8; 1024], vec![0u8; 1024]]).is_none() {
        return;
    }
    let (lfd, sfd, cfd) = tcp_pair(&mut p);
    // A fixed read on an idle socket stays in flight.
    let r = p.submit(Op::read_fixed(sfd, 0, 0, 1024, -1)).unwrap();
    p.flush().unwrap();
    assert_eq!(p.fixed_buf(0).unwrap_err(), Error::BUSY);
    assert_eq!(p.fixed_buf_mut(0).unwrap_err(), Error::BUSY);
    assert!(p.fixed_buf_mut(1).is_ok(), "another buffer is free");
    assert_eq!(p.unregister_buffers().unwrap_err(), Error::BUSY);
    let refused = p.register_buffers(vec![vec![1u8; 16]]).unwrap_err();
    assert_eq!((refused.error, refused.bufs.len()), (Error::BUSY, 1));

    p.complete(Op::send(cfd, b"fixed!".to_vec())).unwrap().result().unwrap();
    assert_eq!(p.wait_op(r, LIMIT).unwrap().result(), Ok(6));
    assert_eq!(&p.fixed_buf(0).unwrap()[..6], b"fixed!");
    p.unregister_buffers().unwrap();
    close_all(&mut p, &[sfd, cfd, lfd]);
}

#[test]
fn bad_buffer_sets_are_refused() {
    let mut p = port();
    let r = p.register_buffers(vec![]).unwrap_err();
    assert_eq!(r.error, Error::INVAL);
    let r = p.register_buffers(vec![vec![1u8; 8], vec![]]).unwrap_err();
    assert_eq!(r.error, Error::INVAL, "an empty buffer");
    assert_eq!(r.bufs, vec![vec![1u8; 8], vec![]], "handed back");
    assert_eq!(p.unregister_buffers().unwrap_err(), Error::NOENT);
}

#[test]
fn registered_files() {
    let mut p = port();
    let dir = temp_dir("regfiles");
    let fd = create(&mut p, &dir.join("f"));
    let (lfd, sfd, cfd) = tcp_pair(&mut p);
    p.register_files(&[fd, sfd, cfd]).unwrap();
    p.complete(Op::write(fd, b"registered".to_vec(), 0)).unwrap().result().unwrap();
    let c = p.complete(Op::read(fd, vec![0u8; 64], 0)).unwrap();
    assert_eq!(c.buf().unwrap(), b"registered");
    p.complete(Op::send(cfd, b"hi".to_vec())).unwrap().result().unwrap();
    assert_eq!(p.complete(Op::recv(sfd, vec![0u8; 8])).unwrap().buf().unwrap(), b"hi");

    // An op in flight on one keeps the set: replacing or dropping it is BUSY.
    let r = p.submit(Op::recv(sfd, vec![0u8; 8])).unwrap();
    p.flush().unwrap();
    assert_eq!(p.unregister_files(), Err(Error::BUSY));
    assert_eq!(p.register_files(&[fd]), Err(Error::BUSY));
    p.cancel(r).unwrap();
    assert_eq!(p.wait_op(r, LIMIT).unwrap().result(), Err(Error::CANCELED));

    // Misuse: none, a descriptor twice, one not open.
    assert_eq!(p.register_files(&[]), Err(Error::INVAL));
    assert_eq!(p.register_files(&[fd, fd]), Err(Error::INVAL));
    assert_eq!(p.register_files(&[fd, -1]), Err(Error::BADF));
    p.register_files(&[fd]).unwrap(); // replaces
    p.unregister_files().unwrap();
    assert_eq!(p.unregister_files(), Err(Error::NOENT));
    close_all(&mut p, &[fd, sfd, cfd, lfd]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Dropping a port with a fixed read in flight: destroyed before the buffers are freed.
#[test]
fn drop_with_a_fixed_read_in_flight() {
    let mut p = port();
    if register(&mut p, vec![vec![0u8; 1 << 16]]).is_none() {
        return;
    }
    let (lfd, sfd, cfd) = tcp_pair(&mut p);
    p.submit(Op::read_fixed(sfd, 0, 0, 1 << 16, -1).timeout(Duration::from_secs(60))).unwrap();
    p.flush().unwrap();
    drop(p);
    let mut q = port();
    q.complete(Op::send(cfd, vec![1u8; 1 << 16])).unwrap().result().unwrap();
    close_all(&mut q, &[sfd, cfd, lfd]);
}
