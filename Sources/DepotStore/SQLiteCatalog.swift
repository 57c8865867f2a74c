import DepotCore
import Synchronization

/// Tables of another part of depot kept in the catalog database, applied once by name.
public struct CatalogMigration: Sendable {
    /// Unique and stable, e.g. "jobs-1"; a released migration is never edited.
    public let name: String
    public let sql: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }
}

/// The catalog in one SQLite database (WAL, foreign keys, numbered migrations).
///
/// `@unchecked Sendable`: the connection is only touched inside `connection.withLock`.
public final class SQLiteCatalog: Catalog, @unchecked Sendable {
    private let connection: Mutex<SQLiteConnection>
    public let path: String

    /// The schema, one migration per step; `PRAGMA user_version` is the number applied.
    /// Append only: a released migration is never edited.
    static let migrations: [String] = [
        """
        CREATE TABLE collections(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at_ns INTEGER NOT NULL);
        CREATE TABLE blobs(
            digest TEXT PRIMARY KEY CHECK(length(digest) = 64),
            size INTEGER NOT NULL,
            stored_at_ns INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE documents(
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES collections(id),
            path TEXT NOT NULL,
            current_version INTEGER NOT NULL DEFAULT 0,
            created_at_ns INTEGER NOT NULL,
            updated_at_ns INTEGER NOT NULL,
            UNIQUE(collection_id, path));
        CREATE TABLE versions(
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            number INTEGER NOT NULL,
            blob_digest TEXT NOT NULL REFERENCES blobs(digest),
            size INTEGER NOT NULL,
            source_mtime_ns INTEGER NOT NULL,
            ingested_at_ns INTEGER NOT NULL,
            origin TEXT NOT NULL,
            UNIQUE(document_id, number));
        CREATE INDEX versions_by_blob ON versions(blob_digest);
        CREATE TABLE tags(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE);
        CREATE TABLE document_tags(
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            tag_id INTEGER NOT NULL REFERENCES tags(id),
            PRIMARY KEY(document_id, tag_id)) WITHOUT ROWID;
        """,
        // 2: the event log (EventLog) and the artifacts processors make from a version.
        """
        CREATE TABLE events(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            timestamp_ns INTEGER NOT NULL,
            data TEXT NOT NULL);
        CREATE TABLE artifacts(
            id INTEGER PRIMARY KEY,
            version_id INTEGER NOT NULL REFERENCES versions(id),
            kind TEXT NOT NULL,
            mime_type TEXT NOT NULL,
            blob_digest TEXT NOT NULL REFERENCES blobs(digest),
            size INTEGER NOT NULL,
            producer TEXT NOT NULL,
            producer_version TEXT NOT NULL,
            created_at_ns INTEGER NOT NULL,
            UNIQUE(version_id, kind));
        CREATE INDEX artifacts_by_blob ON artifacts(blob_digest);
        """,
    ]

    /// Opens the catalog at `path` (":memory:" for one in memory), applying any pending migrations.
    /// - Parameters:
    ///   - modules: the tables of other parts of depot (the job queue, the HTTP server's
    ///     tokens) that live in the same database, so that their rows can be written in the
    ///     same transaction as a version. Each is applied once, by name, after the core schema.
    public init(path: String, modules: [CatalogMigration] = []) throws {
        self.path = path
        let db = try SQLiteConnection(path: path)
        // WAL lets `depot ls` read while `depot serve` writes; synchronous=FULL makes each
        // commit durable before it returns (the inbox copy is removed only after that).
        if path != ":memory:" { try db.query("PRAGMA journal_mode=WAL") }
        try db.execute("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        try Self.migrate(db)
        try Self.migrate(db, modules: modules)
        connection = Mutex(db)
    }

    /// Runs `body` with the connection, under the catalog's lock. For the modules whose
    /// tables live in the catalog (see `CatalogMigration`).
    public func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try connection.withLock { try body($0) }
    }

    /// Runs inside every `record` transaction, once per created version, so that what must
    /// follow a new version (a job, an event) commits together with it or not at all.
    public func onVersionCreated(_ hook: @escaping @Sendable (VersionInfo, SQLiteConnection) throws -> Void) {
        hooks.withLock { $0.append(hook) }
    }

    private let hooks = Mutex<[@Sendable (VersionInfo, SQLiteConnection) throws -> Void]>([])

    static func migrate(_ db: SQLiteConnection, modules: [CatalogMigration]) throws {
        guard !modules.isEmpty else { return }
        try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations(name TEXT PRIMARY KEY, applied_at_ns INTEGER NOT NULL)")
        for module in modules {
            let applied = try db.query("SELECT 1 FROM schema_migrations WHERE name = ?", [.text(module.name)])
            guard applied.isEmpty else { continue }
            try db.transaction {
                try db.execute(module.sql)
                try db.query("INSERT INTO schema_migrations(name, applied_at_ns) VALUES(?, ?)",
                             [.text(module.name), .integer(wallClockNanoseconds())])
            }
        }
    }

