/// Sentence and word breaks for the builtin engine, without ICU: Unicode character classes
/// (letters, digits, punctuation of any script) decide what a word is, and a sentence ends at
/// a terminal mark (. ! ? … and the CJK 。！？) followed by space and a character that may start
/// one, unless the word before the mark is an abbreviation of the document's language or a
/// single letter (an initial). This is UAX #29's sentence rule SB11 with the abbreviation
/// exceptions that rule leaves to "tailoring".
public enum TextBreaks {
    static let terminals = CharacterClass.Members([".", "!", "?", "…", "。", "！", "？", "‼", "⁇", "⁈", "⁉"])
    /// May follow a terminal mark inside the sentence: closing quotes and brackets.
    static let closers = CharacterClass.Members(["\"", "'", "”", "’", "»", "›", ")", "]", "}", "›"])
    /// May start a sentence besides an upper-case letter or a digit.
    static let openers = CharacterClass.Members(["\"", "'", "“", "„", "«", "‹", "(", "[", "¿", "¡", "‘", "—", "–", "-"])

    /// The sentences of one paragraph (its lines already joined), each trimmed; never empty strings.
    /// - Parameter abbreviations: lower-case words (without the dot) after which a dot ends no sentence.
    public static func sentences(_ paragraph: String, abbreviations: Set<String>) -> [String] {
        if let bytes = asciiBytes(paragraph) { return sentences(bytes, abbreviations: abbreviations) }
        return sentences(Array(paragraph), abbreviations: abbreviations)
    }

    /// The rule over the characters of a paragraph, or over its bytes when each byte is one.
    static func sentences<Unit: TextUnit>(_ chars: [Unit], abbreviations: Set<String>) -> [String] {
        var result: [String] = []
        var start = 0
        var i = 0
        while i < chars.count {
            let c = chars[i]
            guard Unit.isTerminal(c) else { i += 1; continue }
            var end = i + 1
            while end < chars.count, Unit.isTerminal(chars[end]) || Unit.isCloser(chars[end]) { end += 1 }
            // Needs space after it, then a sentence start (or the paragraph's end).
            var next = end
            guard next == chars.count || Unit.isWhitespace(chars[next]) else { i = end; continue }
            while next < chars.count, Unit.isWhitespace(chars[next]) { next += 1 }
            if next < chars.count {
                let n = chars[next]
                let startsSentence = Unit.isUppercase(n) || Unit.isNumber(n) || Unit.isOpener(n)
                    || (Unit.isLetter(n) && !Unit.isLowercase(n) && !Unit.isUppercase(n))
                if !startsSentence { i = end; continue }
            }
            if Unit.isDot(c), isAbbreviation(before: i, in: chars, abbreviations) { i = end; continue }
            let text = Unit.string(chars[start..<end]).trimmingWhitespace()
            if !text.isEmpty { result.append(text) }
            start = next
            i = next
        }
        if start < chars.count {
            let text = Unit.string(chars[start...]).trimmingWhitespace()
            if !text.isEmpty { result.append(text) }
        }
        return result
    }

    /// True when the word ending just before the dot at `dot` is an abbreviation, an initial
    /// ("J. S. Bach") or a number followed by a dot inside a sentence is not decided here.
    static func isAbbreviation<Unit: TextUnit>(before dot: Int, in chars: [Unit], _ abbreviations: Set<String>) -> Bool {
        var s = dot
        while s > 0, Unit.isLetter(chars[s - 1]) || Unit.isDot(chars[s - 1]) { s -= 1 }
        let word = Unit.string(chars[s..<dot]).lowercased()
        if word.isEmpty { return false }
        let letters = word.filter(\.isLetter)
        if letters.count == 1 && Unit.isUppercase(chars[s]) { return true }      // an initial
        if word.contains(".") { return true }                              // e.g. z.B. i.e.
        return abbreviations.contains(word)
    }

    /// The bytes of a text in which each byte is a character: ASCII only, and no carriage
    /// return (whose "\r\n" is one character of two bytes); else nil.
    static func asciiBytes(_ text: String) -> [UInt8]? {
        let bytes = text.utf8.withContiguousStorageIfAvailable { buffer -> [UInt8]? in
            for byte in buffer where byte >= 0x80 || byte == 0x0D { return nil }
            return Array(buffer)
        }
        return bytes ?? nil
    }

    /// The words of `text`, lower-cased, in order: runs of letters, digits and marks, with an
    /// apostrophe or hyphen kept inside a word ("don't", "e-mail"); a French or Italian elision
    /// ("l'homme", "qu'il") splits after the apostrophe.
    public static func words(_ text: String) -> [String] {
        tokens(text).map { $0.lowercased() }
    }

    /// The words of `text` as written (case kept).
    public static func tokens(_ text: String) -> [String] {
        tokens(text, at: tokenRanges(text))
    }

    /// The words at `ranges` of `text` (from `tokenRanges`), as `tokens` gives them.
    static func tokens(_ text: String, at ranges: [Range<String.Index>]) -> [String] {
        ranges.map { range in
            let word = text[range]
            // ’ is E2 80 99 in UTF-8: the bytes are looked for, not the character (a search
            // through Foundation), which only decides whether to map the characters.
            return hasRightQuote(word.utf8) ? String(word.map { $0 == "’" ? "'" : $0 }) : String(word)
        }
    }

