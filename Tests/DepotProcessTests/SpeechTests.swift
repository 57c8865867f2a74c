import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Speech to text against a server started here that speaks OpenAI's
/// `/v1/audio/transcriptions` wire format: multipart in, `verbose_json` with segments out.
@Suite struct SpeechTests {
    /// 16 kHz mono samples of `text` spoken by espeak-ng (converted by Debian's ffmpeg).
    static func speech(_ text: String) throws -> [Int16] {
        let dir = TemporaryDirectory()
        let wav = dir.path + "/speech.wav", raw = dir.path + "/speech.raw"
        guard try run("espeak-ng", ["-w", wav, text]) == 0 else { throw TestFailure("espeak-ng failed") }
        try ffmpeg(["-i", wav, "-ar", "16000", "-ac", "1", "-f", "s16le", raw])
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: raw)))
        return stride(from: 0, to: bytes.count - 1, by: 2).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
    }

    static func settings(_ server: TranscriptionServer, uploadLimit: Int64) -> SpeechSettings {
        var settings = SpeechSettings()
        settings.url = server.baseURL
        settings.apiKey = "sk-test"
        settings.model = "whisper-test"
        settings.uploadLimit = uploadLimit
        settings.timeout = .seconds(10)
        settings.retryInitial = .milliseconds(10)
        return settings
    }

    /// Tone bursts with pauses between them: every cut falls in a pause, and every piece fits the limit.
    @Test func piecesAreCutInPausesAndFitTheLimit() {
        // 60 s: 1.7 s of a 440 Hz tone, then 0.3 s of silence, over and over.
        let rate = SpeechAudio.sampleRate
        let samples: [Int16] = (0..<(60 * rate)).map { i in
            i % (2 * rate) < 17 * rate / 10 ? Int16(8000 * sin(Double(i) * 2 * .pi * 440 / Double(rate))) : 0
        }
        let limit = 10 * rate * 2 + SpeechAudio.wavHeaderBytes + SpeechAudio.multipartOverheadBytes  // 10 s a piece
        let pieces = SpeechAudio.pieces(of: samples, uploadLimit: limit)
        #expect(pieces.count >= 6 && pieces.count <= 9)
        #expect(pieces.first?.range.lowerBound == 0)
        #expect(pieces.last?.range.upperBound == samples.count)
        for (a, b) in zip(pieces, pieces.dropFirst()) {
            #expect(a.range.upperBound == b.range.lowerBound, "pieces are contiguous")
            let cut = a.range.upperBound
            #expect(cut % (2 * rate) >= 17 * rate / 10, "cut at \(Double(cut) / Double(rate)) s is inside a tone")
        }
        for piece in pieces {
            #expect(SpeechAudio.wav(samples[piece.range]).count + SpeechAudio.multipartOverheadBytes <= limit)
        }
    }

    /// "Words" of tone 60 ms apart, a 0.6 s pause after every eighth: the cuts are in the
    /// pauses between "sentences", not in the gaps between words, though both are silent.
    @Test func piecesAreCutBetweenSentencesNotBetweenWords() {
        let rate = SpeechAudio.sampleRate
        let word = 3 * rate / 10, gap = 6 * rate / 100, pause = 6 * rate / 10
        let tone = (0..<word).map { Int16(8000 * sin(Double($0) * 2 * .pi * 440 / Double(rate))) }
        let sentence = Array(repeating: tone + [Int16](repeating: 0, count: gap), count: 8).flatMap { $0 }
            + [Int16](repeating: 0, count: pause)
        let samples = Array((0..<20).flatMap { _ in sentence }.prefix(60 * rate))
        // 12 s a piece: the last third (4 s) always holds one pause (a sentence is 3.48 s).
        let limit = 12 * rate * 2 + SpeechAudio.wavHeaderBytes + SpeechAudio.multipartOverheadBytes
        let pieces = SpeechAudio.pieces(of: samples, uploadLimit: limit)
        #expect(pieces.count >= 5)
        for piece in pieces.dropLast() {
            let at = piece.range.upperBound % sentence.count
            #expect(at >= sentence.count - pause - gap, "cut at \(Double(piece.range.upperBound) / Double(rate)) s is between two words")
        }
    }

    @Test func wavHeaderDescribes16kHzMono() {
        let wav = SpeechAudio.wav([1, -1, 300][...])
        #expect(wav.count == 44 + 6)
        #expect(Array(wav[0..<4]) == Array("RIFF".utf8) && Array(wav[8..<16]) == Array("WAVEfmt ".utf8))
        #expect(TranscriptionServer.wavDuration(wav) == 3.0 / 16000)
        #expect(Array(wav[44...]) == [1, 0, 0xFF, 0xFF, 0x2C, 0x01])
    }

    /// Speech longer than one upload: several requests, each within the limit and with the
    /// fields the API wants; the answers' segments come back on the whole recording's clock.
    @Test(.tags(.slow), .slowTest) func chunkedSpeechIsStitchedIntoOneTimedTranscript() throws {
        let samples = try Self.speech(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 8))
        let total = Double(samples.count) / 16000
        #expect(total > 15)
        let server = try TranscriptionServer { request in
            // Two segments per piece, halves of its length, named by the request's number.
            let d = request.duration
            let body = """
                {"task":"transcribe","language":"english","duration":\(d),"text":"piece \(request.index)",
                 "segments":[{"id":0,"start":0.0,"end":\(d / 2),"text":" piece \(request.index) a"},
                             {"id":1,"start":\(d / 2),"end":\(d + 0.5),"text":" piece \(request.index) b"}]}
                """
            return (200, [], body)
        }
        defer { server.stop() }
        let limit: Int64 = 6 * 16000 * 2 + 44 + Int64(SpeechAudio.multipartOverheadBytes)  // about 6 s a piece
        var fractions: [Double] = []
        let (segments, pieces) = try Transcriber.transcribe(samples, settings: Self.settings(server, uploadLimit: limit),
                                                            progress: { fractions.append($0) })
        let requests = server.requests
        #expect(pieces == requests.count && pieces >= 3)
        #expect(fractions.last == 1.0 && fractions.count == pieces)
        for request in requests {
            #expect(request.path == "/v1/audio/transcriptions")
            #expect(request.headers["authorization"] == "Bearer sk-test")
            #expect(request.fields["model"] == "whisper-test")
            #expect(request.fields["response_format"] == "verbose_json")
            #expect(request.fields["timestamp_granularities[]"] == "segment")
            #expect(request.fileName == "audio.wav")
            #expect(Int64(request.bodyBytes) <= limit, "a request of \(request.bodyBytes) bytes is over the limit")
        }
        #expect(segments.map(\.text) == (0..<pieces).flatMap { ["piece \($0) a", "piece \($0) b"] })
        // Each piece's segments start where the pieces before it end, and stay within it.
        var offset = 0.0
        for (n, request) in requests.enumerated() {
            let a = segments[2 * n], b = segments[2 * n + 1]
            #expect(abs(a.start - offset) < 0.001)
            #expect(abs(b.end - (offset + request.duration)) < 0.001, "an end past the piece is held to it")
            offset += request.duration
        }
        #expect(abs(offset - total) < 0.001, "the pieces cover the whole recording")
        #expect(zip(segments, segments.dropFirst()).allSatisfy { $0.end <= $1.start + 0.001 })
    }

    /// 503 with Retry-After: 2 holds the next attempt back 2 s although the backoff is 10 ms.
    @Test(.tags(.slow), .slowTest) func retryAfterIsHonoured() throws {
        let server = try TranscriptionServer { request in
            request.index == 0 ? (503, ["Retry-After: 2"], "{}") : (200, [], #"{"text":"hello there"}"#)
        }
        defer { server.stop() }
        var pauses: [Duration] = []
        let samples = [Int16](repeating: 0, count: 16000)
        let (segments, _) = try Transcriber.transcribe(samples, settings: Self.settings(server, uploadLimit: 25 << 20),
                                                       sleep: { pauses.append($0); Transcriber.pause($0) })
        #expect(server.requests.count == 2)
        #expect(pauses == [.seconds(2)])
        let gap = server.requests[1].receivedAt.timeIntervalSince(server.requests[0].receivedAt)
        #expect(gap >= 1.9)
        // An answer without segments is one segment over the whole piece.
        #expect(segments == [TimedText(start: 0, end: 1, text: "hello there")])
    }

    /// A server that keeps failing opens the circuit: no more requests than the threshold.
    @Test func circuitOpensAfterRepeatedFailures() throws {
        let server = try TranscriptionServer { _ in (500, [], #"{"error":{"message":"model exploded"}}"#) }
        defer { server.stop() }
        var settings = Self.settings(server, uploadLimit: 25 << 20)
        settings.maxAttempts = 10
        settings.breakerThreshold = 3
        let error = #expect(throws: SpeechError.self) {
            _ = try Transcriber.transcribe([Int16](repeating: 0, count: 1600), settings: settings, sleep: { _ in })
        }
        #expect(server.requests.count == 3)
        #expect(error?.description.contains("circuit open") == true)
        #expect(error?.isTransient == true)
    }

    /// A 400 is the request's fault: not retried, and the server's reason is kept.
    @Test func clientErrorFailsAtOnceWithTheReason() throws {
        let server = try TranscriptionServer { _ in (400, [], #"{"error":{"message":"unsupported model"}}"#) }
        defer { server.stop() }
        let error = #expect(throws: SpeechError.self) {
            _ = try Transcriber.transcribe([Int16](repeating: 0, count: 1600), settings: Self.settings(server, uploadLimit: 25 << 20),
                                           sleep: { _ in })
        }
        #expect(server.requests.count == 1)
        #expect(error?.description == "the transcription endpoint answered 400: unsupported model")
        #expect(error?.isTransient == false)
    }

    /// Nobody listening: the transport error is reported after the attempts, as transient.
    @Test func unreachableEndpointIsTransient() throws {
        var settings = SpeechSettings()
        settings.url = "http://127.0.0.1:\(unusedPort())"
        settings.maxAttempts = 2
        let error = #expect(throws: SpeechError.self) {
            _ = try Transcriber.transcribe([Int16](repeating: 0, count: 1600), settings: settings, sleep: { _ in })
        }
        #expect(error?.description.contains("cannot be reached") == true)
        #expect(error?.description.contains("after 2 attempts") == true)
    }

    /// The transcript job on a spoken M4A: decoded and resampled by libswresample to 16 kHz
    /// mono, posted, and written as transcript.vtt/.txt; without an endpoint it makes nothing.
    @Test(.tags(.slow), .slowTest) func transcriptProcessorTranscribesSpeechThroughTheEndpoint() throws {
        let dir = TemporaryDirectory()
        let wav = dir.path + "/talk.wav", m4a = dir.path + "/talk.m4a"
        guard try run("espeak-ng", ["-w", wav, "Good morning. This is a lecture about storage."]) == 0 else {
            throw TestFailure("espeak-ng failed")
        }
        try ffmpeg(["-i", wav, "-ar", "44100", "-ac", "2", "-c:a", "aac", m4a])
        let server = try TranscriptionServer { request in
            (200, [], #"{"text":"Good morning.","segments":[{"start":0.0,"end":1.2,"text":" Good morning."},"#
                + #"{"start":1.2,"end":"# + "\(request.duration)" + #","text":" This is a lecture about <storage>."}]}"#)
        }
        defer { server.stop() }
        let out = dir.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let messages = Mutex<[String]>([])
        let produced = try TranscriptProcessor(settings: Self.settings(server, uploadLimit: 25 << 20)).process(
            ProcessorInput(path: m4a, mediaType: "audio/mp4", name: "talk.m4a", outputDirectory: out,
                           progress: { _, message in messages.withLock { $0.append(message) } }))
        #expect(produced.map(\.kind) == ["transcript.vtt", "transcript.txt"])
        let request = try #require(server.requests.first)
        #expect(server.requests.count == 1)
        // The audio sent is the whole recording, at 16 kHz mono (the server reads its WAV header).
        #expect(request.duration > 2 && request.duration < 6, "\(request.duration) s of audio sent")
        let vtt = try String(contentsOfFile: out + "/transcript.vtt", encoding: .utf8)
        #expect(vtt.hasPrefix("WEBVTT\n\n00:00:00.000 --> 00:00:01.200\nGood morning.\n\n00:00:01.200 --> "))
        #expect(vtt.contains("This is a lecture about &lt;storage&gt;."))
        #expect(try String(contentsOfFile: out + "/transcript.txt", encoding: .utf8)
                == "Good morning.\nThis is a lecture about <storage>.\n")
        #expect(messages.withLock { $0.last } == "transcript from speech, 1 piece(s)")

        let off = dir.path + "/off"
        try FileManager.default.createDirectory(atPath: off, withIntermediateDirectories: true)
        let none = try TranscriptProcessor().process(ProcessorInput(path: m4a, mediaType: "audio/mp4", name: "talk.m4a", outputDirectory: off,
                                                                   progress: { _, message in messages.withLock { $0.append(message) } }))
        #expect(none.isEmpty)
        #expect(messages.withLock { $0.last }?.contains("speech to text is not configured") == true)
    }

    @Test func endpointPathIsCompleted() {
        var settings = SpeechSettings()
        for (url, endpoint) in [("http://h:1", "http://h:1/v1/audio/transcriptions"), ("http://h:1/v1/", "http://h:1/v1/audio/transcriptions"),
                                ("https://api.example/v1/audio/transcriptions", "https://api.example/v1/audio/transcriptions")] {
            settings.url = url
            #expect(settings.endpoint == endpoint)
        }
    }
}

/// A loopback port nobody listens on: bound to find one, then closed.
func unusedPort() -> UInt16 { UInt16(freePort()) }

/// A small HTTP/1.1 server on 127.0.0.1 that reads multipart/form-data uploads as OpenAI's
/// transcription endpoint does and answers what `respond` says. One connection at a time.
final class TranscriptionServer: @unchecked Sendable {
    struct Request {
        var index: Int
        var path: String
        var headers: [String: String]
        var fields: [String: String]
        var fileName: String?
        /// Seconds of audio in the uploaded WAV.
        var duration: Double
        var bodyBytes: Int
        var receivedAt: Date
    }

    var port: UInt16 { listener.port }
    private let listener: LoopbackListener
    private let state = Mutex<[Request]>([])
    private let respond: @Sendable (Request) -> (status: Int, headers: [String], body: String)

    init(respond: @escaping @Sendable (Request) -> (status: Int, headers: [String], body: String)) throws {
        self.respond = respond
        listener = try LoopbackListener()
        listener.start { [self] client in handle(client) }
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var requests: [Request] { state.withLock { $0 } }

    func stop() { listener.stop() }

    private func handle(_ client: Int32) {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var contentLength = 0
        var headers: [String: String] = [:]
        var path = ""
        while true {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            data += buffer[0..<n]
            if headerEnd == nil, let end = Self.find([13, 10, 13, 10], in: data, from: 0) {
                headerEnd = end
                let lines = String(decoding: data[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
                path = lines.first?.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                contentLength = Int(headers["content-length"] ?? "0") ?? 0
            }
            if let end = headerEnd, data.count >= end + 4 + contentLength { break }
        }
        let body = Array(data[(headerEnd! + 4)..<(headerEnd! + 4 + contentLength)])
        var fields: [String: String] = [:]
        var fileName: String?
        var duration = 0.0
        if let type = headers["content-type"], let range = type.range(of: "boundary=") {
            let boundary = Array(("--" + type[range.upperBound...]).utf8)
            for part in Self.parts(body, boundary: boundary) {
                guard let name = Self.parameter("name", in: part.disposition) else { continue }
                if name == "file" {
                    fileName = Self.parameter("filename", in: part.disposition)
                    duration = Self.wavDuration(part.content)
                } else {
                    fields[name] = String(decoding: part.content, as: UTF8.self)
                }
            }
        }
        let request = state.withLock { s -> Request in
            let r = Request(index: s.count, path: path, headers: headers, fields: fields, fileName: fileName,
                            duration: duration, bodyBytes: body.count, receivedAt: Date())
            s.append(r)
            return r
        }
        let (status, extra, text) = respond(request)
        let payload = Array(text.utf8)
        let head = "HTTP/1.1 \(status) Status\r\nContent-Type: application/json\r\nContent-Length: \(payload.count)\r\n"
            + "Connection: close\r\n" + extra.map { $0 + "\r\n" }.joined() + "\r\n"
        let response = Array(head.utf8) + payload
        _ = response.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
    }

    static func find(_ needle: [UInt8], in data: [UInt8], from start: Int) -> Int? {
        guard data.count >= needle.count, start <= data.count - needle.count else { return nil }
        var i = start
        while i <= data.count - needle.count {
            if data[i] == needle[0] && Array(data[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }

    /// The parts of a multipart body (RFC 7578): their Content-Disposition and content.
    static func parts(_ body: [UInt8], boundary: [UInt8]) -> [(disposition: String, content: [UInt8])] {
        var result: [(String, [UInt8])] = []
        var position = find(boundary, in: body, from: 0)
        while let start = position {
            let headersStart = start + boundary.count + 2
            guard let headersEnd = find([13, 10, 13, 10], in: body, from: headersStart),
                  let next = find([13, 10] + boundary, in: body, from: headersEnd) else { break }
            let head = String(decoding: body[headersStart..<headersEnd], as: UTF8.self)
            let disposition = head.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("content-disposition") } ?? ""
            result.append((disposition, Array(body[(headersEnd + 4)..<next])))
            position = next + 2
        }
        return result
    }

    static func parameter(_ name: String, in header: String) -> String? {
        guard let range = header.range(of: " \(name)=\"") ?? header.range(of: ";\(name)=\"") else { return nil }
        return String(header[range.upperBound...].prefix { $0 != "\"" })
    }

    /// Seconds of 16-bit mono audio in a WAV file, from its header's rate and data size.
    static func wavDuration(_ wav: [UInt8]) -> Double {
        guard wav.count >= 44, let data = find(Array("data".utf8), in: wav, from: 12) else { return 0 }
        func u32(_ at: Int) -> Int { Int(wav[at]) | Int(wav[at + 1]) << 8 | Int(wav[at + 2]) << 16 | Int(wav[at + 3]) << 24 }
        let rate = u32(24)
        return rate > 0 ? Double(u32(data + 4)) / Double(rate * 2) : 0
    }
}
