/// Which versions of a document a collection keeps, in the terms restic's `forget` uses:
/// keep the last N; keep the newest version of each of the last N hours / days / weeks /
/// months / years that have one; keep everything within a duration of the newest version;
/// keep every version of documents with a tag. A version is kept when any rule keeps it;
/// a document's current version is always kept. No rule at all keeps everything (the default).
public struct RetentionRules: Sendable, Equatable, Codable {
    public var last: Int?
    public var hourly: Int?
    public var daily: Int?
    public var weekly: Int?
    public var monthly: Int?
    public var yearly: Int?
    /// Versions ingested within this long before the document's newest version.
    public var within: Duration?
    /// Documents with any of these tags keep all their versions.
    public var tags: [String] = []

    public init(last: Int? = nil, hourly: Int? = nil, daily: Int? = nil, weekly: Int? = nil, monthly: Int? = nil,
                yearly: Int? = nil, within: Duration? = nil, tags: [String] = []) {
        (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly) = (last, hourly, daily, weekly, monthly, yearly)
        self.within = within
        self.tags = tags
    }

    /// The keys of a `[retention]` table (global, `[collections.NAME.retention]` or a `.depot.toml`'s).
    public static let keys: Set<String> = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly",
                                           "keep_yearly", "keep_within", "keep_tags"]

    /// True when no rule is set: every version is kept.
    public var keepsEverything: Bool {
        last == nil && hourly == nil && daily == nil && weekly == nil && monthly == nil && yearly == nil && within == nil && tags.isEmpty
    }

    /// Reads the rules from a table that may hold other keys too (the caller allows them).
    public init(reading r: TableReader) throws {
        func count(_ key: String) throws -> Int? { try r.int(key, min: 1, max: 1_000_000) }
        last = try count("keep_last")
        hourly = try count("keep_hourly")
        daily = try count("keep_daily")
        weekly = try count("keep_weekly")
        monthly = try count("keep_monthly")
        yearly = try count("keep_yearly")
        within = try r.duration("keep_within")
        tags = try r.strings("keep_tags") ?? []
        if let within, within <= .zero { throw r.fail("keep_within", "must be positive") }
    }

    /// "keep_last 3, keep_daily 7", or "keep everything".
    public var summary: String {
        var parts: [String] = []
        for (name, value) in [("last", last), ("hourly", hourly), ("daily", daily), ("weekly", weekly), ("monthly", monthly),
                              ("yearly", yearly)] {
            if let value { parts.append("keep_\(name) \(value)") }
        }
        if let within { parts.append("keep_within \(formatDuration(within))") }
        if !tags.isEmpty { parts.append("keep_tags " + tags.joined(separator: ",")) }
        return parts.isEmpty ? "keep everything" : parts.joined(separator: ", ")
    }

    enum CodingKeys: String, CodingKey {
        case last = "keep_last", hourly = "keep_hourly", daily = "keep_daily", weekly = "keep_weekly"
        case monthly = "keep_monthly", yearly = "keep_yearly", within = "keep_within", tags = "keep_tags"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(last, forKey: .last)
        try c.encode(hourly, forKey: .hourly)
        try c.encode(daily, forKey: .daily)
        try c.encode(weekly, forKey: .weekly)
        try c.encode(monthly, forKey: .monthly)
        try c.encode(yearly, forKey: .yearly)
        try c.encode(within.map(formatDuration), forKey: .within)
        try c.encode(tags, forKey: .tags)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        last = try c.decodeIfPresent(Int.self, forKey: .last)
        hourly = try c.decodeIfPresent(Int.self, forKey: .hourly)
        daily = try c.decodeIfPresent(Int.self, forKey: .daily)
        weekly = try c.decodeIfPresent(Int.self, forKey: .weekly)
        monthly = try c.decodeIfPresent(Int.self, forKey: .monthly)
        yearly = try c.decodeIfPresent(Int.self, forKey: .yearly)
        within = try c.decodeIfPresent(String.self, forKey: .within).flatMap(parseDuration)
        tags = try c.decodeIfPresent([String].self, forKey: .tags) ?? []
    }
}
