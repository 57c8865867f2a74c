import DepotCore
@testable import DepotOutbox
import DepotStore
import DepotTestSupport
import Foundation
import Synchronization
import Testing

@Suite struct PublisherTests {
    /// The document's path becomes folders; the manifest lists the current version, all
    /// versions, tags, artifacts with hashes, and the files are there with those bytes.
    @Test func publishesManifestAndArtifacts() throws {
        let fixture = try OutboxFixture()
        try fixture.version("lectures", "physics/week1/a.md", Array("# One\n".utf8))
        let v2 = try fixture.version("lectures", "physics/week1/a.md", Array("# Two\n".utf8))
        try fixture.artifacts(v2, ["text.txt": Array("Two\n".utf8), "structure.json": Array("{}".utf8)])
        #expect(try fixture.publisher().publish(documentID: v2.documentID))

        let folder = fixture.outbox + "/lectures/physics/week1/a.md"
        let manifest = try readJSON(folder + "/manifest.json")
        let document = try #require(manifest["document"] as? [String: Any])
        #expect(document["collection"] as? String == "lectures")
        #expect(document["path"] as? String == "physics/week1/a.md")
        #expect(document["tags"] as? [String] == ["physics", "week1"])
        let current = try #require(manifest["current_version"] as? [String: Any])
        #expect(current["number"] as? Int == 2)
        #expect(current["sha256"] as? String == v2.digest.hex)
        #expect((manifest["versions"] as? [[String: Any]])?.count == 2)
        #expect((manifest["processing"] as? [String: Any])?["status"] as? String == "succeeded")
        let artifacts = try #require(manifest["artifacts"] as? [[String: Any]])
        #expect(artifacts.map { $0["kind"] as? String } == ["structure.json", "text.txt"])
        for artifact in artifacts {
            let file = try #require(artifact["file"] as? String)
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/" + file)))
            #expect(SHA256Hasher.digest(bytes).hex == artifact["sha256"] as? String)
            #expect(artifact["producer"] as? String == "test")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["manifest.json", "structure.json", "text.txt"])
        // Nothing left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.outbox + "/lectures/physics/week1") == ["a.md"])
    }

    /// With the default 0644 the artifact is the blob's own inode (no copy); with 0640 it is a
    /// copy with that mode, since a link would be world-readable.
    @Test(arguments: [(UInt32(0o644), UInt32(0o755), true), (UInt32(0o640), UInt32(0o750), false)])
    func modesAndLinking(_ fileMode: UInt32, _ dirMode: UInt32, _ linked: Bool) throws {
        let fixture = try OutboxFixture()
        let v = try fixture.version("docs", "sub/a.md", Array("# A\n".utf8))
        try fixture.artifacts(v, ["text.txt": Array("A\n".utf8)])
        var settings = OutboxSettings()
        settings.fileMode = fileMode
        settings.dirMode = dirMode
        try fixture.publisher(settings).publish(documentID: v.documentID)
        let folder = fixture.outbox + "/docs/sub/a.md"
        var st = stat(), blob = stat()
        #expect(stat(folder + "/manifest.json", &st) == 0 && UInt32(st.st_mode) & 0o7777 == fileMode)
        #expect(stat(folder, &st) == 0 && UInt32(st.st_mode) & 0o7777 == dirMode)
        #expect(stat(fixture.outbox + "/docs/sub", &st) == 0 && UInt32(st.st_mode) & 0o7777 == dirMode)
        let text = try #require(try currentArtifacts(fixture).first)
        #expect(stat(fixture.store.localPath(of: text.digest)!, &blob) == 0)
        #expect(stat(folder + "/text.txt", &st) == 0)
        #expect((st.st_ino == blob.st_ino) == linked)
        if !linked { #expect(UInt32(st.st_mode) & 0o7777 == fileMode) }
    }

    func currentArtifacts(_ fixture: OutboxFixture) throws -> [ArtifactInfo] {
        let docs = try fixture.catalog.documents(collection: nil)
        let v = try #require(try fixture.catalog.currentVersion(collection: docs[0].collection, path: docs[0].path))
        return try fixture.catalog.artifacts(versionID: v.id)
    }

    /// Paths that would leave the outbox are refused, and nothing is written outside it.
    @Test(arguments: ["../escape.md", "a/../../escape.md", "a//b.md", "./a.md", ".depot-publish-1-x/a.md"])
    func pathsThatEscapeAreRefused(_ path: String) throws {
        let fixture = try OutboxFixture()
        let v = try fixture.version("docs", path, Array("x".utf8))
        #expect(throws: OutboxError.self) { try fixture.publisher().publish(documentID: v.documentID) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.path).sorted() == ["outbox", "state", "store"])
        #expect(try fixture.tree().isEmpty || fixture.tree().keys.allSatisfy { !$0.contains("escape") })
    }

    /// The manifest's processing status and jobs are the queue's, as its jobs go through their states.
    @Test func processingStatusFollowsTheJobs() throws {
        let fixture = try OutboxFixture()
        let v = try fixture.version("docs", "a.md", Array("# A\n".utf8))
        let publisher = try fixture.publisher()
        func status() throws -> (String, [[String: Any]]) {
            try publisher.publish(documentID: v.documentID)
            let processing = try #require(try readJSON(fixture.outbox + "/docs/a.md/manifest.json")["processing"] as? [String: Any])
            return (processing["status"] as? String ?? "", processing["jobs"] as? [[String: Any]] ?? [])
        }
        #expect(try status().0 == "queued")
        let job = try #require(try fixture.queue.lease(owner: "o"))
        #expect(try status().0 == "running")
        #expect(try fixture.queue.fail(job, owner: "o", .transient("killed by SIGKILL")) == .retrying)
        var (state, jobs) = try status()
        #expect(state == "queued" && jobs.first?["state"] as? String == "retrying" && jobs.first?["error"] as? String == "killed by SIGKILL")
        try fixture.queue.cancel(id: job.id)
        #expect(try status().0 == "cancelled")
        try fixture.queue.retry(id: job.id)
        let again = try #require(try fixture.queue.lease(owner: "o"))
        try fixture.queue.fail(again, owner: "o", .permanent("not a readable file"))
        (state, jobs) = try status()
        #expect(state == "failed" && jobs.first?["state"] as? String == "failed" && jobs.first?["error"] as? String == "not a readable file")
        #expect(jobs.first?["kind"] as? String == "extract" && jobs.first?["processor"] as? String == "test-extract")
        try fixture.queue.retry(id: job.id)
        try fixture.artifacts(v, ["text.txt": Array("A\n".utf8)])
        (state, jobs) = try status()
        #expect(state == "succeeded" && jobs.first?["error"] == nil && jobs.first?["outcome"] as? String == "processed")
    }
}

@Suite(.tags(.slow), .slowTest) struct AtomicityTests {
    /// A reader polling the folder while it is republished 150 times never sees a missing or
    /// partial manifest, nor a manifest whose files are missing or differ from what it lists.
    @Test(arguments: [UInt32(0o644), UInt32(0o640)])
    func readerNeverSeesAHalfResult(_ fileMode: UInt32) throws {
        let fixture = try OutboxFixture()
        var settings = OutboxSettings()
        settings.fileMode = fileMode
        let publisher = try fixture.publisher(settings)
        var v = try fixture.version("docs", "deep/a.md", Array("v0".utf8))
        try fixture.artifacts(v, ["text.txt": Array("text 0".utf8)])
        try publisher.publish(documentID: v.documentID)

        let folder = fixture.outbox + "/docs/deep/a.md"
        let stop = Mutex(false)
        let result = Mutex((reads: 0, problems: [String]()))
        let reader = Thread {
            while !stop.withLock({ $0 }) {
                // A reader holds the folder open (a directory handle, as a shell's working
                // directory is) and reads what the manifest lists relative to it.
                let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                guard directory >= 0 else {
                    result.withLock { $0.problems.append("the folder is missing") }
                    continue
                }
                defer { close(directory) }
                do {
                    let data = Data(try read(at: directory, "manifest.json"))
                    let manifest = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                    let artifacts = try #require(manifest["artifacts"] as? [[String: Any]])
                    let version = (manifest["current_version"] as? [String: Any])?["number"] as? Int ?? -1
                    for artifact in artifacts {
                        let file = try #require(artifact["file"] as? String)
                        let bytes = try read(at: directory, file)
                        if SHA256Hasher.digest(bytes).hex != artifact["sha256"] as? String {
                            result.withLock { $0.problems.append("v\(version) \(file): bytes differ from the manifest") }
                        }
                    }
                    if artifacts.count != 2 && version > 1 {
                        result.withLock { $0.problems.append("v\(version): \(artifacts.count) artifacts") }
                    }
                    result.withLock { $0.reads += 1 }
                } catch {
                    result.withLock { $0.problems.append("\(error)") }
                }
            }
        }
        reader.start()
        for i in 1...150 {
            v = try fixture.version("docs", "deep/a.md", Array("v\(i)".utf8))
            // A different second artifact each time: a mix of two versions would show.
            try fixture.artifacts(v, ["text.txt": Array("text \(i)".utf8), "part-\(i % 3).txt": Array(repeating: UInt8(i), count: 1000 + i)])
            try publisher.publish(documentID: v.documentID)
        }
        stop.withLock { $0 = true }
        while !reader.isFinished { usleep(1000) }
        let (reads, problems) = result.withLock { ($0.reads, $0.problems) }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        #expect(reads > 50)
        // Old builds are gone: only the live folder remains.
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.outbox + "/docs/deep") == ["a.md"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["manifest.json", "part-0.txt", "text.txt"])
    }
}

@Suite struct DispatchTests {
    /// Several batches: events.jsonl holds every event once, in sequence order, one whole
    /// envelope per line, and the cursor is at the last one.
    @Test func eventsJsonlHasWholeEnvelopesInOrder() throws {
        let fixture = try OutboxFixture()
        for i in 0..<12 { try fixture.version("docs", "f\(i).md", Array("# \(i)\n".utf8)) }
        let dispatcher = try fixture.dispatcher()
        dispatcher.batchSize = 5
        var batches = 0
        while try dispatcher.dispatchOnce() > 0 { batches += 1 }
        #expect(batches == 5)
        let events = try fixture.events()
        #expect(events.count == 24)
        let jsonl = try lines(fixture.outbox + "/events.jsonl")
        #expect(jsonl == events.map(\.envelopeJSON))
        for line in jsonl {
            let envelope = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(Set(envelope.keys) == ["event", "id", "timestamp", "data"])
            #expect((envelope["id"] as? String)?.hasPrefix("evt_") == true)
        }
        #expect(try dispatcher.cursor() == events.last!.sequence)
        // Every document was published.
        for i in 0..<12 {
            #expect(FileManager.default.fileExists(atPath: fixture.outbox + "/docs/f\(i).md/manifest.json"))
        }
    }

