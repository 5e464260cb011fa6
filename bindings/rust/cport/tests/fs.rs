// SPDX-License-Identifier: MIT
// Section 4c through the safe API: openat, readdir, statfs, fadvise, link, symlink,
// readlink, rename2, access, and byte-range locks; with the misuse types cannot stop.

mod common;
use common::*;
use cport::{Error, Op};
use cport_sys as sys;
use std::collections::BTreeMap;
use std::time::Duration;

fn open_dir(p: &mut cport::Port, dir: &std::path::Path) -> cport::Fd {
    let flags = sys::CPORT_O_RDONLY | sys::CPORT_O_DIRECTORY;
    p.complete(Op::open(dir, flags, 0)).unwrap().fd().unwrap()
}

#[test]
fn openat_and_readdir() {
    let mut p = port();
    let dir = temp_dir("readdir");
    let dfd = open_dir(&mut p, &dir);
    let flags = sys::CPORT_O_WRONLY | sys::CPORT_O_CREAT | sys::CPORT_O_EXCL;
    let mut made = Vec::new();
    for i in 0..40 {
        let name = format!("file-{i:02}");
        let fd = p.complete(Op::openat(dfd, &name, flags, 0o600)).unwrap().fd().unwrap();
        made.push(fd);
    }
    std::fs::create_dir(dir.join("sub")).unwrap();
    close_all(&mut p, &made);
    assert!(dir.join("file-07").is_file(), "openat made it in the directory");
    let c = p.complete(Op::openat(dfd, "file-07", flags, 0o600)).unwrap();
    assert_eq!(c.result(), Err(Error::EXIST));
    // CPORT_AT_CWD: relative to the current directory; an absolute path ignores dir.
    let abs = dir.join("file-01");
    let fd = p.complete(Op::openat(sys::CPORT_AT_CWD, &abs, 0, 0)).unwrap().fd().unwrap();
    close_all(&mut p, &[fd]);

    // Read the directory in small pieces until its end.
    let mut seen: BTreeMap<String, u8> = BTreeMap::new();
    let mut flags = sys::CPORT_READDIR_REWIND;
    loop {
        let c = p.complete(Op::readdir(dfd, sys::CPORT_READDIR_MIN, flags)).unwrap();
        flags = 0;
        if c.result().unwrap() == 0 {
            break;
        }
        for d in c.dirents().unwrap() {
            assert!(d.ino != 0);
            let name = String::from_utf8(d.name.to_vec()).unwrap();
            assert!(seen.insert(name, d.kind).is_none(), "each entry once");
        }
    }
    for i in 0..40 {
        let t = seen[&format!("file-{i:02}")];
        assert!(t == sys::CPORT_DT_REG || t == sys::CPORT_DT_UNKNOWN);
    }
    let t = seen["sub"];
    assert!(t == sys::CPORT_DT_DIR || t == sys::CPORT_DT_UNKNOWN);
    // Rewind: the first entries again.
    let c = p.complete(Op::readdir(dfd, 4096, sys::CPORT_READDIR_REWIND)).unwrap();
    assert!(c.dirents().unwrap().count() > 0);

    // Misuse: a buffer below CPORT_READDIR_MIN, unknown flags, a file, no descriptor.
    let r = p.submit(Op::readdir(dfd, sys::CPORT_READDIR_MIN - 8, 0)).unwrap_err();
    assert_eq!(r.error, Error::INVAL);
    assert_eq!(p.submit(Op::readdir(dfd, 4096, 1 << 9)).unwrap_err().error, Error::INVAL);
    assert_eq!(p.submit(Op::readdir(-1, 4096, 0)).unwrap_err().error, Error::BADF);
    let fd = p.complete(Op::open(&abs, 0, 0)).unwrap().fd().unwrap();
    let c = p.complete(Op::readdir(fd, 4096, 0)).unwrap();
    assert_eq!(c.result(), Err(Error::NOTDIR));
    assert!(c.dirents().is_none());
    let c = p.complete(Op::openat(fd, "x", 0, 0)).unwrap(); // a file as the directory
    assert_eq!(c.result(), Err(Error::NOTDIR));
    assert_eq!(p.submit(Op::openat(-5, "x", 0, 0)).unwrap_err().error, Error::BADF);
    close_all(&mut p, &[fd, dfd]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn statfs_and_fadvise() {
    let mut p = port();
    let dir = temp_dir("statfs");
    let st = p.complete(Op::statfs(&dir)).unwrap().statfs().unwrap();
    assert!(st.bsize > 0 && st.total > 0 && st.total >= st.free && st.free >= st.avail);
    assert!(st.namemax >= 255);
    let c = p.complete(Op::statfs(dir.join("missing"))).unwrap();
    assert_eq!(c.result(), Err(Error::NOENT));
    assert!(c.statfs().is_none());

    let fd = create(&mut p, &dir.join("f"));
    p.complete(Op::write(fd, pattern(5, 65536), 0)).unwrap().result().unwrap();
    for advice in [sys::CPORT_FADV_SEQUENTIAL, sys::CPORT_FADV_WILLNEED, sys::CPORT_FADV_DONTNEED] {
        p.complete(Op::fadvise(fd, 0, 0, advice)).unwrap().result().unwrap();
    }
    assert_eq!(p.submit(Op::fadvise(fd, 0, 0, 77)).unwrap_err().error, Error::INVAL);
    assert_eq!(p.submit(Op::fadvise(fd, -1, 0, 0)).unwrap_err().error, Error::INVAL);
    close_all(&mut p, &[fd]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn links_symlinks_and_readlink() {
    let mut p = port();
    let dir = temp_dir("links");
    let (a, b, s) = (dir.join("a"), dir.join("b"), dir.join("s"));
    std::fs::write(&a, b"contents").unwrap();
    p.complete(Op::link(&a, &b)).unwrap().result().unwrap();
    assert_eq!(p.complete(Op::stat(&b)).unwrap().stat().unwrap().nlink, 2);
    assert_eq!(p.complete(Op::link(&a, &b)).unwrap().result(), Err(Error::EXIST));

    let c = p.complete(Op::symlink("a", &s, 0)).unwrap();
    if c.result() == Err(Error::NOTSUP) || c.result() == Err(Error::PERM) {
        std::fs::remove_dir_all(&dir).unwrap();
        return skip("no symbolic links here");
    }
    c.result().unwrap();
    let c = p.complete(Op::readlink(&s, 4096)).unwrap();
    assert_eq!(c.result(), Ok(1));
    assert_eq!(c.link_text().unwrap(), b"a");
    assert_eq!(p.complete(Op::stat(&s)).unwrap().stat().unwrap().size, 8, "followed");
    // Too small for the text and its NUL; not a link; unknown flags.
    assert_eq!(p.complete(Op::readlink(&s, 1)).unwrap().result(), Err(Error::NOBUFS));
    let c = p.complete(Op::readlink(&a, 4096)).unwrap();
    assert_eq!(c.result(), Err(Error::INVAL));
    assert!(c.link_text().is_none());
    assert_eq!(p.submit(Op::readlink(&s, 0)).unwrap_err().error, Error::INVAL);
    assert_eq!(p.submit(Op::symlink("a", &s, 1 << 5)).unwrap_err().error, Error::INVAL);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rename2_and_access() {
    let mut p = port();
    let dir = temp_dir("rename2");
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::write(&a, b"A").unwrap();
    std::fs::write(&b, b"B").unwrap();
    let c = p.complete(Op::rename2(&a, &b, sys::CPORT_RENAME_NOREPLACE)).unwrap();
    assert_eq!(c.result(), Err(Error::EXIST));
    let c = p.complete(Op::rename2(&a, &b, sys::CPORT_RENAME_EXCHANGE)).unwrap();
    match c.result() {
        Ok(_) => {
            assert_eq!(std::fs::read(&a).unwrap(), b"B");
            assert_eq!(std::fs::read(&b).unwrap(), b"A");
        }
        Err(e) => assert_eq!(e, Error::INVAL, "a file system without RENAME_EXCHANGE"),
    }
    let both = sys::CPORT_RENAME_NOREPLACE | sys::CPORT_RENAME_EXCHANGE;
    assert_eq!(p.submit(Op::rename2(&a, &b, both)).unwrap_err().error, Error::INVAL);
    let c = dir.join("c");
    p.complete(Op::rename2(&a, &c, sys::CPORT_RENAME_NOREPLACE)).unwrap().result().unwrap();

    p.complete(Op::access(&c, sys::CPORT_F_OK)).unwrap().result().unwrap();
    p.complete(Op::access(&c, sys::CPORT_R_OK | sys::CPORT_W_OK)).unwrap().result().unwrap();
    assert_eq!(p.complete(Op::access(&a, sys::CPORT_F_OK)).unwrap().result(), Err(Error::NOENT));
    assert_eq!(p.submit(Op::access(&c, 8)).unwrap_err().error, Error::INVAL);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn byte_range_locks() {
    let mut p = port();
    let dir = temp_dir("locks");
    let path = dir.join("f");
    let fd1 = create(&mut p, &path);
    let fd2 = p.complete(Op::open(&path, sys::CPORT_O_RDWR, 0)).unwrap().fd().unwrap();
    let (ex, sh, nowait) =
        (sys::CPORT_LOCK_EXCLUSIVE, sys::CPORT_LOCK_SHARED, sys::CPORT_LOCK_NOWAIT);
    p.complete(Op::lock(fd1, 0, 100, ex)).unwrap().result().unwrap();
    // Another open file: refused at once with NOWAIT ...
    assert_eq!(p.complete(Op::lock(fd2, 50, 10, sh | nowait)).unwrap().result(), Err(Error::AGAIN));
    p.complete(Op::lock(fd2, 100, 10, ex | nowait)).unwrap().result().unwrap(); // no overlap
    p.complete(Op::unlock(fd2, 100, 10)).unwrap().result().unwrap();
    // ... and without it, waits until the range comes free.
    let w = p.submit(Op::lock(fd2, 0, 100, ex)).unwrap();
    assert_eq!(p.wait_op(w, Some(Duration::from_millis(30))).unwrap_err(), Error::TIMEDOUT);
    p.complete(Op::unlock(fd1, 0, 100)).unwrap().result().unwrap();
    assert_eq!(p.wait_op(w, LIMIT).unwrap().result(), Ok(0));
    // A waiting lock times out having taken nothing.
    let c = p.complete(Op::lock(fd1, 0, 10, ex).timeout(Duration::from_millis(20))).unwrap();
    assert_eq!(c.result(), Err(Error::TIMEDOUT));
    p.complete(Op::unlock(fd2, 0, 100)).unwrap().result().unwrap();
    p.complete(Op::lock(fd1, 0, 0, sh)).unwrap().result().unwrap();
    p.complete(Op::unlock(fd1, 0, 0)).unwrap().result().unwrap();

    // Misuse: both kinds or neither, negative ranges, unknown flags.
    for op in [
        Op::lock(fd1, 0, 10, ex | sh),
        Op::lock(fd1, 0, 10, nowait),
        Op::lock(fd1, -1, 10, ex),
        Op::lock(fd1, 0, -10, ex),
        Op::lock(fd1, 0, 10, ex | 1 << 8),
        Op::unlock(fd1, -1, 0),
    ] {
        assert_eq!(p.submit(op).unwrap_err().error, Error::INVAL);
    }
    assert_eq!(p.in_flight(), 0);
    close_all(&mut p, &[fd1, fd2]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn close_cancels_a_waiting_lock() {
    let mut p = port();
    let dir = temp_dir("lock-close");
    let path = dir.join("f");
    let fd1 = create(&mut p, &path);
    let fd2 = p.complete(Op::open(&path, sys::CPORT_O_RDWR, 0)).unwrap().fd().unwrap();
    p.complete(Op::lock(fd1, 0, 0, sys::CPORT_LOCK_EXCLUSIVE)).unwrap().result().unwrap();
    let w = p.submit(Op::lock(fd2, 0, 0, sys::CPORT_LOCK_EXCLUSIVE)).unwrap();
    let cl = p.submit(Op::close(fd2)).unwrap();
    let got = wait_n(&mut p, 2);
    let lock = got.iter().find(|c| c.id() == w).unwrap();
    assert_eq!(lock.result(), Err(Error::CANCELED));
    assert_eq!(got.iter().find(|c| c.id() == cl).unwrap().result(), Ok(0));
    close_all(&mut p, &[fd1]);
    std::fs::remove_dir_all(&dir).unwrap();
}
