#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed corpus of the fuzz target (tests/fuzz/corpus/): a few inputs, each a
# scenario in the input format that fuzz-port.c reads (its section 2 and act()).
"""Usage: make-corpus.py [DIR]   (default: the corpus/ directory beside this script)

Each seed is small and exercises one area, so the fuzzer starts from inputs that reach
deep states (data checked end to end, chains, barriers, closes with ops in flight)
instead of finding them byte by byte. Rerun after changing the input format.
"""
import os
import struct
import sys

# Descriptor slots (fuzz-port.c, enum SL_*) and the not-open ones after them.
PAT, SCR, PIPE_R, PIPE_W, UNIX_A, UNIX_B, TCP_C, TCP_S, LISTEN, UDP = range(10)
DYN = 10
BAD_NEG, BAD_MIN, BAD_MAX, BAD_150 = 16, 17, 18, 19

# Actions (the first byte of each, modulo 32).
(NOP, TIMER, READ, WRITE, READV, WRITEV, FSYNC, OPEN, CLOSE, STAT, FSTAT, FALLOC,
 FTRUNC, RENAME, UNLINK, MKDIR, ACCEPT, CONNECT, RECV, SEND, RECVMSG, SENDMSG,
 SHUTDOWN, POLL, SENDFILE, CANCEL, WAIT, WAIT2, SUBMIT, POST, SOCK_CLOSE,
 DESTROY) = range(32)

# The second vocabulary (fuzz-port.c, section 6b): configuration bits 7..6 = 10; its
# actions are 32 and up (act2), the first vocabulary's keep their numbers.
V2 = 0x80
(OPENAT, READDIR, STATFS, FADVISE, LINKAT, SYMLINK, READLINK, RENAME2, ACCESS, LOCK,
 LOCK_, UNLOCK, READ_FIXED, WRITE_FIXED, REG_BUFS, UNREG_BUFS, REG_FILES, UNREG_FILES,
 POOL_ADD, POOL_REMOVE, POOL_RETURN, POOL_RETURN_, RECV_POOL, RECV_POOL_, RECVMSG_POOL,
 WAIT_OP) = range(32, 58)
SEND2 = 32 + 29               # cport_send, its length byte's bits 5..3 the ZC flags
ZC, NOZC, ZC_BOTH = 1 << 3, 2 << 3, 3 << 3
L0, L1, L_RDONLY = 0, 1, 4    # lock descriptors (and 5: a slot)
SHARED, EXCL, NOWAIT = 1 << 3, 2 << 3, 0x20
R_0_100, R_50_150, R_1000, R_ALL = 0, 1, 2, 3  # lock ranges (lk_offs, lk_lens)
REL = 8                       # openat: the path relative to the directory
WORKDIR = 0                   # openat / readdir: the work directory
INLINE = 0x80                 # bit of the op's flags byte (second vocabulary)

LINK, BARRIER = 1, 6          # bits of the op's flags byte
T_1MS, T_HOUR = 11 << 3, 13 << 3  # timeout choices (fz_timeouts index << 3)

# Offsets (pick_off) and lengths (pick_len): the byte that chooses them.
OFF_STREAM, OFF_0, OFF_4096, OFF_NEAR_END, OFF_END = 0, 3, 4, 5, 6
LEN_0, LEN_1, LEN_100, LEN_4096, LEN_MAX, LEN_HUGE = 0, 1, 2, 3, 4, 5


class Input:
    def __init__(self, cfg=0):
        self.b = bytearray([cfg])

    def op(self, action, i, flags=0, g=0):
        self.b += bytes([action, i, flags, g])
        return self

    def raw(self, *vals):
        self.b += bytes(vals)
        return self

    def wait(self, max_=64, t=4):  # t: 0 no block, 3 50us, 4 500us, 5 2ms, 6 forever
        return self.raw(WAIT, max_ - 1, t)

    def rw(self, action, i, fd, off, length, flags=0):
        return self.op(action, i, flags).raw(fd, off, length)

    def vec(self, action, i, fd, off, cnt, length, flags=0):
        return self.op(action, i, flags).raw(fd, off, cnt - 1, 0x5A, length)

    def sr(self, action, i, fd, length, flags=0):
        return self.op(action, i, flags).raw(fd, length)

    def fdop(self, action, i, fd, b=0, flags=0):
        return self.op(action, i, flags).raw(fd, b)

    def post(self, i, value):
        return self.op(POST, i).raw(*struct.pack('<q', value))


