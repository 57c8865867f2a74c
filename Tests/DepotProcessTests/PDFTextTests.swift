import DepotCore
import DepotProcess
import DepotTestSupport
import Foundation
import Testing

/// Where poppler-glib's page text and `pdftotext` differ, text.txt follows `pdftotext`
/// (pdf.js's test files showed each case; see docs/DECISIONS.md, "Real-world documents").
@Suite("PDF text as pdftotext prints it")
struct PDFTextTests {
    /// The text.txt that `depot extract` writes for `pdf`.
    private func extractedText(_ dir: TempDir, _ pdf: String) throws -> String {
        let out = try dir.folder("out")
        _ = try PDFProcessor.extract(from: pdf, into: out)
        return try dir.read("out/text.txt")
    }

    /// structure.json's `annotations`, from the last `extractedText` in `dir`.
    private func structureAnnotations(_ dir: TempDir) throws -> [[String: Any]] {
        let structure = try JSONSerialization.jsonObject(with: Data(try dir.read("out/structure.json").utf8)) as? [String: Any]
        return try #require(structure?["annotations"] as? [[String: Any]])
    }

    @Test func tableCellsOnOneRowStaySeparateWords() throws {
        // Two columns of single words: poppler's selection dumper joins a table row's cells
        // with nothing between them ("NormalHardLight", as in pdf.js's blendmode.pdf).
        let dir = try TempDir()
        let rows = [("Normal", "HardLight"), ("Multiply", "SoftLight"), ("Screen", "Difference"), ("Overlay", "Exclusion")]
        var content = "BT /F1 12 Tf\n"
        for (index, (left, right)) in rows.enumerated() {
            let y = 700 - 40 * index
            content += "1 0 0 1 72 \(y) Tm (\(left)) Tj 1 0 0 1 300 \(y) Tm (\(right)) Tj\n"
        }
        content += "ET"
        try makeRawPDF(dir.path + "/table.pdf", content: content)
        let words = try extractedText(dir, dir.path + "/table.pdf").split(whereSeparator: \.isWhitespace)
        #expect(words == ["Normal", "HardLight", "Multiply", "SoftLight", "Screen", "Difference", "Overlay", "Exclusion"])
    }

    @Test func rightToLeftWordsStaySeparateWords() throws {
        // Two Hebrew words with a space between them, drawn in visual order (Helvetica's a…e
        // mapped to א…ה by a ToUnicode CMap). poppler-glib writes them as two RLE … PDF
        // fragments with no space between; `pdftotext` writes "גבא אהד".
        let dir = try TempDir()
        try makeRawPDF(dir.path + "/hebrew.pdf", content: "BT /F1 24 Tf 1 0 0 1 200 700 Tm (dea abc) Tj ET",
                       font: mappedHelvetica, objects: [toUnicode(hebrew)])
        let words = try extractedText(dir, dir.path + "/hebrew.pdf").split(whereSeparator: \.isWhitespace)
        #expect(words == ["\u{05D2}\u{05D1}\u{05D0}", "\u{05D0}\u{05D4}\u{05D3}"])
    }

    @Test func rightToLeftLettersPlacedOneByOneAreOneWord() throws {
        // Hebrew set in reading order, each letter moved back to the left of the one before
        // (a TJ array's positive adjustments), as cairo writes right-to-left text in the drawn
        // copy of a page with annotations (pdf.js's issue20504.pdf): poppler takes every letter
        // for a word, and `pdftotext` prints the words. "אבג", a word space, "דה".
        let dir = try TempDir()
        // Helvetica's widths: a, b, d, e 556, c 500 (thousandths of the size); each adjustment
        // moves back over the letter drawn and the next one, and 333 more for the word space.
        let content = "BT /F1 24 Tf 1 0 0 1 300 700 Tm [(a) 1112 (b) 1056 (c) 1389 (d) 1112 (e)] TJ ET"
        try makeRawPDF(dir.path + "/glyphs.pdf", content: content,
                       font: mappedHelvetica, objects: [toUnicode(hebrew)])
        let words = try extractedText(dir, dir.path + "/glyphs.pdf").split(whereSeparator: \.isWhitespace)
        #expect(words.sorted() == ["\u{05D0}\u{05D1}\u{05D2}", "\u{05D3}\u{05D4}"])
    }