    /// A tail without its newline (a crash mid-append) is cut off before the next append.
    @Test func partialLastLineIsRepaired() throws {
        let fixture = try OutboxFixture()
        try fixture.version("docs", "a.md", Array("a".utf8))
        let dispatcher = try fixture.dispatcher()
        try dispatcher.dispatchOnce()
        let path = fixture.outbox + "/events.jsonl"
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"event\":\"file.st".utf8))
        handle.closeFile()
        try fixture.version("docs", "b.md", Array("b".utf8))
        try dispatcher.dispatchOnce()
        let jsonl = try lines(path)
        #expect(jsonl == (try fixture.events()).map(\.envelopeJSON))
    }

    /// A replayed batch (the cursor did not move: a crash before the commit, a catalog that
    /// went away) appends no line twice and none is missing, and republishes the same folders.
    @Test func replayAfterCrashNeitherDuplicatesNorLoses() throws {
        let fixture = try OutboxFixture()
        try fixture.version("docs", "a.md", Array("a".utf8))
        let dispatcher = try fixture.dispatcher()
        try dispatcher.dispatchOnce()
        let before = try fixture.tree(excluding: ["events.jsonl"])
        try fixture.catalog.database.write { tx in try tx.execute("UPDATE outbox_cursor SET seq = 0") }
        try dispatcher.dispatchOnce()
        let events = try fixture.events()
        #expect(try lines(fixture.outbox + "/events.jsonl") == events.map(\.envelopeJSON))
        #expect(try fixture.tree(excluding: ["events.jsonl"]) == before)
        // A replay with events after it appends those once.
        try fixture.catalog.database.write { tx in try tx.execute("UPDATE outbox_cursor SET seq = 0") }
        try fixture.version("docs", "b.md", Array("b".utf8))
        try dispatcher.dispatchOnce()
        #expect(try lines(fixture.outbox + "/events.jsonl") == (try fixture.events()).map(\.envelopeJSON))
    }

    /// `rebuild` after deleting the outbox gives the very tree incremental dispatch built,
    /// removes folders of documents the catalog does not have and leftover builds, and keeps
    /// events.jsonl as it was.
    @Test func rebuildReproducesTheSameTree() throws {
        let fixture = try OutboxFixture()
        var settings = OutboxSettings()
        settings.fileMode = 0o640
        settings.dirMode = 0o750
        let dispatcher = try fixture.dispatcher(settings)
        let a = try fixture.version("lectures", "physics/week1/a.md", Array("# A\n".utf8))
        try dispatcher.dispatchOnce()
        try fixture.artifacts(a, ["text.txt": Array("A\n".utf8)])
        try fixture.version("lectures", "physics/week1/a.md", Array("# A2\n".utf8))
        let b = try fixture.version("lectures", "b.md", Array("# B\n".utf8))
        try fixture.artifacts(b, ["text.txt": Array("B\n".utf8), "structure.json": Array("{\"headings\":[]}".utf8)])
        try fixture.version("docs", "c.txt", Array("c".utf8))
        try fixture.version("docs", "c.txt", Array("c".utf8))  // unchanged: file.stored only
        while try dispatcher.dispatchOnce() > 0 {}
        let incremental = try fixture.tree()
        let events = try #require(incremental["events.jsonl"])
        #expect(incremental.keys.contains("lectures/physics/week1/a.md/manifest.json"))
        #expect(incremental.keys.contains("lectures/b.md/structure.json"))

        for name in ["lectures", "docs"] { try FileManager.default.removeItem(atPath: fixture.outbox + "/" + name) }
        try makeDirectories(fixture.outbox + "/gone/x.md")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: fixture.outbox + "/gone/x.md/manifest.json"))
        try makeDirectories(fixture.outbox + "/docs/.depot-publish-999999999-dead")
        // The analytics' reports are not the catalog's: a rebuild leaves them alone.
        try makeDirectories(fixture.outbox + "/reports/2026-01-31")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: fixture.outbox + "/reports/2026-01-31/report.json"))
        let report = try fixture.publisher(settings).rebuild()
        #expect(FileManager.default.fileExists(atPath: fixture.outbox + "/reports/2026-01-31/report.json"))
        try FileManager.default.removeItem(atPath: fixture.outbox + "/reports")
        #expect(report.published == 3)
        #expect(report.failed == 0)
        #expect(report.removed == 2)
        let rebuilt = try fixture.tree()
        #expect(rebuilt.keys.sorted() == incremental.keys.sorted())
        #expect(rebuilt == incremental, "\(differences(rebuilt, incremental))")
        #expect(rebuilt["events.jsonl"] == events)
        #expect(try fixture.publisher(settings).rebuild().removed == 0)
        let again = try fixture.tree()
        #expect(again == incremental, "\(differences(again, incremental))")
    }

    /// A document trashed and purged before the dispatcher saw its events is gone from the
    /// catalog: its folder is found from the trash event and taken out all the same.
    @Test func aDocumentPurgedBeforeDispatchLeavesTheOutbox() throws {
        let fixture = try OutboxFixture()
        let dispatcher = try fixture.dispatcher()
        try fixture.version("notes", "a.txt", Array("gone".utf8))
        try fixture.version("notes", "b.txt", Array("kept".utf8))
        while try dispatcher.dispatchOnce() > 0 {}
        #expect(FileManager.default.fileExists(atPath: fixture.outbox + "/notes/a.txt/manifest.json"))
        try fixture.catalog.trash(collection: "notes", path: "a.txt", version: nil, trashDays: 0)
        #expect(try fixture.catalog.purgeTrash(before: nil, trashDays: 0).documents == 1)
        while try dispatcher.dispatchOnce() > 0 {}
        #expect(!FileManager.default.fileExists(atPath: fixture.outbox + "/notes/a.txt"))
        #expect(FileManager.default.fileExists(atPath: fixture.outbox + "/notes/b.txt/manifest.json"))
    }

    /// A document inside another's folder (`a` then `a/b`) survives republishing the outer one.
    @Test func nestedDocumentSurvivesRepublishOfTheOuter() throws {
        let fixture = try OutboxFixture()
        let outer = try fixture.version("docs", "a", Array("outer".utf8))
        let inner = try fixture.version("docs", "a/b", Array("inner".utf8))
        let publisher = try fixture.publisher()
        try publisher.publish(documentID: outer.documentID)
        try publisher.publish(documentID: inner.documentID)
        try fixture.version("docs", "a", Array("outer 2".utf8))
        try publisher.publish(documentID: outer.documentID)
        #expect(FileManager.default.fileExists(atPath: fixture.outbox + "/docs/a/b/manifest.json"))
        #expect(try fixture.publisher().rebuild().removed == 0)
        #expect(FileManager.default.fileExists(atPath: fixture.outbox + "/docs/a/b/manifest.json"))
    }
}

