import DepotCore
import DepotStore
import Foundation
import Logging
import Synchronization

/// What a `depot serve` runs. One binary, several roles (DESIGN.md, "Past one machine"):
/// `ingest` watches this node's inbox and takes files in, `worker` runs the job runner (and
/// the background work that follows: event dispatch, retention, scrub, analytics), `http`
/// serves links, uploads, the API and /metrics. `all` is the three, as on one machine.
enum NodeRole: String, CaseIterable, Sendable, Comparable {
    case ingest, worker, http

    static func < (a: NodeRole, b: NodeRole) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// "all", or a comma-separated list of roles ("worker,http"); nil when it is neither.
    static func parse(_ text: String) -> Set<NodeRole>? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "all" { return Set(allCases) }
        var roles = Set<NodeRole>()
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            guard let role = NodeRole(rawValue: part.trimmingCharacters(in: .whitespaces)) else { return nil }
            roles.insert(role)
        }
        return roles.isEmpty ? nil : roles
    }

    /// The name a set of roles is shown and registered by: "all" for the three.
    static func describe(_ roles: Set<NodeRole>) -> String {
        roles.count == allCases.count ? "all" : roles.sorted().map(\.rawValue).joined(separator: ",")
    }
}

/// `[node]`: who this `depot serve` is among the nodes sharing one catalog.
struct NodeSettings: ConfigSection {
    static let key = "node"
    /// The node's id in status and metrics; "" (the default): `<host name>:<root>`, which is
    /// unique as long as each machine runs one daemon per root (the root's lock sees to that).
    var id: String = ""
    /// What it runs: "all" (the default), or roles among ingest, worker and http.
    var roles: Set<NodeRole> = Set(NodeRole.allCases)
    /// How often it tells the catalog it is alive; after `Nodes.missedHeartbeats` of these
    /// without a word it is shown as down.
    var heartbeat: Duration = .seconds(5)

    init() {}

    init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["id", "role", "heartbeat"])
        if let v = try r.string("id") {
            guard v.count <= 200, !v.contains(where: { $0.isNewline || $0 == "\"" || $0 == "\\" }) else {
                throw r.fail("id", "must be at most 200 characters without quotes, backslashes or line breaks")
            }
            id = v
        }
        if let v = try r.string("role") {
            guard let roles = NodeRole.parse(v) else {
                throw r.fail("role", "must be \"all\" or a comma-separated list of ingest, worker and http")
            }
            self.roles = roles
        }
        if let v = try r.duration("heartbeat") { heartbeat = v }
        guard heartbeat >= .milliseconds(100), heartbeat <= .seconds(3600) else {
            throw r.fail("heartbeat", "must be from 100ms to 1h")
        }
    }

    /// The id this node registers with: the configured one, or `<host name>:<root>`.
    func nodeID(root: String) -> String {
        id.isEmpty ? Nodes.hostName + ":" + root : id
    }
}

extension DepotConfig {
    var node: NodeSettings { self[NodeSettings.self] }
}

/// The node's row in the catalog's `nodes` table: registered at start, a heartbeat every
/// `[node] heartbeat` with the jobs this node is running, "stopped" at a clean end. Its own
/// database connection, so that a heartbeat never queues behind the ingest or the runner.
///
/// `@unchecked Sendable`: `stopRequested` is guarded by `condition`; the rest is immutable.
final class NodeHeartbeat: @unchecked Sendable {
    let identity: NodeIdentity
    private let database: any CatalogDatabase
    private let jobsRunning: @Sendable () -> Int
    private let logger: Logger
    private let condition = NSCondition()
    private var stopRequested = false

    /// Registers the node.
    /// - Throws: `NodeConflict` when a node with this id is up on another host.
    init(identity: NodeIdentity, database: any CatalogDatabase, jobsRunning: @escaping @Sendable () -> Int, logger: Logger) throws {
        self.identity = identity
        self.database = database
        self.jobsRunning = jobsRunning
        self.logger = logger
        try database.write { tx in try Nodes.register(identity, in: tx) }
    }

    func run() {
        var failing = false
        while true {
            let stop = condition.withLock { () -> Bool in
                if !stopRequested {
                    _ = condition.wait(until: Date().addingTimeInterval(Double(identity.heartbeat.nanosecondsValue) / 1e9))
                }
                return stopRequested
            }
            if stop { break }
            do {
                let ours = try database.write { tx in try Nodes.heartbeat(identity, jobsRunning: jobsRunning(), in: tx) }
                if !ours {
                    // Another process took this id (a second node configured alike): say so
                    // loudly, and take the row back so that this node does not vanish.
                    logger.error("another process registered this node's id; registering again",
                                 metadata: ["node": "\(identity.id)"])
                    try database.write { tx in try Nodes.register(identity, in: tx) }
                }
                if failing { logger.notice("node heartbeat recorded again", metadata: ["node": "\(identity.id)"]) }
                failing = false
            } catch {
                if !failing { logger.error("cannot record the node's heartbeat", metadata: ["node": "\(identity.id)", "error": "\(error)"]) }
                failing = true
            }
        }
        do {
            try database.write { tx in try Nodes.stopped(identity, in: tx) }
        } catch {
            logger.error("cannot record that the node stopped", metadata: ["node": "\(identity.id)", "error": "\(error)"])
        }
    }

    func stop() {
        condition.withLock {
            stopRequested = true
            condition.broadcast()
        }
    }
}
