#!/bin/sh
# SPDX-License-Identifier: MIT
# The shared library exports cport_* symbols and nothing else (hidden visibility).
set -eu
syms=$(nm -D --defined-only "$1" | awk '$2 ~ /^[TDBRVW]$/ {print $3}')
[ -n "$syms" ] || { echo "no exported symbols in $1"; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -v '^cport_' || true)
if [ -n "$bad" ]; then
	echo "exported without the cport_ prefix:"; echo "$bad"; exit 1
fi
echo "$(printf '%s\n' "$syms" | wc -l) symbols, all cport_*"
