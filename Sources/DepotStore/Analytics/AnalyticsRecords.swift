import DepotCore
import Foundation

/// The analytics' tables — roll-ups of what was recorded (per minute, hour and day) and the
/// recorder's cursor over the event log. The store owns them and is the only code with SQL
/// for them; DepotAnalytics' recorder and queries call this API.
public enum AnalyticsRecords {
    /// "analytics-1": one row per (resolution, series, bucket, dimensions) with the count, sum
    /// and maximum of the values recorded there and a sparse histogram of them (for p50/p95).
    public static let migrations: [CatalogMigration] = [
        CatalogMigration(name: "analytics-1", sqlite: """
            CREATE TABLE analytics_rollups(
                step INTEGER NOT NULL,
                series TEXT NOT NULL,
                bucket INTEGER NOT NULL,
                dims TEXT NOT NULL,
                count INTEGER NOT NULL,
                sum REAL NOT NULL,
                max REAL NOT NULL,
                last REAL NOT NULL,
                hist TEXT NOT NULL,
                PRIMARY KEY(step, series, bucket, dims)) WITHOUT ROWID;
            CREATE TABLE analytics_cursor(
                name TEXT PRIMARY KEY,
                seq INTEGER NOT NULL,
                updated_at_ns INTEGER NOT NULL);
            """, postgres: """
            CREATE TABLE analytics_rollups(
                step BIGINT NOT NULL,
                series TEXT NOT NULL,
                bucket BIGINT NOT NULL,
                dims TEXT NOT NULL,
                count BIGINT NOT NULL,
                sum DOUBLE PRECISION NOT NULL,
                max DOUBLE PRECISION NOT NULL,
                last DOUBLE PRECISION NOT NULL,
                hist TEXT NOT NULL,
                PRIMARY KEY(step, series, bucket, dims));
            CREATE TABLE analytics_cursor(
                name TEXT PRIMARY KEY,
                seq BIGINT NOT NULL,
                updated_at_ns BIGINT NOT NULL);
            """),
    ]

    /// The recorder's position in the event log (0 before it ran).
    public static func cursor(_ name: String, in tx: any CatalogTransaction) throws -> Int64 {
        try tx.query("SELECT seq FROM analytics_cursor WHERE name = ?", [.text(name)]).first?.int(0) ?? 0
    }

    public static func setCursor(_ name: String, to seq: Int64, in tx: any CatalogTransaction) throws {
        try tx.execute("""
            INSERT INTO analytics_cursor(name, seq, updated_at_ns) VALUES(?, ?, ?)
            ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, updated_at_ns = excluded.updated_at_ns
            """, [.text(name), .integer(seq), .integer(wallClockNanoseconds())])
    }

    /// Adds `cell` to its row (created when new): counts and sums add, the maximum grows,
    /// `last` is replaced, histograms merge.
    public static func add(_ cell: RollupCell, in tx: any CatalogTransaction) throws {
        let existing = try tx.query("""
            SELECT count, sum, max, hist FROM analytics_rollups WHERE step = ? AND series = ? AND bucket = ? AND dims = ?
            """, [.integer(cell.step), .text(cell.series), .integer(cell.bucket), .text(cell.dims)]).first
        var merged = cell
        if let row = existing {
            merged.count += row.int(0)
            merged.sum += row.real(1)
            merged.max = Swift.max(merged.max, row.real(2))
            merged.histogram = RollupHistogram(text: row.text(3)).merging(cell.histogram)
        }
        try tx.execute("""
            INSERT INTO analytics_rollups(step, series, bucket, dims, count, sum, max, last, hist) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(step, series, bucket, dims) DO UPDATE SET count = excluded.count, sum = excluded.sum, max = excluded.max,
                last = excluded.last, hist = excluded.hist
            """, [.integer(merged.step), .text(merged.series), .integer(merged.bucket), .text(merged.dims), .integer(merged.count),
                  .real(merged.sum), .real(merged.max), .real(merged.last), .text(merged.histogram.text)])
    }

    /// The rows of series whose name starts with `prefix` at resolution `step`, buckets in
    /// [from, to) (seconds since the epoch), in bucket order.
    public static func cells(step: Int64, seriesPrefix prefix: String, from: Int64, to: Int64,
                             in tx: any CatalogTransaction) throws -> [RollupCell] {
        try tx.query("""
            SELECT step, series, bucket, dims, count, sum, max, last, hist FROM analytics_rollups
            WHERE step = ? AND series >= ? AND series < ? AND bucket >= ? AND bucket < ? ORDER BY bucket
            """, [.integer(step), .text(prefix), .text(prefix + "\u{FFFF}"), .integer(from), .integer(to)]).map { row in
            RollupCell(step: row.int(0), series: row.text(1), bucket: row.int(2), dims: row.text(3), count: row.int(4),
                       sum: row.real(5), max: row.real(6), last: row.real(7), histogram: RollupHistogram(text: row.text(8)))
        }
    }