def files():
    """Writes, reads and metadata on the scratch and pattern files, checked by model."""
    s = Input(cfg=0)
    s.rw(WRITE, 1, SCR, OFF_0, LEN_4096).wait()
    s.rw(READ, 2, SCR, OFF_0, LEN_MAX).rw(READ, 3, PAT, OFF_NEAR_END, LEN_4096).wait()
    s.vec(READV, 4, PAT, OFF_4096, 3, LEN_4096).vec(WRITEV, 5, SCR, OFF_4096, 4, LEN_100)
    s.wait()
    s.fdop(FSYNC, 6, SCR, 1).fdop(FSTAT, 7, PAT).wait()
    s.op(FTRUNC, 8).raw(SCR, 1, 0).wait()  # ftruncate to 100
    s.rw(READ, 9, SCR, OFF_0, LEN_4096).rw(WRITE, 10, PAT, OFF_0, LEN_1).wait()
    s.op(FALLOC, 11).raw(SCR, 2, OFF_4096).wait()
    return s


def streams():
    """Sends and receives on the pipe, the AF_UNIX and TCP pairs; sendfile; shutdown."""
    s = Input(cfg=0x03)  # queue depth 4
    s.sr(RECV, 1, UNIX_B, LEN_MAX).sr(RECV, 2, UNIX_B, LEN_100)
    s.sr(SEND, 3, UNIX_A, LEN_4096).sr(SEND, 4, UNIX_A, LEN_MAX).wait().wait()
    s.rw(WRITE, 5, PIPE_W, OFF_STREAM, LEN_MAX).rw(READ, 6, PIPE_R, OFF_STREAM, LEN_4096)
    s.wait()
    s.op(SENDFILE, 7).raw(TCP_C, PAT, OFF_NEAR_END, LEN_4096)
    s.sr(RECV, 8, TCP_S, LEN_MAX).wait().wait()
    s.op(RECVMSG, 9).raw(TCP_C, 0, 2, 0x11, LEN_4096)
    s.op(SENDMSG, 10).raw(TCP_S, 0, 1, 0, LEN_100).wait()
    s.fdop(SHUTDOWN, 11, UNIX_A, 2).sr(RECV, 12, UNIX_B, LEN_MAX).wait().wait()
    s.op(POLL, 13).raw(PIPE_R, 0, 0x01, 0x00).wait()
    return s


def chains():
    """Links that hold, links that break (a short read, a timeout), a barrier."""
    s = Input(cfg=0)
    s.rw(WRITE, 1, SCR, OFF_0, LEN_4096, flags=LINK).fdop(FSYNC, 2, SCR, 1, flags=LINK)
    s.op(NOP, 3).wait().wait()
    s.rw(READ, 4, PAT, OFF_NEAR_END, LEN_4096, flags=LINK)  # short: the chain breaks
    s.rw(WRITE, 5, SCR, OFF_0, LEN_100, flags=LINK).op(NOP, 6).wait().wait()
    s.op(TIMER, 7, flags=LINK | T_1MS).raw(5)  # a 1 h timer with a 1 ms timeout
    s.op(NOP, 8).wait(t=5).wait(t=5)
    s.rw(WRITE, 9, SCR, OFF_4096, LEN_100).rw(WRITE, 10, SCR, OFF_0, LEN_100)
    s.fdop(FSYNC, 11, SCR, 1, flags=BARRIER).rw(READ, 12, SCR, OFF_0, LEN_4096)
    s.wait().wait().wait()
    return s


def cancels_and_closes():
    """Cancels of ops in flight, done and never submitted; closes with ops in flight."""
    s = Input(cfg=0x08)  # one pool thread
    s.sr(RECV, 1, UNIX_B, LEN_MAX).raw(CANCEL, 1).raw(CANCEL, 40).wait()
    s.op(TIMER, 2).raw(5).raw(CANCEL, 2).wait().raw(CANCEL, 2)
    s.sr(RECV, 3, TCP_S, LEN_100).sr(SEND, 4, TCP_C, LEN_MAX)
    s.fdop(CLOSE, 5, TCP_S).wait().wait()
    s.sr(RECV, 6, TCP_S, LEN_100)  # after the close: CPORT_EBADF
    s.op(ACCEPT, 7).raw(LISTEN, 2).fdop(CLOSE, 8, LISTEN).wait().wait()
    s.rw(READ, 9, PIPE_R, OFF_STREAM, LEN_100).fdop(CLOSE, 10, PIPE_W).wait().wait()
    return s


