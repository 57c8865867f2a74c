@testable import DepotHTTP
import DepotCore
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
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

let repoRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

struct APITests {
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
            r = try await client.execute(uri: "/api/v1/jobs/1/retry", method: .post, headers: auth)
            #expect(r.status == .notFound)
        }
    }

    @Test func jobsEndpointsUseTheJobQueueTableWhenItExists() async throws {
        let f = try Fixture()
        try f.catalog.withConnection { db in
            try db.execute("""
                CREATE TABLE jobs(id INTEGER PRIMARY KEY, version_id INTEGER, kind TEXT, state TEXT, last_error TEXT,
                                  attempts INTEGER, progress REAL, run_after_ns INTEGER);
                INSERT INTO jobs VALUES(1, \(f.version.id), 'extract', 'failed', 'boom', 3, NULL, 0);
                INSERT INTO jobs VALUES(2, \(f.version.id), 'thumbnail', 'done', NULL, 1, 1.0, 0);
                """)
        }
        let admin = try f.state.createToken(scope: .admin, name: "ops").token
        try await f.application().test(.live) { client in
            let auth: HTTPFields = [.authorization: "Bearer \(admin)"]
            var r = try await client.execute(uri: "/api/v1/documents?status=failed", method: .get, headers: auth)
            let docs = try r.json()["items"] as! [[String: Any]]
            #expect(docs.count == 1 && docs[0]["processing_status"] as? String == "failed")
            r = try await client.execute(uri: "/api/v1/jobs/2/retry", method: .post, headers: auth)
            #expect(r.status == .conflict)
            r = try await client.execute(uri: "/api/v1/jobs/1/retry", method: .post, headers: auth)
            #expect(try r.status == .ok && (r.json()["state"] as? String) == "queued" && (r.json()["attempts"] as? Int) == 3)
            r = try await client.execute(uri: "/api/v1/jobs/1/cancel", method: .post, headers: auth)
            #expect(try (r.json()["state"] as? String) == "cancelled")
            r = try await client.execute(uri: "/api/v1/jobs?state=cancelled", method: .get, headers: auth)
            #expect(try (r.json()["items"] as! [Any]).count == 1)
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
            #expect(text.contains("depot_queue_depth{state=\"queued\"} 0"))
            let check = try await run(["promtool", "check", "metrics"], stdin: text)
            #expect(check.status == 0, "\(check.output)")
        }
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
        let file = try readTextFile(repoRoot + "/docs/openapi.json")
        let a = try JSONSerialization.jsonObject(with: Data(file.utf8)) as! NSDictionary
        let b = try JSONSerialization.jsonObject(with: Data(openAPIDocument.utf8)) as! NSDictionary
        #expect(a == b, "docs/openapi.json and OpenAPI.swift differ: regenerate OpenAPI.swift")
        let check = try await run(["python3", "-c", "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))",
                                   repoRoot + "/docs/openapi.json"])
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
        try await f.application().test(.live) { client in
            let base = "http://127.0.0.1:\(client.port!)"
            let result = try await run([
                "timeout", "90", "schemathesis", "run", base + "/api/v1/openapi.json", "--url", base + "/api/v1",
                "-H", "Authorization: Bearer \(admin)", "--max-examples", "15", "--workers", "2",
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--phases", "examples,fuzzing", "--generation-deterministic", "--no-color",
            ])
            #expect(result.status == 0, "\(result.output.suffix(12000))")
        }
    }
}
