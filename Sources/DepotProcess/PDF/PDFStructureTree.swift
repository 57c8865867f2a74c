import CPoppler
import Foundation

/// A poppler iterator over one level of a tagged PDF's structure tree (PDF 32000-1 §14.7);
/// freed in deinit.
final class PDFStructureIterator {
    private let handle: OpaquePointer

    /// The tree's top level; nil when the document is not tagged.
    convenience init?(document: PDFDocument) {
        guard let handle = poppler_structure_element_iter_new(document.handle) else { return nil }
        self.init(handle)
    }

    private init(_ handle: OpaquePointer) { self.handle = handle }

    deinit { poppler_structure_element_iter_free(handle) }

    /// Moves to the next element of this level; false at its end.
    func next() -> Bool { poppler_structure_element_iter_next(handle) != 0 }

    /// The current element's children, nil when it has none (marked content has none).
    func children() -> PDFStructureIterator? {
        poppler_structure_element_iter_get_child(handle).map(PDFStructureIterator.init)
    }

    /// The current element: its kind, and for a heading its text and 1-based page.
    func element() -> (kind: PopplerStructureElementKind, heading: (title: String, page: Int?)?) {
        // The iterator hands out a new reference: released here.
        guard let element = poppler_structure_element_iter_get_element(handle) else { return (POPPLER_STRUCTURE_ELEMENT_CONTENT, nil) }
        defer { cpoppler_structure_element_unref(element) }
        let kind = poppler_structure_element_get_kind(element)
        guard PDFStructureTree.level(of: kind) != nil else { return (kind, nil) }
        // /ActualText replaces the content it covers (§14.9.4); else the text of the marked content below.
        let text = takeGString(poppler_structure_element_get_actual_text(element))
            ?? takeGString(poppler_structure_element_get_text(element, POPPLER_STRUCTURE_GET_TEXT_RECURSIVE)) ?? ""
        let title = text.split(whereSeparator: { $0.isWhitespace || $0.isNewline }).joined(separator: " ")
        let page = poppler_structure_element_get_page(element)
        return (kind, (title, page >= 0 ? Int(page) + 1 : nil))
    }
}

/// Headings from the structure tree of a tagged PDF: what its author marked H1–H6 (or H), in
/// document order, which the outline (bookmarks) often lacks.
enum PDFStructureTree {
    /// The level of a heading kind: H1–H6 give theirs, a plain H (whose level is its nesting
    /// in sections, PDF 32000-1 §14.8.4.3) is 1; nil for anything else.
    static func level(of kind: PopplerStructureElementKind) -> Int? {
        switch kind {
        case POPPLER_STRUCTURE_ELEMENT_HEADING, POPPLER_STRUCTURE_ELEMENT_HEADING_1: return 1
        case POPPLER_STRUCTURE_ELEMENT_HEADING_2: return 2
        case POPPLER_STRUCTURE_ELEMENT_HEADING_3: return 3
        case POPPLER_STRUCTURE_ELEMENT_HEADING_4: return 4
        case POPPLER_STRUCTURE_ELEMENT_HEADING_5: return 5
        case POPPLER_STRUCTURE_ELEMENT_HEADING_6: return 6
        default: return nil
        }
    }

    /// The headings (`level`, `title`, `page` when the tree says), walked with a stack (not
    /// recursion: a hostile tree may nest thousands deep), visiting at most `maxElements`
    /// elements and keeping at most `maxHeadings` headings; a heading's own children are its
    /// text, not looked into further. Headings without text are left out.
    static func headings(of document: PDFDocument, maxHeadings: Int, maxElements: Int) -> [[String: Any]] {
        guard let root = PDFStructureIterator(document: document) else { return [] }
        var stack: [(iterator: PDFStructureIterator, started: Bool)] = [(root, false)]
        var headings: [[String: Any]] = []
        var visited = 0
        while let top = stack.last, visited < maxElements, headings.count < maxHeadings {
            let more = !top.started || top.iterator.next()
            stack[stack.count - 1].started = true
            guard more else {
                stack.removeLast()
                continue
            }
            visited += 1
            let (kind, heading) = top.iterator.element()
            if let heading, let level = level(of: kind) {
                if !heading.title.isEmpty {
                    var entry: [String: Any] = ["level": level, "title": heading.title]
                    if let page = heading.page { entry["page"] = page }
                    headings.append(entry)
                }
                continue
            }
            if kind != POPPLER_STRUCTURE_ELEMENT_CONTENT, let children = top.iterator.children() {
                stack.append((children, false))
            }
        }
        return headings
    }
}
