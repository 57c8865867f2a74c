/// Bytes that can be read at any offset: a stored blob through the store, a file in a
/// worker. Type detection reads through it, so it never needs to know where bytes live.
public protocol RandomAccessBytes: AnyObject {
    var size: Int64 { get }
    /// Up to `count` bytes from `offset` (fewer at the end, none past it).
    func read(at offset: Int64, count: Int) throws -> [UInt8]
}
