import DepotCore
import DepotStore

/// The catalog database backends the contract suites run against: every owner's API must
/// behave the same on each (SQLite in a file and in memory now; PostgreSQL joins this list).
public enum CatalogBackend: String, CaseIterable, Sendable {
    case sqliteFile = "sqlite-file"
    case sqliteMemory = "sqlite-memory"

    /// A fresh database with these owners' tables.
    public func make(in dir: TemporaryDirectory, migrations: [CatalogMigration]) throws -> any CatalogDatabase {
        let database: SQLiteDatabase
        switch self {
        case .sqliteFile: database = try SQLiteDatabase(path: dir.path + "/catalog.sqlite3")
        case .sqliteMemory: database = try SQLiteDatabase(path: ":memory:")
        }
        try database.migrate(migrations)
        return database
    }
}

extension CatalogBackend: CustomStringConvertible {
    public var description: String { rawValue }
}
