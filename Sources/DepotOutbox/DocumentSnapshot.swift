import DepotCore
import DepotStore
import Foundation

/// Everything a document's manifest says, read from the catalog in one read transaction so
/// that the versions, artifacts, tags and jobs agree with each other.
struct DocumentSnapshot {
    struct Version {
        var id: Int64
        var number: Int64
        var digest: String
        var size: Int64
        var sourceMtimeNanoseconds: Int64
        var ingestedAtNanoseconds: Int64
        var origin: String
    }

    struct Job {
        var kind: String
        var state: String
        var error: String?
        var outcome: String?
    }

    var id: Int64
    var collection: String
    var path: String
    var currentNumber: Int64
    var createdAtNanoseconds: Int64
    var updatedAtNanoseconds: Int64
    var versions: [Version]
    var tags: [String]
    var artifacts: [ArtifactInfo]
    /// nil when the catalog has no job queue (yet).
    var jobs: [Job]?

    var current: Version? { versions.first { $0.number == currentNumber } }

    static func load(documentID: Int64, catalog: SQLiteCatalog) throws -> DocumentSnapshot? {
        try catalog.withConnection { db in
            // A deferred BEGIN: a consistent read without taking the write lock.
            try db.execute("BEGIN")
            defer { try? db.execute("COMMIT") }
            guard let row = try db.query("""
                SELECT d.id, c.name, d.path, d.current_version, d.created_at_ns, d.updated_at_ns
                FROM documents d JOIN collections c ON c.id = d.collection_id WHERE d.id = ?
                """, [.integer(documentID)]).first else { return nil }
            var doc = DocumentSnapshot(id: row.int(0), collection: row.text(1), path: row.text(2), currentNumber: row.int(3),
                                       createdAtNanoseconds: row.int(4), updatedAtNanoseconds: row.int(5),
                                       versions: [], tags: [], artifacts: [], jobs: nil)
            doc.versions = try db.query("""
                SELECT id, number, blob_digest, size, source_mtime_ns, ingested_at_ns, origin
                FROM versions WHERE document_id = ? ORDER BY number
                """, [.integer(documentID)]).map {
                Version(id: $0.int(0), number: $0.int(1), digest: $0.text(2), size: $0.int(3),
                        sourceMtimeNanoseconds: $0.int(4), ingestedAtNanoseconds: $0.int(5), origin: $0.text(6))
            }
            doc.tags = try db.query("""
                SELECT t.name FROM document_tags dt JOIN tags t ON t.id = dt.tag_id
                WHERE dt.document_id = ? ORDER BY t.name
                """, [.integer(documentID)]).map { $0.text(0) }
            guard let current = doc.current else { return doc }
            doc.artifacts = try db.query("""
                SELECT id, version_id, kind, mime_type, blob_digest, size, producer, producer_version, created_at_ns
                FROM artifacts WHERE version_id = ? ORDER BY kind
                """, [.integer(current.id)]).compactMap { row in
                Digest(hex: row.text(4)).map {
                    ArtifactInfo(id: row.int(0), versionID: row.int(1), kind: row.text(2), mimeType: row.text(3),
                                 digest: $0, size: row.int(5), producer: row.text(6),
                                 producerVersion: row.text(7), createdAtNanoseconds: row.int(8))
                }
            }
            doc.jobs = try jobs(versionID: current.id, db: db)
            return doc
        }
    }

    /// The jobs of a version, when the job queue's table exists: the outbox works with or
    /// without it. An `outcome`/`result` column, if the queue has one, can say "unsupported".
    static func jobs(versionID: Int64, db: SQLiteConnection) throws -> [Job]? {
        let columns = Set(try db.query("SELECT name FROM pragma_table_info('jobs')").map { $0.text(0) })
        guard columns.contains("version_id"), columns.contains("kind"), columns.contains("state") else { return nil }
        let error = columns.contains("last_error") ? "last_error" : "NULL"
        let outcome = columns.contains("outcome") ? "outcome" : columns.contains("result") ? "result" : "NULL"
        return try db.query("""
            SELECT kind, state, \(error), \(outcome) FROM jobs WHERE version_id = ? ORDER BY kind, rowid
            """, [.integer(versionID)]).map { row in
            let err = row.text(2), out = row.text(3)
            return Job(kind: row.text(0), state: row.text(1), error: err.isEmpty ? nil : err, outcome: out.isEmpty ? nil : out)
        }
    }

    /// One word for where processing of the current version stands.
    var processingStatus: String {
        guard let jobs, !jobs.isEmpty else { return "none" }
        let states = Set(jobs.map(\.state))
        for state in ["running", "queued", "failed", "dead"] where states.contains(state) { return state }
        let finished = jobs.filter { $0.state == "succeeded" }
        if finished.isEmpty { return "none" }  // only cancelled ones
        if finished.allSatisfy({ $0.outcome == "unsupported" || $0.state == "unsupported" }) { return "unsupported" }
        return "succeeded"
    }

    /// The manifest, a pure function of the catalog's state: publishing twice (or rebuilding)
    /// gives the same bytes.
    func manifest(artifacts: [[String: Any]]) -> [String: Any] {
        func time(_ ns: Int64) -> String { JournalLogHandler.formatTimestamp(ns) }
        var result: [String: Any] = [
            "manifest_version": 1,
            "document": [
                "id": id, "collection": collection, "path": path, "tags": tags,
                "created_at": time(createdAtNanoseconds), "updated_at": time(updatedAtNanoseconds),
            ] as [String: Any],
            "versions": versions.map { v in
                ["number": v.number, "sha256": v.digest, "size": v.size, "ingested_at": time(v.ingestedAtNanoseconds)] as [String: Any]
            },
            "artifacts": artifacts,
            "processing": [
                "status": processingStatus,
                "jobs": (jobs ?? []).map { job -> [String: Any] in
                    var entry: [String: Any] = ["kind": job.kind, "state": job.state]
                    if let error = job.error { entry["error"] = error }
                    if let outcome = job.outcome { entry["outcome"] = outcome }
                    return entry
                },
            ] as [String: Any],
        ]
        if let v = current {
            result["current_version"] = [
                "id": v.id, "number": v.number, "sha256": v.digest, "size": v.size, "origin": v.origin,
                "ingested_at": time(v.ingestedAtNanoseconds), "source_mtime": time(v.sourceMtimeNanoseconds),
            ] as [String: Any]
        }
        return result
    }
}
