import DepotCore

/// The `rendition` kind's parameters and checks; the reading of them (`RenditionRequest`)
/// is shared with the worker's processor.
public enum Renditions {
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("output", .string(choices: RenditionRequest.Output.allCases.map(\.rawValue)), default: .string("video"),
                      help: "video (H.264/AAC MP4, faststart), audio (audio only) or frame (a still picture at time)"),
        ParameterSpec("height", .int(0...4320), default: .int(720),
                      help: "most pixels tall (0: the source's); never above the source's size"),
        ParameterSpec("width", .int(0...7680), default: .int(0), help: "most pixels wide (0: from height, keeping the aspect)"),
        ParameterSpec("crf", .int(0...51), default: .int(23), help: "video: libx264's constant rate factor (lower: better, larger)"),
        ParameterSpec("preset", .string(choices: RenditionRequest.presets), default: .string("veryfast"),
                      help: "video: libx264's preset (slower: smaller at the same quality)"),
        ParameterSpec("threads", .int(0...64), default: .int(0), help: "video: encoder threads (0: chosen by libx264)"),
        ParameterSpec("audio_codec", .string(choices: RenditionRequest.audioCodecs), default: .string("aac"),
                      help: "aac (M4A; the only one in a video rendition) or opus (Ogg Opus; output audio)"),
        ParameterSpec("audio_bitrate", .int(16...512), default: .int(128), help: "audio bit rate in kbit/s"),
        ParameterSpec("time", .string(choices: nil), default: .string("0"),
                      help: "frame: when, as seconds (12.5) or [HH:]MM:SS[.mmm] from the start"),
        ParameterSpec("image", .string(choices: RenditionRequest.imageFormats), default: .string("jpeg"), help: "frame: jpeg or png"),
    ]

    public static let makes = RenditionRequest.artifactPatterns

    /// The whole request checked, for the version's media type when it is known.
    @Sendable public static func validate(_ parameters: JobParameters, mediaType: String?) throws {
        do {
            _ = try RenditionRequest(parameters, mediaType: mediaType)
        } catch let invalid as RenditionRequest.Invalid {
            throw JobQueueError.invalid(invalid.description)
        }
    }
}
