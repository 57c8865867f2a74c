import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing

@Suite("PDF processor")
struct PDFProcessorTests {
    @Test func extractsTextMetadataAndOutlineButNoPicture() throws {
        let dir = try TempDir()
        let pdf = dir.path + "/in.pdf"
        makePDF(pdf, pages: [["Introduction to depot", "stores every file"], ["Second page words"], ["Third page"]],
                title: "Depot Manual", author: "Grace Hopper",
                outline: [("Chapter One", 1, -1), ("Section A", 2, 0), ("Chapter Two", 3, -1)])
        let out = try dir.folder("out")
        let artifacts = try PDFProcessor.extract(from: pdf, into: out)
        // The picture is the thumbnail job's (PDFThumbnailProcessor), no longer extract's.
        #expect(Set(artifacts.map(\.kind)) == ["metadata.json", "text.txt", "structure.json"])
        #expect(!FileManager.default.fileExists(atPath: out + "/thumbnail.png"))

        let text = try dir.read("out/text.txt")
        let pages = text.split(separator: "\u{0C}", omittingEmptySubsequences: false)
        #expect(pages.count == 4)  // three pages, each ended by a form feed
        #expect(pages[0].contains("Introduction to depot"))
        #expect(pages[1].contains("Second page words"))
        #expect(pages[2].contains("Third page"))

        let metadata = try dir.json("out/metadata.json")
        #expect(metadata["page_count"] as? Int == 3)
        #expect(metadata["title"] as? String == "Depot Manual")
        #expect(metadata["author"] as? String == "Grace Hopper")
        #expect(metadata["encrypted"] as? Bool == false)
        #expect((metadata["created"] as? String)?.hasPrefix("2024-01-02T03:04:05") == true)
        #expect(metadata["pdf_version"] as? String != nil)
        let size = try #require(metadata["page_size"] as? [String: Any])
        #expect(size["width_pt"] as? Double == 595)

        let structure = try dir.json("out/structure.json")
        #expect(structure["needs_ocr"] as? Bool == false)
        let outline = try #require(structure["outline"] as? [[String: Any]])
        #expect(outline.map { $0["title"] as? String } == ["Chapter One", "Chapter Two"])
        #expect(outline.map { $0["page"] as? Int } == [1, 3])
        let children = try #require(outline[0]["children"] as? [[String: Any]])
        #expect(children.first?["title"] as? String == "Section A")
        #expect(children.first?["page"] as? Int == 2)
        let pageEntries = try #require(structure["pages"] as? [[String: Any]])
        #expect(pageEntries.count == 3)
        #expect(pageEntries[1]["characters"] as? Int == "Secondpagewords".count)

    }

    @Test func pageWithoutTextLayerIsMarkedNeedsOCR() throws {
        let dir = try TempDir()
        let pdf = dir.path + "/scan.pdf"
        makePDF(pdf, pages: [[], []])
        let out = try dir.folder("out")
        let artifacts = try PDFProcessor.extract(from: pdf, into: out)
        #expect(Set(artifacts.map(\.kind)) == ["metadata.json", "text.txt", "structure.json"])
        let structure = try dir.json("out/structure.json")
        #expect(structure["needs_ocr"] as? Bool == true)
        #expect(structure["characters"] as? Int == 0)
        #expect(try dir.read("out/text.txt") == "\u{0C}\u{0C}")
    }

    @Test func textStopsAtThePageCap() throws {
        let dir = try TempDir()
        let pdf = dir.path + "/long.pdf"
        makePDF(pdf, pages: [["alpha"], ["beta"], ["gamma"]])
        var limits = DocumentLimits()
        limits.maxTextPages = 2
        let out = try dir.folder("out")
        _ = try PDFProcessor.extract(from: pdf, into: out, limits: limits)
        let text = try dir.read("out/text.txt")
        #expect(text.contains("beta"))
        #expect(!text.contains("gamma"))
        let metadata = try dir.json("out/metadata.json")
        #expect(metadata["page_count"] as? Int == 3)
        #expect(metadata["text_truncated_after_page"] as? Int == 2)
    }

    @Test func passwordProtectedPDFGivesStatusNotFailure() throws {
        let dir = try TempDir()
        makePDF(dir.path + "/plain.pdf", pages: [["secret words"]], title: "Hidden Title")
        try run("qpdf", ["--encrypt", "user-pw", "owner-pw", "256", "--", dir.path + "/plain.pdf", dir.path + "/locked.pdf"])
        let out = try dir.folder("out")
        let artifacts = try PDFProcessor.extract(from: dir.path + "/locked.pdf", into: out)
        #expect(artifacts.map(\.kind) == ["metadata.json"])
        let metadata = try dir.json("out/metadata.json")
        #expect(metadata["encrypted"] as? Bool == true)
        #expect(metadata["status"] as? String == "password_required")
        #expect(!(try dir.allOutput()).contains("secret words"))
    }

