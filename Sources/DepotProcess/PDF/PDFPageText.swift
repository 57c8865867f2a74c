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

    /// Joins right-to-left words that poppler-glib wrote as separate embeddings but that stand
    /// edge to edge on the page. A generator that places each glyph by itself (cairo, in the
    /// drawn copy of a page with annotations, sets right-to-left text letter by letter, each
    /// moved back to the left of the one before: pdf.js's issue20504.pdf) makes poppler take
    /// every letter for a word; the selection dumper wraps each in RLE … PDF and puts the word
    /// spaces it knows of one word late, where `pdftotext` prints the words ("مرحبا").
    ///
    /// A run of embeddings with nothing or one space between them, standing in one direction
    /// on the line (each left of the one before, or each right of it), is read again from its
    /// letters' boxes: from the right, neighbours less than `glyphGap` of a character height
    /// apart are one word, its letters in reading order, and a wider gap is a word space.
    /// - Parameters:
    ///   - boxes: the layout's boxes, one per character that is not a bidi control (poppler
    ///     gives the controls none); when the counts differ the text is returned as it is.
    static func joiningRightToLeftGlyphs(_ text: String, boxes: UnsafeBufferPointer<PopplerRectangle>) -> String {
        guard text.unicodeScalars.contains("\u{202B}") else { return text }
        let scalars = Array(text.unicodeScalars)
        guard scalars.reduce(0, { $0 + (PDFText.isBidiControl($1) ? 0 : 1) }) == boxes.count else { return text }
        // A word: RLE, letters without controls or spaces, PDF; where it stands in `scalars`,
        // and its letters' boxes' extent.
        struct Word { var letters: [Unicode.Scalar]; var start: Int; var end: Int; var minX: Double; var maxX: Double; var height: Double }
        var words: [Word] = []
        var box = 0
        var index = 0
        while index < scalars.count {
            if scalars[index] == "\u{202B}" {
                var next = index + 1
                var word = Word(letters: [], start: index, end: index, minX: .infinity, maxX: -.infinity, height: 0)
                while next < scalars.count, !PDFText.isBidiControl(scalars[next]), !isSpace(scalars[next]) {
                    let area = boxes[box + next - index - 1]
                    word.letters.append(scalars[next])
                    word.minX = min(word.minX, area.x1, area.x2)
                    word.maxX = max(word.maxX, area.x1, area.x2)
                    word.height = max(word.height, abs(area.y2 - area.y1))
                    next += 1
                }
                if next < scalars.count, scalars[next] == "\u{202C}", !word.letters.isEmpty {
                    word.end = next
                    words.append(word)
                    box += word.letters.count
                    index = next + 1
                    continue
                }
            }
            if !PDFText.isBidiControl(scalars[index]) { box += 1 }
            index += 1
        }
        guard words.count > 1 else { return text }
        // Runs of neighbours: nothing or one space between one word and the next.
        var runs: [[Word]] = []
        for word in words {
            if let previous = runs.last?.last, word.start == previous.end + 1
                || (word.start == previous.end + 2 && scalars[previous.end + 1] == " ") {
                runs[runs.count - 1].append(word)
            } else {
                runs.append([word])
            }
        }
        var out = String.UnicodeScalarView()
        var position = 0
        var changed = false
        for run in runs where run.count > 1 {
            let tolerance = glyphGap * run.map(\.height).max()!
            let pairs = zip(run, run.dropFirst())
            // From the right: as written, or reversed when they stand left to right.
            let ordered: [Word]
            if pairs.allSatisfy({ $1.maxX <= $0.minX + tolerance }) {
                ordered = run
            } else if pairs.allSatisfy({ $1.minX >= $0.maxX - tolerance }) {
                ordered = run.reversed()
            } else {
                continue
            }
            var groups: [[Unicode.Scalar]] = [ordered[0].letters]
            for (right, left) in zip(ordered, ordered.dropFirst()) {
                if right.minX - left.maxX < tolerance {
                    groups[groups.count - 1] += left.letters
                } else {
                    groups.append(left.letters)
                }
            }
            var rewritten = String.UnicodeScalarView()
            for (number, group) in groups.enumerated() {
                if number > 0 { rewritten.append(" ") }
                rewritten.append("\u{202B}")
                rewritten.append(contentsOf: group)
                rewritten.append("\u{202C}")
            }
            let original = scalars[run[0].start...run[run.count - 1].end]
            guard !rewritten.elementsEqual(original) else { continue }
            out.append(contentsOf: scalars[position..<run[0].start])
            out.append(contentsOf: rewritten)
            position = run[run.count - 1].end + 1
            changed = true
        }
        guard changed else { return text }
        out.append(contentsOf: scalars[position...])
        return String(out)
    }

    /// Letters closer than this many character heights belong to one word. A word space is
    /// about a quarter of a height, but Arabic fonts' boxes are tall: pdf.js's
    /// ArabicCIDTrueType.pdf spaces its words by a tenth of theirs; glyphs placed one by one
    /// edge to edge stand a few thousandths apart.
    static let glyphGap = 0.03
}
