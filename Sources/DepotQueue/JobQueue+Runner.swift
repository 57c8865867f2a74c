import DepotCore
import DepotStore
import Foundation

extension JobQueue {
    // MARK: - The runner's side

    /// Takes the next ready job for `owner`: the highest priority, then the oldest, among the
    /// kinds and media classes given (nil: any); nil when there is none. Counts an attempt.
    public func lease(owner: String, kinds: Set<String>? = nil, mediaClasses: Set<String>? = nil) throws -> Job? {
        if kinds?.isEmpty == true || mediaClasses?.isEmpty == true { return nil }
        let now = wallClockNanoseconds()
        var sql = "SELECT id FROM jobs WHERE state IN ('queued','retrying') AND run_after_ns <= ?"
        var values: [SQLValue] = [.integer(now)]
        if let kinds {
            sql += " AND kind IN (\(kinds.map { _ in "?" }.joined(separator: ",")))"
            values += kinds.sorted().map { .text($0) }
        }
        if let mediaClasses {
            sql += " AND media_class IN (\(mediaClasses.map { _ in "?" }.joined(separator: ",")))"
            values += mediaClasses.sorted().map { .text($0) }
        }
        sql += " ORDER BY priority DESC, id LIMIT 1"
        if database.dialect == .postgres {
            // PostgreSQL: the pick and the take in one transaction; FOR UPDATE SKIP LOCKED
            // passes over the jobs other workers are taking right now, so that two nodes
            // never take one job, nor queue up behind each other for it.
            return try database.write { tx -> Job? in
                guard let id = try tx.query(sql + " FOR UPDATE SKIP LOCKED", values).first?.int(0) else { return nil }
                return try take(id, owner: owner, now: now, in: tx)
            }
        }
        // Look first without the write lock: an idle poll must not serialise with the ingest.
        guard let id = try database.read({ tx in try tx.query(sql, values).first?.int(0) }) else { return nil }
        return try database.write { tx in try take(id, owner: owner, now: now, in: tx) }
    }

    /// Marks the ready job `id` as running for `owner`; nil when it is not ready any more.
    private func take(_ id: Int64, owner: String, now: Int64, in tx: any CatalogTransaction) throws -> Job? {
        let changed = try tx.execute("""
            UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_expires_ns = ?,
                progress = 0, progress_message = NULL, started_at_ns = ?, updated_at_ns = ?
            WHERE id = ? AND state IN ('queued','retrying')
            """, [.text(owner), .integer(now + settings.lease.nanosecondsValue), .integer(now), .integer(now), .integer(id)])
        guard changed == 1 else { return nil }
        try refreshStatus(versionID: try tx.query("SELECT version_id FROM jobs WHERE id = ?", [.integer(id)])[0].int(0), in: tx)
        return try job(id: id, in: tx)
    }

    /// Renews a running job's lease (and records its progress); false when the job is no
    /// longer this owner's (cancelled, or its lease was taken back).
    public func heartbeat(id: Int64, owner: String, progress: Int? = nil, message: String? = nil) throws -> Bool {
        let now = wallClockNanoseconds()
        return try database.write { tx in
            try tx.execute("""
                UPDATE jobs SET lease_expires_ns = ?, updated_at_ns = ?, progress = coalesce(?, progress),
                    progress_message = coalesce(?, progress_message)
                WHERE id = ? AND state = 'running' AND lease_owner = ?
                """, [.integer(now + settings.lease.nanosecondsValue), .integer(now), .int(progress), .string(message),
                      .integer(id), .text(owner)]) == 1
        }
    }

    /// What a finished job made.
    public struct Completion: Sendable {
        public var outcome: String
        public var processorVersion: String?
        public var artifacts: [ArtifactInfo]
        public var processingNanoseconds: Int64
        /// Why the outcome is "unsupported" ("HEIC images need FFmpeg 6.1 …"), or the worker's
        /// last word on a processed job ("no transcript: …"), kept as the job's progress
        /// message; nil keeps the last one.
        public var reason: String?
        /// The worker's peak address space while it ran the job, when measured.
        public var peakMemoryBytes: Int64?
        /// What the job said of itself in figures (generation's engine, tokens, latency).
        public var report: JobReport?