    @Test func passwordProtectedOfficeFileGivesStatusNotFailure() throws {
        let dir = try TempDir()
        let path = dir.path + "/protected.bin"
        try makeProtectedOffice(path)
        let type = try TypeDetector.detect(path: path, name: "report.docx")
        let processor = try #require(ProcessorRegistry.standard().select(kind: "extract", mediaType: type))
        #expect(processor.name == "depot-protected-office")
        let out = try dir.folder("out")
        let produced = try processor.process(ProcessorInput(path: path, mediaType: type, name: "report.docx", outputDirectory: out))
        #expect(produced.map(\.kind) == ["metadata.json"])
        let metadata = try dir.json("out/metadata.json")
        #expect(metadata["status"] as? String == "password_required")
        #expect(metadata["encrypted"] as? Bool == true)
    }

    @Test func ownerPasswordOnlyPDFIsReadAndMarkedEncrypted() throws {
        let dir = try TempDir()
        makePDF(dir.path + "/plain.pdf", pages: [["readable words"]])
        try run("qpdf", ["--encrypt", "", "owner-pw", "256", "--print=none", "--", dir.path + "/plain.pdf", dir.path + "/owner.pdf"])
        let out = try dir.folder("out")
        _ = try PDFProcessor.extract(from: dir.path + "/owner.pdf", into: out)
        #expect(try dir.read("out/text.txt").contains("readable words"))
        #expect(try dir.json("out/metadata.json")["encrypted"] as? Bool == true)
    }

    @Test func garbageAfterAPDFHeaderIsAClearError() throws {
        let dir = try TempDir()
        var bytes = Array("%PDF-1.7\n%\u{e2}\u{e3}\n".utf8)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<65536 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            bytes.append(UInt8(truncatingIfNeeded: state >> 33))
        }
        bytes += Array("\n%%EOF\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: dir.path + "/garbage.pdf"))
        let out = try dir.folder("out")
        #expect {
            try PDFProcessor.extract(from: dir.path + "/garbage.pdf", into: out)
        } throws: { error in
            (error as? DocumentError)?.description.hasPrefix("not a readable PDF") == true
        }
    }
}

@Suite("DOCX processor")
struct DOCXProcessorTests {
    static let styles = """
    <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <w:styles \(wordNS)>
    <w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
    <w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/><w:basedOn w:val="Normal"/></w:style>
    <w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>
    <w:style w:type="paragraph" w:styleId="Kapitel"><w:name w:val="Kapitel"/><w:basedOn w:val="Normal"/><w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style>
    <w:style w:type="paragraph" w:styleId="Unterkapitel"><w:name w:val="Unterkapitel"/><w:basedOn w:val="Kapitel"/></w:style>
    </w:styles>
    """
    static let numbering = """
    <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <w:numbering \(wordNS)>
    <w:abstractNum w:abstractNumId="0"><w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/></w:lvl></w:abstractNum>
    <w:abstractNum w:abstractNumId="1"><w:lvl w:ilvl="0"><w:numFmt w:val="decimal"/></w:lvl></w:abstractNum>
    <w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>
    <w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>
    </w:numbering>
    """
    static let footnotes = """
    <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <w:footnotes \(wordNS)>
    <w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>
    <w:footnote w:id="1"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> Source: the archive.</w:t></w:r></w:p></w:footnote>
    </w:footnotes>
    """

    static func sampleDocument() -> String {
        wordDocument("""
        \(wp("Quarterly Report", style: "Title"))
        \(wp("Overview", style: "Heading1"))
        <w:p><w:r><w:t xml:space="preserve">Revenue grew </w:t></w:r><w:r><w:t>strongly</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r><w:r><w:tab/><w:t>again.</w:t></w:r></w:p>
        <w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr><w:r><w:t>No stray tab</w:t></w:r><w:del><w:r><w:delText>deleted words</w:delText></w:r></w:del></w:p>
        \(wp("Details", style: "Kapitel"))
        \(wp("More details", style: "Unterkapitel"))
        \(wp("first bullet", numID: 1))
        \(wp("second bullet", numID: 1))
        \(wp("step one", numID: 2))
        \(wp("step two", numID: 2))
        <w:tbl><w:tr><w:tc>\(wp("Name"))</w:tc><w:tc>\(wp("Amount"))</w:tc></w:tr><w:tr><w:tc>\(wp("Widgets"))</w:tc><w:tc>\(wp("42"))</w:tc></w:tr></w:tbl>
        <w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent>\(wp("Boxed text"))</w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent>\(wp("Boxed text"))</w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r><w:r><w:t>Anchor paragraph</w:t></w:r></w:p>
        \(wp("The end."))
        """)
    }

