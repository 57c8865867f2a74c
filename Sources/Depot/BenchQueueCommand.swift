import ArgumentParser
import DepotCore
import DepotQueue
import DepotStore
import Foundation

/// `depot bench-queue fill|drain`: empty jobs through the real job queue, for bench/scale.sh's
/// queue part. `fill` records JOBS versions of one tiny blob and queues one extract job for
/// each; `drain` is one worker that leases and completes jobs doing no work at all, until
/// none is left, and prints how many it took. Several `drain` processes at once are several
/// workers. Not for users: hidden from the help.
struct BenchQueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-queue", abstract: "Empty jobs through the job queue (bench/scale.sh).", shouldDisplay: false,
        subcommands: [Fill.self, Drain.self])

    struct Fill: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "fill", abstract: "Queue empty jobs.")
        @OptionGroup var rootOptions: RootOptions
        @Option(name: .long, help: "Jobs to queue, one per version.") var jobs = 20_000

        func run() throws {
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            let store = try context.openStore()
            // No pipeline attached: exactly the one job per version queued below.
            let queue = JobQueue(catalog: Catalog(database: try context.openDatabase()), settings: context.config.jobs)
            let scratch = context.layout.storeTemp + "/bench-queue-\(getpid())"
            defer { unlink(scratch) }
            let bytes = Array("an empty job's version\n".utf8)
            try Data(bytes).write(to: URL(fileURLWithPath: scratch))
            let blob = try store.stage(BlobSource(path: scratch, mayLink: false))
            _ = try store.commit([blob])
            let started = monotonicNanoseconds()
            var recorded = 0
            while recorded < jobs {
                let batch = (recorded..<min(jobs, recorded + 2000)).map {
                    IngestRecord(collection: "bench", path: "job\($0).txt", digest: blob.digest, size: Int64(bytes.count),
                                 sourceMtimeNanoseconds: 0, origin: "bench", tags: [], mediaType: "text/plain")
                }
                for outcome in try queue.catalog.record(batch) {
                    _ = try queue.enqueue(kind: "extract", versionID: outcome.version.id, queuedBy: "bench",
                                          chooser: { _, _ in "bench" })
                }
                recorded += batch.count
            }
            FileHandle.standardError.write(Data("bench-queue: \(jobs) jobs queued in \(seconds(since: started)) s\n".utf8))
        }
    }

    struct Drain: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "drain", abstract: "Lease and complete jobs until none is left.")
        @OptionGroup var rootOptions: RootOptions
        @Option(name: .long, help: "The lease owner's name.") var owner = "bench-\(getpid())"

        func run() throws {
            let context = try Context.resolve(rootOptions)
            let queue = try context.openQueue()
            let started = monotonicNanoseconds()
            var done = 0, busy = 0
            // A transaction that stayed busy (PostgreSQL's serialization failures, retried
            // inside up to its attempts) is tried again, as the runner's next poll would.
            func retrying<T>(_ body: () throws -> T) throws -> T {
                while true {
                    do { return try body() } catch let error as CatalogError where error.value == .busy { busy += 1 }
                }
            }
            while let job = try retrying({ try queue.lease(owner: owner) }) {
                let completion = JobQueue.Completion(outcome: "processed", processorVersion: "bench", artifacts: [],
                                                     processingNanoseconds: 0)
                guard try retrying({ try queue.catalog.database.write { tx in try queue.succeed(job, owner: owner, completion, in: tx) } }) else {
                    throw ValidationError("job \(job.id) was taken from \(owner)")
                }
                done += 1
            }
            print("\(done) \(seconds(since: started)) \(busy)")
        }
    }
}

private func seconds(since start: Int64) -> Double { Double(monotonicNanoseconds() - start) / 1e9 }
