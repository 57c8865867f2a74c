import DepotTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A chat-completions server for the tests (Python's http.server on 127.0.0.1): it logs each
/// request (path, Authorization header, JSON body) and answers from a script, one step per
/// request, the last step repeating. A step's "reply" is "auto" (a valid answer made from the
/// request's own text and schema name), "think" (auto behind a <think> block), "prose"
/// (auto inside prose and a code fence), "truncated" (auto cut at 60 %), "reasoning" (auto in
/// content and reasoning in reasoning_content), "malformed" (no JSON); "status" (default
/// 200), "retry_after" (a header), "delay" (seconds before answering).
final class FakeChatServer {
    let process = Process()
    let port: Int
    let log: String
    let dir = TemporaryDirectory()

    static let script = #"""
import http.server, json, sys, time, re, threading
steps = json.load(open(sys.argv[1]))
log = open(sys.argv[2], "a")
state = {"i": 0}
lock = threading.Lock()

def auto(name, user):
    m = re.search(r'"""\n(.*)\n"""', user, re.S)
    text = m.group(1) if m else user
    sentences = [s.strip() for s in re.split(r'(?<=[.!?])\s+', text.replace("\n", " ")) if len(s.split()) >= 4]
    words = [w for w in re.findall(r"[A-Za-z][a-z]{5,}", text)]
    if name in ("summary", "reduce"):
        return {"short": " ".join(sentences[:1]) or text[:80], "long": " ".join(sentences[:3]) or text[:200]}
    if name == "chapters":
        return {"chapters": [{"title": "Part " + str(k + 1), "first_words": " ".join(s.split()[:6]), "summary": s, "keywords": []}
                             for k, s in enumerate(sentences[:2])]}
    if name == "quiz":
        qs = []
        for s in sentences[:3]:
            w = [x for x in re.findall(r"[A-Za-z]{6,}", s)]
            if not w: continue
            a = w[0]
            qs.append({"type": "cloze", "question": s.replace(a, "_____", 1), "choices": [], "answer": a,
                       "explanation": "as the text says", "quote": s})
        if sentences:
            w = re.findall(r"[A-Za-z]{6,}", sentences[0])
            if w:
                qs.append({"type": "multiple_choice", "question": "Which word is used?", "choices": [w[0], "zebra", "quartz", "violin"],
                           "answer": w[0], "explanation": "see the quote", "quote": sentences[0]})
        return {"questions": qs}
    if name == "keywords":
        seen = []
        for w in words:
            if w.lower() not in [s.lower() for s in seen]: seen.append(w)
        return {"keywords": seen[:5] + ["notinthetext"]}
    return {}

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            step = steps[min(state["i"], len(steps) - 1)]
            state["i"] += 1
            log.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"), "body": body}) + "\n")
            log.flush()
        if step.get("delay"): time.sleep(step["delay"])
        status = step.get("status", 200)
        name = (body.get("response_format") or {}).get("json_schema", {}).get("name", "summary")
        user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        kind = step.get("reply", "auto")
        content = json.dumps(auto(name, user))
        message = {"role": "assistant", "content": content}
        if kind == "think": message["content"] = "<think>Let me think about {it}. The user wants JSON.</think>\n" + content
        if kind == "prose": message["content"] = "Here is the JSON you asked for:\n```json\n" + content + "\n```\nHope it helps!"
        if kind == "truncated": message["content"] = content[: int(len(content) * 0.6)]
        if kind == "reasoning": message["reasoning_content"] = "First I read the text. {\"not\": \"this\"}"
        if kind == "malformed": message["content"] = "I cannot answer that in JSON, sorry."
        out = {"id": "c1", "object": "chat.completion", "model": body.get("model"),
               "choices": [{"index": 0, "message": message, "finish_reason": "length" if kind == "truncated" else "stop"}],
               "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}
        if status != 200: out = {"error": {"message": "injected " + str(status), "type": "server_error"}}
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if step.get("retry_after") is not None: self.send_header("Retry-After", str(step["retry_after"]))
        self.end_headers()
        self.wfile.write(data)

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""#

    /// Starts the server with `steps` (each a JSON object as above).
    init(_ steps: [[String: Any]]) throws {
        let scriptFile = try dir.write("server.py", Self.script)
        let stepsFile = try dir.write("steps.json", Array(try JSONSerialization.data(withJSONObject: steps)))
        log = dir.path + "/requests.jsonl"
        process.executableURL = URL(fileURLWithPath: debianPython)
        process.arguments = [scriptFile, stepsFile, log]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw TestFailure("the fake chat server did not start") }
            line.append(chunk)
        }
        guard let p = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestFailure("the fake chat server printed no port")
        }
        port = p
    }

    deinit {
        // SIGKILL: the test runner's children may inherit an ignored SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// The requests it got, in order.
    func requests() throws -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }
}
