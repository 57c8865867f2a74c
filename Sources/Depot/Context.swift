import ArgumentParser
import DepotCore
import DepotHTTP
import DepotJobs
import DepotOutbox
import DepotStore
import Foundation
import Logging

/// A depot root opened for a command: its config, layout, store and catalog.
struct Context {
    let config: DepotConfig
    /// The config file that was read, if any.
    let configPath: String?
    let layout: RootLayout

    /// Resolves root and config: `--config`, else `--root`/depot.toml, else $DEPOT_ROOT,
    /// else /etc/depot/depot.toml; `--root` always wins over the config's `root`.
    static func resolve(_ options: RootOptions) throws -> Context {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let path = options.config ?? environment["DEPOT_CONFIG"] {
            candidates = [path]
            guard try statIfExists(path) != nil else {
                throw ValidationError("config file \(path) does not exist")
            }
        } else {
            if let root = options.root ?? environment["DEPOT_ROOT"] { candidates.append(RootLayout(root: root).configFile) }
            candidates.append("/etc/depot/depot.toml")
        }
        var config = DepotConfig()
        var used: String?
        for path in candidates where try statIfExists(path) != nil {
            config = try DepotConfig.load(path: path)
            used = path
            break
        }
        if let root = options.root ?? (used == nil ? environment["DEPOT_ROOT"] : nil) {
            config.root = absolutePath(root)
        }
        return Context(config: config, configPath: used, layout: RootLayout(root: config.root))
    }

    /// Fails with a helpful message when the root was never initialised.
    func requireInitialised() throws {
        guard try statIfExists(layout.catalog) != nil || statIfExists(layout.store) != nil else {
            throw ValidationError("\(layout.root) is not a depot root (run `depot init \(layout.root)` first)")
        }
    }

    func openStore() throws -> LocalBlobStore {
        try LocalBlobStore(layout: layout)
    }

    func openCatalog() throws -> SQLiteCatalog {
        try makeDirectories(layout.state, mode: 0o750)
        let catalog = try SQLiteCatalog(path: layout.catalog, modules: catalogModules)
        // Every command that records versions (serve, ingest) opens the catalog here, so every
        // new version gets its processing job in the same transaction.
        let blobs = layout.blobs
        JobQueue.enqueueOnNewVersions(of: catalog, blobPath: { blobPath(blobs, $0) }, settings: config.jobs)
        return catalog
    }

    func ingestor(logger: Logger) throws -> Ingestor {
        try requireInitialised()
        return Ingestor(store: try openStore(), catalog: try openCatalog(), logger: logger)
    }
}

/// `path` made absolute against the working directory.
func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    return FileManager.default.currentDirectoryPath + "/" + path
}

/// Splits "collection/path/in/it" into its collection and the path inside it.
func splitDocumentPath(_ text: String) throws -> (collection: String, path: String) {
    let trimmed = text.hasPrefix("/") ? String(text.dropFirst()) : text
    guard let slash = trimmed.firstIndex(of: "/"), slash != trimmed.startIndex,
          trimmed.index(after: slash) != trimmed.endIndex else {
        throw ValidationError("'\(text)' is not COLLECTION/PATH (e.g. lectures/physics/week1/a.pdf)")
    }
    return (String(trimmed[..<slash]), String(trimmed[trimmed.index(after: slash)...]))
}

/// The level named in the config.
func logLevel(_ name: String) -> Logger.Level {
    Logger.Level(rawValue: name) ?? .info
}

/// The tables other parts of depot keep in the catalog database (the job queue, the
/// outbox's dispatch state, the HTTP server's tokens and links), applied by name.
/// Each part adds its own migrations here.
let catalogModules: [CatalogMigration] = []
    + JobQueue.migrations
    + OutboxSchema.migrations
    + [httpCatalogMigration]

/// The file of a blob under `blobs` (LocalBlobStore's layout: sha256/ab/cd/<hex>).
func blobPath(_ blobs: String, _ digest: Digest) -> String {
    let hex = digest.hex
    return "\(blobs)/sha256/\(hex.prefix(2))/\(hex.dropFirst(2).prefix(2))/\(hex)"
}
