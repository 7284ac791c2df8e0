#!/usr/bin/env bash
# bench/feeds.sh — how fast broadsheet serves /feed.rss, next to nginx serving
# the very same bytes as a static file.
#
# It builds broadsheet, starts `serve` (private redis-server, --schedule off)
# and a throwaway nginx on free loopback ports, all under one temp dir, then
# runs wrk against each in two modes:
#   200  plain GET (no Accept-Encoding, so the uncompressed feed)
#   304  conditional GET with If-None-Match set to that server's own ETag
# and prints requests/s, the broadsheet/nginx ratio and p50/p99 latency.
# wrk, the servers and Redis share this machine's CPUs: compare the ratio,
# not the absolute numbers, across machines.
#
# Run from anywhere:   bash bench/feeds.sh
# Knobs (env):         DURATION=10s CONNECTIONS=50 THREADS=2 EDITIONS=7
#                      (EDITIONS: how many editions the feed holds)
# Needs: go, nginx, wrk, curl, redis-server (optional: redis-cli).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s} CONNECTIONS=${CONNECTIONS:-50} THREADS=${THREADS:-2} EDITIONS=${EDITIONS:-7}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need go nginx wrk curl

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bsbench.XXXXXX")
bs_pid='' ngx_pid=''

cleanup() {
  set +e
  stop "$ngx_pid"
  stop_serve "$tmp/data"
  rm -rf "$tmp"
}
on_exit cleanup

etag_of() { curl -sfI -m 5 "$1" | tr -d '\r' | awk 'tolower($1) == "etag:" { print $2 }'; }

# 1. broadsheet
build_broadsheet "$tmp/broadsheet" >&2
bs_port=$(free_port)
bs=http://127.0.0.1:$bs_port
start_serve "$tmp/broadsheet" "$bs_port" "$tmp/data" "$tmp/broadsheet.log"
# A feed of EDITIONS editions (the bundled sample on consecutive past days):
# 1 is a newcomer's feed (~6.5 KB), 7 about DESIGN.md's 40 KB yardstick, 30 a
# full feed (~190 KB).
for ((i = 1; i < EDITIONS; i++)); do
  "$tmp/broadsheet" build --data-dir "$tmp/data" --base-url "$bs/" --log-level warn \
    --date "$(date -u -d "-$i day" +%F)" >/dev/null
done
for _ in {1..50}; do # serve re-renders within a second of the last build
  (($(curl -s "$bs/feed.rss" | grep -c '<item>') >= EDITIONS)) && break
  sleep 0.1
done

# 2. nginx, serving the feed broadsheet serves, byte for byte
mkdir -p "$tmp/www" "$tmp/nginx"
curl -sf -m 5 -o "$tmp/www/feed.rss" "$bs/feed.rss" || die "cannot download $bs/feed.rss"
ngx_port=$(free_port "$bs_port")
ngx=http://127.0.0.1:$ngx_port
temp_paths=''
for m in client_body proxy fastcgi uwsgi scgi; do # keep nginx out of /var/lib/nginx
  nginx -V 2>&1 | grep -q -- "--without-http_${m}_module" ||
    temp_paths+="    ${m}_temp_path $tmp/nginx/$m;"$'\n'
done
((EUID == 0)) && user_line="user $(id -un) $(id -gn);" || user_line=''
cat >"$tmp/nginx/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
$temp_paths
    sendfile on;
    keepalive_requests 1000000; # Go's server never closes a busy keep-alive connection either
    types { application/rss+xml rss; }
    server {
        listen 127.0.0.1:$ngx_port;
        root $tmp/www;
    }
}
EOF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
  >"$tmp/nginx/stdout.log" 2>&1 &
ngx_pid=$!
wait_200 "$ngx/feed.rss" "$ngx_pid" nginx "$tmp/nginx/error.log"
curl -sf -m 5 "$ngx/feed.rss" | cmp -s - "$tmp/www/feed.rss" || die "nginx does not serve the same bytes"

# 3. both must answer the conditional request with a 304
bs_etag=$(etag_of "$bs/feed.rss") ngx_etag=$(etag_of "$ngx/feed.rss")
for s in bs ngx; do
  url=${!s}/feed.rss etag_var=${s}_etag
  [[ -n ${!etag_var} ]] || die "no ETag from $url"
  code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -H "If-None-Match: ${!etag_var}" "$url")
  [[ $code == 304 ]] || die "$url with If-None-Match: ${!etag_var} answered $code, not 304"
done

# run_wrk NAME URL [wrk args]: wrk output goes to $tmp/wrk-NAME.txt
run_wrk() {
  local name=$1; shift
  echo "wrk $name..." >&2
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 5s --latency "$@" >"$tmp/wrk-$name.txt" ||
    die "wrk $name failed: $(cat "$tmp/wrk-$name.txt")"
  if grep -E 'Socket errors|Non-2xx' "$tmp/wrk-$name.txt" >&2; then echo "  ^ in wrk $name" >&2; fi
}
field() { awk -v k="$2" '$1 == k { print $2 }' "$tmp/wrk-$1.txt"; } # field NAME Requests/sec:
for s in bs ngx; do
  run_wrk "200-$s" "${!s}/feed.rss"
  etag_var=${s}_etag
  run_wrk "304-$s" -H "If-None-Match: ${!etag_var}" "${!s}/feed.rss"
done

# 4. the table
wrk_version=$(wrk -v 2>&1 || true)
echo
echo "nproc: $(nproc)   $(go version)   $(nginx -v 2>&1)   ${wrk_version%%$'\n'*}"
echo "feed.rss: $EDITIONS editions, $(wc -c <"$tmp/www/feed.rss") bytes; wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
echo "ETags: broadsheet $bs_etag, nginx $ngx_etag"
row() { printf '%-5s %14s %14s %7s %18s %18s\n' "$@"; }
row mode "broadsheet r/s" "nginx r/s" ratio "bs p50/p99" "nginx p50/p99"
for mode in 200 304; do
  b=$(field "$mode-bs" Requests/sec:) n=$(field "$mode-ngx" Requests/sec:)
  row "$mode" "$b" "$n" "$(awk -v b="$b" -v n="$n" 'BEGIN { printf "%.2f", (n > 0 ? b / n : 0) }')" \
    "$(field "$mode-bs" 50%)/$(field "$mode-bs" 99%)" "$(field "$mode-ngx" 50%)/$(field "$mode-ngx" 99%)"
done
