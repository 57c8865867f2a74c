import DepotCore
import Foundation

/// Walks word/document.xml (or a notes, comments, header or footer part) once and collects
/// the text in reading order, the headings, tables and lists, and what the body refers to in
/// other parts (notes, headers and footers, alternative-format chunks).
struct WordBodyReader {
    let styles: WordStyles
    let numbering: WordNumbering
    var budget: TextBudget

    private(set) var lines: [String] = []
    private(set) var headings: [[String: Any]] = []
    private(set) var tables: [[String: Any]] = []
    private(set) var lists: [[String: Any]] = []
    private(set) var title: String?
    /// Paragraphs with text, in the body's flow, tables and text boxes (not in notes,
    /// comments, headers or footers, which their own readers count).
    private(set) var paragraphCount = 0
    /// "footnote:<id>" → the mark shown in the text ("1"), in order of first reference.
    private(set) var noteMarks: [String: String] = [:]
    /// For footnotes.xml, endnotes.xml, comments.xml: id → text (comments: author too).
    private(set) var notes: [(id: String, text: String, author: String?)] = []
    /// The headers and footers each section names (sectPr's references), in order.
    private(set) var sectionParts: [(kind: String, type: String, relationship: String, section: Int)] = []
    private var section = 1
    /// The lines of an `altChunk` (imported HTML, text or DOCX), by relationship id; nil for
    /// a chunk that cannot be read (the caller counts those).
    var altChunk: (String) throws -> [String]? = { _ in nil }
    private(set) var unreadChunks = 0

