import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Synchronization
import Testing

/// Subtitle files beside a recording, as the runner hands them to the transcript job
/// ("sidecar:NAME" inputs): each becomes subtitles.<lang>.vtt, and the transcript comes from
/// one of them unless the recording has a default subtitle track of its own.
@Suite struct SidecarSubtitleTests {
    let dir: TempDir

    init() throws { dir = try TempDir() }

    func process(_ video: String, sidecars: [String: [UInt8]]) throws -> (kinds: [String], out: String, message: String) {
        var inputs: [String: String] = [:]
        for (i, name) in sidecars.keys.sorted().enumerated() {
            let path = dir.path + "/input-\(i)"
            try Data(sidecars[name]!).write(to: URL(fileURLWithPath: path))
            inputs["sidecar:" + name] = path
        }
        let out = dir.path + "/out-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let messages = ProgressLog()
        let produced = try TranscriptProcessor().process(ProcessorInput(path: video, mediaType: "video/mp4", name: "talk.mp4",
                                                                        outputDirectory: out, inputs: inputs,
                                                                        progress: { _, text in messages.add(text) }))
        return (produced.map(\.kind), out, messages.last)
    }

    @Test func sidecarsBecomeSubtitlesAndTheTranscript() throws {
        let video = dir.path + "/talk.mp4"
        try makeMedia(video, inputs: ["testsrc2=s=160x90:r=10:d=3"], output: ["-c:v", "libx264"])
        // An English SubRip file in Windows-1252, a German WebVTT file, and one that holds no cue.
        let srt: [UInt8] = Array("1\r\n00:00:01,000 --> 00:00:02,000\r\nCaf".utf8) + [0xE9] + Array(" opens\r\n\r\n".utf8)
            + Array("2\r\n00:00:02,500 --> 00:00:03,000\r\n<i>at nine</i>\r\n".utf8)
        let vtt = Array("WEBVTT\n\n00:01.000 --> 00:02.000\nDas Café öffnet\n".utf8)
        let result = try process(video, sidecars: ["talk.en.srt": srt, "talk.de.vtt": vtt, "talk.broken.srt": Array("no cues\n".utf8)])
        #expect(result.kinds == ["subtitles.deu.vtt", "subtitles.eng.vtt", "transcript.vtt", "transcript.txt"])
        #expect(try String(contentsOfFile: result.out + "/subtitles.eng.vtt", encoding: .utf8)
                == "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nCafé opens\n\n00:00:02.500 --> 00:00:03.000\n<i>at nine</i>\n")
        // In name order the German file comes first: it is the transcript's source.
        #expect(try String(contentsOfFile: result.out + "/transcript.txt", encoding: .utf8) == "Das Café öffnet\n")
        #expect(result.message.contains("transcript from the subtitle file talk.de.vtt"))
        #expect(result.message.contains("talk.broken.srt not read: no srt cue in the file"))
    }

    @Test func aDefaultEmbeddedTrackStaysTheTranscriptsSource() throws {
        let srt = dir.path + "/embedded.srt", video = dir.path + "/film.mkv"
        try "1\n00:00:00,500 --> 00:00:01,500\nEmbedded words\n".write(toFile: srt, atomically: true, encoding: .utf8)
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=2", "-i", srt, "-map", "0", "-map", "1", "-c:v", "libx264",
                    "-c:s", "srt", "-metadata:s:s:0", "language=eng", "-disposition:s:0", "default", video])
        let result = try process(video, sidecars: ["film.en.srt": Array("1\n00:00:01,000 --> 00:00:02,000\nSidecar words\n".utf8)])
        // Both English: the sidecar's is numbered after the embedded one.
        #expect(result.kinds == ["subtitles.eng.vtt", "subtitles.eng.2.vtt", "transcript.vtt", "transcript.txt"])
        #expect(try String(contentsOfFile: result.out + "/transcript.txt", encoding: .utf8) == "Embedded words\n")
        #expect(try String(contentsOfFile: result.out + "/subtitles.eng.2.vtt", encoding: .utf8).contains("Sidecar words"))
    }
}

/// The progress messages a processor sends, from whichever thread.
final class ProgressLog: Sendable {
    private let texts = Mutex<[String]>([])
    func add(_ text: String) { texts.withLock { $0.append(text) } }
    var last: String { texts.withLock { $0.last ?? "" } }
}
