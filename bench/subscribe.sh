#!/usr/bin/env bash
# bench/subscribe.sh — how fast `serve` takes subscriptions on POST /subscribe.
#
# It builds broadsheet, starts `serve` (private redis-server, mail into the
# Maildir DIR/outbox, --schedule off, the per-IP subscribe rate limit raised
# out of the way) on a free loopback port under one temp dir, then runs wrk
# twice with a Lua script that POSTs JSON:
#   new   every request a new address, bench-<thread>-<counter>@example.com:
#         the full path — a subscriber written to Redis (Lua), a confirmation
#         mail rendered, signed and delivered (fsync'd) into the Maildir
#   same  every request ONE address, subscribed (and mailed) beforehand: the
#         no-op path — the add script finds it, the resend check declines,
#         no write, no mail
# and prints requests/s, p50/p99 latency and non-2xx/socket errors of each,
# then checks the work done: subscribers counted by `subscribers count` and
# mails in DIR/outbox/new (one per new subscriber). wrk, serve and Redis share
# this machine's CPUs (nproc is printed): compare runs on one machine.
#
# Run from anywhere:   bash bench/subscribe.sh
# Knobs (env):         DURATION=10s CONNECTIONS=50 THREADS=2
#                      LOG_LEVEL=info (serve's; info logs a line per mail)
# Needs: go, wrk, curl, redis-server (optional: redis-cli, for cleanup).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s} CONNECTIONS=${CONNECTIONS:-50} THREADS=${THREADS:-2} LOG_LEVEL=${LOG_LEVEL:-info}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need go wrk curl redis-server

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bssub.XXXXXX")
data=$tmp/data
bs_pid=''

cleanup() {
  set +e
  stop_serve "$data"
  rm -rf "$tmp"
}
on_exit cleanup

# 1. broadsheet
build_broadsheet "$tmp/broadsheet" >&2
port=$(free_port)
bs=http://127.0.0.1:$port
unset BROADSHEET_SMTP_URL BROADSHEET_SMTP_URL_FILE # mail into the Maildir DIR/outbox
start_serve "$tmp/broadsheet" "$port" "$data" "$tmp/serve.log" \
  --subscribe-rate 100000000 --log-level "$LOG_LEVEL"

# counts: "<total subscribers> <files in outbox/new>"
counts() {
  local total
  total=$("$tmp/broadsheet" subscribers count --data-dir "$data" --log-level warn | awk '$1 == "total" { print $2 }')
  echo "${total:-?} $(find "$data/outbox/new" -type f | wc -l)"
}
read -r subs0 mails0 < <(counts)

# 2. the wrk script. Each wrk thread has its own Lua state: setup() (main
# state) numbers the threads, init() starts each thread's counter.
# wrk also calls request() once on thread 1's state before the run to check
# it, so one generated address is never sent.
cat >"$tmp/subscribe.lua" <<'EOF'
-- POST /subscribe with JSON. wrk args after "--": "new" (a new address per
-- request) or "same ADDRESS" (every request the one address).
local threads, next_id = {}, 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  mode, address, sent = args[1] or "new", args[2], 0
end

function request()
  sent = (sent or 0) + 1
  local email = address
  if mode ~= "same" then
    email = string.format("bench-%d-%d@example.com", id or 0, sent)
  end
  return wrk.format("POST", "/subscribe", { ["Content-Type"] = "application/json" },
    '{"email":"' .. email .. '"}')
end

function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + (t:get("sent") or 0) end
  io.write(string.format("request() calls: %d\n", n))
end
EOF

# run_wrk NAME [script args]: wrk output goes to $tmp/wrk-NAME.txt
run_wrk() {
  local name=$1; shift
  echo "wrk $name..." >&2
  wc -l <"$tmp/serve.log" >"$tmp/log-lines"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 5s --latency -s "$tmp/subscribe.lua" \
    "$bs/subscribe" -- "$@" >"$tmp/wrk-$name.txt" 2>&1 ||
    die "wrk $name failed: $(cat "$tmp/wrk-$name.txt")"
  sleep 1 # let requests still in flight when wrk stopped finish
  # serve's log lines from this run on
  tail -n +"$(($(cat "$tmp/log-lines") + 1))" "$tmp/serve.log" >"$tmp/log-$name.txt"
}
field() { awk -v k="$2" '$1 == k { print $2 }' "$tmp/wrk-$1.txt"; }       # field NAME Requests/sec:
done_requests() { awk '$2 == "requests" && $3 == "in" { print $1 }' "$tmp/wrk-$1.txt"; }
non2xx() { awk '/^ *Non-2xx or 3xx responses:/ { print $NF; f = 1 } END { if (!f) print 0 }' "$tmp/wrk-$1.txt"; }
sock_errors() { grep -E '^ *Socket errors:' "$tmp/wrk-$1.txt" | sed 's/^ *Socket errors: *//' || echo none; }

