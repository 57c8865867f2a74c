import DepotCore
import DepotQueue
import DepotStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the daemon says about itself for `depot status`: written to state/daemon-status.json
/// every few seconds while it runs (a stale file means it stopped answering).
public struct DaemonState: Codable, Sendable, Equatable {
    public var running: Bool
    @Nullable public var pid: Int?
    @Nullable public var startedAt: Timestamp?
    @Nullable public var updatedAt: Timestamp?
    /// The watcher's one-line status ("watching 3 folders, 0 files pending, 12 stored").
    @Nullable public var watcher: String?
    @Nullable public var watcherRunning: Bool?
    /// This daemon's node id and roles ("all", "ingest", "worker,http"); nodes of the catalog
    /// are in `StatusRecord.nodes`.
    @Nullable public var node: String?
    @Nullable public var role: String?

    public init(running: Bool, pid: Int? = nil, startedAt: Timestamp? = nil, updatedAt: Timestamp? = nil, watcher: String? = nil,
                watcherRunning: Bool? = nil, node: String? = nil, role: String? = nil) {
        self.running = running
        self.pid = pid
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.watcher = watcher
        self.watcherRunning = watcherRunning
        self.node = node
        self.role = role
    }

    enum CodingKeys: String, CodingKey {
        case running, pid, watcher, node, role
        case startedAt = "started_at", updatedAt = "updated_at", watcherRunning = "watcher_running"
    }

    /// Writes the file atomically (temp file, rename).
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(self)
        let temp = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: temp))
        guard rename(temp, path) == 0 else { throw SystemError(call: "rename", errno: errno, path: path) }
    }

    /// The file's state, nil when there is none or it cannot be read.
    public static func read(from path: String) -> DaemonState? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(DaemonState.self, from: data)
    }
}

