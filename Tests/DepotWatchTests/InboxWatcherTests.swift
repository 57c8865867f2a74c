// The watcher against real folders under /tmp and real inotify.
import DepotCore
import Foundation
import DepotTestSupport
import Testing
@testable import DepotWatch

private let ms: Int64 = 1_000_000

@Test(.tags(.slow), .slowTest) func closedFileIsHandedOutOnceWithItsCollectionPathAndTags() throws {
    let box = try TempInbox()
    try box.mkdir("lectures")
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig(), logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    try box.write("lectures/physics/week1/a.mp4", bytes: 1234)
    let got = collect(watcher, for: .seconds(2))
    #expect(got.count == 1)
    let file = try #require(got.first?.file)
    #expect(file.collection == "lectures")
    #expect(file.relativePath == "physics/week1/a.mp4")
    #expect(file.absolutePath == box.path("lectures/physics/week1/a.mp4"))
    #expect(file.tags == ["physics", "week1"])
    #expect(file.size == 1234)
    #expect(file.mode == .consume)
    #expect(file.inode != 0)

    // The ingest stores it (consume: it leaves the inbox); nothing more comes.
    box.remove("lectures/physics/week1/a.mp4")
    watcher.completed(file)
    #expect(collect(watcher, for: .milliseconds(300)).isEmpty)
    #expect(watcher.status.pendingFiles == 0)
}

@Test(.tags(.slow), .slowTest) func quietPeriodPassesBeforeAFileIsTaken() throws {
    let box = try TempInbox()
    try box.mkdir("c")
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig { $0.quietPeriod = .seconds(1) },
                               logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    let before = monotonicNanoseconds()
    try box.write("c/a.txt")
    let got = try #require(waitFor(watcher, "a.txt", within: .seconds(4)))
    #expect(got.at - before >= 1000 * ms)
}

@Test(.tags(.slow), .slowTest) func slowWriterIsHandedOutOnceWhenComplete() throws {
    let box = try TempInbox()
    try box.mkdir("c")
    let config = testConfig {
        $0.quietPeriod = .milliseconds(500)
        $0.rescanInterval = .seconds(1)
    }
    let watcher = InboxWatcher(inbox: box.inbox, config: config, logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    // One write a second for four seconds, each pause longer than the quiet period,
    // with rescans going on: the open file must not be taken half written.
    let path = box.path("c/slow.bin")
    let fd = try sysCall("open") { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
    let chunk = [UInt8](repeating: 0x41, count: 1000)
    var early: [Handout] = []
    for _ in 0..<5 {
        try chunk.withUnsafeBytes { try writeFully(fd, $0) }
        early += collect(watcher, for: .milliseconds(800))
    }
    close(fd)
    #expect(early.isEmpty)

    let got = collect(watcher, for: .seconds(3)) { !$0.isEmpty }
    #expect(got.count == 1)
    #expect(got.first?.file.size == 5000)
    // Further rescans do not hand it out again while the ingest has it.
    #expect(collect(watcher, for: .milliseconds(1500)).isEmpty)
    #expect(watcher.status.counters.rescans >= 4)
}

@Test(.tags(.slow), .slowTest) func fileWrittenWithoutAVisibleCloseIsTakenAfterTheOpenTimeout() throws {
    let box = try TempInbox()
    try box.mkdir("c")
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig(), logger: LogCapture().logger)
    watcher.openTimeout = 800 * ms // ten minutes in production
    try watcher.start()
    defer { watcher.close() }

    // Like a writer on NFS: IN_MODIFY, then nothing, and no IN_CLOSE_WRITE.
    let path = box.path("c/nfs.bin")
    let fd = try sysCall("open") { open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644) }
    defer { close(fd) }
    let wroteAt = monotonicNanoseconds()
    try [UInt8](repeating: 1, count: 64).withUnsafeBytes { try writeFully(fd, $0) }
    let got = try #require(waitFor(watcher, "nfs.bin", within: .seconds(3)))
    #expect(got.at - wroteAt >= 800 * ms)
    #expect(got.file.size == 64)
}

