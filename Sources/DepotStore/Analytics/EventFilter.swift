import DepotCore

/// Which events a live feed (SSE, `depot events --follow`) or a custom metric wants: by type
/// ("job.failed", or a family "job.*"; none: every type) and by the collection of the
/// document the event is about (events about no document never match a collection).
public struct EventFilter: Sendable, Equatable {
    public var types: [String]
    public var collection: String?

    public init(types: [String] = [], collection: String? = nil) {
        self.types = types.filter { !$0.isEmpty }
        self.collection = collection
    }

    public func matches(type: String, collection: String?) -> Bool {
        if let wanted = self.collection, wanted != collection { return false }
        return types.isEmpty || types.contains { pattern in
            if pattern == "*" { return true }
            if pattern.hasSuffix(".*") { return type.hasPrefix(pattern.dropLast()) }
            return pattern == type
        }
    }
}

/// An event with the collection of the document it is about.
public struct FeedEvent: Sendable, Equatable {
    public var event: Event
    public var collection: String?

    public init(event: Event, collection: String?) {
        self.event = event
        self.collection = collection
    }
}

extension EventLog {
    /// Events after `sequence`, in order, with their document's collection, that `filter`
    /// passes; at most `limit`, read from at most `scan` events (so a filter that passes few
    /// never reads the whole log at once: the caller goes on from `lastRead`).
    public static func feed(after sequence: Int64, limit: Int, scan: Int = 2000, filter: EventFilter = EventFilter(),
                            in tx: any CatalogTransaction) throws -> (events: [FeedEvent], lastRead: Int64) {
        var sql = """
            SELECT e.seq, e.id, e.type, e.timestamp_ns, e.data, e.document_id, c.name FROM events e
            LEFT JOIN documents d ON d.id = e.document_id LEFT JOIN collections c ON c.id = d.collection_id
            WHERE e.seq > ?
            """
        var values: [SQLValue] = [.integer(sequence)]
        if let collection = filter.collection {
            sql += " AND c.name = ?"
            values.append(.text(collection))
        }
        sql += " ORDER BY e.seq LIMIT ?"
        values.append(.integer(Int64(max(limit, scan))))
        let rows = try tx.query(sql, values)
        var result: [FeedEvent] = []
        var last = sequence
        for row in rows {
            let event = Event(sequence: row.int(0), id: row.text(1), type: row.text(2), timestampNanoseconds: row.int(3),
                              dataJSON: row.text(4), documentID: row.optionalInt(5))
            last = event.sequence
            let item = FeedEvent(event: event, collection: row.optionalText(6))
            if filter.matches(type: event.type, collection: item.collection) { result.append(item) }
            if result.count == limit { break }
        }
        // With a collection filter the query skipped the others: everything up to the end is read.
        if filter.collection != nil && rows.count < max(limit, scan) { last = max(last, try lastSequence(in: tx)) }
        return (result, last)
    }

    /// The sequence number of an event by its id ("evt_…"), nil when there is none.
    public static func sequence(ofID id: String, in tx: any CatalogTransaction) throws -> Int64? {
        try tx.query("SELECT seq FROM events WHERE id = ?", [.text(id)]).first?.int(0)
    }
}
