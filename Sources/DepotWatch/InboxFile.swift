#if canImport(Glibc)
import Glibc
#endif
import DepotCore

/// A file in the inbox that is complete and may be ingested now.
public struct InboxFile: Sendable, Hashable {
    /// The top folder under inbox/.
    public let collection: String
    /// The path inside the collection, e.g. "physics/week1/a.mp4".
    public let relativePath: String
    public let absolutePath: String
    public let size: Int64
    /// `st_mtim` as nanoseconds since the epoch.
    public let mtimeNanoseconds: Int64
    public let device: UInt64
    public let inode: UInt64
    /// consume or mirror, after the collection's `.depot.toml` is applied.
    public let mode: CollectionMode
    /// The folder components of `relativePath` ("physics", "week1").
    public var tags: [String]

    public init(collection: String, relativePath: String, absolutePath: String, size: Int64,
                mtimeNanoseconds: Int64, device: UInt64, inode: UInt64, mode: CollectionMode, tags: [String]) {
        self.collection = collection
        self.relativePath = relativePath
        self.absolutePath = absolutePath
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.device = device
        self.inode = inode
        self.mode = mode
        self.tags = tags
    }

    /// The path relative to the inbox, the watcher's key for this file.
    var key: String { collection + "/" + relativePath }

    var identity: FileIdentity {
        FileIdentity(size: size, mtime: mtimeNanoseconds, device: device, inode: inode)
    }
}

/// What the watcher is doing, for `depot status`, STATUS= lines and metrics.
public struct WatcherStatus: Sendable, Equatable {
    /// Folders with an inotify watch.
    public var watchedFolders: Int
    /// Trees polled every `pollInterval` because the inotify watch limit was reached.
    public var pollingTrees: Int
    /// Files known and not yet stored: waiting for their writer, their quiet period, a retry or the ingest.
    public var pendingFiles: Int
    /// Files whose last ingest failed and that wait for a retry.
    public var failingFiles: Int
    public var counters: Counters

    /// Totals since `start()`.
    public struct Counters: Sendable, Equatable {
        /// inotify events read.
        public var events = 0
        /// Times the inotify queue overflowed (each one forces a full rescan).
        public var overflows = 0
        /// Full rescans of the inbox, the one at start-up included.
        public var rescans = 0
        /// Calls to `failed(_:reason:)`.
        public var ingestFailures = 0

        public init() {}
    }

    public init(watchedFolders: Int = 0, pollingTrees: Int = 0, pendingFiles: Int = 0,
                failingFiles: Int = 0, counters: Counters = Counters()) {
        self.watchedFolders = watchedFolders
        self.pollingTrees = pollingTrees
        self.pendingFiles = pendingFiles
        self.failingFiles = failingFiles
        self.counters = counters
    }
}

/// What identifies one state of a file's content without reading it.
struct FileIdentity: Sendable, Equatable {
    var size: Int64
    var mtime: Int64
    var device: UInt64
    var inode: UInt64

    init(size: Int64, mtime: Int64, device: UInt64, inode: UInt64) {
        self.size = size
        self.mtime = mtime
        self.device = device
        self.inode = inode
    }

    init(_ st: stat) {
        self.init(size: Int64(st.st_size), mtime: nanoseconds(st.st_mtim),
                  device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// Mirror mode's test for "already stored": the same size, mtime and inode.
    func sameContent(as other: FileIdentity) -> Bool {
        size == other.size && mtime == other.mtime && inode == other.inode
    }
}
