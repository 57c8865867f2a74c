import CFFmpeg
import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing

/// Seek previews made from videos Debian's ffmpeg makes here, read back through libavcodec.
@Suite struct StoryboardTests {
    let dir: TempDir

    init() throws { dir = try TempDir() }

    /// A picture read back from a JPEG the storyboard wrote.
    func decode(_ jpeg: [UInt8]) throws -> Picture {
        let file = dir.path + "/sheet-\(UUID().uuidString).jpg"
        try Data(jpeg).write(to: URL(fileURLWithPath: file))
        let input = try MediaInput(path: file)
        let decoder = try Decoder(input: input, streamIndex: 0)
        let packet = Packet(), frame = Frame()
        var picture: Picture?
        while picture == nil, try input.read(into: packet) {
            try decoder.decode(packet, into: frame) { frame in
                picture = try Picture(frame: frame, width: frame.width, height: frame.height)
                return false
            }
        }
        return try #require(picture)
    }

    func luma(_ picture: Picture, x: Int, y: Int) -> Double {
        let i = (y * picture.width + x) * 3
        return 0.299 * Double(picture.pixels[i]) + 0.587 * Double(picture.pixels[i + 1]) + 0.114 * Double(picture.pixels[i + 2])
    }

    /// 120 s whose brightness is 2 × the time (a keyframe each second): tiles 2 s apart, each
    /// showing its own instant, from about one decoded keyframe per tile.
    @Test func tilesShowTheirInstantFromKeyframesOnly() throws {
        let path = dir.path + "/ramp.mp4"
        try makeMedia(path, inputs: ["color=c=black:s=160x90:r=25:d=120,geq=lum='min(240\\,2*T)':cb=128:cr=128"],
                      output: ["-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p"])
        var fractions: [Double] = []
        let output = try StoryboardMaker.make(path: path) { fractions.append($0) }
        let plan = output.plan
        #expect(plan.interval == 2 && plan.tiles.count == 60)
        #expect(plan.tileWidth == 320 && plan.tileHeight == 180)
        #expect(output.sheets.count == 1)
        #expect(output.decodedFrames <= 62, "decoded \(output.decodedFrames) frames for 60 tiles")
        #expect(fractions.count == 60 && fractions.last == 1)
        let sheet = try decode(output.sheets[0])
        #expect(sheet.width == 3200 && sheet.height == 6 * 180)
        for tile in plan.tiles {
            // Limited-range luma L becomes full-range grey (L − 16) × 255 / 219 in RGB.
            let expected = max(0, (min(240, 2 * tile.time) - 16) * 255 / 219)
            let seen = luma(sheet, x: tile.x + 160, y: tile.y + 90)
            #expect(abs(seen - expected) < 12, "tile at \(tile.time) s shows \(seen), not \(expected)")
        }
    }

    /// A video shown upright although stored turned: the tiles are portrait.
    @Test func rotationIsApplied() throws {
        let plain = dir.path + "/plain.mp4", path = dir.path + "/turned.mp4"
        try makeMedia(plain, inputs: ["testsrc2=s=320x180:r=25:d=5"], output: ["-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p"])
        try ffmpeg(["-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=270", path])
        let output = try StoryboardMaker.make(path: path)
        #expect(output.plan.tileWidth == 320 && output.plan.tileHeight == 568)
        #expect(output.plan.tiles.count == 5)
        let sheet = try decode(output.sheets[0])
        #expect(sheet.width == 5 * 320 && sheet.height == 568)
    }

