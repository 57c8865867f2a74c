#!/usr/bin/env bash
# bench/checked-download.sh — what the hash check of whole downloads costs (issue 14).
#
# A blob not hashed by a download in the last 10 minutes is sent hashed on the way (4 MiB
# sendfile segments, each hashed first); later whole downloads go out with plain sendfile.
# This times, over a signed link on 127.0.0.1, the first download of a SIZE_MIB file (checked)
# and RUNS more (verified: the fast path), curl -> /dev/null, warm page cache.
#
# Env: DEPOT (default .build/release/depot), SIZE_MIB (256), RUNS (3), PORT (8197).
set -euo pipefail
export LC_ALL=C
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPOT=${DEPOT:-$REPO/.build/release/depot}
SIZE_MIB=${SIZE_MIB:-256} RUNS=${RUNS:-3} PORT=${PORT:-8197}
WORK=$(mktemp -d /var/tmp/depot-checked-download.XXXXXX)
trap 'kill "${PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$DEPOT" init "$WORK/root" > /dev/null
sed -i "s/^port = .*/port = $PORT/" "$WORK/root/depot.toml"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$WORK/big.bin"
"$DEPOT" ingest --root "$WORK/root" --collection bench "$WORK/big.bin" > /dev/null
"$DEPOT" serve --root "$WORK/root" > "$WORK/serve.log" 2>&1 & PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.1; done
URL=$("$DEPOT" link --root "$WORK/root" bench/big.bin)
speed() { curl -sf -o /dev/null -w '%{speed_download}' "$URL"; }
first=$(speed)
later=()
for _ in $(seq "$RUNS"); do later+=("$(speed)"); done
median=$(printf '%s\n' "${later[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
awk -v f="$first" -v m="$median" -v s="$SIZE_MIB" 'BEGIN {
  printf "%d MiB whole download: first (hashed on the way) %.0f MB/s, later (sendfile, median) %.0f MB/s, ratio %.2f\n", s, f/1e6, m/1e6, f/m }'
