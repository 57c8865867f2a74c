#!/usr/bin/env python3
"""timed.py CMD ARGS... — runs a command with its output to /dev/null; prints JSON: seconds
(wall clock), peak_kib (the child's peak resident set, ru_maxrss), status."""
import json
import resource
import subprocess
import sys
import time

start = time.monotonic()
status = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
seconds = time.monotonic() - start
print(json.dumps({"seconds": seconds, "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "status": status}))
