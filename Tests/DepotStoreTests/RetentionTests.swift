import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// A real local store and a real SQLite catalog, with an ingestor over them (the retention
/// and scrub suites share it).
struct StoreFixture {
    let dir = TemporaryDirectory()
    let store: LocalBlobStore
    let catalog: Catalog
    let ingestor: Ingestor

    init() throws {
        store = try LocalBlobStore(blobs: dir.path + "/store/blobs", temp: dir.path + "/store/tmp")
        catalog = try makeCatalog(.sqliteFile, in: dir)
        ingestor = Ingestor(store: store, catalog: catalog)
    }

    /// Stores `bytes` as COLLECTION/PATH through the real ingest (a kept file, so it may be stored again).
    @discardableResult
    func put(_ relative: String, _ bytes: [UInt8]) throws -> VersionInfo {
        let parts = relative.split(separator: "/").map(String.init)
        let source = try dir.write("src/\(UUID().uuidString)", bytes)
        let result = ingestor.ingest([IngestItem(sourcePath: source, collection: parts[0], path: parts.dropFirst().joined(separator: "/"),
                                                 tags: [], disposition: .consume, origin: "inbox")])
        guard case .stored(let outcome, _) = result[0] else { throw TestFailure("not stored: \(result[0])") }
        return outcome.version
    }

    /// Stores bytes as an artifact of a version (as a job's result is recorded).
    @discardableResult
    func artifact(_ kind: String, of version: VersionInfo, _ bytes: [UInt8]) throws -> ArtifactInfo {
        let source = try dir.write("src/\(UUID().uuidString)", bytes)
        let staged = try store.stage(BlobSource(path: source, mayLink: false))
        _ = try store.commit([staged])
        return try catalog.database.write { tx in
            try catalog.recordArtifacts([ArtifactInfo(versionID: version.id, kind: kind, mimeType: "text/plain", digest: staged.digest,
                                                      size: staged.size, producer: "test", producerVersion: "1")], in: tx)[0]
        }
    }

    func eventTypes() throws -> [String] { try catalog.events(after: 0, limit: 10_000).map(\.type) }
}

@Suite struct TrashTests {
    @Test func aTrashedDocumentIsHiddenEverywhereAndComesBackWhenRestored() throws {
        let f = try StoreFixture()
        let v1 = try f.put("docs/a.txt", Array("one".utf8))
        try f.put("docs/b.txt", Array("other".utf8))
        let entry = try f.catalog.trash(collection: "docs", path: "a.txt", version: nil, trashDays: 30)
        #expect(entry.kind == .document && entry.versions == 1 && entry.bytes == 3)
        #expect(entry.expiresAt.nanoseconds - entry.trashedAt.nanoseconds == 30 * 86_400 * 1_000_000_000)
        #expect(try f.catalog.documents(collection: nil).map(\.path) == ["b.txt"])
        #expect(try f.catalog.currentVersion(collection: "docs", path: "a.txt") == nil)
        #expect(try f.catalog.versions(collection: "docs", path: "a.txt").isEmpty)
        #expect(try f.catalog.document(id: v1.documentID) == nil)
        // A link resolves through storedFile: nothing is served.
        #expect(try f.catalog.database.read { try f.catalog.storedFile(version: v1.id, in: $0) } == nil)
        #expect(try f.catalog.trashed(trashDays: 30).map(\.name) == ["docs/a.txt"])
        // Removing it again: it is not there any more.
        #expect(throws: TrashError.notFound("no document docs/a.txt")) {
            try f.catalog.trash(collection: "docs", path: "a.txt", version: nil, trashDays: 30)
        }

