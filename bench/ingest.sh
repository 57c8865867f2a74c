#!/usr/bin/env bash
# bench/ingest.sh — depot's ingest benchmark: each figure against a peer measured in the same run.
#
#   a) one big file, consume mode, same filesystem: `depot ingest --move` ÷ `openssl dgst -sha256`
#      (both warm cache, `sync` first, median of RUNS).                               target ≤ 1.15
#   b) COUNT files of 4–64 KiB, copy mode, durable: depot files/s ÷ files/s of a per-file
#      `sha256sum` + `cp` shell pipeline (ending in one `sync -f`, so both sides are durable). target ≥ 1.0
#   c) DROPS small files dropped one by one into ROOT/inbox/bench/ while `depot serve` runs with
#      quiet_period 0: latency close(2) → catalog commit, p50 and p99.  targets p50 ≤ 20 ms, p99 ≤ 100 ms
#   d) peak RSS (VmHWM) of `depot serve` while it ingests the big file dropped into its inbox.
#                                                                                     target ≤ 64 MiB
# Results are printed and appended to bench/RESULTS.md as a dated section.
#
# Env: SIZE (bytes of the big file, default 1 GiB), COUNT (10000), DROPS (1000), RUNS (3),
#      DEPOT (the binary; default .build/release/depot, built if missing), ONLY (e.g. "a b":
#      run only those parts), KEEP=1 (keep the work folder).
# Quick run: SIZE=$((64<<20)) COUNT=500 DROPS=100 bench/ingest.sh
set -euo pipefail
export LC_ALL=C
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
. "$BENCH/lib/common.sh"
LIB=$BENCH/lib
SIZE=${SIZE:-1073741824}
COUNT=${COUNT:-10000}
DROPS=${DROPS:-1000}
RUNS=${RUNS:-3}
ONLY=${ONLY:-a b c d}
DEPOT=${DEPOT:-$REPO/.build/release/depot}
COMMAND_LINE="$(printf '%q ' "SIZE=$SIZE" "COUNT=$COUNT" "DROPS=$DROPS" "RUNS=$RUNS" "ONLY=$ONLY" bench/ingest.sh "$@")"
COMMAND_LINE=${COMMAND_LINE% }

die() { echo "ingest.sh: $*" >&2; exit 1; }
want() { [[ " $ONLY " == *" $1 "* ]]; }

# --- tools ----------------------------------------------------------------------------------
if ! command -v openssl >/dev/null || ! command -v sha256sum >/dev/null; then
  # The shared peer installer is the one place peers come from (Debian packages, versions recorded).
  "$REPO/../shared/bench/install-peers.sh" >&2
fi
for t in openssl sha256sum python3 xargs find sync; do command -v "$t" >/dev/null || die "missing $t"; done
python3 -c 'import sqlite3' 2>/dev/null || die "python3 lacks the sqlite3 module"
need_depot

# --- work folder: one filesystem for sources, inbox and store (a move is a rename) ----------
make_work depot-bench

json() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, {"v": v}))' "$1" "$2"; }
calc() { python3 -c "print($1)"; }
verdict() { python3 -c "import sys; print('meets target' if $1 else 'MISSES target')"; }

# fresh_root DIR [QUIET]: a new depot root; QUIET rewrites [inbox] quiet_period in its depot.toml.
fresh_root() {
  rm -rf "$1"
  "$DEPOT" init "$1" >>"$LOG" 2>&1 || die "depot init $1 failed (see $LOG)"
  [ -f "$1/depot.toml" ] || die "depot init wrote no $1/depot.toml"
  [ -z "${2:-}" ] || python3 "$LIB/setconf.py" "$1/depot.toml" inbox quiet_period "\"$2\""
}

# start_serve ROOT: runs `depot serve` in the background; sets SERVE_PID.
start_serve() {
  "$DEPOT" serve --root "$1" >>"$LOG" 2>&1 &
  SERVE_PID=$!
  sleep 0.5
  kill -0 "$SERVE_PID" 2>/dev/null || die "depot serve exited at start (see $LOG)"
}
stop_serve() {
  kill "$SERVE_PID"
  wait "$SERVE_PID" 2>/dev/null || true
  SERVE_PID=
}