        public init(outcome: String, processorVersion: String?, artifacts: [ArtifactInfo], processingNanoseconds: Int64,
                    reason: String? = nil, peakMemoryBytes: Int64? = nil, report: JobReport? = nil) {
            self.report = report
            self.outcome = outcome
            self.processorVersion = processorVersion
            self.artifacts = artifacts
            self.processingNanoseconds = processingNanoseconds
            self.reason = reason
            self.peakMemoryBytes = peakMemoryBytes
        }
    }

    /// Marks a job succeeded inside the caller's transaction, in which the store has recorded
    /// its artifacts (`completion.artifacts`, with their ids), appends `job.succeeded`, lets what
    /// waited for it run. False when the job is no longer this owner's: the caller must then
    /// roll the transaction back.
    public func succeed(_ job: Job, owner: String, _ completion: Completion, in tx: any CatalogTransaction) throws -> Bool {
        let now = wallClockNanoseconds()
        let outputBytes = completion.artifacts.reduce(Int64(0)) { $0 + $1.size }
        let changed = try tx.execute("""
            UPDATE jobs SET state = 'succeeded', lease_owner = NULL, lease_expires_ns = NULL, progress = 100,
                outcome = ?, processing_ns = ?, output_bytes = ?, finished_at_ns = ?, updated_at_ns = ?, last_error = NULL,
                progress_message = COALESCE(?, progress_message), peak_memory_bytes = ?
            WHERE id = ? AND state = 'running' AND lease_owner = ?
            """, [.text(completion.outcome), .integer(completion.processingNanoseconds), .integer(outputBytes), .integer(now),
                  .integer(now), completion.reason.map { .text($0) } ?? .null, .int(completion.peakMemoryBytes), .integer(job.id),
                  .text(owner)])
        guard changed == 1 else { return false }
        if let version = try catalog.version(id: job.versionID, in: tx) {
            let succeeded = JobSucceeded(job: JobEventFields(job, version: version), outcome: completion.outcome,
                                         processorVersion: completion.processorVersion,
                                         processingMs: Double(completion.processingNanoseconds) / 1e6,
                                         outputBytes: outputBytes, artifacts: completion.artifacts.map(ArtifactRecord.init),
                                         figures: JobFigures(job, version: version, now: now,
                                                             peakMemoryBytes: completion.peakMemoryBytes, report: completion.report))
            try EventLog.append(succeeded, in: tx)
            if let prefix = JobKinds.named(job.kind)?.eventPrefix {
                try EventLog.append(succeeded, type: prefix + ".completed", documentID: version.documentID, in: tx)
            }
        }
        for id in try dependents(of: job.id, in: tx) { try promoteIfReady(id, in: tx) }
        try refreshStatus(versionID: job.versionID, in: tx)
        return true
    }

    /// Why a job failed, which decides whether it runs again.
    public enum Failure: Sendable, Equatable {
        /// It will fail the same way again (a damaged or refused file, a limit it ran out of).
        case permanent(String)
        /// It may pass (a crash, a busy disk): retried with backoff until `max_attempts`.
        case transient(String)

        public var reason: String {
            switch self {
            case .permanent(let r), .transient(let r): return r
            }
        }
    }

    /// Ends a running job that failed: `failed` (permanent), `retrying` with a backoff, or
    /// `dead` when its attempts ran out; appends `job.failed`, `job.retrying` or `job.dead`,
    /// and skips what waits for it when it will not run again. Nil when the job was not this owner's.
    @discardableResult
    /// `report`: what the job said of itself before it failed (generation's engine and latency).
    public func fail(_ job: Job, owner: String, _ failure: Failure, report: JobReport? = nil) throws -> JobState? {
        try database.write { tx in
            guard let current = try self.job(id: job.id, in: tx), current.state == .running, current.leaseOwner == owner else { return nil }
            return try fail(current, failure, report: report, in: tx)
        }
    }

