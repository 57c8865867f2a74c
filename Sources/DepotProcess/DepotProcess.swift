// DepotProcess: what runs inside a worker process — type detection from the bytes, the
// processor registry and the processors (one file each), and the worker's side of the
// parent↔worker protocol. Nothing here touches the catalog: a worker reads one blob and
// writes artifact files; the daemon stores and records them.

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

/// What a processor is given: the blob, its detected type, and where to write.
public struct ProcessorInput: Sendable {
    /// The stored blob (read-only).
    public var path: String
    public var mediaType: String
    /// The document's file name, for processors that care ("notes.md"); never used to detect.
    public var name: String
    /// An empty folder that the processor's artifacts go into.
    public var outputDirectory: String
    /// Reports progress (0–100) and a short message to the daemon.
    public var progress: @Sendable (Int, String) -> Void

    public init(path: String, mediaType: String, name: String, outputDirectory: String,
                progress: @escaping @Sendable (Int, String) -> Void = { _, _ in }) {
        self.path = path
        self.mediaType = mediaType
        self.name = name
        self.outputDirectory = outputDirectory
        self.progress = progress
    }
}

/// Makes artifacts from one kind of input.
public protocol Processor: Sendable {
    /// Stable name, recorded on the job and as the artifacts' producer ("depot-text").
    var name: String { get }
    var version: String { get }
    /// The artifact kinds it writes (kind → MIME type), for documentation and checks.
    var artifactKinds: [String: String] { get }
    /// How well it handles `mediaType` (0: not at all); `head` is the file's first bytes.
    func score(mediaType: String, head: [UInt8]) -> Int
    /// Writes its artifacts into `input.outputDirectory` and lists them.
    func process(_ input: ProcessorInput) throws -> [ProducedArtifact]
}

/// Picks the processor for a media type: the highest score wins; on a tie the one registered
/// first wins, so the choice never depends on hashing or timing (paperless-ngx's parser
/// registry does the same with its weights).
public struct ProcessorRegistry: Sendable {
    public let processors: [any Processor]

    public init(processors: [any Processor]) {
        self.processors = processors
    }

    /// The built-in processors, in tie-break order; the test processors first when enabled
    /// (they only ever score for files that start with their "DEPOT-TEST-" marker).
    public static func standard(testProcessors: Bool = false) -> ProcessorRegistry {
        var list: [any Processor] = []
        if testProcessors { list.append(TestProcessor()) }
        list.append(TextProcessor())
        list.append(PDFProcessor())
        list.append(DOCXProcessor())
        list.append(PPTXProcessor())
        list.append(ProtectedOfficeProcessor())
        return ProcessorRegistry(processors: list)
    }

    /// The winning processor, or nil when none handles the type (recorded as unsupported).
    public func select(mediaType: String, head: [UInt8] = []) -> (any Processor)? {
        var best: (any Processor)?
        var bestScore = 0
        for processor in processors {
            let score = processor.score(mediaType: mediaType, head: head)
            if score > bestScore {
                best = processor
                bestScore = score
            }
        }
        return best
    }
}
