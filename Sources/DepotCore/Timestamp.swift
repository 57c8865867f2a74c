#if canImport(Glibc)
import Glibc
#endif

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, from nanoseconds since the epoch: the one form every
/// time takes in logs, events, manifests, the API and `--json` (RFC 3339).
/// FoundationEssentials has no DateFormatter (STYLE.md), hence gmtime_r.
public func formatTimestamp(_ nanoseconds: Int64) -> String {
    var seconds = time_t(nanoseconds / 1_000_000_000)
    let millis = Int((nanoseconds % 1_000_000_000) / 1_000_000)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return pad(Int(parts.tm_year) + 1900, 4) + "-" + pad(Int(parts.tm_mon) + 1, 2) + "-" + pad(Int(parts.tm_mday), 2)
        + "T" + pad(Int(parts.tm_hour), 2) + ":" + pad(Int(parts.tm_min), 2) + ":" + pad(Int(parts.tm_sec), 2)
        + "." + pad(millis, 3) + "Z"
}

/// A point in time as depot stores it (nanoseconds since the epoch) that encodes as an
/// RFC 3339 string: the Codable types of the API, `--json`, events and manifests use it.
public struct Timestamp: Sendable, Equatable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public init(seconds: Int64) { self.nanoseconds = seconds * 1_000_000_000 }

    public static var now: Timestamp { Timestamp(nanoseconds: wallClockNanoseconds()) }

    public var description: String { formatTimestamp(nanoseconds) }
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanoseconds < b.nanoseconds }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(formatTimestamp(nanoseconds))
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let ns = parseTimestamp(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an RFC 3339 UTC time: \(text)"))
        }
        nanoseconds = ns
    }
}

/// Parses what `formatTimestamp` writes (`…Z`, with or without fractional seconds).
public func parseTimestamp(_ text: String) -> Int64? {
    let bytes = Array(text.utf8)
    guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
    func number(_ range: Range<Int>) -> Int? {
        var value = 0
        for i in range {
            guard i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 else { return nil }
            value = value * 10 + Int(bytes[i] - 48)
        }
        return value
    }
    guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
          let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19) else { return nil }
    var parts = tm()
    parts.tm_year = Int32(year - 1900)
    parts.tm_mon = Int32(month - 1)
    parts.tm_mday = Int32(day)
    parts.tm_hour = Int32(hour)
    parts.tm_min = Int32(minute)
    parts.tm_sec = Int32(second)
    let seconds = Int64(timegm(&parts))
    var fraction: Int64 = 0
    if bytes[19] == UInt8(ascii: ".") {
        var scale: Int64 = 100_000_000
        for b in bytes[20..<(bytes.count - 1)] {
            guard b >= 48, b <= 57 else { return nil }
            fraction += Int64(b - 48) * scale
            scale /= 10
        }
    }
    return seconds * 1_000_000_000 + fraction
}
