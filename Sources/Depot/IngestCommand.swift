import ArgumentParser
import DepotCore
import DepotStore
import DepotWatch
import Foundation
import Logging

/// `depot ingest PATH…`: a one-shot import of files or trees (a NAS export, an old archive).
struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Import files or folder trees into a collection.",
        discussion: """
            A folder's files keep their paths relative to it, and its subfolders become tags.
            Sources are copied (one read pass hashes and copies); --move removes each source
            once it is stored (on the store's filesystem without copying its bytes).
            A file whose size and mtime match its current version is not read again.
            """)

    @OptionGroup var rootOptions: RootOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .shortAndLong, help: "The collection to import into (default: the inbox collection PATH lies in).")
    var collection: String?

    @Flag(name: .long, help: "Remove each source once it is safely stored.")
    var move = false

    @Argument(help: "Files or folders to import.")
    var paths: [String]

    func run() throws {
        let context = try Context.resolve(rootOptions)
        bootstrapLogging(level: logLevel(context.config.logLevel))
        let logger = Logger(label: "depot.ingest")
        let ingestor = try context.ingestor(logger: logger)
        try ingestor.store.removeLeftovers()

        var items: [(item: IngestItem, size: Int64)] = []
        var skippedNames = 0
        for raw in paths {
            let path = absolutePath(raw)
            let (name, prefix) = try target(for: path, layout: context.layout)
            try validateCollectionName(name, source: "--collection")
            let rules = IgnoreRules(try context.collections.settings(for: name).ignore)
            guard let st = try statIfExists(path) else { throw CommandFailure(.noInput, "\(raw) does not exist") }
            if st.st_mode & S_IFMT == S_IFDIR {
                TreeScanner.walk(absolutePath: path, relativePath: prefix, visit: { entry in
                    if rules.ignores(name: entry.name) {
                        skippedNames += 1
                        return false
                    }
                    if entry.isRegularFile {
                        items.append((makeItem(source: path + "/" + String(entry.relativePath.dropFirst(prefix.isEmpty ? 0 : prefix.count + 1)),
                                               collection: name, relative: entry.relativePath), Int64(entry.status.st_size)))
                    }
                    return true
                }, onError: { error in
                    logger.warning("cannot read folder; skipping it", metadata: ["error": "\(error)"])
                })
            } else if rules.ignores(name: baseName(path)) {
                // The same rules as the inbox's: a partial upload named on the command line is
                // not taken either.
                logger.warning("ignored: its name matches the collection's ignore list", metadata: ["path": "\(path)"])
                skippedNames += 1
            } else {
                let relative = prefix.isEmpty ? baseName(path) : prefix
                items.append((makeItem(source: path, collection: name, relative: relative), Int64(st.st_size)))
            }
        }

        let summary = runBatches(items, ingestor: ingestor, settings: context.config.store)
        summary.skippedNames = skippedNames
        if output.json {
            try printJSON(summary.report)
        } else {
            print(summary.text)
        }
        if !summary.failures.isEmpty { throw ExitCode(CommandFailure.Status.ioError.rawValue) }
    }

    /// The collection and the path prefix inside it for one argument.
    private func target(for path: String, layout: RootLayout) throws -> (String, String) {
        if let collection { return (collection, "") }
        let inbox = layout.inbox + "/"
        if path.hasPrefix(inbox) {
            let inside = path.dropFirst(inbox.count).split(separator: "/", omittingEmptySubsequences: true)
            if let first = inside.first {
                return (String(first), inside.dropFirst().joined(separator: "/"))
            }
        }
        throw ValidationError("say which collection to import into: --collection NAME")
    }

    private func makeItem(source: String, collection: String, relative: String) -> IngestItem {
        let folders = relative.split(separator: "/").dropLast().map(String.init)
        return IngestItem(sourcePath: source, collection: collection, path: relative, tags: folders,
                          disposition: move ? .consume : .keep, origin: "import:" + source)
    }

    private func runBatches(_ items: [(item: IngestItem, size: Int64)], ingestor: Ingestor, settings: StoreSettings) -> IngestSummary {
        let summary = IngestSummary()
        let total = items.reduce(Int64(0)) { $0 + $1.size }
        let progress = Progress(label: "ingest", total: total)
        var done: Int64 = 0
        var start = 0
        while start < items.count {
            var end = start
            var bytes: Int64 = 0
            while end < items.count && end - start < settings.batchFiles && (bytes < settings.batchBytes || end == start) {
                bytes += items[end].size
                end += 1
            }
            let batch = Array(items[start..<end])
            let results = ingestor.ingest(batch.map(\.item))
            for (entry, result) in zip(batch, results) { summary.add(entry.item, result) }
            done += bytes
            progress.update(done: done, detail: "\(end)/\(items.count) files")
            start = end
        }
        progress.finish()
        return summary
    }
}

/// Counts of what an import did.
final class IngestSummary {
    var files = 0, created = 0, versioned = 0, unchanged = 0, skippedNames = 0, newBlobs = 0, healed = 0
    var bytesRead: Int64 = 0, bytesStored: Int64 = 0
    var failures: [(path: String, reason: String)] = []

    func add(_ item: IngestItem, _ result: IngestResult) {
        files += 1
        switch result {
        case .stored(let outcome, let blob):
            bytesRead += outcome.version.size
            if blob == .healed { healed += 1 }
            if blob.isNew {
                newBlobs += 1
                bytesStored += outcome.version.size
            }
            switch outcome {
            case .created: created += 1
            case .versioned: versioned += 1
            case .unchanged: unchanged += 1
            }
        case .skipped:
            unchanged += 1
        case .changed:
            failures.append((item.sourcePath, "changed while it was read; run again once it is complete"))
        case .vanished:
            failures.append((item.sourcePath, "vanished before it could be read"))
        case .failed(let reason, _):
            failures.append((item.sourcePath, reason))
        }
    }

    var text: String {
        var lines = ["\(files) files: \(created) new documents, \(versioned) new versions, \(unchanged) unchanged, \(failures.count) failed",
                     "read \(humanBytes(bytesRead)), stored \(humanBytes(bytesStored)) new (\(newBlobs) new blobs)"]
        if healed > 0 { lines.append("\(healed) damaged stored copies replaced by the good bytes just read") }
        if skippedNames > 0 { lines.append("\(skippedNames) ignored names (partial uploads, OS litter, dotfiles) skipped") }
        for failure in failures { lines.append("failed: \(failure.path): \(failure.reason)") }
        return lines.joined(separator: "\n")
    }

    /// What `--json` prints.
    struct Report: Encodable {
        struct Failure: Encodable { var path: String; var reason: String }
        var files, created, versioned, unchanged, ignored, newBlobs, healed: Int
        var bytesRead, bytesStored: Int64
        var failures: [Failure]
        enum CodingKeys: String, CodingKey {
            case files, created, versioned, unchanged, ignored, failures
            case healed, newBlobs = "new_blobs", bytesRead = "bytes_read", bytesStored = "bytes_stored"
        }
    }

    var report: Report {
        Report(files: files, created: created, versioned: versioned, unchanged: unchanged, ignored: skippedNames, newBlobs: newBlobs, healed: healed,
               bytesRead: bytesRead, bytesStored: bytesStored, failures: failures.map { .init(path: $0.path, reason: $0.reason) })
    }
}
