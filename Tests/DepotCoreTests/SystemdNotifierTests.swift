import Testing
@testable import DepotCore
#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for systemd's notify socket: bound to a path or an abstract name.
final class NotifyReceiver {
    let fd: Int32
    /// The value systemd would put in `$NOTIFY_SOCKET`.
    let name: String
    private let directory: String?

    /// Binds a socket at `DIR/notify` in a fresh temporary folder.
    init() throws {
        var template = Array("/tmp/depot-notify-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { throw SystemError(call: "mkdtemp", errno: errno) }
        directory = String(cString: dir)
        name = directory! + "/notify"
        fd = try NotifyReceiver.bound(to: name, abstract: false)
    }

    /// Binds a socket in the abstract namespace; `name` is '@' + the abstract name.
    init(abstract: String) throws {
        directory = nil
        name = "@" + abstract
        fd = try NotifyReceiver.bound(to: abstract, abstract: true)
    }

    deinit {
        close(fd)
        if let directory {
            unlink(directory + "/notify")
            rmdir(directory)
        }
    }

    /// Builds the address by hand (not with the code under test) and binds a receiving socket.
    private static func bound(to name: String, abstract: Bool) throws -> Int32 {
        let fd = try sysCall("socket") { socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = (abstract ? [0] : []) + Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(2 + bytes.count + (abstract ? 0 : 1))
        _ = try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try sysCall("bind", path: name) { bind(fd, sa, length) }
            }
        }
        return fd
    }

    /// The next datagram as text (waits up to 5 s).
    func receive() throws -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = try buffer.withUnsafeMutableBytes { raw in
            try sysCall("recv") { recv(fd, raw.baseAddress, raw.count, 0) }
        }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}

@Suite struct SystemdNotifierTests {
    @Test func inactiveWithoutNotifySocket() {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isActive)
        #expect(notifier.ready(status: "x") == false)
        #expect(notifier.watchdog() == false)
        #expect(notifier.watchdogInterval == nil)
    }

    @Test func inactiveForRelativeOrOverlongSocketName() {
        #expect(!SystemdNotifier(environment: ["NOTIFY_SOCKET": "relative/path"]).isActive)
        #expect(!SystemdNotifier(environment: ["NOTIFY_SOCKET": "/" + String(repeating: "a", count: 200)]).isActive)
    }

    @Test func messagesArriveWithExactContentOnPathSocket() throws {
        let receiver = try NotifyReceiver()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": receiver.name])
        #expect(notifier.isActive)

        #expect(notifier.ready(status: "recovered; watching 3 collections"))
        #expect(try receiver.receive() == "READY=1\nSTATUS=recovered; watching 3 collections")
        #expect(notifier.ready())
        #expect(try receiver.receive() == "READY=1")
        #expect(notifier.status("ingesting a.mp4"))
        #expect(try receiver.receive() == "STATUS=ingesting a.mp4")
        notifier.status("two\nlines")
        #expect(try receiver.receive() == "STATUS=two lines")
        #expect(notifier.watchdog())
        #expect(try receiver.receive() == "WATCHDOG=1")
        #expect(notifier.stopping())
        #expect(try receiver.receive() == "STOPPING=1")
        #expect(notifier.extendTimeout(by: .seconds(90)))
        #expect(try receiver.receive() == "EXTEND_TIMEOUT_USEC=90000000")
    }

    @Test func reloadingCarriesMonotonicTimestamp() throws {
        let receiver = try NotifyReceiver()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": receiver.name])
        let before = monotonicNanoseconds() / 1000
        notifier.reloading()
        let after = monotonicNanoseconds() / 1000
        let lines = try receiver.receive().split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first == "RELOADING=1")
        let usec = try #require(lines.last.flatMap { $0.hasPrefix("MONOTONIC_USEC=") ? Int64($0.dropFirst(15)) : nil })
        #expect(usec >= before && usec <= after)
        notifier.reloaded()
        #expect(try receiver.receive() == "READY=1")
    }

    @Test func messagesArriveOnAbstractSocket() throws {
        let receiver = try NotifyReceiver(abstract: "depot-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": receiver.name])
        #expect(notifier.isActive)
        #expect(notifier.ready(status: "abstract"))
        #expect(try receiver.receive() == "READY=1\nSTATUS=abstract")
        #expect(notifier.watchdog())
        #expect(try receiver.receive() == "WATCHDOG=1")
    }

    @Test func sendToMissingSocketFailsQuietly() throws {
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/nonexistent-depot-dir/notify"])
        #expect(notifier.isActive)  // the socket exists; only the receiver is missing
        #expect(notifier.ready(status: "nobody listens") == false)
    }

    @Test func watchdogIntervalFromUsec() {
        let n = SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000"])
        #expect(n.watchdogInterval == .seconds(30))
    }

    @Test func watchdogIntervalHonoursPid() {
        let mine = SystemdNotifier(environment: ["WATCHDOG_USEC": "1500000", "WATCHDOG_PID": "\(getpid())"])
        #expect(mine.watchdogInterval == .milliseconds(1500))
        let other = SystemdNotifier(environment: ["WATCHDOG_USEC": "1500000", "WATCHDOG_PID": "\(getpid() + 1)"])
        #expect(other.watchdogInterval == nil)
    }

    @Test(arguments: ["", "0", "-5", "abc", "30s"])
    func watchdogIntervalRejectsBadUsec(_ value: String) {
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": value]).watchdogInterval == nil)
    }

    @Test func processEnvironmentReadsEnviron() {
        setenv("DEPOT_TEST_ENV", "a=b c", 1)
        #expect(processEnvironment()["DEPOT_TEST_ENV"] == "a=b c")
    }
}
