import DepotCore
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// `depot rm`, `depot trash`, `depot gc` and `depot stats` as a user runs them.
@Suite struct RetentionCommandTests {
    @Test func removeListRestoreEmptyAndCollect() throws {
        let root = try DemoRoot()
        let dir = TemporaryDirectory()
        let a = try dir.write("a.txt", noise(3000, seed: 1))
        let b = try dir.write("b.txt", noise(2000, seed: 2))
        #expect(try depot(["ingest", "--root", root.path, "--collection", "docs", a, b]).status == 0)

        var r = try depot(["rm", "--root", root.path, "docs/a.txt"])
        #expect(r.status == 0 && r.stdout.contains("moved to the trash: docs/a.txt"), "\(r.output)")
        #expect(try !depot(["ls", "--root", root.path]).stdout.contains("a.txt"))
        #expect(try depot(["log", "--root", root.path, "docs/a.txt"]).status == 1)
        r = try depot(["rm", "--root", root.path, "docs/a.txt"])
        #expect(r.status == 1 && r.stderr.contains("no document docs/a.txt"))
        // The only version of a document goes with the document, never alone.
        r = try depot(["rm", "--root", root.path, "docs/b.txt", "--version", "1"])
        #expect(r.status == 65 && r.stderr.contains("only version"), "\(r.output)")

        r = try depot(["trash", "list", "--root", root.path, "--json"])
        let entries = try #require(try parseJSON(r.stdout) as? [[String: Any]])
        #expect(entries.count == 1 && entries[0]["path"] as? String == "a.txt" && entries[0]["bytes"] as? Int == 3000)
        #expect(try depot(["trash", "restore", "--root", root.path, "docs/a.txt"]).status == 0)
        #expect(try depot(["ls", "--root", root.path]).stdout.contains("a.txt"))
        #expect(try depot(["trash", "restore", "--root", root.path, "docs/a.txt"]).status == 1)

        // Gone for good: the bytes wait for the collector, which waits out its grace period.
        #expect(try depot(["rm", "--root", root.path, "docs/a.txt"]).status == 0)
        r = try depot(["trash", "empty", "--expired", "--root", root.path, "--json"])
        #expect((try parseJSON(r.stdout) as? [String: Any])?["versions"] as? Int == 0)
        r = try depot(["trash", "empty", "--root", root.path, "--json"])
        #expect((try parseJSON(r.stdout) as? [String: Any])?["versions"] as? Int == 1)
        let digest = sha256(Array(try Data(contentsOf: URL(fileURLWithPath: a))))
        let blob = blobFile(root, digest)

        r = try depot(["stats", "--root", root.path, "--json"])
        var usage = try #require(try parseJSON(r.stdout) as? [String: Any])
        #expect(usage["reclaimable_bytes"] as? Int == 3000 && usage["stored_bytes"] as? Int == 2000 && usage["logical_bytes"] as? Int == 2000)

        r = try depot(["gc", "--root", root.path])
        #expect(r.status == 0 && r.stdout.contains("removed 0 blobs") && r.stdout.contains("1 wait out the grace period"), "\(r.output)")
        #expect(try statIfExists(blob) != nil)
        r = try depot(["gc", "--root", root.path, "--dry-run", "--grace", "0s"])
        #expect(r.stdout.contains("would remove \(digest)"), "\(r.output)")
        #expect(try statIfExists(blob) != nil)
        r = try depot(["gc", "--root", root.path, "--grace", "0s", "--json"])
        let report = try #require(try parseJSON(r.stdout) as? [String: Any])
        #expect(report["removed_blobs"] as? Int == 1 && report["removed_bytes"] as? Int == 3000)
        #expect(try statIfExists(blob) == nil)
        #expect(try depot(["verify", "--root", root.path]).status == 0)
        r = try depot(["stats", "--root", root.path, "--json"])
        usage = try #require(try parseJSON(r.stdout) as? [String: Any])
        #expect(usage["reclaimable_bytes"] as? Int == 0 && usage["dedup_ratio"] as? Double == 1.0)
        #expect(try depot(["gc", "--root", root.path, "--grace", "soon"]).status == 64)

        let events = try depot(["events", "--root", root.path]).stdout
        for type in ["document.trashed", "document.restored", "document.purged", "gc.completed"] {
            #expect(events.contains(type), "\(type) missing")
        }
    }

