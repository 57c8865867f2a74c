import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing

/// What real Word documents hold besides the body's paragraphs (issue 17): title and
/// localized heading styles, headers and footers, comments, imported chunks, content
/// controls, tracked changes, embedded media.
@Suite("DOCX content beyond the body")
struct DOCXContentTests {
    static let styles = """
    <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <w:styles \(wordNS)>
    <w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
    <w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/><w:basedOn w:val="Normal"/></w:style>
    <w:style w:type="paragraph" w:styleId="Subtitle"><w:name w:val="Subtitle"/><w:basedOn w:val="Normal"/></w:style>
    <w:style w:type="paragraph" w:styleId="Heading"><w:name w:val="Heading"/><w:basedOn w:val="Normal"/></w:style>
    <w:style w:type="paragraph" w:styleId="berschrift2"><w:name w:val="Überschrift 2"/><w:basedOn w:val="Normal"/></w:style>
    <w:style w:type="paragraph" w:styleId="Chapter"><w:name w:val="My Chapter"/><w:basedOn w:val="berschrift2"/></w:style>
    <w:style w:type="paragraph" w:styleId="Titre1"><w:name w:val="Titre 1"/><w:basedOn w:val="Normal"/></w:style>
    <w:style w:type="paragraph" w:styleId="Titre"><w:name w:val="Titre"/><w:basedOn w:val="Normal"/></w:style>
    </w:styles>
    """

    static let documentRels = """
    <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
    <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
    <Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/comments" Target="comments.xml"/>
    <Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/header" Target="header1.xml"/>
    <Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/header" Target="header2.xml"/>
    <Relationship Id="rId5" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/footer" Target="footer1.xml"/>
    <Relationship Id="rId6" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/aFChunk" Target="chunk1.htm"/>
    <Relationship Id="rId7" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/aFChunk" Target="chunk2.rtf"/>
    <Relationship Id="rId8" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="media/image1.png"/>
    <Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/oleObject" Target="embeddings/oleObject1.bin"/>
    </Relationships>
    """

    static let contentTypes = """
    <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
    <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
    <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
    <Default Extension="xml" ContentType="application/xml"/>
    <Default Extension="png" ContentType="image/png"/>
    <Default Extension="htm" ContentType="text/html"/>
    <Default Extension="rtf" ContentType="application/rtf"/>
    <Default Extension="bin" ContentType="application/vnd.openxmlformats-officedocument.oleObject"/>
    <Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
    </Types>
    """

    /// The text lines of a DOCX made of `document` with `numbering` as its numbering part,
    /// extracted into DIR/out.
    func extractNumbered(_ document: String, numbering: String, as name: String, in dir: TempDir) throws -> [String] {
        let rels = """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
            <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/numbering" Target="numbering.xml"/>
            </Relationships>
            """
        try makeZip(dir.path + "/\(name).docx", docxParts(document: document, extra: [
            ("word/_rels/document.xml.rels", rels), ("word/numbering.xml", numbering),
        ]))
        _ = try DOCXProcessor.extract(from: dir.path + "/\(name).docx", into: try dir.folder("out"))
        return try dir.read("out/text.txt").split(separator: "\n").map(String.init)
    }

