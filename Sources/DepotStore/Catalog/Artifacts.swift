import DepotCore

/// Something a processor made from a version (text.txt, structure.json, thumbnail.png),
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

extension Catalog {
    static let artifactColumns = "id, version_id, kind, mime_type, blob_digest, size, producer, producer_version, created_at_ns"

    static func artifactInfo(_ row: Row) -> ArtifactInfo? {
        Digest(hex: row.text(4)).map {
            ArtifactInfo(id: row.int(0), versionID: row.int(1), kind: row.text(2), mimeType: row.text(3), digest: $0,
                         size: row.int(5), producer: row.text(6), producerVersion: row.text(7), createdAtNanoseconds: row.int(8))
        }
    }

    /// Records artifacts of a version inside the caller's transaction, replacing earlier ones
    /// of the same kinds (a regenerated summary replaces the old one). Their blobs must be
    /// committed to the store first. Returns them as recorded (ids and times filled in).
    @discardableResult
    public func recordArtifacts(_ artifacts: [ArtifactInfo], in tx: any CatalogTransaction) throws -> [ArtifactInfo] {
        let now = wallClockNanoseconds()
        var recorded: [ArtifactInfo] = []
        for a in artifacts {
            try tx.execute("INSERT INTO blobs(digest, size, stored_at_ns) VALUES(?, ?, ?) ON CONFLICT(digest) DO NOTHING",
                           [.text(a.digest.hex), .integer(a.size), .integer(now)])
            let id = try tx.query("""
                INSERT INTO artifacts(version_id, kind, mime_type, blob_digest, size, producer, producer_version, created_at_ns)
                VALUES(?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(version_id, kind) DO UPDATE SET mime_type = excluded.mime_type,
                    blob_digest = excluded.blob_digest, size = excluded.size, producer = excluded.producer,
                    producer_version = excluded.producer_version, created_at_ns = excluded.created_at_ns
                RETURNING id
                """, [.integer(a.versionID), .text(a.kind), .text(a.mimeType), .text(a.digest.hex), .integer(a.size),
                      .text(a.producer), .text(a.producerVersion), .integer(now)])[0].int(0)
            var done = a
            done.id = id
            done.createdAtNanoseconds = now
            recorded.append(done)
        }
        return recorded
    }

    /// The artifacts of one version, by kind.
    public func artifacts(versionID: Int64, in tx: any CatalogTransaction) throws -> [ArtifactInfo] {
        try tx.query("SELECT \(Self.artifactColumns) FROM artifacts WHERE version_id = ? ORDER BY kind",
                     [.integer(versionID)]).compactMap(Self.artifactInfo)
    }

    public func artifacts(versionID: Int64) throws -> [ArtifactInfo] {
        try database.read { tx in try artifacts(versionID: versionID, in: tx) }
    }

    /// One artifact by its id.
    public func artifact(id: Int64, in tx: any CatalogTransaction) throws -> ArtifactInfo? {
        try tx.query("SELECT \(Self.artifactColumns) FROM artifacts WHERE id = ?", [.integer(id)]).first.flatMap(Self.artifactInfo)
    }
}
