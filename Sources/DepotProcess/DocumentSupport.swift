import DepotCore
import Foundation

/// A processor for one document media type whose work is its static `extract` (which
/// `depot extract` and the benchmarks call directly too): it scores that type and runs
/// `extract` with its limits into the job's folder.
public protocol DocumentProcessor: Processor {
    static var mediaType: String { get }
    var limits: DocumentLimits { get }
    static func extract(from path: String, into outputDirectory: String, limits: DocumentLimits,
                        producer: String, version: String, progress: (Int, String) -> Void) throws -> [ProducedArtifact]
}

extension DocumentProcessor {
    public func score(mediaType: String, head: [UInt8]) -> Int {
        mediaType == Self.mediaType ? 20 : 0
    }

    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        try Self.extract(from: input.path, into: input.outputDirectory, limits: limits,
                         producer: name, version: version, progress: input.progress)
    }
}

/// Bounds on what one document may cost to read. Hostile files (zip bombs, billion laughs,
/// endless outlines) hit one of these and fail with a specific error instead of eating the
/// worker's memory; the worker's own time and memory limits still hold for everything else.
public struct DocumentLimits: Sendable, Equatable {
    /// ZIP: most entries a package may list.
    public var maxZipEntries = 10_000
    /// ZIP: most bytes one entry may inflate to (declared and counted).
    public var maxEntryBytes: Int64 = 128 << 20
    /// ZIP: most bytes all entries read from one package may inflate to.
    public var maxTotalBytes: Int64 = 512 << 20
    /// ZIP: most inflated bytes per compressed byte.
    public var maxCompressionRatio: Int64 = 100
    /// ZIP: below this many inflated bytes the ratio is not checked (a small, very regular
    /// XML part legitimately compresses better than 100:1, and costs nothing).
    public var ratioFloorBytes: Int64 = 1 << 20
    /// XML: deepest element nesting (libxml2's own hard cap is 256).
    public var maxXMLDepth = 128
    /// XML and output: most characters of text kept from one document.
    public var maxTextBytes = 64 << 20
    /// PDF: pages whose text is extracted; later pages are counted but not read.
    public var maxTextPages = 2_000
    /// PDF: outline entries kept, and their deepest nesting.
    public var maxOutlineEntries = 10_000
    public var maxOutlineDepth = 32
    /// PPTX: slides read.
    public var maxSlides = 5_000
    /// Thumbnail width in pixels.
    public var thumbnailWidth = 320

    public init() {}
}

/// Why a document could not be read: one specific, human-readable reason, which is what the
/// job records ("not a DOCX: missing word/document.xml").
public struct DocumentError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Writes the artifacts of one document processor into its output folder.
struct ArtifactWriter {
    let directory: String
    let producer: String
    let version: String
    private(set) var produced: [ProducedArtifact] = []

    init(directory: String, producer: String, version: String) {
        self.directory = directory
        self.producer = producer
        self.version = version
    }

    mutating func write(_ file: String, mimeType: String, bytes: [UInt8]) throws {
        try writeFile(directory + "/" + file, bytes)
        produced.append(ProducedArtifact(kind: file, mimeType: mimeType, file: file,
                                         producer: producer, producerVersion: version))
    }

    mutating func writeText(_ text: String) throws {
        try write("text.txt", mimeType: "text/plain; charset=utf-8", bytes: Array(text.utf8))
    }

    mutating func writeJSON(_ file: String, _ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object,
                                              options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        try write(file, mimeType: "application/json", bytes: Array(data) + [0x0A])
    }

    /// Records a file that was written by someone else (cairo's PNG writer).
    mutating func adopt(_ file: String, mimeType: String) {
        produced.append(ProducedArtifact(kind: file, mimeType: mimeType, file: file,
                                         producer: producer, producerVersion: version))
    }

    /// A thumbnail taken as it is from the package: kept only when it is a JPEG or a PNG
    /// (Office also writes WMF/EMF thumbnails, which nothing downstream can show).
    mutating func writeThumbnail(_ bytes: [UInt8]) throws -> Bool {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            try write("thumbnail.jpg", mimeType: "image/jpeg", bytes: bytes)
            return true
        }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            try write("thumbnail.png", mimeType: "image/png", bytes: bytes)
            return true
        }
        return false
    }
}

/// Accumulates extracted text up to a cap, so that a document made of millions of tiny
/// runs cannot grow the output past `DocumentLimits.maxTextBytes`.
struct TextBudget {
    let limit: Int
    private(set) var used = 0

    init(limit: Int) { self.limit = limit }

    mutating func take(_ text: String) throws {
        used += text.utf8.count
        if used > limit { throw DocumentError("text exceeds \(limit) bytes") }
    }
}

/// ISO 8601 in UTC, the form every date in depot's JSON takes.
func isoDate(_ seconds: Int) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}

/// "lastModifiedBy" → "last_modified_by", for JSON keys taken from OOXML element names.
func snakeCase(_ name: String) -> String {
    var out = ""
    for character in name {
        if character.isUppercase {
            if !out.isEmpty { out.append("_") }
            out.append(contentsOf: character.lowercased())
        } else {
            out.append(character)
        }
    }
    return out
}
