import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing

/// Hostile inputs, each built here: every one ends in a specific error (or is safely
/// ignored), quickly, without reading anything outside the package.
@Suite("Hostile documents")
struct HostileDocumentTests {
    func expectError(_ path: String, in dir: TempDir, _ check: (String) -> Bool,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let out = try dir.folder("out-\(UUID().uuidString)")
        do {
            _ = try DOCXProcessor.extract(from: path, into: out)
            Issue.record("no error", sourceLocation: sourceLocation)
        } catch let error as DocumentError {
            #expect(check(error.description), "unexpected message: \(error.description)", sourceLocation: sourceLocation)
        }
    }

    @Test func zipBombStopsAtTheCompressionRatio() throws {
        let dir = try TempDir()
        // 16 MiB of one byte deflates about 1000:1.
        let bomb = wordDocument(wp("x")) + String(repeating: " ", count: 16 << 20)
        try makeZip(dir.path + "/bomb.docx", docxParts(document: bomb))
        let started = Date()
        try expectError(dir.path + "/bomb.docx", in: dir) {
            $0 == "zip entry word/document.xml exceeds 100:1 compression ratio (zip bomb)"
        }
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func lyingDeclaredSizeIsCaughtWhileInflating() throws {
        let dir = try TempDir()
        let big = wordDocument(wp("x")) + String(repeating: " ", count: 4 << 20)
        try makeZip(dir.path + "/ok.docx", docxParts(document: big))
        // Patch word/document.xml's declared size (local header and central directory) to 1000 bytes.
        try python("""
        import sys, struct
        data = bytearray(open(sys.argv[1], "rb").read())
        name = b"word/document.xml"
        i = 0
        while True:
            i = data.find(name, i + 1)
            if i < 0: break
            if data[i-30:i-26] == b"PK\\x03\\x04": struct.pack_into("<I", data, i - 30 + 22, 1000)
            if data[i-46:i-42] == b"PK\\x01\\x02": struct.pack_into("<I", data, i - 46 + 24, 1000)
        open(sys.argv[2], "wb").write(data)
        """, [dir.path + "/ok.docx", dir.path + "/liar.docx"])
        // The declared size passes the checks; the bytes actually inflated do not.
        try expectError(dir.path + "/liar.docx", in: dir) {
            $0.hasPrefix("zip entry word/document.xml") || $0.hasPrefix("not a DOCX")
        }
    }

    @Test func declaredEntrySizeOverTheCapIsRefusedBeforeInflating() throws {
        let dir = try TempDir()
        try DOCXProcessorTests.makeSample(dir.path + "/report.docx")
        var limits = DocumentLimits()
        limits.maxEntryBytes = 1000
        let out = try dir.folder("out")
        #expect {
            try DOCXProcessor.extract(from: dir.path + "/report.docx", into: out, limits: limits)
        } throws: { error in
            (error as? DocumentError)?.description.contains("declares more than 1000 bytes") == true
        }
    }

