import DepotCore
@testable import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// The generate kind in the queue: its place in the pipeline, its parameters per collection,
/// a person's request before background work, and the generation.* events.
@Suite struct GenerateJobTests {
    static let chooser: ProcessorChooser = { kind, mediaType in
        switch kind {
        case "extract": return "p-extract"
        case "generate": return mediaType.hasPrefix("text/") || mediaType == "application/pdf" ? "p-generate" : nil
        default: return nil
        }
    }

    func fixture(_ toml: String = "") throws -> QueueFixture {
        let settings = try DepotConfig.parse(toml: toml, source: "depot.toml", sections: [JobsSettings.self])[JobsSettings.self]
        return try QueueFixture(.sqliteFile, settings: settings, chooser: Self.chooser)
    }

    @Test func generateWaitsForExtractAndIsLeftOutWhereNoProcessorDoesIt() throws {
        let f = try fixture()
        let note = try f.add("a.md", "# A\n")
        let jobs = try f.queue.jobs(ofVersion: note.id)
        #expect(jobs.map(\.kind) == ["extract", "generate"])
        #expect(jobs[1].state == .waiting && jobs[1].waitsFor == [jobs[0].id] && jobs[1].priority == -20)
        #expect(jobs[1].parameters["questions"] == .int(10) && jobs[1].parameters["engine"] == .string("builtin"))
        // A type no generate processor does: no generate job at all (not an "unsupported" one).
        // (A DOCX's plan has generate; this chooser has no generate processor for it. Its
        // thumbnail, not optional, stays in the plan as unsupported.)
        let docx = try f.add("b.docx", "PK", type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        #expect(try f.queue.jobs(ofVersion: docx.id).map(\.kind) == ["extract", "thumbnail"])
    }

    @Test func parametersComeFromTheRequestThenTheCollectionThenTheKind() throws {
        let f = try fixture("""
            [jobs.kinds.generate.parameters]
            questions = 8
            difficulty = "easy"
            [jobs.kinds.generate.collections.lectures]
            difficulty = "hard"
            engine = "openai"
            """)
        let lecture = try f.add("l.md", "# L\n", collection: "lectures")
        let other = try f.add("o.md", "# O\n", collection: "notes")
        let l = try #require(try f.queue.jobs(ofVersion: lecture.id).last)
        let o = try #require(try f.queue.jobs(ofVersion: other.id).last)
        #expect(l.parameters["difficulty"] == .string("hard") && l.parameters["engine"] == .string("openai") && l.parameters["questions"] == .int(8))
        #expect(o.parameters["difficulty"] == .string("easy") && o.parameters["engine"] == .string("builtin"))
        let asked = try f.queue.enqueue(kind: "generate", versionID: lecture.id, parameters: ["questions": .string("3")], queuedBy: "api",
                                        chooser: Self.chooser)
        #expect(asked.parameters["questions"] == .int(3) && asked.parameters["difficulty"] == .string("hard"))
        // A collection's bad value is refused when the config is read, with its key.
        #expect(throws: ConfigError.self) {
            _ = try DepotConfig.parse(toml: "[jobs.kinds.generate.collections.x]\ndifficulty = \"brutal\"\n", source: "depot.toml",
                                      sections: [JobsSettings.self])
        }
    }

    @Test func aPersonsRequestOvertakesAHundredQueuedBackgroundJobs() throws {
        let f = try fixture()
        var versions: [VersionInfo] = []
        for i in 0..<100 { versions.append(try f.add("n\(i).md", "# \(i)\n")) }
        // Their extracts done: 100 background generate jobs are queued.
        while let extract = try f.lease(kinds: ["extract"]) { #expect(try f.succeed(extract)) }
        #expect(try f.queue.jobs(state: .queued, kind: "generate").count == 100)
        let asked = try f.queue.enqueue(kind: "generate", versionID: versions[57].id, queuedBy: "api", chooser: Self.chooser)
        #expect(asked.priority == JobQueue.personPriority && asked.state == .queued)
        #expect(try f.lease()?.id == asked.id)
    }

    @Test func aGenerateJobAnnouncesItsEndAsGenerationEvents() throws {
        let f = try fixture()
        let a = try f.add("a.md", "# A\n"), b = try f.add("b.md", "# B\n")
        while let extract = try f.lease(kinds: ["extract"]) { #expect(try f.succeed(extract)) }
        let first = try #require(try f.lease(kinds: ["generate"]))
        #expect(try f.succeed(first))
        let second = try #require(try f.lease(kinds: ["generate"]))
        #expect(try f.queue.fail(second, owner: "o", .permanent("the model server refused the key (401)")) == .failed)
        let completed = try f.events("generation.completed"), failed = try f.events("generation.failed")
        #expect(completed.count == 1 && completed[0]["job_id"] as? Int == Int(first.id) && completed[0]["artifacts"] != nil)
        #expect(failed.count == 1 && failed[0]["reason"] as? String == "the model server refused the key (401)")
        #expect(Set([first.versionID, second.versionID]) == Set([a.id, b.id]))
        // Extract's own jobs announce nothing of the kind.
        #expect(try f.events("job.succeeded").count == 3)
    }

    /// A generate job that cannot run because the extract it waits for failed ends with a
    /// generation.failed event too, saying why.
    @Test func aGenerateJobSkippedForAFailedExtractAnnouncesGenerationFailed() throws {
        let f = try fixture()
        let v = try f.add("c.md", "# C\n")
        let generate = try #require(try f.queue.jobs(ofVersion: v.id).first { $0.kind == "generate" })
        let extract = try #require(try f.lease(kinds: ["extract"]))
        #expect(try f.queue.fail(extract, owner: "o", .permanent("unreadable text")) == .failed)
        #expect(try f.job(generate.id).state == .skipped)
        let failed = try f.events("generation.failed")
        #expect(failed.count == 1 && failed[0]["job_id"] as? Int == Int(generate.id), "\(failed)")
        #expect((failed[0]["reason"] as? String)?.contains("unreadable text") == true)
        #expect(try f.events("job.skipped").count == 1)
    }
}