    @Test func rulesFromACollectionsDepotTomlAndHoldsAsAUserMeetsThem() throws {
        let root = try DemoRoot(extra: "[retention]\nkeep_last = 5\n")
        let dir = TemporaryDirectory()
        try makeDirectories(root.layout.inbox + "/docs")
        try Data("[retention]\nkeep_last = 1\n".utf8).write(to: URL(fileURLWithPath: root.layout.inbox + "/docs/.depot.toml"))
        for i in 1...3 {
            let file = try dir.write("v\(i)/a.txt", noise(1000 * i, seed: UInt64(i)))
            #expect(try depot(["ingest", "--root", root.path, "--collection", "docs", file]).status == 0)
            let other = try dir.write("v\(i)/b.txt", noise(10 * i, seed: UInt64(100 + i)))
            #expect(try depot(["ingest", "--root", root.path, "--collection", "other", other]).status == 0)
        }
        var r = try depot(["retention", "plan", "--root", root.path])
        #expect(r.status == 0 && r.stdout.contains("would remove docs/a.txt version 1") && r.stdout.contains("would remove docs/a.txt version 2"),
                "\(r.output)")
        #expect(!r.stdout.contains("other/b.txt version"), "other keeps 5: \(r.stdout)")
        r = try depot(["retention", "plan", "--root", root.path, "--json"])
        let plan = try #require(try parseJSON(r.stdout) as? [String: Any])
        #expect(plan["freed_bytes"] as? Int == 3000 && plan["removed_bytes"] as? Int == 3000)

        // A compliance hold on the collection: nothing goes, and `depot rm` says why.
        r = try depot(["hold", "add", "--root", root.path, "docs", "--mode", "compliance", "--for", "1h", "--reason", "audit"])
        #expect(r.status == 0, "\(r.output)")
        r = try depot(["rm", "--root", root.path, "docs/a.txt", "--bypass-governance"])
        #expect(r.status == 65 && r.stderr.contains("compliance hold") && r.stderr.contains("nobody can remove it"), "\(r.output)")
        r = try depot(["retention", "apply", "--root", root.path, "--json"])
        #expect((try parseJSON(r.stdout) as? [String: Any])?["removed"] as? Int == 0, "\(r.output)")
        r = try depot(["hold", "release", "--root", root.path, "1", "--bypass-governance"])
        #expect(r.status == 65 && r.stderr.contains("cannot be lifted"), "\(r.output)")

