import DepotCore

/// A legal hold, with S3 Object Lock's two strengths.
public enum HoldMode: String, Sendable, Codable, CaseIterable {
    /// An admin who says so explicitly (`--bypass-governance`) may remove what it holds, lift it or shorten it.
    case governance
    /// Nobody can remove what it holds until the date passes; the date can be extended, never shortened.
    case compliance
}

/// A legal hold on a document, or on a whole collection (`path` nil).
public struct Hold: Sendable, Equatable, Codable {
    public var id: Int64
    public var collection: String
    public var path: String?
    public var documentID: Int64?
    public var mode: HoldMode
    public var until: Timestamp
    public var reason: String
    public var createdAt: Timestamp
    public var releasedAt: Timestamp?

    enum CodingKeys: String, CodingKey {
        case id, collection, path, mode, until, reason
        case documentID = "document_id", createdAt = "created_at", releasedAt = "released_at"
    }

    /// "compliance hold 3 on lectures (until 2030-01-01T00:00:00.000Z: audit)".
    public var description: String {
        "\(mode.rawValue) hold \(id) on \(collection)\(path.map { "/" + $0 } ?? "") (until \(until)\(reason.isEmpty ? "" : ": " + reason))"
    }
}

/// A pinned version: kept whatever the retention rules say, and refused to `depot rm`.
public struct Pin: Sendable, Equatable, Codable {
    public var collection: String
    public var path: String
    public var version: Int
    public var versionID: Int64
    public var pinnedAt: Timestamp
    public var note: String

    enum CodingKeys: String, CodingKey {
        case collection, path, version, note
        case versionID = "version_id", pinnedAt = "pinned_at"
    }
}

extension Catalog {
    // MARK: - Pins

    /// Pins a live version (nil: the current one); pinning twice keeps the first pin.
    @discardableResult
    public func pin(collection: String, path: String, version number: Int?, note: String = "") throws -> Pin {
        try database.write { tx in
            guard let row = try tx.query("""
                SELECT v.id, v.number FROM versions v JOIN documents d ON d.id = v.document_id JOIN collections c ON c.id = d.collection_id
                WHERE c.name = ? AND d.path = ? AND v.number = coalesce(?, d.current_version)
                AND v.trashed_at_ns IS NULL AND d.trashed_at_ns IS NULL
                """, [.text(collection), .text(path), .int(number)]).first else {
                throw TrashError.notFound(number.map { "no version \($0) of \(collection)/\(path)" } ?? "no document \(collection)/\(path)")
            }
            let now = wallClockNanoseconds()
            try tx.execute("INSERT INTO pins(version_id, pinned_at_ns, note) VALUES(?, ?, ?) ON CONFLICT(version_id) DO NOTHING",
                           [.integer(row.int(0)), .integer(now), .text(note)])
            return try pins(in: tx).first { $0.versionID == row.int(0) }!
        }
    }

    /// Unpins a version; false when it was not pinned.
    @discardableResult
    public func unpin(collection: String, path: String, version number: Int?) throws -> Bool {
        try database.write { tx in
            try tx.execute("""
                DELETE FROM pins WHERE version_id = (SELECT v.id FROM versions v JOIN documents d ON d.id = v.document_id
                    JOIN collections c ON c.id = d.collection_id WHERE c.name = ? AND d.path = ? AND v.number = coalesce(?, d.current_version))
                """, [.text(collection), .text(path), .int(number)]) > 0
        }
    }

    public func pins() throws -> [Pin] { try database.read { tx in try pins(in: tx) } }

    func pins(in tx: any CatalogTransaction) throws -> [Pin] {
        try tx.query("""
            SELECT c.name, d.path, v.number, v.id, p.pinned_at_ns, p.note FROM pins p JOIN versions v ON v.id = p.version_id
            JOIN documents d ON d.id = v.document_id JOIN collections c ON c.id = d.collection_id ORDER BY c.name, d.path, v.number
            """).map { Pin(collection: $0.text(0), path: $0.text(1), version: Int($0.int(2)), versionID: $0.int(3),
                          pinnedAt: Timestamp(nanoseconds: $0.int(4)), note: $0.text(5)) }
    }

    /// The ids of every pinned version (for the retention planner).
    func pinnedVersionIDs(in tx: any CatalogTransaction) throws -> Set<Int64> {
        Set(try tx.query("SELECT version_id FROM pins").map { $0.int(0) })
    }

    // MARK: - Holds

    /// Places a hold on a collection (`path` nil) or one of its live documents until `until`.
    public func placeHold(collection: String, path: String?, mode: HoldMode, until: Int64, reason: String) throws -> Hold {
        let now = wallClockNanoseconds()
        guard until > now else { throw TrashError.refused("a hold must last until a time in the future") }
        return try database.write { tx in
            guard let collectionID = try tx.query("SELECT id FROM collections WHERE name = ?", [.text(collection)]).first?.int(0) else {
                throw TrashError.notFound("no collection \(collection)")
            }
            var documentID: Int64?
            if let path {
                guard let id = try tx.query("SELECT id FROM documents WHERE collection_id = ? AND path = ?",
                                            [.integer(collectionID), .text(path)]).first?.int(0) else {
                    throw TrashError.notFound("no document \(collection)/\(path)")
                }
                documentID = id
            }
            let id = try tx.query("""
                INSERT INTO holds(collection_id, document_id, mode, until_ns, reason, created_at_ns) VALUES(?, ?, ?, ?, ?, ?) RETURNING id
                """, [.integer(collectionID), .int(documentID), .text(mode.rawValue), .integer(until), .text(reason), .integer(now)])[0].int(0)
            return try hold(id: id, in: tx)!
        }
    }

