import DepotCore
import DepotStore
import DepotTestSupport
import Foundation
import Testing

/// The `depot` binary built beside this test bundle.
let depotBinary: String = {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    // The test bundle is .build/<config>/depotPackageTests.xctest; depot sits beside it.
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("depot").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return exe.deletingLastPathComponent().appendingPathComponent("depot").path
}()

struct RunResult {
    var status: Int32
    var stdoutData: Data
    var stderr: String
    var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
}

/// Runs `depot ARGS…` to completion.
@discardableResult
func depot(_ arguments: [String], prefix: [String] = []) throws -> RunResult {
    let process = Process()
    if prefix.isEmpty {
        process.executableURL = URL(fileURLWithPath: depotBinary)
        process.arguments = arguments
    } else {
        process.executableURL = URL(fileURLWithPath: prefix[0])
        process.arguments = Array(prefix.dropFirst()) + [depotBinary] + arguments
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes while it runs so a chatty child never blocks on a full pipe.
    let errData = Locked(Data())
    let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errData.isSet { usleep(1000) }
    return RunResult(status: process.terminationStatus, stdoutData: outData,
                     stderr: String(decoding: errData.value, as: UTF8.self))
}

/// A value set once by another thread.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    private var wasSet = false
    init(_ value: T) { stored = value }
    func set(_ value: T) { lock.withLock { stored = value; wasSet = true } }
    var value: T { lock.withLock { stored } }
    var isSet: Bool { lock.withLock { wasSet } }
}

/// A depot root in a temp folder, initialised with `depot init`, with test-friendly timings.
final class DemoRoot {
    let path: String
    var layout: RootLayout { RootLayout(root: path) }

    init(quietPeriod: String = "200ms", rescanInterval: String = "2s", extra: String = "") throws {
        var template = Array("/tmp/depot-e2e-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
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

    func catalog() throws -> SQLiteCatalog { try SQLiteCatalog(path: layout.catalog) }

    /// Starts `depot serve` on this root.
    func serve(prefix: [String] = [], environment: [String: String] = [:]) throws -> Server {
        try Server(root: path, prefix: prefix, environment: environment)
    }
}

/// A running `depot serve`; its stderr is collected.
final class Server {
    let process = Process()
    private let log = Locked("")

    init(root: String, prefix: [String], environment: [String: String]) throws {
        if prefix.isEmpty {
            process.executableURL = URL(fileURLWithPath: depotBinary)
            process.arguments = ["serve", "--root", root]
        } else {
            process.executableURL = URL(fileURLWithPath: prefix[0])
            process.arguments = Array(prefix.dropFirst()) + [depotBinary, "serve", "--root", root]
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
