import DepotCore
import Foundation

/// Word documents (DOCX, WordprocessingML) → metadata.json (core and app properties),
/// text.txt (reading order: paragraphs, list items, table rows with tab-separated cells,
/// then footnotes and endnotes), structure.json (headings, tables, lists) and the package
/// thumbnail when it has a JPEG or PNG one.
public struct DOCXProcessor: DocumentProcessor {
    public let name = "depot-docx"
    public let version = "1"
    public let artifactKinds = OOXMLPackage.artifactKinds
    public let limits: DocumentLimits

    public init(limits: DocumentLimits = DocumentLimits()) {
        self.limits = limits
    }

    public static let mediaType = TypeDetector.docx

    /// Reads the DOCX at `path` and writes its artifacts into `outputDirectory`.
    /// - Throws: `DocumentError` with the specific reason ("not a DOCX: missing word/document.xml").
    public static func extract(from path: String, into outputDirectory: String, limits: DocumentLimits = DocumentLimits(),
                               producer: String = "depot-docx", version: String = "1",
                               progress: (Int, String) -> Void = { _, _ in }) throws -> [ProducedArtifact] {
        let package = try OOXMLPackage(path: path, kind: "DOCX", limits: limits)
        let main = try package.relationship(of: "", typeSuffix: "/officeDocument")?.part ?? "word/document.xml"
        guard package.contains(main) else { throw DocumentError("not a DOCX: missing \(main)") }
        let rels = try package.relationships(of: main)
        func part(_ suffix: String, _ fallback: String) -> String {
            rels.values.sorted { $0.id < $1.id }.first { $0.type.hasSuffix(suffix) }?.part ?? fallback
        }
        let folder = main.split(separator: "/").dropLast().joined(separator: "/")
        let prefix = folder.isEmpty ? "" : folder + "/"
        progress(5, "reading styles")
        let styles = try WordStyles(package: package, part: part("/styles", prefix + "styles.xml"))
        let numbering = try WordNumbering(package: package, part: part("/numbering", prefix + "numbering.xml"))

        progress(20, "reading text")
        var body = WordBodyReader(styles: styles, numbering: numbering, limits: limits)
        guard let reader = try package.xml(main) else { throw DocumentError("not a DOCX: missing \(main)") }
        try body.read(reader, isNotes: false)
        var noteTexts: [(String, String)] = []
        for (suffix, fallback, kind) in [("/footnotes", "footnotes.xml", "footnote"), ("/endnotes", "endnotes.xml", "endnote")] {
            guard let notes = try package.xml(part(suffix, prefix + fallback)) else { continue }
            var noteReader = WordBodyReader(styles: styles, numbering: numbering, limits: limits)
            noteReader.noteKind = kind
            try noteReader.read(notes, isNotes: true)
            for (id, text) in noteReader.notes {
                guard let mark = body.noteMarks["\(kind):\(id)"] else { continue }
                noteTexts.append((mark, text))
            }
        }
        noteTexts.sort { (Int($0.0) ?? 0) < (Int($1.0) ?? 0) }

        var lines = body.lines
        if !noteTexts.isEmpty {
            if lines.last != "" { lines.append("") }
            for (mark, text) in noteTexts { lines.append("[\(mark)] \(text)") }
        }
        while lines.last == "" { lines.removeLast() }
        let text = lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"

        progress(80, "writing artifacts")
        var metadata = try package.documentProperties()
        metadata["format"] = "docx"
        metadata["paragraph_count"] = body.paragraphCount
        metadata["table_count"] = body.tables.count
        if !package.unsafeNames.isEmpty { metadata["ignored_entries"] = package.unsafeNames.count }
        var structure: [String: Any] = [
            "schema": "depot.structure/1",
            "media_type": TypeDetector.docx,
            "headings": body.headings,
            "tables": body.tables,
            "lists": body.lists,
            "footnote_count": noteTexts.count,
            "line_count": lines.count,
        ]
        if let title = body.title { structure["title"] = title }

        var writer = ArtifactWriter(directory: outputDirectory, producer: producer, version: version)
        try writer.writeJSON("metadata.json", metadata)
        try writer.writeText(text)
        try writer.writeJSON("structure.json", structure)
        if let thumbnail = try package.thumbnail() { _ = try writer.writeThumbnail(thumbnail) }
        return writer.produced
    }
}

/// Paragraph styles from styles.xml: the heading level each style gives (its name
/// "heading N", else its outline level), following `basedOn` chains; and list numbering.
struct WordStyles {
    struct Style {
        var name = ""
        var basedOn: String?
        var outlineLevel: Int?
        var numID: String?
    }

