import DepotCore
import DepotProcess
import DepotStore
import Foundation
import Logging
import Metrics
#if canImport(Glibc)
import Glibc
#endif

/// Runs the queue's jobs in `depot worker` child processes: one dedicated thread per worker
/// slot (the concurrency of each media class from `[jobs.concurrency]`), each owning one
/// long-lived worker. The thread leases a job, hands it to its worker, heartbeats the lease
/// while it waits, enforces the wall-clock timeout, and stores what the worker made. A worker
/// that dies costs only its job; the slot starts a new one at once.
///
/// Every call here blocks (pipes, waitpid, SQLite, fsync), hence threads, not tasks.
/// `@unchecked Sendable`: the mutable state (`stopRequested`, `threads`) is guarded by `lock`;
/// each slot's worker is used by its own thread only.
public final class JobRunner: @unchecked Sendable {
    public let queue: JobQueue
    let store: LocalBlobStore
    let layout: RootLayout
    let settings: JobsSettings
    let command: [String]
    let environment: [String: String]
    let logger: Logger
    public let owner = LeaseOwner.current()
    private let lock = NSCondition()
    private var stopRequested = false
    private var runningSlots = 0
    /// How long an idle slot waits before it looks for work again.
    var idlePoll: Int64 = 20_000_000

    /// - Parameters:
    ///   - workerCommand: the worker's command line, executable first (`/proc/self/exe worker …`).
    public init(queue: JobQueue, store: LocalBlobStore, layout: RootLayout, workerCommand: [String],
                environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger) {
        self.queue = queue
        self.store = store
        self.layout = layout
        self.settings = queue.settings
        self.command = workerCommand
        // Swift's crash backtracer symbolicates for seconds before a crashed worker dies, which
        // would hold the slot and blur the crash into a timeout; the reason is recorded anyway.
        var environment = environment
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }
        self.environment = environment
        self.logger = logger
    }

    /// The worker's arguments after the subcommand name, carrying the limits from the config.
    public static func workerArguments(_ settings: JobsSettings) -> [String] {
        ["--memory-limit", "\(settings.memoryLimit)", "--cpu-seconds", "\(max(1, settings.cpuLimit.components.seconds))",
         "--open-files", "\(settings.openFiles)", "--nice", "\(settings.nice)"]
    }

    var workDirectory: String { layout.state + "/work" }

    /// Runs until `stop()`: recovers leases of dead daemons, starts the slots, and takes back
    /// expired leases every second.
    public func run() {
        try? removeTree(workDirectory)
        _ = try? makeDirectories(workDirectory, mode: 0o750)
        recoverLeases()
        var slots: [(String, Int)] = []
        for name in JobsSettings.classes {
            for index in 0..<(settings.concurrency[name] ?? 0) { slots.append((name, index)) }
        }
        lock.withLock { runningSlots = slots.count }
        for (mediaClass, index) in slots {
            let thread = Thread { [self] in
                // Leasing and recording results yield the CPU to ingest.
                lowerThisThreadPriority()
                Slot(runner: self, mediaClass: mediaClass, index: index).run()
                lock.withLock {
                    runningSlots -= 1
                    lock.broadcast()
                }
            }
            thread.name = "depot-jobs-\(mediaClass)-\(index)"
            thread.start()
        }
        logger.info("job runner started", metadata: ["workers": "\(slots.count)", "owner": "\(owner)"])
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

    /// Sleeps up to `nanoseconds` unless the runner is stopping.
    func idle(_ nanoseconds: Int64) {
        lock.withLock {
            if !stopRequested { _ = lock.wait(until: Date().addingTimeInterval(Double(nanoseconds) / 1e9)) }
        }
    }
}

/// One worker slot: a thread, its worker process, one job at a time.
final class Slot {
    let runner: JobRunner
    let mediaClass: String
    let index: Int
    var worker: WorkerProcess?
    /// When the last worker died without a result (wall clock of its last sign of life), so
    /// that the replacement's start-up can be measured.
    var crashedAt: Int64?
    let logger: Logger

    init(runner: JobRunner, mediaClass: String, index: Int) {
        self.runner = runner
        self.mediaClass = mediaClass
        self.index = index
        var logger = runner.logger
        logger[metadataKey: "worker_slot"] = "\(mediaClass)-\(index)"
        self.logger = logger
    }

    func run() {
        while !runner.isStopping {
            if worker == nil && !startWorker() {
                runner.idle(1_000_000_000)
                continue
            }
            let job: Job?
            do {
                job = try runner.queue.lease(mediaClass: mediaClass, owner: runner.owner)
            } catch {
                logger.error("cannot lease a job", metadata: ["error": "\(error)"])
                runner.idle(1_000_000_000)
                continue
            }
            guard let job else {
                runner.idle(runner.idlePoll)
                continue
            }
            runJob(job)
        }
        worker?.stop()
        worker = nil
    }

