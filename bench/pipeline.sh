#!/usr/bin/env bash
# bench/pipeline.sh — depot's processing pipeline benchmark (issue 3).
#
#   a) COUNT small Markdown files dropped into a running `depot serve` at once (one rename of a
#      folder into the inbox) → every one stored, processed by the worker processes (and, when
#      the outbox part is present, published in outbox/): files/s from the drop to the last
#      job finished (and to the last manifest.json).
#   b) the queue's own overhead per job: finished − leased − the processing time the worker
#      measured around the processor call (lease, pipe round trip, storing the artifacts as
#      durable blobs, the final catalog transaction).                        target median ≤ 5 ms
#   c) CRASHES worker crash-and-replace cycles: a test processor crashes its worker (SIGSEGV);
#      time from the crash to the replacement worker's "ready" line.           target median ≤ 100 ms
# Results are printed and appended to bench/RESULTS.md as a dated section.
#
# Env: COUNT (1000), CRASHES (20), DEPOT (the binary; default .build/release/depot, built if
#      missing), KEEP=1 (keep the work folder).
set -euo pipefail
export LC_ALL=C
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
. "$BENCH/lib/common.sh"
LIB=$BENCH/lib
COUNT=${COUNT:-1000}
CRASHES=${CRASHES:-20}
DEPOT=${DEPOT:-$REPO/.build/release/depot}
COMMAND_LINE="$(printf '%q ' "COUNT=$COUNT" "CRASHES=$CRASHES" bench/pipeline.sh "$@")"
COMMAND_LINE=${COMMAND_LINE% }

die() { echo "pipeline.sh: $*" >&2; exit 1; }
calc() { python3 -c "print($1)"; }
verdict() { python3 -c "import sys; print('meets target' if $1 else 'MISSES target')"; }
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }

for t in python3 find; do command -v "$t" >/dev/null || die "missing $t"; done
python3 -c 'import sqlite3' 2>/dev/null || die "python3 lacks the sqlite3 module"
need_depot

make_work depot-pipeline
ROOT=$WORK/root

"$DEPOT" init "$ROOT" >>"$LOG" 2>&1 || die "depot init failed (see $LOG)"
python3 "$LIB/setconf.py" "$ROOT/depot.toml" inbox quiet_period '"0s"'
# Crash jobs should die at once rather than be retried; normal jobs never fail.
python3 "$LIB/setconf.py" "$ROOT/depot.toml" jobs max_attempts 1

# The test processors are enabled for part c only through the environment; they take nothing
# but files that start with "DEPOT-TEST-", so parts a and b run the real text processor.
DEPOT_TEST_PROCESSORS=1 "$DEPOT" serve --root "$ROOT" >>"$LOG" 2>&1 &
SERVE_PID=$!
sleep 1
kill -0 "$SERVE_PID" 2>/dev/null || die "depot serve exited at start (see $LOG)"

now_ns() { python3 -c 'import time; print(time.time_ns())'; }

# --- a) COUNT Markdown files at once ---------------------------------------------------------
echo "a) $COUNT Markdown files dropped at once" >&2
mkdir -p "$WORK/stage/bench"
python3 "$LIB/make_notes.py" "$WORK/stage/bench" "$COUNT"
T0=$(now_ns)
mv "$WORK/stage/bench" "$ROOT/inbox/bench"
DEADLINE=$(( $(date +%s) + 600 ))
while :; do
  C=$(python3 "$LIB/pipeline_report.py" counts "$ROOT" bench 2>/dev/null || echo '{}')
  DONE=$(python3 -c 'import json,sys; c=json.loads(sys.argv[1]); print(c.get("succeeded",0)+c.get("dead",0))' "$C")
  [ "$DONE" -ge "$COUNT" ] && break
  [ "$(date +%s)" -lt "$DEADLINE" ] || die "a) only $DONE of $COUNT jobs finished in 600 s"
  sleep 0.2
