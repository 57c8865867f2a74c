import DepotCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An address or a CIDR block ("10.0.0.0/8", "127.0.0.1", "fd00::/8"), for `http.trusted_proxies`.
public struct IPRange: Sendable, Equatable, CustomStringConvertible {
    let bytes: [UInt8]
    let prefix: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let bytes = ipBytes(first) else { return nil }
        let width = bytes.count * 8
        var prefix = width
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...width).contains(p) else { return nil }
            prefix = p
        }
        self.bytes = bytes
        self.prefix = prefix
        description = text
    }

    /// Whether `address` lies in the range (an IPv4-mapped IPv6 address counts as IPv4).
    public func contains(_ address: String) -> Bool {
        guard let other = ipBytes(normalizeIP(address)), other.count == bytes.count else { return false }
        var left = prefix
        for i in 0..<bytes.count where left > 0 {
            let bits = min(8, left)
            let mask: UInt8 = bits == 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if bytes[i] & mask != other[i] & mask { return false }
            left -= bits
        }
        return true
    }
}

/// The 4 or 16 bytes of an IP address; nil for anything else.
func ipBytes(_ text: String) -> [UInt8]? {
    var v4 = in_addr(), v6 = in6_addr()
    if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
    if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
    return nil
}

/// Which address a request comes from, for rate limits, the bad-link count and IP-bound
/// links: the peer's, unless the peer is a trusted proxy (`http.trusted_proxies`); then the
/// nearest address its `X-Forwarded-For` (or, without one, `Forwarded`) names that is not a
/// trusted proxy itself. Headers from anyone else are never believed: a client could name any
/// address it likes.
struct ClientAddresses: Sendable {
    let trusted: [IPRange]

    func isTrusted(_ address: String) -> Bool { trusted.contains { $0.contains(address) } }

    func client(peer: String?, header: (String) -> String?) -> String? {
        guard let peer, !trusted.isEmpty, isTrusted(peer) else { return peer }
        var chain: [String] = []
        if let forwarded = header("X-Forwarded-For") {
            chain = forwarded.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        } else if let forwarded = header("Forwarded") {
            // RFC 7239: for=192.0.2.60, for="[2001:db8::1]:4711"; elements separated by commas.
            for element in forwarded.split(separator: ",") {
                for pair in element.split(separator: ";") {
                    let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard kv.count == 2, kv[0].lowercased() == "for" else { continue }
                    var value = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                    if value.hasPrefix("["), let close = value.firstIndex(of: "]") {
                        value = String(value[value.index(after: value.startIndex)..<close])
                    } else if value.filter({ $0 == ":" }).count == 1 {
                        value = String(value.prefix { $0 != ":" })   // "192.0.2.60:4711"
                    }
                    chain.append(value)
                }
            }
        }
        // From the right: the last hop is the peer's own claim of whom it served.
        for address in chain.reversed() {
            let normal = normalizeIP(address)
            guard ipBytes(normal) != nil else { return peer }   // "unknown", garbage: keep the proxy's own
            if !isTrusted(normal) { return normal }
        }
        return peer
    }
}

/// At most `limit` connections at once from one client address (trusted proxies, which carry
/// many clients, excepted): one client holding thousands of idle connections must not keep
/// everyone else waiting in the listen backlog.
final class ConnectionCounts: Sendable {
    let limit: Int
    private let counts = Mutex<[String: Int]>([:])

    init(limit: Int) { self.limit = limit }

    /// Counts a new connection; false (and not counted) when the client is at its limit.
    func open(_ client: String) -> Bool {
        guard limit > 0 else { return true }
        return counts.withLock { counts in
            let n = counts[client, default: 0]
            guard n < limit else { return false }
            counts[client] = n + 1
            return true
        }
    }

    func close(_ client: String) {
        guard limit > 0 else { return }
        counts.withLock { counts in
            let n = counts[client, default: 1] - 1
            counts[client] = n > 0 ? n : nil
        }
    }
}
