// SPDX-License-Identifier: MIT
// Copy a file through the port: several positional reads and writes in flight, then fsync.

//! Usage: `copy SRC DST`, or with no arguments a self-test that copies a generated
//! file in a temporary directory and checks the copy byte for byte.
//! The backend is the default, or the one named by $CPORT_BACKEND.
//!
//! Each 64 KiB chunk's buffer moves from a read into the write of the same bytes and
//! back into the next read: the port owns it while the kernel does, and each
//! completion hands it back.

use cport::{Completion, Error, Op, OpKind, Port};
use cport_sys as sys;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const CHUNK: usize = 64 * 1024;
const DEPTH: usize = 8;
/// Any single wait longer than this is a hang.
const LIMIT: Option<Duration> = Some(Duration::from_secs(30));

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.as_slice() {
        [src, dst] => copy(Path::new(src), Path::new(dst)).map(drop),
        [] => self_test(),
        _ => {
            eprintln!("usage: copy [SRC DST]");
            return ExitCode::from(2);
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("copy: {e}");
            ExitCode::FAILURE
        }
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Copy `src` to `dst`; returns the bytes copied.
fn copy(src: &Path, dst: &Path) -> AnyResult<u64> {
    let mut port = Port::new()?;
    let start = Instant::now();
    let inp = port.complete(Op::open(src, sys::CPORT_O_RDONLY, 0))?.fd()?;
    let out_flags = sys::CPORT_O_WRONLY | sys::CPORT_O_CREAT | sys::CPORT_O_TRUNC;
    let out = port.complete(Op::open(dst, out_flags, 0o644))?.fd()?;
    let size = port.complete(Op::fstat(inp))?.stat().ok_or(Error::IO)?.size;

    // Offsets are handed out in order; each completion carries its own in `user`.
    let mut next: u64 = 0;
    let mut busy = 0usize;
    for _ in 0..DEPTH {
        if next >= size {
            break;
        }
        port.submit(Op::read(inp, vec![0u8; CHUNK], next as i64).user(next))?;
        next += CHUNK as u64;
        busy += 1;
    }
    let mut done = Vec::new();
    while busy > 0 {
        done.clear();
        if port.wait_into(&mut done, DEPTH, LIMIT)? == 0 {
            return Err("no completion in 30 s".into());
        }
        for c in done.drain(..) {
            busy -= 1;
            busy += step(&mut port, c, inp, out, size, &mut next)?;
        }
    }
    port.complete(Op::fsync(out, false))?.result()?;
    port.complete(Op::close(out))?.result()?;
    port.complete(Op::close(inp))?.result()?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    println!("copy: {size} bytes on {} in {ms:.1} ms", port.backend_name());
    Ok(size)
}

/// Handle one completion: a read becomes the write of its bytes, a write frees its
/// buffer for the next read. Returns how many ops it submitted (0 or 1).
fn step(
    port: &mut Port,
    c: Completion,
    inp: cport::Fd,
    out: cport::Fd,
    size: u64,
    next: &mut u64,
) -> AnyResult<usize> {
    let n = c.result()?;
    let offset = c.user();
    match c.kind() {
        OpKind::Read => {
            if n == 0 {
                return Err(format!("unexpected end of file at {offset}").into());
            }
            let buf = c.into_buf().ok_or(Error::IO)?; // cut to the n bytes read
            port.submit(Op::write(out, buf, offset as i64).user(offset))?;
            Ok(1)
        }
        OpKind::Write => {
            if *next >= size {
                return Ok(0);
            }
            let mut buf = c.into_buf().ok_or(Error::IO)?;
            buf.resize(CHUNK, 0);
            port.submit(Op::read(inp, buf, *next as i64).user(*next))?;
            *next += CHUNK as u64;
            Ok(1)
        }
        other => Err(format!("unexpected completion of {other:?}").into()),
    }
}

/// Copy a generated file of a size that is no multiple of the chunk, and compare.
fn self_test() -> AnyResult<()> {
    let dir: PathBuf = std::env::temp_dir().join(format!("cport-copy-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let src = dir.join("src");
    let dst = dir.join("dst");
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 1234u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&src, &data)?;
    let r = copy(&src, &dst);
    let same = r.is_ok() && std::fs::read(&dst)? == data;
    std::fs::remove_dir_all(&dir)?;
    let n = r?;
    if !same || n != data.len() as u64 {
        return Err("the copy differs from the source".into());
    }
    println!("copy: self-test passed");
    Ok(())
}
