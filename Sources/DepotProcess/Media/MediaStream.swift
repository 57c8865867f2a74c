import CFFmpeg

/// What libavformat says about one stream, copied out of its AVStream and AVCodecParameters
/// (a value: it outlives the input).
public struct MediaStream: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable { case video, audio, subtitle, data, attachment, unknown }

    public var index: Int
    public var kind: Kind
    /// libavcodec's short name ("h264", "aac"), "none" when it has no codec id.
    public var codecName: String
    public var codecID: AVCodecID
    public var codecLongName: String?
    public var profile: String?
    public var timeBase: AVRational
    /// Seconds, nil when the container does not say.
    public var duration: Double?
    public var startTime: Double?
    /// Frames as the container counts them (nb_frames), nil when unknown.
    public var frameCount: Int64?
    public var bitRate: Int64?
    public var tags: [String: String]
    public var isDefault: Bool
    public var isForced: Bool
    /// A still picture (cover art) stored as a stream of one packet.
    public var isAttachedPicture: Bool
    public var isHearingImpaired: Bool

    // Video
    public var width: Int = 0
    public var height: Int = 0
    public var pixelFormat: String?
    public var sampleAspectRatio: AVRational?
    /// The average frame rate (frames per second), nil when unknown.
    public var frameRate: Double?
    /// Degrees clockwise the picture must be turned to be shown upright (0, 90, 180, 270),
    /// from the stream's display matrix.
    public var rotation: Int = 0
    /// The display matrix mirrors the picture (a front camera).
    public var mirrored = false
    public var colorTransfer: String?
    public var colorPrimaries: String?
    public var colorSpace: String?
    public var colorRange: String?
    public var bitsPerRawSample: Int?

    // Audio
    public var sampleRate: Int = 0
    public var channels: Int = 0
    public var channelLayout: String?
    public var sampleFormat: String?

    init(_ pointer: UnsafeMutablePointer<AVStream>) {
        let s = pointer.pointee
        let p = s.codecpar.pointee
        index = Int(s.index)
        switch p.codec_type {
        case AVMEDIA_TYPE_VIDEO: kind = .video
        case AVMEDIA_TYPE_AUDIO: kind = .audio
        case AVMEDIA_TYPE_SUBTITLE: kind = .subtitle
        case AVMEDIA_TYPE_DATA: kind = .data
        case AVMEDIA_TYPE_ATTACHMENT: kind = .attachment
        default: kind = .unknown
        }
        codecID = p.codec_id
        let descriptor = avcodec_descriptor_get(p.codec_id)
        codecName = descriptor.map { String(cString: $0.pointee.name) } ?? String(cString: avcodec_get_name(p.codec_id))
        codecLongName = descriptor.flatMap { $0.pointee.long_name.map { String(cString: $0) } }
        profile = p.profile == FF_PROFILE_UNKNOWN ? nil : avcodec_profile_name(p.codec_id, p.profile).map { String(cString: $0) }
        timeBase = s.time_base
        duration = s.duration > 0 ? FFmpeg.seconds(s.duration, s.time_base) : nil
        startTime = FFmpeg.seconds(s.start_time, s.time_base)
        frameCount = s.nb_frames > 0 ? s.nb_frames : nil
        bitRate = p.bit_rate > 0 ? p.bit_rate : nil
        tags = MediaInput.dictionary(s.metadata)
        isDefault = s.disposition & AV_DISPOSITION_DEFAULT != 0
        isForced = s.disposition & AV_DISPOSITION_FORCED != 0
        isAttachedPicture = s.disposition & AV_DISPOSITION_ATTACHED_PIC != 0
        isHearingImpaired = s.disposition & AV_DISPOSITION_HEARING_IMPAIRED != 0

        if kind == .video {
            width = Int(p.width)
            height = Int(p.height)
            pixelFormat = av_get_pix_fmt_name(AVPixelFormat(p.format)).map { String(cString: $0) }
            let sar = s.sample_aspect_ratio.num > 0 ? s.sample_aspect_ratio : p.sample_aspect_ratio
            sampleAspectRatio = sar.num > 0 && sar.den > 0 ? sar : nil
            frameRate = FFmpeg.double(s.avg_frame_rate) ?? FFmpeg.double(s.r_frame_rate)
            if let matrix = cffmpeg_stream_display_matrix(pointer) {
                let counterClockwise = av_display_rotation_get(matrix)
                if counterClockwise.isFinite {
                    rotation = ((Int((-counterClockwise).rounded()) % 360) + 360) % 360
                    rotation = (rotation + 45) / 90 * 90 % 360
                }
                // A negative determinant of the 2×2 part: the matrix also flips.
                mirrored = Int64(matrix[0]) * Int64(matrix[4]) - Int64(matrix[1]) * Int64(matrix[3]) < 0
            }
            if p.color_trc != AVCOL_TRC_UNSPECIFIED { colorTransfer = av_color_transfer_name(p.color_trc).map { String(cString: $0) } }
            if p.color_primaries != AVCOL_PRI_UNSPECIFIED { colorPrimaries = av_color_primaries_name(p.color_primaries).map { String(cString: $0) } }
            if p.color_space != AVCOL_SPC_UNSPECIFIED { colorSpace = av_color_space_name(p.color_space).map { String(cString: $0) } }
            if p.color_range != AVCOL_RANGE_UNSPECIFIED { colorRange = av_color_range_name(p.color_range).map { String(cString: $0) } }
            bitsPerRawSample = p.bits_per_raw_sample > 0 ? Int(p.bits_per_raw_sample) : nil
        }
        if kind == .audio {
            sampleRate = Int(p.sample_rate)
            channels = Int(p.ch_layout.nb_channels)
            var layout = p.ch_layout
            var buffer = [CChar](repeating: 0, count: 128)
            if layout.order != AV_CHANNEL_ORDER_UNSPEC, av_channel_layout_describe(&layout, &buffer, buffer.count) > 0 {
                channelLayout = FFmpeg.string(buffer)
            }
            sampleFormat = av_get_sample_fmt_name(AVSampleFormat(p.format)).map { String(cString: $0) }
        }
    }

    /// The display aspect ratio (width × SAR : height), reduced ("16:9"), nil without a size.
    public var displayAspectRatio: AVRational? {
        guard width > 0, height > 0 else { return nil }
        let sar = sampleAspectRatio ?? AVRational(num: 1, den: 1)
        var num: Int32 = 0, den: Int32 = 0
        av_reduce(&num, &den, Int64(width) * Int64(sar.num), Int64(height) * Int64(sar.den), 1 << 20)
        return AVRational(num: num, den: den)
    }

    /// The size the picture is shown at: the sample aspect applied to the width, then the rotation.
    public var displaySize: (width: Int, height: Int) {
        var w = width
        if let sar = sampleAspectRatio, sar.num != sar.den { w = max(1, Int((Double(width) * Double(sar.num) / Double(sar.den)).rounded())) }
        return rotation == 90 || rotation == 270 ? (height, w) : (w, height)
    }

    /// The language tag ("eng"), nil when absent or "und".
    public var language: String? { tags["language"].flatMap { $0 == "und" ? nil : $0 } }
    public var title: String? { tags["title"] }

    /// Whether libavcodec of this build has a decoder for it.
    public var hasDecoder: Bool { avcodec_find_decoder(codecID) != nil }
}

extension AVRational: @retroactive Equatable {
    public static func == (a: AVRational, b: AVRational) -> Bool { a.num == b.num && a.den == b.den }
}
extension AVRational: @retroactive @unchecked Sendable {}
extension AVCodecID: @retroactive @unchecked Sendable {}

/// A chapter of the container (an M4B book's, a Matroska edition's).
public struct MediaChapter: Sendable, Equatable {
    public var id: Int64
    public var start: Double
    public var end: Double
    public var title: String?
}
