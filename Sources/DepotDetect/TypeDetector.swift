import DepotCore
import Foundation

/// Works out what a file is from its bytes: magic numbers, the ZIP central directory for
/// OOXML, UTF-8 validity for text. The name is only a tie-breaker (Markdown vs plain text).
///
/// Every read goes through `RandomAccessBytes` and is bounded (the first 64 KiB; for a ZIP,
/// its last 65 KiB and a central directory of at most 4 MiB; for a compound file, a few
/// sectors), so a hostile file costs little, and the bytes can be a stored blob or a file.
public enum TypeDetector {
    /// How much of the file's start is examined.
    public static let headBytes = 64 * 1024
    package static let maxZipEntries = 20_000

    public static let octetStream = "application/octet-stream"
    /// A file of no bytes: nothing to process, whatever its name says (file(1)'s name for it).
    public static let empty = "application/x-empty"
    public static let pdf = "application/pdf"
    public static let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    public static let pptx = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    public static let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    /// A password-protected Word, PowerPoint or Excel file: the OOXML package encrypted inside
    /// a compound file (Apache Tika's name for it).
    public static let protectedOOXML = "application/x-tika-ooxml-protected"

    /// What detection gives a file that starts with the test processor's "DEPOT-TEST-" marker,
    /// when it is asked to look for it (`testMarkers`: only with `DEPOT_TEST_PROCESSORS=1`).
    public static let testMediaType = "application/x-depot-test"
    /// The test processor's marker, the first bytes of a test file.
    public static let testMarker = Array("DEPOT-TEST-".utf8)

    /// The media type of `bytes`; `name` breaks ties only (Markdown vs plain text).
    ///
    /// Never throws: bytes that cannot be read are `application/octet-stream`, and a ZIP or
    /// compound file whose directory cannot be read is judged by what could be.
    /// - Parameter testMarkers: give `testMediaType` to files that start with "DEPOT-TEST-"
    ///   (so the daemon can choose the test processor for them by type, like any other).
    public static func detect(_ bytes: any RandomAccessBytes, name: String, testMarkers: Bool = false) -> String {
        guard let head = try? bytes.read(at: 0, count: headBytes) else { return octetStream }
        if head.isEmpty && bytes.size == 0 { return empty }
        if testMarkers && head.starts(with: testMarker) { return testMediaType }
        return detect(head: head, of: bytes, name: name)
    }

    /// The media type of the file at `path` (a convenience over `detect(_:name:)`).
    /// - Throws: `SystemError` when the file cannot be opened.
    public static func detect(path: String, name: String = "", testMarkers: Bool = false) throws -> String {
        detect(try ReadOnlyFile(path: path), name: name, testMarkers: testMarkers)
    }

