@testable import DepotHTTP
import DepotCore
import Foundation
import Synchronization
import HummingbirdTesting
import DepotTestSupport
import Testing

/// Runs blocking socket I/O on a thread of its own: blocking the Swift concurrency pool would
/// starve the server under test, whose handlers run there — and a pool busy with other tests
/// must not stretch a client's pauses either.
func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in Thread.detachNewThread { continuation.resume(returning: body()) } }
}

/// A raw TCP connection to the server under test: what a slow or pipelining client sends.
/// Its blocking reads go through `offPool`.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    /// - Parameter source: the loopback address it comes from (127.0.0.0/8 is all local), so
    ///   one test can be several clients.
    init(port: Int, receiveBuffer: Int32? = nil, from source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw SystemError(call: "bind", errno: errno, path: source) }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw SystemError(call: "connect", errno: errno, path: "127.0.0.1:\(port)") }
    }

    deinit { close(fd) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads until `until` holds for what came so far, the peer closes, or `seconds` pass.
    func read(for seconds: Double, until: ([UInt8]) -> Bool) -> (bytes: [UInt8], closed: Bool) {
        var out: [UInt8] = []
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline, !until(out) {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000))) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return (out, true) }
            out += buffer[0..<n]
        }
        return (out, false)
    }

    /// One whole response (head, and a body of its Content-Length unless `head`), or nil when
    /// it is not complete within `seconds`.
    func response(within seconds: Double, head: Bool, pace: useconds_t = 0) -> (status: Int, header: String, body: [UInt8])? {
        var bytes = pending
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) {
                let header = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
                let length = header.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                let total = end.upperBound + (head ? 0 : length)
                if bytes.count >= total, let status = statusCodes(Array(bytes[..<end.lowerBound])).first {
                    pending = Array(bytes[total...])
                    return (status, header, Array(bytes[end.upperBound..<total]))
                }
            }
            let (more, closed) = read(for: min(0.2, max(0.01, deadline.timeIntervalSinceNow)), until: { !$0.isEmpty })
            bytes += more
            if pace > 0 { usleep(pace) }  // a slow reader
            if closed { break }
        }
        pending = bytes
        return nil
    }

    private var pending: [UInt8] = []

    /// Whether bytes wait to be read within `seconds` (none is consumed).
    func readable(within seconds: Double) async -> Bool {
        await offPool {
            var p = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
            return poll(&p, 1, Int32(seconds * 1000)) > 0
        }
    }

    /// Whether the server closed the connection within `seconds` (any bytes before are dropped).
    func closes(within seconds: Double) async -> Bool { await offPool { self.read(for: seconds, until: { _ in false }).closed } }

    func response(within seconds: Double, pace: useconds_t = 0) async -> (status: Int, header: String, body: [UInt8])? {
        await offPool { self.response(within: seconds, head: false, pace: pace) }
    }

    func read(for seconds: Double) async -> (bytes: [UInt8], closed: Bool) {
        await offPool { self.read(for: seconds, until: { _ in false }) }
    }
}

/// The responses' status codes in `bytes`, in order ("HTTP/1.1 200 OK\r\n…").
func statusCodes(_ bytes: [UInt8]) -> [Int] {
    String(decoding: bytes, as: UTF8.self).components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
}

func get(_ path: String, _ extra: String = "") -> String { "GET \(path) HTTP/1.1\r\nHost: t\r\n\(extra)\r\n" }

