import DepotCore
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// A socket listening on 127.0.0.1:port (what "another program on the port" is).
final class Listener {
    let fd: Int32
    let port: Int
    init() throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socketFD, $0, length) == 0 && listen(socketFD, 8) == 0 && getsockname(socketFD, $0, &length) == 0
            }
        }
        guard ok else {
            close(socketFD)
            throw TestFailure("cannot listen: errno \(errno)")
        }
        fd = socketFD
        port = Int(UInt16(bigEndian: addr.sin_port))
    }
    deinit { close(fd) }
}

/// A webhook receiver on 127.0.0.1 (Python's http.server): every POST body, one per line.
final class HookReceiver {
    let process = Process()
    let port: Int
    let file: String

    init(directory: String) throws {
        file = directory + "/hooks.jsonl"
        FileManager.default.createFile(atPath: file, contents: nil)
        let portFile = directory + "/hooks.port"
        process.executableURL = URL(fileURLWithPath: debianPython)
        process.arguments = ["-c", """
            import http.server, os, sys
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                    with open(sys.argv[1], 'ab') as f: f.write(body.replace(b'\\n', b' ') + b'\\n')
                    self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
                def log_message(self, *a): pass
            s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
            with open(sys.argv[2] + '.tmp', 'w') as f: f.write(str(s.server_port))
            os.rename(sys.argv[2] + '.tmp', sys.argv[2])
            s.serve_forever()
            """, file, portFile]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var port = 0
        _ = waitUntil(seconds: 10) {
            port = Int((try? String(contentsOfFile: portFile, encoding: .utf8)) ?? "") ?? 0
            return port > 0
        }
        guard port > 0 else { throw TestFailure("the webhook receiver did not start") }
        self.port = port
    }

