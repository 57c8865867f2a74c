import DepotCore

/// Bytes of one collection or one media type.
public struct UsageGroup: Sendable, Equatable, Codable {
    public var name: String
    public var documents: Int
    public var versions: Int
    /// The sizes of its live versions.
    public var logicalBytes: Int64
    /// The distinct original blobs of its versions (a blob two groups share counts in each).
    public var storedBytes: Int64

    enum CodingKeys: String, CodingKey {
        case name, documents, versions
        case logicalBytes = "logical_bytes", storedBytes = "stored_bytes"
    }
}

/// How the store's bytes are used: the figures `depot stats`, `GET /api/v1/stats` and
/// `/metrics` show, all from `Catalog.storageUsage` (one implementation).
public struct StorageUsage: Sendable, Equatable, Codable {
    /// Documents and versions that are live (not in the trash).
    public var documents: Int
    public var versions: Int
    /// The sum of the live versions' sizes (current and kept): what the files would take without dedup.
    public var logicalBytes: Int64
    /// Distinct original blobs (of versions live or in the trash): what the files take.
    public var storedBlobs: Int
    public var storedBytes: Int64
    /// Distinct blobs only artifacts use (text, thumbnails, summaries), kept apart from the originals.
    public var artifactBlobs: Int
    public var artifactBytes: Int64
    /// logical / stored: above 1 when deduplication saves space (1 for an empty store).
    public var dedupRatio: Double
    /// Versions in the trash (whole documents' included) and their sizes.
    public var trashVersions: Int
    public var trashBytes: Int64
    /// Blobs nothing references: what `depot gc` frees (once their grace period is over).
    public var reclaimableBlobs: Int
    public var reclaimableBytes: Int64
    /// Free space where blobs are stored (nil when the store cannot tell).
    public var filesystemFreeBytes: Int64?
    /// Growth of stored + artifact bytes per day over the last 30 days' samples (nil: too few samples).
    public var growthBytesPerDay: Double?
    /// free / growth (nil when the store does not grow or the figures are missing).
    public var daysUntilFull: Double?
    public var byCollection: [UsageGroup]
    public var byMediaType: [UsageGroup]
    /// Blobs known to be damaged (found by `depot verify`; never served until healed).
    public var damagedBlobs: Int = 0

    enum CodingKeys: String, CodingKey {
        case documents, versions
        case logicalBytes = "logical_bytes", storedBlobs = "stored_blobs", storedBytes = "stored_bytes"
        case artifactBlobs = "artifact_blobs", artifactBytes = "artifact_bytes", dedupRatio = "dedup_ratio"
        case trashVersions = "trash_versions", trashBytes = "trash_bytes"
        case reclaimableBlobs = "reclaimable_blobs", reclaimableBytes = "reclaimable_bytes"
        case filesystemFreeBytes = "filesystem_free_bytes", growthBytesPerDay = "growth_bytes_per_day"
        case daysUntilFull = "days_until_full", byCollection = "by_collection", byMediaType = "by_media_type"
        case damagedBlobs = "damaged_blobs"
    }

    /// Encodes nil figures as null rather than leaving them out, so the shape never changes.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(documents, forKey: .documents)
        try c.encode(versions, forKey: .versions)
        try c.encode(logicalBytes, forKey: .logicalBytes)
        try c.encode(storedBlobs, forKey: .storedBlobs)
        try c.encode(storedBytes, forKey: .storedBytes)
        try c.encode(artifactBlobs, forKey: .artifactBlobs)
        try c.encode(artifactBytes, forKey: .artifactBytes)
        try c.encode(dedupRatio, forKey: .dedupRatio)
        try c.encode(trashVersions, forKey: .trashVersions)
        try c.encode(trashBytes, forKey: .trashBytes)
        try c.encode(reclaimableBlobs, forKey: .reclaimableBlobs)
        try c.encode(reclaimableBytes, forKey: .reclaimableBytes)
        try c.encode(filesystemFreeBytes, forKey: .filesystemFreeBytes)
        try c.encode(growthBytesPerDay, forKey: .growthBytesPerDay)
        try c.encode(daysUntilFull, forKey: .daysUntilFull)
        try c.encode(byCollection, forKey: .byCollection)
        try c.encode(byMediaType, forKey: .byMediaType)
        try c.encode(damagedBlobs, forKey: .damagedBlobs)
    }
}

