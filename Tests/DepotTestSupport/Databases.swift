import DepotCore
import DepotStore

/// The catalog database backends the contract suites run against: every owner's API must
/// behave the same on each: SQLite in a file and in memory, and PostgreSQL (a fresh database
/// on the test process's throw-away cluster, `PostgresCluster`; the suites fail, not skip,
/// when PostgreSQL is not installed).
public enum CatalogBackend: String, CaseIterable, Sendable {
    case sqliteFile = "sqlite-file"
    case sqliteMemory = "sqlite-memory"
    case postgres

    /// A fresh database with these owners' tables.
    public func make(in dir: TemporaryDirectory, migrations: [CatalogMigration]) throws -> any CatalogDatabase {
        let database: any CatalogDatabase
        switch self {
        case .sqliteFile: database = try SQLiteDatabase(path: dir.path + "/catalog.sqlite3")
        case .sqliteMemory: database = try SQLiteDatabase(path: ":memory:")
        case .postgres:
            let cluster = try PostgresCluster.shared()
            database = try PostgresDatabase(url: cluster.url(database: try cluster.createDatabase()))
        }
        try database.migrate(migrations)
        return database
    }
}

extension CatalogBackend: CustomStringConvertible {
    public var description: String { rawValue }
}

extension CatalogBackend {
    /// Another connection (pool) to the same database as `database`, as a second process
    /// would open it; nil for an in-memory SQLite database, which no one else can open.
    public func reopen(_ database: any CatalogDatabase) throws -> (any CatalogDatabase)? {
        switch self {
        case .sqliteFile: return try SQLiteDatabase(path: database.location)
        case .sqliteMemory: return nil
        case .postgres: return try PostgresDatabase(url: database.location)
        }
    }
}
