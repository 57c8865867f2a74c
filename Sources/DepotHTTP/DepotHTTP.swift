// DepotHTTP: the one HTTP server of depot (Hummingbird 2 on SwiftNIO) — signed, expiring
// download links for any version or artifact (Range, ETag, conditional requests, streamed
// from the blob file), the admin API under /api/v1 with bearer tokens and its OpenAPI
// document, Prometheus /metrics, /healthz and /readyz, and the protections in front of them
// (per-client token buckets, 429 after repeated bad links, header and idle timeouts, a
// connection cap). It owns the `http-1` tables in the catalog (tokens, minted links) and the
// link-signing keys file.
import DepotCore
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
    /// The peer's IP address ("127.0.0.1"); rate limits and IP-bound links key on it.
    public let remoteIP: String?
    /// The scope of the bearer token, once the API's auth middleware has checked it.
    var scope: TokenScope?
    /// Where download bodies hand their files for sendfile (nil: they are read and copied).
    let pendingFiles: PendingFiles?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteIP = source.channel.remoteAddress?.ipAddress.map(normalizeIP)
        pendingFiles = PendingFiles.of(source.channel)
    }

    var client: String { remoteIP ?? "unknown" }
}

/// Everything the server reads and writes, handed in by `depot serve` (or a test).
public struct HTTPServerEnvironment: Sendable {
    public var config: DepotConfig
    public var layout: RootLayout
    public var catalog: SQLiteCatalog
    public var store: LocalBlobStore
    public var signer: LinkSigner
    public var metrics: ServerMetrics
    public var probes: ServerProbes
    public var logger: Logger

    public init(config: DepotConfig, layout: RootLayout, catalog: SQLiteCatalog, store: LocalBlobStore, signer: LinkSigner,
                metrics: ServerMetrics = ServerMetrics(), probes: ServerProbes = ServerProbes(),
                logger: Logger = Logger(label: "depot.http")) {
        self.config = config
        self.layout = layout
        self.catalog = catalog
        self.store = store
        self.signer = signer
        self.metrics = metrics
        self.probes = probes
        self.logger = logger
    }
}

/// The HTTP server as a Service for the daemon's ServiceGroup.
public struct HTTPService: Service {
    let application: Application<RouterResponder<DepotRequestContext>>

    /// - Parameter onListening: told the bound port once the server listens (port 0 picks one).
    public init(environment: HTTPServerEnvironment, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        application = makeApplication(environment: environment, onListening: onListening)
    }

    public func run() async throws {
        try await application.run()
    }
}

/// Builds the Hummingbird application: routes, middleware and the server's limits.
public func makeApplication(environment env: HTTPServerEnvironment,
                            onListening: @escaping @Sendable (Int) async -> Void = { _ in })
    -> Application<RouterResponder<DepotRequestContext>> {
    let settings = env.config.http
    let router = Router(context: DepotRequestContext.self)
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
