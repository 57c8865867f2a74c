import DepotCore
@testable import DepotProcess
import Foundation
import DepotTestSupport
import Testing

/// Shapes found in public test suites' documents (pdf.js, Apache POI, pandoc), each rebuilt
/// here in miniature: a real-world oddity that Office and other readers accept is read; an
/// ambiguous or broken file ends in a specific error.
@Suite("Real-world documents", .tags(.slow), .slowTest)
struct RealWorldDocumentTests {
    /// Rewrites a ZIP with a python snippet given the bytes as `data` (a bytearray).
    func patchZip(_ source: String, _ target: String, _ body: String) throws {
        try python("""
        import sys, struct, zlib
        data = bytearray(open(sys.argv[1], "rb").read())
        \(body)
        open(sys.argv[2], "wb").write(data)
        """, [source, target])
    }

    @Test func bytesAfterTheZipEndRecordAreIgnored() throws {
        // POI's bug62513.pptx and others end in "\n" after the end-of-central-directory record.
        let dir = try TempDir()
        try DOCXProcessorTests.makeSample(dir.path + "/report.docx", thumbnail: false)
        try patchZip(dir.path + "/report.docx", dir.path + "/newline.docx", "data += b\"\\n\"")
        _ = try DOCXProcessor.extract(from: dir.path + "/newline.docx", into: try dir.folder("out"))
        #expect(try dir.read("out/text.txt").contains("Anchor paragraph"))
    }

    @Test func localHeaderTimesThatDifferFromTheDirectoryAreAccepted() throws {
        // pandoc's alternate_document_path.docx: two local headers carry another time.
        let dir = try TempDir()
        try DOCXProcessorTests.makeSample(dir.path + "/report.docx", thumbnail: false)
        try patchZip(dir.path + "/report.docx", dir.path + "/times.docx", """
        i = data.find(b"PK\\x03\\x04")
        struct.pack_into("<HH", data, i + 10, 0x1234, 0x5678)
        """)
        _ = try DOCXProcessor.extract(from: dir.path + "/times.docx", into: try dir.folder("out"))
        #expect(try dir.read("out/text.txt").contains("Anchor paragraph"))
    }

    @Test func localHeaderNamesThatDifferFromTheDirectoryAreStillRefused() throws {
        // The consistency check holds for everything but the time.
        let dir = try TempDir()
        try makeZip(dir.path + "/ok.docx", docxParts(document: wordDocument(wp("x"))))
        try patchZip(dir.path + "/ok.docx", dir.path + "/names.docx", """
        i = data.find(b"PK\\x03\\x04" )
        while i >= 0:
            n = struct.unpack_from("<H", data, i + 26)[0]
            if bytes(data[i + 30:i + 30 + n]) == b"word/document.xml": data[i + 30:i + 34] = b"WORD"
            i = data.find(b"PK\\x03\\x04", i + 4)
        """)
        let out = try dir.folder("out")
        expectRefused(dir.path + "/names.docx", into: out) { $0 == "not a DOCX: Zip archive inconsistent (a damaged or truncated ZIP)" }
    }

    @Test func twoEntriesWithOneNameAreRefused() throws {
        let dir = try TempDir()
        try makeZip(dir.path + "/twice.docx", docxParts(document: wordDocument(wp("first")), extra: [
            ("Word/Document.xml", wordDocument(wp("second"))),
        ]))
        let out = try dir.folder("out")
        expectRefused(dir.path + "/twice.docx", into: out) { $0 == "zip has more than one entry named Word/Document.xml (ambiguous package; refused)" }
    }

