import DepotCore
import DepotTestSupport
import Foundation
import Testing

/// One HTTP request through curl: the status, the response's headers (names lowercased; the
/// last response's, after any 100 Continue) and the body.
struct HTTPAnswer {
    var code: Int
    var headers: [String: String]
    var body: String
}

func http(_ method: String, _ url: String, headers: [String: String] = [:], body: [UInt8]? = nil,
          bodyFile: String? = nil) throws -> HTTPAnswer {
    let dir = NSTemporaryDirectory() + "depot-http-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var args = ["-s", "-o", dir + "/body", "-D", dir + "/headers", "-w", "%{http_code}"]
    args += method == "HEAD" ? ["-I"] : ["-X", method]
    for (name, value) in headers { args += ["-H", "\(name): \(value)"] }
    if let body {
        try Data(body).write(to: URL(fileURLWithPath: dir + "/in"))
        args += ["--data-binary", "@" + dir + "/in"]
    } else if let bodyFile {
        args += ["--data-binary", "@" + bodyFile]
    }
    let r = try runBlocking("/usr/bin/curl", args + [url])
    var fields: [String: String] = [:]
    let raw = (try? String(contentsOfFile: dir + "/headers", encoding: .utf8)) ?? ""
    // After a 100 Continue comes the real head: keep the last block.
    let last = raw.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }.last ?? ""
    for line in last.components(separatedBy: "\r\n").dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let text = (try? String(contentsOfFile: dir + "/body", encoding: .utf8)) ?? ""
    return HTTPAnswer(code: Int(r.stdout) ?? 0, headers: fields, body: text)
}

/// A root with the HTTP server on a free port, and helpers to make upload links and talk tus.
final class UploadRoot {
    let port = freePort()
    let root: DemoRoot
    var server: Server!
    var base: String { "http://127.0.0.1:\(port)" }

    init(extra: String = "", at folder: String? = nil) throws {
        root = try DemoRoot(extra: "[http]\nport = \(port)\nclock_skew = \"1s\"\n" + extra, at: folder)
        try start()
    }

    func start() throws {
        server = try root.serve()
        guard waitUntil(seconds: 20, { (try? curl([base + "/healthz"]).code) == 200 }) else {
            throw TestFailure("depot serve did not come up: \(server.stderr)")
        }
    }

    /// `depot link upload ARGS --json`.
    func uploadLink(_ arguments: [String]) throws -> (url: String, id: String) {
        let r = try depot(["link", "upload", "--root", root.path, "--json"] + arguments)
        guard r.status == 0, let view = try parseJSON(r.stdout) as? [String: Any], let url = view["url"] as? String,
              let id = view["id"] as? String else { throw TestFailure("depot link upload failed: \(r.output)") }
        return (url, id)
    }

    /// Creates a tus upload under an upload link; returns the answer (Location in its headers).
    func create(_ link: String, name: String, length: Int, type: String? = nil) throws -> HTTPAnswer {
        let path = String(link.dropFirst(base.count))
        let mark = path.firstIndex(of: "?")!
        var meta = "filename " + Data(name.utf8).base64EncodedString()
        if let type { meta += ",filetype " + Data(type.utf8).base64EncodedString() }
        return try http("POST", base + path[..<mark] + "/files" + path[mark...],
                        headers: ["Tus-Resumable": "1.0.0", "Upload-Length": "\(length)", "Upload-Metadata": meta])
    }

    func patch(_ location: String, offset: Int, _ bytes: [UInt8], checksum: String? = nil,
               extra: [String: String] = [:]) throws -> HTTPAnswer {
        var headers = ["Tus-Resumable": "1.0.0", "Upload-Offset": "\(offset)", "Content-Type": "application/offset+octet-stream"]
        if let checksum { headers["Upload-Checksum"] = checksum }
        for (k, v) in extra { headers[k] = v }
        return try http("PATCH", base + location, headers: headers, body: bytes)
    }

    func head(_ location: String, extra: [String: String] = [:]) throws -> HTTPAnswer {
        try http("HEAD", base + location, headers: ["Tus-Resumable": "1.0.0"].merging(extra) { $1 })
    }

