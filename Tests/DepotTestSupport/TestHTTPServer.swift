import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A tiny HTTP/1.1 server on 127.0.0.1 for the tests of outbound HTTP (webhooks, libcurl):
/// records each request and answers with what `respond(n)` says for the n-th request
/// (0-based), with the body `body(n)`. One connection at a time, `Connection: close`.
public final class TestHTTPServer: @unchecked Sendable {
    public struct Request: Sendable {
        public var headers: [String: String]
        public var bytes: [UInt8]
        public var receivedAt: Date
        public var body: String { String(decoding: bytes, as: UTF8.self) }
    }

    public var port: UInt16 { listener.port }
    private let listener: LoopbackListener
    private let state = Mutex<[Request]>([])
    private let respond: @Sendable (Int) -> (status: Int, headers: [String])
    private let body: @Sendable (Int) -> [UInt8]

    public init(respond: @escaping @Sendable (Int) -> (status: Int, headers: [String]),
                body: @escaping @Sendable (Int) -> [UInt8] = { _ in Array("ok".utf8) }) throws {
        self.respond = respond
        self.body = body
        listener = try LoopbackListener()
        listener.start { [self] client in handle(client) }
    }

    public var url: String { "http://127.0.0.1:\(port)/hook" }
    public var requests: [Request] { state.withLock { $0 } }

    public func stop() { listener.stop() }

    private func handle(_ client: Int32) {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var contentLength = 0
        var headers: [String: String] = [:]
        while true {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            data += buffer[0..<n]
            if headerEnd == nil, let range = httpHeadEnd(data) {
                headerEnd = range
                let head = String(decoding: data[0..<range], as: UTF8.self)
                for line in head.split(separator: "\r\n").dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    let name = line[..<colon].lowercased()
                    headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                contentLength = Int(headers["content-length"] ?? "0") ?? 0
            }
            if let end = headerEnd, data.count >= end + 4 + contentLength { break }
        }
        let start = headerEnd! + 4
        let bytes = Array(data[start..<(start + contentLength)])
        let index = state.withLock { requests -> Int in
            requests.append(Request(headers: headers, bytes: bytes, receivedAt: Date()))
            return requests.count - 1
        }
        let (status, extra) = respond(index)
        let content = body(index)
        let response = Array(("HTTP/1.1 \(status) Status\r\nContent-Length: \(content.count)\r\nConnection: close\r\n"
            + extra.map { $0 + "\r\n" }.joined() + "\r\n").utf8) + content
        var sent = 0
        while sent < response.count {
            let n = response[sent...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            sent += n
        }
    }
}

/// Where the head of an HTTP message ends (the index of its blank line's CR LF CR LF).
func httpHeadEnd(_ data: [UInt8]) -> Int? {
    guard data.count >= 4 else { return nil }
    for i in 0...(data.count - 4) where data[i] == 13 && data[i + 1] == 10 && data[i + 2] == 13 && data[i + 3] == 10 {
        return i
    }
    return nil
}

/// A TCP listener on a free port of 127.0.0.1 that hands each connection it accepts, one at a
/// time, to a handler on its own thread (and closes it after), until `stop`.
public final class LoopbackListener: @unchecked Sendable {
    public let port: UInt16
    private let fd: Int32
    private let stopping = Mutex(false)
    private let started = Atomic(false)
    private let done = DispatchSemaphore(value: 0)

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw TestFailure("test server: bind/listen failed")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        self.fd = fd
    }

    /// Accepts connections on a thread of its own and gives each to `handle`.
    public func start(_ handle: @escaping @Sendable (Int32) -> Void) {
        started.store(true, ordering: .releasing)
        Thread { [self] in
            while !stopping.withLock({ $0 }) {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 50) > 0 else { continue }
                let client = accept(fd, nil, nil)
                guard client >= 0 else { continue }
                handle(client)
                close(client)
            }
            done.signal()
        }.start()
    }

    /// Stops accepting (after the connection being handled) and closes the socket.
    public func stop() {
        stopping.withLock { $0 = true }
        if started.load(ordering: .acquiring) { done.wait() }
        close(fd)
    }
}
