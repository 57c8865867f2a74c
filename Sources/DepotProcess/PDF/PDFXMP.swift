/// The document properties in a PDF's XMP packet (ISO 16684-1; the Dublin Core, `pdf:` and
/// `xmp:` schemas), read with the same bounded XML reader as OOXML parts. Many generators
/// write them only there, leaving the Info dictionary empty.
enum PDFXMP {
    static let dc = "http://purl.org/dc/elements/1.1/"
    static let pdf = "http://ns.adobe.com/pdf/1.3/"
    static let xmp = "http://ns.adobe.com/xap/1.0/"

    /// metadata.json's keys (title, author, subject, keywords, creator, producer) from the
    /// packet; a list (dc:creator's authors, dc:subject's keywords) is joined with "; " and a
    /// language alternative (dc:title) gives its first entry; the first property that gives a
    /// key wins (dc:subject before pdf:Keywords). Unreadable XML gives nothing.
    static func properties(_ packet: String, limits: DocumentLimits) -> [String: String] {
        guard let reader = try? XMLStreamReader(bytes: Array(packet.utf8), part: "XMP metadata", limits: limits) else { return [:] }
        let wanted: [String: (namespace: String, key: String)] = [
            "title": (dc, "title"), "creator": (dc, "author"), "description": (dc, "subject"), "subject": (dc, "keywords"),
            "Keywords": (pdf, "keywords"), "Producer": (pdf, "producer"), "CreatorTool": (xmp, "creator"),
        ]
        var values: [String: [String]] = [:]
        var current: String?
        var depth = 0, currentDepth = 0
        var text = ""
        do {
            while let event = try reader.next() {
                switch event {
                case .start(let name, let empty):
                    depth += 1
                    if current == nil, !empty, let target = wanted[name.local], target.namespace == name.namespace,
                       values[target.key] == nil {
                        // XMP also allows a simple property as an attribute of rdf:Description; the
                        // element form is what writers use for these.
                        current = target.key
                        currentDepth = depth
                        text = ""
                    } else if current != nil, name.local == "li" {
                        text = ""
                    }
                    if empty { depth -= 1 }
                case .end(let name):
                    if let key = current {
                        if name.local == "li" || depth == currentDepth {
                            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
                            if !value.isEmpty, !(key == "title" && values[key] != nil) { values[key, default: []].append(value) }
                            text = ""
                        }
                        if depth == currentDepth { current = nil }
                    }
                    depth -= 1
                case .text(let value):
                    if current != nil { text += value }
                }
            }
        } catch {
            return [:]
        }
        return values.mapValues { $0.joined(separator: "; ") }
    }
}