    static func part(_ root: String, _ body: String) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:\(root) \(wordNS)>\(body)</w:\(root)>"
    }

    static let document = wordDocument("""
    \(wp("Annual Review", style: "Title"))
    \(wp("Twenty twenty-four", style: "Subtitle"))
    \(wp("Plain heading", style: "Heading"))
    <w:p><w:r><w:t xml:space="preserve">Kept </w:t></w:r><w:ins w:id="1" w:author="Ada"><w:r><w:t>inserted words</w:t></w:r></w:ins><w:del w:id="2" w:author="Ada"><w:r><w:delText>deleted words</w:delText></w:r></w:del><w:commentRangeStart w:id="0"/><w:r><w:t xml:space="preserve"> here.</w:t></w:r><w:commentRangeEnd w:id="0"/><w:r><w:commentReference w:id="0"/></w:r></w:p>
    <w:p><w:moveFrom w:id="3" w:author="Ada"><w:r><w:t>moved away</w:t></w:r></w:moveFrom></w:p>
    <w:p><w:moveTo w:id="4" w:author="Ada"><w:r><w:t>moved here</w:t></w:r></w:moveTo></w:p>
    \(wp("Kapitel zwei", style: "berschrift2"))
    \(wp("Custom chapter", style: "Chapter"))
    \(wp("Titre un", style: "Titre1"))
    <w:sdt><w:sdtPr><w:alias w:val="Client"/></w:sdtPr><w:sdtContent><w:p><w:r><w:t>Block control value</w:t></w:r></w:p></w:sdtContent></w:sdt>
    <w:p><w:r><w:t xml:space="preserve">Signed by </w:t></w:r><w:sdt><w:sdtPr><w:text/></w:sdtPr><w:sdtContent><w:r><w:t>Inline control value</w:t></w:r></w:sdtContent></w:sdt></w:p>
    <w:p/>
    <w:altChunk r:id="rId6"/>
    <w:altChunk r:id="rId7"/>
    <w:p><w:pPr><w:sectPr><w:headerReference w:type="default" r:id="rId3"/><w:headerReference w:type="first" r:id="rId4"/></w:sectPr></w:pPr><w:r><w:t>End of section one</w:t></w:r></w:p>
    <w:p><w:r><w:drawing><a:blip xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" r:embed="rId8"/></w:drawing></w:r></w:p>
    \(wp("Last words"))
    <w:sectPr><w:headerReference w:type="default" r:id="rId3"/><w:footerReference w:type="default" r:id="rId5"/></w:sectPr>
    """)

    static let chunk = """
    <!DOCTYPE html><html><head><title>not shown</title><style>p { color: red }</style></head>
    <body><h1>Imported heading</h1><p>Imported <b>HTML</b>
    paragraph</p><table><tr><td>cell a</td><td>cell b</td></tr></table><script>notShown()</script></body></html>
    """

    static func make(_ path: String) throws {
        let app = """
        <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
        <Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Paragraphs>99</Paragraphs><Application>Hand Written</Application></Properties>
        """
        var entries: [(String, Data)] = [
            ("[Content_Types].xml", contentTypes), ("_rels/.rels", packageRelsDOCX), ("docProps/core.xml", coreXML),
            ("docProps/app.xml", app), ("word/document.xml", document), ("word/_rels/document.xml.rels", documentRels),
            ("word/styles.xml", styles),
            ("word/comments.xml", part("comments", """
                <w:comment w:id="0" w:author="Grace" w:date="2024-01-01T00:00:00Z"><w:p><w:r><w:t>Please check this.</w:t></w:r></w:p></w:comment>
                """)),
            ("word/header1.xml", part("hdr", wp("Running header text"))),
            ("word/header2.xml", part("hdr", wp("First page header"))),
            ("word/footer1.xml", part("ftr", wp("Page footer text"))),
            ("word/chunk1.htm", chunk),
            ("word/chunk2.rtf", #"{\rtf1\ansi Not read}"#),
        ].map { ($0.0, Data($0.1.utf8)) }
        entries.append(("word/media/image1.png", Data(pngBytes)))
        entries.append(("word/embeddings/oleObject1.bin", Data(repeating: 7, count: 1000)))
        try makeZip(path, entries)
    }

    @Test func titleSubtitleUnnumberedAndLocalizedHeadingStyles() throws {
        #expect(WordStyles.headingName("heading 3")! == (3, nil))
        #expect(WordStyles.headingName("Heading1")! == (1, nil))
        #expect(WordStyles.headingName("Überschrift 4")! == (4, nil))
        #expect(WordStyles.headingName("Titre")! == (0, "title"))
        #expect(WordStyles.headingName("Untertitel")! == (0, "subtitle"))
        #expect(WordStyles.headingName("Heading 1 Char") == nil)
        #expect(WordStyles.headingName("Title 2") == nil)
        #expect(WordStyles.headingName("Normal") == nil)

        let dir = try TempDir()
        try Self.make(dir.path + "/review.docx")
        _ = try DOCXProcessor.extract(from: dir.path + "/review.docx", into: try dir.folder("out"))
        let structure = try dir.json("out/structure.json")
        let headings = try #require(structure["headings"] as? [[String: Any]])
        #expect(headings.map { $0["title"] as? String } == ["Annual Review", "Twenty twenty-four", "Plain heading", "Kapitel zwei",
                                                            "Custom chapter", "Titre un"])
        #expect(headings.map { $0["level"] as? Int } == [0, 0, 1, 2, 2, 1])
        #expect(headings.map { $0["role"] as? String } == ["title", "subtitle", nil, nil, nil, nil])
        #expect(structure["title"] as? String == "Annual Review")
        #expect(structure["schema"] as? String == "depot.structure.docx/2")
        let lines = try dir.read("out/text.txt").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for heading in headings {
            #expect(lines[(heading["line"] as! Int) - 1] == heading["title"] as? String)
        }
    }

    @Test func trackedChangesContentControlsAndImportedChunks() throws {
        let dir = try TempDir()
        try Self.make(dir.path + "/review.docx")
        _ = try DOCXProcessor.extract(from: dir.path + "/review.docx", into: try dir.folder("out"))
        let text = try dir.read("out/text.txt")
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("Kept inserted words here."))
        #expect(!text.contains("deleted words") && !text.contains("moved away"))
        #expect(lines.contains("moved here"))
        #expect(lines.contains("Block control value") && lines.contains("Signed by Inline control value"))
        // The HTML chunk in place, a line per block, cells tab-separated, nothing from head or script.
        let chunkAt = try #require(lines.firstIndex(of: "Imported heading"))
        #expect(Array(lines[chunkAt...].prefix(4)) == ["Imported heading", "Imported HTML paragraph", "cell a\tcell b", "End of section one"])
        #expect(!text.contains("not shown") && !text.contains("notShown") && !text.contains("color"))
        let metadata = try dir.json("out/metadata.json")
        #expect(metadata["unread_alt_chunks"] as? Int == 1)
        #expect(!text.contains("Not read"))
    }

    @Test func commentsHeadersAndFootersFollowTheBody() throws {
        let dir = try TempDir()
        try Self.make(dir.path + "/review.docx")
        _ = try DOCXProcessor.extract(from: dir.path + "/review.docx", into: try dir.folder("out"))
        let lines = try dir.read("out/text.txt").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let structure = try dir.json("out/structure.json")
        let last = try #require(lines.firstIndex(of: "Last words"))
        let comments = try #require(structure["comments"] as? [[String: Any]])
        #expect(comments.count == 1 && comments[0]["author"] as? String == "Grace")
        let commentLine = try #require(comments.first?["line"] as? Int)
        #expect(lines[commentLine - 1] == "[Comment by Grace] Please check this.")
        #expect(commentLine - 1 > last)
        let parts = try #require(structure["headers_footers"] as? [[String: Any]])
        // header1 is named by both sections: once.
        #expect(parts.map { $0["kind"] as? String } == ["header", "header", "footer"])
        #expect(parts.map { $0["type"] as? String } == ["default", "first", "default"])
        #expect(parts.map { $0["section"] as? Int } == [1, 1, 2])
        #expect(parts.map { lines[($0["line"] as! Int) - 1] } == ["Running header text", "First page header", "Page footer text"])
        #expect(lines.filter { $0 == "Running header text" }.count == 1)
        #expect(parts.allSatisfy { ($0["line"] as! Int) > commentLine })
        #expect(structure["line_count"] as? Int == lines.count - 1)
    }

    @Test func embeddedMediaAndOneParagraphCount() throws {
        let dir = try TempDir()
        try Self.make(dir.path + "/review.docx")
        _ = try DOCXProcessor.extract(from: dir.path + "/review.docx", into: try dir.folder("out"))
        let metadata = try dir.json("out/metadata.json")
        let embedded = try #require(metadata["embedded"] as? [[String: Any]])
        #expect(embedded.map { $0["name"] as? String } == ["word/media/image1.png", "word/embeddings/oleObject1.bin"])
        #expect(embedded.map { $0["type"] as? String } == ["image/png", "application/vnd.openxmlformats-officedocument.oleObject"])
        #expect(embedded.map { $0["size"] as? Int } == [pngBytes.count, 1000])
        // app.xml's stale 99 is gone; depot's count: the body's paragraphs with text (the
        // chunk's three lines included; the empty paragraph, the picture's and the notes not).
        #expect(metadata["paragraphs"] == nil)
        #expect(metadata["paragraph_count"] as? Int == 15)
    }

    /// What Word shows and pandoc prints that the body's runs do not hold: list labels in the
    /// list's own format and start ("iii.", "b)", "2.1."), a picture's alternative text, the
    /// text of an equation, and a drop cap joined to the word it begins.
    @Test func listLabelsPictureDescriptionsEquationsAndDropCaps() throws {
        let dir = try TempDir()
        let numbering = Self.part("numbering", """
            <w:abstractNum w:abstractNumId="0">
              <w:lvl w:ilvl="0"><w:start w:val="3"/><w:numFmt w:val="lowerRoman"/><w:lvlText w:val="%1."/></w:lvl>
              <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/><w:lvlText w:val="%2)"/></w:lvl>
            </w:abstractNum>
            <w:abstractNum w:abstractNumId="1">
              <w:lvl w:ilvl="0"><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>
              <w:lvl w:ilvl="1"><w:numFmt w:val="decimal"/><w:lvlText w:val="%1.%2."/></w:lvl>
            </w:abstractNum>
            <w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>
            <w:num w:numId="2"><w:abstractNumId w:val="1"/><w:lvlOverride w:ilvl="0"><w:startOverride w:val="2"/></w:lvlOverride></w:num>
            """)
        let drawingNS = #"xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing""#
        let mathNS = #"xmlns:m="http://schemas.openxmlformats.org/officeDocument/2006/math""#
        let document = wordDocument("""
            \(wp("third", numID: 1))
            \(wp("fourth", numID: 1))
            \(wp("first below", numID: 1, level: 1))
            \(wp("second below", numID: 1, level: 1))
            \(wp("fifth", numID: 1))
            \(wp("overridden", numID: 2))
            \(wp("nested", numID: 2, level: 1))
            <w:p><w:r><w:t xml:space="preserve">A chart: </w:t></w:r><w:r><w:drawing><wp:inline \(drawingNS)><wp:docPr id="1" name="Picture 1" descr="Sales rose in spring"/></wp:inline></w:drawing></w:r></w:p>
            <w:p><m:oMathPara \(mathNS)><m:oMath><m:r><m:t>E</m:t></m:r><m:r><m:t>=mc</m:t></m:r><m:sSup><m:e><m:r><m:t>squared</m:t></m:r></m:e></m:sSup></m:oMath></m:oMathPara></w:p>
            <w:p><w:pPr><w:framePr w:dropCap="drop" w:lines="3"/></w:pPr><w:r><w:t>O</w:t></w:r></w:p>
            <w:p><w:r><w:t xml:space="preserve">nce upon a time.</w:t></w:r></w:p>
            """)
        let lines = try extractNumbered(document, numbering: numbering, as: "labels", in: dir)
        #expect(lines == [
            "iii. third", "iv. fourth", "  a) first below", "  b) second below", "v. fifth",
            "2. overridden", "  2.1. nested",
            "A chart: [Sales rose in spring]",
            "E=mcsquared",
            "Once upon a time.",
        ])
        #expect(try dir.json("out/metadata.json")["paragraph_count"] as? Int == 10)
    }

    /// A level a list defines anew (`w:lvlOverride` holding a `w:lvl`, as in POI's
    /// NumberingWOverrides.docx) is that list's label, and a list in a table cell is labelled
    /// as in the body (pandoc's table_with_list_cell.docx), its counters going on.
    @Test func overriddenLevelsAndListsInTableCellsAreLabelled() throws {
        let dir = try TempDir()
        let numbering = Self.part("numbering", """
            <w:abstractNum w:abstractNumId="0">
              <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>
            </w:abstractNum>
            <w:num w:numId="1"><w:abstractNumId w:val="0"/>
              <w:lvlOverride w:ilvl="0"><w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="upperLetter"/><w:lvlText w:val="%1)"/></w:lvl></w:lvlOverride>
            </w:num>
            <w:num w:numId="2"><w:abstractNumId w:val="0"/></w:num>
            """)
        let document = wordDocument("""
            \(wp("alpha", numID: 1))
            \(wp("beta", numID: 1))
            \(wp("one", numID: 2))
            <w:tbl><w:tr><w:tc>\(wp("Cell"))</w:tc><w:tc>\(wp("two", numID: 2))\(wp("three", numID: 2))</w:tc></w:tr></w:tbl>
            """)
        let lines = try extractNumbered(document, numbering: numbering, as: "overrides", in: dir)
        #expect(lines == ["A) alpha", "B) beta", "1. one", "Cell\t2. two 3. three"])
    }

    /// Headings on a list's paragraphs (an outline level with a numbering, as POI's
    /// stress003.docx has them, or a heading style linked to a list) show their numbers as
    /// Word does; the headings' titles are the words alone, and body items go on counting.
    @Test func numberedHeadingsKeepTheirNumbersInTheText() throws {
        let dir = try TempDir()
        let numbering = Self.part("numbering", """
            <w:abstractNum w:abstractNumId="0">
              <w:lvl w:ilvl="0"><w:start w:val="3"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>
              <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1.%2"/></w:lvl>
            </w:abstractNum>
            <w:num w:numId="4"><w:abstractNumId w:val="0"/></w:num>
            """)
        func heading(_ text: String, outline: Int) -> String {
            "<w:p><w:pPr><w:numPr><w:ilvl w:val=\"\(outline)\"/><w:numId w:val=\"4\"/></w:numPr><w:outlineLvl w:val=\"\(outline)\"/></w:pPr>"
                + "<w:r><w:t>\(text)</w:t></w:r></w:p>"
        }
        let document = wordDocument("""
            \(heading("Scope", outline: 1))
            \(heading("Standard", outline: 0))
            \(heading("Name", outline: 1))
            \(wp("The service's name."))
            \(heading("Terms", outline: 1))
            \(wp("Items", numID: 4, level: 1))
            \(heading("Rules", outline: 0))
            """)
        let lines = try extractNumbered(document, numbering: numbering, as: "numbered", in: dir)
        // The first, before any item of the first level: that level shows its start.
        #expect(lines == ["3.1 Scope", "3. Standard", "3.1 Name", "The service's name.", "3.2 Terms", "  3.3 Items", "4. Rules"])
        let headings = try #require(try dir.json("out/structure.json")["headings"] as? [[String: Any]])
        #expect(headings.map { $0["title"] as? String } == ["Scope", "Standard", "Name", "Terms", "Rules"])
        #expect(headings.map { $0["level"] as? Int } == [2, 1, 2, 2, 1])
    }
}

