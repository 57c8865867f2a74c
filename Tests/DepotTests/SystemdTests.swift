import DepotCore
import DepotTestSupport
import Foundation
import Testing

/// A notify socket like systemd's: collects the datagrams `depot serve` sends.
final class NotifySocket {
    let path: String
    private let fd: Int32
    private let messages = Locked<[String]>([])
    private var thread: Thread?
    private let stopped = Locked(false)

    init(directory: String) throws {
        path = directory + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestFailure("bind \(path): \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let sock = self.fd, messages = self.messages, stopped = self.stopped
        thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !stopped.value {
                let n = recv(sock, &buffer, buffer.count, 0)
                if n > 0 { messages.set(messages.value + [String(decoding: buffer[0..<n], as: UTF8.self)]) }
            }
        }
        thread?.start()
    }

    var received: [String] { messages.value }

    deinit {
        stopped.set(true)
        usleep(200_000)
        close(fd)
    }
}

@Suite(.serialized, .tags(.slow), .slowTest) struct SystemdTests {
    @Test func readyComesAfterTheFirstRescanThenStatusWatchdogReloadAndStop() throws {
        let root = try DemoRoot(quietPeriod: "0s")
        // A file that waits in the inbox: the start-up rescan must have seen it before READY=1.
        try root.drop("docs/early.txt", Array("early".utf8))
        let socket = try NotifySocket(directory: root.path)
        let server = try root.serve(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "400000"])
        #expect(waitUntil(seconds: 10) { socket.received.contains { $0.contains("READY=1") } }, "\(server.stderr)")
        let ready = try #require(socket.received.first { $0.contains("READY=1") })
        #expect(ready.contains("STATUS=watching"))
        #expect(ready.contains("1 files pending") || ready.contains("1 stored"), "\(ready)")
        #expect(waitUntil(seconds: 5) { socket.received.filter { $0 == "WATCHDOG=1" }.count >= 2 })

        server.signal(SIGHUP)
        #expect(waitUntil(seconds: 5) { socket.received.contains { $0.hasPrefix("RELOADING=1") } }, "\(server.stderr)")
        #expect(waitUntil(seconds: 5) { server.stderr.contains("configuration reloaded") })

        server.signal(SIGTERM)
        #expect(server.wait() == 0)
        #expect(socket.received.contains { $0.contains("STOPPING=1") })
    }
}
