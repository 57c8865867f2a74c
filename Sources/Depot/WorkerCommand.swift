import ArgumentParser
import DepotRunner
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `depot worker …`: becomes `depot-worker …` (hidden; what scripts that speak the worker
/// protocol start). The processors live in that executable only: this one never links them.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run processing jobs sent by `depot serve` (internal: runs depot-worker).",
        shouldDisplay: false)

    @Argument(parsing: .captureForPassthrough, help: "depot-worker's options (depot-worker --help).")
    var arguments: [String] = []

    func run() throws {
        let path = JobRunner.workerExecutable
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        throw CommandFailure(.unavailable, "cannot run \(path): \(String(cString: strerror(errno)))")
    }
}
