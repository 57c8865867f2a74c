@testable import DepotHTTP
import DepotCore
import DepotQueue
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import DepotTestSupport
import Testing

/// A depot root in a temp folder with one stored file, and the server's environment over it.
final class Fixture: @unchecked Sendable {
    let root: String
    let layout: RootLayout
    let store: LocalBlobStore
    let queue: JobQueue
    var catalog: Catalog { queue.catalog }
    let signer: LinkSigner
    let state: LinkStore
    let bytes: [UInt8]
    var version: VersionInfo!

    init(http: (inout HTTPSettings) -> Void = { _ in }, size: Int = 100_000) throws {
        root = NSTemporaryDirectory() + "depot-http-\(UUID().uuidString)"
        layout = RootLayout(root: root)
        try makeDirectories(layout.state)
        try makeDirectories(layout.inbox)
        store = try LocalBlobStore(layout: layout)
        queue = try Self.openQueue(layout)
        try LinkKeys.createFile(at: LinkKeys.defaultPath(layout: layout))
        signer = LinkSigner(keys: try LinkKeys.load(path: LinkKeys.defaultPath(layout: layout)))
        state = LinkStore(catalog: queue.catalog)
        var s = HTTPSettings()
        s.port = 0
        http(&s)
        settings = s
        var generator = SystemRandomNumberGenerator()
        bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var i = 0
            while i < size {
                withUnsafeBytes(of: generator.next() as UInt64) { word in
                    for b in word where i < size { buffer[i] = b; i += 1 }
                }
            }
            count = size
        }
        version = try add("lectures/physics/Übung 1.pdf", bytes)
    }

    var settings: HTTPSettings

    /// The processors this test depot has: extract for everything, thumbnail for PDF.
    static let chooser: ProcessorChooser = { kind, mediaType in
        kind == "extract" ? "test-extract" : (kind == "thumbnail" && mediaType == "application/pdf" ? "test-thumbnail" : nil)
    }

    /// A connection of its own to the root's catalog, with the queue's pipeline attached.
    static func openQueue(_ layout: RootLayout) throws -> JobQueue {
        let database = try SQLiteDatabase(path: layout.catalog)
        try database.migrate(Catalog.migrations + JobQueue.migrations)
        let queue = JobQueue(catalog: Catalog(database: database), settings: JobsSettings())
        queue.attachPipeline(chooser: chooser)
        return queue
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Stores `bytes` as collection/path through the real store and catalog.
    func add(_ documentPath: String, _ bytes: [UInt8]) throws -> VersionInfo {
        let source = root + "/source-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: source))
        let staged = try store.stage(BlobSource(path: source, mayLink: false))
        _ = try store.commit([staged])
        let parts = documentPath.split(separator: "/", maxSplits: 1).map(String.init)
        let outcome = try catalog.record([IngestRecord(collection: parts[0], path: parts[1], digest: staged.digest,
                                                       size: staged.size, sourceMtimeNanoseconds: 0, origin: "inbox",
                                                       tags: ["physics"], mediaType: documentPath.hasSuffix(".pdf") ? "application/pdf" : "application/octet-stream")])
        return outcome[0].version
    }

    /// Collection settings as depot serve has them: [inbox] defaults, the link lifetime of [http].
    var collections: CollectionSettingsResolver {
        CollectionSettingsResolver(defaults: CollectionSettings(mode: .consume, quietPeriod: .seconds(2), ignore: [],
                                                                maxLinkLifetime: settings.maxLinkLifetime),
                                   inbox: layout.inbox)
    }

    func environment(metrics: ServerMetrics = ServerMetrics()) -> HTTPServerEnvironment {
        HTTPServerEnvironment(settings: settings, collections: collections, queue: queue, store: store, signer: signer,
                              chooseProcessor: Self.chooser, metrics: metrics, uploads: uploads)
    }

    /// Uploads into this root, through the real ingest (PDFs told by their magic number).
    var uploads: Uploads {
        try! makeDirectories(layout.inbox + "/lectures")
        return Uploads(database: queue.catalog.database, partials: try! PartialUploads(layout: layout),
                       ingestor: Ingestor(store: store, catalog: queue.catalog, detectType: Self.detect), signer: signer,
                       settings: settings, collections: collections, detectType: Self.detect)
    }

    static let detect: MediaTypeDetector = { bytes, _ in
        (try? bytes.read(at: 0, count: 5)) == Array("%PDF-".utf8) ? "application/pdf" : "application/octet-stream"
    }

    func link(_ target: LinkTarget? = nil, lifetime: Duration = .seconds(3600), ip: String? = nil) throws -> String {
        try state.mintLink(target: target ?? .version(version.id), signer: signer, lifetime: lifetime,
                           maxLifetime: .seconds(7 * 86400), clientIP: ip, createdBy: "test").link.pathAndQuery
    }

    func application(metrics: ServerMetrics = ServerMetrics()) -> some ApplicationProtocol {
        makeApplication(environment: environment(metrics: metrics))
    }
}

