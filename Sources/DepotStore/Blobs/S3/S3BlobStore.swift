import DepotCore
import DepotCurl
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Blobs as objects `<prefix>sha256/<hex>` in an S3-compatible bucket (AWS S3, MinIO, Ceph
/// RGW, Garage), signed with SigV4.
///
/// Staging reads the source once, hashing it whole and in `partSize` pieces (the name is known
/// only at the end), and copies nothing: `commit` uploads each blob under its final name from
/// the source itself — one PUT of bytes re-hashed against the digest as they are sent, or a
/// multipart upload in `partSize` parts, each signed with the hash staging took of it (the
/// server checks the bytes against it) and retried alone, aborted when it cannot finish. A
/// source that changed since staging (its identity, size or mtime, or bytes that no longer
/// match) fails the commit, and the file is staged again next time (docs/DECISIONS.md). S3
/// acknowledges a PUT once it is durable, so there is no barrier of our own. A blob that is
/// stored already is re-read and re-hashed, as on disk, and replaced when damaged.
public final class S3BlobStore: BlobStore {
    let client: S3Client
    public let tempRoot: String
    public var settings: S3Settings { client.settings }
    /// Upload ids of the multipart uploads this process has under way (never taken for
    /// abandoned ones).
    private let inFlight = Mutex<Set<String>>([])
    /// Parts held in memory at once, across all uploads: `concurrency`.
    private let partSlots: DispatchSemaphore
    /// Sizes of blobs this store committed a moment ago, so that opening one right after its
    /// commit (type detection, the first job) costs no HEAD. Bounded; emptied when full.
    private let committed = Mutex<[Digest: Int64]>([:])
    static let committedLimit = 4096

    /// - Parameters:
    ///   - temp: the local staging folder.
    public init(settings: S3Settings, credentials: S3Credentials, temp: String) throws {
        client = try S3Client(settings: settings, credentials: credentials)
        partSlots = DispatchSemaphore(value: settings.concurrency)
        tempRoot = temp
        try makeDirectories(temp)
    }

    /// With the credentials from `settings.credentialsFile`.
    public convenience init(settings: S3Settings, temp: String) throws {
        try self.init(settings: settings, credentials: try S3Credentials.load(path: settings.credentialsFile, profile: settings.profile),
                      temp: temp)
    }

    /// Creates the bucket of `settings` (an existing one of the same owner is fine).
    public static func createBucket(settings: S3Settings, credentials: S3Credentials) throws {
        let client = try S3Client(settings: settings, credentials: credentials)
        var body: [UInt8] = []
        if settings.region != "us-east-1" {
            body = Array("<CreateBucketConfiguration><LocationConstraint>\(settings.region)</LocationConstraint></CreateBucketConfiguration>".utf8)
        }
        do {
            _ = try client.send(.init(method: "PUT", key: nil, upload: .bytes(body), payloadHash: SHA256Hasher.digest(body).hex))
        } catch let error as S3Error where error.code == "BucketAlreadyOwnedByYou" {}
    }

    func key(of digest: Digest) -> String { settings.prefix + "sha256/" + digest.hex }

    // MARK: Writing

    public func stage(_ source: BlobSource) throws -> StagedBlob {
        let file = try OpenedSource(path: source.path)
        let partSize = Int64(settings.partSize)
        var blob: StagedBlob
        if let digest = source.digest, Int64(file.before.st_size) <= partSize {
            // Written and hashed by depot itself, and one PUT: nothing to read now.
            blob = file.staged(digest: digest, size: Int64(file.before.st_size), token: source.path)
        } else {
            _ = posix_fadvise(file.fd, 0, 0, POSIX_FADV_SEQUENTIAL)
            let hashed = try hashParts(of: file, partSize: partSize, whole: source.digest == nil)
            blob = file.staged(digest: source.digest ?? hashed.digest!, size: hashed.size, token: source.path)
            if hashed.size > partSize { blob.partDigests = hashed.parts }
        }
        blob.readsSource = true
        return blob
    }

    /// One read of the file: the SHA-256 of every `partSize` piece, and of the whole unless
    /// `whole` is false; then checks that it did not change meanwhile.
    private func hashParts(of file: borrowing OpenedSource, partSize: Int64, whole: Bool)
        throws -> (digest: Digest?, parts: [Digest], size: Int64) {
        let hasher = whole ? SHA256Hasher() : nil
        var part = SHA256Hasher()
        var parts: [Digest] = []
        var inPart: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = try sysCall("read", path: file.path) { read(file.fd, buffer.baseAddress, buffer.count) }
            if n == 0 { break }
            var chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher?.update(chunk)
            while !chunk.isEmpty {
                let take = Int(min(Int64(chunk.count), partSize - inPart))
                part.update(UnsafeRawBufferPointer(rebasing: chunk[0..<take]))
                inPart += Int64(take)
                chunk = UnsafeRawBufferPointer(rebasing: chunk[take...])
                if inPart == partSize {
                    parts.append(part.finish())
                    part = SHA256Hasher()
                    inPart = 0
                }
            }
            total += Int64(n)
        }
        if inPart > 0 { parts.append(part.finish()) }
        try file.checkUnchanged(bytesRead: total)
        return (hasher?.finish(), parts, total)
    }

    /// Uploads the batch `concurrency` blobs at a time; the first error is thrown once every
    /// upload under way has ended (those that went through stay: they are named by content).
    public func commit(_ staged: [StagedBlob]) throws -> [BlobCommit] {
        defer { for blob in staged where !blob.readsSource { unlink(blob.token) } }
        return try concurrently(staged.count, width: settings.concurrency) { index in
            let blob = staged[index]
            var result = BlobCommit.new
            // A blob the catalog does not know is put without asking first (one round trip,
            // not two); one it knows is checked, and healed when damaged.
            if blob.cataloged != false, let stored = try size(of: blob.digest) {
                if stored == blob.size, try verify(blob.digest) {
                    remember(blob)
                    return .existing
                }
                result = .healed
            }
            try upload(blob)
            remember(blob)
            return result
        }
    }

    private func remember(_ blob: StagedBlob) {
        committed.withLock { sizes in
            if sizes.count >= Self.committedLimit { sizes.removeAll(keepingCapacity: true) }
            sizes[blob.digest] = blob.size
        }
    }

    /// Puts a staged blob under its final key, read from its source: one PUT, or parts when it
    /// is larger than a part.
    private func upload(_ blob: StagedBlob) throws {
        let fd = try sysCall("open", path: blob.token) { Glibc.open(blob.token, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) }
        defer { close(fd) }
        try checkStill(blob, fd: fd)
        let key = key(of: blob.digest)
        if blob.partDigests.isEmpty {
            partSlots.wait()
            defer { partSlots.signal() }
            let bytes = try readPart(of: fd, at: 0, count: Int(blob.size), path: blob.token)
            // Re-hashed here, whatever the server checks: what goes up is what was named.
            guard SHA256Hasher.digest(bytes) == blob.digest else { throw BlobStoreError.changedWhileReading(blob.token) }
            _ = try client.send(.init(method: "PUT", key: key, headers: [("Content-Type", "application/octet-stream")],
                                      upload: .bytes(bytes), payloadHash: blob.digest.hex))
            return
        }
        try uploadParts(of: fd, blob: blob, key: key)
    }

    /// Throws `changedWhileReading` unless the open source is still the file staged, with the
    /// size and mtime it had.
    private func checkStill(_ blob: StagedBlob, fd: Int32) throws {
        var st = stat()
        try sysCall("fstat", path: blob.token) { fstat(fd, &st) }
        guard UInt64(st.st_dev) == blob.sourceDevice, UInt64(st.st_ino) == blob.sourceInode, Int64(st.st_size) == blob.size,
              nanoseconds(st.st_mtim) == blob.sourceMtimeNanoseconds else {
            throw BlobStoreError.changedWhileReading(blob.token)
        }
    }

    /// `count` bytes from `offset`, all of them (a short file changed since staging).
    private func readPart(of fd: Int32, at offset: Int64, count: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { raw in
            var done = 0
            while done < count {
                let n = try sysCall("pread", path: path) { pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
                if n == 0 { throw BlobStoreError.changedWhileReading(path) }
                done += n
            }
        }
        return bytes
    }

    /// A multipart upload: each part read into memory and sent signed with the hash staging
    /// took of it (retried by the client on its own); the source is checked again before the
    /// parts are put together; any failure aborts the upload so that no parts are left behind
    /// to be billed.
    private func uploadParts(of fd: Int32, blob: StagedBlob, key: String) throws {
        let size = blob.size, path = blob.token
        let created = try client.send(.init(method: "POST", key: key, query: [("uploads", "")],
                                            headers: [("Content-Type", "application/octet-stream")]))
        guard let uploadID = xmlValues("UploadId", in: String(decoding: created.body, as: UTF8.self)).first else {
            throw S3Error(operation: "POST \(settings.bucket)/\(key)?uploads", status: created.status, code: "InvalidResponse",
                          message: "no UploadId in the answer")
        }
        inFlight.withLock { _ = $0.insert(uploadID) }
        defer { inFlight.withLock { _ = $0.remove(uploadID) } }
        do {
            let partSize = Int64(settings.partSize)
            let parts = blob.partDigests.count
            guard Int64(parts) == (size + partSize - 1) / partSize else { throw BlobStoreError.changedWhileReading(path) }
            // `concurrency` parts in flight, each in memory once (across every upload).
            let etags = try concurrently(parts, width: settings.concurrency) { index -> String in
                partSlots.wait()
                defer { partSlots.signal() }
                let offset = Int64(index) * partSize
                let bytes = try readPart(of: fd, at: offset, count: Int(min(partSize, size - offset)), path: path)
                let answer = try client.send(.init(method: "PUT", key: key,
                                                   query: [("partNumber", String(index + 1)), ("uploadId", uploadID)],
                                                   upload: .bytes(bytes), payloadHash: blob.partDigests[index].hex))
                guard let etag = answer.headers["etag"] else {
                    throw S3Error(operation: "PUT \(settings.bucket)/\(key) part \(index + 1)", status: answer.status,
                                  code: "InvalidResponse", message: "no ETag in the answer")
                }
                return etag
            }
            try checkStill(blob, fd: fd)
            let document = "<CompleteMultipartUpload>"
                + etags.enumerated().map { "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\(xmlEscape($0.element))</ETag></Part>" }.joined()
                + "</CompleteMultipartUpload>"
            let body = Array(document.utf8)
            let completed = try client.send(.init(method: "POST", key: key, query: [("uploadId", uploadID)],
                                                  headers: [("Content-Type", "application/xml")],
                                                  upload: .bytes(body), payloadHash: SHA256Hasher.digest(body).hex))
            // S3 may answer 200 and still fail the completion, in the body.
            let text = String(decoding: completed.body, as: UTF8.self)
            if text.contains("<Error>") {
                throw S3Error(operation: "POST \(settings.bucket)/\(key)?uploadId", status: completed.status,
                              code: xmlValues("Code", in: text).first ?? "InternalError", message: xmlValues("Message", in: text).first ?? text)
            }
        } catch {
            try? abort(key: key, uploadID: uploadID)
            throw error
        }
    }

    private func abort(key: String, uploadID: String) throws {
        _ = try client.send(.init(method: "DELETE", key: key, query: [("uploadId", uploadID)], accept: [404]))
    }

    /// Puts bytes under a key as they are (tests: damage a stored blob).
    func putObject(key: String, bytes: [UInt8]) throws {
        _ = try client.send(.init(method: "PUT", key: key, upload: .bytes(bytes), payloadHash: SHA256Hasher.digest(bytes).hex))
    }

    public func discard(_ staged: StagedBlob) {
        if !staged.readsSource { unlink(staged.token) }
    }

    // MARK: Reading

    public func contains(_ digest: Digest) throws -> Bool {
        try size(of: digest) != nil
    }

    public func size(of digest: Digest) throws -> Int64? {
        let answer = try client.send(.init(method: "HEAD", key: key(of: digest), accept: [404]))
        guard answer.status != 404 else { return nil }
        guard let length = answer.headers["content-length"].flatMap({ Int64($0) }) else {
            throw S3Error(operation: "HEAD \(settings.bucket)/\(key(of: digest))", status: answer.status, code: "InvalidResponse",
                          message: "no Content-Length in the answer")
        }
        return length
    }

    public func open(_ digest: Digest) throws -> BlobReader {
        guard let size = try committed.withLock({ $0[digest] }) ?? size(of: digest) else { throw BlobStoreError.missing(digest.hex) }
        return S3BlobReader(client: client, key: key(of: digest), size: size)
    }

    public func localPath(of digest: Digest) -> String? { nil }

    /// A presigned GET of the blob's object, answered with these Content-Type and
    /// Content-Disposition (S3's `response-*` overrides, which only signed requests may use).
    public func presignedURL(of digest: Digest, lifetime: Int, contentType: String?, contentDisposition: String?) -> String? {
        var query: [(String, String)] = []
        if let contentType { query.append(("response-content-type", contentType)) }
        if let contentDisposition { query.append(("response-content-disposition", contentDisposition)) }
        return client.presignedGET(key: key(of: digest), query: query, expires: min(max(1, lifetime), 604_800))
    }

    /// The source, read before it is uploaded (nil once it is not the file staged).
    public func openStaged(_ staged: StagedBlob) -> BlobReader? {
        let fd = Glibc.open(staged.token, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        guard (try? checkStill(staged, fd: fd)) != nil else {
            close(fd)
            return nil
        }
        return LocalBlobReader(fd: fd, size: staged.size, path: staged.token)
    }

    /// One HEAD per blob, `concurrency` at a time (this runs inside the write transaction
    /// that records them).
    public func requirePresent(_ digests: [Digest]) throws {
        let present = try concurrently(digests.count, width: settings.concurrency) { try self.contains(digests[$0]) }
        if let missing = zip(digests, present).first(where: { !$0.1 }) { throw BlobStoreError.missing(missing.0.hex) }
    }

    /// The bucket answers and a file can be staged.
    public func isWritable() -> Bool {
        canCreateFile(in: tempRoot) && (try? client.send(.init(method: "HEAD", key: nil))) != nil
    }

    /// Free space for staging (the bucket itself has no limit S3 tells of).
    public func freeBytes() -> Int64? { freeSpace(at: tempRoot) }

    public func allDigests() throws -> [Digest] {
        let prefix = settings.prefix + "sha256/"
        return try listKeys(prefix: prefix).compactMap { Digest(hex: String($0.dropFirst(prefix.count))) }
    }

    /// Every key that starts with `prefix` (ListObjectsV2, page by page). The server is asked
    /// for the keys under `settings.prefix` only, and the rest is filtered here: moto's server
    /// checks signatures against a query whose "%2F" it has decoded, so a '/' in a listing's
    /// prefix would fail there (docs/DECISIONS.md).
    func listKeys(prefix: String) throws -> [String] {
        try listKeys(asking: settings.prefix).filter { $0.hasPrefix(prefix) }
    }

    private func listKeys(asking prefix: String) throws -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let answer = try client.send(.init(method: "GET", key: nil, query: query))
            let text = String(decoding: answer.body, as: UTF8.self)
            keys += xmlValues("Key", in: text)
            token = xmlValues("IsTruncated", in: text).first == "true" ? xmlValues("NextContinuationToken", in: text).first : nil
        } while token != nil
        return keys
    }

    /// - Throws: `BlobStoreError.missing` when there is no such blob (S3's DELETE would not tell).
    public func remove(_ digest: Digest) throws {
        committed.withLock { _ = $0.removeValue(forKey: digest) }
        guard try contains(digest) else { throw BlobStoreError.missing(digest.hex) }
        _ = try client.send(.init(method: "DELETE", key: key(of: digest)))
    }

    /// Removes staged files of writers that are gone, and aborts multipart uploads under the
    /// prefix that are older than `abandonedUploadAge` and not this process's own (a crash
    /// mid-upload leaves their parts in the bucket).
    @discardableResult
    public func removeLeftovers() throws -> Int {
        var removed = try LocalBlobStore.removeDeadStagings(in: tempRoot)
        let mine = inFlight.withLock { $0 }
        let cutoff = time(nil) - time_t(settings.abandonedUploadAge.components.seconds)
        for upload in try multipartUploads() where !mine.contains(upload.id) {
            if let initiated = upload.initiated, initiated > cutoff { continue }
            try abort(key: upload.key, uploadID: upload.id)
            removed += 1
        }
        return removed
    }

    /// The multipart uploads under way under the prefix (ListMultipartUploads).
    func multipartUploads() throws -> [(key: String, id: String, initiated: time_t?)] {
        var uploads: [(key: String, id: String, initiated: time_t?)] = []
        var marker: (key: String, id: String)?
        repeat {
            var query = [("uploads", ""), ("prefix", settings.prefix)]
            if let marker { query += [("key-marker", marker.key), ("upload-id-marker", marker.id)] }
            let text = String(decoding: try client.send(.init(method: "GET", key: nil, query: query)).body, as: UTF8.self)
            for block in xmlValues("Upload", in: text) {
                guard let key = xmlValues("Key", in: block).first, let id = xmlValues("UploadId", in: block).first else { continue }
                uploads.append((key, id, xmlValues("Initiated", in: block).first.flatMap(parseISO8601)))
            }
            let truncated = xmlValues("IsTruncated", in: text).first == "true"
            marker = truncated ? xmlValues("NextKeyMarker", in: text).first.map { ($0, xmlValues("NextUploadIdMarker", in: text).first ?? "") } : nil
        } while marker != nil
        return uploads
    }
}