    var bodies: [String] { ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

    deinit {
        // SIGKILL: a child may inherit a mask that blocks SIGTERM from the test runner.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// What using and attacking depot found (issue 11), end to end through the binary: each
/// test fails without its fix.
@Suite(.serialized, .tags(.slow), .slowTest) struct HardeningTests {
    /// A collection file anyone can drop, with a duration past any clock: that collection is
    /// held (its files stay), the daemon and every other collection carry on — and again after
    /// a restart with the file still there.
    @Test func anExtremeDurationInACollectionFileHoldsThatCollectionNotTheDaemon() throws {
        let root = try DemoRoot()
        try root.drop("share/.depot.toml", Array("quiet_period = \"99999999d\"\n".utf8))
        for attempt in 0..<2 {
            let server = try root.serve()
            let held = try root.drop("share/kept-\(attempt).bin", noise(3000, seed: UInt64(attempt)))
            let taken = try root.drop("docs/taken-\(attempt).bin", noise(3000, seed: UInt64(10 + attempt)))
            #expect(waitUntil(seconds: 15) { !FileManager.default.fileExists(atPath: taken) }, "\(server.stderr)")
            #expect(waitUntil(seconds: 5) { server.stderr.contains("collection settings are broken") }, "\(server.stderr)")
            #expect(server.stderr.contains("quiet_period must be a duration"), "\(server.stderr)")
            Thread.sleep(forTimeInterval: 1)
            #expect(server.process.isRunning, "\(server.stderr)")
            #expect(FileManager.default.fileExists(atPath: held))
            server.signal(SIGTERM)
            #expect(server.wait() == 0, "\(server.stderr)")
        }
        #expect(try root.catalog().documents(collection: "share").isEmpty)
    }

    /// One rule for a .depot.toml that is not a plain file, at start and while running, in
    /// the daemon and in `config check`: the collection is held, its files stay.
    @Test func aSymlinkedCollectionFileAddedWhileRunningHoldsTheCollection() throws {
        // No periodic rescan to catch it later: the change itself must hold the collection.
        let root = try DemoRoot(rescanInterval: "10m")
        let server = try root.serve()
        let warmup = try root.drop("team/first.bin", noise(2000, seed: 1))
        #expect(waitUntil(seconds: 15) { !FileManager.default.fileExists(atPath: warmup) }, "\(server.stderr)")
        // Meant to make the share a mirror: a symlink to the real settings.
        try Data("mode = \"mirror\"\n".utf8).write(to: URL(fileURLWithPath: root.path + "/mirror.toml"))
        #expect(symlink(root.path + "/mirror.toml", root.layout.inbox + "/team/.depot.toml") == 0)
        #expect(waitUntil(seconds: 5) { server.stderr.contains("collection settings are broken") }, "\(server.stderr)")
        let file = try root.drop("team/people's copy.bin", noise(2000, seed: 2))
        Thread.sleep(forTimeInterval: 2)
        #expect(FileManager.default.fileExists(atPath: file), "a file of a held collection was consumed")
        server.signal(SIGTERM)
        #expect(server.wait() == 0)

        let check = try depot(["config", "check", "--root", root.path])
        #expect(check.status == 78, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("team/.depot.toml") && check.stdout.contains("not a regular file"), "\(check.stdout)")

        let again = try root.serve()
        #expect(waitUntil(seconds: 10) { again.stderr.contains("collection settings are broken") }, "\(again.stderr)")
        Thread.sleep(forTimeInterval: 1)
        #expect(FileManager.default.fileExists(atPath: file))
        again.signal(SIGTERM)
        #expect(again.wait() == 0)
    }

    @Test func configCheckOnAFIFOCollectionFileAnswersAtOnce() throws {
        let root = try DemoRoot()
        try makeDirectories(root.layout.inbox + "/team")
        #expect(mkfifo(root.layout.inbox + "/team/.depot.toml", 0o644) == 0)
        // timeout(1) ends a hung check with status 124.
        let check = try depot(["config", "check", "--root", root.path], prefix: ["/usr/bin/timeout", "-s", "KILL", "10"])
        #expect(check.status == 78, "\(check.status)")
        #expect(check.stdout.contains("team/.depot.toml") && check.stdout.contains("not a regular file"), "\(check.stdout)")
    }

    @Test func aSecondServeOnTheSameRootIsRefused() throws {
        let root = try DemoRoot()
        let first = try root.serve()
        #expect(waitUntil(seconds: 15) { first.stderr.contains("depot is serving") }, "\(first.stderr)")
        // Under timeout(1): a second daemon that is not refused would run on (status 137).
        let second = try depot(["serve", "--root", root.path], prefix: ["/usr/bin/timeout", "-s", "KILL", "20"])
        #expect(second.status == 69, "\(second.stderr)")
        #expect(second.stderr.contains("another depot serve (pid \(first.process.processIdentifier)) is running on \(root.path)"),
                "\(second.stderr)")
        #expect(!second.stderr.contains("USAGE"))
        // The first one is untouched and still takes files.
        let file = try root.drop("docs/a.bin", noise(1000, seed: 3))
        #expect(waitUntil(seconds: 15) { !FileManager.default.fileExists(atPath: file) }, "\(first.stderr)")
        first.signal(SIGTERM)
        #expect(first.wait() == 0)
        // Once it is gone, the root is free again.
        let third = try root.serve()
        #expect(waitUntil(seconds: 15) { third.stderr.contains("depot is serving") }, "\(third.stderr)")
        third.signal(SIGTERM)
        #expect(third.wait() == 0)
    }

    /// A port in use is found before anything starts, and named; `--listen` picks another.
    @Test func aTakenPortIsNamedAtOnceAndListenPicksAnother() throws {
        let taken = try Listener()
        let root = try DemoRoot(extra: "[http]\nport = \(taken.port)")
        let refused = try depot(["serve", "--root", root.path], prefix: ["/usr/bin/timeout", "-s", "KILL", "20"])
        #expect(refused.status == 69, "\(refused.stderr)")
        #expect(refused.stderr.contains("cannot listen on 127.0.0.1:\(taken.port)"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("depot is serving") && !refused.stderr.contains("worker"), "\(refused.stderr)")

        let port = freePort()
        let server = try Server(root: root.path, arguments: ["--listen", "127.0.0.1:\(port)"])
        defer { server.signal(SIGTERM); server.wait() }
        #expect(waitUntil(seconds: 15) { (try? curl(["http://127.0.0.1:\(port)/healthz"]).code) == 200 }, "\(server.stderr)")

        let bad = try depot(["serve", "--root", root.path, "--listen", "localhost:http"])
        #expect(bad.status == 64 && bad.stderr.contains("--listen takes ADDRESS:PORT"), "\(bad.stderr)")
    }

    /// Runtime errors are one line with their sysexits status; only command-line mistakes
    /// get the usage; unknown commands a suggestion; --version the version.
    @Test func exitStatusesFollowSysexitsAndErrorsAreOneLine() throws {
        let root = try DemoRoot()
        let version = try depot(["--version"])
        #expect(version.status == 0 && version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3,
                "\(version.stdout)")

        let typo = try depot(["lss", "--root", root.path])
        #expect(typo.status == 64 && typo.stderr.contains("unknown command 'lss' (did you mean 'ls'?)"), "\(typo.stderr)")
        let usage = try depot(["ls", "--no-such-flag"])
        #expect(usage.status == 64 && usage.stderr.contains("Usage"), "\(usage.stderr)")

        func oneLine(_ result: RunResult, _ status: Int32, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(result.status == status, "\(result.stderr)", sourceLocation: sourceLocation)
            #expect(result.stderr.contains(text), "\(result.stderr)", sourceLocation: sourceLocation)
            #expect(!result.stderr.lowercased().contains("usage"), "\(result.stderr)", sourceLocation: sourceLocation)
        }
        oneLine(try depot(["ingest", "--root", root.path, "--collection", "c", root.path + "/nothing-here"]), 66, "nothing-here")
        oneLine(try depot(["get", "c/nothing", "--root", root.path]), 1, "c/nothing")
        oneLine(try depot(["ls", "--root", root.path + "/not-a-root"]), 66, "not-a-root")
        oneLine(try depot(["jobs", "show", "999999", "--root", root.path]), 1, "999999")
        try Data("[inbox]\nquiet_period = \"99999999d\"\n".utf8).write(to: URL(fileURLWithPath: root.path + "/bad.toml"))
        oneLine(try depot(["ls", "--config", root.path + "/bad.toml"]), 78, "bad.toml:2: inbox.quiet_period must be a duration")

        // A link lifetime past any clock: a clear refusal (it used to crash the command).
        let file = root.path + "/x.bin"
        try Data(noise(100, seed: 1)).write(to: URL(fileURLWithPath: file))
        #expect(try depot(["ingest", "--root", root.path, "--collection", "c", file]).status == 0)
        let link = try depot(["link", "c/x.bin", "--expires", "200000d", "--root", root.path])
        #expect(link.status == 64 && link.stderr.contains("--expires takes a duration such as 2h, at most 100 years"), "\(link.stderr)")
    }

    /// A file dropped at the top of inbox/ is not taken, and said so once.
    @Test func aFileAtTheTopOfTheInboxIsNamedOnce() throws {
        let root = try DemoRoot()
        let server = try root.serve()
        #expect(waitUntil(seconds: 15) { server.stderr.contains("depot is serving") })
        let loose = try root.drop("lecture.pdf", Array("%PDF-1.4".utf8))
        #expect(waitUntil(seconds: 10) { server.stderr.contains("a file at the top of inbox/ belongs to no collection") }, "\(server.stderr)")
        #expect(server.stderr.contains("inbox/documents/lecture.pdf"))
        try root.drop(".hidden", Array("x".utf8))
        Thread.sleep(forTimeInterval: 3)   // rescans (every 2 s here) do not repeat it
        // Nor does the guide depot init put there (it says so itself).
        #expect(!server.stderr.contains("inbox/README.md"))
        let lines = server.stderr.components(separatedBy: "\n").filter { $0.contains("belongs to no collection") }
        #expect(lines.count == 1, "\(lines)")
        #expect(FileManager.default.fileExists(atPath: loose))
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    /// The ignore list holds for files named on `depot ingest`'s command line too.
    @Test func ingestSkipsIgnoredNamesGivenAsArguments() throws {
        let root = try DemoRoot()
        let partial = root.path + "/movie.mp4.part", good = root.path + "/notes.md"
        try Data("half".utf8).write(to: URL(fileURLWithPath: partial))
        try Data("# notes".utf8).write(to: URL(fileURLWithPath: good))
        let result = try depot(["ingest", "--move", "--json", "--root", root.path, "--collection", "c", partial, good])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try parseJSON(result.stdout) as? [String: Any])
        #expect(report["created"] as? Int == 1 && report["ignored"] as? Int == 1, "\(report)")
        #expect(try root.catalog().documents(collection: "c").map(\.path) == ["notes.md"])
        #expect(FileManager.default.fileExists(atPath: partial), "an ignored file was moved away")
    }

    /// SIGHUP reloads the webhooks: one added to depot.toml gets the next events without a restart.
    @Test func sighupReloadsWebhooks() throws {
        let root = try DemoRoot()
        let receiver = try HookReceiver(directory: root.path)
        let server = try root.serve()
        let first = try root.drop("docs/before.bin", noise(500, seed: 1))
        #expect(waitUntil(seconds: 15) { !FileManager.default.fileExists(atPath: first) }, "\(server.stderr)")
        try root.setConfig(quietPeriod: "200ms", rescanInterval: "2s", extra: """
            [[webhooks]]
            url = "http://127.0.0.1:\(receiver.port)/hook"
            secret = "s3cret"
            events = ["file.stored"]
            """)
        server.signal(SIGHUP)
        #expect(waitUntil(seconds: 10) { server.stderr.contains("configuration reloaded") }, "\(server.stderr)")
        #expect(server.stderr.contains("webhooks"))
        try root.drop("docs/after.bin", noise(500, seed: 2))
        #expect(waitUntil(seconds: 20) { receiver.bodies.contains { $0.contains("after.bin") } }, "\(server.stderr)")
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    /// A listing cut at its limit says so (on stderr, so --json stays parseable).
    @Test func listingsCutAtTheirLimitSaySo() throws {
        let root = try DemoRoot()
        for i in 0..<3 {
            let file = root.path + "/f\(i).md"
            try Data("# note \(i)".utf8).write(to: URL(fileURLWithPath: file))
            #expect(try depot(["ingest", "--root", root.path, "--collection", "c", file]).status == 0)
        }
        let cut = try depot(["jobs", "list", "--limit", "2", "--json", "--root", root.path])
        let listed = try parseJSON(cut.stdout) as? [Any]
        #expect(cut.status == 0 && listed?.count == 2, "\(cut.stdout)\(cut.stderr)")
        #expect(cut.stderr.contains("the newest 2 jobs are listed; there may be more"), "\(cut.stderr)")
        let whole = try depot(["jobs", "list", "--limit", "100", "--root", root.path])
        #expect(whole.status == 0 && !whole.stderr.contains("there may be more"))
        let events = try depot(["events", "--limit", "2", "--root", root.path])
        #expect(events.stderr.contains("2 events are listed; more may follow (--after "), "\(events.stderr)")
    }
}
