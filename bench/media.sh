#!/usr/bin/env bash
# bench/media.sh — depot's media processors (FFmpeg libraries in a worker) against Debian's
#   ffprobe/ffmpeg processes, same run, ratios:
#   a) metadata.json vs `ffprobe -of json` on a generated corpus of ≥ 30 files (containers ×
#      codecs × odd cases): duration within 0.05 s, codecs, dimensions, stream counts equal;
#   b) probe: `depot worker` extract jobs ÷ `ffprobe` per file                      target ≤ 0.5
#   c) thumbnail: worker thumbnail jobs ÷ `ffmpeg -ss T -i F -frames:v 1 -vf scale=320:-1`  ≤ 0.7
#   d) peak RSS (VmHWM) of one `depot worker` doing extract + thumbnail on a generated 2 GiB
#      video                                                                         ≤ 300 MiB
# Storyboards and renditions are measured by their own scripts. Figures are appended to
# bench/RESULTS.md as a dated section.
#
# Env: DEPOT (default .build/release/depot, built if missing), RUNS (3), WORK (default
#      /var/tmp/depot-media-bench; the corpus and the 2 GiB file are kept there between runs).
set -euo pipefail
export LC_ALL=C
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
DEPOT=${DEPOT:-$REPO/.build/release/depot}
RUNS=${RUNS:-3}
WORK=${WORK:-/var/tmp/depot-media-bench}
CORPUS=$WORK/corpus
COMMAND_LINE="RUNS=$RUNS bench/media.sh"
for t in ffmpeg ffprobe python3; do command -v "$t" >/dev/null || { echo "media.sh: needs $t (make test-deps)" >&2; exit 1; }; done
[ -x "$DEPOT" ] || (cd "$REPO" && swift build -c release --product depot)
mkdir -p "$CORPUS"

ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
V="-f lavfi -i testsrc2=s=640x360:r=25:d=8"
A="-f lavfi -i sine=f=440:r=44100:d=8"
if [ ! -f "$CORPUS/.done" ]; then
  c=$CORPUS
  ff $V $A -c:v libx264 -c:a aac "$c/h264-aac.mp4"
  ff $V $A -c:v libx264 -c:a aac -movflags +faststart "$c/faststart.mp4"
  ff $V $A -c:v libx265 -c:a aac "$c/hevc-aac.mp4"
  ff $V $A -c:v libx264 -c:a pcm_s16le "$c/h264-pcm.mov"
  ff $V $A -c:v libx264 -c:a libopus "$c/h264-opus.mkv"
  ff $V $A -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libvorbis "$c/vp9-vorbis.mkv"
  ff $V $A -c:v libvpx -deadline realtime -cpu-used 8 -c:a libvorbis "$c/vp8-vorbis.webm"
  ff $V $A -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus "$c/vp9-opus.webm"
  ff $V $A -c:v mpeg4 -c:a libmp3lame "$c/mpeg4-mp3.avi"
  ff $V $A -c:v flv -c:a libmp3lame -ar 44100 "$c/flv1-mp3.flv"
  ff $V $A -c:v libx264 -c:a aac -f mpegts "$c/h264-aac.ts"
  ff $V $A -c:v mpeg2video -c:a mp2 -f mpeg "$c/mpeg2-mp2.mpg"
  ff $V $A -c:v libtheora -c:a libvorbis "$c/theora-vorbis.ogv"
  ff $V $A -c:v wmv2 -c:a wmav2 "$c/wmv2-wmav2.wmv"
  ff $V -c:v libx264 "$c/video-only.mp4"
  ff -f lavfi -i testsrc2=s=1280x720:r=60:d=4 -c:v libx264 -preset ultrafast "$c/720p60.mp4"
  ff -f lavfi -i testsrc2=s=720x576:r=25:d=4 -c:v libx264 -aspect 16:9 "$c/anamorphic.mp4"
  ff -f lavfi -i testsrc2=s=320x240:r=25:d=0.2 -c:v libx264 "$c/short.mp4"
  ff -i "$c/h264-aac.mp4" -c copy -metadata:s:v:0 rotate=270 "$c/rotated.mp4"
  ff $V $A -f lavfi -i sine=f=220:d=8 -map 0 -map 1 -map 2 -c:v libx264 -c:a aac -metadata:s:a:0 language=eng \
     -metadata:s:a:1 language=deu "$c/two-audio.mkv"
  printf '1\n00:00:01,000 --> 00:00:02,000\nHello\n\n' > "$WORK/s.srt"
  ff $V -i "$WORK/s.srt" -map 0 -map 1 -c:v libx264 -c:s srt "$c/subtitled.mkv"
  ff -f lavfi -i sine=d=8 -c:a aac "$c/song.m4a"
  ff -f lavfi -i sine=d=8 -c:a aac -f mp4 "$c/audio-only-isom.mp4"
  ff -f lavfi -i sine=d=8 -c:a libmp3lame "$c/song.mp3"
  ff -f lavfi -i sine=d=8 -c:a flac "$c/song.flac"
  ff -f lavfi -i sine=d=8 -c:a libvorbis "$c/song.ogg"
  ff -f lavfi -i sine=d=8 -c:a libopus "$c/song.opus"
  ff -f lavfi -i sine=r=8000:d=8 -c:a pcm_s16le "$c/mono8k.wav"
  ff -f lavfi -i sine=d=8 -c:a pcm_s16be "$c/song.aiff"
  ff -f lavfi -i sine=d=8 -c:a wmav2 "$c/song.wma"
  ff -f lavfi -i sine=d=8 -c:a aac -f adts "$c/song.aac"
  ff -f lavfi -i testsrc2=s=1024x768 -frames:v 1 "$c/photo.jpg"
  ff -f lavfi -i testsrc2=s=800x600 -frames:v 1 "$c/picture.png"
  ff -f lavfi -i testsrc2=s=200x150:r=10:d=2 "$c/anim.gif"
  ff -f lavfi -i testsrc2=s=640x480 -frames:v 1 "$c/picture.webp"
  ff -f lavfi -i testsrc2=s=640x480 -frames:v 1 "$c/picture.bmp"
  ff -f lavfi -i testsrc2=s=640x480 -frames:v 1 "$c/picture.tiff"
  touch "$c/.done"
