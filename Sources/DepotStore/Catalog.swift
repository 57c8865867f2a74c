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

    public init(collection: String, path: String, digest: Digest, size: Int64,
                sourceMtimeNanoseconds: Int64, origin: String, tags: [String]) {
        self.collection = collection
        self.path = path
        self.digest = digest
        self.size = size
        self.sourceMtimeNanoseconds = sourceMtimeNanoseconds
        self.origin = origin
        self.tags = tags
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
}

/// A document: a collection and a path, with its current version.
public struct DocumentInfo: Sendable, Equatable {
    public var id: Int64
    public var collection: String
    public var path: String
    public var currentVersion: Int
    public var versionCount: Int
    public var digest: Digest
    public var size: Int64
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
}

/// Totals over the catalog.
public struct CatalogStats: Sendable, Equatable {
    public var collections: Int
    public var documents: Int
    public var versions: Int
    public var blobs: Int
    /// The sum of every version's size: what the files would take without dedup.
    public var logicalBytes: Int64
    /// The sum of distinct blobs' sizes: what the store holds.
    public var storedBytes: Int64
}

/// The catalog: collections, documents, versions, blobs and tags. SQLite is the first
/// implementation; PostgreSQL can follow behind the same protocol.
public protocol Catalog: AnyObject, Sendable {
    /// Records stored files in one transaction: all of them or none.
    func record(_ records: [IngestRecord]) throws -> [RecordOutcome]
    func currentVersion(collection: String, path: String) throws -> VersionInfo?
    /// A document's versions, oldest first.
    func versions(collection: String, path: String) throws -> [VersionInfo]
    /// A version by number, or the current one when `number` is nil.
    func version(collection: String, path: String, number: Int?) throws -> VersionInfo?
    /// Documents, ordered by collection and path; all collections when nil.
    func documents(collection: String?) throws -> [DocumentInfo]
    func collectionNames() throws -> [String]
    /// Every blob the catalog knows, with its recorded size.
    func blobs() throws -> [(digest: Digest, size: Int64)]
    func stats() throws -> CatalogStats
}
