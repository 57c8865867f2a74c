/// One section of depot.toml, owned by the part of depot it configures: `[inbox]` by the
/// watcher, `[store]` by the store, `[jobs]` by the queue, `[outbox]` and `[[webhooks]]` by the
/// outbox, `[http]` by the HTTP server. Each section parses and checks its own keys; the
/// config file only routes top-level keys to them (restic's backends register their configs
/// the same way).
public protocol ConfigSection: Sendable, Equatable {
    /// Its top-level key ("http", "webhooks").
    static var key: String { get }
    /// The defaults: what an absent section means.
    init()
    /// Reads the section from its node; errors name the key and its line.
    init(node: ConfigNode) throws
}

/// The whole configuration: depot.toml. `root`, `[log]` and `[collections.NAME]` are read
/// here; every other section by the module that owns it (`sections` lists them).
public struct DepotConfig: Sendable, Equatable {
    /// The depot root (inbox/, outbox/, store/, state/).
    public var root: String = "/srv/depot"
    /// Log level: trace, debug, info, notice, warning, error, critical.
    public var logLevel: String = "info"
    /// `[collections.NAME]` tables.
    public var collections: [String: CollectionOverrides] = [:]
    /// The file it was read from ("" for the defaults).
    public var source: String = ""
    private var values: [ObjectIdentifier: any ConfigSection]
    private let types: [any ConfigSection.Type]

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// The defaults, for these section types.
    public init(sections: [any ConfigSection.Type]) {
        types = sections
        values = [:]
        for type in sections { values[ObjectIdentifier(type)] = type.init() }
    }

    /// A section's settings (its defaults when the file has none).
    public subscript<S: ConfigSection>(_ type: S.Type) -> S {
        get { values[ObjectIdentifier(type)] as? S ?? S() }
        set { values[ObjectIdentifier(type)] = newValue }
    }

    /// Reads and parses a config file.
    /// - Parameter partial: read only `sections` and pass over the file's others (a worker
    ///   process reading the few it needs of a file its daemon has checked whole).
    public static func load(path: String, sections: [any ConfigSection.Type], partial: Bool = false) throws -> DepotConfig {
        try parse(toml: try readTextFile(path), source: path, sections: sections, partial: partial)
    }

    /// Parses config text; unknown keys are errors so that a typo never silently does nothing
    /// (unless `partial`: then only the top level's other sections are passed over).
    public static func parse(toml text: String, source: String, sections: [any ConfigSection.Type],
                             partial: Bool = false) throws -> DepotConfig {
        let top = try TableReader.parse(toml: text, source: source)
        var config = DepotConfig(sections: sections)
        config.source = source
        if !partial { try top.allow(Set(["root", "log", "collections"] + sections.map { $0.key })) }
        if let root = try top.string("root") { config.root = root }
        if let log = try top.table("log") {
            try log.allow(["level"])
            if let level = try log.choice("level", logLevels) { config.logLevel = level }
        }
        if let collections = try top.table("collections") {
            for name in collections.keys {
                guard let table = try collections.table(name) else { continue }
                do {
                    try validateCollectionName(name, source: source)
                } catch let error as ConfigError {
                    throw collections.fail(name, error.message)
                }
                config.collections[name] = try CollectionOverrides(table)
            }
        }
        for type in sections {
            if let node = top.node(type.key) { config.values[ObjectIdentifier(type)] = try type.init(node: node) }
        }
        return config
    }

    public static func == (a: DepotConfig, b: DepotConfig) -> Bool {
        guard a.root == b.root, a.logLevel == b.logLevel, a.collections == b.collections,
              a.types.map(ObjectIdentifier.init) == b.types.map(ObjectIdentifier.init) else { return false }
        for type in a.types where !sectionsEqual(a.values[ObjectIdentifier(type)], b.values[ObjectIdentifier(type)]) {
            return false
        }
        return true
    }

    private static func sectionsEqual(_ x: (any ConfigSection)?, _ y: (any ConfigSection)?) -> Bool {
        guard let x, let y else { return x == nil && y == nil }
        func same<S: ConfigSection>(_ s: S) -> Bool { (y as? S) == s }
        return same(x)
    }
}
