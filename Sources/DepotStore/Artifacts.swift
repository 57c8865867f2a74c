import DepotCore

/// Something a processor made from a version (text.txt, structure.json, thumbnail.jpg),
/// stored as a blob like any other bytes.
public struct ArtifactInfo: Sendable, Equatable {
    public var id: Int64
    public var versionID: Int64
    /// The artifact's file name in the outbox, which is also its kind: "text.txt".
    public var kind: String
    public var mimeType: String
    public var digest: Digest
    public var size: Int64
    public var producer: String
    public var producerVersion: String
    public var createdAtNanoseconds: Int64

    public init(id: Int64 = 0, versionID: Int64, kind: String, mimeType: String, digest: Digest, size: Int64,
                producer: String, producerVersion: String, createdAtNanoseconds: Int64 = 0) {
        self.id = id
        self.versionID = versionID
        self.kind = kind
        self.mimeType = mimeType
        self.digest = digest
        self.size = size
        self.producer = producer
        self.producerVersion = producerVersion
        self.createdAtNanoseconds = createdAtNanoseconds
    }
}

extension SQLiteCatalog {
    /// Records artifacts of a version inside the caller's transaction, replacing earlier ones
    /// of the same kinds (a regenerated summary replaces the old one). Their blobs must be
    /// committed to the store first.
    public static func recordArtifacts(_ artifacts: [ArtifactInfo], in db: SQLiteConnection) throws {
        let now = wallClockNanoseconds()
        for a in artifacts {
            try db.query("INSERT OR IGNORE INTO blobs(digest, size, stored_at_ns) VALUES(?, ?, ?)",
                         [.text(a.digest.hex), .integer(a.size), .integer(now)])
            try db.query("""
                INSERT INTO artifacts(version_id, kind, mime_type, blob_digest, size, producer, producer_version, created_at_ns)
                VALUES(?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(version_id, kind) DO UPDATE SET mime_type = excluded.mime_type,
                    blob_digest = excluded.blob_digest, size = excluded.size, producer = excluded.producer,
                    producer_version = excluded.producer_version, created_at_ns = excluded.created_at_ns
                """, [.integer(a.versionID), .text(a.kind), .text(a.mimeType), .text(a.digest.hex), .integer(a.size),
                      .text(a.producer), .text(a.producerVersion), .integer(now)])
        }
    }

    /// The artifacts of one version, by kind.
    public func artifacts(versionID: Int64) throws -> [ArtifactInfo] {
        try withConnection { db in
            try db.query("""
                SELECT id, version_id, kind, mime_type, blob_digest, size, producer, producer_version, created_at_ns
                FROM artifacts WHERE version_id = ? ORDER BY kind
                """, [.integer(versionID)]).map { row in
                ArtifactInfo(id: row.int(0), versionID: row.int(1), kind: row.text(2), mimeType: row.text(3),
                             digest: Digest(hex: row.text(4))!, size: row.int(5), producer: row.text(6),
                             producerVersion: row.text(7), createdAtNanoseconds: row.int(8))
            }
        }
    }
}
