import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes one line per message to stderr, in a form journald keeps structured.
///
/// Under systemd, stderr is a stream to journald, which reads a leading `<N>` on each line as the
/// syslog priority (journald.conf: `SyslogLevelPrefix=yes`, the default), so `journalctl -p
/// warning` works. On a terminal the prefix would be noise; a UTC time and the level name are
/// written instead. Each message is one line: newlines in it are escaped, so a multi-line error
/// cannot be split into entries that look unrelated.
public struct JournalLogHandler: LogHandler {
    /// How lines look: for journald (priority prefix) or for a person at a terminal (time, level).
    public enum Style: Sendable, Equatable {
        case journal
        case terminal

        /// `.terminal` when stderr is a TTY, else `.journal`.
        public static func forStandardError() -> Style {
            isatty(STDERR_FILENO) == 1 ? .terminal : .journal
        }
    }

    public let label: String
    public let style: Style
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    /// This logger's own level once set; until then the process-wide level from `setLogLevel`,
    /// so a SIGHUP reload can change the level of loggers that already exist.
    private var ownLevel: Logger.Level?

    public var logLevel: Logger.Level {
        get { ownLevel ?? LogOutput.shared.level }
        set { ownLevel = newValue }
    }

    public init(label: String, style: Style = .forStandardError(), metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.style = style
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Precedence as in swift-log's StreamLogHandler: handler < provider < the call's own metadata.
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let own = event.metadata { merged.merge(own) { $1 } }
        if let error = event.error { merged["error"] = .string("\(error)") }
        let line = Self.formatLine(level: event.level, label: label, message: event.message.description,
                                   metadata: merged, style: style,
                                   timestamp: style == .terminal ? wallClockNanoseconds() : 0)
        LogOutput.shared.write(line)
    }

    /// The syslog priority journald reads from the `<N>` prefix (syslog(3): 7 debug … 2 critical).
    public static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// One log line, newline included: a pure function of its inputs, so it can be tested.
    ///
    /// - Parameters:
    ///   - timestamp: wall clock in ns since the epoch; used only by `.terminal`.
    /// - Returns: `<N>label: message key=value…\n` for `.journal`,
    ///   `2025-01-02T03:04:05.678Z level label: message key=value…\n` for `.terminal`.
    ///   Metadata keys are sorted, so equal input gives equal lines.
    public static func formatLine(level: Logger.Level, label: String, message: String,
                                  metadata: Logger.Metadata, style: Style, timestamp: Int64) -> String {
        var line: String
        switch style {
        case .journal: line = "<\(syslogPriority(level))>"
        case .terminal: line = formatTimestamp(timestamp) + " " + level.rawValue + " "
        }
        line += escapeControls(label) + ": " + escapeControls(message)
        for key in metadata.keys.sorted() {
            line += " " + formatKey(key) + "=" + quoteValue(metadata[key]!.description)
        }
        line += "\n"
        return line
    }

    /// Escapes line breaks and other control characters (`\n`, `\r`, `\t`, `\xNN`) so a message stays one line.
    ///
    /// Backslashes are left alone in messages (paths and regexes stay readable); values that need
    /// exact round-trips are metadata, which `quoteValue` escapes fully.
    public static func escapeControls(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += hexEscape(scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A metadata value as written after `key=`: bare when plain, else in double quotes with `\"`,
    /// `\\` and control characters escaped, so `key=value` pairs can be split again unambiguously.
    public static func quoteValue(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains {
            $0 == " " || $0 == "\"" || $0 == "\\" || $0 == "=" || $0.value < 0x20 || $0.value == 0x7F
        }
        guard needsQuotes else { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += hexEscape(scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A key cannot be quoted (`"a b"=1` would confuse parsers); characters that would break the pair become `_`.
    static func formatKey(_ key: String) -> String {
        if key.isEmpty { return "_" }
        return String(String.UnicodeScalarView(key.unicodeScalars.map {
            $0 == " " || $0 == "=" || $0 == "\"" || $0.value < 0x20 || $0.value == 0x7F ? "_" : $0
        }))
    }

    private static func hexEscape(_ value: UInt32) -> String {
        let digits = Array("0123456789abcdef")
        return "\\x" + String(digits[Int(value >> 4)]) + String(digits[Int(value & 0xF)])
    }
}

/// Sets the level of every logger that has not set its own, e.g. after a SIGHUP reload.
public func setLogLevel(_ level: Logger.Level) {
    LogOutput.shared.level = level
}

/// Installs `JournalLogHandler` as the process's log handler with `level`; later calls only change the level.
///
/// `LoggingSystem.bootstrap` may run once per process (a second call traps), and both the CLI
/// and tests reach this, hence the guard.
public func bootstrapLogging(level: Logger.Level) {
    LogOutput.shared.level = level
    guard LogOutput.shared.claimBootstrap() else { return }
    let style = JournalLogHandler.Style.forStandardError()
    LoggingSystem.bootstrap({ label, provider in
        JournalLogHandler(label: label, style: style, metadataProvider: provider)
    }, metadataProvider: nil)
}

/// The process-wide half of logging: the default level and the lock that keeps lines whole.
///
/// `@unchecked Sendable` is safe: `level` and `bootstrapped` are read and written only under
/// `mutex`, and writes to stderr happen under it too. The mutex lives for the process (a
/// `static let`), so it is never destroyed while in use.
final class LogOutput: @unchecked Sendable {
    static let shared = LogOutput()

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var _level: Logger.Level = .info
    private var bootstrapped = false

    private init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    var level: Logger.Level {
        get { locked { _level } }
        set { locked { _level = newValue } }
    }

    /// True exactly once: for the caller that gets to bootstrap.
    func claimBootstrap() -> Bool {
        locked {
            defer { bootstrapped = true }
            return !bootstrapped
        }
    }

    /// Writes one line to stderr with one write(2), under the lock.
    ///
    /// One write(2) per line keeps lines whole against other processes sharing the stream (up
    /// to PIPE_BUF on a pipe); the lock keeps them whole against our own threads even when the
    /// kernel takes a long line in several parts. A failed write is dropped: there is nowhere
    /// left to report it.
    func write(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            locked { _ = try? writeFully(STDERR_FILENO, UnsafeRawBufferPointer(bytes)) }
        }
    }
}
