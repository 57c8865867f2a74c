/// The character encodings depot reads text files in, and how one is recognised from the bytes.
///
/// A byte-order mark decides first (UTF-32 before UTF-16: `FF FE 00 00` also starts with
/// UTF-16 LE's mark). Without one: UTF-16 whose code units show the zero high (or low) bytes of
/// Latin text, then UTF-8 when every byte sequence is valid, else Windows-1252 when a byte in
/// 0x80–0x9F occurs (C1 controls in ISO-8859-1, which no one types; WHATWG's Encoding standard
/// reads "iso-8859-1" as Windows-1252 for the same reason), else ISO-8859-1.
public enum TextEncoding: String, Sendable, CaseIterable {
    case utf8 = "utf-8"
    case utf16LE = "utf-16le"
    case utf16BE = "utf-16be"
    case utf32LE = "utf-32le"
    case utf32BE = "utf-32be"
    case windows1252 = "windows-1252"
    case iso88591 = "iso-8859-1"

    /// The encoding a byte-order mark at the start of `head` names, and the mark's length.
    public static func byteOrderMark(_ head: some Collection<UInt8>) -> (encoding: TextEncoding, length: Int)? {
        let b = Array(head.prefix(4))
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { return (.utf8, 3) }
        if b.starts(with: [0xFF, 0xFE, 0x00, 0x00]) { return (.utf32LE, 4) }
        if b.starts(with: [0x00, 0x00, 0xFE, 0xFF]) { return (.utf32BE, 4) }
        if b.starts(with: [0xFF, 0xFE]) { return (.utf16LE, 2) }
        if b.starts(with: [0xFE, 0xFF]) { return (.utf16BE, 2) }
        return nil
    }

    /// UTF-16 without a byte-order mark, recognised in `head` (the file's start): at least a
    /// third of its code units have a zero high byte (LE) or low byte (BE) — Latin-script text,
    /// the case a BOM-less UTF-16 file is in practice (Windows tools, `iconv -t UTF-16LE`) — the
    /// other half almost never is zero, and the units decode as text: no NUL, no lone
    /// surrogate, few control characters. Binary formats fail the last test.
    public static func unmarkedUTF16(_ head: [UInt8]) -> TextEncoding? {
        let units = head.count / 2
        guard units >= 2 else { return nil }
        var evenZeros = 0, oddZeros = 0
        for i in 0..<units {
            if head[2 * i] == 0 { evenZeros += 1 }
            if head[2 * i + 1] == 0 { oddZeros += 1 }
        }
        let encoding: TextEncoding
        if oddZeros * 3 >= units && evenZeros * 50 <= units { encoding = .utf16LE }
        else if evenZeros * 3 >= units && oddZeros * 50 <= units { encoding = .utf16BE }
        else { return nil }
        var decoder = TextDecoder(encoding)
        let text = decoder.decode(head[0..<(units * 2)], final: false)
        var controls = 0, scalars = 0
        for scalar in text.unicodeScalars {
            scalars += 1
            if scalar.value == 0 || scalar.value == 0xFFFD { return nil }
            if scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r" && scalar != "\u{0C}" { controls += 1 }
        }
        return controls * 100 <= scalars ? encoding : nil
    }

    /// What a file without a byte-order mark that is not UTF-16 is in, from all of its bytes
    /// fed in order (so the answer is the whole file's, not its first 64 KiB's).
    public struct Sniffer {
        private var validUTF8 = true
        private var carry: [UInt8] = []
        private var sawC1 = false

        public init() {}

        public mutating func feed(_ chunk: ArraySlice<UInt8>) {
            if !sawC1 { sawC1 = chunk.contains { $0 >= 0x80 && $0 <= 0x9F } }
            guard validUTF8 else { return }
            let bytes = carry + chunk
            let complete = completeUTF8Prefix(bytes)
            validUTF8 = TypeDetector.isValidUTF8(Array(bytes[0..<complete]), allowCutEnd: false)
            carry = Array(bytes[complete...])
        }

        /// The encoding once every byte has been fed.
        public var encoding: TextEncoding {
            if validUTF8 && carry.isEmpty { return .utf8 }
            return sawC1 ? .windows1252 : .iso88591
        }
    }
}

/// The length of `bytes`' longest prefix that ends on a UTF-8 sequence boundary: at most the
/// last three bytes (an unfinished multi-byte sequence) are left out.
package func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
    var i = bytes.count
    var back = 0
    while i > 0 && back < 4 {
        let b = bytes[i - 1]
        if b & 0xC0 != 0x80 {
            // A lead byte (or ASCII): complete when its sequence fits in what follows it.
            let needed = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            return needed <= back + 1 ? bytes.count : i - 1
        }
        i -= 1
        back += 1
    }
    return bytes.count
}

/// Decodes one encoding's bytes fed in chunks of any size: a sequence, code unit or surrogate
/// pair cut by a chunk's end is kept for the next. Malformed input becomes U+FFFD.
public struct TextDecoder {
    public let encoding: TextEncoding
    private var carry: [UInt8] = []

    public init(_ encoding: TextEncoding) { self.encoding = encoding }

    /// The text of `chunk` (after what the last call kept); `final` flushes what is left.
    public mutating func decode(_ chunk: ArraySlice<UInt8>, final: Bool) -> String {
        var bytes = carry
        bytes.append(contentsOf: chunk)
        carry = []
        switch encoding {
        case .utf8:
            let end = final ? bytes.count : completeUTF8Prefix(bytes)
            carry = Array(bytes[end...])
            return String(decoding: bytes[0..<end], as: UTF8.self)
        case .utf16LE, .utf16BE:
            let little = encoding == .utf16LE
            var units: [UInt16] = []
            units.reserveCapacity(bytes.count / 2)
            var i = 0
            while i + 1 < bytes.count {
                units.append(little ? UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8 : UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]))
                i += 2
            }
            if !final, let last = units.last, (0xD800...0xDBFF).contains(last) {
                units.removeLast()
                i -= 2
            }
            carry = final ? [] : Array(bytes[i...])
            // A last odd byte of a finished file is malformed.
            let tail = final && i < bytes.count ? "\u{FFFD}" : ""
            return String(decoding: units, as: UTF16.self) + tail
        case .utf32LE, .utf32BE:
            let little = encoding == .utf32LE
            var scalars = String.UnicodeScalarView()
            var i = 0
            while i + 3 < bytes.count {
                let b = (UInt32(bytes[i]), UInt32(bytes[i + 1]), UInt32(bytes[i + 2]), UInt32(bytes[i + 3]))
                let value = little ? b.0 | b.1 << 8 | b.2 << 16 | b.3 << 24 : b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3
                scalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
                i += 4
            }
            if final && i < bytes.count { scalars.append("\u{FFFD}") }
            carry = final ? [] : Array(bytes[i...])
            return String(scalars)
        case .windows1252, .iso88591:
            var scalars = String.UnicodeScalarView()
            scalars.reserveCapacity(bytes.count)
            let windows = encoding == .windows1252
            for byte in bytes {
                if windows, (0x80...0x9F).contains(byte), let mapped = Unicode.Scalar(windows1252High[Int(byte - 0x80)]), mapped.value != 0 {
                    scalars.append(mapped)
                } else {
                    scalars.append(Unicode.Scalar(byte))
                }
            }
            return String(scalars)
        }
    }
}

/// Windows-1252's 0x80–0x9F (the WHATWG index); 0 where the code page defines nothing, and the
/// byte then stands for the C1 control of the same number, as WHATWG decodes it.
private let windows1252High: [UInt32] = [
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
    0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
]
