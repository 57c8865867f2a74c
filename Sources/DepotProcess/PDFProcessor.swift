import CPoppler
import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// PDF (poppler-glib, rendered with cairo) → metadata.json, text.txt (pages separated by form
/// feeds, as `pdftotext` writes them), structure.json (outline with target pages, characters
/// per page, `needs_ocr` when there is no text layer) and thumbnail.png of page 1.
///
/// An encrypted PDF that opens without a password is read like any other (and marked
/// encrypted); one that needs a password yields metadata.json with `status:
/// "password_required"` and nothing else: that is the document's state, not a failure to retry.
public struct PDFProcessor: DocumentProcessor {
    public let name = "depot-pdf"
    public let version = "1"
    public let artifactKinds = [
        "metadata.json": "application/json", "text.txt": "text/plain; charset=utf-8",
        "structure.json": "application/json", "thumbnail.png": "image/png",
    ]
    public let limits: DocumentLimits

    public init(limits: DocumentLimits = DocumentLimits()) {
        self.limits = limits
    }

    public static let mediaType = "application/pdf"

    /// Reads the PDF at `path` and writes its artifacts into `outputDirectory`.
    /// - Throws: `DocumentError` when poppler cannot read it ("not a readable PDF: …").
    public static func extract(from path: String, into outputDirectory: String, limits: DocumentLimits = DocumentLimits(),
                               producer: String = "depot-pdf", version: String = "1",
                               progress: (Int, String) -> Void = { _, _ in }) throws -> [ProducedArtifact] {
        var writer = ArtifactWriter(directory: outputDirectory, producer: producer, version: version)
        let encryptDictionary = try hasEncryptDictionary(path)
        let document: PDFDocument
        do {
            document = try PDFDocument(path: path)
        } catch PDFDocument.OpenError.passwordRequired {
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
        if let created = document.creationDate { metadata["created"] = isoDate(created) }
        if let modified = document.modificationDate { metadata["modified"] = isoDate(modified) }

        // Text, page by page, up to the page cap.
        var text = ""
        var pages: [[String: Any]] = []
        var characters = 0
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
            if index < textPages {
                if index % 16 == 0 { progress(5 + 75 * index / max(pageCount, 1), "page \(index + 1) of \(pageCount)") }
                var pageText = page.text
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
            "schema": "depot.structure/1",
            "media_type": "application/pdf",
            "page_count": pageCount,
            "pages": pages,
            "outline": document.outline(maxEntries: limits.maxOutlineEntries, maxDepth: limits.maxOutlineDepth),
            "needs_ocr": needsOCR,
            "characters": characters,
        ]
        if textPages < pageCount {
            structure["text_truncated_after_page"] = textPages
            metadata["text_truncated_after_page"] = textPages
        }
        if needsOCR { metadata["needs_ocr"] = true }

        // The thumbnail is rendered first so that its failure can be recorded in metadata.json.
        // A page that cairo cannot draw (pdf.js's issue19634.pdf: a Type 3 glyph with a soft
        // mask makes "invalid value (typically too big)") costs the thumbnail only: the text
        // and metadata read fine, and failing the job would only retry the same failure.
        progress(90, "rendering the thumbnail")
        var thumbnail = false
        if pageCount > 0, let page = document.page(0) {
            let file = outputDirectory + "/thumbnail.png"
            do {
                try page.renderThumbnail(width: limits.thumbnailWidth, to: file)
                thumbnail = true
            } catch let error as DocumentError {
                unlink(file)
                metadata["thumbnail_error"] = error.description
            }
        }
        try writer.writeJSON("metadata.json", metadata)
        try writer.writeText(text)
        try writer.writeJSON("structure.json", structure)
        if thumbnail { writer.adopt("thumbnail.png", mimeType: "image/png") }
        return writer.produced
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

/// A poppler document; owns the GObject reference, released in deinit.
final class PDFDocument {
    enum OpenError: Error { case passwordRequired }

    let handle: OpaquePointer

    /// - Throws: `OpenError.passwordRequired`, or `DocumentError` for anything poppler refuses.
    init(path: String) throws {
        // poppler takes ownership of the descriptor (and closes it with the document).
        let fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        var error: UnsafeMutablePointer<GError>?
        guard let document = poppler_document_new_from_fd(fd, nil, &error) else {
            defer { if error != nil { g_error_free(error) } }
            if cpoppler_error_is(error, POPPLER_ERROR_ENCRYPTED) != 0 { throw OpenError.passwordRequired }
            let message = error.flatMap { $0.pointee.message.map { String(cString: $0) } } ?? "unknown error"
            throw DocumentError("not a readable PDF: \(message)")
        }
        handle = document
    }

    deinit { cpoppler_document_unref(handle) }

    var pageCount: Int { Int(poppler_document_get_n_pages(handle)) }
    var title: String? { take(poppler_document_get_title(handle)) }
    var author: String? { take(poppler_document_get_author(handle)) }
    var subject: String? { take(poppler_document_get_subject(handle)) }
    var keywords: String? { take(poppler_document_get_keywords(handle)) }
    var creator: String? { take(poppler_document_get_creator(handle)) }
    var producer: String? { take(poppler_document_get_producer(handle)) }
    var pdfVersion: String? {
        take(poppler_document_get_pdf_version_string(handle)).map { $0.hasPrefix("PDF-") ? String($0.dropFirst(4)) : $0 }
    }
    var creationDate: Int? { date(poppler_document_get_creation_date(handle)) }
    var modificationDate: Int? { date(poppler_document_get_modification_date(handle)) }
    var hasAllPermissions: Bool {
        poppler_document_get_permissions(handle).rawValue & POPPLER_PERMISSIONS_FULL.rawValue == POPPLER_PERMISSIONS_FULL.rawValue
    }

    func page(_ index: Int) -> PDFPage? {
        poppler_document_get_page(handle, Int32(index)).map(PDFPage.init)
    }

    /// The outline (bookmarks) as nested `title`/`page`/`children` entries.
    func outline(maxEntries: Int, maxDepth: Int) -> [[String: Any]] {
        guard let iterator = poppler_index_iter_new(handle) else { return [] }
        defer { poppler_index_iter_free(iterator) }
        var budget = maxEntries
        return outlineLevel(iterator, depth: 1, maxDepth: maxDepth, budget: &budget)
    }

    private func outlineLevel(_ iterator: OpaquePointer, depth: Int, maxDepth: Int, budget: inout Int) -> [[String: Any]] {
        var entries: [[String: Any]] = []
        repeat {
            guard budget > 0 else { break }
            budget -= 1
            var entry: [String: Any] = [:]
            if let action = poppler_index_iter_get_action(iterator) {
                defer { poppler_action_free(action) }
                if let title = action.pointee.any.title { entry["title"] = String(cString: title) }
                if action.pointee.type == POPPLER_ACTION_GOTO_DEST, let dest = action.pointee.goto_dest.dest {
                    if let page = pageNumber(dest) { entry["page"] = page }
                }
            }
            if depth < maxDepth, let child = poppler_index_iter_get_child(iterator) {
                let children = outlineLevel(child, depth: depth + 1, maxDepth: maxDepth, budget: &budget)
                poppler_index_iter_free(child)
                if !children.isEmpty { entry["children"] = children }
            }
            entries.append(entry)
        } while poppler_index_iter_next(iterator) != 0
        return entries
    }

    /// A destination's 1-based page number, looking up named destinations.
    private func pageNumber(_ dest: UnsafeMutablePointer<PopplerDest>) -> Int? {
        if dest.pointee.type == POPPLER_DEST_NAMED, let name = dest.pointee.named_dest {
            guard let found = poppler_document_find_dest(handle, name) else { return nil }
            defer { poppler_dest_free(found) }
            return found.pointee.page_num > 0 ? Int(found.pointee.page_num) : nil
        }
        return dest.pointee.page_num > 0 ? Int(dest.pointee.page_num) : nil
    }

    /// A gchar* that we own, as a String (freed).
    private func take(_ value: UnsafeMutablePointer<gchar>?) -> String? {
        guard let value else { return nil }
        defer { g_free(value) }
        return String(cString: value)
    }

    private func date(_ value: time_t) -> Int? { value > 0 ? Int(value) : nil }
}

/// A poppler page; owns the GObject reference, released in deinit.
final class PDFPage {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }

    deinit { cpoppler_page_unref(handle) }

    /// Width and height in points.
    var size: (Double, Double) {
        var width = 0.0, height = 0.0
        poppler_page_get_size(handle, &width, &height)
        return (width, height)
    }

    /// The page's text in reading order, as close to `pdftotext` as poppler-glib allows.
    ///
    /// Both read the page with poppler's text output device, but `poppler_page_get_text` dumps
    /// it differently from `pdftotext`: (1) it joins the cells of a table row into one line with
    /// nothing between them ("Normal" + "HardLight" → "NormalHardLight", pdf.js's calrgb.pdf and
    /// blendmode.pdf), which the characters' boxes reveal; (2) it keeps a hyphen that ends a line,
    /// where `pdftotext` joins the word's halves; (3) it draws only the page's content stream,
    /// where `pdftotext` also draws the annotations (`Page::displaySlice`), so filled form
    /// fields and FreeText annotations print there; their values are added after the page's text.
    var text: String {
        guard let raw = poppler_page_get_text(handle) else { return annotationText() }
        defer { g_free(raw) }
        var text = String(cString: raw)
        var rectangles: UnsafeMutablePointer<PopplerRectangle>?
        var count: guint = 0
        if poppler_page_get_text_layout(handle, &rectangles, &count) != 0, let rectangles {
            defer { g_free(rectangles) }
            text = Self.separatingCells(text, boxes: UnsafeBufferPointer(start: rectangles, count: Int(count)))
        }
        text = Self.joiningHyphenatedLines(text)
        let annotations = annotationText()
        if !annotations.isEmpty {
            if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
            text += annotations
        }
        return text
    }

    /// A gap wider than this many character heights between two characters of one output line
    /// is a cell boundary, not a letter-spaced word (a space is about a quarter of a height).
    static let cellGap = 0.6

    /// Puts a space between two characters that `poppler_page_get_text` wrote side by side but
    /// that stand apart on the page: poppler's selection dumper merges the blocks of a table row
    /// into one line without a separator (TextSelectionDumper::visitLine), where `pdftotext`
    /// prints each block by itself.
    /// - Parameters:
    ///   - boxes: `poppler_page_get_text_layout`'s boxes, one per character of `text`; when the
    ///     counts differ the text is returned as it is.
    static func separatingCells(_ text: String, boxes: UnsafeBufferPointer<PopplerRectangle>) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count == boxes.count, boxes.count > 1 else { return text }
        // Most pages have no such place: find them first and copy the text only when there are.
        var breaks: [Int] = []
        var index = 0
        var previousIsText = false
        for scalar in scalars {
            let isText = !isSpace(scalar)
            if isText && previousIsText {
                let left = boxes[index - 1], right = boxes[index]
                let gap = cellGap * max(left.y2 - left.y1, right.y2 - right.y1)
                // Forward across a gap, or back to the left (a right-to-left line's order is
                // reversed word by word, so only a jump larger than a character counts).
                if gap > 0 && (right.x1 - left.x2 > gap || left.x1 - right.x2 > gap) { breaks.append(index) }
            }
            previousIsText = isText
            index += 1
        }
        guard !breaks.isEmpty else { return text }
        var out = String.UnicodeScalarView()
        var next = breaks.makeIterator(), pending = next.next()
        index = 0
        for scalar in scalars {
            if index == pending {
                out.append(" ")
                pending = next.next()
            }
            out.append(scalar)
            index += 1
        }
        return String(out)
    }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x80 ? scalar.value <= 0x20 : scalar.properties.isWhitespace
    }

