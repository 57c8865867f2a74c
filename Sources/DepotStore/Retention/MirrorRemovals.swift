import DepotCore

/// What one look at a mirror-mode collection found.
public struct MirrorSweep: Sendable, Equatable {
    /// Documents whose file is missing from the share, not yet for long enough.
    public var missing = 0
    /// Moved to the trash now.
    public var trashed: [String] = []
    /// Missing long enough, but a pin or a hold keeps them (the refusals' messages).
    public var refused: [String] = []
}

extension Catalog {
    /// The live documents of a collection whose current version came from the mirror
    /// (`origin = 'mirror'`): what a file missing from the share can remove. A document put
    /// there through the API or `depot ingest` has no file on the share and is never swept.
    func mirroredDocuments(collection: String) throws -> [(id: Int64, path: String)] {
        try database.read { tx in
            try tx.query("""
                SELECT d.id, d.path FROM documents d JOIN collections c ON c.id = d.collection_id
                JOIN versions v ON v.document_id = d.id AND v.number = d.current_version
                WHERE c.name = ? AND d.trashed_at_ns IS NULL AND v.origin = 'mirror' ORDER BY d.id
                """, [.text(collection)]).map { ($0.int(0), $0.text(1)) }
        }
    }

    /// Applies `removed = "trash after D"` to one mirror-mode collection: each mirrored
    /// document whose file `exists` no longer finds is remembered with the time it was first
    /// found missing (`mirror_missing`, so a restart does not reset the clock); one missing
    /// for `after` goes to the trash through the same `trash` call as `depot rm` (pins and
    /// holds are respected, a `document.trashed` event is written). A file back on the share
    /// is forgotten. The caller makes sure the share is there at all (an unmounted share is
    /// not a removal).
    public func sweepMirrorRemovals(collection: String, after: Duration, trashDays: Int, now: Int64 = wallClockNanoseconds(),
                                    exists: (String) -> Bool) throws -> MirrorSweep {
        var sweep = MirrorSweep()
        let documents = try mirroredDocuments(collection: collection)
        let known: [Int64: Int64] = try database.read { tx in
            Dictionary(uniqueKeysWithValues: try tx.query("""
                SELECT m.document_id, m.missing_since_ns FROM mirror_missing m JOIN documents d ON d.id = m.document_id
                JOIN collections c ON c.id = d.collection_id WHERE c.name = ?
                """, [.text(collection)]).map { ($0.int(0), $0.int(1)) })
        }
        var present: [Int64] = []
        var missing: [(id: Int64, path: String, since: Int64)] = []
        for doc in documents {
            if exists(doc.path) {
                if known[doc.id] != nil { present.append(doc.id) }
            } else {
                missing.append((doc.id, doc.path, known[doc.id] ?? now))
            }
        }
        let live = Set(documents.map(\.id))
        // Back on the share, or no longer a live mirrored document (trashed, purged, replaced
        // by an upload): forgotten.
        let forget = present + known.keys.filter { !live.contains($0) }
        try database.write { tx in
            try tx.execute("DELETE FROM mirror_missing WHERE document_id NOT IN (SELECT id FROM documents)")
            for id in forget { try tx.execute("DELETE FROM mirror_missing WHERE document_id = ?", [.integer(id)]) }
            for m in missing where known[m.id] == nil {
                try tx.execute("INSERT INTO mirror_missing(document_id, missing_since_ns) VALUES (?, ?)", [.integer(m.id), .integer(m.since)])
            }
        }
        for m in missing {
            guard now - m.since >= after.nanosecondsValue else {
                sweep.missing += 1
                continue
            }
            do {
                try database.write { tx in
                    _ = try trash(documentID: m.id, version: nil, trashDays: trashDays, guard: Catalog.pinsAndHolds(bypassGovernance: false), in: tx)
                    try tx.execute("DELETE FROM mirror_missing WHERE document_id = ?", [.integer(m.id)])
                }
                sweep.trashed.append(m.path)
            } catch let error as TrashError {
                sweep.refused.append("\(collection)/\(m.path): \(error)")
            }
        }
        return sweep
    }
}
