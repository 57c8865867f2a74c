import DepotCore
import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// A small, valid PDF of `pages` pages with a line of text each (Helvetica, no fonts embedded).
func minimalPDF(pages: Int = 1, text: String = "Forces and momentum") -> [UInt8] {
    var objects: [String] = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    var kids: [String] = []
    for page in 0..<pages {
        let content = "BT /F1 18 Tf 72 720 Td (\(text) \(page + 1)) Tj ET"
        objects.append("<< /Length \(content.utf8.count) >>\nstream\n\(content)\nendstream")
        let contentNumber = objects.count
        objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents \(contentNumber) 0 R "
                       + "/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>")
        kids.append("\(objects.count) 0 R")
    }
    objects[1] = "<< /Type /Pages /Kids [\(kids.joined(separator: " "))] /Count \(pages) >>"
    return pdfFile(objects)
}

/// A PDF of `objects` (numbered from 1, the catalog first), with its cross-reference table.
func pdfFile(_ objects: [String]) -> [UInt8] {
    var out = "%PDF-1.4\n"
    var offsets: [Int] = []
    for (i, object) in objects.enumerated() {
        offsets.append(out.utf8.count)
        out += "\(i + 1) 0 obj\n\(object)\nendobj\n"
    }
    let xref = out.utf8.count
    out += "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
    for offset in offsets { out += String(repeating: "0", count: 10 - String(offset).count) + "\(offset) 00000 n \n" }
    out += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
    return Array(out.utf8)
}

