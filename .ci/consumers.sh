#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build and run outside programs against cport: installed (pkg-config, shared and static;
# CMake) and as a Meson subproject. Checks what a packager or user would meet.
#
#   .ci/consumers.sh [ROOT]      ROOT: the cport tree (default: this script's parent)
#
# Everything it writes is under ROOT/build-consumers (git-ignored): the library's own
# build (tests, bench and examples off, so no cmocka is needed), the install prefix, and
# one directory per consumer. The consumers are examples/consumers/: one program
# (consumer.c: a port, a nop, a timer, prints the backend) and its three builds.
set -euo pipefail

root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=$root/build-consumers
prefix=$work/prefix
src=$root/examples/consumers
start=$(date +%s%N)

log() { printf '== consumers: %s\n' "$*"; }
fail() { printf '== consumers: FAILED: %s\n' "$*" >&2; exit 1; }

# Run a consumer; it must say which backend it ran on.
run() {
	local out
	out=$("$@") || fail "$* exited with $?: $out"
	grep -q '^backend: ' <<<"$out" || fail "$*: no backend line in: $out"
	log "  $(basename "$1"): $(grep '^backend: ' <<<"$out")"
}

# ---- 1. Build and install the library into a prefix of its own -----------------------
log "installing into $prefix"
mkdir -p "$work"
if [[ ! -f $work/lib/build.ninja ]]; then
	meson setup "$work/lib" "$root" --prefix="$prefix" \
		-Dtests=false -Dbench=false -Dexamples=false >"$work/lib-setup.log" 2>&1 ||
		{ cat "$work/lib-setup.log"; fail "meson setup of the library"; }
fi
ninja -C "$work/lib" >/dev/null
rm -rf "$prefix"
meson install -C "$work/lib" --quiet --no-rebuild

# Meson's default libdir on Debian is lib/x86_64-linux-gnu (a multiarch --libdir), so
# the .pc file is found where it landed rather than assumed.
pc=$(find "$prefix" -name cport.pc -print -quit)
[[ -n $pc ]] || fail "no cport.pc under $prefix"
pcdir=$(dirname "$pc")
# PKG_CONFIG_LIBDIR replaces the default search path: liburing.pc is then out of reach,
# which is the point (cport.pc must not need it).
export PKG_CONFIG_LIBDIR=$pcdir
libdir=$(pkg-config --variable=libdir cport)
log "  cport.pc in ${pcdir#"$prefix"/}, libdir ${libdir#"$prefix"/}"

soname=$(readelf -d "$libdir/libcport.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[[ $soname == libcport.so.0 ]] || fail "SONAME is '$soname', want libcport.so.0"
unversioned=$(nm -D --defined-only "$libdir/libcport.so" |
	awk '$2 == "T" && $3 !~ /@@CPORT_/ {print $3}')
[[ -z $unversioned ]] || fail "exported without a version node: $unversioned"
[[ -f $prefix/include/cport.h ]] || fail "cport.h not installed"
for page in man3/cport_read.3 man3/cport_write.3 man7/cport.7; do
	[[ -f $prefix/share/man/$page ]] || fail "$page not installed"
done
# man(1) follows the .so link of cport_write(3) to cport_read(3) in the installed tree
# (man-db is not in a minimal Debian image: then only the files are checked).
if command -v man >/dev/null; then
	MANPATH=$prefix/share/man MANWIDTH=80 man --warnings cport_write 2>"$work/man.err" |
		grep -q 'cport_read' || fail "man cport_write did not show cport_read(3)"
	[[ ! -s $work/man.err ]] || fail "man warned: $(cat "$work/man.err")"
fi
log "  SONAME $soname, symbols versioned, header and man pages installed"

# ---- 2. pkg-config: shared, then static --------------------------------------------
log "pkg-config"
mkdir -p "$work/pkgconfig"
# shellcheck disable=SC2046 # word splitting of pkg-config's output is wanted
cc -o "$work/pkgconfig/consumer-shared" "$src/consumer.c" $(pkg-config --cflags --libs cport)
readelf -d "$work/pkgconfig/consumer-shared" | grep -q 'NEEDED.*libcport\.so\.0' ||
	fail "consumer-shared does not need libcport.so.0"
LD_LIBRARY_PATH=$libdir run "$work/pkgconfig/consumer-shared"
# shellcheck disable=SC2046
cc -static -o "$work/pkgconfig/consumer-static" "$src/consumer.c" \
	$(pkg-config --cflags cport) $(pkg-config --static --libs cport)
if readelf -d "$work/pkgconfig/consumer-static" 2>/dev/null | grep -q NEEDED; then
	fail "consumer-static is not static"
fi
run "$work/pkgconfig/consumer-static"

# ---- 3. Meson subproject -------------------------------------------------------------
log "meson subproject"
parent=$work/meson-parent
rm -rf "$parent"
mkdir -p "$parent/subprojects"
cp "$src/consumer.c" "$src/meson.build" "$parent/"
ln -s "$root" "$parent/subprojects/cport"
(unset PKG_CONFIG_LIBDIR; meson setup "$parent/build" "$parent" >"$parent/setup.log" 2>&1) ||
	{ cat "$parent/setup.log"; fail "meson setup of the parent project"; }
ninja -C "$parent/build" >/dev/null
# The parent keeps Meson's defaults (cport's default_options never reach it), and its
# subproject() call turned cport's own -Werror off (examples/consumers/meson.build).
opts=$(meson introspect "$parent/build" --buildoptions)
for want in '"name": "werror", "value": false' '"name": "warning_level", "value": "1"' \
	'"name": "cport:werror", "value": false'; do
	grep -qF "$want" <<<"$opts" || fail "unexpected options in the parent project: no $want"
done
if grep -qi cmocka "$parent/build/meson-logs/meson-log.txt"; then
	fail "cmocka was looked up for a subproject build"
fi
run "$parent/build/consumer-static"
run "$parent/build/consumer-shared"

# ---- 4. CMake through pkg_check_modules ----------------------------------------------
log "cmake (pkg_check_modules)"
cm=$work/cmake
rm -rf "$cm"
mkdir -p "$cm"
cp "$src/consumer.c" "$src/CMakeLists.txt" "$cm/"
cmake -S "$cm" -B "$cm/build" >"$cm/configure.log" 2>&1 ||
	{ cat "$cm/configure.log"; fail "cmake configure"; }
cmake --build "$cm/build" >"$cm/build.log" 2>&1 || { cat "$cm/build.log"; fail "cmake build"; }
LD_LIBRARY_PATH=$libdir run "$cm/build/consumer"

ms=$((($(date +%s%N) - start) / 1000000))
log "all passed in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