/// The byte totals that `stats()` and `storageUsage` share.
struct BlobTotals {
    var logical: (versions: Int, bytes: Int64)
    var stored: (blobs: Int, bytes: Int64)
    var artifacts: (blobs: Int, bytes: Int64)
    var unreferenced: (blobs: Int, bytes: Int64)
    var trash: (versions: Int, bytes: Int64)
}

extension Catalog {
    /// Live versions, original blobs, artifact-only blobs, unreferenced blobs and the trash, in one read.
    static func blobTotals(in tx: any CatalogTransaction) throws -> BlobTotals {
        let live = try tx.query("""
            SELECT count(*), coalesce(sum(v.size), 0) FROM versions v JOIN documents d ON d.id = v.document_id
            WHERE v.trashed_at_ns IS NULL AND d.trashed_at_ns IS NULL
            """)[0]
        let trash = try tx.query("""
            SELECT count(*), coalesce(sum(v.size), 0) FROM versions v JOIN documents d ON d.id = v.document_id
            WHERE v.trashed_at_ns IS NOT NULL OR d.trashed_at_ns IS NOT NULL
            """)[0]
        // Each blob once, by what uses it: an original (some version), only artifacts, or nothing.
        let blobs = try tx.query("""
            SELECT kind, count(*), coalesce(sum(size), 0) FROM (
                SELECT b.size AS size, CASE
                    WHEN EXISTS(SELECT 1 FROM versions v WHERE v.blob_digest = b.digest) THEN 'original'
                    WHEN EXISTS(SELECT 1 FROM artifacts a WHERE a.blob_digest = b.digest) THEN 'artifact'
                    ELSE 'unreferenced' END AS kind
                FROM blobs b) AS used GROUP BY kind
            """)
        func figure(_ kind: String) -> (Int, Int64) {
            blobs.first { $0.text(0) == kind }.map { (Int($0.int(1)), $0.int(2)) } ?? (0, 0)
        }
        return BlobTotals(logical: (Int(live.int(0)), live.int(1)), stored: figure("original"), artifacts: figure("artifact"),
                          unreferenced: figure("unreferenced"), trash: (Int(trash.int(0)), trash.int(1)))
    }

