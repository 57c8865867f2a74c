import DepotCore
@testable import DepotDetect
import DepotTestSupport
import Foundation
import Testing

/// Detection on real bytes: files written by python's own libraries or by hand to the format.
@Suite struct TypeDetectorTests {
    let dir = TemporaryDirectory()

    /// The type of `bytes` named `name`, as a file (stored under a neutral name: the type must
    /// come from the bytes) and, the same, as bytes in memory.
    func detect(_ name: String, _ bytes: [UInt8], as stored: String? = nil,
                sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let path = try dir.write(stored ?? "blob-\(name)", bytes)
        let type = try TypeDetector.detect(path: path, name: name)
        #expect(TypeDetector.detect(MemoryBytes(bytes), name: name) == type, sourceLocation: sourceLocation)
        return type
    }

    /// `detect` for a file some fixture wrote.
    func detect(file path: String, name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try detect(name, Array(try Data(contentsOf: URL(fileURLWithPath: path))), sourceLocation: sourceLocation)
    }

    @Test func magicNumbersOfCommonFormats() throws {
        let pdf = Array("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".utf8)
        #expect(try detect("a.txt", pdf) == "application/pdf")
        #expect(try detect("x", [0xFF, 0xD8, 0xFF, 0xE0, 0, 16] + Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9]) == "image/jpeg")
        #expect(try detect("x", Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0, 0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3B]) == "image/gif")
        #expect(try detect("x", Array("RIFF".utf8) + [26, 0, 0, 0] + Array("WEBPVP8L".utf8) + [13, 0, 0, 0, 0x2F, 0, 0, 0, 0x10, 7, 0x10, 0x11, 0x11, 0x88, 0x88, 0xFE, 0x07, 0]) == "image/webp")
        #expect(try detect("x", [0, 0, 0, 0x18] + Array("ftypmp42".utf8) + [0, 0, 0, 0] + Array("mp42isom".utf8)) == "video/mp4")
        #expect(try detect("x", [0, 0, 0, 0x14] + Array("ftypqt  ".utf8) + [0, 0, 2, 0] + Array("qt  ".utf8)) == "video/quicktime")
        #expect(try detect("x", [0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 1, 0x42, 0x82, 0x84] + Array("webm".utf8)) == "video/webm")
        #expect(try detect("x", [0x1A, 0x45, 0xDF, 0xA3, 0xA3, 0x42, 0x86, 0x81, 1, 0x42, 0x82, 0x88] + Array("matroska".utf8)) == "video/x-matroska")
        #expect(try detect("x", Array("ID3".utf8) + [4, 0, 0, 0, 0, 0, 0]) == "audio/mpeg")
        #expect(try detect("x", [0xFF, 0xFB, 0x90, 0x64] + [UInt8](repeating: 0, count: 413)) == "audio/mpeg")
        #expect(try detect("x", Array("OggS".utf8) + [0, 2] + [UInt8](repeating: 0, count: 22) + [1] + Array("vorbis".utf8)) == "audio/ogg")
        #expect(try detect("x", Array("fLaC".utf8) + [0x80, 0, 0, 34] + [UInt8](repeating: 0, count: 34)) == "audio/flac")
        #expect(try detect("x", noise(4096, seed: 7)) == TypeDetector.octetStream)
    }