def sockets():
    """Connects to the listener and to a dead port; multishot accepts; UDP to itself."""
    s = Input(cfg=0x20)  # single thread (io_uring: SINGLE_ISSUER | DEFER_TASKRUN)
    s.op(ACCEPT, 1).raw(LISTEN, 2)  # multishot
    s.op(CONNECT, 2).raw(1, 0).op(CONNECT, 3).raw(1, 0).wait().wait().wait()
    s.op(CONNECT, 4).raw(3, 0).wait().wait()  # to the dead port: refused
    s.op(SENDMSG, 5).raw(UDP, 0x18, 0, 0, LEN_100).op(RECVMSG, 6).raw(UDP, 8, 0, 0, LEN_MAX)
    s.wait().wait()
    s.sr(SEND, 7, DYN, LEN_100).sr(RECV, 8, DYN + 1, LEN_100).wait()
    s.raw(CANCEL, 1).wait().wait()
    s.raw(SOCK_CLOSE, 3)
    return s


def paths():
    """Metadata ops in the work directory: mkdir, open, rename, stat, unlink."""
    s = Input(cfg=0x10)  # two pool threads
    s.op(MKDIR, 1).raw(2, 0, 0).wait()          # d
    s.op(OPEN, 2).raw(0, 0x06, 0x00).wait()     # a, RDWR | CREAT
    s.op(RENAME, 3).raw(0 | 1 << 3, 0, 0).wait()  # a -> b
    s.op(STAT, 4).raw(1, 0, 0).op(STAT, 5).raw(4, 0, 0).wait()
    s.rw(WRITE, 6, DYN, OFF_0, LEN_100).wait()
    s.fdop(CLOSE, 7, DYN).wait()
    s.op(UNLINK, 8).raw(1, 0, 0).op(UNLINK, 9).raw(2, 1, 0).wait()
    s.op(OPEN, 10).raw(6, 0, 0).op(STAT, 11).raw(7, 0, 0).wait()  # "" and NULL
    return s


def misuse():
    """Invalid arguments, an op submitted twice, posts, waits forever on a post."""
    s = Input(cfg=0x01)  # queue depth 1
    s.op(NOP, 1, g=1).op(NOP, 2, g=2).op(NOP, 3, g=3)  # NULL port, NULL op, bad flag
    s.rw(READ, 4, BAD_NEG, OFF_0, LEN_1).rw(READ, 5, BAD_150, OFF_0, LEN_1)
    s.rw(READ, 6, SCR, 9, LEN_1).rw(READ, 7, SCR, OFF_0, LEN_HUGE)  # offset -2, huge
    s.sr(RECV, 8, UNIX_B, LEN_MAX).sr(RECV, 8, UNIX_B, LEN_MAX)  # the same op twice
    s.post(9, -125).post(10, 1 << 40).wait(t=6).raw(CANCEL, 9)
    s.raw(WAIT, 0xFD, 0).raw(WAIT, 0xFE, 0).raw(SUBMIT, 0xFF).raw(CANCEL, 0xFE)
    s.op(NOP, 11, flags=LINK).wait().raw(SUBMIT, 0).op(NOP, 12).wait()
    return s


def destroy_in_flight():
    """Destroy with receives, a timer, pool ops and a held chain in flight."""
    s = Input(cfg=0x08)
    s.sr(RECV, 1, UNIX_B, LEN_MAX).op(TIMER, 2).raw(5).op(ACCEPT, 3).raw(LISTEN, 2)
    s.rw(WRITE, 4, SCR, OFF_0, LEN_MAX).op(TIMER, 5, flags=LINK).raw(3).op(NOP, 6)
    s.wait(t=0).raw(DESTROY, 0)
    return s


