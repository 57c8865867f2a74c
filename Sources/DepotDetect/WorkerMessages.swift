import DepotCore

/// The daemon → worker message: one job. One JSON object per line on the worker's stdin:
///
/// `{"job_id", "kind", "processor", "parameters", "blob_path", "media_type", "name",
/// "output_dir", "memory_limit", "cpu_seconds"}`
public struct WorkerRequest: Codable, Sendable, Equatable {
    public var jobID: Int64
    /// The job kind ("extract", "thumbnail").
    public var kind: String
    /// The processor the daemon chose when it queued the job, by name; the worker runs that
    /// one and never chooses again.
    public var processor: String
    /// The job's parameters, checked and completed with defaults by the queue.
    public var parameters: [String: ParameterValue]
    /// The stored blob to read.
    public var blobPath: String
    /// The type the daemon detected from the bytes.
    public var mediaType: String
    /// The document's file name (never used to detect the type).
    public var name: String
    /// An empty folder for the artifacts.
    public var outputDirectory: String
    /// Address space this job may use, bytes (the soft RLIMIT_AS; 0: the worker's hard limit).
    /// It is the whole process's address space: the worker's libraries and thread stacks
    /// count too, not only what the job allocates.
    public var memoryLimit: Int64
    /// CPU seconds this job may use (RLIMIT_CPU; 0: the worker's `cpuSecondsPerJob`).
    public var cpuSeconds: Int
    /// The artifacts of earlier jobs that this kind reads, kind → file (`ProcessorInput.inputs`).
    public var inputs: [String: String]

    public init(jobID: Int64, kind: String, processor: String, parameters: [String: ParameterValue] = [:],
                blobPath: String, mediaType: String, name: String, outputDirectory: String,
                memoryLimit: Int64 = 0, cpuSeconds: Int = 0, inputs: [String: String] = [:]) {
        self.inputs = inputs
        self.jobID = jobID
        self.kind = kind
        self.processor = processor
        self.parameters = parameters
        self.blobPath = blobPath
        self.mediaType = mediaType
        self.name = name
        self.outputDirectory = outputDirectory
        self.memoryLimit = memoryLimit
        self.cpuSeconds = cpuSeconds
    }

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", kind, processor, parameters, blobPath = "blob_path", mediaType = "media_type", name
        case outputDirectory = "output_dir", memoryLimit = "memory_limit", cpuSeconds = "cpu_seconds", inputs
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        jobID = try c.decode(Int64.self, forKey: .jobID)
        kind = try c.decode(String.self, forKey: .kind)
        processor = try c.decode(String.self, forKey: .processor)
        parameters = try c.decodeIfPresent([String: ParameterValue].self, forKey: .parameters) ?? [:]
        blobPath = try c.decode(String.self, forKey: .blobPath)
        mediaType = try c.decode(String.self, forKey: .mediaType)
        name = try c.decode(String.self, forKey: .name)
        outputDirectory = try c.decode(String.self, forKey: .outputDirectory)
        memoryLimit = try c.decodeIfPresent(Int64.self, forKey: .memoryLimit) ?? 0
        cpuSeconds = try c.decodeIfPresent(Int.self, forKey: .cpuSeconds) ?? 0
        inputs = try c.decodeIfPresent([String: String].self, forKey: .inputs) ?? [:]
    }
}

/// A worker → daemon message, one JSON object per line on the worker's stdout: "ready" once
/// the worker is set up, "progress" while a job runs, and one "result" per job.
public struct WorkerMessage: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case ready, progress, result }
    public enum Status: String, Codable, Sendable {
        /// Artifacts were written.
        case processed
        /// The processor cannot read this file in this build (HEIC with FFmpeg 5.1: a
        /// `MediaUnsupported` error); `error` says why. The job succeeds with the outcome
        /// "unsupported". (A worker that lacks the named processor answers `error`.)
        case unsupported
        /// The processor threw (or the worker could not run it); `transient` says whether a retry may help.
        case error
    }

    public var type: Kind
    public var jobID: Int64?
    public var pid: Int32?
    /// Wall clock of the message (ns since the epoch).
    public var timestampNanoseconds: Int64
    public var progress: Int?
    public var message: String?
    public var status: Status?
    public var processor: String?
    public var processorVersion: String?
    /// Time spent inside the processor (monotonic).
    public var processingNanoseconds: Int64?
    public var artifacts: [ProducedArtifact]?
    public var error: String?
    /// On every result: whether the error may pass on a retry (`ProcessorFailure.isTransient`);
    /// false when the job was processed.
    public var transient: Bool?
    /// On a result: what the processor said of the job in figures (`ProcessorInput.report`).
    public var report: JobReport?

    public init(type: Kind, jobID: Int64? = nil) {
        self.type = type
        self.jobID = jobID
        timestampNanoseconds = wallClockNanoseconds()
    }

    enum CodingKeys: String, CodingKey {
        case type, pid, progress, message, status, processor, artifacts, error, transient, report
        case jobID = "job_id", timestampNanoseconds = "t"
        case processorVersion = "processor_version", processingNanoseconds = "processing_ns"
    }
}
