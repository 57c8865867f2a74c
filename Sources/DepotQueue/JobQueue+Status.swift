import DepotCore
import DepotStore
import Foundation

extension JobQueue {
    // MARK: - Processing status

    /// The processing status of each version (`.none` for one without jobs).
    public func status(versionIDs: [Int64], in tx: any CatalogTransaction) throws -> [Int64: ProcessingStatus] {
        var result: [Int64: ProcessingStatus] = [:]
        var start = 0
        while start < versionIDs.count {
            let slice = Array(versionIDs[start..<min(versionIDs.count, start + 500)])
            for row in try tx.query("SELECT version_id, status FROM job_version_status WHERE version_id IN (\(slice.map { _ in "?" }.joined(separator: ",")))",
                                    slice.map { .integer($0) }) {
                result[row.int(0)] = ProcessingStatus(rawValue: row.text(1)) ?? ProcessingStatus.none
            }
            start += slice.count
        }
        return result
    }

    public func status(versionID: Int64) throws -> ProcessingStatus {
        try database.read { tx in try status(versionIDs: [versionID], in: tx)[versionID] ?? .none }
    }

    /// The versions whose processing status is `status`, for the store's document listing.
    public func versions(withStatus status: ProcessingStatus) -> VersionSet {
        if status == .none {
            return VersionSet(sql: "SELECT version_id FROM job_version_status", values: [], negated: true)
        }
        return VersionSet(sql: "SELECT version_id FROM job_version_status WHERE status = ?", values: [.text(status.rawValue)])
    }

    /// Recomputes a version's status from its jobs; appends `media.processed` when the last of
    /// them has just finished.
    func refreshStatus(versionID: Int64, in tx: any CatalogTransaction) throws {
        let jobs = try load(try tx.query("SELECT \(Self.columns) FROM jobs WHERE version_id = ? ORDER BY id", [.integer(versionID)]), in: tx)
        let status = ProcessingStatus.of(jobs.map { ($0.state, $0.outcome) })
        let old = try tx.query("SELECT status FROM job_version_status WHERE version_id = ?", [.integer(versionID)]).first
            .flatMap { ProcessingStatus(rawValue: $0.text(0)) }
        guard old != status else { return }
        try tx.execute("""
            INSERT INTO job_version_status(version_id, status, updated_at_ns) VALUES(?, ?, ?)
            ON CONFLICT(version_id) DO UPDATE SET status = excluded.status, updated_at_ns = excluded.updated_at_ns
            """, [.integer(versionID), .text(status.rawValue), .integer(wallClockNanoseconds())])
        guard status.isFinished, status != .none, old.map({ !$0.isFinished }) ?? true,
              let version = try catalog.version(id: versionID, in: tx) else { return }
        try EventLog.append(MediaProcessed(
            documentID: version.documentID, versionID: version.id, version: version.number, collection: version.collection,
            path: version.path, sha256: version.digest, mediaType: version.mediaType, status: status,
            jobs: jobs.map { .init(id: $0.id, kind: $0.kind, state: $0.state, outcome: $0.outcome, processor: $0.processor,
                                   error: $0.state == .succeeded ? nil : $0.lastError) },
            output: "outbox/\(version.collection)/\(version.path)/"), in: tx)
    }

    /// Fills in the status of versions whose jobs were queued before depot kept one (a
    /// catalog from an earlier release); does nothing when there are none.
    public func backfillStatuses() throws {
        let missing = try database.read { tx in
            try tx.query("""
                SELECT DISTINCT version_id FROM jobs WHERE version_id NOT IN (SELECT version_id FROM job_version_status)
                """).map { $0.int(0) }
        }
        guard !missing.isEmpty else { return }
        try database.write { tx in
            for id in missing {
                let jobs = try self.jobs(versionID: id, in: tx)
                try tx.execute("INSERT INTO job_version_status(version_id, status, updated_at_ns) VALUES(?, ?, ?) ON CONFLICT(version_id) DO NOTHING",
                               [.integer(id), .text(ProcessingStatus.of(jobs.map { ($0.state, $0.outcome) }).rawValue),
                                .integer(wallClockNanoseconds())])
            }
        }
    }
}
