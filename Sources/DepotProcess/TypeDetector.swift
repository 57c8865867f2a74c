import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Works out what a file is from its bytes: magic numbers, the ZIP central directory for
/// OOXML, UTF-8 validity for text. The name is only a tie-breaker (Markdown vs plain text).
///
/// Every read is bounded (the first 64 KiB; for a ZIP, its last 64 KiB and a central
/// directory of at most 4 MiB), so a hostile file costs little.
public enum TypeDetector {
    /// How much of the file's start is examined.
    public static let headBytes = 64 * 1024
    static let maxCentralDirectory = 4 << 20
    static let maxZipEntries = 20_000

    public static let octetStream = "application/octet-stream"
    public static let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    public static let pptx = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    public static let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    /// A password-protected Word, PowerPoint or Excel file: the OOXML package encrypted inside
    /// a compound file (Apache Tika's name for it).
    public static let protectedOOXML = "application/x-tika-ooxml-protected"

    /// The media type of the file at `path`; `name` breaks ties only.
    public static func detect(path: String, name: String = "") throws -> String {
        let file = try ReadOnlyFile(path: path)
        let head = try file.read(at: 0, count: headBytes)
        return detect(head: head, size: file.size, name: name, zipEntries: { try? zipEntryNames(file) },
                      compoundEntries: { (try? CompoundFile.entryNames(file)) ?? nil },
                      endsLikePDF: { endsLikePDF(file) })
    }