    @Test func everyLineOfARightToLeftPageIsInTheText() throws {
        // Four Hebrew lines whose right ends do not line up, as in pdf.js's issue5677.pdf:
        // poppler-glib's selection from the page's top left to its bottom right keeps two of
        // them ("אהד", "דאב"); `pdftotext` prints all four.
        let dir = try TempDir()
        let lines = [("abc", 400, 700), ("dea", 420, 660), ("bad", 380, 620), ("ecb", 410, 580)]
        let content = "BT /F1 24 Tf\n" + lines.map { "1 0 0 1 \($0.1) \($0.2) Tm (\($0.0)) Tj\n" }.joined() + "ET"
        try makeRawPDF(dir.path + "/lines.pdf", content: content,
                       font: mappedHelvetica, objects: [toUnicode(hebrew)])
        let words = try extractedText(dir, dir.path + "/lines.pdf").split(whereSeparator: \.isWhitespace)
        #expect(words == ["\u{05D2}\u{05D1}\u{05D0}", "\u{05D0}\u{05D4}\u{05D3}", "\u{05D3}\u{05D0}\u{05D1}", "\u{05D1}\u{05D2}\u{05D4}"])
    }

    @Test func everyLetterOfSkewedTextIsInTheText() throws {
        // A skewed text matrix, as in pdf.js's bug946506.pdf: the block of the first line's
        // start reaches past the page's top left corner, and a selection from that corner
        // leaves out its "Lo".
        let dir = try TempDir()
        let lines = ["Lorem ipsum dolor sit amet", "consectetur adipiscing elit", "sed do eiusmod tempor"]
        let content = "BT /F1 12 Tf 1.4 -0.7 0.7 0.7 20 700 Tm " + lines.map { "(\($0)) Tj 0 -20 Td " }.joined() + "ET"
        try makeRawPDF(dir.path + "/skewed.pdf", content: content)
        let text = try extractedText(dir, dir.path + "/skewed.pdf")
        #expect(text.filter(\.isLetter).sorted() == lines.joined().filter(\.isLetter).sorted())
    }

