import DepotCore
import Synchronization

/// The store's tables — collections, documents, versions, tags, blobs, artifacts and the
/// event log — and the only code that holds SQL for them. Every other part of depot reads and
/// changes them through this API, inside a `CatalogTransaction` when its own rows must commit
/// together with them (a version and its jobs, a job's result and its artifacts).
public final class Catalog: Sendable {
    public let database: any CatalogDatabase
    private let hooks = Mutex<[@Sendable (VersionInfo, any CatalogTransaction) throws -> Void]>([])
    /// What runs before versions are purged from the trash (`onVersionsPurged`).
    let purgeHooks = Mutex<[@Sendable ([Int64], any CatalogTransaction) throws -> Void]>([])

    public init(database: any CatalogDatabase) {
        self.database = database
    }

    /// Runs inside every `record` transaction, once per created version, so that what must
    /// follow a new version (its jobs) commits together with it or not at all.
    public func onVersionCreated(_ hook: @escaping @Sendable (VersionInfo, any CatalogTransaction) throws -> Void) {
        hooks.withLock { $0.append(hook) }
    }

    // MARK: - Recording versions

    /// Records stored files in one transaction: all of them or none.
    public func record(_ records: [IngestRecord]) throws -> [RecordOutcome] {
        try database.write { tx in try record(records, in: tx) }
    }

    /// Records stored files inside the caller's transaction.
    public func record(_ records: [IngestRecord], in tx: any CatalogTransaction) throws -> [RecordOutcome] {
        try records.map { try record($0, in: tx) }
    }

    private func record(_ r: IngestRecord, in tx: any CatalogTransaction) throws -> RecordOutcome {
        let now = wallClockNanoseconds()
        let collectionID = try self.collectionID(r.collection, now: now, in: tx)
        let newBlob = try tx.execute("INSERT INTO blobs(digest, size, stored_at_ns) VALUES(?, ?, ?) ON CONFLICT(digest) DO NOTHING",
                                     [.text(r.digest.hex), .integer(r.size), .integer(now)]) > 0
        let existing = try tx.query("""
            SELECT id, current_version, trashed_at_ns, (SELECT max(number) FROM versions WHERE document_id = documents.id)
            FROM documents WHERE collection_id = ? AND path = ?
            """, [.integer(collectionID), .text(r.path)])
        let documentID: Int64
        var number = 1
        var isNewDocument = false
        if let row = existing.first {
            documentID = row.int(0)
            let currentNumber = Int(row.int(1))
            if let trashedAt = row.optionalInt(2) {
                // A file dropped at the path of a document in the trash brings the document
                // back with it as its current version; what was trashed with the document
                // stays in the trash, version by version, until it is restored or purged.
                try tx.execute("UPDATE versions SET trashed_at_ns = ? WHERE document_id = ? AND trashed_at_ns IS NULL",
                               [.integer(trashedAt), .integer(documentID)])
                try tx.execute("UPDATE documents SET trashed_at_ns = NULL WHERE id = ?", [.integer(documentID)])
            } else if let current = try version(documentID: documentID, number: currentNumber, in: tx), current.digest == r.digest {
                try addTags(r.tags, document: documentID, in: tx)
                try EventLog.append(FileStored(current, status: .unchanged), in: tx)
                return .unchanged(current)
            }
            // After the highest number ever given: a version in the trash keeps its number.
            number = Int(row.optionalInt(3) ?? 0) + 1
        } else {
            documentID = try tx.query("""
                INSERT INTO documents(collection_id, path, current_version, created_at_ns, updated_at_ns)
                VALUES(?, ?, 0, ?, ?) RETURNING id
                """, [.integer(collectionID), .text(r.path), .integer(now), .integer(now)])[0].int(0)
            isNewDocument = true
        }
        let versionID = try tx.query("""
            INSERT INTO versions(document_id, number, blob_digest, size, source_mtime_ns, ingested_at_ns, origin, media_type)
            VALUES(?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
            """, [.integer(documentID), .integer(Int64(number)), .text(r.digest.hex), .integer(r.size),
                  .integer(r.sourceMtimeNanoseconds), .integer(now), .text(r.origin), .string(r.mediaType)])[0].int(0)
        try tx.execute("UPDATE documents SET current_version = ?, updated_at_ns = ? WHERE id = ?",
                       [.integer(Int64(number)), .integer(now), .integer(documentID)])
        try addTags(r.tags, document: documentID, in: tx)
        let info = VersionInfo(collection: r.collection, path: r.path, documentID: documentID, id: versionID,
                               number: number, digest: r.digest, size: r.size,
                               sourceMtimeNanoseconds: r.sourceMtimeNanoseconds,
                               ingestedAtNanoseconds: now, origin: r.origin, mediaType: r.mediaType)
        let status: FileStored.Status = isNewDocument ? .newDocument : .newVersion
        var stored = FileStored(info, status: status)
        // A new version whose bytes the store already held: a dedup hit (the analytics count them).
        if !newBlob { stored.deduplicated = true }
        try EventLog.append(stored, in: tx)
        try EventLog.append(VersionCreated(info, status: status), in: tx)
        for hook in hooks.withLock({ $0 }) { try hook(info, tx) }
        return isNewDocument ? .created(info) : .versioned(info)
    }

