import DepotCore
import Foundation

/// The `data` of an event: a Codable type per event type, defined by the part of depot that
/// emits it (the store's below, the job queue's, the outbox's). Its JSON is what
/// events.jsonl, webhooks and the SSE feed carry; the document it is about is also stored as
/// a column, so that dispatch never parses the JSON again.
public protocol EventPayload: Encodable, Sendable {
    /// "file.stored", "job.succeeded", …
    static var eventType: String { get }
    /// The document the event is about, if any.
    var documentID: Int64? { get }
}

/// The event log in the catalog: every state change that others may react to (webhooks,
/// the outbox's events.jsonl, SSE) is appended here in the same transaction as the change
/// itself — the transactional outbox pattern — and dispatched from here afterwards.
public enum EventLog {
    /// Appends one event inside the caller's transaction; returns its id ("evt_…").
    @discardableResult
    public static func append<P: EventPayload>(_ payload: P, in tx: any CatalogTransaction) throws -> String {
        let now = wallClockNanoseconds()
        let id = makeID(now: now)
        let json = try jsonEncoder.encode(payload)
        try insert(id: id, type: P.eventType, now: now, json: json, documentID: payload.documentID, in: tx)
        return id
    }

    /// Appends one event whose type is chosen at run time (a job kind's own events, such as
    /// `generation.completed`), inside the caller's transaction; returns its id.
    @discardableResult
    public static func append(_ payload: some Encodable & Sendable, type: String, documentID: Int64?,
                              in tx: any CatalogTransaction) throws -> String {
        let now = wallClockNanoseconds()
        let id = makeID(now: now)
        let json = try jsonEncoder.encode(payload)
        try insert(id: id, type: type, now: now, json: json, documentID: documentID, in: tx)
        return id
    }

    private static func insert(id: String, type: String, now: Int64, json: Data, documentID: Int64?,
                               in tx: any CatalogTransaction) throws {
        if tx.dialect == .postgres {
            // Readers follow the log by sequence number (the outbox's cursor, SSE): a number
            // taken must not commit after a higher one. SQLite's writers take turns; on
            // PostgreSQL, appenders take turns at this lock, held until they commit.
            try tx.query("SELECT pg_advisory_xact_lock(?)", [.integer(eventOrderLock)])
        }
        try tx.execute("INSERT INTO events(id, type, timestamp_ns, data, document_id) VALUES(?, ?, ?, ?, ?)",
                       [.text(id), .text(type), .integer(now), .text(String(decoding: json, as: UTF8.self)), .int(documentID)])
        tx.appendedEvents = true
    }

    /// Signalled after every commit in this process that appended events, whichever catalog
    /// connection made it: what follows the log (the live feed) wakes at once instead of at
    /// its next poll. Commits of other processes (the CLI, other nodes) are still found by polling.
    public static let commits = CommitSignal()

    /// The advisory lock of the event log's appenders ("events" in ASCII).
    private static let eventOrderLock: Int64 = 0x6576656e7473

    /// Events after `sequence` in order, at most `limit`.
    public static func events(after sequence: Int64, limit: Int, in tx: any CatalogTransaction) throws -> [Event] {
        try tx.query("SELECT seq, id, type, timestamp_ns, data, document_id FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                     [.integer(sequence), .integer(Int64(limit))]).map { row in
            Event(sequence: row.int(0), id: row.text(1), type: row.text(2), timestampNanoseconds: row.int(3),
                  dataJSON: row.text(4), documentID: row.optionalInt(5))
        }
    }

    /// One event by its sequence number.
    public static func event(sequence: Int64, in tx: any CatalogTransaction) throws -> Event? {
        try events(after: sequence - 1, limit: 1, in: tx).first.flatMap { $0.sequence == sequence ? $0 : nil }
    }

    /// The highest sequence number (0 when the log is empty).
    public static func lastSequence(in tx: any CatalogTransaction) throws -> Int64 {
        try tx.query("SELECT coalesce(max(seq), 0) FROM events")[0].int(0)
    }

    /// Sorted keys and unescaped slashes: the same payload always gives the same bytes.
    static let jsonEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

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

extension Catalog {
    /// Events after `sequence` in order, at most `limit` (for `depot events`).
    public func events(after sequence: Int64, limit: Int) throws -> [Event] {
        try database.read { tx in try EventLog.events(after: sequence, limit: limit, in: tx) }
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
    /// The document it is about, if any.
    public let documentID: Int64?

    public init(sequence: Int64, id: String, type: String, timestampNanoseconds: Int64, dataJSON: String, documentID: Int64?) {
        self.sequence = sequence
        self.id = id
        self.type = type
        self.timestampNanoseconds = timestampNanoseconds
        self.dataJSON = dataJSON
        self.documentID = documentID
    }

    /// The envelope as one JSON line: {"event":…,"id":…,"timestamp":…,"data":{…}}.
    public var envelopeJSON: String {
        let timestamp = formatTimestamp(timestampNanoseconds)
        let escapedType = type.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "{\"event\":\"\(escapedType)\",\"id\":\"\(id)\",\"timestamp\":\"\(timestamp)\",\"data\":\(dataJSON)}"
    }
}

// MARK: - The store's events

/// `file.stored`: a file was taken into the store (also when its bytes were the current version's).
public struct FileStored: EventPayload, Equatable {
    public static let eventType = "file.stored"
    public enum Status: String, Codable, Sendable {
        case newDocument = "new_document", newVersion = "new_version", unchanged
    }

    public var documentID: Int64?
    public var versionID: Int64
    public var collection: String
    public var path: String
    public var version: Int
    public var sha256: Digest
    public var size: Int64
    public var origin: String
    public var mediaType: String?
    public var status: Status
    /// True when a new version's bytes were already in the store (nil otherwise, and not written).
    public var deduplicated: Bool?

    public init(_ v: VersionInfo, status: Status) {
        documentID = v.documentID
        versionID = v.id
        collection = v.collection
        path = v.path
        version = v.number
        sha256 = v.digest
        size = v.size
        origin = v.origin
        mediaType = v.mediaType
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case documentID = "document_id", versionID = "version_id", collection, path, version, sha256, size, origin
        case mediaType = "media_type", status, deduplicated
    }
}

/// `version.created`: a new version (of a new or an existing document).
public struct VersionCreated: EventPayload, Equatable {
    public static let eventType = "version.created"
    public var stored: FileStored
    public var documentID: Int64? { stored.documentID }

    public init(_ v: VersionInfo, status: FileStored.Status) { stored = FileStored(v, status: status) }

    public func encode(to encoder: Encoder) throws { try stored.encode(to: encoder) }
}

/// `document.tagged`: tags added by hand.
public struct DocumentTagged: EventPayload, Equatable {
    public static let eventType = "document.tagged"
    public var documentID: Int64?
    public var added: [String]

    enum CodingKeys: String, CodingKey { case documentID = "document_id", added }
}

/// `document.untagged`: a tag removed by hand.
public struct DocumentUntagged: EventPayload, Equatable {
    public static let eventType = "document.untagged"
    public var documentID: Int64?
    public var removed: [String]

    enum CodingKeys: String, CodingKey { case documentID = "document_id", removed }
}
