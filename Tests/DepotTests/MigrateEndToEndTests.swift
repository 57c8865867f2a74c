import DepotCore
import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// `depot migrate --to postgres://…`: the real `depot` binary moving a root's SQLite catalog
/// to the test process's real PostgreSQL server, then `depot serve`, `ls`, `status` and
/// `ingest` on the moved catalog.
@Suite(.serialized, .tags(.slow), .slowTest) struct MigrateEndToEndTests {
    /// A root whose catalog has several documents, one of three versions, tags, a link and a
    /// token; with `processed`, its jobs run by `depot serve` until every one has finished
    /// (artifacts, job events); without, they are left queued.
    static func populatedRoot(processed: Bool) throws -> DemoRoot {
        let root = try DemoRoot(quietPeriod: "0s", rescanInterval: "1s")
        let dir = TemporaryDirectory()
        let notes = dir.path + "/notes.md"
        for version in 1...3 {
            try Data("# Notes\n\nVersion \(version) of the notes on forces and momentum.\n".utf8).write(to: URL(fileURLWithPath: notes))
            let ingested = try depot(["ingest", "--root", root.path, "--collection", "documents", notes])
            guard ingested.status == 0 else { throw TestFailure("ingest failed: \(ingested.stderr)") }
        }
        for (name, text) in [("plan.md", "# Plan\n\nMove the catalog.\n"), ("todo.txt", "call the plumber\n")] {
            let file = try dir.write(name, text)
            let ingested = try depot(["ingest", "--root", root.path, "--collection", "documents", file])
            guard ingested.status == 0 else { throw TestFailure("ingest failed: \(ingested.stderr)") }
        }
        if processed {
            let server = try root.serve()
            // One through the inbox, for its tags (physics, week1).
            try root.drop("documents/physics/week1/slides.md", Array("# Slides\n\nImpulse.\n".utf8))
            let queue = try root.queue()
            let done = waitUntil(seconds: 90) {
                let jobs = (try? queue.jobs(oldestFirst: true)) ?? []
                let documents = (try? queue.catalog.documents(collection: "documents").count) ?? 0
                return documents == 4 && !jobs.isEmpty && jobs.allSatisfy { $0.state.isFinished }
            }
            server.signal(SIGTERM)
            let status = server.wait()
            guard done, status == 0 else { throw TestFailure("the jobs did not finish (\(String(describing: status))): \(server.stderr.suffix(3000))") }
        }
        for arguments in [["link", "documents/notes.md"], ["token", "create", "--scope", "read"]] {
            let made = try depot(arguments + ["--root", root.path])
            guard made.status == 0 else { throw TestFailure("depot \(arguments.joined(separator: " ")) failed: \(made.stderr)") }
        }
        return root
    }

    /// A config for `root` with its catalog at `url`.
    static func postgresConfig(_ root: DemoRoot, url: String, in dir: TemporaryDirectory) throws -> String {
        let config = dir.path + "/postgres.toml"
        let own = try String(contentsOfFile: root.layout.configFile, encoding: .utf8)
        try Data((own + "\n[catalog]\nurl = \"\(url)\"\n").utf8).write(to: URL(fileURLWithPath: config))
        return config
    }

    static func newDatabase() throws -> String {
        let cluster = try PostgresCluster.shared()
        return cluster.tcpURL(database: try cluster.createDatabase())
    }

    /// Every row of every table on both sides, read by the test's own SQL (not the copier's):
    /// table → its rows as text, sorted, so a missing, changed or doubled row shows.
    static func contents(of database: any CatalogDatabase, tables: [String: [String]]) throws -> [String: [String]] {
        try database.read { tx in
            var all: [String: [String]] = [:]
            for (table, columns) in tables {
                let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
                all[table] = try tx.query("SELECT \(list) FROM \"\(table)\"").map { row in
                    zip(columns, row.values).map { column, value in
                        switch value {
                        case .null: return "\(column)=NULL"
                        case .integer(let v): return "\(column)=\(v)"
                        case .real(let v): return v.rounded() == v ? "\(column)=\(Int64(v))" : "\(column)=\(v)"
                        case .text(let v): return "\(column)='\(v)'"
                        }
                    }.joined(separator: ",")
                }.sorted()
            }
            return all
        }
    }

    /// The depot tables of a PostgreSQL catalog and their columns (the copy's bookkeeping left out).
    static func tables(of database: PostgresDatabase) throws -> [String: [String]] {
        try database.read { tx in
            var tables: [String: [String]] = [:]
            for row in try tx.query("""
                SELECT table_name, column_name FROM information_schema.columns
                WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position
                """) where !["schema_migrations", "catalog_copy", "catalog_copy_tables"].contains(row.text(0)) {
                tables[row.text(0), default: []].append(row.text(1))
            }
            return tables
        }
    }

    /// Both sides hold the same rows, table by table, and as many tables as the catalog has.
    static func expectIdentical(_ root: DemoRoot, url: String) throws {
        let target = try PostgresDatabase(url: url)
        let tables = try tables(of: target)
        let sqliteTables = try SQLiteDatabase(path: root.layout.catalog).read { tx in
            try tx.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'")
                .map { $0.text(0) }
        }
        #expect(Set(tables.keys) == Set(sqliteTables))
        let mine = try contents(of: SQLiteDatabase(path: root.layout.catalog), tables: tables)
        let theirs = try contents(of: target, tables: tables)
        for table in tables.keys.sorted() {
            #expect(mine[table] == theirs[table], "table \(table) differs")
        }
        #expect(mine.values.reduce(0) { $0 + $1.count } > 30)  // the fixture is not empty
    }

    @Test func aMigratedCatalogServesTheSameDocumentsAndTakesNewOnes() throws {
        let root = try Self.populatedRoot(processed: true)
        let dir = TemporaryDirectory()
        let url = try Self.newDatabase()
        let config = try Self.postgresConfig(root, url: url, in: dir)
        let before = try root.queue()
        let documents = try before.catalog.documents(collection: "documents")
        #expect(documents.count == 4)
        let jobsBefore = try before.jobs(oldestFirst: true)
        #expect(jobsBefore.contains { $0.kind == "extract" && $0.state == .succeeded })
        let lsBefore = try depot(["ls", "--json", "--root", root.path])
        let logBefore = try depot(["log", "--json", "documents/notes.md", "--root", root.path])
        let statusBefore = try depot(["status", "--json", "--root", root.path])

        let migrated = try depot(["migrate", "--root", root.path, "--to", url])
        #expect(migrated.status == 0, "\(migrated.stderr)")
        #expect(migrated.stdout.contains("[catalog]\nurl = \"\(url)\""), "\(migrated.stdout)")
        try Self.expectIdentical(root, url: url)

        // The same documents, versions and figures through the commands, on the new config.
        let lsAfter = try depot(["ls", "--json", "--config", config])
        #expect(lsAfter.status == 0, "\(lsAfter.stderr)")
        #expect(lsAfter.stdout == lsBefore.stdout)
        let logAfter = try depot(["log", "--json", "documents/notes.md", "--config", config])
        #expect(logAfter.stdout == logBefore.stdout)
        let statusAfter = try depot(["status", "--json", "--config", config])
        #expect(statusAfter.status == 0, "\(statusAfter.stderr)")
        func figures(_ json: String) throws -> [String] {
            let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
            let storage = object["storage"] as? [String: Any] ?? [:]
            let queue = object["queue"] as? [String: Any] ?? [:]
            let states = (queue["states"] as? [String: Any] ?? [:]).map { "\($0.key)=\($0.value)" }.sorted()
            return ["\(storage["documents"] ?? "-")", "\(storage["versions"] ?? "-")", states.joined(separator: ",")]
        }
        #expect(try figures(statusAfter.stdout) == figures(statusBefore.stdout), "\(statusAfter.stdout)")
        #expect(try figures(statusAfter.stdout)[0] == "4")

        // New rows on PostgreSQL take new ids: a new version and a new document, their jobs
        // run by a daemon on the moved catalog.
        let queue = JobQueue(catalog: Catalog(database: try PostgresDatabase(url: url)), settings: JobsSettings())
        let highestJob = jobsBefore.map(\.id).max() ?? 0
        let highestEvent = try queue.catalog.database.read { tx in try tx.query("SELECT max(seq) FROM events")[0].int(0) }
        let notes = try dir.write("notes.md", "# Notes\n\nVersion 4, written after the move.\n")
        let ingested = try depot(["ingest", "--config", config, "--collection", "documents", notes])
        #expect(ingested.status == 0, "\(ingested.stderr)")
        let server = try Server(root: root.path, arguments: ["--config", config])
        try root.drop("documents/after.md", Array("# After\n\nDropped on the PostgreSQL catalog.\n".utf8))
        let processed = waitUntil(seconds: 90) {
            let jobs = (try? queue.jobs(oldestFirst: true)) ?? []
            let paths = (try? queue.catalog.documents(collection: "documents").map(\.path)) ?? []
            return paths.contains("after.md") && jobs.allSatisfy { $0.state.isFinished }
        }
        #expect(processed, "\(server.stderr.suffix(3000))")
        server.signal(SIGTERM)
        #expect(server.wait() == 0, "\(server.stderr.suffix(3000))")
        let jobsAfter = try queue.jobs(oldestFirst: true)
        let newJobs = jobsAfter.filter { $0.id > highestJob }
        #expect(jobsAfter.count == jobsBefore.count + newJobs.count)
        #expect(newJobs.contains { $0.kind == "extract" && $0.state == .succeeded }, "\(newJobs.map { "\($0.kind) \($0.state)" })")
        #expect(newJobs.allSatisfy { $0.state == .succeeded || $0.state == .skipped }, "\(newJobs.map { "\($0.kind) \($0.state) \($0.lastError ?? "")" })")
        let newEvents = try queue.catalog.database.read { tx in
            try tx.query("SELECT count(*) FROM events WHERE seq > ?", [.integer(highestEvent)])[0].int(0)
        }
        #expect(newEvents > 0)
        let paths = try queue.catalog.documents(collection: "documents").map(\.path).sorted()
        #expect(paths == ["after.md", "notes.md", "physics/week1/slides.md", "plan.md", "todo.txt"])
        #expect(try queue.catalog.versions(collection: "documents", path: "notes.md").count == 4)
    }

    @Test func aMigrationKilledMidCopyCarriesOnToTheSameCopy() throws {
        let root = try Self.populatedRoot(processed: true)
        let url = try Self.newDatabase()
        // Two rows a transaction: the copy is many batches; it dies inside the 7th, uncommitted.
        let killed = try runBlocking("/usr/bin/env", ["DEPOT_TEST_MIGRATE_KILL_IN_BATCH=7", depotBinary, "migrate", "--root", root.path,
                                                      "--to", url, "--batch", "2"])
        #expect(killed.status == SIGKILL, "\(killed.output)")
        let target = try PostgresDatabase(url: url)
        let (copiedRows, doneTables) = try target.read { tx in
            let row = try tx.query("SELECT sum(rows_copied), sum(done) FROM catalog_copy_tables")[0]
            return (row.int(0), row.int(1))
        }
        #expect(copiedRows > 0)
        let tableCount = try Self.tables(of: target).count
        #expect(doneTables < tableCount)

        // Killed again, later, by a run that carried on from there.
        let again = try runBlocking("/usr/bin/env", ["DEPOT_TEST_MIGRATE_KILL_IN_BATCH=9", depotBinary, "migrate", "--root", root.path,
                                                     "--to", url, "--batch", "2"])
        #expect(again.status == SIGKILL, "\(again.output)")
        #expect(again.stderr.contains("carrying on the copy"), "\(again.stderr)")
        // Each committed batch copies rows or ends a table: eight more of them.
        let progressAgain = try target.read { tx in try tx.query("SELECT sum(rows_copied) + sum(done) FROM catalog_copy_tables")[0].int(0) }
        #expect(progressAgain >= copiedRows + doneTables + 8)

        let resumed = try depot(["migrate", "--root", root.path, "--to", url, "--batch", "3"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.stderr.contains("carrying on the copy"), "\(resumed.stderr)")
        try Self.expectIdentical(root, url: url)

        // Run once more, it checks the finished copy again and changes nothing.
        let checked = try depot(["migrate", "--root", root.path, "--to", url])
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.stderr.contains("checking it again"), "\(checked.stderr)")
        try Self.expectIdentical(root, url: url)

        // And the moved catalog takes new rows.
        let dir = TemporaryDirectory()
        let config = try Self.postgresConfig(root, url: url, in: dir)
        let file = try dir.write("later.md", "# Later\n")
        let ingested = try depot(["ingest", "--config", config, "--collection", "documents", file])
        #expect(ingested.status == 0, "\(ingested.stderr)")
    }

    @Test func aCopyChangedBetweenRunsIsReported() throws {
        let root = try Self.populatedRoot(processed: false)
        let url = try Self.newDatabase()
        let killed = try runBlocking("/usr/bin/env", ["DEPOT_TEST_MIGRATE_KILL_IN_BATCH=12", depotBinary, "migrate", "--root", root.path,
                                                      "--to", url, "--batch", "2"])
        #expect(killed.status == SIGKILL, "\(killed.output)")
        // A row the killed run had copied is changed on the target.
        let target = try PostgresDatabase(url: url)
        let done = try target.read { tx in try tx.query("SELECT name FROM catalog_copy_tables WHERE done = 1").map { $0.text(0) } }
        let tableCount = try Self.tables(of: target).count
        #expect(done.contains("blobs") && done.count < tableCount, "\(done) \(killed.stderr)")
        let changed = try target.write { tx in try tx.execute("UPDATE blobs SET size = size + 1 WHERE digest = (SELECT min(digest) FROM blobs)") }
        #expect(changed == 1)
        let resumed = try depot(["migrate", "--root", root.path, "--to", url])
        #expect(resumed.status == 65, "\(resumed.output)")
        #expect(resumed.stderr.contains("table blobs") && resumed.stderr.contains("size is"), "\(resumed.stderr)")
        #expect(!resumed.stdout.contains("[catalog]"))

        // Once moved, a copy whose rows were changed since is not passed either.
        let url2 = try Self.newDatabase()
        let moved = try depot(["migrate", "--root", root.path, "--to", url2])
        #expect(moved.status == 0, "\(moved.output)")
        let second = try PostgresDatabase(url: url2)
        _ = try second.write { tx in try tx.execute("UPDATE documents SET path = 'renamed.md' WHERE path = 'plan.md'") }
        let rechecked = try depot(["migrate", "--root", root.path, "--to", url2])
        #expect(rechecked.status == 65, "\(rechecked.output)")
        #expect(rechecked.stderr.contains("table documents") && rechecked.stderr.contains("'plan.md'"), "\(rechecked.stderr)")
        // A row added on the target: the counts differ.
        _ = try second.write { tx in try tx.execute("UPDATE documents SET path = 'plan.md' WHERE path = 'renamed.md'") }
        _ = try second.write { tx in try tx.execute("INSERT INTO tags(name) VALUES('extra')") }
        let counted = try depot(["migrate", "--root", root.path, "--to", url2])
        #expect(counted.status == 65, "\(counted.output)")
        #expect(counted.stderr.contains("table tags has"), "\(counted.stderr)")
    }

    @Test func aTargetHoldingSomethingElseIsRefusedAndSoIsARunningDaemon() throws {
        let root = try Self.populatedRoot(processed: false)
        let other = try Self.populatedRoot(processed: false)

        // A database that is another depot's catalog already.
        let dir = TemporaryDirectory()
        let url = try Self.newDatabase()
        let config = try Self.postgresConfig(other, url: url, in: dir)
        let initialised = try depot(["ls", "--config", config])  // opening it makes the schema
        #expect(initialised.status == 0, "\(initialised.stderr)")
        let refused = try depot(["migrate", "--root", root.path, "--to", url])
        #expect(refused.status == 69, "\(refused.output)")
        #expect(refused.stderr.contains("is not empty") && refused.stderr.contains("a depot catalog already"), "\(refused.stderr)")
        let target = try PostgresDatabase(url: url)
        #expect(try !Self.tables(of: target).isEmpty)
        let marker = try target.read { tx in
            try tx.query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'catalog_copy'")[0].int(0)
        }
        #expect(marker == 0)

        // A database holding a partial copy of another root's catalog.
        let partial = try Self.newDatabase()
        let killed = try runBlocking("/usr/bin/env", ["DEPOT_TEST_MIGRATE_KILL_IN_BATCH=3", depotBinary, "migrate", "--root", other.path,
                                                      "--to", partial, "--batch", "2"])
        #expect(killed.status == SIGKILL, "\(killed.output)")
        let before = try PostgresDatabase(url: partial).read { tx in try tx.query("SELECT sum(rows_copied) FROM catalog_copy_tables")[0].int(0) }
        let another = try depot(["migrate", "--root", root.path, "--to", partial])
        #expect(another.status == 69, "\(another.output)")
        #expect(another.stderr.contains("a copy of another catalog") && another.stderr.contains(other.layout.catalog), "\(another.stderr)")
        let after = try PostgresDatabase(url: partial).read { tx in try tx.query("SELECT sum(rows_copied) FROM catalog_copy_tables")[0].int(0) }
        #expect(after == before)
        // Its own root carries on there.
        let own = try depot(["migrate", "--root", other.path, "--to", partial])
        #expect(own.status == 0, "\(own.output)")

        // Not while depot serve runs on the root: nothing is written to the target.
        let server = try root.serve()
        let pid = "\(server.process.processIdentifier)"
        let locked = waitUntil(seconds: 30) {
            ((try? String(contentsOfFile: root.layout.state + "/serve.lock", encoding: .utf8)) ?? "").hasPrefix(pid)
        }
        #expect(locked, "\(server.stderr)")
        let empty = try Self.newDatabase()
        let busy = try depot(["migrate", "--root", root.path, "--to", empty])
        #expect(busy.status == 69, "\(busy.output)")
        #expect(busy.stderr.contains("cannot migrate now") && busy.stderr.contains("pid \(pid)"), "\(busy.stderr)")
        #expect(try Self.tables(of: PostgresDatabase(url: empty)).isEmpty)
        server.signal(SIGTERM)
        #expect(server.wait() == 0, "\(server.stderr.suffix(3000))")

        // A root whose config has the catalog on PostgreSQL already is not migrated again.
        let again = try depot(["migrate", "--config", config, "--to", empty])
        #expect(again.status == 78, "\(again.output)")
    }
}
