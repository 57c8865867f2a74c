import CFFmpeg
import DepotCore

/// The text subtitle streams inside a media file (SubRip, ASS/SSA, mov_text, WebVTT, plain
/// text), decoded by libavcodec into cues. libavcodec hands every text subtitle over as an
/// ASS event ("ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text"), so one
/// reader serves all of them. Bitmap subtitles (PGS, VobSub, DVB) are pictures: they are
/// listed, never converted.
public enum EmbeddedSubtitles {
    /// libavcodec's text subtitle decoders depot converts.
    public static let textCodecs: Set<String> = ["subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text", "microdvd", "subviewer"]
    public static let bitmapCodecs: Set<String> = ["hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub"]

    public struct Track: Sendable, Equatable {
        public var streamIndex: Int
        public var codec: String
        /// ISO 639-2 as the container tags it ("eng"), nil when untagged.
        public var language: String?
        public var title: String?
        public var isDefault: Bool
        public var isForced: Bool
        public var cues: [TimedText]
    }

    /// Every text subtitle stream of `path` with its cues, in stream order; the file is read
    /// once, with every other stream discarded by the demuxer.
    /// - Throws: `MediaError` when the file cannot be read.
    public static func read(path: String, deadlineSeconds: Double = 0) throws -> [Track] {
        let input = try MediaInput(path: path, options: MediaInput.Options(deadlineSeconds: deadlineSeconds))
        var decoders: [Int: UnsafeMutablePointer<AVCodecContext>] = [:]
        // The decoders live only for this read; freed on every way out of it.
        defer {
            for context in decoders.values {
                var optional: UnsafeMutablePointer<AVCodecContext>? = context
                avcodec_free_context(&optional)
            }
        }
        var tracks: [Int: Track] = [:]
        for stream in input.streams {
            let avStream = input.stream(at: stream.index)
            guard stream.kind == .subtitle, textCodecs.contains(stream.codecName),
                  let codec = avcodec_find_decoder(stream.codecID), let context = avcodec_alloc_context3(codec) else {
                avStream.pointee.discard = AVDISCARD_ALL
                continue
            }
            decoders[stream.index] = context
            guard avcodec_parameters_to_context(context, avStream.pointee.codecpar) >= 0 else { continue }
            context.pointee.pkt_timebase = avStream.pointee.time_base
            guard avcodec_open2(context, codec, nil) >= 0 else { continue }
            tracks[stream.index] = Track(streamIndex: stream.index, codec: stream.codecName, language: stream.language,
                                         title: stream.title, isDefault: stream.isDefault, isForced: stream.isForced, cues: [])
        }
        guard !tracks.isEmpty else { return [] }
        let packet = Packet()
        while try input.read(into: packet) {
            let index = packet.streamIndex
            guard let context = decoders[index], tracks[index] != nil else { continue }
            let base = input.stream(at: index).pointee.time_base
            var subtitle = AVSubtitle()
            var got: Int32 = 0
            guard avcodec_decode_subtitle2(context, &subtitle, &got, packet.packet) >= 0, got != 0 else { continue }
            defer { avsubtitle_free(&subtitle) }
            guard let at = FFmpeg.seconds(packet.pts != FFmpeg.noTimestamp ? packet.pts : packet.dts, base) else { continue }
            let start = at + Double(subtitle.start_display_time) / 1000
            var end = packet.duration > 0 ? at + (FFmpeg.seconds(packet.duration, base) ?? 0) : at + Double(subtitle.end_display_time) / 1000
            if end <= start { end = start + 2 }
            var lines: [String] = []
            for i in 0..<Int(subtitle.num_rects) {
                guard let rect = subtitle.rects[i]?.pointee else { continue }
                if let ass = rect.ass {
                    // ReadOrder, Layer, Style, Name, MarginL, MarginR, MarginV, Effect, Text: the text is the ninth field on.
                    let event = String(cString: ass)
                    let fields = event.split(separator: ",", maxSplits: 8, omittingEmptySubsequences: false)
                    let text = SubtitleText.assPlainText(fields.count == 9 ? String(fields[8]) : event)
                    if !text.isEmpty { lines.append(WebVTT.escaped(text)) }
                } else if let text = rect.text {
                    lines.append(WebVTT.escaped(String(cString: text)))
                }
            }
            if !lines.isEmpty { tracks[index]!.cues.append(TimedText(start: start, end: end, text: lines.joined(separator: "\n"))) }
        }
        return tracks.keys.sorted().compactMap { tracks[$0] }
    }

    /// The languages whose `subtitles.<lang>.vtt` a processor declares (a track in another
    /// language is still written, under its own tag).
    public static let declaredLanguages = ["und", "eng", "deu", "fra", "spa", "ita", "nld", "por", "jpn", "zho", "rus"]

    /// The artifact names of `tracks`: subtitles.<lang>.vtt, "und" when untagged, a second
    /// track of the same language numbered (subtitles.eng.2.vtt).
    public static func artifactNames(_ tracks: [Track]) -> [String] {
        var seen: [String: Int] = [:]
        return tracks.map { track in
            let language = (track.language ?? "und").filter { $0.isLetter || $0.isNumber || $0 == "-" }
            let tag = language.isEmpty ? "und" : language
            seen[tag, default: 0] += 1
            return seen[tag]! == 1 ? "subtitles.\(tag).vtt" : "subtitles.\(tag).\(seen[tag]!).vtt"
        }
    }

    /// The track a transcript is best made from: a default one, else the first that is not
    /// forced (forced subtitles carry only foreign-language lines), else the first.
    public static func best(_ tracks: [Track]) -> Track? {
        let full = tracks.filter { !$0.isForced && !$0.cues.isEmpty }
        return full.first { $0.isDefault } ?? full.first ?? tracks.first { !$0.cues.isEmpty }
    }
}
