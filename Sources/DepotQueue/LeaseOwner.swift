import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Names a lease holder so that a later daemon can tell whether it is still alive:
/// "serve:<pid>:<start time in clock ticks since boot>:<host name>" (the start time tells a
/// reused pid apart; the host, a process of another node sharing a PostgreSQL catalog).
public enum LeaseOwner {
    public static func current() -> String {
        "serve:\(getpid()):\(startTime(getpid()) ?? 0):\(host)"
    }

    /// Whether the process named by `owner` is running (unknown forms count as alive). A
    /// process on another host cannot be looked at from here: it counts as alive, and only
    /// its lease running out gives its jobs back.
    public static func isAlive(_ owner: String) -> Bool {
        let parts = owner.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3 || parts.count == 4, parts[0] == "serve", let pid = Int32(parts[1]),
              let start = UInt64(parts[2]) else { return true }
        if parts.count == 4 && parts[3] != host { return true }
        guard let actual = startTime(pid) else { return false }
        return actual == start
    }

    /// This machine's name (without ":", which separates the owner's parts).
    static let host: String = {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "localhost" }
        return String(cString: name).replacingOccurrences(of: ":", with: "_")
    }()

    /// Field 22 of /proc/PID/stat, after the parenthesised command name (which may hold spaces).
    static func startTime(_ pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After ")": state is field 3, so starttime (field 22) is at index 19.
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }
}
