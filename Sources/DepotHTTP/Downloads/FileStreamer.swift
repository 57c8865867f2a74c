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

    private func read(_ file: OpenFile, offset: Int64, last: Int64) async throws -> ByteBuffer {
        let count = Int(min(Int64(chunkSize), last - offset + 1))
        return try await blocking { try file.read(at: offset, count: count) }
    }
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
