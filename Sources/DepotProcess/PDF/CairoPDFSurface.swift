import CPoppler

/// A cairo PDF surface that writes into memory (one page here); destroyed in deinit.
final class CairoPDFSurface {
    private let handle: OpaquePointer
    private let sink = Sink()

    /// - Throws: `DocumentError` when cairo cannot make a surface of this size (in points).
    init(width: Double, height: Double) throws {
        handle = cairo_pdf_surface_create_for_stream({ closure, data, length in
            let sink = Unmanaged<Sink>.fromOpaque(closure!).takeUnretainedValue()
            if let data { sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length))) }
            return CAIRO_STATUS_SUCCESS
        }, Unmanaged.passUnretained(sink).toOpaque(), width, height)
        // As for image surfaces, a surface cairo could not make is one in an error state.
        try PDFErrors.check(cairo_surface_status(handle), "cannot make a \(width)×\(height) pt PDF page")
    }

    deinit { cairo_surface_destroy(handle) }

    /// Draws `page` (its content and the annotations a viewer shows) as this surface's page
    /// and returns the PDF cairo wrote.
    /// - Throws: `DocumentError` when cairo cannot draw or write it.
    func drawing(_ page: PDFPage) throws -> [UInt8] {
        guard let context = cairo_create(handle) else { throw DocumentError("cairo: cannot create a context") }
        poppler_page_render(page.handle, context)
        let drawn = cairo_status(context)
        cairo_destroy(context)
        try PDFErrors.check(drawn, "cairo cannot draw the page")
        cairo_surface_finish(handle)
        try PDFErrors.check(cairo_surface_status(handle), "cairo cannot write the page")
        return sink.bytes
    }

    /// Where the surface's bytes go; the surface outlives no drawing, and holds it.
    private final class Sink {
        var bytes: [UInt8] = []
    }
}
