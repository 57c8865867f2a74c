import DepotCore
import DepotCurl
@testable import DepotStore
import DepotTestSupport
import Foundation
import Dispatch
import Synchronization
import Testing

/// What only the S3 store does, against a real S3 server (moto's, started by the tests).
@Suite struct S3BlobStoreTests {
    /// A store over a new bucket of `server`, reached through a proxy that drops nothing and
    /// counts every request line.
    func proxiedStore(_ server: TestS3Server, in dir: TemporaryDirectory) throws -> (S3BlobStore, DroppingProxy) {
        let proxy = try DroppingProxy(upstream: server.port) { _, _ in false }
        let store = try S3BlobStore(settings: try server.settings(endpoint: proxy.endpoint), credentials: server.credentials,
                                    temp: dir.path + "/tmp")
        return (store, proxy)
    }

    @Test func signatureMatchesAWSsWorkedExample() {
        // AWS's SigV4 documentation, "GET Object" example (examplebucket, 2013-05-24).
        let signer = SigV4Signer(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                                            secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                                 region: "us-east-1")
        let headers = signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", query: [],
                                  headers: [("Range", "bytes=0-9")], payloadHash: emptyPayloadHash, at: 1_369_353_600)
        let authorization = headers.first { $0.0 == "Authorization" }?.1
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.first { $0.0 == "X-Amz-Date" }?.1 == "20130524T000000Z")
    }

    @Test func presignedURLsMatchAWSsWorkedExampleAndBotocore() {
        let signer = SigV4Signer(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                                            secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                                 region: "us-east-1")
        func signature(_ query: [(String, String)]) -> String? {
            signer.presign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", query: query, expires: 86400,
                           at: 1_369_353_600).first { $0.0 == "X-Amz-Signature" }?.1
        }
        // AWS's "Authenticating Requests: Using Query Parameters" example.
        #expect(signature([]) == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        // With response-* overrides: what botocore's S3SigV4QueryAuth gives for the same request.
        #expect(signature([("response-content-type", "text/plain"), ("response-content-disposition", "attachment; filename=\"a b.txt\"")])
            == "1a2ce99e35987f156c0070a3acfe84b523244532163e4904050da1b0bf490e58")
    }

    /// A presigned URL reads the object, by range too, and carries the lifetime and the
    /// response headers asked for. (moto answers presigned URLs only with its signature checks
    /// off, and ignores `response-*` there: the signature is checked against AWS's example
    /// and botocore above, and the overrides are checked in the URL.)
    @Test func aPresignedURLReadsTheObjectAndCarriesWhatWasAskedFor() throws {
        let dir = TemporaryDirectory()
        let store = try TestS3Server.unchecked().store(in: dir)
        let bytes = Array("presigned bytes\n".utf8)
        let staged = try store.stage(BlobSource(path: try dir.write("a.txt", bytes), mayLink: false))
        _ = try store.commit([staged])
        let url = try #require(store.presignedURL(of: staged.digest, lifetime: 60, contentType: "text/plain; charset=utf-8",
                                                  contentDisposition: "attachment; filename=\"a b.txt\""))
        #expect(url.hasPrefix(store.settings.endpoint + "/" + store.settings.bucket + "/" + store.settings.prefix + "sha256/" + staged.digest.hex + "?"))
        for part in ["X-Amz-Expires=60&", "response-content-type=text%2Fplain%3B%20charset%3Dutf-8&",
                     "response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22&", "X-Amz-SignedHeaders=host&"] {
            #expect(url.contains(part), "\(part) not in \(url)")
        }
        #expect(store.presignedURL(of: staged.digest, lifetime: 10_000_000, contentType: nil, contentDisposition: nil)?
            .contains("X-Amz-Expires=604800&") == true)
        let http = try HTTPClient()
        guard case .success(let whole) = http.perform("GET", url: url, headers: [], timeout: .seconds(10)),
              case .success(let part) = http.perform("GET", url: url, headers: ["Range: bytes=2-4"], timeout: .seconds(10)) else {
            Issue.record("no answer from \(url)"); return
        }
        #expect(whole.status == 200 && whole.body == bytes)
        #expect(part.status == 206 && part.body == Array(bytes[2...4]))
        let local = try LocalBlobStore(blobs: dir.path + "/l/blobs", temp: dir.path + "/l/tmp")
        #expect(local.presignedURL(of: staged.digest, lifetime: 60, contentType: nil, contentDisposition: nil) == nil)
    }

    @Test func aWrongSecretIsRefusedByTheServerWithAClearError() throws {
        let server = try TestS3Server.shared()
        let dir = TemporaryDirectory()
        let settings = try server.settings()
        let wrong = S3Credentials(accessKeyID: server.credentials.accessKeyID, secretAccessKey: "not-the-secret")
        let store = try S3BlobStore(settings: settings, credentials: wrong, temp: dir.path + "/tmp")
        let error = try #require(throws: S3Error.self) { _ = try store.allDigests() }
        #expect(error.status == 403)
        #expect(error.code == "SignatureDoesNotMatch")
        #expect(error.description.hasPrefix("S3 GET \(settings.bucket): 403 SignatureDoesNotMatch: The request signature"))
        // HEAD answers carry no error document: the status still says what went wrong.
        let head = try #require(throws: S3Error.self) { _ = try store.contains(SHA256Hasher.digest([1])) }
        #expect(head.description.contains("HEAD \(settings.bucket)/\(settings.prefix)sha256/"))
        #expect(head.description.contains("403 Forbidden"))
        #expect(!store.isWritable())
        // The right secret, same request: answered.
        let right = try S3BlobStore(settings: settings, credentials: server.credentials, temp: dir.path + "/tmp")
        #expect(try !right.contains(SHA256Hasher.digest([1])))
        #expect(right.isWritable())
    }

    @Test func aMultipartPartThatFailsOnceIsRetried() throws {
        let server = try TestS3Server.shared()
        let dir = TemporaryDirectory()
        // Drops the first attempt at part 2: the connection closes with no answer.
        let proxy = try DroppingProxy(upstream: server.port) { line, seenBefore in line.contains("partNumber=2&") && seenBefore == 0 }
        defer { proxy.stop() }
        var settings = try server.settings(endpoint: proxy.endpoint)
        settings.partSize = 5 << 20
        let store = try S3BlobStore(settings: settings, credentials: server.credentials, temp: dir.path + "/tmp")
        let bytes = noise(11 << 20 + 5, seed: 21)
        let staged = try store.stage(BlobSource(path: try dir.write("big", bytes), mayLink: false))
        #expect(try store.commit([staged]) == [.new])
        #expect(proxy.droppedLines.count == 1)
        #expect(proxy.requestLines.filter { $0.hasPrefix("PUT ") && $0.contains("partNumber=") }.count == 4)  // 3 parts, one twice
        #expect(try store.readAll(staged.digest) == bytes)
        #expect(try store.multipartUploads().isEmpty)
        #expect(try listDirectory(dir.path + "/tmp").isEmpty)
    }

    /// Staging copies nothing (the commit uploads from the source), and a source that changed
    /// between staging and commit is refused with nothing stored under the digest staged:
    /// rewritten (a new mtime), rewritten with its old size and mtime put back (caught by the
    /// hash of what is sent), or grown past a part (a multipart upload, aborted).
    @Test func theCommitUploadsFromTheSourceAndRefusesOneThatChanged() throws {
        let server = try TestS3Server.shared()
        let dir = TemporaryDirectory()
        var settings = try server.settings()
        settings.partSize = 5 << 20
        let store = try S3BlobStore(settings: settings, credentials: server.credentials, temp: dir.path + "/tmp")

        let whole = noise(12 << 20, seed: 71)
        let big = try dir.write("big", whole)
        let staged = try store.stage(BlobSource(path: big, mayLink: false))
        #expect(try listDirectory(dir.path + "/tmp").isEmpty, "staging wrote a copy")
        #expect(staged.partDigests == stride(from: 0, to: whole.count, by: 5 << 20).map {
            SHA256Hasher.digest(Array(whole[$0..<min(whole.count, $0 + (5 << 20))]))
        })
        let reader = try #require(store.openStaged(staged))
        #expect(try reader.read(at: 0, count: 16) == Array(whole[0..<16]))
        #expect(try store.commit([staged]) == [.new])
        #expect(try store.readAll(staged.digest) == whole)

        func stagedThenChanged(_ name: String, _ bytes: [UInt8], keepTimes: Bool, _ change: (String) throws -> Void) throws {
            let path = try dir.write(name, bytes)
            let blob = try store.stage(BlobSource(path: path, mayLink: false))
            var times = [timespec](repeating: timespec(), count: 2)
            if let st = try statIfExists(path) { times = [st.st_atim, st.st_mtim] }
            try change(path)
            if keepTimes { _ = utimensat(AT_FDCWD, path, &times, 0) }
            #expect(store.openStaged(blob) == nil || keepTimes, "\(name): the changed source was read as staged")
            #expect(throws: BlobStoreError.changedWhileReading(path), "\(name)") { _ = try store.commit([blob]) }
            #expect(try !store.contains(blob.digest), "\(name): stored after all")
            #expect(try FileManager.default.contents(atPath: path) != nil, "\(name): the source is gone")
        }
        let small = noise(40_000, seed: 72)
        try stagedThenChanged("rewritten", small, keepTimes: false) { path in
            usleep(20_000)
            try Data(noise(40_000, seed: 73)).write(to: URL(fileURLWithPath: path))
        }
        try stagedThenChanged("same-size-same-mtime", noise(40_000, seed: 74), keepTimes: true) { path in
            let fd = open(path, O_WRONLY)
            defer { close(fd) }
            _ = pwrite(fd, [0x42, 0x42, 0x42], 3, 1000)
        }
        try stagedThenChanged("grown", noise(6 << 20, seed: 75), keepTimes: false) { path in
            usleep(20_000)
            let handle = try #require(FileHandle(forWritingAtPath: path))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(noise(5 << 20, seed: 76)))
            try handle.close()
        }
        #expect(try store.multipartUploads().isEmpty)
        // Discarding a staged blob leaves its source alone.
        let kept = try dir.write("kept", small)
        store.discard(try store.stage(BlobSource(path: kept, mayLink: false)))
        #expect(FileManager.default.contents(atPath: kept) == Data(small))
    }

    /// An ingest into S3 costs a new file one PUT and nothing more: no existence check first
    /// (the catalog does not know it), none inside the recording transaction (the collector
    /// removed nothing meanwhile); its type is read from the source before its upload, not fetched
    /// back. A file the catalog knows is checked and verified instead of sent again.
    @Test func anIngestSendsANewFileOnceAndFetchesNothingBack() throws {
        let server = try TestS3Server.shared()
        let dir = TemporaryDirectory()
        let (store, proxy) = try proxiedStore(server, in: dir)
        defer { proxy.stop() }
        let catalog = try makeCatalog(.sqliteFile, in: dir)
        let seen = Mutex<[Int64]>([])
        let ingestor = Ingestor(store: store, catalog: catalog) { bytes, _ in
            seen.withLock { $0.append(bytes.size) }
            return (try? bytes.read(at: 0, count: 4)) == Array("%PDF".utf8) ? "application/pdf" : "text/plain"
        }
        let files = (0..<5).map { i in (name: "f\(i).txt", bytes: Array("%PDF-1.4 file \(i) ".utf8) + noise(3000 + i, seed: UInt64(i))) }
        for f in files { _ = try dir.write("inbox/" + f.name, f.bytes) }
        let items = files.map { IngestItem(sourcePath: dir.path + "/inbox/" + $0.name, collection: "docs", path: $0.name, tags: [],
                                           disposition: .keep, origin: "test") }
        let results = ingestor.ingest(items)
        #expect(results.allSatisfy { if case .stored(_, blob: .new) = $0 { true } else { false } }, "\(results)")
        #expect(try catalog.documents(collection: "docs").map(\.mediaType) == Array(repeating: "application/pdf", count: 5))
        #expect(seen.withLock { $0 }.sorted() == files.map { Int64($0.bytes.count) }.sorted())
        let lines = proxy.requestLines
        #expect(lines.filter { $0.hasPrefix("PUT ") }.count == 5, "\(lines)")
        #expect(lines.filter { $0.hasPrefix("HEAD ") }.isEmpty, "\(lines)")
        #expect(lines.filter { $0.hasPrefix("GET ") }.isEmpty, "\(lines)")
        for f in files { #expect(try store.readAll(SHA256Hasher.digest(f.bytes)) == f.bytes) }

        // The same bytes under another name: a dedup hit, checked (HEAD, then read back and
        // re-hashed), not sent again.
        let before = proxy.requestLines.count
        _ = try dir.write("inbox/again.txt", files[0].bytes)
        let again = ingestor.ingest([IngestItem(sourcePath: dir.path + "/inbox/again.txt", collection: "docs", path: "again.txt", tags: [],
                                                disposition: .keep, origin: "test")])
        #expect(again.count == 1)
        if case .stored(_, blob: .existing) = again[0] {} else { Issue.record("expected a dedup hit, got \(again)") }
        let later = Array(proxy.requestLines.dropFirst(before))
        #expect(!later.contains { $0.hasPrefix("PUT ") }, "\(later)")
        #expect(later.contains { $0.hasPrefix("GET ") }, "\(later)")
    }

    /// The check inside a recording transaction asks the bucket only about blobs the
    /// collector removed lately: one it removed after their commit is found missing (the
    /// ingest then keeps the file and stores it again), the others cost no request.
    @Test(arguments: [CatalogBackend.sqliteFile, .postgres])
    func onlyABlobTheCollectorRemovedMeanwhileIsAskedForAgain(_ backend: CatalogBackend) throws {
        let server = try TestS3Server.shared()
        let dir = TemporaryDirectory()
        let (store, proxy) = try proxiedStore(server, in: dir)
        defer { proxy.stop() }
        let catalog = try makeCatalog(backend, in: dir)
        // Committed to the bucket, not yet recorded: the collector takes them for orphans.
        let gone = try store.stage(BlobSource(path: try dir.write("gone", noise(5000, seed: 61)), mayLink: false))
        _ = try store.commit([gone])
        let report = try GarbageCollector(catalog: catalog, store: store, grace: .zero).run(dryRun: false)
        #expect(report.removedBlobs == 1)
        let kept = try store.stage(BlobSource(path: try dir.write("kept", noise(5000, seed: 62)), mayLink: false))
        _ = try store.commit([kept])
        let before = proxy.requestLines.count
        try catalog.database.write { tx in try GarbageCollector.requirePresent([kept.digest], store: store, in: tx) }
        #expect(proxy.requestLines.count == before)
        let error = try #require(throws: BlobStoreError.self) {
            try catalog.database.write { tx in try GarbageCollector.requirePresent([kept.digest, gone.digest], store: store, in: tx) }
        }
        #expect(error.value == .missing && "\(error)".contains(gone.digest.hex), "\(error)")
        #expect(Array(proxy.requestLines.dropFirst(before)).map { $0.prefix(5) } == ["HEAD "])
    }

    /// PostgreSQL runs write transactions side by side: a recording transaction that began
    /// before a sweep removed its blob, and checks after the sweep committed, is run again
    /// (SERIALIZABLE) and then finds the blob gone; nothing is recorded.
    @Test func onPostgresARecordingThatOverlapsTheSweepRunsAgainAndFindsTheBlobGone() throws {
        let server = try TestS3Server.shared()
        let dir = TemporaryDirectory()
        let store = try server.store(in: dir)
        let catalog = try makeCatalog(.postgres, in: dir)
        let bytes = noise(5000, seed: 63)
        let blob = try store.stage(BlobSource(path: try dir.write("b", bytes), mayLink: false))
        _ = try store.commit([blob])
        let recorded = DispatchSemaphore(value: 0), swept = DispatchSemaphore(value: 0)
        let attempts = Atomic<Int>(0)
        let sweeper = Thread {
            recorded.wait()
            _ = try? GarbageCollector(catalog: catalog, store: store, grace: .zero).run(dryRun: false)
            swept.signal()
        }
        sweeper.start()
        let record = IngestRecord(collection: "docs", path: "b.txt", digest: blob.digest, size: Int64(bytes.count),
                                  sourceMtimeNanoseconds: 0, origin: "test", tags: [], mediaType: "text/plain")
        let error = try #require(throws: BlobStoreError.self) {
            try catalog.database.write { tx in
                // The first attempt takes its snapshot, then lets the sweep run and commit,
                // then writes its rows and checks. (Not the other way round here: the rows
                // append an event, whose lock the sweep's own event would wait for.)
                if attempts.wrappingAdd(1, ordering: .relaxed).oldValue == 0 {
                    _ = try catalog.version(id: 1, in: tx)
                    recorded.signal()
                    swept.wait()
                }
                _ = try catalog.record([record], in: tx)
                try GarbageCollector.requirePresent([blob.digest], store: store, in: tx)
            }
        }
        #expect(error.value == .missing)
        #expect(attempts.load(ordering: .relaxed) == 2)
        #expect(try !store.contains(blob.digest))
        #expect(try catalog.documents(collection: "docs").isEmpty)
    }

    @Test func aPartThatKeepsFailingAbortsTheUploadAndLosesNothing() throws {
        let server = try TestS3Server.shared()
        let dir = TemporaryDirectory()
        let proxy = try DroppingProxy(upstream: server.port) { line, _ in line.contains("partNumber=2&") }
        defer { proxy.stop() }
        var settings = try server.settings(endpoint: proxy.endpoint)
        settings.partSize = 5 << 20
        settings.retries = 1
        let store = try S3BlobStore(settings: settings, credentials: server.credentials, temp: dir.path + "/tmp")
        let source = try dir.write("big", noise(10 << 20 + 1, seed: 22))
        let staged = try store.stage(BlobSource(path: source, mayLink: false))
        let error = try #require(throws: S3Error.self) { _ = try store.commit([staged]) }
        #expect(error.code == "transport")
        #expect(error.description.contains("after 2 attempts"))
        #expect(proxy.droppedLines.count == 2)
        // Aborted: no parts left in the bucket, no blob, the source untouched.
        #expect(proxy.requestLines.contains { $0.hasPrefix("DELETE ") && $0.contains("uploadId=") })
        #expect(try store.multipartUploads().isEmpty)
        #expect(try !store.contains(staged.digest))
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: source))) == noise(10 << 20 + 1, seed: 22))
    }

    @Test func abandonedMultipartUploadsAreCleanedAsLeftovers() throws {
        let server = try TestS3Server.shared()
        let dir = TemporaryDirectory()
        var settings = try server.settings()
        settings.abandonedUploadAge = .seconds(3600)
        // A crash between parts: an upload begun, never completed nor aborted; and a staged
        // copy whose writer is gone.
        let crashed = try S3BlobStore(settings: settings, credentials: server.credentials, temp: dir.path + "/tmp")
        _ = try crashed.client.send(.init(method: "POST", key: crashed.key(of: SHA256Hasher.digest([7])), query: [("uploads", "")]))
        try dir.write("tmp/stage-99999999-abc", "dead writer")
        #expect(try crashed.multipartUploads().count == 1)
        // moto dates every upload 2010-11-10T20:48:33Z: older than the hour, so abandoned.
        #expect(try crashed.multipartUploads().first?.initiated == 1_289_422_113)
        #expect(try crashed.removeLeftovers() == 2)
        #expect(try crashed.multipartUploads().isEmpty)
        #expect(try listDirectory(dir.path + "/tmp").isEmpty)
        #expect(try crashed.removeLeftovers() == 0)
    }

    @Test func virtualHostAddressingPutsTheBucketInTheHostName() throws {
        let server = try TestS3Server.shared()
        let dir = TemporaryDirectory()
        var settings = try server.settings()
        // libcurl resolves *.localhost to the loopback address; moto reads the bucket from the
        // host name when it is not plain "localhost".
        settings.endpoint = "http://localhost:\(server.port)"
        settings.addressing = .virtualHost
        let store = try S3BlobStore(settings: settings, credentials: server.credentials, temp: dir.path + "/tmp")
        let bytes = noise(70_000, seed: 31)
        let staged = try store.stage(BlobSource(path: try dir.write("f", bytes), mayLink: false))
        #expect(try store.commit([staged]) == [.new])
        #expect(try store.open(staged.digest).read(at: 69_990, count: 100) == Array(bytes[69_990...]))
        #expect(try store.allDigests() == [staged.digest])
        // The same object, seen through path-style addressing on the plain endpoint.
        settings.endpoint = server.endpoint
        settings.addressing = .path
        let pathStyle = try S3BlobStore(settings: settings, credentials: server.credentials, temp: dir.path + "/tmp")
        #expect(try pathStyle.readAll(staged.digest) == bytes)
    }

    @Test func credentialsComeFromASharedCredentialsFile() throws {
        let dir = TemporaryDirectory()
        let file = try dir.write("credentials", """
            # awscli's format
            [default]
            aws_access_key_id = AKIADEFAULT
            aws_secret_access_key = default/secret

            [depot]
            aws_access_key_id=AKIADEPOT
            aws_secret_access_key = depot+secret
            """)
        #expect(try S3Credentials.load(path: file) == S3Credentials(accessKeyID: "AKIADEFAULT", secretAccessKey: "default/secret"))
        #expect(try S3Credentials.load(path: file, profile: "depot") == S3Credentials(accessKeyID: "AKIADEPOT", secretAccessKey: "depot+secret"))
        let missing = try #require(throws: S3Error.self) { _ = try S3Credentials.load(path: file, profile: "nobody") }
        #expect(missing.description.contains("[nobody]"))
        #expect(throws: S3Error.self) { _ = try S3Credentials.load(path: dir.path + "/absent") }
    }

    @Test func storeSettingsReadTheS3Table() throws {
        let config = try DepotConfig.parse(toml: """
            [store]
            backend = "s3"
            [store.s3]
            endpoint = "https://s3.eu-west-1.amazonaws.com"
            bucket = "depot-blobs"
            region = "eu-west-1"
            addressing = "virtual"
            credentials_file = "/etc/depot/s3-credentials"
            part_size = "64MiB"
            """, source: "test.toml", sections: [StoreSettings.self])
        let store = config[StoreSettings.self]
        let s3 = try #require(store.s3)
        #expect(s3.endpoint == "https://s3.eu-west-1.amazonaws.com")
        #expect(s3.addressing == .virtualHost)
        #expect(s3.region == "eu-west-1")
        #expect(s3.partSize == 64 << 20)
        #expect(throws: ConfigError.self) {
            _ = try DepotConfig.parse(toml: "[store]\nbackend = \"s3\"\n[store.s3]\nendpoint = \"http://x\"\n",
                                      source: "t.toml", sections: [StoreSettings.self])
        }
        #expect(throws: ConfigError.self) {
            _ = try DepotConfig.parse(toml: "[store]\nbackend = \"s3\"\n", source: "t.toml", sections: [StoreSettings.self])
        }
    }
}
