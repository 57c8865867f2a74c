import DepotCore

/// The names of partial uploads and editor/OS litter that are never taken (DESIGN.md).
public let defaultIgnorePatterns: [String] = [
    "*.part", "*.filepart", "*.tmp", "*.crdownload", ".*", "~$*", ".~lock.*#",
    "Thumbs.db", ".DS_Store", "._*",
]

/// `[inbox]`: the watcher's settings and the defaults of every collection.
public struct InboxSettings: ConfigSection {
    public static let key = "inbox"
    /// How long size and mtime must stay unchanged before a file is taken.
    /// Two seconds covers SMB and SFTP servers that close and reopen while writing.
    public var quietPeriod: Duration = .seconds(2)
    /// How often the whole inbox is walked to catch what inotify missed (NFS/SMB clients, overflows).
    public var rescanInterval: Duration = .seconds(300)
    /// How often a tree that could not be watched (inotify watch limit) is polled instead.
    public var pollInterval: Duration = .seconds(10)
    /// Glob patterns on the file name that are never taken.
    public var ignore: [String] = defaultIgnorePatterns
    /// The mode of a collection that says nothing else.
    public var mode: CollectionMode = .consume
    /// The most inotify watches depot adds (0: as many as the kernel allows).
    public var maxWatches: Int = 0
    /// First delay before a file that failed to ingest is tried again; it doubles up to `retryMax`.
    public var retryInitial: Duration = .seconds(5)
    public var retryMax: Duration = .seconds(900)
    /// Mirror mode: what a file removed from the share does to its document, unless a
    /// collection says otherwise.
    public var removed: MirrorRemoval = .keep

    public init() {}

    public init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["quiet_period", "rescan_interval", "poll_interval", "ignore", "ignore_extra",
                     "mode", "max_watches", "retry_initial", "retry_max", "removed"])
        if let v = try r.duration("quiet_period") { quietPeriod = v }
        if let v = try r.duration("rescan_interval") { rescanInterval = v }
        if let v = try r.duration("poll_interval") { pollInterval = v }
        if let v = try r.strings("ignore") { ignore = v }
        ignore += try r.strings("ignore_extra") ?? []
        if let v = try r.choice("mode", CollectionMode.allCases.map(\.rawValue)) { mode = CollectionMode(rawValue: v)! }
        if let v = try r.int("max_watches", min: 0, max: 100_000_000) { maxWatches = v }
        if let v = try r.duration("retry_initial") { retryInitial = v }
        if let v = try r.duration("retry_max") { retryMax = v }
        if let v = try MirrorRemoval.read(r) { removed = v }
        guard rescanInterval > .zero else { throw r.fail("rescan_interval", "must be positive") }
        guard pollInterval > .zero else { throw r.fail("poll_interval", "must be positive") }
    }
}
