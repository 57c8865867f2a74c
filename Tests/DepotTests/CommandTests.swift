import DepotCore
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// The `depot` command as a user runs it.
@Suite(.tags(.slow), .slowTest) struct CommandTests {
    /// A `depot` copied without its `depot-worker` says what is missing and where it belongs.
    @Test func aDepotWithoutItsWorkerSaysWhatIsMissing() throws {
        let dir = TemporaryDirectory()
        let lone = dir.path + "/bin/depot"
        try FileManager.default.createDirectory(atPath: dir.path + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: depotBinary, toPath: lone)
        let notes = try dir.write("notes.md", "# Notes\n")
        let run = try runBlocking(lone, ["extract", notes, "--out", dir.path + "/out"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("\(dir.path)/bin/depot-worker is missing: depot runs its processors in depot-worker"),
                "\(run.stderr)")
    }

    @Test func initLaysOutARootThatConfigCheckAccepts() throws {
        let root = try DemoRoot()
        for folder in ["inbox", "outbox", "store/blobs/sha256", "store/tmp", "state"] {
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: root.path + "/" + folder, isDirectory: &isDirectory) && isDirectory.boolValue,
                    "\(folder) missing")
        }
        #expect(FileManager.default.fileExists(atPath: root.layout.catalog))
        #expect(FileManager.default.fileExists(atPath: root.layout.inbox + "/README.md"))
        let check = try depot(["config", "check", "--root", root.path, "--json"])
        #expect(check.status == 0, "\(check.stderr)")
        let report = try #require(try parseJSON(check.stdout) as? [String: Any])
        #expect(report["root"] as? String == root.path)
        #expect((report["problems"] as? [Any])?.isEmpty == true)
    }

    @Test func configCheckNamesABrokenCollectionFile() throws {
        let root = try DemoRoot()
        try root.drop("broken/.depot.toml", Array("mode = \"sometimes\"\n".utf8))
        let check = try depot(["config", "check", "--root", root.path])
        #expect(check.status != 0)
        #expect(check.stdout.contains("broken/.depot.toml"))
        #expect(check.stdout.contains("mode"))
    }

    @Test func ingestListLogGetAndVerifyRoundTrip() throws {
        let root = try DemoRoot()
        let source = root.path + "/export"
        let a = noise(50_000, seed: 1), b = noise(7_000, seed: 2)
        try makeDirectories(source + "/physics/week1")
        try Data(a).write(to: URL(fileURLWithPath: source + "/physics/week1/a.bin"))
        try Data(b).write(to: URL(fileURLWithPath: source + "/b.bin"))
        try Data("litter".utf8).write(to: URL(fileURLWithPath: source + "/upload.part"))

        let imported = try depot(["ingest", "--root", root.path, "--collection", "archive", "--json", source])
        #expect(imported.status == 0, "\(imported.stderr)")
        let summary = try #require(try parseJSON(imported.stdout) as? [String: Any])
        #expect(summary["created"] as? Int == 2)
        #expect(summary["ignored"] as? Int == 1)
        // Copy mode: the sources stay.
        #expect(FileManager.default.fileExists(atPath: source + "/b.bin"))

        let listing = try #require(try parseJSON(try depot(["ls", "archive", "--root", root.path, "--json"]).stdout) as? [[String: Any]])
        #expect(listing.map { $0["path"] as? String } == ["b.bin", "physics/week1/a.bin"])
        #expect(listing[1]["tags"] as? [String] == ["physics", "week1"])
        #expect(listing[1]["sha256"] as? String == sha256(a))

        // A second version of a.bin, then both versions back out.
        let a2 = noise(50_001, seed: 3)
        try Data(a2).write(to: URL(fileURLWithPath: source + "/physics/week1/a.bin"))
        #expect(try depot(["ingest", "--root", root.path, "--collection", "archive", source]).status == 0)
        let log = try #require(try parseJSON(try depot(["log", "archive/physics/week1/a.bin", "--root", root.path, "--json"]).stdout) as? [[String: Any]])
        #expect(log.map { $0["number"] as? Int } == [1, 2])
        #expect(log.map { $0["sha256"] as? String } == [sha256(a), sha256(a2)])

        let out = root.path + "/out.bin"
        #expect(try depot(["get", "archive/physics/week1/a.bin", "--version", "1", "-o", out, "--root", root.path]).status == 0)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: out))) == a)
        let current = try depot(["get", "archive/physics/week1/a.bin", "--root", root.path])
        #expect(current.status == 0)
        #expect(Array(current.stdoutData) == a2)
        #expect(try depot(["get", "archive/nothing", "--root", root.path]).status != 0)

        let verify = try depot(["verify", "--root", root.path, "--json"])
        #expect(verify.status == 0, "\(verify.stdout)")
        let report = try #require(try parseJSON(verify.stdout) as? [String: Any])
        #expect(report["blobs"] as? Int == 3)
    }

    @Test func verifyFailsOnADamagedBlob() throws {
        let root = try DemoRoot()
        let file = root.path + "/x.bin"
        try Data(noise(9_000, seed: 5)).write(to: URL(fileURLWithPath: file))
        #expect(try depot(["ingest", "--root", root.path, "--collection", "c", file]).status == 0)
        let blob = try #require(filesUnder(root.layout.blobs).first)
        let blobPath = root.layout.blobs + "/" + blob
        chmod(blobPath, 0o644)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: blobPath)))
        bytes[100] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: blobPath))
        let verify = try depot(["verify", "--root", root.path])
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("does not match"))
        // It names what the blob holds and how to get it back.
        #expect(verify.stdout.contains("c/x.bin version 1 (document 1)"), "\(verify.stdout)")
        #expect(verify.stdout.contains("repair: drop a good copy of x.bin"), "\(verify.stdout)")
        let report = try #require(try parseJSON(try depot(["verify", "--root", root.path, "--json"]).stdout) as? [String: Any])
        let problem = try #require((report["problems"] as? [[String: Any]])?.first)
        #expect((problem["versions"] as? [[String: Any]])?.first?["path"] as? String == "x.bin")
        // And `get` refuses to hand out damaged bytes as if they were good.
        #expect(try depot(["get", "c/x.bin", "-o", root.path + "/y.bin", "--root", root.path]).status != 0)
        #expect(!FileManager.default.fileExists(atPath: root.path + "/y.bin"))

        // The good bytes again, moved in: the dedup hit heals the stored copy before the
        // source goes, so the last good copy is never the one removed.
        let again = try depot(["ingest", "--move", "--root", root.path, "--collection", "c", "--json", file])
        #expect(again.status == 0, "\(again.stderr)")
        #expect((try parseJSON(again.stdout) as? [String: Any])?["healed"] as? Int == 1)
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(try depot(["verify", "--root", root.path]).status == 0)
        let out = try depot(["get", "c/x.bin", "--root", root.path])
        #expect(out.status == 0 && Array(out.stdoutData) == noise(9_000, seed: 5))
    }

    @Test func ingestMoveConsumesTheSources() throws {
        let root = try DemoRoot()
        let source = root.path + "/drop"
        try makeDirectories(source)
        for i in 0..<5 { try Data(noise(1000 + i, seed: UInt64(i))).write(to: URL(fileURLWithPath: source + "/f\(i)")) }
        let result = try depot(["ingest", "--move", "--root", root.path, "--collection", "c", source])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(filesUnder(source).isEmpty)
        #expect(try root.catalog().stats().documents == 5)
        #expect(try depot(["verify", "--root", root.path]).status == 0)
    }
}
