import CPoppler
import DepotCore
import DepotProcess
import DepotTestSupport
import Foundation
import Testing

/// A temporary folder, removed when the value goes away.
final class TempDir {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/depot-docs-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError(call: "mkdtemp", errno: errno) }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A new empty folder inside, for one run's artifacts.
    func folder(_ name: String) throws -> String {
        let folder = path + "/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    func read(_ relative: String) throws -> String {
        try String(contentsOfFile: path + "/" + relative, encoding: .utf8)
    }

    func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path + "/" + relative))
        return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Every file's bytes under the folder, concatenated (to assert something never appears).
    func allOutput() throws -> String {
        var all = ""
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let name = enumerator?.nextObject() as? String {
            if let data = FileManager.default.contents(atPath: path + "/" + name) {
                all += String(decoding: data, as: UTF8.self)
            }
        }
        return all
    }
}

/// Runs a program and returns its exit status; stdin gets `input`.
@discardableResult
func run(_ program: String, _ arguments: [String], input: Data? = nil) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [program] + arguments
    let stdin = Pipe()
    process.standardInput = stdin
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    if let input { stdin.fileHandleForWriting.write(input) }
    try stdin.fileHandleForWriting.close()
    process.waitUntilExit()
    return process.terminationStatus
}

/// Writes a ZIP with python3's zipfile: entries in order, as given (names are not checked,
/// so hostile names go in as they are).
func makeZip(_ path: String, _ entries: [(String, String)], stored: Bool = false) throws {
    try makeZip(path, entries.map { ($0.0, Data($0.1.utf8)) }, stored: stored)
}

func makeZip(_ path: String, _ entries: [(String, Data)], stored: Bool = false) throws {
    let script = """
    import sys, json, zipfile, base64
    spec = json.load(sys.stdin)
    mode = zipfile.ZIP_STORED if sys.argv[2] == "stored" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(sys.argv[1], "w", mode) as z:
        for name, content in spec:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 12, 0, 0))
            info.compress_type = mode
            z.writestr(info, base64.b64decode(content))
    """
    let spec = entries.map { [$0.0, $0.1.base64EncodedString()] }
    let input = try JSONSerialization.data(withJSONObject: spec)
    let status = try run(debianPython, ["-c", script, path, stored ? "stored" : "deflated"], input: input)
    #expect(status == 0, "python3 zipfile failed")
}

// MARK: OOXML parts

let contentTypesDOCX = """
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Default Extension="jpeg" ContentType="image/jpeg"/>
<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
</Types>
"""

let packageRelsDOCX = """
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>
<Relationship Id="rId4" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail" Target="docProps/thumbnail.jpeg"/>
</Relationships>
"""

let coreXML = """
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<dc:title>Quarterly Report</dc:title><dc:creator>Ada Lovelace</dc:creator><cp:lastModifiedBy>Charles Babbage</cp:lastModifiedBy>
<dcterms:created xsi:type="dcterms:W3CDTF">2024-01-02T03:04:05Z</dcterms:created>
<dcterms:modified xsi:type="dcterms:W3CDTF">2024-02-03T04:05:06Z</dcterms:modified>
</cp:coreProperties>
"""

let appXML = """
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">
<Pages>3</Pages><Words>120</Words><Application>Hand Written</Application>
<HeadingPairs><vt:vector xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes" size="1" baseType="variant"><vt:variant><vt:lpstr>Title</vt:lpstr></vt:variant></vt:vector></HeadingPairs>
</Properties>
"""

let wordNS = #"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006""#

/// A document.xml around a body.
func wordDocument(_ body: String) -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:document \(wordNS)><w:body>\(body)</w:body></w:document>"
}

/// A paragraph with an optional style and numbering.
func wp(_ text: String, style: String? = nil, numID: Int? = nil, level: Int = 0) -> String {
    var properties = ""
    if let style { properties += "<w:pStyle w:val=\"\(style)\"/>" }
    if let numID { properties += "<w:numPr><w:ilvl w:val=\"\(level)\"/><w:numId w:val=\"\(numID)\"/></w:numPr>" }
    return "<w:p>\(properties.isEmpty ? "" : "<w:pPr>\(properties)</w:pPr>")<w:r><w:t xml:space=\"preserve\">\(text)</w:t></w:r></w:p>"
}