@Suite("PPTX titles and media")
struct PPTXContentTests {
    @Test func missingOrEmptyTitlesAreNullAndLineBreaksAreSpaces() throws {
        let dir = try TempDir()
        let pNS = PPTXProcessorTests.pNS
        let presentation = """
        <?xml version="1.0" encoding="UTF-8"?><p:presentation \(pNS)><p:sldIdLst>
        <p:sldId id="256" r:id="rId1"/><p:sldId id="257" r:id="rId2"/><p:sldId id="258" r:id="rId3"/>
        </p:sldIdLst></p:presentation>
        """
        let broken = """
        <p:sp><p:nvSpPr><p:cNvPr id="2" name="t"/><p:cNvSpPr/><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:bodyPr/>\
        <a:p><a:r><a:t>Results</a:t></a:r><a:br/><a:r><a:t>of the year</a:t></a:r></a:p><a:p><a:r><a:t>2024</a:t></a:r></a:p></p:txBody></p:sp>
        """
        let packageRels = """
        <?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
        <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="ppt/presentation.xml"/>
        </Relationships>
        """
        let types = """
        <?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
        <Default Extension="xml" ContentType="application/xml"/><Default Extension="mp4" ContentType="video/mp4"/>
        <Override PartName="/ppt/embeddings/Microsoft_Excel_Worksheet.xlsx" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"/>
        </Types>
        """
        var entries: [(String, Data)] = [
            ("[Content_Types].xml", types), ("_rels/.rels", packageRels), ("ppt/presentation.xml", presentation),
            ("ppt/_rels/presentation.xml.rels", PPTXProcessorTests.rels([("rId1", "slide", "slides/slide1.xml"),
                                                                         ("rId2", "slide", "slides/slide2.xml"),
                                                                         ("rId3", "slide", "slides/slide3.xml")])),
            ("ppt/slides/slide1.xml", PPTXProcessorTests.slide(broken + PPTXProcessorTests.shape("", ["Body"]))),
            ("ppt/slides/slide2.xml", PPTXProcessorTests.slide(PPTXProcessorTests.shape("title", []) + PPTXProcessorTests.shape("", ["Untitled body"]))),
            ("ppt/slides/slide3.xml", PPTXProcessorTests.slide(PPTXProcessorTests.shape("", ["No title placeholder"]))),
        ].map { ($0.0, Data($0.1.utf8)) }
        entries.append(("ppt/media/media1.mp4", Data(repeating: 1, count: 2048)))
        entries.append(("ppt/embeddings/Microsoft_Excel_Worksheet.xlsx", Data(repeating: 2, count: 300)))
        try makeZip(dir.path + "/deck.pptx", entries)
        _ = try PPTXProcessor.extract(from: dir.path + "/deck.pptx", into: try dir.folder("out"))
        let structure = try dir.json("out/structure.json")
        let slides = try #require(structure["slides"] as? [[String: Any]])
        #expect(slides[0]["title"] as? String == "Results of the year 2024")
        #expect(slides[1]["title"] is NSNull && slides[2]["title"] is NSNull)
        #expect(slides.allSatisfy { $0.keys.contains("title") })
        let pages = try dir.read("out/text.txt").split(separator: "\u{0C}", omittingEmptySubsequences: false)
        #expect(pages[0] == "Results\nof the year\n2024\nBody\n")
        #expect(pages[1] == "Untitled body\n")
        let embedded = try #require(try dir.json("out/metadata.json")["embedded"] as? [[String: Any]])
        #expect(embedded.map { $0["name"] as? String } == ["ppt/media/media1.mp4", "ppt/embeddings/Microsoft_Excel_Worksheet.xlsx"])
        #expect(embedded.map { $0["type"] as? String } == ["video/mp4", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"])
        #expect(embedded.map { $0["size"] as? Int } == [2048, 300])
    }
}