    /// The processor writes the sheets and a VTT naming them; audio alone is refused as unsupported.
    @Test func processorWritesSheetsAndVTT() throws {
        let path = dir.path + "/talk.mkv"
        try makeMedia(path, inputs: ["testsrc2=s=640x360:r=10:d=30"], output: ["-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p"])
        let out = dir.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let produced = try StoryboardProcessor().process(ProcessorInput(path: path, mediaType: "video/x-matroska", name: "talk.mkv",
                                                                         parameters: ["interval": .int(10), "width": .int(160)],
                                                                         outputDirectory: out))
        #expect(produced.map(\.kind) == ["storyboard.jpg", "storyboard.vtt"])
        let vtt = try String(contentsOfFile: out + "/storyboard.vtt", encoding: .utf8)
        #expect(vtt.hasPrefix("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nstoryboard.jpg#xywh=0,0,160,90\n"))
        #expect(vtt.hasSuffix("00:00:29.000 --> 00:00:30.000\nstoryboard.jpg#xywh=1440,180,160,90\n"))
        let sheet = try decode(Array(try Data(contentsOf: URL(fileURLWithPath: out + "/storyboard.jpg"))))
        #expect(sheet.width == 1600 && sheet.height == 270)

        let audio = dir.path + "/tone.m4a"
        try makeMedia(audio, inputs: ["sine=f=440:d=2"], output: ["-c:a", "aac"])
        #expect(throws: MediaUnsupported.self) { _ = try StoryboardMaker.make(path: audio) }
        #expect(throws: DocumentError.self) {
            _ = try StoryboardProcessor().process(ProcessorInput(path: path, mediaType: "video/mp4", name: "x",
                                                                 parameters: ["width": .int(5000)], outputDirectory: out))
        }
    }
}

/// Embedded text subtitles, muxed here by Debian's ffmpeg from SubRip and ASS files.
@Suite struct EmbeddedSubtitleTests {
    let dir: TempDir

    init() throws { dir = try TempDir() }

    @Test func textStreamsBecomeWebVTTAndTheDefaultOneTheTranscript() throws {
        let srt = dir.path + "/en.srt", ass = dir.path + "/de.ass", path = dir.path + "/film.mkv"
        try "1\n00:00:01,000 --> 00:00:02,500\n<i>Hello</i> & welcome\n\n2\n00:00:03,000 --> 00:00:04,000\nSecond line\n"
            .write(toFile: srt, atomically: true, encoding: .utf8)
        try """
            [Script Info]
            ScriptType: v4.00+

            [V4+ Styles]
            Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
            Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1

            [Events]
            Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
            Dialogue: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,{\\i1}Guten{\\i0} Tag\\Nzusammen

            """.write(toFile: ass, atomically: true, encoding: .utf8)
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=5", "-i", srt, "-i", ass, "-map", "0", "-map", "1", "-map", "2",
                    "-c:v", "libx264", "-c:s:0", "srt", "-c:s:1", "ass", "-metadata:s:s:0", "language=eng",
                    "-metadata:s:s:1", "language=deu", "-disposition:s:0", "0", "-disposition:s:1", "default", path])
        let tracks = try EmbeddedSubtitles.read(path: path)
        #expect(tracks.map(\.language) == ["eng", "deu"])
        #expect(tracks[0].cues == [TimedText(start: 1, end: 2.5, text: "Hello &amp; welcome"),
                                   TimedText(start: 3, end: 4, text: "Second line")])
        #expect(tracks[1].cues == [TimedText(start: 2, end: 3, text: "Guten Tag\nzusammen")])

        let out = dir.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let produced = try TranscriptProcessor().process(ProcessorInput(path: path, mediaType: "video/x-matroska", name: "film.mkv",
                                                                        outputDirectory: out))
        #expect(produced.map(\.kind) == ["subtitles.eng.vtt", "subtitles.deu.vtt", "transcript.vtt", "transcript.txt"])
        #expect(try String(contentsOfFile: out + "/subtitles.eng.vtt", encoding: .utf8)
                == "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello &amp; welcome\n\n00:00:03.000 --> 00:00:04.000\nSecond line\n")
        // The default track (German) is the transcript's source.
        #expect(try String(contentsOfFile: out + "/transcript.txt", encoding: .utf8) == "Guten Tag zusammen\n")
    }

    @Test func movTextInMP4IsRead() throws {
        let srt = dir.path + "/a.srt", path = dir.path + "/phone.mp4"
        try "1\n00:00:00,500 --> 00:00:01,500\nmov_text works\n".write(toFile: srt, atomically: true, encoding: .utf8)
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=3", "-i", srt, "-c:v", "libx264", "-c:s", "mov_text", path])
        let tracks = try EmbeddedSubtitles.read(path: path)
        #expect(tracks.count == 1 && tracks[0].codec == "mov_text")
        #expect(tracks[0].cues == [TimedText(start: 0.5, end: 1.5, text: "mov_text works")])
        #expect(EmbeddedSubtitles.artifactNames(tracks + tracks) == ["subtitles.und.vtt", "subtitles.und.2.vtt"])
    }

    @Test func aVideoWithoutSubtitlesGivesNoArtifact() throws {
        let path = dir.path + "/plain.mp4"
        try makeMedia(path, inputs: ["testsrc2=s=160x90:r=10:d=1"], output: ["-c:v", "libx264"])
        let out = dir.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        #expect(try TranscriptProcessor().process(ProcessorInput(path: path, mediaType: "video/mp4", name: "plain.mp4",
                                                                outputDirectory: out)).isEmpty)
    }
}

