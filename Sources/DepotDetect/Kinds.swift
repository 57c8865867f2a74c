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

/// The media types the FFmpeg processors take, by class (what this build cannot decode is
/// `unsupportedReason`, beside the FFmpeg wrappers).
public enum MediaTypes {
    public static var all: [String] { MediaSignatures.videoTypes + MediaSignatures.audioTypes + MediaSignatures.imageTypes }

    /// "video", "audio" or "image" for a media type the processors take, nil for others.
    public static func kind(of mediaType: String) -> String? {
        if MediaSignatures.videoTypes.contains(mediaType) { return "video" }
        if MediaSignatures.audioTypes.contains(mediaType) { return "audio" }
        if MediaSignatures.imageTypes.contains(mediaType) { return "image" }
        return nil
    }
}
