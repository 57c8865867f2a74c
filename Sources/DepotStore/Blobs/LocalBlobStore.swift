import CLinux
import DepotCore
#if canImport(Glibc)
import Glibc
#endif

/// Blobs as read-only files under `store/blobs/sha256/ab/cd/<hex>`, staged in `store/tmp`
/// on the same filesystem.
///
/// The write protocol is restic's: temp file → fsync → link into place (never replacing:
/// an existing name means the bytes are stored already) → fsync the directory. A batch of
/// blobs shares its barriers (one `syncfs` before and one after linking) instead of paying
/// two fsyncs per file.
public final class LocalBlobStore: BlobStore {
    public let blobsRoot: String
    public let tempRoot: String
    private static let chunkSize = 1 << 20
    /// Batches up to this many blobs are made durable with fsyncs of each file and folder;
    /// larger ones with two `syncfs` barriers.
    static let fsyncEachLimit = 4

    /// - Parameters:
    ///   - blobs: the `store/blobs` folder.
    ///   - temp: the staging folder, on the same filesystem as `blobs`.
    public init(blobs: String, temp: String) throws {
        blobsRoot = blobs
        tempRoot = temp
        try makeDirectories(blobs + "/sha256")
        try makeDirectories(temp)
    }

    public convenience init(layout: RootLayout) throws {
        try self.init(blobs: layout.blobs, temp: layout.storeTemp)
    }

    /// The file that holds a blob (inside this store only: others ask `localPath(of:)`).
    func path(of digest: Digest) -> String {
        let hex = digest.hex
        let a = hex.prefix(2), b = hex.dropFirst(2).prefix(2)
        return "\(blobsRoot)/sha256/\(a)/\(b)/\(hex)"
    }

