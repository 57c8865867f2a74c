import CFFmpeg
import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Synchronization
import Testing

/// Renditions of videos and audio Debian's ffmpeg makes here, checked with ffprobe and read
/// back through libavcodec: the streams' codecs, sizes never above the source's, the MP4's
/// index before its media data, a frame that is the one at its time.
@Suite struct RenditionTests {
    let dir: TempDir

    init() throws { dir = try TempDir() }

    /// ffprobe's streams of `path`: codec_type → (codec_name, width, height, sample_rate, channels).
    func streams(_ path: String) throws -> [[String: Any]] {
        let json = try ffprobe(["-show_streams", "-show_format", "-of", "json", path])
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        return try #require(object["streams"] as? [[String: Any]])
    }

    func duration(_ path: String) throws -> Double {
        let json = try ffprobe(["-show_format", "-of", "json", path])
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        return Double(try #require((object["format"] as? [String: Any])?["duration"] as? String)) ?? 0
    }

    /// The offsets of the top-level boxes of an MP4, by type, in file order.
    func topLevelBoxes(_ path: String) throws -> [String] {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        var boxes: [String] = []
        var offset = 0
        while offset + 8 <= bytes.count {
            var size = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            boxes.append(String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self))
            if size == 1, offset + 16 <= bytes.count {
                size = bytes[offset + 8..<offset + 16].reduce(0) { $0 << 8 | Int($1) }
            }
            guard size >= 8 else { break }
            offset += size
        }
        return boxes
    }

    func render(_ path: String, mediaType: String, _ parameters: [String: ParameterValue],
                progress: @escaping @Sendable (Int, String) -> Void = { _, _ in }) throws -> (folder: String, artifacts: [ProducedArtifact]) {
        let folder = try dir.folder("run-\(UUID().uuidString)")
        let artifacts = try RenditionProcessor().process(ProcessorInput(path: path, mediaType: mediaType, name: baseName(path),
                                                                        parameters: parameters, outputDirectory: folder, progress: progress))
        return (folder, artifacts)
    }

