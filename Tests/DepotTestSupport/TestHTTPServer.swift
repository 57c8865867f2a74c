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

    public let port: UInt16
    private let fd: Int32
    private let state = Mutex<(requests: [Request], stop: Bool)>(([], false))
    private let respond: @Sendable (Int) -> (status: Int, headers: [String])
    private let body: @Sendable (Int) -> [UInt8]
    private let done = DispatchSemaphore(value: 0)

    public init(respond: @escaping @Sendable (Int) -> (status: Int, headers: [String]),
                body: @escaping @Sendable (Int) -> [UInt8] = { _ in Array("ok".utf8) }) throws {
        self.respond = respond
        self.body = body
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
        guard bound == 0, listen(fd, 16) == 0 else { throw TestFailure("test server: bind/listen failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        self.fd = fd
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    public var url: String { "http://127.0.0.1:\(port)/hook" }
    public var requests: [Request] { state.withLock { $0.requests } }

    public func stop() {
        state.withLock { $0.stop = true }
        done.wait()
        close(fd)
    }

    private func serve() {
        while !state.withLock({ $0.stop }) {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            handle(client)
            close(client)
        }
        done.signal()
    }

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
        let index = state.withLock { s -> Int in
            s.requests.append(Request(headers: headers, bytes: bytes, receivedAt: Date()))
            return s.requests.count - 1
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
