import DepotCore

/// `[retention]`: how long the trash keeps what was removed, and how garbage collection runs.
public struct RetentionSettings: ConfigSection {
    public static let key = "retention"
    /// How long a removed document or version stays in the trash before it is purged.
    public var trashDays: Int = 30
    /// A blob nothing references is removed only once it has been unreferenced this long
    /// (restic's prune waits the same way), so that an ingest or a job in flight that is about
    /// to reference it again never loses it.
    public var gcGrace: Duration = .seconds(86_400)
    /// How often `depot serve` collects garbage and purges the expired trash ("0s": never).
    public var gcInterval: Duration = .seconds(6 * 3600)
    /// The rules every collection follows unless its `[retention]` table says otherwise
    /// (none: every version is kept).
    public var rules = RetentionRules()
    /// How often `depot serve` applies the rules ("0s": never; `depot retention apply` still does).
    public var applyInterval: Duration = .seconds(86_400)

    public init() {}

    public init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(Set(["trash_days", "gc_grace", "gc_interval", "apply_interval"]).union(RetentionRules.keys))
        rules = try RetentionRules(reading: r)
        if let v = try r.duration("apply_interval") { applyInterval = v }
        if let v = try r.int("trash_days", min: 0, max: 36_500) { trashDays = v }
        if let v = try r.duration("gc_grace") { gcGrace = v }
        if let v = try r.duration("gc_interval") { gcInterval = v }
        guard gcGrace >= .zero else { throw r.fail("gc_grace", "must not be negative") }
        guard gcInterval >= .zero else { throw r.fail("gc_interval", "must not be negative") }
    }

    /// The trash's keep time, nanoseconds.
    public var trashNanoseconds: Int64 { Int64(trashDays) * 86_400 * 1_000_000_000 }
}
