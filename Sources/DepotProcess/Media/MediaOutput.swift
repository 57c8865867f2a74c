import CFFmpeg

/// A file written through a libavformat muxer (an MP4 rendition, an audio extract): streams
/// are added from opened encoders, packets written interleaved, the trailer at the end. Owns
/// the output AVFormatContext and its AVIOContext and frees them in `deinit`.
public final class MediaOutput {
    let context: UnsafeMutablePointer<AVFormatContext>
    private var headerWritten = false
    private var finished = false
    /// Each added stream's encoder time base, which its packets come in.
    private var encoderTimeBases: [AVRational] = []

    /// Opens `path` for writing as `format` ("mp4", "ipod", "ogg", "webm"; nil: from the name).
    /// - Throws: `MediaError` when there is no such muxer or the file cannot be created.
    public init(path: String, format: String? = nil) throws {
        _ = FFmpeg.quietLogging
        var optional: UnsafeMutablePointer<AVFormatContext>?
        try FFmpeg.check(avformat_alloc_output_context2(&optional, nil, format, path), "no muxer for \(format ?? path)")
        guard let context = optional else { throw MediaError("no muxer for \(format ?? path)") }
        self.context = context
        if context.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            try FFmpeg.check(avio_open(&context.pointee.pb, path, AVIO_FLAG_WRITE), "cannot create \(path)")
        }
    }

    deinit {
        if context.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 { avio_closep(&context.pointee.pb) }
        avformat_free_context(context)
    }

    /// Whether the muxer wants codec headers out of band (set AV_CODEC_FLAG_GLOBAL_HEADER on
    /// encoders before opening them).
    public var needsGlobalHeader: Bool { context.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 }

    /// Adds a stream carrying what `encoder` makes; returns its index.
    @discardableResult
    public func addStream(from encoder: Encoder) throws -> Int {
        guard let stream = avformat_new_stream(context, nil) else { throw MediaError("cannot add a stream") }
        try FFmpeg.check(avcodec_parameters_from_context(stream.pointee.codecpar, encoder.context), "cannot describe a stream")
        stream.pointee.time_base = encoder.context.pointee.time_base
        encoderTimeBases.append(encoder.context.pointee.time_base)
        return Int(stream.pointee.index)
    }

    /// Gives stream `index` a display matrix (libavutil's 3×3 of 16.16 fixed point, as a
    /// source's `cffmpeg_stream_display_matrix`): players turn the picture as it says.
    public func setDisplayMatrix(_ matrix: [Int32], stream index: Int) throws {
        precondition(matrix.count == 9 && !headerWritten)
        guard let data = av_stream_new_side_data(context.pointee.streams[index], AV_PKT_DATA_DISPLAYMATRIX, 9 * 4) else {
            throw MediaError("cannot add a display matrix")
        }
        matrix.withUnsafeBytes { data.update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 9 * 4) }
    }

    /// Writes the header; `options` are the muxer's ("movflags": "+faststart").
    public func writeHeader(options: [String: String] = [:]) throws {
        var dictionary: OpaquePointer?
        for (key, value) in options { av_dict_set(&dictionary, key, value, 0) }
        defer { av_dict_free(&dictionary) }
        try FFmpeg.check(avformat_write_header(context, &dictionary), "cannot write the header")
        headerWritten = true
    }

    /// Writes one encoded packet of stream `index` (its timestamps in the encoder's time base).
    public func write(_ packet: Packet, stream index: Int) throws {
        precondition(headerWritten, "writeHeader first")
        packet.packet.pointee.stream_index = Int32(index)
        av_packet_rescale_ts(packet.packet, encoderTimeBases[index], context.pointee.streams[index]!.pointee.time_base)
        try FFmpeg.check(av_interleaved_write_frame(context, packet.packet), "cannot write a packet")
    }

    /// Gives `encoder` a frame and writes every packet it has ready into stream `index`
    /// (taking packets out first when it is full, as libavcodec's send/receive API asks).
    public func encode(_ frame: Frame, with encoder: Encoder, stream index: Int) throws {
        let packet = Packet()
        while true {
            let taken = try encoder.send(frame)
            while try encoder.receive(into: packet) { try write(packet, stream: index) }
            if taken { return }
        }
    }

    /// Drains `encoder` into stream `index`: every packet it still holds.
    public func drain(_ encoder: Encoder, stream index: Int) throws {
        try encoder.send(nil)
        let packet = Packet()
        while try encoder.receive(into: packet) { try write(packet, stream: index) }
    }

    /// Writes the trailer (an MP4's index; with faststart, moved to the front).
    public func finish() throws {
        guard !finished else { return }
        try FFmpeg.check(av_write_trailer(context), "cannot finish the file")
        finished = true
    }
}