extension TestResponse {
    var bytes: [UInt8] { Array(body.readableBytesView) }
    func json() throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as! [String: Any] }
}

func header(_ name: String) -> HTTPField.Name { HTTPField.Name(name)! }

@Suite(.tags(.slow), .slowTest) struct DownloadTests {
    @Test func signedLinkDownloadsTheBytesWithItsHeaders() async throws {
        let f = try Fixture()
        let minted = monotonicNanoseconds()
        let url = try f.link()
        try await f.application().test(.live) { client in
            let r = try await client.execute(uri: url, method: .get)
            let elapsed = Int((monotonicNanoseconds() - minted) / 1_000_000_000) + 1
            #expect(r.status == .ok)
            #expect(r.bytes == f.bytes)
            #expect(r.headers[.eTag] == "\"\(f.version.digest.hex)\"")
            #expect(r.headers[.acceptRanges] == "bytes")
            #expect(r.headers[.contentType] == "application/pdf")
            #expect(r.headers[.contentDisposition] == "attachment; filename=\"_bung 1.pdf\"; filename*=UTF-8''%C3%9Cbung%201.pdf")
            #expect(r.headers[.lastModified]?.hasSuffix(" GMT") == true)
            let maxAge = Int(r.headers[.cacheControl]!.split(separator: "=").last!)!
            // The link's remaining life: an hour less the time since it was minted.
            #expect(maxAge >= 3600 - elapsed && maxAge <= 3600, "max-age \(maxAge) after \(elapsed) s")
            let head = try await client.execute(uri: url, method: .head)
            #expect(head.status == .ok && head.headers[.contentLength] == String(f.bytes.count) && head.body.readableBytes == 0)
        }
    }

    @Test func rangesConditionalsAnd416() async throws {
        let f = try Fixture()
        let url = try f.link()
        let size = f.bytes.count
        let etag = "\"\(f.version.digest.hex)\""
        try await f.application().test(.live) { client in
            var r = try await client.execute(uri: url, method: .get, headers: [.range: "bytes=-10"])
            #expect(r.status == .partialContent)
            #expect(r.bytes == Array(f.bytes[(size - 10)...]))
            #expect(r.headers[.contentRange] == "bytes \(size - 10)-\(size - 1)/\(size)")
            r = try await client.execute(uri: url, method: .get, headers: [.range: "bytes=100-"])
            #expect(r.status == .partialContent && r.bytes == Array(f.bytes[100...]))
            r = try await client.execute(uri: url, method: .get, headers: [.range: "bytes=\(size)-"])
            #expect(r.status == .rangeNotSatisfiable)
            #expect(r.headers[.contentRange] == "bytes */\(size)")
            #expect(try r.json()["code"] as? String == "range_not_satisfiable")
            r = try await client.execute(uri: url, method: .get, headers: [.range: "bytes=0-0,-1"])
            #expect(r.status == .ok && r.bytes.count == size)
            r = try await client.execute(uri: url, method: .get, headers: [.ifNoneMatch: etag])
            #expect(r.status == .notModified && r.body.readableBytes == 0)
            r = try await client.execute(uri: url, method: .get, headers: [.range: "bytes=0-9", .ifRange: etag])
            #expect(r.status == .partialContent && r.bytes == Array(f.bytes[0..<10]))
            r = try await client.execute(uri: url, method: .get, headers: [.range: "bytes=0-9", .ifRange: "\"other\""])
            #expect(r.status == .ok && r.bytes.count == size)
        }
    }

    @Test func badTamperedExpiredAndRevokedLinksGetOneAnswerThen429() async throws {
        let f = try Fixture { $0.badLinkLimit = 5 }
        let good = try f.link()
        let expired = try f.state.mintLink(target: .version(f.version.id), signer: f.signer, lifetime: .seconds(60),
                                           maxLifetime: .seconds(3600), clientIP: nil, createdBy: "t",
                                           now: Int64(Date().timeIntervalSince1970) - 3600).link.pathAndQuery
        let revokedLink = try f.state.mintLink(target: .version(f.version.id), signer: f.signer, lifetime: .seconds(60),
                                               maxLifetime: .seconds(3600), clientIP: nil, createdBy: "t")
        #expect(try f.state.revokeLink(id: revokedLink.record.id))
        let tampered = good.replacingOccurrences(of: "/d/v/\(f.version.id)/", with: "/d/v/\(f.version.id + 1)/")
        let otherIP = try f.link(ip: "10.9.9.9")
        try await f.application().test(.live) { client in
            var bodies: Set<String> = []
            for url in [tampered, expired, revokedLink.link.pathAndQuery, otherIP, "/d/v/1/x.pdf"] {
                let r = try await client.execute(uri: url, method: .get)
                #expect(r.status == .forbidden, "\(url)")
                let json = try r.json()
                bodies.insert("\(json["code"] ?? "") \(json["message"] ?? "") \(json.count) \(r.headers.count)")
            }
            #expect(bodies.count == 1, "\(bodies)")
            // The limit is reached: even the good link is refused until the window passes.
            let r = try await client.execute(uri: good, method: .get)
            #expect(r.status == .tooManyRequests)
            #expect(r.headers[.retryAfter] != nil)
        }
    }

    @Test func aLinkRevokedElsewhereStopsWorkingWithinASecond() async throws {
        // The server remembers a resolved link for a second; `depot link revoke` runs in
        // another process, with its own connection to the catalog.
        let f = try Fixture()
        let minted = try f.state.mintLink(target: .version(f.version.id), signer: f.signer, lifetime: .seconds(600),
                                          maxLifetime: .seconds(3600), clientIP: nil, createdBy: "t")
        let viaAPI = try f.state.mintLink(target: .version(f.version.id), signer: f.signer, lifetime: .seconds(600),
                                          maxLifetime: .seconds(3600), clientIP: nil, createdBy: "t")
        try await f.application().test(.live) { client in
            for url in [minted.link.pathAndQuery, viaAPI.link.pathAndQuery] {
                #expect(try await client.execute(uri: url, method: .get).bytes == f.bytes)
                #expect(try await client.execute(uri: url, method: .head).status == .ok)
            }
            // Revoked through this server's API: refused at once, although it was just resolved.
            let admin = try f.state.createToken(scope: .admin, name: "ops").token
            let revoked = try await client.execute(uri: "/api/v1/links/\(viaAPI.record.id)", method: .delete,
                                                   headers: [.authorization: "Bearer \(admin)"])
            #expect(revoked.status == .noContent)
            #expect(try await client.execute(uri: viaAPI.link.pathAndQuery, method: .head).status == .forbidden)
            // Revoked by another connection: refused once the remembered answer is a second old.
            let other = LinkStore(catalog: try Fixture.openQueue(f.layout).catalog)
            #expect(try other.revokeLink(id: minted.record.id))
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await client.execute(uri: minted.link.pathAndQuery, method: .head).status == .forbidden)
        }
    }

    @Test func aRememberedLinkIsCheckedAgainForItsAddressAndSignature() async throws {
        // A link verified in the last second skips the HMAC, but only for the very same
        // signature, and its bound address is compared on every request.
        let f = try Fixture()
        let url = try f.link(ip: "127.0.0.1")
        let forged = String(url.dropLast()) + (url.hasSuffix("A") ? "B" : "A")
        try await f.application().test(.live) { client in
            #expect(try await client.execute(uri: url, method: .get).bytes == f.bytes)
            let port = try #require(client.port)
            // curl is waited for off the task pool, which the server under test needs.
            func fetch(from source: String, _ path: String) async -> String {
                await offPool {
                    let curl = Process()
                    curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                    curl.arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--interface", source, "http://127.0.0.1:\(port)\(path)"]
                    let out = Pipe()
                    curl.standardOutput = out
                    guard (try? curl.run()) != nil else { return "curl did not start" }
                    let code = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    curl.waitUntilExit()
                    return code
                }
            }
            #expect(await fetch(from: "127.0.0.2", url) == "403")
            #expect(await fetch(from: "127.0.0.1", forged) == "403")
            #expect(await fetch(from: "127.0.0.1", url) == "200")
        }
    }

    @Test func downloadRateLimitIsPerClient() async throws {
        let f = try Fixture { $0.downloadRate = 1; $0.downloadBurst = 2 }
        let url = try f.link()
        try await f.application().test(.live) { client in
            // Burst 2 at 1/s: of twelve requests sent at once, no more pass than the burst plus
            // what refilled while they ran (a loaded machine may take seconds), the rest are 429.
            let clock = ContinuousClock()
            let start = clock.now
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<12 { group.addTask { Int(try await client.execute(uri: url, method: .head).status.code) } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            let elapsed = (clock.now - start) / .seconds(1)
            let passed = statuses.filter { $0 == 200 }.count
            #expect(Set(statuses).isSubset(of: [200, 429]), "\(statuses)")
            #expect(passed >= 2, "\(statuses)")
            #expect(passed <= 2 + Int(elapsed.rounded(.up)), "\(statuses) in \(elapsed) s")
        }
    }

    @Test func aBlobShorterThanTheCatalogSaysIsA500BeforeAnyByte() async throws {
        let f = try Fixture()
        let url = try f.link()
        #expect(truncate(f.store.localPath(of: f.version.digest)!, off_t(f.bytes.count - 1)) == 0)
        try await f.application().test(.live) { client in
            let r = try await client.execute(uri: url, method: .get)
            #expect(r.status == .internalServerError)
            #expect(r.headers[.contentLength] != String(f.bytes.count))
        }
    }

    @Test func manyDownloadsOnOneConnectionKeepTheirBytesInOrder() async throws {
        // Each body goes out as a file region swapped in for a marker: interleaved full and
        // partial responses on one kept-alive connection must each carry their own bytes.
        let f = try Fixture(size: 300_000)
        let url = try f.link()
        try await f.application().test(.live) { client in
            for i in 0..<20 {
                let first = i * 7919
                let r = try await client.execute(uri: url, method: .get, headers: i % 2 == 0 ? [:] : [.range: "bytes=\(first)-\(first + 999)"])
                #expect(r.bytes == (i % 2 == 0 ? f.bytes : Array(f.bytes[first...(first + 999)])), "request \(i)")
            }
        }
    }

    @Test func rangesPastFourGiBAreServedFromASparseBlob() async throws {
        let f = try Fixture()
        // A 5 GiB sparse file under a made-up digest: the serving path never re-hashes, so this
        // pins the Int64 offsets without hashing 5 GiB.
        let digest = Digest(hex: String(repeating: "ab", count: 32))!
        let size: Int64 = 5 << 30
        let path = f.store.localPath(of: digest)!
        try makeDirectories(directoryName(path))
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        let tail = Array("end-of-a-5GiB-file".utf8)
        _ = tail.withUnsafeBytes { pwrite(fd, $0.baseAddress, tail.count, off_t(size) - off_t(tail.count)) }
        close(fd)
        let v = try f.catalog.record([IngestRecord(collection: "big", path: "huge.bin", digest: digest, size: size,
                                                   sourceMtimeNanoseconds: 0, origin: "inbox", tags: [])])[0].version
        let url = try f.link(.version(v.id))
        try await f.application().test(.live) { client in
            var r = try await client.execute(uri: url, method: .get, headers: [.range: "bytes=-\(tail.count)"])
            #expect(r.status == .partialContent && r.bytes == tail)
            #expect(r.headers[.contentRange] == "bytes \(size - Int64(tail.count))-\(size - 1)/\(size)")
            r = try await client.execute(uri: url, method: .head)
            #expect(r.headers[.contentLength] == String(size))
        }
    }
}

/// The copy path, for connections that have no FileRegionHandler.
struct FileStreamerTests {
    struct Collector: ResponseBodyWriter {
        var bytes: [UInt8] = []
        mutating func write(_ buffer: ByteBuffer) async throws { bytes += buffer.readableBytesView }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    @Test func streamsARangeAcrossChunkBoundaries() async throws {
        let f = try Fixture(size: 10_000)
        let file = try OpenFile(path: try #require(f.store.localPath(of: f.version.digest)))
        #expect(file.size == 10_000)
        var collector = Collector()
        var writer: any ResponseBodyWriter = collector
        try await FileStreamer(chunkSize: 4096).stream(file, first: 100, last: 9_000, into: &writer)
        collector = writer as! Collector
        #expect(collector.bytes == Array(f.bytes[100...9_000]))
    }
}
