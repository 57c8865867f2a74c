#!/usr/bin/env bash
# bench/documents.sh — per-file processing time of depot's document processors vs the peer processes doing
#   the same job, in the same run: PDF (text + first-page thumbnail) vs pdftotext + pdftoppm (≤ 0.8×),
#   DOCX text vs pandoc -t plain (≤ 0.2×); both as one process per file and as one long-lived worker.
# Results are printed and appended to bench/RESULTS.md as a dated section.
#
# Env: CORPUS (default: generated once with ../shared/bench/make-corpus.sh into
#      /var/tmp/depot-docs-corpus at SCALE 0.01), DEPOT (the binary with `extract` and `worker`;
#      default .build/release/depot, built if missing), RUNS (3, speed only).
exec "$(dirname "${BASH_SOURCE[0]}")/lib/docs_run.sh" speed documents.sh "$@"
