import DepotCurl
import DepotCore
import Foundation

/// What one POST to a chat-completions endpoint came to.
public enum ChatHTTPResult: Sendable, Equatable {
    /// An HTTP answer: status, body, and Retry-After in seconds when the server sent one.
    case response(status: Int, body: [UInt8], retryAfter: Int64?)
    /// No answer: refused, timed out, DNS, TLS.
    case transportError(String, timedOut: Bool)
}

/// POSTs JSON (through `HTTPPoster`, which keeps the connection to a local model server
/// alive) and keeps the answer's body; one thread uses it at a time (a generate job runs in its
/// worker's one thread).
final class ChatTransport {
    private let poster: HTTPPoster

    init() throws {
        do {
            poster = try HTTPPoster(bodyLimit: 16 << 20)
        } catch {
            throw ChatError.transport("libcurl could not be initialised")
        }
    }

    /// POSTs `body` to `url`. The key goes in an Authorization header only, never in a log
    /// line or an error message.
    func post(url: String, body: [UInt8], apiKey: String?, timeout: Duration, connectTimeout: Duration) -> ChatHTTPResult {
        var headers = ["Content-Type: application/json", "Accept: application/json"]
        if let apiKey, !apiKey.isEmpty { headers.append("Authorization: Bearer \(apiKey)") }
        switch poster.post(url: url, headers: headers, body: .bytes(body), timeout: timeout, connectTimeout: connectTimeout) {
        case .answer(let status, let body, let retryAfter): return .response(status: status, body: body, retryAfter: retryAfter)
        case .transportError(let reason, let timedOut): return .transportError(reason, timedOut: timedOut)
        }
    }
}

/// Why the OpenAI-compatible backend could not answer.
public enum ChatError: Error, CustomStringConvertible, Equatable {
    case transport(String)
    case status(Int, String)
    case invalidReply(String)
    case circuitOpen(until: Int64)
    case configuration(String)

    public var description: String {
        switch self {
        case .transport(let d): return "no answer from the model server: \(d)"
        case .status(let code, let d): return "the model server answered \(code)\(d.isEmpty ? "" : ": \(d)")"
        case .invalidReply(let d): return "the model's reply was unusable: \(d)"
        case .circuitOpen(let until):
            return "the model server failed repeatedly; not asked again until \(Timestamp(nanoseconds: until)) (circuit breaker open)"
        case .configuration(let d): return "openai backend: \(d)"
        }
    }

    /// Whether a later attempt (a job retry) may pass.
    public var isTransient: Bool {
        if case .configuration = self { return false }
        return true
    }
}
