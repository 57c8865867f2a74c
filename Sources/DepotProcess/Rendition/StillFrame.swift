import CFFmpeg
import DepotCore
import Foundation

/// The picture a video shows at a time: the last frame whose timestamp is at or before it
/// (the first frame when the time comes before any). The demuxer seeks to the keyframe
/// before the time and every frame from there is decoded up to it, so the picture is the
/// one at that instant, not the keyframe nearest it.
enum StillFrame {
    /// Most packets decoded after the seek (a keyframe every 10 s at 60 fps is 600).
    static let maxPackets = 100_000

    /// - Parameters:
    ///   - time: seconds from the start of the file.
    ///   - width, height: the box the picture is fitted into (0: no bound), never enlarged.
    /// - Returns: the picture upright (the display matrix and the sample aspect applied).
    /// - Throws: `DocumentError` when there is no video stream, the time is past the end, or
    ///   no frame decodes.
    static func picture(_ input: MediaInput, at time: Double, width: Int, height: Int, limits: MediaLimits) throws -> Picture {
        guard let stream = MediaWork.pictureStream(input) else {
            throw DocumentError("the file has no video stream: there is no frame to take")
        }
        try MediaWork.checkSize(stream, limits)
        if let duration = input.duration ?? stream.duration, time > duration {
            throw DocumentError("there is no frame at \(time) s: the video is \((duration * 1000).rounded() / 1000) s long")
        }
        let decoder = try Decoder(input: input, streamIndex: stream.index, options: .init(maxPixels: limits.maxPixels, threads: 0))
        let target = (input.startTime ?? 0) + time
        do {
            if time > 0 { try input.seek(to: target, stream: stream.index) } else { try input.rewind() }
        } catch let error as MediaError where !error.isTimeout {
            // A container that cannot seek: from the start, every frame up to the time.
            try input.rewind()
        }
        decoder.flush()
        // Half a millisecond of slack: a time written to the millisecond names the frame that starts then.
        let limit = target + 0.0005
        var shown: Frame?
        var done = false
        func takeFrames() throws {
            while !done {
                let frame = Frame()
                guard try decoder.receive(into: frame) else { return }
                let at = FFmpeg.seconds(frame.timestamp, decoder.timeBase)
                if let at, at > limit {
                    if shown == nil { shown = frame }
                    done = true
                    return
                }
                shown = frame
            }
        }
        let packet = Packet()
        var packets = 0
        var damaged: Error?
        while !done && packets < maxPackets {
            guard try input.read(into: packet) else {
                try decoder.send(nil)
                try takeFrames()
                break
            }
            guard packet.streamIndex == stream.index else { continue }
            packets += 1
            do {
                let sent = try decoder.send(packet)
                try takeFrames()
                if !sent && !done {
                    try decoder.send(packet)
                    try takeFrames()
                }
            } catch let error as MediaError where !error.isTimeout {
                // One damaged packet: the frames after it may decode.
                damaged = error
            }
        }
        guard let shown else {
            throw DocumentError("no frame at \(time) s could be decoded" + (damaged.map { ": \($0)" } ?? ""))
        }
        let fitted = RenditionSize.fit(stream.displaySize, width: width, height: height, even: false)
        let turned = stream.rotation == 90 || stream.rotation == 270
        return try Picture(frame: shown, width: turned ? fitted.height : fitted.width, height: turned ? fitted.width : fitted.height)
            .oriented(rotation: stream.rotation, mirrored: stream.mirrored)
    }
}