        try f.catalog.restore(collection: "docs", path: "a.txt", version: nil, trashDays: 30)
        #expect(try f.catalog.documents(collection: nil).map(\.path) == ["a.txt", "b.txt"])
        #expect(try f.catalog.database.read { try f.catalog.storedFile(version: v1.id, in: $0) }?.digest == v1.digest)
        #expect(try f.catalog.trashed(trashDays: 30).isEmpty)
        #expect(try f.eventTypes().filter { $0.hasPrefix("document.") } == ["document.trashed", "document.restored"])
    }

    @Test func aTrashedVersionMovesTheCurrentVersionBackAndKeepsItsNumber() throws {
        let f = try StoreFixture()
        try f.put("docs/a.txt", Array("one".utf8))
        let v2 = try f.put("docs/a.txt", Array("two".utf8))
        #expect(v2.number == 2)
        try f.catalog.trash(collection: "docs", path: "a.txt", version: 2, trashDays: 30)
        let current = try #require(try f.catalog.currentVersion(collection: "docs", path: "a.txt"))
        #expect(current.number == 1)
        #expect(try f.catalog.documents(collection: "docs")[0].versionCount == 1)
        // The only live version cannot go on its own.
        #expect(throws: TrashError.self) { try f.catalog.trash(collection: "docs", path: "a.txt", version: 1, trashDays: 30) }
        // A new file gets a number after the one in the trash.
        let v3 = try f.put("docs/a.txt", Array("three".utf8))
        #expect(v3.number == 3)
        try f.catalog.restore(collection: "docs", path: "a.txt", version: 2, trashDays: 30)
        #expect(try f.catalog.versions(collection: "docs", path: "a.txt").map(\.number) == [1, 2, 3])
        #expect(try f.catalog.currentVersion(collection: "docs", path: "a.txt")?.number == 3)
    }

    @Test func aFileDroppedAtATrashedPathBringsTheDocumentBackWithOnlyTheNewVersion() throws {
        let f = try StoreFixture()
        try f.put("docs/a.txt", Array("one".utf8))
        try f.catalog.trash(collection: "docs", path: "a.txt", version: nil, trashDays: 30)
        // The same bytes as the trashed version: still a new version, since the old one is in the trash.
        let again = try f.put("docs/a.txt", Array("one".utf8))
        #expect(again.number == 2)
        #expect(try f.catalog.versions(collection: "docs", path: "a.txt").map(\.number) == [2])
        #expect(try f.catalog.trashed(trashDays: 30).map(\.name) == ["docs/a.txt version 1"])
    }

    @Test func purgingDeletesOnlyWhatIsDueAndLeavesTheBlobsToTheCollector() throws {
        let f = try StoreFixture()
        let old = try f.put("docs/old.txt", Array("old bytes".utf8))
        try f.artifact("text.txt", of: old, Array("extracted".utf8))
        try f.put("docs/new.txt", Array("new bytes".utf8))
        try f.catalog.trash(collection: "docs", path: "old.txt", version: nil, trashDays: 30)
        let cutoff = wallClockNanoseconds()
        try f.catalog.trash(collection: "docs", path: "new.txt", version: nil, trashDays: 30)
        let report = try f.catalog.purgeTrash(before: cutoff, trashDays: 30)
        #expect(report.documents == 1 && report.versions == 1 && report.bytes == 9)
        #expect(try f.catalog.trashed(trashDays: 30).map(\.name) == ["docs/new.txt"])
        #expect(try f.catalog.version(id: old.id) == nil)
        #expect(try f.catalog.documentLocation(id: old.documentID) == nil)
        #expect(try f.catalog.artifacts(versionID: old.id).isEmpty)
        // The blob is still stored: only the collector removes blobs.
        #expect(try f.store.contains(old.digest))
        #expect(try f.eventTypes().last == "document.purged")
    }

    @Test func aGuardRefusesWithItsMessageAndNothingChanges() throws {
        let f = try StoreFixture()
        try f.put("docs/a.txt", Array("one".utf8))
        #expect(throws: TrashError.refused("held until 2030")) {
            try f.catalog.trash(collection: "docs", path: "a.txt", version: nil, trashDays: 30, guard: { _, _, _ in "held until 2030" })
        }
        #expect(try f.catalog.documents(collection: nil).count == 1)
        #expect(try !f.eventTypes().contains("document.trashed"))
    }
}

