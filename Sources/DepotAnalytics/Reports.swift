import DepotCore
import DepotStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// `report.created`: a scheduled (or asked-for) report was written.
public struct ReportCreated: EventPayload {
    public static let eventType = "report.created"
    public var period: String
    public var from: Timestamp
    public var to: Timestamp
    /// Relative to the root: "outbox/reports/2026-01-31/report.html".
    public var html: String
    public var json: String
    public var documentID: Int64? { nil }
}

/// What a report says, as report.json carries it; report.html draws the same figures.
public struct ReportData: Codable, Sendable {
    public struct Arrivals: Codable, Sendable {
        public var collection: String
        public var mediaType: String
        public var files: Int64
        public var bytes: Int64
        public var dedupHits: Int64

        enum CodingKeys: String, CodingKey {
            case collection, files, bytes
            case mediaType = "media_type", dedupHits = "dedup_hits"
        }
    }

    public struct Processing: Codable, Sendable {
        public var kind: String
        public var mediaType: String
        public var count: Int64
        @Nullable public var p50Ms: Double?
        @Nullable public var p95Ms: Double?
        @Nullable public var maxMs: Double?
        /// The previous period's p50, for the trend.
        @Nullable public var previousP50Ms: Double?
        /// p50 against the previous period's (1.0: the same; nil: nothing then).
        @Nullable public var trend: Double?

        enum CodingKeys: String, CodingKey {
            case kind, count, trend
            case mediaType = "media_type", p50Ms = "p50_ms", p95Ms = "p95_ms", maxMs = "max_ms", previousP50Ms = "previous_p50_ms"
        }
    }

    public struct Count: Codable, Sendable {
        public var label: String
        public var count: Int64
        public var bytes: Int64?
    }

    public struct Storage: Codable, Sendable {
        public var logicalBytes: Int64
        public var storedBytes: Int64
        /// Stored bytes gained over the period.
        public var growthBytes: Int64
        @Nullable public var freeBytes: Int64?
        /// At the period's growth rate; nil when it did not grow or free space is unknown.
        @Nullable public var daysUntilFull: Double?

        enum CodingKeys: String, CodingKey {
            case logicalBytes = "logical_bytes", storedBytes = "stored_bytes", growthBytes = "growth_bytes"
            case freeBytes = "free_bytes", daysUntilFull = "days_until_full"
        }
    }

    public var period: String
    public var from: Timestamp
    public var to: Timestamp
    public var arrivals: [Arrivals]
    public var processing: [Processing]
    public var failures: [Count]
    public var retries: [Count]
    /// Events of generation ("generation.*"), by type.
    public var generation: [Count]
    /// Generation's figures by engine and model: jobs, requests, tokens, latency, fallbacks.
    public var generationUse: [GenerationUse]
    public var downloads: [Count]
    public var storage: Storage
    public var generatedAt: Timestamp

    enum CodingKeys: String, CodingKey {
        case period, from, to, arrivals, processing, failures, retries, generation, downloads, storage
        case generatedAt = "generated_at", generationUse = "generation_use"
    }

    /// What one engine and model did in the period (the `generation` stats, summed).
    public struct GenerationUse: Codable, Sendable {
        public var engine: String
        @Nullable public var model: String?
        /// Jobs that reported (succeeded, fell back or failed).
        public var jobs: Int64
        public var requests: Int64
        public var tokensIn: Int64
        public var tokensOut: Int64
        /// Per job, over the job's requests.
        @Nullable public var latencyP50Ms: Double?
        @Nullable public var latencyP95Ms: Double?
        public var fallbacks: Int64
        public var breakerOpens: Int64
        public var failures: Int64

        enum CodingKeys: String, CodingKey {
            case engine, model, jobs, requests, fallbacks, failures
            case tokensIn = "tokens_in", tokensOut = "tokens_out", latencyP50Ms = "latency_p50_ms", latencyP95Ms = "latency_p95_ms"
            case breakerOpens = "breaker_opens"
        }

        /// The series of a `generation` query, by engine and model.
        static func from(_ series: [StatsSeries]) -> [GenerationUse] {
            var byEngine: [String: GenerationUse] = [:]
            for s in series {
                let engine = s.labels["engine"] ?? "", model = s.labels["model"]
                let key = engine + "\u{1F}" + (model ?? "")
                var u = byEngine[key] ?? GenerationUse(engine: engine, model: model, jobs: 0, requests: 0, tokensIn: 0, tokensOut: 0,
                                                       latencyP50Ms: nil, latencyP95Ms: nil, fallbacks: 0, breakerOpens: 0, failures: 0)
                let sum = Int64(s.total.sum.rounded())
                switch s.name {
                case "requests": u.requests += sum
                case "tokens_in": u.tokensIn += sum
                case "tokens_out": u.tokensOut += sum
                case "fallbacks": u.fallbacks += sum
                case "breaker_opens": u.breakerOpens += sum
                case "failures": u.failures += sum; u.jobs += s.total.count
                case "latency_ms":
                    u.jobs += s.total.count
                    // Several series (by media type, result) of one engine: the busiest one's quantiles.
                    if u.latencyP50Ms == nil { u.latencyP50Ms = s.total.p50; u.latencyP95Ms = s.total.p95 }
                default: break
                }
                byEngine[key] = u
            }
            return byEngine.values.sorted { ($0.jobs, $1.engine) > ($1.jobs, $0.engine) }
        }
    }
}