    /// The rows of one series (or of every series starting with `prefix`) at resolution
    /// `step`, buckets in [from, to), merged by the database into one `RollupStep` per series,
    /// dimensions and query step of `stride` seconds from `from`: what a time series shows,
    /// without handing each row of a year to Swift. Histograms are joined, not merged (their
    /// text may name a bin more than once; `RollupHistogram.add(text:into:)` adds them up).
    public static func steps(step: Int64, series: String, prefix: Bool = false, from: Int64, to: Int64, stride: Int64,
                             in tx: any CatalogTransaction) throws -> [RollupStep] {
        let which = prefix ? "series >= ? AND series < ?" : "series = ?"
        let names: [SQLValue] = prefix ? [.text(series), .text(series + "\u{FFFF}")] : [.text(series)]
        // The one aggregate the dialects spell differently (SQLDialect: no group_concat in shared SQL).
        let join = tx.dialect == .postgres ? "string_agg(NULLIF(hist, ''), ',')" : "group_concat(NULLIF(hist, ''), ',')"
        // `last` is the latest row's: looked up by its key once per step, not carried per row.
        return try tx.query("""
            SELECT g.series, g.dims, g.slot, g.n, g.total, g.top, g.latest, g.hists,
                (SELECT r.last FROM analytics_rollups r WHERE r.step = ? AND r.series = g.series AND r.bucket = g.latest AND r.dims = g.dims)
            FROM (SELECT series, dims, (bucket - ?) / ? AS slot, SUM(count) AS n, SUM(sum) AS total, MAX(max) AS top,
                    MAX(bucket) AS latest, \(join) AS hists
                FROM analytics_rollups WHERE step = ? AND \(which) AND bucket >= ? AND bucket < ?
                GROUP BY series, dims, slot) g
            ORDER BY g.slot
            """, [.integer(step), .integer(from), .integer(stride), .integer(step)] + names + [.integer(from), .integer(to)]).map { row in
            RollupStep(series: row.text(0), dims: row.text(1), slot: row.int(2), count: row.int(3), sum: row.real(4), max: row.real(5),
                       latestBucket: row.int(6), histogramText: row.text(7), last: row.real(8))
        }
    }

    /// Removes the rows of resolution `step` older than `before` (seconds); returns how many.
    @discardableResult
    public static func prune(step: Int64, before: Int64, in tx: any CatalogTransaction) throws -> Int {
        try tx.execute("DELETE FROM analytics_rollups WHERE step = ? AND bucket < ?", [.integer(step), .integer(before)])
    }
}

/// One roll-up row: what was recorded for one series with one set of dimensions in one bucket.
public struct RollupCell: Sendable, Equatable {
    /// Seconds per bucket: 60, 3600 or 86400.
    public var step: Int64
    /// "job.run_ms", "ingest.bytes", "custom.lecture_videos", …
    public var series: String
    /// The bucket's start, seconds since the epoch (a multiple of `step`).
    public var bucket: Int64
    /// The dimensions, encoded by `RollupDimensions`.
    public var dims: String
    public var count: Int64
    public var sum: Double
    public var max: Double
    /// The latest value (gauges: the queue's depth, the bytes stored).
    public var last: Double
    public var histogram: RollupHistogram

    public init(step: Int64, series: String, bucket: Int64, dims: String, count: Int64, sum: Double, max: Double, last: Double,
                histogram: RollupHistogram) {
        self.step = step
        self.series = series
        self.bucket = bucket
        self.dims = dims
        self.count = count
        self.sum = sum
        self.max = max
        self.last = last
        self.histogram = histogram
    }
}

/// The roll-up rows of one series and dimensions within one step of a query, merged.
public struct RollupStep: Sendable, Equatable {
    public var series: String
    public var dims: String
    /// Which step: its start is the query's `from` + `slot` × its stride.
    public var slot: Int64
    public var count: Int64
    public var sum: Double
    public var max: Double
    /// The bucket of the latest row in the step, and that row's `last`.
    public var latestBucket: Int64
    /// The rows' histograms joined ("bin:count,…", a bin may repeat).
    public var histogramText: String
    public var last: Double
}

