// Fixtures for the watcher tests: a real temporary inbox, a log capture, and a poll loop.
import DepotCore
import Foundation
import Logging
import Testing
@testable import DepotWatch

/// A fresh `inbox/` under /tmp, removed when the test ends.
final class TempInbox {
    let root: String
    let inbox: String

    init() throws {
        var template = Array("/tmp/depot-watch-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError(call: "mkdtemp", errno: errno) }
        root = String(cString: made)
        inbox = root + "/inbox"
        try makeDirectories(inbox)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    func path(_ relative: String) -> String { inbox + "/" + relative }

    func mkdir(_ relative: String) throws {
        try makeDirectories(path(relative))
    }

    /// Writes a whole file (creating its folders) and closes it.
    func write(_ relative: String, bytes: Int = 100, fill: UInt8 = 0x61) throws {
        try makeDirectories(directoryName(path(relative)))
        try writeFile(path(relative), bytes: [UInt8](repeating: fill, count: bytes))
    }

    func append(_ relative: String, bytes: Int) throws {
        let fd = try sysCall("open", path: path(relative)) { open(path(relative), O_WRONLY | O_APPEND | O_CLOEXEC) }
        defer { close(fd) }
        let data = [UInt8](repeating: 0x62, count: bytes)
        try data.withUnsafeBytes { try writeFully(fd, $0) }
    }

    func remove(_ relative: String) {
        unlink(path(relative))
    }
}

func writeFile(_ path: String, bytes: [UInt8]) throws {
    let fd = try sysCall("open", path: path) { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
    defer { close(fd) }
    try bytes.withUnsafeBytes { try writeFully(fd, $0, path: path) }
}

/// Keeps every log line a watcher writes, for asserting on warnings.
final class LogCapture: @unchecked Sendable {
    // @unchecked: `lines` is only touched under `lock`.
    private let lock = NSLock()
    private var lines: [(level: Logger.Level, message: String)] = []

    var logger: Logger {
        var logger = Logger(label: "depot.watch.test") { _ in CapturingHandler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    func append(_ level: Logger.Level, _ message: String) {
        lock.lock()
        lines.append((level, message))
        lock.unlock()
    }

    func messages(at level: Logger.Level) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines.filter { $0.level == level }.map(\.message)
    }
}

struct CapturingHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var text = "\(event.message)"
        if let metadata = event.metadata, !metadata.isEmpty {
            text += " " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        capture.append(event.level, text)
    }
}

/// Settings that keep tests fast: short quiet period, no timed rescans unless asked.
func testConfig(_ change: (inout InboxSettings) -> Void = { _ in }) -> InboxSettings {
    var inbox = InboxSettings()
    inbox.quietPeriod = .milliseconds(100)
    inbox.rescanInterval = .seconds(600)
    inbox.pollInterval = .seconds(600)
    inbox.retryInitial = .milliseconds(500)
    inbox.retryMax = .seconds(4)
    change(&inbox)
    return inbox
}

/// The collections' settings as depot serve resolves them, from `[inbox]` alone.
func collectionResolver(_ inbox: InboxSettings, root: String) -> CollectionSettingsResolver {
    CollectionSettingsResolver(defaults: CollectionSettings(mode: inbox.mode, quietPeriod: inbox.quietPeriod, ignore: inbox.ignore),
                               inbox: root)
}

extension InboxWatcher {
    convenience init(inbox: String, config: InboxSettings, logger: Logger) {
        self.init(inbox: inbox, settings: config, collections: collectionResolver(config, root: inbox), logger: logger)
    }

    func reload(config: InboxSettings) {
        reload(settings: config, collections: collectionResolver(config, root: inboxPath))
    }
}

/// A file handed out, with when (monotonic ns).
struct Handout {
    var file: InboxFile
    var at: Int64
}

/// Polls until `done` says enough or `limit` passes; returns everything handed out meanwhile.
func collect(_ watcher: InboxWatcher, for limit: Duration,
             until done: ([Handout]) -> Bool = { _ in false }) -> [Handout] {
    let deadline = monotonicNanoseconds() + limit.nanosecondsValue
    var result: [Handout] = []
    while monotonicNanoseconds() < deadline {
        let files = watcher.poll(timeout: .milliseconds(50))
        let now = monotonicNanoseconds()
        result += files.map { Handout(file: $0, at: now) }
        if done(result) { break }
    }
    return result
}

/// Polls until a file with this relative path (inside its collection) is handed out.
func waitFor(_ watcher: InboxWatcher, _ relativePath: String, within limit: Duration = .seconds(5)) -> Handout? {
    collect(watcher, for: limit) { $0.contains { $0.file.relativePath == relativePath } }
        .first { $0.file.relativePath == relativePath }
}