@Suite struct GarbageCollectorTests {
    @Test func onlyBlobsUnreferencedForTheGracePeriodGo() throws {
        let f = try StoreFixture()
        let kept = try f.put("docs/kept.txt", Array("kept".utf8))
        let gone = try f.put("docs/gone.txt", Array("gone".utf8))
        let art = try f.artifact("text.txt", of: kept, Array("artifact of kept".utf8))
        try f.catalog.trash(collection: "docs", path: "gone.txt", version: nil, trashDays: 30)
        let gc = GarbageCollector(catalog: f.catalog, store: f.store, grace: .seconds(3600))

        // In the trash, it is still referenced.
        var report = try gc.run(dryRun: false)
        #expect(report.unreferencedBlobs == 0 && report.removedBlobs == 0)
        try f.catalog.purgeTrash(before: nil, trashDays: 30)

        let t0 = wallClockNanoseconds()
        report = try gc.run(dryRun: true, now: t0)
        #expect(report.unreferencedBlobs == 1 && report.waitingBlobs == 1 && report.removedBlobs == 0)
        // The first real run only marks it.
        report = try gc.run(dryRun: false, now: t0)
        #expect(report.removedBlobs == 0 && report.waitingBlobs == 1)
        #expect(try f.store.contains(gone.digest))
        // Within the grace period it stays; a dry run past it says it would go, and does nothing.
        report = try gc.run(dryRun: false, now: t0 + 1_800_000_000_000)
        #expect(report.removedBlobs == 0)
        report = try gc.run(dryRun: true, now: t0 + 3_601_000_000_000)
        #expect(report.removedBlobs == 1 && report.removed == [gone.digest.hex] && report.removedBytes == 4)
        #expect(try f.store.contains(gone.digest))
        report = try gc.run(dryRun: false, now: t0 + 3_601_000_000_000)
        #expect(report.removedBlobs == 1 && report.removedBytes == 4)
        #expect(try !f.store.contains(gone.digest))
        #expect(try f.store.contains(kept.digest) && f.store.contains(art.digest))
        #expect(try f.catalog.blobs().map(\.digest).sorted { $0.hex < $1.hex } == [kept.digest, art.digest].sorted { $0.hex < $1.hex })
        #expect(try f.eventTypes().last == "gc.completed")
    }

    @Test func aBlobReferencedAgainDuringTheGracePeriodIsKept() throws {
        let f = try StoreFixture()
        let bytes = Array("comes back".utf8)
        let first = try f.put("docs/a.txt", bytes)
        try f.put("docs/keep.txt", Array("x".utf8))
        try f.catalog.trash(collection: "docs", path: "a.txt", version: nil, trashDays: 30)
        try f.catalog.purgeTrash(before: nil, trashDays: 30)
        let gc = GarbageCollector(catalog: f.catalog, store: f.store, grace: .seconds(60))
        let t0 = wallClockNanoseconds()
        #expect(try gc.run(dryRun: false, now: t0).waitingBlobs == 1)
        // The same bytes arrive again (a dedup hit on the marked blob).
        try f.put("docs/b.txt", bytes)
        let report = try gc.run(dryRun: false, now: t0 + 120_000_000_000)
        #expect(report.removedBlobs == 0 && report.unreferencedBlobs == 0)
        #expect(try f.store.verify(first.digest))
    }

    @Test func aFileWithoutACatalogRowIsCollectedAfterTheGracePeriod() throws {
        let f = try StoreFixture()
        try f.put("docs/a.txt", Array("a".utf8))
        // A blob committed whose catalog row never came (a crash in between).
        let source = try f.dir.write("src/orphan", Array("orphan bytes".utf8))
        let staged = try f.store.stage(BlobSource(path: source, mayLink: false))
        _ = try f.store.commit([staged])
        let gc = GarbageCollector(catalog: f.catalog, store: f.store, grace: .seconds(60))
        let t0 = wallClockNanoseconds()
        var report = try gc.run(dryRun: false, now: t0)
        #expect(report.orphanFiles == 1 && report.removedBlobs == 0)
        report = try gc.run(dryRun: false, now: t0 + 61_000_000_000)
        #expect(report.removedBlobs == 1 && report.removed == [staged.digest.hex])
        #expect(try !f.store.contains(staged.digest))
    }

