import DepotCore
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// `depot serve` with real inotify, real files and a real catalog.
@Suite(.serialized, .tags(.slow), .slowTest) struct ServeTests {
    @Test func droppedFilesAreStoredThenLeaveTheInbox() throws {
        let root = try DemoRoot()
        let server = try root.serve()
        let bytes = noise(30_000, seed: 11)
        let file = try root.drop("lectures/physics/week1/a.bin", bytes)
        try root.drop("lectures/physics/week1/a.bin.part", Array("partial".utf8))
        try root.drop("lectures/.DS_Store", Array("litter".utf8))
        #expect(waitUntil(seconds: 15) { !FileManager.default.fileExists(atPath: file) }, "\(server.stderr)")
        let documents = try root.catalog().documents(collection: "lectures")
        #expect(documents.map(\.path) == ["physics/week1/a.bin"])
        #expect(documents.first?.digest.hex == sha256(bytes))
        #expect(documents.first?.tags == ["physics", "week1"])
        // Litter and partial uploads stay where they are, untouched.
        #expect(FileManager.default.fileExists(atPath: root.layout.inbox + "/lectures/physics/week1/a.bin.part"))
        #expect(FileManager.default.fileExists(atPath: root.layout.inbox + "/lectures/.DS_Store"))
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    @Test func sameBytesAgainMakeNoNewVersionAndNewBytesDo() throws {
        let root = try DemoRoot()
        let server = try root.serve()
        let path = "docs/report.txt"
        for content in ["v1", "v1", "v2"] {
            let file = try root.drop(path, Array(content.utf8))
            #expect(waitUntil(seconds: 15) { !FileManager.default.fileExists(atPath: file) }, "\(server.stderr)")
        }
        let versions = try root.catalog().versions(collection: "docs", path: "report.txt")
        #expect(versions.map(\.number) == [1, 2])
        #expect(versions.map(\.digest.hex) == [sha256(Array("v1".utf8)), sha256(Array("v2".utf8))])
    }

    /// A stored blob damaged on disk, and the same file dropped again in consume mode: the
    /// inbox copy is the last good one, so it heals the stored copy before it is removed.
    @Test func aDedupHitOnADamagedBlobHealsItBeforeTheInboxCopyGoes() throws {
        let root = try DemoRoot()
        let server = try root.serve()
        let bytes = noise(40_000, seed: 21)
        var file = try root.drop("docs/scan.bin", bytes)
        #expect(waitUntil(seconds: 15) { !FileManager.default.fileExists(atPath: file) }, "\(server.stderr)")
        let blobPath = root.layout.blobs + "/" + (try #require(filesUnder(root.layout.blobs).first))
        chmod(blobPath, 0o644)
        var damaged = bytes
        damaged[777] ^= 0x20
        try Data(damaged).write(to: URL(fileURLWithPath: blobPath))
        #expect(try depot(["verify", "--root", root.path]).status == 1)

        file = try root.drop("docs/scan.bin", bytes)
        #expect(waitUntil(seconds: 15) { !FileManager.default.fileExists(atPath: file) }, "\(server.stderr)")
        #expect(waitUntil(seconds: 5) { server.stderr.contains("a stored blob was damaged; healed from the incoming copy") }, "\(server.stderr)")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: blobPath))) == bytes)
        #expect(try depot(["verify", "--root", root.path]).status == 0)
        #expect(try root.catalog().versions(collection: "docs", path: "scan.bin").count == 1)
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    @Test func filesDroppedWhileStoppedAreTakenAtStart() throws {
        let root = try DemoRoot(rescanInterval: "10m")
        let files = try (0..<20).map { try root.drop("docs/batch/\($0).bin", noise(2000 + $0, seed: UInt64($0))) }
        let server = try root.serve()
        #expect(waitUntil(seconds: 20) { files.allSatisfy { !FileManager.default.fileExists(atPath: $0) } }, "\(server.stderr)")
        #expect(try root.catalog().stats().documents == 20)
    }

    @Test func mirrorCollectionKeepsFilesAndVersionsEveryChange() throws {
        let root = try DemoRoot()
        try root.drop("share/.depot.toml", Array("mode = \"mirror\"\n".utf8))
        let server = try root.serve()
        let file = try root.drop("share/notes.txt", Array("monday".utf8))
        #expect(waitUntil(seconds: 15) { (try? root.catalog().versions(collection: "share", path: "notes.txt").count) == 1 }, "\(server.stderr)")
        #expect(FileManager.default.fileExists(atPath: file))
        try Data("tuesday, longer".utf8).write(to: URL(fileURLWithPath: file))
        #expect(waitUntil(seconds: 15) { (try? root.catalog().versions(collection: "share", path: "notes.txt").count) == 2 }, "\(server.stderr)")
        // A rescan of the unchanged file makes nothing new.
        usleep(2_500_000)
        #expect(try root.catalog().versions(collection: "share", path: "notes.txt").count == 2)
        #expect(FileManager.default.fileExists(atPath: file))
    }

    @Test func aSlowWriterIsTakenOnceAndComplete() throws {
        let root = try DemoRoot(quietPeriod: "500ms", rescanInterval: "1s")
        let path = root.layout.inbox + "/docs/slow.bin"
        // The collection folder exists before the writer starts, as on a share: a file
        // written in the same instant as a brand-new folder can beat the folder's watch
        // (docs/DECISIONS.md, "Known limits").
        try makeDirectories(directoryName(path))
        let server = try root.serve()
        usleep(300_000)
        let handle = try #require(FileHandle(forWritingAtPath: { FileManager.default.createFile(atPath: path, contents: nil); return path }()))
        var written: [UInt8] = []
        for i in 0..<5 {
            let chunk = noise(10_000, seed: UInt64(100 + i))
            handle.write(Data(chunk))
            written += chunk
            usleep(1_000_000)  // slower than the quiet period, across a rescan
        }
        try handle.close()
        #expect(waitUntil(seconds: 15) { !FileManager.default.fileExists(atPath: path) }, "\(server.stderr)")
        let versions = try root.catalog().versions(collection: "docs", path: "slow.bin")
        #expect(versions.count == 1)
        #expect(versions.first?.digest.hex == sha256(written))
    }

    @Test func anUnreadableFileStaysAndIsRetriedUntilItCanBeRead() throws {
        // Tests run as root, who reads anything: drop the capabilities that let root bypass
        // file permissions, so depot meets EACCES as the `depot` user would.
        let setpriv = "/usr/bin/setpriv"
        try #require(FileManager.default.isExecutableFile(atPath: setpriv))
        let root = try DemoRoot()
        let file = try root.drop("docs/secret.bin", noise(5000, seed: 3))
        chmod(file, 0o000)
        let server = try root.serve(prefix: [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"])
        #expect(waitUntil(seconds: 10) { server.stderr.contains("secret.bin") }, "\(server.stderr)")
        usleep(1_500_000)  // several retries (300 ms doubling to 1 s)
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(try root.catalog().stats().documents == 0)
        // The reason is logged once, not on every retry.
        let mentions = server.stderr.components(separatedBy: "\n").filter { $0.contains("secret.bin") && $0.contains("ermission") }
        #expect(mentions.count == 1, "\(server.stderr)")
        chmod(file, 0o644)
        #expect(waitUntil(seconds: 10) { !FileManager.default.fileExists(atPath: file) }, "\(server.stderr)")
        #expect(try root.catalog().stats().documents == 1)
    }

    @Test func killDashNineLosesNothing() throws {
        let root = try DemoRoot(quietPeriod: "0s", rescanInterval: "1s")
        var expected: [String: String] = [:]  // inbox path → sha256
        var server = try root.serve()
        usleep(300_000)
        for i in 0..<150 {
            let bytes = noise(20_000 + (i % 7) * 9_000, seed: UInt64(1000 + i))
            let relative = "docs/run/\(i).bin"
            try root.drop(relative, bytes)
            expected[relative] = sha256(bytes)
            if i == 90 {
                server.signal(SIGKILL)
                server.wait()
            }
            if i == 110 { server = try root.serve() }
        }
        server.signal(SIGKILL)
        server.wait()
        server = try root.serve()
        #expect(waitUntil(seconds: 30) { filesUnder(root.layout.inbox + "/docs/run").isEmpty }, "\(server.stderr)")
        server.signal(SIGTERM)
        #expect(server.wait() == 0)

        // Every dropped file is either still in the inbox or stored with its exact SHA-256.
        let catalog = try root.catalog()
        for (relative, digest) in expected {
            let inInbox = FileManager.default.fileExists(atPath: root.layout.inbox + "/" + relative)
            let stored = try catalog.currentVersion(collection: "docs", path: String(relative.dropFirst("docs/".count)))
            #expect(inInbox || stored?.digest.hex == digest, "\(relative) lost")
            if let stored { #expect(stored.digest.hex == digest) }
        }
        let verify = try depot(["verify", "--root", root.path])
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(filesUnder(root.layout.storeTemp).isEmpty)
    }
}
