import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// A real store and a real catalog in a temp root.
private struct Fixture {
    let dir = TemporaryDirectory()
    let store: LocalBlobStore
    let catalog: Catalog
    let ingestor: Ingestor

    init() throws {
        store = try LocalBlobStore(blobs: dir.path + "/store/blobs", temp: dir.path + "/store/tmp")
        catalog = try makeCatalog(.sqliteFile, in: dir)
        ingestor = Ingestor(store: store, catalog: catalog)
    }

    func item(_ relative: String, _ disposition: IngestItem.Disposition = .consume) -> IngestItem {
        let parts = relative.split(separator: "/").map(String.init)
        return IngestItem(sourcePath: dir.path + "/inbox/" + relative, collection: parts[0],
                          path: parts.dropFirst().joined(separator: "/"), tags: Array(parts.dropFirst().dropLast()),
                          disposition: disposition, origin: disposition == .consume ? "inbox" : "mirror")
    }

    /// Every blob the catalog names is in the store with its recorded size and hash.
    func catalogPointsOnlyAtGoodBlobs() throws -> Bool {
        try catalog.blobs().allSatisfy { try store.size(of: $0.digest) == $0.size && store.verify($0.digest) }
    }
}

@Suite struct IngestorTests {
    @Test func consumeStoresThenRemovesTheSource() throws {
        let f = try Fixture()
        let bytes = noise(10_000, seed: 4)
        let source = try f.dir.write("inbox/docs/physics/week1/a.bin", bytes)
        let expected = try coreutilsSHA256(source)
        let results = f.ingestor.ingest([f.item("docs/physics/week1/a.bin")])
        guard case .stored(.created(let v), blob: .new) = results[0] else {
            Issue.record("expected a new document, got \(results)")
            return
        }
        #expect(v.digest.hex == expected)
        #expect(try statIfExists(source) == nil)
        #expect(try f.store.readAll(v.digest) == bytes)
        #expect(try f.catalog.documents(collection: "docs")[0].tags == ["physics", "week1"])
        #expect(try f.catalogPointsOnlyAtGoodBlobs())
    }

    @Test func keepLeavesTheSourceAndSkipsItWhenUnchanged() throws {
        let f = try Fixture()
        let source = try f.dir.write("inbox/share/report.txt", "first draft")
        let first = f.ingestor.ingest([f.item("share/report.txt", .keep)])
        #expect(first[0] == .stored(.created(first[0].storedVersion!), blob: .new))
        #expect(try statIfExists(source) != nil)
        // Same size and mtime: not read again (rsync's quick check).
        guard case .skipped = f.ingestor.ingest([f.item("share/report.txt", .keep)])[0] else {
            Issue.record("expected skipped")
            return
        }
        try f.dir.write("inbox/share/report.txt", "second draft, longer")
        let third = f.ingestor.ingest([f.item("share/report.txt", .keep)])
        #expect(third[0].storedVersion?.number == 2)
        #expect(try f.catalog.versions(collection: "share", path: "report.txt").count == 2)
    }

    @Test func duplicateBytesAcrossPathsShareOneBlob() throws {
        let f = try Fixture()
        try f.dir.write("inbox/a/x.bin", noise(4096, seed: 1))
        try f.dir.write("inbox/b/y.bin", noise(4096, seed: 1))
        let results = f.ingestor.ingest([f.item("a/x.bin"), f.item("b/y.bin")])
        #expect(results.map { $0.blob } == [.new, .existing])
        #expect(try f.store.allDigests().count == 1)
        #expect(try f.catalog.stats().documents == 2)
    }

    @Test func aBatchWhoseCatalogCommitFailsLeavesEverySourceInPlace() throws {
        let f = try Fixture()
        let a = try f.dir.write("inbox/docs/a.txt", "alpha")
        let b = try f.dir.write("inbox/docs/b.txt", "beta")
        try f.catalog.database.write { tx in
            try tx.execute("""
                CREATE TRIGGER injected BEFORE INSERT ON documents WHEN NEW.path = 'b.txt'
                BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
                """)
        }
        let results = f.ingestor.ingest([f.item("docs/a.txt"), f.item("docs/b.txt")])
        for result in results {
            guard case .failed(_, transient: true) = result else {
                Issue.record("expected a transient failure, got \(result)")
                continue
            }
        }
        // Durability order: no source removed, no catalog row; blobs may exist (orphans).
        #expect(try statIfExists(a) != nil)
        #expect(try statIfExists(b) != nil)
        #expect(try f.catalog.stats().versions == 0)
        #expect(try listDirectory(f.dir.path + "/store/tmp").isEmpty)
        // The orphan blobs were linked from the sources, which stay: they got inodes of their own.
        let sourceInodes = Set([a, b].map { (try? statIfExists($0))??.st_ino })
        for digest in try f.store.allDigests() {
            #expect(!sourceInodes.contains(try statIfExists(f.store.path(of: digest))?.st_ino))
        }
    }

    @Test func aFileStillOpenForWritingStaysAndIsRetried() throws {
        let f = try Fixture()
        let source = try f.dir.write("inbox/docs/upload.bin", noise(8_000, seed: 6))
        let writer = open(source, O_WRONLY | O_APPEND)
        #expect(writer >= 0)
        guard case .failed(let reason, transient: true) = f.ingestor.ingest([f.item("docs/upload.bin")])[0] else {
            Issue.record("expected a transient failure")
            return
        }
        #expect(reason.contains("open for writing"))
        #expect(try statIfExists(source) != nil)
        close(writer)
        #expect(f.ingestor.ingest([f.item("docs/upload.bin")])[0].storedVersion != nil)
        #expect(try statIfExists(source) == nil)
        #expect(try f.catalogPointsOnlyAtGoodBlobs())
    }

    @Test func aFileThatCannotBeStoredStaysWithAClearReason() throws {
        let f = try Fixture()
        let fifo = f.dir.path + "/inbox/docs/pipe"
        try makeDirectories(directoryName(fifo))
        #expect(mkfifo(fifo, 0o644) == 0)
        try f.dir.write("inbox/docs/ok.txt", "fine")
        let results = f.ingestor.ingest([f.item("docs/pipe"), f.item("docs/ok.txt")])
        guard case .failed(let reason, _) = results[0] else {
            Issue.record("expected failure, got \(results[0])")
            return
        }
        #expect(reason.contains("not a regular file"))
        #expect(results[1].storedVersion != nil)
        #expect(try statIfExists(fifo) != nil)
    }

    @Test func aVanishedFileIsReportedAsSuch() throws {
        let f = try Fixture()
        #expect(f.ingestor.ingest([f.item("docs/never-there.txt")]) == [.vanished])
    }
}

extension IngestResult {
    var storedVersion: VersionInfo? {
        if case .stored(let outcome, _) = self { return outcome.version }
        return nil
    }

    var blob: BlobCommit? {
        if case .stored(_, let blob) = self { return blob }
        return nil
    }
}
