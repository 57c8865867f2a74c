// DepotOutbox: the outbox projection and event dispatch.
//
// It owns outbox/ under the depot root: one folder per document
// (`outbox/<collection>/<path>/` with manifest.json and the artifact files), published by
// building beside it and renaming into place (OutboxPublisher), and outbox/events.jsonl
// (EventsFile). The EventDispatcher follows the catalog's event log by sequence number and,
// for each event, republishes the document it names, appends the envelope to events.jsonl and
// queues a signed POST to each matching webhook (WebhookClient), retried with backoff.
// Its state — the cursor and the webhook deliveries — lives in tables the store owns
// ("outbox-1", DepotStore.DispatchState); documents, versions, artifacts and jobs it reads
// through the store's and the queue's APIs. Nothing here is a source of truth: the outbox can be rebuilt at any time.
import DepotCore
import DepotStore

/// `[outbox]`: how the outbox is written and how events are dispatched from the catalog.
public struct OutboxSettings: ConfigSection {
    public static let key = "outbox"
    /// Mode of the files depot writes into the outbox (manifest.json, copied artifacts,
    /// events.jsonl). Artifacts hard-linked from the store keep the blob's 0444 when that
    /// is no wider than this mode; otherwise they are copied with this mode.
    public var fileMode: UInt32 = 0o644
    /// Mode of the folders depot creates in the outbox.
    public var dirMode: UInt32 = 0o755
    /// A group given to what depot writes in the outbox (a share's group), or nil to keep the process's.
    public var group: String?
    /// How often the dispatcher looks for new events in the catalog.
    public var pollInterval: Duration = .milliseconds(250)
    /// How long a replaced document folder is kept (in outbox/.depot-trash) so that a reader
    /// that opened it before the swap can finish reading it.
    public var gracePeriod: Duration = .seconds(60)
    /// First delay before a failed webhook delivery is retried; it doubles (with jitter) up to `retryMax`.
    public var retryInitial: Duration = .seconds(5)
    public var retryMax: Duration = .seconds(3600)

    public init() {}

    public init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["file_mode", "dir_mode", "group", "poll_interval", "grace_period", "retry_initial", "retry_max"])
        if let v = try r.fileMode("file_mode") { fileMode = v }
        if let v = try r.fileMode("dir_mode") { dirMode = v }
        if let v = try r.string("group") { group = v.isEmpty ? nil : v }
        if let v = try r.duration("poll_interval") { pollInterval = v }
        if let v = try r.duration("grace_period") { gracePeriod = v }
        if let v = try r.duration("retry_initial") { retryInitial = v }
        if let v = try r.duration("retry_max") { retryMax = v }
        guard pollInterval > .zero else { throw r.fail("poll_interval", "must be positive") }
        guard retryInitial > .zero else { throw r.fail("retry_initial", "must be positive") }
        guard retryMax >= retryInitial else { throw r.fail("retry_max", "must be at least retry_initial") }
    }
}

/// One `[[webhooks]]` entry: a URL that receives every matching event as a signed POST.
public struct WebhookSettings: Sendable, Equatable {
    /// Names the webhook in the delivery state; defaults to the URL. Renaming it starts afresh.
    public var name: String
    public var url: String
    /// The HMAC-SHA256 key for `X-Depot-Signature`; read from `secretFile` when that is set.
    public var secret: String?
    public var secretFile: String?
    /// Event types to deliver; ["*"] for all.
    public var events: [String] = ["*"]
    /// Attempts before a delivery is given up (dead).
    public var maxAttempts: Int = 10
    /// The whole request, connection included, must finish within this.
    public var timeout: Duration = .seconds(10)

    public init(url: String, name: String? = nil, secret: String? = nil) {
        self.url = url
        self.name = name ?? url
        self.secret = secret
    }

    /// Whether an event of this type goes to this webhook.
    public func wants(_ type: String) -> Bool {
        events.contains("*") || events.contains(type)
    }
}

/// `[[webhooks]]`: the receivers, in the order the file lists them.
public struct WebhooksSection: ConfigSection {
    public static let key = "webhooks"
    public var webhooks: [WebhookSettings] = []

    public init() {}

    public init(_ webhooks: [WebhookSettings]) { self.webhooks = webhooks }

    public init(node: ConfigNode) throws {
        var names = Set<String>()
        for r in try node.tables() {
            try r.allow(["name", "url", "secret", "secret_file", "events", "max_attempts", "timeout"])
            guard let url = try r.string("url"), url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw r.fail("url", "must be an http:// or https:// URL")
            }
            var hook = WebhookSettings(url: url, name: try r.string("name"), secret: try r.string("secret"))
            hook.secretFile = try r.string("secret_file")
            guard (hook.secret == nil) != (hook.secretFile == nil) else {
                throw r.fail("secret", "or secret_file must be set (one of them)")
            }
            if let v = try r.strings("events") {
                guard !v.isEmpty else { throw r.fail("events", "must name at least one event type, or \"*\"") }
                hook.events = v
            }
            if let v = try r.int("max_attempts", min: 1, max: 1000) { hook.maxAttempts = v }
            if let v = try r.duration("timeout") {
                guard v > .zero else { throw r.fail("timeout", "must be positive") }
                hook.timeout = v
            }
            guard names.insert(hook.name).inserted else { throw r.fail("name", "'\(hook.name)' is used by two webhooks") }
            webhooks.append(hook)
        }
    }
}
