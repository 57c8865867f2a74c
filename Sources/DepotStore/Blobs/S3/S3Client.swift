import DepotCore
import DepotCurl
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `[store.s3]`: where blobs go when `[store] backend = "s3"`.
public struct S3Settings: Sendable, Equatable {
    public enum Addressing: String, Sendable, Equatable {
        /// `https://host/bucket/key` (MinIO, Ceph RGW, Garage, moto).
        case path
        /// `https://bucket.host/key` (AWS S3).
        case virtualHost = "virtual"
    }

    /// `http(s)://host[:port]`: the object store's endpoint.
    public var endpoint: String = ""
    public var bucket: String = ""
    public var region: String = "us-east-1"
    public var addressing: Addressing = .path
    /// An AWS shared-credentials file (`aws_access_key_id`, `aws_secret_access_key`) and the
    /// profile to read in it.
    public var credentialsFile: String = ""
    public var profile: String = "default"
    /// Keys of blobs are `<prefix>sha256/<hex>`.
    public var prefix: String = "blobs/"
    /// Blobs up to this size go in one PUT; larger ones in parts of this size (S3's minimum
    /// part is 5 MiB).
    public var partSize: Int = 16 << 20
    /// Uploads in flight at once: blobs of a batch, parts of a large blob.
    public var concurrency: Int = 4
    /// Further attempts of a request that failed for want of an answer or with a 5xx/429.
    public var retries: Int = 4
    /// A CA bundle for a store whose certificate the system does not trust ("" = system's).
    public var caFile: String = ""
    /// Multipart uploads older than this are taken for abandoned by `removeLeftovers`.
    public var abandonedUploadAge: Duration = .seconds(24 * 3600)
    /// For each request.
    public var timeout: Duration = .seconds(300)

    public init() {}

    public init(table r: TableReader) throws {
        try r.allow(["endpoint", "bucket", "region", "addressing", "credentials_file", "profile", "prefix",
                     "part_size", "concurrency", "retries", "ca_file", "abandoned_upload_age", "timeout"])
        if let v = try r.string("endpoint") {
            guard v.hasPrefix("http://") || v.hasPrefix("https://") else { throw r.fail("endpoint", "must start with http:// or https://") }
            endpoint = v
        }
        if let v = try r.string("bucket") { bucket = v }
        if let v = try r.string("region") { region = v }
        if let v = try r.choice("addressing", ["path", "virtual"]) { addressing = Addressing(rawValue: v)! }
        if let v = try r.string("credentials_file") { credentialsFile = v }
        if let v = try r.string("profile") { profile = v }
        if let v = try r.string("prefix") { prefix = v }
        if let v = try r.byteSize("part_size", min: 5 << 20) {
            guard v <= 5 << 30 else { throw r.fail("part_size", "must be at most 5 GiB (S3's largest part)") }
            partSize = Int(v)
        }
        if let v = try r.int("concurrency", min: 1, max: 64) { concurrency = v }
        if let v = try r.int("retries", min: 0, max: 100) { retries = v }
        if let v = try r.string("ca_file") { caFile = v }
        if let v = try r.duration("abandoned_upload_age") { abandonedUploadAge = v }
        if let v = try r.duration("timeout") { timeout = v }
        for (key, value) in [("endpoint", endpoint), ("bucket", bucket), ("credentials_file", credentialsFile)] where value.isEmpty {
            throw r.fail(key, "is required for the s3 backend")
        }
    }
}

/// Why an S3 request failed.
public struct S3Error: Error, CustomStringConvertible, Sendable, Equatable {
    /// "PUT blobs/sha256/…"; empty for errors before any request.
    public let operation: String
    /// The HTTP status, 0 without an answer.
    public let status: Int
    /// S3's error code (`SignatureDoesNotMatch`, `NoSuchBucket`) or "transport".
    public let code: String
    public let message: String

    static func credentials(_ message: String) -> S3Error {
        S3Error(operation: "", status: 0, code: "credentials", message: message)
    }

    public var description: String {
        let head = operation.isEmpty ? "S3" : "S3 \(operation)"
        return status == 0 ? "\(head): \(code == "transport" ? "" : code + ": ")\(message)"
                           : "\(head): \(status) \(code): \(message)"
    }
}

/// Signed requests to one bucket over libcurl, retried when no answer came or the server
/// asked to be tried again; a pool of easy handles (each keeps its connection alive) lets
/// any number of threads send at once.
final class S3Client: Sendable {
    let settings: S3Settings
    let signer: SigV4Signer
    private let scheme: String
    /// The Host header (bucket first for virtual-host addressing).
    private let host: String
    /// The path before a key: "/bucket" or "".
    private let bucketPath: String
    private let pool = Mutex<[PooledHTTPClient]>([])

    /// One easy handle, used by one thread at a time (taken from the pool, given back).
    final class PooledHTTPClient: @unchecked Sendable {
        let http: HTTPClient
        init(_ http: HTTPClient) { self.http = http }
    }

    struct Request {
        var method: String
        /// The object's key; nil for the bucket itself.
        var key: String?
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var upload: HTTPUpload = .none
        /// Hex SHA-256 of `upload`.
        var payloadHash: String = emptyPayloadHash
        /// Statuses besides 2xx that are answers, not errors (404 for HEAD).
        var accept: Set<Int> = []
    }

