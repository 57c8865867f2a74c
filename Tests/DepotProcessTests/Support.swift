import DepotCore

/// Bytes held in memory, as a stored blob would be read: detection's other `RandomAccessBytes`
/// (the media processors' own in-memory bytes, which feed libavformat attached pictures).
typealias MemoryBytes = ByteArray
