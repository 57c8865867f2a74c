/// Bytes that can be read at any offset: a stored blob through the store, a file in a
/// worker. Type detection reads through it, so it never needs to know where bytes live.
public protocol RandomAccessBytes: AnyObject {
    var size: Int64 { get }
    /// Up to `count` bytes from `offset` (fewer at the end, none past it).
    func read(at offset: Int64, count: Int) throws -> [UInt8]
}

/// Bytes held in memory (an attached picture for libavformat, a test's file).
public final class ByteArray: RandomAccessBytes {
    public let bytes: [UInt8]
    public var size: Int64 { Int64(bytes.count) }
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public func read(at offset: Int64, count: Int) throws -> [UInt8] {
        guard offset >= 0, count > 0, offset < size else { return [] }
        return Array(bytes[Int(offset)..<min(bytes.count, Int(offset) + count)])
    }
}