@Test(.tags(.slow), .slowTest) func hardLinkIntoTheInboxIsTakenWithoutAClose() throws {
    let box = try TempInbox()
    try box.mkdir("c")
    try writeFile(box.root + "/original.txt", bytes: [1, 2, 3, 4])
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig(), logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    #expect(link(box.root + "/original.txt", box.path("c/linked.txt")) == 0)
    let got = try #require(waitFor(watcher, "linked.txt", within: .seconds(2)))
    #expect(got.file.size == 4)
}

@Test(.tags(.slow), .slowTest) func ignoredNamesAreNeverHandedOut() throws {
    let box = try TempInbox()
    let litter = [
        "c/.git/objects/x", "c/._foo", "c/a.part", "c/b.filepart", "c/c.tmp", "c/d.crdownload",
        "c/Thumbs.db", "c/.DS_Store", "c/~$doc.docx", "c/.~lock.x.odt#", "c/.hidden",
        "c/.dotted/sub/e.txt", "c/sub/.f.txt", "c/sub/upload.part/g.txt",
    ]
    // Half is there at start-up (found by the scan), half arrives later (found by events).
    for name in litter { try box.write(name.replacingOccurrences(of: "c/", with: "c/early-dir/")) }
    try box.write("c/early-ok.txt")
    try box.write("top.txt")                 // directly in inbox/: no collection
    try box.write(".dotcollection/x.txt")    // a dotted folder is not a collection
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig(), logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }
    for name in litter { try box.write(name) }
    try box.write("c/late-ok.txt")
    try box.write(".dotcollection/y.txt")

    let got = collect(watcher, for: .seconds(3)) { $0.count >= 2 }
        + collect(watcher, for: .milliseconds(500))
    #expect(Set(got.map(\.file.relativePath)) == ["early-ok.txt", "late-ok.txt"])
    #expect(got.count == 2)
}

@Test(.tags(.slow), .slowTest) func newSubfolderAndFilesInItAreHandedOut() throws {
    let box = try TempInbox()
    try box.mkdir("c")
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig(), logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    try box.mkdir("c/new/deeper")
    _ = collect(watcher, for: .milliseconds(200))
    try box.write("c/new/deeper/f.txt")
    let got = try #require(waitFor(watcher, "new/deeper/f.txt"))
    #expect(got.file.tags == ["new", "deeper"])

    // Files that land before the new folder's watch exists are found by scanning it.
    try box.write("c/fast/one/x.txt")
    try box.write("c/fast/two.txt")
    let fast = collect(watcher, for: .seconds(3)) { $0.count >= 2 }
    #expect(Set(fast.map(\.file.relativePath)) == ["fast/one/x.txt", "fast/two.txt"])

    // A whole collection moved in from elsewhere on the same filesystem.
    try writeFile(box.root + "/elsewhere.txt", bytes: [1, 2, 3])
    try makeDirectories(box.root + "/outside/sub")
    try writeFile(box.root + "/outside/sub/y.txt", bytes: [1, 2, 3])
    #expect(rename(box.root + "/outside", box.path("moved")) == 0)
    let moved = try #require(waitFor(watcher, "sub/y.txt"))
    #expect(moved.file.collection == "moved")
}

@Test(.tags(.slow), .slowTest) func filesPresentBeforeStartAreHandedOut() throws {
    let box = try TempInbox()
    try box.write("a/one.txt", bytes: 10)
    try box.write("a/deep/two.txt", bytes: 20)
    try box.write("b/three.txt", bytes: 30)
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig(), logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    let got = collect(watcher, for: .seconds(3)) { $0.count >= 3 }
    let found = Set(got.map { "\($0.file.collection)/\($0.file.relativePath):\($0.file.size)" })
    #expect(found == ["a/one.txt:10", "a/deep/two.txt:20", "b/three.txt:30"])
    #expect(watcher.status.counters.rescans == 1)
    #expect(watcher.status.watchedFolders == 4) // inbox, a, a/deep, b
}