    @Test func glyphsWithoutWidthAreInTheText() throws {
        // A font whose /Widths are all 0, as in pdf.js's issue3263r.pdf: a selection of glyphs
        // leaves every letter out, one of whole lines keeps them; `pdftotext` prints "Zero".
        let dir = try TempDir()
        let widths = Array(repeating: "0", count: 95).joined(separator: " ")
        try makeRawPDF(dir.path + "/zero.pdf", content: "BT /F1 24 Tf 72 700 Td (Zero) Tj ET",
                       font: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding /FirstChar 32 /LastChar 126 /Widths [\(widths)] >>")
        #expect(try extractedText(dir, dir.path + "/zero.pdf") == "Zero\n\u{0C}")
    }

    @Test func arabicComesOutInLogicalOrderAsBaseLettersWithoutBidiControls() throws {
        // "سلام لا" as a PDF font sets it: contextual glyph forms (U+FExx, the ToUnicode CMap of
        // many Arabic fonts maps glyphs to them), drawn left to right in visual order, "لا" as
        // the lam-alef ligature U+FEFB. poppler writes the forms, wrapped in RLE … PDF.
        let dir = try TempDir()
        try makeRawPDF(dir.path + "/arabic.pdf", content: "BT /F1 24 Tf 1 0 0 1 200 700 Tm (a bcde) Tj ET",
                       font: mappedHelvetica, objects: [toUnicode(arabic)])
        let text = try extractedText(dir, dir.path + "/arabic.pdf")
        #expect(text.split(whereSeparator: \.isWhitespace) == ["\u{0633}\u{0644}\u{0627}\u{0645}", "\u{0644}\u{0627}"])
        #expect(!text.unicodeScalars.contains { (0x200E...0x200F).contains($0.value) || (0x202A...0x202E).contains($0.value)
                || (0x2066...0x2069).contains($0.value) || (0xFB50...0xFEFC).contains($0.value) })
    }

    @Test func wordHyphenatedAcrossLinesIsJoined() throws {
        let dir = try TempDir()
        try makeRawPDF(dir.path + "/hyphen.pdf", content: """
            BT /F1 12 Tf 72 700 Td 14 TL (The archive keeps every docu-) Tj T* (ment it was given, com-) Tj T* (pressed and checked.) Tj ET
            """)
        let text = try extractedText(dir, dir.path + "/hyphen.pdf")
        #expect(text == "The archive keeps every document it was given, compressed and checked.\n\u{0C}")
    }

    @Test func textTheCropBoxLeavesOutIsInTheText() throws {
        // The crop box keeps the page's corner at (0, 0) and shows its top left quarter only.
        let dir = try TempDir()
        try makeRawPDF(dir.path + "/cropped.pdf", content: """
            BT /F1 12 Tf 72 700 Td (Shown in the corner) Tj 300 -500 Td (Kept beyond the crop) Tj ET
            """, page: "/CropBox [0 396 306 792]")
        let words = try extractedText(dir, dir.path + "/cropped.pdf").split(whereSeparator: \.isWhitespace)
        #expect(words == ["Shown", "in", "the", "corner", "Kept", "beyond", "the", "crop"])
    }

    @Test func aPageWhoseCropBoxMissesItsMediaBoxHasItsText() throws {
        // poppler clips the crop box to the media box: nothing is left of it (pdf.js's
        // boundingBox_invalid.pdf), and poppler-glib reads no text at all there.
        let dir = try TempDir()
        try makeRawPDF(dir.path + "/missed.pdf", content: "BT /F1 12 Tf 72 700 Td (Read over the media box) Tj ET",
                       page: "/CropBox [700 800 900 900]")
        let words = try extractedText(dir, dir.path + "/missed.pdf").split(whereSeparator: \.isWhitespace)
        #expect(words == ["Read", "over", "the", "media", "box"])
    }

    @Test func filledFormFieldsAreInTheTextAndHiddenOnesAreNot() throws {
        let dir = try TempDir()
        let field = "/Type /Annot /Subtype /Widget /DA (/Helv 12 Tf 0 g)"
        try makeRawPDF(dir.path + "/form.pdf", content: "BT /F1 12 Tf 72 720 Td (Application form) Tj ET", annotations: [
            // Listed bottom first: the text follows the page from top to bottom.
            "<< \(field) /FT /Ch /Ff 131072 /T (city) /Opt [(Paris) (London) (Turin)] /V (London) /Rect [72 600 300 620] /F 4 >>",
            "<< \(field) /FT /Tx /T (name) /V (Ada Lovelace) /Rect [72 650 300 670] /F 4 >>",
            "<< \(field) /FT /Tx /T (note) /V (first line\rsecond line) /Ff 4096 /Rect [320 650 500 690] /F 4 >>",
            "<< \(field) /FT /Tx /T (secret) /V (hidden value) /Rect [72 550 300 570] /F 6 >>",  // Hidden + Print
        ], formFields: true)
        let text = try extractedText(dir, dir.path + "/form.pdf")
        // Where they stand, as `pdftotext` prints them: the left column, then the right one.
        #expect(text == "Application form\nAda Lovelace\nLondon\nfirst line\nsecond line\n\u{0C}")
        // structure.json lists what each visible field holds by the top of its box (the note
        // reaches higher than the name), with its name.
        let annotations = try structureAnnotations(dir)
        #expect(annotations.map { $0["name"] as? String } == ["note", "name", "city"])
        #expect(annotations.map { $0["value"] as? String } == ["first line\rsecond line", "Ada Lovelace", "London"])
        #expect(annotations.map { $0["type"] as? String } == ["text", "text", "combo"])
        #expect(annotations.last?["items"] as? [String] == ["Paris", "London", "Turin"])
    }

    @Test func buttonCaptionsAndAppearanceOnlyTextAreInTheText() throws {
        // A push button shows its caption (/MK /CA) and a signature field only its appearance
        // stream; neither has a value poppler-glib exposes. `pdftotext` prints both.
        let dir = try TempDir()
        let appearance = "/Tx BMC BT /F1 10 Tf 4 8 Td (Signed by Grace Hopper) Tj ET EMC"
        try makeRawPDF(dir.path + "/buttons.pdf", content: "BT /F1 12 Tf 72 720 Td (Order form) Tj ET", annotations: [
            "<< /Type /Annot /Subtype /Widget /FT /Btn /Ff 65536 /T (send) /MK << /CA (Send order) >> /DA (/Helv 12 Tf 0 g) /Rect [72 600 200 630] /F 4 >>",
            "<< /Type /Annot /Subtype /Widget /FT /Sig /T (signature) /Rect [72 500 300 530] /F 4 /AP << /N 8 0 R >> >>",
            appearanceStream(appearance, width: 228, height: 30),
        ], formFields: true)
        let words = try extractedText(dir, dir.path + "/buttons.pdf").split(whereSeparator: \.isWhitespace)
        #expect(words == ["Order", "form", "Send", "order", "Signed", "by", "Grace", "Hopper"])
    }

    @Test(arguments: ["", "/CropBox [36 36 576 756]"])
    func aValueTheDrawingShowsOtherwiseIsInTheStructureNotTheText(crop: String) throws {
        // A stale appearance (pdf.js bug1825002.pdf): the page shows one text, the field holds
        // another. The text is what the page shows, as `pdftotext` prints it; the value is
        // listed in structure.json with the field's name. On a cropped page too, which is also
        // read over its media box (pdf.js's bug1865341.pdf).
        let dir = try TempDir()
        let appearance = "/Tx BMC BT /F1 10 Tf 4 8 Td (Draft amount) Tj ET EMC"
        try makeRawPDF(dir.path + "/stale.pdf", content: "BT /F1 12 Tf 72 720 Td (Invoice) Tj ET", annotations: [
            "<< /Type /Annot /Subtype /Widget /FT /Tx /T (amount) /V (Final sum) /DA (/Helv 12 Tf 0 g) /Rect [72 600 300 630] /F 4 /AP << /N 7 0 R >> >>",
            appearanceStream(appearance, width: 228, height: 30),
        ], formFields: true, page: crop)
        let text = try extractedText(dir, dir.path + "/stale.pdf")
        #expect(text.split(whereSeparator: \.isWhitespace) == ["Invoice", "Draft", "amount"])
        let annotations = try structureAnnotations(dir)
        #expect(annotations.count == 1)
        #expect(annotations.first?["name"] as? String == "amount")
        #expect(annotations.first?["value"] as? String == "Final sum")
        #expect(annotations.first?["type"] as? String == "text")
        #expect(annotations.first?["page"] as? Int == 1)
    }

    @Test func aValueWhoseBoxShowsNoTextJoinsTheText() throws {
        // An appearance that draws no letters where the field stands (here an empty one; in
        // pdf.js's issue16021.pdf glyphs without their letters): the value stands in for it.
        let dir = try TempDir()
        let appearance = "/Tx BMC EMC"
        try makeRawPDF(dir.path + "/blank.pdf", content: "BT /F1 12 Tf 72 720 Td (Invoice) Tj ET", annotations: [
            "<< /Type /Annot /Subtype /Widget /FT /Tx /T (amount) /V (Final sum) /DA (/Helv 12 Tf 0 g) /Rect [72 600 300 630] /F 4 /AP << /N 7 0 R >> >>",
            appearanceStream(appearance, width: 228, height: 30, fonts: false),
        ], formFields: true)
        #expect(try extractedText(dir, dir.path + "/blank.pdf") == "Invoice\nFinal sum\n\u{0C}")
        #expect(try structureAnnotations(dir).map { $0["value"] as? String } == ["Final sum"])
    }

    @Test func invisibleTextIsKeptWhenAPageWithFieldsIsRead() throws {
        // A scan's OCR layer is invisible text (render mode 3), which a drawing of the page does
        // not hold: the page's own text stays, and the field's value follows it.
        let dir = try TempDir()
        let field = "/Type /Annot /Subtype /Widget /DA (/Helv 12 Tf 0 g)"
        try makeRawPDF(dir.path + "/ocr.pdf", content: "BT 3 Tr /F1 12 Tf 72 720 Td (Scanned invoice) Tj ET", annotations: [
            "<< \(field) /FT /Tx /T (total) /V (Paid in full) /Rect [72 600 300 620] /F 4 >>",
        ], formFields: true)
        let text = try extractedText(dir, dir.path + "/ocr.pdf")
        #expect(text == "Scanned invoice\nPaid in full\n\u{0C}")
    }

    @Test func aDrawingThatRegroupsThePagesLettersIsKept() throws {
        // A stamp whose appearance draws "due" edge to edge with the page's "Total": the drawn
        // page reads "Totaldue", as `pdftotext` prints it, which lacks the word "Total" but
        // none of its letters; the stamp's text is only in the drawing.
        let dir = try TempDir()
        let appearance = "BT /F1 12 Tf 0 2 Td (due) Tj ET"
        try makeRawPDF(dir.path + "/stamp.pdf", content: "BT /F1 12 Tf 72 720 Td (Total) Tj ET", annotations: [
            "<< /Type /Annot /Subtype /Stamp /Rect [98.68 718 140 734] /F 4 /AP << /N 7 0 R >> >>",
        ], objects: [
            appearanceStream(appearance, width: 60, height: 16),
        ])
        #expect(try extractedText(dir, dir.path + "/stamp.pdf") == "Totaldue\n\u{0C}")
    }

    @Test func freeTextAnnotationIsInTheText() throws {
        let dir = try TempDir()
        try makeRawPDF(dir.path + "/note.pdf", content: "BT /F1 12 Tf 72 720 Td (Reviewed draft) Tj ET", annotations: [
            "<< /Type /Annot /Subtype /FreeText /Rect [72 600 300 640] /Contents (Approved by Grace) /DA (/Helv 12 Tf 0 g) /F 4 >>",
            "<< /Type /Annot /Subtype /Text /Rect [400 600 420 620] /Contents (a sticky note is not drawn) /F 4 >>",
        ])
        let text = try extractedText(dir, dir.path + "/note.pdf")
        #expect(text == "Reviewed draft\nApproved by Grace\n\u{0C}")
    }
}