    private func collectionID(_ name: String, now: Int64, in tx: any CatalogTransaction) throws -> Int64 {
        try tx.execute("INSERT INTO collections(name, created_at_ns) VALUES(?, ?) ON CONFLICT(name) DO NOTHING",
                       [.text(name), .integer(now)])
        return try tx.query("SELECT id FROM collections WHERE name = ?", [.text(name)])[0].int(0)
    }

    // MARK: - Tags

    /// Adds tags to a document (names it has already are kept once).
    public func addTags(_ tags: [String], document id: Int64, in tx: any CatalogTransaction) throws {
        for tag in tags {
            try tx.execute("INSERT INTO tags(name) VALUES(?) ON CONFLICT(name) DO NOTHING", [.text(tag)])
            try tx.execute("""
                INSERT INTO document_tags(document_id, tag_id) SELECT ?, id FROM tags WHERE name = ?
                ON CONFLICT(document_id, tag_id) DO NOTHING
                """, [.integer(id), .text(tag)])
        }
    }

    /// Tags a document by hand (the API): nil when there is no such document. Appends
    /// `document.tagged` with the names that were new.
    public func tag(document id: Int64, adding tags: [String]) throws -> [String]? {
        try database.write { tx in
            guard try documentExists(id, in: tx) else { return nil }
            let before = Set(try self.tags(ofDocument: id, in: tx))
            try addTags(tags, document: id, in: tx)
            let added = tags.filter { !before.contains($0) }
            if !added.isEmpty { try EventLog.append(DocumentTagged(documentID: id, added: added), in: tx) }
            return try self.tags(ofDocument: id, in: tx)
        }
    }

    /// Removes a tag from a document: nil when there is no such document.
    public func untag(document id: Int64, removing tag: String) throws -> [String]? {
        try database.write { tx in
            guard try documentExists(id, in: tx) else { return nil }
            let removed = try tx.execute("""
                DELETE FROM document_tags WHERE document_id = ? AND tag_id = (SELECT id FROM tags WHERE name = ?)
                """, [.integer(id), .text(tag)])
            if removed > 0 { try EventLog.append(DocumentUntagged(documentID: id, removed: [tag]), in: tx) }
            return try self.tags(ofDocument: id, in: tx)
        }
    }

    public func tags(ofDocument id: Int64, in tx: any CatalogTransaction) throws -> [String] {
        try tx.query("""
            SELECT t.name FROM document_tags dt JOIN tags t ON t.id = dt.tag_id WHERE dt.document_id = ? ORDER BY t.name
            """, [.integer(id)]).map { $0.text(0) }
    }

    private func documentExists(_ id: Int64, in tx: any CatalogTransaction) throws -> Bool {
        !(try tx.query("SELECT 1 FROM documents WHERE id = ? AND trashed_at_ns IS NULL", [.integer(id)])).isEmpty
    }

    // MARK: - Versions

    static let versionColumns = """
        v.id, v.document_id, v.number, v.blob_digest, v.size, v.source_mtime_ns, v.ingested_at_ns, v.origin, v.media_type,
        c.name, d.path, (SELECT count(*) FROM artifacts a WHERE a.version_id = v.id), coalesce(v.trashed_at_ns, d.trashed_at_ns)
        """
    static let versionJoins = "FROM versions v JOIN documents d ON d.id = v.document_id JOIN collections c ON c.id = d.collection_id"

    static func versionInfo(_ row: Row) -> VersionInfo {
        VersionInfo(collection: row.text(9), path: row.text(10), documentID: row.int(1), id: row.int(0),
                    number: Int(row.int(2)), digest: Digest(hex: row.text(3)) ?? Digest(bytes: [UInt8](repeating: 0, count: 32)),
                    size: row.int(4), sourceMtimeNanoseconds: row.int(5), ingestedAtNanoseconds: row.int(6), origin: row.text(7),
                    mediaType: row.optionalText(8), artifactCount: Int(row.int(11)), trashedAtNanoseconds: row.optionalInt(12))
    }

