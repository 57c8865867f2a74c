import CFFmpeg

/// A libavcodec decoder for one stream of a `MediaInput`. Owns the AVCodecContext and frees
/// it in `deinit`. Packets go in (`send`), frames come out (`receive`), as libavcodec's
/// send/receive API works; `decode` does both for one packet.
public final class Decoder {
    /// What the decoder may skip and use.
    public struct Options: Sendable {
        /// Decode only keyframes (`skip_frame` = AVDISCARD_NONKEY): what a thumbnail or a
        /// storyboard needs, many times faster than decoding every frame.
        public var keyframesOnly = false
        /// Most pixels (width × height) of one picture; larger ones fail to decode
        /// (libavcodec's `max_pixels`: a 65,535 × 65,535 header, a GIF bomb).
        public var maxPixels: Int64 = 64 << 20
        /// Decoder threads (0: libavcodec chooses, one per core).
        public var threads = 1
        /// Audio: the format to decode into when the codec offers a choice (nil: its own).
        public var requestSampleFormat: AVSampleFormat?

        public init(keyframesOnly: Bool = false, maxPixels: Int64 = 64 << 20, threads: Int = 1) {
            self.keyframesOnly = keyframesOnly
            self.maxPixels = maxPixels
            self.threads = threads
        }
    }

    let context: UnsafeMutablePointer<AVCodecContext>
    public let streamIndex: Int
    /// The stream's time base, which frames' timestamps are in.
    public let timeBase: AVRational

    /// Opens the decoder for stream `streamIndex` of `input`.
    /// - Throws: `MediaUnsupported` when this build has no decoder for the stream's codec;
    ///   `MediaError` when it cannot be opened with the stream's parameters.
    public init(input: MediaInput, streamIndex: Int, options: Options = Options()) throws {
        let stream = input.stream(at: streamIndex)
        let parameters = stream.pointee.codecpar!
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw MediaUnsupported("this build has no decoder for \(String(cString: avcodec_get_name(parameters.pointee.codec_id)))")
        }
        guard let context = avcodec_alloc_context3(codec) else { throw MediaError("cannot allocate a decoder") }
        self.context = context
        self.streamIndex = streamIndex
        timeBase = stream.pointee.time_base
        try FFmpeg.check(avcodec_parameters_to_context(context, parameters), "cannot set up the \(String(cString: codec.pointee.name)) decoder")
        context.pointee.pkt_timebase = stream.pointee.time_base
        context.pointee.max_pixels = options.maxPixels
        context.pointee.thread_count = Int32(options.threads)
        if options.keyframesOnly { context.pointee.skip_frame = AVDISCARD_NONKEY }
        if let format = options.requestSampleFormat { context.pointee.request_sample_fmt = format }
        try FFmpeg.check(avcodec_open2(context, codec, nil), "cannot open the \(String(cString: codec.pointee.name)) decoder")
    }

    deinit {
        var optional: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&optional)
    }

    public var codecName: String { String(cString: context.pointee.codec.pointee.name) }
    public var width: Int { Int(context.pointee.width) }
    public var height: Int { Int(context.pointee.height) }
    public var pixelFormat: AVPixelFormat { context.pointee.pix_fmt }
    public var sampleFormat: AVSampleFormat { context.pointee.sample_fmt }
    public var sampleRate: Int { Int(context.pointee.sample_rate) }
    public var channels: Int { Int(context.pointee.ch_layout.nb_channels) }
    /// Whether only keyframes are decoded; may change between packets.
    public var keyframesOnly: Bool {
        get { context.pointee.skip_frame == AVDISCARD_NONKEY }
        set { context.pointee.skip_frame = newValue ? AVDISCARD_NONKEY : AVDISCARD_DEFAULT }
    }

    /// Gives the decoder a packet, or nil to drain it at the end.
    /// - Returns: false when the decoder is full (receive frames first) or already drained.
    /// - Throws: `MediaError` when the packet cannot be decoded.
    @discardableResult
    public func send(_ packet: Packet?) throws -> Bool {
        let code = avcodec_send_packet(context, packet?.packet)
        if code == FFmpeg.again || code == FFmpeg.endOfFile { return false }
        try FFmpeg.check(code, "cannot decode a \(codecName) packet")
        return true
    }

    /// The next decoded frame into `frame`.
    /// - Returns: false when the decoder needs more input (or is drained).
    public func receive(into frame: Frame) throws -> Bool {
        let code = avcodec_receive_frame(context, frame.frame)
        if code == FFmpeg.again || code == FFmpeg.endOfFile { return false }
        try FFmpeg.check(code, "cannot decode a \(codecName) frame")
        return true
    }

    /// Sends `packet` (nil: drain) and calls `body` with each frame it yields, into `frame`.
    /// - Parameter body: returns false to stop taking frames of this packet.
    public func decode(_ packet: Packet?, into frame: Frame, _ body: (Frame) throws -> Bool) throws {
        var sent = try send(packet)
        while true {
            while try receive(into: frame) {
                if try !body(frame) { return }
            }
            // A full decoder took no packet: now that its frames were taken, give it again.
            if sent || packet == nil { return }
            sent = try send(packet)
            if !sent { return }
        }
    }

    /// Forgets buffered frames, as after a seek.
    public func flush() { avcodec_flush_buffers(context) }
}
