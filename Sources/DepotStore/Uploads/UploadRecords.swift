import DepotCore

/// A signed link that lets whoever holds it upload into one place of one collection, within
/// limits, until it expires or is revoked.
public struct UploadLinkRecord: Sendable, Equatable {
    public var id: String
    public var collection: String
    /// The folder inside the collection the files land in ("" for its top).
    public var folder: String
    /// Largest file it takes, bytes.
    public var maxSize: Int64
    /// How many files it takes (nil: any number).
    public var maxFiles: Int?
    /// The kinds of file it takes (`UploadTypes`); empty: any.
    public var types: [String]
    public var clientIP: String?
    public var createdAtNanoseconds: Int64
    /// Unix seconds.
    public var expires: Int64
    public var createdBy: String
    public var revokedAtNanoseconds: Int64?

    public init(id: String, collection: String, folder: String, maxSize: Int64, maxFiles: Int?, types: [String],
                clientIP: String?, createdAtNanoseconds: Int64, expires: Int64, createdBy: String,
                revokedAtNanoseconds: Int64? = nil) {
        self.id = id
        self.collection = collection
        self.folder = folder
        self.maxSize = maxSize
        self.maxFiles = maxFiles
        self.types = types
        self.clientIP = clientIP
        self.createdAtNanoseconds = createdAtNanoseconds
        self.expires = expires
        self.createdBy = createdBy
        self.revokedAtNanoseconds = revokedAtNanoseconds
    }
}

/// Where an upload is: receiving bytes, or ended one way or the other.
public enum UploadState: String, Sendable, Codable, CaseIterable {
    /// Bytes are arriving (or may arrive again: it can be resumed).
    case receiving
    /// Complete and stored as a version.
    case stored
    /// Complete, but refused (a type the link does not take); nothing was stored.
    case refused
    /// Ended by the client (tus termination).
    case terminated
    /// Not finished before it expired; its bytes are gone.
    case expired
}

/// One upload (tus, or a plain PUT): whose it is, where it goes, how far it got.
public struct UploadRecord: Sendable, Equatable {
    public var id: String
    /// The upload link it came through, or nil (an API token's).
    public var linkID: String?
    public var tokenID: String?
    public var collection: String
    public var path: String
    public var length: Int64
    /// Bytes received and made durable.
    public var received: Int64
    /// The client's `Upload-Metadata`, as sent.
    public var metadata: String
    public var state: UploadState
    public var versionID: Int64?
    public var error: String?
    public var createdAtNanoseconds: Int64
    public var updatedAtNanoseconds: Int64
    /// Unix seconds; an unfinished upload is removed after it.
    public var expires: Int64

    public init(id: String, linkID: String?, tokenID: String?, collection: String, path: String, length: Int64,
                received: Int64 = 0, metadata: String, state: UploadState = .receiving, versionID: Int64? = nil,
                error: String? = nil, createdAtNanoseconds: Int64, updatedAtNanoseconds: Int64, expires: Int64) {
        self.id = id
        self.linkID = linkID
        self.tokenID = tokenID
        self.collection = collection
        self.path = path
        self.length = length
        self.received = received
        self.metadata = metadata
        self.state = state
        self.versionID = versionID
        self.error = error
        self.createdAtNanoseconds = createdAtNanoseconds
        self.updatedAtNanoseconds = updatedAtNanoseconds
        self.expires = expires
    }
}