    /// Moves a hold's date: later always; earlier only for a governance hold with `bypassGovernance`.
    public func changeHold(id: Int64, until: Int64, bypassGovernance: Bool) throws -> Hold {
        try database.write { tx in
            guard let hold = try hold(id: id, in: tx), hold.releasedAt == nil else { throw TrashError.notFound("no hold \(id)") }
            if until < hold.until.nanoseconds {
                guard hold.mode == .governance else {
                    throw TrashError.refused("\(hold.description): a compliance hold can be extended, never shortened")
                }
                guard bypassGovernance else {
                    throw TrashError.refused("\(hold.description): shortening a governance hold needs --bypass-governance")
                }
            }
            try tx.execute("UPDATE holds SET until_ns = ? WHERE id = ?", [.integer(until), .integer(id)])
            return try self.hold(id: id, in: tx)!
        }
    }

    /// Lifts a hold: a governance one with `bypassGovernance`; a compliance one only once its date has passed.
    public func releaseHold(id: Int64, bypassGovernance: Bool) throws -> Hold {
        try database.write { tx in
            guard let hold = try hold(id: id, in: tx), hold.releasedAt == nil else { throw TrashError.notFound("no hold \(id)") }
            let now = wallClockNanoseconds()
            if hold.until.nanoseconds > now {
                switch hold.mode {
                case .compliance:
                    throw TrashError.refused("\(hold.description): a compliance hold cannot be lifted before its date, not even by an admin")
                case .governance where !bypassGovernance:
                    throw TrashError.refused("\(hold.description): lifting a governance hold needs --bypass-governance")
                case .governance:
                    break
                }
            }
            try tx.execute("UPDATE holds SET released_at_ns = ? WHERE id = ?", [.integer(now), .integer(id)])
            return try self.hold(id: id, in: tx)!
        }
    }

    /// Holds not lifted, oldest first (with those whose date has passed).
    public func holds() throws -> [Hold] {
        try database.read { tx in
            try tx.query("SELECT \(Self.holdColumns) \(Self.holdJoins) WHERE h.released_at_ns IS NULL ORDER BY h.id").map(Self.hold)
        }
    }

    static let holdColumns = "h.id, c.name, d.path, h.document_id, h.mode, h.until_ns, h.reason, h.created_at_ns, h.released_at_ns"
    static let holdJoins = "FROM holds h JOIN collections c ON c.id = h.collection_id LEFT JOIN documents d ON d.id = h.document_id"

    static func hold(_ r: Row) -> Hold {
        Hold(id: r.int(0), collection: r.text(1), path: r.optionalText(2), documentID: r.optionalInt(3),
             mode: HoldMode(rawValue: r.text(4)) ?? .compliance, until: Timestamp(nanoseconds: r.int(5)), reason: r.text(6),
             createdAt: Timestamp(nanoseconds: r.int(7)), releasedAt: r.optionalInt(8).map { Timestamp(nanoseconds: $0) })
    }

    func hold(id: Int64, in tx: any CatalogTransaction) throws -> Hold? {
        try tx.query("SELECT \(Self.holdColumns) \(Self.holdJoins) WHERE h.id = ?", [.integer(id)]).first.map(Self.hold)
    }

    /// The strongest hold in force on a document (its own or its collection's): compliance first.
    static func activeHold(documentID: Int64, now: Int64, in tx: any CatalogTransaction) throws -> Hold? {
        try tx.query("""
            SELECT \(holdColumns) \(holdJoins)
            WHERE h.released_at_ns IS NULL AND h.until_ns > ?
            AND (h.document_id = ? OR (h.document_id IS NULL AND h.collection_id = (SELECT collection_id FROM documents WHERE id = ?)))
            ORDER BY h.mode = 'compliance' DESC, h.until_ns DESC LIMIT 1
            """, [.integer(now), .integer(documentID), .integer(documentID)]).first.map(hold)
    }

    /// The guard every removal goes through: a pinned version, or a document under a hold in
    /// force, is refused with a message that says why and what, if anything, lifts it.
    public static func pinsAndHolds(bypassGovernance: Bool) -> DeletionGuard {
        { documentID, versionID, tx in
            if let hold = try activeHold(documentID: documentID, now: wallClockNanoseconds(), in: tx) {
                switch hold.mode {
                case .compliance:
                    return "kept by \(hold.description): nobody can remove it before then"
                case .governance where !bypassGovernance:
                    return "kept by \(hold.description): an admin may remove it with --bypass-governance (bypass_governance=true in the API)"
                case .governance:
                    break
                }
            }
            let pinned = try tx.query("""
                SELECT v.number FROM pins p JOIN versions v ON v.id = p.version_id
                WHERE v.document_id = ? AND v.trashed_at_ns IS NULL AND (CAST(? AS BIGINT) IS NULL OR v.id = ?) ORDER BY v.number
                """, [.integer(documentID), .int(versionID), .int(versionID)]).map { Int($0.int(0)) }
            if !pinned.isEmpty {
                return "version \(pinned.map(String.init).joined(separator: ", ")) \(pinned.count == 1 ? "is" : "are") pinned: `depot unpin` first"
            }
            return nil
        }
    }
}
