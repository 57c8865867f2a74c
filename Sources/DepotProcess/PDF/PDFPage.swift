import CPoppler

/// A poppler page; owns the GObject reference (which holds its document), released in deinit.
final class PDFPage {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }

    deinit { cpoppler_page_unref(handle) }

    /// The page's label (/PageLabels: "iv", "A-3"); poppler gives the page number without one.
    var label: String? { takeGString(poppler_page_get_label(handle)) }

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
    /// where `pdftotext` joins the word's halves; (3) it reads only the page's content stream,
    /// where `pdftotext` also draws the annotations (`Page::displaySlice`): filled form fields,
    /// button captions, FreeText, stamps and signatures print there, in their place on the page.
    /// poppler-glib exposes no annotation's appearance, but it draws them: a page with
    /// annotations is drawn onto a one-page PDF in memory (cairo keeps the text of what it draws)
    /// and that page's text is read instead, unless it lacks the content stream's text
    /// (`keepsTheText`: cairo draws no invisible text, such as a scan's OCR layer). A field's value or a
    /// FreeText's contents (`annotationEntries`) that the drawing does not show in full follows
    /// it: an appearance may be stale (pdf.js bug1825002.pdf draws "ABCDEFGHIJKLMN" over the
    /// value "123,45.7A"), draw glyphs without their letters (issue16021.pdf) or right-to-left
    /// text letter by letter (issue20504.pdf); what the page shows and what it holds both stay.
    var text: String {
        let content = contentText
        let entries = annotationEntries()
        var text: String
        var extra: [String]
        if hasDrawnAnnotations, let drawn = drawnText(), Self.keepsTheText(of: content ?? "", in: drawn) {
            text = drawn
            extra = entries.filter { !Self.keepsEveryWord(of: $0, in: drawn) }
        } else {
            guard let content else { return entries.joined() }
            text = content
            extra = entries
        }
        if !extra.isEmpty {
            if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
            text += extra.joined()
        }
        return text
    }

    /// The text of the content stream, with the two repairs above; nil when poppler gives none.
    ///
    /// poppler-glib's page text is a selection from one point to another, made in reading
    /// order (`poppler_page_get_text` selects from the page's top left corner to its bottom
    /// right one), and two kinds of line fall out of that selection where `pdftotext` prints
    /// them: lines whose block reaches past the page's corner (rotated or skewed text: pdf.js's
    /// bug946506.pdf, issue12810.pdf), and on a right-to-left page, where the top left is where
    /// the first line *ends*, whole lines (issue12705.pdf keeps one line of four, issue5677.pdf
    /// and ArabicCIDTrueType.pdf two of four). So the selection starts and ends a page's width
    /// and height beyond the corners (the text page holds only characters on the page: nothing
    /// is added from outside it), and on a page with right-to-left text, or none at all, a
    /// second one runs from beyond the top right to beyond the bottom left, which keeps those
    /// lines and loses left-to-right ones instead; the one with more characters is kept (the
    /// page's text is laid out once, a selection of it is cheap). A selection of whole lines is
    /// made too, and kept when it holds more still.
    var contentText: String? {
        let (width, height) = size
        let forward = PopplerRectangle(x1: -width, y1: -height, x2: 2 * width, y2: 2 * height)
        guard var best = selection(forward) else { return nil }
        if best.text.unicodeScalars.contains("\u{202B}") || Self.letterCount(best.text) == 0,
           let backward = selection(PopplerRectangle(x1: 2 * width, y1: -height, x2: -width, y2: 2 * height)),
           Self.letterCount(backward.text) > Self.letterCount(best.text) {
            best = backward
        }
        // Glyphs without width (a font whose widths are all 0: pdf.js's issue3263r.pdf,
        // issue11740_reduced.pdf) are left out of a selection of glyphs but not of one of whole
        // lines; the line selection has no boxes (poppler gives them for glyphs only), so the
        // cells of a table row are not told apart there.
        var lineArea = forward
        if let lines = takeGString(poppler_page_get_selected_text(handle, POPPLER_SELECTION_LINE, &lineArea)),
           Self.letterCount(lines) > Self.letterCount(best.text) {
            best = (lines, [])
        }
        let text = best.boxes.withUnsafeBufferPointer { Self.separatingCells(best.text, boxes: $0) }
        return Self.joiningHyphenatedLines(text)
    }

    /// The text poppler selects in `area` (from its first corner to its second) and the box of
    /// each of its characters (none when poppler gives no boxes).
    private func selection(_ area: PopplerRectangle) -> (text: String, boxes: [PopplerRectangle])? {
        var area = area
        guard let text = takeGString(poppler_page_get_text_for_area(handle, &area)) else { return nil }
        var rectangles: UnsafeMutablePointer<PopplerRectangle>?
        var count: guint = 0
        guard poppler_page_get_text_layout_for_area(handle, &area, &rectangles, &count) != 0, let rectangles else { return (text, []) }
        defer { g_free(rectangles) }
        return (text, Array(UnsafeBufferPointer(start: rectangles, count: Int(count))))
    }

    /// Characters that are not white space or bidi controls.
    static func letterCount(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { $0 + (isSpace($1) || PDFText.isBidiControl($1) ? 0 : 1) }
    }

    /// The text of this page as drawn with its annotations: nil when cairo cannot draw it or
    /// poppler cannot read the drawing back.
    func drawnText() -> String? {
        let (width, height) = size
        guard width > 0, height > 0, let surface = try? CairoPDFSurface(width: width, height: height),
              let bytes = try? surface.drawing(self), let copy = try? PDFDocument(bytes: bytes), let page = copy.page(0) else { return nil }
        return page.contentText
    }

    /// Draws the page on `context` in its current transformation (points to pixels); a
    /// failure shows in the context's status, which the caller checks.
    func render(into context: CairoContext) {
        poppler_page_render(handle, context.handle)
    }
}
