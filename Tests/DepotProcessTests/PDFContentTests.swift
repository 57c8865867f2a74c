import CPoppler
import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing

/// What real PDFs hold that the first PDF processor lost (issue 17): deep outlines and links,
/// page labels, XMP-only properties, embedded files, predefined CJK CMaps, RTL text forms.
@Suite("PDF content")
struct PDFContentTests {
    @Test func deepOutlinesAreWalkedWithoutLosingEntriesAndTitlesAreTrimmed() throws {
        let dir = try TempDir()
        // 100 levels, each the child of the one before; cairo writes them as nested bookmarks.
        let outline = (0..<100).map { (title: "Level \($0 + 1)\r\n  ", page: 1, parent: $0 - 1) }
        makePDF(dir.path + "/deep.pdf", pages: [["Deep outline"]], outline: outline)
        _ = try PDFProcessor.extract(from: dir.path + "/deep.pdf", into: try dir.folder("out"))
        var level = try #require(try dir.json("out/structure.json")["outline"] as? [[String: Any]])
        var depth = 1
        var titles: [String] = []
        while true {
            titles += level.compactMap { $0["title"] as? String }
            guard let children = level.last?["children"] as? [[String: Any]] else { break }
            level = children
            depth += 1
        }
        #expect(titles == (1...100).map { "Level \($0)" })
        #expect(depth == DocumentLimits().maxOutlineDepth)
        #expect(level.count == 100 - DocumentLimits().maxOutlineDepth + 1)

        var limits = DocumentLimits()
        limits.maxOutlineEntries = 10
        _ = try PDFProcessor.extract(from: dir.path + "/deep.pdf", into: try dir.folder("capped"), limits: limits)
        let capped = try dir.read("capped/structure.json")
        #expect(capped.contains("Level 10") && !capped.contains("Level 11"))
    }

