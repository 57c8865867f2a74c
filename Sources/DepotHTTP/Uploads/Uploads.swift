import DepotCore
import DepotStore
import Foundation
import HTTPTypes
import Logging
import Metrics
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Who an upload belongs to, and so what it may do.
enum UploadOwner: Sendable {
    /// An upload link: its place, limits and life.
    case link(UploadLinkRecord)
    /// An API token's (admin): any collection and path.
    case token
}

/// Uploads, one implementation for upload links (`depot link upload`, the API), the tus
/// endpoints and `PUT /api/v1/documents/…`: making and checking links, creating uploads,
/// adding their bytes (hashed as they arrive, durable at the end of each request), and
/// handing a complete one to the same ingest a dropped file goes through. Every method
/// blocks: callers on the concurrency pool hop to a thread first.
public struct Uploads: Sendable {
    let database: any CatalogDatabase
    /// Where each request's new offset is recorded: a connection whose commits are atomic and
    /// in order but made durable by the next full commit (see `finish`).
    let offsets: any CatalogDatabase
    let partials: PartialUploads
    let ingestor: Ingestor
    let signer: LinkSigner
    let settings: HTTPSettings
    let collections: CollectionSettingsResolver
    let detectType: MediaTypeDetector
    let sessions = UploadSessions()
    let logger: Logger

    public init(database: any CatalogDatabase, partials: PartialUploads, ingestor: Ingestor, signer: LinkSigner,
                settings: HTTPSettings, collections: CollectionSettingsResolver, detectType: @escaping MediaTypeDetector,
                logger: Logger = Logger(label: "depot.upload"), offsets: (any CatalogDatabase)? = nil) {
        self.database = database
        self.offsets = offsets ?? database
        self.partials = partials
        self.ingestor = ingestor
        self.signer = signer
        self.settings = settings
        self.collections = collections
        self.detectType = detectType
        self.logger = logger
    }

    // MARK: links

    /// The path an upload link's page has, which its signature covers: "/u/ID".
    static func linkPath(_ id: String) -> String { "/u/" + id }

