import DepotCore

/// The processors one process knows, by name. The daemon chooses, when it queues a job,
/// which processor does a kind of work for a media type, from their `ProcessorChoices` alone,
/// and records that name; the worker then runs exactly the named one (`processor(named:)`),
/// so a job never changes hands between queueing and running.
public struct ProcessorRegistry: Sendable {
    public let processors: [any Processor]
    /// Their names, kinds and scores, in tie-break order: what `select` chooses by.
    public let choices: ProcessorChoices

    /// - Precondition: no two processors share a name.
    public init(processors: [any Processor]) {
        self.processors = processors
        self.choices = ProcessorChoices(processors.map(\.choice))
    }

    /// The built-in processors, in the daemon's tie-break order (`ProcessorChoices.standard`),
    /// each with its work.
    /// - Parameters:
    ///   - generate: the generate processor with the engines configured (`[generate]`).
    ///   - speech: the speech-to-text endpoint the transcript processor calls (`[speech]`).
    /// - Precondition: every standard choice has a processor here and every processor here is
    ///   a standard choice.
    public static func standard(testProcessors: Bool = false, generate: GenerateProcessor = GenerateProcessor(),
                                speech: SpeechSettings = SpeechSettings()) -> ProcessorRegistry {
        let work: [any Processor] = [
            TestProcessor(), TextProcessor(), PDFProcessor(), PDFThumbnailProcessor(), DOCXProcessor(), PPTXProcessor(),
            OOXMLThumbnailProcessor(), ProtectedOfficeProcessor(), MediaExtractProcessor(), MediaThumbnailProcessor(),
            StoryboardProcessor(), WaveformProcessor(), TranscriptProcessor(settings: speech), RenditionProcessor(), generate,
        ]
        let byName = Dictionary(uniqueKeysWithValues: work.map { ($0.name, $0) })
        let choices = ProcessorChoices.standard(testProcessors: true).choices
        precondition(Set(choices.map(\.name)) == Set(byName.keys), "the standard processors and their choices differ")
        let listed = testProcessors ? choices : choices.filter { $0.name != ProcessorChoice.test.name }
        return ProcessorRegistry(processors: listed.map { byName[$0.name]! })
    }

    /// The processor that does `kind` for `mediaType`, as the daemon chooses it
    /// (`ProcessorChoices.select`); nil when none does.
    public func select(kind: String, mediaType: String) -> (any Processor)? {
        choices.select(kind: kind, mediaType: mediaType).flatMap { processor(named: $0.name) }
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
