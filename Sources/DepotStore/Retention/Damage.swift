import DepotCore
import Logging
import Metrics

/// `blob.damaged`: a stored blob's bytes no longer match its name (or it is missing).
public struct BlobDamaged: EventPayload, Equatable {
    public static let eventType = "blob.damaged"
    public var documentID: Int64? { nil }
    public var sha256: String
    public var reason: String
}

/// `blob.healed`: a damaged blob has its bytes back (an intact copy arrived, or `depot verify --repair`).
public struct BlobHealed: EventPayload, Equatable {
    public static let eventType = "blob.healed"
    public var documentID: Int64? { nil }
    public var sha256: String
    public var how: String
}

extension Catalog {
    /// Whether a blob is known to be damaged: such a blob is never served.
    func isDamaged(_ digest: Digest, in tx: any CatalogTransaction) throws -> Bool {
        !(try tx.query("SELECT 1 FROM blobs WHERE digest = ? AND damaged_at_ns IS NOT NULL", [.text(digest.hex)])).isEmpty
    }

    /// Marks a blob damaged (loudly: an event, and the caller logs); false when it was marked already.
    @discardableResult
    public func markDamaged(_ digest: Digest, reason: String) throws -> Bool {
        try database.write { tx in
            let changed = try tx.execute("UPDATE blobs SET damaged_at_ns = ? WHERE digest = ? AND damaged_at_ns IS NULL",
                                         [.integer(wallClockNanoseconds()), .text(digest.hex)]) > 0
            if changed {
                try EventLog.append(BlobDamaged(sha256: digest.hex, reason: reason), in: tx)
                Counter(label: "depot_blobs_damaged_total").increment()
            }
            return changed
        }
    }

    /// Clears the damage mark of blobs whose stored bytes are known good again, inside the
    /// caller's transaction; returns those that were marked.
    @discardableResult
    public func markIntact(_ digests: [Digest], how: String, in tx: any CatalogTransaction) throws -> [Digest] {
        var healed: [Digest] = []
        for digest in digests where try tx.execute("UPDATE blobs SET damaged_at_ns = NULL WHERE digest = ? AND damaged_at_ns IS NOT NULL",
                                                    [.text(digest.hex)]) > 0 {
            try EventLog.append(BlobHealed(sha256: digest.hex, how: how), in: tx)
            healed.append(digest)
        }
        return healed
    }

    @discardableResult
    public func markIntact(_ digests: [Digest], how: String) throws -> [Digest] {
        try database.write { tx in try markIntact(digests, how: how, in: tx) }
    }

    /// Every blob known to be damaged.
    public func damagedBlobs() throws -> [Digest] {
        try database.read { tx in
            try tx.query("SELECT digest FROM blobs WHERE damaged_at_ns IS NOT NULL ORDER BY digest").compactMap { Digest(hex: $0.text(0)) }
        }
    }
}
