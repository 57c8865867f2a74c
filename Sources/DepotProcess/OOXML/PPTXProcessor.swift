import DepotCore
import Foundation

/// Extract for PowerPoint presentations (PPTX, PresentationML) → metadata.json, text.txt (per
/// slide: title, body, notes; slides separated by form feeds) and structure.json
/// (`depot.structure.pptx/2`: slides in presentation order with title, body and notes);
/// metadata.json lists the embedded media and objects. The
/// package's own thumbnail is `OOXMLThumbnailProcessor`'s.
///
/// Slide order is presentation.xml's `sldIdLst` resolved through its relationships, never
/// the part names: slide7.xml may well be shown first.
public struct PPTXProcessor: DocumentExtractor {
    public var choice: ProcessorChoice { .pptx }
    public let version = "2"
    public let limits: DocumentLimits

    public init(limits: DocumentLimits = DocumentLimits()) {
        self.limits = limits
    }

    public static let mediaType = TypeDetector.pptx
    /// structure.json's shape: docs/schemas/structure.pptx.schema.json.
    public static let structureSchema = "depot.structure.pptx/2"

    /// One slide's text.
    struct Slide {
        var part: String
        var title: String?
        var body: [String] = []
        var notes: [String] = []
        var hidden = false
    }

    /// Reads the PPTX at `path` and writes its artifacts into `outputDirectory`.
    /// - Throws: `DocumentError` with the specific reason ("not a PPTX: missing ppt/presentation.xml").
    public static func extract(from path: String, into outputDirectory: String, limits: DocumentLimits = DocumentLimits(),
                               producer: String = "depot-pptx", version: String = "2",
                               progress: (Int, String) -> Void = { _, _ in }) throws -> [ProducedArtifact] {
        let package = try OOXMLPackage(path: path, kind: "PPTX", limits: limits)
        let main = try package.relationship(of: "", typeSuffix: "/officeDocument")?.part ?? "ppt/presentation.xml"
        guard let presentation = try package.xml(main) else { throw DocumentError("not a PPTX: missing \(main)") }

        // The slide id list, in order, and the slide size.
        var slideIDs: [String] = []
        var size: [String: Any]?
        while let event = try presentation.next() {
            guard case .start(let name, _) = event, name.namespace == XMLNamespace.p else { continue }
            if name.local == "sldId", let rid = presentation.attribute("id", namespace: XMLNamespace.r) {
                slideIDs.append(rid)
                if slideIDs.count > limits.maxSlides {
                    throw DocumentError("presentation has more than \(limits.maxSlides) slides")
                }
            } else if name.local == "sldSz", let cx = presentation.attribute("cx").flatMap({ Int($0) }),
                      let cy = presentation.attribute("cy").flatMap({ Int($0) }) {
                // EMU: 914400 per inch, 12700 per point.
                size = ["width_pt": Double(cx) / 12700, "height_pt": Double(cy) / 12700]
            }
        }
        let rels = try package.relationships(of: main)

        var slides: [Slide] = []
        var budget = TextBudget(limit: limits.maxTextBytes)
        for (number, rid) in slideIDs.enumerated() {
            progress(5 + 80 * number / max(slideIDs.count, 1), "slide \(number + 1) of \(slideIDs.count)")
            guard let part = rels[rid]?.part, let reader = try package.xml(part) else {
                throw DocumentError("slide \(number + 1) (relationship \(rid)) points at no part in the package")
            }
            var slide = Slide(part: part)
            for shape in try readShapes(reader, hidden: &slide.hidden) {
                try budget.take(shape.text)
                // A title placeholder left empty is no title (null), like a slide without one.
                if shape.isTitle && slide.title == nil { if !shape.text.isEmpty { slide.title = shape.text } }
                else if !shape.text.isEmpty { slide.body.append(shape.text) }
            }
            if let notesPart = try package.relationship(of: part, typeSuffix: "/notesSlide")?.part,
               let notes = try package.xml(notesPart) {
                var ignored = false
                for shape in try readShapes(notes, hidden: &ignored) where shape.placeholder == "body" && !shape.text.isEmpty {
                    try budget.take(shape.text)
                    slide.notes.append(shape.text)
                }
            }
            slides.append(slide)
        }

        progress(90, "writing artifacts")
        var pages: [String] = []
        for slide in slides {
            var lines: [String] = []
            if let title = slide.title { lines.append(title) }
            lines += slide.body
            if !slide.notes.isEmpty { lines.append(""); lines += slide.notes }
            pages.append(lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n")
        }
        let text = pages.map { $0 + "\u{0C}" }.joined()

        var metadata = try package.documentProperties()
        metadata["format"] = "pptx"
        metadata["slide_count"] = slides.count
        if let size { metadata["slide_size"] = size }
        metadata["embedded"] = try package.embeddedParts(under: ["ppt/media/", "ppt/embeddings/"])
        if !package.unsafeNames.isEmpty { metadata["ignored_entries"] = package.unsafeNames.count }
        var structure: [String: Any] = [
            "schema": structureSchema,
            "media_type": mediaType,
            "slide_count": slides.count,
            "slides": slides.enumerated().map { index, slide -> [String: Any] in
                var entry: [String: Any] = ["number": index + 1, "part": slide.part,
                                            "body": slide.body.joined(separator: "\n"),
                                            "notes": slide.notes.joined(separator: "\n"), "hidden": slide.hidden]
                // In the structure a title is one line: its line breaks and paragraphs are spaces
                // (text.txt keeps them as newlines).
                entry["title"] = slide.title.map(Self.oneLine) ?? NSNull()
                return entry
            },
        ]
        if let size { structure["slide_size"] = size }

        var writer = ArtifactWriter(directory: outputDirectory, producer: producer, version: version)
        try writer.writeJSON("metadata.json", metadata)
        try writer.writeText(text)
        try writer.writeJSON("structure.json", structure)
        return writer.produced
    }

    /// `text` with each run of whitespace that holds a line break made one space.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: { $0.isNewline || $0 == "\u{0B}" }).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// One shape's text and placeholder type.
    struct Shape {
        var placeholder: String?
        var hasPlaceholder = false
        var text = ""
        var isTitle: Bool { hasPlaceholder && (placeholder == "title" || placeholder == "ctrTitle") }
    }

    /// The text shapes of a slide (or notes slide) in document order: `p:sp` text bodies and
    /// `a:tbl` tables in graphic frames (rows per line, cells tab-separated), through groups.
    static func readShapes(_ reader: XMLStreamReader, hidden: inout Bool) throws -> [Shape] {
        let a = XMLNamespace.a, p = XMLNamespace.p
        var shapes: [Shape] = []
        var current: Shape?
        var paragraphs: [String] = []
        var paragraph = ""
        var inText = false
        var cells: [String] = []
        var tableDepth = 0
        while let event = try reader.next() {
            switch event {
            case .start(let name, let empty):
                if name.is(p, "sld") { hidden = reader.attribute("show") == "0" }
                else if name.namespace == XMLNamespace.mc && name.local == "Fallback" { try reader.skipElement(empty: empty) }
                else if (name.is(p, "sp") || name.is(p, "graphicFrame")) && !empty {
                    current = Shape()
                    paragraphs = []
                } else if name.is(p, "ph") {
                    current?.hasPlaceholder = true
                    // A placeholder without a type is a body/object placeholder (ECMA-376 §19.3.1.36).
                    current?.placeholder = reader.attribute("type") ?? "body"
                } else if name.is(a, "p") {
                    paragraph = ""
                    if empty { paragraphs.append("") }
                } else if name.is(a, "t") {
                    inText = !empty
                } else if name.is(a, "br") {
                    paragraph += "\n"
                } else if name.is(a, "tbl") {
                    tableDepth += 1
                } else if name.is(a, "tr") {
                    cells = []
                } else if name.is(a, "tc") {
                    paragraphs = []
                }
            case .end(let name):
                if name.is(a, "t") { inText = false }
                else if name.is(a, "p") { paragraphs.append(paragraph); paragraph = "" }
                else if name.is(a, "tc") {
                    cells.append(paragraphs.filter { !$0.isEmpty }.joined(separator: " "))
                    paragraphs = []
                } else if name.is(a, "tr") {
                    if var shape = current {
                        shape.text += (shape.text.isEmpty ? "" : "\n") + cells.joined(separator: "\t")
                        current = shape
                    }
                } else if name.is(a, "tbl") {
                    tableDepth -= 1
                } else if name.is(p, "sp") || name.is(p, "graphicFrame") {
                    if var shape = current {
                        if tableDepth == 0 && name.is(p, "sp") {
                            shape.text = paragraphs.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
                        }
                        shapes.append(shape)
                    }
                    current = nil
                    paragraphs = []
                }
            case .text(let value):
                if inText { paragraph += value }
            }
        }
        return shapes
    }
}
