#!/usr/bin/env python3
"""timing.py --runs N [--prepare SHELL] [--log FILE] -- CMD [ARGS...]

Runs PREPARE (untimed, through bash) and then CMD (timed, wall clock), N times. Prints JSON
{"times": [s, ...], "median": s}. CMD's stdout goes to /dev/null and its stderr to FILE
(default: inherited). A failing PREPARE or CMD stops everything with its exit status.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

ap = argparse.ArgumentParser(usage=__doc__)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--prepare")
ap.add_argument("--log")
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
if not cmd:
    sys.exit(__doc__)
log = open(a.log, "ab") if a.log else None
times = []
for i in range(a.runs):
    if a.prepare:
        subprocess.run(["bash", "-c", a.prepare], check=True)
    t0 = time.perf_counter_ns()
    rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=log).returncode
    t1 = time.perf_counter_ns()
    if rc != 0:
        sys.exit(f"timing.py: run {i + 1} of {' '.join(cmd)} failed with status {rc}"
                 + (f" (stderr in {a.log})" if a.log else ""))
    times.append((t1 - t0) / 1e9)
    print(f"  run {i + 1}/{a.runs}: {times[-1]:.3f} s  ({cmd[0].rsplit('/', 1)[-1]})", file=sys.stderr)
print(json.dumps({"times": times, "median": statistics.median(times)}))
