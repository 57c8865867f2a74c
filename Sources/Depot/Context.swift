import ArgumentParser
import DepotAnalytics
import DepotCore
import DepotGenerate
import DepotHTTP
import DepotOutbox
import DepotDetect
import DepotQueue
import DepotRunner
import DepotStore
import DepotWatch
import Foundation
import Logging

/// The sections of depot.toml, each read by the module that owns it.
let configSections: [any ConfigSection.Type] = [
    InboxSettings.self, StoreSettings.self, CatalogSettings.self, JobsSettings.self, OutboxSettings.self, WebhooksSection.self, HTTPSettings.self,
    RetentionSettings.self, ScrubSettings.self,
    GenerateSettings.self,
    AnalyticsSettings.self,
    NodeSettings.self,
    SpeechSettings.self,
]

/// The tables of every part of depot in the catalog's database, by owner, in the order they
/// are applied: the store's first (the queue's refer to versions and documents).
let catalogMigrations: [CatalogMigration] = Catalog.migrations + JobQueue.migrations

extension DepotConfig {
    /// The defaults of every section.
    static var defaults: DepotConfig { DepotConfig(sections: configSections) }

    var inbox: InboxSettings { self[InboxSettings.self] }
    var store: StoreSettings { self[StoreSettings.self] }
    var catalog: CatalogSettings { self[CatalogSettings.self] }
    var jobs: JobsSettings { self[JobsSettings.self] }
    var outbox: OutboxSettings { self[OutboxSettings.self] }
    var webhooks: [WebhookSettings] { self[WebhooksSection.self].webhooks }
    var http: HTTPSettings { self[HTTPSettings.self] }
    var retention: RetentionSettings { self[RetentionSettings.self] }
    var scrub: ScrubSettings { self[ScrubSettings.self] }
    var generate: GenerateSettings { self[GenerateSettings.self] }

    /// Each collection's settings, from `[inbox]`, `[http]`, `[collections.NAME]` and its
    /// `.depot.toml`: the one resolver the watcher, the HTTP server and the CLI share.
    func collectionSettings(inbox: String) -> CollectionSettingsResolver {
        CollectionSettingsResolver(
            defaults: CollectionSettings(mode: self.inbox.mode, quietPeriod: self.inbox.quietPeriod, ignore: self.inbox.ignore,
                                         maxLinkLifetime: http.maxLinkLifetime, retention: retention.rules,
                                         removed: self.inbox.removed),
            tables: collections, inbox: inbox)
    }
}

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
                throw CommandFailure(.noInput, "config file \(path) does not exist")
            }
        } else {
            if let root = options.root ?? environment["DEPOT_ROOT"] { candidates.append(RootLayout(root: root).configFile) }
            candidates.append("/etc/depot/depot.toml")
        }
        var config = DepotConfig.defaults
        var used: String?
        for path in candidates where try statIfExists(path) != nil {
            config = try DepotConfig.load(path: path, sections: configSections)
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
            throw CommandFailure(.noInput, "\(layout.root) is not a depot root (run `depot init \(layout.root)` first)")
        }
    }

    var collections: CollectionSettingsResolver { config.collectionSettings(inbox: layout.inbox) }

    /// The blob store of `[store]`: the root's disk, or an S3 bucket.
    func openStore() throws -> any BlobStore {
        try openBlobStore(config.store, layout: layout)
    }

    /// A connection to the catalog's database, every part's tables migrated.
    func openDatabase(durability: SQLiteDatabase.Durability = .full) throws -> any CatalogDatabase {
        try makeDirectories(layout.state, mode: 0o750)
        let database = try config.catalog.open(sqlitePath: layout.catalog, durability: durability)
        try database.migrate(catalogMigrations)
        return database
    }

    /// The job queue over its own connection, with every version the catalog records getting
    /// its pipeline of jobs in the same transaction (so `depot ingest` versions get them too).
    func openQueue(durability: SQLiteDatabase.Durability = .full) throws -> JobQueue {
        let queue = JobQueue(catalog: Catalog(database: try openDatabase(durability: durability)), settings: config.jobs)
        queue.attachPipeline(chooser: Self.chooseProcessor)
        try queue.backfillStatuses()
        return queue
    }

    func openCatalog() throws -> Catalog { try openQueue().catalog }

    func ingestor(logger: Logger) throws -> Ingestor {
        try requireInitialised()
        return Ingestor(store: try openStore(), catalog: try openCatalog(), detectType: Self.detectType, logger: logger)
    }

    /// The signing keys of download and upload links.
    func linkSigner() throws -> LinkSigner {
        LinkSigner(keys: try LinkKeys.load(path: LinkKeys.location(settings: config.http, layout: layout)))
    }

    /// Upload links and uploads over `queue`'s catalog connection (and one of `normal`
    /// durability for each request's new offset); a complete upload goes through the same
    /// ingest as a dropped file.
    func uploads(queue: JobQueue, store: BlobStore) throws -> Uploads {
        Uploads(database: queue.catalog.database, partials: try PartialUploads(layout: layout),
                ingestor: Ingestor(store: store, catalog: queue.catalog, detectType: Self.detectType,
                                   logger: Logger(label: "depot.ingest")),
                signer: try linkSigner(), settings: config.http, collections: collections, detectType: Self.detectType,
                logger: Logger(label: "depot.upload"), offsets: try openDatabase(durability: .normal))
    }

    /// What the HTTP server works with: its own catalog connection (downloads and API reads
    /// never queue behind an ingest batch), the store, the signing keys, uploads.
    func httpEnvironment(metrics: ServerMetrics, probes: ServerProbes, usage: UsageCounters? = nil) throws -> HTTPServerEnvironment {
        let queue = try openQueue()
        let store = try openStore()
        var environment = HTTPServerEnvironment(settings: config.http, collections: collections, queue: queue, store: store,
                                                signer: try linkSigner(), chooseProcessor: Self.chooseProcessor, metrics: metrics,
                                                probes: probes, uploads: try uploads(queue: queue, store: store),
                                                logger: Logger(label: "depot.http"))
        environment.retention = config.retention
        environment.analytics = config[AnalyticsSettings.self]
        if let usage { environment.usage = usage }
        return environment
    }

    /// The test processors exist only when the daemon's environment asks for them
    /// (DEPOT_TEST_PROCESSORS=1): no config key can turn them on.
    static let testProcessors = ProcessorChoices.testProcessorsEnabled

    static let processors = ProcessorChoices.standard(testProcessors: testProcessors)

    /// Picks, once, the processor of a kind of work for a media type (when the job is queued).
    static let chooseProcessor: ProcessorChooser = { kind, mediaType in
        processors.select(kind: kind, mediaType: mediaType)?.name
    }

    /// The media type of a stored blob, from its bytes.
    static let detectType: MediaTypeDetector = { bytes, name in
        TypeDetector.detect(bytes, name: name, testMarkers: testProcessors)
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
