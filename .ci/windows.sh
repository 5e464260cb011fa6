#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Cross-build cport for Windows (mingw-w64) and run its test suite under Wine (IOCP and sim).
#
# Idempotent: a second run reuses the installed packages, the cmocka build and the Wine
# prefix. Needs root for apt-get on a fresh Debian 12 machine. Everything it builds lives
# under build-win* directories (git-ignored); nothing third-party is committed.
#
#   .ci/windows.sh [BUILD_DIR]    install, build cmocka, cross-build, run the tests
#   CPORT_WIN_TESTS="nop/iocp api/iocp" .ci/windows.sh    run only these tests
# Writes "passed failed skipped" to BUILD_DIR/counts for .ci/run's totals.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
deps=${CPORT_WIN_DEPS:-$root/build-win-deps}
build=${1:-${CPORT_WIN_BUILD:-$root/build-win}}
prefix=$deps/mingw
wine=/usr/lib/wine/wine64
wineserver=/usr/lib/wine/wineserver

log() { printf '== windows: %s\n' "$*"; }
sudo=
[[ $(id -u) == 0 ]] || sudo=sudo

# ---- 1. Packages ----------------------------------------------------------------------
pkgs=(gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix mingw-w64-x86-64-dev wine64 cmake
      dpkg-dev meson ninja-build pkg-config)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing ${missing[*]}"
	$sudo apt-get update -q
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${missing[@]}"
fi

# ---- 2. cmocka for mingw, from Debian's source package --------------------------------
if [[ ! -f $prefix/lib/pkgconfig/cmocka.pc ]]; then
	mkdir -p "$deps/src"
	if ! ls "$deps"/src/cmocka-*/CMakeLists.txt >/dev/null 2>&1; then
		if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
			! grep -qs '^deb-src' /etc/apt/sources.list; then
			log "adding a deb-src entry for Debian's source packages"
			suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
			# The same mirror as the binary packages.
			uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources \
				2>/dev/null || true)
			printf '%s\n' 'Types: deb-src' "URIs: ${uri:-http://deb.debian.org/debian}" \
				"Suites: $suite" 'Components: main' \
				'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
				$sudo tee /etc/apt/sources.list.d/cport-deb-src.sources >/dev/null
			$sudo apt-get update -q
		fi
		log "fetching cmocka's source package"
		(cd "$deps/src" && apt-get source -q cmocka)
	fi
	src=$(ls -d "$deps"/src/cmocka-*/ | head -n1)
	cat >"$deps/mingw-toolchain.cmake" <<-'EOF'
	set(CMAKE_SYSTEM_NAME Windows)
	set(CMAKE_SYSTEM_PROCESSOR x86_64)
	set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
	set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
	set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
	set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
	set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
	set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
	EOF
	log "building cmocka for mingw"
	cmake -S "$src" -B "$deps/cmocka-build" -DCMAKE_TOOLCHAIN_FILE="$deps/mingw-toolchain.cmake" \
		-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_SHARED_LIBS=OFF \
		-DWITH_STATIC_LIB=ON -DWITH_EXAMPLES=OFF -DUNIT_TESTING=OFF >"$deps/cmocka-cmake.log"
	cmake --build "$deps/cmocka-build" >"$deps/cmocka-build.log"
	cmake --install "$deps/cmocka-build" >"$deps/cmocka-install.log"
	# cmocka 1.1 installs a DLL and libcmocka-static.a; the tests link the static one.
	cp "$prefix/lib/libcmocka-static.a" "$prefix/lib/libcmocka.a"
	rm -f "$prefix/lib/libcmocka.dll.a"
fi

# A second cross file, layered on ours: pkg-config sees only the mingw prefix (never the
# native cmocka in /usr/lib), and the static cmocka needs no import decorations.
cat >"$deps/paths.ini" <<EOF
[properties]
pkg_config_libdir = ['$prefix/lib/pkgconfig']
EOF

# ---- 3. Cross build --------------------------------------------------------------------
if [[ ! -f $build/build.ninja ]]; then
	log "configuring $build"
	meson setup "$build" "$root" --cross-file "$root/cross/x86_64-w64-mingw32.ini" \
		--cross-file "$deps/paths.ini" -Ddefault_library=static
fi
log "building"
ninja -C "$build"

# ---- 4. Tests under Wine ---------------------------------------------------------------
# One Wine prefix for the run and one wineserver kept alive (-p) across every test
# process: a cold start costs seconds, a warm one a fraction of that.
export WINEPREFIX=$deps/wineprefix
export WINEDEBUG=-all
export WINEDLLOVERRIDES='mscoree,mshtml='
unset DISPLAY
if [[ ! -f $WINEPREFIX/system.reg ]]; then
	log "creating the Wine prefix"
	"$wine" wineboot -i >/dev/null 2>&1
	# wineboot returns before the prefix is ready; its server exits when it is.
	"$wineserver" -w
fi
# Fails (harmlessly) if a server for this prefix is already running.
"$wineserver" -p 2>/dev/null || true
trap '"$wineserver" -k 2>/dev/null || true' EXIT
# The first Wine program of a server session starts Wine's helper processes
# (services.exe, winedevice.exe...), which live on and inherit its stdout: started by a
# test, they would hold meson's pipe open and the test would time out. Start them here.
"$wine" wineboot >/dev/null 2>&1 </dev/null
log "running the test suite under Wine"
rc=0
# shellcheck disable=SC2086
meson test -C "$build" --print-errorlogs --num-processes 2 ${CPORT_WIN_TESTS:-} || rc=$?
log=$build/meson-logs/testlog.json
ok=$(grep -c '"result": "OK"' "$log" || true)
fail=$(grep -cE '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
skip=$(grep -c '"result": "SKIP"' "$log" || true)
echo "$ok $fail $skip" >"$build/counts"
log "under Wine: $ok passed, $fail failed, $skip skipped"
exit $rc
