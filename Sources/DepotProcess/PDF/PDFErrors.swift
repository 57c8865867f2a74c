import CPoppler

/// The one place where poppler's GErrors and cairo's statuses become Swift errors. The
/// wrappers beside it never read a GError or a cairo_status_t themselves.
enum PDFErrors {
    /// Why poppler would not open a document: a password it needs, or a reason.
    enum Open: Error { case passwordRequired }

    /// The error for a GError that poppler set when it refused a document (freed here):
    /// `Open.passwordRequired` for an encrypted file that needs a password (the document's
    /// state, not a failure), else `DocumentError` ("not a readable PDF: …").
    static func opening(_ error: UnsafeMutablePointer<GError>?) -> Error {
        defer { if error != nil { g_error_free(error) } }
        if cpoppler_error_is(error, POPPLER_ERROR_ENCRYPTED) != 0 { return Open.passwordRequired }
        let message = error.flatMap { $0.pointee.message.map { String(cString: $0) } } ?? "unknown error"
        return DocumentError("not a readable PDF: \(message)")
    }

    /// Throws `DocumentError` ("`what`: cairo's reason") unless `status` is success.
    ///
    /// cairo does not fail its calls one by one: an object that hits an error keeps it as
    /// its status and ignores every later call, so the status is read where a result is
    /// needed (after drawing, before writing).
    static func check(_ status: cairo_status_t, _ what: @autoclosure () -> String) throws {
        guard status != CAIRO_STATUS_SUCCESS else { return }
        throw DocumentError("\(what()): \(String(cString: cairo_status_to_string(status)))")
    }
}
