import DepotCore

/// Charts drawn as SVG on the server: the status page and the reports show the same drawings,
/// readable without JavaScript, offline and in a mail client. Plain shapes and text only
/// (mail clients drop scripts and most CSS).
public enum SVGChart {
    /// A labelled value.
    public struct Bar: Sendable {
        public var label: String
        public var value: Double
        /// A second, lighter value drawn behind (p95 behind p50), or nil.
        public var secondary: Double?

        public init(label: String, value: Double, secondary: Double? = nil) {
            self.label = label
            self.value = value
            self.secondary = secondary
        }
    }

    /// Horizontal bars, one per label, with the value written beside each.
    public static func bars(_ bars: [Bar], title: String, unit: String, width: Int = 640) -> String {
        let rowHeight = 22, top = 28, labelWidth = 240
        let height = top + max(1, bars.count) * rowHeight + 8
        let top1 = bars.map { max($0.value, $0.secondary ?? 0) }.max() ?? 0
        // Room on the right for the figures written beside the longest bar.
        let scale = top1 > 0 ? Double(width - labelWidth - 170) / top1 : 0
        var svg = header(width: width, height: height, title: title)
        if bars.isEmpty { svg += text(x: 8, y: top + 14, "nothing recorded in this period", size: 12, fill: "#666") }
        for (i, bar) in bars.enumerated() {
            let y = top + i * rowHeight
            svg += text(x: 8, y: y + 15, String(bar.label.prefix(38)), size: 12)
            if let s = bar.secondary {
                svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(Int(s * scale))\" height=\"16\" fill=\"#b8d4ee\"/>"
            }
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(max(1, Int(bar.value * scale)))\" height=\"16\" fill=\"#2f6fad\"/>"
            let shown = formatValue(bar.value, unit: unit) + (bar.secondary.map { " / " + formatValue($0, unit: unit) } ?? "")
            svg += text(x: labelWidth + Int(max(bar.value, bar.secondary ?? 0) * scale) + 6, y: y + 15, shown, size: 11)
        }
        return svg + "</svg>"
    }

    /// A line over time: points (seconds since the epoch, value), oldest first.
    public static func line(_ points: [(Int64, Double)], title: String, unit: String, width: Int = 640, height: Int = 200) -> String {
        let left = 80, right = 12, top = 28, bottom = 28
        var svg = header(width: width, height: height, title: title)
        guard let first = points.first, let last = points.last else {
            return svg + text(x: left, y: top + 30, "nothing recorded in this period", size: 12, fill: "#666") + "</svg>"
        }
        let low = min(0, points.map(\.1).min() ?? 0), high = max(points.map(\.1).max() ?? 1, low + 1)
        let span = max(last.0 - first.0, 1)
        let w = Double(width - left - right), h = Double(height - top - bottom)
        func x(_ t: Int64) -> Double { Double(left) + Double(t - first.0) / Double(span) * w }
        func y(_ v: Double) -> Double { Double(top) + h - (v - low) / (high - low) * h }
        svg += "<line x1=\"\(left)\" y1=\"\(top + Int(h))\" x2=\"\(width - right)\" y2=\"\(top + Int(h))\" stroke=\"#999\"/>"
        svg += text(x: 4, y: top + 10, formatValue(high, unit: unit), size: 10, fill: "#555")
        svg += text(x: 4, y: top + Int(h), formatValue(low, unit: unit), size: 10, fill: "#555")
        svg += text(x: left, y: height - 8, String(formatTimestamp(first.0 * 1_000_000_000).prefix(16)), size: 10, fill: "#555")
        svg += text(x: width - right - 100, y: height - 8, String(formatTimestamp(last.0 * 1_000_000_000).prefix(16)), size: 10, fill: "#555")
        let path = points.map { "\(Int(x($0.0))),\(Int(y($0.1)))" }.joined(separator: " ")
        svg += "<polyline fill=\"none\" stroke=\"#2f6fad\" stroke-width=\"2\" points=\"\(path)\"/>"
        if points.count == 1 { svg += "<circle cx=\"\(Int(x(first.0)))\" cy=\"\(Int(y(first.1)))\" r=\"3\" fill=\"#2f6fad\"/>" }
        return svg + "</svg>"
    }

    static func header(width: Int, height: Int, title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" "
            + "role=\"img\" aria-label=\"\(htmlEscape(title))\" font-family=\"sans-serif\">"
            + "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>" + text(x: 8, y: 18, title, size: 14, bold: true)
    }

    static func text(x: Int, y: Int, _ s: String, size: Int, fill: String = "#222", bold: Bool = false) -> String {
        "<text x=\"\(x)\" y=\"\(y)\" font-size=\"\(size)\" fill=\"\(fill)\"\(bold ? " font-weight=\"bold\"" : "")>\(htmlEscape(s))</text>"
    }

    /// "12.3 ms", "4.5 MB", "17".
    public static func formatValue(_ v: Double, unit: String) -> String {
        switch unit {
        case "bytes": return describeBytes(Int64(v))
        case "ms": return v >= 10_000 ? "\(rounded(v / 1000)) s" : "\(rounded(v)) ms"
        case "s": return describeSeconds(v)
        default: return v == v.rounded() && abs(v) < 1e15 ? "\(Int64(v))" : "\(rounded(v))"
        }
    }

    static func rounded(_ v: Double) -> Double { v >= 100 ? v.rounded() : (v * 10).rounded() / 10 }
}
