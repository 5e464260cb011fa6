#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# http-server beside nginx (one worker) serving the same fixed response, under wrk.
#
# Usage: examples/http-vs-nginx.sh [BUILD_DIR]     (default: build-rel, else build)
#
# Starts nginx (Debian's nginx-light: one worker process, access log off, a generated
# config in a temporary directory, a loopback port, `return 200` with the body and
# Content-Type that http-server sends) and http-server on io_uring and on epoll, each
# with --recv=pool and with --recv=buffer; then, for 1, 64 and 512 connections in turn,
# runs `wrk -t1 -cN -d5s` against each, and prints one Markdown table: requests/s and
# the ratio to nginx at the same N. Everything stops when the script exits. Nothing is
# pinned. Takes about 80 s (15 runs; HTTP_VS_NGINX_SECS=N sets each run's seconds).
# Exit 77 when nginx or wrk is missing. Runs without root (every path nginx writes is
# in the temporary directory); as root, nginx's worker runs as nobody.
set -eu

build=${1:-}
if [ -z "$build" ]; then
	build="build-rel"
	[ -x "$build/examples/http-server" ] || build=build
fi
server=$build/examples/http-server
secs=${HTTP_VS_NGINX_SECS:-5}
nginx=/usr/sbin/nginx

if [ ! -x "$nginx" ] || ! command -v wrk >/dev/null; then
	echo "http-vs-nginx: needs nginx-light and wrk; on Debian:" >&2
	echo "    apt-get install -y nginx-light wrk    (then 'nginx -s stop' if it started one)" >&2
	exit 77
fi
[ -x "$server" ] || { echo "http-vs-nginx: no $server (build it first)" >&2; exit 1; }

# 512 connections: a descriptor per connection in wrk and in each server.
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 1100 ]; then
	echo "http-vs-nginx: open-file limit $(ulimit -n) is too low for 512 connections" >&2
	exit 1
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- nginx: the same body and headers as http-server (nginx adds Date and Connection)
nginx_conf() { # PORT
	cat <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events {
	worker_connections 4096;
}
http {
	access_log off;
	server_tokens off;
	default_type text/plain;
	keepalive_requests 1000000000;
	client_body_temp_path $tmp/body;
	proxy_temp_path $tmp/proxy;
	fastcgi_temp_path $tmp/fastcgi;
	uwsgi_temp_path $tmp/uwsgi;
	scgi_temp_path $tmp/scgi;
	server {
		listen 127.0.0.1:$1;
		location / {
			return 200 "Hello, world!\n";
		}
	}
}
EOF
}

# One request with Connection: close; prints the whole answer.
fetch() { # PORT
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
	cat <&3
	exec 3<&-
}

# The port a server listens on, once it answers (5 s at most).
wait_up() { # PORT
	for _ in $(seq 100); do
		fetch "$1" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

start_nginx() {
	for _ in 1 2 3 4 5; do
		nginx_port=$((20000 + RANDOM % 20000))
		nginx_conf "$nginx_port" >"$tmp/nginx.conf"
		"$nginx" -e "$tmp/error.log" -p "$tmp" -c "$tmp/nginx.conf" &
		local p=$!
		if wait_up "$nginx_port"; then
			pids+=("$p")
			return 0
		fi
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	echo "http-vs-nginx: nginx did not start:" >&2
	cat "$tmp/error.log" >&2
	return 1
}

declare -A port
start_cport() { # BACKEND RECV
	local out=$tmp/$1-$2.out
	: >"$out"
	"$server" --backend="$1" --recv="$2" 127.0.0.1:0 >"$out" 2>&1 &
	local p=$!
	pids+=("$p")
	for _ in $(seq 100); do
		if grep -q '^backend ' "$out"; then
			port[$1-$2]=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/|\1|p' "$out")
			return 0
		fi
		kill -0 "$p" 2>/dev/null || break
		sleep 0.05
	done
	echo "http-vs-nginx: http-server --backend=$1 --recv=$2 did not start:" >&2
	cat "$out" >&2
	port[$1-$2]=
}

# requests/s of one wrk run, or "-" with a reason on stderr.
measure() { # PORT CONNS NAME
	[ -n "$1" ] || { echo -; return; }
	local out
	out=$(wrk -t1 -c"$2" -d"${secs}s" "http://127.0.0.1:$1/" 2>&1) || true
	if grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
		echo "http-vs-nginx: $3 at $2 connections: $(grep -E 'Socket errors|Non-2xx' <<<"$out")" >&2
	fi
	local rps
	rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
	if [ -z "$rps" ]; then
		echo "http-vs-nginx: $3 at $2 connections: wrk said: $out" >&2
		echo -
		return
	fi
	printf '%.0f\n' "$rps"
}

ratio() { # A B
	if [ "$1" = - ] || [ "$2" = - ]; then echo -; else
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
	fi
}

start_nginx
for b in io_uring epoll; do
	for r in pool buffer; do start_cport "$b" "$r"; done
done

# The same body from both (the headers differ: nginx adds Date and Connection).
body() { fetch "$1" | sed '1,/^\r$/d'; }
if [ "$(body "$nginx_port")" != "$(body "${port[epoll-pool]:-$nginx_port}")" ]; then
	echo "http-vs-nginx: nginx and http-server answer different bodies" >&2
	exit 1
fi

echo "http-vs-nginx: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs," \
	"$("$nginx" -v 2>&1 | sed 's/.*: //'), wrk -t1 -d${secs}s," \
	"cport $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| connections | nginx req/s | backend | cport pool req/s | pool / nginx | cport buffer req/s | buffer / nginx |"
echo "|---:|---:|---|---:|---:|---:|---:|"
for n in 1 64 512; do
	# Alternated per N so that drift on a shared machine touches every column alike.
	ng=$(measure "$nginx_port" "$n" nginx)
	for b in io_uring epoll; do
		p=$(measure "${port[$b-pool]}" "$n" "$b pool")
		q=$(measure "${port[$b-buffer]}" "$n" "$b buffer")
		echo "| $n | $ng | $b | $p | $(ratio "$p" "$ng") | $q | $(ratio "$q" "$ng") |"
	done
done
