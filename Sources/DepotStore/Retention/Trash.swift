import DepotCore
import Synchronization

/// Something in the trash: a whole document (`version` nil) or one version of a document
/// that is still live.
public struct TrashEntry: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case document, version }
    public var kind: Kind
    public var documentID: Int64
    public var collection: String
    public var path: String
    /// The version's number (nil for a whole document).
    public var version: Int?
    public var versionID: Int64?
    /// The versions it holds (1 for a version).
    public var versions: Int
    /// The sum of their sizes.
    public var bytes: Int64
    public var trashedAt: Timestamp
    /// When the trash purges it unless it is restored.
    public var expiresAt: Timestamp

    enum CodingKeys: String, CodingKey {
        case kind, collection, path, version, versions, bytes
        case documentID = "document_id", versionID = "version_id", trashedAt = "trashed_at", expiresAt = "expires_at"
    }

    /// A whole document's `version` and `version_id` are null, not left out: one shape for both kinds.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(documentID, forKey: .documentID)
        try c.encode(collection, forKey: .collection)
        try c.encode(path, forKey: .path)
        try c.encode(version, forKey: .version)
        try c.encode(versionID, forKey: .versionID)
        try c.encode(versions, forKey: .versions)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(trashedAt, forKey: .trashedAt)
        try c.encode(expiresAt, forKey: .expiresAt)
    }

    /// "lectures/a.pdf" or "lectures/a.pdf version 2".
    public var name: String { collection + "/" + path + (version.map { " version \($0)" } ?? "") }
}

/// Why a removal or a restore was refused.
public struct TrashError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case notFound
        case onlyVersion
        case notInTrash
        case refused
    }

    public let value: Value
    public let message: String

    public static func notFound(_ m: String) -> Self { .init(value: .notFound, message: m) }
    public static func onlyVersion(_ m: String) -> Self { .init(value: .onlyVersion, message: m) }
    public static func notInTrash(_ m: String) -> Self { .init(value: .notInTrash, message: m) }
    /// A pin or a legal hold keeps it.
    public static func refused(_ m: String) -> Self { .init(value: .refused, message: m) }

    public var description: String { message }
}

/// What a purge of the trash removed for good.
public struct PurgeReport: Sendable, Equatable, Codable {
    public var documents = 0
    public var versions = 0
    /// The bytes of the purged versions (their blobs go at the next GC once nothing else uses them).
    public var bytes: Int64 = 0
    /// Entries a legal hold keeps in the trash.
    public var held = 0

    public init() {}
}

/// Decides whether a document or a version may be removed (pins and legal holds): nil allows
/// it, a message refuses it. Set by whoever keeps those rules; runs inside the removal's transaction.
public typealias DeletionGuard = @Sendable (_ documentID: Int64, _ versionID: Int64?, _ tx: any CatalogTransaction) throws -> String?

extension Catalog {
    // MARK: - Removing

    /// Moves a document (`version` nil) or one of its versions to the trash, with an event,
    /// in one transaction. The document's current version becomes its newest live one.
    /// - Throws: `TrashError` when there is no such live document or version, when the version
    ///   is the document's only live one (remove the document instead), or when a guard refuses.
    @discardableResult
    public func trash(collection: String, path: String, version number: Int?, trashDays: Int,
                      guard deletionGuard: DeletionGuard = Catalog.pinsAndHolds(bypassGovernance: false)) throws -> TrashEntry {
        try database.write { tx in
            guard let doc = try tx.query("""
                SELECT d.id FROM documents d JOIN collections c ON c.id = d.collection_id
                WHERE c.name = ? AND d.path = ? AND d.trashed_at_ns IS NULL
                """, [.text(collection), .text(path)]).first?.int(0) else {
                throw TrashError.notFound("no document \(collection)/\(path)")
            }
            return try trash(documentID: doc, version: number, trashDays: trashDays, guard: deletionGuard, in: tx)
        }
    }

    /// The same by document id (the API).
    @discardableResult
    public func trash(documentID: Int64, version number: Int?, trashDays: Int, guard deletionGuard: DeletionGuard = Catalog.pinsAndHolds(bypassGovernance: false)) throws -> TrashEntry {
        try database.write { tx in try trash(documentID: documentID, version: number, trashDays: trashDays, guard: deletionGuard, in: tx) }
    }

