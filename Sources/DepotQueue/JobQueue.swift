import DepotCore
import DepotStore
import Foundation

/// Picks, once, the processor that will do a kind of work for a media type: its name, or nil
/// when none does (the job is then recorded as `unsupported` without ever reaching a worker).
public typealias ProcessorChooser = @Sendable (_ kind: String, _ mediaType: String) -> String?

/// The job queue: the `jobs` tables in the catalog's database, so that a version's jobs
/// commit with the version. It knows job kinds, their parameters and dependencies, states,
/// leases and retries; it links no parser (the runner and the workers do that).
public final class JobQueue: Sendable {
    /// The store's catalog, for the versions jobs are about (through its API, never its tables).
    public let catalog: Catalog
    public let settings: JobsSettings
    /// The priority of a job a person queued or retried: before any background work.
    public static let personPriority = 100
    /// The wake-up channel of jobs that became ready to lease (`CatalogDatabase.wakeups`):
    /// idle runners of every node sleep on it instead of polling.
    public static let readyChannel = "depot_jobs_ready"

    public var database: any CatalogDatabase { catalog.database }

    public init(catalog: Catalog, settings: JobsSettings) {
        self.catalog = catalog
        self.settings = settings
        // A version purged from the trash takes its jobs with it, in the purge's transaction.
        catalog.onVersionsPurged { ids, tx in try JobQueue.forgetJobs(ofVersions: ids, in: tx) }
    }

    // MARK: - Queueing

    /// Gives every version `catalog` records the jobs of its media type's pipeline, in the
    /// same transaction as the version.
    public func attachPipeline(chooser: @escaping ProcessorChooser) {
        catalog.onVersionCreated { [self] version, tx in
            try enqueuePipeline(for: version, chooser: chooser, in: tx)
        }
    }

    /// Inserts a version's pipeline (`Pipeline.kinds`, with what its collection asks for)
    /// inside the caller's transaction; returns the new jobs' ids.
    @discardableResult
    public func enqueuePipeline(for version: VersionInfo, chooser: ProcessorChooser, in tx: any CatalogTransaction) throws -> [Int64] {
        let mediaType = version.mediaType ?? "application/octet-stream"
        let mediaClass = MediaClass.of(mediaType)
        var created: [String: (id: Int64, finished: Bool)] = [:]
        var ids: [Int64] = []
        for kind in Pipeline.kinds(for: mediaType, in: version.collection, settings: settings) {
            let waits = kind.waitsFor.compactMap { created[$0] }
            let processor = chooser(kind.name, mediaType)
            if processor == nil && kind.optional { continue }
            let id = try insert(kind: kind, versionID: version.id, mediaType: mediaType, mediaClass: mediaClass,
                                processor: processor, parameters: try kind.resolve([:], defaults: settings.defaultParameters(kind: kind.name, collection: version.collection)),
                                priority: settings.priority(of: kind), queuedBy: "pipeline",
                                waitsFor: waits.map(\.id), ready: waits.allSatisfy(\.finished), in: tx)
            created[kind.name] = (id, processor == nil)
            ids.append(id)
        }
        try refreshStatus(versionID: version.id, in: tx)
        try queueSidecarReaders(of: version, chooser: chooser, in: tx)
        return ids
    }

