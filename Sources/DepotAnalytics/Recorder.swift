import DepotCore
import DepotQueue
import DepotStore
import Foundation
import Logging
import Metrics
import Synchronization

/// The roll-up resolutions and how long each is kept: minutes a day, hours 90 days, days forever.
public enum Resolution {
    public static let minute: Int64 = 60, hour: Int64 = 3600, day: Int64 = 86400
    public static let all: [Int64] = [minute, hour, day]

    /// Seconds a resolution's rows are kept (nil: forever).
    public static func retention(_ step: Int64) -> Int64? {
        switch step {
        case minute: return day
        case hour: return 90 * day
        default: return nil
        }
    }
}

/// Dimensions of a series, in a fixed order per series, as one text column.
public enum RollupDimensions {
    static let separator: Character = "\u{1F}"

    public static func encode(_ values: [String]) -> String {
        values.map { $0.contains(separator) ? String($0.map { $0 == separator ? " " : $0 }) : $0 }
            .joined(separator: String(separator))
    }

    public static func decode(_ text: String) -> [String] {
        text.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
    }
}

/// Values to add to the roll-ups, gathered in memory and written in one transaction: each
/// value goes into its minute, hour and day.
public struct RollupBatch: Sendable {
    /// A cell's identity: its resolution, series, bucket and encoded dimensions.
    private struct Key: Hashable, Comparable {
        var step: Int64, series: String, bucket: Int64, dims: String
        static func < (a: Key, b: Key) -> Bool { (a.step, a.series, a.bucket, a.dims) < (b.step, b.series, b.bucket, b.dims) }
    }
    private var cells: [Key: RollupCell] = [:]

    public init() {}

    public var isEmpty: Bool { cells.isEmpty }
    public var count: Int { cells.count }

    /// One observation of `value` (a duration, a size; 0 for a plain count) at `seconds`.
    /// `count` observations at once make `value` their total (the histogram takes their mean).
    /// `gauge`: no histogram (a sampled level, or a plain count). `steps`: the resolutions
    /// written (all of them unless a caller knows some would be pruned at once).
    public mutating func add(_ series: String, _ dims: [String], value: Double, at seconds: Int64, gauge: Bool = false,
                             count: Int64 = 1, steps: [Int64] = Resolution.all) {
        let encoded = RollupDimensions.encode(dims)
        let each = value / Double(max(count, 1))
        for step in steps {
            let bucket = seconds - ((seconds % step) + step) % step
            let key = Key(step: step, series: series, bucket: bucket, dims: encoded)
            // Changed where it is stored (no copy of the cell and its histogram per value).
            cells[key, default: RollupCell(step: step, series: series, bucket: bucket, dims: encoded, count: 0, sum: 0,
                                           max: -.infinity, last: 0, histogram: RollupHistogram())]
                .observe(value, each: each, count: count, gauge: gauge)
        }
    }

    public func write(in tx: any CatalogTransaction) throws {
        for key in cells.keys.sorted() { try AnalyticsRecords.add(cells[key]!, in: tx) }
    }
}

extension RollupCell {
    /// `count` observations of `each`, `value` in all.
    fileprivate mutating func observe(_ value: Double, each: Double, count: Int64, gauge: Bool) {
        self.count += count
        sum += value
        max = Swift.max(max, each)
        last = each
        if !gauge { histogram.add(each, count: count) }
    }
}

/// Downloads and link rejections, counted in memory by the HTTP server (a catalog write per
/// download would cost more than the download) and written into the roll-ups by the recorder
/// every few seconds.
public final class UsageCounters: Sendable {
    private struct Counts {
        var downloads: [String: (count: Int64, bytes: Int64)] = [:]
        var rejections: [String: Int64] = [:]
    }

    private let counts = Mutex(Counts())

    public init() {}

    /// A download (200/206) of `bytes` from a collection.
    public func download(collection: String, bytes: Int64) {
        counts.withLock { c in
            var d = c.downloads[collection] ?? (0, 0)
            d.count += 1
            d.bytes += bytes
            c.downloads[collection] = d
        }
    }

    /// A link refused, and why ("expired", "bad_signature", "revoked", "malformed", …).
    public func linkRejected(reason: String) { counts.withLock { $0.rejections[reason, default: 0] += 1 } }

    /// Takes what was counted since the last call, as roll-up values at `seconds`.
    func drain(into batch: inout RollupBatch, at seconds: Int64) {
        let taken = counts.withLock { c -> Counts in
            let t = c
            c = Counts()
            return t
        }
        for (collection, d) in taken.downloads.sorted(by: { $0.key < $1.key }) {
            batch.add("download", [collection], value: Double(d.bytes), at: seconds, count: d.count)
        }
        for (reason, n) in taken.rejections.sorted(by: { $0.key < $1.key }) {
            batch.add("link.rejected", [reason], value: 0, at: seconds, count: n)
        }
    }
}

