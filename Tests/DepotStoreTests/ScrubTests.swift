import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Logging
import Testing

extension StoreFixture {
    /// Stores `bytes` as docs/NAME; returns its digest.
    @discardableResult
    func putBlob(_ name: String, _ bytes: [UInt8]) throws -> Digest { try put("docs/" + name, bytes).digest }

    /// Writes other bytes over a stored blob's file, as damage on disk would.
    func damage(_ digest: Digest, _ bytes: [UInt8]) throws {
        let path = store.path(of: digest)
        chmod(path, 0o644)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    func scrubber(period: String = "1d", interval: String = "1d", mibPerSecond: Int = 1000, secondCopy: String? = nil) throws -> Scrubber {
        var settings = ScrubSettings()
        settings.period = parseDuration(period)!
        settings.interval = parseDuration(interval)!
        settings.mibPerSecond = mibPerSecond
        settings.secondCopy = secondCopy
        return Scrubber(catalog: catalog, store: store, settings: settings, logger: Logger(label: "test.scrub"))
    }
}

@Suite struct ScrubTests {
    /// period 5 × interval: each slice reads a fifth of the bytes, in digest order, from where
    /// the last one stopped — also through a new Scrubber (a restart); the slice after the
    /// last blob ends the pass.
    @Test func aSliceReadsItsShareAndARestartGoesOnFromTheCursor() throws {
        let f = try StoreFixture()
        var digests: [Digest] = []
        for i in 0..<10 { digests.append(try f.putBlob("f\(i).bin", noise(65_536, seed: UInt64(100 + i)))) }
        digests.sort { $0.hex < $1.hex }
        #expect(try f.catalog.scrubProgress() == nil)
        for k in 0..<5 {
            // A new scrubber each time: all it knows is in the catalog.
            let slice = try f.scrubber(period: "5d", interval: "1d").slice()
            #expect(slice.blobs == 2 && slice.bytes == 131_072 && !slice.finishedPass, "slice \(k): \(slice)")
            #expect(try f.catalog.scrubState()?.cursor == digests[2 * k + 1].hex)
        }
        let progress = try #require(try f.catalog.scrubProgress())
        #expect(progress.pass == 1 && progress.checkedBlobs == 10 && progress.totalBlobs == 10 && progress.lastPassFinishedAt == nil)
        #expect(progress.summary.hasPrefix("pass 1: 100% (10 of 10 blobs"), "\(progress.summary)")
        let end = try f.scrubber(period: "5d", interval: "1d").slice()
        #expect(end.finishedPass && end.blobs == 0)
        let next = try #require(try f.catalog.scrubProgress())
        #expect(next.pass == 2 && next.checkedBlobs == 0 && next.lastPassFinishedAt != nil)
        #expect(next.summary.contains("last full pass ended"))
        // The next pass starts at the first blob again.
        try f.scrubber(period: "5d", interval: "1d").slice()
        #expect(try f.catalog.scrubState()?.cursor == digests[1].hex)
        // Due again only once `interval` has passed since the last slice began.
        #expect(try !f.scrubber(period: "5d", interval: "1d").isDue())
        #expect(try f.scrubber(period: "5d", interval: "1d").isDue(now: wallClockNanoseconds() + 86_400_000_000_000))
    }