/// Upload links and uploads: the only code with SQL for their tables. The HTTP server signs,
/// checks and receives; this keeps the records.
public enum UploadRecords {
    /// "uploads-1": upload links and uploads.
    static let migrations: [CatalogMigration] = [
        CatalogMigration(name: "uploads-1", sqlite: """
            CREATE TABLE upload_links(
                id TEXT PRIMARY KEY,
                collection TEXT NOT NULL,
                folder TEXT NOT NULL,
                max_size INTEGER NOT NULL,
                max_files INTEGER,
                types TEXT NOT NULL,
                client_ip TEXT,
                created_at_ns INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                created_by TEXT NOT NULL,
                revoked_at_ns INTEGER);
            CREATE TABLE uploads(
                id TEXT PRIMARY KEY,
                link_id TEXT REFERENCES upload_links(id),
                token_id TEXT,
                collection TEXT NOT NULL,
                path TEXT NOT NULL,
                length INTEGER NOT NULL,
                received INTEGER NOT NULL,
                metadata TEXT NOT NULL,
                state TEXT NOT NULL CHECK(state IN ('receiving', 'stored', 'refused', 'terminated', 'expired')),
                version_id INTEGER REFERENCES versions(id),
                error TEXT,
                created_at_ns INTEGER NOT NULL,
                updated_at_ns INTEGER NOT NULL,
                expires_at INTEGER NOT NULL);
            CREATE INDEX uploads_by_link ON uploads(link_id, state);
            CREATE INDEX uploads_by_expiry ON uploads(state, expires_at);
            """, postgres: """
            CREATE TABLE upload_links(
                id TEXT PRIMARY KEY,
                collection TEXT NOT NULL,
                folder TEXT NOT NULL,
                max_size BIGINT NOT NULL,
                max_files BIGINT,
                types TEXT NOT NULL,
                client_ip TEXT,
                created_at_ns BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                created_by TEXT NOT NULL,
                revoked_at_ns BIGINT);
            CREATE TABLE uploads(
                id TEXT PRIMARY KEY,
                link_id TEXT REFERENCES upload_links(id),
                token_id TEXT,
                collection TEXT NOT NULL,
                path TEXT NOT NULL,
                length BIGINT NOT NULL,
                received BIGINT NOT NULL,
                metadata TEXT NOT NULL,
                state TEXT NOT NULL CHECK(state IN ('receiving', 'stored', 'refused', 'terminated', 'expired')),
                version_id BIGINT REFERENCES versions(id),
                error TEXT,
                created_at_ns BIGINT NOT NULL,
                updated_at_ns BIGINT NOT NULL,
                expires_at BIGINT NOT NULL);
            CREATE INDEX uploads_by_link ON uploads(link_id, state);
            CREATE INDEX uploads_by_expiry ON uploads(state, expires_at);
            """),
    ]

    // MARK: upload links

    public static func addLink(_ link: UploadLinkRecord, in tx: any CatalogTransaction) throws {
        try tx.execute("""
            INSERT INTO upload_links(id, collection, folder, max_size, max_files, types, client_ip, created_at_ns,
                expires_at, created_by) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(link.id), .text(link.collection), .text(link.folder), .integer(link.maxSize), .int(link.maxFiles),
                  .text(link.types.joined(separator: ",")), .string(link.clientIP), .integer(link.createdAtNanoseconds),
                  .integer(link.expires), .text(link.createdBy)])
    }

    private static let linkColumns = """
        id, collection, folder, max_size, max_files, types, client_ip, created_at_ns, expires_at, created_by, revoked_at_ns
        """

    private static func link(_ row: Row) -> UploadLinkRecord {
        UploadLinkRecord(id: row.text(0), collection: row.text(1), folder: row.text(2), maxSize: row.int(3),
                         maxFiles: row.optionalInt(4).map(Int.init),
                         types: row.text(5).split(separator: ",").map(String.init), clientIP: row.optionalText(6),
                         createdAtNanoseconds: row.int(7), expires: row.int(8), createdBy: row.text(9),
                         revokedAtNanoseconds: row.optionalInt(10))
    }

    public static func link(id: String, in tx: any CatalogTransaction) throws -> UploadLinkRecord? {
        try tx.query("SELECT \(linkColumns) FROM upload_links WHERE id = ?", [.text(id)]).first.map(link)
    }

    /// Upload links, newest first.
    public static func links(limit: Int, offset: Int, in tx: any CatalogTransaction) throws -> [UploadLinkRecord] {
        try tx.query("SELECT \(linkColumns) FROM upload_links ORDER BY created_at_ns DESC, id LIMIT ? OFFSET ?",
                     [.integer(Int64(limit)), .integer(Int64(offset))]).map(link)
    }

    /// Revokes an upload link; false when there is no such unrevoked link.
    public static func revokeLink(id: String, in tx: any CatalogTransaction) throws -> Bool {
        try tx.execute("UPDATE upload_links SET revoked_at_ns = ? WHERE id = ? AND revoked_at_ns IS NULL",
                       [.integer(wallClockNanoseconds()), .text(id)]) > 0
    }

    // MARK: uploads

    public static func add(_ upload: UploadRecord, in tx: any CatalogTransaction) throws {
        try tx.execute("""
            INSERT INTO uploads(id, link_id, token_id, collection, path, length, received, metadata, state, created_at_ns,
                updated_at_ns, expires_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(upload.id), .string(upload.linkID), .string(upload.tokenID), .text(upload.collection), .text(upload.path),
                  .integer(upload.length), .integer(upload.received), .text(upload.metadata), .text(upload.state.rawValue),
                  .integer(upload.createdAtNanoseconds), .integer(upload.updatedAtNanoseconds), .integer(upload.expires)])
    }

