import DepotCore
import DepotStore
import Foundation

/// The custom metrics of `[analytics.metrics]` in the Prometheus text format, for /metrics:
/// counters as `depot_custom_NAME_total`, histograms as `depot_custom_NAME` with the
/// roll-ups' bins as buckets — all time, from the day roll-ups (kept forever).
public enum CustomMetricsExport {
    public static func render(_ metrics: [CustomMetric], database: any CatalogDatabase) throws -> String {
        guard !metrics.isEmpty else { return "" }
        let cells = try database.read { tx in
            try AnalyticsRecords.cells(step: Resolution.day, seriesPrefix: "custom.", from: Int64.min / 2, to: Int64.max / 2, in: tx)
        }
        var out = ""
        for metric in metrics {
            let mine = cells.filter { $0.series == "custom." + metric.name }
            let count = mine.reduce(Int64(0)) { $0 + $1.count }
            let sum = mine.reduce(0.0) { $0 + $1.sum }
            let help = metric.help.isEmpty ? "Custom metric \(metric.name) (depot.toml [[analytics.metrics]])." : metric.help
            let name = "depot_custom_" + metric.name
            if metric.isHistogram {
                out += "# HELP \(name) \(escape(help))\n# TYPE \(name) histogram\n"
                var histogram = RollupHistogram()
                for cell in mine { histogram = histogram.merging(cell.histogram) }
                var cumulative: Int64 = 0
                for bin in histogram.bins.keys.sorted() {
                    cumulative += histogram.bins[bin]!
                    // A bin's upper edge: 1 for bin 0, else 2^(bin/4).
                    let edge = bin == 0 ? 1 : RollupHistogram.value(ofBin: bin) * exp2(0.125)
                    out += "\(name)_bucket{le=\"\(number(edge))\"} \(cumulative)\n"
                }
                out += "\(name)_bucket{le=\"+Inf\"} \(count)\n\(name)_sum \(number(sum))\n\(name)_count \(count)\n"
            } else {
                out += "# HELP \(name)_total \(escape(help))\n# TYPE \(name)_total counter\n\(name)_total \(count)\n"
            }
        }
        return out
    }

    static func escape(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n") }

    static func number(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? "\(Int64(v))" : "\(v)" }

}