FS="$(df -T "$WORK" | awk 'NR==2 {print $2}') on $(df "$WORK" | awk 'NR==2 {print $1}')"
declare -A ROW

# --- a) big file: depot ingest --move vs openssl dgst -sha256 ---------------------------------
if want a || want d; then
  echo "making a $SIZE-byte file of random bytes..." >&2
  head -c "$SIZE" /dev/urandom > "$WORK/big.bin"
fi
if want a; then
  echo "a) one $SIZE-byte file" >&2
  PEER=$(python3 "$LIB/timing.py" --runs "$RUNS" \
    --prepare "cat '$WORK/big.bin' > /dev/null; sync" \
    -- openssl dgst -sha256 "$WORK/big.bin")
  mkdir -p "$WORK/src"
  # Each run ingests a fresh copy into a fresh root (a second ingest of the same bytes would
  # only deduplicate). The copy is read once (warm cache) and synced, as the peer's file is.
  DEP=$(python3 "$LIB/timing.py" --runs "$RUNS" --log "$LOG" \
    --prepare "$(declare -f die fresh_root); DEPOT='$DEPOT' LOG='$LOG' LIB='$LIB'; fresh_root '$WORK/ra'; rm -f '$WORK/src/big.bin'; cp --reflink=never '$WORK/big.bin' '$WORK/src/big.bin'; cat '$WORK/src/big.bin' > /dev/null; sync" \
    -- "$DEPOT" ingest --root "$WORK/ra" --collection bench --move "$WORK/src/big.bin")
  [ ! -e "$WORK/src/big.bin" ] || die "a) depot ingest --move left the source in place"
  [ "$(python3 "$LIB/catalog.py" count "$WORK/ra" bench)" = 1 ] || die "a) the big file is not in the catalog"
  P=$(json "$PEER" 'v["median"]'); D=$(json "$DEP" 'v["median"]')
  R=$(calc "$D / $P")
  ROW[a]="| a) $SIZE B file, \`depot ingest --move\` vs \`openssl dgst -sha256\` (time ratio) | $(printf '%.3f s' "$D") | $(printf '%.3f s' "$P") | **$(printf '%.3f' "$R")** | ≤ 1.15 | $(verdict "$R <= 1.15") |"
  rm -rf "$WORK/ra"
fi