    init(settings: S3Settings, credentials: S3Credentials) throws {
        self.settings = settings
        signer = SigV4Signer(credentials: credentials, region: settings.region)
        let parts = settings.endpoint.split(separator: "://", maxSplits: 1)
        guard parts.count == 2, parts[0] == "http" || parts[0] == "https", !parts[1].isEmpty else {
            throw S3Error(operation: "", status: 0, code: "config", message: "endpoint \(settings.endpoint) is not http(s)://host[:port]")
        }
        scheme = String(parts[0])
        let endpointHost = String(parts[1].split(separator: "/", maxSplits: 1).first ?? "")
        switch settings.addressing {
        case .path:
            host = endpointHost
            bucketPath = "/" + uriEncode(settings.bucket, keepSlash: false)
        case .virtualHost:
            host = settings.bucket + "." + endpointHost
            bucketPath = ""
        }
    }

    /// The object's path as sent and signed.
    private func path(of key: String?) -> String {
        guard let key else { return bucketPath.isEmpty ? "/" : bucketPath }
        return bucketPath + "/" + uriEncode(key, keepSlash: true)
    }

    /// A presigned GET of `key`, good for `expires` seconds (see `SigV4Signer.presign`).
    func presignedGET(key: String, query: [(String, String)], expires: Int) -> String {
        let path = path(of: key)
        let signed = signer.presign(method: "GET", host: host, path: path, query: query, expires: expires)
        return "\(scheme)://\(host)\(path)?" + signed.map { uriEncode($0.0, keepSlash: false) + "=" + uriEncode($0.1, keepSlash: false) }
            .joined(separator: "&")
    }

    func describe(_ request: Request) -> String {
        "\(request.method) \(request.key.map { settings.bucket + "/" + $0 } ?? settings.bucket)"
    }

    /// Sends a request, again after a transport error, a 5xx or a 429 (with growing pauses),
    /// and returns its answer.
    /// - Parameter receiver: makes, for each attempt, what takes a 2xx answer's body as it
    ///   arrives (an attempt that fails half-way starts over with a fresh one).
    /// - Throws: `S3Error` for an error answer or when every attempt failed.
    func send(_ request: Request, receiver: (() -> (UnsafeRawBufferPointer) -> Bool)? = nil) throws -> HTTPResponse {
        let path = path(of: request.key)
        let query = request.query.map { $0.1.isEmpty ? uriEncode($0.0, keepSlash: false) + "=" : uriEncode($0.0, keepSlash: false) + "=" + uriEncode($0.1, keepSlash: false) }
            .joined(separator: "&")
        let url = "\(scheme)://\(host)\(path)\(query.isEmpty ? "" : "?" + query)"
        let client = try takeClient()
        defer { pool.withLock { $0.append(client) } }
        var attempt = 0
        while true {
            let signed = signer.sign(method: request.method, host: host, path: path, query: request.query,
                                     headers: request.headers, payloadHash: request.payloadHash)
            let lines = (request.headers + signed).map { "\($0.0): \($0.1)" }
            let result = client.http.perform(request.method, url: url, headers: lines, upload: request.upload,
                                             timeout: settings.timeout, receive: receiver?())
            let retryable: Bool
            switch result {
            case .success(let response):
                if (200..<300).contains(response.status) || request.accept.contains(response.status) { return response }
                retryable = response.status >= 500 || response.status == 429 || response.status == 408
                if !retryable || attempt >= settings.retries { throw error(for: request, response) }
            case .failure(let failure):
                retryable = true
                if attempt >= settings.retries {
                    throw S3Error(operation: describe(request), status: 0, code: "transport",
                                  message: "\(failure.message) (after \(attempt + 1) attempts)")
                }
            }
            attempt += 1
            // 50 ms, 100 ms, 200 ms … up to 5 s.
            usleep(UInt32(min(5_000_000, 50_000 << min(attempt - 1, 10))))
        }
    }

    /// S3's error document (`<Error><Code>…</Code><Message>…</Message>`) as an error.
    func error(for request: Request, _ response: HTTPResponse) -> S3Error {
        let text = String(decoding: response.body, as: UTF8.self)
        let names = [400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 503: "SlowDown"]
        let code = xmlValues("Code", in: text).first ?? names[response.status] ?? "HTTP \(response.status)"
        let message = xmlValues("Message", in: text).first
            ?? (text.isEmpty ? (request.method == "HEAD" ? "no details (an answer to HEAD has no body)" : "no details") : String(text.prefix(200)))
        return S3Error(operation: describe(request), status: response.status, code: code, message: message)
    }

    private func takeClient() throws -> PooledHTTPClient {
        if let client = pool.withLock({ $0.popLast() }) { return client }
        return PooledHTTPClient(try HTTPClient(caFile: settings.caFile.isEmpty ? nil : settings.caFile))
    }
}

/// The text of every `<tag>…</tag>` in `xml`, entities decoded (S3's answers are flat
/// enough that no parser is needed).
func xmlValues(_ tag: String, in xml: String) -> [String] {
    var values: [String] = []
    var rest = xml[...]
    while let open = rest.firstRange(of: "<\(tag)>"), let close = rest[open.upperBound...].firstRange(of: "</\(tag)>") {
        values.append(xmlUnescape(String(rest[open.upperBound..<close.lowerBound])))
        rest = rest[close.upperBound...]
    }
    return values
}

func xmlUnescape(_ text: String) -> String {
    guard text.contains("&") else { return text }
    return text.replacing("&lt;", with: "<").replacing("&gt;", with: ">")
        .replacing("&quot;", with: "\"").replacing("&apos;", with: "'")
        .replacing("&#34;", with: "\"").replacing("&amp;", with: "&")
}

func xmlEscape(_ text: String) -> String {
    text.replacing("&", with: "&amp;").replacing("<", with: "&lt;")
        .replacing(">", with: "&gt;").replacing("\"", with: "&quot;")
}
