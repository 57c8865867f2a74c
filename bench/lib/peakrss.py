#!/usr/bin/env python3
"""peakrss.py PID ROOT COLLECTION NAME [TIMEOUT_S] — peak RSS of a daemon while it ingests NAME.

Samples VmHWM (the kernel's high-water mark of resident memory) from /proc/PID/status on
every catalog poll until NAME appears in the catalog, and prints JSON: peak_kib (VmHWM at the
end; it never decreases), seconds_until_catalogued (from this script's start). Polling also keeps the last
reading should the process exit before it is caught.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catalog  # noqa: E402


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    pid, root, collection, name = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 600
    peak = [vm_hwm_kib(pid)]

    def sample():
        try:
            peak[0] = max(peak[0], vm_hwm_kib(pid))
        except FileNotFoundError:
            raise RuntimeError(f"process {pid} exited while ingesting {name}")

    t0 = time.monotonic()
    catalog.wait_for(root, collection, [name], timeout, poll=0.05, on_poll=sample)
    seconds = time.monotonic() - t0
    sample()
    print(json.dumps({"peak_kib": peak[0], "seconds_until_catalogued": seconds}))


if __name__ == "__main__":
    main()
