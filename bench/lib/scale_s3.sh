# Sourced by bench/scale.sh: part s3 (see there). Expects DEPOT, WORK, LOG, LIB, REPO.
SIZE=${SIZE:-1073741824}
COUNT=${COUNT:-10000}
RUNS=${RUNS:-3}
command -v rclone >/dev/null || { echo "scale.sh: rclone missing (apt-get install rclone)" >&2; exit 1; }
# Signatures unchecked: rclone's listings (delimiter=%2F) fail moto's check, which compares
# against the decoded query; both sides still sign every request.
MOTO_PID=$(python3 "$LIB/s3_server.py" "$WORK" unchecked)
trap 'kill "$MOTO_PID" 2>/dev/null || true; cleanup_work' EXIT
ENDPOINT=$(cat "$WORK/endpoint")
KEY=$(sed -n 's/^aws_access_key_id = //p' "$WORK/credentials")
SECRET=$(sed -n 's/^aws_secret_access_key = //p' "$WORK/credentials")
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other RCLONE_CONFIG_BENCH_ENDPOINT=$ENDPOINT \
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$KEY RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$SECRET \
  RCLONE_CONFIG_BENCH_REGION=us-east-1 RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true
# rclone reads AWS_CA_BUNDLE and fails over plain http when one is set; the server is http.
rc() { env -u AWS_CA_BUNDLE rclone "$@"; }
now() { date +%s.%N; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

echo "making the sources: $SIZE bytes, $COUNT small files..." >&2
mkdir -p "$WORK/big" "$WORK/small"
head -c "$SIZE" /dev/urandom > "$WORK/big/big.bin"
python3 "$LIB/mkfiles.py" "$WORK/small" "$COUNT" 4096 65536 >/dev/null

# depot_run NAME SOURCE: seconds of `depot ingest` (copy mode) of SOURCE into a fresh root whose
# blobs go to a fresh bucket.
depot_run() {
  local root=$WORK/root-$1 bucket=depot-$1
  rm -rf "$root"
  rc mkdir "bench:$bucket" >>"$LOG" 2>&1
  "$DEPOT" init "$root" >>"$LOG" 2>&1
  sed -i 's/^\[store\]$/[store]\nbackend = "s3"/' "$root/depot.toml"
  cat >> "$root/depot.toml" <<TOML

[store.s3]
endpoint = "$ENDPOINT"
bucket = "$bucket"
credentials_file = "$WORK/credentials"
prefix = "blobs-"
TOML
  local start end
  start=$(now)
  "$DEPOT" ingest --root "$root" --collection bench "$2" >>"$LOG" 2>&1
  end=$(now)
  python3 -c "print($end - $start)"
}
# rclone_run NAME SOURCE: seconds of `rclone copy` of SOURCE into a fresh bucket.
rclone_run() {
  local bucket=rclone-$1
  rc mkdir "bench:$bucket" >>"$LOG" 2>&1
  local start end
  start=$(now)
  rc copy "$2" "bench:$bucket/" >>"$LOG" 2>&1
  end=$(now)
  python3 -c "print($end - $start)"
}

for part in big small; do
  d=(); r=()
  for run in $(seq "$RUNS"); do
    d+=("$(depot_run "$part$run" "$WORK/$part")")
    r+=("$(rclone_run "$part$run" "$WORK/$part")")
    echo "$part run $run: depot ${d[-1]} s, rclone ${r[-1]} s" >&2
  done
  D=$(median "${d[@]}"); R=$(median "${r[@]}")
  echo "s3 $part: depot $D s, rclone $R s, rclone ÷ depot = $(python3 -c "print(round($R / $D, 3))")"
done
