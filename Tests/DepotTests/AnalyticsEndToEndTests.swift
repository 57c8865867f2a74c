import DepotCore
import DepotTestSupport
import Foundation
import Testing

/// A daemon on a root with a port of its own and the test processors (a file can be made to fail).
final class AnalyticsRoot {
    let port = freePort()
    let root: DemoRoot
    var server: Server!
    var base: String { "http://127.0.0.1:\(port)" }

    init() throws {
        root = try DemoRoot(extra: "[http]\nport = \(port)\n[analytics]\nheartbeat = \"1s\"\n")
        server = try root.serve(environment: ["DEPOT_TEST_PROCESSORS": "1"])
        guard waitUntil(seconds: 20, { (try? curl([base + "/healthz"]).code) == 200 }) else {
            throw TestFailure("depot serve did not come up: \(server.stderr)")
        }
    }

    func json(_ arguments: [String]) throws -> Any {
        let r = try depot(arguments + ["--root", root.path, "--json"])
        guard r.status == 0 else { throw TestFailure("depot \(arguments) failed: \(r.output)") }
        return try parseJSON(r.stdout)
    }

    /// Waits until every job has finished.
    func settle() -> Bool {
        waitUntil(seconds: 60) {
            guard let jobs = try? json(["jobs"]) as? [[String: Any]], !jobs.isEmpty else { return false }
            return jobs.allSatisfy { ["succeeded", "failed", "dead", "skipped"].contains($0["state"] as? String ?? "") }
        }
    }
}

