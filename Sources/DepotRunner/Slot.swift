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

/// One slot: a thread, at most one worker process, one job at a time.
final class Slot {
    let runner: JobRunner
    let index: Int
    var worker: WorkerProcess? {
        didSet {
            if oldValue == nil && worker != nil { runner.workerStarted() }
            if oldValue != nil && worker == nil { runner.workerEnded() }
        }
    }
    /// When the worker last finished a job (monotonic), to stop it after `worker_idle`.
    var idleSince = monotonicNanoseconds()
    /// When the last worker died without a result (wall clock of its last sign of life), so
    /// that the replacement's start-up can be measured.
    var crashedAt: Int64?
    let logger: Logger

    init(runner: JobRunner, index: Int) {
        self.runner = runner
        self.index = index
        var logger = runner.logger
        logger[metadataKey: "worker_slot"] = "\(index)"
        self.logger = logger
    }

    func run() {
        while !runner.isStopping {
            let job: Job?
            // Taken before looking, so that a job queued between the look and the wait wakes it.
            let seen = runner.wakeups.current
            do {
                job = try runner.leaseNext()
            } catch {
                logger.error("cannot lease a job", metadata: ["error": "\(error)"])
                runner.idle(1_000_000_000)
                continue
            }
            guard let job else {
                stopIfIdle()
                runner.awaitWork(after: seen)
                continue
            }
            defer { runner.finishedRunning(job) }
            if worker == nil && !startWorker() {
                // No worker could be had (a broken binary, no memory): the job waits, uncounted.
                try? runner.queue.release(job, owner: runner.owner)
                runner.idle(1_000_000_000)
                continue
            }
            runJob(job)
            idleSince = monotonicNanoseconds()
            replaceIfBloated(after: job)
        }
        stopWorker()
    }

    /// A worker with nothing to do for `worker_idle` goes; the next job starts one again.
    func stopIfIdle() {
        guard worker != nil, monotonicNanoseconds() - idleSince >= runner.settings.workerIdle.nanosecondsValue else { return }
        logger.info("worker stopped after being idle", metadata: ["pid": "\(worker!.pid)",
                                                                   "idle": "\(formatDuration(runner.settings.workerIdle))"])
        stopWorker()
    }

    func stopWorker() {
        worker?.stop()
        worker = nil
    }

