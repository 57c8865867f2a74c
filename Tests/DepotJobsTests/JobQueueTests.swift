import DepotCore
@testable import DepotJobs
import DepotProcess
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// A catalog with the job table in a temp root, and a store for the blobs.
final class QueueFixture {
    let dir = TemporaryDirectory()
    let catalog: SQLiteCatalog
    let store: LocalBlobStore
    let queue: JobQueue
    var settings: JobsSettings

    init(settings: JobsSettings = JobsSettings()) throws {
        self.settings = settings
        let layout = RootLayout(root: dir.path)
        try makeDirectories(layout.state)
        store = try LocalBlobStore(layout: layout)
        catalog = try SQLiteCatalog(path: layout.catalog, modules: JobQueue.migrations)
        let store = self.store
        JobQueue.enqueueOnNewVersions(of: catalog, blobPath: { store.path(of: $0) }, settings: settings)
        queue = JobQueue(catalog: catalog, settings: settings)
    }

    /// Stores `bytes` as collection/path and records the version (which enqueues its job).
    @discardableResult
    func add(_ path: String, _ text: String, collection: String = "notes") throws -> VersionInfo {
        try add(path, bytes: Array(text.utf8), collection: collection)
    }

    @discardableResult
    func add(_ path: String, bytes: [UInt8], collection: String = "notes") throws -> VersionInfo {
        let source = try dir.write("src-\(UUID().uuidString)", bytes)
        let staged = try store.stage(BlobSource(path: source, mayLink: false))
        _ = try store.commit([staged])
        return try catalog.record([IngestRecord(collection: collection, path: path, digest: staged.digest, size: staged.size,
                                                sourceMtimeNanoseconds: 0, origin: "test", tags: [])])[0].version
    }

    func events(_ type: String) throws -> [[String: Any]] {
        try catalog.withConnection { db in try EventLog.events(after: 0, limit: 10_000, in: db) }
            .filter { $0.type == type }
            .map { try JSONSerialization.jsonObject(with: Data($0.dataJSON.utf8)) as! [String: Any] }
    }
}

@Suite struct JobQueueTests {
    @Test func everyNewVersionGetsATypedJobInItsTransaction() throws {
        let f = try QueueFixture()
        let version = try f.add("week1.md", "# Week 1\nForces.\n")
        let jobs = try f.queue.jobs()
        #expect(jobs.count == 1)
        let job = try #require(jobs.first)
        #expect(job.versionID == version.id && job.kind == "process" && job.state == .queued)
        #expect(job.mediaType == "text/markdown" && job.mediaClass == "documents" && job.processor == "depot-text")
        #expect(job.maxAttempts == f.settings.maxAttempts && job.attempts == 0)
        // The same bytes again are no new version and no new job; new bytes are both.
        try f.add("week1.md", "# Week 1\nForces.\n")
        try f.add("week1.md", "# Week 1\nForces and momentum.\n")
        #expect(try f.queue.jobs().count == 2)
        // A failing hook rolls the version back with its job: nothing half-written.
        f.catalog.onVersionCreated { _, _ in throw JobsTestFailure("refused") }
        #expect(throws: (any Error).self) { try f.add("other.md", "x") }
        #expect(try f.queue.jobs().count == 2)
        #expect(try f.catalog.currentVersion(collection: "notes", path: "other.md") == nil)
    }

    @Test func leaseTakesTheHighestPriorityThenTheOldestOfItsClass() throws {
        let f = try QueueFixture()
        try f.add("a.txt", "a")
        try f.add("b.txt", "b")
        try f.add("c.bin", bytes: [0x50, 0x4B, 0x05, 0x06] + [UInt8](repeating: 0, count: 18))  // an empty zip: "other"
        try f.catalog.withConnection { db in _ = try db.query("UPDATE jobs SET priority = 5 WHERE id = 2") }
        let first = try #require(try f.queue.lease(mediaClass: "documents", owner: "o1"))
        #expect(first.id == 2 && first.state == .running && first.attempts == 1 && first.leaseOwner == "o1")
        #expect((first.leaseExpiresNanoseconds ?? 0) > wallClockNanoseconds())
        #expect(try f.queue.lease(mediaClass: "documents", owner: "o1")?.id == 1)
        #expect(try f.queue.lease(mediaClass: "documents", owner: "o1") == nil)
        #expect(try f.queue.lease(mediaClass: "other", owner: "o1")?.id == 3)
    }

