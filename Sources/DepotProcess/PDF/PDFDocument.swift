import CPoppler
import DepotCore
#if canImport(Glibc)
import Glibc
#endif

/// A poppler document; owns the GObject reference, released in deinit.
final class PDFDocument {
    let handle: OpaquePointer

    /// - Throws: `PDFErrors.Open.passwordRequired`, or `DocumentError` for anything poppler refuses.
    init(path: String) throws {
        // poppler takes ownership of the descriptor (and closes it with the document).
        let fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        var error: UnsafeMutablePointer<GError>?
        guard let document = poppler_document_new_from_fd(fd, nil, &error) else { throw PDFErrors.opening(error) }
        handle = document
    }

    /// A PDF held in memory (one depot made: `CairoPDFSurface`).
    /// - Throws: `DocumentError` for anything poppler refuses.
    init(bytes: [UInt8]) throws {
        let data = bytes.withUnsafeBytes { g_bytes_new($0.baseAddress, gsize($0.count)) }
        // The document takes its own reference to the bytes.
        defer { g_bytes_unref(data) }
        var error: UnsafeMutablePointer<GError>?
        guard let document = poppler_document_new_from_bytes(data, nil, &error) else { throw PDFErrors.opening(error) }
        handle = document
    }

    deinit { cpoppler_document_unref(handle) }

    var pageCount: Int { Int(poppler_document_get_n_pages(handle)) }
    var title: String? { takeGString(poppler_document_get_title(handle)) }
    var author: String? { takeGString(poppler_document_get_author(handle)) }
    var subject: String? { takeGString(poppler_document_get_subject(handle)) }
    var keywords: String? { takeGString(poppler_document_get_keywords(handle)) }
    var creator: String? { takeGString(poppler_document_get_creator(handle)) }
    var producer: String? { takeGString(poppler_document_get_producer(handle)) }
    var pdfVersion: String? {
        takeGString(poppler_document_get_pdf_version_string(handle)).map { $0.hasPrefix("PDF-") ? String($0.dropFirst(4)) : $0 }
    }
    var creationDate: Int? { date(poppler_document_get_creation_date(handle)) }
    var modificationDate: Int? { date(poppler_document_get_modification_date(handle)) }
    var hasAllPermissions: Bool {
        poppler_document_get_permissions(handle).rawValue & POPPLER_PERMISSIONS_FULL.rawValue == POPPLER_PERMISSIONS_FULL.rawValue
    }

    /// The page at 0-based `index`, or nil when poppler cannot read it.
    func page(_ index: Int) -> PDFPage? {
        poppler_document_get_page(handle, Int32(index)).map(PDFPage.init)
    }

    /// The outline (bookmarks) as nested `title`/`page`/`url`/`children` entries.
    func outline(maxEntries: Int, maxDepth: Int) -> [[String: Any]] {
        PDFOutlineIterator.outline(of: self, maxEntries: maxEntries, maxDepth: maxDepth)
    }

    /// The XMP metadata packet (the catalog's /Metadata stream), when there is one.
    var xmpMetadata: String? { takeGString(poppler_document_get_metadata(handle)) }

    /// A destination's 1-based page number, looking up named destinations.
    func pageNumber(_ dest: UnsafeMutablePointer<PopplerDest>) -> Int? {
        if dest.pointee.type == POPPLER_DEST_NAMED, let name = dest.pointee.named_dest {
            // A found destination is the caller's, and used only here: freed on the spot.
            guard let found = poppler_document_find_dest(handle, name) else { return nil }
            defer { poppler_dest_free(found) }
            return found.pointee.page_num > 0 ? Int(found.pointee.page_num) : nil
        }
        return dest.pointee.page_num > 0 ? Int(dest.pointee.page_num) : nil
    }

    private func date(_ value: time_t) -> Int? { value > 0 ? Int(value) : nil }
}
