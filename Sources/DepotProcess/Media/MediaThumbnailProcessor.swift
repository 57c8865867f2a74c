import CFFmpeg
import DepotCore
import Foundation

/// Thumbnail for video, audio and images through libavcodec, encoded with its MJPEG encoder:
/// - video: `thumbnail.jpg`, a representative keyframe about 10% in (not black or flat: later
///   candidates are tried, the liveliest kept), the first frame of a very short video, with the
///   display rotation and the sample aspect applied, `width` (320) pixels wide;
/// - images: `thumbnail.jpg` of the first frame, the EXIF orientation applied;
/// - audio: the embedded cover art as `cover.jpg` (none: no artifact).
public struct MediaThumbnailProcessor: Processor {
    public var choice: ProcessorChoice { .mediaThumbnail }
    public let version = "1"
    public let artifactKinds = ["thumbnail.jpg": "image/jpeg", "cover.jpg": "image/jpeg"]
    public var limits = MediaLimits()

    public init() {}

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        let limits = limits.applying(input.parameters, kind: kind)
        var writer = ArtifactWriter(directory: input.outputDirectory, producer: name, version: version)
        let media = try MediaWork.open(input.path, mediaType: input.mediaType, deadline: limits.thumbnailSeconds)
        switch MediaTypes.kind(of: input.mediaType) {
        case "audio":
            input.progress(10, "looking for cover art")
            if let cover = try Self.cover(media, limits: limits) {
                try writer.write("cover.jpg", mimeType: "image/jpeg", bytes: cover)
            }
        case "image":
            input.progress(10, "decoding the picture")
            let orientation = EXIFFacts.read(try ReadOnlyFile(path: input.path)).orientation ?? 1
            let picture = try Self.imageThumbnail(media, orientation: orientation, limits: limits)
            try writer.write("thumbnail.jpg", mimeType: "image/jpeg", bytes: try JPEGEncoder.encode(picture))
        default:
            input.progress(10, "finding a representative frame")
            let picture = try Self.videoThumbnail(media, limits: limits)
            try writer.write("thumbnail.jpg", mimeType: "image/jpeg", bytes: try JPEGEncoder.encode(picture))
        }
        input.progress(100, writer.produced.isEmpty ? "no cover art" : "thumbnail made")
        return writer.produced
    }

    /// A picture of `stream`'s frames at thumbnail size, upright.
    static func maker(_ stream: MediaStream, width: Int, rotation: Int, mirrored: Bool) -> (Frame) throws -> Picture {
        let display = stream.displaySize
        let size = MediaWork.thumbnailSize(display: display, width: width)
        let turned = rotation == 90 || rotation == 270
        return { frame in
            try Picture(frame: frame, width: turned ? size.height : size.width, height: turned ? size.width : size.height)
                .oriented(rotation: rotation, mirrored: mirrored)
        }
    }

    /// The thumbnail of a video: keyframes at 10%, 25%, 50% and 75% of the duration are tried
    /// in turn (the first frame when the duration is unknown or under 2 s); the first that is
    /// neither dark nor flat wins, else the one with the most contrast.
    /// - Throws: `DocumentError` when there is no video stream or no frame decodes.
    public static func videoThumbnail(_ input: MediaInput, limits: MediaLimits = MediaLimits()) throws -> Picture {
        guard let stream = MediaWork.pictureStream(input) else { throw DocumentError("the file has no video stream") }
        try MediaWork.checkSize(stream, limits)
        let decoder = try Decoder(input: input, streamIndex: stream.index, options: .init(keyframesOnly: true, maxPixels: limits.maxPixels))
        let make = maker(stream, width: limits.thumbnailWidth, rotation: stream.rotation, mirrored: stream.mirrored)
        let start = input.startTime ?? 0
        var times: [Double?] = [nil]
        if let duration = input.duration ?? stream.duration, duration >= 2 {
            times = [0.10, 0.25, 0.50, 0.75].map { start + duration * $0 } + [nil]
        }
        var best: (picture: Picture, deviation: Double)?
        for time in times {
            do {
                if let time { try input.seek(to: time, stream: nil) } else { try input.rewind() }
            } catch let error as MediaError where error.isTimeout {
                throw error
            } catch {
                // A container that cannot seek (no index, a fake duration past its end): the next candidate.
                if time != nil { continue }
            }
            decoder.flush()
            // From the start, the first frame that decodes is the one: no skipping (a raw
            // stream's packets may carry no keyframe flags at all).
            decoder.keyframesOnly = time != nil
            guard let picture = try MediaWork.firstPicture(input, decoder, maxPackets: limits.maxPacketsPerPicture, make) else { continue }
            let stats = picture.lumaStatistics
            if stats.mean > 24 && stats.mean < 235 && stats.deviation > 10 { return picture }
            if best == nil || stats.deviation > best!.deviation { best = (picture, stats.deviation) }
        }
        guard let best else { throw DocumentError("no frame of the video stream (\(stream.codecName)) could be decoded") }
        return best.picture
    }

    /// The first frame of an image, the EXIF orientation (1–8) applied.
    public static func imageThumbnail(_ input: MediaInput, orientation: Int, limits: MediaLimits = MediaLimits()) throws -> Picture {
        guard let stream = MediaWork.pictureStream(input) else { throw DocumentError("the file has no picture") }
        try MediaWork.checkSize(stream, limits)
        try MediaWork.checkHeaderSize(input.path, limits)
        guard stream.hasDecoder else { throw MediaUnsupported("this build has no decoder for \(stream.codecName) pictures") }
        let decoder = try Decoder(input: input, streamIndex: stream.index, options: .init(maxPixels: limits.maxPixels))
        // Orientations 5–8 swap width and height.
        let swapped = (5...8).contains(orientation)
        let size = MediaWork.thumbnailSize(display: swapped ? (stream.displaySize.height, stream.displaySize.width) : stream.displaySize,
                                           width: limits.thumbnailWidth)
        let picture = try MediaWork.firstPicture(input, decoder, maxPackets: limits.maxPacketsPerPicture) { frame in
            try Picture(frame: frame, width: swapped ? size.height : size.width, height: swapped ? size.width : size.height)
                .applyingEXIFOrientation(orientation)
        }
        guard let picture else { throw DocumentError("the picture (\(stream.codecName)) could not be decoded") }
        return picture
    }

    /// An audio file's cover art as JPEG bytes: a JPEG as stored, another format decoded and
    /// re-encoded at its size (at most 1024 pixels wide); nil when it has none.
    public static func cover(_ input: MediaInput, limits: MediaLimits = MediaLimits()) throws -> [UInt8]? {
        guard let stream = input.streams.first(where: { $0.isAttachedPicture }),
              let bytes = input.attachedPicture(stream: stream.index) else { return nil }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return bytes }
        let picture = try MediaInput(bytes: ByteArray(bytes), options: .init(deadlineSeconds: limits.thumbnailSeconds))
        var wide = limits
        wide.thumbnailWidth = 1024
        return try JPEGEncoder.encode(try imageThumbnail(picture, orientation: 1, limits: wide))
    }
}
