import DepotCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The catalog on a PostgreSQL server, for depot on more than one machine (issue 18).
///
/// A small pool of connections: each `read`/`write` takes one for the whole transaction, on
/// the thread that opened it, and gives it back after. Writes run SERIALIZABLE and are run
/// again when PostgreSQL reports that a concurrent transaction won (40001, 40P01): their
/// result is that of some one-at-a-time order, as on SQLite, whose writers take turns
/// (docs/DECISIONS.md, "PostgreSQL catalog").
public final class PostgresDatabase: CatalogDatabase, @unchecked Sendable {
    // @unchecked: `idle` and `holders` are behind Mutexes; `slots` is a semaphore.
    private let idle = Mutex<[PostgresConnection]>([])
    private let slots: DispatchSemaphore
    /// The threads inside read/write, to refuse a transaction nested in another.
    private let holders = Mutex<Set<UInt>>([])
    /// The LISTEN sessions of `wakeups(_:)`, by channel.
    let listeners = Mutex<[String: PostgresListener]>([:])
    let conninfo: String
    public let location: String
    public var dialect: SQLDialect { .postgres }
    /// How many times a write that lost to a concurrent one is run, in all.
    public let attempts: Int

    /// Connects to the server at `url` (a libpq URI, "postgres://user@host:port/db?…", or a
    /// "key=value" connection string).
    /// - Parameters:
    ///   - connections: at most this many open at once (one per transaction in progress).
    /// - Throws: `CatalogError.io` when the server cannot be reached.
    public init(url: String, connections: Int = 4, attempts: Int = 50) throws {
        conninfo = url
        location = Self.redacted(url)
        slots = DispatchSemaphore(value: max(1, connections))
        self.attempts = max(1, attempts)
        // Connect once now, so that a wrong URL is reported where it is configured.
        let first = try PostgresConnection(conninfo: url, location: location)
        idle.withLock { $0.append(first) }
    }

    /// The URL without its password, for messages and `depot status`.
    static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else {
            return url.replacing(/password=\S*/, with: "password=…")
        }
        let userinfo = url[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":…" + String(url[at...])
    }

    public func read<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T {
        // REPEATABLE READ: one snapshot for the whole transaction, as a SQLite read sees.
        try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", retries: 1, body)
    }

