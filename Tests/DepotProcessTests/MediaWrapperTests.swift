import CFFmpeg
import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing

/// The FFmpeg wrapper (Sources/DepotProcess/Media) on files Debian's ffmpeg makes here:
/// opening, streams, seeking, keyframe decoding, scaling, MJPEG encoding, resampling.
@Suite("FFmpeg wrapper")
struct MediaWrapperTests {
    let dir: TempDir

    init() throws { dir = try TempDir() }

    /// A 4 s 320×240 H.264 + AAC MP4 (a keyframe each second), shown turned 90° clockwise.
    func rotatedClip() throws -> String {
        let plain = dir.path + "/plain.mp4", path = dir.path + "/clip.mp4"
        try makeMedia(plain, inputs: ["testsrc2=s=320x240:r=25:d=4", "sine=f=440:r=44100:d=4"],
                      output: ["-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
                               "-metadata", "title=A clip", "-metadata:s:a:0", "language=deu", "-shortest"])
        // FFmpeg 5.1 writes a display matrix from the "rotate" tag only when remuxing; 270 gives
        // the matrix of a phone held upright (ffprobe: rotation=-90), shown turned 90° clockwise.
        try ffmpeg(["-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=270", path])
        return path
    }

    @Test func opensStreamsAndContainerFacts() throws {
        let input = try MediaInput(path: try rotatedClip())
        #expect(input.formatName.contains("mp4"))
        #expect(abs((input.duration ?? 0) - 4) < 0.1)
        #expect(input.tags["title"] == "A clip")
        let streams = input.streams
        #expect(streams.map(\.kind) == [.video, .audio])
        let video = streams[0], audio = streams[1]
        #expect(video.codecName == "h264" && video.width == 320 && video.height == 240)
        #expect(video.profile == "High")
        #expect(abs((video.frameRate ?? 0) - 25) < 0.01)
        #expect(video.rotation == 90)
        #expect(video.displaySize == (240, 320))
        #expect(audio.codecName == "aac" && audio.sampleRate == 44100 && audio.channels == 2)
        #expect(audio.channelLayout == "stereo")
        #expect(audio.language == "deu")
        #expect(input.bestStream(AVMEDIA_TYPE_VIDEO) == 0)
        #expect(input.bestStream(AVMEDIA_TYPE_SUBTITLE) == nil)
    }

    @Test func seeksAndDecodesKeyframesOnly() throws {
        let input = try MediaInput(path: try rotatedClip())
        let decoder = try Decoder(input: input, streamIndex: 0, options: .init(keyframesOnly: true))
        try input.seek(to: 2.0, stream: 0)
        decoder.flush()
        let packet = Packet(), frame = Frame()
        var times: [Double] = []
        while try input.read(into: packet) {
            guard packet.streamIndex == 0 else { continue }
            try decoder.decode(packet, into: frame) { frame in
                #expect(frame.isKeyframe)
                times.append(FFmpeg.seconds(frame.timestamp, decoder.timeBase) ?? -1)
                return true
            }
        }
        try decoder.decode(nil, into: frame) { frame in
            times.append(FFmpeg.seconds(frame.timestamp, decoder.timeBase) ?? -1); return true
        }
        // Keyframes at 2 s and 3 s only: the seek skipped the first two, the decoder every other frame.
        #expect(times.count == 2)
        #expect(abs(times[0] - 2) < 0.05 && abs(times[1] - 3) < 0.05)
    }

    @Test func scalesRotatesAndEncodesJPEG() throws {
        let input = try MediaInput(path: try rotatedClip())
        let decoder = try Decoder(input: input, streamIndex: 0)
        let packet = Packet(), frame = Frame()
        var picture: Picture?
        while picture == nil, try input.read(into: packet) {
            guard packet.streamIndex == 0 else { continue }
            try decoder.decode(packet, into: frame) { frame in
                picture = try Picture(frame: frame, width: 160, height: 120)
                return false
            }
        }
        let upright = try #require(picture).oriented(rotation: 90)
        #expect(upright.width == 120 && upright.height == 160)
        let jpeg = try JPEGEncoder.encode(upright)
        #expect(jpeg.starts(with: [0xFF, 0xD8, 0xFF]))
        let file = dir.path + "/frame.jpg"
        try Data(jpeg).write(to: URL(fileURLWithPath: file))
        // Read back through libavformat's image demuxer and libavcodec's MJPEG decoder.
        let back = try MediaInput(path: file)
        #expect(back.streams.first?.codecName == "mjpeg")
        #expect(back.streams.first?.width == 120 && back.streams.first?.height == 160)
    }

