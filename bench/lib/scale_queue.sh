# Sourced by bench/scale.sh: part queue (see there). Expects DEPOT, WORK, LOG, LIB.
JOBS=${JOBS:-20000}
WORKERS=${WORKERS:-"1 2 4"}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "scale.sh: PostgreSQL's server is missing (apt-get install postgresql)" >&2; exit 1; }

# A throw-away PostgreSQL cluster in the work folder, on a free port of 127.0.0.1, owned by
# nobody when we are root (initdb refuses root). Defaults kept: fsync and synchronous_commit
# on, as the SQLite queue's full durability.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }
chmod 755 "$WORK"
PG=$WORK/pg
mkdir -p "$PG"
[ "$(id -u)" = 0 ] && chown nobody "$PG"
as_pg "$PGBIN/initdb" -D "$PG/data" -U depot --auth=trust >>"$LOG" 2>&1
PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$PGBIN/pg_ctl" -D "$PG/data" -l "$PG/server.log" -w \
  -o "-p $PG_PORT -k $PG -c listen_addresses=127.0.0.1 -c max_connections=60" start >>"$LOG" 2>&1
stop_pg() { as_pg "$PGBIN/pg_ctl" -D "$PG/data" -m fast stop >>"$LOG" 2>&1 || true; }
trap stop_pg EXIT  # (a subshell of scale.sh: the work folder goes at its end)

# queue_run BACKEND N: jobs/s of N `depot bench-queue drain` processes emptying a queue of JOBS
# empty jobs, from the first start to the last end.
queue_run() {
  local root=$WORK/q-$1-$2
  "$DEPOT" init "$root" >>"$LOG" 2>&1
  if [ "$1" = postgres ]; then
    as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U depot "q$2" >>"$LOG" 2>&1
    python3 "$LIB/setconf.py" "$root/depot.toml" catalog url "\"postgres://depot@127.0.0.1:$PG_PORT/q$2\""
    "$DEPOT" init --config "$root/depot.toml" >>"$LOG" 2>&1
  fi
  "$DEPOT" bench-queue fill --root "$root" --jobs "$JOBS" >>"$LOG" 2>&1
  local start end pids=() i
  start=$(date +%s.%N)
  for i in $(seq "$2"); do
    "$DEPOT" bench-queue drain --root "$root" --owner "w$i" > "$root/drain-$i.out" 2>>"$LOG" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
  end=$(date +%s.%N)
  local done_jobs
  done_jobs=$(cat "$root"/drain-*.out | awk '{ s += $1 } END { print s }')
  [ "$done_jobs" = "$JOBS" ] || { echo "scale.sh: $done_jobs of $JOBS jobs done ($1, $2 workers)" >&2; exit 1; }
  local busy
  busy=$(cat "$root"/drain-*.out | awk '{ s += $3 } END { print s }')
  [ "$busy" = 0 ] || echo "queue $1, $2 workers: $busy transactions stayed busy and were run again" >&2
  python3 -c "print(round($JOBS / ($end - $start)))"
}

declare -A RATE
for backend in sqlite postgres; do
  for n in $WORKERS; do
    RATE[$backend-$n]=$(queue_run "$backend" "$n")
    echo "queue $backend, $n worker processes: ${RATE[$backend-$n]} jobs/s" >&2
  done
done
first=${WORKERS%% *}
for n in $WORKERS; do
  echo "queue $n workers: postgres ${RATE[postgres-$n]} jobs/s, sqlite ${RATE[sqlite-$n]} jobs/s," \
       "per-job time postgres ÷ sqlite = $(python3 -c "print(round(${RATE[sqlite-$n]} / ${RATE[postgres-$n]}, 2))")"
done
echo "queue postgres scaling ${WORKERS// / → }: $(for n in $WORKERS; do printf '%s ' "${RATE[postgres-$n]}"; done)jobs/s" \
     "(anchors, not run here: River ~46k jobs/s on 8 cores, graphile-worker ~183k jobs/s batched)"
