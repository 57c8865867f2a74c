import CLinux
import DepotCore
import DepotQueue
import DepotStore
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Why a document could not be published.
public struct OutboxError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Publishes documents into the outbox: `outbox/<collection>/<path>/` with manifest.json and
/// the artifact files of the current version, built beside the live folder and swapped in
/// with one rename, so that a reader sees the old folder or the new one, never a mix.
///
/// Used by one thread at a time (the dispatcher's, or `depot outbox rebuild`); two
/// publishers in two processes may race on a document and the last one wins whole.
public final class OutboxPublisher {
    public let root: String
    let catalog: Catalog
    let queue: JobQueue
    let store: BlobStore
    let settings: OutboxSettings
    let gid: gid_t?
    let logger: Logger
    /// Prefix of the folders being built; dot-prefixed so a share browser and `depot ls` skip them.
    static let tempPrefix = ".depot-publish-"

    /// - Throws: `OutboxError` when `settings.group` names no group.
    public init(root: String, queue: JobQueue, store: BlobStore, settings: OutboxSettings, logger: Logger) throws {
        self.root = root
        self.catalog = queue.catalog
        self.queue = queue
        self.store = store
        self.settings = settings
        self.logger = logger
        if let group = settings.group {
            guard let entry = getgrnam(group) else { throw OutboxError("outbox.group: no group named '\(group)'") }
            gid = entry.pointee.gr_gid
        } else {
            gid = nil
        }
    }

    // MARK: Publishing

    /// Publishes one document as the catalog has it now; returns false when the catalog has no
    /// such live document (one in the trash has its folder taken down).
    @discardableResult
    /// `removedFrom`: where a trash event about the document says it was, for a document the
    /// catalog no longer has (purged before this event was dispatched).
    public func publish(documentID: Int64, removedFrom: (collection: String, path: String)? = nil) throws -> Bool {
        guard let snapshot = try DocumentSnapshot.load(documentID: documentID, catalog: catalog, queue: queue) else {
            if let location = try catalog.documentLocation(id: documentID) {
                if location.trashed { try unpublish(collection: location.collection, path: location.path) }
            } else if let removedFrom {
                try unpublish(collection: removedFrom.collection, path: removedFrom.path)
            }
            return false
        }
        try publish(snapshot)
        return true
    }

    /// Takes a removed document's folder out of the outbox (the outbox stays a faithful
    /// projection): moved into the trash in one rename, like a replaced folder, unless it
    /// holds the folders of other documents (`a` and `a/b`), whose files stay.
    func unpublish(collection: String, path: String) throws {
        let target = root + "/" + (try Self.components(collection: collection, path: path)).joined(separator: "/")
        guard let st = try statIfExists(target), (st.st_mode & S_IFMT) == S_IFDIR else { return }
        let entries = try FileManager.default.contentsOfDirectory(atPath: target)
        let nested = entries.filter { (try? statIfExists(target + "/" + $0)).flatMap { $0 }.map { ($0.st_mode & S_IFMT) == S_IFDIR } ?? false }
        if nested.isEmpty {
            try retire(target)
        } else {
            for name in entries where !nested.contains(name) { try FileManager.default.removeItem(atPath: target + "/" + name) }
        }
    }

    func publish(_ doc: DocumentSnapshot) throws {
        let components = try Self.components(collection: doc.document.collection, path: doc.document.path)
        let target = root + "/" + components.joined(separator: "/")
        let parent = directoryName(target)
        try makeOutboxDirectories(parent)

        let temp = parent + "/" + Self.tempPrefix + "\(getpid())-" + randomSuffix()
        try sysCall("mkdir", path: temp) { mkdir(temp, 0o700) }
        do {
            try applyOwnership(path: temp, mode: settings.dirMode)
            var entries: [Manifest.Artifact] = []
            let live = Self.publishedFiles(in: target)
            for artifact in doc.artifacts {
                entries.append(try place(artifact, in: temp, live: live[artifact.kind] == artifact.digest ? target : nil))
            }
            try writeFile(temp + "/manifest.json", try Manifest(doc, artifacts: entries).bytes())
            try carryNestedDocuments(from: target, to: temp, taken: Set(doc.artifacts.map(\.kind) + ["manifest.json"]))
            try swapIntoPlace(temp, target)
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw error
        }
    }

