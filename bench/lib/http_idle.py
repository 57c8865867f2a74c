#!/usr/bin/env python3
"""bench/lib/http_idle.py HOST PORT COUNT PID — open COUNT idle TCP connections to HOST:PORT,
wait until the server process PID has accepted them, print its VmRSS in KiB, close them."""
import socket, sys, time

host, port, count, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
socks = []
for _ in range(count):
    s = socket.create_connection((host, port))
    socks.append(s)
time.sleep(2)  # let the server accept and set up every connection

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

open_fds = len(__import__("os").listdir(f"/proc/{pid}/fd"))
print(rss(), open_fds)
for s in socks:
    s.close()