def dirs():
    """openat, symlink, readlink, link, rename2, access, statfs, readdir (v2)."""
    s = Input(cfg=V2 | 0x10)
    s.op(MKDIR, 1).raw(2, 0, 0).wait()                          # d
    s.op(OPENAT, 2).raw(WORKDIR, 0 | REL, 0x06, 0x00).wait()    # a, RDWR | CREAT: DYN
    s.op(SYMLINK, 3).raw(1, 0).op(READLINK, 4).raw(1, 3).wait()  # b -> "a"
    s.op(READLINK, 5).raw(1, 1).wait()                         # 1 byte: CPORT_ENOBUFS
    s.op(LINKAT, 6).raw(0, 5).wait()                           # a -> c
    s.op(RENAME2, 7).raw(5, 0 | 1 << 3).wait()                 # c -> a NOREPLACE: EEXIST
    s.op(RENAME2, 8).raw(0, 1 | 2 << 3).wait()                 # a <-> b EXCHANGE
    s.op(ACCESS, 9).raw(0, 4).op(STATFS, 10).raw(2, 0).wait()
    s.op(OPENAT, 11).raw(WORKDIR, 2 | REL, 0x00, 0x01).wait()   # a directory: DYN + 1
    s.op(READDIR, 12).raw(WORKDIR, 3).op(READDIR, 13).raw(4 | (DYN + 1) << 3, 1).wait()
    s.op(READDIR, 14).raw(WORKDIR, 3 | 4).op(READDIR, 15).raw(WORKDIR, 0).wait()
    s.op(OPENAT, 16).raw(3, 1, 0x00, 0x00)                     # CPORT_AT_CWD, absolute
    s.op(OPENAT, 17).raw(4 | (DYN + 1) << 3, 3 | REL, 0x46, 0).wait().wait()
    s.op(READDIR, 18).raw(4 | (DYN + 1) << 3, 3 | 4).wait()
    return s


def locks():
    """Locks through three open files of one file: held, refused, waiting, cancelled."""
    s = Input(cfg=V2 | 0x08)
    s.op(LOCK, 1).raw(L0, R_0_100 | EXCL | NOWAIT).wait(t=5)
    s.op(LOCK, 2).raw(L1, R_50_150 | SHARED | NOWAIT).wait(t=5)  # CPORT_EAGAIN
    s.op(LOCK, 3).raw(L1, R_ALL | EXCL).wait(t=5)                # waits
    s.raw(CANCEL, 3).wait(t=5)
    s.op(LOCK, 4, flags=T_1MS).raw(L1, R_0_100 | SHARED).wait(t=5).wait(t=5)
    s.op(UNLOCK, 5).raw(L0, R_0_100).wait(t=5)
    s.op(LOCK, 6).raw(L1, R_ALL | EXCL | NOWAIT).wait(t=5)
    s.op(LOCK, 7).raw(L_RDONLY, R_1000 | EXCL | NOWAIT).wait(t=5)  # read-only: EBADF
    s.op(LOCK, 8).raw(L0, R_1000 | SHARED).op(UNLOCK, 9).raw(L1, R_ALL).wait(t=5)
    s.wait(t=5)
    s.op(FADVISE, 10).raw(PAT, 1 | 2 << 2 | 3 << 4).wait()
    s.op(LOCK, 11).raw(5 | SCR << 3, R_0_100 | SHARED).wait(t=5)
    return s


def registered():
    """Registered buffers and files: fixed I/O, bad indexes, unregister while busy."""
    s = Input(cfg=V2)
    s.raw(REG_BUFS, 0, 7)                                    # bufs[0..7]
    s.rw(WRITE_FIXED, 1, SCR, OFF_0, LEN_4096).raw(0).wait()
    s.rw(READ_FIXED, 2, SCR, OFF_0, LEN_4096).raw(0)
    s.raw(UNREG_BUFS).wait()                                 # busy, maybe
    s.rw(READ_FIXED, 9, SCR, OFF_0, LEN_100).raw(0)          # index 9: not registered
    s.rw(READ_FIXED, 3, SCR, OFF_0, LEN_100).raw(0x80 | 4)   # index 4: not its buffer
    s.raw(REG_FILES, 1 << SCR | 1 << PIPE_R | 1 << PIPE_W | 1 << UNIX_A | 1 << UNIX_B, 0, 0)
    s.sr(RECV, 4, UNIX_B, LEN_MAX).raw(UNREG_FILES)          # CPORT_EBUSY
    s.sr(SEND, 5, UNIX_A, LEN_100).wait().wait()
    s.rw(WRITE, 6, PIPE_W, OFF_STREAM, LEN_100).rw(READ, 7, PIPE_R, OFF_STREAM, LEN_4096)
    s.wait().fdop(CLOSE, 8, PIPE_W).wait().wait()
    s.raw(UNREG_FILES).raw(UNREG_FILES).raw(UNREG_BUFS)      # 0, CPORT_ENOENT, 0
    s.raw(REG_BUFS, 3, 0).rw(READ_FIXED, 10, PAT, OFF_4096, LEN_4096).raw(0).wait()
    s.raw(REG_FILES, 0, 0, 4).raw(REG_FILES, 1 << TCP_C, 0, 5)  # dup; a bad descriptor
    return s


