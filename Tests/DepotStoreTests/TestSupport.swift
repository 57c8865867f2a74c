import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// SHA-256 of a file as coreutils computes it: an independent check on our hashing.
func coreutilsSHA256(_ path: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    process.arguments = [path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(String(decoding: data, as: UTF8.self).prefix(64))
}

/// The kinds of store and catalog the shared suites run against.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case local, memory, s3
    var testDescription: String { rawValue }

    func make(in dir: TemporaryDirectory) throws -> BlobStore {
        switch self {
        case .local: return try LocalBlobStore(blobs: dir.path + "/store/blobs", temp: dir.path + "/store/tmp")
        case .memory: return MemoryBlobStore()
        case .s3: return try TestS3Server.shared().store(in: dir)
        }
    }
}

/// A catalog over a fresh database of `backend` with the store's tables.
func makeCatalog(_ backend: CatalogBackend, in dir: TemporaryDirectory) throws -> Catalog {
    Catalog(database: try backend.make(in: dir, migrations: Catalog.migrations))
}
