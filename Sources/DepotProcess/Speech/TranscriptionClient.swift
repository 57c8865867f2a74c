import DepotCurl
import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why speech to text gave no transcript.
public struct SpeechError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    /// Worth trying the whole job again later (the server was down or busy), not a bad answer.
    public var isTransient: Bool

    public init(_ description: String, transient: Bool = false) {
        self.description = description
        isTransient = transient
    }
}

/// One answer of the transcription endpoint.
enum TranscriptionReply: Equatable {
    case status(Int, body: [UInt8], retryAfter: Int64?)
    case transportError(String)
}

/// POSTs audio pieces to an OpenAI-compatible `/v1/audio/transcriptions` as
/// multipart/form-data (`file`, `model`, `response_format=verbose_json`,
/// `timestamp_granularities[]=segment`, `language`), with libcurl. Owns one easy handle,
/// reused so the connection is kept alive, and frees it in deinit; one thread uses it.
public final class TranscriptionClient {
    private let poster: HTTPPoster
    public let settings: SpeechSettings

    public init(settings: SpeechSettings) throws {
        do {
            // A transcript of 25 MiB of audio is a few hundred KiB of JSON.
            poster = try HTTPPoster(bodyLimit: 16 << 20)
        } catch {
            throw SpeechError("libcurl could not be initialised")
        }
        self.settings = settings
    }

    /// One POST of `wav`. Never throws: what came back, or why nothing did.
    func post(_ wav: [UInt8]) -> TranscriptionReply {
        var parts = [FormPart(name: "file", file: wav, fileName: "audio.wav", type: "audio/wav"),
                     FormPart(name: "model", value: settings.model),
                     FormPart(name: "response_format", value: "verbose_json"),
                     FormPart(name: "timestamp_granularities[]", value: "segment")]
        if !settings.language.isEmpty { parts.append(FormPart(name: "language", value: settings.language)) }
        let headers = settings.apiKey.isEmpty ? [] : ["Authorization: Bearer \(settings.apiKey)"]
        switch poster.post(url: settings.endpoint, headers: headers, body: .multipart(parts), timeout: settings.timeout) {
        case .answer(let status, let body, let retryAfter): return .status(status, body: body, retryAfter: retryAfter)
        case .transportError(let reason, _): return .transportError(reason)
        }
    }

    /// The segments of one piece, times relative to the piece, with retries: 408, 429, 5xx
    /// and no answer are tried again after a backoff that doubles from `retryInitial` up to
    /// `retryMax` (a longer `Retry-After` wins); any other status fails at once.
    /// - Parameter breaker: counts failed requests across the job's pieces.
    /// - Throws: `SpeechError` with the last reason.
    func transcribe(_ wav: [UInt8], breaker: CircuitBreaker, sleep: (Duration) -> Void) throws -> [TimedText] {
        var wait = settings.retryInitial
        var last = ""
        for attempt in 1...settings.maxAttempts {
            try breaker.check()
            let reply = post(wav)
            var retryAfter: Int64?
            switch reply {
            case .status(let code, let body, _) where (200..<300).contains(code):
                breaker.succeeded()
                return try Self.segments(body)
            case .status(let code, let body, let after):
                last = "the transcription endpoint answered \(code)" + Self.reason(body)
                guard code == 408 || code == 429 || code >= 500 else {
                    throw SpeechError(last)
                }
                retryAfter = after
            case .transportError(let detail):
                last = "the transcription endpoint cannot be reached: \(detail)"
            }
            breaker.failed()
            guard attempt < settings.maxAttempts else { break }
            var pause = wait
            if let retryAfter, Duration.seconds(retryAfter) > pause { pause = min(.seconds(retryAfter), .seconds(3600)) }
            sleep(pause)
            wait = min(wait * 2, settings.retryMax)
        }
        throw SpeechError(last + " (after \(settings.maxAttempts) attempts)", transient: true)
    }