    /// A worker whose resident memory stays high after a job (a parser's heap that malloc keeps)
    /// is replaced, so that one large file does not keep hundreds of MiB for every later job.
    func replaceIfBloated(after job: Job) {
        guard let worker, let rss = worker.residentBytes(), rss > runner.settings.workerMaxRSS else { return }
        Counter(label: "depot_worker_replacements_total", dimensions: [("reason", "memory")]).increment()
        logger.notice("worker replaced: its memory stayed high after a job", metadata: [
            "pid": "\(worker.pid)", "job": "\(job.id)", "rss": "\(describeBytes(rss))",
            "limit": "\(describeBytes(runner.settings.workerMaxRSS))"])
        stopWorker()
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
            idleSince = monotonicNanoseconds()
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
        defer { try? removeTree(output); try? removeTree(output + ".blob"); try? removeTree(output + ".inputs") }
        guard let worker else { return }
        guard let kind = JobKinds.named(job.kind), let processor = job.processor else {
            fail(job, .permanent("this depot does not know job kind '\(job.kind)' or its processor"), started: leasedAt)
            return
        }
        let limits = runner.settings.limits(kind: kind, mediaClass: job.mediaClass)
        let request: WorkerRequest
        do {
            guard let version = try runner.queue.catalog.version(id: job.versionID) else {
                fail(job, .permanent("its version \(job.versionID) is gone"), started: leasedAt)
                return
            }
            try? removeTree(output)
            try makeDirectories(output, mode: 0o700)
            request = WorkerRequest(jobID: job.id, kind: job.kind, processor: processor, parameters: job.parameters,
                                    blobPath: try localFile(of: version.digest, copy: output + ".blob"),
                                    mediaType: job.mediaType, name: baseName(version.path), outputDirectory: output,
                                    memoryLimit: limits.memoryBytes, cpuSeconds: Int(max(1, limits.cpu.components.seconds)),
                                    inputs: try inputs(of: kind, version: version, folder: output + ".inputs"))
        } catch {
            fail(job, .transient("cannot prepare it: \(error)"), started: leasedAt)
            return
        }
        let deadline = leasedAt + limits.timeout.nanosecondsValue
        let heartbeatEvery = max(runner.settings.lease.nanosecondsValue / 3, 100_000_000)
        var nextHeartbeat = leasedAt + heartbeatEvery
        var pendingProgress: (Int, String)?
        var lastSeen = wallClockNanoseconds()
        // The first progress write comes a second into the job: short jobs never pay for one.
        var lastProgressWrite = leasedAt

        worker.resetPeak()
        guard worker.send(request) else {
            workerDied(job, limits: limits, started: leasedAt, lastSeen: lastSeen)
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
                finish(job, result: message, output: output, started: leasedAt, lastProgress: pendingProgress?.1)
                return
            case .closed:
                workerDied(job, limits: limits, started: leasedAt, lastSeen: lastSeen)
                return
            case .timeout:
                let now = monotonicNanoseconds()
                if now >= deadline {
                    worker.kill()
                    self.worker = nil
                    crashedAt = wallClockNanoseconds()
                    Counter(label: "depot_worker_crashes_total", dimensions: [("reason", "timeout")]).increment()
                    logger.warning("job timed out; worker killed", metadata: ["job": "\(job.id)", "pid": "\(worker.pid)"])
                    // The same file would take as long again: a limit is not retried.
                    fail(job, .permanent("timed out after \(formatDuration(limits.timeout)) (the \(job.kind) time limit)"),
                         started: leasedAt)
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

    /// The artifacts of the version that `kind` reads (`JobKind.reads`), each as a file the
    /// worker can open (through the store, as the blob is), by artifact kind; those the
    /// version lacks are left out. With them, the current versions of the document's sidecars
    /// (`JobKind.sidecars`) as "sidecar:NAME" (NAME: the sidecar's file name).
    func inputs(of kind: JobKind, version: VersionInfo, folder: String) throws -> [String: String] {
        var inputs: [String: String] = [:]
        func add(_ key: String, _ digest: Digest) throws {
            if inputs.isEmpty { try makeDirectories(folder, mode: 0o700) }
            inputs[key] = try localFile(of: digest, copy: folder + "/\(inputs.count)")
        }
        if !kind.reads.isEmpty {
            let artifacts = try runner.queue.catalog.artifacts(versionID: version.id)
            for name in kind.reads {
                guard let artifact = artifacts.first(where: { $0.kind == name }) else { continue }
                try add(name, artifact.digest)
            }
        }
        if !kind.sidecars.isEmpty, let prefix = Sidecars.sidecarPrefix(ofRecording: version.path) {
            let documents = try runner.queue.catalog.documents(DocumentQuery(collection: version.collection, pathPrefix: prefix,
                                                                             orderByPath: true))
            for document in documents where document.size <= Sidecars.maxBytes
            && Sidecars.match(recording: version.path, candidate: document.path, extensions: kind.sidecars) != nil {
                try add("sidecar:" + baseName(document.path), document.digest)
            }
        }
        return inputs
    }

    /// The blob as a file the worker can open: the store's own file where it keeps one, else
    /// a copy read through the store into `copy`, in the job's work folder.
    func localFile(of digest: Digest, copy: String) throws -> String {
        if let path = runner.store.localPath(of: digest) { return path }
        let reader = try runner.store.open(digest)
        let fd = try sysCall("open", path: copy) { open(copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n = try reader.read(into: buffer)
            if n == 0 { break }
            try writeFully(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), path: copy)
        }
        return copy
    }

    /// The worker ended while it had the job: fail the job with why, start a new worker.
    func workerDied(_ job: Job, limits: JobLimits, started: Int64, lastSeen: Int64) {
        guard let worker else { return }
        let status = worker.waitForExit()
        self.worker = nil
        // The crash happened at its last word when that was just now (a processor that reports
        // progress up to its crash), else when its end was seen.
        let now = wallClockNanoseconds()
        crashedAt = now - lastSeen < 1_000_000_000 ? lastSeen : now
        // The replacement starts up while the failure is being recorded.
        let replacement = spawnWorker()
        let (reason, label) = worker.describeExit(status: status, memoryLimit: limits.memoryBytes,
                                                  cpuSeconds: Int(limits.cpu.components.seconds))
        Counter(label: "depot_worker_crashes_total", dimensions: [("reason", label)]).increment()
        logger.warning("worker died with a job in hand", metadata: ["job": "\(job.id)", "pid": "\(worker.pid)", "reason": "\(reason)"])
        // Running out of its memory or CPU limit happens again with the same file; any other
        // crash may be the machine's (memory pressure, a signal from outside): tried again.
        let limitHit = label == "out_of_memory" || label == "cpu_limit"
        fail(job, limitHit ? .permanent(reason) : .transient(reason), started: started)
        if let replacement { _ = awaitReady(replacement) }
    }

    func fail(_ job: Job, _ failure: JobQueue.Failure, started: Int64, report: JobReport? = nil) {
        do {
            if let state = try runner.queue.fail(job, owner: runner.owner, failure, report: report) {
                finished(job, state: state, started: started)
                logger.notice("job \(state.rawValue)", metadata: ["job": "\(job.id)", "kind": "\(job.kind)", "reason": "\(failure.reason)",
                                                                   "attempts": "\(job.attempts)/\(job.maxAttempts)"])
            }
        } catch {
            logger.error("cannot record a job's failure", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }

    /// Stores the artifacts as blobs, then records them, the job's success and its event in
    /// one catalog transaction.
    /// `lastProgress`: the worker's last progress message not yet written (at most one a
    /// second is), kept with the job: it often says what the job made or why it made nothing.
    func finish(_ job: Job, result: WorkerMessage, output: String, started: Int64, lastProgress: String? = nil) {
        let resultAt = monotonicNanoseconds()
        if result.status == .error || result.status == nil {
            let reason = result.error ?? "the processor failed"
            fail(job, result.transient == true ? .transient(reason) : .permanent(reason), started: started, report: result.report)
            return
        }
        var staged: [StagedBlob] = []
        var artifacts: [ArtifactInfo] = []
        do {
            for produced in result.artifacts ?? [] {
                guard !produced.file.contains("/"), !produced.file.hasPrefix("."), !produced.kind.isEmpty else {
                    throw RunnerError("the worker named an artifact file outside its folder: \(produced.file)")
                }
                let blob = try runner.store.stage(BlobSource(path: output + "/" + produced.file, mayLink: true))
                staged.append(blob)
                artifacts.append(ArtifactInfo(versionID: job.versionID, kind: produced.kind, mimeType: produced.mimeType,
                                              digest: blob.digest, size: blob.size, producer: produced.producer,
                                              producerVersion: produced.producerVersion))
            }
            // One commit for the job's artifacts (fsyncs of each file, then of their folders).
            // What the catalog does not know is put without an existence check first (an object
            // store's round trip), as an ingest does.
            let known = try runner.queue.catalog.knownBlobs(among: staged.map(\.digest))
            for i in staged.indices { staged[i].cataloged = known.contains(staged[i].digest) }
            _ = try runner.store.commit(staged)
            staged.removeAll()
            let outcome = result.status == .unsupported ? JobOutcome.unsupported : JobOutcome.processed
            let storedAt = monotonicNanoseconds()
            let queue = runner.queue
            let owner = runner.owner
            let recorded: Bool
            do {
                try queue.database.write { tx in
                    // The artifacts first, so that the job's event names them with their ids;
                    // a job no longer ours rolls them back with it.
                    let rows = try queue.catalog.recordArtifacts(artifacts, in: tx)
                    // Serialised with garbage collection: a blob it removed since the commit fails the job for a retry.
                    try GarbageCollector.requirePresent(artifacts.map(\.digest), store: runner.store, in: tx)
                    let completion = JobQueue.Completion(outcome: outcome, processorVersion: result.processorVersion, artifacts: rows,
                                                         processingNanoseconds: result.processingNanoseconds ?? 0,
                                                         reason: outcome == JobOutcome.unsupported ? result.error : lastProgress,
                                                         peakMemoryBytes: worker.flatMap { $0.peakAddressSpace > 0 ? $0.peakAddressSpace : nil },
                                                         report: result.report)
                    guard try queue.succeed(job, owner: owner, completion, in: tx) else { throw NoLongerOurs() }
                }
                recorded = true
            } catch is NoLongerOurs {
                recorded = false
            }
            if recorded {
                finished(job, state: .succeeded, started: started)
                let ms = { (ns: Int64) in "\(Double(ns) / 1e6)" }
                logger.debug("job succeeded", metadata: [
                    "job": "\(job.id)", "kind": "\(job.kind)", "outcome": "\(outcome)", "artifacts": "\(artifacts.count)",
                    "worker_ms": "\(ms(resultAt - started))", "store_ms": "\(ms(storedAt - resultAt))",
                    "record_ms": "\(ms(monotonicNanoseconds() - storedAt))"])
            }
        } catch {
            for blob in staged { runner.store.discard(blob) }
            fail(job, .transient("cannot store its artifacts: \(error)"), started: started)
        }
    }

    func finished(_ job: Job, state: JobState, started: Int64) {
        Timer(label: "depot_job_duration_seconds", dimensions: [("kind", job.kind), ("media_type", job.mediaType)])
            .recordNanoseconds(monotonicNanoseconds() - started)
        Counter(label: "depot_jobs_finished_total", dimensions: [("kind", job.kind), ("state", state.rawValue)]).increment()
    }
}