    /// A flipped byte is found, marked (event, never served), counted in the progress; a
    /// second copy whose bytes are wrong heals nothing; one with the right bytes restores it.
    @Test func damageIsFoundAndHealedOnlyFromAnIntactSecondCopy() throws {
        let f = try StoreFixture()
        let bytes = noise(200_000, seed: 7)
        let digest = try f.putBlob("a.bin", bytes)
        try f.putBlob("b.bin", noise(1000, seed: 8))
        var bad = bytes
        bad[150_000] ^= 0x20
        try f.damage(digest, bad)

        let copy = f.dir.path + "/copy"
        let copied = SecondCopy(root: copy).path(of: digest)
        _ = try f.dir.write("copy/" + String(copied.dropFirst(copy.count + 1)), bad)
        var slice = try f.scrubber(period: "1s", interval: "1d", secondCopy: copy).slice()
        #expect(slice.damaged == [digest] && slice.healed.isEmpty && slice.blobs == 2)
        #expect(try f.catalog.damagedBlobs() == [digest])
        #expect(try f.eventTypes().filter { $0 == "blob.damaged" }.count == 1)
        #expect(try f.catalog.scrubProgress()?.summary.contains("found 1 damaged, 0 healed") == true)

        // The right bytes in the copy: the next pass restores the blob.
        try Data(bytes).write(to: URL(fileURLWithPath: copied))
        let scrubber = try f.scrubber(period: "1s", interval: "1d", secondCopy: copy)
        while !(try scrubber.slice().finishedPass) {}
        slice = try scrubber.slice()
        #expect(slice.healed == [digest] && slice.damaged.isEmpty)
        #expect(try f.store.readAll(digest) == bytes)
        #expect(try f.catalog.damagedBlobs().isEmpty)
        #expect(try f.eventTypes().contains("blob.healed"))
        // The copy is only read.
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: copied))) == bytes)
    }

    /// A blob found intact again (repaired by hand) is served again.
    @Test func aBlobFoundIntactLosesItsMark() throws {
        let f = try StoreFixture()
        let digest = try f.putBlob("a.bin", noise(5000, seed: 3))
        try f.catalog.markDamaged(digest, reason: "test")
        try f.scrubber(period: "1s").slice()
        #expect(try f.catalog.damagedBlobs().isEmpty)
    }

    /// At 1 MiB/s, 3 MiB take at least ~3 s (generously: 2.5 s), and a stop asked for while
    /// pacing ends the slice with the cursor at the last blob checked whole.
    @Test func theRateLimitIsHonouredAndAStopKeepsTheCursor() throws {
        let f = try StoreFixture()
        var digests: [Digest] = []
        for i in 0..<3 { digests.append(try f.putBlob("m\(i).bin", noise(1 << 20, seed: UInt64(40 + i)))) }
        digests.sort { $0.hex < $1.hex }
        let start = Date()
        let slice = try f.scrubber(period: "1s", mibPerSecond: 1).slice()
        let elapsed = Date().timeIntervalSince(start)
        #expect(slice.bytes == 3 << 20 && slice.blobs == 3)
        #expect(elapsed >= 2.5, "3 MiB read in \(elapsed) s at 1 MiB/s")

        let g = try StoreFixture()
        var others: [Digest] = []
        for i in 0..<3 { others.append(try g.putBlob("m\(i).bin", noise(1 << 20, seed: UInt64(50 + i)))) }
        others.sort { $0.hex < $1.hex }
        let stopAt = Date().addingTimeInterval(1.5)
        let stopped = try g.scrubber(period: "1s", mibPerSecond: 1).slice(shouldStop: { Date() > stopAt })
        #expect(stopped.stopped && stopped.blobs == 1, "\(stopped)")
        #expect(try g.catalog.scrubState()?.cursor == others[0].hex)
    }
}

@Suite struct MirrorRemovalTests {
    /// Only mirrored documents whose file is missing count; the clock survives across sweeps
    /// (it is in the catalog), and a file back on the share resets it.
    @Test func missingFilesGoToTheTrashAfterTheirTime() throws {
        let f = try StoreFixture()
        let catalog = f.catalog
        for (name, origin) in [("a.txt", "mirror"), ("b.txt", "mirror"), ("c.txt", "mirror"), ("up.txt", "api")] {
            let source = try f.dir.write("share/\(name)", Array(name.utf8))
            _ = f.ingestor.ingest([IngestItem(sourcePath: source, collection: "share", path: name, tags: [], disposition: .keep, origin: origin)])
        }
        var onShare: Set<String> = ["b.txt"]
        let t0 = wallClockNanoseconds()
        let hour: Int64 = 3_600_000_000_000
        func sweep(_ at: Int64) throws -> MirrorSweep {
            try catalog.sweepMirrorRemovals(collection: "share", after: .seconds(7200), trashDays: 30, now: at) { onShare.contains($0) }
        }
        var s = try sweep(t0)
        #expect(s.missing == 2 && s.trashed.isEmpty)
        onShare.insert("c.txt")  // back before its time: forgotten
        s = try sweep(t0 + hour)
        #expect(s.missing == 1 && s.trashed.isEmpty)
        onShare.remove("c.txt")
        s = try sweep(t0 + 2 * hour)
        #expect(s.trashed == ["a.txt"] && s.missing == 1)
        #expect(try catalog.documents(collection: "share").map(\.path).sorted() == ["b.txt", "c.txt", "up.txt"])
        #expect(try catalog.events(after: 0, limit: 100).contains { $0.type == "document.trashed" })
        // c.txt's clock started at its second absence.
        s = try sweep(t0 + 3 * hour)
        #expect(s.trashed.isEmpty && s.missing == 1)
        s = try sweep(t0 + 4 * hour)
        #expect(s.trashed == ["c.txt"])
        // A document put there otherwise (origin api) has no file on the share and stays.
        #expect(try catalog.documents(collection: "share").map(\.path).sorted() == ["b.txt", "up.txt"])
    }
}
