import DepotCore
import Foundation

/// A processor for document media types whose work is bounded by `DocumentLimits`: it runs
/// with its limits, the job's parameters of its kind put in their place.
public protocol DocumentProcessor: Processor {
    var limits: DocumentLimits { get }
    /// Does the job with `limits`: this processor's own, with the job's parameters applied.
    func process(_ input: ProcessorInput, limits: DocumentLimits) throws -> [ProducedArtifact]
}

extension DocumentProcessor {
    public func process(_ input: ProcessorInput) throws -> [ProducedArtifact] {
        try process(input, limits: limits.applying(input.parameters, kind: kind))
    }
}

/// An extract processor for one document media type whose work is its static `extract`, which
/// tests and benchmarks call directly too: it writes metadata.json, text.txt and a
/// structure.json of its own `structureSchema`.
public protocol DocumentExtractor: DocumentProcessor {
    static var mediaType: String { get }
    /// The `schema` its structure.json names; docs/schemas has a JSON Schema for each.
    static var structureSchema: String { get }
    static func extract(from path: String, into outputDirectory: String, limits: DocumentLimits,
                        producer: String, version: String, progress: (Int, String) -> Void) throws -> [ProducedArtifact]
}

extension DocumentExtractor {
    public var artifactKinds: [String: String] { ArtifactWriter.documentKinds }

    public func process(_ input: ProcessorInput, limits: DocumentLimits) throws -> [ProducedArtifact] {
        try Self.extract(from: input.path, into: input.outputDirectory, limits: limits, producer: name, version: version,
                         progress: input.progress)
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
    /// PDF: pages whose text is extracted; later pages are counted but not read. An extract
    /// job's `max_pages` takes its place.
    public var maxTextPages = 2_000
    /// PDF: outline entries kept, and their deepest nesting.
    public var maxOutlineEntries = 10_000
    /// Entries nested deeper are kept as siblings at this depth (`PDFOutlineIterator`).
    public var maxOutlineDepth = 64
    /// PDF: structure-tree elements visited for headings (tagged PDFs), and headings kept.
    public var maxStructureElements = 1_000_000
    public var maxStructureHeadings = 10_000
    /// PDF: form-field values and FreeText contents listed in structure.json's `annotations`.
    public var maxStructureAnnotations = 10_000
    /// PDF: embedded files whose type is detected from their bytes (larger and later ones are
    /// listed with name and size only).
    public var maxAttachmentBytes = 64 << 20
    public var maxAttachments = 100
    /// PDF: embedded files within `maxAttachmentBytes` are stored as artifacts
    /// ("attachment-N.ext") until together they pass this; later ones are only listed.
    public var maxStoredAttachmentBytes = 256 << 20
    /// PPTX: slides read.
    public var maxSlides = 5_000
    /// Thumbnail width in pixels. A thumbnail job's `width` takes its place.
    public var thumbnailWidth = 320

    public init() {}

    /// These limits with a job's parameters of `kind` in place of their defaults: `max_pages`
    /// (extract) and `width` (thumbnail); a parameter that is missing keeps the default.
    ///
    /// The queue checked the values already (DepotQueue's `JobKinds`); they are checked again
    /// here, with the same ranges, because a worker must not trust its input to stay within
    /// what a renderer can take (cairo makes no 0-pixel or 100 000-pixel-wide surface).
    /// - Throws: `DocumentError` for a value of the wrong type or out of range (permanent).
    public func applying(_ parameters: [String: ParameterValue], kind: String) throws -> DocumentLimits {
        var limits = self
        switch kind {
        case ProcessorKind.extract:
            if let pages = try Self.integer("max_pages", in: parameters, 1...1_000_000) { limits.maxTextPages = pages }
        case ProcessorKind.thumbnail:
            if let width = try Self.integer("width", in: parameters, 16...2048) { limits.thumbnailWidth = width }
        default:
            break
        }
        return limits
    }

    private static func integer(_ name: String, in parameters: [String: ParameterValue], _ range: ClosedRange<Int>) throws -> Int? {
        guard let value = parameters[name] else { return nil }
        guard let number = value.intValue, range.contains(number) else {
            throw DocumentError("parameter \(name) must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value)")
        }
        return number
    }
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
    /// What the document extractors write (`writeJSON` and `writeText`).
    static let documentKinds = [
        "metadata.json": "application/json", "text.txt": "text/plain; charset=utf-8", "structure.json": "application/json",
    ]

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

    /// A file written in pieces by `body` (text too large to hold whole), recorded once done.
    mutating func writeStreaming(_ file: String, mimeType: String, _ body: (NewFile) throws -> Void) throws {
        try body(try NewFile(path: directory + "/" + file))
        produced.append(ProducedArtifact(kind: file, mimeType: mimeType, file: file,
                                         producer: producer, producerVersion: version))
    }

    /// Records a file that something else (a C library) wrote into the folder as `file`.
    mutating func adopt(_ file: String, mimeType: String) {
        produced.append(ProducedArtifact(kind: file, mimeType: mimeType, file: file, producer: producer, producerVersion: version))
    }

    mutating func writeText(_ text: String) throws {
        try write("text.txt", mimeType: "text/plain; charset=utf-8", bytes: Array(text.utf8))
    }

    mutating func writeJSON(_ file: String, _ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object,
                                              options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        try write(file, mimeType: "application/json", bytes: Array(data) + [0x0A])
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

/// A date in depot's one form (RFC 3339, UTC; `formatTimestamp`).
func isoDate(_ seconds: Int) -> String {
    formatTimestamp(Int64(seconds) * 1_000_000_000)
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
