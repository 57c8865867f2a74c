import DepotAnalytics
import DepotCore
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOHTTP1

extension Handlers {
    /// GET/HEAD /d/{v|a}/{id}/{name}?exp=&kid=&lid=[&ip=]&sig=: a signed download, through
    /// Hummingbird's router. Most repeated downloads never get here: `DownloadFastPath`
    /// answers those on the event loop (`quickDownload`).
    func download(_ request: Request, context: DepotRequestContext) async throws -> Response {
        let remoteIP = client(of: request, context: context)
        let client = remoteIP ?? "unknown"
        if let wait = badLinks.blocked(client) ?? downloadLimiter.take(client) {
            env.metrics.download(status: 429)
            throw APIError.tooManyRequests(retryAfter: wait)
        }
        let now = Int64(Date().timeIntervalSince1970)
        let method = request.method == .head ? "HEAD" : request.method.rawValue
        let skew = env.settings.clockSkew.components.seconds
        guard let (target, link) = Self.signedLink(requestTarget: request.head.path ?? "") else { throw reject(client, reason: "malformed") }
        let links = self.links
        let isGet = request.method == .get
        // The resolved link, the open blob, or the presigned URL the request is sent to instead.
        let found: (ResolvedDownload, OpenFile?, String?)?
        if let recent = links.recentLinks.lookup(link, target: target) {
            // This very link passed the signature check and the catalog within the last
            // second: what depends on the request is checked again; opening a local file is
            // quick enough to do here.
            guard env.signer.claimsHold(link, method: method, remoteIP: remoteIP, now: now, skew: skew) else {
                throw reject(client, reason: link.expires + skew < now ? "expired" : "claims")
            }
            if env.store.localPath(of: recent.target.digest) != nil {
                found = (recent, try openBlob(recent.target, get: isGet), nil)
            } else {
                // Object storage: opening asks the server, on a blocking thread.
                found = try await blocking { try openOrRedirect(recent, link: link, now: now, get: isGet) }
            }
        } else {
            guard env.signer.verify(link, method: method, remoteIP: remoteIP, now: now, skew: skew) else {
                throw reject(client, reason: link.expires + skew < now ? "expired" : "bad_signature")
            }
            // One trip to a blocking thread: the catalog lookup and the open.
            found = try await blocking { () -> (ResolvedDownload, OpenFile?, String?)? in
                guard let resolved = try links.resolveForDownload(link, target: target) else { return nil }
                return try openOrRedirect(resolved, link: link, now: now, get: isGet)
            }
        }
        guard let (resolved, file, redirect) = found else {
            // Revoked, never minted here, or its version/artifact is gone: the same answer.
            throw reject(client, reason: "revoked_or_gone")
        }
        let query = DownloadQuery(isGet: isGet, ifNoneMatch: request.headers[.ifNoneMatch], range: request.headers[.range],
                                  ifRange: request.headers[.ifRange])
        var headers = resolved.fields
        // Never cached past the link's own life (a shared cache must not outlive the link either).
        headers[.cacheControl] = "private, max-age=\(max(0, link.expires - now))"
        let size = resolved.target.size
        switch resolved.plan(query) {
        case .notModified:
            headers[.contentType] = nil
            headers[.contentDisposition] = nil
            env.metrics.download(status: 304)
            return Response(status: .notModified, headers: headers)
        case .unsatisfiable:
            env.metrics.download(status: 416)
            var e = APIError(status: .rangeNotSatisfiable, code: "range_not_satisfiable",
                             message: "the range is outside the \(size) bytes of this file")
            e.headers = headers
            e.headers[.contentRange] = "bytes */\(size)"
            e.headers[.contentDisposition] = nil
            throw e
        case .send(_, let first, let last) where redirect != nil:
            // The bytes come from the store; the reader's Range goes along with the redirect.
            env.metrics.download(status: 307)
            env.usage.download(collection: resolved.target.collection, bytes: last - first + 1)
            return Response(status: .temporaryRedirect, headers: [.location: redirect!, .cacheControl: "no-store"])
        case .send(let partial, let first, let last):
            if partial { headers[.contentRange] = "bytes \(first)-\(last)/\(size)" }
            headers[.contentLength] = String(last - first + 1)
            let body = file.map { file in
                partial || verifiedBlobs.isRecent(resolved.target.digest)
                    ? fileBody(file, first: first, last: last, context: context) : checkedBody(file, resolved.target, context: context)
            } ?? ResponseBody()
            countSent(partial: partial, bytes: file == nil ? 0 : last - first + 1, collection: resolved.target.collection)
            return Response(status: partial ? .partialContent : .ok, headers: headers, body: body)
        }
    }

