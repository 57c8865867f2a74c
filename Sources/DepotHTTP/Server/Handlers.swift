import DepotAnalytics
import DepotCore
import DepotQueue
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird

/// The routes and what they share: the environment, the HTTP tables, the limiters.
struct Handlers: Sendable {
    let env: HTTPServerEnvironment
    let links: LinkStore
    let minter: LinkMinter
    let downloadLimiter: RateLimiter
    let apiLimiter: RateLimiter
    let badLinks: BadLinkTracker
    let fileIO = FileStreamer()
    let openBlobs = OpenBlobs()
    let verifiedBlobs = VerifiedBlobs()
    let clientAddresses: ClientAddresses
    let connections: ConnectionCounts
    /// The live event feed the SSE streams read (one poller for every subscriber).
    let eventHub: EventHub

    init(env: HTTPServerEnvironment) {
        self.env = env
        eventHub = EventHub(database: env.catalog.database, interval: env.analytics.feedInterval)
        links = LinkStore(catalog: env.catalog)
        minter = LinkMinter(links: links, signer: env.signer, settings: env.settings, collections: env.collections)
        let s = env.settings
        downloadLimiter = RateLimiter(rate: s.downloadRate, burst: s.downloadBurst)
        apiLimiter = RateLimiter(rate: s.apiRate, burst: s.apiBurst)
        badLinks = BadLinkTracker(limit: s.badLinkLimit, window: s.badLinkWindow)
        clientAddresses = ClientAddresses(trusted: s.trustedProxies)
        connections = ConnectionCounts(limit: s.maxConnectionsPerClient)
    }

    /// Whose request it is: the peer, or the client a trusted proxy names.
    func client(of request: Request, context: DepotRequestContext) -> String? {
        clientAddresses.client(peer: context.peerIP) { name in HTTPField.Name(name).flatMap { request.headers[$0] } }
    }

    func register(on router: Router<DepotRequestContext>) {
        for method in [HTTPRequest.Method.get, .head] {
            router.on("/d/:kind/:id/:name", method: method) { request, context in try await download(request, context: context) }
        }
        router.get("/healthz") { request, _ in jsonResponse(Readiness(status: "ok", checks: nil), head: request.method == .head) }
        router.get("/readyz") { request, _ in try await readiness(request) }
        router.get("/metrics") { request, context in
            if env.settings.metricsRequireToken { _ = try await authorize(request, context: context, limiter: nil) }
            return try await metrics()
        }
        router.get("/api/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: openAPIDocument)))
        }
        registerUploads(on: router)
        let api = router.group("/api/v1").add(middleware: AuthMiddleware(handlers: self))
        registerAPI(on: api)
        registerUploadAPI(on: api)
        registerAnalyticsAPI(on: api)
        registerStatusPage(on: router)
    }

    /// /readyz: the catalog answers, the store's staging folder takes a file, the watcher runs.
    func readiness(_ request: Request) async throws -> Response {
        let env = self.env
        let checks = try await blocking { () -> [String: Bool] in
            // A store that takes a small file may still be too full for a commit (SQLITE_FULL):
            // ready means room above the floor too.
            let free = env.store.freeBytes().map { $0 >= env.settings.readyMinFree } ?? true
            return ["catalog": env.catalog.database.ping(), "store_writable": env.store.isWritable(), "store_free_space": free,
                    "watcher": env.probes.watcherRunning()]
        }
        let ready = checks.values.allSatisfy { $0 }
        return jsonResponse(Readiness(status: ready ? "ready" : "not_ready", checks: checks),
                            status: ready ? .ok : .serviceUnavailable, head: request.method == .head)
    }

    /// /metrics in the Prometheus text format; catalog totals, queue depth and watcher totals
    /// are read at scrape time.
    func metrics() async throws -> Response {
        let env = self.env
        let text = try await blocking {
            env.metrics.refresh(queue: env.queue, store: env.store, probes: env.probes)
            return env.metrics.render()
                + (try CustomMetricsExport.render(env.analytics.metrics, database: env.catalog.database))
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

extension Handlers {
    /// The scope of the request's bearer token, after the API's rate limit.
    /// - Throws: 429 over the limit, 401 without a live token.
    func authorize(_ request: Request, context: DepotRequestContext, limiter: RateLimiter?) async throws -> TokenScope {
        try await authorize(bearer: request.headers[.authorization], request: request, context: context, limiter: limiter)
    }

    /// The same, for an Authorization value that came some other way (the status page's cookie).
    func authorize(bearer: String?, request: Request, context: DepotRequestContext, limiter: RateLimiter?) async throws -> TokenScope {
        if let limiter, let wait = limiter.take(client(of: request, context: context) ?? "unknown") {
            throw APIError.tooManyRequests(retryAfter: wait)
        }
        var unauthorized = APIError(status: .unauthorized, code: "unauthorized", message: "a valid bearer token is required")
        unauthorized.headers[.wwwAuthenticate] = "Bearer realm=\"depot\""
        guard let header = bearer, header.count > 7,
              header.prefix(7).lowercased() == "bearer " else { throw unauthorized }
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        let links = self.links
        guard let scope = try await blocking({ try links.scope(ofToken: token) }) else { throw unauthorized }
        return scope
    }
}

/// Bearer tokens for /api/v1 (the OpenAPI document excepted) and the API's rate limit.
/// GET and HEAD need a read or admin token; everything else an admin token.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = DepotRequestContext
    let handlers: Handlers

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let scope = try await handlers.authorize(request, context: context, limiter: handlers.apiLimiter)
        if scope == .read && request.method != .get && request.method != .head {
            throw APIError(status: .forbidden, code: "forbidden", message: "this needs a token with the admin scope")
        }
        var context = context
        context.scope = scope
        return try await next(request, context)
    }
}

/// /healthz and /readyz.
struct Readiness: Encodable, Sendable {
    var status: String
    var checks: [String: Bool]?
}
