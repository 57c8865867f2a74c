import DepotCore
import DepotStore
import Foundation
import Logging
import Synchronization

/// Inside `depot serve`, every `[retention] gc_interval` (the first time shortly after start):
/// applies the retention rules when `apply_interval` has passed since the last time, purges
/// what has been in the trash longer than `trash_days`, moves to the trash the mirror-mode
/// documents whose file has been missing from the share longer than their `removed` says,
/// collects garbage past its grace
/// period, and records the day's storage sample (for days-until-full). Blocking work
/// (SQLite, unlink): it runs on a thread of its own, at background priority.
final class RetentionLoop: Sendable {
    let catalog: Catalog
    let collector: GarbageCollector
    let settings: RetentionSettings
    let logger: Logger
    let rules: @Sendable (String) throws -> RetentionRules
    let collections: CollectionSettingsResolver
    private let stopSignal = StopSignal()
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
        collections = resolver
    }

    func run() {
        // Off: the thread still lives until the stop, as the service group expects of its services.
        guard settings.gcInterval > .zero else {
            while stopSignal.sleep(.seconds(3600)) {}
            return
        }
        var wait = min(Self.firstDelay, settings.gcInterval)
        while stopSignal.sleep(wait) {
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
            sweepMirrorRemovals()
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

    /// `removed = "trash after D"` in each mirror-mode collection that says so. A collection
    /// folder that is missing or holds no file at all is taken for a share that is not
    /// mounted, and left alone: an unmounted share is not a removal.
    func sweepMirrorRemovals() {
        let inbox = collections.inbox
        for name in (try? FileManager.default.contentsOfDirectory(atPath: inbox)) ?? [] where !name.hasPrefix(".") {
            do {
                let collection = try collections.settings(for: name)
                guard collection.mode == .mirror, case .trashAfter(let after) = collection.removed else { continue }
                let folder = inbox + "/" + name
                guard try FileManager.default.contentsOfDirectory(atPath: folder).contains(where: { $0 != CollectionSettingsResolver.overrideFileName }) else {
                    logger.notice("mirror-mode collection folder is empty; taken for an unmounted share, nothing is trashed",
                                  metadata: ["collection": "\(name)"])
                    continue
                }
                let sweep = try catalog.sweepMirrorRemovals(collection: name, after: after, trashDays: settings.trashDays) { path in
                    // A file that cannot be looked at (permissions) counts as there: only a sure absence removes.
                    do { return try lstatIfExists(folder + "/" + path) != nil } catch { return true }
                }
                for path in sweep.trashed {
                    logger.notice("removed from the share: moved to the trash", metadata: ["collection": "\(name)", "path": "\(path)"])
                }
                for refusal in sweep.refused {
                    logger.warning("removed from the share, but kept: \(refusal)", metadata: ["collection": "\(name)"])
                }
            } catch {
                logger.error("mirror removals not applied", metadata: ["collection": "\(name)", "error": "\(error)"])
            }
        }
    }

    func stop() { stopSignal.stop() }
}

/// A stop asked of a background loop of the daemon (retention, scrub), and its sleeps that end
/// at the stop.
final class StopSignal: Sendable {
    private let requested = Mutex(false)

    var isSet: Bool { requested.withLock { $0 } }

    /// Sleeps `duration` in short steps; false once a stop was asked for.
    func sleep(_ duration: Duration) -> Bool {
        let end = monotonicNanoseconds() + duration.nanosecondsValue
        while monotonicNanoseconds() < end {
            if isSet { return false }
            Thread.sleep(forTimeInterval: min(0.1, Double(end - monotonicNanoseconds()) / 1e9))
        }
        return !isSet
    }

    func stop() { requested.withLock { $0 = true } }
}
