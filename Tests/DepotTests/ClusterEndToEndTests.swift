import DepotCore
import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Three nodes and their failures (issue 18): real `depot serve` processes, each with its own
/// root and config, against one PostgreSQL database and one S3 bucket (moto). What each
/// failure does and how the nodes recover is in docs/SCALING.md ("Failures").
@Suite(.serialized, .tags(.slow), .slowTest) struct ClusterEndToEndTests {
    /// 1,000 small files dropped across two ingest nodes, one worker + HTTP node: every file
    /// is stored once (one version, twins deduplicated to one blob, also across the nodes),
    /// processed once (one extract job each, no job run twice) and published (outbox, events).
    @Test func aThousandFilesAcrossTwoIngestNodesAreStoredProcessedAndPublishedOnce() throws {
        let cluster = try ClusterFixture()
        let a = try cluster.node("a", id: "ingest-a", role: "ingest")
        let b = try cluster.node("b", id: "ingest-b", role: "ingest")
        let c = try cluster.node("c", id: "worker-c", role: "worker,http", extra: "[jobs]\nworkers = 3\n[jobs.concurrency]\ndocuments = 3\n")
        let started = Date()
        let servers = try [a, b, c].map { try $0.serve() }
        #expect(eventually(seconds: 30) { servers.allSatisfy { $0.stderr.contains("depot is serving") } }, "\(servers.map(\.stderr))")

        // File i goes to node a when i is even, b when odd; its bytes are those of i % 125,
        // and 125 is odd: each blob has eight files, four on each node.
        let count = 1000, distinct = 125
        func text(_ i: Int) -> String { "# Note \(i % distinct)\n\nA small note, the same as its twins.\n" }
        var expected: [String: String] = [:]
        for i in 0..<count {
            let node = i.isMultiple(of: 2) ? a : b
            let name = "\(node.name)-\(String(format: "%04d", i)).md"
            expected[name] = sha256(Array(text(i).utf8))
            try node.drop("notes/" + name, text(i))
        }
        let catalog = try cluster.catalog()
        let queue = JobQueue(catalog: catalog, settings: JobsSettings())
        var storedAt: Date?
        // Bound by the S3 server: moto (Python) answers some 20 requests a file (the blob, each
        // job's input and artifacts) at one core's pace, about 8 files a second on a busy 2-core box.
        let done = eventually(seconds: 540) {
            guard filesUnder(a.inbox + "/notes").isEmpty, filesUnder(b.inbox + "/notes").isEmpty else { return false }
            if storedAt == nil, (try? catalog.documents(collection: "notes").count) == count { storedAt = Date() }
            // A version's jobs are queued with it: none left unfinished is all of them done.
            guard storedAt != nil, let counts = try? queue.counts() else { return false }
            return counts.values.reduce(0, +) > 0 && counts.allSatisfy { $0.key.isFinished || $0.value == 0 }
        }
        let processed = Date()
        print("cluster: 1000 files stored in \(storedAt.map { $0.timeIntervalSince(started) } ?? -1) s")
        #expect(done, "not all stored and processed: \(filesUnder(a.inbox + "/notes").count + filesUnder(b.inbox + "/notes").count) left in the inboxes; \(servers[2].stderr.suffix(3000))")
        print("cluster: 1000 files stored and processed in \(processed.timeIntervalSince(started)) s")

        // Stored once: one document and one version per file, with its bytes; twins share a blob.
        let documents = try catalog.documents(collection: "notes")
        #expect(Set(documents.map(\.path)) == Set(expected.keys))
        var versions: [VersionInfo] = []
        for document in documents {
            let list = (try catalog.versions(ofDocument: document.id) ?? [])
            #expect(list.count == 1, "\(document.path) has \(list.count) versions")
            #expect(list.first?.digest.hex == expected[document.path], "\(document.path)")
            versions += list
        }
        let digests = Set(versions.map(\.digest))
        #expect(digests.count == distinct)
        #expect(digests.isSubset(of: Set(try catalog.blobs().map(\.digest))))
        #expect(digests.isSubset(of: Set(try cluster.bucketDigests())), "a version's blob is not in the bucket")

        // Processed once: one extract job per version, every job succeeded at its first attempt,
        // and each said so once.
        let jobs = try queue.jobs(limit: 100_000)
        let extracts = jobs.filter { $0.kind == "extract" }
        #expect(Set(extracts.map(\.versionID)) == Set(versions.map(\.id)))
        #expect(extracts.count == versions.count)
        let unsuccessful = jobs.filter { $0.state != .succeeded }
        #expect(unsuccessful.isEmpty, "\(unsuccessful.prefix(5).map { "\($0.id) \($0.kind) \($0.state) \($0.lastError ?? "")" })")
        let retried = jobs.filter { $0.attempts != 1 }
        #expect(retried.isEmpty, "jobs run more than once: \(retried.prefix(5).map { "\($0.id) \($0.kind) attempts \($0.attempts)" })")
        let events = try catalog.events(after: 0, limit: 1_000_000)
        let succeeded = events.filter { $0.type == "job.succeeded" }.compactMap { jobID(of: $0) }
        #expect(succeeded.count == jobs.count)
        #expect(Set(succeeded) == Set(jobs.map(\.id)), "a job.succeeded is missing or repeated")
        #expect(events.filter { $0.type == "version.created" }.count == count)
        for version in versions.prefix(50) {
            let kinds = try catalog.artifacts(versionID: version.id).map(\.kind)
            #expect(kinds.count == Set(kinds).count, "an artifact recorded twice for \(version.path): \(kinds)")
        }

        // Published by the worker node: every event once in its events.jsonl, every document
        // in its outbox with a manifest of its one version.
        // The dispatcher (one thread, at background priority) publishes each document again at
        // each of its five events, and runs behind the jobs on a loaded machine.
        #expect(eventually(seconds: 300) { eventIDs(in: c).count >= events.count },
                "\(eventIDs(in: c).count) of \(events.count) events dispatched; \(servers[2].stderr.suffix(2000))")
        let lines = eventIDs(in: c)
        #expect(lines.count == Set(lines).count, "an event was appended to events.jsonl twice")
        #expect(Set(lines) == Set(try catalog.events(after: 0, limit: 1_000_000).map(\.id)))
        let missing = expected.keys.filter { name in
            guard let manifest = try? parseJSON(String(contentsOfFile: c.outbox + "/notes/\(name)/manifest.json", encoding: .utf8)),
                  let current = (manifest as? [String: Any])?["current_version"] as? [String: Any] else { return true }
            return current["sha256"] as? String != expected[name]
                || (try? statIfExists(c.outbox + "/notes/\(name)/text.txt")) == nil
        }
        #expect(missing.isEmpty, "not published: \(missing.sorted().prefix(5))")

        // The ingest nodes ran no jobs; all three nodes are up.
        #expect(!servers[0].stderr.contains("job runner started") && !servers[1].stderr.contains("job runner started"))
        let nodes = try cluster.nodes()
        #expect(nodes.mapValues(\.state) == ["ingest-a": "up", "ingest-b": "up", "worker-c": "up"])
        for server in servers { server.signal(SIGTERM) }
        for server in servers { #expect(server.wait() == 0, "\(server.stderr.suffix(2000))") }
        print("cluster: the thousand-file test took \(Date().timeIntervalSince(started)) s")
    }

    /// kill -9 of a worker node in the middle of its jobs: another worker node takes them back
    /// and finishes them; each job succeeds once, its artifacts recorded once.
    @Test func theJobsOfAKilledWorkerNodeFinishOnAnother() throws {
        let cluster = try ClusterFixture()
        // The test processor's files are of the media class "other": two at once, one per slot.
        let jobs = "[jobs]\nworkers = 2\nlease = \"3s\"\n[jobs.concurrency]\nother = 2\n"
        let a = try cluster.node("a", id: "ingest-a", role: "ingest")
        let b = try cluster.node("b", id: "worker-b", role: "worker", extra: jobs)
        let c = try cluster.node("c", id: "worker-c", role: "worker", extra: jobs)
        // The test processor's slow jobs (DEPOT-TEST-SLEEP) are detected on the ingest node
        // and run on the workers.
        let test = ["DEPOT_TEST_PROCESSORS": "1"]
        let ingest = try a.serve(environment: test)
        let victim = try b.serve(environment: test)
        #expect(eventually(seconds: 30) { [ingest, victim].allSatisfy { $0.stderr.contains("depot is serving") } })
        let catalog = try cluster.catalog()
        let queue = JobQueue(catalog: catalog, settings: JobsSettings())
        for i in 0..<4 { try a.drop("slow/\(i).txt", "DEPOT-TEST-SLEEP 4000\nslow file \(i)\n") }
        let owner = "serve:\(victim.process.processIdentifier):"
        func victimsJobs() -> [Job] {
            ((try? queue.jobs(state: .running, limit: 1000)) ?? []).filter { $0.leaseOwner?.hasPrefix(owner) == true }
        }
        // Worker b holds two jobs (its two slots) before worker c starts.
        #expect(eventually(seconds: 30) { victimsJobs().count == 2 }, "\(victim.stderr.suffix(2000))")
        let survivor = try c.serve(environment: test)
        #expect(eventually(seconds: 30) { survivor.stderr.contains("job runner started") })
        let held = victimsJobs()
        #expect(held.count == 2)
        victim.signal(SIGKILL)
        #expect(victim.wait() == -SIGKILL)
        let killedAt = wallClockNanoseconds()

        #expect(eventually(seconds: 60) {
            guard let all = try? queue.jobs(limit: 1000) else { return false }
            return all.filter { $0.kind == "extract" }.count == 4 && all.allSatisfy { $0.state.isFinished }
        }, "\(survivor.stderr.suffix(3000))")
        let all = try queue.jobs(limit: 1000)
        #expect(all.allSatisfy { $0.state == .succeeded }, "\(all.map { "\($0.id) \($0.kind) \($0.state) \($0.lastError ?? "")" })")
        for job in held {
            let after = try #require(try queue.job(id: job.id))
            // Its second attempt, by worker c after the kill (b was dead by then).
            #expect(after.state == .succeeded)
            #expect(after.attempts == 2, "job \(job.id): \(after.attempts) attempts")
            #expect((after.finishedAtNanoseconds ?? 0) > killedAt)
        }
        #expect(survivor.stderr.contains("took back jobs whose lease ran out or whose daemon is gone"), "\(survivor.stderr.suffix(2000))")
        let events = try catalog.events(after: 0, limit: 100_000)
        let succeeded = events.filter { $0.type == "job.succeeded" }.compactMap { jobID(of: $0) }
        #expect(succeeded.sorted() == all.map(\.id).sorted(), "each job succeeds once")
        for document in try catalog.documents(collection: "slow") {
            let versions = (try catalog.versions(ofDocument: document.id) ?? [])
            #expect(versions.count == 1)
            let kinds = try catalog.artifacts(versionID: try #require(versions.first).id).map(\.kind)
            #expect(kinds.contains("text.txt"), "\(document.path): \(kinds)")
            #expect(kinds.count == Set(kinds).count, "an artifact recorded twice for \(document.path): \(kinds)")
        }
        #expect(try cluster.nodes()["worker-b"]?.state == "down" || eventually(seconds: 15) { (try? cluster.nodes())?["worker-b"]?.state == "down" })
        for server in [ingest, survivor] { server.signal(SIGTERM) }
        for server in [ingest, survivor] { #expect(server.wait() == 0, "\(server.stderr.suffix(2000))") }
    }

    /// A worker node that freezes mid-job (SIGSTOP: alive, silent) loses its jobs when their
    /// leases run out; another node finishes them; when the frozen one wakes, its late results
    /// are refused, so nothing is recorded twice.
    @Test func aFrozenWorkerNodesJobsGoBackWhenTheirLeaseRunsOut() throws {
        let cluster = try ClusterFixture()
        let jobs = "[jobs]\nworkers = 1\nlease = \"2s\"\n"
        let a = try cluster.node("a", id: "ingest-a", role: "ingest")
        let b = try cluster.node("b", id: "worker-b", role: "worker", extra: jobs)
        let c = try cluster.node("c", id: "worker-c", role: "worker", extra: jobs)
        let test = ["DEPOT_TEST_PROCESSORS": "1"]
        let ingest = try a.serve(environment: test)
        let frozen = try b.serve(environment: test)
        #expect(eventually(seconds: 30) { [ingest, frozen].allSatisfy { $0.stderr.contains("depot is serving") } })
        let catalog = try cluster.catalog()
        let queue = JobQueue(catalog: catalog, settings: JobsSettings())
        try a.drop("slow/one.txt", "DEPOT-TEST-SLEEP 3000\nslow file\n")
        let owner = "serve:\(frozen.process.processIdentifier):"
        func held() -> Job? {
            ((try? queue.jobs(state: .running, limit: 10)) ?? []).first { $0.leaseOwner?.hasPrefix(owner) == true }
        }
        #expect(eventually(seconds: 30) { held() != nil }, "\(frozen.stderr.suffix(2000))")
        let job = try #require(held())
        frozen.signal(SIGSTOP)
        defer { frozen.signal(SIGCONT) }
        let survivor = try c.serve(environment: test)
        #expect(eventually(seconds: 60) { (try? queue.job(id: job.id))?.state == .succeeded }, "\(survivor.stderr.suffix(3000))")
        let taken = try #require(try queue.job(id: job.id))
        #expect(taken.attempts == 2)
        #expect(survivor.stderr.contains("took back jobs whose lease ran out"), "\(survivor.stderr.suffix(2000))")

        // Woken, the first node finishes its sleep and offers a result that is no longer its own.
        frozen.signal(SIGCONT)
        Thread.sleep(forTimeInterval: 5)
        #expect(frozen.process.isRunning)
        let events = try catalog.events(after: 0, limit: 100_000)
        #expect(events.filter { $0.type == "job.succeeded" }.compactMap { jobID(of: $0) }.filter { $0 == job.id }.count == 1)
        let kinds = try catalog.artifacts(versionID: job.versionID).map(\.kind)
        #expect(kinds.count == Set(kinds).count, "an artifact recorded twice: \(kinds)")
        #expect(try queue.job(id: job.id)?.attempts == 2)
        for server in [ingest, frozen, survivor] { server.signal(SIGTERM) }
        for server in [ingest, frozen, survivor] { #expect(server.wait() == 0, "\(server.stderr.suffix(2000))") }
    }

    /// kill -9 of the PostgreSQL server (a private one) while files come in: the nodes keep
    /// running, files dropped meanwhile stay in the inbox, and once the server is back every
    /// file is stored and processed once.
    @Test func theNodesWaitForAKilledPostgresAndLoseNothing() throws {
        let postgres = try PostgresCluster.makePrivate()
        defer { postgres.stop() }
        let cluster = try ClusterFixture(postgres: postgres)
        // Files that failed are tried again after 1 s, then 2 s, at most 4 s apart.
        let inbox = "retry_initial = \"1s\"\nretry_max = \"4s\"\n"
        let a = try cluster.node("a", id: "ingest-a", role: "ingest", inbox: inbox)
        let b = try cluster.node("b", id: "worker-b", role: "worker,http", inbox: inbox)
        let servers = try [a, b].map { try $0.serve() }
        #expect(eventually(seconds: 30) { servers.allSatisfy { $0.stderr.contains("depot is serving") } })
        let catalog = try cluster.catalog()
        let queue = JobQueue(catalog: catalog, settings: JobsSettings())
        func drop(_ batch: String) throws -> [String] {
            try (0..<20).map { i in
                let name = "\(batch)-\(i).md"
                try a.drop("docs/" + name, "# \(batch) \(i)\n\nDropped \(batch).\n")
                return name
            }
        }
        func allDone(_ names: [String]) -> Bool {
            guard filesUnder(a.inbox + "/docs").isEmpty, let documents = try? catalog.documents(collection: "docs"),
                  Set(names).isSubset(of: Set(documents.map(\.path))), let jobs = try? queue.jobs(limit: 10_000) else { return false }
            return jobs.filter { $0.kind == "extract" }.count == documents.count && jobs.allSatisfy { $0.state.isFinished }
        }
        var names = try drop("before")
        #expect(eventually(seconds: 60) { allDone(names) }, "\(servers[1].stderr.suffix(2000))")

        // Files arrive as the server dies, and while it is down.
        names += try drop("during")
        Thread.sleep(forTimeInterval: 0.3)
        try postgres.kill()
        Thread.sleep(forTimeInterval: 2)
        names += try drop("outage")
        Thread.sleep(forTimeInterval: 6)
        #expect(servers.allSatisfy { $0.process.isRunning }, "a node died with the catalog: \(servers.map { $0.stderr.suffix(2000) })")
        let waiting = filesUnder(a.inbox + "/docs")
        #expect(Set(names.filter { $0.hasPrefix("outage") }).isSubset(of: Set(waiting)), "\(waiting)")
        try postgres.start()
        let restarted = Date()

        #expect(eventually(seconds: 90) { allDone(names) }, "not recovered: \(filesUnder(a.inbox + "/docs")); \(servers.map { $0.stderr.suffix(3000) })")
        print("cluster: recovered \(Date().timeIntervalSince(restarted)) s after PostgreSQL came back")
        names += try drop("after")
        #expect(eventually(seconds: 60) { allDone(names) }, "\(servers.map { $0.stderr.suffix(2000) })")

        let documents = try catalog.documents(collection: "docs")
        #expect(documents.map(\.path).sorted() == names.sorted())
        for document in documents {
            #expect((try catalog.versions(ofDocument: document.id) ?? []).count == 1, "\(document.path)")
        }
        let jobs = try queue.jobs(limit: 10_000)
        #expect(jobs.allSatisfy { $0.state == .succeeded }, "\(jobs.filter { $0.state != .succeeded }.map { "\($0.id) \($0.kind) \($0.state) \($0.lastError ?? "")" })")
        #expect(jobs.filter { $0.kind == "extract" }.count == names.count)
        let events = try catalog.events(after: 0, limit: 100_000)
        let succeeded = events.filter { $0.type == "job.succeeded" }.compactMap { jobID(of: $0) }
        #expect(succeeded.sorted() == jobs.map(\.id).sorted(), "each job succeeds once")
        #expect(events.filter { $0.type == "version.created" }.count == names.count)
        // The dispatcher carried on: every event in events.jsonl, once.
        #expect(eventually(seconds: 30) { Set(eventIDs(in: b)) == Set(events.map(\.id)) }, "\(servers[1].stderr.suffix(2000))")
        let lines = eventIDs(in: b)
        #expect(lines.count == Set(lines).count, "an event was appended to events.jsonl twice")
        #expect(try eventually(seconds: 15) { try cluster.nodes().mapValues(\.state) == ["ingest-a": "up", "worker-b": "up"] })
        for server in servers { server.signal(SIGTERM) }
        for server in servers { #expect(server.wait() == 0, "\(server.stderr.suffix(2000))") }
    }

    /// The S3 server cut off for 30 s: the ingest keeps the files in the inbox and tries
    /// again; nothing is recorded without its blob; once the server is back, all is stored
    /// and processed.
    @Test func filesWaitInTheInboxWhileTheBucketIsUnreachable() throws {
        let proxy = try DroppingProxy(upstream: try TestS3Server.shared().port) { _, _ in false }
        defer { proxy.stop() }
        let cluster = try ClusterFixture(endpoint: proxy.endpoint)
        let inbox = "retry_initial = \"1s\"\nretry_max = \"4s\"\n"
        let a = try cluster.node("a", id: "ingest-a", role: "ingest", inbox: inbox)
        let b = try cluster.node("b", id: "worker-b", role: "worker,http", inbox: inbox)
        let servers = try [a, b].map { try $0.serve() }
        #expect(eventually(seconds: 30) { servers.allSatisfy { $0.stderr.contains("depot is serving") } })
        let catalog = try cluster.catalog()
        let queue = JobQueue(catalog: catalog, settings: JobsSettings())
        func drop(_ batch: String) throws -> [String] {
            try (0..<10).map { i in
                let name = "\(batch)-\(i).md"
                try a.drop("docs/" + name, "# \(batch) \(i)\n\nDropped \(batch).\n")
                return name
            }
        }
        func allDone(_ names: [String]) -> Bool {
            guard filesUnder(a.inbox + "/docs").isEmpty, let documents = try? catalog.documents(collection: "docs"),
                  Set(names).isSubset(of: Set(documents.map(\.path))), let jobs = try? queue.jobs(limit: 10_000) else { return false }
            return jobs.filter { $0.kind == "extract" }.count == documents.count && jobs.allSatisfy { $0.state.isFinished }
        }
        var names = try drop("before")
        #expect(eventually(seconds: 60) { allDone(names) }, "\(servers.map { $0.stderr.suffix(2000) })")

        proxy.partition(true)
        let cut = try drop("cut")
        names += cut
        let partitionEnds = Date().addingTimeInterval(30)
        var alwaysWaiting = true
        while Date() < partitionEnds {
            let waiting = Set(filesUnder(a.inbox + "/docs"))
            let recorded = Set(((try? catalog.documents(collection: "docs")) ?? []).map(\.path))
            if !Set(cut).isSubset(of: waiting) || !recorded.isDisjoint(with: cut) { alwaysWaiting = false }
            Thread.sleep(forTimeInterval: 0.5)
        }
        #expect(alwaysWaiting, "a file left the inbox, or was recorded, while the bucket was unreachable")
        #expect(proxy.refusedConnections > 0, "nothing tried to reach the bucket")
        #expect(servers.allSatisfy { $0.process.isRunning })
        #expect(servers[0].stderr.contains("cannot store file, it stays in the inbox and is retried"), "\(servers[0].stderr.suffix(2000))")
        let refusedDuringPartition = proxy.refusedConnections
        proxy.partition(false)
        let healed = Date()

        #expect(eventually(seconds: 60) { allDone(names) }, "not recovered: \(filesUnder(a.inbox + "/docs")); \(servers.map { $0.stderr.suffix(3000) })")
        print("cluster: stored \(Date().timeIntervalSince(healed)) s after the bucket came back (\(refusedDuringPartition) connections refused)")
        let documents = try catalog.documents(collection: "docs")
        #expect(documents.map(\.path).sorted() == names.sorted())
        var digests: Set<Digest> = []
        for document in documents {
            let versions = (try catalog.versions(ofDocument: document.id) ?? [])
            #expect(versions.count == 1, "\(document.path)")
            digests.formUnion(versions.map(\.digest))
        }
        #expect(digests.isSubset(of: Set(try cluster.bucketDigests())), "a version's blob is not in the bucket")
        let jobs = try queue.jobs(limit: 10_000)
        #expect(jobs.allSatisfy { $0.state == .succeeded }, "\(jobs.filter { $0.state != .succeeded }.map { "\($0.id) \($0.kind) \($0.state) \($0.lastError ?? "")" })")
        for server in servers { server.signal(SIGTERM) }
        for server in servers { #expect(server.wait() == 0, "\(server.stderr.suffix(2000))") }
    }
}

/// Polls `condition` every half second (not waitUntil's 10 ms: each look here reads
/// thousands of rows, and the nodes under test share the machine's cores) until it holds or
/// `seconds` pass; true if it held.
private func eventually(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(500_000)
    }
    return try condition()
}

/// The job a job event is about.
private func jobID(of event: Event) -> Int64? {
    guard let data = try? JSONSerialization.jsonObject(with: Data(event.dataJSON.utf8)) as? [String: Any] else { return nil }
    return (data["job_id"] as? NSNumber)?.int64Value
}

/// The ids of the events in a node's outbox/events.jsonl, in order.
private func eventIDs(in node: ClusterNode) -> [String] {
    guard let text = try? String(contentsOfFile: node.outbox + "/events.jsonl", encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap { line in
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["id"] as? String
    }
}

/// One PostgreSQL database and one S3 bucket that several nodes share, each node with its
/// own root and config in a temp folder.
final class ClusterFixture {
    let dir = TemporaryDirectory()
    let url: String
    /// The bucket as the nodes reach it (through `endpoint` when given).
    let bucket: S3Settings
    let credentials: String
    let s3: TestS3Server

    /// - Parameters:
    ///   - postgres: the server (default: the test process's shared one).
    ///   - endpoint: where the nodes reach the bucket (a proxy's), instead of the server itself.
    init(postgres: PostgresCluster? = nil, endpoint: String? = nil) throws {
        let server = try postgres ?? PostgresCluster.shared()
        url = server.tcpURL(database: try server.createDatabase())
        s3 = try TestS3Server.shared()
        bucket = try s3.settings(endpoint: endpoint)
        credentials = try s3.writeCredentials(in: dir)
    }

    /// A node's root and config, initialised: heartbeats every second, the inbox taken at once.
    /// - Parameters:
    ///   - inbox: more keys of its `[inbox]`.
    ///   - extra: more sections (after `[node]`).
    func node(_ name: String, id: String, role: String, inbox: String = "", extra: String = "") throws -> ClusterNode {
        let root = dir.path + "/" + name
        let path = dir.path + "/\(name).toml"
        try Data("""
            root = "\(root)"
            [catalog]
            url = "\(url)"
            [store]
            backend = "s3"
            [store.s3]
            endpoint = "\(bucket.endpoint)"
            bucket = "\(bucket.bucket)"
            region = "us-east-1"
            addressing = "path"
            credentials_file = "\(credentials)"
            prefix = "\(bucket.prefix)"
            [inbox]
            quiet_period = "0s"
            rescan_interval = "2s"
            \(inbox)
            [http]
            port = \(freePort())
            [node]
            id = "\(id)"
            role = "\(role)"
            heartbeat = "1s"
            \(extra)
            """.utf8).write(to: URL(fileURLWithPath: path))
        let initialised = try depot(["init", "--config", path])
        guard initialised.status == 0 else { throw TestFailure("depot init failed: \(initialised.stderr)") }
        return ClusterNode(name: name, root: root, config: path)
    }

    /// The catalog, on a connection of the test's own.
    func catalog() throws -> Catalog { Catalog(database: try PostgresDatabase(url: url)) }

    /// The blobs in the bucket, listed on the server itself (not through a proxy).
    func bucketDigests() throws -> [Digest] {
        var direct = bucket
        direct.endpoint = s3.endpoint
        let store = try S3BlobStore(settings: direct, credentials: s3.credentials, temp: dir.path + "/bucket-tmp")
        return try store.allDigests()
    }

    /// Every node in the catalog, by id: its role and state (up, down, stopped).
    func nodes() throws -> [String: (role: String, state: String)] {
        let result = try depot(["nodes", "--config", dir.path + "/a.toml", "--json"])
        guard result.status == 0 else { throw TestFailure("depot nodes failed: \(result.stderr)") }
        var nodes: [String: (role: String, state: String)] = [:]
        for node in try #require(try parseJSON(result.stdout) as? [[String: Any]]) {
            nodes[node["id"] as? String ?? "?"] = (node["role"] as? String ?? "?", node["state"] as? String ?? "?")
        }
        return nodes
    }
}

/// A node's root and config.
struct ClusterNode {
    let name: String
    let root: String
    let config: String
    var inbox: String { RootLayout(root: root).inbox }
    var outbox: String { RootLayout(root: root).outbox }

    /// Writes a file into its inbox.
    func drop(_ relative: String, _ text: String) throws {
        let file = inbox + "/" + relative
        try makeDirectories(directoryName(file))
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
    }

    /// Starts `depot serve --config` on it.
    func serve(environment: [String: String] = [:]) throws -> Server {
        try Server(root: root, environment: environment, arguments: ["--config", config])
    }
}