@Suite(.tags(.slow), .slowTest) struct ConnectionTests {
    /// A stored file of `size` bytes behind a server whose header and idle timeouts are `timeout`.
    func fixture(size: Int = 100_000, timeout: Duration = .milliseconds(800)) throws -> Fixture {
        try Fixture(http: {
            $0.headerTimeout = timeout
            $0.idleTimeout = timeout
        }, size: size)
    }

    @Test func aClientTricklingItsHeadersIsClosedAtTheHeaderTimeout() async throws {
        let f = try fixture()
        try await f.application().test(.live) { client in
            let c = try RawConnection(port: try #require(client.port))
            // A byte every 100 ms keeps the socket busy but never completes a head.
            let (closed, seconds) = await offPool { () -> (Bool, Double) in
                let start = Date()
                for byte in "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8 {
                    c.send(String(decoding: [byte], as: UTF8.self))
                    if c.read(for: 0.1, until: { _ in false }).closed { return (true, Date().timeIntervalSince(start)) }
                }
                return (false, Date().timeIntervalSince(start))
            }
            #expect(closed, "still open after \(seconds) s")
            #expect(seconds < 6)
        }
    }

    @Test func anIdleKeptAliveConnectionIsClosedAndABodyThatStopsComingToo() async throws {
        let f = try fixture()
        try await f.application().test(.live) { client in
            let port = try #require(client.port)
            let idle = try RawConnection(port: port)
            idle.send(get("/healthz"))
            #expect(await idle.response(within: 30)?.status == 200)
            #expect(await idle.closes(within: 10))

            let upload = try RawConnection(port: port)
            upload.send("POST /api/v1/links HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"version")
            #expect(await upload.closes(within: 10))
        }
    }

    @Test func aConnectionThatKeepsDownloadingOutlivesTheIdleTimeout() async throws {
        // Downloads answered on the event loop count as activity: the connection is idle only
        // between responses. 25 downloads 100 ms apart outlast the 0.6 s idle timeout; the link
        // is remembered for a second, so most of them never reach the router.
        let f = try fixture(timeout: .milliseconds(600))
        let url = try f.link()
        try await f.application().test(.live) { client in
            let c = try RawConnection(port: try #require(client.port))
            let (answered, seconds) = await offPool { () -> (Int, Double) in
                let start = Date()
                for i in 0..<25 {
                    c.send(get(url))
                    // Some go through the router (the link is remembered for a second only),
                    // which a busy test run can make slow: no timer runs while it answers.
                    guard let response = c.response(within: 30, head: false),
                          response.status == 200, response.body == f.bytes else { return (i, 0) }
                    usleep(100_000)
                }
                return (25, Date().timeIntervalSince(start))
            }
            #expect(answered == 25)
            #expect(seconds > 2.5)
        }
    }

    @Test func manyConnectionsShareOneOpenBlobAndEachGetsItsBytes() async throws {
        // Responses answered from memory send one shared descriptor of the blob; none of them
        // may close it under another, or take another's offset.
        let f = try Fixture(size: 300_000)
        let url = try f.link()
        try await f.application().test(.live) { client in
            let port = try #require(client.port)
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for connection in 0..<4 {
                    let c = try RawConnection(port: port)
                    group.addTask {
                        var good = 0
                        for i in 0..<10 {
                            let first = (connection * 10 + i) * 997
                            c.send(get(url, i % 3 == 0 ? "" : "Range: bytes=\(first)-\(first + 4999)\r\n"))
                            let r = await c.response(within: 30)
                            let expected = i % 3 == 0 ? f.bytes : Array(f.bytes[first...(first + 4999)])
                            if r?.body == expected { good += 1 }
                        }
                        return good
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(results == [10, 10, 10, 10])
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        // /readyz takes a trip to a blocking thread in the router; a download after it whose
        // link is in memory could be answered at once on the event loop — but must come after.
        let f = try fixture()
        let url = try f.link()
        try await f.application().test(.live) { client in
            let port = try #require(client.port)
            let warm = try RawConnection(port: port)
            warm.send(get(url))
            let warmed = await warm.response(within: 30)?.body == f.bytes
            #expect(warmed)
            let c = try RawConnection(port: port)
            c.send(get("/readyz") + get(url, "Range: bytes=0-9\r\n") + get("/nowhere") + get(url, "Range: bytes=10-19\r\n"))
            var responses: [(status: Int, header: String, body: [UInt8])] = []
            for _ in 0..<4 { if let r = await c.response(within: 30) { responses.append(r) } }
            #expect(responses.map(\.status) == [200, 206, 404, 206])
            guard responses.count == 4 else { return }
            #expect(String(decoding: responses[0].body, as: UTF8.self).contains("\"status\":\"ready\""))
            #expect(responses[1].body == Array(f.bytes[0..<10]))
            #expect(responses[1].header.contains("Content-Range: bytes 0-9/\(f.bytes.count)"))
            #expect(String(decoding: responses[2].body, as: UTF8.self).contains("\"code\":\"not_found\""))
            #expect(responses[3].body == Array(f.bytes[10..<20]))
        }
    }

    @Test func aGracefulShutdownLetsADownloadInFlightFinish() async throws {
        // 12 MB is more than the loopback socket buffers hold: the response is still being
        // written when the server shuts down, and must go out whole before the connection closes.
        let f = try Fixture(size: 12 << 20)
        let url = try f.link()
        let reader = Mutex<Task<(status: Int, header: String, body: [UInt8])?, Never>?>(nil)
        try await f.application().test(.live) { client in
            let port = try #require(client.port)
            let warm = try RawConnection(port: port)
            warm.send(get(url, "Range: bytes=0-0\r\n"))
            #expect(await warm.response(within: 30)?.status == 206)
            let c = try RawConnection(port: port)
            c.send(get(url))
            // The response has begun (and 12 MB cannot all be in the socket buffers yet).
            #expect(await c.readable(within: 30))
            // Read only once the shutdown has begun (when this closure returns).
            reader.withLock { $0 = Task { try? await Task.sleep(for: .seconds(1)); return await c.response(within: 30) } }
        }
        let response = await reader.withLock { $0 }?.value
        let whole = response?.status == 200 && response?.body == f.bytes
        #expect(whole, "got \(response?.body.count ?? -1) of \(f.bytes.count) bytes")
    }

    @Test func aSlowDownloadOutlastsTheIdleTimeoutAndAConnectionClose() async throws {
        // 12 MB read 64 KiB per 20 ms, through a small receive buffer, takes seconds: the idle
        // timeout (0.6 s; a close waits as long for bytes in flight) starts only once the last
        // byte left. And a close asked for right after a response (Connection: close) waits for
        // the bytes still to send.
        let f = try fixture(size: 12 << 20, timeout: .milliseconds(600))
        let url = try f.link()
        try await f.application().test(.live) { client in
            let port = try #require(client.port)
            for (extra, pace) in [("", useconds_t(20_000)), ("Connection: close\r\n", 0)] {
                let c = try RawConnection(port: port, receiveBuffer: 128 << 10)
                c.send(get(url, extra))
                let response = await c.response(within: 60, pace: pace)
                let whole = response?.status == 200 && response?.body == f.bytes
                #expect(whole, "\(extra.isEmpty ? "kept alive" : extra): got \(response?.body.count ?? -1) of \(f.bytes.count) bytes")
            }
        }
    }

    @Test func aClientThatStopsReadingMidDownloadIsLetGo() async throws {
        // 12 MB through a 64 KiB receive buffer; the client reads nothing for 3 s, five times
        // the idle timeout: the server stops waiting and closes, so what the client reads
        // afterwards ends before the body does.
        let f = try fixture(size: 12 << 20, timeout: .milliseconds(600))
        let url = try f.link()
        try await f.application().test(.live) { client in
            let c = try RawConnection(port: try #require(client.port), receiveBuffer: 64 << 10)
            c.send(get(url))
            #expect(await c.readable(within: 30))
            await offPool { sleep(3) }
            let cut = await c.response(within: 30) == nil
            #expect(cut, "the whole body arrived: the stalled connection was kept")
        }
    }
}
