#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Rust bindings: cargo test and both examples on every Linux backend, against a meson build.
#
# Usage: bindings/rust/test.sh [BUILD_DIR]
#   BUILD_DIR: a meson build directory holding libcport.a (default: $CPORT_LIB_DIR, else
#   the repository's build/). The crates link it statically (see cport-sys/build.rs).
# Runs `cargo test --offline`, examples/copy.rs and examples/echo.rs with
# CPORT_BACKEND=io_uring, io_uring with CPORT_TEST_URING_POOL=1 (file ops on the thread
# pool), epoll and poll (io_uring is skipped, with the reason, when
# this machine cannot create an io_uring port; seccomp for instance). Without cargo
# it prints "rust: skipped" and exits 0. Exit status 0 = passed (or skipped).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-${CPORT_LIB_DIR:-$here/../../build}}
if [ ! -f "$build/libcport.a" ] && [ ! -f "$build/libcport.so" ]; then
	echo "rust: no libcport in $build (meson setup build && ninja -C build)" >&2
	exit 1
fi
CPORT_LIB_DIR=$(cd "$build" && pwd) # build.rs needs an absolute path
export CPORT_LIB_DIR
# rustup installs into ~/.cargo/bin, which a non-login shell (CI) may not have on PATH.
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
	PATH=$HOME/.cargo/bin:$PATH
fi
if ! command -v cargo >/dev/null; then
	echo "rust: skipped: cargo is not installed"
	exit 0
fi
cd "$here"

echo "== rust: building against $CPORT_LIB_DIR"
cargo build --offline --quiet --all-targets
ex=$here/target/debug/examples
log=$(mktemp)
trap 'rm -f "$log"' EXIT

failed=()
# shellcheck source=../variants.sh
. "$here/../variants.sh"
for backend in "${cport_variants[@]}"; do
	use_variant "$backend"
	if ! why=$("$ex/probe" 2>&1); then
		if [ "$CPORT_BACKEND" = io_uring ]; then
			echo "== rust/$backend: skipped: no io_uring port here: $why"
			continue
		fi
		echo "== rust/$backend: cannot create a port: $why"
		failed+=("$backend/port")
		continue
	fi
	echo "== rust/$backend: cargo test"
	if cargo test --offline --quiet --no-fail-fast >"$log" 2>&1; then
		grep -E '^test result: ok\. [1-9]' "$log" || true # one line per suite that ran
	else
		cat "$log"
		failed+=("$backend/cargo-test")
	fi
	echo "== rust/$backend: examples"
	timeout 120 "$ex/copy" || failed+=("$backend/copy")
	timeout 120 "$ex/echo" || failed+=("$backend/echo")
done
unset CPORT_BACKEND CPORT_TEST_URING_POOL

if [ ${#failed[@]} -gt 0 ]; then
	echo "rust: FAILED: ${failed[*]}"
	exit 1
fi
echo "rust: passed"
