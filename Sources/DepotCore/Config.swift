import TOMLKit

/// How a collection treats the files dropped into it.
public enum CollectionMode: String, Sendable, Equatable, CaseIterable {
    /// The file leaves the inbox once it is safely stored (a hot folder).
    case consume
    /// The file stays; every change to it becomes a new version (snapshots of a share).
    case mirror
}

/// The names of partial uploads and editor/OS litter that are never taken (DESIGN.md).
public let defaultIgnorePatterns: [String] = [
    "*.part", "*.filepart", "*.tmp", "*.crdownload", ".*", "~$*", ".~lock.*#",
    "Thumbs.db", ".DS_Store", "._*",
]

/// Settings of the inbox watcher and the defaults for every collection.
public struct InboxSettings: Sendable, Equatable {
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

    public init() {}
}

/// What one collection's settings say after the global config and its `.depot.toml` are applied.
public struct CollectionSettings: Sendable, Equatable {
    public var mode: CollectionMode
    public var quietPeriod: Duration
    public var ignore: [String]

    public init(mode: CollectionMode, quietPeriod: Duration, ignore: [String]) {
        self.mode = mode
        self.quietPeriod = quietPeriod
        self.ignore = ignore
    }
}

/// Per-collection overrides, from `[collections.NAME]` in depot.toml or a collection's `.depot.toml`.
public struct CollectionOverrides: Sendable, Equatable {
    public var mode: CollectionMode?
    public var quietPeriod: Duration?
    /// Replaces the ignore list.
    public var ignore: [String]?
    /// Adds to the ignore list.
    public var ignoreExtra: [String] = []

    public init() {}

    /// Parses a collection's `.depot.toml`.
    public static func parse(toml text: String, source: String) throws -> CollectionOverrides {
        let table = try parseTOML(text, source: source)
        return try CollectionOverrides(table: table, at: "", source: source)
    }

    init(table: TOMLTable, at prefix: String, source: String) throws {
        let reader = TableReader(table: table, prefix: prefix, source: source)
        try reader.allow(["mode", "quiet_period", "ignore", "ignore_extra"])
        mode = try reader.mode("mode")
        quietPeriod = try reader.duration("quiet_period")
        ignore = try reader.strings("ignore")
        ignoreExtra = try reader.strings("ignore_extra") ?? []
    }

    /// These overrides laid over `base`.
    public func applied(to base: CollectionSettings) -> CollectionSettings {
        var result = base
        if let mode { result.mode = mode }
        if let quietPeriod { result.quietPeriod = quietPeriod }
        if let ignore { result.ignore = ignore }
        result.ignore += ignoreExtra
        return result
    }
}

/// Settings of the blob store and ingest.
public struct StoreSettings: Sendable, Equatable {
    /// Files whose blobs are made durable together with one barrier (batching the fsyncs).
    public var batchFiles: Int = 256
    /// Bytes after which a batch is closed even if it has fewer files.
    public var batchBytes: Int64 = 256 << 20

    public init() {}
}

/// The whole configuration: `depot.toml`.
public struct DepotConfig: Sendable, Equatable {
    /// The depot root (inbox/, outbox/, store/, state/).
    public var root: String = "/srv/depot"
    public var inbox = InboxSettings()
    public var store = StoreSettings()
    /// `[collections.NAME]` tables.
    public var collections: [String: CollectionOverrides] = [:]
    /// Log level: trace, debug, info, notice, warning, error, critical.
    public var logLevel: String = "info"

    public init() {}

    /// Reads and parses a config file.
    public static func load(path: String) throws -> DepotConfig {
        try parse(toml: try readTextFile(path), source: path)
    }

    /// Parses config text; unknown keys are errors so that a typo never silently does nothing.
    public static func parse(toml text: String, source: String) throws -> DepotConfig {
        let table = try parseTOML(text, source: source)
        var config = DepotConfig()
        let top = TableReader(table: table, prefix: "", source: source)
        try top.allow(["root", "inbox", "store", "collections", "log"])
        if let root = try top.string("root") { config.root = root }

        if let inbox = try top.table("inbox") {
            let r = TableReader(table: inbox, prefix: "inbox.", source: source)
            try r.allow(["quiet_period", "rescan_interval", "poll_interval", "ignore", "ignore_extra",
                         "mode", "max_watches", "retry_initial", "retry_max"])
            var s = InboxSettings()
            if let v = try r.duration("quiet_period") { s.quietPeriod = v }
            if let v = try r.duration("rescan_interval") { s.rescanInterval = v }
            if let v = try r.duration("poll_interval") { s.pollInterval = v }
            if let v = try r.strings("ignore") { s.ignore = v }
            s.ignore += try r.strings("ignore_extra") ?? []
            if let v = try r.mode("mode") { s.mode = v }
            if let v = try r.int("max_watches", min: 0) { s.maxWatches = v }
            if let v = try r.duration("retry_initial") { s.retryInitial = v }
            if let v = try r.duration("retry_max") { s.retryMax = v }
            guard s.rescanInterval > .zero, s.pollInterval > .zero else {
                throw ConfigError(source: source, message: "inbox.rescan_interval and inbox.poll_interval must be positive")
            }
            config.inbox = s
        }

        if let store = try top.table("store") {
            let r = TableReader(table: store, prefix: "store.", source: source)
            try r.allow(["batch_files", "batch_bytes"])
            if let v = try r.int("batch_files", min: 1) { config.store.batchFiles = v }
            if let v = try r.int("batch_bytes", min: 1) { config.store.batchBytes = Int64(v) }
        }

        if let collections = try top.table("collections") {
            for name in collections.keys {
                guard let sub = collections[name]?.table else {
                    throw ConfigError(source: source, message: "collections.\(name) must be a table")
                }
                try validateCollectionName(name, source: source)
                config.collections[name] = try CollectionOverrides(table: sub, at: "collections.\(name).", source: source)
            }
        }

        if let log = try top.table("log") {
            let r = TableReader(table: log, prefix: "log.", source: source)
            try r.allow(["level"])
            if let level = try r.string("level") {
                let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
                guard levels.contains(level) else {
                    throw ConfigError(source: source, message: "log.level must be one of \(levels.joined(separator: ", "))")
                }
                config.logLevel = level
            }
        }
        return config
    }

