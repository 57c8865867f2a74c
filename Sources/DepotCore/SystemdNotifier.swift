#if canImport(Glibc)
import Glibc
#endif

/// Tells systemd how the service is doing, over the `sd_notify` datagram protocol, without libsystemd.
///
/// The protocol (sd_notify(3)): one `AF_UNIX` datagram per message, sent to the socket named by
/// `$NOTIFY_SOCKET`, holding newline-separated `KEY=VALUE` assignments. Outside systemd (no
/// `$NOTIFY_SOCKET`) every call does nothing, so callers never need to check `isActive` first.
/// A failed send is never thrown: a service must not stop because its supervisor missed a status
/// line. The methods return whether the datagram went out, so a caller may log a failure at debug.
///
/// `@unchecked Sendable` is safe: every stored property is a `let` set in `init`, and the only
/// shared resource, the socket, is used solely through `sendto(2)`, which the kernel serialises
/// per datagram; the descriptor is closed in `deinit`, when no other reference can use it.
public final class SystemdNotifier: @unchecked Sendable {
    /// The `sockaddr_un` bytes of the notify socket and their length, or nil when inactive.
    private let address: (storage: sockaddr_un, length: socklen_t)?
    /// The datagram socket, or -1 when inactive or when it could not be created.
    private let socket: Int32
    /// `WATCHDOG_USEC`, when present and valid.
    private let watchdogMicroseconds: UInt64?
    /// `WATCHDOG_PID`, when present: the watchdog settings are meant only for that process.
    private let watchdogPID: pid_t?

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    ///
    /// - Parameter environment: the variables to read; the process environment by default
    ///   (tests pass their own).
    public init(environment: [String: String] = processEnvironment()) {
        address = environment["NOTIFY_SOCKET"].flatMap(Self.socketAddress)
        if address != nil,
           let fd = try? sysCall("socket", { Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }) {
            // A wedged PID 1 with a full receive queue would block sendto(2) forever; wait at
            // most two seconds and drop that message rather than stall the service (or its
            // watchdog pings, which would then get it killed anyway).
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            socket = fd
        } else {
            socket = -1
        }
        watchdogMicroseconds = environment["WATCHDOG_USEC"].flatMap { UInt64($0) }.flatMap { $0 > 0 ? $0 : nil }
        watchdogPID = environment["WATCHDOG_PID"].flatMap { pid_t($0) }
    }

    deinit {
        if socket >= 0 { close(socket) }
    }

    /// Whether the service runs under systemd with a notify socket (and the socket could be opened).
    public var isActive: Bool { socket >= 0 }

    /// How often systemd expects `watchdog()`, or nil when the watchdog is off or meant for another process.
    ///
    /// This is the full `WatchdogSec=`; ping at half of it, as sd_watchdog_enabled(3) advises,
    /// so one late tick is not fatal.
    public var watchdogInterval: Duration? {
        guard let usec = watchdogMicroseconds else { return nil }
        // sd_watchdog_enabled(3): WATCHDOG_PID names the process the settings are for; a child
        // that inherited the environment must not think it is being watched.
        if let pid = watchdogPID, pid != getpid() { return nil }
        return .microseconds(Int64(clamping: usec))
    }

    /// Says start-up is finished (`READY=1`), with a status line.
    @discardableResult
    public func ready(status: String? = nil) -> Bool {
        send("READY=1" + (status.map { "\nSTATUS=" + Self.oneLine($0) } ?? ""))
    }

    /// Sets the free-form status line `systemctl status` shows.
    @discardableResult
    public func status(_ text: String) -> Bool {
        send("STATUS=" + Self.oneLine(text))
    }

    /// Says shutdown has begun (`STOPPING=1`), so systemd shows "deactivating" rather than a hang.
    @discardableResult
    public func stopping() -> Bool {
        send("STOPPING=1")
    }

    /// Pings the watchdog (`WATCHDOG=1`).
    @discardableResult
    public func watchdog() -> Bool {
        send("WATCHDOG=1")
    }

    /// Says a configuration reload has begun.
    ///
    /// systemd ≥ 253 (`Type=notify-reload`) wants `MONOTONIC_USEC` beside `RELOADING=1` to tell
    /// this reload from an earlier one; older versions ignore the extra field.
    @discardableResult
    public func reloading() -> Bool {
        send("RELOADING=1\nMONOTONIC_USEC=\(monotonicNanoseconds() / 1000)")
    }

    /// Says the reload has finished (`READY=1`).
    @discardableResult
    public func reloaded() -> Bool {
        send("READY=1")
    }

    /// Asks for more time before systemd's start/stop timeout fires (`EXTEND_TIMEOUT_USEC`),
    /// e.g. while a long recovery runs before `ready`.
    @discardableResult
    public func extendTimeout(by interval: Duration) -> Bool {
        send("EXTEND_TIMEOUT_USEC=\(max(0, interval.nanosecondsValue / 1000))")
    }

    /// Sends one raw notify message (newline-separated `KEY=VALUE` lines); false if it did not go out.
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard socket >= 0, var address else { return false }
        var bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &address.storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeMutableBytes { buffer in
                    // MSG_NOSIGNAL: a vanished receiver must not raise SIGPIPE in the service.
                    try? sysCall("sendto", path: nil) {
                        sendto(socket, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), sa, address.length)
                    }
                }
            }
        }
        return sent == bytes.count
    }

    /// A status value must stay on one line: a newline would start a new assignment.
    private static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }

    /// The `sockaddr_un` for a `NOTIFY_SOCKET` value: a path, or an abstract name when it starts with '@'.
    static func socketAddress(_ name: String) -> (storage: sockaddr_un, length: socklen_t)? {
        var bytes = Array(name.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else {
            // sd_notify(3) accepts only absolute paths, abstract names and (systemd ≥ 254)
            // vsock addresses, which depot does not need.
            return nil
        }
        let isAbstract = first == UInt8(ascii: "@")
        // Linux abstract namespace: sun_path starts with a NUL and the name is the following
        // bytes up to the given length, with no terminating NUL (unix(7)).
        if isAbstract { bytes[0] = 0 }
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: storage.sun_path)
        // A path needs room for its terminating NUL; an abstract name does not.
        guard bytes.count + (isAbstract ? 0 : 1) <= capacity else { return nil }
        withUnsafeMutableBytes(of: &storage.sun_path) { path in
            path.copyBytes(from: bytes)
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        let length = pathOffset + bytes.count + (isAbstract ? 0 : 1)
        return (storage, socklen_t(length))
    }
}

/// The process environment as a dictionary, read from `environ` (DepotCore does not use Foundation).
public func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
        let text = String(cString: pointer)
        if let equals = text.firstIndex(of: "=") {
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        entry += 1
    }
    return result
}
