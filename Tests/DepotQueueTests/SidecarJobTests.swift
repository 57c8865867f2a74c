import DepotCore
@testable import DepotQueue
import DepotStore
import DepotTestSupport
import Testing

/// Which file beside a recording is its sidecar, and the transcript queued again when a
/// sidecar arrives after its recording: on every catalog backend.
@Suite struct SidecarJobTests {
    static let subtitles = ["srt", "vtt", "ass", "ssa"]

    @Test func namesThatAreAndAreNotSidecars() {
        func tag(_ candidate: String, of recording: String = "talks/intro.mp4") -> String?? {
            Sidecars.match(recording: recording, candidate: candidate, extensions: Self.subtitles).map(\.tag)
        }
        #expect(tag("talks/intro.srt") == .some(nil))
        #expect(tag("talks/intro.SRT") == .some(nil))
        #expect(tag("talks/intro.en.vtt") == .some("en"))
        #expect(tag("talks/intro.pt-BR.ass") == .some("pt-BR"))
        #expect(tag("talks/my.talk.eng.srt", of: "talks/my.talk.mkv") == .some("eng"))
        // Not: another folder, another stem, another extension, two tags, itself.
        #expect(tag("other/intro.srt") == nil)
        #expect(tag("talks/sub/intro.srt") == nil)
        #expect(tag("talks/intro2.srt") == nil)
        #expect(tag("talks/intro.txt") == nil)
        #expect(tag("talks/intro.en.forced.srt") == nil)
        #expect(tag("talks/intro.mp4") == nil)
        #expect(tag("intro.srt", of: "intro") == nil)
        #expect(Sidecars.recordingPrefix(ofSidecar: "talks/my.talk.en.srt") == "talks/my.")
        #expect(Sidecars.sidecarPrefix(ofRecording: "talks/my.talk.mkv") == "talks/my.talk.")
        #expect(Sidecars.language(ofTag: "en") == "eng")
        #expect(Sidecars.language(ofTag: "pt-BR") == "por")
        #expect(Sidecars.language(ofTag: "ger") == "ger")
        #expect(Sidecars.language(ofTag: "forced") == nil)
        #expect(Sidecars.language(ofTag: nil) == nil)
    }

    /// The processors of a depot with media: extract and transcript for audio and video.
    static let chooser: ProcessorChooser = { kind, mediaType in
        let media = mediaType.hasPrefix("video/") || mediaType.hasPrefix("audio/")
        switch kind {
        case "extract": return "p-extract"
        case "transcript": return media ? "p-transcript" : nil
        default: return nil
        }
    }

    @Test(arguments: CatalogBackend.allCases)
    func aSidecarAfterItsRecordingQueuesItsTranscriptAgain(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend, chooser: Self.chooser)
        let video = try f.add("talks/intro.mp4", "video bytes", type: "video/mp4", collection: "lectures")
        // Another recording in the folder whose name only begins the same, and one elsewhere.
        let other = try f.add("talks/intro2.mp4", "other video", type: "video/mp4", collection: "lectures")
        let elsewhere = try f.add("intro.mp4", "a video at the top", type: "video/mp4", collection: "lectures")
        func transcripts(_ version: VersionInfo) throws -> [Job] {
            try f.queue.jobs(versionID: version.id, oldestFirst: true).filter { $0.kind == "transcript" }
        }
        #expect(try transcripts(video).count == 1)
        // While the first transcript job has not run, a sidecar adds none: that job reads it.
        try f.add("talks/intro.en.srt", "1\n00:00:01,000 --> 00:00:02,000\nHello\n", type: "text/plain", collection: "lectures")
        #expect(try transcripts(video).count == 1)
        // Run the video's jobs to their end, then a second sidecar arrives.
        while let job = try f.lease() { #expect(try f.succeed(job)) }
        let sidecar = try f.add("talks/intro.de.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\nHallo\n", type: "text/vtt",
                                collection: "lectures")
        let again = try transcripts(video)
        #expect(again.count == 2)
        #expect(again.last?.state == .queued && again.last?.queuedBy == "sidecar")
        #expect(try transcripts(other).count == 1 && transcripts(elsewhere).count == 1)
        // The sidecar itself is a document of its own, with its own pipeline (extract only).
        #expect(try f.queue.jobs(versionID: sidecar.id).map(\.kind) == ["extract"])
        // The same sidecar in another collection belongs to nothing there.
        try f.add("talks/intro.fr.srt", "1\n00:00:01,000 --> 00:00:02,000\nSalut\n", type: "text/plain", collection: "other")
        #expect(try transcripts(video).count == 2)
        // A new version of the sidecar (corrected): queued again, once.
        while let job = try f.lease() { #expect(try f.succeed(job)) }
        try f.add("talks/intro.de.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\nHallo!\n", type: "text/vtt", collection: "lectures")
        #expect(try transcripts(video).count == 3)
    }

    @Test(arguments: CatalogBackend.allCases)
    func documentsByPathPrefixTakeThePrefixLiterally(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend, chooser: Self.chooser)
        for path in ["a/100%_x.mp4", "a/100%_x.en.srt", "a/100a_x.srt", "a/100%_X.srt", "A/100%_x.srt", "a/100%_x"] {
            try f.add(path, path, type: "text/plain", collection: "c")
        }
        let found = try f.catalog.documents(DocumentQuery(collection: "c", pathPrefix: "a/100%_x.", orderByPath: true)).map(\.path)
        #expect(found == ["a/100%_x.en.srt", "a/100%_x.mp4"])
        let unicode = try f.add("ü/Vorlesung ä.mp4", "u", type: "video/mp4", collection: "c")
        try f.add("ü/Vorlesung ä.srt", "s", type: "text/plain", collection: "c")
        #expect(try f.catalog.documents(DocumentQuery(collection: "c", pathPrefix: "ü/Vorlesung ä.")).map(\.path).sorted()
                == ["ü/Vorlesung ä.mp4", "ü/Vorlesung ä.srt"])
        #expect(unicode.path == "ü/Vorlesung ä.mp4")
    }
}