        // On another root without the hold: apply trashes them, one event each.
        let free = try DemoRoot()
        try makeDirectories(free.layout.inbox + "/docs")
        try Data("[retention]\nkeep_last = 1\n".utf8).write(to: URL(fileURLWithPath: free.layout.inbox + "/docs/.depot.toml"))
        for i in 1...3 {
            #expect(try depot(["ingest", "--root", free.path, "--collection", "docs", dir.path + "/v\(i)/a.txt"]).status == 0)
        }
        #expect(try depot(["pin", "--root", free.path, "docs/a.txt", "--version", "1"]).status == 0)
        r = try depot(["retention", "apply", "--root", free.path])
        #expect(r.status == 0 && r.stdout.contains("moved 1 versions"), "\(r.output)")
        r = try depot(["log", "--root", free.path, "docs/a.txt", "--json"])
        #expect((try parseJSON(r.stdout) as? [[String: Any]])?.compactMap { $0["number"] as? Int } == [1, 3])
        #expect(try depot(["events", "--root", free.path]).stdout.components(separatedBy: "document.trashed").count == 2)
        // A broken rule is a configuration error naming the file.
        try Data("[retention]\nkeep_lots = 1\n".utf8).write(to: URL(fileURLWithPath: free.layout.inbox + "/docs/.depot.toml"))
        r = try depot(["retention", "plan", "--root", free.path])
        #expect(r.status == 78 && r.stderr.contains("keep_lots"), "\(r.output)")
    }

    /// kill -9 in the middle of a sweep, while files are being ingested that share bytes with
    /// what is being collected: the catalog never names a blob that is not there, and the next
    /// run finishes the job.
    @Test(.tags(.slow), .slowTest, .timeLimit(.minutes(3))) func killedInTheMiddleOfASweepLosesNothingNeeded() throws {
        let root = try DemoRoot()
        let dir = TemporaryDirectory()
        var files: [String] = []
        for i in 0..<1500 { files.append(try dir.write("old/f\(i).bin", noise(600, seed: UInt64(i)))) }
        #expect(try depot(["ingest", "--root", root.path, "--collection", "old", dir.path + "/old"]).status == 0)
        // Removed in-process through the store's API (1500 `depot rm` would take a while), with
        // the queue opened over it so that the purge takes the versions' jobs along.
        let catalog = try root.queue().catalog
        for i in 0..<1500 { try catalog.trash(collection: "old", path: "f\(i).bin", version: nil, trashDays: 30) }
        #expect(try depot(["trash", "empty", "--root", root.path]).status == 0)

        // The same bytes come back under another collection while the sweep runs.
        let again = TemporaryDirectory()
        for i in stride(from: 0, to: 1500, by: 3) { _ = try again.write("new/g\(i).bin", noise(600, seed: UInt64(i))) }
        let ingest = Process()
        ingest.executableURL = URL(fileURLWithPath: depotBinary)
        ingest.arguments = ["ingest", "--root", root.path, "--collection", "new", again.path + "/new"]
        ingest.standardOutput = FileHandle.nullDevice
        ingest.standardError = FileHandle.nullDevice
        try ingest.run()
        // Kill the collector after longer and longer delays until one kill lands in the middle
        // of its sweep: some of the unreferenced blobs gone, not all.
        var landedMidSweep = false
        for attempt in 1...30 where !landedMidSweep {
            let gc = Process()
            gc.executableURL = URL(fileURLWithPath: depotBinary)
            gc.arguments = ["gc", "--root", root.path, "--grace", "0s"]
            gc.standardOutput = FileHandle.nullDevice
            gc.standardError = FileHandle.nullDevice
            let left = filesUnder(root.layout.store + "/blobs").count
            try gc.run()
            usleep(UInt32(30_000 * attempt))
            kill(gc.processIdentifier, SIGKILL)
            gc.waitUntilExit()
            let now = filesUnder(root.layout.store + "/blobs").count
            landedMidSweep = gc.terminationReason == .uncaughtSignal && now < left && now > 500
            // Each try: whatever it left, the catalog still names only blobs that are there.
            #expect(try depot(["verify", "--root", root.path]).status == 0)
        }
        #expect(landedMidSweep, "no kill landed in the middle of a sweep")
        ingest.waitUntilExit()

        // Every version and artifact the catalog has is there and whole.
        var r = try depot(["verify", "--root", root.path])
        #expect(r.status == 0, "\(r.output)")
        // A file the ingest could not finish (its blob collected under it) is taken again.
        _ = try depot(["ingest", "--root", root.path, "--collection", "new", again.path + "/new"])
        r = try depot(["ls", "--root", root.path, "new", "--json"])
        #expect((try parseJSON(r.stdout) as? [Any])?.count == 500)
        r = try depot(["gc", "--root", root.path, "--grace", "0s", "--json"])
        #expect(r.status == 0)
        r = try depot(["stats", "--root", root.path, "--json"])
        let usage = try #require(try parseJSON(r.stdout) as? [String: Any])
        #expect(usage["reclaimable_blobs"] as? Int == 0 && usage["stored_blobs"] as? Int == 500, "\(r.stdout)")
        #expect(try depot(["verify", "--root", root.path]).status == 0)
        let blobs = filesUnder(root.layout.store + "/blobs").count
        #expect(blobs == 500)
    }
}

