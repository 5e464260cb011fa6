#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run a build's test suite once more with io_uring denied by seccomp, as in a container with Docker's default profile.
#
# Usage: .ci/seccomp.sh BUILD_DIR [meson test arguments]
# Every test runs under BUILD_DIR/tests/seccomp-deny-uring (io_uring_setup, _enter and
# _register fail with EPERM). Expected: 0 failures; every io_uring variant skipped with
# its reason; epoll and poll pass; the fallback test sees io_uring refused and its
# default port comes up on epoll. Exits non-zero otherwise.
set -euo pipefail
dir=${1:?usage: .ci/seccomp.sh BUILD_DIR [meson test arguments]}
shift
wrap=$(cd "$dir" && pwd)/tests/seccomp-deny-uring

echo "== seccomp: the suite of $dir with io_uring denied (EPERM)"
if [ ! -x "$wrap" ]; then
	echo "== seccomp: $wrap is not built (not Linux, or no <linux/seccomp.h>): not run"
	exit 0
fi
start=$(date +%s)
rc=0
# Not the examples (suite "examples"): they are programs a user copies, which report
# a backend that cannot start as an error (exit 1) rather than as a skip, and their
# epoll and poll runs do not touch io_uring. Meson names the log after the wrapper too
# (seccomp-seccomp-deny-uring.json): clear old ones first.
rm -f "$dir"/meson-logs/seccomp*.json
meson test -C "$dir" --wrapper "$wrap" --logbase seccomp --no-suite examples \
	--print-errorlogs --num-processes 2 "$@" || rc=$?
log=$(ls "$dir"/meson-logs/seccomp*.json)

ok=$(grep -c '"result": "OK"' "$log" || true)
fail=$(grep -cE '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
skip=$(grep -c '"result": "SKIP"' "$log" || true)
# An io_uring variant that ran at all means the filter or the helpers' skip failed.
uring_ran=$(grep -E '"name": "[^"]* / [^"]*/io_uring[a-z-]*"' "$log" |
	grep -vc '"result": "SKIP"' || true)
# The fallback test (when it ran) prints the default port's backend and its reason.
fallback=$(grep -E '"name": "[^"]* / fallback"' "$log" || true)
fallback_seen="not run"
if [ -n "$fallback" ]; then
	fallback_seen=no
	if grep '"result": "OK"' <<<"$fallback" |
		grep -q 'default port: epoll, because io_uring: setup failed: EPERM'; then
		fallback_seen=yes
	fi
fi
echo "== seccomp ($dir): $ok passed, $fail failed, $skip skipped;" \
	"io_uring variants not skipped: $uring_ran; fallback to epoll seen: $fallback_seen;" \
	"$(($(date +%s) - start)) s"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$uring_ran" -eq 0 ] && [ "$fallback_seen" != no ]