/// Follows the event log into the roll-ups (exactly once: the cursor moves in the same
/// transaction as the rows it produced), samples the queue and the store once a minute, takes
/// the HTTP server's usage counts, and prunes what is past its resolution's retention.
public final class AnalyticsRecorder: Sendable {
    public static let cursorName = "recorder"
    let queue: JobQueue
    let store: (any BlobStore)?
    let settings: AnalyticsSettings
    public let usage: UsageCounters
    let logger: Logger
    private let stopRequested = Mutex(false)
    private let lastSample = Mutex<Int64>(0)

    public init(queue: JobQueue, store: (any BlobStore)?, settings: AnalyticsSettings, usage: UsageCounters = UsageCounters(),
                logger: Logger = Logger(label: "depot.analytics")) {
        self.queue = queue
        self.store = store
        self.settings = settings
        self.usage = usage
        self.logger = logger
    }

    var database: any CatalogDatabase { queue.database }

    /// Records every event after the cursor; returns how many were read.
    @discardableResult
    public func catchUp(batchSize: Int = 1000) throws -> Int {
        var total = 0
        while true {
            let n = try recordBatch(limit: batchSize)
            total += n
            if n < batchSize { return total }
        }
    }

    private func recordBatch(limit: Int) throws -> Int {
        let (cursor, events) = try database.read { tx -> (Int64, [FeedEvent]) in
            let cursor = try AnalyticsRecords.cursor(Self.cursorName, in: tx)
            return (cursor, try EventLog.feed(after: cursor, limit: limit, scan: limit, in: tx).events)
        }
        guard let last = events.last else { return 0 }
        var batch = RollupBatch()
        var tagCache: [Int64: [String]] = [:]
        let needsTags = settings.metrics.contains { $0.tag != nil }
        let decoder = JSONDecoder()
        for item in events {
            var tags: [String] = []
            if needsTags, let id = item.event.documentID {
                if let known = tagCache[id] { tags = known } else {
                    tags = (try? database.read { tx in try queue.catalog.tags(ofDocument: id, in: tx) }) ?? []
                    tagCache[id] = tags
                }
            }
            Self.record(item, tags: tags, metrics: settings.metrics, decoder: decoder, into: &batch)
        }
        try database.write { tx in
            guard try AnalyticsRecords.cursor(Self.cursorName, in: tx) == cursor else { return }  // another recorder did it
            try batch.write(in: tx)
            try AnalyticsRecords.setCursor(Self.cursorName, to: last.event.sequence, in: tx)
        }
        return events.count
    }

    /// What one event adds to the roll-ups: its type's count, and by type the job's figures,
    /// the ingest, the failure; and the custom metrics it matches.
    static func record(_ item: FeedEvent, tags: [String], metrics: [CustomMetric], decoder: JSONDecoder,
                       into batch: inout RollupBatch) {
        let e = item.event
        let at = e.timestampNanoseconds / 1_000_000_000
        // Other events count by type and collection alone: their data is read only when the
        // feed did not name the collection or a custom metric may filter on it.
        let needsData = e.type == "file.stored" || e.type.hasPrefix("job.") || item.collection == nil || !metrics.isEmpty
        let data = needsData ? RecordedFields.decode(e.dataJSON, extraNumbers: metrics.compactMap(\.field), with: decoder)
                             : RecordedFields()
        func text(_ key: String) -> String { data.strings[key] ?? "" }
        func number(_ key: String) -> Double? { data.numbers[key] }
        let collection = item.collection ?? data.strings["collection"] ?? ""
        batch.add("events", [e.type, collection], value: 0, at: at, gauge: true)
        switch e.type {
        case "file.stored":
            let dedup = data.deduplicated == true
            batch.add("ingest", [collection, text("media_type"), text("status"), dedup ? "1" : "0"], value: number("size") ?? 0, at: at)
        case _ where e.type.hasPrefix("job."):
            let kind = text("kind"), media = text("media_type"), processor = text("processor")
            let result = e.type == "job.succeeded" ? text("outcome") : text("state").isEmpty ? String(e.type.dropFirst(4)) : text("state")
            // The figures by kind × media type (what the processing series group by, so a year
            // of them is a few thousand rows); every job also counts once with all its dimensions.
            let dims = [kind, media]
            batch.add("jobs", [kind, media, processor, collection, result], value: 0, at: at, gauge: true)
            if e.type == "job.succeeded" {
                batch.add("job.run_ms", dims, value: number("processing_ms") ?? 0, at: at)
                if let v = number("output_bytes") { batch.add("job.output_bytes", dims, value: v, at: at) }
            }
            if e.type != "job.skipped" {
                if let v = number("queue_wait_ms") { batch.add("job.wait_ms", dims, value: v, at: at) }
                if let v = number("input_bytes") { batch.add("job.input_bytes", dims, value: v, at: at) }
                if let v = number("peak_memory_bytes") { batch.add("job.peak_memory_bytes", dims, value: v, at: at) }
            }
            if e.type == "job.succeeded" || e.type == "job.failed" || e.type == "job.dead" {
                // Attempts per job that ended: 1 for a job that passed the first time.
                batch.add("job.attempts", dims, value: number("attempts") ?? 1, at: at)
            }
            if e.type != "job.succeeded" {
                batch.add("failure", [Self.reasonClass(text("reason")), kind, media, result], value: 0, at: at, gauge: true)
            }
            // What the job said of itself (generation's tokens, latency …): a series per value,
            // by kind, media type, the report's labels (as one JSON object) and how it ended.
            if let values = data.reportValues {
                let labelText = (try? JSONSerialization.data(withJSONObject: data.reportLabels, options: [.sortedKeys]))
                    .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                for (name, value) in values.sorted(by: { $0.key < $1.key }) {
                    batch.add("report." + name, [kind, media, labelText, result], value: value, at: at)
                }
            }
        default:
            break
        }
        let mediaType = data.strings["media_type"]
        for metric in metrics where metric.matches(type: e.type, collection: item.collection ?? data.strings["collection"],
                                                   mediaType: mediaType, tags: tags) {
            let value = metric.field.flatMap { number($0) } ?? (metric.isHistogram ? nil : 0)
            if let value { batch.add("custom." + metric.name, [], value: value, at: at) }
        }
    }

