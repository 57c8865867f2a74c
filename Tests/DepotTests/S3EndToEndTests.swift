import DepotCore
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// A root whose blobs live in an S3 bucket (moto's server, started by the tests): ingest,
/// store, signed links, all through the bucket.
@Suite(.tags(.slow), .slowTest) struct S3EndToEndTests {
    @Test func aDroppedFileBecomesAnObjectAndDownloadsByRangeFromTheBucket() throws {
        let s3 = try TestS3Server.shared()
        let settings = try s3.settings()
        let dir = TemporaryDirectory()
        let credentials = try s3.writeCredentials(in: dir)
        let port = freePort()
        let root = try DemoRoot(extra: """
            [store]
            backend = "s3"
            [store.s3]
            endpoint = "\(settings.endpoint)"
            bucket = "\(settings.bucket)"
            region = "us-east-1"
            addressing = "path"
            credentials_file = "\(credentials)"
            prefix = "\(settings.prefix)"
            [http]
            port = \(port)
            """)
        let server = try root.serve()
        let bytes = noise(3 << 20 + 777, seed: 18)
        try root.drop("documents/reports/big.bin", bytes)
        #expect(waitUntil(seconds: 30) { (try? depot(["log", "--root", root.path, "documents/reports/big.bin"]).status) == 0 },
                "\(server.stderr)")

        // The bytes are an object in the bucket, named by their SHA-256, and not on local disk.
        let digest = SHA256Hasher.digest(bytes)
        let bucket = try S3BlobStore(settings: settings, credentials: s3.credentials, temp: dir.path + "/tmp")
        #expect(try bucket.allDigests().contains(digest))
        #expect(try bucket.readAll(digest) == bytes)
        #expect(try statIfExists(root.layout.blobs + "/sha256/\(digest.hex.prefix(2))/\(digest.hex.dropFirst(2).prefix(2))/\(digest.hex)") == nil)

        #expect(waitUntil(seconds: 10) { (try? curl(["http://127.0.0.1:\(port)/healthz"]).code) == 200 }, "\(server.stderr)")
        let link = try depot(["link", "--root", root.path, "documents/reports/big.bin", "--expires", "10m"])
        #expect(link.status == 0, "\(link.stderr)")
        let url = link.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var r = try curl([url])
        #expect(r.code == 200 && Array(r.body) == bytes)
        // Ranges across the streamer's 1 MiB chunks, and the last bytes; twice, so the second
        // request takes the path of a link seen a moment ago.
        for _ in 0..<2 {
            r = try curl(["-r", "1000000-2100000", url])
            #expect(r.code == 206 && Array(r.body) == Array(bytes[1_000_000...2_100_000]))
            r = try curl(["-r", "-100", url])
            #expect(r.code == 206 && Array(r.body) == Array(bytes.suffix(100)))
        }
        #expect(try curl(["http://127.0.0.1:\(port)/readyz"]).code == 200)
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }
}