    @Test func failedJobsBackOffThenDieWithEvents() throws {
        var settings = JobsSettings()
        settings.maxAttempts = 3
        settings.retryInitial = .milliseconds(200)
        settings.retryMax = .seconds(10)
        let f = try QueueFixture(settings: settings)
        try f.add("a.md", "# A")
        var job = try #require(try f.queue.lease(mediaClass: "documents", owner: "o"))
        let before = wallClockNanoseconds()
        #expect(try f.queue.fail(job, owner: "o", reason: "killed by SIGSEGV") == .failed)
        var row = try #require(try f.queue.job(id: job.id))
        #expect(row.state == .failed && row.lastError == "killed by SIGSEGV")
        // Equal jitter: between half and all of retry_initial for the first retry.
        #expect(row.runAfterNanoseconds >= before + 100_000_000 && row.runAfterNanoseconds <= wallClockNanoseconds() + 200_000_000)
        #expect(try f.queue.lease(mediaClass: "documents", owner: "o") == nil)  // not before its time
        // Someone else's failure report is ignored.
        #expect(try f.queue.fail(job, owner: "other", reason: "x") == nil)
        usleep(220_000)
        job = try #require(try f.queue.lease(mediaClass: "documents", owner: "o"))
        #expect(job.attempts == 2)
        #expect(try f.queue.fail(job, owner: "o", reason: "timed out after 1s") == .failed)
        try f.catalog.withConnection { db in _ = try db.query("UPDATE jobs SET run_after_ns = 0") }
        job = try #require(try f.queue.lease(mediaClass: "documents", owner: "o"))
        #expect(try f.queue.fail(job, owner: "o", reason: "out of memory (address-space limit 512 MiB)") == .dead)
        row = try #require(try f.queue.job(id: job.id))
        #expect(row.state == .dead && row.attempts == 3 && row.finishedAtNanoseconds != nil)
        let failed = try f.events("job.failed"), dead = try f.events("job.dead")
        #expect(failed.count == 2 && dead.count == 1)
        #expect(failed[0]["reason"] as? String == "killed by SIGSEGV" && failed[0]["attempts"] as? Int == 1 && failed[0]["retry_at"] != nil)
        #expect(dead[0]["reason"] as? String == "out of memory (address-space limit 512 MiB)" && dead[0]["attempts"] as? Int == 3)
        #expect(dead[0]["job_id"] as? Int64 == job.id || dead[0]["job_id"] as? Int == Int(job.id))
        #expect(dead[0]["collection"] as? String == "notes" && dead[0]["path"] as? String == "a.md")
        // retry --dead revives it with its attempts reset.
        #expect(try f.queue.retryDead() == 1)
        row = try #require(try f.queue.job(id: job.id))
        #expect(row.state == .queued && row.attempts == 0)
    }

    @Test func backoffDoublesUpToItsCapWithJitter() throws {
        var settings = JobsSettings()
        settings.retryInitial = .seconds(10)
        settings.retryMax = .seconds(60)
        let queue = try QueueFixture(settings: settings).queue
        for (attempt, full) in [(1, 10), (2, 20), (3, 40), (4, 60), (30, 60), (100, 60)] {
            let samples = (0..<50).map { _ in queue.backoff(attempt: attempt) }
            let ns = Int64(full) * 1_000_000_000
            #expect(samples.allSatisfy { $0 >= ns / 2 && $0 <= ns })
            #expect(Set(samples).count > 1)  // jittered
        }
    }

    @Test func successRecordsArtifactsAndMediaProcessedTogether() throws {
        let f = try QueueFixture()
        let version = try f.add("physics/week1.md", "# W\n")
        let job = try #require(try f.queue.lease(mediaClass: "documents", owner: "o"))
        let source = try f.dir.write("artifact", Array("W\n".utf8))
        let staged = try f.store.stage(BlobSource(path: source, mayLink: false))
        _ = try f.store.commit([staged])
        let artifact = ArtifactInfo(versionID: version.id, kind: "text.txt", mimeType: "text/plain; charset=utf-8",
                                    digest: staged.digest, size: staged.size, producer: "depot-text", producerVersion: "1")
        let completion = JobQueue.Completion(outcome: "processed", processor: "depot-text", processorVersion: "1",
                                             artifacts: [artifact], processingNanoseconds: 1_500_000)
        #expect(try f.queue.succeed(job, owner: "someone-else", completion) == false)
        #expect(try f.catalog.artifacts(versionID: version.id).isEmpty)
        #expect(try f.queue.succeed(job, owner: "o", completion) == true)
        let row = try #require(try f.queue.job(id: job.id))
        #expect(row.state == .succeeded && row.outcome == "processed" && row.progress == 100 && row.outputBytes == 2)
        #expect(try f.catalog.artifacts(versionID: version.id).map(\.kind) == ["text.txt"])
        let event = try #require(try f.events("media.processed").first)
        #expect(event["output"] as? String == "outbox/notes/physics/week1.md/")
        #expect(event["status"] as? String == "processed" && event["media_type"] as? String == "text/markdown")
        #expect(event["processor"] as? String == "depot-text" && event["sha256"] as? String == version.digest.hex)
        let metrics = try #require(event["metrics"] as? [String: Any])
        #expect(metrics["processing_ms"] as? Double == 1.5 && metrics["output_bytes"] as? Int == 2)
        #expect((event["artifacts"] as? [[String: Any]])?.first?["kind"] as? String == "text.txt")
        // The outbox reads the processing status with this query; keep the columns.
        let status = try f.catalog.withConnection { db in
            try db.query("SELECT state, kind, last_error FROM jobs WHERE version_id = ?", [.integer(version.id)])
        }
        #expect(status.first?.text(0) == "succeeded" && status.first?.text(1) == "process")
    }

