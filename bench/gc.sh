#!/usr/bin/env bash
# bench/gc.sh — garbage collection and retention at scale (issue 14).
#
#   A catalog of VERSIONS versions (default 1,000,000) of DOCUMENTS documents (200,000) over
#   BLOBS small blobs (200,000), made through the store's own API (`depot bench-fill`: blobs
#   staged and committed by the blob store, versions recorded by the catalog, every 10th
#   document removed and purged so GC has garbage), then:
#     a) `depot gc --dry-run`: wall time and peak RSS.                    targets ≤ 60 s, ≤ 256 MiB
#     b) `depot retention plan` with keep_last = 2 (3 of 5 versions go): wall time, peak RSS.
#                                                                          targets ≤ 60 s, ≤ 256 MiB
#     c) ingest rate of FILES small files (`depot ingest`, durable) while `depot gc` runs in a
#        loop beside it (at nice 19, as `depot serve` runs it on a background-priority thread)
#        ÷ the rate of the same ingest alone, medians of RUNS.             target ≥ 0.9
# Results are printed and appended to bench/RESULTS.md as a dated section.
#
# Env: VERSIONS, BLOBS, DOCUMENTS, FILES (2000), RUNS (3), DEPOT (default .build/release/depot,
#      built if missing), KEEP=1 (keep the work folder), REUSE=DIR (a root an earlier run
#      filled, e.g. WORK/root kept with KEEP=1: moved in, the fill is skipped).
# Quick run: VERSIONS=50000 BLOBS=10000 DOCUMENTS=10000 FILES=300 bench/gc.sh
set -euo pipefail
export LC_ALL=C
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
. "$BENCH/lib/common.sh"
LIB=$BENCH/lib
VERSIONS=${VERSIONS:-1000000}
BLOBS=${BLOBS:-200000}
DOCUMENTS=${DOCUMENTS:-200000}
FILES=${FILES:-2000}
RUNS=${RUNS:-3}
DEPOT=${DEPOT:-$REPO/.build/release/depot}
COMMAND_LINE="$(printf '%q ' "VERSIONS=$VERSIONS" "BLOBS=$BLOBS" "DOCUMENTS=$DOCUMENTS" "FILES=$FILES" "RUNS=$RUNS" bench/gc.sh "$@")"
COMMAND_LINE=${COMMAND_LINE% }

die() { echo "gc.sh: $*" >&2; exit 1; }
for t in python3 nice; do command -v "$t" >/dev/null || die "missing $t"; done
need_depot
make_work depot-gc-bench
json() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, {"v": v}))' "$1" "$2"; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

ROOT=$WORK/root
if [ -n "${REUSE:-}" ]; then
  # REUSE=DIR: a root an earlier run filled (kept with KEEP=1), moved here instead of filled again.
  mv "$REUSE" "$ROOT"
  fill_s="reused"
else
"$DEPOT" init "$ROOT" >>"$LOG" 2>&1 || die "depot init failed (see $LOG)"
# The fixture only: its fsyncs are switched off (eatmydata) when available, so the fill takes
# minutes, not hours; nothing timed below runs under it.
FILL=()
command -v eatmydata >/dev/null && FILL=(eatmydata)
echo "filling: $VERSIONS versions, $DOCUMENTS documents, $BLOBS blobs..." >&2
fill_start=$(date +%s.%N)
"${FILL[@]}" "$DEPOT" bench-fill --root "$ROOT" --versions "$VERSIONS" --blobs "$BLOBS" --documents "$DOCUMENTS" 2>>"$LOG" \
  || die "bench-fill failed (see $LOG)"
fill_s=$(python3 -c "import time; print(round(time.time() - $fill_start, 1))")
fi
python3 "$LIB/setconf.py" "$ROOT/depot.toml" retention keep_last 2
sync

# a) and b): wall time and peak RSS, medians of RUNS (the page cache warm after the first).
gc_s=(); gc_kib=(); plan_s=(); plan_kib=()
for run in $(seq "$RUNS"); do
  r=$(python3 "$LIB/timed.py" "$DEPOT" gc --root "$ROOT" --dry-run)
  [ "$(json "$r" 'v["status"]')" = 0 ] || die "depot gc --dry-run failed"
  gc_s+=("$(json "$r" 'v["seconds"]')"); gc_kib+=("$(json "$r" 'v["peak_kib"]')")
  r=$(python3 "$LIB/timed.py" "$DEPOT" retention plan --root "$ROOT" --summary)
  [ "$(json "$r" 'v["status"]')" = 0 ] || die "depot retention plan failed"
  plan_s+=("$(json "$r" 'v["seconds"]')"); plan_kib+=("$(json "$r" 'v["peak_kib"]')")