@Suite struct OutboxConfigTests {
    static let sections: [any ConfigSection.Type] = [OutboxSettings.self, WebhooksSection.self]

    @Test func parsesOutboxAndWebhooks() throws {
        let config = try DepotConfig.parse(toml: """
            [outbox]
            file_mode = "0640"
            dir_mode = 0o750
            group = ""
            poll_interval = "100ms"
            retry_initial = "1s"
            retry_max = "10m"

            [[webhooks]]
            url = "http://127.0.0.1:9/hook"
            secret = "x"
            events = ["version.created"]
            max_attempts = 3
            timeout = "2s"

            [[webhooks]]
            name = "second"
            url = "https://example.org/h"
            secret_file = "/etc/depot/secret"
            """, source: "t.toml", sections: Self.sections)
        let outbox = config[OutboxSettings.self], webhooks = config[WebhooksSection.self].webhooks
        #expect(outbox.fileMode == 0o640)
        #expect(outbox.dirMode == 0o750)
        #expect(outbox.group == nil)
        #expect(outbox.pollInterval == .milliseconds(100))
        #expect(outbox.retryMax == .seconds(600))
        #expect(webhooks.count == 2)
        #expect(webhooks[0].name == "http://127.0.0.1:9/hook")
        #expect(webhooks[0].events == ["version.created"])
        #expect(webhooks[0].maxAttempts == 3)
        #expect(webhooks[0].timeout == .seconds(2))
        #expect(webhooks[0].wants("version.created") && !webhooks[0].wants("file.stored"))
        #expect(webhooks[1].name == "second")
        #expect(webhooks[1].secretFile == "/etc/depot/secret")
        #expect(webhooks[1].wants("anything"))
    }