/// The parts of a minimal valid DOCX with `document` as word/document.xml.
func docxParts(document: String, extra: [(String, String)] = []) -> [(String, String)] {
    [("[Content_Types].xml", contentTypesDOCX), ("_rels/.rels", packageRelsDOCX),
     ("docProps/core.xml", coreXML), ("docProps/app.xml", appXML),
     ("word/document.xml", document)] + extra
}

/// Billion laughs: ten levels of ten references each (10^9 "lol"s if expanded).
let billionLaughs: String = {
    var dtd = "<!ENTITY lol \"lol\">"
    for level in 1...9 {
        dtd += "<!ENTITY lol\(level) \"" + String(repeating: "&lol\(level - 1 == 0 ? "" : String(level - 1));", count: 10) + "\">"
    }
    return "<?xml version=\"1.0\"?>\n<!DOCTYPE w:document [\(dtd)]>\n<w:document \(wordNS)><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
}()

/// XXE: an external entity naming /etc/passwd.
let xxeDocument = """
<?xml version="1.0"?>
<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<w:document \(wordNS)><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body></w:document>
"""

// MARK: PDFs made with cairo's PDF surface

/// Writes a PDF: one page per entry of `pages` (lines of text; an empty list draws only a
/// rectangle, so the page has no text layer), with metadata and an outline; pages are A4
/// unless `size` (points) says otherwise.
func makePDF(_ path: String, pages: [[String]], title: String? = nil, author: String? = nil,
             outline: [(title: String, page: Int, parent: Int)] = [], size: (Double, Double) = (595, 842)) {
    let surface = cairo_pdf_surface_create(path, size.0, size.1)!
    let context = cairo_create(surface)!
    if let title { cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, title) }
    if let author { cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_AUTHOR, author) }
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATE_DATE, "2024-01-02T03:04:05Z")
    var ids: [Int32] = []
    for entry in outline {
        let parent = entry.parent < 0 ? Int32(CAIRO_PDF_OUTLINE_ROOT) : ids[entry.parent]
        ids.append(cairo_pdf_surface_add_outline(surface, parent, entry.title, "page=\(entry.page)",
                                                 CAIRO_PDF_OUTLINE_FLAG_OPEN))
    }
    for lines in pages {
        if lines.isEmpty {
            cairo_set_source_rgb(context, 0.2, 0.4, 0.6)
            cairo_rectangle(context, 100, 100, 300, 200)
            cairo_fill(context)
        } else {
            cairo_set_source_rgb(context, 0, 0, 0)
            cairo_select_font_face(context, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
            cairo_set_font_size(context, 14)
            for (row, line) in lines.enumerated() {
                cairo_move_to(context, 72, 100 + Double(row) * 24)
                cairo_show_text(context, line)
            }
        }
        cairo_show_page(context)
    }
    cairo_destroy(context)
    cairo_surface_finish(surface)
    cairo_surface_destroy(surface)
}

// MARK: PDFs written by hand

/// A one-page PDF with "日本語" set in a CID font through the predefined CMap 90ms-RKSJ-H
/// (Shift-JIS), whose text poppler reads only with poppler-data's CMaps.
func makeCJKPDF(_ path: String) throws {
    let font = "<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiMin-W3 /Encoding /90ms-RKSJ-H /DescendantFonts [6 0 R] >>"
    let descendant = "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiMin-W3 /CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >> /FontDescriptor 7 0 R >>"
    let descriptor = "<< /Type /FontDescriptor /FontName /HeiseiMin-W3 /Flags 6 /FontBBox [0 -141 1000 859] /ItalicAngle 0 /Ascent 859 /Descent -141 /CapHeight 700 /StemV 80 >>"
    // 日本語 in Shift-JIS: 93 FA 96 7B 8C EA.
    try makeRawPDF(path, content: "BT /F1 24 Tf 72 700 Td <93FA967B8CEA> Tj ET", font: font, objects: [descendant, descriptor])
}

