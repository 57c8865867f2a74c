#!/usr/bin/env bash
# bench/generate.sh — the builtin generation engine against its PyPI peers on real texts (Python's
# documentation as Debian ships it, python3.11-doc), in one run:
#   segmentation Pk vs NLTK TextTiling (≤ 0.9×), ROUGE-1/2/L vs the better of sumy LexRank and
#   TextRank (≥ 1.0×), heading-term recall of keywords vs YAKE (≥ 1.0×), and throughput in pages/s of
#   generate vs the document processors' extract on 100 PDFs of 5–50 pages (≥ 1×), peak RSS.
# Prints a table and appends it to bench/RESULTS.md as a dated section.
#
# Env: DEPOT (default .build/release/depot, built if missing), PARTS (default: all of
#      "segmentation summary keywords throughput").
set -euo pipefail
export LC_ALL=C.UTF-8
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
export DEPOT=${DEPOT:-$REPO/.build/release/depot}
PARTS=${PARTS:-segmentation summary keywords throughput}
COMMAND_LINE="$(printf '%q ' "DEPOT=$DEPOT" "PARTS=$PARTS" bench/generate.sh)"

[ -d /usr/share/doc/python3.11/html/_sources ] || "$REPO/scripts/apt-ensure.sh" python3.11-doc fonts-dejavu-core >&2
/usr/bin/python3 -c 'import nltk, sumy, yake, rouge_score, fpdf' 2>/dev/null || \
  /usr/bin/python3 -m pip install -q --break-system-packages nltk sumy yake rouge-score fpdf2 >&2
if [ ! -x "$DEPOT" ]; then (cd "$REPO" && swift build -c release --product depot >&2); fi

# shellcheck disable=SC2086
JSON=$(/usr/bin/python3 "$BENCH/lib/generate_bench.py" $PARTS)
TABLE=$(/usr/bin/python3 - "$JSON" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
rows = ["| figure | depot | peer | ratio | target | met |", "|---|---:|---:|---:|---|---|"]
if "segmentation" in r:
    s = r["segmentation"]; ratio = s["depot_pk"] / s["nltk_texttiling_pk"]
    rows.append(f"| segmentation Pk, {s['documents']} concatenated documents (lower is better) vs NLTK TextTiling | {s['depot_pk']:.3f} | {s['nltk_texttiling_pk']:.3f} | {ratio:.3f} | ≤ 0.9 | {'yes' if ratio <= 0.9 else 'no'} |")
if "summary" in r:
    s = r["summary"]
    for i, m in enumerate(("ROUGE-1", "ROUGE-2", "ROUGE-L")):
        best = max(s["lexrank"][i], s["textrank"][i]); ratio = s["depot"][i] / best
        rows.append(f"| {m} F1, {s['documents']} pages vs their introduction; peer: the better of sumy LexRank {s['lexrank'][i]:.4f} / TextRank {s['textrank'][i]:.4f} | {s['depot'][i]:.4f} | {best:.4f} | {ratio:.3f} | ≥ 1.0 | {'yes' if ratio >= 1.0 else 'no'} |")
if "keywords" in r:
    s = r["keywords"]; ratio = s["depot_recall"] / s["yake_recall"]
    rows.append(f"| keyword recall of heading terms, top 15, {s['documents']} pages vs YAKE | {s['depot_recall']:.4f} | {s['yake_recall']:.4f} | {ratio:.3f} | ≥ 1.0 | {'yes' if ratio >= 1.0 else 'no'} |")
if "throughput" in r:
    s = r["throughput"]; ratio = s["generate_pages_per_s"] / s["extract_pages_per_s"]
    rows.append(f"| pages/s, {s['documents']} PDFs ({s['pages']} pages): generate vs the PDF processor's extract, a process per file each | {s['generate_pages_per_s']:.1f} | {s['extract_pages_per_s']:.1f} | {ratio:.2f} | ≥ 1 | {'yes' if ratio >= 1 else 'no'} |")
    rows.append(f"| peak RSS of one generate process (extract: {s['extract_peak_rss_mib']:.1f} MiB) | {s['generate_peak_rss_mib']:.1f} MiB | | | recorded | – |")
print("\n".join(rows))
PY
)
SECTION=$(cat <<END

## $(date -u +%Y-%m-%dT%H:%MZ) — generate

\`${COMMAND_LINE% }\`

depot $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'); $(nproc) cores; nltk $(/usr/bin/python3 -c 'import nltk; print(nltk.__version__)'), sumy $(/usr/bin/python3 -c 'import importlib.metadata as m; print(m.version("sumy"))'), yake $(/usr/bin/python3 -c 'import importlib.metadata as m; print(m.version("yake"))'), rouge-score $(/usr/bin/python3 -c 'import importlib.metadata as m; print(m.version("rouge-score"))'). NLTK's data (punkt, stopwords) cannot be downloaded here: TextTiling is given sumy's English stop list, sumy a regex sentence splitter.

$TABLE
END
)
echo "$SECTION"
echo "$SECTION" >> "$BENCH/RESULTS.md"
