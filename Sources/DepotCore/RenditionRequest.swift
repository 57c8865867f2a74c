/// What a rendition job asks for, read from its parameters: the one reading the queue (to
/// refuse a bad request with a clear message before it is queued) and the worker's processor
/// (to do it) share, so that they never disagree about a parameter or an artifact's name.
public struct RenditionRequest: Sendable, Equatable {
    public enum Output: String, Sendable, CaseIterable {
        /// An H.264/AAC MP4 (`faststart`), resized to fit `width` × `height`, never enlarged.
        case video
        /// The audio alone: AAC in an M4A, or Opus in Ogg.
        case audio
        /// One still picture at `time`, as JPEG or PNG.
        case frame
    }

    public static let presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
    public static let audioCodecs = ["aac", "opus"]
    public static let imageFormats = ["jpeg", "png"]

    public var output: Output
    /// The box the picture must fit in, pixels (0: no bound on that side); never above the source's size.
    public var width: Int
    public var height: Int
    /// libx264's constant rate factor (0–51; lower is better and larger) and preset.
    public var crf: Int
    public var preset: String
    /// Encoder threads (0: as many as libx264 and the decoder choose).
    public var threads: Int
    public var audioCodec: String
    /// Audio bit rate, kbit/s.
    public var audioBitrate: Int
    /// Seconds from the start, for a frame.
    public var time: Double
    public var image: String

    /// Why a request cannot be done, in words for the person who asked.
    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Reads resolved parameters (each already checked alone, the defaults filled in; one
    /// that is missing takes the default here too).
    /// - Parameter mediaType: the version's detected type, when known: audio cannot give pictures.
    /// - Throws: `Invalid` for a combination that cannot be done.
    public init(_ parameters: [String: ParameterValue], mediaType: String? = nil) throws {
        func int(_ name: String, _ fallback: Int) -> Int { parameters[name]?.intValue ?? fallback }
        func text(_ name: String, _ fallback: String) -> String { parameters[name]?.description ?? fallback }
        let outputName = text("output", Output.video.rawValue)
        guard let output = Output(rawValue: outputName) else {
            throw Invalid("output must be one of \(Output.allCases.map(\.rawValue).joined(separator: ", ")), not \(outputName)")
        }
        self.output = output
        width = int("width", 0)
        height = int("height", 720)
        crf = int("crf", 23)
        preset = text("preset", "veryfast")
        threads = int("threads", 0)
        audioCodec = text("audio_codec", "aac")
        audioBitrate = int("audio_bitrate", 128)
        image = text("image", "jpeg")
        let timeText = text("time", "0")
        guard let time = Self.seconds(timeText) else {
            throw Invalid("time must be seconds (12.5) or [HH:]MM:SS[.mmm] (1:02:03.5), not '\(timeText)'")
        }
        self.time = time
        for (name, value) in [("width", width), ("height", height)] where value != 0 && value < 16 {
            throw Invalid("\(name) must be 0 (the source's) or at least 16 pixels, not \(value)")
        }
        guard (0...51).contains(crf) else { throw Invalid("crf must be from 0 to 51") }
        guard Self.presets.contains(preset) else { throw Invalid("preset must be one of \(Self.presets.joined(separator: ", "))") }
        guard Self.audioCodecs.contains(audioCodec) else { throw Invalid("audio_codec must be aac or opus") }
        guard Self.imageFormats.contains(image) else { throw Invalid("image must be jpeg or png") }
        if output == .video && audioCodec != "aac" {
            throw Invalid("a video rendition is an H.264/AAC MP4: audio_codec \(audioCodec) is for output audio")
        }
        if let mediaType, mediaType.hasPrefix("audio/"), output != .audio {
            throw Invalid("\(mediaType) is audio: it has no pictures for a \(output.rawValue) rendition (ask for output audio)")
        }
    }

    /// The artifact's name, which says what was asked, so that asking again for the same
    /// replaces it and asking for another size adds one: rendition-video-720p.mp4,
    /// rendition-video-1280x720.mp4, rendition-audio.opus, rendition-frame-12.5s.jpg.
    public var artifactName: String {
        switch output {
        case .video:
            let size: String
            switch (width, height) {
            case (0, 0): size = "source"
            case (0, let h): size = "\(h)p"
            case (let w, 0): size = "w\(w)"
            case (let w, let h): size = "\(w)x\(h)"
            }
            return "rendition-video-\(size).mp4"
        case .audio:
            return audioCodec == "opus" ? "rendition-audio.opus" : "rendition-audio.m4a"
        case .frame:
            let millis = Int64((time * 1000).rounded())
            let fraction = millis % 1000
            var seconds = "\(millis / 1000)"
            if fraction != 0 {
                var digits = String(fraction)
                digits = String(repeating: "0", count: 3 - digits.count) + digits
                while digits.hasSuffix("0") { digits.removeLast() }
                seconds += "." + digits
            }
            return "rendition-frame-\(seconds)s.\(image == "png" ? "png" : "jpg")"
        }
    }

    /// The artifact names a rendition can have (`*`: any name it begins).
    public static let artifactPatterns = ["rendition-video-*", "rendition-audio.m4a", "rendition-audio.opus", "rendition-frame-*"]

    /// MIME type of the artifact.
    public var mimeType: String {
        switch output {
        case .video: return "video/mp4"
        case .audio: return audioCodec == "opus" ? "audio/ogg" : "audio/mp4"
        case .frame: return image == "png" ? "image/png" : "image/jpeg"
        }
    }

    /// Seconds written as "12.5", "02:03.5" or "1:02:03.250"; nil for anything else.
    public static func seconds(_ text: String) -> Double? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isNumber || $0 == "." } }) else {
            return nil
        }
        var total = 0.0
        for (index, part) in parts.enumerated() {
            let last = index == parts.count - 1
            // Only the seconds may have a fraction; minutes and seconds after a colon are below 60.
            if !last && part.contains(".") { return nil }
            guard let value = Double(part), value.isFinite else { return nil }
            if index > 0 && value >= 60 { return nil }
            total = total * 60 + value
        }
        return total <= 10_000_000 ? total : nil
    }
}
