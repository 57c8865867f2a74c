import DepotAnalytics
import DepotCore
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// tus 1.0 (core, creation, creation-with-upload, expiration, checksum, termination) under
/// an upload link (`/u/ID/files`, the link's query string on every request) and under the API
/// (`/api/v1/uploads`, a bearer token); `PUT /api/v1/documents/COLLECTION/PATH`; upload links
/// through the API; and the upload page.
extension Handlers {
    static let tusVersion = "1.0.0"
    static let tusExtensions = "creation,creation-with-upload,expiration,checksum,termination"

    func registerUploads(on router: Router<DepotRequestContext>) {
        router.get("/u/:lid") { request, context in try await uploadPage(request, context: context) }
        router.get("/assets/upload.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "no-cache"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: uploadPageScript)))
        }
        router.on("/u/:lid/files", method: .options) { _, _ in tusOptions() }
        router.post("/u/:lid/files") { request, context in
            let (link, query) = try await uploadLink(request, context: context)
            return try await tusCreate(request, owner: .link(link), location: "/u/\(link.id)/files/", query: query)
        }
        router.on("/u/:lid/files/:upload", method: .options) { _, _ in tusOptions() }
        for method in [HTTPRequest.Method.head, .patch, .delete] {
            router.on("/u/:lid/files/:upload", method: method) { request, context in
                let (link, _) = try await uploadLink(request, context: context)
                return try await tus(request, uploadID: context.parameters.require("upload"), linkID: link.id, types: link.types)
            }
        }
    }

    func registerUploadAPI(on api: RouterGroup<DepotRequestContext>) {
        api.get("/uploads") { request, _ in try await listUploads(request) }
        api.post("/uploads") { request, _ in try await tusCreate(request, owner: .token, location: "/api/v1/uploads/", query: "") }
        for method in [HTTPRequest.Method.head, .patch, .delete] {
            api.on("/uploads/:upload", method: method) { request, context in
                try await tus(request, uploadID: context.parameters.require("upload"), linkID: nil, types: [])
            }
        }
        // The first segment shares its name with /documents/:id's (one trie node): here it is
        // the collection.
        api.put("/documents/:id/**") { request, context in try await put(request, context: context) }
        api.get("/upload-links") { request, _ in try await listUploadLinks(request) }
        api.post("/upload-links") { request, _ in try await mintUploadLink(request) }
    }

    var uploadsOrFail: Uploads {
        get throws {
            guard let uploads = env.uploads else {
                throw APIError(status: .notFound, code: "not_found", message: "this server takes no uploads")
            }
            return uploads
        }
    }

    // MARK: the link

    /// The live upload link a request under /u/ID carries, and its query string ("?…") for
    /// the URLs it hands out. One answer (403) for a bad, tampered, expired or revoked link.
    func uploadLink(_ request: Request, context: DepotRequestContext) async throws -> (UploadLinkRecord, String) {
        let uploads = try uploadsOrFail
        let remoteIP = client(of: request, context: context)
        let client = remoteIP ?? "unknown"
        if let wait = badLinks.blocked(client) ?? apiLimiter.take(client) { throw APIError.tooManyRequests(retryAfter: wait) }
        let lid = try context.parameters.require("lid")
        let target = request.head.path ?? ""
        guard let link = Self.signedLink(requestTarget: target, signedPath: Uploads.linkPath(lid)), link.linkID == lid,
              let record = try await blocking({ try uploads.liveLink(link, remoteIP: remoteIP, now: Int64(Date().timeIntervalSince1970)) })
        else {
            badLinks.record(client)
            env.metrics.linkRejections.increment()
            env.usage.linkRejected(reason: "upload_link")
            throw APIError.badLink
        }
        return (record, "?" + link.query)
    }

    // MARK: tus

    func tusOptions() -> Response {
        var headers = HTTPFields()
        headers[Self.tusResumable] = Self.tusVersion
        headers[HTTPField.Name("Tus-Version")!] = Self.tusVersion
        headers[HTTPField.Name("Tus-Extension")!] = Self.tusExtensions
        headers[HTTPField.Name("Tus-Checksum-Algorithm")!] = ChecksumHasher.algorithms.joined(separator: ",")
        if let uploads = env.uploads { headers[HTTPField.Name("Tus-Max-Size")!] = String(uploads.settings.maxUploadSize) }
        return Response(status: .noContent, headers: headers)
    }

