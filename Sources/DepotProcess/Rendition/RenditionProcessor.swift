import DepotCore
import Foundation

/// Renditions of video and audio, made in the worker through libavformat, libavcodec,
/// libswscale and libswresample (never an `ffmpeg` process):
/// - output video: `rendition-video-720p.mp4` (…-source, …-w640, …-1280x720): H.264 (libx264,
///   `crf`, `preset`) and AAC (libavcodec's encoder) in an MP4 with its index first
///   (`movflags=+faststart`), fitted into `width` × `height`, never larger than the source;
/// - output audio: `rendition-audio.m4a` (AAC) or `rendition-audio.opus` (Opus in Ogg, libopus);
/// - output frame: `rendition-frame-12.5s.jpg` (or .png), the picture shown at `time`.
///
/// Parameters are read by `RenditionRequest`, which the queue used to refuse a bad request
/// before it was queued. Progress follows the media time encoded.
public struct RenditionProcessor: Processor {
    public var choice: ProcessorChoice { .rendition }
    public let version = "1"
    /// By name pattern: the video's size and the frame's time are in their names.
    public let artifactKinds = ["rendition-video-*": "video/mp4", "rendition-audio.m4a": "audio/mp4",
                                "rendition-audio.opus": "audio/ogg", "rendition-frame-*": "image/jpeg"]
    public var limits = MediaLimits()

    public init() {}

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        let request: RenditionRequest
        do {
            request = try RenditionRequest(input.parameters, mediaType: input.mediaType)
        } catch let invalid as RenditionRequest.Invalid {
            throw DocumentError(invalid.description)
        }
        let media = try MediaWork.open(input.path, mediaType: input.mediaType, deadline: 0)
        var writer = ArtifactWriter(directory: input.outputDirectory, producer: name, version: version)
        let file = request.artifactName
        switch request.output {
        case .frame:
            input.progress(5, "finding the frame at \(request.time) s")
            let picture = try StillFrame.picture(media, at: request.time, width: request.width, height: request.height, limits: limits)
            try writer.write(file, mimeType: request.mimeType,
                             bytes: request.image == "png" ? try PNGEncoder.encode(picture) : try JPEGEncoder.encode(picture, quality: 2))
            input.progress(100, "frame \(picture.width)×\(picture.height)")
        case .video, .audio:
            input.progress(1, "encoding")
            let summary = try Transcoder.run(media, request: request, to: input.outputDirectory + "/" + file, limits: limits,
                                             progress: input.progress)
            writer.adopt(file, mimeType: request.mimeType)
            input.progress(100, summary)
        }
        return writer.produced
    }
}
