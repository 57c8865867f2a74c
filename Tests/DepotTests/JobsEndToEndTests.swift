import DepotCore
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// The job queue and its worker processes, through the real `depot serve`, `depot worker`
/// and `depot jobs`.
@Suite(.serialized) struct JobsEndToEndTests {
    /// Test-friendly job settings: fast retries, a short timeout, a small memory limit.
    static func jobsConfig(maxAttempts: Int = 1, timeout: String = "3s", memory: String = "1GiB", lease: String = "30s") -> String {
        """
        [jobs]
        max_attempts = \(maxAttempts)
        timeout = "\(timeout)"
        memory_limit = "\(memory)"
        retry_initial = "100ms"
        retry_max = "200ms"
        lease = "\(lease)"
        [jobs.concurrency]
        documents = 2
        images = 0
        audio = 0
        video = 0
        other = 1
        """
    }

    struct JobRow {
        var id: Int64
        var state: String
        var path: String
        var attempts: Int
        var lastError: String?
        var versionID: Int64
    }

    func jobs(_ root: DemoRoot) throws -> [JobRow] {
        try root.catalog().withConnection { db in
            try db.query("""
                SELECT j.id, j.state, d.path, j.attempts, j.last_error, j.version_id FROM jobs j
                JOIN versions v ON v.id = j.version_id JOIN documents d ON d.id = v.document_id ORDER BY j.id
                """).map { row in
                JobRow(id: row.int(0), state: row.text(1), path: row.text(2), attempts: Int(row.int(3)),
                       lastError: row.values[4] == .null ? nil : row.text(4), versionID: row.int(5))
            }
        }
    }

    func settled(_ root: DemoRoot, count: Int) throws -> Bool {
        let rows = try jobs(root)
        return rows.count == count && rows.allSatisfy { ["succeeded", "dead", "cancelled"].contains($0.state) }
    }

