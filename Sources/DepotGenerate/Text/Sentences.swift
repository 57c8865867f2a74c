/// Sentence and word breaks for the builtin engine, without ICU: Unicode character classes
/// (letters, digits, punctuation of any script) decide what a word is, and a sentence ends at
/// a terminal mark (. ! ? … and the CJK 。！？) followed by space and a character that may start
/// one, unless the word before the mark is an abbreviation of the document's language or a
/// single letter (an initial). This is UAX #29's sentence rule SB11 with the abbreviation
/// exceptions that rule leaves to "tailoring".
public enum TextBreaks {
    static let terminals: Set<Character> = [".", "!", "?", "…", "。", "！", "？", "‼", "⁇", "⁈", "⁉"]
    /// May follow a terminal mark inside the sentence: closing quotes and brackets.
    static let closers: Set<Character> = ["\"", "'", "”", "’", "»", "›", ")", "]", "}", "›"]
    /// May start a sentence besides an upper-case letter or a digit.
    static let openers: Set<Character> = ["\"", "'", "“", "„", "«", "‹", "(", "[", "¿", "¡", "‘", "—", "–", "-"]

    /// The sentences of one paragraph (its lines already joined), each trimmed; never empty strings.
    /// - Parameter abbreviations: lower-case words (without the dot) after which a dot ends no sentence.
    public static func sentences(_ paragraph: String, abbreviations: Set<String>) -> [String] {
        let chars = Array(paragraph)
        var result: [String] = []
        var start = 0
        var i = 0
        while i < chars.count {
            let c = chars[i]
            guard terminals.contains(c) else { i += 1; continue }
            var end = i + 1
            while end < chars.count, terminals.contains(chars[end]) || closers.contains(chars[end]) { end += 1 }
            // Needs space after it, then a sentence start (or the paragraph's end).
            var next = end
            guard next == chars.count || chars[next].isWhitespace else { i = end; continue }
            while next < chars.count, chars[next].isWhitespace { next += 1 }
            if next < chars.count {
                let n = chars[next]
                let startsSentence = n.isUppercase || n.isNumber || openers.contains(n) || (n.isLetter && !n.isLowercase && !n.isUppercase)
                if !startsSentence { i = end; continue }
            }
            if c == ".", isAbbreviation(before: i, in: chars, abbreviations) { i = end; continue }
            let text = String(chars[start..<end]).trimmingWhitespace()
            if !text.isEmpty { result.append(text) }
            start = next
            i = next
        }
        if start < chars.count {
            let text = String(chars[start...]).trimmingWhitespace()
            if !text.isEmpty { result.append(text) }
        }
        return result
    }

    /// True when the word ending just before the dot at `dot` is an abbreviation, an initial
    /// ("J. S. Bach") or a number followed by a dot inside a sentence is not decided here.
    static func isAbbreviation(before dot: Int, in chars: [Character], _ abbreviations: Set<String>) -> Bool {
        var s = dot
        while s > 0, chars[s - 1].isLetter || chars[s - 1] == "." { s -= 1 }
        let word = String(chars[s..<dot]).lowercased()
        if word.isEmpty { return false }
        let letters = word.filter(\.isLetter)
        if letters.count == 1 && chars[s].isUppercase { return true }      // an initial
        if word.contains(".") { return true }                              // e.g. z.B. i.e.
        return abbreviations.contains(word)
    }

    /// The words of `text`, lower-cased, in order: runs of letters, digits and marks, with an
    /// apostrophe or hyphen kept inside a word ("don't", "e-mail"); a French or Italian elision
    /// ("l'homme", "qu'il") splits after the apostrophe.
    public static func words(_ text: String) -> [String] {
        tokens(text).map { $0.lowercased() }
    }

    /// The words of `text` as written (case kept).
    public static func tokens(_ text: String) -> [String] {
        tokenRanges(text).map { range in
            let word = text[range]
            return word.contains("’") ? String(word.map { $0 == "’" ? "'" : $0 }) : String(word)
        }
    }

    /// Where each word of `text` is.
    public static func tokenRanges(_ text: String) -> [Range<String.Index>] {
        var result: [Range<String.Index>] = []
        var start: String.Index?
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            let next = text.index(after: index)
            if isWordCharacter(c) {
                if start == nil { start = index }
            } else if let s = start, c == "'" || c == "’" || c == "-" || c == "‐", next < text.endIndex, isWordCharacter(text[next]) {
                if c != "-" && c != "‐" && elisions.contains(text[s..<index].lowercased()) {
                    // An elision (l', d', qu', j'): the article is a word of its own.
                    result.append(s..<next)
                    start = nil
                }
            } else if let s = start {
                result.append(s..<index)
                start = nil
            }
            index = next
        }
        if let s = start { result.append(s..<text.endIndex) }
        return result
    }

    /// French and Italian elided words that an apostrophe separates from the next word.
    static let elisions: Set<String> = ["l", "d", "j", "m", "n", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu", "dell", "all", "nell", "sull", "un"]

    static func isWordCharacter(_ c: Character) -> Bool {
        c.isLetter || c.isNumber || c.unicodeScalars.first.map { $0.properties.generalCategory == .nonspacingMark } == true
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    /// Runs of whitespace (line breaks included) as one space, trimmed.
    public func collapsingWhitespace() -> String {
        var out = ""
        out.reserveCapacity(utf8.count)
        var space = false
        for c in self {
            if c.isWhitespace {
                space = true
            } else {
                if space && !out.isEmpty { out.append(" ") }
                space = false
                out.append(c)
            }
        }
        return out
    }
}
