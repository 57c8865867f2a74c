import CPoppler

/// The annotations and form fields on a page, which `pdftotext` draws and poppler's page text
/// leaves out. The mapping lists poppler hands out are owned by `PopplerMappingList`.
extension PDFPage {
    /// What the page's form fields and FreeText annotations hold, top to bottom and left to
    /// right: text fields and choice fields with a value or items, and FreeText contents.
    /// Hidden annotations (Hidden or NoView flag) are left out, as poppler's Annot::isVisible
    /// leaves them out of the drawing. Buttons draw their caption or a check mark, which
    /// poppler-glib does not expose; password fields draw asterisks; both are left out.
    func annotationValues() -> [AnnotationValue] {
        var placed: [AnnotationValue] = []
        var hidden: [PopplerRectangle] = []
        let invisible = POPPLER_ANNOT_FLAG_HIDDEN.rawValue | POPPLER_ANNOT_FLAG_NO_VIEW.rawValue
        PopplerMappingList<PopplerAnnotMapping>(poppler_page_get_annot_mapping(handle),
                                                free: poppler_page_free_annot_mapping).forEach { mapping in
            guard let annot = mapping.annot else { return }
            let area = mapping.area
            if poppler_annot_get_flags(annot).rawValue & invisible != 0 {
                hidden.append(area)
                return
            }
            guard poppler_annot_get_annot_type(annot) == POPPLER_ANNOT_FREE_TEXT,
                  let contents = takeGString(poppler_annot_get_contents(annot)), !contents.isEmpty else { return }
            placed.append(AnnotationValue(type: .freeText, name: nil, value: contents, items: [], drawn: contents, area: area))
        }
        PopplerMappingList<PopplerFormFieldMapping>(poppler_page_get_form_field_mapping(handle),
                                                    free: poppler_page_free_form_field_mapping).forEach { mapping in
            guard let field = mapping.field else { return }
            let area = mapping.area
            if hidden.contains(where: { Self.sameArea($0, area) }) { return }
            guard let value = Self.fieldValue(field, area: area), !value.drawn.isEmpty || !value.value.isEmpty else { return }
            placed.append(value)
        }
        // PDF space: y grows upwards, so the top of the page comes first with the largest y.
        placed.sort { $0.top != $1.top ? $0.top > $1.top : $0.left < $1.left }
        return placed
    }

    /// Whether the page has annotations a viewer draws that may show text: any but links and
    /// popups (which draw nothing) and those hidden (Hidden or NoView flag).
    var hasDrawnAnnotations: Bool {
        var found = false
        let invisible = POPPLER_ANNOT_FLAG_HIDDEN.rawValue | POPPLER_ANNOT_FLAG_NO_VIEW.rawValue
        PopplerMappingList<PopplerAnnotMapping>(poppler_page_get_annot_mapping(handle),
                                                free: poppler_page_free_annot_mapping).forEach { mapping in
            guard !found, let annot = mapping.annot else { return }
            let type = poppler_annot_get_annot_type(annot)
            found = type != POPPLER_ANNOT_LINK && type != POPPLER_ANNOT_POPUP && poppler_annot_get_flags(annot).rawValue & invisible == 0
        }
        return found
    }

    /// Whether the drawn copy of a page holds its content stream's text, though perhaps grouped
    /// into other words: every word of `content` is in `drawn` as often, or else every letter
    /// and digit is (counted, wherever it stands) and the words of `drawn` are on average no
    /// shorter than those of `content`. An appearance drawn edge to edge with a word joins it
    /// ("Total" and a stamp's "due" are "Totaldue", as `pdftotext` prints them), and loose
    /// letters — a rotated watermark's, pdf.js's issue17069.pdf — are grouped anew once the
    /// annotations' letters are among them: words get longer. A drawing whose glyph advances
    /// disagree with the page's (a substituted font: issue6127.pdf, issue12963.pdf) splits
    /// words instead, and invisible text (a scan's OCR layer) is missing letter for letter:
    /// both are refused.
    static func keepsTheText(of content: String, in drawn: String) -> Bool {
        if keepsEveryWord(of: content, in: drawn) { return true }
        func letters(_ text: String) -> [Character: Int] {
            var counts: [Character: Int] = [:]
            for character in text where character.isLetter || character.isNumber { counts[character, default: 0] += 1 }
            return counts
        }
        func meanWordLength(_ text: String) -> Double {
            let words = text.split(whereSeparator: { !($0.isLetter || $0.isNumber) })
            return words.isEmpty ? 0 : Double(words.reduce(0) { $0 + $1.count }) / Double(words.count)
        }
        let have = letters(drawn)
        return letters(content).allSatisfy { character, count in have[character, default: 0] >= count }
            && meanWordLength(drawn) >= meanWordLength(content)
    }