    func trash(documentID: Int64, version number: Int?, trashDays: Int, guard deletionGuard: DeletionGuard,
               in tx: any CatalogTransaction) throws -> TrashEntry {
        guard let doc = try document(id: documentID, in: tx) else { throw TrashError.notFound("no document \(documentID)") }
        let now = wallClockNanoseconds()
        let live = try tx.query("SELECT id, number, size FROM versions WHERE document_id = ? AND trashed_at_ns IS NULL ORDER BY number",
                                [.integer(documentID)])
        if let number {
            guard let row = live.first(where: { Int($0.int(1)) == number }) else {
                throw TrashError.notFound("no version \(number) of \(doc.collection)/\(doc.path)")
            }
            guard live.count > 1 else {
                throw TrashError.onlyVersion("version \(number) is the only version of \(doc.collection)/\(doc.path): "
                                             + "remove the document instead (without --version)")
            }
            if let refusal = try deletionGuard(documentID, row.int(0), tx) { throw TrashError.refused(refusal) }
            try tx.execute("UPDATE versions SET trashed_at_ns = ? WHERE id = ?", [.integer(now), .integer(row.int(0))])
            try updateCurrentVersion(documentID, now: now, in: tx)
            let entry = TrashEntry(kind: .version, documentID: documentID, collection: doc.collection, path: doc.path,
                                   version: number, versionID: row.int(0), versions: 1, bytes: row.int(2),
                                   trashedAt: Timestamp(nanoseconds: now), expiresAt: Self.expiry(now, trashDays))
            try EventLog.append(DocumentTrashed(entry), in: tx)
            return entry
        }
        if let refusal = try deletionGuard(documentID, nil, tx) { throw TrashError.refused(refusal) }
        try tx.execute("UPDATE documents SET trashed_at_ns = ?, updated_at_ns = ? WHERE id = ?",
                       [.integer(now), .integer(now), .integer(documentID)])
        let entry = TrashEntry(kind: .document, documentID: documentID, collection: doc.collection, path: doc.path,
                               version: nil, versionID: nil, versions: live.count,
                               bytes: live.reduce(0) { $0 + $1.int(2) },
                               trashedAt: Timestamp(nanoseconds: now), expiresAt: Self.expiry(now, trashDays))
        try EventLog.append(DocumentTrashed(entry), in: tx)
        return entry
    }

    static func expiry(_ trashedAt: Int64, _ days: Int) -> Timestamp {
        Timestamp(nanoseconds: trashedAt + Int64(days) * 86_400 * 1_000_000_000)
    }

    /// Points a document at its newest live version.
    func updateCurrentVersion(_ documentID: Int64, now: Int64, in tx: any CatalogTransaction) throws {
        try tx.execute("""
            UPDATE documents SET current_version = (SELECT max(number) FROM versions WHERE document_id = ? AND trashed_at_ns IS NULL),
                updated_at_ns = ? WHERE id = ?
            """, [.integer(documentID), .integer(now), .integer(documentID)])
    }

    // MARK: - Listing and restoring

    /// What the trash holds, oldest first (documents, and versions of live documents).
    public func trashed(trashDays: Int) throws -> [TrashEntry] {
        try database.read { tx in
            let documents = try tx.query("""
                SELECT d.id, c.name, d.path, d.trashed_at_ns,
                       (SELECT count(*) FROM versions v WHERE v.document_id = d.id AND v.trashed_at_ns IS NULL),
                       (SELECT coalesce(sum(size), 0) FROM versions v WHERE v.document_id = d.id AND v.trashed_at_ns IS NULL)
                FROM documents d JOIN collections c ON c.id = d.collection_id WHERE d.trashed_at_ns IS NOT NULL
                """).map { r in
                TrashEntry(kind: .document, documentID: r.int(0), collection: r.text(1), path: r.text(2), version: nil,
                           versionID: nil, versions: Int(r.int(4)), bytes: r.int(5), trashedAt: Timestamp(nanoseconds: r.int(3)),
                           expiresAt: Self.expiry(r.int(3), trashDays))
            }
            let versions = try tx.query("""
                SELECT d.id, c.name, d.path, v.trashed_at_ns, v.number, v.id, v.size
                FROM versions v JOIN documents d ON d.id = v.document_id JOIN collections c ON c.id = d.collection_id
                WHERE v.trashed_at_ns IS NOT NULL
                """).map { r in
                TrashEntry(kind: .version, documentID: r.int(0), collection: r.text(1), path: r.text(2), version: Int(r.int(4)),
                           versionID: r.int(5), versions: 1, bytes: r.int(6), trashedAt: Timestamp(nanoseconds: r.int(3)),
                           expiresAt: Self.expiry(r.int(3), trashDays))
            }
            return (documents + versions).sorted { ($0.trashedAt, $0.documentID, $0.version ?? 0) < ($1.trashedAt, $1.documentID, $1.version ?? 0) }
        }
    }

    /// Takes a document (`version` nil) or a version out of the trash, with an event.
    /// - Throws: `TrashError.notInTrash` when it is not there.
    @discardableResult
    public func restore(collection: String, path: String, version number: Int?, trashDays: Int) throws -> TrashEntry {
        let entries = try trashed(trashDays: trashDays)
        guard let entry = entries.first(where: { $0.collection == collection && $0.path == path && $0.version == number }) else {
            throw TrashError.notInTrash("\(collection)/\(path)\(number.map { " version \($0)" } ?? "") is not in the trash")
        }
        try database.write { tx in
            let now = wallClockNanoseconds()
            if let versionID = entry.versionID {
                try tx.execute("UPDATE versions SET trashed_at_ns = NULL WHERE id = ?", [.integer(versionID)])
                try updateCurrentVersion(entry.documentID, now: now, in: tx)
            } else {
                try tx.execute("UPDATE documents SET trashed_at_ns = NULL, updated_at_ns = ? WHERE id = ?",
                               [.integer(now), .integer(entry.documentID)])
            }
            try EventLog.append(DocumentRestored(entry), in: tx)
        }
        return entry
    }

