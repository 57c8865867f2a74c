import DepotCore
#if canImport(Glibc)
import Glibc
#endif

/// Where the bytes of a blob come from when it is stored.
public struct BlobSource: Sendable {
    /// The file to read.
    public var path: String
    /// The store may hard-link the file instead of copying it (consume mode on one
    /// filesystem): the bytes are then read once, for hashing, and never copied.
    public var mayLink: Bool
    /// The SHA-256 of the file, when depot wrote it itself and hashed it on the way (a
    /// finished upload, a file no one else writes): a store that can link it then does not
    /// read it again.
    public var digest: Digest?

    public init(path: String, mayLink: Bool, digest: Digest? = nil) {
        self.path = path
        self.mayLink = mayLink
        self.digest = digest
    }
}

/// A blob that has been hashed and staged but is not yet durable nor visible.
public struct StagedBlob: Sendable {
    public let digest: Digest
    public let size: Int64
    /// The identity of the source file when it was read (to tell if it changed since).
    public let sourceDevice: UInt64
    public let sourceInode: UInt64
    public let sourceMtimeNanoseconds: Int64
    /// The implementation's handle on the staged bytes (a temp path, a memory key).
    let token: String
    /// Held on a linked source until `settle`: keeps writers out of the shared inode.
    var lease: SourceLease? = nil
    /// Whether the catalog has a blob of this digest, when the caller asked it (nil: not
    /// asked). A store whose existence check costs a round trip (S3) skips it for a blob
    /// the catalog does not know, and just puts it: content-named, a put never harms.
    public var cataloged: Bool? = nil
    /// The token is the source file itself, read again at commit (an object store uploads
    /// from it in place rather than from a staged copy): the store has nothing to remove.
    var readsSource = false
    /// SHA-256 of each `partSize` piece of the bytes, taken in the same read as `digest`
    /// (an object store signs each part of a multipart upload with it).
    var partDigests: [Digest] = []

    /// Whether the staged copy is the source's own inode (hard link) rather than a copy:
    /// only a leased source is ever linked.
    public var linked: Bool { lease != nil }
}

/// What committing a staged blob did.
public enum BlobCommit: Sendable, Equatable {
    /// Stored now.
    case new
    /// The same bytes were stored already and still match their name.
    case existing
    /// The same bytes were stored already, but damaged: the incoming copy replaced them.
    case healed

    /// False for a dedup hit.
    public var isNew: Bool { self == .new }
}

/// Why a blob could not be stored.
public struct BlobStoreError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case notRegularFile
        case changedWhileReading
        case openForWriting
        case missing
    }

    public let value: Value
    public let path: String

    public static func notRegularFile(_ path: String) -> Self { .init(value: .notRegularFile, path: path) }
    public static func changedWhileReading(_ path: String) -> Self { .init(value: .changedWhileReading, path: path) }
    public static func openForWriting(_ path: String) -> Self { .init(value: .openForWriting, path: path) }
    public static func missing(_ path: String) -> Self { .init(value: .missing, path: path) }

    public var description: String {
        switch value {
        case .notRegularFile: return "\(path): not a regular file"
        case .changedWhileReading: return "\(path): changed while it was being read"
        case .openForWriting: return "\(path): another process has it open for writing"
        case .missing: return "blob \(path) is missing"
        }
    }
}

/// A source file opened for staging: a regular file, never followed through a symlink,
/// with its status from before the read.
struct OpenedSource: ~Copyable {
    let fd: Int32
    let path: String
    let before: stat

    /// Opens `path` for reading. O_NONBLOCK: opening a FIFO must not hang the ingest;
    /// O_NOFOLLOW: a symlink in the inbox is not followed out of it.
    init(path: String) throws {
        let fd = try sysCall("open", path: path) { Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let error = SystemError(call: "fstat", errno: errno, path: path)
            close(fd)
            throw error
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw BlobStoreError.notRegularFile(path)
        }
        self.fd = fd
        self.path = path
        self.before = st
    }

    deinit { close(fd) }

    /// Throws `changedWhileReading` unless the file still has the size and mtime it had when
    /// opened and `bytesRead` of them were read.
    func checkUnchanged(bytesRead: Int64) throws {
        var after = stat()
        try sysCall("fstat", path: path) { fstat(fd, &after) }
        guard after.st_size == before.st_size, bytesRead == Int64(after.st_size),
              nanoseconds(after.st_mtim) == nanoseconds(before.st_mtim) else {
            throw BlobStoreError.changedWhileReading(path)
        }
    }

    /// Reads the file front to back once, hashing it and writing its bytes to `out` (unless
    /// it is -1), then checks that it did not change meanwhile.
    func hashAll(copyingTo out: Int32, path outPath: String) throws -> (digest: Digest, size: Int64) {
        let hasher = SHA256Hasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = try sysCall("read", path: path) { read(fd, buffer.baseAddress, buffer.count) }
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(chunk)
            if out >= 0 { try writeFully(out, chunk, path: outPath) }
            total += Int64(n)
        }
        try checkUnchanged(bytesRead: total)
        return (hasher.finish(), total)
    }

    func staged(digest: Digest, size: Int64, token: String, lease: SourceLease? = nil) -> StagedBlob {
        StagedBlob(digest: digest, size: size, sourceDevice: UInt64(before.st_dev), sourceInode: UInt64(before.st_ino),
                   sourceMtimeNanoseconds: nanoseconds(before.st_mtim), token: token, lease: lease)
    }
}

