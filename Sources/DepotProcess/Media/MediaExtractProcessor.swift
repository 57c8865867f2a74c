import CFFmpeg
import DepotCore
import Foundation

/// Extract for video, audio and images through libavformat: metadata.json
/// (`depot.media.metadata/1`, docs/schemas/metadata.media.schema.json) with the container,
/// every stream, tags, chapters, attachments and, for images, the EXIF facts. What could not
/// be read (a stream without a decoder, a packet that does not decode, no duration) is listed
/// under `problems`, so a partial result says what it lacks.
public struct MediaExtractProcessor: Processor {
    public static let schema = "depot.media.metadata/1"
    public var choice: ProcessorChoice { .media }
    public let version = "1"
    public let artifactKinds = ["metadata.json": "application/json"]
    public var limits = MediaLimits()

    public init() {}

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        input.progress(5, "reading the container")
        let metadata = try Self.metadata(path: input.path, mediaType: input.mediaType, limits: limits.applying(input.parameters, kind: kind))
        var writer = ArtifactWriter(directory: input.outputDirectory, producer: name, version: version)
        try writer.writeJSON("metadata.json", metadata)
        input.progress(100, "metadata read")
        return writer.produced
    }

    /// The metadata.json object of the file at `path`.
    /// - Throws: `MediaUnsupported` for what this build cannot read; `DocumentError` for a
    ///   file libavformat refuses (with its reason).
    public static func metadata(path: String, mediaType: String, limits: MediaLimits = MediaLimits()) throws -> [String: Any] {
        let input = try MediaWork.open(path, mediaType: mediaType, deadline: limits.extractSeconds)
        let mediaClass = MediaTypes.kind(of: mediaType) ?? "video"
        var problems: [String] = []
        let streams = input.streams
        if streams.isEmpty { problems.append("the container has no streams") }
        if input.duration == nil && mediaClass != "image" { problems.append("the container does not say how long it is") }

        var attachments: [[String: Any]] = []
        var streamObjects: [[String: Any]] = []
        for s in streams {
            streamObjects.append(streamObject(s))
            if s.kind == .attachment || s.isAttachedPicture {
                var a: [String: Any] = ["stream": s.index, "kind": s.isAttachedPicture ? "cover" : "attachment",
                                        "filename": s.tags["filename"].map { $0 as Any } ?? NSNull(),
                                        "mime_type": s.tags["mimetype"].map { $0 as Any }
                                            ?? (s.isAttachedPicture ? "image/\(s.codecName == "mjpeg" ? "jpeg" : s.codecName)" as Any : NSNull())]
                a["size"] = (s.isAttachedPicture ? input.attachedPicture(stream: s.index) : input.attachmentData(stream: s.index))?.count ?? 0
                attachments.append(a)
            }
            if (s.kind == .video || s.kind == .audio || s.kind == .subtitle) && !s.hasDecoder {
                problems.append("stream \(s.index) (\(s.codecName)): this build has no decoder for it")
            }
        }
        var frameCount: Int?
        if mediaClass == "image" {
            frameCount = try countFrames(input, limits: limits, problems: &problems)
        } else {
            probeDecoding(input, streams: streams, limits: limits, problems: &problems)
        }

        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        var object: [String: Any] = [
            "schema": schema, "media_type": mediaType, "media_class": mediaClass,
            "container": ["format": input.formatName, "format_long_name": input.formatLongName.map { $0 as Any } ?? NSNull()] as [String: Any],
            "duration": json(input.duration), "start_time": json(input.startTime),
            "bit_rate": input.bitRate.map { $0 as Any } ?? NSNull(), "size": size ?? 0,
            "tags": input.tags, "streams": streamObjects,
            "chapters": input.chapters.map { ["start": round3($0.start), "end": round3($0.end), "title": $0.title.map { $0 as Any } ?? NSNull()] as [String: Any] },
            "attachments": attachments, "problems": problems,
        ]
        if mediaClass == "image" {
            let exif = EXIFFacts.read(try ReadOnlyFile(path: path))
            let picture = MediaWork.pictureStream(input)
            // A picture libavformat could not decode has no size there: the header's, then.
            let header = (picture?.width ?? 0) == 0 ? ImageHeader.dimensions(try ReadOnlyFile(path: path)) : nil
            if header != nil { problems.append("the picture could not be decoded; its size is the one its header claims") }
            var image: [String: Any] = [
                "width": header?.width ?? picture?.width ?? 0, "height": header?.height ?? picture?.height ?? 0,
                "format": picture?.codecName ?? input.formatName, "pixel_format": picture?.pixelFormat.map { $0 as Any } ?? NSNull(),
                "frame_count": frameCount ?? 1, "animated": (frameCount ?? 1) > 1,
                "orientation": exif.orientation ?? 1,
            ]
            var facts: [String: Any] = [:]
            if let v = exif.takenAt { facts["taken_at"] = v }
            if let v = exif.takenAtOffset { facts["taken_at_offset"] = v }
            if let v = exif.make { facts["camera_make"] = v }
            if let v = exif.model { facts["camera_model"] = v }
            if let v = exif.software { facts["software"] = v }
            if let lat = exif.latitude, let lon = exif.longitude {
                var gps: [String: Any] = ["latitude": lat, "longitude": lon]
                if let alt = exif.altitude { gps["altitude"] = alt }
                facts["gps"] = gps
            }
            image["exif"] = facts
            object["image"] = image
            object["problems"] = problems
        }
        return object
    }

    static func streamObject(_ s: MediaStream) -> [String: Any] {
        var o: [String: Any] = [
            "index": s.index, "type": s.kind.rawValue, "codec": s.codecName, "codec_long_name": s.codecLongName.map { $0 as Any } ?? NSNull(),
            "profile": s.profile.map { $0 as Any } ?? NSNull(), "duration": json(s.duration), "bit_rate": s.bitRate.map { $0 as Any } ?? NSNull(),
            "frame_count": s.frameCount.map { $0 as Any } ?? NSNull(),
            "language": s.language.map { $0 as Any } ?? NSNull(), "title": s.title.map { $0 as Any } ?? NSNull(),
            "default": s.isDefault, "forced": s.isForced, "attached_picture": s.isAttachedPicture,
            "decodable": s.hasDecoder,
        ]
        switch s.kind {
        case .video:
            o["width"] = s.width
            o["height"] = s.height
            o["pixel_format"] = s.pixelFormat ?? NSNull()
            o["sample_aspect_ratio"] = s.sampleAspectRatio.map { "\($0.num):\($0.den)" } ?? NSNull()
            o["display_aspect_ratio"] = s.displayAspectRatio.map { "\($0.num):\($0.den)" } ?? NSNull()
            o["frame_rate"] = json(s.frameRate)
            o["rotation"] = s.rotation
            o["color_transfer"] = s.colorTransfer ?? NSNull()
            o["color_primaries"] = s.colorPrimaries ?? NSNull()
            // HDR: PQ (SMPTE ST 2084, HDR10) or HLG (ARIB STD-B67) transfer.
            o["hdr"] = s.colorTransfer == "smpte2084" ? "pq" as Any : s.colorTransfer == "arib-std-b67" ? "hlg" as Any : NSNull()
            o["bit_depth"] = s.bitsPerRawSample.map { $0 as Any } ?? NSNull()
        case .audio:
            o["sample_rate"] = s.sampleRate
            o["channels"] = s.channels
            o["channel_layout"] = s.channelLayout ?? NSNull()
            o["sample_format"] = s.sampleFormat ?? NSNull()
        case .subtitle:
            o["bitmap"] = ["hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub"].contains(s.codecName)
        default:
            break
        }
        return o
    }

    /// Frames of an animated image (GIF, APNG, WebP), counted as packets up to the limit.
    static func countFrames(_ input: MediaInput, limits: MediaLimits, problems: inout [String]) throws -> Int {
        guard let stream = MediaWork.pictureStream(input) else { return 0 }
        let packet = Packet()
        var count = 0
        while count < limits.maxFrames {
            do {
                guard try input.read(into: packet) else { break }
            } catch let error as MediaError {
                if error.isTimeout { throw DocumentError("reading the frames took longer than \(Int(limits.extractSeconds)) s") }
                problems.append("the file ends in a damaged frame: \(error)")
                break
            }
            if packet.streamIndex == stream.index { count += 1 }
        }
        if count >= limits.maxFrames { problems.append("more than \(limits.maxFrames) frames: counted up to the limit") }
        return max(count, 1)
    }

    /// Decodes the first packets of each audio and video stream (a few hundred packets at most)
    /// and lists the streams that yield nothing or fail: a video whose audio cannot be decoded
    /// says so instead of passing for whole.
    static func probeDecoding(_ input: MediaInput, streams: [MediaStream], limits: MediaLimits, problems: inout [String]) {
        var decoders: [Int: Decoder] = [:]
        var failures: [Int: String] = [:]
        var decoded = Set<Int>()
        var packets: [Int: Int] = [:]
        for s in streams where (s.kind == .video || s.kind == .audio) && s.hasDecoder && !s.isAttachedPicture {
            if s.kind == .video && Int64(s.width) * Int64(s.height) > limits.maxPixels {
                problems.append("stream \(s.index) (\(s.codecName)): \(s.width)×\(s.height) pixels is more than the limit of \(limits.maxPixels)")
                continue
            }
            do {
                decoders[s.index] = try Decoder(input: input, streamIndex: s.index,
                                                options: .init(keyframesOnly: s.kind == .video, maxPixels: limits.maxPixels))
            } catch {
                problems.append("stream \(s.index) (\(s.codecName)): \(error)")
            }
        }
        let packet = Packet(), frame = Frame()
        var read = 0
        while read < 500 && decoded.count + failures.count < decoders.count {
            guard (try? input.read(into: packet)) == true else { break }
            read += 1
            let index = packet.streamIndex
            guard let decoder = decoders[index], !decoded.contains(index) else { continue }
            packets[index, default: 0] += 1
            do {
                try decoder.decode(packet, into: frame) { _ in decoded.insert(index); return false }
            } catch {
                if (packets[index] ?? 0) >= 8 { failures[index] = "\(error)" }
            }
        }
        for (index, decoder) in decoders.sorted(by: { $0.key < $1.key }) where !decoded.contains(index) {
            try? decoder.decode(nil, into: frame) { _ in decoded.insert(index); return false }
            if decoded.contains(index) { continue }
            let codec = streams.first { $0.index == index }?.codecName ?? "?"
            if let failure = failures[index] {
                problems.append("stream \(index) (\(codec)): cannot be decoded: \(failure)")
            } else if (packets[index] ?? 0) == 0 {
                problems.append("stream \(index) (\(codec)): no data in the first \(read) packets")
            } else {
                problems.append("stream \(index) (\(codec)): nothing decoded from its first \(packets[index] ?? 0) packets")
            }
        }
    }

    static func json(_ value: Double?) -> Any { value.map { round3($0) as Any } ?? NSNull() }
    static func round3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }
}
