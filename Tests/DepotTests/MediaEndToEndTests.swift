import DepotCore
import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// Video and images through the real `depot serve` and its `depot-worker` processes: a video
/// gets metadata.json and thumbnail.jpg; a HEIC photo ends "unsupported", shown as such by
/// `depot jobs`, with the reason.
@Suite(.serialized, .tags(.slow), .slowTest) struct MediaEndToEndTests {
    @Test func aVideoIsProcessedAndAHEICIsUnsupportedNotSucceeded() throws {
        let root = try DemoRoot(quietPeriod: "0s", extra: """
            [jobs]
            max_attempts = 1
            timeout = "60s"
            [jobs.concurrency]
            documents = 1
            images = 1
            audio = 1
            video = 1
            other = 1
            """)
        let clip = root.path + "/clip.mp4"
        try makeMedia(clip, inputs: ["testsrc2=s=640x360:r=25:d=3", "sine=d=3"], output: ["-c:v", "libx264", "-c:a", "aac"])
        let server = try root.serve()
        try root.drop("lectures/clip.mp4", Array(try Data(contentsOf: URL(fileURLWithPath: clip))))
        // A HEIC's ftyp box and nothing FFmpeg 5.1 can show.
        try root.drop("photos/photo.heic", [0, 0, 0, 24] + Array("ftypheic".utf8) + [0, 0, 0, 0] + Array("mif1heic".utf8)
                      + [UInt8](repeating: 0, count: 64))
        let queue = try root.queue()
        func jobs() throws -> [JobRecord] { try queue.records(try queue.jobs(oldestFirst: true)) }
        #expect(waitUntil(seconds: 90) { ((try? jobs()) ?? []).count == 6 && ((try? jobs()) ?? []).allSatisfy { $0.state.isFinished } },
                "\(server.stderr.suffix(3000))")
        let rows = try jobs()
        let video = rows.filter { $0.path == "clip.mp4" }, photo = rows.filter { $0.path == "photo.heic" }
        #expect(video.map(\.kind) == ["extract", "thumbnail", "storyboard", "transcript"])
        #expect(video.allSatisfy { $0.state == .succeeded && $0.outcome == JobOutcome.processed && $0.mediaClass == "video" })
        let artifacts = try root.catalog().artifacts(versionID: try #require(video.first).versionID).map(\.kind)
        // No subtitles and no [speech] endpoint: the transcript job makes nothing.
        #expect(artifacts.sorted() == ["metadata.json", "storyboard.jpg", "storyboard.vtt", "thumbnail.jpg"])
        // …and the manifest says why.
        let manifestPath = root.layout.outbox + "/lectures/clip.mp4/manifest.json"
        #expect(waitUntil(seconds: 30) {
            let manifest = (try? Data(contentsOf: URL(fileURLWithPath: manifestPath))).flatMap { try? parseJSON(String(decoding: $0, as: UTF8.self)) }
            let jobs = ((manifest as? [String: Any])?["processing"] as? [String: Any])?["jobs"] as? [[String: Any]] ?? []
            let transcript = jobs.first { $0["kind"] as? String == "transcript" }
            return (transcript?["message"] as? String)?.contains("no transcript: no text subtitles, and speech to text is not configured") == true
        }, "\((try? String(contentsOfFile: manifestPath, encoding: .utf8)) ?? "no manifest")")
        #expect(photo.count == 2 && photo.allSatisfy { $0.outcome == JobOutcome.unsupported && $0.mediaClass == "images" })
        #expect(photo.allSatisfy { $0.progressMessage?.contains("HEIC images need FFmpeg 6.1") == true })
        #expect(try queue.status(versionID: try #require(photo.first).versionID) == .unsupported)

        let table = try depot(["jobs", "--root", root.path])
        #expect(table.status == 0)
        let heicLines = table.stdout.split(separator: "\n").filter { $0.contains("photo.heic") }
        #expect(heicLines.count == 2)
        #expect(heicLines.allSatisfy { $0.contains(" unsupported ") && !$0.contains("succeeded") && $0.contains("HEIC images need") })
        let clipLines = table.stdout.split(separator: "\n").filter { $0.contains("clip.mp4") }
        #expect(clipLines.count == 4 && clipLines.allSatisfy { $0.contains(" succeeded ") })
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    /// A subtitle file dropped after its video queues the video's transcript again, which
    /// then comes from it; a video dropped after its subtitle file reads it at once.
    @Test func aSubtitleFileBesideAVideoGivesItsTranscript() throws {
        let root = try DemoRoot(quietPeriod: "0s", extra: """
            [jobs]
            max_attempts = 1
            timeout = "60s"
            """)
        let clip = root.path + "/clip.mp4"
        try makeMedia(clip, inputs: ["testsrc2=s=320x180:r=25:d=2"], output: ["-c:v", "libx264"])
        let video = Array(try Data(contentsOf: URL(fileURLWithPath: clip)))
        let server = try root.serve()
        let queue = try root.queue()
        func jobs(_ path: String) throws -> [JobRecord] {
            try queue.records(try queue.jobs(oldestFirst: true)).filter { $0.path == path }
        }
        func finished(_ path: String, _ count: Int) -> Bool {
            let rows = (try? jobs(path)) ?? []
            return rows.count == count && rows.allSatisfy { $0.state.isFinished }
        }
        try root.drop("lectures/week1/talk.mp4", video)
        #expect(waitUntil(seconds: 90) { finished("week1/talk.mp4", 4) }, "\(server.stderr.suffix(3000))")
        #expect(try jobs("week1/talk.mp4").last?.progressMessage?.contains("no transcript") == true)

        try root.drop("lectures/week1/talk.en.srt", Array("1\n00:00:00,500 --> 00:00:01,500\nWelcome to week one\n".utf8))
        #expect(waitUntil(seconds: 90) { finished("week1/talk.mp4", 5) }, "\(server.stderr.suffix(3000))")
        let again = try #require(try jobs("week1/talk.mp4").last)
        #expect(again.kind == "transcript" && again.queuedBy == "sidecar" && again.state == .succeeded)
        #expect(again.progressMessage?.contains("transcript from the subtitle file talk.en.srt") == true)
        let kinds = try root.catalog().artifacts(versionID: again.versionID).map(\.kind)
        #expect(Set(kinds).isSuperset(of: ["subtitles.eng.vtt", "transcript.vtt", "transcript.txt"]))
        // Published beside the video's other results.
        let published = root.layout.outbox + "/lectures/week1/talk.mp4/transcript.txt"
        #expect(waitUntil(seconds: 30) { (try? String(contentsOfFile: published, encoding: .utf8)) == "Welcome to week one\n" },
                "\((try? FileManager.default.contentsOfDirectory(atPath: root.layout.outbox + "/lectures/week1/talk.mp4")) ?? [])")

        // The other order: the subtitle file first, then its video.
        try root.drop("lectures/week2/intro.srt", Array("1\n00:00:00,200 --> 00:00:01,000\nWeek two\n".utf8))
        #expect(waitUntil(seconds: 30) { (try? root.catalog().currentVersion(collection: "lectures", path: "week2/intro.srt")) != nil })
        try root.drop("lectures/week2/intro.mp4", video)
        #expect(waitUntil(seconds: 90) { finished("week2/intro.mp4", 4) }, "\(server.stderr.suffix(3000))")
        let transcript = try #require(try jobs("week2/intro.mp4").last)
        #expect(transcript.kind == "transcript" && transcript.queuedBy == "pipeline")
        #expect(try root.catalog().artifacts(versionID: transcript.versionID).contains { $0.kind == "subtitles.und.vtt" })
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }
}