    // MARK: - Purging

    /// Runs inside every purge transaction with the ids of the versions about to be deleted,
    /// so that the rows other owners keep about them (jobs) go in the same transaction.
    public func onVersionsPurged(_ hook: @escaping @Sendable ([Int64], any CatalogTransaction) throws -> Void) {
        purgeHooks.withLock { $0.append(hook) }
    }

    /// Deletes for good what has been in the trash since before `cutoff` (everything when nil),
    /// with an event per document or version; their blobs are left to the garbage collector.
    @discardableResult
    public func purgeTrash(before cutoff: Int64?, trashDays: Int) throws -> PurgeReport {
        let due = try trashed(trashDays: trashDays).filter { cutoff == nil || $0.trashedAt.nanoseconds < cutoff! }
        var report = PurgeReport()
        // In slices: one transaction per slice keeps the write lock short for the ingest.
        var start = 0
        while start < due.count {
            let slice = Array(due[start..<min(due.count, start + 200)])
            try database.write { tx in
                for entry in slice {
                    let ids: [Int64]
                    if let versionID = entry.versionID {
                        ids = [versionID]
                    } else {
                        ids = try tx.query("SELECT id FROM versions WHERE document_id = ?", [.integer(entry.documentID)]).map { $0.int(0) }
                    }
                    try purgeVersions(ids, in: tx)
                    // A hold placed on it after it went to the trash keeps it there.
                    if try Self.activeHold(documentID: entry.documentID, now: wallClockNanoseconds(), in: tx) != nil {
                        report.held += 1
                        continue
                    }
                    if entry.versionID == nil {
                        try tx.execute("DELETE FROM holds WHERE document_id = ?", [.integer(entry.documentID)])
                        try tx.execute("DELETE FROM document_tags WHERE document_id = ?", [.integer(entry.documentID)])
                        try tx.execute("DELETE FROM documents WHERE id = ?", [.integer(entry.documentID)])
                        report.documents += 1
                    }
                    report.versions += ids.count
                    report.bytes += entry.bytes
                    try EventLog.append(DocumentPurged(entry), in: tx)
                }
            }
            start += slice.count
        }
        return report
    }

    /// Deletes version rows, their artifacts and what other owners keep about them.
    func purgeVersions(_ ids: [Int64], in tx: any CatalogTransaction) throws {
        guard !ids.isEmpty else { return }
        for hook in purgeHooks.withLock({ $0 }) { try hook(ids, tx) }
        let marks = ids.map { _ in "?" }.joined(separator: ",")
        let values = ids.map { SQLValue.integer($0) }
        try UploadRecords.forgetVersions(ids, in: tx)
        try tx.execute("DELETE FROM pins WHERE version_id IN (\(marks))", values)
        try tx.execute("DELETE FROM artifacts WHERE version_id IN (\(marks))", values)
        try tx.execute("DELETE FROM versions WHERE id IN (\(marks))", values)
    }

    /// A document's collection and path, also while it is in the trash (for the outbox to
    /// take its folder down); nil once it is purged.
    public func documentLocation(id: Int64) throws -> (collection: String, path: String, trashed: Bool)? {
        try database.read { tx in
            try tx.query("""
                SELECT c.name, d.path, d.trashed_at_ns IS NOT NULL FROM documents d JOIN collections c ON c.id = d.collection_id
                WHERE d.id = ?
                """, [.integer(id)]).first.map { ($0.text(0), $0.text(1), $0.int(2) != 0) }
        }
    }
}

// MARK: - Events

/// The events of the trash: each carries the entry it is about as its `data`.
public protocol TrashEvent: EventPayload {
    var entry: TrashEntry { get }
}

extension TrashEvent {
    public var documentID: Int64? { entry.documentID }
    public func encode(to encoder: Encoder) throws { try entry.encode(to: encoder) }
}

/// `document.trashed`: a document (`version` null) or a version went to the trash.
public struct DocumentTrashed: TrashEvent, Equatable {
    public static let eventType = "document.trashed"
    public var entry: TrashEntry
    public init(_ entry: TrashEntry) { self.entry = entry }
}

/// `document.restored`: taken out of the trash.
public struct DocumentRestored: TrashEvent, Equatable {
    public static let eventType = "document.restored"
    public var entry: TrashEntry
    public init(_ entry: TrashEntry) { self.entry = entry }
}

/// `document.purged`: deleted from the trash for good.
public struct DocumentPurged: TrashEvent, Equatable {
    public static let eventType = "document.purged"
    public var entry: TrashEntry
    public init(_ entry: TrashEntry) { self.entry = entry }
}