    /// Starts a worker and waits for its "ready" line.
    @discardableResult
    func startWorker() -> Bool {
        guard let process = spawnWorker() else { return false }
        return awaitReady(process)
    }

    /// Spawns a worker without waiting for it (so that its start-up overlaps other work).
    func spawnWorker() -> WorkerProcess? {
        do {
            let slotLogger = logger
            return try WorkerProcess(command: runner.command, environment: runner.environment) { line in
                slotLogger.warning("worker: \(line)")
            }
        } catch {
            logger.error("cannot start a worker", metadata: ["error": "\(error)", "command": "\(runner.command)"])
            return nil
        }
    }

    /// Waits for a spawned worker's "ready" line; it becomes the slot's worker.
    func awaitReady(_ process: WorkerProcess) -> Bool {
        switch process.next(until: monotonicNanoseconds() + 10_000_000_000) {
        case .message(let message) where message.type == .ready:
            var metadata: Logger.Metadata = ["pid": "\(process.pid)",
                                             "startup_ms": "\(Double(monotonicNanoseconds() - process.startedAt) / 1e6)"]
            if let crashedAt {
                metadata["since_crash_ms"] = "\(Double(message.timestampNanoseconds - crashedAt) / 1e6)"
                self.crashedAt = nil
            }
            logger.info("worker ready", metadata: metadata)
            worker = process
            return true
        default:
            let status = process.waitForExit()
            logger.error("worker did not start", metadata: ["status": "\(status)"])
            return false
        }
    }

    func runJob(_ job: Job) {
        let leasedAt = monotonicNanoseconds()
        let output = runner.workDirectory + "/job-\(job.id)-\(job.attempts)"
        defer { try? removeTree(output) }
        guard let worker else { return }
        do {
            try? removeTree(output)
            try makeDirectories(output, mode: 0o700)
        } catch {
            fail(job, reason: "cannot create its work folder: \(error)", label: nil, started: leasedAt)
            return
        }
        let request = WorkerRequest(jobID: job.id, blobPath: runner.store.path(of: job.digest),
                                    mediaType: job.mediaType ?? TypeDetector.octetStream, name: baseName(job.path),
                                    outputDirectory: output)
        let timeout = runner.settings.timeout.nanosecondsValue
        let deadline = leasedAt + timeout
        let heartbeatEvery = max(runner.settings.lease.nanosecondsValue / 3, 100_000_000)
        var nextHeartbeat = leasedAt + heartbeatEvery
        var pendingProgress: (Int, String)?
        var lastSeen = wallClockNanoseconds()
        // The first progress write comes a second into the job: short jobs never pay for one.
        var lastProgressWrite = leasedAt

        guard worker.send(request) else {
            workerDied(job, started: leasedAt, lastSeen: lastSeen)
            return
        }
        while true {
            switch worker.next(until: min(deadline, nextHeartbeat)) {
            case .message(let message):
                lastSeen = message.timestampNanoseconds
                if message.type == .progress {
                    pendingProgress = (message.progress ?? 0, message.message ?? "")
                    // Progress reaches the catalog at most once a second (with a lease renewal).
                    let now = monotonicNanoseconds()
                    if now - lastProgressWrite >= 1_000_000_000, let (percent, text) = pendingProgress {
                        lastProgressWrite = now
                        pendingProgress = nil
                        _ = try? runner.queue.heartbeat(id: job.id, owner: runner.owner, progress: percent, message: text)
                    }
                    continue
                }
                guard message.type == .result, message.jobID == job.id else { continue }
                finish(job, result: message, output: output, started: leasedAt)
                return
            case .closed:
                workerDied(job, started: leasedAt, lastSeen: lastSeen)
                return
            case .timeout:
                let now = monotonicNanoseconds()
                if now >= deadline {
                    worker.kill()
                    self.worker = nil
                    crashedAt = wallClockNanoseconds()
                    let reason = "timed out after \(describe(runner.settings.timeout))"
                    Counter(label: "depot_worker_crashes_total", dimensions: [("reason", "timeout")]).increment()
                    logger.warning("job timed out; worker killed", metadata: ["job": "\(job.id)", "pid": "\(worker.pid)"])
                    fail(job, reason: reason, label: nil, started: leasedAt)
                    startWorker()
                    return
                }
                nextHeartbeat = now + heartbeatEvery
                let stillOurs = (try? runner.queue.heartbeat(id: job.id, owner: runner.owner, progress: pendingProgress?.0,
                                                              message: pendingProgress?.1)) ?? true
                pendingProgress = nil
                if !stillOurs {
                    // Cancelled, or the lease was taken back: stop working on it.
                    logger.notice("job no longer ours (cancelled?); stopping its worker", metadata: ["job": "\(job.id)"])
                    worker.kill()
                    self.worker = nil
                    startWorker()
                    return
                }
                if runner.isStopping {
                    worker.kill()
                    self.worker = nil
                    try? runner.queue.release(job, owner: runner.owner)
                    logger.notice("daemon stopping; job queued again", metadata: ["job": "\(job.id)"])
                    return
                }
            }
        }
    }

