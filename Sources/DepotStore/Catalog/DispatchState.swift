import DepotCore

/// The outbox dispatcher's tables — its cursor over the event log and each webhook
/// delivery's state. The store owns them (and is the only code with SQL for them); the
/// outbox's `EventDispatcher` calls this API inside its transactions.
public enum DispatchState {
    /// "outbox-1": the cursor and the per-webhook delivery state.
    public static let migrations: [CatalogMigration] = [
        CatalogMigration(name: "outbox-1", sqlite: """
            CREATE TABLE outbox_cursor(
                id INTEGER PRIMARY KEY CHECK(id = 1),
                seq INTEGER NOT NULL,
                updated_at_ns INTEGER NOT NULL);
            INSERT INTO outbox_cursor(id, seq, updated_at_ns) VALUES(1, 0, 0);
            CREATE TABLE webhook_deliveries(
                webhook TEXT NOT NULL,
                event_seq INTEGER NOT NULL REFERENCES events(seq),
                event_id TEXT NOT NULL,
                state TEXT NOT NULL CHECK(state IN ('pending', 'delivered', 'dead')),
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_ns INTEGER NOT NULL,
                last_status INTEGER,
                last_error TEXT,
                updated_at_ns INTEGER NOT NULL,
                PRIMARY KEY(webhook, event_seq)) WITHOUT ROWID;
            CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_ns);
            """, postgres: """
            CREATE TABLE outbox_cursor(
                id BIGINT PRIMARY KEY CHECK(id = 1),
                seq BIGINT NOT NULL,
                updated_at_ns BIGINT NOT NULL);
            INSERT INTO outbox_cursor(id, seq, updated_at_ns) VALUES(1, 0, 0);
            CREATE TABLE webhook_deliveries(
                webhook TEXT NOT NULL,
                event_seq BIGINT NOT NULL REFERENCES events(seq),
                event_id TEXT NOT NULL,
                state TEXT NOT NULL CHECK(state IN ('pending', 'delivered', 'dead')),
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_ns BIGINT NOT NULL,
                last_status INTEGER,
                last_error TEXT,
                updated_at_ns BIGINT NOT NULL,
                PRIMARY KEY(webhook, event_seq));
            CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_ns);
            """),
    ]

    /// The sequence number of the last event dispatched.
    public static func cursor(in tx: any CatalogTransaction) throws -> Int64 {
        try tx.query("SELECT seq FROM outbox_cursor WHERE id = 1").first?.int(0) ?? 0
    }

    /// Moves the cursor from `from` to `to`; false when it was not at `from` (another dispatcher).
    public static func moveCursor(from: Int64, to: Int64, in tx: any CatalogTransaction) throws -> Bool {
        try tx.execute("UPDATE outbox_cursor SET seq = ?, updated_at_ns = ? WHERE id = 1 AND seq = ?",
                       [.integer(to), .integer(wallClockNanoseconds()), .integer(from)]) == 1
    }

    /// Records a pending delivery of an event to a webhook (once).
    public static func addDelivery(webhook: String, event: Event, in tx: any CatalogTransaction) throws {
        let now = wallClockNanoseconds()
        try tx.execute("""
            INSERT INTO webhook_deliveries(webhook, event_seq, event_id, state, attempts, next_attempt_ns, updated_at_ns)
            VALUES(?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT(webhook, event_seq) DO NOTHING
            """, [.text(webhook), .integer(event.sequence), .text(event.id), .integer(now), .integer(now)])
    }

    /// Pending deliveries due now to these webhooks, oldest first.
    public static func due(webhooks names: [String], limit: Int, in tx: any CatalogTransaction) throws -> [(webhook: String, sequence: Int64, attempts: Int)] {
        guard !names.isEmpty else { return [] }
        return try tx.query("""
            SELECT webhook, event_seq, attempts FROM webhook_deliveries
            WHERE state = 'pending' AND next_attempt_ns <= ? AND webhook IN (\(names.map { _ in "?" }.joined(separator: ",")))
            ORDER BY next_attempt_ns, event_seq LIMIT ?
            """, [.integer(wallClockNanoseconds())] + names.map { .text($0) } + [.integer(Int64(limit))]).map {
            ($0.text(0), $0.int(1), Int($0.int(2)))
        }
    }

    /// Records the result of one attempt.
    public static func update(webhook: String, sequence: Int64, state: String, attempts: Int, nextAttempt: Int64, status: Int?,
                       error: String?, in tx: any CatalogTransaction) throws {
        try tx.execute("""
            UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_ns = ?, last_status = ?, last_error = ?,
                updated_at_ns = ? WHERE webhook = ? AND event_seq = ?
            """, [.text(state), .integer(Int64(attempts)), .integer(nextAttempt), .int(status), .string(error),
                  .integer(wallClockNanoseconds()), .text(webhook), .integer(sequence)])
    }

    /// Every delivery, newest first (for `depot events --deliveries`).
    public static func deliveries(limit: Int, in tx: any CatalogTransaction) throws -> [WebhookDelivery] {
        try tx.query("""
            SELECT webhook, event_seq, event_id, state, attempts, next_attempt_ns, last_status, last_error, updated_at_ns
            FROM webhook_deliveries ORDER BY event_seq DESC, webhook LIMIT ?
            """, [.integer(Int64(limit))]).map { row in
            WebhookDelivery(webhook: row.text(0), eventSequence: row.int(1), eventID: row.text(2), state: row.text(3),
                            attempts: Int(row.int(4)), nextAttempt: Timestamp(nanoseconds: row.int(5)),
                            lastStatus: row.optionalInt(6).map(Int.init), lastError: row.optionalText(7),
                            updatedAt: Timestamp(nanoseconds: row.int(8)))
        }
    }

    public static func deliveries(database: any CatalogDatabase, limit: Int = 100) throws -> [WebhookDelivery] {
        try database.read { tx in try deliveries(limit: limit, in: tx) }
    }
}

/// One event's delivery to one webhook, as `depot events --deliveries --json` prints it.
public struct WebhookDelivery: Sendable, Equatable, Codable {
    public var webhook: String
    public var eventSequence: Int64
    public var eventID: String
    /// pending, delivered or dead.
    public var state: String
    public var attempts: Int
    public var nextAttempt: Timestamp
    public var lastStatus: Int?
    public var lastError: String?
    public var updatedAt: Timestamp

    enum CodingKeys: String, CodingKey {
        case webhook, state, attempts
        case eventSequence = "seq", eventID = "event_id", nextAttempt = "next_attempt", lastStatus = "last_status"
        case lastError = "last_error", updatedAt = "updated_at"
    }
}
