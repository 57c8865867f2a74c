import DepotCore
import DepotQueue
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
    case processing, usage, failures, queue, storage, events, metrics, links, generation, reports

    public var summary: String {
        switch self {
        case .processing: return "processing time per job kind × media type (count, p50, p95, max; ms), or another job figure (measure=)"
        case .usage: return "ingests, bytes, dedup hits and downloads by collection"
        case .failures: return "failures and retries by reason and job kind"
        case .queue: return "queue depth by state and the oldest waiting job's age (s)"
        case .storage: return "logical and stored bytes, free space"
        case .events: return "events by type"
        case .metrics: return "the custom metrics of [analytics.metrics]"
        case .links: return "link rejections by reason"
        case .generation: return "generation: requests, tokens in and out, latency (ms), chunks, fallbacks and breaker opens by engine and model"
        case .reports: return "what jobs of every kind report of themselves (a series per figure, by kind, media type and the job's labels)"
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
            series = try read("job." + m, range: range, name: m, unit: unit) { dims in
                ["kind": dims[safe: 0], "media_type": dims[safe: 1]]
            }
        case .usage:
            series = try read("ingest", range: range, name: "ingests", unit: "bytes") { ["collection": $0[safe: 0]] }
            series += try read("ingest", range: range, name: "dedup_hits", unit: "bytes",
                               where: { $0[safe: 3] == "1" }) { ["collection": $0[safe: 0]] }
            series += try read("download", range: range, name: "downloads", unit: "bytes") { ["collection": $0[safe: 0]] }
        case .failures:
            series = try read("failure", range: range, name: "failures", unit: "count") { dims in
                ["reason": dims[safe: 0], "kind": dims[safe: 1], "state": dims[safe: 3]]
            }
        case .queue:
            series = try read("queue.depth", range: range, name: "depth", unit: "jobs") { ["state": $0[safe: 0]] }
            series += try read("queue.oldest_wait_s", range: range, name: "oldest_wait", unit: "s") { _ in [:] }
        case .storage:
            for name in ["logical_bytes", "stored_bytes", "free_bytes"] {
                series += try read("storage." + name, range: range, name: name, unit: "bytes") { _ in [:] }
            }
        case .events:
            series = try read("events", range: range, name: "events", unit: "count") { ["type": $0[safe: 0]] }
        case .metrics:
            let steps = try database.read { tx in
                try AnalyticsRecords.steps(step: range.resolution, series: "custom.", prefix: true, from: range.from, to: range.to,
                                           stride: range.step, in: tx)
            }
            for full in Set(steps.map(\.series)).sorted() {
                series += group(steps.filter { $0.series == full }, range: range, name: String(full.dropFirst(7)), unit: "") { _ in [:] }
            }
        case .links:
            series = try read("link.rejected", range: range, name: "rejections", unit: "count") { ["reason": $0[safe: 0]] }
        case .generation, .reports:
            // The kinds whose jobs announce themselves as "generation.*" (generate today).
            let kinds = metric == .generation ? Set(JobKinds.all.filter { $0.eventPrefix == "generation" }.map(\.name)) : nil
            let steps = try database.read { tx in
                try AnalyticsRecords.steps(step: range.resolution, series: "report.", prefix: true, from: range.from, to: range.to,
                                           stride: range.step, in: tx)
            }
            for full in Set(steps.map(\.series)).sorted() {
                let name = String(full.dropFirst(7))
                series += group(steps.filter { $0.series == full }, range: range, name: name, unit: JobReport.unit(of: name)) { dims in
                    guard kinds.map({ $0.contains(dims[safe: 0] ?? "") }) ?? true else { return nil }
                    var labels: [String: String?] = ["kind": dims[safe: 0], "media_type": dims[safe: 1], "result": dims[safe: 3]]
                    let own = dims[safe: 2].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: String] ?? [:]
                    for (key, value) in own where labels[key] == nil { labels[key] = value }
                    return labels
                }
            }
        }
        return StatsResponse(metric: metric.rawValue, from: Timestamp(seconds: range.from), to: Timestamp(seconds: range.to),
                             stepSeconds: range.step, resolutionSeconds: range.resolution, series: series)
    }

    private func read(_ seriesName: String, range: StatsRange, name: String, unit: String,
                      where keep: ([String]) -> Bool = { _ in true },
                      labels: ([String]) -> [String: String?]) throws -> [StatsSeries] {
        let steps = try database.read { tx in
            try AnalyticsRecords.steps(step: range.resolution, series: seriesName, from: range.from, to: range.to, stride: range.step, in: tx)
        }
        return group(steps, range: range, name: name, unit: unit) { dims in keep(dims) ? labels(dims) : nil }
    }

    /// Steps grouped into series by their labels (nil: left out). The labels are worked out
    /// once per distinct dimensions, of which a year has a few dozen against thousands of steps.
    private func group(_ steps: [RollupStep], range: StatsRange, name: String, unit: String,
                       labels: ([String]) -> [String: String?]?) -> [StatsSeries] {
        var seriesOfDims: [String: Int?] = [:]
        var seriesIndex: [[String: String]: Int] = [:]
        var found: [(labels: [String: String], points: [Int64: Acc])] = []
        for step in steps {
            let index: Int?
            if let known = seriesOfDims[step.dims] {
                index = known
            } else {
                index = labels(RollupDimensions.decode(step.dims)).map { l in
                    let l = l.compactMapValues { $0 }
                    if let i = seriesIndex[l] { return i }
                    found.append((l, [:]))
                    seriesIndex[l] = found.count - 1
                    return found.count - 1
                }
                seriesOfDims[step.dims] = index
            }
            guard let index else { continue }
            found[index].points[step.slot, default: Acc()].add(step)
        }
        return found.map { labels, points -> StatsSeries in
            // The total from the steps' sums: a histogram merge per step, not per row.
            var total = Acc()
            let slots = points.keys.sorted()
            for slot in slots { total.add(points[slot]!) }
            return StatsSeries(name: name, unit: unit, labels: labels, total: total.point(at: range.from),
                               points: slots.map { points[$0]!.point(at: range.from + $0 * range.step) })
        }.sorted { ($0.total.count, $0.labels.description) > ($1.total.count, $1.labels.description) }
    }

    private struct Acc {
        var count: Int64 = 0
        var sum = 0.0
        var max = -Double.infinity
        var last: Double?
        var lastBucket = Int64.min
        /// Bin counts by index (bins of values up to 2^64 fit), cheaper to add into than a
        /// dictionary; `used` spans the bins with counts.
        var bins = [Int64](repeating: 0, count: 260)
        var used: ClosedRange<Int>?

        mutating func add(_ step: RollupStep) {
            addFigures(count: step.count, sum: step.sum, max: step.max, last: step.last, at: step.latestBucket)
            if let touched = RollupHistogram.add(text: step.histogramText, into: &bins) { widen(touched) }
        }

        mutating func add(_ other: Acc) {
            addFigures(count: other.count, sum: other.sum, max: other.max, last: other.last, at: other.lastBucket)
            guard let theirs = other.used else { return }
            for i in theirs { bins[i] += other.bins[i] }
            widen(theirs)
        }

        /// Counts and sums add, the maximum grows, the latest bucket's `last` stays.
        private mutating func addFigures(count: Int64, sum: Double, max: Double, last: Double?, at bucket: Int64) {
            self.count += count
            self.sum += sum
            self.max = Swift.max(self.max, max)
            if bucket >= lastBucket {
                self.last = last
                lastBucket = bucket
            }
        }

        private mutating func widen(_ span: ClosedRange<Int>) {
            used = used.map { Swift.min($0.lowerBound, span.lowerBound)...Swift.max($0.upperBound, span.upperBound) } ?? span
        }

        func point(at seconds: Int64) -> StatsPoint {
            let top = max.isFinite ? max : nil
            var inBins: Int64 = 0
            if let used { for i in used { inBins += bins[i] } }
            func quantile(_ q: Double) -> Double? {
                guard let used, let v = RollupHistogram.quantile(q, counts: bins, total: inBins, bins: used) else { return nil }
                return top.map { Swift.min(v, $0) } ?? v
            }
            return StatsPoint(t: Timestamp(seconds: seconds), count: count, sum: sum, avg: count > 0 ? sum / Double(count) : nil,
                              p50: quantile(0.5), p95: quantile(0.95), max: top, last: last)
        }
    }
}

extension Array where Element == String {
    subscript(safe index: Int) -> String? { index < count ? self[index] : nil }
}
