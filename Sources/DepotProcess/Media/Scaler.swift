import CFFmpeg

/// A libswscale context converting pictures of one size and pixel format into another.
/// Owns the SwsContext and frees it in `deinit`.
public final class Scaler {
    private let context: OpaquePointer
    public let sourceWidth: Int, sourceHeight: Int, sourceFormat: AVPixelFormat
    public let width: Int, height: Int, format: AVPixelFormat

    /// - Parameter threads: slice threads of `scale(_:into:)` (0: one per core, as ffmpeg's
    ///   scale filter has; 1: none). A thumbnail needs none; a rendition scales every picture.
    /// - Throws: `MediaError` when libswscale does not convert between these formats or sizes.
    public init(sourceWidth: Int, sourceHeight: Int, sourceFormat: AVPixelFormat,
                width: Int, height: Int, format: AVPixelFormat, flags: Int32 = SWS_BICUBIC, threads: Int = 1) throws {
        let failure = MediaError("cannot scale \(sourceWidth)×\(sourceHeight) \(Self.name(sourceFormat)) to \(width)×\(height) \(Self.name(format))")
        guard sourceWidth > 0, sourceHeight > 0, width > 0, height > 0, let context = sws_alloc_context() else { throw failure }
        // sws_getContext cannot set threads: the options one by one, then sws_init_context.
        let options: [(String, Int64)] = [("srcw", Int64(sourceWidth)), ("srch", Int64(sourceHeight)),
                                          ("src_format", Int64(sourceFormat.rawValue)), ("dstw", Int64(width)),
                                          ("dsth", Int64(height)), ("dst_format", Int64(format.rawValue)),
                                          ("sws_flags", Int64(flags)), ("threads", Int64(threads))]
        for (name, value) in options where av_opt_set_int(UnsafeMutableRawPointer(context), name, value, 0) < 0 {
            sws_freeContext(context)
            throw failure
        }
        guard sws_init_context(context, nil, nil) >= 0 else {
            sws_freeContext(context)
            throw failure
        }
        self.context = context
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
        self.sourceFormat = sourceFormat
        self.width = width
        self.height = height
        self.format = format
    }

    /// A scaler from `frame`'s size and format.
    public convenience init(from frame: Frame, width: Int, height: Int, format: AVPixelFormat, threads: Int = 1) throws {
        try self.init(sourceWidth: frame.width, sourceHeight: frame.height, sourceFormat: frame.pixelFormat,
                      width: width, height: height, format: format, threads: threads)
    }

    deinit { sws_freeContext(context) }

    /// Whether this scaler takes `frame` as it is.
    public func accepts(_ frame: Frame) -> Bool {
        frame.width == sourceWidth && frame.height == sourceHeight && frame.pixelFormat == sourceFormat
    }

    /// `frame` converted into a new frame of this scaler's size and format.
    /// - Throws: `MediaError` when the frame is not of the source's size and format, or libswscale fails.
    public func scale(_ frame: Frame) throws -> Frame {
        guard accepts(frame) else {
            throw MediaError("a \(frame.width)×\(frame.height) picture given to a scaler of \(sourceWidth)×\(sourceHeight) pictures")
        }
        let output = try Frame(width: width, height: height, format: format)
        try FFmpeg.check(sws_scale_frame(context, output.frame, frame.frame), "cannot scale a picture")
        output.frame.pointee.pts = frame.frame.pointee.pts
        return output
    }

    /// `frame` converted into `output`, a frame of this scaler's size and format made
    /// before: its buffers are reused once nothing else holds them (an encoder that was
    /// given it and has taken it in), else replaced by a copy (av_frame_make_writable).
    /// A rendition scales every picture of a video, and a fresh 1.4 MB buffer each time is
    /// page faults that ffmpeg's frame pools do not pay.
    public func scale(_ frame: Frame, into output: Frame) throws {
        guard accepts(frame) else {
            throw MediaError("a \(frame.width)×\(frame.height) picture given to a scaler of \(sourceWidth)×\(sourceHeight) pictures")
        }
        guard output.width == width, output.height == height, output.pixelFormat == format else {
            throw MediaError("a scaler of \(width)×\(height) pictures given a \(output.width)×\(output.height) frame to fill")
        }
        try FFmpeg.check(av_frame_make_writable(output.frame), "cannot reuse a picture")
        try FFmpeg.check(sws_scale_frame(context, output.frame, frame.frame), "cannot scale a picture")
        output.frame.pointee.pts = frame.frame.pointee.pts
    }

    static func name(_ format: AVPixelFormat) -> String { av_get_pix_fmt_name(format).map { String(cString: $0) } ?? "unknown" }
}
