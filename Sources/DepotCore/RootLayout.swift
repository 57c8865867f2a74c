/// Where everything lives under a depot root (DESIGN.md, "On disk").
public struct RootLayout: Sendable, Equatable {
    public var root: String

    public init(root: String) {
        var trimmed = root
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed
    }

    public var inbox: String { root + "/inbox" }
    public var outbox: String { root + "/outbox" }
    public var store: String { root + "/store" }
    public var blobs: String { root + "/store/blobs" }
    public var storeTemp: String { root + "/store/tmp" }
    public var state: String { root + "/state" }
    public var catalog: String { root + "/state/catalog.sqlite3" }
    /// The configuration that `depot init` writes and the CLI finds by default.
    public var configFile: String { root + "/depot.toml" }

    /// The guide `depot init` puts at the top of the inbox (inbox-layout/README.md): the one
    /// file there the watcher does not warn about.
    public static let inboxGuide = "README.md"

    /// The folder of one collection in the inbox.
    public func inbox(collection: String) -> String { inbox + "/" + collection }
}
