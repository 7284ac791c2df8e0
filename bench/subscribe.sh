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

DURATION=${DURATION:-10s} CONNECTIONS=${CONNECTIONS:-50} THREADS=${THREADS:-2} LOG_LEVEL=${LOG_LEVEL:-info}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "subscribe.sh: $*" >&2; exit 1; }
for c in go wrk curl redis-server; do command -v "$c" >/dev/null || die "$c is not installed"; done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bssub.XXXXXX")
data=$tmp/data
bs_pid=''

# stop PID: SIGTERM, up to 15 s to exit, then SIGKILL.
stop() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in {1..150}; do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  set +e
  # SIGTERM lets broadsheet stop its redis-server child (own process group).
  [[ -n $bs_pid ]] && stop "$bs_pid"
  # Should broadsheet have been killed hard, its Redis would still be running.
  if [[ -S $data/redis.sock ]] && command -v redis-cli >/dev/null; then
    redis-cli -s "$data/redis.sock" shutdown nosave >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback port nothing listens on.
free_port() {
  local p
  for _ in {1..100}; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "found no free port"
}

# 1. broadsheet
echo "building broadsheet..." >&2
go build -o "$tmp/broadsheet" ./cmd/broadsheet
port=$(free_port)
bs=http://127.0.0.1:$port
env -u BROADSHEET_REDIS_URL -u BROADSHEET_SMTP_URL -u BROADSHEET_SMTP_URL_FILE \
  "$tmp/broadsheet" serve --listen "127.0.0.1:$port" --base-url "$bs/" --data-dir "$data" \
  --schedule off --subscribe-rate 100000000 --log-level "$LOG_LEVEL" >"$tmp/serve.log" 2>&1 &
bs_pid=$!
for i in {1..300}; do
  [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "$bs/readyz" || true) == 200 ]] && break
  kill -0 "$bs_pid" 2>/dev/null || { tail -n 20 "$tmp/serve.log" >&2; die "serve exited before /readyz answered 200"; }
  ((i < 300)) || { tail -n 20 "$tmp/serve.log" >&2; die "/readyz did not answer 200 within 60s"; }
  sleep 0.2
done

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

# 3. new addresses
run_wrk new new
read -r subs1 mails1 < <(counts)

# 4. one address, subscribed (and mailed) first
same=bench-same@example.com
code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -H 'Content-Type: application/json' \
  --data "{\"email\":\"$same\"}" "$bs/subscribe")
[[ $code == 200 ]] || die "subscribing $same answered $code"
read -r subs2 mails2 < <(counts)
run_wrk same same "$same"
read -r subs3 mails3 < <(counts)

# 5. the report
wrk_version=$(wrk -v 2>&1 || true)
echo
echo "nproc: $(nproc)   $(go version)   ${wrk_version%%$'\n'*}   $(redis-server --version | awk '{ print $3 }')"
echo "POST /subscribe (JSON), wrk -t$THREADS -c$CONNECTIONS -d$DURATION; serve --log-level $LOG_LEVEL"
fmt='%-5s %12s %10s %10s %10s %9s  %s\n'
printf "$fmt" run "requests/s" requests p50 p99 non-2xx "socket errors"
for run in new same; do
  printf "$fmt" "$run" "$(field "$run" Requests/sec:)" "$(done_requests "$run")" "$(field "$run" 50%)" \
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
echo "serve log, WARN and ERROR lines (numbers as N):"
for run in new same; do
  n=$(grep -cE 'level=(WARN|ERROR)' "$tmp/log-$run.txt" || true)
  echo "  during/after '$run': $n"
  ((n == 0)) || grep -E 'level=(WARN|ERROR)' "$tmp/log-$run.txt" | sed -E 's/^time=[^ ]* //; s/[0-9]+/N/g' |
    sort | uniq -c | sort -rn | head -n 10
done
((mails1 - mails0 == subs1 - subs0)) ||
  echo "NOTE: $((subs1 - subs0 - (mails1 - mails0))) of the 'new' run's subscribers got no confirmation mail"
