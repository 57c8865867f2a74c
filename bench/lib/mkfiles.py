#!/usr/bin/env python3
"""mkfiles.py DIR COUNT MIN_BYTES MAX_BYTES [PER_DIR]

Writes COUNT files of random content and random size in [MIN, MAX] under DIR, PER_DIR (100)
to a subfolder, named uniquely across the tree (d000/f0000000.bin ...) so a flat copy of them
cannot collide. Sizes come from a fixed seed (the same tree shape every run); contents are
os.urandom, so no two files deduplicate.
"""
import os
import random
import sys

if len(sys.argv) not in (5, 6):
    sys.exit(__doc__)
root, count, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
per_dir = int(sys.argv[5]) if len(sys.argv) == 6 else 100
rng = random.Random(20240229)
total = 0
for i in range(count):
    d = os.path.join(root, f"d{i // per_dir:03d}")
    if i % per_dir == 0:
        os.makedirs(d, exist_ok=True)
    size = rng.randint(lo, hi)
    with open(os.path.join(d, f"f{i:07d}.bin"), "wb") as f:
        f.write(os.urandom(size))
    total += size
print(total)
