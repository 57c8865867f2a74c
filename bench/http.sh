#!/usr/bin/env bash
# bench/http.sh — depot's HTTP server against nginx + secure_link on the same files, same run.
#
#   a) 1 GiB download through a signed link (curl -> /dev/null, hyperfine, warm cache):
#      depot MB/s ÷ nginx MB/s                                                 target ≥ 0.9
#   b) 100 KiB file through a signed link, wrk -t2 -c64 -d10s --latency (WRK_RUNS runs, median):
#      depot requests/s ÷ nginx requests/s, p99 recorded                       target ≥ 0.6
#   c) RSS of `depot serve` holding 1,000 idle open connections                 target ≤ 150 MiB
# nginx is measured by the shared peer script (../shared/bench/peer-nginx.sh: its exact config
# and commands) on the same two files. Figures are appended to bench/RESULTS.md.
#
# Env: DEPOT (default .build-http/release/depot, built if missing), RUNS (5), WRK_RUNS (3),
#      WRK_DURATION (10s), IDLE (1000), KEEP=1 keeps the work folder.
set -euo pipefail
export LC_ALL=C
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
SHARED=$REPO/../shared/bench
DEPOT=${DEPOT:-$REPO/.build-http/release/depot}
export RUNS=${RUNS:-5} WRK_RUNS=${WRK_RUNS:-3} WRK_DURATION=${WRK_DURATION:-10s}
IDLE=${IDLE:-1000}
PORT_DEPOT=${PORT_DEPOT:-8091}
COMMAND_LINE="RUNS=$RUNS WRK_RUNS=$WRK_RUNS WRK_DURATION=$WRK_DURATION IDLE=$IDLE bench/http.sh"
die() { echo "http.sh: $*" >&2; exit 1; }

for t in nginx wrk hyperfine curl openssl python3; do command -v "$t" >/dev/null || "$SHARED/install-peers.sh" >&2; done
[ -x "$DEPOT" ] || (cd "$REPO" && swift build -c release --scratch-path .build-http --product depot)

BASE=$(mktemp -d /var/tmp/depot-http-bench.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'kill "${DEPOT_PID:-0}" 2>/dev/null || true; rm -rf "$BASE"' EXIT
# A corpus of just the two files the peer script serves (its MANIFEST.tsv may be empty).
export CORPUS=$BASE/corpus WORK=$BASE/work RESULTS=$BASE/results
mkdir -p "$CORPUS/large" "$CORPUS/text" "$WORK" "$RESULTS"
printf 'path\ttype\tbytes\tsha256\trole\n' > "$CORPUS/MANIFEST.tsv"
openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 \
  -in <(head -c 1073741824 /dev/zero) > "$CORPUS/large/random.bin"
# base64 of the first 80 KiB (~108 KiB of text), cut to 100 KiB: no early-closing pipe (pipefail).
head -c 81920 "$CORPUS/large/random.bin" | base64 -w 100 > "$CORPUS/text/book-100k.txt"
truncate -s 102400 "$CORPUS/text/book-100k.txt"
chmod -R a+rX "$BASE"

# --- nginx (the peer), measured first --------------------------------------------------------
bash "$SHARED/peer-nginx.sh" > "$BASE/nginx.out"
NGINX_MD=$RESULTS/nginx.md

# --- depot ------------------------------------------------------------------------------------
ROOT=$BASE/root
"$DEPOT" init "$ROOT" > /dev/null
python3 - "$ROOT/depot.toml" "$PORT_DEPOT" <<'PY'
import re, sys
path, port = sys.argv[1], sys.argv[2]
text = open(path).read()
# The benchmark's own client is one IP at line rate: lift the per-client limits (the
# token-bucket code still runs) and let idle connections stay open through the RSS probe.
for key, value in {"port": port, "download_rate": "1000000", "download_burst": "1000000",
                   "header_timeout": '"120s"', "idle_timeout": '"120s"', "max_connections": "4096"}.items():
    text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text, count=1)
open(path, "w").write(text)
PY
"$DEPOT" ingest --root "$ROOT" --collection bench "$CORPUS/large/random.bin" "$CORPUS/text/book-100k.txt" > /dev/null
"$DEPOT" serve --root "$ROOT" 2> "$BASE/depot.log" &
DEPOT_PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT_DEPOT/healthz" && break; sleep 0.1; done
BIG_URL=$("$DEPOT" link --root "$ROOT" bench/random.bin --expires 2h)
SMALL_URL=$("$DEPOT" link --root "$ROOT" bench/book-100k.txt --expires 2h)
[ "$(curl -s -o /dev/null -w '%{http_code}' "$SMALL_URL")" = 200 ] || die "depot link did not give 200 ($SMALL_URL)"

