// DepotRunner: runs the queue's jobs in `depot worker` processes. A fixed number of slots
// (`jobs.workers`), each a thread that owns at most one worker process: started when the slot
// takes a job, stopped when it has been idle for `jobs.worker_idle`, replaced when its memory
// stays high after a job or when it dies. It bounds how many jobs of each media class and
// kind run at once, gives each job the limits of its kind, and stores what the worker made.
// It owns no table: it changes jobs through the queue and records artifacts through the
// store's catalog, in one transaction.
import DepotCore
import DepotDetect
import DepotQueue
import DepotStore
import Foundation
import Logging
import Metrics
#if canImport(Glibc)
import Glibc
#endif

/// Every call here blocks (pipes, waitpid, SQLite, fsync), hence threads, not tasks.
/// `@unchecked Sendable`: the mutable state (`stopRequested`, the running counts) is guarded
/// by `lock`; each slot's worker is used by its own thread only.
public final class JobRunner: @unchecked Sendable {
    public let queue: JobQueue
    let store: BlobStore
    let layout: RootLayout
    let settings: JobsSettings
    let command: [String]
    let environment: [String: String]
    let logger: Logger
    public let owner = LeaseOwner.current()
    private let lock = NSCondition()
    /// Serialises "which kinds and classes have room" with the lease that fills one.
    private let leaseLock = NSLock()
    private var stopRequested = false
    private var runningSlots = 0
    private var runningByKind: [String: Int] = [:]
    private var runningByClass: [String: Int] = [:]
    private var liveWorkers = 0
    /// Ticks when a job becomes ready anywhere (`JobQueue.readyChannel`): an idle slot sleeps
    /// on it. On PostgreSQL that is LISTEN/NOTIFY across nodes.
    let wakeups: CommitSignal
    /// How long an idle slot waits before it looks for work again unwoken: for what no one
    /// announces (a retry whose time came, a job queued by an older depot). On SQLite polls
    /// are cheap reads and other processes (`depot jobs add`) do not wake this one: 20 ms.
    /// On PostgreSQL a poll is a write transaction on the server, and every node's commit
    /// wakes the slots: 2 s.
    var idlePoll: Int64

