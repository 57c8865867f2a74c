import DepotCore
@testable import DepotProcess
import DepotQueue
import DepotTestSupport
import Foundation
import Testing

/// Detection, metadata.json and thumbnails of video, audio and images, on files Debian's
/// ffmpeg (or the test, byte by byte) makes here.
@Suite("Media processors")
struct MediaProcessorTests {
    let dir: TempDir

    init() throws { dir = try TempDir() }

    func make(_ name: String, _ inputs: [String], _ output: [String]) throws -> String {
        let path = dir.path + "/" + name
        try makeMedia(path, inputs: inputs, output: output)
        return path
    }

    func bytes(_ name: String, _ content: [UInt8]) throws -> String {
        let path = dir.path + "/" + name
        try Data(content).write(to: URL(fileURLWithPath: path))
        return path
    }

    func metadata(_ path: String, _ type: String) throws -> [String: Any] {
        let (folder, artifacts) = try runProcessor(MediaExtractProcessor(), path, mediaType: type, in: dir)
        #expect(artifacts.map(\.kind) == ["metadata.json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/metadata.json"))) as? [String: Any])
    }

    /// The thumbnail's (width, height) as libavformat reads the JPEG back.
    func thumbnail(_ path: String, _ type: String, file: String = "thumbnail.jpg") throws -> (Int, Int) {
        let (folder, artifacts) = try runProcessor(MediaThumbnailProcessor(), path, mediaType: type, in: dir)
        #expect(artifacts.map(\.kind) == [file])
        let back = try MediaInput(path: folder + "/" + file)
        let s = try #require(back.streams.first)
        #expect(s.codecName == "mjpeg")
        return (s.width, s.height)
    }

    static let silent = ["-loglevel", "error"]

    // MARK: Detection

