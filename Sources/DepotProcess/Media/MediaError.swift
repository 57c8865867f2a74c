import CFFmpeg

/// An error from the FFmpeg libraries, with what was being done and FFmpeg's own message
/// ("cannot open the input: Invalid data found when processing input"). The one place where
/// FFmpeg's negative return codes (`AVERROR`) become Swift errors: the wrappers beside it
/// call `FFmpeg.check` and never read a code themselves.
public struct MediaError: Error, CustomStringConvertible, Sendable, Equatable {
    /// FFmpeg's code (negative), or 0 for a refusal of depot's own (a limit, no decoder).
    public var code: Int32
    public var description: String

    public init(_ description: String, code: Int32 = 0) {
        self.code = code
        self.description = description
    }

    /// FFmpeg's message for `code` (av_strerror).
    public static func message(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        cffmpeg_strerror(code, &buffer, buffer.count)
        return FFmpeg.string(buffer)
    }

    /// The input was interrupted because its wall-time deadline passed (`MediaInput.Options.deadline`).
    public var isTimeout: Bool { code == FFmpeg.exit }
}

/// The file is of a kind this build cannot decode (HEIC without a HEVC-in-HEIF demuxer, a
/// codec with no decoder): the job ends as "unsupported", not as a failure.
public struct MediaUnsupported: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// FFmpeg's constants that are macros in C, and the check of return codes.
public enum FFmpeg {
    public static let again = cffmpeg_error_again()
    public static let endOfFile = cffmpeg_error_eof()
    public static let exit = cffmpeg_error_exit()
    /// AV_NOPTS_VALUE: no timestamp.
    public static let noTimestamp = cffmpeg_nopts()
    public static let timeBase = Int64(AV_TIME_BASE)

    /// Returns `code` when it is not negative.
    /// - Throws: `MediaError` ("`what`: FFmpeg's message") when it is.
    @discardableResult
    public static func check(_ code: Int32, _ what: @autoclosure () -> String) throws -> Int32 {
        guard code < 0 else { return code }
        throw MediaError("\(what()): \(MediaError.message(code))", code: code)
    }

    /// Keeps FFmpeg's own log to fatal messages: a worker reports what went wrong in its
    /// errors, and a hostile file must not fill the daemon's journal through the worker's stderr.
    public static let quietLogging: Void = { cffmpeg_quiet_logging() }()

    /// The libraries' versions, for artifacts' `producer_version` and `depot extract`.
    public static var versionString: String {
        func text(_ v: UInt32) -> String { "\(v >> 16).\((v >> 8) & 0xFF).\(v & 0xFF)" }
        return "libavformat \(text(avformat_version())), libavcodec \(text(avcodec_version()))"
    }

    /// Seconds for `value` in `timeBase` units, nil for AV_NOPTS_VALUE.
    public static func seconds(_ value: Int64, _ timeBase: AVRational) -> Double? {
        guard value != noTimestamp, timeBase.den != 0 else { return nil }
        return Double(value) * Double(timeBase.num) / Double(timeBase.den)
    }

    /// The text in a C buffer, up to its NUL.
    static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A rational as a Double, nil when it is 0/x or x/0.
    static func double(_ r: AVRational) -> Double? {
        r.num == 0 || r.den == 0 ? nil : Double(r.num) / Double(r.den)
    }
}
