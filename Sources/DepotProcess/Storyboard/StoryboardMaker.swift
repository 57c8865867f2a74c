import CFFmpeg
import DepotCore

/// Makes a video's seek previews: for each tile of a `StoryboardPlan`, a seek to the keyframe
/// at or before its instant and that keyframe alone decoded (`skip_frame` = nokey, packets
/// that are not keyframes never reach the decoder), scaled into its place on a sheet; the
/// sheets are encoded with libavcodec's MJPEG encoder. An hour of video costs about 360
/// keyframe decodes, never the hour.
///
/// When the container cannot seek (no index, a stream cut short), it reads on from where it
/// is instead, still keyframes only, and takes the first keyframe at or after each instant.
public enum StoryboardMaker {
    public struct Output {
        public var plan: StoryboardPlan
        /// JPEG bytes of each sheet, in order.
        public var sheets: [[UInt8]]
        /// How many frames were decoded (for tests and the bench: about one per tile).
        public var decodedFrames: Int
    }

    /// - Parameters:
    ///   - interval: seconds between tiles of a long video (shorter videos get less).
    ///   - maxPixels: the most pixels a decoded picture may have.
    ///   - progress: 0…1 after each tile.
    /// - Throws: `MediaUnsupported` without a video stream this build decodes; `MediaError`
    ///   when the file cannot be read; `DocumentError` when its duration is unknown.
    public static func make(path: String, interval: Double = StoryboardPlan.defaultInterval, width: Int = StoryboardPlan.defaultWidth,
                            maxPixels: Int64 = 64 << 20, deadlineSeconds: Double = 0,
                            progress: (Double) -> Void = { _ in }) throws -> Output {
        let input = try MediaInput(path: path, options: MediaInput.Options(deadlineSeconds: deadlineSeconds))
        guard let index = input.bestStream(AVMEDIA_TYPE_VIDEO),
              let stream = input.streams.first(where: { $0.index == index && !$0.isAttachedPicture }) else {
            throw MediaUnsupported("no video stream to make a storyboard of")
        }
        guard let duration = stream.duration ?? input.duration, duration > 0 else {
            throw DocumentError("storyboard: the video's duration is unknown")
        }
        let display = stream.displaySize
        let plan = StoryboardPlan(duration: duration, displayWidth: display.width, displayHeight: display.height,
                                  interval: interval, tileWidth: width)
        var options = Decoder.Options(keyframesOnly: true, maxPixels: maxPixels, threads: 2)
        options.keyframesOnly = true
        let decoder = try Decoder(input: input, streamIndex: index, options: options)
        // The tile's size before rotation: rotated after scaling, it is the plan's size.
        let turned = stream.rotation == 90 || stream.rotation == 270
        let scaledWidth = turned ? plan.tileHeight : plan.tileWidth
        let scaledHeight = turned ? plan.tileWidth : plan.tileHeight
        let start = stream.startTime ?? input.startTime ?? 0

        var sheets = (0..<plan.sheetCount).map { i -> Picture in
            let size = plan.sheetSize(i)
            return Picture(width: size.width, height: size.height)
        }
        let packet = Packet()
        let frame = Frame()
        var scaler: Scaler?
        var decoded = 0
        var canSeek = true
        var last: Picture?
        for (n, tile) in plan.tiles.enumerated() {
            if canSeek {
                do {
                    try input.seek(to: start + tile.time, stream: index)
                    decoder.flush()
                } catch let error as MediaError where !error.isTimeout {
                    canSeek = false
                }
            }
            // The first keyframe from here; reading on (no seek), the first at or after the instant.
            var picture: Picture?
            while picture == nil, try input.read(into: packet) {
                guard packet.streamIndex == index, packet.isKeyframe else { continue }
                try decoder.decode(packet, into: frame) { frame in
                    decoded += 1
                    if !canSeek, let t = FFmpeg.seconds(frame.timestamp, decoder.timeBase), t - start < tile.time - 0.001 {
                        return true
                    }
                    if scaler == nil || !scaler!.accepts(frame) {
                        scaler = try Scaler(from: frame, width: scaledWidth, height: scaledHeight, format: AV_PIX_FMT_RGB24)
                    }
                    picture = try Picture(rgbFrame: scaler!.scale(frame)).oriented(rotation: stream.rotation, mirrored: stream.mirrored)
                    return false
                }
            }
            if picture == nil {
                // The end: what a decoder still holds, else the tile before (a stream shorter
                // than its container says).
                try decoder.decode(nil, into: frame) { frame in
                    decoded += 1
                    if scaler == nil || !scaler!.accepts(frame) {
                        scaler = try Scaler(from: frame, width: scaledWidth, height: scaledHeight, format: AV_PIX_FMT_RGB24)
                    }
                    picture = try Picture(rgbFrame: scaler!.scale(frame)).oriented(rotation: stream.rotation, mirrored: stream.mirrored)
                    return false
                }
            }
            if let tilePicture = picture ?? last {
                sheets[tile.sheet].draw(tilePicture, x: tile.x, y: tile.y)
                last = tilePicture
            }
            progress(Double(n + 1) / Double(plan.tiles.count))
        }
        guard last != nil else { throw DocumentError("storyboard: no frame of the video could be decoded") }
        return Output(plan: plan, sheets: try sheets.map { try JPEGEncoder.encode($0) }, decodedFrames: decoded)
    }
}