    @Test func detectsEveryListedFormatWithItsClassAndAProcessor() throws {
        let v = "testsrc2=s=160x120:r=10:d=1", a = "sine=d=1"
        let cases: [(String, String, String)] = [
            (try make("a.m4a", [a], ["-c:a", "aac"]), "audio/mp4", "audio"),
            (try make("audio-only.mp4", [a], ["-c:a", "aac", "-f", "mp4", "-brand", "isom"]), "audio/mp4", "audio"),
            (try make("v.mp4", [v, a], ["-c:v", "libx264", "-c:a", "aac"]), "video/mp4", "video"),
            (try make("v.mov", [v], ["-c:v", "libx264"]), "video/quicktime", "video"),
            (try make("a.aac", [a], ["-c:a", "aac", "-f", "adts"]), "audio/aac", "audio"),
            (try make("a.flac", [a], ["-c:a", "flac"]), "audio/flac", "audio"),
            (try make("a.ogg", [a], ["-c:a", "libvorbis"]), "audio/ogg", "audio"),
            (try make("a.opus", [a], ["-c:a", "libopus"]), "audio/ogg", "audio"),
            (try make("v.ogv", [v], ["-c:v", "libtheora"]), "video/ogg", "video"),
            (try make("a.aiff", [a], ["-c:a", "pcm_s16be"]), "audio/aiff", "audio"),
            (try make("a.wma", [a], ["-c:a", "wmav2"]), "audio/x-ms-wma", "audio"),
            (try make("v.wmv", [v], ["-c:v", "wmv2"]), "video/x-ms-asf", "video"),
            (try make("v.flv", [v], ["-c:v", "flv"]), "video/x-flv", "video"),
            (try make("v.ts", [v], ["-c:v", "libx264", "-f", "mpegts"]), "video/mp2t", "video"),
            (try make("v.mkv", [v], ["-c:v", "libx264"]), "video/x-matroska", "video"),
            (try make("v.webm", [v], ["-c:v", "libvpx"]), "video/webm", "video"),
            (try make("a.mka", [a], ["-c:a", "flac"]), "audio/x-matroska", "audio"),
            (try make("audio-only.mkv", [a], ["-c:a", "aac"]), "audio/x-matroska", "audio"),
            (try make("a.webm", [a], ["-c:a", "libopus"]), "audio/webm", "audio"),
            // A video track after the audio one: still video.
            (try make("av.mkv", [a, v], ["-c:a", "aac", "-c:v", "libx264"]), "video/x-matroska", "video"),
            (try make("v.avi", [v], ["-c:v", "mpeg4"]), "video/x-msvideo", "video"),
            (try make("a.mp3", [a], ["-c:a", "libmp3lame"]), "audio/mpeg", "audio"),
            (try make("a.wav", [a], []), "audio/wav", "audio"),
            (try make("i.bmp", [v], ["-frames:v", "1"]), "image/bmp", "images"),
            (try make("i.tiff", [v], ["-frames:v", "1"]), "image/tiff", "images"),
            (try make("i.jp2", [v], ["-frames:v", "1", "-c:v", "jpeg2000"]), "image/jp2", "images"),
            (try make("i.png", [v], ["-frames:v", "1"]), "image/png", "images"),
            (try make("i.jpg", [v], ["-frames:v", "1"]), "image/jpeg", "images"),
            (try make("anim.gif", [v], []), "image/gif", "images"),
            (try make("anim.png", [v], ["-f", "apng", "-plays", "0"]), "image/png", "images"),
            (try make("anim.webp", [v], ["-c:v", "libwebp_anim", "-loop", "0"]), "image/webp", "images"),
            (try bytes("big.tif", [0x49, 0x49, 0x2B, 0x00, 8, 0, 0, 0] + [UInt8](repeating: 0, count: 16)), "image/tiff", "images"),
            (try bytes("i.psd", Array("8BPS".utf8) + [0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 8, 0, 3]), "image/vnd.adobe.photoshop", "images"),
            (try bytes("i.heic", isoHeader("heic", compatible: ["mif1", "heic"])), "image/heic", "images"),
            (try bytes("i.avif", isoHeader("avif", compatible: ["mif1", "avif"])), "image/avif", "images"),
            (try bytes("i2.avif", isoHeader("mif1", compatible: ["avif", "miaf"])), "image/avif", "images"),
        ]
        let registry = ProcessorRegistry.standard()
        for (path, type, mediaClass) in cases {
            let detected = try TypeDetector.detect(path: path)
            #expect(detected == type, "\(path)")
            #expect(MediaClass.of(detected) == mediaClass, "\(path)")
            #expect(registry.select(kind: "extract", mediaType: detected)?.name == "depot-media", "\(path)")
            #expect(registry.select(kind: "thumbnail", mediaType: detected)?.name == "depot-media-thumbnail", "\(path)")
            let more = ["video": ["storyboard", "transcript"], "audio": ["waveform", "transcript"]][mediaClass] ?? []
            #expect(Pipeline.kinds(for: detected).map(\.name) == ["extract", "thumbnail"] + more, "\(path)")
        }
    }

    @Test func matroskaWrittenToAPipeIsTypedByItsTracksToo() throws {
        // Written to a pipe, the Segment (and each Cluster) has an unknown size.
        let audio = try ffmpeg(["-f", "lavfi", "-i", "sine=d=1", "-c:a", "flac", "-f", "matroska", "pipe:1"])
        let video = try ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1", "-c:v", "libx264", "-f", "matroska", "pipe:1"])
        #expect(try TypeDetector.detect(path: bytes("live.mka", Array(audio))) == "audio/x-matroska")
        #expect(try TypeDetector.detect(path: bytes("live.mkv", Array(video))) == "video/x-matroska")
        // Cut short before its Tracks end: taken for video, whose processors then say what is wrong.
        let tracksAt = try #require(Array(audio).indices.first { Array(audio)[$0..<min($0 + 4, audio.count)] == [0x16, 0x54, 0xAE, 0x6B] })
        #expect(try TypeDetector.detect(path: bytes("cut.mka", Array(audio.prefix(tracksAt + 8)))) == "video/x-matroska")
    }