    /// Whether every word of `content` (runs of letters and digits, counted) is in `drawn` as
    /// often: the drawn copy of a page lost nothing of its content stream's text.
    static func keepsEveryWord(of content: String, in drawn: String) -> Bool {
        func words(_ text: String) -> [Substring: Int] {
            var counts: [Substring: Int] = [:]
            for word in text.split(whereSeparator: { !($0.isLetter || $0.isNumber) }) { counts[word, default: 0] += 1 }
            return counts
        }
        let have = words(drawn)
        return words(content).allSatisfy { word, count in have[word, default: 0] >= count }
    }

    /// What a form field holds (nil for buttons, signatures and password fields): a text
    /// field's value; a combo box's typed or chosen value and its items; a list box's chosen
    /// items (one per line) and its items, which its appearance lists all of.
    private static func fieldValue(_ field: OpaquePointer, area: PopplerRectangle) -> AnnotationValue? {
        // The field's own name (/T), not poppler's fully qualified one: that walks the parent
        // chain and, on pdf.js's issue12963.pdf, does not come back.
        let name = takeGString(poppler_form_field_get_partial_name(field))
        switch poppler_form_field_get_field_type(field) {
        case POPPLER_FORM_FIELD_TEXT:
            guard poppler_form_field_text_is_password(field) == 0 else { return nil }
            let text = takeGString(poppler_form_field_text_get_text(field)) ?? ""
            return AnnotationValue(type: .text, name: name, value: text, items: [], drawn: text, area: area)
        case POPPLER_FORM_FIELD_CHOICE:
            let count = Int(poppler_form_field_choice_get_n_items(field))
            let items = (0..<count).compactMap { takeGString(poppler_form_field_choice_get_item(field, Int32($0))) }
            let chosen = (0..<count).filter { poppler_form_field_choice_is_item_selected(field, Int32($0)) != 0 }
                .compactMap { takeGString(poppler_form_field_choice_get_item(field, Int32($0))) }
            if poppler_form_field_choice_get_choice_type(field) == POPPLER_FORM_CHOICE_LIST {
                return AnnotationValue(type: .list, name: name, value: chosen.joined(separator: "\n"), items: items,
                                       drawn: items.joined(separator: "\n"), area: area)
            }
            let typed = takeGString(poppler_form_field_choice_get_text(field)) ?? ""
            let value = typed.isEmpty ? chosen.joined(separator: " ") : typed
            return AnnotationValue(type: .combo, name: name, value: value, items: items, drawn: value, area: area)
        default:
            return nil
        }
    }

    private static func sameArea(_ a: PopplerRectangle, _ b: PopplerRectangle) -> Bool {
        abs(a.x1 - b.x1) < 0.5 && abs(a.y1 - b.y1) < 0.5 && abs(a.x2 - b.x2) < 0.5 && abs(a.y2 - b.y2) < 0.5
    }
}

/// What one form field or FreeText annotation on a page holds (`PDFPage.annotationValues`).
struct AnnotationValue {
    enum Kind: String { case text, combo, list, freeText = "free_text" }

    let type: Kind
    /// A form field's own name (/T, its last part); nil for FreeText.
    let name: String?
    /// A text field's value, a combo box's typed or chosen value, a list box's chosen items (one
    /// per line), a FreeText's contents.
    let value: String
    /// A choice field's items, in order.
    let items: [String]
    /// The text its appearance shows: `value`, or every item of a list box.
    let drawn: String
    /// Where it stands: PDF space (y upwards) from the crop box's corner, as poppler maps it.
    let area: PopplerRectangle

    var top: Double { max(area.y1, area.y2) }
    var left: Double { min(area.x1, area.x2) }

    /// `drawn` as lines of the page's text, each ending in a newline (multi-line values use
    /// CR or CR LF: PDF 32000-1 §12.7.4.3).
    var textLines: String {
        let lines = drawn.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        return lines.hasSuffix("\n") ? lines : lines + "\n"
    }

    /// Its entry in structure.json's `annotations`, on 1-based page `page`.
    func structureEntry(page: Int) -> [String: Any] {
        var entry: [String: Any] = ["page": page, "type": type.rawValue, "value": value]
        if let name, !name.isEmpty { entry["name"] = name }
        if !items.isEmpty { entry["items"] = items }
        return entry
    }
}
