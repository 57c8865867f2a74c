import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation

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
    case local, memory
    var testDescription: String { rawValue }

    func make(in dir: TemporaryDirectory) throws -> BlobStore {
        switch self {
        case .local: return try LocalBlobStore(blobs: dir.path + "/store/blobs", temp: dir.path + "/store/tmp")
        case .memory: return MemoryBlobStore()
        }
    }
}

enum CatalogKind: String, CaseIterable, CustomTestStringConvertible {
    case file, memory
    var testDescription: String { rawValue }

    func make(in dir: TemporaryDirectory) throws -> Catalog {
        switch self {
        case .file: return try SQLiteCatalog(path: dir.path + "/catalog.sqlite3")
        case .memory: return try SQLiteCatalog(path: ":memory:")
        }
    }
}

import Testing
