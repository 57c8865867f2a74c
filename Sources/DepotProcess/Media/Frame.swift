import CFFmpeg

/// One AVFrame: a decoded picture or block of audio samples. Owns the frame and frees it in
/// `deinit`; decoders refill the same frame again and again.
public final class Frame {
    let frame: UnsafeMutablePointer<AVFrame>

    public init() {
        frame = av_frame_alloc()!
    }

    /// A picture of `width` × `height` in `format` with its own buffers.
    /// - Throws: `MediaError` when the buffers cannot be allocated.
    public convenience init(width: Int, height: Int, format: AVPixelFormat) throws {
        self.init()
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        frame.pointee.format = format.rawValue
        try FFmpeg.check(av_frame_get_buffer(frame, 0), "cannot allocate a \(width)×\(height) picture")
    }

    deinit {
        var optional: UnsafeMutablePointer<AVFrame>? = frame
        av_frame_free(&optional)
    }

    public var width: Int { Int(frame.pointee.width) }
    public var height: Int { Int(frame.pointee.height) }
    public var pixelFormat: AVPixelFormat { AVPixelFormat(frame.pointee.format) }
    public var sampleFormat: AVSampleFormat { AVSampleFormat(frame.pointee.format) }
    /// The frame's timestamp as the decoder best guesses it, in the stream's time base.
    public var timestamp: Int64 {
        frame.pointee.best_effort_timestamp != FFmpeg.noTimestamp ? frame.pointee.best_effort_timestamp : frame.pointee.pts
    }
    public var isKeyframe: Bool { cffmpeg_frame_is_key(frame) != 0 }
    /// Audio: samples per channel in this frame.
    public var sampleCount: Int { Int(frame.pointee.nb_samples) }
    public var sampleRate: Int { Int(frame.pointee.sample_rate) }
    public var channels: Int { Int(frame.pointee.ch_layout.nb_channels) }

    /// Plane `plane`'s bytes and bytes per row.
    public func plane(_ plane: Int) -> (data: UnsafeMutablePointer<UInt8>?, stride: Int) {
        (cffmpeg_frame_data(frame, Int32(plane)), Int(cffmpeg_frame_linesize(frame, Int32(plane))))
    }

    public func unref() { av_frame_unref(frame) }
}
