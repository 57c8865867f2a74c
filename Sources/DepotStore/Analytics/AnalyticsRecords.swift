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

/// Counts of values in logarithmic bins, four per doubling (each about 19 % wide), so that
/// roll-ups merge by adding and a percentile is read back within about 9 % of the true one.
/// Values below 1 share bin 0.
public struct RollupHistogram: Sendable, Equatable {
    public var bins: [Int: Int64] = [:]

    public init() {}

    /// From "bin:count,bin:count" (what `text` writes); unreadable parts are skipped. Read
    /// byte by byte: a query over a year parses thousands of these.
    public init(text: String) {
        var bin = 0, n: Int64 = 0, inCount = false, valid = false
        var text = text
        text.withUTF8 { bytes in
            for b in bytes {
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    if inCount { n = n &* 10 &+ Int64(b &- 48) } else { bin = bin &* 10 &+ Int(b &- 48) }
                    valid = true
                case UInt8(ascii: ":"):
                    inCount = true
                case UInt8(ascii: ","):
                    if inCount && valid { bins[bin, default: 0] += n }
                    bin = 0; n = 0; inCount = false; valid = false
                default:
                    valid = false
                }
            }
        }
        if inCount && valid { bins[bin, default: 0] += n }
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
        let total = self.total
        guard total > 0 else { return nil }
        let rank = Swift.max(1, Int64((q * Double(total)).rounded(.up)))
        var seen: Int64 = 0
        for bin in bins.keys.sorted() {
            seen += bins[bin]!
            if seen >= rank { return Self.value(ofBin: bin) }
        }
        return Self.value(ofBin: bins.keys.max()!)
    }
}

