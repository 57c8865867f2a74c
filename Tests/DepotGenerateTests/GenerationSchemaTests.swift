@testable import DepotGenerate
import DepotTestSupport
import Foundation
import Testing

/// The generated artifacts against their schemas in docs/schemas (python3-jsonschema, Draft
/// 2020-12), from every kind of source the builtin engine reads and from the openai engine.
@Suite("generation schemas")
struct GenerationSchemaTests {
    let dir = TemporaryDirectory()

    func sources() throws -> [SourceDocument] {
        let pdf = try JSONSerialization.data(withJSONObject: ["schema": "depot.structure.pdf/2", "media_type": "application/pdf", "page_count": 2,
                                                              "outline": [["title": "Start", "page": 1], ["title": "End", "page": 2]]])
        var vtt = "WEBVTT\n\n"
        for (i, s) in BuiltinEngineTests.ocean.prefix(12).enumerated() { vtt += "00:00:\(String(format: "%02d", i * 4)).000 --> 00:00:\(String(format: "%02d", i * 4 + 4)).000\n\(s)\n\n" }
        return [
            try BuiltinEngineTests().markdownSource(),
            try SourceDocument.fromExtract(text: "The first page has some words about rivers and lakes.\n\u{0C}The second page talks about mountains and valleys.\n\u{0C}", structure: pdf),
            SourceDocument.fromWebVTT(vtt),
            try SourceDocument.fromExtract(text: "Die Lichtreaktionen finden in den Thylakoidmembranen statt. Das Wasser wird durch Licht gespalten.", structure: nil),
        ]
    }

    func written(_ outputs: [GenerationOutput]) throws -> [String: [String]] {
        var files: [String: [String]] = [:]
        for (i, output) in outputs.enumerated() {
            let folder = dir.path + "/\(i)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for name in try output.write(to: folder) where name.hasSuffix(".json") { files[name, default: []].append(folder + "/" + name) }
        }
        return files
    }

    @Test func everyOutputMatchesItsSchema() throws {
        var outputs = try sources().map { try BuiltinEngine().generate($0, options: GenerationOptions(questions: 5)) }
        let server = try FakeChatServer([["reply": "auto"]])
        var settings = OpenAISettings()
        settings.baseURL = server.baseURL
        settings.model = "m"
        let engine = OpenAIEngine(settings: settings, promptsFolder: nil, breaker: CircuitBreaker(failureThreshold: 5, cooldown: .seconds(1)))
        outputs.append(try engine.generate(try BuiltinEngineTests().markdownSource(), options: GenerationOptions(questions: 3)))
        let files = try written(outputs)
        #expect(files.keys.sorted() == ["chapters.json", "generation.json", "keywords.json", "quiz.json", "summary.json"])
        for (name, documents) in files {
            let schemaFile = name.replacingOccurrences(of: ".json", with: ".schema.json")
            for (document, problem) in zip(documents, try validate(documents, against: schemaPath(schemaFile))) {
                #expect(problem == nil, "\(document): \(problem ?? "")")
            }
        }
        // The check can fail: a multiple-choice question without choices, an anchor with nothing in it.
        var quiz = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: files["quiz.json"]![0]))) as? [String: Any])
        var questions = try #require(quiz["questions"] as? [[String: Any]])
        let mc = try #require(questions.firstIndex { $0["type"] as? String == "multiple_choice" })
        questions[mc]["choices"] = nil
        quiz["questions"] = questions
        let wrong = dir.path + "/wrong.json"
        try JSONSerialization.data(withJSONObject: quiz).write(to: URL(fileURLWithPath: wrong))
        #expect(try validate([wrong], against: schemaPath("quiz.schema.json"))[0] != nil)
        var chapters = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: files["chapters.json"]![0]))) as? [String: Any])
        var list = try #require(chapters["chapters"] as? [[String: Any]])
        list[0]["anchor"] = [String: Any]()
        chapters["chapters"] = list
        try JSONSerialization.data(withJSONObject: chapters).write(to: URL(fileURLWithPath: wrong))
        #expect(try validate([wrong], against: schemaPath("chapters.schema.json"))[0] != nil)
    }
}