    @Test func aUTF8PathFieldThatRenamesAPartIsRefused() throws {
        // POI's unicode-path.docx: the entry stored as word/document.xml is renamed by its
        // 0x7075 extra field, and another entry takes the name; readers disagree on the text.
        let dir = try TempDir()
        try makeZip(dir.path + "/plain.docx", docxParts(document: wordDocument(wp("one")), extra: [
            ("other.xml", wordDocument(wp("two"))),
        ]))
        try python("""
        import sys, zipfile, struct, zlib
        def field(raw, unicode):
            body = struct.pack("<BI", 1, zlib.crc32(raw)) + unicode
            return struct.pack("<HH", 0x7075, len(body)) + body
        src = zipfile.ZipFile(sys.argv[1])
        with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as out:
            for info in src.infolist():
                data = src.read(info.filename)
                if info.filename == "word/document.xml": info.extra = field(b"word/document.xml", b"other.xml")
                if info.filename == "other.xml": info.extra = field(b"other.xml", b"word/document.xml")
                out.writestr(info, data)
        """, [dir.path + "/plain.docx", dir.path + "/spoof.docx"])
        let out = try dir.folder("out")
        expectRefused(dir.path + "/spoof.docx", into: out) { $0.hasPrefix("zip has more than one entry named") }
        #expect(!FileManager.default.fileExists(atPath: out + "/text.txt"))
    }

    @Test func aMainPartUnderAnotherNameIsDetectedAndRead() throws {
        // pandoc's alternate_document_path.docx keeps its text in word/document2.xml.
        let dir = try TempDir()
        var entries = docxParts(document: wordDocument(wp("Moved text")))
        entries[1] = ("_rels/.rels", packageRelsDOCX.replacingOccurrences(of: "Target=\"word/document.xml\"",
                                                                           with: "Target=\"/word/document2.xml\""))
        entries[4] = ("word/document2.xml", entries[4].1)
        try makeZip(dir.path + "/moved.docx", entries)
        #expect(try TypeDetector.detect(path: dir.path + "/moved.docx") == TypeDetector.docx)
        _ = try DOCXProcessor.extract(from: dir.path + "/moved.docx", into: try dir.folder("out"))
        #expect(try dir.read("out/text.txt") == "Moved text\n")
    }

    @Test func aTruncatedPackageIsDetectedByItsLocalHeaders() throws {
        // POI's truncated62886.docx: no central directory, so it once passed for a plain ZIP
        // ("unsupported") instead of failing as the damaged DOCX it is.
        let dir = try TempDir()
        try DOCXProcessorTests.makeSample(dir.path + "/full.docx", thumbnail: false)
        let bytes = try #require(FileManager.default.contents(atPath: dir.path + "/full.docx"))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir.path + "/half.docx"))
        #expect(try TypeDetector.detect(path: dir.path + "/half.docx") == TypeDetector.docx)
        // A ZIP with no OOXML names stays a ZIP.
        try makeZip(dir.path + "/plain.zip", [("notes.txt", "hello"), ("word.txt", "x")])
        let zipBytes = try #require(FileManager.default.contents(atPath: dir.path + "/plain.zip"))
        try zipBytes.prefix(zipBytes.count / 2).write(to: URL(fileURLWithPath: dir.path + "/half.zip"))
        #expect(try TypeDetector.detect(path: dir.path + "/half.zip") == "application/zip")
    }