/// Helvetica whose a…e (and space) a ToUnicode CMap (object 6, `toUnicode`) maps to other letters.
private let mappedHelvetica = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>"
/// a…e as א…ה.
private let hebrew = "<61> <05D0> <62> <05D1> <63> <05D2> <64> <05D3> <65> <05D4>"
/// a…e as Arabic presentation forms: lam-alef, meem, alef, lam, seen.
private let arabic = "<61> <FEFB> <62> <FEE1> <63> <FE8E> <64> <FEE0> <65> <FEB3>"

/// The ToUnicode CMap stream that maps space to space and a…e as `letters` (bfchar pairs).
/// An annotation's appearance: a form XObject of `width` × `height` points drawing `content`,
/// with the page's font F1 (object 4 of `makeRawPDF`) unless `fonts` is false.
private func appearanceStream(_ content: String, width: Int, height: Int, fonts: Bool = true) -> String {
    let resources = fonts ? " /Resources << /Font << /F1 4 0 R >> >>" : ""
    return "<< /Type /XObject /Subtype /Form /BBox [0 0 \(width) \(height)]\(resources) /Length \(content.utf8.count) >>\nstream\n\(content)\nendstream"
}

private func toUnicode(_ letters: String) -> String {
    let cmap = """
        /CIDInit /ProcSet findresource begin 12 dict begin begincmap /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def \
        /CMapName /Adobe-Identity-UCS def /CMapType 2 def 1 begincodespacerange <00> <FF> endcodespacerange \
        6 beginbfchar <20> <0020> \(letters) endbfchar endcmap \
        CMapName currentdict /CMap defineresource pop end end
        """
    return "<< /Length \(cmap.utf8.count) >>\nstream\n\(cmap)\nendstream"
}
