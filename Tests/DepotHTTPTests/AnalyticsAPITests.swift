import DepotAnalytics
@testable import DepotHTTP
import DepotCore
import DepotQueue
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import DepotTestSupport
import Testing

@Suite(.tags(.slow), .slowTest) struct AnalyticsAPITests {
    /// The SSE stream resumes from Last-Event-ID out of the log, then delivers what is
    /// committed next, filtered by type and collection, with heartbeats in between.
    @Test func eventStreamResumesFiltersAndBeats() async throws {
        let f = try Fixture()
        let token = try f.state.createToken(scope: .read, name: "watcher").token
        var env = f.environment()
        env.analytics.heartbeat = .milliseconds(300)
        try await makeApplication(environment: env).test(.live) { client in
            // An id the log never had is refused; without a token there is no stream. (First:
            // the client's connection would sit idle past the server's idle timeout while the
            // stream below is read on a slow machine.)
            let r = try await client.execute(uri: "/api/v1/events/stream", method: .get,
                                             headers: [.authorization: "Bearer \(token)", header("Last-Event-ID"): "evt_nope"])
            #expect(r.status == .badRequest)
            #expect(try await client.execute(uri: "/api/v1/events/stream", method: .get).status == .unauthorized)

            let c = try RawConnection(port: try #require(client.port))
            c.send(get("/api/v1/events/stream?type=file.stored&collection=lectures",
                       "Authorization: Bearer \(token)\r\nLast-Event-ID: 0\r\n"))
            let first = await offPool { c.read(for: 30, until: { String(decoding: $0, as: UTF8.self).contains("Übung 1.pdf") }) }
            let head = String(decoding: first.bytes, as: UTF8.self)
            #expect(head.hasPrefix("HTTP/1.1 200") && head.contains("text/event-stream"), "\(head)")
            #expect(head.contains("event: file.stored\n") && head.contains("id: 1\n"), "\(head)")
            _ = try f.add("scans/elsewhere.pdf", Array("%PDF-other".utf8))
            _ = try f.add("lectures/second.pdf", Array("%PDF-second".utf8))
            let next = await offPool { c.read(for: 30, until: { String(decoding: $0, as: UTF8.self).contains("second.pdf") }) }
            let text = String(decoding: next.bytes, as: UTF8.self)
            #expect(text.contains("second.pdf") && !text.contains("elsewhere.pdf") && !text.contains("version.created"), "\(text)")
            let beat = await offPool { c.read(for: 5, until: { String(decoding: $0, as: UTF8.self).contains(": heartbeat") }) }
            #expect(String(decoding: beat.bytes, as: UTF8.self).contains(": heartbeat "))

        }
    }

    /// The time series, the status and the counts of downloads and rejected links by collection and reason.
    @Test func statsSeriesStatusAndDownloadCounts() async throws {
        let f = try Fixture()
        let token = try f.state.createToken(scope: .read, name: "ops").token
        let env = f.environment()
        let recorder = AnalyticsRecorder(queue: f.queue, store: f.store, settings: AnalyticsSettings(), usage: env.usage)
        let link = try f.link()
        try await makeApplication(environment: env).test(.live) { client in
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            #expect(try await client.execute(uri: link, method: .get).status == .ok)
            #expect(try await client.execute(uri: link.replacingOccurrences(of: "sig=", with: "sig=A"), method: .get).status == .forbidden)
            try recorder.catchUp()
            try recorder.sample()
            var r = try await client.execute(uri: "/api/v1/stats/usage?from=1h&step=1m", method: .get, headers: auth)
            #expect(r.status == .ok)
            let usage = try JSONDecoder().decode(StatsResponse.self, from: Data(r.body.readableBytesView))
            #expect(usage.stepSeconds == 60 && usage.metric == "usage")
            let downloads = try #require(usage.series.first { $0.name == "downloads" })
            #expect(downloads.labels == ["collection": "lectures"] && downloads.total.count == 1 && downloads.total.sum == 100_000)
            #expect(usage.series.first { $0.name == "ingests" }?.total.count == 1)
            r = try await client.execute(uri: "/api/v1/stats/links", method: .get, headers: auth)
            let links = try JSONDecoder().decode(StatsResponse.self, from: Data(r.body.readableBytesView))
            #expect(["bad_signature", "malformed"].contains(links.series.first?.labels["reason"] ?? ""), "\(links)")
            r = try await client.execute(uri: "/api/v1/stats/storage?from=1h", method: .get, headers: auth)
            #expect(r.status == .ok)
            let storage = try r.json()["series"] as? [[String: Any]]
            #expect(storage?.isEmpty == false)
            #expect(try await client.execute(uri: "/api/v1/stats/colours", method: .get, headers: auth).status == .notFound)
            #expect(try await client.execute(uri: "/api/v1/stats/processing?from=80d&step=1m", method: .get, headers: auth).status == .badRequest)
            r = try await client.execute(uri: "/api/v1/status", method: .get, headers: auth)
            let status = try r.json()
            #expect((status["queue"] as? [String: Any])?["states"] is [String: Int])
            #expect((status["storage"] as? [String: Any])?["documents"] as? Int == 1)
            #expect((status["daemon"] as? [String: Any])?["running"] as? Bool == true)
        }
    }

    /// The status page asks for a token, keeps it in a cookie for /ui only, and shows the documents.
    @Test func statusPageSignsInWithATokenAndShowsDocuments() async throws {
        let f = try Fixture()
        let admin = try f.state.createToken(scope: .admin, name: "ops").token
        // A node of the catalog that stopped answering a minute ago: the page lists it as down.
        try f.catalog.database.write { tx in
            try Nodes.register(NodeIdentity(id: "worker-<7>", role: "worker", heartbeat: .seconds(5)), in: tx)
            try tx.execute("UPDATE nodes SET last_seen_ns = last_seen_ns - 60000000000")
        }
        try await f.application().test(.live) { client in
            var r = try await client.execute(uri: "/ui", method: .get)
            #expect(r.status == .ok && String(buffer: r.body).contains("name=\"token\""))
            r = try await client.execute(uri: "/ui/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                         body: ByteBuffer(string: "token=dpt_nope"))
            #expect(r.status == .unauthorized)
            r = try await client.execute(uri: "/ui/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                         body: ByteBuffer(string: "token=\(admin)"))
            #expect(r.status == .seeOther)
            let cookie = try #require(r.headers[.setCookie])
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/ui"))
            let pair = String(cookie.split(separator: ";")[0])
            r = try await client.execute(uri: "/ui", method: .get, headers: [.cookie: pair])
            let page = String(buffer: r.body)
            #expect(page.contains("lectures/physics/Übung 1.pdf") && page.contains("<svg") && page.contains("EventSource"))
            #expect(page.contains("<tr class=\"node\" data-state=\"down\"><td>worker-&lt;7&gt;</td><td>worker</td>"), "\(page)")
            #expect(try await client.execute(uri: "/ui/events", method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: "/ui/jobs/1/retry", method: .post).status == .unauthorized)
        }
    }
}
