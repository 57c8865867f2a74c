import CFFmpeg
import DepotCore
import Foundation

/// The size a rendition's pictures get.
enum RenditionSize {
    /// `display` (the size the source is shown at) fitted into `width` × `height` (0: no
    /// bound on that side), keeping its aspect, never enlarged; `even`: both sides even (what
    /// 4:2:0 chroma needs), rounded down rather than past the source's.
    static func fit(_ display: (width: Int, height: Int), width: Int, height: Int, even: Bool) -> (width: Int, height: Int) {
        var scale = 1.0
        if width > 0 { scale = min(scale, Double(width) / Double(max(1, display.width))) }
        if height > 0 { scale = min(scale, Double(height) / Double(max(1, display.height))) }
        func side(_ value: Double, most: Int) -> Int {
            guard even else { return max(1, min(most, Int(value.rounded()))) }
            var v = 2 * Int((value / 2).rounded())
            if v > most { v -= 2 }
            return max(2, v)
        }
        func bound(_ source: Int, _ box: Int) -> Int { box > 0 ? min(source, box) : source }
        return (side(Double(display.width) * scale, most: bound(display.width, width)),
                side(Double(display.height) * scale, most: bound(display.height, height)))
    }
}

/// Decodes a file once and encodes what the rendition asks: its best video stream as H.264
/// (libx264) and its best audio stream as AAC or Opus, muxed by libavformat. Packets are
/// taken in file order and each goes through its stream's decoder → scaler or resampler →
/// encoder → muxer at once, so memory does not grow with the file's length.
enum Transcoder {
    /// Writes the rendition of `input` to `path` and returns a summary for the job's last message.
    /// - Throws: `DocumentError` when the file has no stream to make it of or none decodes;
    ///   `MediaUnsupported` when this build lacks an encoder; `MediaError` from the libraries.
    static func run(_ input: MediaInput, request: RenditionRequest, to path: String, limits: MediaLimits,
                    progress: @escaping @Sendable (Int, String) -> Void) throws -> String {
        var videoStream: MediaStream?
        if request.output == .video {
            guard let stream = MediaWork.pictureStream(input) else {
                throw DocumentError("the file has no video stream: a video rendition needs one (output audio makes its audio alone)")
            }
            try MediaWork.checkSize(stream, limits)
            videoStream = stream
        }
        let audioIndex = input.bestStream(AVMEDIA_TYPE_AUDIO)
        if request.output == .audio && audioIndex == nil { throw DocumentError("the file has no audio stream") }

        let format = request.output == .video ? "mp4" : (request.audioCodec == "opus" ? "opus" : "ipod")
        let output = try MediaOutput(path: path, format: format)
        let origin = input.startTime ?? 0
        let video = try videoStream.map { try VideoTrack(input, $0, request: request, output: output, origin: origin, limits: limits) }
        var audio: AudioTrack?
        var audioProblem: String?
        if let audioIndex {
            do {
                audio = try AudioTrack(input, streamIndex: audioIndex, request: request, output: output, origin: origin)
            } catch where request.output == .video {
                // A video whose audio this build cannot decode still gets its pictures; the job says so.
                audioProblem = "\(error)"
            }
        }
        // faststart: the muxer writes the index (moov) at the end, then moves it before the media data.
        try output.writeHeader(options: format == "opus" ? [:] : ["movflags": "+faststart"])

        let total = input.duration ?? 0
        var reported = 1
        let packet = Packet()
        while try input.read(into: packet) {
            let time: Double
            if let video, packet.streamIndex == video.inputIndex {
                try video.feed(packet, output)
                time = video.lastTime
            } else if let audio, packet.streamIndex == audio.inputIndex {
                try audio.feed(packet, output)
                guard video == nil else { continue }
                time = audio.lastTime
            } else {
                continue
            }
            if total > 0 {
                let percent = min(99, max(1, Int(time / total * 100)))
                if percent > reported {
                    reported = percent
                    progress(percent, "encoding: \(Int(time)) s of \(Int(total.rounded())) s")
                }
            }
        }
        try video?.finish(output)
        try audio?.finish(output)
        if let video, video.frames == 0 {
            throw DocumentError("no frame of the video stream (\(video.codecName)) could be decoded" + video.problemSuffix)
        }
        if let audio, video == nil, audio.samples == 0 {
            throw DocumentError("none of the audio (\(audio.codecName)) could be decoded" + audio.problemSuffix)
        }
        try output.finish()

        var parts: [String] = []
        if let video { parts.append("H.264 \(video.width)×\(video.height), \(video.frames) frames") }
        if let audio { parts.append("\(audio.encoderName == "libopus" ? "Opus" : "AAC") \(audio.sampleRate) Hz, \(audio.channels) ch") }
        if let audioProblem { parts.append("no audio: \(audioProblem)") } else if audio == nil { parts.append("no audio") }
        return parts.joined(separator: "; ")
    }
}

