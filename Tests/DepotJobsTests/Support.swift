import DepotCore
import DepotStore
import DepotTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs python3 with `script` (and arguments); returns stdout, throws on failure.
@discardableResult
func python(_ script: String, _ arguments: [String] = []) throws -> String {
    let process = Process()
    // Debian's python3 (with python3-jsonschema from the Makefile's DEB_TEST), not a user's pyenv.
    process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    process.arguments = ["-c", script] + arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw JobsTestFailure("python3 failed: \(String(decoding: errors, as: UTF8.self))")
    }
    return String(decoding: data, as: UTF8.self)
}

struct JobsTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The repository root (for docs/schemas).
func repositoryRoot() -> String {
    var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}