done
T1=$(now_ns)
SUCCEEDED=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("succeeded",0))' "$C")
[ "$SUCCEEDED" = "$COUNT" ] || die "a) $SUCCEEDED of $COUNT jobs succeeded: $C"
J=$(python3 "$LIB/pipeline_report.py" jobs "$ROOT" bench)
LAST=$(field "$J" last_finished_ns)
PROCESSED_RATE=$(calc "$COUNT / (($LAST - $T0) / 1e9)")
# The outbox (another part of issue 3) publishes each document; measured when it is there.
PUBLISHED_ROW=""
if [ -d "$ROOT/outbox/bench" ] || "$DEPOT" --help 2>/dev/null | grep -q outbox; then
  for _ in $(seq 1 300); do
    N=$(find "$ROOT/outbox/bench" -name manifest.json 2>/dev/null | wc -l)
    [ "$N" -ge "$COUNT" ] && break
    sleep 0.2
  done
  N=$(find "$ROOT/outbox/bench" -name manifest.json 2>/dev/null | wc -l)
  T2=$(now_ns)
  if [ "$N" -ge "$COUNT" ]; then
    PUBLISHED_ROW="| a) same, drop → last manifest.json in outbox/ (polled every 0.2 s) | $(printf '%.0f files/s' "$(calc "$COUNT / (($T2 - $T0) / 1e9)")") | – | – | – | measured |"
  else
    PUBLISHED_ROW="| a) same, published in outbox/ | $N of $COUNT manifests after 60 s | – | – | – | not measured |"
  fi
fi

# --- b) queue overhead per job ------------------------------------------------------------
OVER=$(field "$J" overhead_median_ms); OVER90=$(field "$J" overhead_p90_ms)
PROC=$(field "$J" processing_median_ms); WAIT=$(field "$J" wait_median_ms)

# --- c) crash-and-replace cycles -------------------------------------------------------------
echo "c) $CRASHES worker crashes" >&2
for i in $(seq 1 "$CRASHES"); do
  printf 'DEPOT-TEST-CRASH %d\n' "$i" > "$WORK/crash-$i.txt"
  mkdir -p "$ROOT/inbox/crash"
  mv "$WORK/crash-$i.txt" "$ROOT/inbox/crash/crash-$i.txt"
  for _ in $(seq 1 200); do
    C=$(python3 "$LIB/pipeline_report.py" counts "$ROOT" crash)
    [ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("dead",0))' "$C")" -ge "$i" ] && break
    sleep 0.05
  done
  sleep 0.3   # the replacement's "ready" is logged after the job is recorded dead
done
R=$(python3 "$LIB/pipeline_report.py" replace "$LOG")
REPLACE=$(field "$R" median_ms); REPLACE_MAX=$(field "$R" max_ms); REPLACED=$(field "$R" count)
[ -n "$REPLACE" ] || die "c) no replacement worker was logged (see $LOG)"
kill -0 "$SERVE_PID" 2>/dev/null || die "depot serve died during the crashes (see $LOG)"

stop() { kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=; }
stop

# --- report ------------------------------------------------------------------------------------
DATE=$(date -u +%Y-%m-%dT%H:%MZ)
REV=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(cd "$REPO" && [ -n "$(git status --porcelain 2>/dev/null)" ] && echo " (with uncommitted changes)" || true)
CORES=$(nproc)
FS="$(df -T "$WORK" | awk 'NR==2 {print $2}') on $(df "$WORK" | awk 'NR==2 {print $1}')"
REPORT=$(cat <<MD

## $DATE — pipeline

\`$COMMAND_LINE\`

depot $REV$DIRTY; $CORES cores, $(uname -r), $FS; \`[jobs.concurrency] documents = 2\` (the default), quiet_period 0s; one run.

| figure | depot | peer | ratio | target | |
|---|---:|---:|---:|---|---|
| a) $COUNT Markdown files dropped at once → all processed (text.txt + structure.json each), drop → last job finished | $(printf '%.0f files/s' "$PROCESSED_RATE") | – | – | – | measured |
${PUBLISHED_ROW:+$PUBLISHED_ROW
}| b) queue overhead per job: finished − leased − processor time, median (p90 $(printf '%.2f' "$OVER90") ms; processor median $(printf '%.2f' "$PROC") ms; queue wait median $(printf '%.0f' "$WAIT") ms) | $(printf '%.2f ms' "$OVER") | – | – | ≤ 5 ms | $(verdict "$OVER <= 5") |
| c) worker crash (SIGSEGV) → replacement ready, median of $REPLACED (max $(printf '%.1f' "$REPLACE_MAX") ms) | $(printf '%.1f ms' "$REPLACE") | – | – | ≤ 100 ms | $(verdict "$REPLACE <= 100") |
MD
)
echo "$REPORT"
echo "$REPORT" >> "$REPO/bench/RESULTS.md"
