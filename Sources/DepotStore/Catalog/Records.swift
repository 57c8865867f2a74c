import DepotCore

/// A version as people and programs see it (`depot log --json`, `/api/v1/documents/{id}/versions`).
public struct VersionRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var documentID: Int64
    public var number: Int
    public var sha256: Digest
    public var size: Int64
    @Nullable public var mediaType: String?
    public var sourceMtime: Timestamp
    public var ingestedAt: Timestamp
    public var origin: String
    public var artifactCount: Int

    public init(_ v: VersionInfo) {
        id = v.id
        documentID = v.documentID
        number = v.number
        sha256 = v.digest
        size = v.size
        mediaType = v.mediaType
        sourceMtime = Timestamp(nanoseconds: v.sourceMtimeNanoseconds)
        ingestedAt = Timestamp(nanoseconds: v.ingestedAtNanoseconds)
        origin = v.origin
        artifactCount = v.artifactCount
    }

    enum CodingKeys: String, CodingKey {
        case id, number, sha256, size, origin
        case documentID = "document_id", mediaType = "media_type", sourceMtime = "source_mtime"
        case ingestedAt = "ingested_at", artifactCount = "artifact_count"
    }
}

/// An artifact as people and programs see it (`depot jobs show --json`, `/api/v1/versions/{id}/artifacts`).
public struct ArtifactRecord: Codable, Sendable, Equatable {
    public var id: Int64
    public var versionID: Int64
    public var kind: String
    public var mimeType: String
    public var sha256: Digest
    public var size: Int64
    public var producer: String
    public var producerVersion: String
    public var createdAt: Timestamp

    public init(_ a: ArtifactInfo) {
        id = a.id
        versionID = a.versionID
        kind = a.kind
        mimeType = a.mimeType
        sha256 = a.digest
        size = a.size
        producer = a.producer
        producerVersion = a.producerVersion
        createdAt = Timestamp(nanoseconds: a.createdAtNanoseconds)
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, sha256, size, producer
        case versionID = "version_id", mimeType = "mime_type", producerVersion = "producer_version", createdAt = "created_at"
    }
}

/// A list as the API pages it: `next_offset` is null at the end.
public struct Page<Item: Encodable & Sendable>: Encodable, Sendable {
    public var items: [Item]
    @Nullable public var nextOffset: Int?

    public init(items: [Item], nextOffset: Int?) {
        self.items = items
        self.nextOffset = nextOffset
    }

    enum CodingKeys: String, CodingKey {
        case items
        case nextOffset = "next_offset"
    }
}
