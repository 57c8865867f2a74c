import CFFmpeg
import DepotCore

/// One media file opened through libavformat: its container, streams, chapters and tags, and
/// its packets in order (with seeking). Owns the AVFormatContext (and, for bytes read through
/// `RandomAccessBytes`, the AVIOContext) and frees them in `deinit`.
///
/// Not Sendable: FFmpeg's contexts are used from one thread at a time.
public final class MediaInput {
    /// How much libavformat may read and take to work the file out, and when to give up.
    public struct Options: Sendable {
        /// Bytes read to probe the format and find the streams' parameters (probesize).
        public var probeBytes: Int64 = 5 << 20
        /// Microseconds of media read to find the streams' parameters (max_analyze_duration).
        public var analyzeMicroseconds: Int64 = 5_000_000
        /// Wall-clock seconds from opening after which every blocking call of this input
        /// fails (`MediaError.isTimeout`); 0: none.
        public var deadlineSeconds: Double = 0

        public init(probeBytes: Int64 = 5 << 20, analyzeMicroseconds: Int64 = 5_000_000, deadlineSeconds: Double = 0) {
            self.probeBytes = probeBytes
            self.analyzeMicroseconds = analyzeMicroseconds
            self.deadlineSeconds = deadlineSeconds
        }
    }

    let context: UnsafeMutablePointer<AVFormatContext>
    /// The file's path, when it was opened by path.
    public let path: String?
    /// The interrupt callback's deadline (µs of av_gettime_relative), read by FFmpeg.
    private let deadline: UnsafeMutablePointer<Int64>
    private var customIO: ByteReaderIO?

    /// Opens the file at `path` and reads its streams' parameters.
    /// - Throws: `MediaError` with FFmpeg's reason when it is not a media file libavformat reads.
    public convenience init(path: String, options: Options = Options()) throws {
        try self.init(url: path, io: nil, options: options)
    }

    /// Opens media read through `bytes` (a stored blob, a file) with a custom AVIOContext.
    public convenience init(bytes: any RandomAccessBytes, options: Options = Options()) throws {
        try self.init(url: "", io: ByteReaderIO(bytes), options: options)
    }

    private init(url: String, io: ByteReaderIO?, options: Options) throws {
        _ = FFmpeg.quietLogging
        guard var context = avformat_alloc_context() else { throw MediaError("cannot allocate a format context") }
        deadline = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        deadline.pointee = options.deadlineSeconds > 0 ? av_gettime_relative() + Int64(options.deadlineSeconds * 1e6) : 0
        cffmpeg_set_deadline_callback(context, deadline)
        context.pointee.probesize = options.probeBytes
        context.pointee.max_analyze_duration = options.analyzeMicroseconds
        if let io {
            context.pointee.pb = io.context
            context.pointee.flags |= AVFMT_FLAG_CUSTOM_IO
        }
        var optional: UnsafeMutablePointer<AVFormatContext>? = context
        let opened = avformat_open_input(&optional, url, nil, nil)
        guard opened >= 0, let openedContext = optional else {
            // avformat_open_input frees the context when it fails.
            deadline.deallocate()
            throw MediaError("not a media file FFmpeg reads: \(MediaError.message(opened))", code: opened)
        }
        context = openedContext
        self.context = context
        path = io == nil ? url : nil
        customIO = io
        let found = avformat_find_stream_info(context, nil)
        if found < 0 {
            throw MediaError("cannot read the streams' parameters: \(MediaError.message(found))", code: found)
        }
    }

    deinit {
        var optional: UnsafeMutablePointer<AVFormatContext>? = context
        avformat_close_input(&optional)
        deadline.deallocate()
        customIO = nil
    }

    /// Moves the wall-clock deadline to `seconds` from now (0: none).
    public func setDeadline(seconds: Double) {
        deadline.pointee = seconds > 0 ? av_gettime_relative() + Int64(seconds * 1e6) : 0
    }