    /// Puts `temp` at `target`: RENAME_NOREPLACE when there is nothing yet, RENAME_EXCHANGE when
    /// there is (then the old folder, now at `temp`, goes). Either is one atomic step.
    func swapIntoPlace(_ temp: String, _ target: String) throws {
        for _ in 0..<8 {
            if clinux_renameat2(AT_FDCWD, temp, AT_FDCWD, target, clinux_rename_noreplace()) == 0 { return }
            guard errno == EEXIST else { throw SystemError(call: "renameat2", errno: errno, path: target) }
            if clinux_renameat2(AT_FDCWD, temp, AT_FDCWD, target, clinux_rename_exchange()) == 0 {
                try retire(temp)
                return
            }
            // ENOENT: the old folder went away in between (another publisher); place it anew.
            guard errno == ENOENT else { throw SystemError(call: "renameat2", errno: errno, path: target) }
        }
        throw OutboxError("\(target): could not be put in place (it keeps changing)")
    }

    /// Where replaced folders wait out the grace period before they are removed.
    var trash: String { root + "/" + Self.trashName }
    static let trashName = ".depot-trash"
    /// Where the scheduled reports go (DepotAnalytics' ReportWriter); a rebuild leaves it alone.
    static let reportsName = "reports"
    private var lastSweep: Int64 = 0

    /// Moves a replaced folder into the trash instead of removing it at once: a reader that
    /// opened it (a directory handle, a shell's working directory) before the swap can finish
    /// reading the files its manifest lists for `grace_period`.
    func retire(_ old: String) throws {
        try makeDirectories(trash, mode: 0o700)
        let name = "\(wallClockNanoseconds())-\(getpid())-" + randomSuffix()
        if rename(old, trash + "/" + name) != 0 {
            try FileManager.default.removeItem(atPath: old)
        }
        let now = monotonicNanoseconds()
        if now - lastSweep > 1_000_000_000 {
            lastSweep = now
            try sweepTrash()
        }
    }

    /// Removes replaced folders older than the grace period (all of them when `everything`).
    public func sweepTrash(everything: Bool = false) throws {
        let cutoff = wallClockNanoseconds() - settings.gracePeriod.nanosecondsValue
        for name in (try? FileManager.default.contentsOfDirectory(atPath: trash)) ?? [] {
            guard let stamp = Int64(name.prefix { $0 != "-" }) else { continue }
            if everything || stamp < cutoff { try FileManager.default.removeItem(atPath: trash + "/" + name) }
        }
    }

    /// A document whose path is a folder of another one (`a` and `a/b`) holds the other's folder
    /// inside its own: those folders are moved into the new build so a republish keeps them.
    /// (For the instant between this and the swap they are missing; see DECISIONS.md.)
    func carryNestedDocuments(from target: String, to temp: String, taken: Set<String>) throws {
        guard let st = try statIfExists(target), (st.st_mode & S_IFMT) == S_IFDIR else { return }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? [] where !taken.contains(name) {
            guard !name.hasPrefix(Self.tempPrefix),
                  let child = try statIfExists(target + "/" + name), (child.st_mode & S_IFMT) == S_IFDIR else { continue }
            if rename(target + "/" + name, temp + "/" + name) != 0 && errno != ENOENT {
                throw SystemError(call: "rename", errno: errno, path: target + "/" + name)
            }
        }
    }

    /// Puts one artifact's file into the folder being built: a hard link to the blob's file
    /// when the store keeps one and its mode is no wider than `file_mode` (a link cannot have
    /// its own mode), else a copy read through the store.
    /// - Parameter live: the live folder, when its manifest lists this artifact with the same
    ///   digest: its file is linked from there when it still has the artifact's size.
    func place(_ artifact: ArtifactInfo, in folder: String, live: String? = nil) throws -> Manifest.Artifact {
        var entry = Manifest.Artifact(artifact)
        guard Self.isPlainFileName(artifact.kind) else {
            logger.error("artifact kind is not a plain file name; published without its file", metadata: ["kind": "\(artifact.kind)"])
            return entry
        }
        // A document is published again at each of its events; its artifacts published
        // before are the same files. From a store without local files (S3) each would be read
        // again over the network, per event, and the outbox would cost the bucket more than
        // the jobs do.
        let destination = folder + "/" + artifact.kind
        if let live, let st = try statIfExists(live + "/" + artifact.kind), (st.st_mode & S_IFMT) == S_IFREG,
           Int64(st.st_size) == artifact.size, link(live + "/" + artifact.kind, destination) == 0 {
            entry.file = artifact.kind
            return entry
        }
        guard try store.contains(artifact.digest) else {
            // A missing blob is a store problem `depot verify` reports; the manifest says so
            // instead of listing a file that is not there.
            logger.error("artifact blob is missing; published without its file",
                         metadata: ["sha256": "\(artifact.digest.hex)", "kind": "\(artifact.kind)"])
            entry.missing = true
            return entry
        }
        if let blob = store.localPath(of: artifact.digest), let st = try statIfExists(blob),
           UInt32(st.st_mode) & 0o7777 & ~settings.fileMode == 0, link(blob, destination) == 0 {
            entry.file = artifact.kind
            return entry
        }
        // EXDEV (the outbox on another filesystem), EPERM (protected_hardlinks), EMLINK, or a
        // store without local files: copy.
        try copyBlob(artifact.digest, to: destination)
        entry.file = artifact.kind
        return entry
    }

