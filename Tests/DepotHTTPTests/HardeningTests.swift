@testable import DepotHTTP
import DepotCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import DepotTestSupport
import Testing

/// What attacking the HTTP server found (issue 11): each test fails without its fix.
@Suite(.tags(.slow), .slowTest) struct HTTPHardeningTests {
    /// RFC 9112 §9.3: an HTTP/1.0 request without keep-alive ends its connection with its
    /// response — on the router's path and on the download fast path alike. With keep-alive,
    /// or in HTTP/1.1, the connection stays for the next request.
    @Test func anHTTP10RequestWithoutKeepAliveHasItsConnectionClosed() async throws {
        // Idle timeout far longer than the waits below: a close within them is the fix's.
        let f = try Fixture(http: { $0.idleTimeout = .seconds(60) })
        let url = try f.link()
        try await f.application().test(.live) { client in
            let port = try #require(client.port)
            for path in ["/healthz", url] {
                let plain = try RawConnection(port: port)
                plain.send("GET \(path) HTTP/1.0\r\nHost: t\r\n\r\n")
                let response = await plain.response(within: 20)
                #expect(response?.header.hasPrefix("HTTP/1.") == true && response?.status == 200, "\(path)")
                #expect(await plain.closes(within: 5), "\(path): an HTTP/1.0 connection left open")

                let kept = try RawConnection(port: port)
                kept.send("GET \(path) HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n")
                #expect(await kept.response(within: 20)?.status == 200)
                #expect(await kept.closes(within: 1.5) == false, "\(path): keep-alive asked for, but closed")
                kept.send("GET /healthz HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n")
                #expect(await kept.response(within: 20)?.status == 200)

                let closing = try RawConnection(port: port)
                closing.send(get(path, "Connection: close\r\n"))
                #expect(await closing.response(within: 20)?.status == 200)
                #expect(await closing.closes(within: 5), "\(path): Connection: close left open")
            }
        }
    }

    /// One client holding many connections gets a 503 past its cap, at once; another client
    /// is served meanwhile, and the first gets a connection again once it lets one go.
    @Test func aClientPastItsConnectionCapIsRefusedAndOthersAreServed() async throws {
        let f = try Fixture(http: { $0.maxConnectionsPerClient = 4; $0.idleTimeout = .seconds(60) })
        try await f.application().test(.live) { client in
            let port = try #require(client.port)
            var held: [RawConnection] = []
            for _ in 0..<4 { held.append(try RawConnection(port: port, from: "127.0.0.1")) }
            // The four are open and counted once the server has answered on one of them.
            held[0].send(get("/healthz"))
            #expect(await held[0].response(within: 20)?.status == 200)

            let fifth = try RawConnection(port: port, from: "127.0.0.1")
            fifth.send(get("/healthz"))
            let refused = await fifth.response(within: 20)
            #expect(refused?.status == 503, "\(String(describing: refused))")
            #expect(refused?.header.contains("Retry-After: 1") == true)
            #expect(await fifth.closes(within: 5))

            let other = try RawConnection(port: port, from: "127.0.0.2")
            other.send(get("/healthz"))
            #expect(await other.response(within: 20)?.status == 200, "another client waits behind the first one's connections")

            held.removeLast()   // closes it
            var served = false
            for _ in 0..<50 where !served {
                let again = try RawConnection(port: port, from: "127.0.0.1")
                again.send(get("/healthz"))
                served = await again.response(within: 20)?.status == 200
                if !served { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(served, "the closed connection was never given back")
        }
    }

    /// `trusted_proxies`: only a trusted peer's X-Forwarded-For / Forwarded names the client.
    /// Bad links then block that client, not everyone behind the proxy; a link bound to an
    /// address works for that client through the proxy; a header from anyone else is ignored.
    @Test func onlyATrustedProxyNamesTheClient() async throws {
        let f = try Fixture(http: {
            $0.trustedProxies = [IPRange("127.0.0.1")!]
            $0.badLinkLimit = 3
        })
        let bound = try f.link(ip: "203.0.113.7")
        let bad = "/d/v/\(f.version.id)/x?exp=99999999999&kid=k&lid=l&sig=s"
        try await f.application().test(.live) { client in
            let port = try #require(client.port)
            func status(_ path: String, from source: String, _ extra: String) async throws -> Int? {
                let c = try RawConnection(port: port, from: source)
                c.send(get(path, extra))
                return await c.response(within: 20)?.status
            }
            // Through the proxy, a client that is not 203.0.113.7 is refused; 203.0.113.7 is served.
            #expect(try await status(bound, from: "127.0.0.1", "X-Forwarded-For: 198.51.100.1\r\n") == 403)
            #expect(try await status(bound, from: "127.0.0.1", "X-Forwarded-For: 203.0.113.7\r\n") == 200)
            #expect(try await status(bound, from: "127.0.0.1", "X-Forwarded-For: 203.0.113.7, 127.0.0.1\r\n") == 200)
            #expect(try await status(bound, from: "127.0.0.1", "Forwarded: for=\"203.0.113.7:4711\";proto=https\r\n") == 200)
            // Not a trusted proxy: its header names nobody.
            #expect(try await status(bound, from: "127.0.0.2", "X-Forwarded-For: 203.0.113.7\r\n") == 403)

            // Bad links from one client behind the proxy block that client only.
            var statuses: [Int] = []
            for _ in 0..<6 { statuses.append(try await status(bad, from: "127.0.0.1", "X-Forwarded-For: 198.51.100.66\r\n") ?? 0) }
            #expect(statuses.suffix(2).allSatisfy { $0 == 429 }, "\(statuses)")
            #expect(try await status(bad, from: "127.0.0.1", "X-Forwarded-For: 198.51.100.67\r\n") == 403)
            #expect(try await status(bound, from: "127.0.0.1", "X-Forwarded-For: 203.0.113.7\r\n") == 200)
        }
    }

    @Test func forwardedChainsAreReadFromTheRightAndGarbageKeepsThePeer() {
        let addresses = ClientAddresses(trusted: [IPRange("10.0.0.0/8")!, IPRange("127.0.0.1")!, IPRange("fd00::/8")!])
        func client(_ peer: String, _ headers: [String: String]) -> String? {
            addresses.client(peer: peer) { headers[$0] }
        }
        #expect(client("127.0.0.1", ["X-Forwarded-For": "198.51.100.9, 10.1.2.3"]) == "198.51.100.9")
        #expect(client("127.0.0.1", ["X-Forwarded-For": "6.6.6.6, 198.51.100.9"]) == "198.51.100.9")   // a spoofed left part is never reached
        #expect(client("127.0.0.1", ["X-Forwarded-For": "unknown"]) == "127.0.0.1")
        #expect(client("127.0.0.1", [:]) == "127.0.0.1")
        #expect(client("192.0.2.1", ["X-Forwarded-For": "198.51.100.9"]) == "192.0.2.1")
        #expect(client("127.0.0.1", ["Forwarded": "for=\"[2001:db8::1]:4711\", for=10.0.0.5"]) == "2001:db8::1")
        #expect(client("127.0.0.1", ["Forwarded": "for=192.0.2.60;proto=http"]) == "192.0.2.60")
        #expect(IPRange("10.0.0.0/8")!.contains("10.255.0.1") && !IPRange("10.0.0.0/8")!.contains("11.0.0.1"))
        #expect(IPRange("::ffff:10.0.0.1") != nil)
        #expect(IPRange("10.0.0.0/33") == nil && IPRange("proxy.local") == nil)
    }

    /// Ready means room to commit: a store whose free space is below `ready_min_free` is not
    /// ready (a disk that takes a probe file may still be too full for SQLite).
    @Test func readinessNeedsFreeSpaceAboveTheFloor() async throws {
        let full = try Fixture(http: { $0.readyMinFree = maximumByteSize })
        try await full.application().test(.live) { client in
            let r = try await client.execute(uri: "/readyz", method: .get)
            #expect(r.status == .serviceUnavailable)
            let checks = try r.json()["checks"] as? [String: Bool]
            #expect(checks?["store_free_space"] == false && checks?["store_writable"] == true, "\(String(describing: checks))")
        }
        let roomy = try Fixture()
        try await roomy.application().test(.live) { client in
            let r = try await client.execute(uri: "/readyz", method: .get)
            #expect(r.status == .ok)
            #expect(try (r.json()["checks"] as? [String: Bool])?["store_free_space"] == true)
        }
    }

    @Test func metricsCanRequireABearerToken() async throws {
        let f = try Fixture(http: { $0.metricsRequireToken = true })
        let read = try f.state.createToken(scope: .read, name: "prometheus").token
        try await f.application().test(.live) { client in
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer dpt_x_nope"]).status == .unauthorized)
            let r = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(read)"])
            #expect(r.status == .ok && String(buffer: r.body).contains("depot_store_logical_bytes"))
        }
        let open = try Fixture()
        try await open.application().test(.live) { client in
            let r = try await client.execute(uri: "/metrics", method: .get)
            #expect(r.status == .ok)
        }
    }

    /// Lifetimes past any clock: a clear 400, the server unharmed.
    @Test func extremeLinkLifetimesAreRefused() async throws {
        let f = try Fixture()
        let admin = try f.state.createToken(scope: .admin, name: "ops").token
        try await f.application().test(.live) { client in
            let auth: HTTPFields = [.authorization: "Bearer \(admin)", .contentType: "application/json"]
            for value in [#""99999999d""#, "9223372036854775807", "1e308", #""1e400s""#, "-1", #""-5s""#, "0", #""nan""#] {
                let r = try await client.execute(uri: "/api/v1/links", method: .post, headers: auth,
                                                 body: ByteBuffer(string: #"{"version_id":\#(f.version.id),"expires_in":\#(value)}"#))
                #expect(r.status == .badRequest, "expires_in \(value): \(r.status)")
                #expect(try (r.json()["message"] as? String)?.contains("expires_in") == true)
            }
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
        }
    }
}