    static let tusResumable = HTTPField.Name("Tus-Resumable")!
    static let uploadOffset = HTTPField.Name("Upload-Offset")!
    static let uploadLength = HTTPField.Name("Upload-Length")!
    static let uploadExpires = HTTPField.Name("Upload-Expires")!
    static let uploadMetadata = HTTPField.Name("Upload-Metadata")!
    static let offsetContentType = "application/offset+octet-stream"

    /// 412 unless the client speaks tus 1.0.0.
    func requireTus(_ request: Request) throws {
        guard request.headers[Self.tusResumable] == Self.tusVersion else {
            var e = APIError(status: .preconditionFailed, code: "tus_version",
                             message: "this server speaks tus \(Self.tusVersion): send Tus-Resumable: \(Self.tusVersion)")
            e.headers[HTTPField.Name("Tus-Version")!] = Self.tusVersion
            e.headers[Self.tusResumable] = Self.tusVersion
            throw e
        }
    }

    /// The tus headers of an upload's answer.
    func tusHeaders(_ upload: UploadRecord, offset: Int64? = nil) -> HTTPFields {
        var headers = HTTPFields()
        headers[Self.tusResumable] = Self.tusVersion
        headers[Self.uploadOffset] = String(offset ?? upload.received)
        headers[Self.uploadLength] = String(upload.length)
        headers[.cacheControl] = "no-store"
        if upload.state == .receiving { headers[Self.uploadExpires] = httpDate(upload.expires) }
        return headers
    }

