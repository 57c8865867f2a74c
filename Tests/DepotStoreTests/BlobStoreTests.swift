import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// The contract every `BlobStore` keeps, run against each implementation.
@Suite struct BlobStoreContract {
    @Test(arguments: StoreKind.allCases)
    func storedBlobIsNamedByItsSHA256(kind: StoreKind) throws {
        let dir = TemporaryDirectory()
        let store = try kind.make(in: dir)
        let file = try dir.write("in/abc.txt", "abc")
        let staged = try store.stage(BlobSource(path: file, mayLink: false))
        // FIPS 180-2 test vector for "abc".
        #expect(staged.digest.hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(staged.size == 3)
        #expect(try store.commit([staged]) == [.new])
        #expect(try store.contains(staged.digest))
        #expect(try store.size(of: staged.digest) == 3)
        #expect(try store.readAll(staged.digest) == Array("abc".utf8))
    }

    @Test(arguments: StoreKind.allCases)
    func emptyAndLargeFilesHashLikeCoreutils(kind: StoreKind) throws {
        let dir = TemporaryDirectory()
        let store = try kind.make(in: dir)
        for (name, bytes) in [("empty", [UInt8]()), ("big", noise(3 << 20 + 17, seed: 7))] {
            let file = try dir.write(name, bytes)
            let staged = try store.stage(BlobSource(path: file, mayLink: false))
            #expect(staged.digest.hex == (try coreutilsSHA256(file)))
            #expect(staged.size == Int64(bytes.count))
            _ = try store.commit([staged])
            #expect(try store.readAll(staged.digest) == bytes)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func blobsAreReadByRangeAndAsLocalFilesWhereTheStoreHasThem(kind: StoreKind) throws {
        let dir = TemporaryDirectory()
        let store = try kind.make(in: dir)
        let bytes = noise(100_000, seed: 9)
        let staged = try store.stage(BlobSource(path: try dir.write("f", bytes), mayLink: false))
        _ = try store.commit([staged])
        let reader = try store.open(staged.digest)
        #expect(try reader.read(at: 99_990, count: 100) == Array(bytes[99_990...]))
        #expect(try reader.read(at: 1000, count: 10) == Array(bytes[1000..<1010]))
        #expect(try reader.read(at: 200_000, count: 10).isEmpty)
        // A ranged read does not move the sequential position.
        #expect(try reader.read(at: 0, count: 4096) == Array(bytes[0..<4096]))
        #expect(try store.readAll(staged.digest) == bytes)
        switch kind {
        case .local:
            let path = try #require(store.localPath(of: staged.digest))
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: path))) == bytes)
        case .memory, .s3:
            #expect(store.localPath(of: staged.digest) == nil)
        }
        #expect(store.isWritable())
        #expect(throws: BlobStoreError.self) { _ = try store.open(SHA256Hasher.digest([1, 2, 3])) }
    }

    @Test(arguments: StoreKind.allCases)
    func sameBytesAreStoredOnce(kind: StoreKind) throws {
        let dir = TemporaryDirectory()
        let store = try kind.make(in: dir)
        let a = try dir.write("a", noise(5000, seed: 1))
        let b = try dir.write("b", noise(5000, seed: 1))
        let c = try dir.write("c", noise(5000, seed: 2))
        let first = try store.commit([try store.stage(BlobSource(path: a, mayLink: false))])
        // In one batch: a duplicate of a stored blob, a new blob.
        let second = try store.commit([try store.stage(BlobSource(path: b, mayLink: false)),
                                       try store.stage(BlobSource(path: c, mayLink: false))])
        #expect(first == [.new])
        #expect(second == [.existing, .new])
        #expect(try store.allDigests().count == 2)
    }

    @Test(arguments: StoreKind.allCases)
    func verifyFindsDamage(kind: StoreKind) throws {
        let dir = TemporaryDirectory()
        let store = try kind.make(in: dir)
        let file = try dir.write("f", noise(70_000, seed: 3))
        let staged = try store.stage(BlobSource(path: file, mayLink: false))
        _ = try store.commit([staged])
        #expect(try store.verify(staged.digest))
        var damaged = noise(70_000, seed: 3)
        damaged[12_345] ^= 0x01
        if let local = store as? LocalBlobStore {
            let path = local.path(of: staged.digest)
            chmod(path, 0o644)
            try Data(damaged).write(to: URL(fileURLWithPath: path))
        } else if let memory = store as? MemoryBlobStore {
            memory.corrupt(staged.digest, with: damaged)
        } else if let s3 = store as? S3BlobStore {
            try s3.putObject(key: s3.key(of: staged.digest), bytes: damaged)
        }
        #expect(try !store.verify(staged.digest))

        // The same bytes committed again heal the damaged copy rather than being dropped as a
        // duplicate; good stored bytes stay a plain dedup hit.
        #expect(try store.commit([try store.stage(BlobSource(path: file, mayLink: false))]) == [.healed])
        #expect(try store.verify(staged.digest))
        #expect(try store.commit([try store.stage(BlobSource(path: file, mayLink: false))]) == [.existing])
        #expect(try store.allDigests() == [staged.digest])
    }

    @Test(arguments: StoreKind.allCases)
    func aFIFOIsRefusedWithoutHanging(kind: StoreKind) throws {
        let dir = TemporaryDirectory()
        let store = try kind.make(in: dir)
        let fifo = dir.path + "/pipe"
        #expect(mkfifo(fifo, 0o644) == 0)
        #expect(throws: BlobStoreError.notRegularFile(fifo)) {
            _ = try store.stage(BlobSource(path: fifo, mayLink: false))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func discardedStagingLeavesNoBlob(kind: StoreKind) throws {
        let dir = TemporaryDirectory()
        let store = try kind.make(in: dir)
        let staged = try store.stage(BlobSource(path: try dir.write("f", "x"), mayLink: false))
        store.discard(staged)
        #expect(try !store.contains(staged.digest))
        #expect(try store.removeLeftovers() == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func removedBlobIsGone(kind: StoreKind) throws {
        let dir = TemporaryDirectory()
        let store = try kind.make(in: dir)
        let staged = try store.stage(BlobSource(path: try dir.write("f", "gone"), mayLink: false))
        _ = try store.commit([staged])
        try store.remove(staged.digest)
        #expect(try !store.contains(staged.digest))
        #expect(throws: BlobStoreError.missing(staged.digest.hex)) { _ = try store.open(staged.digest) }
    }
}

