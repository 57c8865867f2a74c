// DepotStore: the only truth of depot.
//
// It owns the blobs — immutable bytes named by their SHA-256, behind `BlobStore` (the local
// filesystem; memory for tests; object storage later) — and the catalog's database behind
// `CatalogDatabase` (SQLite, the default, or PostgreSQL: `[catalog] url`), with one backend-neutral
// `CatalogTransaction` that every owner's API takes. Of the tables in that database it owns
// collections, documents, versions, tags, blobs, artifacts and the event log (`Catalog`,
// `EventLog`), and keeps the rows other parts need: tokens and links (`AccessRecords`), the
// dispatcher's cursor and deliveries (`DispatchState`), upload links and uploads
// (`UploadRecords`, with their bytes in store/tmp/uploads: `PartialUploads`), and what
// keeps or removes data (`Retention/`: the trash, retention rules, pins and legal holds, the
// garbage collector's marks, damaged blobs, storage samples and the `StorageUsage` figures);
// no other module holds SQL for them. Ingest ties blobs and catalog together in
// the order that loses nothing: blob durable → type detected → catalog row committed →
// inbox copy removed.
import DepotCore

/// `[store]`: where blobs are kept and how they are made durable.
public struct StoreSettings: ConfigSection {
    public static let key = "store"
    /// `[store] backend = "s3"` and its `[store.s3]` table: blobs in an S3-compatible bucket;
    /// nil keeps them on the local disk (`backend = "local"`, the default).
    public var s3: S3Settings?
    /// Files whose blobs are made durable together with one barrier (batching the fsyncs).
    public var batchFiles: Int = 256
    /// Bytes after which a batch is closed even if it has fewer files.
    public var batchBytes: Int64 = 256 << 20

    public init() {}

    public init(node: ConfigNode) throws {
        let r = try node.table()
        try r.allow(["batch_files", "batch_bytes", "backend", "s3"])
        if let v = try r.int("batch_files", min: 1, max: 1_000_000) { batchFiles = v }
        if let v = try r.byteSize("batch_bytes", min: 1) { batchBytes = v }
        let table = try r.table("s3")
        switch try r.choice("backend", ["local", "s3"]) ?? "local" {
        case "s3":
            guard let table else { throw r.fail("backend", "\"s3\" needs a [store.s3] table (endpoint, bucket, credentials_file)") }
            s3 = try S3Settings(table: table)
        default:
            if table != nil { throw r.fail("s3", "is read only with backend = \"s3\"") }
        }
    }
}

/// The blob store `settings` ask for: an S3 bucket (staging in the root's store/tmp) or the
/// root's store/blobs.
public func openBlobStore(_ settings: StoreSettings, layout: RootLayout) throws -> any BlobStore {
    if let s3 = settings.s3 { return try S3BlobStore(settings: s3, temp: layout.storeTemp) }
    return try LocalBlobStore(layout: layout)
}
