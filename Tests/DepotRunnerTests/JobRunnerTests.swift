import DepotCore
import DepotProcess
import DepotQueue
@testable import DepotRunner
import DepotStore
import DepotTestSupport
import Foundation
import Logging
import Testing

/// A root with a store, the catalog and the queue, and a runner whose workers are the built
/// `depot-worker` with the test processors.
final class RunnerFixture {
    let dir = TemporaryDirectory()
    let layout: RootLayout
    let store: BlobStore
    let queue: JobQueue
    let runner: JobRunner
    private var thread: Thread?
    static let registry = ProcessorRegistry.standard(testProcessors: true)

    /// - Parameter database: the catalog's database (default: a SQLite file in the root), its
    ///   tables already made.
    init(settings: JobsSettings, store makeStore: (RootLayout) throws -> BlobStore = { try LocalBlobStore(layout: $0) },
         database given: (any CatalogDatabase)? = nil) throws {
        layout = RootLayout(root: dir.path)
        try makeDirectories(layout.state)
        store = try makeStore(layout)
        let database = try given ?? SQLiteDatabase(path: layout.catalog)
        try database.migrate(Catalog.migrations + JobQueue.migrations)
        queue = JobQueue(catalog: Catalog(database: database), settings: settings)
        queue.attachPipeline { kind, mediaType in Self.registry.select(kind: kind, mediaType: mediaType)?.name }
        var environment = ProcessInfo.processInfo.environment
        environment["DEPOT_TEST_PROCESSORS"] = "1"
        runner = JobRunner(queue: queue, store: store, layout: layout,
                           workerCommand: [depotWorkerBinary] + JobRunner.workerArguments(settings),
                           environment: environment, logger: Logger(label: "test.runner"))
    }

    deinit { stop() }

    /// Stores a file, typed as the daemon types it, and records its version (and its jobs).
    @discardableResult
    func add(_ path: String, _ text: String, to queue: JobQueue? = nil) throws -> VersionInfo {
        let queue = queue ?? self.queue
        let source = try dir.write("src-\(UUID().uuidString)", text)
        let staged = try store.stage(BlobSource(path: source, mayLink: false))
        _ = try store.commit([staged])
        let type = TypeDetector.detect(try store.open(staged.digest), name: baseName(path), testMarkers: true)
        return try queue.catalog.record([IngestRecord(collection: "notes", path: path, digest: staged.digest, size: staged.size,
                                                      sourceMtimeNanoseconds: 0, origin: "test", tags: [], mediaType: type)])[0].version
    }

    func start() {
        let runner = self.runner
        let thread = Thread { runner.run() }
        thread.start()
        self.thread = thread
    }

    func stop() {
        guard let thread else { return }
        runner.stop()
        while !thread.isFinished { usleep(10_000) }
        self.thread = nil
    }

    func settled(_ count: Int) throws -> Bool {
        let jobs = try queue.jobs()
        return jobs.count == count && jobs.allSatisfy { $0.state.isFinished }
    }
}

