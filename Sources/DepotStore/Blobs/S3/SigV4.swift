import DepotCore
#if canImport(Glibc)
import Glibc
#endif

/// An access key and its secret.
public struct S3Credentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String

    public init(accessKeyID: String, secretAccessKey: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    /// Reads the AWS shared-credentials format (the file awscli, rclone and the SDKs read):
    /// `[profile]` sections of `aws_access_key_id = …` and `aws_secret_access_key = …`.
    /// - Throws: `S3Error.credentials` when the file or the profile or a key is missing.
    public static func load(path: String, profile: String = "default") throws -> S3Credentials {
        guard let text = try? readTextFile(path) else {
            throw S3Error.credentials("cannot read the credentials file \(path)")
        }
        var section: String?
        var values: [String: String] = [:]
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = raw.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingSpaces()
                continue
            }
            guard section == profile, let equals = line.firstIndex(of: "=") else { continue }
            values[line[..<equals].trimmingSpaces().lowercased()] = line[line.index(after: equals)...].trimmingSpaces()
        }
        guard let id = values["aws_access_key_id"], !id.isEmpty,
              let secret = values["aws_secret_access_key"], !secret.isEmpty else {
            throw S3Error.credentials("\(path) has no aws_access_key_id and aws_secret_access_key in [\(profile)]")
        }
        return S3Credentials(accessKeyID: id, secretAccessKey: secret)
    }
}

/// AWS Signature Version 4 for S3 requests, in the Authorization header.
struct SigV4Signer: Sendable {
    let credentials: S3Credentials
    let region: String
    let service = "s3"

    /// The headers to add to a request: `X-Amz-Date`, `x-amz-content-sha256` and
    /// `Authorization`, signing `host`, those two and every header in `headers`.
    /// - Parameters:
    ///   - path: the request's path, already URI-encoded (as it goes on the wire).
    ///   - query: decoded names and values.
    ///   - payloadHash: hex SHA-256 of the body.
    func sign(method: String, host: String, path: String, query: [(String, String)], headers: [(String, String)],
              payloadHash: String, at time: time_t = time(nil)) -> [(String, String)] {
        let (date, stamp) = Self.timestamps(time)
        var signed = headers.map { ($0.0.lowercased(), $0.1.trimmingSpaces()) }
        signed += [("host", host), ("x-amz-content-sha256", payloadHash), ("x-amz-date", stamp)]
        signed.sort { $0.0 < $1.0 }
        let signedNames = signed.map(\.0).joined(separator: ";")
        let canonicalRequest = [method, path, Self.canonicalQuery(query),
                                signed.map { "\($0.0):\($0.1)\n" }.joined(), signedNames, payloadHash].joined(separator: "\n")
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let signature = signature(of: canonicalRequest, stamp: stamp, date: date, scope: scope)
        return [("X-Amz-Date", stamp), ("x-amz-content-sha256", payloadHash),
                ("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedNames), Signature=\(signature)")]
    }

    /// A presigned request (SigV4 in the query string): the query to append to the path, the
    /// signature last. Only `host` is signed, and the payload is unsigned, so whoever holds the
    /// URL may send the request until it expires, from anywhere.
    /// - Parameters:
    ///   - query: decoded names and values besides the X-Amz-* ones (`response-content-type`…).
    ///   - expires: seconds the URL holds (S3 takes 1 to 604800).
    func presign(method: String, host: String, path: String, query: [(String, String)], expires: Int,
                 at time: time_t = time(nil)) -> [(String, String)] {
        let (date, stamp) = Self.timestamps(time)
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let signing = query + [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope)"),
                               ("X-Amz-Date", stamp), ("X-Amz-Expires", String(expires)), ("X-Amz-SignedHeaders", "host")]
        let canonicalRequest = [method, path, Self.canonicalQuery(signing), "host:\(host)\n", "host", "UNSIGNED-PAYLOAD"]
            .joined(separator: "\n")
        return signing + [("X-Amz-Signature", signature(of: canonicalRequest, stamp: stamp, date: date, scope: scope))]
    }

    /// Names and values URI-encoded, sorted by name then value, joined with '&'.
    static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (uriEncode($0.0, keepSlash: false), uriEncode($0.1, keepSlash: false)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// The hex signature of a canonical request: its hash signed with the key derived from
    /// the secret, the date, the region and the service.
    private func signature(of canonicalRequest: String, stamp: String, date: String, scope: String) -> String {
        let stringToSign = ["AWS4-HMAC-SHA256", stamp, scope,
                            SHA256Hasher.digest(Array(canonicalRequest.utf8)).hex].joined(separator: "\n")
        var key = Array("AWS4\(credentials.secretAccessKey)".utf8)
        for part in [date, region, service, "aws4_request"] { key = hmacSHA256(key: key, message: Array(part.utf8)) }
        return hexString(hmacSHA256(key: key, message: Array(stringToSign.utf8)))
    }

    /// `20261202` and `20261202T135322Z` for a time.
    static func timestamps(_ time: time_t) -> (date: String, stamp: String) {
        var t = time
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let date = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))"
        return (date, "\(date)T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z")
    }
}

/// The SHA-256 of no bytes, hex: the payload hash of a request without a body.
let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/// URI-encodes as SigV4 asks: unreserved characters stay, every other byte is %XX
/// (upper-case hex); '/' stays in paths.
func uriEncode(_ text: String, keepSlash: Bool) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            out.append(byte)
        case UInt8(ascii: "/") where keepSlash:
            out.append(byte)
        default:
            out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
        }
    }
    return String(decoding: out, as: UTF8.self)
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