    /// - Parameters:
    ///   - workerCommand: the worker's command line, executable first (`/proc/self/exe worker …`).
    public init(queue: JobQueue, store: BlobStore, layout: RootLayout, workerCommand: [String],
                environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger) {
        self.queue = queue
        self.store = store
        self.layout = layout
        self.settings = queue.settings
        wakeups = queue.database.wakeups(JobQueue.readyChannel)
        idlePoll = queue.database.dialect == .postgres ? 2_000_000_000 : 20_000_000
        self.command = workerCommand
        // Swift's crash backtracer symbolicates for seconds before a crashed worker dies, which
        // would hold the slot and blur the crash into a timeout; the reason is recorded anyway.
        var environment = environment
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }
        self.environment = environment
        self.logger = logger
    }

    /// The worker's arguments after the subcommand name: its hard limits. Each job's own
    /// memory and CPU limits come with the job, within these.
    /// The `depot-worker` executable: beside the running one (`/usr/bin/depot` and
    /// `/usr/bin/depot-worker`, or a build's folder), the path resolved once per process.
    public static let workerExecutable: String = {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return ((me as NSString).deletingLastPathComponent as NSString).appendingPathComponent("depot-worker")
    }()

    public static func workerArguments(_ settings: JobsSettings) -> [String] {
        ["--memory-limit", "\(settings.largestMemoryLimit)", "--cpu-seconds", "\(max(1, settings.cpuLimit.components.seconds))",
         "--open-files", "\(settings.openFiles)", "--nice", "\(settings.nice)"]
    }

    var workDirectory: String { layout.state + "/work" }

    /// Worker processes alive now (for status and tests).
    public var workerCount: Int { lock.withLock { liveWorkers } }

    /// Jobs this runner holds now (leased and not yet finished), for the node's heartbeat.
    public var jobsRunning: Int { lock.withLock { runningByKind.values.reduce(0, +) } }

    /// Runs until `stop()`: recovers leases of dead daemons, starts the slots, and takes back
    /// expired leases every second.
    public func run() {
        try? removeTree(workDirectory)
        _ = try? makeDirectories(workDirectory, mode: 0o750)
        recoverLeases()
        let slots = settings.workers
        lock.withLock { runningSlots = slots }
        for index in 0..<slots {
            let thread = Thread { [self] in
                // Leasing and recording results yield the CPU to ingest.
                lowerThisThreadPriority()
                Slot(runner: self, index: index).run()
                lock.withLock {
                    runningSlots -= 1
                    lock.broadcast()
                }
            }
            thread.name = "depot-jobs-\(index)"
            thread.start()
        }
        logger.info("job runner started", metadata: ["slots": "\(slots)", "owner": "\(owner)"])
        while !isStopping {
            lock.withLock { _ = lock.wait(until: Date().addingTimeInterval(1)) }
            recoverLeases()
        }
        lock.withLock { while runningSlots > 0 { lock.wait() } }
        logger.info("job runner stopped")
    }

    public func stop() {
        lock.withLock {
            stopRequested = true
            lock.broadcast()
        }
        // Idle slots sleep on the wake-ups: one tick ends their wait.
        wakeups.signal()
    }

    var isStopping: Bool { lock.withLock { stopRequested } }

    private func recoverLeases() {
        do {
            let owner = self.owner
            let ids = try queue.recoverLeases { $0 == owner || LeaseOwner.isAlive($0) }
            if !ids.isEmpty { logger.notice("took back jobs whose lease ran out or whose daemon is gone", metadata: ["jobs": "\(ids)"]) }
        } catch {
            logger.error("cannot recover job leases", metadata: ["error": "\(error)"])
        }
    }

    /// Sleeps until a job becomes ready (a wake-up after `seen`), `idlePoll` passes, or the
    /// runner stops.
    func awaitWork(after seen: UInt64) {
        guard !isStopping else { return }
        wakeups.wait(after: seen, timeout: .nanoseconds(idlePoll))
    }

    /// Sleeps up to `nanoseconds` unless the runner is stopping.
    func idle(_ nanoseconds: Int64) {
        lock.withLock {
            if !stopRequested { _ = lock.wait(until: Date().addingTimeInterval(Double(nanoseconds) / 1e9)) }
        }
    }

    /// Leases the next job that has room: its media class below `[jobs.concurrency]`, its kind
    /// below its `slots`; counts it as running.
    func leaseNext() throws -> Job? {
        try leaseLock.withLock {
            let (kinds, classes) = lock.withLock { () -> (Set<String>, Set<String>) in
                let kinds = JobKinds.all.map(\.name).filter { kind in
                    settings.slots(kind: kind).map { (runningByKind[kind] ?? 0) < $0 } ?? true
                }
                let classes = MediaClass.all.filter { (runningByClass[$0] ?? 0) < (settings.concurrency[$0] ?? 0) }
                return (Set(kinds), Set(classes))
            }
            guard let job = try queue.lease(owner: owner, kinds: kinds, mediaClasses: classes) else { return nil }
            lock.withLock {
                runningByKind[job.kind, default: 0] += 1
                runningByClass[job.mediaClass, default: 0] += 1
            }
            return job
        }
    }

    func finishedRunning(_ job: Job) {
        lock.withLock {
            runningByKind[job.kind, default: 1] -= 1
            runningByClass[job.mediaClass, default: 1] -= 1
        }
        // Room for its kind and class again: an idle slot may take a job that had to wait.
        wakeups.signal()
    }

    func workerStarted() { lock.withLock { liveWorkers += 1 } }
    func workerEnded() { lock.withLock { liveWorkers -= 1 } }
}

/// Rolls back a result that came too late: the job was cancelled or its lease taken back.
struct NoLongerOurs: Error {}

/// Why the runner could not take a job's result.
struct RunnerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Removes a file or a folder tree (no error when it is absent).
func removeTree(_ path: String) throws {
    guard try lstatIfExists(path) != nil else { return }
    try FileManager.default.removeItem(atPath: path)
}