    /// How the store's bytes are used, with the filesystem's free space from `store`.
    public func storageUsage(store: (any BlobStore)?, now: Int64 = wallClockNanoseconds()) throws -> StorageUsage {
        let free = store?.freeBytes()
        return try database.read { tx in
            let totals = try Self.blobTotals(in: tx)
            let documents = Int(try tx.query("SELECT count(*) FROM documents WHERE trashed_at_ns IS NULL")[0].int(0))
            func groups(_ key: String) throws -> [UsageGroup] {
                let logical = try tx.query("""
                    SELECT \(key), count(DISTINCT d.id), count(*), coalesce(sum(v.size), 0)
                    FROM versions v JOIN documents d ON d.id = v.document_id JOIN collections c ON c.id = d.collection_id
                    WHERE v.trashed_at_ns IS NULL AND d.trashed_at_ns IS NULL GROUP BY 1 ORDER BY 1
                    """)
                let stored = try tx.query("""
                    SELECT name, coalesce(sum(size), 0) FROM (
                        SELECT DISTINCT \(key) AS name, v.blob_digest, v.size AS size
                        FROM versions v JOIN documents d ON d.id = v.document_id JOIN collections c ON c.id = d.collection_id
                        WHERE v.trashed_at_ns IS NULL AND d.trashed_at_ns IS NULL) AS stored GROUP BY name
                    """)
                let storedBy = Dictionary(stored.map { ($0.text(0), $0.int(1)) }, uniquingKeysWith: { a, _ in a })
                return logical.map { r in
                    UsageGroup(name: r.text(0), documents: Int(r.int(1)), versions: Int(r.int(2)), logicalBytes: r.int(3),
                               storedBytes: storedBy[r.text(0)] ?? 0)
                }
            }
            let growth = try Self.growthPerDay(now: now, in: tx)
            let damaged = Int(try tx.query("SELECT count(*) FROM blobs WHERE damaged_at_ns IS NOT NULL")[0].int(0))
            return StorageUsage(
                documents: documents, versions: totals.logical.versions, logicalBytes: totals.logical.bytes,
                storedBlobs: totals.stored.blobs, storedBytes: totals.stored.bytes,
                artifactBlobs: totals.artifacts.blobs, artifactBytes: totals.artifacts.bytes,
                dedupRatio: Self.dedupRatio(logical: totals.logical.bytes, stored: totals.stored.bytes),
                trashVersions: totals.trash.versions, trashBytes: totals.trash.bytes,
                reclaimableBlobs: totals.unreferenced.blobs, reclaimableBytes: totals.unreferenced.bytes,
                filesystemFreeBytes: free, growthBytesPerDay: growth,
                daysUntilFull: Self.daysUntilFull(free: free, growth: growth),
                byCollection: try groups("c.name"), byMediaType: try groups("coalesce(v.media_type, 'unknown')"),
                damagedBlobs: damaged)
        }
    }

    /// logical / stored; 1 for an empty store (nothing saved, nothing lost).
    static func dedupRatio(logical: Int64, stored: Int64) -> Double {
        stored > 0 ? Double(logical) / Double(stored) : 1.0
    }

    static func daysUntilFull(free: Int64?, growth: Double?) -> Double? {
        guard let free, let growth, growth > 0 else { return nil }
        return Double(free) / growth
    }

    // MARK: - Growth

    static let nanosecondsPerDay: Int64 = 86_400 * 1_000_000_000

    /// Records today's stored and artifact bytes (one sample per UTC day, the latest wins):
    /// what the days-until-full estimate is made from. `depot serve` and `depot gc` call it.
    public func recordStorageSample(now: Int64 = wallClockNanoseconds()) throws {
        try database.write { tx in
            let totals = try Self.blobTotals(in: tx)
            try tx.execute("""
                INSERT INTO storage_samples(day, stored_bytes, artifact_bytes, sampled_at_ns) VALUES(?, ?, ?, ?)
                ON CONFLICT(day) DO UPDATE SET stored_bytes = excluded.stored_bytes, artifact_bytes = excluded.artifact_bytes,
                    sampled_at_ns = excluded.sampled_at_ns
                """, [.integer(now / Self.nanosecondsPerDay), .integer(totals.stored.bytes), .integer(totals.artifacts.bytes), .integer(now)])
            try tx.execute("DELETE FROM storage_samples WHERE day < ?", [.integer(now / Self.nanosecondsPerDay - 400)])
        }
    }

    /// Bytes per day between the oldest and the newest sample of the last 30 days (nil with
    /// fewer than two samples a day or more apart).
    static func growthPerDay(now: Int64, in tx: any CatalogTransaction) throws -> Double? {
        let rows = try tx.query("""
            SELECT sampled_at_ns, stored_bytes + artifact_bytes FROM storage_samples WHERE day >= ? ORDER BY day
            """, [.integer(now / nanosecondsPerDay - 30)])
        guard let first = rows.first, let last = rows.last else { return nil }
        let days = Double(last.int(0) - first.int(0)) / Double(nanosecondsPerDay)
        guard days >= 1 else { return nil }
        return Double(last.int(1) - first.int(1)) / days
    }
}
