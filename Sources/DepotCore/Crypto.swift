import CCrypto

// The one place depot hashes, signs, compares secrets and draws random bytes: SHA-256
// (blob names, token hashes), HMAC-SHA256 (download links, webhook signatures), constant-time
// comparison and OpenSSL's CSPRNG, with the hex and base64url forms they travel in.

/// A SHA-256 digest, the name of a blob.
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// 64 lowercase hexadecimal characters.
    public let hex: String

    /// Accepts 64 hex characters (either case); nil otherwise.
    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ isHexDigit($0) }) else { return nil }
        self.hex = hex.lowercased()
    }

    public init(bytes: [UInt8]) {
        hex = hexString(bytes)
    }

    public var description: String { hex }
    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = Digest(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a SHA-256 hex digest"))
        }
        self = digest
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
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

    private init(copying other: SHA256Hasher) {
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        precondition(EVP_MD_CTX_copy_ex(ctx, other.context) == 1, "EVP_MD_CTX_copy_ex failed")
        context = ctx
    }

    /// A hasher that has been fed what this one has (to go back to, should the bytes that
    /// follow be refused).
    public func copy() -> SHA256Hasher { SHA256Hasher(copying: self) }

    /// The digest of a byte array in one call.
    public static func digest(_ bytes: [UInt8]) -> Digest {
        let h = SHA256Hasher()
        h.update(bytes)
        return h.finish()
    }
}

/// A checksum a client sends with its bytes (tus's `Upload-Checksum`), in one of the
/// algorithms OpenSSL offers that clients use: "sha256" or "sha1".
public final class ChecksumHasher {
    public static let algorithms = ["sha256", "sha1"]
    private let context: OpaquePointer

    /// nil for an algorithm not in `algorithms`.
    public init?(algorithm: String) {
        let md: OpaquePointer?
        switch algorithm {
        case "sha256": md = EVP_sha256()
        case "sha1": md = EVP_sha1()
        default: return nil
        }
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        context = ctx
        precondition(EVP_DigestInit_ex(context, md, nil) == 1, "EVP_DigestInit_ex failed")
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(EVP_DigestUpdate(context, base, bytes.count) == 1, "EVP_DigestUpdate failed")
    }

    /// The raw digest; the hasher is spent afterwards.
    public func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &out, &length) == 1, "EVP_DigestFinal_ex failed")
        return Array(out[0..<Int(length)])
    }
}

/// HMAC-SHA256 of `message` under `key` (32 bytes).
public func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    _ = key.withUnsafeBytes { k in
        message.withUnsafeBufferPointer { m in
            HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, &out, &length)
        }
    }
    return out
}

/// Compares in time that depends only on the length, never on where the bytes differ.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
}

/// Why OpenSSL's random generator gave nothing (it is not seeded, which a booted Linux always is).
public struct RandomBytesError: Error, CustomStringConvertible, Sendable {
    public var description: String { "RAND_bytes failed: OpenSSL's random generator is not available" }
}

/// `count` bytes from OpenSSL's CSPRNG.
public func randomBytes(_ count: Int) throws -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    guard RAND_bytes(&bytes, Int32(count)) == 1 else { throw RandomBytesError() }
    return bytes
}

/// Lowercase hexadecimal.
public func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// RFC 4648 §5 base64url without padding: signatures and tokens travel in query strings and
/// headers. Written out rather than through Foundation's base64 and `replacingOccurrences`,
/// which took about 7% of the server's CPU time under `wrk` on signed downloads.
public func base64URL(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    var out: [UInt8] = []
    out.reserveCapacity((bytes.count * 4 + 2) / 3)
    var i = 0
    while i < bytes.count {
        let n = min(3, bytes.count - i)
        var group = UInt32(bytes[i]) << 16
        if n > 1 { group |= UInt32(bytes[i + 1]) << 8 }
        if n > 2 { group |= UInt32(bytes[i + 2]) }
        for k in 0...n { out.append(alphabet[Int((group >> UInt32(18 - 6 * k)) & 0x3f)]) }
        i += 3
    }
    return String(decoding: out, as: UTF8.self)
}
