import CFFmpeg

/// A libavutil AVAudioFifo: samples of one format and channel count go in as they come from a
/// resampler and come out in the blocks an encoder takes (AAC 1024, Opus 960 per frame).
/// Owns the fifo and frees it in `deinit`.
public final class AudioFIFO {
    private let fifo: OpaquePointer
    public let format: AVSampleFormat
    public let sampleRate: Int
    private var layout = AVChannelLayout()

    /// - Throws: `MediaError` when it cannot be allocated.
    public init(format: AVSampleFormat, channels: Int, sampleRate: Int) throws {
        guard let fifo = av_audio_fifo_alloc(format, Int32(channels), 1024) else { throw MediaError("cannot allocate an audio buffer") }
        self.fifo = fifo
        self.format = format
        self.sampleRate = sampleRate
        av_channel_layout_default(&layout, Int32(channels))
    }

    deinit {
        av_audio_fifo_free(fifo)
        av_channel_layout_uninit(&layout)
    }

    /// Samples per channel held.
    public var count: Int { Int(av_audio_fifo_size(fifo)) }

    /// Appends `frame`'s samples (of this fifo's format and channels).
    public func write(_ frame: Frame) throws {
        guard frame.sampleCount > 0 else { return }
        let n = Int32(frame.sampleCount)
        let written = frame.frame.pointee.extended_data.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: 8) {
            av_audio_fifo_write(fifo, $0, n)
        }
        try FFmpeg.check(written, "cannot buffer audio")
    }

    /// The first `count` samples (fewer when it holds fewer) as a new frame.
    public func read(_ count: Int) throws -> Frame {
        let frame = Frame()
        frame.frame.pointee.nb_samples = Int32(min(count, self.count))
        frame.frame.pointee.format = format.rawValue
        frame.frame.pointee.sample_rate = Int32(sampleRate)
        try FFmpeg.check(av_channel_layout_copy(&frame.frame.pointee.ch_layout, &layout), "cannot describe audio")
        try FFmpeg.check(av_frame_get_buffer(frame.frame, 0), "cannot allocate audio")
        let n = frame.frame.pointee.nb_samples
        let read = frame.frame.pointee.extended_data.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: 8) {
            av_audio_fifo_read(fifo, $0, n)
        }
        try FFmpeg.check(read, "cannot read buffered audio")
        return frame
    }
}