    /// `depot log --json` of a document: its versions.
    func versions(_ documentPath: String) throws -> [[String: Any]] {
        let r = try depot(["log", "--root", root.path, "--json", documentPath])
        guard r.status == 0 else { return [] }
        return (try parseJSON(r.stdout) as? [[String: Any]]) ?? []
    }

    func adminToken() throws -> String {
        try depot(["token", "create", "--root", root.path, "--scope", "admin"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The files uploads in progress keep in the store.
    var partialFiles: [String] { (try? FileManager.default.contentsOfDirectory(atPath: root.layout.storeTemp + "/uploads")) ?? [] }
}

func sha256Base64(_ bytes: [UInt8]) -> String {
    let hex = sha256(bytes)
    var raw: [UInt8] = []
    var i = hex.startIndex
    while i < hex.endIndex {
        let j = hex.index(i, offsetBy: 2)
        raw.append(UInt8(hex[i..<j], radix: 16)!)
        i = j
    }
    return Data(raw).base64EncodedString()
}

@Suite(.tags(.slow), .slowTest) struct UploadTests {
    /// An upload link takes a tus upload in pieces (each checked against its checksum) and
    /// stores it as a version through the same ingest as a dropped file.
    @Test func anUploadLinkTakesATusUploadInPiecesAndStoresItAsAVersion() throws {
        let u = try UploadRoot()
        let (url, linkID) = try u.uploadLink(["documents/hand-ins", "--max-size", "1M", "--expires", "1h"])
        #expect(url.hasPrefix(u.base + "/u/\(linkID)?"))
        let bytes = noise(700_000, seed: 11)
        let created = try u.create(url, name: "week 1 — notes.bin", length: bytes.count)
        #expect(created.code == 201, "\(created)")
        #expect(created.headers["tus-resumable"] == "1.0.0" && created.headers["upload-expires"] != nil)
        let location = try #require(created.headers["location"])
        #expect(location.hasPrefix("/u/\(linkID)/files/up_") && location.contains("sig="))

        var r = try u.patch(location, offset: 0, Array(bytes[0..<300_000]))
        #expect(r.code == 204 && r.headers["upload-offset"] == "300000", "\(r)")
        #expect(try u.head(location).headers["upload-offset"] == "300000")
        // A wrong offset is refused and says where to resume.
        r = try u.patch(location, offset: 100, Array(bytes[300_000...]))
        #expect(r.code == 409 && r.headers["upload-offset"] == "300000", "\(r)")
        // A piece that does not match its checksum is cut off again.
        let rest = Array(bytes[300_000...])
        r = try u.patch(location, offset: 300_000, rest, checksum: "sha256 " + sha256Base64(Array(rest.dropLast())))
        #expect(r.code == 460, "\(r)")
        #expect(try u.head(location).headers["upload-offset"] == "300000")
        #expect(try u.patch(location, offset: 300_000, rest, checksum: "md5 AAAA").code == 400)
        // No Tus-Resumable: 412.
        #expect(try http("HEAD", u.base + location).code == 412)

        r = try u.patch(location, offset: 300_000, rest, checksum: "sha256 " + sha256Base64(rest))
        #expect(r.code == 204 && r.headers["upload-offset"] == "700000" && r.headers["depot-version"] == "1", "\(r)")
        let versions = try u.versions("documents/hand-ins/week 1 — notes.bin")
        #expect(versions.count == 1 && versions.first?["sha256"] as? String == sha256(bytes) && versions.first?["origin"] as? String == "upload",
                "\(versions)")
        #expect(u.partialFiles.isEmpty)
        #expect(try depot(["verify", "--root", u.root.path]).status == 0)
        // Done: HEAD says complete; more bytes are refused.
        #expect(try u.head(location).headers["upload-offset"] == "700000")
        #expect(try u.patch(location, offset: 700_000, [1]).code == 409)

        // The page opens from the link; a tampered link gets 403 and nothing else.
        let page = try http("GET", url)
        #expect(page.code == 200 && page.body.contains("documents/hand-ins") && page.headers["referrer-policy"] == "no-referrer")
        #expect(try http("GET", String(url.dropLast()) + (url.hasSuffix("A") ? "B" : "A")).code == 403)
        // A download link's signature never opens an upload page.
        let token = try u.adminToken()
        let listed = try http("GET", u.base + "/api/v1/upload-links", headers: ["Authorization": "Bearer \(token)"])
        #expect(listed.code == 200 && listed.body.contains("\"files\":1"), "\(listed)")
        // The upload remembers the link it came through and the version it became.
        let uploads = try http("GET", u.base + "/api/v1/uploads?link_id=\(linkID)", headers: ["Authorization": "Bearer \(token)"])
        let items = (try parseJSON(uploads.body) as? [String: Any])?["items"] as? [[String: Any]] ?? []
        #expect(items.count == 1 && items.first?["state"] as? String == "stored" && items.first?["version_id"] as? Int == 1
                && items.first?["link_id"] as? String == linkID, "\(uploads)")

        // Termination: the upload ends and its bytes go.
        let other = try u.create(url, name: "second.bin", length: 1000)
        let second = try #require(other.headers["location"])
        #expect(try u.patch(second, offset: 0, Array(bytes[0..<400])).code == 204)
        #expect(u.partialFiles.count == 1)
        #expect(try http("DELETE", u.base + second, headers: ["Tus-Resumable": "1.0.0"]).code == 204)
        #expect(u.partialFiles.isEmpty)
        #expect(try u.head(second).code == 404)
        #expect(try u.patch(second, offset: 400, Array(bytes[400..<1000])).code == 410)
        #expect(try u.versions("documents/hand-ins/second.bin").isEmpty)
        // /metrics counts uploads by how they ended, and their ingests as any other.
        let metrics = try http("GET", u.base + "/metrics").body
        #expect(metrics.contains("depot_uploads_total{outcome=\"stored\"} 1") && metrics.contains("depot_uploads_total{outcome=\"terminated\"} 1")
                && metrics.contains("depot_upload_bytes_total 700000")
                && metrics.contains("depot_ingests_total{collection=\"documents\",outcome=\"created\"} 1"), "\(metrics)")
    }

