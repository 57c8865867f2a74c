import DepotCore
import DepotQueue
import DepotStore
import Foundation

/// Everything a document's manifest says, read from the catalog in one read transaction so
/// that the versions, artifacts, tags and jobs agree with each other.
struct DocumentSnapshot {
    var document: DocumentInfo
    var versions: [VersionInfo]
    var artifacts: [ArtifactInfo]
    var jobs: [Job]
    var status: ProcessingStatus

    var current: VersionInfo? { versions.first { $0.number == document.currentVersion } }

    static func load(documentID: Int64, catalog: Catalog, queue: JobQueue) throws -> DocumentSnapshot? {
        try catalog.database.read { tx in
            guard let document = try catalog.document(id: documentID, in: tx) else { return nil }
            let versions = try catalog.versions(ofDocument: documentID, in: tx) ?? []
            let current = document.currentVersionID
            let jobs = try queue.jobs(versionID: current, in: tx)
            return DocumentSnapshot(document: document, versions: versions,
                                    artifacts: try catalog.artifacts(versionID: current, in: tx), jobs: jobs,
                                    status: try queue.status(versionIDs: [current], in: tx)[current] ?? .none)
        }
    }
}

/// manifest.json: a pure function of the catalog's state (no "published at"), so publishing
/// twice, or `depot outbox rebuild`, gives the same bytes.
struct Manifest: Encodable {
    struct Document: Encodable {
        var id: Int64
        var collection: String
        var path: String
        var tags: [String]
        var createdAt: Timestamp
        var updatedAt: Timestamp

        enum CodingKeys: String, CodingKey {
            case id, collection, path, tags
            case createdAt = "created_at", updatedAt = "updated_at"
        }
    }

    struct CurrentVersion: Encodable {
        var id: Int64
        var number: Int
        var sha256: Digest
        var size: Int64
        var origin: String
        var mediaType: String?
        var ingestedAt: Timestamp
        var sourceMtime: Timestamp

        enum CodingKeys: String, CodingKey {
            case id, number, sha256, size, origin
            case mediaType = "media_type", ingestedAt = "ingested_at", sourceMtime = "source_mtime"
        }
    }

    struct Version: Encodable {
        var number: Int
        var sha256: Digest
        var size: Int64
        var ingestedAt: Timestamp

        enum CodingKeys: String, CodingKey {
            case number, sha256, size
            case ingestedAt = "ingested_at"
        }
    }

    /// One artifact of the current version, as the API lists it, with its file in the
    /// folder: `file` is null (and `missing` true) when its blob is not in the store, or its
    /// kind is no plain file name.
    struct Artifact: Encodable {
        var record: ArtifactRecord
        var file: String?
        var missing: Bool?

        init(_ a: ArtifactInfo) { record = ArtifactRecord(a) }

        enum CodingKeys: String, CodingKey { case file, missing }

        func encode(to encoder: Encoder) throws {
            try record.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(file, forKey: .file)
            try c.encodeIfPresent(missing, forKey: .missing)
        }
    }

    struct JobEntry: Encodable {
        var id: Int64
        var kind: String
        var state: JobState
        var processor: String?
        var outcome: String?
        /// The job's last word about what it made or why it made nothing ("no transcript: …",
        /// "HEIC images need FFmpeg 6.1 …"); nil while none.
        var message: String?
        var error: String?
    }

    struct Processing: Encodable {
        var status: ProcessingStatus
        var jobs: [JobEntry]
    }

    var manifestVersion = 1
    var document: Document
    var currentVersion: CurrentVersion?
    var versions: [Version]
    var artifacts: [Artifact]
    var processing: Processing

    enum CodingKeys: String, CodingKey {
        case document, versions, artifacts, processing
        case manifestVersion = "manifest_version", currentVersion = "current_version"
    }

    init(_ doc: DocumentSnapshot, artifacts: [Artifact]) {
        let d = doc.document
        document = Document(id: d.id, collection: d.collection, path: d.path, tags: d.tags,
                            createdAt: Timestamp(nanoseconds: d.createdAtNanoseconds),
                            updatedAt: Timestamp(nanoseconds: d.updatedAtNanoseconds))
        currentVersion = doc.current.map { v in
            CurrentVersion(id: v.id, number: v.number, sha256: v.digest, size: v.size, origin: v.origin, mediaType: v.mediaType,
                           ingestedAt: Timestamp(nanoseconds: v.ingestedAtNanoseconds),
                           sourceMtime: Timestamp(nanoseconds: v.sourceMtimeNanoseconds))
        }
        versions = doc.versions.map { Version(number: $0.number, sha256: $0.digest, size: $0.size,
                                              ingestedAt: Timestamp(nanoseconds: $0.ingestedAtNanoseconds)) }
        self.artifacts = artifacts
        processing = Processing(status: doc.status, jobs: doc.jobs.map {
            JobEntry(id: $0.id, kind: $0.kind, state: $0.state, processor: $0.processor, outcome: $0.outcome,
                     message: $0.state.isFinished ? $0.progressMessage : nil, error: $0.state == .succeeded ? nil : $0.lastError)
        })
    }

    /// Pretty, sorted JSON with a final newline.
    func bytes() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [0x0A]
    }
}
