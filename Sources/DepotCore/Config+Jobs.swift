import TOMLKit

/// `[jobs]`: the job queue and its worker processes.
public struct JobsSettings: Sendable, Equatable {
    /// Worker processes per media class ("documents", "images", "audio", "video", "other").
    public var concurrency: [String: Int] = ["documents": 2, "images": 1, "audio": 1, "video": 1, "other": 1]
    /// Wall-clock limit of one job; past it the worker is killed.
    public var timeout: Duration = .seconds(600)
    /// Address-space limit of a worker (RLIMIT_AS), bytes.
    public var memoryLimit: Int64 = 2 << 30
    /// CPU seconds one job may use (RLIMIT_CPU).
    public var cpuLimit: Duration = .seconds(600)
    /// Open files of a worker (RLIMIT_NOFILE).
    public var openFiles: Int = 256
    /// Niceness added to workers.
    public var nice: Int = 10
    /// Attempts before a job is dead.
    public var maxAttempts: Int = 3
    /// First retry delay; doubles per attempt (with jitter) up to `retryMax`.
    public var retryInitial: Duration = .seconds(30)
    public var retryMax: Duration = .seconds(3600)
    /// How long a running job's lease lasts without a heartbeat (heartbeats come every third of it).
    public var lease: Duration = .seconds(30)

    public init() {}

    /// The media classes that get workers.
    public static let classes = ["documents", "images", "audio", "video", "other"]
}

extension DepotConfig {
    static func parseJobs(_ table: TOMLTable, source: String) throws -> JobsSettings {
        let r = TableReader(table: table, prefix: "jobs.", source: source)
        try r.allow(["concurrency", "timeout", "memory_limit", "cpu_limit", "open_files", "nice", "max_attempts",
                     "retry_initial", "retry_max", "lease"])
        var s = JobsSettings()
        if let c = try r.table("concurrency") {
            let cr = TableReader(table: c, prefix: "jobs.concurrency.", source: source)
            try cr.allow(Set(JobsSettings.classes))
            for name in JobsSettings.classes {
                if let v = try cr.int(name, min: 0) { s.concurrency[name] = v }
            }
        }
        if let v = try r.duration("timeout") { s.timeout = v }
        if let v = r.table["memory_limit"] {
            guard let bytes = v.int.map(Int64.init) ?? v.string.flatMap(parseByteSize), bytes >= 64 << 20 else {
                throw r.fail("memory_limit", "must be a size of at least 64 MiB, such as \"2GiB\" or \"512MiB\"")
            }
            s.memoryLimit = bytes
        }
        if let v = try r.duration("cpu_limit") { s.cpuLimit = v }
        if let v = try r.int("open_files", min: 16) { s.openFiles = v }
        if let v = try r.int("nice", min: 0) {
            guard v <= 19 else { throw r.fail("nice", "must be between 0 and 19") }
            s.nice = v
        }
        if let v = try r.int("max_attempts", min: 1) { s.maxAttempts = v }
        if let v = try r.duration("retry_initial") { s.retryInitial = v }
        if let v = try r.duration("retry_max") { s.retryMax = v }
        if let v = try r.duration("lease") { s.lease = v }
        guard s.timeout > .zero, s.cpuLimit >= .seconds(1), s.lease >= .milliseconds(300), s.retryInitial > .zero,
              s.retryMax >= s.retryInitial else {
            throw ConfigError(source: source, message: "jobs.timeout must be positive, jobs.cpu_limit ≥ 1s, jobs.lease ≥ 300ms, and jobs.retry_max ≥ jobs.retry_initial > 0")
        }
        return s
    }
}

/// A size in bytes: "512MiB", "2GiB", "64MB", "1048576".
public func parseByteSize(_ text: String) -> Int64? {
    let units: [(String, Double)] = [("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
                                     ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1)]
    let trimmed = text.filter { $0 != " " }
    for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
        guard let value = Double(trimmed.dropLast(suffix.count)), value >= 0, value.isFinite else { return nil }
        return Int64(value * scale)
    }
    return Int64(trimmed)
}
