import CXML2
import Foundation

/// One step of a streaming XML parse.
enum XMLEvent {
    /// An element's start tag; `empty` for `<x/>`, which has no matching `.end`.
    case start(XMLElementName, empty: Bool)
    case end(XMLElementName)
    /// Character data (text, CDATA, whitespace), entities never expanded.
    case text(String)
}

/// An element's namespace URI and local name ("w:p" in WordprocessingML is
/// (`XMLNamespace.w`, "p")).
struct XMLElementName: Equatable {
    var namespace: String
    var local: String

    func `is`(_ namespace: String, _ local: String) -> Bool {
        self.local == local && self.namespace == namespace
    }
}

/// The OOXML namespaces the processors read.
enum XMLNamespace {
    static let w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    static let a = "http://schemas.openxmlformats.org/drawingml/2006/main"
    static let p = "http://schemas.openxmlformats.org/presentationml/2006/main"
    static let r = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    static let mc = "http://schemas.openxmlformats.org/markup-compatibility/2006"
    static let wp = "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"
    static let m = "http://schemas.openxmlformats.org/officeDocument/2006/math"
    static let rels = "http://schemas.openxmlformats.org/package/2006/relationships"
}

/// A safe streaming reader over one XML part held in memory (libxml2's xmlTextReader).
///
/// - No entity substitution (no `XML_PARSE_NOENT`), no DTD loading (no `XML_PARSE_DTDLOAD`),
///   no network (`XML_PARSE_NONET`), and an external-entity loader that refuses everything,
///   process-wide: XXE cannot read a file. libxml2 2.9.14 has no `XML_PARSE_NO_XXE`.
/// - A document type declaration is refused outright: OPC (ECMA-376 Part 2 §8.1.4) forbids
///   DTDs in package parts, so a part with one is hostile or broken, and refusing it before
///   any entity is referenced is what defeats billion-laughs expansion.
/// - Element depth and the text taken are capped.
///
/// Owns the reader and the copy of the bytes it parses; both are freed in deinit.
final class XMLStreamReader {
    private let reader: xmlTextReaderPtr
    private let buffer: UnsafeMutableRawBufferPointer
    private let part: String
    private let maxDepth: Int
    private let maxText: Int
    private var textTaken = 0

    private static let installLoader: Void = { cxml2_refuse_external_entities() }()

    /// - Parameters:
    ///   - bytes: the part's bytes (copied; libxml2 reads them in place).
    ///   - part: the part's name, for error messages.
    init(bytes: [UInt8], part: String, limits: DocumentLimits) throws {
        _ = Self.installLoader
        // Refused before libxml2 sees it: the reader parses ahead of what it returns, so a
        // DOCTYPE node would only be reported after its entities were first expanded.
        if Self.prologHasDoctype(bytes) {
            throw DocumentError("xml part \(part) has a DTD (<!DOCTYPE>), which OOXML forbids; refused")
        }
        guard bytes.count < Int(Int32.max) else { throw DocumentError("xml part \(part) is too large") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress { buffer.baseAddress!.copyMemory(from: base, byteCount: source.count) }
        }
        self.buffer = buffer
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        guard let reader = xmlReaderForMemory(buffer.baseAddress!.assumingMemoryBound(to: CChar.self),
                                              Int32(bytes.count), nil, nil, options) else {
            buffer.deallocate()
            throw DocumentError("xml part \(part): cannot start the parser")
        }
        self.reader = reader
        self.part = part
        maxDepth = limits.maxXMLDepth
        maxText = limits.maxTextBytes
        // Belt and braces: these are already off without NOENT / DTDLOAD in the options.
        xmlTextReaderSetParserProp(reader, Int32(XML_PARSER_SUBST_ENTITIES.rawValue), 0)
        xmlTextReaderSetParserProp(reader, Int32(XML_PARSER_LOADDTD.rawValue), 0)
        xmlTextReaderSetParserProp(reader, Int32(XML_PARSER_DEFAULTATTRS.rawValue), 0)
    }

    deinit {
        xmlFreeTextReader(reader)
        buffer.deallocate()
    }

