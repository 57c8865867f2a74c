import DepotCore
import DepotTestSupport
import Foundation
import Testing

/// A TCP port nothing listens on right now.
func freePort() -> Int { freeLoopbackPort() }

/// `curl -s` with extra arguments; returns status line code and body.
func curl(_ arguments: [String]) throws -> (code: Int, body: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments = ["-s", "-w", "\n%{http_code}"] + arguments
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let newline = data.lastIndex(of: UInt8(ascii: "\n")) ?? data.endIndex
    let code = Int(String(decoding: data[data.index(after: newline)...], as: UTF8.self)) ?? 0
    return (code, Data(data[..<newline]))
}

@Suite(.tags(.slow), .slowTest) struct HTTPEndToEndTests {
    @Test func serveHandsOutSignedLinksTokensAndMetrics() throws {
        let port = freePort()
        let root = try DemoRoot(extra: "[http]\nport = \(port)\n")
        let keys = try statIfExists(root.layout.state + "/link-keys")
        #expect(keys != nil && keys!.st_mode & 0o777 == 0o600)
        let server = try root.serve()
        let bytes = noise(200_000, seed: 5)
        try root.drop("documents/notes/a.bin", bytes)
        #expect(waitUntil(seconds: 20) { (try? depot(["log", "--root", root.path, "documents/notes/a.bin"]).status) == 0 })
        #expect(waitUntil(seconds: 10) { (try? curl(["http://127.0.0.1:\(port)/healthz"]).code) == 200 }, "\(server.stderr)")

        let link = try depot(["link", "--root", root.path, "documents/notes/a.bin", "--expires", "10m"])
        #expect(link.status == 0, "\(link.stderr)")
        let url = link.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(url.hasPrefix("http://127.0.0.1:\(port)/d/v/"))
        var r = try curl([url])
        #expect(r.code == 200 && Array(r.body) == bytes)
        r = try curl(["-r", "-100", url])
        #expect(r.code == 206 && Array(r.body) == Array(bytes.suffix(100)))
        #expect(try depot(["link", "--root", root.path, "documents/notes/a.bin", "--expires", "30d"]).status != 0)

        let json = try depot(["link", "--root", root.path, "documents/notes/a.bin", "--json"])
        let minted = try parseJSON(json.stdout) as! [String: Any]
        #expect(try depot(["link", "revoke", "--root", root.path, minted["id"] as! String]).status == 0)
        #expect(try curl([minted["url"] as! String]).code == 403)

        let token = try depot(["token", "create", "--root", root.path, "--scope", "read"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        r = try curl(["-H", "Authorization: Bearer \(token)", "http://127.0.0.1:\(port)/api/v1/documents"])
        #expect(r.code == 200 && String(decoding: r.body, as: UTF8.self).contains("notes/a.bin"))
        #expect(try curl(["http://127.0.0.1:\(port)/api/v1/documents"]).code == 401)

        r = try curl(["http://127.0.0.1:\(port)/metrics"])
        let metrics = String(decoding: r.body, as: UTF8.self)
        #expect(metrics.contains("depot_ingests_total{collection=\"documents\",outcome=\"created\"} 1"), "\(metrics)")
        #expect(metrics.contains("depot_downloads_total{status=\"200\"}"))
        #expect(try curl(["http://127.0.0.1:\(port)/readyz"]).code == 200)
        server.signal(SIGTERM)
        #expect(server.wait() == 0)
    }
}
