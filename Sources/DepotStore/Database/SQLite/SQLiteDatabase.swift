import DepotCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The catalog in one SQLite database file (WAL, foreign keys): the embedded default.
///
/// One connection, used under a lock: `depot serve` opens one of these per part (ingest, job
/// runner, outbox, HTTP) so that they take turns only at SQLite's write lock, and WAL lets
/// readers go on beside a writer.
public final class SQLiteDatabase: CatalogDatabase, @unchecked Sendable {
    // @unchecked: `connection` is only touched inside `connection.withLock`; `holder` is atomic.
    private let connection: Mutex<SQLiteConnection>
    /// The thread inside read/write, to refuse a transaction nested in another (a deadlock).
    private let holder = Atomic<UInt>(0)
    public let path: String
    public var dialect: SQLDialect { .sqlite }
    public var location: String { path }

    /// How durable each commit is. `full`: on disk when `write` returns (the ingest, which
    /// removes an inbox file after its commit). `normal`: atomic and in order, made durable by
    /// the next full commit or checkpoint (the job runner's many small transactions).
    public enum Durability: Sendable { case full, normal }

    /// Opens (creating if needed) the catalog at `path` (":memory:" for one in memory).
    public init(path: String, durability: Durability = .full) throws {
        self.path = path
        let db = try SQLiteConnection(path: path)
        // WAL lets `depot ls` read while `depot serve` writes; synchronous=FULL makes each
        // commit durable before it returns (the inbox copy is removed only after that).
        if path != ":memory:" { try db.query("PRAGMA journal_mode=WAL") }
        try db.executeScript("PRAGMA synchronous=\(durability == .full ? "FULL" : "NORMAL"); PRAGMA foreign_keys=ON;")
        connection = Mutex(db)
    }

    public func read<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN", body)
    }

    public func write<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T {
        // BEGIN IMMEDIATE: the write lock is taken up front, so two writers never deadlock on
        // an upgrade from a read lock.
        try transaction(begin: "BEGIN IMMEDIATE", body)
    }

    private func transaction<T>(begin: String, _ body: (any CatalogTransaction) throws -> T) throws -> T {
        let me = UInt(pthread_self())
        guard holder.load(ordering: .acquiring) != me else {
            throw CatalogError(.nested, "a catalog transaction was opened inside another on the same connection")
        }
        return try connection.withLock { db in
            holder.store(me, ordering: .releasing)
            defer { holder.store(0, ordering: .releasing) }
            try db.executeScript(begin)
            let tx = SQLiteTransaction(db)
            defer { tx.connection = nil }
            do {
                let result = try body(tx)
                try db.executeScript("COMMIT")
                if tx.appendedEvents { EventLog.commits.signal() }
                for channel in tx.notified { LocalWakeups.signal(location: location, channel: channel).signal() }
                return result
            } catch {
                try? db.executeScript("ROLLBACK")
                throw error
            }
        }
    }

    public func ping() -> Bool {
        (try? read { try $0.query("SELECT 1") }) != nil
    }

    public func migrate(_ migrations: [CatalogMigration]) throws {
        try connection.withLock { db in
            try db.executeScript("CREATE TABLE IF NOT EXISTS schema_migrations(name TEXT PRIMARY KEY, applied_at_ns INTEGER NOT NULL)")
            let applied = Set(try db.query("SELECT name FROM schema_migrations").map { $0.text(0) })
            let known = Set(migrations.map(\.name))
            let unknown = applied.subtracting(known).sorted()
            guard unknown.isEmpty else {
                throw CatalogError(.schema, "\(path) was written by a newer depot (it has \(unknown.joined(separator: ", ")), "
                                   + "which this one does not know): upgrade depot")
            }
            for migration in migrations where !applied.contains(migration.name) {
                // Some migrations rebuild a table (SQLite cannot alter a CHECK): the foreign
                // keys are off while they run and checked before the commit.
                try db.executeScript("PRAGMA foreign_keys=OFF")
                defer { try? db.executeScript("PRAGMA foreign_keys=ON") }
                try db.executeScript("BEGIN IMMEDIATE")
                do {
                    try db.executeScript(migration.sql(for: .sqlite))
                    let broken = try db.query("PRAGMA foreign_key_check")
                    guard broken.isEmpty else {
                        throw CatalogError(.schema, "migration \(migration.name) leaves rows that refer to nothing")
                    }
                    try db.query("INSERT INTO schema_migrations(name, applied_at_ns) VALUES(?, ?)",
                                 [.text(migration.name), .integer(wallClockNanoseconds())])
                    try db.executeScript("COMMIT")
                } catch {
                    try? db.executeScript("ROLLBACK")
                    throw error
                }
            }
        }
    }
}

/// A transaction on one SQLite connection; dead once its `read`/`write` returns.
final class SQLiteTransaction: CatalogTransaction {
    var connection: SQLiteConnection?
    var appendedEvents = false
    /// The channels to wake once this transaction commits.
    var notified: Set<String> = []

    func notify(_ channel: String) throws {
        try checkChannel(channel)
        notified.insert(channel)
    }

    init(_ connection: SQLiteConnection) { self.connection = connection }

    var dialect: SQLDialect { .sqlite }

    private func live() throws -> SQLiteConnection {
        guard let connection else { throw CatalogError(.failed, "a catalog transaction was used after it ended") }
        return connection
    }

    func query(_ sql: String, _ values: [SQLValue]) throws -> [Row] {
        try live().query(sql, values)
    }

    func execute(_ sql: String, _ values: [SQLValue]) throws -> Int {
        let db = try live()
        try db.query(sql, values)
        return db.changes
    }
}
