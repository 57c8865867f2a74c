import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Synchronization
import Testing

/// What only the PostgreSQL backend does: placeholders, its errors as catalog errors, retried
/// conflicts, lost connections. The behaviour both backends share is in the contract suites.
@Suite struct PostgresDatabaseTests {
    func fresh() throws -> PostgresDatabase {
        let cluster = try PostgresCluster.shared()
        let database = try PostgresDatabase(url: cluster.url(database: try cluster.createDatabase()))
        try database.migrate([CatalogMigration(name: "t-1", sqlite: "CREATE TABLE t(k TEXT PRIMARY KEY, n INTEGER NOT NULL)",
                                               postgres: "CREATE TABLE t(k TEXT PRIMARY KEY, n BIGINT NOT NULL)")])
        return database
    }

    @Test func placeholdersInQuotesAndCommentsAreText() {
        #expect(postgresPlaceholders("SELECT ?, '?', 'it''s ?', \"a?\" -- why?\n, ? /* ? */ FROM t WHERE x = ?")
                == "SELECT $1, '?', 'it''s ?', \"a?\" -- why?\n, $2 /* ? */ FROM t WHERE x = $3")
        #expect(postgresPlaceholders("SELECT 3-1, 4/2, ?") == "SELECT 3-1, 4/2, $1")
    }

    @Test func valuesComeBackAsTheKindsSQLiteGives() throws {
        let database = try fresh()
        let row = try database.read { tx in
            try tx.query("SELECT ?, ?, ?, NULL, 1 = 1, sum(x), count(*) FROM (VALUES (CAST(5000000000 AS BIGINT))) v(x)",
                         [.integer(1_700_000_000_000_000_000), .real(0.25), .text("évé ?")])[0]
        }
        #expect(row.values == [.integer(1_700_000_000_000_000_000), .real(0.25), .text("évé ?"), .null, .integer(1),
                               .integer(5_000_000_000), .integer(1)])
    }

    @Test func aTakenKeyIsAConstraintErrorAndAFailedStatementFailsTheTransaction() throws {
        let database = try fresh()
        try database.write { tx in try tx.execute("INSERT INTO t(k, n) VALUES(?, ?)", ["a", 1]) }
        let taken = #expect(throws: CatalogError.self) {
            try database.write { tx in try tx.execute("INSERT INTO t(k, n) VALUES(?, ?)", ["a", 2]) }
        }
        #expect(taken?.value == .constraint)
        // Caught inside the body, the failure still ends the transaction without its changes.
        let caught = #expect(throws: CatalogError.self) {
            try database.write { tx in
                try tx.execute("INSERT INTO t(k, n) VALUES(?, ?)", ["b", 1])
                _ = try? tx.execute("INSERT INTO t(k, n) VALUES(?, ?)", ["a", 3])
            }
        }
        #expect(caught?.value == .constraint)
        #expect(try database.read { try $0.query("SELECT k, n FROM t ORDER BY k") }.map { $0.values } == [[.text("a"), .integer(1)]])
    }

    @Test func aTransactionInsideAnotherIsRefused() throws {
        let database = try fresh()
        let nested = #expect(throws: CatalogError.self) {
            try database.write { _ in try database.read { _ in 1 } }
        }
        #expect(nested?.value == .nested)
    }

    @Test func concurrentReadModifyWritesLoseNoUpdate() throws {
        // Read n, write n + 1, from 4 threads on 2 databases: as on SQLite, the result is that
        // of one increment after another (SERIALIZABLE, the losers run again).
        let database = try fresh()
        let other = try PostgresDatabase(url: database.location)
        try database.write { tx in try tx.execute("INSERT INTO t(k, n) VALUES('c', 0)") }
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        for t in 0..<4 {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                let db = t % 2 == 0 ? database : other
                for _ in 0..<25 {
                    do {
                        try db.write { tx in
                            let n = try tx.query("SELECT n FROM t WHERE k = 'c'")[0].int(0)
                            try tx.execute("UPDATE t SET n = ? WHERE k = 'c'", [.integer(n + 1)])
                        }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        #expect(failures.withLock { $0 } == [])
        #expect(try database.read { try $0.query("SELECT n FROM t WHERE k = 'c'")[0].int(0) } == 100)
    }

    @Test func aLostConnectionIsAnIOErrorAndTheNextTransactionConnectsAgain() throws {
        let database = try fresh()
        let admin = try PostgresDatabase(url: database.location)
        let lost = #expect(throws: CatalogError.self) {
            try database.write { tx in
                let pid = try tx.query("SELECT pg_backend_pid()")[0].int(0)
                // The server ends this session, as a restart or a failover would.
                try admin.write { admin in try admin.query("SELECT pg_terminate_backend(CAST(? AS INTEGER))", [.integer(pid)]) }
                try tx.execute("INSERT INTO t(k, n) VALUES('d', 1)")
            }
        }
        #expect(lost?.value == .io, "\(lost.map { "\($0)" } ?? "")")
        #expect(lost?.isTransient == true)
        try database.write { tx in try tx.execute("INSERT INTO t(k, n) VALUES('d', 2)") }
        #expect(try database.read { try $0.query("SELECT n FROM t WHERE k = 'd'")[0].int(0) } == 2)
        #expect(database.ping())
    }

    @Test func anUnreachableServerIsAnIOError() throws {
        let cluster = try PostgresCluster.shared()
        let error = #expect(throws: CatalogError.self) {
            _ = try PostgresDatabase(url: "host=\(cluster.directory) port=1 user=depot dbname=postgres connect_timeout=2")
        }
        #expect(error?.value == .io)
    }

    @Test func theURLsPasswordStaysOutOfMessages() {
        #expect(PostgresDatabase.redacted("postgres://depot:s3cret@db:5432/depot") == "postgres://depot:…@db:5432/depot")
        #expect(PostgresDatabase.redacted("host=db password=s3cret dbname=depot") == "host=db password=… dbname=depot")
        #expect(PostgresDatabase.redacted("postgres://depot@db/depot") == "postgres://depot@db/depot")
    }
}
