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
/// One node at a time: `run()` works only while it holds the catalog's "event-dispatch"
/// `ClusterLock` — on PostgreSQL a session advisory lock, which the server releases when the
/// holder's process dies, so another node's dispatcher takes over from the cursor; on SQLite
/// (one machine) always. A delivery is checked against the lock before it is sent.
///
/// `@unchecked Sendable`: everything but `stopRequested` (a Mutex) is used by the thread
/// that calls `run()` (or, in tests and `depot outbox`, the one caller).
public final class EventDispatcher: @unchecked Sendable {
    let database: any CatalogDatabase
    public let publisher: OutboxPublisher
    let eventsFile: EventsFile
    let settings: OutboxSettings
    /// The webhooks, by name; replaced whole by `reload` (SIGHUP).
    private let webhookTable = Mutex<[String: ResolvedWebhook]>([:])
    var webhooks: [String: ResolvedWebhook] { webhookTable.withLock { $0 } }
    let logger: Logger
    private var client: WebhookClient?
    private let stopRequested = Mutex(false)
    /// Held while this process dispatches (one node at a time).
    let lock: any ClusterLock
    /// How long a busy dispatcher waits between batches.
    static let gatherWindow = Duration.milliseconds(100)
    /// How often a dispatcher standing by asks for the lock.
    static let standbyPoll = Duration.milliseconds(500)
    /// Events read per batch: bounds memory and how much one crash replays.
    public var batchSize = 500
    private var failures = 0

    private let dispatched = Counter(label: "depot_events_dispatched_total")
    private let published = Counter(label: "depot_outbox_published_total")
    private let deliveryCounters = ["delivered", "retry", "dead"].reduce(into: [String: Counter]()) {
        $0[$1] = Counter(label: "depot_webhook_deliveries_total", dimensions: [("outcome", $1)])
    }

    /// - Throws: when a webhook's `secret_file` cannot be read.
    public init(publisher: OutboxPublisher, settings: OutboxSettings, webhooks: [WebhookSettings], logger: Logger) throws {
        self.database = publisher.catalog.database
        lock = publisher.catalog.database.clusterLock(named: "event-dispatch")
        self.publisher = publisher
        self.settings = settings
        self.logger = logger
        eventsFile = EventsFile(path: publisher.root + "/events.jsonl", mode: settings.fileMode, gid: publisher.gid)
        webhookTable.withLock { $0 = [:] }
        try reload(webhooks: webhooks)
    }

    /// Takes a new list of webhooks (SIGHUP): deliveries already recorded for a webhook that
    /// is gone stay as they are; a new one receives the events dispatched from now on.
    /// - Throws: when a webhook's `secret_file` cannot be read (the old list stays).
    public func reload(webhooks: [WebhookSettings]) throws {
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
        webhookTable.withLock { $0 = resolved }
    }

    // MARK: The loop

