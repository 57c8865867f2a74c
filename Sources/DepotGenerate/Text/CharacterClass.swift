/// Character's own tests (`isLetter`, `isWhitespace`, …), answered from a table for a
/// character that is one ASCII scalar and by Character itself otherwise: the same answers,
/// without a Unicode property lookup (a call into the runtime's tables) for most of the
/// characters of most texts. The table is made from Character's own answers, so the two
/// cannot disagree.
enum CharacterClass {
    static let letter: UInt8 = 1, number: UInt8 = 2, upper: UInt8 = 4, lower: UInt8 = 8, whitespace: UInt8 = 16, nonspacingMark: UInt8 = 32

    /// The classes of each ASCII scalar, by Character's properties.
    static let ascii: [UInt8] = (0..<128).map { value in
        let c = Character(Unicode.Scalar(UInt8(value)))
        var bits: UInt8 = 0
        if c.isLetter { bits |= letter }
        if c.isNumber { bits |= number }
        if c.isUppercase { bits |= upper }
        if c.isLowercase { bits |= lower }
        if c.isWhitespace { bits |= whitespace }
        if c.unicodeScalars.first?.properties.generalCategory == .nonspacingMark { bits |= nonspacingMark }
        return bits
    }

    /// The byte of a character that is one ASCII scalar ("\r\n" is two, so it is not one).
    @inline(__always)
    static func asciiByte(_ c: Character) -> UInt8? {
        let utf8 = c.utf8
        return utf8.count == 1 ? utf8.first : nil
    }

    @inline(__always)
    static func isLetter(_ c: Character) -> Bool {
        if let byte = asciiByte(c) { return ascii[Int(byte)] & letter != 0 }
        return c.isLetter
    }

    @inline(__always)
    static func isNumber(_ c: Character) -> Bool {
        if let byte = asciiByte(c) { return ascii[Int(byte)] & number != 0 }
        return c.isNumber
    }

    @inline(__always)
    static func isUppercase(_ c: Character) -> Bool {
        if let byte = asciiByte(c) { return ascii[Int(byte)] & upper != 0 }
        return c.isUppercase
    }

    @inline(__always)
    static func isLowercase(_ c: Character) -> Bool {
        if let byte = asciiByte(c) { return ascii[Int(byte)] & lower != 0 }
        return c.isLowercase
    }

    @inline(__always)
    static func isWhitespace(_ c: Character) -> Bool {
        if let byte = asciiByte(c) { return ascii[Int(byte)] & whitespace != 0 }
        return c.isWhitespace
    }

    /// A letter, a digit or a combining mark: what words are made of.
    @inline(__always)
    static func isWordCharacter(_ c: Character) -> Bool {
        if let byte = asciiByte(c) { return ascii[Int(byte)] & (letter | number | nonspacingMark) != 0 }
        return c.isLetter || c.isNumber || c.unicodeScalars.first.map { $0.properties.generalCategory == .nonspacingMark } == true
    }

    /// Membership in a set of characters (`Members`), with the set's ASCII members looked up in a table.
    struct Members {
        let members: Swift.Set<Character>
        let asciiMembers: [Bool]

        init(_ members: Swift.Set<Character>) {
            self.members = members
            asciiMembers = (0..<128).map { members.contains(Character(Unicode.Scalar(UInt8($0)))) }
        }

        @inline(__always)
        func contains(_ c: Character) -> Bool {
            if let byte = CharacterClass.asciiByte(c) { return asciiMembers[Int(byte)] }
            return members.contains(c)
        }
    }
}

/// What the sentence rule asks of a unit of text: a character, or a byte of a text in which
/// each byte is a character (`TextBreaks.asciiBytes`), where the byte's answers are the
/// character's.
protocol TextUnit {
    static func isWhitespace(_ unit: Self) -> Bool
    static func isUppercase(_ unit: Self) -> Bool
    static func isLowercase(_ unit: Self) -> Bool
    static func isLetter(_ unit: Self) -> Bool
    static func isNumber(_ unit: Self) -> Bool
    static func isTerminal(_ unit: Self) -> Bool
    static func isCloser(_ unit: Self) -> Bool
    static func isOpener(_ unit: Self) -> Bool
    static func isDot(_ unit: Self) -> Bool
    static func string(_ units: ArraySlice<Self>) -> String
}

extension Character: TextUnit {
    static func isWhitespace(_ unit: Character) -> Bool { CharacterClass.isWhitespace(unit) }
    static func isUppercase(_ unit: Character) -> Bool { CharacterClass.isUppercase(unit) }
    static func isLowercase(_ unit: Character) -> Bool { CharacterClass.isLowercase(unit) }
    static func isLetter(_ unit: Character) -> Bool { CharacterClass.isLetter(unit) }
    static func isNumber(_ unit: Character) -> Bool { CharacterClass.isNumber(unit) }
    static func isTerminal(_ unit: Character) -> Bool { TextBreaks.terminals.contains(unit) }
    static func isCloser(_ unit: Character) -> Bool { TextBreaks.closers.contains(unit) }
    static func isOpener(_ unit: Character) -> Bool { TextBreaks.openers.contains(unit) }
    static func isDot(_ unit: Character) -> Bool { unit == "." }
    static func string(_ units: ArraySlice<Character>) -> String { String(units) }
}

extension UInt8: TextUnit {
    static func isWhitespace(_ unit: UInt8) -> Bool { CharacterClass.ascii[Int(unit)] & CharacterClass.whitespace != 0 }
    static func isUppercase(_ unit: UInt8) -> Bool { CharacterClass.ascii[Int(unit)] & CharacterClass.upper != 0 }
    static func isLowercase(_ unit: UInt8) -> Bool { CharacterClass.ascii[Int(unit)] & CharacterClass.lower != 0 }
    static func isLetter(_ unit: UInt8) -> Bool { CharacterClass.ascii[Int(unit)] & CharacterClass.letter != 0 }
    static func isNumber(_ unit: UInt8) -> Bool { CharacterClass.ascii[Int(unit)] & CharacterClass.number != 0 }
    static func isTerminal(_ unit: UInt8) -> Bool { TextBreaks.terminals.asciiMembers[Int(unit)] }
    static func isCloser(_ unit: UInt8) -> Bool { TextBreaks.closers.asciiMembers[Int(unit)] }
    static func isOpener(_ unit: UInt8) -> Bool { TextBreaks.openers.asciiMembers[Int(unit)] }
    static func isDot(_ unit: UInt8) -> Bool { unit == 0x2E }
    static func string(_ units: ArraySlice<UInt8>) -> String { String(decoding: units, as: UTF8.self) }
}
