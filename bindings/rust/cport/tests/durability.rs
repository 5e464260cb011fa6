// SPDX-License-Identifier: MIT
// Durability and direct I/O through the safe API: fsync flags, fsync_range, dio_query,
// AlignedBuf with O_DIRECT, and route.

mod common;
use common::*;
use cport::{dio_query, AlignedBuf, Error, Op, Route};
use cport_sys as sys;

#[test]
fn fsync_flags_and_fsync_range() {
    let mut p = port();
    let dir = temp_dir("fsync");
    let fd = create(&mut p, &dir.join("f"));
    p.complete(Op::write(fd, pattern(3, 8192), 0)).unwrap().result().unwrap();
    p.complete(Op::fsync_flags(fd, sys::CPORT_FSYNC_DATA)).unwrap().result().unwrap();
    p.complete(Op::fsync_range(fd, 0, 8192, 0)).unwrap().result().unwrap();
    p.complete(Op::fsync_range(fd, 4096, 0, 0)).unwrap().result().unwrap(); // to the end

    // Misuse the types allow; the library refuses it at submit, changing nothing.
    let bad = [
        Op::fsync_flags(fd, 1 << 7),
        Op::fsync_range(fd, 0, 10, 1),
        Op::fsync_range(fd, -1, 10, 0),
        Op::fsync_range(fd, 0, -5, 0),
        Op::fsync_range(fd, i64::MAX, 2, 0),
    ];
    for op in bad {
        assert_eq!(p.submit(op).unwrap_err().error, Error::INVAL);
    }
    assert_eq!(p.submit(Op::fsync_range(-1, 0, 0, 0)).unwrap_err().error, Error::BADF);
    assert_eq!(p.in_flight(), 0);
    close_all(&mut p, &[fd]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn aligned_buffers() {
    let mut b = AlignedBuf::new(8192, 4096).unwrap();
    assert_eq!(b.as_ptr() as usize % 4096, 0);
    assert_eq!((b.len(), b.align()), (8192, 4096));
    assert!(b.iter().all(|&x| x == 0), "handed out zeroed");
    b[8191] = 7;
    assert_eq!(AlignedBuf::new(0, 4096).unwrap_err(), Error::INVAL);
    assert_eq!(AlignedBuf::new(4096, 3000).unwrap_err(), Error::INVAL);
    assert_eq!(AlignedBuf::new(4096, 0).unwrap_err(), Error::INVAL);
}

#[test]
fn direct_io_with_aligned_buffers() {
    let mut p = port();
    let dir = temp_dir("dio");
    let path = dir.join("f");
    let fd = create(&mut p, &path);
    let info = dio_query(fd).unwrap();
    assert!(!info.direct(), "not opened with CPORT_O_DIRECT");
    close_all(&mut p, &[fd]);

    let flags = sys::CPORT_O_RDWR | sys::CPORT_O_DIRECT;
    let c = p.complete(Op::open(&path, flags, 0)).unwrap();
    if c.result() == Err(Error::INVAL) {
        std::fs::remove_dir_all(&dir).unwrap();
        return skip(&format!("{} refuses O_DIRECT", dir.display()));
    }
    let fd = c.fd().unwrap();
    let info = dio_query(fd).unwrap();
    assert!(info.direct());
    let align = (info.mem_align.max(info.offset_align).max(512) as usize).max(4096);
    let mut buf = AlignedBuf::new(2 * align, align).unwrap();
    let data = pattern(4, 2 * align);
    buf.copy_from_slice(&data);
    let c = p.complete(Op::write_aligned(fd, buf, 0)).unwrap();
    assert_eq!(c.result(), Ok(2 * align as u64));
    let buf = c.into_aligned().unwrap();
    let c = p.complete(Op::read_aligned(fd, buf, 0)).unwrap();
    assert_eq!(c.buf().unwrap(), &data[..]);
    let buf = c.into_aligned().unwrap();
    // A misaligned length is the kernel's EINVAL where the file system checks it.
    if info.offset_align > 1 {
        let r = p.complete(Op::read(fd, vec![0u8; 100], 1)).unwrap();
        assert_eq!(r.result(), Err(Error::INVAL));
    }
    drop(buf);
    close_all(&mut p, &[fd]);
    assert_eq!(dio_query(-1).unwrap_err(), Error::BADF);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn route_says_where_ops_run() {
    let mut p = port();
    let backend = p.backend_name().to_string();
    let nop = if backend == "io_uring" { Route::Kernel } else { Route::Local };
    assert_eq!(p.route(sys::CPORT_KIND_NOP, -1).unwrap(), nop);
    assert_eq!(p.route(sys::CPORT_KIND_TIMER, -1).unwrap(), Route::Local);
    let dir = temp_dir("route");
    let fd = create(&mut p, &dir.join("f"));
    let fsync = p.route(sys::CPORT_KIND_FSYNC, fd).unwrap();
    // CPORT_TEST_URING_POOL=1 (test.sh's io_uring-pool run) sends io_uring's file ops
    // to the pool.
    let uring_pool = std::env::var("CPORT_TEST_URING_POOL").is_ok_and(|v| v == "1");
    match backend.as_str() {
        "io_uring" if !uring_pool => assert_eq!(fsync, Route::Kernel),
        _ => assert_eq!(fsync, Route::Pool),
    }
    let (lfd, sfd, cfd) = tcp_pair(&mut p);
    let recv = p.route(sys::CPORT_KIND_RECV, sfd).unwrap();
    match backend.as_str() {
        "io_uring" => assert_eq!(recv, Route::Kernel),
        _ => assert_eq!(recv, Route::Reactor),
    }
    assert_eq!(p.route(0, fd).unwrap_err(), Error::INVAL);
    assert_eq!(p.route(sys::CPORT_KIND_RECVMSG_POOL + 1, fd).unwrap_err(), Error::INVAL);
    assert_eq!(p.route(sys::CPORT_KIND_READ, -1).unwrap_err(), Error::BADF);
    close_all(&mut p, &[fd, sfd, cfd, lfd]);
    std::fs::remove_dir_all(&dir).unwrap();
}
