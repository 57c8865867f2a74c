import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file opened read-only for positioned reads; the descriptor is closed in deinit. It is
/// the worker's `RandomAccessBytes`: type detection and the ZIP and compound-file readers
/// read through that protocol, so the daemon can hand them a stored blob instead.
package final class ReadOnlyFile: RandomAccessBytes {
    package let fd: Int32
    package let path: String
    package let size: Int64

    package init(path: String) throws {
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
    package func read(at offset: Int64, count: Int) throws -> [UInt8] {
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
    package func readAll(limit: Int64) throws -> [UInt8] {
        guard size <= limit else { throw SystemError(call: "read", errno: EFBIG, path: path) }
        return try read(at: 0, count: Int(size))
    }
}
