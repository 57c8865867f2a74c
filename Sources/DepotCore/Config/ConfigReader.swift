import TOMLKit
#if canImport(Glibc)
import Glibc
#endif

/// A configuration file that cannot be used: which file, which key, which line, and why.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file (or a name such as "test.toml" for text that came from elsewhere).
    public var source: String
    /// The key the problem is in ("http.port", "webhooks[0].url"), when there is one.
    public var key: String?
    /// The line of that key in the file, when it could be found.
    public var line: Int?
    public var message: String

    public init(source: String, key: String? = nil, line: Int? = nil, message: String) {
        self.source = source
        self.key = key
        self.line = line
        self.message = message
    }

    /// "FILE:LINE: message" (the form compilers use, which editors jump to).
    public var description: String {
        source + (line.map { ":\($0)" } ?? "") + ": " + message
    }
}

/// The text of a config file, kept to say on which line a key stands.
public final class ConfigSource: Sendable {
    public let path: String
    private let lines: [String]

    public init(path: String, text: String) {
        self.path = path
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// The line (1-based) where `key` — a dotted path such as "http.port", "collections.share",
    /// or "webhooks[1].url" — is set or its table begins. TOMLKit keeps no source positions for
    /// values, so the text is read again: table headers, arrays of tables, bare, quoted and
    /// dotted keys. nil when it is not there as written (an inline table, a key set twice).
    public func line(of key: String) -> Int? {
        var table: [String] = []
        var arrayCounts: [String: Int] = [:]
        for (index, raw) in lines.enumerated() {
            let text = raw.drop(while: { $0 == " " || $0 == "\t" })
            if text.hasPrefix("[[") {
                let name = Self.keyPath(text.dropFirst(2).prefix { $0 != "]" })
                let joined = name.joined(separator: ".")
                let n = arrayCounts[joined, default: -1] + 1
                arrayCounts[joined] = n
                table = name
                table[table.count - 1] += "[\(n)]"
                if table.joined(separator: ".") == key { return index + 1 }
            } else if text.hasPrefix("[") {
                table = Self.keyPath(text.dropFirst().prefix { $0 != "]" })
                if table.joined(separator: ".") == key { return index + 1 }
            } else if let equals = Self.assignment(text) {
                let full = (table + Self.keyPath(text[..<equals])).joined(separator: ".")
                if full == key { return index + 1 }
            }
        }
        return nil
    }

    /// Where the "=" of a `key = value` line is, outside quotes; nil for other lines.
    private static func assignment(_ text: Substring) -> Substring.Index? {
        guard let first = text.first, first != "#" else { return nil }
        var quote: Character?
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "=" {
                return i
            } else if c == "#" {
                return nil
            }
            i = text.index(after: i)
        }
        return nil
    }

    /// `a . "b.c" . d` → ["a", "b.c", "d"].
    private static func keyPath(_ text: Substring) -> [String] {
        var parts: [String] = []
        var current = ""
        var quote: Character?
        for c in text {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "." {
                parts.append(current)
                current = ""
            } else if c != " " && c != "\t" {
                current.append(c)
            }
        }
        parts.append(current)
        return parts
    }
}

/// A value in a config file, with the key path it sits at: what a module's section parser
/// is handed (so that modules never see TOMLKit).
public struct ConfigNode {
    let value: TOMLValueConvertible
    /// The dotted path of the value ("http", "webhooks").
    public let key: String
    public let source: ConfigSource

    init(value: TOMLValueConvertible, key: String, source: ConfigSource) {
        self.value = value
        self.key = key
        self.source = source
    }

    /// An error at this node.
    public func fail(_ what: String) -> ConfigError {
        ConfigError(source: source.path, key: key, line: source.line(of: key), message: "\(key) \(what)")
    }

    /// The node as a table (`[http]`).
    public func table() throws -> TableReader {
        guard let table = value.table else { throw fail("must be a table") }
        return TableReader(table: table, prefix: key + ".", source: source)
    }

    /// The node as an array of tables (`[[webhooks]]`), each read with its index in errors.
    public func tables() throws -> [TableReader] {
        guard let array = value.array else { throw fail("must be an array of tables ([[\(key)]])") }
        return try array.enumerated().map { index, item in
            guard let table = item.table else { throw fail("must be an array of tables ([[\(key)]])") }
            return TableReader(table: table, prefix: "\(key)[\(index)].", source: source)
        }
    }
}

