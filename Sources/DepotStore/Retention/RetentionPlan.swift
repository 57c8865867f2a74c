import DepotCore
#if canImport(Glibc)
import Glibc
#endif

/// One version the rules would remove.
public struct PlannedRemoval: Sendable, Equatable, Codable {
    public var collection: String
    public var path: String
    public var documentID: Int64
    public var version: Int
    public var versionID: Int64
    public var size: Int64
    public var ingestedAt: Timestamp

    enum CodingKeys: String, CodingKey {
        case collection, path, version, size
        case documentID = "document_id", versionID = "version_id", ingestedAt = "ingested_at"
    }
}

/// What the retention rules of one collection keep and remove.
public struct CollectionPlan: Sendable, Equatable, Codable {
    public var collection: String
    public var rules: RetentionRules
    public var versions = 0
    public var kept = 0
    public var removed = 0
    /// Versions the rules would remove but a legal hold keeps.
    public var held = 0
}

/// What `depot retention plan` shows and `depot retention apply` does.
public struct RetentionPlan: Sendable, Equatable, Codable {
    public var collections: [CollectionPlan] = []
    public var removals: [PlannedRemoval] = []
    /// The sizes of the versions that would go.
    public var removedBytes: Int64 = 0
    /// The bytes of the blobs nothing would reference any more (originals and their artifacts):
    /// what the store gets back once the trash is purged and `depot gc` has run.
    public var freedBytes: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case collections, removals
        case removedBytes = "removed_bytes", freedBytes = "freed_bytes"
    }
}

/// What applying a plan did.
public struct RetentionApplyReport: Sendable, Equatable, Codable {
    public var removed = 0
    public var removedBytes: Int64 = 0
    /// Removals refused when they were applied (a pin or a hold placed since the plan, the version gone).
    public var refused: [String] = []

    enum CodingKeys: String, CodingKey { case removed, refused, removedBytes = "removed_bytes" }
}

/// The rules' decision for one document's live versions (newest first): which it keeps.
/// restic's `forget` semantics: a bucket rule keeps the newest version of each distinct
/// bucket, walking from the newest, until it has kept N; `within` counts back from the newest
/// version, not from now, so a document nobody touched for a year keeps its last burst.
struct RetentionDecider {
    let rules: RetentionRules

    func kept(_ versions: [(number: Int, ingestedAt: Int64)], current: Int) -> Set<Int> {
        var keep: Set<Int> = [current]
        guard !rules.keepsEverything else { return Set(versions.map(\.number)) }
        if let last = rules.last { for v in versions.prefix(last) { keep.insert(v.number) } }
        for (count, key) in [(rules.hourly, Self.hour), (rules.daily, Self.day), (rules.weekly, Self.week),
                             (rules.monthly, Self.month), (rules.yearly, Self.year)] {
            guard var left = count else { continue }
            var lastKey: Int64?
            for v in versions where left > 0 {
                let k = key(v.ingestedAt)
                if k != lastKey {
                    keep.insert(v.number)
                    lastKey = k
                    left -= 1
                }
            }
        }
        if let within = rules.within, let newest = versions.first?.ingestedAt {
            let from = newest - within.nanosecondsValue
            for v in versions where v.ingestedAt >= from { keep.insert(v.number) }
        }
        return keep
    }

    static func hour(_ ns: Int64) -> Int64 { floorDiv(ns, 3_600_000_000_000) }
    static func day(_ ns: Int64) -> Int64 { floorDiv(ns, 86_400_000_000_000) }
    /// ISO weeks, Monday to Sunday: 1970-01-01 was a Thursday.
    static func week(_ ns: Int64) -> Int64 { floorDiv(day(ns) + 3, 7) }
    static func month(_ ns: Int64) -> Int64 { let (y, m) = civil(ns); return y * 12 + m }
    static func year(_ ns: Int64) -> Int64 { civil(ns).year }

