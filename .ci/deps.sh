#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages cport builds, tests and benchmarks with (if missing); groff-base
# renders the man pages in the tests, cmake builds a consumer in .ci/consumers.sh,
# libclang-rt-14-dev holds libFuzzer for the fuzz target (clang 14 pulls it in, named here
# so the fuzz step does not hang on a recommendation), valgrind runs the memcheck step,
# libasio-dev is the benchmark's Asio peer (mt-echo, mt-uneven).
set -euo pipefail
need=(meson ninja-build gcc g++ clang pkg-config liburing-dev libcmocka-dev libuv1-dev groff-base
	cmake libclang-rt-14-dev valgrind libasio-dev)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