@Suite(.tags(.slow), .slowTest) struct AnalyticsEndToEndTests {
    /// `depot events --follow` prints what is committed while it runs, filtered; `depot status`
    /// shows the daemon, watcher, queue, errors and storage; `depot stats` the processing times
    /// of what ran; `depot report` writes a report and announces it.
    @Test func followStatusStatsAndReport() throws {
        let a = try AnalyticsRoot()
        try a.root.drop("documents/first.md", Array("# First\n\nSome text.\n".utf8))
        #expect(a.settle(), "\(a.server.stderr)")

        let follow = Process()
        follow.executableURL = URL(fileURLWithPath: depotBinary)
        follow.arguments = ["events", "--follow", "--json", "--type", "media.processed", "--collection", "documents", "--root", a.root.path]
        let out = Pipe()
        follow.standardOutput = out
        follow.standardError = FileHandle.nullDevice
        let lines = Locked("")
        out.fileHandleForReading.readabilityHandler = { h in
            let d = h.availableData
            if !d.isEmpty { lines.set(lines.value + String(decoding: d, as: UTF8.self)) }
        }
        try follow.run()
        defer { if follow.isRunning { kill(follow.processIdentifier, SIGKILL) } }
        Thread.sleep(forTimeInterval: 0.5)
        try a.root.drop("documents/second.md", Array("# Second\n".utf8))
        try a.root.drop("other/elsewhere.md", Array("# Elsewhere\n".utf8))
        try a.root.drop("documents/broken.txt", Array("DEPOT-TEST-FAIL".utf8))
        #expect(waitUntil(seconds: 60) { lines.value.contains("second.md") && lines.value.contains("broken.txt") }, "\(lines.value)")
        #expect(a.settle())
        let printed = lines.value.split(separator: "\n").map(String.init)
        #expect(!lines.value.contains("first.md") && !lines.value.contains("elsewhere.md"), "\(lines.value)")
        #expect(printed.allSatisfy { $0.contains("\"event\":\"media.processed\"") && $0.hasPrefix("{\"seq\":") }, "\(printed)")

        let status = try #require(try a.json(["status"]) as? [String: Any])
        let daemon = try #require(status["daemon"] as? [String: Any])
        #expect(daemon["running"] as? Bool == true && daemon["pid"] as? Int == Int(a.server.process.processIdentifier))
        #expect(waitUntil(seconds: 10) {
            ((try? a.json(["status"]) as? [String: Any])?["daemon"] as? [String: Any])?["watcher"] as? String != nil
        })
        let states = try #require((status["queue"] as? [String: Any])?["states"] as? [String: Int])
        // Each Markdown file: extract and generate; the broken one (the test processor's type) has extract only, which fails.
        #expect(states["succeeded"] == 6 && states["failed"] == 1, "\(states)")
        let errors = try #require(status["last_errors"] as? [[String: Any]])
        #expect(errors.first?["document"] as? String == "documents/broken.txt")
        let storage = try #require(status["storage"] as? [String: Any])
        #expect(storage["documents"] as? Int == 4 && (storage["free_bytes"] as? Int ?? 0) > 0)
        let text = try depot(["status", "--root", a.root.path]).stdout
        #expect(text.contains("daemon    running") && text.contains("failed 1") && text.contains("documents/broken.txt"), "\(text)")

        // The recorder follows the event log about once a second: the jobs' last events are
        // in the roll-ups within a few seconds of their commit (longer when the machine is busy).
        func markdownExtracts() -> Int? {
            let series = ((try? a.json(["stats", "processing"])) as? [String: Any])?["series"] as? [[String: Any]]
            let md = series?.first { ($0["labels"] as? [String: String]) == ["kind": "extract", "media_type": "text/markdown"] }
            return (md?["total"] as? [String: Any])?["count"] as? Int
        }
        #expect(waitUntil(seconds: 30) { markdownExtracts() == 3 })
        #expect(markdownExtracts() == 3)
        let failures = try #require(try a.json(["stats", "failures"]) as? [String: Any])
        #expect((failures["series"] as? [[String: Any]])?.count == 1)
        let table = try depot(["stats", "processing", "--root", a.root.path]).stdout
        #expect(table.contains("text/markdown") && table.contains("P95"), "\(table)")
        #expect(try depot(["stats", "colours", "--root", a.root.path]).status == 64)

        let report = try depot(["report", "--root", a.root.path])
        #expect(report.status == 0, "\(report.output)")
        let html = report.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(html.hasSuffix("/report.html") && FileManager.default.fileExists(atPath: html))
        let events = try depot(["events", "--json", "--type", "report.created", "--root", a.root.path]).stdout
        #expect(events.contains("\"event\":\"report.created\""))

        a.server.signal(SIGTERM)
        #expect(a.server.wait() == 0)
        let stopped = try #require(try a.json(["status"]) as? [String: Any])
        #expect((stopped["daemon"] as? [String: Any])?["running"] as? Bool == false)
    }

    static let script = """
        import os, sys, time, tempfile
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        base, token, inbox, shot = sys.argv[1:5]
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,1600",
                  "--user-data-dir=" + tempfile.mkdtemp()]:
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        def until(what, seconds=60):
            end = time.time() + seconds
            while time.time() < end:
                v = what()
                if v: return v
                time.sleep(0.2)
            raise SystemExit("timed out: " + what.__doc__)
        try:
            driver.get(base + "/ui")
            driver.find_element(By.ID, "token").send_keys(token)
            driver.find_element(By.ID, "signin").click()
            def docs():
                "documents processed"
                driver.refresh()
                rows = {r.find_element(By.CLASS_NAME, "path").text: r.get_attribute("data-status")
                        for r in driver.find_elements(By.CSS_SELECTOR, "tr.document")}
                failed = driver.find_elements(By.CSS_SELECTOR, "tr.failed-job")
                return rows if rows.get("documents/notes.md") == "succeeded" and failed else None
            rows = until(docs)
            print("documents", " ".join(f"{k}={v}" for k, v in sorted(rows.items())))
            print("queue", driver.find_element(By.ID, "queue").text.splitlines()[1])
            print("charts", len(driver.find_elements(By.CSS_SELECTOR, "#storage svg, #processing svg")))
            time.sleep(1)
            tmp = os.path.join(inbox, "documents", ".live.md.part")
            with open(tmp, "w") as f: f.write("# Live\\n")
            os.rename(tmp, os.path.join(inbox, "documents", "live.md"))
            def live():
                "a live event"
                return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#events li") if "live.md" in e.text]
            print("live", until(live)[0].split(" ", 1)[1])
            driver.save_screenshot(shot)
            driver.find_element(By.CSS_SELECTOR, "tr.failed-job button.retry").click()
            until(lambda: driver.find_elements(By.ID, "queue"))
            print("retried")
        finally:
            driver.quit()
        """

    /// The status page in headless Chromium against a running depot: after files are dropped it
    /// shows them with their processing state, the failed job with a retry button that works,
    /// live events as they happen, and the charts; a screenshot is kept.
    @Test func statusPageInARealBrowser() throws {
        let a = try AnalyticsRoot()
        let token = try depot(["token", "create", "--root", a.root.path, "--scope", "admin"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try a.root.drop("documents/notes.md", Array("# Notes\n\nText.\n".utf8))
        try a.root.drop("documents/broken.txt", Array("DEPOT-TEST-FAIL".utf8))
        #expect(a.settle(), "\(a.server.stderr)")
        let dir = NSTemporaryDirectory() + "depot-ui-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(Self.script.utf8).write(to: URL(fileURLWithPath: dir + "/drive.py"))
        let shot = repositoryRoot + "/.build/status-page.png"
        let r = try runBlocking("/usr/bin/python3", [dir + "/drive.py", a.base, token, a.root.layout.inbox, shot])
        #expect(r.status == 0, "\(r.output)\n\(a.server.stderr)")
        #expect(r.stdout.contains("documents/notes.md=succeeded") && r.stdout.contains("documents/broken.txt=failed"), "\(r.stdout)")
        #expect(r.stdout.contains("queue") && r.stdout.contains("failed 1"), "\(r.stdout)")
        #expect(r.stdout.contains("charts 2"), "\(r.stdout)")
        #expect(r.stdout.contains("live") && r.stdout.contains("documents/live.md"), "\(r.stdout)")
        #expect(r.stdout.contains("retried"))
        #expect(waitUntil(seconds: 30) {
            (try? depot(["events", "--json", "--type", "job.failed", "--root", a.root.path]).stdout
                .split(separator: "\n").count) == 2
        }, "the retried job did not run again")
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.count > 10_000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
    }
}
