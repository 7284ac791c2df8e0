#!/usr/bin/env bash
# bench/mutate.sh — mutation testing: how often a deliberately broken line
# makes a test fail. `make mutate` installs the pinned gremlins and runs this.
#
# For each package it runs
#   gremlins unleash --workers W --timeout-coefficient C -o OUT/PKG.json ./PKG
# (its full output in OUT/PKG.log) and then prints one table: per package the
# mutants killed, lived, not covered and timed out, the test efficacy
# (killed / (killed + lived)) and the mutant coverage ((killed + lived) /
# all), followed by every mutant that lived, as PKG/FILE:LINE:COLUMN MUTATOR.
# Goal per package: efficacy >= 90%, coverage >= 85%.
#
# The tests run with -short (through GOFLAGS, as gremlins passes no test
# flags of its own): the few tests behind -short wait out real timeouts or
# failovers (35 s, 22 s) and would be run again for every mutant; the
# behaviour they pin is also pinned by faster tests. -count=1 too: gremlins
# times each mutant's run against its first (coverage) run, and a cached
# `go test` result makes that first run take no time, so every mutant would
# time out.
#
# Every run gets a private TMPDIR, so every test binary and every throwaway
# redis-server it starts can be told apart from anything else on the machine;
# the script ends by waiting (up to 60 s) for all of them to be gone, and
# fails, listing them, should one remain.
#
# Run from anywhere:   bash bench/mutate.sh [PKG…]   (default: the core packages)
# Knobs (env):         GREMLINS=.bin/gremlins  WORKERS=2  TIMEOUT_COEFFICIENT=10  OUT=.mutate
# Needs: Linux (/proc), go, gremlins v0.6.0 (`make mutate` installs it into
# .bin/), redis-server.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
GREMLINS=${GREMLINS:-.bin/gremlins}
WORKERS=${WORKERS:-2}
TIMEOUT_COEFFICIENT=${TIMEOUT_COEFFICIENT:-10}
OUT=${OUT:-.mutate}
pkgs=("$@")
[[ ${#pkgs[@]} -gt 0 ]] || pkgs=(digest feeds subscription templates store)

need go
[[ -x $GREMLINS ]] || die "$GREMLINS is not installed (make mutate installs it)"
for p in "${pkgs[@]}"; do [[ -d $p ]] || die "$p is not a package directory"; done
mkdir -p "$OUT"
work=$(mktemp -d "${TMPDIR:-/tmp}/broadsheet-mutate.XXXXXX")

# strays: the pids of processes (test binaries, redis-servers) started with
# this run's TMPDIR in their environment (redis-server rewrites its command
# line, so that is where it can be recognised).
strays() {
  local f pid
  for f in /proc/[0-9]*/environ; do
    pid=${f#/proc/}
    pid=${pid%/environ}
    grep -qzxF "TMPDIR=$work" "$f" 2>/dev/null && echo "$pid"
  done
  return 0
}

cleanup() {
  local left=''
  for _ in {1..600}; do
    left=$(strays)
    [[ -z $left ]] && break
    sleep 0.1
  done
  if [[ -n $left ]]; then
    echo "mutate: processes of this run still running after 60 s:" >&2
    # shellcheck disable=SC2086 # one pid a word
    ps -o pid=,args= -p $left >&2 || true
    exit 1
  fi
  rm -rf "$work"
}
on_exit cleanup

# field LOG LABEL: the number gremlins printed after "LABEL: " in LOG.
field() { grep -o "$2: [0-9.]*" "$1" | tail -n 1 | awk '{print $NF}'; }

rows=()
for p in "${pkgs[@]}"; do
  echo "mutate: $p ..." >&2
  start=$SECONDS
  status=0
  TMPDIR=$work GOFLAGS="-short -count=1 ${GOFLAGS:-}" "$GREMLINS" unleash --workers "$WORKERS" --timeout-coefficient "$TIMEOUT_COEFFICIENT" \
    -o "$OUT/$p.json" "./$p" >"$OUT/$p.log" 2>&1 || status=$?
  if [[ $status -ne 0 ]] || ! grep -q 'Test efficacy' "$OUT/$p.log"; then
    tail -n 20 "$OUT/$p.log" >&2
    die "gremlins failed on $p (exit $status); see $OUT/$p.log"
  fi
  rows+=("$(printf '| %s | %s | %s | %s | %s | %s%% | %s%% | %dm%02ds |' "$p" \
    "$(field "$OUT/$p.log" Killed)" "$(field "$OUT/$p.log" Lived)" "$(field "$OUT/$p.log" 'Not covered')" \
    "$(field "$OUT/$p.log" 'Timed out')" "$(field "$OUT/$p.log" 'Test efficacy')" \
    "$(field "$OUT/$p.log" 'Mutator coverage')" $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)))")
done

echo "gremlins ${GREMLINS_VERSION:-(version unknown)}, --workers $WORKERS --timeout-coefficient $TIMEOUT_COEFFICIENT, tests -short, $(nproc) CPUs"
echo
echo "| package | killed | lived | not covered | timed out | efficacy | coverage | time |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "Lived (a test should fail, or a comment names the mutant equivalent):"
for p in "${pkgs[@]}"; do
  sed -n 's/^ *LIVED \([A-Z_]*\) at \(.*\)$/  '"$p"'\/\2 \1/p' "$OUT/$p.log"
done
