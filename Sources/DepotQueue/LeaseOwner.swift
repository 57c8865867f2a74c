import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Names a lease holder so that a later daemon can tell whether it is still alive:
/// "serve:<pid>:<start time in clock ticks since boot>" (the start time tells a reused pid apart).
public enum LeaseOwner {
    public static func current() -> String {
        "serve:\(getpid()):\(startTime(getpid()) ?? 0)"
    }

    /// Whether the process named by `owner` is running (unknown forms count as alive).
    public static func isAlive(_ owner: String) -> Bool {
        let parts = owner.split(separator: ":")
        guard parts.count == 3, parts[0] == "serve", let pid = Int32(parts[1]), let start = UInt64(parts[2]) else { return true }
        guard let actual = startTime(pid) else { return false }
        return actual == start
    }

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
