import DepotCore
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// What one garbage collection found and did.
public struct GCReport: Sendable, Equatable, Codable {
    public var dryRun: Bool
    /// Blobs the catalog references (versions, the trash included, and artifacts).
    public var referencedBlobs = 0
    public var referencedBytes: Int64 = 0
    /// Blobs nothing references: catalog rows without a user, and files without a row.
    public var unreferencedBlobs = 0
    public var unreferencedBytes: Int64 = 0
    /// Of those, the files in the store that no catalog row names (left by a crash between a
    /// blob's commit and its catalog row).
    public var orphanFiles = 0
    /// Unreferenced for longer than the grace period: removed (or, with --dry-run, what would be).
    public var removedBlobs = 0
    public var removedBytes: Int64 = 0
    /// Unreferenced, but not yet for the grace period: left for a later run.
    public var waitingBlobs = 0
    public var waitingBytes: Int64 = 0
    /// The digests removed (or that would be), at most the first 1000.
    public var removed: [String] = []

    public init(dryRun: Bool) { self.dryRun = dryRun }

    enum CodingKeys: String, CodingKey {
        case removed
        case dryRun = "dry_run", referencedBlobs = "referenced_blobs", referencedBytes = "referenced_bytes"
        case unreferencedBlobs = "unreferenced_blobs", unreferencedBytes = "unreferenced_bytes", orphanFiles = "orphan_files"
        case removedBlobs = "removed_blobs", removedBytes = "removed_bytes"
        case waitingBlobs = "waiting_blobs", waitingBytes = "waiting_bytes"
    }
}

/// `gc.completed`: a garbage collection removed blobs.
public struct GCCompleted: EventPayload, Equatable {
    public static let eventType = "gc.completed"
    public var documentID: Int64? { nil }
    public var removedBlobs: Int
    public var removedBytes: Int64

    enum CodingKeys: String, CodingKey { case removedBlobs = "removed_blobs", removedBytes = "removed_bytes" }
}

/// Removes blobs — originals and artifacts — that no catalog row references, in two phases
/// like restic's prune: *mark* records each unreferenced blob with the time it was first
/// seen so (in `gc_marks`), and *sweep* removes only those unreferenced for longer than the
/// grace period. Each removal is decided again inside a write transaction, which deletes the
/// catalog row first and then the blob, and leaves a tombstone (`gc_removals`), so it is
/// serialised with every transaction that could make the blob referenced again: an ingest or
/// a job records its rows and checks, in the same transaction, that none of their blobs was
/// removed meanwhile (`GarbageCollector.requirePresent`), so either the collector sees the
/// new reference and keeps the blob, or the ingest sees the blob gone and stores it again
/// from its source. A kill at any point leaves either an
/// unreferenced row whose blob is gone (the next run removes the row) or an unreferenced
/// blob (the next run removes it): never a reference to a missing blob.
public final class GarbageCollector: Sendable {
    public let catalog: Catalog
    public let store: any BlobStore
    public let grace: Duration
    let logger: Logger

    public init(catalog: Catalog, store: any BlobStore, grace: Duration, logger: Logger = Logger(label: "depot.gc")) {
        self.catalog = catalog
        self.store = store
        self.grace = grace
        self.logger = logger
    }

    /// Blobs removed per write transaction: bounds how long the ingest waits for the lock.
    static let sweepBatch = 200

