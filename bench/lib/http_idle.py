#!/usr/bin/env python3
"""bench/lib/http_idle.py HOST PORT COUNT PID [PER_CLIENT] — open COUNT idle TCP connections to
HOST:PORT, wait until the server process PID has accepted them, print its VmRSS in KiB and its
open fds, close them.

depot caps the connections of one client address (http.max_connections_per_client, 256 by
default), so the connections come from several loopback addresses (127.0.0.2, 127.0.0.3, …;
all of 127.0.0.0/8 is local), PER_CLIENT (default 200) from each, as that many clients would
hold them. A connection the server refused (a 503 and a close) fails the run: the figure is
for COUNT connections held open, not fewer."""
import os, select, socket, sys, time

host, port, count, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
per_client = int(sys.argv[5]) if len(sys.argv) > 5 else 200
socks = []
for i in range(count):
    source = f"127.0.0.{2 + i // per_client}"
    s = socket.create_connection((host, port), source_address=(source, 0))
    socks.append(s)
time.sleep(2)  # let the server accept and set up every connection

# An idle connection the server kept has nothing to read; a refused one has its 503 (or EOF).
poller = select.poll()
for s in socks:
    poller.register(s, select.POLLIN)
readable = poller.poll(0)
if readable:
    sys.exit(f"http_idle: {len(readable)} of {count} connections were answered or closed by the server")

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

open_fds = len(os.listdir(f"/proc/{pid}/fd"))
print(rss(), open_fds)
for s in socks:
    s.close()
