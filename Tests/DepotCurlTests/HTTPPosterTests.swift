import DepotCurl
import DepotTestSupport
import Foundation
import Testing

/// The one libcurl set-up of webhooks, chat completions and transcriptions, against a real
/// HTTP server on loopback.
@Suite struct HTTPPosterTests {
    /// Bytes arrive as they are (NUL and all), with the caller's headers and none of curl's
    /// `Expect`; the answer's status, body and Retry-After come back.
    @Test func bytesGoAsTheyAreAndTheAnswerComesBack() throws {
        let server = try TestHTTPServer(respond: { _ in (429, ["Retry-After: 7"]) }, body: { _ in Array("slow down\u{0}!".utf8) })
        defer { server.stop() }
        let poster = try HTTPPoster(bodyLimit: 1 << 20)
        let sent: [UInt8] = [0, 1, 2, 255, 0x7b, 0]
        let result = poster.post(url: server.url, headers: ["Content-Type: application/octet-stream", "X-Test: one"],
                                 body: .bytes(sent), timeout: .seconds(10))
        #expect(result == .answer(status: 429, body: Array("slow down\u{0}!".utf8), retryAfter: 7))
        let request = try #require(server.requests.first)
        #expect(request.bytes == sent)
        #expect(request.headers["x-test"] == "one" && request.headers["content-type"] == "application/octet-stream")
        #expect(request.headers["expect"] == nil && request.headers["user-agent"] == "depot")
    }

    /// A multipart body carries its fields and its file part with name and type.
    @Test func aMultipartBodyCarriesFieldsAndAFile() throws {
        let server = try TestHTTPServer(respond: { _ in (200, []) })
        defer { server.stop() }
        let poster = try HTTPPoster(bodyLimit: 1024)
        let audio: [UInt8] = Array("RIFF".utf8) + [0, 0, 0, 0] + Array(repeating: 7, count: 3000)
        let result = poster.post(url: server.url, headers: [],
                                 body: .multipart([FormPart(name: "file", file: audio, fileName: "audio.wav", type: "audio/wav"),
                                                   FormPart(name: "model", value: "whisper-1")]),
                                 timeout: .seconds(10))
        #expect(result == .answer(status: 200, body: Array("ok".utf8), retryAfter: nil))
        let request = try #require(server.requests.first)
        let type = try #require(request.headers["content-type"])
        #expect(type.hasPrefix("multipart/form-data; boundary="))
        let text = String(decoding: request.bytes, as: UTF8.self)
        #expect(text.contains("name=\"file\"; filename=\"audio.wav\"") && text.contains("Content-Type: audio/wav"))
        #expect(text.contains("name=\"model\"\r\n\r\nwhisper-1\r\n"))
        // The file's bytes, whole, NULs included.
        #expect(request.bytes.firstRange(of: audio) != nil)
    }

    /// An answer longer than the limit stops the transfer; a limit of 0 reads and drops any length.
    @Test func aRunawayAnswerIsCutAndALimitOfZeroKeepsNothing() throws {
        let big = [UInt8](repeating: 65, count: 200_000)
        let server = try TestHTTPServer(respond: { _ in (200, []) }, body: { _ in big })
        defer { server.stop() }
        guard case .transportError = try HTTPPoster(bodyLimit: 1000).post(url: server.url, headers: [], body: .bytes([1]),
                                                                           timeout: .seconds(10)) else {
            Issue.record("an answer past the limit was taken")
            return
        }
        #expect(try HTTPPoster(bodyLimit: 0).post(url: server.url, headers: [], body: .bytes([]), timeout: .seconds(10))
                == .answer(status: 200, body: [], retryAfter: nil))
    }

    /// No answer: a refused connection and a server that never answers, told apart by `timedOut`.
    @Test func refusedAndTimedOutAreTransportErrors() throws {
        let poster = try HTTPPoster(bodyLimit: 0)
        // A port nothing listens on: bind one, note it, close it.
        let closed = try TestHTTPServer(respond: { _ in (200, []) })
        let url = closed.url
        closed.stop()
        guard case .transportError(_, let timedOut) = poster.post(url: url, headers: [], body: .bytes([1]), timeout: .seconds(5)) else {
            Issue.record("a refused connection answered")
            return
        }
        #expect(!timedOut)
        // A listener that never accepts: the connection is made by the kernel, no answer comes.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, length) } }
        listen(silent, 4)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &length) } }
        let started = Date()
        let result = poster.post(url: "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))/", headers: [], body: .bytes([1]),
                                 timeout: .milliseconds(300))
        #expect(result == .transportError(describing(result), timedOut: true))
        #expect(Date().timeIntervalSince(started) < 5)
    }

    private func describing(_ result: HTTPPostResult) -> String {
        if case .transportError(let reason, _) = result { return reason }
        return ""
    }
}
