#!/usr/bin/env bash
# bench/lib/docs_run.sh MODE SCRIPT [ARGS] — what bench/quality.sh (MODE quality) and
# bench/documents.sh (MODE speed) share: peers, corpus, the release binary, the report.
MODE=${1:?mode}; SCRIPT=${2:?script}; shift 2
set -euo pipefail
export LC_ALL=C.UTF-8
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$BENCH/.." && pwd)
RUNS=${RUNS:-3}
CORPUS=${CORPUS:-/var/tmp/depot-docs-corpus}
DEPOT=${DEPOT:-$REPO/.build/release/depot}
COMMAND_LINE="$(printf '%q ' "CORPUS=$CORPUS" "RUNS=$RUNS" "bench/$SCRIPT" "$@")"

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
TABLE=$(python3 "$BENCH/lib/docs_bench.py" "$MODE" "$CORPUS" "$DEPOT" "$WORK" "$RUNS")
SECTION=$(cat <<END

## $(date -u +%Y-%m-%dT%H:%MZ) — documents $MODE

\`${COMMAND_LINE% }\`

depot $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'); $(nproc) cores; $(pdftotext -v 2>&1 | head -1); $(pandoc --version | head -1); python-pptx $(python3 -c 'import pptx; print(pptx.__version__)'); corpus $CORPUS.

$TABLE
END
)
echo "$SECTION"
echo "$SECTION" >> "$BENCH/RESULTS.md"