    /// The race GC must never lose: a blob marked long ago is hit by a dedup ingest between
    /// the ingest's blob commit and its catalog transaction, while the sweep removes it. With
    /// ingest and collector running flat out on two threads over the same bytes, every
    /// version the catalog records has its blob, and every ingest that failed keeps its source.
    @Test(.timeLimit(.minutes(2))) func anIngestRacingTheSweepNeverLeavesAVersionWithoutItsBlob() throws {
        let f = try StoreFixture()
        let payloads = (0..<20).map { noise(2000, seed: UInt64($0)) }
        try f.put("keep/anchor.bin", Array("anchor".utf8))
        let stop = Locked(false)
        let (catalog, store) = (f.catalog, f.store)
        let collector = Thread {
            let gc = GarbageCollector(catalog: catalog, store: store, grace: .zero)
            while !stop.value {
                _ = try? gc.run(dryRun: false)
            }
        }
        collector.start()
        var failures = 0
        for round in 0..<60 {
            let bytes = payloads[round % payloads.count]
            let path = "race/\(round % 5).bin"
            do {
                let v = try f.put(path, bytes)
                // Trash it and purge at once, so the collector may take the blob next.
                if round % 2 == 0 {
                    try? f.catalog.trash(collection: "race", path: String(path.dropFirst(5)), version: nil, trashDays: 0)
                    try f.catalog.purgeTrash(before: nil, trashDays: 0)
                } else {
                    _ = v
                }
            } catch {
                failures += 1
            }
            // Every version the catalog has is backed by a good blob.
            for blob in try f.catalog.database.read({ tx in
                try tx.query("SELECT DISTINCT blob_digest FROM versions UNION SELECT DISTINCT blob_digest FROM artifacts").map { $0.text(0) }
            }) {
                let digest = try #require(Digest(hex: blob))
                #expect(try f.store.contains(digest), "version blob \(blob) missing in round \(round)")
            }
        }
        stop.set(true)
        while collector.isExecuting { usleep(10_000) }
        #expect(failures < 60)
    }
}

@Suite struct StorageUsageTests {
    @Test func artifactsAreKeptApartAndTheDedupRatioComparesOriginals() throws {
        let f = try StoreFixture()
        let a = try f.put("docs/a.txt", Array(repeating: 0x61, count: 1000))
        try f.put("docs/copy-of-a.txt", Array(repeating: 0x61, count: 1000))
        try f.put("pics/b.bin", Array(repeating: 0x62, count: 500))
        // A big artifact: it must not count as stored bytes nor drag the ratio below 1.
        try f.artifact("text.txt", of: a, Array(repeating: 0x63, count: 5000))
        try f.put("docs/gone.txt", Array(repeating: 0x64, count: 300))
        try f.catalog.trash(collection: "docs", path: "gone.txt", version: nil, trashDays: 30)

        let usage = try f.catalog.storageUsage(store: f.store)
        #expect(usage.documents == 3 && usage.versions == 3)
        #expect(usage.logicalBytes == 2500)
        #expect(usage.storedBytes == 1800 && usage.storedBlobs == 3)  // the trashed version's blob is still stored
        #expect(usage.artifactBytes == 5000 && usage.artifactBlobs == 1)
        #expect(usage.trashBytes == 300 && usage.trashVersions == 1)
        #expect(usage.reclaimableBytes == 0)
        #expect(abs(usage.dedupRatio - 2500.0 / 1800.0) < 1e-9)
        #expect(usage.filesystemFreeBytes ?? 0 > 0)
        #expect(usage.byCollection == [
            UsageGroup(name: "docs", documents: 2, versions: 2, logicalBytes: 2000, storedBytes: 1000),
            UsageGroup(name: "pics", documents: 1, versions: 1, logicalBytes: 500, storedBytes: 500),
        ])
        // The catalog's totals are the same figures.
        let stats = try f.catalog.stats()
        #expect(stats.storedBytes == usage.storedBytes && stats.logicalBytes == usage.logicalBytes && stats.artifactBytes == 5000)

        try f.catalog.purgeTrash(before: nil, trashDays: 30)
        let after = try f.catalog.storageUsage(store: f.store)
        #expect(after.trashBytes == 0 && after.reclaimableBytes == 300 && after.reclaimableBlobs == 1 && after.storedBytes == 1500)
    }

    @Test func daysUntilFullFollowsTheLast30DaysOfGrowth() throws {
        let f = try StoreFixture()
        let day: Int64 = 86_400 * 1_000_000_000
        let now = wallClockNanoseconds()
        try f.put("docs/a.bin", noise(1000, seed: 1))
        try f.catalog.recordStorageSample(now: now - 10 * day)
        #expect(try f.catalog.storageUsage(store: f.store, now: now).growthBytesPerDay == nil)
        try f.put("docs/b.bin", noise(1000, seed: 2))
        try f.catalog.recordStorageSample(now: now)
        let usage = try f.catalog.storageUsage(store: f.store, now: now)
        let growth = try #require(usage.growthBytesPerDay)
        #expect(abs(growth - 100) < 0.01)
        let free = try #require(usage.filesystemFreeBytes)
        #expect(abs(try #require(usage.daysUntilFull) - Double(free) / 100) < 1)
        // A sample older than 30 days no longer counts.
        #expect(try f.catalog.storageUsage(store: f.store, now: now + 25 * day).growthBytesPerDay == nil)
    }
}