fi

echo "media.sh: corpus of $(ls "$CORPUS" | wc -l) files; measuring ($RUNS runs)" >&2
TABLE=$(python3 "$BENCH/lib/media_bench.py" "$DEPOT" "$CORPUS" "$WORK" "$RUNS")

# d) a 2 GiB video, made once: a minute of 1080p at a high bit rate, repeated by stream copy.
BIG=$WORK/big-2g.mkv
if [ ! -f "$BIG" ]; then
  ff -f lavfi -i testsrc2=s=1920x1080:r=30:d=60 -f lavfi -i sine=d=60 -c:v libx264 -preset ultrafast -b:v 40M \
     -c:a aac "$WORK/minute.mkv"
  n=$(( (2 * 1024 * 1024 * 1024) / $(stat -c %s "$WORK/minute.mkv") + 1 ))
  ff -stream_loop "$((n - 1))" -i "$WORK/minute.mkv" -c copy "$BIG"
fi
BIG_BYTES=$(stat -c %s "$BIG")
RSS=$(python3 - "$DEPOT" "$BIG" "$WORK" <<'PY'
import json, os, subprocess, sys
depot, big, work = sys.argv[1:4]
lines = []
for i, (kind, processor) in enumerate([("extract", "depot-media"), ("thumbnail", "depot-media-thumbnail")]):
    out = os.path.join(work, f"big-{kind}")
    subprocess.run(["rm", "-rf", out]); os.makedirs(out)
    lines.append(json.dumps({"job_id": i + 1, "kind": kind, "processor": processor, "parameters": {}, "blob_path": big,
                             "media_type": "video/x-matroska", "name": "big.mkv", "output_dir": out, "memory_limit": 0, "cpu_seconds": 0}))
p = subprocess.Popen([depot, "worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
p.stdout.readline()
p.stdin.write("\n".join(lines) + "\n"); p.stdin.flush()
done = 0
while done < 2:
    m = json.loads(p.stdout.readline())
    if m["type"] == "result":
        assert m["status"] == "processed", m
        done += 1
hwm = [int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmHWM:")][0]
p.stdin.close(); p.wait()
print(hwm)
PY
)
RSS_MIB=$(python3 -c "print('%.1f' % ($RSS / 1024))")
VERDICT=$(python3 -c "print('meets target' if $RSS / 1024 <= 300 else 'MISSES target')")
ROW="| worker peak RSS (VmHWM), extract + thumbnail of a $(python3 -c "print('%.2f' % ($BIG_BYTES / 2**30))") GiB 1080p H.264/AAC Matroska | $RSS_MIB MiB | | | ≤ 300 MiB | $VERDICT |"

REPORT=$(printf '%s\n%s\n' "$(grep -v '^- ' <<< "$TABLE")" "$ROW")
MISMATCHES=$(grep '^- ' <<< "$TABLE" || true)
[ -z "$MISMATCHES" ] || REPORT=$(printf '%s\n\n%s\n' "$REPORT" "$MISMATCHES")
echo "$REPORT"
{
  echo
  echo "## Media: metadata, probe, thumbnail, RSS ($(date -u +%Y-%m-%d), \`$COMMAND_LINE\`)"
  echo
  echo "Machine: $(nproc) cores, $(uname -r); FFmpeg $(ffprobe -version | head -1 | cut -d' ' -f3); depot: $DEPOT."
  echo
  echo "$REPORT"
} >> "$REPO/bench/RESULTS.md"
