import DepotCore
import Foundation

/// Prints a Codable value as JSON on stdout: the same types, and so the same shapes, the API answers with.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try encoder.encode(value))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// Prints rows as left-aligned columns under a header.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows {
        for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, cell in
            i == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
        }.joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

/// "1.5 MiB".
func humanBytes(_ bytes: Int64) -> String { describeBytes(bytes) }

/// An RFC 3339 UTC time from nanoseconds since the epoch.
func timestamp(_ nanoseconds: Int64) -> String { formatTimestamp(nanoseconds) }

/// A one-line progress display on stderr, redrawn in place; silent when stderr is not a terminal.
final class Progress {
    private let enabled = isatty(STDERR_FILENO) == 1
    private let total: Int64
    private let label: String
    private var lastDraw: Int64 = 0
    private let started = monotonicNanoseconds()

    init(label: String, total: Int64) {
        self.label = label
        self.total = total
    }

    /// Redraws at most ten times a second.
    func update(done: Int64, detail: String = "") {
        guard enabled else { return }
        let now = monotonicNanoseconds()
        guard now - lastDraw > 100_000_000 || done == total else { return }
        lastDraw = now
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let seconds = Double(now - started) / 1e9
        let line = String(format: "\r%@ [%@] %3.0f%% %@ (%.1fs)", label, bar, fraction * 100, detail, seconds)
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

/// Writes a message to stderr.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
