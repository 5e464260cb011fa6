#!/bin/sh
# SPDX-License-Identifier: MIT
# Every public function has a man page that meson installs, and every page renders cleanly.
#
#   check-manpages.sh LIBCPORT_SO CPORT_H MAN_DIR
#
# The functions are those the shared library exports (nm -D) and those the header
# declares with CPORT_API: a function missing from either list is still checked through
# the other. Pages live in MAN_DIR/man3 (one per function; a family shares one page and
# the others are one-line ".so man3/<page>.3" links) and MAN_DIR/man7. Each must be in
# MAN_DIR/meson.build (else meson install leaves it out), each link must point at a page
# that exists, and every page must render with groff -ww (all warnings) without a word
# on stderr and without a line wider than 80 columns (in the 78-column layout of a
# terminal, plus slack).
set -eu
lib=$1 header=$2 man=$3
fail=0

exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" {sub(/@.*/, "", $3); print $3}' |
	grep '^cport_' || true)
declared=$(sed -n 's/^CPORT_API[^(]*[ *]\(cport_[a-z0-9_]*\)(.*/\1/p' "$header")
[ -n "$exported" ] || { echo "no cport_* functions exported by $lib"; exit 1; }
[ -n "$declared" ] || { echo "no CPORT_API functions found in $header"; exit 1; }

funcs=$(printf '%s\n%s\n' "$exported" "$declared" | sort -u)
n=0
for f in $funcs; do
	page=$man/man3/$f.3
	if [ ! -f "$page" ]; then
		echo "no man page for $f (want $page)"; fail=1; continue
	fi
	grep -q "'man3/$f.3'" "$man/meson.build" ||
		{ echo "man3/$f.3 is not listed in $man/meson.build"; fail=1; continue; }
	n=$((n + 1))
done
echo "$n of $(echo "$funcs" | wc -l) functions have an installed page"

# Links: ".so man3/x.3" must name a page that exists (and is not itself a link).
for page in "$man"/man3/*.3; do
	target=$(sed -n '1s/^\.so //p' "$page")
	[ -n "$target" ] || continue
	if [ ! -f "$man/$target" ] || head -n 1 "$man/$target" | grep -q '^\.so '; then
		echo "$page links to $target, which is missing or a link itself"; fail=1
	fi
done
[ $fail -eq 0 ] || exit 1

if ! command -v groff >/dev/null 2>&1; then
	echo "groff not found (Debian: groff-base): pages not rendered, skipping that check"
	exit 77
fi
# groff resolves .so against the current directory, as man(1) does from a man tree.
cd "$man"
pages=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT
for page in man3/*.3 man7/*.7; do
	pages=$((pages + 1))
	# A link page renders as the page it names (checked above), which is rendered itself.
	head -n 1 "$page" | grep -q '^\.so ' && continue
	wide=$(groff -man -ww -Tascii -P-cbou "$page" 2>"$err" | awk 'length > 80' | head -n 3)
	if [ -s "$err" ]; then
		echo "$page:"; cat "$err"; fail=1
	fi
	if [ -n "$wide" ]; then
		echo "$page: lines wider than 80 columns:"; echo "$wide"; fail=1
	fi
done
[ $fail -eq 0 ] || exit 1
echo "$pages pages (link pages through the page they name) render without warnings"
