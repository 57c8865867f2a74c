import CPopplerCore
#if canImport(Glibc)
import Glibc
#endif

/// The same PDF opened by poppler's core, for the text poppler-glib cannot read: what lies
/// beyond a page's crop box (see CPopplerCore). Owns the handle, freed in deinit.
final class PDFCoreDocument {
    private let handle: OpaquePointer

    /// nil when poppler cannot open the file (poppler-glib opened it, so this is rare).
    init?(path: String) {
        guard let handle = cpopplercore_document_open(path) else { return nil }
        self.handle = handle
    }

    deinit { cpopplercore_document_free(handle) }

    /// Whether the crop box of the page at 0-based `index` leaves out part of its media box.
    func isCropped(_ index: Int) -> Bool { cpopplercore_page_is_cropped(handle, Int32(index)) == 1 }

    /// The page's text over its media box, as `pdftotext` writes it; nil when it cannot be read.
    func mediaBoxText(_ index: Int) -> String? {
        guard let text = cpopplercore_page_media_box_text(handle, Int32(index)) else { return nil }
        defer { free(text) }
        return String(cString: text)
    }
}