    static func makeSample(_ path: String, thumbnail: Bool = true, thumbnailPart: (String, [UInt8])? = nil) throws {
        let documentRels = """
        <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
        <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
        <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
        <Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/numbering" Target="numbering.xml"/>
        <Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes" Target="footnotes.xml"/>
        </Relationships>
        """
        var entries: [(String, Data)] = docxParts(document: sampleDocument(), extra: [
            ("word/_rels/document.xml.rels", documentRels), ("word/styles.xml", styles),
            ("word/numbering.xml", numbering), ("word/footnotes.xml", footnotes),
        ]).map { ($0.0, Data($0.1.utf8)) }
        if let (name, bytes) = thumbnailPart ?? (thumbnail ? ("docProps/thumbnail.jpeg", jpegBytes) : nil) {
            entries.append((name, Data(bytes)))
        }
        try makeZip(path, entries)
    }

    @Test func extractsTextInReadingOrder() throws {
        let dir = try TempDir()
        try Self.makeSample(dir.path + "/report.docx")
        let out = try dir.folder("out")
        let artifacts = try DOCXProcessor.extract(from: dir.path + "/report.docx", into: out)
        // The sample has a package thumbnail: OOXMLThumbnailProcessor's, no longer extract's.
        #expect(Set(artifacts.map(\.kind)) == ["metadata.json", "text.txt", "structure.json"])
        let text = try dir.read("out/text.txt")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.contains("Revenue grew strongly[1]\tagain."))
        #expect(lines.contains("No stray tab"))
        #expect(!text.contains("deleted words"))
        #expect(lines.contains("- first bullet"))
        #expect(lines.contains("2. step two"))
        #expect(lines.contains("Name\tAmount"))
        #expect(lines.contains("Widgets\t42"))
        // The text box once (not again from the VML fallback), after its anchor paragraph.
        #expect(text.components(separatedBy: "Boxed text").count == 2)
        let anchor = try #require(lines.firstIndex(of: "Anchor paragraph"))
        #expect(lines[anchor + 1] == "Boxed text")
        // Footnotes after the body.
        #expect(text.hasSuffix("\n[1] Source: the archive.\n"))
        let end = try #require(lines.firstIndex(of: "The end."))
        let note = try #require(lines.firstIndex(of: "[1] Source: the archive."))
        #expect(end < note)
    }

    @Test func structureResolvesHeadingLevelsThroughStyles() throws {
        let dir = try TempDir()
        try Self.makeSample(dir.path + "/report.docx")
        let out = try dir.folder("out")
        _ = try DOCXProcessor.extract(from: dir.path + "/report.docx", into: out)
        let structure = try dir.json("out/structure.json")
        #expect(structure["title"] as? String == "Quarterly Report")
        let headings = try #require(structure["headings"] as? [[String: Any]])
        #expect(headings.map { $0["title"] as? String } == ["Quarterly Report", "Overview", "Details", "More details"])
        // The title at level 0; "heading 1" by name; Kapitel by its outline level; Unterkapitel
        // inherits it (basedOn).
        #expect(headings.map { $0["level"] as? Int } == [0, 1, 2, 2])
        #expect(headings.first?["role"] as? String == "title")
        let tables = try #require(structure["tables"] as? [[String: Any]])
        #expect(tables.count == 1)
        #expect(tables.first?["rows"] as? Int == 2)
        #expect(tables.first?["columns"] as? Int == 2)
        let lists = try #require(structure["lists"] as? [[String: Any]])
        #expect(lists.map { $0["ordered"] as? Bool } == [false, true])
        #expect(lists.map { $0["items"] as? Int } == [2, 2])
    }

    @Test func metadataComesFromCoreAndAppProperties() throws {
        let dir = try TempDir()
        try Self.makeSample(dir.path + "/report.docx")
        let out = try dir.folder("out")
        _ = try DOCXProcessor.extract(from: dir.path + "/report.docx", into: out)
        let metadata = try dir.json("out/metadata.json")
        #expect(metadata["title"] as? String == "Quarterly Report")
        #expect(metadata["creator"] as? String == "Ada Lovelace")
        #expect(metadata["last_modified_by"] as? String == "Charles Babbage")
        #expect(metadata["created"] as? String == "2024-01-02T03:04:05Z")
        #expect(metadata["modified"] as? String == "2024-02-03T04:05:06Z")
        #expect(metadata["pages"] as? Int == 3)
        #expect(metadata["words"] as? Int == 120)
        #expect(metadata["heading_pairs"] == nil)
    }

    @Test func zipWithoutTheMainPartIsNotADOCX() throws {
        let dir = try TempDir()
        try makeZip(dir.path + "/fake.docx", [("readme.txt", "this zip is not an OOXML document")])
        #expect {
            try DOCXProcessor.extract(from: dir.path + "/fake.docx", into: try dir.folder("out"))
        } throws: { error in
            (error as? DocumentError)?.description == "not a DOCX: missing word/document.xml"
        }
    }
}