    /// The media type from the file's first bytes (`head`), reading more of `bytes` only for
    /// a ZIP's or compound file's directory and a possible PDF's end.
    private static func detect(head: [UInt8], of bytes: any RandomAccessBytes, name: String) -> String {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        func ascii(_ text: String, at offset: Int = 0) -> Bool { starts(Array(text.utf8), at: offset) }

        if ascii("%PDF-") { return pdf }
        // Readers (Acrobat, poppler, pdf.js) also take a header found later in the first KiB,
        // after junk a gateway or a generator put in front (pdf.js's issue6069.pdf), and even
        // no header before the first object (bug1606566.pdf). Such a file must also end like a
        // PDF, so a note that merely mentions "%PDF-" or "0 obj" early stays text.
        let start = Array(head.prefix(1024))
        if (contains(start, Array("%PDF-".utf8)) || contains(start, Array(" 0 obj".utf8))) && endsLikePDF(bytes) {
            return pdf
        }
        // UTF-16 and UTF-32 with a BOM, before MPEG audio: FF FE also reads as a (rare) MPEG-1
        // layer I frame sync.
        if let mark = TextEncoding.byteOrderMark(head), mark.encoding != .utf8 {
            return unicodeTextKind(head, mark.encoding, skip: mark.length, name: name)
        }
        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) {
            let names = (try? ZipDirectory.read(bytes)?.entryNames(maxEntries: maxZipEntries)) ?? nil
            let type = zipType(names ?? [])
            if type != "application/zip" { return type }
            // A damaged or truncated package (no readable central directory: Apache POI's
            // truncated62886.docx, fuzzed files) still names its parts in the local headers at
            // its start. Detected as what it is meant to be, it fails in its processor with
            // the specific reason instead of passing for an unsupported ZIP.
            return zipType(localEntryNames(head))
        }
        if starts(CompoundFile.magic) { return CompoundFile.mediaType(((try? CompoundFile.entryNames(bytes)) ?? nil) ?? []) }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if starts([0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if ascii("GIF87a") || ascii("GIF89a") { return "image/gif" }
        if ascii("RIFF") && head.count >= 12 {
            if ascii("WEBP", at: 8) { return "image/webp" }
            if ascii("WAVE", at: 8) { return "audio/wav" }
            if ascii("AVI ", at: 8) { return "video/x-msvideo" }
        }
        if ascii("ftyp", at: 4) && head.count >= 12 { return MediaSignatures.isoMediaType(head, of: bytes) }
        if starts([0x1A, 0x45, 0xDF, 0xA3]) { return MediaSignatures.matroskaType(head, of: bytes) }
        if ascii("OggS") { return contains(head, Array("theora".utf8)) ? "video/ogg" : "audio/ogg" }
        if ascii("fLaC") { return "audio/flac" }
        if let media = MediaSignatures.mediaType(head) { return media }
        if ascii("ID3") { return MediaSignatures.isADTS(head, at: MediaSignatures.id3Length(head)) ? "audio/aac" : "audio/mpeg" }
        if isMPEGAudioFrame(head) { return "audio/mpeg" }
        if let text = textKind(head, truncated: Int64(head.count) < bytes.size) {
            if text == "text/markdown" || hasMarkdownName(name) { return "text/markdown" }
            return text
        }
        if let utf16 = TextEncoding.unmarkedUTF16(head) { return unicodeTextKind(head, utf16, skip: 0, name: name) }
        return octetStream
    }

    /// Plain text or Markdown, for a head in UTF-16 or UTF-32 (decoded to look for Markdown).
    package static func unicodeTextKind(_ head: [UInt8], _ encoding: TextEncoding, skip: Int, name: String) -> String {
        var decoder = TextDecoder(encoding)
        let text = decoder.decode(head[skip...], final: false)
        return looksLikeMarkdown(text) || hasMarkdownName(name) ? "text/markdown" : "text/plain"
    }

    /// Whether the file's last KiB has a PDF's end: "%%EOF", or at least "startxref" (a
    /// trailer cut short, which readers still take).
    package static func endsLikePDF(_ file: any RandomAccessBytes) -> Bool {
        let count = Int(min(file.size, 1024))
        guard let tail = try? file.read(at: file.size - Int64(count), count: count) else { return false }
        return contains(tail, Array("%%EOF".utf8)) || contains(tail, Array("startxref".utf8))
    }

    package static func hasMarkdownName(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower.hasSuffix(".md") || lower.hasSuffix(".markdown")
    }

    /// OOXML is a ZIP with [Content_Types].xml whose main part names the format. The content
    /// types file is usually deflated (no zlib here yet), so the main part is recognised by
    /// the part names the content types point at.
    ///
    /// Part names compare case-insensitively (ECMA-376 Part 2 §9.1.1.1). The main part's
    /// name is only a convention (the package relationships name it: pandoc's
    /// alternate_document_path.docx has word/document2.xml), so when the usual name is absent
    /// the format's folder decides.
    package static func zipType(_ names: [String]) -> String {
        let set = Set(names.map { $0.lowercased() })
        guard set.contains("[content_types].xml") else { return "application/zip" }
        if set.contains("word/document.xml") { return docx }
        if set.contains("ppt/presentation.xml") { return pptx }
        if set.contains("xl/workbook.xml") { return xlsx }
        for (folder, type) in [("word/", docx), ("ppt/", pptx), ("xl/", xlsx)]
        where set.contains(where: { $0.hasPrefix(folder) && $0.hasSuffix(".xml") }) {
            return type
        }
        return "application/zip"
    }

    /// The names in the ZIP local file headers found in `head` (signature, then the name at
    /// offset 30), for a ZIP whose central directory cannot be read.
    package static func localEntryNames(_ head: [UInt8]) -> [String] {
        var names: [String] = []
        var i = 0
        while i + 30 <= head.count {
            if head[i] == 0x50 && head[i + 1] == 0x4B && head[i + 2] == 0x03 && head[i + 3] == 0x04 {
                let length = Int(le16(head, i + 26))
                if length > 0, length <= 1024, i + 30 + length <= head.count {
                    let bytes = head[(i + 30)..<(i + 30 + length)]
                    if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
                        names.append(String(decoding: bytes, as: UTF8.self))
                        i += 30 + length
                        continue
                    }
                }
            }
            i += 1
        }
        return names
    }

