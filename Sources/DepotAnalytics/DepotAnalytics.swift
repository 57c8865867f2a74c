// DepotAnalytics: what the owner of the appliance sees without reading logs. It follows the
// event log into roll-ups by minute (kept a day), hour (kept 90 days) and day (kept forever),
// in tables the store owns ("analytics-1", DepotStore.AnalyticsRecords), answers time series
// over them (processing time per job kind × media type, usage, failures, queue, storage,
// custom metrics from `[analytics]`), builds the one `depot status` record, streams the event
// log live (`EventHub`, for SSE and `depot events --follow`), draws charts as SVG and writes
// the scheduled reports into outbox/reports/. Job kinds, media types, collections and event
// types are read from what was recorded, never listed here.
import DepotCore
import DepotStore
import Foundation

/// `[analytics]`: the live feed's heartbeat, the report schedule, custom metrics.
public struct AnalyticsSettings: ConfigSection {
    public static let key = "analytics"
    /// Whether `depot serve` records into the roll-ups (off: the stats stay as they are).
    public var record = true
    /// A comment line on every SSE stream this often, so proxies and clients see it alive.
    public var heartbeat: Duration = .seconds(15)
    /// How often the live feed looks for new events (the latency after a commit).
    public var feedInterval: Duration = .milliseconds(10)
    /// "daily", "weekly", "monthly" or "off".
    public var report: String = "daily"
    /// The UTC time of day ("HH:MM") after which the report of the period that ended is written.
    public var reportAt: Int = 6 * 60
    /// `[[analytics.metrics]]`: the owner's own counters and histograms.
    public var metrics: [CustomMetric] = []

    public init() {}

    public init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["record", "heartbeat", "feed_interval", "report", "report_at", "metrics"])
        if let v = try r.bool("record") { record = v }
        if let v = try r.duration("heartbeat") {
            guard v >= .milliseconds(100) else { throw r.fail("heartbeat", "must be at least 100ms") }
            heartbeat = v
        }
        if let v = try r.duration("feed_interval") {
            guard v >= .milliseconds(1), v <= .seconds(10) else { throw r.fail("feed_interval", "must be from 1ms to 10s") }
            feedInterval = v
        }
        if let v = try r.choice("report", ["daily", "weekly", "monthly", "off"]) { report = v }
        if let v = try r.string("report_at") {
            let parts = v.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, (0..<24).contains(parts[0]), (0..<60).contains(parts[1]) else {
                throw r.fail("report_at", "must be a UTC time of day such as \"06:00\"")
            }
            reportAt = parts[0] * 60 + parts[1]
        }
        if let node = r.node("metrics") {
            var names = Set<String>()
            for m in try node.tables() {
                try m.allow(["name", "kind", "help", "events", "collection", "tag", "media_type", "field"])
                guard let name = try m.string("name"), !name.isEmpty,
                      name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                    throw m.fail("name", "must be letters, digits and _ (it becomes depot_custom_NAME on /metrics)")
                }
                guard names.insert(name).inserted else { throw m.fail("name", "'\(name)' names two metrics") }
                var metric = CustomMetric(name: name)
                if let v = try m.choice("kind", ["counter", "histogram"]) { metric.isHistogram = v == "histogram" }
                metric.help = try m.string("help") ?? ""
                if let v = try m.strings("events") { metric.events = v }
                metric.collection = try m.string("collection")
                metric.tag = try m.string("tag")
                metric.mediaType = try m.string("media_type")
                if let v = try m.string("field") {
                    guard !v.isEmpty else { throw m.fail("field", "must name a number in the event's data (\"size\")") }
                    metric.field = v
                } else if metric.isHistogram {
                    throw m.fail("field", "is required for a histogram: the number in the event's data it counts (\"size\", \"processing_ms\")")
                }
                metrics.append(metric)
            }
        }
    }
}

/// A metric the owner defined: a counter (events that match) or a histogram (of a number in
/// their data) over events filtered by type, collection, tag and media type.
public struct CustomMetric: Sendable, Equatable, Codable {
    public var name: String
    public var isHistogram = false
    public var help = ""
    /// Event types ("file.stored", "job.*"); empty: every type.
    public var events: [String] = []
    public var collection: String?
    public var tag: String?
    /// A media type, or a family ("video/*").
    public var mediaType: String?
    /// For a histogram: the number in the event's data ("size", "processing_ms").
    public var field: String?

    public init(name: String) { self.name = name }

    /// Whether an event (its type, collection, media type and its document's tags) counts.
    public func matches(type: String, collection: String?, mediaType: String?, tags: [String]) -> Bool {
        guard EventFilter(types: events, collection: self.collection).matches(type: type, collection: collection) else { return false }
        if let tag, !tags.contains(tag) { return false }
        if let wanted = self.mediaType {
            guard let mediaType else { return false }
            if wanted.hasSuffix("/*") { return mediaType.hasPrefix(wanted.dropLast()) }
            return wanted == mediaType
        }
        return true
    }

    enum CodingKeys: String, CodingKey {
        case name, help, events, collection, tag, field
        case isHistogram = "histogram", mediaType = "media_type"
    }
}

/// Runs blocking work (SQLite, files) on a Dispatch queue, never on the concurrency pool.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        offPoolQueue.async { continuation.resume(with: Result { try body() }) }
    }
}

private let offPoolQueue = DispatchQueue(label: "depot.analytics.blocking", attributes: .concurrent)

/// Seconds since the epoch now.
public func nowSeconds() -> Int64 { wallClockNanoseconds() / 1_000_000_000 }