    @Test func aPageCairoCannotDrawFailsTheThumbnailJobAndNotExtract() throws {
        // pdf.js's issue19634.pdf: a Type 3 glyph painting through a luminosity soft mask puts
        // cairo in "invalid value (typically too big)"; the text is still there. Extract and
        // thumbnail are two jobs: extract succeeds, the thumbnail fails with cairo's reason.
        let dir = try TempDir()
        try python("""
        import sys
        objs = {}
        objs[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
        objs[2] = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
        objs[3] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R /F2 9 0 R >> >> >>"
        content = b"BT /F2 10 Tf 10 80 Td (Readable) Tj ET 1 0 0 -1 0 100 cm BT /F1 12 Tf 1 0 0 -1 20 10 Tm (A) Tj ET"
        objs[4] = b"<< /Length %d >>\\nstream\\n" % len(content) + content + b"\\nendstream"
        objs[5] = (b"<< /Type /Font /Subtype /Type3 /FontMatrix [0.00048828125 0 0 -0.00048828125 0 0] /FontBBox [-209 665 1569 -1648]"
                   b" /FirstChar 65 /LastChar 65 /Widths [1536] /Encoding << /Type /Encoding /Differences [65 /g0] >>"
                   b" /CharProcs << /g0 6 0 R >> /Resources << /ExtGState << /G1 7 0 R >> >> >>")
        glyph = b"1536 0 0 -1632 1536 192 d1\\n32 0 0 32 0 -1632 cm\\n/G1 gs\\n0 0 48 57 re\\nf"
        objs[6] = b"<< /Length %d >>\\nstream\\n" % len(glyph) + glyph + b"\\nendstream"
        objs[7] = b"<< /Type /ExtGState /SMask << /Type /Mask /S /Luminosity /G 8 0 R >> >>"
        mask = b"0.5 g 0 0 48 57 re f"
        objs[8] = (b"<< /Type /XObject /Subtype /Form /BBox [0 0 48 57] /Group << /Type /Group /S /Transparency /CS /DeviceGray /I true >>"
                   b" /Length %d >>\\nstream\\n" % len(mask) + mask + b"\\nendstream")
        objs[9] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
        out = bytearray(b"%PDF-1.4\\n")
        offsets = {}
        for n in sorted(objs):
            offsets[n] = len(out)
            out += b"%d 0 obj\\n" % n + objs[n] + b"\\nendobj\\n"
        xref = len(out)
        out += b"xref\\n0 %d\\n0000000000 65535 f \\n" % (len(objs) + 1)
        for n in sorted(objs): out += b"%010d 00000 n \\n" % offsets[n]
        out += b"trailer\\n<< /Size %d /Root 1 0 R >>\\nstartxref\\n%d\\n%%%%EOF\\n" % (len(objs) + 1, xref)
        open(sys.argv[1], "wb").write(out)
        """, [dir.path + "/glyph.pdf"])
        let out = try dir.folder("out")
        let artifacts = try PDFProcessor.extract(from: dir.path + "/glyph.pdf", into: out)
        #expect(Set(artifacts.map(\.kind)) == ["metadata.json", "text.txt", "structure.json"])
        #expect(try dir.read("out/text.txt").contains("Readable"))
        #expect(try dir.json("out/metadata.json")["thumbnail_error"] == nil)

        let pictures = try dir.folder("thumbnail")
        #expect {
            try PDFThumbnailProcessor.render(from: dir.path + "/glyph.pdf", into: pictures)
        } throws: { error in
            (error as? DocumentError)?.description == "thumbnail: cairo cannot draw page 1: invalid value (typically too big) for the size of the input (surface, pattern, etc.)"
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: pictures).isEmpty)

        // `depot extract` runs both kinds as the daemon does: the thumbnail's failure is named on
        // stderr and the text stays; the exit status is extract's.
        let command = Process()
        command.executableURL = URL(fileURLWithPath: depotBinary)
        command.arguments = ["extract", dir.path + "/glyph.pdf", "--out", dir.path + "/cli"]
        let listed = Pipe(), errors = Pipe()
        command.standardOutput = listed
        command.standardError = errors
        try command.run()
        let printed = String(decoding: listed.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        command.waitUntilExit()
        #expect(command.terminationStatus == 0)
        #expect(printed.split(separator: "\n").map { $0.split(separator: "\t").first.map(String.init) } == ["metadata.json", "text.txt", "structure.json"])
        #expect(complaint.contains("glyph.pdf: thumbnail: cairo cannot draw page 1: invalid value"))
        #expect(try dir.read("cli/text.txt").contains("Readable"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/cli/thumbnail.png"))
    }
}

/// Expects DOCXProcessor to refuse `path` with a DocumentError whose description `matches`.
func expectRefused(_ path: String, into out: String, sourceLocation: SourceLocation = #_sourceLocation,
                   _ matches: (String) -> Bool) {
    #expect(sourceLocation: sourceLocation) {
        try DOCXProcessor.extract(from: path, into: out)
    } throws: { error in
        (error as? DocumentError).map { matches($0.description) } ?? false
    }
}
