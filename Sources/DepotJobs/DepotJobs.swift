// DepotJobs: the durable job queue in the catalog (one row per job, written in the same
// transaction as the version that needs it), leases with heartbeats, retries with backoff,
// and the supervision of the worker processes that run the jobs (JobRunner).
import DepotCore
import DepotProcess
import DepotStore
import Foundation

/// Where a job is in its life.
public enum JobState: String, Sendable, CaseIterable, Codable {
    case queued, running, succeeded
    /// Failed; will be retried after its backoff.
    case failed
    /// Gave up after `max_attempts`.
    case dead
    /// Cancelled by a user.
    case cancelled
}

/// One job with the document and version it is for.
public struct Job: Sendable, Equatable {
    public var id: Int64
    public var versionID: Int64
    public var kind: String
    public var state: JobState
    public var priority: Int
    public var attempts: Int
    public var maxAttempts: Int
    public var runAfterNanoseconds: Int64
    public var leaseOwner: String?
    public var leaseExpiresNanoseconds: Int64?
    public var progress: Int
    public var progressMessage: String?
    public var lastError: String?
    public var mediaType: String?
    public var mediaClass: String
    public var processor: String?
    /// "processed" or "unsupported" once succeeded.
    public var outcome: String?
    public var processingNanoseconds: Int64?
    public var outputBytes: Int64?
    public var createdAtNanoseconds: Int64
    public var updatedAtNanoseconds: Int64
    public var startedAtNanoseconds: Int64?
    public var finishedAtNanoseconds: Int64?
    // The version's document.
    public var documentID: Int64
    public var collection: String
    public var path: String
    public var versionNumber: Int
    public var digest: Digest
}

/// Why a queue operation was refused.
public struct JobQueueError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// The job queue: a table in the catalog database, so that a job commits with its version.
///
/// `@unchecked Sendable`: all state is in SQLite, reached through the catalog's lock.
public final class JobQueue: @unchecked Sendable {
    public let catalog: SQLiteCatalog
    public let settings: JobsSettings

    /// The queue's table, applied once by name into the catalog (see `catalogModules`).
    public static let migrations: [CatalogMigration] = [
        CatalogMigration(name: "jobs-1", sql: """
            CREATE TABLE jobs(
                id INTEGER PRIMARY KEY,
                version_id INTEGER NOT NULL REFERENCES versions(id),
                kind TEXT NOT NULL,
                state TEXT NOT NULL CHECK(state IN ('queued','running','succeeded','failed','dead','cancelled')),
                priority INTEGER NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                run_after_ns INTEGER NOT NULL DEFAULT 0,
                lease_owner TEXT,
                lease_expires_ns INTEGER,
                progress INTEGER NOT NULL DEFAULT 0 CHECK(progress BETWEEN 0 AND 100),
                progress_message TEXT,
                last_error TEXT,
                media_type TEXT,
                media_class TEXT NOT NULL DEFAULT 'other',
                processor TEXT,
                outcome TEXT,
                processing_ns INTEGER,
                output_bytes INTEGER,
                created_at_ns INTEGER NOT NULL,
                updated_at_ns INTEGER NOT NULL,
                started_at_ns INTEGER,
                finished_at_ns INTEGER);
            CREATE INDEX jobs_ready ON jobs(media_class, priority DESC, id) WHERE state IN ('queued','failed');
            CREATE INDEX jobs_by_version ON jobs(version_id);
            CREATE INDEX jobs_by_state ON jobs(state, kind);
            """),
    ]

    public init(catalog: SQLiteCatalog, settings: JobsSettings) {
        self.catalog = catalog
        self.settings = settings
    }

    // MARK: enqueue

    /// Makes every version that `catalog` records get a "process" job in the same transaction.
    /// The type is detected here, from the stored blob's first bytes (bounded reads), so that
    /// the job can wait for a worker of its media class.
    public static func enqueueOnNewVersions(of catalog: SQLiteCatalog, blobPath: @escaping @Sendable (Digest) -> String,
                                            settings: JobsSettings) {
        catalog.onVersionCreated { version, db in
            let mediaType = (try? TypeDetector.detect(path: blobPath(version.digest), name: baseName(version.path)))
                ?? TypeDetector.octetStream
            try enqueue(versionID: version.id, kind: "process", mediaType: mediaType, maxAttempts: settings.maxAttempts, in: db)
        }
    }