/// Typed access to one TOML table, with errors that name the file, the key and its line.
public struct TableReader {
    let table: TOMLTable
    /// The path of this table with a trailing dot ("http."), "" at the top.
    public let prefix: String
    public let source: ConfigSource

    init(table: TOMLTable, prefix: String, source: ConfigSource) {
        self.table = table
        self.prefix = prefix
        self.source = source
    }

    /// Parses a whole file's text as its top table.
    public static func parse(toml text: String, source path: String) throws -> TableReader {
        let source = ConfigSource(path: path, text: text)
        do {
            return TableReader(table: try TOMLTable(string: text), prefix: "", source: source)
        } catch let error as TOMLParseError {
            throw ConfigError(source: path, line: error.source.begin.line,
                              message: "column \(error.source.begin.column): \(error.description)")
        }
    }

    /// The keys of this table.
    public var keys: [String] { table.keys.sorted() }

    /// An error about `key` in this table.
    public func fail(_ key: String, _ what: String) -> ConfigError {
        let full = prefix + key
        return ConfigError(source: source.path, key: full, line: source.line(of: full) ?? source.line(of: String(prefix.dropLast())),
                           message: "\(full) \(what)")
    }

    /// An error about this table as a whole.
    public func fail(_ what: String) -> ConfigError {
        let name = String(prefix.dropLast())
        return ConfigError(source: source.path, key: name.isEmpty ? nil : name, line: name.isEmpty ? nil : source.line(of: name),
                           message: what)
    }

    /// Refuses keys not in `keys`: a typo never silently does nothing.
    public func allow(_ keys: Set<String>) throws {
        for key in table.keys.sorted() where !keys.contains(key) {
            let full = prefix + key
            throw ConfigError(source: source.path, key: full, line: source.line(of: full),
                              message: "unknown key '\(full)' (known: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    /// The value at `key` as a node, for a section or sub-table parser.
    public func node(_ key: String) -> ConfigNode? {
        table[key].map { ConfigNode(value: $0, key: prefix + key, source: source) }
    }

    public func string(_ key: String) throws -> String? {
        guard let value = table[key] else { return nil }
        guard let s = value.string else { throw fail(key, "must be a string") }
        return s
    }

    public func table(_ key: String) throws -> TableReader? {
        guard let value = table[key] else { return nil }
        guard let t = value.table else { throw fail(key, "must be a table") }
        return TableReader(table: t, prefix: prefix + key + ".", source: source)
    }

    public func int(_ key: String, min: Int, max: Int = .max) throws -> Int? {
        guard let value = table[key] else { return nil }
        guard let i = value.int, i >= min, i <= max else {
            throw fail(key, max == .max ? "must be an integer ≥ \(min)" : "must be an integer from \(min) to \(max)")
        }
        return i
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let value = table[key] else { return nil }
        guard let b = value.bool else { throw fail(key, "must be true or false") }
        return b
    }

    public func strings(_ key: String) throws -> [String]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw fail(key, "must be an array of strings") }
        var result: [String] = []
        for item in array {
            guard let s = item.string else { throw fail(key, "must be an array of strings") }
            result.append(s)
        }
        return result
    }

    public func duration(_ key: String) throws -> Duration? {
        guard let value = table[key] else { return nil }
        if let i = value.int, i >= 0, i <= maximumDurationSeconds { return .seconds(i) }
        if let d = value.double, d >= 0, d <= Double(maximumDurationSeconds) { return .nanoseconds(Int64(d * 1e9)) }
        if let s = value.string, let d = parseDuration(s) { return d }
        throw fail(key, "must be a duration such as \"500ms\", \"2s\", \"5m\" or a number of seconds, at most 100 years")
    }

    /// A size: a number of bytes or a string such as "512MiB"; at least `min` bytes, at most 1 EiB.
    public func byteSize(_ key: String, min: Int64) throws -> Int64? {
        guard let value = table[key] else { return nil }
        guard let bytes = value.int.map(Int64.init) ?? value.string.flatMap(parseByteSize), bytes >= min, bytes <= maximumByteSize else {
            throw fail(key, "must be a size from \(describeBytes(min)) to 1 EiB, such as \"2GiB\" or \"512MiB\"")
        }
        return bytes
    }

    /// A permission mode: a TOML integer (0o644) or a string of octal digits ("0644").
    public func fileMode(_ key: String) throws -> UInt32? {
        guard let value = table[key] else { return nil }
        if let i = value.int, (0...0o7777).contains(i) { return UInt32(i) }
        if let s = value.string, !s.isEmpty, s.count <= 5, let i = UInt32(s, radix: 8), i <= 0o7777 { return i }
        throw fail(key, "must be a permission mode such as \"0644\" or 0o644")
    }

    /// One of `choices`.
    public func choice(_ key: String, _ choices: [String]) throws -> String? {
        guard let s = try string(key) else { return nil }
        guard choices.contains(s) else {
            throw fail(key, "must be one of \(choices.map { "\"\($0)\"" }.joined(separator: ", "))")
        }
        return s
    }

