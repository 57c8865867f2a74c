import Foundation

/// Where a piece of generated output comes from in the source, as precisely as the source
/// allows: a page (PDF), a slide (PPTX), a line of text.txt (text, Markdown, DOCX; with the
/// heading above it when there is one), or seconds into a recording (a transcript).
public struct Anchor: Codable, Sendable, Equatable, Hashable {
    public var page: Int?
    public var slide: Int?
    public var line: Int?
    public var heading: String?
    /// Seconds from the start of the recording (transcripts).
    public var start: Double?
    public var end: Double?

    public init(page: Int? = nil, slide: Int? = nil, line: Int? = nil, heading: String? = nil, start: Double? = nil, end: Double? = nil) {
        self.page = page
        self.slide = slide
        self.line = line
        self.heading = heading
        self.start = start
        self.end = end
    }
}

/// One paragraph of the source (wrapped lines joined), with where it starts.
public struct SourceParagraph: Sendable, Equatable {
    public var text: String
    public var anchor: Anchor
    /// A heading (or a slide title): a chapter's title, never a sentence of a summary or a quiz.
    public var isHeading: Bool

    public init(text: String, anchor: Anchor, isHeading: Bool = false) {
        self.text = text
        self.anchor = anchor
        self.isHeading = isHeading
    }
}

/// A part of the document its own structure names: an outline entry, a heading, a slide.
public struct SourceSection: Sendable, Equatable {
    public var title: String
    public var anchor: Anchor
    /// The first paragraph of the section (an index into `SourceDocument.paragraphs`).
    public var firstParagraph: Int

    public init(title: String, anchor: Anchor, firstParagraph: Int) {
        self.title = title
        self.anchor = anchor
        self.firstParagraph = firstParagraph
    }
}

/// What generation reads, whatever the source was: paragraphs with anchors, and the
/// sections its structure names (none for flat text and transcripts, which are segmented by
/// their words instead).
public struct SourceDocument: Sendable, Equatable {
    public enum Kind: String, Sendable { case text, markdown, pdf, docx, pptx, transcript }
    public var kind: Kind
    public var title: String?
    public var paragraphs: [SourceParagraph]
    public var sections: [SourceSection]
    /// Pages, slides or seconds in the source (what a throughput figure counts).
    public var pageCount: Int

    public init(kind: Kind, title: String? = nil, paragraphs: [SourceParagraph], sections: [SourceSection] = [], pageCount: Int = 1) {
        self.kind = kind
        self.title = title
        self.paragraphs = paragraphs
        self.sections = sections
        self.pageCount = pageCount
    }
}

/// The input could not be read as what it claims to be.
public struct GenerationInputError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension SourceDocument {
    /// Some paragraph that is not a heading has a letter or a digit in it.
    public var hasText: Bool {
        paragraphs.contains { !$0.isHeading && $0.text.contains { $0.isLetter || $0.isNumber } }
    }

