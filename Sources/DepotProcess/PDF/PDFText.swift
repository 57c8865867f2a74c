import Foundation

/// What depot does to poppler's page text before it is written.
enum PDFText {
    /// The text without bidi control characters (poppler marks right-to-left runs with them;
    /// they are invisible and split words for search) and with Arabic presentation forms
    /// (U+FB50–U+FDFF, U+FE70–U+FEFC: the contextual glyph shapes many PDF fonts map to)
    /// folded to the base letters by their compatibility decomposition (Unicode §9.2), as text
    /// typed by a person holds them.
    ///
    /// A pop (U+202C) directly followed by a right-to-left embedding (U+202B) becomes a space:
    /// poppler's TextPage::dumpFragment wraps each right-to-left word it is given in RLE … PDF,
    /// and never writes that pair inside one fragment, but poppler-glib's selection dumper
    /// writes two right-to-left words of a line with nothing between them where `pdftotext`
    /// writes a space (pdf.js's issue14046.pdf: "כלבלב הובידיבמבם"); without the controls the
    /// two words would run together.
    ///
    /// An embedding that opens inside a word, between a letter or digit and the next, becomes a
    /// space too: poppler takes "אגף" and "00:" set edge to edge for one word and writes the
    /// digits in an embedding of their own (pdf.js's issue12705.pdf), which `pdftotext` readers
    /// see as two words; without the control they would be one ("אגף00:"), and neither would
    /// be found by search.
    static func normalised(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { isBidiControl($0) || isPresentationForm($0) }) else { return text }
        var out = String.UnicodeScalarView()
        var previous: Unicode.Scalar?
        let scalars = Array(text.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            defer { previous = scalar }
            if scalar == "\u{202B}" && previous == "\u{202C}" {
                out.append(" ")
            } else if opensAnEmbedding(scalar), let last = out.last, isWordCharacter(last),
                      let next = scalars[(index + 1)...].first(where: { !isBidiControl($0) }), isWordCharacter(next) {
                out.append(" ")
            }
            if isBidiControl(scalar) { continue }
            if isPresentationForm(scalar) {
                out.append(contentsOf: String(scalar).decomposedStringWithCompatibilityMapping.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    static func isBidiControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    /// LRE, RLE, LRO, RLO and the isolates LRI, RLI, FSI.
    static func opensAnEmbedding(_ scalar: Unicode.Scalar) -> Bool {
        (0x202A...0x202B).contains(scalar.value) || (0x202D...0x202E).contains(scalar.value) || (0x2066...0x2068).contains(scalar.value)
    }

    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isAlphabetic || scalar.properties.numericType != nil
    }

    static func isPresentationForm(_ scalar: Unicode.Scalar) -> Bool {
        (0xFB50...0xFDFF).contains(scalar.value) || (0xFE70...0xFEFC).contains(scalar.value)
    }
}
