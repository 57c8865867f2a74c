import CCurl
import DepotCore

/// What one POST came to.
public enum HTTPPostResult: Sendable, Equatable {
    /// An HTTP answer: its status, its body (up to the poster's limit; empty when the poster
    /// keeps none) and `Retry-After` in seconds when the server sent one.
    case answer(status: Int, body: [UInt8], retryAfter: Int64?)
    /// No answer: refused, timed out, DNS, TLS; libcurl's own words.
    case transportError(String, timedOut: Bool)
}

/// The body of a POST: bytes as they are, or multipart/form-data.
public enum HTTPPostBody: Sendable {
    case bytes([UInt8])
    case multipart([FormPart])
}

/// One part of a multipart/form-data body.
public struct FormPart: Sendable {
    public var name: String
    public var data: [UInt8]
    /// For a file part: its file name and type.
    public var fileName: String?
    public var type: String?

    public init(name: String, value: String) {
        self.name = name
        self.data = Array(value.utf8)
    }

    public init(name: String, file data: [UInt8], fileName: String, type: String) {
        self.name = name
        self.data = data
        self.fileName = fileName
        self.type = type
    }
}

/// POSTs to http(s) endpoints with libcurl — webhooks, chat completions, transcriptions: the
/// one place depot sets libcurl up. Owns one easy handle (reused, so the connection to a
/// receiver is kept alive) and frees it in deinit; one thread uses it at a time. Never follows
/// redirects (an endpoint that moved is a configuration error) and never uses signals for its
/// timeouts (signals belong to the process: SIGTERM drains the daemon).
public final class HTTPPoster {
    private let handle: UnsafeMutableRawPointer
    /// Bytes of an answer's body kept; a longer body aborts the transfer (a runaway reply).
    /// 0 keeps none and reads any length.
    public let bodyLimit: Int

    public struct InitError: Error, CustomStringConvertible {
        public var description: String { "libcurl could not be initialised" }
    }

    public init(bodyLimit: Int) throws {
        guard curlReady, let handle = curl_easy_init() else { throw InitError() }
        self.handle = handle
        self.bodyLimit = bodyLimit
    }

    deinit { curl_easy_cleanup(handle) }

    /// The body collected by libcurl's write callback.
    private final class Sink {
        var bytes: [UInt8] = []
        let limit: Int
        init(limit: Int) { self.limit = limit }
    }

    /// POSTs `body` to `url` with `headers` ("Name: value" lines; `Expect:` is added, since a
    /// receiver answering 100-continue slowly would cost a second per POST). Never throws.
    /// - Parameters:
    ///   - timeout: for the whole exchange.
    ///   - connectTimeout: for the connection; at most `timeout`.
    public func post(url: String, headers lines: [String], body: HTTPPostBody, timeout: Duration,
                     connectTimeout: Duration = .seconds(10)) -> HTTPPostResult {
        curl_easy_reset(handle)
        var mime: OpaquePointer?
        if case .multipart(let parts) = body {
            guard let form = curl_mime_init(handle) else { return .transportError("cannot build a multipart body", timedOut: false) }
            mime = form
            for part in parts {
                let p = curl_mime_addpart(form)
                curl_mime_name(p, part.name)
                if let fileName = part.fileName { curl_mime_filename(p, fileName) }
                if let type = part.type { curl_mime_type(p, type) }
                part.data.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { _ = curl_mime_data(p, $0.baseAddress, buffer.count) }  // copied
                }
            }
        }
        defer { if let mime { curl_mime_free(mime) } }

        let sink = Sink(limit: bodyLimit)
        let failure = withExtendedLifetime(sink) {
            performTransfer(handle, url: url, headers: lines, timeout: timeout, connectTimeout: connectTimeout) { options in
                switch body {
                case .bytes(let bytes):
                    options.set(CURLOPT_POSTFIELDSIZE, bytes.count)
                    // Copied by libcurl, POSTFIELDSIZE bytes of it (binary-safe).
                    if bytes.isEmpty {
                        options.set(CURLOPT_COPYPOSTFIELDS, "")
                    } else {
                        bytes.withUnsafeBytes { options.set(CURLOPT_COPYPOSTFIELDS, pointer: UnsafeMutableRawPointer(mutating: $0.baseAddress)) }
                    }
                case .multipart:
                    options.set(CURLOPT_MIMEPOST, pointer: UnsafeMutableRawPointer(mime))
                }
                options.set(CURLOPT_WRITEDATA, pointer: Unmanaged.passUnretained(sink).toOpaque())
                options.apply {
                    ccurl_easy_setopt_write_function(handle) { data, size, count, user in
                        let sink = Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
                        let n = size * count
                        guard sink.limit > 0 else { return n }  // read and dropped (never printed to stdout)
                        // Returning less than n makes libcurl stop with CURLE_WRITE_ERROR.
                        guard sink.bytes.count + n <= sink.limit else { return 0 }
                        if let data { sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: n)) }
                        return n
                    }
                }
            }
        }
        if let failure { return .transportError(failure.message, timedOut: failure.timedOut) }
        var status = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var retryAfter: curl_off_t = 0
        // CURLINFO_RETRY_AFTER reads both forms of RFC 9110 §10.2.3 (seconds, HTTP-date).
        let hasRetryAfter = ccurl_easy_getinfo_off_t(handle, CURLINFO_RETRY_AFTER, &retryAfter) == CURLE_OK && retryAfter > 0
        return .answer(status: status, body: sink.bytes, retryAfter: hasRetryAfter ? Int64(retryAfter) : nil)
    }
}
