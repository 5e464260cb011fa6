#!/bin/sh
# SPDX-License-Identifier: MIT
# Run the echo client against the echo server on loopback: N connections, every byte checked.
# Usage: echo-test.sh ECHO_SERVER ECHO_CLIENT [CONNS] [BYTES]
set -eu
server=$1 client=$2 conns=${3:-50} bytes=${4:-262144}
out=$(mktemp)
trap 'rm -f "$out"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
"$server" 127.0.0.1:0 "$conns" >"$out" &
pid=$!
i=0
while ! grep -q '^listening on ' "$out"; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "server did not start" >&2; exit 1; }
	sleep 0.05
done
addr=$(sed -n 's/^listening on //p' "$out")
"$client" "$addr" "$conns" "$bytes"
# the server exits by itself once it served and closed every connection
wait "$pid"
pid=