/// Builds and writes the reports: daily (or weekly, monthly) into
/// outbox/reports/<date>/report.html and report.json, built beside and renamed into place,
/// then announced with `report.created`.
public struct ReportWriter: Sendable {
    public let database: any CatalogDatabase
    public let store: (any BlobStore)?
    /// ROOT/outbox/reports.
    public let directory: String
    /// ROOT, for the paths the event names.
    public let root: String
    public let settings: AnalyticsSettings
    let logger: Logger

    public init(database: any CatalogDatabase, store: (any BlobStore)?, root: String, settings: AnalyticsSettings,
                logger: Logger = Logger(label: "depot.analytics")) {
        self.database = database
        self.store = store
        self.root = root
        directory = root + "/outbox/reports"
        self.settings = settings
        self.logger = logger
    }

    /// The period (start, end) in seconds that ended last before `now` for a schedule:
    /// the previous UTC day, ISO week (Monday to Monday) or calendar month.
    public static func lastPeriod(_ period: String, now: Int64) -> (Int64, Int64) {
        let day = Resolution.day
        let today = now - now % day
        switch period {
        case "weekly":
            // 1970-01-01 was a Thursday: days since a Monday = (days + 3) % 7.
            let monday = today - ((today / day + 3) % 7) * day
            return (monday - 7 * day, monday)
        case "monthly":
            var t = time_t(today)
            var parts = tm()
            gmtime_r(&t, &parts)
            parts.tm_mday = 1
            parts.tm_hour = 0; parts.tm_min = 0; parts.tm_sec = 0
            let first = Int64(timegm(&parts))
            parts.tm_mon -= 1
            let previous = Int64(timegm(&parts))
            return (previous, first)
        default:
            return (today - day, today)
        }
    }

    /// Writes the report of the period that ended, once `report_at` has passed and unless it
    /// is there already; returns its folder, or nil when none was due.
    @discardableResult
    public func writeDue(now: Int64) throws -> String? {
        guard settings.report != "off", now % Resolution.day >= Int64(settings.reportAt) * 60 else { return nil }
        let (from, to) = Self.lastPeriod(settings.report, now: now)
        let folder = directory + "/" + Self.folderName(from: from, period: settings.report)
        if FileManager.default.fileExists(atPath: folder + "/report.json") { return nil }
        // A period that ended before the first event (the root's first ingest) is one the
        // appliance did not see: no empty report for the day before it was set up.
        let first = try database.read { tx in try EventLog.events(after: 0, limit: 1, in: tx).first }
        guard let first, first.timestampNanoseconds < to * 1_000_000_000 else { return nil }
        return try write(period: settings.report, from: from, to: to)
    }

    static func folderName(from: Int64, period: String) -> String {
        let date = String(formatTimestamp(from * 1_000_000_000).prefix(10))
        switch period {
        case "weekly": return date + "-week"
        case "monthly": return String(date.prefix(7))
        default: return date
        }
    }

    /// Builds the report of [from, to) and writes it; returns the folder.
    @discardableResult
    public func write(period: String, from: Int64, to: Int64) throws -> String {
        let data = try build(period: period, from: from, to: to)
        let name = Self.folderName(from: from, period: period)
        let folder = directory + "/" + name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let staging = directory + "/." + name + ".tmp-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(data).write(to: URL(fileURLWithPath: staging + "/report.json"))
        try Data(Self.html(data).utf8).write(to: URL(fileURLWithPath: staging + "/report.html"))
        try? FileManager.default.removeItem(atPath: folder)
        guard rename(staging, folder) == 0 else { throw SystemError(call: "rename", errno: errno, path: folder) }
        let relative = "outbox/reports/" + name
        try database.write { tx in
            try EventLog.append(ReportCreated(period: period, from: Timestamp(seconds: from), to: Timestamp(seconds: to),
                                              html: relative + "/report.html", json: relative + "/report.json"), in: tx)
        }
        logger.notice("report written", metadata: ["period": "\(period)", "folder": "\(folder)"])
        return folder
    }