    // Paragraph state.
    private struct Paragraph {
        var text = ""
        var style: String?
        var outlineLevel: Int?
        var numID: String?
        var level = 0
        /// A drop cap's frame (`w:framePr w:dropCap`): the big first letter(s) of the next paragraph.
        var isDropCap = false
    }
    /// A drop cap's text, waiting for the paragraph it begins ("D" + "rop cap." is one word).
    private var dropCap = ""
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
    private var inMathText = false
    private var inParagraphProperties = false
    private var currentNoteID: String?
    private var currentNoteAuthor: String?
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
                if name.namespace == XMLNamespace.wp && name.local == "docPr" {
                    // A picture's description (alternative text), in brackets where it sits, as
                    // pandoc prints it: for a reader of the text it stands for the picture.
                    if let description = reader.attribute("descr"), !description.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                        try append("[" + description.split(whereSeparator: \.isNewline).joined(separator: " ") + "]")
                    }
                    continue
                }
                if name.namespace == XMLNamespace.m && name.local == "t" {
                    // Office Math: its runs' text, in order ("x", "=", "2"), in the paragraph's line.
                    inMathText = !empty
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
                case "framePr" where inParagraphProperties:
                    let drop = reader.attribute("dropCap", namespace: w)
                    if drop == "drop" || drop == "margin" { paragraphs.lastIndexSet { $0.isDropCap = true } }
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
                case "delText", "instrText", "delInstrText", "moveFrom":
                    // Deleted text, text moved away (its copy is in moveTo) and field codes are
                    // not part of what the document says.
                    try reader.skipElement(empty: empty)
                case "comment":
                    currentNoteID = reader.attribute("id", namespace: w)
                    currentNoteAuthor = reader.attribute("author", namespace: w) ?? ""
                    noteTexts = []
                case "headerReference", "footerReference":
                    if let id = reader.attribute("id", namespace: XMLNamespace.r) {
                        sectionParts.append((name.local == "headerReference" ? "header" : "footer",
                                             reader.attribute("type", namespace: w) ?? "default", id, section))
                    }
                case "altChunk":
                    if let id = reader.attribute("id", namespace: XMLNamespace.r), let chunk = try altChunk(id) {
                        for line in chunk {
                            paragraphCount += line.trimmingCharacters(in: .whitespaces).isEmpty ? 0 : 1
                            try budget.take(line)
                            try emit(line)
                        }
                    } else {
                        unreadChunks += 1
                    }
                default: break
                }
            case .end(let name):
                if name.namespace == XMLNamespace.m && name.local == "t" { inMathText = false }
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
                case "footnote", "endnote", "comment":
                    if let id = currentNoteID {
                        notes.append((id, noteTexts.joined(separator: " "), currentNoteAuthor))
                        currentNoteID = nil
                        currentNoteAuthor = nil
                    }
                case "sectPr": section += 1
                default: break
                }
            case .text(let value):
                if inText || inMathText { try append(value) }
            }
        }
        // A drop cap with no paragraph after it is a paragraph of its own.
        if !dropCap.isEmpty { try emit(dropCap) }
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
            if !text.isEmpty {
                deferred.append(text)
                paragraphCount += 1
            }
            return
        }
        if paragraph.isDropCap {
            dropCap += paragraph.text.trimmingCharacters(in: .whitespacesAndNewlines)
            return
        }
        var text = dropCap + paragraph.text
        dropCap = ""
        let inTable = !tableStack.isEmpty
        let heading = paragraph.outlineLevel.flatMap { (0...8).contains($0) ? ($0 + 1, nil) : nil }
            ?? styles.heading(paragraph.style)
        let numID = paragraph.numID ?? styles.numID(paragraph.style)
        let isList = numID != nil && numID != "0" && heading == nil
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.isEmpty { paragraphCount += 1 }

        if currentNoteID == nil && !inTable {
            if title == nil, heading?.role == "title", !trimmed.isEmpty { title = trimmed }
            if let heading, !trimmed.isEmpty {
                var entry: [String: Any] = ["level": heading.level, "title": trimmed, "line": lines.count + 1]
                if let role = heading.role { entry["role"] = role }
                headings.append(entry)
            }
            if isList, let numID {
                let ordered = numbering.isOrdered(numID: numID, level: paragraph.level)
                if currentList?.numID != numID { closeList(); currentList = (numID, 0, lines.count + 1, ordered, 0) }
                currentList!.items += 1
                currentList!.maxLevel = max(currentList!.maxLevel, paragraph.level)
                text = listItem(text, numID: numID, level: paragraph.level)
            } else if !trimmed.isEmpty {
                closeList()
            }
            // A numbered heading ("3.4 Terms": a heading style or outline level on a list's
            // paragraph) keeps its number in the text, as Word shows it, and moves the list's
            // counters on; its title in the headings is the words alone.
            if heading != nil, let numID, numID != "0", !trimmed.isEmpty {
                text = listItem(text, numID: numID, level: paragraph.level, indented: false)
            }
        } else if currentNoteID == nil && isList, let numID {
            // A list in a table cell is numbered as Word shows it (pandoc's
            // table_with_list_cell.docx: "1. Cell with", "2. A"); structure.json's lists are
            // those of the body.
            text = listItem(text, numID: numID, level: paragraph.level)
        }
        try emit(text)
        let boxes = deferred
        deferred = []
        for box in boxes { try emit(box) }
    }

    /// `text` as an item of list `numID` at `level`: indented, after its label ("2.1.", "-"),
    /// the list's counters moved on. Each level counts from its start; an item resets the
    /// levels below it.
    private mutating func listItem(_ text: String, numID: String, level: Int, indented: Bool = true) -> String {
        let ordered = numbering.isOrdered(numID: numID, level: level)
        var counter = counters[numID] ?? (0..<9).map { numbering.start(numID: numID, level: $0) - 1 }
        counter[level] += 1
        for deeper in (level + 1)..<9 { counter[deeper] = numbering.start(numID: numID, level: deeper) - 1 }
        counters[numID] = counter
        // A level above that has had no item yet shows its start, as in Word ("3.1" under
        // a first level starting at 3 that was never used; never "2.1").
        var shown = counter
        for above in 0..<level where shown[above] < numbering.start(numID: numID, level: above) {
            shown[above] = numbering.start(numID: numID, level: above)
        }
        let indent = indented ? String(repeating: "  ", count: level) : ""
        let format = numbering.level(numID: numID, level: level)?.format
        let label = format == "none" ? "" : ordered ? numbering.label(numID: numID, level: level, counters: shown) : "-"
        return indent + (label.isEmpty ? "" : label + " ") + text
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