    /// Joins a line that ends with a hyphen to the next one, dropping the hyphen, as `pdftotext`
    /// does (TextPage::dump: a line whose last character is '-' and which is followed by another
    /// line); "com-" / "puter" becomes "computer".
    static func joiningHyphenatedLines(_ text: String) -> String {
        guard text.contains("-\n") else { return text }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for (index, line) in lines.enumerated() {
            let isLast = index == lines.count - 1
            if !isLast, line.hasSuffix("-"), !lines[index + 1].isEmpty {
                out += line.dropLast()
                continue
            }
            out += line
            if !isLast { out += "\n" }
        }
        return out
    }

    /// The text that `pdftotext` gets from drawing the page's annotations: the values of its
    /// text fields and choice fields and the contents of its FreeText annotations, one per line,
    /// top to bottom and left to right. Hidden annotations (Hidden or NoView flag) are left
    /// out, as poppler's Annot::isVisible leaves them out of the drawing. Buttons draw their
    /// caption or a check mark, which poppler-glib does not expose; password fields draw
    /// asterisks; both are left out.
    func annotationText() -> String {
        var placed: [(top: Double, left: Double, text: String)] = []
        var hidden: [PopplerRectangle] = []
        let invisible = POPPLER_ANNOT_FLAG_HIDDEN.rawValue | POPPLER_ANNOT_FLAG_NO_VIEW.rawValue
        if let annotations = poppler_page_get_annot_mapping(handle) {
            defer { poppler_page_free_annot_mapping(annotations) }
            Self.forEach(in: annotations, as: PopplerAnnotMapping.self) { mapping in
                guard let annot = mapping.annot else { return }
                let area = mapping.area
                if poppler_annot_get_flags(annot).rawValue & invisible != 0 {
                    hidden.append(area)
                    return
                }
                guard poppler_annot_get_annot_type(annot) == POPPLER_ANNOT_FREE_TEXT,
                      let contents = poppler_annot_get_contents(annot) else { return }
                defer { g_free(contents) }
                placed.append((max(area.y1, area.y2), min(area.x1, area.x2), String(cString: contents)))
            }
        }
        if let fields = poppler_page_get_form_field_mapping(handle) {
            defer { poppler_page_free_form_field_mapping(fields) }
            Self.forEach(in: fields, as: PopplerFormFieldMapping.self) { mapping in
                guard let field = mapping.field else { return }
                let area = mapping.area
                if hidden.contains(where: { Self.sameArea($0, area) }) { return }
                guard let value = Self.fieldText(field), !value.isEmpty else { return }
                placed.append((max(area.y1, area.y2), min(area.x1, area.x2), value))
            }
        }
        // PDF space: y grows upwards, so the top of the page comes first with the largest y.
        placed.sort { $0.top != $1.top ? $0.top > $1.top : $0.left < $1.left }
        return placed.map { entry in
            // Multi-line values use CR or CR LF (PDF 32000-1 §12.7.4.3).
            let lines = entry.text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            return lines.hasSuffix("\n") ? lines : lines + "\n"
        }.joined()
    }

