import ArgumentParser
import DepotCore
import DepotQueue
import DepotStore
import Foundation

/// `depot rm COLLECTION/PATH [--version N]`: move a document or a version to the trash.
struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Move a document (or one version, --version N) to the trash.",
        discussion: """
            It disappears from listings, the outbox and links at once, and stays in the trash for \
            [retention] trash_days (default 30) before it is purged: `depot trash restore` brings it back. \
            Its bytes are freed by `depot gc` once nothing else uses them. A version that is a document's \
            only one is removed with the document. In a mirror-mode collection, remove the file from the \
            share as well, or the next rescan stores it again.
            """)

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "COLLECTION/PATH of the document.")
    var path: String

    @Option(name: .long, help: "Only this version.")
    var version: Int?

    @Flag(name: .long, help: "Remove it although a governance hold covers it (admin; a compliance hold cannot be bypassed).")
    var bypassGovernance = false

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let (collection, inside) = try splitDocumentPath(path)
        let entry = try context.openCatalog().trash(collection: collection, path: inside, version: version,
                                                   trashDays: context.config.retention.trashDays,
                                                   guard: Catalog.pinsAndHolds(bypassGovernance: bypassGovernance))
        if output.json {
            try printJSON(entry)
        } else {
            print("moved to the trash: \(entry.name) (\(entry.versions) version\(entry.versions == 1 ? "" : "s"), "
                  + "\(humanBytes(entry.bytes)); purged after \(entry.expiresAt))")
        }
    }
}

/// `depot trash list|restore|empty`.
struct TrashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trash", abstract: "List, restore or empty the trash.",
        subcommands: [List.self, Restore.self, Empty.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "What the trash holds, oldest first.")
        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            let entries = try context.openCatalog().trashed(trashDays: context.config.retention.trashDays)
            if output.json {
                try printJSON(entries)
                return
            }
            printTable(["PATH", "VERSION", "VERSIONS", "SIZE", "TRASHED", "PURGED AFTER"], entries.map { e in
                [e.collection + "/" + e.path, e.version.map(String.init) ?? "all", "\(e.versions)", humanBytes(e.bytes),
                 e.trashedAt.description, e.expiresAt.description]
            })
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "restore", abstract: "Take a document or a version out of the trash.")
        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "COLLECTION/PATH of the document.")
        var path: String

        @Option(name: .long, help: "The version that was removed on its own (`depot trash list` shows it).")
        var version: Int?

        func run() throws {
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            let (collection, inside) = try splitDocumentPath(path)
            let entry = try context.openCatalog().restore(collection: collection, path: inside, version: version,
                                                         trashDays: context.config.retention.trashDays)
            if output.json { try printJSON(entry) } else { print("restored: \(entry.name)") }
        }
    }

    struct Empty: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "empty", abstract: "Delete what is in the trash for good (everything, or --expired only).",
            discussion: "The bytes go at the next `depot gc` once nothing else uses them (after its grace period).")
        @OptionGroup var rootOptions: RootOptions
        @OptionGroup var output: OutputOptions

        @Flag(name: .long, help: "Only what has been there longer than [retention] trash_days.")
        var expired = false

        func run() throws {
            let context = try Context.resolve(rootOptions)
            try context.requireInitialised()
            let settings = context.config.retention
            let cutoff = expired ? wallClockNanoseconds() - settings.trashNanoseconds : nil
            let report = try context.openCatalog().purgeTrash(before: cutoff, trashDays: settings.trashDays)
            if output.json {
                try printJSON(report)
            } else {
                print("purged \(report.documents) documents and \(report.versions) versions (\(humanBytes(report.bytes)))")
            }
        }
    }
}

/// `depot gc [--dry-run]`: remove blobs nothing references.
struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Remove blobs (originals and artifacts) that nothing in the catalog references.",
        discussion: """
            Two phases, like restic's prune: each unreferenced blob is marked with when it was first \
            found so, and removed only once it has been unreferenced for the grace period ([retention] \
            gc_grace, default 1d), so that an ingest or a job in flight never loses a blob it is about to \
            use. Versions in the trash still reference their blobs: `depot trash empty` first. \
            `depot serve` runs this every [retention] gc_interval.
            """)

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Flag(name: .long, help: "Print what would be removed and the bytes; change nothing.")
    var dryRun = false

    @Option(name: .long, help: "The grace period for this run (default: [retention] gc_grace), e.g. 0s, 1h, 7d.")
    var grace: String?

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        var period = context.config.retention.gcGrace
        if let grace {
            guard let parsed = parseDuration(grace), parsed >= .zero else {
                throw CommandFailure(.usage, "--grace: not a duration: \(grace) (e.g. 0s, 1h, 7d)")
            }
            period = parsed
        }
        let catalog = try context.openCatalog()
        let collector = GarbageCollector(catalog: catalog, store: try context.openStore(), grace: period)
        let report = try collector.run(dryRun: dryRun)
        if !dryRun { try catalog.recordStorageSample() }
        if output.json {
            try printJSON(report)
            return
        }
        if dryRun { for digest in report.removed { print("would remove \(digest)") } }
        print("\(report.referencedBlobs) blobs referenced (\(humanBytes(report.referencedBytes))); "
              + "\(report.unreferencedBlobs) unreferenced (\(humanBytes(report.unreferencedBytes)), \(report.orphanFiles) without a catalog row)")
        print("\(dryRun ? "would remove" : "removed") \(report.removedBlobs) blobs (\(humanBytes(report.removedBytes))); "
              + "\(report.waitingBlobs) wait out the grace period of \(formatDuration(period)) (\(humanBytes(report.waitingBytes)))")
    }
}

/// `depot stats` without a metric: how the store's bytes are used now (the storage part of
/// `GET /api/v1/stats`, from the same `StorageUsage`).
enum StorageUsageView {
    static func show(_ context: Context, json: Bool) throws {
        let usage = try context.openCatalog().storageUsage(store: try context.openStore())
        if json {
            try printJSON(usage)
            return
        }
        let rows: [[String]] = [
            ["documents", "\(usage.documents)"], ["versions", "\(usage.versions)"],
            ["logical", humanBytes(usage.logicalBytes)],
            ["stored (originals)", "\(humanBytes(usage.storedBytes)) in \(usage.storedBlobs) blobs"],
            ["artifacts", "\(humanBytes(usage.artifactBytes)) in \(usage.artifactBlobs) blobs"],
            ["dedup ratio", "\((usage.dedupRatio * 100).rounded() / 100)"],
            ["trash", "\(humanBytes(usage.trashBytes)) in \(usage.trashVersions) versions"],
            ["reclaimable by gc", "\(humanBytes(usage.reclaimableBytes)) in \(usage.reclaimableBlobs) blobs"],
            ["filesystem free", usage.filesystemFreeBytes.map(humanBytes) ?? "unknown"],
            ["growth per day", usage.growthBytesPerDay.map { humanBytes(Int64($0)) } ?? "unknown (fewer than 2 daily samples)"],
            ["days until full", usage.daysUntilFull.map { "\(Int($0.rounded()))" } ?? "not growing or unknown"],
        ]
        printTable(["FIGURE", "VALUE"], rows)
        for (title, groups) in [("COLLECTION", usage.byCollection), ("MEDIA TYPE", usage.byMediaType)] where !groups.isEmpty {
            print("")
            printTable([title, "DOCUMENTS", "VERSIONS", "LOGICAL", "STORED"], groups.map {
                [$0.name, "\($0.documents)", "\($0.versions)", humanBytes($0.logicalBytes), humanBytes($0.storedBytes)]
            })
        }
    }
}
