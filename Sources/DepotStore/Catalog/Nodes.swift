import DepotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The `nodes` table: every `depot serve` that uses this catalog registers itself here at
/// start, heartbeats while it runs and says goodbye when it stops, so that `depot status`, the
/// status API and page, and /metrics can show every node of a cluster (issue 18). The store
/// owns the table (and is the only code with SQL for it); `depot serve` calls this API.
///
/// A node is never removed by someone else: one that stopped answering is shown as `down`
/// (not seen for `missedHeartbeats` of its own heartbeat intervals), one that stopped
/// cleanly as `stopped`, until `depot nodes forget` removes it.
public enum Nodes {
    /// "nodes-1": one row per node id.
    public static let migrations: [CatalogMigration] = [
        CatalogMigration(name: "nodes-1", sqlite: """
            CREATE TABLE nodes(
                id TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                started_at_ns INTEGER NOT NULL,
                last_seen_ns INTEGER NOT NULL,
                heartbeat_ns INTEGER NOT NULL,
                jobs_running INTEGER NOT NULL DEFAULT 0,
                stopped_at_ns INTEGER) WITHOUT ROWID;
            """, postgres: """
            CREATE TABLE nodes(
                id TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                host TEXT NOT NULL,
                pid BIGINT NOT NULL,
                started_at_ns BIGINT NOT NULL,
                last_seen_ns BIGINT NOT NULL,
                heartbeat_ns BIGINT NOT NULL,
                jobs_running BIGINT NOT NULL DEFAULT 0,
                stopped_at_ns BIGINT);
            """),
    ]

    /// A node not seen for this many of its heartbeat intervals is down.
    public static let missedHeartbeats: Int64 = 3

    /// This machine's name, as nodes are registered with.
    public static let hostName: String = {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "localhost" }
        let text = String(cString: name)
        return text.isEmpty ? "localhost" : text
    }()

    /// Registers (or re-registers, after a restart) this process as node `identity.id`.
    /// - Throws: `NodeConflict` when a node of that id on another host is up: two machines
    ///   configured with one id would show as one node and hide each other.
    public static func register(_ identity: NodeIdentity, in tx: any CatalogTransaction) throws {
        let now = wallClockNanoseconds()
        if let existing = try list(now: now, in: tx).first(where: { $0.id == identity.id }),
           existing.state == .up, existing.host != identity.host {
            throw NodeConflict(id: identity.id, host: existing.host, pid: existing.pid, lastSeen: existing.lastSeen)
        }
        try tx.execute("""
            INSERT INTO nodes(id, role, host, pid, started_at_ns, last_seen_ns, heartbeat_ns, jobs_running, stopped_at_ns)
            VALUES(?, ?, ?, ?, ?, ?, ?, 0, NULL)
            ON CONFLICT(id) DO UPDATE SET role = excluded.role, host = excluded.host, pid = excluded.pid,
                started_at_ns = excluded.started_at_ns, last_seen_ns = excluded.last_seen_ns,
                heartbeat_ns = excluded.heartbeat_ns, jobs_running = 0, stopped_at_ns = NULL
            """, [.text(identity.id), .text(identity.role), .text(identity.host), .integer(Int64(identity.pid)),
                  .integer(identity.startedAt.nanoseconds), .integer(now), .integer(identity.heartbeat.nanosecondsValue)])
    }

    /// Says this node is alive, running `jobsRunning` jobs; false when the row is no longer
    /// this process's (another process registered the same id since).
    public static func heartbeat(_ identity: NodeIdentity, jobsRunning: Int, in tx: any CatalogTransaction) throws -> Bool {
        try tx.execute("""
            UPDATE nodes SET last_seen_ns = ?, jobs_running = ? WHERE id = ? AND host = ? AND pid = ? AND started_at_ns = ?
            """, [.integer(wallClockNanoseconds()), .integer(Int64(jobsRunning)), .text(identity.id), .text(identity.host),
                  .integer(Int64(identity.pid)), .integer(identity.startedAt.nanoseconds)]) == 1
    }

    /// Records that this node stopped cleanly (it is shown as `stopped`, not `down`).
    public static func stopped(_ identity: NodeIdentity, in tx: any CatalogTransaction) throws {
        let now = wallClockNanoseconds()
        try tx.execute("""
            UPDATE nodes SET last_seen_ns = ?, stopped_at_ns = ?, jobs_running = 0
            WHERE id = ? AND host = ? AND pid = ? AND started_at_ns = ?
            """, [.integer(now), .integer(now), .text(identity.id), .text(identity.host), .integer(Int64(identity.pid)),
                  .integer(identity.startedAt.nanoseconds)])
    }

    /// Removes a node's row; false when there was none. A node that is up is refused: it
    /// would register again at its next start only, and vanish from status meanwhile.
    public static func forget(id: String, in tx: any CatalogTransaction) throws -> Bool {
        if let node = try list(in: tx).first(where: { $0.id == id }), node.state == .up {
            throw CatalogError(.constraint, "node '\(id)' is up (pid \(node.pid) on \(node.host), seen \(node.lastSeen)): stop it first")
        }
        return try tx.execute("DELETE FROM nodes WHERE id = ?", [.text(id)]) == 1
    }

    /// Every node, by id, each with its state as of `now`.
    public static func list(now: Int64 = wallClockNanoseconds(), in tx: any CatalogTransaction) throws -> [NodeStatus] {
        try tx.query("""
            SELECT id, role, host, pid, started_at_ns, last_seen_ns, heartbeat_ns, jobs_running, stopped_at_ns
            FROM nodes ORDER BY id
            """).map { row in
            NodeStatus(id: row.text(0), role: row.text(1), host: row.text(2), pid: Int(row.int(3)),
                       startedAt: Timestamp(nanoseconds: row.int(4)), lastSeen: Timestamp(nanoseconds: row.int(5)),
                       heartbeatNanoseconds: row.int(6), jobsRunning: Int(row.int(7)),
                       stoppedAt: row.optionalInt(8).map(Timestamp.init(nanoseconds:)), now: now)
        }
    }
}