    @Test(arguments: [
        ("[outbox]\nfile_mod = \"0644\"", "unknown key 'outbox.file_mod'"),
        ("[outbox]\nfile_mode = \"0999\"", "outbox.file_mode"),
        ("[[webhooks]]\nurl = \"http://x\"\nsecret = \"s\"\nretries = 1", "unknown key 'webhooks[0].retries'"),
        ("[[webhooks]]\nurl = \"ftp://x\"\nsecret = \"s\"", "webhooks[0].url"),
        ("[[webhooks]]\nurl = \"http://x\"", "webhooks[0].secret"),
        ("[[webhooks]]\nurl = \"http://x\"\nsecret = \"s\"\nsecret_file = \"/f\"", "webhooks[0].secret"),
        ("[[webhooks]]\nurl = \"http://x\"\nsecret = \"s\"\nmax_attempts = 0", "webhooks[0].max_attempts"),
        ("[[webhooks]]\nurl = \"http://x\"\nsecret = \"s\"\n[[webhooks]]\nurl = \"http://x\"\nsecret = \"t\"", "used by two webhooks"),
        ("webhooks = 1", "webhooks must be an array of tables"),
    ])
    func badOutboxConfigNamesTheKey(_ text: String, _ expected: String) {
        let error = #expect(throws: ConfigError.self) { try DepotConfig.parse(toml: text, source: "t.toml", sections: Self.sections) }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
    }
}

@Suite struct EventsFileTests {
    func event(_ n: Int64) -> Event {
        Event(sequence: n, id: "evt_\(n)", type: "version.created", timestampNanoseconds: n, dataJSON: "{\"n\":\(n)}", documentID: n)
    }

    func ids(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
            String(line.split(separator: "\"")[7])
        }
    }

    /// A batch appended again (its cursor's commit failed) is not written twice; events after
    /// it are appended, and a batch the file does not end with is appended whole.
    @Test func aBatchAppendedAgainIsWrittenOnce() throws {
        let dir = TemporaryDirectory()
        let file = EventsFile(path: dir.path + "/events.jsonl")
        try file.append([event(1), event(2)])
        try file.append([event(1), event(2)])
        #expect(try ids(file.path) == ["evt_1", "evt_2"])
        try file.append([event(1), event(2), event(3)])
        #expect(try ids(file.path) == ["evt_1", "evt_2", "evt_3"])
        try file.append([event(4)])
        try file.append([event(3), event(4), event(5)])
        #expect(try ids(file.path) == ["evt_1", "evt_2", "evt_3", "evt_4", "evt_5"])
    }
}
