import DepotCore
import DepotStore
import Hummingbird
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Streams a byte range of a file into a response: `pread` on a Dispatch thread (never the
/// concurrency pool), one chunk read ahead while the previous one is being sent, so the disk
/// and the socket work at the same time and memory stays at two chunks per download.
///
/// Downloads go out with sendfile(2) through `FileRegionHandler`; this is the way for a
/// connection that has no such handler.
struct FileStreamer: Sendable {
    /// Bytes per read; 1 MiB keeps syscalls and thread hops rare on large files.
    var chunkSize: Int = 1 << 20

    /// Sends bytes `first...last` (Int64: offsets past 4 GiB work) of `file`.
    func stream(_ file: OpenFile, first: Int64, last: Int64, into writer: inout any ResponseBodyWriter) async throws {
        var offset = first
        var current = try await read(file, offset: offset, last: last)
        while true {
            offset += Int64(current.readableBytes)
            if offset > last {
                try await writer.write(current)
                break
            }
            let nextOffset = offset
            async let next = read(file, offset: nextOffset, last: last)
            try await writer.write(current)
            current = try await next
        }
    }

    private func read(_ file: OpenFile, offset: Int64, last: Int64, hashing hasher: SendableHasher? = nil) async throws -> ByteBuffer {
        let count = Int(min(Int64(chunkSize), last - offset + 1))
        return try await blocking {
            let chunk = try file.read(at: offset, count: count)
            hasher?.update(chunk)
            return chunk
        }
    }

    /// Sends the whole of `file`, the blob `digest`, hashing it on the way (on the reading
    /// thread, one chunk ahead of the socket). The last chunk goes out only once the hash is
    /// known: on a mismatch it is held back and `DamagedBlobError` thrown, so the response
    /// never ends cleanly (fewer bytes than its Content-Length) and the client sees a failed
    /// transfer, never a complete file with wrong bytes.
    func streamChecked(_ file: OpenFile, size: Int64, digest: Digest, into writer: inout any ResponseBodyWriter) async throws {
        let hasher = SendableHasher()
        let last = size - 1
        var offset: Int64 = 0
        var current = try await read(file, offset: offset, last: last, hashing: hasher)
        while true {
            offset += Int64(current.readableBytes)
            if offset > last {
                guard hasher.finish() == digest else { throw DamagedBlobError(digest: digest) }
                try await writer.write(current)
                break
            }
            let nextOffset = offset
            async let next = read(file, offset: nextOffset, last: last, hashing: hasher)
            try await writer.write(current)
            current = try await next
        }
    }
}

extension FileStreamer {
    /// Bytes per file region of a checked download sent with sendfile: each is hashed (read
    /// from the page cache on a blocking thread) while the one before it is being sent.
    static let checkedSegment: Int64 = 4 << 20

    /// `streamChecked` for a connection with a `FileRegionHandler`: the whole of `file` goes
    /// out with sendfile, a segment at a time, each segment hashed before it is handed to the
    /// kernel and the next one hashed while it is sent; the last one goes only once the whole
    /// hash matched (`DamagedBlobError` otherwise). The channel's write buffer marks hold the
    /// hashing at most a segment or two ahead of the socket.
    func sendChecked(_ file: OpenFile, size: Int64, digest: Digest, pending: PendingFiles,
                     into writer: inout any ResponseBodyWriter) async throws {
        let hasher = SendableHasher()
        let segment = Self.checkedSegment
        var first: Int64 = 0
        var last = min(size, segment) - 1
        try await hash(file, first: first, last: last, into: hasher)
        while last < size - 1 {
            let nextFirst = last + 1
            let nextLast = min(size, nextFirst + segment) - 1
            async let next: Void = hash(file, first: nextFirst, last: nextLast, into: hasher)
            // Each region owns a descriptor of its own (the handler closes it once sent).
            try await writer.write(pending.add(try file.duplicate(), first: first, last: last))
            try await next
            (first, last) = (nextFirst, nextLast)
        }
        guard hasher.finish() == digest else { throw DamagedBlobError(digest: digest) }
        try await writer.write(pending.add(try file.duplicate(), first: first, last: last))
    }

    private func hash(_ file: OpenFile, first: Int64, last: Int64, into hasher: SendableHasher) async throws {
        let chunk = Int64(chunkSize)
        try await blocking {
            var offset = first
            while offset <= last {
                let count = Int(min(chunk, last - offset + 1))
                hasher.update(try file.read(at: offset, count: count))
                offset += Int64(count)
            }
        }
    }
}

/// A stored blob whose bytes, read for a download, do not hash to its name.
struct DamagedBlobError: Error, CustomStringConvertible {
    let digest: Digest
    var description: String { "blob \(digest.hex) does not match its SHA-256 (read for a download)" }
}

/// A SHA-256 fed one chunk at a time from whichever thread reads it.
///
/// `@unchecked Sendable`: its chunks are read one after the other (each read starts once the
/// previous one, hashing included, has finished), never at the same time.
final class SendableHasher: @unchecked Sendable {
    private let hasher = SHA256Hasher()

    func update(_ chunk: ByteBuffer) {
        chunk.withUnsafeReadableBytes { hasher.update($0) }
    }

    func finish() -> Digest { hasher.finish() }
}

/// The blobs a download hashed whole and found intact in the last `window`: a whole-blob
/// download of one of them is sent as it is (sendfile, the fast path); any other is streamed
/// through `FileStreamer.streamChecked`. A repeated download of one file therefore costs one
/// hash per window, and a blob damaged on disk is found by the first whole download after.
final class VerifiedBlobs: Sendable {
    static let window: Int64 = 600 * 1_000_000_000
    static let capacity = 65_536
    private let entries = Mutex<[Digest: Int64]>([:])

    func isRecent(_ digest: Digest, now: Int64 = monotonicNanoseconds()) -> Bool {
        entries.withLock { $0[digest].map { now - $0 < Self.window } ?? false }
    }

    func record(_ digest: Digest, now: Int64 = monotonicNanoseconds()) {
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries = entries.filter { now - $0.value < Self.window } }
            if entries.count < Self.capacity { entries[digest] = now }
        }
    }

    func forget(_ digest: Digest) { _ = entries.withLock { $0.removeValue(forKey: digest) } }
}

