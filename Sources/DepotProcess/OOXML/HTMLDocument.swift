import CXML2

/// An HTML document parsed by libxml2's HTML parser (forgiving, as browsers are), for the HTML
/// a Word document imports through `altChunk`. The tree is freed in deinit; the network is off
/// and external entities are refused process-wide (`XMLStreamReader`'s loader).
final class HTMLDocument {
    private let document: xmlDocPtr

    /// - Throws: `DocumentError` when libxml2 makes no document of the bytes.
    init(bytes: [UInt8], part: String) throws {
        let options = Int32(HTML_PARSE_NONET.rawValue | HTML_PARSE_NOERROR.rawValue | HTML_PARSE_NOWARNING.rawValue
                            | HTML_PARSE_COMPACT.rawValue)
        let parsed = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { base in
                base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                    htmlReadMemory($0, Int32(clamping: buffer.count), part, nil, options)
                }
            } ?? nil
        }
        guard let parsed else { throw DocumentError("\(part): not readable as HTML") }
        document = parsed
    }

    deinit { xmlFreeDoc(document) }

    /// Elements that start a line of their own.
    private static let blocks: Set<String> = ["p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table",
                                              "ul", "ol", "blockquote", "pre", "section", "article", "header", "footer", "dt", "dd"]
    /// Elements whose text is not shown.
    private static let hidden: Set<String> = ["head", "script", "style", "template", "noscript"]

    /// The text, one line per block element (cells of a row separated by tabs), whitespace
    /// collapsed as a browser shows it. The tree is walked with a stack, not recursion, so
    /// deep nesting cannot exhaust the stack; at most `limit` bytes are taken.
    func lines(limit: Int) throws -> [String] {
        var budget = TextBudget(limit: limit)
        var lines: [String] = []
        var current = ""
        func breakLine() {
            let line = current.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
            if !line.isEmpty { lines.append(line.replacingOccurrences(of: " \t ", with: "\t")) }
            current = ""
        }
        var stack: [(node: xmlNodePtr, leaving: Bool)] = []
        var node = xmlDocGetRootElement(document)
        while let start = node {
            stack.append((start, false))
            node = start.pointee.next
        }
        stack.reverse()
        while let (item, leaving) = stack.popLast() {
            let name = item.pointee.name.map { String(cString: $0).lowercased() } ?? ""
            if leaving {
                if Self.blocks.contains(name) { breakLine() }
                continue
            }
            switch item.pointee.type {
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                if let content = item.pointee.content {
                    let text = String(cString: content)
                    try budget.take(text)
                    current += text
                }
            case XML_ELEMENT_NODE:
                guard !Self.hidden.contains(name) else { continue }
                if Self.blocks.contains(name) { breakLine() }
                if name == "td" || name == "th", !current.isEmpty { current += " \t " }
                stack.append((item, true))
                var children: [xmlNodePtr] = []
                var child = item.pointee.children
                while let next = child {
                    children.append(next)
                    child = next.pointee.next
                }
                for next in children.reversed() { stack.append((next, false)) }
            default:
                break
            }
        }
        breakLine()
        return lines
    }
}

/// The text of a chunk a Word document imports in another format (`w:altChunk`, ECMA-376
/// Part 1 §17.17.2.1): HTML and XHTML through libxml2's HTML parser, plain text as it is.
/// Other formats (RTF, a whole DOCX, MHTML) are not read: nil, and the caller counts them.
enum WordAltChunk {
    static func lines(_ relationship: OOXMLPackage.Relationship?, in package: OOXMLPackage, limits: DocumentLimits) throws -> [String]? {
        guard let part = relationship?.part, let bytes = try package.read(part) else { return nil }
        let types = try package.contentTypes()
        let ext = part.split(separator: ".").last.map { $0.lowercased() } ?? ""
        let type = (types.overrides[part.lowercased()] ?? types.defaults[ext] ?? "").lowercased()
        if type.hasPrefix("text/html") || type.hasPrefix("application/xhtml+xml") || ["htm", "html", "xhtml"].contains(ext) {
            return try HTMLDocument(bytes: bytes, part: part).lines(limit: limits.maxTextBytes)
        }
        if type.hasPrefix("text/plain") || ext == "txt" {
            var decoder = TextDecoder(TextEncoding.byteOrderMark(bytes)?.encoding ?? .utf8)
            let skip = TextEncoding.byteOrderMark(bytes)?.length ?? 0
            let text = decoder.decode(bytes[skip...], final: true)
            return text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).map(String.init)
        }
        return nil
    }
}