    private func version(documentID: Int64, number: Int, in tx: any CatalogTransaction) throws -> VersionInfo? {
        try tx.query("SELECT \(Self.versionColumns) \(Self.versionJoins) WHERE v.document_id = ? AND v.number = ?",
                     [.integer(documentID), .integer(Int64(number))]).first.map(Self.versionInfo)
    }

    public func currentVersion(collection: String, path: String) throws -> VersionInfo? {
        try version(collection: collection, path: path, number: nil)
    }

    /// A version by number, or the current one when `number` is nil.
    public func version(collection: String, path: String, number: Int?) throws -> VersionInfo? {
        try database.read { tx in
            try tx.query("""
                SELECT \(Self.versionColumns) \(Self.versionJoins)
                WHERE c.name = ? AND d.path = ? AND v.number = coalesce(?, d.current_version)
                AND v.trashed_at_ns IS NULL AND d.trashed_at_ns IS NULL
                """, [.text(collection), .text(path), .int(number)]).first.map(Self.versionInfo)
        }
    }

    /// A version by its id.
    public func version(id: Int64, in tx: any CatalogTransaction) throws -> VersionInfo? {
        try tx.query("SELECT \(Self.versionColumns) \(Self.versionJoins) WHERE v.id = ?", [.integer(id)]).first.map(Self.versionInfo)
    }

    public func version(id: Int64) throws -> VersionInfo? {
        try database.read { tx in try version(id: id, in: tx) }
    }

    /// A document's versions, oldest first (those in the trash left out).
    public func versions(collection: String, path: String) throws -> [VersionInfo] {
        try database.read { tx in
            try tx.query("""
                SELECT \(Self.versionColumns) \(Self.versionJoins) WHERE c.name = ? AND d.path = ?
                AND v.trashed_at_ns IS NULL AND d.trashed_at_ns IS NULL ORDER BY v.number
                """,
                         [.text(collection), .text(path)]).map(Self.versionInfo)
        }
    }

    /// A document's versions, oldest first; nil when there is no such document.
    public func versions(ofDocument id: Int64, in tx: any CatalogTransaction) throws -> [VersionInfo]? {
        guard try documentExists(id, in: tx) else { return nil }
        return try tx.query("SELECT \(Self.versionColumns) \(Self.versionJoins) WHERE v.document_id = ? AND v.trashed_at_ns IS NULL ORDER BY v.number",
                            [.integer(id)]).map(Self.versionInfo)
    }

    public func versions(ofDocument id: Int64) throws -> [VersionInfo]? {
        try database.read { tx in try versions(ofDocument: id, in: tx) }
    }

    // MARK: - Documents

    static let documentColumns = """
        d.id, c.name, d.path, d.current_version, v.id, v.blob_digest, v.size, v.media_type, d.created_at_ns, d.updated_at_ns,
        (SELECT count(*) FROM versions vc WHERE vc.document_id = d.id AND vc.trashed_at_ns IS NULL)
        """
    static let documentJoins = """
        FROM documents d JOIN collections c ON c.id = d.collection_id
        JOIN versions v ON v.document_id = d.id AND v.number = d.current_version
        """