    /// A collection's settings from the global config and, if given, its `.depot.toml`.
    public func settings(forCollection name: String, overrideFile: CollectionOverrides? = nil) -> CollectionSettings {
        var settings = CollectionSettings(mode: inbox.mode, quietPeriod: inbox.quietPeriod, ignore: inbox.ignore)
        if let global = collections[name] { settings = global.applied(to: settings) }
        if let local = overrideFile { settings = local.applied(to: settings) }
        return settings
    }
}

/// A configuration file that cannot be used, with where and why.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var source: String
    public var message: String

    public init(source: String, message: String) {
        self.source = source
        self.message = message
    }

    public var description: String { "\(source): \(message)" }
}

/// A collection is a top folder of the inbox: one plain name, no dot in front.
public func validateCollectionName(_ name: String, source: String) throws {
    if name.isEmpty || name.hasPrefix(".") || name.contains("/") {
        throw ConfigError(source: source, message: "'\(name)' is not a collection name (a folder name under inbox/, not starting with a dot)")
    }
}

/// Parses a duration: a number of seconds, or a string such as "500ms", "2s", "5m", "1h", "7d".
public func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
    let trimmed = String(text.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
        let number = trimmed.dropLast(suffix.count)
        // "ms" also ends in "s": only accept the longest suffix whose number parses.
        if let value = Double(number), value >= 0, value.isFinite {
            return .nanoseconds(Int64((value * scale * 1e9).rounded()))
        }
    }
    return nil
}

func parseTOML(_ text: String, source: String) throws -> TOMLTable {
    do {
        return try TOMLTable(string: text)
    } catch let error as TOMLParseError {
        throw ConfigError(source: source, message: "line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
    }
}

/// Reads the whole of a small text file (a config).
public func readTextFile(_ path: String) throws -> String {
    let fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = try chunk.withUnsafeMutableBytes { try readFully(fd, into: $0, path: path) }
        bytes += chunk[0..<n]
        if n < chunk.count { break }
        if bytes.count > 16 << 20 { throw ConfigError(source: path, message: "larger than 16 MiB") }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Typed access to one TOML table, with errors that name the key.
struct TableReader {
    let table: TOMLTable
    let prefix: String
    let source: String

    func fail(_ key: String, _ what: String) -> ConfigError {
        ConfigError(source: source, message: "\(prefix)\(key) \(what)")
    }

    func allow(_ keys: Set<String>) throws {
        for key in table.keys where !keys.contains(key) {
            throw ConfigError(source: source, message: "unknown key '\(prefix)\(key)' (known: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    func string(_ key: String) throws -> String? {
        guard let value = table[key] else { return nil }
        guard let s = value.string else { throw fail(key, "must be a string") }
        return s
    }

    func table(_ key: String) throws -> TOMLTable? {
        guard let value = table[key] else { return nil }
        guard let t = value.table else { throw fail(key, "must be a table") }
        return t
    }

    func int(_ key: String, min: Int) throws -> Int? {
        guard let value = table[key] else { return nil }
        guard let i = value.int, i >= min else { throw fail(key, "must be an integer ≥ \(min)") }
        return i
    }

    func strings(_ key: String) throws -> [String]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw fail(key, "must be an array of strings") }
        var result: [String] = []
        for item in array {
            guard let s = item.string else { throw fail(key, "must be an array of strings") }
            result.append(s)
        }
        return result
    }

    func duration(_ key: String) throws -> Duration? {
        guard let value = table[key] else { return nil }
        if let i = value.int, i >= 0 { return .seconds(i) }
        if let d = value.double, d >= 0, d.isFinite { return .nanoseconds(Int64(d * 1e9)) }
        if let s = value.string, let d = parseDuration(s) { return d }
        throw fail(key, "must be a duration such as \"500ms\", \"2s\", \"5m\" or a number of seconds")
    }

    func mode(_ key: String) throws -> CollectionMode? {
        guard let s = try string(key) else { return nil }
        guard let mode = CollectionMode(rawValue: s) else {
            throw fail(key, "must be \"consume\" or \"mirror\"")
        }
        return mode
    }
}

extension Duration {
    /// Whole nanoseconds, for arithmetic against the monotonic clock.
    public var nanosecondsValue: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

#if canImport(Glibc)
import Glibc
#endif
