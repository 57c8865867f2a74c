import CLinux
import DepotCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The bytes of uploads in progress: one file each in `store/tmp/uploads`, on the store's
/// filesystem, so that a finished upload becomes a blob by a hard link rather than a copy.
/// Only depot writes these files (mode 0600); the catalog's `uploads` rows say how many of
/// each file's bytes are durable, and the bytes past that are cut off before more arrive.
public final class PartialUploads: Sendable {
    public let folder: String
    let pool = StagingPool()

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
        // Read and write: the page before `offset` is read back (see `PartialUploadWriter`).
        let fd = try sysCall("open", path: file) { Glibc.open(file, O_RDWR | O_CLOEXEC | O_NOFOLLOW) }
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
        // Both descriptors are the writer's from here, closed on its way out even when making
        // it fails.
        let direct = Glibc.open(file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | clinux_o_direct())
        return try PartialUploadWriter(fd: fd, direct: direct, path: file, offset: offset, pool: pool)
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

/// Adds bytes to one upload's file; owns its descriptors.
///
/// The bytes are copied into aligned blocks as they arrive (`append`), and each full block is
/// written straight to the disk (O_DIRECT, `write(_:)`) while the next one fills: a buffered
/// write's copy into the page cache costs more CPU than receiving and hashing the bytes, for
/// pages that would only be written out and dropped. What is left of the last block goes
/// through the page cache (`flush`). Where the filesystem refuses O_DIRECT (EINVAL), every
/// block does, with writeback started behind it.
///
/// `append` runs on the request's task and `write(_:)` on a blocking thread, one block at a
/// time and in order, each awaited before the next (hence `@unchecked Sendable`).
public final class PartialUploadWriter: @unchecked Sendable {
    let fd: Int32
    /// The same file opened with O_DIRECT; -1 when the filesystem does not take it.
    private var direct: Int32
    public let path: String
    private let pool: StagingPool
    /// Where the next byte appended goes.
    public private(set) var offset: Int64
    /// The end of the bytes handed to the kernel: written, not yet necessarily durable.
    public private(set) var writtenEnd: Int64
    /// The block being filled: where it begins in the file (a page boundary), how much of it
    /// holds bytes, and how much of that is in the file already (read back, or flushed).
    private var block: UnsafeMutableRawPointer
    private var blockStart: Int64 = 0
    private var filled = 0
    private var inFile = 0
    /// Where the bytes not yet handed to the disk begin, when writing through the page cache.
    private var writebackFrom: Int64 = 0
    static let page: Int64 = 4096
    /// Bytes handed to the disk at once when writing through the page cache.
    static let writebackWindow: Int64 = 2 << 20

    init(fd: Int32, direct: Int32, path: String, offset: Int64, pool: StagingPool) throws {
        self.fd = fd
        self.direct = direct
        self.path = path
        self.pool = pool
        self.offset = offset
        writtenEnd = offset
        block = pool.take()
        try restage(at: offset)
    }

    deinit {
        pool.give(block)
        close(fd)
        if direct >= 0 { close(direct) }
    }

    /// The block now begins at the page holding `position`, with the file's bytes before
    /// `position` read back into it (a block goes to the disk whole).
    private func restage(at position: Int64) throws {
        blockStart = position / Self.page * Self.page
        writebackFrom = blockStart
        filled = Int(position - blockStart)
        inFile = filled
        var done = 0
        while done < filled {
            let n = pread(fd, block + done, filled - done, off_t(blockStart) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemError(call: "pread", errno: n < 0 ? errno : EIO, path: path) }
            done += n
        }
    }

    /// Copies `bytes` in after what was appended so far; the blocks this fills, to be written
    /// (`write(_:)`) in order.
    public func append(_ bytes: UnsafeRawBufferPointer) -> [StagedBlock] {
        var full: [StagedBlock] = []
        var done = 0
        while done < bytes.count {
            let n = min(bytes.count - done, StagingPool.blockSize - filled)
            (block + filled).copyMemory(from: bytes.baseAddress! + done, byteCount: n)
            filled += n
            done += n
            if filled == StagingPool.blockSize {
                full.append(StagedBlock(bytes: block, start: blockStart, count: filled))
                block = pool.take()
                blockStart += Int64(filled)
                filled = 0
                inFile = 0
            }
        }
        offset += Int64(bytes.count)
        return full
    }

