#!/usr/bin/env python3
"""setconf.py FILE TABLE KEY VALUE — sets `KEY = VALUE` (VALUE as TOML, e.g. '"0s"') in [TABLE].

Replaces an existing (uncommented) KEY line in that table, else adds the line right after the
table header, else appends the table. Enough for the benchmark's edits of the depot.toml that
`depot init` writes; not a TOML parser.
"""
import re
import sys

if len(sys.argv) != 5:
    sys.exit(__doc__)
path, table, key, value = sys.argv[1:]
lines = open(path).read().splitlines()
current, header_at, done = None, None, False
for i, line in enumerate(lines):
    m = re.match(r"\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
    if m:
        current = m.group(1).strip()
        if current == table:
            header_at = i
        continue
    if current == table and re.match(rf"\s*{re.escape(key)}\s*=", line):
        lines[i] = f"{key} = {value}"
        done = True
        break
if not done:
    if header_at is not None:
        lines.insert(header_at + 1, f"{key} = {value}")
    else:
        lines += ["", f"[{table}]", f"{key} = {value}"]
open(path, "w").write("\n".join(lines) + "\n")