/// `work(0..<count)` on up to `width` threads at once, the results in order; the first error
/// (by index) is thrown once all have ended.
func concurrently<T: Sendable>(_ count: Int, width: Int, _ work: @Sendable (Int) throws -> T) throws -> [T] {
    guard count > 1, width > 1 else { return try (0..<count).map(work) }
    let results = Mutex<[Result<T, any Error>?]>(Array(repeating: nil, count: count))
    let next = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: min(width, count)) { _ in
        while true {
            let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard index < count else { return }
            let result = Result { try work(index) }
            results.withLock { $0[index] = result }
        }
    }
    return try results.withLock { $0 }.map { try $0!.get() }
}

/// `2026-12-02T13:53:10.000Z` as seconds since the epoch (UTC).
func parseISO8601(_ text: String) -> time_t? {
    let digits = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int32($0) }
    guard digits.count >= 6 else { return nil }
    var parts = tm()
    parts.tm_year = digits[0] - 1900
    parts.tm_mon = digits[1] - 1
    parts.tm_mday = digits[2]
    parts.tm_hour = digits[3]
    parts.tm_min = digits[4]
    parts.tm_sec = digits[5]
    return timegm(&parts)
}

/// Reads one object with ranged GETs: sequential reads through a window of `window` bytes
/// (one request per window, not per call); small reads at an offset (type detection's
/// probes) through a window of `smallWindow` bytes kept from the last one; larger ones
/// straight into the caller's buffer. Reads at an offset may come from any thread.
final class S3BlobReader: BlobReader, @unchecked Sendable {
    let client: S3Client
    let key: String
    let size: Int64
    static let window = 8 << 20
    static let smallWindow = 256 << 10
    private var position: Int64 = 0
    private var buffered: [UInt8] = []
    private var bufferedAt: Int64 = 0
    private let probed = Mutex<(at: Int64, bytes: [UInt8])>((0, []))