    /// Writes a block `append` filled, and gives its buffer back. On a full disk (ENOSPC,
    /// EDQUOT) the error is thrown, and `writtenEnd` stays where it was.
    public func write(_ staged: StagedBlock) throws {
        defer { pool.give(staged.bytes) }
        var done = 0
        if direct >= 0 {
            while done < staged.count {
                let n = pwrite(direct, staged.bytes + done, staged.count - done, off_t(staged.start) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                if n < 0 && errno == EINVAL && done == 0 {
                    // The filesystem opens with O_DIRECT but will not write that way.
                    close(direct)
                    direct = -1
                    break
                }
                if n < 0 { throw SystemError(call: "pwrite", errno: errno, path: path) }
                // A short direct write leaves an unaligned rest: it goes through the page cache.
                guard n > 0, n % Int(Self.page) == 0 else { done += max(n, 0); break }
                done += n
            }
        }
        try writeBuffered(staged.bytes + done, count: staged.count - done, at: staged.start + Int64(done))
        writtenEnd = max(writtenEnd, staged.start + Int64(staged.count))
    }

    /// Gives back the buffer of a block that will not be written.
    public func discard(_ staged: StagedBlock) { pool.give(staged.bytes) }

    /// Writes what the block being filled holds that the file does not, through the page cache.
    public func flush() throws {
        guard filled > inFile else { return }
        try writeBuffered(block + inFile, count: filled - inFile, at: blockStart + Int64(inFile))
        inFile = filled
        writtenEnd = max(writtenEnd, blockStart + Int64(filled))
    }

    private func writeBuffered(_ bytes: UnsafeMutableRawPointer, count: Int, at position: Int64) throws {
        var done = 0
        while done < count {
            let n = pwrite(fd, bytes + done, count - done, off_t(position) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw SystemError(call: "pwrite", errno: errno, path: path) }
            guard n > 0 else { throw SystemError(call: "pwrite", errno: EIO, path: path) }
            done += n
        }
        guard count > 0 else { return }
        // The disk starts on what came so far, while the next bytes arrive, rather than on all
        // of it at the request's end (the fsync then has little left to wait for). In windows
        // of whole pages behind the write position: a write into a page under writeback
        // waits for the disk (stable pages). Advice only.
        let end = (position + Int64(count)) / Self.page * Self.page
        if end - writebackFrom >= Self.writebackWindow {
            _ = clinux_start_writeback(fd, writebackFrom, end - writebackFrom)
            writebackFrom = end
        }
    }

    /// Appends `pieces` and writes them, all of it (tests, and callers without a pipeline).
    public func write(_ pieces: [UnsafeRawBufferPointer]) throws {
        for piece in pieces where piece.count > 0 {
            for staged in append(piece) { try write(staged) }
        }
        try flush()
    }

    /// Makes every byte appended so far durable.
    public func sync() throws {
        try flush()
        try sysCall("fdatasync", path: path) { fdatasync(fd) }
    }

    /// Cuts the file back to `length` bytes (a chunk whose checksum did not match); what was
    /// appended past it goes too.
    public func truncate(to length: Int64) throws {
        try sysCall("ftruncate", path: path) { ftruncate(fd, off_t(length)) }
        offset = length
        writtenEnd = min(writtenEnd, length)
        try restage(at: length)
    }
}

/// A full block of an upload's bytes, waiting to be written at `start`.
public struct StagedBlock: @unchecked Sendable {
    let bytes: UnsafeMutableRawPointer
    let start: Int64
    let count: Int
}

/// Page-aligned blocks for uploads' bytes on their way to the disk, kept for the next
/// request rather than mapped afresh for each (a few at most).
final class StagingPool: Sendable {
    static let blockSize = 1 << 20
    static let kept = 4
    private struct Free: @unchecked Sendable { var blocks: [UnsafeMutableRawPointer] = [] }
    private let free = Mutex(Free())

    func take() -> UnsafeMutableRawPointer {
        free.withLock { $0.blocks.popLast() }
            ?? UnsafeMutableRawPointer.allocate(byteCount: Self.blockSize, alignment: Int(PartialUploadWriter.page))
    }

    func give(_ block: UnsafeMutableRawPointer) {
        let kept = free.withLock { free -> Bool in
            guard free.blocks.count < Self.kept else { return false }
            free.blocks.append(block)
            return true
        }
        if !kept { block.deallocate() }
    }

    deinit { free.withLock { $0.blocks.forEach { $0.deallocate() } } }
}