    /// Inserts one queued job inside the caller's transaction; returns its id.
    @discardableResult
    public static func enqueue(versionID: Int64, kind: String, mediaType: String?, priority: Int = 0,
                               maxAttempts: Int, in db: SQLiteConnection) throws -> Int64 {
        let now = wallClockNanoseconds()
        let mediaClass = mediaType.map(TypeDetector.mediaClass(of:)) ?? "other"
        let processor = mediaType.flatMap { ProcessorRegistry.standard().select(mediaType: $0)?.name }
        try db.query("""
            INSERT INTO jobs(version_id, kind, state, priority, max_attempts, media_type, media_class, processor,
                             created_at_ns, updated_at_ns)
            VALUES(?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)
            """, [.integer(versionID), .text(kind), .integer(Int64(priority)), .integer(Int64(maxAttempts)),
                  mediaType.map { .text($0) } ?? .null, .text(mediaClass), processor.map { .text($0) } ?? .null,
                  .integer(now), .integer(now)])
        return db.lastInsertRowID
    }

    // MARK: reading

    static let columns = """
        j.id, j.version_id, j.kind, j.state, j.priority, j.attempts, j.max_attempts, j.run_after_ns, j.lease_owner,
        j.lease_expires_ns, j.progress, j.progress_message, j.last_error, j.media_type, j.media_class, j.processor,
        j.outcome, j.processing_ns, j.output_bytes, j.created_at_ns, j.updated_at_ns, j.started_at_ns, j.finished_at_ns,
        d.id, c.name, d.path, v.number, v.blob_digest
        """
    static let joins = """
        FROM jobs j JOIN versions v ON v.id = j.version_id JOIN documents d ON d.id = v.document_id
        JOIN collections c ON c.id = d.collection_id
        """

    static func job(_ row: Row) -> Job {
        func optionalText(_ i: Int) -> String? {
            if case .text(let t) = row.values[i] { return t }
            return nil
        }
        return Job(id: row.int(0), versionID: row.int(1), kind: row.text(2), state: JobState(rawValue: row.text(3)) ?? .queued,
                   priority: Int(row.int(4)), attempts: Int(row.int(5)), maxAttempts: Int(row.int(6)),
                   runAfterNanoseconds: row.int(7), leaseOwner: optionalText(8), leaseExpiresNanoseconds: row.optionalInt(9),
                   progress: Int(row.int(10)), progressMessage: optionalText(11), lastError: optionalText(12),
                   mediaType: optionalText(13), mediaClass: row.text(14), processor: optionalText(15),
                   outcome: optionalText(16), processingNanoseconds: row.optionalInt(17), outputBytes: row.optionalInt(18),
                   createdAtNanoseconds: row.int(19), updatedAtNanoseconds: row.int(20),
                   startedAtNanoseconds: row.optionalInt(21), finishedAtNanoseconds: row.optionalInt(22),
                   documentID: row.int(23), collection: row.text(24), path: row.text(25),
                   versionNumber: Int(row.int(26)), digest: Digest(hex: row.text(27)) ?? Digest(hex: String(repeating: "0", count: 64))!)
    }

    /// Jobs, newest first, optionally of one state and kind.
    public func jobs(state: JobState? = nil, kind: String? = nil, limit: Int = 1000) throws -> [Job] {
        try catalog.withConnection { db in
            try db.query("""
                SELECT \(Self.columns) \(Self.joins)
                WHERE (?1 IS NULL OR j.state = ?1) AND (?2 IS NULL OR j.kind = ?2)
                ORDER BY j.id DESC LIMIT ?3
                """, [state.map { .text($0.rawValue) } ?? .null, kind.map { .text($0) } ?? .null, .integer(Int64(limit))])
                .map(Self.job)
        }
    }

    public func job(id: Int64) throws -> Job? {
        try catalog.withConnection { db in
            try db.query("SELECT \(Self.columns) \(Self.joins) WHERE j.id = ?", [.integer(id)]).first.map(Self.job)
        }
    }

