import DepotCore
@testable import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// The rendition kind in the queue: never in a version's pipeline unless its collection asks,
/// a person's request checked whole (and against the file's type) before it is queued, and
/// limits of its own.
@Suite struct RenditionJobTests {
    static let chooser: ProcessorChooser = { kind, mediaType in
        switch kind {
        case "extract": return "p-extract"
        case "rendition": return mediaType.hasPrefix("video/") || mediaType.hasPrefix("audio/") ? "p-rendition" : nil
        default: return nil
        }
    }

    func fixture(_ toml: String = "") throws -> QueueFixture {
        let settings = try DepotConfig.parse(toml: toml, source: "depot.toml", sections: [JobsSettings.self])[JobsSettings.self]
        return try QueueFixture(.sqliteFile, settings: settings, chooser: Self.chooser)
    }

    @Test func noVersionGetsARenditionUnlessItsCollectionAsks() throws {
        let f = try fixture("""
            [jobs.kinds.rendition]
            automatic = ["lectures"]
            [jobs.kinds.rendition.collections.lectures]
            crf = 28
            """)
        let lecture = try f.add("a.mp4", "v", type: "video/mp4", collection: "lectures")
        let other = try f.add("b.mp4", "v", type: "video/mp4", collection: "inbox")
        let talk = try f.add("c.m4a", "a", type: "audio/mp4", collection: "lectures")
        let jobs = try f.queue.jobs(ofVersion: lecture.id)
        // After the video's own pipeline, waiting for its extract.
        #expect(jobs.map(\.kind) == ["extract", "thumbnail", "storyboard", "transcript", "rendition"])
        let rendition = jobs[4]
        #expect(rendition.state == .waiting && rendition.waitsFor == [jobs[0].id] && rendition.priority == -40)
        #expect(rendition.queuedBy == "pipeline")
        // The web rendition by default, with what the collection's table changes.
        #expect(rendition.parameters["output"] == .string("video") && rendition.parameters["height"] == .int(720))
        #expect(rendition.parameters["crf"] == .int(28) && rendition.parameters["audio_codec"] == .string("aac"))
        #expect(try f.queue.jobs(ofVersion: other.id).map(\.kind) == ["extract", "thumbnail", "storyboard", "transcript"])
        // Video only: the collection's audio gets none.
        #expect(try f.queue.jobs(ofVersion: talk.id).map(\.kind) == ["extract", "thumbnail", "waveform", "transcript"])
        #expect(!Pipeline.kinds(for: "video/mp4").contains { $0.name == "rendition" })
    }

    @Test func aRequestThatCannotBeDoneIsRefusedWithWhy() throws {
        let f = try fixture()
        let video = try f.add("a.mp4", "v", type: "video/mp4")
        let song = try f.add("s.m4a", "a", type: "audio/mp4")
        let pdf = try f.add("d.pdf", "%PDF", type: "application/pdf")
        func refusal(_ parameters: JobParameters, _ version: VersionInfo) -> String? {
            do {
                _ = try f.queue.enqueue(kind: "rendition", versionID: version.id, parameters: parameters, queuedBy: "api", chooser: Self.chooser)
                return nil
            } catch let error as JobQueueError {
                return error.value == .invalid ? error.message : "not invalid: \(error)"
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal(["output": .string("video")], song) == "audio/mp4 is audio: it has no pictures for a video rendition (ask for output audio)")
        #expect(refusal(["output": .string("frame")], song)?.contains("no pictures for a frame rendition") == true)
        #expect(refusal(["audio_codec": .string("opus")], video) == "a video rendition is an H.264/AAC MP4: audio_codec opus is for output audio")
        #expect(refusal(["output": .string("gif")], video) == "output must be one of video, audio, frame")
        #expect(refusal(["height": .int(100_000)], video) == "height must be from 0 to 4320")
        #expect(refusal(["height": .int(4)], video) == "height must be 0 (the source's) or at least 16 pixels, not 4")
        #expect(refusal(["output": .string("frame"), "time": .string("noon")], video)?.hasPrefix("time must be seconds") == true)
        #expect(refusal(["speed": .int(2)], video)?.hasPrefix("rendition takes no parameter 'speed'") == true)
        #expect(refusal([:], pdf) == "no processor does rendition for application/pdf")
        // What can be done is queued, before background work, waiting for the version's extract.
        let asked = try f.queue.enqueue(kind: "rendition", versionID: song.id, parameters: ["output": .string("audio"),
                                                                                             "audio_codec": .string("opus")],
                                        queuedBy: "api", chooser: Self.chooser)
        #expect(asked.priority == JobQueue.personPriority && asked.state == .waiting && asked.parameters["audio_bitrate"] == .int(128))
    }

    @Test func renditionsHaveLimitsOfTheirOwnAndACollectionListIsChecked() throws {
        let settings = JobsSettings()
        let limits = settings.limits(kind: JobKinds.rendition, mediaClass: "video")
        #expect(limits.timeout == .seconds(4 * 3600) && limits.memoryBytes == 4 << 30 && limits.cpu == .seconds(8 * 3600))
        // Other kinds keep [jobs]'s CPU time.
        #expect(settings.limits(kind: JobKinds.storyboard, mediaClass: "video").cpu == settings.cpuLimit)
        #expect(settings.largestMemoryLimit >= 4 << 30)
        #expect(JobKinds.making(artifact: "rendition-video-720p.mp4")?.name == "rendition")
        #expect(JobKinds.making(artifact: "rendition-frame-2s.png")?.name == "rendition")
        #expect(throws: ConfigError.self) {
            _ = try DepotConfig.parse(toml: "[jobs.kinds.thumbnail]\nautomatic = [\"lectures\"]\n", source: "depot.toml", sections: [JobsSettings.self])
        }
        #expect(throws: ConfigError.self) {
            _ = try DepotConfig.parse(toml: "[jobs.kinds.rendition.collections.x]\naudio_codec = \"opus\"\n", source: "depot.toml",
                                      sections: [JobsSettings.self])
        }
    }
}
