import DepotCore
import DepotStore
import Foundation

/// A time range and step of a stats query: `from`/`to` as RFC 3339 times or as durations
/// back from now ("7d", "-24h"), `step` a duration or "auto" (about a hundred points). The
/// roll-up read is the coarsest that the step allows and the range's age still has (minutes
/// only for the last day, hours for the last 90 days); the step is rounded up to it.
public struct StatsRange: Sendable, Equatable {
    public var from: Int64
    public var to: Int64
    public var step: Int64
    public var resolution: Int64
    /// At most this many points per series: a longer range takes a longer step.
    public static let maxPoints: Int64 = 1000

    public init(from: Int64, to: Int64, step: Int64, resolution: Int64) {
        self.from = from
        self.to = to
        self.step = step
        self.resolution = resolution
    }

    /// - Throws: `StatsError` naming the parameter that is wrong.
    public static func parse(from: String?, to: String?, step: String?, now: Int64 = nowSeconds(),
                             defaultRange: Int64 = Resolution.day) throws -> StatsRange {
        func time(_ text: String?, name: String, default value: Int64) throws -> Int64 {
            guard let text, !text.isEmpty else { return value }
            if text == "now" { return now }
            if let ns = parseTimestamp(text) { return ns / 1_000_000_000 }
            let relative = text.hasPrefix("-") ? String(text.dropFirst()) : text
            if let d = parseDuration(relative) { return now - d.components.seconds }
            throw StatsError("\(name) must be an RFC 3339 UTC time (2026-01-31T00:00:00Z) or a duration back from now (7d)")
        }
        // "now" is the end of the current second: what was recorded in it (a minute's first
        // second starts its bucket) is in the range, whose end is exclusive.
        let end = to == nil || to == "" || to == "now" ? now + 1 : try time(to, name: "to", default: now + 1)
        let start = try time(from, name: "from", default: end - defaultRange)
        guard start < end else { throw StatsError("from must be before to") }
        let span = end - start
        var wanted: Int64
        if let step, !step.isEmpty, step != "auto" {
            guard let d = parseDuration(step), d.components.seconds >= 60 else {
                throw StatsError("step must be a duration of at least 1m (1m, 1h, 1d) or auto")
            }
            wanted = d.components.seconds
        } else {
            wanted = max(60, span / 100)
        }
        // The coarsest resolution not coarser than the step, among those the range's start still
        // has; when none is that fine, the finest it has.
        let available = Resolution.all.filter { r in Resolution.retention(r).map { start >= now - $0 } ?? true }
        let resolution = available.filter { $0 <= wanted }.max() ?? available.min() ?? Resolution.day
        if wanted < resolution { wanted = resolution }
        wanted = (wanted + resolution - 1) / resolution * resolution
        guard span / wanted <= maxPoints else {
            throw StatsError("step \(formatDuration(.seconds(wanted))) gives more than \(maxPoints) points over this range; take a longer one")
        }
        let alignedStart = start - ((start % wanted) + wanted) % wanted
        return StatsRange(from: alignedStart, to: end, step: wanted, resolution: resolution)
    }
}

/// A stats query that cannot be answered as asked.
public struct StatsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// One point of a series: what was recorded in one step.
public struct StatsPoint: Codable, Sendable, Equatable {
    public var t: Timestamp
    public var count: Int64
    public var sum: Double
    @Nullable public var avg: Double?
    @Nullable public var p50: Double?
    @Nullable public var p95: Double?
    @Nullable public var max: Double?
    /// The step's last value (gauges).
    @Nullable public var last: Double?
}

/// One series: a measure with its labels (kind and media type, collection, reason, …).
public struct StatsSeries: Codable, Sendable, Equatable {
    public var name: String
    public var unit: String
    public var labels: [String: String]
    /// Over the whole range.
    public var total: StatsPoint
    public var points: [StatsPoint]
}

/// The answer of every `/api/v1/stats/…` time series and of `depot stats`.
public struct StatsResponse: Codable, Sendable, Equatable {
    public var metric: String
    public var from: Timestamp
    public var to: Timestamp
    public var stepSeconds: Int64
    public var resolutionSeconds: Int64
    public var series: [StatsSeries]

