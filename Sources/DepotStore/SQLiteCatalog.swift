import DepotCore
import Synchronization

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
    ]

    /// Opens the catalog at `path` (":memory:" for one in memory), applying any pending migrations.
    public init(path: String) throws {
        self.path = path
        let db = try SQLiteConnection(path: path)
        // WAL lets `depot ls` read while `depot serve` writes; synchronous=FULL makes each
        // commit durable before it returns (the inbox copy is removed only after that).
        if path != ":memory:" { try db.query("PRAGMA journal_mode=WAL") }
        try db.execute("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        try Self.migrate(db)
        connection = Mutex(db)
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
        return isNewDocument ? .created(info) : .versioned(info)
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