@Suite(.serialized, .tags(.slow), .slowTest) struct JobRunnerTests {
    static func settings(_ change: (inout JobsSettings) -> Void = { _ in }) -> JobsSettings {
        var s = JobsSettings()
        s.maxAttempts = 1
        s.timeout = .seconds(20)
        s.memoryLimit = 1 << 30
        change(&s)
        return s
    }

    /// On PostgreSQL an idle runner sleeps on LISTEN: a job queued by another node (here
    /// another connection pool, queue and pipeline, as a second process opens them) wakes it at
    /// once, though its own poll is a minute away.
    @Test func anIdleRunnerOnPostgresWakesForAJobQueuedElsewhere() throws {
        let cluster = try PostgresCluster.shared()
        let url = cluster.url(database: try cluster.createDatabase())
        let f = try RunnerFixture(settings: Self.settings(), database: try PostgresDatabase(url: url))
        #expect(f.runner.idlePoll == 2_000_000_000, "PostgreSQL's default poll")
        f.runner.idlePoll = 60_000_000_000
        f.start()
        // The slots look once, find nothing and go to sleep (the listener's start wakes them
        // once more).
        Thread.sleep(forTimeInterval: 1.5)
        let other = JobQueue(catalog: Catalog(database: try PostgresDatabase(url: url)), settings: Self.settings())
        other.attachPipeline { kind, mediaType in RunnerFixture.registry.select(kind: kind, mediaType: mediaType)?.name }
        try f.add("wake.txt", "wake up\n", to: other)
        #expect(waitUntil(seconds: 20) { (try? f.queue.jobs().allSatisfy { $0.state.isFinished }) == true })
        let extract = try #require(try f.queue.jobs().first { $0.kind == "extract" })
        #expect(extract.state == .succeeded, "\(extract.lastError ?? "")")
        let pickup = Double((extract.startedAtNanoseconds ?? .max) - extract.createdAtNanoseconds) / 1e9
        #expect(pickup < 3, "picked up \(pickup) s after it was queued")
    }

    /// `[jobs.concurrency]`: with one slot for the class, its jobs never overlap, though two
    /// workers could run.
    @Test func aClassRunsNoMoreJobsAtOnceThanItsSlots() throws {
        let f = try RunnerFixture(settings: Self.settings { $0.workers = 2; $0.concurrency["other"] = 1 })
        for i in 0..<3 { try f.add("s\(i).txt", "DEPOT-TEST-SLEEP 300\n# \(i)\n") }
        f.start()
        #expect(waitUntil(seconds: 30) { (try? f.settled(3)) == true })
        let jobs = try f.queue.jobs(oldestFirst: true)
        #expect(jobs.allSatisfy { $0.state == .succeeded && $0.mediaClass == "other" }, "\(jobs.map(\.lastError))")
        let spans = jobs.map { ($0.startedAtNanoseconds ?? 0, $0.finishedAtNanoseconds ?? 0) }.sorted { $0.0 < $1.0 }
        for (a, b) in zip(spans, spans.dropFirst()) { #expect(a.1 <= b.0, "two jobs of one slot overlapped: \(spans)") }
    }

    /// A kind's memory limit is what its worker gets for that job, below the worker's own.
    @Test func aKindsMemoryLimitIsTheOneItsJobRunsUnder() throws {
        let f = try RunnerFixture(settings: Self.settings {
            var extract = JobOverrides()
            extract.memoryLimit = 384 << 20
            $0.kinds["extract"] = extract
        })
        try f.add("greedy.txt", "DEPOT-TEST-GREEDY\n")
        try f.add("fine.md", "# Fine\n")
        f.start()
        // fine.md gets a generate job after its extract; it has no text to generate from.
        #expect(waitUntil(seconds: 30) { (try? f.settled(3)) == true })
        let jobs = try f.queue.jobs(oldestFirst: true)
        #expect(jobs[0].state == .failed && jobs[0].lastError == "out of memory (address-space limit 384 MiB)")
        // A limit is not retried: the same file would do the same again.
        #expect(jobs[0].attempts == 1)
        #expect(jobs[1].state == .succeeded && jobs[2].kind == "generate" && jobs[2].state == .succeeded)
    }

    /// A store that keeps no local files (memory here, object storage later): the worker
    /// gets a copy of the blob read through the store, and the artifacts go back into it.
    @Test func aStoreWithoutLocalFilesGivesTheWorkerACopy() throws {
        let f = try RunnerFixture(settings: Self.settings(), store: { _ in MemoryBlobStore() })
        let v = try f.add("notes.md", "# Title\n\nBody.\n")
        #expect(f.store.localPath(of: v.digest) == nil)
        f.start()
        // Extract, then generate, which reads extract's artifacts as copies read through the store too.
        #expect(waitUntil(seconds: 30) { (try? f.settled(2)) == true })
        #expect(try f.queue.jobs().allSatisfy { $0.state == .succeeded })
        let artifacts = try f.queue.catalog.artifacts(versionID: v.id)
        #expect(artifacts.map(\.kind) == ["chapters.json", "generation.json", "keywords.json", "metadata.json", "quiz.json",
                                          "structure.json", "summary.json", "summary.md", "text.txt"])
        let text = try #require(artifacts.first { $0.kind == "text.txt" })
        #expect(String(decoding: try f.store.readAll(text.digest), as: UTF8.self) == "# Title\n\nBody.\n")
        // The copy does not outlive the job (removed right after its result is recorded).
        #expect(waitUntil(seconds: 5) {
            (try? FileManager.default.contentsOfDirectory(atPath: f.layout.state + "/work").isEmpty) == true
        })
    }

    /// A job a person queues runs before the background work queued earlier.
    @Test func aPersonsJobRunsBeforeBackgroundWork() throws {
        let f = try RunnerFixture(settings: Self.settings { $0.workers = 1 })
        var versions: [VersionInfo] = []
        for i in 0..<3 { versions.append(try f.add("b\(i).txt", "DEPOT-TEST-SLEEP 200\n# \(i)\n")) }
        f.start()
        #expect(waitUntil(seconds: 10) { (try? f.queue.jobs(state: .running).count) == 1 })
        let person = try f.queue.enqueue(kind: "extract", versionID: versions[2].id, queuedBy: "cli") { kind, type in
            RunnerFixture.registry.select(kind: kind, mediaType: type)?.name
        }
        #expect(waitUntil(seconds: 30) { (try? f.settled(4)) == true })
        let order = try f.queue.jobs(oldestFirst: true).sorted { ($0.startedAtNanoseconds ?? 0) < ($1.startedAtNanoseconds ?? 0) }.map(\.id)
        #expect(order[1] == person.id, "the person's job should run right after the one in hand: \(order)")
    }
}
