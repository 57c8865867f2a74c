import DepotAnalytics
import DepotCore
import DepotQueue
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The analytics' routes: the live event stream (SSE), the time series under /stats/, and
/// the one-screen status. The stream and the series come from DepotAnalytics, which
/// `depot events --follow` and `depot stats` call too.
extension Handlers {
    func registerAnalyticsAPI(on api: RouterGroup<DepotRequestContext>) {
        api.get("/events/stream") { request, _ in try await eventStream(request, named: true) }
        api.get("/stats/:metric") { request, context in try await timeSeries(request, metric: try context.parameters.require("metric")) }
        api.get("/status") { _, _ in try await status() }
    }

    /// `GET /api/v1/events/stream?type=job.*&type=media.processed&collection=lectures`:
    /// text/event-stream from where `Last-Event-ID` (or `after`) says, else from now.
    /// - Parameter named: whether frames carry `event:` (the status page's EventSource reads
    ///   every event through `onmessage`, which sees unnamed frames only).
    func eventStream(_ request: Request, named: Bool) async throws -> Response {
        let q = request.uri.queryParameters
        let types = q.getAll("type").flatMap { $0.split(separator: ",").map(String.init) }
        let filter = EventFilter(types: types, collection: q["collection"].map(String.init))
        let database = env.catalog.database
        let resume = request.headers[HTTPField.Name("Last-Event-ID")!] ?? q["after"].map(String.init)
        let after: Int64?
        do {
            after = try await blocking { try ServerSentEvents.resumePoint(resume, database: database) }
        }
        if let resume, !resume.isEmpty, after == nil { throw APIError.badRequest("no event \(resume) in the log") }
        let hub = eventHub
        let heartbeat = env.analytics.heartbeat
        let frames = try await blocking { try hub.frames(after: after, filter: filter, named: named, heartbeat: heartbeat) }
        let body = ResponseBody(asyncSequence: frames.map { ByteBuffer(string: $0) })
        return Response(status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
                                               HTTPField.Name("X-Accel-Buffering")!: "no"], body: body)
    }

    /// `GET /api/v1/stats/{processing,usage,failures,queue,storage,events,metrics,links}?from=&to=&step=`.
    func timeSeries(_ request: Request, metric name: String) async throws -> Response {
        guard let metric = StatsMetric(rawValue: name) else {
            throw APIError(status: .notFound, code: "not_found",
                           message: "no stats '\(name)' (there are \(StatsMetric.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let q = request.uri.queryParameters
        let range: StatsRange
        do {
            range = try StatsRange.parse(from: q["from"].map(String.init), to: q["to"].map(String.init), step: q["step"].map(String.init))
        } catch let e as StatsError {
            throw APIError.badRequest(e.description)
        }
        let queries = StatsQueries(database: env.catalog.database)
        let measure = q["measure"].map(String.init)
        do {
            return jsonResponse(try await blocking { try queries.query(metric, range: range, measure: measure) })
        } catch let e as StatsError {
            throw APIError.badRequest(e.description)
        }
    }

    /// `GET /api/v1/status`: what `depot status --json` prints, as this daemon sees itself.
    func status() async throws -> Response {
        let env = self.env
        return jsonResponse(try await blocking {
            try StatusRecord.build(queue: env.queue, store: env.store, daemon: env.probes.daemonState())
        })
    }
}
