import DepotCore
@testable import DepotOutbox
import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import Testing

/// A depot root in a temp folder: a real store, a real SQLite catalog with the store's, the
/// queue's and the outbox's tables, and the real job queue (extract for every type).
final class OutboxFixture {
    let path: String
    let store: LocalBlobStore
    let queue: JobQueue
    var catalog: Catalog { queue.catalog }
    var outbox: String { path + "/outbox" }
    static let migrations = Catalog.migrations + JobQueue.migrations
    static let chooser: ProcessorChooser = { kind, _ in kind == "extract" ? "test-extract" : nil }

    init() throws {
        var template = Array("/tmp/depot-outbox-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        store = try LocalBlobStore(blobs: path + "/store/blobs", temp: path + "/store/tmp")
        try makeDirectories(path + "/state")
        try makeDirectories(path + "/outbox")
        queue = try Self.openQueue(path)
    }

    static func openQueue(_ path: String) throws -> JobQueue {
        let database = try SQLiteDatabase(path: path + "/state/catalog.sqlite3")
        try database.migrate(migrations)
        let queue = JobQueue(catalog: Catalog(database: database), settings: JobsSettings())
        queue.attachPipeline(chooser: chooser)
        return queue
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Another connection to the same catalog (as a restarted daemon would open).
    func reopenQueue() throws -> JobQueue { try Self.openQueue(path) }

    /// Stores `bytes` as a blob and returns its digest.
    func blob(_ bytes: [UInt8]) throws -> Digest {
        let file = path + "/src-" + UUID().uuidString
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        defer { unlink(file) }
        let staged = try store.stage(BlobSource(path: file, mayLink: false))
        _ = try store.commit([staged])
        return staged.digest
    }

    /// Records a version of `collection/path` with these bytes (tags from its folders); the
    /// queue gives it its extract job.
    @discardableResult
    func version(_ collection: String, _ path: String, _ bytes: [UInt8]) throws -> VersionInfo {
        let digest = try blob(bytes)
        let tags = path.split(separator: "/").dropLast().map(String.init)
        let outcome = try catalog.record([IngestRecord(collection: collection, path: path, digest: digest, size: Int64(bytes.count),
                                                       sourceMtimeNanoseconds: 1_000, origin: "test", tags: tags,
                                                       mediaType: "text/markdown")])
        return outcome[0].version
    }

    /// Runs the version's extract job as the runner would: leased, its artifacts recorded
    /// with its success (job.succeeded, then media.processed) in one transaction.
    func artifacts(_ version: VersionInfo, _ files: [String: [UInt8]]) throws {
        var infos: [ArtifactInfo] = []
        for (kind, bytes) in files.sorted(by: { $0.key < $1.key }) {
            infos.append(ArtifactInfo(versionID: version.id, kind: kind, mimeType: "text/plain", digest: try blob(bytes),
                                      size: Int64(bytes.count), producer: "test", producerVersion: "1"))
        }
        let queue = self.queue
        var leased: Job?
        while leased == nil {
            guard let job = try queue.lease(owner: "test") else { throw OutboxError("no job to run for version \(version.id)") }
            if job.versionID == version.id {
                leased = job
            } else {
                // An earlier version's job: processed first, as a runner would have, with no artifacts.
                _ = try catalog.database.write { tx in
                    try queue.succeed(job, owner: "test", .init(outcome: JobOutcome.processed, processorVersion: "1", artifacts: [],
                                                                processingNanoseconds: 1), in: tx)
                }
            }
        }
        let job = leased!
        try catalog.database.write { tx in
            _ = try queue.succeed(job, owner: "test", .init(outcome: JobOutcome.processed, processorVersion: "1", artifacts: infos,
                                                            processingNanoseconds: 1), in: tx)
            try queue.catalog.recordArtifacts(infos, in: tx)
        }
    }

    func publisher(_ settings: OutboxSettings = OutboxSettings(), queue: JobQueue? = nil) throws -> OutboxPublisher {
        try OutboxPublisher(root: outbox, queue: queue ?? self.queue, store: store, settings: settings,
                            logger: Logger(label: "test.outbox"))
    }

    func dispatcher(_ settings: OutboxSettings = OutboxSettings(), webhooks: [WebhookSettings] = [],
                    queue: JobQueue? = nil) throws -> EventDispatcher {
        try EventDispatcher(publisher: try publisher(settings, queue: queue), settings: settings, webhooks: webhooks,
                            logger: Logger(label: "test.outbox"))
    }

    func events() throws -> [Event] {
        try catalog.events(after: 0, limit: 100_000)
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