    /// One collection: mark, then sweep what has waited out the grace period. With `dryRun`
    /// nothing is written; the report says what a run now would remove.
    public func run(dryRun: Bool, now: Int64 = wallClockNanoseconds()) throws -> GCReport {
        var report = GCReport(dryRun: dryRun)
        let cutoff = now - grace.nanosecondsValue

        // Mark, catalog side: rows nothing references, with when they were first seen so.
        let (rows, referenced) = try catalog.database.read { tx in
            let rows = try tx.query("""
                SELECT b.digest, b.size, m.unreferenced_since_ns FROM blobs b LEFT JOIN gc_marks m ON m.digest = b.digest
                WHERE NOT EXISTS(SELECT 1 FROM versions v WHERE v.blob_digest = b.digest)
                AND NOT EXISTS(SELECT 1 FROM artifacts a WHERE a.blob_digest = b.digest)
                """).map { (digest: $0.text(0), size: $0.int(1), since: $0.optionalInt(2)) }
            let all = try tx.query("SELECT count(*), coalesce(sum(size), 0) FROM blobs")[0]
            return (rows, (count: Int(all.int(0)), bytes: all.int(1)))
        }
        report.referencedBlobs = referenced.count - rows.count
        report.referencedBytes = referenced.bytes - rows.reduce(0) { $0 + $1.size }

        // Mark, store side: files no row names. The catalog's digests are read after the
        // store's listing, so a blob committed and recorded in between is not taken for one.
        let files = try store.allDigests()
        let known = try catalog.database.read { tx in
            Set(try tx.query("SELECT digest FROM blobs").map { $0.text(0) })
        }
        let earlierMarks = try catalog.database.read { tx in
            Dictionary(try tx.query("SELECT digest, unreferenced_since_ns FROM gc_marks").map { ($0.text(0), $0.int(1)) },
                       uniquingKeysWith: { a, _ in a })
        }
        var orphans: [(digest: String, size: Int64, since: Int64?)] = []
        for digest in files where !known.contains(digest.hex) {
            orphans.append((digest.hex, (try? store.size(of: digest)) ?? 0, earlierMarks[digest.hex]))
        }
        report.orphanFiles = orphans.count
        let unreferenced = rows + orphans
        report.unreferencedBlobs = unreferenced.count
        report.unreferencedBytes = unreferenced.reduce(0) { $0 + $1.size }

        var due: [(digest: String, size: Int64)] = []
        for blob in unreferenced {
            if let since = blob.since, since <= cutoff {
                due.append((blob.digest, blob.size))
            } else if blob.since == nil && grace <= .zero {
                due.append((blob.digest, blob.size))
            } else {
                report.waitingBlobs += 1
                report.waitingBytes += blob.size
            }
        }

        if dryRun {
            report.removedBlobs = due.count
            report.removedBytes = due.reduce(0) { $0 + $1.size }
            report.removed = due.prefix(1000).map(\.digest)
            return report
        }

        // Record the marks: new ones from now, and forget those referenced again; tombstones
        // older than a day go (no transaction waits that long between its commit to the store
        // and its rows).
        try catalog.database.write { tx in
            try tx.execute("DELETE FROM gc_removals WHERE removed_at_ns < ?", [.integer(now - Self.tombstoneLife)])
            try tx.execute("""
                DELETE FROM gc_marks WHERE EXISTS(SELECT 1 FROM versions v WHERE v.blob_digest = gc_marks.digest)
                OR EXISTS(SELECT 1 FROM artifacts a WHERE a.blob_digest = gc_marks.digest)
                """)
            for blob in unreferenced where blob.since == nil {
                try tx.execute("""
                    INSERT INTO gc_marks(digest, size, unreferenced_since_ns) VALUES(?, ?, ?) ON CONFLICT(digest) DO NOTHING
                    """, [.text(blob.digest), .integer(blob.size), .integer(now)])
            }
        }
        let stillFiles = Set(files.map(\.hex))
        try catalog.database.write { tx in
            // Marks of files that are gone and have no row (removed by hand, or by a run killed after its unlink).
            for (digest, _) in earlierMarks where !stillFiles.contains(digest) && !known.contains(digest) {
                try tx.execute("DELETE FROM gc_marks WHERE digest = ?", [.text(digest)])
            }
        }

        // Sweep, a batch per transaction; each blob decided again inside it.
        var start = 0
        while start < due.count {
            let batch = Array(due[start..<min(due.count, start + Self.sweepBatch)])
            let removed = try catalog.database.write { tx -> [(String, Int64)] in
                var removed: [(String, Int64)] = []
                for blob in batch {
                    guard let digest = Digest(hex: blob.digest) else { continue }
                    let hasRow = !(try tx.query("SELECT 1 FROM blobs WHERE digest = ?", [.text(blob.digest)])).isEmpty
                    if hasRow {
                        let deleted = try tx.execute("""
                            DELETE FROM blobs WHERE digest = ?
                            AND NOT EXISTS(SELECT 1 FROM versions v WHERE v.blob_digest = blobs.digest)
                            AND NOT EXISTS(SELECT 1 FROM artifacts a WHERE a.blob_digest = blobs.digest)
                            """, [.text(blob.digest)])
                        // Referenced again since the mark: it stays, and so does nothing of its mark.
                        guard deleted > 0 else {
                            try tx.execute("DELETE FROM gc_marks WHERE digest = ?", [.text(blob.digest)])
                            continue
                        }
                    }
                    // The row is gone (in this transaction) before the blob; the tombstone
                    // tells a transaction recording rows that name it of the removal.
                    try tx.execute("""
                        INSERT INTO gc_removals(digest, removed_at_ns) VALUES(?, ?)
                        ON CONFLICT(digest) DO UPDATE SET removed_at_ns = excluded.removed_at_ns
                        """, [.text(blob.digest), .integer(wallClockNanoseconds())])
                    do {
                        try store.remove(digest)
                    } catch let error as SystemError where error.errno == ENOENT {
                        // Gone already (a run killed after its unlink): the row still goes.
                    } catch let error as BlobStoreError where error.value == .missing {
                    }
                    try tx.execute("DELETE FROM gc_marks WHERE digest = ?", [.text(blob.digest)])
                    removed.append((blob.digest, blob.size))
                }
                return removed
            }
            report.removedBlobs += removed.count
            report.removedBytes += removed.reduce(0) { $0 + $1.1 }
            if report.removed.count < 1000 { report.removed += removed.prefix(1000 - report.removed.count).map(\.0) }
            start += batch.count
        }
        if report.removedBlobs > 0 {
            try catalog.database.write { tx in
                try EventLog.append(GCCompleted(removedBlobs: report.removedBlobs, removedBytes: report.removedBytes), in: tx)
            }
            logger.notice("garbage collected", metadata: ["blobs": "\(report.removedBlobs)", "bytes": "\(report.removedBytes)"])
        }
        return report
    }
}

