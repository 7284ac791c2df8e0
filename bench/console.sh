#!/usr/bin/env bash
# bench/console.sh — the admin console's speed: time to first byte of its
# pages with 100,000 subscribers, and how often the live progress stream
# updates during a send to 20,000.
#
# On loopback, in a temp dir, with serve's private redis-server and the
# default Maildir transport (no SMTP server needed):
#   1. 20,000 active subscribers imported (`broadsheet subscribers import`),
#      a login through POST /admin/login (curl keeps the cookie), today's
#      edition built through the console's form;
#   2. the send started through the console's form, and its progress
#      stream GET /admin/editions/DAY/events read with curl -N until it
#      ends: the gaps between "progress" events are reported (count, mean,
#      largest; the console's goal is at least one a second);
#   3. 80,000 more subscribers imported (100,000 in all), then each page
#      fetched ROUNDS times after one warm-up: time to first byte
#      (curl's time_starttransfer), median and 90th percentile, goal < 50 ms.
#
# Run from anywhere:   bash bench/console.sh
# Knobs (env):         ROUNDS=50   fetches of each page
# Needs: go, curl, redis-server, awk.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-50}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS: \"$ROUNDS\" is not a positive whole number"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
need go curl redis-server awk

tmp=$(mktemp -d)
bs_pid=''
cleanup() { stop_serve "$tmp/data"; rm -rf "$tmp"; }
on_exit cleanup
build_broadsheet "$tmp/broadsheet" >&2
bs=$tmp/broadsheet
port=$(free_port)
base=http://127.0.0.1:$port
export BROADSHEET_ADMIN_TOKEN=bench-admin-token-0123456789

# csv FROM TO: subscribers readerFROM … readerTO-1, active.
csv() { awk -v a="$1" -v b="$2" 'BEGIN { print "email,name,status"; for (i = a; i < b; i++) printf "reader%d@example.com,Reader %d,active\n", i, i }'; }

echo "serve on $base, importing 20000 subscribers..." >&2
start_serve "$bs" "$port" "$tmp/data" "$tmp/serve.log" --log-level warn
csv 0 20000 >"$tmp/a.csv"
"$bs" subscribers import "$tmp/a.csv" --data-dir "$tmp/data" --log-level warn >/dev/null

jar=$tmp/cookies
code=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" -d "token=$BROADSHEET_ADMIN_TOKEN" "$base/admin/login")
[[ $code == 303 ]] || die "login answered $code"
csrf=$(curl -s -b "$jar" "$base/admin/editions" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
[[ -n $csrf ]] || die "no CSRF token on the editions page"
day=$(curl -s -b "$jar" -d "csrf=$csrf" -d date= "$base/admin/editions/build" |
  sed -n 's|.*<strong>\([0-9-]*\)</strong>.*|\1|p' | head -1)
[[ -n $day ]] || die "the build through the console failed"

echo "sending edition $day to 20000 and following its progress stream..." >&2
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" -d "csrf=$csrf" "$base/admin/editions/$day/send")
[[ $code == 303 ]] || die "send answered $code"
curl -sN -m 600 -b "$jar" "$base/admin/editions/$day/events" |
  while IFS= read -r line; do
    [[ $line == event:* ]] && printf '%s %s\n' "$(date +%s.%N)" "${line#event: }"
  done >"$tmp/events" || true
sse=$(awk '$2 == "progress" { if (n) { d = $1 - t; s += d; if (d > m) m = d } t = $1; n++ }
  END { if (n < 2) { print "fewer than 2 progress events"; exit } printf "%d progress events, gaps mean %.0f ms, largest %.0f ms\n", n, s / (n - 1) * 1000, m * 1000 }' "$tmp/events")
tail -1 "$tmp/events" | grep -q ' end$' || die "the stream did not end with an end event"

echo "importing 80000 more (100000 in all)..." >&2
csv 20000 100000 >"$tmp/b.csv"
"$bs" subscribers import "$tmp/b.csv" --data-dir "$tmp/data" --log-level warn >/dev/null

# ttfb PATH: median and p90 of ROUNDS fetches, in ms, after a warm-up.
ttfb() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "$base$1")
  [[ $code == 200 ]] || die "GET $1 answered $code"
  for _ in $(seq "$ROUNDS"); do curl -s -o /dev/null -w '%{time_starttransfer}\n' -b "$jar" "$base$1"; done |
    sort -n | awk '{ v[NR] = $1 * 1000 } END { printf "%6.1f ms  %6.1f ms", v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)] }'
}

echo
echo "nproc: $(nproc)   subscribers: 100000   rounds: $ROUNDS"
printf '%-48s %9s  %9s\n' "page (time to first byte)" median p90
for path in /admin/ /admin/subscribers "/admin/subscribers?status=active&cursor=50000" \
  "/admin/subscribers?q=reader9999" /admin/editions "/admin/editions/$day"; do
  printf '%-48s %s\n' "$path" "$(ttfb "$path")"
done
echo
echo "progress stream during the send to 20000: $sse"
