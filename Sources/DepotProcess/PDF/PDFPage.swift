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

    /// The page's text in reading order, as close to `pdftotext` as poppler-glib allows, and
    /// what its form fields and FreeText annotations hold (`annotationValues`).
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
    /// (`keepsTheText`: cairo draws no invisible text, such as a scan's OCR layer).
    ///
    /// The text is what the page shows. A field's value or a FreeText's contents join it only
    /// where the drawing shows no text in the annotation's box (glyphs drawn without their
    /// letters, as pdf.js's issue16021.pdf, or an empty appearance), or when the drawing is not
    /// used. Where the box shows other text — a stale appearance (bug1825002.pdf draws
    /// "ABCDEFGHIJKLMN" over the value "123,45.7A"), a list box scrolled to other items, a comb
    /// field's cells — the text keeps what is shown and the value is in `values`, which
    /// structure.json lists.
    ///
    /// A crop box is how much of a page a viewer shows, not what the page holds: cropping in a
    /// viewer or an editor keeps the text it hides, and `pdftotext` (and pdf.js's text layer)
    /// read it. poppler-glib reads only inside the crop box, so for a cropped page the caller
    /// passes `mediaBoxText`, the page read over its media box by poppler's core in
    /// `pdftotext`'s order, annotations drawn in. It is the text when it holds more letters
    /// than the page's text read as above, which is what the crop box shows: pdf.js's
    /// issue16316.pdf shows one word of a paper's first page, and boundingBox_invalid.pdf's
    /// crop box misses its media box, so poppler-glib reads nothing there. Values it does not
    /// show join it.
    func read(mediaBoxText: String? = nil) -> (text: String, values: [AnnotationValue]) {
        let content = contentText
        let values = annotationValues()
        var text: String
        var extra: [AnnotationValue]
        if hasDrawnAnnotations, let drawing = drawing(), Self.keepsTheText(of: content ?? "", in: drawing.text) {
            text = drawing.text
            let placed = areasAreInTextSpace
            extra = values.filter { value in
                if Self.keepsEveryWord(of: value.drawn, in: drawing.text) { return false }
                // A page turned a quarter puts poppler's areas elsewhere: the value joins.
                return !placed || !Self.showsText(drawing.letters, in: value.area, pageHeight: size.1)
            }
        } else {
            text = content ?? ""
            extra = values
        }
        // Compared with what the crop box shows, drawn annotations included: a field's own
        // appearance is in both (bug1865341.pdf's lacks two letters its value has, and the
        // value stays out of the text, as on an uncropped page).
        if let whole = mediaBoxText, Self.letterCount(whole) > Self.letterCount(text) {
            text = whole
            extra = values.filter { !Self.keepsEveryWord(of: $0.drawn, in: whole) }
        }
        extra.removeAll { $0.drawn.isEmpty }
        if !extra.isEmpty {
            if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
            text += extra.map(\.textLines).joined()
        }
        return (text, values)
    }

    /// Whether any of `letters` (boxes in the text page's space: y downwards from the top) has
    /// its centre in `area` (PDF space: y upwards from the bottom), give or take a point.
    static func showsText(_ letters: [PopplerRectangle], in area: PopplerRectangle, pageHeight: Double) -> Bool {
        let left = min(area.x1, area.x2) - 1, right = max(area.x1, area.x2) + 1
        let top = pageHeight - max(area.y1, area.y2) - 1, bottom = pageHeight - min(area.y1, area.y2) + 1
        return letters.contains { box in
            let x = (box.x1 + box.x2) / 2, y = (box.y1 + box.y2) / 2
            return x >= left && x <= right && y >= top && y <= bottom
        }
    }

    /// Whether poppler's annotation areas (PDF space from the crop box's corner, unturned) are
    /// in the text page's space: the page's size is its crop box's, not swapped by a quarter
    /// turn. (poppler-glib does not give a page's /Rotate; a half turn goes unnoticed.)
    var areasAreInTextSpace: Bool {
        var crop = PopplerRectangle()
        poppler_page_get_crop_box(handle, &crop)
        let (width, height) = size
        return abs(width - abs(crop.x2 - crop.x1)) < 0.5 && abs(height - abs(crop.y2 - crop.y1)) < 0.5
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
        let text = best.boxes.withUnsafeBufferPointer {
            Self.separatingCells(Self.joiningRightToLeftGlyphs(best.text, boxes: $0), boxes: $0)
        }
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

    /// The text of this page as drawn with its annotations, and the boxes of its letters (not
    /// white space): nil when cairo cannot draw it or poppler cannot read the drawing back.
    func drawing() -> (text: String, letters: [PopplerRectangle])? {
        let (width, height) = size
        guard width > 0, height > 0, let surface = try? CairoPDFSurface(width: width, height: height),
              let bytes = try? surface.drawing(self), let copy = try? PDFDocument(bytes: bytes), let page = copy.page(0),
              let text = page.contentText else { return nil }
        var letters: [PopplerRectangle] = []
        if let all = page.selection(PopplerRectangle(x1: -width, y1: -height, x2: 2 * width, y2: 2 * height)) {
            for (scalar, box) in zip(all.text.unicodeScalars, all.boxes) where !Self.isSpace(scalar) { letters.append(box) }
        }
        return (text, letters)
    }

    /// Draws the page on `context` in its current transformation (points to pixels); a
    /// failure shows in the context's status, which the caller checks.
    func render(into context: CairoContext) {
        poppler_page_render(handle, context.handle)
    }
}
