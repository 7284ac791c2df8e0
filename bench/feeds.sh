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

DURATION=${DURATION:-10s} CONNECTIONS=${CONNECTIONS:-50} THREADS=${THREADS:-2} EDITIONS=${EDITIONS:-7}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "feeds.sh: $*" >&2; exit 1; }
for c in go nginx wrk curl; do command -v "$c" >/dev/null || die "$c is not installed"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bsbench.XXXXXX")
bs_pid='' ngx_pid=''

# stop PID: SIGTERM, up to 15 s to exit, then SIGKILL.
stop() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in {1..150}; do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  set +e
  [[ -n $ngx_pid ]] && stop "$ngx_pid"
  # SIGTERM lets broadsheet stop its redis-server child (own process group).
  [[ -n $bs_pid ]] && stop "$bs_pid"
  # Should broadsheet have been killed hard, its Redis would still be running.
  if [[ -S $tmp/data/redis.sock ]] && command -v redis-cli >/dev/null; then
    redis-cli -s "$tmp/data/redis.sock" shutdown nosave >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback port nothing listens on (and not $1).
free_port() {
  local p
  for _ in {1..100}; do
    p=$((20000 + RANDOM % 40000))
    [[ $p == "${1:-}" ]] && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "found no free port"
}
# wait_200 URL PID NAME LOG: poll URL for up to 60 s while PID lives.
wait_200() {
  for _ in {1..300}; do
    [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true) == 200 ]] && return
    kill -0 "$2" 2>/dev/null || { tail -n 20 "$4" >&2; die "$3 exited before $1 answered 200"; }
    sleep 0.2
  done
  tail -n 20 "$4" >&2; die "$1 did not answer 200 within 60s"
}
etag_of() { curl -sfI -m 5 "$1" | tr -d '\r' | awk 'tolower($1) == "etag:" { print $2 }'; }

# 1. broadsheet
echo "building broadsheet..." >&2
go build -o "$tmp/broadsheet" ./cmd/broadsheet
bs_port=$(free_port)
bs=http://127.0.0.1:$bs_port
env -u BROADSHEET_REDIS_URL "$tmp/broadsheet" serve --listen "127.0.0.1:$bs_port" \
  --data-dir "$tmp/data" --schedule off --base-url "$bs/" >"$tmp/broadsheet.log" 2>&1 &
bs_pid=$!
wait_200 "$bs/readyz" "$bs_pid" broadsheet "$tmp/broadsheet.log"
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
fmt='%-5s %14s %14s %7s %18s %18s\n'
printf "$fmt" mode "broadsheet r/s" "nginx r/s" ratio "bs p50/p99" "nginx p50/p99"
for mode in 200 304; do
  b=$(field "$mode-bs" Requests/sec:) n=$(field "$mode-ngx" Requests/sec:)
  printf "$fmt" "$mode" "$b" "$n" "$(awk -v b="$b" -v n="$n" 'BEGIN { printf "%.2f", (n > 0 ? b / n : 0) }')" \
    "$(field "$mode-bs" 50%)/$(field "$mode-bs" 99%)" "$(field "$mode-ngx" 50%)/$(field "$mode-ngx" 99%)"
done