/// A stored blob open for downloads: a read-only file descriptor where the store keeps local
/// files (sent with sendfile), closed when the last reference goes unless it was handed on
/// (`releaseDescriptor`); else the store's reader (object storage), read by range.
///
/// `@unchecked Sendable`: the descriptor is only used with `pread`, which takes its own
/// offset and is safe from any thread, and its ownership flag is atomic; a reader is only read
/// at an offset, which store readers do from any thread.
final class OpenFile: @unchecked Sendable {
    /// -1 for a blob read through `reader`.
    let fd: Int32
    let path: String
    /// The file's size when it was opened.
    let size: Int64
    private let reader: (any BlobReader)?
    private let owned = Atomic<Bool>(true)

    /// Whether it is a local file (sendfile can send it).
    var isLocal: Bool { fd >= 0 }

    init(path: String) throws {
        self.path = path
        reader = nil
        fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        var st = stat()
        if fstat(fd, &st) != 0 {
            let error = SystemError(call: "fstat", errno: errno, path: path)
            close(fd)
            throw error
        }
        size = Int64(st.st_size)
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
    }

    /// A blob of a store without local files, read through its API.
    init(reader: any BlobReader, name: String) {
        self.reader = reader
        path = name
        fd = -1
        size = reader.size
    }

    /// A stored blob, checked to hold at least the bytes the catalog says: a missing or short
    /// blob is an error before any header goes out, not a cut-off body.
    convenience init(blob: StoredFile, store: BlobStore) throws {
        if let path = store.localPath(of: blob.digest) {
            try self.init(path: path)
        } else {
            self.init(reader: try store.open(blob.digest), name: "blob \(blob.digest.hex)")
        }
        guard size >= blob.size else { throw SystemError(call: "fstat", errno: EIO, path: path) }
    }

    private init(fd: Int32, path: String, size: Int64) {
        self.fd = fd
        self.path = path
        self.size = size
        reader = nil
    }

    /// The same file through a descriptor of its own (close-on-exec); a blob read through the
    /// store's reader is shared as it is.
    func duplicate() throws -> OpenFile {
        guard isLocal else { return self }
        return OpenFile(fd: try sysCall("fcntl", path: path) { fcntl(fd, F_DUPFD_CLOEXEC, 0) }, path: path, size: size)
    }

    deinit { if fd >= 0, owned.load(ordering: .acquiring) { close(fd) } }

    /// Hands the descriptor to a new owner, who closes it; this object no longer will.
    func releaseDescriptor() -> Int32 {
        owned.store(false, ordering: .releasing)
        return fd
    }

    /// Exactly `count` bytes at `offset`; a file shorter than the catalog says is an error
    /// (the response promised a Content-Length).
    func read(at offset: Int64, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var done = 0
        while done < count {
            let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { raw in
                if let reader {
                    return try reader.read(at: offset + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<(count - done)]))
                }
                return try sysCall("pread", path: path) { pread(fd, raw.baseAddress, count - done, off_t(offset) + off_t(done)) }
            }
            if n == 0 { throw SystemError(call: "pread", errno: EIO, path: path) }
            done += n
        }
        return buffer
    }
}

/// Blob files opened for downloads in the last second, shared by the responses that send them
/// (sendfile reads at an offset, so one descriptor serves any number at once): a file fetched
/// again and again is not opened, checked and closed for every request. A blob never changes
/// once stored, so a descriptor stays right for as long as it is open. At most `capacity`
/// are kept; stale ones go at the next open.
final class OpenBlobs: Sendable {
    static let lifetimeNanoseconds: Int64 = 1_000_000_000
    static let capacity = 256
    private let entries = Mutex<[Digest: (file: OpenFile, at: Int64)]>([:])

    /// The blob of `target`, open; throws when it is missing or shorter than the catalog says.
    func file(_ target: StoredFile, store: BlobStore) throws -> OpenFile {
        let now = monotonicNanoseconds()
        let cached = entries.withLock { entries -> OpenFile? in
            guard let entry = entries[target.digest], now - entry.at < Self.lifetimeNanoseconds else { return nil }
            return entry.file
        }
        if let cached { return cached }
        let file = try OpenFile(blob: target, store: store)
        entries.withLock { entries in
            entries = entries.filter { now - $0.value.at < Self.lifetimeNanoseconds }
            if entries.count < Self.capacity { entries[target.digest] = (file, now) }
        }
        return file
    }
}