    /// A download that can be answered from memory, on the calling thread: its very link was
    /// verified and resolved in the last second, the client is within its limits, and the
    /// answer is a 200, 206 or 304. nil hands the request to the router, which checks it in
    /// full and gives every other answer (403, 429, 416, 500) in one place.
    func quickDownload(isHead: Bool, uri: String, header: (String) -> String?, peerIP: String?) -> QuickDownload? {
        guard uri.hasPrefix("/d/") else { return nil }
        let remoteIP = clientAddresses.client(peer: peerIP, header: header)
        guard let (target, link) = Self.signedLink(requestTarget: uri), let resolved = links.recentLinks.lookup(link, target: target) else { return nil }
        let client = remoteIP ?? "unknown"
        let now = Int64(Date().timeIntervalSince1970)
        guard badLinks.blocked(client) == nil,
              env.signer.claimsHold(link, method: isHead ? "HEAD" : "GET", remoteIP: remoteIP, now: now,
                                    skew: env.settings.clockSkew.components.seconds) else { return nil }
        let query = DownloadQuery(isGet: !isHead, ifNoneMatch: header("If-None-Match"), range: header("Range"),
                                  ifRange: header("If-Range"))
        let plan = resolved.plan(query)
        if case .unsatisfiable = plan { return nil }
        // sendfile needs a local file: a blob in object storage is streamed by the router.
        if !isHead, resolved.target.size > 0, env.store.localPath(of: resolved.target.digest) == nil { return nil }
        // Only now is a token taken: a request handed to the router takes its own there.
        guard downloadLimiter.take(client) == nil else { return nil }
        let maxAge = max(0, link.expires - now)
        switch plan {
        case .notModified:
            env.metrics.download(status: 304)
            return QuickDownload(resolved: resolved, body: nil, maxAge: maxAge)
        case .send(let partial, let first, let last):
            // A whole blob not hashed lately goes to the router, whose body checks it on the way.
            if !partial, !isHead, resolved.target.size > 0, !verifiedBlobs.isRecent(resolved.target.digest) { return nil }
            var file: OpenFile?
            do {
                if !isHead, resolved.target.size > 0 { file = try openBlobs.file(resolved.target, store: env.store) }
            } catch {
                // A blob that cannot be opened is the router's 500 to give (and to log).
                return nil
            }
            countSent(partial: partial, bytes: file == nil ? 0 : last - first + 1, collection: resolved.target.collection)
            return QuickDownload(resolved: resolved, body: (partial, first, last, file), maxAge: maxAge)
        case .unsatisfiable:
            return nil
        }
    }

    private func countSent(partial: Bool, bytes: Int64, collection: String) {
        env.metrics.download(status: partial ? 206 : 200)
        if bytes > 0 { env.metrics.bytesServed.increment(by: bytes) }
        env.usage.download(collection: collection, bytes: bytes)
    }

    /// How long a presigned URL a download is redirected to holds, at most (the link's own
    /// end comes first): long enough to start a download, short enough that a revoked link
    /// stops working soon after.
    static let redirectLifetime: Int64 = 300

    /// For a blob in object storage: the presigned URL a GET is redirected to when the
    /// collection says `downloads = "redirect"`, or else the blob opened. Links bound to a
    /// client address are always streamed (a presigned URL works from anywhere), and so are
    /// empty files.
    func openOrRedirect(_ resolved: ResolvedDownload, link: SignedLink, now: Int64,
                        get: Bool) throws -> (ResolvedDownload, OpenFile?, String?) {
        let target = resolved.target
        if get, link.clientIP == nil, target.size > 0,
           (try? env.collections.settings(for: target.collection).downloads) == .redirect,
           let url = env.store.presignedURL(of: target.digest, lifetime: Int(max(1, min(link.expires - now, Self.redirectLifetime))),
                                            contentType: resolved.fields[.contentType],
                                            contentDisposition: resolved.fields[.contentDisposition]) {
            return (resolved, nil, url)
        }
        return (resolved, try openBlob(target, get: get), nil)
    }

