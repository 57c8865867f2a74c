#!/usr/bin/env python3
"""droplat.py ROOT COLLECTION COUNT [INTERVAL_S] [TIMEOUT_S] — drop-to-catalog latency of `depot serve`.

Writes COUNT small files one by one into ROOT/inbox/COLLECTION/ (INTERVAL_S apart, default
0.01), noting time.time_ns() right after each close(2); then waits until all are in the
catalog and prints JSON with ingested_at_ns - close_ns per file summarised (ms): p50, p90,
p99, max, mean. The daemon must already be running with a short quiet period.

One warm-up file is dropped and awaited first, so start-up (first scan, opening the catalog)
is not counted as latency.
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catalog  # noqa: E402


def percentile(sorted_values, p):
    """Nearest-rank percentile (the smallest value with at least p% of values at or below it)."""
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[k]


def drop(folder, name, size):
    """Writes one file and returns the wall clock (ns) right after its close."""
    with open(os.path.join(folder, name), "wb") as f:
        f.write(os.urandom(size))
    return time.time_ns()


def main():
    if len(sys.argv) not in (4, 5, 6):
        sys.exit(__doc__)
    root, collection, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 0.01
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 120
    folder = os.path.join(root, "inbox", collection)
    os.makedirs(folder, exist_ok=True)

    drop(folder, "warmup.bin", 1024)
    catalog.wait_for(root, collection, ["warmup.bin"], 60, poll=0.02)

    closed = {}
    for i in range(count):
        name = f"lat{i:05d}.bin"
        closed[name] = drop(folder, name, 1024 + (i * 7919) % 7168)   # 1–8 KiB
        time.sleep(interval)
    ingested = catalog.wait_for(root, collection, list(closed), timeout, poll=0.02)

    lat = sorted((ingested[n] - closed[n]) / 1e6 for n in closed)
    result = {
        "files": count,
        "p50_ms": percentile(lat, 50),
        "p90_ms": percentile(lat, 90),
        "p99_ms": percentile(lat, 99),
        "max_ms": lat[-1],
        "min_ms": lat[0],
        "mean_ms": statistics.fmean(lat),
        # A negative latency would mean the daemon's clock and ours disagree: the figure is void.
        "negative": sum(1 for x in lat if x < 0),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