@Suite("PPTX processor")
struct PPTXProcessorTests {
    static let pNS = #"xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main""#

    static func shape(_ placeholder: String?, _ paragraphs: [String]) -> String {
        let ph = placeholder.map { $0.isEmpty ? "<p:ph idx=\"1\"/>" : "<p:ph type=\"\($0)\"/>" } ?? ""
        let body = paragraphs.map { "<a:p><a:r><a:t>\($0)</a:t></a:r></a:p>" }.joined()
        return "<p:sp><p:nvSpPr><p:cNvPr id=\"2\" name=\"s\"/><p:cNvSpPr/><p:nvPr>\(ph)</p:nvPr></p:nvSpPr><p:txBody><a:bodyPr/>\(body)</p:txBody></p:sp>"
    }

    static func slide(_ shapes: String, hidden: Bool = false) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><p:sld \(pNS)\(hidden ? " show=\"0\"" : "")><p:cSld><p:spTree>\(shapes)</p:spTree></p:cSld></p:sld>"
    }

    static func rels(_ items: [(String, String, String)]) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
            + items.map { "<Relationship Id=\"\($0.0)\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/\($0.1)\" Target=\"\($0.2)\"/>" }.joined()
            + "</Relationships>"
    }

    /// Three slides whose part names run opposite to the presentation order; `thumbnail` is
    /// put at docProps/thumbnail.png, which no relationship names (found by its usual name).
    static func makeDeck(_ path: String, thumbnail: [UInt8]? = nil) throws {
        let presentation = """
        <?xml version="1.0" encoding="UTF-8"?><p:presentation \(pNS)><p:sldIdLst>
        <p:sldId id="256" r:id="rId7"/><p:sldId id="257" r:id="rId3"/><p:sldId id="258" r:id="rId5"/>
        </p:sldIdLst><p:sldSz cx="12192000" cy="6858000"/></p:presentation>
        """
        let table = """
        <p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="4" name="t"/><p:cNvGraphicFramePr/><p:nvPr/></p:nvGraphicFramePr><a:graphic><a:graphicData><a:tbl>
        <a:tr><a:tc><a:txBody><a:p><a:r><a:t>Region</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>Sales</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
        <a:tr><a:tc><a:txBody><a:p><a:r><a:t>North</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>17</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
        </a:tbl></a:graphicData></a:graphic></p:graphicFrame>
        """
        let notes = """
        <?xml version="1.0" encoding="UTF-8"?><p:notes \(pNS)><p:cSld><p:spTree>\(shape("sldImg", []))\(shape("body", ["Remember to smile"]))\(shape("sldNum", ["2"]))</p:spTree></p:cSld></p:notes>
        """
        let packageRels = """
        <?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
        <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="ppt/presentation.xml"/>
        <Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>
        </Relationships>
        """
        var entries: [(String, Data)] = [
            ("[Content_Types].xml", contentTypesDOCX), ("_rels/.rels", packageRels), ("docProps/core.xml", coreXML),
            ("ppt/presentation.xml", presentation),
            ("ppt/_rels/presentation.xml.rels", rels([("rId3", "slide", "slides/slide2.xml"), ("rId5", "slide", "slides/slide1.xml"),
                                                      ("rId7", "slide", "/ppt/slides/slide3.xml")])),
            ("ppt/slides/slide1.xml", slide(shape("title", ["Closing"]) + shape("", ["Thanks"]), hidden: true)),
            ("ppt/slides/slide2.xml", slide(shape("title", ["Middle"]) + shape("", ["Point one", "Point two"]) + table)),
            ("ppt/slides/_rels/slide2.xml.rels", rels([("rId1", "notesSlide", "../notesSlides/notesSlide1.xml")])),
            ("ppt/notesSlides/notesSlide1.xml", notes),
            ("ppt/slides/slide3.xml", slide(shape("ctrTitle", ["Opening"]) + shape("subTitle", ["A subtitle"]))),
        ].map { ($0.0, Data($0.1.utf8)) }
        if let thumbnail { entries.append(("docProps/thumbnail.png", Data(thumbnail))) }
        try makeZip(path, entries)
    }

    @Test func slidesFollowThePresentationOrderNotPartNames() throws {
        let dir = try TempDir()
        try Self.makeDeck(dir.path + "/deck.pptx")
        let out = try dir.folder("out")
        let artifacts = try PPTXProcessor.extract(from: dir.path + "/deck.pptx", into: out)
        #expect(Set(artifacts.map(\.kind)) == ["metadata.json", "text.txt", "structure.json"])
        let structure = try dir.json("out/structure.json")
        let slides = try #require(structure["slides"] as? [[String: Any]])
        #expect(slides.map { $0["title"] as? String } == ["Opening", "Middle", "Closing"])
        #expect(slides.map { $0["part"] as? String } == ["ppt/slides/slide3.xml", "ppt/slides/slide2.xml", "ppt/slides/slide1.xml"])
        #expect(slides[0]["body"] as? String == "A subtitle")
        #expect(slides[1]["body"] as? String == "Point one\nPoint two\nRegion\tSales\nNorth\t17")
        #expect(slides[1]["notes"] as? String == "Remember to smile")
        #expect(slides[2]["hidden"] as? Bool == true)
        let metadata = try dir.json("out/metadata.json")
        #expect(metadata["slide_count"] as? Int == 3)
        #expect(metadata["title"] as? String == "Quarterly Report")

        let text = try dir.read("out/text.txt")
        let pages = text.split(separator: "\u{0C}", omittingEmptySubsequences: false)
        #expect(pages.count == 4)
        #expect(pages[0] == "Opening\nA subtitle\n")
        #expect(pages[1].hasSuffix("\n\nRemember to smile\n"))
    }

    @Test func presentationWithoutItsMainPartIsNotAPPTX() throws {
        let dir = try TempDir()
        try makeZip(dir.path + "/fake.pptx", [("[Content_Types].xml", contentTypesDOCX)])
        #expect {
            try PPTXProcessor.extract(from: dir.path + "/fake.pptx", into: try dir.folder("out"))
        } throws: { error in
            (error as? DocumentError)?.description == "not a PPTX: missing ppt/presentation.xml"
        }
    }
}

