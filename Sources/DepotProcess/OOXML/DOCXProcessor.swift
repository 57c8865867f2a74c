import DepotCore
import Foundation

/// Extract for Word documents (DOCX, WordprocessingML) → metadata.json (core and app
/// properties, embedded media and objects), text.txt (reading order: paragraphs, list items,
/// table rows with tab-separated cells, text boxes after their anchor, imported chunks in
/// place; then footnotes and endnotes, comments, and each header and footer once) and
/// structure.json (`depot.structure.docx/2`: headings, tables, lists, comments, headers and
/// footers). The package's own thumbnail is
/// `OOXMLThumbnailProcessor`'s. Styles and numbering are read by `WordStyles` and
/// `WordNumbering`, the body by `WordBodyReader`.
public struct DOCXProcessor: DocumentExtractor {
    public var choice: ProcessorChoice { .docx }
    public let version = "2"
    public let limits: DocumentLimits

    public init(limits: DocumentLimits = DocumentLimits()) {
        self.limits = limits
    }

    public static let mediaType = TypeDetector.docx
    /// structure.json's shape: docs/schemas/structure.docx.schema.json.
    public static let structureSchema = "depot.structure.docx/2"

    /// Reads the DOCX at `path` and writes its artifacts into `outputDirectory`.
    /// - Throws: `DocumentError` with the specific reason ("not a DOCX: missing word/document.xml").
    public static func extract(from path: String, into outputDirectory: String, limits: DocumentLimits = DocumentLimits(),
                               producer: String = "depot-docx", version: String = "2",
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
        body.altChunk = { id in try WordAltChunk.lines(rels[id], in: package, limits: limits) }
        guard let reader = try package.xml(main) else { throw DocumentError("not a DOCX: missing \(main)") }
        try body.read(reader, isNotes: false)
        var noteTexts: [(String, String)] = []
        for (suffix, fallback, kind) in [("/footnotes", "footnotes.xml", "footnote"), ("/endnotes", "endnotes.xml", "endnote")] {
            guard let notes = try package.xml(part(suffix, prefix + fallback)) else { continue }
            var noteReader = WordBodyReader(styles: styles, numbering: numbering, limits: limits)
            try noteReader.read(notes, isNotes: true)
            for note in noteReader.notes {
                guard let mark = body.noteMarks["\(kind):\(note.id)"] else { continue }
                noteTexts.append((mark, note.text))
            }
        }
        noteTexts.sort { (Int($0.0) ?? 0) < (Int($1.0) ?? 0) }

        var lines = body.lines
        func block(_ text: [String]) {
            if !lines.isEmpty && lines.last != "" { lines.append("") }
            lines += text
        }
        if !noteTexts.isEmpty { block(noteTexts.map { "[\($0.0)] \($0.1)" }) }

        progress(60, "reading comments, headers and footers")
        var comments: [[String: Any]] = []
        if let part = try package.xml(part("/comments", prefix + "comments.xml")) {
            var commentReader = WordBodyReader(styles: styles, numbering: numbering, limits: limits)
            try commentReader.read(part, isNotes: true)
            for comment in commentReader.notes where !comment.text.isEmpty {
                let author = comment.author ?? ""
                block([author.isEmpty ? "[Comment] \(comment.text)" : "[Comment by \(author)] \(comment.text)"])
                comments.append(["author": author, "line": lines.count])
            }
        }
        var sectionParts: [[String: Any]] = []
        var readParts = Set<String>()
        for reference in body.sectionParts {
            // Sections that repeat a header or footer name the same part: its text once.
            guard let target = rels[reference.relationship]?.part, readParts.insert(target).inserted,
                  let part = try package.xml(target) else { continue }
            var partReader = WordBodyReader(styles: styles, numbering: numbering, limits: limits)
            try partReader.read(part, isNotes: false)
            let text = partReader.lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            guard !text.isEmpty else { continue }
            block(text)
            sectionParts.append(["kind": reference.kind, "type": reference.type, "section": reference.section,
                                 "line": lines.count - text.count + 1])
        }
        while lines.last == "" { lines.removeLast() }
        let text = lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"

        progress(80, "writing artifacts")
        var metadata = try package.documentProperties()
        // One paragraph count, depot's own (WordBodyReader.paragraphCount): app.xml's
        // <Paragraphs> is whatever the last application to save the file counted, if any.
        metadata["paragraphs"] = nil
        metadata["format"] = "docx"
        metadata["paragraph_count"] = body.paragraphCount
        metadata["table_count"] = body.tables.count
        metadata["embedded"] = try package.embeddedParts(under: [prefix + "media/", prefix + "embeddings/"])
        if body.unreadChunks > 0 { metadata["unread_alt_chunks"] = body.unreadChunks }
        if !package.unsafeNames.isEmpty { metadata["ignored_entries"] = package.unsafeNames.count }
        var structure: [String: Any] = [
            "schema": structureSchema,
            "media_type": mediaType,
            "headings": body.headings,
            "tables": body.tables,
            "lists": body.lists,
            "footnote_count": noteTexts.count,
            "comments": comments,
            "headers_footers": sectionParts,
            "line_count": lines.count,
        ]
        if let title = body.title { structure["title"] = title }

        var writer = ArtifactWriter(directory: outputDirectory, producer: producer, version: version)
        try writer.writeJSON("metadata.json", metadata)
        try writer.writeText(text)
        try writer.writeJSON("structure.json", structure)
        return writer.produced
    }
}
