import DepotCore
import Logging
import Metrics
#if canImport(Glibc)
import Glibc
#endif

/// One file to take into the store.
public struct IngestItem: Sendable, Equatable {
    /// What happens to the source once it is safely stored.
    public enum Disposition: Sendable, Equatable {
        /// Removed after the catalog commit is durable (an inbox in consume mode, `ingest --move`).
        case consume
        /// Left where it is (a mirror-mode inbox, a plain `depot ingest`).
        case keep
    }

    public var sourcePath: String
    public var collection: String
    /// Path inside the collection.
    public var path: String
    public var tags: [String]
    public var disposition: Disposition
    public var origin: String
    /// The source's SHA-256 when depot wrote the file and hashed it on the way (an upload).
    public var digest: Digest?

    public init(sourcePath: String, collection: String, path: String, tags: [String],
                disposition: Disposition, origin: String, digest: Digest? = nil) {
        self.digest = digest
        self.sourcePath = sourcePath
        self.collection = collection
        self.path = path
        self.tags = tags
        self.disposition = disposition
        self.origin = origin
    }
}

/// What became of one `IngestItem`.
public enum IngestResult: Sendable, Equatable {
    /// Stored and recorded (possibly as "unchanged"); `blob` says whether its bytes were new,
    /// stored already, or stored but damaged and healed from this copy.
    case stored(RecordOutcome, blob: BlobCommit)
    /// A kept file whose size and mtime match its current version: not even read.
    case skipped(VersionInfo)
    /// The file changed while it was read; take it again once it is quiet.
    case changed
    /// The file is gone.
    case vanished
    /// It could not be stored; the source is untouched. `transient`: worth a retry.
    case failed(reason: String, transient: Bool)
}

/// Works out a stored blob's media type from its bytes (and, only to break ties, its file
/// name). Called after the blob is durable and before the catalog transaction opens, so that
/// reading untrusted bytes never happens while the catalog's write lock is held.
public typealias MediaTypeDetector = @Sendable (_ bytes: any RandomAccessBytes, _ name: String) -> String

/// Takes files into the store in the order that loses nothing: blobs durable → type
/// detected → catalog committed → sources removed (consume only).
///
/// Blocking I/O: call it from a dedicated thread, never from the Swift concurrency pool.
public final class Ingestor: Sendable {
    public let store: BlobStore
    public let catalog: Catalog
    let detectType: MediaTypeDetector?
    let logger: Logger

    /// - Parameter detectType: the media type of each new version (nil: none is recorded).
    public init(store: BlobStore, catalog: Catalog, detectType: MediaTypeDetector? = nil,
                logger: Logger = Logger(label: "depot.ingest")) {
        self.store = store
        self.catalog = catalog
        self.detectType = detectType
        self.logger = logger
    }

    /// Ingests a batch: every blob in it shares one durability barrier and every record one
    /// catalog transaction. A failure of one file fails only that file, except a failure of
    /// the barrier or the transaction, which fails the whole batch (nothing is removed).
    public func ingest(_ items: [IngestItem]) -> [IngestResult] {
        var results = [IngestResult?](repeating: nil, count: items.count)
        var staged: [(index: Int, blob: StagedBlob)] = []

        for (index, item) in items.enumerated() {
            do {
                if item.disposition == .keep, let current = try unchangedVersion(of: item) {
                    results[index] = .skipped(current)
                    continue
                }
                let blob = try store.stage(BlobSource(path: item.sourcePath, mayLink: item.disposition == .consume,
                                                      digest: item.digest))
                staged.append((index, blob))
            } catch {
                results[index] = Self.classify(error)
            }
        }

        if !staged.isEmpty {
            do {
                // What the catalog knows already (a store may skip asking itself of the rest),
                // and each type, detected from the staged bytes where the store keeps them
                // locally (else from the committed blob, below).
                let known = try catalog.knownBlobs(among: staged.map(\.blob.digest))
                for i in staged.indices { staged[i].blob.cataloged = known.contains(staged[i].blob.digest) }
                let detected = staged.map { entry in
                    store.openStaged(entry.blob).map { mediaType(in: $0, name: baseName(items[entry.index].path)) }
                }
                let commits = try store.commit(staged.map(\.blob))
                for (n, entry) in staged.enumerated() where commits[n] == .healed {
                    logger.warning("a stored blob was damaged; healed from the incoming copy (hashed on its way in)",
                                   metadata: ["sha256": "\(entry.blob.digest.hex)", "path": "\(items[entry.index].sourcePath)"])
                }
                let records = staged.enumerated().map { n, entry -> IngestRecord in
                    let item = items[entry.index]
                    let type = detected[n] ?? mediaType(of: entry.blob.digest, name: baseName(item.path))
                    return IngestRecord(collection: item.collection, path: item.path, digest: entry.blob.digest,
                                        size: entry.blob.size, sourceMtimeNanoseconds: entry.blob.sourceMtimeNanoseconds,
                                        origin: item.origin, tags: item.tags,
                                        mediaType: type)
                }
                let outcomes = try catalog.database.write { tx in
                    let outcomes = try catalog.record(records, in: tx)
                    // A garbage collection may have removed a blob stored long ago (a dedup
                    // hit) since the commit above: checked where it is serialised with the
                    // collector, so the file is then kept and stored again next time.
                    try GarbageCollector.requirePresent(records.map(\.digest), store: store, in: tx)
                    // A blob marked damaged whose stored bytes the commit re-hashed (and
                    // replaced with this copy when they did not match) is whole again.
                    let checked = zip(staged, commits).filter { !$0.1.isNew }.map { $0.0.blob.digest }
                    if !checked.isEmpty { try catalog.markIntact(checked, how: "an intact copy arrived", in: tx) }
                    return outcomes
                }
                for (n, entry) in staged.enumerated() {
                    results[entry.index] = .stored(outcomes[n], blob: commits[n])
                    if items[entry.index].disposition == .consume {
                        removeSource(items[entry.index], as: entry.blob)
                    }
                    do {
                        try store.settle(entry.blob)
                    } catch {
                        logger.error("stored blob may still share its file with the inbox; `depot verify` checks it",
                                     metadata: ["path": "\(items[entry.index].sourcePath)", "error": "\(error)"])
                    }
                }
            } catch {
                // fsync failed, disk full, catalog busy…: every source stays; the next try
                // stages again from the source (a failed fsync is never retried in place).
                for entry in staged {
                    // A blob already linked into place keeps no inode with the inbox file.
                    try? store.settle(entry.blob)
                    store.discard(entry.blob)
                    results[entry.index] = Self.classify(error)
                }
            }
        }
        let done = results.map { $0! }
        for (item, result) in zip(items, done) { Self.count(result, collection: item.collection) }
        return done
    }