def pools():
    """Pool receives: multishot until dry, buffers returned (twice), cancel, close."""
    s = Input(cfg=V2)
    s.raw(POOL_ADD, 1 | 2 << 2)                               # 2 x 100: group 0
    s.op(RECV_POOL, 1).raw(UNIX_B, 0 | 1 << 3)                # multishot
    s.sr(SEND, 2, UNIX_A, LEN_100).wait().sr(SEND, 3, UNIX_A, LEN_100).wait().wait()
    s.sr(SEND, 4, UNIX_A, LEN_100).wait().wait()              # dry: CPORT_ENOBUFS
    s.raw(POOL_RETURN, 0, 0).raw(POOL_RETURN, 0, 0).raw(POOL_RETURN, 0x80, 0)  # twice
    s.op(RECV_POOL, 5).raw(UNIX_B, 0).wait()
    s.raw(POOL_REMOVE, 0).raw(POOL_RETURN, 0, 0)              # 0; the buffer forgotten
    s.raw(POOL_ADD, 2 | 3 << 2).raw(POOL_ADD, 0)              # 4 x 4096, 1 x 1
    s.op(RECVMSG_POOL, 6).raw(TCP_S, 0).op(RECV_POOL, 7).raw(UNIX_A, 1 | 1 << 3)
    s.sr(SEND, 8, TCP_C, LEN_4096).sr(SEND, 9, UNIX_B, LEN_100).wait().wait()
    s.raw(POOL_REMOVE, 1).raw(CANCEL, 7).wait().wait()        # busy, then cancelled
    s.op(RECV_POOL, 10).raw(TCP_S, 0 | 1 << 3).sr(SEND, 11, TCP_C, LEN_MAX).wait()
    s.fdop(CLOSE, 12, TCP_S).wait().wait()                    # closed mid-multishot
    s.op(RECV_POOL, 13).raw(PIPE_R, 0).op(RECV_POOL, 14).raw(UNIX_B, 3).wait()
    return s


def inline_and_wait_op():
    """CPORT_OP_INLINE, cport_wait_op (out of the queue's order), zero-copy sends."""
    s = Input(cfg=V2 | 0x08)
    s.op(STAT, 1, flags=INLINE).raw(7, 0, 0).wait()  # NULL path: refused
    s.op(FSTAT, 2, flags=INLINE).raw(PAT, 0).op(FSTAT, 3, flags=INLINE).raw(UNIX_A, 0)
    s.rw(READ, 4, PAT, OFF_4096, LEN_4096, flags=INLINE)
    s.rw(WRITE, 5, SCR, OFF_0, LEN_4096, flags=INLINE).raw(WAIT_OP, 5, 3).wait()
    s.op(TIMER, 6).raw(3).op(NOP, 7).raw(WAIT_OP, 6, 3).raw(WAIT_OP, 7, 0)
    s.raw(WAIT_OP, 6, 3).raw(WAIT_OP, 6, 3).raw(WAIT_OP, 40, 0).wait()
    s.op(NOP, 8, flags=LINK).raw(WAIT_OP, 8, 0).op(NOP, 9).raw(WAIT_OP, 9, 2).wait()
    s.sr(SEND2, 10, TCP_C, LEN_4096 | ZC).sr(RECV, 11, TCP_S, LEN_MAX).wait().wait()
    s.sr(SEND2, 12, TCP_C, LEN_100 | NOZC).sr(SEND2, 13, TCP_C, LEN_100 | ZC_BOTH)
    s.sr(SEND2, 14, UNIX_A, LEN_100 | ZC).sr(RECV, 15, TCP_S, LEN_MAX).wait().wait()
    s.raw(WAIT_OP, 0xFE, 0).raw(WAIT_OP, 0xFF, 0)
    return s


SEEDS = [files, streams, chains, cancels_and_closes, sockets, paths, misuse,
         destroy_in_flight, dirs, locks, registered, pools, inline_and_wait_op]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus')
    os.makedirs(out, exist_ok=True)
    for n, seed in enumerate(SEEDS):
        path = os.path.join(out, '%02d-%s' % (n, seed.__name__.replace('_', '-')))
        with open(path, 'wb') as f:
            f.write(bytes(seed().b))
        print(path)


if __name__ == '__main__':
    main()