/// One stream's decoding for a rendition: packets in, each frame handed on. Errors of the
/// decoder are borne up to a point, as ffmpeg does (a damaged packet loses its frames, not the
/// rendition); an error of what takes the frames (an encoder, the muxer) ends it at once.
final class StreamDecoding {
    static let errorsBorne = 1000
    let decoder: Decoder
    private let what: String
    private let frame = Frame()
    private var errors = 0
    private var lastError: Error?

    init(_ decoder: Decoder, what: String) {
        self.decoder = decoder
        self.what = what
    }

    /// ": the last decode error", or "".
    var problemSuffix: String { lastError.map { ": \($0)" } ?? "" }

    /// Decodes `packet` (nil: what the decoder still holds) and calls `take` with each frame.
    func decode(_ packet: Packet?, _ take: (Frame) throws -> Void) throws {
        var failure: Error?
        do {
            try decoder.decode(packet, into: frame) { decoded in
                do { try take(decoded) } catch {
                    failure = error
                    return false
                }
                return true
            }
        } catch let error as MediaError where failure == nil && !error.isTimeout {
            errors += 1
            lastError = error
            if errors > Self.errorsBorne { throw DocumentError("the \(what) stream does not decode: \(error)") }
        }
        if let failure { throw failure }
    }
}

/// The video half: decoder → scaler (to 4:2:0 at the rendition's size) → libx264 → muxer.
final class VideoTrack {
    let inputIndex: Int
    let outputIndex: Int
    let width: Int, height: Int
    let codecName: String
    private let decoding: StreamDecoding
    private let encoder: Encoder
    private var scaler: Scaler?
    private let timeBase: AVRational
    private let originTicks: Int64
    private var lastPts: Int64?
    private(set) var frames = 0
    /// Seconds of media encoded, from the start.
    private(set) var lastTime = 0.0
    /// The scaled picture, filled again for every frame (the encoder has taken the last one in).
    private let scaled: Frame