    /// Dispatches and delivers until `stop()`. A failing batch (a full disk) is retried with
    /// backoff; the events stay in the catalog meanwhile.
    public func run() {
        logger.info("event dispatch started", metadata: ["webhooks": "\(webhooks.count)"])
        let leftovers = publisher.removeLeftoverBuilds()
        if leftovers > 0 { logger.notice("removed outbox builds left by an earlier run", metadata: ["folders": "\(leftovers)"]) }
        var holding: Bool?
        while !stopRequested.withLock({ $0 }) {
            guard lock.hold() else {
                if holding != false {
                    logger.notice(holding == true ? "this node no longer dispatches events (lock lost); standing by"
                                  : "another node dispatches events; this one stands by")
                    holding = false
                }
                pause(Self.standbyPoll)
                continue
            }
            if holding != true {
                logger.notice("this node dispatches events", metadata: ["cursor": "\((try? cursor()) ?? -1)"])
                holding = true
            }
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
        lock.release()
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
        try database.read { tx in try DispatchState.cursor(in: tx) }
    }

    /// Dispatches one batch of events after the cursor; returns how many.
    @discardableResult
    public func dispatchOnce() throws -> Int {
        let start = try cursor()
        let events = try database.read { tx in try EventLog.events(after: start, limit: batchSize, in: tx) }
        guard let last = events.last else { return 0 }

        var documents: [Int64] = []
        var seen = Set<Int64>()
        // Where a trashed or purged document was: a document purged before its events are
        // dispatched is gone from the catalog, and its folder is found from the event.
        var removedFrom: [Int64: (collection: String, path: String)] = [:]
        // The document an event is about is a column of the log: webhook events have none.
        for event in events where !event.type.hasPrefix("webhook.") {
            guard let id = event.documentID else { continue }
            if event.type == DocumentTrashed.eventType || event.type == DocumentPurged.eventType,
               let place = try? JSONDecoder().decode(TrashedPlace.self, from: Data(event.dataJSON.utf8)), place.kind == "document" {
                removedFrom[id] = (place.collection, place.path)
            }
            guard seen.insert(id).inserted else { continue }
            documents.append(id)
        }
        for id in documents {
            // A batch of hundreds of documents may take longer than the lock's session timeout
            // (PostgreSQL ends a silent session, and the lock with it, after 60 s): asking
            // before each document keeps the session alive, and a dispatcher that lost the
            // lock all the same stops here instead of publishing beside the new holder.
            guard lock.hold() else { throw OutboxError("the dispatch lock was lost during a batch; another node carries on") }
            do {
                try publisher.publish(documentID: id, removedFrom: removedFrom[id])
                published.increment()
            } catch let error as OutboxError {
                // A document that can never be published (a name the outbox refuses) must not
                // hold up every event after it.
                logger.error("document not published", metadata: ["document_id": "\(id)", "error": "\(error)"])
            }
        }
        if !documents.isEmpty { try publisher.sync() }
        try eventsFile.append(events)

        let webhooks = self.webhooks
        try database.write { tx in
            for event in events where !event.type.hasPrefix("webhook.") {
                for hook in webhooks.values where hook.settings.wants(event.type) {
                    try DispatchState.addDelivery(webhook: hook.settings.name, event: event, in: tx)
                }
            }
            guard try DispatchState.moveCursor(from: start, to: last.sequence, in: tx) else {
                throw OutboxError("the outbox cursor moved under this dispatcher (is a second `depot serve` running on this root?)")
            }
        }
        dispatched.increment(by: events.count)
        return events.count
    }

    // MARK: Webhooks

    /// Sends the deliveries that are due (at most `limit`); returns how many were attempted.
    @discardableResult
    public func deliverDue(limit: Int = 32) throws -> Int {
        let webhooks = self.webhooks
        guard !webhooks.isEmpty else { return 0 }
        let due = try database.read { tx in try DispatchState.due(webhooks: webhooks.keys.sorted(), limit: limit, in: tx) }
        if due.isEmpty { return 0 }
        if client == nil { client = try WebhookClient() }
        for delivery in due {
            // Another node took over (this one's session ended): it sends what is left.
            guard lock.hold() else { break }
            guard let hook = webhooks[delivery.webhook],
                  let event = try database.read({ tx in try EventLog.event(sequence: delivery.sequence, in: tx) }) else { continue }
            let attempts = delivery.attempts + 1
            let response = client!.post(url: hook.settings.url, body: event.envelopeJSON, eventType: event.type,
                                        eventID: event.id, secret: hook.secret, timeout: hook.settings.timeout)
            try record(response, hook: hook, event: event, attempts: attempts)
        }
        return due.count
    }

    private func record(_ response: WebhookResponse, hook: ResolvedWebhook, event: Event, attempts: Int) throws {
        let now = wallClockNanoseconds()
        var status: Int?
        var error: String?
        var retryAfter: Int64?
        switch response {
        case .status(let code, let after):
            status = code
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
        try database.write { tx in
            try DispatchState.update(webhook: hook.settings.name, sequence: event.sequence, state: state, attempts: attempts,
                                     nextAttempt: next, status: status, error: error, in: tx)
            if state == "dead" {
                try EventLog.append(WebhookDead(webhook: hook.settings.name, eventID: event.id, eventType: event.type,
                                                attempts: attempts, error: error ?? "", lastStatus: status), in: tx)
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

    /// The delivery state of every webhook delivery, newest first.
    public func deliveries(limit: Int = 100) throws -> [WebhookDelivery] {
        try DispatchState.deliveries(database: database, limit: limit)
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
}

/// The part of a trash event's data (a `TrashEntry`) the outbox needs.
private struct TrashedPlace: Decodable {
    var kind: String
    var collection: String
    var path: String
}