    /// A scalar value as JSON-like text (for typed job parameters): strings, integers, floats, booleans.
    public func scalar(_ key: String) throws -> ConfigScalar? {
        guard let value = table[key] else { return nil }
        if let b = value.bool { return .bool(b) }
        if let i = value.int { return .int(i) }
        if let d = value.double { return .double(d) }
        if let s = value.string { return .string(s) }
        throw fail(key, "must be a string, a number or true/false")
    }
}

/// A plain value from a config file.
public enum ConfigScalar: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
}

/// The longest duration depot takes anywhere (100 years): longer ones are refused, since a
/// time that far ahead would overflow the nanosecond clocks it is added to.
public let maximumDurationSeconds: Int64 = 100 * 365 * 86400

/// The largest size depot takes anywhere (1 EiB).
public let maximumByteSize: Int64 = 1 << 60

/// Parses a duration: a string such as "500ms", "2s", "5m", "1h", "7d"; nil for anything
/// else, and for more than 100 years.
public func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
    let trimmed = String(text.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
        let number = trimmed.dropLast(suffix.count)
        // "ms" also ends in "s": only accept the longest suffix whose number parses.
        if let value = Double(number), value >= 0, value.isFinite {
            guard value * scale <= Double(maximumDurationSeconds) else { return nil }
            return .nanoseconds(Int64((value * scale * 1e9).rounded()))
        }
    }
    return nil
}

/// "2h", "7d", "90s", "500ms".
public func formatDuration(_ d: Duration) -> String {
    let ns = d.nanosecondsValue
    if ns % 1_000_000_000 != 0 { return ns % 1_000_000 == 0 ? "\(ns / 1_000_000)ms" : "\(Double(ns) / 1e9)s" }
    let s = ns / 1_000_000_000
    if s > 0 && s % 86400 == 0 { return "\(s / 86400)d" }
    if s > 0 && s % 3600 == 0 { return "\(s / 3600)h" }
    if s > 0 && s % 60 == 0 { return "\(s / 60)m" }
    return "\(s)s"
}

/// A size in bytes: "512MiB", "2GiB", "64MB", "1048576"; nil past 1 EiB.
public func parseByteSize(_ text: String) -> Int64? {
    let units: [(String, Double)] = [("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
                                     ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1),
                                     // "4G", as `ls -h` and `du -h` write it: binary units.
                                     ("K", 1024), ("M", 1_048_576), ("G", 1_073_741_824), ("T", 1_099_511_627_776)]
    let trimmed = text.filter { $0 != " " }
    for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
        guard let value = Double(trimmed.dropLast(suffix.count)), value >= 0, value * scale <= Double(maximumByteSize) else {
            return nil
        }
        return Int64(value * scale)
    }
    return Int64(trimmed)
}

/// "1.5 MiB", "512 B".
public func describeBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(bytes) B" }
    let tenths = Int((value * 10).rounded())
    return tenths % 10 == 0 ? "\(tenths / 10) \(units[unit])" : "\(tenths / 10).\(tenths % 10) \(units[unit])"
}

/// Reads the whole of a small text file (a config).
public func readTextFile(_ path: String) throws -> String {
    let fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = try chunk.withUnsafeMutableBytes { try readFully(fd, into: $0, path: path) }
        bytes += chunk[0..<n]
        if n < chunk.count { break }
        if bytes.count > 16 << 20 { throw ConfigError(source: path, message: "larger than 16 MiB") }
    }
    return String(decoding: bytes, as: UTF8.self)
}

extension Duration {
    /// Whole nanoseconds, for arithmetic against the monotonic clock.
    public var nanosecondsValue: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