@Suite struct RetentionRuleTests {
    static let hour: Int64 = 3_600_000_000_000
    static let day: Int64 = 24 * hour
    /// 2024-01-01T00:00:00Z, a Monday.
    static let monday: Int64 = 1_704_067_200 * 1_000_000_000

    /// Versions numbered 1… at the given times, newest first as the planner walks them.
    func versions(_ times: [Int64]) -> [(number: Int, ingestedAt: Int64)] {
        times.enumerated().map { ($0.offset + 1, $0.element) }.sorted { $0.ingestedAt > $1.ingestedAt }
    }

    @Test func noRuleKeepsEverything() {
        let v = versions([0, 1, 2].map { Self.monday + $0 * Self.day })
        #expect(RetentionDecider(rules: RetentionRules()).kept(v, current: 3) == [1, 2, 3])
    }

    @Test func keepLastKeepsTheNewestNAndTheCurrentAlways() {
        let v = versions((0..<5).map { Self.monday + $0 * Self.hour })
        #expect(RetentionDecider(rules: RetentionRules(last: 2)).kept(v, current: 5) == [4, 5])
        // The current version (here an older one, after newer ones went to the trash and came back) is kept too.
        #expect(RetentionDecider(rules: RetentionRules(last: 1)).kept(v, current: 2) == [2, 5])
    }

    @Test func keepDailyKeepsTheNewestOfEachOfTheLastNDaysThatHaveOne() {
        // Three versions on Monday, two on Tuesday, none on Wednesday, one on Thursday.
        let times = [Self.monday + 1 * Self.hour, Self.monday + 5 * Self.hour, Self.monday + 9 * Self.hour,
                     Self.monday + Self.day + 2 * Self.hour, Self.monday + Self.day + 3 * Self.hour,
                     Self.monday + 3 * Self.day]
        let v = versions(times)
        #expect(RetentionDecider(rules: RetentionRules(daily: 2)).kept(v, current: 6) == [6, 5])
        #expect(RetentionDecider(rules: RetentionRules(daily: 3)).kept(v, current: 6) == [6, 5, 3])
        #expect(RetentionDecider(rules: RetentionRules(hourly: 2)).kept(v, current: 6) == [6, 5])
        #expect(RetentionDecider(rules: RetentionRules(weekly: 1)).kept(v, current: 6) == [6])
    }

