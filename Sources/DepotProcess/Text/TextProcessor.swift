import DepotCore
import Foundation

/// Extract for plain text and Markdown → `text.txt` (UTF-8, LF line ends), `structure.json`
/// (`depot.structure.text/1`: the line count and the Markdown headings) and `metadata.json`
/// (the encoding the bytes were read in).
///
/// The file is read in chunks of `chunkBytes`, never whole, so a text file of any size takes
/// bounded memory: decoding, line ends, line counting and the Markdown outline all work on
/// one chunk and a little state carried over (a cut character, a CR, the previous line).
public struct TextProcessor: Processor {
    public var choice: ProcessorChoice { .text }
    public let version = "2"
    public let artifactKinds = ["text.txt": "text/plain; charset=utf-8", "structure.json": "application/json",
                                "metadata.json": "application/json"]
    /// structure.json's shape: docs/schemas/structure.text.schema.json.
    public static let structureSchema = "depot.structure.text/1"
    /// How much of the file is read at a time (tests make it tiny to cut every sequence).
    let chunkBytes: Int
    /// The first bytes of a line kept for the Markdown outline: a heading's title is cut there.
    static let maxLineBytes = 64 << 10

    public init(chunkBytes: Int = 1 << 20) {
        self.chunkBytes = max(chunkBytes, 1)
    }

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        let file = try ReadOnlyFile(path: input.path)
        let (encoding, markLength) = try Self.encoding(of: file, chunkBytes: chunkBytes)
        input.progress(10, "decoding \(encoding.rawValue) text")
        var writer = ArtifactWriter(directory: input.outputDirectory, producer: name, version: version)
        var lines = LineSplitter(outline: input.mediaType == "text/markdown")
        try writer.writeStreaming("text.txt", mimeType: "text/plain; charset=utf-8") { out in
            var decoder = TextDecoder(encoding)
            var offset = Int64(markLength)
            while true {
                let chunk = try file.read(at: offset, count: chunkBytes)
                offset += Int64(chunk.count)
                let final = chunk.count < chunkBytes || offset >= file.size
                try out.write(lines.take(decoder.decode(chunk[...], final: final), final: final))
                if final { break }
                input.progress(10 + Int(80 * offset / max(file.size, 1)), "decoding \(encoding.rawValue) text")
            }
        }
        var structure: [String: Any] = [
            "schema": Self.structureSchema,
            "media_type": input.mediaType,
            "line_count": lines.lineCount,
            "headings": lines.outline.headings.map { ["level": $0.level, "title": $0.title, "line": $0.line] },
        ]
        try writer.writeJSON("structure.json", structure)
        structure = ["encoding": encoding.rawValue, "byte_order_mark": markLength > 0, "bytes": file.size]
        if lines.outline.omitted > 0 { structure["headings_omitted"] = lines.outline.omitted }
        try writer.writeJSON("metadata.json", structure)
        return writer.produced
    }

    /// The file's encoding and the length of its byte-order mark (0 without one): the mark,
    /// else BOM-less UTF-16 in the first 64 KiB, else a pass over every byte (`Sniffer`).
    static func encoding(of file: ReadOnlyFile, chunkBytes: Int) throws -> (TextEncoding, Int) {
        let head = try file.read(at: 0, count: TypeDetector.headBytes)
        if let mark = TextEncoding.byteOrderMark(head) { return mark }
        if let utf16 = TextEncoding.unmarkedUTF16(head) { return (utf16, 0) }
        var sniffer = TextEncoding.Sniffer()
        var offset: Int64 = 0
        while offset < file.size {
            let chunk = try file.read(at: offset, count: chunkBytes)
            if chunk.isEmpty { break }
            sniffer.feed(chunk[...])
            offset += Int64(chunk.count)
        }
        return (sniffer.encoding, 0)
    }
}

/// Turns decoded text, chunk by chunk, into text.txt's bytes: CRLF and lone CR become LF (a
/// CR at a chunk's end waits for the next chunk's first byte); counts the lines and feeds
/// each to the Markdown outline when asked to.
struct LineSplitter {
    private(set) var lineCount = 0
    private(set) var outline = MarkdownOutline.LineScanner()
    private let wantsOutline: Bool
    private var pendingCR = false
    private var line: [UInt8] = []
    /// Whether the last byte written was not a line end (a last line without one counts).
    private var openLine = false

    init(outline: Bool) { wantsOutline = outline }

    /// text.txt's bytes for `text`; `final` ends a pending CR and a last line without a newline.
    mutating func take(_ text: String, final: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 1)
        for byte in text.utf8 {
            if pendingCR {
                pendingCR = false
                endLine(&out)
                if byte == 0x0A { continue }
            }
            if byte == 0x0D { pendingCR = true; continue }
            if byte == 0x0A { endLine(&out); continue }
            out.append(byte)
            openLine = true
            if wantsOutline && line.count < TextProcessor.maxLineBytes { line.append(byte) }
        }
        if final {
            if pendingCR { pendingCR = false; endLine(&out) }
            if openLine {
                lineCount += 1
                openLine = false
                if wantsOutline { outline.feed(lineText()) }
            }
        }
        return out
    }

    private mutating func endLine(_ out: inout [UInt8]) {
        out.append(0x0A)
        lineCount += 1
        openLine = false
        if wantsOutline { outline.feed(lineText()) }
        line.removeAll(keepingCapacity: true)
    }

    /// The kept start of the current line, cut back to a whole character.
    private func lineText() -> String {
        String(decoding: line[0..<completeUTF8Prefix(line)], as: UTF8.self)
    }
}
