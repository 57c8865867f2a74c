import DepotCore
@testable import DepotStore
import Foundation

/// A fresh folder under /tmp, removed when the test is done with it.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/depot-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` at `relative` (creating folders) and returns the absolute path.
    @discardableResult
    func write(_ relative: String, _ bytes: [UInt8]) throws -> String {
        let file = path + "/" + relative
        try makeDirectories(directoryName(file))
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    @discardableResult
    func write(_ relative: String, _ text: String) throws -> String {
        try write(relative, Array(text.utf8))
    }
}

/// Deterministic pseudo-random bytes.
func noise(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &+ 0x9E3779B97F4A7C15
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

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