done
report=$("$DEPOT" gc --root "$ROOT" --dry-run | tail -2 | tr '\n' ' ')
planned=$("$DEPOT" retention plan --root "$ROOT" --summary | tail -1)

# c) ingest alone vs ingest with GC looping beside it; a fresh set of files for every pass.
ingest_rate() {  # DIR COLLECTION → files/s
  local start end
  start=$(date +%s.%N)
  "$DEPOT" ingest --root "$ROOT" --collection "$2" "$1" >>"$LOG" 2>&1 || die "depot ingest failed (see $LOG)"
  end=$(date +%s.%N)
  python3 -c "print($FILES / ($end - $start))"
}
alone=(); beside=()
for run in $(seq "$RUNS"); do
  python3 "$LIB/mkfiles.py" "$WORK/alone$run" "$FILES" 512 8192 >/dev/null
  python3 "$LIB/mkfiles.py" "$WORK/beside$run" "$FILES" 512 8192 >/dev/null
  sync
  alone+=("$(ingest_rate "$WORK/alone$run" "alone$run")")
  # The loop stops when its flag goes, after the run in hand: no collector outlives its pass
  # (one left running would slow the next "alone" ingest and flatter the ratio).
  touch "$WORK/gc-loop"
  ( while [ -e "$WORK/gc-loop" ]; do nice -n 19 "$DEPOT" gc --root "$ROOT" >>"$LOG" 2>&1 || true; done ) &
  loop=$!
  sleep 1
  beside+=("$(ingest_rate "$WORK/beside$run" "beside$run")")
  rm -f "$WORK/gc-loop"
  wait "$loop"
done
"$DEPOT" verify --root "$ROOT" >>"$LOG" 2>&1 || die "depot verify found damage after the runs (see $LOG)"

gc_med=$(median "${gc_s[@]}"); gc_mib=$(python3 -c "print(round(max(${gc_kib[*]/%/,}0) / 1024, 1))")
plan_med=$(median "${plan_s[@]}"); plan_mib=$(python3 -c "print(round(max(${plan_kib[*]/%/,}0) / 1024, 1))")
alone_med=$(median "${alone[@]}"); beside_med=$(median "${beside[@]}")
ratio=$(python3 -c "print(round($beside_med / $alone_med, 3))")
verdict() { python3 -c "print('meets target' if $1 else 'MISSES target')"; }

rev=$(cd "$REPO" && git rev-parse --short HEAD)$( (cd "$REPO" && git diff --quiet HEAD) || echo " (with uncommitted changes)")
machine="$(nproc) cores, $(uname -r), $(df -T "$WORK" | awk 'NR==2 {print $2" on "$1}')"
text=$(cat <<TXT

## $(date -u +%Y-%m-%dT%H:%MZ) — gc

\`$COMMAND_LINE\`

depot $rev ($(basename "$DEPOT") at $DEPOT); $machine; medians of $RUNS runs; fill $fill_s s (under ${FILL[*]:-plain fsync}).

| figure | value | target | |
|---|---:|---|---|
| a) \`depot gc --dry-run\` over $VERSIONS versions / $BLOBS blobs | $(python3 -c "print(round($gc_med, 2))") s, peak RSS $gc_mib MiB | ≤ 60 s, ≤ 256 MiB | $(verdict "$gc_med <= 60 and $gc_mib <= 256") |
| b) \`depot retention plan\` (keep_last 2) | $(python3 -c "print(round($plan_med, 2))") s, peak RSS $plan_mib MiB | ≤ 60 s, ≤ 256 MiB | $(verdict "$plan_med <= 60 and $plan_mib <= 256") |
| c) ingest of $FILES files with \`depot gc\` looping ÷ alone | $ratio ($(python3 -c "print(round($beside_med))") / $(python3 -c "print(round($alone_med))") files/s) | ≥ 0.9 | $(verdict "$ratio >= 0.9") |

gc: $report
plan: $planned
TXT
)
echo "$text"
printf '%s\n' "$text" >>"$REPO/bench/RESULTS.md"
