import ArgumentParser
import DepotCore
import DepotHTTP
import DepotStore
import DepotWatch
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import UnixSignals

/// `depot serve`: the daemon. Recovery, then the watcher and the ingest on their own thread,
/// under systemd's notify protocol.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Watch the inbox and keep every file dropped into it (runs in the foreground).")

    @OptionGroup var rootOptions: RootOptions

    func run() async throws {
        let context = try Context.resolve(rootOptions)
        bootstrapLogging(level: logLevel(context.config.logLevel))
        let logger = Logger(label: "depot")
        // One Prometheus registry for the whole process: what the ingest loop and the job
        // workers emit through swift-metrics shows up on the HTTP server's /metrics.
        let metrics = ServerMetrics()
        MetricsSystem.bootstrap(metrics.metricsFactory)
        let notifier = SystemdNotifier()
        try context.requireInitialised()

        // Recovery: the catalog migrates, and what a crash left half-staged goes. Nothing in
        // the inbox was removed before its catalog row was durable, so nothing else is needed.
        _ = notifier.status("recovering")
        let ingestor = try context.ingestor(logger: Logger(label: "depot.ingest"))
        let leftovers = try ingestor.store.removeLeftovers()
        if leftovers > 0 { logger.notice("removed staging left by an earlier run", metadata: ["files": "\(leftovers)"]) }

        let watcher = InboxWatcher(inbox: context.layout.inbox, config: context.config, logger: Logger(label: "depot.watch"))
        try watcher.start()
        let loop = IngestLoop(watcher: watcher, ingestor: ingestor, config: context.config, logger: logger)
        let status = loop.statusLine()
        logger.info("depot is serving", metadata: ["root": "\(context.layout.root)", "status": "\(status)"])
        _ = notifier.ready(status: status)

        // Each long-running part of the daemon is one Service in one group, stopped together
        // and gracefully on SIGTERM. The parts that follow ingest (jobs, outbox, HTTP) each add
        // theirs to this list.
        let jobs = try context.jobRunner(logger: Logger(label: "depot.jobs"))
        let outbox = try context.eventDispatcher(logger: Logger(label: "depot.outbox"))
        let services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            // A graceful shutdown lets the ingest finish its batch.
            .init(service: ThreadService(description: "depot-ingest", work: loop.run, stop: loop.stop)),
            .init(service: ReloadService(loop: loop, options: rootOptions, notifier: notifier, logger: logger),
                  successTerminationBehavior: .ignore),
            .init(service: WatchdogService(loop: loop, notifier: notifier), successTerminationBehavior: .ignore),
            // The runner stops its workers and queues the jobs in hand again.
            .init(service: ThreadService(description: "depot-jobs", work: jobs.run, stop: jobs.stop)),
            // The dispatcher finishes the batch in hand; a drop is stored first, shown after.
            .init(service: ThreadService(description: "depot-outbox", background: true, work: outbox.run, stop: outbox.stop)),
            .init(service: HTTPService(environment: HTTPServerEnvironment(
                // Its own catalog connection: downloads and API reads never queue behind an ingest batch.
                config: context.config, layout: context.layout, catalog: try context.openCatalog(),
                store: try context.openStore(),
                signer: LinkSigner(keys: try LinkKeys.load(path: LinkKeys.location(settings: context.config.http, layout: context.layout))),
                metrics: metrics,
                probes: ServerProbes(watcherCounters: { loop.watcherCounters() }, watcherRunning: { loop.isRunning }),
                logger: Logger(label: "depot.http")))),
        ]

        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        _ = notifier.stopping()
        logger.info("depot stopped")
    }
}

/// The watcher and the ingest, run on one dedicated thread: every call in here blocks
/// (inotify, hashing, fsync, SQLite), so none of it may run on the concurrency pool.
///
/// `@unchecked Sendable`: `watcher` and `ingestor` are used only by the loop's thread;
/// the fields other threads touch (`stopRequested`, `pendingConfig`, `lastStatus`) are
/// guarded by `lock`.
final class IngestLoop: @unchecked Sendable {
    private let watcher: InboxWatcher
    private let ingestor: Ingestor
    private let logger: Logger
    private var config: DepotConfig
    private let lock = NSLock()
    private var stopRequested = false
    private var pendingConfig: DepotConfig?
    private var lastStatus = ""
    private var stored = 0
    private var counters = WatcherStatus.Counters()
    private var running = false

    init(watcher: InboxWatcher, ingestor: Ingestor, config: DepotConfig, logger: Logger) {
        self.watcher = watcher
        self.ingestor = ingestor
        self.config = config
        self.logger = logger
        lastStatus = Self.describe(watcher.status, stored: 0)
    }

    /// Runs until `stop()`; the batch in hand is always finished first.
    func run() {
        while true {
            let (stop, newConfig) = lock.withLock { (stopRequested, pendingConfig) }
            if stop { break }
            if let newConfig {
                lock.withLock { pendingConfig = nil }
                config = newConfig
                watcher.reload(config: newConfig)
                setLogLevel(logLevel(newConfig.logLevel))
            }
            let ready = watcher.poll(timeout: .milliseconds(250))
            var start = 0
            while start < ready.count {
                var end = start
                var bytes: Int64 = 0
                while end < ready.count && end - start < config.store.batchFiles
                        && (bytes < config.store.batchBytes || end == start) {
                    bytes += ready[end].size
                    end += 1
                }
                ingest(Array(ready[start..<end]))
                start = end
            }
            let watcherStatus = watcher.status
            let status = Self.describe(watcherStatus, stored: stored)
            lock.withLock {
                lastStatus = status
                counters = watcherStatus.counters
                running = true
            }
        }
        lock.withLock { running = false }
        watcher.close()
    }