    /// Jobs per state.
    public func counts() throws -> [JobState: Int] {
        try catalog.withConnection { db in
            var result: [JobState: Int] = [:]
            for row in try db.query("SELECT state, count(*) FROM jobs GROUP BY state") {
                if let state = JobState(rawValue: row.text(0)) { result[state] = Int(row.int(1)) }
            }
            return result
        }
    }

    // MARK: user actions

    /// Queues a job again, from any state but queued and running, with its attempts reset.
    public func retry(id: Int64) throws {
        try catalog.withConnection { db in
            try db.transaction {
                let rows = try db.query("SELECT state FROM jobs WHERE id = ?", [.integer(id)])
                guard let row = rows.first else { throw JobQueueError(description: "no job \(id)") }
                let state = row.text(0)
                guard state != "queued" && state != "running" else {
                    throw JobQueueError(description: "job \(id) is \(state) already")
                }
                try Self.requeue(db, where: "id = ?", [.integer(id)])
            }
        }
    }

    /// Queues every dead job again; returns how many.
    @discardableResult
    public func retryDead() throws -> Int {
        try catalog.withConnection { db in
            try db.transaction {
                try Self.requeue(db, where: "state = 'dead'", [])
                return db.changes
            }
        }
    }

    private static func requeue(_ db: SQLiteConnection, where condition: String, _ values: [SQLValue]) throws {
        let now = wallClockNanoseconds()
        try db.query("""
            UPDATE jobs SET state = 'queued', attempts = 0, run_after_ns = 0, lease_owner = NULL, lease_expires_ns = NULL,
                progress = 0, progress_message = NULL, finished_at_ns = NULL, updated_at_ns = \(now)
            WHERE \(condition)
            """, values)
    }

    /// Cancels a job that has not finished: a queued one never runs; a running one is stopped
    /// by its runner at the next heartbeat.
    public func cancel(id: Int64) throws {
        try catalog.withConnection { db in
            try db.transaction {
                let rows = try db.query("SELECT state FROM jobs WHERE id = ?", [.integer(id)])
                guard let row = rows.first else { throw JobQueueError(description: "no job \(id)") }
                let state = row.text(0)
                guard ["queued", "running", "failed"].contains(state) else {
                    throw JobQueueError(description: "job \(id) is \(state); only queued, running or failed jobs can be cancelled")
                }
                let now = wallClockNanoseconds()
                try db.query("""
                    UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires_ns = NULL, finished_at_ns = ?,
                        updated_at_ns = ?, last_error = coalesce(last_error, 'cancelled by a user') WHERE id = ?
                    """, [.integer(now), .integer(now), .integer(id)])
            }
        }
    }

    // MARK: the runner's side

    /// Takes the next ready job of a media class for `owner`: the highest priority, then the
    /// oldest; nil when there is none. Counts an attempt.
    public func lease(mediaClass: String, owner: String) throws -> Job? {
        let now = wallClockNanoseconds()
        return try catalog.withConnection { db in
            // Look first without the write lock: an idle poll must not serialise with the ingest.
            let candidates = try db.query("""
                SELECT id FROM jobs WHERE state IN ('queued','failed') AND media_class = ? AND run_after_ns <= ?
                ORDER BY priority DESC, id LIMIT 1
                """, [.text(mediaClass), .integer(now)])
            guard let id = candidates.first?.int(0) else { return nil }
            return try db.transaction { () -> Job? in
                try db.query("""
                    UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?, lease_expires_ns = ?,
                        progress = 0, progress_message = NULL, started_at_ns = ?, updated_at_ns = ?
                    WHERE id = ? AND state IN ('queued','failed')
                    """, [.text(owner), .integer(now + settings.lease.nanosecondsValue), .integer(now), .integer(now), .integer(id)])
                guard db.changes == 1 else { return nil }
                return try db.query("SELECT \(Self.columns) \(Self.joins) WHERE j.id = ?", [.integer(id)]).first.map(Self.job)
            }
        }
    }