    /// tus `Upload-Metadata`: "key base64value,key2 base64value2" (a key may have no value).
    static func tusMetadata(_ header: String?) throws -> [String: String] {
        var result: [String: String] = [:]
        guard let header, !header.trimmingCharacters(in: .whitespaces).isEmpty else { return result }
        for pair in header.split(separator: ",") {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true)
            guard (1...2).contains(parts.count), !parts[0].isEmpty else { throw APIError.badRequest("Upload-Metadata is malformed") }
            var value = ""
            if parts.count == 2 {
                guard let data = Data(base64Encoded: String(parts[1])), let text = String(data: data, encoding: .utf8) else {
                    throw APIError.badRequest("Upload-Metadata value of '\(parts[0])' is not base64 of UTF-8 text")
                }
                value = text
            }
            result[String(parts[0])] = value
        }
        return result
    }

    func tusCreate(_ request: Request, owner: UploadOwner, location: String, query: String) async throws -> Response {
        let uploads = try uploadsOrFail
        try requireTus(request)
        if request.headers[HTTPField.Name("Upload-Defer-Length")!] != nil {
            throw APIError.badRequest("give Upload-Length: this server does not take uploads of unknown length")
        }
        guard let text = request.headers[Self.uploadLength], let length = Int64(text), length >= 0 else {
            throw APIError.badRequest("Upload-Length (a non-negative integer) is required")
        }
        let rawMetadata = request.headers[Self.uploadMetadata] ?? ""
        let metadata = try Self.tusMetadata(rawMetadata)
        let name: String
        switch owner {
        case .link: name = metadata["filename"] ?? metadata["name"] ?? ""
        case .token: name = metadata["path"] ?? metadata["filename"] ?? ""
        }
        guard !name.isEmpty else {
            throw APIError.badRequest(owner.isLink ? "Upload-Metadata needs the file's name (filename)"
                                                   : "Upload-Metadata needs collection and path")
        }
        let claimed = metadata["filetype"] ?? metadata["type"]
        let upload = try await blocking {
            try uploads.create(owner: owner, collection: metadata["collection"], fileName: name, length: length,
                               metadata: rawMetadata, claimedType: claimed)
        }
        var headers = tusHeaders(upload)
        headers[.location] = location + upload.id + query
        // creation-with-upload: the first bytes may come with the creation.
        if request.headers[.contentType] == Self.offsetContentType {
            let (received, outcome) = try await receive(request, upload: upload, types: owner.types)
            headers = tusHeaders(upload, offset: received)
            headers[.location] = location + upload.id + query
            if let outcome { addVersionHeaders(outcome, to: &headers) }
        }
        return Response(status: .created, headers: headers)
    }

    /// HEAD, PATCH or DELETE on one upload; `linkID` nil for the API's.
    func tus(_ request: Request, uploadID: String, linkID: String?, types: [String]) async throws -> Response {
        let uploads = try uploadsOrFail
        try requireTus(request)
        guard let upload = try await blocking({ try uploads.upload(id: uploadID) }), upload.linkID == linkID else {
            throw APIError.notFound("no upload \(uploadID)")
        }
        // Past its expiry it is gone at once, whenever the next sweep would have come.
        if upload.state == .receiving, upload.expires < Int64(Date().timeIntervalSince1970),
           try await blocking({ try uploads.expire(upload) }) {
            throw APIError(status: .gone, code: "gone", message: "this upload expired unfinished")
        }
        switch request.method {
        case .head:
            switch upload.state {
            case .receiving, .stored:
                return Response(status: .ok, headers: tusHeaders(upload, offset: upload.state == .stored ? upload.length : nil))
            case .expired:
                throw APIError(status: .gone, code: "gone", message: "this upload expired unfinished")
            case .terminated, .refused:
                throw APIError.notFound("no upload \(uploadID)")
            }
        case .delete:
            try await blocking { try uploads.terminate(upload) }
            var headers = HTTPFields()
            headers[Self.tusResumable] = Self.tusVersion
            return Response(status: .noContent, headers: headers)
        default:
            guard request.headers[.contentType] == Self.offsetContentType else {
                throw APIError(status: .unsupportedMediaType, code: "bad_content_type",
                               message: "a PATCH carries Content-Type: \(Self.offsetContentType)")
            }
            guard let text = request.headers[Self.uploadOffset], let offset = Int64(text), offset >= 0 else {
                throw APIError.badRequest("Upload-Offset (a non-negative integer) is required")
            }
            guard upload.state == .receiving else {
                throw APIError(status: upload.state == .stored ? .conflict : .gone, code: "upload_ended",
                               message: upload.state == .stored ? "this upload is complete and stored" : "this upload has ended")
            }
            guard offset == upload.received else {
                var e = APIError.conflict("Upload-Offset is \(offset), but \(upload.received) bytes have arrived: resume from there")
                e.headers = tusHeaders(upload)
                throw e
            }
            let (received, outcome) = try await receive(request, upload: upload, types: types)
            var headers = tusHeaders(upload, offset: received)
            if let outcome { addVersionHeaders(outcome, to: &headers) }
            return Response(status: .noContent, headers: headers)
        }
    }

    /// Which version a complete upload became.
    func addVersionHeaders(_ outcome: RecordOutcome, to headers: inout HTTPFields) {
        headers[HTTPField.Name("Depot-Version-ID")!] = String(outcome.version.id)
        headers[HTTPField.Name("Depot-Version")!] = String(outcome.version.number)
    }

    /// Adds a request's body to an upload, checked against its `Upload-Checksum`, durable when
    /// this returns; stores the upload once complete. Returns the offset and, once stored, the
    /// version.
    func receive(_ request: Request, upload: UploadRecord, types: [String]) async throws -> (Int64, RecordOutcome?) {
        let uploads = try uploadsOrFail
        var expected: [UInt8]?
        var checksum: ChecksumHasher?
        if let header = request.headers[HTTPField.Name("Upload-Checksum")!] {
            let parts = header.split(separator: " ")
            guard parts.count == 2, let hasher = ChecksumHasher(algorithm: String(parts[0]).lowercased()) else {
                throw APIError.badRequest("Upload-Checksum must be ALGORITHM BASE64 with one of: \(ChecksumHasher.algorithms.joined(separator: ", "))")
            }
            guard let digest = Data(base64Encoded: String(parts[1])) else { throw APIError.badRequest("Upload-Checksum's value is not base64") }
            expected = Array(digest)
            checksum = hasher
        }
        if let text = request.headers[.contentLength], let declared = Int64(text), declared > upload.length - upload.received {
            throw APIError(status: .contentTooLarge, code: "payload_too_large",
                           message: "this request carries \(declared) bytes; the upload needs only \(upload.length - upload.received) more")
        }
        guard try await blocking({ try uploads.stillAllowed(upload, now: Int64(Date().timeIntervalSince1970)) }) else {
            throw APIError.badLink
        }
        let session = try await blocking { try uploads.begin(upload) }
        // Only the one request that holds the session touches it from here on.
        let hold = SessionHold(session: session, checksum: checksum)
        let failure = await Self.write(request.body, to: hold, limit: upload.length - upload.received)
        let mismatch = failure == nil && expected != nil && hold.checksumDigest() != expected
        let writeFailure = failure as? WriteFailure
        let diskFull = (writeFailure?.underlying as? SystemError).map { $0.errno == ENOSPC || $0.errno == EDQUOT } ?? false
        // Bytes that cannot be vouched for are cut off again: any with a checksum that did not
        // arrive whole or did not match, any past the upload's length, and any whose write
        // failed. So are this request's bytes on a full disk, to leave the catalog room to
        // record the offset. Without a checksum, what arrived before a dropped connection is
        // kept: that is what resuming is for.
        let discard = (checksum != nil && (failure != nil || mismatch)) || failure is TooManyBytes || diskFull
            || writeFailure?.written == false
        let result = try await blocking {
            try uploads.finish(session, upload: upload, discardFrom: discard ? upload.received : nil,
                               allowedTypes: (failure == nil && !mismatch) ? types : [])
        }
        if mismatch {
            throw APIError(status: HTTPResponse.Status(code: 460, reasonPhrase: "Checksum Mismatch"), code: "checksum_mismatch",
                           message: "the bytes do not match Upload-Checksum; send them again")
        }
        if let failure {
            if failure is TooManyBytes {
                throw APIError(status: .contentTooLarge, code: "payload_too_large", message: "more bytes than Upload-Length")
            }
            if diskFull, var full = Uploads.diskFull("No space left") {
                full.headers = tusHeaders(upload, offset: result.received)
                throw full
            }
            throw writeFailure?.underlying ?? failure
        }
        return result
    }

    /// Streams a body into an upload's file: each buffer is hashed as it arrives and copied
    /// into the writer's current block, and each full block is written on a blocking thread
    /// while the next one fills (an upload of any size holds about two blocks of the body).
    /// nil when all of it went in. After a dropped connection what arrived is written too;
    /// after any other error what was written is in the file but may not be all that was
    /// hashed (the caller cuts the request's bytes off again).
    static func write(_ body: RequestBody, to hold: SessionHold, limit: Int64) async -> Error? {
        var total: Int64 = 0
        var pending: Task<Void, Error>?
        do {
            do {
                for try await part in body {
                    total += Int64(part.readableBytes)
                    guard total <= limit else { throw TooManyBytes() }
                    let blocks = hold.take(part)
                    for (index, block) in blocks.enumerated() {
                        do { try await pending?.value } catch {
                            blocks[index...].forEach(hold.discard)
                            throw error
                        }
                        pending = Task { try await blocking { try hold.write(block) } }
                    }
                }
            } catch where !(error is TooManyBytes) && !(error is WriteFailed) {
                // The connection went: what came before it is the client's to keep.
                try await pending?.value
                pending = nil
                try await blocking { try hold.flush() }
                throw error
            }
            try await pending?.value
            pending = nil
            try await blocking { try hold.flush() }
            return nil
        } catch {
            // The write in flight ends before the session is let go.
            _ = try? await pending?.value
            return error is TooManyBytes ? error : WriteFailure(underlying: (error as? WriteFailed)?.underlying ?? error,
                                                                written: hold.allWritten)
        }
    }

    // MARK: PUT

    /// PUT /api/v1/documents/COLLECTION/PATH: a whole file in one request (scripts, small
    /// files). 201 with the version (200 when the bytes are those of the current version).
    func put(_ request: Request, context: DepotRequestContext) async throws -> Response {
        let uploads = try uploadsOrFail
        // Percent-decoded segment by segment: "%2F" inside a name is refused, never a folder.
        func decoded(_ segment: Substring) throws -> String {
            guard let text = segment.removingPercentEncoding, !text.contains("/") else {
                throw APIError(status: .badRequest, code: "bad_file_name", message: "'\(segment)' is not a file or folder name")
            }
            return text
        }
        let collection = try decoded(Substring(try context.parameters.require("id")))
        let path = try context.parameters.getCatchAll().map(decoded).joined(separator: "/")
        guard let text = request.headers[.contentLength], let length = Int64(text), length >= 0 else {
            throw APIError(status: HTTPResponse.Status(code: 411, reasonPhrase: "Length Required"), code: "length_required",
                           message: "send Content-Length (or upload with tus at /api/v1/uploads)")
        }
        let upload = try await blocking {
            try uploads.create(owner: .token, collection: collection, fileName: path, length: length, metadata: "", claimedType: nil)
        }
        do {
            let (_, outcome) = try await receive(request, upload: upload, types: [])
            guard let outcome else { throw APIError.badRequest("the body ended before Content-Length bytes") }
            var headers = HTTPFields()
            headers[.location] = "/api/v1/documents/\(outcome.version.documentID)"
            let status: HTTPResponse.Status = outcome.label == "unchanged" ? .ok : .created
            return jsonResponse(VersionRecord(outcome.version), status: status, headers: headers)
        } catch {
            // A PUT cannot be resumed: what arrived goes.
            if let current = try? await blocking({ try uploads.upload(id: upload.id) }), current.state == .receiving {
                _ = try? await blocking { try uploads.terminate(current) }
            }
            throw error
        }
    }

    // MARK: upload links and uploads

    func listUploads(_ request: Request) async throws -> Response {
        let uploads = try uploadsOrFail
        let (limit, offset) = try paging(request)
        let linkID = request.uri.queryParameters["link_id"].map(String.init)
        let records = try await blocking { try uploads.uploads(linkID: linkID, limit: limit + 1, offset: offset) }
        return page(records.map(UploadView.init), limit: limit, offset: offset)
    }

    func listUploadLinks(_ request: Request) async throws -> Response {
        let uploads = try uploadsOrFail
        let (limit, offset) = try paging(request)
        return page(try await blocking { try uploads.links(limit: limit + 1, offset: offset) }, limit: limit, offset: offset)
    }

    func mintUploadLink(_ request: Request) async throws -> Response {
        let uploads = try uploadsOrFail
        let body = try await readJSON(request)
        guard let collection = body["collection"] as? String else { throw APIError.badRequest("collection (a string) is required") }
        var ask = UploadLinkRequest(collection: collection, createdBy: "api")
        if let folder = body["folder"] {
            guard let text = folder as? String else { throw APIError.badRequest("folder must be a string") }
            ask.folder = text
        }
        if let e = body["expires_in"] { ask.lifetime = try Self.lifetime(e) }
        if let v = body["max_size"] {
            if let n = Self.integer(v), n > 0 { ask.maxSize = n }
            else if let text = v as? String, let n = parseByteSize(text), n > 0 { ask.maxSize = n }
            else { throw APIError.badRequest("max_size is a number of bytes or a size such as \"4G\"") }
        }
        if let v = body["max_files"] {
            guard let n = Self.integer(v), n > 0, n <= 1_000_000 else { throw APIError.badRequest("max_files must be from 1 to 1000000") }
            ask.maxFiles = Int(n)
        }
        if let v = body["types"] {
            guard let list = v as? [Any], list.allSatisfy({ $0 is String }) else { throw APIError.badRequest("types is a list of strings") }
            ask.types = list.compactMap { $0 as? String }
        }
        if let ip = body["ip"] {
            guard let text = ip as? String, isIPAddress(text) else { throw APIError.badRequest("ip must be an IPv4 or IPv6 address") }
            ask.clientIP = text
        }
        let base = baseURL(request)
        let chosen = ask
        return jsonResponse(try await minting { try uploads.mintLink(chosen, baseURL: base) }, status: .created)
    }
}

