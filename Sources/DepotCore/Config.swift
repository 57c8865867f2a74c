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
    /// The longest life a signed download link to this collection's files may have.
    public var maxLinkLifetime: Duration = HTTPSettings().maxLinkLifetime

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
    /// Caps the life of signed download links (below `http.max_link_lifetime` or above it).
    public var maxLinkLifetime: Duration?

    public init() {}

    /// Parses a collection's `.depot.toml`.
    public static func parse(toml text: String, source: String) throws -> CollectionOverrides {
        let table = try parseTOML(text, source: source)
        return try CollectionOverrides(table: table, at: "", source: source)
    }

    init(table: TOMLTable, at prefix: String, source: String) throws {
        let reader = TableReader(table: table, prefix: prefix, source: source)
        try reader.allow(["mode", "quiet_period", "ignore", "ignore_extra", "max_link_lifetime"])
        mode = try reader.mode("mode")
        quietPeriod = try reader.duration("quiet_period")
        ignore = try reader.strings("ignore")
        ignoreExtra = try reader.strings("ignore_extra") ?? []
        maxLinkLifetime = try reader.duration("max_link_lifetime")
        if let maxLinkLifetime, maxLinkLifetime <= .zero {
            throw reader.fail("max_link_lifetime", "must be positive")
        }
    }

    /// These overrides laid over `base`.
    public func applied(to base: CollectionSettings) -> CollectionSettings {
        var result = base
        if let mode { result.mode = mode }
        if let quietPeriod { result.quietPeriod = quietPeriod }
        if let ignore { result.ignore = ignore }
        result.ignore += ignoreExtra
        if let maxLinkLifetime { result.maxLinkLifetime = maxLinkLifetime }
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

/// Settings of the HTTP server: signed downloads, the admin API, /metrics and health.
public struct HTTPSettings: Sendable, Equatable {
    /// The address the server listens on; loopback unless an operator opens it up.
    public var listen: String = "127.0.0.1"
    /// The TCP port (0: any free port, logged at start-up).
    public var port: Int = 8080
    /// The URL links start with ("https://files.example.org"); empty: http://listen:port.
    public var baseURL: String = ""
    /// The life of a link when `depot link` or the API is not told otherwise.
    public var linkExpiry: Duration = .seconds(24 * 3600)
    /// The longest life a link may have (S3's presigned URLs stop at 7 days too).
    public var maxLinkLifetime: Duration = .seconds(7 * 86400)
    /// How far past its expiry a link is still accepted, for clocks that disagree a little.
    public var clockSkew: Duration = .seconds(30)
    /// Download requests per second per client IP (token bucket refill; 0: no limit) and the burst.
    public var downloadRate: Int = 50
    public var downloadBurst: Int = 100
    /// API requests per second per client IP and the burst.
    public var apiRate: Int = 20
    public var apiBurst: Int = 50
    /// Bad links from one client within `badLinkWindow` after which it gets 429 until the window passes.
    public var badLinkLimit: Int = 20
    public var badLinkWindow: Duration = .seconds(600)
    /// The most connections open at once; more wait in the listen backlog.
    public var maxConnections: Int = 2048
    /// How long a client may take to send a request's headers (slowloris).
    public var headerTimeout: Duration = .seconds(10)
    /// How long a connection may sit with nothing read or written.
    public var idleTimeout: Duration = .seconds(60)
    /// The signing keys; empty: ROOT/state/link-keys. $CREDENTIALS_DIRECTORY/link-keys
    /// (systemd's LoadCredential=) wins when it exists.
    public var keysFile: String = ""

    public init() {}
}

/// The whole configuration: `depot.toml`.
public struct DepotConfig: Sendable, Equatable {
    /// The depot root (inbox/, outbox/, store/, state/).
    public var root: String = "/srv/depot"
    public var inbox = InboxSettings()
    public var store = StoreSettings()
    public var http = HTTPSettings()
    /// `[collections.NAME]` tables.
    public var collections: [String: CollectionOverrides] = [:]
    /// Log level: trace, debug, info, notice, warning, error, critical.
    public var logLevel: String = "info"
    /// `[outbox]`: how published folders are written and how events are dispatched.
    public var outbox = OutboxSettings()
    /// `[[webhooks]]`: where events are POSTed.
    public var webhooks: [WebhookSettings] = []
    /// `[jobs]`: the job queue and its worker processes.
    public var jobs = JobsSettings()

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
        try top.allow(["root", "inbox", "store", "collections", "log", "outbox", "webhooks", "jobs", "http"])
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

        if let http = try top.table("http") {
            config.http = try parseHTTP(http, source: source)
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
        try parseOutboxSections(top, into: &config, source: source)
        if let jobs = try top.table("jobs") { config.jobs = try parseJobs(jobs, source: source) }
        return config
    }

    static func parseHTTP(_ table: TOMLTable, source: String) throws -> HTTPSettings {
        let r = TableReader(table: table, prefix: "http.", source: source)
        try r.allow(["listen", "port", "base_url", "link_expiry", "max_link_lifetime", "clock_skew",
                     "download_rate", "download_burst", "api_rate", "api_burst", "bad_link_limit",
                     "bad_link_window", "max_connections", "header_timeout", "idle_timeout", "keys_file"])
        var s = HTTPSettings()
        if let v = try r.string("listen") {
            guard !v.isEmpty else { throw r.fail("listen", "must be an address such as \"127.0.0.1\" or \"::\"") }
            s.listen = v
        }
        if let v = try r.int("port", min: 0) {
            guard v <= 65535 else { throw r.fail("port", "must be at most 65535") }
            s.port = v
        }
        if let v = try r.string("base_url") {
            guard v.isEmpty || v.hasPrefix("http://") || v.hasPrefix("https://") else {
                throw r.fail("base_url", "must start with http:// or https://")
            }
            s.baseURL = v.hasSuffix("/") ? String(v.dropLast()) : v
        }
        if let v = try r.duration("link_expiry") { s.linkExpiry = v }
        if let v = try r.duration("max_link_lifetime") { s.maxLinkLifetime = v }
        if let v = try r.duration("clock_skew") { s.clockSkew = v }
        if let v = try r.int("download_rate", min: 0) { s.downloadRate = v }
        if let v = try r.int("download_burst", min: 1) { s.downloadBurst = v }
        if let v = try r.int("api_rate", min: 0) { s.apiRate = v }
        if let v = try r.int("api_burst", min: 1) { s.apiBurst = v }
        if let v = try r.int("bad_link_limit", min: 1) { s.badLinkLimit = v }
        if let v = try r.duration("bad_link_window") { s.badLinkWindow = v }
        if let v = try r.int("max_connections", min: 1) { s.maxConnections = v }
        if let v = try r.duration("header_timeout") { s.headerTimeout = v }
        if let v = try r.duration("idle_timeout") { s.idleTimeout = v }
        if let v = try r.string("keys_file") { s.keysFile = v }
        guard s.linkExpiry > .zero, s.maxLinkLifetime > .zero, s.headerTimeout > .zero, s.idleTimeout > .zero,
              s.badLinkWindow > .zero else {
            throw ConfigError(source: source, message: "http.link_expiry, max_link_lifetime, header_timeout, idle_timeout and bad_link_window must be positive")
        }
        guard s.linkExpiry <= s.maxLinkLifetime else {
            throw ConfigError(source: source, message: "http.link_expiry must not exceed http.max_link_lifetime")
        }
        return s
    }

    /// A collection's settings from the global config and, if given, its `.depot.toml`.
    public func settings(forCollection name: String, overrideFile: CollectionOverrides? = nil) -> CollectionSettings {
        var settings = CollectionSettings(mode: inbox.mode, quietPeriod: inbox.quietPeriod, ignore: inbox.ignore)
        settings.maxLinkLifetime = http.maxLinkLifetime
        if let global = collections[name] { settings = global.applied(to: settings) }
        if let local = overrideFile { settings = local.applied(to: settings) }
        return settings
    }
}

/// `[outbox]`: how the outbox is written and how events are dispatched from the catalog.
public struct OutboxSettings: Sendable, Equatable {
    /// Mode of the files depot writes into the outbox (manifest.json, copied artifacts,
    /// events.jsonl). Artifacts hard-linked from the store keep the blob's 0444 when that
    /// is no wider than this mode; otherwise they are copied with this mode.
    public var fileMode: UInt32 = 0o644
    /// Mode of the folders depot creates in the outbox.
    public var dirMode: UInt32 = 0o755
    /// A group given to what depot writes in the outbox (a share's group), or nil to keep the process's.
    public var group: String?
    /// How often the dispatcher looks for new events in the catalog.
    public var pollInterval: Duration = .milliseconds(250)
    /// How long a replaced document folder is kept (in outbox/.depot-trash) so that a reader
    /// that opened it before the swap can finish reading it.
    public var gracePeriod: Duration = .seconds(60)
    /// First delay before a failed webhook delivery is retried; it doubles (with jitter) up to `retryMax`.
    public var retryInitial: Duration = .seconds(5)
    public var retryMax: Duration = .seconds(3600)

    public init() {}
}

/// One `[[webhooks]]` entry: a URL that receives every matching event as a signed POST.
public struct WebhookSettings: Sendable, Equatable {
    /// Names the webhook in the delivery state; defaults to the URL. Renaming it starts afresh.
    public var name: String
    public var url: String
    /// The HMAC-SHA256 key for `X-Depot-Signature`; read from `secretFile` when that is set.
    public var secret: String?
    public var secretFile: String?
    /// Event types to deliver; ["*"] for all.
    public var events: [String] = ["*"]
    /// Attempts before a delivery is given up (dead).
    public var maxAttempts: Int = 10
    /// The whole request, connection included, must finish within this.
    public var timeout: Duration = .seconds(10)

    public init(url: String, name: String? = nil, secret: String? = nil) {
        self.url = url
        self.name = name ?? url
        self.secret = secret
    }

    /// Whether an event of this type goes to this webhook.
    public func wants(_ type: String) -> Bool {
        events.contains("*") || events.contains(type)
    }
}

/// Reads `[outbox]` and `[[webhooks]]`.
func parseOutboxSections(_ top: TableReader, into config: inout DepotConfig, source: String) throws {
    if let outbox = try top.table("outbox") {
        let r = TableReader(table: outbox, prefix: "outbox.", source: source)
        try r.allow(["file_mode", "dir_mode", "group", "poll_interval", "grace_period", "retry_initial", "retry_max"])
        var s = OutboxSettings()
        if let v = try r.fileMode("file_mode") { s.fileMode = v }
        if let v = try r.fileMode("dir_mode") { s.dirMode = v }
        if let v = try r.string("group") { s.group = v.isEmpty ? nil : v }
        if let v = try r.duration("poll_interval") { s.pollInterval = v }
        if let v = try r.duration("grace_period") { s.gracePeriod = v }
        if let v = try r.duration("retry_initial") { s.retryInitial = v }
        if let v = try r.duration("retry_max") { s.retryMax = v }
        guard s.pollInterval > .zero, s.retryInitial > .zero, s.retryMax >= s.retryInitial else {
            throw ConfigError(source: source, message: "outbox.poll_interval and outbox.retry_initial must be positive and outbox.retry_max ≥ outbox.retry_initial")
        }
        config.outbox = s
    }
    guard let value = top.table["webhooks"] else { return }
    guard let array = value.array else { throw top.fail("webhooks", "must be an array of tables ([[webhooks]])") }
    var names = Set<String>()
    for (index, item) in array.enumerated() {
        guard let table = item.table else { throw top.fail("webhooks", "must be an array of tables ([[webhooks]])") }
        let r = TableReader(table: table, prefix: "webhooks[\(index)].", source: source)
        try r.allow(["name", "url", "secret", "secret_file", "events", "max_attempts", "timeout"])
        guard let url = try r.string("url"), url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw r.fail("url", "must be an http:// or https:// URL")
        }
        var hook = WebhookSettings(url: url, name: try r.string("name"), secret: try r.string("secret"))
        hook.secretFile = try r.string("secret_file")
        guard (hook.secret == nil) != (hook.secretFile == nil) else {
            throw r.fail("secret", "or secret_file must be set (one of them)")
        }
        if let v = try r.strings("events") {
            guard !v.isEmpty else { throw r.fail("events", "must name at least one event type, or \"*\"") }
            hook.events = v
        }
        if let v = try r.int("max_attempts", min: 1) { hook.maxAttempts = v }
        if let v = try r.duration("timeout") {
            guard v > .zero else { throw r.fail("timeout", "must be positive") }
            hook.timeout = v
        }
        guard names.insert(hook.name).inserted else { throw r.fail("name", "'\(hook.name)' is used by two webhooks") }
        config.webhooks.append(hook)
    }
}

extension TableReader {
    /// A permission mode: a TOML integer (0o644) or a string of octal digits ("0644").
    func fileMode(_ key: String) throws -> UInt32? {
        guard let value = table[key] else { return nil }
        if let i = value.int, (0...0o7777).contains(i) { return UInt32(i) }
        if let s = value.string, !s.isEmpty, s.count <= 5, let i = UInt32(s, radix: 8), i <= 0o7777 { return i }
        throw fail(key, "must be a permission mode such as \"0644\" or 0o644")
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