/// `depot status` and `GET /api/v1/status`: one screen of how the appliance is.
public struct StatusRecord: Codable, Sendable, Equatable {
    public struct Queue: Codable, Sendable, Equatable {
        /// Jobs per state, every state present.
        public var states: [String: Int]
        @Nullable public var oldestWaitingSince: Timestamp?
        @Nullable public var oldestWaitSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case states
            case oldestWaitingSince = "oldest_waiting_since", oldestWaitSeconds = "oldest_wait_seconds"
        }
    }

    public struct Worker: Codable, Sendable, Equatable {
        public var jobID: Int64
        public var kind: String
        @Nullable public var document: String?
        public var mediaType: String
        @Nullable public var startedAt: Timestamp?
        public var progress: Int
        @Nullable public var leaseOwner: String?

        enum CodingKeys: String, CodingKey {
            case kind, document, progress
            case jobID = "job_id", mediaType = "media_type", startedAt = "started_at", leaseOwner = "lease_owner"
        }
    }

    public struct Failure: Codable, Sendable, Equatable {
        public var jobID: Int64
        public var kind: String
        public var state: String
        @Nullable public var document: String?
        public var error: String
        public var at: Timestamp

        enum CodingKeys: String, CodingKey {
            case kind, state, document, error, at
            case jobID = "job_id"
        }
    }

    public struct Storage: Codable, Sendable, Equatable {
        public var documents: Int
        public var versions: Int
        public var logicalBytes: Int64
        public var storedBytes: Int64
        public var dedupRatio: Double
        @Nullable public var freeBytes: Int64?

        enum CodingKeys: String, CodingKey {
            case documents, versions
            case logicalBytes = "logical_bytes", storedBytes = "stored_bytes", dedupRatio = "dedup_ratio", freeBytes = "free_bytes"
        }
    }

    public var daemon: DaemonState
    /// Every node that registered in the catalog (one on a single machine), by id, with its
    /// state: up, down (not seen for a while) or stopped.
    public var nodes: [NodeStatus]
    public var queue: Queue
    public var workers: [Worker]
    public var lastErrors: [Failure]
    public var storage: Storage
    /// The scrub's progress (`ScrubProgress.summary`: the pass, how far it is, what it found);
    /// null before its first slice.
    @Nullable public var scrub: String?
    public var at: Timestamp

    enum CodingKeys: String, CodingKey {
        case daemon, nodes, queue, workers, storage, scrub, at
        case lastErrors = "last_errors"
    }

    /// Reads it all: the queue's and the catalog's figures, the store's free space, with what
    /// is known of the daemon.
    public static func build(queue: JobQueue, store: (any BlobStore)?, daemon: DaemonState, errors: Int = 5) throws -> StatusRecord {
        let now = wallClockNanoseconds()
        let counts = try queue.counts()
        let oldest = try queue.oldestWaitingNanoseconds()
        let running = try queue.running()
        let failures = try queue.recentFailures(limit: errors)
        let records = try queue.records(running + failures)
        func document(_ id: Int64) -> String? {
            records.first { $0.id == id }.flatMap { r in r.collection.flatMap { c in r.path.map { c + "/" + $0 } } }
        }
        let totals = try queue.catalog.stats()
        return StatusRecord(
            daemon: daemon,
            nodes: try queue.catalog.nodes(),
            queue: Queue(states: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }),
                         oldestWaitingSince: oldest.map(Timestamp.init(nanoseconds:)),
                         oldestWaitSeconds: oldest.map { Double(max(0, now - $0)) / 1e9 }),
            workers: running.map { Worker(jobID: $0.id, kind: $0.kind, document: document($0.id), mediaType: $0.mediaType,
                                          startedAt: $0.startedAtNanoseconds.map(Timestamp.init(nanoseconds:)),
                                          progress: $0.progress, leaseOwner: $0.leaseOwner) },
            lastErrors: failures.map { Failure(jobID: $0.id, kind: $0.kind, state: $0.state.rawValue, document: document($0.id),
                                               error: $0.lastError ?? "", at: Timestamp(nanoseconds: $0.updatedAtNanoseconds)) },
            storage: Storage(documents: totals.documents, versions: totals.versions, logicalBytes: totals.logicalBytes,
                             storedBytes: totals.storedBytes,
                             dedupRatio: totals.storedBytes > 0 ? Double(totals.logicalBytes) / Double(totals.storedBytes) : 1,
                             freeBytes: store?.freeBytes()),
            scrub: try queue.catalog.scrubProgress()?.summary, at: Timestamp(nanoseconds: now))
    }

    /// The screen `depot status` prints.
    public var text: String {
        var lines: [String] = []
        if daemon.running {
            lines.append("daemon    running" + (daemon.pid.map { " (pid \($0))" } ?? "")
                         + (daemon.startedAt.map { ", since \($0)" } ?? "")
                         + (daemon.role.map { ", role \($0)" } ?? ""))
        } else {
            lines.append("daemon    not running")
        }
        let watcherText: String
        if let watcher = daemon.watcher {
            watcherText = (daemon.watcherRunning == false ? "stopped: " : "") + watcher
        } else if let role = daemon.role {
            watcherText = "none on this node (role \(role))"
        } else {
            watcherText = "unknown (no daemon)"
        }
        lines.append("watcher   " + watcherText)
        lines.append("nodes     " + (nodes.isEmpty ? "none registered" : "\(nodes.count): "
                     + "\(nodes.filter { $0.state == .up }.count) up, \(nodes.filter { $0.state == .down }.count) down, "
                     + "\(nodes.filter { $0.state == .stopped }.count) stopped"))
        for node in nodes {
            let seen = node.state == .up ? "seen \(describeSeconds(node.lastSeenSeconds)) ago"
                : "last seen \(describeSeconds(node.lastSeenSeconds)) ago"
            lines.append("          \(node.id) (\(node.role)) \(node.state.rawValue), \(seen), pid \(node.pid) on \(node.host), "
                         + "\(node.jobsRunning) jobs running")
        }
        let order = JobState.allCases.map(\.rawValue)
        let states = order.compactMap { s in queue.states[s].map { "\(s) \($0)" } }.joined(separator: ", ")
        lines.append("queue     " + states)
        if let wait = queue.oldestWaitSeconds {
            lines.append("          oldest waiting job queued \(describeSeconds(wait)) ago")
        }
        lines.append("workers   \(workers.count) running" + (workers.isEmpty ? "" : ":"))
        for w in workers {
            lines.append("          job \(w.jobID) \(w.kind) \(w.document ?? "?") \(w.progress)%")
        }
        lines.append("storage   \(storage.documents) documents, \(storage.versions) versions, "
                     + "\(describeBytes(storage.logicalBytes)) logical, \(describeBytes(storage.storedBytes)) stored"
                     + " (dedup \((storage.dedupRatio * 100).rounded() / 100)×)")
        lines.append("free      " + (storage.freeBytes.map(describeBytes) ?? "unknown"))
        lines.append("scrub     " + (scrub ?? "no scrub has run"))
        if lastErrors.isEmpty {
            lines.append("errors    none")
        } else {
            lines.append("errors    last \(lastErrors.count):")
            for f in lastErrors {
                lines.append("          \(f.at) job \(f.jobID) \(f.kind) \(f.state) \(f.document ?? "?"): \(f.error.prefix(160))")
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// "3 s", "5 min", "2.5 h", "4 days".
public func describeSeconds(_ s: Double) -> String {
    if s < 90 { return "\(Int(s.rounded())) s" }
    if s < 5400 { return "\(Int((s / 60).rounded())) min" }
    if s < 172_800 { return "\((s / 360).rounded() / 10) h" }
    return "\(Int((s / 86400).rounded())) days"
}
