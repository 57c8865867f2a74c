import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// `CatalogDatabase.clusterLock`: one holder at a time among the processes of one database,
/// and a holder whose session ends loses it to the next.
@Suite struct ClusterLockTests {
    /// On PostgreSQL two handles (as two nodes open them) contend: one holds, the other waits
    /// until it is released or its session ends; asking again while holding keeps it.
    @Test func oneHandleAtATimeHoldsThePostgresLockAndALostSessionHandsItOver() throws {
        let dir = TemporaryDirectory()
        let a = try CatalogBackend.postgres.make(in: dir, migrations: [])
        let b = try #require(try CatalogBackend.postgres.reopen(a))
        let lockA = a.clusterLock(named: "event-dispatch"), lockB = b.clusterLock(named: "event-dispatch")
        #expect(lockA.hold())
        #expect(!lockB.hold())
        #expect(lockA.hold(), "asking again while holding keeps it")
        #expect(!lockB.hold())
        // Another name is another lock.
        let other = b.clusterLock(named: "something-else")
        #expect(other.hold())
        other.release()

        lockA.release()
        #expect(lockB.hold())
        #expect(!lockA.hold())

        // The holder's session ends (its process died, the server restarted): the holder
        // hears of it at its next check, and the other takes the lock.
        let pid = try #require((lockB as? PostgresSessionLock)?.backendPID)
        try a.write { tx in try tx.query("SELECT pg_terminate_backend(CAST(? AS INTEGER))", [.integer(pid)]) }
        #expect(waitUntil(seconds: 10) { lockA.hold() })
        #expect(!lockB.hold())
        lockA.release()
        #expect(lockB.hold(), "a holder that lost its session takes the lock again once it is free")
        lockB.release()
    }

    /// A silent holder (its machine froze: no process exit, no closed socket) is ended by the
    /// server's idle_session_timeout, and the lock goes to the next.
    @Test func aSilentHolderLosesTheLockAfterItsSessionTimeout() throws {
        let dir = TemporaryDirectory()
        let a = try #require(try CatalogBackend.postgres.make(in: dir, migrations: []) as? PostgresDatabase)
        let b = try #require(try CatalogBackend.postgres.reopen(a))
        let silent = a.clusterLock(named: "event-dispatch", sessionTimeout: .seconds(1))
        let next = b.clusterLock(named: "event-dispatch")
        #expect(silent.hold())
        #expect(!next.hold())
        #expect(waitUntil(seconds: 10) { next.hold() })
        #expect(!silent.hold())
        next.release()
    }

    /// A SQLite catalog is one root's, and its daemon the only one (serve.lock): always held.
    @Test func theSQLiteLockIsAlwaysHeld() throws {
        let dir = TemporaryDirectory()
        let a = try CatalogBackend.sqliteFile.make(in: dir, migrations: [])
        let b = try #require(try CatalogBackend.sqliteFile.reopen(a))
        #expect(a.clusterLock(named: "event-dispatch").hold())
        #expect(b.clusterLock(named: "event-dispatch").hold())
    }

    @Test func theKeyIsStableAcrossBuilds() {
        // FNV-1a 64 of "depot:event-dispatch", fixed: a node of another build must contend for
        // the same key.
        #expect(PostgresSessionLock.key(for: "a") == Int64(bitPattern: 0xaf63_dc4c_8601_ec8c))
        #expect(PostgresSessionLock.key(for: "depot:event-dispatch") != PostgresSessionLock.key(for: "depot:other"))
    }
}