# The same guard the peer script puts around nginx's runs (../shared/bench/lib/common.sh): wait
# until the machine is idle, retry a run that other processes took CPU from. depot and its
# worker processes count as ours.
HTTP_BENCH=$BENCH
# shellcheck source=../../shared/bench/lib/common.sh
source "$SHARED/lib/common.sh"
BENCH=$HTTP_BENCH
our_extra_pids() { echo "$DEPOT_PID"; pgrep -P "$DEPOT_PID" || true; }
find "$ROOT/store" -type f -exec cat {} + > /dev/null   # warm cache, as the peer does
hf depot-download --warmup 1 --runs "$RUNS" -n "curl signed link 1GiB -> /dev/null" "curl -sf -o /dev/null '$BIG_URL'"
cp "$RESULTS/depot-download.json" "$BASE/depot-download.json"
: > "$BASE/depot-wrk.txt"
for i in $(seq "$WRK_RUNS"); do
  checked "depot-wrk-$i" bash -c 'wrk -t2 -c64 -d"$1" --latency "$2" > "$3"' _ "$WRK_DURATION" "$SMALL_URL" "$WORK/depot-wrk.out"
  cat "$WORK/depot-wrk.out" >&2
  { cat "$WORK/depot-wrk.out"; echo "foreign_cpu_pct: $(cat "$RESULTS/depot-wrk-$i.foreign")"; echo "----"; } >> "$BASE/depot-wrk.txt"
done
read -r IDLE_RSS IDLE_FDS < <(python3 "$BENCH/lib/http_idle.py" 127.0.0.1 "$PORT_DEPOT" "$IDLE" "$DEPOT_PID")

# --- figures ----------------------------------------------------------------------------------
SECTION=$(python3 - "$BASE" "$NGINX_MD" "$IDLE_RSS" "$IDLE_FDS" "$IDLE" <<'PY'
import json, re, statistics, sys
base, nginx_md, idle_rss, idle_fds, idle = sys.argv[1:]
size = 1073741824
def wrk(text):
    runs = []
    for r in text.split("----"):
        rps = re.search(r"Requests/sec:\s+([\d.]+)", r)
        if not rps: continue
        lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", r, re.M))
        def ms(v):
            m = re.match(r"([\d.]+)(us|ms|s)", v); x = float(m.group(1))
            return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r)
        runs.append((float(rps.group(1)), ms(lat["50"]), ms(lat["99"]), int(non2xx.group(1)) if non2xx else 0))
    return runs
d = json.load(open(f"{base}/depot-download.json"))["results"][0]
depot_mbs = size / d["median"] / 1e6
nginx_text = open(nginx_md).read()
# The peer's table: "| ... | median s | ... MB/s |" — take its MB/s from its hyperfine JSON instead.
n = json.load(open(f"{base}/results/nginx-download.json"))["results"][0] if __import__("os").path.exists(f"{base}/results/nginx-download.json") else None
nginx_mbs = size / n["median"] / 1e6 if n else float("nan")
dw = wrk(open(f"{base}/depot-wrk.txt").read())
nw = wrk(open(f"{base}/results/nginx-wrk.txt").read())
drps, nrps = statistics.median(r[0] for r in dw), statistics.median(r[0] for r in nw)
dp99, np99 = statistics.median(r[2] for r in dw), statistics.median(r[2] for r in nw)
rss_mib = int(idle_rss) / 1024
ok = lambda b: "**met**" if b else "**missed**"
print(f"| figure | depot | nginx | ratio | target |")
print(f"|---|---:|---:|---:|---|")
print(f"| 1 GiB signed download, MB/s (median of hyperfine runs) | {depot_mbs:,.0f} | {nginx_mbs:,.0f} | {depot_mbs/nginx_mbs:.2f} | ≥ 0.9 {ok(depot_mbs/nginx_mbs >= 0.9)} |")
print(f"| 100 KiB signed link, wrk -t2 -c64 requests/s (median) | {drps:,.0f} | {nrps:,.0f} | {drps/nrps:.2f} | ≥ 0.6 {ok(drps/nrps >= 0.6)} |")
print(f"| 100 KiB p50 / p99 latency, ms (median) | {statistics.median(r[1] for r in dw):.2f} / {dp99:.2f} | {statistics.median(r[1] for r in nw):.2f} / {np99:.2f} | | recorded |")
print(f"| non-2xx responses during wrk (depot) | {sum(r[3] for r in dw)} | {sum(r[3] for r in nw)} | | 0 |")
print(f"| RSS of depot serve with {idle} idle connections from {(int(idle) + 199) // 200} client addresses, 200 each under the per-client cap of 256 ({idle_fds} fds open) | {rss_mib:.0f} MiB | | | ≤ 150 MiB {ok(rss_mib <= 150)} |")
PY
)
{
  echo
  echo "## HTTP — $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "\`$COMMAND_LINE\` ($(nproc) cores; other engineers' builds may have loaded the machine). depot: release build, \`depot serve\` on 127.0.0.1:$PORT_DEPOT, per-client rate limits lifted for the single benchmark client. nginx: \`../shared/bench/peer-nginx.sh\` (secure_link, sendfile on) on the same files in the same run."
  echo
  echo "$SECTION"
  echo
  foreign() { local f; for f; do printf '%s; ' "$(basename "$f" .foreign): $(cat "$f")"; done; }
  echo "<sub>CPU taken by other processes during the runs (of $(nproc) cores) — depot: $(foreign "$RESULTS"/depot-*.foreign)nginx: $(foreign "$RESULTS"/nginx-*.foreign)</sub>"
} | tee -a "$REPO/bench/RESULTS.md"