    /// The media type from the file's first bytes; `zipEntries` lists a ZIP's members and
    /// `compoundEntries` a compound file's streams, when asked.
    public static func detect(head: [UInt8], size: Int64, name: String, zipEntries: () -> [String]?,
                              compoundEntries: () -> [String]? = { nil }, endsLikePDF: () -> Bool = { false }) -> String {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        func ascii(_ text: String, at offset: Int = 0) -> Bool { starts(Array(text.utf8), at: offset) }

        if ascii("%PDF-") { return "application/pdf" }
        // Readers (Acrobat, poppler, pdf.js) also take a header found later in the first KiB,
        // after junk a gateway or a generator put in front (pdf.js's issue6069.pdf), and even
        // no header before the first object (bug1606566.pdf). Such a file must also end like a
        // PDF, so a note that merely mentions "%PDF-" or "0 obj" early stays text.
        let start = Array(head.prefix(1024))
        if (contains(start, Array("%PDF-".utf8)) || contains(start, Array(" 0 obj".utf8))) && endsLikePDF() {
            return "application/pdf"
        }
        // UTF-16 with a BOM, before MPEG audio: FF FE also reads as a (rare) MPEG-1 layer I frame sync.
        if starts([0xFE, 0xFF]) || starts([0xFF, 0xFE]) { return "text/plain" }
        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) {
            let type = zipType(zipEntries() ?? [])
            if type != "application/zip" { return type }
            // A damaged or truncated package (no readable central directory: Apache POI's
            // truncated62886.docx, fuzzed files) still names its parts in the local headers at
            // its start. Detected as what it is meant to be, it fails in its processor with
            // the specific reason instead of passing for an unsupported ZIP.
            return zipType(localEntryNames(head))
        }
        if starts(CompoundFile.magic) { return CompoundFile.mediaType(compoundEntries() ?? []) }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if starts([0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if ascii("GIF87a") || ascii("GIF89a") { return "image/gif" }
        if ascii("RIFF") && head.count >= 12 {
            if ascii("WEBP", at: 8) { return "image/webp" }
            if ascii("WAVE", at: 8) { return "audio/wav" }
            if ascii("AVI ", at: 8) { return "video/x-msvideo" }
        }
        if ascii("ftyp", at: 4) && head.count >= 12 {
            let brand = String(decoding: head[8..<12], as: UTF8.self)
            switch brand {
            case "qt  ": return "video/quicktime"
            case "M4A ", "M4B ": return "audio/mp4"
            case "heic", "heix", "mif1": return "image/heic"
            case "avif": return "image/avif"
            default: return "video/mp4"
            }
        }
        if starts([0x1A, 0x45, 0xDF, 0xA3]) {
            return contains(head, Array("webm".utf8)) ? "video/webm" : "video/x-matroska"
        }
        if ascii("OggS") { return contains(head, Array("theora".utf8)) ? "video/ogg" : "audio/ogg" }
        if ascii("fLaC") { return "audio/flac" }
        if ascii("ID3") || isMPEGAudioFrame(head) { return "audio/mpeg" }
        if let text = textKind(head, truncated: Int64(head.count) < size) {
            if text == "text/markdown" || hasMarkdownName(name) { return "text/markdown" }
            return text
        }
        return octetStream
    }

    /// Whether the file's last KiB has a PDF's end: "%%EOF", or at least "startxref" (a
    /// trailer cut short, which readers still take).
    static func endsLikePDF(_ file: ReadOnlyFile) -> Bool {
        let count = Int(min(file.size, 1024))
        guard let tail = try? file.read(at: file.size - Int64(count), count: count) else { return false }
        return contains(tail, Array("%%EOF".utf8)) || contains(tail, Array("startxref".utf8))
    }

    /// The class a media type belongs to, which picks the worker pool (`[jobs.concurrency]`).
    public static func mediaClass(of mediaType: String) -> String {
        if mediaType.hasPrefix("video/") { return "video" }
        if mediaType.hasPrefix("audio/") { return "audio" }
        if mediaType.hasPrefix("image/") { return "images" }
        if mediaType.hasPrefix("text/") || mediaType == "application/pdf"
            || mediaType.hasPrefix("application/vnd.openxmlformats-officedocument.")
            || mediaType == protectedOOXML || mediaType == "application/msword"
            || mediaType == "application/vnd.ms-powerpoint" || mediaType == "application/vnd.ms-excel" {
            return "documents"
        }
        return "other"
    }

    static func hasMarkdownName(_ name: String) -> Bool {
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
    static func zipType(_ names: [String]) -> String {
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
    static func localEntryNames(_ head: [UInt8]) -> [String] {
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
    static func isMPEGAudioFrame(_ head: [UInt8]) -> Bool {
        guard head.count >= 4, head[0] == 0xFF, head[1] & 0xE0 == 0xE0 else { return false }
        let version = (head[1] >> 3) & 0x3, layer = (head[1] >> 1) & 0x3
        let bitrate = head[2] >> 4, sampleRate = (head[2] >> 2) & 0x3
        return version != 1 && layer != 0 && bitrate != 0 && bitrate != 0xF && sampleRate != 3
    }

    /// "text/plain" or "text/markdown" when the bytes are text: valid UTF-8 (a character cut
    /// at the end of a truncated head is fine) or 8-bit text with few control bytes, no NULs.
    static func textKind(_ head: [UInt8], truncated: Bool) -> String? {
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
    static func looksLikeMarkdown(_ text: String) -> Bool {
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

    static func isValidUTF8(_ bytes: [UInt8], allowCutEnd: Bool) -> Bool {
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

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<start + needle.count]) == needle { return true }
        }
        return false
    }

    /// The member names of a ZIP, from its central directory (bounded; nil if it is not one
    /// that can be read: ZIP64, a directory that is too big, or a damaged file).
    static func zipEntryNames(_ file: ReadOnlyFile) throws -> [String]? {
        // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
        let tailLength = Int(min(file.size, 22 + 65535))
        let tail = try file.read(at: file.size - Int64(tailLength), count: tailLength)
        guard tail.count >= 22 else { return nil }
        var eocd = -1
        var i = tail.count - 22
        while i >= 0 {
            if tail[i] == 0x50 && tail[i + 1] == 0x4B && tail[i + 2] == 0x05 && tail[i + 3] == 0x06 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { return nil }
        let entries = Int(le16(tail, eocd + 10))
        let cdSize = Int(le32(tail, eocd + 12))
        let cdOffset = Int64(le32(tail, eocd + 16))
        guard entries != 0xFFFF, cdSize != 0xFFFF_FFFF, entries <= maxZipEntries, cdSize <= maxCentralDirectory,
              cdOffset + Int64(cdSize) <= file.size else { return nil }
        let cd = try file.read(at: cdOffset, count: cdSize)
        guard cd.count == cdSize else { return nil }
        var names: [String] = []
        var p = 0
        for _ in 0..<entries {
            guard p + 46 <= cd.count, le32(cd, p) == 0x0201_4B50 else { break }
            let nameLength = Int(le16(cd, p + 28)), extra = Int(le16(cd, p + 30)), comment = Int(le16(cd, p + 32))
            guard p + 46 + nameLength <= cd.count else { break }
            names.append(String(decoding: cd[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self))
            p += 46 + nameLength + extra + comment
        }
        return names
    }

    static func le16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
    static func le32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
}

/// A file opened read-only for positioned reads; the descriptor is closed in deinit.
final class ReadOnlyFile {
    let fd: Int32
    let path: String
    let size: Int64

    init(path: String) throws {
        fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) }
        var st = stat()
        if fstat(fd, &st) != 0 {
            let error = SystemError(call: "fstat", errno: errno, path: path)
            close(fd)
            throw error
        }
        self.path = path
        size = Int64(st.st_size)
    }

    deinit { close(fd) }

    /// Up to `count` bytes from `offset` (fewer at the end of the file).
    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        guard count > 0, offset >= 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = try bytes.withUnsafeMutableBytes { raw in
                try sysCall("pread", path: path) { pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            }
            if n == 0 { break }
            done += n
        }
        return Array(bytes[0..<done])
    }

    /// The whole file, refusing more than `limit` bytes.
    func readAll(limit: Int64) throws -> [UInt8] {
        guard size <= limit else { throw SystemError(call: "read", errno: EFBIG, path: path) }
        return try read(at: 0, count: Int(size))
    }
}
