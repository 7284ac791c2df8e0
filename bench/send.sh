#!/usr/bin/env bash
# bench/send.sh — how fast `broadsheet send` delivers an edition, and how much
# memory it takes, next to postfix's smtp-source sending the same number of
# messages of the same size to the same server in the same run.
#
# For each count in N, on loopback only, under one temp dir:
#   1. smtp-sink (postfix's test server: accepts every message, discards it)
#      on a free port: `smtp-sink -c 127.0.0.1:PORT 1000` (-u USER when root);
#   2. a fresh data dir: `serve --schedule off` only to keep its private
#      redis-server running (the other commands find DIR/redis.sock), N
#      active subscribers imported from a CSV (email,name,status), the bundled
#      sample edition built, its size taken as
#        broadsheet preview --format eml | wc -c          (SIZE, bytes);
#   3. timed (wall clock; peak RSS from /usr/bin/time -v):
#        BROADSHEET_SMTP_URL=smtp://127.0.0.1:PORT?tls=none \
#        BROADSHEET_SMTP_CONNECTIONS=CONNECTIONS broadsheet send --data-dir DIR
#      — the whole command, start-up and Redis included, as an admin runs it;
#   4. timed the same way:
#        smtp-source -d -s CONNECTIONS -l SIZE -m N -c 127.0.0.1:PORT
#      (-d: keep each session's connection for the next message; -s:
#      parallel sessions; -l: payload bytes, smtp-source adds ~150 bytes of
#      headers; -m: messages in all; -c: a running count);
# then runs the same send again (it must send nothing; its time is send's
# fixed cost: start-up, Redis, the job record), checks the work (send's
# summary says "sent N, failed 0"; the sink counted N more messages after
# each sender and none after the second send; nothing went to the Maildir;
# serve took no part in the send) and prints a table with the goals of
# issue 4: broadsheet ≥ 0.6 × smtp-source's msg/s, peak RSS ≤ 100 MB, and the
# RSS at the largest N within 1.2 × that at the smallest.
# Everything shares this machine's CPUs (nproc is printed): compare the
# ratio, not the absolute rates, across machines.
#
# Run from anywhere:   bash bench/send.sh
# Knobs (env):         N="20000 100000"   counts of subscribers (one fresh store each)
#                      CONNECTIONS=10     SMTP connections of both senders
#                      LIMIT=900          seconds the import, each send and smtp-source may
#                                         take before they are stopped (and the run fails)
#                      LOG_LEVEL=info     broadsheet send's log level
# Needs: go, curl, redis-server, smtp-sink and smtp-source (Debian package
# postfix), /usr/bin/time (package time); as root with apt-get, the script
# installs the last two when missing (postfix unconfigured, no daemon left
# running). Optional: redis-cli (cleanup after a hard kill).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-20000 100000} CONNECTIONS=${CONNECTIONS:-10} LIMIT=${LIMIT:-900} LOG_LEVEL=${LOG_LEVEL:-info}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for n in $N; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "N: \"$n\" is not a positive whole number"; done
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS: \"$CONNECTIONS\" is not a positive whole number"
[[ $LIMIT =~ ^[1-9][0-9]*$ ]] || die "LIMIT: \"$LIMIT\" is not a positive whole number of seconds"
need go curl redis-server timeout awk

# apt_install PACKAGE: only as root with apt-get; otherwise say what to do.
apt_install() {
  if ((EUID != 0)) || ! command -v apt-get >/dev/null; then
    die "$1 is needed: sudo apt-get install $1"
  fi
  echo "installing $1..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; } ||
    die "apt-get install $1 failed"
}
export PATH=$PATH:/usr/sbin:/sbin
if ! command -v smtp-sink >/dev/null || ! command -v smtp-source >/dev/null; then
  postfix_was_running=0
  pgrep -x master >/dev/null 2>&1 && postfix_was_running=1
  # "No configuration": no main.cf, so the package starts no mail server.
  command -v debconf-set-selections >/dev/null &&
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt_install postfix
  if ((!postfix_was_running)) && pgrep -x master >/dev/null 2>&1; then
    echo "stopping the postfix daemon the package started..." >&2
    postfix stop >/dev/null 2>&1 || true
  fi
  if ! command -v smtp-sink >/dev/null || ! command -v smtp-source >/dev/null; then
    die "postfix installed no smtp-sink/smtp-source"
  fi
fi
/usr/bin/time -v true >/dev/null 2>&1 || apt_install time
/usr/bin/time -v true >/dev/null 2>&1 || die "/usr/bin/time -v does not work"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bssend.XXXXXX")
bs_pid='' sink_pid='' job_pid='' data=''

# stop_all: the timed job, serve (and its Redis), then the sink.
stop_all() {
  # timeout passes the SIGTERM on to its whole process group (time and the
  # command it measures), and SIGKILLs it 10 s later.
  stop "$job_pid"
  job_pid=''
  stop_serve "$data"
  stop "$sink_pid"
  sink_pid=''
}
cleanup() {
  set +e
  stop_all
  rm -rf "$tmp"
}
on_exit cleanup