/// The pipeline of job kinds and its worker processes, through the real `depot serve`,
/// `depot-worker` and `depot jobs`.
@Suite(.serialized, .tags(.slow), .slowTest) struct JobsEndToEndTests {
    /// Test-friendly job settings: fast retries, a short timeout, a small memory limit.
    static func jobsConfig(maxAttempts: Int = 1, timeout: String = "3s", memory: String = "1GiB", lease: String = "30s",
                           extra: String = "") -> String {
        """
        [jobs]
        max_attempts = \(maxAttempts)
        timeout = "\(timeout)"
        memory_limit = "\(memory)"
        retry_initial = "100ms"
        retry_max = "200ms"
        lease = "\(lease)"
        \(extra)
        [jobs.concurrency]
        documents = 2
        images = 0
        audio = 0
        video = 0
        other = 2
        """
    }

    /// The jobs with their documents, as `depot jobs --json` shows them.
    func jobs(_ root: DemoRoot) throws -> [JobRecord] {
        let queue = try root.queue()
        return try queue.records(try queue.jobs(oldestFirst: true))
    }

    func settled(_ root: DemoRoot, count: Int) throws -> Bool {
        let rows = try jobs(root)
        return rows.count == count && rows.allSatisfy { $0.state.isFinished }
    }

    func events(_ root: DemoRoot, _ type: String) throws -> Int {
        try root.catalog().events(after: 0, limit: 100_000).filter { $0.type == type }.count
    }

    @Test func crashesAndLimitsFailOnlyTheirJobsAndOnlyPassingFailuresAreRetried() throws {
        // The time limit leaves GREEDY room to reach the memory limit first on a loaded machine
        // (touching 768 MiB took over 3 s on CI beside the rest of the suite).
        let root = try DemoRoot(quietPeriod: "0s", extra: Self.jobsConfig(maxAttempts: 2, timeout: "8s", memory: "768MiB"))
        let server = try root.serve(environment: ["DEPOT_TEST_PROCESSORS": "1"])
        for name in ["CRASH", "ABORT", "LOOP", "GREEDY", "EXIT", "FAIL", "FAIL-TRANSIENT"] {
            try root.drop("notes/\(name.lowercased()).txt", Array("DEPOT-TEST-\(name)\n".utf8))
        }
        for i in 0..<4 { try root.drop("notes/good\(i).md", Array("# Good \(i)\n\nSome text.\n".utf8)) }
        // 11 extract jobs, and a generate job for each of the 4 Markdown files after its extract.
        #expect(waitUntil(seconds: 60) { (try? settled(root, count: 15)) ?? false }, "\(server.stderr.suffix(3000))")
        let byPath = Dictionary(uniqueKeysWithValues: try jobs(root).filter { $0.kind == "extract" }.map { ($0.path ?? "", $0) })
        // A crash may be the machine's: retried, then dead.
        #expect(byPath["crash.txt"]?.state == .dead && byPath["crash.txt"]?.lastError == "killed by SIGSEGV")
        #expect(byPath["crash.txt"]?.attempts == 2)
        #expect(byPath["abort.txt"]?.state == .dead && byPath["abort.txt"]?.lastError == "killed by SIGABRT")
        #expect(byPath["exit.txt"]?.state == .dead && byPath["exit.txt"]?.lastError == "the worker exited with status 3")
        #expect(byPath["fail-transient.txt"]?.state == .dead && byPath["fail-transient.txt"]?.attempts == 2)
        // A limit or a refused file fails the same way every time: once, as failed.
        #expect(byPath["loop.txt"]?.state == .failed && byPath["loop.txt"]?.attempts == 1)
        #expect(byPath["loop.txt"]?.lastError == "timed out after 8s (the extract time limit)")
        #expect(byPath["greedy.txt"]?.state == .failed && byPath["greedy.txt"]?.lastError == "out of memory (address-space limit 768 MiB)",
                "\(byPath["greedy.txt"].map { "\($0.state) \($0.lastError ?? "-")" } ?? "no job")")
        #expect(byPath["fail.txt"]?.state == .failed && byPath["fail.txt"]?.lastError == "the test processor was told to fail")
        #expect(byPath["fail.txt"]?.attempts == 1)
        for i in 0..<4 { #expect(byPath["good\(i).md"]?.state == .succeeded) }
        #expect(try jobs(root).filter { $0.kind == "generate" }.allSatisfy { $0.state == .succeeded })
        #expect(try events(root, "job.dead") == 4)
        #expect(try events(root, "job.failed") == 3)
        #expect(try events(root, "job.retrying") == 4)
        // The daemon lives on, with fresh workers: a file dropped now is processed too.
        #expect(server.process.isRunning)
        try root.drop("notes/after.md", Array("# After\n".utf8))
        #expect(waitUntil(seconds: 15) { (try? settled(root, count: 17)) ?? false }, "\(server.stderr)")
        #expect(try jobs(root).last?.state == .succeeded)
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    /// A PDF's thumbnail is its own job with its own time budget: when it runs out, the text
    /// extract made is kept and published; only the thumbnail fails.
    @Test func aStepThatRunsOutOfItsOwnTimeKeepsWhatEarlierStepsMade() throws {
        let root = try DemoRoot(quietPeriod: "0s", extra: Self.jobsConfig(timeout: "30s", extra: """
            [jobs.kinds.thumbnail]
            timeout = "1ms"
            """))
        let server = try root.serve()
        try root.drop("documents/report.pdf", minimalPDF(pages: 3))
        #expect(waitUntil(seconds: 30) { (try? settled(root, count: 3)) ?? false }, "\(server.stderr.suffix(3000))")
        let rows = try jobs(root)
        #expect(rows.map(\.kind) == ["extract", "thumbnail", "generate"])
        #expect(rows[0].state == .succeeded && rows[0].processor == "depot-pdf")
        #expect(rows[1].state == .failed && rows[1].lastError == "timed out after 1ms (the thumbnail time limit)")
        #expect(rows[1].processor == "depot-pdf-thumbnail" && rows[1].attempts == 1)
        let artifacts = try root.catalog().artifacts(versionID: rows[0].versionID).filter { $0.producer == "depot-pdf" }.map(\.kind)
        #expect(artifacts == ["metadata.json", "structure.json", "text.txt"])
        let manifestPath = root.layout.outbox + "/documents/report.pdf/manifest.json"
        #expect(waitUntil(seconds: 10) {
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: manifestPath)),
                  let m = try? parseJSON(String(decoding: data, as: UTF8.self)) as? [String: Any] else { return false }
            return (m["processing"] as? [String: Any])?["status"] as? String == "failed"
        })
        let text = try String(contentsOfFile: root.layout.outbox + "/documents/report.pdf/text.txt", encoding: .utf8)
        #expect(text.contains("Forces and momentum 3"))
        // Retried with a budget it can meet (a person's job, before background work), it succeeds.
        let retried = try depot(["jobs", "add", "--root", root.path, "documents/report.pdf", "--kind", "thumbnail",
                                 "--param", "width=200", "--json"])
        #expect(retried.status == 0, "\(retried.stderr)")
        let added = try #require(try parseJSON(retried.stdout) as? [String: Any])
        #expect(added["priority"] as? Int == 100 && added["queued_by"] as? String == "cli")
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    /// A PDF's attachment is stored and published as an artifact of its own, named by number,
    /// and `depot verify` knows which job makes it again.
    @Test func aPDFsAttachmentIsStoredAndPublished() throws {
        let root = try DemoRoot(quietPeriod: "0s", extra: Self.jobsConfig(timeout: "30s"))
        let server = try root.serve()
        let note = "Minutes of the field trip\n"
        let content = "BT /F1 18 Tf 72 720 Td (See the attachment) Tj ET"
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(../minutes.txt) 5 0 R] >> >> >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
            "<< /Length \(content.utf8.count) >>\nstream\n\(content)\nendstream",
            "<< /Type /Filespec /F (../minutes.txt) /EF << /F 6 0 R >> >>",
            "<< /Type /EmbeddedFile /Length \(note.utf8.count) >>\nstream\n\(note)\nendstream",
        ]
        try root.drop("documents/trip.pdf", pdfFile(objects))
        // extract, thumbnail and generate.
        #expect(waitUntil(seconds: 30) { (try? settled(root, count: 3)) ?? false }, "\(server.stderr.suffix(3000))")
        let rows = try jobs(root)
        #expect(rows.map(\.state) == [.succeeded, .succeeded, .succeeded])
        let artifacts = try root.catalog().artifacts(versionID: rows[0].versionID).map(\.kind)
        #expect(artifacts.contains("attachment-1.txt"))
        let published = root.layout.outbox + "/documents/trip.pdf/attachment-1.txt"
        #expect(waitUntil(seconds: 10) { FileManager.default.fileExists(atPath: published) })
        #expect(try String(contentsOfFile: published, encoding: .utf8) == note)
        #expect(!FileManager.default.fileExists(atPath: root.layout.outbox + "/documents/minutes.txt"))
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
        let verify = try depot(["verify", "--root", root.path])
        #expect(verify.status == 0, "\(verify.stdout)")
    }

    @Test func aJobHeldByAKilledDaemonRunsAgainAfterRestart() throws {
        let root = try DemoRoot(quietPeriod: "0s", extra: Self.jobsConfig(maxAttempts: 3))
        var server = try root.serve(environment: ["DEPOT_TEST_PROCESSORS": "1"])
        try root.drop("notes/slow.md", Array("DEPOT-TEST-SLEEP 1500\n# Slow\n".utf8))
        #expect(waitUntil(seconds: 15) { (try? jobs(root).first?.state) == .running }, "\(server.stderr)")
        let workers = workerPIDs(parent: server.process.processIdentifier)
        #expect(!workers.isEmpty)
        // The parsers' libraries are mapped by the workers only: never by the daemon, which
        // holds the catalog, the store and the HTTP server.
        let parsers = ["libavformat", "libavcodec", "libpoppler", "libcairo", "libzip", "libxml2"]
        func maps(_ pid: Int32) -> String {
            String(decoding: FileHandle(forReadingAtPath: "/proc/\(pid)/maps")?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
        }
        func mapped(_ pid: Int32) -> Set<String> { Set(parsers.filter { maps(pid).contains("/\($0).so") }) }
        #expect(maps(server.process.processIdentifier).contains("/libsqlite3.so"))
        #expect(mapped(server.process.processIdentifier).isEmpty, "\(mapped(server.process.processIdentifier))")
        #expect(workers.allSatisfy { mapped($0) == Set(parsers) }, "\(workers.map(mapped))")
        server.signal(SIGKILL)
        server.wait()
        // Its workers notice that their parent is gone and leave.
        #expect(waitUntil(seconds: 5) { workers.allSatisfy { kill($0, 0) != 0 } })
        #expect(try jobs(root).first?.state == .running)
        server = try root.serve(environment: ["DEPOT_TEST_PROCESSORS": "1"])
        #expect(waitUntil(seconds: 20) { (try? jobs(root).first?.state) == .succeeded }, "\(server.stderr)")
        let job = try #require(try jobs(root).first)
        #expect(job.attempts == 2)
        let artifacts = try root.catalog().artifacts(versionID: job.versionID)
        #expect(artifacts.map(\.kind) == ["metadata.json", "structure.json", "text.txt"])
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    /// Workers start when there is work and stop when idle; they hold nothing of the daemon's
    /// and use no CPU while they wait; one whose memory stays high after a job is replaced.
    @Test func workersStartOnDemandStopWhenIdleAndAreReplacedWhenBloated() throws {
        // A generous time limit: touching 300 MiB on a loaded 2-core machine takes its time.
        let root = try DemoRoot(quietPeriod: "0s", extra: Self.jobsConfig(timeout: "60s", extra: """
            worker_idle = "3s"
            worker_max_rss = "200MiB"
            """))
        let server = try root.serve(environment: ["DEPOT_TEST_PROCESSORS": "1"])
        let daemon = server.process.processIdentifier
        // Nothing to do: no worker at all.
        sleep(1)
        #expect(workerPIDs(parent: daemon).isEmpty, "\(server.stderr)")
        try root.drop("notes/a.md", Array("# A\n\ntext\n".utf8))
        // Its extract, then its generate.
        #expect(waitUntil(seconds: 15) { (try? settled(root, count: 2)) == true }, "\(server.stderr)")
        let workers = workerPIDs(parent: daemon)
        // Two jobs one after the other (extract, then generate): a worker each at most.
        #expect((1...2).contains(workers.count), "two jobs, a worker or two: \(workers)")
        for pid in workers {
            // No socket (the HTTP listener) and no file of the root (the catalog, blobs) came along.
            let targets = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
            }
            #expect(!targets.contains { $0.hasPrefix("socket:") || $0.hasPrefix(root.path) }, "worker \(pid): \(targets)")
        }
        // At rest a worker sleeps: over a second, well under a tenth of a CPU.
        let before = workers.map(cpuTicks)
        sleep(1)
        for (pid, ticks) in zip(workers, before) {
            #expect(cpuTicks(pid) - ticks < 10, "worker \(pid) is busy while idle")
        }
        // Idle past worker_idle: it goes.
        #expect(waitUntil(seconds: 10) { workerPIDs(parent: daemon).isEmpty }, "\(server.stderr)")
        // A job that leaves 300 MiB resident: its worker is replaced once the job is done.
        try root.drop("notes/big.md", Array("DEPOT-TEST-BLOAT 300\n# Big\n".utf8))
        #expect(waitUntil(seconds: 60) { (try? settled(root, count: 3)) == true }, "\(server.stderr)")
        #expect(try jobs(root).last?.state == .succeeded, "\(server.stderr)")
        #expect(waitUntil(seconds: 10) { server.stderr.contains("worker replaced: its memory stayed high after a job") }, "\(server.stderr)")
        // The line is logged as the worker is told to stop; it is gone once it has exited.
        #expect(waitUntil(seconds: 10) { workerPIDs(parent: daemon).isEmpty }, "\(workerPIDs(parent: daemon))")
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    @Test func jobsCommandListsShowsAddsCancelsAndRetries() throws {
        let root = try DemoRoot(extra: Self.jobsConfig(maxAttempts: 2))
        let source = root.path + "/import"
        try makeDirectories(source + "/week1")
        try Data("Lecture\r\n=======\r\n\r\n## Forces\r\nF = m a\r\n".utf8).write(to: URL(fileURLWithPath: source + "/week1/notes.md"))
        try Data("just words\n".utf8).write(to: URL(fileURLWithPath: source + "/readme"))
        // An empty ZIP archive (its end record only): a type no processor reads.
        try Data([0x50, 0x4B, 0x05, 0x06] + [UInt8](repeating: 0, count: 18)).write(to: URL(fileURLWithPath: source + "/pic.dat"))
        #expect(try depot(["ingest", "--root", root.path, "-c", "physics", source]).status == 0)

        // `depot ingest` versions get their jobs too, typed at ingest.
        let listed = try depot(["jobs", "--root", root.path, "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let listedJobs = try #require(try parseJSON(listed.stdout) as? [[String: Any]])
        // An extract job each, and a generate job for each text after its extract.
        #expect(listedJobs.count == 5)
        #expect(listedJobs.filter { $0["kind"] as? String == "generate" }.map { $0["path"] as? String }.sorted { ($0 ?? "") < ($1 ?? "") }
                == ["readme", "week1/notes.md"])
        let all = listedJobs.filter { $0["kind"] as? String == "extract" }
        #expect(all.count == 3)
        let types = Dictionary(uniqueKeysWithValues: all.map { ($0["path"] as! String, $0["media_type"] as! String) })
        #expect(types == ["week1/notes.md": "text/markdown", "readme": "text/plain", "pic.dat": "application/zip"])
        let states = Dictionary(uniqueKeysWithValues: all.map { ($0["path"] as! String, $0["state"] as! String) })
        // No processor reads a plain ZIP: unsupported at once, no worker needed.
        #expect(states == ["week1/notes.md": "queued", "readme": "queued", "pic.dat": "succeeded"])
        #expect(all.first { $0["path"] as? String == "pic.dat" }?["outcome"] as? String == "unsupported")
        let readmeJob = try #require(all.first { $0["path"] as? String == "readme" }?["id"] as? Int)

        let table = try depot(["jobs", "--root", root.path, "--state", "queued"])
        #expect(table.stdout.hasPrefix("ID") && table.stdout.contains("physics/week1/notes.md v1"))
        #expect(try depot(["jobs", "--root", root.path, "--state", "bogus"]).status != 0)
        #expect(try depot(["jobs", "--root", root.path, "--state", "done"]).status != 0)
        #expect(try depot(["jobs", "--root", root.path, "--state", "succeeded"]).status == 0)
        let thumbnails = try depot(["jobs", "list", "--root", root.path, "--kind", "thumbnail", "--json"])
        #expect((try parseJSON(thumbnails.stdout) as? [Any])?.isEmpty == true)
        #expect(try depot(["jobs", "list", "--root", root.path, "--kind", "transcode"]).status != 0)

        // Cancel one, then retry it: the queue's own changes, the same as the API's.
        #expect(try depot(["jobs", "cancel", "--root", root.path, "\(readmeJob)"]).status == 0)
        var shown = try #require(try parseJSON(try depot(["jobs", "show", "--root", root.path, "--json", "\(readmeJob)"]).stdout) as? [String: Any])
        #expect(shown["state"] as? String == "cancelled")
        #expect(try depot(["jobs", "cancel", "--root", root.path, "\(readmeJob)"]).status != 0)
        #expect(try depot(["jobs", "retry", "--root", root.path, "\(readmeJob)"]).status == 0)
        shown = try #require(try parseJSON(try depot(["jobs", "show", "--root", root.path, "--json", "\(readmeJob)"]).stdout) as? [String: Any])
        #expect(shown["state"] as? String == "queued" && shown["attempts"] as? Int == 0)
        #expect(try depot(["jobs", "retry", "--root", root.path, "--dead"]).stdout.contains("queued 0 dead jobs again"))
        #expect(try depot(["jobs", "show", "--root", root.path, "999"]).status != 0)
        // A person's job: refused with a clear reason when it cannot be.
        let refused = try depot(["jobs", "add", "--root", root.path, "physics/readme", "--kind", "thumbnail"])
        #expect(refused.status != 0 && refused.stderr.contains("no processor does thumbnail for text/plain"))
        let badParam = try depot(["jobs", "add", "--root", root.path, "physics/readme", "--kind", "extract", "--param", "max_pages=0"])
        #expect(badParam.status != 0 && badParam.stderr.contains("max_pages must be from 1 to 1000000"))
        let added = try depot(["jobs", "add", "--root", root.path, "physics/readme", "--kind", "extract", "--param", "max_pages=5", "--json"])
        #expect(added.status == 0, "\(added.stderr)")
        let person = try #require(try parseJSON(added.stdout) as? [String: Any])
        #expect((person["parameters"] as? [String: Any])?["max_pages"] as? Int == 5 && person["priority"] as? Int == 100)

        // Served: the text jobs run; their artifacts hold the normalised text and the headings.
        let server = try root.serve()
        #expect(waitUntil(seconds: 20) { (try? settled(root, count: 6)) ?? false }, "\(server.stderr)")
        let notesJob = try #require(try jobs(root).first { $0.path == "week1/notes.md" })
        let detail = try depot(["jobs", "show", "--root", root.path, "--json", "\(notesJob.id)"])
        let object = try #require(try parseJSON(detail.stdout) as? [String: Any])
        #expect(object["outcome"] as? String == "processed" && object["processor"] as? String == "depot-text")
        // The version's artifacts: extract's, and generate's since its job ran too.
        let kinds = (object["artifacts"] as? [[String: Any]])?.filter { $0["producer"] as? String == "depot-text" }.compactMap { $0["kind"] as? String }
        #expect(kinds == ["metadata.json", "structure.json", "text.txt"])
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
        // `depot ls` shows each document's processing status, in the queue's words.
        let ls = try #require(try parseJSON(try depot(["ls", "--root", root.path, "--json"]).stdout) as? [[String: Any]])
        #expect(Dictionary(uniqueKeysWithValues: ls.map { ($0["path"] as! String, $0["processing_status"] as! String) })
                == ["pic.dat": "unsupported", "readme": "succeeded", "week1/notes.md": "succeeded"])
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }
}

/// Children of `parent` that are `depot-worker` processes.
func workerPIDs(parent: Int32) -> [Int32] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return entries.compactMap { Int32($0) }.filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, Int32(fields[1]) == parent,
              let cmdline = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return false }
        return cmdline.split(separator: 0).first.map { String(decoding: $0, as: UTF8.self).hasSuffix("/depot-worker") } ?? false
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