    @Test func crashingLoopingAndGreedyProcessorsFailOnlyTheirJobs() throws {
        let root = try DemoRoot(quietPeriod: "0s", extra: Self.jobsConfig(timeout: "3s", memory: "768MiB"))
        let server = try root.serve(environment: ["DEPOT_TEST_PROCESSORS": "1"])
        try root.drop("notes/crash.txt", Array("DEPOT-TEST-CRASH\n".utf8))
        try root.drop("notes/abort.txt", Array("DEPOT-TEST-ABORT\n".utf8))
        try root.drop("notes/loop.txt", Array("DEPOT-TEST-LOOP\n".utf8))
        try root.drop("notes/greedy.txt", Array("DEPOT-TEST-GREEDY\n".utf8))
        try root.drop("notes/exit.txt", Array("DEPOT-TEST-EXIT\n".utf8))
        for i in 0..<4 { try root.drop("notes/good\(i).md", Array("# Good \(i)\n\nSome text.\n".utf8)) }
        #expect(waitUntil(seconds: 40) { (try? settled(root, count: 9)) ?? false }, "\(server.stderr)")
        let byPath = Dictionary(uniqueKeysWithValues: try jobs(root).map { ($0.path, $0) })
        #expect(byPath["crash.txt"]?.state == "dead")
        #expect(byPath["crash.txt"]?.lastError == "killed by SIGSEGV")
        #expect(byPath["abort.txt"]?.lastError == "killed by SIGABRT")
        #expect(byPath["loop.txt"]?.lastError == "timed out after 3s")
        #expect(byPath["greedy.txt"]?.lastError == "out of memory (address-space limit 768 MiB)")
        #expect(byPath["exit.txt"]?.lastError == "the worker exited with status 3")
        for i in 0..<4 { #expect(byPath["good\(i).md"]?.state == "succeeded") }
        // The daemon lives on, with fresh workers: a file dropped now is processed too.
        #expect(server.process.isRunning)
        try root.drop("notes/after.md", Array("# After\n".utf8))
        #expect(waitUntil(seconds: 15) { (try? settled(root, count: 10)) ?? false }, "\(server.stderr)")
        #expect(try jobs(root).last?.state == "succeeded")
        let dead = try root.catalog().withConnection { db in
            try db.query("SELECT count(*) FROM events WHERE type = 'job.dead'")[0].int(0)
        }
        #expect(dead == 5)
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    @Test func aJobHeldByAKilledDaemonRunsAgainAfterRestart() throws {
        let root = try DemoRoot(quietPeriod: "0s", extra: Self.jobsConfig(maxAttempts: 3))
        var server = try root.serve(environment: ["DEPOT_TEST_PROCESSORS": "1"])
        try root.drop("notes/slow.md", Array("DEPOT-TEST-SLEEP 1500\n# Slow\n".utf8))
        #expect(waitUntil(seconds: 15) { (try? jobs(root).first?.state) == "running" }, "\(server.stderr)")
        let workers = workerPIDs(parent: server.process.processIdentifier)
        #expect(!workers.isEmpty)
        server.signal(SIGKILL)
        server.wait()
        // Its workers notice that their parent is gone and leave.
        #expect(waitUntil(seconds: 5) { workers.allSatisfy { kill($0, 0) != 0 } })
        #expect(try jobs(root).first?.state == "running")
        server = try root.serve(environment: ["DEPOT_TEST_PROCESSORS": "1"])
        #expect(waitUntil(seconds: 20) { (try? jobs(root).first?.state) == "succeeded" }, "\(server.stderr)")
        let job = try #require(try jobs(root).first)
        #expect(job.attempts == 2)
        let artifacts = try root.catalog().artifacts(versionID: job.versionID)
        #expect(artifacts.map(\.kind) == ["structure.json", "text.txt"])
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    @Test func idleWorkersHoldNothingOfTheDaemonsAndUseNoCPU() throws {
        let root = try DemoRoot(quietPeriod: "0s", extra: Self.jobsConfig())
        let server = try root.serve()
        try root.drop("notes/a.md", Array("# A\n\ntext\n".utf8))
        #expect(waitUntil(seconds: 15) { (try? settled(root, count: 1)) == true }, "\(server.stderr)")
        let workers = workerPIDs(parent: server.process.processIdentifier)
        #expect(workers.count == 3, "documents 2 + other 1")
        for pid in workers {
            // No socket (the HTTP listener) and no file of the root (the catalog, blobs) came along.
            let targets = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
            }
            #expect(!targets.contains { $0.hasPrefix("socket:") || $0.hasPrefix(root.path) }, "worker \(pid): \(targets)")
        }
        // At rest a worker sleeps: over two seconds, well under a tenth of a CPU each.
        let before = workers.map(cpuTicks)
        sleep(2)
        for (pid, ticks) in zip(workers, before) {
            #expect(cpuTicks(pid) - ticks < 20, "worker \(pid) is busy while idle")
        }
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    @Test func jobsCommandListsShowsCancelsAndRetries() throws {
        let root = try DemoRoot(extra: Self.jobsConfig(maxAttempts: 2))
        let source = root.path + "/import"
        try makeDirectories(source + "/week1")
        try Data("Lecture\r\n=======\r\n\r\n## Forces\r\nF = m a\r\n".utf8).write(to: URL(fileURLWithPath: source + "/week1/notes.md"))
        try Data("just words\n".utf8).write(to: URL(fileURLWithPath: source + "/readme"))
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]).write(to: URL(fileURLWithPath: source + "/pic.dat"))
        #expect(try depot(["ingest", "--root", root.path, "-c", "physics", source]).status == 0)

        // `depot ingest` versions get their jobs too.
        let listed = try depot(["jobs", "--root", root.path, "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let all = try #require(try parseJSON(listed.stdout) as? [[String: Any]])
        #expect(all.count == 3)
        #expect(all.allSatisfy { $0["state"] as? String == "queued" && $0["kind"] as? String == "process" })
        let types = Dictionary(uniqueKeysWithValues: all.map { ($0["path"] as! String, $0["media_type"] as! String) })
        #expect(types == ["week1/notes.md": "text/markdown", "readme": "text/plain", "pic.dat": "image/png"])
        let pngJob = try #require(all.first { $0["path"] as? String == "pic.dat" }?["id"] as? Int)

        let table = try depot(["jobs", "--root", root.path, "--state", "queued"])
        #expect(table.stdout.hasPrefix("ID") && table.stdout.contains("physics/week1/notes.md v1"))
        #expect(try depot(["jobs", "--root", root.path, "--state", "bogus"]).status != 0)
        let generate = try depot(["jobs", "list", "--root", root.path, "--kind", "generate", "--json"])
        #expect((try parseJSON(generate.stdout) as? [Any])?.isEmpty == true)

        // Cancel one (no worker would take images here anyway), then retry it.
        #expect(try depot(["jobs", "cancel", "--root", root.path, "\(pngJob)"]).status == 0)
        var shown = try #require(try parseJSON(try depot(["jobs", "show", "--root", root.path, "--json", "\(pngJob)"]).stdout) as? [String: Any])
        #expect(shown["state"] as? String == "cancelled")
        #expect(try depot(["jobs", "cancel", "--root", root.path, "\(pngJob)"]).status != 0)
        #expect(try depot(["jobs", "retry", "--root", root.path, "\(pngJob)"]).status == 0)
        shown = try #require(try parseJSON(try depot(["jobs", "show", "--root", root.path, "--json", "\(pngJob)"]).stdout) as? [String: Any])
        #expect(shown["state"] as? String == "queued")
        #expect(try depot(["jobs", "retry", "--root", root.path, "--dead"]).stdout.contains("queued 0 dead jobs again"))
        #expect(try depot(["jobs", "show", "--root", root.path, "999"]).status != 0)

        // Served: the text jobs run; their artifacts hold the normalised text and the headings.
        let server = try root.serve()
        #expect(waitUntil(seconds: 20) {
            let rows = (try? jobs(root)) ?? []
            return rows.filter { $0.state == "succeeded" }.count == 2
        }, "\(server.stderr)")
        let notesJob = try #require(try jobs(root).first { $0.path == "week1/notes.md" })
        let detail = try depot(["jobs", "show", "--root", root.path, "--json", "\(notesJob.id)"])
        let object = try #require(try parseJSON(detail.stdout) as? [String: Any])
        #expect(object["outcome"] as? String == "processed" && object["processor"] as? String == "depot-text")
        let kinds = (object["artifacts"] as? [[String: Any]])?.compactMap { $0["kind"] as? String }
        #expect(kinds == ["structure.json", "text.txt"])
        let store = try LocalBlobStore(layout: root.layout)
        let artifacts = try root.catalog().artifacts(versionID: notesJob.versionID)
        let text = try store.readAll(try #require(artifacts.first { $0.kind == "text.txt" }).digest)
        #expect(String(decoding: text, as: UTF8.self) == "Lecture\n=======\n\n## Forces\nF = m a\n")
        let structure = try store.readAll(try #require(artifacts.first { $0.kind == "structure.json" }).digest)
        let headings = try #require(try parseJSON(String(decoding: structure, as: UTF8.self)) as? [String: Any])["headings"] as? [[String: Any]]
        #expect(headings?.map { $0["title"] as? String } == ["Lecture", "Forces"])
        #expect(headings?.map { $0["line"] as? Int } == [1, 4])
        let human = try depot(["jobs", "show", "--root", root.path, "\(notesJob.id)"])
        #expect(human.stdout.contains("state:") && human.stdout.contains("succeeded") && human.stdout.contains("artifact"))
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }
}

/// Children of `parent` whose command line is `… worker …`.
func workerPIDs(parent: Int32) -> [Int32] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return entries.compactMap { Int32($0) }.filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, Int32(fields[1]) == parent,
              let cmdline = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return false }
        return cmdline.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "worker" }
    }
}

/// User plus system CPU time of a process, in clock ticks (/proc/PID/stat fields 14 and 15).
func cpuTicks(_ pid: Int32) -> Int {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
}
