import DepotCore
import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// Nodes and roles through the real `depot serve`: which services a role runs, and how every
/// node shows in `depot status`, the status API and /metrics.
@Suite(.serialized, .tags(.slow), .slowTest) struct NodesEndToEndTests {
    /// `depot status --json` parsed.
    func status(_ arguments: [String]) throws -> [String: Any] {
        let result = try depot(["status", "--json"] + arguments)
        guard result.status == 0 else { throw TestFailure("depot status failed: \(result.stderr)") }
        return try #require(try parseJSON(result.stdout) as? [String: Any])
    }

    /// The nodes of a status record, by id: (role, state).
    func nodes(_ record: [String: Any]) -> [String: (role: String, state: String)] {
        var result: [String: (String, String)] = [:]
        for node in record["nodes"] as? [[String: Any]] ?? [] {
            result[node["id"] as? String ?? "?"] = (node["role"] as? String ?? "?", node["state"] as? String ?? "?")
        }
        return result
    }

    /// One machine, no [node] section: one node, role all, id host:root; stopped after SIGTERM.
    @Test func aSingleDaemonIsOneNodeOfAllRoles() throws {
        let root = try DemoRoot()
        let server = try root.serve()
        let id = Nodes.hostName + ":" + root.path
        #expect(try waitUntil(seconds: 20) { nodes(try status(["--root", root.path]))[id]?.state == "up" }, "\(server.stderr)")
        let record = try status(["--root", root.path])
        #expect(nodes(record).count == 1)
        #expect(nodes(record)[id]?.role == "all")
        #expect((record["daemon"] as? [String: Any])?["node"] as? String == id)
        let text = try depot(["status", "--root", root.path]).stdout
        #expect(text.contains("nodes     1: 1 up, 0 down, 0 stopped"), "\(text)")
        #expect(text.contains("\(id) (all) up"), "\(text)")
        server.signal(SIGTERM)
        #expect(server.wait() == 0, "\(server.stderr)")
        #expect(nodes(try status(["--root", root.path]))[id]?.state == "stopped")
        let listed = try depot(["nodes", "--root", root.path, "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let list = try #require(try parseJSON(listed.stdout) as? [[String: Any]])
        #expect(list.map { $0["state"] as? String } == ["stopped"])
        // A stopped node may be forgotten.
        #expect(try depot(["nodes", "forget", "--root", root.path, id]).status == 0)
        #expect(nodes(try status(["--root", root.path])).isEmpty)
    }

    /// Two nodes on one PostgreSQL catalog and one bucket: an ingest node (no runner, no HTTP)
    /// and a worker + http node (`--role` over its config's role). A file dropped on the first
    /// is processed by the second; both show in status, the API and /metrics; a kill -9 shows
    /// as down.
    @Test func anIngestNodeAndAWorkerNodeShareOneCatalog() throws {
        let cluster = try SharedCatalog()
        let url = cluster.url
        let portA = freePort(), portB = freePort()
        func config(_ name: String, port: Int, id: String, role: String) throws -> (root: String, config: String) {
            try cluster.node(name, port: port, id: id, role: role)
        }
        let a = try config("a", port: portA, id: "ingest-a", role: "ingest")
        // Its config says ingest; the command line makes it the worker and HTTP node.
        let b = try config("b", port: portB, id: "worker-b", role: "ingest")
        let ingest = try Server(root: a.root, arguments: ["--config", a.config])
        let worker = try Server(root: b.root, arguments: ["--config", b.config, "--role", "worker,http"])
        #expect(waitUntil(seconds: 20) { (try? curl(["http://127.0.0.1:\(portB)/healthz"]).code) == 200 }, "\(worker.stderr)")
        #expect(waitUntil(seconds: 20) { ingest.stderr.contains("depot is serving") }, "\(ingest.stderr)")

        let file = RootLayout(root: a.root).inbox + "/documents/plan.md"
        try makeDirectories(directoryName(file))
        try Data("# Plan\n\nTwo nodes, one catalog.\n".utf8).write(to: URL(fileURLWithPath: file))
        let queue = JobQueue(catalog: Catalog(database: try PostgresDatabase(url: url)), settings: JobsSettings())
        #expect(waitUntil(seconds: 60) {
            let jobs = (try? queue.jobs(oldestFirst: true)) ?? []
            return !jobs.isEmpty && jobs.allSatisfy { $0.state.isFinished }
        }, "\(worker.stderr.suffix(3000))")
        let extract = try queue.jobs().first { $0.kind == "extract" }
        #expect(extract?.state == .succeeded, "\(extract?.lastError ?? "")")
        #expect(try statIfExists(file) == nil)
        // Each ran only its roles' services.
        #expect(worker.stderr.contains("job runner started"))
        #expect(!ingest.stderr.contains("job runner started"), "\(ingest.stderr)")
        #expect(!ingest.stderr.contains("http server listening"), "\(ingest.stderr)")
        #expect(try curl(["http://127.0.0.1:\(portA)/healthz"]).code == 0, "the ingest node serves no HTTP")
        #expect(try queue.catalog.documents(collection: "documents").map(\.path) == ["plan.md"])

        // Both nodes, from either side, the same in the CLI, the API and /metrics.
        #expect(try waitUntil(seconds: 10) {
            let both = nodes(try status(["--config", a.config]))
            return both["ingest-a"]?.state == "up" && both["worker-b"]?.state == "up"
        })
        let fromA = nodes(try status(["--config", a.config]))
        #expect(fromA["ingest-a"]?.role == "ingest")
        #expect(fromA["worker-b"]?.role == "worker,http")
        let token = try depot(["token", "create", "--config", b.config, "--scope", "read"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let api = try curl(["-H", "Authorization: Bearer \(token)", "http://127.0.0.1:\(portB)/api/v1/status"])
        #expect(api.code == 200)
        let fromAPI = nodes(try #require(try parseJSON(String(decoding: api.body, as: UTF8.self)) as? [String: Any]))
        #expect(fromAPI.mapValues { "\($0.role) \($0.state)" } == fromA.mapValues { "\($0.role) \($0.state)" })
        var metrics = String(decoding: try curl(["http://127.0.0.1:\(portB)/metrics"]).body, as: UTF8.self)
        #expect(metrics.contains("depot_node_last_seen_seconds{node=\"ingest-a\",role=\"ingest\"}"), "\(metrics)")
        #expect(metrics.contains("depot_node_up{node=\"ingest-a\",role=\"ingest\"} 1"), "\(metrics)")
        #expect(metrics.contains("depot_node_up{node=\"worker-b\",role=\"worker,http\"} 1"), "\(metrics)")
        #expect(metrics.contains("depot_node_jobs_running{node=\"worker-b\"} 0"), "\(metrics)")

        // A node that dies says nothing: after three missed heartbeats it is down, still listed.
        ingest.signal(SIGKILL)
        #expect(ingest.wait() == -SIGKILL)
        #expect(try waitUntil(seconds: 15) { nodes(try status(["--config", b.config]))["ingest-a"]?.state == "down" })
        #expect(nodes(try status(["--config", b.config]))["worker-b"]?.state == "up")
        metrics = String(decoding: try curl(["http://127.0.0.1:\(portB)/metrics"]).body, as: UTF8.self)
        #expect(metrics.contains("depot_node_up{node=\"ingest-a\",role=\"ingest\"} 0"), "\(metrics)")
        let text = try depot(["status", "--config", b.config]).stdout
        #expect(text.contains("ingest-a (ingest) down, last seen"), "\(text)")

        worker.signal(SIGTERM)
        #expect(worker.wait() == 0, "\(worker.stderr.suffix(3000))")
        let after = nodes(try status(["--config", b.config]))
        #expect(after["worker-b"]?.state == "stopped")
        #expect(after["ingest-a"]?.state == "down")
    }

    /// Two worker nodes, one webhook receiver on loopback: only the node holding the dispatch
    /// lock delivers; kill -9 of it hands the lock to the other, which carries on from the
    /// cursor — every event delivered, none twice.
    @Test func oneNodeDispatchesWebhooksAndAnotherTakesOverWhenItDies() throws {
        let receiver = try TestHTTPServer { _ in (200, []) }
        defer { receiver.stop() }
        let cluster = try SharedCatalog()
        let webhook = """
            [[webhooks]]
            name = "receiver"
            url = "\(receiver.url)"
            secret = "s3cret"
            events = ["version.created"]
            """
        let a = try cluster.node("a", port: freePort(), id: "worker-a", role: "worker", extra: webhook)
        let b = try cluster.node("b", port: freePort(), id: "worker-b", role: "worker", extra: webhook)
        let first = try Server(root: a.root, arguments: ["--config", a.config])
        #expect(waitUntil(seconds: 30) { first.stderr.contains("this node dispatches events") }, "\(first.stderr)")
        let second = try Server(root: b.root, arguments: ["--config", b.config])
        #expect(waitUntil(seconds: 30) { second.stderr.contains("another node dispatches events; this one stands by") },
                "\(second.stderr)")

        let catalog = Catalog(database: try PostgresDatabase(url: cluster.url))
        func ingest(_ names: [String]) throws {
            let dir = TemporaryDirectory()
            let files = try names.map { try dir.write("in/\($0).md", "# \($0)\n") }
            let result = try depot(["ingest", "--config", a.config, "--collection", "docs"] + files)
            guard result.status == 0 else { throw TestFailure("depot ingest failed: \(result.stderr)") }
        }
        func created() throws -> [String] {
            try catalog.events(after: 0, limit: 100_000).filter { $0.type == "version.created" }.map(\.id)
        }
        func delivered() throws -> Int {
            try DispatchState.deliveries(database: catalog.database).filter { $0.state == "delivered" }.count
        }
        try ingest((0..<5).map { "before-\($0)" })
        #expect(try waitUntil(seconds: 30) { try delivered() == 5 }, "\(first.stderr.suffix(2000))")
        #expect(receiver.requests.count == 5)
        #expect(!second.stderr.contains("this node dispatches events"), "\(second.stderr)")

        first.signal(SIGKILL)
        #expect(first.wait() == -SIGKILL)
        // PostgreSQL ends the dead process's session with its connection, and the lock with it.
        #expect(waitUntil(seconds: 15) { second.stderr.contains("this node dispatches events") }, "\(second.stderr)")
        try ingest((0..<5).map { "after-\($0)" })
        #expect(try waitUntil(seconds: 30) { try delivered() == 10 }, "\(second.stderr.suffix(2000))")
        // A moment more: nothing is sent again.
        Thread.sleep(forTimeInterval: 1.5)
        let ids = receiver.requests.map { $0.headers["x-depot-event-id"] ?? "" }
        #expect(ids.count == 10, "\(ids)")
        #expect(Set(ids).count == ids.count, "an event was delivered twice: \(ids)")
        #expect(Set(ids) == Set(try created()))

        second.signal(SIGTERM)
        #expect(second.wait() == 0, "\(second.stderr.suffix(3000))")
    }
}

