import DepotCore
import Foundation

/// Plain text and Markdown → `text.txt` (UTF-8, LF line ends) and `structure.json` (headings).
public struct TextProcessor: Processor {
    public let name = "depot-text"
    public let version = "1"
    public let artifactKinds = ["text.txt": "text/plain; charset=utf-8", "structure.json": "application/json"]
    /// Text larger than this is refused (the worker's memory limit would be hit anyway).
    static let maxBytes: Int64 = 256 << 20

    public init() {}

    public func score(mediaType: String, head: [UInt8]) -> Int {
        switch mediaType {
        case "text/markdown": return 20
        case "text/plain": return 10
        default: return mediaType.hasPrefix("text/") ? 5 : 0
        }
    }

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        let bytes = try ReadOnlyFile(path: input.path).readAll(limit: Self.maxBytes)
        input.progress(10, "decoding text")
        let text = Self.normalise(Self.decode(bytes))
        try writeFile(input.outputDirectory + "/text.txt", Array(text.utf8))
        input.progress(60, "finding headings")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let lineCount = text.isEmpty ? 0 : (text.hasSuffix("\n") ? lines.count - 1 : lines.count)
        let headings = input.mediaType == "text/markdown" ? MarkdownOutline.headings(in: text) : []
        let structure: [String: Any] = [
            "schema": "depot.structure/1",
            "media_type": input.mediaType,
            "line_count": lineCount,
            "headings": headings.map { ["level": $0.level, "title": $0.title, "line": $0.line] },
        ]
        let json = try JSONSerialization.data(withJSONObject: structure, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        try writeFile(input.outputDirectory + "/structure.json", Array(json) + [0x0A])
        return [
            ProducedArtifact(kind: "text.txt", mimeType: "text/plain; charset=utf-8", file: "text.txt",
                             producer: name, producerVersion: version),
            ProducedArtifact(kind: "structure.json", mimeType: "application/json", file: "structure.json",
                             producer: name, producerVersion: version),
        ]
    }

    /// The bytes as a string: UTF-8 (BOM dropped), UTF-16 with a BOM, else Windows-1252/Latin-1.
    static func decode(_ bytes: [UInt8]) -> String {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { return String(decoding: bytes.dropFirst(3), as: UTF8.self) }
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            let little = bytes[0] == 0xFF
            var units: [UInt16] = []
            units.reserveCapacity(bytes.count / 2)
            var i = 2
            while i + 1 < bytes.count {
                units.append(little ? UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8 : UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]))
                i += 2
            }
            return String(decoding: units, as: UTF16.self)
        }
        if TypeDetector.isValidUTF8(bytes, allowCutEnd: false) { return String(decoding: bytes, as: UTF8.self) }
        // Not UTF-8: Latin-1 maps each byte to the same code point.
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    /// CRLF and lone CR become LF.
    static func normalise(_ text: String) -> String {
        guard text.utf8.contains(0x0D) else { return text }
        return text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }
}

/// Markdown headings: ATX (`# Title`) and Setext (a line underlined with `===` or `---`),
/// ignoring anything inside fenced code blocks (CommonMark §4.2, §4.3, §4.5).
public enum MarkdownOutline {
    public struct Heading: Equatable, Sendable {
        public var level: Int
        public var title: String
        /// 1-based line number of the heading's text.
        public var line: Int
    }

    public static func headings(in text: String) -> [Heading] {
        var result: [Heading] = []
        var fence: (char: Character, count: Int)?
        var previous: (text: String, line: Int, paragraph: Bool)?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            let number = index + 1
            let indent = line.prefix(while: { $0 == " " }).count
            let body = line.dropFirst(indent)
            if let open = fence {
                // A closing fence: the same character, at least as long, nothing after it.
                let run = body.prefix(while: { $0 == open.char }).count
                if indent < 4 && run >= open.count && body.dropFirst(run).allSatisfy({ $0 == " " || $0 == "\t" }) {
                    fence = nil
                }
                previous = nil
                continue
            }
            if indent < 4, let first = body.first, first == "`" || first == "~" {
                let run = body.prefix(while: { $0 == first }).count
                if run >= 3 && !(first == "`" && body.dropFirst(run).contains("`")) {
                    fence = (first, run)
                    previous = nil
                    continue
                }
            }
            if let heading = atxHeading(line) {
                result.append(Heading(level: heading.level, title: heading.title, line: number))
                previous = nil
                continue
            }
            if let level = setextLevel(line), let p = previous, p.paragraph {
                result.append(Heading(level: level, title: p.text.trimmingCharacters(in: .whitespaces), line: p.line))
                previous = nil
                continue
            }
            let blank = line.allSatisfy { $0 == " " || $0 == "\t" }
            // A Setext heading's text is a paragraph line: not blank, not indented code, not a list
            // item or quote ("- a\n---" is a list and a rule).
            let paragraph = !blank && indent < 4 && !(body.first.map { "->*+".contains($0) } ?? false)
            previous = blank ? nil : (line, number, paragraph)
        }
        return result
    }

    /// An ATX heading: up to 3 spaces, 1–6 `#`, then a space or the end; closing `#`s dropped.
    static func atxHeading(_ line: String) -> (level: Int, title: String)? {
        let indent = line.prefix(while: { $0 == " " }).count
        guard indent < 4 else { return nil }
        let body = line.dropFirst(indent)
        let level = body.prefix(while: { $0 == "#" }).count
        guard (1...6).contains(level) else { return nil }
        let rest = body.dropFirst(level)
        guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return nil }
        var title = rest.trimmingCharacters(in: .whitespaces)
        // An optional closing sequence: spaces then only #s.
        if let lastNonHash = title.lastIndex(where: { $0 != "#" }) {
            if title[lastNonHash] == " " || title[lastNonHash] == "\t" {
                title = String(title[...lastNonHash]).trimmingCharacters(in: .whitespaces)
            }
        } else {
            title = ""
        }
        return (level, title)
    }

    /// A Setext underline: up to 3 spaces, then only `=` (level 1) or only `-` (level 2).
    static func setextLevel(_ line: String) -> Int? {
        let indent = line.prefix(while: { $0 == " " }).count
        guard indent < 4 else { return nil }
        let body = line.dropFirst(indent).trimmingCharacters(in: .whitespaces)
        guard let first = body.first, first == "=" || first == "-" else { return nil }
        guard body.allSatisfy({ $0 == first }) else { return nil }
        return first == "=" ? 1 : 2
    }
}

/// Writes a new file (mode 0644), failing if it exists.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let fd = try sysCall("open", path: path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
    defer { close(fd) }
    try bytes.withUnsafeBytes { try writeFully(fd, $0, path: path) }
}