    /// The schema version this build writes.
    public static var schemaVersion: Int { migrations.count }

    static func migrate(_ db: SQLiteConnection) throws {
        let current = Int(try db.query("PRAGMA user_version")[0].int(0))
        guard current <= migrations.count else {
            throw SQLiteError(code: 0, message: "catalog schema \(current) is newer than this depot (\(migrations.count)); upgrade depot", sql: nil)
        }
        for (index, sql) in migrations.enumerated() where index >= current {
            try db.transaction {
                try db.execute(sql)
                try db.execute("PRAGMA user_version = \(index + 1)")
            }
        }
    }

    public func record(_ records: [IngestRecord]) throws -> [RecordOutcome] {
        try connection.withLock { db in
            try db.transaction {
                try records.map { try record($0, in: db) }
            }
        }
    }

    private func record(_ r: IngestRecord, in db: SQLiteConnection) throws -> RecordOutcome {
        let now = wallClockNanoseconds()
        try db.query("INSERT OR IGNORE INTO collections(name, created_at_ns) VALUES(?, ?)", [.text(r.collection), .integer(now)])
        let collectionID = try db.query("SELECT id FROM collections WHERE name = ?", [.text(r.collection)])[0].int(0)
        try db.query("INSERT OR IGNORE INTO blobs(digest, size, stored_at_ns) VALUES(?, ?, ?)",
                     [.text(r.digest.hex), .integer(r.size), .integer(now)])

        let existing = try db.query("SELECT id, current_version FROM documents WHERE collection_id = ? AND path = ?",
                                    [.integer(collectionID), .text(r.path)])
        let documentID: Int64
        var number = 1
        var isNewDocument = false
        if let row = existing.first {
            documentID = row.int(0)
            let currentNumber = Int(row.int(1))
            if let current = try versionRow(db, documentID: documentID, number: currentNumber, collection: r.collection, path: r.path),
               current.digest == r.digest {
                try addTags(r.tags, documentID: documentID, db: db)
                try EventLog.append("file.stored", data: Self.eventData(current, status: "unchanged"), in: db)
                return .unchanged(current)
            }
            number = currentNumber + 1
        } else {
            try db.query("INSERT INTO documents(collection_id, path, current_version, created_at_ns, updated_at_ns) VALUES(?, ?, 0, ?, ?)",
                         [.integer(collectionID), .text(r.path), .integer(now), .integer(now)])
            documentID = db.lastInsertRowID
            isNewDocument = true
        }
        try db.query("""
            INSERT INTO versions(document_id, number, blob_digest, size, source_mtime_ns, ingested_at_ns, origin)
            VALUES(?, ?, ?, ?, ?, ?, ?)
            """, [.integer(documentID), .integer(Int64(number)), .text(r.digest.hex), .integer(r.size),
                  .integer(r.sourceMtimeNanoseconds), .integer(now), .text(r.origin)])
        let versionID = db.lastInsertRowID
        try db.query("UPDATE documents SET current_version = ?, updated_at_ns = ? WHERE id = ?",
                     [.integer(Int64(number)), .integer(now), .integer(documentID)])
        try addTags(r.tags, documentID: documentID, db: db)
        let info = VersionInfo(collection: r.collection, path: r.path, documentID: documentID, id: versionID,
                               number: number, digest: r.digest, size: r.size,
                               sourceMtimeNanoseconds: r.sourceMtimeNanoseconds,
                               ingestedAtNanoseconds: now, origin: r.origin)
        let status = isNewDocument ? "new_document" : "new_version"
        try EventLog.append("file.stored", data: Self.eventData(info, status: status), in: db)
        try EventLog.append("version.created", data: Self.eventData(info, status: status), in: db)
        for hook in hooks.withLock({ $0 }) { try hook(info, db) }
        return isNewDocument ? .created(info) : .versioned(info)
    }

    /// The `data` of file.stored and version.created events.
    static func eventData(_ v: VersionInfo, status: String) -> [String: Any] {
        ["document_id": v.documentID, "version_id": v.id, "collection": v.collection, "path": v.path,
         "version": v.number, "sha256": v.digest.hex, "size": v.size, "origin": v.origin, "status": status]
    }

    private func addTags(_ tags: [String], documentID: Int64, db: SQLiteConnection) throws {
        for tag in tags {
            try db.query("INSERT OR IGNORE INTO tags(name) VALUES(?)", [.text(tag)])
            try db.query("INSERT OR IGNORE INTO document_tags(document_id, tag_id) SELECT ?, id FROM tags WHERE name = ?",
                         [.integer(documentID), .text(tag)])
        }
    }

