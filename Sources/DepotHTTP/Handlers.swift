import DepotCore
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird

/// The routes and what they share: the environment, the HTTP tables, the limiters.
struct Handlers: Sendable {
    let env: HTTPServerEnvironment
    let state: HTTPState
    let downloadLimiter: RateLimiter
    let apiLimiter: RateLimiter
    let badLinks: BadLinkTracker
    let fileIO = FileStreamer()
    let openBlobs = OpenBlobs()

    init(env: HTTPServerEnvironment) {
        self.env = env
        state = HTTPState(catalog: env.catalog)
        let s = env.config.http
        downloadLimiter = RateLimiter(rate: s.downloadRate, burst: s.downloadBurst)
        apiLimiter = RateLimiter(rate: s.apiRate, burst: s.apiBurst)
        badLinks = BadLinkTracker(limit: s.badLinkLimit, window: s.badLinkWindow)
    }

    func register(on router: Router<DepotRequestContext>) {
        for method in [HTTPRequest.Method.get, .head] {
            router.on("/d/:kind/:id/:name", method: method) { request, context in try await download(request, context: context) }
        }
        router.get("/healthz") { request, _ in jsonResponse(["status": "ok"], head: request.method == .head) }
        router.get("/readyz") { request, _ in try await readiness(request) }
        router.get("/metrics") { _, _ in try await metrics() }
        router.get("/api/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: openAPIDocument)))
        }
        let api = router.group("/api/v1").add(middleware: AuthMiddleware(state: state, limiter: apiLimiter))
        registerAPI(on: api)
    }

    /// /readyz: the catalog answers, the store's staging folder takes a file, the watcher runs.
    func readiness(_ request: Request) async throws -> Response {
        let env = self.env
        let checks = try await blocking { () -> [String: Bool] in
            let catalogOK = (try? env.catalog.withConnection { db in try db.query("SELECT count(*) FROM schema_migrations") }) != nil
            let probe = env.store.tempRoot + "/ready-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 {
                close(fd)
                unlink(probe)
            }
            return ["catalog": catalogOK, "store_writable": fd >= 0, "watcher": env.probes.watcherRunning()]
        }
        let ready = checks.values.allSatisfy { $0 }
        return jsonResponse(["status": ready ? "ready" : "not_ready", "checks": checks],
                            status: ready ? .ok : .serviceUnavailable, head: request.method == .head)
    }

    /// /metrics in the Prometheus text format; catalog totals, queue depth and watcher totals
    /// are read at scrape time.
    func metrics() async throws -> Response {
        let env = self.env
        let text = try await blocking {
            env.metrics.refresh(catalog: env.catalog, probes: env.probes)
            return env.metrics.render()
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Bearer tokens for /api/v1 (the OpenAPI document excepted) and the API's rate limit.
/// GET and HEAD need a read or admin token; everything else an admin token.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = DepotRequestContext
    let state: HTTPState
    let limiter: RateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let wait = limiter.take(context.client) { throw APIError.tooManyRequests(retryAfter: wait) }
        var unauthorized = APIError(status: .unauthorized, code: "unauthorized", message: "a valid bearer token is required")
        unauthorized.headers[.wwwAuthenticate] = "Bearer realm=\"depot\""
        guard let header = request.headers[.authorization], header.count > 7,
              header.prefix(7).lowercased() == "bearer " else { throw unauthorized }
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        let state = self.state
        guard let scope = try await blocking({ try state.scope(ofToken: token) }) else { throw unauthorized }
        if scope == .read && request.method != .get && request.method != .head {
            throw APIError(status: .forbidden, code: "forbidden", message: "this needs a token with the admin scope")
        }
        var context = context
        context.scope = scope
        return try await next(request, context)
    }
}