@Test(.tags(.slow), .slowTest) func treeBeyondTheWatchLimitIsPolledWithAWarning() throws {
    let box = try TempInbox()
    try box.mkdir("c")
    let logs = LogCapture()
    let config = testConfig {
        $0.maxWatches = 2                     // inbox/ and c/, nothing more
        $0.pollInterval = .milliseconds(300)
    }
    let watcher = InboxWatcher(inbox: box.inbox, config: config, logger: logs.logger)
    try watcher.start()
    defer { watcher.close() }

    try box.mkdir("c/sub")
    _ = collect(watcher, for: .milliseconds(200))
    #expect(watcher.status.watchedFolders == 2)
    #expect(watcher.status.pollingTrees == 1)
    let warnings = logs.messages(at: .warning).filter { $0.contains("inotify watch limit reached at \(box.path("c/sub"))") }
    #expect(warnings.count == 1)
    #expect(warnings.first?.contains("polling this tree every 300ms; raise fs.inotify.max_user_watches") == true)

    // c/sub has no watch: only polling can see this file.
    try box.write("c/sub/f.txt")
    #expect(waitFor(watcher, "sub/f.txt", within: .seconds(3)) != nil)

    // A file renamed in from outside the inbox, deeper in the polled tree.
    try writeFile(box.root + "/outside.txt", bytes: [9, 9])
    try box.mkdir("c/sub/deeper")
    #expect(rename(box.root + "/outside.txt", box.path("c/sub/deeper/g.txt")) == 0)
    let moved = try #require(waitFor(watcher, "sub/deeper/g.txt", within: .seconds(3)))
    #expect(moved.file.size == 2)
    // The warning is said once per tree, not on every poll.
    #expect(logs.messages(at: .warning).filter { $0.contains("watch limit") }.count == 1)
}

@Test(.tags(.slow), .slowTest) func requestedRescanFindsWhatNoEventAnnounced() throws {
    let box = try TempInbox()
    try box.mkdir("c/sub")
    // The whole of c/sub is unwatched and polled only every 10 minutes.
    let config = testConfig { $0.maxWatches = 2 }
    let watcher = InboxWatcher(inbox: box.inbox, config: config, logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    try box.write("c/sub/missed.txt")
    #expect(collect(watcher, for: .milliseconds(400)).isEmpty)
    watcher.requestRescan()
    #expect(waitFor(watcher, "sub/missed.txt", within: .seconds(2)) != nil)
    #expect(watcher.status.counters.rescans == 2)
}

@Test(.tags(.slow), .slowTest) func queueOverflowLeadsToARescanThatFindsEverything() throws {
    // More files than the kernel queues events for (each makes IN_CREATE and IN_CLOSE_WRITE).
    let limit = (try? readTextFile("/proc/sys/fs/inotify/max_queued_events"))
        .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 16384
    try #require(limit <= 100_000, "max_queued_events is too large to overflow in a test")
    let count = limit / 2 + 200
    let box = try TempInbox()
    try box.mkdir("c")
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig { $0.quietPeriod = .zero },
                               logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    for i in 0..<count { try writeFile(box.path("c/f\(i)"), bytes: [1]) }
    let got = collect(watcher, for: .seconds(15)) { $0.count >= count }
    #expect(watcher.status.counters.overflows >= 1)
    #expect(got.count == count)
    #expect(Set(got.map(\.file.relativePath)).count == count)
}

@Test(.tags(.slow), .slowTest) func failedFileWaitsForItsBackoffAndIsLoggedOnce() throws {
    let box = try TempInbox()
    try box.mkdir("c")
    let logs = LogCapture()
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig { $0.retryInitial = .milliseconds(500) },
                               logger: logs.logger)
    try watcher.start()
    defer { watcher.close() }

    try box.write("c/a.txt")
    let first = try #require(waitFor(watcher, "a.txt"))
    let failedAt = monotonicNanoseconds()
    watcher.failed(first.file, reason: "disk full")
    #expect(watcher.status.failingFiles == 1)
    let second = try #require(waitFor(watcher, "a.txt", within: .seconds(3)))
    #expect(second.at - failedAt >= 500 * ms)

    // The delay doubles.
    let failedAgainAt = monotonicNanoseconds()
    watcher.failed(second.file, reason: "disk full")
    let third = try #require(waitFor(watcher, "a.txt", within: .seconds(3)))
    #expect(third.at - failedAgainAt >= 1000 * ms)

    box.remove("c/a.txt")
    watcher.completed(third.file)
    #expect(logs.messages(at: .warning).filter { $0.contains("cannot store file") }.count == 1)
    #expect(logs.messages(at: .info).contains { $0.contains("stored after earlier failures") })
    #expect(watcher.status.counters.ingestFailures == 2)
    #expect(watcher.status.failingFiles == 0)
    #expect(watcher.status.pendingFiles == 0)
}

