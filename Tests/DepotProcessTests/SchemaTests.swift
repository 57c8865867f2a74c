import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing

/// Every processor's real structure.json, from files built here with the real libraries,
/// against its schema in docs/schemas (python3-jsonschema, Draft 2020-12): the documents
/// generation will read must be exactly what the schemas say.
@Suite("structure.json schemas")
struct SchemaTests {
    let dir: TempDir

    init() throws { dir = try TempDir() }

    /// Runs `processor` on `path` and returns its structure.json's path, after checking it
    /// names `schema`.
    func structure(_ processor: any Processor, _ path: String, mediaType: String, schema: String,
                   parameters: [String: ParameterValue] = [:], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let (folder, artifacts) = try runProcessor(processor, path, mediaType: mediaType, in: dir, parameters: parameters)
        #expect(artifacts.contains { $0.kind == "structure.json" }, sourceLocation: sourceLocation)
        let file = folder + "/structure.json"
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        #expect(object["schema"] as? String == schema, sourceLocation: sourceLocation)
        return file
    }

    /// Expects every document valid against docs/schemas/`schemaFile`, whose `schema` member
    /// is the constant `schema`.
    func expectValid(_ documents: [String], _ schemaFile: String, schema: String,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let schemaObject = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: schemaPath(schemaFile)))) as? [String: Any])
        let properties = try #require(schemaObject["properties"] as? [String: Any])
        #expect((properties["schema"] as? [String: Any])?["const"] as? String == schema, sourceLocation: sourceLocation)
        for (document, problem) in zip(documents, try validate(documents, against: schemaPath(schemaFile))) {
            #expect(problem == nil, "\(document): \(problem ?? "")", sourceLocation: sourceLocation)
        }
    }

    /// Writes `document` as JSON and returns the validator's message for it (nil: valid).
    func problem(with document: [String: Any], _ schemaFile: String) throws -> String? {
        let file = dir.path + "/wrong-\(UUID().uuidString).json"
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: file))
        return try validate([file], against: schemaPath(schemaFile))[0]
    }

    func json(_ file: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
    }

    @Test func textAndMarkdownStructureMatchItsSchema() throws {
        let text = TextProcessor(), schema = TextProcessor.structureSchema
        var files: [String] = []
        for (bytes, type) in [(Array("# A\n## B\ntext\nC\n-\n#\n".utf8), "text/markdown"), (Array("plain\r\nwords".utf8), "text/plain"),
                              ([], "text/markdown"), (Array("a,b\n1,2\n".utf8), "text/csv")] {
            let path = dir.path + "/text-\(files.count)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            files.append(try structure(text, path, mediaType: type, schema: schema))
        }
        // The test processor reads its files as plain text, and writes the same shape.
        let marked = dir.path + "/sleep.txt"
        try Data("DEPOT-TEST-SLEEP 1\n# not markdown\n".utf8).write(to: URL(fileURLWithPath: marked))
        files.append(try structure(TestProcessor(), marked, mediaType: TypeDetector.testMediaType, schema: schema))
        try expectValid(files, "structure.text.schema.json", schema: schema)

        // The check can fail: a heading level Markdown does not have, and the old unversioned name.
        var wrong = try json(files[0])
        wrong["headings"] = [["level": 7, "title": "x", "line": 1]]
        #expect(try problem(with: wrong, "structure.text.schema.json") != nil)
        wrong = try json(files[0])
        wrong["schema"] = "depot.structure/1"
        #expect(try problem(with: wrong, "structure.text.schema.json") != nil)
    }

    @Test func pdfStructureMatchesItsSchema() throws {
        let pdf = PDFProcessor(), schema = PDFProcessor.structureSchema
        let book = dir.path + "/book.pdf", scan = dir.path + "/scan.pdf"
        makePDF(book, pages: [["Introduction"], ["Second page"], ["Third page"]], title: "Manual",
                outline: [("Chapter One", 1, -1), ("Section A", 2, 0), ("Section B", 2, 0), ("Chapter Two", 3, -1)])
        makePDF(scan, pages: [[], []])
        let files = [
            try structure(pdf, book, mediaType: PDFProcessor.mediaType, schema: schema),
            try structure(pdf, scan, mediaType: PDFProcessor.mediaType, schema: schema),
            try structure(pdf, book, mediaType: PDFProcessor.mediaType, schema: schema, parameters: ["max_pages": .int(1)]),
        ]
        // What the fixtures are meant to show is there: an outline with children, a scan, a cut.
        let outline = try #require(try json(files[0])["outline"] as? [[String: Any]])
        #expect((outline.first?["children"] as? [Any])?.count == 2)
        #expect(try json(files[1])["needs_ocr"] as? Bool == true)
        #expect(try json(files[2])["text_truncated_after_page"] as? Int == 1)
        try expectValid(files, "structure.pdf.schema.json", schema: schema)

        // The check can fail: a member the processor no longer writes, OCR with characters,
        // an outline entry with an empty child list.
        var wrong = try json(files[0])
        wrong["thumbnail_error"] = "thumbnail: invalid value"
        #expect(try problem(with: wrong, "structure.pdf.schema.json") != nil)
        wrong = try json(files[1])
        wrong["characters"] = 12
        #expect(try problem(with: wrong, "structure.pdf.schema.json") != nil)
        wrong = try json(files[0])
        wrong["outline"] = [["title": "x", "children": [] as [Any]]]
        #expect(try problem(with: wrong, "structure.pdf.schema.json") != nil)
    }

    @Test func docxStructureMatchesItsSchema() throws {
        let docx = DOCXProcessor(), schema = DOCXProcessor.structureSchema
        let sample = dir.path + "/report.docx", bare = dir.path + "/bare.docx"
        try DOCXProcessorTests.makeSample(sample)
        try makeZip(bare, docxParts(document: wordDocument(wp("Just one paragraph."))))
        let files = [
            try structure(docx, sample, mediaType: TypeDetector.docx, schema: schema),
            try structure(docx, bare, mediaType: TypeDetector.docx, schema: schema),
        ]
        let sampleStructure = try json(files[0])
        #expect((sampleStructure["headings"] as? [Any])?.count == 4)
        #expect((sampleStructure["tables"] as? [Any])?.count == 1)
        #expect((sampleStructure["lists"] as? [Any])?.count == 2)
        #expect(sampleStructure["title"] as? String == "Quarterly Report")
        #expect(try json(files[1])["title"] == nil)
        try expectValid(files, "structure.docx.schema.json", schema: schema)

        var wrong = sampleStructure
        wrong["headings"] = [["level": 10, "title": "Deep", "line": 1]]
        #expect(try problem(with: wrong, "structure.docx.schema.json") != nil)
        wrong = sampleStructure
        wrong.removeValue(forKey: "lists")
        #expect(try problem(with: wrong, "structure.docx.schema.json") != nil)
    }

    @Test func pptxStructureMatchesItsSchema() throws {
        let pptx = PPTXProcessor(), schema = PPTXProcessor.structureSchema
        let deck = dir.path + "/deck.pptx"
        try PPTXProcessorTests.makeDeck(deck)
        let file = try structure(pptx, deck, mediaType: TypeDetector.pptx, schema: schema)
        let object = try json(file)
        let slides = try #require(object["slides"] as? [[String: Any]])
        #expect(slides.contains { ($0["notes"] as? String)?.isEmpty == false })
        #expect(slides.contains { $0["hidden"] as? Bool == true })
        #expect(object["slide_size"] != nil)
        try expectValid([file], "structure.pptx.schema.json", schema: schema)

        var wrong = object
        wrong["slides"] = [["number": 1, "part": "ppt/slides/slide1.xml", "body": "", "notes": ""]]  // no "hidden"
        #expect(try problem(with: wrong, "structure.pptx.schema.json") != nil)
        wrong = object
        wrong["media_type"] = TypeDetector.docx
        #expect(try problem(with: wrong, "structure.pptx.schema.json") != nil)
    }

    @Test func everyStructureSchemaIsListedInTheReadme() throws {
        let readme = try String(contentsOfFile: schemaPath("README.md"), encoding: .utf8)
        for (schema, file) in [(TextProcessor.structureSchema, "structure.text.schema.json"),
                               (PDFProcessor.structureSchema, "structure.pdf.schema.json"),
                               (DOCXProcessor.structureSchema, "structure.docx.schema.json"),
                               (PPTXProcessor.structureSchema, "structure.pptx.schema.json")] {
            #expect(readme.contains("`\(schema)`") && readme.contains("(\(file))"), "\(schema) / \(file)")
        }
        #expect(!FileManager.default.fileExists(atPath: schemaPath("structure.json.schema.json")))
    }
}
