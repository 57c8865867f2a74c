// DepotHTTP: the one HTTP server of depot (Hummingbird 2 on SwiftNIO) — signed, expiring
// download links for any version or artifact (Range, ETag, conditional requests, streamed
// from the blob file), uploads (signed upload links with their page, tus 1.0, PUT; handed to
// the store's Ingestor once complete), the admin API under /api/v1 with bearer tokens and its OpenAPI
// document, Prometheus /metrics, /healthz and /readyz, and the protections in front of them
// (per-client token buckets, 429 after repeated bad links, header and idle timeouts, a
// connection cap). It owns the link-signing keys file; its tokens and minted links live in
// tables the store owns ("http-1", DepotStore.AccessRecords, which LinkStore calls), and
// documents, versions, artifacts and jobs it reads and changes through the store's and the
// queue's APIs.
//
// Folders: Server/ (routes, errors, protection, metrics), Downloads/ (signed downloads: ranges,
// sendfile, the fast path), Uploads/ (upload links, tus, PUT, the page), Links/ (signing,
// minting and checking links and tokens), API/ (the admin API and its OpenAPI document).
import DepotAnalytics
import DepotCore
import DepotQueue
import DepotStore
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// The request context: Hummingbird's core storage plus the client's address.
public struct DepotRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's IP address ("127.0.0.1"): the client's, unless it is a trusted proxy
    /// (`Handlers.client(of:context:)` says whose request it is).
    public let peerIP: String?
    /// The scope of the bearer token, once the API's auth middleware has checked it.
    var scope: TokenScope?
    /// Where download bodies hand their files for sendfile (nil: they are read and copied).
    let pendingFiles: PendingFiles?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerIP = source.channel.remoteAddress?.ipAddress.map(normalizeIP)
        pendingFiles = PendingFiles.of(source.channel)
    }
}

/// Everything the server reads and writes, handed in by `depot serve` (or a test).
public struct HTTPServerEnvironment: Sendable {
    public var settings: HTTPSettings
    /// Each collection's settings (its maximum link lifetime), as the watcher sees them too.
    public var collections: CollectionSettingsResolver
    /// The job queue, and through it the store's catalog (its own connection).
    public var queue: JobQueue
    public var store: BlobStore
    public var signer: LinkSigner
    /// Picks the processor of a job a person queues through the API.
    public var chooseProcessor: ProcessorChooser
    public var metrics: ServerMetrics
    public var probes: ServerProbes
    /// Upload links, tus and PUT (nil: the server takes no uploads).
    public var uploads: Uploads?
    public var logger: Logger
    /// The trash's keep time and GC settings (`[retention]`), for DELETE.
    public var retention = RetentionSettings()
    /// `[analytics]`: the live feed's heartbeat and interval, the custom metrics on /metrics.
    public var analytics = AnalyticsSettings()
    /// Downloads and link rejections, which the daemon's recorder writes into the roll-ups.
    public var usage = UsageCounters()

    public var catalog: Catalog { queue.catalog }

    public init(settings: HTTPSettings, collections: CollectionSettingsResolver, queue: JobQueue, store: BlobStore,
                signer: LinkSigner, chooseProcessor: @escaping ProcessorChooser,
                metrics: ServerMetrics = ServerMetrics(), probes: ServerProbes = ServerProbes(), uploads: Uploads? = nil,
                logger: Logger = Logger(label: "depot.http")) {
        self.uploads = uploads
        self.settings = settings
        self.collections = collections
        self.queue = queue
        self.store = store
        self.signer = signer
        self.chooseProcessor = chooseProcessor
        self.metrics = metrics
        self.probes = probes
        self.logger = logger
    }
}

/// The HTTP server as a Service for the daemon's ServiceGroup.
public struct HTTPService: Service {
    let application: Application<RouterResponder<DepotRequestContext>>
    let uploads: Uploads?
    let logger: Logger

    /// - Parameter onListening: told the bound port once the server listens (port 0 picks one).
    public init(environment: HTTPServerEnvironment, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        application = makeApplication(environment: environment, onListening: onListening)
        uploads = environment.uploads
        logger = environment.logger
    }

    /// Serves until a graceful shutdown; meanwhile, once a minute (and at the start),
    /// uploads that expired unfinished are removed.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let uploads {
                let logger = self.logger
                group.addTask {
                    while !Task.isCancelled {
                        do { _ = try await blocking { try uploads.sweep() } } catch {
                            logger.error("could not remove expired uploads", metadata: ["error": "\(error)"])
                        }
                        try? await Task.sleep(for: .seconds(60))
                    }
                }
            }
            try await application.run()
            group.cancelAll()
        }
    }
}

/// Builds the Hummingbird application: routes, middleware and the server's limits.
public func makeApplication(environment env: HTTPServerEnvironment,
                            onListening: @escaping @Sendable (Int) async -> Void = { _ in })
    -> Application<RouterResponder<DepotRequestContext>> {
    let settings = env.settings
    let router = Router(context: DepotRequestContext.self)
    if !settings.uploadOrigins.isEmpty { router.add(middleware: UploadCORSMiddleware(origins: settings.uploadOrigins)) }
    router.add(middleware: ErrorMiddleware(logger: env.logger))
    let handlers = Handlers(env: env)
    handlers.register(on: router)
    let headerTimeout = TimeAmount.nanoseconds(settings.headerTimeout.nanosecondsValue)
    let idle = TimeAmount.nanoseconds(settings.idleTimeout.nanosecondsValue)
    let logger = env.logger
    return Application(
        router: router,
        // Idle and header timeouts are ConnectionTimeoutHandler's: Hummingbird's own idle
        // timer sees only the requests that reach it, not those DownloadFastPath answers.
        server: .http1(configuration: .init(
            additionalChannelHandlers: [FileRegionHandler.Installer(handlers: handlers, header: headerTimeout, idle: idle)],
            idleTimeout: nil)),
        configuration: .init(
            address: .hostname(settings.listen, port: settings.port),
            serverName: nil,
            backlog: 1024,
            availableConnectionsDelegate: MaximumAvailableConnections(settings.maxConnections)),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? settings.port
            logger.notice("http server listening", metadata: ["address": "\(settings.listen)", "port": "\(port)"])
            await onListening(port)
        },
        logger: logger)
}

/// Runs blocking work (SQLite, stat, file writes) on a Dispatch queue, never on the Swift
/// concurrency pool, which has one thread per core and would stall every request.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        blockingQueue.async { continuation.resume(with: Result { try body() }) }
    }
}

private let blockingQueue = DispatchQueue(label: "depot.http.blocking", attributes: .concurrent)