    @Test func turnsAndMirrorsPixels() {
        // 2×1: red, green.
        let p = Picture(width: 2, height: 1, pixels: [255, 0, 0, 0, 255, 0])
        let turned = p.oriented(rotation: 90)
        #expect(turned.width == 1 && turned.height == 2)
        #expect(turned.pixels == [255, 0, 0, 0, 255, 0])
        #expect(p.oriented(rotation: 180).pixels == [0, 255, 0, 255, 0, 0])
        #expect(p.oriented(rotation: 270).pixels == [0, 255, 0, 255, 0, 0])
        #expect(p.applyingEXIFOrientation(2).pixels == [0, 255, 0, 255, 0, 0])
        #expect(p.applyingEXIFOrientation(1) == p)
    }

    @Test func decodesAndResamplesAudioToSixteenKilohertzMono() throws {
        let input = try MediaInput(path: try rotatedClip())
        let index = try #require(input.bestStream(AVMEDIA_TYPE_AUDIO))
        let decoder = try Decoder(input: input, streamIndex: index)
        let resampler = try AudioResampler(from: decoder, sampleRate: 16000, channels: 1)
        let packet = Packet(), frame = Frame()
        var samples: [Float] = []
        while try input.read(into: packet) {
            guard packet.streamIndex == index else { continue }
            try decoder.decode(packet, into: frame) { samples += try resampler.floats($0); return true }
        }
        try decoder.decode(nil, into: frame) { samples += try resampler.floats($0); return true }
        samples += try resampler.floats(nil)
        #expect(abs(samples.count - 4 * 16000) < 1600)
        // A 440 Hz sine at ffmpeg's default 1/8 amplitude: its RMS is about 0.125/√2.
        let rms = (samples.reduce(0) { $0 + Double($1 * $1) } / Double(samples.count)).squareRoot()
        #expect(rms > 0.06 && rms < 0.12)
    }

    @Test func readsThroughRandomAccessBytes() throws {
        let path = try rotatedClip()
        let input = try MediaInput(bytes: try ReadOnlyFile(path: path))
        #expect(input.streams.count == 2)
        #expect(abs((input.duration ?? 0) - 4) < 0.1)
        let packet = Packet()
        var count = 0
        while try input.read(into: packet) { count += 1 }
        #expect(count > 100)
    }

    @Test func refusesWhatIsNotMediaWithFFmpegsReason() throws {
        let path = dir.path + "/notes.txt"
        try Data(repeating: 0x01, count: 100).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try MediaInput(path: path)
        } throws: { error in
            "\(error)".contains("not a media file FFmpeg reads: Invalid data found when processing input")
        }
    }

    @Test func aDeadlineInterruptsReading() throws {
        let input = try MediaInput(path: try rotatedClip())
        input.setDeadline(seconds: 0.000_001)
        usleep(2000)
        let packet = Packet()
        #expect {
            while try input.read(into: packet) {}
        } throws: { error in (error as? MediaError)?.isTimeout == true }
    }
}

@Suite("FFmpeg wrapper: writing")
struct MediaOutputTests {
    @Test func encodesAndMuxesAFaststartMP4() throws {
        let dir = try TempDir()
        let path = dir.path + "/out.mp4"
        let output = try MediaOutput(path: path)
        let global = output.needsGlobalHeader
        let encoder = try Encoder(codec: "libx264", options: ["preset": "ultrafast"]) { c in
            c.pointee.width = 160
            c.pointee.height = 120
            c.pointee.pix_fmt = AV_PIX_FMT_YUV420P
            c.pointee.time_base = AVRational(num: 1, den: 25)
            c.pointee.framerate = AVRational(num: 25, den: 1)
            if global { c.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        }
        let index = try output.addStream(from: encoder)
        try output.writeHeader(options: ["movflags": "+faststart"])
        let packet = Packet()
        for i in 0..<25 {
            let shade = UInt8(i * 10)
            let rgb = try Picture(width: 160, height: 120, red: shade, green: 128, blue: 255 - shade).frame()
            let yuv = try Scaler(from: rgb, width: 160, height: 120, format: AV_PIX_FMT_YUV420P).scale(rgb)
            yuv.frame.pointee.pts = Int64(i)
            try encoder.send(yuv)
            while try encoder.receive(into: packet) { try output.write(packet, stream: index) }
        }
        try output.drain(encoder, stream: index)
        try output.finish()

        let back = try MediaInput(path: path)
        #expect(back.streams.map(\.codecName) == ["h264"])
        #expect(back.streams.first?.width == 160 && back.streams.first?.frameCount == 25)
        #expect(abs((back.duration ?? 0) - 1) < 0.05)
        // faststart: the index (moov) comes before the media data (mdat).
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let moov = MediaSignatures.trackHandlers(try ReadOnlyFile(path: path))
        #expect(moov == ["vide"])
        let text = String(decoding: bytes.prefix(4096).map { $0 < 32 || $0 > 126 ? 46 : $0 }, as: UTF8.self)
        #expect(text.contains("moov") && !text.prefix(text.range(of: "moov")!.lowerBound.utf16Offset(in: text)).contains("mdat"))
    }
}