/// Writes a one-page PDF (US Letter, Helvetica as /F1) whose content stream is `content`, with
/// `annotations` (dictionaries) on the page; `formFields` lists them in an /AcroForm too.
/// cairo writes neither form fields nor FreeText annotations, so these are written by hand.
///
/// `font` replaces /F1's dictionary; `catalog` is added to the catalog's dictionary; `objects`
/// follow the annotations, numbered from 6 + the annotations' count (`extraObjectNumber`).
func makeRawPDF(_ path: String, content: String, annotations: [String] = [], formFields: Bool = false,
                font: String = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
                catalog: String = "", page: String = "", objects extra: [String] = []) throws {
    let references = annotations.indices.map { "\($0 + 6) 0 R" }.joined(separator: " ")
    let acroForm = formFields ? " /AcroForm << /Fields [\(references)] /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv 4 0 R >> >> >>" : ""
    var objects = [
        "<< /Type /Catalog /Pages 2 0 R\(acroForm)\(catalog.isEmpty ? "" : " " + catalog) >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R"
            + (page.isEmpty ? "" : " " + page) + (annotations.isEmpty ? "" : " /Annots [\(references)]") + " >>",
        font,
        "<< /Length \(content.utf8.count) >>\nstream\n\(content)\nendstream",
    ]
    objects += annotations
    objects += extra
    var bytes = "%PDF-1.7\n"
    var offsets: [Int] = []
    for (index, object) in objects.enumerated() {
        offsets.append(bytes.utf8.count)
        bytes += "\(index + 1) 0 obj\n\(object)\nendobj\n"
    }
    let xref = bytes.utf8.count
    bytes += "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
    for offset in offsets {
        let digits = String(offset)
        bytes += String(repeating: "0", count: 10 - digits.count) + digits + " 00000 n \n"
    }
    bytes += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
    try Data(bytes.utf8).write(to: URL(fileURLWithPath: path))
}

// MARK: other files

/// The width and height in a PNG's IHDR chunk.
func pngSize(_ bytes: [UInt8]) throws -> (width: Int, height: Int) {
    try #require(bytes.count >= 24 && bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "not a PNG")
    return (bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }, bytes[20..<24].reduce(0) { $0 << 8 | Int($1) })
}

/// A file's bytes.
func contents(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Runs `processor` the way a worker does (through `process`), into a new folder of `dir`.
func runProcessor(_ processor: any Processor, _ path: String, mediaType: String, in dir: TempDir,
                  parameters: [String: ParameterValue] = [:]) throws -> (folder: String, artifacts: [ProducedArtifact]) {
    let folder = try dir.folder("run-\(UUID().uuidString)")
    let artifacts = try processor.process(ProcessorInput(path: path, mediaType: mediaType, name: baseName(path),
                                                         parameters: parameters, outputDirectory: folder))
    return (folder, artifacts)
}

/// A JPEG's first bytes, which is all a package thumbnail is checked for.
let jpegBytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10] + Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9]
/// A PNG's signature and the start of an IHDR chunk.
let pngBytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8) + [0, 0, 0, 8, 0, 0, 0, 8]
/// A Windows Metafile's placeable header: what Office writes as a thumbnail on some systems.
let wmfBytes: [UInt8] = [0xD7, 0xCD, 0xC6, 0x9A, 0, 0, 0, 0, 0, 0, 0x20, 0x03, 0x20, 0x03]

/// An AAC song in an M4A with a PNG cover (an attached picture) and two chapters.
func makeSongWithCover(_ path: String, in dir: TempDir) throws {
    let cover = dir.path + "/cover-\(UUID().uuidString).png"
    try ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=200x200", "-frames:v", "1", cover])
    try ffmpeg(["-f", "lavfi", "-i", "sine=f=330:d=3", "-i", cover, "-map", "0", "-map", "1", "-c:a", "aac", "-c:v", "png",
                "-disposition:v:0", "attached_pic", "-metadata", "title=A song", "-metadata", "artist=Someone", path])
}