    @Test func weeksStartOnMondayAndMonthsAndYearsFollowTheCalendar() {
        // Sunday 2023-12-31 and Monday 2024-01-01: two ISO weeks, two months, two years.
        let sunday = Self.monday - Self.day
        let v = versions([sunday, Self.monday])
        #expect(RetentionDecider(rules: RetentionRules(weekly: 2)).kept(v, current: 2) == [1, 2])
        #expect(RetentionDecider(rules: RetentionRules(monthly: 2)).kept(v, current: 2) == [1, 2])
        #expect(RetentionDecider(rules: RetentionRules(yearly: 1)).kept(v, current: 2) == [2])
        // Monday and Sunday of the same week.
        let same = versions([Self.monday, Self.monday + 6 * Self.day])
        #expect(RetentionDecider(rules: RetentionRules(weekly: 2)).kept(same, current: 2) == [2])
    }

    @Test func keepWithinCountsBackFromTheNewestVersion() {
        let v = versions([0, 10, 20, 30].map { Self.monday + $0 * Self.day })
        #expect(RetentionDecider(rules: RetentionRules(within: .seconds(15 * 86_400))).kept(v, current: 4) == [3, 4])
    }

    @Test func planShowsWhatGoesAndTheBytesItFreesAndApplyTrashesIt() throws {
        let f = try StoreFixture()
        for i in 1...4 { try f.put("docs/a.txt", Array(repeating: UInt8(i), count: 100 * i)) }
        // Version 1's bytes are also another document's: removing it frees nothing.
        try f.put("docs/same.txt", Array(repeating: 1, count: 100))
        let v2 = try #require(try f.catalog.version(collection: "docs", path: "a.txt", number: 2))
        try f.artifact("text.txt", of: v2, Array("text of v2".utf8))
        for i in 1...3 { try f.put("photos/p.jpg", Array(repeating: UInt8(0x40 + i), count: 10)) }
        let rules: (String) -> RetentionRules = { $0 == "docs" ? RetentionRules(last: 1) : RetentionRules() }

        let plan = try f.catalog.retentionPlan(rules: rules)
        #expect(plan.removals.map { "\($0.path) \($0.version)" } == ["a.txt 1", "a.txt 2", "a.txt 3"])
        #expect(plan.removedBytes == 600)
        #expect(plan.freedBytes == 200 + 10 + 300)  // v2, its artifact, v3; v1's bytes stay in use
        #expect(plan.collections.map(\.collection) == ["docs", "photos"])
        #expect(plan.collections[1].removed == 0 && plan.collections[1].kept == 3)
        // Planning changed nothing.
        #expect(try f.catalog.versions(collection: "docs", path: "a.txt").count == 4)

        // A pin keeps version 2; a compliance hold keeps all of photos (whose rules change to keep_last 1).
        try f.catalog.pin(collection: "docs", path: "a.txt", version: 2)
        _ = try f.catalog.placeHold(collection: "photos", path: nil, mode: .compliance, until: wallClockNanoseconds() + 3_600_000_000_000,
                                    reason: "audit")
        let plan2 = try f.catalog.retentionPlan(rules: { _ in RetentionRules(last: 1) })
        #expect(plan2.removals.map { "\($0.path) \($0.version)" } == ["a.txt 1", "a.txt 3"])
        #expect(plan2.collections[1].held == 2)

        let report = try f.catalog.applyRetention(plan2, trashDays: 30)
        #expect(report.removed == 2 && report.refused.isEmpty)
        #expect(try f.catalog.versions(collection: "docs", path: "a.txt").map(\.number) == [2, 4])
        #expect(try f.catalog.trashed(trashDays: 30).map(\.name) == ["docs/a.txt version 1", "docs/a.txt version 3"])
        #expect(try f.eventTypes().filter { $0 == "document.trashed" }.count == 2)
        // The next plan has nothing left to remove.
        #expect(try f.catalog.retentionPlan(rules: { _ in RetentionRules(last: 1) }).removals.isEmpty)
    }
}