    init(client: S3Client, key: String, size: Int64) {
        self.client = client
        self.key = key
        self.size = size
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard position < size, buffer.count > 0 else { return 0 }
        if position < bufferedAt || position >= bufferedAt + Int64(buffered.count) {
            buffered = try fetch(at: position, count: Self.window)
            bufferedAt = position
            if buffered.isEmpty { return 0 }
        }
        let start = Int(position - bufferedAt)
        let n = min(buffer.count, buffered.count - start)
        buffered.withUnsafeBytes { src in buffer.baseAddress!.copyMemory(from: src.baseAddress! + start, byteCount: n) }
        position += Int64(n)
        return n
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = Int(min(Int64(buffer.count), size - offset))
        guard offset >= 0, count > 0 else { return 0 }
        guard count < Self.smallWindow / 4 else { return try fetch(at: offset, count: count, into: buffer) }
        var window = probed.withLock { $0 }
        if offset < window.at || offset + Int64(count) > window.at + Int64(window.bytes.count) {
            window = (offset, try fetch(at: offset, count: Self.smallWindow))
            probed.withLock { $0 = window }
        }
        let start = Int(offset - window.at)
        let n = min(count, window.bytes.count - start)
        window.bytes.withUnsafeBytes { src in buffer.baseAddress!.copyMemory(from: src.baseAddress! + start, byteCount: n) }
        return n
    }

    /// Up to `count` bytes from `offset`, in one request.
    private func fetch(at offset: Int64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(max(0, min(Int64(count), size - offset))))
        guard !bytes.isEmpty else { return [] }
        let n = try bytes.withUnsafeMutableBytes { try fetch(at: offset, count: $0.count, into: $0) }
        return Array(bytes[0..<n])
    }

    /// One ranged GET of `count` bytes (all there, or an error) into `buffer`.
    private func fetch(at offset: Int64, count: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var received = 0
        _ = try client.send(.init(method: "GET", key: key, headers: [("Range", "bytes=\(offset)-\(offset + Int64(count) - 1)")])) {
            received = 0
            return { chunk in
                // A server that ignores Range sends more than asked: too much is an error.
                guard received + chunk.count <= count else { return false }
                guard chunk.count > 0 else { return true }
                buffer.baseAddress!.advanced(by: received).copyMemory(from: chunk.baseAddress!, byteCount: chunk.count)
                received += chunk.count
                return true
            }
        }
        guard received == count else {
            throw S3Error(operation: "GET \(client.settings.bucket)/\(key)", status: 206, code: "ShortRead",
                          message: "\(received) of \(count) bytes from \(offset)")
        }
        return received
    }
}
