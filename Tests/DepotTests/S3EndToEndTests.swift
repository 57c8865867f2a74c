import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// A root whose blobs live in an S3 bucket (moto's server, started by the tests): ingest,
/// store, signed links, all through the bucket.
@Suite(.tags(.slow), .slowTest) struct S3EndToEndTests {
    /// A demo root whose blobs go to a new bucket of the test server (its credentials file in
    /// the root), and that bucket.
    func s3Root(port: Int, extra: String = "", server: TestS3Server? = nil) throws -> (root: DemoRoot, bucket: S3BlobStore, settings: S3Settings) {
        let s3 = try server ?? TestS3Server.shared()
        let settings = try s3.settings()
        let root = try DemoRoot()
        let credentials = root.path + "/s3-credentials"
        try Data("[default]\naws_access_key_id = \(s3.credentials.accessKeyID)\naws_secret_access_key = \(s3.credentials.secretAccessKey)\n".utf8)
            .write(to: URL(fileURLWithPath: credentials))
        try root.setConfig(quietPeriod: "200ms", rescanInterval: "2s", extra: """
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
            \(extra)
            """)
        let bucket = try S3BlobStore(settings: settings, credentials: s3.credentials, temp: root.path + "/bucket-tmp")
        return (root, bucket, settings)
    }

    /// `curl -s -D -` of a URL without following redirects: the status and the headers (names lower-cased).
    func headers(_ url: String, _ extra: [String] = []) throws -> (code: Int, headers: [String: String]) {
        let r = try curl(["-D", "-", "-o", "/dev/null"] + extra + [url])
        var fields: [String: String] = [:]
        for line in String(decoding: r.body, as: UTF8.self).split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (r.code, fields)
    }

    /// `downloads = "redirect"`: a checked link answers 307 to a short-lived presigned URL of
    /// the object, which gives the bytes (ranges too) and asks for depot's file name and type;
    /// links bound to an address, HEAD and other collections are still answered by depot; a
    /// revoked link redirects nowhere. (On moto's server without signature checks: it answers
    /// presigned URLs only so, see S3BlobStoreTests.)
    @Test func aCollectionThatAsksForItIsRedirectedToThePresignedObject() throws {
        let port = freePort()
        let (root, _, settings) = try s3Root(port: port, extra: "[collections.media]\ndownloads = \"redirect\"\n",
                                             server: try TestS3Server.unchecked())
        let server = try root.serve()
        let bytes = noise(2 << 20 + 333, seed: 19)
        try root.drop("media/lecture one.bin", bytes)
        try root.drop("documents/notes.bin", Array(bytes.prefix(5000)))
        for path in ["media/lecture one.bin", "documents/notes.bin"] {
            #expect(waitUntil(seconds: 30) { (try? depot(["log", "--root", root.path, path]).status) == 0 }, "\(server.stderr)")
        }
        #expect(waitUntil(seconds: 10) { (try? curl(["http://127.0.0.1:\(port)/healthz"]).code) == 200 }, "\(server.stderr)")
        func link(_ arguments: [String]) throws -> String {
            let r = try depot(["link", "--root", root.path] + arguments)
            #expect(r.status == 0, "\(r.stderr)")
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let url = try link(["media/lecture one.bin", "--expires", "10m"])
        let redirect = try headers(url)
        #expect(redirect.code == 307, "\(redirect)")
        let location = try #require(redirect.headers["location"])
        #expect(location.hasPrefix(settings.endpoint + "/" + settings.bucket + "/" + settings.prefix + "sha256/"))
        #expect(location.contains("X-Amz-Signature=") && location.contains("X-Amz-Expires=300"), "\(location)")
        #expect(redirect.headers["cache-control"] == "no-store")
        #expect(location.contains("response-content-disposition=") && location.contains("lecture%20one.bin"), "\(location)")
        // Followed: the bytes from the bucket.
        var r = try curl(["-L", url])
        #expect(r.code == 200 && Array(r.body) == bytes)
        r = try curl(["-L", "-r", "1000000-1000999", url])
        #expect(r.code == 206 && Array(r.body) == Array(bytes[1_000_000...1_000_999]))
        // HEAD is answered by depot.
        let head = try headers(url, ["-I"])
        #expect(head.code == 200 && head.headers["content-length"] == String(bytes.count), "\(head)")
        // A link bound to an address is streamed: a presigned URL would work from anywhere.
        r = try curl([try link(["media/lecture one.bin", "--ip", "127.0.0.1"])])
        #expect(r.code == 200 && Array(r.body) == bytes)
        // Another collection streams.
        r = try curl([try link(["documents/notes.bin"])])
        #expect(r.code == 200 && Array(r.body) == Array(bytes.prefix(5000)))
        // Revoked: no redirect.
        let json = try parseJSON(try depot(["link", "--root", root.path, "media/lecture one.bin", "--json"]).stdout) as? [String: Any]
        let revocable = try #require(json?["url"] as? String)
        #expect(try headers(revocable).code == 307)
        #expect(try depot(["link", "revoke", "--root", root.path, try #require(json?["id"] as? String)]).status == 0)
        #expect(waitUntil(seconds: 5) { (try? headers(revocable).code) == 403 })
        let metrics = String(decoding: try curl(["http://127.0.0.1:\(port)/metrics"]).body, as: UTF8.self)
        #expect(metrics.contains("depot_downloads_total{status=\"307\"}"), "\(metrics)")
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    /// Retention on a bucket: the collector lists the bucket by prefix, waits out the grace
    /// period and deletes the objects no version needs; `depot verify` checks what is left.
    @Test func theCollectorDeletesUnneededObjectsFromTheBucketAfterTheGracePeriod() throws {
        let (root, bucket, _) = try s3Root(port: freePort())
        let dir = TemporaryDirectory()
        let a = noise(30_000, seed: 41), b = noise(20_000, seed: 42)
        #expect(try depot(["ingest", "--root", root.path, "--collection", "docs", try dir.write("a.txt", a), try dir.write("b.txt", b)]).status == 0)
        #expect(try Set(bucket.allDigests()) == [SHA256Hasher.digest(a), SHA256Hasher.digest(b)])
        #expect(try depot(["rm", "--root", root.path, "docs/a.txt"]).status == 0)
        #expect(try depot(["trash", "empty", "--root", root.path]).status == 0)
        var r = try depot(["gc", "--root", root.path])
        #expect(r.status == 0 && r.stdout.contains("removed 0 blobs") && r.stdout.contains("1 wait out the grace period"), "\(r.output)")
        #expect(try bucket.allDigests().contains(SHA256Hasher.digest(a)))
        r = try depot(["gc", "--root", root.path, "--grace", "0s", "--json"])
        let report = try #require(try parseJSON(r.stdout) as? [String: Any], "\(r.output)")
        #expect(report["removed_blobs"] as? Int == 1 && report["removed_bytes"] as? Int == 30_000, "\(report)")
        #expect(try bucket.allDigests() == [SHA256Hasher.digest(b)])
        #expect(try depot(["verify", "--root", root.path]).status == 0)
    }

    /// The daemon's scrub over a bucket: two damaged objects, one put right from the second
    /// copy (a local folder), the other reported and no longer linked.
    @Test func theScrubFindsDamagedObjectsAndHealsFromASecondCopy() throws {
        let copy = TemporaryDirectory()
        let port = freePort()
        let dir = TemporaryDirectory()
        let (root, bucket, _) = try s3Root(port: port, extra: "[scrub]\nperiod = \"1s\"\ninterval = \"1s\"\nsecond_copy = \"\(copy.path)\"\n")
        let healable = noise(40_000, seed: 43), lost = noise(40_000, seed: 44)
        let a = SHA256Hasher.digest(healable), b = SHA256Hasher.digest(lost)
        _ = try copy.write("sha256/" + a.hex.prefix(2) + "/" + a.hex.dropFirst(2).prefix(2) + "/" + a.hex, healable)
        #expect(try depot(["ingest", "--root", root.path, "--collection", "notes", try dir.write("a.bin", healable),
                           try dir.write("b.bin", lost)]).status == 0)
        for (digest, bytes) in [(a, healable), (b, lost)] {
            var damaged = bytes
            damaged[1000] ^= 0x01
            try bucket.putObject(key: bucket.key(of: digest), bytes: damaged)
        }
        let server = try root.serve()
        #expect(waitUntil(seconds: 30) {
            let events = (try? depot(["events", "--root", root.path]).stdout) ?? ""
            return events.contains("blob.healed") && events.contains("blob.damaged")
        }, "\(server.stderr)")
        #expect(try bucket.readAll(a) == healable)
        #expect(try bucket.readAll(b) != lost)
        let stats = try parseJSON(try depot(["stats", "--root", root.path, "--json"]).stdout) as? [String: Any]
        #expect(stats?["damaged_blobs"] as? Int == 1)
        #expect(try depot(["link", "--root", root.path, "notes/b.bin"]).status != 0)
        #expect(try depot(["link", "--root", root.path, "notes/a.bin"]).status == 0)
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }

    @Test func aDroppedFileBecomesAnObjectAndDownloadsByRangeFromTheBucket() throws {
        let port = freePort()
        let (root, bucket, _) = try s3Root(port: port)
        let server = try root.serve()
        let bytes = noise(3 << 20 + 777, seed: 18)
        try root.drop("documents/reports/big.bin", bytes)
        #expect(waitUntil(seconds: 30) { (try? depot(["log", "--root", root.path, "documents/reports/big.bin"]).status) == 0 },
                "\(server.stderr)")

        // The bytes are an object in the bucket, named by their SHA-256, and not on local disk.
        let digest = SHA256Hasher.digest(bytes)
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
