import DepotCore
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird

extension Handlers {
    /// GET/HEAD /d/{v|a}/{id}/{name}?exp=&kid=&lid=[&ip=]&sig=: a signed download.
    func download(_ request: Request, context: DepotRequestContext) async throws -> Response {
        let client = context.client
        if let wait = badLinks.blocked(client) ?? downloadLimiter.take(client) {
            env.metrics.download(status: 429)
            throw APIError.tooManyRequests(retryAfter: wait)
        }
        let now = Int64(Date().timeIntervalSince1970)
        let method = request.method == .head ? "HEAD" : request.method.rawValue
        let skew = env.config.http.clockSkew.components.seconds
        guard let target = Self.target(path: request.uri.path), let link = Self.signedLink(request) else { throw reject(client) }
        let state = self.state
        let store = env.store
        let isGet = request.method == .get
        // The blob opened for GET: a missing or short blob is a 500 before any header goes
        // out, not a cut-off body.
        @Sendable func open(_ resolved: DownloadTarget) throws -> OpenFile? {
            guard isGet, resolved.size > 0 else { return nil }
            let file = try OpenFile(path: store.path(of: resolved.digest))
            guard file.size >= resolved.size else {
                throw SystemError(call: "fstat", errno: EIO, path: file.path)
            }
            return file
        }
        let found: (ResolvedDownload, OpenFile?)?
        if let recent = state.recentLinks.lookup(link, target: target) {
            // This very link passed the signature check and the catalog within the last
            // second: what depends on the request is checked again; opening a local file is
            // quick enough to do here.
            guard env.signer.claimsHold(link, method: method, remoteIP: context.remoteIP, now: now, skew: skew) else {
                throw reject(client)
            }
            found = (recent, try open(recent.target))
        } else {
            guard env.signer.verify(link, method: method, remoteIP: context.remoteIP, now: now, skew: skew) else {
                throw reject(client)
            }
            // One trip to a blocking thread: the catalog lookup and the open.
            found = try await blocking { () -> (ResolvedDownload, OpenFile?)? in
                guard let resolved = try state.resolveForDownload(link, target: target) else { return nil }
                return (resolved, try open(resolved.target))
            }
        }
        guard let (resolved, file) = found else {
            // Revoked, never minted here, or its version/artifact is gone: the same answer.
            throw reject(client)
        }
        let response = try await serve(resolved, file: file, request: request, context: context, expires: link.expires, now: now)
        env.metrics.download(status: Int(response.status.code))
        return response
    }

    private func reject(_ client: String) -> APIError {
        badLinks.record(client)
        env.metrics.linkRejections.increment()
        env.metrics.download(status: 403)
        return .badLink
    }

