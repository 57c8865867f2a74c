import DepotCore
import DepotStore
import Foundation
import Logging
import Metrics
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A webhook ready to send: its settings with the secret read.
struct ResolvedWebhook {
    var settings: WebhookSettings
    var secret: String
}

/// Follows the catalog's event log and dispatches each event: republishes the document it
/// names, appends its envelope to outbox/events.jsonl and queues a delivery to each matching
/// webhook; then delivers what is due. Everything it does blocks (SQLite, fsync, libcurl), so
/// `run()` belongs on a dedicated thread, never on the concurrency pool.
///
/// At least once: the cursor in `outbox_cursor` moves past a batch only after the batch's
/// documents are published and synced, its lines are fsynced in events.jsonl and its
/// deliveries are recorded — in that order, so a crash anywhere replays the batch.
///
/// `@unchecked Sendable`: everything but `stopRequested` (a Mutex) is used by the thread
/// that calls `run()` (or, in tests and `depot outbox`, the one caller).
public final class EventDispatcher: @unchecked Sendable {
    let catalog: SQLiteCatalog
    public let publisher: OutboxPublisher
    let eventsFile: EventsFile
    let settings: OutboxSettings
    let webhooks: [String: ResolvedWebhook]
    let logger: Logger
    private var client: WebhookClient?
    private let stopRequested = Mutex(false)
    /// How long a busy dispatcher waits between batches.
    static let gatherWindow = Duration.milliseconds(100)
    /// Events read per batch: bounds memory and how much one crash replays.
    public var batchSize = 500
    private var failures = 0

    private let dispatched = Counter(label: "depot_events_dispatched_total")
    private let published = Counter(label: "depot_outbox_published_total")
    private let deliveryCounters = ["delivered", "retry", "dead"].reduce(into: [String: Counter]()) {
        $0[$1] = Counter(label: "depot_webhook_deliveries_total", dimensions: [("outcome", $1)])
    }

    /// - Throws: when a webhook's `secret_file` cannot be read.
    public init(catalog: SQLiteCatalog, publisher: OutboxPublisher, settings: OutboxSettings,
                webhooks: [WebhookSettings], logger: Logger) throws {
        self.catalog = catalog
        self.publisher = publisher
        self.settings = settings
        self.logger = logger
        eventsFile = EventsFile(path: publisher.root + "/events.jsonl", mode: settings.fileMode, gid: publisher.gid)
        var resolved: [String: ResolvedWebhook] = [:]
        for hook in webhooks {
            var secret = hook.secret ?? ""
            if let file = hook.secretFile {
                secret = try readTextFile(file)
                // A trailing newline from `echo secret > file` is not part of the key.
                while secret.hasSuffix("\n") || secret.hasSuffix("\r") { secret.removeLast() }
            }
            resolved[hook.name] = ResolvedWebhook(settings: hook, secret: secret)
        }
        self.webhooks = resolved
    }

    // MARK: The loop

    /// Dispatches and delivers until `stop()`. A failing batch (a full disk) is retried with
    /// backoff; the events stay in the catalog meanwhile.
    public func run() {
        logger.info("event dispatch started", metadata: ["webhooks": "\(webhooks.count)"])
        let leftovers = publisher.removeLeftoverBuilds()
        if leftovers > 0 { logger.notice("removed outbox builds left by an earlier run", metadata: ["folders": "\(leftovers)"]) }
        while !stopRequested.withLock({ $0 }) {
            var busy = false
            do {
                busy = try dispatchOnce() > 0
                failures = 0
            } catch {
                failures += 1
                logger.error("event dispatch failed; retrying", metadata: ["error": "\(error)", "failures": "\(failures)"])
                pause(Duration.milliseconds(min(30_000, 250 << min(failures, 7))))
                continue
            }
            if (try? deliverDue()) ?? 0 > 0 { busy = true }
            if busy {
                // Let the next events gather: one batch then shares one sync of the outbox,
                // one fsync of events.jsonl and one cursor commit, instead of one per trickle.
                pause(Self.gatherWindow)
            } else {
                // Replaced folders past their grace period go even when nothing is published.
                try? publisher.sweepTrash()
                pause(settings.pollInterval)
            }
        }
        logger.info("event dispatch stopped")
    }

    public func stop() { stopRequested.withLock { $0 = true } }

    /// Sleeps in short steps so that `stop()` is seen promptly.
    private func pause(_ duration: Duration) {
        var left = duration.nanosecondsValue
        while left > 0 && !stopRequested.withLock({ $0 }) {
            let step = min(left, 50_000_000)
            usleep(UInt32(step / 1000))
            left -= step
        }
    }

    // MARK: Dispatch