# sink_count: messages smtp-sink has received so far (its -c counters, which
# it rewrites in place with CRs: "sess=… quit=… mesg=…").
sink_count() {
  local c
  c=$(tr '\r' '\n' <"$sink_log" | grep -o 'mesg=[0-9]*' | tail -n 1 | cut -d= -f2)
  echo "${c:-0}"
}
# wait_sink WANT: smtp-sink updates its counters as it reads; give it a second.
wait_sink() {
  for _ in {1..20}; do (($(sink_count) >= $1)) && break; sleep 0.05; done
  sink_count
}
# timed NAME COMMAND…: runs COMMAND under timeout LIMIT and /usr/bin/time -v,
# output in $tmp/NAME.out and NAME.err, time's report in NAME.time; in the
# background, so that a signal to this script is acted on at once. Sets rc
# (124: LIMIT reached) and secs (wall clock).
timed() {
  local name=$1 start end
  shift
  start=$(date +%s.%N)
  timeout -k 10 "$LIMIT" /usr/bin/time -v -o "$tmp/$name.time" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  job_pid=$!
  rc=0
  wait "$job_pid" || rc=$?
  job_pid=''
  end=$(date +%s.%N)
  secs=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
}
# peak_rss FILE: "Maximum resident set size" from time -v, in MiB.
peak_rss() { awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }

build_broadsheet "$tmp/broadsheet" >&2
bs=$tmp/broadsheet
unset BROADSHEET_REDIS_URL BROADSHEET_SMTP_URL BROADSHEET_SMTP_URL_FILE BROADSHEET_DATA_DIR BROADSHEET_SEND_RATE \
  BROADSHEET_SMTP_CONNECTIONS BROADSHEET_DKIM_KEY_FILE BROADSHEET_TEMPLATES_DIR BROADSHEET_SOURCE
export BROADSHEET_POSTAL_ADDRESS='Daily Brief, 1 Example Street, Springfield' # as a real sender's mail has
sink_user=()
((EUID == 0)) && sink_user=(-u "$(id -un)") # smtp-sink refuses to run as root without -u