    /// An MPEG audio frame header: 11 sync bits, a valid version, layer and bitrate.
    package static func isMPEGAudioFrame(_ head: [UInt8]) -> Bool {
        guard head.count >= 4, head[0] == 0xFF, head[1] & 0xE0 == 0xE0 else { return false }
        let version = (head[1] >> 3) & 0x3, layer = (head[1] >> 1) & 0x3
        let bitrate = head[2] >> 4, sampleRate = (head[2] >> 2) & 0x3
        return version != 1 && layer != 0 && bitrate != 0 && bitrate != 0xF && sampleRate != 3
    }

    /// "text/plain" or "text/markdown" when the bytes are text: valid UTF-8 (a character cut
    /// at the end of a truncated head is fine) or 8-bit text with few control bytes, no NULs.
    package static func textKind(_ head: [UInt8], truncated: Bool) -> String? {
        guard !head.contains(0) else { return nil }
        if !isValidUTF8(head, allowCutEnd: truncated) {
            // Legacy 8-bit text (Latin-1, Windows-1252): printable bytes, few controls.
            let controls = head.filter { $0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D && $0 != 0x0C }.count
            guard controls * 100 <= head.count else { return nil }
            return "text/plain"
        }
        let controls = head.filter { $0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D && $0 != 0x0C && $0 != 0x1B }.count
        guard controls * 100 <= max(head.count, 1) else { return nil }
        return looksLikeMarkdown(String(decoding: head, as: UTF8.self)) ? "text/markdown" : "text/plain"
    }

    /// Markdown structure: an ATX heading ("# Title"), a Setext underline under a text line,
    /// or a fenced code block.
    package static func looksLikeMarkdown(_ text: String) -> Bool {
        var previous = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false).prefix(2000) {
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            if MarkdownOutline.atxHeading(line) != nil { return true }
            if line.hasPrefix("```") || line.hasPrefix("~~~") { return true }
            let trimmed = previous.trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty, MarkdownOutline.setextLevel(line) != nil, !previous.hasPrefix("    ") {
                return true
            }
            previous = line
        }
        return false
    }

    package static func isValidUTF8(_ bytes: [UInt8], allowCutEnd: Bool) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            let length: Int
            if b < 0x80 { i += 1; continue }
            else if b >= 0xC2 && b <= 0xDF { length = 2 }
            else if b >= 0xE0 && b <= 0xEF { length = 3 }
            else if b >= 0xF0 && b <= 0xF4 { length = 4 }
            else { return false }
            if i + length > n { return allowCutEnd }
            for k in 1..<length where bytes[i + k] & 0xC0 != 0x80 { return false }
            // Overlongs and surrogates.
            if b == 0xE0 && bytes[i + 1] < 0xA0 { return false }
            if b == 0xED && bytes[i + 1] > 0x9F { return false }
            if b == 0xF0 && bytes[i + 1] < 0x90 { return false }
            if b == 0xF4 && bytes[i + 1] > 0x8F { return false }
            i += length
        }
        return true
    }

    package static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<start + needle.count]) == needle { return true }
        }
        return false
    }
}
