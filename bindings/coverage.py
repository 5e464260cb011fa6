#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Fails when include/cport.h exports a function, constant, error code or struct that the
# Rust or Zig bindings do not declare (or declare with another value).
"""Usage: bindings/coverage.py [--cc CC]

Reads include/cport.h and compares it with
  - bindings/rust/cport-sys/src/lib.rs: every CPORT_API function as `pub fn`, every public
    constant as `pub const` (error codes in the `cport_errors!` table), every typedef'd
    struct as `pub struct`; and each constant's value, which a small C program built
    against the header prints (skipped, with a note, when no C compiler is found);
  - bindings/rust/cport/src/lib.rs (the safe crate): every function called as `sys::NAME(`
    and every error code as an `Error` constant;
  - bindings/zig/cport.zig: every function called as `c.NAME(` (a wrapper) and every
    error code in its `Error` set (constants and structs come from @cImport itself).
What a binding leaves out on purpose is in the ALLOW lists below, each with its reason.
Prints one line per gap and exits 1 if there is any; else a summary and 0.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
HEADER = os.path.join(ROOT, "include", "cport.h")
SYS_RS = os.path.join(ROOT, "bindings", "rust", "cport-sys", "src", "lib.rs")
SAFE_RS = os.path.join(ROOT, "bindings", "rust", "cport", "src", "lib.rs")
ZIG = os.path.join(ROOT, "bindings", "zig", "cport.zig")

# Names the header defines that are not part of the API a binding declares.
NOT_API = {
    "CPORT_H": "the include guard",
    "CPORT_API": "the export macro",
    "CPORT_ERRNO_MAP": "an X-macro; its entries are the CPORT_E* codes, checked one by one",
    "CPORT_BUILDING_DLL": "set while building the DLL, never by a user",
}

# Functions the safe crate deliberately does not call (use cport-sys for them).
ALLOW_SAFE = {
    "cport_readv": "vectored I/O is not in the safe API yet (iovecs pointing into owned "
    "buffers need a type of their own); use cport-sys",
    "cport_writev": "as cport_readv",
    "cport_recvmsg": "datagram messages are not in the safe API yet; use cport-sys",
    "cport_sendmsg": "as cport_recvmsg",
    "cport_sendfile": "not in the safe API yet; use cport-sys",
    "cport_fallocate": "not in the safe API yet; use cport-sys",
    "cport_struct_size": "an ABI check for bindings that declare the structs: cport-sys's "
    "tests call it",
    "cport_sim_disk_create": "the simulation (backend \"sim\") is not in the safe API yet "
    "(a profile that points to a disk the ports share needs a type of its own); "
    "Builder::backend(\"sim\") gives its defaults; use cport-sys for the rest",
    "cport_sim_disk_destroy": "as cport_sim_disk_create",
    "cport_sim_disk_crash": "as cport_sim_disk_create",
    "cport_sim_socketpair": "as cport_sim_disk_create",
    "cport_sim_trace_hash": "as cport_sim_disk_create",
    "cport_sim_trace": "as cport_sim_disk_create",
    "cport_stop": "shared ports (CPORT_OPT_SHARED) need a Port that is Sync, with in-flight "
    "ops owned across threads; the safe Port is Send only; use cport-sys",
}

# Functions cport.zig deliberately does not wrap (callers use `c.` directly).
ALLOW_ZIG = {}

# Functions cport-sys deliberately does not declare.
ALLOW_SYS = {}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_c_comments(text):
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def parse_header(text):
    """(functions, constants, errors, structs) the header exports."""
    code = strip_c_comments(text)
    funcs = re.findall(r"\bCPORT_API\b[^;(]*?\b(cport_[a-z0-9_]+)\s*\(", code)
    consts = []
    for name in re.findall(r"^\s*#\s*define\s+(CPORT_[A-Z0-9_]+)", code, flags=re.M):
        if not name.startswith("CPORT__") and name not in NOT_API:
            consts.append(name)
    # Enumerators: every `enum { ... }` body (the errno enum is built by the X-macro).
    for body in re.findall(r"\benum\b[^{;]*\{(.*?)\}", code, flags=re.S):
        for item in body.split(","):
            m = re.match(r"\s*(CPORT_[A-Z0-9_]+)\s*(=|$)", item)
            if m and not m.group(1).startswith("CPORT__"):
                consts.append(m.group(1))
    errors = ["CPORT_" + n for n in re.findall(r"\bX\((E[A-Z0-9]+),", code)]
    structs = re.findall(r"\btypedef\s+struct\s+(cport_[a-z_]+)\s*\{", code)
    seen = set()
    consts = [c for c in consts if not (c in seen or seen.add(c))]
    return funcs, consts, errors, structs


def rust_consts(text):
    """{name: expression} of every `pub const NAME: T = EXPR;` not for Windows only."""
    out = {}
    for m in re.finditer(r"^[ \t]*pub const ([A-Z][A-Z0-9_]+)\s*:\s*[^=]+=\s*(.+?);", text,
                         flags=re.M | re.S):
        before = text[:m.start()].rstrip().rsplit("\n", 1)[-1]
        if "cfg(windows)" in before:
            continue
        out.setdefault(m.group(1), " ".join(m.group(2).split()))
    return out


def rust_errors(text):
    """{CPORT_Exxx: Linux value} from the cport_errors! table."""
    m = re.search(r"cport_errors!\s*\{(.*?)\n\}", text, flags=re.S)
    if not m:
        return {}
    return {n: -int(v) for n, v in re.findall(r"(CPORT_E[A-Z0-9]+)\s+(\d+)\s+\d+\s+\d+;", m.group(1))}


def eval_rust(expr, env):
    """The value of a simple Rust constant expression (literals, <<, |, -, names), or None."""
    e = re.sub(r"\bas\s+[a-z0-9_:]+", "", expr)
    e = re.sub(r"\b(0x[0-9a-fA-F_]+|\d[\d_]*)(u8|u16|u32|u64|usize|i32|i64|isize)?\b",
               lambda m: m.group(1).replace("_", ""), e)
    if re.search(r"[^A-Za-z0-9_\s()<>|&+\-*x]", e):
        return None
    try:
        return eval(e, {"__builtins__": {}}, env)  # only literals and known names reach here
    except Exception:
        return None


def c_values(names, cc):
    """{name: value} as the header defines them, printed by a program built with `cc`."""
    src = ['#include <stdio.h>', '#include "cport.h"', "int main(void) {"]
    for n in names:
        src.append(f'\tprintf("%s %lld\\n", "{n}", (long long)({n}));')
    src.append("\treturn 0;\n}")
    with tempfile.TemporaryDirectory() as d:
        c_file = os.path.join(d, "values.c")
        exe = os.path.join(d, "values")
        with open(c_file, "w") as f:
            f.write("\n".join(src) + "\n")
        subprocess.run([cc, "-std=c11", "-I", os.path.join(ROOT, "include"), c_file, "-o", exe],
                       check=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return {n: int(v) for n, v in (line.split() for line in out.splitlines())}


def main(argv):
    cc = None
    if len(argv) > 2 and argv[1] == "--cc":
        cc = argv[2]
    cc = cc or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")

    funcs, consts, errors, structs = parse_header(read(HEADER))
    sys_rs, safe_rs, zig = read(SYS_RS), read(SAFE_RS), read(ZIG)
    gaps = []

    sys_fns = set(re.findall(r"\bpub fn (cport_[a-z0-9_]+)\s*\(", sys_rs))
    safe_calls = set(re.findall(r"\bsys::(cport_[a-z0-9_]+)\s*\(", safe_rs))
    zig_calls = set(re.findall(r"\bc\.(cport_[a-z0-9_]+)\s*\(", zig))
    for f in funcs:
        if f not in sys_fns and f not in ALLOW_SYS:
            gaps.append(f"cport-sys: no `pub fn {f}`")
        if f not in safe_calls and f not in ALLOW_SAFE:
            gaps.append(f"cport (safe crate): never calls sys::{f} (wrap it or allow-list it)")
        if f not in zig_calls and f not in ALLOW_ZIG:
            gaps.append(f"cport.zig: no wrapper calls c.{f}")
    for allow, have, what in ((ALLOW_SAFE, safe_calls, "cport"), (ALLOW_ZIG, zig_calls, "zig"),
                              (ALLOW_SYS, sys_fns, "cport-sys")):
        for f in allow:
            if f not in funcs:
                gaps.append(f"{what}: allow-list names {f}, which the header does not export")
            elif f in have:
                gaps.append(f"{what}: allow-list names {f}, which is bound after all")

    rconsts = rust_consts(sys_rs)
    rerrors = rust_errors(sys_rs)
    for c in consts:
        if c not in rconsts:
            gaps.append(f"cport-sys: no `pub const {c}`")
    safe_errors = set(re.findall(r"=\s*(CPORT_E[A-Z0-9]+)\b", safe_rs))
    zig_set = re.search(r"pub const Error = error\{(.*?)\};", zig, flags=re.S)
    zig_errors = set(re.findall(r"\b([A-Z][A-Z0-9]*)\s*,", zig_set.group(1))) if zig_set else set()
    for e in errors:
        if e not in rerrors:
            gaps.append(f"cport-sys: {e} missing from the cport_errors! table")
        if e not in safe_errors:
            gaps.append(f"cport (safe crate): no Error constant for {e}")
        if e[len("CPORT_E"):] not in zig_errors:
            gaps.append(f"cport.zig: error.{e[len('CPORT_E'):]} missing from the Error set")
    for e in rerrors:
        if e not in errors:
            gaps.append(f"cport-sys: {e} is in its table but not in the header")

    sys_structs = set(re.findall(r"\bpub struct (cport_[a-z_]+)\b", sys_rs))
    for s in structs:
        if s not in sys_structs:
            gaps.append(f"cport-sys: no `pub struct {s}`")

    checked = 0
    if cc and shutil.which(cc):
        want = c_values(consts + errors, cc)
        env = {}
        for name, expr in rconsts.items():
            v = eval_rust(expr, env)
            if v is not None:
                env[name] = v
        env.update(rerrors)
        for name, value in want.items():
            have = env.get(name)
            if have is None:
                if name in rconsts:
                    gaps.append(f"cport-sys: cannot evaluate {name} = {rconsts[name]}")
                continue
            checked += 1
            if have != value:
                gaps.append(f"cport-sys: {name} is {have}, the header says {value}")
    else:
        print("coverage: no C compiler: constant values not compared (names only)")

    for g in gaps:
        print("coverage: " + g)
    if gaps:
        print(f"coverage: FAILED: {len(gaps)} gaps between include/cport.h and the bindings")
        return 1
    print(f"coverage: {len(funcs)} functions, {len(consts)} constants ({checked} values "
          f"compared), {len(errors)} error codes, {len(structs)} structs: all bound "
          f"(allowed out: {len(ALLOW_SAFE)} in the safe crate, {len(ALLOW_ZIG)} in Zig, "
          f"{len(ALLOW_SYS)} in cport-sys)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
