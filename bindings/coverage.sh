#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The bindings' coverage check (bindings/coverage.py) as a step of .ci/bindings.sh.
#
# Usage: bindings/coverage.sh [BUILD_DIR]. BUILD_DIR is not needed (the check reads
# include/cport.h and the bindings' sources, and builds a small C program with $CC or cc
# to compare constant values); it is accepted like the other steps' argument.
# Exit status 1 when the header has a function, constant, error code or struct that
# cport-sys, the cport crate or cport.zig lacks (see the allow-lists in coverage.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v python3 >/dev/null; then
	echo "coverage: skipped: python3 is not installed"
	exit 0
fi
exec python3 "$here/coverage.py"
