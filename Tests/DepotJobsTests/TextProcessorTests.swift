import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing

@Suite struct TextProcessorTests {
    let dir = TemporaryDirectory()

    /// Runs the text processor on `bytes`; returns text.txt and the parsed structure.json.
    func process(_ bytes: [UInt8], mediaType: String) throws -> (text: String, structure: [String: Any], artifacts: [ProducedArtifact], folder: String) {
        let input = try dir.write("input-\(UUID().uuidString)", bytes)
        let output = dir.path + "/out-\(UUID().uuidString)"
        try makeDirectories(output)
        let artifacts = try TextProcessor().process(ProcessorInput(path: input, mediaType: mediaType, name: "x", outputDirectory: output))
        let text = try String(contentsOfFile: output + "/text.txt", encoding: .utf8)
        let structure = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "/structure.json"))) as! [String: Any]
        return (text, structure, artifacts, output)
    }

    func headings(_ structure: [String: Any]) -> [[String: AnyHashable]] {
        (structure["headings"] as? [[String: Any]] ?? []).map { h in
            ["level": h["level"] as! Int, "title": h["title"] as! String, "line": h["line"] as! Int]
        }
    }

    @Test func markdownHeadingsAtxSetextAndNotInsideFences() throws {
        let markdown = """
            # Physics notes #
            Intro text.

            Week one
            ========

            ```swift
            # not a heading
            Also not
            ---
            ```

            ## Forces and C#
            ~~~~
            ### inside a tilde fence
            ~~~~
            Momentum
            --------
                # indented code, not a heading
            - list item
            ---
            ####### seven hashes is text
            #hashtag is text
            ###### Six

            """
        let result = try process(Array(markdown.utf8), mediaType: "text/markdown")
        #expect(headings(result.structure) == [
            ["level": 1, "title": "Physics notes", "line": 1],
            ["level": 1, "title": "Week one", "line": 4],
            ["level": 2, "title": "Forces and C#", "line": 13],
            ["level": 2, "title": "Momentum", "line": 17],
            ["level": 6, "title": "Six", "line": 24],
        ])
        #expect(result.text == markdown)
        #expect(result.structure["line_count"] as? Int == 24)
        #expect(result.artifacts.map(\.kind) == ["text.txt", "structure.json"])
        #expect(result.artifacts.allSatisfy { $0.producer == "depot-text" && $0.producerVersion == "1" })
    }

    @Test func textIsNormalisedToUTF8WithLFLineEnds() throws {
        let crlf = try process([0xEF, 0xBB, 0xBF] + Array("one\r\ntwo\rthree\r\n".utf8), mediaType: "text/plain")
        #expect(crlf.text == "one\ntwo\nthree\n")
        #expect(headings(crlf.structure).isEmpty)
        let latin1 = try process(Array("caf".utf8) + [0xE9, 0x0A], mediaType: "text/plain")
        #expect(latin1.text == "café\n")
        let utf16 = try process([0xFF, 0xFE] + Array("hi\r\n".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, mediaType: "text/plain")
        #expect(utf16.text == "hi\n")
        #expect(utf16.structure["line_count"] as? Int == 1)
    }

    @Test func structureMatchesItsJSONSchema() throws {
        let schema = repositoryRoot() + "/docs/schemas/structure.json.schema.json"
        var files: [String] = []
        for (bytes, type) in [(Array("# A\n## B\ntext\nC\n-\n".utf8), "text/markdown"), (Array("plain".utf8), "text/plain"),
                              ([], "text/markdown")] {
            files.append(try process(bytes, mediaType: type).folder + "/structure.json")
        }
        let output = try python("""
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            for path in sys.argv[2:]:
                jsonschema.validate(json.load(open(path)), schema, cls=jsonschema.Draft202012Validator)
            bad = {"schema": "depot.structure/1", "media_type": "text/plain", "line_count": 1, "headings": [{"level": 7, "title": "x", "line": 1}]}
            try:
                jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator); print("bad accepted")
            except jsonschema.ValidationError:
                print("ok")
            """, [schema] + files)
        #expect(output == "ok\n")
    }
}
