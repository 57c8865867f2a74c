#!/usr/bin/env bash
# bench/documents.sh — per-file processing time of depot's document processors vs the peer processes doing
#   the same job, in the same run: PDF (text + first-page thumbnail) vs pdftotext + pdftoppm (≤ 0.8×),
#   DOCX text vs pandoc -t plain (≤ 0.2×); both as one process per file and as one long-lived worker.
# Results are printed and appended to bench/RESULTS.md as a dated section.
#
# Env: CORPUS (default: generated once with ../shared/bench/make-corpus.sh into
#      /var/tmp/depot-docs-corpus at SCALE 0.01), DEPOT (the binary with `extract` and `worker`;
#      default .build/release/depot, built if missing), RUNS (3, speed only).
set -euo pipefail
export LC_ALL=C.UTF-8
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
RUNS=${RUNS:-3}
CORPUS=${CORPUS:-/var/tmp/depot-docs-corpus}
DEPOT=${DEPOT:-$REPO/.build/release/depot}
COMMAND_LINE="$(printf '%q ' "CORPUS=$CORPUS" "RUNS=$RUNS" bench/documents.sh "$@")"

for t in pdftotext pdftoppm pandoc python3; do
  command -v "$t" >/dev/null || "$REPO/../shared/bench/install-peers.sh" >&2
done
python3 -c 'import pptx' 2>/dev/null || pip install -q python-pptx >&2
if [ ! -f "$CORPUS/MANIFEST.tsv" ]; then
  rm -rf "$CORPUS"
  "$REPO/../shared/bench/make-corpus.sh" "$CORPUS" 0.01 >&2
fi
if [ ! -x "$DEPOT" ]; then
  (cd "$REPO" && swift build -c release --product depot >&2)
fi
WORK=$(mktemp -d /var/tmp/depot-docs-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TABLE=$(python3 "$BENCH/lib/docs_bench.py" speed "$CORPUS" "$DEPOT" "$WORK" "$RUNS")
SECTION=$(cat <<END

## $(date -u +%Y-%m-%dT%H:%MZ) — documents speed

\`${COMMAND_LINE% }\`

depot $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'); $(nproc) cores; $(pdftotext -v 2>&1 | head -1); $(pandoc --version | head -1); python-pptx $(python3 -c 'import pptx; print(pptx.__version__)'); corpus $CORPUS.

$TABLE
END
)
echo "$SECTION"
echo "$SECTION" >> "$BENCH/RESULTS.md"
