@testable import DepotHTTP
import DepotCore
import Foundation
import Testing

struct SigningTests {
    static func keys(_ ids: [String]) throws -> LinkKeys {
        try LinkKeys(keys: ids.enumerated().map { LinkKey(id: $1, secret: [UInt8](repeating: UInt8($0 + 1), count: 32)) })
    }

    @Test func hmacMatchesRFC4231TestCase2() {
        let mac = hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(hexString(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func aSignedLinkVerifiesAndEveryTamperingFails() throws {
        let signer = LinkSigner(keys: try Self.keys(["k1"]))
        let link = signer.sign(path: "/d/v/7/a.pdf", expires: 2000, clientIP: nil, linkID: "lnk_1")
        #expect(signer.verify(link, method: "GET", remoteIP: "127.0.0.1", now: 1000, skew: 30))
        #expect(signer.verify(link, method: "HEAD", remoteIP: "127.0.0.1", now: 1000, skew: 30))
        #expect(!signer.verify(link, method: "POST", remoteIP: nil, now: 1000, skew: 30))
        var other = link; other.path = "/d/v/8/a.pdf"
        #expect(!signer.verify(other, method: "GET", remoteIP: nil, now: 1000, skew: 30))
        other = link; other.expires += 1
        #expect(!signer.verify(other, method: "GET", remoteIP: nil, now: 1000, skew: 30))
        other = link; other.linkID = "lnk_2"
        #expect(!signer.verify(other, method: "GET", remoteIP: nil, now: 1000, skew: 30))
        other = link; other.signature = (link.signature.first == "A" ? "B" : "A") + link.signature.dropFirst()
        #expect(!signer.verify(other, method: "GET", remoteIP: nil, now: 1000, skew: 30))
        other = link; other.keyID = "nope"
        #expect(!signer.verify(other, method: "GET", remoteIP: nil, now: 1000, skew: 30))
    }

    @Test func base64URLIsFoundationsBase64WithTheURLAlphabetAndNoPadding() {
        for count in 0...40 {
            let bytes = (0..<count).map { UInt8(($0 * 97 + count * 31) & 0xff) }
            let expected = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(base64URL(bytes) == expected, "\(count) bytes")
        }
    }

    @Test func aPaddedSignatureIsRefused() throws {
        let signer = LinkSigner(keys: try Self.keys(["k1"]))
        var link = signer.sign(path: "/d/v/7/a.pdf", expires: 2000, clientIP: nil, linkID: "lnk_1")
        link.signature += "="
        #expect(!signer.verify(link, method: "GET", remoteIP: nil, now: 1000, skew: 30))
    }

    @Test func expiryAllowsOnlyTheClockSkew() throws {
        let signer = LinkSigner(keys: try Self.keys(["k1"]))
        let link = signer.sign(path: "/d/v/1/x", expires: 1000, clientIP: nil, linkID: "lnk_1")
        #expect(signer.verify(link, method: "GET", remoteIP: nil, now: 1030, skew: 30))
        #expect(!signer.verify(link, method: "GET", remoteIP: nil, now: 1031, skew: 30))
    }

    @Test func ipBoundLinkOnlyWorksFromThatAddress() throws {
        let signer = LinkSigner(keys: try Self.keys(["k1"]))
        let link = signer.sign(path: "/d/v/1/x", expires: 1000, clientIP: "10.0.0.5", linkID: "lnk_1")
        #expect(signer.verify(link, method: "GET", remoteIP: "10.0.0.5", now: 0, skew: 0))
        #expect(!signer.verify(link, method: "GET", remoteIP: "10.0.0.6", now: 0, skew: 0))
        var stripped = link; stripped.clientIP = nil
        #expect(!signer.verify(stripped, method: "GET", remoteIP: "10.0.0.6", now: 0, skew: 0))
    }

    @Test func newKeySignsWhileOldKeysStillVerifyUntilRetired() throws {
        let old = LinkSigner(keys: try Self.keys(["old"]))
        let rotated = LinkSigner(keys: try Self.keys(["old", "new"]))
        let oldLink = old.sign(path: "/d/v/1/x", expires: 1000, clientIP: nil, linkID: "l")
        #expect(rotated.sign(path: "/d/v/1/x", expires: 1000, clientIP: nil, linkID: "l").keyID == "new")
        #expect(rotated.verify(oldLink, method: "GET", remoteIP: nil, now: 0, skew: 0))
        let retired = LinkSigner(keys: try LinkKeys(keys: [rotated.keys.keys[1]]))
        #expect(!retired.verify(oldLink, method: "GET", remoteIP: nil, now: 0, skew: 0))
    }

    @Test func keysFileIsCreatedPrivateAndRefusedWhenWorldReadable() throws {
        let dir = NSTemporaryDirectory() + "depot-keys-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/link-keys"
        #expect(try LinkKeys.createFile(at: path))
        #expect(try !LinkKeys.createFile(at: path))
        #expect(try statIfExists(path)!.st_mode & 0o777 == 0o600)
        let keys = try LinkKeys.load(path: path)
        #expect(keys.keys.count == 1 && keys.signing.secret.count == 32)
        chmod(path, 0o644)
        #expect(throws: LinkKeyError.self) { try LinkKeys.load(path: path) }
    }

    @Test func credentialsDirectoryWinsOverTheConfiguredFile() throws {
        let dir = NSTemporaryDirectory() + "depot-cred-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = RootLayout(root: "/srv/depot")
        #expect(LinkKeys.location(settings: HTTPSettings(), layout: layout, environment: ["CREDENTIALS_DIRECTORY": dir])
                == "/srv/depot/state/link-keys")
        try LinkKeys.createFile(at: dir + "/link-keys")
        #expect(LinkKeys.location(settings: HTTPSettings(), layout: layout, environment: ["CREDENTIALS_DIRECTORY": dir])
                == dir + "/link-keys")
    }

    @Test func tokenBucketAllowsBurstThenRate() {
        let limiter = RateLimiter(rate: 2, burst: 3)
        #expect((0..<3).allSatisfy { _ in limiter.take("a", now: 0) == nil })
        #expect(limiter.take("a", now: 0) != nil)
        #expect(limiter.take("b", now: 0) == nil)
        #expect(limiter.take("a", now: 500_000_000) == nil)
        #expect(limiter.take("a", now: 500_000_000) != nil)
    }

    @Test func repeatedBadLinksBlockTheClientForTheWindow() {
        let tracker = BadLinkTracker(limit: 3, window: .seconds(10))
        for _ in 0..<2 { tracker.record("x", now: 0) }
        #expect(tracker.blocked("x", now: 1) == nil)
        tracker.record("x", now: 2)
        #expect(tracker.blocked("x", now: 3) != nil)
        #expect(tracker.blocked("y", now: 3) == nil)
        #expect(tracker.blocked("x", now: 10_000_000_001) == nil)
    }

    @Test func aLinkParsesBackFromItsURL() {
        let link = SignedLink(path: "/d/a/7/%C3%9Cbung%201.pdf", expires: 1_900_000_000, keyID: "k20261124-ab12", clientIP: "2001:db8::1",
                              linkID: "lnk_0123456789abcdef01234567", signature: "c2lnbmF0dXJlLWJ5dGVz")
        let parsed = Handlers.signedLink(requestTarget: link.pathAndQuery)
        #expect(parsed?.0 == .artifact(7))
        #expect(parsed?.1 == link)
        // The first of a repeated parameter counts; a missing or malformed one is no link.
        #expect(Handlers.signedLink(requestTarget: link.pathAndQuery + "&sig=other")?.1 == link)
        #expect(Handlers.signedLink(requestTarget: "/d/a/7/x.pdf?exp=1&kid=k&lid=l") == nil)
        #expect(Handlers.signedLink(requestTarget: "/d/a/7/x.pdf?exp=soon&kid=k&lid=l&sig=s") == nil)
        #expect(Handlers.signedLink(requestTarget: "/d/a/7/x.pdf?exp=1&kid=k&lid=l&sig=s&ip=%zz") == nil)
        #expect(Handlers.signedLink(requestTarget: "/d/a/7/x.pdf") == nil)
        #expect(Handlers.signedLink(requestTarget: "/d/x/7/x.pdf?exp=1&kid=k&lid=l&sig=s") == nil)
    }
}
