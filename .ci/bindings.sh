#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CI: the Rust and Zig bindings' tests against an already-built meson build dir, each timed.
#
# Usage: .ci/bindings.sh BUILD_DIR (a build with libcport.a: .ci/run's build-ci).
# Runs bindings/coverage.sh (every function, constant, error code and struct of
# include/cport.h is declared by cport-sys, used by the cport crate and wrapped in
# cport.zig, or allow-listed there with a reason), bindings/rust/test.sh and
# bindings/zig/test.sh, prints how long each took and
# whether it passed, failed or was skipped (a script that prints "<name>: skipped:"),
# writes "passed failed skipped" to BUILD_DIR/bindings-counts and ends with
# "bindings: N passed, N failed, N skipped". Exit status 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: .ci/bindings.sh BUILD_DIR}
build=$(cd "$build" && pwd) || exit 1

ok=0 fail=0 skip=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# step NAME SCRIPT: run it with the build dir, show its output, time and count it.
step() {
	local name=$1 script=$2 start=$EPOCHREALTIME rc=0 verdict secs
	echo "== bindings: $name ($script)"
	bash "$script" "$build" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	if [ "$rc" -ne 0 ]; then
		verdict=FAILED fail=$((fail + 1))
	elif grep -q "^$name: skipped" "$log"; then
		verdict=skipped skip=$((skip + 1))
	else
		verdict=passed ok=$((ok + 1))
	fi
	echo "== bindings: $name $verdict in ${secs} s"
}

step coverage bindings/coverage.sh
step rust bindings/rust/test.sh
step zig bindings/zig/test.sh

echo "$ok $fail $skip" >"$build/bindings-counts"
echo "bindings: $ok passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