/// Counts of values in logarithmic bins, four per doubling (each about 19 % wide), so that
/// roll-ups merge by adding and a percentile is read back within about 9 % of the true one.
/// Values below 1 share bin 0.
public struct RollupHistogram: Sendable, Equatable {
    public var bins: [Int: Int64] = [:]

    public init() {}

    /// From "bin:count,bin:count" (what `text` writes); unreadable parts are skipped. Read
    /// byte by byte: a query over a year parses thousands of these.
    public init(text: String) {
        var bins: [Int: Int64] = [:]
        Self.parse(text) { bin, n in bins[bin, default: 0] += n }
        self.bins = bins
    }

    /// Adds the counts of `text` ("bin:count,…", bins may repeat) into `counts`, indexed by
    /// bin (a bin past its end counts in the last): a query's steps add up this way with no
    /// dictionary per row.
    /// - Returns: the lowest and highest bin it added to, nil when none.
    @discardableResult
    public static func add(text: String, into counts: inout [Int64]) -> ClosedRange<Int>? {
        guard !counts.isEmpty, !text.isEmpty else { return nil }
        let top = counts.count - 1
        var low = Int.max, high = Int.min
        counts.withUnsafeMutableBufferPointer { c in
            parse(text) { bin, n in
                let i = bin < 0 ? 0 : bin > top ? top : bin
                c[i] &+= n
                if i < low { low = i }
                if i > high { high = i }
            }
        }
        return low <= high ? low...high : nil
    }

    /// Each "bin:count" of `text`, byte by byte; unreadable parts are skipped.
    private static func parse(_ text: String, _ found: (Int, Int64) -> Void) {
        var bin = 0, n: Int64 = 0, inCount = false, valid = false
        var text = text
        text.withUTF8 { bytes in
            for i in 0..<bytes.count {
                let b = bytes[i]
                if b &- 48 < 10 {
                    if inCount { n = n &* 10 &+ Int64(b &- 48) } else { bin = bin &* 10 &+ Int(b &- 48) }
                    valid = true
                } else if b == 58 {  // ":"
                    inCount = true
                } else if b == 44 {  // ","
                    if inCount && valid { found(bin, n) }
                    bin = 0; n = 0; inCount = false; valid = false
                } else {
                    valid = false
                }
            }
        }
        if inCount && valid { found(bin, n) }
    }

    public var text: String { bins.keys.sorted().map { "\($0):\(bins[$0]!)" }.joined(separator: ",") }

    public static func bin(of value: Double) -> Int {
        guard value >= 1, value.isFinite else { return 0 }
        return Int((4 * log2(value)).rounded(.down)) + 1
    }

    /// The middle (geometric) of a bin.
    public static func value(ofBin bin: Int) -> Double {
        bin == 0 ? 0.5 : pow(2, (Double(bin - 1) + 0.5) / 4)
    }

    public mutating func add(_ value: Double, count: Int64 = 1) { bins[Self.bin(of: value), default: 0] += count }

    public func merging(_ other: RollupHistogram) -> RollupHistogram {
        var result = self
        for (bin, n) in other.bins { result.bins[bin, default: 0] += n }
        return result
    }

    public var total: Int64 { bins.values.reduce(0, +) }

    /// The value below which a fraction `q` (0…1) of the values lie, nil when empty.
    public func quantile(_ q: Double) -> Double? {
        let sorted = bins.keys.sorted()
        return Self.quantile(q, total: total, count: sorted.count) { (sorted[$0], bins[sorted[$0]]!) }
    }

    /// The same over counts indexed by bin (what `add(text:into:)` fills), `total` their sum;
    /// only `bins` (those with counts) are looked at.
    public static func quantile(_ q: Double, counts: [Int64], total: Int64, bins: ClosedRange<Int>) -> Double? {
        quantile(q, total: total, count: bins.count) { i in (bins.lowerBound + i, counts[bins.lowerBound + i]) }
    }

    /// The bin in which the `q`-th of `total` values lies, from `count` (bin, count) pairs in bin order.
    private static func quantile(_ q: Double, total: Int64, count: Int, _ pair: (Int) -> (Int, Int64)) -> Double? {
        guard total > 0, count > 0 else { return nil }
        let rank = Swift.max(1, Int64((q * Double(total)).rounded(.up)))
        var seen: Int64 = 0
        for i in 0..<count {
            let (bin, n) = pair(i)
            seen += n
            if seen >= rank { return value(ofBin: bin) }
        }
        return value(ofBin: pair(count - 1).0)
    }
}

