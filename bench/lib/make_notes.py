#!/usr/bin/env python3
"""make_notes.py FOLDER COUNT — writes COUNT small Markdown notes (note-00000.md, …) into FOLDER:
the files bench/pipeline.sh and bench/stats.sh drop into a running depot."""
import sys

folder, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    with open(f"{folder}/note-{i:05d}.md", "w") as f:
        f.write(f"# Note {i}\n\nIntro paragraph for note {i}.\n\n## Details\n\n" + f"Line {i} of text. " * 20 + "\n\nSummary\n-------\n\nDone.\n")