extension Catalog {
    /// Every node that registered in this catalog, with its state now.
    public func nodes() throws -> [NodeStatus] {
        try database.read { tx in try Nodes.list(in: tx) }
    }
}

/// Who a running node is, as it registers: its id and role, and the process behind it.
public struct NodeIdentity: Sendable, Equatable {
    public var id: String
    /// "all", or the roles it runs ("ingest", "worker,http").
    public var role: String
    public var host: String
    public var pid: Int
    public var startedAt: Timestamp
    /// How often it says it is alive.
    public var heartbeat: Duration

    public init(id: String, role: String, host: String = Nodes.hostName, pid: Int = Int(getpid()),
                startedAt: Timestamp = .now, heartbeat: Duration) {
        self.id = id
        self.role = role
        self.host = host
        self.pid = pid
        self.startedAt = startedAt
        self.heartbeat = heartbeat
    }
}

/// One node as status and metrics show it.
public struct NodeStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// Seen within `Nodes.missedHeartbeats` heartbeats.
        case up
        /// Not seen for longer: crashed, hung, or cut off from the catalog.
        case down
        /// Said goodbye when it stopped.
        case stopped
    }

    public var id: String
    public var role: String
    public var host: String
    public var pid: Int
    public var startedAt: Timestamp
    public var lastSeen: Timestamp
    /// Seconds from its last heartbeat to when this was read.
    public var lastSeenSeconds: Double
    public var heartbeatSeconds: Double
    public var jobsRunning: Int
    @Nullable public var stoppedAt: Timestamp?
    public var state: State

    public init(id: String, role: String, host: String, pid: Int, startedAt: Timestamp, lastSeen: Timestamp,
                heartbeatNanoseconds: Int64, jobsRunning: Int, stoppedAt: Timestamp?, now: Int64) {
        self.id = id
        self.role = role
        self.host = host
        self.pid = pid
        self.startedAt = startedAt
        self.lastSeen = lastSeen
        let age = max(0, now - lastSeen.nanoseconds)
        lastSeenSeconds = Double(age) / 1e9
        heartbeatSeconds = Double(heartbeatNanoseconds) / 1e9
        self.jobsRunning = jobsRunning
        self.stoppedAt = stoppedAt
        if stoppedAt != nil {
            state = .stopped
        } else if age > Nodes.missedHeartbeats * max(heartbeatNanoseconds, 1_000_000_000) {
            state = .down
        } else {
            state = .up
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, role, host, pid, state
        case startedAt = "started_at", lastSeen = "last_seen", lastSeenSeconds = "last_seen_seconds"
        case heartbeatSeconds = "heartbeat_seconds", jobsRunning = "jobs_running", stoppedAt = "stopped_at"
    }
}

/// A node id already used by a node that is up on another host.
public struct NodeConflict: Error, CustomStringConvertible, Sendable {
    public var id: String
    public var host: String
    public var pid: Int
    public var lastSeen: Timestamp

    public var description: String {
        "node id '\(id)' is in use by pid \(pid) on \(host) (seen \(lastSeen)); give each node its own [node] id"
    }
}
