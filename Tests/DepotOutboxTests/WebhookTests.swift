import DepotCore
@testable import DepotOutbox
import DepotStore
import DepotTestSupport
import Foundation
import Testing

@Suite(.tags(.slow), .slowTest) struct WebhookTests {
    static func fastRetries() -> OutboxSettings {
        var settings = OutboxSettings()
        settings.retryInitial = .milliseconds(50)
        settings.retryMax = .milliseconds(200)
        return settings
    }

    static func hook(_ url: String, events: [String] = ["version.created"], maxAttempts: Int = 10) -> WebhookSettings {
        var hook = WebhookSettings(url: url, name: "test", secret: "s3cret")
        hook.events = events
        hook.maxAttempts = maxAttempts
        hook.timeout = .seconds(5)
        return hook
    }

    /// RFC 4231, test case 2: pins the HMAC the signature is made of.
    @Test func hmacMatchesRFC4231() {
        #expect(WebhookSignature.hmacSHA256Hex(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(WebhookSignature.header(secret: "Jefe", timestamp: 0, body: "what do ya want for nothing?")
                == "sha256=" + WebhookSignature.hmacSHA256Hex(key: Array("Jefe".utf8), message: Array("0.what do ya want for nothing?".utf8)))
    }

    /// 500, 500, then 200: three attempts of the same event with the same id, each signed
    /// correctly, and the state survives a restart of the dispatcher between attempts.
    @Test func retriesUntilSuccessWithStableIDAndValidSignatures() throws {
        let server = try TestHTTPServer { n in (n < 2 ? 500 : 200, []) }
        defer { server.stop() }
        let fixture = try OutboxFixture()
        try fixture.version("docs", "a.md", Array("# A\n".utf8))
        let first = try fixture.dispatcher(Self.fastRetries(), webhooks: [Self.hook(server.url)])
        #expect(try first.dispatchOnce() == 2)
        #expect(try first.deliverDue() == 1)
        #expect(server.requests.count == 1)

        // A restarted daemon: a new dispatcher on a new connection carries on from the catalog.
        let second = try fixture.dispatcher(Self.fastRetries(), webhooks: [Self.hook(server.url)], queue: try fixture.reopenQueue())
        #expect(try second.dispatchOnce() == 0)
        #expect(try waitUntil(seconds: 10) {
            try second.deliverDue()
            return try second.deliveries().first?.state == "delivered"
        })
        #expect(try second.deliverDue() == 0, "a delivered event is not sent again")

        let requests = server.requests
        #expect(requests.count == 3)
        let created = try #require(try fixture.events().first { $0.type == "version.created" })
        for request in requests {
            #expect(request.headers["x-depot-event"] == "version.created")
            #expect(request.headers["x-depot-event-id"] == created.id)
            #expect(request.headers["content-type"] == "application/json")
            #expect(request.body == created.envelopeJSON)
            let timestamp = try #require(Int64(request.headers["x-depot-timestamp"] ?? ""))
            #expect(abs(timestamp - Int64(Date().timeIntervalSince1970)) < 60)
            let expected = "sha256=" + WebhookSignature.hmacSHA256Hex(key: Array("s3cret".utf8),
                                                                      message: Array("\(timestamp).\(request.body)".utf8))
            #expect(request.headers["x-depot-signature"] == expected)
            let envelope = try #require(try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any])
            #expect(envelope["id"] as? String == created.id)
        }
        let delivery = try #require(try second.deliveries().first)
        #expect(delivery.attempts == 3)
        #expect(delivery.lastStatus == 200)
    }

    /// 503 with Retry-After: 1 holds the next attempt back a second, although the backoff is 50 ms.
    @Test func retryAfterIsHonoured() throws {
        let server = try TestHTTPServer { n in n == 0 ? (503, ["Retry-After: 1"]) : (200, []) }
        defer { server.stop() }
        let fixture = try OutboxFixture()
        try fixture.version("docs", "a.md", Array("# A\n".utf8))
        let dispatcher = try fixture.dispatcher(Self.fastRetries(), webhooks: [Self.hook(server.url)])
        try dispatcher.dispatchOnce()
        #expect(try waitUntil(seconds: 10) {
            try dispatcher.deliverDue()
            return server.requests.count == 2
        })
        let requests = server.requests
        let gap = requests[1].receivedAt.timeIntervalSince(requests[0].receivedAt)
        #expect(gap >= 0.95, "the retry came after \(gap) s")
        #expect(requests[0].headers["x-depot-event-id"] == requests[1].headers["x-depot-event-id"])
    }

    /// Always 500: dead after max_attempts, with a webhook.dead event that goes to events.jsonl
    /// but never to a webhook.
    @Test func deadAfterMaxAttemptsWithAnEvent() throws {
        let server = try TestHTTPServer { _ in (500, []) }
        defer { server.stop() }
        let fixture = try OutboxFixture()
        try fixture.version("docs", "a.md", Array("# A\n".utf8))
        let dispatcher = try fixture.dispatcher(Self.fastRetries(), webhooks: [Self.hook(server.url, events: ["*"], maxAttempts: 3)])
        try dispatcher.dispatchOnce()
        #expect(try waitUntil(seconds: 10) {
            try dispatcher.deliverDue()
            return try dispatcher.deliveries().allSatisfy { $0.state == "dead" }
        })
        let deliveries = try dispatcher.deliveries()
        #expect(deliveries.count == 2)  // file.stored and version.created
        #expect(deliveries.allSatisfy { $0.attempts == 3 && $0.lastStatus == 500 })
        #expect(server.requests.count == 6)

        let dead = try fixture.events().filter { $0.type == "webhook.dead" }
        #expect(dead.count == 2)
        #expect(dead.allSatisfy { $0.dataJSON.contains("\"webhook\":\"test\"") && $0.dataJSON.contains("\"attempts\":3") })
        try dispatcher.dispatchOnce()
        #expect(try dispatcher.deliveries().count == 2, "webhook.* events are not delivered to webhooks")
        let jsonl = try lines(fixture.outbox + "/events.jsonl")
        #expect(jsonl.filter { $0.contains("\"event\":\"webhook.dead\"") }.count == 2)
    }

    /// Nothing listening: a transport error is retried like a 5xx, then given up.
    @Test func connectionRefusedIsRetriedThenDead() throws {
        let server = try TestHTTPServer { _ in (200, []) }
        let url = server.url
        server.stop()  // the port is now closed
        let fixture = try OutboxFixture()
        try fixture.version("docs", "a.md", Array("# A\n".utf8))
        let dispatcher = try fixture.dispatcher(Self.fastRetries(), webhooks: [Self.hook(url, maxAttempts: 2)])
        try dispatcher.dispatchOnce()
        #expect(try waitUntil(seconds: 10) {
            try dispatcher.deliverDue()
            return try dispatcher.deliveries().first?.state == "dead"
        })
        let delivery = try #require(try dispatcher.deliveries().first)
        #expect(delivery.lastStatus == nil)
        #expect(delivery.lastError?.isEmpty == false)
    }

    @Test func backoffDoublesWithJitterAndRespectsLimits() {
        var settings = OutboxSettings()
        settings.retryInitial = .seconds(1)
        settings.retryMax = .seconds(60)
        for attempts in 1...10 {
            let full = min(60_000_000_000, Int64(1_000_000_000) << (attempts - 1))
            let delay = EventDispatcher.retryDelay(attempts: attempts, retryAfterSeconds: nil, settings: settings)
            #expect(delay >= full / 2 && delay <= full)
        }
        #expect(EventDispatcher.retryDelay(attempts: 1, retryAfterSeconds: 30, settings: settings) >= 30_000_000_000)
        #expect(EventDispatcher.retryDelay(attempts: 1, retryAfterSeconds: 3600, settings: settings) == 3_600_000_000_000)
        #expect(EventDispatcher.retryDelay(attempts: 1, retryAfterSeconds: 10_000_000, settings: settings) == 86_400_000_000_000)
        #expect(EventDispatcher.retryDelay(attempts: 200, retryAfterSeconds: nil, settings: settings) <= 60_000_000_000)
    }
}