results=() rss_list=() ratios=()
for n in $N; do
  # 1. the sink
  sink_port=$(free_port)
  sink_log=$tmp/sink-$n.log
  smtp-sink -c "${sink_user[@]}" "127.0.0.1:$sink_port" 1000 >"$sink_log" 2>&1 &
  sink_pid=$!
  wait_until "$sink_pid" smtp-sink "$sink_log" "it listened on 127.0.0.1:$sink_port" listening "$sink_port"
  smtp_url="smtp://127.0.0.1:$sink_port?tls=none"

  # 2. serve (for its Redis), subscribers, the edition
  data=$tmp/d$n
  port=$(free_port "$sink_port")
  export BROADSHEET_BASE_URL=http://127.0.0.1:$port/
  # serve gets the sink too: were it to take the job over, nothing would
  # go to its Maildir, and its log says so (checked below).
  BROADSHEET_SMTP_URL=$smtp_url start_serve "$bs" "$port" "$data" "$tmp/serve-$n.log"
  [[ -S $data/redis.sock ]] || die "no Redis socket at $data/redis.sock"

  csv=$tmp/subscribers-$n.csv
  awk -v n="$n" 'BEGIN {
    print "email,name,status"
    for (i = 1; i <= n; i++) printf "reader%06d@example.com,Reader %06d,active\n", i, i
  }' >"$csv"
  echo "importing $n subscribers..." >&2
  timed "import-$n" "$bs" subscribers import "$csv" --data-dir "$data" --log-level warn
  ((rc == 0)) || die "import of $n failed (exit $rc): $(cat "$tmp/import-$n.out" "$tmp/import-$n.err")"
  "$bs" build --data-dir "$data" --log-level warn >"$tmp/build-$n.out" 2>&1 || die "build failed: $(cat "$tmp/build-$n.out")"
  size=$("$bs" preview --data-dir "$data" --format eml --log-level warn | wc -c)
  ((size > 0)) || die "preview --format eml printed nothing"

  # 3. broadsheet send
  echo "broadsheet send to $n subscribers..." >&2
  sink0=$(sink_count)
  timed "send-$n" env BROADSHEET_SMTP_URL="$smtp_url" BROADSHEET_SMTP_CONNECTIONS="$CONNECTIONS" \
    "$bs" send --data-dir "$data" --log-level "$LOG_LEVEL"
  ((rc != 124)) || die "broadsheet send to $n took longer than LIMIT=${LIMIT}s"
  ((rc == 0)) || die "broadsheet send failed (exit $rc): $(tail -n 5 "$tmp/send-$n.out" "$tmp/send-$n.err")"
  bs_secs=$secs
  rss=$(peak_rss "$tmp/send-$n.time")
  sink1=$(wait_sink $((sink0 + n)))
  summary=$(grep -E ' — sent [0-9]+' "$tmp/send-$n.out" | tail -n 1 || true)

  # 3b. the same send again: it must send nothing; its time is send's fixed
  # cost (start-up, Redis, the job record) included in the figure above.
  timed "again-$n" env BROADSHEET_SMTP_URL="$smtp_url" "$bs" send --data-dir "$data" --log-level warn
  ((rc == 0)) || die "broadsheet send, again, failed (exit $rc): $(tail -n 5 "$tmp/again-$n.out" "$tmp/again-$n.err")"
  again_secs=$secs
  sleep 0.2
  sink_again=$(sink_count)
  again_said=$(tail -n 1 "$tmp/again-$n.out")

  # 4. smtp-source, same count, same size, same sink
  echo "smtp-source, $n messages of $size bytes..." >&2
  timed "source-$n" smtp-source -d -s "$CONNECTIONS" -l "$size" -m "$n" -c "127.0.0.1:$sink_port"
  ((rc != 124)) || die "smtp-source took longer than LIMIT=${LIMIT}s"
  ((rc == 0)) || die "smtp-source failed (exit $rc): $(tr '\r' '\n' <"$tmp/source-$n.out" | tail -n 5; cat "$tmp/source-$n.err")"
  src_secs=$secs
  sink2=$(wait_sink $((sink_again + n)))

  # 5. did they do the work?
  problems=''
  [[ $summary == *" — sent $n, failed 0 "* ]] || problems+=" send's summary is \"$summary\";"
  ((sink1 - sink0 == n)) || problems+=" the sink counted $((sink1 - sink0)) messages from broadsheet;"
  ((sink_again == sink1)) || problems+=" sending again delivered $((sink_again - sink1)) messages;"
  ((sink2 - sink_again == n)) || problems+=" the sink counted $((sink2 - sink_again)) messages from smtp-source;"
  mails=$(find "$data/outbox" -type f 2>/dev/null | wc -l)
  ((mails == 0)) || problems+=" $mails mails in the Maildir;"
  grep -q 'Taking over a send job' "$tmp/serve-$n.log" && problems+=" serve took the send job over;"
  # The http:// base URL warning is expected here (loopback, no TLS).
  warnings=$(grep -E 'level=(WARN|ERROR)' "$tmp/send-$n.err" | grep -v 'require an https one' || true)
  [[ -z $warnings ]] || problems+=" send logged: $(head -n 3 <<<"$warnings" | tr '\n' ' ');"
  log_lines=$(wc -l <"$tmp/send-$n.err")
  stop_all
  rm -rf "$data" "$csv"

  rss_list+=("$rss")
  results+=("$(awk -v n="$n" -v size="$size" -v bt="$bs_secs" -v rss="$rss" -v st="$src_secs" 'BEGIN {
      b = n / bt; s = n / st
      printf "%-8d %7d %9.2f %9.0f %9.1f %9.2f %9.0f %7.2f\n", n, size, bt, b, rss, st, s, b / s
    }')")
  results+=("         send said: ${summary:-nothing}; send's log: $log_lines line(s);
         sending again took ${again_secs}s and said: $again_said${problems:+; PROBLEMS:$problems}")
  ratios+=("$(awk -v bt="$bs_secs" -v st="$src_secs" 'BEGIN { printf "%.2f", st / bt }')")
done

echo
echo "nproc: $(nproc)   $(go version)   redis-server $(redis-server --version | awk '{ print $3 }')" \
  "  postfix $(dpkg-query -W -f '${Version}' postfix 2>/dev/null || echo '?')   connections: $CONNECTIONS"
echo "broadsheet send (wall clock of the command) vs smtp-source -d -s $CONNECTIONS -l SIZE -m N, both into one smtp-sink"
printf '%-8s %7s %9s %9s %9s %9s %9s %7s\n' N "SIZE B" "bs s" "bs msg/s" "RSS MiB" "src s" "src msg/s" ratio
printf '%s\n' "${results[@]}"
echo
echo "goals (issue 4):"
i=0
for n in $N; do
  awk -v n="$n" -v r="${ratios[$i]}" -v rss="${rss_list[$i]}" 'BEGIN {
    printf "  N=%-7d ratio %.2f ≥ 0.60: %s   peak RSS %.1f MiB (%.1f MB) ≤ 100 MB: %s\n", n, r, (r >= 0.6 ? "yes" : "NO"),
      rss, rss * 1.048576, (rss * 1.048576 <= 100 ? "yes" : "NO")
  }'
  i=$((i + 1))
done
if ((${#rss_list[@]} > 1)); then
  # the smallest and the largest N, whatever order N lists them in
  read -r lo_n lo_rss hi_n hi_rss < <(
    i=0
    for n in $N; do echo "$n ${rss_list[$i]}"; i=$((i + 1)); done |
      sort -n | awk 'NR == 1 { lo = $0 } { hi = $0 } END { print lo, hi }'
  )
  awk -v ln="$lo_n" -v lr="$lo_rss" -v hn="$hi_n" -v hr="$hi_rss" 'BEGIN {
    printf "  peak RSS at N=%d / at N=%d: %.2f ≤ 1.20: %s\n", hn, ln, hr / lr, (hr / lr <= 1.2 ? "yes" : "NO")
  }'
fi
