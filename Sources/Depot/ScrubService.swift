import DepotCore
import DepotStore
import Foundation
import Logging

/// Inside `depot serve`: a slice of the incremental scrub (`Scrubber`) whenever `[scrub]
/// interval` has passed since the last one began (saved in the catalog, so a restart neither
/// repeats nor skips one), the first shortly after start. A slice paced at `mib_per_second`
/// can take hours: it runs on a thread of its own, at background priority, and stops within a
/// chunk when the daemon does (its cursor is saved, the next slice goes on from there).
final class ScrubLoop: Sendable {
    let scrubber: Scrubber?
    let interval: Duration
    let logger: Logger
    private let stopSignal = StopSignal()
    /// Before the first slice: the daemon's start-up goes first.
    static let firstDelay: Duration = .seconds(5)

    init(context: Context, logger: Logger) throws {
        let settings = context.config.scrub
        interval = settings.interval
        self.logger = logger
        scrubber = settings.enabled
            ? Scrubber(catalog: try context.openCatalog(), store: try context.openStore(), settings: settings, logger: logger) : nil
        if let copy = settings.secondCopy, (try? statIfExists(copy + "/sha256")) == nil {
            logger.error("[scrub] second_copy has no sha256 folder: nothing can be healed from it until it has",
                         metadata: ["second_copy": "\(copy)"])
        }
    }

    func run() {
        guard let scrubber else {
            while stopSignal.sleep(.seconds(3600)) {}
            return
        }
        var wait = Self.firstDelay
        while stopSignal.sleep(wait) {
            do {
                if try scrubber.isDue() {
                    let slice = try scrubber.slice(shouldStop: { [stopSignal] in stopSignal.isSet })
                    logger.info("scrub slice done", metadata: [
                        "blobs": "\(slice.blobs)", "bytes": "\(slice.bytes)", "damaged": "\(slice.damaged.count)",
                        "healed": "\(slice.healed.count)", "pass_finished": "\(slice.finishedPass)"])
                }
            } catch {
                logger.error("scrub slice failed; trying again later", metadata: ["error": "\(error)"])
            }
            wait = min(interval, .seconds(60))
        }
    }

    func stop() { stopSignal.stop() }
}
