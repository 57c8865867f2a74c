import DepotCore
import Hummingbird
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Streams a byte range of a file into a response: `pread` on a Dispatch thread (never the
/// concurrency pool), one chunk read ahead while the previous one is being sent, so the disk
/// and the socket work at the same time and memory stays at two chunks per download.
struct FileStreamer: Sendable {
    /// Bytes per read; 1 MiB keeps syscalls and thread hops rare on large files.
    var chunkSize: Int = 1 << 20

    /// Sends bytes `first...last` (Int64: offsets past 4 GiB work) of the file at `path`.
    func stream(path: String, first: Int64, last: Int64, into writer: inout any ResponseBodyWriter) async throws {
        let file = try await blocking { try OpenFile(path: path) }
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

/// A read-only file descriptor, closed when the last reference goes.
///
/// `@unchecked Sendable`: the descriptor is only used with `pread`, which takes its own
/// offset and is safe from any thread.
final class OpenFile: @unchecked Sendable {
    let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
    }

    deinit { close(fd) }

    /// Exactly `count` bytes at `offset`; a file shorter than the catalog says is an error
    /// (the response promised a Content-Length).
    func read(at offset: Int64, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var done = 0
        while done < count {
            let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { raw in
                try sysCall("pread", path: path) { pread(fd, raw.baseAddress, count - done, off_t(offset) + off_t(done)) }
            }
            if n == 0 { throw SystemError(call: "pread", errno: EIO, path: path) }
            done += n
        }
        return buffer
    }
}