    /// Calls `body` with each element of a GLib list of `T` (poppler's mapping lists).
    private static func forEach<T>(in list: UnsafeMutablePointer<GList>, as type: T.Type, _ body: (T) -> Void) {
        var node: UnsafeMutablePointer<GList>? = list
        while let current = node {
            node = current.pointee.next
            if let element = current.pointee.data?.assumingMemoryBound(to: T.self) { body(element.pointee) }
        }
    }

    /// The text a form field draws: a text field's value, a combo box's chosen or typed value,
    /// every item of a list box (its appearance lists them all).
    private static func fieldText(_ field: OpaquePointer) -> String? {
        switch poppler_form_field_get_field_type(field) {
        case POPPLER_FORM_FIELD_TEXT:
            guard poppler_form_field_text_is_password(field) == 0 else { return nil }
            return take(poppler_form_field_text_get_text(field))
        case POPPLER_FORM_FIELD_CHOICE:
            let count = Int(poppler_form_field_choice_get_n_items(field))
            if poppler_form_field_choice_get_choice_type(field) == POPPLER_FORM_CHOICE_LIST {
                return (0..<count).compactMap { take(poppler_form_field_choice_get_item(field, Int32($0))) }.joined(separator: "\n")
            }
            if let typed = take(poppler_form_field_choice_get_text(field)), !typed.isEmpty { return typed }
            return (0..<count).filter { poppler_form_field_choice_is_item_selected(field, Int32($0)) != 0 }
                .compactMap { take(poppler_form_field_choice_get_item(field, Int32($0))) }.joined(separator: " ")
        default:
            return nil
        }
    }

