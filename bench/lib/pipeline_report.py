#!/usr/bin/env python3
"""pipeline_report.py — reads a depot root's catalog (and depot's log) for bench/pipeline.sh.

  pipeline_report.py counts ROOT COLLECTION
      -> JSON {"state": count, ...} of the collection's jobs
  pipeline_report.py jobs ROOT COLLECTION
      -> JSON: overhead per job (finished - leased - processing time the worker reported),
         queue wait (leased - created) and processing time, medians and p90s in ms,
         and the first created / last finished wall clock (ns)
  pipeline_report.py replace LOG
      -> JSON: "worker ready" lines that carry since_crash_ms (crash -> replacement ready), in ms
"""
import json
import re
import sqlite3
import statistics
import sys


def connect(root):
    db = sqlite3.connect(f"file:{root}/state/catalog.sqlite3?mode=ro", uri=True, timeout=30)
    return db


def pct(values, p):
    values = sorted(values)
    if not values:
        return None
    k = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


def main():
    what = sys.argv[1]
    if what == "counts":
        db = connect(sys.argv[2])
        rows = db.execute("""SELECT j.state, count(*) FROM jobs j JOIN versions v ON v.id = j.version_id
                             JOIN documents d ON d.id = v.document_id JOIN collections c ON c.id = d.collection_id
                             WHERE c.name = ? GROUP BY j.state""", (sys.argv[3],)).fetchall()
        print(json.dumps(dict(rows)))
    elif what == "jobs":
        db = connect(sys.argv[2])
        rows = db.execute("""SELECT j.created_at_ns, j.started_at_ns, j.finished_at_ns, j.processing_ns FROM jobs j
                             JOIN versions v ON v.id = j.version_id JOIN documents d ON d.id = v.document_id
                             JOIN collections c ON c.id = d.collection_id
                             WHERE c.name = ? AND j.state = 'succeeded'""", (sys.argv[3],)).fetchall()
        overhead = [(f - s - p) / 1e6 for c, s, f, p in rows]
        wait = [(s - c) / 1e6 for c, s, f, p in rows]
        processing = [p / 1e6 for c, s, f, p in rows]
        print(json.dumps({
            "count": len(rows),
            "overhead_median_ms": statistics.median(overhead) if rows else None,
            "overhead_p90_ms": pct(overhead, 90),
            "wait_median_ms": statistics.median(wait) if rows else None,
            "processing_median_ms": statistics.median(processing) if rows else None,
            "first_created_ns": min(r[0] for r in rows) if rows else None,
            "last_finished_ns": max(r[2] for r in rows) if rows else None,
        }))
    elif what == "replace":
        values = [float(m.group(1)) for m in re.finditer(r'since_crash_ms="?([0-9.]+)', open(sys.argv[2]).read())]
        print(json.dumps({"count": len(values), "median_ms": statistics.median(values) if values else None,
                          "max_ms": max(values) if values else None}))
    else:
        sys.exit(__doc__)


main()
