import CPoppler

/// A cairo drawing context on a surface; destroyed in deinit (the surface lives on).
final class CairoContext {
    let handle: OpaquePointer
    /// Kept so the surface outlives every drawing on it.
    let surface: CairoSurface

    /// - Throws: `DocumentError` when cairo cannot make a context.
    init(_ surface: CairoSurface) throws {
        guard let handle = cairo_create(surface.handle) else { throw DocumentError("cairo: cannot create a context") }
        self.handle = handle
        self.surface = surface
        try PDFErrors.check(cairo_status(handle), "cairo: cannot create a context")
    }

    deinit { cairo_destroy(handle) }

    /// Fills the whole surface with white (a PDF page's paper: its content does not paint it).
    func paintWhite() {
        cairo_set_source_rgb(handle, 1, 1, 1)
        cairo_paint(handle)
    }

    func scale(by factor: Double) {
        cairo_scale(handle, factor, factor)
    }

    /// Throws `DocumentError` ("`what`: cairo's reason") when a drawing call failed.
    func check(_ what: @autoclosure () -> String) throws {
        try PDFErrors.check(cairo_status(handle), what())
    }
}