    /// Documents with their current version, filtered and paged as `query` says.
    public func documents(_ query: DocumentQuery = DocumentQuery(), in tx: any CatalogTransaction) throws -> [DocumentInfo] {
        var sql = "SELECT \(Self.documentColumns) \(Self.documentJoins) WHERE d.trashed_at_ns IS NULL"
        var values: [SQLValue] = []
        if let collection = query.collection {
            sql += " AND c.name = ?"
            values.append(.text(collection))
        }
        if let tag = query.tag {
            sql += " AND EXISTS(SELECT 1 FROM document_tags dt JOIN tags t ON t.id = dt.tag_id WHERE dt.document_id = d.id AND t.name = ?)"
            values.append(.text(tag))
        }
        if let type = query.fileType {
            sql += " AND lower(d.path) LIKE ?"
            values.append(.text("%." + type))
        }
        if let prefix = query.pathPrefix {
            // substr, not LIKE: LIKE ignores ASCII case in SQLite and not in PostgreSQL, and
            // would read % and _ in a path as wildcards.
            sql += " AND substr(d.path, 1, CAST(? AS INTEGER)) = ?"  // PostgreSQL takes a bound integer as bigint
            values += [.integer(Int64(prefix.unicodeScalars.count)), .text(prefix)]  // both count code points
        }
        if let set = query.currentVersionIn {
            sql += " AND v.id \(set.negated ? "NOT IN" : "IN") (\(set.sql))"
            values += set.values
        }
        sql += query.orderByPath ? " ORDER BY c.name, d.path" : " ORDER BY d.id"
        if let limit = query.limit {
            sql += " LIMIT ? OFFSET ?"
            values += [.integer(Int64(limit)), .integer(Int64(query.offset))]
        }
        let rows = try tx.query(sql, values)
        let tags = try tagsByDocument(rows.map { $0.int(0) }, in: tx)
        return rows.map { row in
            DocumentInfo(id: row.int(0), collection: row.text(1), path: row.text(2), currentVersion: Int(row.int(3)),
                         currentVersionID: row.int(4), versionCount: Int(row.int(10)),
                         digest: Digest(hex: row.text(5)) ?? Digest(bytes: [UInt8](repeating: 0, count: 32)),
                         size: row.int(6), mediaType: row.optionalText(7), createdAtNanoseconds: row.int(8),
                         updatedAtNanoseconds: row.int(9), tags: tags[row.int(0)] ?? [])
        }
    }

    public func documents(_ query: DocumentQuery = DocumentQuery()) throws -> [DocumentInfo] {
        try database.read { tx in try documents(query, in: tx) }
    }

    /// Documents, ordered by collection and path; all collections when nil (`depot ls`).
    public func documents(collection: String?) throws -> [DocumentInfo] {
        try documents(DocumentQuery(collection: collection, orderByPath: true))
    }

    /// One document with its current version.
    public func document(id: Int64, in tx: any CatalogTransaction) throws -> DocumentInfo? {
        guard let row = try tx.query("SELECT \(Self.documentColumns) \(Self.documentJoins) WHERE d.id = ? AND d.trashed_at_ns IS NULL",
                                     [.integer(id)]).first else {
            return nil
        }
        return DocumentInfo(id: row.int(0), collection: row.text(1), path: row.text(2), currentVersion: Int(row.int(3)),
                            currentVersionID: row.int(4), versionCount: Int(row.int(10)),
                            digest: Digest(hex: row.text(5)) ?? Digest(bytes: [UInt8](repeating: 0, count: 32)),
                            size: row.int(6), mediaType: row.optionalText(7), createdAtNanoseconds: row.int(8),
                            updatedAtNanoseconds: row.int(9), tags: try tags(ofDocument: id, in: tx))
    }

    public func document(id: Int64) throws -> DocumentInfo? {
        try database.read { tx in try document(id: id, in: tx) }
    }

    /// Every document id, in order (for `depot outbox rebuild`).
    public func documentIDs() throws -> [Int64] {
        try database.read { tx in try tx.query("SELECT id FROM documents WHERE trashed_at_ns IS NULL ORDER BY id").map { $0.int(0) } }
    }

    /// The document a version belongs to.
    public func documentID(ofVersion id: Int64, in tx: any CatalogTransaction) throws -> Int64? {
        try tx.query("SELECT document_id FROM versions WHERE id = ?", [.integer(id)]).first?.int(0)
    }

    private func tagsByDocument(_ ids: [Int64], in tx: any CatalogTransaction) throws -> [Int64: [String]] {
        guard !ids.isEmpty else { return [:] }
        var result: [Int64: [String]] = [:]
        // In slices: a statement takes a bounded number of values.
        var start = 0
        while start < ids.count {
            let slice = Array(ids[start..<min(ids.count, start + 500)])
            let marks = slice.map { _ in "?" }.joined(separator: ",")
            for row in try tx.query("""
                SELECT dt.document_id, t.name FROM document_tags dt JOIN tags t ON t.id = dt.tag_id
                WHERE dt.document_id IN (\(marks)) ORDER BY t.name
                """, slice.map { .integer($0) }) {
                result[row.int(0), default: []].append(row.text(1))
            }
            start += slice.count
        }
        return result
    }

    public func collectionNames() throws -> [String] {
        try database.read { tx in try tx.query("SELECT name FROM collections ORDER BY name").map { $0.text(0) } }
    }

    // MARK: - Blobs and totals

    /// Every blob the catalog knows, with its recorded size.
    public func blobs() throws -> [(digest: Digest, size: Int64)] {
        try database.read { tx in
            try tx.query("SELECT digest, size FROM blobs ORDER BY digest").compactMap { row in
                Digest(hex: row.text(0)).map { ($0, row.int(1)) }
            }
        }
    }

