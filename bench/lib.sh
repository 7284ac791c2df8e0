# shellcheck shell=bash
# bench/lib.sh — helpers the bench scripts share. Source it, from a script in
# bench/, before that script changes directory:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Sourcing only defines functions; they are safe under set -euo pipefail.
# build_broadsheet and start_serve expect the repository root as the working
# directory; start_serve and stop_serve use the caller's variable bs_pid.

# die MESSAGE…: print "SCRIPT: MESSAGE…" on stderr (SCRIPT: the running
# script's file name) and exit 1.
die() {
  echo "${BASH_SOURCE[-1]##*/}: $*" >&2
  exit 1
}

# need COMMAND…: die unless every COMMAND is installed.
need() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null || die "$c is not installed"; done
}

# on_exit FUNCTION [TERM_STATUS]: run FUNCTION when the script exits, and make
# SIGINT (status 130) and SIGTERM (TERM_STATUS, default 130) exit, so that it
# runs on those too.
on_exit() {
  # shellcheck disable=SC2064 # FUNCTION and TERM_STATUS are meant to expand now
  trap "$1" EXIT
  trap 'exit 130' INT
  # shellcheck disable=SC2064
  trap "exit ${2:-130}" TERM
}

# stop PID: SIGTERM, up to 15 s to exit, then SIGKILL; reap it. No PID (an
# empty argument) or one already gone: nothing to do.
stop() {
  [[ -n ${1:-} ]] || return 0
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in {1..150}; do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# listening PORT: true if something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port [NOT]: print a loopback port nothing listens on (and not NOT).
# shellcheck disable=SC2120 # NOT is optional
free_port() {
  local p
  for _ in {1..100}; do
    p=$((20000 + RANDOM % 40000))
    [[ $p == "${1:-}" ]] && continue
    listening "$p" || { echo "$p"; return; }
  done
  die "found no free port"
}

# wait_until PID NAME LOG WHAT COMMAND…: run COMMAND every 0.2 s until it
# succeeds, for up to 60 s. Should PID (NAME, writing LOG) exit first, or the
# time run out, print LOG's last 20 lines and die. WHAT says what is awaited,
# for those messages: "NAME exited before WHAT".
wait_until() {
  local pid=$1 name=$2 log=$3 what=$4
  shift 4
  for _ in {1..300}; do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$name exited before $what"; }
    sleep 0.2
  done
  tail -n 20 "$log" >&2
  die "gave up after 60s waiting until $what"
}

# answers_200 URL: true if a GET of URL answers 200 within 2 s.
answers_200() { [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true) == 200 ]]; }

# wait_200 URL PID NAME LOG: wait (up to 60 s, while PID lives) until URL
# answers 200; see wait_until.
wait_200() { wait_until "$2" "$3" "$4" "$1 answered 200" answers_200 "$1"; }

# build_broadsheet FILE: build ./cmd/broadsheet into FILE (in a temp dir),
# saying "building broadsheet..." on stdout (redirect it: >&2); the build gets
# 10 minutes.
build_broadsheet() {
  echo "building broadsheet..."
  timeout 600 go build -o "$1" ./cmd/broadsheet
}

# start_serve BIN PORT DATA LOG [ARG…]: start `BIN serve` in the background —
# on 127.0.0.1:PORT, base URL http://127.0.0.1:PORT/, data dir DATA with its
# private redis-server (BROADSHEET_REDIS_URL is ignored; Redis listens on
# DATA/redis.sock), --schedule off, then ARG… — with its output in LOG; set
# bs_pid to its pid and wait until /readyz answers 200. Run it in this shell
# (not in $(…)), so that bs_pid is set and stop_serve can stop it.
start_serve() {
  local bin=$1 port=$2 data=$3 log=$4
  shift 4
  env -u BROADSHEET_REDIS_URL "$bin" serve --listen "127.0.0.1:$port" --base-url "http://127.0.0.1:$port/" \
    --data-dir "$data" --schedule off "$@" >"$log" 2>&1 &
  bs_pid=$!
  wait_200 "http://127.0.0.1:$port/readyz" "$bs_pid" serve "$log"
}

# stop_serve [DATA]: stop the serve start_serve started (bs_pid, then
# emptied). SIGTERM lets it stop its redis-server child (own process group);
# should it have been killed hard, that Redis still runs: shut it down through
# DATA/redis.sock (needs redis-cli).
stop_serve() {
  stop "${bs_pid:-}"
  bs_pid=''
  if [[ -n ${1:-} && -S $1/redis.sock ]] && command -v redis-cli >/dev/null; then
    redis-cli -s "$1/redis.sock" shutdown nosave >/dev/null 2>&1 || true
  fi
}
