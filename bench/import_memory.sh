#!/usr/bin/env bash
# bench/import_memory.sh — serve's memory while the admin API imports a
# 100 MB CSV, and while it imports a 90 MB file that is one huge cell.
#
# It builds broadsheet, starts `serve` (private redis-server, Maildir,
# --schedule off) under one temp dir, writes the two CSVs there, and POSTs
# each to /api/subscribers/import (text/csv) while sampling serve's resident
# memory (VmRSS, /proc/PID/status) every 0.2 s; it prints serve's RSS before,
# the peak sampled during, VmHWM (the kernel's peak) after, the import's
# report and its wall time. Redis is a separate process: its memory is not
# serve's.
#
# Run from anywhere:   bash bench/import_memory.sh
# Knobs (env):         SIZE_MB=100 (the first CSV's size)
# Needs: go, curl, redis-server, Linux /proc.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SIZE_MB=${SIZE_MB:-100}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
need go curl redis-server

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bsimpmem.XXXXXX")
data=$tmp/data
bs_pid=''
cleanup() {
  set +e
  stop_serve "$data"
  rm -rf "$tmp"
}
on_exit cleanup

build_broadsheet "$tmp/broadsheet" >&2
port=$(free_port)
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export BROADSHEET_ADMIN_TOKEN=$token
unset BROADSHEET_SMTP_URL BROADSHEET_SMTP_URL_FILE
start_serve "$tmp/broadsheet" "$port" "$data" "$tmp/serve.log" --log-level warn

# 1. just under SIZE_MB MiB of ordinary lines (~40 bytes each): the API takes
# at most 100 MiB
echo "writing the CSVs..." >&2
awk -v bytes=$((SIZE_MB * 1024 * 1024 - 4096)) 'BEGIN {
  print "email,name"; n = 11
  for (i = 1; n < bytes; i++) { line = sprintf("reader%09d@example.com,Reader %09d", i, i); print line; n += length(line) + 1 }
}' >"$tmp/big.csv"
# 2. one 90 MB cell
{ printf 'email,name\nbefore@example.com,Before\nhuge@example.com,"'; head -c $((90 * 1024 * 1024)) /dev/zero | tr '\0' 'x'; printf '"\nafter@example.com,After\n'; } >"$tmp/cell.csv"

rss_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$bs_pid/status"; }

run_import() { # NAME FILE
  local name=$1 file=$2 peak=0 start end rss
  local before; before=$(rss_kb VmRSS)
  start=$(date +%s.%N)
  curl -s -m 900 -H "Authorization: Bearer $token" -H 'Content-Type: text/csv' --data-binary @"$file" \
    "http://127.0.0.1:$port/api/subscribers/import" >"$tmp/report-$name.json" &
  local curl_pid=$!
  while kill -0 "$curl_pid" 2>/dev/null; do
    rss=$(rss_kb VmRSS); ((rss > peak)) && peak=$rss
    sleep 0.2
  done
  wait "$curl_pid" || die "import $name failed"
  end=$(date +%s.%N)
  printf '%-6s %8s MB  %10.1f MiB  %10.1f MiB  %10.1f MiB  %7.1f s  %s\n' "$name" \
    "$(awk -v b="$(stat -c %s "$file")" 'BEGIN { printf "%.1f", b / 1048576 }')" \
    "$(awk -v k="$before" 'BEGIN { print k / 1024 }')" "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" \
    "$(awk -v k="$(rss_kb VmHWM)" 'BEGIN { print k / 1024 }')" "$(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }')" \
    "$(head -c 200 "$tmp/report-$name.json")"
}

echo
echo "nproc: $(nproc)   $(go version)"
printf '%-6s %11s  %14s  %14s  %14s  %9s  %s\n' file size "RSS before" "RSS peak" "VmHWM after" time report
run_import lines "$tmp/big.csv"
run_import cell "$tmp/cell.csv"
