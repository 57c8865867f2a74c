import DepotCore
import DepotStore

/// A document as people and programs see it (`depot ls --json`, `/api/v1/documents`): the
/// store's document with the queue's processing status of its current version.
public struct DocumentRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var collection: String
    public var path: String
    public var currentVersion: Int
    public var currentVersionID: Int64
    public var versionCount: Int
    public var sha256: Digest
    public var size: Int64
    public var tags: [String]
    /// The file extension, lowercased; "" without one.
    public var type: String
    @Nullable public var mediaType: String?
    public var processingStatus: ProcessingStatus
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(_ d: DocumentInfo, status: ProcessingStatus) {
        id = d.id
        collection = d.collection
        path = d.path
        currentVersion = d.currentVersion
        currentVersionID = d.currentVersionID
        versionCount = d.versionCount
        sha256 = d.digest
        size = d.size
        tags = d.tags
        type = fileType(d.path)
        mediaType = d.mediaType
        processingStatus = status
        createdAt = Timestamp(nanoseconds: d.createdAtNanoseconds)
        updatedAt = Timestamp(nanoseconds: d.updatedAtNanoseconds)
    }

    enum CodingKeys: String, CodingKey {
        case id, collection, path, sha256, size, tags, type
        case currentVersion = "current_version", currentVersionID = "current_version_id", versionCount = "version_count"
        case mediaType = "media_type", processingStatus = "processing_status", createdAt = "created_at", updatedAt = "updated_at"
    }
}

/// Totals of the catalog and the queue (`/api/v1/stats`; `/metrics` reads the same figures).
public struct StatsRecord: Codable, Sendable, Equatable {
    public var collections: Int
    public var documents: Int
    public var versions: Int
    public var blobs: Int
    public var logicalBytes: Int64
    public var storedBytes: Int64
    public var dedupRatio: Double
    public var byType: [TypeTotals]
    /// Jobs per state, every state present.
    public var queue: [String: Int]
    /// How the store's bytes are used (the store's `StorageUsage`, which the figures above repeat).
    public var storage: StorageUsage

    enum CodingKeys: String, CodingKey {
        case collections, documents, versions, blobs, queue, storage
        case logicalBytes = "logical_bytes", storedBytes = "stored_bytes", dedupRatio = "dedup_ratio", byType = "by_type"
    }
}

extension JobQueue {
    /// Documents as `query` selects them, each with its processing status, in one read.
    public func documentRecords(_ query: DocumentQuery) throws -> [DocumentRecord] {
        try database.read { tx in
            let documents = try catalog.documents(query, in: tx)
            let statuses = try status(versionIDs: documents.map(\.currentVersionID), in: tx)
            return documents.map { DocumentRecord($0, status: statuses[$0.currentVersionID] ?? .none) }
        }
    }

    public func documentRecord(id: Int64) throws -> DocumentRecord? {
        try database.read { tx in
            guard let d = try catalog.document(id: id, in: tx) else { return nil }
            return DocumentRecord(d, status: try status(versionIDs: [d.currentVersionID], in: tx)[d.currentVersionID] ?? .none)
        }
    }

    /// The totals: the catalog's and the store's usage, with the queue's depth by state.
    public func stats(store: (any BlobStore)? = nil) throws -> StatsRecord {
        let s = try catalog.stats(byType: true)
        let usage = try catalog.storageUsage(store: store)
        let counts = try self.counts()
        return StatsRecord(collections: s.collections, documents: usage.documents, versions: usage.versions, blobs: usage.storedBlobs,
                           logicalBytes: usage.logicalBytes, storedBytes: usage.storedBytes, dedupRatio: usage.dedupRatio,
                           byType: s.byType,
                           queue: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }), storage: usage)
    }
}