/// What only the filesystem store does.
@Suite struct LocalBlobStoreTests {
    @Test func blobLivesAtFanOutPathAndIsReadOnly() throws {
        let dir = TemporaryDirectory()
        let store = try LocalBlobStore(blobs: dir.path + "/blobs", temp: dir.path + "/tmp")
        let staged = try store.stage(BlobSource(path: try dir.write("f", "abc"), mayLink: false))
        _ = try store.commit([staged])
        let expected = dir.path + "/blobs/sha256/ba/78/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        #expect(store.path(of: staged.digest) == expected)
        let st = try #require(try statIfExists(expected))
        #expect(st.st_mode & 0o777 == 0o444)
        #expect(try listDirectory(dir.path + "/tmp").isEmpty)
    }

    @Test func consumeOnOneFilesystemLinksInsteadOfCopying() throws {
        let dir = TemporaryDirectory()
        let store = try LocalBlobStore(blobs: dir.path + "/blobs", temp: dir.path + "/tmp")
        // Written and closed a moment ago: nobody writes it any more, so it is linked.
        let source = try dir.write("inbox/c/f.bin", noise(100_000, seed: 9))
        let staged = try store.stage(BlobSource(path: source, mayLink: true))
        #expect(staged.linked)
        _ = try store.commit([staged])
        let blob = try #require(try statIfExists(store.path(of: staged.digest)))
        let original = try #require(try statIfExists(source))
        #expect(blob.st_ino == original.st_ino)
        #expect(unlink(source) == 0)
        try store.settle(staged)
        // Nobody came to write while it was leased: the blob keeps the inode it was given.
        #expect(try statIfExists(store.path(of: staged.digest))!.st_ino == original.st_ino)
        // Copy mode never shares the inode: a mirror's file may be rewritten in place later.
        let copy = try dir.write("inbox/c/g.bin", noise(100_001, seed: 9))
        let copied = try store.stage(BlobSource(path: copy, mayLink: false))
        _ = try store.commit([copied])
        #expect(try statIfExists(store.path(of: copied.digest))!.st_ino != (try statIfExists(copy))!.st_ino)
    }

