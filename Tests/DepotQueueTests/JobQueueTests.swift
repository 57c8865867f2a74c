import DepotCore
@testable import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// The processors a test depot has: extract for everything but "application/x-none",
/// thumbnail for PDF only.
let testChooser: ProcessorChooser = { kind, mediaType in
    switch kind {
    case "extract": return mediaType == "application/x-none" ? nil : "p-extract"
    case "thumbnail": return mediaType == "application/pdf" ? "p-thumb" : nil
    default: return nil
    }
}

/// A queue over a fresh catalog database of one backend, the pipeline attached.
final class QueueFixture {
    let dir = TemporaryDirectory()
    let catalog: Catalog
    let queue: JobQueue

    init(_ backend: CatalogBackend = .sqliteFile, settings: JobsSettings = JobsSettings(), chooser: @escaping ProcessorChooser = testChooser) throws {
        catalog = Catalog(database: try backend.make(in: dir, migrations: Catalog.migrations + JobQueue.migrations))
        queue = JobQueue(catalog: catalog, settings: settings)
        queue.attachPipeline(chooser: chooser)
    }

    /// Records a version of collection/path with these bytes and this detected type.
    @discardableResult
    func add(_ path: String, _ text: String, type: String = "text/markdown", collection: String = "notes") throws -> VersionInfo {
        let bytes = Array(text.utf8)
        return try catalog.record([IngestRecord(collection: collection, path: path, digest: SHA256Hasher.digest(bytes),
                                                size: Int64(bytes.count), sourceMtimeNanoseconds: 0, origin: "test", tags: [],
                                                mediaType: type)])[0].version
    }

    func events(_ type: String) throws -> [[String: Any]] {
        try catalog.events(after: 0, limit: 10_000)
            .filter { $0.type == type }
            .map { try JSONSerialization.jsonObject(with: Data($0.dataJSON.utf8)) as! [String: Any] }
    }

    func job(_ id: Int64) throws -> Job { try #require(try queue.job(id: id)) }

    /// Runs the job to success as a runner would (no artifacts).
    func succeed(_ job: Job, owner: String = "o") throws -> Bool {
        try catalog.database.write { tx in
            try queue.succeed(job, owner: owner, .init(outcome: JobOutcome.processed, processorVersion: "1", artifacts: [],
                                                       processingNanoseconds: 1_000_000), in: tx)
        }
    }

    func lease(owner: String = "o", kinds: Set<String>? = nil, classes: Set<String>? = nil) throws -> Job? {
        try queue.lease(owner: owner, kinds: kinds, mediaClasses: classes)
    }
}

struct QueueTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The queue's contract, run against every catalog backend.
@Suite struct JobQueueContract {
    @Test(arguments: CatalogBackend.allCases)
    func everyNewVersionGetsItsMediaTypesPipelineInItsTransaction(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend)
        let note = try f.add("week1.md", "# Week 1\n")
        let jobs = try f.queue.jobs(ofVersion: note.id)
        #expect(jobs.map(\.kind) == ["extract"])
        let job = try #require(jobs.first)
        #expect(job.state == .queued && job.mediaType == "text/markdown" && job.mediaClass == "documents")
        #expect(job.processor == "p-extract" && job.queuedBy == "pipeline" && job.parameters == ["max_pages": .int(2000)])
        #expect(job.maxAttempts == f.queue.settings.maxAttempts && job.attempts == 0)
        // A PDF gets extract, then a thumbnail that waits for it.
        let pdf = try f.add("a.pdf", "%PDF-", type: "application/pdf")
        let pdfJobs = try f.queue.jobs(ofVersion: pdf.id)
        #expect(pdfJobs.map(\.kind) == ["extract", "thumbnail"])
        #expect(pdfJobs[1].state == .waiting && pdfJobs[1].waitsFor == [pdfJobs[0].id] && pdfJobs[1].priority < pdfJobs[0].priority)
        // The same bytes again are no new version and no new job; new bytes are both.
        try f.add("week1.md", "# Week 1\n")
        try f.add("week1.md", "# Week 1 and 2\n")
        #expect(try f.queue.jobs().count == 4)
        // A failing hook rolls the version back with its jobs: nothing half-written.
        f.catalog.onVersionCreated { _, _ in throw QueueTestFailure("refused") }
        #expect(throws: QueueTestFailure.self) { try f.add("other.md", "x") }
        #expect(try f.queue.jobs().count == 4)
        #expect(try f.catalog.currentVersion(collection: "notes", path: "other.md") == nil)
    }