    // MARK: The container

    /// libavformat's short name of the demuxer ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm").
    public var formatName: String { String(cString: context.pointee.iformat.pointee.name) }
    public var formatLongName: String? { context.pointee.iformat.pointee.long_name.map { String(cString: $0) } }
    /// Seconds, nil when the container does not say (a raw stream, a live capture).
    public var duration: Double? {
        let d = context.pointee.duration
        return d == FFmpeg.noTimestamp || d < 0 ? nil : Double(d) / Double(FFmpeg.timeBase)
    }
    public var startTime: Double? {
        let s = context.pointee.start_time
        return s == FFmpeg.noTimestamp ? nil : Double(s) / Double(FFmpeg.timeBase)
    }
    /// Bits per second, nil when unknown.
    public var bitRate: Int64? { context.pointee.bit_rate > 0 ? context.pointee.bit_rate : nil }
    public var tags: [String: String] { Self.dictionary(context.pointee.metadata) }

    public var streamCount: Int { Int(context.pointee.nb_streams) }
    public var streams: [MediaStream] { (0..<streamCount).map { MediaStream(stream(at: $0)) } }

    public var chapters: [MediaChapter] {
        (0..<Int(context.pointee.nb_chapters)).compactMap { i in
            guard let chapter = context.pointee.chapters[i] else { return nil }
            let c = chapter.pointee
            return MediaChapter(id: c.id, start: FFmpeg.seconds(c.start, c.time_base) ?? 0,
                                end: FFmpeg.seconds(c.end, c.time_base) ?? 0, title: Self.dictionary(c.metadata)["title"])
        }
    }

    func stream(at index: Int) -> UnsafeMutablePointer<AVStream> { context.pointee.streams[index]! }

    /// The stream libavformat deems best of `type` (av_find_best_stream), nil when there is none.
    public func bestStream(_ type: AVMediaType) -> Int? {
        let index = av_find_best_stream(context, type, -1, -1, nil, 0)
        return index >= 0 ? Int(index) : nil
    }

    /// The picture attached to stream `index` (cover art: `disposition.attachedPicture`), its bytes as stored.
    public func attachedPicture(stream index: Int) -> [UInt8]? {
        let s = stream(at: index).pointee
        guard s.disposition & AV_DISPOSITION_ATTACHED_PIC != 0, let data = s.attached_pic.data, s.attached_pic.size > 0 else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(s.attached_pic.size)))
    }

    /// The bytes of an attachment stream (a Matroska font, a cover image), as stored in its extradata.
    public func attachmentData(stream index: Int) -> [UInt8]? {
        guard let parameters = stream(at: index).pointee.codecpar, let data = parameters.pointee.extradata,
              parameters.pointee.extradata_size > 0 else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(parameters.pointee.extradata_size)))
    }

    // MARK: Reading

    /// Reads the next packet of any stream into `packet` (unreferencing what it held).
    /// - Returns: false at the end of the file.
    /// - Throws: `MediaError` for a read error or a passed deadline.
    public func read(into packet: Packet) throws -> Bool {
        av_packet_unref(packet.packet)
        let code = av_read_frame(context, packet.packet)
        if code == FFmpeg.endOfFile { return false }
        try FFmpeg.check(code, "cannot read a packet")
        return true
    }

    /// Seeks to the keyframe at or before `seconds` of stream `index` (nil: the container's
    /// clock); decoders reading from it must be flushed (`Decoder.flush`).
    /// - Throws: `MediaError` when the container cannot seek (there is no index, a pipe).
    public func seek(to seconds: Double, stream index: Int? = nil) throws {
        let timestamp: Int64
        if let index {
            let base = stream(at: index).pointee.time_base
            timestamp = Int64((seconds * Double(base.den) / Double(max(base.num, 1))).rounded(.down))
        } else {
            timestamp = Int64(seconds * Double(FFmpeg.timeBase))
        }
        let code = av_seek_frame(context, Int32(index ?? -1), timestamp, AVSEEK_FLAG_BACKWARD)
        if code < 0 && code != FFmpeg.exit && seconds <= (startTime ?? 0) {
            // Back to the start of a stream without an index (a raw elementary stream): by bytes.
            try FFmpeg.check(av_seek_frame(context, -1, 0, AVSEEK_FLAG_BYTE), "cannot go back to the start")
            return
        }
        try FFmpeg.check(code, "cannot seek to \(seconds) s")
    }

    /// Goes back to the very first packet: by byte position where the format allows it (a
    /// timestamp seek in a file without an index, MPEG-TS, may land past the first keyframe),
    /// else to the start time.
    public func rewind() throws {
        if context.pointee.iformat.pointee.flags & AVFMT_NO_BYTE_SEEK == 0,
           av_seek_frame(context, -1, 0, AVSEEK_FLAG_BYTE) >= 0 {
            return
        }
        try seek(to: startTime ?? 0)
    }

    /// Every entry of an AVDictionary.
    static func dictionary(_ dictionary: OpaquePointer?) -> [String: String] {
        var result: [String: String] = [:]
        var entry: UnsafeMutablePointer<AVDictionaryEntry>?
        while let next = av_dict_get(dictionary, "", entry, AV_DICT_IGNORE_SUFFIX) {
            result[String(cString: next.pointee.key)] = String(cString: next.pointee.value)
            entry = next
        }
        return result
    }
}

