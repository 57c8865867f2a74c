import CPoppler

/// Where poppler-glib's page text and `pdftotext` differ, the page's text follows `pdftotext`
/// (pdf.js's test files showed each case; see docs/DECISIONS.md, "Real-world documents").
/// Plain text work on what poppler gave, no C calls.
extension PDFPage {
    /// A gap wider than this many character heights between two characters of one output line
    /// is a cell boundary, not a letter-spaced word (a space is about a quarter of a height).
    static let cellGap = 0.6

    /// Puts a space between two characters that `poppler_page_get_text` wrote side by side but
    /// that stand apart on the page: poppler's selection dumper merges the blocks of a table row
    /// into one line without a separator (TextSelectionDumper::visitLine), where `pdftotext`
    /// prints each block by itself.
    /// - Parameters:
    ///   - boxes: `poppler_page_get_text_layout`'s boxes, one per character of `text`; when the
    ///     counts differ the text is returned as it is.
    static func separatingCells(_ text: String, boxes: UnsafeBufferPointer<PopplerRectangle>) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count == boxes.count, boxes.count > 1 else { return text }
        // Most pages have no such place: find them first and copy the text only when there are.
        var breaks: [Int] = []
        var index = 0
        var previousIsText = false
        for scalar in scalars {
            let isText = !isSpace(scalar)
            if isText && previousIsText {
                let left = boxes[index - 1], right = boxes[index]
                let gap = cellGap * max(left.y2 - left.y1, right.y2 - right.y1)
                // Forward across a gap, or back to the left (a right-to-left line's order is
                // reversed word by word, so only a jump larger than a character counts).
                if gap > 0 && (right.x1 - left.x2 > gap || left.x1 - right.x2 > gap) { breaks.append(index) }
            }
            previousIsText = isText
            index += 1
        }
        guard !breaks.isEmpty else { return text }
        var out = String.UnicodeScalarView()
        var next = breaks.makeIterator(), pending = next.next()
        index = 0
        for scalar in scalars {
            if index == pending {
                out.append(" ")
                pending = next.next()
            }
            out.append(scalar)
            index += 1
        }
        return String(out)
    }

    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x80 ? scalar.value <= 0x20 : scalar.properties.isWhitespace
    }

    /// Joins a line that ends with a hyphen to the next one, dropping the hyphen, as `pdftotext`
    /// does (TextPage::dump: a line whose last character is '-' and which is followed by another
    /// line); "com-" / "puter" becomes "computer".
    static func joiningHyphenatedLines(_ text: String) -> String {
        guard text.contains("-\n") else { return text }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for (index, line) in lines.enumerated() {
            let isLast = index == lines.count - 1
            if !isLast, line.hasSuffix("-"), !lines[index + 1].isEmpty {
                out += line.dropLast()
                continue
            }
            out += line
            if !isLast { out += "\n" }
        }
        return out
    }
}