    /// A tus client in a page of a site `http.upload_origins` names may use upload links (CORS
    /// preflight, the tus headers readable, errors too); other origins, and the API, get no
    /// CORS headers.
    @Test func uploadLinksAnswerCORSForTheOriginsConfigured() throws {
        let u = try UploadRoot(extra: "upload_origins = [\"https://school.example\"]\n")
        let (url, _) = try u.uploadLink(["documents"])
        let files = u.base + String(url.dropFirst(u.base.count)).replacingOccurrences(of: "?", with: "/files?")
        let school = ["Origin": "https://school.example"]
        var r = try http("OPTIONS", files, headers: school.merging(["Access-Control-Request-Method": "POST",
                                                                     "Access-Control-Request-Headers": "tus-resumable,upload-length,upload-metadata"]) { $1 })
        #expect(r.code == 204 && r.headers["access-control-allow-origin"] == "https://school.example", "\(r)")
        #expect(r.headers["access-control-allow-methods"]?.contains("PATCH") == true
                && r.headers["access-control-allow-headers"]?.contains("Upload-Metadata") == true)
        let meta = "filename " + Data("from-site.bin".utf8).base64EncodedString()
        r = try http("POST", files, headers: school.merging(["Tus-Resumable": "1.0.0", "Upload-Length": "3", "Upload-Metadata": meta]) { $1 })
        #expect(r.code == 201 && r.headers["access-control-allow-origin"] == "https://school.example"
                && r.headers["access-control-expose-headers"]?.contains("Location") == true, "\(r)")
        let location = try #require(r.headers["location"])
        r = try http("PATCH", u.base + location, headers: school.merging(["Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                                                                          "Content-Type": "application/offset+octet-stream"]) { $1 }, body: [1, 2, 3])
        #expect(r.code == 204 && r.headers["access-control-allow-origin"] == "https://school.example", "\(r)")
        // An error answer carries them too, so the page can read why.
        r = try http("PATCH", u.base + location, headers: school.merging(["Tus-Resumable": "1.0.0", "Upload-Offset": "1",
                                                                          "Content-Type": "application/offset+octet-stream"]) { $1 }, body: [1])
        #expect(r.code == 409 && r.headers["access-control-allow-origin"] == "https://school.example", "\(r)")
        // Another site, and the admin API, get nothing.
        r = try http("OPTIONS", files, headers: ["Origin": "https://evil.example", "Access-Control-Request-Method": "POST"])
        #expect(r.headers["access-control-allow-origin"] == nil)
        r = try http("GET", u.base + "/api/v1/documents", headers: school)
        #expect(r.headers["access-control-allow-origin"] == nil)
        #expect(try u.versions("documents/from-site.bin").count == 1)
    }

    /// What a link does not allow is a clear 4xx with nothing stored.
    @Test func whatALinkDoesNotAllowIsRefusedAndNothingIsStored() throws {
        let u = try UploadRoot()
        let (url, linkID) = try u.uploadLink(["documents", "--max-size", "100K", "--max-files", "1", "--types", "pdf"])
        // Larger than allowed.
        var r = try u.create(url, name: "big.pdf", length: 200_000)
        #expect(r.code == 413 && r.body.contains("at most"), "\(r)")
        // A path escaping the collection, and names that are no file names.
        for name in ["../escape.pdf", "a/b.pdf", ".hidden.pdf", "nul\u{1}.pdf"] {
            #expect(try u.create(url, name: name, length: 10).code == 400, "\(name)")
        }
        // A type the client says is not allowed, refused before any byte.
        #expect(try u.create(url, name: "clip.mp4", length: 10, type: "video/mp4").code == 415)
        // A type the bytes show is not allowed, refused when complete: nothing stored.
        let fake = Array("not a pdf at all, just text\n".utf8)
        r = try u.create(url, name: "fake.pdf", length: fake.count, type: "application/pdf")
        #expect(r.code == 201)
        r = try u.patch(r.headers["location"]!, offset: 0, fake)
        #expect(r.code == 415 && r.body.contains("pdf"), "\(r)")
        #expect(try u.versions("documents/fake.pdf").isEmpty)
        #expect(u.partialFiles.isEmpty)
        // One file allowed: the second upload is refused while the first is in progress.
        let pdf = try minimalPDF()
        r = try u.create(url, name: "paper.pdf", length: pdf.count)
        #expect(r.code == 201)
        let first = r.headers["location"]!
        #expect(try u.create(url, name: "other.pdf", length: pdf.count).code == 403)
        r = try u.patch(first, offset: 0, pdf)
        #expect(r.code == 204, "\(r)")
        #expect(try u.versions("documents/paper.pdf").count == 1)
        // Revoked: the page and the uploads under it stop at once.
        #expect(try depot(["link", "revoke", "--root", u.root.path, linkID]).status == 0)
        #expect(try http("GET", url).code == 403)
        #expect(try u.create(url, name: "late.pdf", length: 10).code == 403)
        // Expired (clock_skew is 1 s here).
        let (short, _) = try u.uploadLink(["documents", "--expires", "1s"])
        // Whole seconds: it lasts until its second ends, then one more of skew.
        Thread.sleep(forTimeInterval: 3.5)
        #expect(try http("GET", short).code == 403)
        // Limits past the server's, and collections that do not exist, are refused at once.
        #expect(try depot(["link", "upload", "--root", u.root.path, "nosuch"]).status != 0)
        #expect(try depot(["link", "upload", "--root", u.root.path, "documents", "--types", "spreadsheets-of-doom"]).status != 0)
        #expect(try depot(["link", "upload", "--root", u.root.path, "documents", "--max-size", "100T"]).status != 0)
    }

    /// A PUT with an admin token stores a file in one request; tus under the API works with
    /// tus-py, resumed after it stopped halfway and with its SHA-1 checksums.
    @Test func putAndTusThroughTheAPIWithARealTusClient() throws {
        let u = try UploadRoot()
        let token = try u.adminToken()
        let bytes = noise(2_500_000, seed: 12)
        let file = NSTemporaryDirectory() + "depot-put-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        defer { unlink(file) }
        var r = try http("PUT", u.base + "/api/v1/documents/documents/scripts/run%201.bin", headers: ["Authorization": "Bearer \(token)"],
                         bodyFile: file)
        #expect(r.code == 201 && r.body.contains(sha256(bytes)), "\(r)")
        r = try http("PUT", u.base + "/api/v1/documents/documents/scripts/run%201.bin", headers: ["Authorization": "Bearer \(token)"],
                     bodyFile: file)
        #expect(r.code == 200, "\(r)")
        #expect(try u.versions("documents/scripts/run 1.bin").count == 1)
        #expect(try http("PUT", u.base + "/api/v1/documents/documents/x.bin", body: [1, 2]).code == 401)
        let reader = try depot(["token", "create", "--root", u.root.path, "--scope", "read"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try http("PUT", u.base + "/api/v1/documents/documents/x.bin", headers: ["Authorization": "Bearer \(reader)"], body: [1]).code == 403)
        #expect(try http("PUT", u.base + "/api/v1/documents/documents/../x.bin", headers: ["Authorization": "Bearer \(token)"],
                         body: [1]).code / 100 == 4)

        // tus-py: stop at 1 MB, then a new client resumes from the server's offset.
        let script = """
            import sys
            from tusclient import client
            url, token, path, mode = sys.argv[1:5]
            c = client.TusClient(url, headers={"Authorization": "Bearer " + token})
            meta = {"collection": "documents", "path": "tus/big.bin"}
            if mode == "start":
                up = c.uploader(path, chunk_size=256 * 1024, metadata=meta, upload_checksum=True)
                up.upload(stop_at=1_000_000)
                print(up.url, up.offset)
            else:
                up = c.uploader(path, chunk_size=512 * 1024, url=mode, upload_checksum=True)
                start = up.get_offset()
                up.upload()
                print(start, up.offset)
            """
        let py = NSTemporaryDirectory() + "depot-tus-\(UUID().uuidString).py"
        try Data(script.utf8).write(to: URL(fileURLWithPath: py))
        defer { unlink(py) }
        let first = try runBlocking("/usr/bin/python3", [py, u.base + "/api/v1/uploads", token, file, "start"])
        #expect(first.status == 0, "\(first.output)")
        let parts = first.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        try #require(parts.count == 2, "\(first.stdout)")
        let stopped = try #require(Int(parts[1]))
        #expect(stopped >= 1_000_000 && stopped < bytes.count, "\(first.stdout)")
        #expect(try u.versions("documents/tus/big.bin").isEmpty)
        let second = try runBlocking("/usr/bin/python3", [py, u.base + "/api/v1/uploads", token, file, parts[0]])
        #expect(second.status == 0, "\(second.output)")
        #expect(second.stdout.hasPrefix(parts[1] + " \(bytes.count)"), "\(second.stdout)")
        let versions = try u.versions("documents/tus/big.bin")
        #expect(versions.first?["sha256"] as? String == sha256(bytes), "\(versions) \(u.server.stderr)")
        let listed = try http("GET", u.base + "/api/v1/uploads", headers: ["Authorization": "Bearer \(token)"])
        #expect(listed.code == 200 && listed.body.contains("\"state\":\"stored\""), "\(listed)")
    }

    /// The bytes of an upload survive a kill -9 of the daemon: after a restart it resumes from
    /// the durable offset (hashing what came before again) and stores the right bytes; one
    /// left unfinished past its expiry is removed with its bytes.
    @Test func anUploadResumesAfterTheDaemonIsKilledAndExpiresIfAbandoned() throws {
        let u = try UploadRoot(extra: "upload_expiry = \"3s\"\n")
        let (url, _) = try u.uploadLink(["documents"])
        let bytes = noise(3_000_000, seed: 13)
        var r = try u.create(url, name: "lecture.bin", length: bytes.count)
        let location = try #require(r.headers["location"])
        r = try u.patch(location, offset: 0, Array(bytes[0..<1_234_567]))
        #expect(r.code == 204)
        u.server.signal(SIGKILL)
        _ = u.server.wait()
        try u.start()
        #expect(try u.head(location).headers["upload-offset"] == "1234567")
        r = try u.patch(location, offset: 1_234_567, Array(bytes[1_234_567...]))
        #expect(r.code == 204, "\(r) \(u.server.stderr)")
        #expect(try u.versions("documents/lecture.bin").first?["sha256"] as? String == sha256(bytes))

        r = try u.create(url, name: "abandoned.bin", length: 1000)
        let abandoned = try #require(r.headers["location"])
        #expect(try u.patch(abandoned, offset: 0, Array(bytes[0..<500])).code == 204)
        #expect(u.partialFiles.count == 1)
        // Expiry is kept in whole seconds and the second it names is still inside: wait past it.
        Thread.sleep(forTimeInterval: 4.2)
        // The sweep runs when the server starts and every minute after.
        u.server.signal(SIGTERM)
        #expect(u.server.wait() == 0)
        try u.start()
        #expect(waitUntil(seconds: 10) { u.partialFiles.isEmpty }, "\(u.server.stderr)")
        #expect(try u.head(abandoned).code == 410)
        #expect(try u.patch(abandoned, offset: 500, Array(bytes[500..<1000])).code == 410)

        // Between sweeps, an upload past its expiry is gone as soon as someone asks for it.
        r = try u.create(url, name: "late.bin", length: 1000)
        let late = try #require(r.headers["location"])
        #expect(try u.patch(late, offset: 0, Array(bytes[0..<500])).code == 204)
        Thread.sleep(forTimeInterval: 4.2)
        #expect(try u.patch(late, offset: 500, Array(bytes[500..<1000])).code == 410)
        #expect(u.partialFiles.isEmpty)
        #expect(try u.head(late).code == 410)
    }

    /// The disk filling up mid-upload: 507 with the offset of what is kept; once there is
    /// space again the upload resumes and completes.
    @Test(.enabled(if: getuid() == 0, "mounts a small tmpfs: needs root"))
    func aFullDiskIs507AndTheUploadResumesOnceThereIsSpace() throws {
        var template = Array("/tmp/depot-full-XXXXXX".utf8CString)
        let mountPoint = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        let mounted = try runBlocking("/bin/mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mountPoint])
        try #require(mounted.status == 0, "mount failed: \(mounted.output)")
        defer {
            _ = try? runBlocking("/bin/umount", ["-l", mountPoint])
            rmdir(mountPoint)
        }
        let u = try UploadRoot(at: mountPoint + "/root")
        let filler = mountPoint + "/filler"
        // All but 4 MiB taken by something else.
        var fs = statvfs()
        #expect(statvfs(mountPoint, &fs) == 0)
        let free = Int(fs.f_bavail) * Int(fs.f_frsize)
        _ = try runBlocking("/usr/bin/dd", ["if=/dev/zero", "of=" + filler, "bs=1M", "count=\((free >> 20) - 4)"])
        let (url, _) = try u.uploadLink(["documents"])
        let bytes = noise(8_000_000, seed: 14)
        var r = try u.create(url, name: "recording.bin", length: bytes.count)
        let location = try #require(r.headers["location"])
        #expect(try u.patch(location, offset: 0, Array(bytes[0..<1_000_000])).code == 204)
        // The rest does not fit: the request's bytes are cut off again (room for the catalog to
        // record where it stands) and what came before is kept.
        r = try u.patch(location, offset: 1_000_000, Array(bytes[1_000_000...]))
        #expect(r.code == 507, "\(r)")
        let kept = try #require(Int(r.headers["upload-offset"] ?? ""))
        #expect(kept == 1_000_000, "\(r.headers)")
        #expect(try u.head(location).headers["upload-offset"] == String(kept))
        unlink(filler)
        r = try u.patch(location, offset: kept, Array(bytes[kept...]))
        #expect(r.code == 204, "\(r) \(u.server.stderr)")
        #expect(try u.versions("documents/recording.bin").first?["sha256"] as? String == sha256(bytes))
        u.server.signal(SIGTERM)
        _ = u.server.wait()
    }
}

/// The smallest PDF the type detector takes for one (a header, one empty page, a trailer).
func minimalPDF() throws -> [UInt8] {
    let r = try runBlocking("/usr/bin/python3", ["-c", """
        import sys
        objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"]
        out = b"%PDF-1.4\\n"
        offsets = []
        for i, o in enumerate(objs):
            offsets.append(len(out))
            out += b"%d 0 obj\\n" % (i + 1) + o + b"\\nendobj\\n"
        xref = len(out)
        out += b"xref\\n0 %d\\n0000000000 65535 f \\n" % (len(objs) + 1)
        for off in offsets:
            out += b"%010d 00000 n \\n" % off
        out += b"trailer\\n<< /Size %d /Root 1 0 R >>\\nstartxref\\n%d\\n%%%%EOF\\n" % (len(objs) + 1, xref)
        sys.stdout.buffer.write(out)
        """])
    guard r.status == 0 else { throw TestFailure("python3 failed: \(r.stderr)") }
    return Array(r.stdoutData)
}