    private static func sameArea(_ a: PopplerRectangle, _ b: PopplerRectangle) -> Bool {
        abs(a.x1 - b.x1) < 0.5 && abs(a.y1 - b.y1) < 0.5 && abs(a.x2 - b.x2) < 0.5 && abs(a.y2 - b.y2) < 0.5
    }

    /// A gchar* that we own, as a String (freed).
    private static func take(_ value: UnsafeMutablePointer<gchar>?) -> String? {
        guard let value else { return nil }
        defer { g_free(value) }
        return String(cString: value)
    }

    /// Renders the page `width` pixels wide on white and writes it as PNG to `path`.
    func renderThumbnail(width: Int, to path: String) throws {
        let (pageWidth, pageHeight) = size
        guard pageWidth > 0, pageHeight > 0 else { throw DocumentError("page 1 has no size") }
        let scale = Double(width) / pageWidth
        // A very tall page would make a huge image: cap the height at 4× the width.
        let height = Int(min((pageHeight * scale).rounded(), Double(width * 4)))
        let surface = CairoSurface(width: width, height: max(height, 1))
        guard let context = cairo_create(surface.handle) else { throw DocumentError("cairo: cannot create a context") }
        defer { cairo_destroy(context) }
        cairo_set_source_rgb(context, 1, 1, 1)
        cairo_paint(context)
        cairo_scale(context, scale, scale)
        poppler_page_render(handle, context)
        cairo_surface_flush(surface.handle)
        let status = cairo_surface_write_to_png(surface.handle, path)
        guard status == CAIRO_STATUS_SUCCESS else {
            throw DocumentError("thumbnail: \(String(cString: cairo_status_to_string(status)))")
        }
    }
}

/// A cairo image surface (RGB24); destroyed in deinit.
final class CairoSurface {
    let handle: OpaquePointer

    init(width: Int, height: Int) {
        handle = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(width), Int32(height))
    }

    deinit { cairo_surface_destroy(handle) }
}