# drain: confirmation mails go out from serve's outbox after the answer;
# wait (at most 300 s) until every new subscriber's mail is in the Maildir,
# and set drain_s to the seconds that took.
drain() {
  local start=$SECONDS subs mails
  while :; do
    read -r subs mails < <(counts)
    ((mails - mails0 >= subs - subs0)) && break
    ((SECONDS - start < 300)) || { echo "outbox not drained after 300s" >&2; break; }
    sleep 0.5
  done
  drain_s=$((SECONDS - start))
}

# 3. new addresses
run_wrk new new
drain
read -r subs1 mails1 < <(counts)

# 4. one address, subscribed (and mailed) first
same=bench-same@example.com
code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -H 'Content-Type: application/json' \
  --data "{\"email\":\"$same\"}" "$bs/subscribe")
[[ $code == 200 ]] || die "subscribing $same answered $code"
drain_new=$drain_s
drain
drain_s=$drain_new
read -r subs2 mails2 < <(counts)
run_wrk same same "$same"
read -r subs3 mails3 < <(counts)

# 5. the report
wrk_version=$(wrk -v 2>&1 || true)
echo
echo "nproc: $(nproc)   $(go version)   ${wrk_version%%$'\n'*}   $(redis-server --version | awk '{ print $3 }')"
echo "POST /subscribe (JSON), wrk -t$THREADS -c$CONNECTIONS -d$DURATION; serve --log-level $LOG_LEVEL"
row() { printf '%-5s %12s %10s %10s %10s %9s  %s\n' "$@"; }
row run "requests/s" requests p50 p99 non-2xx "socket errors"
for run in new same; do
  row "$run" "$(field "$run" Requests/sec:)" "$(done_requests "$run")" "$(field "$run" 50%)" \
    "$(field "$run" 99%)" "$(non2xx "$run")" "$(sock_errors "$run")"
done
echo
echo "work done (subscribers total / files in outbox/new):"
printf '  %-42s %11s %8s\n' "" subscribers mails
printf '  %-42s %11s %8s\n' "at start" "$subs0" "$mails0" \
  "after 'new' run" "$subs1" "$mails1" \
  "after subscribing $same" "$subs2" "$mails2" \
  "after 'same' run" "$subs3" "$mails3"
new_ok=$(($(done_requests new) - $(non2xx new)))
echo "  'new':  $((subs1 - subs0)) subscribers and $((mails1 - mails0)) mails for $new_ok 2xx answers" \
  "($(awk '/^request\(\) calls:/ { print $3 }' "$tmp/wrk-new.txt") addresses generated by request(), one of them only to check the script)"
echo "  'same': $((subs3 - subs2)) subscribers and $((mails3 - mails2)) mails added (expected 0 and 0)"
echo "  the outbox sent the 'new' run's confirmations ${drain_s}s after wrk stopped (the answer does not wait for the mail)"
echo "serve log, WARN and ERROR lines (numbers as N):"
for run in new same; do
  n=$(grep -cE 'level=(WARN|ERROR)' "$tmp/log-$run.txt" || true)
  echo "  during/after '$run': $n"
  ((n == 0)) || grep -E 'level=(WARN|ERROR)' "$tmp/log-$run.txt" | sed -E 's/^time=[^ ]* //; s/[0-9]+/N/g' |
    sort | uniq -c | sort -rn | head -n 10
done
((mails1 - mails0 == subs1 - subs0)) ||
  echo "NOTE: $((subs1 - subs0 - (mails1 - mails0))) of the 'new' run's subscribers got no confirmation mail"