    var styles: [String: Style] = [:]
    var defaultStyle: String?

    init(package: OOXMLPackage, part: String) throws {
        guard let reader = try package.xml(part) else { return }
        var current: (id: String, style: Style)?
        let w = XMLNamespace.w
        while let event = try reader.next() {
            switch event {
            case .start(let name, let empty):
                if name.is(w, "style") {
                    let type = reader.attribute("type", namespace: w)
                    if type == nil || type == "paragraph", let id = reader.attribute("styleId", namespace: w) {
                        if reader.attribute("default", namespace: w).map({ $0 == "1" || $0 == "true" }) ?? false {
                            defaultStyle = id
                        }
                        current = (id, Style())
                        if empty { styles[id] = current!.style; current = nil }
                    } else {
                        try reader.skipElement(empty: empty)
                    }
                } else if current != nil {
                    let value = reader.attribute("val", namespace: w)
                    if name.is(w, "name") { current!.style.name = value ?? "" }
                    else if name.is(w, "basedOn") { current!.style.basedOn = value }
                    else if name.is(w, "outlineLvl") { current!.style.outlineLevel = value.flatMap { Int($0) } }
                    else if name.is(w, "numId") { current!.style.numID = value }
                }
            case .end(let name):
                if name.is(w, "style"), let done = current {
                    styles[done.id] = done.style
                    current = nil
                }
            case .text: break
            }
        }
    }

    /// The heading level (1–9) a paragraph style gives, nil for body text.
    func headingLevel(_ id: String?) -> Int? {
        var id = id ?? defaultStyle
        var seen = 0
        while let current = id, let style = styles[current], seen < 20 {
            let lower = style.name.lowercased()
            if lower.hasPrefix("heading "), let level = Int(lower.dropFirst(8)), (1...9).contains(level) { return level }
            if let outline = style.outlineLevel { return (0...8).contains(outline) ? outline + 1 : nil }
            id = style.basedOn
            seen += 1
        }
        return nil
    }

    /// The list a paragraph style puts its paragraphs in.
    func numID(_ id: String?) -> String? {
        var id = id ?? defaultStyle
        var seen = 0
        while let current = id, let style = styles[current], seen < 20 {
            if let num = style.numID { return num }
            id = style.basedOn
            seen += 1
        }
        return nil
    }

    func name(_ id: String?) -> String? {
        styles[id ?? defaultStyle ?? ""]?.name
    }
}

/// numbering.xml: whether a list (numId) at a level is numbered or bulleted.
struct WordNumbering {
    /// numId → abstractNumId.
    var nums: [String: String] = [:]
    /// abstractNumId → level → numFmt.
    var formats: [String: [Int: String]] = [:]

    init(package: OOXMLPackage, part: String) throws {
        guard let reader = try package.xml(part) else { return }
        let w = XMLNamespace.w
        var abstract: String?
        var level: Int?
        var num: String?
        while let event = try reader.next() {
            switch event {
            case .start(let name, _):
                if name.is(w, "abstractNum") { abstract = reader.attribute("abstractNumId", namespace: w) }
                else if name.is(w, "lvl") { level = reader.attribute("ilvl", namespace: w).flatMap { Int($0) } }
                else if name.is(w, "numFmt"), let abstract, let level {
                    formats[abstract, default: [:]][level] = reader.attribute("val", namespace: w) ?? "decimal"
                } else if name.is(w, "num") { num = reader.attribute("numId", namespace: w) }
                else if name.is(w, "abstractNumId"), let num { nums[num] = reader.attribute("val", namespace: w) }
            case .end(let name):
                if name.is(w, "abstractNum") { abstract = nil }
                else if name.is(w, "lvl") { level = nil }
                else if name.is(w, "num") { num = nil }
            case .text: break
            }
        }
    }

    func isOrdered(numID: String, level: Int) -> Bool {
        guard let abstract = nums[numID], let format = formats[abstract]?[level] else { return false }
        return format != "bullet" && format != "none"
    }
}

/// Walks word/document.xml (or footnotes.xml) once and collects the text in reading order,
/// the headings, tables and lists.
struct WordBodyReader {
    let styles: WordStyles
    let numbering: WordNumbering
    var budget: TextBudget

