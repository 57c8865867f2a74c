#!/usr/bin/env python3
"""media_bench.py DEPOT CORPUS WORK RUNS — bench/media.sh's measurements, printed as Markdown.

a) metadata quality: depot's metadata.json vs `ffprobe -of json` on every file of CORPUS:
   duration within 0.05 s, codecs, dimensions and stream counts equal;
b) probe time: one long-lived `depot worker` (as the daemon runs it) doing extract jobs ÷
   `ffprobe -of json -show_format -show_streams` per file;
c) thumbnail time: the worker's thumbnail jobs on the videos ÷
   `ffmpeg -ss T -i F -frames:v 1 -vf scale=320:-1` (T: 10% of the duration) per file.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

MEDIA = {".mp4": "video/mp4", ".mov": "video/quicktime", ".mkv": "video/x-matroska", ".webm": "video/webm",
         ".avi": "video/x-msvideo", ".flv": "video/x-flv", ".ts": "video/mp2t", ".mpg": "video/mpeg", ".ogv": "video/ogg",
         ".wmv": "video/x-ms-asf", ".m4a": "audio/mp4", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg",
         ".opus": "audio/ogg", ".wav": "audio/wav", ".aiff": "audio/aiff", ".wma": "audio/x-ms-wma", ".aac": "audio/aac",
         ".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp", ".bmp": "image/bmp",
         ".tiff": "image/tiff"}


def media_type(path):
    # What depot's detection gives (the daemon detects from the bytes; this corpus is named for it):
    # an MP4 with only a sound track is audio whatever its brand.
    if os.path.basename(path).startswith("audio-only"):
        return "audio/mp4"
    return MEDIA[os.path.splitext(path)[1]]


def ffprobe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", path],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def worker_jobs(depot, jobs, work):
    """Runs (kind, processor, file) jobs in one `depot worker`; returns (seconds, results)."""
    shutil.rmtree(os.path.join(work, "w"), ignore_errors=True)
    lines, outs = [], []
    for i, (kind, processor, f) in enumerate(jobs):
        out = os.path.join(work, "w", f"{i}-{kind}")
        os.makedirs(out)
        outs.append(out)
        lines.append(json.dumps({"job_id": i + 1, "kind": kind, "processor": processor, "parameters": {},
                                 "blob_path": f, "media_type": media_type(f), "name": os.path.basename(f),
                                 "output_dir": out, "memory_limit": 0, "cpu_seconds": 0}))
    proc = subprocess.Popen([depot, "worker", "--nice", "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert json.loads(proc.stdout.readline())["type"] == "ready"
    start = time.perf_counter()
    proc.stdin.write("\n".join(lines) + "\n")
    proc.stdin.flush()
    results = {}
    while len(results) < len(lines):
        msg = json.loads(proc.stdout.readline())
        if msg["type"] == "result":
            results[msg["job_id"]] = msg
    elapsed = time.perf_counter() - start
    hwm = 0
    with open(f"/proc/{proc.pid}/status") as s:
        for line in s:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    proc.stdin.close()
    proc.wait()
    return elapsed, [results[i + 1] for i in range(len(lines))], outs, hwm


def timed_each(commands, runs):
    totals = []
    for _ in range(runs):
        start = time.perf_counter()
        for c in commands:
            subprocess.run(c, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        totals.append(time.perf_counter() - start)
    return statistics.median(totals)


def compare(path, ours, peer):
    """The differences between depot's metadata.json and ffprobe's answer for one file."""
    problems = []
    ps = peer.get("streams", [])
    os_ = ours["streams"]
    if len(ps) != len(os_):
        problems.append(f"streams {len(os_)} vs {len(ps)}")
    for a, b in zip(os_, ps):
        if a["codec"] != b.get("codec_name", "none"):
            problems.append(f"stream {a['index']} codec {a['codec']} vs {b.get('codec_name')}")
        if a["type"] == "video" and (a["width"], a["height"]) != (b.get("width"), b.get("height")):
            problems.append(f"stream {a['index']} size {a['width']}x{a['height']} vs {b.get('width')}x{b.get('height')}")
        if a["type"] == "audio" and (a["sample_rate"], a["channels"]) != (int(b.get("sample_rate", 0)), b.get("channels")):
            problems.append(f"stream {a['index']} audio {a['sample_rate']}/{a['channels']} vs {b.get('sample_rate')}/{b.get('channels')}")
    pd = peer.get("format", {}).get("duration")
    od = ours["duration"]
    if ours["media_class"] != "image":
        if (pd is None) != (od is None) or (pd is not None and abs(float(pd) - od) > 0.05):
            problems.append(f"duration {od} vs {pd}")
    return problems


def main():
    depot, corpus, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    files = sorted(os.path.join(corpus, f) for f in os.listdir(corpus) if os.path.splitext(f)[1] in MEDIA)
    videos = [f for f in files if media_type(f).startswith("video/")]

    # a) quality
    _, results, outs, _ = worker_jobs(depot, [("extract", "depot-media", f) for f in files], work)
    mismatches = {}
    for f, r, out in zip(files, results, outs):
        assert r.get("status") == "processed", (f, r)
        ours = json.load(open(os.path.join(out, "metadata.json")))
        diff = compare(f, ours, ffprobe(f))
        if diff:
            mismatches[os.path.basename(f)] = diff

    # b) probe time, c) thumbnail time: medians of RUNS, per file.
    probe_ours = statistics.median(worker_jobs(depot, [("extract", "depot-media", f) for f in files], work)[0] for _ in range(runs))
    probe_peer = timed_each([["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", f] for f in files], runs)
    peer_thumbs = []
    for f in videos:
        d = float(ffprobe(f)["format"].get("duration", 0) or 0)
        peer_thumbs.append(["ffmpeg", "-v", "error", "-y", "-ss", "%.3f" % (d * 0.1), "-i", f, "-frames:v", "1",
                            "-vf", "scale=320:-1", os.path.join(work, "peer.jpg")])
    thumb_times, thumb_results = [], None
    for _ in range(runs):
        t, thumb_results, _, _ = worker_jobs(depot, [("thumbnail", "depot-media-thumbnail", f) for f in videos], work)
        thumb_times.append(t)
    thumb_ours = statistics.median(thumb_times)
    for f, r in zip(videos, thumb_results):
        assert r.get("status") == "processed" and r["artifacts"], (f, r)
    thumb_peer = timed_each(peer_thumbs, runs)

    print(f"Corpus: {len(files)} files ({len(videos)} videos) in {corpus}.")
    print()
    print("| figure | depot | peer | ratio | target | |")
    print("|---|---:|---:|---:|---|---|")
    agree = len(files) - len(mismatches)
    print(f"| metadata vs `ffprobe -of json` (duration ±0.05 s, codecs, dimensions, sample rate/channels, stream count) "
          f"| {agree}/{len(files)} files agree | | | all | {'meets target' if not mismatches else 'MISSES target'} |")
    for name, ours, peer, target in [
        (f"probe ({len(files)} files): `depot worker` extract jobs vs `ffprobe -of json -show_format -show_streams`", probe_ours, probe_peer, 0.5),
        (f"thumbnail ({len(videos)} videos): `depot worker` thumbnail jobs vs `ffmpeg -ss T -i F -frames:v 1 -vf scale=320:-1`", thumb_ours, thumb_peer, 0.7),
    ]:
        n = len(files) if name.startswith("probe") else len(videos)
        ratio = ours / peer
        print("| %s | %.1f ms/file | %.1f ms/file | **%.3f** | ≤ %s | %s |" % (
            name, ours * 1000 / n, peer * 1000 / n, ratio, target, "meets target" if ratio <= target else "MISSES target"))
    for name, diff in sorted(mismatches.items()):
        print(f"- mismatch {name}: {'; '.join(diff)}")


if __name__ == "__main__":
    main()