    /// The blob opened for a GET: a missing or short blob is an error before any header goes
    /// out, not a cut-off body. nil for HEAD and for an empty blob.
    func openBlob(_ target: StoredFile, get: Bool) throws -> OpenFile? {
        guard get, target.size > 0 else { return nil }
        return try OpenFile(blob: target, store: env.store)
    }

    private func reject(_ client: String, reason: String) -> APIError {
        badLinks.record(client)
        env.metrics.linkRejections.increment()
        env.usage.linkRejected(reason: reason)
        env.metrics.download(status: 403)
        return .badLink
    }

    /// "/d/v/12/name" → .version(12).
    static func target(path: String) -> LinkTarget? {
        let parts = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1].elementsEqual("d".utf8), !parts[4].isEmpty,
              parts[2].count == 1, let id = Int64(Substring(parts[3])), id > 0 else { return nil }
        switch parts[2].first {
        case UInt8(ascii: "v"): return .version(id)
        case UInt8(ascii: "a"): return .artifact(id)
        default: return nil
        }
    }

    /// "/d/v/12/name?exp=…&kid=…&lid=…[&ip=…]&sig=…" → the target and the link, as sent (the
    /// path still percent-encoded, as it was signed; query values decoded; the first of a
    /// repeated parameter counts). nil when the path or a parameter is missing or malformed.
    static func signedLink(requestTarget: String) -> (LinkTarget, SignedLink)? {
        guard let mark = requestTarget.utf8.firstIndex(of: UInt8(ascii: "?")),
              let target = target(path: String(requestTarget[..<mark])) else { return nil }
        return signedLink(requestTarget: requestTarget, signedPath: nil).map { (target, $0) }
    }

    /// The link in a request's query string; its path is `signedPath`, or else the request's.
    /// nil when a parameter is missing or malformed.
    static func signedLink(requestTarget: String, signedPath: String?) -> SignedLink? {
        // Scanned as UTF-8 bytes: Character-wise splitting costs more than the rest of a
        // download's own work.
        let bytes = requestTarget.utf8
        guard let mark = bytes.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        let path = signedPath ?? String(requestTarget[..<mark])
        var exp, kid, lid, sig, ip: Substring?
        var start = bytes.index(after: mark)
        while start < bytes.endIndex {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.endIndex
            if let eq = bytes[start..<end].firstIndex(of: UInt8(ascii: "=")) {
                let name = bytes[start..<eq]
                let value = requestTarget[bytes.index(after: eq)..<end]
                if name.elementsEqual("exp".utf8) { exp = exp ?? value }
                else if name.elementsEqual("kid".utf8) { kid = kid ?? value }
                else if name.elementsEqual("lid".utf8) { lid = lid ?? value }
                else if name.elementsEqual("sig".utf8) { sig = sig ?? value }
                else if name.elementsEqual("ip".utf8) { ip = ip ?? value }
            }
            start = end < bytes.endIndex ? bytes.index(after: end) : end
        }
        func decoded(_ value: Substring) -> String? {
            value.utf8.contains(UInt8(ascii: "%")) ? String(value).removingPercentEncoding : String(value)
        }
        guard let expires = exp.flatMap({ Int64($0) }), let keyID = kid.flatMap(decoded), let linkID = lid.flatMap(decoded),
              let signature = sig.flatMap(decoded) else { return nil }
        var clientIP: String?
        if let ip {
            guard let address = decoded(ip) else { return nil }
            clientIP = address
        }
        return SignedLink(path: path, expires: expires, keyID: keyID, clientIP: clientIP, linkID: linkID, signature: signature)
    }

    /// The bytes first...last of a blob (Int64 offsets: files over 4 GiB work), never the whole
    /// file in memory: sent with sendfile(2) by the connection's FileRegionHandler, or else
    /// streamed in chunks by FileStreamer (always for blobs in object storage, read by range).
    func fileBody(_ file: OpenFile, first: Int64, last: Int64, context: DepotRequestContext) -> ResponseBody {
        let fileIO = self.fileIO
        let pending = context.pendingFiles
        return ResponseBody(contentLength: Int(last - first + 1)) { writer in
            if let pending, file.isLocal {
                try await writer.write(pending.add(file, first: first, last: last))
            } else {
                try await fileIO.stream(file, first: first, last: last, into: &writer)
            }
            try await writer.finish(nil)
        }
    }
}