    /// The figures of [from, to), with the previous period of the same length for the trend.
    public func build(period: String, from: Int64, to: Int64) throws -> ReportData {
        let queries = StatsQueries(database: database)
        let now = nowSeconds()
        func range(_ a: Int64, _ b: Int64) -> StatsRange {
            // One point per period: the coarsest resolution that still has it.
            let available = Resolution.all.filter { r in Resolution.retention(r).map { a >= now - $0 } ?? true }
            let res = available.filter { (b - a) % $0 == 0 && a % $0 == 0 }.max() ?? available.min() ?? Resolution.day
            return StatsRange(from: a, to: b, step: max(b - a, res), resolution: res)
        }
        let current = range(from, to), previous = range(from - (to - from), from)

        // Arrivals by collection and type, from the ingest series' own dimensions.
        let ingestCells = try database.read { tx in
            try AnalyticsRecords.cells(step: current.resolution, seriesPrefix: "ingest", from: from, to: to, in: tx)
        }.filter { $0.series == "ingest" }
        var arrivals: [String: ReportData.Arrivals] = [:]
        for cell in ingestCells {
            let d = RollupDimensions.decode(cell.dims)
            let key = (d[safe: 0] ?? "") + "\u{1F}" + (d[safe: 1] ?? "")
            var a = arrivals[key] ?? .init(collection: d[safe: 0] ?? "", mediaType: d[safe: 1] ?? "", files: 0, bytes: 0, dedupHits: 0)
            a.files += cell.count
            a.bytes += Int64(cell.sum)
            if d[safe: 3] == "1" { a.dedupHits += cell.count }
            arrivals[key] = a
        }
        let now1 = try queries.query(.processing, range: current)
        let before = try queries.query(.processing, range: previous)
        let processing = now1.series.map { s -> ReportData.Processing in
            let prior = before.series.first { $0.labels == s.labels }?.total.p50
            return .init(kind: s.labels["kind"] ?? "", mediaType: s.labels["media_type"] ?? "", count: s.total.count,
                         p50Ms: s.total.p50, p95Ms: s.total.p95, maxMs: s.total.max, previousP50Ms: prior,
                         trend: prior.flatMap { p in s.total.p50.map { p > 0 ? $0 / p : 1 } })
        }
        let failures = try queries.query(.failures, range: current).series
        let counts = { (series: [StatsSeries], label: (StatsSeries) -> String) -> [ReportData.Count] in
            var merged: [String: Int64] = [:]
            for s in series { merged[label(s), default: 0] += s.total.count }
            return merged.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { .init(label: $0.key, count: $0.value, bytes: nil) }
        }
        let events = try queries.query(.events, range: current).series
        let downloads = try queries.query(.usage, range: current).series.filter { $0.name == "downloads" }
        let storageNow = try queries.query(.storage, range: range(from - 2 * Resolution.day, to)).series
        func gauge(_ name: String) -> StatsSeries? { storageNow.first { $0.name == name } }
        let stored = gauge("stored_bytes")
        let atEnd = Int64(stored?.points.last?.last ?? 0)
        let atStart = Int64(stored?.points.first(where: { $0.t.nanoseconds / 1_000_000_000 >= from })?.last
                            ?? stored?.points.first?.last ?? 0)
        let growth = atEnd - atStart
        let free = gauge("free_bytes")?.points.last?.last.map { Int64($0) } ?? store?.freeBytes()
        let perDay = Double(growth) / (Double(to - from) / 86400)
        return ReportData(
            period: period, from: Timestamp(seconds: from), to: Timestamp(seconds: to),
            arrivals: arrivals.values.sorted { ($0.files, $1.collection) > ($1.files, $0.collection) },
            processing: processing,
            failures: counts(failures.filter { $0.labels["state"] != "retrying" }) { "\($0.labels["reason"] ?? "") (\($0.labels["kind"] ?? ""))" },
            retries: counts(failures.filter { $0.labels["state"] == "retrying" }) { "\($0.labels["reason"] ?? "") (\($0.labels["kind"] ?? ""))" },
            generation: counts(events.filter { ($0.labels["type"] ?? "").hasPrefix("generation.") }) { $0.labels["type"] ?? "" },
            generationUse: ReportData.GenerationUse.from(try queries.query(.generation, range: current).series),
            downloads: downloads.map { .init(label: $0.labels["collection"] ?? "", count: $0.total.count, bytes: Int64($0.total.sum)) },
            storage: .init(logicalBytes: Int64(gauge("logical_bytes")?.points.last?.last ?? 0), storedBytes: atEnd,
                           growthBytes: growth, freeBytes: free,
                           daysUntilFull: perDay > 0 ? free.map { Double($0) / perDay } : nil),
            generatedAt: Timestamp.now)
    }

