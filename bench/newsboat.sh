#!/usr/bin/env bash
# bench/newsboat.sh — does a real feed reader (newsboat) polling across an
# edition update see each edition exactly once, with the new title?
#
# It builds broadsheet, starts `serve` (private redis-server, --schedule off)
# on a free loopback port, all under one temp dir, and then walks through:
#   1. build DAY1 from source A            (edition created)
#   2. build DAY1 again from source B      (same edition, new lead title)
#   3. build DAY2 from source C            (a second edition)
#   4. build DAY2 again from source C      (unchanged: same feed bytes)
# After every build it checks the feeds the server sends, then runs
# `newsboat -x reload` (headless, no TTY) with its urls, config and cache in
# the temp dir, and reads newsboat's cache (rss_item) with sqlite3. Three
# newsboat setups, each with its own cache:
#   both  the RSS and the Atom feed in one urls file. newsboat keys cached
#         items by guid across ALL feeds, and broadsheet's RSS guid and Atom id
#         are the same tag: URI, so each edition is stored once, under the feed
#         reloaded last; "per feed" counts are logged, the whole cache is checked.
#   rss   only /feed.rss     — per-feed checks.
#   atom  only /feed.atom    — per-feed checks; its config also sets
#         reset-unread-on-update, to show the difference.
# Checks per setup and step: newsboat fetched the current feed (its cached
# ETag is the server's; newsboat stores none on a feed's very first fetch),
# items == editions in the feed, guids unique, every edition's page URL
# exactly once, DAY1 keeps its guid across the update and carries the new
# title. Items are marked read after step 1 (as if read); the unread flag
# after the update is logged, not checked.
#
# Same-second changes: newsboat asks with If-None-Match AND If-Modified-Since,
# and libcurl (CURLOPT_TIMECONDITION) throws away a 200 whose Last-Modified is
# not later than If-Modified-Since while newsboat still stores the new ETag.
# So broadsheet keeps edition changes at least a second apart (a build waits
# for the next second), and this script builds back to back, without waiting,
# to check that. WAIT=1 instead waits for the clock to pass the feeds'
# Last-Modified before each build, as a control.
#
# `serve` always builds today's edition on an empty Redis (the bundled
# sample), so the feed carries that edition too: DAY1 and DAY2 default to the
# two days before it and counts are "that edition + ours" (2, 2, 3, 3).
#
# Run from anywhere:   bash bench/newsboat.sh
# Knobs (env):         DAY1=YYYY-MM-DD DAY2=YYYY-MM-DD (not today)
#                      KEEP_TMP=1 (keep the temp dir: logs, caches)
#                      WAIT=1 (see above)
#                      VERBOSE=1 (print every passing check, not just failures)
# Needs: go, newsboat (Debian: apt-get install -y newsboat), curl,
#        redis-server, and sqlite3 or python3 (its sqlite3 module).
# Exits 0 after "PASS", 1 after "FAIL" (or when something breaks).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

need go newsboat curl redis-server timeout
if ! command -v sqlite3 >/dev/null; then
  if ! command -v python3 >/dev/null || ! python3 -c 'import sqlite3' 2>/dev/null; then
    die "need sqlite3, or python3 with its sqlite3 module, to read newsboat's cache"
  fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bsnb.XXXXXX")
bs_pid=''