    init(_ input: MediaInput, _ stream: MediaStream, request: RenditionRequest, output: MediaOutput, origin: Double,
         limits: MediaLimits) throws {
        inputIndex = stream.index
        codecName = stream.codecName
        decoding = StreamDecoding(try Decoder(input: input, streamIndex: stream.index,
                                              options: .init(maxPixels: limits.maxPixels, threads: 0)), what: "video")
        // Fitted as it is shown; encoded as it is stored, with the source's display matrix, so
        // that a phone's portrait video stays portrait without turning every picture.
        let fitted = RenditionSize.fit(stream.displaySize, width: request.width, height: request.height, even: true)
        let turned = stream.rotation == 90 || stream.rotation == 270
        let (w, h) = turned ? (fitted.height, fitted.width) : (fitted.width, fitted.height)
        (width, height) = (w, h)
        scaled = try Frame(width: w, height: h, format: AV_PIX_FMT_YUV420P)
        let base = stream.timeBase
        timeBase = base
        originTicks = Int64((origin * Double(base.den) / Double(max(1, base.num))).rounded())
        let source = input.stream(at: stream.index).pointee
        let rate = source.avg_frame_rate.num > 0 && source.avg_frame_rate.den > 0 ? source.avg_frame_rate : source.r_frame_rate
        let global = output.needsGlobalHeader
        encoder = try Encoder(codec: "libx264", options: ["preset": request.preset, "crf": "\(request.crf)"]) { c in
            c.pointee.width = Int32(w)
            c.pointee.height = Int32(h)
            c.pointee.pix_fmt = AV_PIX_FMT_YUV420P
            c.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
            // The source's timestamps are kept (variable frame rates stay as they were).
            c.pointee.time_base = base
            if rate.num > 0 && rate.den > 0 { c.pointee.framerate = rate }
            c.pointee.thread_count = Int32(request.threads)
            if global { c.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        }
        outputIndex = try output.addStream(from: encoder)
        if stream.rotation != 0 || stream.mirrored, let matrix = cffmpeg_stream_display_matrix(input.stream(at: stream.index)) {
            try output.setDisplayMatrix(Array(UnsafeBufferPointer(start: matrix, count: 9)), stream: outputIndex)
        }
    }

    var problemSuffix: String { decoding.problemSuffix }

    /// Decodes `packet` (nil: what the decoder still holds) and encodes its pictures.
    func feed(_ packet: Packet?, _ output: MediaOutput) throws {
        try decoding.decode(packet) { try encode($0, output) }
    }

    private func encode(_ decoded: Frame, _ output: MediaOutput) throws {
        let stamp = decoded.timestamp
        var pts = stamp == FFmpeg.noTimestamp ? (lastPts ?? -1) + 1 : stamp - originTicks
        // The encoder wants rising timestamps; a repeated one (a broken file) moves on by a tick.
        if let lastPts, pts <= lastPts { pts = lastPts + 1 }
        lastPts = pts
        let picture: Frame
        if decoded.width == width && decoded.height == height && decoded.pixelFormat == AV_PIX_FMT_YUV420P {
            picture = decoded
        } else {
            if scaler == nil || !scaler!.accepts(decoded) {
                scaler = try Scaler(from: decoded, width: width, height: height, format: AV_PIX_FMT_YUV420P, threads: 0)
            }
            try scaler!.scale(decoded, into: scaled)
            picture = scaled
        }
        picture.frame.pointee.pts = pts
        // The decoder's picture types would force libx264's keyframes where the source had them.
        picture.frame.pointee.pict_type = AV_PICTURE_TYPE_NONE
        frames += 1
        lastTime = Double(pts) * Double(timeBase.num) / Double(timeBase.den)
        try output.encode(picture, with: encoder, stream: outputIndex)
    }

    /// Drains the decoder and the encoder.
    func finish(_ output: MediaOutput) throws {
        try feed(nil, output)
        try output.drain(encoder, stream: outputIndex)
    }
}

/// The audio half: decoder → resampler (to the encoder's format, rate and at most two
/// channels) → a FIFO cut into the encoder's frame size → AAC or libopus → muxer.
final class AudioTrack {
    let inputIndex: Int
    let outputIndex: Int
    let codecName: String
    let encoderName: String
    let sampleRate: Int
    let channels: Int
    private let decoding: StreamDecoding
    private var decoder: Decoder { decoding.decoder }
    private let encoder: Encoder
    private let resampler: AudioResampler
    private let fifo: AudioFIFO
    private let frameSize: Int
    private let origin: Double
    private var nextPts: Int64?
    private(set) var samples: Int64 = 0
    private(set) var lastTime = 0.0

