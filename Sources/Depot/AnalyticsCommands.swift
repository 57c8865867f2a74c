import ArgumentParser
import DepotAnalytics
import DepotCore
import DepotQueue
import DepotStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Context {
    var analytics: AnalyticsSettings { config[AnalyticsSettings.self] }

    /// Where the daemon writes how it is, for `depot status`.
    var daemonStatusPath: String { layout.state + "/daemon-status.json" }

    /// The daemon as seen from outside: running when it holds the root's lock; its pid, start
    /// and watcher line from the file it keeps fresh (older than 30 s: it stopped answering).
    func daemonState() -> DaemonState {
        let path = layout.state + "/serve.lock"
        var running = false
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            if flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK { running = true } else { flock(fd, LOCK_UN) }
            close(fd)
        }
        guard running else { return DaemonState(running: false) }
        var state = DaemonState.read(from: daemonStatusPath) ?? DaemonState(running: true)
        state.running = true
        if let updated = state.updatedAt, wallClockNanoseconds() - updated.nanoseconds > 30_000_000_000 {
            state.watcher = "no word from the daemon since \(updated)"
            state.watcherRunning = false
        }
        return state
    }
}

/// `depot status`: one screen of how the appliance is.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon, the watcher, the queue by state, running workers, the last errors, storage and free space.")

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let record = try StatusRecord.build(queue: try context.openQueue(), store: try context.openStore(), daemon: context.daemonState())
        if output.json { try printJSON(record) } else { print(record.text) }
    }
}