    /// Queues one job of `kind` for a version, as a person asks (API, CLI): it runs before
    /// background work unless `priority` says otherwise, and waits for the version's
    /// unfinished jobs of the kinds it depends on.
    /// - Throws: `JobQueueError` for an unknown version or kind, a bad parameter, no
    ///   processor for this type, or a dependency that failed (retry that one first).
    public func enqueue(kind name: String, versionID: Int64, parameters: JobParameters = [:], priority: Int? = nil,
                        queuedBy: String, chooser: ProcessorChooser) throws -> Job {
        guard let kind = JobKinds.named(name) else {
            throw JobQueueError.invalid("unknown job kind '\(name)' (known: \(JobKinds.all.map(\.name).joined(separator: ", ")))")
        }
        if let priority, !(-1000...1000).contains(priority) { throw JobQueueError.invalid("priority must be from -1000 to 1000") }
        _ = try kind.resolve(parameters)
        return try database.write { tx in
            guard let version = try catalog.version(id: versionID, in: tx) else {
                throw JobQueueError.notFound("no version \(versionID)")
            }
            let resolved = try kind.resolve(parameters, defaults: settings.defaultParameters(kind: kind.name, collection: version.collection))
            let mediaType = version.mediaType ?? "application/octet-stream"
            try kind.check(resolved, mediaType: mediaType)
            guard let processor = chooser(kind.name, mediaType) else {
                throw JobQueueError.invalid("no processor does \(kind.name) for \(mediaType)")
            }
            var waits: [Int64] = []
            let existing = try jobs(versionID: versionID, in: tx)
            for dependency in kind.waitsFor {
                guard let latest = existing.last(where: { $0.kind == dependency }) else { continue }
                if latest.state.endedWithoutSuccess {
                    throw JobQueueError.conflict("its \(dependency) job \(latest.id) is \(latest.state.rawValue); retry that one first")
                }
                if !latest.state.isFinished { waits.append(latest.id) }
            }
            let id = try insert(kind: kind, versionID: versionID, mediaType: mediaType, mediaClass: MediaClass.of(mediaType),
                                processor: processor, parameters: resolved, priority: priority ?? Self.personPriority,
                                queuedBy: queuedBy, waitsFor: waits, ready: waits.isEmpty, in: tx)
            try refreshStatus(versionID: versionID, in: tx)
            return try job(id: id, in: tx)!
        }
    }

    func insert(kind: JobKind, versionID: Int64, mediaType: String, mediaClass: String, processor: String?,
                        parameters: JobParameters, priority: Int, queuedBy: String, waitsFor: [Int64], ready: Bool,
                        in tx: any CatalogTransaction) throws -> Int64 {
        let now = wallClockNanoseconds()
        // No processor: recorded as done and unsupported at once, never handed to a worker.
        let state: JobState = processor == nil ? .succeeded : (ready ? .queued : .waiting)
        let id = try tx.query("""
            INSERT INTO jobs(version_id, kind, state, priority, params, queued_by, max_attempts, media_type, media_class,
                             processor, outcome, progress, created_at_ns, updated_at_ns, finished_at_ns)
            VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
            """, [.integer(versionID), .text(kind.name), .text(state.rawValue), .integer(Int64(priority)),
                  .text(parameters.jsonText()), .text(queuedBy),
                  .integer(Int64(settings.maxAttempts(kind: kind.name, mediaClass: mediaClass))),
                  .text(mediaType), .text(mediaClass), .string(processor),
                  .string(processor == nil ? JobOutcome.unsupported : nil), .integer(processor == nil ? 100 : 0),
                  .integer(now), .integer(now), .int(processor == nil ? now : nil)])[0].int(0)
        for dependency in waitsFor {
            try tx.execute("INSERT INTO job_dependencies(job_id, waits_for) VALUES(?, ?)", [.integer(id), .integer(dependency)])
        }
        if state == .queued { try tx.notify(Self.readyChannel) }
        return id
    }

    // MARK: - Reading

    static let columns = """
        id, version_id, kind, state, priority, params, queued_by, attempts, max_attempts, run_after_ns, lease_owner,
        lease_expires_ns, progress, progress_message, last_error, media_type, media_class, processor, outcome, processing_ns,
        output_bytes, created_at_ns, updated_at_ns, started_at_ns, finished_at_ns
        """

    static func job(_ row: Row) -> Job {
        Job(id: row.int(0), versionID: row.int(1), kind: row.text(2), state: JobState(rawValue: row.text(3)) ?? .queued,
            priority: Int(row.int(4)), parameters: JobParameters.fromJSON(row.text(5)), queuedBy: row.text(6),
            attempts: Int(row.int(7)), maxAttempts: Int(row.int(8)), runAfterNanoseconds: row.int(9),
            leaseOwner: row.optionalText(10), leaseExpiresNanoseconds: row.optionalInt(11), progress: Int(row.int(12)),
            progressMessage: row.optionalText(13), lastError: row.optionalText(14), mediaType: row.text(15),
            mediaClass: row.text(16), processor: row.optionalText(17), outcome: row.optionalText(18),
            processingNanoseconds: row.optionalInt(19), outputBytes: row.optionalInt(20), createdAtNanoseconds: row.int(21),
            updatedAtNanoseconds: row.int(22), startedAtNanoseconds: row.optionalInt(23), finishedAtNanoseconds: row.optionalInt(24))
    }