    /// The report as one HTML page: tables and inline SVG charts, no script, no external file.
    public static func html(_ r: ReportData) -> String {
        func row(_ cells: [String]) -> String { "<tr>" + cells.map { "<td>\(htmlEscape($0))</td>" }.joined() + "</tr>" }
        func head(_ cells: [String]) -> String { "<tr>" + cells.map { "<th align=\"left\">\(htmlEscape($0))</th>" }.joined() + "</tr>" }
        func ms(_ v: Double?) -> String { v.map { SVGChart.formatValue($0, unit: "ms") } ?? "–" }
        var h = """
            <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>depot \(r.period) report \(r.from.description.prefix(10))</title></head>
            <body style="font-family:sans-serif;max-width:760px;margin:auto;color:#222">
            <h1>depot — \(htmlEscape(r.period)) report</h1>
            <p>\(htmlEscape(r.from.description)) to \(htmlEscape(r.to.description))</p>
            <h2>What arrived</h2>
            """
        h += SVGChart.bars(r.arrivals.map { .init(label: "\($0.collection) · \($0.mediaType)", value: Double($0.files)) },
                           title: "Files by collection and type", unit: "count")
        h += "<table cellpadding=\"4\">" + head(["collection", "type", "files", "bytes", "dedup hits"])
        for a in r.arrivals { h += row([a.collection, a.mediaType, "\(a.files)", describeBytes(a.bytes), "\(a.dedupHits)"]) }
        h += "</table><h2>Processing times</h2>"
        h += SVGChart.bars(r.processing.map { .init(label: "\($0.kind) · \($0.mediaType)", value: $0.p50Ms ?? 0, secondary: $0.p95Ms) },
                           title: "p50 (dark) and p95 (light) by job kind and type", unit: "ms")
        h += "<table cellpadding=\"4\">" + head(["kind", "type", "jobs", "p50", "p95", "max", "p50 before", "trend"])
        for p in r.processing {
            let trend = p.trend.map { $0 > 1.1 ? "slower ×\((($0 * 100).rounded() / 100))" : $0 < 0.9 ? "faster ×\((($0 * 100).rounded() / 100))" : "steady" } ?? "new"
            h += row([p.kind, p.mediaType, "\(p.count)", ms(p.p50Ms), ms(p.p95Ms), ms(p.maxMs), ms(p.previousP50Ms), trend])
        }
        h += "</table><h2>Failures and retries</h2>"
        h += SVGChart.bars((r.failures + r.retries).map { .init(label: $0.label, value: Double($0.count)) },
                           title: "Failures and retries by reason", unit: "count")
        h += "<table cellpadding=\"4\">" + head(["", "reason", "count"])
        for f in r.failures { h += row(["failed", f.label, "\(f.count)"]) }
        for f in r.retries { h += row(["retried", f.label, "\(f.count)"]) }
        h += "</table><h2>Generation</h2>"
        if r.generation.isEmpty { h += "<p>No generation calls in this period.</p>" }
        h += "<table cellpadding=\"4\">" + r.generation.map { row([$0.label, "\($0.count)"]) }.joined() + "</table>"
        if !r.generationUse.isEmpty {
            h += "<table cellpadding=\"4\">" + head(["engine", "model", "jobs", "requests", "tokens in", "tokens out", "latency p50",
                                                     "latency p95", "fallbacks", "breaker opens", "failed"])
            for u in r.generationUse {
                h += row([u.engine, u.model ?? "–", "\(u.jobs)", "\(u.requests)", "\(u.tokensIn)", "\(u.tokensOut)", ms(u.latencyP50Ms),
                          ms(u.latencyP95Ms), "\(u.fallbacks)", "\(u.breakerOpens)", "\(u.failures)"])
            }
            h += "</table>"
        }
        h += "<h2>Downloads</h2><table cellpadding=\"4\">" + head(["collection", "downloads", "bytes"])
        for d in r.downloads { h += row([d.label, "\(d.count)", describeBytes(d.bytes ?? 0)]) }
        let s = r.storage
        h += """
            </table><h2>Storage</h2><table cellpadding="4">
            \(row(["stored", describeBytes(s.storedBytes)]))\(row(["logical (before dedup)", describeBytes(s.logicalBytes)]))
            \(row(["growth in this period", describeBytes(s.growthBytes)]))\(row(["free", s.freeBytes.map(describeBytes) ?? "unknown"]))
            \(row(["days until full", s.daysUntilFull.map { "\(Int($0))" } ?? "not growing"]))
            </table><p style="color:#666">Generated \(htmlEscape(r.generatedAt.description)) by depot.</p></body></html>
            """
        return h
    }
}
