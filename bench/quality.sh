#!/usr/bin/env bash
# bench/quality.sh — text quality of the document processors against the tools a user would otherwise run:
#   PDF vs pdftotext (word F1 ≥ 0.98), DOCX vs pandoc -t plain (word recall ≥ 0.95),
#   PPTX vs python-pptx (titles and text ≥ 0.95, slide order exact).
# Results are printed and appended to bench/RESULTS.md as a dated section.
#
# Env: CORPUS (default: generated once with ../shared/bench/make-corpus.sh into
#      /var/tmp/depot-docs-corpus at SCALE 0.01), DEPOT (the binary with `extract` and `worker`;
#      default .build/release/depot, built if missing), RUNS (3, speed only).
exec "$(dirname "${BASH_SOURCE[0]}")/lib/docs_run.sh" quality quality.sh "$@"
