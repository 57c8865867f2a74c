import DepotCore

/// Limits of one job: what its worker may use before it is stopped.
public struct JobLimits: Sendable, Equatable {
    /// Wall-clock time; past it the worker is killed and the job fails.
    public var timeout: Duration
    /// Address space of the worker while it runs the job (RLIMIT_AS), bytes.
    public var memoryBytes: Int64
    /// CPU time (RLIMIT_CPU).
    public var cpu: Duration

    public init(timeout: Duration, memoryBytes: Int64, cpu: Duration) {
        self.timeout = timeout
        self.memoryBytes = memoryBytes
        self.cpu = cpu
    }
}

/// A kind of work in the pipeline: its parameters, its default priority and limits, and the
/// kinds it waits for. A new kind of work is a new `JobKind` (and processors that serve it),
/// never a special case in the runner.
public struct JobKind: Sendable, Equatable {
    public let name: String
    public let summary: String
    public let parameters: [ParameterSpec]
    /// Higher runs first; a job queued by a person gets `JobQueue.personPriority` instead.
    public let priority: Int
    /// Kinds of the same version this one waits for, when the version has them.
    public let waitsFor: [String]
    /// Its own limits, tighter than `[jobs]`'s defaults where the work is small (nil: those defaults).
    public let timeout: Duration?
    public let memoryBytes: Int64?
    /// The artifacts its processors make ("text.txt"), so that a lost one can be made again.
    public let makes: [String]
    /// Artifacts of the same version, made by the kinds it waits for, that its processors
    /// read: the runner hands each one the version has to the worker as a file (a job of this
    /// kind reads no blob by path, and never the catalog).
    public let reads: [String]
    /// When set ("generation"), its jobs also announce themselves as `PREFIX.completed` when
    /// they succeed and `PREFIX.failed` when they will not run again, after the `job.*` event.
    public let eventPrefix: String?
    /// A step a version's pipeline leaves out when no processor does it for the version's
    /// type (instead of recording it as done and unsupported): generation, which a depot
    /// may have no processor for.
    public let optional: Bool
    /// Extensions of files beside the document that belong to it (`Sidecars`: "srt" for
    /// lecture.en.srt next to lecture.mp4): the runner hands each one's current version to
    /// the worker as the input "sidecar:NAME", and one that arrives later queues this kind
    /// again for the document.
    public let sidecars: [String]
    /// CPU time of its own (RLIMIT_CPU), where its work is long by nature (transcoding); nil: `[jobs]`'s.
    public let cpu: Duration?
    /// Media classes ("video") whose every new version gets a job of this kind in the
    /// collections `[jobs.kinds.NAME] automatic` names. Empty: the kind is in the pipeline
    /// (`Pipeline.kinds`) or runs on request only.
    public let automaticFor: [String]
    /// Checks a job's parameters as a whole (and, when known, against the version's media
    /// type) after each was checked alone: what no single `ParameterSpec` can say.
    public let validate: (@Sendable (_ parameters: JobParameters, _ mediaType: String?) throws -> Void)?

    public init(name: String, summary: String, parameters: [ParameterSpec] = [], priority: Int = 0, waitsFor: [String] = [],
                timeout: Duration? = nil, memoryBytes: Int64? = nil, makes: [String] = [], reads: [String] = [],
                eventPrefix: String? = nil, optional: Bool = false, sidecars: [String] = [], cpu: Duration? = nil,
                automaticFor: [String] = [],
                validate: (@Sendable (_ parameters: JobParameters, _ mediaType: String?) throws -> Void)? = nil) {
        self.cpu = cpu
        self.automaticFor = automaticFor
        self.validate = validate
        self.optional = optional
        self.sidecars = sidecars
        self.reads = reads
        self.eventPrefix = eventPrefix
        self.name = name
        self.summary = summary
        self.parameters = parameters
        self.priority = priority
        self.waitsFor = waitsFor
        self.timeout = timeout
        self.memoryBytes = memoryBytes
        self.makes = makes
    }

    /// `given` checked against the kind's parameters, with the defaults filled in.
    /// - Throws: `JobQueueError.invalid` naming an unknown parameter or a bad value.
    public func resolve(_ given: JobParameters, defaults: JobParameters = [:]) throws -> JobParameters {
        for name in given.keys.sorted() where !parameters.contains(where: { $0.name == name }) {
            let known = parameters.map(\.name)
            throw JobQueueError.invalid("\(self.name) takes no parameter '\(name)'"
                                        + (known.isEmpty ? " (it takes none)" : " (it takes \(known.joined(separator: ", ")))"))
        }
        var result: JobParameters = [:]
        for spec in parameters {
            if let value = given[spec.name] ?? defaults[spec.name] {
                result[spec.name] = try spec.check(value)
            } else {
                result[spec.name] = spec.defaultValue
            }
        }
        try validate?(result, nil)
        return result
    }