    enum CodingKeys: String, CodingKey {
        case metric, from, to, series
        case stepSeconds = "step_seconds", resolutionSeconds = "resolution_seconds"
    }
}

/// The stats that can be asked for, each read from roll-up series by name, grouped by some of
/// their dimensions. Which kinds, types, collections or reasons appear is what was recorded.
public enum StatsMetric: String, CaseIterable, Sendable {
    case processing, usage, failures, queue, storage, events, metrics, links

    public var summary: String {
        switch self {
        case .processing: return "processing time per job kind × media type (count, p50, p95, max; ms), or another job figure (measure=)"
        case .usage: return "ingests, bytes, dedup hits and downloads by collection"
        case .failures: return "failures and retries by reason and job kind"
        case .queue: return "queue depth by state and the oldest waiting job's age (s)"
        case .storage: return "logical and stored bytes, free space"
        case .events: return "events by type (generation's too, once it emits them)"
        case .metrics: return "the custom metrics of [analytics.metrics]"
        case .links: return "link rejections by reason"
        }
    }
}

/// Reads time series from the roll-ups.
public struct StatsQueries: Sendable {
    public let database: any CatalogDatabase

    public init(database: any CatalogDatabase) { self.database = database }

    /// The job figures `processing` may show (`measure=`), with their units.
    public static let jobMeasures: [String: String] = [
        "run_ms": "ms", "wait_ms": "ms", "input_bytes": "bytes", "output_bytes": "bytes", "peak_memory_bytes": "bytes",
        "attempts": "attempts",
    ]

    public func query(_ metric: StatsMetric, range: StatsRange, measure: String? = nil) throws -> StatsResponse {
        var series: [StatsSeries] = []
        switch metric {
        case .processing:
            let m = measure ?? "run_ms"
            guard let unit = Self.jobMeasures[m] else {
                throw StatsError("measure must be one of \(Self.jobMeasures.keys.sorted().joined(separator: ", "))")
            }
            series = try read("job." + m, exact: true, range: range, name: m, unit: unit) { dims in
                ["kind": dims[safe: 0], "media_type": dims[safe: 1]]
            }
        case .usage:
            series = try read("ingest", exact: true, range: range, name: "ingests", unit: "bytes") { ["collection": $0[safe: 0]] }
            series += try read("ingest", exact: true, range: range, name: "dedup_hits", unit: "bytes",
                               where: { $0[safe: 3] == "1" }) { ["collection": $0[safe: 0]] }
            series += try read("download", exact: true, range: range, name: "downloads", unit: "bytes") { ["collection": $0[safe: 0]] }
        case .failures:
            series = try read("failure", exact: true, range: range, name: "failures", unit: "count") { dims in
                ["reason": dims[safe: 0], "kind": dims[safe: 1], "state": dims[safe: 3]]
            }
        case .queue:
            series = try read("queue.depth", exact: true, range: range, name: "depth", unit: "jobs") { ["state": $0[safe: 0]] }
            series += try read("queue.oldest_wait_s", exact: true, range: range, name: "oldest_wait", unit: "s") { _ in [:] }
        case .storage:
            for name in ["logical_bytes", "stored_bytes", "free_bytes"] {
                series += try read("storage." + name, exact: true, range: range, name: name, unit: "bytes") { _ in [:] }
            }
        case .events:
            series = try read("events", exact: true, range: range, name: "events", unit: "count") { ["type": $0[safe: 0]] }
        case .metrics:
            let cells = try database.read { tx in
                try AnalyticsRecords.cells(step: range.resolution, seriesPrefix: "custom.", from: range.from, to: range.to, in: tx)
            }
            let names = Set(cells.map(\.series)).sorted()
            for full in names {
                series += group(cells.filter { $0.series == full }, range: range, name: String(full.dropFirst(7)), unit: "") { _ in [:] }
            }
        case .links:
            series = try read("link.rejected", exact: true, range: range, name: "rejections", unit: "count") { ["reason": $0[safe: 0]] }
        }
        return StatsResponse(metric: metric.rawValue, from: Timestamp(seconds: range.from), to: Timestamp(seconds: range.to),
                             stepSeconds: range.step, resolutionSeconds: range.resolution, series: series)
    }