    @Test func tooManyEntriesIsRefused() throws {
        let dir = try TempDir()
        var entries = docxParts(document: wordDocument(wp("x")))
        for i in 0..<50 { entries.append(("filler/\(i).txt", "x")) }
        try makeZip(dir.path + "/many.docx", entries)
        var limits = DocumentLimits()
        limits.maxZipEntries = 20
        #expect {
            try DOCXProcessor.extract(from: dir.path + "/many.docx", into: try dir.folder("out"), limits: limits)
        } throws: { error in
            (error as? DocumentError)?.description == "zip has 55 entries, more than the 20 allowed"
        }
    }

    @Test func billionLaughsIsRefusedQuickly() throws {
        let dir = try TempDir()
        try makeZip(dir.path + "/laughs.docx", docxParts(document: billionLaughs))
        let started = Date()
        try expectError(dir.path + "/laughs.docx", in: dir) { $0.contains("DTD") }
        #expect(Date().timeIntervalSince(started) < 2)
    }

    @Test func externalEntityNeverReadsTheFile() throws {
        let dir = try TempDir()
        try makeZip(dir.path + "/xxe.docx", docxParts(document: xxeDocument))
        try expectError(dir.path + "/xxe.docx", in: dir) { $0.contains("DTD") }
        #expect(!(try dir.allOutput()).contains("root:"))
    }

    @Test func externalEntityInACorePropertiesPartIsRefusedToo() throws {
        let dir = try TempDir()
        let core = """
        <?xml version="1.0"?><!DOCTYPE cp:coreProperties [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
        <cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&xxe;</dc:title></cp:coreProperties>
        """
        var entries = docxParts(document: wordDocument(wp("x")))
        entries[2] = ("docProps/core.xml", core)
        try makeZip(dir.path + "/xxe-core.docx", entries)
        try expectError(dir.path + "/xxe-core.docx", in: dir) { $0.contains("docProps/core.xml") && $0.contains("DTD") }
        #expect(!(try dir.allOutput()).contains("root:"))
    }

    @Test func deepNestingHitsTheDepthCap() throws {
        let dir = try TempDir()
        let deep = String(repeating: "<w:sdt><w:sdtContent>", count: 100) + wp("deep") + String(repeating: "</w:sdtContent></w:sdt>", count: 100)
        try makeZip(dir.path + "/deep.docx", docxParts(document: wordDocument(deep)))
        try expectError(dir.path + "/deep.docx", in: dir) {
            $0 == "xml part word/document.xml nests deeper than 128 elements"
        }
    }

    @Test func truncatedZipIsAClearError() throws {
        let dir = try TempDir()
        try DOCXProcessorTests.makeSample(dir.path + "/full.docx")
        let bytes = try #require(FileManager.default.contents(atPath: dir.path + "/full.docx"))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir.path + "/half.docx"))
        try expectError(dir.path + "/half.docx", in: dir) { $0.hasPrefix("not a DOCX:") && $0.contains("ZIP") }
    }

    @Test func dotDotAndAbsoluteEntryNamesAreNeverUsed() throws {
        let dir = try TempDir()
        let rels = """
        <?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
        <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes" Target="../../../../../../etc/passwd"/>
        <Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="../../evil.xml"/>
        </Relationships>
        """
        let evil = "<w:styles \(wordNS)><w:style w:type=\"paragraph\" w:styleId=\"Evil\"><w:name w:val=\"heading 1\"/></w:style></w:styles>"
        let document = wordDocument(wp("Harmless", style: "Evil"))
        try makeZip(dir.path + "/names.docx", docxParts(document: document, extra: [
            ("word/_rels/document.xml.rels", rels), ("../../evil.xml", evil), ("/abs/evil.xml", evil),
        ]))
        let out = try dir.folder("deep/er/out")
        _ = try DOCXProcessor.extract(from: dir.path + "/names.docx", into: out)
        #expect(try dir.read("deep/er/out/text.txt") == "Harmless\n")
        let metadata = try dir.json("deep/er/out/metadata.json")
        #expect(metadata["ignored_entries"] as? Int == 2)
        // The "../../evil.xml" styles were not reachable: no heading.
        #expect((try dir.json("deep/er/out/structure.json")["headings"] as? [Any])?.isEmpty == true)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/deep/evil.xml"))
        #expect(!(try dir.allOutput()).contains("root:"))
    }

    @Test func relationshipTargetsCannotClimbOutOfThePackage() {
        #expect(OOXMLPackage.resolve("../../etc/passwd", from: "word") == nil)
        #expect(OOXMLPackage.resolve("../notesSlides/n1.xml", from: "ppt/slides") == "ppt/notesSlides/n1.xml")
        #expect(OOXMLPackage.resolve("/ppt/slides/slide1.xml", from: "ppt") == "ppt/slides/slide1.xml")
        #expect(!OOXMLPackage.isSafeName("a/../../b"))
        #expect(!OOXMLPackage.isSafeName("/etc/passwd"))
        #expect(!OOXMLPackage.isSafeName("C:\\x"))
        #expect(OOXMLPackage.isSafeName("word/document.xml"))
    }

    @Test func malformedXMLNamesThePart() throws {
        let dir = try TempDir()
        try makeZip(dir.path + "/broken.docx", docxParts(document: "<w:document \(wordNS)><w:body><w:p></w:body>"))
        try expectError(dir.path + "/broken.docx", in: dir) { $0.hasPrefix("xml part word/document.xml is not well-formed") }
    }
}
