import DepotCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Blobs held in memory: the second implementation that keeps the `BlobStore` contract
/// honest (the shared test suite runs against both), and a fast store for tests of the
/// layers above.
public final class MemoryBlobStore: BlobStore {
    private struct State {
        var blobs: [Digest: [UInt8]] = [:]
        var staged: [String: [UInt8]] = [:]
        var nextToken = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func stage(_ source: BlobSource) throws -> StagedBlob {
        let file = try OpenedSource(path: source.path)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try chunk.withUnsafeMutableBytes { raw in
                try sysCall("read", path: source.path) { read(file.fd, raw.baseAddress, raw.count) }
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        try file.checkUnchanged(bytesRead: Int64(bytes.count))
        let digest = SHA256Hasher.digest(bytes)
        let token = state.withLock { s -> String in
            s.nextToken += 1
            let token = "staged-\(s.nextToken)"
            s.staged[token] = bytes
            return token
        }
        return file.staged(digest: digest, size: Int64(bytes.count), token: token)
    }

    public func commit(_ staged: [StagedBlob]) throws -> [BlobCommit] {
        state.withLock { s in
            staged.map { blob in
                let bytes = s.staged.removeValue(forKey: blob.token) ?? []
                if let stored = s.blobs[blob.digest] {
                    if SHA256Hasher.digest(stored) == blob.digest { return .existing }
                    s.blobs[blob.digest] = bytes
                    return .healed
                }
                s.blobs[blob.digest] = bytes
                return .new
            }
        }
    }

    public func discard(_ staged: StagedBlob) {
        _ = state.withLock { $0.staged.removeValue(forKey: staged.token) }
    }

    public func contains(_ digest: Digest) throws -> Bool {
        state.withLock { $0.blobs[digest] != nil }
    }

    public func size(of digest: Digest) throws -> Int64? {
        state.withLock { $0.blobs[digest].map { Int64($0.count) } }
    }

    public func open(_ digest: Digest) throws -> BlobReader {
        guard let bytes = state.withLock({ $0.blobs[digest] }) else { throw BlobStoreError.missing(digest.hex) }
        return MemoryBlobReader(bytes: bytes)
    }

    public func localPath(of digest: Digest) -> String? { nil }

    public func isWritable() -> Bool { true }

    public func freeBytes() -> Int64? { nil }

    public func allDigests() throws -> [Digest] {
        state.withLock { Array($0.blobs.keys) }
    }

    public func remove(_ digest: Digest) throws {
        let removed = state.withLock { $0.blobs.removeValue(forKey: digest) }
        if removed == nil { throw BlobStoreError.missing(digest.hex) }
    }

    @discardableResult
    public func removeLeftovers() throws -> Int {
        state.withLock { s in
            let n = s.staged.count
            s.staged.removeAll()
            return n
        }
    }

    /// Test hook: overwrite a stored blob's bytes, as bit rot would.
    public func corrupt(_ digest: Digest, with bytes: [UInt8]) {
        state.withLock { $0.blobs[digest] = bytes }
    }
}

final class MemoryBlobReader: BlobReader {
    let bytes: [UInt8]
    var offset = 0
    var size: Int64 { Int64(bytes.count) }

    init(bytes: [UInt8]) { self.bytes = bytes }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + offset, byteCount: n)
        }
        offset += n
        return n
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard offset >= 0, offset < Int64(bytes.count) else { return 0 }
        let start = Int(offset)
        let n = min(buffer.count, bytes.count - start)
        bytes.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + start, byteCount: n)
        }
        return n
    }
}
