import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file opened read-only for positioned reads; the descriptor is closed in deinit. It is
/// the worker's `RandomAccessBytes`: type detection and the ZIP and compound-file readers
/// read through that protocol, so the daemon can hand them a stored blob instead.
final class ReadOnlyFile: RandomAccessBytes {
    let fd: Int32
    let path: String
    let size: Int64

    init(path: String) throws {
        fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) }
        var st = stat()
        if fstat(fd, &st) != 0 {
            let error = SystemError(call: "fstat", errno: errno, path: path)
            close(fd)
            throw error
        }
        self.path = path
        size = Int64(st.st_size)
    }

    deinit { close(fd) }

    /// Up to `count` bytes from `offset` (fewer at the end of the file).
    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        guard count > 0, offset >= 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = try bytes.withUnsafeMutableBytes { raw in
                try sysCall("pread", path: path) { pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            }
            if n == 0 { break }
            done += n
        }
        return Array(bytes[0..<done])
    }

    /// The whole file, refusing more than `limit` bytes.
    func readAll(limit: Int64) throws -> [UInt8] {
        guard size <= limit else { throw SystemError(call: "read", errno: EFBIG, path: path) }
        return try read(at: 0, count: Int(size))
    }
}

/// Writes a new file (mode 0644), failing if it exists.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let file = try NewFile(path: path)
    try file.write(bytes)
}

/// A new file (mode 0644, failing if it exists) written in pieces, for output too large to
/// hold in memory; the descriptor is closed in deinit.
final class NewFile {
    let fd: Int32
    let path: String

    init(path: String) throws {
        fd = try sysCall("open", path: path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        self.path = path
    }

    deinit { close(fd) }

    func write(_ bytes: some ContiguousBytes) throws {
        try bytes.withUnsafeBytes { try writeFully(fd, $0, path: path) }
    }
}