    /// The worker ended while it had the job: fail the job with why, start a new worker.
    func workerDied(_ job: Job, started: Int64, lastSeen: Int64) {
        guard let worker else { return }
        let status = worker.waitForExit()
        self.worker = nil
        // The crash happened at its last word when that was just now (a processor that reports
        // progress up to its crash), else when its end was seen.
        let now = wallClockNanoseconds()
        crashedAt = now - lastSeen < 1_000_000_000 ? lastSeen : now
        // The replacement starts up while the failure is being recorded.
        let replacement = spawnWorker()
        let (reason, label) = worker.describeExit(status: status, memoryLimit: runner.settings.memoryLimit,
                                                  cpuSeconds: Int(runner.settings.cpuLimit.components.seconds))
        Counter(label: "depot_worker_crashes_total", dimensions: [("reason", label)]).increment()
        logger.warning("worker died with a job in hand", metadata: ["job": "\(job.id)", "pid": "\(worker.pid)", "reason": "\(reason)"])
        fail(job, reason: reason, label: label, started: started)
        if let replacement { _ = awaitReady(replacement) }
    }

    func fail(_ job: Job, reason: String, label: String?, started: Int64) {
        do {
            let state = try runner.queue.fail(job, owner: runner.owner, reason: reason)
            if let state {
                finished(job, state: state, started: started)
                logger.notice("job \(state.rawValue)", metadata: ["job": "\(job.id)", "reason": "\(reason)",
                                                                   "attempts": "\(job.attempts)/\(job.maxAttempts)"])
            }
        } catch {
            logger.error("cannot record a job's failure", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }

    /// Stores the artifacts as blobs, then records them, the job's success and the
    /// `media.processed` event in one catalog transaction.
    func finish(_ job: Job, result: WorkerMessage, output: String, started: Int64) {
        let resultAt = monotonicNanoseconds()
        if result.status == .error || result.status == nil {
            fail(job, reason: result.error ?? "the processor failed", label: nil, started: started)
            return
        }
        var staged: [StagedBlob] = []
        var artifacts: [ArtifactInfo] = []
        do {
            for produced in result.artifacts ?? [] {
                guard !produced.file.contains("/"), !produced.file.hasPrefix("."), !produced.kind.isEmpty else {
                    throw JobQueueError(description: "the worker named an artifact file outside its folder: \(produced.file)")
                }
                let blob = try runner.store.stage(BlobSource(path: output + "/" + produced.file, mayLink: true))
                staged.append(blob)
                artifacts.append(ArtifactInfo(versionID: job.versionID, kind: produced.kind, mimeType: produced.mimeType,
                                              digest: blob.digest, size: blob.size, producer: produced.producer,
                                              producerVersion: produced.producerVersion))
            }
            // One commit for the job's artifacts (fsyncs of each file, then of their folders).
            _ = try runner.store.commit(staged)
            staged.removeAll()
            let completion = JobQueue.Completion(outcome: result.status == .unsupported ? "unsupported" : "processed",
                                                 processor: result.processor, processorVersion: result.processorVersion,
                                                 artifacts: artifacts, processingNanoseconds: result.processingNanoseconds ?? 0)
            let storedAt = monotonicNanoseconds()
            if try runner.queue.succeed(job, owner: runner.owner, completion) {
                finished(job, state: .succeeded, started: started)
                let ms = { (ns: Int64) in "\(Double(ns) / 1e6)" }
                logger.debug("job succeeded", metadata: [
                    "job": "\(job.id)", "outcome": "\(completion.outcome)", "artifacts": "\(artifacts.count)",
                    "worker_ms": "\(ms(resultAt - started))", "store_ms": "\(ms(storedAt - resultAt))",
                    "record_ms": "\(ms(monotonicNanoseconds() - storedAt))"])
            }
        } catch {
            for blob in staged { runner.store.discard(blob) }
            fail(job, reason: "cannot store its artifacts: \(error)", label: nil, started: started)
        }
    }

    func finished(_ job: Job, state: JobState, started: Int64) {
        Timer(label: "depot_job_duration_seconds", dimensions: [("kind", job.kind), ("media_type", job.mediaType ?? "unknown")])
            .recordNanoseconds(monotonicNanoseconds() - started)
        Counter(label: "depot_jobs_finished_total", dimensions: [("kind", job.kind), ("state", state.rawValue)]).increment()
    }
}

/// "30s", "2m", "1.5s".
func describe(_ duration: Duration) -> String {
    let ns = duration.nanosecondsValue
    if ns % 60_000_000_000 == 0 && ns >= 60_000_000_000 { return "\(ns / 60_000_000_000)m" }
    if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
    return "\(Double(ns) / 1e9)s"
}

/// Removes a file or a folder tree (no error when it is absent).
func removeTree(_ path: String) throws {
    guard try statIfExists(path) != nil else { return }
    try FileManager.default.removeItem(atPath: path)
}