# --- b) many small files: depot ingest (copy, durable) vs sha256sum + cp per file ----------------
if want b; then
  echo "b) $COUNT files of 4–64 KiB" >&2
  BYTES=$(python3 "$LIB/mkfiles.py" "$WORK/small" "$COUNT" 4096 65536)
  # The peer as written in the brief; the final `sync -f` makes its copies as durable as
  # depot's (which fsyncs before it commits), at the cost of one filesystem flush.
  PEER=$(python3 "$LIB/timing.py" --runs "$RUNS" \
    --prepare "rm -rf '$WORK/dest'; mkdir '$WORK/dest'; find '$WORK/small' -type f -exec cat {} + > /dev/null; sync" \
    -- bash -c 'find "$1" -type f -print0 | xargs -0 -n1 sh -c '\''sha256sum "$1" >/dev/null; cp "$1" "$0"/'\'' "$2" && sync -f "$2"' \
       _ "$WORK/small" "$WORK/dest")
  [ "$(find "$WORK/dest" -type f | wc -l)" = "$COUNT" ] || die "b) the peer did not copy $COUNT files"
  rm -rf "$WORK/dest"
  DEP=$(python3 "$LIB/timing.py" --runs "$RUNS" --log "$LOG" \
    --prepare "$(declare -f die fresh_root); DEPOT='$DEPOT' LOG='$LOG' LIB='$LIB'; fresh_root '$WORK/rb'; find '$WORK/small' -type f -exec cat {} + > /dev/null; sync" \
    -- "$DEPOT" ingest --root "$WORK/rb" --collection bench "$WORK/small")
  N=$(python3 "$LIB/catalog.py" count "$WORK/rb" bench)
  [ "$N" = "$COUNT" ] || die "b) the catalog holds $N versions, not $COUNT"
  [ "$(find "$WORK/small" -type f | wc -l)" = "$COUNT" ] || die "b) copy mode removed source files"
  P=$(json "$PEER" "$COUNT / v['median']"); D=$(json "$DEP" "$COUNT / v['median']")
  R=$(calc "$D / $P")
  ROW[b]="| b) $COUNT files 4–64 KiB ($BYTES B), \`depot ingest\` (copy, durable) vs \`sha256sum\`+\`cp\` per file, \`sync -f\` (files/s ratio) | $(printf '%.0f files/s' "$D") | $(printf '%.0f files/s' "$P") | **$(printf '%.3f' "$R")** | ≥ 1.0 | $(verdict "$R >= 1.0") |"
  rm -rf "$WORK/rb" "$WORK/small"
fi

# --- c) latency from close to catalog commit under `depot serve` ----------------------------------
if want c; then
  echo "c) $DROPS files dropped one by one into a running depot serve (quiet_period 0s)" >&2
  fresh_root "$WORK/rc" 0s
  mkdir -p "$WORK/rc/inbox/bench"
  start_serve "$WORK/rc"
  LAT=$(python3 "$LIB/droplat.py" "$WORK/rc" bench "$DROPS" 0.01 300) || die "c) latency run failed (see $LOG)"
  stop_serve
  P50=$(json "$LAT" 'v["p50_ms"]'); P99=$(json "$LAT" 'v["p99_ms"]')
  [ "$(json "$LAT" 'v["negative"]')" = 0 ] || echo "WARNING: negative latencies: clocks disagree" >&2
  ROW[c50]="| c) $DROPS drops into \`depot serve\`, close → catalog commit, p50 | $(printf '%.1f ms' "$P50") | – | – | ≤ 20 ms | $(verdict "$P50 <= 20") |"
  ROW[c99]="| c) same, p99 (max $(printf '%.1f' "$(json "$LAT" 'v["max_ms"]')") ms) | $(printf '%.1f ms' "$P99") | – | – | ≤ 100 ms | $(verdict "$P99 <= 100") |"
  rm -rf "$WORK/rc"
fi

# --- d) peak RSS of depot serve while it ingests the big file -------------------------------------
if want d; then
  echo "d) peak RSS of depot serve ingesting the $SIZE-byte file" >&2
  fresh_root "$WORK/rd" 0s
  mkdir -p "$WORK/rd/inbox/bench" "$WORK/stage"
  cp --reflink=never "$WORK/big.bin" "$WORK/stage/big.bin"
  sync
  start_serve "$WORK/rd"
  # Dropped by rename (IN_MOVED_TO), so the daemon sees a complete file at once.
  mv "$WORK/stage/big.bin" "$WORK/rd/inbox/bench/big.bin"
  RSS=$(python3 "$LIB/peakrss.py" "$SERVE_PID" "$WORK/rd" bench big.bin 600) || die "d) RSS run failed (see $LOG)"
  stop_serve
  KIB=$(json "$RSS" 'v["peak_kib"]')
  ROW[d]="| d) peak RSS (VmHWM) of \`depot serve\` ingesting the $SIZE B file | $(printf '%.1f MiB' "$(calc "$KIB / 1024")") | – | – | ≤ 64 MiB | $(verdict "$KIB <= 65536") |"
  rm -rf "$WORK/rd"
fi

# --- report ---------------------------------------------------------------------------------------
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
REPORT=$(
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) — ingest"
  echo
  echo "\`$COMMAND_LINE\`"
  echo
  echo "depot $COMMIT; $(nproc) cores, $(uname -r), $FS (work folder, inbox and store); medians of $RUNS runs; warm page cache, \`sync\` before each timed run."
  echo
  echo "| figure | depot | peer | ratio | target | |"
  echo "|---|---:|---:|---:|---|---|"
  for k in a b c50 c99 d; do [ -z "${ROW[$k]:-}" ] || echo "${ROW[$k]}"; done
  echo
)
echo "$REPORT"
[ -f "$BENCH/RESULTS.md" ] || printf '# Ingest benchmark results\n\nAppended by `bench/ingest.sh`; newest last.\n\n' > "$BENCH/RESULTS.md"
echo "$REPORT" >> "$BENCH/RESULTS.md"
echo "appended to bench/RESULTS.md" >&2