    /// Renews a running job's lease (and records its progress); false when the job is no
    /// longer this owner's (cancelled, or its lease was taken back).
    public func heartbeat(id: Int64, owner: String, progress: Int? = nil, message: String? = nil) throws -> Bool {
        let now = wallClockNanoseconds()
        return try catalog.withConnection { db in
            try db.query("""
                UPDATE jobs SET lease_expires_ns = ?, updated_at_ns = ?, progress = coalesce(?, progress),
                    progress_message = coalesce(?, progress_message)
                WHERE id = ? AND state = 'running' AND lease_owner = ?
                """, [.integer(now + settings.lease.nanosecondsValue), .integer(now),
                      progress.map { .integer(Int64($0)) } ?? .null, message.map { .text($0) } ?? .null,
                      .integer(id), .text(owner)])
            return db.changes == 1
        }
    }

    /// What a finished job made.
    public struct Completion: Sendable {
        public var outcome: String
        public var processor: String?
        public var processorVersion: String?
        public var artifacts: [ArtifactInfo]
        public var processingNanoseconds: Int64

        public init(outcome: String, processor: String?, processorVersion: String?, artifacts: [ArtifactInfo],
                    processingNanoseconds: Int64) {
            self.outcome = outcome
            self.processor = processor
            self.processorVersion = processorVersion
            self.artifacts = artifacts
            self.processingNanoseconds = processingNanoseconds
        }
    }

    /// Marks a job succeeded, records its artifacts (their blobs are committed already) and
    /// appends `media.processed`, in one transaction. False when the job is no longer this
    /// owner's (nothing is recorded then).
    public func succeed(_ job: Job, owner: String, _ completion: Completion) throws -> Bool {
        let now = wallClockNanoseconds()
        let outputBytes = completion.artifacts.reduce(Int64(0)) { $0 + $1.size }
        return try catalog.withConnection { db in
            try db.transaction {
                try db.query("""
                    UPDATE jobs SET state = 'succeeded', lease_owner = NULL, lease_expires_ns = NULL, progress = 100,
                        outcome = ?, processor = coalesce(?, processor), processing_ns = ?, output_bytes = ?,
                        finished_at_ns = ?, updated_at_ns = ?, last_error = NULL
                    WHERE id = ? AND state = 'running' AND lease_owner = ?
                    """, [.text(completion.outcome), completion.processor.map { .text($0) } ?? .null,
                          .integer(completion.processingNanoseconds), .integer(outputBytes), .integer(now), .integer(now),
                          .integer(job.id), .text(owner)])
                guard db.changes == 1 else { return false }
                try SQLiteCatalog.recordArtifacts(completion.artifacts, in: db)
                var data = Self.eventData(job)
                data["status"] = completion.outcome
                data["processor"] = completion.processor ?? NSNull()
                data["processor_version"] = completion.processorVersion ?? NSNull()
                data["output"] = Self.outboxLocation(job)
                data["metrics"] = ["processing_ms": Double(completion.processingNanoseconds) / 1e6, "output_bytes": outputBytes]
                data["artifacts"] = completion.artifacts.map { a -> [String: Any] in
                    ["kind": a.kind, "mime_type": a.mimeType, "sha256": a.digest.hex, "size": a.size,
                     "producer": a.producer, "producer_version": a.producerVersion]
                }
                try EventLog.append("media.processed", data: data, in: db)
                return true
            }
        }
    }

    /// Fails a running job: `failed` with a backoff when attempts remain, else `dead`; appends
    /// `job.failed` or `job.dead` in the same transaction. Nil when the job was not this owner's.
    @discardableResult
    public func fail(_ job: Job, owner: String, reason: String) throws -> JobState? {
        try catalog.withConnection { db in
            try db.transaction {
                let rows = try db.query("SELECT attempts, max_attempts FROM jobs WHERE id = ? AND state = 'running' AND lease_owner = ?",
                                        [.integer(job.id), .text(owner)])
                guard let row = rows.first else { return nil }
                return try fail(db, job: job, attempts: Int(row.int(0)), maxAttempts: Int(row.int(1)), reason: reason)
            }
        }
    }