    /// A short reason from an error body (OpenAI's `{"error":{"message":…}}`), for the job's message.
    static func reason(_ body: [UInt8]) -> String {
        if let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
           let error = object["error"] as? [String: Any], let message = error["message"] as? String {
            return ": " + String(message.prefix(200))
        }
        return ""
    }

    /// The segments of a `verbose_json` answer; an answer with text but no segments (a server
    /// that ignores the granularity) is one segment over the whole piece (end: -1, filled in
    /// by the caller).
    /// - Throws: `SpeechError` when the body is not such JSON.
    static func segments(_ body: [UInt8]) throws -> [TimedText] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw SpeechError("the transcription endpoint's answer is not JSON")
        }
        if let segments = object["segments"] as? [[String: Any]] {
            return segments.compactMap { segment in
                guard let text = (segment["text"] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty,
                      let start = (segment["start"] as? NSNumber)?.doubleValue,
                      let end = (segment["end"] as? NSNumber)?.doubleValue else { return nil }
                return TimedText(start: start, end: end, text: text)
            }
        }
        guard let text = (object["text"] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines) else {
            throw SpeechError("the transcription endpoint's answer has neither segments nor text")
        }
        return text.isEmpty ? [] : [TimedText(start: 0, end: -1, text: text)]
    }
}

/// Opens after `threshold` failed requests in a row; while open, nothing more is sent for the
/// job (its pieces would each wait out every retry against a server that is down).
final class CircuitBreaker {
    let threshold: Int
    private(set) var consecutiveFailures = 0

    init(threshold: Int) { self.threshold = threshold }

    var isOpen: Bool { consecutiveFailures >= threshold }
    func failed() { consecutiveFailures += 1 }
    func succeeded() { consecutiveFailures = 0 }

    func check() throws {
        if isOpen {
            throw SpeechError("the transcription endpoint failed \(consecutiveFailures) times in a row; no more requests are sent (circuit open)",
                              transient: true)
        }
    }
}

/// Speech to text of a whole recording: pieces cut at silences, each posted, their segments
/// moved by the piece's offset into one timed transcript.
public enum Transcriber {
    /// - Parameters:
    ///   - samples: 16 kHz mono 16-bit audio.
    ///   - progress: fraction of pieces done (0…1) after each.
    /// - Returns: the stitched segments, in time order, and how many pieces were sent.
    /// - Throws: `SpeechError` from the first piece that failed.
    public static func transcribe(_ samples: [Int16], settings: SpeechSettings,
                                  sleep: (Duration) -> Void = { Transcriber.pause($0) },
                                  progress: (Double) -> Void = { _ in }) throws -> (segments: [TimedText], pieces: Int) {
        let client = try TranscriptionClient(settings: settings)
        let breaker = CircuitBreaker(threshold: settings.breakerThreshold)
        let pieces = SpeechAudio.pieces(of: samples, uploadLimit: Int(min(settings.uploadLimit, Int64(Int32.max))),
                                        maxSeconds: Double(settings.maxPieceSeconds))
        var all: [TimedText] = []
        for (index, piece) in pieces.enumerated() {
            let segments = try client.transcribe(SpeechAudio.wav(samples[piece.range]), breaker: breaker, sleep: sleep)
            all += stitch(segments, piece: piece)
            progress(Double(index + 1) / Double(pieces.count))
        }
        return (all, pieces.count)
    }

    /// One piece's segments on the whole recording's clock: shifted by its offset, held
    /// within the piece (a server may round past its end), a missing end made the piece's.
    static func stitch(_ segments: [TimedText], piece: SpeechAudio.Piece) -> [TimedText] {
        segments.map { segment in
            let end = segment.end < 0 ? piece.duration : min(segment.end, piece.duration)
            let start = min(max(0, segment.start), end)
            return TimedText(start: piece.offset + start, end: piece.offset + end, text: segment.text)
        }
    }

    public static func pause(_ duration: Duration) {
        let nanoseconds = duration.nanosecondsValue
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
