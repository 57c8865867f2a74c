import CoreMetrics
import DepotAnalytics
import Foundation
import DepotCore
import DepotQueue
import DepotStore
import Prometheus
import Synchronization

/// What the daemon lets the server read at scrape time and for /readyz. Every closure may
/// block (SQLite, stat); the server calls them on its thread pool.
public struct ServerProbes: Sendable {
    /// Watcher totals since start: inotify events, queue overflows, full rescans.
    public var watcherCounters: @Sendable () -> (events: Int, overflows: Int, rescans: Int)?
    /// Whether the watcher and ingest thread are running.
    public var watcherRunning: @Sendable () -> Bool
    /// The daemon as `depot status` shows it (pid, start, the watcher's line).
    public var daemonState: @Sendable () -> DaemonState

    public init(watcherCounters: @escaping @Sendable () -> (events: Int, overflows: Int, rescans: Int)? = { nil },
                watcherRunning: @escaping @Sendable () -> Bool = { true },
                daemonState: @escaping @Sendable () -> DaemonState = { DaemonState(running: true, pid: Int(getpid())) }) {
        self.watcherCounters = watcherCounters
        self.watcherRunning = watcherRunning
        self.daemonState = daemonState
    }
}

/// The metrics the HTTP server owns, in one Prometheus registry that `/metrics` renders.
/// `depot serve` bootstraps swift-metrics with a factory over the same registry, so what the
/// ingest loop and the job workers emit through the facade shows up here too.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let watcherSeen = Mutex<(events: Int, overflows: Int, rescans: Int)>((0, 0, 0))

    let bytesServed: Prometheus.Counter
    let linkRejections: Prometheus.Counter
    let watcherEvents: Prometheus.Counter
    let watcherOverflows: Prometheus.Counter
    let watcherRescans: Prometheus.Counter
    let logicalBytes: Prometheus.Gauge
    let physicalBytes: Prometheus.Gauge
    let documents: Prometheus.Gauge
    let versions: Prometheus.Gauge
    /// depot_downloads_total for the statuses a download is answered with, made once: a
    /// registry lookup per request costs more than the count.
    private let downloadsByStatus: [Int: Prometheus.Counter]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        func counter(_ name: String, _ help: String) -> Prometheus.Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
        }
        func gauge(_ name: String, _ help: String) -> Prometheus.Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
        }
        bytesServed = counter("depot_download_bytes_total", "Bytes of blob bodies sent to download clients.")
        linkRejections = counter("depot_link_rejections_total", "Download links refused: bad, tampered, expired or revoked.")
        watcherEvents = counter("depot_watcher_events_total", "inotify events read by the inbox watcher.")
        watcherOverflows = counter("depot_watcher_overflows_total", "inotify queue overflows (each forces a full rescan).")
        watcherRescans = counter("depot_watcher_rescans_total", "Full rescans of the inbox, the one at start-up included.")
        logicalBytes = gauge("depot_store_logical_bytes", "Sum of every version's size: the bytes without deduplication.")
        physicalBytes = gauge("depot_store_physical_bytes", "Sum of the distinct blobs' sizes: the bytes the store holds.")
        documents = gauge("depot_documents", "Documents in the catalog.")
        versions = gauge("depot_versions", "Versions in the catalog.")
        downloadsByStatus = Dictionary(uniqueKeysWithValues: [200, 206, 304, 403, 416, 429, 500].map {
            ($0, Self.downloadCounter(registry, status: $0))
        })
    }

    /// The swift-metrics factory over this registry: `depot serve` bootstraps the facade with it.
    public var factory: PrometheusMetricsFactory { PrometheusMetricsFactory(registry: registry) }

    /// The same, as the facade's protocol (for `MetricsSystem.bootstrap`).
    public var metricsFactory: any CoreMetrics.MetricsFactory { factory }

    /// Increments a counter the way a facade user does (no help text), for tests.
    func incrementThroughFacade(_ label: String, _ dimensions: [(String, String)]) {
        factory.makeCounter(label: label, dimensions: dimensions).increment(by: 1)
    }

    static let downloadsHelp = "Download requests answered, by HTTP status."
    static let queueHelp = "Jobs waiting to be done, by state (waiting, queued, running, retrying)."
    static let jobsHelp = "Jobs in the catalog, by state (every state, finished ones included)."

    func download(status: Int) {
        (downloadsByStatus[status] ?? Self.downloadCounter(registry, status: status)).increment()
    }

    private static func downloadCounter(_ registry: PrometheusCollectorRegistry, status: Int) -> Prometheus.Counter {
        registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "depot_downloads_total", unitName: "", helpText: downloadsHelp),
                             labels: [("status", String(status))])
    }

    /// Brings the scrape-time figures up to date: catalog totals, queue depth, the nodes, watcher totals.
    /// Blocks (SQLite).
    func refresh(queue: JobQueue, store: (any BlobStore)? = nil, probes: ServerProbes) {
        if let usage = try? queue.catalog.storageUsage(store: store) {
            logicalBytes.set(usage.logicalBytes)
            physicalBytes.set(usage.storedBytes)
            documents.set(Int64(usage.documents))
            versions.set(Int64(usage.versions))
            refreshStorage(usage)
        }
        // Every state is exported (0 included) so that a dashboard's series never vanish:
        // the queue's own vocabulary, the same the API and the CLI show.
        if let counts = try? queue.counts() {
            for (state, n) in counts {
                // The depth is what is still to be done; the finished are only counted.
                if !state.isFinished {
                    registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_queue_depth", unitName: "", helpText: Self.queueHelp),
                                       labels: [("state", state.rawValue)]).set(Int64(n))
                }
                registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "depot_jobs", unitName: "", helpText: Self.jobsHelp),
                                   labels: [("state", state.rawValue)]).set(Int64(n))
            }
        }
        if let nodes = try? queue.catalog.nodes() { refreshNodes(nodes) }
        if let now = probes.watcherCounters() {
            let before = watcherSeen.withLock { seen in
                defer { seen = now }
                return seen
            }
            // The watcher keeps totals; counters only go up, so add what is new since the last scrape.
            if now.events > before.events { watcherEvents.increment(by: Int64(now.events - before.events)) }
            if now.overflows > before.overflows { watcherOverflows.increment(by: Int64(now.overflows - before.overflows)) }
            if now.rescans > before.rescans { watcherRescans.increment(by: Int64(now.rescans - before.rescans)) }
        }
    }

    /// The registry in the Prometheus text format, with a HELP line added for every family that
    /// came through the swift-metrics facade (which has no help text): `promtool check metrics`
    /// requires one.
    func render() -> String {
        let text = registry.emitToString()
        var out: [Substring] = []
        var lastHelp: Substring?
        var extra: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# HELP ") {
                lastHelp = line.dropFirst(7).split(separator: " ", maxSplits: 1).first
            } else if line.hasPrefix("# TYPE ") {
                let name = line.dropFirst(7).split(separator: " ").first ?? ""
                if lastHelp != name {
                    extra.append("# HELP \(name) \(Self.facadeHelp[String(name)] ?? "depot metric \(name).")")
                    out.append(Substring(extra[extra.count - 1]))
                }
                lastHelp = nil
            }
            out.append(line)
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// Help texts of the metrics other parts emit through the swift-metrics facade.
    static let facadeHelp: [String: String] = [
        "depot_ingests_total": "Files taken in (inbox, depot ingest, uploads), by collection and outcome (created, versioned, unchanged, failed).",
        "depot_uploads_total": "Uploads that ended, by outcome (stored, refused, terminated, expired).",
        "depot_upload_bytes_total": "Bytes of uploads stored.",
        "depot_ingested_bytes_total": "Bytes of files ingested.",
        "depot_dedup_hits_total": "Ingested files whose bytes were stored already.",
        "depot_blobs_healed_total": "Stored blobs found damaged on a dedup hit and replaced by the incoming good copy.",
        "depot_blobs_damaged_total": "Stored blobs found damaged or missing (by depot verify); never served until healed.",
        "depot_versions_created_total": "Versions created (new documents included).",
        "depot_job_duration_seconds": "Job run time, by kind and media type.",
        "depot_worker_crashes_total": "Worker processes that crashed.",
        "depot_jobs_finished_total": "Jobs finished, by kind and state.",
        "depot_worker_replacements_total": "Worker processes replaced because their memory stayed high after a job.",
        "depot_events_dispatched_total": "Events dispatched from the event log (outbox, events.jsonl, webhooks).",
        "depot_outbox_published_total": "Document folders published into the outbox.",
        "depot_webhook_deliveries_total": "Webhook delivery attempts, by outcome (delivered, retry, dead).",
        "depot_analytics_record_seconds_total": "Wall time the analytics recorder spent recording events into the roll-ups.",
        "depot_analytics_events_recorded_total": "Events the analytics recorder recorded into the roll-ups.",
    ]
}