    /// The document an extract job described: its `text.txt` and, when there is one, its
    /// `structure.json` (any of the `depot.structure.*` shapes in docs/schemas).
    /// - Throws: `GenerationInputError` when structure.json is not JSON or names a shape this
    ///   version does not read.
    public static func fromExtract(text: String, structure: Data?) throws -> SourceDocument {
        guard let structure else { return plain(text, kind: .text, headingLines: [:]) }
        guard let object = (try? JSONSerialization.jsonObject(with: structure)) as? [String: Any],
              let schema = object["schema"] as? String else {
            throw GenerationInputError("structure.json is not a JSON object with a schema member")
        }
        switch schema.split(separator: "/").first.map(String.init) ?? schema {
        case "depot.structure.text":
            let markdown = (object["media_type"] as? String) == "text/markdown"
            return plain(text, kind: markdown ? .markdown : .text, headingLines: headingLines(object["headings"]))
        case "depot.structure.docx":
            var document = plain(text, kind: .docx, headingLines: headingLines(object["headings"]), linePerParagraph: true)
            document.title = (object["title"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            return document
        case "depot.structure.pdf":
            return pdf(text, outline: object["outline"] as? [[String: Any]] ?? [], pageCount: object["page_count"] as? Int ?? 1)
        case "depot.structure.pptx":
            return pptx(object["slides"] as? [[String: Any]] ?? [])
        default:
            throw GenerationInputError("structure.json has the shape \(schema), which generation does not read")
        }
    }

    /// Heading line → (level, title), from a `headings` array (text, Markdown, DOCX); titles
    /// and subtitles (level 0) are left out.
    static func headingLines(_ value: Any?) -> [Int: (Int, String)] {
        var result: [Int: (Int, String)] = [:]
        for heading in value as? [[String: Any]] ?? [] {
            guard let line = heading["line"] as? Int, let level = heading["level"] as? Int, let title = heading["title"] as? String,
                  level >= 1, !title.trimmingWhitespace().isEmpty else { continue }
            result[line] = (level, title.trimmingWhitespace())
        }
        return result
    }

    /// Text split into paragraphs at blank lines, page breaks (form feeds) and heading lines.
    /// Wrapped lines are joined (a hyphen at a line's end before a lower-case letter is a
    /// break inside a word); a line far shorter than the text's usual width that ends a
    /// sentence ends its paragraph too. Sections come from the headings of the commonest
    /// top level (the one level that appears most, of the two highest).
    static func plain(_ text: String, kind: Kind, headingLines: [Int: (Int, String)], linePerParagraph: Bool = false) -> SourceDocument {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let lengths = lines.map { $0.count }.filter { $0 > 0 }.sorted()
        let typical = lengths.isEmpty ? 0 : lengths[lengths.count * 3 / 4]
        let onePerLine = linePerParagraph || typical > 200
        var paragraphs: [SourceParagraph] = []
        var current = "", currentLine = 0, page = 1
        var headingOf: [Int: (Int, String)] = [:] // paragraph index → heading
        var lastHeading: String?
        func flush() {
            let t = current.collapsingWhitespace()
            if !t.isEmpty { paragraphs.append(SourceParagraph(text: t, anchor: anchor(line: currentLine, page: page))) }
            current = ""
        }
        func anchor(line: Int, page: Int) -> Anchor {
            Anchor(page: kind == .pdf ? page : nil, line: line, heading: lastHeading)
        }
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            var line = raw
            // A form feed is always a character of its own, so its byte stands for it (and
            // this is no search through Foundation, as String.contains(String) is).
            while line.utf8.contains(0x0C) {
                let parts = line.split(separator: "\u{0C}", maxSplits: 1, omittingEmptySubsequences: false)
                current += " " + parts[0]
                flush()
                page += 1
                line = parts.count > 1 ? String(parts[1]) : ""
            }
            let trimmed = line.trimmingWhitespace()
            if let (level, title) = headingLines[number] {
                flush()
                lastHeading = title
                headingOf[paragraphs.count] = (level, title)
                paragraphs.append(SourceParagraph(text: title, anchor: anchor(line: number, page: page), isHeading: true))
                continue
            }
            if trimmed.isEmpty { flush(); continue }
            if current.isEmpty { currentLine = number }
            if current.hasSuffix("-"), let first = trimmed.first, first.isLowercase,
               current.dropLast().last?.isLetter == true {
                current.removeLast()
                current += trimmed
            } else {
                current += (current.isEmpty ? "" : " ") + trimmed
            }
            let endsSentence = trimmed.last.map { TextBreaks.terminals.contains($0) || TextBreaks.closers.contains($0) } ?? false
            if onePerLine || (typical > 40 && trimmed.count < typical * 6 / 10 && endsSentence) { flush() }
        }
        flush()
        // Chapters at the level that structures the document: of the two highest levels, the
        // one with more headings (a lone H1 title over H2 chapters gives the H2s).
        let levels = Set(headingOf.values.map(\.0)).sorted()
        var sections: [SourceSection] = []
        if let top = levels.first {
            let second = levels.dropFirst().first
            let count = { (l: Int) in headingOf.values.filter { $0.0 == l }.count }
            let level = (second != nil && count(top) <= 1 && count(second!) > 1) ? second! : top
            for (index, heading) in headingOf.sorted(by: { $0.key < $1.key }) where heading.0 == level {
                sections.append(SourceSection(title: heading.1, anchor: Anchor(line: paragraphs[index].anchor.line, heading: heading.1),
                                              firstParagraph: index))
            }
        }
        return SourceDocument(kind: kind, title: nil, paragraphs: paragraphs, sections: sections, pageCount: max(1, page))
    }

    /// A PDF's text (pages end with form feeds) and its outline's top level (or, when that is
    /// one entry, its children): a section starts at the paragraph of its page that begins
    /// with its title, else at the page's first paragraph.
    static func pdf(_ text: String, outline: [[String: Any]], pageCount: Int) -> SourceDocument {
        var document = plain(text, kind: .pdf, headingLines: [:])
        document.pageCount = max(1, pageCount)
        var level = outline
        if level.count == 1, let children = level[0]["children"] as? [[String: Any]], children.count > 1 { level = children }
        for entry in level {
            guard let title = (entry["title"] as? String)?.collapsingWhitespace(), !title.isEmpty, let page = entry["page"] as? Int else { continue }
            let onPage = document.paragraphs.indices.filter { document.paragraphs[$0].anchor.page == page }
            guard let first = onPage.first else { continue }
            let lowered = title.lowercased()
            let start = onPage.first { document.paragraphs[$0].text.lowercased().hasPrefix(lowered) } ?? first
            if let last = document.sections.last, last.firstParagraph > start { continue }
            // A title joined to the text after it (a short heading line wrapped into its
            // paragraph) is split off, so that it is a heading and not a sentence.
            let text = document.paragraphs[start].text
            if text.lowercased().hasPrefix(lowered + " ") {
                var rest = document.paragraphs[start]
                rest.text = String(text.dropFirst(title.count + 1))
                document.paragraphs[start].text = String(text.prefix(title.count))
                document.paragraphs.insert(rest, at: start + 1)
            }
            document.sections.append(SourceSection(title: title, anchor: Anchor(page: page, heading: title), firstParagraph: start))
        }
        // A paragraph that is exactly a section's title is its heading.
        for section in document.sections where document.paragraphs[section.firstParagraph].text.lowercased() == section.title.lowercased() {
            document.paragraphs[section.firstParagraph].isHeading = true
        }
        return document
    }

    /// A presentation: one section per slide, its title the slide's title (else its first
    /// line), its paragraphs the body's lines and the notes.
    static func pptx(_ slides: [[String: Any]]) -> SourceDocument {
        var paragraphs: [SourceParagraph] = []
        var sections: [SourceSection] = []
        for (index, slide) in slides.enumerated() {
            let number = slide["number"] as? Int ?? index + 1
            let body = (slide["body"] as? String ?? "").split(separator: "\n").map { String($0).collapsingWhitespace() }.filter { !$0.isEmpty }
            let notes = (slide["notes"] as? String ?? "").split(separator: "\n").map { String($0).collapsingWhitespace() }.filter { !$0.isEmpty }
            let title = (slide["title"] as? String)?.collapsingWhitespace() ?? ""
            let heading = title.isEmpty ? (body.first ?? "Slide \(number)") : title
            let start = paragraphs.count
            if !title.isEmpty { paragraphs.append(SourceParagraph(text: title, anchor: Anchor(slide: number, heading: heading), isHeading: true)) }
            for line in body + notes { paragraphs.append(SourceParagraph(text: line, anchor: Anchor(slide: number, heading: heading))) }
            if paragraphs.count > start { sections.append(SourceSection(title: heading, anchor: Anchor(slide: number, heading: heading), firstParagraph: start)) }
        }
        return SourceDocument(kind: .pptx, paragraphs: paragraphs, sections: sections, pageCount: max(1, slides.count))
    }

    /// A timed transcript (WebVTT, as the media processors write transcript.vtt): cues are
    /// joined until one ends a sentence, each paragraph keeping the start of its first cue
    /// and the end of its last. The recording's own chapters (a container's, from its
    /// metadata.json), when it has them, are its sections, each from the first paragraph
    /// mostly past its start; without them a transcript is segmented by its words. Either way
    /// its chapters keep the times.
    public static func fromWebVTT(_ vtt: String, chapters: [(start: Double, title: String?)] = []) -> SourceDocument {
        var paragraphs: [SourceParagraph] = []
        var pending = "", pendingStart: Double?, pendingEnd: Double?
        var cueStart: Double?, cueEnd: Double?
        var cueText: [String] = []
        func endCue() {
            guard let s = cueStart, let e = cueEnd else { cueText = []; return }
            let text = cueText.joined(separator: " ").replacingOccurrences(of: "<[^>]*>", with: "", options: .regularExpression).collapsingWhitespace()
            cueText = []; cueStart = nil; cueEnd = nil
            guard !text.isEmpty else { return }
            if pendingStart == nil { pendingStart = s }
            pendingEnd = e
            pending += (pending.isEmpty ? "" : " ") + text
            if let last = text.last, TextBreaks.terminals.contains(last) || TextBreaks.closers.contains(last) {
                paragraphs.append(SourceParagraph(text: pending, anchor: Anchor(start: pendingStart, end: pendingEnd)))
                pending = ""; pendingStart = nil
            }
        }
        for raw in vtt.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.contains("-->") {
                endCue()
                let parts = line.components(separatedBy: "-->")
                cueStart = seconds(parts[0])
                cueEnd = seconds(parts[1].split(separator: " ").first.map(String.init) ?? "")
            } else if line.isEmpty {
                endCue()
            } else if cueStart != nil {
                cueText.append(line)
            }
        }
        endCue()
        if !pending.isEmpty { paragraphs.append(SourceParagraph(text: pending, anchor: Anchor(start: pendingStart, end: pendingEnd))) }
        let duration = paragraphs.last?.anchor.end ?? 0
        var sections: [SourceSection] = []
        for (n, chapter) in chapters.sorted(by: { $0.start < $1.start }).enumerated() {
            guard let first = paragraphs.firstIndex(where: { (($0.anchor.start ?? 0) + ($0.anchor.end ?? 0)) / 2 >= chapter.start })
            else { continue }
            // Two chapters within one paragraph: the earlier one keeps it.
            if let last = sections.last, last.firstParagraph >= first { continue }
            let named = chapter.title?.collapsingWhitespace() ?? ""
            let title = named.isEmpty ? "Chapter \(n + 1)" : named
            sections.append(SourceSection(title: title, anchor: Anchor(heading: title, start: chapter.start), firstParagraph: first))
        }
        return SourceDocument(kind: .transcript, paragraphs: paragraphs, sections: sections, pageCount: max(1, Int(duration / 60)))
    }

    /// "01:02:03.500" or "02:03.500" → seconds.
    static func seconds(_ text: String) -> Double? {
        let parts = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ",", with: ".").split(separator: ":")
        guard (2...3).contains(parts.count) else { return nil }
        var total = 0.0
        for part in parts {
            guard let v = Double(part) else { return nil }
            total = total * 60 + v
        }
        return total
    }
}
