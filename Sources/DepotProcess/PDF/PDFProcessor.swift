import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Extract for PDF (poppler-glib) → metadata.json, text.txt (pages separated by form feeds,
/// as `pdftotext` writes them; bidi controls out, Arabic presentation forms folded) and
/// structure.json (`depot.structure.pdf/2`: outline with target pages or URLs, page labels,
/// characters per page, headings from a tagged PDF's structure tree, `needs_ocr` when there is
/// no text layer); the embedded files
/// (attachments) are listed in metadata.json and stored as "attachment-N.ext". The picture of
/// page 1 is `PDFThumbnailProcessor`'s, in a job of its own.
///
/// Parameter `max_pages`: pages whose text is read (`DocumentLimits.maxTextPages` without it);
/// later pages are counted and measured, and `text_truncated_after_page` says where reading stopped.
///
/// An encrypted PDF that opens without a password is read like any other (and marked
/// encrypted); one that needs a password yields metadata.json with `status:
/// "password_required"` and nothing else: that is the document's state, not a failure to retry.
public struct PDFProcessor: DocumentExtractor {
    public var choice: ProcessorChoice { .pdf }
    public let version = "2"
    public let limits: DocumentLimits

    public init(limits: DocumentLimits = DocumentLimits()) {
        self.limits = limits
    }

    public static let mediaType = TypeDetector.pdf
    /// structure.json's shape: docs/schemas/structure.pdf.schema.json.
    public static let structureSchema = "depot.structure.pdf/2"

    /// Reads the PDF at `path` and writes its artifacts into `outputDirectory`.
    /// - Throws: `DocumentError` when poppler cannot read it ("not a readable PDF: …").
    public static func extract(from path: String, into outputDirectory: String, limits: DocumentLimits = DocumentLimits(),
                               producer: String = "depot-pdf", version: String = "2",
                               progress: (Int, String) -> Void = { _, _ in }) throws -> [ProducedArtifact] {
        var writer = ArtifactWriter(directory: outputDirectory, producer: producer, version: version)
        let encryptDictionary = try hasEncryptDictionary(path)
        let document: PDFDocument
        do {
            document = try PDFDocument(path: path)
        } catch PDFErrors.Open.passwordRequired {
            var metadata: [String: Any] = ["format": "pdf", "encrypted": true, "status": "password_required",
                                           "message": "encrypted: a password is needed to open this PDF"]
            if let version = try headerVersion(path) { metadata["pdf_version"] = version }
            try writer.writeJSON("metadata.json", metadata)
            return writer.produced
        }

        let pageCount = document.pageCount
        var metadata: [String: Any] = [
            "format": "pdf",
            "status": "ok",
            "page_count": pageCount,
            "encrypted": encryptDictionary || !document.hasAllPermissions,
        ]
        for (key, value) in [("title", document.title), ("author", document.author), ("subject", document.subject),
                             ("keywords", document.keywords), ("creator", document.creator),
                             ("producer", document.producer), ("pdf_version", document.pdfVersion)] {
            if let value, !value.isEmpty { metadata[key] = value }
        }
        // XMP metadata where the Info dictionary has nothing.
        if let packet = document.xmpMetadata {
            for (key, value) in PDFXMP.properties(packet, limits: limits) where metadata[key] == nil { metadata[key] = value }
        }
        if let created = document.creationDate { metadata["created"] = isoDate(created) }
        if let modified = document.modificationDate { metadata["modified"] = isoDate(modified) }

        // Text, page by page, up to the page cap.
        let core = PDFCoreDocument(path: path)
        var text = ""
        var pages: [[String: Any]] = []
        var characters = 0
        var annotations: [[String: Any]] = []
        var budget = TextBudget(limit: limits.maxTextBytes)
        let textPages = min(pageCount, limits.maxTextPages)
        var firstPageSize: (Double, Double)?
        for index in 0..<pageCount {
            guard let page = document.page(index) else {
                pages.append(["number": index + 1, "error": "page cannot be read"])
                text += "\u{0C}"
                continue
            }
            let size = page.size
            if index == 0 { firstPageSize = size }
            var entry: [String: Any] = ["number": index + 1, "width_pt": round2(size.0), "height_pt": round2(size.1)]
            // A page label (/PageLabels: "iv", "A-3") when it is not just the page's number.
            if let label = page.label, !label.isEmpty, label != String(index + 1) { entry["label"] = label }
            if index < textPages {
                if index % 16 == 0 { progress(5 + 75 * index / max(pageCount, 1), "page \(index + 1) of \(pageCount)") }
                // poppler's core reads a cropped page over its media box (`PDFPage.read`).
                let reading = page.read(mediaBoxText: core?.isCropped(index) == true ? core?.mediaBoxText(index) : nil)
                var pageText = PDFText.normalised(reading.text)
                for value in reading.values where !value.value.isEmpty && annotations.count < limits.maxStructureAnnotations {
                    annotations.append(value.structureEntry(page: index + 1))
                }
                try budget.take(pageText)
                let count = pageText.unicodeScalars.reduce(0) { $0 + ($1.properties.isWhitespace ? 0 : 1) }
                characters += count
                entry["characters"] = count
                if !pageText.isEmpty && !pageText.hasSuffix("\n") { pageText += "\n" }
                text += pageText + "\u{0C}"
            }
            pages.append(entry)
        }
        if let (width, height) = firstPageSize {
            metadata["page_size"] = ["width_pt": round2(width), "height_pt": round2(height),
                                     "width_mm": round2(width * 25.4 / 72), "height_mm": round2(height * 25.4 / 72)]
        }
        let needsOCR = pageCount > 0 && characters == 0
        progress(85, "reading the outline")
        var structure: [String: Any] = [
            "schema": structureSchema,
            "media_type": mediaType,
            "page_count": pageCount,
            "pages": pages,
            "outline": document.outline(maxEntries: limits.maxOutlineEntries, maxDepth: limits.maxOutlineDepth),
            "headings": PDFStructureTree.headings(of: document, maxHeadings: limits.maxStructureHeadings,
                                                  maxElements: limits.maxStructureElements),
            "annotations": annotations,
            "needs_ocr": needsOCR,
            "characters": characters,
        ]
        if textPages < pageCount {
            structure["text_truncated_after_page"] = textPages
            metadata["text_truncated_after_page"] = textPages
        }
        if needsOCR {
            metadata["needs_ocr"] = true
            metadata["text_layer"] = "none"
            metadata["message"] = "no text layer: the pages are images (a scan?); OCR is not done yet"
        } else {
            metadata["text_layer"] = pageCount > 0 ? "present" : "none"
        }

        progress(90, "embedded files")
        metadata["embedded"] = try embeddedFiles(document, into: &writer, limits: limits)

        try writer.writeJSON("metadata.json", metadata)
        try writer.writeText(text)
        try writer.writeJSON("structure.json", structure)
        return writer.produced
    }

    /// Every artifact kind extract writes for a PDF: the document kinds, and the embedded files
    /// as "attachment-N.ext" (whatever media type their bytes are).
    public var artifactKinds: [String: String] {
        ArtifactWriter.documentKinds.merging([Self.attachmentKinds: "application/octet-stream"]) { first, _ in first }
    }

    /// The pattern `JobKinds.extract` lists for the attachments' artifact names.
    public static let attachmentKinds = "attachment-*"

    /// The files embedded in the document (attachments), listed: name, size, description, and
    /// for those within `maxAttachmentBytes` (the first `maxAttachments`) the media type
    /// detected from the bytes and the artifact that holds them. Each is written by number
    /// ("attachment-3.csv": the extension, letters and digits only, is the only part of the
    /// name the PDF gives that is used), never by its own name; past
    /// `maxStoredAttachmentBytes` in all, a file is only listed (`stored: false`).
    static func embeddedFiles(_ document: PDFDocument, into writer: inout ArtifactWriter, limits: DocumentLimits) throws -> [[String: Any]] {
        let list = PDFAttachmentList(document: document)
        var embedded: [[String: Any]] = []
        var stored: Int64 = 0
        for (number, attachment) in list.attachments.enumerated() {
            var entry: [String: Any] = ["name": attachment.name]
            if let size = attachment.size { entry["size"] = size }
            if let description = attachment.description { entry["description"] = description }
            // A size the PDF does not declare is learnt from the bytes (the worker's limits hold).
            if attachment.size ?? 0 <= limits.maxAttachmentBytes && number < limits.maxAttachments {
                let name = "attachment-\(number + 1)" + attachmentExtension(attachment.name)
                let path = writer.directory + "/" + name
                try attachment.save(to: path)
                let file = try ReadOnlyFile(path: path)
                let type = TypeDetector.detect(file, name: attachment.name)
                entry["size"] = Int(file.size)
                entry["type"] = type
                if file.size <= Int64(limits.maxAttachmentBytes) && stored + file.size <= Int64(limits.maxStoredAttachmentBytes) {
                    stored += file.size
                    writer.adopt(name, mimeType: type)
                    entry["artifact"] = name
                } else {
                    unlink(path)
                    entry["stored"] = false
                }
            } else {
                entry["stored"] = false
            }
            embedded.append(entry)
        }
        return embedded
    }

    /// ".csv" for "data/2024.CSV": the last extension of the name, lower-cased, when it is
    /// 1–8 ASCII letters and digits; else nothing.
    static func attachmentExtension(_ name: String) -> String {
        guard let last = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last,
              let dot = last.lastIndex(of: "."), dot != last.startIndex else { return "" }
        let ext = last[last.index(after: dot)...]
        guard (1...8).contains(ext.count), ext.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return "" }
        return "." + ext.lowercased()
    }

    /// The version in the `%PDF-x.y` header.
    static func headerVersion(_ path: String) throws -> String? {
        let head = try ReadOnlyFile(path: path).read(at: 0, count: 16)
        let text = String(decoding: head, as: UTF8.self)
        guard text.hasPrefix("%PDF-") else { return nil }
        let version = text.dropFirst(5).prefix { $0.isNumber || $0 == "." }
        return version.isEmpty ? nil : String(version)
    }

    /// Whether the file's trailer names an /Encrypt dictionary. poppler-glib does not say
    /// whether a document it opened was encrypted (only its permissions), and a file that
    /// opens with the empty user password still is encrypted; the trailer (or the
    /// cross-reference stream's dictionary) sits in the file's last bytes.
    static func hasEncryptDictionary(_ path: String) throws -> Bool {
        let file = try ReadOnlyFile(path: path)
        let count = Int(min(file.size, 64 * 1024))
        let tail = try file.read(at: file.size - Int64(count), count: count)
        return TypeDetector.contains(tail, Array("/Encrypt".utf8))
    }

    private static func round2(_ value: Double) -> Double { (value * 100).rounded() / 100 }
}
