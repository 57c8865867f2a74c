import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// `notify` in a transaction wakes `wakeups` waiters of the same database once it commits,
/// from another handle (on PostgreSQL through the server's NOTIFY), and never for a rollback.
@Suite struct WakeupsTests {
    @Test(arguments: [CatalogBackend.sqliteFile, .postgres])
    func aCommittedNotifyWakesAnotherHandleAndARollbackDoesNot(_ backend: CatalogBackend) throws {
        let dir = TemporaryDirectory()
        let writer = try backend.make(in: dir, migrations: [])
        let waiter = try #require(try backend.reopen(writer))
        let signal = waiter.wakeups("test_ready")
        // The listener says once that it listens; after that only commits tick.
        if backend == .postgres { #expect(waitUntil(seconds: 10) { signal.current > 0 }) }
        let seen = signal.current

        struct Rollback: Error {}
        _ = try? writer.write { tx -> Void in
            try tx.notify("test_ready")
            throw Rollback()
        }
        #expect(signal.wait(after: seen, timeout: .milliseconds(700)) == seen, "a rolled-back notify woke a waiter")

        let start = Date()
        try writer.write { tx in try tx.notify("test_ready") }
        let after = signal.wait(after: seen, timeout: .seconds(10))
        #expect(after > seen && Date().timeIntervalSince(start) < 3, "no wake within 3 s of the commit")
        #expect(throws: CatalogError.self) { try writer.write { tx in try tx.notify("Not A Channel") } }
    }
}
