/// Paragraph styles from styles.xml: the heading each style makes (by its name, else its
/// outline level), following `basedOn` chains; and list numbering.
struct WordStyles {
    struct Style {
        var name = ""
        var basedOn: String?
        var outlineLevel: Int?
        var numID: String?
    }

    var styles: [String: Style] = [:]
    var defaultStyle: String?

    init(package: OOXMLPackage, part: String) throws {
        guard let reader = try package.xml(part) else { return }
        var current: (id: String, style: Style)?
        let w = XMLNamespace.w
        while let event = try reader.next() {
            switch event {
            case .start(let name, let empty):
                if name.is(w, "style") {
                    let type = reader.attribute("type", namespace: w)
                    if type == nil || type == "paragraph", let id = reader.attribute("styleId", namespace: w) {
                        if reader.attribute("default", namespace: w).map({ $0 == "1" || $0 == "true" }) ?? false {
                            defaultStyle = id
                        }
                        current = (id, Style())
                        if empty { styles[id] = current!.style; current = nil }
                    } else {
                        try reader.skipElement(empty: empty)
                    }
                } else if current != nil {
                    let value = reader.attribute("val", namespace: w)
                    if name.is(w, "name") { current!.style.name = value ?? "" }
                    else if name.is(w, "basedOn") { current!.style.basedOn = value }
                    else if name.is(w, "outlineLvl") { current!.style.outlineLevel = value.flatMap { Int($0) } }
                    else if name.is(w, "numId") { current!.style.numID = value }
                }
            case .end(let name):
                if name.is(w, "style"), let done = current {
                    styles[done.id] = done.style
                    current = nil
                }
            case .text: break
            }
        }
    }

    /// What a paragraph style makes of its paragraphs: a heading of a level (1–9), the title or
    /// subtitle (level 0, with that role), or nil for body text. Decided by the first style
    /// along the `basedOn` chain whose name is a heading's, title's or subtitle's (in English,
    /// as Word writes its built-in styles, or localized, as LibreOffice and older Word
    /// versions do), else that has an outline level.
    func heading(_ id: String?) -> (level: Int, role: String?)? {
        var id = id ?? defaultStyle
        var seen = 0
        while let current = id, let style = styles[current], seen < 20 {
            if let named = Self.headingName(style.name) { return named }
            if let outline = style.outlineLevel { return (0...8).contains(outline) ? (outline + 1, nil) : nil }
            id = style.basedOn
            seen += 1
        }
        return nil
    }

    /// Style names that make headings, by word: a word and a number 1–9 ("heading 1",
    /// "Überschrift 2", "Titre 3", "Heading1") is a heading of that level; a heading word alone
    /// is an unnumbered heading (level 1); a title or subtitle word alone is the title or the
    /// subtitle (in French, Spanish, Italian, Russian, Chinese and Korean the title's word with
    /// a number is a heading: "Titre 1" is Heading 1, "Titre" is Title).
    static let headingWords: Set<String> = ["heading", "überschrift", "kop", "rubrik", "overskrift", "otsikko", "nagłówek",
                                            "nadpis", "címsor", "başlık", "見出し"]
    static let titleWords: Set<String> = ["title", "titel", "titre", "título", "titolo", "tytuł", "заголовок", "název", "cím", "表題", "标题", "제목"]
    static let subtitleWords: Set<String> = ["subtitle", "untertitel", "sous-titre", "subtítulo", "sottotitolo", "ondertitel",
                                             "undertitel", "podtytuł", "подзаголовок", "podtitul", "alcím"]
    static let numberedTitleWords: Set<String> = ["titre", "título", "titolo", "заголовок", "标题", "제목"]

    static func headingName(_ name: String) -> (level: Int, role: String?)? {
        let lower = name.lowercased().trimmingCharacters(in: .whitespaces)
        let digits = lower.reversed().prefix(while: { $0.isASCII && $0.isNumber })
        let word = lower.dropLast(digits.count).trimmingCharacters(in: .whitespaces)
        if digits.isEmpty {
            if headingWords.contains(word) { return (1, nil) }
            if titleWords.contains(word) { return (0, "title") }
            if subtitleWords.contains(word) { return (0, "subtitle") }
            return nil
        }
        guard let level = Int(String(digits.reversed())), (1...9).contains(level) else { return nil }
        return headingWords.contains(word) || numberedTitleWords.contains(word) ? (level, nil) : nil
    }

    /// The list a paragraph style puts its paragraphs in.
    func numID(_ id: String?) -> String? {
        var id = id ?? defaultStyle
        var seen = 0
        while let current = id, let style = styles[current], seen < 20 {
            if let num = style.numID { return num }
            id = style.basedOn
            seen += 1
        }
        return nil
    }

    func name(_ id: String?) -> String? {
        styles[id ?? defaultStyle ?? ""]?.name
    }
}