@Suite struct PinAndHoldTests {
    @Test func aPinRefusesRemovalUntilUnpinned() throws {
        let f = try StoreFixture()
        try f.put("docs/a.txt", Array("one".utf8))
        try f.put("docs/a.txt", Array("two".utf8))
        try f.catalog.pin(collection: "docs", path: "a.txt", version: 1, note: "contract")
        #expect(throws: TrashError.refused("version 1 is pinned: `depot unpin` first")) {
            try f.catalog.trash(collection: "docs", path: "a.txt", version: 1, trashDays: 30)
        }
        #expect(throws: TrashError.self) { try f.catalog.trash(collection: "docs", path: "a.txt", version: nil, trashDays: 30) }
        try f.catalog.trash(collection: "docs", path: "a.txt", version: 2, trashDays: 30)
        #expect(try f.catalog.unpin(collection: "docs", path: "a.txt", version: 1))
        try f.catalog.trash(collection: "docs", path: "a.txt", version: nil, trashDays: 30)
    }

    @Test func governanceYieldsToAnExplicitOverrideAndComplianceToNobody() throws {
        let f = try StoreFixture()
        try f.put("docs/a.txt", Array("a".utf8))
        try f.put("docs/b.txt", Array("b".utf8))
        let hour: Int64 = 3_600_000_000_000
        let governance = try f.catalog.placeHold(collection: "docs", path: "a.txt", mode: .governance,
                                                 until: wallClockNanoseconds() + hour, reason: "case 7")
        let compliance = try f.catalog.placeHold(collection: "docs", path: "b.txt", mode: .compliance,
                                                 until: wallClockNanoseconds() + hour, reason: "SEC 17a-4")
        do {
            try f.catalog.trash(collection: "docs", path: "a.txt", version: nil, trashDays: 30)
            Issue.record("a governance hold let a removal through")
        } catch let error as TrashError {
            #expect(error.value == .refused && error.message.contains("--bypass-governance") && error.message.contains("case 7"))
        }
        try f.catalog.trash(collection: "docs", path: "a.txt", version: nil, trashDays: 30, guard: Catalog.pinsAndHolds(bypassGovernance: true))

        for bypass in [false, true] {
            #expect(throws: TrashError.self) {
                try f.catalog.trash(collection: "docs", path: "b.txt", version: nil, trashDays: 30, guard: Catalog.pinsAndHolds(bypassGovernance: bypass))
            }
            #expect(throws: TrashError.self) { try f.catalog.releaseHold(id: compliance.id, bypassGovernance: bypass) }
            #expect(throws: TrashError.self) {
                try f.catalog.changeHold(id: compliance.id, until: compliance.until.nanoseconds - 1, bypassGovernance: bypass)
            }
        }
        // Extended, never shortened.
        let extended = try f.catalog.changeHold(id: compliance.id, until: compliance.until.nanoseconds + hour, bypassGovernance: false)
        #expect(extended.until.nanoseconds == compliance.until.nanoseconds + hour)
        // Governance: shortened or lifted only with the override.
        #expect(throws: TrashError.self) { try f.catalog.releaseHold(id: governance.id, bypassGovernance: false) }
        #expect(try f.catalog.releaseHold(id: governance.id, bypassGovernance: true).releasedAt != nil)
        #expect(try f.catalog.holds().map(\.id) == [compliance.id])
    }

    @Test func aHoldOnACollectionKeepsItsTrashFromBeingPurged() throws {
        let f = try StoreFixture()
        try f.put("docs/a.txt", Array("a".utf8))
        try f.catalog.trash(collection: "docs", path: "a.txt", version: nil, trashDays: 30)
        _ = try f.catalog.placeHold(collection: "docs", path: nil, mode: .compliance, until: wallClockNanoseconds() + 3_600_000_000_000,
                                    reason: "")
        let report = try f.catalog.purgeTrash(before: nil, trashDays: 30)
        #expect(report.versions == 0 && report.held == 1)
        #expect(try f.catalog.trashed(trashDays: 30).count == 1)
    }
}