    func isoHeader(_ major: String, compatible: [String]) -> [UInt8] {
        let brands = Array(major.utf8) + [0, 0, 0, 0] + compatible.flatMap { Array($0.utf8) }
        let size = UInt32(8 + brands.count)
        return [UInt8(size >> 24), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF)] + Array("ftyp".utf8) + brands
            + [0, 0, 0, 8] + Array("meta".utf8)
    }

    // MARK: metadata.json

    @Test func videoMetadataHasStreamsTagsChaptersAndAttachments() throws {
        let chapters = dir.path + "/chapters.txt"
        try Data("""
            ;FFMETADATA1
            title=Lecture 3
            [CHAPTER]
            TIMEBASE=1/1000
            START=0
            END=2000
            title=Intro
            [CHAPTER]
            TIMEBASE=1/1000
            START=2000
            END=4000
            title=Proofs

            """.utf8).write(to: URL(fileURLWithPath: chapters))
        let srt = try bytes("s.srt", Array("1\n00:00:00,500 --> 00:00:01,500\nHallo\n\n".utf8))
        let font = try bytes("font.ttf", [UInt8](repeating: 7, count: 300))
        let path = dir.path + "/lecture.mkv"
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=720x576:r=25:d=4", "-f", "lavfi", "-i", "sine=r=48000:d=4", "-i", srt,
                    "-i", chapters, "-map", "0", "-map", "1", "-map", "2", "-map_metadata", "3", "-map_chapters", "3",
                    "-c:v", "libx264", "-aspect", "16:9", "-c:a", "libopus", "-ac", "2", "-c:s", "srt",
                    "-metadata:s:s:0", "language=ger", "-disposition:s:0", "forced",
                    "-attach", font, "-metadata:s:t", "mimetype=font/ttf", path])
        let m = try metadata(path, "video/x-matroska")
        #expect(m["schema"] as? String == "depot.media.metadata/1")
        #expect(m["media_class"] as? String == "video")
        #expect(((m["container"] as? [String: Any])?["format"] as? String)?.hasPrefix("matroska") == true)
        #expect(abs((m["duration"] as? Double ?? 0) - 4) < 0.05)
        #expect((m["tags"] as? [String: String])?["title"] == "Lecture 3")
        let streams = try #require(m["streams"] as? [[String: Any]])
        #expect(streams.map { $0["type"] as? String } == ["video", "audio", "subtitle", "attachment"])
        #expect(streams[0]["codec"] as? String == "h264")
        #expect(streams[0]["width"] as? Int == 720 && streams[0]["height"] as? Int == 576)
        #expect(streams[0]["display_aspect_ratio"] as? String == "16:9")
        #expect(streams[0]["frame_rate"] as? Double == 25)
        #expect(streams[1]["codec"] as? String == "opus" && streams[1]["sample_rate"] as? Int == 48000)
        #expect(streams[1]["channels"] as? Int == 2 && streams[1]["channel_layout"] as? String == "stereo")
        #expect(streams[2]["codec"] as? String == "subrip" && streams[2]["language"] as? String == "ger")
        #expect(streams[2]["forced"] as? Bool == true && streams[2]["bitmap"] as? Bool == false)
        let chapterList = try #require(m["chapters"] as? [[String: Any]])
        #expect(chapterList.map { $0["title"] as? String } == ["Intro", "Proofs"])
        #expect(chapterList.map { $0["start"] as? Double } == [0, 2])
        let attachments = try #require(m["attachments"] as? [[String: Any]])
        #expect(attachments.count == 1)
        #expect(attachments.first?["filename"] as? String == "font.ttf" && attachments.first?["mime_type"] as? String == "font/ttf")
        #expect(attachments.first?["size"] as? Int == 300)
        #expect((m["problems"] as? [String]) == [])
    }

    @Test func audioBookChaptersAndCoverArt() throws {
        let song = dir.path + "/song.m4a"
        try makeSongWithCover(song, in: dir)
        #expect(try TypeDetector.detect(path: song) == "audio/mp4")
        let m = try metadata(song, "audio/mp4")
        #expect(m["media_class"] as? String == "audio")
        #expect((m["tags"] as? [String: String])?["artist"] == "Someone")
        let attachments = try #require(m["attachments"] as? [[String: Any]])
        #expect(attachments.first?["kind"] as? String == "cover")
        // The PNG cover comes out re-encoded as a JPEG of its size.
        #expect(try thumbnail(song, "audio/mp4", file: "cover.jpg") == (200, 200))
        // Without cover art: no artifact, and the job still succeeds.
        let plain = try make("plain.m4a", ["sine=d=1"], ["-c:a", "aac"])
        let (_, artifacts) = try runProcessor(MediaThumbnailProcessor(), plain, mediaType: "audio/mp4", in: dir)
        #expect(artifacts.isEmpty)
    }

    @Test func everyMetadataMatchesItsSchema() throws {
        var files: [String] = []
        let inputs: [(String, String, [String], [String])] = [
            ("a.mp4", "video/mp4", ["testsrc2=s=320x240:d=2", "sine=d=2"], ["-c:v", "libx264", "-c:a", "aac"]),
            ("a.flac", "audio/flac", ["sine=d=1"], []),
            ("a.gif", "image/gif", ["testsrc2=s=64x48:r=5:d=1"], []),
            ("a.png", "image/png", ["testsrc2=s=64x48"], ["-frames:v", "1"]),
        ]
        for (name, type, sources, output) in inputs {
            let path = try make(name, sources, output)
            let (folder, _) = try runProcessor(MediaExtractProcessor(), path, mediaType: type, in: dir)
            files.append(folder + "/metadata.json")
        }
        let exif = try jpegWithEXIF(orientation: 6)
        files.append(try runProcessor(MediaExtractProcessor(), exif, mediaType: "image/jpeg", in: dir).folder + "/metadata.json")
        for (file, problem) in zip(files, try validate(files, against: schemaPath("metadata.media.schema.json"))) {
            #expect(problem == nil, "\(file): \(problem ?? "")")
        }
        // The schema is exact: an unknown member is refused.
        let wrong = dir.path + "/wrong.json"
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: files[0]))) as? [String: Any])
        object["surprise"] = 1
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: wrong))
        #expect(try validate([wrong], against: schemaPath("metadata.media.schema.json"))[0] != nil)
    }

    // MARK: Images and EXIF

    /// A 400×300 JPEG with an EXIF block (APP1) written here: orientation, camera, time, GPS.
    func jpegWithEXIF(orientation: Int) throws -> String {
        let plain = try make("plain-\(orientation).jpg", ["testsrc2=s=400x300"], ["-frames:v", "1"])
        var jpeg = Array(try Data(contentsOf: URL(fileURLWithPath: plain)))
        // A big-endian TIFF: IFD0 (Make, Model, Orientation, ExifIFD, GPSIFD), the EXIF IFD
        // (DateTimeOriginal), the GPS IFD (N 48°51'29.5", E 2°17'40.2", 35 m), then the values.
        var t: [UInt8] = Array("MM".utf8) + [0, 42, 0, 0, 0, 8]
        func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func u32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        let ifd0 = 8, ifd0Size = 2 + 5 * 12 + 4
        let exifIFD = ifd0 + ifd0Size, exifSize = 2 + 12 + 4
        let gpsIFD = exifIFD + exifSize, gpsSize = 2 + 5 * 12 + 4
        var values = gpsIFD + gpsSize
        var data: [UInt8] = []
        func place(_ bytes: [UInt8]) -> Int { let at = values; data += bytes; values += bytes.count; return at }
        let make = Array("Fairphone\0".utf8), model = Array("FP4 Pro\0".utf8), date = Array("2024:05:01 10:20:30\0".utf8)
        let makeAt = place(make), modelAt = place(model), dateAt = place(date)
        let latAt = place(u32(48) + u32(1) + u32(51) + u32(1) + u32(295) + u32(10))
        let lonAt = place(u32(2) + u32(1) + u32(17) + u32(1) + u32(402) + u32(10))
        let altAt = place(u32(35) + u32(1))
        func entry(_ tag: Int, _ type: Int, _ count: Int, _ value: [UInt8]) -> [UInt8] { u16(tag) + u16(type) + u32(count) + value }
        t += u16(5)
        t += entry(0x010F, 2, make.count, u32(makeAt)) + entry(0x0110, 2, model.count, u32(modelAt))
        t += entry(0x0112, 3, 1, u16(orientation) + [0, 0]) + entry(0x8769, 4, 1, u32(exifIFD)) + entry(0x8825, 4, 1, u32(gpsIFD))
        t += u32(0)
        t += u16(1) + entry(0x9003, 2, date.count, u32(dateAt)) + u32(0)
        t += u16(5) + entry(1, 2, 2, Array("N\0\0\0".utf8)) + entry(2, 5, 3, u32(latAt)) + entry(3, 2, 2, Array("E\0\0\0".utf8))
        t += entry(4, 5, 3, u32(lonAt)) + entry(6, 5, 1, u32(altAt)) + u32(0)
        t += data
        let payload = Array("Exif".utf8) + [0, 0] + t
        let segment: [UInt8] = [0xFF, 0xE1] + u16(payload.count + 2) + payload
        jpeg.insert(contentsOf: segment, at: 2)
        return try bytes("exif-\(orientation).jpg", jpeg)
    }

    @Test func photoMetadataHasTheEXIFFactsAndTheThumbnailIsUpright() throws {
        let photo = try jpegWithEXIF(orientation: 6)
        let m = try metadata(photo, "image/jpeg")
        let image = try #require(m["image"] as? [String: Any])
        #expect(image["width"] as? Int == 400 && image["height"] as? Int == 300)
        #expect(image["orientation"] as? Int == 6 && image["frame_count"] as? Int == 1 && image["animated"] as? Bool == false)
        let exif = try #require(image["exif"] as? [String: Any])
        #expect(exif["camera_make"] as? String == "Fairphone" && exif["camera_model"] as? String == "FP4 Pro")
        #expect(exif["taken_at"] as? String == "2024:05:01 10:20:30")
        let gps = try #require(exif["gps"] as? [String: Any])
        #expect(abs((gps["latitude"] as? Double ?? 0) - 48.858194) < 1e-5)
        #expect(abs((gps["longitude"] as? Double ?? 0) - 2.294500) < 1e-5)
        #expect(gps["altitude"] as? Double == 35)
        // Orientation 6: shown turned 90° clockwise, so the 400×300 photo is a 300×400 thumbnail
        // (at most 320 wide, never enlarged).
        #expect(try thumbnail(photo, "image/jpeg") == (300, 400))
        #expect(try thumbnail(try jpegWithEXIF(orientation: 1), "image/jpeg") == (320, 240))
    }

    @Test func animatedImagesCountTheirFrames() throws {
        let gif = try make("anim.gif", ["testsrc2=s=64x48:r=10:d=2"], [])
        let image = try #require(try metadata(gif, "image/gif")["image"] as? [String: Any])
        #expect(image["frame_count"] as? Int == 20 && image["animated"] as? Bool == true)
        let apng = try make("anim.png", ["testsrc2=s=64x48:r=10:d=1"], ["-f", "apng"])
        #expect((try metadata(apng, "image/png")["image"] as? [String: Any])?["frame_count"] as? Int == 10)
        #expect(try thumbnail(gif, "image/gif") == (64, 48))
    }

    // MARK: Video thumbnails

    @Test func videoThumbnailSkipsADarkStartAndAppliesRotationAndAspect() throws {
        // 10 s: black for the first 3 s, then colour bars; keyframes every second. 10% in is black.
        let path = try make("dark.mp4", ["testsrc2=s=640x360:r=25:d=10"],
                            ["-vf", "drawbox=enable='lt(t,3)':c=black:t=fill", "-c:v", "libx264", "-g", "25"])
        let input = try MediaInput(path: path)
        let picture = try MediaThumbnailProcessor.videoThumbnail(input)
        #expect(picture.width == 320 && picture.height == 180)
        #expect(picture.lumaStatistics.mean > 24 && picture.lumaStatistics.deviation > 10)
        // Anamorphic 720×576 with a 16:9 display: 320×180. Turned by its display matrix: 180 wide.
        let anamorphic = try make("pal.mp4", ["testsrc2=s=720x576:r=25:d=3"], ["-c:v", "libx264", "-aspect", "16:9"])
        #expect(try thumbnail(anamorphic, "video/mp4") == (320, 180))
        let turned = dir.path + "/turned.mp4"
        try ffmpeg(["-i", anamorphic, "-c", "copy", "-metadata:s:v:0", "rotate=270", turned])
        #expect(try thumbnail(turned, "video/mp4") == (320, 569))
        // MPEG-TS has no index: a seek lands between keyframes, and the clip's only keyframe is
        // its first (x264's GOP is longer than the clip). The thumbnail is still made, from the start.
        let ts = try make("one-gop.ts", ["testsrc2=s=320x180:r=25:d=8"], ["-c:v", "libx264", "-f", "mpegts"])
        #expect(try thumbnail(ts, "video/mp2t") == (320, 180))
        // A very short video: its first frame.
        let short = try make("short.mp4", ["testsrc2=s=160x90:r=25:d=0.2"], ["-c:v", "libx264"])
        #expect(try thumbnail(short, "video/mp4") == (160, 90))
    }

    // MARK: Unsupported

    @Test func heicIsUnsupportedByThisBuildNotAFailure() throws {
        let heic = try bytes("photo.heic", isoHeader("heic", compatible: ["mif1", "heic"]) + [UInt8](repeating: 0, count: 64))
        for processor in [MediaExtractProcessor() as any Processor, MediaThumbnailProcessor()] {
            #expect(throws: MediaUnsupported.self) {
                _ = try runProcessor(processor, heic, mediaType: "image/heic", in: dir)
            }
        }
        // The worker answers "unsupported" with the reason, and the queue records that outcome.
        let out = try dir.folder("worker-out")
        let request = WorkerRequest(jobID: 1, kind: "extract", processor: "depot-media", blobPath: heic, mediaType: "image/heic",
                                    name: "photo.heic", outputDirectory: out)
        let result = WorkerMain.handle(request, registry: .standard()) { _ in }
        #expect(result.status == .unsupported)
        #expect(result.error?.contains("HEIC images need FFmpeg 6.1") == true)
        #expect(result.artifacts == [])
    }

    // MARK: Hostile and odd input

    @Test func truncatedAndMoovAtEndFilesEndWithAClearErrorOrAPartialResult() throws {
        let whole = try make("whole.mp4", ["testsrc2=s=320x240:r=25:d=6", "sine=d=6"], ["-c:v", "libx264", "-c:a", "aac"])
        let data = try Data(contentsOf: URL(fileURLWithPath: whole))
        // ffmpeg writes the moov at the end: cut, the index is gone.
        let cut = try bytes("cut.mp4", Array(data.prefix(data.count / 2)))
        #expect(try TypeDetector.detect(path: cut) == "video/mp4")
        #expect {
            _ = try runProcessor(MediaExtractProcessor(), cut, mediaType: "video/mp4", in: dir)
        } throws: { "\($0)".contains("moov atom not found") || "\($0)".contains("not a media file") }
        // With the moov first (faststart), a cut file still has its index: metadata and a thumbnail.
        let fast = dir.path + "/fast.mp4"
        try ffmpeg(["-i", whole, "-c", "copy", "-movflags", "+faststart", fast])
        let fastData = try Data(contentsOf: URL(fileURLWithPath: fast))
        let fastCut = try bytes("fastcut.mp4", Array(fastData.prefix(fastData.count * 6 / 10)))
        let m = try metadata(fastCut, "video/mp4")
        #expect((m["streams"] as? [[String: Any]])?.count == 2)
        #expect(try thumbnail(fastCut, "video/mp4") == (320, 240))
    }

    @Test func noDurationAndUndecodableAudioAreListedAsProblems() throws {
        // A raw H.264 stream has no container duration.
        let raw = try make("raw.h264", ["testsrc2=s=160x120:r=25:d=2"], ["-c:v", "libx264", "-f", "h264"])
        let m = try metadata(raw, "video/mp4")
        #expect((m["problems"] as? [String])?.contains("the container does not say how long it is") == true)
        #expect(try thumbnail(raw, "video/mp4") == (160, 120))
        // A Matroska video whose audio codec id is one no decoder knows (A_AAC → A_ZZZ).
        let mkv = try make("badaudio.mkv", ["testsrc2=s=160x120:r=25:d=2", "sine=d=2"], ["-c:v", "libx264", "-c:a", "aac"])
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: mkv)))
        let needle = Array("A_AAC".utf8)
        let at = try #require((0..<(bytes.count - 5)).first { Array(bytes[$0..<$0 + 5]) == needle })
        bytes.replaceSubrange(at..<at + 5, with: Array("A_ZZZ".utf8))
        let bad = try self.bytes("badaudio2.mkv", bytes)
        let problems = try #require(try metadata(bad, "video/x-matroska")["problems"] as? [String])
        #expect(problems.contains { $0.hasPrefix("stream 1 (none)") && $0.contains("no decoder") })
        #expect(try thumbnail(bad, "video/x-matroska") == (160, 120))
    }

    @Test func giantDimensionsAndBombsAreRefusedBeforeDecoding() throws {
        // A GIF whose logical screen is 65,535 × 65,535 with one 1×1 frame.
        var gif = Array("GIF89a".utf8) + [0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0, 0] + [0, 0, 0, 255, 255, 255]
        gif += [0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B]
        let bomb = try bytes("bomb.gif", gif)
        #expect {
            _ = try runProcessor(MediaThumbnailProcessor(), bomb, mediaType: "image/gif", in: dir)
        } throws: { "\($0)".contains("65535×65535 pixels, more than the limit") }
        // A PNG header claiming 65,535 × 65,535.
        let png = try python("""
            import struct, zlib, sys
            def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
            data = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 65535, 65535, 8, 2, 0, 0, 0))
            data += chunk(b'IDAT', zlib.compress(b'\\0' * 1000)) + chunk(b'IEND', b'')
            open(sys.argv[1], 'wb').write(data)
            print(sys.argv[1])
            """, [dir.path + "/huge.png"]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect {
            _ = try runProcessor(MediaThumbnailProcessor(), png, mediaType: "image/png", in: dir)
        } throws: { "\($0)".contains("more than the limit") }
        let m = try metadata(png, "image/png")
        #expect((m["image"] as? [String: Any])?["width"] as? Int == 65535)
    }

    @Test func aFakeFortySevenHourDurationStaysWithinTheLimits() throws {
        let path = try make("fake.mp4", ["testsrc2=s=160x120:r=25:d=3"], ["-c:v", "libx264", "-movflags", "+faststart"])
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        // mvhd (version 0): duration at +24 of the box, in its timescale at +20.
        let at = try #require((0..<(bytes.count - 4)).first { Array(bytes[$0..<$0 + 4]) == Array("mvhd".utf8) })
        let scale = Int(MediaSignatures.be32(bytes, at + 16))
        let fake = UInt32(47 * 3600 * scale)
        bytes.replaceSubrange((at + 20)..<(at + 24), with: [UInt8(fake >> 24), UInt8(fake >> 16 & 0xFF), UInt8(fake >> 8 & 0xFF), UInt8(fake & 0xFF)])
        let patched = try self.bytes("fake47.mp4", bytes)
        let started = Date()
        let m = try metadata(patched, "video/mp4")
        #expect((m["duration"] as? Double ?? 0) > 40 * 3600)
        #expect(try thumbnail(patched, "video/mp4") == (160, 120))
        #expect(Date().timeIntervalSince(started) < 20)
    }

    @Test func brokenEBMLIsAClearError() throws {
        let mkv = try make("v.mkv", ["testsrc2=s=160x120:r=25:d=1"], ["-c:v", "libx264"])
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: mkv)))
        for i in 4..<64 { bytes[i] = 0xFF }
        let broken = try self.bytes("broken.mkv", bytes)
        #expect(try TypeDetector.detect(path: broken) == "video/x-matroska")
        #expect(throws: DocumentError.self) {
            _ = try runProcessor(MediaExtractProcessor(), broken, mediaType: "video/x-matroska", in: dir)
        }
        let empty = try self.bytes("zero.mkv", Array(bytes.prefix(4)))
        #expect(throws: DocumentError.self) {
            _ = try runProcessor(MediaThumbnailProcessor(), empty, mediaType: "video/x-matroska", in: dir)
        }
    }
}