@Suite("Registry picks the document processors")
struct DocumentRegistryTests {
    @Test func standardRegistryPicksTheDocumentProcessors() {
        let registry = ProcessorRegistry.standard()
        #expect(registry.select(kind: "extract", mediaType: "application/pdf")?.name == "depot-pdf")
        #expect(registry.select(kind: "extract", mediaType: TypeDetector.docx)?.name == "depot-docx")
        #expect(registry.select(kind: "extract", mediaType: TypeDetector.pptx)?.name == "depot-pptx")
        #expect(registry.select(kind: "thumbnail", mediaType: "application/pdf")?.name == "depot-pdf-thumbnail")
        #expect(registry.select(kind: "thumbnail", mediaType: TypeDetector.docx)?.name == "depot-ooxml-thumbnail")
        #expect(registry.select(kind: "thumbnail", mediaType: TypeDetector.pptx)?.name == "depot-ooxml-thumbnail")
    }

    @Test func processorInputRunsThroughTheProtocol() throws {
        let dir = try TempDir()
        try DOCXProcessorTests.makeSample(dir.path + "/report.docx", thumbnail: false)
        let type = try TypeDetector.detect(path: dir.path + "/report.docx")
        #expect(type == TypeDetector.docx)
        let processor = try #require(ProcessorRegistry.standard().select(kind: "extract", mediaType: type))
        let artifacts = try processor.process(ProcessorInput(path: dir.path + "/report.docx", mediaType: type,
                                                             name: "report.docx", outputDirectory: try dir.folder("out")))
        #expect(artifacts.allSatisfy { $0.producer == "depot-docx" })
        #expect(Set(artifacts.map(\.kind)) == ["metadata.json", "text.txt", "structure.json"])
    }
}
