import CFFmpeg

/// One AVPacket: compressed data of one stream, as `MediaInput.read(into:)` fills it and
/// encoders return it. Owns the packet and frees it in `deinit`; reused from read to read.
public final class Packet {
    let packet: UnsafeMutablePointer<AVPacket>

    public init() {
        packet = av_packet_alloc()!
    }

    deinit {
        var optional: UnsafeMutablePointer<AVPacket>? = packet
        av_packet_free(&optional)
    }

    public var streamIndex: Int { Int(packet.pointee.stream_index) }
    /// Presentation timestamp in the stream's time base (`FFmpeg.noTimestamp` when unknown).
    public var pts: Int64 { packet.pointee.pts }
    public var dts: Int64 { packet.pointee.dts }
    public var duration: Int64 { packet.pointee.duration }
    public var size: Int { Int(packet.pointee.size) }
    public var isKeyframe: Bool { cffmpeg_packet_is_key(packet) != 0 }
    /// The packet's bytes (a copy).
    public var bytes: [UInt8] {
        guard let data = packet.pointee.data, packet.pointee.size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: Int(packet.pointee.size)))
    }

    public func unref() { av_packet_unref(packet) }
}