    /// Makes an upload link; its URL starts with `baseURL` (nil: `http.base_url`, else listen:port).
    /// - Throws: `LinkError` for a bad request (no such collection, a limit past the server's,
    ///   a lifetime past the collection's maximum), the `ConfigError` of a broken `.depot.toml`.
    public func mintLink(_ request: UploadLinkRequest, baseURL: String? = nil,
                         now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> UploadLinkView {
        guard validCollectionName(request.collection) else {
            throw LinkError.invalid("'\(request.collection)' is not a collection name")
        }
        guard collectionExists(request.collection) else {
            throw LinkError.notFound("no collection '\(request.collection)' (its folder \(collections.inbox)/\(request.collection) does not exist)")
        }
        let folder = request.folder.split(separator: "/").joined(separator: "/")
        guard folder.isEmpty || validUploadPath(folder) else { throw LinkError.invalid("'\(request.folder)' is not a folder inside a collection") }
        let types = try UploadTypes.parse(request.types)
        let maxSize = request.maxSize ?? settings.maxUploadSize
        guard maxSize > 0, maxSize <= settings.maxUploadSize else {
            throw LinkError.invalid("an upload may be at most \(describeBytes(settings.maxUploadSize)) (http.max_upload_size)")
        }
        if let n = request.maxFiles, n < 1 || n > 1_000_000 { throw LinkError.invalid("max files must be from 1 to 1000000") }
        let lifetime = request.lifetime ?? settings.uploadLinkExpiry
        let maximum = try collections.settings(for: request.collection).maxLinkLifetime
        guard lifetime > .zero else { throw LinkError.invalid("a link's lifetime must be positive") }
        guard lifetime <= maximum else {
            throw LinkError.invalid("a link may live at most \(formatDuration(maximum)) for this collection (asked: \(formatDuration(lifetime)))")
        }
        let id = try LinkSigner.newLinkID()
        let record = UploadLinkRecord(id: id, collection: request.collection, folder: folder, maxSize: maxSize,
                                      maxFiles: request.maxFiles, types: types, clientIP: request.clientIP.map(normalizeIP),
                                      createdAtNanoseconds: wallClockNanoseconds(), expires: now + lifetime.components.seconds,
                                      createdBy: request.createdBy)
        let link = signer.sign(path: Self.linkPath(id), expires: record.expires, clientIP: record.clientIP, linkID: id,
                               purpose: .upload)
        try database.write { tx in try UploadRecords.addLink(record, in: tx) }
        return UploadLinkView(record, files: 0, url: (baseURL ?? settings.publicBaseURL) + link.pathAndQuery)
    }

    /// Whether a collection's inbox folder exists: uploads go only where files can be dropped.
    func collectionExists(_ name: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: collections.inbox + "/" + name, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Upload links, newest first, each with the files it took.
    public func links(limit: Int, offset: Int) throws -> [UploadLinkView] {
        try database.read { tx in
            try UploadRecords.links(limit: limit, offset: offset, in: tx).map {
                UploadLinkView($0, files: try UploadRecords.filesCounted(linkID: $0.id, in: tx))
            }
        }
    }

    /// Revokes an upload link: its page and every upload through it stop at once.
    public func revokeLink(id: String) throws -> Bool {
        try database.write { tx in try UploadRecords.revokeLink(id: id, in: tx) }
    }

    /// The live link a signed upload URL names, or nil (bad, expired, revoked, wrong address).
    func liveLink(_ link: SignedLink, remoteIP: String?, now: Int64) throws -> UploadLinkRecord? {
        guard signer.verify(link, purpose: .upload, method: "", remoteIP: remoteIP, now: now,
                            skew: settings.clockSkew.components.seconds),
              link.path == Self.linkPath(link.linkID) else { return nil }
        return try unrevokedUnexpired(linkID: link.linkID, now: now)
    }

    /// Whether an upload's link still lets it go on (for one that came through a link).
    func stillAllowed(_ upload: UploadRecord, now: Int64) throws -> Bool {
        guard let linkID = upload.linkID else { return true }
        return try unrevokedUnexpired(linkID: linkID, now: now) != nil
    }

    /// The upload link with this id, unless it is revoked or expired (with the clock skew's grace).
    private func unrevokedUnexpired(linkID: String, now: Int64) throws -> UploadLinkRecord? {
        try database.read { tx in try UploadRecords.link(id: linkID, in: tx) }
            .flatMap { $0.revokedAtNanoseconds == nil && now <= $0.expires + settings.clockSkew.components.seconds ? $0 : nil }
    }

    // MARK: uploads

    /// Starts an upload of `length` bytes to `path` inside the owner's place.
    /// - Parameters:
    ///   - fileName: for a link: the file's name, put in the link's folder; for a token: the
    ///     path inside `collection`.
    ///   - claimedType: the client's own idea of the type (tus `filetype`), refused early when
    ///     the link does not take it.
    func create(owner: UploadOwner, collection: String?, fileName: String, length: Int64, metadata: String,
                claimedType: String?, tokenID: String? = nil, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> UploadRecord {
        guard length >= 0 else { throw APIError.badRequest("Upload-Length must be a non-negative integer") }
        let target: (collection: String, path: String, expires: Int64, linkID: String?)
        let expiry = now + settings.uploadExpiry.components.seconds
        switch owner {
        case .link(let link):
            let name = fileName.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.contains("/"), validUploadPath(name), !name.hasPrefix(".") else {
                throw APIError(status: .badRequest, code: "bad_file_name",
                               message: "'\(fileName)' cannot be a file name here (no '/', '\\\\', leading '.', or control characters)")
            }
            guard length <= link.maxSize else {
                throw APIError(status: .contentTooLarge, code: "payload_too_large",
                               message: "this link takes files of at most \(describeBytes(link.maxSize)); this one is \(describeBytes(length))")
            }
            if let claimedType, !claimedType.isEmpty, !UploadTypes.allows(link.types, mediaType: claimedType) {
                throw APIError(status: .unsupportedMediaType, code: "type_not_allowed",
                               message: "this link takes only \(link.types.joined(separator: ", ")) files (this one says it is \(claimedType))")
            }
            target = (link.collection, link.folder.isEmpty ? name : link.folder + "/" + name, min(expiry, link.expires), link.id)
        case .token:
            guard let collection, validCollectionName(collection) else {
                throw APIError.badRequest("give the collection (Upload-Metadata collection) as one folder name")
            }
            guard collectionExists(collection) else {
                throw APIError.notFound("no collection '\(collection)' (its folder \(collections.inbox)/\(collection) does not exist)")
            }
            guard validUploadPath(fileName) else {
                throw APIError(status: .badRequest, code: "bad_file_name",
                               message: "'\(fileName)' is not a path inside a collection (relative, no '.' or '..' segments)")
            }
            guard length <= settings.maxUploadSize else {
                throw APIError(status: .contentTooLarge, code: "payload_too_large",
                               message: "an upload may be at most \(describeBytes(settings.maxUploadSize)) (http.max_upload_size)")
            }
            target = (collection, fileName, expiry, nil)
        }
        let id = "up_" + hexString(try randomBytes(16))
        let stamp = wallClockNanoseconds()
        let record = UploadRecord(id: id, linkID: target.linkID, tokenID: tokenID, collection: target.collection, path: target.path,
                                  length: length, metadata: metadata, createdAtNanoseconds: stamp, updatedAtNanoseconds: stamp,
                                  expires: target.expires)
        try partials.create(id: id)
        do {
            try database.write { tx in
                if case .link(let link) = owner, let most = link.maxFiles,
                   try UploadRecords.filesCounted(linkID: link.id, in: tx) >= most {
                    throw APIError(status: .forbidden, code: "too_many_files", message: "this link takes at most \(most) files")
                }
                try UploadRecords.add(record, in: tx)
            }
        } catch {
            partials.remove(id: id)
            throw error
        }
        return record
    }

    /// Uploads, newest first (only those through `linkID` when it is given).
    public func uploads(linkID: String? = nil, limit: Int, offset: Int) throws -> [UploadRecord] {
        try database.read { tx in try UploadRecords.uploads(linkID: linkID, limit: limit, offset: offset, in: tx) }
    }

    func upload(id: String) throws -> UploadRecord? {
        try database.read { tx in try UploadRecords.upload(id: id, in: tx) }
    }

    /// Claims an upload for one request that adds bytes at `offset`, with the hash of what came
    /// before (read back from the file after a restart). 409 while another request holds it.
    func begin(_ upload: UploadRecord) throws -> UploadSession {
        guard let session = sessions.claim(upload.id) else {
            throw APIError(status: .conflict, code: "upload_busy", message: "another request is adding to this upload")
        }
        do {
            if session.hasher == nil || session.offset != upload.received {
                session.hasher = try partials.hasher(id: upload.id, length: upload.received)
                session.offset = upload.received
            }
            session.writer = try partials.openForWriting(id: upload.id, at: upload.received)
            session.takeSnapshot()
        } catch {
            sessions.release(session, keep: false)
            throw error
        }
        return session
    }

    /// Ends a request's hold: what it wrote is made durable and recorded (or, from
    /// `discardFrom`, cut off again); a complete upload is then stored, still under the hold,
    /// so that no second request stores it too. Returns the durable offset and, once
    /// complete, the version it became.
    func finish(_ session: UploadSession, upload: UploadRecord, discardFrom start: Int64?,
                allowedTypes: [String]) throws -> (received: Int64, outcome: RecordOutcome?) {
        var keep = true
        defer { sessions.release(session, keep: keep) }
        guard let writer = session.writer else { return (upload.received, nil) }
        let received: Int64
        do {
            if let start {
                try writer.truncate(to: start)
                session.restoreSnapshot()
            }
            try writer.sync()
            session.offset = writer.offset
            received = writer.offset
            // The bytes are on disk (the sync above); the offset's row need not be, this
            // moment: a commit on `offsets` costs no second flush. Lost to a power cut, the
            // row says fewer bytes than the file holds, the next request cuts the file back to
            // it, and the client, told that offset, sends the rest again: nothing is lost or
            // taken twice.
            if received != upload.received {
                try offsets.write { tx in try UploadRecords.setReceived(id: upload.id, received: received, in: tx) }
            }
        } catch {
            // A failed sync is never retried in place: the next request cuts the file back to
            // the recorded offset and the client sends those bytes again.
            keep = false
            throw error
        }
        guard received == upload.length, start == nil, let hasher = session.hasher else { return (received, nil) }
        var complete = upload
        complete.received = received
        return (received, try self.complete(complete, digest: hasher.copy().finish(), allowedTypes: allowedTypes))
    }

    /// Stores a complete upload through the ingest; the version it became, or a 415 when the
    /// link does not take its type (then nothing is stored and its bytes go).
    func complete(_ upload: UploadRecord, digest: Digest, allowedTypes: [String]) throws -> RecordOutcome {
        let name = upload.path.split(separator: "/").last.map(String.init) ?? upload.path
        let mediaType = detectType(try partials.reader(id: upload.id, length: upload.length), name)
        guard UploadTypes.allows(allowedTypes, mediaType: mediaType) else {
            let message = "this link takes only \(allowedTypes.joined(separator: ", ")) files; this one is \(mediaType)"
            _ = try database.write { tx in try UploadRecords.end(id: upload.id, state: .refused, error: message, in: tx) }
            partials.remove(id: upload.id)
            sessions.forget(upload.id)
            Self.count(.refused)
            throw APIError(status: .unsupportedMediaType, code: "type_not_allowed", message: message)
        }
        let item = IngestItem(sourcePath: partials.path(of: upload.id), collection: upload.collection, path: upload.path,
                              tags: [], disposition: .consume, origin: "upload", digest: digest)
        switch ingestor.ingest([item])[0] {
        case .stored(let outcome, _):
            _ = try database.write { tx in try UploadRecords.end(id: upload.id, state: .stored, versionID: outcome.version.id, in: tx) }
            sessions.forget(upload.id)
            Self.count(.stored)
            Counter(label: "depot_upload_bytes_total").increment(by: upload.length)
            logger.info("stored upload as \(outcome.summary)", metadata: [
                "collection": "\(upload.collection)", "path": "\(upload.path)", "version": "\(outcome.version.number)",
                "sha256": "\(outcome.version.digest.hex)", "link": "\(upload.linkID ?? "-")"])
            return outcome
        case .failed(let reason, let transient):
            if let full = Self.diskFull(reason) { throw full }
            throw APIError(status: transient ? .serviceUnavailable : .internalServerError, code: "not_stored",
                           message: "the upload is complete but could not be stored yet (\(reason)); send the last request again")
        case .skipped, .changed, .vanished:
            throw APIError(status: .internalServerError, code: "not_stored", message: "the upload's bytes changed or went before they were stored")
        }
    }

    /// Ends an upload at the client's request (tus termination); its bytes go.
    func terminate(_ upload: UploadRecord) throws {
        guard let session = sessions.claim(upload.id) else {
            throw APIError(status: .conflict, code: "upload_busy", message: "another request is adding to this upload")
        }
        defer { sessions.release(session, keep: false) }
        guard try database.write({ tx in try UploadRecords.end(id: upload.id, state: .terminated, in: tx) }) else {
            throw APIError.notFound("no upload \(upload.id) in progress")
        }
        partials.remove(id: upload.id)
        sessions.forget(upload.id)
        Self.count(.terminated)
    }

    /// Removes uploads that expired unfinished, and files no receiving upload owns (left by a
    /// crash between creating a file and its row). Returns how many went.
    @discardableResult
    public func sweep(now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Int {
        var removed = 0
        for upload in try database.read({ tx in try UploadRecords.expired(now: now, in: tx) }) where try expire(upload) {
            removed += 1
        }
        let receiving = try database.read { tx in try UploadRecords.receivingIDs(in: tx) }
        for id in try partials.ids() where !receiving.contains(id) && sessions.isIdle(id) {
            // A file created just now has its row a moment later: only old ones are orphans.
            if let st = try? statIfExists(partials.path(of: id)), Int64(st.st_mtim.tv_sec) < now - 3600 {
                partials.remove(id: id)
                removed += 1
            }
        }
        return removed
    }

    /// Ends an upload that is past its expiry, with its bytes; false when a request holds it
    /// or it has ended already.
    @discardableResult
    func expire(_ upload: UploadRecord) throws -> Bool {
        guard let session = sessions.claim(upload.id) else { return false }
        defer { sessions.release(session, keep: false) }
        guard try database.write({ tx in try UploadRecords.end(id: upload.id, state: .expired, in: tx) }) else { return false }
        partials.remove(id: upload.id)
        sessions.forget(upload.id)
        Self.count(.expired)
        logger.info("removed an upload that expired unfinished", metadata: [
            "upload": "\(upload.id)", "path": "\(upload.collection)/\(upload.path)", "received": "\(upload.received)"])
        return true
    }

    /// `depot_uploads_total{outcome}`: uploads that ended, by how.
    static func count(_ outcome: UploadState) {
        Counter(label: "depot_uploads_total", dimensions: [("outcome", outcome.rawValue)]).increment()
    }

    /// The 507 of a full disk, from an error's description, or nil.
    static func diskFull(_ reason: String) -> APIError? {
        guard reason.contains("No space left") || reason.contains("Disk quota") || reason.contains("disk is full") else { return nil }
        return APIError(status: HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), code: "insufficient_storage",
                        message: "the store's disk is full; what arrived is kept, resume once there is space")
    }
}

/// The uploads requests are adding to right now, each held by one request at a time, with the
/// SHA-256 of the bytes so far (so that a complete upload is not read again to hash it).
final class UploadSessions: Sendable {
    private let sessions = Mutex<[String: UploadSession]>([:])

    /// The upload's session, held for the caller; nil while another request holds it.
    func claim(_ id: String) -> UploadSession? {
        sessions.withLock { sessions in
            let session = sessions[id] ?? UploadSession()
            if session.busy { return nil }
            session.busy = true
            sessions[id] = session
            return session
        }
    }

    /// Lets go of a session; `keep: false` drops its hash (rebuilt from the file next time).
    func release(_ session: UploadSession, keep: Bool) {
        sessions.withLock { sessions in
            session.writer = nil
            session.snapshot = nil
            session.checksum = nil
            session.busy = false
            if !keep { session.hasher = nil }
        }
    }

    func forget(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }

    func isIdle(_ id: String) -> Bool { sessions.withLock { !($0[id]?.busy ?? false) } }
}

/// One upload as one request adds to it. Used by the one request that holds it
/// (`UploadSessions.claim`), hence `@unchecked Sendable`.
final class UploadSession: @unchecked Sendable {
    var busy = false
    /// SHA-256 of the bytes [0, offset).
    var hasher: SHA256Hasher?
    var offset: Int64 = 0
    var writer: PartialUploadWriter?
    /// The hash before this request's bytes, to go back to if they are refused.
    var snapshot: SHA256Hasher?
    /// The client's checksum of this request's bytes (tus `Upload-Checksum`), being computed.
    var checksum: ChecksumHasher?

    /// Remembers the hash as it is now (before a chunk that carries a checksum).
    func takeSnapshot() { snapshot = hasher?.copy() }

    func restoreSnapshot() {
        if let snapshot { hasher = snapshot }
        snapshot = nil
    }

    /// Adds bytes to the hash of the upload and to the request's checksum.
    func hash(_ bytes: UnsafeRawBufferPointer) {
        hasher?.update(bytes)
        checksum?.update(bytes)
    }
}
