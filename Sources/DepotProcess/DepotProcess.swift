// DepotProcess: what runs inside a worker process — the processors, one per (job kind, media type) family (Text/, PDF/, OOXML/,
// Testing/), the registry that names them (ProcessorRegistry.swift), and the worker's side of
// the parent↔worker protocol (Worker/). Nothing here touches the catalog or the queue: a
// worker reads one blob, runs the one processor the daemon named, and writes artifact files;
// the daemon stores and records them. The C libraries (poppler, cairo, libzip, libxml2) are
// wrapped beside the processor that uses them, one small class per C object kind.
@_exported import DepotDetect
import DepotCore

/// What a processor is given: the blob, its detected type, the job's parameters, and where to write.
public struct ProcessorInput: Sendable {
    /// The stored blob (read-only).
    public var path: String
    public var mediaType: String
    /// The document's file name, for processors that care ("notes.md"); never used to detect.
    public var name: String
    /// The job's parameters, already checked and completed with defaults by the queue
    /// (`max_pages` for extract, `width` for thumbnail). A processor reads the ones of its
    /// kind, falls back to its own limits for any that is missing, and ignores the rest.
    public var parameters: [String: ParameterValue]
    /// An empty folder that the processor's artifacts go into.
    public var outputDirectory: String
    /// Reports progress (0–100) and a short message to the daemon.
    public var progress: @Sendable (Int, String) -> Void
    /// Says what the job did in figures (generation's engine, tokens, latency); the last one
    /// said goes with the job's result, whether it succeeds or fails.
    public var report: @Sendable (JobReport) -> Void = { _ in }
    /// Artifacts of the version made by the jobs this one waits for, that its kind reads
    /// (`JobKind.reads`): artifact kind ("text.txt") → a file to read. Empty for extract.
    public var inputs: [String: String]

    public init(path: String, mediaType: String, name: String, parameters: [String: ParameterValue] = [:],
                outputDirectory: String, inputs: [String: String] = [:], progress: @escaping @Sendable (Int, String) -> Void = { _, _ in }) {
        self.inputs = inputs
        self.path = path
        self.mediaType = mediaType
        self.name = name
        self.parameters = parameters
        self.outputDirectory = outputDirectory
        self.progress = progress
    }
}

/// Does one kind of job for some media types.
public protocol Processor: Sendable {
    /// Its name, kind and scores (DepotDetect's `ProcessorChoice`): what the daemon chooses by
    /// when it queues a job, without this code.
    var choice: ProcessorChoice { get }
    var version: String { get }
    /// Every artifact kind it can write (kind → MIME type), and nothing else.
    var artifactKinds: [String: String] { get }
    /// Writes its artifacts into `input.outputDirectory` and lists them.
    /// - Throws: `DocumentError` when the file cannot be read as what it claims to be; the
    ///   errors of system calls (`SystemError`) as they come. `ProcessorFailure.isTransient`
    ///   says which of them may pass on a retry.
    func process(_ input: ProcessorInput) throws -> [ProducedArtifact]
}

extension Processor {
    /// Stable name, unique in a registry: the daemon records it on the job when it queues the
    /// job, the worker looks the processor up by it, and it is the artifacts' producer
    /// ("depot-pdf", "depot-pdf-thumbnail").
    public var name: String { choice.name }
    /// The job kind it does (`ProcessorKind.extract`, `.thumbnail`).
    public var kind: String { choice.kind }
    /// How well it handles `mediaType` (0: not at all).
    public func score(mediaType: String) -> Int { choice.score(mediaType: mediaType) }
}