@Test(.tags(.slow), .slowTest) func aFailedFileClosedAgainIsRetriedWithoutWaitingOutItsBackoff() throws {
    // The ingest refused it because a writer still had it open; the writer's close is the cue.
    let box = try TempInbox()
    try box.mkdir("c")
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig { $0.retryInitial = .seconds(30) },
                               logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    try box.write("c/upload.bin")
    let first = try #require(waitFor(watcher, "upload.bin"))
    watcher.failed(first.file, reason: "another process has it open for writing")
    let failedAt = monotonicNanoseconds()
    try box.write("c/upload.bin")
    let second = try #require(waitFor(watcher, "upload.bin", within: .seconds(5)))
    #expect(second.at - failedAt < 5_000 * ms)
    // Without a new close the backoff holds.
    watcher.failed(second.file, reason: "disk full")
    #expect(waitFor(watcher, "upload.bin", within: .seconds(1)) == nil)
}

@Test(.tags(.slow), .slowTest) func failedFileThatVanishesIsForgotten() throws {
    let box = try TempInbox()
    try box.mkdir("c")
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig { $0.retryInitial = .milliseconds(200) },
                               logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    try box.write("c/a.txt")
    let first = try #require(waitFor(watcher, "a.txt"))
    watcher.failed(first.file, reason: "permission denied")
    box.remove("c/a.txt")
    #expect(collect(watcher, for: .milliseconds(600)).isEmpty)
    #expect(watcher.status.pendingFiles == 0)
}

@Test(.tags(.slow), .slowTest) func changedFileIsTakenAgainAfterAFreshQuietPeriod() throws {
    let box = try TempInbox()
    try box.mkdir("c")
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig { $0.quietPeriod = .milliseconds(400) },
                               logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    try box.write("c/a.txt", bytes: 10)
    let first = try #require(waitFor(watcher, "a.txt"))
    let changedAt = monotonicNanoseconds()
    watcher.changed(first.file)
    let again = try #require(waitFor(watcher, "a.txt"))
    #expect(again.at - changedAt >= 400 * ms)
    #expect(again.at - changedAt < 4000 * ms) // no failure backoff
}

