import CCurl
import DepotCore
#if canImport(Glibc)
import Glibc
#endif

/// The body a request sends.
public enum HTTPUpload: Sendable {
    case none
    case bytes([UInt8])
    /// `length` bytes of an open file from `offset`, read with pread as libcurl asks (never
    /// held in memory whole); the caller keeps the descriptor open for the call.
    case file(fd: Int32, offset: Int64, length: Int64)

    var length: Int64 {
        switch self {
        case .none: return 0
        case .bytes(let bytes): return Int64(bytes.count)
        case .file(_, _, let length): return length
        }
    }
}

/// An answer: its status, its headers (names lower-cased; the last of repeated ones) and its
/// body when the caller did not take it as it came.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]
}

/// No answer: refused, timed out, DNS, TLS, or the receiver stopped the transfer.
public struct HTTPTransportError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let timedOut: Bool
    public var description: String { message }
}

/// Any method over http(s) with libcurl — GET with ranges streamed to the caller, PUT and
/// POST from memory or from a file, HEAD, DELETE — for clients of object stores. Set up like
/// `HTTPPoster` (one reused easy handle, no redirects, no signals, TLS verified); one thread
/// uses it at a time.
public final class HTTPClient {
    private let handle: UnsafeMutableRawPointer
    /// A CA bundle to trust instead of the system's (a private object store's own CA).
    public let caFile: String?

    public init(caFile: String? = nil) throws {
        guard curlReady, let handle = curl_easy_init() else { throw HTTPPoster.InitError() }
        self.handle = handle
        self.caFile = caFile
    }

    deinit { curl_easy_cleanup(handle) }

    /// What the callbacks share with the call.
    private final class Exchange {
        let upload: HTTPUpload
        var sent: Int64 = 0
        var status = 0
        var headers: [String: String] = [:]
        var body: [UInt8] = []
        let bodyLimit: Int
        let receive: ((UnsafeRawBufferPointer) -> Bool)?
        var readError = false

        init(upload: HTTPUpload, bodyLimit: Int, receive: ((UnsafeRawBufferPointer) -> Bool)?) {
            self.upload = upload
            self.bodyLimit = bodyLimit
            self.receive = receive
        }

        /// Fills libcurl's buffer with the next bytes of the upload; 0 at its end.
        func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
            let n = Int(min(Int64(buffer.count), upload.length - sent))
            guard n > 0 else { return 0 }
            switch upload {
            case .none: return 0
            case .bytes(let bytes):
                bytes.withUnsafeBytes { src in
                    buffer.baseAddress!.copyMemory(from: src.baseAddress! + Int(sent), byteCount: n)
                }
                sent += Int64(n)
                return n
            case .file(let fd, let offset, _):
                let got = pread(fd, buffer.baseAddress, n, off_t(offset + sent))
                guard got > 0 else {
                    readError = true
                    return Int(CURL_READFUNC_ABORT)
                }
                sent += Int64(got)
                return got
            }
        }

        /// One header line; a status line starts a new set (after a 100 Continue).
        func header(_ line: String) {
            if line.hasPrefix("HTTP/") {
                let parts = line.split(separator: " ", maxSplits: 2)
                status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
                headers = [:]
                return
            }
            guard let colon = line.firstIndex(of: ":") else { return }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            headers[name] = String(value.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r\n" || $0 == "\n" }.reversed())
        }

        /// Body bytes: to the receiver for a 2xx answer, else kept (an error's document).
        func take(_ bytes: UnsafeRawBufferPointer) -> Bool {
            if let receive, (200..<300).contains(status) { return receive(bytes) }
            guard body.count + bytes.count <= bodyLimit else { return false }
            body.append(contentsOf: bytes)
            return true
        }
    }

