import Foundation

/// What the daemon knows of a processor: its name, the kind of job it does, and how well it
/// handles a media type. The daemon chooses by these alone when it queues a job, so it never
/// links the code (and the C libraries) that does the work; a worker's processor is one of
/// these with its work attached (DepotProcess's `Processor.choice`), so the two cannot
/// disagree about a name, a kind or a score.
public struct ProcessorChoice: Sendable {
    /// Stable and unique: recorded on the job, looked up by the worker, and the artifacts'
    /// producer ("depot-pdf").
    public let name: String
    /// The job kind (`ProcessorKind`).
    public let kind: String
    private let scoring: @Sendable (String) -> Int

    public init(name: String, kind: String, score: @escaping @Sendable (_ mediaType: String) -> Int) {
        self.name = name
        self.kind = kind
        self.scoring = score
    }

    /// How well it handles `mediaType` (0: not at all).
    public func score(mediaType: String) -> Int { scoring(mediaType) }
}

extension ProcessorChoice {
    /// Scores `score` for exactly these media types.
    static func taking(_ mediaTypes: [String], _ score: Int = 20) -> @Sendable (String) -> Int {
        { mediaTypes.contains($0) ? score : 0 }
    }

    public static let test = ProcessorChoice(name: "depot-test", kind: ProcessorKind.extract) {
        $0 == TypeDetector.testMediaType ? 1000 : 0
    }
    public static let text = ProcessorChoice(name: "depot-text", kind: ProcessorKind.extract) {
        switch $0 {
        case "text/markdown": return 20
        case "text/plain": return 10
        default: return $0.hasPrefix("text/") ? 5 : 0
        }
    }
    public static let pdf = ProcessorChoice(name: "depot-pdf", kind: ProcessorKind.extract, score: taking([TypeDetector.pdf]))
    public static let pdfThumbnail = ProcessorChoice(name: "depot-pdf-thumbnail", kind: ProcessorKind.thumbnail,
                                                     score: taking([TypeDetector.pdf]))
    public static let docx = ProcessorChoice(name: "depot-docx", kind: ProcessorKind.extract, score: taking([TypeDetector.docx]))
    public static let pptx = ProcessorChoice(name: "depot-pptx", kind: ProcessorKind.extract, score: taking([TypeDetector.pptx]))
    public static let ooxmlThumbnail = ProcessorChoice(name: "depot-ooxml-thumbnail", kind: ProcessorKind.thumbnail,
                                                       score: taking([TypeDetector.docx, TypeDetector.pptx]))
    public static let protectedOffice = ProcessorChoice(name: "depot-protected-office", kind: ProcessorKind.extract,
                                                        score: taking([TypeDetector.protectedOOXML]))
    public static let media = ProcessorChoice(name: "depot-media", kind: ProcessorKind.extract) {
        MediaTypes.kind(of: $0) != nil ? 20 : 0
    }
    public static let mediaThumbnail = ProcessorChoice(name: "depot-media-thumbnail", kind: ProcessorKind.thumbnail) {
        MediaTypes.kind(of: $0) != nil ? 20 : 0
    }
    public static let storyboard = ProcessorChoice(name: "depot-storyboard", kind: ProcessorKind.storyboard) {
        $0.hasPrefix("video/") ? 20 : 0
    }
    public static let waveform = ProcessorChoice(name: "depot-waveform", kind: ProcessorKind.waveform) {
        $0.hasPrefix("audio/") ? 20 : 0
    }
    public static let transcript = ProcessorChoice(name: "depot-transcript", kind: ProcessorKind.transcript) {
        $0.hasPrefix("audio/") || $0.hasPrefix("video/") ? 20 : 0
    }
    public static let rendition = ProcessorChoice(name: "depot-rendition", kind: ProcessorKind.rendition) {
        let kind = MediaTypes.kind(of: $0)
        return kind == "video" || kind == "audio" ? 20 : 0
    }
    /// Everything with text: documents, text, and (once they are transcribed) audio and video.
    public static let generate = ProcessorChoice(name: "depot-generate", kind: ProcessorKind.generate) {
        if $0 == TypeDetector.testMediaType { return 0 }
        if $0.hasPrefix("text/") || $0.hasPrefix("video/") || $0.hasPrefix("audio/")
            || [TypeDetector.pdf, TypeDetector.docx, TypeDetector.pptx].contains($0) {
            return 10
        }
        return 0
    }
}

/// The processors a build has, in tie-break order, as the daemon chooses among them.
public struct ProcessorChoices: Sendable {
    public let choices: [ProcessorChoice]

    /// - Precondition: no two share a name (a name identifies a processor across the daemon
    ///   and its workers).
    public init(_ choices: [ProcessorChoice]) {
        var seen = Set<String>()
        for choice in choices {
            precondition(seen.insert(choice.name).inserted, "two processors are named \(choice.name)")
        }
        self.choices = choices
    }

    /// The built-in processors, in tie-break order; the test processor first when enabled
    /// (it only ever scores for `TypeDetector.testMediaType`, which detection gives only when
    /// asked to, so it never takes a real file).
    public static func standard(testProcessors: Bool = false) -> ProcessorChoices {
        ProcessorChoices((testProcessors ? [.test] : []) + [
            .text, .pdf, .pdfThumbnail, .docx, .pptx, .ooxmlThumbnail, .protectedOffice, .media, .mediaThumbnail,
            .storyboard, .waveform, .transcript, .rendition, .generate,
        ])
    }

    /// Whether this process was started to offer the test processor
    /// (`DEPOT_TEST_PROCESSORS=1`: the daemon's and its workers' tests).
    public static var testProcessorsEnabled: Bool {
        ProcessInfo.processInfo.environment["DEPOT_TEST_PROCESSORS"] == "1"
    }

    /// The processor that does `kind` for `mediaType`: the highest score wins; on a tie the
    /// one listed first wins, so the choice never depends on hashing or timing
    /// (paperless-ngx's parser registry does the same with its weights). Nil when none does
    /// (the queue records such a job as unsupported and never hands it to a worker).
    public func select(kind: String, mediaType: String) -> ProcessorChoice? {
        var best: ProcessorChoice?
        var bestScore = 0
        for choice in choices where choice.kind == kind {
            let score = choice.score(mediaType: mediaType)
            if score > bestScore {
                best = choice
                bestScore = score
            }
        }
        return best
    }
}
