#!/usr/bin/env bash
# bench/quality.sh — text quality of the document processors against the tools a user would otherwise run:
#   PDF vs pdftotext (word F1 ≥ 0.98), DOCX vs pandoc -t plain (word recall ≥ 0.95),
#   PPTX vs python-pptx (titles and text ≥ 0.95, slide order exact).
# Results are printed and appended to bench/RESULTS.md as a dated section.
#
# Env: CORPUS (default: generated once with ../shared/bench/make-corpus.sh into
#      /var/tmp/depot-docs-corpus at SCALE 0.01), DEPOT (the binary with `extract` and `worker`;
#      default .build/release/depot, built if missing), RUNS (3, speed only).
#
# SUITES=DIR (optional): instead, the public test suites in DIR, one folder each — pdf.js,
#      poi, python-docx, python-pptx, pandoc — with the issue-17 targets (PDF mean F1 ≥ 0.985
#      and none < 0.9; DOCX recall ≥ 0.995 and every python-docx heading; PPTX F1 ≥ 0.995).
#      Get them with git (any checkout will do; the figures name the commit you used):
#        git clone --depth 1 https://github.com/mozilla/pdf.js DIR/pdf.js     (test/pdfs)
#        git clone --depth 1 https://github.com/apache/poi DIR/poi            (test-data)
#        git clone --depth 1 https://github.com/python-openxml/python-docx DIR/python-docx
#        git clone --depth 1 https://github.com/scanny/python-pptx DIR/python-pptx
#        git clone --depth 1 https://github.com/jgm/pandoc DIR/pandoc         (test/docx, test/pptx)
#      Needs pdftotext, pandoc, python-docx and python-pptx (pip install python-docx python-pptx).
if [ -n "${SUITES:-}" ]; then
  set -euo pipefail
  REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  DEPOT=${DEPOT:-$REPO/.build/release/depot}
  # The references, named with what provides them, before any file is measured.
  for need in "pdftotext:poppler-utils" "pandoc:pandoc"; do
    command -v "${need%%:*}" > /dev/null || { echo "quality.sh: ${need%%:*} is missing (apt-get install ${need#*:})" >&2; exit 2; }
  done
  for module in docx pptx; do
    python3 -c "import $module" 2> /dev/null \
      || { echo "quality.sh: python's $module module is missing (pip install python-$module)" >&2; exit 2; }
  done
  [ -x "$DEPOT" ] || { echo "quality.sh: no depot binary at $DEPOT (set DEPOT, or build it)" >&2; exit 2; }
  WORK=$(mktemp -d /var/tmp/depot-suites-bench.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
  TABLE=$(python3 "$REPO/bench/lib/suites_quality.py" "$SUITES" "$DEPOT" "$WORK")
  SECTION="$(printf '\n## %s — documents quality on public suites\n\n`SUITES=%s bench/quality.sh`\n\ndepot %s; %s; %s.\n\n%s\n' \
    "$(date -u +%Y-%m-%dT%H:%MZ)" "$SUITES" "$(git -C "$REPO" rev-parse --short HEAD)" "$(pdftotext -v 2>&1 | head -1)" \
    "$(pandoc --version | head -1)" "$TABLE")"
  echo "$SECTION"
  echo "$SECTION" >> "$REPO/bench/RESULTS.md"
  exit 0
fi
exec "$(dirname "${BASH_SOURCE[0]}")/lib/docs_run.sh" quality quality.sh "$@"
