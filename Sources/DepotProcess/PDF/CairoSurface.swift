import CPoppler

/// A cairo image surface (RGB24) that a page is drawn on; destroyed in deinit.
final class CairoSurface {
    let handle: OpaquePointer

    /// - Throws: `DocumentError` when cairo cannot make a surface of this size.
    init(width: Int, height: Int) throws {
        handle = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(width), Int32(height))
        // cairo never returns NULL here: a surface it could not make is one in an error state.
        try PDFErrors.check(cairo_surface_status(handle), "cannot make a \(width)×\(height) image")
    }

    deinit { cairo_surface_destroy(handle) }

    /// The surface as PNG bytes, encoded in memory so that the file is written like every
    /// other artifact (one syscall path: a full disk is a `SystemError`, not a cairo status).
    /// - Throws: `DocumentError` when cairo cannot encode it (or the surface failed before).
    func pngBytes() throws -> [UInt8] {
        cairo_surface_flush(handle)
        let sink = PNGSink()
        let status = withExtendedLifetime(sink) {
            cairo_surface_write_to_png_stream(handle, { closure, data, length in
                let sink = Unmanaged<PNGSink>.fromOpaque(closure!).takeUnretainedValue()
                if let data { sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length))) }
                return CAIRO_STATUS_SUCCESS
            }, Unmanaged.passUnretained(sink).toOpaque())
        }
        try PDFErrors.check(status, "cannot encode the PNG")
        return sink.bytes
    }

    /// Where `cairo_surface_write_to_png_stream` puts the bytes it writes.
    private final class PNGSink {
        var bytes: [UInt8] = []
    }
}