    /// A 1280×720 video with a tone, 4 s, made once per test.
    func clip(size: String = "1280x720", seconds: Int = 4) throws -> String {
        let path = dir.path + "/clip-\(size).mp4"
        try makeMedia(path, inputs: ["testsrc2=s=\(size):r=25:d=\(seconds)", "sine=f=440:d=\(seconds)"],
                      output: ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        return path
    }

    @Test func aVideoBecomesAFaststartH264AACMP4FittedIntoTheBox() throws {
        let source = try clip()
        let progress = Mutex<[(Int, String)]>([])
        let (folder, artifacts) = try render(source, mediaType: "video/mp4", ["output": .string("video"), "height": .int(360)]) { p, m in
            progress.withLock { $0.append((p, m)) }
        }
        #expect(artifacts.map(\.kind) == ["rendition-video-360p.mp4"])
        #expect(artifacts.first?.mimeType == "video/mp4" && artifacts.first?.producer == "depot-rendition")
        let path = folder + "/rendition-video-360p.mp4"
        let found = try streams(path)
        let video = try #require(found.first { $0["codec_type"] as? String == "video" })
        let audio = try #require(found.first { $0["codec_type"] as? String == "audio" })
        #expect(video["codec_name"] as? String == "h264" && video["pix_fmt"] as? String == "yuv420p")
        #expect(video["width"] as? Int == 640 && video["height"] as? Int == 360)
        #expect(audio["codec_name"] as? String == "aac" && audio["sample_rate"] as? String == "44100")
        #expect(abs(try duration(path) - 4) < 0.2)
        // faststart: the index (moov) comes before the media data (mdat).
        let boxes = try topLevelBoxes(path)
        let moov = try #require(boxes.firstIndex(of: "moov")), mdat = try #require(boxes.firstIndex(of: "mdat"))
        #expect(moov < mdat, "\(boxes)")
        // Progress followed the encode, rising, and the last word says what was made.
        let said = progress.withLock { $0 }
        #expect(said.filter { $0.1.hasPrefix("encoding: ") }.count >= 3, "\(said)")
        #expect(zip(said, said.dropFirst()).allSatisfy { $0.0 <= $1.0 })
        #expect(said.last?.0 == 100 && said.last?.1.contains("H.264 640×360") == true && said.last?.1.contains("AAC 44100 Hz") == true)
    }

    @Test func aRenditionIsNeverLargerThanTheSource() throws {
        let source = try clip(size: "320x240", seconds: 2)
        // 720p asked of a 320×240 video: it stays 320×240.
        let (folder, artifacts) = try render(source, mediaType: "video/mp4", [:])
        #expect(artifacts.map(\.kind) == ["rendition-video-720p.mp4"])
        let video = try #require(try streams(folder + "/rendition-video-720p.mp4").first { $0["codec_type"] as? String == "video" })
        #expect(video["width"] as? Int == 320 && video["height"] as? Int == 240)
        // A box narrower than the source: fitted by its width, the aspect kept, sides even.
        let (narrow, _) = try render(source, mediaType: "video/mp4", ["width": .int(101), "height": .int(0)])
        let fitted = try #require(try streams(narrow + "/rendition-video-w101.mp4").first { $0["codec_type"] as? String == "video" })
        #expect(fitted["width"] as? Int == 100 && fitted["height"] as? Int == 76)
    }

    @Test func aPortraitPhoneVideoKeepsItsRotation() throws {
        // Stored 640×360 with a display matrix turning it a quarter: shown 360×640.
        let stored = dir.path + "/landscape.mp4", phone = dir.path + "/phone.mp4"
        try makeMedia(stored, inputs: ["testsrc2=s=640x360:r=25:d=1"], output: ["-c:v", "libx264", "-preset", "ultrafast"])
        try ffmpeg(["-i", stored, "-c", "copy", "-metadata:s:v:0", "rotate=90", phone])
        let source = try #require(try MediaInput(path: phone).streams.first { $0.kind == .video })
        #expect(source.rotation == 90 || source.rotation == 270)
        let (folder, _) = try render(phone, mediaType: "video/mp4", ["height": .int(320)])
        let output = try MediaInput(path: folder + "/rendition-video-320p.mp4")
        let video = try #require(output.streams.first { $0.kind == .video })
        // Fitted as shown (at most 320 tall), stored turned, with the matrix to turn it back.
        #expect(video.displaySize.height == 320 && video.displaySize.width == 180)
        #expect(video.rotation == source.rotation && video.width == 320 && video.height == 180)
    }

    @Test func audioAloneAsAACOrOpus() throws {
        let source = try clip(size: "320x240", seconds: 3)
        let (m4a, aac) = try render(source, mediaType: "video/mp4", ["output": .string("audio")])
        #expect(aac.map(\.kind) == ["rendition-audio.m4a"] && aac.first?.mimeType == "audio/mp4")
        let aacStreams = try streams(m4a + "/rendition-audio.m4a")
        #expect(aacStreams.count == 1 && aacStreams.first?["codec_name"] as? String == "aac")
        #expect(abs(try duration(m4a + "/rendition-audio.m4a") - 3) < 0.2)
        #expect(try topLevelBoxes(m4a + "/rendition-audio.m4a").firstIndex(of: "moov")! < (try topLevelBoxes(m4a + "/rendition-audio.m4a").firstIndex(of: "mdat"))!)

        let (ogg, opus) = try render(source, mediaType: "video/mp4", ["output": .string("audio"), "audio_codec": .string("opus"),
                                                                         "audio_bitrate": .int(64)])
        #expect(opus.map(\.kind) == ["rendition-audio.opus"] && opus.first?.mimeType == "audio/ogg")
        let opusStreams = try streams(ogg + "/rendition-audio.opus")
        #expect(opusStreams.count == 1 && opusStreams.first?["codec_name"] as? String == "opus")
        #expect(opusStreams.first?["sample_rate"] as? String == "48000")
        #expect(abs(try duration(ogg + "/rendition-audio.opus") - 3) < 0.2)

        // An audio file's own audio, too.
        let song = dir.path + "/song.flac"
        try makeMedia(song, inputs: ["sine=f=220:d=2"], output: ["-ac", "2"])
        let (flac, made) = try render(song, mediaType: "audio/flac", ["output": .string("audio")])
        #expect(made.map(\.kind) == ["rendition-audio.m4a"])
        let fromSong = try streams(flac + "/rendition-audio.m4a")
        #expect(fromSong.first?["codec_name"] as? String == "aac" && fromSong.first?["channels"] as? Int == 2)
    }

    /// The luma of the middle of a picture.
    func middleLuma(_ path: String) throws -> Double {
        let input = try MediaInput(path: path)
        let decoder = try Decoder(input: input, streamIndex: 0)
        let packet = Packet(), frame = Frame()
        var picture: Picture?
        while picture == nil, try input.read(into: packet) {
            try decoder.decode(packet, into: frame) { frame in
                picture = try Picture(frame: frame, width: frame.width, height: frame.height)
                return false
            }
        }
        let p = try #require(picture)
        let i = ((p.height / 2) * p.width + p.width / 2) * 3
        return 0.299 * Double(p.pixels[i]) + 0.587 * Double(p.pixels[i + 1]) + 0.114 * Double(p.pixels[i + 2])
    }

    @Test func aFrameIsThePictureShownAtItsTime() throws {
        // 10 s whose brightness is 20 × the time, one keyframe at the start: the frame at 5.5 s
        // must be decoded past the keyframe, not be it.
        let ramp = dir.path + "/ramp.mp4"
        try makeMedia(ramp, inputs: ["color=c=black:s=320x180:r=25:d=10,geq=lum='min(240\\,20*T)':cb=128:cr=128"],
                      output: ["-c:v", "libx264", "-preset", "ultrafast", "-g", "1000", "-pix_fmt", "yuv420p"])
        let (folder, artifacts) = try render(ramp, mediaType: "video/mp4", ["output": .string("frame"), "time": .string("5.5"),
                                                                            "height": .int(0)])
        #expect(artifacts.map(\.kind) == ["rendition-frame-5.5s.jpg"] && artifacts.first?.mimeType == "image/jpeg")
        let jpeg = folder + "/rendition-frame-5.5s.jpg"
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: jpeg)).prefix(3)) == [0xFF, 0xD8, 0xFF])
        // geq's Y is limited-range video luma; the picture is RGB: (Y − 16) × 255 / 219.
        func shown(_ y: Double) -> Double { (y - 16) * 255 / 219 }
        let luma = try middleLuma(jpeg)
        #expect(abs(luma - shown(110)) < 6, "\(luma)")

        let (pngFolder, png) = try render(ramp, mediaType: "video/mp4", ["output": .string("frame"), "time": .string("00:02.000"),
                                                                         "image": .string("png"), "height": .int(90)])
        #expect(png.map(\.kind) == ["rendition-frame-2s.png"] && png.first?.mimeType == "image/png")
        let still = try MediaInput(path: pngFolder + "/rendition-frame-2s.png")
        #expect(still.streams.first?.codecName == "png" && still.streams.first?.width == 160 && still.streams.first?.height == 90)
        let early = try middleLuma(pngFolder + "/rendition-frame-2s.png")
        #expect(abs(early - shown(40)) < 6, "\(early)")

        // Past the end: a clear refusal.
        #expect {
            try render(ramp, mediaType: "video/mp4", ["output": .string("frame"), "time": .string("30")])
        } throws: { "\($0)".contains("there is no frame at 30.0 s: the video is 10") }
    }

    @Test func audioAskedForPicturesFailsClearly() throws {
        let song = dir.path + "/song.m4a"
        try makeMedia(song, inputs: ["sine=f=220:d=1"], output: ["-c:a", "aac"])
        #expect {
            try render(song, mediaType: "audio/mp4", ["output": .string("video")])
        } throws: { "\($0)" == "audio/mp4 is audio: it has no pictures for a video rendition (ask for output audio)" }
        // Audio in a container detection calls video: the processor finds no picture.
        let radio = dir.path + "/radio.mkv"
        try makeMedia(radio, inputs: ["sine=f=220:d=1"], output: ["-c:a", "libopus"])
        #expect {
            try render(radio, mediaType: "video/x-matroska", [:])
        } throws: { "\($0)".hasPrefix("the file has no video stream: a video rendition needs one") }
        // And a video without sound asked for its audio.
        let silent = dir.path + "/silent.mp4"
        try makeMedia(silent, inputs: ["testsrc2=s=160x120:r=10:d=1"], output: ["-c:v", "libx264", "-preset", "ultrafast"])
        #expect {
            try render(silent, mediaType: "video/mp4", ["output": .string("audio")])
        } throws: { "\($0)" == "the file has no audio stream" }
        // A video without sound still gets its video rendition, and says it has no audio.
        let said = Mutex<String>("")
        let (folder, _) = try render(silent, mediaType: "video/mp4", ["height": .int(0)]) { _, m in said.withLock { $0 = m } }
        #expect(try streams(folder + "/rendition-video-source.mp4").map { $0["codec_type"] as? String } == ["video"])
        #expect(said.withLock { $0 }.hasSuffix("; no audio"))
    }

    @Test func requestsAreReadOnceForTheQueueAndTheWorker() throws {
        #expect(RenditionRequest.seconds("12.5") == 12.5)
        #expect(RenditionRequest.seconds("1:02:03.25") == 3723.25)
        #expect(RenditionRequest.seconds("02:03") == 123)
        for bad in ["", "1:60", "1.5:00", "-3", "abc", "1:2:3:4", "12.5s"] { #expect(RenditionRequest.seconds(bad) == nil, "\(bad)") }
        #expect(try RenditionRequest([:]).artifactName == "rendition-video-720p.mp4")
        #expect(try RenditionRequest(["width": .int(1280), "height": .int(720)]).artifactName == "rendition-video-1280x720.mp4")
        #expect(try RenditionRequest(["height": .int(0)]).artifactName == "rendition-video-source.mp4")
        #expect(try RenditionRequest(["output": .string("frame"), "time": .string("1:00.250")]).artifactName == "rendition-frame-60.25s.jpg")
        #expect(try RenditionRequest(["output": .string("audio"), "audio_codec": .string("opus")]).artifactName == "rendition-audio.opus")
        #expect(throws: RenditionRequest.Invalid.self) { try RenditionRequest(["audio_codec": .string("opus")]) }
        #expect(throws: RenditionRequest.Invalid.self) { try RenditionRequest(["height": .int(8)]) }
        #expect(throws: RenditionRequest.Invalid.self) { try RenditionRequest(["output": .string("frame"), "time": .string("soon")]) }
        #expect(throws: RenditionRequest.Invalid.self) { try RenditionRequest(["output": .string("frame")], mediaType: "audio/ogg") }
        #expect(try RenditionRequest(["output": .string("audio")], mediaType: "audio/ogg").output == .audio)
    }
}
