import DepotCore

/// Settings of one job kind (`[jobs.kinds.NAME]`) or media class (`[jobs.classes.NAME]`):
/// what is not set falls back to the kind's own defaults, then `[jobs]`.
public struct JobOverrides: Sendable, Equatable {
    /// Most jobs of it at once (kinds only; classes take theirs from `[jobs.concurrency]`).
    public var slots: Int?
    public var priority: Int?
    public var timeout: Duration?
    public var memoryLimit: Int64?
    public var cpuLimit: Duration?
    public var maxAttempts: Int?
    /// Default parameters (kinds only), checked against the kind's.
    public var parameters: JobParameters = [:]
    /// Default parameters per collection (kinds only: `[jobs.kinds.KIND.collections.NAME]`),
    /// over `parameters`; each set holds only the parameters its table names.
    public var collections: [String: JobParameters] = [:]
    /// Collections whose every new version of the kind's `automaticFor` classes gets a job of
    /// it (kinds only: `[jobs.kinds.rendition] automatic = ["lectures"]`).
    public var automatic: [String] = []

    public init() {}
}

/// `[jobs]`: the job queue, its kinds and the worker processes that run them.
public struct JobsSettings: ConfigSection {
    public static let key = "jobs"
    /// Most worker processes at once (each runs one job at a time).
    public var workers: Int = 2
    /// A worker with nothing to do for this long stops; the next job starts one again.
    public var workerIdle: Duration = .seconds(60)
    /// A worker whose resident memory stays above this after a job is replaced by a fresh one.
    public var workerMaxRSS: Int64 = 512 << 20
    /// Most jobs at once per media class ("documents", "images", "audio", "video", "other").
    public var concurrency: [String: Int] = ["documents": 2, "images": 1, "audio": 1, "video": 1, "other": 1]
    /// Wall-clock limit of one job; past it the worker is killed and the job fails.
    public var timeout: Duration = .seconds(600)
    /// Address-space limit of a worker (RLIMIT_AS), bytes.
    public var memoryLimit: Int64 = 2 << 30
    /// CPU seconds one job may use (RLIMIT_CPU).
    public var cpuLimit: Duration = .seconds(600)
    /// Open files of a worker (RLIMIT_NOFILE).
    public var openFiles: Int = 256
    /// Niceness added to workers.
    public var nice: Int = 10
    /// Attempts before a job that keeps failing for passing reasons is dead.
    public var maxAttempts: Int = 3
    /// First retry delay; doubles per attempt (with jitter) up to `retryMax`.
    public var retryInitial: Duration = .seconds(30)
    public var retryMax: Duration = .seconds(3600)
    /// How long a running job's lease lasts without a heartbeat (heartbeats come every third of it).
    public var lease: Duration = .seconds(30)
    /// `[jobs.kinds.NAME]`.
    public var kinds: [String: JobOverrides] = [:]
    /// `[jobs.classes.NAME]`.
    public var classes: [String: JobOverrides] = [:]

    public init() {}

    /// The limits a job of `kind` for a file of `mediaClass` runs under: the kind's
    /// settings, else the class's, else the kind's built-in ones, else `[jobs]`'s.
    public func limits(kind: JobKind, mediaClass: String) -> JobLimits {
        let k = kinds[kind.name], c = classes[mediaClass]
        return JobLimits(timeout: k?.timeout ?? c?.timeout ?? kind.timeout ?? timeout,
                         memoryBytes: k?.memoryLimit ?? c?.memoryLimit ?? kind.memoryBytes ?? memoryLimit,
                         cpu: k?.cpuLimit ?? c?.cpuLimit ?? kind.cpu ?? cpuLimit)
    }

    public func maxAttempts(kind: String, mediaClass: String) -> Int {
        kinds[kind]?.maxAttempts ?? classes[mediaClass]?.maxAttempts ?? maxAttempts
    }

    public func priority(of kind: JobKind) -> Int { kinds[kind.name]?.priority ?? kind.priority }

    /// Most jobs of a kind at once (nil: bounded only by the workers and the class).
    public func slots(kind: String) -> Int? { kinds[kind]?.slots }

    /// The default parameters of a kind's jobs for a version in `collection`: the
    /// collection's table over the kind's `[parameters]`.
    public func defaultParameters(kind: String, collection: String) -> JobParameters {
        (kinds[kind]?.parameters ?? [:]).merging(kinds[kind]?.collections[collection] ?? [:]) { $1 }
    }

    /// The most address space any job may get: a worker's hard limit, under which each job
    /// sets its own.
    public var largestMemoryLimit: Int64 {
        var largest = memoryLimit
        for kind in JobKinds.all {
            for mediaClass in MediaClass.all { largest = max(largest, limits(kind: kind, mediaClass: mediaClass).memoryBytes) }
        }
        return largest
    }

