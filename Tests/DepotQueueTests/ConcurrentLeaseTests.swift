import DepotCore
@testable import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Synchronization
import Testing

/// Workers of two "nodes" (two databases opened on one catalog, each with its own connections)
/// leasing from one queue at the same time: every job is taken exactly once.
@Suite struct ConcurrentLeaseContract {
    @Test(arguments: [CatalogBackend.sqliteFile, .postgres])
    func workersOnTwoConnectionsNeverTakeOneJobTwice(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend)
        let count = 60
        for i in 0..<count { try f.add("n\(i).txt", "note \(i)", type: "text/plain") }
        let other = try #require(try backend.reopen(f.catalog.database))
        let queues = [f.queue, JobQueue(catalog: Catalog(database: other), settings: JobsSettings())]
        let taken = Mutex<[Int64]>([])
        let failures = Mutex<[String]>([])
        let threads = 4
        let done = DispatchGroup()
        for t in 0..<threads {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                let queue = queues[t % 2]
                do {
                    while let job = try queue.lease(owner: "w\(t)") { taken.withLock { $0.append(job.id) } }
                } catch {
                    failures.withLock { $0.append("worker \(t): \(error)") }
                }
            }
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        #expect(failures.withLock { $0 } == [])
        let ids = taken.withLock { $0 }
        #expect(ids.count == count)
        #expect(Set(ids).count == count)
        let jobs = try f.queue.jobs(state: .running)
        #expect(jobs.count == count)
        #expect(jobs.allSatisfy { $0.attempts == 1 })
    }
}