    private func fail(_ job: Job, _ failure: Failure, report: JobReport? = nil, in tx: any CatalogTransaction) throws -> JobState {
        let now = wallClockNanoseconds()
        let state: JobState
        var runAfter: Int64 = 0
        switch failure {
        case .permanent: state = .failed
        case .transient: state = job.attempts >= job.maxAttempts ? .dead : .retrying
        }
        if state == .retrying { runAfter = now + backoff(attempt: job.attempts) }
        try tx.execute("""
            UPDATE jobs SET state = ?, lease_owner = NULL, lease_expires_ns = NULL, last_error = ?, run_after_ns = ?,
                finished_at_ns = ?, updated_at_ns = ? WHERE id = ?
            """, [.text(state.rawValue), .text(failure.reason), .integer(runAfter), .int(state == .retrying ? nil : now),
                  .integer(now), .integer(job.id)])
        if let version = try catalog.version(id: job.versionID, in: tx) {
            var ended = JobEnded(job: JobEventFields(job, version: version), state: state, reason: failure.reason,
                                 attempts: job.attempts, maxAttempts: job.maxAttempts,
                                 figures: JobFigures(job, version: version, now: now, peakMemoryBytes: nil, report: report))
            switch state {
            case .retrying:
                ended.retryAt = Timestamp(nanoseconds: runAfter)
                try EventLog.append(JobRetrying(ended: ended), in: tx)
            case .dead: try EventLog.append(JobDead(ended: ended), in: tx)
            default: try EventLog.append(ended, in: tx)
            }
            if state != .retrying, let prefix = JobKinds.named(job.kind)?.eventPrefix {
                try EventLog.append(ended, type: prefix + ".failed", documentID: version.documentID, in: tx)
            }
        }
        if state != .retrying {
            try skipDependents(of: job, because: "job \(job.id) (\(job.kind)) \(state == .dead ? "died" : "failed"): \(failure.reason)", in: tx)
        }
        try refreshStatus(versionID: job.versionID, in: tx)
        return state
    }

    /// The delay before attempt `attempt + 1`: retry_initial × 2^(attempt−1), at most retry_max,
    /// then "equal jitter" (a random point in its upper half) so that jobs failed together
    /// do not come back together.
    public func backoff(attempt: Int) -> Int64 {
        let initial = settings.retryInitial.nanosecondsValue, maximum = settings.retryMax.nanosecondsValue
        let exponent = min(max(attempt - 1, 0), 40)
        let delay = initial > maximum >> Int64(exponent) ? maximum : min(maximum, initial << Int64(exponent))
        return delay / 2 + Int64.random(in: 0...max(delay / 2, 0))
    }

    /// Gives up on a job the caller still holds without counting the attempt (the daemon is
    /// stopping): it is queued again at once.
    public func release(_ job: Job, owner: String) throws {
        try database.write { tx in
            let changed = try tx.execute("""
                UPDATE jobs SET state = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                    lease_owner = NULL, lease_expires_ns = NULL, progress = 0, progress_message = NULL, updated_at_ns = ?
                WHERE id = ? AND state = 'running' AND lease_owner = ?
                """, [.integer(wallClockNanoseconds()), .integer(job.id), .text(owner)])
            if changed > 0 {
                try refreshStatus(versionID: job.versionID, in: tx)
                try tx.notify(Self.readyChannel)
            }
        }
    }

    /// Takes back running jobs whose lease ran out, or whose owner is gone (`isAlive` false):
    /// each runs again (its attempt counted) or dies when it has had them all. Returns the ids.
    @discardableResult
    public func recoverLeases(isAlive: (String) -> Bool) throws -> [Int64] {
        let now = wallClockNanoseconds()
        let running = try database.read { tx in
            try load(try tx.query("SELECT \(Self.columns) FROM jobs WHERE state = 'running'"), in: tx)
        }
        var recovered: [Int64] = []
        for job in running {
            let expired = (job.leaseExpiresNanoseconds ?? 0) < now
            guard expired || !isAlive(job.leaseOwner ?? "") else { continue }
            let reason = expired ? "lease expired (its worker or daemon stopped answering)" : "its daemon stopped (\(job.leaseOwner ?? "?"))"
            let taken = try database.write { tx -> Bool in
                guard let current = try self.job(id: job.id, in: tx), current.state == .running,
                      current.leaseOwner == job.leaseOwner else { return false }
                if current.attempts >= current.maxAttempts {
                    _ = try fail(current, .transient(reason), in: tx)
                } else {
                    try tx.execute("""
                        UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_ns = NULL, last_error = ?,
                            progress = 0, progress_message = NULL, updated_at_ns = ? WHERE id = ?
                        """, [.text(reason), .integer(now), .integer(job.id)])
                    try refreshStatus(versionID: job.versionID, in: tx)
                    try tx.notify(Self.readyChannel)
                }
                return true
            }
            if taken { recovered.append(job.id) }
        }
        return recovered
    }
}
