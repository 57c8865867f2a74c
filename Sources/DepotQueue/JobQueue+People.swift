import DepotCore
import DepotStore
import Foundation

extension JobQueue {
    // MARK: - What people do

    /// Runs a job again, with its attempts reset and a person's priority: one that failed,
    /// died, was skipped or cancelled. What it needs that did not succeed comes back with it
    /// (the failed job a skipped one waited for), and so does what was skipped for its sake.
    /// - Returns: the job as it is now.
    /// - Throws: `JobQueueError.notFound`, or `.conflict` for a job that is not finished or succeeded.
    @discardableResult
    public func retry(id: Int64) throws -> Job {
        try database.write { tx in
            guard let job = try job(id: id, in: tx) else { throw JobQueueError.notFound("no job \(id)") }
            guard job.state.endedWithoutSuccess else {
                throw JobQueueError.conflict(job.state == .succeeded
                    ? "job \(id) succeeded; queue a new \(job.kind) job to run it again"
                    : "job \(id) is \(job.state.rawValue) already")
            }
            try requeue(rootOf: job, in: tx)
            return try self.job(id: id, in: tx)!
        }
    }

    /// Runs every dead job again; returns how many.
    @discardableResult
    public func retryDead() throws -> Int {
        try database.write { tx in
            let dead = try load(try tx.query("SELECT \(Self.columns) FROM jobs WHERE state = 'dead' ORDER BY id"), in: tx)
            for job in dead { try requeue(rootOf: job, in: tx) }
            return dead.count
        }
    }

    private func requeue(rootOf job: Job, in tx: any CatalogTransaction) throws {
        // Up: the unsuccessful jobs it waits for (transitively); down: what was skipped for it.
        var toRequeue: [Int64: Job] = [job.id: job]
        var up = [job]
        while let next = up.popLast() {
            for dependency in next.waitsFor {
                guard toRequeue[dependency] == nil, let d = try self.job(id: dependency, in: tx), d.state.endedWithoutSuccess else { continue }
                toRequeue[d.id] = d
                up.append(d)
            }
        }
        var down = Array(toRequeue.keys)
        while let next = down.popLast() {
            for row in try tx.query("""
                SELECT j.id FROM job_dependencies d JOIN jobs j ON j.id = d.job_id WHERE d.waits_for = ? AND j.state = 'skipped'
                """, [.integer(next)]) where toRequeue[row.int(0)] == nil {
                if let d = try self.job(id: row.int(0), in: tx) {
                    toRequeue[d.id] = d
                    down.append(d.id)
                }
            }
        }
        let now = wallClockNanoseconds()
        for j in toRequeue.values {
            try tx.execute("""
                UPDATE jobs SET state = 'waiting', attempts = 0, run_after_ns = 0, lease_owner = NULL, lease_expires_ns = NULL,
                    progress = 0, progress_message = NULL, finished_at_ns = NULL, outcome = NULL, updated_at_ns = ?,
                    priority = CASE WHEN priority < ? THEN ? ELSE priority END
                WHERE id = ?
                """, [.integer(now), .integer(Int64(Self.personPriority)), .integer(Int64(Self.personPriority)), .integer(j.id)])
        }
        for j in toRequeue.values { try promoteIfReady(j.id, in: tx) }
        try refreshStatus(versionID: job.versionID, in: tx)
    }

    /// Cancels a job that has not finished: a waiting or queued one never runs; a running one
    /// is stopped by its runner at the next heartbeat. What waits for it is skipped.
    @discardableResult
    public func cancel(id: Int64) throws -> Job {
        try database.write { tx in
            guard let job = try job(id: id, in: tx) else { throw JobQueueError.notFound("no job \(id)") }
            guard !job.state.isFinished else {
                throw JobQueueError.conflict("job \(id) is \(job.state.rawValue); only a job that has not finished can be cancelled")
            }
            let now = wallClockNanoseconds()
            try tx.execute("""
                UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires_ns = NULL, finished_at_ns = ?,
                    updated_at_ns = ?, last_error = 'cancelled by a person' WHERE id = ?
                """, [.integer(now), .integer(now), .integer(id)])
            try skipDependents(of: job, because: "job \(job.id) (\(job.kind)) was cancelled", in: tx)
            try refreshStatus(versionID: job.versionID, in: tx)
            return try self.job(id: id, in: tx)!
        }
    }

    // MARK: - Dependencies (what the runner's results and people's changes both use)

    /// Moves a waiting job to queued once everything it waits for has succeeded.
    func promoteIfReady(_ id: Int64, in tx: any CatalogTransaction) throws {
        let pending = try tx.query("""
            SELECT count(*) FROM job_dependencies d JOIN jobs j ON j.id = d.waits_for WHERE d.job_id = ? AND j.state <> 'succeeded'
            """, [.integer(id)])[0].int(0)
        guard pending == 0 else { return }
        if try tx.execute("UPDATE jobs SET state = 'queued', updated_at_ns = ? WHERE id = ? AND state = 'waiting'",
                          [.integer(wallClockNanoseconds()), .integer(id)]) > 0 {
            try tx.notify(Self.readyChannel)
        }
    }

    func dependents(of id: Int64, in tx: any CatalogTransaction) throws -> [Int64] {
        try tx.query("""
            SELECT j.id FROM job_dependencies d JOIN jobs j ON j.id = d.job_id WHERE d.waits_for = ? AND j.state = 'waiting'
            """, [.integer(id)]).map { $0.int(0) }
    }

    /// Ends, as skipped, everything that waits (transitively) for `job`, with why.
    func skipDependents(of job: Job, because reason: String, in tx: any CatalogTransaction) throws {
        var pending = [job.id]
        var version: VersionInfo?
        while let next = pending.popLast() {
            for id in try dependents(of: next, in: tx) {
                let now = wallClockNanoseconds()
                try tx.execute("""
                    UPDATE jobs SET state = 'skipped', last_error = ?, finished_at_ns = ?, updated_at_ns = ? WHERE id = ?
                    """, [.text(reason), .integer(now), .integer(now), .integer(id)])
                if version == nil { version = try catalog.version(id: job.versionID, in: tx) }
                if let version, let skipped = try self.job(id: id, in: tx) {
                    let event = JobSkipped(job: JobEventFields(skipped, version: version), reason: reason)
                    try EventLog.append(event, in: tx)
                    // A kind that announces its end (generate) announces this one too: whoever
                    // asked for it waits for one of its events, never for nothing.
                    if let prefix = JobKinds.named(skipped.kind)?.eventPrefix {
                        try EventLog.append(event, type: prefix + ".failed", documentID: version.documentID, in: tx)
                    }
                }
                pending.append(id)
            }
        }
    }
}
