import ArgumentParser
import CLinux
import DepotAnalytics
import DepotCore
import DepotHTTP
import DepotOutbox
import DepotRunner
import DepotStore
import DepotWatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `depot serve`: the daemon. Recovery, then the services of this node's roles (`--role`,
/// `[node] role`): the watcher and the ingest on their own thread (ingest), the job runner and
/// the background work that follows it (worker), the HTTP server (http); all three by default.
/// Every node registers in the catalog's `nodes` table and heartbeats there.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon in the foreground: watch the inbox, run the jobs, serve HTTP (or some of these: --role).")

    @OptionGroup var rootOptions: RootOptions

    @Option(name: .long, help: "Listen here instead of http.listen and http.port: ADDRESS:PORT, [IPv6]:PORT, or a PORT.")
    var listen: String?

    @Option(name: .long, help: "What this node runs instead of [node] role: all, or a comma-separated list of ingest, worker and http.")
    var role: String?

    func validate() throws {
        if let listen, Self.parseListen(listen) == nil {
            throw ValidationError("--listen takes ADDRESS:PORT (127.0.0.1:8080), [IPv6]:PORT or a port number")
        }
        if let role, NodeRole.parse(role) == nil {
            throw ValidationError("--role takes all, or a comma-separated list of ingest, worker and http")
        }
    }

    /// "127.0.0.1:8080" → ("127.0.0.1", 8080); "[::1]:80" → ("::1", 80); "9090" → (nil, 9090).
    static func parseListen(_ text: String) -> (host: String?, port: Int)? {
        if let port = Int(text), (0...65535).contains(port) { return (nil, port) }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func run() async throws {
        var context = try Context.resolve(rootOptions)
        if let listen, let (host, port) = Self.parseListen(listen) {
            var http = context.config.http
            if let host { http.listen = host }
            http.port = port
            var config = context.config
            config[HTTPSettings.self] = http
            context = Context(config: config, configPath: context.configPath, layout: context.layout)
        }
        let roles = role.flatMap(NodeRole.parse) ?? context.config.node.roles
        let roleName = NodeRole.describe(roles)
        // Upload and download buffers (1 MiB and more) go back to the kernel when freed, so
        // that a burst of uploads does not leave every thread's heap holding its share.
        _ = clinux_set_mmap_threshold(256 << 10)
        bootstrapLogging(level: logLevel(context.config.logLevel))
        let logger = Logger(label: "depot")
        // One Prometheus registry for the whole process: what the ingest loop and the job
        // workers emit through swift-metrics shows up on the HTTP server's /metrics.
        let metrics = ServerMetrics()
        MetricsSystem.bootstrap(metrics.metricsFactory)
        let notifier = SystemdNotifier()
        try context.requireInitialised()
        // One daemon per root, and the HTTP address free, before anything starts.
        let rootLock = try RootLock(layout: context.layout)
        defer { withExtendedLifetime(rootLock) {} }
        if roles.contains(.http) { try checkListenAddress(host: context.config.http.listen, port: context.config.http.port) }

        // Recovery: the catalog migrates, and what a crash left half-staged goes. Nothing in
        // the inbox was removed before its catalog row was durable, so nothing else is needed.
        _ = notifier.status("recovering")
        let ingestor = try context.ingestor(logger: Logger(label: "depot.ingest"))
        let leftovers = try ingestor.store.removeLeftovers()
        if leftovers > 0 { logger.notice("removed staging left by an earlier run", metadata: ["files": "\(leftovers)"]) }

        // Each long-running part of the daemon is one Service in one group, stopped together
        // and gracefully on SIGTERM; the node's roles choose which parts run.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let loop: IngestLoop?
        if roles.contains(.ingest) {
            let watcher = InboxWatcher(inbox: context.layout.inbox, settings: context.config.inbox, collections: context.collections,
                                       logger: Logger(label: "depot.watch"))
            try watcher.start()
            let ingestLoop = IngestLoop(watcher: watcher, ingestor: ingestor, context: context, logger: logger)
            loop = ingestLoop
            // A graceful shutdown lets the ingest finish its batch.
            services.append(.init(service: ThreadService(description: "depot-ingest", work: ingestLoop.run, stop: ingestLoop.stop)))
        } else {
            loop = nil
        }
        let usage = UsageCounters()
        var jobs: JobRunner?
        var outbox: EventDispatcher?
        if roles.contains(.worker) {
            let runner = try context.jobRunner(logger: Logger(label: "depot.jobs"))
            jobs = runner
            // On a shared PostgreSQL catalog one node at a time dispatches (EventDispatcher.run).
            let dispatcher = try context.eventDispatcher(logger: Logger(label: "depot.outbox"))
            outbox = dispatcher
            let retention = try RetentionLoop(context: context, logger: Logger(label: "depot.retention"))
            let scrub = try ScrubLoop(context: context, logger: Logger(label: "depot.scrub"))
            // The analytics follow the event log on their own connection; downloads and link
            // rejections reach them from the HTTP server through `usage`. Their commits wait for no
            // fsync (durability normal, as the runner's): roll-ups are made from the log, and the
            // cursor moves in the same transaction as the rows, so what a crash loses of them is
            // recorded again from the log. An fsync a second on the recorder's part held SQLite's
            // write lock while the runner waited (bench/stats.sh b).
            let analyticsQueue = try context.openQueue(durability: .normal)
            let recorder = AnalyticsRecorder(queue: analyticsQueue, store: try context.openStore(), settings: context.analytics,
                                             usage: usage, logger: Logger(label: "depot.analytics"))
            let reports = ReportWriter(database: analyticsQueue.database, store: try context.openStore(), root: context.layout.root,
                                       settings: context.analytics, logger: Logger(label: "depot.analytics"))
            let recording = context.analytics.record
            services += [
                // The runner stops its workers and queues the jobs in hand again.
                .init(service: ThreadService(description: "depot-jobs", work: runner.run, stop: runner.stop)),
                // The dispatcher finishes the batch in hand; a drop is stored first, shown after.
                .init(service: ThreadService(description: "depot-outbox", background: true, work: dispatcher.run, stop: dispatcher.stop)),
                // Trash purge, garbage collection and the storage sample, every [retention] gc_interval.
                .init(service: ThreadService(description: "depot-retention", background: true, work: retention.run, stop: retention.stop)),
                // A slice of the incremental scrub every [scrub] interval, at most mib_per_second.
                .init(service: ThreadService(description: "depot-scrub", background: true, work: scrub.run, stop: scrub.stop)),
                .init(service: ThreadService(description: "depot-analytics", background: true,
                                             work: { if recording { recorder.run(reports: reports) } else { recorder.idle() } },
                                             stop: recorder.stop)),
            ]
        }

        let startedAt = Timestamp.now
        let nodeID = context.config.node.nodeID(root: context.layout.root)
        let statusLine: @Sendable () -> String = {
            loop?.statusLine() ?? "node \(nodeID) (\(roleName)): no inbox watched here"
        }
        let daemonState: @Sendable () -> DaemonState = {
            DaemonState(running: true, pid: Int(getpid()), startedAt: startedAt, updatedAt: .now, watcher: loop?.statusLine(),
                        watcherRunning: loop?.isRunning, node: nodeID, role: roleName)
        }
        if roles.contains(.http) {
            services.append(.init(service: HTTPService(environment: try context.httpEnvironment(
                metrics: metrics,
                probes: ServerProbes(watcherCounters: { loop?.watcherCounters() }, watcherRunning: { loop?.isRunning ?? true },
                                     daemonState: daemonState),
                usage: usage))))
        }
        // The node's row in the catalog, on a connection of its own; registered before
        // anything is said to be ready, so that a clash of ids stops the start.
        let runner = jobs
        let heartbeat = try NodeHeartbeat(
            identity: NodeIdentity(id: nodeID, role: roleName, startedAt: startedAt, heartbeat: context.config.node.heartbeat),
            database: try context.openDatabase(durability: .normal), jobsRunning: { runner?.jobsRunning ?? 0 },
            logger: Logger(label: "depot.node"))
        let statusFile = StatusFileWriter(path: context.daemonStatusPath, state: daemonState)
        services += [
            .init(service: ReloadService(loop: loop, dispatcher: outbox, options: rootOptions, notifier: notifier, logger: logger),
                  successTerminationBehavior: .ignore),
            .init(service: WatchdogService(status: statusLine, notifier: notifier), successTerminationBehavior: .ignore),
            // Ready once the group traps SIGTERM: a stop right after start is a graceful one.
            .init(service: ReadyService(status: statusLine, notifier: notifier, root: context.layout.root, node: nodeID,
                                        role: roleName, logger: logger),
                  successTerminationBehavior: .ignore),
            .init(service: ThreadService(description: "depot-node", background: true, work: heartbeat.run, stop: heartbeat.stop)),
            .init(service: ThreadService(description: "depot-status-file", background: true, work: statusFile.run, stop: statusFile.stop)),
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
    private var context: Context
    private let lock = NSLock()
    private var stopRequested = false
    private var pendingContext: Context?
    private var lastStatus = ""
    private var stored = 0
    private var counters = WatcherStatus.Counters()
    private var running = false

    init(watcher: InboxWatcher, ingestor: Ingestor, context: Context, logger: Logger) {
        self.watcher = watcher
        self.ingestor = ingestor
        self.context = context
        self.logger = logger
        lastStatus = Self.describe(watcher.status, stored: 0)
    }

    /// Runs until `stop()`; the batch in hand is always finished first.
    func run() {
        while true {
            let (stop, newContext) = lock.withLock { (stopRequested, pendingContext) }
            if stop { break }
            if let newContext {
                lock.withLock { pendingContext = nil }
                context = newContext
                watcher.reload(settings: newContext.config.inbox, collections: newContext.collections)
                setLogLevel(logLevel(newContext.config.logLevel))
            }
            let ready = watcher.poll(timeout: .milliseconds(250))
            var start = 0
            while start < ready.count {
                var end = start
                var bytes: Int64 = 0
                let batch = context.config.store
                while end < ready.count && end - start < batch.batchFiles
                        && (bytes < batch.batchBytes || end == start) {
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
            case .stored(let outcome, let blob):
                stored += 1
                watcher.completed(file)
                logger.info("stored \(outcome.summary)", metadata: [
                    "collection": "\(file.collection)", "path": "\(file.relativePath)",
                    "version": "\(outcome.version.number)", "sha256": "\(outcome.version.digest.hex)",
                    "size": "\(outcome.version.size)", "dedup": "\(!blob.isNew)"])
            case .skipped:
                watcher.completed(file)
            case .changed:
                watcher.changed(file)
            case .vanished:
                watcher.completed(file)
            case .failed(let reason, _):
                watcher.failed(file, reason: reason)
            }
        }
    }

    func stop() { lock.withLock { stopRequested = true } }

    func reload(_ context: Context) { lock.withLock { pendingContext = context } }

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

/// SIGHUP: re-read the config and hand it to the loop and the dispatcher (those this node runs).
struct ReloadService: Service {
    let loop: IngestLoop?
    let dispatcher: EventDispatcher?
    let options: RootOptions
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            _ = notifier.reloading()
            do {
                let context = try Context.resolve(options)
                try dispatcher?.reload(webhooks: context.config.webhooks)
                loop?.reload(context)
                logger.notice("configuration reloaded: inbox, collections, log level and webhooks; [jobs], [http], [store] and [outbox] take effect at the next start",
                              metadata: ["config": "\(context.configPath ?? "defaults")", "webhooks": "\(context.config.webhooks.count)"])
            } catch {
                logger.error("configuration not reloaded; keeping the old one", metadata: ["error": "\(error)"])
            }
            _ = notifier.reloaded()
        }
    }
}

/// WATCHDOG=1 at half systemd's interval, with a fresh STATUS= line (every 5 s without a watchdog).
/// Says "ready" (log line and READY=1) from inside the service group, whose signal handling
/// is in place by then.
struct ReadyService: Service {
    let status: @Sendable () -> String
    let notifier: SystemdNotifier
    let root: String
    let node: String
    let role: String
    let logger: Logger

    func run() async throws {
        let status = self.status()
        logger.info("depot is serving", metadata: ["root": "\(root)", "node": "\(node)", "role": "\(role)", "status": "\(status)"])
        _ = notifier.ready(status: status)
    }
}

struct WatchdogService: Service {
    let status: @Sendable () -> String
    let notifier: SystemdNotifier

    func run() async throws {
        guard notifier.isActive else { return }
        let interval = notifier.watchdogInterval.map { $0 / 2 } ?? .seconds(5)
        var last = ""
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if notifier.watchdogInterval != nil { _ = notifier.watchdog() }
            let status = self.status()
            if status != last {
                _ = notifier.status(status)
                last = status
            }
        }
    }
}

/// Keeps state/daemon-status.json fresh (every 2 s) for `depot status`, and removes it at the end.
final class StatusFileWriter: Sendable {
    let path: String
    let state: @Sendable () -> DaemonState
    private let stopped = Mutex(false)

    init(path: String, state: @escaping @Sendable () -> DaemonState) {
        self.path = path
        self.state = state
    }

    func run() {
        while !stopped.withLock({ $0 }) {
            try? state().write(to: path)
            for _ in 0..<20 where !stopped.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.1) }
        }
        unlink(path)
    }

    func stop() { stopped.withLock { $0 = true } }
}