    /// Which of `digests` the catalog has a blob row for (at most a few hundred: one query).
    public func knownBlobs(among digests: [Digest]) throws -> Set<Digest> {
        guard !digests.isEmpty else { return [] }
        return try database.read { tx in
            let marks = Array(repeating: "?", count: digests.count).joined(separator: ", ")
            return Set(try tx.query("SELECT digest FROM blobs WHERE digest IN (\(marks))", digests.map { .text($0.hex) })
                .compactMap { Digest(hex: $0.text(0)) })
        }
    }

    /// What holds a blob's bytes: the versions that are it and the artifacts made of it, each
    /// with its document's collection and path (what `depot verify` names for a damaged blob).
    public func uses(of digest: Digest) throws -> BlobUses {
        try database.read { tx in
            let versions = try tx.query("SELECT id FROM versions WHERE blob_digest = ? ORDER BY id", [.text(digest.hex)])
                .compactMap { try version(id: $0.int(0), in: tx) }
            let artifacts = try tx.query("SELECT id FROM artifacts WHERE blob_digest = ? ORDER BY id", [.text(digest.hex)])
                .compactMap { row -> (ArtifactInfo, VersionInfo)? in
                    guard let a = try artifact(id: row.int(0), in: tx), let v = try version(id: a.versionID, in: tx) else { return nil }
                    return (a, v)
                }
            return BlobUses(versions: versions, artifacts: artifacts)
        }
    }

    /// Totals (without the per-type breakdown unless `byType`).
    public func stats(byType: Bool = false) throws -> CatalogStats {
        try database.read { tx in
            // Live documents and versions; stored bytes are the original blobs only (artifacts
            // apart, see StorageUsage), so the dedup ratio compares like with like.
            let row = try tx.query("""
                SELECT (SELECT count(*) FROM collections), (SELECT count(*) FROM documents WHERE trashed_at_ns IS NULL)
                """)[0]
            let totals = try Self.blobTotals(in: tx)
            var types: [TypeTotals] = []
            if byType {
                var totals: [String: TypeTotals] = [:]
                for r in try tx.query("""
                    SELECT d.path, count(v.id), coalesce(sum(v.size), 0) FROM documents d JOIN versions v ON v.document_id = d.id
                    WHERE d.trashed_at_ns IS NULL AND v.trashed_at_ns IS NULL GROUP BY d.id, d.path
                    """) {
                    let type = fileType(r.text(0))
                    var t = totals[type] ?? TypeTotals(type: type, documents: 0, versions: 0, logicalBytes: 0)
                    t.documents += 1
                    t.versions += Int(r.int(1))
                    t.logicalBytes += r.int(2)
                    totals[type] = t
                }
                types = totals.keys.sorted().map { totals[$0]! }
            }
            return CatalogStats(collections: Int(row.int(0)), documents: Int(row.int(1)), versions: totals.logical.versions,
                                blobs: totals.stored.blobs, logicalBytes: totals.logical.bytes, storedBytes: totals.stored.bytes,
                                artifactBytes: totals.artifacts.bytes, byType: types)
        }
    }

    // MARK: - What downloads serve

    /// What a link to a version serves: nothing once it is in the trash.
    public func storedFile(version id: Int64, in tx: any CatalogTransaction) throws -> StoredFile? {
        guard let v = try version(id: id, in: tx), v.trashedAtNanoseconds == nil, try !isDamaged(v.digest, in: tx) else { return nil }
        return StoredFile(digest: v.digest, size: v.size, fileName: baseName(v.path), collection: v.collection, path: v.path,
                          documentID: v.documentID, versionID: v.id, mimeType: nil, modifiedAtNanoseconds: v.ingestedAtNanoseconds)
    }

    /// What a link to an artifact serves: named after its document ("report.pdf.text.txt")
    /// so it stays recognisable once saved.
    public func storedFile(artifact id: Int64, in tx: any CatalogTransaction) throws -> StoredFile? {
        guard let a = try artifact(id: id, in: tx), let v = try version(id: a.versionID, in: tx), v.trashedAtNanoseconds == nil,
              try !isDamaged(a.digest, in: tx) else {
            return nil
        }
        return StoredFile(digest: a.digest, size: a.size, fileName: baseName(v.path) + "." + a.kind, collection: v.collection,
                          path: v.path, documentID: v.documentID, versionID: v.id, mimeType: a.mimeType,
                          modifiedAtNanoseconds: a.createdAtNanoseconds)
    }
}
