import CFFmpeg
import DepotCore
import Foundation

/// Bounds on what one media file may cost a worker. Hostile files (a 65,535-pixel-wide
/// header, a GIF of a million frames, a container claiming 47 hours) hit one of these and end
/// with a specific error or a partial result; the worker's own time and memory limits hold
/// for everything else.
public struct MediaLimits: Sendable, Equatable {
    /// Most pixels of one decoded picture (libavcodec's max_pixels and a check before decoding).
    public var maxPixels: Int64 = 100_000_000
    /// Most packets read to count an animated image's frames or to probe the streams' decoding.
    public var maxFrames = 10_000
    /// Most packets read after a seek to find one picture.
    public var maxPacketsPerPicture = 2_000
    /// Wall-clock seconds the extract and thumbnail work may take (libavformat's interrupt callback).
    public var extractSeconds: Double = 300
    public var thumbnailSeconds: Double = 90
    /// Thumbnail width in pixels (a thumbnail job's `width` takes its place).
    public var thumbnailWidth = 320

    public init() {}

    func applying(_ parameters: [String: ParameterValue], kind: String) -> MediaLimits {
        var limits = self
        if kind == ProcessorKind.thumbnail, case .int(let width)? = parameters["width"] { limits.thumbnailWidth = width }
        return limits
    }
}

extension MediaTypes {
    /// Why this build cannot read `mediaType` at all (nil: it can try).
    public static func unsupportedReason(_ mediaType: String) -> String? {
        switch mediaType {
        case "image/heic":
            // HEIF's item-based still images came to libavformat's mov demuxer in FFmpeg 6.1.
            return "HEIC images need FFmpeg 6.1 or later; this build has \(FFmpeg.versionString)"
        default:
            return nil
        }
    }
}

/// The work of the media processors, on one opened input.
enum MediaWork {
    /// Opens `path`, failing for types this build cannot read with `MediaUnsupported`.
    static func open(_ path: String, mediaType: String, deadline: Double) throws -> MediaInput {
        if let reason = MediaTypes.unsupportedReason(mediaType) { throw MediaUnsupported(reason) }
        do {
            return try MediaInput(path: path, options: .init(deadlineSeconds: deadline))
        } catch let error as MediaError {
            if mediaType == "image/avif" || mediaType == "image/jp2" || mediaType == "image/vnd.adobe.photoshop" {
                throw MediaUnsupported("this build of FFmpeg (\(FFmpeg.versionString)) does not read \(mediaType): \(error)")
            }
            throw DocumentError("\(error)")
        }
    }

    /// The stream whose pictures stand for the file: the best video stream that is not cover art.
    static func pictureStream(_ input: MediaInput) -> MediaStream? {
        let streams = input.streams.filter { $0.kind == .video && !$0.isAttachedPicture }
        if let best = input.bestStream(AVMEDIA_TYPE_VIDEO), let s = streams.first(where: { $0.index == best }) { return s }
        return streams.first
    }

    /// Refuses a picture larger than the limit before any decoder allocates it.
    static func checkSize(_ stream: MediaStream, _ limits: MediaLimits) throws {
        if Int64(stream.width) * Int64(stream.height) > limits.maxPixels {
            throw DocumentError("the picture is \(stream.width)×\(stream.height) pixels, more than the limit of \(limits.maxPixels)")
        }
    }

    /// Refuses an image whose header claims more pixels than the limit (libavformat leaves
    /// the size of a picture it could not decode at 0, so its own size says nothing).
    static func checkHeaderSize(_ path: String?, _ limits: MediaLimits) throws {
        guard let path, let file = try? ReadOnlyFile(path: path), let size = ImageHeader.dimensions(file) else { return }
        if Int64(size.width) * Int64(size.height) > limits.maxPixels {
            throw DocumentError("the picture is \(size.width)×\(size.height) pixels, more than the limit of \(limits.maxPixels)")
        }
    }

    /// Width and height of a thumbnail of a picture shown at `display` size: at most `width`
    /// wide (never enlarged), at most 4 times as tall as wide.
    static func thumbnailSize(display: (width: Int, height: Int), width: Int) -> (width: Int, height: Int) {
        let w = max(1, min(width, display.width))
        let h = max(1, min(4 * w, Int((Double(w) * Double(display.height) / Double(max(display.width, 1))).rounded())))
        return (w, h)
    }

    /// The first picture decoded from `decoder`'s stream from where `input` is, within
    /// `maxPackets` packets of that stream; nil when there is none.
    static func firstPicture(_ input: MediaInput, _ decoder: Decoder, maxPackets: Int, _ make: (Frame) throws -> Picture) throws -> Picture? {
        let packet = Packet(), frame = Frame()
        var picture: Picture?
        var packets = 0
        var sawError: Error?
        while picture == nil, packets < maxPackets {
            let more: Bool
            do { more = try input.read(into: packet) } catch let e as MediaError where !e.isTimeout { sawError = e; break }
            if !more {
                try decoder.decode(nil, into: frame) { picture = try make($0); return false }
                break
            }
            guard packet.streamIndex == decoder.streamIndex else { continue }
            packets += 1
            do {
                try decoder.decode(packet, into: frame) { picture = try make($0); return false }
            } catch let e as MediaError {
                // One damaged packet: the next keyframe may decode.
                sawError = e
            }
        }
        if picture == nil, let sawError, packets == 0 { throw sawError }
        return picture
    }
}

/// The size an image's header claims, read from its first bytes (GIF's logical screen, PNG's
/// IHDR, BMP's DIB header, JPEG's first SOF), before any decoder allocates a picture of it.
enum ImageHeader {
    static func dimensions(_ file: any RandomAccessBytes) -> (width: Int, height: Int)? {
        guard let head = try? file.read(at: 0, count: 64 * 1024), head.count >= 26 else { return nil }
        func be16(_ i: Int) -> Int { Int(head[i]) << 8 | Int(head[i + 1]) }
        if head.starts(with: Array("GIF8".utf8)) { return (Int(le16(head, 6)), Int(le16(head, 8))) }
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return (Int(MediaSignatures.be32(head, 16)), Int(MediaSignatures.be32(head, 20))) }
        if head.starts(with: Array("BM".utf8)) { return (Int(Int32(bitPattern: le32(head, 18))), abs(Int(Int32(bitPattern: le32(head, 22))))) }
        if head.starts(with: [0xFF, 0xD8]) {
            var i = 2
            while i + 9 < head.count, head[i] == 0xFF {
                let marker = head[i + 1]
                if (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC { return (be16(i + 7), be16(i + 5)) }
                i += 2 + be16(i + 2)
            }
        }
        return nil
    }
}