    /// The next event, or nil at the end of the document.
    /// - Throws: `DocumentError` for malformed XML, a DTD, an entity reference, or a cap hit.
    func next() throws -> XMLEvent? {
        while true {
            xmlResetLastError()
            let status = xmlTextReaderRead(reader)
            if status == 0 { return nil }
            if status < 0 { throw DocumentError("xml part \(part) is not well-formed: \(lastError())") }
            let type = xmlTextReaderNodeType(reader)
            switch type {
            case Int32(XML_READER_TYPE_ELEMENT.rawValue):
                if xmlTextReaderDepth(reader) >= maxDepth {
                    throw DocumentError("xml part \(part) nests deeper than \(maxDepth) elements")
                }
                return .start(currentName(), empty: xmlTextReaderIsEmptyElement(reader) == 1)
            case Int32(XML_READER_TYPE_END_ELEMENT.rawValue):
                return .end(currentName())
            case Int32(XML_READER_TYPE_TEXT.rawValue), Int32(XML_READER_TYPE_CDATA.rawValue),
                 Int32(XML_READER_TYPE_WHITESPACE.rawValue), Int32(XML_READER_TYPE_SIGNIFICANT_WHITESPACE.rawValue):
                guard let value = xmlTextReaderConstValue(reader) else { continue }
                let text = String(cString: value)
                textTaken += text.utf8.count
                if textTaken > maxText { throw DocumentError("xml part \(part) holds more than \(maxText) bytes of text") }
                return .text(text)
            case Int32(XML_READER_TYPE_DOCUMENT_TYPE.rawValue):
                throw DocumentError("xml part \(part) has a DTD (<!DOCTYPE>), which OOXML forbids; refused")
            case Int32(XML_READER_TYPE_ENTITY_REFERENCE.rawValue), Int32(XML_READER_TYPE_ENTITY.rawValue):
                throw DocumentError("xml part \(part) references an entity; refused")
            default:
                continue
            }
        }
    }

    /// An attribute of the current start element, by namespace and local name (nil namespace:
    /// an unprefixed attribute, which in XML is in no namespace).
    func attribute(_ local: String, namespace: String? = nil) -> String? {
        let value: UnsafeMutablePointer<xmlChar>?
        if let namespace {
            value = xmlTextReaderGetAttributeNs(reader, local, namespace)
        } else {
            value = xmlTextReaderGetAttribute(reader, local)
        }
        guard let value else { return nil }
        defer { cxml2_free(value) }
        return String(cString: value)
    }

    /// Skips the current start element's content: the next event is the one after its end.
    func skipElement(empty: Bool) throws {
        guard !empty else { return }
        var depth = 1
        while depth > 0 {
            guard let event = try next() else { throw DocumentError("xml part \(part) ends inside an element") }
            switch event {
            case .start(_, let isEmpty): if !isEmpty { depth += 1 }
            case .end: depth -= 1
            case .text: break
            }
        }
    }

    /// The text inside the current start element (all descendants), up to its end.
    func elementText(empty: Bool) throws -> String {
        guard !empty else { return "" }
        var depth = 1
        var text = ""
        while depth > 0 {
            guard let event = try next() else { throw DocumentError("xml part \(part) ends inside an element") }
            switch event {
            case .start(_, let isEmpty): if !isEmpty { depth += 1 }
            case .end: depth -= 1
            case .text(let value): text += value
            }
        }
        return text
    }

    /// Whether a `<!DOCTYPE` comes before the root element (bytes in an ASCII-compatible
    /// encoding; a UTF-16 part is left to the reader's own DOCTYPE check).
    static func prologHasDoctype(_ bytes: [UInt8]) -> Bool {
        let doctype = Array("<!DOCTYPE".utf8)
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == 0x3C {  // "<"
                let next = bytes[i + 1]
                if next != 0x21 && next != 0x3F { return false }  // an element: the prolog is over
                if bytes.count - i >= doctype.count && Array(bytes[i..<i + doctype.count]) == doctype { return true }
            }
            i += 1
        }
        return false
    }

    private func currentName() -> XMLElementName {
        let local = xmlTextReaderConstLocalName(reader).map { String(cString: $0) } ?? ""
        let namespace = xmlTextReaderConstNamespaceUri(reader).map { String(cString: $0) } ?? ""
        return XMLElementName(namespace: namespace, local: local)
    }

    private func lastError() -> String {
        guard let error = xmlGetLastError(), let message = error.pointee.message else { return "parse error" }
        let text = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
        return error.pointee.line > 0 ? "\(text) (line \(error.pointee.line))" : text
    }
}