extension Handlers {
    /// A whole blob, hashed on its way out (`FileStreamer.sendChecked` with sendfile where the
    /// connection has a `FileRegionHandler` and the blob is a local file, else `streamChecked`,
    /// which reads object storage by range). Intact: it is
    /// remembered (`VerifiedBlobs`), and the next whole downloads go out with sendfile. Not:
    /// the connection is cut before the last chunk, the blob is marked damaged (an event, the
    /// metric; never served again until healed) and the links remembered are forgotten, so
    /// the next request is refused.
    func checkedBody(_ file: OpenFile, _ target: StoredFile, context: DepotRequestContext) -> ResponseBody {
        let fileIO = self.fileIO
        let pending = context.pendingFiles
        let verified = verifiedBlobs
        let catalog = env.catalog
        let links = self.links
        let logger = env.logger
        return ResponseBody(contentLength: Int(target.size)) { writer in
            do {
                if let pending, file.isLocal {
                    try await fileIO.sendChecked(file, size: target.size, digest: target.digest, pending: pending, into: &writer)
                } else {
                    try await fileIO.streamChecked(file, size: target.size, digest: target.digest, into: &writer)
                }
            } catch let damaged as DamagedBlobError {
                verified.forget(target.digest)
                logger.error("blob \(target.digest.hex) is damaged (found by a download); the transfer was cut and it is no longer served",
                             metadata: ["sha256": "\(target.digest.hex)"])
                _ = try? await blocking { try catalog.markDamaged(target.digest, reason: "content does not match its SHA-256 (found by a download)") }
                links.recentLinks.forgetAll()
                throw damaged
            }
            verified.record(target.digest)
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
    let target: StoredFile
    let etag: String
    let lastModified: String
    /// ETag, Last-Modified, Accept-Ranges, X-Content-Type-Options, Content-Type and
    /// Content-Disposition, for Hummingbird's responses and for `DownloadFastPath`'s.
    let fields: HTTPFields
    let headers: HTTPHeaders

    init(_ target: StoredFile) {
        self.target = target
        etag = "\"\(target.digest.hex)\""
        lastModified = httpDate(target.modifiedAtNanoseconds / 1_000_000_000)
        var fields: HTTPFields = [:]
        fields[.eTag] = etag
        fields[.lastModified] = lastModified
        fields[.acceptRanges] = "bytes"
        fields[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        fields[.contentType] = target.mimeType ?? mediaType(forFileName: target.fileName)
        fields[.contentDisposition] = contentDisposition(fileName: target.fileName)
        self.fields = fields
        headers = HTTPHeaders(fields.map { ($0.name.rawName, $0.value) })
    }

    /// What the request gets. RFC 9110 §13.2.2: If-None-Match is evaluated before Range (a
    /// match is 304 for GET and HEAD); Range is defined for GET only (§14.2), and an If-Range
    /// that no longer matches means "send it all".
    func plan(_ query: DownloadQuery) -> DownloadPlan {
        if let inm = query.ifNoneMatch, ifNoneMatchMatches(inm, etag: etag) { return .notModified }
        var range = RangeRequest.full
        if query.isGet, let header = query.range,
           query.ifRange.map({ ifRangeMatches($0, etag: etag, lastModified: lastModified) }) ?? true {
            range = parseRange(header, size: target.size)
        }
        switch range {
        case .unsatisfiable: return .unsatisfiable
        case .partial(let first, let last): return .send(partial: true, first: first, last: last)
        case .full: return .send(partial: false, first: 0, last: target.size - 1)
        }
    }
}

/// The request headers a download's answer depends on.
struct DownloadQuery {
    var isGet: Bool
    var ifNoneMatch: String?
    var range: String?
    var ifRange: String?
}

/// How a resolved download is answered: 304, 416, or bytes first...last (the whole file, or
/// one range of it; last < first for an empty file).
enum DownloadPlan {
    case notModified
    case unsatisfiable
    case send(partial: Bool, first: Int64, last: Int64)
}

/// A download `DownloadFastPath` answers itself (see `Handlers.quickDownload`).
struct QuickDownload {
    let resolved: ResolvedDownload
    /// nil: 304. Else 200 or (partial) 206 with bytes first...last of `file` — nil for HEAD
    /// and an empty file; the descriptor is shared (OpenBlobs), never to be closed by its user.
    let body: (partial: Bool, first: Int64, last: Int64, file: OpenFile?)?
    /// Cache-Control's max-age: the link's remaining life.
    let maxAge: Int64
}