@Suite(.tags(.slow), .slowTest) struct RetentionServeTests {
    /// DELETE in the API: the document leaves listings, its links stop at once (even one just
    /// used, which the server remembers for a second), its outbox folder goes, an event says
    /// so; the daemon's own round purges and collects, and the figures show in /api/v1/stats
    /// and /metrics.
    @Test func deleteThroughTheAPIStopsLinksAndTheDaemonCollects() throws {
        let port = freePort()
        let root = try DemoRoot(extra: "[retention]\ntrash_days = 0\ngc_grace = \"0s\"\ngc_interval = \"1s\"\n[http]\nport = \(port)\n")
        let server = try root.serve()
        let bytes = noise(50_000, seed: 9)
        try root.drop("notes/a.txt", bytes)
        try root.drop("notes/b.txt", Array("kept".utf8))
        #expect(waitUntil(seconds: 20) { (try? depot(["log", "--root", root.path, "notes/a.txt"]).status) == 0 }, "\(server.stderr)")
        #expect(waitUntil(seconds: 20) { (try? statIfExists(root.layout.outbox + "/notes/a.txt/manifest.json")) != nil })
        #expect(waitUntil(seconds: 10) { (try? curl(["http://127.0.0.1:\(port)/healthz"]).code) == 200 })
        let url = try depot(["link", "--root", root.path, "notes/a.txt"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try curl([url]).code == 200)
        let token = try depot(["token", "create", "--root", root.path, "--scope", "admin"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let auth = ["-H", "Authorization: Bearer \(token)"]
        let docs = try parseJSON(String(decoding: try curl(auth + ["http://127.0.0.1:\(port)/api/v1/documents"]).body, as: UTF8.self))
        let items = try #require((docs as? [String: Any])?["items"] as? [[String: Any]])
        let id = try #require(items.first { $0["path"] as? String == "a.txt" }?["id"] as? Int)

        #expect(try curl([url]).code == 200)
        var r = try curl(auth + ["-X", "DELETE", "http://127.0.0.1:\(port)/api/v1/documents/\(id)/versions/1"])
        #expect(r.code == 409, "\(String(decoding: r.body, as: UTF8.self))")
        r = try curl(auth + ["-X", "DELETE", "http://127.0.0.1:\(port)/api/v1/documents/\(id)"])
        #expect(r.code == 200, "\(String(decoding: r.body, as: UTF8.self))")
        #expect((try parseJSON(String(decoding: r.body, as: UTF8.self)) as? [String: Any])?["kind"] as? String == "document")
        #expect(try curl([url]).code == 403)
        #expect(try curl(auth + ["http://127.0.0.1:\(port)/api/v1/documents/\(id)"]).code == 404)
        #expect(try curl(auth + ["-X", "DELETE", "http://127.0.0.1:\(port)/api/v1/documents/\(id)"]).code == 404)
        #expect(waitUntil(seconds: 30) { (try? statIfExists(root.layout.outbox + "/notes/a.txt")) == nil }, "\(server.stderr)")
        #expect(try statIfExists(root.layout.outbox + "/notes/b.txt/manifest.json") != nil)
        #expect(waitUntil(seconds: 10) {
            (try? String(contentsOfFile: root.layout.outbox + "/events.jsonl", encoding: .utf8))?.contains("\"document.trashed\"") ?? false
        })

        // trash_days = 0 and no grace: the daemon's next rounds purge it and remove its blob.
        let digest = sha256(bytes)
        let blob = blobFile(root, digest)
        #expect(waitUntil(seconds: 20) { (try? statIfExists(blob)) == nil }, "\(server.stderr)")
        #expect((try parseJSON(try depot(["trash", "list", "--root", root.path, "--json"]).stdout) as? [Any])?.isEmpty == true)

        r = try curl(auth + ["http://127.0.0.1:\(port)/api/v1/stats"])
        let stats = try #require(try parseJSON(String(decoding: r.body, as: UTF8.self)) as? [String: Any])
        let storage = try #require(stats["storage"] as? [String: Any])
        #expect(storage["stored_bytes"] as? Int == 4 && stats["stored_bytes"] as? Int == 4 && storage["trash_bytes"] as? Int == 0)
        #expect((storage["filesystem_free_bytes"] as? Int ?? 0) > 0)
        let metrics = String(decoding: try curl(["http://127.0.0.1:\(port)/metrics"]).body, as: UTF8.self)
        #expect(metrics.contains("depot_storage_bytes{kind=\"stored\"} 4"), "\(metrics)")
        #expect(metrics.contains("depot_storage_bytes{kind=\"artifact\"}"))
        #expect(metrics.contains("depot_storage_filesystem_free_bytes"))
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }
}

@Suite(.tags(.slow), .slowTest) struct DamagedBlobTests {
    /// One flipped byte in a stored blob: once `depot verify` has found it, no link serves it
    /// (a cached one, a new one, a Range request), the figures count it, and `depot verify
    /// --repair FILE` or a new drop of the same bytes heals it.
    @Test func aDamagedBlobIsNeverServedAndHealsFromAnIntactCopy() throws {
        let port = freePort()
        let root = try DemoRoot(extra: "[http]\nport = \(port)\n")
        let server = try root.serve()
        let bytes = noise(30_000, seed: 21)
        let dir = TemporaryDirectory()
        let good = try dir.write("copy/a.bin", bytes)
        try root.drop("notes/a.bin", bytes)
        #expect(waitUntil(seconds: 20) { (try? depot(["log", "--root", root.path, "notes/a.bin"]).status) == 0 }, "\(server.stderr)")
        #expect(waitUntil(seconds: 10) { (try? curl(["http://127.0.0.1:\(port)/healthz"]).code) == 200 })
        let url = try depot(["link", "--root", root.path, "notes/a.bin"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try curl([url]).code == 200)

        let digest = sha256(bytes)
        let blob = blobFile(root, digest)
        chmod(blob, 0o644)
        var damaged = bytes
        damaged[12_345] ^= 0x01
        try Data(damaged).write(to: URL(fileURLWithPath: blob))
        var r = try depot(["verify", "--root", root.path])
        #expect(r.status == 1 && r.stderr.contains("is damaged") && r.stdout.contains("BAD \(digest)"), "\(r.output)")
        usleep(1_100_000)  // past the second the server remembers a link it resolved
        #expect(try curl([url]).code == 403)
        #expect(try curl(["-r", "0-99", url]).code == 403)
        #expect(try depot(["link", "--root", root.path, "notes/a.bin"]).status != 0)
        r = try depot(["stats", "--root", root.path, "--json"])
        #expect((try parseJSON(r.stdout) as? [String: Any])?["damaged_blobs"] as? Int == 1)
        let metrics = String(decoding: try curl(["http://127.0.0.1:\(port)/metrics"]).body, as: UTF8.self)
        #expect(metrics.contains("depot_storage_damaged_blobs 1"), "\(metrics)")

        // A file with other bytes repairs nothing; the right bytes do.
        let wrong = try dir.write("copy/wrong.bin", noise(30_000, seed: 22))
        r = try depot(["verify", "--root", root.path, "--repair", wrong])
        #expect(r.status == 65 && r.stderr.contains("no blob this depot holds"), "\(r.output)")
        r = try depot(["verify", "--root", root.path, "--repair", good])
        #expect(r.status == 0 && r.stdout.contains("repaired \(digest)"), "\(r.output)")
        let served = try curl([url])
        #expect(served.code == 200 && Array(served.body) == bytes)
        #expect(try depot(["verify", "--root", root.path]).status == 0)

        // Damaged again: found by verify, then healed by an intact copy arriving.
        chmod(blob, 0o644)
        try Data(damaged).write(to: URL(fileURLWithPath: blob))
        #expect(try depot(["verify", "--root", root.path]).status == 1)
        #expect(try depot(["ingest", "--root", root.path, "--collection", "copies", good]).status == 0)
        r = try depot(["stats", "--root", root.path, "--json"])
        #expect((try parseJSON(r.stdout) as? [String: Any])?["damaged_blobs"] as? Int == 0)
        usleep(1_100_000)
        #expect(Array(try curl([url]).body) == bytes)
        let events = try depot(["events", "--root", root.path]).stdout
        #expect(events.contains("blob.damaged") && events.contains("blob.healed"))
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }
}

/// Where the local store keeps a blob of a root (the tests look at the files themselves).
private func blobFile(_ root: DemoRoot, _ digest: String) -> String {
    root.layout.store + "/blobs/sha256/" + digest.prefix(2) + "/" + digest.dropFirst(2).prefix(2) + "/" + digest
}

@Suite(.tags(.slow), .slowTest) struct ScrubServeTests {
    /// The daemon's scrub finds two damaged blobs: one is restored from the second copy (a
    /// real folder laid out like store/blobs), the other is reported — log, event, metric,
    /// `depot status` and the API's status — and no longer served.
    @Test func theDaemonScrubsReportsAndHealsFromASecondCopy() throws {
        let port = freePort()
        let copy = TemporaryDirectory()
        let root = try DemoRoot(extra: "[scrub]\nperiod = \"1s\"\ninterval = \"1s\"\nsecond_copy = \"\(copy.path)\"\n[http]\nport = \(port)\n")
        let healable = noise(40_000, seed: 31), lost = noise(40_000, seed: 32)
        let a = sha256(healable), b = sha256(lost)
        _ = try copy.write("sha256/" + a.prefix(2) + "/" + a.dropFirst(2).prefix(2) + "/" + a, healable)
        // Stored before the daemon starts, from outside the inbox, so nothing heals them first.
        let sources = TemporaryDirectory()
        #expect(try depot(["ingest", "--root", root.path, "--collection", "notes", try sources.write("a.bin", healable),
                           try sources.write("b.bin", lost)]).status == 0)
        for (digest, bytes) in [(a, healable), (b, lost)] {
            let blob = blobFile(root, digest)
            chmod(blob, 0o644)
            var damaged = bytes
            damaged[1000] ^= 0x01
            try Data(damaged).write(to: URL(fileURLWithPath: blob))
        }
        let server = try root.serve()
        #expect(waitUntil(seconds: 30) {
            let events = (try? depot(["events", "--root", root.path]).stdout) ?? ""
            return events.contains("blob.healed") && events.contains("blob.damaged")
        }, "\(server.stderr)")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: blobFile(root, a)))) == healable)
        #expect(waitUntil(seconds: 10) { server.stderr.contains("blob \(b) is damaged") }, "\(server.stderr)")
        #expect(server.stderr.contains("blob \(a) was damaged"))
        let stats = try parseJSON(try depot(["stats", "--root", root.path, "--json"]).stdout) as? [String: Any]
        #expect(stats?["damaged_blobs"] as? Int == 1)
        #expect(waitUntil(seconds: 10) { (try? curl(["http://127.0.0.1:\(port)/healthz"]).code) == 200 })
        let metrics = String(decoding: try curl(["http://127.0.0.1:\(port)/metrics"]).body, as: UTF8.self)
        #expect(metrics.contains("depot_blobs_damaged_total 2"), "\(metrics)")
        let status = try depot(["status", "--root", root.path]).stdout
        #expect(status.contains("scrub     pass "), "\(status)")
        let token = try depot(["token", "create", "--root", root.path, "--scope", "read"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let api = try parseJSON(String(decoding: try curl(["-H", "Authorization: Bearer \(token)",
                                                          "http://127.0.0.1:\(port)/api/v1/status"]).body, as: UTF8.self))
        #expect(((api as? [String: Any])?["scrub"] as? String)?.hasPrefix("pass ") == true, "\(api)")
        #expect(try depot(["link", "--root", root.path, "notes/b.bin"]).status != 0)
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }
}

