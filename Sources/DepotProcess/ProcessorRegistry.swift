import DepotCore

/// The processors one process knows, by name. The daemon asks it once per job, when it
/// queues the job, which processor does a kind of work for a media type (`select`) and
/// records that name; the worker then runs exactly the named one (`processor(named:)`), so a
/// job never changes hands between queueing and running.
public struct ProcessorRegistry: Sendable {
    public let processors: [any Processor]

    /// - Precondition: no two processors share a name (a name identifies a processor across
    ///   the daemon and its workers).
    public init(processors: [any Processor]) {
        var seen = Set<String>()
        for processor in processors {
            precondition(seen.insert(processor.name).inserted, "two processors are named \(processor.name)")
        }
        self.processors = processors
    }

    /// The built-in processors, in tie-break order; the test processor first when enabled
    /// (it only ever scores for `TypeDetector.testMediaType`, which detection gives only when
    /// asked to, so it never takes a real file).
    /// - Parameters:
    ///   - generate: the generate processor with the engines configured (`[generate]`).
    ///   - speech: the speech-to-text endpoint the transcript processor calls (`[speech]`).
    public static func standard(testProcessors: Bool = false, generate: GenerateProcessor = GenerateProcessor(),
                                speech: SpeechSettings = SpeechSettings()) -> ProcessorRegistry {
        var list: [any Processor] = []
        if testProcessors { list.append(TestProcessor()) }
        list.append(TextProcessor())
        list.append(PDFProcessor())
        list.append(PDFThumbnailProcessor())
        list.append(DOCXProcessor())
        list.append(PPTXProcessor())
        list.append(OOXMLThumbnailProcessor())
        list.append(ProtectedOfficeProcessor())
        list.append(MediaExtractProcessor())
        list.append(MediaThumbnailProcessor())
        list.append(StoryboardProcessor())
        list.append(WaveformProcessor())
        list.append(TranscriptProcessor(settings: speech))
        list.append(RenditionProcessor())
        list.append(generate)
        return ProcessorRegistry(processors: list)
    }

    /// The processor that does `kind` for `mediaType`: the highest score wins; on a tie the
    /// one registered first wins, so the choice never depends on hashing or timing
    /// (paperless-ngx's parser registry does the same with its weights). Nil when none does
    /// (the queue records such a job as unsupported and never hands it to a worker).
    public func select(kind: String, mediaType: String) -> (any Processor)? {
        var best: (any Processor)?
        var bestScore = 0
        for processor in processors where processor.kind == kind {
            let score = processor.score(mediaType: mediaType)
            if score > bestScore {
                best = processor
                bestScore = score
            }
        }
        return best
    }

    /// The processor with this name, whatever its kind.
    public func processor(named name: String) -> (any Processor)? {
        processors.first { $0.name == name }
    }

    /// Runs, in this process, the processor this registry selects for each of `kinds`, in
    /// order, all into `outputDirectory`, and returns what they wrote. This is what
    /// `depot extract` and the benchmarks call to look at one file; the daemon never does:
    /// its processors run in worker processes, one job (one kind) at a time, within limits.
    ///
    /// - Parameters:
    ///   - kinds: job kinds in the order the pipeline runs them (thumbnail after extract);
    ///     a kind no processor does for `mediaType` is passed over.
    ///   - parameters: given to every processor; each reads the ones of its kind (`max_pages`,
    ///     `width`) and falls back to its own limits for the rest.
    ///   - outputDirectory: an existing folder; the kinds' artifact names do not overlap.
    /// - Returns: every artifact written, in order; `producer` names the processor.
    /// - Throws: `DocumentError` when no processor does any of `kinds` for `mediaType`; else
    ///   the first processor's error (the artifacts of the kinds before it stay in the folder).
    public func runLocally(path: String, mediaType: String, name: String,
                           kinds: [String] = [ProcessorKind.extract, ProcessorKind.thumbnail],
                           parameters: [String: ParameterValue] = [:], outputDirectory: String,
                           progress: @escaping @Sendable (Int, String) -> Void = { _, _ in }) throws -> [ProducedArtifact] {
        let chosen = kinds.compactMap { select(kind: $0, mediaType: mediaType) }
        guard !chosen.isEmpty else {
            throw DocumentError("no processor does \(kinds.joined(separator: " or ")) for \(mediaType)")
        }
        var artifacts: [ProducedArtifact] = []
        for processor in chosen {
            // A later kind reads what the earlier ones wrote (generate reads extract's text.txt).
            let inputs = Dictionary(artifacts.map { ($0.kind, outputDirectory + "/" + $0.file) }, uniquingKeysWith: { $1 })
            artifacts += try processor.process(ProcessorInput(path: path, mediaType: mediaType, name: name, parameters: parameters,
                                                              outputDirectory: outputDirectory, inputs: inputs, progress: progress))
        }
        return artifacts
    }
}