    /// Sends one request and waits for its answer. Never throws.
    /// - Parameters:
    ///   - headers: "Name: value" lines (`Expect:` is added: no 100-continue round trip).
    ///   - bodyLimit: bytes of a body kept in the response; a longer one fails the call.
    ///   - receive: takes the body of a 2xx answer as it arrives instead (false stops the
    ///     transfer, which then fails).
    public func perform(_ method: String, url: String, headers lines: [String], upload: HTTPUpload = .none,
                        timeout: Duration, connectTimeout: Duration = .seconds(10), bodyLimit: Int = 1 << 20,
                        receive: ((UnsafeRawBufferPointer) -> Bool)? = nil) -> Result<HTTPResponse, HTTPTransportError> {
        curl_easy_reset(handle)
        let exchange = Exchange(upload: upload, bodyLimit: bodyLimit, receive: receive)
        let failure = withExtendedLifetime(exchange) {
            performTransfer(handle, url: url, headers: lines, timeout: timeout, connectTimeout: connectTimeout) { options in
                if let caFile { options.set(CURLOPT_CAINFO, caFile) }
                let user = Unmanaged.passUnretained(exchange).toOpaque()
                switch method {
                case "GET": break
                case "HEAD": options.set(CURLOPT_NOBODY, 1)
                case "PUT", "POST":
                    options.set(CURLOPT_UPLOAD, 1)
                    options.set(CURLOPT_INFILESIZE_LARGE, offset: upload.length)
                    if method == "POST" { options.set(CURLOPT_CUSTOMREQUEST, "POST") }
                    options.set(CURLOPT_READDATA, pointer: user)
                    options.apply {
                        ccurl_easy_setopt_read_function(handle) { buffer, size, count, user in
                            let exchange = Unmanaged<Exchange>.fromOpaque(user!).takeUnretainedValue()
                            return exchange.fill(UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
                        }
                    }
                default: options.set(CURLOPT_CUSTOMREQUEST, method)
                }
                options.set(CURLOPT_HEADERDATA, pointer: user)
                options.apply {
                    ccurl_easy_setopt_header_function(handle) { data, size, count, user in
                        let exchange = Unmanaged<Exchange>.fromOpaque(user!).takeUnretainedValue()
                        let n = size * count
                        if let data { exchange.header(String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)) }
                        return n
                    }
                }
                options.set(CURLOPT_WRITEDATA, pointer: user)
                options.apply {
                    ccurl_easy_setopt_write_function(handle) { data, size, count, user in
                        let exchange = Unmanaged<Exchange>.fromOpaque(user!).takeUnretainedValue()
                        let n = size * count
                        guard let data else { return n }
                        return exchange.take(UnsafeRawBufferPointer(start: data, count: n)) ? n : 0
                    }
                }
            }
        }
        if var failure {
            if exchange.readError { failure = HTTPTransportError(message: "reading the request's body failed: \(String(cString: strerror(errno)))", timedOut: false) }
            return .failure(failure)
        }
        var status = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPResponse(status: status, headers: exchange.headers, body: exchange.body))
    }
}

/// libcurl, initialised once before any handle exists (not thread-safe in older versions).
let curlReady: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

/// Sets a handle's options one after another, stopping at the first that fails; the
/// options every depot transfer shares in `common`.
final class CurlOptions {
    let handle: UnsafeMutableRawPointer
    private(set) var code = CURLE_OK

    init(handle: UnsafeMutableRawPointer) { self.handle = handle }

    func apply(_ call: () -> CURLcode) { if code == CURLE_OK { code = call() } }
    func set(_ option: CURLoption, _ value: Int) { apply { ccurl_easy_setopt_long(handle, option, value) } }
    func set(_ option: CURLoption, _ value: String) { apply { ccurl_easy_setopt_string(handle, option, value) } }
    func set(_ option: CURLoption, offset value: Int64) { apply { ccurl_easy_setopt_off_t(handle, option, curl_off_t(value)) } }
    func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) {
        apply { ccurl_easy_setopt_pointer(handle, option, pointer) }
    }

    /// http(s) only, no redirects (an endpoint that moved is a configuration error), no
    /// signals for the timeouts (signals belong to the process), TLS peer and name verified.
    func common(url: String, timeout: Duration, connectTimeout: Duration, errorBuffer: UnsafeMutableRawPointer?) {
        let milliseconds = max(1, timeout.nanosecondsValue / 1_000_000)
        set(CURLOPT_URL, url)
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        set(CURLOPT_FOLLOWLOCATION, 0)
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_SSL_VERIFYPEER, 1)
        set(CURLOPT_SSL_VERIFYHOST, 2)
        set(CURLOPT_TIMEOUT_MS, Int(milliseconds))
        set(CURLOPT_CONNECTTIMEOUT_MS, Int(max(1, min(milliseconds, connectTimeout.nanosecondsValue / 1_000_000))))
        set(CURLOPT_USERAGENT, "depot")
        set(CURLOPT_ERRORBUFFER, pointer: errorBuffer)
    }

    /// Runs the transfer (unless an option failed) and unhooks the error buffer.
    func perform() -> CURLcode {
        apply { curl_easy_perform(handle) }
        _ = ccurl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil)
        return code
    }
}

/// Runs one transfer on `handle`: the common options and `headers` ("Name: value" lines, with
/// `Expect:` added, since a receiver answering 100-continue slowly would cost a second per
/// request), then the options `configure` sets, then the transfer itself. nil when it
/// completed (whatever the status), else libcurl's words.
func performTransfer(_ handle: UnsafeMutableRawPointer, url: String, headers lines: [String], timeout: Duration,
                     connectTimeout: Duration, configure: (CurlOptions) -> Void) -> HTTPTransportError? {
    var headers: UnsafeMutablePointer<curl_slist>?
    for line in lines + ["Expect:"] { headers = curl_slist_append(headers, line) }
    defer { curl_slist_free_all(headers) }
    var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    let code = errorBuffer.withUnsafeMutableBytes { errorBytes in
        let options = CurlOptions(handle: handle)
        options.common(url: url, timeout: timeout, connectTimeout: connectTimeout, errorBuffer: errorBytes.baseAddress)
        options.apply { ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headers) }
        configure(options)
        return options.perform()
    }
    return code == CURLE_OK ? nil : transportError(code, errorBuffer)
}

/// libcurl's words for a failed transfer: its error buffer, else its name for the code.
func transportError(_ code: CURLcode, _ errorBuffer: [CChar]) -> HTTPTransportError {
    let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return HTTPTransportError(message: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail,
                              timedOut: code == CURLE_OPERATION_TIMEDOUT)
}
