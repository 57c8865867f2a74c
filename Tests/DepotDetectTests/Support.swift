import DepotCore
import Foundation

/// Bytes held in memory, as a stored blob would be read: detection's other `RandomAccessBytes`.
typealias MemoryBytes = ByteArray

/// Bytes that cannot be read (a blob gone, a failing disk).
final class UnreadableBytes: RandomAccessBytes {
    let size: Int64 = 4096
    func read(at offset: Int64, count: Int) throws -> [UInt8] { throw SystemError(call: "pread", errno: EIO) }
}