/// waveform.png from audio Debian's ffmpeg makes: silence then a loud tone.
@Suite struct WaveformTests {
    let dir: TempDir

    init() throws { dir = try TempDir() }

    @Test func envelopeFollowsLoudness() throws {
        let path = dir.path + "/talk.m4a"
        // 2 s of silence, then 2 s of a full-scale-ish 440 Hz tone.
        try makeMedia(path, inputs: ["aevalsrc='if(lt(t\\,2)\\,0\\,0.9*sin(2*PI*440*t))':s=44100:d=4"],
                      output: ["-c:a", "aac", "-b:a", "128k"])
        let peaks = try WaveformMaker.peaks(path: path)
        let columns = peaks.columns(100)
        #expect(columns[10].high < 0.05 && columns[10].low > -0.05, "silence: \(columns[10])")
        #expect(columns[80].high > 0.7 && columns[80].low < -0.7, "the tone: \(columns[80])")

        let out = dir.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let produced = try WaveformProcessor().process(ProcessorInput(path: path, mediaType: "audio/mp4", name: "talk.m4a",
                                                                       parameters: ["width": .int(400), "height": .int(100)],
                                                                       outputDirectory: out))
        #expect(produced.map(\.kind) == ["waveform.png"])
        let png = out + "/waveform.png"
        let input = try MediaInput(path: png)
        #expect(input.streams.first?.codecName == "png" && input.streams.first?.width == 400 && input.streams.first?.height == 100)
        let decoder = try Decoder(input: input, streamIndex: 0)
        let packet = Packet(), frame = Frame()
        var picture: Picture?
        while picture == nil, try input.read(into: packet) {
            try decoder.decode(packet, into: frame) { picture = try Picture(frame: $0, width: 400, height: 100); return false }
        }
        let image = try #require(picture)
        func isInk(_ x: Int, _ y: Int) -> Bool { image.pixels[(y * 400 + x) * 3] < 128 }
        #expect(!isInk(100, 10) && !isInk(100, 90), "silence draws only the zero line")
        #expect(isInk(300, 10) && isInk(300, 90), "the tone fills most of the height")
    }

    @Test func peaksStayBoundedForLongRecordings() {
        var peaks = WaveformPeaks(sampleRate: 100)  // one sample a bucket
        peaks.add([Float](repeating: 0.5, count: WaveformPeaks.maxBuckets + 10))
        #expect(peaks.low.count <= WaveformPeaks.maxBuckets / 2 + 10)
        #expect(peaks.samplesPerBucket == 2)
        #expect(peaks.columns(4).allSatisfy { $0.high == 0.5 })
    }
}
