import DepotCore
import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// depot with its catalog on PostgreSQL (`[catalog] url`): the real `depot init`, `depot serve`
/// and `depot ingest` against the test process's real PostgreSQL server.
@Suite(.serialized, .tags(.slow), .slowTest) struct PostgresEndToEndTests {
    @Test func aDaemonOnPostgresIngestsADroppedFileAndProcessesIt() throws {
        let cluster = try PostgresCluster.shared()
        let url = cluster.tcpURL(database: try cluster.createDatabase())
        let dir = TemporaryDirectory()
        let root = dir.path + "/root"
        let config = dir.path + "/depot.toml"
        try Data("""
            root = "\(root)"
            [catalog]
            url = "\(url)"
            [inbox]
            quiet_period = "0s"
            rescan_interval = "2s"
            [http]
            port = 0
            """.utf8).write(to: URL(fileURLWithPath: config))
        let initialised = try depot(["init", "--config", config])
        #expect(initialised.status == 0, "\(initialised.stderr)")
        let layout = RootLayout(root: root)
        // The tables are on the server; the root has no SQLite catalog.
        #expect(try statIfExists(layout.catalog) == nil)
        let queue = JobQueue(catalog: Catalog(database: try PostgresDatabase(url: url)), settings: JobsSettings())
        let applied = try queue.catalog.database.read { tx in try tx.query("SELECT count(*) FROM schema_migrations")[0].int(0) }
        #expect(applied == Int64(Catalog.migrations.count + JobQueue.migrations.count))

        let server = try Server(root: root, arguments: ["--config", config])
        let file = layout.inbox + "/documents/notes/plan.md"
        try makeDirectories(directoryName(file))
        try Data("# Plan\n\nShip the PostgreSQL catalog.\n".utf8).write(to: URL(fileURLWithPath: file))
        let processed = waitUntil(seconds: 60) {
            let jobs = (try? queue.jobs(oldestFirst: true)) ?? []
            return !jobs.isEmpty && jobs.allSatisfy { $0.state.isFinished }
        }
        #expect(processed, "\(server.stderr.suffix(3000))")
        let jobs = try queue.jobs(oldestFirst: true)
        #expect(jobs.first { $0.kind == "extract" }?.state == .succeeded, "\(jobs.map { "\($0.kind) \($0.state) \($0.lastError ?? "")" })")
        #expect(try statIfExists(file) == nil)  // taken in: removed from the inbox
        #expect(try queue.catalog.documents(collection: "documents").map(\.path) == ["notes/plan.md"])

        // `depot ingest` beside the daemon, into the same catalog.
        let source = try dir.write("import/todo.md", "# Todo\n")
        let ingested = try depot(["ingest", "--config", config, "--collection", "documents", source])
        #expect(ingested.status == 0, "\(ingested.stderr)")
        #expect(try queue.catalog.documents(collection: "documents").map(\.path).sorted() == ["notes/plan.md", "todo.md"])
        server.signal(SIGTERM)
        #expect(server.wait() == 0, "\(server.stderr.suffix(3000))")
        #expect(try statIfExists(layout.catalog) == nil)
    }
}