    init(_ input: MediaInput, streamIndex: Int, request: RenditionRequest, output: MediaOutput, origin: Double) throws {
        inputIndex = streamIndex
        self.origin = origin
        let decoder = try Decoder(input: input, streamIndex: streamIndex)
        decoding = StreamDecoding(decoder, what: "audio")
        codecName = decoder.codecName
        let name = request.output == .audio && request.audioCodec == "opus" ? "libopus" : "aac"
        encoderName = name
        guard let codec = avcodec_find_encoder_by_name(name) else { throw MediaUnsupported("this build has no \(name) encoder") }
        let rate = Self.rate(for: decoder.sampleRate, supported: codec.pointee.supported_samplerates)
        let format = Self.format(codec.pointee.sample_fmts)
        let count = min(2, max(1, decoder.channels))
        (sampleRate, channels) = (rate, count)
        let global = output.needsGlobalHeader
        encoder = try Encoder(codec: name) { c in
            c.pointee.sample_fmt = format
            c.pointee.sample_rate = Int32(rate)
            av_channel_layout_default(&c.pointee.ch_layout, Int32(count))
            c.pointee.bit_rate = Int64(request.audioBitrate) * 1000
            c.pointee.time_base = AVRational(num: 1, den: Int32(rate))
            if global { c.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        }
        frameSize = encoder.codecContext.pointee.frame_size > 0 ? Int(encoder.codecContext.pointee.frame_size) : 1024
        resampler = try AudioResampler(from: decoder, sampleRate: rate, channels: count, format: format)
        fifo = try AudioFIFO(format: format, channels: count, sampleRate: rate)
        outputIndex = try output.addStream(from: encoder)
    }

    /// The source's rate when the encoder takes it, else the next one up it takes (Opus: 48 kHz).
    static func rate(for source: Int, supported: UnsafePointer<Int32>?) -> Int {
        guard let supported else { return source > 0 ? source : 48000 }
        var rates: [Int] = []
        var i = 0
        while supported[i] != 0 { rates.append(Int(supported[i])); i += 1 }
        if rates.contains(source) { return source }
        return rates.filter { $0 >= source }.min() ?? rates.max() ?? 48000
    }

    /// Float samples where the encoder takes them (planar for AAC, interleaved for libopus).
    static func format(_ supported: UnsafePointer<AVSampleFormat>?) -> AVSampleFormat {
        guard let supported else { return AV_SAMPLE_FMT_FLTP }
        var formats: [AVSampleFormat] = []
        var i = 0
        while supported[i] != AV_SAMPLE_FMT_NONE { formats.append(supported[i]); i += 1 }
        return [AV_SAMPLE_FMT_FLTP, AV_SAMPLE_FMT_FLT].first { formats.contains($0) } ?? formats.first ?? AV_SAMPLE_FMT_FLTP
    }

    var problemSuffix: String { decoding.problemSuffix }

    /// Decodes `packet` (nil: what the decoder still holds) and encodes what fills whole frames.
    func feed(_ packet: Packet?, _ output: MediaOutput) throws {
        try decoding.decode(packet) { try take($0, output) }
    }

    private func take(_ decoded: Frame, _ output: MediaOutput) throws {
        let seconds = FFmpeg.seconds(decoded.timestamp, decoder.timeBase).map { $0 - origin }
        if nextPts == nil {
            // The first samples keep their place against the pictures; after that they follow on.
            nextPts = max(0, Int64(((seconds ?? 0) * Double(sampleRate)).rounded()))
        }
        if let seconds { lastTime = seconds }
        try fifo.write(try resampler.convert(decoded))
        try encode(output, all: false)
    }

    private func encode(_ output: MediaOutput, all: Bool) throws {
        while fifo.count >= frameSize || (all && fifo.count > 0) {
            let block = try fifo.read(frameSize)
            block.frame.pointee.pts = nextPts ?? 0
            nextPts = (nextPts ?? 0) + Int64(block.sampleCount)
            samples += Int64(block.sampleCount)
            try output.encode(block, with: encoder, stream: outputIndex)
        }
    }

    /// Drains the decoder, the resampler, the FIFO (its last, shorter frame) and the encoder.
    func finish(_ output: MediaOutput) throws {
        try feed(nil, output)
        try fifo.write(try resampler.convert(nil))
        try encode(output, all: true)
        try output.drain(encoder, stream: outputIndex)
    }
}
