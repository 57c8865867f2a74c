/// The SQL a backend speaks. depot's statements are written in the part both share
/// (`?` placeholders, `ON CONFLICT … DO NOTHING/UPDATE`, `RETURNING`, no `INSERT OR IGNORE`, no
/// `group_concat`); a backend turns the placeholders into its own and may ask for its own DDL.
public enum SQLDialect: String, Sendable, Equatable {
    case sqlite
    case postgres
}

/// A value bound to or read from the database.
public enum SQLValue: Hashable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    /// An optional integer, NULL when nil.
    public static func int(_ value: Int64?) -> SQLValue { value.map { .integer($0) } ?? .null }
    public static func int(_ value: Int?) -> SQLValue { value.map { .integer(Int64($0)) } ?? .null }
    /// An optional text, NULL when nil.
    public static func string(_ value: String?) -> SQLValue { value.map { .text($0) } ?? .null }
}

extension SQLValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
}

/// One result row.
public struct Row: Sendable {
    public var values: [SQLValue] = []

    public init(values: [SQLValue] = []) { self.values = values }

    public func int(_ i: Int) -> Int64 {
        switch values[i] {
        case .integer(let v): return v
        case .real(let v): return Int64(v)
        default: return 0
        }
    }

    public func optionalInt(_ i: Int) -> Int64? {
        if case .integer(let v) = values[i] { return v }
        return nil
    }

    public func text(_ i: Int) -> String {
        if case .text(let v) = values[i] { return v }
        return ""
    }

    public func optionalText(_ i: Int) -> String? {
        if case .text(let v) = values[i] { return v }
        return nil
    }

    public func real(_ i: Int) -> Double {
        switch values[i] {
        case .real(let v): return v
        case .integer(let v): return Double(v)
        default: return 0
        }
    }
}

/// One transaction on the catalog database, handed to every owner's API so that changes of
/// several owners (a version, its jobs, its events) commit together or not at all, whatever
/// the backend. Used by the thread that opened it, inside `read`/`write` only.
public protocol CatalogTransaction: AnyObject {
    var dialect: SQLDialect { get }
    /// Runs a statement with `?` placeholders and returns its rows.
    @discardableResult
    func query(_ sql: String, _ values: [SQLValue]) throws -> [Row]
    /// Runs a statement that returns no rows; returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ values: [SQLValue]) throws -> Int
    /// Set when the transaction appended to the event log: once it commits, the backend wakes
    /// this process's followers of the log (`EventLog.commits`).
    var appendedEvents: Bool { get set }
    /// Wakes the waiters on `channel` (`CatalogDatabase.wakeups`) once this transaction
    /// commits; nothing when it rolls back. A channel is a-z, 0-9 and _.
    func notify(_ channel: String) throws
}

extension CatalogTransaction {
    @discardableResult
    public func query(_ sql: String) throws -> [Row] { try query(sql, []) }
    @discardableResult
    public func execute(_ sql: String) throws -> Int { try execute(sql, []) }
}

/// Why the database could not do what was asked.
public struct CatalogError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        /// Another writer held the database too long.
        case busy
        /// The disk is full or failed under the database.
        case io
        /// A constraint refused the change (a unique name taken, a row still referenced).
        case constraint
        /// The database refused or failed the statement.
        case failed
        /// The schema is from a newer depot, or a migration cannot be applied.
        case schema
        /// A transaction was opened inside another on the same connection.
        case nested
    }

    public let value: Value
    public let message: String

    public init(_ value: Value, _ message: String) {
        self.value = value
        self.message = message
    }

    public var description: String { message }
    /// Worth trying again later (another writer, a lock).
    public var isTransient: Bool { value == .busy || value == .io }
}

/// Tables of one part of depot, applied once by name. Every owner lists its own; the
/// database applies the names it has not applied yet, in the order given.
public struct CatalogMigration: Sendable {
    /// Unique and stable, e.g. "jobs-2"; a released migration is never edited.
    public let name: String
    /// The DDL for SQLite; `postgres` when that backend's differs (nil: the same text).
    public let sqlite: String
    public let postgres: String?

    public init(name: String, sqlite: String, postgres: String? = nil) {
        self.name = name
        self.sqlite = sqlite
        self.postgres = postgres
    }

    public func sql(for dialect: SQLDialect) -> String {
        dialect == .postgres ? (postgres ?? sqlite) : sqlite
    }
}

/// The catalog's database: SQLite (`SQLiteDatabase`, the default) or PostgreSQL
/// (`PostgresDatabase`). Each part of depot that keeps tables here reaches them only through its owner's
/// API, which takes a `CatalogTransaction`; only `read` and `write` open one.
public protocol CatalogDatabase: AnyObject, Sendable {
    var dialect: SQLDialect { get }
    /// Where it is, for messages ("state/catalog.sqlite3").
    var location: String { get }
    /// Runs `body` in a transaction that sees one consistent state and writes nothing.
    func read<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T
    /// Runs `body` in one write transaction: committed when it returns, rolled back when it throws.
    func write<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T
    /// Applies, in order, the migrations not applied yet.
    /// - Throws: `CatalogError.schema` when the database has migrations this depot does not know.
    func migrate(_ migrations: [CatalogMigration]) throws
    /// Whether the database answers at all (for /readyz).
    func ping() -> Bool
    /// A lock that one process at a time holds among all those using this database, for work
    /// that must not run twice at once (the event dispatcher). Named: different names are
    /// different locks. Takes nothing until its `hold()`.
    func clusterLock(named name: String) -> any ClusterLock
    /// Ticks when a transaction that said `notify(channel)` commits: on SQLite one of this
    /// process's, on PostgreSQL one of any process on the database.
    func wakeups(_ channel: String) -> CommitSignal
}
