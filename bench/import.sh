#!/usr/bin/env bash
# bench/import.sh — how fast `broadsheet subscribers import` loads a CSV, and
# how much Redis memory each subscriber takes.
#
# For each count in N it writes a CSV (email,name header; reader000001@
# example.com,Reader 000001 …) into a temp dir, starts `serve` on a fresh data
# dir (private redis-server, --schedule off) only to keep that Redis running —
# the import finds its socket, DIR/redis.sock, and uses it — then times
#   broadsheet subscribers import FILE --data-dir DIR
# (wall clock; the import process's peak RSS with /usr/bin/time when
# installed) and reads `redis-cli -s DIR/redis.sock info memory` before and
# after: used_memory's growth / count is Redis's memory per subscriber. It
# checks the import's report, `subscribers count` and that no mail was sent
# (imported subscribers are active; an import mails nobody).
# The import, Redis and the CSV share this machine's CPUs (nproc is printed).
# Compare with: go test -run '^$' -bench Subscribers100k -benchtime 1x ./store
#
# Run from anywhere:   bash bench/import.sh
# Knobs (env):         N="100000 20000"   (counts to import, one fresh store each)
# Needs: go, curl, redis-server, redis-cli (optional: /usr/bin/time).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-100000 20000}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need go curl redis-server redis-cli
for n in $N; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "N: \"$n\" is not a positive whole number"; done
gnu_time=''
/usr/bin/time -v true >/dev/null 2>&1 && gnu_time=/usr/bin/time

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bsimp.XXXXXX")
bs_pid='' data=''

cleanup() {
  set +e
  stop_serve "$data"
  rm -rf "$tmp"
}
on_exit cleanup

used_memory() { redis-cli -s "$data/redis.sock" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

build_broadsheet "$tmp/broadsheet" >&2
bs=$tmp/broadsheet
unset BROADSHEET_REDIS_URL BROADSHEET_SMTP_URL BROADSHEET_SMTP_URL_FILE

results=()
for n in $N; do
  # 1. the CSV
  csv=$tmp/subscribers-$n.csv
  awk -v n="$n" 'BEGIN {
    print "email,name"
    for (i = 1; i <= n; i++) printf "reader%06d@example.com,Reader %06d\n", i, i
  }' >"$csv"

  # 2. serve, to keep the private Redis of a fresh data dir running
  data=$tmp/d$n
  port=$(free_port)
  start_serve "$bs" "$port" "$data" "$tmp/serve-$n.log" --log-level warn
  [[ -S $data/redis.sock ]] || die "no Redis socket at $data/redis.sock"

  # 3. the import, timed
  echo "importing $n subscribers..." >&2
  before=$(used_memory)
  timer=()
  [[ -n $gnu_time ]] && timer=("$gnu_time" -v -o "$tmp/time-$n.txt")
  start=$(date +%s.%N)
  "${timer[@]}" "$bs" subscribers import "$csv" --data-dir "$data" --log-level warn \
    >"$tmp/import-$n.out" 2>"$tmp/import-$n.err" ||
    die "import of $n failed: $(cat "$tmp/import-$n.out" "$tmp/import-$n.err")"
  end=$(date +%s.%N)
  after=$(used_memory)
  report=$(cat "$tmp/import-$n.out")
  rss=''
  [[ -n $gnu_time ]] && rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f MiB", $2 / 1024 }' "$tmp/time-$n.txt")

  # 4. did it do the work?
  counts=$("$bs" subscribers count --data-dir "$data" --log-level warn)
  total=$(awk '$1 == "total" { print $2 }' <<<"$counts")
  active=$(awk '$1 == "active" { print $2 }' <<<"$counts")
  mails=$(find "$data/outbox/new" -type f 2>/dev/null | wc -l)
  keys=$(redis-cli -s "$data/redis.sock" dbsize | tr -d '\r')
  problems=''
  [[ $report == "added $n, existing 0, suppressed 0, invalid 0" ]] || problems+=" report is not \"added $n, existing 0, suppressed 0, invalid 0\";"
  [[ $total == "$n" && $active == "$n" ]] || problems+=" subscribers count says total $total, active $active;"
  ((mails == 0)) || problems+=" $mails mails in the outbox;"
  [[ -s $tmp/import-$n.err ]] && problems+=" import stderr: $(head -c 500 "$tmp/import-$n.err" | tr '\n' ' ');"
  grep -qE 'level=(WARN|ERROR)' "$tmp/serve-$n.log" && problems+=" serve logged: $(grep -E 'level=(WARN|ERROR)' "$tmp/serve-$n.log" | head -n 3 | tr '\n' ' ');"

  stop_serve "$data"
  results+=("$(awk -v n="$n" -v s="$start" -v e="$end" -v b="$before" -v a="$after" -v rss="${rss:-n/a}" \
    -v keys="$keys" -v csvb="$(wc -c <"$csv")" 'BEGIN {
      t = e - s
      printf "%-8d %8.2f %12.0f %14s %10.1f %11d %11d %12.1f %6d\n", n, t, n / t, rss, csvb / 1048576, b, a, (a - b) / n, keys
    }')")
  results+=("         import said: $report; subscribers count: total $total, active $active; mails: $mails${problems:+; PROBLEMS:$problems}")
done

echo
echo "nproc: $(nproc)   $(go version)   redis-server $(redis-server --version | awk '{ print $3 }')" \
  "  $(redis-cli --version)"
echo "broadsheet subscribers import FILE --data-dir DIR, beside a serve holding DIR's private Redis"
printf '%-8s %8s %12s %14s %10s %11s %11s %12s %6s\n' count "wall s" subscribers/s "import RSS" "CSV MiB" \
  "used_mem 0" "used_mem 1" "B/subscriber" keys
printf '%s\n' "${results[@]}"
echo "(used_mem: Redis used_memory before and after the import; keys: DBSIZE after, edition keys included)"