    /// A failure's reason without what differs from file to file (numbers, paths, quoted
    /// names), so that "failed after 3 s on page 17" and "… page 4" are one reason; at most 120 characters.
    public static func reasonClass(_ reason: String) -> String {
        var out = ""
        var lastWasNumber = false
        var inQuote: Character?
        for ch in reason {
            if let q = inQuote {
                if ch == q { inQuote = nil; out += "…" + String(q) }
                continue
            }
            if ch == "'" || ch == "\"" { inQuote = ch; out.append(ch); continue }
            if ch.isNumber {
                if !lastWasNumber { out += "N" }
                lastWasNumber = true
                continue
            }
            if lastWasNumber && (ch == "." || ch == ",") { continue }
            lastWasNumber = false
            out.append(ch)
        }
        let trimmed = out.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? "unknown" : String(trimmed.prefix(120))
    }

    /// Gauges at `seconds`: the queue's depth by state and its oldest waiting job's age, the
    /// catalog's bytes and the store's free space; plus the HTTP server's usage counts.
    public func sample(at seconds: Int64 = nowSeconds()) throws {
        var batch = RollupBatch()
        for (state, n) in try queue.counts() {
            batch.add("queue.depth", [state.rawValue], value: Double(n), at: seconds, gauge: true)
        }
        let oldest = try queue.oldestWaitingNanoseconds()
        batch.add("queue.oldest_wait_s", [], value: oldest.map { max(0, Double(seconds) - Double($0) / 1e9) } ?? 0, at: seconds, gauge: true)
        let totals = try queue.catalog.stats()
        batch.add("storage.logical_bytes", [], value: Double(totals.logicalBytes), at: seconds, gauge: true)
        batch.add("storage.stored_bytes", [], value: Double(totals.storedBytes), at: seconds, gauge: true)
        if let free = store?.freeBytes() { batch.add("storage.free_bytes", [], value: Double(free), at: seconds, gauge: true) }
        usage.drain(into: &batch, at: seconds)
        try database.write { tx in try batch.write(in: tx) }
        lastSample.withLock { $0 = seconds }
    }

    /// Removes minute rows older than a day and hour rows older than 90 days.
    public func prune(now: Int64 = nowSeconds()) throws {
        try database.write { tx in
            for step in Resolution.all {
                if let keep = Resolution.retention(step) { try AnalyticsRecords.prune(step: step, before: now - keep, in: tx) }
            }
        }
    }

    /// Seconds between the daemon's rounds. Each round writes every roll-up cell its events
    /// touch once, whatever their number: a busy pipeline's hundred jobs a second cost one
    /// round's writes, not a hundred, and hold the write lock its jobs commit under once.
    public static let roundSeconds = 5

    /// The daemon's loop: events as they come (every `roundSeconds`), samples and pruning every
    /// minute, the report when one is due. Runs until `stop()`.
    public func run(reports: ReportWriter? = nil) {
        var lastMinute: Int64 = -1
        // What recording costs: the wall time of every catch-up that recorded something (its
        // commit's wait for the write lock included), and how many events it recorded.
        let busy = FloatingPointCounter(label: "depot_analytics_record_seconds_total")
        let recorded = Counter(label: "depot_analytics_events_recorded_total")
        while !stopRequested.withLock({ $0 }) {
            do {
                let started = monotonicNanoseconds()
                let n = try catchUp(batchSize: 20_000)
                if n > 0 {
                    busy.increment(by: Double(monotonicNanoseconds() - started) / 1e9)
                    recorded.increment(by: Int64(n))
                }
                let now = nowSeconds()
                if now / 60 != lastMinute {
                    lastMinute = now / 60
                    try sample(at: now)
                    try prune(now: now)
                    if let reports { try reports.writeDue(now: now) }
                }
            } catch {
                logger.error("analytics could not record", metadata: ["error": "\(error)"])
            }
            for _ in 0..<(Self.roundSeconds * 10) where !stopRequested.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.1) }
        }
    }

    /// With `[analytics] record = false`: nothing is recorded, but the daemon's service runs until stopped.
    public func idle() {
        while !stopRequested.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.1) }
    }

    public func stop() { stopRequested.withLock { $0 = true } }
}
