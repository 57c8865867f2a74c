import DepotCore
import DepotStore

/// What every job event says about its job.
public struct JobEventFields: Codable, Sendable, Equatable {
    public var jobID: Int64
    public var kind: String
    public var documentID: Int64
    public var versionID: Int64
    public var version: Int
    public var collection: String
    public var path: String
    public var sha256: Digest
    public var mediaType: String
    @Nullable public var processor: String?

    public init(_ job: Job, version: VersionInfo) {
        jobID = job.id
        kind = job.kind
        documentID = version.documentID
        versionID = version.id
        self.version = version.number
        collection = version.collection
        path = version.path
        sha256 = version.digest
        mediaType = job.mediaType
        processor = job.processor
    }

    enum CodingKeys: String, CodingKey {
        case kind, version, collection, path, sha256, processor
        case jobID = "job_id", documentID = "document_id", versionID = "version_id", mediaType = "media_type"
    }
}

/// What the analytics record of a job that ended (or will run again), beside its kind,
/// processor, media type and collection: how big its input was, how long it waited from being
/// queued to its (last) start, how many attempts it took, its worker's peak memory.
public struct JobFigures: Codable, Sendable, Equatable {
    public var inputBytes: Int64
    @Nullable public var queueWaitMs: Double?
    @Nullable public var peakMemoryBytes: Int64?
    /// What the job said of itself (generation's engine, tokens, latency), when it said
    /// anything (the key is left out otherwise).
    public var report: JobReport?

    public init(inputBytes: Int64, queueWaitMs: Double?, peakMemoryBytes: Int64?, report: JobReport? = nil) {
        self.inputBytes = inputBytes
        self.queueWaitMs = queueWaitMs
        self.peakMemoryBytes = peakMemoryBytes
        self.report = report
    }

    public init(_ job: Job, version: VersionInfo, now: Int64, peakMemoryBytes: Int64?, report: JobReport? = nil) {
        inputBytes = version.size
        queueWaitMs = job.startedAtNanoseconds.map { Double(max(0, $0 - job.createdAtNanoseconds)) / 1e6 }
        self.peakMemoryBytes = peakMemoryBytes
        self.report = report.flatMap { $0.isEmpty ? nil : $0 }
    }

    enum CodingKeys: String, CodingKey {
        case inputBytes = "input_bytes", queueWaitMs = "queue_wait_ms", peakMemoryBytes = "peak_memory_bytes", report
    }

}

/// `job.succeeded`: a job finished and its artifacts are recorded.
public struct JobSucceeded: EventPayload {
    public static let eventType = "job.succeeded"
    public var job: JobEventFields
    public var outcome: String
    public var processorVersion: String?
    public var processingMs: Double
    public var outputBytes: Int64
    /// As recorded, with their ids (a download link can be minted for each).
    public var artifacts: [ArtifactRecord]
    public var figures: JobFigures? = nil
    public var documentID: Int64? { job.documentID }

    enum CodingKeys: String, CodingKey {
        case outcome, artifacts
        case processorVersion = "processor_version", processingMs = "processing_ms", outputBytes = "output_bytes"
    }

    public func encode(to encoder: Encoder) throws {
        try job.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(outcome, forKey: .outcome)
        try c.encodeIfPresent(processorVersion, forKey: .processorVersion)
        try c.encode(processingMs, forKey: .processingMs)
        try c.encode(outputBytes, forKey: .outputBytes)
        try c.encode(artifacts, forKey: .artifacts)
        try figures?.encode(to: encoder)
    }
}

/// `job.retrying`, `job.failed`, `job.dead`: a job ended without success, or will run again.
public struct JobEnded: EventPayload {
    public static var eventType: String { "job.failed" }
    public var job: JobEventFields
    public var state: JobState
    public var reason: String
    public var attempts: Int
    public var maxAttempts: Int
    public var retryAt: Timestamp?
    public var figures: JobFigures? = nil
    public var documentID: Int64? { job.documentID }

    enum CodingKeys: String, CodingKey {
        case state, reason, attempts
        case maxAttempts = "max_attempts", retryAt = "retry_at"
    }

    public func encode(to encoder: Encoder) throws {
        try job.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(state, forKey: .state)
        try c.encode(reason, forKey: .reason)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(maxAttempts, forKey: .maxAttempts)
        try c.encodeIfPresent(retryAt, forKey: .retryAt)
        try figures?.encode(to: encoder)
    }
}

/// The event type per state: one payload, three names.
struct JobRetrying: EventPayload {
    static let eventType = "job.retrying"
    var ended: JobEnded
    var documentID: Int64? { ended.documentID }
    func encode(to encoder: Encoder) throws { try ended.encode(to: encoder) }
}

struct JobDead: EventPayload {
    static let eventType = "job.dead"
    var ended: JobEnded
    var documentID: Int64? { ended.documentID }
    func encode(to encoder: Encoder) throws { try ended.encode(to: encoder) }
}

/// `job.skipped`: a job that will not run because one it waits for did not succeed.
public struct JobSkipped: EventPayload {
    public static let eventType = "job.skipped"
    public var job: JobEventFields
    public var reason: String
    public var documentID: Int64? { job.documentID }

    enum CodingKeys: String, CodingKey { case reason }

    public func encode(to encoder: Encoder) throws {
        try job.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(reason, forKey: .reason)
    }
}

/// `media.processed`: every job of a version has finished (also when some failed): the
/// moment its results in the outbox are complete.
public struct MediaProcessed: EventPayload {
    public static let eventType = "media.processed"
    public struct JobSummary: Codable, Sendable, Equatable {
        public var id: Int64
        public var kind: String
        public var state: JobState
        public var outcome: String?
        public var processor: String?
        public var error: String?

        enum CodingKeys: String, CodingKey { case id, kind, state, outcome, processor, error }
    }

    public var documentID: Int64?
    public var versionID: Int64
    public var version: Int
    public var collection: String
    public var path: String
    public var sha256: Digest
    public var mediaType: String?
    public var status: ProcessingStatus
    public var jobs: [JobSummary]
    /// The document's folder in the outbox, relative to the root.
    public var output: String

    enum CodingKeys: String, CodingKey {
        case version, collection, path, sha256, status, jobs, output
        case documentID = "document_id", versionID = "version_id", mediaType = "media_type"
    }
}
