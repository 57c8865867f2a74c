import DepotCore
import DepotQueue
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// Runs `depot ARGS…` to completion (under `prefix`, e.g. timeout(1), when given).
@discardableResult
func depot(_ arguments: [String], prefix: [String] = []) throws -> RunResult {
    prefix.isEmpty ? try runBlocking(depotBinary, arguments)
        : try runBlocking(prefix[0], Array(prefix.dropFirst()) + [depotBinary] + arguments)
}

/// A depot root in a temp folder, initialised with `depot init`, with test-friendly timings.
final class DemoRoot {
    let path: String
    var layout: RootLayout { RootLayout(root: path) }

    /// - Parameter at: an empty folder to lay the root out in (default: a new one in /tmp).
    init(quietPeriod: String = "200ms", rescanInterval: String = "2s", extra: String = "", at folder: String? = nil) throws {
        if let folder {
            path = folder
        } else {
            var template = Array("/tmp/depot-e2e-XXXXXX".utf8CString)
            path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        }
        let result = try depot(["init", path])
        guard result.status == 0 else { throw TestFailure("depot init failed: \(result.stderr)") }
        try setConfig(quietPeriod: quietPeriod, rescanInterval: rescanInterval, extra: extra)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func setConfig(quietPeriod: String, rescanInterval: String, extra: String = "") throws {
        let config = """
            root = "\(path)"
            [inbox]
            quiet_period = "\(quietPeriod)"
            rescan_interval = "\(rescanInterval)"
            retry_initial = "300ms"
            retry_max = "1s"
            \(extra)
            \(extra.contains("[http]") ? "" : "[http]\nport = 0  # any free port: tests run several daemons at once")
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: layout.configFile))
    }

    /// Writes a file into the inbox (via a temp name and a rename, as a careful writer does).
    @discardableResult
    func drop(_ relative: String, _ bytes: [UInt8]) throws -> String {
        let file = layout.inbox + "/" + relative
        try makeDirectories(directoryName(file))
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    /// The root's catalog, on a connection of the test's own (the daemon migrated it).
    func catalog() throws -> Catalog { Catalog(database: try SQLiteDatabase(path: layout.catalog)) }

    /// The root's job queue, as `depot jobs` opens it.
    func queue() throws -> JobQueue { JobQueue(catalog: try catalog(), settings: JobsSettings()) }

    /// Starts `depot serve` on this root.
    func serve(prefix: [String] = [], environment: [String: String] = [:]) throws -> Server {
        try Server(root: path, prefix: prefix, environment: environment)
    }
}

/// A running `depot serve`; its stderr is collected.
final class Server {
    let process = Process()
    private let log = Locked("")

    init(root: String, prefix: [String] = [], environment: [String: String] = [:], arguments: [String] = []) throws {
        if prefix.isEmpty {
            process.executableURL = URL(fileURLWithPath: depotBinary)
            process.arguments = ["serve", "--root", root] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: prefix[0])
            process.arguments = Array(prefix.dropFirst()) + [depotBinary, "serve", "--root", root] + arguments
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        let log = self.log
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { log.set(log.value + String(decoding: data, as: UTF8.self)) }
        }
        try process.run()
    }

    var stderr: String { log.value }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for exit; returns the status (or the signal, negated).
    @discardableResult
    func wait(seconds: Double = 20) -> Int32? {
        guard waitUntil(seconds: seconds, { !self.process.isRunning }) else { return nil }
        return process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func sha256(_ bytes: [UInt8]) -> String { SHA256Hasher.digest(bytes).hex }

/// Files (not folders) under `path`, relative to it.
func filesUnder(_ path: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: path) else { return [] }
    var files: [String] = []
    while let relative = walker.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
            files.append(relative)
        }
    }
    return files.sorted()
}

func parseJSON(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8))
}
