import CCrypto
import CCurl
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
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress?.assumingMemoryBound(to: UInt8.self),
                     m.count, &out, &length)
            }
        }
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        for byte in out[0..<Int(length)] {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// The `X-Depot-Signature` value for a body sent at `timestamp` (unix seconds).
    public static func header(secret: String, timestamp: Int64, body: String) -> String {
        "sha256=" + hmacSHA256Hex(key: Array(secret.utf8), message: Array("\(timestamp).\(body)".utf8))
    }
}

/// POSTs event envelopes with libcurl. Owns one easy handle (reused, so connections to a
/// receiver are kept alive) and frees it in deinit; used by one thread (the dispatcher's).
public final class WebhookClient {
    private let handle: UnsafeMutableRawPointer

    private static let globalInit: Bool = {
        // Not thread-safe in older libcurl; done once, before any handle exists.
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    public init() throws {
        guard Self.globalInit, let handle = curl_easy_init() else { throw OutboxError("libcurl could not be initialised") }
        self.handle = handle
    }

    deinit { curl_easy_cleanup(handle) }

    /// POSTs `body` (JSON) to `url` with the depot headers, signed with `secret`.
    public func post(url: String, body: String, eventType: String, eventID: String, secret: String,
                     timeout: Duration, timestamp: Int64 = wallClockNanoseconds() / 1_000_000_000) -> WebhookResponse {
        curl_easy_reset(handle)
        var headers: UnsafeMutablePointer<curl_slist>?
        for line in [
            "Content-Type: application/json",
            "User-Agent: depot",
            "X-Depot-Event: \(eventType)",
            "X-Depot-Event-Id: \(eventID)",
            "X-Depot-Timestamp: \(timestamp)",
            "X-Depot-Signature: \(WebhookSignature.header(secret: secret, timestamp: timestamp, body: body))",
            // A receiver answering 100-continue slowly would cost a second per POST otherwise.
            "Expect:",
        ] {
            headers = curl_slist_append(headers, line)
        }
        defer { curl_slist_free_all(headers) }
        let milliseconds = max(1, timeout.nanosecondsValue / 1_000_000)
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        var code = CURLE_OK
        errorBuffer.withUnsafeMutableBytes { errorBytes in
            func set(_ option: CURLoption, _ value: Int) { if code == CURLE_OK { code = ccurl_easy_setopt_long(handle, option, value) } }
            func set(_ option: CURLoption, _ value: String) { if code == CURLE_OK { code = ccurl_easy_setopt_string(handle, option, value) } }
            set(CURLOPT_URL, url)
            // Only http(s), never redirects: a webhook URL that moved is a configuration error.
            set(CURLOPT_PROTOCOLS_STR, "http,https")
            set(CURLOPT_FOLLOWLOCATION, 0)
            // Signals are the daemon's (SIGTERM drains); timeouts must not use SIGALRM.
            set(CURLOPT_NOSIGNAL, 1)
            set(CURLOPT_TIMEOUT_MS, Int(milliseconds))
            set(CURLOPT_CONNECTTIMEOUT_MS, Int(min(milliseconds, 10_000)))
            set(CURLOPT_POSTFIELDSIZE, body.utf8.count)
            set(CURLOPT_COPYPOSTFIELDS, body)
            if code == CURLE_OK { code = ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headers) }
            if code == CURLE_OK { code = ccurl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBytes.baseAddress) }
            // The receiver's body is not needed; drop it instead of letting curl print it to stdout.
            if code == CURLE_OK { code = ccurl_easy_setopt_write_function(handle, { _, size, count, _ in size * count }) }
            if code == CURLE_OK { code = curl_easy_perform(handle) }
            _ = ccurl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil)
        }
        guard code == CURLE_OK else {
            let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            return .transportError(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
        }
        var status = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var retryAfter: curl_off_t = 0
        // CURLINFO_RETRY_AFTER parses both forms of RFC 9110 §10.2.3 (seconds, HTTP-date).
        let hasRetryAfter = ccurl_easy_getinfo_off_t(handle, CURLINFO_RETRY_AFTER, &retryAfter) == CURLE_OK && retryAfter > 0
        return .status(status, retryAfter: hasRetryAfter ? Int64(retryAfter) : nil)
    }
}