    /// The watcher's totals as of the loop's last turn (for /metrics).
    func watcherCounters() -> (events: Int, overflows: Int, rescans: Int) {
        lock.withLock { (counters.events, counters.overflows, counters.rescans) }
    }

    /// Whether the loop thread is turning (for /readyz).
    var isRunning: Bool { lock.withLock { running } }

    private func ingest(_ files: [InboxFile]) {
        let items = files.map { file in
            IngestItem(sourcePath: file.absolutePath, collection: file.collection, path: file.relativePath,
                       tags: file.tags, disposition: file.mode == .consume ? .consume : .keep,
                       origin: file.mode == .consume ? "inbox" : "mirror")
        }
        for (file, result) in zip(files, ingestor.ingest(items)) {
            switch result {
            case .stored(let outcome, let newBlob):
                stored += 1
                watcher.completed(file)
                let what: String, label: String
                switch outcome {
                case .created: (what, label) = ("new document", "created")
                case .versioned: (what, label) = ("new version", "versioned")
                case .unchanged: (what, label) = ("unchanged", "unchanged")
                }
                Counter(label: "depot_ingests_total", dimensions: [("collection", file.collection), ("outcome", label)]).increment()
                Counter(label: "depot_ingested_bytes_total").increment(by: outcome.version.size)
                if !newBlob { Counter(label: "depot_dedup_hits_total").increment() }
                if label != "unchanged" { Counter(label: "depot_versions_created_total").increment() }
                logger.info("stored \(what)", metadata: [
                    "collection": "\(file.collection)", "path": "\(file.relativePath)",
                    "version": "\(outcome.version.number)", "sha256": "\(outcome.version.digest.hex)",
                    "size": "\(outcome.version.size)", "dedup": "\(!newBlob)"])
            case .skipped:
                watcher.completed(file)
            case .changed:
                watcher.changed(file)
            case .vanished:
                watcher.completed(file)
            case .failed(let reason, _):
                Counter(label: "depot_ingests_total", dimensions: [("collection", file.collection), ("outcome", "failed")]).increment()
                watcher.failed(file, reason: reason)
            }
        }
    }

    func stop() { lock.withLock { stopRequested = true } }

    func reload(_ config: DepotConfig) { lock.withLock { pendingConfig = config } }

    func statusLine() -> String { lock.withLock { lastStatus } }

    static func describe(_ status: WatcherStatus, stored: Int) -> String {
        var text = "watching \(status.watchedFolders) folders, \(status.pendingFiles) files pending, \(stored) stored"
        if status.pollingTrees > 0 { text += ", \(status.pollingTrees) trees polled" }
        if status.failingFiles > 0 { text += ", \(status.failingFiles) failing" }
        return text
    }
}

/// Blocking work (a loop over SQLite, fsync, pipes) on a thread of its own, as a service.
/// `stop` is called on a graceful shutdown (SIGTERM: the work finishes what it has in hand)
/// and on cancellation, which is what the group does when another service fails (e.g. the
/// HTTP port is taken): the thread must stop either way. The service ends when `work` returns.
struct ThreadService: Service, CustomStringConvertible {
    let description: String
    /// Background work yields the CPU to ingest (a per-thread nice value).
    var background = false
    let work: @Sendable () -> Void
    let stop: @Sendable () -> Void

    func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    let thread = Thread { [self] in
                        if background { lowerThisThreadPriority() }
                        work()
                        done.resume()
                    }
                    thread.name = description
                    thread.start()
                }
            } onGracefulShutdown: {
                stop()
            }
        } onCancel: {
            stop()
        }
    }
}

/// SIGHUP: re-read the config and hand it to the loop.
struct ReloadService: Service {
    let loop: IngestLoop
    let options: RootOptions
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            _ = notifier.reloading()
            do {
                let context = try Context.resolve(options)
                loop.reload(context.config)
                logger.notice("configuration reloaded", metadata: ["config": "\(context.configPath ?? "defaults")"])
            } catch {
                logger.error("configuration not reloaded; keeping the old one", metadata: ["error": "\(error)"])
            }
            _ = notifier.reloaded()
        }
    }
}

/// WATCHDOG=1 at half systemd's interval, with a fresh STATUS= line (every 5 s without a watchdog).
struct WatchdogService: Service {
    let loop: IngestLoop
    let notifier: SystemdNotifier

    func run() async throws {
        guard notifier.isActive else { return }
        let interval = notifier.watchdogInterval.map { $0 / 2 } ?? .seconds(5)
        var last = ""
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if notifier.watchdogInterval != nil { _ = notifier.watchdog() }
            let status = loop.statusLine()
            if status != last {
                _ = notifier.status(status)
                last = status
            }
        }
    }
}
