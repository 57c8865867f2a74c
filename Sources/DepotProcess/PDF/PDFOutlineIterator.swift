import CPoppler
import Foundation

/// A poppler index iterator over one level of a document's outline; freed in deinit.
final class PDFOutlineIterator {
    private let handle: OpaquePointer

    /// The outline's top level; nil when the document has no outline.
    convenience init?(document: PDFDocument) {
        guard let handle = poppler_index_iter_new(document.handle) else { return nil }
        self.init(handle)
    }

    private init(_ handle: OpaquePointer) { self.handle = handle }

    deinit { poppler_index_iter_free(handle) }

    /// Moves to the next entry of this level; false at its end.
    func next() -> Bool { poppler_index_iter_next(handle) != 0 }

    /// The current entry's children, nil when it has none.
    func children() -> PDFOutlineIterator? { poppler_index_iter_get_child(handle).map(PDFOutlineIterator.init) }

    /// The current entry: `title` (trimmed of surrounding whitespace, CR and LF, which
    /// generators leave in), `page` for a destination in the document, `url` for a link out.
    func entry(in document: PDFDocument) -> [String: Any] {
        var entry: [String: Any] = [:]
        // An entry's action is the caller's, and read only here: freed on the spot.
        guard let action = poppler_index_iter_get_action(handle) else { return entry }
        defer { poppler_action_free(action) }
        if let title = action.pointee.any.title {
            entry["title"] = String(cString: title).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        switch action.pointee.type {
        case POPPLER_ACTION_GOTO_DEST:
            if let dest = action.pointee.goto_dest.dest, let page = document.pageNumber(dest) { entry["page"] = page }
        case POPPLER_ACTION_URI:
            if let uri = action.pointee.uri.uri { entry["url"] = String(cString: uri) }
        default:
            break
        }
        return entry
    }

    /// The whole outline as nested `title`/`page`/`url`/`children` entries, walked with a stack
    /// (not recursion: a hostile outline may nest thousands deep) and bounded by `maxEntries`.
    /// Entries nested deeper than `maxDepth` are kept, as later siblings at that depth, so
    /// that no bookmark is lost and structure.json stays shallow enough for any JSON reader.
    static func outline(of document: PDFDocument, maxEntries: Int, maxDepth: Int) -> [[String: Any]] {
        guard let root = PDFOutlineIterator(document: document) else { return [] }
        struct Level {
            let iterator: PDFOutlineIterator
            var entries: [[String: Any]] = []
            /// The entry whose children these are (nil: merged into the level below, too deep).
            var parent: [String: Any]?
            var started = false
        }
        var stack = [Level(iterator: root)]
        var budget = maxEntries
        while !stack.isEmpty {
            let top = stack.count - 1
            let more = budget > 0 && (!stack[top].started || stack[top].iterator.next())
            stack[top].started = true
            guard more else {
                let done = stack.removeLast()
                guard !stack.isEmpty else { return done.entries }
                if var parent = done.parent {
                    if !done.entries.isEmpty { parent["children"] = done.entries }
                    stack[stack.count - 1].entries.append(parent)
                } else {
                    stack[stack.count - 1].entries += done.entries
                }
                continue
            }
            budget -= 1
            let entry = stack[top].iterator.entry(in: document)
            guard let children = stack[top].iterator.children() else {
                stack[top].entries.append(entry)
                continue
            }
            if stack.count < maxDepth {
                stack.append(Level(iterator: children, parent: entry))
            } else {
                stack[top].entries.append(entry)
                stack.append(Level(iterator: children, parent: nil))
            }
        }
        return []
    }
}