    private static let versionColumns = "v.id, v.document_id, v.number, v.blob_digest, v.size, v.source_mtime_ns, v.ingested_at_ns, v.origin"

    private func versionInfo(_ row: Row, collection: String, path: String) -> VersionInfo {
        VersionInfo(collection: collection, path: path, documentID: row.int(1), id: row.int(0),
                    number: Int(row.int(2)), digest: Digest(hex: row.text(3))!, size: row.int(4),
                    sourceMtimeNanoseconds: row.int(5), ingestedAtNanoseconds: row.int(6), origin: row.text(7))
    }

    private func versionRow(_ db: SQLiteConnection, documentID: Int64, number: Int, collection: String, path: String) throws -> VersionInfo? {
        let rows = try db.query("SELECT \(Self.versionColumns) FROM versions v WHERE v.document_id = ? AND v.number = ?",
                                [.integer(documentID), .integer(Int64(number))])
        return rows.first.map { versionInfo($0, collection: collection, path: path) }
    }

    public func currentVersion(collection: String, path: String) throws -> VersionInfo? {
        try version(collection: collection, path: path, number: nil)
    }

    public func version(collection: String, path: String, number: Int?) throws -> VersionInfo? {
        try connection.withLock { db in
            let rows = try db.query("""
                SELECT \(Self.versionColumns) FROM versions v
                JOIN documents d ON d.id = v.document_id JOIN collections c ON c.id = d.collection_id
                WHERE c.name = ? AND d.path = ? AND v.number = coalesce(?, d.current_version)
                """, [.text(collection), .text(path), number.map { .integer(Int64($0)) } ?? .null])
            return rows.first.map { versionInfo($0, collection: collection, path: path) }
        }
    }

    public func versions(collection: String, path: String) throws -> [VersionInfo] {
        try connection.withLock { db in
            try db.query("""
                SELECT \(Self.versionColumns) FROM versions v
                JOIN documents d ON d.id = v.document_id JOIN collections c ON c.id = d.collection_id
                WHERE c.name = ? AND d.path = ? ORDER BY v.number
                """, [.text(collection), .text(path)]).map { versionInfo($0, collection: collection, path: path) }
        }
    }

    public func documents(collection: String?) throws -> [DocumentInfo] {
        try connection.withLock { db in
            let rows = try db.query("""
                SELECT d.id, c.name, d.path, d.current_version, v.blob_digest, v.size, d.updated_at_ns,
                       (SELECT count(*) FROM versions WHERE document_id = d.id),
                       (SELECT group_concat(t.name, '/') FROM (SELECT t.name FROM document_tags dt
                            JOIN tags t ON t.id = dt.tag_id WHERE dt.document_id = d.id ORDER BY t.name) t)
                FROM documents d JOIN collections c ON c.id = d.collection_id
                JOIN versions v ON v.document_id = d.id AND v.number = d.current_version
                WHERE ? IS NULL OR c.name = ?
                ORDER BY c.name, d.path
                """, [collection.map { .text($0) } ?? .null, collection.map { .text($0) } ?? .null])
            return rows.map { row in
                let tags = row.text(8)
                return DocumentInfo(id: row.int(0), collection: row.text(1), path: row.text(2),
                                    currentVersion: Int(row.int(3)), versionCount: Int(row.int(7)),
                                    digest: Digest(hex: row.text(4))!, size: row.int(5),
                                    updatedAtNanoseconds: row.int(6),
                                    tags: tags.isEmpty ? [] : tags.split(separator: "/").map(String.init))
            }
        }
    }

    public func collectionNames() throws -> [String] {
        try connection.withLock { db in
            try db.query("SELECT name FROM collections ORDER BY name").map { $0.text(0) }
        }
    }

    public func blobs() throws -> [(digest: Digest, size: Int64)] {
        try connection.withLock { db in
            try db.query("SELECT digest, size FROM blobs ORDER BY digest").compactMap { row in
                Digest(hex: row.text(0)).map { ($0, row.int(1)) }
            }
        }
    }

    public func stats() throws -> CatalogStats {
        try connection.withLock { db in
            let row = try db.query("""
                SELECT (SELECT count(*) FROM collections), (SELECT count(*) FROM documents),
                       (SELECT count(*) FROM versions), (SELECT count(*) FROM blobs),
                       (SELECT coalesce(sum(size), 0) FROM versions), (SELECT coalesce(sum(size), 0) FROM blobs)
                """)[0]
            return CatalogStats(collections: Int(row.int(0)), documents: Int(row.int(1)), versions: Int(row.int(2)),
                                blobs: Int(row.int(3)), logicalBytes: row.int(4), storedBytes: row.int(5))
        }
    }
}