/// numbering.xml: whether a list (numId) at a level is numbered or bulleted.
struct WordNumbering {
    /// One level of a list definition (`w:lvl`): how its number looks and where it starts.
    struct Level {
        /// `w:numFmt`: decimal, lowerLetter, upperRoman, bullet, none, …
        var format = "decimal"
        /// `w:lvlText`: "%1.", "%1.%2)", a bullet character; %N is level N's number.
        var text: String?
        var start = 1
    }
    /// numId → abstractNumId.
    var nums: [String: String] = [:]
    /// abstractNumId → level → its definition.
    var levels: [String: [Int: Level]] = [:]
    /// numId → level → the start a `w:lvlOverride`'s `w:startOverride` gives.
    var startOverrides: [String: [Int: Int]] = [:]
    /// numId → level → a level the list defines anew (`w:lvlOverride` holding a `w:lvl`): it
    /// replaces the abstract definition's level for this list only (ECMA-376 §17.9.8), as
    /// POI's NumberingWOverrides.docx does ("A", "B" where the abstract list counts "1", "2").
    var levelOverrides: [String: [Int: Level]] = [:]

    init(package: OOXMLPackage, part: String) throws {
        guard let reader = try package.xml(part) else { return }
        let w = XMLNamespace.w
        var abstract: String?
        var level: Int?
        var num: String?
        var overrideLevel: Int?
        while let event = try reader.next() {
            switch event {
            case .start(let name, _):
                guard name.namespace == w else { continue }
                let value = reader.attribute("val", namespace: w)
                switch name.local {
                case "abstractNum": abstract = reader.attribute("abstractNumId", namespace: w)
                case "lvl":
                    level = reader.attribute("ilvl", namespace: w).flatMap { Int($0) }
                    if let abstract, let level { levels[abstract, default: [:]][level] = Level() }
                    if abstract == nil, let num, overrideLevel != nil, let level { levelOverrides[num, default: [:]][level] = Level() }
                case "numFmt": change(abstract, num, level) { $0.format = value ?? "decimal" }
                case "lvlText": change(abstract, num, level) { $0.text = value }
                case "start": if let start = value.flatMap({ Int($0) }) { change(abstract, num, level) { $0.start = start } }
                case "num": num = reader.attribute("numId", namespace: w)
                case "abstractNumId": if let num { nums[num] = value }
                case "lvlOverride": overrideLevel = reader.attribute("ilvl", namespace: w).flatMap { Int($0) }
                case "startOverride":
                    if let num, let overrideLevel, let start = value.flatMap({ Int($0) }) { startOverrides[num, default: [:]][overrideLevel] = start }
                default: break
                }
            case .end(let name):
                guard name.namespace == w else { continue }
                switch name.local {
                case "abstractNum": abstract = nil
                case "lvl": level = nil
                case "num": num = nil
                case "lvlOverride": overrideLevel = nil
                default: break
                }
            case .text: break
            }
        }
    }

    /// Changes the level being read: an abstract list's, or one a list overrides.
    private mutating func change(_ abstract: String?, _ num: String?, _ level: Int?, _ body: (inout Level) -> Void) {
        guard let level else { return }
        if let abstract {
            if levels[abstract]?[level] != nil { body(&levels[abstract]![level]!) }
        } else if let num, levelOverrides[num]?[level] != nil {
            body(&levelOverrides[num]![level]!)
        }
    }

    func level(numID: String, level: Int) -> Level? {
        if let override = levelOverrides[numID]?[level] { return override }
        guard let abstract = nums[numID] else { return nil }
        return levels[abstract]?[level]
    }

    func isOrdered(numID: String, level: Int) -> Bool {
        guard let format = self.level(numID: numID, level: level)?.format else { return false }
        return format != "bullet" && format != "none"
    }

    /// Where the numbers of `level` start (a `startOverride` of the list first).
    func start(numID: String, level: Int) -> Int {
        startOverrides[numID]?[level] ?? self.level(numID: numID, level: level)?.start ?? 1
    }

    /// The label Word shows before an item at `level` whose counters (one per level, from the
    /// top) are `counters`: `w:lvlText` with each %N replaced by level N's number in that
    /// level's format ("%1.%2." → "2.1."); "1." when the level has no text.
    func label(numID: String, level: Int, counters: [Int]) -> String {
        guard let text = self.level(numID: numID, level: level)?.text else { return "\(counters[level])." }
        var out = ""
        var characters = text.makeIterator()
        while let character = characters.next() {
            guard character == "%" else { out.append(character); continue }
            guard let digit = characters.next() else { break }
            guard let n = digit.wholeNumberValue, (1...9).contains(n), n - 1 < counters.count else { out.append(digit); continue }
            out += Self.formatted(counters[n - 1], self.level(numID: numID, level: n - 1)?.format ?? "decimal")
        }
        return out
    }

    /// `number` as `format` shows it: 3 → "3", "c", "C", "iii", "III"; other formats as digits.
    static func formatted(_ number: Int, _ format: String) -> String {
        switch format {
        case "lowerLetter", "upperLetter":
            // a … z, then aa … zz (Word repeats the letter).
            guard number > 0 else { return String(number) }
            let letter = Character(Unicode.Scalar(UInt8(97 + (number - 1) % 26)))
            let text = String(repeating: letter, count: (number - 1) / 26 + 1)
            return format == "upperLetter" ? text.uppercased() : text
        case "lowerRoman", "upperRoman":
            guard (1...3999).contains(number) else { return String(number) }
            let numerals = [(1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"), (40, "xl"),
                            (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")]
            var rest = number, text = ""
            for (value, numeral) in numerals { while rest >= value { text += numeral; rest -= value } }
            return format == "upperRoman" ? text.uppercased() : text
        case "decimalZero": return number < 10 ? "0\(number)" : String(number)
        case "none": return ""
        default: return String(number)
        }
    }
}