/// An AVIOContext reading through `RandomAccessBytes`, so media is read the way the rest of
/// depot reads stored bytes. Its opaque pointer is this object, unretained: the MediaInput
/// that uses it keeps it alive for as long as its format context lives.
final class ByteReaderIO {
    static let bufferSize: Int32 = 64 * 1024
    let bytes: any RandomAccessBytes
    var position: Int64 = 0
    private(set) var context: UnsafeMutablePointer<AVIOContext>!

    init(_ bytes: any RandomAccessBytes) throws {
        self.bytes = bytes
        guard let buffer = av_malloc(Int(Self.bufferSize)) else { throw MediaError("cannot allocate an I/O buffer") }
        let opaque = Unmanaged.passUnretained(self).toOpaque()
        guard let io = avio_alloc_context(buffer.assumingMemoryBound(to: UInt8.self), Self.bufferSize, 0, opaque,
                                          { opaque, buffer, size in
                                              let me = Unmanaged<ByteReaderIO>.fromOpaque(opaque!).takeUnretainedValue()
                                              return me.read(into: buffer!, count: Int(size))
                                          }, nil,
                                          { opaque, offset, whence in
                                              let me = Unmanaged<ByteReaderIO>.fromOpaque(opaque!).takeUnretainedValue()
                                              return me.seek(offset, whence: whence)
                                          }) else {
            av_free(buffer)
            throw MediaError("cannot allocate an I/O context")
        }
        context = io
    }

    deinit {
        // The buffer may have been replaced by libavformat: free the one the context holds.
        av_freep(&context.pointee.buffer)
        avio_context_free(&context)
    }

    func read(into buffer: UnsafeMutablePointer<UInt8>, count: Int) -> Int32 {
        guard let chunk = try? bytes.read(at: position, count: count) else { return cffmpeg_error_invaliddata() }
        if chunk.isEmpty { return FFmpeg.endOfFile }
        chunk.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: chunk.count) }
        position += Int64(chunk.count)
        return Int32(chunk.count)
    }

    func seek(_ offset: Int64, whence: Int32) -> Int64 {
        if whence & AVSEEK_SIZE != 0 { return bytes.size }
        switch whence & ~AVSEEK_FORCE {
        case SEEK_SET: position = offset
        case SEEK_CUR: position += offset
        case SEEK_END: position = bytes.size + offset
        default: return -1
        }
        return position
    }
}