    private func read(_ seriesName: String, exact: Bool, range: StatsRange, name: String, unit: String,
                      where keep: ([String]) -> Bool = { _ in true },
                      labels: @escaping ([String]) -> [String: String?]) throws -> [StatsSeries] {
        let cells = try database.read { tx in
            try AnalyticsRecords.cells(step: range.resolution, seriesPrefix: seriesName, from: range.from, to: range.to, in: tx)
        }.filter { $0.series == seriesName && keep(RollupDimensions.decode($0.dims)) }
        return group(cells, range: range, name: name, unit: unit, labels: labels)
    }

    /// Cells grouped into series by their labels, and into points by step.
    private func group(_ cells: [RollupCell], range: StatsRange, name: String, unit: String,
                       labels: ([String]) -> [String: String?]) -> [StatsSeries] {
        var byLabels: [[String: String]: [RollupCell]] = [:]
        for cell in cells {
            let l = labels(RollupDimensions.decode(cell.dims)).compactMapValues { $0 }
            byLabels[l, default: []].append(cell)
        }
        return byLabels.map { labels, cells -> StatsSeries in
            var buckets: [Int64: Acc] = [:]
            for cell in cells {
                let t = cell.bucket - ((cell.bucket - range.from) % range.step)
                buckets[t, default: Acc()].add(cell)
            }
            // The total from the steps' sums: a histogram merge per step, not per row.
            var total = Acc()
            for t in buckets.keys.sorted() { total.add(buckets[t]!) }
            return StatsSeries(name: name, unit: unit, labels: labels, total: total.point(at: range.from),
                               points: buckets.keys.sorted().map { buckets[$0]!.point(at: $0) })
        }.sorted { ($0.total.count, $0.labels.description) > ($1.total.count, $1.labels.description) }
    }

    private struct Acc {
        var count: Int64 = 0
        var sum = 0.0
        var max = -Double.infinity
        var last: Double?
        var lastBucket = Int64.min
        /// Bin counts by index (bins of values up to 2^64 fit), cheaper to add into than a dictionary.
        var bins = [Int64](repeating: 0, count: 260)
        var histogram: RollupHistogram {
            var h = RollupHistogram()
            for (i, n) in bins.enumerated() where n > 0 { h.bins[i] = n }
            return h
        }

        mutating func add(_ cell: RollupCell) {
            count += cell.count
            sum += cell.sum
            max = Swift.max(max, cell.max)
            if cell.bucket >= lastBucket {
                last = cell.last
                lastBucket = cell.bucket
            }
            for (bin, n) in cell.histogram.bins { bins[Swift.min(Swift.max(bin, 0), bins.count - 1)] += n }
        }

        mutating func add(_ other: Acc) {
            count += other.count
            sum += other.sum
            max = Swift.max(max, other.max)
            if other.lastBucket >= lastBucket {
                last = other.last
                lastBucket = other.lastBucket
            }
            for i in bins.indices { bins[i] += other.bins[i] }
        }

        func point(at seconds: Int64) -> StatsPoint {
            let histogram = self.histogram
            let hasHistogram = histogram.total > 0
            let top = max.isFinite ? max : nil
            func capped(_ q: Double?) -> Double? { q.map { v in top.map { Swift.min(v, $0) } ?? v } }
            return StatsPoint(t: Timestamp(seconds: seconds), count: count, sum: sum, avg: count > 0 ? sum / Double(count) : nil,
                              p50: hasHistogram ? capped(histogram.quantile(0.5)) : nil,
                              p95: hasHistogram ? capped(histogram.quantile(0.95)) : nil, max: top, last: last)
        }
    }
}

extension Array where Element == String {
    subscript(safe index: Int) -> String? { index < count ? self[index] : nil }
}
