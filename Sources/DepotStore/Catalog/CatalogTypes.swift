import DepotCore

/// One stored file to record: what the ingest learnt about it.
public struct IngestRecord: Sendable, Equatable {
    public var collection: String
    /// Path inside the collection ("physics/week1/a.mp4").
    public var path: String
    public var digest: Digest
    public var size: Int64
    public var sourceMtimeNanoseconds: Int64
    /// Where it came from: "inbox" (consume), "mirror", or "import:<source path>".
    public var origin: String
    public var tags: [String]
    /// The type detected from the bytes before the commit (nil: not detected).
    public var mediaType: String?

    public init(collection: String, path: String, digest: Digest, size: Int64,
                sourceMtimeNanoseconds: Int64, origin: String, tags: [String], mediaType: String? = nil) {
        self.collection = collection
        self.path = path
        self.digest = digest
        self.size = size
        self.sourceMtimeNanoseconds = sourceMtimeNanoseconds
        self.origin = origin
        self.tags = tags
        self.mediaType = mediaType
    }
}

/// One version of one document.
public struct VersionInfo: Sendable, Equatable {
    public var collection: String
    public var path: String
    public var documentID: Int64
    public var id: Int64
    public var number: Int
    public var digest: Digest
    public var size: Int64
    public var sourceMtimeNanoseconds: Int64
    public var ingestedAtNanoseconds: Int64
    public var origin: String
    /// The type detected from its bytes at ingest ("application/pdf"); nil for versions
    /// stored before depot recorded it.
    public var mediaType: String?
    /// How many artifacts processors made from it.
    public var artifactCount: Int = 0
    /// When it (or its document) went to the trash; nil while it is live.
    public var trashedAtNanoseconds: Int64? = nil
}

/// A document: a collection and a path, with its current version.
public struct DocumentInfo: Sendable, Equatable {
    public var id: Int64
    public var collection: String
    public var path: String
    public var currentVersion: Int
    public var currentVersionID: Int64
    public var versionCount: Int
    public var digest: Digest
    public var size: Int64
    public var mediaType: String?
    public var createdAtNanoseconds: Int64
    public var updatedAtNanoseconds: Int64
    public var tags: [String]
}

/// What recording a stored file did.
public enum RecordOutcome: Sendable, Equatable {
    /// A document that did not exist, at version 1.
    case created(VersionInfo)
    /// A new version of an existing document (the bytes differ from its current version).
    case versioned(VersionInfo)
    /// The same bytes as the current version: nothing new.
    case unchanged(VersionInfo)

    public var version: VersionInfo {
        switch self {
        case .created(let v), .versioned(let v), .unchanged(let v): return v
        }
    }

    /// "created", "versioned" or "unchanged" (the ingest metric's label).
    public var label: String {
        switch self {
        case .created: return "created"
        case .versioned: return "versioned"
        case .unchanged: return "unchanged"
        }
    }

    /// "new document", "new version" or "unchanged", as the log says it.
    public var summary: String {
        switch self {
        case .created: return "new document"
        case .versioned: return "new version"
        case .unchanged: return "unchanged"
        }
    }
}

/// Totals over the catalog.
public struct CatalogStats: Sendable, Equatable {
    public var collections: Int
    public var documents: Int
    public var versions: Int
    /// Distinct original blobs (those of versions; artifacts apart).
    public var blobs: Int
    /// The sum of every live version's size: what the files would take without dedup.
    public var logicalBytes: Int64
    /// The sum of distinct original blobs' sizes: what the files take.
    public var storedBytes: Int64
    /// The sum of distinct blobs only artifacts use.
    public var artifactBytes: Int64
    /// Per file type (the extension, lowercased; "" without one).
    public var byType: [TypeTotals]
}

/// Documents, versions and bytes of one file type.
public struct TypeTotals: Sendable, Equatable, Codable {
    public var type: String
    public var documents: Int
    public var versions: Int
    public var logicalBytes: Int64

    enum CodingKeys: String, CodingKey {
        case type, documents, versions
        case logicalBytes = "logical_bytes"
    }
}

/// The versions and artifacts whose bytes are one blob.
public struct BlobUses: Sendable {
    public var versions: [VersionInfo]
    /// Each artifact with the version it was made from.
    public var artifacts: [(artifact: ArtifactInfo, of: VersionInfo)]

    public var isEmpty: Bool { versions.isEmpty && artifacts.isEmpty }
}

/// A set of version ids described by the module that owns the rows it comes from (the job
/// queue's processing status): a subquery with its values, which the store's document
/// listing embeds as `v.id IN (…)` (or `NOT IN`). Each owner writes SQL for its own tables only.
public struct VersionSet: Sendable {
    public let sql: String
    public let values: [SQLValue]
    /// True: the versions *not* in the subquery.
    public let negated: Bool

    public init(sql: String, values: [SQLValue], negated: Bool = false) {
        self.sql = sql
        self.values = values
        self.negated = negated
    }
}

/// Which documents a listing returns.
public struct DocumentQuery: Sendable {
    public var collection: String?
    public var tag: String?
    /// A file extension, lowercased ("pdf").
    public var fileType: String?
    /// Only documents whose path begins with this (case matters).
    public var pathPrefix: String?
    /// Only documents whose current version is in this set.
    public var currentVersionIn: VersionSet?
    public var limit: Int?
    public var offset: Int = 0
    /// By id (the API's stable paging order) or by collection and path (`depot ls`).
    public var orderByPath = false

    public init(collection: String? = nil, tag: String? = nil, fileType: String? = nil, pathPrefix: String? = nil,
                currentVersionIn: VersionSet? = nil, limit: Int? = nil, offset: Int = 0, orderByPath: Bool = false) {
        self.pathPrefix = pathPrefix
        self.collection = collection
        self.tag = tag
        self.fileType = fileType
        self.currentVersionIn = currentVersionIn
        self.limit = limit
        self.offset = offset
        self.orderByPath = orderByPath
    }
}

/// What a version or an artifact id points at, as a download serves it.
public struct StoredFile: Sendable, Equatable {
    public var digest: Digest
    public var size: Int64
    /// The name a download saves it as ("report.pdf", "report.pdf.text.txt").
    public var fileName: String
    public var collection: String
    public var path: String
    public var documentID: Int64
    public var versionID: Int64
    /// The artifact's MIME type (nil for an original: the name's extension decides).
    public var mimeType: String?
    public var modifiedAtNanoseconds: Int64
}

/// A document's type as listings filter it: its file extension, lowercased ("pdf"); "" without one.
public func fileType(_ path: String) -> String {
    let name = baseName(path)
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
    return name[name.index(after: dot)...].lowercased()
}