@Suite(.tags(.slow), .slowTest) struct CheckedDownloadTests {
    /// A whole download hashes the blob on its way: a flipped byte cuts the transfer short of
    /// its Content-Length (curl fails), marks the blob damaged, and the link stops working.
    /// An intact blob comes whole, again and again (the second time through sendfile).
    @Test func aWholeDownloadOfADamagedBlobIsCutAndMarked() throws {
        let port = freePort()
        // No scrub: the download must be what finds the damage.
        let root = try DemoRoot(extra: "[scrub]\nperiod = \"0s\"\n[http]\nport = \(port)\n")
        let server = try root.serve()
        let bytes = noise(9 << 20, seed: 41), fine = noise(2 << 20, seed: 42)
        try root.drop("notes/big.bin", bytes)
        try root.drop("notes/fine.bin", fine)
        #expect(waitUntil(seconds: 30) {
            (try? depot(["log", "--root", root.path, "notes/big.bin"]).status) == 0
                && (try? depot(["log", "--root", root.path, "notes/fine.bin"]).status) == 0
        }, "\(server.stderr)")
        #expect(waitUntil(seconds: 10) { (try? curl(["http://127.0.0.1:\(port)/healthz"]).code) == 200 })
        let url = try depot(["link", "--root", root.path, "notes/big.bin"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let fineURL = try depot(["link", "--root", root.path, "notes/fine.bin"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for _ in 0..<3 {
            let r = try curl([fineURL])
            #expect(r.code == 200 && Array(r.body) == fine)
        }

        let digest = sha256(bytes)
        let blob = blobFile(root, digest)
        chmod(blob, 0o644)
        var damaged = bytes
        damaged[(9 << 20) - 10] ^= 0x01  // in the last of three 4 MiB segments
        try Data(damaged).write(to: URL(fileURLWithPath: blob))
        // A Range request is not hashed (it cannot be): it is served.
        #expect(try curl(["-r", "0-99", url]).code == 206)
        let dir = TemporaryDirectory()
        let out = dir.path + "/got.bin"
        let r = try runBlocking("/usr/bin/curl", ["-s", "-o", out, "-w", "%{http_code} %{size_download}", url])
        #expect(r.status == 18, "curl: \(r.status) \(r.output)")  // CURLE_PARTIAL_FILE: closed short of Content-Length
        let got = (try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data()
        #expect(got.count < bytes.count, "\(got.count) bytes received")
        #expect(Array(got) == Array(damaged.prefix(got.count)))
        #expect(waitUntil(seconds: 10) {
            ((try? parseJSON(try depot(["stats", "--root", root.path, "--json"]).stdout)) as? [String: Any])?["damaged_blobs"] as? Int == 1
        })
        #expect(try depot(["events", "--root", root.path]).stdout.contains("blob.damaged"))
        #expect(server.stderr.contains("found by a download"), "\(server.stderr)")
        #expect(try curl([url]).code == 403)
        #expect(try curl(["-r", "0-99", url]).code == 403)
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }
}

@Suite(.tags(.slow), .slowTest) struct MirrorRemovalServeTests {
    /// In a mirror-mode collection with `removed = "trash after 1s"`, a file removed from the
    /// share sends its document to the trash (an event says so; `depot trash restore` brings
    /// it back); in one that says nothing (keep, the default) the document stays.
    @Test func aFileRemovedFromTheShareGoesToTheTrashAfterItsTime() throws {
        let root = try DemoRoot(extra: """
            [retention]
            gc_interval = "1s"
            [collections.share]
            mode = "mirror"
            removed = "trash after 1s"
            [collections.keep]
            mode = "mirror"
            """)
        let server = try root.serve()
        let gone = try root.drop("share/gone.txt", Array("gone".utf8))
        try root.drop("share/stays.txt", Array("stays".utf8))
        let kept = try root.drop("keep/old.txt", Array("old".utf8))
        try root.drop("keep/other.txt", Array("other".utf8))
        #expect(waitUntil(seconds: 30) {
            ["share/gone.txt", "share/stays.txt", "keep/old.txt", "keep/other.txt"].allSatisfy {
                (try? depot(["log", "--root", root.path, $0]).status) == 0
            }
        }, "\(server.stderr)")
        unlink(gone)
        unlink(kept)
        #expect(waitUntil(seconds: 30) {
            (try? depot(["trash", "list", "--root", root.path]).stdout.contains("share/gone.txt")) == true
        }, "\(server.stderr)")
        #expect(try depot(["log", "--root", root.path, "share/gone.txt"]).status != 0)
        #expect(try depot(["log", "--root", root.path, "share/stays.txt"]).status == 0)
        #expect(try depot(["events", "--root", root.path]).stdout.contains("document.trashed"))
        #expect(server.stderr.contains("removed from the share: moved to the trash"))
        // Default keep: several rounds later the document is still there.
        sleep(3)
        #expect(try depot(["log", "--root", root.path, "keep/old.txt"]).status == 0)
        #expect(try !depot(["trash", "list", "--root", root.path]).stdout.contains("keep/old.txt"))
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }
}
