// DepotProcess: what runs inside a worker process — type detection from the bytes
// (Detection/), the processors, one per (job kind, media type) family (Text/, PDF/, OOXML/,
// Testing/), the registry that names them (ProcessorRegistry.swift), and the worker's side of
// the parent↔worker protocol (Worker/). Nothing here touches the catalog or the queue: a
// worker reads one blob, runs the one processor the daemon named, and writes artifact files;
// the daemon stores and records them. The C libraries (poppler, cairo, libzip, libxml2) are
// wrapped beside the processor that uses them, one small class per C object kind.
import DepotCore

/// The job kinds processors do. The queue (DepotQueue's `JobKinds`) defines the kinds, with
/// their parameters and limits; these are the same names, spelled once for this target,
/// which does not link the queue.
public enum ProcessorKind {
    /// Text, structure and metadata from the file itself. Parameter: `max_pages`.
    public static let extract = "extract"
    /// A small picture of the document, after extract, in a job of its own. Parameter: `width`.
    public static let thumbnail = "thumbnail"
    /// Summary, chapters, quiz and keywords from extract's artifacts, which come as the job's
    /// inputs. Parameters: `summary_words`, `questions`, `difficulty`, `language`, `engine`, ….
    public static let generate = "generate"
    /// Seek previews of a video (storyboard.jpg sheets + storyboard.vtt). Parameters: `interval`, `width`.
    public static let storyboard = "storyboard"
    /// The loudness envelope of audio as waveform.png. Parameters: `width`, `height`.
    public static let waveform = "waveform"
    /// Embedded text subtitles as WebVTT, and transcript.vtt/.txt from the best text source
    /// (subtitles, else speech to text through the `[speech]` endpoint).
    public static let transcript = "transcript"
    /// A rendition on request: an H.264/AAC MP4, audio only (AAC, Opus) or a still frame.
    /// Parameters: `output`, `width`, `height`, `crf`, `preset`, `threads`, `audio_codec`,
    /// `audio_bitrate`, `time`, `image` (read by `RenditionRequest`).
    public static let rendition = "rendition"
}

/// One artifact a processor wrote into the job's output folder.
public struct ProducedArtifact: Codable, Sendable, Equatable {
    /// The artifact's name in the outbox, which is also its kind: "text.txt".
    public var kind: String
    public var mimeType: String
    /// The file inside the output folder.
    public var file: String
    public var producer: String
    public var producerVersion: String

    public init(kind: String, mimeType: String, file: String, producer: String, producerVersion: String) {
        self.kind = kind
        self.mimeType = mimeType
        self.file = file
        self.producer = producer
        self.producerVersion = producerVersion
    }

    enum CodingKeys: String, CodingKey {
        case kind, file, producer
        case mimeType = "mime_type"
        case producerVersion = "producer_version"
    }
}

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
    /// Stable name, unique in a registry: the daemon records it on the job when it queues the
    /// job, the worker looks the processor up by it, and it is the artifacts' producer
    /// ("depot-pdf", "depot-pdf-thumbnail").
    var name: String { get }
    var version: String { get }
    /// The job kind it does (`ProcessorKind.extract`, `.thumbnail`).
    var kind: String { get }
    /// Every artifact kind it can write (kind → MIME type), and nothing else.
    var artifactKinds: [String: String] { get }
    /// How well it handles `mediaType` (0: not at all).
    func score(mediaType: String) -> Int
    /// Writes its artifacts into `input.outputDirectory` and lists them.
    /// - Throws: `DocumentError` when the file cannot be read as what it claims to be; the
    ///   errors of system calls (`SystemError`) as they come. `ProcessorFailure.isTransient`
    ///   says which of them may pass on a retry.
    func process(_ input: ProcessorInput) throws -> [ProducedArtifact]
}
