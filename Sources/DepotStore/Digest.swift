// DepotStore: the only truth of depot — immutable blobs named by their SHA-256,
// and the catalog (collections, documents, versions, tags) that points at them.
// Ingest ties the two together in the order that loses nothing:
// blob durable → catalog row committed → inbox copy removed.
import CCrypto

/// A SHA-256 digest, the name of a blob.
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// 64 lowercase hexadecimal characters.
    public let hex: String

    /// Accepts 64 hex characters (either case); nil otherwise.
    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ isHexDigit($0) }) else { return nil }
        self.hex = hex.lowercased()
    }

    init(bytes: [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        hex = String(decoding: out, as: UTF8.self)
    }

    public var description: String { hex }
    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }
}

private func isHexDigit(_ c: UInt8) -> Bool {
    (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)
}

/// Streaming SHA-256 through OpenSSL's EVP interface; owns one EVP_MD_CTX.
public final class SHA256Hasher {
    private let context: OpaquePointer

    public init() {
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        context = ctx
        // EVP_DigestInit_ex only fails on allocation or an unknown digest, neither of which
        // we can recover from.
        precondition(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex(sha256) failed")
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(EVP_DigestUpdate(context, base, bytes.count) == 1, "EVP_DigestUpdate failed")
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of everything fed so far; the hasher is spent afterwards.
    public func finish() -> Digest {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &out, &length) == 1, "EVP_DigestFinal_ex failed")
        return Digest(bytes: Array(out[0..<Int(length)]))
    }

    /// The digest of a byte array in one call.
    public static func digest(_ bytes: [UInt8]) -> Digest {
        let h = SHA256Hasher()
        h.update(bytes)
        return h.finish()
    }
}
