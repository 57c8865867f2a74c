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

/// Runs a program to completion without blocking a concurrency thread; returns status and output.
func run(_ arguments: [String], stdin: String? = nil) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    // schemathesis leaves a .schemathesis/ folder in its working directory: keep it out of the repo.
    process.currentDirectoryURL = URL(fileURLWithPath: NSTemporaryDirectory())
    let out = Pipe()
    process.standardOutput = out
    process.standardError = out
    let input = Pipe()
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    let collected = Handover(value: NSMutableData())
    let lock = NSLock()
    out.fileHandleForReading.readabilityHandler = { h in
        let d = h.availableData
        lock.withLock { collected.value.append(d) }
    }
    let status: Int32 = try await withCheckedThrowingContinuation { c in
        process.terminationHandler = { c.resume(returning: $0.terminationStatus) }
        do {
            try process.run()
            if let stdin {
                input.fileHandleForWriting.write(Data(stdin.utf8))
                try? input.fileHandleForWriting.close()
            }
        } catch { c.resume(throwing: error) }
    }
    out.fileHandleForReading.readabilityHandler = nil
    let rest = out.fileHandleForReading.readDataToEndOfFile()
    return lock.withLock {
        collected.value.append(rest)
        return (status, String(decoding: collected.value as Data, as: UTF8.self))
    }
}

/// A value handed across a concurrency boundary once. `@unchecked Sendable`: used under the lock only.
struct Handover<T>: @unchecked Sendable {
    let value: T
}


