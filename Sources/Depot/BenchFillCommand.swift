import ArgumentParser
import DepotCore
import DepotStore
import Foundation

/// `depot bench-fill`: a synthetic catalog for bench/gc.sh, made through the store's own API
/// (blobs staged and committed by the blob store, versions recorded by the catalog, removals
/// through the trash), so the figures measure the real tables and indexes. Not for users:
/// hidden from the help.
struct BenchFillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-fill", abstract: "Fill a root with a synthetic catalog (bench/gc.sh).", shouldDisplay: false)

    @OptionGroup var rootOptions: RootOptions

    @Option(name: .long, help: "Versions to record.") var versions = 1_000_000
    @Option(name: .long, help: "Distinct small blobs they share.") var blobs = 200_000
    @Option(name: .long, help: "Documents the versions belong to.") var documents = 200_000
    @Option(name: .long, help: "Every Nth document is removed and purged, so GC has garbage (0: none).") var purgeEvery = 10

    func run() throws {
        let context = try Context.resolve(rootOptions)
        try context.requireInitialised()
        let store = try context.openStore()
        // The catalog alone: no job pipeline for a million synthetic versions.
        let catalog = Catalog(database: try context.openDatabase(durability: .normal))
        // One source file per blob of a batch: a store may read its sources again at commit.
        let batchSize = 2000
        let scratch = (0..<batchSize).map { context.layout.storeTemp + "/bench-fill-\(getpid())-\($0)" }
        defer { for path in scratch { unlink(path) } }
        var digests: [Digest] = []
        digests.reserveCapacity(blobs)
        var staged: [StagedBlob] = []
        let started = monotonicNanoseconds()
        for i in 0..<blobs {
            let bytes = Array("depot bench blob \(i) ".utf8) + [UInt8](repeating: UInt8(i % 251), count: 64 + i % 193)
            let path = scratch[staged.count]
            // A new file each time: ext4 flushes a file truncated and rewritten when it is closed.
            unlink(path)
            // Plain write(2): Foundation's Data.write fsyncs, and this file is only a source.
            let fd = try sysCall("open", path: path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
            try bytes.withUnsafeBytes { try writeFully(fd, $0, path: path) }
            close(fd)
            let blob = try store.stage(BlobSource(path: path, mayLink: false))
            staged.append(blob)
            digests.append(blob.digest)
            if staged.count == batchSize || i == blobs - 1 {
                _ = try store.commit(staged)
                staged.removeAll(keepingCapacity: true)
            }
        }
        FileHandle.standardError.write(Data("bench-fill: \(blobs) blobs in \(elapsed(started)) s\n".utf8))
        let perDocument = max(1, versions / documents)
        var batch: [IngestRecord] = []
        var recorded = 0
        for k in 0..<perDocument {
            for d in 0..<documents where recorded < versions {
                // Consecutive versions of a document differ; each blob is shared by several versions.
                let digest = digests[(d &* 5 &+ k) % blobs]
                let size = Int64(64 + ((d &* 5 &+ k) % blobs) % 193) + Int64("depot bench blob \((d &* 5 &+ k) % blobs) ".utf8.count)
                batch.append(IngestRecord(collection: "c\(d % 4)", path: "folder\(d % 100)/doc\(d).txt", digest: digest, size: size,
                                          sourceMtimeNanoseconds: 0, origin: "bench", tags: [], mediaType: "text/plain"))
                recorded += 1
                if batch.count == 10_000 {
                    _ = try catalog.record(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
        }
        if !batch.isEmpty { _ = try catalog.record(batch) }
        FileHandle.standardError.write(Data("bench-fill: \(recorded) versions in \(elapsed(started)) s\n".utf8))
        if purgeEvery > 0 {
            for d in stride(from: 0, to: documents, by: purgeEvery) {
                try catalog.trash(collection: "c\(d % 4)", path: "folder\(d % 100)/doc\(d).txt", version: nil, trashDays: 0)
            }
            let report = try catalog.purgeTrash(before: nil, trashDays: 0)
            FileHandle.standardError.write(Data("bench-fill: purged \(report.documents) documents in \(elapsed(started)) s\n".utf8))
        }
    }

    private func elapsed(_ since: Int64) -> String { "\(Double(monotonicNanoseconds() - since) / 1e9)" }
}