    /// `parameters` (resolved) checked against the media type of the version they are for.
    /// - Throws: `JobQueueError.invalid` saying why this kind of job cannot be done for it.
    public func check(_ parameters: JobParameters, mediaType: String) throws {
        try validate?(parameters, mediaType)
    }

    public static func == (a: JobKind, b: JobKind) -> Bool { a.name == b.name }
}

/// The kinds of work depot knows, in one list.
public enum JobKinds {
    /// Text, structure and metadata from the file itself (every media type; the processors
    /// decide what they can read).
    public static let extract = JobKind(
        name: "extract", summary: "text, structure and metadata from the file",
        parameters: [ParameterSpec("max_pages", .int(1...1_000_000), default: .int(2000),
                                   help: "pages (of a PDF) whose text is read; later pages are counted only")],
        priority: 0, makes: ["text.txt", "structure.json", "metadata.json", "attachment-*"])

    /// A small picture of the document (a PDF's first page, an Office file's own thumbnail).
    /// After extract, so a file extract refused is not rendered, with a short time budget of
    /// its own: a page that will not render ends this step, not the text before it.
    public static let thumbnail = JobKind(
        name: "thumbnail", summary: "a small picture of the first page",
        parameters: [ParameterSpec("width", .int(16...2048), default: .int(320), help: "width in pixels")],
        priority: -10, waitsFor: ["extract"], timeout: .seconds(120), memoryBytes: 1 << 30,
        makes: ["thumbnail.png", "thumbnail.jpg", "cover.jpg"])

    /// Study material from what extract found: summary, chapters, quiz, keywords (and
    /// generation.json saying how). Background work below the thumbnails; a person's request
    /// (POST /api/v1/documents/{id}/generate, `depot generate`) gets the person priority. Its
    /// time limit allows for a local model on a CPU, which takes minutes per request.
    public static let generate = JobKind(
        name: "generate", summary: "summary, chapters, quiz and keywords from the extracted text",
        parameters: [
            ParameterSpec("engine", .string(choices: ["builtin", "openai"]), default: .string("builtin"),
                          help: "builtin (offline, deterministic) or openai (the [generate.openai] backend)"),
            ParameterSpec("summary_words", .int(10...5000), default: .int(120), help: "words of the short summary (the long one: 4×)"),
            ParameterSpec("summary_sentences", .int(0...500), default: .int(0),
                          help: "sentences of the short summary instead of words (0: by words)"),
            ParameterSpec("questions", .int(0...200), default: .int(10), help: "quiz questions at most"),
            ParameterSpec("difficulty", .string(choices: ["easy", "medium", "hard"]), default: .string("medium"),
                          help: "quiz difficulty: how close the distractors are"),
            ParameterSpec("language", .string(choices: nil), default: .string("auto"),
                          help: "auto (detected) or an ISO 639-1 code such as en, de, fr"),
            ParameterSpec("keywords", .int(1...200), default: .int(15), help: "keywords at most"),
            ParameterSpec("prompts", .string(choices: nil), default: .string(""),
                          help: "openai: a subfolder of the prompts folder whose templates come first (per collection, say)"),
        ],
        priority: -20, waitsFor: ["extract"], timeout: .seconds(1800), memoryBytes: 1 << 30,
        makes: ["summary.md", "summary.json", "chapters.json", "quiz.json", "keywords.json", "generation.json"],
        reads: ["text.txt", "structure.json", "transcript.vtt", "metadata.json"], eventPrefix: "generation", optional: true)

    /// Seek previews of a video: sprite sheets and the WebVTT that maps time to tiles.
    /// Keyframes only, one seek per tile: an hour of video is a few hundred decodes.
    public static let storyboard = JobKind(
        name: "storyboard", summary: "seek previews: storyboard.jpg sheets and storyboard.vtt",
        parameters: [ParameterSpec("interval", .int(1...3600), default: .int(10),
                                   help: "seconds between frames of a long video (shorter videos get less)"),
                     ParameterSpec("width", .int(16...1280), default: .int(320), help: "tile width in pixels")],
        priority: -20, waitsFor: ["extract"], timeout: .seconds(1800), memoryBytes: 1 << 30,
        makes: ["storyboard.vtt"] + (1...36).map { $0 == 1 ? "storyboard.jpg" : "storyboard-\($0).jpg" })

    /// The loudness envelope of a recording, drawn as waveform.png.
    public static let waveform = JobKind(
        name: "waveform", summary: "the loudness envelope of audio as waveform.png",
        parameters: [ParameterSpec("width", .int(16...8192), default: .int(1200), help: "width in pixels"),
                     ParameterSpec("height", .int(8...2048), default: .int(120), help: "height in pixels")],
        priority: -15, waitsFor: ["extract"], timeout: .seconds(1800), memoryBytes: 1 << 30,
        makes: ["waveform.png"])

