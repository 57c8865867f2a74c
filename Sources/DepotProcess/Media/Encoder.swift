import CFFmpeg

/// A libavcodec encoder. Owns the AVCodecContext and frees it in `deinit`. Frames go in
/// (`send`), packets come out (`receive`). `configure` sets the context's fields (size, pixel
/// or sample format, time base, bit rate) before it is opened; `options` are the codec's
/// private AVOptions ("preset": "veryfast", "crf": "23").
public final class Encoder {
    let context: UnsafeMutablePointer<AVCodecContext>
    public let codecName: String

    /// - Throws: `MediaUnsupported` when this build has no such encoder; `MediaError` when it
    ///   will not open with these settings.
    public init(codec name: String, options: [String: String] = [:],
                configure: (UnsafeMutablePointer<AVCodecContext>) throws -> Void) throws {
        guard let codec = avcodec_find_encoder_by_name(name) else { throw MediaUnsupported("this build has no \(name) encoder") }
        guard let context = avcodec_alloc_context3(codec) else { throw MediaError("cannot allocate an encoder") }
        self.context = context
        codecName = name
        try configure(context)
        var dictionary: OpaquePointer?
        for (key, value) in options { av_dict_set(&dictionary, key, value, 0) }
        defer { av_dict_free(&dictionary) }
        try FFmpeg.check(avcodec_open2(context, codec, &dictionary), "cannot open the \(name) encoder")
        if let left = av_dict_get(dictionary, "", nil, AV_DICT_IGNORE_SUFFIX) {
            throw MediaError("the \(name) encoder has no option \(String(cString: left.pointee.key))")
        }
    }

    deinit {
        var optional: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&optional)
    }

    /// The opened context, for what a muxer copies from it (avcodec_parameters_from_context).
    public var codecContext: UnsafeMutablePointer<AVCodecContext> { context }

    /// Gives the encoder a frame, or nil to drain it.
    /// - Returns: false when it is full (receive packets first) or already drained.
    @discardableResult
    public func send(_ frame: Frame?) throws -> Bool {
        let code = avcodec_send_frame(context, frame?.frame)
        if code == FFmpeg.again || code == FFmpeg.endOfFile { return false }
        try FFmpeg.check(code, "cannot encode a frame with \(codecName)")
        return true
    }

    /// The next encoded packet into `packet`; false when it needs more frames (or is drained).
    public func receive(into packet: Packet) throws -> Bool {
        let code = avcodec_receive_packet(context, packet.packet)
        if code == FFmpeg.again || code == FFmpeg.endOfFile { return false }
        try FFmpeg.check(code, "cannot encode with \(codecName)")
        return true
    }
}

/// JPEG files from pictures, through libavcodec's MJPEG encoder.
public enum JPEGEncoder {
    /// `picture` as a baseline JPEG.
    /// - Parameter quality: libavcodec's qscale, 2 (best) – 31; 3 is close to a libjpeg quality of 90.
    /// - Throws: `MediaError` when it cannot be encoded.
    public static func encode(_ picture: Picture, quality: Int = 3) throws -> [UInt8] {
        // MJPEG takes full-range 4:2:0 YUV (yuvj420p); odd sizes are fine.
        let rgb = try picture.frame()
        let yuv = try Scaler(from: rgb, width: picture.width, height: picture.height, format: AV_PIX_FMT_YUVJ420P).scale(rgb)
        let lambda = Int32(quality) * FF_QP2LAMBDA
        let encoder = try Encoder(codec: "mjpeg") { c in
            c.pointee.width = Int32(picture.width)
            c.pointee.height = Int32(picture.height)
            c.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
            c.pointee.time_base = AVRational(num: 1, den: 25)
            c.pointee.flags |= AV_CODEC_FLAG_QSCALE
            c.pointee.global_quality = lambda
        }
        yuv.frame.pointee.quality = lambda
        yuv.frame.pointee.pts = 0
        try encoder.send(yuv)
        try encoder.send(nil)
        let packet = Packet()
        var bytes: [UInt8] = []
        while try encoder.receive(into: packet) { bytes += packet.bytes }
        guard !bytes.isEmpty else { throw MediaError("the MJPEG encoder gave no picture") }
        return bytes
    }
}

/// PNG files from pictures, through libavcodec's PNG encoder (a waveform, a still frame).
public enum PNGEncoder {
    /// `picture` as an RGB PNG.
    /// - Throws: `MediaError` when it cannot be encoded.
    public static func encode(_ picture: Picture) throws -> [UInt8] {
        let frame = try picture.frame()
        let encoder = try Encoder(codec: "png") { c in
            c.pointee.width = Int32(picture.width)
            c.pointee.height = Int32(picture.height)
            c.pointee.pix_fmt = AV_PIX_FMT_RGB24
            c.pointee.time_base = AVRational(num: 1, den: 25)
        }
        frame.frame.pointee.pts = 0
        try encoder.send(frame)
        try encoder.send(nil)
        let packet = Packet()
        var bytes: [UInt8] = []
        while try encoder.receive(into: packet) { bytes += packet.bytes }
        guard !bytes.isEmpty else { throw MediaError("the PNG encoder gave no picture") }
        return bytes
    }
}