    public func stage(_ source: BlobSource) throws -> StagedBlob {
        let file = try OpenedSource(path: source.path)
        _ = posix_fadvise(file.fd, 0, 0, POSIX_FADV_SEQUENTIAL)

        let token = tempRoot + "/" + Self.randomName()
        // A file depot wrote and hashed itself (a finished upload in store/tmp/uploads) is
        // linked as it is: nobody else writes it, so there is nothing to lease or re-read.
        if let digest = source.digest, source.mayLink, file.before.st_nlink == 1, fchmod(file.fd, 0o444) == 0,
           linkat(AT_FDCWD, "/proc/self/fd/\(file.fd)", AT_FDCWD, token, AT_SYMLINK_FOLLOW) == 0 {
            return file.staged(digest: digest, size: Int64(file.before.st_size), token: token)
        }
        var lease: SourceLease? = nil
        // The blob and the inbox file share one inode until the inbox name goes, so only a
        // file that nobody is writing, and that has no other name, is linked; a read lease
        // keeps writers out until `settle` (docs/DECISIONS.md).
        if source.mayLink && file.before.st_nlink == 1 {
            lease = try SourceLease.take(on: file.fd, path: source.path)
            // Link the very inode we opened (not whatever the name points to now).
            if lease != nil, linkat(AT_FDCWD, "/proc/self/fd/\(file.fd)", AT_FDCWD, token, AT_SYMLINK_FOLLOW) != 0 {
                // EXDEV (other filesystem), EPERM (fs.protected_hardlinks on another user's
                // file), EMLINK, ENOTSUP: fall back to copying.
                lease = nil
            }
        }
        let out: Int32
        if lease != nil {
            out = -1
        } else {
            // Read-only from birth; the descriptor we write through is still writable.
            out = try sysCall("open", path: token) {
                Glibc.open(token, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
            }
        }

        do {
            defer { if out >= 0 { close(out) } }
            let (digest, total) = try file.hashAll(copyingTo: out, path: token)
            return file.staged(digest: digest, size: total, token: token, lease: lease)
        } catch {
            unlink(token)
            throw error
        }
    }

    public func commit(_ staged: [StagedBlob]) throws -> [BlobCommit] {
        guard !staged.isEmpty else { return [] }
        defer { for blob in staged { unlink(blob.token) } }

        // Barrier 1: the staged bytes are on disk before any name points at them. A few blobs
        // (a job's artifacts, a trickle of drops) are fsynced one by one: `syncfs` would also
        // flush whatever else is in flight on the filesystem (the outbox, other writers).
        let fewBlobs = staged.count <= Self.fsyncEachLimit
        if fewBlobs {
            // A blob stored already needs no flush: its link will find the existing name.
            for blob in staged where try statIfExists(path(of: blob.digest)) == nil {
                let fd = try sysCall("open", path: blob.token) { Glibc.open(blob.token, O_RDONLY | O_CLOEXEC) }
                defer { close(fd) }
                try fsyncOnce(fd, path: blob.token)
            }
        } else {
            try syncFilesystem(of: tempRoot)
        }

        var results: [BlobCommit] = []
        var directoriesToSync: Set<String> = []
        for blob in staged {
            let final = path(of: blob.digest)
            let directory = directoryName(final)
            if blob.linked {
                // The inbox file and the blob share this inode until the inbox name goes.
                _ = chmod(blob.token, 0o444)
            }
            if link(blob.token, final) != 0 {
                var code = errno
                if code == ENOENT {
                    // A new fan-out directory: its parents' entries must be made durable too.
                    for created in try makeDirectories(directory) {
                        directoriesToSync.insert(directoryName(created))
                    }
                    code = link(blob.token, final) == 0 ? 0 : errno
                }
                if code == EEXIST {
                    if try verify(blob.digest) {
                        results.append(.existing)
                        continue
                    }
                    // The stored bytes are damaged; the staged ones match the name (they were
                    // hashed on the way in). Durable first, then renamed over the damaged file.
                    let fd = try sysCall("open", path: blob.token) { Glibc.open(blob.token, O_RDONLY | O_CLOEXEC) }
                    defer { close(fd) }
                    try fsyncOnce(fd, path: blob.token)
                    try sysCall("rename", path: final) { rename(blob.token, final) }
                    directoriesToSync.insert(directory)
                    results.append(.healed)
                    continue
                }
                if code != 0 { throw SystemError(call: "link", errno: code, path: final) }
            }
            directoriesToSync.insert(directory)
            results.append(.new)
        }

        // Barrier 2: the new names are durable.
        if !directoriesToSync.isEmpty {
            if fewBlobs {
                for directory in directoriesToSync.sorted(by: { $0.count > $1.count }) {
                    try fsyncDirectory(directory)
                }
            } else {
                try syncFilesystem(of: blobsRoot)
            }
        }
        return results
    }

    public func discard(_ staged: StagedBlob) {
        unlink(staged.token)
        staged.lease?.release()
    }

    /// Lets go of a linked source. If a writer asked to open it while it was leased (it is
    /// waiting), or the inode still has a name besides the blob's (the inbox name could not
    /// be removed), the blob gets a copy of its own first: same bytes (the lease kept them
    /// still), a new inode renamed over the blob's name, so the writer never reaches it.
    public func settle(_ staged: StagedBlob) throws {
        guard let lease = staged.lease else { return }
        defer { lease.release() }
        let final = path(of: staged.digest)
        _ = try lease.withDescriptor { fd in
            var mine = stat(), stored = stat()
            try sysCall("fstat", path: final) { fstat(fd, &mine) }
            // A dedup hit or a failed commit: the blob is another inode, nothing to do.
            guard lstat(final, &stored) == 0, stored.st_ino == mine.st_ino, stored.st_dev == mine.st_dev else { return }
            if clinux_read_lease_intact(fd) != 0 && mine.st_nlink <= 1 { return }
            try detach(final, from: fd, digest: staged.digest)
        }
    }

    /// Replaces the blob file `final` (whose inode `fd` refers to) with a copy of its bytes.
    private func detach(_ final: String, from fd: Int32, digest: Digest) throws {
        let token = tempRoot + "/" + Self.randomName()
        let out = try sysCall("open", path: token) { Glibc.open(token, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444) }
        defer { close(out); unlink(token) }
        let hasher = SHA256Hasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        var offset: off_t = 0
        while true {
            let n = try sysCall("pread", path: final) { pread(fd, buffer.baseAddress, buffer.count, offset) }
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hasher.update(chunk)
            try writeFully(out, chunk, path: token)
            offset += off_t(n)
        }
        guard hasher.finish() == digest else { throw BlobStoreError.changedWhileReading(final) }
        try fsyncOnce(out, path: token)
        try sysCall("rename", path: final) { rename(token, final) }
        try fsyncDirectory(directoryName(final))
    }

    public func localPath(of digest: Digest) -> String? { path(of: digest) }

    /// Free space on the staging folder's filesystem for an unprivileged writer (f_bavail).
    public func freeBytes() -> Int64? { freeSpace(at: tempRoot) }

    /// A file can be created in the staging folder.
    public func isWritable() -> Bool { canCreateFile(in: tempRoot) }

    public func contains(_ digest: Digest) throws -> Bool {
        try statIfExists(path(of: digest)) != nil
    }

    public func size(of digest: Digest) throws -> Int64? {
        try statIfExists(path(of: digest)).map { Int64($0.st_size) }
    }

    public func open(_ digest: Digest) throws -> BlobReader {
        let file = path(of: digest)
        let fd = Glibc.open(file, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { throw BlobStoreError.missing(digest.hex) }
            throw SystemError(call: "open", errno: errno, path: file)
        }
        var st = stat()
        if fstat(fd, &st) != 0 {
            let code = errno
            Glibc.close(fd)
            throw SystemError(call: "fstat", errno: code, path: file)
        }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        return LocalBlobReader(fd: fd, size: Int64(st.st_size), path: file)
    }

    public func allDigests() throws -> [Digest] {
        var result: [Digest] = []
        let top = blobsRoot + "/sha256"
        for a in try listDirectory(top) {
            for b in try listDirectory(top + "/" + a) {
                for name in try listDirectory(top + "/" + a + "/" + b) {
                    if let digest = Digest(hex: name) { result.append(digest) }
                }
            }
        }
        return result
    }

    public func remove(_ digest: Digest) throws {
        let file = path(of: digest)
        try sysCall("unlink", path: file) { unlink(file) }
        try fsyncDirectory(directoryName(file))
    }

    /// Removes staged files whose process is gone. Each staged name carries its writer's pid,
    /// so a `depot ingest` running beside `depot serve` never loses its staging to the other's
    /// start-up clean-up.
    @discardableResult
    public func removeLeftovers() throws -> Int {
        try Self.removeDeadStagings(in: tempRoot)
    }

    /// Removes the staged files in `folder` whose writer is gone; how many went.
    static func removeDeadStagings(in folder: String) throws -> Int {
        var removed = 0
        for name in try listDirectory(folder) where name != "uploads" {
            // uploads/: uploads in progress, resumable after a restart (PartialUploads).
            if let pid = writerPID(of: name), pid != getpid(), kill(pid, 0) == 0 || errno == EPERM {
                continue
            }
            if unlink(folder + "/" + name) == 0 { removed += 1 }
        }
        return removed
    }

    private func syncFilesystem(of directory: String) throws {
        let fd = try sysCall("open", path: directory) { Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try sysCall("syncfs", path: directory) { clinux_syncfs(fd) }
    }

    static func randomName() -> String {
        var rng = SystemRandomNumberGenerator()
        let n = rng.next() as UInt64
        return "stage-\(getpid())-" + String(n, radix: 36)
    }

    static func writerPID(of name: String) -> pid_t? {
        let parts = name.split(separator: "-")
        guard parts.count == 3, parts[0] == "stage", let pid = pid_t(parts[1]), pid > 0 else { return nil }
        return pid
    }
}

/// Reads one blob file; owns its descriptor.
final class LocalBlobReader: BlobReader {
    let fd: Int32
    let size: Int64
    let path: String

    init(fd: Int32, size: Int64, path: String) {
        self.fd = fd
        self.size = size
        self.path = path
    }

    deinit { close(fd) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try sysCall("read", path: path) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try sysCall("pread", path: path) { pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
    }
}

/// The names in a directory, without "." and ".."; empty when it does not exist.
func listDirectory(_ path: String) throws -> [String] {
    guard let dir = opendir(path) else {
        if errno == ENOENT { return [] }
        throw SystemError(call: "opendir", errno: errno, path: path)
    }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Free space on `path`'s filesystem for an unprivileged writer (f_bavail), bytes.
func freeSpace(at path: String) -> Int64? {
    var info = statvfs()
    guard statvfs(path, &info) == 0 else { return nil }
    return Int64(info.f_bavail) * Int64(info.f_frsize)
}

/// Whether a file can be created in `folder` now (a probe, removed at once).
func canCreateFile(in folder: String) -> Bool {
    let probe = folder + "/ready-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let fd = Glibc.open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return false }
    close(fd)
    unlink(probe)
    return true
}
