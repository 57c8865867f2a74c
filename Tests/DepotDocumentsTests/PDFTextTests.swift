import DepotCore
import DepotProcess
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

    @Test func wordHyphenatedAcrossLinesIsJoined() throws {
        let dir = try TempDir()
        try makeRawPDF(dir.path + "/hyphen.pdf", content: """
            BT /F1 12 Tf 72 700 Td 14 TL (The archive keeps every docu-) Tj T* (ment it was given, com-) Tj T* (pressed and checked.) Tj ET
            """)
        let text = try extractedText(dir, dir.path + "/hyphen.pdf")
        #expect(text == "The archive keeps every document it was given, compressed and checked.\n\u{0C}")
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
        #expect(text == "Application form\nfirst line\nsecond line\nAda Lovelace\nLondon\n\u{0C}")
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
