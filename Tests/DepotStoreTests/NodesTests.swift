import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// The `nodes` table on each catalog backend: registration, heartbeats, a clean stop, and a
/// node that stops answering shown as down — never removed behind anyone's back.
@Suite struct NodesTests {
    static func identity(_ id: String, host: String = "box-a", pid: Int = 4242, started: Int64 = 1_000,
                         heartbeat: Duration = .seconds(5)) -> NodeIdentity {
        NodeIdentity(id: id, role: "worker", host: host, pid: pid, startedAt: Timestamp(nanoseconds: started), heartbeat: heartbeat)
    }

    @Test(arguments: CatalogBackend.allCases)
    func aNodeRegistersHeartbeatsAndStops(_ backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let database = try backend.make(in: dir, migrations: Catalog.migrations)
        let catalog = Catalog(database: database)
        let worker = Self.identity("box-a:/srv/depot")
        try database.write { tx in try Nodes.register(worker, in: tx) }
        var nodes = try catalog.nodes()
        #expect(nodes.map(\.id) == ["box-a:/srv/depot"])
        #expect(nodes.first?.state == .up)
        #expect(nodes.first?.role == "worker")
        #expect(nodes.first?.host == "box-a")
        #expect(nodes.first?.pid == 4242)
        #expect(nodes.first?.jobsRunning == 0)
        #expect(nodes.first?.heartbeatSeconds == 5)

        #expect(try database.write { tx in try Nodes.heartbeat(worker, jobsRunning: 3, in: tx) })
        nodes = try catalog.nodes()
        #expect(nodes.first?.jobsRunning == 3)
        #expect((nodes.first?.lastSeenSeconds ?? 99) < 5)

        try database.write { tx in try Nodes.stopped(worker, in: tx) }
        nodes = try catalog.nodes()
        #expect(nodes.first?.state == .stopped)
        #expect(nodes.first?.stoppedAt != nil)
        #expect(nodes.first?.jobsRunning == 0)

        // A restart of the same node takes its row again, up.
        let restarted = Self.identity("box-a:/srv/depot", pid: 4343, started: 2_000)
        try database.write { tx in try Nodes.register(restarted, in: tx) }
        nodes = try catalog.nodes()
        #expect(nodes.count == 1)
        #expect(nodes.first?.state == .up)
        #expect(nodes.first?.pid == 4343)
        #expect(nodes.first?.stoppedAt == nil)
        // The old process's heartbeat no longer lands on the row.
        #expect(try database.write { tx in try Nodes.heartbeat(worker, jobsRunning: 1, in: tx) } == false)
        #expect(try catalog.nodes().first?.pid == 4343)
    }

    /// Not seen for three heartbeats: down, with its row kept; seen again: up.
    @Test(arguments: CatalogBackend.allCases)
    func aNodeNotSeenForThreeHeartbeatsIsDownAndStaysListed(_ backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let database = try backend.make(in: dir, migrations: Catalog.migrations)
        let node = Self.identity("box-b:/srv/depot", heartbeat: .seconds(2))
        try database.write { tx in try Nodes.register(node, in: tx) }
        let now = wallClockNanoseconds()
        let soon = try database.read { tx in try Nodes.list(now: now + 5_000_000_000, in: tx) }
        #expect(soon.first?.state == .up)
        let later = try database.read { tx in try Nodes.list(now: now + 7_000_000_000, in: tx) }
        #expect(later.first?.state == .down)
        #expect((later.first?.lastSeenSeconds ?? 0) >= 6.9)
        #expect(later.map(\.id) == ["box-b:/srv/depot"])
    }

    /// Two machines configured with one id would hide each other: the second is refused while
    /// the first is up, and may take the id once the first is down or stopped.
    @Test(arguments: CatalogBackend.allCases)
    func anIdUpOnAnotherHostIsRefused(_ backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let database = try backend.make(in: dir, migrations: Catalog.migrations)
        let first = Self.identity("ingest-1", host: "box-a")
        try database.write { tx in try Nodes.register(first, in: tx) }
        let second = Self.identity("ingest-1", host: "box-b", pid: 7)
        let refused = #expect(throws: NodeConflict.self) {
            try database.write { tx in try Nodes.register(second, in: tx) }
        }
        #expect(refused?.host == "box-a")
        #expect(refused?.description.contains("[node] id") == true)
        #expect(try Catalog(database: database).nodes().first?.host == "box-a")

        // Forgetting a node that is up is refused too; a stopped one goes.
        let forget = #expect(throws: CatalogError.self) { try database.write { tx in try Nodes.forget(id: "ingest-1", in: tx) } }
        #expect(forget?.value == .constraint)
        try database.write { tx in try Nodes.stopped(first, in: tx) }
        try database.write { tx in try Nodes.register(second, in: tx) }
        #expect(try Catalog(database: database).nodes().first?.host == "box-b")
        try database.write { tx in try Nodes.stopped(second, in: tx) }
        #expect(try database.write { tx in try Nodes.forget(id: "ingest-1", in: tx) })
        #expect(try Catalog(database: database).nodes().isEmpty)
        #expect(try database.write { tx in try Nodes.forget(id: "ingest-1", in: tx) } == false)
    }
}
