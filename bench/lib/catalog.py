#!/usr/bin/env python3
"""Read-only look-ups in a depot catalog (ROOT/state/catalog.sqlite3), for the benchmarks.

Schema relied on (DepotStore): collections(id, name), documents(id, collection_id, path),
versions(document_id, size, source_mtime_ns, ingested_at_ns). The catalog is opened read-only
(`mode=ro`) so polling it never takes a write lock from the daemon.

CLI:  catalog.py count ROOT COLLECTION         -> number of versions in the collection
      catalog.py wait ROOT COLLECTION NAME [TIMEOUT_S]  -> waits until NAME is catalogued
"""
import os
import sqlite3
import sys
import time


def connect(root):
    """A read-only connection to ROOT's catalog, or None while the catalog does not exist yet."""
    path = os.path.join(root, "state", "catalog.sqlite3")
    if not os.path.exists(path):
        return None
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    con.execute("PRAGMA busy_timeout = 5000")
    return con


def ingested(con, collection):
    """{document path: earliest ingested_at_ns} for one collection."""
    rows = con.execute(
        """SELECT d.path, MIN(v.ingested_at_ns)
             FROM versions v JOIN documents d ON d.id = v.document_id
                             JOIN collections c ON c.id = d.collection_id
            WHERE c.name = ? GROUP BY d.path""", (collection,)).fetchall()
    # A path may be stored with or without a leading slash; key by the bare relative path.
    return {p.lstrip("/"): t for p, t in rows}


def count(root, collection):
    con = connect(root)
    if con is None:
        return 0
    try:
        return con.execute(
            """SELECT COUNT(*) FROM versions v JOIN documents d ON d.id = v.document_id
                 JOIN collections c ON c.id = d.collection_id WHERE c.name = ?""", (collection,)).fetchone()[0]
    finally:
        con.close()


def wait_for(root, collection, names, timeout, poll=0.005, on_poll=None):
    """Polls until every name in `names` is catalogued; returns {name: ingested_at_ns}.

    Raises TimeoutError naming what is missing. `on_poll` runs on every poll (e.g. an RSS sampler).
    """
    want = set(names)
    deadline = time.monotonic() + timeout
    found = {}
    con = None
    while True:
        if on_poll:
            on_poll()
        if con is None:
            con = connect(root)
        if con is not None:
            try:
                seen = ingested(con, collection)
            except sqlite3.OperationalError:
                seen = {}   # schema not created yet, or a busy moment: try again
            found = {n: seen[n] for n in want if n in seen}
            if len(found) == len(want):
                con.close()
                return found
        if time.monotonic() > deadline:
            missing = sorted(want - set(found))
            raise TimeoutError(f"{len(missing)} of {len(want)} not in the catalog after {timeout}s "
                               f"(first: {missing[:3]})")
        time.sleep(poll)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "count" and len(sys.argv) == 4:
        print(count(sys.argv[2], sys.argv[3]))
    elif cmd == "wait" and len(sys.argv) in (5, 6):
        t = float(sys.argv[5]) if len(sys.argv) == 6 else 600
        wait_for(sys.argv[2], sys.argv[3], [sys.argv[4]], t, poll=0.05)
    else:
        sys.exit(__doc__)