cleanup() {
  set +e
  stop_serve "$tmp/data"
  if [[ ${KEEP_TMP:-} == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
on_exit cleanup 143

# sql DB QUERY: run QUERY, print rows tab-separated.
sql() {
  if command -v sqlite3 >/dev/null; then
    sqlite3 -batch -noheader -separator $'\t' "$1" "$2"
  else
    python3 - "$1" "$2" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for row in con.execute(sys.argv[2]):
    print("\t".join("" if v is None else str(v) for v in row))
con.commit()
PY
  fi
}
q() { printf "'%s'" "${1//\'/\'\'}"; } # q STRING: an SQL string literal

fails=0 oks=0
# ok/bad record a check; failures are printed at once, passes with VERBOSE=1.
ok() { oks=$((oks + 1)); [[ ${VERBOSE:-} != 1 ]] || echo "    ok    $*"; }
bad() { fails=$((fails + 1)); echo "    FAIL  $*"; }
# check DESCRIPTION GOT WANT
check() { if [[ $2 == "$3" ]]; then ok "$1: $2"; else bad "$1: got '$2', want '$3'"; fi; }

# 1. broadsheet serve
build_broadsheet "$tmp/broadsheet"
port=$(free_port)
base=http://127.0.0.1:$port/
rss_url=${base}feed.rss atom_url=${base}feed.atom
start_serve "$tmp/broadsheet" "$port" "$tmp/data" "$tmp/serve.log"
echo "serve is ready at $base (pid $bs_pid, data $tmp/data)"

get() { curl -sf -m 5 "$1" || die "cannot GET $1"; }
# etag URL ENCODING: the ETag the server sends for URL with Accept-Encoding: ENCODING.
etag() { curl -sfI -m 5 -H "Accept-Encoding: $2" "$1" | tr -d '\r' | awk 'tolower($1) == "etag:" { print $2 }'; }
# etags URL: the ETags of URL, plain and gzip, one a line.
etags() { etag "$1" identity; etag "$1" gzip; }

# last_modified URL: the feed's Last-Modified, in Unix seconds.
last_modified() {
  local lm
  lm=$(curl -sfI -m 5 "$1" | tr -d '\r' | sed -n 's/^[Ll]ast-[Mm]odified: //p')
  [[ -n $lm ]] || die "no Last-Modified from $1"
  date -u -d "$lm" +%s
}
# next_second: wait (up to 3 s) until the clock is past both feeds' Last-Modified.
next_second() {
  [[ ${WAIT:-} == 1 ]] || return 0
  local lm a
  lm=$(last_modified "$rss_url") a=$(last_modified "$atom_url")
  ((a > lm)) && lm=$a
  for _ in {1..30}; do (($(date +%s) > lm)) && return; sleep 0.1; done
  die "the clock did not pass the feeds' Last-Modified ($lm) within 3s"
}

# The editions the server already carries: serve's bootstrap build of today.
mapfile -t boot_dates < <(get "$rss_url" | grep -oE "<link>${base}editions/[0-9-]+</link>" |
  sed -E 's|.*/editions/([0-9-]+)</link>|\1|')
n_boot=${#boot_dates[@]}
echo "the feed already carries $n_boot edition(s): ${boot_dates[*]:-none} (serve's first build on an empty Redis)"
ref=${boot_dates[0]:-$(date -u +%F)}
DAY1=${DAY1:-$(date -u -d "$ref -2 days" +%F)}
DAY2=${DAY2:-$(date -u -d "$ref -1 days" +%F)}
for d in "$DAY1" "$DAY2"; do
  for b in "${boot_dates[@]}"; do [[ $d != "$b" ]] || die "DAY $d is the day serve already built; pick another"; done
done
[[ $DAY1 != "$DAY2" ]] || die "DAY1 and DAY2 are both $DAY1"

# 2. the front pages
title_a="Harbour bridge reopens after repairs"
title_b="Harbour bridge reopens a week early"
title_c="Council approves the new tram line"
front() { # front LEAD_TITLE: a source file on stdout
  printf '%s\n' "Markets steady ahead of the holiday" "Storm warning for the coast" "City" "" \
    "$1" "Photo: Agency" "Crews finished the work overnight." "Traffic resumes this morning."
}
front "$title_a" >"$tmp/a.txt"
front "$title_b" >"$tmp/b.txt"
front "$title_c" >"$tmp/c.txt"

# 3. newsboat: three setups, everything under $tmp (HOME too: newsboat makes ~/.newsboat)
mkdir -p "$tmp/home"
setups=(both rss atom)
declare -A feeds_of=([both]="$rss_url $atom_url" [rss]="$rss_url" [atom]="$atom_url")
for s in "${setups[@]}"; do
  mkdir -p "$tmp/nb-$s"
  tr ' ' '\n' <<<"${feeds_of[$s]}" >"$tmp/nb-$s/urls"
  printf '%s\n' 'reload-threads 1' 'download-timeout 20' 'download-retries 1' >"$tmp/nb-$s/config"
done
echo "reset-unread-on-update $atom_url" >>"$tmp/nb-atom/config"
echo "newsboat: $(newsboat --version 2>&1 | sed -n 1p); setups: both (rss+atom, one cache), rss, atom (reset-unread-on-update)"

reload() { # reload SETUP
  local d=$tmp/nb-$1 rc=0
  env -u XDG_CONFIG_HOME -u XDG_DATA_HOME -u XDG_CACHE_HOME HOME="$tmp/home" \
    timeout 60 newsboat -u "$d/urls" -c "$d/cache.db" -C "$d/config" -l 6 -d "$d/newsboat.log" -x reload \
    </dev/null >"$d/stdout" 2>&1 || rc=$?
  ((rc == 0)) || { cat "$d/stdout" >&2; die "newsboat ($1) exited with $rc"; }
}

# build DATE FILE WANT_OUTCOME: build an edition, check the outcome.
build() {
  local out
  next_second
  out=$(timeout 60 "$tmp/broadsheet" build --data-dir "$tmp/data" --base-url "$base" \
    --source "$2" --date "$1" 2>>"$tmp/build.log") || { tail -n 5 "$tmp/build.log" >&2; die "build $1 failed"; }
  echo "  build   $out"
  [[ $out == "$1: $3 "* ]] || bad "build $1 from $(basename "$2"): outcome is not '$3'"
}

declare -A want_title # date -> title the feeds should carry now (our editions)
n_ours=0
declare -A day1_guid # setup -> guid newsboat stored for DAY1 in step 1

# server_check: wait (10 s) until both feeds show the editions and titles we
# expect, then check their counts and id uniqueness.
server_check() {
  local want=$((n_boot + n_ours)) body f d ok=0 tag n_rss n_atom dup_rss dup_atom
  for _ in {1..50}; do
    ok=1
    for f in "$rss_url" "$atom_url"; do
      body=$(get "$f")
      [[ $f == "$rss_url" ]] && tag='<item>' || tag='<entry>'
      [[ $(grep -c "$tag" <<<"$body") == "$want" ]] || ok=0
      for d in "${!want_title[@]}"; do grep -qF "<title>${want_title[$d]}</title>" <<<"$body" || ok=0; done
    done
    ((ok)) && break
    sleep 0.2
  done
  ((ok)) || bad "server: the feeds did not show the expected editions and titles within 10s"
  body=$(get "$rss_url")
  n_rss=$(grep -c '<item>' <<<"$body" || true)
  dup_rss=$({ grep -oE '<guid[^>]*>[^<]+</guid>' <<<"$body" || true; } | sort | uniq -d | wc -l)
  body=$(get "$atom_url")
  n_atom=$(grep -c '<entry>' <<<"$body" || true)
  dup_atom=$({ grep -oE '<id>[^<]+</id>' <<<"$body" || true; } | sort | uniq -d | wc -l)
  check "server: /feed.rss items" "$n_rss" "$want"
  check "server: /feed.rss duplicate guids" "$dup_rss" 0
  check "server: /feed.atom entries" "$n_atom" "$want"
  check "server: /feed.atom duplicate ids" "$dup_atom" 0
  echo "  server  rss $n_rss items, atom $n_atom entries (want $want), duplicate ids $((dup_rss + dup_atom));" \
    "Last-Modified $(curl -sfI -m 5 "$rss_url" | tr -d '\r' | sed -n 's/^[Ll]ast-[Mm]odified: //p')"
}

# nb_check STEP SETUP: reload newsboat, read its cache, check it, print a line.
nb_check() {
  local step=$1 s=$2 db=$tmp/nb-$2/cache.db want=$((n_boot + n_ours)) f got rows dups d url t guid n unread line
  reload "$s"
  line=$(printf '  %-7s' "[$s]")
  # Did newsboat really fetch the current feed? Its cached ETag must be the
  # server's (on a feed's first fetch newsboat stores none: the UPDATE of
  # rss_feed runs before its INSERT).
  for f in ${feeds_of[$s]}; do
    got=$(sql "$db" "SELECT etag FROM rss_feed WHERE rssurl = $(q "$f")")
    if [[ -z $got && $step == 1 ]]; then
      check "[$s] ${f#"$base"} fetched (feed title)" "$(sql "$db" "SELECT title FROM rss_feed WHERE rssurl = $(q "$f")")" "Daily Brief"
    elif grep -qxF -- "$got" <<<"$(etags "$f")"; then
      ok "[$s] ${f#"$base"} fetched (ETag $got)"
    else
      bad "[$s] ${f#"$base"}: cached ETag '$got' is not the server's ($(etags "$f" | tr '\n' ' '))"
    fi
  done
  rows=$(sql "$db" "SELECT count(*) FROM rss_item")
  dups=$(sql "$db" "SELECT count(*) - count(DISTINCT guid) FROM rss_item")
  check "[$s] items in the cache" "$rows" "$want"
  check "[$s] duplicate guids" "$dups" 0
  if [[ $s == both ]]; then
    # guids are keys across feeds: the feed reloaded last owns them all.
    line+="items $rows/$want (by feed: $(sql "$db" "SELECT feedurl, count(*) FROM rss_item GROUP BY feedurl ORDER BY feedurl" |
      sed "s|$base||" | tr '\t' '=' | paste -sd ' ' -)), dup guids $dups"
  else
    n=$(sql "$db" "SELECT count(*) FROM rss_item WHERE feedurl = $(q "${feeds_of[$s]}")")
    check "[$s] items of ${feeds_of[$s]#"$base"}" "$n" "$want"
    line+="items $n/$want, dup guids $dups"
  fi
  for d in "${boot_dates[@]}" "${!want_title[@]}"; do
    url=${base}editions/$d
    n=$(sql "$db" "SELECT count(*) FROM rss_item WHERE url = $(q "$url")")
    check "[$s] items for $d" "$n" 1
    [[ -n ${want_title[$d]:-} ]] || continue
    guid='' t='' unread=''
    IFS=$'\t' read -r guid t unread < <(sql "$db" "SELECT guid, title, unread FROM rss_item WHERE url = $(q "$url") LIMIT 1") || true
    check "[$s] title of $d" "$t" "${want_title[$d]}"
    line+=" | $d: ${n}x \"$t\" unread=$unread"
    if [[ $d == "$DAY1" ]]; then
      if [[ $step == 1 ]]; then
        day1_guid[$s]=$guid
      else
        check "[$s] guid of $d kept" "$guid" "${day1_guid[$s]}"
        [[ $guid != "${day1_guid[$s]}" ]] || line+=", same guid"
      fi
    fi
  done
  echo "$line"
  # As if the reader had read everything after the first poll.
  [[ $step != 1 ]] || sql "$db" "UPDATE rss_item SET unread = 0"
}

step() { # step N TEXT DATE FILE OUTCOME TITLE
  local before
  echo
  echo "== step $1: $2 =="
  before=$(etag "$rss_url" identity)
  build "$3" "$4" "$5"
  [[ $5 != created ]] || n_ours=$((n_ours + 1))
  want_title[$3]=$6
  server_check
  [[ $5 != unchanged ]] || check "server: /feed.rss ETag unchanged" "$(etag "$rss_url" identity)" "$before"
  for s in "${setups[@]}"; do nb_check "$1" "$s"; done
  [[ $1 != 1 ]] || echo "  (all items marked read in every cache, as if read)"
}

step 1 "build $DAY1 from A" "$DAY1" "$tmp/a.txt" created "$title_a"
step 2 "rebuild $DAY1 from B (new lead title)" "$DAY1" "$tmp/b.txt" updated "$title_b"
step 3 "build $DAY2 from C" "$DAY2" "$tmp/c.txt" created "$title_c"
step 4 "rebuild $DAY2 from C (unchanged)" "$DAY2" "$tmp/c.txt" unchanged "$title_c"

echo
if ((fails == 0)); then
  echo "PASS: $oks checks; newsboat saw each edition once, $DAY1 kept its guid and took its new title"
else
  echo "FAIL: $fails of $((oks + fails)) checks failed"
  exit 1
fi
