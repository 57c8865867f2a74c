import CFFmpeg

/// A libswresample context converting decoded audio to one sample rate, channel count and
/// interleaved sample format (16 kHz mono for speech to text; a few hundred samples per
/// second for a waveform). Owns the SwrContext and frees it in `deinit`.
public final class AudioResampler {
    private var context: OpaquePointer?
    public let sampleRate: Int
    public let channels: Int
    public let format: AVSampleFormat
    private let inputRate: Int
    private var outputLayout = AVChannelLayout()

    /// - Parameters:
    ///   - decoder: an audio decoder, whose format, rate and layout are the input.
    ///   - format: an interleaved format: AV_SAMPLE_FMT_S16 or AV_SAMPLE_FMT_FLT.
    /// - Throws: `MediaError` when libswresample cannot convert between them.
    public init(from decoder: Decoder, sampleRate: Int, channels: Int, format: AVSampleFormat = AV_SAMPLE_FMT_FLT) throws {
        guard sampleRate > 0, channels > 0, decoder.sampleRate > 0, decoder.channels > 0 else {
            throw MediaError("cannot resample audio of \(decoder.sampleRate) Hz and \(decoder.channels) channels")
        }
        var output = AVChannelLayout()
        av_channel_layout_default(&output, Int32(channels))
        var input = decoder.context.pointee.ch_layout
        if input.order == AV_CHANNEL_ORDER_UNSPEC { av_channel_layout_default(&input, input.nb_channels) }
        try FFmpeg.check(swr_alloc_set_opts2(&context, &output, format, Int32(sampleRate),
                                             &input, decoder.sampleFormat, Int32(decoder.sampleRate), 0, nil),
                         "cannot set up resampling")
        try FFmpeg.check(swr_init(context), "cannot set up resampling")
        outputLayout = output
        self.sampleRate = sampleRate
        self.channels = channels
        self.format = format
        inputRate = decoder.sampleRate
    }

    deinit {
        swr_free(&context)
        av_channel_layout_uninit(&outputLayout)
    }

    /// `frame`'s samples converted into a new frame of the output's format (planar ones
    /// too: what an encoder takes); nil: what is still buffered, at the end. The frame may
    /// hold no samples (the resampler keeps some back).
    public func convert(_ frame: Frame?) throws -> Frame {
        let out = Frame()
        out.frame.pointee.format = format.rawValue
        out.frame.pointee.sample_rate = Int32(sampleRate)
        try FFmpeg.check(av_channel_layout_copy(&out.frame.pointee.ch_layout, &outputLayout), "cannot describe resampled audio")
        let code: Int32
        if let frame {
            code = swr_convert_frame(context, out.frame, frame.frame)
        } else {
            // The end: swr_convert_frame with no input flushes, but only into a frame that has room.
            let pending = Int32(swr_get_out_samples(context, 0))
            guard pending > 0 else { return out }
            out.frame.pointee.nb_samples = pending
            try FFmpeg.check(av_frame_get_buffer(out.frame, 0), "cannot allocate resampled audio")
            code = swr_convert_frame(context, out.frame, nil)
        }
        try FFmpeg.check(code, "cannot resample audio")
        return out
    }

    /// `frame`'s samples converted (nil: what is still buffered, at the end), interleaved,
    /// as 32-bit floats; the resampler must have been made with AV_SAMPLE_FMT_FLT.
    public func floats(_ frame: Frame?) throws -> [Float] {
        precondition(format == AV_SAMPLE_FMT_FLT)
        return try convert(frame, as: Float.self)
    }

    /// As `floats`, as 16-bit signed integers (AV_SAMPLE_FMT_S16).
    public func int16s(_ frame: Frame?) throws -> [Int16] {
        precondition(format == AV_SAMPLE_FMT_S16)
        return try convert(frame, as: Int16.self)
    }

    private func convert<T: Numeric>(_ frame: Frame?, as: T.Type) throws -> [T] {
        let inputCount = frame?.sampleCount ?? 0
        let capacity = Int(swr_get_out_samples(context, Int32(inputCount))) + 32
        guard capacity > 0 else { return [] }
        var samples = [T](repeating: 0, count: capacity * channels)
        let produced = try samples.withUnsafeMutableBytes { raw -> Int32 in
            var out: UnsafeMutablePointer<UInt8>? = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let code: Int32
            if let frame {
                code = frame.frame.pointee.extended_data.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { input in
                    swr_convert(context, &out, Int32(capacity), input, Int32(inputCount))
                }
            } else {
                code = swr_convert(context, &out, Int32(capacity), nil, 0)
            }
            return try FFmpeg.check(code, "cannot resample audio")
        }
        samples.removeLast(samples.count - Int(produced) * channels)
        return samples
    }
}
