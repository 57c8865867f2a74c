import DepotCore
@testable import DepotOutbox
import DepotStore
import DepotTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import Testing

/// A depot root in a temp folder: a real store and a real SQLite catalog with the outbox's tables.
final class OutboxFixture {
    let path: String
    let store: LocalBlobStore
    let catalog: SQLiteCatalog
    var outbox: String { path + "/outbox" }

    init() throws {
        var template = Array("/tmp/depot-outbox-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        store = try LocalBlobStore(blobs: path + "/store/blobs", temp: path + "/store/tmp")
        try makeDirectories(path + "/state")
        try makeDirectories(path + "/outbox")
        catalog = try SQLiteCatalog(path: path + "/state/catalog.sqlite3", modules: OutboxSchema.migrations)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Another connection to the same catalog (as a restarted daemon would open).
    func reopenCatalog() throws -> SQLiteCatalog {
        try SQLiteCatalog(path: path + "/state/catalog.sqlite3", modules: OutboxSchema.migrations)
    }

    /// Stores `bytes` as a blob and returns its digest.
    func blob(_ bytes: [UInt8]) throws -> Digest {
        let file = path + "/src-" + UUID().uuidString
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        defer { unlink(file) }
        let staged = try store.stage(BlobSource(path: file, mayLink: false))
        _ = try store.commit([staged])
        return staged.digest
    }

    /// Records a version of `collection/path` with these bytes (tags from its folders).
    @discardableResult
    func version(_ collection: String, _ path: String, _ bytes: [UInt8]) throws -> VersionInfo {
        let digest = try blob(bytes)
        let tags = path.split(separator: "/").dropLast().map(String.init)
        let outcome = try catalog.record([IngestRecord(collection: collection, path: path, digest: digest, size: Int64(bytes.count),
                                                       sourceMtimeNanoseconds: 1_000, origin: "test", tags: tags)])
        return outcome[0].version
    }

    /// Records artifacts of a version and a media.processed event for it, as a worker would.
    func artifacts(_ version: VersionInfo, _ files: [String: [UInt8]]) throws {
        var infos: [ArtifactInfo] = []
        for (kind, bytes) in files.sorted(by: { $0.key < $1.key }) {
            infos.append(ArtifactInfo(versionID: version.id, kind: kind, mimeType: "text/plain", digest: try blob(bytes),
                                      size: Int64(bytes.count), producer: "test", producerVersion: "1"))
        }
        try catalog.withConnection { db in
            try db.transaction {
                try SQLiteCatalog.recordArtifacts(infos, in: db)
                try EventLog.append("media.processed", data: ["version_id": version.id, "document_id": version.documentID,
                                                              "status": "succeeded"], in: db)
            }
        }
    }

    func publisher(_ settings: OutboxSettings = OutboxSettings(), catalog: SQLiteCatalog? = nil) throws -> OutboxPublisher {
        try OutboxPublisher(root: outbox, catalog: catalog ?? self.catalog, store: store, settings: settings,
                            logger: Logger(label: "test.outbox"))
    }

    func dispatcher(_ settings: OutboxSettings = OutboxSettings(), webhooks: [WebhookSettings] = [],
                    catalog: SQLiteCatalog? = nil) throws -> EventDispatcher {
        let catalog = catalog ?? self.catalog
        return try EventDispatcher(catalog: catalog, publisher: try publisher(settings, catalog: catalog), settings: settings,
                                   webhooks: webhooks, logger: Logger(label: "test.outbox"))
    }

    func events() throws -> [Event] {
        try catalog.withConnection { db in try EventLog.events(after: 0, limit: 100_000, in: db) }
    }

    /// Every file and folder under the outbox: relative path → (mode, bytes or nil for a folder).
    func tree(excluding: Set<String> = []) throws -> [String: TreeEntry] {
        var result: [String: TreeEntry] = [:]
        let walker = FileManager.default.enumerator(atPath: outbox)
        while let relative = walker?.nextObject() as? String {
            if excluding.contains(relative) || relative.hasPrefix(".depot-trash") { continue }
            var st = stat()
            #expect(lstat(outbox + "/" + relative, &st) == 0)
            let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
            result[relative] = TreeEntry(mode: UInt32(st.st_mode) & 0o7777,
                                         bytes: isDirectory ? nil : Array(try Data(contentsOf: URL(fileURLWithPath: outbox + "/" + relative))))
        }
        return result
    }
}

/// The paths whose entries differ between two trees (for failure messages).
func differences(_ a: [String: TreeEntry], _ b: [String: TreeEntry]) -> [String] {
    Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
}

/// Reads a whole file relative to an open directory.
func read(at directory: Int32, _ name: String) throws -> [UInt8] {
    let fd = openat(directory, name, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw OutboxError("\(name): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = Glibc.read(fd, &chunk, chunk.count)
        if n < 0 { throw OutboxError("\(name): read failed") }
        if n == 0 { return bytes }
        bytes += chunk[0..<n]
    }
}

struct TreeEntry: Equatable {
    var mode: UInt32
    var bytes: [UInt8]?
}

func readJSON(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw OutboxError("\(path): not an object") }
    return object
}

func lines(_ path: String) throws -> [String] {
    let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    #expect(text.isEmpty || text.hasSuffix("\n"), "events.jsonl must end with a whole line")
    return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
}

/// A tiny HTTP/1.1 server on 127.0.0.1 for webhook tests: records each request and answers
/// with what `respond(n)` says for the n-th request (0-based). One connection at a time,
/// `Connection: close`.
final class TestHTTPServer: @unchecked Sendable {
    struct Request {
        var headers: [String: String]
        var body: String
        var receivedAt: Date
    }

    let port: UInt16
    private let fd: Int32
    private let state = Mutex<(requests: [Request], stop: Bool)>(([], false))
    private let respond: @Sendable (Int) -> (status: Int, headers: [String])
    private let done = DispatchSemaphore(value: 0)

    init(respond: @escaping @Sendable (Int) -> (status: Int, headers: [String])) throws {
        self.respond = respond
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw OutboxError("test server: bind/listen failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        self.fd = fd
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }
    var requests: [Request] { state.withLock { $0.requests } }

    func stop() {
        state.withLock { $0.stop = true }
        done.wait()
        close(fd)
    }

    private func serve() {
        while !state.withLock({ $0.stop }) {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            handle(client)
            close(client)
        }
        done.signal()
    }

    private func handle(_ client: Int32) {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var contentLength = 0
        var headers: [String: String] = [:]
        while true {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            data += buffer[0..<n]
            if headerEnd == nil, let range = findHeaderEnd(data) {
                headerEnd = range
                let head = String(decoding: data[0..<range], as: UTF8.self)
                for line in head.split(separator: "\r\n").dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    let name = line[..<colon].lowercased()
                    headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                contentLength = Int(headers["content-length"] ?? "0") ?? 0
            }
            if let end = headerEnd, data.count >= end + 4 + contentLength { break }
        }
        let start = headerEnd! + 4
        let body = String(decoding: data[start..<(start + contentLength)], as: UTF8.self)
        let index = state.withLock { s -> Int in
            s.requests.append(Request(headers: headers, body: body, receivedAt: Date()))
            return s.requests.count - 1
        }
        let (status, extra) = respond(index)
        let response = "HTTP/1.1 \(status) Status\r\nContent-Length: 2\r\nConnection: close\r\n"
            + extra.map { $0 + "\r\n" }.joined() + "\r\nok"
        _ = Array(response.utf8).withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
    }

    private func findHeaderEnd(_ data: [UInt8]) -> Int? {
        guard data.count >= 4 else { return nil }
        for i in 0...(data.count - 4) where data[i] == 13 && data[i + 1] == 10 && data[i + 2] == 13 && data[i + 3] == 10 {
            return i
        }
        return nil
    }
}
