#!/usr/bin/env bash
# bench/media-extra.sh — in the same run, against Debian's ffmpeg:
#   storyboard: depot's seek previews of a generated 60-minute 1080p video
#     (`depot extract F --type video/mp4 --kind storyboard`) ÷
#     `ffmpeg -skip_frame nokey -i F -vf fps=1/10,scale=320:-1,tile=10x10`              (≤ 1.0);
#   rendition: depot's web rendition (720p H.264/AAC MP4, libx264 veryfast crf 23, AAC 128k,
#     faststart; `depot render --file F --out DIR`) of a generated 1080p30 video with sound ÷
#     `ffmpeg -i F -vf scale=-2:720 -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p
#      -c:a aac -b:a 128k -movflags +faststart` (threads: both libx264's and the decoder's auto)  (≤ 1.05).
# Results are printed and appended to bench/RESULTS.md as a dated section.
#
# Env: DEPOT (the binary; default .build/release/depot, built if missing), RUNS (3; the median
#      counts), WORK (where the generated videos are kept between runs: /var/tmp/depot-media-extra-bench),
#      MINUTES (60: the storyboard video's length; less only for a quick look, which is not the target),
#      RSECONDS (120: the rendition source's length), PARTS ("storyboard rendition": which to run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEPOT=${DEPOT:-.build/release/depot}
RUNS=${RUNS:-3}
WORK=${WORK:-/var/tmp/depot-media-extra-bench}
MINUTES=${MINUTES:-60}
RSECONDS=${RSECONDS:-120}
PARTS=${PARTS:-storyboard rendition}
mkdir -p "$WORK"
[ -x "$DEPOT" ] || swift build -c release --product depot >/dev/null
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [[ " $PARTS " == *" storyboard "* ]]; then
VIDEO=$WORK/video-${MINUTES}min-1080p.mp4
if [ ! -s "$VIDEO" ]; then
    # MINUTES of 1920×1080 H.264, a keyframe every 10 s (5 fps keeps the generation shorter).
    ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i "testsrc2=s=1920x1080:r=5:d=$((MINUTES * 60))" \
        -c:v libx264 -preset ultrafast -g 50 -pix_fmt yuv420p "$WORK/tmp.mp4"
    mv "$WORK/tmp.mp4" "$VIDEO"
fi

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
fi

if [[ " $PARTS " == *" rendition "* ]]; then
SOURCE=$WORK/web-source-${RSECONDS}s-1080p30.mp4
if [ ! -s "$SOURCE" ]; then
    # RSECONDS of 1920×1080 at 30 fps (a keyframe every 2 s) with a stereo tone, as a camera's file.
    ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i "testsrc2=s=1920x1080:r=30:d=$RSECONDS" \
        -f lavfi -i "sine=f=440:r=48000:d=$RSECONDS" -ac 2 -c:v libx264 -preset veryfast -g 60 -pix_fmt yuv420p \
        -c:a aac -b:a 192k -shortest "$WORK/tmp.mp4"
    mv "$WORK/tmp.mp4" "$SOURCE"
fi
depot_times=() ffmpeg_times=() depot_size=0 ffmpeg_size=0
for run in $(seq "$RUNS"); do
    # Alternated: neither side always runs on a warmer cache.
    for side in $( ((run % 2)) && echo "depot ffmpeg" || echo "ffmpeg depot"); do
        out=$(mktemp -d "$WORK/out.XXXXXX")
        if [ "$side" = depot ]; then
            depot_times+=("$(seconds "$DEPOT" render --file "$SOURCE" --out "$out")")
            file="$out/rendition-video-720p.mp4"
            depot_size=$(stat -c %s "$file")
        else
            file="$out/web.mp4"
            ffmpeg_times+=("$(seconds ffmpeg -hide_banner -loglevel error -nostdin -y -i "$SOURCE" -vf scale=-2:720 \
                -c:v libx264 -preset veryfast -crf 23 -pix_fmt yuv420p -c:a aac -b:a 128k -movflags +faststart "$file")")
            ffmpeg_size=$(stat -c %s "$file")
        fi
        # Both made the same thing: 1280×720 H.264 and AAC.
        got=$(ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 "$file" | tr '\n' ' ')
        [ "$got" = "h264,1280,720 aac " ] || { echo "media-extra.sh: $side made $got" >&2; exit 1; }
        rm -rf "$out"
    done
done
depot=$(printf '%s\n' "${depot_times[@]}" | median)
peer=$(printf '%s\n' "${ffmpeg_times[@]}" | median)
ratio=$(echo "scale=3; $depot / $peer" | bc -l)
verdict=$(echo "$ratio <= 1.05" | bc -l | sed 's/1/met/;s/0/NOT met/')
report="## $(date -u +%Y-%m-%dT%H:%MZ) bench/media-extra.sh (PARTS=rendition RSECONDS=$RSECONDS RUNS=$RUNS, DEPOT=$DEPOT, $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $(nproc) cores)
Web rendition of a ${RSECONDS}-second 1080p30 H.264/AAC video to 720p H.264/AAC (veryfast, crf 23, AAC 128k, faststart): \
depot render ${depot} s (${depot_size} bytes), ffmpeg -vf scale=-2:720 … ${peer} s (${ffmpeg_size} bytes), medians of ${RUNS} alternated runs \
(depot: ${depot_times[*]}; ffmpeg: ${ffmpeg_times[*]}), ratio **${ratio}** (target ≤ 1.05: ${verdict})."
echo "$report"
printf '\n%s\n' "$report" >> bench/RESULTS.md
fi