    @Test(arguments: CatalogBackend.allCases)
    func aTypeNoProcessorHandlesIsUnsupportedWithoutAWorker(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend)
        let v = try f.add("blob.bin", "??", type: "application/x-none")
        let job = try #require(try f.queue.jobs(ofVersion: v.id).first)
        #expect(job.state == .succeeded && job.outcome == JobOutcome.unsupported && job.processor == nil)
        #expect(try f.lease() == nil)
        #expect(try f.queue.status(versionID: v.id) == .unsupported)
        let processed = try f.events("media.processed")
        #expect(processed.count == 1 && processed[0]["status"] as? String == "unsupported")
    }

    @Test(arguments: CatalogBackend.allCases)
    func leaseTakesThePriorityThenTheOldestWithinTheKindsAndClassesWithRoom(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend)
        try f.add("a.txt", "a", type: "text/plain")
        try f.add("b.txt", "b", type: "text/plain")
        try f.add("c.bin", "c", type: "application/zip")  // "other"
        let first = try #require(try f.lease(owner: "o1"))
        #expect(first.id == 1 && first.state == .running && first.attempts == 1 && first.leaseOwner == "o1")
        #expect((first.leaseExpiresNanoseconds ?? 0) > wallClockNanoseconds())
        // Only "other" has room.
        #expect(try f.lease(owner: "o1", classes: ["other"])?.id == 3)
        #expect(try f.lease(owner: "o1", kinds: ["thumbnail"]) == nil)
        #expect(try f.lease(owner: "o1", classes: []) == nil)
        // A person's job runs before background work.
        let person = try f.queue.enqueue(kind: "extract", versionID: 1, queuedBy: "cli", chooser: testChooser)
        #expect(person.priority == JobQueue.personPriority)
        #expect(try f.lease(owner: "o1")?.id == person.id)
        #expect(try f.lease(owner: "o1")?.id == 2)
        #expect(try f.lease(owner: "o1") == nil)
        #expect(try f.queue.status(versionID: 1) == .running)
    }

    @Test(arguments: CatalogBackend.allCases)
    func aJobRunsWhenWhatItWaitsForSucceeds(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend)
        let v = try f.add("a.pdf", "%PDF-1", type: "application/pdf")
        #expect(try f.queue.status(versionID: v.id) == .queued)
        let extract = try #require(try f.lease())
        #expect(extract.kind == "extract")
        #expect(try f.lease() == nil)  // the thumbnail still waits
        #expect(try f.succeed(extract, owner: "someone-else") == false)
        #expect(try f.succeed(extract))
        let thumbnail = try #require(try f.lease())
        #expect(thumbnail.kind == "thumbnail" && thumbnail.parameters == ["width": .int(320)])
        #expect(try f.events("media.processed").isEmpty)  // not before its last job
        #expect(try f.succeed(thumbnail))
        #expect(try f.queue.status(versionID: v.id) == .succeeded)
        let processed = try f.events("media.processed")
        #expect(processed.count == 1)
        #expect(processed[0]["status"] as? String == "succeeded" && processed[0]["output"] as? String == "outbox/notes/a.pdf/")
        #expect((processed[0]["jobs"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["extract", "thumbnail"])
        let succeeded = try f.events("job.succeeded")
        #expect(succeeded.count == 2 && succeeded[0]["kind"] as? String == "extract" && succeeded[0]["processing_ms"] as? Double == 1)
    }

    @Test(arguments: CatalogBackend.allCases)
    func aPermanentFailureFailsOnceAndSkipsWhatWaitsForIt(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend)
        let v = try f.add("bad.pdf", "%PDF-x", type: "application/pdf")
        let extract = try #require(try f.lease())
        #expect(try f.queue.fail(extract, owner: "o", .permanent("not a readable PDF: damaged xref")) == .failed)
        let failed = try f.job(extract.id)
        #expect(failed.state == .failed && failed.attempts == 1 && failed.lastError == "not a readable PDF: damaged xref")
        let thumbnail = try #require(try f.queue.jobs(ofVersion: v.id).last)
        #expect(thumbnail.state == .skipped)
        #expect(thumbnail.lastError == "job \(extract.id) (extract) failed: not a readable PDF: damaged xref")
        #expect(try f.lease() == nil)
        #expect(try f.events("job.failed").count == 1)
        #expect(try f.events("job.retrying").isEmpty)
        #expect(try f.events("job.dead").isEmpty)
        #expect(try f.events("job.skipped").first?["reason"] as? String == thumbnail.lastError)
        #expect(try f.queue.status(versionID: v.id) == .failed)
        #expect(try f.events("media.processed").first?["status"] as? String == "failed")
    }

    @Test(arguments: CatalogBackend.allCases)
    func aTransientFailureBacksOffThenDies(backend: CatalogBackend) throws {
        var settings = JobsSettings()
        settings.maxAttempts = 3
        settings.retryInitial = .milliseconds(200)
        settings.retryMax = .seconds(10)
        let f = try QueueFixture(backend, settings: settings)
        try f.add("a.md", "# A")
        var job = try #require(try f.lease())
        let before = wallClockNanoseconds()
        #expect(try f.queue.fail(job, owner: "o", .transient("killed by SIGSEGV")) == .retrying)
        var row = try f.job(job.id)
        #expect(row.state == .retrying && row.lastError == "killed by SIGSEGV" && row.finishedAtNanoseconds == nil)
        // Equal jitter: between half and all of retry_initial for the first retry.
        #expect(row.runAfterNanoseconds >= before + 100_000_000 && row.runAfterNanoseconds <= wallClockNanoseconds() + 200_000_000)
        #expect(try f.lease() == nil)  // not before its time
        #expect(try f.queue.status(versionID: job.versionID) == .queued)
        // Someone else's failure report is ignored.
        #expect(try f.queue.fail(job, owner: "other", .transient("x")) == nil)
        usleep(220_000)
        job = try #require(try f.lease())
        #expect(job.attempts == 2)
        #expect(try f.queue.fail(job, owner: "o", .transient("the disk was busy")) == .retrying)
        try f.catalog.database.write { tx in try tx.execute("UPDATE jobs SET run_after_ns = 0") }
        job = try #require(try f.lease())
        #expect(try f.queue.fail(job, owner: "o", .transient("killed by SIGBUS")) == .dead)
        row = try f.job(job.id)
        #expect(row.state == .dead && row.attempts == 3 && row.finishedAtNanoseconds != nil)
        let retrying = try f.events("job.retrying"), dead = try f.events("job.dead")
        #expect(retrying.count == 2 && dead.count == 1)
        #expect(retrying[0]["reason"] as? String == "killed by SIGSEGV" && retrying[0]["attempts"] as? Int == 1 && retrying[0]["retry_at"] != nil)
        #expect(dead[0]["reason"] as? String == "killed by SIGBUS" && dead[0]["attempts"] as? Int == 3 && dead[0]["state"] as? String == "dead")
        #expect(dead[0]["collection"] as? String == "notes" && dead[0]["path"] as? String == "a.md")
        // retry --dead revives it with its attempts reset.
        #expect(try f.queue.retryDead() == 1)
        row = try f.job(job.id)
        #expect(row.state == .queued && row.attempts == 0)
    }

    @Test(arguments: CatalogBackend.allCases)
    func retryBringsBackWhatAJobNeedsAndWhatWasSkippedForIt(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend)
        let v = try f.add("bad.pdf", "%PDF-y", type: "application/pdf")
        let extract = try #require(try f.lease())
        try f.queue.fail(extract, owner: "o", .permanent("damaged"))
        let thumbnailID = try #require(try f.queue.jobs(ofVersion: v.id).last?.id)
        // Retrying the skipped thumbnail retries the failed extract it waits for.
        let retried = try f.queue.retry(id: thumbnailID)
        #expect(retried.state == .waiting && retried.attempts == 0)
        let again = try f.job(extract.id)
        #expect(again.state == .queued && again.attempts == 0 && again.priority == JobQueue.personPriority)
        #expect(try f.queue.status(versionID: v.id) == .queued)
        // Not a job that is queued, nor one that succeeded.
        let conflict = #expect(throws: JobQueueError.self) { try f.queue.retry(id: extract.id) }
        #expect(conflict?.value == .conflict)
        let leased = try #require(try f.lease())
        #expect(try f.succeed(leased))
        let done = #expect(throws: JobQueueError.self) { try f.queue.retry(id: extract.id) }
        #expect(done?.description.contains("queue a new extract job") == true)
        #expect(try f.lease()?.id == thumbnailID)
        #expect(#expect(throws: JobQueueError.self) { try f.queue.retry(id: 999) }?.value == .notFound)
    }

    @Test(arguments: CatalogBackend.allCases)
    func cancelEndsAJobAndSkipsWhatWaitsForIt(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend)
        let v = try f.add("a.pdf", "%PDF-z", type: "application/pdf")
        let jobs = try f.queue.jobs(ofVersion: v.id)
        let cancelled = try f.queue.cancel(id: jobs[0].id)
        #expect(cancelled.state == .cancelled && cancelled.lastError == "cancelled by a person")
        #expect(try f.job(jobs[1].id).state == .skipped)
        #expect(try f.lease() == nil)
        #expect(try f.queue.status(versionID: v.id) == .cancelled)
        #expect(#expect(throws: JobQueueError.self) { try f.queue.cancel(id: jobs[0].id) }?.value == .conflict)
        // A running job: its runner learns at its next heartbeat that it is no longer its.
        try f.queue.retry(id: jobs[0].id)
        let leased = try #require(try f.lease())
        try f.queue.cancel(id: leased.id)
        #expect(try f.queue.heartbeat(id: leased.id, owner: "o") == false)
    }

    @Test(arguments: CatalogBackend.allCases)
    func aPersonQueuesAKindWithTypedParameters(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend)
        let pdf = try f.add("a.pdf", "%PDF-p", type: "application/pdf")
        let note = try f.add("n.md", "# N")
        // It waits for the version's extract, which has not run yet.
        let thumb = try f.queue.enqueue(kind: "thumbnail", versionID: pdf.id, parameters: ["width": .string("640")],
                                        queuedBy: "api", chooser: testChooser)
        #expect(thumb.state == .waiting && thumb.parameters == ["width": .int(640)] && thumb.queuedBy == "api")
        #expect(thumb.waitsFor == [try #require(try f.queue.jobs(ofVersion: pdf.id).first?.id)])
        let low = try f.queue.enqueue(kind: "extract", versionID: note.id, priority: -5, queuedBy: "cli", chooser: testChooser)
        #expect(low.priority == -5 && low.state == .queued)
        func refusal(_ body: () throws -> Job) -> JobQueueError? { #expect(throws: JobQueueError.self) { _ = try body() } }
        #expect(refusal { try f.queue.enqueue(kind: "transcode", versionID: pdf.id, queuedBy: "api", chooser: testChooser) }?
            .description.contains("unknown job kind 'transcode'") == true)
        #expect(refusal { try f.queue.enqueue(kind: "thumbnail", versionID: pdf.id, parameters: ["width": .int(5)],
                                              queuedBy: "api", chooser: testChooser) }?.description == "width must be from 16 to 2048")
        #expect(refusal { try f.queue.enqueue(kind: "thumbnail", versionID: pdf.id, parameters: ["colour": .string("red")],
                                              queuedBy: "api", chooser: testChooser) }?.description.contains("takes no parameter 'colour'") == true)
        #expect(refusal { try f.queue.enqueue(kind: "thumbnail", versionID: note.id, queuedBy: "api", chooser: testChooser) }?
            .description == "no processor does thumbnail for text/markdown")
        #expect(refusal { try f.queue.enqueue(kind: "extract", versionID: 999, queuedBy: "api", chooser: testChooser) }?.value == .notFound)
        #expect(refusal { try f.queue.enqueue(kind: "extract", versionID: note.id, priority: 5000, queuedBy: "api", chooser: testChooser) }?
            .value == .invalid)
        // A dependency that failed is retried first, not silently skipped.
        let extract = try #require(try f.lease(kinds: ["extract"], classes: ["documents"]))
        if extract.versionID == pdf.id {
            try f.queue.fail(extract, owner: "o", .permanent("damaged"))
            #expect(refusal { try f.queue.enqueue(kind: "thumbnail", versionID: pdf.id, queuedBy: "api", chooser: testChooser) }?
                .value == .conflict)
        }
    }

    @Test(arguments: CatalogBackend.allCases)
    func expiredLeasesAndDeadOwnersGiveTheJobBack(backend: CatalogBackend) throws {
        var settings = JobsSettings()
        settings.lease = .milliseconds(300)
        settings.maxAttempts = 2
        let f = try QueueFixture(backend, settings: settings)
        try f.add("a.md", "# A")
        try f.add("b.md", "# B")
        let a = try #require(try f.lease(owner: "serve:1:1"))
        let b = try #require(try f.lease(owner: LeaseOwner.current()))
        // A live owner's fresh lease stays; the owner that is gone loses its job at once.
        #expect(try f.queue.recoverLeases(isAlive: LeaseOwner.isAlive) == [a.id])
        #expect(try f.job(a.id).state == .queued)
        #expect(try f.job(b.id).state == .running)
        // Heartbeats keep a lease; without them it runs out.
        usleep(200_000)
        #expect(try f.queue.heartbeat(id: b.id, owner: LeaseOwner.current(), progress: 40, message: "halfway"))
        usleep(200_000)
        #expect(try f.queue.recoverLeases(isAlive: { _ in true }).isEmpty)
        #expect(try f.job(b.id).progress == 40)
        usleep(350_000)
        #expect(try f.queue.recoverLeases(isAlive: { _ in true }) == [b.id])
        let row = try f.job(b.id)
        #expect(row.state == .queued && row.attempts == 1 && (row.lastError ?? "").contains("lease expired"))
        #expect(try f.queue.heartbeat(id: b.id, owner: LeaseOwner.current()) == false)
        // The last attempt's lease running out makes it dead.
        #expect(try f.lease(owner: "serve:1:1")?.id == a.id)
        try f.queue.recoverLeases(isAlive: { _ in false })
        #expect(try f.queue.jobs().map(\.state).sorted() == [.queued, .dead])
        // A stopping daemon gives its job back without counting the attempt.
        let c = try #require(try f.lease(owner: "o"))
        try f.queue.release(c, owner: "o")
        let released = try f.job(c.id)
        #expect(released.state == .queued && released.attempts == c.attempts - 1)
    }

    @Test(arguments: CatalogBackend.allCases)
    func documentsFilterByTheProcessingStatusTheQueueKeeps(backend: CatalogBackend) throws {
        let f = try QueueFixture(backend)
        let a = try f.add("a.md", "# A")
        let b = try f.add("b.bin", "b", type: "application/x-none")
        _ = try f.catalog.record([IngestRecord(collection: "notes", path: "c.md", digest: SHA256Hasher.digest([1]), size: 1,
                                               sourceMtimeNanoseconds: 0, origin: "test", tags: [])])
        func paths(_ status: ProcessingStatus) throws -> [String] {
            try f.queue.documentRecords(DocumentQuery(currentVersionIn: f.queue.versions(withStatus: status))).map(\.path)
        }
        #expect(try paths(.queued) == ["a.md", "c.md"])
        #expect(try paths(.unsupported) == ["b.bin"])
        #expect(try paths(.succeeded).isEmpty)
        let job = try #require(try f.lease(kinds: ["extract"]))
        #expect(job.versionID == a.id)
        #expect(try f.succeed(job))
        #expect(try paths(.succeeded) == ["a.md"])
        #expect(try f.queue.documentRecords(DocumentQuery()).map(\.processingStatus) == [.succeeded, .unsupported, .queued])
        // Every state is counted, 0 included: one vocabulary for API, CLI and metrics.
        let counts = try f.queue.counts()
        #expect(Set(counts.keys) == Set(JobState.allCases))
        #expect(counts[.succeeded] == 2 && counts[.queued] == 1 && counts[.failed] == 0)
        _ = b
    }

    @Test func processingStatusPrecedence() {
        let s = { (states: [(JobState, String?)]) in ProcessingStatus.of(states.map { (state: $0.0, outcome: $0.1) }) }
        #expect(s([]) == .none)
        #expect(s([(.running, nil), (.failed, nil)]) == .running)
        #expect(s([(.waiting, nil), (.failed, nil), (.succeeded, "processed")]) == .queued)
        #expect(s([(.retrying, nil)]) == .queued)
        #expect(s([(.succeeded, "processed"), (.dead, nil), (.skipped, nil)]) == .failed)
        #expect(s([(.succeeded, "processed"), (.cancelled, nil)]) == .succeeded)
        #expect(s([(.succeeded, "unsupported")]) == .unsupported)
        #expect(s([(.succeeded, "unsupported"), (.succeeded, "processed")]) == .succeeded)
        #expect(s([(.cancelled, nil), (.skipped, nil)]) == .cancelled)
        #expect(s([(.skipped, nil)]) == .none)
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

    @Test func leaseOwnersNameLiveProcesses() {
        #expect(LeaseOwner.isAlive(LeaseOwner.current()))
        let parts = LeaseOwner.current().split(separator: ":")
        #expect(!LeaseOwner.isAlive("serve:\(parts[1]):\(UInt64(parts[2])! + 1)"))  // a reused pid
        #expect(!LeaseOwner.isAlive("serve:2147483646:5"))
        // Another node's process: not visible from here, so alive until its lease runs out.
        #expect(LeaseOwner.isAlive("serve:2147483646:5:\(LeaseOwner.host)-elsewhere"))
        #expect(!LeaseOwner.isAlive("serve:2147483646:5:\(LeaseOwner.host)"))
    }
}