    @inline(__always)
    static func hasRightQuote(_ utf8: Substring.UTF8View) -> Bool {
        var state = 0
        for byte in utf8 {
            switch (state, byte) {
            case (_, 0xE2): state = 1
            case (1, 0x80): state = 2
            case (2, 0x99): return true
            default: state = 0
            }
        }
        return false
    }

    /// Where each word of `text` is.
    public static func tokenRanges(_ text: String) -> [Range<String.Index>] {
        if let ranges = asciiTokenRanges(text) { return ranges }
        var result: [Range<String.Index>] = []
        var start: String.Index?
        var index = text.startIndex
        // The character at `index`, and whether it is a word character, carried over from the
        // look-ahead of the step before.
        var c: Character? = index < text.endIndex ? text[index] : nil
        var isWord = c.map(isWordCharacter) ?? false
        while let current = c {
            let next = text.index(after: index)
            let following: Character? = next < text.endIndex ? text[next] : nil
            let followingIsWord = following.map(isWordCharacter) ?? false
            if isWord {
                if start == nil { start = index }
            } else if let s = start, current == "'" || current == "’" || current == "-" || current == "‐", followingIsWord {
                if current != "-" && current != "‐" && elisions.contains(text[s..<index].lowercased()) {
                    // An elision (l', d', qu', j'): the article is a word of its own.
                    result.append(s..<next)
                    start = nil
                }
            } else if let s = start {
                result.append(s..<index)
                start = nil
            }
            index = next
            c = following
            isWord = followingIsWord
        }
        if let s = start { result.append(s..<text.endIndex) }
        return result
    }

    /// `tokenRanges` of a text whose bytes are its characters (as `asciiBytes` tells), byte
    /// by byte; nil for any other text.
    private static func asciiTokenRanges(_ text: String) -> [Range<String.Index>]? {
        let offsets = text.utf8.withContiguousStorageIfAvailable { bytes -> [Range<Int>]? in
            for byte in bytes where byte >= 0x80 || byte == 0x0D { return nil }
            let wordClasses = CharacterClass.letter | CharacterClass.number | CharacterClass.nonspacingMark
            func isWord(_ k: Int) -> Bool { CharacterClass.ascii[Int(bytes[k])] & wordClasses != 0 }
            var result: [Range<Int>] = []
            var start: Int?
            for k in 0..<bytes.count {
                let c = bytes[k]
                if isWord(k) {
                    if start == nil { start = k }
                } else if let s = start, c == 0x27 || c == 0x2D, k + 1 < bytes.count, isWord(k + 1) {
                    // (’ and ‐ are not ASCII: here an apostrophe or a hyphen-minus joins.)
                    if c == 0x27 && elisions.contains(String(decoding: UnsafeBufferPointer(rebasing: bytes[s..<k]), as: UTF8.self).lowercased()) {
                        result.append(s..<(k + 1))
                        start = nil
                    }
                } else if let s = start {
                    result.append(s..<k)
                    start = nil
                }
            }
            if let s = start { result.append(s..<bytes.count) }
            return result
        }
        guard let found = offsets, let ranges = found else { return nil }
        let utf8 = text.utf8
        return ranges.map { utf8.index(utf8.startIndex, offsetBy: $0.lowerBound)..<utf8.index(utf8.startIndex, offsetBy: $0.upperBound) }
    }

    /// French and Italian elided words that an apostrophe separates from the next word.
    static let elisions: Set<String> = ["l", "d", "j", "m", "n", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu", "dell", "all", "nell", "sull", "un"]

    static func isWordCharacter(_ c: Character) -> Bool {
        CharacterClass.isWordCharacter(c)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, CharacterClass.isWhitespace(f) { s.removeFirst() }
        while let l = s.last, CharacterClass.isWhitespace(l) { s.removeLast() }
        return String(s)
    }

    /// Runs of whitespace (line breaks included) as one space, trimmed.
    public func collapsingWhitespace() -> String {
        if let ascii = collapsingASCIIWhitespace() { return ascii }
        var out = ""
        out.reserveCapacity(utf8.count)
        var space = false
        for c in self {
            if CharacterClass.isWhitespace(c) {
                space = true
            } else {
                if space && !out.isEmpty { out.append(" ") }
                space = false
                out.append(c)
            }
        }
        return out
    }

    /// `collapsingWhitespace` of a string of ASCII bytes, byte by byte (each byte is a
    /// character there, but for "\r\n", whose two bytes are both whitespace as the character
    /// is); nil for any other string.
    private func collapsingASCIIWhitespace() -> String? {
        var bytes: [UInt8] = []
        let ascii: Bool? = utf8.withContiguousStorageIfAvailable { buffer in
            bytes.reserveCapacity(buffer.count)
            var space = false
            for byte in buffer {
                guard byte < 0x80 else { return false }
                if CharacterClass.ascii[Int(byte)] & CharacterClass.whitespace != 0 {
                    space = true
                } else {
                    if space && !bytes.isEmpty { bytes.append(0x20) }
                    space = false
                    bytes.append(byte)
                }
            }
            return true
        }
        guard ascii == true else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