    private func fail(_ db: SQLiteConnection, job: Job, attempts: Int, maxAttempts: Int, reason: String) throws -> JobState {
        let now = wallClockNanoseconds()
        var data = Self.eventData(job)
        data["reason"] = reason
        data["attempts"] = attempts
        data["max_attempts"] = maxAttempts
        if attempts >= maxAttempts {
            try db.query("""
                UPDATE jobs SET state = 'dead', lease_owner = NULL, lease_expires_ns = NULL, last_error = ?,
                    finished_at_ns = ?, updated_at_ns = ? WHERE id = ?
                """, [.text(reason), .integer(now), .integer(now), .integer(job.id)])
            try EventLog.append("job.dead", data: data, in: db)
            return .dead
        }
        let runAfter = now + backoff(attempt: attempts)
        try db.query("""
            UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_expires_ns = NULL, last_error = ?, run_after_ns = ?,
                updated_at_ns = ? WHERE id = ?
            """, [.text(reason), .integer(runAfter), .integer(now), .integer(job.id)])
        data["retry_at"] = JournalLogHandler.formatTimestamp(runAfter)
        try EventLog.append("job.failed", data: data, in: db)
        return .failed
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
        _ = try catalog.withConnection { db in
            try db.query("""
                UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), lease_owner = NULL, lease_expires_ns = NULL,
                    progress = 0, progress_message = NULL, updated_at_ns = ? WHERE id = ? AND state = 'running' AND lease_owner = ?
                """, [.integer(wallClockNanoseconds()), .integer(job.id), .text(owner)])
        }
    }

    /// Takes back running jobs whose lease ran out, or whose owner is gone (`isAlive` false):
    /// each goes back to queued — its attempt counted — or to dead when it has had them all.
    /// Returns the ids taken back.
    @discardableResult
    public func recoverLeases(isAlive: (String) -> Bool) throws -> [Int64] {
        let now = wallClockNanoseconds()
        return try catalog.withConnection { db in
            let running = try db.query("SELECT \(Self.columns), j.lease_owner \(Self.joins) WHERE j.state = 'running'")
            var recovered: [Int64] = []
            for row in running {
                let job = Self.job(row)
                let expired = (job.leaseExpiresNanoseconds ?? 0) < now
                guard expired || !isAlive(job.leaseOwner ?? "") else { continue }
                try db.transaction {
                    let reason = expired ? "lease expired (its worker or daemon stopped answering)" : "its daemon stopped (\(job.leaseOwner ?? "?"))"
                    if job.attempts >= job.maxAttempts {
                        _ = try fail(db, job: job, attempts: job.attempts, maxAttempts: job.maxAttempts, reason: reason)
                    } else {
                        try db.query("""
                            UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_ns = NULL, last_error = ?,
                                progress = 0, progress_message = NULL, updated_at_ns = ?
                            WHERE id = ? AND state = 'running' AND lease_owner IS ?
                            """, [.text(reason), .integer(now), .integer(job.id), job.leaseOwner.map { .text($0) } ?? .null])
                    }
                }
                recovered.append(job.id)
            }
            return recovered
        }
    }

    /// The outbox folder of a job's document, relative to the root.
    static func outboxLocation(_ job: Job) -> String {
        "outbox/\(job.collection)/\(job.path)/"
    }

    /// The fields every job event carries.
    static func eventData(_ job: Job) -> [String: Any] {
        ["job_id": job.id, "kind": job.kind, "document_id": job.documentID, "version_id": job.versionID,
         "version": job.versionNumber, "collection": job.collection, "path": job.path, "sha256": job.digest.hex,
         "media_type": job.mediaType ?? TypeDetector.octetStream, "processor": job.processor ?? NSNull()]
    }
}

/// Names a lease holder so that a later daemon can tell whether it is still alive:
/// "serve:<pid>:<start time in clock ticks since boot>" (the start time tells a reused pid apart).
public enum LeaseOwner {
    public static func current() -> String {
        "serve:\(getpid()):\(startTime(getpid()) ?? 0)"
    }

    /// Whether the process named by `owner` is running (unknown forms count as alive).
    public static func isAlive(_ owner: String) -> Bool {
        let parts = owner.split(separator: ":")
        guard parts.count == 3, parts[0] == "serve", let pid = Int32(parts[1]), let start = UInt64(parts[2]) else { return true }
        guard let actual = startTime(pid) else { return false }
        return actual == start
    }

    /// Field 22 of /proc/PID/stat, after the parenthesised command name (which may hold spaces).
    static func startTime(_ pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After ")": state is field 3, so starttime (field 22) is at index 19.
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }
}