@Suite(.tags(.slow), .slowTest) struct APITests {
    @Test func apiNeedsABearerTokenAndAdminScopeToChange() async throws {
        let f = try Fixture()
        let read = try f.state.createToken(scope: .read, name: "reader").token
        let admin = try f.state.createToken(scope: .admin, name: "ops").token
        let doc = f.version.documentID
        try await f.application().test(.live) { client in
            var r = try await client.execute(uri: "/api/v1/documents", method: .get)
            #expect(r.status == .unauthorized)
            let error = try r.json()
            #expect(error["code"] as? String == "unauthorized")
            #expect((error["correlation_id"] as? String)?.isEmpty == false)
            #expect(error["correlation_id"] as? String == r.headers[header("X-Correlation-ID")])
            #expect(error["timestamp"] is String && error["message"] is String)
            r = try await client.execute(uri: "/api/v1/documents", method: .get, headers: [.authorization: "Bearer dpt_x_nope"])
            #expect(r.status == .unauthorized)
            r = try await client.execute(uri: "/api/v1/documents?tag=physics&type=pdf", method: .get,
                                         headers: [.authorization: "Bearer \(read)"])
            #expect(r.status == .ok)
            let items = try r.json()["items"] as! [[String: Any]]
            #expect(items.count == 1 && items[0]["path"] as? String == "physics/Übung 1.pdf")
            r = try await client.execute(uri: "/api/v1/documents?type=mp4", method: .get, headers: [.authorization: "Bearer \(read)"])
            #expect(try (r.json()["items"] as! [Any]).isEmpty)
            r = try await client.execute(uri: "/api/v1/documents/\(doc)/tags", method: .post,
                                         headers: [.authorization: "Bearer \(read)", .contentType: "application/json"],
                                         body: ByteBuffer(string: #"{"tags":["exam"]}"#))
            #expect(r.status == .forbidden)
            r = try await client.execute(uri: "/api/v1/documents/\(doc)/tags", method: .post,
                                         headers: [.authorization: "Bearer \(admin)", .contentType: "application/json"],
                                         body: ByteBuffer(string: #"{"tags":["exam"]}"#))
            #expect(try r.status == .ok && (r.json()["tags"] as? [String]) == ["exam", "physics"])
            r = try await client.execute(uri: "/api/v1/documents/\(doc)/tags/physics", method: .delete,
                                         headers: [.authorization: "Bearer \(admin)"])
            #expect(try (r.json()["tags"] as? [String]) == ["exam"])
            r = try await client.execute(uri: "/api/v1/documents/999", method: .get, headers: [.authorization: "Bearer \(read)"])
            #expect(try r.status == .notFound && (r.json()["code"] as? String) == "not_found")
            #expect(try f.state.revokeToken(id: String(admin.split(separator: "_")[1])))
            r = try await client.execute(uri: "/api/v1/stats", method: .get, headers: [.authorization: "Bearer \(admin)"])
            #expect(r.status == .unauthorized)
        }
    }

    @Test func mintedLinkDownloadsUntilRevokedAndLifetimeIsCapped() async throws {
        let f = try Fixture { $0.maxLinkLifetime = .seconds(7200) }
        let admin = try f.state.createToken(scope: .admin, name: "ops").token
        try await f.application().test(.live) { client in
            let auth: HTTPFields = [.authorization: "Bearer \(admin)", .contentType: "application/json"]
            var r = try await client.execute(uri: "/api/v1/links", method: .post, headers: auth,
                                             body: ByteBuffer(string: #"{"version_id":\#(f.version.id),"expires_in":"3h"}"#))
            #expect(r.status == .badRequest)
            r = try await client.execute(uri: "/api/v1/links", method: .post, headers: auth,
                                         body: ByteBuffer(string: #"{"version_id":\#(f.version.id),"expires_in":"1h"}"#))
            #expect(r.status == .created)
            let link = try r.json()
            let url = URL(string: link["url"] as! String)!
            let pathAndQuery = url.path(percentEncoded: true) + "?" + url.query(percentEncoded: true)!
            r = try await client.execute(uri: pathAndQuery, method: .get)
            #expect(r.status == .ok && r.bytes == f.bytes)
            r = try await client.execute(uri: "/api/v1/links/\(link["id"] as! String)", method: .delete, headers: auth)
            #expect(r.status == .noContent)
            r = try await client.execute(uri: pathAndQuery, method: .get)
            #expect(r.status == .forbidden)
            r = try await client.execute(uri: "/api/v1/stats", method: .get, headers: auth)
            let stats = try r.json()
            #expect(stats["documents"] as? Int == 1 && stats["logical_bytes"] as? Int == f.bytes.count)
            r = try await client.execute(uri: "/api/v1/jobs/999/retry", method: .post, headers: auth)
            #expect(r.status == .notFound)
        }
    }

    /// The API speaks the queue's vocabulary and makes the queue's changes: the states, the
    /// processing status, retry and cancel as `depot jobs` makes them, a person's new job.
    @Test func jobsEndpointsAreTheQueuesOwn() async throws {
        let f = try Fixture()
        let admin = try f.state.createToken(scope: .admin, name: "ops").token
        // The PDF's pipeline: extract, then a thumbnail waiting for it. Extract fails for good.
        let extract = try #require(try f.queue.lease(owner: "test"))
        #expect(extract.kind == "extract")
        try f.queue.fail(extract, owner: "test", .permanent("not a readable PDF"))
        try await f.application().test(.live) { client in
            let auth: HTTPFields = [.authorization: "Bearer \(admin)", .contentType: "application/json"]
            var r = try await client.execute(uri: "/api/v1/documents?status=failed", method: .get, headers: auth)
            let docs = try r.json()["items"] as! [[String: Any]]
            #expect(docs.count == 1 && docs[0]["processing_status"] as? String == "failed")
            r = try await client.execute(uri: "/api/v1/documents?status=succeeded", method: .get, headers: auth)
            #expect(try (r.json()["items"] as! [Any]).isEmpty)
            r = try await client.execute(uri: "/api/v1/documents?status=done", method: .get, headers: auth)
            #expect(r.status == .badRequest)
            r = try await client.execute(uri: "/api/v1/jobs?state=skipped", method: .get, headers: auth)
            let skipped = try r.json()["items"] as! [[String: Any]]
            #expect(skipped.count == 1 && skipped[0]["kind"] as? String == "thumbnail")
            #expect((skipped[0]["last_error"] as? String)?.contains("not a readable PDF") == true)
            #expect(skipped[0]["path"] as? String == "physics/Übung 1.pdf" && skipped[0]["collection"] as? String == "lectures")
            r = try await client.execute(uri: "/api/v1/jobs?state=succeeded", method: .get, headers: auth)
            #expect(r.status == .ok)
            // Retry resets the attempts and brings back what was skipped for it.
            r = try await client.execute(uri: "/api/v1/jobs/\(extract.id)/retry", method: .post, headers: auth)
            #expect(r.status == .ok)
            var job = try r.json()
            #expect(job["state"] as? String == "queued" && job["attempts"] as? Int == 0 && job["priority"] as? Int == JobQueue.personPriority)
            r = try await client.execute(uri: "/api/v1/jobs/\(extract.id)/retry", method: .post, headers: auth)
            #expect(r.status == .conflict)
            r = try await client.execute(uri: "/api/v1/jobs/\(skipped[0]["id"] as! Int)", method: .get, headers: auth)
            #expect(try r.json()["state"] as? String == "waiting")
            // A person's job of a kind, with typed parameters.
            r = try await client.execute(uri: "/api/v1/jobs", method: .post, headers: auth,
                                         body: ByteBuffer(string: #"{"version_id":\#(f.version.id),"kind":"thumbnail","parameters":{"width":480}}"#))
            #expect(r.status == .created)
            job = try r.json()
            #expect(job["kind"] as? String == "thumbnail" && job["state"] as? String == "waiting" && job["queued_by"] as? String == "api")
            #expect((job["parameters"] as? [String: Any])?["width"] as? Int == 480 && (job["waits_for"] as? [Int]) == [Int(extract.id)])
            r = try await client.execute(uri: "/api/v1/jobs", method: .post, headers: auth,
                                         body: ByteBuffer(string: #"{"version_id":\#(f.version.id),"kind":"thumbnail","parameters":{"width":1}}"#))
            #expect(try r.status == .unprocessableContent && (r.json()["message"] as? String) == "width must be from 16 to 2048")
            r = try await client.execute(uri: "/api/v1/jobs", method: .post, headers: auth,
                                         body: ByteBuffer(string: #"{"version_id":\#(f.version.id),"kind":"transcode"}"#))
            #expect(r.status == .unprocessableContent)
            r = try await client.execute(uri: "/api/v1/jobs", method: .post, headers: auth,
                                         body: ByteBuffer(string: #"{"version_id":true,"kind":"extract"}"#))
            #expect(r.status == .badRequest)
            r = try await client.execute(uri: "/api/v1/jobs/\(job["id"] as! Int)/cancel", method: .post, headers: auth)
            #expect(try (r.json()["state"] as? String) == "cancelled")
            r = try await client.execute(uri: "/api/v1/jobs?state=cancelled", method: .get, headers: auth)
            #expect(try (r.json()["items"] as! [Any]).count == 1)
            r = try await client.execute(uri: "/api/v1/stats", method: .get, headers: auth)
            let queue = try r.json()["queue"] as! [String: Int]
            #expect(Set(queue.keys) == Set(JobState.allCases.map(\.rawValue)))
            #expect(queue["queued"] == 1 && queue["waiting"] == 1 && queue["cancelled"] == 1 && queue["succeeded"] == 0)
        }
        // The same change through the queue as the CLI makes it.
        #expect(try f.queue.job(id: extract.id)?.state == .queued)
    }

    /// The link lifetime comes from the one collection resolver: a collection's own maximum is
    /// applied, and a broken `.depot.toml` refuses the link with its file and line instead of
    /// being skipped silently.
    @Test func aCollectionsLinkLifetimeComesFromItsSettingsAndABrokenFileRefusesLinks() async throws {
        let f = try Fixture()
        let admin = try f.state.createToken(scope: .admin, name: "ops").token
        let settings = f.layout.inbox(collection: "lectures") + "/.depot.toml"
        try makeDirectories(f.layout.inbox(collection: "lectures"))
        try Data("max_link_lifetime = \"30m\"\n".utf8).write(to: URL(fileURLWithPath: settings))
        try await f.application().test(.live) { client in
            let auth: HTTPFields = [.authorization: "Bearer \(admin)", .contentType: "application/json"]
            func mint(_ expires: String) async throws -> TestResponse {
                try await client.execute(uri: "/api/v1/links", method: .post, headers: auth,
                                         body: ByteBuffer(string: #"{"version_id":\#(f.version.id),"expires_in":"\#(expires)"}"#))
            }
            var r = try await mint("1h")
            #expect(try r.status == .badRequest && (r.json()["message"] as? String)?.contains("at most 30m") == true)
            #expect(try await mint("20m").status == .created)
            try Data("max_link_lifetime = \"30m\"\nmode = \"hot\"\n".utf8).write(to: URL(fileURLWithPath: settings))
            r = try await mint("20m")
            #expect(r.status == .conflict)
            let body = try r.json()
            #expect(body["code"] as? String == "collection_settings_broken")
            #expect((body["message"] as? String)?.contains("\(settings):2: mode must be one of") == true, "\(body)")
        }
    }

    @Test func healthAndReadiness() async throws {
        let f = try Fixture()
        try await f.application().test(.live) { client in
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            let r = try await client.execute(uri: "/readyz", method: .get)
            #expect(try r.status == .ok && (r.json()["status"] as? String) == "ready")
        }
        var env = f.environment()
        env.probes = ServerProbes(watcherRunning: { false })
        try await makeApplication(environment: env).test(.live) { client in
            let r = try await client.execute(uri: "/readyz", method: .get)
            #expect(r.status == .serviceUnavailable)
            #expect(try (r.json()["checks"] as? [String: Bool])?["watcher"] == false)
        }
    }

    @Test func metricsPassPromtool() async throws {
        let f = try Fixture()
        let url = try f.link()
        var env = f.environment()
        env.probes = ServerProbes(watcherCounters: { (events: 5, overflows: 1, rescans: 2) })
        try await makeApplication(environment: env).test(.live) { client in
            // The first through the router, the next ones (the link remembered) most likely
            // answered on the event loop: counted the same either way.
            _ = try await client.execute(uri: url, method: .get)
            _ = try await client.execute(uri: url, method: .get)
            _ = try await client.execute(uri: url, method: .head)
            _ = try await client.execute(uri: url, method: .get, headers: [.range: "bytes=0-9"])
            _ = try await client.execute(uri: url, method: .get, headers: [.ifNoneMatch: "\"\(f.version.digest.hex)\""])
            _ = try await client.execute(uri: "/d/v/1/x?exp=1&kid=k&lid=l&sig=s", method: .get)
            let r = try await client.execute(uri: "/metrics", method: .get)
            let text = String(buffer: r.body)
            #expect(text.contains("depot_downloads_total{status=\"200\"} 3"))
            #expect(text.contains("depot_downloads_total{status=\"206\"} 1"))
            #expect(text.contains("depot_downloads_total{status=\"304\"} 1"))
            #expect(text.contains("depot_downloads_total{status=\"403\"} 1"))
            #expect(text.contains("depot_link_rejections_total 1"))
            #expect(text.contains("depot_download_bytes_total \(2 * f.bytes.count + 10)"))
            #expect(text.contains("depot_store_logical_bytes \(f.bytes.count)"))
            #expect(text.contains("depot_watcher_rescans_total 2"))
            #expect(text.contains("depot_queue_depth{state=\"queued\"} 1"))
            #expect(text.contains("depot_queue_depth{state=\"waiting\"} 1"))
            #expect(text.contains("depot_queue_depth{state=\"running\"} 0"))
            // The depth counts what is still to be done; the finished are jobs by state.
            #expect(!text.contains("depot_queue_depth{state=\"succeeded\"}"))
            #expect(text.contains("depot_jobs{state=\"succeeded\"} 0") && text.contains("depot_jobs{state=\"queued\"} 1"))
            #expect(!text.contains("state=\"done\""))
            let check = try await run(["promtool", "check", "metrics"], stdin: text)
            #expect(check.status == 0, "\(check.output)")
        }
    }

    /// Every metric the parts of depot emit through the swift-metrics facade has its own help
    /// text: none is left with the placeholder.
    @Test func everyFacadeMetricHasItsHelpText() throws {
        var labels = Set<String>()
        let walker = FileManager.default.enumerator(atPath: repositoryRoot + "/Sources")
        while let file = walker?.nextObject() as? String {
            guard file.hasSuffix(".swift") else { continue }
            let text = try readTextFile(repositoryRoot + "/Sources/" + file)
            let regex = try NSRegularExpression(pattern: #"(?:Counter|Timer|Gauge|Recorder)\(label: "([a-z_]+)""#)
            for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                labels.insert(String(text[Range(m.range(at: 1), in: text)!]))
            }
        }
        #expect(labels.count >= 10)
        #expect(labels.subtracting(ServerMetrics.facadeHelp.keys).sorted() == [])
        let metrics = ServerMetrics()
        for label in labels { metrics.incrementThroughFacade(label, []) }
        #expect(!metrics.render().contains("depot metric "))
    }

    @Test func facadeMetricsGetHelpLinesForPromtool() async throws {
        let metrics = ServerMetrics()
        metrics.incrementThroughFacade("depot_ingests_total", [("collection", "docs"), ("outcome", "created")])
        let check = try await run(["promtool", "check", "metrics"], stdin: metrics.render())
        #expect(check.status == 0, "\(check.output)")
        #expect(metrics.render().contains("# HELP depot_ingests_total Files taken"))
    }

    @Test func openAPIDocumentIsValidAndServed() async throws {
        let f = try Fixture()
        let file = try readTextFile(repositoryRoot + "/docs/openapi.json")
        let a = try JSONSerialization.jsonObject(with: Data(file.utf8)) as! NSDictionary
        let b = try JSONSerialization.jsonObject(with: Data(openAPIDocument.utf8)) as! NSDictionary
        #expect(a == b, "docs/openapi.json and OpenAPI.swift differ: regenerate OpenAPI.swift")
        let check = try await run(["python3", "-c", "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))",
                                   repositoryRoot + "/docs/openapi.json"])
        #expect(check.status == 0, "\(check.output)")
        try await f.application().test(.live) { client in
            let r = try await client.execute(uri: "/api/v1/openapi.json", method: .get)
            #expect(try r.status == .ok && (r.json()["openapi"] as? String) == "3.1.0")
        }
    }

    @Test(.timeLimit(.minutes(2))) func schemathesisFindsNoServerErrorsAndResponsesMatchTheSpec() async throws {
        let f = try Fixture { $0.apiRate = 0 }
        _ = try f.link()
        let admin = try f.state.createToken(scope: .admin, name: "fuzz").token
        // tus bodies (application/offset+octet-stream) are raw bytes, as octet-stream's are.
        let hooks = NSTemporaryDirectory() + "depot-schemathesis-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: hooks, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: hooks) }
        try Data("""
            import schemathesis
            schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
            """.utf8).write(to: URL(fileURLWithPath: hooks + "/depot_tus_hooks.py"))
        try await f.application().test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)"
            let result = try await run([
                "SCHEMATHESIS_HOOKS=depot_tus_hooks", "PYTHONPATH=" + hooks,
                "timeout", "90", "schemathesis", "run", base + "/api/v1/openapi.json", "--url", base + "/api/v1",
                "-H", "Authorization: Bearer \(admin)", "--max-examples", "15", "--workers", "2",
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--phases", "examples,fuzzing", "--generation-deterministic", "--no-color",
                // The SSE stream never ends by itself: its own tests read it (AnalyticsAPITests).
                "--exclude-path", "/events/stream",
                // A loaded CI machine (the rest of the suite runs beside this) can be slow to answer.
                "--request-timeout", "60",
            ])
            #expect(result.status == 0, "\(result.output.suffix(12000))")
        }
    }
}
