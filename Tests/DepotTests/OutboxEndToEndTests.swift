import DepotCore
import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// The outbox and event dispatch through the real `depot serve`, `depot outbox rebuild` and
/// `depot events`.
@Suite(.serialized, .tags(.slow), .slowTest) struct OutboxEndToEndTests {
    /// (last event's seq, dispatch cursor, jobs not finished).
    func progress(_ root: DemoRoot) throws -> (Int64, Int64, Int64) {
        let queue = try root.queue()
        let last = try queue.database.read { try EventLog.lastSequence(in: $0) }
        let cursor = try queue.database.read { try $0.query("SELECT seq FROM outbox_cursor")[0].int(0) }
        let open = try queue.counts().filter { !$0.key.isFinished }.values.reduce(0, +)
        return (last, cursor, Int64(open))
    }

    func eventIDs(_ root: DemoRoot) throws -> [String] {
        try root.catalog().events(after: 0, limit: 1_000_000).map(\.id)
    }

    func outboxTree(_ outbox: String) throws -> [String: [UInt8]] {
        var tree: [String: [UInt8]] = [:]
        for file in filesUnder(outbox) where file != "events.jsonl" && !file.hasPrefix(".depot-trash") {
            tree[file] = Array(try Data(contentsOf: URL(fileURLWithPath: outbox + "/" + file)))
        }
        return tree
    }

    /// kill -9 while events are being dispatched; after a restart every event is in
    /// events.jsonl (at least once, whole lines), every document is published with its
    /// current version, and `depot outbox rebuild` gives the same tree.
    @Test func killDuringDispatchLosesNoEventAndRebuildMatches() throws {
        let root = try DemoRoot(quietPeriod: "0s")
        var contents: [String: [UInt8]] = [:]
        for i in 0..<60 {
            let bytes = Array("# Note \(i)\n\nSome text \(i).\n".utf8)
            contents["notes/n\(i).md"] = bytes
            try root.drop("docs/notes/n\(i).md", bytes)
        }
        let jsonl = root.layout.outbox + "/events.jsonl"
        var server: Server? = try root.serve()
        #expect(waitUntil(seconds: 30) { ((try? Data(contentsOf: URL(fileURLWithPath: jsonl)))?.count ?? 0) > 0 })
        server!.signal(SIGKILL)
        #expect(server!.wait() == -SIGKILL)
        server = nil

        let restarted = try root.serve()
        defer { restarted.signal(SIGTERM); restarted.wait() }
        // Done when all files are stored, processing is over (a job finishing during the
        // shutdown below would add an event no dispatcher sees until the next start) and
        // dispatch has caught up and stays caught up.
        var settled = 0
        #expect(try waitUntil(seconds: 45) {
            let stored = try root.catalog().documents(collection: "docs").count
            let (last, cursor, open) = try progress(root)
            settled = (stored == 60 && last == cursor && open == 0) ? settled + 1 : 0
            return settled >= 25  // half a second with nothing new
        }, "\(restarted.stderr.suffix(2000))")

        let lines = String(decoding: try Data(contentsOf: URL(fileURLWithPath: jsonl)), as: UTF8.self)
            .split(separator: "\n").map(String.init)
        var seen = Set<String>()
        for line in lines {
            let envelope = try #require(try parseJSON(line) as? [String: Any], "not a whole envelope: \(line)")
            seen.insert(try #require(envelope["id"] as? String))
        }
        let ids = try eventIDs(root)
        #expect(Set(ids).subtracting(seen).isEmpty, "events missing from events.jsonl")
        #expect(lines.count >= ids.count)

        for (path, bytes) in contents {
            let manifest = try #require(try parseJSON(String(decoding: try Data(contentsOf: URL(
                fileURLWithPath: root.layout.outbox + "/docs/" + path + "/manifest.json")), as: UTF8.self)) as? [String: Any])
            let current = try #require(manifest["current_version"] as? [String: Any])
            #expect(current["sha256"] as? String == sha256(bytes))
        }

        // `depot events --json`: every event, one envelope per line, with its sequence number.
        let listed = try depot(["events", "--root", root.path, "--json", "--limit", "100000"])
        #expect(listed.status == 0)
        #expect(listed.stdout.split(separator: "\n").count == ids.count)

        restarted.signal(SIGTERM)
        #expect(restarted.wait() == 0)
        let incremental = try outboxTree(root.layout.outbox)
        #expect(incremental.count >= 60)
        try FileManager.default.removeItem(atPath: root.layout.outbox + "/docs")
        let rebuild = try depot(["outbox", "rebuild", "--root", root.path, "--json"])
        #expect(rebuild.status == 0, "\(rebuild.stderr)")
        let report = try #require(try parseJSON(rebuild.stdout) as? [String: Any])
        #expect(report["published"] as? Int == 60)
        let rebuilt = try outboxTree(root.layout.outbox)
        #expect(rebuilt.keys.sorted() == incremental.keys.sorted())
        #expect(Set(rebuilt.keys).filter { rebuilt[$0] != incremental[$0] }.sorted() == [])
    }
}
