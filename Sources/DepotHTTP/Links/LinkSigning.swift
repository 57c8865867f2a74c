import DepotCore
import DepotStore
import Foundation

/// One link-signing key: an id that travels in the link and 32 secret bytes.
public struct LinkKey: Sendable, Equatable {
    public let id: String
    public let secret: [UInt8]

    public init(id: String, secret: [UInt8]) {
        self.id = id
        self.secret = secret
    }
}

/// Why the signing keys cannot be used.
public struct LinkKeyError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// The signing keys: the last one signs, every one verifies, so a new key can take over while
/// links signed with the old one keep working until it is removed (retired).
///
/// File format, one key a line: `KEY-ID BASE64-KEY`; `#` comments and blank lines are ignored.
public struct LinkKeys: Sendable {
    public let keys: [LinkKey]

    public init(keys: [LinkKey]) throws {
        guard !keys.isEmpty else { throw LinkKeyError(message: "no link-signing keys") }
        self.keys = keys
    }

    /// The key new links are signed with.
    public var signing: LinkKey { keys[keys.count - 1] }

    public func key(id: String) -> LinkKey? { keys.last { $0.id == id } }

    /// Where the keys are: $CREDENTIALS_DIRECTORY/link-keys (systemd's `LoadCredential=`) when it
    /// exists, else `http.keys_file`, else ROOT/state/link-keys.
    public static func location(settings: HTTPSettings, layout: RootLayout,
                                environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let credentials = environment["CREDENTIALS_DIRECTORY"], !credentials.isEmpty {
            let path = credentials + "/link-keys"
            if (try? statIfExists(path)) ?? nil != nil { return path }
        }
        return settings.keysFile.isEmpty ? defaultPath(layout: layout) : settings.keysFile
    }

    public static func defaultPath(layout: RootLayout) -> String { layout.state + "/link-keys" }

    /// Reads a keys file; refuses one that others may read (it holds secrets).
    public static func load(path: String) throws -> LinkKeys {
        guard let st = try statIfExists(path) else {
            throw LinkKeyError(message: "\(path): no link-signing keys (run `depot init` on the root, or set http.keys_file)")
        }
        // systemd's credentials are 0400/0440 files owned by root in a private mount; any other
        // file must not be readable by "other".
        guard st.st_mode & 0o007 == 0 else {
            throw LinkKeyError(message: "\(path): readable by other users; chmod 600 it")
        }
        return try parse(try readTextFile(path), source: path)
    }

    static func parse(_ text: String, source: String) throws -> LinkKeys {
        var keys: [LinkKey] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 2, isKeyID(String(fields[0])),
                  let secret = Data(base64Encoded: String(fields[1])), secret.count >= 32 else {
                throw LinkKeyError(message: "\(source):\(number + 1): expected `KEY-ID BASE64-KEY` (a key of at least 32 bytes)")
            }
            keys.append(LinkKey(id: String(fields[0]), secret: Array(secret)))
        }
        return try LinkKeys(keys: keys)
    }

    /// Key ids travel in URLs: letters, digits, '-' and '_'.
    static func isKeyID(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 32 && s.utf8.allSatisfy { isUnreserved($0) && $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: "~") }
    }

    /// A new key line: an id from the date and 32 random bytes from OpenSSL.
    public static func newKeyLine(now: Date = Date()) throws -> String {
        let secret = try randomBytes(32)
        var components = Calendar(identifier: .gregorian)
        components.timeZone = TimeZone(identifier: "UTC")!
        let d = components.dateComponents([.year, .month, .day], from: now)
        let id = String(format: "k%04d%02d%02d", d.year!, d.month!, d.day!) + "-" + hexString(try randomBytes(3))
        return id + " " + Data(secret).base64EncodedString()
    }

    /// Creates a keys file with one key, mode 0600, unless it exists. Returns whether it was created.
    @discardableResult
    public static func createFile(at path: String) throws -> Bool {
        let line = try newKeyLine() + "\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            if errno == EEXIST { return false }
            throw SystemError(call: "open", errno: errno, path: path)
        }
        defer { close(fd) }
        let bytes = Array(("# depot link-signing keys: KEY-ID BASE64-KEY; the last line signs, all verify.\n" + line).utf8)
        try bytes.withUnsafeBytes { try writeFully(fd, $0, path: path) }
        try fsyncOnce(fd, path: path)
        return true
    }
}

/// RFC 3986 unreserved characters.
func isUnreserved(_ c: UInt8) -> Bool {
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "~")
}

/// Percent-encodes everything but the unreserved characters, so that the path a client sends
/// back is byte for byte the path that was signed.
func percentEncode(_ s: String) -> String {
    var out = ""
    for c in s.utf8 {
        if isUnreserved(c) { out.unicodeScalars.append(UnicodeScalar(c)) } else { out += "%" + hexString([c]).uppercased() }
    }
    return out
}