/// Reads one stored blob: front to back, or any range of it.
public protocol BlobReader: RandomAccessBytes {
    var size: Int64 { get }
    /// Fills `buffer` from the current position; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Fills `buffer` from `offset` (the position of sequential reads does not move); 0 past the end.
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension BlobReader {
    /// Up to `count` bytes from `offset` (fewer at the end).
    public func read(at offset: Int64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(0, min(count, Int(max(0, size - offset)))))
        var done = 0
        try bytes.withUnsafeMutableBytes { raw in
            while done < raw.count {
                let n = try read(at: offset + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: raw[done...]))
                if n == 0 { break }
                done += n
            }
        }
        return Array(bytes[0..<done])
    }
}

/// Immutable, content-addressed bytes: on the local filesystem (`LocalBlobStore`), in an
/// S3-compatible bucket (`S3BlobStore`), in memory for tests.
public protocol BlobStore: AnyObject, Sendable {
    /// Reads the source once, hashing it, and stages its bytes. The source must stay as it is
    /// until the commit or discard: a store may read it again then rather than copy it now
    /// (an object store uploads from it, and fails the commit when it changed).
    /// - Throws: `SystemError` for I/O, `BlobStoreError` for files that are not plain or
    ///   that changed while being read. The source is never modified.
    func stage(_ source: BlobSource) throws -> StagedBlob

    /// Makes staged blobs durable and visible under their digests, as one batch (one
    /// durability barrier for all of them). Returns, per blob, what became of it. A blob that
    /// was stored already is re-hashed first: if its stored bytes no longer match their name
    /// (damage on disk), the incoming copy — hashed on its way in — replaces them, so that a
    /// dedup hit never leaves only a damaged copy while its good source is removed. The staged
    /// copies are released either way.
    func commit(_ staged: [StagedBlob]) throws -> [BlobCommit]

    /// Reads a staged blob's bytes before its commit, where the store stages them locally
    /// (nil: it does not; read it through `open` once committed). Type detection reads there,
    /// so that an object store is not asked for bytes it has just been sent.
    func openStaged(_ staged: StagedBlob) -> BlobReader?

    /// Throws `BlobStoreError.missing` unless every blob named is stored (see the extension's
    /// default; a store with round trips to make may make them side by side).
    func requirePresent(_ digests: [Digest]) throws

    /// Drops a staged blob that will not be committed.
    func discard(_ staged: StagedBlob)
    /// Called once a committed blob's source has been removed (or kept): a blob that still
    /// shares its inode with something a writer could reach is given bytes of its own.
    func settle(_ staged: StagedBlob) throws

    func contains(_ digest: Digest) throws -> Bool
    /// The size of a stored blob, or nil when it is absent.
    func size(of digest: Digest) throws -> Int64?
    /// Opens a stored blob for reading.
    /// - Throws: `BlobStoreError.missing` when it is not there.
    func open(_ digest: Digest) throws -> BlobReader
    /// The file that holds a blob, where the store keeps blobs as local files (for sendfile,
    /// hard links into the outbox and worker processes); nil for stores that do not (memory,
    /// object storage), whose callers read through `open` instead.
    func localPath(of digest: Digest) -> String?
    /// A URL from which a client may GET the blob straight from the store for `lifetime`
    /// seconds, answered with these headers (an object store's presigned URL); nil for stores
    /// that have none (local disk, memory).
    func presignedURL(of digest: Digest, lifetime: Int, contentType: String?, contentDisposition: String?) -> String?
    /// Whether a new blob could be staged now (for readiness checks).
    func isWritable() -> Bool
    /// Free space where new blobs go, bytes (nil when the store cannot tell).
    func freeBytes() -> Int64?
    /// Every stored digest, in no particular order.
    func allDigests() throws -> [Digest]
    func remove(_ digest: Digest) throws
    /// Removes what a crash left half-staged; returns how many entries went.
    @discardableResult
    func removeLeftovers() throws -> Int
}

extension BlobStore {
    public func settle(_ staged: StagedBlob) throws {}

    public func openStaged(_ staged: StagedBlob) -> BlobReader? { nil }

    public func presignedURL(of digest: Digest, lifetime: Int, contentType: String?, contentDisposition: String?) -> String? { nil }

    /// Re-hashes a stored blob and tells whether its bytes still match its name.
    public func verify(_ digest: Digest, progress: (Int) -> Void = { _ in }) throws -> Bool {
        try rehash(digest, progress: progress)
    }

    /// What is wrong with a stored blob the catalog says has `size` bytes: nil when it is
    /// intact, else "missing", "wrong size" or "content does not match its SHA-256". The one
    /// check `depot verify`, the scrub and a second copy's use all make. `progress` is told
    /// of every chunk read (the scrub paces itself there, and may throw to stop).
    /// - Throws: I/O errors, and what `progress` throws.
    public func check(_ digest: Digest, size: Int64, progress: (Int) throws -> Void = { _ in }) throws -> String? {
        guard let stored = try self.size(of: digest) else { return "missing" }
        guard stored == size else { return "wrong size" }
        return try rehash(digest, progress: progress) ? nil : "content does not match its SHA-256"
    }

    private func rehash(_ digest: Digest, progress: (Int) throws -> Void) throws -> Bool {
        let reader = try open(digest)
        let hasher = SHA256Hasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = try reader.read(into: buffer)
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += Int64(n)
            try progress(n)
        }
        return total == reader.size && hasher.finish() == digest
    }

    /// Reads a whole blob into memory (small blobs and tests only).
    public func readAll(_ digest: Digest) throws -> [UInt8] {
        let reader = try open(digest)
        var bytes = [UInt8](repeating: 0, count: Int(reader.size))
        var done = 0
        try bytes.withUnsafeMutableBytes { raw in
            while done < raw.count {
                let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[done...]))
                if n == 0 { break }
                done += n
            }
        }
        return Array(bytes[0..<done])
    }
}