    /// Embedded text subtitles (SubRip, ASS/SSA, mov_text, WebVTT) and subtitle files dropped
    /// beside the recording (lecture.en.srt) → subtitles.<lang>.vtt, and transcript.vtt /
    /// transcript.txt from the best text source: the subtitles, else speech to text through the
    /// `[speech]` endpoint when one is configured.
    public static let transcript = JobKind(
        name: "transcript", summary: "subtitles as WebVTT and a transcript (from subtitles, else speech to text)",
        priority: -30, waitsFor: ["extract"], timeout: .seconds(4 * 3600), memoryBytes: 1 << 30,
        makes: ["transcript.vtt", "transcript.txt"]
            + ["und", "eng", "deu", "fra", "spa", "ita", "nld", "por", "jpn", "zho", "rus"].map { "subtitles.\($0).vtt" },
        sidecars: ["srt", "vtt", "ass", "ssa"])

    /// Renditions on request (see `Renditions`): an H.264/AAC MP4 (`faststart`, never larger
    /// than the source), audio only (AAC or Opus), or a still frame at a time. Never in the
    /// pipeline by default: a person asks (POST /api/v1/documents/{id}/renditions, `depot
    /// render`), or a collection named in `[jobs.kinds.rendition] automatic` gets the default
    /// (web: 720p H.264/AAC) for every video it receives. Transcoding is the one job that may
    /// take the worker past the 300 MiB target, so it has limits of its own.
    public static let rendition = JobKind(
        name: "rendition", summary: "a rendition: H.264/AAC MP4, audio only (AAC, Opus) or a still frame",
        parameters: Renditions.parameters, priority: -40, waitsFor: ["extract"], timeout: .seconds(4 * 3600),
        memoryBytes: 4 << 30, makes: Renditions.makes, cpu: .seconds(8 * 3600), automaticFor: ["video"],
        validate: Renditions.validate)

    public static let all: [JobKind] = [extract, thumbnail, generate, storyboard, waveform, transcript, rendition]

    public static func named(_ name: String) -> JobKind? { all.first { $0.name == name } }

    /// The kind whose jobs make an artifact of this name.
    /// A name in `makes` that ends in `*` stands for every artifact it begins ("attachment-*":
    /// a PDF's embedded files, "attachment-1.csv").
    public static func making(artifact kind: String) -> JobKind? {
        all.first { $0.makes.contains { $0 == kind || ($0.hasSuffix("*") && kind.hasPrefix($0.dropLast())) } }
    }
}

/// The class of a media type, which bounds how many of its jobs run at once and may set
/// their limits (`[jobs.concurrency]`, `[jobs.classes.NAME]`).
public enum MediaClass {
    public static let all = ["documents", "images", "audio", "video", "other"]

    public static func of(_ mediaType: String) -> String {
        if mediaType.hasPrefix("video/") { return "video" }
        if mediaType.hasPrefix("audio/") { return "audio" }
        if mediaType.hasPrefix("image/") { return "images" }
        if mediaType.hasPrefix("text/") || mediaType == "application/pdf"
            || mediaType.hasPrefix("application/vnd.openxmlformats-officedocument.")
            || mediaType == "application/x-tika-ooxml-protected" || mediaType == "application/msword"
            || mediaType == "application/vnd.ms-powerpoint" || mediaType == "application/vnd.ms-excel" {
            return "documents"
        }
        return "other"
    }
}

/// The graph of jobs each new version gets, per media type, in one place: the kinds, in
/// order; each waits for the kinds its `JobKind` names that the plan also has.
public enum Pipeline {
    /// The kinds of a new version in `collection`: its media type's, then the kinds the
    /// collection asks for every version of its class (`[jobs.kinds.NAME] automatic`).
    public static func kinds(for mediaType: String, in collection: String, settings: JobsSettings) -> [JobKind] {
        let mediaClass = MediaClass.of(mediaType)
        return kinds(for: mediaType) + JobKinds.all.filter {
            $0.automaticFor.contains(mediaClass) && settings.kinds[$0.name]?.automatic.contains(collection) == true
        }
    }

    public static func kinds(for mediaType: String) -> [JobKind] {
        switch mediaType {
        case "application/pdf",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "application/vnd.openxmlformats-officedocument.presentationml.presentation":
            return [JobKinds.extract, JobKinds.thumbnail, JobKinds.generate]
        case let video where video.hasPrefix("video/"):
            // Metadata, a thumbnail, seek previews, then subtitles and the transcript.
            return [JobKinds.extract, JobKinds.thumbnail, JobKinds.storyboard, JobKinds.transcript]
        case let audio where audio.hasPrefix("audio/"):
            // Metadata, the cover art, the waveform, then the transcript.
            return [JobKinds.extract, JobKinds.thumbnail, JobKinds.waveform, JobKinds.transcript]
        case _ where MediaClass.of(mediaType) != "documents" && MediaClass.of(mediaType) != "other":
            // Video, audio and images: metadata, then a thumbnail (audio: its cover art).
            return [JobKinds.extract, JobKinds.thumbnail]
        default:
            return mediaType.hasPrefix("text/") ? [JobKinds.extract, JobKinds.generate] : [JobKinds.extract]
        }
    }
}
