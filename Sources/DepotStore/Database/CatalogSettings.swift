import DepotCore

/// `[catalog]`: where the catalog's database is. By default the SQLite file in the root's
/// state folder; `url = "postgres://user@host:5432/depot"` puts it on a PostgreSQL server,
/// which several depot nodes can share.
public struct CatalogSettings: ConfigSection {
    public static let key = "catalog"
    /// A PostgreSQL URL or libpq connection string; empty: the root's SQLite file.
    public var url: String = ""

    public init() {}

    public init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["url"])
        if let v = try r.string("url") {
            guard v.isEmpty || v.hasPrefix("postgres://") || v.hasPrefix("postgresql://") else {
                throw r.fail("url", "must be a postgres:// or postgresql:// URL, or empty for the root's SQLite file")
            }
            url = v
        }
    }

    /// The catalog's database as these settings say: on the PostgreSQL server of `url`, or
    /// in the SQLite file at `sqlitePath`.
    public func open(sqlitePath: String, durability: SQLiteDatabase.Durability = .full) throws -> any CatalogDatabase {
        if url.isEmpty { return try SQLiteDatabase(path: sqlitePath, durability: durability) }
        // PostgreSQL commits are durable when they return whatever the durability asked
        // (synchronous_commit is the server's setting).
        return try PostgresDatabase(url: url)
    }
}