extension UploadOwner {
    var isLink: Bool { if case .link = self { return true } else { return false } }
    var types: [String] { if case .link(let link) = self { return link.types } else { return [] } }
}

/// A body that carried more bytes than the upload has left.
struct TooManyBytes: Error {}

/// Why a body did not all go into the file: the stream broke (the client went) or a write
/// failed. `written`: every byte hashed is in the file (so they may be kept).
struct WriteFailure: Error {
    let underlying: Error
    /// Whether every byte hashed is in the file.
    let written: Bool
}

/// A write to the upload's file failed (as opposed to the body's stream).
struct WriteFailed: Error {
    let underlying: Error
}

/// The session of one request's upload, as its bytes are hashed and staged (on the request's
/// task) and written (on a blocking thread, one block at a time, in order).
final class SessionHold: @unchecked Sendable {
    let session: UploadSession

    init(session: UploadSession, checksum: ChecksumHasher?) {
        self.session = session
        session.checksum = checksum
    }

    /// Hashes a buffer of the body and appends it; the blocks it filled, to be written.
    func take(_ part: ByteBuffer) -> [StagedBlock] {
        guard let writer = session.writer else { return [] }
        return part.withUnsafeReadableBytes { bytes in
            session.hash(bytes)
            return writer.append(bytes)
        }
    }

    func write(_ block: StagedBlock) throws {
        do { try session.writer?.write(block) } catch { throw WriteFailed(underlying: error) }
    }

    /// Gives back a block that will not be written (an earlier one failed).
    func discard(_ block: StagedBlock) { session.writer?.discard(block) }

    func flush() throws {
        do { try session.writer?.flush() } catch { throw WriteFailed(underlying: error) }
    }

    /// Whether every byte appended (and so hashed) is in the file.
    var allWritten: Bool { session.writer.map { $0.writtenEnd >= $0.offset } ?? true }

    func checksumDigest() -> [UInt8]? { session.checksum?.finish() }
}