/// `depot stats [METRIC] [--from 7d] [--to now] [--step 1h]`: the time series of the stats API;
/// without a metric, the storage figures of now.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show storage usage now, or recorded figures over time: "
            + StatsMetric.allCases.map(\.rawValue).joined(separator: ", ") + " (the same as GET /api/v1/stats/METRIC).",
        discussion: StatsMetric.allCases.map { "\($0.rawValue): \($0.summary)" }.joined(separator: "; "))

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "What to show over time; without one: storage usage now (logical, stored and artifact bytes, dedup, trash, reclaimable, free space).")
    var metric: String?

    @Option(name: .long, help: "Start: an RFC 3339 time or a duration back from now (default: 24h).")
    var from: String?

    @Option(name: .long, help: "End: an RFC 3339 time, a duration back from now, or now (default).")
    var to: String?

    @Option(name: .long, help: "Step between points: 1m, 1h, 1d, … or auto (default).")
    var step: String?

    @Option(name: .long, help: "For processing: run_ms (default), wait_ms, input_bytes, output_bytes, peak_memory_bytes, attempts.")
    var measure: String?

    @Flag(name: .long, help: "Print every point, not only each series' totals.")
    var points = false

    func run() throws {
        guard let metric else {
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            return try StorageUsageView.show(context, json: output.json)
        }
        guard let which = StatsMetric(rawValue: metric) else {
            throw ValidationError("no stats '\(metric)' (there are \(StatsMetric.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let queue = try context.openQueue()
        // What the daemon has not recorded yet (or all of it, without a daemon) first.
        let recorder = AnalyticsRecorder(queue: queue, store: try context.openStore(), settings: context.analytics)
        try recorder.catchUp()
        let response: StatsResponse
        do {
            let range = try StatsRange.parse(from: from, to: to, step: step)
            response = try StatsQueries(database: queue.database).query(which, range: range, measure: measure)
        } catch let e as StatsError {
            throw ValidationError(e.description)
        }
        if output.json {
            try printJSON(response)
            return
        }
        print("\(response.metric) from \(response.from) to \(response.to), step \(formatDuration(.seconds(response.stepSeconds)))")
        if response.series.isEmpty {
            print("nothing recorded in this range")
            return
        }
        func v(_ x: Double?, _ unit: String) -> String { x.map { SVGChart.formatValue($0, unit: unit) } ?? "-" }
        var rows: [[String]] = []
        for s in response.series {
            let label = s.labels.keys.sorted().map { s.labels[$0]! }.joined(separator: " ")
            let lines = points ? s.points.map { ($0.t.description, $0) } : [("total", s.total)]
            for (t, p) in lines {
                rows.append([s.name, label, t, "\(p.count)", v(p.sum, s.unit), v(p.p50, s.unit), v(p.p95, s.unit), v(p.max, s.unit),
                             v(p.last, s.unit)])
            }
        }
        printTable(["SERIES", "LABELS", "TIME", "COUNT", "SUM", "P50", "P95", "MAX", "LAST"], rows)
    }
}

/// `depot seed-stats`: simulated jobs straight into the roll-ups, for bench/stats.sh (hidden).
struct StatsSeedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed-stats", abstract: "Record simulated jobs over a past period (for benchmarks).", shouldDisplay: false)

    @OptionGroup var rootOptions: RootOptions

    @Option(name: .long, help: "How many jobs.")
    var jobs: Int = 1_000_000

    @Option(name: .long, help: "Over how many days back from now.")
    var days: Int = 365

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let queue = try context.openQueue(durability: .normal)
        let kinds = ["extract", "thumbnail", "transcribe", "generate"]
        let types = ["application/pdf", "video/mp4", "audio/mpeg", "image/jpeg", "text/markdown",
                     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"]
        let collections = ["lectures", "documents", "scans"]
        let now = nowSeconds()
        let span = Int64(days) * 86400
        var rng = SystemRandomNumberGenerator()
        let chunk = 50_000
        var done = 0
        while done < jobs {
            var batch = RollupBatch()
            for i in done..<min(jobs, done + chunk) {
                let at = now - span + Int64(i) * span / Int64(jobs)
                let kind = kinds[Int.random(in: 0..<kinds.count, using: &rng)]
                let type = types[Int.random(in: 0..<types.count, using: &rng)]
                let collection = collections[Int.random(in: 0..<collections.count, using: &rng)]
                let ok = Int.random(in: 0..<50, using: &rng) != 0
                // What the recorder writes for one job (Recorder.record), at the resolutions kept for its age.
                let steps = Resolution.all.filter { r in Resolution.retention(r).map { at >= now - $0 } ?? true }
                let dims = [kind, type]
                let result = ok ? "processed" : "failed"
                batch.add("jobs", [kind, type, kind + "-processor", collection, result], value: 0, at: at, gauge: true, steps: steps)
                if ok { batch.add("job.run_ms", dims, value: Double.random(in: 5...5000, using: &rng), at: at, steps: steps) }
                batch.add("job.wait_ms", dims, value: Double.random(in: 1...60000, using: &rng), at: at, steps: steps)
                batch.add("job.input_bytes", dims, value: Double.random(in: 1000...50_000_000, using: &rng), at: at, steps: steps)
                batch.add("job.attempts", dims, value: 1, at: at, steps: steps)
                batch.add("events", [ok ? "job.succeeded" : "job.failed", collection], value: 0, at: at, gauge: true, steps: steps)
                if !ok { batch.add("failure", ["timed out after Ns", kind, type, "failed"], value: 0, at: at, gauge: true, steps: steps) }
                if kind == "extract" {
                    batch.add("ingest", [collection, type, "new_document", "0"], value: 100_000, at: at, steps: steps)
                }
            }
            try queue.database.write { tx in try batch.write(in: tx) }
            done = min(jobs, done + chunk)
            printError("depot: seeded \(done)/\(jobs) jobs")
        }
        // The roll-ups of a year: what is past its resolution's retention goes, as the daemon does it.
        try AnalyticsRecorder(queue: queue, store: nil, settings: context.analytics).prune(now: now)
    }
}

/// `depot report [--period daily|weekly|monthly] [--date YYYY-MM-DD]`: writes a report now.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the report of the last period (or of the one starting --date) into outbox/reports/ and announce it (report.created).")

    @OptionGroup var rootOptions: RootOptions

    @Option(name: .long, help: "daily, weekly or monthly (default: [analytics] report, else daily).")
    var period: String?

    @Option(name: .long, help: "The period's first day, YYYY-MM-DD (default: the last period that ended).")
    var date: String?

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let period = period ?? (context.analytics.report == "off" ? "daily" : context.analytics.report)
        guard ["daily", "weekly", "monthly"].contains(period) else { throw ValidationError("--period is daily, weekly or monthly") }
        let queue = try context.openQueue()
        try AnalyticsRecorder(queue: queue, store: try context.openStore(), settings: context.analytics).catchUp()
        var (from, to) = ReportWriter.lastPeriod(period, now: nowSeconds())
        if let date {
            guard let ns = parseTimestamp(date + "T00:00:00Z") else { throw ValidationError("--date must be YYYY-MM-DD") }
            let length = to - from
            from = ns / 1_000_000_000
            to = period == "monthly" ? ReportWriter.lastPeriod("monthly", now: from + 40 * 86400).1 : from + length
        }
        let writer = ReportWriter(database: queue.database, store: try context.openStore(), root: context.layout.root,
                                  settings: context.analytics)
        print(try writer.write(period: period, from: from, to: to) + "/report.html")
    }
}