@Test(.tags(.slow), .slowTest) func mirrorModeHandsOutOnlyChangedFiles() throws {
    let box = try TempInbox()
    try box.write("share/doc.txt", bytes: 10)
    let config = testConfig {
        $0.mode = .mirror
        $0.rescanInterval = .milliseconds(300)
    }
    let watcher = InboxWatcher(inbox: box.inbox, config: config, logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    let first = try #require(waitFor(watcher, "doc.txt"))
    #expect(first.file.mode == .mirror)
    watcher.completed(first.file)
    // Several rescans later the unchanged file is still not taken again.
    #expect(collect(watcher, for: .seconds(1)).isEmpty)
    #expect(watcher.status.counters.rescans >= 3)

    try box.append("share/doc.txt", bytes: 5)
    let second = try #require(waitFor(watcher, "doc.txt"))
    #expect(second.file.size == 15)
    watcher.completed(second.file)
    #expect(collect(watcher, for: .milliseconds(500)).isEmpty)
}

@Test(.tags(.slow), .slowTest) func depotTomlSwitchesItsCollectionToMirror() throws {
    let box = try TempInbox()
    try box.mkdir("kept")
    try writeFile(box.path("kept/.depot.toml"), bytes: Array("mode = \"mirror\"\n".utf8))
    try box.write("kept/a.txt")
    try box.write("hot/b.txt")
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig(), logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    let got = collect(watcher, for: .seconds(3)) { $0.count >= 2 }
    let modes = Dictionary(uniqueKeysWithValues: got.map { ($0.file.collection, $0.file.mode) })
    #expect(modes == ["kept": .mirror, "hot": .consume])

    // Changed while running: the new settings apply to the next file.
    try writeFile(box.path("hot/.depot.toml"), bytes: Array("mode = \"mirror\"\nquiet_period = \"200ms\"\n".utf8))
    _ = collect(watcher, for: .milliseconds(200))
    try box.write("hot/c.txt")
    let c = try #require(waitFor(watcher, "c.txt"))
    #expect(c.file.mode == .mirror)
}

@Test(.tags(.slow), .slowTest) func brokenDepotTomlHoldsItsCollectionUntilFixed() throws {
    let box = try TempInbox()
    try box.mkdir("c")
    try writeFile(box.path("c/.depot.toml"), bytes: Array("mode = \"sideways\"\n".utf8))
    try box.write("c/a.txt")
    try box.write("d/b.txt")
    let logs = LogCapture()
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig(), logger: logs.logger)
    try watcher.start()
    defer { watcher.close() }

    try box.write("c/later.txt")
    let got = collect(watcher, for: .seconds(1))
    #expect(got.map(\.file.collection) == ["d"])
    #expect(logs.messages(at: .error).contains { $0.contains("collection settings are broken") && $0.contains("c/.depot.toml") })

    try writeFile(box.path("c/.depot.toml"), bytes: Array("mode = \"mirror\"\n".utf8))
    let fixed = collect(watcher, for: .seconds(3)) { $0.count >= 2 }
    #expect(Set(fixed.map(\.file.relativePath)) == ["a.txt", "later.txt"])
    #expect(fixed.allSatisfy { $0.file.mode == .mirror })
}

@Test(.tags(.slow), .slowTest) func fifosSymlinksAndOtherNonRegularFilesAreSkipped() throws {
    let box = try TempInbox()
    try box.mkdir("c")
    #expect(mkfifo(box.path("c/early.fifo"), 0o644) == 0)
    try box.write("c/target.txt")
    #expect(symlink(box.path("c/target.txt"), box.path("c/early-link")) == 0)
    let logs = LogCapture()
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig(), logger: logs.logger)
    try watcher.start()
    defer { watcher.close() }

    #expect(mkfifo(box.path("c/late.fifo"), 0o644) == 0)
    #expect(symlink("/etc/passwd", box.path("c/late-link")) == 0)
    try box.write("c/ok.txt")
    let got = collect(watcher, for: .seconds(2)) { $0.count >= 2 } + collect(watcher, for: .milliseconds(300))
    #expect(Set(got.map(\.file.relativePath)) == ["target.txt", "ok.txt"])
    #expect(logs.messages(at: .debug).contains { $0.contains("not a regular file") && $0.contains("early.fifo") })
}

@Test(.tags(.slow), .slowTest) func reloadAppliesNewGlobalSettings() throws {
    let box = try TempInbox()
    try box.write("c/a.txt")
    let watcher = InboxWatcher(inbox: box.inbox, config: testConfig(), logger: LogCapture().logger)
    try watcher.start()
    defer { watcher.close() }

    let first = try #require(waitFor(watcher, "a.txt"))
    #expect(first.file.mode == .consume)
    watcher.completed(first.file) // stays (the test plays an ingest that did not delete)
    watcher.reload(config: testConfig { $0.mode = .mirror })
    let second = try #require(waitFor(watcher, "a.txt"))
    #expect(second.file.mode == .mirror)
}

@Test(.tags(.slow), .slowTest) func ignoreRulesMatchEveryPathComponent() {
    let rules = IgnoreRules(defaultIgnorePatterns)
    for path in [".git/x", "._foo", "a.part", "Thumbs.db", "~$doc.docx", ".~lock.x.odt#", "a/.hidden/b.txt",
                 "x.filepart", "dl.crdownload", "a.tmp", ".DS_Store", "sub/ok.part/file.txt"] {
        #expect(rules.ignores(relativePath: path), "\(path)")
    }
    for path in ["a.txt", "physics/week1/a.mp4", "notes.partial", "lock.odt"] {
        #expect(!rules.ignores(relativePath: path), "\(path)")
    }
}