    /// What the live folder's manifest says it holds: artifact kind → digest, for the
    /// artifacts published with a file (empty when there is no folder or no readable manifest).
    static func publishedFiles(in folder: String) -> [String: Digest] {
        struct Published: Decodable {
            struct Artifact: Decodable {
                var kind: String
                var sha256: String
                var file: String?
            }
            var artifacts: [Artifact]
        }
        guard let data = FileManager.default.contents(atPath: folder + "/manifest.json"),
              let manifest = try? JSONDecoder().decode(Published.self, from: data) else { return [:] }
        var files: [String: Digest] = [:]
        for artifact in manifest.artifacts where artifact.file == artifact.kind {
            if let digest = Digest(hex: artifact.sha256) { files[artifact.kind] = digest }
        }
        return files
    }

    func copyBlob(_ digest: Digest, to destination: String) throws {
        let input = try store.open(digest)
        let output = try sysCall("open", path: destination) {
            open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(settings.fileMode))
        }
        defer { close(output) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try input.read(into: buffer)
            if n == 0 { break }
            try writeFully(output, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), path: destination)
        }
        try applyOwnership(fd: output, path: destination, mode: settings.fileMode)
    }

    func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let fd = try sysCall("open", path: path) {
            open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(settings.fileMode))
        }
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeFully(fd, $0, path: path) }
        try applyOwnership(fd: fd, path: path, mode: settings.fileMode)
    }

    /// The configured mode (the umask must not narrow it) and group.
    func applyOwnership(fd: Int32, path: String, mode: UInt32) throws {
        try sysCall("fchmod", path: path) { fchmod(fd, mode_t(mode)) }
        if let gid { try sysCall("fchown", path: path) { fchown(fd, uid_t.max, gid) } }
    }

    func applyOwnership(path: String, mode: UInt32) throws {
        try sysCall("chmod", path: path) { chmod(path, mode_t(mode)) }
        if let gid { try sysCall("chown", path: path) { chown(path, uid_t.max, gid) } }
    }

    /// Creates the outbox folders down to `path` with the configured mode and group.
    func makeOutboxDirectories(_ path: String) throws {
        guard try statIfExists(path) == nil else { return }
        for created in try makeDirectories(path, mode: mode_t(settings.dirMode)) {
            try applyOwnership(path: created, mode: settings.dirMode)
        }
    }

    /// Makes what was published durable: one `syncfs` of the outbox's filesystem (the
    /// dispatcher calls it once per batch before its cursor moves past the batch).
    public func sync() throws {
        try makeDirectories(root)
        let fd = try sysCall("open", path: root) { open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try sysCall("syncfs", path: root) { clinux_syncfs(fd) }
    }

    /// The folder names of a document's outbox folder, checked so that none can leave the
    /// outbox or collide with depot's own names. Paths come from the catalog, where the
    /// ingest made them, but a projection must not trust its source to stay well-formed.
    static func components(collection: String, path: String) throws -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for part in [collection] + parts {
            if part.isEmpty || part == "." || part == ".." || part.hasPrefix(tempPrefix) || part == trashName || part.utf8.contains(0) {
                throw OutboxError("'\(collection)/\(path)' cannot be published: '\(part)' is not a folder name the outbox allows")
            }
        }
        if collection.contains("/") || collection.hasPrefix(".") || (collection == "events.jsonl") {
            throw OutboxError("'\(collection)' is not a collection name the outbox allows")
        }
        return [collection] + parts
    }

    /// Whether `name` is a file name an artifact may have in a document folder.
    static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.hasPrefix(".")
            && name != "manifest.json" && !name.utf8.contains(0)
    }

    // MARK: Rebuild

    /// What `rebuild()` did.
    public struct RebuildReport: Sendable, Equatable {
        public var published = 0
        public var removed = 0
        public var failed = 0
    }

    /// Recreates the whole outbox from the catalog: every document is published anew, the
    /// folders above them get the configured mode and group, and folders of documents the
    /// catalog does not have, and builds a crash left behind, are removed. events.jsonl and
    /// other files at the top are left alone.
    public func rebuild(progress: (Int, Int) -> Void = { _, _ in }) throws -> RebuildReport {
        var report = RebuildReport()
        let documents = try catalog.documents()
        var expected = Set<String>()
        for (index, document) in documents.enumerated() {
            do {
                try publish(documentID: document.id)
                expected.insert(try Self.components(collection: document.collection, path: document.path).joined(separator: "/"))
                report.published += 1
            } catch {
                report.failed += 1
                logger.error("document not published", metadata: [
                    "collection": "\(document.collection)", "path": "\(document.path)", "error": "\(error)"])
            }
            progress(index + 1, documents.count)
        }
        var ancestors = Set<String>()
        for path in expected {
            var parts = path.split(separator: "/").dropLast()
            while !parts.isEmpty {
                ancestors.insert(parts.joined(separator: "/"))
                parts = parts.dropLast()
            }
        }
        report.removed = try prune(folder: root, relative: "", expected: expected, ancestors: ancestors)
        try sweepTrash()
        try sync()
        return report
    }

    /// Removes what is not a published document below `folder`; returns how many document
    /// folders and leftover builds went.
    private func prune(folder: String, relative: String, expected: Set<String>, ancestors: Set<String>) throws -> Int {
        var removed = 0
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for name in names {
            let path = folder + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            if rel == Self.trashName { continue }
            // The analytics' reports (outbox/reports/<date>/report.json) are not the catalog's
            // to rebuild; a collection named "reports" shares the folder with them.
            if !expected.contains(rel) && !ancestors.contains(rel) && (rel == Self.reportsName
                || (relative == Self.reportsName && FileManager.default.fileExists(atPath: path + "/report.json"))) { continue }
            if name.hasPrefix(Self.tempPrefix) {
                if Self.builderIsGone(name) {
                    try FileManager.default.removeItem(atPath: path)
                    removed += 1
                }
                continue
            }
            guard let st = try statIfExists(path), (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            if expected.contains(rel) {
                // A published document; only nested documents' folders may need pruning.
                removed += try prune(folder: path, relative: rel, expected: expected, ancestors: ancestors)
            } else if ancestors.contains(rel) {
                // Folders made under an earlier dir_mode or group get the current ones.
                try applyOwnership(path: path, mode: settings.dirMode)
                let isStaleDocument = (try statIfExists(path + "/manifest.json")) != nil
                if isStaleDocument {
                    // A document that is gone, with other documents nested inside: remove its files only.
                    for child in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                        if let cs = try statIfExists(path + "/" + child), (cs.st_mode & S_IFMT) != S_IFDIR {
                            unlink(path + "/" + child)
                        }
                    }
                    removed += 1
                }
                removed += try prune(folder: path, relative: rel, expected: expected, ancestors: ancestors)
            } else {
                try FileManager.default.removeItem(atPath: path)
                removed += 1
            }
        }
        return removed
    }

    /// Removes the half-built folders a killed publisher left beside documents; returns how
    /// many went. Run once when dispatch starts, so a crash never leaves litter in the outbox
    /// a share's users see.
    @discardableResult
    public func removeLeftoverBuilds() -> Int {
        var removed = 0
        var folders = [root]
        while let folder = folders.popLast() {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                let path = folder + "/" + name
                if name == Self.trashName && folder == root { continue }
                guard let st = try? statIfExists(path), (st.st_mode & S_IFMT) == S_IFDIR else { continue }
                if name.hasPrefix(Self.tempPrefix) {
                    if Self.builderIsGone(name), (try? FileManager.default.removeItem(atPath: path)) != nil {
                        removed += 1
                    }
                } else {
                    folders.append(path)
                }
            }
        }
        return removed
    }

    /// Whether the process that was building `.depot-publish-<pid>-…` has gone.
    static func builderIsGone(_ name: String) -> Bool {
        let rest = name.dropFirst(tempPrefix.count)
        guard let dash = rest.firstIndex(of: "-"), let pid = pid_t(rest[..<dash]) else { return true }
        if pid == getpid() { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}

func randomSuffix() -> String {
    var rng = SystemRandomNumberGenerator()
    return String(rng.next() as UInt64, radix: 36)
}
