# Sourced by bench/ingest.sh and bench/pipeline.sh: the release binary and a work folder.
# Expects REPO and DEPOT to be set.

# Builds the release binary when DEPOT does not exist yet; makes DEPOT absolute.
need_depot() {
  if [ ! -x "$DEPOT" ]; then
    echo "building depot (release)..." >&2
    (cd "$REPO" && swift build -c release --product depot >&2)
  fi
  DEPOT=$(cd "$(dirname "$DEPOT")" && pwd)/$(basename "$DEPOT")
}

# make_work NAME: WORK=/var/tmp/NAME.XXXXXX and LOG=$WORK/depot.log; at exit the `depot serve`
# in SERVE_PID (if any) is stopped and WORK removed (KEEP=1 keeps it).
make_work() {
  WORK=$(mktemp -d "/var/tmp/$1.XXXXXX")
  SERVE_PID=
  LOG=$WORK/depot.log
  trap cleanup_work EXIT
  echo "work folder: $WORK (depot's stderr: $LOG)" >&2
}

cleanup_work() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