    /// The sequence number of the last event dispatched.
    public func cursor() throws -> Int64 {
        try catalog.withConnection { db in
            try db.query("SELECT seq FROM outbox_cursor WHERE id = 1").first?.int(0) ?? 0
        }
    }

    /// Dispatches one batch of events after the cursor; returns how many.
    @discardableResult
    public func dispatchOnce() throws -> Int {
        let start = try cursor()
        let events = try catalog.withConnection { db in try EventLog.events(after: start, limit: batchSize, in: db) }
        guard let last = events.last else { return 0 }

        var documents: [Int64] = []
        var seen = Set<Int64>()
        for event in events {
            guard let id = try documentID(of: event), seen.insert(id).inserted else { continue }
            documents.append(id)
        }
        for id in documents {
            do {
                try publisher.publish(documentID: id)
                published.increment()
            } catch let error as OutboxError {
                // A document that can never be published (a name the outbox refuses) must not
                // hold up every event after it.
                logger.error("document not published", metadata: ["document_id": "\(id)", "error": "\(error)"])
            }
        }
        if !documents.isEmpty { try publisher.sync() }
        try eventsFile.append(events)

        let now = wallClockNanoseconds()
        try catalog.withConnection { db in
            try db.transaction {
                for event in events where !event.type.hasPrefix("webhook.") {
                    for hook in webhooks.values where hook.settings.wants(event.type) {
                        try db.query("""
                            INSERT OR IGNORE INTO webhook_deliveries(webhook, event_seq, event_id, state, attempts, next_attempt_ns, updated_at_ns)
                            VALUES(?, ?, ?, 'pending', 0, ?, ?)
                            """, [.text(hook.settings.name), .integer(event.sequence), .text(event.id), .integer(now), .integer(now)])
                    }
                }
                try db.query("UPDATE outbox_cursor SET seq = ?, updated_at_ns = ? WHERE id = 1 AND seq = ?",
                             [.integer(last.sequence), .integer(now), .integer(start)])
                guard db.changes == 1 else {
                    throw OutboxError("the outbox cursor moved under this dispatcher (is a second `depot serve` running on this root?)")
                }
            }
        }
        dispatched.increment(by: events.count)
        return events.count
    }

