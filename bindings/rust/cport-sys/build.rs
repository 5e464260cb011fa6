// SPDX-License-Identifier: MIT
// Tells the linker where libcport is: $CPORT_LIB_DIR (a meson build dir), else pkg-config.

//! Search order:
//! 1. `CPORT_LIB_DIR`: the absolute path of a meson build directory (or of any
//!    directory holding libcport.a or libcport.so). It wins over pkg-config when
//!    set, so that a test of a build directory never silently links an older
//!    installed copy. The static library is linked when present (no run-time path
//!    needed), with the libraries it needs (liburing, pthread) as the build's
//!    uninstalled pkg-config file names them. `CPORT_LINK=dylib` links the shared
//!    library instead (the program then needs the directory in LD_LIBRARY_PATH).
//! 2. `pkg-config --libs cport`: an installed cport (shared library).
//!
//! No external crates: pkg-config is run as a command.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["CPORT_LIB_DIR", "CPORT_LINK", "PKG_CONFIG", "PKG_CONFIG_PATH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if let Some(dir) = env::var_os("CPORT_LIB_DIR") {
        link_build_dir(&PathBuf::from(dir));
        return;
    }
    if let Some(flags) = pkg_config(&["--libs", "cport"], None) {
        emit_link_flags(&flags, false);
        return;
    }
    panic!(
        "cport-sys: cannot find libcport. Either install cport (meson install) so that \
         `pkg-config --libs cport` works, or set CPORT_LIB_DIR to a meson build directory \
         (the one holding libcport.a / libcport.so)."
    );
}

/// Link the library in a build directory, statically if its archive is there.
fn link_build_dir(dir: &Path) {
    // Cargo runs this script in the crate's directory, not where cargo was started.
    assert!(
        dir.is_absolute(),
        "cport-sys: CPORT_LIB_DIR={} must be an absolute path",
        dir.display()
    );
    let dir = dir.canonicalize().unwrap_or_else(|e| {
        panic!("cport-sys: CPORT_LIB_DIR={}: {e}", dir.display());
    });
    let archive = dir.join("libcport.a");
    let shared = dir.join("libcport.so");
    // Relink dependents whenever the library is rebuilt.
    println!("cargo:rerun-if-changed={}", archive.display());
    println!("cargo:rerun-if-changed={}", shared.display());
    println!("cargo:rustc-link-search=native={}", dir.display());

    let mode = env::var("CPORT_LINK").unwrap_or_default();
    let want_static = match mode.as_str() {
        "static" => true,
        "dylib" => false,
        "" => archive.exists(),
        other => panic!("cport-sys: CPORT_LINK={other}: expected \"static\" or \"dylib\""),
    };
    if !want_static {
        println!("cargo:rustc-link-lib=dylib=cport");
        return;
    }
    println!("cargo:rustc-link-lib=static=cport");
    // The archive's own needs, as the build's uninstalled .pc file states them
    // (liburing, from Debian or from the subproject; -pthread).
    let uninstalled = dir.join("meson-uninstalled");
    match pkg_config(&["--static", "--libs", "cport"], Some(&uninstalled)) {
        Some(flags) => emit_link_flags(&flags, true),
        None => emit_default_static_deps(),
    }
}

/// Libraries a static libcport needs when no pkg-config file says so.
fn emit_default_static_deps() {
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    match os.as_str() {
        "linux" => {
            println!("cargo:rustc-link-lib=dylib=uring");
            println!("cargo:rustc-link-lib=dylib=pthread");
        }
        "windows" => {
            for lib in ["ws2_32", "mswsock", "ntdll"] {
                println!("cargo:rustc-link-lib=dylib={lib}");
            }
        }
        _ => println!("cargo:rustc-link-lib=dylib=pthread"),
    }
}

/// Turn -L, -l and -pthread from pkg-config into cargo directives. With `skip_cport`,
/// -lcport is left out (the archive was already named as static).
fn emit_link_flags(flags: &str, skip_cport: bool) {
    for tok in flags.split_whitespace() {
        if let Some(path) = tok.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={path}");
        } else if let Some(name) = tok.strip_prefix("-l") {
            if !(skip_cport && name == "cport") {
                println!("cargo:rustc-link-lib={name}");
            }
        } else if tok == "-pthread" {
            println!("cargo:rustc-link-lib=dylib=pthread");
        }
    }
}

/// Run pkg-config with `args`, `extra` first on its search path; stdout on success.
fn pkg_config(args: &[&str], extra: Option<&Path>) -> Option<String> {
    let prog = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let mut cmd = Command::new(prog);
    cmd.args(args);
    if let Some(extra) = extra {
        if !extra.is_dir() {
            return None;
        }
        let mut path = extra.as_os_str().to_owned();
        if let Some(old) = env::var_os("PKG_CONFIG_PATH") {
            path.push(if cfg!(windows) { ";" } else { ":" });
            path.push(old);
        }
        cmd.env("PKG_CONFIG_PATH", path);
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}
