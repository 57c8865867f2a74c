import DepotCore
import Foundation

/// The event log in the catalog: every state change that others may react to (webhooks,
/// the outbox's events.jsonl, SSE) is appended here in the same transaction as the change
/// itself — the transactional outbox pattern — and dispatched from here afterwards.
public enum EventLog {
    /// Appends one event inside the caller's transaction; returns its id ("evt_…").
    ///
    /// - Parameters:
    ///   - type: e.g. "file.stored", "version.created", "media.processed", "job.failed".
    ///   - data: a JSON object (strings, numbers, bools, arrays, dictionaries).
    @discardableResult
    public static func append(_ type: String, data: [String: Any], in db: SQLiteConnection) throws -> String {
        let now = wallClockNanoseconds()
        let id = makeID(now: now)
        let json = try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys, .withoutEscapingSlashes])
        try db.query("INSERT INTO events(id, type, timestamp_ns, data) VALUES(?, ?, ?, ?)",
                     [.text(id), .text(type), .integer(now), .text(String(decoding: json, as: UTF8.self))])
        return id
    }

    /// Events after `sequence` in order, at most `limit`.
    public static func events(after sequence: Int64, limit: Int, in db: SQLiteConnection) throws -> [Event] {
        try db.query("SELECT seq, id, type, timestamp_ns, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                     [.integer(sequence), .integer(Int64(limit))]).map { row in
            Event(sequence: row.int(0), id: row.text(1), type: row.text(2), timestampNanoseconds: row.int(3), dataJSON: row.text(4))
        }
    }

    /// A time-ordered, unique id: "evt_" + 13 hex digits of milliseconds + 12 random hex digits.
    static func makeID(now: Int64) -> String {
        var rng = SystemRandomNumberGenerator()
        let random = (rng.next() as UInt64) & 0xFFFF_FFFF_FFFF
        return "evt_" + hex(UInt64(now / 1_000_000), width: 13) + hex(random, width: 12)
    }

    private static func hex(_ value: UInt64, width: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}

/// One stored event.
public struct Event: Sendable, Equatable {
    public let sequence: Int64
    public let id: String
    public let type: String
    public let timestampNanoseconds: Int64
    /// The `data` object, as JSON text.
    public let dataJSON: String

    /// The envelope as one JSON line: {"event":…,"id":…,"timestamp":…,"data":{…}}.
    public var envelopeJSON: String {
        let timestamp = JournalLogHandler.formatTimestamp(timestampNanoseconds)
        let escapedType = type.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "{\"event\":\"\(escapedType)\",\"id\":\"\(id)\",\"timestamp\":\"\(timestamp)\",\"data\":\(dataJSON)}"
    }
}