    /// The document an event is about: `document_id` in its data, else the document of its
    /// `version_id`, else of its `job_id` (when the job queue's table exists).
    func documentID(of event: Event) throws -> Int64? {
        if event.type.hasPrefix("webhook.") { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: Data(event.dataJSON.utf8)) as? [String: Any] else { return nil }
        func integer(_ key: String) -> Int64? { (object[key] as? NSNumber)?.int64Value }
        if let id = integer("document_id") { return id }
        return try catalog.withConnection { db -> Int64? in
            if let version = integer("version_id") {
                return try db.query("SELECT document_id FROM versions WHERE id = ?", [.integer(version)]).first?.int(0)
            }
            if let job = integer("job_id"),
               try !db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").isEmpty {
                return try db.query("SELECT v.document_id FROM jobs j JOIN versions v ON v.id = j.version_id WHERE j.id = ?",
                                    [.integer(job)]).first?.int(0)
            }
            return nil
        }
    }

    // MARK: Webhooks

    /// Sends the deliveries that are due (at most `limit`); returns how many were attempted.
    @discardableResult
    public func deliverDue(limit: Int = 32) throws -> Int {
        guard !webhooks.isEmpty else { return 0 }
        let names = webhooks.keys.sorted()
        let now = wallClockNanoseconds()
        let due = try catalog.withConnection { db in
            try db.query("""
                SELECT d.webhook, d.event_seq, d.attempts FROM webhook_deliveries d
                WHERE d.state = 'pending' AND d.next_attempt_ns <= ?
                  AND d.webhook IN (\(names.map { _ in "?" }.joined(separator: ",")))
                ORDER BY d.next_attempt_ns, d.event_seq LIMIT ?
                """, [.integer(now)] + names.map { .text($0) } + [.integer(Int64(limit))])
        }
        if due.isEmpty { return 0 }
        if client == nil { client = try WebhookClient() }
        for row in due {
            guard let hook = webhooks[row.text(0)] else { continue }
            let seq = row.int(1)
            guard let event = try catalog.withConnection({ db in try EventLog.events(after: seq - 1, limit: 1, in: db) }).first,
                  event.sequence == seq else { continue }
            let attempts = Int(row.int(2)) + 1
            let response = client!.post(url: hook.settings.url, body: event.envelopeJSON, eventType: event.type,
                                        eventID: event.id, secret: hook.secret, timeout: hook.settings.timeout)
            try record(response, hook: hook, event: event, attempts: attempts)
        }
        return due.count
    }

    private func record(_ response: WebhookResponse, hook: ResolvedWebhook, event: Event, attempts: Int) throws {
        let now = wallClockNanoseconds()
        var status: SQLValue = .null
        var error: String?
        var retryAfter: Int64?
        switch response {
        case .status(let code, let after):
            status = .integer(Int64(code))
            if !response.isSuccess { error = "HTTP \(code)" }
            // RFC 9110 §10.2.3: Retry-After on 429 and 503 says when to come back.
            if code == 429 || code == 503 { retryAfter = after }
        case .transportError(let message):
            error = message
        }
        let state: String
        var next = now
        if response.isSuccess {
            state = "delivered"
        } else if attempts >= hook.settings.maxAttempts {
            state = "dead"
        } else {
            state = "pending"
            next = now + Self.retryDelay(attempts: attempts, retryAfterSeconds: retryAfter, settings: settings)
        }
        let key: [SQLValue] = [.text(hook.settings.name), .integer(event.sequence)]
        try catalog.withConnection { db in
            try db.transaction {
                try db.query("""
                    UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_ns = ?, last_status = ?,
                        last_error = ?, updated_at_ns = ? WHERE webhook = ? AND event_seq = ?
                    """, [.text(state), .integer(Int64(attempts)), .integer(next), status,
                          error.map { .text($0) } ?? .null, .integer(now)] + key)
                if state == "dead" {
                    var data: [String: Any] = ["webhook": hook.settings.name, "event_id": event.id, "event_type": event.type,
                                               "attempts": attempts, "error": error ?? ""]
                    if case .integer(let code) = status { data["last_status"] = code }
                    try EventLog.append("webhook.dead", data: data, in: db)
                }
            }
        }
        switch state {
        case "delivered":
            deliveryCounters["delivered"]?.increment()
        case "dead":
            deliveryCounters["dead"]?.increment()
            logger.error("webhook delivery gave up", metadata: [
                "webhook": "\(hook.settings.name)", "event_id": "\(event.id)", "attempts": "\(attempts)", "error": "\(error ?? "")"])
        default:
            deliveryCounters["retry"]?.increment()
            logger.warning("webhook delivery failed; will retry", metadata: [
                "webhook": "\(hook.settings.name)", "event_id": "\(event.id)", "attempts": "\(attempts)",
                "error": "\(error ?? "")", "retry_in_ms": "\((next - now) / 1_000_000)"])
        }
    }

    /// Exponential backoff with jitter (half fixed, half random, so retries of many events
    /// spread out) up to `retry_max`; never sooner than the receiver's Retry-After asked, which
    /// may exceed `retry_max` (the receiver knows best) but is cut to a day.
    static func retryDelay(attempts: Int, retryAfterSeconds: Int64?, settings: OutboxSettings) -> Int64 {
        let initial = settings.retryInitial.nanosecondsValue
        let maximum = settings.retryMax.nanosecondsValue
        let exponential = min(maximum, initial.multipliedReportingOverflow(by: 1 << min(attempts - 1, 40)).overflow
                                ? maximum : initial << min(attempts - 1, 40))
        let half = exponential / 2
        var delay = half + Int64.random(in: 0...max(0, exponential - half))
        if let seconds = retryAfterSeconds {
            delay = max(delay, min(86_400, seconds) * 1_000_000_000)
        }
        return delay
    }

    /// The delivery state of every webhook delivery, newest first (for `depot events --deliveries`).
    public func deliveries(limit: Int = 100) throws -> [WebhookDelivery] {
        try Self.deliveries(catalog: catalog, limit: limit)
    }

    public static func deliveries(catalog: SQLiteCatalog, limit: Int = 100) throws -> [WebhookDelivery] {
        try catalog.withConnection { db in
            try db.query("""
                SELECT webhook, event_seq, event_id, state, attempts, next_attempt_ns, last_status, last_error, updated_at_ns
                FROM webhook_deliveries ORDER BY event_seq DESC, webhook LIMIT ?
                """, [.integer(Int64(limit))]).map { row in
                WebhookDelivery(webhook: row.text(0), eventSequence: row.int(1), eventID: row.text(2), state: row.text(3),
                                attempts: Int(row.int(4)), nextAttemptNanoseconds: row.int(5),
                                lastStatus: row.optionalInt(6).map(Int.init), lastError: row.values[7] == .null ? nil : row.text(7),
                                updatedAtNanoseconds: row.int(8))
            }
        }
    }
}

/// One event's delivery to one webhook.
public struct WebhookDelivery: Sendable, Equatable {
    public var webhook: String
    public var eventSequence: Int64
    public var eventID: String
    /// pending, delivered or dead.
    public var state: String
    public var attempts: Int
    public var nextAttemptNanoseconds: Int64
    public var lastStatus: Int?
    public var lastError: String?
    public var updatedAtNanoseconds: Int64
}