    static func civil(_ ns: Int64) -> (year: Int64, month: Int64) {
        var seconds = time_t(floorDiv(ns, 1_000_000_000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return (Int64(parts.tm_year) + 1900, Int64(parts.tm_mon))
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
}

extension Catalog {
    /// What the rules (per collection, from `rules`) would remove now, and the bytes that frees;
    /// changes nothing. Documents are read a page at a time, so memory follows the removals,
    /// not the catalog.
    public func retentionPlan(rules: (String) throws -> RetentionRules, now: Int64 = wallClockNanoseconds()) throws -> RetentionPlan {
        try database.read { tx in
            var plan = RetentionPlan()
            var byCollection: [String: CollectionPlan] = [:]
            let pinned = try pinnedVersionIDs(in: tx)
            var heldDocuments = Set<Int64>(), heldCollections = Set<Int64>()
            for row in try tx.query("SELECT collection_id, document_id FROM holds WHERE released_at_ns IS NULL AND until_ns > ?",
                                    [.integer(now)]) {
                if let document = row.optionalInt(1) { heldDocuments.insert(document) } else { heldCollections.insert(row.int(0)) }
            }
            // How many versions and artifacts use each blob: a blob whose count reaches 0 is freed.
            var uses: [String: (count: Int, size: Int64)] = [:]
            for row in try tx.query("""
                SELECT u.digest, count(*), b.size FROM (SELECT blob_digest AS digest FROM versions UNION ALL
                    SELECT blob_digest FROM artifacts) u JOIN blobs b ON b.digest = u.digest GROUP BY u.digest, b.size
                """) {
                uses[row.text(0)] = (Int(row.int(1)), row.int(2))
            }
            var deciders: [String: RetentionDecider] = [:]
            var after: Int64 = 0
            while true {
                let documents = try tx.query("""
                    SELECT d.id, c.name, d.path, d.current_version, d.collection_id FROM documents d
                    JOIN collections c ON c.id = d.collection_id
                    WHERE d.trashed_at_ns IS NULL AND d.id > ? ORDER BY d.id LIMIT 2000
                    """, [.integer(after)])
                guard let first = documents.first, let last = documents.last else { break }
                after = last.int(0)
                let range: [SQLValue] = [.integer(first.int(0)), .integer(last.int(0))]
                var versions: [Int64: [(id: Int64, number: Int, ingestedAt: Int64, size: Int64, digest: String)]] = [:]
                for r in try tx.query("""
                    SELECT id, document_id, number, ingested_at_ns, size, blob_digest FROM versions
                    WHERE document_id BETWEEN ? AND ? AND trashed_at_ns IS NULL
                    """, range) {
                    versions[r.int(1), default: []].append((r.int(0), Int(r.int(2)), r.int(3), r.int(4), r.text(5)))
                }
                var tags: [Int64: Set<String>] = [:]
                for r in try tx.query("""
                    SELECT dt.document_id, t.name FROM document_tags dt JOIN tags t ON t.id = dt.tag_id WHERE dt.document_id BETWEEN ? AND ?
                    """, range) {
                    tags[r.int(0), default: []].insert(r.text(1))
                }
                var removedHere: [Int64] = []
                for doc in documents {
                    let id = doc.int(0), collection = doc.text(1)
                    if deciders[collection] == nil { deciders[collection] = RetentionDecider(rules: try rules(collection)) }
                    let decider = deciders[collection]!
                    var summary = byCollection[collection] ?? CollectionPlan(collection: collection, rules: decider.rules)
                    let live = (versions[id] ?? []).sorted { ($0.ingestedAt, $0.number) > ($1.ingestedAt, $1.number) }
                    summary.versions += live.count
                    var keep = decider.kept(live.map { ($0.number, $0.ingestedAt) }, current: Int(doc.int(3)))
                    if !decider.rules.tags.isEmpty, !(tags[id] ?? []).isDisjoint(with: decider.rules.tags) {
                        keep = Set(live.map(\.number))
                    }
                    let held = heldDocuments.contains(id) || heldCollections.contains(doc.int(4))
                    // Oldest first, as a person reads a document's history.
                    for v in live.reversed() {
                        if keep.contains(v.number) || pinned.contains(v.id) {
                            summary.kept += 1
                        } else if held {
                            summary.kept += 1
                            summary.held += 1
                        } else {
                            summary.removed += 1
                            plan.removals.append(PlannedRemoval(collection: collection, path: doc.text(2), documentID: id, version: v.number,
                                                                versionID: v.id, size: v.size, ingestedAt: Timestamp(nanoseconds: v.ingestedAt)))
                            plan.removedBytes += v.size
                            removedHere.append(v.id)
                            Self.release(v.digest, from: &uses, freed: &plan.freedBytes)
                        }
                    }
                    byCollection[collection] = summary
                }
                // The artifacts of what goes go with it.
                var start = 0
                while start < removedHere.count {
                    let slice = Array(removedHere[start..<min(removedHere.count, start + 500)])
                    let marks = slice.map { _ in "?" }.joined(separator: ",")
                    for r in try tx.query("SELECT blob_digest FROM artifacts WHERE version_id IN (\(marks))", slice.map { .integer($0) }) {
                        Self.release(r.text(0), from: &uses, freed: &plan.freedBytes)
                    }
                    start += slice.count
                }
            }
            plan.collections = byCollection.keys.sorted().map { byCollection[$0]! }
            return plan
        }
    }

    private static func release(_ digest: String, from uses: inout [String: (count: Int, size: Int64)], freed: inout Int64) {
        guard var use = uses[digest] else { return }
        use.count -= 1
        uses[digest] = use
        if use.count == 0 { freed += use.size }
    }

    /// Moves what `plan` removes to the trash, each through the same checks as `depot rm`
    /// (pins, holds, a live version left) and with its `document.trashed` event, in slices of
    /// 200 per transaction.
    @discardableResult
    public func applyRetention(_ plan: RetentionPlan, trashDays: Int) throws -> RetentionApplyReport {
        var report = RetentionApplyReport()
        let deletionGuard = Self.pinsAndHolds(bypassGovernance: false)
        var start = 0
        while start < plan.removals.count {
            let slice = plan.removals[start..<min(plan.removals.count, start + 200)]
            try database.write { tx in
                for removal in slice {
                    do {
                        try trash(documentID: removal.documentID, version: removal.version, trashDays: trashDays, guard: deletionGuard, in: tx)
                        report.removed += 1
                        report.removedBytes += removal.size
                    } catch let error as TrashError {
                        report.refused.append("\(removal.collection)/\(removal.path) version \(removal.version): \(error.message)")
                    }
                }
            }
            start += slice.count
        }
        return report
    }
}