    /// "/d/v/12/name" → .version(12).
    static func target(path: String) -> LinkTarget? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "d", !parts[4].isEmpty,
              let id = Int64(parts[3]), id > 0 else { return nil }
        switch parts[2] {
        case "v": return .version(id)
        case "a": return .artifact(id)
        default: return nil
        }
    }

    static func signedLink(_ request: Request) -> SignedLink? {
        let q = request.uri.queryParameters
        guard let exp = q["exp"].flatMap({ Int64(String($0)) }), let kid = q["kid"], let lid = q["lid"], let sig = q["sig"]
        else { return nil }
        return SignedLink(path: request.uri.path, expires: exp, keyID: String(kid), clientIP: q["ip"].map(String.init),
                          linkID: String(lid), signature: String(sig))
    }

    /// The response for a resolved target: conditional requests, ranges and a streamed body.
    /// - Parameter file: the blob, opened; nil for HEAD and for an empty blob.
    func serve(_ resolved: ResolvedDownload, file: OpenFile?, request: Request, context: DepotRequestContext,
               expires: Int64, now: Int64) async throws -> Response {
        let target = resolved.target
        var headers = resolved.headers
        // Never cached past the link's own life (a shared cache must not outlive the link either).
        headers[.cacheControl] = "private, max-age=\(max(0, expires - now))"
        let isHead = request.method == .head

        // RFC 9110 §13.2.2: If-None-Match is evaluated before Range; a match is 304 for GET/HEAD.
        if let inm = request.headers[.ifNoneMatch], ifNoneMatchMatches(inm, etag: resolved.etag) {
            headers[.contentType] = nil
            headers[.contentDisposition] = nil
            return Response(status: .notModified, headers: headers)
        }

        var range = RangeRequest.full
        // Range is defined for GET only (RFC 9110 §14.2); If-Range that no longer matches means
        // "send it all".
        if request.method == .get, let header = request.headers[.range] {
            if let ifRange = request.headers[.ifRange], !ifRangeMatches(ifRange, etag: resolved.etag, lastModified: resolved.lastModified) {
                range = .full
            } else {
                range = parseRange(header, size: target.size)
            }
        }
        switch range {
        case .unsatisfiable:
            env.metrics.download(status: 416)
            var e = APIError(status: .rangeNotSatisfiable, code: "range_not_satisfiable",
                             message: "the range is outside the \(target.size) bytes of this file")
            e.headers = headers
            e.headers[.contentRange] = "bytes */\(target.size)"
            e.headers[.contentDisposition] = nil
            throw e
        case .partial(let first, let last):
            headers[.contentRange] = "bytes \(first)-\(last)/\(target.size)"
            headers[.contentLength] = String(last - first + 1)
            let body = file.map { fileBody($0, first: first, last: last, context: context) } ?? ResponseBody()
            if !isHead { env.metrics.bytesServed.increment(by: last - first + 1) }
            return Response(status: .partialContent, headers: headers, body: body)
        case .full:
            headers[.contentLength] = String(target.size)
            let body = file.map { fileBody($0, first: 0, last: target.size - 1, context: context) } ?? ResponseBody()
            if !isHead { env.metrics.bytesServed.increment(by: target.size) }
            return Response(status: .ok, headers: headers, body: body)
        }
    }

    /// The bytes first...last of a blob (Int64 offsets: files over 4 GiB work), never the whole
    /// file in memory: sent with sendfile(2) by the connection's FileRegionHandler, or else
    /// streamed in chunks by FileStreamer.
    func fileBody(_ file: OpenFile, first: Int64, last: Int64, context: DepotRequestContext) -> ResponseBody {
        let fileIO = self.fileIO
        let pending = context.pendingFiles
        return ResponseBody(contentLength: Int(last - first + 1)) { writer in
            if let pending {
                try await writer.write(pending.add(file, first: first, last: last))
            } else {
                try await fileIO.stream(file, first: first, last: last, into: &writer)
            }
            try await writer.finish(nil)
        }
    }
}

/// An HTTP date (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
func httpDate(_ seconds: Int64) -> String {
    var t = time_t(seconds)
    var tm = tm()
    gmtime_r(&t, &tm)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) "
        + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
}

/// A Content-Type from the file name's extension; the bytes are never sniffed here.
func mediaType(forFileName name: String) -> String {
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "application/octet-stream" }
    let ext = name[name.index(after: dot)...].lowercased()
    if let type = textMediaTypes[ext] { return type }
    if let type = MediaType.getMediaType(forExtension: ext) { return type.description }
    return "application/octet-stream"
}

/// Types Hummingbird's table lacks or gives without a charset.
private let textMediaTypes: [String: String] = [
    "txt": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8", "json": "application/json",
    "vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip", "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8", "xml": "application/xml",
]

/// A download target and the response headers that depend on it alone, formatted once when
/// its link is resolved (a remembered link reuses them).
struct ResolvedDownload: Sendable {
    let target: DownloadTarget
    let etag: String
    let lastModified: String
    /// ETag, Last-Modified, Accept-Ranges, X-Content-Type-Options, Content-Type and
    /// Content-Disposition.
    let headers: HTTPFields

    init(_ target: DownloadTarget) {
        self.target = target
        etag = "\"\(target.digest.hex)\""
        lastModified = httpDate(target.modifiedAtNanoseconds / 1_000_000_000)
        var headers: HTTPFields = [:]
        headers[.eTag] = etag
        headers[.lastModified] = lastModified
        headers[.acceptRanges] = "bytes"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[.contentType] = target.mimeType ?? mediaType(forFileName: target.fileName)
        headers[.contentDisposition] = contentDisposition(fileName: target.fileName)
        self.headers = headers
    }
}