    /// Rows as jobs, with what each waits for.
    func load(_ rows: [Row], in tx: any CatalogTransaction) throws -> [Job] {
        var jobs = rows.map(Self.job)
        guard !jobs.isEmpty else { return [] }
        var waits: [Int64: [Int64]] = [:]
        var start = 0
        while start < jobs.count {
            let slice = jobs[start..<min(jobs.count, start + 500)].map(\.id)
            for row in try tx.query("SELECT job_id, waits_for FROM job_dependencies WHERE job_id IN (\(slice.map { _ in "?" }.joined(separator: ",")))"
                                    + " ORDER BY waits_for", slice.map { .integer($0) }) {
                waits[row.int(0), default: []].append(row.int(1))
            }
            start += slice.count
        }
        for i in jobs.indices { jobs[i].waitsFor = waits[jobs[i].id] ?? [] }
        return jobs
    }

    /// Jobs, newest first, optionally of one state, kind and version.
    public func jobs(state: JobState? = nil, kind: String? = nil, versionID: Int64? = nil, limit: Int = 1000,
                     offset: Int = 0, oldestFirst: Bool = false) throws -> [Job] {
        try database.read { tx in
            try load(try tx.query("""
                SELECT \(Self.columns) FROM jobs
                WHERE (CAST(? AS TEXT) IS NULL OR state = ?) AND (CAST(? AS TEXT) IS NULL OR kind = ?)
                    AND (CAST(? AS BIGINT) IS NULL OR version_id = ?)
                ORDER BY id \(oldestFirst ? "ASC" : "DESC") LIMIT ? OFFSET ?
                """, [.string(state?.rawValue), .string(state?.rawValue), .string(kind), .string(kind),
                      .int(versionID), .int(versionID), .integer(Int64(limit)), .integer(Int64(offset))]), in: tx)
        }
    }

    /// A version's jobs, oldest first (the order its pipeline queued them).
    public func jobs(ofVersion id: Int64) throws -> [Job] {
        try database.read { tx in try jobs(versionID: id, in: tx) }
    }

    /// A version's jobs, oldest first.
    public func jobs(versionID: Int64, in tx: any CatalogTransaction) throws -> [Job] {
        try load(try tx.query("SELECT \(Self.columns) FROM jobs WHERE version_id = ? ORDER BY id", [.integer(versionID)]), in: tx)
    }

    public func job(id: Int64, in tx: any CatalogTransaction) throws -> Job? {
        try load(try tx.query("SELECT \(Self.columns) FROM jobs WHERE id = ?", [.integer(id)]), in: tx).first
    }

    public func job(id: Int64) throws -> Job? {
        try database.read { tx in try job(id: id, in: tx) }
    }

    /// Jobs per state, every state present (0 included) so that no series ever vanishes.
    public func counts() throws -> [JobState: Int] {
        try database.read { tx in
            var result = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
            for row in try tx.query("SELECT state, count(*) FROM jobs GROUP BY state") {
                if let state = JobState(rawValue: row.text(0)) { result[state] = Int(row.int(1)) }
            }
            return result
        }
    }

    /// The jobs as people see them, each with its document (one trip to the catalog).
    public func records(_ jobs: [Job]) throws -> [JobRecord] {
        try database.read { tx in
            var versions: [Int64: VersionInfo] = [:]
            for id in Set(jobs.map(\.versionID)) { versions[id] = try catalog.version(id: id, in: tx) }
            return jobs.map { JobRecord($0, version: versions[$0.versionID]) }
        }
    }
}