    @Test func aFileOpenForWritingIsNotTaken() throws {
        let dir = TemporaryDirectory()
        let store = try LocalBlobStore(blobs: dir.path + "/blobs", temp: dir.path + "/tmp")
        let source = try dir.write("inbox/c/growing.bin", noise(5_000, seed: 2))
        let writer = open(source, O_WRONLY | O_APPEND)
        #expect(writer >= 0)
        #expect(throws: BlobStoreError.openForWriting(source)) { _ = try store.stage(BlobSource(path: source, mayLink: true)) }
        #expect(try listDirectory(dir.path + "/tmp").isEmpty)
        close(writer)
        let staged = try store.stage(BlobSource(path: source, mayLink: true))
        #expect(staged.linked)
        store.discard(staged)
    }

    @Test func aFileWithAnotherNameIsCopied() throws {
        // Whoever holds the other name could write into the blob later.
        let dir = TemporaryDirectory()
        let store = try LocalBlobStore(blobs: dir.path + "/blobs", temp: dir.path + "/tmp")
        let source = try dir.write("inbox/c/f.bin", noise(4_000, seed: 3))
        #expect(link(source, dir.path + "/elsewhere.bin") == 0)
        let staged = try store.stage(BlobSource(path: source, mayLink: true))
        #expect(!staged.linked)
        _ = try store.commit([staged])
        #expect(try statIfExists(store.path(of: staged.digest))!.st_ino != (try statIfExists(source))!.st_ino)
    }

    @Test func aWriterArrivingWhileLeasedNeverReachesTheBlob() throws {
        let dir = TemporaryDirectory()
        let store = try LocalBlobStore(blobs: dir.path + "/blobs", temp: dir.path + "/tmp")
        let bytes = noise(300_000, seed: 5)
        let source = try dir.write("inbox/c/report.pdf", bytes)
        let staged = try store.stage(BlobSource(path: source, mayLink: true))
        #expect(staged.linked)
        _ = try store.commit([staged])
        let lease = try #require(staged.lease)

        // A late writer opens the inbox name before it is removed: its open waits on the lease.
        let wrote = DispatchSemaphore(value: 0)
        Thread {
            let fd = open(source, O_WRONLY)
            if fd >= 0 {
                let junk = [UInt8](repeating: 0x41, count: 4096)
                _ = junk.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
                close(fd)
            }
            wrote.signal()
        }.start()
        let deadline = Date().addingTimeInterval(10)
        while lease.isIntact && Date() < deadline { usleep(1000) }
        #expect(!lease.isIntact, "the writer's open should break the lease")
        #expect(wrote.wait(timeout: .now()) == .timedOut, "the writer waits while the lease is held")

        #expect(unlink(source) == 0)
        try store.settle(staged)
        #expect(wrote.wait(timeout: .now() + 10) == .success)
        // The blob got an inode of its own with the original bytes; the writer wrote elsewhere.
        #expect(try store.readAll(staged.digest) == bytes)
        #expect(try store.verify(staged.digest))
        #expect(try statIfExists(store.path(of: staged.digest))!.st_mode & 0o777 == 0o444)
        #expect(try listDirectory(dir.path + "/tmp").isEmpty)
    }

    @Test func leftoversOfDeadWritersGoButALiveWritersStay() throws {
        let dir = TemporaryDirectory()
        let store = try LocalBlobStore(blobs: dir.path + "/blobs", temp: dir.path + "/tmp")
        // pid 1 is always alive; a pid above pid_max never is.
        try dir.write("tmp/stage-1-abc", "live writer")
        try dir.write("tmp/stage-99999999-abc", "dead writer")
        try dir.write("tmp/stray", "no pid")
        #expect(try store.removeLeftovers() == 2)
        #expect(try listDirectory(dir.path + "/tmp") == ["stage-1-abc"])
    }

    @Test func newBlobIsDurableBeforeCommitReturns() throws {
        // The fan-out folders and the blob exist on return; the staging is gone.
        let dir = TemporaryDirectory()
        let store = try LocalBlobStore(blobs: dir.path + "/blobs", temp: dir.path + "/tmp")
        let files = try (0..<20).map { try dir.write("src/\($0)", noise(1000 + $0, seed: UInt64($0))) }
        let staged = try files.map { try store.stage(BlobSource(path: $0, mayLink: false)) }
        #expect(try store.commit(staged) == Array(repeating: .new, count: 20))
        for blob in staged {
            #expect(try store.verify(blob.digest))
        }
        #expect(try listDirectory(dir.path + "/tmp").isEmpty)
    }
}
