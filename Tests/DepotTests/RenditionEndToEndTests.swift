import DepotCore
import DepotQueue
import DepotTestSupport
import Foundation
import Testing

/// Renditions as a user meets them, through the real `depot serve` and its workers: a
/// collection that asks for web renditions gets one for every video it receives (and none
/// for its audio; other collections none); a person asks through the API (202, the job ends
/// succeeded with the artifact in the outbox) and the CLI; what cannot be done is 422 with why.
@Suite(.serialized, .tags(.slow), .slowTest) struct RenditionEndToEndTests {
    func json(_ data: Data) throws -> [String: Any] {
        try #require(try parseJSON(String(decoding: data, as: UTF8.self)) as? [String: Any])
    }

    /// The error message of an API answer.
    func message(_ data: Data) -> String? {
        (try? parseJSON(String(decoding: data, as: UTF8.self)) as? [String: Any])?["message"] as? String
    }

    func codec(_ path: String) throws -> [String] {
        let out = try ffprobe(["-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", path])
        return String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test func collectionsAskForWebRenditionsAndPeopleForOthers() throws {
        let port = freePort()
        let root = try DemoRoot(quietPeriod: "0s", extra: """
            [http]
            port = \(port)
            [jobs]
            max_attempts = 1
            [jobs.kinds.rendition]
            automatic = ["lectures"]
            [jobs.kinds.rendition.collections.lectures]
            preset = "ultrafast"
            """)
        let clip = root.path + "/clip.mp4", song = root.path + "/song.m4a"
        try makeMedia(clip, inputs: ["testsrc2=s=640x360:r=25:d=3", "sine=d=3"], output: ["-c:v", "libx264", "-preset", "ultrafast",
                                                                                            "-pix_fmt", "yuv420p", "-c:a", "aac"])
        try makeMedia(song, inputs: ["sine=f=330:d=2"], output: ["-c:a", "aac"])
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: clip)))
        let server = try root.serve()
        try root.drop("lectures/clip.mp4", bytes)
        try root.drop("lectures/song.m4a", Array(try Data(contentsOf: URL(fileURLWithPath: song))))
        try root.drop("screencasts/clip.mp4", bytes)

        // Without asking: the lectures' video gets its web rendition, at the source's size (never enlarged).
        let web = root.layout.outbox + "/lectures/clip.mp4/rendition-video-720p.mp4"
        #expect(waitUntil(seconds: 120) { FileManager.default.fileExists(atPath: web) }, "\(server.stderr.suffix(3000))")
        #expect(try codec(web) == ["h264,640,360", "aac"])
        let queue = try root.queue()
        let all = try queue.records(try queue.jobs(oldestFirst: true))
        let renditions = all.filter { $0.kind == "rendition" }
        #expect(renditions.count == 1 && renditions.first?.collection == "lectures" && renditions.first?.path == "clip.mp4")
        #expect(renditions.first?.state == .succeeded && renditions.first?.progress == 100)
        #expect(renditions.first?.progressMessage?.hasPrefix("H.264 640×360") == true, "\(renditions.first?.progressMessage ?? "")")
        // The manifest lists it with the others.
        let manifest = try json(try Data(contentsOf: URL(fileURLWithPath: root.layout.outbox + "/lectures/clip.mp4/manifest.json")))
        #expect((manifest["artifacts"] as? [[String: Any]])?.contains { $0["kind"] as? String == "rendition-video-720p.mp4" } == true)

        // A person asks for Opus audio through the API: 202 with the job, which ends succeeded with its artifact.
        let token = try depot(["token", "create", "--root", root.path, "--scope", "admin"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let auth = ["-H", "Authorization: Bearer \(token)"]
        let api = "http://127.0.0.1:\(port)/api/v1"
        let documents = try json(try curl(auth + ["\(api)/documents?collection=lectures"]).body)["items"] as? [[String: Any]] ?? []
        let clipID = try #require(documents.first { $0["path"] as? String == "clip.mp4" }?["id"] as? Int)
        let songID = try #require(documents.first { $0["path"] as? String == "song.m4a" }?["id"] as? Int)
        let asked = try curl(auth + ["-X", "POST", "-H", "Content-Type: application/json",
                                     "-d", #"{"parameters": {"output": "audio", "audio_codec": "opus"}}"#, "\(api)/documents/\(clipID)/renditions"])
        #expect(asked.code == 202, "\(String(decoding: asked.body, as: UTF8.self))")
        let job = try json(asked.body)
        #expect(job["kind"] as? String == "rendition" && job["priority"] as? Int == 100 && job["queued_by"] as? String == "api")
        let jobID = try #require(job["id"] as? Int)
        var finished: [String: Any] = [:]
        #expect(waitUntil(seconds: 60) {
            finished = (try? json(try curl(auth + ["\(api)/jobs/\(jobID)"]).body)) ?? [:]
            return finished["state"] as? String == "succeeded"
        }, "\(finished) \(server.stderr.suffix(2000))")
        #expect(finished["progress"] as? Int == 100)
        let versionID = try #require(job["version_id"] as? Int)
        let artifacts = try json(try curl(auth + ["\(api)/versions/\(versionID)/artifacts"]).body)["items"] as? [[String: Any]] ?? []
        #expect(artifacts.contains { $0["kind"] as? String == "rendition-audio.opus" && $0["mime_type"] as? String == "audio/ogg" })
        let opus = root.layout.outbox + "/lectures/clip.mp4/rendition-audio.opus"
        #expect(waitUntil(seconds: 30) { FileManager.default.fileExists(atPath: opus) })
        #expect(try codec(opus) == ["opus"])

        // What cannot be done is refused at once, with why.
        let bad = try curl(auth + ["-X", "POST", "-d", #"{"parameters": {"output": "gif"}}"#, "\(api)/documents/\(clipID)/renditions"])
        #expect(bad.code == 422 && message(bad.body) == "output must be one of video, audio, frame")
        let mixed = try curl(auth + ["-X", "POST", "-d", #"{"parameters": {"audio_codec": "opus"}}"#, "\(api)/documents/\(clipID)/renditions"])
        #expect(mixed.code == 422 && message(mixed.body)
                == "a video rendition is an H.264/AAC MP4: audio_codec opus is for output audio")
        let audio = try curl(auth + ["-X", "POST", "\(api)/documents/\(songID)/renditions"])
        #expect(audio.code == 422 && message(audio.body)
                == "audio/mp4 is audio: it has no pictures for a video rendition (ask for output audio)")
        #expect(try curl(auth + ["-X", "POST", "\(api)/documents/999999/renditions"]).code == 404)

        // The CLI queues a frame the same way.
        let cli = try depot(["render", "--root", root.path, "lectures/clip.mp4", "--output", "frame", "--time", "1.5", "--json"])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect((try parseJSON(cli.stdout) as? [String: Any])?["queued_by"] as? String == "cli")
        let frame = root.layout.outbox + "/lectures/clip.mp4/rendition-frame-1.5s.jpg"
        #expect(waitUntil(seconds: 60) { FileManager.default.fileExists(atPath: frame) }, "\(server.stderr.suffix(2000))")
        #expect(try codec(frame) == ["mjpeg,640,360"])
        let refused = try depot(["render", "--root", root.path, "lectures/song.m4a"])
        #expect(refused.status != 0 && refused.stderr.contains("audio/mp4 is audio"))

        // Nothing for the screencasts' video, which nobody asked a rendition of.
        let screencast = try queue.records(try queue.jobs(oldestFirst: true)).filter { $0.collection == "screencasts" }
        #expect(!screencast.isEmpty && !screencast.contains { $0.kind == "rendition" })
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    @Test func aLocalFileIsRenderedInThisProcess() throws {
        let root = try DemoRoot()
        let dir = root.path
        let clip = dir + "/clip.mp4"
        try makeMedia(clip, inputs: ["testsrc2=s=320x240:r=25:d=1", "sine=d=1"], output: ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"])
        let made = try depot(["render", "--file", clip, "--out", dir + "/out", "--height", "120", "--preset", "ultrafast"])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.hasPrefix("rendition-video-120p.mp4\tvideo/mp4\tdepot-rendition "))
        #expect(try codec(dir + "/out/rendition-video-120p.mp4") == ["h264,160,120", "aac"])
        let bad = try depot(["render", "--file", clip, "--out", dir + "/out2", "--crf", "99"])
        #expect(bad.status != 0 && bad.stderr.contains("crf must be from 0 to 51"))
    }
}