    public func write<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL SERIALIZABLE", retries: attempts, body)
    }

    private func transaction<T>(begin: String, retries: Int, _ body: (any CatalogTransaction) throws -> T) throws -> T {
        let me = UInt(pthread_self())
        guard holders.withLock({ $0.insert(me).inserted }) else {
            throw CatalogError(.nested, "a catalog transaction was opened inside another on the same thread")
        }
        defer { _ = holders.withLock { $0.remove(me) } }
        return try withConnection { db in
            var attempt = 1
            while true {
                do {
                    return try once(begin: begin, on: db, body)
                } catch let error as CatalogError where error.value == .busy && attempt < retries {
                    // Another transaction committed first: wait a little (more each time,
                    // jittered so that two losers do not meet again) and run it again.
                    let ceiling = min(100_000, 500 << min(attempt, 8))
                    usleep(UInt32.random(in: UInt32(ceiling / 2)...UInt32(ceiling)))
                    attempt += 1
                }
            }
        }
    }

    private func once<T>(begin: String, on db: PostgresConnection, _ body: (any CatalogTransaction) throws -> T) throws -> T {
        do {
            try db.executeScript(begin)
        } catch let error as CatalogError where error.value == .io && db.isBroken {
            // A connection that waited in the pool while the server restarted (or ended its
            // session) fails at its first statement; libpq only learns then that it is gone.
            // Nothing was done yet, so it connects again and begins anew, once.
            try db.ensureConnected()
            try db.executeScript(begin)
        }
        let tx = PostgresTransaction(db)
        defer { tx.connection = nil }
        do {
            let result = try body(tx)
            // After a failed statement PostgreSQL ignores the rest and turns COMMIT into a
            // rollback; the caller must hear of the failure even if it caught the error.
            if let failure = tx.failure { throw failure }
            try db.executeScript("COMMIT")
            if tx.appendedEvents { EventLog.commits.signal() }
            return result
        } catch {
            if !db.isBroken { try? db.executeScript("ROLLBACK") }
            // What failed first, not the "transaction is aborted" of the statements after it.
            if error is CatalogError, let failure = tx.failure { throw failure }
            throw error
        }
    }

    /// Runs `body` with a connection of the pool, connected (again) if it was lost.
    private func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        slots.wait()
        defer { slots.signal() }
        let db = try idle.withLock { $0.popLast() } ?? PostgresConnection(conninfo: conninfo, location: location)
        try db.ensureConnected()
        defer { if !db.isBroken { idle.withLock { $0.append(db) } } }
        return try body(db)
    }

    public func ping() -> Bool {
        (try? read { try $0.query("SELECT 1") }) != nil
    }

    /// Applies the migrations not applied yet, each in its own transaction, under an advisory
    /// lock so that two nodes starting at once do not both apply one.
    public func migrate(_ migrations: [CatalogMigration]) throws {
        let known = Set(migrations.map(\.name))
        try withConnection { db in
            for migration in [nil] + migrations.map(Optional.some) {
                try db.executeScript("BEGIN")
                do {
                    // pg_advisory_xact_lock: held until this transaction ends. The key is
                    // depot's own ("depot" in ASCII), so other users of the database are unaffected.
                    try db.executeScript("SELECT pg_advisory_xact_lock(\(Self.migrationLock))")
                    try db.executeScript("""
                        CREATE TABLE IF NOT EXISTS schema_migrations(name TEXT PRIMARY KEY, applied_at_ns BIGINT NOT NULL)
                        """)
                    let applied = Set(try db.run("SELECT name FROM schema_migrations", []).rows.map { $0.text(0) })
                    let unknown = applied.subtracting(known).sorted()
                    guard unknown.isEmpty else {
                        throw CatalogError(.schema, "\(location) was written by a newer depot (it has \(unknown.joined(separator: ", ")), "
                                           + "which this one does not know): upgrade depot")
                    }
                    if let migration, !applied.contains(migration.name) {
                        try db.executeScript(migration.sql(for: .postgres))
                        try db.run("INSERT INTO schema_migrations(name, applied_at_ns) VALUES($1, $2)",
                                   [.text(migration.name), .integer(wallClockNanoseconds())])
                    }
                    try db.executeScript("COMMIT")
                } catch {
                    if !db.isBroken { try? db.executeScript("ROLLBACK") }
                    if let error = error as? CatalogError, error.value != .schema, let migration {
                        throw CatalogError(error.value, "migration \(migration.name): \(error.message)")
                    }
                    throw error
                }
            }
        }
    }

    private static let migrationLock: Int64 = 0x6465706f74
}

/// A transaction on one PostgreSQL connection; dead once its `read`/`write` returns.
final class PostgresTransaction: CatalogTransaction {
    var connection: PostgresConnection?
    var appendedEvents = false
    /// The first statement that failed: the transaction is lost after it.
    private(set) var failure: CatalogError?

    init(_ connection: PostgresConnection) { self.connection = connection }

    var dialect: SQLDialect { .postgres }

    private func run(_ sql: String, _ values: [SQLValue]) throws -> (rows: [Row], changed: Int) {
        guard let connection else { throw CatalogError(.failed, "a catalog transaction was used after it ended") }
        do {
            return try connection.run(postgresPlaceholders(sql), values)
        } catch let error as CatalogError {
            if failure == nil { failure = error }
            throw error
        }
    }

    func query(_ sql: String, _ values: [SQLValue]) throws -> [Row] {
        try run(sql, values).rows
    }

    func execute(_ sql: String, _ values: [SQLValue]) throws -> Int {
        try run(sql, values).changed
    }

    /// NOTIFY is transactional: the server sends it at COMMIT, to every listening session of
    /// this database (this process's listener included), and never for a rollback.
    func notify(_ channel: String) throws {
        try checkChannel(channel)
        _ = try run("SELECT pg_notify(?, '')", [.text(channel)])
    }
}
