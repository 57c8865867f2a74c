import DepotCore
import DepotTestSupport
import Foundation
import Testing

/// Generation as a user meets it: a dropped Markdown file gets its summary, chapters, quiz
/// and keywords in the outbox with generation.json and the manifest naming them; a person's
/// request through the API (202) and the CLI regenerates with other parameters; events.jsonl
/// says generation.completed.
@Suite(.tags(.slow), .slowTest) struct GenerateEndToEndTests {
    static let notes = """
        # Tides

        ## The moon

        The moon pulls the water of the oceans towards it, and the water rises into a bulge. The earth turns under \
        the bulge, so a coast sees the water rise and fall twice a day. Sailors have used tide tables for centuries.

        ## The sun

        The sun pulls the oceans too, with less than half the force of the moon. When sun and moon stand in a line, \
        their pulls add up and spring tides come. When they stand at right angles, neap tides are weak.

        """

    @Test func droppedTextIsSummarisedAndAPersonCanAskAgain() throws {
        let port = freePort()
        let root = try DemoRoot(quietPeriod: "0s", extra: "[http]\nport = \(port)\n")
        let server = try root.serve()
        try root.drop("lectures/tides.md", Array(Self.notes.utf8))
        let folder = root.layout.outbox + "/lectures/tides.md"
        #expect(waitUntil(seconds: 60) { FileManager.default.fileExists(atPath: folder + "/quiz.json") }, "\(server.stderr.suffix(3000))")
        let manifest = try #require(try parseJSON(String(contentsOfFile: folder + "/manifest.json", encoding: .utf8)) as? [String: Any])
        let artifacts = try #require(manifest["artifacts"] as? [[String: Any]])
        let producers = Dictionary(uniqueKeysWithValues: artifacts.map { ($0["kind"] as! String, $0["producer"] as? String ?? "") })
        for kind in ["summary.md", "summary.json", "chapters.json", "quiz.json", "keywords.json", "generation.json"] {
            #expect(producers[kind] == "depot-generate-builtin", "\(kind): \(producers)")
        }
        let chapters = try #require(try parseJSON(String(contentsOfFile: folder + "/chapters.json", encoding: .utf8)) as? [String: Any])
        #expect((chapters["chapters"] as? [[String: Any]])?.compactMap { $0["title"] as? String }.suffix(2) == ["The moon", "The sun"])
        let summary = try String(contentsOfFile: folder + "/summary.md", encoding: .utf8)
        #expect(summary.hasPrefix("# Summary\n\n") && summary.contains("moon"))
        let info = try #require(try parseJSON(String(contentsOfFile: folder + "/generation.json", encoding: .utf8)) as? [String: Any])
        #expect(info["engine"] as? String == "builtin" && (info["parameters"] as? [String: Any])?["questions"] as? String == "10")

        // A person asks again through the API, with three questions: 202 and the job.
        let token = try depot(["token", "create", "--root", root.path, "--scope", "admin"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let documents = try curl(["-H", "Authorization: Bearer \(token)", "http://127.0.0.1:\(port)/api/v1/documents"])
        let id = try #require(((try parseJSON(String(decoding: documents.body, as: UTF8.self)) as? [String: Any])?["items"] as? [[String: Any]])?.first?["id"] as? Int)
        let asked = try curl(["-X", "POST", "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/json",
                              "-d", #"{"parameters": {"questions": 3, "difficulty": "hard"}}"#,
                              "http://127.0.0.1:\(port)/api/v1/documents/\(id)/generate"])
        #expect(asked.code == 202, "\(String(decoding: asked.body, as: UTF8.self))")
        let job = try #require(try parseJSON(String(decoding: asked.body, as: UTF8.self)) as? [String: Any])
        #expect(job["kind"] as? String == "generate" && job["priority"] as? Int == 100 && job["queued_by"] as? String == "api")
        let bad = try curl(["-X", "POST", "-H", "Authorization: Bearer \(token)", "-d", #"{"parameters": {"difficulty": "brutal"}}"#,
                            "http://127.0.0.1:\(port)/api/v1/documents/\(id)/generate"])
        #expect(bad.code == 422)
        #expect(waitUntil(seconds: 60) {
            let quiz = (try? String(contentsOfFile: folder + "/quiz.json", encoding: .utf8)).flatMap { try? parseJSON($0) as? [String: Any] }
            return quiz?["difficulty"] as? String == "hard" && (quiz?["questions"] as? [Any])?.count ?? 99 <= 3
        }, "\(server.stderr.suffix(3000))")

        // The CLI queues one the same way.
        let cli = try depot(["generate", "--root", root.path, "lectures/tides.md", "--questions", "2", "--json"])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect((try parseJSON(cli.stdout) as? [String: Any])?["queued_by"] as? String == "cli")
        #expect(try depot(["generate", "--root", root.path, "lectures/none.md"]).status != 0)

        // events.jsonl: one generation.completed per generate job.
        #expect(waitUntil(seconds: 60) {
            let lines = (try? String(contentsOfFile: root.layout.outbox + "/events.jsonl", encoding: .utf8)) ?? ""
            return lines.components(separatedBy: "\"event\":\"generation.completed\"").count - 1 == 3
        }, "\(server.stderr.suffix(2000))")
        // What each job said of itself is in the generation stats, by engine: three builtin jobs.
        var chunks: [String: Any]?
        #expect(waitUntil(seconds: 30) {
            let stats = try? curl(["-H", "Authorization: Bearer \(token)", "http://127.0.0.1:\(port)/api/v1/stats/generation?from=1h"])
            let series = stats.flatMap { try? parseJSON(String(decoding: $0.body, as: UTF8.self)) as? [String: Any] }?["series"] as? [[String: Any]]
            chunks = series?.first { $0["name"] as? String == "chunks" }
            return ((chunks?["total"] as? [String: Any])?["count"] as? Int) == 3
        }, "\(String(describing: chunks))")
        #expect((chunks?["labels"] as? [String: String])?["engine"] == "builtin")
        let cliStats = try depot(["stats", "generation", "--root", root.path, "--from", "1h"])
        #expect(cliStats.status == 0 && cliStats.stdout.contains("chunks") && cliStats.stdout.contains("builtin"), "\(cliStats.stdout)")
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    @Test func generateFileMakesTheOutputsLocally() throws {
        let dir = TemporaryDirectory()
        let file = try dir.write("tides.md", Self.notes)
        let out = dir.path + "/out"
        let result = try depot(["generate", "--file", file, "--out", out, "--summary-sentences", "1", "--language", "en"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("quiz.json\tapplication/json\tdepot-generate-builtin 1"))
        let summary = try #require(try parseJSON(String(contentsOfFile: out + "/summary.json", encoding: .utf8)) as? [String: Any])
        #expect(((summary["short"] as? [String: Any])?["sentences"] as? [Any])?.count == 1)
        #expect(try depot(["generate", "--file", file, "--out", out]).status != 0)  // not empty
    }
}
