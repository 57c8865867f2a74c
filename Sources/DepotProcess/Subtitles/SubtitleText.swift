import Foundation

/// Reads the text subtitle formats depot attaches or finds embedded — SubRip (.srt), WebVTT
/// (.vtt) and ASS/SSA (.ass, .ssa) — into cues, which `WebVTT.document` writes out again.
/// Lenient as players are: a malformed cue is skipped, never the whole file.
public enum SubtitleText {
    public enum Format: String, Sendable, CaseIterable {
        case srt, vtt, ass

        /// The format a sidecar file's extension names (.ssa is ASS's older form), nil for others.
        public init?(fileExtension: String) {
            switch fileExtension.lowercased() {
            case "srt": self = .srt
            case "vtt": self = .vtt
            case "ass", "ssa": self = .ass
            default: return nil
            }
        }
    }

    /// Why a subtitle file gave no cues.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// The cues of `bytes` in `format`, in time order.
    /// - Throws: `Invalid` when the text holds no cue at all.
    public static func cues(_ bytes: [UInt8], format: Format) throws -> [TimedText] {
        let text = decoded(bytes).replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        let cues: [TimedText]
        switch format {
        case .srt, .vtt: cues = timedBlocks(text)
        case .ass: cues = assDialogue(text)
        }
        guard !cues.isEmpty else { throw Invalid(description: "no \(format.rawValue) cue in the file") }
        return cues.enumerated().sorted { ($0.element.start, $0.offset) < ($1.element.start, $1.offset) }.map(\.element)
    }

    /// The text of a subtitle file in whatever encoding it came in (old .srt files are often
    /// Windows-1252 or UTF-16), as the text processor recognises it.
    static func decoded(_ bytes: [UInt8]) -> String {
        if let (encoding, length) = TextEncoding.byteOrderMark(bytes) {
            var decoder = TextDecoder(encoding)
            return decoder.decode(bytes[length...], final: true)
        }
        let encoding: TextEncoding
        if let utf16 = TextEncoding.unmarkedUTF16(Array(bytes.prefix(4096))) {
            encoding = utf16
        } else {
            var sniffer = TextEncoding.Sniffer()
            sniffer.feed(bytes[...])
            encoding = sniffer.encoding
        }
        var decoder = TextDecoder(encoding)
        return decoder.decode(bytes[...], final: true)
    }

    /// SubRip and WebVTT share their shape: blocks separated by blank lines, each with a
    /// `start --> end` line (SubRip with a comma before the milliseconds), the text after it.
    /// A WebVTT NOTE, STYLE or REGION block has no such line and is passed over.
    static func timedBlocks(_ text: String) -> [TimedText] {
        var cues: [TimedText] = []
        for block in text.components(separatedBy: "\n\n") {
            let lines = block.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            guard let timing = lines.firstIndex(where: { $0.contains("-->") }) else { continue }
            let parts = lines[timing].components(separatedBy: "-->")
            // WebVTT cue settings follow the end time ("00:01.000 line:0"); only the time counts.
            guard parts.count == 2, let start = seconds(parts[0]),
                  let end = seconds(parts[1].trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? "")
            else { continue }
            let body = lines[(timing + 1)...].joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            guard !body.isEmpty else { continue }
            cues.append(TimedText(start: start, end: end, text: body))
        }
        return cues
    }

    /// "01:02:03,450", "01:02:03.450", "02:03.450" (WebVTT's short form) → seconds.
    static func seconds(_ text: String) -> Double? {
        let fields = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ",", with: ".").split(separator: ":")
        guard (2...3).contains(fields.count) else { return nil }
        var total = 0.0
        for field in fields {
            guard let value = Double(field), value >= 0 else { return nil }
            total = total * 60 + value
        }
        return total
    }

    /// ASS/SSA `Dialogue:` lines of the `[Events]` section, read through its `Format:` line
    /// (which names where Start, End and Text are; Text is always last and may hold commas).
    static func assDialogue(_ text: String) -> [TimedText] {
        var fields = ["layer", "start", "end", "style", "name", "marginl", "marginr", "marginv", "effect", "text"]
        var inEvents = false
        var cues: [TimedText] = []
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") {
                inEvents = line.lowercased() == "[events]"
                continue
            }
            guard inEvents, let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].lowercased()
            let value = String(line[line.index(after: colon)...])
            if key == "format" {
                fields = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            } else if key == "dialogue", let cue = assCue(value, fields: fields) {
                cues.append(cue)
            }
        }
        return cues
    }

    static func assCue(_ value: String, fields: [String]) -> TimedText? {
        let parts = value.split(separator: ",", maxSplits: max(0, fields.count - 1), omittingEmptySubsequences: false)
        guard parts.count == fields.count, let s = fields.firstIndex(of: "start"), let e = fields.firstIndex(of: "end"),
              let t = fields.firstIndex(of: "text"),
              let start = seconds(String(parts[s])), let end = seconds(String(parts[e])) else { return nil }
        let body = assPlainText(String(parts[t]))
        return body.isEmpty ? nil : TimedText(start: start, end: end, text: WebVTT.escaped(body))
    }

    /// An ASS event's text without its override blocks (`{\b1}`, `{\pos(10,20)}`), with its
    /// hard (`\N`) and soft (`\n`) breaks as new lines and `\h` as a space. Drawing commands
    /// (`{\p1}` … `{\p0}`) are shapes, not words, and are dropped.
    public static func assPlainText(_ text: String) -> String {
        var out = ""
        var drawing = false
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "{", let close = text[i...].firstIndex(of: "}") {
                let block = text[text.index(after: i)..<close]
                if let range = block.range(of: "\\p", options: .backwards),
                   let level = block[range.upperBound...].prefix(while: \.isNumber).first {
                    drawing = level != "0"
                }
                i = text.index(after: close)
                continue
            }
            if c == "\\", text.index(after: i) < text.endIndex {
                let next = text[text.index(after: i)]
                if next == "N" || next == "n" { out += "\n"; i = text.index(i, offsetBy: 2); continue }
                if next == "h" { out += " "; i = text.index(i, offsetBy: 2); continue }
            }
            if !drawing { out.append(c) }
            i = text.index(after: i)
        }
        return out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: "\n")
    }

    /// A transcript's plain text from cues: markup removed, each cue's lines joined, a cue
    /// that repeats the one before it (roll-up captions) kept once.
    public static func plainText(_ cues: [TimedText]) -> String {
        var lines: [String] = []
        for cue in cues {
            let line = stripTags(cue.text).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.joined(separator: " ")
            if !line.isEmpty && line != lines.last { lines.append(line) }
        }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }

    /// Text without WebVTT/SubRip tags (`<i>`, `<c.yellow>`, `<00:01.000>`) and with the
    /// entities WebVTT escapes turned back.
    static func stripTags(_ text: String) -> String {
        var out = ""
        var inTag = false
        for c in text {
            if c == "<" { inTag = true } else if c == ">" && inTag { inTag = false } else if !inTag { out.append(c) }
        }
        return out.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&nbsp;", with: " ").replacingOccurrences(of: "&amp;", with: "&")
    }
}
