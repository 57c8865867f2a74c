#!/usr/bin/env bash
# Prints the path of swift-argument-parser's generate-manual tool, building it first if needed.
#
# The tool runs `depot --experimental-dump-help` and turns what the parser knows (commands,
# arguments, options, their help) into an mdoc page, so the man page cannot drift from the
# binary. It is built from the very checkout of swift-argument-parser that depot links (the one
# `swift package resolve` put in .build/checkouts), into its own scratch folder: the dump's
# format is versioned by that library, and the build needs no network.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
SWIFT="${SWIFT:-swift}"
checkout="$here/.build/checkouts/swift-argument-parser"
scratch="$here/.build/tools"
tool="$scratch/release/generate-manual"

if [ ! -d "$checkout" ]; then
  (cd "$here" && "$SWIFT" package resolve >&2)
fi
# Rebuilt when the checkout moved to another version (`swift package update`).
if [ ! -x "$tool" ] || [ "$checkout/Package.swift" -nt "$tool" ] || [ -n "$(find "$checkout/Sources" "$checkout/Tools" -newer "$tool" -print -quit)" ]; then
  "$SWIFT" build -c release --package-path "$checkout" --scratch-path "$scratch" --product generate-manual >&2
fi
echo "$tool"