    private static let uploadColumns = """
        id, link_id, token_id, collection, path, length, received, metadata, state, version_id, error, created_at_ns,
        updated_at_ns, expires_at
        """

    private static func upload(_ row: Row) -> UploadRecord {
        UploadRecord(id: row.text(0), linkID: row.optionalText(1), tokenID: row.optionalText(2), collection: row.text(3),
                     path: row.text(4), length: row.int(5), received: row.int(6), metadata: row.text(7),
                     state: UploadState(rawValue: row.text(8)) ?? .receiving, versionID: row.optionalInt(9),
                     error: row.optionalText(10), createdAtNanoseconds: row.int(11), updatedAtNanoseconds: row.int(12),
                     expires: row.int(13))
    }

    public static func upload(id: String, in tx: any CatalogTransaction) throws -> UploadRecord? {
        try tx.query("SELECT \(uploadColumns) FROM uploads WHERE id = ?", [.text(id)]).first.map(upload)
    }

    /// Uploads, newest first; only those through `linkID` when it is given.
    public static func uploads(linkID: String? = nil, limit: Int, offset: Int, in tx: any CatalogTransaction) throws -> [UploadRecord] {
        if let linkID {
            return try tx.query("SELECT \(uploadColumns) FROM uploads WHERE link_id = ? ORDER BY created_at_ns DESC, id LIMIT ? OFFSET ?",
                                [.text(linkID), .integer(Int64(limit)), .integer(Int64(offset))]).map(upload)
        }
        return try tx.query("SELECT \(uploadColumns) FROM uploads ORDER BY created_at_ns DESC, id LIMIT ? OFFSET ?",
                            [.integer(Int64(limit)), .integer(Int64(offset))]).map(upload)
    }

    /// How many files a link has taken or is taking (receiving or stored).
    public static func filesCounted(linkID: String, in tx: any CatalogTransaction) throws -> Int {
        Int(try tx.query("SELECT count(*) FROM uploads WHERE link_id = ? AND state IN ('receiving', 'stored')",
                         [.text(linkID)]).first?.int(0) ?? 0)
    }

    /// Records how many bytes of a receiving upload are durable.
    public static func setReceived(id: String, received: Int64, in tx: any CatalogTransaction) throws {
        try tx.execute("UPDATE uploads SET received = ?, updated_at_ns = ? WHERE id = ? AND state = 'receiving'",
                       [.integer(received), .integer(wallClockNanoseconds()), .text(id)])
    }

    /// Ends a receiving upload; false when it had ended already.
    public static func end(id: String, state: UploadState, versionID: Int64? = nil, error: String? = nil,
                           in tx: any CatalogTransaction) throws -> Bool {
        try tx.execute("""
            UPDATE uploads SET state = ?, version_id = ?, error = ?, updated_at_ns = ? WHERE id = ? AND state = 'receiving'
            """, [.text(state.rawValue), .int(versionID), .string(error), .integer(wallClockNanoseconds()), .text(id)]) > 0
    }

    /// Receiving uploads whose expiry has passed.
    public static func expired(now: Int64, in tx: any CatalogTransaction) throws -> [UploadRecord] {
        try tx.query("SELECT \(uploadColumns) FROM uploads WHERE state = 'receiving' AND expires_at < ?", [.integer(now)]).map(upload)
    }

    /// Forgets which versions uploads stored, for versions purged from the trash.
    static func forgetVersions(_ ids: [Int64], in tx: any CatalogTransaction) throws {
        let marks = ids.map { _ in "?" }.joined(separator: ",")
        try tx.execute("UPDATE uploads SET version_id = NULL WHERE version_id IN (\(marks))", ids.map { .integer($0) })
    }

    /// The ids of every receiving upload (their bytes must be kept).
    public static func receivingIDs(in tx: any CatalogTransaction) throws -> Set<String> {
        Set(try tx.query("SELECT id FROM uploads WHERE state = 'receiving'").map { $0.text(0) })
    }
}
