import DepotCurl
import DepotCore
import Foundation

/// What one POST to a webhook came to.
public enum WebhookResponse: Sendable, Equatable {
    /// The receiver answered with this HTTP status; `retryAfter` in seconds when it sent one.
    case status(Int, retryAfter: Int64?)
    /// No answer: connection refused, timeout, TLS, DNS.
    case transportError(String)

    public var isSuccess: Bool {
        if case .status(let code, _) = self { return (200..<300).contains(code) }
        return false
    }
}

/// Signs webhook bodies: `sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">`, as Stripe and
/// GitHub do, so a receiver can check both who sent it and that it is fresh.
public enum WebhookSignature {
    /// The lowercase hex HMAC-SHA256 of `message` under `key`.
    public static func hmacSHA256Hex(key: [UInt8], message: [UInt8]) -> String {
        hexString(hmacSHA256(key: key, message: message))
    }

    /// The `X-Depot-Signature` value for a body sent at `timestamp` (unix seconds).
    public static func header(secret: String, timestamp: Int64, body: String) -> String {
        "sha256=" + hmacSHA256Hex(key: Array(secret.utf8), message: Array("\(timestamp).\(body)".utf8))
    }
}

/// POSTs event envelopes (through `HTTPPoster`, which keeps the connection to a receiver
/// alive); used by one thread (the dispatcher's).
public final class WebhookClient {
    private let poster: HTTPPoster

    public init() throws {
        do {
            poster = try HTTPPoster(bodyLimit: 0)  // the receiver's body is not needed
        } catch {
            throw OutboxError("libcurl could not be initialised")
        }
    }

    /// POSTs `body` (JSON) to `url` with the depot headers, signed with `secret`.
    public func post(url: String, body: String, eventType: String, eventID: String, secret: String,
                     timeout: Duration, timestamp: Int64 = wallClockNanoseconds() / 1_000_000_000) -> WebhookResponse {
        let headers = [
            "Content-Type: application/json",
            "X-Depot-Event: \(eventType)",
            "X-Depot-Event-Id: \(eventID)",
            "X-Depot-Timestamp: \(timestamp)",
            "X-Depot-Signature: \(WebhookSignature.header(secret: secret, timestamp: timestamp, body: body))",
        ]
        switch poster.post(url: url, headers: headers, body: .bytes(Array(body.utf8)), timeout: timeout) {
        case .answer(let status, _, let retryAfter): return .status(status, retryAfter: retryAfter)
        case .transportError(let reason, _): return .transportError(reason)
        }
    }
}
