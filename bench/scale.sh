#!/usr/bin/env bash
# bench/scale.sh — depot past one machine (issue 18). Parts (PARTS, default all there are):
#
#   queue) empty jobs leased and completed through the real job queue (`depot bench-queue`):
#       JOBS jobs drained by 1, 2, 4 worker processes (WORKERS), on PostgreSQL (a throw-away
#       cluster in the work folder, fsync on) and on SQLite (full durability).
#       figures: jobs/s each; per-job time PostgreSQL ÷ SQLite. Anchors, not run here: River
#       ~46k jobs/s (8 cores), graphile-worker ~183k jobs/s (batched).
#   s3) ingest into the S3 blob backend vs `rclone copy` (Debian's rclone) into the same bucket
#       of the same server: a) one file of SIZE bytes, b) COUNT files of 4–64 KiB.
#       figure: rclone's seconds ÷ depot's (≥ 1.0: depot at least as fast)      target ≥ 1.0
#       The server is moto's (PyPI moto[server], as in the tests): in memory, Python, one
#       process — it bounds both sides alike, so the ratio, not the rate, is the figure; it
#       runs with signature checks off (rclone's listings fail moto's check, see lib/s3_server.py).
#
# Env: SIZE (1 GiB), COUNT (10000), RUNS (3, median), JOBS (20000), WORKERS ("1 2 4"),
#      DEPOT (default .build/release/depot), PARTS ("queue s3"), KEEP=1 (keep the work folder).
# Quick run: SIZE=$((64<<20)) COUNT=500 RUNS=1 bench/scale.sh
set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
. "$BENCH/lib/common.sh"
LIB=$BENCH/lib
PARTS=${PARTS:-queue s3}
DEPOT=${DEPOT:-$REPO/.build/release/depot}
need_depot
make_work depot-scale
want() { [[ " $PARTS " == *" $1 "* ]]; }

if want queue; then
  ( . "$LIB/scale_queue.sh" )
fi
if want s3; then
  . "$LIB/scale_s3.sh"
fi
