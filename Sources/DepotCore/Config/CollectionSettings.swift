#if canImport(Glibc)
import Glibc
#endif

/// How a collection treats the files dropped into it.
public enum CollectionMode: String, Sendable, Equatable, CaseIterable, Codable {
    /// The file leaves the inbox once it is safely stored (a hot folder).
    case consume
    /// The file stays; every change to it becomes a new version (snapshots of a share).
    case mirror
}

/// What becomes of a mirror-mode document whose file is removed from the share
/// (`removed = "keep"` or `removed = "trash after 30d"`).
public enum MirrorRemoval: Sendable, Equatable, CustomStringConvertible {
    /// Kept forever, as it was (the default).
    case keep
    /// Moved to the trash once the file has been missing this long.
    case trashAfter(Duration)

    /// "keep", "trash" (at once) or "trash after DURATION".
    public init?(parsing text: String) {
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        if words == ["keep"] { self = .keep; return }
        if words == ["trash"] { self = .trashAfter(.zero); return }
        guard words.count == 3, words[0] == "trash", words[1] == "after", let d = parseDuration(String(words[2])), d >= .zero else {
            return nil
        }
        self = .trashAfter(d)
    }

    public var description: String {
        switch self {
        case .keep: return "keep"
        case .trashAfter(let d): return "trash after \(formatDuration(d))"
        }
    }

    /// Reads `removed` from a table (nil when absent).
    public static func read(_ reader: TableReader) throws -> MirrorRemoval? {
        guard let text = try reader.string("removed") else { return nil }
        guard let value = MirrorRemoval(parsing: text) else {
            throw reader.fail("removed", "takes \"keep\" or \"trash after DURATION\" (e.g. \"trash after 30d\"), not \"\(text)\"")
        }
        return value
    }
}

/// How signed links to a collection's files are answered when its blobs are in object storage.
public enum DownloadDelivery: String, Sendable, Equatable, CaseIterable {
    /// depot streams the bytes from the store (ranges included): the default.
    case stream
    /// depot checks the link and answers with a redirect (307) to a short-lived presigned URL
    /// of the object, so the bytes go from the store to the reader without passing through
    /// depot. Stores without presigned URLs (local disk) stream.
    case redirect
}

/// What one collection's settings say after the global config, its `[collections.NAME]`
/// table and its `.depot.toml` are applied. Each part of depot reads the fields it owns: the
/// watcher the mode, quiet period and ignore list; the HTTP server the link lifetime.
public struct CollectionSettings: Sendable, Equatable {
    public var mode: CollectionMode
    public var quietPeriod: Duration
    public var ignore: [String]
    /// The longest life a signed download link to this collection's files may have.
    public var maxLinkLifetime: Duration
    /// Which versions `depot retention apply` keeps (the store reads it).
    public var retention: RetentionRules
    /// Mirror mode: what a file removed from the share does to its document.
    public var removed: MirrorRemoval
    /// `downloads`: streamed by depot, or redirected to the object store.
    public var downloads: DownloadDelivery