    /// The ingest's metrics, for every way a file comes in (inbox, `depot ingest`, uploads).
    static func count(_ result: IngestResult, collection: String) {
        switch result {
        case .stored(let outcome, let blob):
            Counter(label: "depot_ingests_total", dimensions: [("collection", collection), ("outcome", outcome.label)]).increment()
            Counter(label: "depot_ingested_bytes_total").increment(by: outcome.version.size)
            if !blob.isNew { Counter(label: "depot_dedup_hits_total").increment() }
            if blob == .healed { Counter(label: "depot_blobs_healed_total").increment() }
            if outcome.label != "unchanged" { Counter(label: "depot_versions_created_total").increment() }
        case .failed:
            Counter(label: "depot_ingests_total", dimensions: [("collection", collection), ("outcome", "failed")]).increment()
        case .skipped, .changed, .vanished:
            break
        }
    }

    /// The detected type of a committed blob; a blob that cannot be read for it (it was
    /// just written) is typed application/octet-stream rather than failing the ingest.
    private func mediaType(of digest: Digest, name: String) -> String? {
        guard detectType != nil else { return nil }
        guard let reader = try? store.open(digest) else { return "application/octet-stream" }
        return mediaType(in: reader, name: name)
    }

    private func mediaType(in reader: BlobReader, name: String) -> String? { detectType.map { $0(reader, name) } }

    /// The current version when a kept file still has its size and mtime (no need to read it).
    private func unchangedVersion(of item: IngestItem) throws -> VersionInfo? {
        guard let current = try catalog.currentVersion(collection: item.collection, path: item.path),
              let st = try statIfExists(item.sourcePath) else { return nil }
        if Int64(st.st_size) == current.size && nanoseconds(st.st_mtim) == current.sourceMtimeNanoseconds {
            return current
        }
        return nil
    }

    /// Removes a consumed source, but only if it is still the file that was stored: a file
    /// written anew under the same name in the meantime stays for the next round.
    private func removeSource(_ item: IngestItem, as blob: StagedBlob) {
        var st = stat()
        guard lstat(item.sourcePath, &st) == 0 else { return }
        guard UInt64(st.st_ino) == blob.sourceInode, UInt64(st.st_dev) == blob.sourceDevice,
              Int64(st.st_size) == blob.size, nanoseconds(st.st_mtim) == blob.sourceMtimeNanoseconds else {
            logger.info("file changed after it was stored; keeping it for the next round",
                        metadata: ["path": "\(item.sourcePath)"])
            return
        }
        if unlink(item.sourcePath) != 0 {
            logger.warning("stored, but could not remove it from the inbox",
                           metadata: ["path": "\(item.sourcePath)", "error": "\(SystemError(call: "unlink", errno: errno, path: item.sourcePath))"])
        }
    }

    static func classify(_ error: Error) -> IngestResult {
        if let e = error as? BlobStoreError, e.value == .changedWhileReading { return .changed }
        if let e = error as? BlobStoreError, e.value == .openForWriting || e.value == .missing {
            return .failed(reason: e.description, transient: true)
        }
        if let e = error as? SystemError, e.errno == ENOENT { return .vanished }
        if let e = error as? SystemError {
            return .failed(reason: e.description, transient: true)
        }
        // The file is not at fault when the catalog refuses or fails a commit: it stays and is
        // tried again.
        if let e = error as? CatalogError {
            return .failed(reason: e.description, transient: true)
        }
        return .failed(reason: "\(error)", transient: false)
    }
}
