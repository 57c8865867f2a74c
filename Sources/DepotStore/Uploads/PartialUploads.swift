import CLinux
import DepotCore
#if canImport(Glibc)
import Glibc
#endif

/// The bytes of uploads in progress: one file each in `store/tmp/uploads`, on the store's
/// filesystem, so that a finished upload becomes a blob by a hard link rather than a copy.
/// Only depot writes these files (mode 0600); the catalog's `uploads` rows say how many of
/// each file's bytes are durable, and the bytes past that are cut off before more arrive.
public final class PartialUploads: Sendable {
    public let folder: String

    public init(folder: String) throws {
        self.folder = folder
        try makeDirectories(folder, mode: 0o700)
    }

    public convenience init(layout: RootLayout) throws {
        try self.init(folder: layout.storeTemp + "/uploads")
    }

    /// The file of an upload (given to the ingest, which consumes it, once it is complete).
    public func path(of id: String) -> String { folder + "/" + id }

    /// Creates an upload's empty file, durably (its name survives a crash).
    public func create(id: String) throws {
        let file = path(of: id)
        let fd = try sysCall("open", path: file) { Glibc.open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        close(fd)
        try fsyncDirectory(folder)
    }

    /// Opens an upload's file to add bytes at `offset`: whatever lies past it (bytes written
    /// but never recorded as durable) is cut off first.
    public func openForWriting(id: String, at offset: Int64) throws -> PartialUploadWriter {
        let file = path(of: id)
        let fd = try sysCall("open", path: file) { Glibc.open(file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW) }
        do {
            var st = stat()
            try sysCall("fstat", path: file) { fstat(fd, &st) }
            guard Int64(st.st_size) >= offset else {
                throw PartialUploadError(message: "\(file) holds \(st.st_size) bytes, fewer than the \(offset) recorded")
            }
            if Int64(st.st_size) > offset { try sysCall("ftruncate", path: file) { ftruncate(fd, off_t(offset)) } }
        } catch {
            close(fd)
            throw error
        }
        return PartialUploadWriter(fd: fd, path: file, offset: offset)
    }

    /// Reads an upload's first `length` bytes (to hash what came before a restart, or to tell
    /// its type before it is stored).
    public func reader(id: String, length: Int64) throws -> BlobReader {
        let file = path(of: id)
        let fd = try sysCall("open", path: file) { Glibc.open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        return LocalBlobReader(fd: fd, size: length, path: file)
    }

    /// The SHA-256 state of an upload's first `length` bytes, read back from its file.
    public func hasher(id: String, length: Int64) throws -> SHA256Hasher {
        let reader = try reader(id: id, length: length)
        let hasher = SHA256Hasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        var done: Int64 = 0
        while done < length {
            let want = Int(min(Int64(buffer.count), length - done))
            let n = try reader.read(at: done, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
            guard n > 0 else { throw PartialUploadError(message: "\(path(of: id)) ends before its \(length) recorded bytes") }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            done += Int64(n)
        }
        return hasher
    }

    /// Removes an upload's bytes (ended, expired); nothing when they are gone already.
    public func remove(id: String) {
        unlink(path(of: id))
    }

    /// The ids of the files here.
    public func ids() throws -> [String] { try listDirectory(folder) }

    /// Free space for uploads, bytes.
    public func freeBytes() -> Int64? {
        var st = statvfs()
        guard statvfs(folder, &st) == 0 else { return nil }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }
}

/// Why an upload's file cannot be used.
public struct PartialUploadError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// Adds bytes to one upload's file; owns its descriptor.
public final class PartialUploadWriter {
    let fd: Int32
    public let path: String
    /// Where the next byte goes.
    public private(set) var offset: Int64
    /// Where the bytes not yet handed to the disk begin (a page boundary).
    private var writebackFrom: Int64
    /// Bytes handed to the disk at once while a request's bytes arrive.
    static let writebackWindow: Int64 = 8 << 20
    static let page: Int64 = 4096

    init(fd: Int32, path: String, offset: Int64) {
        self.fd = fd
        self.path = path
        self.offset = offset
        writebackFrom = offset / Self.page * Self.page
    }

    deinit { close(fd) }

    /// Writes `bytes` at the current offset, telling `written` each part that went in. On a
    /// full disk (ENOSPC, EDQUOT) the parts that did go in count, and the error is thrown:
    /// the caller syncs and records them.
    public func write(_ bytes: UnsafeRawBufferPointer, written: (UnsafeRawBufferPointer) -> Void = { _ in }) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError(call: "pwrite", errno: errno, path: path)
            }
            written(UnsafeRawBufferPointer(rebasing: bytes[done..<(done + n)]))
            done += n
            offset += Int64(n)
        }
        startWriteback()
    }

    /// Writes `pieces` one after the other at the current offset with one `pwritev` (a
    /// request's body arrives as many small buffers: gathered, they are copied once, by the
    /// kernel, instead of first into one buffer of ours).
    public func write(_ pieces: [UnsafeRawBufferPointer]) throws {
        var vectors = pieces.filter { $0.count > 0 }.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress!), iov_len: $0.count) }
        var first = 0
        while first < vectors.count {
            let count = Int32(min(vectors.count - first, 1024))  // IOV_MAX on Linux
            let n = vectors.withUnsafeBufferPointer { pwritev(fd, $0.baseAddress! + first, count, off_t(offset)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError(call: "pwritev", errno: errno, path: path)
            }
            guard n > 0 else { throw SystemError(call: "pwritev", errno: EIO, path: path) }
            offset += Int64(n)
            // Past what went in: whole vectors done, and the rest of a vector written in part.
            var left = n
            while left > 0 && left >= vectors[first].iov_len {
                left -= vectors[first].iov_len
                first += 1
            }
            if left > 0 {
                vectors[first].iov_base += left
                vectors[first].iov_len -= left
            }
        }
        startWriteback()
    }

    private func startWriteback() {
        // The disk starts on what came so far, while the next bytes arrive, rather than on all
        // of it at the request's end (the fsync then has little left to wait for). In windows
        // of whole pages behind the write position: a write into a page under writeback
        // waits for the disk (stable pages), so the page the next write continues is never
        // handed over, nor is a window of a few KiB each time (one small I/O per network
        // read). Advice only.
        let end = offset / Self.page * Self.page
        if end - writebackFrom >= Self.writebackWindow {
            _ = clinux_start_writeback(fd, writebackFrom, end - writebackFrom)
            writebackFrom = end
        }
    }

    /// Makes every byte written so far durable.
    public func sync() throws {
        try sysCall("fdatasync", path: path) { fdatasync(fd) }
    }

    /// Cuts the file back to `length` bytes (a chunk whose checksum did not match).
    public func truncate(to length: Int64) throws {
        try sysCall("ftruncate", path: path) { ftruncate(fd, off_t(length)) }
        offset = length
    }
}