    @Test func passwordProtectedOfficeFilesAreToldApart() throws {
        // Encrypted with msoffcrypto-tool (PyPI), as Office does: the OOXML package inside a
        // compound file's EncryptedPackage stream.
        let path = dir.path + "/protected.bin"
        try makeProtectedOffice(path)
        #expect(try detect(file: path, name: "report.docx") == TypeDetector.protectedOOXML)
        #expect(ProcessorChoices.standard().select(kind: ProcessorKind.extract, mediaType: TypeDetector.protectedOOXML)?.name
                == "depot-protected-office")
        // Any other compound file is not mistaken for one, and a truncated one stays binary.
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(try detect("cut.docx", Array(bytes.prefix(700))) == "application/x-ole-storage")
    }

    @Test func aPDFHeaderAfterJunkInTheFirstKiBIsStillAPDF() throws {
        let pdf = Array("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".utf8)
        let junk = Array("X-Mailer: gateway\r\nContent-Type: application/pdf\r\n\r\n".utf8) + [0, 1, 2, 3]
        #expect(try detect("scan.pdf", junk + pdf) == "application/pdf")
        // No header at all before the first object, and a trailer cut after startxref.
        let headerless = Array("%\u{E2}\u{E3}\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer << /Root 1 0 R >>\nstartxref\n".utf8)
        #expect(try detect("old.pdf", headerless) == "application/pdf")
        // A note that mentions a PDF header near its start, but is not one, stays text.
        #expect(try detect("notes.md", Array("# PDF versions\n\nA file starts with %PDF-1.7 and ends with a trailer.\n".utf8))
                == "text/markdown")
        // Past the first KiB the header does not count.
        #expect(try detect("late.bin", [UInt8](repeating: 0, count: 1100) + pdf) == TypeDetector.octetStream)
    }

    @Test func pngAndWavWrittenByPython() throws {
        let png = dir.path + "/image.bin", wav = dir.path + "/sound.bin"
        try python("""
            import sys, zlib, struct, wave
            def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
            raw = b''.join(b'\\x00' + bytes([x * 16, y * 16, 128]) * 1 for y in range(4) for x in range(1))
            data = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 4, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
            open(sys.argv[1], 'wb').write(data)
            w = wave.open(sys.argv[2], 'wb'); w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000); w.writeframes(b'\\x00\\x01' * 800); w.close()
            """, [png, wav])
        #expect(try detect(file: png, name: "photo.txt") == "image/png")
        #expect(try detect(file: wav, name: "x") == "audio/wav")
    }

    @Test func officeDocumentsByTheirZipParts() throws {
        let docx = dir.path + "/d.bin", pptx = dir.path + "/p.bin", zip = dir.path + "/z.bin", xlsx = dir.path + "/x.bin"
        try python("""
            import sys, zipfile
            ct = '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/%s" ContentType="%s"/></Types>'
            def make(path, part, ctype):
                with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
                    z.writestr('[Content_Types].xml', ct % (part, ctype))
                    z.writestr('_rels/.rels', '<Relationships/>')
                    z.writestr(part, '<doc/>')
            make(sys.argv[1], 'word/document.xml', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml')
            make(sys.argv[2], 'ppt/presentation.xml', 'application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml')
            make(sys.argv[4], 'xl/workbook.xml', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml')
            with zipfile.ZipFile(sys.argv[3], 'w', zipfile.ZIP_DEFLATED) as z:
                z.writestr('notes/readme.txt', 'hello' * 100)
                z.comment = b'a comment that moves the end record'
            """, [docx, pptx, zip, xlsx])
        #expect(try detect(file: docx, name: "report.zip") == TypeDetector.docx)
        #expect(try detect(file: pptx, name: "x") == TypeDetector.pptx)
        #expect(try detect(file: xlsx, name: "x") == TypeDetector.xlsx)
        #expect(try detect(file: zip, name: "talk.pptx") == "application/zip")
        // A truncated ZIP (no central directory) is a zip, not a crash.
        let whole = try Array(Data(contentsOf: URL(fileURLWithPath: docx)))
        #expect(try detect("t.docx", Array(whole.prefix(whole.count / 2))) == "application/zip")
    }

    @Test func textMarkdownAndTheNameAsTieBreaker() throws {
        #expect(try detect("notes", Array("# Title\n\nSome text.\n".utf8)) == "text/markdown")
        #expect(try detect("notes", Array("Title\n=====\n\nbody\n".utf8)) == "text/markdown")
        #expect(try detect("notes.txt", Array("```\ncode\n```\n".utf8)) == "text/markdown")
        #expect(try detect("letter", Array("Dear reader,\nplain words only.\n".utf8)) == "text/plain")
        // Plain text whose bytes do not decide: the .md name does.
        #expect(try detect("readme.md", Array("plain words only.\n".utf8)) == "text/markdown")
        // A name never makes binary into text.
        #expect(try detect("readme.md", [0x00, 0x01, 0x02] + Array("# not text".utf8)) == TypeDetector.octetStream)
        #expect(try detect("latin1", Array("caf".utf8) + [0xE9] + Array(" cr\u{00E8}me\n".utf8.map { $0 })) == "text/plain")
        #expect(try detect("utf16", [0xFF, 0xFE, 0x68, 0, 0x69, 0]) == "text/plain")
        #expect(try detect("empty", []) == TypeDetector.empty)
        #expect(try detect("utf32", [0x00, 0x00, 0xFE, 0xFF, 0, 0, 0, 0x68]) == "text/plain")
    }

    @Test func testMarkersHaveTheirOwnTypeOnlyWhenAskedFor() throws {
        let crash = Array("DEPOT-TEST-CRASH\n".utf8)
        #expect(TypeDetector.detect(MemoryBytes(crash), name: "crash.txt", testMarkers: true) == TypeDetector.testMediaType)
        #expect(try TypeDetector.detect(path: try dir.write("crash.txt", crash), name: "crash.txt", testMarkers: true)
                == TypeDetector.testMediaType)
        // Without asking, the marker is just text; and only a marker at the very start counts.
        #expect(try detect("crash.txt", crash) == "text/plain")
        #expect(TypeDetector.detect(MemoryBytes(Array("note: DEPOT-TEST-CRASH\n".utf8)), name: "x", testMarkers: true) == "text/plain")
    }

    @Test func bytesThatCannotBeReadAreAnOctetStream() {
        #expect(TypeDetector.detect(UnreadableBytes(), name: "notes.md") == TypeDetector.octetStream)
    }
}