    @Test func outlineLinksOutKeepTheirURLAndPagesTheirLabels() throws {
        let dir = try TempDir()
        let path = dir.path + "/labels.pdf"
        let surface = cairo_pdf_surface_create(path, 595, 842)!
        let context = cairo_create(surface)!
        _ = cairo_pdf_surface_add_outline(surface, Int32(CAIRO_PDF_OUTLINE_ROOT), "Project site", "uri='https://example.org/site'", CAIRO_PDF_OUTLINE_FLAG_OPEN)
        _ = cairo_pdf_surface_add_outline(surface, Int32(CAIRO_PDF_OUTLINE_ROOT), "Body", "page=2", CAIRO_PDF_OUTLINE_FLAG_OPEN)
        for label in ["iv", "A-3"] {
            cairo_pdf_surface_set_page_label(surface, label)
            cairo_select_font_face(context, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
            cairo_move_to(context, 72, 100)
            cairo_show_text(context, "Page \(label)")
            cairo_show_page(context)
        }
        cairo_destroy(context)
        cairo_surface_finish(surface)
        cairo_surface_destroy(surface)
        _ = try PDFProcessor.extract(from: path, into: try dir.folder("out"))
        let structure = try dir.json("out/structure.json")
        let outline = try #require(structure["outline"] as? [[String: Any]])
        #expect(outline.first?["url"] as? String == "https://example.org/site" && outline.first?["page"] == nil)
        #expect(outline.last?["page"] as? Int == 2)
        let pages = try #require(structure["pages"] as? [[String: Any]])
        #expect(pages.map { $0["label"] as? String } == ["iv", "A-3"])
        #expect(structure["schema"] as? String == "depot.structure.pdf/2")
    }

    @Test func xmpPropertiesFillWhatTheInfoDictionaryLacks() throws {
        let dir = try TempDir()
        let xmp = """
        <?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
        <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
        <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Field Notes</rdf:li><rdf:li xml:lang="de">Feldnotizen</rdf:li></rdf:Alt></dc:title>
        <dc:creator><rdf:Seq><rdf:li>Ada Lovelace</rdf:li><rdf:li>Mary Somerville</rdf:li></rdf:Seq></dc:creator>
        <dc:description><rdf:Alt><rdf:li xml:lang="x-default">Observations</rdf:li></rdf:Alt></dc:description>
        <dc:subject><rdf:Bag><rdf:li>botany</rdf:li><rdf:li>survey</rdf:li></rdf:Bag></dc:subject>
        <xmp:CreatorTool>Hand Writer 1.0</xmp:CreatorTool>
        </rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>
        """
        try makeRawPDF(dir.path + "/xmp.pdf", content: "BT /F1 12 Tf 72 700 Td (Notes) Tj ET", catalog: "/Metadata 6 0 R",
                       objects: ["<< /Type /Metadata /Subtype /XML /Length \(xmp.utf8.count) >>\nstream\n\(xmp)\nendstream"])
        _ = try PDFProcessor.extract(from: dir.path + "/xmp.pdf", into: try dir.folder("out"))
        let metadata = try dir.json("out/metadata.json")
        #expect(metadata["title"] as? String == "Field Notes")
        #expect(metadata["author"] as? String == "Ada Lovelace; Mary Somerville")
        #expect(metadata["subject"] as? String == "Observations")
        #expect(metadata["keywords"] as? String == "botany; survey")
        #expect(metadata["creator"] as? String == "Hand Writer 1.0")
        // The Info dictionary wins where it has a value.
        makePDF(dir.path + "/info.pdf", pages: [["x"]], title: "Info Title")
        _ = try PDFProcessor.extract(from: dir.path + "/info.pdf", into: try dir.folder("info"))
        #expect(try dir.json("info/metadata.json")["title"] as? String == "Info Title")
    }

    /// Attachments the PDF declares and the ones it does not: each is listed and stored as an
    /// artifact named by its number, never by the name the PDF gives it; past the size limits
    /// a file is listed only.
    @Test func embeddedFilesAreListedAndStoredAsArtifactsByNumber() throws {
        let dir = try TempDir()
        let note = "Plain field notes, written by hand\n"
        let gif = "GIF89a\u{1}\u{0}\u{1}\u{0}"
        let big = String(repeating: "x", count: 4096)
        try makeRawPDF(dir.path + "/attached.pdf", content: "BT /F1 12 Tf 72 700 Td (See attachments) Tj ET",
                       // A name tree's keys are sorted (ISO 32000-1 §7.9.6).
                       catalog: "/Names << /EmbeddedFiles << /Names [(../../etc/evil.gif) 8 0 R (notes.txt) 6 0 R (z.bin) 10 0 R] >> >>",
                       objects: [
                           "<< /Type /Filespec /F (notes.txt) /UF (notes.txt) /Desc (Field notes) /EF << /F 7 0 R >> >>",
                           "<< /Type /EmbeddedFile /Params << /Size \(note.utf8.count) >> /Length \(note.utf8.count) >>\nstream\n\(note)\nendstream",
                           "<< /Type /Filespec /F (../../etc/evil.gif) /EF << /F 9 0 R >> >>",
                           "<< /Type /EmbeddedFile /Length \(gif.utf8.count) >>\nstream\n\(gif)\nendstream",
                           "<< /Type /Filespec /F (z.bin) /EF << /F 11 0 R >> >>",
                           "<< /Type /EmbeddedFile /Length \(big.utf8.count) >>\nstream\n\(big)\nendstream",
                       ])
        let out = try dir.folder("out")
        var limits = DocumentLimits()
        limits.maxStoredAttachmentBytes = 1024
        let artifacts = try PDFProcessor.extract(from: dir.path + "/attached.pdf", into: out, limits: limits)
        let embedded = try #require(try dir.json("out/metadata.json")["embedded"] as? [[String: Any]])
        #expect(embedded.map { $0["name"] as? String } == ["../../etc/evil.gif", "notes.txt", "z.bin"])
        #expect(embedded.map { $0["artifact"] as? String } == ["attachment-1.gif", "attachment-2.txt", nil])
        #expect(embedded.first?["type"] as? String == "image/gif")
        #expect(embedded[1]["size"] as? Int == note.utf8.count)
        #expect(embedded[1]["description"] as? String == "Field notes")
        #expect(embedded[1]["type"] as? String == "text/plain")
        // Larger than what is left of the 1 KiB allowed here: listed with its size, not stored.
        #expect(embedded[2]["size"] as? Int == big.utf8.count && embedded[2]["stored"] as? Bool == false)
        #expect(try dir.read("out/attachment-2.txt") == note)
        #expect(try dir.read("out/attachment-1.gif") == gif)
        #expect(artifacts.filter { $0.kind.hasPrefix("attachment-") }.map(\.mimeType) == ["image/gif", "text/plain"])
        // The folder holds the artifacts and nothing else; nothing was written by its own name.
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out)) == Set(artifacts.map(\.file)))
        #expect(Set(artifacts.map(\.kind)) == ["metadata.json", "text.txt", "structure.json", "attachment-1.gif", "attachment-2.txt"])
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/etc/evil.gif"))
        #expect(PDFProcessor.attachmentExtension("../../etc/evil.GIF") == ".gif")
        #expect(PDFProcessor.attachmentExtension("archive.tar.gz") == ".gz")
        #expect(PDFProcessor.attachmentExtension("no extension") == "")
        #expect(PDFProcessor.attachmentExtension(".profile") == "")
        #expect(PDFProcessor.attachmentExtension("x.a/b") == "")
        #expect(PDFProcessor.attachmentExtension("x.$(rm)") == "")
    }

    /// Text set in a CID font through a predefined CMap (Shift-JIS here) comes out only with
    /// the CMaps and CID-to-Unicode tables of Debian's poppler-data (PopplerDataTests shows
    /// that it does not without them, and that the service's sandbox leaves them readable).
    @Test func cjkTextThroughPredefinedCMapsComesOut() throws {
        let dir = try TempDir()
        try makeCJKPDF(dir.path + "/cjk.pdf")
        _ = try PDFProcessor.extract(from: dir.path + "/cjk.pdf", into: try dir.folder("out"))
        #expect(try dir.read("out/text.txt").contains("日本語"))
    }

    @Test func rightToLeftTextLosesBidiControlsAndPresentationForms() {
        // "سلام" as contextual glyph forms, wrapped in RLE … PDF, and a lam-alef ligature.
        let shaped = "\u{202B}\u{FEB3}\u{FEE0}\u{FE8E}\u{FEE1}\u{202C} \u{FEFB}\u{200F}"
        #expect(PDFText.normalised(shaped) == "\u{0633}\u{0644}\u{0627}\u{0645} \u{0644}\u{0627}")
        #expect(PDFText.normalised("plain text, ﬁ ligature kept") == "plain text, ﬁ ligature kept")
        // Digits poppler put in an embedding of their own inside a right-to-left word are a
        // word of their own; an embedding after a space or before punctuation adds nothing.
        #expect(PDFText.normalised("\u{202B}אגף\u{202A}00:\u{202C}\u{202C}") == "אגף 00:")
        #expect(PDFText.normalised("\u{202B}מחלקה \u{202A}:\u{202C}\u{202C}") == "מחלקה :")
        #expect(PDFText.normalised("\u{202B}ב-\u{202A}1990\u{202C}\u{202C}") == "ב-1990")
        #expect(PDFText.normalised("\u{202A}\u{202B}שלום\u{202C}\u{202C}") == "שלום")
    }

    /// A tagged PDF (cairo writes the structure tree: cairo_tag_begin) whose headings are not in
    /// its outline: structure.json lists them, with level and page, in document order.
    @Test func headingsComeFromATaggedPDFsStructureTree() throws {
        let dir = try TempDir()
        let surface = cairo_pdf_surface_create(dir.path + "/tagged.pdf", 595, 842)!
        let context = cairo_create(surface)!
        cairo_select_font_face(context, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(context, 14)
        let pages: [[(tag: String, text: String)]] = [
            [("H1", "Getting  started"), ("P", "Drop a file into the inbox."), ("H2", "Collections")],
            [("P", "Each folder is one."), ("H3", "Tags from folders"), ("P", "physics, week1")],
        ]
        cairo_tag_begin(context, "Document", "")
        for page in pages {
            for (row, block) in page.enumerated() {
                cairo_tag_begin(context, block.tag, "")
                cairo_move_to(context, 72, 100 + Double(row) * 30)
                cairo_show_text(context, block.text)
                cairo_tag_end(context, block.tag)
            }
            cairo_show_page(context)
        }
        cairo_tag_end(context, "Document")
        cairo_destroy(context)
        cairo_surface_finish(surface)
        cairo_surface_destroy(surface)

        _ = try PDFProcessor.extract(from: dir.path + "/tagged.pdf", into: try dir.folder("out"))
        let structure = try dir.json("out/structure.json")
        let headings = try #require(structure["headings"] as? [[String: Any]])
        #expect(headings.map { $0["title"] as? String } == ["Getting started", "Collections", "Tags from folders"])
        #expect(headings.map { $0["level"] as? Int } == [1, 2, 3])
        #expect(headings.map { $0["page"] as? Int } == [1, 1, 2])
        #expect((structure["outline"] as? [Any])?.isEmpty == true)

        // An untagged PDF has none.
        makePDF(dir.path + "/plain.pdf", pages: [["Getting started"]])
        _ = try PDFProcessor.extract(from: dir.path + "/plain.pdf", into: try dir.folder("plain"))
        #expect((try dir.json("plain/structure.json")["headings"] as? [Any])?.isEmpty == true)
    }

    @Test func aScanSaysItHasNoTextLayer() throws {
        let dir = try TempDir()
        makePDF(dir.path + "/scan.pdf", pages: [[], []])
        _ = try PDFProcessor.extract(from: dir.path + "/scan.pdf", into: try dir.folder("out"))
        let metadata = try dir.json("out/metadata.json")
        #expect(metadata["text_layer"] as? String == "none" && metadata["needs_ocr"] as? Bool == true)
        #expect((metadata["message"] as? String)?.hasPrefix("no text layer") == true)
        makePDF(dir.path + "/text.pdf", pages: [["words"]])
        _ = try PDFProcessor.extract(from: dir.path + "/text.pdf", into: try dir.folder("text"))
        #expect(try dir.json("text/metadata.json")["text_layer"] as? String == "present")
    }
}