    public init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["workers", "worker_idle", "worker_max_rss", "concurrency", "timeout", "memory_limit", "cpu_limit",
                     "open_files", "nice", "max_attempts", "retry_initial", "retry_max", "lease", "kinds", "classes"])
        if let v = try r.int("workers", min: 1, max: 256) { workers = v }
        if let v = try r.duration("worker_idle") { workerIdle = v }
        if let v = try r.byteSize("worker_max_rss", min: 16 << 20) { workerMaxRSS = v }
        if let c = try r.table("concurrency") {
            try c.allow(Set(MediaClass.all))
            for name in MediaClass.all {
                if let v = try c.int(name, min: 0, max: 256) { concurrency[name] = v }
            }
        }
        if let v = try r.duration("timeout") { timeout = v }
        if let v = try r.byteSize("memory_limit", min: 64 << 20) { memoryLimit = v }
        if let v = try r.duration("cpu_limit") { cpuLimit = v }
        if let v = try r.int("open_files", min: 16, max: 1 << 20) { openFiles = v }
        if let v = try r.int("nice", min: 0, max: 19) { nice = v }
        if let v = try r.int("max_attempts", min: 1, max: 1000) { maxAttempts = v }
        if let v = try r.duration("retry_initial") { retryInitial = v }
        if let v = try r.duration("retry_max") { retryMax = v }
        if let v = try r.duration("lease") { lease = v }
        guard timeout > .zero else { throw r.fail("timeout", "must be positive") }
        guard cpuLimit >= .seconds(1) else { throw r.fail("cpu_limit", "must be at least 1s") }
        guard lease >= .milliseconds(300) else { throw r.fail("lease", "must be at least 300ms") }
        guard workerIdle > .zero else { throw r.fail("worker_idle", "must be positive") }
        guard retryInitial > .zero else { throw r.fail("retry_initial", "must be positive") }
        guard retryMax >= retryInitial else { throw r.fail("retry_max", "must be at least retry_initial") }
        if let table = try r.table("kinds") {
            try table.allow(Set(JobKinds.all.map(\.name)))
            for name in table.keys {
                guard let kind = JobKinds.named(name), let t = try table.table(name) else { continue }
                kinds[name] = try Self.overrides(t, kind: kind)
            }
        }
        if let table = try r.table("classes") {
            try table.allow(Set(MediaClass.all))
            for name in table.keys {
                guard let t = try table.table(name) else { continue }
                classes[name] = try Self.overrides(t, kind: nil)
            }
        }
    }

    static func overrides(_ r: TableReader, kind: JobKind?) throws -> JobOverrides {
        var keys: Set<String> = ["timeout", "memory_limit", "cpu_limit", "max_attempts"]
        if kind != nil { keys.formUnion(["slots", "priority", "parameters", "collections", "automatic"]) }
        try r.allow(keys)
        var o = JobOverrides()
        o.slots = try r.int("slots", min: 0, max: 1024)
        o.priority = try r.int("priority", min: -1000, max: 1000)
        o.timeout = try r.duration("timeout")
        o.memoryLimit = try r.byteSize("memory_limit", min: 64 << 20)
        o.cpuLimit = try r.duration("cpu_limit")
        o.maxAttempts = try r.int("max_attempts", min: 1, max: 1000)
        if let timeout = o.timeout, timeout <= .zero { throw r.fail("timeout", "must be positive") }
        if let cpu = o.cpuLimit, cpu < .seconds(1) { throw r.fail("cpu_limit", "must be at least 1s") }
        if let kind, let names = try r.strings("automatic") {
            guard !kind.automaticFor.isEmpty else {
                throw r.fail("automatic", "\(kind.name) is not a kind a collection asks for (rendition is)")
            }
            for name in names where name.isEmpty || name.hasPrefix(".") || name.contains("/") {
                throw r.fail("automatic", "names collections (folders under inbox/), not '\(name)'")
            }
            o.automatic = names
        }
        if let kind, let p = try r.table("parameters") {
            o.parameters = try kind.resolve(try Self.given(p, kind: kind))
        }
        if let kind, let table = try r.table("collections") {
            for name in table.keys {
                guard let p = try table.table(name) else { continue }
                let given = try Self.given(p, kind: kind)
                // Checked as the kind's parameters; kept as given (the rest falls through).
                _ = try kind.resolve(given)
                var checked: JobParameters = [:]
                for (key, value) in given { checked[key] = try kind.parameters.first { $0.name == key }!.check(value) }
                o.collections[name] = checked
            }
        }
        return o
    }

    /// A parameters table's values, each checked against the kind's parameter of its name.
    static func given(_ p: TableReader, kind: JobKind) throws -> JobParameters {
        var given: JobParameters = [:]
        for name in p.keys {
            switch try p.scalar(name) {
            case .int(let v)?: given[name] = .int(v)
            case .double(let v)?: given[name] = .double(v)
            case .bool(let v)?: given[name] = .bool(v)
            case .string(let v)?: given[name] = .string(v)
            case nil: break
            }
        }
        do {
            _ = try kind.resolve(given)
        } catch let error as JobQueueError {
            throw p.fail(error.description)
        }
        return given
    }
}
