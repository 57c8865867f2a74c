import DepotAnalytics
import DepotCore
import DepotQueue
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The status page at /ui: drawn on the server (HTML and SVG, a few lines of script for the
/// live events), behind the admin API's tokens. A browser cannot send a bearer header on a
/// navigation, so the token is given once in a form and kept in an HttpOnly, SameSite=Strict
/// cookie scoped to /ui; a retry (a change) needs an admin token and a same-origin POST.
extension Handlers {
    static let uiCookie = "depot_ui"

    func registerStatusPage(on router: Router<DepotRequestContext>) {
        router.get("/ui") { request, context in try await statusPage(request, context: context) }
        router.post("/ui/login") { request, context in try await uiLogin(request, context: context) }
        router.post("/ui/logout") { _, _ in
            Response(status: .seeOther, headers: [.location: "/ui",
                                                  .setCookie: "\(Self.uiCookie)=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict"])
        }
        router.get("/ui/events") { request, context in
            _ = try await uiScope(request, context: context)
            return try await eventStream(request, named: false)
        }
        router.get("/ui/thumbnails/:id") { request, context in
            _ = try await uiScope(request, context: context)
            return try await uiThumbnail(try id(context))
        }
        router.post("/ui/jobs/:id/retry") { request, context in
            guard try await uiScope(request, context: context) == .admin else {
                throw APIError(status: .forbidden, code: "forbidden", message: "retrying a job needs an admin token")
            }
            // Same origin only: SameSite=Strict keeps the cookie off other sites' requests; a
            // browser that names an Origin must name this one.
            if let origin = request.headers[.origin], let host = request.head.authority, !origin.hasSuffix("://" + host) {
                throw APIError(status: .forbidden, code: "forbidden", message: "cross-origin request refused")
            }
            let queue = env.queue
            let jobID = try id(context)
            do { _ = try await blocking { try queue.retry(id: jobID) } } catch let e as JobQueueError {
                return htmlResponse(Self.page(title: "depot", body: "<p>\(htmlEscape("\(e)"))</p><p><a href=\"/ui\">back</a></p>"),
                                    status: .conflict)
            }
            return Response(status: .seeOther, headers: [.location: "/ui"])
        }
    }

    /// The token in the page's cookie, checked like a bearer token (and rate limited like the API).
    func uiScope(_ request: Request, context: DepotRequestContext) async throws -> TokenScope {
        guard let token = Self.cookie(Self.uiCookie, in: request.headers[.cookie] ?? "") else {
            throw APIError(status: .unauthorized, code: "unauthorized", message: "sign in at /ui with an API token")
        }
        return try await authorize(bearer: "Bearer " + token, request: request, context: context, limiter: apiLimiter)
    }

    static func cookie(_ name: String, in header: String) -> String? {
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(name + "=") { return String(pair.dropFirst(name.count + 1)) }
        }
        return nil
    }

    func uiLogin(_ request: Request, context: DepotRequestContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 4096)
        let form = String(buffer: body)
        var token = ""
        for pair in form.split(separator: "&") where pair.hasPrefix("token=") {
            token = String(pair.dropFirst(6)).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
        }
        token = token.trimmingCharacters(in: .whitespaces)
        do { _ = try await authorize(bearer: "Bearer " + token, request: request, context: context, limiter: apiLimiter) } catch {
            return htmlResponse(Self.loginPage(message: "That token is not valid."), status: .unauthorized)
        }
        // Token characters are URL-safe; anything else is refused above (no such token).
        guard token.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.~".contains($0)) }) else {
            return htmlResponse(Self.loginPage(message: "That token is not valid."), status: .unauthorized)
        }
        return Response(status: .seeOther, headers: [
            .location: "/ui", .setCookie: "\(Self.uiCookie)=\(token); Path=/ui; HttpOnly; SameSite=Strict; Max-Age=43200"])
    }

    func uiThumbnail(_ versionID: Int64) async throws -> Response {
        let env = self.env
        let bytes = try await blocking { () -> ([UInt8], String)? in
            guard let a = try env.catalog.artifacts(versionID: versionID).first(where: { $0.kind.hasPrefix("thumbnail") }),
                  a.size <= 8 << 20 else { return nil }
            return (try env.store.readAll(a.digest), a.mimeType)
        }
        guard let (data, mime) = bytes else { throw APIError(status: .notFound, code: "not_found", message: "no thumbnail") }
        return Response(status: .ok, headers: [.contentType: mime, .cacheControl: "private, max-age=3600"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    func statusPage(_ request: Request, context: DepotRequestContext) async throws -> Response {
        let scope: TokenScope
        do { scope = try await uiScope(request, context: context) } catch {
            return htmlResponse(Self.loginPage(message: nil), status: .ok)
        }
        let env = self.env
        let html = try await blocking { try Self.renderStatus(env: env, canRetry: scope == .admin) }
        return htmlResponse(html, status: .ok)
    }

    static func renderStatus(env: HTTPServerEnvironment, canRetry: Bool) throws -> String {
        let queue = env.queue
        let status = try StatusRecord.build(queue: queue, store: env.store, daemon: env.probes.daemonState())
        let total = status.storage.documents
        let recent = try queue.documentRecords(DocumentQuery(limit: 20, offset: max(0, total - 20))).reversed()
        let collections = try env.catalog.collectionNames()
        var perCollection: [String: Int] = [:]
        for d in try queue.documentRecords(DocumentQuery()) { perCollection[d.collection, default: 0] += 1 }
        let failed = try queue.jobs(state: .failed, limit: 20) + queue.jobs(state: .dead, limit: 20)
        let failedRecords = try queue.records(failed)
        let queries = StatsQueries(database: env.catalog.database)
        let storage = try queries.query(.storage, range: StatsRange.parse(from: "30d", to: nil, step: "6h"))
        let processing = try queries.query(.processing, range: StatsRange.parse(from: "7d", to: nil, step: "1d"))

        var b = "<h1>depot</h1><form method=\"post\" action=\"/ui/logout\" style=\"float:right\"><button>sign out</button></form>"
        b += "<section id=\"overview\"><p>\(htmlEscape(status.daemon.watcher ?? "watcher: unknown")) · "
            + "\(status.storage.documents) documents · \(describeBytes(status.storage.storedBytes)) stored · "
            + "\(status.storage.freeBytes.map(describeBytes) ?? "?") free</p></section>"
        // The nodes as `depot status` lists them (the same `StatusRecord.nodes`).
        b += "<section id=\"nodes\"><h2>Nodes</h2><table><tr><th>node</th><th>role</th><th>state</th><th>last seen</th><th>jobs running</th></tr>"
        for n in status.nodes {
            b += "<tr class=\"node\" data-state=\"\(n.state.rawValue)\"><td>\(htmlEscape(n.id))</td><td>\(htmlEscape(n.role))</td>"
                + "<td class=\"state\">\(n.state.rawValue)</td><td>\(describeSeconds(n.lastSeenSeconds)) ago</td><td>\(n.jobsRunning)</td></tr>"
        }
        b += "</table></section>"
        b += "<section id=\"collections\"><h2>Collections</h2><ul>"
        for c in collections { b += "<li>\(htmlEscape(c)) <small>(\(perCollection[c] ?? 0) documents)</small></li>" }
        b += "</ul></section><section id=\"documents\"><h2>Recent documents</h2><table><tr><th></th><th>document</th><th>type</th><th>version</th><th>processing</th></tr>"
        for d in recent {
            let thumb = "<img src=\"/ui/thumbnails/\(d.currentVersionID)\" alt=\"\" width=\"64\" onerror=\"this.style.visibility='hidden'\">"
            b += "<tr class=\"document\" data-status=\"\(d.processingStatus.rawValue)\"><td>\(thumb)</td>"
                + "<td class=\"path\">\(htmlEscape(d.collection + "/" + d.path))</td><td>\(htmlEscape(d.mediaType ?? ""))</td>"
                + "<td>\(d.currentVersion)</td><td class=\"state\">\(d.processingStatus.rawValue)</td></tr>"
        }
        b += "</table></section><section id=\"queue\"><h2>Queue</h2><p>"
        b += JobState.allCases.map { "\($0.rawValue) <b>\(status.queue.states[$0.rawValue] ?? 0)</b>" }.joined(separator: " · ")
        b += "</p><h3>Failed jobs</h3><table id=\"failed\">"
        if failedRecords.isEmpty { b += "<tr><td>none</td></tr>" }
        for j in failedRecords {
            b += "<tr class=\"failed-job\"><td>\(j.id)</td><td>\(htmlEscape(j.kind))</td><td>\(htmlEscape((j.collection ?? "") + "/" + (j.path ?? "")))</td>"
                + "<td>\(j.state.rawValue)</td><td>\(htmlEscape(String((j.lastError ?? "").prefix(200))))</td><td>"
                + (canRetry ? "<form method=\"post\" action=\"/ui/jobs/\(j.id)/retry\"><button class=\"retry\">retry</button></form>" : "")
                + "</td></tr>"
        }
        b += "</table></section><section id=\"live\"><h2>Live events</h2><ul id=\"events\"></ul></section>"
        // The samples of each step, and the figure now (the last sample may be a minute old).
        var stored = storage.series.first { $0.name == "stored_bytes" }?.points.compactMap { p in p.last.map { (p.t.nanoseconds / 1_000_000_000, $0) } } ?? []
        stored.append((status.at.nanoseconds / 1_000_000_000, Double(status.storage.storedBytes)))
        b += "<section id=\"storage\"><h2>Storage over time</h2>" + SVGChart.line(stored, title: "Stored bytes, last 30 days", unit: "bytes") + "</section>"
        let bars = processing.series.map { SVGChart.Bar(label: "\($0.labels["kind"] ?? "") · \($0.labels["media_type"] ?? "")",
                                                       value: $0.total.p50 ?? 0, secondary: $0.total.p95) }
        b += "<section id=\"processing\"><h2>Processing times by type</h2>"
            + SVGChart.bars(bars, title: "p50 (dark) and p95 (light), last 7 days", unit: "ms") + "</section>"
        b += """
            <script>
            const list = document.getElementById('events');
            const feed = new EventSource('/ui/events');
            feed.onmessage = (m) => {
              const e = JSON.parse(m.data), d = e.data || {};
              const li = document.createElement('li');
              li.className = 'event';
              li.textContent = e.timestamp + ' ' + e.event + ' ' + (d.collection ? d.collection + '/' + (d.path || '') : '');
              list.prepend(li);
              while (list.children.length > 50) list.lastChild.remove();
            };
            </script>
            """
        return page(title: "depot status", body: b)
    }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        <title>\(htmlEscape(title))</title><style>
        body{font-family:sans-serif;margin:1em auto;max-width:1000px;color:#222}table{border-collapse:collapse}
        td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}section{margin-bottom:1.5em}
        #events{font-family:monospace;font-size:12px;max-height:240px;overflow:auto}
        </style></head><body>\(body)</body></html>
        """
    }

    static func loginPage(message: String?) -> String {
        page(title: "depot — sign in", body: """
            <h1>depot</h1><p>Sign in with an API token (<code>depot token create --scope admin</code>).</p>
            \(message.map { "<p id=\"error\" style=\"color:#b00\">\(htmlEscape($0))</p>" } ?? "")
            <form method="post" action="/ui/login"><input type="password" name="token" id="token" size="50" autofocus>
            <button type="submit" id="signin">sign in</button></form>
            """)
    }
}

func htmlResponse(_ html: String, status: HTTPResponse.Status) -> Response {
    Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                       HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self'"],
             body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
}
