import DepotCore
import DepotStore
import Foundation
import Logging
import Synchronization

/// Inside `depot serve`, every `[retention] gc_interval` (the first time shortly after start):
/// applies the retention rules when `apply_interval` has passed since the last time, purges
/// what has been in the trash longer than `trash_days`, collects garbage past its grace
/// period, and records the day's storage sample (for days-until-full). Blocking work
/// (SQLite, unlink): it runs on a thread of its own, at background priority.
final class RetentionLoop: Sendable {
    let catalog: Catalog
    let collector: GarbageCollector
    let settings: RetentionSettings
    let logger: Logger
    let rules: @Sendable (String) throws -> RetentionRules
    private let stopRequested = Mutex(false)
    private let lastApply = Mutex<Int64?>(nil)
    /// Before the first round: the daemon's start-up (recovery, the first rescan) goes first.
    static let firstDelay: Duration = .seconds(5)

    init(context: Context, logger: Logger) throws {
        catalog = try context.openCatalog()
        settings = context.config.retention
        collector = GarbageCollector(catalog: catalog, store: try context.openStore(), grace: settings.gcGrace,
                                     logger: Logger(label: "depot.gc"))
        self.logger = logger
        let resolver = context.collections
        rules = { try resolver.settings(for: $0).retention }
    }

    func run() {
        // Off: the thread still lives until the stop, as the service group expects of its services.
        guard settings.gcInterval > .zero else {
            while sleep(.seconds(3600)) {}
            return
        }
        var wait = min(Self.firstDelay, settings.gcInterval)
        while sleep(wait) {
            round()
            wait = settings.gcInterval
        }
    }

    /// One round; a failure is logged and the next round tries again.
    func round() {
        do {
            let now = monotonicNanoseconds()
            if settings.applyInterval > .zero,
               lastApply.withLock({ $0.map { now - $0 >= settings.applyInterval.nanosecondsValue } ?? true }) {
                lastApply.withLock { $0 = now }
                let plan = try catalog.retentionPlan(rules: rules)
                let applied = try catalog.applyRetention(plan, trashDays: settings.trashDays)
                if applied.removed > 0 || !applied.refused.isEmpty {
                    logger.notice("retention rules applied", metadata: [
                        "removed": "\(applied.removed)", "bytes": "\(applied.removedBytes)", "refused": "\(applied.refused.count)"])
                }
            }
            let purged = try catalog.purgeTrash(before: wallClockNanoseconds() - settings.trashNanoseconds, trashDays: settings.trashDays)
            if purged.versions > 0 {
                logger.notice("purged the expired trash", metadata: ["documents": "\(purged.documents)", "versions": "\(purged.versions)"])
            }
            let report = try collector.run(dryRun: false)
            logger.debug("garbage collection done", metadata: [
                "removed": "\(report.removedBlobs)", "waiting": "\(report.waitingBlobs)", "orphans": "\(report.orphanFiles)"])
            try catalog.recordStorageSample()
        } catch {
            logger.error("retention round failed; trying again next round", metadata: ["error": "\(error)"])
        }
    }

    /// Sleeps `duration` in short steps; false once a stop was asked for.
    private func sleep(_ duration: Duration) -> Bool {
        let end = monotonicNanoseconds() + duration.nanosecondsValue
        while monotonicNanoseconds() < end {
            if stopRequested.withLock({ $0 }) { return false }
            Thread.sleep(forTimeInterval: min(0.1, Double(end - monotonicNanoseconds()) / 1e9))
        }
        return !stopRequested.withLock { $0 }
    }

    func stop() { stopRequested.withLock { $0 = true } }
}