extension LinkTarget {
    /// "v" or "a", the first segment of the download path.
    var letter: String {
        switch self {
        case .version: return "v"
        case .artifact: return "a"
        }
    }
}

/// The parts of a signed link that the server checks.
public struct SignedLink: Sendable, Equatable {
    /// The path as sent: "/d/v/12/report.pdf" (the file name percent-encoded).
    public var path: String
    public var expires: Int64
    public var keyID: String
    public var clientIP: String?
    public var linkID: String
    public var signature: String

    /// The query string that follows the path.
    public var query: String {
        var q = "exp=\(expires)&kid=\(keyID)&lid=\(linkID)"
        if let clientIP { q += "&ip=" + percentEncode(clientIP) }
        return q + "&sig=" + signature
    }

    public var pathAndQuery: String { path + "?" + query }
}

/// What a signed link lets its holder do; the first line of what its HMAC covers, so that a
/// link for one is never accepted for the other.
public enum LinkPurpose: String, Sendable {
    /// GET or HEAD the bytes of a version or artifact.
    case download = "GET"
    /// Upload files into one place (the page, and tus requests under it).
    case upload = "UPLOAD"
}

/// Signs and checks download and upload links: HMAC-SHA256 over the purpose, the path, the
/// expiry, the key id, the bound client IP and the link id.
public struct LinkSigner: Sendable {
    public let keys: LinkKeys

    public init(keys: LinkKeys) { self.keys = keys }

    /// The download path for a target: "/d/v/ID/NAME".
    public static func path(for target: LinkTarget, fileName: String) -> String {
        "/d/\(target.letter)/\(target.id)/" + percentEncode(fileName.isEmpty ? "download" : fileName)
    }

    /// The bytes the HMAC covers. GET and HEAD are one method class ("GET"): a link to read
    /// the bytes may also read the headers.
    static func message(purpose: LinkPurpose, path: String, expires: Int64, keyID: String, clientIP: String?,
                        linkID: String) -> [UInt8] {
        Array("\(purpose.rawValue)\n\(path)\n\(expires)\n\(keyID)\n\(clientIP ?? "")\n\(linkID)".utf8)
    }

    public func sign(path: String, expires: Int64, clientIP: String?, linkID: String,
                     purpose: LinkPurpose = .download) -> SignedLink {
        let key = keys.signing
        let mac = hmacSHA256(key: key.secret, message: Self.message(purpose: purpose, path: path, expires: expires,
                                                                     keyID: key.id, clientIP: clientIP, linkID: linkID))
        return SignedLink(path: path, expires: expires, keyID: key.id, clientIP: clientIP, linkID: linkID,
                          signature: base64URL(mac))
    }

    /// A new link id: "lnk_" + 24 random hex digits.
    public static func newLinkID() throws -> String { "lnk_" + hexString(try randomBytes(12)) }

    /// Whether a link is genuine, unexpired and used from the address it is bound to.
    /// Every check runs and one answer comes back, so timing does not tell which one failed.
    public func verify(_ link: SignedLink, purpose: LinkPurpose = .download, method: String, remoteIP: String?,
                       now: Int64, skew: Int64) -> Bool {
        let key = keys.key(id: link.keyID)
        // Still compute a MAC with some key so that an unknown key id costs the same time.
        let secret = key?.secret ?? keys.signing.secret
        let expected = hmacSHA256(key: secret, message: Self.message(purpose: purpose, path: link.path, expires: link.expires,
                                                                     keyID: link.keyID, clientIP: link.clientIP,
                                                                     linkID: link.linkID))
        // Compared as text: the one canonical unpadded encoding of the MAC is accepted.
        let macOK = constantTimeEqual(Array(base64URL(expected).utf8), Array(link.signature.utf8))
        let claimsOK = claimsHold(link, purpose: purpose, method: method, remoteIP: remoteIP, now: now, skew: skew)
        return key != nil && macOK && claimsOK
    }

    /// The checks of `verify` that depend on the request rather than on the link's bytes: a
    /// read method (for a download), the expiry (with `skew` seconds of grace) and the bound
    /// address. Enough on its own only for a link whose signature was verified already.
    public func claimsHold(_ link: SignedLink, purpose: LinkPurpose = .download, method: String, remoteIP: String?,
                           now: Int64, skew: Int64) -> Bool {
        var ok = purpose == .upload || method == "GET" || method == "HEAD"
        ok = ok && now <= link.expires + skew
        if let bound = link.clientIP { ok = ok && normalizeIP(bound) == remoteIP.map(normalizeIP) }
        return ok
    }
}

/// "::ffff:127.0.0.1" and "127.0.0.1" are one client.
func normalizeIP(_ ip: String) -> String {
    ip.hasPrefix("::ffff:") && ip.contains(".") ? String(ip.dropFirst(7)) : ip.lowercased()
}
