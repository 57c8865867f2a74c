import DepotCore
import DepotStore

/// One job as the queue keeps it.
public struct Job: Sendable, Equatable {
    public var id: Int64
    public var versionID: Int64
    public var kind: String
    public var state: JobState
    public var priority: Int
    public var parameters: JobParameters
    /// "pipeline" for the jobs every new version gets; "cli" or "api" for those a person queued.
    public var queuedBy: String
    public var attempts: Int
    public var maxAttempts: Int
    public var runAfterNanoseconds: Int64
    public var leaseOwner: String?
    public var leaseExpiresNanoseconds: Int64?
    public var progress: Int
    public var progressMessage: String?
    public var lastError: String?
    public var mediaType: String
    public var mediaClass: String
    /// The processor chosen for it when it was queued (nil: none handles this kind for this type).
    public var processor: String?
    /// "processed" or "unsupported" once succeeded.
    public var outcome: String?
    public var processingNanoseconds: Int64?
    public var outputBytes: Int64?
    public var createdAtNanoseconds: Int64
    public var updatedAtNanoseconds: Int64
    public var startedAtNanoseconds: Int64?
    public var finishedAtNanoseconds: Int64?
    /// The jobs it waits for.
    public var waitsFor: [Int64] = []
}

/// A job as people and programs see it (`depot jobs --json`, `/api/v1/jobs`), with the
/// document it is for: one shape for both.
public struct JobRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var state: JobState
    public var priority: Int
    public var parameters: JobParameters
    public var queuedBy: String
    public var attempts: Int
    public var maxAttempts: Int
    public var progress: Int
    @Nullable public var progressMessage: String?
    @Nullable public var lastError: String?
    @Nullable public var documentID: Int64?
    public var versionID: Int64
    @Nullable public var version: Int?
    @Nullable public var collection: String?
    @Nullable public var path: String?
    @Nullable public var sha256: Digest?
    public var mediaType: String
    public var mediaClass: String
    @Nullable public var processor: String?
    @Nullable public var outcome: String?
    public var waitsFor: [Int64]
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    @Nullable public var startedAt: Timestamp?
    @Nullable public var finishedAt: Timestamp?
    @Nullable public var runAfter: Timestamp?
    @Nullable public var leaseOwner: String?
    @Nullable public var leaseExpiresAt: Timestamp?
    @Nullable public var processingMs: Double?
    @Nullable public var outputBytes: Int64?

    public init(_ job: Job, version: VersionInfo?) {
        id = job.id
        kind = job.kind
        state = job.state
        priority = job.priority
        parameters = job.parameters
        queuedBy = job.queuedBy
        attempts = job.attempts
        maxAttempts = job.maxAttempts
        progress = job.progress
        progressMessage = job.progressMessage
        lastError = job.lastError
        documentID = version?.documentID
        versionID = job.versionID
        self.version = version?.number
        collection = version?.collection
        path = version?.path
        sha256 = version?.digest
        mediaType = job.mediaType
        mediaClass = job.mediaClass
        processor = job.processor
        outcome = job.outcome
        waitsFor = job.waitsFor
        createdAt = Timestamp(nanoseconds: job.createdAtNanoseconds)
        updatedAt = Timestamp(nanoseconds: job.updatedAtNanoseconds)
        startedAt = job.startedAtNanoseconds.map(Timestamp.init(nanoseconds:))
        finishedAt = job.finishedAtNanoseconds.map(Timestamp.init(nanoseconds:))
        runAfter = job.state == .retrying ? Timestamp(nanoseconds: job.runAfterNanoseconds) : nil
        leaseOwner = job.leaseOwner
        leaseExpiresAt = job.leaseExpiresNanoseconds.map(Timestamp.init(nanoseconds:))
        processingMs = job.processingNanoseconds.map { Double($0) / 1e6 }
        outputBytes = job.outputBytes
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, state, priority, parameters, attempts, progress, version, collection, path, sha256, processor, outcome
        case queuedBy = "queued_by", maxAttempts = "max_attempts", progressMessage = "progress_message"
        case lastError = "last_error", documentID = "document_id", versionID = "version_id", mediaType = "media_type"
        case mediaClass = "media_class", waitsFor = "waits_for", createdAt = "created_at", updatedAt = "updated_at"
        case startedAt = "started_at", finishedAt = "finished_at", runAfter = "run_after", leaseOwner = "lease_owner"
        case leaseExpiresAt = "lease_expires_at", processingMs = "processing_ms", outputBytes = "output_bytes"
    }
}