    @Test func expiredLeasesAndDeadOwnersGiveTheJobBack() throws {
        var settings = JobsSettings()
        settings.lease = .milliseconds(300)
        settings.maxAttempts = 2
        let f = try QueueFixture(settings: settings)
        try f.add("a.md", "# A")
        try f.add("b.md", "# B")
        let a = try #require(try f.queue.lease(mediaClass: "documents", owner: "serve:1:1"))
        let b = try #require(try f.queue.lease(mediaClass: "documents", owner: LeaseOwner.current()))
        // A live owner's fresh lease stays; the owner that is gone loses its job at once.
        #expect(try f.queue.recoverLeases(isAlive: LeaseOwner.isAlive) == [a.id])
        #expect(try f.queue.job(id: a.id)?.state == .queued)
        #expect(try f.queue.job(id: b.id)?.state == .running)
        // Heartbeats keep a lease; without them it runs out.
        usleep(200_000)
        #expect(try f.queue.heartbeat(id: b.id, owner: LeaseOwner.current(), progress: 40, message: "halfway"))
        usleep(200_000)
        #expect(try f.queue.recoverLeases(isAlive: { _ in true }).isEmpty)
        #expect(try f.queue.job(id: b.id)?.progress == 40)
        usleep(350_000)
        #expect(try f.queue.recoverLeases(isAlive: { _ in true }) == [b.id])
        let row = try #require(try f.queue.job(id: b.id))
        #expect(row.state == .queued && row.attempts == 1 && (row.lastError ?? "").contains("lease expired"))
        #expect(try f.queue.heartbeat(id: b.id, owner: LeaseOwner.current()) == false)
        // The last attempt's lease running out makes it dead.
        #expect(try f.queue.lease(mediaClass: "documents", owner: "serve:1:1")?.id == a.id)
        try f.queue.recoverLeases(isAlive: { _ in false })
        #expect(try f.queue.jobs().map(\.state).sorted { $0.rawValue < $1.rawValue } == [.dead, .queued])
    }

    @Test func cancelAndRetryFollowTheStates() throws {
        let f = try QueueFixture()
        try f.add("a.md", "# A")
        let job = try #require(try f.queue.jobs().first)
        #expect(throws: JobQueueError.self) { try f.queue.retry(id: job.id) }  // queued already
        try f.queue.cancel(id: job.id)
        #expect(try f.queue.job(id: job.id)?.state == .cancelled)
        #expect(try f.queue.lease(mediaClass: "documents", owner: "o") == nil)
        #expect(throws: JobQueueError.self) { try f.queue.cancel(id: job.id) }
        try f.queue.retry(id: job.id)
        let leased = try #require(try f.queue.lease(mediaClass: "documents", owner: "o"))
        try f.queue.cancel(id: leased.id)
        // The runner learns at its next heartbeat that the job is no longer its.
        #expect(try f.queue.heartbeat(id: leased.id, owner: "o") == false)
        #expect(throws: JobQueueError.self) { try f.queue.cancel(id: 999) }
    }

    @Test func leaseOwnersNameLiveProcesses() {
        #expect(LeaseOwner.isAlive(LeaseOwner.current()))
        let parts = LeaseOwner.current().split(separator: ":")
        #expect(!LeaseOwner.isAlive("serve:\(parts[1]):\(UInt64(parts[2])! + 1)"))  // a reused pid
        #expect(!LeaseOwner.isAlive("serve:2147483646:5"))
    }
}