extension GarbageCollector {
    /// How long a removal's tombstone is kept.
    static let tombstoneLife: Int64 = 86_400 * 1_000_000_000
    /// Throws `BlobStoreError.missing` unless every blob named is still stored. Called inside
    /// the transaction that records rows referencing them, after the blobs' commit to the
    /// store: only blobs the collector removed in the last day (a tombstone) are asked of the
    /// store again, so an ingest of new files makes no round trip to an object store for it.
    /// SQLite runs write transactions one at a time; PostgreSQL's run SERIALIZABLE, so of a
    /// sweep and a recording transaction that overlap (each reading what the other writes:
    /// the references, the tombstone) one fails and runs again, and then sees the other.
    public static func requirePresent(_ digests: [Digest], store: any BlobStore, in tx: any CatalogTransaction) throws {
        let hexes = Array(Set(digests.map(\.hex))).sorted()
        var removed: [Digest] = []
        var start = 0
        while start < hexes.count {
            let chunk = Array(hexes[start..<min(hexes.count, start + 500)])
            removed += try tx.query("SELECT digest FROM gc_removals WHERE digest IN (\(chunk.map { _ in "?" }.joined(separator: ",")))",
                                    chunk.map { .text($0) }).compactMap { Digest(hex: $0.text(0)) }
            start += chunk.count
        }
        try store.requirePresent(removed)
    }
}

extension BlobStore {
    /// Throws `BlobStoreError.missing` unless every blob named is stored (see
    /// `GarbageCollector.requirePresent`, which asks this of the blobs removed lately).
    public func requirePresent(_ digests: [Digest]) throws {
        for digest in digests where try !contains(digest) {
            throw BlobStoreError.missing(digest.hex)
        }
    }
}