    public init(mode: CollectionMode, quietPeriod: Duration, ignore: [String], maxLinkLifetime: Duration = .seconds(7 * 86400),
                retention: RetentionRules = RetentionRules(), removed: MirrorRemoval = .keep, downloads: DownloadDelivery = .stream) {
        self.removed = removed
        self.downloads = downloads
        self.mode = mode
        self.quietPeriod = quietPeriod
        self.ignore = ignore
        self.maxLinkLifetime = maxLinkLifetime
        self.retention = retention
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
    /// A `[retention]` table: replaces the global rules whole (an empty table keeps everything).
    public var retention: RetentionRules?
    /// `removed`: what a file removed from a mirror-mode share does to its document.
    public var removed: MirrorRemoval?
    /// `downloads = "stream" | "redirect"`.
    public var downloads: DownloadDelivery?

    public init() {}

    /// The keys a collection may set.
    public static let keys: Set<String> = ["mode", "quiet_period", "ignore", "ignore_extra", "max_link_lifetime", "retention", "removed",
                                           "downloads"]

    /// Parses a collection's `.depot.toml`.
    public static func parse(toml text: String, source: String) throws -> CollectionOverrides {
        try CollectionOverrides(try TableReader.parse(toml: text, source: source))
    }

    public init(_ reader: TableReader) throws {
        try reader.allow(Self.keys)
        if let mode = try reader.choice("mode", CollectionMode.allCases.map(\.rawValue)) { self.mode = CollectionMode(rawValue: mode) }
        quietPeriod = try reader.duration("quiet_period")
        ignore = try reader.strings("ignore")
        ignoreExtra = try reader.strings("ignore_extra") ?? []
        maxLinkLifetime = try reader.duration("max_link_lifetime")
        if let maxLinkLifetime, maxLinkLifetime <= .zero {
            throw reader.fail("max_link_lifetime", "must be positive")
        }
        removed = try MirrorRemoval.read(reader)
        if let value = try reader.choice("downloads", DownloadDelivery.allCases.map(\.rawValue)) { downloads = DownloadDelivery(rawValue: value) }
        if let table = try reader.table("retention") {
            try table.allow(RetentionRules.keys)
            retention = try RetentionRules(reading: table)
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
        if let retention { result.retention = retention }
        if let removed { result.removed = removed }
        if let downloads { result.downloads = downloads }
        return result
    }
}

/// The one place a collection's settings are worked out: the global defaults, then its
/// `[collections.NAME]` table, then `inbox/NAME/.depot.toml`. The watcher and the HTTP server
/// both ask it, so they never disagree, and a broken `.depot.toml` is an error for both.
public struct CollectionSettingsResolver: Sendable, Equatable {
    public static let overrideFileName = ".depot.toml"

    /// What a collection gets when nothing overrides it.
    public var defaults: CollectionSettings
    /// `[collections.NAME]` tables of depot.toml.
    public var tables: [String: CollectionOverrides]
    /// The inbox folder whose top folders are the collections.
    public var inbox: String

    public init(defaults: CollectionSettings, tables: [String: CollectionOverrides] = [:], inbox: String) {
        self.defaults = defaults
        self.tables = tables
        self.inbox = inbox
    }

    /// The path of a collection's `.depot.toml`.
    public func overrideFile(of collection: String) -> String {
        inbox + "/" + collection + "/" + Self.overrideFileName
    }

    /// The settings given an already-read `.depot.toml` (nil: the collection has none).
    public func settings(for collection: String, file: CollectionOverrides?) -> CollectionSettings {
        var settings = defaults
        if let table = tables[collection] { settings = table.applied(to: settings) }
        if let file { settings = file.applied(to: settings) }
        return settings
    }

    /// Reads a collection's `.depot.toml` as it is now: nil when there is none.
    /// - Throws: `ConfigError` naming the file, key and line when it is broken or not a file.
    public func readOverrideFile(of collection: String) throws -> CollectionOverrides? {
        let path = overrideFile(of: collection)
        guard let st = try lstatIfExists(path) else { return nil }
        guard st.st_mode & S_IFMT == S_IFREG else { throw ConfigError(source: path, message: "not a regular file") }
        return try CollectionOverrides.parse(toml: try readTextFile(path), source: path)
    }

    /// A collection's settings now, its `.depot.toml` read afresh.
    /// - Throws: `ConfigError` when that file is broken: nothing is guessed for a collection
    ///   whose owner wrote settings depot cannot read.
    public func settings(for collection: String) throws -> CollectionSettings {
        settings(for: collection, file: try readOverrideFile(of: collection))
    }
}

/// A collection is a top folder of the inbox: one plain name, no dot in front.
public func validateCollectionName(_ name: String, source: String) throws {
    if name.isEmpty || name.hasPrefix(".") || name.contains("/") {
        throw ConfigError(source: source, message: "'\(name)' is not a collection name (a folder name under inbox/, not starting with a dot)")
    }
}
