// DepotOutbox: the outbox projection and event dispatch.
//
// It owns outbox/ under the depot root: one folder per document
// (`outbox/<collection>/<path>/` with manifest.json and the artifact files), published by
// building beside it and renaming into place (OutboxPublisher), and outbox/events.jsonl
// (EventsFile). The EventDispatcher follows the catalog's event log by sequence number and,
// for each event, republishes the document it names, appends the envelope to events.jsonl and
// queues a signed POST to each matching webhook (WebhookClient), retried with backoff.
// Its own state (the cursor, the webhook deliveries) lives in the catalog ("outbox-1").
// Nothing here is a source of truth: the outbox can be rebuilt from the catalog at any time.
import DepotStore

/// The tables of the outbox in the catalog database.
public enum OutboxSchema {
    /// "outbox-1": the dispatcher's cursor over `events` and the per-webhook delivery state.
    public static let migrations: [CatalogMigration] = [
        CatalogMigration(name: "outbox-1", sql: """
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
            """),
    ]
}