    private(set) var lines: [String] = []
    private(set) var headings: [[String: Any]] = []
    private(set) var tables: [[String: Any]] = []
    private(set) var lists: [[String: Any]] = []
    private(set) var title: String?
    private(set) var paragraphCount = 0
    /// "footnote:<id>" → the mark shown in the text ("1"), in order of first reference.
    private(set) var noteMarks: [String: String] = [:]
    /// For footnotes.xml: id → text.
    private(set) var notes: [(String, String)] = []
    var noteKind = "footnote"

    // Paragraph state.
    private struct Paragraph {
        var text = ""
        var style: String?
        var outlineLevel: Int?
        var numID: String?
        var level = 0
    }
    private var paragraphs: [Paragraph] = []
    /// Text of paragraphs nested inside another (text boxes), emitted after it.
    private var deferred: [String] = []

    // Table state: a stack, for nested tables.
    private struct Table {
        var rows = 0
        var columns = 0
        var firstLine: Int
        var rowCells: [String] = []
        var cellParagraphs: [String] = []
        var inCell = false
    }
    private var tableStack: [Table] = []

    // List state.
    private var currentList: (numID: String, items: Int, firstLine: Int, ordered: Bool, maxLevel: Int)?
    private var counters: [String: [Int]] = [:]

    // Run state.
    private var inRun = 0
    private var inText = false
    private var inParagraphProperties = false
    private var currentNoteID: String?
    private var noteTexts: [String] = []

    init(styles: WordStyles, numbering: WordNumbering, limits: DocumentLimits) {
        self.styles = styles
        self.numbering = numbering
        budget = TextBudget(limit: limits.maxTextBytes)
    }

    mutating func read(_ reader: XMLStreamReader, isNotes: Bool) throws {
        let w = XMLNamespace.w
        while let event = try reader.next() {
            switch event {
            case .start(let name, let empty):
                if name.namespace == XMLNamespace.mc && name.local == "Fallback" {
                    // AlternateContent repeats a text box as a VML fallback: read the choice only.
                    try reader.skipElement(empty: empty)
                    continue
                }
                guard name.namespace == w else { continue }
                switch name.local {
                case "p":
                    paragraphs.append(Paragraph())
                    if empty { try endParagraph() }
                case "pPr": inParagraphProperties = !empty
                case "pStyle" where inParagraphProperties && inRun == 0:
                    paragraphs.lastIndexSet { $0.style = reader.attribute("val", namespace: w) }
                case "outlineLvl" where inParagraphProperties:
                    let level = reader.attribute("val", namespace: w).flatMap { Int($0) }
                    paragraphs.lastIndexSet { $0.outlineLevel = level }
                case "numId" where inParagraphProperties:
                    let id = reader.attribute("val", namespace: w)
                    paragraphs.lastIndexSet { $0.numID = id }
                case "ilvl" where inParagraphProperties:
                    let level = reader.attribute("val", namespace: w).flatMap { Int($0) } ?? 0
                    paragraphs.lastIndexSet { $0.level = max(0, min(level, 8)) }
                case "r": if !empty { inRun += 1 }
                case "t": inText = !empty && inRun > 0
                case "tab" where inRun > 0: try append("\t")
                case "br", "cr": if inRun > 0 { try append("\n") }
                case "noBreakHyphen": if inRun > 0 { try append("-") }
                case "footnoteReference", "endnoteReference":
                    let kind = name.local == "footnoteReference" ? "footnote" : "endnote"
                    if let id = reader.attribute("id", namespace: w) {
                        let key = "\(kind):\(id)"
                        let mark = noteMarks[key] ?? String(noteMarks.count + 1)
                        noteMarks[key] = mark
                        try append("[\(mark)]")
                    }
                case "footnote", "endnote":
                    let type = reader.attribute("type", namespace: w)
                    if type == "separator" || type == "continuationSeparator" || type == "continuationNotice" {
                        try reader.skipElement(empty: empty)
                    } else {
                        currentNoteID = reader.attribute("id", namespace: w)
                        noteTexts = []
                    }
                case "tbl":
                    tableStack.append(Table(firstLine: lines.count + 1))
                case "tr": tableStack.lastIndexSet { $0.rowCells = [] }
                case "tc": tableStack.lastIndexSet { $0.cellParagraphs = []; $0.inCell = true }
                case "delText", "instrText", "delInstrText":
                    // Deleted text and field codes are not part of what the document says.
                    try reader.skipElement(empty: empty)
                default: break
                }
            case .end(let name):
                guard name.namespace == w else { continue }
                switch name.local {
                case "p": try endParagraph()
                case "pPr": inParagraphProperties = false
                case "r": inRun = max(0, inRun - 1)
                case "t": inText = false
                case "tc":
                    if var table = tableStack.popLast() {
                        table.rowCells.append(table.cellParagraphs.filter { !$0.isEmpty }.joined(separator: " "))
                        table.inCell = false
                        tableStack.append(table)
                    }
                case "tr":
                    if var table = tableStack.popLast() {
                        table.rows += 1
                        table.columns = max(table.columns, table.rowCells.count)
                        let row = table.rowCells.joined(separator: "\t")
                        tableStack.append(table)
                        try emit(row)
                    }
                case "tbl":
                    if let table = tableStack.popLast() {
                        if tableStack.isEmpty {
                            tables.append(["rows": table.rows, "columns": table.columns, "line": table.firstLine])
                        }
                    }
                case "footnote", "endnote":
                    if let id = currentNoteID {
                        notes.append((id, noteTexts.joined(separator: " ")))
                        currentNoteID = nil
                    }
                default: break
                }
            case .text(let value):
                if inText { try append(value) }
            }
        }
        closeList()
    }

