#!/usr/bin/env bash
# bench/media-extra.sh — seek previews: depot's storyboard of a generated 60-minute 1080p video
#   (`depot extract F --type video/mp4 --kind storyboard`) ÷ Debian's
#   `ffmpeg -skip_frame nokey -i F -vf fps=1/10,scale=320:-1,tile=10x10` in the same run (≤ 1.0).
# Results are printed and appended to bench/RESULTS.md as a dated section.
#
# Env: DEPOT (the binary; default .build/release/depot, built if missing), RUNS (3; the median
#      counts), WORK (where the generated video is kept between runs: /var/tmp/depot-media-extra-bench),
#      MINUTES (60: the video's length; less only for a quick look, which is not the target).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEPOT=${DEPOT:-.build/release/depot}
RUNS=${RUNS:-3}
WORK=${WORK:-/var/tmp/depot-media-extra-bench}
MINUTES=${MINUTES:-60}
mkdir -p "$WORK"
[ -x "$DEPOT" ] || swift build -c release --product depot >/dev/null
VIDEO=$WORK/video-${MINUTES}min-1080p.mp4
if [ ! -s "$VIDEO" ]; then
    # MINUTES of 1920×1080 H.264, a keyframe every 10 s (5 fps keeps the generation shorter).
    ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i "testsrc2=s=1920x1080:r=5:d=$((MINUTES * 60))" \
        -c:v libx264 -preset ultrafast -g 50 -pix_fmt yuv420p "$WORK/tmp.mp4"
    mv "$WORK/tmp.mp4" "$VIDEO"
fi

seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

depot_times=() ffmpeg_times=()
for _ in $(seq "$RUNS"); do
    out=$(mktemp -d "$WORK/out.XXXXXX")
    depot_times+=("$(seconds "$DEPOT" extract "$VIDEO" --type video/mp4 --kind storyboard --out "$out")")
    ls "$out"/storyboard*.jpg >/dev/null
    rm -rf "$out"
    out=$(mktemp -d "$WORK/out.XXXXXX")
    ffmpeg_times+=("$(seconds ffmpeg -hide_banner -loglevel error -nostdin -y -skip_frame nokey -i "$VIDEO" \
        -vf fps=1/10,scale=320:-1,tile=10x10 "$out/sheet-%d.jpg")")
    rm -rf "$out"
done
depot=$(printf '%s\n' "${depot_times[@]}" | median)
peer=$(printf '%s\n' "${ffmpeg_times[@]}" | median)
ratio=$(echo "scale=3; $depot / $peer" | bc -l)
verdict=$(echo "$ratio <= 1.0" | bc -l | sed 's/1/met/;s/0/NOT met/')
report="## $(date -u +%Y-%m-%d) bench/media-extra.sh (RUNS=$RUNS, DEPOT=$DEPOT)
Storyboard of a ${MINUTES}-minute 1080p H.264 video (keyframe every 10 s): depot ${depot} s, \
ffmpeg -skip_frame nokey … tile=10x10 ${peer} s, ratio **${ratio}** (target ≤ 1.0: ${verdict})."
echo "$report"
printf '\n%s\n' "$report" >> bench/RESULTS.md
