import Foundation

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
        var scanner = LineScanner()
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            scanner.feed(String(raw))
        }
        return scanner.headings
    }

    /// Finds the headings of a text fed one line at a time (without its line end), so that a
    /// file of any size is read in bounded memory: it keeps only the previous line and
    /// whether a fence is open. At most `maxHeadings` are kept; `omitted` counts the rest.
    public struct LineScanner {
        public static let maxHeadings = 10_000
        public private(set) var headings: [Heading] = []
        public private(set) var omitted = 0
        private var number = 0
        private var fence: (char: Character, count: Int)?
        private var previous: (text: String, line: Int, paragraph: Bool)?

        public init() {}

        private mutating func add(_ heading: Heading) {
            if headings.count < Self.maxHeadings { headings.append(heading) } else { omitted += 1 }
        }

        public mutating func feed(_ line: String) {
            number += 1
            let indent = line.prefix(while: { $0 == " " }).count
            let body = line.dropFirst(indent)
            if let open = fence {
                // A closing fence: the same character, at least as long, nothing after it.
                let run = body.prefix(while: { $0 == open.char }).count
                if indent < 4 && run >= open.count && body.dropFirst(run).allSatisfy({ $0 == " " || $0 == "\t" }) {
                    fence = nil
                }
                previous = nil
                return
            }
            if indent < 4, let first = body.first, first == "`" || first == "~" {
                let run = body.prefix(while: { $0 == first }).count
                if run >= 3 && !(first == "`" && body.dropFirst(run).contains("`")) {
                    fence = (first, run)
                    previous = nil
                    return
                }
            }
            if let heading = MarkdownOutline.atxHeading(line) {
                add(Heading(level: heading.level, title: heading.title, line: number))
                previous = nil
                return
            }
            if let level = MarkdownOutline.setextLevel(line), let p = previous, p.paragraph {
                add(Heading(level: level, title: p.text.trimmingCharacters(in: .whitespaces), line: p.line))
                previous = nil
                return
            }
            let blank = line.allSatisfy { $0 == " " || $0 == "\t" }
            // A Setext heading's text is a paragraph line: not blank, not indented code, not a list
            // item or quote ("- a\n---" is a list and a rule).
            let paragraph = !blank && indent < 4 && !(body.first.map { "->*+".contains($0) } ?? false)
            previous = blank ? nil : (line, number, paragraph)
        }
    }

    /// An ATX heading: up to 3 spaces, 1–6 `#`, then a space or the end; closing `#`s dropped.
    package static func atxHeading(_ line: String) -> (level: Int, title: String)? {
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
    package static func setextLevel(_ line: String) -> Int? {
        let indent = line.prefix(while: { $0 == " " }).count
        guard indent < 4 else { return nil }
        let body = line.dropFirst(indent).trimmingCharacters(in: .whitespaces)
        guard let first = body.first, first == "=" || first == "-" else { return nil }
        guard body.allSatisfy({ $0 == first }) else { return nil }
        return first == "=" ? 1 : 2
    }
}