    private mutating func append(_ text: String) throws {
        guard !paragraphs.isEmpty else { return }
        try budget.take(text)
        paragraphs[paragraphs.count - 1].text += text
    }

    /// A line of output: into the current table cell / table row if inside one, else the body.
    private mutating func emit(_ line: String) throws {
        if currentNoteID != nil {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty { noteTexts.append(trimmed) }
            return
        }
        if tableStack.count >= 1, tableStack[tableStack.count - 1].inCell {
            tableStack[tableStack.count - 1].cellParagraphs.append(line)
            return
        }
        if tableStack.count >= 2 {
            // A row of a nested table: it goes into the outer table's current cell.
            tableStack[tableStack.count - 2].cellParagraphs.append(line.replacingOccurrences(of: "\t", with: " "))
            return
        }
        // One blank line at most between blocks (empty paragraphs used as spacing).
        if line.isEmpty && (lines.last?.isEmpty ?? true) { return }
        lines.append(line)
    }

    private mutating func endParagraph() throws {
        guard let paragraph = paragraphs.popLast() else { return }
        // A paragraph in a text box (nested in another paragraph) follows its anchor paragraph.
        if !paragraphs.isEmpty {
            let text = paragraph.text.trimmingCharacters(in: .whitespaces)
            if !text.isEmpty { deferred.append(text) }
            return
        }
        paragraphCount += 1
        var text = paragraph.text
        let inTable = !tableStack.isEmpty
        let level = paragraph.outlineLevel.flatMap { (0...8).contains($0) ? $0 + 1 : nil }
            ?? styles.headingLevel(paragraph.style)
        let numID = paragraph.numID ?? styles.numID(paragraph.style)
        let isList = numID != nil && numID != "0" && level == nil
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)

        if currentNoteID == nil && !inTable {
            if title == nil, styles.name(paragraph.style)?.lowercased() == "title", !trimmed.isEmpty { title = trimmed }
            if let level, !trimmed.isEmpty {
                headings.append(["level": level, "title": trimmed, "line": lines.count + 1])
            }
            if isList, let numID {
                let ordered = numbering.isOrdered(numID: numID, level: paragraph.level)
                if currentList?.numID != numID { closeList(); currentList = (numID, 0, lines.count + 1, ordered, 0) }
                currentList!.items += 1
                currentList!.maxLevel = max(currentList!.maxLevel, paragraph.level)
                var counter = counters[numID] ?? Array(repeating: 0, count: 9)
                counter[paragraph.level] += 1
                for deeper in (paragraph.level + 1)..<9 { counter[deeper] = 0 }
                counters[numID] = counter
                let indent = String(repeating: "  ", count: paragraph.level)
                text = indent + (ordered ? "\(counter[paragraph.level]). " : "- ") + text
            } else if !trimmed.isEmpty {
                closeList()
            }
        }
        try emit(text)
        let boxes = deferred
        deferred = []
        for box in boxes { try emit(box) }
    }

    private mutating func closeList() {
        guard let list = currentList else { return }
        lists.append(["items": list.items, "ordered": list.ordered, "line": list.firstLine, "levels": list.maxLevel + 1])
        currentList = nil
    }
}

private extension Array {
    /// Changes the last element, if there is one.
    mutating func lastIndexSet(_ change: (inout Element) -> Void) {
        guard !isEmpty else { return }
        change(&self[count - 1])
    }
}