/// One throw-away PostgreSQL database and one S3 bucket (moto) that several nodes share, each
/// node with its own root and config in a temp folder.
final class SharedCatalog {
    let dir = TemporaryDirectory()
    let url: String
    let bucket: S3Settings
    let credentials: String

    init() throws {
        let cluster = try PostgresCluster.shared()
        url = cluster.tcpURL(database: try cluster.createDatabase())
        let s3 = try TestS3Server.shared()
        bucket = try s3.settings()
        credentials = try s3.writeCredentials(in: dir)
    }

    /// A node's root and config, initialised: heartbeats every second, the inbox taken at once.
    func node(_ name: String, port: Int, id: String, role: String, extra: String = "") throws -> (root: String, config: String) {
        let root = dir.path + "/" + name
        let path = dir.path + "/\(name).toml"
        try Data("""
            root = "\(root)"
            [catalog]
            url = "\(url)"
            [store]
            backend = "s3"
            [store.s3]
            endpoint = "\(bucket.endpoint)"
            bucket = "\(bucket.bucket)"
            region = "us-east-1"
            addressing = "path"
            credentials_file = "\(credentials)"
            prefix = "\(bucket.prefix)"
            [inbox]
            quiet_period = "0s"
            rescan_interval = "2s"
            [http]
            port = \(port)
            [node]
            id = "\(id)"
            role = "\(role)"
            heartbeat = "1s"
            \(extra)
            """.utf8).write(to: URL(fileURLWithPath: path))
        let initialised = try depot(["init", "--config", path])
        guard initialised.status == 0 else { throw TestFailure("depot init failed: \(initialised.stderr)") }
        return (root, path)
    }
}
